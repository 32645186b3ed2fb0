/* Final-layer outputs: combines the directions (concat, sum, mul, ave, none), puts the reverse
 * direction in Keras go_backwards order when asked (by index, no copy), and writes the user layout.
 * src element (d, t, n, j) sits at t*st_t + n*st_n + d*st_d + j; that covers both the layer output
 * [T, N, D, Hr] and, for last-only outputs, the final states [D, N, Hr] (st_t = 0, T = 1). The source
 * is stored (storage.h), the destination float: the user's y or the dense layer's input.
 */

/* Source row of direction d for output (t, n), or NULL when the row had no computed step (last-only
 * outputs of such rows are the masked value). */
static inline __global const store *merge_row(__global const store *src, __global const int *tmap,
                                              __global const int *has_any, int d, int t, int n, int T, int N, int st_t,
                                              int st_n, int st_d, int rev_mask) {
    if (has_any && !has_any[d * N + n]) return 0;
    const int tt = (rev_mask & (1 << d)) ? tmap[(d * T + t) * N + n] & STEP_T_MASK : t;
    return src + (size_t)tt * st_t + (size_t)n * st_n + (size_t)d * st_d;
}

/* One work-item per output row (n, t): the row's sources are found once, then copied or combined
 * along j (contiguous, so the compiler vectorises the inner loops). */
__kernel void merge_outputs(const int T, const int N, const int D, const int Hr, const int mode,
                            const int batch_major, const int rev_mask, __global const int *tmap,
                            const int has_any_off, __global const store *src,
                            const int st_t, const int st_n, const int st_d, __global real *dst, const ulong dst_off,
                            const int policy, const float fill) {
    const int n = get_global_id(0), t = get_global_id(1);
    if (n >= N) return;
    __global const int *ha = has_any_off >= 0 ? tmap + has_any_off : 0;
    const real masked = policy == MASKED_FILL ? fill : 0.0f;
    const size_t row = batch_major ? (size_t)n * T + t : (size_t)t * N + n;
    dst += dst_off;
    if (mode == MERGE_CONCAT || mode == MERGE_NONE) {
        for (int d = 0; d < D; ++d) {
            __global const store *s = merge_row(src, tmap, ha, d, t, n, T, N, st_t, st_n, st_d, rev_mask);
            __global real *o = dst + (mode == MERGE_CONCAT ? row * D * Hr + (size_t)d * Hr
                                       : batch_major ? (row * D + d) * Hr : (((size_t)t * D + d) * N + n) * Hr);
            if (s)
                for (int j = 0; j < Hr; ++j) o[j] = LOAD(s, j);
            else
                for (int j = 0; j < Hr; ++j) o[j] = masked;
        }
        return;
    }
    __global const store *a = merge_row(src, tmap, ha, 0, t, n, T, N, st_t, st_n, st_d, rev_mask);
    __global const store *b = merge_row(src, tmap, ha, 1, t, n, T, N, st_t, st_n, st_d, rev_mask);
    __global real *o = dst + row * Hr;
    for (int j = 0; j < Hr; ++j) {
        const real x = a ? LOAD(a, j) : masked, y = b ? LOAD(b, j) : masked;
        o[j] = mode == MERGE_SUM ? x + y : mode == MERGE_MUL ? x * y : (x + y) * 0.5f;
    }
}

/* dst[r, k] = v[k]: the dense layer's bias, before the GEMM accumulates into it (beta = 1). */
__kernel void fill_rows(__global real *dst, const ulong dst_off, const int cols, __global const real *v) {
    const int k = get_global_id(0), r = get_global_id(1);
    if (k < cols) dst[dst_off + (size_t)r * cols + k] = v[k];
}

/* dst[dst_off + r*dst_pitch + c] = src[src_off + r*src_pitch + c] for c < width (offsets and pitches
 * in floats): strided state rows between the workspace and a caller's buffer, which may be a
 * sub-buffer (forward.c, move_block). */
__kernel void copy_rows(__global const real *src, const ulong src_off, const int src_pitch, __global real *dst,
                        const ulong dst_off, const int dst_pitch, const int width) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < width) dst[dst_off + (size_t)r * dst_pitch + c] = src[src_off + (size_t)r * src_pitch + c];
}

/* copy_rows between a stored state and a float tensor, either way (forward.c: initial states in,
 * final states out, when the rnn stores narrower than fp32). Offsets and pitches in elements. */
__kernel void rows_to_storage(__global const real *src, const ulong src_off, const int src_pitch, __global store *dst,
                              const ulong dst_off, const int dst_pitch, const int width) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < width) STORE(dst, dst_off + (size_t)r * dst_pitch + c, src[src_off + (size_t)r * src_pitch + c]);
}
__kernel void rows_from_storage(__global const store *src, const ulong src_off, const int src_pitch,
                                __global real *dst, const ulong dst_off, const int dst_pitch, const int width) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < width) dst[dst_off + (size_t)r * dst_pitch + c] = LOAD(src, src_off + (size_t)r * src_pitch + c);
}
