/* Data-movement and selection operators around exported RNNs: Split, Flatten, Tile, Pad,
 * ReverseSequence, GatherElements, ScatterND, ScatterElements, Range, TopK, ArgMax, ArgMin.
 *
 * The placement rule of ops_shape.c: float32 data moves on the device (strided copies, the gather
 * and pad kernels), other types on the host. Index-driven ops (GatherElements, TopK, ScatterND,
 * ScatterElements) check every index on the host first. Results are allocated through the model's
 * budgets, so an oversized Tile/Pad/Range is refused with CLRNN_ERR_OUT_OF_MEMORY / _DEVICE_OUT_OF_MEMORY (or
 * CLRNN_ERR_UNSUPPORTED beyond 2^31 elements) before anything is written. */
#include "onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int on_device(clrnn_dtype dt) { return dt == CLRNN_DTYPE_FLOAT32; }

static clrnn_status to_side(clrnn_model *m, ox_value *v) {
    return on_device(v->dtype) ? clrnn_ox_to_device(m, v) : clrnn_ox_to_host(m, v);
}

static int64_t elem_i(const ox_value *v, size_t i) {
    return v->dtype == CLRNN_DTYPE_INT64 ? ((const int64_t *)v->host)[i] : ((const int32_t *)v->host)[i];
}

typedef struct data_state {
    int64_t axis, batch_axis, time_axis, keepdims, last_index, largest, k, num_outputs;
    int has_k, has_split, mode;
    float value;
    int64_t split[64], pads[2 * CLRNN_MAX_DIMS];
    size_t n_split, n_pads;
    int reduction; /* ScatterND: 0 none, 1 add, 2 mul, 3 max, 4 min */
} data_state;

static data_state *new_state(ox_node *n) { return clrnn_ox_new_state(n, sizeof(data_state)); }

/* ------------------------------------------------------------------------------------------
 * Split: sizes from the attribute 'split' before opset 13, the input from 13; without sizes equal
 * parts (opset 18: num_outputs parts of ceil(dim / n), the last one smaller)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status split_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", 0, &s->axis);
    if (st != CLRNN_OK) return st;
    const int64_t *v;
    int present;
    if ((st = clrnn_ox_attr_ints(n, p, "split", &v, &s->n_split, &present)) != CLRNN_OK) return st;
    if (present && m->opset >= 13)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'split' was replaced by an input in opset 13");
    if (n->n_in > 1 && m->opset < 13)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input 'split' needs opset 13 (model opset %lld)", (long long)m->opset);
    if (s->n_split > sizeof s->split / sizeof *s->split)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu parts (at most %zu)", s->n_split, sizeof s->split / sizeof *s->split);
    if (present && (int)s->n_split != n->n_out)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'split' has %zu sizes for %d outputs", s->n_split, n->n_out);
    ox_memcpy(s->split, v, s->n_split * sizeof *v);
    s->has_split = present;
    if ((st = clrnn_ox_attr_int(n, p, "num_outputs", 0, &s->num_outputs)) != CLRNN_OK) return st;
    if (clrnn_ox_attr(p, "num_outputs")) {
        if (m->opset < 18) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'num_outputs' needs opset 18");
        if (s->num_outputs != n->n_out)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "num_outputs = %lld but the node has %d outputs",
                                 (long long)s->num_outputs, n->n_out);
        if (n->n_in > 1) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "both num_outputs and the input 'split' are given");
    }
    if ((st = clrnn_ox_check_type(m, n, 1, "split", OX_T_I64)) != CLRNN_OK) return st;
    const ox_value *in = ox_in(m, n, 0);
    for (int i = 0; i < n->n_out; ++i) ox_set_out_type(m, n, i, in->dtype, in->is_bool);
    return CLRNN_OK;
}

static clrnn_status split_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *in = ox_in(m, n, 0), *sv = ox_in(m, n, 1);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, in->ndim, "axis", &axis);
    if (st != CLRNN_OK) return st;
    const int64_t dim = in->shape[axis];
    int64_t sizes[64];
    size_t k = (size_t)n->n_out;
    if (k > 64) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu outputs (at most 64)", k);
    if (sv) {
        size_t c;
        if ((st = clrnn_ox_read_ints(m, n, sv, "split", sizes, 64, &c)) != CLRNN_OK) return st;
        if (c != k) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "'split' has %zu sizes for %zu outputs", c, k);
    } else if (s->has_split) {
        memcpy(sizes, s->split, k * sizeof *sizes);
    } else if (s->num_outputs) {
        const int64_t part = (dim + (int64_t)k - 1) / (int64_t)k;
        for (size_t i = 0; i < k; ++i) {
            const int64_t left = dim - part * (int64_t)i;
            sizes[i] = left < 0 ? 0 : left < part ? left : part;
        }
    } else {
        if (dim % (int64_t)k)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "axis %d of size %lld does not split into %zu equal parts", axis,
                                 (long long)dim, k);
        for (size_t i = 0; i < k; ++i) sizes[i] = dim / (int64_t)k;
    }
    int64_t total = 0;
    for (size_t i = 0; i < k; ++i) {
        if (sizes[i] < 0 || sizes[i] > dim)
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "split size %lld of part %zu", (long long)sizes[i], i);
        total += sizes[i];
    }
    if (total != dim)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the split sizes add up to %lld, axis %d has %lld", (long long)total,
                             axis, (long long)dim);
    const int dev = on_device(in->dtype);
    if ((st = to_side(m, in)) != CLRNN_OK) return st;
    int64_t istride[CLRNN_MAX_DIMS], shape[CLRNN_MAX_DIMS], ostride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(in->ndim, in->shape, istride);
    int64_t off = 0;
    for (size_t i = 0; i < k; ++i) {
        ox_value *out = ox_out(m, n, (int)i);
        memcpy(shape, in->shape, sizeof shape);
        shape[axis] = sizes[i];
        if (out) {
            if ((st = clrnn_ox_alloc_out(m, n, out, in->ndim, shape)) != CLRNN_OK) return st;
            clrnn_ox_strides(in->ndim, shape, ostride);
            if ((st = clrnn_ox_copy(m, n, dev, in, off * istride[axis], out, 0, in->ndim, shape, istride, ostride)) != CLRNN_OK)
                return st;
        }
        off += sizes[i];
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Flatten: [d0 .. d(axis-1)] x [d(axis) ..], axis in [-r, r] (negative from opset 11)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status flatten_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", 1, &s->axis);
    return st == CLRNN_OK ? ox_same_type_out(m, n) : st;
}

static clrnn_status flatten_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *in = ox_in(m, n, 0);
    const int r = in->ndim;
    if (s->axis < -r || s->axis > r)
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "axis = %lld is outside [%d, %d] for rank %d", (long long)s->axis,
                             -r, r, r);
    const int axis = (int)(s->axis < 0 ? s->axis + r : s->axis);
    int64_t shape[2] = {1, 1};
    for (int i = 0; i < r; ++i) shape[i >= axis] *= in->shape[i];
    return clrnn_ox_copy_reshaped(m, n, in, ox_out(m, n, 0), 2, shape);
}

/* ------------------------------------------------------------------------------------------
 * Tile: one strided copy over the view [rep0, d0, rep1, d1, ...] of the output (axes repeated
 * once take one dimension)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status tile_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    return ox_check_then_same_type(m, n, 1, "repeats", OX_T_I64);
}

/* Host Tile in large memcpy's (an element at a time, a 150 MB bool result took the fuzzer's 10 s):
 * the input's slab along `axis` is tiled recursively, then the filled block is doubled `rep`
 * times. Output strides `ost`, input strides `ist`, in elements. */
