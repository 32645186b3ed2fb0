/* Weight import: each framework's layout and gate order → clrnn's internal layout
 * (per layer and direction: W [G*H, I_l], R [G*H, Hr], Wb, Rb [G*H], P [3H] (i, f, o), proj [Hr, H];
 * gates LSTM i, f, g, o; GRU z, r, n). The role table is in clrnn.h above clrnn_framework; each
 * framework's gate order is in the cell table (cells.c). */
#include "cells.h"
#include "train/train.h"

#include <math.h>
#include <string.h>

static const char *const framework_names[] = {"ONNX", "PyTorch", "Keras", "TF1"};
static const char *const role_names[] = {"W", "R", "B", "BW", "BR", "PEEPHOLE", "PROJ", "KERNEL",
                                         "CANDIDATE_KERNEL", "CANDIDATE_BIAS", "DENSE_W", "DENSE_B"};

/* dst[g*H + j][k] for internal gates g in [g0, g1), from a framework matrix with `src_gates` gate
 * blocks. Row-gated source: src[(order[g]*H + j) * K + k]. Column-gated source (Keras, TF1):
 * src[(k0 + k) * (src_gates*H) + order[g]*H + j]. */
static void copy_gate_matrix(float *dst, const float *src, int H, int K, int g0, int g1, const int *order,
                             int src_gates, int column_gated, int k0) {
    for (int g = g0; g < g1; ++g)
        for (int j = 0; j < H; ++j)
            for (int k = 0; k < K; ++k) {
                const size_t s = column_gated ? (size_t)(k0 + k) * src_gates * H + (size_t)order[g] * H + j
                                              : ((size_t)order[g] * H + j) * K + k;
                dst[((size_t)g * H + j) * K + k] = src[s];
            }
}

static void copy_gate_vector(float *dst, const float *src, int H, int g0, int g1, const int *order) {
    for (int g = g0; g < g1; ++g) memcpy(dst + (size_t)g * H, src + (size_t)order[g] * H, (size_t)H * sizeof(float));
}

#define NOT_FOR(why)                                                                                         \
    return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s weights have no %s role for this rnn: %s", framework_names[fw], \
                      role_names[role], why)

/* The element count `role` takes for this rnn and framework (the role table in clrnn.h), or
 * CLRNN_ERR_INVALID_ARGUMENT when the role does not exist here. Reads no data: set_param checks
 * `count` against it before touching a single element. */
static clrnn_status expected_count(const clrnn_rnn *rnn, clrnn_framework fw, int layer, int dir, clrnn_param role,
                                   size_t *expected, const char **what) {
    const clrnn_rnn_desc *d = &rnn->desc;
    const size_t H = (size_t)d->hidden_size, Hr = (size_t)rnn->Hr, GH = (size_t)rnn->G * H;
    const clrnn_cell cell = d->cell;
    const int tf1_gru = fw == CLRNN_FRAMEWORK_TF1 && cell == CLRNN_CELL_GRU;
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    const size_t I = dense_role ? 0 : (size_t)rnn->lw[layer * rnn->D + dir].in_size;
    switch (role) {
    case CLRNN_PARAM_W:
    case CLRNN_PARAM_R:
        if (fw == CLRNN_FRAMEWORK_TF1) NOT_FOR("TF1 cells store W and R stacked: use CLRNN_PARAM_KERNEL");
        *expected = GH * (role == CLRNN_PARAM_W ? I : Hr);
        *what = role == CLRNN_PARAM_W ? "gates*H x input" : "gates*H x state";
        return CLRNN_OK;
    case CLRNN_PARAM_B:
        if (fw == CLRNN_FRAMEWORK_PYTORCH) NOT_FOR("PyTorch has bias_ih and bias_hh: use CLRNN_PARAM_BW / BR");
        if (fw == CLRNN_FRAMEWORK_ONNX || (fw == CLRNN_FRAMEWORK_KERAS && cell == CLRNN_CELL_GRU && d->linear_before_reset)) {
            *expected = 2 * GH, *what = "2 x gates*H (input bias, recurrent bias)";
        } else if (tf1_gru) {
            *expected = 2 * H, *what = "2*H (gates/bias, r then u)";
        } else {
            *expected = GH, *what = "gates*H";
        }
        return CLRNN_OK;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR:
        if (fw != CLRNN_FRAMEWORK_ONNX && fw != CLRNN_FRAMEWORK_PYTORCH) NOT_FOR("use CLRNN_PARAM_B");
        *expected = GH, *what = "gates*H";
        return CLRNN_OK;
    case CLRNN_PARAM_PEEPHOLE:
        if (cell != CLRNN_CELL_LSTM || !d->peephole) NOT_FOR("peepholes need an LSTM with desc.peephole = 1");
        if (fw != CLRNN_FRAMEWORK_ONNX && fw != CLRNN_FRAMEWORK_TF1) NOT_FOR("only ONNX and TF1 have peepholes");
        *expected = 3 * H, *what = "3*H";
        return CLRNN_OK;
    case CLRNN_PARAM_PROJ:
        if (d->proj_size == 0) NOT_FOR("desc.proj_size is 0");
        if (fw != CLRNN_FRAMEWORK_PYTORCH && fw != CLRNN_FRAMEWORK_TF1) NOT_FOR("only PyTorch and TF1 have projections");
        *expected = Hr * H, *what = "proj_size x H";
        return CLRNN_OK;
    case CLRNN_PARAM_KERNEL:
        if (fw != CLRNN_FRAMEWORK_TF1) NOT_FOR("KERNEL is the TF1 stacked [input; state] kernel");
        if (tf1_gru && d->linear_before_reset) NOT_FOR("TF1 GRUCell is reset-before (linear_before_reset = 0)");
        *expected = (I + Hr) * (tf1_gru ? 2 : (size_t)rnn->G) * H, *what = "(input + state) x gates*H";
        return CLRNN_OK;
    case CLRNN_PARAM_CANDIDATE_KERNEL:
    case CLRNN_PARAM_CANDIDATE_BIAS:
        if (!tf1_gru) NOT_FOR("candidate kernel/bias belong to the TF1 GRUCell");
        if (role == CLRNN_PARAM_CANDIDATE_BIAS) *expected = H, *what = "H";
        else *expected = (I + H) * H, *what = "(input + H) x H";
        return CLRNN_OK;
    case CLRNN_PARAM_DENSE_W:
        if (d->dense_size == 0) NOT_FOR("desc.dense_size is 0");
        *expected = (size_t)rnn->O * rnn->Hm, *what = "dense_size x merged output size";
        return CLRNN_OK;
    case CLRNN_PARAM_DENSE_B:
        if (d->dense_size == 0) NOT_FOR("desc.dense_size is 0");
        *expected = (size_t)rnn->O, *what = "dense_size";
        return CLRNN_OK;
    default: return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "role = %d is unknown", (int)role);
    }
}

