/* The forward pass: layers × (input GEMM for all steps and both directions → recurrent scan, one
 * fused step kernel per time step covering every row and direction) → merge → optional dense.
 *
 * Lengths, masks and reversal are resolved once on the host into a step table (which time index
 * each step processes, whether it is computed, whether a computed step came before), so the
 * kernels handle every padding/mask/direction rule by index lookup and no data is copied or
 * reversed. Nothing is read back between steps. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------
 * Step table
 * ---------------------------------------------------------------------------------------- */
void clrnn_build_step_table(const clrnn_rnn_desc *desc, int D, int T, int N, const int32_t *seq_lens,
                            const uint8_t *mask, int32_t *out) {
    int32_t *has_any = out + (size_t)D * T * N;
    for (int d = 0; d < D; ++d) {
        const int rev = desc->direction == CLRNN_DIR_REVERSE || d == 1;
        for (int n = 0; n < N; ++n) {
            const int len = seq_lens ? seq_lens[n] : T;
            int started = 0;
            for (int s = 0; s < T; ++s) {
                int t;
                if (!rev)
                    t = s;
                else if (desc->reverse_mode == CLRNN_REVERSE_WHOLE_AXIS)
                    t = T - 1 - s;
                else
                    t = s < len ? len - 1 - s : s;
                const int valid = t < len && (!mask || mask[(size_t)n * T + t]);
                out[((size_t)d * T + s) * N + n] =
                    t | (valid ? CLRNN_STEP_VALID : 0) | (started ? CLRNN_STEP_STARTED : 0);
                started |= valid;
            }
            has_any[d * N + n] = started;
        }
    }
}

/* Rows by descending length (stable; identity without lengths), and which (t, n) rows any
 * direction computes. */
void clrnn_build_row_order(int T, int N, const int32_t *seq_lens, const uint8_t *mask, int32_t *perm,
                           int32_t *row_needed) {
    for (int n = 0; n < N; ++n) perm[n] = n;
    if (seq_lens) {
        /* counting sort by length (0..T), longest first; stable */
        int32_t *count = calloc((size_t)T + 2, sizeof *count);
        if (count) {
            for (int n = 0; n < N; ++n) count[T - seq_lens[n] + 1]++;
            for (int v = 1; v <= T + 1; ++v) count[v] += count[v - 1];
            for (int n = 0; n < N; ++n) perm[count[T - seq_lens[n]]++] = n;
            free(count);
        } /* out of memory: identity order, still correct, only slower */
    }
    for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n)
            row_needed[(size_t)t * N + n] = (!seq_lens || t < seq_lens[n]) && (!mask || mask[(size_t)n * T + t]);
}

/* ------------------------------------------------------------------------------------------
 * Device memory
 * ---------------------------------------------------------------------------------------- */
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

static clrnn_status upload_buf(clrnn_context *ctx, cl_mem *m, const void *data, size_t bytes, const char *what) {
    release(m);
    cl_int err;
    *m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)data, &err);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clCreateBuffer", what);
}

static void clrnn_rnn_release_device_ws(clrnn_rnn *r) {
    clrnn_workspace *ws = &r->ws;
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
    release(&ws->perm);
    release(&ws->row_needed);
    release(&ws->y_out);
    release(&ws->dense_in);
    ws->T = ws->N = 0;
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
    clrnn_rnn_release_device_ws(r);
}

/* Tiled plan: gates packed in 16-wide blocks, column (d, block, gate, lane); see cl/step_tiled.cl.
 * Padding lanes (j >= H) get zero weights. */
static clrnn_status upload_layer_tiled(clrnn_rnn *r, int l, float *tmp, size_t cap) {
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, G = r->G, H = d->hidden_size, Hb = r->Hb, K = r->Hr, Hp = 16 * Hb, Gs = r->Gs, UB = r->UB;
    const int I = r->lw[l * D].in_size;
    const int lbr = d->cell == CLRNN_CELL_GRU && d->linear_before_reset;
    const size_t per_dir = (size_t)Hb * Gs * 16; /* packed columns per direction */
    clrnn_context *ctx = r->ctx;
    clrnn_status st;
    (void)cap;
/* Packed block and slot of (gate g, unit j); the lane is j % 16. */
#define BLK(j) ((j) / UB)
#define SLOT(g, j) (G == 1 ? ((j) % UB) / 16 : (g))
    /* WTp [D][Hb][I][Gs][16]: the input-projection kernel reads it like RTp */
    memset(tmp, 0, (size_t)D * I * per_dir * sizeof(float));
    for (int dir = 0; dir < D; ++dir) {
        const clrnn_layer_weights *w = &r->lw[l * D + dir];
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j)
                for (int i = 0; i < I; ++i)
                    tmp[((((size_t)dir * Hb + BLK(j)) * I + i) * Gs + SLOT(g, j)) * 16 + j % 16] =
                        w->W[((size_t)g * H + j) * I + i];
    }
    if ((st = upload_buf(ctx, &r->dw.WT[l], tmp, (size_t)D * I * per_dir * sizeof(float), "input weights")) != CLRNN_OK)
        return st;
    /* RTp [D][Hb][K][Gs][16] */
    memset(tmp, 0, (size_t)D * K * per_dir * sizeof(float));
    for (int dir = 0; dir < D; ++dir) {
        const clrnn_layer_weights *w = &r->lw[l * D + dir];
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j)
                for (int k = 0; k < K; ++k)
                    tmp[((((size_t)dir * Hb + BLK(j)) * K + k) * Gs + SLOT(g, j)) * 16 + j % 16] =
                        w->R[((size_t)g * H + j) * K + k];
    }
    if ((st = upload_buf(ctx, &r->dw.RT[l], tmp, (size_t)D * K * per_dir * sizeof(float), "recurrent weights")) != CLRNN_OK)
        return st;
    /* bias [D][2][Hb][Gs][16]: x-side (folded) and recurrent (lbr n gate) */
    memset(tmp, 0, (size_t)D * 2 * per_dir * sizeof(float));
    for (int dir = 0; dir < D; ++dir) {
        const clrnn_layer_weights *w = &r->lw[l * D + dir];
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j) {
                const int k = g * H + j;
                float bx = w->Wb[k] + ((lbr && g == 2) ? 0.0f : w->Rb[k]);
                if (d->cell == CLRNN_CELL_LSTM && g == 1) bx += d->forget_bias;
                const size_t o = (((size_t)dir * 2 * Hb + BLK(j)) * Gs + SLOT(g, j)) * 16 + j % 16;
                tmp[o] = bx;
                tmp[o + per_dir] = w->Rb[k];
            }
    }
