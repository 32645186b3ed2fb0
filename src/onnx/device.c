/* The ONNX glue kernels (kernels.cl, embedded with the files before it by tools/cmake/onnx.cmake):
 * one program per context, built on the first use by any of its models and kept with the context
 * (clrnn_program_kept: program.c's one path, the build options, the binary cache under the same
 * key rule and trust checks), and launched here. Every launch takes the context lock, like the
 * rest of the library, so the context's models can share the kernels; each kernel is created on
 * its first launch. */
#include "onnx_internal.h"

#include "core/launch.h"

#include <stdlib.h>
#include <string.h>

extern const clrnn_embedded_source clrnn_ox_sources[];
extern const size_t clrnn_ox_sources_count;

static void release_ox_kernels(void *state) {
    ox_kernels *k = state;
    cl_kernel all[] = {k->copy, k->gather, k->binary, k->unary, k->softmax, k->reduce, k->where, k->pad};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
        if (all[i]) clReleaseKernel(all[i]);
    memset(k, 0, sizeof *k);
}

/* The build's check: the program has every kernel (none is created here: on Rusticl each
 * clCreateKernel compiles, so a model pays only for the kernels it launches, ox_kernel). */
static clrnn_status make_ox_kernels(cl_program prog, void *user) {
    static const char *const names[] = {"ox_copy", "ox_unary", "ox_binary", "ox_gather",
                                        "ox_softmax", "ox_reduce", "ox_where", "ox_pad"};
    clrnn_status st = clrnn_program_has_kernels(prog, names, sizeof names / sizeof *names);
    if (st == CLRNN_OK) ((ox_kernels *)user)->program = prog;
    return st;
}

/* *slot, the kernel `name`, created on its first use. The context lock is held: one creator. */
static cl_int ox_kernel(ox_kernels *k, cl_kernel *slot, const char *name, cl_kernel *out) {
    cl_int err = CL_SUCCESS;
    if (!*slot) *slot = clCreateKernel(k->program, name, &err);
    if (err != CL_SUCCESS) *slot = NULL;
    *out = *slot;
    return err;
}

clrnn_status clrnn_ox_kernels_ensure(clrnn_model *m) {
    if (m->k) return CLRNN_OK;
    const clrnn_program_def def = {"the ONNX kernels", "clrnn-onnx-program-v1", clrnn_ox_sources, clrnn_ox_sources_count,
                                   0, make_ox_kernels};
    const clrnn_kept_program *kp;
    clrnn_status st = clrnn_program_kept(m->ctx, &def, sizeof(ox_kernels), release_ox_kernels, &kp);
    if (st != CLRNN_OK) return st;
    m->k = kp->state;
    m->kernels_from_cache = kp->from_cache;
    return CLRNN_OK;
}

/* ---------------------------------------------------------------------------------------- */

/* Arguments through the library's one binder and enqueue (core/launch.h). */
typedef clrnn_kargs launch_args;
static void arg_mem(launch_args *a, cl_mem m) { clrnn_karg_mem(a, m); }
static void arg_int(launch_args *a, int v) { clrnn_karg_int(a, v); }
static void arg_float(launch_args *a, float v) { clrnn_karg_float(a, v); }
static void arg_int8(launch_args *a, int ndim, const int64_t *v) {
    cl_int8 x;
    memset(&x, 0, sizeof x);
    for (int i = 0; i < ndim; ++i) x.s[i] = (cl_int)v[i];
    clrnn_karg(a, sizeof x, &x);
}

/* A 1-D range of `count` work-items (groups of 64) of a's kernel, the context lock held; the trace
 * names the node (its op type and escaped label). */
/* The arguments of kernel `name`, created on its first launch into *slot (the context lock held);
 * a kernel that cannot be created fails the launch with its name. */
static launch_args ox_begin(clrnn_model *m, cl_kernel *slot, const char *name) {
    launch_args a = clrnn_kargs_begin(NULL, name);
    const cl_int ce = ox_kernel(m->k, slot, name, &a.k);
    if (ce != CL_SUCCESS) a.st = clrnn_fail_cl(ce, "clCreateKernel", name);
    return a;
}

static clrnn_status enqueue_1d(clrnn_model *m, const ox_node *n, const launch_args *a, size_t count) {
    const size_t lws = 64, gws = (count + lws - 1) / lws * lws;
    char what[200];
    what[0] = '\0';
    if (clrnn_trace_on(m->ctx)) {
        char op[64], label[120];
        snprintf(what, sizeof what, "%s %s", n && n->op_type ? clrnn_esc(n->op_type, op, sizeof op) : "-",
                 n && n->label ? clrnn_esc(n->label, label, sizeof label) : "-");
    }
    return clrnn_enqueue(m->ctx, a, 1, &gws, &lws, what);
}

/* Sets the arguments (under the context lock, since kernels and queue are shared state) and
 * enqueues a 1-D range of `count` work-items. */
