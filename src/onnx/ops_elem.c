/* Element-wise operators beyond the four arithmetic ones (ops_math.c), all with numpy broadcasting:
 *   comparisons  Equal, Less, Greater, LessOrEqual, GreaterOrEqual (→ bool)
 *   logic        Not, And, Or, Xor (bool)
 *   selection    Where
 *   variadic     Max, Min, Sum, Mean
 *   unary math   Neg, Abs, Exp, Log, Sqrt, Reciprocal, Floor, Ceil, Erf, Pow, Clip
 *   activations  LeakyRelu, HardSigmoid, Elu, Selu, Softplus, Softsign
 * The placement rule of ops_shape.c: float32 results are computed on the device (the ox_unary,
 * ox_binary and ox_where kernels), bool and integer results on the host, where exporters keep
 * masks, sequence lengths and shape arithmetic. Comparisons of float32 tensors read them back. */
#include "onnx_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Host helpers: element access by dtype and a broadcasting walk over up to four inputs
 * ---------------------------------------------------------------------------------------- */
static double get_f(const ox_value *v, int64_t i) {
    switch (v->dtype) {
    case CLRNN_DTYPE_FLOAT32: return ((const float *)v->host)[i];
    case CLRNN_DTYPE_INT32: return ((const int32_t *)v->host)[i];
    case CLRNN_DTYPE_INT64: return (double)((const int64_t *)v->host)[i];
    default: return ((const uint8_t *)v->host)[i];
    }
}
static int64_t get_i(const ox_value *v, int64_t i) {
    switch (v->dtype) {
    case CLRNN_DTYPE_INT32: return ((const int32_t *)v->host)[i];
    case CLRNN_DTYPE_INT64: return ((const int64_t *)v->host)[i];
    default: return ((const uint8_t *)v->host)[i];
    }
}
/* Integers wrap to the type's width, like C (and ONNX Runtime). */
static void put_i(ox_value *v, size_t i, int64_t x) {
    switch (v->dtype) {
    case CLRNN_DTYPE_INT32: ((int32_t *)v->host)[i] = (int32_t)(uint32_t)(uint64_t)x; break;
    case CLRNN_DTYPE_INT64: ((int64_t *)v->host)[i] = x; break;
    default: ((uint8_t *)v->host)[i] = (uint8_t)(uint64_t)x; break;
    }
}
/* float → integer by truncation, saturated (NaN → 0), as Cast does */
static int64_t sat_i(double x, clrnn_dtype dt) {
    const double lo = dt == CLRNN_DTYPE_INT32 ? -2147483648.0 : dt == CLRNN_DTYPE_INT64 ? -9223372036854775808.0 : 0.0;
    const double hi = dt == CLRNN_DTYPE_INT32 ? 2147483647.0 : dt == CLRNN_DTYPE_INT64 ? 9223372036854774784.0 : 255.0;
    if (isnan(x)) return 0;
    return x <= lo ? (int64_t)lo : x >= hi ? (int64_t)hi : (int64_t)x;
}

enum { MAX_IN = 4 };
typedef struct bcast {
    int r, nin;
    int64_t shape[CLRNN_MAX_DIMS], st[MAX_IN][CLRNN_MAX_DIMS], idx[CLRNN_MAX_DIMS], off[MAX_IN];
} bcast;

/* The broadcast shape of ins[0..nin) (each present) and their strides into it. */
static clrnn_status bcast_init(const ox_node *n, int nin, ox_value *const *ins, bcast *b) {
    memset(b, 0, sizeof *b);
    b->nin = nin;
    b->r = ins[0]->ndim;
    memcpy(b->shape, ins[0]->shape, sizeof b->shape);
    for (int j = 1; j < nin; ++j) {
        int64_t tmp[CLRNN_MAX_DIMS];
        int r;
        clrnn_status st = clrnn_ox_broadcast(n, b->r, b->shape, ins[j]->ndim, ins[j]->shape, &r, tmp);
        if (st != CLRNN_OK) return st;
        b->r = r;
        memcpy(b->shape, tmp, sizeof tmp);
    }
    for (int j = 0; j < nin; ++j) clrnn_ox_broadcast_strides(ins[j]->ndim, ins[j]->shape, b->r, b->shape, b->st[j]);
    return CLRNN_OK;
}

