/* ONNX export of an rnn (clrnn_onnx_save, see clrnn.h): a small protobuf encoder (the writing side
 * of what proto.c and wire.c read; field numbers from onnx.proto) and the graph that computes what
 * clrnn_rnn_forward computes with the rnn's current weights.
 *
 * The graph runs time-major inside: x [N, T, F] is transposed (or the ids are, before the
 * embedding's Gather) to [T, N, F], one ONNX RNN/GRU/LSTM node per layer (Y [T, D, N, H]), the
 * directions of inner layers concatenated per step as clrnn feeds the next layer, the last layer's
 * directions taken apart ([T, N, H] each, or Y_h's [N, H] for last_only), given the masked-output
 * policy and the reverse order, merged, transposed back to batch-major, then the dense layer and
 * the head's activation. Lengths, when derived, are each row's last counted step + 1. */
#include "onnx_internal.h"
#include "train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * Protobuf encoder: appends to a growing buffer; an allocation failure sets `oom` and makes every
 * later call a no-op (checked once at the end).
 * ---------------------------------------------------------------------------------------- */
typedef struct pbuf {
    unsigned char *d;
    size_t n, cap;
    int oom;
} pbuf;

static void pb_raw(pbuf *b, const void *p, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *d = realloc(b->d, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void pb_varint(pbuf *b, uint64_t v) {
    unsigned char t[10];
    size_t k = 0;
    do {
        t[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        ++k;
    } while (v);
    pb_raw(b, t, k);
}

enum { WT_VARINT = 0, WT_LEN = 2, WT_FIXED32 = 5 };
static void pb_key(pbuf *b, int field, int wire_type) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type); }
/* int32/int64/enum fields: negative values as 10-byte two's complement, as protobuf does. */
static void pb_int(pbuf *b, int field, int64_t v) {
    pb_key(b, field, WT_VARINT);
    pb_varint(b, (uint64_t)v);
}
static void le32(unsigned char *t, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 4; ++i) t[i] = (unsigned char)(u >> (8 * i));
}
static void pb_float(pbuf *b, int field, float v) {
    unsigned char t[4];
    le32(t, v);
    pb_key(b, field, WT_FIXED32);
    pb_raw(b, t, 4);
}
static void pb_bytes(pbuf *b, int field, const void *p, size_t n) {
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    pb_raw(b, p, n);
}
static void pb_str(pbuf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
/* sub as a length-delimited field of b; frees sub. */
static void pb_msg(pbuf *b, int field, pbuf *sub) {
    if (sub->oom) b->oom = 1;
    pb_bytes(b, field, sub->d, sub->n);
    free(sub->d);
    memset(sub, 0, sizeof *sub);
}

/* onnx.proto field numbers */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7, MODEL_OPSET = 8,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_FLOATS = 7, ATTR_INTS = 8, ATTR_STRINGS = 9, ATTR_TYPE = 20,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    VI_NAME = 1, VI_TYPE = 2, TYPE_TENSOR = 1, TT_ELEM_TYPE = 1, TT_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_FLOATS = 6, AT_INTS = 7, AT_STRINGS = 8 };

#define EXPORT_OPSET 14
#define EXPORT_IR_VERSION 7 /* the IR of opset 14 (ONNX 1.9) */

/* ------------------------------------------------------------------------------------------
 * Graph builder: value names from one arena, nodes and initializers appended in order (so the
 * nodes are topologically sorted as emitted).
 * ---------------------------------------------------------------------------------------- */
#define GB_MAX_VALUES 4096
typedef struct gb {
    pbuf graph;
    char names[GB_MAX_VALUES][24];
    int nvals, nnodes, overflow;
} gb;

static const char *fresh(gb *g, const char *hint) {
    if (g->nvals == GB_MAX_VALUES) {
        g->overflow = 1;
        return "overflow";
    }
    snprintf(g->names[g->nvals], sizeof g->names[0], "%.12s_%d", hint, g->nvals);
    return g->names[g->nvals++];
}

typedef struct node {
    pbuf b;
} node;