#define LAUNCH(m, n, kernel, name, count, ...)                                                                    \
    do {                                                                                                          \
        clrnn_status st_ = clrnn_ox_kernels_ensure(m);                                                            \
        if (st_ != CLRNN_OK) return clrnn_ox_wrap(n, st_);                                                        \
        if ((count) == 0) return CLRNN_OK;                                                                        \
        mtx_lock(&(m)->ctx->lock);                                                                                \
        launch_args a_ = ox_begin(m, &(m)->k->kernel, name);                                                       \
        launch_args *a = &a_;                                                                                     \
        __VA_ARGS__;                                                                                              \
        st_ = enqueue_1d(m, n, &a_, (size_t)(count));                                                            \
        mtx_unlock(&(m)->ctx->lock);                                                                              \
        return st_ == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st_);                                                \
    } while (0)

static int fits_int(int64_t v) { return v >= -(int64_t)0x7fffffff && v <= 0x7fffffff; }

clrnn_status clrnn_ox_dev_copy(clrnn_model *m, const ox_node *n, cl_mem src, int64_t src_off, cl_mem dst,
                               int64_t dst_off, int ndim, const int64_t *shape, const int64_t *sstride,
                               const int64_t *dstride) {
    int64_t count = 1;
    for (int i = 0; i < ndim; ++i) count *= shape[i];
    if (!fits_int(src_off) || !fits_int(dst_off) || !fits_int(count))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "tensor offsets beyond 2^31 elements");
    LAUNCH(m, n, copy, "ox_copy", count, {
        arg_mem(a, src), arg_int(a, (int)src_off), arg_mem(a, dst), arg_int(a, (int)dst_off);
        arg_int(a, (int)count), arg_int(a, ndim), arg_int8(a, ndim, shape), arg_int8(a, ndim, sstride);
        arg_int8(a, ndim, dstride);
        clrnn_karg_loops(a, ndim + 1L); /* its index over the ndim axes (the device's loop bound) */
    });
}

clrnn_status clrnn_ox_dev_gather(clrnn_model *m, const ox_node *n, cl_mem src, cl_mem dst, const int32_t *idx,
                                 size_t n_idx, size_t outer, size_t axis_len, size_t inner) {
    const size_t count = outer * n_idx * inner;
    if (count == 0) return CLRNN_OK;
    clrnn_status st = clrnn_ox_kernels_ensure(m);
    if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);
    cl_int err;
    cl_mem idx_mem = clCreateBuffer(m->ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_idx * sizeof(int32_t),
                                    (void *)idx, &err);
    if (err != CL_SUCCESS) return clrnn_ox_wrap(n, clrnn_fail_cl(err, "clCreateBuffer", "gather indices"));
    st = CLRNN_OK;
    mtx_lock(&m->ctx->lock);
    launch_args a_ = ox_begin(m, &m->k->gather, "ox_gather"), *a = &a_;
    arg_mem(a, src), arg_mem(a, idx_mem), arg_mem(a, dst), arg_int(a, (int)count), arg_int(a, (int)n_idx);
    arg_int(a, (int)axis_len), arg_int(a, (int)inner);
    st = enqueue_1d(m, n, &a_, count);
    /* the buffer is released once the kernel that reads it completes (OpenCL keeps it alive) */
    clReleaseMemObject(idx_mem);
    mtx_unlock(&m->ctx->lock);
    return st == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st);
}

clrnn_status clrnn_ox_dev_binary(clrnn_model *m, const ox_node *n, int op, cl_mem x, cl_mem z, cl_mem y, int ndim,
                                 const int64_t *shape, const int64_t *astride, const int64_t *bstride) {
    int64_t count = 1;
    for (int i = 0; i < ndim; ++i) count *= shape[i];
    LAUNCH(m, n, binary, "ox_binary", count, {
        arg_mem(a, x), arg_mem(a, z), arg_mem(a, y), arg_int(a, op), arg_int(a, (int)count), arg_int(a, ndim);
        arg_int8(a, ndim, shape), arg_int8(a, ndim, astride), arg_int8(a, ndim, bstride);
        clrnn_karg_loops(a, ndim + 1L); /* its index over the ndim axes (the device's loop bound) */
    });
}

clrnn_status clrnn_ox_dev_unary(clrnn_model *m, const ox_node *n, int op, cl_mem x, cl_mem y, size_t count,
                               float alpha, float beta) {
    LAUNCH(m, n, unary, "ox_unary", count, {
        arg_mem(a, x), arg_mem(a, y), arg_int(a, op), arg_int(a, (int)count), arg_float(a, alpha), arg_float(a, beta);
    });
}

