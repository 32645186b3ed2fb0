/* Input projection of the tiled plan (cl/tiled/step_tiled.cl reads its output):
 * x_proj[row][d][jb][g][16] = X[row] · Wᵀ for every needed (t, n) row at once, WTp laid out like
 * RTp ([D][Hb][I][G][16]); the biases are added by the steps.
 *
 * Work-item (jb, grp, d): column block jb (G 16-wide slices) of direction d times the row blocks
 * grp, grp + groups, grp + 2 groups, ... (groups = get_global_size(1), about rb_per_item of them).
 * Strided, not a contiguous run: PoCL's pthread scheduler deals work-groups out in contiguous
 * chunks of ceil(remaining / threads), at most 32 x threads (3.1, pthread_scheduler.c), so the ~50
 * groups here went out as two halves with no balancing after. With per-row lengths one thread then
 * had the early steps (every row needed) and the other the late ones (short rows done): S1v's
 * projection took as long as S1's. The stride gives every group the same mix of steps. A block is
 * MR consecutive rows (TILED_MR_<G> of cl/abi.h, 8 or 6: 24 accumulators) of the (t, rows in
 * length order) sequence; past the end, the last row again
 * (computed, not stored), so small batches fill blocks across steps; a block with no needed row
 * (row_needed) is skipped.
 *
 * Cache blocking (BLIS's loop order): per k block of kc_block rows of WTp, per row block. The
 * block's kc_block x G x 16 weights (32 KB for G = 4 at kc 128) then stay in L1 across the row
 * blocks, where a whole slice (K x G x 16, 128 KB at K = 512) came from L2 for every row block:
 * 4 x 64 bytes of W a k for 24 FMAs, more than L2 delivers. The running sums live in x_proj between
 * k blocks; a float store and load are exact, so the result has the bits of one unblocked pass
 * (k in order, one fma chain per element). The host runs all Hb column blocks of a row group in one
 * work-group (one compute unit), so the group's rows of X stay in that unit's L2 across them.
 * Stored x_proj narrower than fp32 (fp16, bf16) would round the running sums: one k block there. */

#if CLRNN_STORAGE == STORAGE_FP32
#define XPROJ_KC(kc_block, K) (kc_block)
#else
#define XPROJ_KC(kc_block, K) (K)
#endif

#define XPROJ_ROW(r, ar0, ar1, ar2, ar3) TILED_FMA_ROW(xr, r, ar0, ar1, ar2, ar3) /* tiled/tiled_dot.h */
/* Row r's running sums: zero at the first k block, else what the last one stored. */
#define XPROJ_LOAD(r, ar0, ar1, ar2, ar3)                                                          \
    if (MR > r && !first) {                                                                        \
        ar0 = LOAD16(o[r], 0);                                                                     \
        if (G > 1) ar1 = LOAD16(o[r], 1);                                                          \
        if (G > 2) ar2 = LOAD16(o[r], 2);                                                          \
        if (G > 3) ar3 = LOAD16(o[r], 3);                                                          \
    }
#define XPROJ_STORE(r, ar0, ar1, ar2, ar3)                                                         \
    if (MR > r && r < live) {                                                                      \
        STORE16_ALIGNED(o[r], 0, ar0);                                                             \
        if (G > 1) STORE16_ALIGNED(o[r], 1, ar1);                                                  \
        if (G > 2) STORE16_ALIGNED(o[r], 2, ar2);                                                  \
        if (G > 3) STORE16_ALIGNED(o[r], 3, ar3);                                                  \
    }
#define XPROJ_ROWS(M)                                                                              \
    M(0, a00, a01, a02, a03)                                                                       \
    M(1, a10, a11, a12, a13)                                                                       \
    M(2, a20, a21, a22, a23)                                                                       \
    M(3, a30, a31, a32, a33)                                                                       \
    M(4, a40, a41, a42, a43)                                                                       \
    M(5, a50, a51, a52, a53)                                                                       \
    M(6, a60, a61, a62, a63)                                                                       \
    M(7, a70, a71, a72, a73)

/* One row block over k in [kc, kc + kn): the named accumulators (see tiled_dot in step_tiled.cl:
 * an array lands on the stack) start from x_proj unless first, and go back to its `live` rows. */
