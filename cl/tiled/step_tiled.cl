/* Register-tiled recurrent steps: h_prev · Rᵀ fused with the gate math, written for wide SIMD
 * (CPU devices through PoCL, and GPUs alike).
 *
 * One work-item owns MR rows of the batch × one block of 16 hidden units × one direction, and keeps
 * MR × G real16 accumulators in registers: per k it loads the G 16-wide slices of Rᵀ for its block
 * and broadcasts MR scalars of h_prev (a BLIS-style micro-kernel). Explicit vectors matter on CPU
 * devices: PoCL does not vectorise across work-items through a loop with barriers, which is what
 * the simple kernels in gates_*.cl rely on.
 *
 * Packed layouts (Hb = number of 16-wide blocks, Hp = 16*Hb):
 *   RTp    [D][Hb][K][G][16]   one block's weights are contiguous, streamed once per step
 *   x_proj [rows][D][Hb][G][16] (rows = (t, n) or (n, t) for a batch-major first layer)
 *   bias   [D][2][Hb][G][16]   x-side bias (folded) and the recurrent bias (lbr GRU n gate)
 *   peep   [D][3][Hp]          i, f, o
 * (the vanilla RNN packs 64 units per block as 4 slots of 16, and so does the LSTM projection,
 *  [D][Hbp][H][4][16] for Hbp = ceil(Hr / 64) blocks of outputs; see UNIT64_TILED_STEP)
 *   states [D][N][Hs]          Hs = Hp: whole 16-lane vectors, lanes >= H never read as input
 *                              (LSTMP: h rows 64 * Hbp apart, c and the unprojected h Hp apart)
 * K is the true state size (lanes past it are never read), so padded lanes need not be zero.
 *
 * Variable length costs what it computes: rows are visited through `perm` (rows sorted by length,
 * longest first, when lengths are given), so the row blocks of finished rows hold only finished rows
 * and skip their dot product; the input projection likewise skips blocks of padded (t, n) rows. */

inline real16 clip16(real16 x, float clip) { return clip > 0.0f ? CLAMP_NAN(x, (real16)-clip, (real16)clip) : x; }

/* activate() of common.cl on 16 lanes: the same ACTIVATION_BODY. */
inline real16 activate16(__global const float *acts, int dir, int slot, real16 x, float clip) {
    x = clip16(x, clip);
    __global const float *a = acts + (dir * ACT_SLOTS + slot) * ACT_PARAMS;
    const int kind = (int)a[0];
    const float alpha = a[1], beta = a[2];
    ACTIVATION_BODY(real16, x, kind, alpha, beta)
}

/* Output at a step that is not computed, by policy: the 16-lane masked_output() of common.cl. */
inline real16 masked16(int policy, int entry, real16 h_prev, float fill) {
    if (policy == MASKED_CARRY) return (entry & STEP_STARTED) ? h_prev : (real16)0.0f;
    return policy == MASKED_FILL ? (real16)fill : (real16)0.0f;
}

/* Stores the first `lanes` (1..16) lanes of v at p. */
inline void store_lanes(__global real *p, real16 v, int lanes) {
    if (lanes == 16) {
        vstore16(v, 0, p);
        return;
    }
    real tmp[16];
    vstore16(v, 0, tmp);
    for (int i = 0; i < lanes; ++i) p[i] = tmp[i];
}

/* acc[r][g] = sum_k h_prev[n_r, k] * RTp[block][k][g], for MR rows and G gates.
 * Written out per (MR, G) with named accumulators and aligned vector loads: with arrays and vload16,
 * PoCL's LLVM kept the accumulators on the stack and assembled each vector from 8-byte pieces. */
#define ROWS_1(X) X(0)
#define ROWS_4(X) X(0) X(1) X(2) X(3)
#define DECL_ACC(r) real16 a##r##0 = 0.0f, a##r##1 = 0.0f, a##r##2 = 0.0f, a##r##3 = 0.0f;
#define FMA_G1(r) { const real16 h_ = (real16)hrow[r][k]; a##r##0 = fma(h_, w0, a##r##0); }
#define FMA_G2(r) { const real16 h_ = (real16)hrow[r][k]; a##r##0 = fma(h_, w0, a##r##0);            \
                    a##r##1 = fma(h_, w1, a##r##1); }
