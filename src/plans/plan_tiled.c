/* The tiled plan (cl/tiled/step_tiled.cl): register-tiled kernels that pack each unit's gates in 16-wide
 * blocks, which is what makes PoCL fast on CPU devices. The input projection is its own kernel
 * (rows in length order, rows no direction computes skipped); the recurrence runs as a launch per
 * step or as one persistent launch per layer, measured per batch size (scan_tiled). States are
 * padded to whole blocks (r->Hs, r->Hc). */
#include "cl/abi.h"
#include "rnn/cells.h"
#include "launch.h"
#include "plan.h"
#include "plan_tiled_train.h"
#include "train/train.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* How a layer's recurrence runs. */
#define SCAN_STEPS 1      /* one launch per step */
#define SCAN_PERSISTENT 2 /* one launch looping over all steps */

/* A measured scan choice for one batch size (scan_tiled). */
typedef struct scan_choice {
    int N;                          /* batch size (0: empty slot) */
    int mode;                       /* SCAN_*, or 0 while undecided */
    int calls, trials;              /* calls seen with enough steps to measure; calls measured */
    int steps_timed;                /* steps each variant ran while measured, summed */
    double ms_steps, ms_persistent; /* their times, summed */
} scan_choice;
#define SCAN_MEMO 8   /* batch sizes remembered */
#define SCAN_TRIALS 2 /* measured calls that decide */

/* The plan's state of one rnn. Blocks of UB units (16; 64 for the vanilla RNN, whose one gate is
 * spread over 4 slots), Gs 16-lane slots per block, Hb blocks; the LSTMP's projection in Hbp
 * blocks of 64 outputs. */
typedef struct tiled_state {
    int UB, Gs, Hb, Hbp;
    int groups;    /* > 0: fixed row-group count (CLRNN_TILED_GROUPS), else automatic */
    int scan_mode; /* SCAN_* forced by CLRNN_SCAN, or 0: measured per batch size */
    scan_choice memo[SCAN_MEMO]; /* measured choices, most recent batch sizes */
    int memo_next;
    int32_t *order; /* host staging of perm [N] and row_needed [T*N] */
    size_t order_cap;
    clrnn_tiled_train *train; /* the training forward's buffers (plan_tiled_train.c), from its first call */
    int train_portable;       /* CLRNN_TILED_TRAIN=portable at creation: the portable training forward (A/B runs) */
} tiled_state;

/* The plan's workspace buffers (ws.plan_buf). */
#define WS_PERM 0       /* [N] rows by descending count of computed steps (clrnn_build_row_order) */
#define WS_ROW_NEEDED 1 /* [T*N] (t, n) is computed by some direction */

static clrnn_status init(clrnn_rnn *r) {
    const clrnn_rnn_desc *d = &r->desc;
    tiled_state *ts = calloc(1, sizeof *ts);
    if (!ts) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "tiled plan state");
    const char *groups = getenv("CLRNN_TILED_GROUPS");
    ts->groups = groups ? atoi(groups) : 0;
    const char *scan = getenv("CLRNN_SCAN");
    ts->scan_mode = !scan ? 0 : !strcmp(scan, "persistent") ? SCAN_PERSISTENT : !strcmp(scan, "steps") ? SCAN_STEPS : 0;
    const char *train = getenv("CLRNN_TILED_TRAIN");
    ts->train_portable = train && !strcmp(train, "portable");
    const clrnn_cell_info *cell = clrnn_cell_info_of(d->cell);
    ts->UB = cell->tiled_UB;
    ts->Gs = cell->tiled_slots;
    ts->Hb = (d->hidden_size + ts->UB - 1) / ts->UB;
    ts->Hbp = d->proj_size > 0 ? (d->proj_size + 63) / 64 : 0; /* LSTMP: 64 outputs per block */
    r->Hs = ts->Hbp ? 64 * ts->Hbp : ts->UB * ts->Hb;
    r->Hc = ts->UB * ts->Hb;
    r->plan_state = ts;
    return CLRNN_OK;
}

static void release(clrnn_rnn *r) {
    tiled_state *ts = r->plan_state;
    if (ts) free(ts->order), clrnn_tiled_train_free(r, ts->train);
    free(ts);
    r->plan_state = NULL;
}

/* Row groups for the tiled kernels: the fewest that still give every compute unit two work-items
 * (units = work-items per group), so each work-item keeps its weight slice in cache across more rows.
 * tiled_state.groups (CLRNN_TILED_GROUPS at creation) overrides it, for tuning experiments. */
static void tiled_groups(const clrnn_rnn *r, int n_rb, int units, int *groups, int *rb_per_item) {
    const tiled_state *ts = r->plan_state;
    int g = (2 * (int)r->ctx->info.compute_units + units - 1) / units;
    if (ts->groups > 0) g = ts->groups;
    g = g < 1 ? 1 : g > n_rb ? n_rb : g;
    *rb_per_item = (n_rb + g - 1) / g;
    *groups = (n_rb + *rb_per_item - 1) / *rb_per_item;
}

