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
 *  [D][Hbp][H][4][16] for Hbp = ceil(Hr / 64) blocks of outputs; see unit64_tiled_step)
 *   states [D][N][Hs]          Hs = Hp: whole 16-lane vectors, lanes >= H never read as input
 *                              (LSTMP: h rows 64 * Hbp apart, c and the unprojected h Hp apart)
 * K is the true state size (lanes past it are never read), so padded lanes need not be zero.
 *
 * Variable length costs what it computes: rows are visited through `perm` (rows sorted by length,
 * longest first, when lengths are given), so the row blocks of finished rows hold only finished rows
 * and skip their dot product; the input projection likewise skips blocks of padded (t, n) rows.
 *
 * Everything is an inline function taking MR (rows per work-item: 1, 6 or 8) and the gate counts as
 * arguments; each __kernel passes literals, so after inlining they are compile-time constants and
 * the loops over rows and gates unroll as if written out. The only macros left name the kernels per
 * MR (DEFINE_*: compile-time specialisation, one line per kernel) and their parameter lists.
 *
 * Storage (storage.h): weights, x_proj, states and outputs are `store`, read with LOAD/LOAD16 and
 * written with STORE/STORE16 (fp32, or fp16/bf16 widened on load and rounded on store); the biases
 * and every accumulator and gate are real. */

static inline real16 clip16(real16 x, float clip) {
    return clip > 0.0f ? CLAMP_NAN(x, (real16)-clip, (real16)clip) : x;
}

#if CLRNN_COMPACT
/* The build for a software rasterizer (program.c): activate() lane by lane, in a loop its
 * compiler keeps (the 16-lane switch of every activation costs it about 10 times as long). */
static inline real16 activate16(__global const float *acts, int dir, int slot, real16 x, float clip) {
    real lane[16];
    vstore16(x, 0, lane);
    for (int i = 0; i < 16; ++i) lane[i] = activate(acts, dir, slot, lane[i], clip);
    return vload16(0, lane);
}
#else
/* activate() of common.cl on 16 lanes: the same ACTIVATION_BODY. */
static inline real16 activate16(__global const float *acts, int dir, int slot, real16 x, float clip) {
    x = clip16(x, clip);
    __global const float *a = acts + (dir * ACT_SLOTS + slot) * ACT_PARAMS;
    const int kind = (int)a[0];
    const float alpha = a[1], beta = a[2];
    ACTIVATION_BODY(real16, x, kind, alpha, beta)
}
#endif

/* Output at a step that is not computed, by policy: the 16-lane masked_output() of common.cl. */
static inline real16 masked16(int policy, int entry, real16 h_prev, float fill) {
    if (policy == MASKED_CARRY) return (entry & STEP_STARTED) ? h_prev : (real16)0.0f;
    return policy == MASKED_FILL ? (real16)fill : (real16)0.0f;
}

/* Stores the first `lanes` (1..16) lanes of v at p. */
static inline void store_lanes(__global store *p, real16 v, int lanes) {
    if (lanes == 16) {
        STORE16(p, 0, v);
        return;
    }
    real tmp[16];
    vstore16(v, 0, tmp);
    for (int i = 0; i < lanes; ++i) STORE(p, i, tmp[i]);
}

/* Training (`train` = 1, the kernels of cl/tiled/train_tiled.cl): the reserve row of (t, n), S
 * floats ([T*N, S], cl/train/train.cl's layout, what the portable backward reads), written with
 * common.cl's st16. */
#define RES_ROW(w) (res + ((size_t)(w).t * N + (w).n) * S)

/* tiled_dot (the micro-kernel h_prev · Rᵀ): tiled/tiled_dot.h, embedded before this file. */

/* Where a work-item (jb, group, d) of a step kernel stands: block jb of UB units (16, or 64 for
 * the unit64 steps) in direction d, the first unit j0 and how many of its 16 lanes are < H, the
 * state row stride Hs, and the batch's row blocks of MR rows. */
typedef struct tile_pos {
    int jb, d, D;  /* block, direction, directions */
    int Hb, Hs;    /* blocks, state row stride */
    int j0, lanes; /* first unit of the block, lanes of it < H */
    int n_rb;      /* row blocks */
} tile_pos;

static inline tile_pos tile_position(const int MR, const int UB, int N, int H) {
    tile_pos p;
    p.jb = get_global_id(0);
    p.d = get_global_id(2);
    p.D = get_global_size(2);
    p.Hb = (H + UB - 1) / UB;
    p.Hs = p.Hb * UB;
    p.j0 = p.jb * UB;
    p.lanes = min(16, H - p.j0);
    p.n_rb = (N + MR - 1) / MR;
    return p;
}

/* The block's weights: RTp[d][jb] of K rows of G 16-wide slices. */
static inline __global const store *tile_weights(tile_pos p, __global const store *RTp, int K, int G) {
    return RTp + ((size_t)p.d * p.Hb + p.jb) * (size_t)K * G * 16;
}

/* The block's bias of width `slots` slices (x-side at [0], recurrent at Hb blocks on). */
static inline __global const real *tile_bias(tile_pos p, __global const real *bias, int slots) {
    return bias + ((size_t)p.d * 2 * p.Hb + p.jb) * slots * 16;
}

