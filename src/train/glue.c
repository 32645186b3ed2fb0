/* The training glue's program (cl/train/glue_abi.h + glue.cl, embedded by CMakeLists.txt): built
 * through program.c on the first call that needs it, one per context, released with the context;
 * and the helpers its modules share (kernel arguments, tensor checks, staging buffers, masks). */
#include "train/glue.h"

#include "cl/train/glue_abi.h"

#include <stdlib.h>
#include <string.h>
#include <threads.h>

_Static_assert(GLUE_LOSS_SOFTMAX_XENT == CLRNN_LOSS_SOFTMAX_XENT && GLUE_LOSS_SIGMOID_BCE == CLRNN_LOSS_SIGMOID_BCE &&
                   GLUE_LOSS_MSE == CLRNN_LOSS_MSE,
               "glue_abi.h loss kinds");
_Static_assert(GLUE_OPT_SGD == CLRNN_OPTIMIZER_SGD && GLUE_OPT_RMSPROP == CLRNN_OPTIMIZER_RMSPROP &&
                   GLUE_OPT_ADAM == CLRNN_OPTIMIZER_ADAM && GLUE_EPS_TORCH == CLRNN_EPS_TORCH &&
                   GLUE_EPS_KERAS == CLRNN_EPS_KERAS,
               "glue_abi.h optimizer kinds");

extern const clrnn_embedded_source clrnn_glue_sources[];
extern const size_t clrnn_glue_sources_count;

static const char *const glue_kernel_names[GLUE_K_COUNT_] = {"loss_rows", "loss_grad", "sumsq_blocks",
                                                              "opt_update", "emb_gather", "emb_scatter"};

/* ctx->glue is set once, under this lock (a context's first glue call may come from any thread);
 * the program itself is one of the context's kept programs (program.c), released with it. */
static once_flag glue_once = ONCE_FLAG_INIT;
static mtx_t glue_lock;
static void glue_lock_init(void) { mtx_init(&glue_lock, mtx_plain); }

static void release_glue_kernels(void *state) {
    struct clrnn_glue_program *g = state;
    for (int i = 0; i < GLUE_K_COUNT_; ++i) {
        if (g->k[i]) clReleaseKernel(g->k[i]);
        g->k[i] = NULL;
    }
}

static clrnn_status make_glue_kernels(cl_program prog, void *user) {
    struct clrnn_glue_program *g = user;
    for (int i = 0; i < GLUE_K_COUNT_; ++i) {
        cl_int err;
        g->k[i] = clCreateKernel(prog, glue_kernel_names[i], &err);
        if (err != CL_SUCCESS) {
            g->k[i] = NULL;
            release_glue_kernels(g);
            return clrnn_fail_cl(err, "clCreateKernel", glue_kernel_names[i]);
        }
    }
    return CLRNN_OK;
}

clrnn_status clrnn_glue_ensure(clrnn_context *ctx) {
    call_once(&glue_once, glue_lock_init);
    mtx_lock(&glue_lock);
    clrnn_status st = CLRNN_OK;
    if (!ctx->glue) {
        const clrnn_program_def def = {"the training glue kernels", "clrnn-glue-program-v1", clrnn_glue_sources,
                                       clrnn_glue_sources_count, 0, make_glue_kernels};
        const clrnn_kept_program *kp;
        st = clrnn_program_kept(ctx, &def, sizeof(struct clrnn_glue_program), release_glue_kernels, &kp);
        if (st == CLRNN_OK) ctx->glue = kp->state;
    }
    mtx_unlock(&glue_lock);
    return st;
}

glue_args clrnn_glue_begin(clrnn_context *ctx, glue_kernel_id id) {
    return clrnn_kargs_begin(ctx->glue->k[id], glue_kernel_names[id]);
}

void glue_arg_mem(glue_args *a, cl_mem m) { clrnn_karg_mem(a, m); }
void glue_arg_int(glue_args *a, int v) { clrnn_karg_int(a, v); }
void glue_arg_ulong(glue_args *a, uint64_t v) { clrnn_karg_ulong(a, (cl_ulong)v); }
void glue_arg_float(glue_args *a, float v) { clrnn_karg_float(a, v); }

clrnn_status clrnn_glue_launch(clrnn_context *ctx, glue_args *a, size_t count) {
    if (a->err != CL_SUCCESS) return clrnn_fail_cl(a->err, "clSetKernelArg", a->name);
    if (count == 0) return CLRNN_OK;
    const size_t lws = 64, gws = (count + lws - 1) / lws * lws;
    return clrnn_enqueue(ctx, a, 1, &gws, &lws, NULL);
}

clrnn_status clrnn_glue_check_tensor(const clrnn_context *ctx, const clrnn_tensor *t, size_t bytes, int required,
                                     const char *func, const char *name) {
    if (t->host && t->mem)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s: set either host or mem, not both", func, name);
    if (!t->host && !t->mem) {
        if (required) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: %s is required", func, name);
        return CLRNN_OK;
    }
    if (!t->mem) return CLRNN_OK;
    if (t->offset % sizeof(float))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s: offset %zu is not a multiple of 4 bytes", func, name,
                          t->offset);
    cl_context owner = NULL;
    cl_int err = clGetMemObjectInfo(t->mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err != CL_SUCCESS)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s.mem is not a valid cl_mem (%s)", func, name,
                          clrnn_cl_error_name(err));
    if (owner != ctx->cl_ctx)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s.mem belongs to another OpenCL context", func, name);
    size_t size = 0;
    err = clGetMemObjectInfo(t->mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetMemObjectInfo", name);
    if (t->offset > size || size - t->offset < bytes)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s: %s: buffer holds %zu bytes after offset %zu, needs %zu", func,
                          name, size > t->offset ? size - t->offset : 0, t->offset, bytes);
    return CLRNN_OK;
}

clrnn_status clrnn_glue_buffer(clrnn_context *ctx, size_t bytes, const void *host, cl_mem *out, const char *what) {
    cl_int err;
    *out = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0), bytes ? bytes : 4,
                          (void *)host, &err);
    if (err == CL_SUCCESS) return CLRNN_OK;
    *out = NULL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: %zu bytes of device memory (%s)", what, bytes,
                          clrnn_cl_error_name(err));
    return clrnn_fail_cl(err, "clCreateBuffer", what);
}

clrnn_status clrnn_glue_stage(clrnn_context *ctx, const clrnn_tensor *t, size_t bytes, cl_mem *mem, uint64_t *off,
                              cl_mem *staged, const char *what) {
    *staged = NULL;
    if (t->mem) {
        *mem = t->mem;
        *off = t->offset / sizeof(float);
        return CLRNN_OK;
    }
    *off = 0;
    clrnn_status st = clrnn_glue_buffer(ctx, bytes, t->host, staged, what);
    *mem = *staged;
    return st;
}

void clrnn_glue_mask_lengths(const uint8_t *mask, int N, int T, int32_t *lengths, int *right_padded) {
    int suffix = 1;
    for (int n = 0; n < N; ++n) {
        const uint8_t *m = mask + (size_t)n * T;
        int len = 0;
        while (len < T && m[len]) ++len;
        for (int t = len; t < T; ++t)
            if (m[t]) suffix = 0;
        if (lengths) lengths[n] = len;
    }
    if (right_padded) *right_padded = suffix;
}
