/* The operators of the graphs clrnn_keras_load builds (domain CLRNN_KERAS_DOMAIN): what a Keras
 * layer does that no ONNX operator of clrnn does the Keras way.
 *
 *   Masking       y = x * any(x != mask_value, -1), mask = any(x != mask_value, -1)   (keras Masking)
 *   NotEqual      mask = x != value       (Embedding(mask_zero=True).compute_mask; Keras 3's ops.not_equal)
 *   AnyLastAxis   ops.any(x, axis=-1)     (Keras 3 records Masking's mask as not_equal + any)
 *   BoolLike      ops.zeros_like / ones_like(x, dtype=bool) (Keras 3's record of merged masks)
 *   SimpleRNN, LSTM, GRU: one Keras recurrent layer, or a Bidirectional pair, on the forward engine:
 *                 batch-major x [N, T, I], the Keras mask [N, T] (state carried through masked steps,
 *                 output carried, or zero when Bidirectional returns sequences), go_backwards as
 *                 clrnn's whole-axis reverse with outputs in processing order, weights imported with
 *                 CLRNN_FRAMEWORK_KERAS (kernel [I, G*H], recurrent_kernel [H, G*H], bias),
 *                 initial states (Keras' initial_state) when given.
 *   Activation    a Keras activation function, element-wise (softmax, log_softmax: last axis), on the
 *                 host, in double precision rounded to float32.
 * The loader (keras.c) checks every config field and weight shape before it emits these nodes; the
 * checks here are the ones a node must make on its own inputs. */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Masks
 * ---------------------------------------------------------------------------------------- */
typedef struct masking_state {
    float mask_value;
} masking_state;

static clrnn_status masking_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    masking_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_float(n, p, "mask_value", 0.0f, &s->mask_value);
    if (st == CLRNN_OK) st = clrnn_ox_check_type(m, n, 0, "x", OX_T_F32);
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_FLOAT32, 0);
    ox_set_out_type(m, n, 1, CLRNN_DTYPE_UINT8, 1);
    return st;
}

static clrnn_status masking_run(clrnn_model *m, ox_node *n) {
    const masking_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0), *mask = ox_out(m, n, 1);
    if (x->ndim < 2) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "Masking of a tensor of rank %d (needs >= 2)", x->ndim);
    clrnn_status st = clrnn_ox_to_host(m, x);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_host(m, n, y, x->ndim, x->shape);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_host(m, n, mask, x->ndim - 1, x->shape);
    if (st != CLRNN_OK) return st;
    const size_t F = (size_t)x->shape[x->ndim - 1], rows = F ? x->count / F : mask->count;
    const float *xs = x->host;
    float *ys = y->host;
    uint8_t *ms = mask->host;
    for (size_t r = 0; r < rows; ++r) {
        int keep = 0;
        for (size_t f = 0; f < F; ++f) keep |= xs[r * F + f] != s->mask_value; /* NaN != anything: kept */
        ms[r] = (uint8_t)keep;
        for (size_t f = 0; f < F; ++f) ys[r * F + f] = xs[r * F + f] * (float)keep;
    }
    return CLRNN_OK;
}

/* NotEqual: x != value (Embedding's mask with value 0; Keras 3 records masks as ops.not_equal) */
typedef struct ne_state {
    float value;
} ne_state;

static clrnn_status nez_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    ne_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_UINT8, 1);
    return clrnn_ox_attr_float(n, p, "value", 0.0f, &s->value);
}

static clrnn_status nez_run(clrnn_model *m, ox_node *n) {
    const ne_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *mask = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_to_host(m, x);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_host(m, n, mask, x->ndim, x->shape);
    if (st != CLRNN_OK) return st;
    uint8_t *ms = mask->host;
    const double v = s->value;
    for (size_t i = 0; i < x->count; ++i) {
        switch (x->dtype) {
        case CLRNN_DTYPE_FLOAT32: ms[i] = ((const float *)x->host)[i] != s->value; break;
        case CLRNN_DTYPE_INT32: ms[i] = (double)((const int32_t *)x->host)[i] != v; break;
        case CLRNN_DTYPE_INT64: ms[i] = (double)((const int64_t *)x->host)[i] != v; break;
        default: ms[i] = (double)((const uint8_t *)x->host)[i] != v; break;
        }
    }
    return CLRNN_OK;
}

