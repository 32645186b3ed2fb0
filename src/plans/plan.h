/* Kernel plans: how an rnn's layers run on the device. A plan is one table of operations (as
 * ggml's backend interface, oneDNN's strategy pointers set once in the constructor), one file each
 * (plan_tiled.c, plan_gpu.c, plan_generic.c) owning its private state in rnn->plan_state. clrnn_plan_choose
 * (plan.c) picks one at clrnn_rnn_create and nothing outside the plan files asks which it is: the
 * driver (forward.c) and the device memory (workspace.c) call through rnn->plan. A new plan is a
 * file defining its table and a row in plan.c. */
#ifndef CLRNN_PLAN_H
#define CLRNN_PLAN_H

#include "internal.h"

/* The plan's share of the workspace (workspace.c allocates, checks and releases every buffer; the
 * plan's own ones become rnn->ws.plan_buf[i]). Sizes in 4-byte elements. */
typedef struct clrnn_plan_buf {
    size_t per_step_row, per_batch_row; /* elements = per_step_row * T*N + per_batch_row * N */
    const char *what;                   /* names it in messages */
} clrnn_plan_buf;
typedef struct clrnn_plan_workspace {
    size_t xp_cols; /* columns of ws.x_proj per step row (all directions) */
    int n_bufs;
    clrnn_plan_buf bufs[CLRNN_PLAN_BUFS];
} clrnn_plan_workspace;

struct clrnn_plan_ops {
    const char *name; /* CLRNN_PLAN=<name>; the first word of clrnn_rnn_plan() */
    /* At clrnn_rnn_create, once D, G and Hr are set: the state strides r->Hs, r->Hc and the plan's
     * private state in r->plan_state. */
    clrnn_status (*init)(clrnn_rnn *r);
    /* Frees r->plan_state (NULL: nothing to free). */
    void (*release)(clrnn_rnn *r);
    /* Floats of scratch upload_layer repacks into (the driver adds room for the common tensors). */
    size_t (*upload_scratch)(const clrnn_rnn *r);
    /* Layer l's host weights into the plan's device layout: r->dw.WT, RT, bias, peep, projT [l]
     * (through clrnn_rnn_upload_buf). */
    clrnn_status (*upload_layer)(clrnn_rnn *r, int l, float *tmp);
    /* The plan's workspace needs beyond the common buffers. */
    void (*workspace)(const clrnn_rnn *r, clrnn_plan_workspace *w);
    /* Once per forward call, after the step table is on the device; tmap is its host copy
     * (NULL: nothing to do). */
    clrnn_status (*prepare)(clrnn_rnn *r, int T, int N, const int32_t *tmap);
    /* Layer l's input projection of every step and direction into ws.x_proj, from `in` at element
     * offset in_off ([T, N, I], or [N, T, I] when batch_major). */
    clrnn_status (*input_projection)(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off);
    /* Layer l's recurrence over all T steps into y_layer [T, N, D, Hr]; *final_idx = the state
     * buffer (ws.h[l][i], ws.c[l][i]) holding the final states. */
    clrnn_status (*scan_layer)(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx);
    /* The text of clrnn_rnn_plan (r is live; the context lock is not held). */
    void (*describe)(const clrnn_rnn *r, char *buf, size_t cap);
    /* Training (issue 13; src/train/train.h). Both plans run the portable implementation
     * (clrnn_train_portable_*); a plan with its own kernels replaces these per plan. The context
     * lock is held, the reserve sized, the trainable values on the device.
     * Layer l's training forward over the reserve's T steps: its output into the reserve, and what
     * the backward needs. */
    clrnn_status (*forward_train_layer)(clrnn_rnn *r, clrnn_reserve *res, int l);
    /* Layer l's reverse-time scan: from the gradient of its output (and of its final states) to
     * the gradients of its steps' gates, its initial states and its input. */
    clrnn_status (*scan_layer_backward)(clrnn_rnn *r, clrnn_reserve *res, int l);
    /* Layer l's weight gradients from the gate gradients of every step; beta 0 sets, 1 adds. */
    clrnn_status (*weight_gradient)(clrnn_rnn *r, clrnn_reserve *res, int l, float beta);
};

extern const clrnn_plan_ops clrnn_plan_tiled;
extern const clrnn_plan_ops clrnn_plan_generic;
extern const clrnn_plan_ops clrnn_plan_gpu;

/* plan_tiled_bwd.c: the tiled plan's scan_layer_backward (a fused persistent reverse scan; the
 * portable one for what it does not cover), and how many layers it has scanned in this process
 * (the tests check that their tiled runs took it). */
clrnn_status clrnn_tiled_scan_layer_backward(clrnn_rnn *r, clrnn_reserve *res, int l);
unsigned long clrnn_tiled_bwd_scans(void);
/* The loop iterations a work-item of the fused backward scan (tr_bwd_scan_MR) runs for T steps of
 * N rows, all in one launch (an upper bound, declared with clrnn_karg_loops): on a device with a
 * loop bound the scan runs only where it fits (clrnn_loop_fits), else the portable backward. */
long clrnn_tiled_bwd_scan_loops(const clrnn_rnn *r, int T, int N);

/* The plan for a new rnn on ctx: CLRNN_PLAN=<name> if set (a name no plan has picks the generic
 * plan), else the device's default (tiled on CPU devices, gpu on GPUs and on software rasterizers
 * such as llvmpipe, generic elsewhere). */
const clrnn_plan_ops *clrnn_plan_choose(const clrnn_context *ctx);
/* Why `plan` is ctx's default when the reason is not the device type alone (a software rasterizer
 * gets the gpu plan), for clrnn_rnn_plan(); NULL otherwise or when CLRNN_PLAN chose. */
const char *clrnn_plan_default_why(const clrnn_context *ctx, const clrnn_plan_ops *plan);

/* workspace.c: replaces *m by a read-only device copy of `data`, counted in r->dw.bytes and checked
 * against the device's limits first. */
clrnn_status clrnn_rnn_upload_buf(clrnn_rnn *r, cl_mem *m, const void *data, size_t bytes, const char *what);

/* workspace.c: float data into the rnn's storage type (desc.storage; fp16/bf16 rounded to nearest
 * even on the host), then as clrnn_rnn_upload_buf: what the plans upload W, R, the peepholes and the
 * projection with. count in elements. */
clrnn_status clrnn_rnn_upload_stored(clrnn_rnn *r, cl_mem *m, const float *data, size_t count, const char *what);
/* The host roundings (IEEE half, bfloat16 bits), round to nearest even like the device's stores. */
uint16_t clrnn_float_to_half(float f);
uint16_t clrnn_float_to_bf16(float f);

#endif