#undef BLK
#undef SLOT
    if ((st = upload_buf(ctx, &r->dw.bias[l], tmp, (size_t)D * 2 * per_dir * sizeof(float), "biases")) != CLRNN_OK)
        return st;
    /* peep [D][3][Hp] (LSTM: 16 units per block, so Hp = 16 * Hb) */
    memset(tmp, 0, (size_t)D * 3 * Hp * sizeof(float));
    for (int dir = 0; dir < D; ++dir)
        for (int q = 0; q < 3; ++q)
            memcpy(tmp + ((size_t)dir * 3 + q) * Hp, r->lw[l * D + dir].P + (size_t)q * H, (size_t)H * sizeof(float));
    return upload_buf(ctx, &r->dw.peep[l], tmp, (size_t)D * 3 * Hp * sizeof(float), "peepholes");
}

/* Repacks the host weights into the device layouts the kernels read (see clrnn_device_weights). */
static clrnn_status upload_weights(clrnn_rnn *r) {
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, G = r->G, H = d->hidden_size, Hr = r->Hr, GH = G * H;
    const int lbr = d->cell == CLRNN_CELL_GRU && d->linear_before_reset;
    clrnn_context *ctx = r->ctx;
    clrnn_status st = CLRNN_OK;
    size_t max_in = (size_t)(d->input_size > D * Hr ? d->input_size : D * Hr);
    size_t n_wt = max_in * D * GH, n_rt = (size_t)D * Hr * GH, n_proj = (size_t)D * H * Hr;
    size_t n_max = n_wt > n_rt ? n_wt : n_rt;
    if (n_proj > n_max) n_max = n_proj;
    if (r->desc.dense_size > 0 && (size_t)r->O * r->Hm > n_max) n_max = (size_t)r->O * r->Hm;
    if (r->tiled) {
        const size_t GHp = (size_t)r->Gs * 16 * r->Hb;
        const size_t n_tiled = max_in * D * GHp > (size_t)D * Hr * GHp ? max_in * D * GHp : (size_t)D * Hr * GHp;
        if (n_tiled > n_max) n_max = n_tiled;
        if ((size_t)D * 2 * GHp > n_max) n_max = (size_t)D * 2 * GHp;
        if ((size_t)D * 3 * 16 * r->Hb > n_max) n_max = (size_t)D * 3 * 16 * r->Hb;
    }
    float *tmp = malloc(n_max * sizeof(float) + (size_t)D * 2 * GH * sizeof(float) + 64);
    if (!tmp) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "weight repacking buffer");
    for (int l = 0; l < d->num_layers && st == CLRNN_OK; ++l) {
        if (r->tiled) {
            st = upload_layer_tiled(r, l, tmp, n_max);
            continue;
        }
        const int I = r->lw[l * D].in_size;
        /* WT [I, D*G*H]: both directions' input weights side by side, one GEMM for the layer */
        for (int dir = 0; dir < D; ++dir) {
            const clrnn_layer_weights *w = &r->lw[l * D + dir];
            for (int row = 0; row < GH; ++row)
                for (int i = 0; i < I; ++i) tmp[(size_t)i * D * GH + (size_t)dir * GH + row] = w->W[(size_t)row * I + i];
        }
        if ((st = upload_buf(ctx, &r->dw.WT[l], tmp, (size_t)I * D * GH * sizeof(float), "input weights")) != CLRNN_OK) break;
        /* RT [D][Hr][G*H] so that consecutive work-items (j) read consecutive floats */
        for (int dir = 0; dir < D; ++dir) {
            const clrnn_layer_weights *w = &r->lw[l * D + dir];
            for (int row = 0; row < GH; ++row)
                for (int k = 0; k < Hr; ++k) tmp[((size_t)dir * Hr + k) * GH + row] = w->R[(size_t)row * Hr + k];
        }
        if ((st = upload_buf(ctx, &r->dw.RT[l], tmp, n_rt * sizeof(float), "recurrent weights")) != CLRNN_OK) break;
        /* bias [D][2][G*H]: row 0 = Wb + Rb (+ forget_bias), except lbr's n gate (Wb only); row 1 = Rb */
        for (int dir = 0; dir < D; ++dir) {
            const clrnn_layer_weights *w = &r->lw[l * D + dir];
            float *b = tmp + (size_t)dir * 2 * GH;
            for (int k = 0; k < GH; ++k) {
                const int n_gate = k >= 2 * H;
                b[k] = w->Wb[k] + ((lbr && n_gate) ? 0.0f : w->Rb[k]);
                b[GH + k] = w->Rb[k];
            }
            if (d->cell == CLRNN_CELL_LSTM)
                for (int j = 0; j < H; ++j) b[H + j] += d->forget_bias;
        }
        if ((st = upload_buf(ctx, &r->dw.bias[l], tmp, (size_t)D * 2 * GH * sizeof(float), "biases")) != CLRNN_OK) break;
        for (int dir = 0; dir < D; ++dir)
            memcpy(tmp + (size_t)dir * 3 * H, r->lw[l * D + dir].P, 3 * (size_t)H * sizeof(float));
        if ((st = upload_buf(ctx, &r->dw.peep[l], tmp, (size_t)D * 3 * H * sizeof(float), "peepholes")) != CLRNN_OK) break;
        if (d->proj_size > 0) {
            for (int dir = 0; dir < D; ++dir) {
                const clrnn_layer_weights *w = &r->lw[l * D + dir];
                for (int p = 0; p < Hr; ++p)
                    for (int k = 0; k < H; ++k) tmp[((size_t)dir * H + k) * Hr + p] = w->proj[(size_t)p * H + k];
            }
            if ((st = upload_buf(ctx, &r->dw.projT[l], tmp, n_proj * sizeof(float), "projection")) != CLRNN_OK) break;
        }
    }
    if (st == CLRNN_OK) {
        float acts[2 * 3 * 3];
        for (int dir = 0; dir < 2; ++dir)
            for (int s = 0; s < 3; ++s) {
                clrnn_activation a = clrnn_effective_activation(d, dir < D ? dir : 0, s);
                acts[(dir * 3 + s) * 3 + 0] = (float)a.kind;
                acts[(dir * 3 + s) * 3 + 1] = a.alpha;
                acts[(dir * 3 + s) * 3 + 2] = a.beta;
            }
        st = upload_buf(ctx, &r->dw.acts, acts, sizeof acts, "activations");
    }
    if (st == CLRNN_OK && d->dense_size > 0) {
        const int O = r->O, Hm = r->Hm;
        for (int o = 0; o < O; ++o)
            for (int k = 0; k < Hm; ++k) tmp[(size_t)k * O + o] = r->dense_W[(size_t)o * Hm + k];
        st = upload_buf(ctx, &r->dw.denseT, tmp, (size_t)O * Hm * sizeof(float), "dense weights");
        if (st == CLRNN_OK) st = upload_buf(ctx, &r->dw.dense_b, r->dense_b, (size_t)O * sizeof(float), "dense bias");
    }
    free(tmp);
    if (st == CLRNN_OK) r->dirty = 0;
    return st;
}

