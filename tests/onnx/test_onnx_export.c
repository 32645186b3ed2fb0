/* clrnn_onnx_save (src/onnx/export.c): random networks over the option matrix (cells, activations
 * with alpha/beta, clip, peepholes, CIFG, forget_bias, both GRU flavours, reverse and bidirectional
 * with every merge, stacked layers, dense, heads, last_only, reverse order and mode, masked-output
 * policies, time-major descriptors), exported, loaded back with clrnn_onnx_load and run on two
 * shapes (batch and time are free in the model): y must
 * match clrnn_rnn_forward (then the head applied in double) within |got - exp| / (1 + |exp|) <= 1e-5,
 * also with lengths the model derives from a padding value or from ids (mask_zero) into an
 * embedding. Hostile specs are refused, writing no file and leaving an existing one untouched.
 * Each case's model, x.npy and y.npy (clrnn's output) stay in $CLRNN_TEST_TMP for
 * tools/check_export.py (onnx.checker and onnxruntime). */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

enum { F = 3, H = 4, VOCAB = 9 };
enum { IN_FLOAT, IN_PADDED, IN_IDS, IN_IDS_MASKED };

typedef struct ecase {
    const char *name;
    clrnn_cell cell;
    int lbr;
    clrnn_direction dir;
    clrnn_merge merge;
    int layers, dense, last_only, input;
    clrnn_head_activation head;
    int peephole, cifg;
    float forget_bias, clip;
    clrnn_activation act[3]; /* per slot, both directions; kind 0: the default */
    clrnn_reverse_order rorder;
    clrnn_reverse_mode rmode;
    clrnn_masked_output policy;
    int time_major;
    int hole; /* row 0 (all T steps) has a padding-valued step at t = 1: computed like any other */
} ecase;

#define A(k, a, b) {CLRNN_ACT_##k, a, b}
#define C(nm, ce, lb, di, me, la, de, lo, in, he, ...)                                                          \
    {.name = nm, .cell = ce, .lbr = lb, .dir = di, .merge = me, .layers = la, .dense = de, .last_only = lo, .input = in, \
     .head = he, __VA_ARGS__}
