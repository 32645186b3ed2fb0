/* The tiled plan's backward scan (src/plans/plan_tiled_bwd.c): one persistent launch per layer and
 * direction walks the steps T-1 .. 0 and does, per step, what the portable backward does with a
 * cell kernel and a GEMM: the gate gradients (the same tr_*_bwd_at bodies of train.cl, so dG and dc
 * are bitwise the portable's) and dh_prev += dG R, with R packed once per call in 64-column panels
 * and a register-tiled product (MR rows x 64 columns per work-item: the forward steps' micro-kernel,
 * tiled_dot of cl/tiled/tiled_dot.h).
 *
 * A work-group owns a set of batch rows (row blocks grp, grp + groups, ...) for every step: their
 * dh, dc, carry and dG rows are touched by no other group, so a work-group barrier between the
 * phases of a step is the only synchronisation (no atomics; every sum in a fixed order, the same
 * bits run to run). Work-item wi does units [16 wi, 16 wi + 16) in the gate phase and columns
 * [64 wi, 64 wi + 64) of dh_prev in the product; the local size is the larger of the two counts.
 * The reset-before GRU has two more phases a step: (r * h_prev)'s gradient dG_n R_n into d_rh,
 * then r's gradient and the r * dh_prev term (tr_gru_rb_r_at), then the z, r product. */

/* Rp [Kb][GH][64]: R [GH, Hr] in panels of 64 columns, zeros past Hr. */
__kernel void tr_pack_r(__global const real *R, const int GH, const int Hr, const int Kb, __global real *Rp) {
    const int c = get_global_id(0), m = get_global_id(1);
    if (c >= Kb * 64 || m >= GH) return;
    const int kb = c / 64, q = c % 64, col = kb * 64 + q;
    Rp[((size_t)kb * GH + m) * 64 + q] = col < Hr ? R[(size_t)m * Hr + col] : 0.0f;
}

/* Row block rb's product with panel kb at step s: A rows at src + n * lda + a_off, B = the panel's
 * rows from m0, K of them; into out rows (out + o_row(n), lanes < width) for the computed rows,
 * added to what is there (add) or stored. A block with no computed row costs nothing; rows past N
 * alias row N-1 (computed, never stored). */
static inline void bwd_block_product(const int MR, int rb, int kb, int s, int T, int N, int d, __global const int *tmap,
                                     __global const real *src, int lda, int a_off, __global const real *Rp, int GH,
                                     int m0, int K, __global real *out, size_t out_base, int ldo, int width, int add) {
    __global const real *arow[8]; /* tiled_dot (tiled/tiled_dot.h): the panel's 64 columns as 4 slots of 16 */
    int any = 0;
    for (int r = 0; r < MR; ++r) {
        const int n = min(rb * MR + r, N - 1);
        arow[r] = src + (size_t)n * lda + a_off;
        any |= tmap[((size_t)d * T + s) * N + n] & STEP_VALID;
    }
    if (!any) return;
    real16 acc[8][4];
    tiled_dot(MR, 4, 4, acc, Rp + ((size_t)kb * GH + m0) * 64, arow, K);
    for (int r = 0; r < MR; ++r) {
        const int n = rb * MR + r;
        if (n >= N) break;
        if (!(tmap[((size_t)d * T + s) * N + n] & STEP_VALID)) continue;
        __global real *o = out + out_base + (size_t)n * ldo;
        for (int q = 0; q < 4; ++q) {
            const int col = kb * 64 + q * 16, lanes = min(16, width - col);
            if (lanes <= 0) break;
            st16(o + col, add ? ld16(o + col, lanes) + acc[r][q] : acc[r][q], lanes);
        }
    }
}

/* cell: BWD_CELL_* (plan_tiled_bwd.c passes the same numbers). */
#define BWD_CELL_RNN 0
#define BWD_CELL_LSTM 1
#define BWD_CELL_GRU_LBR 2
#define BWD_CELL_GRU_RB 3

#define BWD_SCAN_PARAMS                                                                            \
    const int T, const int N, const int H, const int Hr, const int d, const int cell,              \
        __global const int *tmap, __global const real *res, const int S, __global const float *acts, \
        const float clip, __global real *dGt, __global real *dGs, __global real *dGh_t,            \
        __global const real *Rp, __global const real *P, __global real *dc_state, const int flags, \
        const float cell_clip, __global real *d_rh, __global const real *dY, const int has_dy,     \
        const int ycols, const int ycol0, const float p_out, const uint seed_lo, const uint seed_hi, \
        const uint call, const int l, const int policy, __global real *dh_a, __global real *dh_b,  \
        __global real *carry
