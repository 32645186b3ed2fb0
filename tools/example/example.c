/* The smallest clrnn application: open the default device, describe a 1-layer LSTM, import
 * PyTorch-layout weights, run 5 steps for 2 sequences, print the final hidden state.
 * Built against the installed library by tools/check-install.sh (CMake package and pkg-config). */
#include <clrnn.h>
#include <math.h>
#include <stdio.h>

#define I 3
#define H 4
#define T 5
#define N 2

int main(void) {
    clrnn_context *ctx;
    if (clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
        fprintf(stderr, "example: %s\n", clrnn_last_error());
        return 1;
    }
    clrnn_rnn_desc desc = clrnn_rnn_desc_default(); /* LSTM, 1 layer, forward, time-major */
    desc.input_size = I;
    desc.hidden_size = H;
    clrnn_rnn *rnn;
    clrnn_status st = clrnn_rnn_create(ctx, &desc, &rnn);
    static float w_ih[4 * H * I], w_hh[4 * H * H], b[4 * H], x[T * N * I], y[T * N * H], hn[N * H];
    for (int i = 0; i < 4 * H * I; ++i) w_ih[i] = 0.1f * (float)sin(i + 1.0);
    for (int i = 0; i < 4 * H * H; ++i) w_hh[i] = 0.1f * (float)cos(i + 1.0);
    for (int i = 0; i < 4 * H; ++i) b[i] = 0.01f * i;
    for (int i = 0; i < T * N * I; ++i) x[i] = (float)sin(0.3 * i);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_W, w_ih, 4 * H * I);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_R, w_hh, 4 * H * H);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_BW, b, 4 * H);
    clrnn_forward_args args = {0};
    args.seq_length = T;
    args.batch = N;
    args.x.host = x;
    args.y.host = y;
    args.hn.host = hn;
    if (st == CLRNN_OK) st = clrnn_rnn_forward(rnn, &args);
    if (st != CLRNN_OK) {
        fprintf(stderr, "example: %s\n", clrnn_last_error());
        return 1;
    }
    int ok = 1;
    for (int n = 0; n < N; ++n) {
        printf("h_T[%d] =", n);
        for (int j = 0; j < H; ++j) {
            printf(" %.6f", hn[n * H + j]);
            /* the final state is the last step's output */
            ok &= hn[n * H + j] == y[((T - 1) * N + n) * H + j] && isfinite(hn[n * H + j]);
        }
        printf("\n");
    }
    clrnn_rnn_destroy(rnn);
    clrnn_context_destroy(ctx);
    printf("clrnn %s example: %s\n", clrnn_version_string(), ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
