/* The operator registry: ONNX op_type → implementation (ops_shape.c, ops_data.c, ops_math.c, ops_elem.c,
 * ops_rnn.c, ops_control.c). */
#include "onnx_internal.h"

#include <stdlib.h>
#include <string.h>

extern const ox_op clrnn_ox_op_constant, clrnn_ox_op_shape, clrnn_ox_op_gather, clrnn_ox_op_unsqueeze,
    clrnn_ox_op_squeeze, clrnn_ox_op_concat, clrnn_ox_op_constant_of_shape, clrnn_ox_op_slice, clrnn_ox_op_transpose,
    clrnn_ox_op_reshape, clrnn_ox_op_identity, clrnn_ox_op_cast, clrnn_ox_op_expand;
extern const ox_op clrnn_ox_op_add, clrnn_ox_op_sub, clrnn_ox_op_mul, clrnn_ox_op_div, clrnn_ox_op_sigmoid,
    clrnn_ox_op_tanh, clrnn_ox_op_relu, clrnn_ox_op_softmax, clrnn_ox_op_matmul, clrnn_ox_op_gemm,
    clrnn_ox_op_reduce_sum, clrnn_ox_op_reduce_mean, clrnn_ox_op_reduce_max, clrnn_ox_op_reduce_min,
    clrnn_ox_op_reduce_prod, clrnn_ox_op_reduce_sum_square, clrnn_ox_op_reduce_l1, clrnn_ox_op_reduce_l2,
    clrnn_ox_op_reduce_log_sum, clrnn_ox_op_reduce_log_sum_exp;
extern const ox_op clrnn_ox_op_equal, clrnn_ox_op_less, clrnn_ox_op_greater, clrnn_ox_op_less_equal,
    clrnn_ox_op_greater_equal, clrnn_ox_op_and, clrnn_ox_op_or, clrnn_ox_op_xor, clrnn_ox_op_not, clrnn_ox_op_where,
    clrnn_ox_op_max, clrnn_ox_op_min, clrnn_ox_op_sum, clrnn_ox_op_mean, clrnn_ox_op_neg, clrnn_ox_op_abs,
    clrnn_ox_op_exp, clrnn_ox_op_log, clrnn_ox_op_sqrt, clrnn_ox_op_reciprocal, clrnn_ox_op_floor, clrnn_ox_op_ceil,
    clrnn_ox_op_leaky_relu, clrnn_ox_op_hard_sigmoid, clrnn_ox_op_elu, clrnn_ox_op_softplus, clrnn_ox_op_softsign,
    clrnn_ox_op_clip, clrnn_ox_op_pow, clrnn_ox_op_selu, clrnn_ox_op_erf, clrnn_ox_op_log_softmax;
extern const ox_op clrnn_ox_op_split, clrnn_ox_op_flatten, clrnn_ox_op_tile, clrnn_ox_op_pad,
    clrnn_ox_op_reverse_sequence, clrnn_ox_op_gather_elements, clrnn_ox_op_scatter_nd, clrnn_ox_op_scatter_elements, clrnn_ox_op_range,
    clrnn_ox_op_argmax, clrnn_ox_op_argmin, clrnn_ox_op_topk;
extern const ox_op clrnn_ox_op_rnn, clrnn_ox_op_gru, clrnn_ox_op_lstm;
extern const ox_op clrnn_ox_op_loop, clrnn_ox_op_scan, clrnn_ox_op_if;