/* Tiled plan: units packed in 16-wide blocks, column (d, block, slot, lane); see cl/tiled/step_tiled.cl.
 * Padding lanes get zero weights. Unit j of gate g sits in block j / UB, slot g, lane j % 16; a
 * single-output layout (the vanilla RNN, the LSTM projection) spreads UB = 64 units over 4 slots. */
typedef struct tiled_layout {
    int blocks, UB, slots, one_gate;
} tiled_layout;

static tiled_layout gate_layout(const clrnn_rnn *r) {
    const tiled_state *ts = r->plan_state;
    return (tiled_layout){ts->Hb, ts->UB, ts->Gs, r->G == 1};
}

static size_t packed_index(tiled_layout t, int dir, int g, int j, int k, int K) {
    const int slot = t.one_gate ? (j % t.UB) / 16 : g;
    return ((((size_t)dir * t.blocks + j / t.UB) * K + k) * t.slots + slot) * 16 + j % 16;
}

/* The reset-before GRU's Rᵀ block splits by phase (GRU_RT_N in cl/tiled/step_tiled.cl): [K][z, r][16],
 * then [K][n][16], from packed_index's [K][z, r, n][16] within the same block. */
static size_t gru_rt_index(tiled_layout t, int dir, int g, int j, int k, int K) {
    const size_t block = ((size_t)dir * t.blocks + j / t.UB) * K * 48;
    return block + (g < 2 ? ((size_t)k * 2 + g) * 16 : (size_t)K * 32 + (size_t)k * 16) + j % 16;
}

/* W (use_R = 0, K = I_l) or R (use_R = 1, K = Hr) of every direction of layer l, [G*H, K] each,
 * into tmp as [D][Hb][K][Gs][16] (the reset-before GRU's R: gru_rt_index). */
static void pack_blocks(const clrnn_rnn *r, int l, int use_R, int K, float *tmp) {
    const tiled_state *ts = r->plan_state;
    const int D = r->D, G = r->G, H = r->desc.hidden_size;
    const tiled_layout t = gate_layout(r);
    const int split = use_R && r->desc.cell == CLRNN_CELL_GRU && !r->desc.linear_before_reset;
    memset(tmp, 0, (size_t)D * K * ts->Hb * ts->Gs * 16 * sizeof(float));
    for (int dir = 0; dir < D; ++dir) {
        const float *m = use_R ? r->lw[l * D + dir].R : r->lw[l * D + dir].W;
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j)
                for (int k = 0; k < K; ++k)
                    tmp[split ? gru_rt_index(t, dir, g, j, k, K) : packed_index(t, dir, g, j, k, K)] =
                        m[((size_t)g * H + j) * K + k];
    }
}

/* The tiled plan's layout of layer l (packed_index). */
static clrnn_status upload_layer(clrnn_rnn *r, int l, float *tmp) {
    const tiled_state *ts = r->plan_state;
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, G = r->G, H = d->hidden_size, Hb = ts->Hb, K = r->Hr, Hp = 16 * Hb, Gs = ts->Gs;
    const int I = r->lw[l * D].in_size;
    const size_t per_dir = (size_t)Hb * Gs * 16; /* packed columns per direction */
    clrnn_status st;
    /* WTp [D][Hb][I][Gs][16]: the input-projection kernel reads it like RTp [D][Hb][K][Gs][16] */
    pack_blocks(r, l, 0, I, tmp);
    if ((st = clrnn_rnn_upload_stored(r, &r->dw.WT[l], tmp, (size_t)D * I * per_dir, "input weights")) != CLRNN_OK)
        return st;
    pack_blocks(r, l, 1, K, tmp);
    if ((st = clrnn_rnn_upload_stored(r, &r->dw.RT[l], tmp, (size_t)D * K * per_dir, "recurrent weights")) != CLRNN_OK)
        return st;
    /* bias [D][2][Hb][Gs][16]: x-side (folded) and recurrent (the gate whose Rb stays apart) */
    memset(tmp, 0, (size_t)D * 2 * per_dir * sizeof(float));
    for (int dir = 0; dir < D; ++dir) {
        const clrnn_layer_weights *w = &r->lw[l * D + dir];
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j) {
                const size_t o = packed_index(gate_layout(r), 2 * dir, g, j, 0, 1); /* x-side; + per_dir: recurrent */
                tmp[o] = clrnn_cell_folded_bias(d, w, g, H, j);
                tmp[o + per_dir] = w->Rb[(size_t)g * H + j];
            }
    }
    if ((st = clrnn_rnn_upload_buf(r, &r->dw.bias[l], tmp,
                                      (size_t)D * 2 * per_dir * sizeof(float), "biases")) != CLRNN_OK)
        return st;
    /* peep [D][3][Hp] (LSTM: 16 units per block, so Hp = 16 * Hb) */
    memset(tmp, 0, (size_t)D * 3 * Hp * sizeof(float));
    for (int dir = 0; dir < D; ++dir)
        for (int q = 0; q < 3; ++q)
            memcpy(tmp + ((size_t)dir * 3 + q) * Hp, r->lw[l * D + dir].P + (size_t)q * H, (size_t)H * sizeof(float));
    st = clrnn_rnn_upload_stored(r, &r->dw.peep[l], tmp, (size_t)D * 3 * Hp, "peepholes");
    if (st != CLRNN_OK || d->proj_size == 0)
        return st;
    /* LSTMP projection [D][Hbp][H][4][16]: the Hr outputs packed like the vanilla RNN's, K = H */
    const tiled_layout proj = {ts->Hbp, 64, 4, 1};
    const size_t n_proj = (size_t)D * ts->Hbp * H * 64;
    memset(tmp, 0, n_proj * sizeof(float));
    for (int dir = 0; dir < D; ++dir)
        for (int p = 0; p < K; ++p)
            for (int k = 0; k < H; ++k)
                tmp[packed_index(proj, dir, 0, p, k, H)] = r->lw[l * D + dir].proj[(size_t)p * H + k];
    return clrnn_rnn_upload_stored(r, &r->dw.projT[l], tmp, n_proj, "projection");
}