#define FMA_G3(r) { const real16 h_ = (real16)hrow[r][k]; a##r##0 = fma(h_, w0, a##r##0);            \
                    a##r##1 = fma(h_, w1, a##r##1); a##r##2 = fma(h_, w2, a##r##2); }
#define FMA_G4(r) { const real16 h_ = (real16)hrow[r][k]; a##r##0 = fma(h_, w0, a##r##0);            \
                    a##r##1 = fma(h_, w1, a##r##1); a##r##2 = fma(h_, w2, a##r##2); a##r##3 = fma(h_, w3, a##r##3); }
#define SAVE_ACC(r) acc[r][0] = a##r##0; acc[r][1] = a##r##1; acc[r][2] = a##r##2; acc[r][3] = a##r##3;
/* TILED_DOT_S: the same over G of the SLOTS slots stored per k (the reset-before GRU reads z, r and
 * then n separately from one [z, r, n] packing). */
#define TILED_DOT(MR, G, acc, RTblk, hrow, K) TILED_DOT_S(MR, G, G, acc, RTblk, hrow, K)
#define TILED_DOT_S(MR, G, SLOTS, acc, RTblk, hrow, K)                                               \
    {                                                                                                \
        ROWS_##MR(DECL_ACC)                                                                          \
        __global const real16 *W_ = (__global const real16 *)(RTblk);                                \
        for (int k = 0; k < (K); ++k, W_ += (SLOTS)) {                                               \
            const real16 w0 = W_[0];                                                                 \
            const real16 w1 = (G) > 1 ? W_[1 % (G)] : w0;                                            \
            const real16 w2 = (G) > 2 ? W_[2 % (G)] : w0;                                            \
            const real16 w3 = (G) > 3 ? W_[3 % (G)] : w0;                                            \
            ROWS_##MR(FMA_G##G)                                                                      \
        }                                                                                            \
        ROWS_##MR(SAVE_ACC)                                                                          \
    }

/* Work-item (jb, group, d) walks the row blocks group, group + groups, ... of the batch, MR rows at a
 * time, so its block of Rᵀ (K*G*64 bytes) stays in cache across the batch instead of being streamed
 * once per row block; striding (rather than contiguous runs) spreads long and short rows evenly over
 * the groups when rows are in length order. Rows past N alias row N-1 (computed, never stored) so the
 * inner loop has no branches. TILED_BEGIN opens the row-block loop; TILED_END closes it. */
