/* Shape and data-movement operators: Constant, Shape, Gather, Unsqueeze, Squeeze, Concat,
 * ConstantOfShape, Slice, Transpose, Reshape, Identity, Cast, Expand (more in ops_data.c).
 *
 * Placement rule: float32 tensors are moved on the device (strided-copy and gather kernels), every
 * other type on the host, where the integer shape arithmetic of exported graphs lives. Each op
 * computes its output shape on the host, then one strided copy moves the data. */
#include "onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Output placement for data of type dt. */
static int on_device(clrnn_dtype dt) { return dt == CLRNN_DTYPE_FLOAT32; }
#define alloc_out clrnn_ox_alloc_out
#define copy_reshaped clrnn_ox_copy_reshaped

clrnn_status clrnn_ox_alloc_out(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape) {
    return on_device(v->dtype) ? clrnn_ox_alloc_device(m, n, v, ndim, shape) : clrnn_ox_alloc_host(m, n, v, ndim, shape);
}

/* out = in with a new shape of the same element count (Reshape, Squeeze, Unsqueeze, Identity). */
clrnn_status clrnn_ox_copy_reshaped(clrnn_model *m, const ox_node *n, ox_value *in, ox_value *out, int ndim,
                                    const int64_t *shape) {
    clrnn_status st;
    const int dev = on_device(in->dtype);
    if ((st = dev ? clrnn_ox_to_device(m, in) : clrnn_ox_to_host(m, in)) != CLRNN_OK) return st;
    const size_t in_count = in->count;
    if ((st = clrnn_ox_alloc_out(m, n, out, ndim, shape)) != CLRNN_OK) return st;
    if (out->count != in_count)
        return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "reshaped copy of %zu elements into %zu", in_count, out->count);
    const size_t bytes = in_count * clrnn_dtype_size(in->dtype);
    if (bytes == 0) return CLRNN_OK;
    if (!dev) {
        memcpy(out->host, in->host, bytes);
        return CLRNN_OK;
    }
    mtx_lock(&m->ctx->lock);
    cl_int err = clEnqueueCopyBuffer(m->ctx->queue, in->mem, out->mem, 0, 0, bytes, 0, NULL, NULL);
    mtx_unlock(&m->ctx->lock);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_ox_wrap(n, clrnn_fail_cl(err, "clEnqueueCopyBuffer", out->name));
}

/* ------------------------------------------------------------------------------------------
 * Constant
 * ---------------------------------------------------------------------------------------- */
typedef struct constant_state {
    clrnn_array value;
    int is_bool;
} constant_state;

static void constant_release(ox_node *n) {
    constant_state *s = n->state;
    if (s) clrnn_array_free(&s->value);
    free(s);
}

static clrnn_status constant_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    constant_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    if (p->n_attribute != 1)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "Constant needs exactly one value attribute, it has %zu",
                             p->n_attribute);
    const Onnx__AttributeProto *a = p->attribute[0];
    const char *name = a->name;
    clrnn_array *v = &s->value;
    clrnn_status st;
    if (!strcmp(name, "value")) {
        if (!a->t) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'value' holds no tensor");
        if ((st = clrnn_ox_tensor_decode(a->t, "Constant value", v, &s->is_bool)) != CLRNN_OK) return st;
    } else if (!strcmp(name, "value_float") || !strcmp(name, "value_int")) {
        const int f = name[6] == 'f';
        v->dtype = f ? CLRNN_DTYPE_FLOAT32 : CLRNN_DTYPE_INT64;
        v->ndim = 0;
        v->count = 1;
        if (!(v->data = malloc(8))) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "Constant");
        if (f) st = clrnn_ox_attr_float(n, p, name, 0, (float *)v->data);
        else st = clrnn_ox_attr_int(n, p, name, 0, (int64_t *)v->data);
        if (st != CLRNN_OK) return st;
    } else if (!strcmp(name, "value_floats") || !strcmp(name, "value_ints")) {
        const int f = name[6] == 'f';
        const void *src;
        size_t count;
        int present;
        if (f) st = clrnn_ox_attr_floats(n, p, name, (const float **)&src, &count, &present);
        else st = clrnn_ox_attr_ints(n, p, name, (const int64_t **)&src, &count, &present);
        if (st != CLRNN_OK) return st;
        v->dtype = f ? CLRNN_DTYPE_FLOAT32 : CLRNN_DTYPE_INT64;
        v->ndim = 1;
        v->shape[0] = (int64_t)count;
        v->count = count;
        const size_t bytes = count * clrnn_dtype_size(v->dtype);
        if (!(v->data = malloc(bytes ? bytes : 1))) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "Constant");
        if (bytes) memcpy(v->data, src, bytes);
    } else {
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute '%s' (sparse or string constants) is not supported", name);
    }
    ox_set_out_type(m, n, 0, v->dtype, s->is_bool);
    return CLRNN_OK;
}

