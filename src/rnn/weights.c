/* Weight import and export: each framework's layout and gate order <-> clrnn's internal layout
 * (per layer and direction: W [G*H, I_l], R [G*H, Hr], Wb, Rb [G*H], P [3H] (i, f, o), proj [Hr, H];
 * gates LSTM i, f, g, o; GRU z, r, n). The role table is in clrnn.h above clrnn_framework; each
 * framework's gate order is in the cell table (cells.c). set_param (import) and
 * clrnn_weights_export walk the same table below (transfer()), in opposite directions. */
#include "cells.h"
#include "train/train.h"

#include <math.h>
#include <string.h>

static const char *const framework_names[] = {"ONNX", "PyTorch", "Keras", "TF1"};
static const char *const role_names[] = {"W", "R", "B", "BW", "BR", "PEEPHOLE", "PROJ", "KERNEL",
                                         "CANDIDATE_KERNEL", "CANDIDATE_BIAS", "DENSE_W", "DENSE_B"};

/* One transfer between the internal arrays and a framework array: import (to_fw = 0) writes the
 * internal arrays from `fw`, export (to_fw = 1) writes `fw` from them. `grad`: the internal arrays
 * are gradients (export only; see single_bias). */
typedef struct xfer {
    int to_fw, grad;
    float *fw;
} xfer;

static inline void move(const xfer *x, float *internal, size_t fw_index) {
    if (x->to_fw) x->fw[fw_index] = *internal;
    else *internal = x->fw[fw_index];
}

/* internal[g*H + j][k] for internal gates g in [g0, g1) <-> a framework matrix with `fw_gates`
 * gate blocks. Row-gated (ONNX, PyTorch): fw[(order[g]*H + j) * K + k]. Column-gated (Keras, TF1):
 * fw[(k0 + k) * (fw_gates*H) + order[g]*H + j]. */
static void gate_matrix(const xfer *x, float *internal, int H, int K, int g0, int g1, const int *order, int fw_gates,
                        int column_gated, int k0) {
    for (int g = g0; g < g1; ++g)
        for (int j = 0; j < H; ++j)
            for (int k = 0; k < K; ++k) {
                const size_t s = column_gated ? (size_t)(k0 + k) * fw_gates * H + (size_t)order[g] * H + j
                                              : ((size_t)order[g] * H + j) * K + k;
                move(x, &internal[((size_t)g * H + j) * K + k], s);
            }
}

/* internal[g*H + j] <-> fw[order[g]*H + j] for gates [g0, g1). */
static void gate_vector(const xfer *x, float *internal, int H, int g0, int g1, const int *order) {
    for (int g = g0; g < g1; ++g)
        for (int j = 0; j < H; ++j) move(x, &internal[(size_t)g * H + j], (size_t)order[g] * H + j);
}

/* A framework bias that is one vector where clrnn keeps Wb and Rb (Keras' single bias, TF1's).
 * Import: Wb = the value, Rb = 0. Export of values: Wb + Rb, the sum the forward adds (Wb alone
 * when Rb is 0, so a value set this way reads back bitwise, -0 included); of gradients: dWb (the
 * gradient of Wb + Rb with respect to either, equal for every gate this role covers). */
static void single_bias(const xfer *x, float *Wb, float *Rb, int H, int g0, int g1, const int *order) {
    for (int g = g0; g < g1; ++g)
        for (int j = 0; j < H; ++j) {
            const size_t i = (size_t)g * H + j, s = (size_t)order[g] * H + j;
            if (!x->to_fw) {
                Wb[i] = x->fw[s];
                Rb[i] = 0.0f;
            } else {
                x->fw[s] = x->grad || Rb[i] == 0.0f ? Wb[i] : Wb[i] + Rb[i];
            }
        }
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

/* The checks set_param and get_param share, before any element is read or written: framework,
 * role, layer/dir range, the role's existence and the exact count (a byte count passed for an
 * element count must not become an access past the caller's array). */
static clrnn_status check_role(const clrnn_rnn *rnn, clrnn_framework fw, int layer, int dir, clrnn_param role,
                               size_t count) {
    if ((unsigned)fw > CLRNN_FRAMEWORK_TF1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "framework = %d is unknown", (int)fw);
    if ((unsigned)role >= CLRNN_PARAM_COUNT_) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "role = %d is unknown", (int)role);
    const clrnn_rnn_desc *d = &rnn->desc;
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    if (!dense_role && (layer < 0 || layer >= d->num_layers || dir < 0 || dir >= rnn->D))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "layer %d / dir %d out of range (%d layers, %d directions)", layer,
                          dir, d->num_layers, rnn->D);
    size_t expected = 0;
    const char *what = "";
    clrnn_status st = expected_count(rnn, fw, layer, dir, role, &expected, &what);
    if (st != CLRNN_OK) return st;
    if (count != expected)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s %s (layer %d, dir %d): got %zu elements, expected %zu = %s",
                          framework_names[fw], role_names[role], layer, dir, count, expected, what);
    return CLRNN_OK;
}