/* Any over the last axis (ops.any(axis=-1), keepdims false) of a bool tensor */
static clrnn_status any_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    const ox_value *x = ox_in(m, n, 0);
    if (x->dtype != CLRNN_DTYPE_UINT8) return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "Any of a non-bool tensor");
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_UINT8, 1);
    return CLRNN_OK;
}

static clrnn_status any_run(clrnn_model *m, ox_node *n) {
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    if (x->ndim < 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "Any over the last axis of a scalar");
    clrnn_status st = clrnn_ox_to_host(m, x);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_host(m, n, y, x->ndim - 1, x->shape);
    if (st != CLRNN_OK) return st;
    const size_t F = (size_t)x->shape[x->ndim - 1];
    const uint8_t *xs = x->host;
    uint8_t *ys = y->host;
    for (size_t r = 0; r < y->count; ++r) {
        uint8_t a = 0;
        for (size_t f = 0; f < F; ++f) a |= xs[r * F + f] != 0;
        ys[r] = a;
    }
    return CLRNN_OK;
}

/* BoolLike: a bool tensor of x's shape, all `value` (Keras 3's zeros_like / ones_like(dtype=bool),
 * recorded when it merges masks) */
typedef struct bool_like_state {
    int64_t value;
} bool_like_state;

static clrnn_status bool_like_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    bool_like_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_UINT8, 1);
    return clrnn_ox_attr_int(n, p, "value", 0, &s->value);
}

static clrnn_status bool_like_run(clrnn_model *m, ox_node *n) {
    const bool_like_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_alloc_host(m, n, y, x->ndim, x->shape);
    if (st == CLRNN_OK && y->count) memset(y->host, s->value != 0, y->count);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Recurrent layers
 * ---------------------------------------------------------------------------------------- */
/* inputs: x, kernel, recurrent_kernel, [mask], [bias], then the backward layer's three, then the
 * initial states [N, H] (Keras' initial_state; absent: zeros): h and c of each direction */
enum { IN_X, IN_W0, IN_R0, IN_MASK, IN_B0, IN_W1, IN_R1, IN_B1, IN_H0, IN_C0, IN_H1, IN_C1, IN_COUNT };
enum { DIR_FORWARD = 0, DIR_BACKWARDS = 1, DIR_BIDIRECTIONAL = 2 };

typedef struct krnn_state {
    clrnn_rnn_desc desc;
    clrnn_rnn *rnn;
    int D, G, H, I, lstm, return_sequences, n_y;
    float *tmp; /* host scratch: y for merge None, then hn, cn */
    size_t tmp_cap;
} krnn_state;

static void krnn_release(ox_node *n) {
    krnn_state *s = n->state;
    if (!s) return;
    clrnn_rnn_destroy(s->rnn);
    free(s->tmp);
    free(s);
}

static clrnn_status expect_2d(const ox_node *n, const ox_value *v, int64_t a, int64_t b, const char *what) {
    const int ok = b < 0 ? (v->ndim == 1 && v->shape[0] == a) : (v->ndim == 2 && v->shape[0] == a && v->shape[1] == b);
    if (ok) return CLRNN_OK;
    if (b < 0) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s '%s' must have shape [%lld]", what, v->name, (long long)a);
    return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s '%s' must have shape [%lld, %lld]", what, v->name, (long long)a,
                         (long long)b);
}