/* Row block rb: hrow[r] = the src row (src_stride apart) of its r-th batch row, for r < MR; rows
 * past N alias row N-1 (computed, never stored) so the dot product has no branches. Returns 1 + the
 * last r computed at step s (0: none is). The loop over row blocks (rb = group, group + groups,
 * ...) keeps the work-item's block of Rᵀ (K*G*64 bytes) in cache across the batch instead of
 * streaming it once per row block; striding (rather than contiguous runs) spreads long and short
 * rows evenly over the groups when rows are in length order. */
TILED_INLINE int row_block(const int MR, tile_pos p, int rb, int s, int T, int N, __global const int *tmap,
                           __global const int *perm, __global const store *src, int src_stride,
                           __global const store *hrow[8]) {
    int upto = 0;
    for (int r = 0; r < MR; ++r) {
        const int n = perm[min(rb * MR + r, N - 1)];
        hrow[r] = src + ((size_t)p.d * N + n) * src_stride;
        if (tmap[(p.d * T + s) * N + n] & STEP_VALID) upto = r + 1;
    }
    return upto;
}

/* acc[r][g] of row block rb at step s: its rows' src rows times the block's weights (tiled_dot),
 * for the rows up to the last one computed at step s (the cells read acc[r] of computed rows only);
 * left unset when none of its rows is computed (a finished block of rows costs no dot product).
 * A block with at most 2 or 4 such rows runs the micro-kernel on 2 or 4 rows instead of MR: the
 * batch's last block when N is not a multiple of MR (N = 32 at MR = 6 computed 36 rows, N = 64
 * 66; now 32 and 64), and with lengths the block where the rows still running end (rows in length
 * order, longest first). The rows it keeps get the same sums. */
TILED_INLINE void block_dot(const int MR, const int G, const int SLOTS, tile_pos p, int rb, int s, int T, int N,
                            __global const int *tmap, __global const int *perm, __global const store *src,
                            int src_stride, __global const store *RTblk, const int K, real16 acc[8][4]) {
    __global const store *hrow[8];
    const int upto = row_block(MR, p, rb, s, T, N, tmap, perm, src, src_stride, hrow);
    if (!upto) return;
    const int left = min(N - rb * MR, upto);
    if (MR > 4 && left <= 2)
        tiled_dot(2, G, SLOTS, acc, RTblk, hrow, K);
    else if (MR > 4 && left <= 4)
        tiled_dot(4, G, SLOTS, acc, RTblk, hrow, K);
    else
        tiled_dot(MR, G, SLOTS, acc, RTblk, hrow, K);
}

/* Row r of a row block (rb * MR + r < N): the batch row n, its step-table entry and time index t,
 * the index of the block's 16 lanes in the state buffers. */
typedef struct tile_row {
    int n, entry, t;
    size_t sidx;
} tile_row;

static inline tile_row row_at(const int MR, tile_pos p, int rb, int r, int s, int T, int N, __global const int *tmap,
                              __global const int *perm) {
    tile_row w;
    w.n = perm[rb * MR + r];
    w.entry = tmap[(p.d * T + s) * N + w.n];
    w.t = w.entry & STEP_T_MASK;
    w.sidx = ((size_t)p.d * N + w.n) * p.Hs + p.j0;
    return w;
}

/* A step the table marks as not computed: the state hp (the row's h_prev lanes) is carried to
 * h_next and the output yo follows the masked-output policy. Returns 1 for such a step (the row is
 * done), 0 for a computed one: the 16-lane masked_step() of common.cl. */
static inline int carried_step(tile_row w, real16 hp, __global store *h_next, __global store *yo, int lanes, int policy,
                               float fill) {
    if (w.entry & STEP_VALID) return 0;
    STORE16(h_next + w.sidx, 0, hp);
    store_lanes(yo, masked16(policy, w.entry, hp, fill), lanes);
    return 1;
}

/* The row's output at unit j ([T, N, D, H]) and its block of `slots` slices in x_proj. */
static inline __global store *output_at(tile_pos p, tile_row w, __global store *y, int N, int H, int j) {
    return y + (((size_t)w.t * N + w.n) * p.D + p.d) * H + j;
}
static inline __global const store *xproj_at(tile_pos p, tile_row w, __global const store *x_proj, int T, int N,
                                             int batch_major, int slots) {
    return x_proj + ((xproj_row(w.t, w.n, T, N, batch_major) * p.D + p.d) * p.Hb + p.jb) * slots * 16;
}

/* Software prefetch, issued for a row block before its dot product (a few thousand cycles of FMAs)
 * so that what its rows' gate math reads and writes has arrived by then. A work-item touches 64 to
 * 256 bytes of each row, rows 2 to 8 KB apart (x_proj, the states, y): a new page each time, which
 * the hardware prefetchers do not follow. On S1 the steps without their dot product and activations
 * took 88 us, ~50 us of it waiting on those lines (147 -> 102 us a step with this, the dot
 * product left out). CPU devices only (program.c: CLRNN_PREFETCH), as clang's builtin; a no-op
 * elsewhere. */