/* Sizes the workspace for (T, N); keeps it while a call fits. */
static clrnn_status ensure_workspace(clrnn_rnn *r, int T, int N) {
    clrnn_workspace *ws = &r->ws;
    if (ws->x_proj && T <= ws->T && N <= ws->N) return CLRNN_OK;
    if (T < ws->T) T = ws->T;
    if (N < ws->N) N = ws->N;
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    const size_t D = (size_t)r->D, H = (size_t)d->hidden_size, Hr = (size_t)r->Hr;
    size_t TN, tmp;
    if (!clrnn_mul_size((size_t)T, (size_t)N, &TN) || !clrnn_mul_size(TN, D * r->Gs * 16 * (size_t)r->Hb, &tmp) ||
        !clrnn_mul_size(TN, (size_t)d->input_size, &tmp) || !clrnn_mul_size(TN, (size_t)(r->O > r->Hm ? r->O : r->Hm) + D * Hr, &tmp))
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "workspace for T=%d N=%d overflows", T, N);
    clrnn_rnn_release_device_ws(r);
    size_t *total = &ws->bytes;
    clrnn_status st;
#define ALLOC(mem, elems, what) \
    if ((st = alloc_buf(ctx, &(mem), (elems), sizeof(float), total, what)) != CLRNN_OK) goto fail
    ALLOC(ws->x, TN * d->input_size, "input staging");
    ALLOC(ws->x_proj, TN * D * (r->tiled ? (size_t)r->Gs * 16 * r->Hb : (size_t)r->G * H), "input projections");
    ALLOC(ws->y_a, TN * D * Hr, "layer outputs");
    if (d->num_layers > 1) ALLOC(ws->y_b, TN * D * Hr, "layer outputs");
    for (int l = 0; l < d->num_layers; ++l)
        for (int i = 0; i < 2; ++i) {
            ALLOC(ws->h[l][i], D * N * (size_t)r->Hs, "hidden state");
            if (d->cell == CLRNN_CELL_LSTM) ALLOC(ws->c[l][i], D * N * (size_t)r->Hc, "cell state");
        }
    ALLOC(ws->h_raw, D * N * (size_t)(r->Hs > (int)H ? r->Hs : (int)H), "step scratch");
    if (d->cell == CLRNN_CELL_GRU && !d->linear_before_reset) ALLOC(ws->zbuf, D * N * (size_t)r->Hs, "update gate");
    ALLOC(ws->tmap, D * TN + D * N, "step table");
    ALLOC(ws->perm, (size_t)N, "row order");
    ALLOC(ws->row_needed, TN, "row table");
    ALLOC(ws->y_out, TN * (size_t)(r->O > (int)(D * Hr) ? r->O : (int)(D * Hr)), "output staging");
    if (d->dense_size > 0) ALLOC(ws->dense_in, TN * r->Hm, "dense input");
#undef ALLOC
    /* Zero the states once: padded lanes of the tiled plan are then defined (never used as input). */
    const float zero = 0.0f;
    for (int l = 0; l < d->num_layers; ++l)
        for (int i = 0; i < 2; ++i) {
            cl_int err = clEnqueueFillBuffer(ctx->queue, ws->h[l][i], &zero, sizeof zero, 0,
                                             D * N * (size_t)r->Hs * sizeof(float), 0, NULL, NULL);
            if (err == CL_SUCCESS && ws->c[l][i])
                err = clEnqueueFillBuffer(ctx->queue, ws->c[l][i], &zero, sizeof zero, 0,
                                          D * N * (size_t)r->Hc * sizeof(float), 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                st = clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing the states");
                goto fail;
            }
        }
    ws->T = T;
    ws->N = N;
    return CLRNN_OK;
fail:
    clrnn_rnn_release_device_ws(r);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Kernel launches
 * ---------------------------------------------------------------------------------------- */
typedef struct kargs {
    cl_kernel k;
    cl_uint i;
    cl_int err;
    const char *name;
} kargs;