static void tile_host(const char *src, char *dst, size_t es, int axis, int r, const int64_t *shape, const int64_t *rep,
                      const int64_t *ist, const int64_t *ost) {
    const size_t d = (size_t)shape[axis];
    if (axis == r - 1) {
        memcpy(dst, src, d * es);
    } else {
        for (size_t j = 0; j < d; ++j)
            tile_host(src + j * (size_t)ist[axis] * es, dst + j * (size_t)ost[axis] * es, es, axis + 1, r, shape, rep, ist, ost);
    }
    const size_t block = d * (size_t)ost[axis] * es, total = block * (size_t)rep[axis];
    for (size_t done = block; done < total;) {
        const size_t chunk = done < total - done ? done : total - done;
        memcpy(dst + done, dst, chunk);
        done += chunk;
    }
}

static clrnn_status tile_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    const int r = in->ndim;
    int64_t rep[CLRNN_MAX_DIMS];
    size_t c;
    clrnn_status st = clrnn_ox_read_ints(m, n, ox_in(m, n, 1), "repeats", rep, CLRNN_MAX_DIMS, &c);
    if (st != CLRNN_OK) return st;
    if ((int)c != r)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "'repeats' has %zu elements, the input has rank %d", c, r);
    int64_t shape[CLRNN_MAX_DIMS];
    for (int i = 0; i < r; ++i) {
        if (rep[i] < 0) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "repeats[%d] = %lld", i, (long long)rep[i]);
        if (in->shape[i] && rep[i] > INT64_MAX / in->shape[i])
            return clrnn_ox_fail(n, CLRNN_ERR_OVERFLOW, "the result's dimension %d overflows", i);
        shape[i] = in->shape[i] * rep[i];
    }
    size_t count; /* first: the strides below must not overflow */
    if ((st = clrnn_ox_shape_count(n, r, shape, &count)) != CLRNN_OK) return st;
    int64_t istride[CLRNN_MAX_DIMS], ostride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, in->shape, istride);
    clrnn_ox_strides(r, shape, ostride);
    int64_t vshape[2 * CLRNN_MAX_DIMS], vs[2 * CLRNN_MAX_DIMS], vd[2 * CLRNN_MAX_DIMS];
    int v = 0;
    for (int i = 0; i < r; ++i) {
        if (rep[i] != 1) vshape[v] = rep[i], vs[v] = 0, vd[v++] = ostride[i] * in->shape[i];
        vshape[v] = in->shape[i], vs[v] = istride[i], vd[v++] = ostride[i];
    }
    const int dev = on_device(in->dtype);
    if (dev && v > CLRNN_MAX_DIMS)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "tiling %d axes of a rank-%d float32 tensor (the copy needs %d "
                             "dimensions, at most %d)", v - r, r, v, CLRNN_MAX_DIMS);
    if ((st = to_side(m, in)) != CLRNN_OK || (st = clrnn_ox_alloc_out(m, n, out, r, shape)) != CLRNN_OK) return st;
    if (dev) return clrnn_ox_copy(m, n, 1, in, 0, out, 0, v, vshape, vs, vd);
    if (out->count) tile_host(in->host, out->host, clrnn_dtype_size(in->dtype), 0, r, in->shape, rep, istride, ostride);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Pad: modes constant, reflect, edge (and wrap, opset 19); pads and value are attributes before
 * opset 11, inputs (pads, constant_value, axes from 18) after; negative pads crop
 * ---------------------------------------------------------------------------------------- */