#if CLRNN_PREFETCH
#define PREFETCH(ptr, write) __builtin_prefetch((ptr), (write), 2)
#else
#define PREFETCH(ptr, write) ((void)(ptr))
#endif
/* The row block's rows: `xp_n` slices of x_proj from slice xp_0 (of `slots`), the UB / 16 slices of
 * the state rows rd0, rd1 (read) and wr0, wr1 (written) at the row's state index, and of its output
 * y; a NULL buffer is skipped. Only rows computed at step s. */
static inline void prefetch_rows(const int MR, const int UB, tile_pos p, int rb, int s, int T, int N,
                                 __global const int *tmap, __global const int *perm, __global const store *x_proj,
                                 int batch_major, int slots, int xp_0, int xp_n, __global const store *rd0,
                                 __global const store *rd1, __global store *wr0, __global store *wr1,
                                 __global store *y, int H) {
#if CLRNN_PREFETCH
    for (int r = 0; r < MR; ++r) {
        if (rb * MR + r >= N) break;
        const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
        if (!(w.entry & STEP_VALID)) continue;
        __global const store *xp = x_proj ? xproj_at(p, w, x_proj, T, N, batch_major, slots) : 0;
        for (int q = xp_0; xp && q < xp_0 + xp_n; ++q) PREFETCH(xp + 16 * q, 0);
        for (int q = 0; q < UB / 16; ++q) {
            if (rd0) PREFETCH(rd0 + w.sidx + 16 * q, 0);
            if (rd1) PREFETCH(rd1 + w.sidx + 16 * q, 0);
            if (wr0) PREFETCH(wr0 + w.sidx + 16 * q, 1);
            if (wr1) PREFETCH(wr1 + w.sidx + 16 * q, 1);
            if (y && p.j0 + 16 * q < H) PREFETCH(output_at(p, w, y, N, H, p.j0 + 16 * q), 1);
        }
    }
#endif
}

/* Each cell's step is written once, as a function of (s, h_prev, h_next[, c_prev, c_next]), and
 * called by two kernels:
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

/* LSTM (peepholes, CIFG, cell clip by flags); with LSTM_PROJ it leaves h to the projection. */
static inline void lstm_tiled_step(const int MR, const int s, const int T, const int N, const int H, const int K,
                                   __global const int *tmap, __global const int *perm, __global const store *x_proj,
                                   const int xp_batch_major, __global const store *RTp, __global const real *bias,
                                   __global const store *peep, __global const float *acts, __global const store *h_prev,
                                   __global const store *c_prev, __global store *h_next, __global store *c_next,
                                   __global store *y, const int flags, const int policy, const float clip,
                                   const float cell_clip, const float fill, __global store *h_raw, const int hs_in,
                                   const int train, __global real *res, const int S) {
    const tile_pos p = tile_position(MR, 16, N, H);
    const int d = p.d, Hs = p.Hs;
    __global const store *RTblk = tile_weights(p, RTp, K, 4);
    for (int rb = get_global_id(1); rb < p.n_rb; rb += (int)get_global_size(1)) {
        real16 acc[8][4];
        prefetch_rows(MR, 16, p, rb, s, T, N, tmap, perm, x_proj, xp_batch_major, 4, 0, 4, c_prev, 0, c_next,
                      (flags & LSTM_PROJ) ? h_raw : h_next, (flags & LSTM_PROJ) ? 0 : y, H);
        block_dot(MR, 4, 4, p, rb, s, T, N, tmap, perm, h_prev, hs_in, RTblk, K, acc);
        __global const real *b = tile_bias(p, bias, 4);
        const real16 bi = vload16(0, b), bf = vload16(1, b), bg = vload16(2, b), bo = vload16(3, b);
        __global const store *P = peep + (size_t)d * 3 * Hs + p.j0;
        const real16 Pi = LOAD16(P, 0), Pf = LOAD16(P + Hs, 0), Po = LOAD16(P + 2 * Hs, 0);
        for (int r = 0; r < MR; ++r) {
            if (rb * MR + r >= N) break;
            const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
            __global store *yo = output_at(p, w, y, N, H, p.j0);
            const real16 cp = LOAD16(c_prev + w.sidx, 0);
            __global real *rs = train ? RES_ROW(w) : 0; /* reserve: h_prev, gates at K, c_prev, c unclipped */
            if (train) st16(rs + p.j0, LOAD16(h_prev + w.sidx, 0), p.lanes), st16(rs + K + 4 * H + p.j0, cp, p.lanes);
            if (!(w.entry & STEP_VALID)) {
                for (int g = 0; train && g < 4; ++g) st16(rs + K + g * H + p.j0, (real16)0.0f, p.lanes);
                if (train) st16(rs + K + 5 * H + p.j0, cp, p.lanes);
                STORE16(c_next + w.sidx, 0, cp);
                if (!(flags & LSTM_PROJ)) /* else h and y are the projection phase's */
                    carried_step(w, LOAD16(h_prev + w.sidx, 0), h_next, yo, p.lanes, policy, fill);
                continue;
            }
            __global const store *xp = xproj_at(p, w, x_proj, T, N, xp_batch_major, 4);
            real16 pi = LOAD16(xp, 0) + bi + acc[r][0];
            real16 pf = LOAD16(xp, 1) + bf + acc[r][1];
            const real16 pg = LOAD16(xp, 2) + bg + acc[r][2];
            real16 po = LOAD16(xp, 3) + bo + acc[r][3];
            real16 c_raw, c, h;
            LSTM_CELL_BODY(real16, activate16, clip16, pi, pf, pg, po, c_raw, c, h); /* common.cl */
            if (train) {
                st16(rs + K + p.j0, pi, p.lanes), st16(rs + K + H + p.j0, (flags & LSTM_CIFG) ? (real16)0.0f : pf, p.lanes);
                st16(rs + K + 2 * H + p.j0, pg, p.lanes), st16(rs + K + 5 * H + p.j0, c_raw, p.lanes);
                st16(rs + K + 3 * H + p.j0, po, p.lanes);
            }
            STORE16(c_next + w.sidx, 0, c);
            if (flags & LSTM_PROJ) { /* LSTMP: the unprojected h, projected in the next phase */
                STORE16(h_raw + w.sidx, 0, h);
                continue;
            }
            STORE16(h_next + w.sidx, 0, h);
            store_lanes(yo, h, p.lanes);
        }
    }
}

