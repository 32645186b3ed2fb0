/* Values of the graph: shape, dtype and up to two copies of the data (host, device) with flags
 * saying which is current. Ops ask for the side they compute on (clrnn_ox_to_host/_to_device) and
 * write a fresh copy on one side (clrnn_ox_alloc_host/_device), which invalidates the other.
 * Buffers grow and are reused from run to run. Also: shape arithmetic shared by the operators. */
#include "onnx_internal.h"

#include <stdlib.h>
#include <string.h>

clrnn_status clrnn_ox_shape_count(const ox_node *n, int ndim, const int64_t *shape, size_t *count) {
    size_t c = 1;
    if (ndim < 0 || ndim > CLRNN_MAX_DIMS)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "a result of rank %d (clrnn supports at most %d)", ndim, CLRNN_MAX_DIMS);
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] < 0)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "dimension %d of a result is %lld", i, (long long)shape[i]);
        if (!clrnn_mul_size(c, (size_t)shape[i], &c)) return clrnn_ox_fail(n, CLRNN_ERR_OVERFLOW, "a result's size overflows");
    }
    /* device kernels index with 32-bit ints */
    if (c > (size_t)0x7fffffff) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "a result has %zu elements (at most 2^31-1)", c);
    *count = c;
    return CLRNN_OK;
}

static void set_shape(ox_value *v, int ndim, const int64_t *shape, size_t count) {
    int64_t tmp[CLRNN_MAX_DIMS];
    memcpy(tmp, shape, (size_t)ndim * sizeof *tmp); /* shape may alias v->shape */
    v->ndim = ndim;
    memset(v->shape, 0, sizeof v->shape);
    memcpy(v->shape, tmp, (size_t)ndim * sizeof *tmp);
    v->count = count;
}

/* The model's budgets (D6 of the reliability review: a 3 KB file of ConstantOfShape nodes
 * folded into 64 maximal host tensors, an 81-byte Expand asked for a 4 GiB device buffer). Every
 * buffer of a value is counted while it lives; growing one gives the old size back. A refusal
 * leaves the value as it was (clrnn_model_set_input relies on it). */
static clrnn_status host_budget_check(const clrnn_model *m, const ox_value *v, size_t bytes) {
    const size_t others = m->host_bytes - v->host_cap;
    if (bytes > m->host_budget || others > m->host_budget - bytes)
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY,
                          "value '%s' needs %zu bytes on the host; with the %zu bytes the model's other host tensors "
                          "take, that is over its host budget of %zu bytes (CLRNN_MODEL_HOST_BUDGET)",
                          v->name ? v->name : "", bytes, others, m->host_budget);
    return CLRNN_OK;
}

static clrnn_status host_reserve(clrnn_model *m, ox_value *v, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= v->host_cap) return CLRNN_OK;
    clrnn_status st = host_budget_check(m, v, bytes);
    if (st != CLRNN_OK) return st;
    /* the old buffer stays until the new one exists: a failure leaves the value intact */
    void *p = malloc(bytes);
    if (!p) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "value '%s' (%zu bytes)", v->name, bytes);
    free(v->host);
    m->host_bytes += bytes - v->host_cap;
    v->host = p;
    v->host_cap = bytes;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_adopt_host(clrnn_model *m, ox_value *v, void *data, size_t bytes) {
    if (!bytes) bytes = 1; /* what clrnn_ox_tensor_decode allocates for an empty tensor */
    clrnn_status st = host_budget_check(m, v, bytes);
    if (st != CLRNN_OK) return st;
    free(v->host);
    m->host_bytes += bytes - v->host_cap;
    v->host = data;
    v->host_cap = bytes;
    return CLRNN_OK;
}