/* The input projection x_proj = x · WTp of the tiled plan (cl/tiled/xproj_tiled.cl), for the
 * inference forward and the training one. Row groups of about CLRNN_XPROJ_CHUNK KB (default 256)
 * of x each (row blocks strided over the groups, so every group has the same mix of steps), at
 * least 4 per compute unit while the rows allow it, each one work-group of all Hb
 * column blocks, so a group's rows stay in one unit's L2 while its blocks take turns (before, every
 * block streamed all of x from L3); k blocks of CLRNN_XPROJ_KC (default 128) rows of WTp, which
 * stay in L1 across the group's row blocks. CLRNN_XPROJ_OLD: the launch before both, for A/B
 * timing. All give the same bits. */
clrnn_status clrnn_tiled_xproj(clrnn_context *ctx, clrnn_kargs a, const clrnn_tiled_geom *g, int T, int N,
                               int batch_major, int D, int K, cl_mem x, size_t x_off, cl_mem WTp, cl_mem x_proj,
                               cl_mem perm, cl_mem needed) {
    const int mr = g->Gs == 3 ? TILED_MR_3 : TILED_MR_4, n_rb = (T * N + mr - 1) / mr;
    const char *kc_env = getenv("CLRNN_XPROJ_KC"), *chunk_env = getenv("CLRNN_XPROJ_CHUNK");
    int kc_block = kc_env && atoi(kc_env) > 0 ? atoi(kc_env) : 128;
    const int chunk = chunk_env && atoi(chunk_env) > 0 ? atoi(chunk_env) * 1024 : 256 * 1024;
    const int cus = ctx->info.compute_units > 0 ? (int)ctx->info.compute_units : 1;
    int rb_per_item = chunk / ((K > 0 ? K : 1) * (int)sizeof(float) * mr); /* ~chunk bytes of x rows */
    const int balanced = (n_rb + 4 * cus - 1) / (4 * cus);
    if (rb_per_item > balanced) rb_per_item = balanced;
    if (rb_per_item < 1) rb_per_item = 1;
    if (g->groups > 0) rb_per_item = (n_rb + g->groups - 1) / g->groups;
    /* all blocks in one work-group, at most 64 work-items (the kernel skips those past Hb) */
    size_t wg_max = 0;
    if (a.st != CLRNN_OK ||
        clGetKernelWorkGroupInfo(a.k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg_max, &wg_max, NULL) != CL_SUCCESS)
        wg_max = 1;
    const int groups = n_rb > 0 ? (n_rb + rb_per_item - 1) / rb_per_item : 0;
    /* few row groups (small T x N): the blocks over more work-groups, so every unit gets two */
    int splits = (g->Hb + 63) / 64, spread = groups > 0 ? (2 * cus + groups * D - 1) / (groups * D) : 1;
    if (splits < spread) splits = spread < g->Hb ? spread : g->Hb;
    size_t l0 = (size_t)((g->Hb + splits - 1) / splits);
    if (l0 > wg_max) l0 = 1;
    if (getenv("CLRNN_XPROJ_OLD")) { /* A/B: the launch before k blocks and row groups, same bits */
        int gr = (2 * cus + g->Hb * D - 1) / (g->Hb * D);
        gr = gr > n_rb ? n_rb : gr < 1 ? 1 : gr;
        rb_per_item = (n_rb + gr - 1) / gr, l0 = 1, kc_block = K;
    }
    /* a work-item's loops, each nested one counted (CLRNN_COMPACT's loops over rows and gates too):
     * fewer row blocks a work-item where they would pass the device's loop bound */
    const long n_kb = (K + (kc_block > 0 ? kc_block : 1) - 1) / (kc_block > 0 ? kc_block : 1) + 1;
    const long per_rb = n_kb * (2 + 2L * mr + 2L * mr * g->Gs) + (long)K * (1 + mr * (1L + g->Gs));
    const long rb_fit = (clrnn_loop_budget(ctx) - n_kb) / per_rb;
    if (rb_fit >= 1 && rb_per_item > rb_fit) rb_per_item = (int)rb_fit;
    clrnn_karg_loops(&a, n_kb + (long)rb_per_item * per_rb);
    const int n_groups = n_rb > 0 ? (n_rb + rb_per_item - 1) / rb_per_item : 0;
    a_int(&a, T), a_int(&a, N), a_int(&a, batch_major), a_int(&a, g->Hb), a_int(&a, K), a_mem(&a, x);
    a_ulong(&a, x_off), a_mem(&a, WTp), a_mem(&a, x_proj), a_mem(&a, perm), a_mem(&a, needed);
    a_int(&a, rb_per_item), a_int(&a, kc_block);
    if (n_groups == 0) return a.st; /* no rows */
    return launch(ctx, &a, (size_t)g->Hb, (size_t)n_groups, (size_t)D, l0);
}

