/* The register-tiled micro-kernel shared by the tiled plan's forward steps (tiled/step_tiled.cl:
 * h_prev · Rᵀ, the input projection) and the tiled backward scan (train/bwd_tiled.cl: dG · R), so
 * both programs run the same product. Embedded after storage.h and common.cl (store, LOAD/LOAD16,
 * real16) in the main program and in the training program (fp32 there: store is float). */
#ifndef CLRNN_TILED_DOT_H
#define CLRNN_TILED_DOT_H

/* The helpers that take a register block's shape (MR, G, NB as arguments, literals at every call)
 * are forced inline. PoCL builds with -Dinline=, so `static inline` is only `static`, and LLVM kept
 * a helper called from two places out of line, its shape a runtime value: block_dot in
 * unit64_tiled_step (2 or 4 slots) tested it at every k of the micro-kernel, with register moves,
 * and S5's dot products took ~2.4 times their FMA time. pair_dot (the GRU's out phase, 1 or 2
 * blocks) and the rest are called the same way. */
#define TILED_INLINE static inline __attribute__((always_inline))

/* acc[r][g] = sum_k hrow[r][k] * W[k][g], r < MR (1, 6 or 8), g < G, MR * G <= 24, over the SLOTS
 * slices stored per k (G < SLOTS: the first G of them). The accumulators are named variables, not an array: with an array and vload16,
 * PoCL's LLVM kept them on the stack and assembled each vector from 8-byte pieces. Those past
 * (MR, G) are dead once MR and G are constants, and only acc's used entries are written.
 * Why up to 24 of the 32 zmm registers: per k the micro-kernel loads G slices of W (64 bytes each,
 * from L2 once the block outgrows L1) and MR scalars of h, for MR * G FMAs; at 4 x 4 the W stream
 * alone is 32 bytes a cycle at two FMAs a cycle, about what L2 delivers, so the FMA units waited.
 * 8 x 3 or 6 x 4 halves that per FMA and leaves registers for the G slices and a broadcast. */
/* One k of row r of a register block: its scalar of rows[r] times the G weight slices w0..w3 into
 * the row's accumulators (also the input projection's block, tiled/xproj_tiled.cl). */
#define TILED_FMA_ROW(rows, r, ar0, ar1, ar2, ar3)                                                 \
    if (MR > r) {                                                                                  \
        const real16 h = (real16)LOAD(rows[r], k);                                                 \
        ar0 = fma(h, w0, ar0);                                                                     \
        if (G > 1) ar1 = fma(h, w1, ar1);                                                          \
        if (G > 2) ar2 = fma(h, w2, ar2);                                                          \
        if (G > 3) ar3 = fma(h, w3, ar3);                                                          \
    }
/* The narrow form, for a CPU whose vectors hold fewer than 16 floats (CLRNN_SIMD_LANES, the
 * device's native float width, program.c: 8 for AVX2, 4 for SSE or NEON). A real16 is then 16 /
 * lanes registers, and the wide block's 24 accumulators are 48 ymm registers of the 16 AVX2 has:
 * PoCL's code (Zen 1) loaded and stored an accumulator around every FMA, and S1 ran at 1.5 times
 * oneDNN's time. Here the block runs as passes over k, each R rows times S 16-lane slices with
 * R * S <= TILED_PASS_ACC real16 accumulators (12 registers: 6 at 8 lanes, 3 at 4). The rows split
 * evenly first (MR = 8 at 6: two passes of 4, 8 ymm accumulators to cover the FMA latency), then
 * the slices into what the rows leave (1 row: all 4 slices in one pass, as the wide form; 2 rows:
 * 2 slices a pass): a pass with R = 6 reads each weight once per block, as the wide form does, and
 * re-reads the h rows from L1. Each sum is the same fma chain over k as the wide form's: bitwise
 * equal. */
#if !CLRNN_COMPACT && defined(CLRNN_SIMD_LANES) && CLRNN_SIMD_LANES < 16
#define TILED_NARROW 1
#define TILED_PASS_ACC (CLRNN_SIMD_LANES >= 8 ? 6 : CLRNN_SIMD_LANES >= 4 ? 3 : 1)
#else
#define TILED_NARROW 0
#endif
#if TILED_NARROW
/* acc[r0 + r][g0 + g] (r < R <= 6, g < S <= 4), or with `sums` the input projection's running
 * sums in o[r0 + r] slot g0 + g (zero when `first`, stored for rows < live) plus sum_k
 * rows[r0 + r][k] * (slice g0 + g of W at k: W + k * kstride + (g0 + g) * gstride). The row and
 * slice counts are named MR and G for TILED_FMA_ROW. */