#if CLRNN_COMPACT
/* The software rasterizer's build (as tiled_dot's, tiled/tiled_dot.h): the same sums in an array. */
TILED_INLINE void xproj_block(const int MR, const int G, __global const store *W, __global const store *xr[8],
                              __global store *o[8], const int kn, const int first, const int live) {
    real16 acc[8][4];
    for (int r = 0; r < MR; ++r)
        for (int g = 0; g < G; ++g) acc[r][g] = first ? (real16)0.0f : LOAD16(o[r], g);
    for (int k = 0; k < kn; ++k, W += G * 16)
        for (int r = 0; r < MR; ++r) {
            const real16 h = (real16)LOAD(xr[r], k);
            for (int g = 0; g < G; ++g) acc[r][g] = fma(h, LOAD16(W, g), acc[r][g]);
        }
    for (int r = 0; r < MR && r < live; ++r)
        for (int g = 0; g < G; ++g) STORE16(o[r], g, acc[r][g]);
}
#elif TILED_NARROW /* tiled/tiled_dot.h: one 16-lane slice a pass, the sums from and back to o */
TILED_INLINE void xproj_block(const int MR, const int G, __global const store *W, __global const store *xr[8],
                              __global store *o[8], const int kn, const int first, const int live) {
    slices_dot(MR, G, NULL, W, 16, G * 16, xr, kn, 1, o, first, live);
}
#else
TILED_INLINE void xproj_block(const int MR, const int G, __global const store *W, __global const store *xr[8],
                              __global store *o[8], const int kn, const int first, const int live) {
    real16 a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
    real16 a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
    real16 a40 = 0.0f, a41 = 0.0f, a42 = 0.0f, a43 = 0.0f, a50 = 0.0f, a51 = 0.0f, a52 = 0.0f, a53 = 0.0f;
    real16 a60 = 0.0f, a61 = 0.0f, a62 = 0.0f, a63 = 0.0f, a70 = 0.0f, a71 = 0.0f, a72 = 0.0f, a73 = 0.0f;
    XPROJ_ROWS(XPROJ_LOAD)
    for (int k = 0; k < kn; ++k, W += G * 16) {
        const real16 w0 = LOAD16(W, 0);
        const real16 w1 = G > 1 ? LOAD16(W, 1 % G) : w0;
        const real16 w2 = G > 2 ? LOAD16(W, 2 % G) : w0;
        const real16 w3 = G > 3 ? LOAD16(W, 3 % G) : w0;
        XPROJ_ROWS(XPROJ_ROW)
    }
    XPROJ_ROWS(XPROJ_STORE)
}
#endif
#undef XPROJ_ROW
#undef XPROJ_LOAD
#undef XPROJ_STORE
#undef XPROJ_ROWS

static inline void xproj_tiled_rows(const int MR, const int G, const int T, const int N, const int batch_major,
                                    const int Hb, const int K, __global const store *x, __global const store *WTp,
                                    __global store *x_proj, __global const int *perm, __global const int *row_needed,
                                    const int rb_per_item, const int kc_block) {
    const int jb = get_global_id(0), grp = get_global_id(1), d = get_global_id(2);
    if (jb >= Hb) return; /* the NDRange rounded up to the work-group */
    const int D = get_global_size(2), kcb = max(1, XPROJ_KC(kc_block, K));
    const int rows = T * N, n_rb = (rows + MR - 1) / MR;
    const int groups = get_global_size(1);
    (void)rb_per_item; /* the host's count of blocks per group: the stride gives each about that */
    __global const store *Wblk = WTp + ((size_t)d * Hb + jb) * (size_t)K * G * 16;
    for (int kc = 0; kc < K; kc += kcb) {
        const int kn = min(kcb, K - kc);
        for (int rb = grp; rb < n_rb; rb += groups) {
            __global const store *xr[8];
            __global store *o[8];
            int any = 0;
            /* row i = rb * MR + r is (t, perm[m]) for i = t N + m, walked without a division a
             * row (six idivs a row block came to ~5 % of its FMA time at kc = 128) */
            int t = rb * MR / N, m = rb * MR - t * N;
            for (int r = 0; r < MR; ++r, m = m + 1 < N ? m + 1 : 0, t += m == 0) {
                const int last = rb * MR + r >= rows; /* past the end: the last row again */
                const int n = perm[last ? N - 1 : m], tr = last ? T - 1 : t;
                const size_t xrow = batch_major ? (size_t)n * T + tr : (size_t)tr * N + n;
                xr[r] = x + xrow * K + kc;
                o[r] = x_proj + ((xrow * D + d) * Hb + jb) * G * 16;
                any |= row_needed[(size_t)tr * N + n];
            }
            if (any) xproj_block(MR, G, Wblk + (size_t)kc * G * 16, xr, o, kn, kc == 0, rows - rb * MR);
        }
    }
}

#define XPROJ_TILED_PARAMS                                                                         \
    const int T, const int N, const int batch_major, const int Hb, const int K, __global const store *x, \
        const ulong x_off, __global const store *WTp, __global store *x_proj, __global const int *perm, \
        __global const int *row_needed, const int rb_per_item, const int kc_block
__kernel void xproj_tiled_3(XPROJ_TILED_PARAMS) {
    xproj_tiled_rows(TILED_MR_3, 3, T, N, batch_major, Hb, K, x + x_off, WTp, x_proj, perm, row_needed, rb_per_item,
                     kc_block);
}
__kernel void xproj_tiled_4(XPROJ_TILED_PARAMS) {
    xproj_tiled_rows(TILED_MR_4, 4, T, N, batch_major, Hb, K, x + x_off, WTp, x_proj, perm, row_needed, rb_per_item,
                     kc_block);
}
