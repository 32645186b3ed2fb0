/* Plain-C reference of clrnn's forward semantics, accumulating in double. A test oracle (used by
 * the tests and the probe's self-check), not the product path: it reads the rnn's imported host
 * weights and takes host tensors only. It shares no code with the device path beyond the weight
 * import, so the time-walking, mask, merge and cell rules are written out a second time here. */
#ifndef CLRNN_REFERENCE_H
#define CLRNN_REFERENCE_H

#include "clrnn.h"
#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

clrnn_status clrnn_reference_forward(const clrnn_rnn *rnn, const clrnn_forward_args *args);

/* ---- training (reference_train.c): the float64 forward with dropout and its backward ----
 * The gradient contract of issue 13 (BRIEF13.md) written out in straight loops, the oracle of the
 * device backward. Gradients are in clrnn's internal layout (clrnn_layer_weights, src/internal.h:
 * gates in internal order, W [G*H, I_l], R [G*H, Hr], Wb, Rb [G*H], P [3H] (i, f, o), proj [Hr, H]),
 * dense_W [O, Hm], dense_b [O]. dWb and dRb are the gradients of Wb and Rb each (they differ only for
 * the linear-before-reset GRU's n gate: dRb_n = d a_n * r). CIFG's unused f rows get zeros.
 * Dropout masks: clrnn_dropout_keep (cl/train/rng.h) with key desc.dropout_seed and `call`, the
 * counters (c0, c1) being, with t the TIME index of the step (not its processing position):
 *   dropout (layer l < L-1's output, after the masked-output policy): RNG_STREAM_OUTPUT, direction
 *     0, c0 = n*(D*Hr) + unit, c1 = t;
 *   input_dropout (gate g's copy of layer l's input): RNG_STREAM_INPUT + g, direction d,
 *     c0 = n*I_l + i, c1 = t (PER_STEP) or 0 (VARIATIONAL);
 *   recurrent_dropout (h_{t-1} where it enters gate g's recurrent product; GRU reset-before:
 *     R_n (r . (h . m_n))): RNG_STREAM_RECURRENT + g, direction d, c0 = n*Hr + k, c1 = t or 0;
 *   with desc.dropout_shared every gate takes gate 0's stream (one input and one recurrent mask).
 * Kept elements are scaled by 1/(1-p) (p as a double), dropped ones are 0. */
typedef struct clrnn_reference_grads {
    int n;                    /* L*D */
    clrnn_layer_weights *lw;  /* [L*D]: gradients in the weights' own layout (P / proj NULL when absent) */
    float *dense_W, *dense_b; /* NULL without a dense layer */
} clrnn_reference_grads;
/* The forward of forward_train call number `call` (dropout masks of that call; outputs into fwd's host
 * y/hn/cn as clrnn_reference_forward writes them), then the backward of bwd's host dy/dhn/dcn (NULL:
 * zero) into bwd's host dx/dh0/dc0 (each optional) and *grads (allocated here; free with
 * clrnn_reference_grads_free; may be NULL). bwd NULL: all incoming gradients zero. Host tensors
 * only (a cl_mem anywhere: CLRNN_ERR_UNSUPPORTED); the shapes are the caller's to get right. */
clrnn_status clrnn_reference_train(const clrnn_rnn *r, const clrnn_forward_args *fwd, uint32_t call,
                                   const clrnn_backward_args *bwd, clrnn_reference_grads *grads);
void clrnn_reference_grads_free(clrnn_reference_grads *g);

/* The float64 engine under clrnn_reference_train, with every input in double so that a test can
 * perturb it (finite differences). The parameters are one vector theta: for each k = layer*D + dir
 * in turn W, R, Wb, Rb, then P (peepholes only) and proj (projection only), each in the layout
 * above; then dense_W, dense_b (dense layer only). */
size_t clrnn_reference_param_count(const clrnn_rnn *r);
/* theta from the rnn's imported (float) weights. */
void clrnn_reference_param_import(const clrnn_rnn *r, double *theta);
typedef struct clrnn_reference_problem {
    int T, N;
    const int32_t *seq_lens; /* [N] or NULL */
    const uint8_t *mask;     /* [N, T] or NULL */
    int last_only;
    int dropout;   /* 0: none (inference); 1: the descriptor's rates with the masks of call `call` */
    uint32_t call;
    const double *theta;
    const double *x;         /* the desc's layout, as forward args' x */
    const double *h0, *c0;   /* [L*D, N, Hr], [L*D, N, H]; NULL: zeros */
    double *y, *hn, *cn;     /* outputs, each optional; shapes as the forward args' */
    const double *dy, *dhn, *dcn;         /* incoming gradients; NULL: zero */
    double *dtheta, *dx, *dh0, *dc0;      /* gradients (written, not accumulated); all NULL: no backward */
    double kink; /* out: the smallest distance, over the forward, from an activation or clip input to a
                    point where its derivative jumps (relu, leaky relu, elu and clip at their kinks,
                    thresholded relu at alpha, hard sigmoid's corners, cell_clip, proj_clip) */
} clrnn_reference_problem;
clrnn_status clrnn_reference_run(const clrnn_rnn *r, clrnn_reference_problem *p);

#ifdef __cplusplus
}
#endif
#endif