#define SLICE_LOAD1(r, g, a)                                                                       \
    if (MR > r && G > g && sums && !first) a = LOAD16(o[r0 + r], g0 + g);
#define SLICE_OUT1(r, g, a)                                                                        \
    if (MR > r && G > g) {                                                                         \
        if (!sums) acc[r0 + r][g0 + g] = a;                                                        \
        else if (r0 + r < live) STORE16_ALIGNED(o[r0 + r], g0 + g, a);                             \
    }
#define SLICE_LOAD(r, ar0, ar1, ar2, ar3)                                                          \
    SLICE_LOAD1(r, 0, ar0) SLICE_LOAD1(r, 1, ar1) SLICE_LOAD1(r, 2, ar2) SLICE_LOAD1(r, 3, ar3)
#define SLICE_OUT(r, ar0, ar1, ar2, ar3)                                                           \
    SLICE_OUT1(r, 0, ar0) SLICE_OUT1(r, 1, ar1) SLICE_OUT1(r, 2, ar2) SLICE_OUT1(r, 3, ar3)
#define SLICE_FMA(r, ar0, ar1, ar2, ar3) TILED_FMA_ROW(xr, r, ar0, ar1, ar2, ar3)
#define SLICE_ROWS(M)                                                                              \
    M(0, a00, a01, a02, a03)                                                                       \
    M(1, a10, a11, a12, a13)                                                                       \
    M(2, a20, a21, a22, a23)                                                                       \
    M(3, a30, a31, a32, a33)                                                                       \
    M(4, a40, a41, a42, a43)                                                                       \
    M(5, a50, a51, a52, a53)
TILED_INLINE void slice_dot(const int MR, const int G, const int r0, const int g0, real16 acc[8][4],
                            __global const store *W, const size_t gstride, const int kstride,
                            __global const store *rows[8], const int K, const int sums, __global store *o[8],
                            const int first, const int live) {
    real16 a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
    real16 a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
    real16 a40 = 0.0f, a41 = 0.0f, a42 = 0.0f, a43 = 0.0f, a50 = 0.0f, a51 = 0.0f, a52 = 0.0f, a53 = 0.0f;
    __global const store *const *xr = rows + r0;
    SLICE_ROWS(SLICE_LOAD)
    W += g0 * gstride;
    for (int k = 0; k < K; ++k, W += kstride) {
        const real16 w0 = LOAD16(W, 0);
        const real16 w1 = G > 1 ? LOAD16(W + gstride, 0) : w0;
        const real16 w2 = G > 2 ? LOAD16(W + 2 * gstride, 0) : w0;
        const real16 w3 = G > 3 ? LOAD16(W + 3 * gstride, 0) : w0;
        SLICE_ROWS(SLICE_FMA)
    }
    SLICE_ROWS(SLICE_OUT)
}
#undef SLICE_LOAD1
#undef SLICE_OUT1
#undef SLICE_LOAD
#undef SLICE_OUT
#undef SLICE_FMA
#undef SLICE_ROWS
/* The block MR x G in passes of R rows x S slices (above): the rows split evenly into passes of
 * at most TILED_PASS_ACC, the slices into what R leaves (1 row takes all 4 slices in one pass),
 * and to 1 a pass where they would not split evenly (G = 3 over 3 rows: 2 + 1). The R x S passes
 * run as one loop kept rolled, and a remainder of rows (MR = 7: 4 + 3) as a loop of its own:
 * with MR and G constant, R and S are, and at most two copies of slice_dot a call site survive
 * folding, where one copy a pass (12 at 8 lanes) tripled the cold build (S1's kernels on AVX2:
 * 15 s against 5 s). */
#define SLICES_PASSES(n, RR, SS, row, slice)                                                        \
    _Pragma("nounroll") for (int pass = 0; pass < (n); ++pass)                                     \
        slice_dot(RR, SS, row, slice, acc, W0, gstride, kstride, rows, K, sums, o, first, live);