static clrnn_status pad_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    char mode[16];
    clrnn_status st = clrnn_ox_attr_string(n, p, "mode", "constant", mode, sizeof mode);
    if (st != CLRNN_OK) return st;
    if (!strcmp(mode, "constant")) s->mode = OX_PAD_CONSTANT;
    else if (!strcmp(mode, "reflect")) s->mode = OX_PAD_REFLECT;
    else if (!strcmp(mode, "edge")) s->mode = OX_PAD_EDGE;
    else if (!strcmp(mode, "wrap") && m->opset >= 19) s->mode = OX_PAD_WRAP;
    else return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "mode '%s' (constant, reflect, edge and, from opset 19, wrap are)", mode);
    if (m->opset < 11) {
        if (n->n_in > 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "Pad before opset 11 takes one input");
        const int64_t *v;
        int present;
        if ((st = clrnn_ox_attr_ints(n, p, "pads", &v, &s->n_pads, &present)) != CLRNN_OK) return st;
        if (!present) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'pads' is required");
        if (s->n_pads > 2 * CLRNN_MAX_DIMS) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu pads", s->n_pads);
        ox_memcpy(s->pads, v, s->n_pads * sizeof *v);
        if ((st = clrnn_ox_attr_float(n, p, "value", 0.0f, &s->value)) != CLRNN_OK) return st;
    } else {
        if (clrnn_ox_attr(p, "pads") || clrnn_ox_attr(p, "value"))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attributes 'pads' and 'value' were replaced by inputs in opset 11");
        if (n->n_in < 2 || !ox_in(m, n, 1)) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input 'pads' is required");
        if (n->n_in > 3 && m->opset < 18) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input 'axes' needs opset 18");
        if ((st = clrnn_ox_check_type(m, n, 1, "pads", OX_T_I64)) != CLRNN_OK) return st;
        if ((st = clrnn_ox_check_type(m, n, 3, "axes", OX_T_INT)) != CLRNN_OK) return st;
        const ox_value *x = ox_in(m, n, 0), *cv = ox_in(m, n, 2);
        if (cv && (cv->dtype != x->dtype || cv->is_bool != x->is_bool))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "constant_value is %s, the data %s",
                                 clrnn_ox_dtype_name(cv->dtype, cv->is_bool), clrnn_ox_dtype_name(x->dtype, x->is_bool));
    }
    return ox_same_type_out(m, n);
}

static int64_t pad_index(int mode, int64_t j, int64_t len) {
    if (j >= 0 && j < len) return j;
    if (mode == OX_PAD_CONSTANT) return -1;
    if (mode == OX_PAD_EDGE) return j < 0 ? 0 : len - 1;
    if (mode == OX_PAD_WRAP) return ((j % len) + len) % len;
    if (len == 1) return 0;
    const int64_t per = 2 * (len - 1);
    j = ((j % per) + per) % per;
    return j >= len ? per - j : j;
}