static void a_mem(kargs *a, cl_mem m) {
    cl_int e = clSetKernelArg(a->k, a->i++, sizeof m, &m);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_int(kargs *a, int v) {
    cl_int e = clSetKernelArg(a->k, a->i++, sizeof v, &v);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_flt(kargs *a, float v) {
    cl_int e = clSetKernelArg(a->k, a->i++, sizeof v, &v);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_ulong(kargs *a, cl_ulong v) {
    cl_int e = clSetKernelArg(a->k, a->i++, sizeof v, &v);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_local(kargs *a, size_t bytes) {
    cl_int e = clSetKernelArg(a->k, a->i++, bytes, NULL);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_set_mem(kargs *a, cl_uint index, cl_mem m) {
    cl_int e = clSetKernelArg(a->k, index, sizeof m, &m);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static void a_set_int(kargs *a, cl_uint index, int v) {
    cl_int e = clSetKernelArg(a->k, index, sizeof v, &v);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}

static kargs begin(clrnn_context *ctx, clrnn_kernel_id id, const char *name) {
    kargs a = {ctx->kernels[id], 0, CL_SUCCESS, name};
    return a;
}

/* Work-group width for a step kernel over `units` outputs: a power of two up to 64, within the
 * kernel's limit. Rows of the batch and directions are the other two NDRange dimensions. */
static size_t step_lws(clrnn_context *ctx, cl_kernel k, int units) {
    size_t lim = 64, kmax = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) == CL_SUCCESS &&
        kmax > 0 && kmax < lim)
        lim = kmax;
    size_t l = 1;
    while (l < (size_t)units && l < lim) l <<= 1;
    return l;
}

static clrnn_status launch(clrnn_context *ctx, kargs *a, size_t g0, size_t g1, size_t g2, size_t l0) {
    if (a->err != CL_SUCCESS) return clrnn_fail_cl(a->err, "clSetKernelArg", a->name);
    const size_t global[3] = {(g0 + l0 - 1) / l0 * l0, g1, g2};
    const size_t local[3] = {l0, 1, 1};
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, a->k, 3, NULL, global, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueNDRangeKernel", a->name);
}

/* Moves a [rows, width] block of floats between a device buffer (rows `dev_stride` floats apart,
 * from byte dev_off) and a tensor (packed rows, from byte t_off of the host pointer or cl_mem), in
 * either direction. Device states are strided (the tiled plan pads rows to 16-lane blocks); a
 * packed block goes as one contiguous row. */
static clrnn_status move_block(clrnn_context *ctx, int to_device, cl_mem dev, size_t dev_off, const clrnn_tensor *t,
                               size_t t_off, size_t rows, size_t width, size_t dev_stride) {
    if (dev_stride == width) {
        width *= rows;
        dev_stride = width;
        rows = 1;
    }
    const size_t row_bytes = width * sizeof(float), dev_pitch = dev_stride * sizeof(float);
    const size_t dev_origin[3] = {dev_off, 0, 0}, t_origin[3] = {t->offset + t_off, 0, 0};
    const size_t host_origin[3] = {0, 0, 0}, region[3] = {row_bytes, rows, 1};
    cl_int err;
    const char *call;
    if (t->host) {
        char *h = (char *)t->host + t_off;
        call = to_device ? "clEnqueueWriteBufferRect" : "clEnqueueReadBufferRect";
        err = to_device ? clEnqueueWriteBufferRect(ctx->queue, dev, CL_FALSE, dev_origin, host_origin, region, dev_pitch,
                                                   0, row_bytes, 0, h, 0, NULL, NULL)
                        : clEnqueueReadBufferRect(ctx->queue, dev, CL_FALSE, dev_origin, host_origin, region, dev_pitch, 0,
                                                  row_bytes, 0, h, 0, NULL, NULL);
    } else {
        call = "clEnqueueCopyBufferRect";
        err = to_device ? clEnqueueCopyBufferRect(ctx->queue, t->mem, dev, t_origin, dev_origin, region, row_bytes, 0,
                                                  dev_pitch, 0, 0, NULL, NULL)
                        : clEnqueueCopyBufferRect(ctx->queue, dev, t->mem, dev_origin, t_origin, region, dev_pitch, 0,
                                                  row_bytes, 0, 0, NULL, NULL);
    }
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, call, to_device ? "loading an input" : "writing an output");
}

/* An initial state into the device layout, or zeros when the caller gave none. */
static clrnn_status load_state(clrnn_context *ctx, cl_mem dst, const clrnn_tensor *t, size_t t_off, size_t rows,
                               size_t width, size_t stride) {
    if (t->host || t->mem) return move_block(ctx, 1, dst, 0, t, t_off, rows, width, stride);
    const float zero = 0.0f;
    const cl_int err = clEnqueueFillBuffer(ctx->queue, dst, &zero, sizeof zero, 0, rows * stride * sizeof(float), 0,
                                           NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing a state");
}

/* Row groups for the tiled kernels: the fewest that still give every compute unit two work-items
 * (units = work-items per group), so each work-item keeps its weight slice in cache across more rows.
 * rnn->tiled_groups (CLRNN_TILED_GROUPS at creation) overrides it, for tuning experiments. */
static void tiled_groups(const clrnn_rnn *r, int n_rb, int units, int *groups, int *rb_per_item) {
    int g = (2 * (int)r->ctx->info.compute_units + units - 1) / units;
    if (r->tiled_groups > 0) g = r->tiled_groups;
    g = g < 1 ? 1 : g > n_rb ? n_rb : g;
    *rb_per_item = (n_rb + g - 1) / g;
    *groups = (n_rb + *rb_per_item - 1) / *rb_per_item;
}

/* x_proj for one layer: the tiled kernel, or CLBlast for the generic plan. */
static clrnn_status input_projection(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off) {
    const int rows = T * N;
    clrnn_context *ctx = r->ctx;
    const int I = r->lw[l * r->D].in_size, H = r->desc.hidden_size;
    if (!r->tiled) {
        const size_t cols = (size_t)r->D * r->G * H;
        return clrnn_sgemm_locked(ctx, 0, 0, (size_t)rows, cols, (size_t)I, 1.0f, in, in_off, (size_t)I, r->dw.WT[l], 0,
                                  cols, 0.0f, r->ws.x_proj, 0, cols);
    }
    const clrnn_kernel_id id = r->Gs == 4 ? CLRNN_K_xproj_tiled_4 : CLRNN_K_xproj_tiled_3;
    int groups, rb_per_item;
    tiled_groups(r, (T * N + 3) / 4, r->Hb * r->D, &groups, &rb_per_item);
    kargs a = begin(ctx, id, "xproj_tiled");
    a_int(&a, T), a_int(&a, N), a_int(&a, batch_major), a_int(&a, r->Hb), a_int(&a, I), a_mem(&a, in);
    a_ulong(&a, in_off), a_mem(&a, r->dw.WT[l]), a_mem(&a, r->ws.x_proj), a_mem(&a, r->ws.perm);
    a_mem(&a, r->ws.row_needed), a_int(&a, rb_per_item);
    return launch(ctx, &a, (size_t)r->Hb, (size_t)groups, (size_t)r->D, 1);
}

/* The tiled plan's scan kernels by cell, as [MR = 1, MR = 4]: the persistent scan, and the step
 * kernel(s) it replaces (the reset-before GRU's step is two launches: gates, then output). */
typedef struct tiled_kernels {
    clrnn_kernel_id scan[2], step[2], step2[2];
    int n_steps; /* launches per step */
} tiled_kernels;

static tiled_kernels tiled_kernels_for(const clrnn_rnn_desc *d) {
    if (d->cell == CLRNN_CELL_LSTM)
        return (tiled_kernels){{CLRNN_K_lstm_scan_tiled_1, CLRNN_K_lstm_scan_tiled_4},
                               {CLRNN_K_lstm_step_tiled_1, CLRNN_K_lstm_step_tiled_4}, {0, 0}, 1};
    if (d->cell == CLRNN_CELL_RNN)
        return (tiled_kernels){{CLRNN_K_rnn_scan_tiled_1, CLRNN_K_rnn_scan_tiled_4},
                               {CLRNN_K_rnn_step_tiled_1, CLRNN_K_rnn_step_tiled_4}, {0, 0}, 1};
    if (d->linear_before_reset)
        return (tiled_kernels){{CLRNN_K_gru_lbr_scan_tiled_1, CLRNN_K_gru_lbr_scan_tiled_4},
                               {CLRNN_K_gru_lbr_step_tiled_1, CLRNN_K_gru_lbr_step_tiled_4}, {0, 0}, 1};
    return (tiled_kernels){{CLRNN_K_gru_scan_tiled_1, CLRNN_K_gru_scan_tiled_4},
                           {CLRNN_K_gru_gates_step_tiled_1, CLRNN_K_gru_gates_step_tiled_4},
                           {CLRNN_K_gru_out_step_tiled_1, CLRNN_K_gru_out_step_tiled_4}, 2};
}

/* Arguments of every tiled step/scan kernel (the *_TILED_PARAMS lists in cl/step_tiled.cl), with the
 * state buffers (a, b): the step kernels read a and write b, the scan starts from a. */
static kargs tiled_args(clrnn_rnn *r, clrnn_kernel_id id, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                        int a_idx) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int b_idx = a_idx ^ 1;
    kargs a = begin(r->ctx, id, "tiled scan");
    a_int(&a, 0), a_int(&a, 0), a_int(&a, T), a_int(&a, N), a_int(&a, d->hidden_size), a_int(&a, r->Hr);
    a_mem(&a, ws->tmap);
    a_mem(&a, ws->perm), a_mem(&a, ws->x_proj), a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]);
    a_mem(&a, dw->bias[l]);
    if (d->cell == CLRNN_CELL_LSTM) {
        a_mem(&a, dw->peep[l]), a_mem(&a, dw->acts);
        a_mem(&a, ws->h[l][a_idx]), a_mem(&a, ws->c[l][a_idx]), a_mem(&a, ws->h[l][b_idx]), a_mem(&a, ws->c[l][b_idx]);
        a_mem(&a, y_layer), a_int(&a, (d->peephole ? 1 : 0) | (d->input_forget ? 2 : 0));
        a_int(&a, (int)d->masked_output), a_flt(&a, d->clip), a_flt(&a, d->cell_clip);
    } else {
        a_mem(&a, dw->acts), a_mem(&a, ws->h[l][a_idx]), a_mem(&a, ws->h[l][b_idx]);
        if (d->cell == CLRNN_CELL_GRU && !d->linear_before_reset) a_mem(&a, ws->zbuf), a_mem(&a, ws->h_raw);
        a_mem(&a, y_layer), a_int(&a, (int)d->masked_output), a_flt(&a, d->clip);
    }
    a_flt(&a, d->masked_fill_value);
    return a;
}

/* Row groups of the persistent scan: a work-group runs on one compute unit and owns its rows for
 * all T steps, so one group per compute unit and direction (each group streams all of Rᵀ once per
 * step). */
static int scan_groups(const clrnn_rnn *r, int n_rb) {
    int g = ((int)r->ctx->info.compute_units + r->D - 1) / r->D;
    if (r->tiled_groups > 0) g = r->tiled_groups;
    return g < 1 ? 1 : g > n_rb ? n_rb : g;
}

/* Whether the persistent scan can run: its work-group is the Hb blocks of one row group. */
static int scan_fits(const clrnn_rnn *r, clrnn_kernel_id id) {
    size_t kmax = 0;
    return clGetKernelWorkGroupInfo(r->ctx->kernels[id], r->ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                    &kmax, NULL) == CL_SUCCESS &&
           (size_t)r->Hb <= kmax;
}

/* Steps [s0, s1) of layer l in the tiled plan: the persistent scan (one launch) or one launch (two
 * for the reset-before GRU) per step. Both run the same arithmetic on the same state buffers (step
 * s reads buffer s & 1), so they can take turns within one layer and give bitwise equal results. */
static clrnn_status scan_tiled_range(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                                     int persistent, int s0, int s1) {
    clrnn_context *ctx = r->ctx;
    /* MR = 4 batch rows per work-item when the batch allows it; 1 keeps small batches parallel */
    const int m = N >= 8 ? 1 : 0, mr = m ? 4 : 1, n_rb = (N + mr - 1) / mr;
    const tiled_kernels tk = tiled_kernels_for(&r->desc);
    if (s0 >= s1) return CLRNN_OK;
    if (persistent) {
        kargs a = tiled_args(r, tk.scan[m], l, T, N, xp_batch_major, y_layer, 0);
        a_set_int(&a, 0, s0), a_set_int(&a, 1, s1);
        return launch(ctx, &a, (size_t)r->Hb, (size_t)scan_groups(r, n_rb), (size_t)r->D, (size_t)r->Hb);
    }
    /* Fewest row groups that still give every compute unit two work-items: each work-item then
     * keeps its slice of Rᵀ in cache across more of the batch. */
    int groups, rb_per_item;
    tiled_groups(r, n_rb, r->Hb * r->D, &groups, &rb_per_item);
    clrnn_status st = CLRNN_OK;
    for (int s = s0; s < s1 && st == CLRNN_OK; ++s) {
        /* the states alternate: step s reads buffer s & 1 (arguments are re-set, they are cheap) */
        kargs a = tiled_args(r, tk.step[m], l, T, N, xp_batch_major, y_layer, s & 1);
        a_set_int(&a, 0, s);
        st = launch(ctx, &a, (size_t)r->Hb, (size_t)groups, (size_t)r->D, 1);
        if (tk.n_steps == 2 && st == CLRNN_OK) {
            a = tiled_args(r, tk.step2[m], l, T, N, xp_batch_major, y_layer, s & 1);
            a_set_int(&a, 0, s);
            st = launch(ctx, &a, (size_t)r->Hb, (size_t)groups, (size_t)r->D, 1);
        }
    }
    return st;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static clrnn_status finish(clrnn_context *ctx) {
    const cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", "timing the scan variants");
}

const clrnn_scan_choice *clrnn_scan_memo_find(const clrnn_rnn *r, int N) {
    for (int i = 0; i < CLRNN_SCAN_MEMO; ++i)
        if (r->scan_memo[i].N == N) return &r->scan_memo[i];
    return NULL;
}

/* The memo slot of batch size N, taking the oldest slot for a new one. */
static clrnn_scan_choice *scan_memo_slot(clrnn_rnn *r, int N) {
    clrnn_scan_choice *c = (clrnn_scan_choice *)clrnn_scan_memo_find(r, N);
    if (c) return c;
    c = &r->scan_memo[r->scan_memo_next];
    r->scan_memo_next = (r->scan_memo_next + 1) % CLRNN_SCAN_MEMO;
    memset(c, 0, sizeof *c);
    c->N = N;
    return c;
}

/* One layer of the tiled plan. Which scan is faster depends on the device and the shape (the
 * persistent scan saves a launch per step but runs a row group on one compute unit, streaming all
 * of Rᵀ there), so it is measured per batch size, on the layer's own steps: after a warm-up step of
 * each, steps run as A B B A chunks of k steps (A = a launch per step, B = persistent), which cancels
 * a cost that drifts linearly over time (rows finishing), and the faster takes the remaining steps.
 * No work is repeated. The first call of a batch size is not measured (first-touch page faults and
 * cold caches would decide it) and runs a launch per step; the next CLRNN_SCAN_TRIALS calls with
 * enough steps are, and their summed times decide. CLRNN_SCAN=steps|persistent forces one. */
static clrnn_status scan_tiled(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer) {
    const tiled_kernels tk = tiled_kernels_for(&r->desc);
    int mode = r->scan_mode;
    if (!scan_fits(r, tk.scan[N >= 8])) mode = CLRNN_SCAN_STEPS;
    const int k = (T - 2) / 4 < 8 ? (T - 2) / 4 : 8;
    clrnn_scan_choice *memo = mode ? NULL : scan_memo_slot(r, N);
    if (memo && memo->mode) mode = memo->mode;
    /* measure on layer 0 only, and not on a batch size's first call */
    if (mode || k < 2 || l > 0 || memo->calls++ == 0)
        return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, mode == CLRNN_SCAN_PERSISTENT, 0, T);

    clrnn_status st;
    double t[4];
    const int s[5] = {2, 2 + k, 2 + 3 * k, 2 + 4 * k, T};
    if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 0, 0, 1)) != CLRNN_OK ||
        (st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 1, 1, 2)) != CLRNN_OK ||
        (st = finish(r->ctx)) != CLRNN_OK)
        return st;
    for (int c = 0; c < 3; ++c) {
        t[c] = now_ms();
        if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, c == 1, s[c], s[c + 1])) != CLRNN_OK ||
            (st = finish(r->ctx)) != CLRNN_OK)
            return st;
    }
    t[3] = now_ms();
    memo->steps_timed += 2 * k;
    memo->ms_steps += (t[1] - t[0]) + (t[3] - t[2]);
    memo->ms_persistent += t[2] - t[1];
    int best = memo->ms_persistent < memo->ms_steps ? CLRNN_SCAN_PERSISTENT : CLRNN_SCAN_STEPS;
    if (++memo->trials >= CLRNN_SCAN_TRIALS) memo->mode = best;
    return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, best == CLRNN_SCAN_PERSISTENT, s[3], s[4]);
}