static clrnn_status constant_run(clrnn_model *m, ox_node *n) {
    const constant_state *s = n->state;
    ox_value *out = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_alloc_host(m, n, out, s->value.ndim, s->value.shape);
    if (st == CLRNN_OK && s->value.count) memcpy(out->host, s->value.data, s->value.count * clrnn_dtype_size(out->dtype));
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Shape
 * ---------------------------------------------------------------------------------------- */
typedef struct shape_state {
    int64_t start, end;
    int has_end;
} shape_state;

static clrnn_status shape_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    shape_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "start", 0, &s->start);
    if (st == CLRNN_OK) st = clrnn_ox_attr_int(n, p, "end", INT64_MAX, &s->end);
    ox_set_out_type(m, n, 0, CLRNN_DTYPE_INT64, 0);
    return st;
}

static clrnn_status shape_run(clrnn_model *m, ox_node *n) {
    const shape_state *s = n->state;
    const ox_value *in = ox_in(m, n, 0);
    const int64_t r = in->ndim;
    int64_t a = s->start < 0 ? s->start + r : s->start, b = s->end < 0 ? s->end + r : s->end;
    a = a < 0 ? 0 : a > r ? r : a;
    b = b < 0 ? 0 : b > r ? r : b;
    const int64_t len = b > a ? b - a : 0;
    ox_value *out = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_alloc_host(m, n, out, 1, &len);
    for (int64_t i = 0; st == CLRNN_OK && i < len; ++i) ((int64_t *)out->host)[i] = in->shape[a + i];
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Gather
 * ---------------------------------------------------------------------------------------- */
typedef struct axis_state {
    int64_t axis;
    int has_axis;
} axis_state;

static clrnn_status gather_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    axis_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "axis", 0, &s->axis);
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 1, "indices", OX_T_INT) : st;
}

static clrnn_status gather_run(clrnn_model *m, ox_node *n) {
    const axis_state *s = n->state;
    ox_value *data = ox_in(m, n, 0), *ind = ox_in(m, n, 1), *out = ox_out(m, n, 0);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, data->ndim, "axis", &axis);
    if (st != CLRNN_OK) return st;
    const int r = data->ndim, q = ind->ndim;
    if (r - 1 + q > CLRNN_MAX_DIMS) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "result rank %d (at most %d)", r - 1 + q, CLRNN_MAX_DIMS);
    int64_t shape[CLRNN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; ++i) shape[k++] = data->shape[i];
    for (int i = 0; i < q; ++i) shape[k++] = ind->shape[i];
    for (int i = axis + 1; i < r; ++i) shape[k++] = data->shape[i];
    size_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= (size_t)data->shape[i];
    for (int i = axis + 1; i < r; ++i) inner *= (size_t)data->shape[i];
    const int64_t len = data->shape[axis];
    if ((st = clrnn_ox_to_host(m, ind)) != CLRNN_OK) return st;
    const size_t n_idx = ind->count;
    int32_t *idx = malloc((n_idx ? n_idx : 1) * sizeof *idx);
    if (!idx) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "gather indices");
    for (size_t j = 0; j < n_idx; ++j) {
        int64_t v = ind->dtype == CLRNN_DTYPE_INT64 ? ((const int64_t *)ind->host)[j] : ((const int32_t *)ind->host)[j];
        if (v < -len || v >= len) {
            free(idx);
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "index %lld (element %zu of '%s') is outside [%lld, %lld) "
                                 "for axis %d of '%s'", (long long)v, j, ind->name, (long long)-len, (long long)len,
                                 axis, data->name);
        }
        idx[j] = (int32_t)(v < 0 ? v + len : v);
    }
    const int dev = on_device(data->dtype);
    if ((st = dev ? clrnn_ox_to_device(m, data) : clrnn_ox_to_host(m, data)) == CLRNN_OK &&
        (st = alloc_out(m, n, out, k, shape)) == CLRNN_OK) {
        if (dev) {
            st = clrnn_ox_dev_gather(m, n, data->mem, out->mem, idx, n_idx, outer, (size_t)len, inner);
        } else {
            const size_t es = clrnn_dtype_size(data->dtype);
            for (size_t o = 0; o < outer; ++o)
                for (size_t j = 0; j < n_idx; ++j)
                    memcpy((char *)out->host + ((o * n_idx + j) * inner) * es,
                           (const char *)data->host + ((o * (size_t)len + (size_t)idx[j]) * inner) * es, inner * es);
        }
    }
    free(idx);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Unsqueeze, Squeeze: axes from an attribute (opset < 13) or the second input (opset >= 13)
 * ---------------------------------------------------------------------------------------- */