/* Linear-before-reset GRU: n = act(x_n + b_n + r (.) (R_n h_prev + Rb_n)), one phase. */
static inline void gru_lbr_tiled_step(const int MR, const int s, const int T, const int N, const int H, const int K,
                                      __global const int *tmap, __global const int *perm, __global const store *x_proj,
                                      const int xp_batch_major, __global const store *RTp, __global const real *bias,
                                      __global const float *acts, __global const store *h_prev, __global store *h_next,
                                      __global store *y, const int policy, const float clip, const float fill,
                                      const int train, __global real *res, const int S) {
    const tile_pos p = tile_position(MR, 16, N, H);
    const int d = p.d;
    __global const store *RTblk = tile_weights(p, RTp, K, 3);
    for (int rb = get_global_id(1); rb < p.n_rb; rb += (int)get_global_size(1)) {
        real16 acc[8][4];
        prefetch_rows(MR, 16, p, rb, s, T, N, tmap, perm, x_proj, xp_batch_major, 3, 0, 3, h_prev, 0, h_next, 0, y, H);
        block_dot(MR, 3, 3, p, rb, s, T, N, tmap, perm, h_prev, p.Hs, RTblk, K, acc);
        __global const real *b = tile_bias(p, bias, 3);
        const real16 bz = vload16(0, b), br = vload16(1, b), bn = vload16(2, b);
        const real16 rbn = vload16(2, b + (size_t)p.Hb * 48);
        for (int r = 0; r < MR; ++r) {
            if (rb * MR + r >= N) break;
            const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
            __global store *yo = output_at(p, w, y, N, H, p.j0);
            const real16 hp = LOAD16(h_prev + w.sidx, 0);
            __global real *rs = train ? RES_ROW(w) : 0; /* reserve: h_prev, then a_z, a_r, x_n, h_n at K */
            if (train) st16(rs + p.j0, hp, p.lanes);
            for (int g = 0; train && !(w.entry & STEP_VALID) && g < 4; ++g) st16(rs + K + g * H + p.j0, (real16)0.0f, p.lanes);
            if (carried_step(w, hp, h_next, yo, p.lanes, policy, fill)) continue;
            __global const store *xp = xproj_at(p, w, x_proj, T, N, xp_batch_major, 3);
            const real16 az = LOAD16(xp, 0) + bz + acc[r][0], ar = LOAD16(xp, 1) + br + acc[r][1];
            const real16 xn = LOAD16(xp, 2) + bn, hn = acc[r][2] + rbn;
            if (train) {
                st16(rs + K + p.j0, az, p.lanes), st16(rs + K + H + p.j0, ar, p.lanes);
                st16(rs + K + 2 * H + p.j0, xn, p.lanes), st16(rs + K + 3 * H + p.j0, hn, p.lanes);
            }
            const real16 z = activate16(acts, d, 0, az, clip);
            const real16 rr = activate16(acts, d, 0, ar, clip);
            const real16 nn = activate16(acts, d, 1, xn + rr * hn, clip);
            const real16 h = (1.0f - z) * nn + z * hp;
            STORE16(h_next + w.sidx, 0, h);
            store_lanes(yo, h, p.lanes);
        }
    }
}

/* One output of 64 units per block as 4 slots of 16 (UB = 64), which keeps the micro-kernel's 4 loads :
 * 16 FMAs ratio for a single "gate": the vanilla RNN (from h_prev; proj = 0) and the LSTM
 * projection (proj = 1: from the unprojected h_raw, K = hidden size, here H = the projection size,
 * h = clip(W_proj h_raw) with clip = TF1's proj_clip). Steps that are not computed carry h_prev and write
 * the masked output. */
