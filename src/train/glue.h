/* The training glue (losses, optimizers, embedding; clrnn.h "Training glue"): what its modules
 * share. The kernels (cl/train/glue.cl) are one program per context, obtained on first use through
 * program.c and kept in ctx->glue until the context is destroyed. */
#ifndef CLRNN_GLUE_H
#define CLRNN_GLUE_H

#include "core/launch.h"
#include "internal.h"
#include "train/train.h"

typedef enum glue_kernel_id {
    GLUE_K_loss_rows,
    GLUE_K_loss_grad,
    GLUE_K_sumsq_blocks,
    GLUE_K_opt_update,
    GLUE_K_emb_gather,
    GLUE_K_emb_scatter,
    GLUE_K_COUNT_
} glue_kernel_id;

/* The kept program's state (program.c owns the program and releases both with the context). */
struct clrnn_glue_program {
    cl_kernel k[GLUE_K_COUNT_];
};

/* Kernel arguments, set under the context lock (kernels are shared by the context's threads);
 * the first failing clSetKernelArg is kept. */
typedef clrnn_kargs glue_args; /* the library's one binder (core/launch.h) */
void glue_arg_mem(glue_args *a, cl_mem m);
void glue_arg_int(glue_args *a, int v);
void glue_arg_ulong(glue_args *a, uint64_t v);
void glue_arg_float(glue_args *a, float v);

/* Builds the glue program for ctx if it has none yet (one build per context, whichever thread
 * comes first). Call before taking ctx->lock. */
clrnn_status clrnn_glue_ensure(clrnn_context *ctx);
/* Starts a kernel's arguments; ctx->lock must be held (clrnn_glue_ensure done). */
glue_args clrnn_glue_begin(clrnn_context *ctx, glue_kernel_id id);
/* Enqueues a 1-D range of `count` work-items (nothing for 0); ctx->lock held. */
clrnn_status clrnn_glue_launch(clrnn_context *ctx, glue_args *a, size_t count);

/* A tensor argument of a glue call: exactly one of host/mem when required, a mem offset that is a
 * multiple of 4, a mem of ctx's OpenCL context holding `bytes` after its offset. */
clrnn_status clrnn_glue_check_tensor(const clrnn_context *ctx, const clrnn_tensor *t, size_t bytes, int required,
                                     const char *func, const char *name);
/* A device buffer of `bytes` (CL_MEM_COPY_HOST_PTR of `host` when given); *out NULL on failure. */
clrnn_status clrnn_glue_buffer(clrnn_context *ctx, size_t bytes, const void *host, cl_mem *out, const char *what);
/* Where a float tensor is on the device: the caller's mem (offset in floats), or a new buffer with
 * the host data (*staged, to release). */
clrnn_status clrnn_glue_stage(clrnn_context *ctx, const clrnn_tensor *t, size_t bytes, cl_mem *mem, uint64_t *off,
                              cl_mem *staged, const char *what);

/* Mask statistics shared by clrnn_mask_from_value and clrnn_embedding_forward: lengths[n] = the
 * steps before row n's first masked one; right_padded = every row ones then zeros. */
void clrnn_glue_mask_lengths(const uint8_t *mask, int N, int T, int32_t *lengths, int *right_padded);

struct clrnn_embedding {
    clrnn_context *ctx;
    uint64_t ctx_id;
    int vocab, dim, mask_zero;
    cl_mem table, grad; /* [vocab, dim] each */
};

/* The embedding's trainable tensor (its table and gradient), for the optimizer. */
void clrnn_embedding_param_buf(const clrnn_embedding *emb, clrnn_param_buf *out);
/* Entry check of the embedding functions (live handle, live context). */
clrnn_status clrnn_check_embedding(const clrnn_embedding *emb, const char *func);

/* The optimizer's step over a list of trainable tensors (clrnn_optimizer_step builds it from the
 * rnn and the embedding): the first call binds the optimizer to `owner` (an identity of the tensor
 * set) and to the tensors' counts; a later call with another owner or other counts is refused. */
clrnn_status clrnn_optimizer_step_bufs(clrnn_optimizer *opt, const clrnn_param_buf *bufs, int n, uint64_t owner,
                                       float *grad_norm);

#endif
