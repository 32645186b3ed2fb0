/* Device memory of an rnn: weights uploaded in the plan's layout (re-uploaded after set_param), and
 * the workspace sized for the largest T*N and N seen (see clrnn_rnn_ensure_workspace). */
#include "cl/abi.h"
#include "cells.h"
#include "plans/plan.h"

#include <stdlib.h>
#include <string.h>

static void release(cl_mem *m) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

static clrnn_status alloc_buf(clrnn_context *ctx, cl_mem *m, size_t elems, size_t elem_size, size_t *total,
                              const char *what) {
    size_t bytes;
    release(m);
    if (elems == 0) elems = 1;
    if (!clrnn_mul_size(elems, elem_size, &bytes))
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "size of %s overflows", what);
    if (bytes > ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes > 0)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s needs %zu bytes, the device allows %llu per buffer", what,
                          bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    cl_int err;
    *m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateBuffer", what);
    if (total) *total += bytes;
    return CLRNN_OK;
}

/* Replaces *m by a read-only copy of `data`, within the device's limits, checked before the driver
 * sees the request (not every driver fails cleanly, see ws_fits): the buffer within
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE, all the weights with the workspace within CL_DEVICE_GLOBAL_MEM_SIZE.
 * r->dw.bytes counts the weights' bytes. */
clrnn_status clrnn_rnn_upload_buf(clrnn_rnn *r, cl_mem *m, const void *data, size_t bytes, const char *what) {
    const clrnn_device_info *info = &r->ctx->info;
    size_t old = 0;
    if (*m && clGetMemObjectInfo(*m, CL_MEM_SIZE, sizeof old, &old, NULL) != CL_SUCCESS) old = 0;
    /* (training's values, gradients and reserves count too: r->train_bytes) */
    const size_t others = (r->dw.bytes > old ? r->dw.bytes - old : 0) + r->ws.bytes + r->train_bytes;
    if (info->max_alloc_bytes > 0 && bytes > info->max_alloc_bytes)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: %zu bytes, the device allows %llu per buffer", what,
                          bytes, (unsigned long long)info->max_alloc_bytes);
    if (info->global_mem_bytes > 0 && (bytes > info->global_mem_bytes || others > info->global_mem_bytes - bytes))
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                          "%s: %zu bytes, with the %zu bytes the rnn holds already over the device's %llu bytes of "
                          "global memory",
                          what, bytes, others, (unsigned long long)info->global_mem_bytes);
    release(m);
    r->dw.bytes = others - r->ws.bytes - r->train_bytes;
    cl_int err;
    *m = clCreateBuffer(r->ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)data, &err);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateBuffer", what);
    r->dw.bytes += bytes;
    return CLRNN_OK;
}

/* float32 to IEEE half bits, rounded to nearest even (what vstore_half_rte does on the device):
 * NaN stays NaN, |f| >= 65520 becomes inf, values under 2^-14 become subnormal halves. */
uint16_t clrnn_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* 65520 and up: the tie above 65504 goes to inf */
    if (a < 0x38800000u) {                                    /* subnormal half: units of 2^-24 */
        if (a <= 0x33000000u) return (uint16_t)sign;         /* up to 2^-25 (a tie, to even 0) */
        const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) ++q;
        return (uint16_t)(sign | q);
    }
    return (uint16_t)(sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
}

/* float32 to bfloat16 bits, rounded to nearest even (cl/storage.h's bf16_round). */
uint16_t clrnn_float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

clrnn_status clrnn_rnn_upload_stored(clrnn_rnn *r, cl_mem *m, const float *data, size_t count, const char *what) {
    if (r->desc.storage == CLRNN_STORAGE_FP32) return clrnn_rnn_upload_buf(r, m, data, count * sizeof(float), what);
    uint16_t *bits = malloc((count ? count : 1) * sizeof *bits);
    if (!bits) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: %zu stored elements", what, count);
    const int bf16 = r->desc.storage == CLRNN_STORAGE_BF16;
    for (size_t i = 0; i < count; ++i) bits[i] = bf16 ? clrnn_float_to_bf16(data[i]) : clrnn_float_to_half(data[i]);
    const clrnn_status st = clrnn_rnn_upload_buf(r, m, bits, count * sizeof *bits, what);
    free(bits);
    return st;
}