TILED_INLINE void slices_dot(const int MR, const int G, real16 acc[8][4], __global const store *W0, const size_t gstride,
                             const int kstride, __global const store *rows[8], const int K, const int sums,
                             __global store *o[8], const int first, const int live) {
    const int row_passes = (MR + TILED_PASS_ACC - 1) / TILED_PASS_ACC, R = (MR + row_passes - 1) / row_passes;
    const int S_most = max(1, min(G, TILED_PASS_ACC / R)), slice_passes = (G + S_most - 1) / S_most;
    const int S_even = (G + slice_passes - 1) / slice_passes, S = G % S_even ? 1 : S_even;
    const int R_full = MR / R, R_rest = MR % R, S_passes = G / S;
    SLICES_PASSES(R_full * S_passes, R, S, pass % R_full * R, pass / R_full * S)
    if (R_rest) SLICES_PASSES(S_passes, R_rest, S, R_full * R, pass * S)
}
#undef SLICES_PASSES
#endif
#define TILED_DOT_ROW(r, ar0, ar1, ar2, ar3) TILED_FMA_ROW(hrow, r, ar0, ar1, ar2, ar3)
#define TILED_DOT_OUT(r, ar0, ar1, ar2, ar3)                                                       \
    if (MR > r) acc[r][0] = ar0, acc[r][1] = ar1, acc[r][2] = ar2, acc[r][3] = ar3;
#if CLRNN_COMPACT
/* The build for a software rasterizer (program.c: Mesa Rusticl's llvmpipe): the same sums, the
 * accumulators in acc itself, over loops. Its NIR compiler takes time superlinear in the number of
 * vector values live across a loop (8 real16 accumulators: 19 s, the 24 of the named form: many
 * minutes a kernel), while an array it keeps in scratch memory compiles in about a second. */
TILED_INLINE void tiled_dot(const int MR, const int G, const int SLOTS, real16 acc[8][4], __global const store *RTblk,
                            __global const store *hrow[8], const int K) {
    for (int r = 0; r < MR; ++r)
        for (int g = 0; g < G; ++g) acc[r][g] = 0.0f;
    __global const store *W = RTblk;
    for (int k = 0; k < K; ++k, W += SLOTS * 16)
        for (int r = 0; r < MR; ++r) {
            const real16 h = (real16)LOAD(hrow[r], k);
            for (int g = 0; g < G; ++g) acc[r][g] = fma(h, LOAD16(W, g), acc[r][g]);
        }
}
#elif TILED_NARROW
TILED_INLINE void tiled_dot(const int MR, const int G, const int SLOTS, real16 acc[8][4], __global const store *RTblk,
                            __global const store *hrow[8], const int K) {
    slices_dot(MR, G, acc, RTblk, 16, SLOTS * 16, hrow, K, 0, NULL, 0, 0);
}
#else
TILED_INLINE void tiled_dot(const int MR, const int G, const int SLOTS, real16 acc[8][4], __global const store *RTblk,
                            __global const store *hrow[8], const int K) {
    real16 a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
    real16 a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
    real16 a40 = 0.0f, a41 = 0.0f, a42 = 0.0f, a43 = 0.0f, a50 = 0.0f, a51 = 0.0f, a52 = 0.0f, a53 = 0.0f;
    real16 a60 = 0.0f, a61 = 0.0f, a62 = 0.0f, a63 = 0.0f, a70 = 0.0f, a71 = 0.0f, a72 = 0.0f, a73 = 0.0f;
    __global const store *W = RTblk;
    for (int k = 0; k < K; ++k, W += SLOTS * 16) {
        const real16 w0 = LOAD16(W, 0);
        const real16 w1 = G > 1 ? LOAD16(W, 1 % G) : w0;
        const real16 w2 = G > 2 ? LOAD16(W, 2 % G) : w0;
        const real16 w3 = G > 3 ? LOAD16(W, 3 % G) : w0;
        TILED_DOT_ROW(0, a00, a01, a02, a03)
        TILED_DOT_ROW(1, a10, a11, a12, a13)
        TILED_DOT_ROW(2, a20, a21, a22, a23)
        TILED_DOT_ROW(3, a30, a31, a32, a33)
        TILED_DOT_ROW(4, a40, a41, a42, a43)
        TILED_DOT_ROW(5, a50, a51, a52, a53)
        TILED_DOT_ROW(6, a60, a61, a62, a63)
        TILED_DOT_ROW(7, a70, a71, a72, a73)
    }
    TILED_DOT_OUT(0, a00, a01, a02, a03)
    TILED_DOT_OUT(1, a10, a11, a12, a13)
    TILED_DOT_OUT(2, a20, a21, a22, a23)
    TILED_DOT_OUT(3, a30, a31, a32, a33)
    TILED_DOT_OUT(4, a40, a41, a42, a43)
    TILED_DOT_OUT(5, a50, a51, a52, a53)
    TILED_DOT_OUT(6, a60, a61, a62, a63)
    TILED_DOT_OUT(7, a70, a71, a72, a73)
}
#endif
#undef TILED_DOT_ROW
#undef TILED_DOT_OUT

#endif