static const ecase cases[] = {
    C("rnn_tanh", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE),
    C("rnn_relu_dense_softmax_last", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_FLOAT, CLRNN_HEAD_SOFTMAX,
     .act = {A(RELU, 0, 0)}),
    C("rnn_affine_clip", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE, .clip = 0.7f,
     .act = {A(AFFINE, 0.8f, 0.1f)}),
    C("rnn_leakyrelu_reverse", CLRNN_CELL_RNN, 0, CLRNN_DIR_REVERSE, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE,
     .act = {A(LEAKY_RELU, 0.2f, 0)}),
    C("rnn_thresholded_bidir_sum", CLRNN_CELL_RNN, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_SUM, 1, 0, 0, IN_FLOAT,
     CLRNN_HEAD_NONE, .act = {A(THRESHOLDED_RELU, 0.1f, 0)}),
    C("rnn_scaledtanh_2layers", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 2, 1, 0, IN_FLOAT, CLRNN_HEAD_SIGMOID,
     .act = {A(SCALED_TANH, 1.3f, 0.7f)}),
    C("rnn_hardsigmoid_elu", CLRNN_CELL_RNN, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_MUL, 1, 0, 0, IN_FLOAT,
     CLRNN_HEAD_NONE, .act = {A(HARD_SIGMOID, 0.3f, 0.4f)}),
    C("rnn_elu_padded", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_PADDED, CLRNN_HEAD_NONE,
     .act = {A(ELU, 0.9f, 0)}),
    C("rnn_softsign", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 1, IN_FLOAT, CLRNN_HEAD_NONE, .act = {A(SOFTSIGN, 0, 0)}),
    C("rnn_softplus_ids", CLRNN_CELL_RNN, 0, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_IDS, CLRNN_HEAD_SIGMOID,
     .act = {A(SOFTPLUS, 0, 0)}),
    C("lstm", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE),
    C("lstm_peephole_forget_bias", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_FLOAT, CLRNN_HEAD_SOFTMAX,
     .peephole = 1, .forget_bias = 1.0f),
    C("lstm_cifg_clip", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE, .cifg = 1,
     .clip = 3.0f),
    C("lstm_acts", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE,
     .act = {A(HARD_SIGMOID, 0.2f, 0.5f), A(SOFTSIGN, 0, 0), A(SCALED_TANH, 0.9f, 1.1f)}),
    C("lstm_bidir_ave_3layers_dense", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_AVE, 3, 1, 0, IN_FLOAT,
     CLRNN_HEAD_SOFTMAX, .peephole = 1),
    C("lstm_bidir_none", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_NONE, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE),
    C("lstm_bidir_none_last", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_NONE, 2, 0, 1, IN_PADDED,
     CLRNN_HEAD_NONE),
    C("lstm_masking_last_sigmoid", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_PADDED, CLRNN_HEAD_SIGMOID),
    C("lstm_masking_carry_seq", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 2, 1, 0, IN_PADDED, CLRNN_HEAD_NONE,
     .policy = CLRNN_MASKED_OUTPUT_CARRY),
    C("lstm_bidir_carry_seq", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 1, 0, 0, IN_PADDED,
     CLRNN_HEAD_NONE, .policy = CLRNN_MASKED_OUTPUT_CARRY),
    C("lstm_bidir_carry_whole_axis", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_SUM, 1, 0, 0, IN_PADDED,
     CLRNN_HEAD_NONE, .policy = CLRNN_MASKED_OUTPUT_CARRY, .rmode = CLRNN_REVERSE_WHOLE_AXIS),
    C("lstm_fill_seq", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_MUL, 1, 1, 0, IN_PADDED, CLRNN_HEAD_NONE,
     .policy = CLRNN_MASKED_OUTPUT_FILL),
    C("lstm_fill_last", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_SUM, 1, 1, 1, IN_PADDED, CLRNN_HEAD_NONE,
     .policy = CLRNN_MASKED_OUTPUT_FILL),
    C("lstm_go_backwards", CLRNN_CELL_LSTM, 0, CLRNN_DIR_REVERSE, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE,
     .rorder = CLRNN_REVERSE_OUTPUT_REVERSED, .rmode = CLRNN_REVERSE_WHOLE_AXIS),
    C("lstm_go_backwards_padded", CLRNN_CELL_LSTM, 0, CLRNN_DIR_REVERSE, 0, 1, 0, 0, IN_PADDED, CLRNN_HEAD_NONE,
     .rorder = CLRNN_REVERSE_OUTPUT_REVERSED, .rmode = CLRNN_REVERSE_WHOLE_AXIS, .policy = CLRNN_MASKED_OUTPUT_CARRY),
    C("lstm_reversed_per_row_padded", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 1, 0, 0,
     IN_PADDED, CLRNN_HEAD_NONE, .rorder = CLRNN_REVERSE_OUTPUT_REVERSED, .policy = CLRNN_MASKED_OUTPUT_CARRY),
    C("lstm_reversed_fill_per_row", CLRNN_CELL_LSTM, 0, CLRNN_DIR_REVERSE, 0, 1, 0, 0, IN_PADDED, CLRNN_HEAD_NONE,
     .rorder = CLRNN_REVERSE_OUTPUT_REVERSED, .policy = CLRNN_MASKED_OUTPUT_FILL),
    C("lstm_imdb_ids_mask_zero", CLRNN_CELL_LSTM, 0, CLRNN_DIR_FORWARD, 0, 2, 1, 1, IN_IDS_MASKED, CLRNN_HEAD_SIGMOID),
    C("lstm_time_major", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 2, 1, 0, IN_PADDED,
     CLRNN_HEAD_NONE, .time_major = 1),
    C("lstm_masking_hole", CLRNN_CELL_LSTM, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 1, 0, 0, IN_PADDED,
      CLRNN_HEAD_NONE, .hole = 1),
    C("gru_ids_mask_zero_hole", CLRNN_CELL_GRU, 1, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_IDS_MASKED, CLRNN_HEAD_SOFTMAX,
      .hole = 1),
    C("gru_reset_before", CLRNN_CELL_GRU, 0, CLRNN_DIR_FORWARD, 0, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE),
    C("gru_lbr", CLRNN_CELL_GRU, 1, CLRNN_DIR_FORWARD, 0, 1, 1, 1, IN_FLOAT, CLRNN_HEAD_SOFTMAX),
    C("gru_lbr_bidir_2layers_ids", CLRNN_CELL_GRU, 1, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_CONCAT, 2, 1, 0, IN_IDS_MASKED,
     CLRNN_HEAD_SOFTMAX),
    C("gru_reset_before_reverse_padded", CLRNN_CELL_GRU, 0, CLRNN_DIR_REVERSE, 0, 2, 0, 1, IN_PADDED, CLRNN_HEAD_NONE),
    C("gru_acts_clip", CLRNN_CELL_GRU, 0, CLRNN_DIR_BIDIRECTIONAL, CLRNN_MERGE_AVE, 1, 0, 0, IN_FLOAT, CLRNN_HEAD_NONE,
     .clip = 0.9f, .act = {A(HARD_SIGMOID, 0.25f, 0.45f), A(ELU, 0.7f, 0)}),
    C("gru_lbr_masking_carry", CLRNN_CELL_GRU, 1, CLRNN_DIR_FORWARD, 0, 1, 1, 0, IN_PADDED, CLRNN_HEAD_SIGMOID,
     .policy = CLRNN_MASKED_OUTPUT_CARRY),
};

