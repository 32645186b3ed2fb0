/* The forward pass: layers × (input projection for all steps and directions → recurrent scan,
 * the rnn's plan, plan.h) → merge → optional dense, on the step table (step_table.c) and the rnn's device memory
 * (workspace.c). Outputs are written in the user's layout; every argument is checked before any
 * device work. */
#include "cl/abi.h"
#include "cells.h"
#include "forward.h"
#include "train/train.h"
#include "plans/launch.h"
#include "plans/plan.h"

#include <stdlib.h>
#include <string.h>

/* Moves a [rows, width] block of floats between a device buffer (rows `dev_stride` floats apart,
 * from byte dev_off) and a tensor (packed rows, from byte t_off of the host pointer or cl_mem), in
 * either direction. Device states are strided (the tiled plan pads rows to 16-lane blocks); a
 * packed block goes as one contiguous copy. Between two buffers no clEnqueueCopyBufferRect: PoCL 3.1
 * crashes in it when either is a sub-buffer (clCreateSubBuffer), so a contiguous block is a
 * clEnqueueCopyBuffer and a strided one the copy_rows kernel (one launch, any row count; a kernel
 * argument is a sub-buffer like any other buffer). */
clrnn_status clrnn_move_block(clrnn_context *ctx, int to_device, cl_mem dev, size_t dev_off, const clrnn_tensor *t,
                               size_t t_off, size_t rows, size_t width, size_t dev_stride) {
    if (dev_stride == width || rows == 1) {
        width *= rows;
        dev_stride = width;
        rows = 1;
    }
    const size_t row_bytes = width * sizeof(float), dev_pitch = dev_stride * sizeof(float);
    const size_t t_byte = t->host ? t_off : t->offset + t_off;
    cl_int err;
    const char *call;
    if (t->host) {
        char *h = (char *)t->host + t_off;
        const size_t dev_origin[3] = {dev_off, 0, 0}, host_origin[3] = {0, 0, 0}, region[3] = {row_bytes, rows, 1};
        if (rows == 1) {
            call = to_device ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer";
            err = to_device ? clEnqueueWriteBuffer(ctx->queue, dev, CL_FALSE, dev_off, row_bytes, h, 0, NULL, NULL)
                            : clEnqueueReadBuffer(ctx->queue, dev, CL_FALSE, dev_off, row_bytes, h, 0, NULL, NULL);
        } else {
            call = to_device ? "clEnqueueWriteBufferRect" : "clEnqueueReadBufferRect";
            err = to_device ? clEnqueueWriteBufferRect(ctx->queue, dev, CL_FALSE, dev_origin, host_origin, region,
                                                       dev_pitch, 0, row_bytes, 0, h, 0, NULL, NULL)
                            : clEnqueueReadBufferRect(ctx->queue, dev, CL_FALSE, dev_origin, host_origin, region,
                                                      dev_pitch, 0, row_bytes, 0, h, 0, NULL, NULL);
        }
    } else if (rows == 1) {
        call = "clEnqueueCopyBuffer";
        err = to_device ? clEnqueueCopyBuffer(ctx->queue, t->mem, dev, t_byte, dev_off, row_bytes, 0, NULL, NULL)
                        : clEnqueueCopyBuffer(ctx->queue, dev, t->mem, dev_off, t_byte, row_bytes, 0, NULL, NULL);
    } else {
        /* copy_rows(src, src_off, src_pitch, dst, dst_off, dst_pitch, width), offsets and pitches in floats */
        kargs k = begin(ctx, CLRNN_K_copy_rows, "copy_rows");
        if (to_device) {
            a_mem(&k, t->mem), a_ulong(&k, t_byte / sizeof(float)), a_int(&k, (int)width);
            a_mem(&k, dev), a_ulong(&k, dev_off / sizeof(float)), a_int(&k, (int)dev_stride);
        } else {
            a_mem(&k, dev), a_ulong(&k, dev_off / sizeof(float)), a_int(&k, (int)dev_stride);
            a_mem(&k, t->mem), a_ulong(&k, t_byte / sizeof(float)), a_int(&k, (int)width);
        }
        a_int(&k, (int)width);
        return launch(ctx, &k, width, rows, 1, step_lws(ctx, k.k, (int)width));
    }
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, call, to_device ? "loading an input" : "writing an output");
}

