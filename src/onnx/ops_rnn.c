/* RNN, GRU and LSTM nodes on the forward engine: attributes → clrnn_rnn_desc (one layer, merge
 * NONE for two directions so Y keeps ONNX's direction axis), W/R/B/P imported with
 * CLRNN_FRAMEWORK_ONNX, inputs and outputs bound where they live (device buffers of the graph
 * values, or host memory).
 *
 * Layouts: ONNX Y is [T, D, N, H] (layout 0) or [N, T, D, H] (layout 1): exactly clrnn's merge-NONE
 * output for D = 2 and its plain output for D = 1. Y_h / Y_c are [D, N, H] (layout 0, clrnn's hn) or
 * [N, D, H] (layout 1): for D = 2 they, and initial_h / initial_c, are transposed on the host.
 *
 * ONNX Runtime's rule for sequence_lens = 0: Y_h / Y_c of that row are zero even with an initial
 * state (clrnn_rnn_forward returns the initial state, the TF1 rule), so those rows are zeroed here.
 *
 * Weights that are constants are imported once at load; weights that are graph inputs (the ONNX
 * backend tests bind W, R, B as inputs) are re-imported whenever their value changes. */
#include "onnx_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { IN_X, IN_W, IN_R, IN_B, IN_LENS, IN_H0, IN_C0, IN_P };
enum { OUT_Y, OUT_YH, OUT_YC };

typedef struct rnn_state {
    clrnn_rnn_desc desc; /* input_size and hidden_size filled from W and R */
    int D, G, slots;
    int64_t hidden_attr; /* 0: not given */
    int layout;
    clrnn_rnn *rnn;
    int rnn_I, rnn_H;
    uint64_t ver[4]; /* versions of W, R, B, P last imported */
    int imported;    /* a weight import happened (cleared when the rnn is recreated) */
    float *tmp;
    size_t tmp_cap;
    int32_t *lens;
    size_t lens_cap;
} rnn_state;

static void rnn_release(ox_node *n) {
    rnn_state *s = n->state;
    if (!s) return;
    clrnn_rnn_destroy(s->rnn);
    free(s->tmp);
    free(s->lens);
    free(s);
}

/* ------------------------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------------------------- */
typedef struct act_entry {
    const char *name; /* lower case */
    clrnn_activation_kind kind;
    int takes_alpha, takes_beta;
    float alpha, beta; /* the ONNX operators' defaults */
} act_entry;

