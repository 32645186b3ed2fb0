/* Losses with mean reduction (clrnn_loss): a row kernel computes each included row's loss, metric
 * and (softmax) max and log-sum-exp; the host sums the rows in double in row order (a fixed order,
 * and a refusal of non-finite inputs before any output is written); then the gradient kernel
 * writes dlogits = w_r / sum(w) * d(loss_r). */
#include "train/glue.h"

#include "cl/train/glue_abi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const F = "clrnn_loss";

/* Everything that needs no device: the arguments, the labels' range, the row weights. */
static clrnn_status check_args(const clrnn_context *ctx, const clrnn_loss_args *a, size_t *elems) {
    if (a->kind != CLRNN_LOSS_SOFTMAX_XENT && a->kind != CLRNN_LOSS_SIGMOID_BCE && a->kind != CLRNN_LOSS_MSE)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: kind %d is not a clrnn_loss_kind", F, (int)a->kind);
    if (a->rows < 1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: rows = %d must be >= 1", F, a->rows);
    if (a->cols < 1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: cols = %d must be >= 1", F, a->cols);
    const size_t R = (size_t)a->rows, C = (size_t)a->cols;
    if (R * C > (size_t)0x7fffffff)
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s: rows x cols = %d x %d exceeds 2^31", F, a->rows, a->cols);
    *elems = R * C;
    const size_t bytes = R * C * sizeof(float);
    const int xent = a->kind == CLRNN_LOSS_SOFTMAX_XENT;
    clrnn_status st;
    if ((st = clrnn_glue_check_tensor(ctx, &a->logits, bytes, 1, F, "logits")) != CLRNN_OK) return st;
    if ((st = clrnn_glue_check_tensor(ctx, &a->dlogits, bytes, 0, F, "dlogits")) != CLRNN_OK) return st;
    if (xent) {
        if (!a->labels) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: labels are required for SOFTMAX_XENT", F);
        if (a->targets.host || a->targets.mem)
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: SOFTMAX_XENT takes labels, not targets", F);
    } else {
        if ((st = clrnn_glue_check_tensor(ctx, &a->targets, bytes, 1, F, "targets")) != CLRNN_OK) return st;
        if (a->labels) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: labels are only for SOFTMAX_XENT", F);
    }
    for (int r = 0; r < a->rows; ++r) {
        if (a->row_weight && !(isfinite(a->row_weight[r]) && a->row_weight[r] >= 0.0f))
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: row_weight[%d] = %g must be finite and >= 0", F, r,
                              (double)a->row_weight[r]);
    }
    if (xent)
        for (int r = 0; r < a->rows; ++r) {
            const int in = (!a->row_mask || a->row_mask[r]) && (!a->row_weight || a->row_weight[r] > 0.0f);
            if (in && (a->labels[r] < 0 || a->labels[r] >= a->cols))
                return clrnn_fail(CLRNN_ERR_OUT_OF_RANGE, "%s: labels[%d] = %d is outside [0, %d)", F, r,
                                  (int)a->labels[r], a->cols);
        }
    return CLRNN_OK;
}

typedef struct loss_bufs {
    cl_mem labels, use, stats, scale, x_staged, z_staged, dl_staged;
} loss_bufs;

static void release_bufs(loss_bufs *b) {
    cl_mem all[] = {b->labels, b->use, b->stats, b->scale, b->x_staged, b->z_staged, b->dl_staged};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
        if (all[i]) clReleaseMemObject(all[i]);
}

clrnn_status clrnn_loss(clrnn_context *ctx, const clrnn_loss_args *a, clrnn_loss_result *result) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_context(ctx, F);
    if (st != CLRNN_OK) return st;
    if (!a) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: args is NULL", F);
    if (!result) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: result is NULL", F);
    size_t elems = 0;
    if ((st = check_args(ctx, a, &elems)) != CLRNN_OK) return st;
    const int R = a->rows, C = a->cols, xent = a->kind == CLRNN_LOSS_SOFTMAX_XENT;

    /* host side: which rows count and with what weight; labels of excluded rows are never read */
    double *w = malloc((size_t)R * sizeof *w);
    uint8_t *use = malloc((size_t)R);
    int32_t *labels = xent ? malloc((size_t)R * sizeof *labels) : NULL;
    float *stats = malloc((size_t)R * GLUE_STATS * sizeof *stats);
    float *scale = a->dlogits.host || a->dlogits.mem ? malloc((size_t)R * sizeof *scale) : NULL;
    loss_bufs b = {0};
    if (!w || !use || (xent && !labels) || !stats || ((a->dlogits.host || a->dlogits.mem) && !scale)) {
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: row buffers for %d rows", F, R);
        goto done;
    }
    double wsum = 0.0;
    for (int r = 0; r < R; ++r) {
        w[r] = (!a->row_mask || a->row_mask[r]) ? (a->row_weight ? (double)a->row_weight[r] : 1.0) : 0.0;
        use[r] = w[r] > 0.0;
        if (labels) labels[r] = use[r] ? a->labels[r] : 0;
        wsum += w[r];
    }
    if ((st = clrnn_glue_ensure(ctx)) != CLRNN_OK) goto done;
    const size_t bytes = elems * sizeof(float);
    cl_mem x, z = NULL;
    uint64_t x_off, z_off = 0;
    if ((st = clrnn_glue_stage(ctx, &a->logits, bytes, &x, &x_off, &b.x_staged, "loss logits")) != CLRNN_OK) goto done;
    if (!xent && (st = clrnn_glue_stage(ctx, &a->targets, bytes, &z, &z_off, &b.z_staged, "loss targets")) != CLRNN_OK)
        goto done;
    if ((st = clrnn_glue_buffer(ctx, (size_t)R, use, &b.use, "loss row mask")) != CLRNN_OK) goto done;
    if ((st = clrnn_glue_buffer(ctx, (size_t)R * sizeof(int32_t), labels, &b.labels, "loss labels")) != CLRNN_OK)
        goto done;
    if ((st = clrnn_glue_buffer(ctx, (size_t)R * GLUE_STATS * sizeof(float), NULL, &b.stats, "loss row stats")) !=
        CLRNN_OK)
        goto done;
    if (!z) z = b.stats; /* unused by SOFTMAX_XENT; any buffer for the argument */

    cl_event ev = NULL;
    mtx_lock(&ctx->lock);
    glue_args k = clrnn_glue_begin(ctx, GLUE_K_loss_rows);
    glue_arg_int(&k, (int)a->kind), glue_arg_int(&k, R), glue_arg_int(&k, C), glue_arg_mem(&k, x);
    glue_arg_ulong(&k, x_off), glue_arg_mem(&k, b.labels), glue_arg_mem(&k, z), glue_arg_ulong(&k, z_off);
    glue_arg_mem(&k, b.use), glue_arg_mem(&k, b.stats);
    clrnn_karg_loops(&k, 3L * C + 4); /* a row's three passes over its C columns (the device's loop bound) */
    st = clrnn_glue_launch(ctx, &k, (size_t)R);
    if (st == CLRNN_OK) {
        const cl_int err = clEnqueueReadBuffer(ctx->queue, b.stats, CL_FALSE, 0, (size_t)R * GLUE_STATS * sizeof(float),
                                               stats, 0, NULL, &ev);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clEnqueueReadBuffer", "loss row stats");
    }
    mtx_unlock(&ctx->lock);
    if (st != CLRNN_OK) goto done;
    cl_int err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    if (err != CL_SUCCESS) {
        st = clrnn_fail_cl(err, "clWaitForEvents", "loss row stats");
        goto done;
    }

    /* the rows in row order, in double: the same sum every run */
    double loss = 0.0, metric = 0.0;
    for (int r = 0; r < R; ++r) {
        if (!use[r]) continue;
        const float lr = stats[(size_t)r * GLUE_STATS + GLUE_STAT_LOSS];
        if (!isfinite(lr)) {
            st = clrnn_fail(CLRNN_ERR_NON_FINITE, "%s: row %d has a NaN or infinite %s", F, r,
                            xent ? "logit" : "logit or target");
            goto done;
        }
        loss += w[r] * (double)lr;
        metric += w[r] * (double)stats[(size_t)r * GLUE_STATS + GLUE_STAT_METRIC];
    }
    const double per_row = xent ? 1.0 : (double)C; /* BCE and MSE: also the mean over the columns */
    const double denom = wsum * per_row;

    if (scale) {
        for (int r = 0; r < R; ++r) scale[r] = wsum > 0.0 ? (float)(w[r] / denom) : 0.0f;
        if ((st = clrnn_glue_buffer(ctx, (size_t)R * sizeof(float), scale, &b.scale, "loss row scale")) != CLRNN_OK)
            goto done;
        cl_mem dl = a->dlogits.mem;
        uint64_t dl_off = a->dlogits.offset / sizeof(float);
        if (!dl) {
            if ((st = clrnn_glue_buffer(ctx, bytes, NULL, &b.dl_staged, "dlogits staging")) != CLRNN_OK) goto done;
            dl = b.dl_staged, dl_off = 0;
        }
        mtx_lock(&ctx->lock);
        glue_args g = clrnn_glue_begin(ctx, GLUE_K_loss_grad);
        glue_arg_int(&g, (int)a->kind), glue_arg_int(&g, R), glue_arg_int(&g, C), glue_arg_mem(&g, x);
        glue_arg_ulong(&g, x_off), glue_arg_mem(&g, b.labels), glue_arg_mem(&g, z), glue_arg_ulong(&g, z_off);
        glue_arg_mem(&g, b.scale), glue_arg_mem(&g, b.stats), glue_arg_mem(&g, dl), glue_arg_ulong(&g, dl_off);
        st = clrnn_glue_launch(ctx, &g, elems);
        mtx_unlock(&ctx->lock);
        if (st != CLRNN_OK) goto done;
        /* dlogits on the device: returns once its kernel is enqueued (the staged buffers released
         * below live until it ran) */
        if (a->dlogits.host) {
            err = clEnqueueReadBuffer(ctx->queue, dl, CL_TRUE, 0, bytes, a->dlogits.host, 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                st = clrnn_fail_cl(err, "clEnqueueReadBuffer", "dlogits");
                goto done;
            }
        } else if ((st = clrnn_train_end_call(ctx, 0, "dlogits")) != CLRNN_OK) {
            goto done;
        }
    }
    result->loss = wsum > 0.0 ? (float)(loss / denom) : 0.0f;
    result->metric = wsum > 0.0 ? (float)(metric / denom) : 0.0f;
    result->weight = wsum;
done:
    release_bufs(&b);
    free(w), free(use), free(labels), free(stats), free(scale);
    return st;
}