static void clrnn_rnn_release_device_ws(clrnn_rnn *r) {
    clrnn_workspace *ws = &r->ws;
    r->tmap_T = r->tmap_N = 0; /* the step table goes with the buffers */
    release(&ws->x);
    release(&ws->x_proj);
    release(&ws->y_a);
    release(&ws->y_b);
    for (int l = 0; l < CLRNN_MAX_LAYERS; ++l)
        for (int i = 0; i < 2; ++i) {
            release(&ws->h[l][i]);
            release(&ws->c[l][i]);
        }
    release(&ws->h_raw);
    release(&ws->zbuf);
    release(&ws->tmap);
    for (int i = 0; i < CLRNN_PLAN_BUFS; ++i) release(&ws->plan_buf[i]);
    release(&ws->y_out);
    release(&ws->dense_in);
    release(&ws->x_s);
    release(&ws->state_f);
    ws->TN = ws->N = 0;
    ws->bytes = 0;
}

void clrnn_rnn_release_device(clrnn_rnn *r) {
    clrnn_device_weights *dw = &r->dw;
    for (int l = 0; l < CLRNN_MAX_LAYERS; ++l) {
        release(&dw->WT[l]);
        release(&dw->RT[l]);
        release(&dw->bias[l]);
        release(&dw->peep[l]);
        release(&dw->projT[l]);
    }
    release(&dw->acts);
    release(&dw->denseT);
    release(&dw->dense_b);
    dw->bytes = 0;
    clrnn_rnn_release_device_ws(r);
}

/* Repacks the host weights into the device layouts the kernels read (the plan's upload_layer for
 * each layer; the activations and the dense layer are common). */
clrnn_status clrnn_rnn_upload_weights(clrnn_rnn *r) {
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, GH = r->G * d->hidden_size;
    clrnn_status st = CLRNN_OK;
    size_t n_max = r->plan->upload_scratch(r);
    if (r->desc.dense_size > 0 && (size_t)r->O * r->Hm > n_max) n_max = (size_t)r->O * r->Hm;
    /* (+ room for [D][2][G*H] biases, which a one-unit layer's R does not give) */
    float *tmp = malloc(n_max * sizeof(float) + (size_t)D * 2 * GH * sizeof(float) + 64);
    if (!tmp) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "weight repacking buffer");
    for (int l = 0; l < d->num_layers && st == CLRNN_OK; ++l) st = r->plan->upload_layer(r, l, tmp);
    if (st == CLRNN_OK) {
        float acts[2 * ACT_SLOTS * ACT_PARAMS];
        for (int dir = 0; dir < 2; ++dir)
            for (int s = 0; s < ACT_SLOTS; ++s) {
                clrnn_activation a = clrnn_effective_activation(d, dir < D ? dir : 0, s);
                float *p = acts + (dir * ACT_SLOTS + s) * ACT_PARAMS;
                p[0] = (float)a.kind, p[1] = a.alpha, p[2] = a.beta;
            }
        st = clrnn_rnn_upload_buf(r, &r->dw.acts, acts, sizeof acts, "activations");
    }
    if (st == CLRNN_OK && d->dense_size > 0) {
        const int O = r->O, Hm = r->Hm;
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < Hm; ++k) tmp[(size_t)k * O + o] = r->dense_W[(size_t)o * Hm + k];
        st = clrnn_rnn_upload_buf(r, &r->dw.denseT, tmp, (size_t)O * Hm * sizeof(float), "dense weights");
        if (st == CLRNN_OK) st = clrnn_rnn_upload_buf(r, &r->dw.dense_b, r->dense_b, (size_t)O * sizeof(float), "dense bias");
    }
    free(tmp);
    if (st == CLRNN_OK) r->dirty = 0;
    return st;
}

/* One workspace buffer: where it goes, its element count and size (4 bytes, or the rnn's storage
 * element for the stored activations), its name in messages. */
typedef struct ws_buf {
    cl_mem *mem;
    size_t elems, elem;
    const char *what;
} ws_buf;

#define WS_MAX_BUFS (12 + CLRNN_PLAN_BUFS + 4 * CLRNN_MAX_LAYERS)

/* The workspace for TN = T*N step rows and N batch rows. Every buffer is indexed by the call's own
 * T and N (rows (t, n) or (n, t), states [D, N, Hs]), so capacity is all that matters: a buffer of
 * TN rows serves any call with T*N <= TN, a state buffer of N rows any call with N <= N. Returns
 * the number of buffers, 0 when a size overflows. */