static const act_entry act_table[] = {
    {"relu", CLRNN_ACT_RELU, 0, 0, 0, 0},
    {"tanh", CLRNN_ACT_TANH, 0, 0, 0, 0},
    {"sigmoid", CLRNN_ACT_SIGMOID, 0, 0, 0, 0},
    {"affine", CLRNN_ACT_AFFINE, 1, 1, 1.0f, 0.0f},
    {"leakyrelu", CLRNN_ACT_LEAKY_RELU, 1, 0, 0.01f, 0},
    {"thresholdedrelu", CLRNN_ACT_THRESHOLDED_RELU, 1, 0, 1.0f, 0},
    {"scaledtanh", CLRNN_ACT_SCALED_TANH, 1, 1, 1.0f, 1.0f},
    {"hardsigmoid", CLRNN_ACT_HARD_SIGMOID, 1, 1, 0.2f, 0.5f},
    {"elu", CLRNN_ACT_ELU, 1, 0, 1.0f, 0},
    {"softsign", CLRNN_ACT_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", CLRNN_ACT_SOFTPLUS, 0, 0, 0, 0},
};

static const act_entry *find_act(const ProtobufCBinaryData *s) {
    char name[32];
    if (s->len >= sizeof name) return NULL;
    for (size_t i = 0; i < s->len; ++i) name[i] = (char)tolower(s->data[i]);
    name[s->len] = '\0';
    for (size_t i = 0; i < sizeof act_table / sizeof *act_table; ++i)
        if (!strcmp(act_table[i].name, name)) return &act_table[i];
    return NULL;
}

/* activations[d * slots + k] → desc.activations[d][k]; activation_alpha / _beta are consumed in
 * order by the functions that take the parameter (ONNX Runtime's reading of the spec). A list with
 * values left over is ambiguous (it may have been written one value per activation) and rejected. */
static clrnn_status parse_activations(const ox_node *n, const Onnx__NodeProto *p, rnn_state *s) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, "activations");
    const float *alpha, *beta;
    size_t na, nb;
    int pa, pb;
    clrnn_status st = clrnn_ox_attr_floats(n, p, "activation_alpha", &alpha, &na, &pa);
    if (st == CLRNN_OK) st = clrnn_ox_attr_floats(n, p, "activation_beta", &beta, &nb, &pb);
    if (st != CLRNN_OK) return st;
    size_t ia = 0, ib = 0;
    if (a) {
        if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'activations' must be a list of strings");
        const size_t want = (size_t)s->slots * s->D;
        if (a->n_strings != want)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'activations' lists %zu functions; this %s with %d "
                                 "direction(s) needs %zu (%s per direction)", a->n_strings, n->op_type, s->D, want,
                                 s->slots == 3 ? "f, g, h" : s->slots == 2 ? "f, g" : "f");
        for (size_t i = 0; i < a->n_strings; ++i) {
            const act_entry *e = find_act(&a->strings[i]);
            if (!e)
                return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "activation '%.*s' is not one of Relu, Tanh, Sigmoid, "
                                     "Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus",
                                     (int)(a->strings[i].len < 64 ? a->strings[i].len : 64), (const char *)a->strings[i].data);
            clrnn_activation act = {e->kind, e->alpha, e->beta};
            if (e->takes_alpha && ia < na) act.alpha = alpha[ia++];
            if (e->takes_beta && ib < nb) act.beta = beta[ib++];
            if (!isfinite(act.alpha) || !isfinite(act.beta))
                return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "activation %zu has a non-finite alpha or beta", i);
            s->desc.activations[i / (size_t)s->slots][i % (size_t)s->slots] = act;
        }
    }
    if (ia < na || ib < nb)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "activation_alpha has %zu value(s) and activation_beta %zu, but "
                             "the activations take %zu alpha(s) and %zu beta(s): each value is consumed, in order, by "
                             "the next activation that takes that parameter (Affine, LeakyRelu, ThresholdedRelu, "
                             "ScaledTanh, HardSigmoid, Elu), and values left over are ambiguous", na, nb, ia, ib);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Weights
 * ---------------------------------------------------------------------------------------- */
static void shape_str(const ox_value *v, char *buf, size_t cap) {
    size_t pos = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < v->ndim && pos < cap; ++i)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)v->shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

static clrnn_status expect_shape(const ox_node *n, const ox_value *v, const char *role, int ndim, const int64_t *shape,
                                 const char *meaning) {
    int ok = v->ndim == ndim;
    for (int i = 0; ok && i < ndim; ++i) ok = v->shape[i] == shape[i];
    if (ok) return CLRNN_OK;
    char got[128], want[128] = "[";
    shape_str(v, got, sizeof got);
    size_t pos = 1;
    for (int i = 0; i < ndim; ++i) pos += (size_t)snprintf(want + pos, sizeof want - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(want + pos, sizeof want - pos, "]");
    return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input %s ('%s') has shape %s, expected %s = %s", role, v->name, got,
                         want, meaning);
}

/* Checks W, R, B, P, (re)creates the clrnn_rnn when sizes change and imports the weights when
 * their values changed since the last import. */