static clrnn_status pad_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    const int r = x->ndim;
    int64_t pads[2 * CLRNN_MAX_DIMS], axes[CLRNN_MAX_DIMS];
    size_t np = s->n_pads, na;
    clrnn_status st;
    memcpy(pads, s->pads, sizeof pads);
    if (m->opset >= 11 && (st = clrnn_ox_read_ints(m, n, ox_in(m, n, 1), "pads", pads, 2 * CLRNN_MAX_DIMS, &np)) != CLRNN_OK)
        return st;
    ox_value *av = ox_in(m, n, 3);
    if (av) {
        if ((st = clrnn_ox_read_ints(m, n, av, "axes", axes, CLRNN_MAX_DIMS, &na)) != CLRNN_OK) return st;
    } else {
        na = (size_t)r;
        for (int i = 0; i < r; ++i) axes[i] = i;
    }
    if (np != 2 * na)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%zu pads for %zu axes (2 per axis: all begins, then all ends)", np, na);
    int64_t begin[CLRNN_MAX_DIMS] = {0}, shape[CLRNN_MAX_DIMS];
    int seen[CLRNN_MAX_DIMS] = {0};
    memcpy(shape, x->shape, sizeof shape);
    for (size_t i = 0; i < na; ++i) {
        int a;
        if ((st = clrnn_ox_axis(n, axes[i], r, "axes element", &a)) != CLRNN_OK) return st;
        if (seen[a]) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "axis %d is padded twice", a);
        seen[a] = 1;
        const int64_t b = pads[i], e = pads[na + i], big = (int64_t)1 << 40;
        if (b < -big || b > big || e < -big || e > big)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "pads %lld, %lld on axis %d", (long long)b, (long long)e, a);
        begin[a] = b;
        shape[a] = x->shape[a] + b + e;
        if (shape[a] < 0)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "pads %lld, %lld make axis %d (size %lld) negative", (long long)b,
                                 (long long)e, a, (long long)x->shape[a]);
        if (x->shape[a] == 0 && shape[a] > 0 && s->mode != OX_PAD_CONSTANT)
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "cannot pad the empty axis %d in this mode", a);
    }
    ox_value *cv = ox_in(m, n, 2);
    if (cv && cv->count != 1)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "constant_value has %zu elements, expected 1", cv->count);
    if (cv && (st = clrnn_ox_to_host(m, cv)) != CLRNN_OK) return st;
    if (on_device(x->dtype)) {
        const float value = cv ? ((const float *)cv->host)[0] : s->value;
        if ((st = clrnn_ox_to_device(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_device(m, n, y, r, shape)) != CLRNN_OK)
            return st;
        return clrnn_ox_dev_pad(m, n, s->mode, value, x->mem, y->mem, r, shape, x->shape, begin);
    }
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_host(m, n, y, r, shape)) != CLRNN_OK) return st;
    if (y->count == 0) return CLRNN_OK;
    /* row by row: the source row of every output row once, then its elements (a scalar input is one row) */
    const size_t es = clrnn_dtype_size(x->dtype);
    const int last = r - 1;
    const int64_t row = r ? shape[last] : 1, xlen = r ? x->shape[last] : 1, b0 = r ? begin[last] : 0;
    int64_t istride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, x->shape, istride);
    unsigned char fill[8] = {0};
    if (cv) memcpy(fill, cv->host, es);
    for (size_t o = 0; o < y->count / (size_t)row; ++o) {
        int64_t rem = (int64_t)o, base = 0;
        int outside = 0;
        for (int k = last - 1; k >= 0; --k) {
            const int64_t j = pad_index(s->mode, rem % shape[k] - begin[k], x->shape[k]);
            rem /= shape[k];
            if (j < 0) outside = 1;
            else base += j * istride[k];
        }
        char *dst = (char *)y->host + o * (size_t)row * es;
        const char *src = (const char *)x->host + (size_t)base * es;
        for (int64_t t = 0; t < row; ++t) {
            const int64_t j = outside ? -1 : r ? pad_index(s->mode, t - b0, xlen) : 0;
            memcpy(dst + (size_t)t * es, j < 0 ? (const char *)fill : src + (size_t)j * es, es);
        }
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * ReverseSequence: the first sequence_lens[b] steps of every batch row reversed, the rest kept
 * ---------------------------------------------------------------------------------------- */
static clrnn_status reverse_sequence_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "batch_axis", 1, &s->batch_axis);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "time_axis", 0, &s->time_axis);
    if (st != CLRNN_OK) return st;
    if (!((s->batch_axis == 0 && s->time_axis == 1) || (s->batch_axis == 1 && s->time_axis == 0)))
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "batch_axis = %lld and time_axis = %lld (one must be 0, the other 1)",
                             (long long)s->batch_axis, (long long)s->time_axis);
    return ox_check_then_same_type(m, n, 1, "sequence_lens", OX_T_INT);
}

static clrnn_status reverse_sequence_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *lens = ox_in(m, n, 1), *y = ox_out(m, n, 0);
    const int r = x->ndim, ba = (int)s->batch_axis, ta = (int)s->time_axis;
    if (r < 2) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the input has rank %d (at least 2)", r);
    const int64_t B = x->shape[ba], T = x->shape[ta];
    clrnn_status st = clrnn_ox_to_host(m, lens);
    if (st != CLRNN_OK) return st;
    if (lens->ndim != 1 || lens->shape[0] != B)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "sequence_lens has %zu elements for a batch of %lld", lens->count,
                             (long long)B);
    for (int64_t b = 0; b < B; ++b) {
        const int64_t l = elem_i(lens, (size_t)b);
        if (l < 0 || l > T)
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                                 (long long)l, (long long)T);
    }
    const int dev = on_device(x->dtype);
    if ((st = to_side(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_out(m, n, y, r, x->shape)) != CLRNN_OK) return st;
    int64_t stride[CLRNN_MAX_DIMS], sstride[CLRNN_MAX_DIMS], shape[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, x->shape, stride);
    if ((st = clrnn_ox_copy(m, n, dev, x, 0, y, 0, r, x->shape, stride, stride)) != CLRNN_OK) return st;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t l = elem_i(lens, (size_t)b);
        if (l < 2) continue;
        memcpy(shape, x->shape, sizeof shape);
        memcpy(sstride, stride, sizeof sstride);
        shape[ba] = 1;
        shape[ta] = l;
        sstride[ta] = -stride[ta]; /* read the steps backwards */
        const int64_t base = b * stride[ba];
        if ((st = clrnn_ox_copy(m, n, dev, x, base + (l - 1) * stride[ta], y, base, r, shape, sstride, stride)) != CLRNN_OK)
            return st;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * GatherElements: out[i..] = data[i.. with index[i..] on `axis`]; the source offsets are worked
 * out (and checked) on the host, the data moved by the gather kernel
 * ---------------------------------------------------------------------------------------- */
/* GatherElements and ScatterElements: the flat offset into x of each element of ind, whose index
 * along `axis` is ind's value there (negative from the end) and elsewhere its own position. A
 * malloc'ed array of ind->count int32 (width 4) or int64 (width 8), or NULL with *st set. */
static void *element_offsets(ox_node *n, const ox_value *x, const ox_value *ind, int axis, size_t width,
                             clrnn_status *st) {
    const int r = x->ndim;
    void *out = malloc((ind->count ? ind->count : 1) * width);
    if (!out) {
        *st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s offsets", n->op_type);
        return NULL;
    }
    int64_t xs[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, x->shape, xs);
    const int64_t len = x->shape[axis];
    for (size_t i = 0; i < ind->count; ++i) {
        int64_t rem = (int64_t)i, off = 0;
        for (int k = r - 1; k >= 0; --k) {
            int64_t c = rem % ind->shape[k];
            rem /= ind->shape[k];
            if (k == axis) {
                c = elem_i(ind, i);
                if (c < -len || c >= len) {
                    free(out);
                    *st = clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "index %lld (element %zu of '%s') is outside "
                                        "[%lld, %lld)", (long long)c, i, ind->name, (long long)-len, (long long)len);
                    return NULL;
                }
                if (c < 0) c += len;
            }
            off += c * xs[k];
        }
        if (width == sizeof(int32_t)) ((int32_t *)out)[i] = (int32_t)off;
        else ((int64_t *)out)[i] = off;
    }
    *st = CLRNN_OK;
    return out;
}