/* One layer's recurrence over all T steps, both directions in each launch. */
static clrnn_status scan_layer(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int H = d->hidden_size, Hr = r->Hr, D = r->D;
    const int policy = (int)d->masked_output;
    const float fill = d->masked_fill_value;
    clrnn_status st = CLRNN_OK;
    cl_mem *h = ws->h[l], *c = ws->c[l];

    if (r->tiled) {
        st = scan_tiled(r, l, T, N, xp_batch_major, y_layer);
    } else if (d->cell == CLRNN_CELL_RNN || (d->cell == CLRNN_CELL_GRU && d->linear_before_reset)) {
        const int rnn = d->cell == CLRNN_CELL_RNN;
        kargs a = begin(ctx, rnn ? CLRNN_K_rnn_step : CLRNN_K_gru_lbr_step, rnn ? "rnn_step" : "gru_lbr_step");
        const size_t lws = step_lws(ctx, a.k, H);
        a_int(&a, 0), a_int(&a, T), a_int(&a, N), a_int(&a, H), a_mem(&a, ws->tmap), a_mem(&a, ws->x_proj);
        a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]), a_mem(&a, dw->bias[l]), a_mem(&a, dw->acts);
        a_mem(&a, h[0]), a_mem(&a, h[1]), a_mem(&a, y_layer), a_int(&a, policy), a_flt(&a, d->clip);
        a_flt(&a, fill), a_local(&a, lws * sizeof(float));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            a_set_int(&a, 0, s);
            a_set_mem(&a, 10, h[s & 1]);
            a_set_mem(&a, 11, h[(s + 1) & 1]);
            st = launch(ctx, &a, (size_t)H, (size_t)N, (size_t)D, lws);
        }
    } else if (d->cell == CLRNN_CELL_GRU) {
        kargs g = begin(ctx, CLRNN_K_gru_gates_step, "gru_gates_step");
        kargs o = begin(ctx, CLRNN_K_gru_out_step, "gru_out_step");
        const size_t lg = step_lws(ctx, g.k, H), lo = step_lws(ctx, o.k, H);
        a_int(&g, 0), a_int(&g, T), a_int(&g, N), a_int(&g, H), a_mem(&g, ws->tmap), a_mem(&g, ws->x_proj);
        a_int(&g, xp_batch_major), a_mem(&g, dw->RT[l]), a_mem(&g, dw->bias[l]), a_mem(&g, dw->acts);
        a_mem(&g, h[0]), a_mem(&g, ws->zbuf), a_mem(&g, ws->h_raw), a_flt(&g, d->clip), a_local(&g, lg * sizeof(float));
        a_int(&o, 0), a_int(&o, T), a_int(&o, N), a_int(&o, H), a_mem(&o, ws->tmap), a_mem(&o, ws->x_proj);
        a_int(&o, xp_batch_major), a_mem(&o, dw->RT[l]), a_mem(&o, dw->bias[l]), a_mem(&o, dw->acts);
        a_mem(&o, h[0]), a_mem(&o, ws->zbuf), a_mem(&o, ws->h_raw), a_mem(&o, h[1]), a_mem(&o, y_layer);
        a_int(&o, policy), a_flt(&o, d->clip), a_flt(&o, fill), a_local(&o, lo * sizeof(float));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            a_set_int(&g, 0, s);
            a_set_mem(&g, 10, h[s & 1]);
            a_set_int(&o, 0, s);
            a_set_mem(&o, 10, h[s & 1]);
            a_set_mem(&o, 13, h[(s + 1) & 1]);
            st = launch(ctx, &g, (size_t)H, (size_t)N, (size_t)D, lg);
            if (st == CLRNN_OK) st = launch(ctx, &o, (size_t)H, (size_t)N, (size_t)D, lo);
        }
    } else {
        const int proj = d->proj_size > 0;
        const int flags = (d->peephole ? 1 : 0) | (d->input_forget ? 2 : 0) | (proj ? 4 : 0);
        kargs a = begin(ctx, CLRNN_K_lstm_step, "lstm_step");
        kargs p = begin(ctx, CLRNN_K_lstm_proj_step, "lstm_proj_step");
        const size_t la = step_lws(ctx, a.k, H), lp = step_lws(ctx, p.k, Hr);
        a_int(&a, 0), a_int(&a, T), a_int(&a, N), a_int(&a, H), a_int(&a, Hr), a_mem(&a, ws->tmap);
        a_mem(&a, ws->x_proj), a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]), a_mem(&a, dw->bias[l]);
        a_mem(&a, dw->peep[l]), a_mem(&a, dw->acts), a_mem(&a, h[0]), a_mem(&a, c[0]), a_mem(&a, h[1]);
        a_mem(&a, c[1]), a_mem(&a, y_layer), a_mem(&a, ws->h_raw), a_int(&a, flags), a_int(&a, policy);
        a_flt(&a, d->clip), a_flt(&a, d->cell_clip), a_flt(&a, fill), a_local(&a, la * sizeof(float));
        if (proj) {
            a_int(&p, 0), a_int(&p, T), a_int(&p, N), a_int(&p, H), a_int(&p, Hr), a_mem(&p, ws->tmap);
            a_mem(&p, dw->projT[l]), a_mem(&p, ws->h_raw), a_mem(&p, h[0]), a_mem(&p, h[1]), a_mem(&p, y_layer);
            a_int(&p, policy), a_flt(&p, d->proj_clip), a_flt(&p, fill), a_local(&p, lp * sizeof(float));
        }
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            const int cur = s & 1, nxt = (s + 1) & 1;
            a_set_int(&a, 0, s);
            a_set_mem(&a, 12, h[cur]), a_set_mem(&a, 13, c[cur]), a_set_mem(&a, 14, h[nxt]), a_set_mem(&a, 15, c[nxt]);
            st = launch(ctx, &a, (size_t)H, (size_t)N, (size_t)D, la);
            if (proj && st == CLRNN_OK) {
                a_set_int(&p, 0, s);
                a_set_mem(&p, 8, h[cur]), a_set_mem(&p, 9, h[nxt]);
                st = launch(ctx, &p, (size_t)Hr, (size_t)N, (size_t)D, lp);
            }
        }
    }
    *final_idx = T & 1;
    return st;
}