static int ws_layout(clrnn_rnn *r, size_t TN, size_t N, ws_buf *b) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_workspace *ws = &r->ws;
    const size_t D = (size_t)r->D, H = (size_t)d->hidden_size, Hr = (size_t)r->Hr;
    clrnn_plan_workspace pw;
    memset(&pw, 0, sizeof pw);
    r->plan->workspace(r, &pw);
    const size_t xp_cols = pw.xp_cols;
    const size_t raw = (size_t)(r->Hs > r->Hc ? r->Hs : r->Hc) > H ? (size_t)(r->Hs > r->Hc ? r->Hs : r->Hc) : H;
    const size_t out_cols = (size_t)r->O > D * Hr ? (size_t)r->O : D * Hr;
    int n = 0, ok = 1;
    size_t e;
    const size_t S = r->elem, F = sizeof(float); /* stored activations, float tensors */
#define BUF_OF(m, rows, cols, size, name)                                            \
    do {                                                                             \
        ok = ok && clrnn_mul_size((rows), (cols), &e);                               \
        b[n++] = (ws_buf){&(m), ok ? e : 0, (size), (name)};                         \
    } while (0)
#define BUF(m, rows, cols, name) BUF_OF(m, rows, cols, F, name)
    if (S == F) BUF(ws->x, TN, (size_t)d->input_size, "input staging"); /* else a host x goes to x_s */
    BUF_OF(ws->x_proj, TN, xp_cols, S, "input projections");
    BUF_OF(ws->y_a, TN, D * Hr, S, "layer outputs");
    if (d->num_layers > 1) BUF_OF(ws->y_b, TN, D * Hr, S, "layer outputs");
    for (int l = 0; l < d->num_layers; ++l)
        for (int i = 0; i < 2; ++i) {
            BUF_OF(ws->h[l][i], D * N, (size_t)r->Hs, S, "hidden state");
            if (clrnn_cell_info_of(d->cell)->has_c) BUF_OF(ws->c[l][i], D * N, (size_t)r->Hc, S, "cell state");
        }
    BUF_OF(ws->h_raw, D * N, raw, S, "step scratch");
    if (clrnn_cell_kernels_for(d)->uses_z) BUF_OF(ws->zbuf, D * N, (size_t)r->Hs, S, "update gate");
    if (S != F) { /* the input in storage, and float staging of the states the user passes */
        BUF_OF(ws->x_s, TN, (size_t)d->input_size, S, "stored input");
        BUF(ws->state_f, D * N, (size_t)(r->Hs > r->Hc ? r->Hs : r->Hc), "state staging");
    }
    ok = ok && TN <= SIZE_MAX / (D + 1) && N <= SIZE_MAX / (D + 1);
    BUF(ws->tmap, ok ? D * TN + D * N : 0, 1, "step table");
    for (int i = 0; i < pw.n_bufs && ok; ++i) {
        size_t by_steps = 0, by_batch = 0;
        ok = clrnn_mul_size(TN, pw.bufs[i].per_step_row, &by_steps) &&
             clrnn_mul_size(N, pw.bufs[i].per_batch_row, &by_batch) && by_steps <= SIZE_MAX - by_batch;
        BUF(ws->plan_buf[i], ok ? by_steps + by_batch : 0, 1, pw.bufs[i].what);
    }
    BUF(ws->y_out, TN, out_cols, "output staging");
    if (d->dense_size > 0) BUF(ws->dense_in, TN, (size_t)r->Hm, "dense input");
#undef BUF
#undef BUF_OF
    for (int i = 0; i < n && ok; ++i) ok = b[i].elems <= SIZE_MAX / b[i].elem;
    return ok ? n : 0;
}

/* Whether the layout fits the device: every buffer within CL_DEVICE_MAX_MEM_ALLOC_SIZE and all of
 * them, with the weights, within CL_DEVICE_GLOBAL_MEM_SIZE. Checked before allocating because
 * drivers do not all fail cleanly (PoCL aborts inside a later enqueue when memory runs out). */
