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
 * Every global load and store of weights and activations goes through load_w / load_act /
 * store_act, cl/storage.h's LOAD/STORE (fp32, or fp16/bf16 widened on load and rounded on store);
 * the biases (load_b), local memory and every accumulator stay float. */

#define GPU_TK 16 /* rows of Rᵀ (the reduction) per local-memory chunk */
#define GPU_RPT 4 /* batch rows per work-item (register tile); plan_gpu.c has the same value */

inline real load_w(__global const store *w, size_t i) { return LOAD(w, i); }
inline real load_act(__global const store *a, size_t i) { return LOAD(a, i); }
inline void store_act(__global store *a, size_t i, real v) { STORE(a, i, v); }
inline real load_b(__global const real *b, size_t i) { return b[i]; } /* biases stay float */

/* The work-item's place for its row r < GPU_RPT: unit j, row n of the tile at step s, entry from
 * the step table (0 for a row past N). step_pos's index helpers (state_index, output_index) apply. */
inline step_pos gpu_position(__global const int *tmap, int s, int T, int N, int W, int TU, int r) {
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

/* acc[r][g] += sum_k v[n_r * v_ld + k] * RT[k * ld + g * gs + j] for g < G, k < K, r < GPU_RPT,
 * n_r the work-item's rows: the work-group's TU units (< W) × TN*GPU_RPT rows (< N). hs: GPU_TK *
 * TN * GPU_RPT reals, rs: GPU_TK * G * TU. Every work-item of the group must run it (barriers), in
 * range or not. */
#define GPU_TILE_DOT(G, acc, v, v_ld, RT, ld, gs, K, W, N, TU, hs, rs)                             \
    do {                                                                                           \
        const int lid_ = get_local_id(0), lsz_ = get_local_size(0), TN_ = lsz_ / (TU);             \
        const int ju_ = lid_ % (TU), rn_ = lid_ / (TU), rows_ = TN_ * GPU_RPT;                     \
        const int j0_ = get_group_id(0) * (TU), n0_ = get_group_id(1) * rows_;                    \
        for (int k0_ = 0; k0_ < (K); k0_ += GPU_TK) {                                              \
            barrier(CLK_LOCAL_MEM_FENCE);                                                          \
            for (int i_ = lid_; i_ < rows_ * GPU_TK; i_ += lsz_) { /* h_prev [rows][GPU_TK] */     \
                const int r_ = i_ / GPU_TK, k_ = k0_ + i_ % GPU_TK;                                \
                (hs)[i_] = (n0_ + r_ < (N) && k_ < (K)) ? load_act((v), (size_t)(n0_ + r_) * (v_ld) + k_) \
                                                        : (real)0.0f;                              \
            }                                                                                      \
            /* Rᵀ [GPU_TK][G][TU]: work-item (ju, rn) loads unit ju of rows rn, rn + TN, ... of   \
             * the chunk's GPU_TK * G (k, gate) rows, consecutive work-items consecutive units */  \
            for (int q_ = rn_; q_ < GPU_TK * (G); q_ += TN_) {                                     \
                const int k_ = k0_ + q_ / (G), u_ = j0_ + ju_;                                     \
                (rs)[q_ * (TU) + ju_] = (k_ < (K) && u_ < (W))                                     \
                                            ? load_w((RT), (size_t)k_ * (ld) + (q_ % (G)) * (gs) + u_) \
                                            : (real)0.0f;                                          \
            }                                                                                      \
            barrier(CLK_LOCAL_MEM_FENCE);                                                          \
            for (int kk_ = 0; kk_ < GPU_TK; ++kk_) {                                               \
                real hv_[GPU_RPT];                                                                 \
                for (int r_ = 0; r_ < GPU_RPT; ++r_) hv_[r_] = (hs)[(r_ * TN_ + rn_) * GPU_TK + kk_]; \
                for (int g_ = 0; g_ < (G); ++g_) {                                                 \
                    const real w_ = (rs)[(kk_ * (G) + g_) * (TU) + ju_];                           \
                    for (int r_ = 0; r_ < GPU_RPT; ++r_) (acc)[r_][g_] = fma(hv_[r_], w_, (acc)[r_][g_]); \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Offset of gate g of the work-item's unit in x_proj (rows of D*G*H). */
inline size_t gpu_xp(step_pos p, int T, int batch_major, int G, int H, int g) {
    return xproj_row(p.t, p.n, T, p.N, batch_major) * p.D * G * H + (size_t)(p.d * G + g) * H + p.j;
}

/* A step the table marks as not computed: h carried, the output by policy. */
inline void gpu_masked(step_pos p, __global const store *h_prev, __global store *h_next, __global store *y, int policy,
                       float fill) {
    const real hp = load_act(h_prev, state_index(p));
    store_act(h_next, state_index(p), hp);
    store_act(y, output_index(p), masked_output(policy, p.entry, hp, fill));
}

/* The parameters every GPU step kernel opens with (plan_gpu.c: gpu_args_begin binds them). */
#define GPU_STEP_PARAMS                                                                            \
    const int s, const int T, const int N, const int H, const int TU, __global const int *tmap,   \
        __global const store *x_proj, const int xp_batch_major, __global const store *RT,           \
        __global const real *bias, __global const float *acts, __global const store *h_prev

/* Vanilla RNN: h = f(x_proj + Wb + Rb + R h_prev). */
__kernel void rnn_step_gpu(GPU_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                           const float clip, const float fill, __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][1] = {{0.0f}};
    GPU_TILE_DOT(1, acc, h_prev + (size_t)d * N * H, H, RT + (size_t)d * H * H, H, 0, H, H, N, TU, hs, rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(tmap, s, T, N, H, TU, row);
        if (!p.active) continue;
        if (!(p.entry & STEP_VALID)) {
            gpu_masked(p, h_prev, h_next, y, policy, fill);
            continue;
        }
        const real pre = load_act(x_proj, gpu_xp(p, T, xp_batch_major, 1, H, 0)) + load_b(bias, (size_t)p.d * 2 * H + p.j) +
                         acc[row][0];
        const real h = activate(acts, p.d, 0, pre, clip);
        store_act(h_next, state_index(p), h);
        store_act(y, output_index(p), h);
    }
}

/* LSTM, gates i, f, g, o (cl/generic/gates_lstm.cl has the equations, peepholes, CIFG and the
 * clips). With a projection it writes h to h_raw (0 on a step not computed, so the projection's
 * tile never reads an unwritten value) and leaves h_next, y to proj_step_gpu. */
__kernel void lstm_step_gpu(GPU_STEP_PARAMS, const int Hr, __global const store *peep, __global const store *c_prev,
                            __global store *h_next, __global store *c_next, __global store *y, __global store *h_raw,
                            const int flags, const int policy, const float clip, const float cell_clip,
                            const float fill, __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][4] = {{0.0f}};
    GPU_TILE_DOT(4, acc, h_prev + (size_t)d * N * Hr, Hr, RT + (size_t)d * Hr * 4 * H, 4 * H, H, Hr, H, N, TU, hs,
                 rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(tmap, s, T, N, H, TU, row);
        if (!p.active) continue;
        const size_t cidx = state_index(p); /* W = H: the c row, and h's when Hr == H */
        const real cp = load_act(c_prev, cidx);
        if (!(p.entry & STEP_VALID)) {
            store_act(c_next, cidx, cp);
            if (flags & LSTM_PROJ)
                store_act(h_raw, cidx, 0.0f);
            else
                gpu_masked(p, h_prev, h_next, y, policy, fill);
            continue;
        }
        const size_t b = (size_t)p.d * 8 * H + p.j, P = (size_t)p.d * 3 * H + p.j;
        real pi = load_act(x_proj, gpu_xp(p, T, xp_batch_major, 4, H, 0)) + load_b(bias, b) + acc[row][0];
        real pf = load_act(x_proj, gpu_xp(p, T, xp_batch_major, 4, H, 1)) + load_b(bias, b + H) + acc[row][1];
        real pg = load_act(x_proj, gpu_xp(p, T, xp_batch_major, 4, H, 2)) + load_b(bias, b + 2 * H) + acc[row][2];
        real po = load_act(x_proj, gpu_xp(p, T, xp_batch_major, 4, H, 3)) + load_b(bias, b + 3 * H) + acc[row][3];
        if (flags & LSTM_PEEPHOLE) {
            pi += load_w(peep, P) * cp;
            pf += load_w(peep, P + H) * cp;
        }
        const real i = activate(acts, p.d, 0, pi, clip);
        const real f = (flags & LSTM_CIFG) ? 1.0f - i : activate(acts, p.d, 0, pf, clip);
        const real g = activate(acts, p.d, 1, pg, clip);
        const real c = clip1(f * cp + i * g, cell_clip);
        if (flags & LSTM_PEEPHOLE) po += load_w(peep, P + 2 * H) * c;
        const real o = activate(acts, p.d, 0, po, clip);
        const real h = o * activate(acts, p.d, 2, c, clip);
        store_act(c_next, cidx, c);
        if (flags & LSTM_PROJ) {
            store_act(h_raw, cidx, h);
        } else {
            store_act(h_next, cidx, h);
            store_act(y, output_index(p), h);
        }
    }
}

/* LSTMP projection: m = W_proj h_raw (TF1 proj_clip), the output and the recurrent state; a step
 * not computed carries h. Tiles of TU outputs (< Hr) × TN*GPU_RPT rows; K = H. */
__kernel void proj_step_gpu(const int s, const int T, const int N, const int H, const int Hr, const int TU,
                            __global const int *tmap, __global const store *projT, __global const store *h_raw,
                            __global const store *h_prev, __global store *h_next, __global store *y, const int policy,
                            const float proj_clip, const float fill, __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][1] = {{0.0f}};
    GPU_TILE_DOT(1, acc, h_raw + (size_t)d * N * H, H, projT + (size_t)d * H * Hr, Hr, 0, H, Hr, N, TU, hs, rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos q = gpu_position(tmap, s, T, N, Hr, TU, row);
        if (!q.active) continue;
        if (!(q.entry & STEP_VALID)) {
            gpu_masked(q, h_prev, h_next, y, policy, fill);
            continue;
        }
        const real m = clip1(acc[row][0], proj_clip);
        store_act(h_next, state_index(q), m);
        store_act(y, output_index(q), m);
    }
}

/* GRU linear-before-reset: n = g(xn + Wb_n + r (R_n h + Rb_n)), one fused launch. */
__kernel void gru_lbr_step_gpu(GPU_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                               const float clip, const float fill, __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][3] = {{0.0f}};
    GPU_TILE_DOT(3, acc, h_prev + (size_t)d * N * H, H, RT + (size_t)d * H * 3 * H, 3 * H, H, H, H, N, TU, hs, rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(tmap, s, T, N, H, TU, row);
        if (!p.active) continue;
        if (!(p.entry & STEP_VALID)) {
            gpu_masked(p, h_prev, h_next, y, policy, fill);
            continue;
        }
        const size_t b = (size_t)p.d * 6 * H + p.j;
        const real z = activate(acts, p.d, 0, load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 0)) + load_b(bias, b) + acc[row][0],
                                clip);
        const real r = activate(acts, p.d, 0,
                                load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 1)) + load_b(bias, b + H) + acc[row][1], clip);
        const real nn = activate(acts, p.d, 1,
                                 load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 2)) + load_b(bias, b + 2 * H) +
                                     r * (acc[row][2] + load_b(bias, b + 5 * H)),
                                 clip);
        const real h = (1.0f - z) * nn + z * load_act(h_prev, state_index(p));
        store_act(h_next, state_index(p), h);
        store_act(y, output_index(p), h);
    }
}

