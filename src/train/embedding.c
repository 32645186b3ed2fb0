/* Embedding (clrnn_embedding): a [vocab, dim] table and its gradient on the device; forward gathers
 * rows by id, backward sums dx per id in a fixed order: the positions are sorted by id on the host
 * (a stable counting sort, so each id's positions stay in (n, t) order) and one work-item per
 * (id, column) adds them up, with no atomics (SET: every row of the table, so no clearing pass). Also Keras Masking (clrnn_mask_from_value). */
#include "train/glue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

clrnn_status clrnn_check_embedding(const clrnn_embedding *e, const char *func) {
    clrnn_status st = clrnn_check_handle(e, CLRNN_HANDLE_EMBEDDING, func, "emb");
    if (st != CLRNN_OK) return st;
    if (clrnn_handle_id(e->ctx, CLRNN_HANDLE_CONTEXT) != e->ctx_id)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: the context of embedding %p has been destroyed (destroy it before its context)", func,
                          (const void *)e);
    return CLRNN_OK;
}

void clrnn_embedding_param_buf(const clrnn_embedding *e, clrnn_param_buf *out) {
    out->value = e->table;
    out->grad = e->grad;
    out->count = (size_t)e->vocab * (size_t)e->dim;
    out->what = "embedding table";
}

static clrnn_status fill_zero(clrnn_context *ctx, cl_mem m, size_t bytes, const char *what) {
    const float zero = 0.0f;
    mtx_lock(&ctx->lock);
    const cl_int err = clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    mtx_unlock(&ctx->lock);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", what);
}

clrnn_status clrnn_embedding_create(clrnn_context *ctx, int vocab, int dim, int mask_zero, clrnn_embedding **out) {
    clrnn_clear_error();
    const char *F = "clrnn_embedding_create";
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: out is NULL", F);
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, F);
    if (st != CLRNN_OK) return st;
    if (vocab < 1 || dim < 1)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: vocab = %d and dim = %d must be >= 1", F, vocab, dim);
    if ((size_t)vocab * (size_t)dim > (size_t)0x7fffffff)
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s: vocab x dim = %d x %d exceeds 2^31", F, vocab, dim);
    const size_t bytes = (size_t)vocab * (size_t)dim * sizeof(float);
    if (bytes > ctx->info.max_alloc_bytes || 2 * bytes > ctx->info.global_mem_bytes)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: a table of %zu bytes (and its gradient) exceeds the device", F,
                          bytes);
    clrnn_embedding *e = calloc(1, sizeof *e);
    if (!e) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s", F);
    e->ctx = ctx, e->ctx_id = ctx->handle_id, e->vocab = vocab, e->dim = dim, e->mask_zero = mask_zero != 0;
    if ((st = clrnn_glue_buffer(ctx, bytes, NULL, &e->table, "embedding table")) == CLRNN_OK &&
        (st = clrnn_glue_buffer(ctx, bytes, NULL, &e->grad, "embedding gradient")) == CLRNN_OK &&
        (st = fill_zero(ctx, e->table, bytes, "embedding table")) == CLRNN_OK &&
        (st = fill_zero(ctx, e->grad, bytes, "embedding gradient")) == CLRNN_OK) {
        const cl_int err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clFinish", "embedding");
    }
    if (st == CLRNN_OK && !clrnn_handle_register(e, CLRNN_HANDLE_EMBEDDING))
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "embedding handle registry");
    if (st != CLRNN_OK) {
        if (e->table) clReleaseMemObject(e->table);
        if (e->grad) clReleaseMemObject(e->grad);
        free(e);
        return st;
    }
    *out = e;
    return CLRNN_OK;
}

void clrnn_embedding_destroy(clrnn_embedding *e) {
    if (!e) return;
    if (!clrnn_handle_unregister(e, CLRNN_HANDLE_EMBEDDING)) {
        clrnn_check_handle(e, CLRNN_HANDLE_EMBEDDING, "clrnn_embedding_destroy (ignored)", "emb");
        return;
    }
    /* OpenCL buffers hold their own reference to their cl_context: released even after the clrnn
     * context is gone (as an rnn's) */
    clReleaseMemObject(e->table);
    clReleaseMemObject(e->grad);
    free(e);
}