typedef struct axes_state {
    int64_t axes[CLRNN_MAX_DIMS];
    size_t n_axes;
    int has_axes; /* from the attribute */
} axes_state;

static clrnn_status axes_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, int required) {
    axes_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_axes_attr(m, n, p, 13, s->axes, &s->n_axes, &s->has_axes);
    if (st != CLRNN_OK) return st;
    if (m->opset < 13 && required && !s->has_axes) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'axes' is required");
    if (m->opset >= 13 && required && !ox_in(m, n, 1)) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input 'axes' is required");
    return ox_same_type_out(m, n);
}

/* The axes of this run (attribute or input); *given = 0 when neither is present. */
static clrnn_status run_axes(clrnn_model *m, ox_node *n, int64_t *axes, size_t *count, int *given) {
    const axes_state *s = n->state;
    ox_value *a = ox_in(m, n, 1);
    *given = s->has_axes || a;
    if (!a) {
        ox_memcpy(axes, s->axes, s->n_axes * sizeof *axes);
        *count = s->n_axes;
        return CLRNN_OK;
    }
    return clrnn_ox_read_ints(m, n, a, "axes", axes, CLRNN_MAX_DIMS, count);
}

static clrnn_status unsqueeze_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    return axes_prepare(m, n, p, 1);
}

static clrnn_status unsqueeze_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    int64_t axes[CLRNN_MAX_DIMS];
    size_t na;
    int given;
    clrnn_status st = run_axes(m, n, axes, &na, &given);
    if (st != CLRNN_OK) return st;
    const int r = in->ndim + (int)na;
    if (r > CLRNN_MAX_DIMS) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "result rank %d (at most %d)", r, CLRNN_MAX_DIMS);
    int is_new[CLRNN_MAX_DIMS] = {0};
    for (size_t i = 0; i < na; ++i) {
        int ax;
        if ((st = clrnn_ox_axis(n, axes[i], r, "axes element", &ax)) != CLRNN_OK) return st;
        if (is_new[ax]) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "axis %d is listed twice", ax);
        is_new[ax] = 1;
    }
    int64_t shape[CLRNN_MAX_DIMS];
    for (int i = 0, j = 0; i < r; ++i) shape[i] = is_new[i] ? 1 : in->shape[j++];
    return copy_reshaped(m, n, in, out, r, shape);
}

static clrnn_status squeeze_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    return axes_prepare(m, n, p, 0);
}

static clrnn_status squeeze_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    int64_t axes[CLRNN_MAX_DIMS];
    size_t na;
    int given;
    clrnn_status st = run_axes(m, n, axes, &na, &given);
    if (st != CLRNN_OK) return st;
    int drop[CLRNN_MAX_DIMS] = {0};
    if (!given) {
        for (int i = 0; i < in->ndim; ++i) drop[i] = in->shape[i] == 1;
    } else {
        for (size_t i = 0; i < na; ++i) {
            int ax;
            if ((st = clrnn_ox_axis(n, axes[i], in->ndim, "axes element", &ax)) != CLRNN_OK) return st;
            if (in->shape[ax] != 1)
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "cannot squeeze axis %d of '%s': its size is %lld, not 1",
                                     ax, in->name, (long long)in->shape[ax]);
            drop[ax] = 1;
        }
    }
    int64_t shape[CLRNN_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < in->ndim; ++i)
        if (!drop[i]) shape[r++] = in->shape[i];
    return copy_reshaped(m, n, in, out, r, shape);
}

/* ------------------------------------------------------------------------------------------
 * Concat
 * ---------------------------------------------------------------------------------------- */