/* An initial state into the device layout, or zeros when the caller gave none. */
clrnn_status clrnn_load_state(clrnn_context *ctx, cl_mem dst, const clrnn_tensor *t, size_t t_off, size_t rows,
                               size_t width, size_t stride) {
    if (t->host || t->mem) return clrnn_move_block(ctx, 1, dst, 0, t, t_off, rows, width, stride);
    const float zero = 0.0f;
    const cl_int err = clEnqueueFillBuffer(ctx->queue, dst, &zero, sizeof zero, 0, rows * stride * sizeof(float), 0,
                                           NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing a state");
}

/* Whether a layer output of time rows st_t apart and batch rows st_n apart already is the user
 * layout of y: one direction, time-major (or a single row or step), in order, fp32. */
static int is_user_layout(const clrnn_rnn *r, int N, int T_out, int st_t, int st_n, int has_any_off, int rev_mask,
                          int batch_major) {
    return r->elem == sizeof(float) && r->D == 1 && rev_mask == 0 && has_any_off < 0 &&
           (!batch_major || N == 1 || T_out == 1) && st_n == r->Hr && (size_t)st_t == (size_t)N * r->Hr;
}

int clrnn_output_rev_mask(const clrnn_rnn *r) {
    if (r->desc.reverse_order != CLRNN_REVERSE_OUTPUT_REVERSED) return 0;
    return r->D == 2 ? 2 : (r->desc.direction == CLRNN_DIR_REVERSE ? 1 : 0);
}

/* Last layer → user layout (merge, reversed order, optional dense). `src` is either the layer
 * output [T, N, D, Hr] or, for last_only, per-direction final states gathered in [D, N, Hr]; it may
 * be the user's y itself (clrnn_rnn_forward: y_in_place), which then is already written. */
clrnn_status clrnn_emit_outputs(clrnn_rnn *r, const clrnn_forward_args *args, const clrnn_out_bufs *ob, cl_mem src,
                                int T_out, int st_t, int st_n, int st_d, int has_any_off, int rev_mask, int batch_major,
                                cl_mem *merged) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    const int N = args->batch, D = r->D, Hr = r->Hr;
    const int dense = d->dense_size > 0;
    const size_t rows = (size_t)T_out * N;
    const int mode = D == 1 ? CLRNN_MERGE_CONCAT : (int)d->merge;
    const size_t out_bytes = rows * (size_t)r->O * sizeof(float);
    /* One direction, time-major (or a single row or step), in order: the layer output already is
     * the user layout, so it is read (or fed to the dense layer) as it is, with no merge pass. */
    const int identity = is_user_layout(r, N, T_out, st_t, st_n, has_any_off, rev_mask, batch_major);
    /* Where the merge writes: the dense input, the user's device buffer, or host staging. */
    cl_mem merge_dst;
    size_t merge_off = 0;
    if (identity)
        merge_dst = src;
    else if (dense)
        merge_dst = ob->dense_in;
    else if (args->y.mem) {
        merge_dst = args->y.mem;
        merge_off = args->y.offset / sizeof(float);
    } else
        merge_dst = ob->y_out;
    clrnn_status st = CLRNN_OK;
    if (merged) *merged = merge_dst;
    if (!identity) {
        kargs m = begin_r(r, CLRNN_K_merge_outputs, "merge_outputs"); /* reads the rnn's storage type */
        a_int(&m, T_out), a_int(&m, N), a_int(&m, D), a_int(&m, Hr), a_int(&m, mode), a_int(&m, batch_major);
        a_int(&m, rev_mask), a_mem(&m, ob->tmap), a_int(&m, has_any_off), a_mem(&m, src), a_int(&m, st_t);
        a_int(&m, st_n), a_int(&m, st_d), a_mem(&m, merge_dst), a_ulong(&m, merge_off), a_int(&m, (int)d->masked_output);
        a_flt(&m, d->masked_fill_value);
        clrnn_karg_loops(&m, 2L * D * (Hr + 1) + 2); /* a row's Hr outputs per direction (the device's loop bound) */
        st = launch(ctx, &m, (size_t)N, (size_t)T_out, 1, step_lws(ctx, m.k, N));
        if (st != CLRNN_OK) return st;
    }
    if (dense) {
        cl_mem out = args->y.mem ? args->y.mem : ob->y_out;
        const size_t off = args->y.mem ? args->y.offset / sizeof(float) : 0;
        kargs f = begin(ctx, CLRNN_K_fill_rows, "fill_rows");
        a_mem(&f, out), a_ulong(&f, off), a_int(&f, r->O), a_mem(&f, ob->dense_b);
        const size_t lf = step_lws(ctx, f.k, r->O);
        const size_t global[2] = {((size_t)r->O + lf - 1) / lf * lf, rows}, local[2] = {lf, 1};
        if ((st = clrnn_enqueue(ctx, &f, 2, global, local, NULL)) != CLRNN_OK) return st;
        /* dense weights as the plan packs them (denseT [Hm, O]) or as training keeps them ([O, Hm]) */
        st = clrnn_sgemm_locked(ctx, 0, ob->dense_w_trans, rows, (size_t)r->O, (size_t)r->Hm, 1.0f, merge_dst, 0,
                                (size_t)r->Hm, ob->dense_w, 0, ob->dense_w_trans ? (size_t)r->Hm : (size_t)r->O, 1.0f,
                                out, off, (size_t)r->O);
        if (st != CLRNN_OK) return st;
        if (args->y.host) st = clrnn_move_block(ctx, 0, ob->y_out, 0, &args->y, 0, 1, out_bytes / sizeof(float), out_bytes / sizeof(float));
        return st;
    }
    /* the merge wrote a device y in place, or the last layer did; otherwise y is read or copied from
     * where it is */
    if (identity && args->y.mem == src && args->y.offset == 0) return st;
    if (identity || args->y.host) st = clrnn_move_block(ctx, 0, merge_dst, 0, &args->y, 0, 1, out_bytes / sizeof(float), out_bytes / sizeof(float));
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Argument checks (all before any device work)
 * ---------------------------------------------------------------------------------------- */
clrnn_status clrnn_check_tensor(const clrnn_tensor *t, const char *name, int required) {
    if (t->host && t->mem) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: set either host or mem, not both", name);
    if (required && !t->host && !t->mem) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s is required", name);
    if (t->mem && t->offset % sizeof(float))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: offset %zu is not a multiple of 4 bytes", name, t->offset);
    if (t->mem) {
        size_t size = 0;
        cl_int err = clGetMemObjectInfo(t->mem, CL_MEM_SIZE, sizeof size, &size, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetMemObjectInfo", name);
    }
    return CLRNN_OK;
}

clrnn_status clrnn_check_mem_size(const clrnn_tensor *t, size_t bytes, const char *name) {
    if (!t->mem) return CLRNN_OK;
    size_t size = 0;
    clGetMemObjectInfo(t->mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (t->offset > size || size - t->offset < bytes)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s: buffer holds %zu bytes after offset %zu, needs %zu", name,
                          size > t->offset ? size - t->offset : 0, t->offset, bytes);
    return CLRNN_OK;
}

clrnn_status clrnn_forward_check_args(const clrnn_rnn *r, const clrnn_forward_args *a) {
    const int T = a->seq_length, N = a->batch;
    if (T <= 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "seq_length = %d must be >= 1", T);
    if (N <= 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "batch = %d must be >= 1", N);
    if (T > STEP_T_MASK) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "seq_length = %d is too large", T);
    size_t TN;
    if (!clrnn_mul_size((size_t)T, (size_t)N, &TN) || TN * (size_t)r->D > (size_t)0x7fffffff)
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "seq_length x batch x directions = %d x %d x %d exceeds 2^31", T, N, r->D);
    clrnn_status st;
    if ((st = clrnn_check_tensor(&a->x, "x", 1)) != CLRNN_OK) return st;
    if ((st = clrnn_check_tensor(&a->h0, "h0", 0)) != CLRNN_OK) return st;
    if ((st = clrnn_check_tensor(&a->c0, "c0", 0)) != CLRNN_OK) return st;
    if ((st = clrnn_check_tensor(&a->y, "y", 0)) != CLRNN_OK) return st;
    if ((st = clrnn_check_tensor(&a->hn, "hn", 0)) != CLRNN_OK) return st;
    if ((st = clrnn_check_tensor(&a->cn, "cn", 0)) != CLRNN_OK) return st;
    const int has_c = clrnn_cell_info_of(r->desc.cell)->has_c;
    if (!has_c && (a->c0.host || a->c0.mem)) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "c0 is only for LSTM");
    if (!has_c && (a->cn.host || a->cn.mem)) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "cn is only for LSTM");
    const size_t LDN = (size_t)r->desc.num_layers * r->D * N;
    size_t xb = TN * (size_t)r->desc.input_size * sizeof(float);
    size_t yb = (a->last_only ? (size_t)N : TN) * (size_t)r->O * sizeof(float);
    if (r->D == 2 && r->desc.merge == CLRNN_MERGE_NONE) yb = (a->last_only ? (size_t)N : TN) * 2 * r->Hr * sizeof(float);
    if ((st = clrnn_check_mem_size(&a->x, xb, "x")) != CLRNN_OK) return st;
    if ((st = clrnn_check_mem_size(&a->y, yb, "y")) != CLRNN_OK) return st;
    if ((st = clrnn_check_mem_size(&a->h0, LDN * r->Hr * sizeof(float), "h0")) != CLRNN_OK) return st;
    if ((st = clrnn_check_mem_size(&a->hn, LDN * r->Hr * sizeof(float), "hn")) != CLRNN_OK) return st;
    if ((st = clrnn_check_mem_size(&a->c0, LDN * r->desc.hidden_size * sizeof(float), "c0")) != CLRNN_OK) return st;
    if ((st = clrnn_check_mem_size(&a->cn, LDN * r->desc.hidden_size * sizeof(float), "cn")) != CLRNN_OK) return st;
    if (a->seq_lens)
        for (int n = 0; n < N; ++n)
            if (a->seq_lens[n] < 0 || a->seq_lens[n] > T)
                return clrnn_fail(CLRNN_ERR_INVALID_LENGTH, "seq_lens[%d] = %d is outside [0, T = %d]", n, a->seq_lens[n], T);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * fp16/bf16 storage: the user's float tensors into and out of the stored buffers
 * ---------------------------------------------------------------------------------------- */