#define TILED_BEGIN(MR, G, UB) TILED_BEGIN_SRC(MR, G, UB, h_prev, Hs)
#define TILED_BEGIN_SRC(MR, G, UB, SRC, SRC_STRIDE)                                                  \
    const int jb = get_global_id(0), grp = get_global_id(1), d = get_global_id(2);                   \
    const int D = get_global_size(2), Hb = (H + (UB) - 1) / (UB), Hs = Hb * (UB);                    \
    const int j0 = jb * (UB), lanes = min(16, H - j0);                                               \
    const int n_rb = (N + (MR) - 1) / (MR);                                                          \
    __global const real *RTblk = RTp + ((size_t)d * Hb + jb) * (size_t)K * (G) * 16;                 \
    for (int rb = grp; rb < n_rb; rb += (int)get_global_size(1)) {                                   \
        __global const real *hrow[MR];                                                               \
        int any_valid_ = 0;                                                                          \
        for (int r = 0; r < (MR); ++r) {                                                             \
            const int n_ = perm[min(rb * (MR) + r, N - 1)];                                          \
            hrow[r] = (SRC) + ((size_t)d * N + n_) * (SRC_STRIDE);                                   \
            any_valid_ |= tmap[(d * T + s) * N + n_] & STEP_VALID;                                   \
        }                                                                                            \
        real16 acc[MR][4];

#define TILED_END }

/* Row r of the current block: the batch row n, its step-table entry and time index t, the index of
 * its 16 lanes in the state buffers. Leaves the row loop past the end of the batch. */
#define TILED_ROW(MR, r)                                                                             \
    if (rb * (MR) + (r) >= N) break;                                                                 \
    const int n = perm[rb * (MR) + (r)];                                                             \
    const int entry = tmap[(d * T + s) * N + n];                                                     \
    const int t = entry & STEP_T_MASK;                                                               \
    const size_t sidx = ((size_t)d * N + n) * Hs + j0;

/* Each cell's step is written once, as a body over (s, h_prev, h_next[, c_prev, c_next]), and
 * instantiated twice:
 *   <cell>_step_tiled_MR  one launch per step s0 (the host swaps the state buffers);
 *   <cell>_scan_tiled_MR  the persistent scan: one launch loops over steps [s0, s1) (all T of them
 *                         once the host has chosen this kernel for the shape). Its work-group is
 *                         every block jb of one row group and direction, which owns those rows'
 *                         states outright, so a work-group barrier is the only synchronisation a
 *                         step needs (rows are independent: no global barrier). Launched with
 *                         local size (Hb, 1, 1). Step s reads the a buffers when s is even, the b
 *                         buffers when odd, like the step kernels, so the two can take turns.
 * The arithmetic of the two is the same instruction for instruction, so results are bitwise equal.
 * (Running the scan kernel one step per launch instead of the step kernel cost 5 % on S1.) */
#define SCAN_STATES(s, a, b) (((s) & 1) ? (b) : (a))

#define LSTM_TILED_PARAMS                                                                            \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                  \
    __global const int *tmap,                                                                        \
    __global const int *perm, __global const real *x_proj, const int xp_batch_major,                 \
    __global const real *RTp, __global const real *bias, __global const real *peep,                  \
    __global const float *acts, __global real *h_a, __global real *c_a, __global real *h_b,          \
    __global real *c_b, __global real *y, const int flags, const int policy, const float clip,       \
    const float cell_clip, const float fill, __global real *h_raw, const int hs_in

#define LSTM_TILED_STEP(MR, S_, HP_, CP_, HN_, CN_)                                                  \
    {                                                                                                \
    const int s = (S_);                                                                              \
    __global const real *h_prev = (HP_), *c_prev = (CP_);                                            \
    __global real *h_next = (HN_), *c_next = (CN_);                                                  \
    TILED_BEGIN_SRC(MR, 4, 16, h_prev, hs_in)                                                        \
    if (any_valid_) TILED_DOT(MR, 4, acc, RTblk, hrow, K)                                            \
    __global const real *b = bias + ((size_t)d * 2 * Hb + jb) * 64;                                  \
    const real16 bi = vload16(0, b), bf = vload16(1, b), bg = vload16(2, b), bo = vload16(3, b);     \
    __global const real *P = peep + (size_t)d * 3 * Hs + j0;                                         \
    const real16 Pi = vload16(0, P), Pf = vload16(0, P + Hs), Po = vload16(0, P + 2 * Hs);           \
    for (int r = 0; r < (MR); ++r) {                                                                 \
        TILED_ROW(MR, r)                                                                             \
        __global real *yo = y + (((size_t)t * N + n) * D + d) * H + j0;                              \
        const real16 cp = vload16(0, c_prev + sidx);                                                 \
        if (!(entry & STEP_VALID)) {                                                                 \
            vstore16(cp, 0, c_next + sidx);                                                          \
            if (flags & LSTM_PROJ) continue; /* h and y: the projection phase */                     \
            const real16 hp = vload16(0, h_prev + sidx);                                             \
            vstore16(hp, 0, h_next + sidx);                                                          \
            store_lanes(yo, masked16(policy, entry, hp, fill), lanes);                               \
            continue;                                                                                \
        }                                                                                            \
        const size_t row = xproj_row(t, n, T, N, xp_batch_major);                                    \
        __global const real *xp = x_proj + ((row * D + d) * Hb + jb) * 64;                           \
        real16 pi = vload16(0, xp) + bi + acc[r][0];                                                 \
        real16 pf = vload16(1, xp) + bf + acc[r][1];                                                 \
        const real16 pg = vload16(2, xp) + bg + acc[r][2];                                           \
        real16 po = vload16(3, xp) + bo + acc[r][3];                                                 \
        if (flags & LSTM_PEEPHOLE) {                                                                 \
            pi += Pi * cp;                                                                           \
            pf += Pf * cp;                                                                           \
        }                                                                                            \
        const real16 i = activate16(acts, d, 0, pi, clip);                                           \
        const real16 f = (flags & LSTM_CIFG) ? 1.0f - i : activate16(acts, d, 0, pf, clip);          \
        const real16 g = activate16(acts, d, 1, pg, clip);                                           \
        real16 c = f * cp + i * g;                                                                   \
        c = clip16(c, cell_clip);                                                         \
        if (flags & LSTM_PEEPHOLE) po += Po * c;                                                     \
        const real16 o = activate16(acts, d, 0, po, clip);                                           \
        const real16 h = o * activate16(acts, d, 2, c, clip);                                        \
        vstore16(c, 0, c_next + sidx);                                                               \
        if (flags & LSTM_PROJ) { /* LSTMP: the unprojected h, projected in the next phase */         \
            vstore16(h, 0, h_raw + sidx);                                                            \
            continue;                                                                                \
        }                                                                                            \
        vstore16(h, 0, h_next + sidx);                                                               \
        store_lanes(yo, h, lanes);                                                                   \
    }                                                                                                \
    TILED_END                                                                                        \
    }

#define DEFINE_LSTM_TILED(MR)                                                                        \
__kernel void lstm_step_tiled_##MR(LSTM_TILED_PARAMS) LSTM_TILED_STEP(MR, s0, h_a, c_a, h_b, c_b)    \
__kernel void lstm_scan_tiled_##MR(LSTM_TILED_PARAMS) {                                              \
    for (int step = s0; step < s1; ++step) {                                                         \
        LSTM_TILED_STEP(MR, step, SCAN_STATES(step, h_a, h_b), SCAN_STATES(step, c_a, c_b),          \
                        SCAN_STATES(step, h_b, h_a), SCAN_STATES(step, c_b, c_a))                    \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
    }                                                                                                \
}