static const char *tmp_dir(void) {
    static char dir[1024];
    if (!dir[0]) {
        const char *d = getenv("CLRNN_TEST_TMP");
        snprintf(dir, sizeof dir, "%s", d && *d ? d : "onnx-export-tmp");
        tu_sh("mkdir -p '%s'", dir);
    }
    return dir;
}

static clrnn_rnn_desc desc_of(const ecase *c) {
    clrnn_rnn_desc d = tu_desc(c->cell, F, H);
    d.num_layers = c->layers;
    d.direction = c->dir;
    d.merge = c->merge;
    d.layout = c->time_major ? CLRNN_LAYOUT_TIME_MAJOR : CLRNN_LAYOUT_BATCH_MAJOR;
    d.linear_before_reset = c->lbr;
    d.peephole = c->peephole;
    d.input_forget = c->cifg;
    d.forget_bias = c->forget_bias;
    d.clip = c->clip;
    const int slots = c->cell == CLRNN_CELL_LSTM ? 3 : c->cell == CLRNN_CELL_GRU ? 2 : 1;
    for (int dir = 0; dir < (c->dir == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1); ++dir)
        for (int s = 0; s < slots; ++s) d.activations[dir][s] = c->act[s];
    d.reverse_order = c->rorder;
    d.reverse_mode = c->rmode;
    d.masked_output = c->policy;
    d.masked_fill_value = -0.75f;
    d.dense_size = c->dense ? 3 : 0;
    /* training-only fields must not change the export */
    d.dropout = c->layers > 1 ? 0.3f : 0.0f;
    d.input_dropout = 0.2f;
    return d;
}

/* Random weights through the ONNX roles. */
static void set_weights(clrnn_rnn *r, const clrnn_rnn_desc *d, uint64_t *seed) {
    const int D = clrnn_rnn_num_directions(r), G = d->cell == CLRNN_CELL_LSTM ? 4 : d->cell == CLRNN_CELL_GRU ? 3 : 1;
    const size_t GH = (size_t)G * H;
    for (int l = 0; l < d->num_layers; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const size_t I = l == 0 ? F : (size_t)D * H;
            float *w = tu_alloc_random(GH * I, seed, -0.6f, 0.6f), *rr = tu_alloc_random(GH * H, seed, -0.6f, 0.6f);
            float *b = tu_alloc_random(2 * GH, seed, -0.4f, 0.4f), *p = tu_alloc_random(3 * H, seed, -0.5f, 0.5f);
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, w, GH * I));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, rr, GH * H));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, b, 2 * GH));
            if (d->peephole) TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_PEEPHOLE, p, 3 * H));
            free(w);
            free(rr);
            free(b);
            free(p);
        }
    if (d->dense_size) {
        const size_t Hm = D == 2 && d->merge == CLRNN_MERGE_CONCAT ? 2 * H : H, O = (size_t)d->dense_size;
        float *w = tu_alloc_random(O * Hm, seed, -0.8f, 0.8f), *b = tu_alloc_random(O, seed, -0.5f, 0.5f);
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W, w, O * Hm));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_B, b, O));
        free(w);
        free(b);
    }
}