static void begin(node *nd, const char *op, int nin, const char *const *in) {
    memset(nd, 0, sizeof *nd);
    pb_str(&nd->b, NODE_OP_TYPE, op);
    for (int i = 0; i < nin; ++i) pb_str(&nd->b, NODE_INPUT, in[i] ? in[i] : "");
}
static void attr_begin(pbuf *a, const char *name) {
    memset(a, 0, sizeof *a);
    pb_str(a, ATTR_NAME, name);
}
static void attr_end(node *nd, pbuf *a, int type) {
    pb_int(a, ATTR_TYPE, type);
    pb_msg(&nd->b, NODE_ATTRIBUTE, a);
}
static void attr_i(node *nd, const char *name, int64_t v) {
    pbuf a;
    attr_begin(&a, name);
    pb_int(&a, ATTR_I, v);
    attr_end(nd, &a, AT_INT);
}
static void attr_f(node *nd, const char *name, float v) {
    pbuf a;
    attr_begin(&a, name);
    pb_float(&a, ATTR_F, v);
    attr_end(nd, &a, AT_FLOAT);
}
static void attr_s(node *nd, const char *name, const char *v) {
    pbuf a;
    attr_begin(&a, name);
    pb_str(&a, ATTR_S, v);
    attr_end(nd, &a, AT_STRING);
}
static void attr_ints(node *nd, const char *name, int n, const int64_t *v) {
    pbuf a;
    attr_begin(&a, name);
    for (int i = 0; i < n; ++i) pb_int(&a, ATTR_INTS, v[i]);
    attr_end(nd, &a, AT_INTS);
}
static void attr_floats(node *nd, const char *name, int n, const float *v) {
    pbuf a;
    attr_begin(&a, name);
    for (int i = 0; i < n; ++i) pb_float(&a, ATTR_FLOATS, v[i]);
    attr_end(nd, &a, AT_FLOATS);
}
static void attr_strings(node *nd, const char *name, int n, const char *const *v) {
    pbuf a;
    attr_begin(&a, name);
    for (int i = 0; i < n; ++i) pb_str(&a, ATTR_STRINGS, v[i]);
    attr_end(nd, &a, AT_STRINGS);
}
/* Ends the node with one output (named `out`, or a fresh name from hint); returns the name. */
static const char *end_as(gb *g, node *nd, const char *out, const char *hint) {
    if (!out) out = fresh(g, hint);
    pb_str(&nd->b, NODE_OUTPUT, out);
    char name[24];
    snprintf(name, sizeof name, "node_%d", g->nnodes++);
    pb_str(&nd->b, NODE_NAME, name);
    pb_msg(&g->graph, GRAPH_NODE, &nd->b);
    return out;
}
static const char *end1(gb *g, node *nd, const char *hint) { return end_as(g, nd, NULL, hint); }

#define INS(...) (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), (const char *const[]){__VA_ARGS__}

/* An operator without attributes. */
static const char *op(gb *g, const char *type, int nin, const char *const *in) {
    node nd;
    begin(&nd, type, nin, in);
    return end1(g, &nd, type);
}