/* The gate bits (has_W / has_R) a role covers. */
static int role_gates(const clrnn_rnn *rnn, clrnn_framework fw, clrnn_param role) {
    const int tf1_gru = fw == CLRNN_FRAMEWORK_TF1 && rnn->desc.cell == CLRNN_CELL_GRU;
    if (role == CLRNN_PARAM_CANDIDATE_KERNEL) return 4;
    if (role == CLRNN_PARAM_KERNEL && tf1_gru) return 3;
    return (1 << rnn->G) - 1;
}

/* Moves one checked role between the framework array x->fw and the internal arrays lw (of the
 * role's layer and direction) / dense_W / dense_b. The one table of every role's layout. */
static void transfer(const clrnn_rnn *rnn, clrnn_layer_weights *w, float *dense_W, float *dense_b, const xfer *x,
                     clrnn_framework fw, clrnn_param role) {
    const clrnn_rnn_desc *d = &rnn->desc;
    const int H = d->hidden_size, G = rnn->G, Hr = rnn->Hr, GH = G * H;
    const clrnn_cell cell = d->cell;
    const clrnn_cell_info *info = clrnn_cell_info_of(cell);
    const int *order = info->gate_order[fw]; /* the framework's gate of each internal gate (cells.c) */
    const int tf1_gru = fw == CLRNN_FRAMEWORK_TF1 && cell == CLRNN_CELL_GRU;
    const int I = w ? w->in_size : 0;
    const int column_gated = fw == CLRNN_FRAMEWORK_KERAS || fw == CLRNN_FRAMEWORK_TF1;

    switch (role) {
    case CLRNN_PARAM_W:
    case CLRNN_PARAM_R:
        gate_matrix(x, role == CLRNN_PARAM_W ? w->W : w->R, H, role == CLRNN_PARAM_W ? I : Hr, 0, G, order, G,
                    column_gated, 0);
        break;
    case CLRNN_PARAM_B:
        if (fw == CLRNN_FRAMEWORK_ONNX || (fw == CLRNN_FRAMEWORK_KERAS && cell == CLRNN_CELL_GRU && d->linear_before_reset)) {
            gate_vector(x, w->Wb, H, 0, G, order);
            const xfer rx = {x->to_fw, x->grad, x->fw + GH};
            gate_vector(&rx, w->Rb, H, 0, G, order);
        } else {
            single_bias(x, w->Wb, w->Rb, H, 0, tf1_gru ? 2 : G, order);
        }
        break;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR: gate_vector(x, role == CLRNN_PARAM_BW ? w->Wb : w->Rb, H, 0, G, order); break;
    case CLRNN_PARAM_PEEPHOLE: gate_vector(x, w->P, H, 0, 3, info->peep_order[fw]); break;
    case CLRNN_PARAM_PROJ:
        for (int p = 0; p < Hr; ++p)
            for (int k = 0; k < H; ++k)
                move(x, &w->proj[(size_t)p * H + k], fw == CLRNN_FRAMEWORK_TF1 ? (size_t)k * Hr + p : (size_t)p * H + k);
        break;
    case CLRNN_PARAM_KERNEL: {
        const int fw_gates = tf1_gru ? 2 : G;
        gate_matrix(x, w->W, H, I, 0, fw_gates, order, fw_gates, 1, 0);
        gate_matrix(x, w->R, H, Hr, 0, fw_gates, order, fw_gates, 1, I);
        break;
    }
    case CLRNN_PARAM_CANDIDATE_KERNEL: {
        static const int n_order[3] = {0, 0, 0}; /* the candidate matrix has one gate block */
        gate_matrix(x, w->W, H, I, 2, 3, n_order, 1, 1, 0);
        gate_matrix(x, w->R, H, Hr, 2, 3, n_order, 1, 1, I);
        break;
    }
    case CLRNN_PARAM_CANDIDATE_BIAS: {
        static const int n_order[3] = {0, 0, 0}; /* the candidate bias has one gate block */
        single_bias(x, w->Wb, w->Rb, H, 2, 3, n_order);
        break;
    }
    case CLRNN_PARAM_DENSE_W: {
        const int O = rnn->O, Hm = rnn->Hm;
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < Hm; ++k)
                move(x, &dense_W[(size_t)o * Hm + k], column_gated ? (size_t)k * O + o : (size_t)o * Hm + k);
        break;
    }
    case CLRNN_PARAM_DENSE_B:
        for (int o = 0; o < rnn->O; ++o) move(x, &dense_b[o], (size_t)o);
        break;
    default: break; /* check_role refused it */
    }
}