static void save_npy(const char *dir, const char *name, const char *what, clrnn_dtype dt, int ndim, const int64_t *shape,
                     void *data) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, name, what);
    clrnn_array a = {.dtype = dt, .ndim = ndim, .data = data, .count = 1};
    for (int i = 0; i < ndim; ++i) {
        a.shape[i] = shape[i];
        a.count *= (size_t)shape[i];
    }
    TU_OK(clrnn_npy_save(path, &a));
}

static const float PAD = -1.0f;

/* One input of n rows and t steps through clrnn_rnn_forward (the expected y, batch-major, with the
 * head applied in double) and through the exported model; save: keep x and y for check_export.py. */
static void check_shape(const ecase *c, clrnn_rnn *r, clrnn_model *m, const float *table, int N, int T, uint64_t *seed,
                        int save) {
    clrnn_rnn_desc desc;
    TU_OK(clrnn_rnn_get_desc(r, &desc));
    const int D = clrnn_rnn_num_directions(r), O = clrnn_rnn_output_size(r), Hr = clrnn_rnn_state_size(r);
    const int none = D == 2 && desc.merge == CLRNN_MERGE_NONE;

    /* lengths (full, short, 0, 1 and T-1) where the model derives them */
    const int derived = c->input == IN_PADDED || c->input == IN_IDS_MASKED, ids = c->input >= IN_IDS;
    const int32_t lens_all[5] = {T, T / 2, 0, 1, T - 1};
    int32_t lens[5];
    assert_true(N <= 5);
    for (int n = 0; n < N; ++n) lens[n] = derived ? lens_all[n] : T;
    int64_t *x_ids = calloc((size_t)N * T, sizeof *x_ids);
    float *x = malloc((size_t)N * T * F * sizeof *x); /* batch-major [N, T, F], embedded for ids */
    for (int n = 0; n < N; ++n)
        for (int t = 0; t < T; ++t) {
            const int pad = t >= lens[n] || (c->hole && n == 0 && t == 1);
            if (ids) x_ids[n * T + t] = pad && derived ? 0 : 1 + (int64_t)(tu_next(seed) % (VOCAB - 1));
            for (int k = 0; k < F; ++k) {
                float *v = &x[((size_t)n * T + t) * F + k];
                if (ids) *v = table[x_ids[n * T + t] * F + k];
                else *v = pad ? PAD : tu_uniform(seed, -1, 1);
            }
        }

    /* merge NONE: O = 2*Hr, y [N, T, 2, Hr] or [2, N, Hr]; the head's rows are Hr long */
    const int row = none ? Hr : O;
    const size_t ycount = c->last_only ? (size_t)N * O : (size_t)N * T * O;
    float *y = tu_alloc_poison(ycount), *xin = x, *xt = NULL;
    if (desc.layout == CLRNN_LAYOUT_TIME_MAJOR) {
        xt = malloc((size_t)N * T * F * sizeof *xt);
        for (int n = 0; n < N; ++n)
            for (int t = 0; t < T; ++t) memcpy(xt + ((size_t)t * N + n) * F, x + ((size_t)n * T + t) * F, F * sizeof(float));
        xin = xt;
    }
    clrnn_forward_args a = {.seq_length = T, .batch = N, .x = {.host = xin}, .seq_lens = derived ? lens : NULL,
                            .last_only = c->last_only, .y = {.host = y}};
    TU_OK(clrnn_rnn_forward(r, &a));
    if (desc.layout == CLRNN_LAYOUT_TIME_MAJOR && !c->last_only) {
        /* [T, N, O] -> [N, T, O]; merge NONE: [T, 2, N, Hr] -> [N, T, 2, Hr] */
        float *yb = malloc(ycount * sizeof *yb);
        for (int n = 0; n < N; ++n)
            for (int t = 0; t < T; ++t)
                for (int dd = 0; dd < (none ? 2 : 1); ++dd)
                    memcpy(yb + (((size_t)n * T + t) * (none ? 2 : 1) + dd) * (size_t)row,
                           y + (none ? (((size_t)t * 2 + dd) * N + n) : ((size_t)t * N + n)) * (size_t)row,
                           (size_t)row * sizeof(float));
        free(y);
        y = yb;
    }
    for (size_t i = 0; i < ycount / (size_t)row; ++i) {
        float *v = y + i * row;
        if (c->head == CLRNN_HEAD_SIGMOID)
            for (int o = 0; o < row; ++o) v[o] = (float)(1.0 / (1.0 + exp(-(double)v[o])));
        else if (c->head == CLRNN_HEAD_SOFTMAX) {
            double mx = v[0], s = 0;
            for (int o = 1; o < row; ++o) mx = fmax(mx, v[o]);
            for (int o = 0; o < row; ++o) s += exp((double)v[o] - mx);
            for (int o = 0; o < row; ++o) v[o] = (float)(exp((double)v[o] - mx) / s);
        }
    }

    const int64_t xs3[3] = {N, T, F}, xs2[2] = {N, T};
    clrnn_array xa = {.dtype = ids ? CLRNN_DTYPE_INT64 : CLRNN_DTYPE_FLOAT32, .ndim = ids ? 2 : 3,
                      .count = ids ? (size_t)N * T : (size_t)N * T * F, .data = ids ? (void *)x_ids : (void *)x};
    memcpy(xa.shape, ids ? xs2 : xs3, sizeof(int64_t) * (size_t)xa.ndim);
    TU_OK(clrnn_model_set_input(m, "x", &xa));
    TU_OK(clrnn_model_run(m));
    clrnn_array got;
    TU_OK(clrnn_model_get_output(m, "y", &got));
    int64_t ys[4];
    int yn;
    if (c->last_only) {
        yn = none ? 3 : 2;
        if (none) ys[0] = 2, ys[1] = N, ys[2] = Hr;
        else ys[0] = N, ys[1] = O;
    } else {
        yn = none ? 4 : 3;
        ys[0] = N, ys[1] = T;
        if (none) ys[2] = 2, ys[3] = Hr;
        else ys[2] = O;
    }
    assert_int_equal(got.dtype, CLRNN_DTYPE_FLOAT32);
    assert_int_equal(got.ndim, yn);
    for (int i = 0; i < yn; ++i) assert_int_equal(got.shape[i], ys[i]);
    assert_int_equal(got.count, ycount);
    const float *g = got.data;
    for (size_t i = 0; i < ycount; ++i) {
        const double err = fabs((double)g[i] - y[i]) / (1.0 + fabs((double)y[i]));
        if (!(err <= 1e-5))
            fail_msg("%s (N %d, T %d): y[%zu] = %.8g from the exported model, %.8g from clrnn_rnn_forward (err %.3g)",
                     c->name, N, T, i, (double)g[i], (double)y[i], err);
    }
    if (save) {
        if (ids) save_npy(tmp_dir(), c->name, "x", CLRNN_DTYPE_INT64, 2, xs2, x_ids);
        else save_npy(tmp_dir(), c->name, "x", CLRNN_DTYPE_FLOAT32, 3, xs3, x);
        save_npy(tmp_dir(), c->name, "y", CLRNN_DTYPE_FLOAT32, yn, ys, y);
    }
    clrnn_array_free(&got);
    free(xt);
    free(y);
    free(x);
    free(x_ids);
}