/* Initializers (raw_data, little-endian whatever the host's order). */
static const char *init_f32(gb *g, const char *hint, int ndim, const int64_t *dims, const float *v, size_t count) {
    const char *name = fresh(g, hint);
    pbuf t = {0};
    for (int i = 0; i < ndim; ++i) pb_int(&t, TENSOR_DIMS, dims[i]);
    pb_int(&t, TENSOR_DATA_TYPE, OX_FLOAT);
    pb_str(&t, TENSOR_NAME, name);
    pb_key(&t, TENSOR_RAW_DATA, WT_LEN);
    pb_varint(&t, (uint64_t)count * 4);
    unsigned char chunk[1024];
    for (size_t i = 0; i < count;) {
        size_t k = 0;
        for (; k < sizeof chunk / 4 && i < count; ++k, ++i) le32(chunk + 4 * k, v[i]);
        pb_raw(&t, chunk, 4 * k);
    }
    pb_msg(&g->graph, GRAPH_INITIALIZER, &t);
    return name;
}
static const char *init_i64(gb *g, const char *hint, int ndim, const int64_t *dims, const int64_t *v, size_t count) {
    const char *name = fresh(g, hint);
    pbuf t = {0};
    for (int i = 0; i < ndim; ++i) pb_int(&t, TENSOR_DIMS, dims[i]);
    pb_int(&t, TENSOR_DATA_TYPE, OX_INT64);
    pb_str(&t, TENSOR_NAME, name);
    pb_key(&t, TENSOR_RAW_DATA, WT_LEN);
    pb_varint(&t, (uint64_t)count * 8);
    for (size_t i = 0; i < count; ++i) {
        unsigned char b8[8];
        for (int k = 0; k < 8; ++k) b8[k] = (unsigned char)((uint64_t)v[i] >> (8 * k));
        pb_raw(&t, b8, 8);
    }
    pb_msg(&g->graph, GRAPH_INITIALIZER, &t);
    return name;
}
static const char *scalar_i64(gb *g, int64_t v) { return init_i64(g, "i64", 0, NULL, &v, 1); }
static const char *scalar_f32(gb *g, float v) { return init_f32(g, "f32", 0, NULL, &v, 1); }
static const char *vec_i64(gb *g, int n, const int64_t *v) {
    const int64_t dims[1] = {n};
    return init_i64(g, "axes", 1, dims, v, (size_t)n);
}

/* A graph input or output: elem type and shape, dims < 0 named by `params`. */
static void value_info(gb *g, int field, const char *name, int32_t elem, int ndim, const int64_t *dims,
                       const char *const *params) {
    pbuf vi = {0}, type = {0}, tt = {0}, shape = {0};
    for (int i = 0; i < ndim; ++i) {
        pbuf dim = {0};
        if (dims[i] >= 0) pb_int(&dim, DIM_VALUE, dims[i]);
        else pb_str(&dim, DIM_PARAM, params[i]);
        pb_msg(&shape, SHAPE_DIM, &dim);
    }
    pb_int(&tt, TT_ELEM_TYPE, elem);
    pb_msg(&tt, TT_SHAPE, &shape);
    pb_msg(&type, TYPE_TENSOR, &tt);
    pb_str(&vi, VI_NAME, name);
    pb_msg(&vi, VI_TYPE, &type);
    pb_msg(&g->graph, field, &vi);
}

/* Shorthands of the ops used below. */
static const char *transpose(gb *g, const char *x, int n, const int64_t *perm) {
    node nd;
    begin(&nd, "Transpose", INS(x));
    attr_ints(&nd, "perm", n, perm);
    return end1(g, &nd, "Transpose");
}
static const char *gather(gb *g, const char *data, const char *idx, int64_t axis) {
    node nd;
    begin(&nd, "Gather", INS(data, idx));
    attr_i(&nd, "axis", axis);
    return end1(g, &nd, "Gather");
}
static const char *cast(gb *g, const char *x, int64_t to) {
    node nd;
    begin(&nd, "Cast", INS(x));
    attr_i(&nd, "to", to);
    return end1(g, &nd, "Cast");
}
static const char *reduce_max(gb *g, const char *x, int64_t axis) {
    node nd;
    begin(&nd, "ReduceMax", INS(x));
    attr_ints(&nd, "axes", 1, &axis);
    attr_i(&nd, "keepdims", 0);
    return end1(g, &nd, "ReduceMax");
}
static const char *concat(gb *g, const char *a, const char *b, int64_t axis) {
    node nd;
    begin(&nd, "Concat", INS(a, b));
    attr_i(&nd, "axis", axis);
    return end1(g, &nd, "Concat");
}
static const char *unsqueeze(gb *g, const char *x, int64_t axis) { return op(g, "Unsqueeze", INS(x, vec_i64(g, 1, &axis))); }
static const char *squeeze(gb *g, const char *x, int64_t axis) { return op(g, "Squeeze", INS(x, vec_i64(g, 1, &axis))); }

/* ------------------------------------------------------------------------------------------
 * The spec's checks
 * ---------------------------------------------------------------------------------------- */
