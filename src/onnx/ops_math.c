/* Math operators: Add, Sub, Mul, Div (numpy broadcasting), Sigmoid, Tanh, Relu, Softmax, MatMul,
 * Gemm, and the Reduce family. float32 runs on the device (kernels.cl, CLBlast GEMM); the
 * element-wise ops and the reductions also take integer tensors, computed on the host (shape
 * arithmetic: Mul/Div/Add of int64 shapes, ReduceProd of a shape). More element-wise operators:
 * ops_elem.c. */
#include "onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Add, Sub, Mul, Div
 * ---------------------------------------------------------------------------------------- */
typedef struct binary_state {
    int op;
} binary_state;

static clrnn_status binary_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, int op) {
    (void)p;
    binary_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    s->op = op;
    const ox_value *a = ox_in(m, n, 0), *b = ox_in(m, n, 1); /* both present: min_in = 2 */
    if (a->dtype != b->dtype || a->is_bool || b->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "inputs of types %s and %s (both must be the same numeric type)",
                             clrnn_ox_dtype_name(a->dtype, a->is_bool), clrnn_ox_dtype_name(b->dtype, b->is_bool));
    return ox_same_type_out(m, n);
}
static clrnn_status add_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { return binary_prepare(m, n, p, OX_BIN_ADD); }
static clrnn_status sub_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { return binary_prepare(m, n, p, OX_BIN_SUB); }
static clrnn_status mul_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { return binary_prepare(m, n, p, OX_BIN_MUL); }
static clrnn_status div_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { return binary_prepare(m, n, p, OX_BIN_DIV); }

/* Integers on the host: wrapping arithmetic like C on the type's width, division truncates. */
#define INT_BINARY(T, UT, SIGNED)                                                                                \
    do {                                                                                                   \
        const T x = ((const T *)a->host)[ia], z = ((const T *)b->host)[ib];                                \
        T r;                                                                                               \
        switch (s->op) {                                                                                   \
        case OX_BIN_ADD: r = (T)((UT)x + (UT)z); break;                                                    \
        case OX_BIN_SUB: r = (T)((UT)x - (UT)z); break;                                                    \
        case OX_BIN_MUL: r = (T)((UT)x * (UT)z); break;                                                    \
        default:                                                                                           \
            if (z == 0) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "integer division by zero");   \
            r = (SIGNED && z == (T)-1) ? (T)(0 - (UT)x) : (T)(x / z);                                      \
        }                                                                                                  \
        ((T *)y->host)[i] = r;                                                                             \
    } while (0)

