/* The GPU plan (cl/gpu/step_gpu.cl): the input projection of all steps and directions as one SGEMM
 * per layer (CLBlast on GPUs), then per step one kernel that computes a tile of units × batch rows
 * of h_prev · Rᵀ through local memory and applies the gate math to it, so each R element read from
 * global memory serves the tile's rows (the generic plan's per-unit kernels re-stream R per row).
 * A launch per step (two for the reset-before GRU and the LSTMP's projection): OpenCL 1.2 cannot
 * promise that every work-group of a launch is resident at once, so a persistent scan with a
 * device-wide step barrier is not offered. The weights, states and x_proj use the generic plan's
 * packed layout, and its upload and input projection (plan_generic.c, through its table). */
#include "rnn/cells.h"
#include "launch.h"
#include "plan.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPU_TK 16     /* cl/gpu/step_gpu.cl: rows of Rᵀ staged per chunk */
#define GPU_RPT 4     /* cl/gpu/step_gpu.cl: batch rows per work-item, in registers */
#define GPU_TU_MAX 32 /* units per tile: a warp (half a wavefront) reads 32 consecutive floats of Rᵀ */
#define GPU_TN_MAX 8  /* work-item rows per tile (x GPU_RPT batch rows): R reuse against work-groups */

/* A tile shape: TU units × TN work-item rows (TN * GPU_RPT batch rows), from the device and kernel
 * limits (gpu_tile_for). */
typedef struct gpu_tile {
    int TU, TN;
    size_t local_bytes; /* the tile's local memory */
} gpu_tile;

/* The plan's state of one rnn: a forced tile (CLRNN_GPU_TILE=TUxTN: TU units x TN work-item rows,
 * TN * GPU_RPT batch rows; for tuning and tests) and the last
 * shape the scan ran, for clrnn_rnn_plan(). */
typedef struct gpu_state {
    int force_TU, force_TN;
    int last_N;
    gpu_tile last[2]; /* per launch of a step */
} gpu_state;

static clrnn_status init(clrnn_rnn *r) {
    r->Hs = r->Hr; /* packed states, as the generic plan's */
    r->Hc = r->desc.hidden_size;
    gpu_state *gs = calloc(1, sizeof *gs);
    if (!gs) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "gpu plan state");
    const char *tile = getenv("CLRNN_GPU_TILE");
    if (tile && sscanf(tile, "%dx%d", &gs->force_TU, &gs->force_TN) != 2) gs->force_TU = gs->force_TN = 0;
    r->plan_state = gs;
    return CLRNN_OK;
}

static void release(clrnn_rnn *r) {
    free(r->plan_state);
    r->plan_state = NULL;
}

/* The generic plan's layout and input GEMM (its table's entries). */
static size_t upload_scratch(const clrnn_rnn *r) { return clrnn_plan_generic.upload_scratch(r); }
static clrnn_status upload_layer(clrnn_rnn *r, int l, float *tmp) { return clrnn_plan_generic.upload_layer(r, l, tmp); }
static void workspace(const clrnn_rnn *r, clrnn_plan_workspace *w) { clrnn_plan_generic.workspace(r, w); }
static clrnn_status input_projection(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off) {
    return clrnn_plan_generic.input_projection(r, l, T, N, batch_major, in, in_off);
}

static int pow2_at_least(int n, int cap) {
    int p = 1;
    while (p < n && p < cap) p <<= 1;
    return p;
}

/* The tile of kernel k for G gates over W outputs, N rows and D directions: TU the outputs rounded
 * up to a power of two up to GPU_TU_MAX, TN the work-item rows (N / GPU_RPT) likewise up to
 * GPU_TN_MAX, then halved while the step would have fewer work-groups than the device has compute
 * units (a tile's rows share R, but an idle compute unit shares nothing); then halved (TN first,
 * keeping TU wide for coalesced reads of Rᵀ) until the work-group fits the kernel's size limit
 * and the local memory (GPU_TK * (TN * GPU_RPT + G * TU) floats) fits beside the kernel's own.
 * 0: nothing fits. */