static inline void unit64_tiled_step(const int MR, const int proj, const int s, const int T, const int N, const int H,
                                     const int K, __global const int *tmap, __global const int *perm,
                                     __global const store *x_proj, const int xp_batch_major, __global const store *RTp,
                                     __global const real *bias, __global const float *acts, __global const store *h_raw,
                                     const int hs_in, __global const store *h_prev, __global store *h_next,
                                     __global store *y, const int policy, const float clip, const float fill,
                                     const int train, __global real *res, const int S) {
    const tile_pos p = tile_position(MR, 64, N, H);
    const int d = p.d;
    __global const store *src = proj ? h_raw : h_prev; /* rows hs_in apart in h_raw, Hs in h_prev */
    const int src_stride = proj ? hs_in : p.Hs;
    __global const store *RTblk = tile_weights(p, RTp, K, 4);
    /* The last block's slots past H hold only padding (zero weights, never stored): with H = 150 its
     * 22 units fill 2 of the 4, so it runs the micro-kernel on those 2 alone, 1/6 of the layer's
     * FMAs (the same sums for the slots it keeps; acc[r][q] of the others is never read). */
    const int live2 = H - p.j0 <= 32;
    for (int rb = get_global_id(1); rb < p.n_rb; rb += (int)get_global_size(1)) {
        real16 acc[8][4];
        prefetch_rows(MR, 64, p, rb, s, T, N, tmap, perm, proj ? 0 : x_proj, xp_batch_major, 4, 0, live2 ? 2 : 4,
                      h_prev, 0, h_next, 0, y, H);
        if (live2)
            block_dot(MR, 2, 4, p, rb, s, T, N, tmap, perm, src, src_stride, RTblk, K, acc);
        else
            block_dot(MR, 4, 4, p, rb, s, T, N, tmap, perm, src, src_stride, RTblk, K, acc);
        for (int r = 0; r < MR; ++r) {
            if (rb * MR + r >= N) break;
            const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
            for (int q = 0; q < 4; ++q) {
                const int jq = p.j0 + 16 * q, lq = min(16, H - jq);
                if (lq <= 0) break;
                __global store *yo = output_at(p, w, y, N, H, jq);
                const real16 hp = LOAD16(h_prev + w.sidx + 16 * q, 0);
                __global real *rs = train ? RES_ROW(w) : 0; /* reserve (RNN): h_prev, the pre-activation at K */
                if (train) st16(rs + jq, hp, lq);
                real16 h;
                if (!(w.entry & STEP_VALID)) {
                    h = hp;
                    if (train) st16(rs + K + jq, (real16)0.0f, lq);
                    store_lanes(yo, masked16(policy, w.entry, hp, fill), lq);
                } else if (proj) {
                    h = clip16(acc[r][q], clip);
                    store_lanes(yo, h, lq);
                } else {
                    const real16 a = LOAD16(xproj_at(p, w, x_proj, T, N, xp_batch_major, 4), q) +
                                     vload16(q, tile_bias(p, bias, 4)) + acc[r][q];
                    if (train) st16(rs + K + jq, a, lq);
                    h = activate16(acts, d, 0, a, clip);
                    store_lanes(yo, h, lq);
                }
                STORE16(h_next + w.sidx + 16 * q, 0, h);
            }
        }
    }
}

/* Reset-before GRU (ONNX lbr=0, Keras reset_after=False, TF1 GRUCell): R_n multiplies r (.) h_prev,
 * which needs the whole r first, so a step is two phases: the gates (z to zbuf, r (.) h_prev to
 * rh), then n and h from rh. Two launches per step, or two barriers per step of the persistent
 * scan. Its RTp block (d, jb) of K x 48 is split by phase (GRU_RT_N below; plan_tiled.c's
 * pack_blocks, train_tiled.cl's tiled_train_pack): [K][z, r][16], then [K][n][16], so each phase
 * streams only its own weights. Interleaved as [K][z, r, n][16] (the input weights' layout), each
 * phase read 2 or 1 of every 3 cache lines and the prefetchers brought in the others: the block
 * came from L3 twice a step. */
#define GRU_RT_N(K) ((size_t)(K) * 32) /* offset of the n panel in a block */
static inline void gru_gates_tiled_step(const int MR, const int s, const int T, const int N, const int H, const int K,
                                        __global const int *tmap, __global const int *perm,
                                        __global const store *x_proj, const int xp_batch_major,
                                        __global const store *RTp, __global const real *bias,
                                        __global const float *acts, __global const store *h_prev, __global store *zbuf,
                                        __global store *rh, const float clip, const int train, __global real *res,
                                        const int S) {
    const tile_pos p = tile_position(MR, 16, N, H);
    const int d = p.d;
    __global const store *RTblk = tile_weights(p, RTp, K, 3);
    for (int rb = get_global_id(1); rb < p.n_rb; rb += (int)get_global_size(1)) {
        real16 acc[8][4];
        prefetch_rows(MR, 16, p, rb, s, T, N, tmap, perm, x_proj, xp_batch_major, 3, 0, 2, h_prev, 0, zbuf, rh, 0, H);
        block_dot(MR, 2, 2, p, rb, s, T, N, tmap, perm, h_prev, p.Hs, RTblk, K, acc); /* the [z, r] panel */
        __global const real *b = tile_bias(p, bias, 3);
        const real16 bz = vload16(0, b), br = vload16(1, b);
        for (int r = 0; r < MR; ++r) {
            if (rb * MR + r >= N) break;
            const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
            __global real *rs = train ? RES_ROW(w) : 0; /* reserve: h_prev, then a_z, a_r, (a_n), r * h_prev at K */
            if (train) st16(rs + p.j0, LOAD16(h_prev + w.sidx, 0), p.lanes);
            for (int g = 0; train && !(w.entry & STEP_VALID) && g < 4; ++g) st16(rs + K + g * H + p.j0, (real16)0.0f, p.lanes);
            if (!(w.entry & STEP_VALID)) continue;
            __global const store *xp = xproj_at(p, w, x_proj, T, N, xp_batch_major, 3);
            const real16 az = LOAD16(xp, 0) + bz + acc[r][0], ar = LOAD16(xp, 1) + br + acc[r][1];
            const real16 z = activate16(acts, d, 0, az, clip);
            const real16 rr = activate16(acts, d, 0, ar, clip);
            STORE16(zbuf + w.sidx, 0, z);
            STORE16(rh + w.sidx, 0, rr * LOAD16(h_prev + w.sidx, 0));
            if (train) {
                st16(rs + K + p.j0, az, p.lanes), st16(rs + K + H + p.j0, ar, p.lanes);
                st16(rs + K + 3 * H + p.j0, rr * LOAD16(h_prev + w.sidx, 0), p.lanes);
            }
        }
    }
}