static clrnn_status check_count(const clrnn_embedding *e, const void *p, size_t count, const char *func) {
    if (!p) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: data is NULL", func);
    const size_t want = (size_t)e->vocab * (size_t)e->dim;
    if (count != want)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s: count %zu, the table [%d, %d] has %zu", func, count, e->vocab,
                          e->dim, want);
    return CLRNN_OK;
}

clrnn_status clrnn_embedding_set_table(clrnn_embedding *e, const float *data, size_t count) {
    clrnn_clear_error();
    const char *F = "clrnn_embedding_set_table";
    clrnn_status st = clrnn_check_embedding(e, F);
    if (st == CLRNN_OK) st = check_count(e, data, count, F);
    if (st != CLRNN_OK) return st;
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(data[i]))
            return clrnn_fail(CLRNN_ERR_NON_FINITE, "%s: table[%zu][%zu] = %g", F, i / (size_t)e->dim, i % (size_t)e->dim,
                              (double)data[i]);
    mtx_lock(&e->ctx->lock);
    const cl_int err = clEnqueueWriteBuffer(e->ctx->queue, e->table, CL_TRUE, 0, count * sizeof(float), data, 0, NULL, NULL);
    mtx_unlock(&e->ctx->lock);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueWriteBuffer", "embedding table");
}

static clrnn_status read_table(clrnn_embedding *e, cl_mem m, float *out, size_t count, const char *func) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_embedding(e, func);
    if (st == CLRNN_OK) st = check_count(e, out, count, func);
    if (st != CLRNN_OK) return st;
    cl_event ev = NULL;
    mtx_lock(&e->ctx->lock);
    cl_int err = clEnqueueReadBuffer(e->ctx->queue, m, CL_FALSE, 0, count * sizeof(float), out, 0, NULL, &ev);
    mtx_unlock(&e->ctx->lock);
    if (err == CL_SUCCESS) {
        err = clWaitForEvents(1, &ev);
        clReleaseEvent(ev);
    }
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueReadBuffer", func);
}

clrnn_status clrnn_embedding_get_table(clrnn_embedding *e, float *out, size_t count) {
    return read_table(e, e && clrnn_handle_id(e, CLRNN_HANDLE_EMBEDDING) ? e->table : NULL, out, count,
                      "clrnn_embedding_get_table");
}

clrnn_status clrnn_embedding_get_grad(clrnn_embedding *e, float *out, size_t count) {
    return read_table(e, e && clrnn_handle_id(e, CLRNN_HANDLE_EMBEDDING) ? e->grad : NULL, out, count,
                      "clrnn_embedding_get_grad");
}

/* The ids as int32 after checking every one against [0, vocab) (*out malloc'ed). */
static clrnn_status check_ids(const clrnn_embedding *e, const clrnn_ids *ids, const char *func, int32_t **out) {
    *out = NULL;
    if (!ids) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: ids is NULL", func);
    if (ids->batch < 1 || ids->seq_length < 1)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: ids batch = %d and seq_length = %d must be >= 1", func,
                          ids->batch, ids->seq_length);
    if (!ids->ids32 == !ids->ids64)
        return clrnn_fail(ids->ids32 ? CLRNN_ERR_INVALID_ARGUMENT : CLRNN_ERR_NULL_ARGUMENT,
                          "%s: give exactly one of ids32 and ids64", func);
    const size_t NT = (size_t)ids->batch * (size_t)ids->seq_length;
    if (NT * (size_t)e->dim > (size_t)0x7fffffff)
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s: batch x seq_length x dim = %d x %d x %d exceeds 2^31", func,
                          ids->batch, ids->seq_length, e->dim);
    for (size_t p = 0; p < NT; ++p) {
        const int64_t v = ids->ids32 ? (int64_t)ids->ids32[p] : ids->ids64[p];
        if (v < 0 || v >= e->vocab)
            return clrnn_fail(CLRNN_ERR_OUT_OF_RANGE, "%s: ids[%zu][%zu] = %lld is outside [0, %d)", func,
                              p / (size_t)ids->seq_length, p % (size_t)ids->seq_length, (long long)v, e->vocab);
    }
    int32_t *v = malloc(NT * sizeof *v);
    if (!v) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: %zu ids", func, NT);
    for (size_t p = 0; p < NT; ++p) v[p] = ids->ids32 ? ids->ids32[p] : (int32_t)ids->ids64[p];
    *out = v;
    return CLRNN_OK;
}

