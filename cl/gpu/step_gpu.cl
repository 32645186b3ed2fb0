/* The GPU plan's step kernels (src/plans/plan_gpu.c): the recurrent product h_prev · Rᵀ tiled in
 * local memory and fused with the gate math, one launch per step (two for the reset-before GRU and
 * the LSTMP's projection). The x-side h·Wᵀ of all steps and directions comes from one GEMM per
 * layer (x_proj), as in MIOpen (rnnocl.cpp: one GEMM for the input, then per step a GEMM and the
 * LSTMFwdHidUpdate element-wise kernel) and oneDNN's Intel-GPU RNN (gemm_layer once, gemm_iter +
 * elemwise per cell); here the per-step GEMM and the element-wise kernel are one kernel, so the
 * gates never leave the work-group.
 *
 * Work-group = a tile of TU units × TN*GPU_RPT batch rows of one direction (a 1-D local range of
 * TU*TN work-items, unit-fastest: local id = rn * TU + ju, work-group (unit tile, row tile,
 * direction)). Each work-item owns one unit, all G gates of it, for GPU_RPT rows of the tile
 * (rn, rn + TN, ...). Per chunk of GPU_TK rows of Rᵀ, the group stages h_prev[TN*GPU_RPT][GPU_TK]
 * and Rᵀ[GPU_TK][G][TU] in local memory: every element of R read from global memory serves the
 * tile's TN*GPU_RPT rows, and each one read from local memory the work-item's GPU_RPT rows (in
 * registers); every element of h_prev serves TU*G columns (the generic plan re-streams R once per
 * batch row). Partial tiles are zero-padded, so the inner loop always runs GPU_TK iterations.
 *
 * Layouts (the generic plan's, plan_generic.c upload_layer): RT [D][Hr][G*H], bias [D][2][G*H]
 * (x-side folded, recurrent apart), peep [D][3][H], projT [D][H][Hr]; states [D][N][W] packed,
 * y [T][N][D][W], x_proj rows of D*G*H.
 *
 * Every kernel is one skeleton, gpu_step (the tile's dot product, then each of the work-item's
 * rows), and its cell's part for one row (<cell>_gpu_row: the gate math, and what a step not
 * computed leaves). The kernel names and parameters are plan_gpu.c's ABI.
 *
 * Every global load and store of weights and activations goes through load_w / load_act /
 * store_act, cl/storage.h's LOAD/STORE (fp32, or fp16/bf16 widened on load and rounded on store);
 * the biases (load_b), local memory and every accumulator stay float. */

#define GPU_TK 16 /* rows of Rᵀ (the reduction) per local-memory chunk */
#define GPU_RPT 4 /* batch rows per work-item (register tile); plan_gpu.c has the same value */
/* The skeleton and the cells' parts are functions where macros were: acc stays in registers and the
 * switch on the cell folds only once they are inlined, so that is asked for, not left to each
 * compiler's heuristics (clang's for SPIR kept the LSTM's part a call). */
#define GPU_INLINE inline __attribute__((always_inline))

static inline real load_w(__global const store *w, size_t i) { return LOAD(w, i); }
static inline real load_act(__global const store *a, size_t i) { return LOAD(a, i); }
static inline void store_act(__global store *a, size_t i, real v) { STORE(a, i, v); }
static inline real load_b(__global const real *b, size_t i) { return b[i]; } /* biases stay float */

/* The work-item's place for its row r < GPU_RPT: unit j, row n of the tile at step s, entry from
 * the step table (0 for a row past N). step_pos's index helpers (state_index, output_index) apply. */
static inline step_pos gpu_position(__global const int *tmap, int s, int T, int N, int W, int TU, int r) {
    step_pos p;
    const int lid = get_local_id(0), TN = get_local_size(0) / TU;
    p.j = get_group_id(0) * TU + lid % TU;
    p.n = get_group_id(1) * TN * GPU_RPT + r * TN + lid / TU;
    p.d = get_group_id(2);
    p.D = get_num_groups(2);
    p.N = N;
    p.W = W;
    p.entry = p.n < N ? tmap[(p.d * T + s) * N + p.n] : 0;
    p.t = p.entry & STEP_T_MASK;
    p.active = p.j < W && p.n < N;
    return p;
}