static const char *const act_names[CLRNN_ACT_COUNT_] = {
    [CLRNN_ACT_SIGMOID] = "Sigmoid",         [CLRNN_ACT_TANH] = "Tanh",
    [CLRNN_ACT_RELU] = "Relu",               [CLRNN_ACT_AFFINE] = "Affine",
    [CLRNN_ACT_LEAKY_RELU] = "LeakyRelu",    [CLRNN_ACT_THRESHOLDED_RELU] = "ThresholdedRelu",
    [CLRNN_ACT_SCALED_TANH] = "ScaledTanh",  [CLRNN_ACT_HARD_SIGMOID] = "HardSigmoid",
    [CLRNN_ACT_ELU] = "Elu",                 [CLRNN_ACT_SOFTSIGN] = "Softsign",
    [CLRNN_ACT_SOFTPLUS] = "Softplus"};
/* Which ONNX activations read activation_alpha / activation_beta (in order, ONNX Runtime's reading). */
static int takes_alpha(clrnn_activation_kind k) {
    return k == CLRNN_ACT_AFFINE || k == CLRNN_ACT_LEAKY_RELU || k == CLRNN_ACT_THRESHOLDED_RELU ||
           k == CLRNN_ACT_SCALED_TANH || k == CLRNN_ACT_HARD_SIGMOID || k == CLRNN_ACT_ELU;
}
static int takes_beta(clrnn_activation_kind k) {
    return k == CLRNN_ACT_AFFINE || k == CLRNN_ACT_SCALED_TANH || k == CLRNN_ACT_HARD_SIGMOID;
}

static clrnn_status check_spec(const clrnn_onnx_export *s) {
    clrnn_status st = clrnn_check_rnn(s->rnn, "clrnn_onnx_save");
    if (st != CLRNN_OK) return st;
    const clrnn_rnn *r = s->rnn;
    const clrnn_rnn_desc *d = &r->desc;
    if ((unsigned)s->head > CLRNN_HEAD_SIGMOID)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_onnx_save: head = %d is not a clrnn_head_activation", (int)s->head);
    if (s->embedding) {
        if (s->vocab < 1 || s->vocab > ((int64_t)1 << 40))
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_onnx_save: vocab = %lld must be in [1, 2^40]", (long long)s->vocab);
        size_t count;
        if (!clrnn_mul_size((size_t)s->vocab, (size_t)d->input_size, &count) || count > SIZE_MAX / 8)
            return clrnn_fail(CLRNN_ERR_OVERFLOW, "clrnn_onnx_save: the embedding table [%lld, %d] is too large",
                              (long long)s->vocab, d->input_size);
        if (s->use_padding)
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_onnx_save: use_padding applies to float input; with an "
                              "embedding, id 0 pads (mask_zero)");
        for (size_t i = 0; i < count; ++i)
            if (!isfinite(s->embedding[i]))
                return clrnn_fail(CLRNN_ERR_NON_FINITE, "clrnn_onnx_save: embedding element %zu (id %zu) is %f", i,
                                  i / (size_t)d->input_size, (double)s->embedding[i]);
    } else {
        if (s->vocab != 0)
            return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_save: vocab = %lld but embedding is NULL", (long long)s->vocab);
        if (s->mask_zero)
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_onnx_save: mask_zero needs an embedding (ids input)");
    }
    if (s->use_padding && !isfinite(s->padding_value))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_onnx_save: padding_value = %f is not finite (no step "
                          "would ever count as padding)", (double)s->padding_value);
    /* what the ONNX operators cannot express: each changes the outputs of any model that has it */
    if (d->proj_size > 0)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn_onnx_save: proj_size = %d: the ONNX LSTM has no projection",
                          d->proj_size);
    if (d->cell_clip != 0)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn_onnx_save: cell_clip = %g: the ONNX LSTM's clip clamps the gate "
                          "inputs, not the carried cell state", (double)d->cell_clip);
    if (d->proj_clip != 0)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn_onnx_save: proj_clip = %g: the ONNX LSTM has no projection",
                          (double)d->proj_clip);
    if (d->masked_output == CLRNN_MASKED_OUTPUT_FILL && !isfinite(d->masked_fill_value))
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn_onnx_save: masked_fill_value = %f is not finite",
                          (double)d->masked_fill_value);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * The graph
 * ---------------------------------------------------------------------------------------- */