/* Shared by the linear-before-reset GRU and the vanilla RNN: one state. */
#define H_TILED_PARAMS                                                                               \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                  \
    __global const int *tmap,                                                                        \
    __global const int *perm, __global const real *x_proj, const int xp_batch_major,                 \
    __global const real *RTp, __global const real *bias, __global const float *acts,                 \
    __global real *h_a, __global real *h_b, __global real *y, const int policy, const float clip,    \
    const float fill

#define GRU_LBR_TILED_STEP(MR, S_, HP_, HN_)                                                         \
    {                                                                                                \
    const int s = (S_);                                                                              \
    __global const real *h_prev = (HP_);                                                             \
    __global real *h_next = (HN_);                                                                   \
    TILED_BEGIN(MR, 3, 16)                                                                           \
    if (any_valid_) TILED_DOT(MR, 3, acc, RTblk, hrow, K)                                            \
    __global const real *b = bias + ((size_t)d * 2 * Hb + jb) * 48;                                  \
    const real16 bz = vload16(0, b), br = vload16(1, b), bn = vload16(2, b);                         \
    const real16 rbn = vload16(2, b + (size_t)Hb * 48);                                              \
    for (int r = 0; r < (MR); ++r) {                                                                 \
        TILED_ROW(MR, r)                                                                             \
        __global real *yo = y + (((size_t)t * N + n) * D + d) * H + j0;                              \
        const real16 hp = vload16(0, h_prev + sidx);                                                 \
        if (!(entry & STEP_VALID)) {                                                                 \
            vstore16(hp, 0, h_next + sidx);                                                          \
            store_lanes(yo, masked16(policy, entry, hp, fill), lanes);                               \
            continue;                                                                                \
        }                                                                                            \
        const size_t row = xproj_row(t, n, T, N, xp_batch_major);                                    \
        __global const real *xp = x_proj + ((row * D + d) * Hb + jb) * 48;                           \
        const real16 z = activate16(acts, d, 0, vload16(0, xp) + bz + acc[r][0], clip);              \
        const real16 rr = activate16(acts, d, 0, vload16(1, xp) + br + acc[r][1], clip);             \
        const real16 nn = activate16(acts, d, 1, vload16(2, xp) + bn + rr * (acc[r][2] + rbn), clip);  \
        const real16 h = (1.0f - z) * nn + z * hp;                                                   \
        vstore16(h, 0, h_next + sidx);                                                               \
        store_lanes(yo, h, lanes);                                                                   \
    }                                                                                                \
    TILED_END                                                                                        \
    }

/* One output of 64 units per block as 4 slots of 16 (UB = 64), which keeps the micro-kernel's 4 loads :
 * 16 FMAs ratio for a single "gate": the vanilla RNN (from h_prev) and the LSTM projection (from
 * the unprojected h, K = hidden size, here H = the projection size). VALUE(r, q) is slot q of row r
 * at a computed step; the other steps carry h_prev and write the masked output. */