/* x_proj for one layer: rows in length order, rows no direction computes skipped. */
static clrnn_status input_projection(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off) {
    const tiled_state *ts = r->plan_state;
    const clrnn_tiled_geom g = {ts->UB, ts->Gs, ts->Hb, ts->groups};
    const kargs a = begin_r(r, clrnn_cell_info_of(r->desc.cell)->tiled_xproj, "xproj_tiled");
    return clrnn_tiled_xproj(r->ctx, a, &g, T, N, batch_major, r->D, r->lw[l * r->D].in_size, in, in_off, r->dw.WT[l],
                             r->ws.x_proj, r->ws.plan_buf[WS_PERM], r->ws.plan_buf[WS_ROW_NEEDED]);
}

/* Work-group width of the persistent scan: the blocks of a step (and of the LSTMP's projection). */
static int scan_width(const clrnn_rnn *r) {
    const tiled_state *ts = r->plan_state;
    return ts->Hbp > ts->Hb ? ts->Hbp : ts->Hb;
}

/* Arguments of every tiled step/scan kernel (the *_TILED_PARAMS lists in cl/tiled/step_tiled.cl), steps
 * [0, T), state buffers a = 0 and b = 1 (the step kernels read a and write b, the scan starts from
 * a). *state_arg is the index of the first state argument (h_a, then c_a for the LSTM, then b). */
static kargs tiled_args(clrnn_rnn *r, clrnn_kernel_id id, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                        cl_uint *state_arg) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    kargs a = begin_r(r, id, "tiled scan");
    a_int(&a, 0), a_int(&a, T), a_int(&a, T), a_int(&a, N);
    if (id == CLRNN_K_proj_step_tiled_1 || id == CLRNN_K_proj_step_tiled_6) {
        /* PROJ_TILED_PARAMS: H = the projection size, K = the hidden size, rows of h_raw Hc apart */
        a_int(&a, r->Hr), a_int(&a, d->hidden_size), a_mem(&a, ws->tmap), a_mem(&a, ws->plan_buf[WS_PERM]), a_mem(&a, dw->projT[l]);
        a_mem(&a, ws->h_raw), a_int(&a, r->Hc);
        *state_arg = a.i;
        a_mem(&a, ws->h[l][0]), a_mem(&a, ws->h[l][1]), a_mem(&a, y_layer), a_int(&a, (int)d->masked_output);
        a_flt(&a, d->proj_clip), a_flt(&a, d->masked_fill_value);
        return a;
    }
    a_int(&a, d->hidden_size), a_int(&a, r->Hr);
    a_mem(&a, ws->tmap), a_mem(&a, ws->plan_buf[WS_PERM]), a_mem(&a, ws->x_proj), a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]);
    a_mem(&a, dw->bias[l]);
    if (clrnn_cell_info_of(d->cell)->has_c) { /* LSTM_TILED_PARAMS */
        a_mem(&a, dw->peep[l]), a_mem(&a, dw->acts);
        *state_arg = a.i;
        a_mem(&a, ws->h[l][0]), a_mem(&a, ws->c[l][0]), a_mem(&a, ws->h[l][1]), a_mem(&a, ws->c[l][1]);
        a_mem(&a, y_layer), a_int(&a, clrnn_lstm_flags(d));
        a_int(&a, (int)d->masked_output), a_flt(&a, d->clip), a_flt(&a, d->cell_clip), a_flt(&a, d->masked_fill_value);
        a_mem(&a, ws->h_raw), a_int(&a, r->Hs);
        if (id == CLRNN_K_lstmp_scan_tiled_1 || id == CLRNN_K_lstmp_scan_tiled_6)
            a_mem(&a, dw->projT[l]), a_int(&a, r->Hr), a_flt(&a, d->proj_clip);
        return a;
    }
    a_mem(&a, dw->acts);
    *state_arg = a.i;
    a_mem(&a, ws->h[l][0]), a_mem(&a, ws->h[l][1]);
    if (clrnn_cell_kernels_for(d)->uses_z) a_mem(&a, ws->zbuf), a_mem(&a, ws->h_raw);
    a_mem(&a, y_layer), a_int(&a, (int)d->masked_output), a_flt(&a, d->clip), a_flt(&a, d->masked_fill_value);
    return a;
}

/* Points a step kernel at step s: it reads the states of buffer s & 1 and writes the other
 * (with_c: the LSTM phase, which carries c too). */