static clrnn_status gather_elements_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", 0, &s->axis);
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 1, "indices", OX_T_INT) : st;
}

static clrnn_status gather_elements_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *ind = ox_in(m, n, 1), *y = ox_out(m, n, 0);
    const int r = x->ndim;
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, r, "axis", &axis);
    if (st != CLRNN_OK) return st;
    if (ind->ndim != r)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "indices have rank %d, the data rank %d", ind->ndim, r);
    for (int i = 0; i < r; ++i)
        if (i != axis && ind->shape[i] > x->shape[i])
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "indices have size %lld on axis %d, the data %lld",
                                 (long long)ind->shape[i], i, (long long)x->shape[i]);
    if ((st = clrnn_ox_to_host(m, ind)) != CLRNN_OK) return st;
    if (x->count > 0x7fffffff) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "data of %zu elements", x->count);
    /* x->count <= 2^31 - 1 (checked above), so every offset fits the gather kernel's int32 */
    int32_t *src = element_offsets(n, x, ind, axis, sizeof *src, &st);
    if (!src) return st;
    const int dev = on_device(x->dtype);
    if ((st = to_side(m, x)) == CLRNN_OK && (st = clrnn_ox_alloc_out(m, n, y, r, ind->shape)) == CLRNN_OK) {
        if (dev) {
            st = clrnn_ox_dev_gather(m, n, x->mem, y->mem, src, ind->count, 1, x->count, 1);
        } else {
            const size_t es = clrnn_dtype_size(x->dtype);
            for (size_t i = 0; i < ind->count; ++i)
                memcpy((char *)y->host + i * es, (const char *)x->host + (size_t)src[i] * es, es);
        }
    }
    free(src);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * ScatterND (host): out = data; out[indices[j]] (op)= updates[j], reduction none/add/mul (16),
 * max/min (18)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status scatter_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, unsigned index_types) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    char red[16];
    clrnn_status st = clrnn_ox_attr_string(n, p, "reduction", "none", red, sizeof red);
    if (st != CLRNN_OK) return st;
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    s->reduction = -1;
    for (int i = 0; i < 5; ++i)
        if (!strcmp(red, names[i])) s->reduction = i;
    if (s->reduction < 0 || (s->reduction > 0 && m->opset < 16) || (s->reduction > 2 && m->opset < 18))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "reduction '%s' at opset %lld", red, (long long)m->opset);
    if ((st = clrnn_ox_check_type(m, n, 1, "indices", index_types)) != CLRNN_OK) return st;
    const ox_value *x = ox_in(m, n, 0), *u = ox_in(m, n, 2);
    if (u->dtype != x->dtype || u->is_bool != x->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "updates are %s, the data %s", clrnn_ox_dtype_name(u->dtype, u->is_bool),
                             clrnn_ox_dtype_name(x->dtype, x->is_bool));
    if (s->reduction > 0 && x->is_bool) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "reduction '%s' on bool data", red);
    return ox_same_type_out(m, n);
}

/* Integers wrap (arithmetic on the unsigned type), like C and onnxruntime. */
static clrnn_status scatter_nd_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    return scatter_prepare(m, n, p, OX_T_I64);
}

static void scatter_apply(int red, clrnn_dtype dt, void *dst, const void *src) {
#define APPLY(T, UT)                                           \
    do {                                                       \
        T *d = dst;                                            \
        const T v = *(const T *)src;                           \
        switch (red) {                                         \
        case 1: *d = (T)((UT)*d + (UT)v); break;               \
        case 2: *d = (T)((UT)*d * (UT)v); break;               \
        case 3: *d = *d > v ? *d : v; break;                   \
        case 4: *d = *d < v ? *d : v; break;                   \
        default: *d = v; break;                                \
        }                                                      \
    } while (0)
    switch (dt) {
    case CLRNN_DTYPE_FLOAT32: APPLY(float, float); break;
    case CLRNN_DTYPE_INT32: APPLY(int32_t, uint32_t); break;
    case CLRNN_DTYPE_INT64: APPLY(int64_t, uint64_t); break;
    default: APPLY(uint8_t, unsigned); break;
    }
#undef APPLY
}