static clrnn_status ensure_rnn(clrnn_model *m, ox_node *n, rnn_state *s) {
    ox_value *W = ox_in(m, n, IN_W), *R = ox_in(m, n, IN_R), *B = ox_in(m, n, IN_B), *P = ox_in(m, n, IN_P);
    const int D = s->D, G = s->G;
    clrnn_status st;
    if (W->ndim != 3 || W->shape[0] != D) {
        char got[128];
        shape_str(W, got, sizeof got);
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input W ('%s') has shape %s, expected [num_directions = %d, "
                             "%d*hidden_size, input_size]", W->name, got, D, G);
    }
    if (R->ndim != 3) {
        char got[128];
        shape_str(R, got, sizeof got);
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input R ('%s') has shape %s, expected [%d, %d*hidden_size, "
                             "hidden_size]", R->name, got, D, G);
    }
    const int64_t H = s->hidden_attr > 0 ? s->hidden_attr : R->shape[2], I = W->shape[2];
    if (H <= 0 || H > (1 << 16) || I <= 0 || I > (1 << 20))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "hidden_size %lld / input_size %lld outside [1, 65536] / [1, 2^20]",
                             (long long)H, (long long)I);
    const int64_t ws[3] = {D, G * H, I}, rs[3] = {D, G * H, H}, bs[2] = {D, 2 * G * H}, ps[2] = {D, 3 * H};
    if ((st = expect_shape(n, W, "W", 3, ws, "[num_directions, gates*hidden_size, input_size]")) != CLRNN_OK) return st;
    if ((st = expect_shape(n, R, "R", 3, rs, "[num_directions, gates*hidden_size, hidden_size]")) != CLRNN_OK) return st;
    if (B && (st = expect_shape(n, B, "B", 2, bs, "[num_directions, 2*gates*hidden_size]")) != CLRNN_OK) return st;
    if (P && (st = expect_shape(n, P, "P", 2, ps, "[num_directions, 3*hidden_size]")) != CLRNN_OK) return st;

    if (s->rnn && (s->rnn_I != I || s->rnn_H != H)) {
        clrnn_rnn_destroy(s->rnn);
        s->rnn = NULL;
    }
    if (!s->rnn) {
        clrnn_rnn_desc d = s->desc;
        d.input_size = (int)I;
        d.hidden_size = (int)H;
        d.peephole = P != NULL;
        if ((st = clrnn_rnn_create(m->ctx, &d, &s->rnn)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
        s->rnn_I = (int)I;
        s->rnn_H = (int)H;
        s->imported = 0;
    }
    ox_value *vals[4] = {W, R, B, P};
    int stale = 0;
    /* which values feed W/R/B/P is fixed by the graph; their versions say whether they changed */
    for (int i = 0; i < 4; ++i) stale |= !s->imported || (vals[i] && s->ver[i] != vals[i]->version);
    if (!stale) return CLRNN_OK;
    for (int i = 0; i < 4; ++i)
        if (vals[i] && (st = clrnn_ox_to_host(m, vals[i])) != CLRNN_OK) return st;
    const size_t GH = (size_t)(G * H);
    for (int d = 0; d < D; ++d) {
        const float *w = (const float *)W->host + (size_t)d * GH * (size_t)I;
        const float *r = (const float *)R->host + (size_t)d * GH * (size_t)H;
        if ((st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_ONNX, 0, d, CLRNN_PARAM_W, w, GH * (size_t)I)) != CLRNN_OK ||
            (st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_ONNX, 0, d, CLRNN_PARAM_R, r, GH * (size_t)H)) != CLRNN_OK)
            return clrnn_ox_wrap(n, st);
        if (B) {
            const float *b = (const float *)B->host + (size_t)d * 2 * GH;
            if ((st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_ONNX, 0, d, CLRNN_PARAM_B, b, 2 * GH)) != CLRNN_OK)
                return clrnn_ox_wrap(n, st);
        }
        if (P) {
            const float *pp = (const float *)P->host + (size_t)d * 3 * (size_t)H;
            if ((st = clrnn_rnn_set_param(s->rnn, CLRNN_FRAMEWORK_ONNX, 0, d, CLRNN_PARAM_PEEPHOLE, pp, 3 * (size_t)H)) != CLRNN_OK)
                return clrnn_ox_wrap(n, st);
        }
    }
    for (int i = 0; i < 4; ++i) s->ver[i] = vals[i] ? vals[i]->version : 0;
    s->imported = 1;
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Load
 * ---------------------------------------------------------------------------------------- */