static void bcast_next(bcast *b) {
    for (int k = b->r - 1; k >= 0; --k) {
        for (int j = 0; j < b->nin; ++j) b->off[j] += b->st[j][k];
        if (++b->idx[k] < b->shape[k]) return;
        for (int j = 0; j < b->nin; ++j) b->off[j] -= b->st[j][k] * b->shape[k];
        b->idx[k] = 0;
    }
}

/* The walk by rows of the last axis: the row length and each input's stride along it (0 or 1);
 * bcast_skip_row then moves b to the next row. Lets the hot loops below run without a per-element
 * index update or dtype/operator switch (Keras' Masking glue runs them over [N, T, I] tensors). */
static int64_t bcast_row(const bcast *b, int64_t *stride) {
    for (int j = 0; j < b->nin; ++j) stride[j] = b->r ? b->st[j][b->r - 1] : 0;
    return b->r ? b->shape[b->r - 1] : 1;
}
static void bcast_skip_row(bcast *b) {
    if (!b->r) return;
    const int k = b->r - 1;
    for (int j = 0; j < b->nin; ++j) b->off[j] += b->st[j][k] * (b->shape[k] - 1);
    b->idx[k] = b->shape[k] - 1;
    bcast_next(b);
}

/* The host path of a broadcast operator: its nin inputs on the host, y allocated there in b's shape. */
static clrnn_status host_operands(clrnn_model *m, const ox_node *n, int nin, ox_value *const *ins, ox_value *y,
                                  const bcast *b) {
    for (int j = 0; j < nin; ++j) {
        clrnn_status st = clrnn_ox_to_host(m, ins[j]);
        if (st != CLRNN_OK) return st;
    }
    return clrnn_ox_alloc_host(m, n, y, b->r, b->shape);
}

static const char *type_of(const ox_value *v) { return clrnn_ox_dtype_name(v->dtype, v->is_bool); }

/* Every present input of the same type as input 0 (bool included). */
static clrnn_status same_types(clrnn_model *m, const ox_node *n, int first, int last) {
    const ox_value *a = ox_in(m, n, first);
    for (int i = first + 1; i <= last && i < n->n_in; ++i) {
        const ox_value *b = ox_in(m, n, i);
        if (!b) continue;
        if (b->dtype != a->dtype || b->is_bool != a->is_bool)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "inputs of types %s ('%s') and %s ('%s'); they must be the same type",
                                 type_of(a), a->name, type_of(b), b->name);
    }
    return CLRNN_OK;
}

static clrnn_status require_bool(clrnn_model *m, const ox_node *n, int i, const char *what) {
    const ox_value *v = ox_in(m, n, i);
    if (v && !v->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%s ('%s') is %s; this operator takes bool", what, v->name, type_of(v));
    return CLRNN_OK;
}

typedef struct op_state {
    int op;
    float alpha, beta;
    int has_bounds; /* Clip before opset 11: the bounds are attributes */
} op_state;

static op_state *new_op_state(ox_node *n, int op) {
    op_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (s) s->op = op;
    return s;
}

/* ------------------------------------------------------------------------------------------
 * Comparisons → bool (host)
 * ---------------------------------------------------------------------------------------- */
/* name_prepare for an operator of a family whose prepare takes only the member (p is unused) */
#define PREPARE_AS(name, family, op)                                                              \
    static clrnn_status name##_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { \
        (void)p;                                                                                  \
        return family##_prepare(m, n, op);                                                        \
    }

enum { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE };

static clrnn_status compare_prepare(clrnn_model *m, ox_node *n, int op) {
    if (!new_op_state(n, op)) return CLRNN_ERR_OUT_OF_MEMORY;
    const ox_value *a = ox_in(m, n, 0);
    /* Equal also compares bools (opset 11); the orderings are numeric */
    if (a->is_bool && op != CMP_EQ)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input '%s' is bool; %s compares numbers", a->name, n->op_type);
    clrnn_status st = same_types(m, n, 0, 1);
    if (st != CLRNN_OK) return st;
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_UINT8, 1);
    return CLRNN_OK;
}
PREPARE_AS(equal, compare, CMP_EQ)
PREPARE_AS(less, compare, CMP_LT)
PREPARE_AS(greater, compare, CMP_GT)
PREPARE_AS(less_equal, compare, CMP_LE)
PREPARE_AS(greater_equal, compare, CMP_GE)