/* acc[r][g] = sum_k v[n_r * v_ld + k] * RT[k * ld + g * gs + j] for g < G, k < K, r < GPU_RPT,
 * n_r the work-item's rows: the work-group's TU units (< W) × TN*GPU_RPT rows (< N). hs: GPU_TK *
 * TN * GPU_RPT reals, rs: GPU_TK * G * TU. Every work-item of the group must run it (barriers), in
 * range or not. G (<= 4) is a literal at every call, so once inlined the loops over rows and gates
 * unroll and acc lives in registers. */
GPU_INLINE void gpu_tile_dot(const int G, real acc[GPU_RPT][4], __global const store *v, const int v_ld,
                         __global const store *RT, const int ld, const int gs, const int K, const int W, const int N,
                         const int TU, __local real *hs, __local real *rs) {
    const int lid = get_local_id(0), lsz = get_local_size(0), TN = lsz / TU;
    const int ju = lid % TU, rn = lid / TU, rows = TN * GPU_RPT;
    const int j0 = get_group_id(0) * TU, n0 = get_group_id(1) * rows;
    for (int r = 0; r < GPU_RPT; ++r)
        for (int g = 0; g < G; ++g) acc[r][g] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GPU_TK) {
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int i = lid; i < rows * GPU_TK; i += lsz) { /* h_prev [rows][GPU_TK] */
            const int r = i / GPU_TK, k = k0 + i % GPU_TK;
            hs[i] = (n0 + r < N && k < K) ? load_act(v, (size_t)(n0 + r) * v_ld + k) : (real)0.0f;
        }
        /* Rᵀ [GPU_TK][G][TU]: work-item (ju, rn) loads unit ju of rows rn, rn + TN, ... of the
         * chunk's GPU_TK * G (k, gate) rows, consecutive work-items consecutive units */
        for (int q = rn; q < GPU_TK * G; q += TN) {
            const int k = k0 + q / G, u = j0 + ju;
            rs[q * TU + ju] = (k < K && u < W) ? load_w(RT, (size_t)k * ld + (q % G) * gs + u) : (real)0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < GPU_TK; ++kk) {
            real hv[GPU_RPT];
            for (int r = 0; r < GPU_RPT; ++r) hv[r] = hs[(r * TN + rn) * GPU_TK + kk];
            for (int g = 0; g < G; ++g) {
                const real w = rs[(kk * G + g) * TU + ju];
                for (int r = 0; r < GPU_RPT; ++r) acc[r][g] = fma(hv[r], w, acc[r][g]);
            }
        }
    }
}

/* Offset of gate g of the work-item's unit in x_proj (rows of D*G*H). */
static inline size_t gpu_xp(step_pos p, int T, int batch_major, int G, int H, int g) {
    return xproj_row(p.t, p.n, T, p.N, batch_major) * p.D * G * H + (size_t)(p.d * G + g) * H + p.j;
}

/* What a kernel hands the skeleton and its cell's row function: the step, the shapes, the options
 * and the buffers (those a cell does not touch stay 0). */
typedef struct gpu_step_io {
    int s, T, N, H, Hr, TU, xp_batch_major, flags, policy;
    float clip, cell_clip, fill; /* clip: proj_clip for the projection */
    __global const int *tmap;
    __global const store *x_proj, *peep, *h_prev, *c_prev, *z; /* z: gru_out's input zbuf */
    __global const real *bias;
    __global const float *acts;
    __global store *h_next, *c_next, *y, *h_raw, *zbuf, *rh;
} gpu_step_io;

/* A step the table marks as not computed: h carried, the output by policy; returns 1 for such a
 * step (the row is done), 0 for a computed one. */