static clrnn_status krnn_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    krnn_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_rnn_desc *d = &s->desc;
    *d = clrnn_rnn_desc_default();
    d->cell = !strcmp(n->op_type, "LSTM") ? CLRNN_CELL_LSTM : !strcmp(n->op_type, "GRU") ? CLRNN_CELL_GRU : CLRNN_CELL_RNN;
    d->layout = CLRNN_LAYOUT_BATCH_MAJOR;
    s->lstm = d->cell == CLRNN_CELL_LSTM;
    s->G = clrnn_cell_gates(d->cell);
    int64_t dir, merge, rs, zero, lbr, units;
    clrnn_status st;
    if ((st = clrnn_ox_attr_int(n, p, "direction", 0, &dir)) != CLRNN_OK ||
        (st = clrnn_ox_attr_int(n, p, "merge", CLRNN_MERGE_CONCAT, &merge)) != CLRNN_OK ||
        (st = clrnn_ox_attr_int(n, p, "return_sequences", 0, &rs)) != CLRNN_OK ||
        (st = clrnn_ox_attr_int(n, p, "zero_output_for_mask", 0, &zero)) != CLRNN_OK ||
        (st = clrnn_ox_attr_int(n, p, "reset_after", 0, &lbr)) != CLRNN_OK ||
        (st = clrnn_ox_attr_int_required(n, p, "units", &units)) != CLRNN_OK)
        return st;
    if (dir < 0 || dir > 2 || merge < 0 || merge > CLRNN_MERGE_NONE || units < 1 || units > (1 << 16))
        return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "bad attributes");
    s->D = dir == DIR_BIDIRECTIONAL ? 2 : 1;
    s->H = (int)units;
    s->return_sequences = rs != 0;
    d->direction = dir == DIR_FORWARD ? CLRNN_DIR_FORWARD : dir == DIR_BACKWARDS ? CLRNN_DIR_REVERSE : CLRNN_DIR_BIDIRECTIONAL;
    d->merge = s->D == 2 ? (clrnn_merge)merge : CLRNN_MERGE_CONCAT;
    s->n_y = s->D == 2 && merge == CLRNN_MERGE_NONE ? 2 : 1;
    /* Keras: a masked step carries the state and (zero_output_for_mask False) the last output;
     * go_backwards walks the whole padded axis backwards and returns the outputs in that order;
     * Bidirectional flips its backward layer's sequence back into place. */
    d->masked_output = zero ? CLRNN_MASKED_OUTPUT_ZERO : CLRNN_MASKED_OUTPUT_CARRY;
    d->reverse_mode = CLRNN_REVERSE_WHOLE_AXIS;
    d->reverse_order = dir == DIR_BACKWARDS ? CLRNN_REVERSE_OUTPUT_REVERSED : CLRNN_REVERSE_OUTPUT_IN_PLACE;
    d->linear_before_reset = lbr != 0;

    const int64_t *kinds;
    const float *alpha, *beta;
    size_t nk, na, nb;
    int pk, pa, pb;
    if ((st = clrnn_ox_attr_ints(n, p, "activations", &kinds, &nk, &pk)) != CLRNN_OK ||
        (st = clrnn_ox_attr_floats(n, p, "activation_alpha", &alpha, &na, &pa)) != CLRNN_OK ||
        (st = clrnn_ox_attr_floats(n, p, "activation_beta", &beta, &nb, &pb)) != CLRNN_OK)
        return st;
    if (nk != (size_t)s->D * 3 || na != nk || nb != nk) return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "bad activations");
    for (size_t i = 0; i < nk; ++i) {
        if (kinds[i] < 0 || kinds[i] >= CLRNN_ACT_COUNT_) return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "bad activation");
        d->activations[i / 3][i % 3] = (clrnn_activation){(clrnn_activation_kind)kinds[i], alpha[i], beta[i]};
    }

    const int with_init = n->n_in > IN_H0;
    if ((n->n_in > (s->D == 2 ? 8 : 5) && n->n_in != IN_COUNT) || n->n_out != s->n_y + s->D * (s->lstm ? 2 : 1))
        return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "%d inputs, %d outputs", n->n_in, n->n_out);
    if ((st = clrnn_ox_check_type(m, n, IN_X, "x", OX_T_F32)) != CLRNN_OK) return st;
    for (int i = 0; i < n->n_out; ++i) ox_set_out_type(m, n, i, CLRNN_DTYPE_FLOAT32, 0);
    const ox_value *mask = ox_in(m, n, IN_MASK);
    if (mask && (mask->dtype != CLRNN_DTYPE_UINT8 || !mask->is_bool))
        return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "mask is not bool");
    for (int dd = 0; dd < s->D && with_init; ++dd)
        for (int k = 0; k < 2; ++k) {
            const ox_value *v = ox_in(m, n, IN_H0 + 2 * dd + k);
            if ((v != NULL) != (k == 0 || s->lstm) || (v && v->dtype != CLRNN_DTYPE_FLOAT32))
                return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "bad initial states");
        }

    const ox_value *W0 = ox_in(m, n, IN_W0);
    if (!W0 || W0->ndim != 2) return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "kernel missing");
    s->I = (int)W0->shape[0];
    d->input_size = s->I;
    d->hidden_size = s->H;
    const int64_t GH = (int64_t)s->G * s->H;
    for (int dd = 0; dd < s->D; ++dd) {
        ox_value *W = ox_in(m, n, dd ? IN_W1 : IN_W0), *R = ox_in(m, n, dd ? IN_R1 : IN_R0), *B = ox_in(m, n, dd ? IN_B1 : IN_B0);
        if (!W || !R || !W->is_const || !R->is_const || (B && !B->is_const) || W->dtype != CLRNN_DTYPE_FLOAT32 ||
            R->dtype != CLRNN_DTYPE_FLOAT32 || (B && B->dtype != CLRNN_DTYPE_FLOAT32))
            return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "weights must be float32 constants");
        if ((st = expect_2d(n, W, s->I, GH, "kernel")) != CLRNN_OK || (st = expect_2d(n, R, s->H, GH, "recurrent_kernel")) != CLRNN_OK)
            return st;
        if (B && (st = d->cell == CLRNN_CELL_GRU && d->linear_before_reset ? expect_2d(n, B, 2, GH, "bias")
                                                                             : expect_2d(n, B, GH, -1, "bias")) != CLRNN_OK)
            return st;
    }
    if ((st = clrnn_rnn_create(m->ctx, d, &s->rnn)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
    for (int dd = 0; dd < s->D; ++dd) {
        ox_value *W = ox_in(m, n, dd ? IN_W1 : IN_W0), *R = ox_in(m, n, dd ? IN_R1 : IN_R0), *B = ox_in(m, n, dd ? IN_B1 : IN_B0);
        if ((st = clrnn_ox_to_host(m, W)) != CLRNN_OK || (st = clrnn_ox_to_host(m, R)) != CLRNN_OK ||
            (B && (st = clrnn_ox_to_host(m, B)) != CLRNN_OK))
            return st;
        if ((st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_KERAS, 0, dd, CLRNN_PARAM_W, W->host, W->count)) != CLRNN_OK ||
            (st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_KERAS, 0, dd, CLRNN_PARAM_R, R->host, R->count)) != CLRNN_OK ||
            (B && (st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_KERAS, 0, dd, CLRNN_PARAM_B, B->host, B->count)) != CLRNN_OK))
            return clrnn_ox_wrap(n, st);
    }
    return CLRNN_OK;
}