static int gpu_tile_for(const clrnn_rnn *r, cl_kernel k, int G, int W, int N, gpu_tile *t) {
    const gpu_state *gs = r->plan_state;
    clrnn_context *ctx = r->ctx;
    size_t kmax = 0;
    cl_ulong klocal = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) != CL_SUCCESS ||
        kmax == 0)
        kmax = ctx->info.max_work_group_size;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof klocal, &klocal, NULL) != CL_SUCCESS)
        klocal = 0;
    const uint64_t lmem = ctx->info.local_mem_bytes > klocal ? ctx->info.local_mem_bytes - klocal : 0;
    int TU = gs->force_TU > 0 ? gs->force_TU : pow2_at_least(W, GPU_TU_MAX);
    int TN = gs->force_TN > 0 ? gs->force_TN : pow2_at_least((N + GPU_RPT - 1) / GPU_RPT, GPU_TN_MAX);
    const size_t tiles_u = (size_t)(W + TU - 1) / TU, cus = ctx->info.compute_units;
    while (gs->force_TN <= 0 && TN > 1 &&
           tiles_u * (size_t)((N + TN * GPU_RPT - 1) / (TN * GPU_RPT)) * (size_t)r->D < cus)
        TN >>= 1;
    for (;;) {
        const size_t bytes = (size_t)GPU_TK * ((size_t)TN * GPU_RPT + (size_t)G * TU) * sizeof(float);
        if ((size_t)TU * TN <= kmax && bytes <= lmem) {
            *t = (gpu_tile){TU, TN, bytes};
            return 1;
        }
        if (TN > 1)
            TN >>= 1;
        else if (TU > 1)
            TU >>= 1;
        else
            return 0;
    }
}

/* The GPU kernel of a generic step kernel (the cell table names the generic ones). */
static clrnn_kernel_id gpu_kernel_of(clrnn_kernel_id generic) {
    switch (generic) {
    case CLRNN_K_rnn_step: return CLRNN_K_rnn_step_gpu;
    case CLRNN_K_lstm_step: return CLRNN_K_lstm_step_gpu;
    case CLRNN_K_lstm_proj_step: return CLRNN_K_proj_step_gpu;
    case CLRNN_K_gru_lbr_step: return CLRNN_K_gru_lbr_step_gpu;
    case CLRNN_K_gru_gates_step: return CLRNN_K_gru_gates_step_gpu;
    case CLRNN_K_gru_out_step: return CLRNN_K_gru_out_step_gpu;
    default: return generic;
    }
}

/* A step kernel's arguments, bound once; the step index and the ping-pong states are rebound per
 * step through the slots recorded as they are bound (0: the kernel has none; 0 is the step). */
typedef struct gpu_args {
    kargs a;
    cl_uint h_prev, h_next, c_prev, c_next;
    gpu_tile tile;
    int G;                   /* gates of the tile (its local R tile) */
    size_t tiles_u, tiles_n; /* work-groups along the outputs and the rows */
} gpu_args;

/* Launch `which` of a step: kernel id over W outputs of G gates each. Picks its tile, then binds
 * GPU_STEP_PARAMS (cl/gpu/step_gpu.cl), or for proj_step_gpu its own opening parameters. Returns 0
 * when no tile fits the device (nothing bound). */
static int gpu_args_begin(clrnn_rnn *r, gpu_args *k, clrnn_kernel_id id, int G, int W, int l, int T, int N,
                          int xp_batch_major, int which) {
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    memset(k, 0, sizeof *k);
    k->a = begin_r(r, id, clrnn_kernel_name(id));
    if (!gpu_tile_for(r, k->a.k, G, W, N, &k->tile)) return 0;
    k->G = G;
    k->tiles_u = (size_t)(W + k->tile.TU - 1) / k->tile.TU;
    k->tiles_n = (size_t)(N + k->tile.TN * GPU_RPT - 1) / ((size_t)k->tile.TN * GPU_RPT);
    /* gpu_tile_dot's loops a work-item (every nested loop counted: per chunk of GPU_TK the two
     * staging loops and GPU_TK x (1 + rows + G x (1 + rows))), then its rows: over a device's loop
     * bound the generic plan's kernels (about a fifth of these a k) take the layer */
    const int K = id == CLRNN_K_proj_step_gpu ? r->desc.hidden_size : r->Hr, TU = k->tile.TU, TN = k->tile.TN;
    const long lsz = (long)TU * TN, rows = (long)TN * GPU_RPT, nk = (K + GPU_TK - 1) / GPU_TK;
    const long loops = 1 + GPU_RPT * (1L + G) + GPU_RPT + 16 +
                       nk * (1 + (rows * GPU_TK + lsz - 1) / lsz + ((long)GPU_TK * G + TN - 1) / TN +
                             GPU_TK * (1L + GPU_RPT + G * (1L + GPU_RPT)));
    if (!clrnn_loop_fits(r->ctx, loops)) return 0;
    clrnn_karg_loops(&k->a, loops);
    ((gpu_state *)r->plan_state)->last[which] = k->tile;
    kargs *a = &k->a;
    a_int(a, 0), a_int(a, T), a_int(a, N), a_int(a, r->desc.hidden_size);
    if (id == CLRNN_K_proj_step_gpu) { /* H = the hidden size (K), Hr = the outputs */
        a_int(a, r->Hr), a_int(a, k->tile.TU), a_mem(a, ws->tmap), a_mem(a, dw->projT[l]), a_mem(a, ws->h_raw);
    } else {
        a_int(a, k->tile.TU), a_mem(a, ws->tmap), a_mem(a, ws->x_proj), a_int(a, xp_batch_major), a_mem(a, dw->RT[l]);
        a_mem(a, dw->bias[l]), a_mem(a, dw->acts);
    }
    k->h_prev = a->i, a_mem(a, ws->h[l][0]);
    return 1;
}