/* rows_to_storage / rows_from_storage (merge.cl): a [rows, width] block, rows src_pitch and
 * dst_pitch elements apart, converted on the way. */
static clrnn_status convert_rows(clrnn_rnn *r, int to_storage, cl_mem src, size_t src_off, size_t src_pitch, cl_mem dst,
                                 size_t dst_off, size_t dst_pitch, size_t rows, size_t width) {
    const clrnn_kernel_id id = to_storage ? CLRNN_K_rows_to_storage : CLRNN_K_rows_from_storage;
    kargs k = begin_r(r, id, clrnn_kernel_name(id));
    a_mem(&k, src), a_ulong(&k, src_off), a_int(&k, (int)src_pitch);
    a_mem(&k, dst), a_ulong(&k, dst_off), a_int(&k, (int)dst_pitch), a_int(&k, (int)width);
    return launch(r->ctx, &k, width, rows, 1, step_lws(r->ctx, k.k, (int)width));
}

/* An initial state (t at byte t_off, packed [rows, width] floats) into a stored state buffer of
 * rows `stride` elements apart; zeros when the caller gave none. A host state goes through the
 * float staging buffer (the queue is in order: the next use waits for this one). */
static clrnn_status stored_state_in(clrnn_rnn *r, cl_mem dst, const clrnn_tensor *t, size_t t_off, size_t rows,
                                    size_t width, size_t stride) {
    clrnn_context *ctx = r->ctx;
    cl_int err;
    if (!t->host && !t->mem) {
        const uint16_t zero = 0;
        err = clEnqueueFillBuffer(ctx->queue, dst, &zero, sizeof zero, 0, rows * stride * sizeof zero, 0, NULL, NULL);
        return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing a state");
    }
    if (t->mem) return convert_rows(r, 1, t->mem, (t->offset + t_off) / sizeof(float), width, dst, 0, stride, rows, width);
    err = clEnqueueWriteBuffer(ctx->queue, r->ws.state_f, CL_FALSE, 0, rows * width * sizeof(float),
                               (const char *)t->host + t_off, 0, NULL, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "loading an initial state");
    return convert_rows(r, 1, r->ws.state_f, 0, width, dst, 0, stride, rows, width);
}

