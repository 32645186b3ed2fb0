/* Kernel launches for the forward pass (plan_*.c, forward.c): arguments are set in order on a kargs,
 * the first failure is kept and reported by launch(), which names the kernel. */
#ifndef CLRNN_LAUNCH_H
#define CLRNN_LAUNCH_H

#include "internal.h"

typedef struct kargs {
    cl_kernel k;
    cl_uint i; /* next argument index */
    cl_int err;
    const char *name;
} kargs;

static inline void a_at(kargs *a, cl_uint index, size_t size, const void *value) {
    const cl_int e = clSetKernelArg(a->k, index, size, value);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static inline void a_mem(kargs *a, cl_mem m) { a_at(a, a->i++, sizeof m, &m); }
static inline void a_int(kargs *a, int v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_flt(kargs *a, float v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_ulong(kargs *a, cl_ulong v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_local(kargs *a, size_t bytes) { a_at(a, a->i++, bytes, NULL); }
static inline void a_set_mem(kargs *a, cl_uint index, cl_mem m) { a_at(a, index, sizeof m, &m); }
static inline void a_set_int(kargs *a, cl_uint index, int v) { a_at(a, index, sizeof v, &v); }

static inline kargs begin(clrnn_context *ctx, clrnn_kernel_id id, const char *name) {
    kargs a = {ctx->kernels[id], 0, CL_SUCCESS, name};
    return a;
}

/* begin() for one of the rnn's forward kernels: from the program of its storage type (the main
 * program for fp32; r->kernels is set at the rnn's first forward, clrnn_rnn_use_storage). */
static inline kargs begin_r(const clrnn_rnn *r, clrnn_kernel_id id, const char *name) {
    if (!r->kernels || r->elem == sizeof(float)) return begin(r->ctx, id, name);
    kargs a = {r->kernels[id], 0, CL_SUCCESS, name};
    return a;
}

/* Work-group width for a kernel over `units` outputs: a power of two up to 64, within the
 * kernel's limit. */
static inline size_t step_lws(clrnn_context *ctx, cl_kernel k, int units) {
    size_t lim = 64, kmax = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) == CL_SUCCESS &&
        kmax > 0 && kmax < lim)
        lim = kmax;
    size_t l = 1;
    while (l < (size_t)units && l < lim) l <<= 1;
    return l;
}

/* 3-D NDRange (g0 rounded up to the local size l0, g1, g2) with local size (l0, 1, 1). */
static inline clrnn_status launch(clrnn_context *ctx, kargs *a, size_t g0, size_t g1, size_t g2, size_t l0) {
    if (a->err != CL_SUCCESS) return clrnn_fail_cl(a->err, "clSetKernelArg", a->name);
    const size_t global[3] = {(g0 + l0 - 1) / l0 * l0, g1, g2};
    const size_t local[3] = {l0, 1, 1};
    const cl_int err = clEnqueueNDRangeKernel(ctx->queue, a->k, 3, NULL, global, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueNDRangeKernel", a->name);
}

#endif