static clrnn_status scatter_nd_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *ind = ox_in(m, n, 1), *u = ox_in(m, n, 2), *y = ox_out(m, n, 0);
    const int r = x->ndim, q = ind->ndim;
    if (q < 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "indices must have rank 1 or more");
    const int64_t k = ind->shape[q - 1];
    if (k < 1 || k > r)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "index tuples of %lld elements into a rank-%d tensor", (long long)k, r);
    /* updates: indices.shape[:-1] + data.shape[k:] */
    int ok = u->ndim == q - 1 + r - (int)k;
    for (int i = 0; ok && i < q - 1; ++i) ok = u->shape[i] == ind->shape[i];
    for (int i = 0; ok && i < r - (int)k; ++i) ok = u->shape[q - 1 + i] == x->shape[k + i];
    if (!ok) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "updates of shape rank %d do not match indices and data", u->ndim);
    clrnn_status st;
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_to_host(m, ind)) != CLRNN_OK ||
        (st = clrnn_ox_to_host(m, u)) != CLRNN_OK)
        return st;
    const size_t es = clrnn_dtype_size(x->dtype);
    size_t slice = 1;
    for (int i = (int)k; i < r; ++i) slice *= (size_t)x->shape[i];
    int64_t xs[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, x->shape, xs);
    const size_t tuples = ind->count / (size_t)k;
    const int64_t *iv = ind->host;
    size_t *offs = malloc((tuples ? tuples : 1) * sizeof *offs);
    if (!offs) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "ScatterND offsets");
    for (size_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j) {
            int64_t c = iv[t * (size_t)k + (size_t)j];
            const int64_t d = x->shape[j];
            if (c < -d || c >= d) {
                free(offs);
                return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "index %lld (tuple %zu, element %lld) is outside [%lld, %lld)",
                                     (long long)c, t, (long long)j, (long long)-d, (long long)d);
            }
            off += (c < 0 ? c + d : c) * xs[j];
        }
        offs[t] = (size_t)off;
    }
    /* everything checked: now the output is written */
    if ((st = clrnn_ox_alloc_host(m, n, y, r, x->shape)) != CLRNN_OK) {
        free(offs);
        return st;
    }
    ox_memcpy(y->host, x->host, x->count * es);
    for (size_t t = 0; t < tuples; ++t)
        for (size_t e = 0; e < slice; ++e)
            scatter_apply(s->reduction, x->dtype, (char *)y->host + (offs[t] + e) * es,
                          (const char *)u->host + (t * slice + e) * es);
    free(offs);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * ScatterElements (host): out = data; out[i.. with indices[i..] on `axis`] (op)= updates[i..];
 * PyTorch's pad_packed_sequence(enforce_sorted=False) restores the batch order with it
 * ---------------------------------------------------------------------------------------- */
static clrnn_status scatter_elements_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    clrnn_status st = scatter_prepare(m, n, p, OX_T_INT);
    return st == CLRNN_OK ? clrnn_ox_attr_int(n, p, "axis", 0, &((data_state *)n->state)->axis) : st;
}

static clrnn_status scatter_elements_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *ind = ox_in(m, n, 1), *u = ox_in(m, n, 2), *y = ox_out(m, n, 0);
    const int r = x->ndim;
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, r, "axis", &axis);
    if (st != CLRNN_OK) return st;
    int ok = ind->ndim == r && u->ndim == r;
    for (int i = 0; ok && i < r; ++i) ok = u->shape[i] == ind->shape[i] && (i == axis || ind->shape[i] <= x->shape[i]);
    if (!ok)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "indices ('%s') and updates ('%s') must have one shape of the "
                             "data's rank %d, within the data's shape off the axis", ind->name, u->name, r);
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_to_host(m, ind)) != CLRNN_OK ||
        (st = clrnn_ox_to_host(m, u)) != CLRNN_OK)
        return st;
    int64_t *offs = element_offsets(n, x, ind, axis, sizeof *offs, &st);
    if (!offs) return st;
    if ((st = clrnn_ox_alloc_host(m, n, y, r, x->shape)) != CLRNN_OK) {
        free(offs);
        return st;
    }
    const size_t es = clrnn_dtype_size(x->dtype);
    ox_memcpy(y->host, x->host, x->count * es);
    for (size_t i = 0; i < ind->count; ++i)
        scatter_apply(s->reduction, x->dtype, (char *)y->host + (size_t)offs[i] * es, (const char *)u->host + i * es);
    free(offs);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Range (host): ceil((limit - start) / delta) elements start + i * delta
 * ---------------------------------------------------------------------------------------- */
static clrnn_status range_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    const ox_value *a = ox_in(m, n, 0);
    for (int i = 1; i < 3; ++i) {
        const ox_value *v = ox_in(m, n, i);
        if (v->dtype != a->dtype || v->is_bool)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "start, limit and delta must have one type (%s and %s)",
                                 clrnn_ox_dtype_name(a->dtype, a->is_bool), clrnn_ox_dtype_name(v->dtype, v->is_bool));
    }
    return ox_check_then_same_type(m, n, 0, "start", OX_T_F32 | OX_T_INT);
}