#define UNIT64_TILED_STEP(MR, S_, HP_, HN_, SRC, SRC_STRIDE, VALUE)                                  \
    {                                                                                                \
    const int s = (S_);                                                                              \
    __global const real *h_prev = (HP_);                                                             \
    __global real *h_next = (HN_);                                                                   \
    TILED_BEGIN_SRC(MR, 4, 64, SRC, SRC_STRIDE)                                                      \
    if (any_valid_) TILED_DOT(MR, 4, acc, RTblk, hrow, K)                                            \
    for (int r = 0; r < (MR); ++r) {                                                                 \
        TILED_ROW(MR, r)                                                                             \
        for (int q = 0; q < 4; ++q) {                                                                \
            const int jq = j0 + 16 * q, lq = min(16, H - jq);                                        \
            if (lq <= 0) break;                                                                      \
            __global real *yo = y + (((size_t)t * N + n) * D + d) * H + jq;                          \
            const real16 hp = vload16(0, h_prev + sidx + 16 * q);                                    \
            real16 h;                                                                                \
            if (!(entry & STEP_VALID)) {                                                             \
                h = hp;                                                                              \
                store_lanes(yo, masked16(policy, entry, hp, fill), lq);                              \
            } else {                                                                                 \
                h = VALUE(r, q);                                                                     \
                store_lanes(yo, h, lq);                                                              \
            }                                                                                        \
            vstore16(h, 0, h_next + sidx + 16 * q);                                                  \
        }                                                                                            \
    }                                                                                                \
    TILED_END                                                                                        \
    }

#define RNN_VALUE(r, q)                                                                              \
    activate16(acts, d, 0,                                                                           \
               vload16(q, x_proj + ((xproj_row(t, n, T, N, xp_batch_major) * D + d) * Hb + jb) * 64) + \
                   vload16(q, bias + ((size_t)d * 2 * Hb + jb) * 64) + acc[r][q],                    \
               clip)
#define RNN_TILED_STEP(MR, S_, HP_, HN_) UNIT64_TILED_STEP(MR, S_, HP_, HN_, h_prev, Hs, RNN_VALUE)

/* LSTMP, second phase of a step: h = W_proj h_raw (TF1 proj_clip), both the output and the state. */
#define PROJ_VALUE(r, q) clip16(acc[r][q], proj_clip)
#define PROJ_TILED_STEP(MR, S_, HP_, HN_) UNIT64_TILED_STEP(MR, S_, HP_, HN_, h_raw, hs_in, PROJ_VALUE)
#define PROJ_TILED_PARAMS                                                                            \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                  \
    __global const int *tmap, __global const int *perm, __global const real *RTp,                   \
    __global const real *h_raw, const int hs_in, __global real *h_a, __global real *h_b,             \
    __global real *y, const int policy, const float proj_clip, const float fill

#define DEFINE_H_TILED(cell, STEP, MR)                                                               \
__kernel void cell##_step_tiled_##MR(H_TILED_PARAMS) STEP(MR, s0, h_a, h_b)                          \
__kernel void cell##_scan_tiled_##MR(H_TILED_PARAMS) {                                               \
    for (int step = s0; step < s1; ++step) {                                                         \
        STEP(MR, step, SCAN_STATES(step, h_a, h_b), SCAN_STATES(step, h_b, h_a))                     \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
    }                                                                                                \
}

/* Reset-before GRU (ONNX lbr=0, Keras reset_after=False, TF1 GRUCell): R_n multiplies r (.) h_prev,
 * which needs the whole r first, so a step is two phases over the [z, r, n] packing: the gates
 * (z to zbuf, r (.) h_prev to rh), then n and h from rh. Two launches per step, or two barriers per
 * step of the persistent scan. */
#define GRU_TILED_PARAMS                                                                             \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                  \
    __global const int *tmap,                                                                        \
    __global const int *perm, __global const real *x_proj, const int xp_batch_major,                 \
    __global const real *RTp, __global const real *bias, __global const float *acts,                 \
    __global real *h_a, __global real *h_b, __global real *zbuf, __global real *rh,                  \
    __global real *y, const int policy, const float clip, const float fill