/* Reads a staged device result into host memory, or waits for it to be written to a device tensor. */
static clrnn_status finish_output(clrnn_context *ctx, cl_mem staged, void *host, size_t bytes, const char *what) {
    cl_int err;
    if (host) err = clEnqueueReadBuffer(ctx->queue, staged, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    else err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, host ? "clEnqueueReadBuffer" : "clFinish", what);
}

clrnn_status clrnn_embedding_forward(clrnn_embedding *e, const clrnn_ids *ids, clrnn_tensor x, uint8_t *mask,
                                     int32_t *lengths, int *right_padded) {
    clrnn_clear_error();
    const char *F = "clrnn_embedding_forward";
    clrnn_status st = clrnn_check_embedding(e, F);
    if (st != CLRNN_OK) return st;
    int32_t *v = NULL;
    if ((st = check_ids(e, ids, F, &v)) != CLRNN_OK) return st;
    const int N = ids->batch, T = ids->seq_length;
    const size_t NT = (size_t)N * T, bytes = NT * (size_t)e->dim * sizeof(float);
    clrnn_context *ctx = e->ctx;
    cl_mem idm = NULL, staged = NULL;
    if ((st = clrnn_glue_check_tensor(ctx, &x, bytes, 1, F, "x")) != CLRNN_OK) goto done;
    if ((st = clrnn_glue_ensure(ctx)) != CLRNN_OK) goto done;
    if ((st = clrnn_glue_buffer(ctx, NT * sizeof(int32_t), v, &idm, "embedding ids")) != CLRNN_OK) goto done;
    cl_mem out = x.mem;
    uint64_t off = x.offset / sizeof(float);
    if (!out) {
        if ((st = clrnn_glue_buffer(ctx, bytes, NULL, &staged, "embedding output staging")) != CLRNN_OK) goto done;
        out = staged, off = 0;
    }
    mtx_lock(&ctx->lock);
    glue_args k = clrnn_glue_begin(ctx, GLUE_K_emb_gather);
    glue_arg_mem(&k, e->table), glue_arg_int(&k, e->dim), glue_arg_mem(&k, idm), glue_arg_ulong(&k, NT);
    glue_arg_mem(&k, out), glue_arg_ulong(&k, off);
    st = clrnn_glue_launch(ctx, &k, NT * (size_t)e->dim);
    mtx_unlock(&ctx->lock);
    if (st == CLRNN_OK) st = finish_output(ctx, staged, x.host, bytes, "embedding output");
    if (st == CLRNN_OK && (mask || lengths || right_padded)) {
        uint8_t *m = mask ? mask : malloc(NT);
        if (!m) {
            st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: mask", F);
            goto done;
        }
        for (size_t p = 0; p < NT; ++p) m[p] = e->mask_zero ? v[p] != 0 : 1;
        clrnn_glue_mask_lengths(m, N, T, lengths, right_padded);
        if (!mask) free(m);
    }
done:
    if (idm) clReleaseMemObject(idm);
    if (staged) clReleaseMemObject(staged);
    free(v);
    return st;
}