GPU_INLINE int gpu_carried(const gpu_step_io io, step_pos p) {
    if (p.entry & STEP_VALID) return 0;
    const real hp = load_act(io.h_prev, state_index(p));
    store_act(io.h_next, state_index(p), hp);
    store_act(io.y, output_index(p), masked_output(io.policy, p.entry, hp, io.fill));
    return 1;
}

/* Each cell's part of a step for one row p in range, from acc = its G dot products. */

/* Vanilla RNN: h = f(x_proj + Wb + Rb + R h_prev). */
GPU_INLINE void rnn_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    if (gpu_carried(io, p)) return;
    const real pre = load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 1, io.H, 0)) +
                     load_b(io.bias, (size_t)p.d * 2 * io.H + p.j) + acc[0];
    const real h = activate(io.acts, p.d, 0, pre, io.clip);
    store_act(io.h_next, state_index(p), h);
    store_act(io.y, output_index(p), h);
}

/* LSTM, gates i, f, g, o (cl/generic/gates_lstm.cl has the equations, peepholes, CIFG and the
 * clips). With a projection it writes h to h_raw (0 on a step not computed, so the projection's
 * tile never reads an unwritten value) and leaves h_next, y to proj_step_gpu. */
GPU_INLINE void lstm_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    const int H = io.H;
    const size_t cidx = state_index(p); /* W = H: the c row, and h's when Hr == H */
    const real cp = load_act(io.c_prev, cidx);
    if (!(p.entry & STEP_VALID)) {
        store_act(io.c_next, cidx, cp);
        if (io.flags & LSTM_PROJ)
            store_act(io.h_raw, cidx, 0.0f);
        else
            gpu_carried(io, p);
        return;
    }
    const size_t b = (size_t)p.d * 8 * H + p.j, P = (size_t)p.d * 3 * H + p.j;
    const real pi = load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 4, H, 0)) + load_b(io.bias, b) + acc[0];
    const real pf = load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 4, H, 1)) + load_b(io.bias, b + H) + acc[1];
    const real pg =
        load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 4, H, 2)) + load_b(io.bias, b + 2 * H) + acc[2];
    const real po =
        load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 4, H, 3)) + load_b(io.bias, b + 3 * H) + acc[3];
    const int peep_on = io.flags & LSTM_PEEPHOLE;
    real h;
    const real c = lstm_cell(io.acts, p.d, io.flags, pi, pf, pg, po, cp, peep_on ? load_w(io.peep, P) : 0.0f,
                             peep_on ? load_w(io.peep, P + H) : 0.0f, peep_on ? load_w(io.peep, P + 2 * H) : 0.0f,
                             io.clip, io.cell_clip, &h);
    store_act(io.c_next, cidx, c);
    if (io.flags & LSTM_PROJ) {
        store_act(io.h_raw, cidx, h);
    } else {
        store_act(io.h_next, cidx, h);
        store_act(io.y, output_index(p), h);
    }
}

/* LSTMP projection: m = W_proj h_raw (TF1 proj_clip), the output and the recurrent state; a step
 * not computed carries h. p is an output of Hr. */
GPU_INLINE void proj_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    if (gpu_carried(io, p)) return;
    const real m = clip1(acc[0], io.clip);
    store_act(io.h_next, state_index(p), m);
    store_act(io.y, output_index(p), m);
}

/* GRU linear-before-reset: n = g(xn + Wb_n + r (R_n h + Rb_n)), one fused launch. */
GPU_INLINE void gru_lbr_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    if (gpu_carried(io, p)) return;
    const int H = io.H;
    const size_t b = (size_t)p.d * 6 * H + p.j;
    const real z = activate(io.acts, p.d, 0,
                            load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 0)) + load_b(io.bias, b) + acc[0],
                            io.clip);
    const real r = activate(io.acts, p.d, 0,
                            load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 1)) + load_b(io.bias, b + H) +
                                acc[1],
                            io.clip);
    const real nn = activate(io.acts, p.d, 1,
                             load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 2)) +
                                 load_b(io.bias, b + 2 * H) + r * (acc[2] + load_b(io.bias, b + 5 * H)),
                             io.clip);
    const real h = (1.0f - z) * nn + z * load_act(io.h_prev, state_index(p));
    store_act(io.h_next, state_index(p), h);
    store_act(io.y, output_index(p), h);
}