static float *krnn_scratch(krnn_state *s, size_t count) {
    if (count > s->tmp_cap) {
        float *t = realloc(s->tmp, count * sizeof *t);
        if (!t) return NULL;
        s->tmp = t;
        s->tmp_cap = count;
    }
    return s->tmp;
}

static clrnn_status krnn_run(clrnn_model *m, ox_node *n) {
    krnn_state *s = n->state;
    ox_value *X = ox_in(m, n, IN_X), *mask = ox_in(m, n, IN_MASK);
    clrnn_status st;
    if (X->ndim != 3 || X->shape[2] != s->I)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input '%s' must have shape [batch, timesteps, %d] (rank %d given)",
                             X->name, s->I, X->ndim);
    if (X->shape[0] < 1 || X->shape[1] < 1 || X->shape[0] > 0x7fffffff || X->shape[1] > 0x7fffffff)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "batch = %lld and timesteps = %lld must be >= 1",
                             (long long)X->shape[0], (long long)X->shape[1]);
    const int N = (int)X->shape[0], T = (int)X->shape[1], H = s->H, D = s->D;
    if (mask) {
        if (mask->ndim != 2 || mask->shape[0] != N || mask->shape[1] != T)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the mask '%s' does not have the shape [%d, %d] of the input",
                                 mask->name, N, T);
        if ((st = clrnn_ox_to_host(m, mask)) != CLRNN_OK) return st;
    }
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T;
    a.batch = N;
    if (X->on_device) a.x.mem = X->mem;
    else a.x.host = X->host;
    a.mask = mask ? mask->host : NULL;
    a.last_only = !s->return_sequences;

    const size_t per_dir = s->return_sequences ? (size_t)N * T * H : (size_t)N * H;
    const size_t state = (size_t)D * N * H;
    const size_t ytmp = s->n_y == 2 ? 2 * per_dir : 0;
    const int with_init = ox_in(m, n, IN_H0) != NULL;
    float *tmp = krnn_scratch(s, ytmp + (with_init ? 4 : 2) * state);
    if (!tmp) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "recurrent layer scratch");
    /* initial states: Keras' [N, H] per direction into clrnn's [D, N, H] (h, then c) */
    for (int dd = 0; dd < D && with_init; ++dd)
        for (int k = 0; k < (s->lstm ? 2 : 1); ++k) {
            ox_value *v = ox_in(m, n, IN_H0 + 2 * dd + k);
            if (v->ndim != 2 || v->shape[0] != N || v->shape[1] != H)
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "initial state '%s' must have shape [%d, %d] (batch, "
                                     "units)", v->name, N, H);
            if ((st = clrnn_ox_to_host(m, v)) != CLRNN_OK) return st;
            memcpy(tmp + ytmp + (2 + (size_t)k) * state + (size_t)dd * N * H, v->host, (size_t)N * H * sizeof(float));
        }
    if (with_init) {
        a.h0.host = tmp + ytmp + 2 * state;
        if (s->lstm) a.c0.host = tmp + ytmp + 3 * state;
    }
    ox_value *Y = ox_out(m, n, 0);
    if (s->n_y == 1) {
        const int O = clrnn_rnn_output_size(s->rnn);
        const int64_t seq[3] = {N, T, O}, last[2] = {N, O};
        if ((st = clrnn_ox_alloc_device(m, n, Y, s->return_sequences ? 3 : 2, s->return_sequences ? seq : last)) != CLRNN_OK)
            return st;
        a.y.mem = Y->mem;
    } else {
        a.y.host = tmp;
    }
    a.hn.host = tmp + ytmp;
    if (s->lstm) a.cn.host = tmp + ytmp + state;
    if ((st = clrnn_rnn_forward(s->rnn, &a)) != CLRNN_OK) return clrnn_ox_wrap(n, st);

    if (s->n_y == 2) {
        /* merge None: clrnn's [N, T, 2, H] (last_only: [2, N, H]) split into Keras' two outputs */
        for (int dd = 0; dd < 2; ++dd) {
            ox_value *v = ox_out(m, n, dd);
            const int64_t seq[3] = {N, T, H}, last[2] = {N, H};
            if ((st = clrnn_ox_alloc_host(m, n, v, s->return_sequences ? 3 : 2, s->return_sequences ? seq : last)) != CLRNN_OK)
                return st;
            float *dst = v->host;
            if (!s->return_sequences) {
                memcpy(dst, tmp + (size_t)dd * N * H, (size_t)N * H * sizeof(float));
                continue;
            }
            for (size_t r = 0; r < (size_t)N * T; ++r)
                memcpy(dst + r * H, tmp + (r * 2 + (size_t)dd) * H, (size_t)H * sizeof(float));
        }
    }
    /* states: h (and c) of each direction, [N, H] each, in Keras' order */
    int o = s->n_y;
    for (int dd = 0; dd < D; ++dd)
        for (int k = 0; k < (s->lstm ? 2 : 1); ++k) {
            ox_value *v = ox_out(m, n, o++);
            if (!v) continue;
            const int64_t shape[2] = {N, H};
            if ((st = clrnn_ox_alloc_host(m, n, v, 2, shape)) != CLRNN_OK) return st;
            memcpy(v->host, tmp + ytmp + (size_t)k * state + (size_t)dd * N * H, (size_t)N * H * sizeof(float));
        }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------------------------- */