/* The two local tiles, last of every GPU step kernel. */
static void gpu_args_local(gpu_args *k) {
    a_local(&k->a, (size_t)GPU_TK * k->tile.TN * GPU_RPT * sizeof(float));
    a_local(&k->a, (size_t)GPU_TK * k->G * k->tile.TU * sizeof(float));
}

/* Points the slots at step s's states (read [s & 1], write [(s + 1) & 1]) and launches. */
static clrnn_status gpu_step(clrnn_rnn *r, gpu_args *k, int s, int D, cl_mem *h, cl_mem *c) {
    const int cur = s & 1, nxt = (s + 1) & 1;
    a_set_int(&k->a, 0, s);
    if (k->h_prev) a_set_mem(&k->a, k->h_prev, h[cur]);
    if (k->h_next) a_set_mem(&k->a, k->h_next, h[nxt]);
    if (k->c_prev) a_set_mem(&k->a, k->c_prev, c[cur]);
    if (k->c_next) a_set_mem(&k->a, k->c_next, c[nxt]);
    const size_t lsz = (size_t)k->tile.TU * k->tile.TN;
    return launch(r->ctx, &k->a, k->tiles_u * lsz, k->tiles_n, (size_t)D, lsz);
}

static clrnn_status scan_layer(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx) {
    const clrnn_rnn_desc *d = &r->desc;
    gpu_state *gs = r->plan_state;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int H = d->hidden_size, Hr = r->Hr, D = r->D, G = r->G;
    const int policy = (int)d->masked_output;
    const float fill = d->masked_fill_value;
    cl_mem *h = ws->h[l], *c = ws->c[l];
    const clrnn_cell_kernels *kern = clrnn_cell_kernels_for(d);
    const clrnn_kernel_id k0 = gpu_kernel_of(kern->generic[0]);
    const clrnn_kernel_id k1 = kern->two_launch ? gpu_kernel_of(kern->generic[1]) : k0;
    const int proj = d->proj_size > 0;
    /* launch 1: the reset-before GRU's z and r (2 gates), else every gate; launch 2: the LSTMP's
     * projection (1 output of Hr) or the reset-before GRU's n (1 of H) */
    gpu_args a, b;
    memset(&b, 0, sizeof b);
    if (!gpu_args_begin(r, &a, k0, kern->uses_z ? 2 : G, H, l, T, N, xp_batch_major, 0) ||
        (kern->two_launch && !gpu_args_begin(r, &b, k1, 1, proj ? Hr : H, l, T, N, xp_batch_major, 1)))
        /* no tile fits (a device with almost no local memory), or a step's loops would pass the
         * device's loop bound: the generic plan's kernels */
        return clrnn_plan_generic.scan_layer(r, l, T, N, xp_batch_major, y_layer, final_idx);
    gs->last_N = N;
    kargs *ka = &a.a, *kb = &b.a;
    if (!clrnn_cell_info_of(d->cell)->has_c && !kern->two_launch) { /* rnn_step_gpu, gru_lbr_step_gpu */
        a.h_next = ka->i, a_mem(ka, h[1]);
        a_mem(ka, y_layer), a_int(ka, policy), a_flt(ka, d->clip), a_flt(ka, fill);
    } else if (kern->uses_z) { /* gru_gates_step_gpu, gru_out_step_gpu */
        a_mem(ka, ws->zbuf), a_mem(ka, ws->h_raw), a_flt(ka, d->clip);
        a_mem(kb, ws->zbuf), a_mem(kb, ws->h_raw);
        b.h_next = kb->i, a_mem(kb, h[1]);
        a_mem(kb, y_layer), a_int(kb, policy), a_flt(kb, d->clip), a_flt(kb, fill);
    } else { /* lstm_step_gpu (+ proj_step_gpu) */
        a_int(ka, Hr), a_mem(ka, dw->peep[l]);
        a.c_prev = ka->i, a_mem(ka, c[0]);
        a.h_next = ka->i, a_mem(ka, h[1]);
        a.c_next = ka->i, a_mem(ka, c[1]);
        a_mem(ka, y_layer), a_mem(ka, ws->h_raw), a_int(ka, clrnn_lstm_flags(d)), a_int(ka, policy);
        a_flt(ka, d->clip), a_flt(ka, d->cell_clip), a_flt(ka, fill);
        if (proj) {
            b.h_next = kb->i, a_mem(kb, h[1]);
            a_mem(kb, y_layer), a_int(kb, policy), a_flt(kb, d->proj_clip), a_flt(kb, fill);
        }
    }
    gpu_args_local(&a);
    if (kern->two_launch) gpu_args_local(&b);
    clrnn_status st = CLRNN_OK;
    for (int s = 0; s < T && st == CLRNN_OK; ++s) {
        st = gpu_step(r, &a, s, D, h, c);
        if (kern->two_launch && st == CLRNN_OK) st = gpu_step(r, &b, s, D, h, c);
    }
    *final_idx = T & 1;
    return st;
}