static clrnn_status rnn_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    rnn_state *s = calloc(1, sizeof *s);
    if (!s) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s node", n->op_type);
    n->state = s;
    clrnn_rnn_desc *d = &s->desc;
    *d = clrnn_rnn_desc_default();
    d->cell = !strcmp(n->op_type, "LSTM") ? CLRNN_CELL_LSTM : !strcmp(n->op_type, "GRU") ? CLRNN_CELL_GRU : CLRNN_CELL_RNN;
    s->G = clrnn_cell_gates(d->cell);
    s->slots = d->cell == CLRNN_CELL_LSTM ? 3 : d->cell == CLRNN_CELL_GRU ? 2 : 1;
    d->masked_output = CLRNN_MASKED_OUTPUT_ZERO;
    d->reverse_order = CLRNN_REVERSE_OUTPUT_IN_PLACE;
    d->reverse_mode = CLRNN_REVERSE_PER_ROW;
    clrnn_status st;

    char dir[32];
    if ((st = clrnn_ox_attr_string(n, p, "direction", "forward", dir, sizeof dir)) != CLRNN_OK) return st;
    if (!strcmp(dir, "forward")) d->direction = CLRNN_DIR_FORWARD;
    else if (!strcmp(dir, "reverse")) d->direction = CLRNN_DIR_REVERSE;
    else if (!strcmp(dir, "bidirectional")) d->direction = CLRNN_DIR_BIDIRECTIONAL;
    else return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "direction '%s' is not forward, reverse or bidirectional", dir);
    s->D = d->direction == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1;
    if (s->D == 2) d->merge = CLRNN_MERGE_NONE;

    if ((st = clrnn_ox_attr_int(n, p, "hidden_size", 0, &s->hidden_attr)) != CLRNN_OK) return st;
    if (clrnn_ox_attr(p, "hidden_size") && (s->hidden_attr <= 0 || s->hidden_attr > (1 << 16)))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "hidden_size = %lld outside [1, 65536]", (long long)s->hidden_attr);

    int64_t layout;
    if ((st = clrnn_ox_attr_int(n, p, "layout", 0, &layout)) != CLRNN_OK) return st;
    if (clrnn_ox_attr(p, "layout") && m->opset < 14)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'layout' exists from opset 14 (model opset %lld)",
                             (long long)m->opset);
    if (layout != 0 && layout != 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "layout = %lld is not 0 or 1", (long long)layout);
    s->layout = (int)layout;
    d->layout = layout ? CLRNN_LAYOUT_BATCH_MAJOR : CLRNN_LAYOUT_TIME_MAJOR;

    if (clrnn_ox_attr(p, "clip")) {
        if ((st = clrnn_ox_attr_float(n, p, "clip", 0, &d->clip)) != CLRNN_OK) return st;
        if (!(d->clip > 0) || !isfinite(d->clip))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "clip = %g must be a finite value > 0", (double)d->clip);
    }
    int64_t v;
    if ((st = clrnn_ox_attr_int(n, p, "input_forget", 0, &v)) != CLRNN_OK) return st;
    if (v != 0 && v != 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input_forget = %lld is not 0 or 1", (long long)v);
    d->input_forget = (int)v;
    if ((st = clrnn_ox_attr_int(n, p, "linear_before_reset", 0, &v)) != CLRNN_OK) return st;
    if (v != 0 && v != 1)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "linear_before_reset = %lld is not 0 or 1", (long long)v);
    d->linear_before_reset = (int)v;
    if ((st = parse_activations(n, p, s)) != CLRNN_OK) return st;

    if (!ox_in(m, n, IN_X) || !ox_in(m, n, IN_W) || !ox_in(m, n, IN_R))
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "inputs X, W and R are required");
    static const char *const in_names[] = {"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};
    for (int i = 0; i < n->n_in; ++i) {
        if (i == IN_LENS) st = clrnn_ox_check_type(m, n, i, in_names[i], OX_T_INT);
        else st = clrnn_ox_check_type(m, n, i, in_names[i], OX_T_F32);
        if (st != CLRNN_OK) return st;
    }
    for (int i = 0; i < n->n_out; ++i) ox_set_out_type(m, n, i, CLRNN_DTYPE_FLOAT32, 0);

    /* constant weights: import now, so a bad weight tensor fails the load */
    const ox_value *W = ox_in(m, n, IN_W), *R = ox_in(m, n, IN_R), *B = ox_in(m, n, IN_B), *P = ox_in(m, n, IN_P);
    if (W->is_const && R->is_const && (!B || B->is_const) && (!P || P->is_const)) return ensure_rnn(m, n, s);
    /* at least check the descriptor */
    clrnn_rnn_desc probe = *d;
    probe.input_size = 1;
    probe.hidden_size = 1;
    clrnn_rnn *r = NULL;
    st = clrnn_rnn_create(m->ctx, &probe, &r);
    clrnn_rnn_destroy(r);
    return st == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st);
}