typedef enum kact {
    KA_LINEAR, KA_RELU, KA_SIGMOID, KA_TANH, KA_SOFTMAX, KA_LOG_SOFTMAX, KA_ELU, KA_SELU, KA_SOFTPLUS, KA_SOFTSIGN,
    KA_SWISH, KA_GELU, KA_EXPONENTIAL, KA_HARD_SIGMOID, KA_HARD_SILU, KA_RELU6, KA_LEAKY_RELU, KA_MISH, KA_COUNT
} kact;

typedef struct act_state {
    int64_t kind;
    float alpha, beta; /* hard_sigmoid slope and offset (Keras 2: 0.2, 0.5; Keras 3: 1/6, 0.5); leaky_relu slope */
} act_state;

static clrnn_status act_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    act_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int_required(n, p, "kind", &s->kind);
    if (st == CLRNN_OK) st = clrnn_ox_attr_float(n, p, "alpha", 0.0f, &s->alpha);
    if (st == CLRNN_OK) st = clrnn_ox_attr_float(n, p, "beta", 0.0f, &s->beta);
    if (st == CLRNN_OK && (s->kind < 0 || s->kind >= KA_COUNT)) st = clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "bad activation");
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 0, "x", OX_T_F32) : st;
}

static double sigm(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static double act1(const act_state *s, double x) {
    switch ((kact)s->kind) {
    case KA_RELU: return x > 0 || x != x ? x : 0.0; /* NaN stays NaN, as max(x, 0) in TF */
    case KA_SIGMOID: return sigm(x);
    case KA_TANH: return tanh(x);
    case KA_ELU: return x > 0 ? x : expm1(x);
    case KA_SELU: return 1.0507009873554804934193349852946 * (x > 0 ? x : 1.6732632423543772848170429916717 * expm1(x));
    case KA_SOFTPLUS: return softplus(x);
    case KA_SOFTSIGN: return x / (1.0 + fabs(x));
    case KA_SWISH: return x * sigm(x);
    case KA_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case KA_EXPONENTIAL: return exp(x);
    case KA_HARD_SIGMOID: return fmin(1.0, fmax(0.0, (double)s->alpha * x + (double)s->beta));
    case KA_HARD_SILU: return x * fmin(1.0, fmax(0.0, (double)s->alpha * x + (double)s->beta));
    case KA_RELU6: return fmin(6.0, fmax(0.0, x));
    case KA_LEAKY_RELU: return x >= 0 ? x : (double)s->alpha * x;
    case KA_MISH: return x * tanh(softplus(x));
    default: return x;
    }
}

static clrnn_status act_run(clrnn_model *m, ox_node *n) {
    const act_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_to_host(m, x);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_host(m, n, y, x->ndim, x->shape);
    if (st != CLRNN_OK) return st;
    const float *xs = x->host;
    float *ys = y->host;
    if (s->kind != KA_SOFTMAX && s->kind != KA_LOG_SOFTMAX) {
        for (size_t i = 0; i < x->count; ++i) ys[i] = (float)act1(s, xs[i]);
        return CLRNN_OK;
    }
    if (x->ndim < 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "softmax of a scalar");
    const size_t len = (size_t)x->shape[x->ndim - 1], rows = len ? x->count / len : 0;
    for (size_t r = 0; r < rows; ++r) {
        const float *xr = xs + r * len;
        float *yr = ys + r * len;
        double mx = -INFINITY, sum = 0;
        for (size_t i = 0; i < len; ++i) mx = fmax(mx, xr[i]);
        for (size_t i = 0; i < len; ++i) sum += exp(xr[i] - mx);
        for (size_t i = 0; i < len; ++i)
            yr[i] = (float)(s->kind == KA_SOFTMAX ? exp(xr[i] - mx) / sum : xr[i] - mx - log(sum));
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------ */
static const char *const masking_attrs[] = {"mask_value", NULL};
static const char *const no_attrs[] = {NULL};
static const char *const rnn_attrs[] = {"activation_alpha", "activation_beta", "activations", "direction", "merge",
                                        "reset_after", "return_sequences", "units", "zero_output_for_mask", NULL};
static const char *const act_attrs[] = {"alpha", "beta", "kind", NULL};

static const ox_op op_masking = {"Masking", 1, 1, 2, 2, masking_attrs, masking_prepare, masking_run, NULL};
static const char *const ne_attrs[] = {"value", NULL};
static const ox_op op_nez = {"NotEqual", 1, 1, 1, 1, ne_attrs, nez_prepare, nez_run, NULL};
static const ox_op op_any = {"AnyLastAxis", 1, 1, 1, 1, no_attrs, any_prepare, any_run, NULL};
static const char *const bool_like_attrs[] = {"value", NULL};
static const ox_op op_bool_like = {"BoolLike", 1, 1, 1, 1, bool_like_attrs, bool_like_prepare, bool_like_run, NULL};
static const ox_op op_simple_rnn = {"SimpleRNN", 3, IN_COUNT, 1, 4, rnn_attrs, krnn_prepare, krnn_run, krnn_release};
static const ox_op op_lstm = {"LSTM", 3, IN_COUNT, 1, 6, rnn_attrs, krnn_prepare, krnn_run, krnn_release};
static const ox_op op_gru = {"GRU", 3, IN_COUNT, 1, 4, rnn_attrs, krnn_prepare, krnn_run, krnn_release};
static const ox_op op_act = {"Activation", 1, 1, 1, 1, act_attrs, act_prepare, act_run, NULL};

const ox_op *clrnn_keras_find_op(const char *op_type) {
    static const ox_op *const ops[] = {&op_masking, &op_nez, &op_any, &op_bool_like, &op_simple_rnn, &op_lstm, &op_gru,
                                       &op_act};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; ++i)
        if (!strcmp(ops[i]->op_type, op_type)) return ops[i];
    return NULL;
}