/* The out phase's dot product for two blocks at once: acc[r][b] = sum_k hrow[r][k] * W[k * 16 + b *
 * goff] for b < NB (1 or 2; goff = the next block's offset, 48 K), one n slice of 16 lanes per block
 * (the blocks' n panels, GRU_RT_N).
 * With one block a k costs 1 load of weights and MR broadcasts for MR FMAs on MR accumulators, too
 * few to hide the FMA latency and load-bound; two blocks double the FMAs per broadcast (the gates
 * phase's 2 slices x 8 rows). Each sum is the same fma chain as tiled_dot's: bitwise equal. */
#define PAIR_DOT_ROW(r, ar0, ar1)                                                                  \
    if (MR > r) {                                                                                  \
        const real16 h = (real16)LOAD(hrow[r], k);                                                 \
        ar0 = fma(h, w0, ar0);                                                                     \
        if (NB > 1) ar1 = fma(h, w1, ar1);                                                         \
    }
#define PAIR_DOT_OUT(r, ar0, ar1)                                                                  \
    if (MR > r) acc[r][0] = ar0, acc[r][1] = ar1;
#if CLRNN_COMPACT
/* The software rasterizer's build (as tiled_dot's, tiled/tiled_dot.h): the same sums over acc. */
TILED_INLINE void pair_dot(const int MR, const int NB, real16 acc[8][4], __global const store *RTn, const size_t goff,
                           __global const store *hrow[8], const int K) {
    for (int r = 0; r < MR; ++r)
        for (int b = 0; b < NB; ++b) acc[r][b] = 0.0f;
    __global const store *W = RTn;
    for (int k = 0; k < K; ++k, W += 16)
        for (int r = 0; r < MR; ++r) {
            const real16 h = (real16)LOAD(hrow[r], k);
            for (int b = 0; b < NB; ++b) acc[r][b] = fma(h, LOAD16(W + b * goff, 0), acc[r][b]);
        }
}
#elif TILED_NARROW /* tiled/tiled_dot.h: one 16-lane slice a pass, blocks goff apart */
TILED_INLINE void pair_dot(const int MR, const int NB, real16 acc[8][4], __global const store *RTn, const size_t goff,
                           __global const store *hrow[8], const int K) {
    slices_dot(MR, NB, acc, RTn, goff, 16, hrow, K, 0, NULL, 0, 0);
}
#else
TILED_INLINE void pair_dot(const int MR, const int NB, real16 acc[8][4], __global const store *RTn, const size_t goff,
                           __global const store *hrow[8], const int K) {
    real16 a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f, a20 = 0.0f, a21 = 0.0f, a30 = 0.0f, a31 = 0.0f;
    real16 a40 = 0.0f, a41 = 0.0f, a50 = 0.0f, a51 = 0.0f, a60 = 0.0f, a61 = 0.0f, a70 = 0.0f, a71 = 0.0f;
    __global const store *W = RTn;
    for (int k = 0; k < K; ++k, W += 16) {
        const real16 w0 = LOAD16(W, 0);
        const real16 w1 = NB > 1 ? LOAD16(W + goff, 0) : w0;
        PAIR_DOT_ROW(0, a00, a01)
        PAIR_DOT_ROW(1, a10, a11)
        PAIR_DOT_ROW(2, a20, a21)
        PAIR_DOT_ROW(3, a30, a31)
        PAIR_DOT_ROW(4, a40, a41)
        PAIR_DOT_ROW(5, a50, a51)
        PAIR_DOT_ROW(6, a60, a61)
        PAIR_DOT_ROW(7, a70, a71)
    }
    PAIR_DOT_OUT(0, a00, a01)
    PAIR_DOT_OUT(1, a10, a11)
    PAIR_DOT_OUT(2, a20, a21)
    PAIR_DOT_OUT(3, a30, a31)
    PAIR_DOT_OUT(4, a40, a41)
    PAIR_DOT_OUT(5, a50, a51)
    PAIR_DOT_OUT(6, a60, a61)
    PAIR_DOT_OUT(7, a70, a71)
}
#endif
#undef PAIR_DOT_ROW
#undef PAIR_DOT_OUT

/* The out phase: n and h of block jb from rh (r (.) h_prev); with `pairs`, work-item i takes blocks
 * 2i and 2i + 1 (pair_dot; items past the blocks return), else block i alone. */