static clrnn_status binary_run(clrnn_model *m, ox_node *n) {
    const binary_state *s = n->state;
    ox_value *a = ox_in(m, n, 0), *b = ox_in(m, n, 1), *y = ox_out(m, n, 0);
    int64_t shape[CLRNN_MAX_DIMS], as[CLRNN_MAX_DIMS], bs[CLRNN_MAX_DIMS];
    int r;
    clrnn_status st = clrnn_ox_broadcast(n, a->ndim, a->shape, b->ndim, b->shape, &r, shape);
    if (st != CLRNN_OK) return st;
    clrnn_ox_broadcast_strides(a->ndim, a->shape, r, shape, as);
    clrnn_ox_broadcast_strides(b->ndim, b->shape, r, shape, bs);
    if (a->dtype == CLRNN_DTYPE_FLOAT32) {
        if ((st = clrnn_ox_to_device(m, a)) != CLRNN_OK || (st = clrnn_ox_to_device(m, b)) != CLRNN_OK) return st;
        if ((st = clrnn_ox_alloc_device(m, n, y, r, shape)) != CLRNN_OK) return st;
        return clrnn_ox_dev_binary(m, n, s->op, a->mem, b->mem, y->mem, r, shape, as, bs);
    }
    if ((st = clrnn_ox_to_host(m, a)) != CLRNN_OK || (st = clrnn_ox_to_host(m, b)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_host(m, n, y, r, shape)) != CLRNN_OK) return st;
    int64_t idx[CLRNN_MAX_DIMS] = {0}, ia = 0, ib = 0;
    for (size_t i = 0; i < y->count; ++i) {
        switch (a->dtype) {
        case CLRNN_DTYPE_INT32: INT_BINARY(int32_t, uint32_t, 1); break;
        case CLRNN_DTYPE_INT64: INT_BINARY(int64_t, uint64_t, 1); break;
        default: INT_BINARY(uint8_t, uint8_t, 0); break;
        }
        for (int k = r - 1; k >= 0; --k) {
            ia += as[k];
            ib += bs[k];
            if (++idx[k] < shape[k]) break;
            ia -= as[k] * shape[k];
            ib -= bs[k] * shape[k];
            idx[k] = 0;
        }
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Sigmoid, Tanh, Relu
 * ---------------------------------------------------------------------------------------- */
static clrnn_status float_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    return ox_check_then_same_type(m, n, 0, "input", OX_T_F32);
}

static clrnn_status unary_run(clrnn_model *m, ox_node *n, int op) {
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_to_device(m, x);
    if (st == CLRNN_OK) st = clrnn_ox_alloc_device(m, n, y, x->ndim, x->shape);
    if (st == CLRNN_OK) st = clrnn_ox_dev_unary(m, n, op, x->mem, y->mem, x->count, 0.0f, 0.0f);
    return st;
}
static clrnn_status sigmoid_run(clrnn_model *m, ox_node *n) { return unary_run(m, n, OX_UN_SIGMOID); }
static clrnn_status tanh_run(clrnn_model *m, ox_node *n) { return unary_run(m, n, OX_UN_TANH); }
static clrnn_status relu_run(clrnn_model *m, ox_node *n) { return unary_run(m, n, OX_UN_RELU); }

/* ------------------------------------------------------------------------------------------
 * Softmax, LogSoftmax: opset < 13 flattens to 2-D at `axis` (default 1); opset >= 13 normalizes along the
 * single axis `axis` (default -1).
 * ---------------------------------------------------------------------------------------- */
typedef struct softmax_state {
    int64_t axis;
    int log_out; /* LogSoftmax */
} softmax_state;

static clrnn_status softmax_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    softmax_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    s->log_out = !strcmp(n->op_type, "LogSoftmax");
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", m->opset >= 13 ? -1 : 1, &s->axis);
    return st == CLRNN_OK ? float_prepare(m, n, p) : st;
}

static clrnn_status softmax_run(clrnn_model *m, ox_node *n) {
    const softmax_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    if (x->ndim == 0) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s of a scalar", n->op_type);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, x->ndim, "axis", &axis);
    if (st != CLRNN_OK) return st;
    size_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= (size_t)x->shape[i];
    if (m->opset >= 13) {
        len = (size_t)x->shape[axis];
        for (int i = axis + 1; i < x->ndim; ++i) inner *= (size_t)x->shape[i];
    } else {
        for (int i = axis; i < x->ndim; ++i) len *= (size_t)x->shape[i];
    }
    if ((st = clrnn_ox_to_device(m, x)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_device(m, n, y, x->ndim, x->shape)) != CLRNN_OK) return st;
    return clrnn_ox_dev_softmax(m, n, x->mem, y->mem, outer, len, inner, s->log_out);
}