static void describe(const clrnn_rnn *r, char *buf, size_t cap) {
    const gpu_state *gs = r->plan_state;
    const clrnn_cell_kernels *k = clrnn_cell_kernels_for(&r->desc);
    const clrnn_kernel_id k0 = gpu_kernel_of(k->generic[0]), k1 = gpu_kernel_of(k->generic[1]);
    const int TU = gs->force_TU > 0 ? gs->force_TU : GPU_TU_MAX, TN = gs->force_TN > 0 ? gs->force_TN : GPU_TN_MAX;
    snprintf(buf, cap,
             "gpu: input projection one SGEMM per layer (all steps and directions); recurrence %s%s%s, a launch "
             "per step, each work-group a tile of up to %d units x %d batch rows (all gates of its units; %d rows per "
             "work-item in registers) that stages h_prev and R^T in local memory in chunks of %d, so each R element "
             "read from global memory serves the tile's rows; fewer rows while a step has fewer work-groups than "
             "the %u compute units, and within the kernel's work-group limit and %llu bytes of local memory; no "
             "persistent scan (OpenCL 1.2 cannot guarantee all work-groups resident for a device-wide step "
             "barrier); %d direction(s)",
             clrnn_kernel_name(k0), k->two_launch ? " + " : "", k->two_launch ? clrnn_kernel_name(k1) : "", TU,
             TN * GPU_RPT, GPU_RPT, GPU_TK, (unsigned)r->ctx->info.compute_units,
             (unsigned long long)r->ctx->info.local_mem_bytes, r->D);
    mtx_lock(&r->ctx->lock); /* the scan records its last tile under it */
    const int N = gs->last_N;
    const gpu_tile a = gs->last[0], b = gs->last[1];
    mtx_unlock(&r->ctx->lock);
    const size_t len = strlen(buf);
    if (N > 0 && len + 1 < cap) {
        if (k->two_launch)
            snprintf(buf + len, cap - len, "; last call N=%d: tiles %d units x %d rows (%zu B local) and %d x %d (%zu B)",
                     N, a.TU, a.TN * GPU_RPT, a.local_bytes, b.TU, b.TN * GPU_RPT, b.local_bytes);
        else
            snprintf(buf + len, cap - len, "; last call N=%d: tile %d units x %d rows (%zu B local)", N, a.TU,
                     a.TN * GPU_RPT, a.local_bytes);
    }
}

/* lifetime; device memory; the forward pass */
const clrnn_plan_ops clrnn_plan_gpu = {
    .name = "gpu", .init = init, .release = release,
    .upload_scratch = upload_scratch, .upload_layer = upload_layer, .workspace = workspace,
    .input_projection = input_projection, .scan_layer = scan_layer, .describe = describe,
    /* training: the portable implementation (src/train/train.c) */
    .forward_train_layer = clrnn_train_portable_forward_layer,
    .scan_layer_backward = clrnn_train_portable_backward_layer,
    .weight_gradient = clrnn_train_portable_weight_gradient,
};