static clrnn_status concat_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    axis_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int_required(n, p, "axis", &s->axis);
    if (st != CLRNN_OK) return st;
    const ox_value *first = NULL;
    for (int i = 0; i < n->n_in; ++i) {
        const ox_value *v = ox_in(m, n, i);
        if (!v) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input %d is empty", i);
        if (first && (v->dtype != first->dtype || v->is_bool != first->is_bool))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "inputs of different types (%s and %s)",
                                 clrnn_ox_dtype_name(first->dtype, first->is_bool), clrnn_ox_dtype_name(v->dtype, v->is_bool));
        if (!first) first = v;
    }
    return ox_same_type_out(m, n);
}

static clrnn_status concat_run(clrnn_model *m, ox_node *n) {
    const axis_state *s = n->state;
    ox_value *first = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    const int r = first->ndim;
    int axis;
    clrnn_status st = clrnn_ox_axis(n, s->axis, r, "axis", &axis);
    if (st != CLRNN_OK) return st;
    int64_t shape[CLRNN_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[axis] = 0;
    for (int i = 0; i < n->n_in; ++i) {
        const ox_value *v = ox_in(m, n, i);
        if (v->ndim != r)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input %d ('%s') has rank %d, input 0 has rank %d", i, v->name,
                                 v->ndim, r);
        for (int d = 0; d < r; ++d)
            if (d != axis && v->shape[d] != first->shape[d])
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "input %d ('%s') has size %lld on axis %d, input 0 has %lld",
                                     i, v->name, (long long)v->shape[d], d, (long long)first->shape[d]);
        shape[axis] += v->shape[axis];
    }
    const int dev = on_device(first->dtype);
    if ((st = alloc_out(m, n, out, r, shape)) != CLRNN_OK) return st;
    int64_t ostride[CLRNN_MAX_DIMS], istride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, out->shape, ostride);
    int64_t offset = 0;
    for (int i = 0; i < n->n_in && st == CLRNN_OK; ++i) {
        ox_value *v = ox_in(m, n, i);
        clrnn_ox_strides(r, v->shape, istride);
        st = clrnn_ox_copy(m, n, dev, v, 0, out, offset * ostride[axis], r, v->shape, istride, ostride);
        offset += v->shape[axis];
    }
    return st;
}

/* ------------------------------------------------------------------------------------------
 * ConstantOfShape
 * ---------------------------------------------------------------------------------------- */
static clrnn_status cos_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    constant_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, "value");
    clrnn_status st;
    if (a) {
        if (!a->t) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'value' holds no tensor");
        if ((st = clrnn_ox_tensor_decode(a->t, "ConstantOfShape value", &s->value, &s->is_bool)) != CLRNN_OK) return st;
        if (s->value.count != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute 'value' has %zu elements, expected 1", s->value.count);
    } else {
        s->value.dtype = CLRNN_DTYPE_FLOAT32;
        s->value.count = 1;
        if (!(s->value.data = calloc(1, sizeof(float)))) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "ConstantOfShape");
    }
    if ((st = clrnn_ox_check_type(m, n, 0, "input", OX_T_I64)) != CLRNN_OK) return st;
    ox_set_out_type(m, n, 0, s->value.dtype, s->is_bool);
    return CLRNN_OK;
}