#define BWD_SCAN_ARGS                                                                              \
    T, N, H, Hr, d, cell, tmap, res, S, acts, clip, dGt, dGs, dGh_t, Rp, P, dc_state, flags, cell_clip, d_rh, dY, \
        has_dy, ycols, ycol0, p_out, seed_lo, seed_hi, call, l, policy, dh_a, dh_b, carry

static inline void bwd_scan(const int MR, BWD_SCAN_PARAMS) {
    const int wi = get_local_id(0), grp = get_group_id(1), groups = get_num_groups(1);
    const int G = cell == BWD_CELL_LSTM ? 4 : cell == BWD_CELL_RNN ? 1 : 3, GH = G * H;
    const int Hb = (H + 15) / 16, Kb = (Hr + 63) / 64, n_rb = (N + MR - 1) / MR;
    const int rb_gru = cell == BWD_CELL_GRU_RB, fused = 1;
    for (int s = T - 1; s >= 0; --s) {
        /* dh of this step's state in dh_state; dh_prev goes to dh_out (the portable's ping-pong) */
        const int a = (T - 1 - s) & 1;
        __global real *dh_state = a ? dh_b : dh_a, *dh_out = a ? dh_a : dh_b;
        __global const real *dh = d_rh; /* not read: fused */
        if (wi < Hb)
            for (int rb = grp; rb < n_rb; rb += groups)
                for (int r = 0; r < MR && rb * MR + r < N; ++r) {
                    const int n = rb * MR + r;
                    if (cell == BWD_CELL_LSTM)
                        tr_lstm_bwd_at(wi, n, TR_BWD_ARGS, P, dc_state, flags, cell_clip, TR_OUT_ARGS, 0, (real16)0.0f);
                    else if (cell == BWD_CELL_RNN)
                        tr_rnn_bwd_at(wi, n, TR_BWD_ARGS, TR_OUT_ARGS, 0, (real16)0.0f);
                    else
                        tr_gru_bwd_at(wi, n, TR_BWD_ARGS, !rb_gru, dGh_t, dh_out, TR_OUT_ARGS);
                }
        barrier(CLK_GLOBAL_MEM_FENCE);
        /* reset-before GRU: (r * h_prev)'s gradient dG_n R_n (Hr = H), then r's. The barriers stay
         * outside the condition: with them inside `if (rb_gru)` (a uniform branch, legal OpenCL)
         * PoCL 3.1 gave wrong gradients at H = 64, 65, 70 (right at 3 and 21); other cells pay
         * two empty phases a step. */
        if (rb_gru && wi < Kb)
            for (int rb = grp; rb < n_rb; rb += groups)
                bwd_block_product(MR, rb, wi, s, T, N, d, tmap, dGs, GH, 2 * H, Rp, GH, 2 * H, H, d_rh, 0, H, H, 0);
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (rb_gru && wi < Hb)
            for (int rb = grp; rb < n_rb; rb += groups)
                for (int r = 0; r < MR && rb * MR + r < N; ++r)
                    tr_gru_rb_r_at(wi, rb * MR + r, TR_BWD_ARGS, d_rh, dh_out, 0.0f, seed_lo, seed_hi, call, l, 0);
        barrier(CLK_GLOBAL_MEM_FENCE);
        /* dh_prev += dG R (the reset-before GRU: its z and r blocks) */
        if (wi < Kb)
            for (int rb = grp; rb < n_rb; rb += groups)
                bwd_block_product(MR, rb, wi, s, T, N, d, tmap, dGs, GH, 0, Rp, GH, 0, rb_gru ? 2 * H : GH, dh_out,
                                  (size_t)d * N * Hr, Hr, Hr, 1);
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}

__kernel void tr_bwd_scan_1(BWD_SCAN_PARAMS) { bwd_scan(1, BWD_SCAN_ARGS); }
__kernel void tr_bwd_scan_6(BWD_SCAN_PARAMS) { bwd_scan(6, BWD_SCAN_ARGS); }