#define GRU_GATES_TILED_STEP(MR, S_, HP_)                                                            \
    {                                                                                                \
    const int s = (S_);                                                                              \
    __global const real *h_prev = (HP_);                                                             \
    TILED_BEGIN(MR, 3, 16)                                                                           \
    if (any_valid_) TILED_DOT_S(MR, 2, 3, acc, RTblk, hrow, K)                                       \
    __global const real *b = bias + ((size_t)d * 2 * Hb + jb) * 48;                                  \
    const real16 bz = vload16(0, b), br = vload16(1, b);                                             \
    for (int r = 0; r < (MR); ++r) {                                                                 \
        TILED_ROW(MR, r)                                                                             \
        if (!(entry & STEP_VALID)) continue;                                                         \
        const size_t row = xproj_row(t, n, T, N, xp_batch_major);                                    \
        __global const real *xp = x_proj + ((row * D + d) * Hb + jb) * 48;                           \
        const real16 z = activate16(acts, d, 0, vload16(0, xp) + bz + acc[r][0], clip);              \
        const real16 rr = activate16(acts, d, 0, vload16(1, xp) + br + acc[r][1], clip);             \
        vstore16(z, 0, zbuf + sidx);                                                                 \
        vstore16(rr * vload16(0, h_prev + sidx), 0, rh + sidx);                                      \
    }                                                                                                \
    TILED_END                                                                                        \
    }

#define GRU_OUT_TILED_STEP(MR, S_, HP_, HN_)                                                         \
    {                                                                                                \
    const int s = (S_);                                                                              \
    __global const real *h_prev = (HP_);                                                             \
    __global real *h_next = (HN_);                                                                   \
    TILED_BEGIN_SRC(MR, 3, 16, rh, Hs)                                                               \
    if (any_valid_) TILED_DOT_S(MR, 1, 3, acc, RTblk + 32, hrow, K)                                  \
    const real16 bn = vload16(2, bias + ((size_t)d * 2 * Hb + jb) * 48);                             \
    for (int r = 0; r < (MR); ++r) {                                                                 \
        TILED_ROW(MR, r)                                                                             \
        __global real *yo = y + (((size_t)t * N + n) * D + d) * H + j0;                              \
        const real16 hp = vload16(0, h_prev + sidx);                                                 \
        if (!(entry & STEP_VALID)) {                                                                 \
            vstore16(hp, 0, h_next + sidx);                                                          \
            store_lanes(yo, masked16(policy, entry, hp, fill), lanes);                               \
            continue;                                                                                \
        }                                                                                            \
        const size_t row = xproj_row(t, n, T, N, xp_batch_major);                                    \
        const real16 xn = vload16(2, x_proj + ((row * D + d) * Hb + jb) * 48);                       \
        const real16 nn = activate16(acts, d, 1, xn + bn + acc[r][0], clip);                         \
        const real16 z = vload16(0, zbuf + sidx);                                                    \
        const real16 h = (1.0f - z) * nn + z * hp;                                                   \
        vstore16(h, 0, h_next + sidx);                                                               \
        store_lanes(yo, h, lanes);                                                                   \
    }                                                                                                \
    TILED_END                                                                                        \
    }

#define DEFINE_GRU_TILED(MR)                                                                         \
__kernel void gru_gates_step_tiled_##MR(GRU_TILED_PARAMS) GRU_GATES_TILED_STEP(MR, s0, h_a)          \
__kernel void gru_out_step_tiled_##MR(GRU_TILED_PARAMS) GRU_OUT_TILED_STEP(MR, s0, h_a, h_b)         \
__kernel void gru_scan_tiled_##MR(GRU_TILED_PARAMS) {                                                \
    for (int step = s0; step < s1; ++step) {                                                         \
        GRU_GATES_TILED_STEP(MR, step, SCAN_STATES(step, h_a, h_b))                                  \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
        GRU_OUT_TILED_STEP(MR, step, SCAN_STATES(step, h_a, h_b), SCAN_STATES(step, h_b, h_a))       \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
    }                                                                                                \
}

/* LSTMP: a step is the LSTM phase (lstm_step_tiled with flags & LSTM_PROJ: c, and the unprojected h to
 * h_raw, whose rows are Hc = 16 * ceil(H / 16) apart) and the projection phase (proj_step_tiled,
 * 64-unit blocks of the Hr outputs, h rows hs_in = Hs apart). The persistent scan runs both, with a
 * barrier after each; its work-group covers the larger of the two block counts. */