static clrnn_status range_run(clrnn_model *m, ox_node *n) {
    ox_value *v[3] = {ox_in(m, n, 0), ox_in(m, n, 1), ox_in(m, n, 2)}, *y = ox_out(m, n, 0);
    static const char *const names[] = {"start", "limit", "delta"};
    double d[3];
    int64_t iv[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
        if (v[i]->count != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s ('%s') must be a scalar, it has %zu elements", names[i],
                                 v[i]->name, v[i]->count);
        clrnn_status st = clrnn_ox_to_host(m, v[i]);
        if (st != CLRNN_OK) return st;
        if (v[i]->dtype == CLRNN_DTYPE_FLOAT32) d[i] = ((const float *)v[i]->host)[0];
        else d[i] = (double)(iv[i] = elem_i(v[i], 0));
    }
    if (d[2] == 0) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "delta is 0");
    double cnt = ceil((d[1] - d[0]) / d[2]);
    if (y->dtype != CLRNN_DTYPE_FLOAT32) { /* exact for integers: (limit - start) may not fit a double */
        const uint64_t step = iv[2] > 0 ? (uint64_t)iv[2] : 0 - (uint64_t)iv[2];
        const uint64_t span = iv[2] > 0 ? (iv[1] > iv[0] ? (uint64_t)iv[1] - (uint64_t)iv[0] : 0)
                                        : (iv[1] < iv[0] ? (uint64_t)iv[0] - (uint64_t)iv[1] : 0);
        cnt = (double)(span / step + (span % step != 0));
    }
    if (isnan(cnt)) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "start, limit or delta is not a number");
    if (cnt < 0) cnt = 0;
    if (cnt > 9.0e18) return clrnn_ox_fail(n, CLRNN_ERR_OVERFLOW, "a range of %g elements", cnt);
    const int64_t len = (int64_t)cnt;
    clrnn_status st = clrnn_ox_alloc_host(m, n, y, 1, &len);
    if (st != CLRNN_OK) return st;
    for (int64_t i = 0; i < len; ++i) {
        if (y->dtype == CLRNN_DTYPE_FLOAT32) ((float *)y->host)[i] = (float)(d[0] + (double)i * d[2]);
        else if (y->dtype == CLRNN_DTYPE_INT64) ((int64_t *)y->host)[i] = (int64_t)((uint64_t)iv[0] + (uint64_t)i * (uint64_t)iv[2]);
        else ((int32_t *)y->host)[i] = (int32_t)(uint32_t)((uint64_t)iv[0] + (uint64_t)i * (uint64_t)iv[2]);
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * ArgMax, ArgMin (host → int64): first occurrence, or the last with select_last_index (12)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status arg_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    s->largest = !strcmp(n->op_type, "ArgMax");
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", 0, &s->axis);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "keepdims", 1, &s->keepdims);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "select_last_index", 0, &s->last_index);
    if (st == CLRNN_OK) st = clrnn_ox_check_type(m, n, 0, "data", OX_T_F32 | OX_T_INT | OX_T(CLRNN_DTYPE_UINT8));
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_INT64, 0);
    return st;
}

static double elem_d(const ox_value *v, size_t i) {
    switch (v->dtype) {
    case CLRNN_DTYPE_FLOAT32: return ((const float *)v->host)[i];
    case CLRNN_DTYPE_UINT8: return ((const uint8_t *)v->host)[i];
    default: return (double)elem_i(v, i);
    }
}

/* a before b in the order TopK / ArgMax select: the larger (smaller) first, NaN first as the
 * largest (onnxruntime), ties by index */
static int ranks_before(double a, double b, int largest) {
    if (isnan(a) || isnan(b)) return isnan(a) && !isnan(b);
    return largest ? a > b : a < b;
}

static clrnn_status arg_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *y = ox_out(m, n, 0);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, x->ndim > 0 ? x->ndim : 1, "axis", &axis);
    if (st != CLRNN_OK) return st;
    const int64_t len = x->ndim ? x->shape[axis] : 1;
    if (len == 0) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s over an empty axis", n->op_type);
    int64_t shape[CLRNN_MAX_DIMS];
    int r = 0;
    size_t outer = 1, inner = 1;
    for (int i = 0; i < x->ndim; ++i) {
        if (i < axis) outer *= (size_t)x->shape[i];
        if (i > axis) inner *= (size_t)x->shape[i];
        if (i != axis) shape[r++] = x->shape[i];
        else if (s->keepdims) shape[r++] = 1;
    }
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK || (st = clrnn_ox_alloc_host(m, n, y, r, shape)) != CLRNN_OK) return st;
    int64_t *out = y->host;
    for (size_t o = 0; o < outer; ++o)
        for (size_t k = 0; k < inner; ++k) {
            const size_t base = o * (size_t)len * inner + k;
            int64_t best = 0;
            double bv = elem_d(x, base);
            for (int64_t j = 1; j < len; ++j) {
                const double v = elem_d(x, base + (size_t)j * inner);
                if (ranks_before(v, bv, (int)s->largest) || (s->last_index && !ranks_before(bv, v, (int)s->largest)))
                    best = j, bv = v;
            }
            out[o * inner + k] = best;
        }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * TopK (host): K from the attribute 'k' before opset 10, the input after; largest, sorted (11)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status topk_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    data_state *s = new_state(n);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", -1, &s->axis);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "largest", 1, &s->largest);
    if (st != CLRNN_OK) return st;
    int64_t sorted;
    if ((st = clrnn_ox_attr_int(n, p, "sorted", 1, &sorted)) != CLRNN_OK) return st; /* sorted = 0: any order, sorted is one */
    if (m->opset < 10) {
        if (n->n_in > 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "input 'K' needs opset 10");
        if ((st = clrnn_ox_attr_int_required(n, p, "k", &s->k)) != CLRNN_OK) return st;
        s->has_k = 1;
    } else {
        if (clrnn_ox_attr(p, "k")) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute 'k' was replaced by an input in opset 10");
        if (n->n_in < 2 || !ox_in(m, n, 1)) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input 'K' is required");
        if ((st = clrnn_ox_check_type(m, n, 1, "K", OX_T_I64)) != CLRNN_OK) return st;
    }
    if ((st = clrnn_ox_check_type(m, n, 0, "X", OX_T_F32 | OX_T_INT | OX_T(CLRNN_DTYPE_UINT8))) != CLRNN_OK) return st;
    ox_same_type_out(m, n);
    ox_set_out_type(m, n, 1, CLRNN_DTYPE_INT64, 0);
    return CLRNN_OK;
}