/* ------------------------------------------------------------------------------------------
 * MatMul (numpy semantics: 1-D operands promoted, batch dimensions broadcast)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status matmul_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    clrnn_status st = clrnn_ox_check_type(m, n, 1, "B", OX_T_F32);
    return st == CLRNN_OK ? float_prepare(m, n, p) : st;
}

static clrnn_status zero_fill(clrnn_model *m, const ox_node *n, ox_value *y) {
    return clrnn_ox_dev_fill_zero(m, n, y->mem, 0, y->count * sizeof(float));
}

static clrnn_status matmul_run(clrnn_model *m, ox_node *n) {
    ox_value *a = ox_in(m, n, 0), *b = ox_in(m, n, 1), *y = ox_out(m, n, 0);
    if (a->ndim == 0 || b->ndim == 0) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "MatMul of a scalar");
    const int a1 = a->ndim == 1, b1 = b->ndim == 1;
    const int64_t M = a1 ? 1 : a->shape[a->ndim - 2], K = a->shape[a->ndim - 1];
    const int64_t K2 = b1 ? b->shape[0] : b->shape[b->ndim - 2], N = b1 ? 1 : b->shape[b->ndim - 1];
    if (K != K2)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "inner dimensions differ: '%s' has %lld columns, '%s' has %lld rows",
                             a->name, (long long)K, b->name, (long long)K2);
    const int ba = a1 ? 0 : a->ndim - 2, bb = b1 ? 0 : b->ndim - 2;
    int64_t batch[CLRNN_MAX_DIMS];
    int rb;
    clrnn_status st = clrnn_ox_broadcast(n, ba, a->shape, bb, b->shape, &rb, batch);
    if (st != CLRNN_OK) return st;
    int64_t shape[CLRNN_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < rb; ++i) shape[r++] = batch[i];
    if (!a1) shape[r++] = M;
    if (!b1) shape[r++] = N;
    if (r > CLRNN_MAX_DIMS) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "result rank %d", r);
    if ((st = clrnn_ox_to_device(m, a)) != CLRNN_OK || (st = clrnn_ox_to_device(m, b)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_device(m, n, y, r, shape)) != CLRNN_OK) return st;
    if (y->count == 0) return CLRNN_OK;
    if (K == 0) return zero_fill(m, n, y);
    size_t nb = 1;
    for (int i = 0; i < rb; ++i) nb *= (size_t)batch[i];
    int b_has_batch = 0;
    for (int i = 0; i < bb; ++i) b_has_batch |= b->shape[i] != 1;
    if (!b_has_batch) /* every A matrix times the same B: one GEMM over the stacked rows of A */
        st = clrnn_sgemm(m->ctx, 0, 0, nb * (size_t)M, (size_t)N, (size_t)K, 1.0f, a->mem, 0, (size_t)K, b->mem, 0,
                         (size_t)N, 0.0f, y->mem, 0, (size_t)N);
    else {
        int64_t sa[CLRNN_MAX_DIMS], sb[CLRNN_MAX_DIMS];
        clrnn_ox_broadcast_strides(ba, a->shape, rb, batch, sa);
        clrnn_ox_broadcast_strides(bb, b->shape, rb, batch, sb);
        size_t *offs = malloc(3 * nb * sizeof *offs);
        float *ab = malloc(2 * nb * sizeof *ab);
        if (!offs || !ab) {
            free(offs), free(ab);
            return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "MatMul batch table");
        }
        int64_t idx[CLRNN_MAX_DIMS] = {0};
        for (size_t i = 0; i < nb; ++i) {
            int64_t oa = 0, ob = 0;
            for (int k = 0; k < rb; ++k) oa += idx[k] * sa[k], ob += idx[k] * sb[k];
            offs[i] = (size_t)oa * (size_t)(M * K);
            offs[nb + i] = (size_t)ob * (size_t)(K * N);
            offs[2 * nb + i] = i * (size_t)(M * N);
            ab[i] = 1.0f;
            ab[nb + i] = 0.0f;
            for (int k = rb - 1; k >= 0 && ++idx[k] >= batch[k]; --k) idx[k] = 0;
        }
        st = clrnn_sgemm_batched(m->ctx, 0, 0, (size_t)M, (size_t)N, (size_t)K, ab, a->mem, offs, (size_t)K, b->mem,
                                 offs + nb, (size_t)N, ab + nb, y->mem, offs + 2 * nb, (size_t)N, nb);
        free(offs);
        free(ab);
    }
    return st == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st);
}

/* ------------------------------------------------------------------------------------------
 * Gemm: Y = alpha * op(A) op(B) + beta * C, C broadcast to [M, N]
 * ---------------------------------------------------------------------------------------- */
typedef struct gemm_state {
    float alpha, beta;
    int64_t trans_a, trans_b;
} gemm_state;

static clrnn_status gemm_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    gemm_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st;
    if ((st = clrnn_ox_attr_float(n, p, "alpha", 1.0f, &s->alpha)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_attr_float(n, p, "beta", 1.0f, &s->beta)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_attr_int(n, p, "transA", 0, &s->trans_a)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_attr_int(n, p, "transB", 0, &s->trans_b)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_check_type(m, n, 1, "B", OX_T_F32)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_check_type(m, n, 2, "C", OX_T_F32)) != CLRNN_OK) return st;
    return float_prepare(m, n, p);
}