static void tiled_step_at(kargs *a, const clrnn_rnn *r, int l, cl_uint state_arg, int with_c, int s) {
    const int cur = s & 1, nxt = cur ^ 1;
    const clrnn_workspace *ws = &r->ws;
    a_set_int(a, 0, s);
    a_set_mem(a, state_arg, ws->h[l][cur]);
    if (with_c) a_set_mem(a, state_arg + 1, ws->c[l][cur]);
    a_set_mem(a, state_arg + 1 + with_c, ws->h[l][nxt]);
    if (with_c) a_set_mem(a, state_arg + 3, ws->c[l][nxt]);
}

/* Row groups of the persistent scan: a work-group runs on one compute unit and owns its rows for
 * all T steps, so one group per compute unit and direction (each group streams all of Rᵀ once per
 * step). */
static int scan_groups(const clrnn_rnn *r, int n_rb) {
    const tiled_state *ts = r->plan_state;
    int g = ((int)r->ctx->info.compute_units + r->D - 1) / r->D;
    if (ts->groups > 0) g = ts->groups;
    return g < 1 ? 1 : g > n_rb ? n_rb : g;
}

/* MR, the rows per work-item for a batch of N: 6 or 8 when the batch allows it; 1 keeps small
 * batches parallel. */
static int scan_mr(const clrnn_rnn *r, int N) {
    const tiled_state *ts = r->plan_state;
    return N < 8 ? 1 : ts->Gs == 3 ? TILED_MR_3 : TILED_MR_4;
}


/* One phase of a tiled step for one row block: the dot product (tiled_dot or pair_dot: zeroing
 * MR x (1 + G), K x (1 + MR x (1 + G)), row_block's MR rows) and per row `blocks` blocks (or 16-lane
 * slots) of `acts` activations over 16 lanes each (and the activation macros' do-while(0)s), lane
 * stores and the training reserve's st16. G sums the accumulators of both sides of a branch that
 * differs between work-items (a SIMD device runs both). */
static long phase_loops(int K, int mr, int G, int acts, int blocks, int train) {
    const long dot = (long)mr * (1 + G) + (long)K * (1 + mr * (1 + G)) + mr;
    return dot + (long)mr * (blocks * (32L * acts + 16L * (2 + 8 * train)) + 8) + 1;
}

long clrnn_tiled_scan_step_loops(const clrnn_rnn *r, int mr, int row_blocks, int train) {
    const clrnn_rnn_desc *d = &r->desc;
    const int K = r->Hr, H = d->hidden_size;
    long per_rb;
    if (d->cell == CLRNN_CELL_LSTM) /* i, f, g, o, h; the LSTMP's projection (2 or 4 slots) after it */
        per_rb = phase_loops(K, mr, 4, 5, 1, train) + (d->proj_size > 0 ? phase_loops(H, mr, 6, 0, 4, train) : 0);
    else if (d->cell == CLRNN_CELL_RNN) /* unit64: 2 or 4 slots of one activation */
        per_rb = phase_loops(K, mr, 6, 1, 4, train);
    else if (d->linear_before_reset)
        per_rb = phase_loops(K, mr, 3, 3, 1, train);
    else /* the gates phase (z, r), then the out phase on pairs of blocks (pair_dot of 2 or 1) */
        per_rb = phase_loops(K, mr, 2, 2, 1, train) + phase_loops(K, mr, 3, 1, 2, train);
    return (long)row_blocks * per_rb + 2;
}

int clrnn_tiled_scan_chunk(const clrnn_context *ctx, long step_loops) {
    const long limit = ctx->loop_limit; /* the device's loop bound (clrnn_loop_limit_init) */
    if (limit <= 0) return INT_MAX;
    /* a quarter left for what the count misses (the kernel's own loops are all counted) */
    const long steps = limit / 4 * 3 / (step_loops > 0 ? step_loops : 1);
    return steps > INT_MAX ? INT_MAX : (int)steps;
}