static inline void gru_out_tiled_blocks(const int MR, const int pairs, const int s, const int T, const int N,
                                        const int H, const int K, __global const int *tmap, __global const int *perm,
                                        __global const store *x_proj, const int xp_batch_major,
                                        __global const store *RTp, __global const real *bias,
                                        __global const float *acts, __global const store *h_prev,
                                        __global store *h_next, __global const store *zbuf, __global const store *rh,
                                        __global store *y, const int policy, const float clip, const float fill,
                                        const int train, __global real *res, const int S) {
    tile_pos p = tile_position(MR, 16, N, H);
    const int d = p.d, jb0 = pairs ? 2 * p.jb : p.jb, nb = pairs && jb0 + 1 < p.Hb ? 2 : 1;
    if (jb0 >= p.Hb) return;
    p.jb = jb0;
    __global const store *RTblk = tile_weights(p, RTp, K, 3) + GRU_RT_N(K); /* the n panel */
    for (int rb = get_global_id(1); rb < p.n_rb; rb += (int)get_global_size(1)) {
        real16 acc[8][4];
        __global const store *hrow[8];
        for (int b = 0; b < nb; ++b) {
            tile_pos pb = p;
            pb.jb = jb0 + b, pb.j0 = 16 * pb.jb;
            prefetch_rows(MR, 16, pb, rb, s, T, N, tmap, perm, x_proj, xp_batch_major, 3, 2, 1, h_prev, zbuf, h_next, 0,
                          y, H);
        }
        if (row_block(MR, p, rb, s, T, N, tmap, perm, rh, p.Hs, hrow)) {
            if (nb == 2)
                pair_dot(MR, 2, acc, RTblk, (size_t)K * 48, hrow, K);
            else
                pair_dot(MR, 1, acc, RTblk, 0, hrow, K);
        }
        for (int b = 0; b < nb; ++b) {
            p.jb = jb0 + b, p.j0 = 16 * p.jb, p.lanes = min(16, H - p.j0);
            const real16 bn = vload16(2, tile_bias(p, bias, 3));
            for (int r = 0; r < MR; ++r) {
                if (rb * MR + r >= N) break;
                const tile_row w = row_at(MR, p, rb, r, s, T, N, tmap, perm);
                __global store *yo = output_at(p, w, y, N, H, p.j0);
                const real16 hp = LOAD16(h_prev + w.sidx, 0);
                if (carried_step(w, hp, h_next, yo, p.lanes, policy, fill)) continue;
                const real16 xn = LOAD16(xproj_at(p, w, x_proj, T, N, xp_batch_major, 3), 2);
                const real16 an = xn + bn + acc[r][b];
                if (train) st16(RES_ROW(w) + K + 2 * H + p.j0, an, p.lanes); /* the reserve's a_n */
                const real16 nn = activate16(acts, d, 1, an, clip);
                const real16 z = LOAD16(zbuf + w.sidx, 0);
                const real16 h = (1.0f - z) * nn + z * hp;
                STORE16(h_next + w.sidx, 0, h);
                store_lanes(yo, h, p.lanes);
            }
        }
    }
}

/* The kernels. Their parameter lists are macros because each is shared by the MR variants and, for
 * the one-state cells, by the GRU (lbr) and the RNN; DEFINE_* instantiates one cell's kernels for
 * one MR (compile-time specialisation: the kernel names carry MR). */
/* What every step kernel but the projection's opens with, in this order (plan_tiled.c binds them). */
#define TILED_STEP_PARAMS                                                                          \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                \
        __global const int *tmap, __global const int *perm, __global const store *x_proj,           \
        const int xp_batch_major, __global const store *RTp, __global const real *bias
#define LSTM_TILED_PARAMS                                                                          \
    TILED_STEP_PARAMS, __global const store *peep, __global const float *acts, __global store *h_a, __global store *c_a, \
        __global store *h_b, __global store *c_b, __global store *y, const int flags, const int policy, \
        const float clip, const float cell_clip, const float fill, __global store *h_raw, const int hs_in
#define LSTM_STEP(MR, s, h_prev, c_prev, h_next, c_next)                                          \
    lstm_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, peep, acts, h_prev, c_prev, \
                    h_next, c_next, y, flags, policy, clip, cell_clip, fill, h_raw, hs_in, 0, 0, 0)
#define DEFINE_LSTM_TILED(MR)                                                                      \
    __kernel void lstm_step_tiled_##MR(LSTM_TILED_PARAMS) { LSTM_STEP(MR, s0, h_a, c_a, h_b, c_b); } \
    __kernel void lstm_scan_tiled_##MR(LSTM_TILED_PARAMS) {                                        \
        for (int s = s0; s < s1; ++s) {                                                            \
            LSTM_STEP(MR, s, SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, c_a, c_b), SCAN_STATES(s, h_b, h_a), \
                      SCAN_STATES(s, c_b, c_a));                                                   \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
        }                                                                                          \
    }

/* LSTMP: a step is the LSTM phase (lstm_tiled_step with flags & LSTM_PROJ: c, and the unprojected h to
 * h_raw, whose rows are Hc = 16 * ceil(H / 16) apart) and the projection phase (proj_step_tiled,
 * 64-unit blocks of the Hr outputs, h rows hs_in = Hs apart). The persistent scan runs both, with a
 * barrier after each; its work-group covers the larger of the two block counts. */