/* GRU reset-before, launch 1: z to zbuf and r (.) h_prev to rh (0 on a step not computed, so the
 * second launch's tile reads only written values). */
GPU_INLINE void gru_gates_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    const int H = io.H;
    const size_t hidx = state_index(p);
    if (!(p.entry & STEP_VALID)) {
        store_act(io.rh, hidx, 0.0f);
        return;
    }
    const size_t b = (size_t)p.d * 6 * H + p.j;
    store_act(io.zbuf, hidx,
              activate(io.acts, p.d, 0,
                       load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 0)) + load_b(io.bias, b) + acc[0],
                       io.clip));
    const real r = activate(io.acts, p.d, 0,
                            load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 1)) + load_b(io.bias, b + H) +
                                acc[1],
                            io.clip);
    store_act(io.rh, hidx, r * load_act(io.h_prev, hidx));
}

/* GRU reset-before, launch 2: n = g(xn + R_n (r h) + b_n), h = (1 - z) n + z h_prev. */
GPU_INLINE void gru_out_gpu_row(const gpu_step_io io, step_pos p, const real *acc) {
    if (gpu_carried(io, p)) return;
    const int H = io.H;
    const size_t hidx = state_index(p);
    const real nn = activate(io.acts, p.d, 1,
                             load_act(io.x_proj, gpu_xp(p, io.T, io.xp_batch_major, 3, H, 2)) +
                                 load_b(io.bias, (size_t)p.d * 6 * H + 2 * H + p.j) + acc[0],
                             io.clip);
    const real z = load_act(io.z, hidx);
    const real h = (1.0f - z) * nn + z * load_act(io.h_prev, hidx);
    store_act(io.h_next, hidx, h);
    store_act(io.y, output_index(p), h);
}

enum gpu_cell { GPU_RNN, GPU_LSTM, GPU_PROJ, GPU_GRU_LBR, GPU_GRU_GATES, GPU_GRU_OUT };

/* The skeleton of every step kernel: acc = the tile's G dot products of direction d's K-wide rows
 * of v (N rows, K apart) with its K rows of RT (ld apart, gates gs apart; RT may start at a
 * gate's column), then the cell's part for each of the work-item's rows that is in range (< N
 * rows, < W outputs). cell and G are literals at every call: once inlined the switch folds away. */
GPU_INLINE void gpu_step(const int cell, const int G, const gpu_step_io io, const int W, __global const store *v,
                     __global const store *RT, const int ld, const int gs, const int K, __local real *hs,
                     __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][4];
    gpu_tile_dot(G, acc, v + (size_t)d * io.N * K, K, RT + (size_t)d * K * ld, ld, gs, K, W, io.N, io.TU, hs, rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(io.tmap, io.s, io.T, io.N, W, io.TU, row);
        if (!p.active) continue;
        switch (cell) {
        case GPU_RNN: rnn_gpu_row(io, p, acc[row]); break;
        case GPU_LSTM: lstm_gpu_row(io, p, acc[row]); break;
        case GPU_PROJ: proj_gpu_row(io, p, acc[row]); break;
        case GPU_GRU_LBR: gru_lbr_gpu_row(io, p, acc[row]); break;
        case GPU_GRU_GATES: gru_gates_gpu_row(io, p, acc[row]); break;
        default: gru_out_gpu_row(io, p, acc[row]); break;
        }
    }
}

/* The parameters every GPU step kernel but the projection's opens with (plan_gpu.c:
 * gpu_args_begin binds them), and the io fields they fill. */