clrnn_status clrnn_embedding_backward(clrnn_embedding *e, const clrnn_ids *ids, clrnn_tensor dx, clrnn_wgrad_mode mode) {
    clrnn_clear_error();
    const char *F = "clrnn_embedding_backward";
    clrnn_status st = clrnn_check_embedding(e, F);
    if (st != CLRNN_OK) return st;
    if (mode != CLRNN_WGRAD_SET && mode != CLRNN_WGRAD_ADD)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: mode %d is not a clrnn_wgrad_mode", F, (int)mode);
    int32_t *v = NULL;
    if ((st = check_ids(e, ids, F, &v)) != CLRNN_OK) return st;
    const size_t NT = (size_t)ids->batch * ids->seq_length, bytes = NT * (size_t)e->dim * sizeof(float);
    clrnn_context *ctx = e->ctx;
    int32_t *start = NULL, *pos = NULL, *uid = NULL, *counts = NULL;
    cl_mem pos_m = NULL, start_m = NULL, uid_m = NULL, staged = NULL;
    if ((st = clrnn_glue_check_tensor(ctx, &dx, bytes, 1, F, "dx")) != CLRNN_OK) goto done;
    /* stable counting sort of the positions by id */
    counts = calloc((size_t)e->vocab + 1, sizeof *counts);
    pos = malloc(NT * sizeof *pos);
    uid = malloc(NT * sizeof *uid);
    start = malloc((NT + 1) * sizeof *start);
    if (!counts || !pos || !uid || !start) {
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: sorting %zu ids", F, NT);
        goto done;
    }
    for (size_t p = 0; p < NT; ++p) counts[v[p] + 1]++;
    int U = 0;
    for (int id = 0; id < e->vocab; ++id) {
        if (counts[id + 1]) uid[U] = id, start[U] = counts[id], ++U;
        counts[id + 1] += counts[id]; /* counts[id] = first slot of id */
    }
    start[U] = (int32_t)NT;
    /* SET writes every row (by id: the prefix counts are the starts), ADD only the rows that occur */
    const int every = mode == CLRNN_WGRAD_SET;
    const int rows = every ? e->vocab : U;
    const int32_t *row_start = every ? counts : start;
    const size_t starts_bytes = ((size_t)rows + 1) * sizeof(int32_t);
    if ((st = clrnn_glue_ensure(ctx)) != CLRNN_OK) goto done;
    if ((st = clrnn_glue_buffer(ctx, starts_bytes, row_start, &start_m, "embedding id starts")) != CLRNN_OK) goto done;
    for (size_t p = 0; p < NT; ++p) pos[counts[v[p]]++] = (int32_t)p; /* counts[id] becomes id's end */
    if ((st = clrnn_glue_buffer(ctx, NT * sizeof(int32_t), pos, &pos_m, "embedding positions")) != CLRNN_OK ||
        (st = clrnn_glue_buffer(ctx, (size_t)U * sizeof(int32_t), uid, &uid_m, "embedding ids")) != CLRNN_OK)
        goto done;
    cl_mem d = NULL;
    uint64_t off = 0;
    if ((st = clrnn_glue_stage(ctx, &dx, bytes, &d, &off, &staged, "embedding dx")) != CLRNN_OK) goto done;
    mtx_lock(&ctx->lock);
    glue_args k = clrnn_glue_begin(ctx, GLUE_K_emb_scatter);
    glue_arg_mem(&k, d), glue_arg_ulong(&k, off), glue_arg_int(&k, e->dim), glue_arg_mem(&k, pos_m);
    glue_arg_mem(&k, start_m), glue_arg_mem(&k, uid_m), glue_arg_int(&k, rows), glue_arg_int(&k, every);
    glue_arg_mem(&k, e->grad), glue_arg_int(&k, !every);
    {   /* a work-item sums its id's occurrences: the most of any id, for the device's loop bound */
        long most = 0;
        for (int u = 0; u < U; ++u) most = start[u + 1] - start[u] > most ? start[u + 1] - start[u] : most;
        clrnn_karg_loops(&k, most + 1);
    }
    st = clrnn_glue_launch(ctx, &k, (size_t)rows * (size_t)e->dim);
    mtx_unlock(&ctx->lock);
    if (st == CLRNN_OK) {
        const cl_int err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clFinish", "embedding backward");
    }
done:
    if (pos_m) clReleaseMemObject(pos_m);
    if (start_m) clReleaseMemObject(start_m);
    if (uid_m) clReleaseMemObject(uid_m);
    if (staged) clReleaseMemObject(staged);
    free(v), free(counts), free(pos), free(uid), free(start);
    return st;
}

clrnn_status clrnn_mask_from_value(const float *x, int N, int T, int F_, float value, uint8_t *mask, int32_t *lengths,
                                   int *right_padded) {
    clrnn_clear_error();
    const char *F = "clrnn_mask_from_value";
    if (!x || !mask) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: %s is NULL", F, x ? "mask" : "x");
    if (N < 1 || T < 1 || F_ < 1)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: batch = %d, seq_length = %d and features = %d must be >= 1", F,
                          N, T, F_);
    size_t NT;
    if (!clrnn_mul_size((size_t)N, (size_t)T, &NT) || !clrnn_mul_size(NT, (size_t)F_, &(size_t){0}))
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s: batch x seq_length x features overflows", F);
    for (size_t p = 0; p < NT; ++p) {
        const float *s = x + p * (size_t)F_;
        uint8_t keep = 0;
        for (int f = 0; f < F_ && !keep; ++f) keep = s[f] != value; /* Keras: any(x != value) */
        mask[p] = keep;
    }
    clrnn_glue_mask_lengths(mask, N, T, lengths, right_padded);
    return CLRNN_OK;
}