/* Exports case c, loads it back, runs it on two shapes (the model's batch and time are free). */
static void run_case(const ecase *c, uint64_t *seed) {
    const clrnn_rnn_desc desc = desc_of(c);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &desc, &r));
    set_weights(r, &desc, seed);
    const int ids = c->input >= IN_IDS;
    float *table = ids ? tu_alloc_random((size_t)VOCAB * F, seed, -1, 1) : NULL;
    char path[1300];
    snprintf(path, sizeof path, "%s/%s.onnx", tmp_dir(), c->name);
    const clrnn_onnx_export spec = {.rnn = r, .embedding = table, .vocab = ids ? VOCAB : 0,
                                    .mask_zero = c->input == IN_IDS_MASKED, .use_padding = c->input == IN_PADDED,
                                    .padding_value = PAD, .last_only = c->last_only, .head = c->head};
    TU_OK(clrnn_onnx_save(&spec, path));
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(tu_context(), path, &m));
    clrnn_model_info info;
    TU_OK(clrnn_model_get_info(m, &info));
    assert_string_equal(info.producer_name, "clrnn");
    assert_int_equal(info.opset, 14);
    assert_int_equal(info.num_recurrent, c->layers);
    assert_int_equal(clrnn_model_num_inputs(m), 1);
    assert_int_equal(clrnn_model_num_outputs(m), 1);
    check_shape(c, r, m, table, 5, 6, seed, 1);
    check_shape(c, r, m, table, 3, 4, seed, 0);
    clrnn_model_destroy(m);
    free(table);
    clrnn_rnn_destroy(r);
}