static clrnn_status cos_run(clrnn_model *m, ox_node *n) {
    const constant_state *s = n->state;
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    if (in->ndim != 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the shape input must be 1-D, it has rank %d", in->ndim);
    int64_t shape[CLRNN_MAX_DIMS];
    size_t r;
    clrnn_status st = clrnn_ox_read_ints(m, n, in, "the shape input", shape, CLRNN_MAX_DIMS, &r);
    if (st != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_host(m, n, out, (int)r, shape)) != CLRNN_OK) return st;
    /* fill by doubling copies: a folded constant can be large (a per-element loop timed out under
     * fuzz_onnx on a ~1 GB shape) */
    const size_t es = clrnn_dtype_size(out->dtype), total = out->count * es;
    char *dst = out->host;
    if (total == 0) return CLRNN_OK;
    memcpy(dst, s->value.data, es);
    for (size_t done = es; done < total;) {
        const size_t chunk = done < total - done ? done : total - done;
        memcpy(dst + done, dst, chunk);
        done += chunk;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Slice: starts/ends/axes attributes before opset 10, inputs (with steps) from 10
 * ---------------------------------------------------------------------------------------- */
typedef struct slice_state {
    int64_t starts[CLRNN_MAX_DIMS], ends[CLRNN_MAX_DIMS], axes[CLRNN_MAX_DIMS];
    size_t n, n_axes;
} slice_state;

static clrnn_status slice_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    slice_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st;
    if (m->opset < 10) {
        if (n->n_in != 1) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "Slice before opset 10 takes one input");
        const int64_t *v[3];
        size_t c[3];
        int pr[3];
        const char *names[3] = {"starts", "ends", "axes"};
        for (int i = 0; i < 3; ++i)
            if ((st = clrnn_ox_attr_ints(n, p, names[i], &v[i], &c[i], &pr[i])) != CLRNN_OK) return st;
        if (!pr[0] || !pr[1] || c[0] != c[1] || (pr[2] && c[2] != c[0]) || c[0] > CLRNN_MAX_DIMS)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attributes starts and ends (and axes) must have equal lengths");
        ox_memcpy(s->starts, v[0], c[0] * sizeof(int64_t));
        ox_memcpy(s->ends, v[1], c[0] * sizeof(int64_t));
        if (pr[2]) ox_memcpy(s->axes, v[2], c[0] * sizeof(int64_t));
        s->n = c[0];
        s->n_axes = pr[2] ? c[2] : 0;
    } else {
        if (p->n_attribute) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "Slice from opset 10 takes no attributes");
        if (n->n_in < 3) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "inputs 'starts' and 'ends' are required");
        for (int i = 1; i < n->n_in; ++i)
            if ((st = clrnn_ox_check_type(m, n, i, "starts/ends/axes/steps", OX_T_INT)) != CLRNN_OK) return st;
    }
    return ox_same_type_out(m, n);
}

static clrnn_status slice_run(clrnn_model *m, ox_node *n) {
    const slice_state *s = n->state;
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    const int r = in->ndim;
    int64_t starts[CLRNN_MAX_DIMS], ends[CLRNN_MAX_DIMS], axes[CLRNN_MAX_DIMS], steps[CLRNN_MAX_DIMS];
    size_t k = s->n, ka = s->n_axes, ks = 0, ke;
    clrnn_status st;
    if (m->opset < 10) {
        memcpy(starts, s->starts, sizeof starts);
        memcpy(ends, s->ends, sizeof ends);
        memcpy(axes, s->axes, sizeof axes);
    } else {
        ox_value *va = ox_in(m, n, 3), *vs = ox_in(m, n, 4);
        if ((st = clrnn_ox_read_ints(m, n, ox_in(m, n, 1), "starts", starts, CLRNN_MAX_DIMS, &k)) != CLRNN_OK) return st;
        if ((st = clrnn_ox_read_ints(m, n, ox_in(m, n, 2), "ends", ends, CLRNN_MAX_DIMS, &ke)) != CLRNN_OK) return st;
        ka = 0;
        if (va && (st = clrnn_ox_read_ints(m, n, va, "axes", axes, CLRNN_MAX_DIMS, &ka)) != CLRNN_OK) return st;
        if (vs && (st = clrnn_ox_read_ints(m, n, vs, "steps", steps, CLRNN_MAX_DIMS, &ks)) != CLRNN_OK) return st;
        if (ke != k || (va && ka != k) || (vs && ks != k))
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "starts, ends, axes and steps must have equal lengths "
                                 "(%zu, %zu, %zu, %zu)", k, ke, va ? ka : k, vs ? ks : k);
        if (!va) ka = 0;
    }
    if (!ks)
        for (size_t i = 0; i < k; ++i) steps[i] = 1;
    if (!ka)
        for (size_t i = 0; i < k; ++i) axes[i] = (int64_t)i;
    int64_t shape[CLRNN_MAX_DIMS], stride[CLRNN_MAX_DIMS], sstride[CLRNN_MAX_DIMS];
    memcpy(shape, in->shape, sizeof shape);
    clrnn_ox_strides(r, in->shape, stride);
    memcpy(sstride, stride, sizeof sstride);
    int seen[CLRNN_MAX_DIMS] = {0};
    int64_t off = 0;
    for (size_t i = 0; i < k; ++i) {
        int ax;
        if ((st = clrnn_ox_axis(n, axes[i], r, "axes element", &ax)) != CLRNN_OK) return st;
        if (seen[ax]) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "axis %d is sliced twice", ax);
        seen[ax] = 1;
        const int64_t dim = in->shape[ax], step = steps[i];
        if (step == 0) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "step 0 on axis %d", ax);
        int64_t b = starts[i], e = ends[i];
        if (b < 0) b += dim;
        if (e < 0) e += dim;
        int64_t len; /* written so that steps up to ±2^63 cannot overflow */
        if (step > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > b ? (e - b - 1) / step + 1 : 0;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = b > e ? (step == INT64_MIN ? 1 : (b - e - 1) / -step + 1) : 0;
        }
        shape[ax] = len;
        if (len > 0) off += b * stride[ax];
        /* with two or more elements |step| < dim, so the product fits */
        sstride[ax] = len > 1 ? stride[ax] * step : stride[ax];
    }
    const int dev = on_device(in->dtype);
    if ((st = alloc_out(m, n, out, r, shape)) != CLRNN_OK) return st;
    int64_t dstride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, shape, dstride);
    return clrnn_ox_copy(m, n, dev, in, off, out, 0, r, shape, sstride, dstride);
}