static clrnn_status device_reserve(clrnn_model *m, ox_value *v, size_t bytes) {
    if (bytes < 16) bytes = 16;
    if (bytes <= v->mem_cap) return CLRNN_OK;
    /* Checked before clCreateBuffer: PoCL aborts (an assertion) instead of failing an allocation it
     * cannot back, so the device's reported limits are the only guard. */
    const uint64_t max_alloc = m->ctx->info.max_alloc_bytes;
    if (max_alloc > 0 && bytes > max_alloc)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "value '%s' needs %zu bytes, the device allows %llu per buffer",
                          v->name, bytes, (unsigned long long)max_alloc);
    const size_t others = m->dev_bytes - v->mem_cap;
    if (bytes > m->dev_budget || others > m->dev_budget - bytes)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                          "value '%s' needs %zu bytes on the device; with the %zu bytes the model's other device "
                          "buffers take, that is over its device budget of %zu bytes (CLRNN_MODEL_DEVICE_BUDGET)",
                          v->name, bytes, others, m->dev_budget);
    if (v->mem) clReleaseMemObject(v->mem);
    m->dev_bytes -= v->mem_cap;
    v->mem = NULL;
    v->mem_cap = 0;
    cl_int err;
    v->mem = clCreateBuffer(m->ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        v->mem = NULL;
        v->on_device = 0; /* the old buffer is gone */
        return clrnn_fail_cl(err, "clCreateBuffer", v->name);
    }
    m->dev_bytes += bytes;
    v->mem_cap = bytes;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_alloc_host(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape) {
    size_t count = 0; /* set when CLRNN_OK; GCC 12 cannot tell once the call is inlined (hidden visibility) */
    clrnn_status st = clrnn_ox_shape_count(n, ndim, shape, &count);
    if (st != CLRNN_OK) return st;
    /* Host tensors hold shape arithmetic and small constants; a tiny file must not make the loader
     * page in gigabytes (found by fuzz_onnx: ConstantOfShape folded at load). */
    const size_t bytes = count * clrnn_dtype_size(v->dtype);
    if (bytes > CLRNN_OX_MAX_HOST_BYTES)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "value '%s' would take %zu bytes on the host (limit %d MiB)",
                             v->name ? v->name : "", bytes, CLRNN_OX_MAX_HOST_BYTES >> 20);
    if ((st = host_reserve(m, v, bytes)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
    set_shape(v, ndim, shape, count);
    v->on_host = 1;
    v->on_device = 0;
    v->has_data = 1;
    v->version++;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_alloc_device(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape) {
    if (v->dtype != CLRNN_DTYPE_FLOAT32)
        return clrnn_fail(CLRNN_ERR_INTERNAL, "value '%s' of type %s placed on the device", v->name,
                          clrnn_ox_dtype_name(v->dtype, v->is_bool));
    size_t count;
    clrnn_status st = clrnn_ox_shape_count(n, ndim, shape, &count);
    if (st != CLRNN_OK) return st;
    if ((st = device_reserve(m, v, count * sizeof(float))) != CLRNN_OK) return clrnn_ox_wrap(n, st);
    set_shape(v, ndim, shape, count);
    v->on_device = 1;
    v->on_host = 0;
    v->has_data = 1;
    v->version++;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_to_host(clrnn_model *m, ox_value *v) {
    if (v->on_host) return CLRNN_OK;
    if (!v->on_device) return clrnn_fail(CLRNN_ERR_INTERNAL, "value '%s' has no data", v->name);
    const size_t bytes = v->count * clrnn_dtype_size(v->dtype);
    clrnn_status st = host_reserve(m, v, bytes);
    if (st != CLRNN_OK) return st;
    if (bytes) {
        mtx_lock(&m->ctx->lock);
        cl_int err = clEnqueueReadBuffer(m->ctx->queue, v->mem, CL_TRUE, 0, bytes, v->host, 0, NULL, NULL);
        mtx_unlock(&m->ctx->lock);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueReadBuffer", v->name);
    }
    v->on_host = 1;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_to_device(clrnn_model *m, ox_value *v) {
    if (v->on_device) return CLRNN_OK;
    if (!v->on_host) return clrnn_fail(CLRNN_ERR_INTERNAL, "value '%s' has no data", v->name);
    if (v->dtype != CLRNN_DTYPE_FLOAT32)
        return clrnn_fail(CLRNN_ERR_INTERNAL, "value '%s' of type %s moved to the device", v->name,
                          clrnn_ox_dtype_name(v->dtype, v->is_bool));
    const size_t bytes = v->count * sizeof(float);
    clrnn_status st = device_reserve(m, v, bytes);
    if (st != CLRNN_OK) return st;
    if (bytes) {
        mtx_lock(&m->ctx->lock);
        cl_int err = clEnqueueWriteBuffer(m->ctx->queue, v->mem, CL_TRUE, 0, bytes, v->host, 0, NULL, NULL);
        mtx_unlock(&m->ctx->lock);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", v->name);
    }
    v->on_device = 1;
    return CLRNN_OK;
}

void clrnn_ox_value_release(clrnn_model *m, ox_value *v) {
    m->host_bytes -= v->host_cap;
    m->dev_bytes -= v->mem_cap;
    free(v->host);
    if (v->mem) clReleaseMemObject(v->mem);
    free(v->name);
    memset(v, 0, sizeof *v);
}

clrnn_status clrnn_ox_read_ints(clrnn_model *m, const ox_node *n, ox_value *v, const char *what, int64_t *out,
                                size_t cap, size_t *count) {
    /* an input that the operator needs here but the node left empty ("") (found by fuzz_onnx) */
    if (!v) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input %s is required but the node leaves it empty", what);
    if (v->dtype != CLRNN_DTYPE_INT64 && v->dtype != CLRNN_DTYPE_INT32)
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "%s must be int32 or int64, got %s", what,
                             clrnn_ox_dtype_name(v->dtype, v->is_bool));
    if (v->count > cap)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%s has %zu elements (at most %zu)", what, v->count, cap);
    clrnn_status st = clrnn_ox_to_host(m, v);
    if (st != CLRNN_OK) return st;
    for (size_t i = 0; i < v->count; ++i)
        out[i] = v->dtype == CLRNN_DTYPE_INT64 ? ((const int64_t *)v->host)[i] : ((const int32_t *)v->host)[i];
    *count = v->count;
    return CLRNN_OK;
}

void clrnn_ox_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; --i) {
        strides[i] = s;
        s *= shape[i];
    }
}

clrnn_status clrnn_ox_broadcast(const ox_node *n, int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                                int64_t *out) {
    const int r = na > nb ? na : nb;
    for (int i = 0; i < r; ++i) {
        const int ia = i - (r - na), ib = i - (r - nb);
        const int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a != b && a != 1 && b != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH,
                                 "shapes cannot be broadcast: dimension %d is %lld in one input and %lld in the other", i,
                                 (long long)a, (long long)b);
        out[i] = a == 1 ? b : a;
    }
    *nout = r;
    return CLRNN_OK;
}