/* One layer's weights as the ONNX node takes them: W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H]
 * (forget_bias folded into the input bias of f), P [D, 3H]. */
static clrnn_status layer_node(gb *g, clrnn_rnn *r, int l, const char *x, const char *lens32, const char **Y,
                               const char **Y_h) {
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, G = r->G, H = d->hidden_size, I = r->lw[l * D].in_size;
    const size_t GH = (size_t)G * H, nW = GH * I, nR = GH * H, nB = 2 * GH, nP = 3 * (size_t)H;
    const int peep = d->cell == CLRNN_CELL_LSTM && d->peephole;
    float *buf = malloc((nW + nR + nB + nP) * D * sizeof(float));
    if (!buf) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "clrnn_onnx_save: layer %d weights", l);
    float *W = buf, *R = W + nW * D, *B = R + nR * D, *P = B + nB * D;
    clrnn_status st = CLRNN_OK;
    for (int dir = 0; dir < D && st == CLRNN_OK; ++dir) {
        if ((st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, W + nW * dir, nW)) != CLRNN_OK ||
            (st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, R + nR * dir, nR)) != CLRNN_OK ||
            (st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, B + nB * dir, nB)) != CLRNN_OK)
            break;
        if (peep && (st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_PEEPHOLE, P + nP * dir, nP)) != CLRNN_OK)
            break;
        if (d->cell == CLRNN_CELL_LSTM && d->forget_bias != 0) /* ONNX gates i, o, f, c: f is block 2 of Wb */
            for (int j = 0; j < H; ++j) B[nB * dir + 2 * (size_t)H + j] += d->forget_bias;
    }
    if (st != CLRNN_OK) {
        free(buf);
        return st;
    }
    const int64_t wd[3] = {D, (int64_t)GH, I}, rd[3] = {D, (int64_t)GH, H}, bd[2] = {D, (int64_t)nB}, pd[2] = {D, (int64_t)nP};
    const char *w = init_f32(g, "W", 3, wd, W, nW * D), *rr = init_f32(g, "R", 3, rd, R, nR * D);
    const char *b = init_f32(g, "B", 2, bd, B, nB * D), *p = peep ? init_f32(g, "P", 2, pd, P, nP * D) : NULL;
    free(buf);

    const char *type = d->cell == CLRNN_CELL_LSTM ? "LSTM" : d->cell == CLRNN_CELL_GRU ? "GRU" : "RNN";
    node nd;
    if (p) begin(&nd, type, INS(x, w, rr, b, lens32 ? lens32 : "", "", "", p));
    else begin(&nd, type, INS(x, w, rr, b, lens32 ? lens32 : ""));
    attr_i(&nd, "hidden_size", H);
    if (d->direction != CLRNN_DIR_FORWARD)
        attr_s(&nd, "direction", d->direction == CLRNN_DIR_REVERSE ? "reverse" : "bidirectional");
    const int slots = d->cell == CLRNN_CELL_LSTM ? 3 : d->cell == CLRNN_CELL_GRU ? 2 : 1;
    const char *names[6];
    float alpha[6], beta[6];
    int na = 0, nb = 0;
    for (int dir = 0; dir < D; ++dir)
        for (int s = 0; s < slots; ++s) {
            const clrnn_activation a = clrnn_effective_activation(d, dir, s);
            names[dir * slots + s] = act_names[a.kind];
            if (takes_alpha(a.kind)) alpha[na++] = a.alpha;
            if (takes_beta(a.kind)) beta[nb++] = a.beta;
        }
    attr_strings(&nd, "activations", D * slots, names);
    if (na) attr_floats(&nd, "activation_alpha", na, alpha);
    if (nb) attr_floats(&nd, "activation_beta", nb, beta);
    if (d->clip > 0) attr_f(&nd, "clip", d->clip);
    if (d->cell == CLRNN_CELL_LSTM && d->input_forget) attr_i(&nd, "input_forget", 1);
    if (d->cell == CLRNN_CELL_GRU) attr_i(&nd, "linear_before_reset", d->linear_before_reset ? 1 : 0);
    *Y = fresh(g, "Y");
    *Y_h = fresh(g, "Y_h");
    pb_str(&nd.b, NODE_OUTPUT, *Y);
    pb_str(&nd.b, NODE_OUTPUT, *Y_h);
    char name[24];
    snprintf(name, sizeof name, "%s_%d", type, l);
    pb_str(&nd.b, NODE_NAME, name);
    pb_msg(&g->graph, GRAPH_NODE, &nd.b);
    return CLRNN_OK;
}