#define DEFINE_LSTMP_TILED(MR)                                                                       \
__kernel void proj_step_tiled_##MR(PROJ_TILED_PARAMS) PROJ_TILED_STEP(MR, s0, h_a, h_b)              \
__kernel void lstmp_scan_tiled_##MR(LSTM_TILED_PARAMS, __global const real *PTp, const int Hr,        \
                                    const float proj_clip) {                                         \
    const int Hc = 16 * ((H + 15) / 16), K_proj = H;                                                 \
    for (int step = s0; step < s1; ++step) {                                                         \
        if (get_global_id(0) < (size_t)(Hc / 16))                                                    \
            LSTM_TILED_STEP(MR, step, SCAN_STATES(step, h_a, h_b), SCAN_STATES(step, c_a, c_b),      \
                            SCAN_STATES(step, h_b, h_a), SCAN_STATES(step, c_b, c_a))                \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
        if (get_global_id(0) < (size_t)((Hr + 63) / 64)) {                                           \
            const int H = Hr, K = K_proj, hs_in = Hc;                                                \
            __global const real *RTp = PTp;                                                          \
            PROJ_TILED_STEP(MR, step, SCAN_STATES(step, h_a, h_b), SCAN_STATES(step, h_b, h_a))      \
        }                                                                                            \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                               \
    }                                                                                                \
}

DEFINE_LSTM_TILED(1)
DEFINE_LSTM_TILED(4)
DEFINE_LSTMP_TILED(1)
DEFINE_LSTMP_TILED(4)
DEFINE_H_TILED(gru_lbr, GRU_LBR_TILED_STEP, 1)
DEFINE_H_TILED(gru_lbr, GRU_LBR_TILED_STEP, 4)
DEFINE_H_TILED(rnn, RNN_TILED_STEP, 1)
DEFINE_H_TILED(rnn, RNN_TILED_STEP, 4)
DEFINE_GRU_TILED(1)
DEFINE_GRU_TILED(4)

/* Input projection for the tiled plan: x_proj[row][d][jb][g][16] = X[row] · Wᵀ for every needed
 * (t, n) row at once — the same micro-kernel as the steps, with K = the layer's input size and WTp laid out
 * like RTp ([D][Hb][I][G][16]). Work-item (jb, group, d) walks its row blocks so its slice of WTp
 * stays in cache. */
#define DEFINE_XPROJ_TILED(G)                                                                        \
__kernel void xproj_tiled_##G(const int T, const int N, const int batch_major, const int Hb, const int K, \
                              __global const real *x, const ulong x_off, __global const real *RTp,   \
                              __global real *x_proj, __global const int *perm,                       \
                              __global const int *row_needed, const int rb_per_item) {               \
    const int jb = get_global_id(0), grp = get_global_id(1), d = get_global_id(2);                   \
    const int D = get_global_size(2);                                                                \
    const int rows = T * N, n_rb = (rows + 3) / 4;                                                   \
    __global const real *RTblk = RTp + ((size_t)d * Hb + jb) * (size_t)K * (G) * 16;                 \
    x += x_off;                                                                                      \
    for (int rb = grp * rb_per_item; rb < min(n_rb, (grp + 1) * rb_per_item); ++rb) {                \
        /* block = 4 consecutive rows of the (t, rows in length order) sequence; past the end, the   \
         * last row again (computed, not stored). Small batches thus fill blocks across steps. */    \
        __global const real *hrow[4];                                                                \
        size_t xrow[4];                                                                              \
        int any = 0;                                                                                 \
        for (int r = 0; r < 4; ++r) {                                                                \
            const int i = min(rb * 4 + r, rows - 1), t = i / N, n = perm[i % N];                     \
            xrow[r] = batch_major ? (size_t)n * T + t : (size_t)t * N + n;                           \
            hrow[r] = x + xrow[r] * K;                                                               \
            any |= row_needed[(size_t)t * N + n];                                                    \
        }                                                                                            \
        if (!any) continue;                                                                          \
        real16 acc[4][4];                                                                            \
        TILED_DOT(4, G, acc, RTblk, hrow, K)                                                         \
        for (int r = 0; r < 4 && rb * 4 + r < rows; ++r) {                                           \
            __global real16 *o = (__global real16 *)(x_proj + ((xrow[r] * D + d) * Hb + jb) * (G) * 16);   \
            for (int g = 0; g < (G); ++g) o[g] = acc[r][g];                                          \
        }                                                                                            \
    }                                                                                                \
}

DEFINE_XPROJ_TILED(3)
DEFINE_XPROJ_TILED(4)