static void exported_models_match_forward(void **state) {
    (void)state;
    uint64_t seed = 0xe4905e;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) run_case(&cases[i], &seed);
}

/* A random activation for a slot: any ONNX function for an RNN's, sigmoid-like for a gate slot,
 * tanh-like for the others (kind DEFAULT now and then). */
static clrnn_activation random_act(uint64_t *seed, clrnn_cell cell, int slot) {
    const float alpha = tu_uniform(seed, 0.1f, 1.0f), beta = tu_uniform(seed, 0.1f, 0.6f);
    static const clrnn_activation_kind gate[] = {CLRNN_ACT_DEFAULT, CLRNN_ACT_SIGMOID, CLRNN_ACT_HARD_SIGMOID};
    static const clrnn_activation_kind squash[] = {CLRNN_ACT_DEFAULT, CLRNN_ACT_TANH, CLRNN_ACT_SOFTSIGN,
                                                   CLRNN_ACT_SCALED_TANH};
    const uint64_t k = tu_next(seed);
    clrnn_activation a = {CLRNN_ACT_DEFAULT, 0, 0};
    if (cell == CLRNN_CELL_RNN) a.kind = (clrnn_activation_kind)(k % CLRNN_ACT_COUNT_);
    else a.kind = slot == 0 ? gate[k % 3] : squash[k % 4];
    if (a.kind != CLRNN_ACT_DEFAULT) a.alpha = alpha, a.beta = beta;
    return a;
}

/* Seeded random combinations of every option, beyond the hand-picked cases. */
static void random_networks(void **state) {
    (void)state;
    uint64_t seed = 0x7a11d0;
    static char names[32][24];
    for (int i = 0; i < 32; ++i) {
        ecase c = {0};
        snprintf(names[i], sizeof names[i], "random_%02d", i);
        c.name = names[i];
#define PICK(k) ((int)(tu_next(&seed) % (k)))
        c.cell = (clrnn_cell)PICK(3);
        c.lbr = c.cell == CLRNN_CELL_GRU && PICK(2);
        c.dir = (clrnn_direction)PICK(3);
        c.merge = c.dir == CLRNN_DIR_BIDIRECTIONAL ? (clrnn_merge)PICK(5) : CLRNN_MERGE_CONCAT;
        c.layers = 1 + PICK(3);
        c.dense = !(c.dir == CLRNN_DIR_BIDIRECTIONAL && c.merge == CLRNN_MERGE_NONE) && PICK(2);
        c.last_only = PICK(2);
        c.input = PICK(4);
        c.head = (clrnn_head_activation)PICK(3);
        if (c.cell == CLRNN_CELL_LSTM) {
            c.peephole = PICK(2);
            c.cifg = PICK(3) == 0;
            c.forget_bias = PICK(2) ? 1.0f : 0.0f;
        }
        c.clip = PICK(3) == 0 ? (c.cell == CLRNN_CELL_LSTM ? 4.0f : 1.5f) : 0.0f;
        for (int slot = 0; slot < 3; ++slot) c.act[slot] = random_act(&seed, c.cell, slot);
        c.rorder = (clrnn_reverse_order)PICK(2);
        c.rmode = (clrnn_reverse_mode)PICK(2);
        c.policy = (clrnn_masked_output)PICK(3);
        c.time_major = PICK(4) == 0;
        c.hole = (c.input == IN_PADDED || c.input == IN_IDS_MASKED) && PICK(4) == 0;
#undef PICK
        run_case(&c, &seed);
    }
}