static clrnn_status gemm_run(clrnn_model *m, ox_node *n) {
    const gemm_state *s = n->state;
    ox_value *a = ox_in(m, n, 0), *b = ox_in(m, n, 1), *c = ox_in(m, n, 2), *y = ox_out(m, n, 0);
    if (a->ndim != 2 || b->ndim != 2)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "A and B must be 2-D, they have ranks %d and %d", a->ndim, b->ndim);
    const int64_t M = s->trans_a ? a->shape[1] : a->shape[0], K = s->trans_a ? a->shape[0] : a->shape[1];
    const int64_t K2 = s->trans_b ? b->shape[1] : b->shape[0], N = s->trans_b ? b->shape[0] : b->shape[1];
    if (K != K2)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "inner dimensions differ: op(A) is %lld x %lld, op(B) is %lld x %lld",
                             (long long)M, (long long)K, (long long)K2, (long long)N);
    const int64_t shape[2] = {M, N};
    clrnn_status st;
    if ((st = clrnn_ox_to_device(m, a)) != CLRNN_OK || (st = clrnn_ox_to_device(m, b)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_device(m, n, y, 2, shape)) != CLRNN_OK) return st;
    if (y->count == 0) return CLRNN_OK;
    float beta = 0.0f;
    if (c && s->beta != 0.0f) {
        /* C broadcast into Y, then GEMM accumulates onto it with beta */
        int64_t cs[2], ys[2];
        int r;
        int64_t bshape[CLRNN_MAX_DIMS];
        if (c->ndim > 2 || clrnn_ox_broadcast(n, c->ndim, c->shape, 2, shape, &r, bshape) != CLRNN_OK || bshape[0] != M ||
            bshape[1] != N) {
            char cshape[96] = "";
            size_t pos = 0;
            for (int i = 0; i < c->ndim && pos < sizeof cshape; ++i)
                pos += (size_t)snprintf(cshape + pos, sizeof cshape - pos, "%s%lld", i ? ", " : "", (long long)c->shape[i]);
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "C of shape [%s] does not broadcast to [%lld, %lld]", cshape,
                                 (long long)M, (long long)N);
        }
        clrnn_ox_broadcast_strides(c->ndim, c->shape, 2, shape, cs);
        clrnn_ox_strides(2, shape, ys);
        if ((st = clrnn_ox_copy(m, n, 1, c, 0, y, 0, 2, shape, cs, ys)) != CLRNN_OK) return st;
        beta = s->beta;
    } else if ((st = zero_fill(m, n, y)) != CLRNN_OK) {
        return st;
    }
    if (K == 0) {
        if (beta != 1.0f) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "K = 0 with beta != 1");
        return CLRNN_OK;
    }
    st = clrnn_sgemm(m->ctx, (int)s->trans_a, (int)s->trans_b, (size_t)M, (size_t)N, (size_t)K, s->alpha, a->mem, 0,
                     (size_t)a->shape[1], b->mem, 0, (size_t)b->shape[1], beta, y->mem, 0, (size_t)N);
    return st == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st);
}

/* ------------------------------------------------------------------------------------------
 * ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2,
 * ReduceLogSum, ReduceLogSumExp. Axes from the attribute before opset 18 (ReduceSum: 13), from
 * the optional second input after; no axes reduce everything, unless noop_with_empty_axes.
 * float32 on the device (one kernel for the family), integers on the host (tf2onnx's shape
 * arithmetic: the flattened size of Dense-on-sequence inputs, sequence lengths from masks).
 * ---------------------------------------------------------------------------------------- */
typedef struct reduce_state {
    int op;
    int64_t axes[CLRNN_MAX_DIMS];
    size_t n_axes;
    int64_t keepdims, noop_empty;
} reduce_state;

static clrnn_status reduce_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, int op) {
    reduce_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    s->op = op;
    int present;
    clrnn_status st = clrnn_ox_axes_attr(m, n, p, op == OX_RED_SUM ? 13 : 18, s->axes, &s->n_axes, &present);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "keepdims", 1, &s->keepdims);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "noop_with_empty_axes", 0, &s->noop_empty);
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 0, "data", OX_T_F32 | OX_T_INT) : st;
}
#define REDUCE_PREPARE(name, op) \
    static clrnn_status name##_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { return reduce_prepare(m, n, p, op); }