static clrnn_status build(const clrnn_onnx_export *s, gb *g) {
    clrnn_rnn *r = s->rnn;
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, L = d->num_layers, Hr = r->Hr, F = d->input_size;
    const int ids = s->embedding != NULL, derive = s->use_padding || (ids && s->mask_zero);
    const clrnn_masked_output policy = d->masked_output;
    clrnn_status st;

    /* layer 0's input, time-major */
    const char *cur;
    if (ids) {
        const int64_t ed[2] = {s->vocab, F}, p2[2] = {1, 0};
        const char *E = init_f32(g, "embedding", 2, ed, s->embedding, (size_t)s->vocab * F);
        cur = gather(g, E, transpose(g, "x", 2, p2), 0);
    } else {
        const int64_t p3[3] = {1, 0, 2};
        cur = transpose(g, "x", 3, p3);
    }

    /* lengths: the last counted step + 1 */
    const char *lens32 = NULL, *lens64 = NULL, *valid = NULL, *zero = NULL, *one = NULL;
    if (derive) {
        const char *cnt;
        if (s->use_padding) {
            const char *ne = op(g, "Not", INS(op(g, "Equal", INS("x", scalar_f32(g, s->padding_value)))));
            cnt = reduce_max(g, cast(g, ne, OX_INT64), 2);
        } else {
            cnt = cast(g, op(g, "Not", INS(op(g, "Equal", INS("x", scalar_i64(g, 0))))), OX_INT64);
        }
        one = scalar_i64(g, 1);
        zero = scalar_i64(g, 0);
        const char *T = gather(g, op(g, "Shape", INS("x")), one, 0);
        const char *pos = op(g, "Range", INS(one, op(g, "Add", INS(T, one)), one)); /* 1 .. T */
        lens64 = reduce_max(g, op(g, "Mul", INS(cnt, pos)), 1);
        lens32 = cast(g, lens64, OX_INT32);
        /* valid [T, N, 1]: t < len, for the masked-output policy at padded steps */
        if (!s->last_only && policy != CLRNN_MASKED_OUTPUT_ZERO) {
            const char *t = unsqueeze(g, op(g, "Range", INS(zero, T, one)), 1);
            valid = unsqueeze(g, op(g, "Less", INS(t, lens64)), 2);
        }
    }

    const char *Y = NULL, *Y_h = NULL;
    for (int l = 0; l < L; ++l) {
        if ((st = layer_node(g, r, l, cur, lens32, &Y, &Y_h)) != CLRNN_OK) return st;
        if (l + 1 < L) /* the next layer's input: the directions side by side, [T, N, D*H] */
            cur = D == 1 ? squeeze(g, Y, 1) : concat(g, gather(g, Y, zero ? zero : (zero = scalar_i64(g, 0)), 1),
                                                     gather(g, Y, one ? one : (one = scalar_i64(g, 1)), 1), 2);
    }

    /* the last layer's directions: [T, N, Hr] each (last_only: [N, Hr]) */
    const char *part[2];
    const char *fill = policy == CLRNN_MASKED_OUTPUT_FILL ? scalar_f32(g, d->masked_fill_value) : NULL;
    for (int dir = 0; dir < D; ++dir) {
        const char *di = scalar_i64(g, dir);
        const int rev = d->direction == CLRNN_DIR_REVERSE || dir == 1;
        const char *h = gather(g, Y_h, di, 0);
        if (s->last_only) {
            /* rows without a computed step: ZERO and CARRY give zeros (Y_h is zero there), FILL its value */
            if (derive && fill) h = op(g, "Where", INS(unsqueeze(g, op(g, "Greater", INS(lens64, zero)), 1), h, fill));
            part[dir] = h;
            continue;
        }
        const char *y = gather(g, Y, di, 1);
        if (valid) {
            /* padded steps: CARRY holds the direction's last output (Y_h: the forward direction's
             * padded steps follow its computed ones, and so do a per-row reverse's); a whole-axis
             * reverse meets them before its first computed step, so they stay zero */
            const char *alt = fill ? fill : rev && d->reverse_mode == CLRNN_REVERSE_WHOLE_AXIS ? NULL : h;
            if (alt) y = op(g, "Where", INS(valid, y, alt));
        }
        if (rev && d->reverse_order == CLRNN_REVERSE_OUTPUT_REVERSED) {
            /* position k = the k-th processed step: per row, the first len steps reversed (the
             * padded ones stay); whole axis (or no lengths), all T */
            if (derive && d->reverse_mode == CLRNN_REVERSE_PER_ROW) {
                node nd;
                begin(&nd, "ReverseSequence", INS(y, lens64));
                attr_i(&nd, "batch_axis", 1);
                attr_i(&nd, "time_axis", 0);
                y = end1(g, &nd, "ReverseSequence");
            } else {
                const int64_t start = -1, end = INT64_MIN, ax = 0, step = -1;
                y = op(g, "Slice", INS(y, vec_i64(g, 1, &start), vec_i64(g, 1, &end), vec_i64(g, 1, &ax), vec_i64(g, 1, &step)));
            }
        }
        part[dir] = y;
    }

    /* merge (clrnn's order: forward then reverse), then batch-major */
    const int feat_axis = s->last_only ? 1 : 2;
    const char *m = part[0];
    if (D == 2) switch (d->merge) {
        case CLRNN_MERGE_CONCAT: m = concat(g, part[0], part[1], feat_axis); break;
        case CLRNN_MERGE_SUM: m = op(g, "Add", INS(part[0], part[1])); break;
        case CLRNN_MERGE_MUL: m = op(g, "Mul", INS(part[0], part[1])); break;
        case CLRNN_MERGE_AVE: m = op(g, "Mul", INS(op(g, "Add", INS(part[0], part[1])), scalar_f32(g, 0.5f))); break;
        case CLRNN_MERGE_NONE: {
            const int64_t ax = s->last_only ? 0 : 2; /* [2, N, Hr] / [T, N, 2, Hr] */
            m = concat(g, unsqueeze(g, part[0], ax), unsqueeze(g, part[1], ax), ax);
            break;
        }
        }
    if (!s->last_only) {
        const int64_t p3[3] = {1, 0, 2}, p4[4] = {1, 0, 2, 3};
        m = D == 2 && d->merge == CLRNN_MERGE_NONE ? transpose(g, m, 4, p4) : transpose(g, m, 3, p3);
    }

    /* the dense layer: y Wd^T + bd, Wd^T [Hm, O] */
    if (d->dense_size > 0) {
        const int O = r->O, Hm = r->Hm;
        float *w = malloc(((size_t)O * Hm * 2 + O) * sizeof(float));
        if (!w) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "clrnn_onnx_save: the dense layer");
        float *wt = w + (size_t)O * Hm, *b = wt + (size_t)O * Hm;
        if ((st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W, w, (size_t)O * Hm)) != CLRNN_OK ||
            (st = clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_B, b, (size_t)O)) != CLRNN_OK) {
            free(w);
            return st;
        }
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < Hm; ++k) wt[(size_t)k * O + o] = w[(size_t)o * Hm + k];
        const int64_t wd[2] = {Hm, O}, bd[1] = {O};
        const char *W = init_f32(g, "dense_W", 2, wd, wt, (size_t)O * Hm), *B = init_f32(g, "dense_b", 1, bd, b, (size_t)O);
        free(w);
        m = op(g, "Add", INS(op(g, "MatMul", INS(m, W)), B));
    }
    node nd;
    if (s->head == CLRNN_HEAD_SOFTMAX) {
        begin(&nd, "Softmax", INS(m));
        attr_i(&nd, "axis", -1);
    } else {
        begin(&nd, s->head == CLRNN_HEAD_SIGMOID ? "Sigmoid" : "Identity", INS(m));
    }
    end_as(g, &nd, "y", NULL);

    /* the graph's interface */
    static const char *const params[4] = {"batch", "time", "", ""};
    const int64_t xd[3] = {-1, -1, F};
    value_info(g, GRAPH_INPUT, "x", ids ? OX_INT64 : OX_FLOAT, ids ? 2 : 3, xd, params);
    const int none = D == 2 && d->merge == CLRNN_MERGE_NONE;
    const int64_t O = r->O;
    if (s->last_only) {
        static const char *const p2[3] = {"", "batch", ""};
        const int64_t yd[3] = {2, -1, Hr}, yd2[2] = {-1, O};
        if (none) value_info(g, GRAPH_OUTPUT, "y", OX_FLOAT, 3, yd, p2);
        else value_info(g, GRAPH_OUTPUT, "y", OX_FLOAT, 2, yd2, params);
    } else {
        const int64_t yd[4] = {-1, -1, 2, Hr}, yd3[3] = {-1, -1, O};
        if (none) value_info(g, GRAPH_OUTPUT, "y", OX_FLOAT, 4, yd, params);
        else value_info(g, GRAPH_OUTPUT, "y", OX_FLOAT, 3, yd3, params);
    }
    pb_str(&g->graph, GRAPH_NAME, "clrnn");
    if (g->overflow) return clrnn_fail(CLRNN_ERR_INTERNAL, "clrnn_onnx_save: more than %d values", GB_MAX_VALUES);
    return CLRNN_OK;
}