/* Last layer → user layout (merge, reversed order, optional dense). `src` is either the layer
 * output [T, N, D, Hr] or, for last_only, per-direction final states gathered in [D, N, Hr]. */
static clrnn_status emit_outputs(clrnn_rnn *r, const clrnn_forward_args *args, cl_mem src, int T_out, int st_t,
                                 int st_n, int st_d, int has_any_off, int rev_mask, int batch_major) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    const int N = args->batch, D = r->D, Hr = r->Hr;
    const int dense = d->dense_size > 0;
    const size_t rows = (size_t)T_out * N;
    const int mode = D == 1 ? CLRNN_MERGE_CONCAT : (int)d->merge;
    const size_t out_bytes = rows * (size_t)r->O * sizeof(float);
    /* One direction, time-major (or a single row or step), in order: the layer output already is
     * the user layout, so it is read (or fed to the dense layer) as it is, with no merge pass. */
    const int identity = D == 1 && rev_mask == 0 && has_any_off < 0 && (!batch_major || N == 1 || T_out == 1) &&
                         st_n == Hr && (size_t)st_t == (size_t)N * Hr;
    /* Where the merge writes: the dense input, the user's device buffer, or host staging. */
    cl_mem merge_dst;
    size_t merge_off = 0;
    if (identity)
        merge_dst = src;
    else if (dense)
        merge_dst = r->ws.dense_in;
    else if (args->y.mem) {
        merge_dst = args->y.mem;
        merge_off = args->y.offset / sizeof(float);
    } else
        merge_dst = r->ws.y_out;
    clrnn_status st = CLRNN_OK;
    if (!identity) {
        kargs m = begin(ctx, CLRNN_K_merge_outputs, "merge_outputs");
        a_int(&m, T_out), a_int(&m, N), a_int(&m, D), a_int(&m, Hr), a_int(&m, mode), a_int(&m, batch_major);
        a_int(&m, rev_mask), a_mem(&m, r->ws.tmap), a_int(&m, has_any_off), a_mem(&m, src), a_int(&m, st_t);
        a_int(&m, st_n), a_int(&m, st_d), a_mem(&m, merge_dst), a_ulong(&m, merge_off), a_int(&m, (int)d->masked_output);
        a_flt(&m, d->masked_fill_value);
        st = launch(ctx, &m, (size_t)N, (size_t)T_out, 1, step_lws(ctx, m.k, N));
        if (st != CLRNN_OK) return st;
    }
    if (dense) {
        cl_mem out = args->y.mem ? args->y.mem : r->ws.y_out;
        const size_t off = args->y.mem ? args->y.offset / sizeof(float) : 0;
        kargs f = begin(ctx, CLRNN_K_fill_rows, "fill_rows");
        a_mem(&f, out), a_ulong(&f, off), a_int(&f, r->O), a_mem(&f, r->dw.dense_b);
        const size_t lf = step_lws(ctx, f.k, r->O);
        const size_t global[2] = {((size_t)r->O + lf - 1) / lf * lf, rows}, local[2] = {lf, 1};
        if (f.err != CL_SUCCESS) return clrnn_fail_cl(f.err, "clSetKernelArg", "fill_rows");
        cl_int err = clEnqueueNDRangeKernel(ctx->queue, f.k, 2, NULL, global, local, 0, NULL, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueNDRangeKernel", "fill_rows");
        st = clrnn_sgemm_locked(ctx, 0, 0, rows, (size_t)r->O, (size_t)r->Hm, 1.0f, merge_dst, 0, (size_t)r->Hm,
                                r->dw.denseT, 0, (size_t)r->O, 1.0f, out, off, (size_t)r->O);
        if (st != CLRNN_OK) return st;
        if (args->y.host) st = move_block(ctx, 0, r->ws.y_out, 0, &args->y, 0, 1, out_bytes / sizeof(float), out_bytes / sizeof(float));
        return st;
    }
    /* the merge wrote a device y in place; otherwise y is read or copied from where it is */
    if (identity || args->y.host) st = move_block(ctx, 0, merge_dst, 0, &args->y, 0, 1, out_bytes / sizeof(float), out_bytes / sizeof(float));
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Argument checks (all before any device work)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status check_tensor(const clrnn_tensor *t, const char *name, int required) {
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

static clrnn_status check_mem_size(const clrnn_tensor *t, size_t bytes, const char *name) {
    if (!t->mem) return CLRNN_OK;
    size_t size = 0;
    clGetMemObjectInfo(t->mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (t->offset > size || size - t->offset < bytes)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "%s: buffer holds %zu bytes after offset %zu, needs %zu", name,
                          size > t->offset ? size - t->offset : 0, t->offset, bytes);
    return CLRNN_OK;
}

static clrnn_status check_args(const clrnn_rnn *r, const clrnn_forward_args *a) {
    const int T = a->seq_length, N = a->batch;
    if (T <= 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "seq_length = %d must be >= 1", T);
    if (N <= 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "batch = %d must be >= 1", N);
    if (T > CLRNN_STEP_T_MASK) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "seq_length = %d is too large", T);
    size_t TN;
    if (!clrnn_mul_size((size_t)T, (size_t)N, &TN) || TN * (size_t)r->D > (size_t)0x7fffffff)
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "seq_length x batch x directions = %d x %d x %d exceeds 2^31", T, N, r->D);
    clrnn_status st;
    if ((st = check_tensor(&a->x, "x", 1)) != CLRNN_OK) return st;
    if ((st = check_tensor(&a->h0, "h0", 0)) != CLRNN_OK) return st;
    if ((st = check_tensor(&a->c0, "c0", 0)) != CLRNN_OK) return st;
    if ((st = check_tensor(&a->y, "y", 0)) != CLRNN_OK) return st;
    if ((st = check_tensor(&a->hn, "hn", 0)) != CLRNN_OK) return st;
    if ((st = check_tensor(&a->cn, "cn", 0)) != CLRNN_OK) return st;
    const int lstm = r->desc.cell == CLRNN_CELL_LSTM;
    if (!lstm && (a->c0.host || a->c0.mem)) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "c0 is only for LSTM");
    if (!lstm && (a->cn.host || a->cn.mem)) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "cn is only for LSTM");
    const size_t LDN = (size_t)r->desc.num_layers * r->D * N;
    size_t xb = TN * (size_t)r->desc.input_size * sizeof(float);
    size_t yb = (a->last_only ? (size_t)N : TN) * (size_t)r->O * sizeof(float);
    if (r->D == 2 && r->desc.merge == CLRNN_MERGE_NONE) yb = (a->last_only ? (size_t)N : TN) * 2 * r->Hr * sizeof(float);
    if ((st = check_mem_size(&a->x, xb, "x")) != CLRNN_OK) return st;
    if ((st = check_mem_size(&a->y, yb, "y")) != CLRNN_OK) return st;
    if ((st = check_mem_size(&a->h0, LDN * r->Hr * sizeof(float), "h0")) != CLRNN_OK) return st;
    if ((st = check_mem_size(&a->hn, LDN * r->Hr * sizeof(float), "hn")) != CLRNN_OK) return st;
    if ((st = check_mem_size(&a->c0, LDN * r->desc.hidden_size * sizeof(float), "c0")) != CLRNN_OK) return st;
    if ((st = check_mem_size(&a->cn, LDN * r->desc.hidden_size * sizeof(float), "cn")) != CLRNN_OK) return st;
    if (a->seq_lens)
        for (int n = 0; n < N; ++n)
            if (a->seq_lens[n] < 0 || a->seq_lens[n] > T)
                return clrnn_fail(CLRNN_ERR_INVALID_LENGTH, "seq_lens[%d] = %d is outside [0, T = %d]", n, a->seq_lens[n], T);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Driver
 * ---------------------------------------------------------------------------------------- */