/* ------------------------------------------------------------------------------------------
 * Transpose
 * ---------------------------------------------------------------------------------------- */
typedef struct perm_state {
    int64_t perm[CLRNN_MAX_DIMS];
    size_t n;
    int given;
} perm_state;

static clrnn_status transpose_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    perm_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    const int64_t *perm;
    clrnn_status st = clrnn_ox_attr_ints(n, p, "perm", &perm, &s->n, &s->given);
    if (st != CLRNN_OK) return st;
    if (s->n > CLRNN_MAX_DIMS) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "perm of %zu axes (at most %d)", s->n, CLRNN_MAX_DIMS);
    int seen[CLRNN_MAX_DIMS] = {0};
    for (size_t i = 0; i < s->n; ++i) {
        if (perm[i] < 0 || perm[i] >= (int64_t)s->n || seen[perm[i]])
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "perm is not a permutation of 0..%zu", s->n - 1);
        seen[perm[i]] = 1;
        s->perm[i] = perm[i];
    }
    return ox_same_type_out(m, n);
}

static clrnn_status transpose_run(clrnn_model *m, ox_node *n) {
    const perm_state *s = n->state;
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    const int r = in->ndim;
    int64_t perm[CLRNN_MAX_DIMS];
    if (s->given) {
        if ((int)s->n != r)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "perm has %zu axes, '%s' has rank %d", s->n, in->name, r);
        memcpy(perm, s->perm, sizeof perm);
    } else {
        for (int i = 0; i < r; ++i) perm[i] = r - 1 - i;
    }
    int64_t stride[CLRNN_MAX_DIMS], shape[CLRNN_MAX_DIMS], sstride[CLRNN_MAX_DIMS], dstride[CLRNN_MAX_DIMS];
    clrnn_ox_strides(r, in->shape, stride);
    for (int i = 0; i < r; ++i) {
        shape[i] = in->shape[perm[i]];
        sstride[i] = stride[perm[i]];
    }
    const int dev = on_device(in->dtype);
    clrnn_status st = alloc_out(m, n, out, r, shape);
    if (st != CLRNN_OK) return st;
    clrnn_ox_strides(r, shape, dstride);
    return clrnn_ox_copy(m, n, dev, in, 0, out, 0, r, shape, sstride, dstride);
}

/* ------------------------------------------------------------------------------------------
 * Reshape, Identity
 * ---------------------------------------------------------------------------------------- */
typedef struct reshape_state {
    int64_t allowzero;
} reshape_state;

static clrnn_status reshape_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    reshape_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int(n, p, "allowzero", 0, &s->allowzero);
    return st == CLRNN_OK ? ox_check_then_same_type(m, n, 1, "shape", OX_T_I64) : st;
}