/* A final state out of a stored state buffer into t (byte t_off, packed [rows, width] floats). */
static clrnn_status stored_state_out(clrnn_rnn *r, cl_mem src, const clrnn_tensor *t, size_t t_off, size_t rows,
                                     size_t width, size_t stride) {
    if (t->mem) return convert_rows(r, 0, src, 0, stride, t->mem, (t->offset + t_off) / sizeof(float), width, rows, width);
    clrnn_status st = convert_rows(r, 0, src, 0, stride, r->ws.state_f, 0, width, rows, width);
    if (st != CLRNN_OK) return st;
    const cl_int err = clEnqueueReadBuffer(r->ctx->queue, r->ws.state_f, CL_FALSE, 0, rows * width * sizeof(float),
                                           (char *)t->host + t_off, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueReadBuffer", "writing a final state");
}

/* ------------------------------------------------------------------------------------------
 * Driver
 * ---------------------------------------------------------------------------------------- */
static clrnn_status forward_locked(clrnn_rnn *r, const clrnn_forward_args *args) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    const int T = args->seq_length, N = args->batch, D = r->D, H = d->hidden_size, Hr = r->Hr, L = d->num_layers;
    clrnn_status st;
    /* the kernels of the rnn's storage type (fp16/bf16: their program is built on first use) */
    if (d->storage != CLRNN_STORAGE_FP32 && !r->kernels &&
        (st = clrnn_program_storage(ctx, d->storage, &r->kernels)) != CLRNN_OK)
        return st;
    const int stored = r->elem != sizeof(float);
    if (r->dirty && (st = clrnn_rnn_upload_weights(r)) != CLRNN_OK) return st;
    if ((st = clrnn_rnn_ensure_workspace(r, T, N)) != CLRNN_OK) return st;
    clrnn_workspace *ws = &r->ws;

    /* step table → device, then what the plan derives from the lengths. Not a blocking write (a
     * wait for the queue): the host table is rewritten only by the next call, which comes after
     * this one's clFinish (success or failure, clrnn_rnn_forward). A call without lengths or a
     * mask of the T and N of the last such call finds both on the device already (r->tmap_T):
     * three fewer commands (S5: writes of 17, 17 and 0.6 KB, each a command the device's threads
     * take in turn). */
    const size_t n_tmap = (size_t)D * T * N + (size_t)D * N;
    const int full = !args->seq_lens && !args->mask;
    cl_int err = CL_SUCCESS;
    if (!(full && r->tmap_T == T && r->tmap_N == N)) {
        r->tmap_T = r->tmap_N = 0;
        if (n_tmap > r->tmap_cap) {
            int32_t *t = realloc(r->tmap_host, n_tmap * sizeof *t);
            if (!t) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "step table");
            r->tmap_host = t;
            r->tmap_cap = n_tmap;
        }
        clrnn_build_step_table(d, D, T, N, args->seq_lens, args->mask, r->tmap_host);
        err = clEnqueueWriteBuffer(ctx->queue, ws->tmap, CL_FALSE, 0, n_tmap * sizeof(int32_t), r->tmap_host, 0, NULL,
                                   NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the step table");
        if (r->plan->prepare && (st = r->plan->prepare(r, T, N, r->tmap_host)) != CLRNN_OK) return st;
        if (full) r->tmap_T = T, r->tmap_N = N;
    }

    /* input */
    cl_mem x = ws->x;
    size_t x_off = 0;
    const size_t x_bytes = (size_t)T * N * d->input_size * sizeof(float);
    if (stored && args->x.host) { /* rounded on the host (as the device rounds), straight into x_s */
        const size_t n = (size_t)T * N * d->input_size;
        uint16_t *bits = malloc(n * sizeof *bits);
        if (!bits) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "stored input of %zu elements", n);
        const float *xf = args->x.host;
        const int bf16 = d->storage == CLRNN_STORAGE_BF16;
        for (size_t i = 0; i < n; ++i) bits[i] = bf16 ? clrnn_float_to_bf16(xf[i]) : clrnn_float_to_half(xf[i]);
        err = clEnqueueWriteBuffer(ctx->queue, ws->x_s, CL_TRUE, 0, n * sizeof *bits, bits, 0, NULL, NULL);
        free(bits);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading x");
        x = ws->x_s;
    } else if (args->x.host) {
        err = clEnqueueWriteBuffer(ctx->queue, ws->x, CL_FALSE, 0, x_bytes, args->x.host, 0, NULL, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading x");
    } else {
        x = args->x.mem;
        x_off = args->x.offset / sizeof(float);
    }
    if (stored && !args->x.host) { /* layer 0 reads x in the rnn's storage type */
        if ((st = convert_rows(r, 1, x, x_off, (size_t)d->input_size, ws->x_s, 0, (size_t)d->input_size, (size_t)T * N,
                               (size_t)d->input_size)) != CLRNN_OK)
            return st;
        x = ws->x_s;
        x_off = 0;
    }

    /* initial states: layer l's slab of h0/c0 goes to its ping buffer (the trace names each part) */
    const char *cell = clrnn_cell_info_of(d->cell)->lower;
    clrnn_trace_scope(ctx, r->plan->name, "in %s T=%d N=%d H=%d D=%d", cell, T, N, H, D);
    const size_t h_slab = (size_t)D * N * Hr * sizeof(float), c_slab = (size_t)D * N * H * sizeof(float);
    const size_t state_rows = (size_t)D * N;
    for (int l = 0; l < L && stored; ++l) {
        if ((st = stored_state_in(r, ws->h[l][0], &args->h0, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK) return st;
        if (clrnn_cell_info_of(d->cell)->has_c &&
            (st = stored_state_in(r, ws->c[l][0], &args->c0, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }
    for (int l = 0; l < L && !stored; ++l) {
        if ((st = clrnn_load_state(ctx, ws->h[l][0], &args->h0, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK) return st;
        if (clrnn_cell_info_of(d->cell)->has_c &&
            (st = clrnn_load_state(ctx, ws->c[l][0], &args->c0, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }

    /* The last layer writes straight into the user's device y where that is its output's layout
     * (is_user_layout, from the buffer's start, no dense layer): there is then nothing to copy after
     * it (S5's 2.5 MB of y took a device copy each call). A device failure can leave y partly
     * written, as the copy could (clrnn.h); nothing refused reaches here. */
    const int y_in_place = args->y.mem && args->y.offset == 0 && !args->last_only && d->dense_size <= 0 &&
                           is_user_layout(r, N, T, N * D * Hr, Hr, -1, clrnn_output_rev_mask(r),
                                          d->layout == CLRNN_LAYOUT_BATCH_MAJOR);
    cl_mem layer_in = x, layer_out = ws->y_a;
    size_t in_off = x_off;
    int final_idx = 0;
    for (int l = 0; l < L; ++l) {
        if (l == L - 1 && y_in_place) layer_out = args->y.mem;
        clrnn_trace_scope(ctx, r->plan->name, "l%d %s T=%d N=%d I=%d H=%d D=%d", l, cell, T, N, r->lw[l * D].in_size,
                          H, D);
        /* x_proj [T*N, D*G*H] = input [T*N, I] · Wᵀ for all steps and directions (biases are added in
         * the step kernel) */
        const int xp_batch_major = l == 0 && d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
        if ((st = r->plan->input_projection(r, l, T, N, xp_batch_major, layer_in, in_off)) != CLRNN_OK) return st;
        if ((st = r->plan->scan_layer(r, l, T, N, xp_batch_major, layer_out, &final_idx)) != CLRNN_OK) return st;
        layer_in = layer_out;
        in_off = 0;
        layer_out = layer_out == ws->y_a ? ws->y_b : ws->y_a;
    }
    cl_mem last_out = layer_in;

    /* final states */
    clrnn_trace_scope(ctx, r->plan->name, "out %s T=%d N=%d H=%d D=%d", cell, T, N, H, D);
    for (int l = 0; l < L && stored; ++l) {
        if ((args->hn.host || args->hn.mem) &&
            (st = stored_state_out(r, ws->h[l][final_idx], &args->hn, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK)
            return st;
        if ((args->cn.host || args->cn.mem) &&
            (st = stored_state_out(r, ws->c[l][final_idx], &args->cn, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }
    for (int l = 0; l < L && !stored; ++l) {
        if ((args->hn.host || args->hn.mem) &&
            (st = clrnn_move_block(ctx, 0, ws->h[l][final_idx], 0, &args->hn, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK)
            return st;
        if ((args->cn.host || args->cn.mem) &&
            (st = clrnn_move_block(ctx, 0, ws->c[l][final_idx], 0, &args->cn, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }

    /* outputs */
    if (args->y.host || args->y.mem) {
        const clrnn_out_bufs ob = {ws->tmap, r->dw.denseT, 0, r->dw.dense_b, ws->dense_in, ws->y_out};
        const int batch_major = d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
        if (args->last_only) {
            /* the last layer's final states are each direction's last output: [D, N, Hr] */
            st = clrnn_emit_outputs(r, args, &ob, ws->h[L - 1][final_idx], 1, 0, r->Hs, N * r->Hs, D * T * N, 0, 0, NULL);
        } else {
            st = clrnn_emit_outputs(r, args, &ob, last_out, T, N * D * Hr, D * Hr, Hr, -1, clrnn_output_rev_mask(r),
                                    batch_major, NULL);
        }
        if (st != CLRNN_OK) return st;
    }
    err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", "waiting for the forward pass");
}

clrnn_status clrnn_rnn_forward(clrnn_rnn *r, const clrnn_forward_args *args) {
    clrnn_clear_error();
    clrnn_status st = clrnn_rnn_check_forward_entry(r, args, "clrnn_rnn_forward"); /* live handles, own cl_mem */
    if (st != CLRNN_OK) return st;
    st = clrnn_forward_check_args(r, args);
    if (st != CLRNN_OK) return st;
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    /* values an optimizer changed on the device come back to the host weights the plan packs */
    if ((st = clrnn_rnn_sync_host_params(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = forward_locked(r, args);
    clrnn_trace_scope_end(r->ctx);
    if (st != CLRNN_OK) {
        clFinish(r->ctx->queue); /* never leave enqueued work pointing at caller memory */
        r->tmap_T = r->tmap_N = 0; /* a failed call's uploads are not to be trusted */
    }
    clrnn_trace_flush_locked(r->ctx);
    mtx_unlock(&r->ctx->lock);
    return st;
}