clrnn_status clrnn_tiled_scan_launch(clrnn_context *ctx, clrnn_kargs *a, size_t width, size_t groups, size_t D,
                                     int s0, int s1, int chunk) {
    if (chunk < 1) return clrnn_fail(CLRNN_ERR_INTERNAL, "tiled scan: no step fits the device's loop bound");
    for (int s = s0; s < s1; s += s1 - s < chunk ? s1 - s : chunk) {
        a_set_int(a, 0, s), a_set_int(a, 1, s1 - s < chunk ? s1 : s + chunk);
        const clrnn_status st = launch(ctx, a, width, groups, D, width);
        if (st != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

/* Steps one persistent launch of r's layer scans may run for a batch of N (0: not one). */
static int scan_chunk(const clrnn_rnn *r, int N) {
    const int mr = scan_mr(r, N), n_rb = (N + mr - 1) / mr, groups = scan_groups(r, n_rb);
    return clrnn_tiled_scan_chunk(r->ctx, clrnn_tiled_scan_step_loops(r, mr, (n_rb + groups - 1) / groups, 0));
}

/* Whether the persistent scan can run: its work-group is the blocks of one row group, and a step
 * fits the device's loop bound. */
static int scan_fits(const clrnn_rnn *r, clrnn_kernel_id id, int N) {
    if (scan_chunk(r, N) < 1) return 0;
    size_t kmax = 0;
    const kargs a = begin_r(r, id, "tiled scan");
    /* a kernel that cannot be created does not fit: the step launches then report it */
    if (a.st != CLRNN_OK) {
        clrnn_clear_error();
        return 0;
    }
    return clGetKernelWorkGroupInfo(a.k, r->ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) ==
               CL_SUCCESS &&
           (size_t)scan_width(r) <= kmax;
}

/* Steps [s0, s1) of layer l in the tiled plan: the persistent scan (one launch) or one launch (two
 * for the reset-before GRU and the LSTMP) per step. Both run the same arithmetic on the same state buffers (step
 * s reads buffer s & 1), so they can take turns within one layer and give bitwise equal results. */
static clrnn_status scan_tiled_range(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                                     int persistent, int s0, int s1) {
    const tiled_state *ts = r->plan_state;
    clrnn_context *ctx = r->ctx;
    const int m = N >= 8 ? 1 : 0, mr = scan_mr(r, N), n_rb = (N + mr - 1) / mr;
    const clrnn_cell_kernels *k = clrnn_cell_kernels_for(&r->desc); /* scan and step kernels, by MR */
    if (s0 >= s1) return CLRNN_OK;
    cl_uint state_arg, state_arg2 = 0;
    if (persistent) {
        const size_t width = (size_t)scan_width(r);
        kargs a = tiled_args(r, k->tiled_scan[m], l, T, N, xp_batch_major, y_layer, &state_arg);
        const int chunk = scan_chunk(r, N), groups = scan_groups(r, n_rb);
        clrnn_karg_loops(&a, (long)(s1 - s0 < chunk ? s1 - s0 : chunk) *
                                 clrnn_tiled_scan_step_loops(r, mr, (n_rb + groups - 1) / groups, 0));
        return clrnn_tiled_scan_launch(ctx, &a, width, (size_t)groups, (size_t)r->D, s0, s1, chunk);
    }
    /* Fewest row groups that still give every compute unit two work-items: each work-item then
     * keeps its slice of Rᵀ in cache across more of the batch. */
    int groups, rb_per_item;
    tiled_groups(r, n_rb, ts->Hb * r->D, &groups, &rb_per_item);
    /* a work-item's row blocks run in one invocation: more groups where they would spend the
     * device's loop bound (clrnn_tiled_scan_chunk, counted in row blocks of one step here) */
    const int rb_fit = clrnn_tiled_scan_chunk(ctx, clrnn_tiled_scan_step_loops(r, mr, 1, 0));
    if (rb_fit >= 1 && rb_per_item > rb_fit) rb_per_item = rb_fit, groups = (n_rb + rb_fit - 1) / rb_fit;
    const int with_c = clrnn_cell_info_of(r->desc.cell)->has_c;
    /* second launch: the projection, or the GRU's out phase, which takes two blocks per work-item
     * (gru_out_tiled_blocks: it sees fewer work-items than blocks) once that still leaves every
     * compute unit 4 of them */
    const int pair_out = !ts->Hbp && (ts->Hb + 1) / 2 * r->D >= 4 * (int)ctx->info.compute_units;
    const size_t blocks2 = (size_t)(ts->Hbp ? ts->Hbp : pair_out ? (ts->Hb + 1) / 2 : ts->Hb);
    kargs a = tiled_args(r, k->tiled_step[0][m], l, T, N, xp_batch_major, y_layer, &state_arg), b = a;
    if (k->two_launch) b = tiled_args(r, k->tiled_step[1][m], l, T, N, xp_batch_major, y_layer, &state_arg2);
    /* one count for both launches: it covers both phases of a step (clrnn_tiled_scan_step_loops) */
    clrnn_karg_loops(&a, (long)rb_per_item * clrnn_tiled_scan_step_loops(r, mr, 1, 0)), clrnn_karg_loops(&b, a.loops);
    clrnn_status st = CLRNN_OK;
    for (int s = s0; s < s1 && st == CLRNN_OK; ++s) {
        tiled_step_at(&a, r, l, state_arg, with_c, s);
        st = launch(ctx, &a, (size_t)ts->Hb, (size_t)groups, (size_t)r->D, 1);
        if (k->two_launch && st == CLRNN_OK) {
            tiled_step_at(&b, r, l, state_arg2, 0, s);
            st = launch(ctx, &b, blocks2, (size_t)groups, (size_t)r->D, 1);
        }
    }
    return st;
}

static clrnn_status finish(clrnn_context *ctx) {
    const cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", "timing the scan variants");
}

/* The memo slot of batch size N, taking the oldest slot for a new one (caller holds the lock). */
static scan_choice *scan_memo_slot(clrnn_rnn *r, int N) {
    tiled_state *ts = r->plan_state;
    for (int i = 0; i < SCAN_MEMO; ++i)
        if (ts->memo[i].N == N) return &ts->memo[i];
    scan_choice *c = &ts->memo[ts->memo_next];
    ts->memo_next = (ts->memo_next + 1) % SCAN_MEMO;
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
 * cold caches would decide it) and runs a launch per step; the next SCAN_TRIALS calls with
 * enough steps are, and their summed times decide. CLRNN_SCAN=steps|persistent forces one. */
static clrnn_status scan_tiled(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer) {
    const tiled_state *ts = r->plan_state;
    int mode = ts->scan_mode;
    if (!scan_fits(r, clrnn_cell_kernels_for(&r->desc)->tiled_scan[N >= 8], N)) mode = SCAN_STEPS;
    const int k = (T - 2) / 4 < 8 ? (T - 2) / 4 : 8;
    scan_choice *memo = mode ? NULL : scan_memo_slot(r, N);
    if (memo && memo->mode) mode = memo->mode;
    /* measure on layer 0 only, and not on a batch size's first call */
    if (mode || k < 2 || l > 0 || memo->calls++ == 0)
        return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, mode == SCAN_PERSISTENT, 0, T);

    clrnn_status st;
    double t[4];
    const int s[5] = {2, 2 + k, 2 + 3 * k, 2 + 4 * k, T};
    if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 0, 0, 1)) != CLRNN_OK ||
        (st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 1, 1, 2)) != CLRNN_OK ||
        (st = finish(r->ctx)) != CLRNN_OK)
        return st;
    for (int c = 0; c < 3; ++c) {
        t[c] = clrnn_now_ms();
        if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, c == 1, s[c], s[c + 1])) != CLRNN_OK ||
            (st = finish(r->ctx)) != CLRNN_OK)
            return st;
    }
    t[3] = clrnn_now_ms();
    memo->steps_timed += 2 * k;
    memo->ms_steps += (t[1] - t[0]) + (t[3] - t[2]);
    memo->ms_persistent += t[2] - t[1];
    int best = memo->ms_persistent < memo->ms_steps ? SCAN_PERSISTENT : SCAN_STEPS;
    if (++memo->trials >= SCAN_TRIALS) memo->mode = best;
    return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, best == SCAN_PERSISTENT, s[3], s[4]);
}