clrnn_status clrnn_rnn_set_param(clrnn_rnn *rnn, clrnn_framework fw, int layer, int dir, clrnn_param role,
                                 const float *data, size_t count) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_rnn(rnn, "clrnn_rnn_set_param");
    if (st != CLRNN_OK) return st;
    if (!data) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_set_param: data is NULL");
    if ((unsigned)fw > CLRNN_FRAMEWORK_TF1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "framework = %d is unknown", (int)fw);
    if ((unsigned)role >= CLRNN_PARAM_COUNT_) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "role = %d is unknown", (int)role);
    const clrnn_rnn_desc *d = &rnn->desc;
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    if (!dense_role && (layer < 0 || layer >= d->num_layers || dir < 0 || dir >= rnn->D))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "layer %d / dir %d out of range (%d layers, %d directions)", layer,
                          dir, d->num_layers, rnn->D);
    /* The count first (a byte count passed for an element count must not become a read past the
     * caller's array), then exactly that many elements are scanned, then copied. */
    size_t expected = 0;
    const char *what = "";
    if ((st = expected_count(rnn, fw, layer, dir, role, &expected, &what)) != CLRNN_OK) return st;
    if (count != expected)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s %s (layer %d, dir %d): got %zu elements, expected %zu = %s",
                          framework_names[fw], role_names[role], layer, dir, count, expected, what);
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(data[i]))
            return clrnn_fail(CLRNN_ERR_NON_FINITE, "%s %s (layer %d, dir %d): element %zu is %f", framework_names[fw],
                              role_names[role], layer, dir, i, (double)data[i]);

    /* the other roles' values an optimizer changed on the device come back first */
    if ((st = clrnn_rnn_sync_host_params(rnn)) != CLRNN_OK) return st;
    const int H = d->hidden_size, G = rnn->G, Hr = rnn->Hr, GH = G * H;
    const clrnn_cell cell = d->cell;
    const clrnn_cell_info *info = clrnn_cell_info_of(cell);
    const int *order = info->gate_order[fw]; /* the framework's gate of each internal gate (cells.c) */
    const int all_gates = (1 << G) - 1;
    const int tf1_gru = fw == CLRNN_FRAMEWORK_TF1 && cell == CLRNN_CELL_GRU;
    clrnn_layer_weights *w = dense_role ? NULL : &rnn->lw[layer * rnn->D + dir];
    const int I = w ? w->in_size : 0;
    const int column_gated = fw == CLRNN_FRAMEWORK_KERAS || fw == CLRNN_FRAMEWORK_TF1;

    switch (role) {
    case CLRNN_PARAM_W:
    case CLRNN_PARAM_R:
        copy_gate_matrix(role == CLRNN_PARAM_W ? w->W : w->R, data, H, role == CLRNN_PARAM_W ? I : Hr, 0, G, order, G,
                         column_gated, 0);
        if (role == CLRNN_PARAM_W) w->has_W = all_gates; else w->has_R = all_gates;
        break;
    case CLRNN_PARAM_B:
        if (fw == CLRNN_FRAMEWORK_ONNX || (fw == CLRNN_FRAMEWORK_KERAS && cell == CLRNN_CELL_GRU && d->linear_before_reset)) {
            copy_gate_vector(w->Wb, data, H, 0, G, order);
            copy_gate_vector(w->Rb, data + GH, H, 0, G, order);
        } else if (tf1_gru) {
            copy_gate_vector(w->Wb, data, H, 0, 2, order);
            memset(w->Rb, 0, 2 * (size_t)H * sizeof(float));
        } else {
            copy_gate_vector(w->Wb, data, H, 0, G, order);
            memset(w->Rb, 0, (size_t)GH * sizeof(float));
        }
        break;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR:
        copy_gate_vector(role == CLRNN_PARAM_BW ? w->Wb : w->Rb, data, H, 0, G, order);
        break;
    case CLRNN_PARAM_PEEPHOLE:
        copy_gate_vector(w->P, data, H, 0, 3, info->peep_order[fw]);
        break;
    case CLRNN_PARAM_PROJ:
        for (int p = 0; p < Hr; ++p)
            for (int k = 0; k < H; ++k)
                w->proj[(size_t)p * H + k] = fw == CLRNN_FRAMEWORK_TF1 ? data[(size_t)k * Hr + p] : data[(size_t)p * H + k];
        w->has_proj = 1;
        break;
    case CLRNN_PARAM_KERNEL: {
        const int src_gates = tf1_gru ? 2 : G, g1 = src_gates;
        copy_gate_matrix(w->W, data, H, I, 0, g1, order, src_gates, 1, 0);
        copy_gate_matrix(w->R, data, H, Hr, 0, g1, order, src_gates, 1, I);
        w->has_W |= (1 << g1) - 1;
        w->has_R |= (1 << g1) - 1;
        break;
    }
    case CLRNN_PARAM_CANDIDATE_KERNEL: {
        static const int n_order[3] = {0, 0, 0}; /* the candidate matrix has one gate block */
        copy_gate_matrix(w->W, data, H, I, 2, 3, n_order, 1, 1, 0);
        copy_gate_matrix(w->R, data, H, Hr, 2, 3, n_order, 1, 1, I);
        w->has_W |= 4;
        w->has_R |= 4;
        break;
    }
    case CLRNN_PARAM_CANDIDATE_BIAS:
        memcpy(w->Wb + 2 * H, data, (size_t)H * sizeof(float));
        memset(w->Rb + 2 * H, 0, (size_t)H * sizeof(float));
        break;
    case CLRNN_PARAM_DENSE_W: {
        const int O = rnn->O, Hm = rnn->Hm;
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < Hm; ++k)
                rnn->dense_W[(size_t)o * Hm + k] = column_gated ? data[(size_t)k * O + o] : data[(size_t)o * Hm + k];
        rnn->has_dense_W = 1;
        break;
    }
    case CLRNN_PARAM_DENSE_B: memcpy(rnn->dense_b, data, count * sizeof(float)); break;
    default: return clrnn_fail(CLRNN_ERR_INTERNAL, "role = %d has no copy", (int)role);
    }
    rnn->dirty = 1;
    rnn->host_gen++;
    return CLRNN_OK;
}