static clrnn_status reshape_run(clrnn_model *m, ox_node *n) {
    const reshape_state *s = n->state;
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    int64_t shape[CLRNN_MAX_DIMS];
    size_t r;
    clrnn_status st = clrnn_ox_read_ints(m, n, ox_in(m, n, 1), "shape", shape, CLRNN_MAX_DIMS, &r);
    if (st != CLRNN_OK) return st;
    int infer = -1;
    size_t known = 1;
    for (size_t i = 0; i < r; ++i) {
        if (shape[i] == 0 && !s->allowzero) {
            if ((int)i >= in->ndim)
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "shape[%zu] = 0 copies a dimension '%s' (rank %d) "
                                     "does not have", i, in->name, in->ndim);
            shape[i] = in->shape[i];
        }
        if (shape[i] == -1) {
            if (infer >= 0) return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "shape has more than one -1");
            infer = (int)i;
        } else if (shape[i] < 0) {
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "shape[%zu] = %lld", i, (long long)shape[i]);
        } else {
            known *= (size_t)shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || in->count % known)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "cannot infer the -1 dimension: %zu elements into "
                                 "blocks of %zu", in->count, known);
        shape[infer] = (int64_t)(in->count / known);
        known *= (size_t)shape[infer];
    }
    if (known != in->count) {
        char buf[256] = "";
        size_t pos = 0;
        for (size_t i = 0; i < r && pos < sizeof buf; ++i)
            pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "cannot reshape '%s' (%zu elements) to [%s] (%zu elements)",
                             in->name, in->count, buf, known);
    }
    return copy_reshaped(m, n, in, out, (int)r, shape);
}

static clrnn_status identity_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    return ox_same_type_out(m, n);
}

static clrnn_status identity_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0);
    return copy_reshaped(m, n, in, ox_out(m, n, 0), in->ndim, in->shape);
}

/* ------------------------------------------------------------------------------------------
 * Cast (host)
 * ---------------------------------------------------------------------------------------- */
typedef struct cast_state {
    int64_t to;
} cast_state;

static clrnn_status cast_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    cast_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    clrnn_status st = clrnn_ox_attr_int_required(n, p, "to", &s->to);
    if (st != CLRNN_OK) return st;
    clrnn_dtype dt;
    int b;
    if (!clrnn_ox_dtype_from_onnx((int32_t)s->to, &dt, &b))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "cast to %s is not supported (FLOAT, INT32, INT64, UINT8, BOOL are)",
                             clrnn_ox_type_name((int32_t)s->to));
    ox_set_out_type(m, n, 0, dt, b);
    return CLRNN_OK;
}

/* float → integer: truncation toward zero, saturated at the type's range (NaN → 0). */
static int64_t sat(double x, double lo, double hi) {
    if (isnan(x)) return 0;
    if (x <= lo) return (int64_t)lo;
    if (x >= hi) return (int64_t)hi;
    return (int64_t)x;
}

/* Integer → integer and integer → float convert like C casts (wrapping, as ONNX Runtime does);
 * float → integer truncates and saturates; anything → bool is "!= 0". */
static clrnn_status cast_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    clrnn_status st = clrnn_ox_to_host(m, in);
    if (st != CLRNN_OK) return st;
    if ((st = clrnn_ox_alloc_host(m, n, out, in->ndim, in->shape)) != CLRNN_OK) return st;
    const void *src = in->host;
    void *dst = out->host;
    for (size_t i = 0; i < in->count; ++i) {
        if (in->dtype == CLRNN_DTYPE_FLOAT32) {
            const float x = ((const float *)src)[i];
            if (out->is_bool) ((unsigned char *)dst)[i] = x != 0.0f;
            else if (out->dtype == CLRNN_DTYPE_FLOAT32) ((float *)dst)[i] = x;
            else if (out->dtype == CLRNN_DTYPE_INT32) ((int32_t *)dst)[i] = (int32_t)sat(x, -2147483648.0, 2147483647.0);
            else if (out->dtype == CLRNN_DTYPE_INT64)
                ((int64_t *)dst)[i] = sat(x, -9223372036854775808.0, 9223372036854774784.0);
            else ((unsigned char *)dst)[i] = (unsigned char)sat(x, 0.0, 255.0);
            continue;
        }
        const int64_t x = in->dtype == CLRNN_DTYPE_INT64   ? ((const int64_t *)src)[i]
                          : in->dtype == CLRNN_DTYPE_INT32 ? ((const int32_t *)src)[i]
                                                           : ((const unsigned char *)src)[i];
        if (out->is_bool) ((unsigned char *)dst)[i] = x != 0;
        else if (out->dtype == CLRNN_DTYPE_FLOAT32) ((float *)dst)[i] = (float)x;
        else if (out->dtype == CLRNN_DTYPE_INT32) ((int32_t *)dst)[i] = (int32_t)(uint32_t)(uint64_t)x;
        else if (out->dtype == CLRNN_DTYPE_INT64) ((int64_t *)dst)[i] = x;
        else ((unsigned char *)dst)[i] = (unsigned char)(uint64_t)x;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Expand
 * ---------------------------------------------------------------------------------------- */
static clrnn_status expand_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    (void)p;
    return ox_check_then_same_type(m, n, 1, "shape", OX_T_I64);
}

