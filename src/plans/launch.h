/* Kernel launches for the forward pass and training (plan_*.c, forward.c, train.c): the names
 * these modules use for src/core/launch.h's one binder and enqueue. begin() takes the kernel
 * (created on its first use, clrnn_kernel_get); arguments are set in order on a kargs, the first
 * failure is kept and reported by launch(), which names the kernel. */
#ifndef CLRNN_LAUNCH_H
#define CLRNN_LAUNCH_H

#include "core/launch.h"

typedef clrnn_kargs kargs;

static inline void a_at(kargs *a, cl_uint index, size_t size, const void *value) { clrnn_karg_at(a, index, size, value); }
static inline void a_mem(kargs *a, cl_mem m) { a_at(a, a->i++, sizeof m, &m); }
static inline void a_int(kargs *a, int v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_flt(kargs *a, float v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_ulong(kargs *a, cl_ulong v) { a_at(a, a->i++, sizeof v, &v); }
static inline void a_local(kargs *a, size_t bytes) { a_at(a, a->i++, bytes, NULL); }
static inline void a_set_mem(kargs *a, cl_uint index, cl_mem m) { a_at(a, index, sizeof m, &m); }
static inline void a_set_int(kargs *a, cl_uint index, int v) { a_at(a, index, sizeof v, &v); }

static inline kargs begin(clrnn_context *ctx, clrnn_kernel_id id, const char *name) {
    kargs a = clrnn_kargs_begin(NULL, name);
    a.st = clrnn_kernel_get(ctx, id, &a.k);
    return a;
}

/* begin() for one of the rnn's forward kernels: from the program of its storage type (the main
 * program for fp32; r->kernels is set at the rnn's first forward, clrnn_rnn_use_storage). */
static inline kargs begin_r(const clrnn_rnn *r, clrnn_kernel_id id, const char *name) {
    if (!r->kernels || r->elem == sizeof(float)) return begin(r->ctx, id, name);
    kargs a = clrnn_kargs_begin(NULL, name);
    a.st = clrnn_kernel_set_get(r->ctx, r->kernels, id, &a.k);
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
    const size_t global[3] = {(g0 + l0 - 1) / l0 * l0, g1, g2};
    const size_t local[3] = {l0, 1, 1};
    return clrnn_enqueue(ctx, a, 3, global, local, NULL);
}

#endif