static const ox_op *const registry[] = {
    &clrnn_ox_op_rnn,       &clrnn_ox_op_gru,     &clrnn_ox_op_lstm,      &clrnn_ox_op_constant,
    &clrnn_ox_op_shape,     &clrnn_ox_op_gather,  &clrnn_ox_op_unsqueeze, &clrnn_ox_op_squeeze,
    &clrnn_ox_op_concat,    &clrnn_ox_op_constant_of_shape, &clrnn_ox_op_slice, &clrnn_ox_op_transpose,
    &clrnn_ox_op_reshape,   &clrnn_ox_op_identity, &clrnn_ox_op_cast,     &clrnn_ox_op_expand,
    &clrnn_ox_op_matmul,    &clrnn_ox_op_gemm,    &clrnn_ox_op_add,       &clrnn_ox_op_sub,
    &clrnn_ox_op_mul,       &clrnn_ox_op_div,     &clrnn_ox_op_sigmoid,   &clrnn_ox_op_tanh,
    &clrnn_ox_op_relu,      &clrnn_ox_op_softmax, &clrnn_ox_op_reduce_prod,
    &clrnn_ox_op_reduce_sum, &clrnn_ox_op_reduce_mean, &clrnn_ox_op_reduce_max, &clrnn_ox_op_reduce_min,
    &clrnn_ox_op_reduce_sum_square, &clrnn_ox_op_reduce_l1, &clrnn_ox_op_reduce_l2, &clrnn_ox_op_reduce_log_sum,
    &clrnn_ox_op_reduce_log_sum_exp,
    &clrnn_ox_op_equal, &clrnn_ox_op_less, &clrnn_ox_op_greater, &clrnn_ox_op_less_equal, &clrnn_ox_op_greater_equal,
    &clrnn_ox_op_and, &clrnn_ox_op_or, &clrnn_ox_op_xor, &clrnn_ox_op_not, &clrnn_ox_op_where,
    &clrnn_ox_op_max, &clrnn_ox_op_min, &clrnn_ox_op_sum, &clrnn_ox_op_mean,
    &clrnn_ox_op_neg, &clrnn_ox_op_abs, &clrnn_ox_op_exp, &clrnn_ox_op_log, &clrnn_ox_op_sqrt,
    &clrnn_ox_op_reciprocal, &clrnn_ox_op_floor, &clrnn_ox_op_ceil, &clrnn_ox_op_pow, &clrnn_ox_op_clip,
    &clrnn_ox_op_leaky_relu, &clrnn_ox_op_hard_sigmoid, &clrnn_ox_op_elu, &clrnn_ox_op_softplus,
    &clrnn_ox_op_softsign, &clrnn_ox_op_selu, &clrnn_ox_op_erf, &clrnn_ox_op_log_softmax,
    &clrnn_ox_op_split, &clrnn_ox_op_flatten, &clrnn_ox_op_tile, &clrnn_ox_op_pad, &clrnn_ox_op_reverse_sequence,
    &clrnn_ox_op_gather_elements, &clrnn_ox_op_scatter_nd, &clrnn_ox_op_scatter_elements, &clrnn_ox_op_range, &clrnn_ox_op_argmax,
    &clrnn_ox_op_argmin, &clrnn_ox_op_topk,  &clrnn_ox_op_loop, &clrnn_ox_op_scan, &clrnn_ox_op_if,
};
#define N_OPS (sizeof registry / sizeof *registry)

const ox_op *clrnn_ox_find_op(const char *op_type) {
    for (size_t i = 0; i < N_OPS; ++i)
        if (!strcmp(registry[i]->op_type, op_type)) return registry[i];
    return NULL;
}

const char *clrnn_ox_supported_ops(char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_OPS && pos < cap; ++i)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", registry[i]->op_type);
    return buf;
}

clrnn_status clrnn_ox_check_type(clrnn_model *m, const ox_node *n, int i, const char *what, unsigned mask) {
    const ox_value *v = ox_in(m, n, i);
    if (!v) return CLRNN_OK;
    if (v->is_bool || !(mask & OX_T(v->dtype))) {
        char allowed[64] = "";
        size_t pos = 0;
        static const char *const names[] = {"float32", "int32", "int64", "uint8"};
        for (int t = 0; t < 4; ++t)
            if (mask & OX_T(t)) pos += (size_t)snprintf(allowed + pos, sizeof allowed - pos, "%s%s", pos ? " or " : "", names[t]);
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%s ('%s') is %s; clrnn runs this operator on %s", what, v->name,
                             clrnn_ox_dtype_name(v->dtype, v->is_bool), allowed);
    }
    return CLRNN_OK;
}

void *clrnn_ox_new_state(ox_node *n, size_t size) {
    n->state = calloc(1, size);
    if (!n->state) clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s node", n->op_type);
    return n->state;
}

clrnn_status clrnn_ox_attr_int_required(const ox_node *n, const Onnx__NodeProto *p, const char *name, int64_t *out) {
    if (!clrnn_ox_attr(p, name)) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute '%s' is required", name);
    return clrnn_ox_attr_int(n, p, name, 0, out);
}

clrnn_status clrnn_ox_axes_attr(clrnn_model *m, const ox_node *n, const Onnx__NodeProto *p, int64_t since,
                                int64_t *axes, size_t *count, int *present) {
    const int64_t *vals;
    clrnn_status st = clrnn_ox_attr_ints(n, p, "axes", &vals, count, present);
    if (st != CLRNN_OK) return st;
    if (m->opset >= since && *present)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'axes' was replaced by an input in opset %lld "
                             "(model opset %lld)", (long long)since, (long long)m->opset);
    if (m->opset < since && n->n_in > 1)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input 'axes' needs opset %lld (model opset %lld)",
                             (long long)since, (long long)m->opset);
    if (*count > CLRNN_MAX_DIMS)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu axes (at most %d)", *count, CLRNN_MAX_DIMS);
    ox_memcpy(axes, vals, *count * sizeof *vals);
    return clrnn_ox_check_type(m, n, 1, "axes", OX_T_I64);
}