#define GPU_STEP_PARAMS                                                                            \
    const int s, const int T, const int N, const int H, const int TU, __global const int *tmap,   \
        __global const store *x_proj, const int xp_batch_major, __global const store *RT,           \
        __global const real *bias, __global const float *acts, __global const store *h_prev
#define GPU_STEP_IO                                                                                \
    .s = s, .T = T, .N = N, .H = H, .TU = TU, .tmap = tmap, .x_proj = x_proj, .xp_batch_major = xp_batch_major, \
    .bias = bias, .acts = acts, .h_prev = h_prev

__kernel void rnn_step_gpu(GPU_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                           const float clip, const float fill, __local real *hs, __local real *rs) {
    const gpu_step_io io = {GPU_STEP_IO, .h_next = h_next, .y = y, .policy = policy, .clip = clip, .fill = fill};
    gpu_step(GPU_RNN, 1, io, H, h_prev, RT, H, 0, H, hs, rs);
}

__kernel void lstm_step_gpu(GPU_STEP_PARAMS, const int Hr, __global const store *peep, __global const store *c_prev,
                            __global store *h_next, __global store *c_next, __global store *y, __global store *h_raw,
                            const int flags, const int policy, const float clip, const float cell_clip,
                            const float fill, __local real *hs, __local real *rs) {
    const gpu_step_io io = {GPU_STEP_IO, .Hr = Hr, .peep = peep, .c_prev = c_prev, .h_next = h_next,
                            .c_next = c_next, .y = y, .h_raw = h_raw, .flags = flags, .policy = policy,
                            .clip = clip, .cell_clip = cell_clip, .fill = fill};
    gpu_step(GPU_LSTM, 4, io, H, h_prev, RT, 4 * H, H, Hr, hs, rs);
}

/* Tiles of TU outputs (< Hr) × TN*GPU_RPT rows; K = H. */
__kernel void proj_step_gpu(const int s, const int T, const int N, const int H, const int Hr, const int TU,
                            __global const int *tmap, __global const store *projT, __global const store *h_raw,
                            __global const store *h_prev, __global store *h_next, __global store *y, const int policy,
                            const float proj_clip, const float fill, __local real *hs, __local real *rs) {
    const gpu_step_io io = {.s = s, .T = T, .N = N, .H = H, .Hr = Hr, .TU = TU, .tmap = tmap, .h_prev = h_prev,
                            .h_next = h_next, .y = y, .policy = policy, .clip = proj_clip, .fill = fill};
    gpu_step(GPU_PROJ, 1, io, Hr, h_raw, projT, Hr, 0, H, hs, rs);
}

__kernel void gru_lbr_step_gpu(GPU_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                               const float clip, const float fill, __local real *hs, __local real *rs) {
    const gpu_step_io io = {GPU_STEP_IO, .h_next = h_next, .y = y, .policy = policy, .clip = clip, .fill = fill};
    gpu_step(GPU_GRU_LBR, 3, io, H, h_prev, RT, 3 * H, H, H, hs, rs);
}

__kernel void gru_gates_step_gpu(GPU_STEP_PARAMS, __global store *zbuf, __global store *rh, const float clip,
                                 __local real *hs, __local real *rs) {
    const gpu_step_io io = {GPU_STEP_IO, .zbuf = zbuf, .rh = rh, .clip = clip};
    gpu_step(GPU_GRU_GATES, 2, io, H, h_prev, RT, 3 * H, H, H, hs, rs);
}

/* The n gate's tile: rh times R_n (RT's columns from 2H). */
__kernel void gru_out_step_gpu(GPU_STEP_PARAMS, __global const store *zbuf, __global const store *rh,
                               __global store *h_next, __global store *y, const int policy, const float clip,
                               const float fill, __local real *hs, __local real *rs) {
    const gpu_step_io io = {GPU_STEP_IO, .z = zbuf, .h_next = h_next, .y = y, .policy = policy, .clip = clip,
                            .fill = fill};
    gpu_step(GPU_GRU_OUT, 1, io, H, rh, RT + 2 * H, 3 * H, 0, H, hs, rs);
}