void clrnn_ox_broadcast_strides(int nin, const int64_t *sin, int nout, const int64_t *sout, int64_t *strides) {
    int64_t own[CLRNN_MAX_DIMS];
    clrnn_ox_strides(nin, sin, own);
    for (int i = 0; i < nout; ++i) {
        const int j = i - (nout - nin);
        strides[i] = (j >= 0 && sin[j] == sout[i] && sin[j] != 1) ? own[j] : 0;
    }
}

void clrnn_ox_host_copy(const void *src, int64_t src_off, void *dst, int64_t dst_off, size_t elem, int ndim,
                        const int64_t *shape, const int64_t *sstride, const int64_t *dstride) {
    int64_t idx[CLRNN_MAX_DIMS] = {0};
    for (int i = 0; i < ndim; ++i)
        if (shape[i] == 0) return;
    int64_t so = src_off, d = dst_off;
    const unsigned char *s = src;
    unsigned char *o = dst;
    for (;;) {
        memcpy(o + (size_t)d * elem, s + (size_t)so * elem, elem);
        int k = ndim - 1;
        for (; k >= 0; --k) {
            so += sstride[k];
            d += dstride[k];
            if (++idx[k] < shape[k]) break;
            so -= sstride[k] * shape[k];
            d -= dstride[k] * shape[k];
            idx[k] = 0;
        }
        if (k < 0) break;
    }
}