/* Reads a whole small file; "" when absent. */
static void read_small(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    const size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void assert_refused(const clrnn_onnx_export *spec, const char *path, clrnn_status want, const char *needle) {
    const clrnn_status st = clrnn_onnx_save(spec, path);
    if (st != want)
        fail_msg("got %s, expected %s (%s)", clrnn_status_name(st), clrnn_status_name(want), clrnn_last_error());
    if (needle && !strstr(clrnn_last_error(), needle))
        fail_msg("message '%s' does not name '%s'", clrnn_last_error(), needle);
}

static void hostile_specs(void **state) {
    (void)state;
    uint64_t seed = 0xbad5bec;
    char path[1300], buf[64];
    snprintf(path, sizeof path, "%s/refused.onnx", tmp_dir());
    /* an existing file stays as it was through every refusal */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("sentinel", f);
    fclose(f);

    clrnn_rnn_desc d = desc_of(&cases[10]); /* lstm */
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    clrnn_onnx_export s = {.rnn = r};
    assert_refused(&s, path, CLRNN_ERR_MISSING_WEIGHTS, NULL); /* no weights yet */
    set_weights(r, &d, &seed);
    assert_refused(NULL, path, CLRNN_ERR_NULL_ARGUMENT, "spec");
    assert_refused(&s, NULL, CLRNN_ERR_NULL_ARGUMENT, "path");
    s.rnn = NULL;
    assert_refused(&s, path, CLRNN_ERR_NULL_ARGUMENT, NULL);
    s.rnn = r;
    s.head = (clrnn_head_activation)3;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "head");
    s.head = CLRNN_HEAD_NONE;
    s.mask_zero = 1;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "mask_zero");
    s.mask_zero = 0;
    s.vocab = 4;
    assert_refused(&s, path, CLRNN_ERR_NULL_ARGUMENT, "embedding");
    float table[4 * F];
    tu_fill(table, 4 * F, &seed, -1, 1);
    s.embedding = table;
    s.vocab = 0;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "vocab");
    s.vocab = -3;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "vocab");
    s.vocab = (int64_t)1 << 62;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "vocab");
    s.vocab = 4;
    s.use_padding = 1;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "use_padding");
    s.use_padding = 0;
    table[5] = NAN;
    assert_refused(&s, path, CLRNN_ERR_NON_FINITE, "embedding");
    table[5] = 0.5f;
    s.embedding = NULL;
    s.vocab = 0;
    s.use_padding = 1;
    s.padding_value = INFINITY;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "padding_value");
    s.padding_value = NAN;
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, "padding_value");
    s.use_padding = 0;
    read_small(path, buf, sizeof buf);
    assert_string_equal(buf, "sentinel");

    /* a file that cannot be written: no partial file */
    char bad[1400];
    snprintf(bad, sizeof bad, "%s/no-such-dir/m.onnx", tmp_dir());
    assert_refused(&s, bad, CLRNN_ERR_IO, "no-such-dir");
    assert_refused(&s, tmp_dir(), CLRNN_ERR_IO, NULL); /* a directory */
    clrnn_rnn_destroy(r);
    assert_refused(&s, path, CLRNN_ERR_INVALID_ARGUMENT, NULL); /* a destroyed rnn */

    /* what ONNX cannot express */
    const struct {
        int proj;
        float cell_clip, proj_clip;
        const char *needle;
    } unsupported[] = {{2, 0, 0, "proj_size"}, {0, 1.5f, 0, "cell_clip"}, {2, 0, 0.5f, "proj"}};
    for (int i = 0; i < 3; ++i) {
        clrnn_rnn_desc u = d;
        u.proj_size = unsupported[i].proj;
        u.cell_clip = unsupported[i].cell_clip;
        u.proj_clip = unsupported[i].proj_clip;
        TU_OK(clrnn_rnn_create(tu_context(), &u, &r));
        s.rnn = r;
        assert_refused(&s, path, CLRNN_ERR_UNSUPPORTED, unsupported[i].needle);
        clrnn_rnn_destroy(r);
    }
    read_small(path, buf, sizeof buf);
    assert_string_equal(buf, "sentinel");

    /* a good spec replaces the file */
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    set_weights(r, &d, &seed);
    s.rnn = r;
    TU_OK(clrnn_onnx_save(&s, path));
    read_small(path, buf, sizeof buf);
    assert_string_not_equal(buf, "sentinel");
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(tu_context(), path, &m));
    clrnn_model_destroy(m);
    clrnn_rnn_destroy(r);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exported_models_match_forward),
        cmocka_unit_test(random_networks),
        cmocka_unit_test(hostile_specs),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