static clrnn_status compare_run(clrnn_model *m, ox_node *n) {
    const op_state *s = n->state;
    ox_value *ins[2] = {ox_in(m, n, 0), ox_in(m, n, 1)}, *y = ox_out(m, n, 0);
    bcast b;
    clrnn_status st = bcast_init(n, 2, ins, &b);
    if (st == CLRNN_OK) st = host_operands(m, n, 2, ins, y, &b);
    if (st != CLRNN_OK) return st;
    /* By rows (bcast_row). float32 compares as float, where a comparison with NaN is false in C
     * as in ONNX; integers and bools compare exactly as int64. */
    const int fl = ins[0]->dtype == CLRNN_DTYPE_FLOAT32;
    uint8_t *out = y->host;
    int64_t sd[2];
    const int64_t len = y->count ? bcast_row(&b, sd) : 0;
    for (size_t i = 0; i < y->count; i += (size_t)len, bcast_skip_row(&b)) {
        const float *a = fl ? (const float *)ins[0]->host + b.off[0] : NULL, *z = fl ? (const float *)ins[1]->host + b.off[1] : NULL;
        uint8_t *o = out + i;
#define CMP_ROW(expr)                                                                                                \
    do {                                                                                                             \
        if (fl)                                                                                                      \
            for (int64_t k = 0; k < len; ++k) o[k] = (uint8_t)(a[k * sd[0]] expr z[k * sd[1]]);                    \
        else                                                                                                         \
            for (int64_t k = 0; k < len; ++k)                                                                        \
                o[k] = (uint8_t)(get_i(ins[0], b.off[0] + k * sd[0]) expr get_i(ins[1], b.off[1] + k * sd[1]));    \
    } while (0)
        switch (s->op) {
        case CMP_EQ: CMP_ROW(==); break;
        case CMP_LT: CMP_ROW(<); break;
        case CMP_GT: CMP_ROW(>); break;
        case CMP_LE: CMP_ROW(<=); break;
        default: CMP_ROW(>=); break;
        }
#undef CMP_ROW
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Not, And, Or, Xor (host, bool)
 * ---------------------------------------------------------------------------------------- */
enum { LOGIC_AND, LOGIC_OR, LOGIC_XOR, LOGIC_NOT };

static clrnn_status logic_prepare(clrnn_model *m, ox_node *n, int op) {
    if (!new_op_state(n, op)) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = require_bool(m, n, 0, "input A");
    if (st == CLRNN_OK) st = require_bool(m, n, 1, "input B");
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_UINT8, 1);
    return st;
}
PREPARE_AS(and, logic, LOGIC_AND)
PREPARE_AS(or, logic, LOGIC_OR)
PREPARE_AS(xor, logic, LOGIC_XOR)
PREPARE_AS(not, logic, LOGIC_NOT)

static clrnn_status logic_run(clrnn_model *m, ox_node *n) {
    const op_state *s = n->state;
    const int nin = s->op == LOGIC_NOT ? 1 : 2;
    ox_value *ins[2] = {ox_in(m, n, 0), ox_in(m, n, nin - 1)}, *y = ox_out(m, n, 0);
    bcast b;
    clrnn_status st = bcast_init(n, nin, ins, &b);
    if (st == CLRNN_OK) st = host_operands(m, n, nin, ins, y, &b);
    if (st != CLRNN_OK) return st;
    const uint8_t *A = ins[0]->host, *C = ins[1]->host;
    uint8_t *out = y->host;
    int64_t sd[2];
    const int64_t len = y->count ? bcast_row(&b, sd) : 0;
    for (size_t i = 0; i < y->count; i += (size_t)len, bcast_skip_row(&b)) { /* by rows, see bcast_row */
        const uint8_t *a = A + b.off[0], *c = C + b.off[nin - 1];
        uint8_t *o = out + i;
#define LOGIC_ROW(expr) for (int64_t k = 0; k < len; ++k) o[k] = (uint8_t)(expr)
        switch (s->op) {
        case LOGIC_AND: LOGIC_ROW(a[k * sd[0]] && c[k * sd[nin - 1]]); break;
        case LOGIC_OR: LOGIC_ROW(a[k * sd[0]] || c[k * sd[nin - 1]]); break;
        case LOGIC_XOR: LOGIC_ROW((a[k * sd[0]] != 0) != (c[k * sd[nin - 1]] != 0)); break;
        default: LOGIC_ROW(!a[k * sd[0]]); break;
        }
#undef LOGIC_ROW
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Where(cond, X, Y): float32 on the device, other types on the host
 * ---------------------------------------------------------------------------------------- */
static clrnn_status where_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    clrnn_status st = require_bool(m, n, 0, "condition");
    if (st == CLRNN_OK) st = same_types(m, n, 1, 2);
    if (st != CLRNN_OK) return st;
    const ox_value *x = ox_in(m, n, 1);
    ox_set_out_type(m, n, 0, x->dtype, x->is_bool);
    return CLRNN_OK;
}

static clrnn_status where_run(clrnn_model *m, ox_node *n) {
    ox_value *ins[3] = {ox_in(m, n, 0), ox_in(m, n, 1), ox_in(m, n, 2)}, *y = ox_out(m, n, 0);
    bcast b;
    clrnn_status st = bcast_init(n, 3, ins, &b);
    if (st == CLRNN_OK) st = clrnn_ox_to_host(m, ins[0]);
    if (st != CLRNN_OK) return st;
    if (y->dtype == CLRNN_DTYPE_FLOAT32) {
        if ((st = clrnn_ox_to_device(m, ins[1])) != CLRNN_OK || (st = clrnn_ox_to_device(m, ins[2])) != CLRNN_OK ||
            (st = clrnn_ox_alloc_device(m, n, y, b.r, b.shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_where(m, n, ins[0]->host, ins[0]->count, ins[1]->mem, ins[2]->mem, y->mem, b.r, b.shape,
                                  b.st[0], b.st[1], b.st[2]);
    }
    if ((st = host_operands(m, n, 3, ins, y, &b)) != CLRNN_OK)
        return st;
    const size_t es = clrnn_dtype_size(y->dtype);
    const uint8_t *c = ins[0]->host;
    for (size_t i = 0; i < y->count; ++i, bcast_next(&b)) {
        const int k = c[b.off[0]] ? 1 : 2;
        memcpy((char *)y->host + i * es, (const char *)ins[k]->host + (size_t)b.off[k] * es, es);
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Max, Min, Sum, Mean (one or more inputs)
 * ---------------------------------------------------------------------------------------- */
enum { VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN };

static clrnn_status variadic_prepare(clrnn_model *m, ox_node *n, int op) {
    if (!new_op_state(n, op)) return CLRNN_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < n->n_in; ++i)
        if (!ox_in(m, n, i)) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input %d is empty", i);
    /* Sum and Mean are defined on floating-point types only (ONNX); Max and Min on every number */
    const unsigned mask = op == VAR_MAX || op == VAR_MIN ? OX_T_ALL : OX_T_F32;
    clrnn_status st = clrnn_ox_check_type(m, n, 0, "input 0", mask);
    if (st == CLRNN_OK) st = same_types(m, n, 0, n->n_in - 1);
    return st == CLRNN_OK ? ox_same_type_out(m, n) : st;
}
PREPARE_AS(max, variadic, VAR_MAX)
PREPARE_AS(min, variadic, VAR_MIN)
PREPARE_AS(sum, variadic, VAR_SUM)
PREPARE_AS(mean, variadic, VAR_MEAN)

static clrnn_status variadic_run(clrnn_model *m, ox_node *n) {
    const op_state *s = n->state;
    ox_value *y = ox_out(m, n, 0);
    int64_t shape[CLRNN_MAX_DIMS];
    int r = ox_in(m, n, 0)->ndim;
    memcpy(shape, ox_in(m, n, 0)->shape, sizeof shape);
    clrnn_status st;
    for (int i = 1; i < n->n_in; ++i) {
        int64_t tmp[CLRNN_MAX_DIMS];
        const ox_value *v = ox_in(m, n, i);
        if ((st = clrnn_ox_broadcast(n, r, shape, v->ndim, v->shape, &r, tmp)) != CLRNN_OK) return st;
        memcpy(shape, tmp, sizeof tmp);
    }
    int64_t ys[CLRNN_MAX_DIMS], vs[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, shape, ys);
    if (y->dtype == CLRNN_DTYPE_FLOAT32) {
        /* y = input 0 broadcast, then y = y op input i in place (each work-item reads and writes its own element) */
        static const int bin[] = {OX_BIN_MAX, OX_BIN_MIN, OX_BIN_ADD, OX_BIN_ADD};
        ox_value *first = ox_in(m, n, 0);
        if ((st = clrnn_ox_to_device(m, first)) != CLRNN_OK) return st;
        for (int i = 1; i < n->n_in; ++i)
            if ((st = clrnn_ox_to_device(m, ox_in(m, n, i))) != CLRNN_OK) return st;
        if ((st = clrnn_ox_alloc_device(m, n, y, r, shape)) != CLRNN_OK) return st;
        clrnn_ox_broadcast_strides(first->ndim, first->shape, r, shape, vs);
        if ((st = clrnn_ox_dev_copy(m, n, first->mem, 0, y->mem, 0, r, shape, vs, ys)) != CLRNN_OK) return st;
        for (int i = 1; i < n->n_in; ++i) {
            const ox_value *v = ox_in(m, n, i);
            clrnn_ox_broadcast_strides(v->ndim, v->shape, r, shape, vs);
            if ((st = clrnn_ox_dev_binary(m, n, bin[s->op], y->mem, v->mem, y->mem, r, shape, ys, vs)) != CLRNN_OK)
                return st;
        }
        if (s->op == VAR_MEAN && n->n_in > 1)
            st = clrnn_ox_dev_unary(m, n, OX_UN_SCALE, y->mem, y->mem, y->count, 1.0f / (float)n->n_in, 0.0f);
        return st;
    }
    /* integer Max / Min on the host */
    for (int i = 0; i < n->n_in; ++i)
        if ((st = clrnn_ox_to_host(m, ox_in(m, n, i))) != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_host(m, n, y, r, shape)) != CLRNN_OK) return st;
    for (int i = 0; i < n->n_in; ++i) {
        ox_value *v = ox_in(m, n, i);
        bcast b;
        memset(&b, 0, sizeof b);
        b.nin = 1, b.r = r;
        memcpy(b.shape, shape, sizeof shape);
        clrnn_ox_broadcast_strides(v->ndim, v->shape, r, shape, b.st[0]);
        for (size_t k = 0; k < y->count; ++k, bcast_next(&b)) {
            const int64_t x = get_i(v, b.off[0]);
            const int64_t cur = i ? get_i(y, (int64_t)k) : x;
            put_i(y, k, s->op == VAR_MAX ? (x > cur ? x : cur) : (x < cur ? x : cur));
        }
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Unary math and activations: float32 on the device; Neg, Abs (and Clip) also on integers
 * ---------------------------------------------------------------------------------------- */
static clrnn_status unary_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, int op, int ints) {
    op_state *s = new_op_state(n, op);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = CLRNN_OK;
    switch (op) {
    case OX_UN_LEAKY_RELU: st = clrnn_ox_attr_float(n, p, "alpha", 0.01f, &s->alpha); break;
    case OX_UN_ELU: st = clrnn_ox_attr_float(n, p, "alpha", 1.0f, &s->alpha); break;
    case OX_UN_SELU:
        if ((st = clrnn_ox_attr_float(n, p, "alpha", 1.67326319217681884765625f, &s->alpha)) == CLRNN_OK)
            st = clrnn_ox_attr_float(n, p, "gamma", 1.05070102214813232421875f, &s->beta);
        break;
    case OX_UN_HARD_SIGMOID:
        if ((st = clrnn_ox_attr_float(n, p, "alpha", 0.2f, &s->alpha)) == CLRNN_OK)
            st = clrnn_ox_attr_float(n, p, "beta", 0.5f, &s->beta);
        break;
    default: break;
    }
    if (st != CLRNN_OK) return st;
    return ox_check_then_same_type(m, n, 0, "input", ints ? OX_T_F32 | OX_T_INT : OX_T_F32);
}
#define UN_PREPARE(name, op, ints) \
    static clrnn_status name##_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) { \
        return unary_prepare(m, n, p, op, ints);                                                  \
    }
UN_PREPARE(neg, OX_UN_NEG, 1)
UN_PREPARE(abs, OX_UN_ABS, 1)
UN_PREPARE(exp, OX_UN_EXP, 0)
UN_PREPARE(log, OX_UN_LOG, 0)
UN_PREPARE(sqrt, OX_UN_SQRT, 0)
UN_PREPARE(reciprocal, OX_UN_RECIPROCAL, 0)
UN_PREPARE(floor, OX_UN_FLOOR, 0)
UN_PREPARE(ceil, OX_UN_CEIL, 0)
UN_PREPARE(leaky_relu, OX_UN_LEAKY_RELU, 0)
UN_PREPARE(hard_sigmoid, OX_UN_HARD_SIGMOID, 0)
UN_PREPARE(elu, OX_UN_ELU, 0)
UN_PREPARE(softplus, OX_UN_SOFTPLUS, 0)
UN_PREPARE(softsign, OX_UN_SOFTSIGN, 0)
UN_PREPARE(selu, OX_UN_SELU, 0)
UN_PREPARE(erf, OX_UN_ERF, 0)

static clrnn_status unary_run(clrnn_model *m, ox_node *n) {
    const op_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    clrnn_status st;
    if (x->dtype == CLRNN_DTYPE_FLOAT32) {
        if ((st = clrnn_ox_to_device(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_device(m, n, y, x->ndim, x->shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_unary(m, n, s->op, x->mem, y->mem, x->count, s->alpha, s->beta);
    }
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_host(m, n, y, x->ndim, x->shape)) != CLRNN_OK)
        return st;
    for (size_t i = 0; i < x->count; ++i) {
        const int64_t v = get_i(x, (int64_t)i);
        uint64_t u = (uint64_t)v;
        if (s->op == OX_UN_NEG || v < 0) u = 0 - u; /* wraps on the type's minimum, like C */
        put_i(y, i, (int64_t)u);
    }
    return CLRNN_OK;
}

/* Clip: bounds are attributes before opset 11, optional inputs (scalars of the input's type) from
 * 11 on; integers from opset 12. */
static clrnn_status clip_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    op_state *s = new_op_state(n, OX_UN_CLIP);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st;
    if (m->opset < 11) {
        if (n->n_in > 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "inputs 'min' and 'max' need opset 11 (model opset %lld)", (long long)m->opset);
        if ((st = clrnn_ox_attr_float(n, p, "min", -FLT_MAX, &s->alpha)) != CLRNN_OK) return st;
        if ((st = clrnn_ox_attr_float(n, p, "max", FLT_MAX, &s->beta)) != CLRNN_OK) return st;
        s->has_bounds = 1;
    } else if (p->n_attribute) {
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attributes 'min' and 'max' were replaced by inputs in opset 11");
    }
    if ((st = same_types(m, n, 0, 2)) != CLRNN_OK) return st;
    /* integers from opset 12 (the attribute bounds before 11 are floats) */
    return ox_check_then_same_type(m, n, 0, "input", m->opset >= 12 ? OX_T_F32 | OX_T_INT | OX_T(CLRNN_DTYPE_UINT8) : OX_T_F32);
}

/* The scalar bound in input i (absent: def); a bound of another size is refused. */
static clrnn_status clip_bound(clrnn_model *m, const ox_node *n, int i, const char *what, ox_value **out) {
    ox_value *v = ox_in(m, n, i);
    *out = NULL;
    if (!v) return CLRNN_OK;
    if (v->count != 1)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "'%s' ('%s') must be a scalar, it has %zu elements", what, v->name, v->count);
    clrnn_status st = clrnn_ox_to_host(m, v);
    if (st == CLRNN_OK) *out = v;
    return st;
}

static clrnn_status clip_run(clrnn_model *m, ox_node *n) {
    const op_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0), *lo, *hi;
    clrnn_status st;
    if ((st = clip_bound(m, n, 1, "min", &lo)) != CLRNN_OK || (st = clip_bound(m, n, 2, "max", &hi)) != CLRNN_OK) return st;
    if (x->dtype == CLRNN_DTYPE_FLOAT32) {
        const float a = s->has_bounds ? s->alpha : lo ? ((const float *)lo->host)[0] : -INFINITY;
        const float b = s->has_bounds ? s->beta : hi ? ((const float *)hi->host)[0] : INFINITY;
        if ((st = clrnn_ox_to_device(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_device(m, n, y, x->ndim, x->shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_unary(m, n, OX_UN_CLIP, x->mem, y->mem, x->count, a, b);
    }
    const int64_t a = lo ? get_i(lo, 0) : INT64_MIN, b = hi ? get_i(hi, 0) : INT64_MAX;
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_host(m, n, y, x->ndim, x->shape)) != CLRNN_OK)
        return st;
    for (size_t i = 0; i < x->count; ++i) {
        int64_t v = get_i(x, (int64_t)i);
        v = v < a ? a : v;
        put_i(y, i, v > b ? b : v);
    }
    return CLRNN_OK;
}

/* Pow(X, Y): the result has X's type; float32 ^ float32 on the device, mixed types on the host. */
static clrnn_status pow_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    if (!new_op_state(n, OX_BIN_POW)) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_check_type(m, n, 1, "exponent", OX_T_F32 | OX_T_INT);
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 0, "base", OX_T_F32 | OX_T_INT) : st;
}

static clrnn_status pow_run(clrnn_model *m, ox_node *n) {
    ox_value *ins[2] = {ox_in(m, n, 0), ox_in(m, n, 1)}, *y = ox_out(m, n, 0);
    bcast b;
    clrnn_status st = bcast_init(n, 2, ins, &b);
    if (st != CLRNN_OK) return st;
    if (ins[0]->dtype == CLRNN_DTYPE_FLOAT32 && ins[1]->dtype == CLRNN_DTYPE_FLOAT32) {
        if ((st = clrnn_ox_to_device(m, ins[0])) != CLRNN_OK || (st = clrnn_ox_to_device(m, ins[1])) != CLRNN_OK ||
            (st = clrnn_ox_alloc_device(m, n, y, b.r, b.shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_binary(m, n, OX_BIN_POW, ins[0]->mem, ins[1]->mem, y->mem, b.r, b.shape, b.st[0], b.st[1]);
    }
    if ((st = host_operands(m, n, 2, ins, y, &b)) != CLRNN_OK)
        return st;
    for (size_t i = 0; i < y->count; ++i, bcast_next(&b)) {
        if (y->dtype == CLRNN_DTYPE_FLOAT32) {
            ((float *)y->host)[i] = (float)pow(get_f(ins[0], b.off[0]), get_f(ins[1], b.off[1]));
        } else if (ins[1]->dtype != CLRNN_DTYPE_FLOAT32) {
            /* integer ^ integer exactly, by squaring (wrapping); a negative exponent truncates to 0 unless |x| = 1 */
            int64_t x = get_i(ins[0], b.off[0]), e = get_i(ins[1], b.off[1]);
            uint64_t r = 1, base = (uint64_t)x;
            if (e < 0) r = x == 1 ? 1 : x == -1 ? ((e & 1) ? (uint64_t)-1 : 1) : 0;
            else
                for (; e; e >>= 1, base *= base)
                    if (e & 1) r *= base;
            put_i(y, i, (int64_t)r);
        } else {
            put_i(y, i, sat_i(pow(get_f(ins[0], b.off[0]), get_f(ins[1], b.off[1])), y->dtype));
        }
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------ */
static const char *const no_attrs[] = {NULL};
static const char *const alpha_attrs[] = {"alpha", NULL};
static const char *const alpha_beta_attrs[] = {"alpha", "beta", NULL};
static const char *const clip_attrs[] = {"min", "max", NULL};
static const char *const selu_attrs[] = {"alpha", "gamma", NULL};

const ox_op clrnn_ox_op_equal = {"Equal", 2, 2, 1, 1, no_attrs, equal_prepare, compare_run, NULL};
const ox_op clrnn_ox_op_less = {"Less", 2, 2, 1, 1, no_attrs, less_prepare, compare_run, NULL};
const ox_op clrnn_ox_op_greater = {"Greater", 2, 2, 1, 1, no_attrs, greater_prepare, compare_run, NULL};
const ox_op clrnn_ox_op_less_equal = {"LessOrEqual", 2, 2, 1, 1, no_attrs, less_equal_prepare, compare_run, NULL};
const ox_op clrnn_ox_op_greater_equal = {"GreaterOrEqual", 2, 2, 1, 1, no_attrs, greater_equal_prepare, compare_run, NULL};
const ox_op clrnn_ox_op_and = {"And", 2, 2, 1, 1, no_attrs, and_prepare, logic_run, NULL};
const ox_op clrnn_ox_op_or = {"Or", 2, 2, 1, 1, no_attrs, or_prepare, logic_run, NULL};
const ox_op clrnn_ox_op_xor = {"Xor", 2, 2, 1, 1, no_attrs, xor_prepare, logic_run, NULL};
const ox_op clrnn_ox_op_not = {"Not", 1, 1, 1, 1, no_attrs, not_prepare, logic_run, NULL};
const ox_op clrnn_ox_op_where = {"Where", 3, 3, 1, 1, no_attrs, where_prepare, where_run, NULL};
const ox_op clrnn_ox_op_max = {"Max", 1, 1 << 20, 1, 1, no_attrs, max_prepare, variadic_run, NULL};
const ox_op clrnn_ox_op_min = {"Min", 1, 1 << 20, 1, 1, no_attrs, min_prepare, variadic_run, NULL};
const ox_op clrnn_ox_op_sum = {"Sum", 1, 1 << 20, 1, 1, no_attrs, sum_prepare, variadic_run, NULL};
const ox_op clrnn_ox_op_mean = {"Mean", 1, 1 << 20, 1, 1, no_attrs, mean_prepare, variadic_run, NULL};
const ox_op clrnn_ox_op_neg = {"Neg", 1, 1, 1, 1, no_attrs, neg_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_abs = {"Abs", 1, 1, 1, 1, no_attrs, abs_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_exp = {"Exp", 1, 1, 1, 1, no_attrs, exp_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_log = {"Log", 1, 1, 1, 1, no_attrs, log_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_sqrt = {"Sqrt", 1, 1, 1, 1, no_attrs, sqrt_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_reciprocal = {"Reciprocal", 1, 1, 1, 1, no_attrs, reciprocal_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_floor = {"Floor", 1, 1, 1, 1, no_attrs, floor_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_ceil = {"Ceil", 1, 1, 1, 1, no_attrs, ceil_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_leaky_relu = {"LeakyRelu", 1, 1, 1, 1, alpha_attrs, leaky_relu_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_hard_sigmoid = {"HardSigmoid", 1, 1, 1, 1, alpha_beta_attrs, hard_sigmoid_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_elu = {"Elu", 1, 1, 1, 1, alpha_attrs, elu_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_softplus = {"Softplus", 1, 1, 1, 1, no_attrs, softplus_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_softsign = {"Softsign", 1, 1, 1, 1, no_attrs, softsign_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_selu = {"Selu", 1, 1, 1, 1, selu_attrs, selu_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_erf = {"Erf", 1, 1, 1, 1, no_attrs, erf_prepare, unary_run, NULL};
const ox_op clrnn_ox_op_clip = {"Clip", 1, 3, 1, 1, clip_attrs, clip_prepare, clip_run, NULL};
const ox_op clrnn_ox_op_pow = {"Pow", 2, 2, 1, 1, no_attrs, pow_prepare, pow_run, NULL};