/* ------------------------------------------------------------------------------------------
 * Run
 * ---------------------------------------------------------------------------------------- */
static float *scratch(rnn_state *s, size_t count) {
    if (count > s->tmp_cap) {
        float *t = realloc(s->tmp, count * sizeof *t);
        if (!t) return NULL;
        s->tmp = t;
        s->tmp_cap = count;
    }
    return s->tmp;
}

/* [A, B, H] → [B, A, H] */
static void swap01(const float *src, float *dst, int A, int B, int H) {
    for (int a = 0; a < A; ++a)
        for (int b = 0; b < B; ++b) memcpy(dst + ((size_t)b * A + a) * H, src + ((size_t)a * B + b) * H, (size_t)H * sizeof(float));
}

/* Binds an initial state: given as [D, N, H] (layout 0) or [N, D, H] (layout 1). */
static clrnn_status bind_state_in(clrnn_model *m, ox_node *n, rnn_state *s, ox_value *v, const char *role, int N, int H,
                                  float *tmp, clrnn_tensor *t) {
    const int D = s->D;
    const int64_t want[3] = {s->layout ? N : D, s->layout ? D : N, H};
    clrnn_status st = expect_shape(n, v, role, 3, want, s->layout ? "[batch_size, num_directions, hidden_size]"
                                                                  : "[num_directions, batch_size, hidden_size]");
    if (st != CLRNN_OK) return st;
    if (s->layout && D == 2) {
        if ((st = clrnn_ox_to_host(m, v)) != CLRNN_OK) return st;
        swap01(v->host, tmp, N, D, H);
        t->host = tmp;
    } else if (v->on_device) {
        t->mem = v->mem;
    } else {
        t->host = v->host;
    }
    return CLRNN_OK;
}