static clrnn_status ws_fits(const clrnn_rnn *r, const ws_buf *b, int n, int T, int N, size_t *total) {
    const clrnn_device_info *info = &r->ctx->info;
    *total = 0;
    for (int i = 0; i < n; ++i) {
        const size_t bytes = (b[i].elems ? b[i].elems : 1) * b[i].elem;
        if (info->max_alloc_bytes > 0 && bytes > info->max_alloc_bytes)
            return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                              "%s for T=%d N=%d needs %zu bytes, the device allows %llu per buffer", b[i].what, T, N,
                              bytes, (unsigned long long)info->max_alloc_bytes);
        if (*total > SIZE_MAX - bytes) return clrnn_fail(CLRNN_ERR_OVERFLOW, "workspace for T=%d N=%d overflows", T, N);
        *total += bytes;
    }
    const size_t weights = r->dw.bytes + r->train_bytes; /* with training's device memory */
    if (info->global_mem_bytes > 0 &&
        (weights > info->global_mem_bytes || *total > info->global_mem_bytes - weights))
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                          "the workspace for T=%d N=%d needs %zu bytes and the weights hold %zu; the device has %llu "
                          "bytes of global memory",
                          T, N, *total, weights, (unsigned long long)info->global_mem_bytes);
    return CLRNN_OK;
}

/* Sizes the workspace for a call of (T, N) and keeps it while later calls fit: T*N-proportional
 * buffers by the largest T*N seen, states by the largest N (a long sequence and a wide batch do not
 * make T_max x N_max), or, if that does not fit the device, by this call's own need. A call that
 * cannot fit is refused before anything is released, so the current workspace stays usable. */
clrnn_status clrnn_rnn_ensure_workspace(clrnn_rnn *r, int T, int N) {
    clrnn_workspace *ws = &r->ws;
    const size_t TN = (size_t)T * (size_t)N; /* check_args bounded it by 2^31 */
    if (ws->x_proj && TN <= ws->TN && (size_t)N <= ws->N) return CLRNN_OK;
    clrnn_context *ctx = r->ctx;
    ws_buf b[WS_MAX_BUFS];
    size_t total = 0, want_TN = TN > ws->TN ? TN : ws->TN, want_N = (size_t)N > ws->N ? (size_t)N : ws->N;
    int n = ws_layout(r, want_TN, want_N, b);
    clrnn_status st = n ? ws_fits(r, b, n, T, N, &total) : CLRNN_ERR_OVERFLOW;
    if (st != CLRNN_OK && (want_TN != TN || want_N != (size_t)N)) {
        want_TN = TN, want_N = (size_t)N; /* what earlier calls needed does not fit with this one: just this one */
        n = ws_layout(r, want_TN, want_N, b);
        st = n ? ws_fits(r, b, n, T, N, &total) : CLRNN_ERR_OVERFLOW;
    }
    if (n == 0) return clrnn_fail(CLRNN_ERR_OVERFLOW, "workspace for T=%d N=%d overflows", T, N);
    if (st != CLRNN_OK) return st;
    clrnn_rnn_release_device_ws(r);
    for (int i = 0; i < n; ++i)
        if ((st = alloc_buf(ctx, b[i].mem, b[i].elems, b[i].elem, &ws->bytes, b[i].what)) != CLRNN_OK) goto fail;
    /* Zero the states once: lanes a plan pads states with are then defined (never used as input).
     * A zero pattern of the stored element: 0.0 in fp32, fp16 and bf16 alike. */
    const float zero = 0.0f;
    const size_t S = r->elem;
    const clrnn_rnn_desc *d = &r->desc;
    const size_t D = (size_t)r->D;
    for (int l = 0; l < d->num_layers; ++l)
        for (int i = 0; i < 2; ++i) {
            cl_int err = clEnqueueFillBuffer(ctx->queue, ws->h[l][i], &zero, S, 0, D * want_N * (size_t)r->Hs * S, 0,
                                             NULL, NULL);
            if (err == CL_SUCCESS && ws->c[l][i])
                err = clEnqueueFillBuffer(ctx->queue, ws->c[l][i], &zero, S, 0, D * want_N * (size_t)r->Hc * S, 0,
                                          NULL, NULL);
            if (err != CL_SUCCESS) {
                st = clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing the states");
                goto fail;
            }
        }
    ws->TN = want_TN;
    ws->N = want_N;
    return CLRNN_OK;
fail:
    clrnn_rnn_release_device_ws(r);
    return st;
}