clrnn_status clrnn_ox_dev_reduce(clrnn_model *m, const ox_node *n, int op, cl_mem x, cl_mem y, size_t count, int nkeep,
                                 const int64_t *kshape, const int64_t *kstride, int nred, const int64_t *rshape,
                                 const int64_t *rstride, size_t rcount) {
    LAUNCH(m, n, reduce, "ox_reduce", count, {
        arg_mem(a, x), arg_mem(a, y), arg_int(a, op), arg_int(a, (int)count), arg_int(a, nkeep);
        arg_int8(a, nkeep, kshape), arg_int8(a, nkeep, kstride), arg_int(a, nred), arg_int8(a, nred, rshape);
        arg_int8(a, nred, rstride), arg_int(a, (int)rcount);
        /* two passes over the reduced elements, each indexed over nred axes: refused past the
         * device's loop bound (core/launch.h) */
        clrnn_karg_loops(a, 2L * rcount * (nred + 1) + nkeep + 8);
    });
}

clrnn_status clrnn_ox_dev_pad(clrnn_model *m, const ox_node *n, int mode, float value, cl_mem x, cl_mem y, int ndim,
                              const int64_t *oshape, const int64_t *ishape, const int64_t *begin) {
    int64_t count = 1;
    for (int i = 0; i < ndim; ++i) count *= oshape[i];
    for (int i = 0; i < ndim; ++i)
        if (!fits_int(begin[i])) return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "pads beyond 2^31 elements");
    LAUNCH(m, n, pad, "ox_pad", count, {
        arg_mem(a, x), arg_mem(a, y), arg_int(a, mode), arg_float(a, value), arg_int(a, (int)count), arg_int(a, ndim);
        arg_int8(a, ndim, oshape), arg_int8(a, ndim, ishape), arg_int8(a, ndim, begin);
        clrnn_karg_loops(a, ndim + 1L); /* its index over the ndim axes (the device's loop bound) */
    });
}

clrnn_status clrnn_ox_dev_where(clrnn_model *m, const ox_node *n, const unsigned char *cond, size_t cond_count,
                                cl_mem x, cl_mem z, cl_mem y, int ndim, const int64_t *shape, const int64_t *cstride,
                                const int64_t *astride, const int64_t *bstride) {
    int64_t count = 1;
    for (int i = 0; i < ndim; ++i) count *= shape[i];
    if (count == 0) return CLRNN_OK;
    clrnn_status st = clrnn_ox_kernels_ensure(m);
    if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);
    /* the condition is a bool (host) tensor: it travels in a buffer of its own, like gather's indices */
    cl_int err;
    cl_mem c = clCreateBuffer(m->ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, cond_count ? cond_count : 1,
                              (void *)cond, &err);
    if (err != CL_SUCCESS) return clrnn_ox_wrap(n, clrnn_fail_cl(err, "clCreateBuffer", "Where condition"));
    mtx_lock(&m->ctx->lock);
    launch_args a_ = ox_begin(m, &m->k->where, "ox_where"), *a = &a_;
    arg_mem(a, c), arg_mem(a, x), arg_mem(a, z), arg_mem(a, y), arg_int(a, (int)count), arg_int(a, ndim);
    arg_int8(a, ndim, shape), arg_int8(a, ndim, cstride), arg_int8(a, ndim, astride), arg_int8(a, ndim, bstride);
    clrnn_karg_loops(a, ndim + 1L); /* its index over the ndim axes (the device's loop bound) */
    st = enqueue_1d(m, n, &a_, (size_t)count);
    clReleaseMemObject(c); /* kept alive by OpenCL until the kernel completes */
    mtx_unlock(&m->ctx->lock);
    return st == CLRNN_OK ? CLRNN_OK : clrnn_ox_wrap(n, st);
}

clrnn_status clrnn_ox_dev_softmax(clrnn_model *m, const ox_node *n, cl_mem x, cl_mem y, size_t outer, size_t len,
                                  size_t inner, int log_out) {
    const size_t rows = outer * inner;
    if (len == 0) return CLRNN_OK;
    LAUNCH(m, n, softmax, "ox_softmax", rows, {
        arg_mem(a, x), arg_mem(a, y), arg_int(a, (int)outer), arg_int(a, (int)len), arg_int(a, (int)inner);
        arg_int(a, log_out);
        clrnn_karg_loops(a, 4L * len + 4); /* four passes over the axis */
    });
}

clrnn_status clrnn_ox_dev_fill_zero(clrnn_model *m, const ox_node *n, cl_mem mem, size_t offset, size_t bytes) {
    return clrnn_ox_dev_fill(m, n, mem, offset, bytes, 0.0f);
}

clrnn_status clrnn_ox_dev_fill(clrnn_model *m, const ox_node *n, cl_mem mem, size_t offset, size_t bytes, float value) {
    if (bytes == 0) return CLRNN_OK;
    mtx_lock(&m->ctx->lock);
    cl_int err = clEnqueueFillBuffer(m->ctx->queue, mem, &value, sizeof value, offset, bytes, 0, NULL, NULL);
    mtx_unlock(&m->ctx->lock);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_ox_wrap(n, clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing"));
}