/* GRU reset-before, launch 1: z to zbuf and r (.) h_prev to rh (0 on a step not computed, so the
 * second launch's tile reads only written values). */
__kernel void gru_gates_step_gpu(GPU_STEP_PARAMS, __global store *zbuf, __global store *rh, const float clip,
                                 __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][2] = {{0.0f}};
    GPU_TILE_DOT(2, acc, h_prev + (size_t)d * N * H, H, RT + (size_t)d * H * 3 * H, 3 * H, H, H, H, N, TU, hs, rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(tmap, s, T, N, H, TU, row);
        if (!p.active) continue;
        const size_t hidx = state_index(p);
        if (!(p.entry & STEP_VALID)) {
            store_act(rh, hidx, 0.0f);
            continue;
        }
        const size_t b = (size_t)p.d * 6 * H + p.j;
        store_act(zbuf, hidx,
                  activate(acts, p.d, 0, load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 0)) + load_b(bias, b) + acc[row][0],
                           clip));
        const real r =
            activate(acts, p.d, 0, load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 1)) + load_b(bias, b + H) + acc[row][1], clip);
        store_act(rh, hidx, r * load_act(h_prev, hidx));
    }
}

/* GRU reset-before, launch 2: n = g(xn + R_n (r h) + b_n), h = (1 - z) n + z h_prev. */
__kernel void gru_out_step_gpu(GPU_STEP_PARAMS, __global const store *zbuf, __global const store *rh,
                               __global store *h_next, __global store *y, const int policy, const float clip,
                               const float fill, __local real *hs, __local real *rs) {
    const int d = get_group_id(2);
    real acc[GPU_RPT][1] = {{0.0f}};
    GPU_TILE_DOT(1, acc, rh + (size_t)d * N * H, H, RT + (size_t)d * H * 3 * H + 2 * H, 3 * H, 0, H, H, N, TU, hs,
                 rs);
    for (int row = 0; row < GPU_RPT; ++row) {
        const step_pos p = gpu_position(tmap, s, T, N, H, TU, row);
        if (!p.active) continue;
        if (!(p.entry & STEP_VALID)) {
            gpu_masked(p, h_prev, h_next, y, policy, fill);
            continue;
        }
        const size_t hidx = state_index(p);
        const real nn = activate(acts, p.d, 1,
                                 load_act(x_proj, gpu_xp(p, T, xp_batch_major, 3, H, 2)) +
                                     load_b(bias, (size_t)p.d * 6 * H + 2 * H + p.j) + acc[row][0],
                                 clip);
        const real z = load_act(zbuf, hidx);
        const real h = (1.0f - z) * nn + z * load_act(h_prev, hidx);
        store_act(h_next, hidx, h);
        store_act(y, output_index(p), h);
    }
}