REDUCE_PREPARE(reduce_sum, OX_RED_SUM)
REDUCE_PREPARE(reduce_mean, OX_RED_MEAN)
REDUCE_PREPARE(reduce_max, OX_RED_MAX)
REDUCE_PREPARE(reduce_min, OX_RED_MIN)
REDUCE_PREPARE(reduce_prod, OX_RED_PROD)
REDUCE_PREPARE(reduce_sum_square, OX_RED_SUM_SQUARE)
REDUCE_PREPARE(reduce_l1, OX_RED_L1)
REDUCE_PREPARE(reduce_l2, OX_RED_L2)
REDUCE_PREPARE(reduce_log_sum, OX_RED_LOG_SUM)
REDUCE_PREPARE(reduce_log_sum_exp, OX_RED_LOG_SUM_EXP)

/* Integer reduction of one row (host); wrapping arithmetic like C on uint64. */
static int64_t reduce_ints(int op, const ox_value *x, int64_t base, int nred, const int64_t *rs, const int64_t *rst,
                           size_t rcount) {
    uint64_t acc = op == OX_RED_PROD ? 1 : 0;
    int64_t best = op == OX_RED_MAX ? INT64_MIN : INT64_MAX;
    double dacc = 0;
    for (size_t j = 0; j < rcount; ++j) {
        int64_t r2 = (int64_t)j, off = base;
        for (int k = nred - 1; k >= 0; --k) {
            off += (r2 % rs[k]) * rst[k];
            r2 /= rs[k];
        }
        const int64_t v = x->dtype == CLRNN_DTYPE_INT64 ? ((const int64_t *)x->host)[off] : ((const int32_t *)x->host)[off];
        switch (op) {
        case OX_RED_MAX: best = v > best ? v : best; break;
        case OX_RED_MIN: best = v < best ? v : best; break;
        case OX_RED_PROD: acc *= (uint64_t)v; break;
        case OX_RED_SUM_SQUARE:
        case OX_RED_L2: acc += (uint64_t)v * (uint64_t)v; break;
        case OX_RED_L1: acc += v < 0 ? 0 - (uint64_t)v : (uint64_t)v; break;
        case OX_RED_LOG_SUM_EXP: dacc += exp((double)v); break;
        default: acc += (uint64_t)v; break;
        }
    }
    switch (op) {
    case OX_RED_MAX:
    case OX_RED_MIN: return best;
    case OX_RED_MEAN: return rcount ? (int64_t)acc / (int64_t)rcount : 0;
    case OX_RED_L2: return (int64_t)sqrt((double)(int64_t)acc);
    case OX_RED_LOG_SUM: return (int64_t)log((double)(int64_t)acc);
    case OX_RED_LOG_SUM_EXP: return (int64_t)log(dacc);
    default: return (int64_t)acc;
    }
}