static clrnn_status forward_locked(clrnn_rnn *r, const clrnn_forward_args *args) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    const int T = args->seq_length, N = args->batch, D = r->D, H = d->hidden_size, Hr = r->Hr, L = d->num_layers;
    clrnn_status st;
    if (r->dirty && (st = upload_weights(r)) != CLRNN_OK) return st;
    if ((st = ensure_workspace(r, T, N)) != CLRNN_OK) return st;
    clrnn_workspace *ws = &r->ws;

    /* step table → device (blocking writes: the host tables are reused by the next call) */
    const size_t n_tmap = (size_t)D * T * N + (size_t)D * N;
    const size_t n_host = n_tmap + (size_t)N + (size_t)T * N;
    if (n_host > r->tmap_cap) {
        int32_t *t = realloc(r->tmap_host, n_host * sizeof *t);
        if (!t) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "step table");
        r->tmap_host = t;
        r->tmap_cap = n_host;
    }
    clrnn_build_step_table(d, D, T, N, args->seq_lens, args->mask, r->tmap_host);
    cl_int err = clEnqueueWriteBuffer(ctx->queue, ws->tmap, CL_TRUE, 0, n_tmap * sizeof(int32_t), r->tmap_host, 0,
                                      NULL, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the step table");
    if (r->tiled) {
        int32_t *perm = r->tmap_host + n_tmap, *row_needed = perm + N;
        clrnn_build_row_order(T, N, args->seq_lens, args->mask, perm, row_needed);
        err = clEnqueueWriteBuffer(ctx->queue, ws->perm, CL_TRUE, 0, (size_t)N * sizeof(int32_t), perm, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clEnqueueWriteBuffer(ctx->queue, ws->row_needed, CL_TRUE, 0, (size_t)T * N * sizeof(int32_t),
                                       row_needed, 0, NULL, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the row order");
    }

    /* input */
    cl_mem x = ws->x;
    size_t x_off = 0;
    const size_t x_bytes = (size_t)T * N * d->input_size * sizeof(float);
    if (args->x.host) {
        err = clEnqueueWriteBuffer(ctx->queue, ws->x, CL_FALSE, 0, x_bytes, args->x.host, 0, NULL, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading x");
    } else {
        x = args->x.mem;
        x_off = args->x.offset / sizeof(float);
    }

    /* initial states: layer l's slab of h0/c0 goes to its ping buffer */
    const size_t h_slab = (size_t)D * N * Hr * sizeof(float), c_slab = (size_t)D * N * H * sizeof(float);
    const size_t state_rows = (size_t)D * N;
    for (int l = 0; l < L; ++l) {
        if ((st = load_state(ctx, ws->h[l][0], &args->h0, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK) return st;
        if (d->cell == CLRNN_CELL_LSTM &&
            (st = load_state(ctx, ws->c[l][0], &args->c0, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }

    cl_mem layer_in = x, layer_out = ws->y_a;
    size_t in_off = x_off;
    int final_idx = 0;
    for (int l = 0; l < L; ++l) {
        /* x_proj [T*N, D*G*H] = input [T*N, I] · Wᵀ for all steps and directions (biases are added in
         * the step kernel) */
        const int xp_batch_major = l == 0 && d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
        if ((st = input_projection(r, l, T, N, xp_batch_major, layer_in, in_off)) != CLRNN_OK) return st;
        if ((st = scan_layer(r, l, T, N, xp_batch_major, layer_out, &final_idx)) != CLRNN_OK) return st;
        layer_in = layer_out;
        in_off = 0;
        layer_out = layer_out == ws->y_a ? ws->y_b : ws->y_a;
    }
    cl_mem last_out = layer_in;

    /* final states */
    for (int l = 0; l < L; ++l) {
        if ((args->hn.host || args->hn.mem) &&
            (st = move_block(ctx, 0, ws->h[l][final_idx], 0, &args->hn, l * h_slab, state_rows, Hr, r->Hs)) != CLRNN_OK)
            return st;
        if ((args->cn.host || args->cn.mem) &&
            (st = move_block(ctx, 0, ws->c[l][final_idx], 0, &args->cn, l * c_slab, state_rows, H, r->Hc)) != CLRNN_OK)
            return st;
    }

    /* outputs */
    if (args->y.host || args->y.mem) {
        const int batch_major = d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
        if (args->last_only) {
            /* the last layer's final states are each direction's last output: [D, N, Hr] */
            st = emit_outputs(r, args, ws->h[L - 1][final_idx], 1, 0, r->Hs, N * r->Hs, D * T * N, 0, 0);
        } else {
            int rev_mask = 0;
            if (d->reverse_order == CLRNN_REVERSE_OUTPUT_REVERSED)
                rev_mask = D == 2 ? 2 : (d->direction == CLRNN_DIR_REVERSE ? 1 : 0);
            st = emit_outputs(r, args, last_out, T, N * D * Hr, D * Hr, Hr, -1, rev_mask, batch_major);
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
    st = check_args(r, args);
    if (st != CLRNN_OK) return st;
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = forward_locked(r, args);
    if (st != CLRNN_OK) clFinish(r->ctx->queue); /* never leave enqueued work pointing at caller memory */
    mtx_unlock(&r->ctx->lock);
    return st;
}