typedef struct rank_item {
    double v;
    int64_t i;
    int largest;
} rank_item;

static int rank_cmp(const void *pa, const void *pb) {
    const rank_item *a = pa, *b = pb;
    if (ranks_before(a->v, b->v, a->largest)) return -1;
    if (ranks_before(b->v, a->v, a->largest)) return 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static clrnn_status topk_run(clrnn_model *m, ox_node *n) {
    const data_state *s = n->state;
    ox_value *x = ox_in(m, n, 0), *kv = ox_in(m, n, 1), *vals = ox_out(m, n, 0), *idx = ox_out(m, n, 1);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, x->ndim, "axis", &axis);
    if (st != CLRNN_OK) return st;
    int64_t k = s->k;
    if (!s->has_k) {
        size_t c;
        if ((st = clrnn_ox_read_ints(m, n, kv, "K", &k, 1, &c)) != CLRNN_OK) return st;
        if (c != 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "K has %zu elements, expected 1", c);
    }
    const int64_t len = x->shape[axis];
    if (k < 0 || k > len)
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "K = %lld is outside [0, %lld] (axis %d of '%s')", (long long)k,
                             (long long)len, axis, x->name);
    int64_t shape[CLRNN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = k;
    size_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= (size_t)x->shape[i];
    for (int i = axis + 1; i < x->ndim; ++i) inner *= (size_t)x->shape[i];
    if ((st = clrnn_ox_to_host(m, x)) != CLRNN_OK) return st;
    if (vals && (st = clrnn_ox_alloc_host(m, n, vals, x->ndim, shape)) != CLRNN_OK) return st;
    if (idx && (st = clrnn_ox_alloc_host(m, n, idx, x->ndim, shape)) != CLRNN_OK) return st;
    rank_item *row = malloc((len ? (size_t)len : 1) * sizeof *row);
    if (!row) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "TopK row");
    const size_t es = clrnn_dtype_size(x->dtype);
    for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < inner; ++c) {
            const size_t base = o * (size_t)len * inner + c, obase = o * (size_t)k * inner + c;
            for (int64_t j = 0; j < len; ++j)
                row[j] = (rank_item){elem_d(x, base + (size_t)j * inner), j, (int)s->largest};
            qsort(row, (size_t)len, sizeof *row, rank_cmp);
            for (int64_t j = 0; j < k; ++j) {
                if (vals)
                    memcpy((char *)vals->host + (obase + (size_t)j * inner) * es,
                           (const char *)x->host + (base + (size_t)row[j].i * inner) * es, es);
                if (idx) ((int64_t *)idx->host)[obase + (size_t)j * inner] = row[j].i;
            }
        }
    free(row);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------ */
static const char *const no_attrs[] = {NULL};
static const char *const split_attrs[] = {"axis", "split", "num_outputs", NULL};
static const char *const axis_attrs[] = {"axis", NULL};
static const char *const pad_attrs[] = {"mode", "pads", "value", NULL};
static const char *const revseq_attrs[] = {"batch_axis", "time_axis", NULL};
static const char *const scatter_attrs[] = {"reduction", NULL};
static const char *const scatter_elements_attrs[] = {"axis", "reduction", NULL};
static const char *const arg_attrs[] = {"axis", "keepdims", "select_last_index", NULL};
static const char *const topk_attrs[] = {"axis", "largest", "sorted", "k", NULL};

const ox_op clrnn_ox_op_split = {"Split", 1, 2, 1, 64, split_attrs, split_prepare, split_run, NULL};
const ox_op clrnn_ox_op_flatten = {"Flatten", 1, 1, 1, 1, axis_attrs, flatten_prepare, flatten_run, NULL};
const ox_op clrnn_ox_op_tile = {"Tile", 2, 2, 1, 1, no_attrs, tile_prepare, tile_run, NULL};
const ox_op clrnn_ox_op_pad = {"Pad", 1, 4, 1, 1, pad_attrs, pad_prepare, pad_run, NULL};
const ox_op clrnn_ox_op_reverse_sequence = {"ReverseSequence", 2, 2, 1, 1, revseq_attrs, reverse_sequence_prepare,
                                            reverse_sequence_run, NULL};
const ox_op clrnn_ox_op_gather_elements = {"GatherElements", 2, 2, 1, 1, axis_attrs, gather_elements_prepare,
                                           gather_elements_run, NULL};
const ox_op clrnn_ox_op_scatter_nd = {"ScatterND", 3, 3, 1, 1, scatter_attrs, scatter_nd_prepare, scatter_nd_run, NULL};
const ox_op clrnn_ox_op_scatter_elements = {"ScatterElements", 3, 3, 1, 1, scatter_elements_attrs, scatter_elements_prepare,
                                            scatter_elements_run, NULL};
const ox_op clrnn_ox_op_range = {"Range", 3, 3, 1, 1, no_attrs, range_prepare, range_run, NULL};
const ox_op clrnn_ox_op_argmax = {"ArgMax", 1, 1, 1, 1, arg_attrs, arg_prepare, arg_run, NULL};
const ox_op clrnn_ox_op_argmin = {"ArgMin", 1, 1, 1, 1, arg_attrs, arg_prepare, arg_run, NULL};
const ox_op clrnn_ox_op_topk = {"TopK", 1, 2, 2, 2, topk_attrs, topk_prepare, topk_run, NULL};