clrnn_status clrnn_ox_copy(clrnn_model *m, const ox_node *n, int device, ox_value *src, int64_t src_off,
                           ox_value *dst, int64_t dst_off, int ndim, const int64_t *shape, const int64_t *sstride,
                           const int64_t *dstride) {
    clrnn_status st;
    if (device) {
        if ((st = clrnn_ox_to_device(m, src)) != CLRNN_OK) return st;
        return clrnn_ox_dev_copy(m, n, src->mem, src_off, dst->mem, dst_off, ndim, shape, sstride, dstride);
    }
    if ((st = clrnn_ox_to_host(m, src)) != CLRNN_OK) return st;
    clrnn_ox_host_copy(src->host, src_off, dst->host, dst_off, clrnn_dtype_size(src->dtype), ndim, shape, sstride, dstride);
    return CLRNN_OK;
}

clrnn_status clrnn_ox_axis(const ox_node *n, int64_t axis, int rank, const char *what, int *out) {
    if (axis < -(int64_t)rank || axis >= rank)
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "%s = %lld is outside [%d, %d) for rank %d", what,
                             (long long)axis, -rank, rank, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return CLRNN_OK;
}

void clrnn_ox_value_swap(ox_value *a, ox_value *b) {
    ox_value t = *a;
#define SWAP_FIELD(f) (a->f = b->f, b->f = t.f)
    SWAP_FIELD(ndim);
    SWAP_FIELD(count);
    SWAP_FIELD(host);
    SWAP_FIELD(host_cap);
    SWAP_FIELD(mem);
    SWAP_FIELD(mem_cap);
    SWAP_FIELD(on_host);
    SWAP_FIELD(on_device);
    SWAP_FIELD(has_data);
#undef SWAP_FIELD
    memcpy(a->shape, b->shape, sizeof a->shape);
    memcpy(b->shape, t.shape, sizeof b->shape);
    const uint64_t v = (a->version > b->version ? a->version : b->version) + 1;
    a->version = b->version = v;
}

clrnn_status clrnn_ox_value_assign(clrnn_model *m, const ox_node *n, ox_value *dst, ox_value *src) {
    clrnn_status st;
    const int64_t count = (int64_t)src->count, one = 1;
    if (src->dtype == CLRNN_DTYPE_FLOAT32 && src->on_device) {
        if ((st = clrnn_ox_alloc_device(m, n, dst, src->ndim, src->shape)) != CLRNN_OK) return st;
        return clrnn_ox_dev_copy(m, n, src->mem, 0, dst->mem, 0, 1, &count, &one, &one);
    }
    if ((st = clrnn_ox_to_host(m, src)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
    if ((st = clrnn_ox_alloc_host(m, n, dst, src->ndim, src->shape)) != CLRNN_OK) return st;
    ox_memcpy(dst->host, src->host, src->count * clrnn_dtype_size(src->dtype));
    return CLRNN_OK;
}

void clrnn_ox_value_drop(clrnn_model *m, ox_value *v) {
    m->host_bytes -= v->host_cap;
    m->dev_bytes -= v->mem_cap;
    free(v->host);
    if (v->mem) clReleaseMemObject(v->mem);
    v->host = NULL;
    v->mem = NULL;
    v->host_cap = v->mem_cap = 0;
    v->on_host = v->on_device = v->has_data = 0;
}