static clrnn_status rnn_run(clrnn_model *m, ox_node *n) {
    rnn_state *s = n->state;
    ox_value *X = ox_in(m, n, IN_X), *lens = ox_in(m, n, IN_LENS), *h0 = ox_in(m, n, IN_H0), *c0 = ox_in(m, n, IN_C0);
    ox_value *Y = ox_out(m, n, OUT_Y), *Yh = ox_out(m, n, OUT_YH), *Yc = ox_out(m, n, OUT_YC);
    clrnn_status st;
    if (X->ndim != 3) {
        char got[128];
        shape_str(X, got, sizeof got);
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input X ('%s') has shape %s, expected %s", X->name, got,
                             s->layout ? "[batch_size, seq_length, input_size]" : "[seq_length, batch_size, input_size]");
    }
    if ((st = ensure_rnn(m, n, s)) != CLRNN_OK) return st;
    const int D = s->D, H = s->rnn_H, I = s->rnn_I;
    const int64_t T64 = s->layout ? X->shape[1] : X->shape[0], N64 = s->layout ? X->shape[0] : X->shape[1];
    if (X->shape[2] != I)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input X ('%s') has %lld features, W expects input_size = %d",
                             X->name, (long long)X->shape[2], I);
    if (T64 < 1 || N64 < 1 || T64 > 0x7fffffff || N64 > 0x7fffffff)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "seq_length = %lld and batch_size = %lld must be >= 1",
                             (long long)T64, (long long)N64);
    const int T = (int)T64, N = (int)N64;

    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T;
    a.batch = N;
    if (X->on_device) a.x.mem = X->mem;
    else a.x.host = X->host;

    int any_empty = 0;
    if (lens) {
        if (lens->ndim != 1 || lens->shape[0] != N) {
            char got[128];
            shape_str(lens, got, sizeof got);
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input sequence_lens ('%s') has shape %s, expected [%d]",
                                 lens->name, got, N);
        }
        if ((size_t)N > s->lens_cap) {
            int32_t *l = realloc(s->lens, (size_t)N * sizeof *l);
            if (!l) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "sequence lengths");
            s->lens = l;
            s->lens_cap = (size_t)N;
        }
        if ((st = clrnn_ox_to_host(m, lens)) != CLRNN_OK) return st;
        for (int i = 0; i < N; ++i) {
            const int64_t l = lens->dtype == CLRNN_DTYPE_INT64 ? ((const int64_t *)lens->host)[i] : ((const int32_t *)lens->host)[i];
            if (l < 0 || l > T)
                return clrnn_ox_fail(n, CLRNN_ERR_INVALID_LENGTH, "sequence_lens[%d] = %lld is outside [0, seq_length = %d]",
                                     i, (long long)l, T);
            s->lens[i] = (int32_t)l;
            any_empty |= l == 0;
        }
        a.seq_lens = s->lens;
    }

    /* host scratch: transposed h0, c0 (in) and Y_h, Y_c (out) for layout 1 with two directions */
    const size_t state = (size_t)D * N * H;
    const int swap = s->layout && D == 2;
    float *tmp = swap ? scratch(s, 4 * state) : NULL;
    if (swap && !tmp) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "state transposition");
    if (h0 && (st = bind_state_in(m, n, s, h0, "initial_h", N, H, tmp, &a.h0)) != CLRNN_OK) return st;
    if (c0 && (st = bind_state_in(m, n, s, c0, "initial_c", N, H, tmp ? tmp + state : NULL, &a.c0)) != CLRNN_OK) return st;

    const int64_t yshape[4] = {s->layout ? N : T, s->layout ? T : D, s->layout ? D : N, H};
    const int64_t hshape[3] = {s->layout ? N : D, s->layout ? D : N, H};
    if (Y) {
        if ((st = clrnn_ox_alloc_device(m, n, Y, 4, yshape)) != CLRNN_OK) return st;
        a.y.mem = Y->mem;
    }
    ox_value *outs[2] = {Yh, Yc};
    clrnn_tensor *targs[2] = {&a.hn, &a.cn};
    for (int i = 0; i < 2; ++i) {
        if (!outs[i]) continue;
        if (swap) {
            targs[i]->host = tmp + (size_t)(2 + i) * state;
        } else {
            if ((st = clrnn_ox_alloc_device(m, n, outs[i], 3, hshape)) != CLRNN_OK) return st;
            targs[i]->mem = outs[i]->mem;
        }
    }
    if (!Y && !Yh && !Yc) return CLRNN_OK;
    if ((st = clrnn_rnn_forward(s->rnn, &a)) != CLRNN_OK) return clrnn_ox_wrap(n, st);

    for (int i = 0; i < 2; ++i) {
        ox_value *v = outs[i];
        if (!v) continue;
        if (swap) {
            if ((st = clrnn_ox_alloc_host(m, n, v, 3, hshape)) != CLRNN_OK) return st;
            swap01(tmp + (size_t)(2 + i) * state, v->host, D, N, H);
        }
        if (!any_empty) continue;
        /* ONNX Runtime: a row with sequence_lens = 0 has zero final states */
        for (int d = 0; d < D; ++d)
            for (int r = 0; r < N; ++r) {
                if (s->lens[r] != 0) continue;
                const size_t off = (s->layout ? (size_t)r * D + d : (size_t)d * N + r) * (size_t)H;
                if (v->on_host) memset((float *)v->host + off, 0, (size_t)H * sizeof(float));
                else if ((st = clrnn_ox_dev_fill_zero(m, n, v->mem, off * sizeof(float), (size_t)H * sizeof(float))) != CLRNN_OK)
                    return st;
            }
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------ */
static const char *const rnn_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                        "hidden_size", "layout", NULL};
static const char *const gru_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                        "hidden_size", "layout", "linear_before_reset", NULL};
static const char *const lstm_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                         "hidden_size", "input_forget", "layout", NULL};

const ox_op clrnn_ox_op_rnn = {"RNN", 3, 6, 0, 2, rnn_attrs, rnn_prepare, rnn_run, rnn_release};
const ox_op clrnn_ox_op_gru = {"GRU", 3, 6, 0, 2, gru_attrs, rnn_prepare, rnn_run, rnn_release};
const ox_op clrnn_ox_op_lstm = {"LSTM", 3, 8, 0, 3, lstm_attrs, rnn_prepare, rnn_run, rnn_release};