static clrnn_status expand_run(clrnn_model *m, ox_node *n) {
    ox_value *in = ox_in(m, n, 0), *out = ox_out(m, n, 0);
    int64_t target[CLRNN_MAX_DIMS], shape[CLRNN_MAX_DIMS];
    size_t r;
    int ro;
    clrnn_status st = clrnn_ox_read_ints(m, n, ox_in(m, n, 1), "shape", target, CLRNN_MAX_DIMS, &r);
    if (st != CLRNN_OK) return st;
    if ((st = clrnn_ox_broadcast(n, in->ndim, in->shape, (int)r, target, &ro, shape)) != CLRNN_OK) return st;
    int64_t sstride[CLRNN_MAX_DIMS], dstride[CLRNN_MAX_DIMS];
    clrnn_ox_broadcast_strides(in->ndim, in->shape, ro, shape, sstride);
    const int dev = on_device(in->dtype);
    if ((st = alloc_out(m, n, out, ro, shape)) != CLRNN_OK) return st;
    clrnn_ox_strides(ro, shape, dstride);
    return clrnn_ox_copy(m, n, dev, in, 0, out, 0, ro, shape, sstride, dstride);
}

/* ------------------------------------------------------------------------------------------ */
static const char *const no_attrs[] = {NULL};
static const char *const constant_attrs[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                             "sparse_value", "value_string", "value_strings", NULL};
static const char *const shape_attrs[] = {"start", "end", NULL};
static const char *const axis_attrs[] = {"axis", NULL};
static const char *const axes_attrs[] = {"axes", NULL};
static const char *const cos_attrs[] = {"value", NULL};
static const char *const slice_attrs[] = {"starts", "ends", "axes", NULL};
static const char *const perm_attrs[] = {"perm", NULL};
static const char *const reshape_attrs[] = {"allowzero", NULL};
static const char *const cast_attrs[] = {"to", "saturate", NULL};

const ox_op clrnn_ox_op_constant = {"Constant", 0, 0, 1, 1, constant_attrs, constant_prepare, constant_run, constant_release};
const ox_op clrnn_ox_op_shape = {"Shape", 1, 1, 1, 1, shape_attrs, shape_prepare, shape_run, NULL};
const ox_op clrnn_ox_op_gather = {"Gather", 2, 2, 1, 1, axis_attrs, gather_prepare, gather_run, NULL};
const ox_op clrnn_ox_op_unsqueeze = {"Unsqueeze", 1, 2, 1, 1, axes_attrs, unsqueeze_prepare, unsqueeze_run, NULL};
const ox_op clrnn_ox_op_squeeze = {"Squeeze", 1, 2, 1, 1, axes_attrs, squeeze_prepare, squeeze_run, NULL};
const ox_op clrnn_ox_op_concat = {"Concat", 1, 1 << 20, 1, 1, axis_attrs, concat_prepare, concat_run, NULL};
const ox_op clrnn_ox_op_constant_of_shape = {"ConstantOfShape", 1, 1, 1, 1, cos_attrs, cos_prepare, cos_run, constant_release};
const ox_op clrnn_ox_op_slice = {"Slice", 1, 5, 1, 1, slice_attrs, slice_prepare, slice_run, NULL};
const ox_op clrnn_ox_op_transpose = {"Transpose", 1, 1, 1, 1, perm_attrs, transpose_prepare, transpose_run, NULL};
const ox_op clrnn_ox_op_reshape = {"Reshape", 2, 2, 1, 1, reshape_attrs, reshape_prepare, reshape_run, NULL};
const ox_op clrnn_ox_op_identity = {"Identity", 1, 1, 1, 1, no_attrs, identity_prepare, identity_run, NULL};
const ox_op clrnn_ox_op_cast = {"Cast", 1, 1, 1, 1, cast_attrs, cast_prepare, cast_run, NULL};
const ox_op clrnn_ox_op_expand = {"Expand", 2, 2, 1, 1, no_attrs, expand_prepare, expand_run, NULL};