static clrnn_status scan_layer(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx) {
    *final_idx = T & 1;
    return scan_tiled(r, l, T, N, xp_batch_major, y_layer);
}

/* The repacking scratch of the largest layer (pack_blocks, then the biases, peepholes, projection). */
static size_t upload_scratch(const clrnn_rnn *r) {
    const tiled_state *ts = r->plan_state;
    const clrnn_rnn_desc *d = &r->desc;
    const size_t D = (size_t)r->D, Hr = (size_t)r->Hr, H = (size_t)d->hidden_size;
    const size_t max_in = (size_t)d->input_size > D * Hr ? (size_t)d->input_size : D * Hr;
    const size_t GHp = (size_t)ts->Gs * 16 * ts->Hb;
    size_t n = max_in * D * GHp > D * Hr * GHp ? max_in * D * GHp : D * Hr * GHp;
    if (D * 2 * GHp > n) n = D * 2 * GHp;
    if (D * 3 * 16 * ts->Hb > n) n = D * 3 * 16 * ts->Hb;
    if (D * ts->Hbp * 64 * H > n) n = D * ts->Hbp * 64 * H; /* LSTMP projection */
    return n;
}

static void workspace(const clrnn_rnn *r, clrnn_plan_workspace *w) {
    const tiled_state *ts = r->plan_state;
    w->xp_cols = (size_t)r->D * ts->Gs * 16 * ts->Hb;
    w->n_bufs = 2;
    w->bufs[WS_PERM] = (clrnn_plan_buf){0, 1, "row order"};
    w->bufs[WS_ROW_NEEDED] = (clrnn_plan_buf){1, 0, "row table"};
}

/* The row order of this call's step table. The writes need not block (each was a wait for the
 * queue): the host table is rewritten only by the next call, and every forward waits for its queue
 * before it returns, on success (clFinish) and on failure alike (clrnn_rnn_forward). */