clrnn_status clrnn_ox_export_memory(const clrnn_onnx_export *spec, unsigned char **data, size_t *size) {
    if (!spec) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_save: spec is NULL");
    clrnn_status st = check_spec(spec);
    if (st != CLRNN_OK) return st;
    /* every required weight, before anything is built */
    if ((st = clrnn_rnn_sync_host_params(spec->rnn)) != CLRNN_OK) return st;
    if ((st = clrnn_weights_check_complete(spec->rnn)) != CLRNN_OK) return st;
    gb *g = calloc(1, sizeof *g);
    if (!g) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "clrnn_onnx_save: graph builder");
    st = build(spec, g);
    pbuf model = {0}, opset = {0};
    if (st == CLRNN_OK) {
        pb_int(&model, MODEL_IR_VERSION, EXPORT_IR_VERSION);
        pb_str(&model, MODEL_PRODUCER_NAME, "clrnn");
        pb_str(&model, MODEL_PRODUCER_VERSION, CLRNN_VERSION_STRING);
        pb_msg(&model, MODEL_GRAPH, &g->graph);
        pb_str(&opset, OPSET_DOMAIN, "");
        pb_int(&opset, OPSET_VERSION, EXPORT_OPSET);
        pb_msg(&model, MODEL_OPSET, &opset);
        if (model.oom) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "clrnn_onnx_save: the model's %zu bytes", model.n);
    }
    free(g->graph.d);
    free(g);
    if (st != CLRNN_OK) {
        free(model.d);
        return st;
    }
    *data = model.d;
    *size = model.n;
    return CLRNN_OK;
}

clrnn_status clrnn_onnx_save(const clrnn_onnx_export *spec, const char *path) {
    clrnn_clear_error();
    if (!path) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_save: path is NULL");
    unsigned char *data = NULL;
    size_t size = 0;
    clrnn_status st = clrnn_ox_export_memory(spec, &data, &size);
    if (st != CLRNN_OK) return st;
    /* a temporary beside the file, renamed over it once complete: a failed save leaves no partial model */
    char tmp[4200], esc[512];
    const int fd = clrnn_create_temp(path, 0644, tmp, sizeof tmp);
    if (fd < 0) {
        const int e = errno;
        free(data);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write model '%s': %s", clrnn_esc(path, esc, sizeof esc), strerror(e));
    }
    size_t done = 0;
    int err = 0;
    while (done < size && !err) {
        const ssize_t w = write(fd, data + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) err = w < 0 ? errno : EIO;
        else done += (size_t)w;
    }
    free(data);
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write model '%s': %s", clrnn_esc(path, esc, sizeof esc), strerror(err));
    }
    return CLRNN_OK;
}