clrnn_status clrnn_weights_check_complete(const clrnn_rnn *rnn) {
    const int all = (1 << rnn->G) - 1;
    for (int l = 0; l < rnn->desc.num_layers; ++l)
        for (int d = 0; d < rnn->D; ++d) {
            const clrnn_layer_weights *w = &rnn->lw[l * rnn->D + d];
            if (w->has_W != all || w->has_R != all)
                return clrnn_fail(CLRNN_ERR_MISSING_WEIGHTS,
                                  "layer %d direction %d: %s%s%s never set (set W and R, or KERNEL%s)", l, d,
                                  w->has_W != all ? "input weights" : "", w->has_W != all && w->has_R != all ? " and " : "",
                                  w->has_R != all ? "recurrent weights" : "",
                                  rnn->desc.cell == CLRNN_CELL_GRU ? " and CANDIDATE_KERNEL for TF1" : "");
            if (rnn->desc.proj_size > 0 && !w->has_proj)
                return clrnn_fail(CLRNN_ERR_MISSING_WEIGHTS, "layer %d direction %d: PROJ never set (proj_size = %d)", l,
                                  d, rnn->desc.proj_size);
        }
    if (rnn->desc.dense_size > 0 && !rnn->has_dense_W)
        return clrnn_fail(CLRNN_ERR_MISSING_WEIGHTS, "desc.dense_size = %d but DENSE_W was never set", rnn->desc.dense_size);
    return CLRNN_OK;
}