static clrnn_status prepare(clrnn_rnn *r, int T, int N, const int32_t *tmap) {
    tiled_state *ts = r->plan_state;
    clrnn_context *ctx = r->ctx;
    const size_t n = (size_t)N + (size_t)T * N;
    if (n > ts->order_cap) {
        int32_t *o = realloc(ts->order, n * sizeof *o);
        if (!o) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "row order");
        ts->order = o;
        ts->order_cap = n;
    }
    int32_t *perm = ts->order, *row_needed = perm + N;
    clrnn_build_row_order(r->D, T, N, tmap, perm, row_needed);
    cl_int err = clEnqueueWriteBuffer(ctx->queue, r->ws.plan_buf[WS_PERM], CL_FALSE, 0, (size_t)N * sizeof(int32_t),
                                      perm, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(ctx->queue, r->ws.plan_buf[WS_ROW_NEEDED], CL_FALSE, 0,
                                   (size_t)T * N * sizeof(int32_t), row_needed, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the row order");
}

/* A kernel's name without its MR suffix: "lstm_scan_tiled_1" → "lstm_scan_tiled". */
static void kernel_stem(char *out, size_t cap, clrnn_kernel_id id) {
    const char *name = clrnn_kernel_name(id);
    const size_t n = strlen(name);
    snprintf(out, cap, "%.*s", (int)(n > 2 && strcmp(name + n - 2, "_1") == 0 ? n - 2 : n), name);
}

/* The training forward's path (plan_tiled_train.c). */
static void describe_train(const clrnn_rnn *r, char *buf, size_t cap) {
    const size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    const char *all = clrnn_tiled_train_fallback(r, r->desc.num_layers - 1);
    const char *below = clrnn_tiled_train_fallback(r, 0);
    if (((const tiled_state *)r->plan_state)->train_portable)
        snprintf(buf + len, cap - len, "; training forward: portable (forced by CLRNN_TILED_TRAIN)");
    else if (all)
        snprintf(buf + len, cap - len, "; training forward: portable (%s)", all);
    else if (below)
        snprintf(buf + len, cap - len, "; training forward: tiled scan %s on the last layer, portable below it (%s)",
                 clrnn_tiled_train_kernel(r), below);
    else
        snprintf(buf + len, cap - len, "; training forward: tiled scan %s", clrnn_tiled_train_kernel(r));
}

static void describe(const clrnn_rnn *r, char *buf, size_t cap) {
    const tiled_state *ts = r->plan_state;
    const clrnn_cell_kernels *k = clrnn_cell_kernels_for(&r->desc);
    char scan[64], step[64], step2[64];
    const int mr = ts->Gs == 3 ? TILED_MR_3 : TILED_MR_4;
    kernel_stem(scan, sizeof scan, k->tiled_scan[0]);
    kernel_stem(step, sizeof step, k->tiled_step[0][0]);
    kernel_stem(step2, sizeof step2, k->tiled_step[1][0]);
    snprintf(buf, cap,
             "tiled: input projection %s; recurrence %s_{1,%d} (persistent) or %s%s%s_{1,%d} per step (%d rows x %d "
             "units per work-item once N >= 8), %d block(s)%s x %d direction(s), rows in length order",
             clrnn_kernel_name(clrnn_cell_info_of(r->desc.cell)->tiled_xproj), scan, mr, step,
             k->two_launch ? " + " : "", k->two_launch ? step2 : "", mr, mr, ts->UB, ts->Hb, ts->Hbp ? " + projection blocks of 64" : "", r->D);
    /* the scan: forced, or what was measured so far per batch size */
    size_t len = strlen(buf);
    if (ts->scan_mode) {
        snprintf(buf + len, cap - len, "; scan forced by CLRNN_SCAN: %s",
                 ts->scan_mode == SCAN_PERSISTENT ? "persistent (one launch per layer)" : "a launch per step");
        describe_train(r, buf, cap);
        return;
    }
    int any = 0;
    mtx_lock(&r->ctx->lock); /* forward records measurements under it */
    for (int i = 0; i < SCAN_MEMO; ++i) {
        const scan_choice *c = &ts->memo[i];
        if (!c->N || (len = strlen(buf)) + 1 >= cap) continue;
        const char *sep = any++ ? "," : "; scan";
        if (c->trials)
            snprintf(buf + len, cap - len, "%s N=%d: %s (measured over %d steps: %.3f ms a launch per step, %.3f ms persistent)",
                     sep, c->N, !c->mode ? "still measuring" : c->mode == SCAN_PERSISTENT ? "persistent" : "a launch per step",
                     c->steps_timed, c->ms_steps, c->ms_persistent);
        else
            snprintf(buf + len, cap - len, "%s N=%d: a launch per step until measured (from the 2nd call)", sep, c->N);
    }
    mtx_unlock(&r->ctx->lock);
    len = strlen(buf);
    if (!any && len + 1 < cap)
        snprintf(buf + len, cap - len, "; scan: persistent or a launch per step, measured per batch size from its 2nd call");
    describe_train(r, buf, cap);
}

/* Training: the tiled scan that also fills the reserve (plan_tiled_train.c), or the portable
 * forward where it does not cover the rnn's options. */
static clrnn_status forward_train_layer(clrnn_rnn *r, clrnn_reserve *v, int l) {
    tiled_state *ts = r->plan_state;
    const clrnn_tiled_geom g = {ts->UB, ts->Gs, ts->Hb, ts->groups};
    if (ts->train_portable) return clrnn_train_portable_forward_layer(r, v, l);
    return clrnn_tiled_train_forward_layer(r, v, l, &g, &ts->train);
}

/* lifetime; device memory; the forward pass */
const clrnn_plan_ops clrnn_plan_tiled = {
    .name = "tiled", .init = init, .release = release,
    .upload_scratch = upload_scratch, .upload_layer = upload_layer, .workspace = workspace,
    .prepare = prepare, .input_projection = input_projection, .scan_layer = scan_layer, .describe = describe,
    /* training: its own forward (the tiled scan filling the reserve) and backward scan (the fused
     * reverse-time scan, plan_tiled_bwd.c); the weight gradients the portable ones (src/train/train.c) */
    .forward_train_layer = forward_train_layer,
    .scan_layer_backward = clrnn_tiled_scan_layer_backward,
    .weight_gradient = clrnn_train_portable_weight_gradient,
};