static clrnn_status reduce_run(clrnn_model *m, ox_node *n) {
    const reduce_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *ax = ox_in(m, n, 1), *y = ox_out(m, n, 0);
    int64_t axes[CLRNN_MAX_DIMS];
    size_t na = s->n_axes;
    clrnn_status st;
    memcpy(axes, s->axes, sizeof axes);
    if (ax && (st = clrnn_ox_read_ints(m, n, ax, "axes", axes, CLRNN_MAX_DIMS, &na)) != CLRNN_OK) return st;
    int reduce[CLRNN_MAX_DIMS] = {0};
    for (size_t i = 0; i < na; ++i) {
        int a;
        if ((st = clrnn_ox_axis(n, axes[i], x->ndim, "axes element", &a)) != CLRNN_OK) return st;
        reduce[a] = 1;
    }
    const int all = na == 0 && !s->noop_empty;
    int64_t shape[CLRNN_MAX_DIMS], stride[CLRNN_MAX_DIMS], ks[CLRNN_MAX_DIMS], kst[CLRNN_MAX_DIMS], rs[CLRNN_MAX_DIMS],
        rst[CLRNN_MAX_DIMS];
    int r = 0, nkeep = 0, nred = 0;
    size_t rcount = 1;
    clrnn_ox_strides(x->ndim, x->shape, stride);
    for (int i = 0; i < x->ndim; ++i) {
        const int red = all || reduce[i];
        if (red) {
            rs[nred] = x->shape[i], rst[nred++] = stride[i];
            rcount *= (size_t)x->shape[i];
        } else {
            ks[nkeep] = x->shape[i], kst[nkeep++] = stride[i];
        }
        if (!red || s->keepdims) shape[r++] = red ? 1 : x->shape[i];
    }
    if (rcount > 0x7fffffff) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "a reduction over %zu elements", rcount);
    if (x->dtype == CLRNN_DTYPE_FLOAT32) {
        if ((st = clrnn_ox_to_device(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_device(m, n, y, r, shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_reduce(m, n, s->op, x->mem, y->mem, y->count, nkeep, ks, kst, nred, rs, rst, rcount);
    }
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_host(m, n, y, r, shape)) != CLRNN_OK) return st;
    if (s->op == OX_RED_MAX || s->op == OX_RED_MIN)
        if (rcount == 0 && y->count)
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "the %s of an empty set of integers",
                                 s->op == OX_RED_MAX ? "maximum" : "minimum");
    for (size_t i = 0; i < y->count; ++i) {
        int64_t rem = (int64_t)i, base = 0;
        for (int k = nkeep - 1; k >= 0; --k) {
            base += (rem % ks[k]) * kst[k];
            rem /= ks[k];
        }
        const int64_t v = reduce_ints(s->op, x, base, nred, rs, rst, rcount);
        if (y->dtype == CLRNN_DTYPE_INT64) ((int64_t *)y->host)[i] = v;
        else ((int32_t *)y->host)[i] = (int32_t)(uint32_t)(uint64_t)v;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------ */
static const char *const no_attrs[] = {NULL};
static const char *const softmax_attrs[] = {"axis", NULL};
static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", NULL};
static const char *const reduce_attrs[] = {"axes", "keepdims", "noop_with_empty_axes", NULL};

const ox_op clrnn_ox_op_add = {"Add", 2, 2, 1, 1, no_attrs, add_prepare, binary_run, NULL};
const ox_op clrnn_ox_op_sub = {"Sub", 2, 2, 1, 1, no_attrs, sub_prepare, binary_run, NULL};
const ox_op clrnn_ox_op_mul = {"Mul", 2, 2, 1, 1, no_attrs, mul_prepare, binary_run, NULL};
const ox_op clrnn_ox_op_div = {"Div", 2, 2, 1, 1, no_attrs, div_prepare, binary_run, NULL};
const ox_op clrnn_ox_op_sigmoid = {"Sigmoid", 1, 1, 1, 1, no_attrs, float_prepare, sigmoid_run, NULL};
const ox_op clrnn_ox_op_tanh = {"Tanh", 1, 1, 1, 1, no_attrs, float_prepare, tanh_run, NULL};
const ox_op clrnn_ox_op_relu = {"Relu", 1, 1, 1, 1, no_attrs, float_prepare, relu_run, NULL};
const ox_op clrnn_ox_op_softmax = {"Softmax", 1, 1, 1, 1, softmax_attrs, softmax_prepare, softmax_run, NULL};
const ox_op clrnn_ox_op_log_softmax = {"LogSoftmax", 1, 1, 1, 1, softmax_attrs, softmax_prepare, softmax_run, NULL};
const ox_op clrnn_ox_op_matmul = {"MatMul", 2, 2, 1, 1, no_attrs, matmul_prepare, matmul_run, NULL};
const ox_op clrnn_ox_op_gemm = {"Gemm", 2, 3, 1, 1, gemm_attrs, gemm_prepare, gemm_run, NULL};
#define REDUCE_OP(name, type) \
    const ox_op clrnn_ox_op_##name = {type, 1, 2, 1, 1, reduce_attrs, name##_prepare, reduce_run, NULL};
REDUCE_OP(reduce_sum, "ReduceSum")
REDUCE_OP(reduce_mean, "ReduceMean")
REDUCE_OP(reduce_max, "ReduceMax")
REDUCE_OP(reduce_min, "ReduceMin")
REDUCE_OP(reduce_prod, "ReduceProd")
REDUCE_OP(reduce_sum_square, "ReduceSumSquare")
REDUCE_OP(reduce_l1, "ReduceL1")
REDUCE_OP(reduce_l2, "ReduceL2")
REDUCE_OP(reduce_log_sum, "ReduceLogSum")
REDUCE_OP(reduce_log_sum_exp, "ReduceLogSumExp")