#define PROJ_TILED_PARAMS                                                                          \
    const int s0, const int s1, const int T, const int N, const int H, const int K,                \
        __global const int *tmap, __global const int *perm, __global const store *RTp,             \
        __global const store *h_raw, const int hs_in, __global store *h_a, __global store *h_b,       \
        __global store *y, const int policy, const float proj_clip, const float fill
#define PROJ_STEP(MR, s, H, K, PTp, hs_in, h_prev, h_next)                                         \
    unit64_tiled_step(MR, 1, s, T, N, H, K, tmap, perm, 0, 0, PTp, 0, 0, h_raw, hs_in, h_prev, h_next, y, policy, \
                      proj_clip, fill, 0, 0, 0)
#define DEFINE_LSTMP_TILED(MR)                                                                     \
    __kernel void proj_step_tiled_##MR(PROJ_TILED_PARAMS) { PROJ_STEP(MR, s0, H, K, RTp, hs_in, h_a, h_b); } \
    __kernel void lstmp_scan_tiled_##MR(LSTM_TILED_PARAMS, __global const store *PTp, const int Hr,  \
                                        const float proj_clip) {                                   \
        const int Hc = 16 * ((H + 15) / 16);                                                       \
        for (int s = s0; s < s1; ++s) {                                                            \
            if (get_global_id(0) < (size_t)(Hc / 16))                                              \
                LSTM_STEP(MR, s, SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, c_a, c_b), SCAN_STATES(s, h_b, h_a), \
                          SCAN_STATES(s, c_b, c_a));                                               \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
            if (get_global_id(0) < (size_t)((Hr + 63) / 64))                                       \
                PROJ_STEP(MR, s, Hr, H, PTp, Hc, SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a)); \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
        }                                                                                          \
    }

/* Shared by the linear-before-reset GRU and the vanilla RNN: one state. */
#define H_TILED_PARAMS                                                                             \
    TILED_STEP_PARAMS, __global const float *acts, __global store *h_a, __global store *h_b, __global store *y,      \
        const int policy, const float clip, const float fill
#define GRU_LBR_STEP(MR, s, h_prev, h_next)                                                        \
    gru_lbr_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, h_prev, h_next, y, \
                       policy, clip, fill, 0, 0, 0)
#define RNN_STEP(MR, s, h_prev, h_next)                                                            \
    unit64_tiled_step(MR, 0, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, 0, 0, h_prev, h_next, \
                      y, policy, clip, fill, 0, 0, 0)
#define DEFINE_H_TILED(cell, STEP, MR)                                                             \
    __kernel void cell##_step_tiled_##MR(H_TILED_PARAMS) { STEP(MR, s0, h_a, h_b); }               \
    __kernel void cell##_scan_tiled_##MR(H_TILED_PARAMS) {                                         \
        for (int s = s0; s < s1; ++s) {                                                            \
            STEP(MR, s, SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a));                       \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
        }                                                                                          \
    }

#define GRU_TILED_PARAMS                                                                           \
    TILED_STEP_PARAMS, __global const float *acts, __global store *h_a, __global store *h_b, __global store *zbuf,   \
        __global store *rh, __global store *y, const int policy, const float clip, const float fill
#define GRU_GATES_STEP(MR, s, h_prev)                                                              \
    gru_gates_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, h_prev, zbuf, rh, clip, 0, 0, 0)
/* the persistent scan's out phase always pairs blocks: its work-group runs on one compute unit */
#define GRU_OUT_STEP(MR, pairs, s, h_prev, h_next)                                                 \
    gru_out_tiled_blocks(MR, pairs, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, h_prev, h_next, \
                         zbuf, rh, y, policy, clip, fill, 0, 0, 0)
#define DEFINE_GRU_TILED(MR)                                                                       \
    __kernel void gru_gates_step_tiled_##MR(GRU_TILED_PARAMS) { GRU_GATES_STEP(MR, s0, h_a); }     \
    __kernel void gru_out_step_tiled_##MR(GRU_TILED_PARAMS) {                                      \
        GRU_OUT_STEP(MR, (int)get_global_size(0) < (H + 15) / 16, s0, h_a, h_b);                   \
    }                                                                                              \
    __kernel void gru_scan_tiled_##MR(GRU_TILED_PARAMS) {                                          \
        for (int s = s0; s < s1; ++s) {                                                            \
            GRU_GATES_STEP(MR, s, SCAN_STATES(s, h_a, h_b));                                       \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
            GRU_OUT_STEP(MR, 1, s, SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a));            \
            barrier(CLK_GLOBAL_MEM_FENCE);                                                         \
        }                                                                                          \
    }

DEFINE_LSTM_TILED(1)
DEFINE_LSTM_TILED(6)
DEFINE_LSTMP_TILED(1)
DEFINE_LSTMP_TILED(6)
DEFINE_H_TILED(gru_lbr, GRU_LBR_STEP, 1)
DEFINE_H_TILED(gru_lbr, GRU_LBR_STEP, 8)
DEFINE_H_TILED(rnn, RNN_STEP, 1)
DEFINE_H_TILED(rnn, RNN_STEP, 6)
DEFINE_GRU_TILED(1)
DEFINE_GRU_TILED(8)