clrnn_status clrnn_rnn_set_param(clrnn_rnn *rnn, clrnn_framework fw, int layer, int dir, clrnn_param role,
                                 const float *data, size_t count) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_rnn(rnn, "clrnn_rnn_set_param");
    if (st != CLRNN_OK) return st;
    if (!data) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_set_param: data is NULL");
    /* The count first, then exactly that many elements are scanned, then copied. */
    if ((st = check_role(rnn, fw, layer, dir, role, count)) != CLRNN_OK) return st;
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(data[i]))
            return clrnn_fail(CLRNN_ERR_NON_FINITE, "%s %s (layer %d, dir %d): element %zu is %f", framework_names[fw],
                              role_names[role], layer, dir, i, (double)data[i]);
    /* the other roles' values an optimizer changed on the device come back first */
    if ((st = clrnn_rnn_sync_host_params(rnn)) != CLRNN_OK) return st;
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    clrnn_layer_weights *w = dense_role ? NULL : &rnn->lw[layer * rnn->D + dir];
    /* An import only reads x.fw (the cast drops const for the shared walk, never to write). */
    const xfer x = {0, 0, (float *)data};
    transfer(rnn, w, rnn->dense_W, rnn->dense_b, &x, fw, role);
    switch (role) {
    case CLRNN_PARAM_W: w->has_W = role_gates(rnn, fw, role); break;
    case CLRNN_PARAM_R: w->has_R = role_gates(rnn, fw, role); break;
    case CLRNN_PARAM_KERNEL:
    case CLRNN_PARAM_CANDIDATE_KERNEL:
        w->has_W |= role_gates(rnn, fw, role);
        w->has_R |= role_gates(rnn, fw, role);
        break;
    case CLRNN_PARAM_PROJ: w->has_proj = 1; break;
    case CLRNN_PARAM_DENSE_W: rnn->has_dense_W = 1; break;
    default: break;
    }
    rnn->dirty = 1;
    rnn->host_gen++;
    return CLRNN_OK;
}

clrnn_status clrnn_weights_export(const clrnn_rnn *r, const clrnn_layer_weights *w, const float *dense_W,
                                  const float *dense_b, int grad, clrnn_framework fw, int layer, int dir,
                                  clrnn_param role, float *out, size_t count) {
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: out is NULL", grad ? "clrnn_rnn_get_grad" : "clrnn_rnn_get_param");
    clrnn_status st = check_role(r, fw, layer, dir, role, count);
    if (st != CLRNN_OK) return st;
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    /* A required tensor never set has no value (nor gradient); what set_param treats as zero
     * when unset (biases, peepholes) reads as those zeros. The rnn's own flags decide: gradient
     * arrays carry none. */
    const clrnn_layer_weights *set = dense_role ? NULL : &r->lw[layer * r->D + dir];
    const int gates = role_gates(r, fw, role);
    int missing = 0;
    switch (role) {
    case CLRNN_PARAM_W: missing = (set->has_W & gates) != gates; break;
    case CLRNN_PARAM_R: missing = (set->has_R & gates) != gates; break;
    case CLRNN_PARAM_KERNEL:
    case CLRNN_PARAM_CANDIDATE_KERNEL: missing = (set->has_W & gates) != gates || (set->has_R & gates) != gates; break;
    case CLRNN_PARAM_PROJ: missing = !set->has_proj; break;
    case CLRNN_PARAM_DENSE_W: missing = !r->has_dense_W; break;
    default: break;
    }
    if (missing)
        return clrnn_fail(CLRNN_ERR_MISSING_WEIGHTS, "%s %s (layer %d, dir %d): never set, so it has no %s",
                          framework_names[fw], role_names[role], layer, dir, grad ? "gradient" : "value");
    if (!dense_role && !w) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_weights_export: no layer arrays");
    if (dense_role && (!dense_W || !dense_b)) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_weights_export: no dense arrays");
    const xfer x = {1, grad != 0, out};
    /* transfer() only reads the internal arrays when exporting. */
    transfer(r, dense_role ? NULL : (clrnn_layer_weights *)&w[layer * r->D + dir], (float *)dense_W, (float *)dense_b,
             &x, fw, role);
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_get_param(clrnn_rnn *rnn, clrnn_framework fw, int layer, int dir, clrnn_param role, float *out,
                                 size_t count) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_rnn(rnn, "clrnn_rnn_get_param");
    if (st != CLRNN_OK) return st;
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_get_param: out is NULL");
    /* Refuse what can be refused before the device is asked for the current values. */
    if ((st = check_role(rnn, fw, layer, dir, role, count)) != CLRNN_OK) return st;
    if ((st = clrnn_rnn_sync_host_params(rnn)) != CLRNN_OK) return st;
    return clrnn_weights_export(rnn, rnn->lw, rnn->dense_W, rnn->dense_b, 0, fw, layer, dir, role, out, count);
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
