/* Final-layer outputs: combines the directions (concat, sum, mul, ave, none), puts the reverse
 * direction in Keras go_backwards order when asked (by index, no copy), and writes the user layout.
 * src element (d, t, n, j) sits at t*st_t + n*st_n + d*st_d + j; that covers both the layer output
 * [T, N, D, Hr] and, for last-only outputs, the final states [D, N, Hr] (st_t = 0, T = 1).
 * One work-item per (k, n, t), k < cols of the output row. */
#define MERGE_CONCAT 0
#define MERGE_SUM 1
#define MERGE_MUL 2
#define MERGE_AVE 3
#define MERGE_NONE 4

inline float merge_src(__global const float *src, __global const int *tmap, __global const int *has_any,
                       int d, int t, int n, int j, int T, int N, int st_t, int st_n, int st_d, int rev_mask,
                       int policy, float fill) {
    int tt = t;
    if (rev_mask & (1 << d)) tt = tmap[(d * T + t) * N + n] & STEP_T_MASK;
    if (has_any && !has_any[d * N + n]) return policy == MASKED_FILL ? fill : 0.0f;
    return src[(size_t)tt * st_t + (size_t)n * st_n + (size_t)d * st_d + j];
}

__kernel void merge_outputs(const int T, const int N, const int D, const int Hr, const int mode,
                            const int batch_major, const int rev_mask, __global const int *tmap,
                            const int has_any_off, __global const float *src,
                            const int st_t, const int st_n, const int st_d, __global float *dst, const ulong dst_off,
                            const int policy, const float fill) {
    const int k = get_global_id(0), n = get_global_id(1), t = get_global_id(2);
    const int cols = (mode == MERGE_CONCAT || mode == MERGE_NONE) ? D * Hr : Hr;
    if (k >= cols) return;
    /* last-only outputs: per (d, n) "row had a computed step" flags follow the step table */
    __global const int *ha = has_any_off >= 0 ? tmap + has_any_off : 0;
    dst += dst_off;
    if (mode == MERGE_CONCAT || mode == MERGE_NONE) {
        const int d = k / Hr, j = k % Hr;
        const float v = merge_src(src, tmap, ha, d, t, n, j, T, N, st_t, st_n, st_d, rev_mask, policy, fill);
        size_t o;
        if (mode == MERGE_CONCAT)
            o = (batch_major ? (size_t)n * T + t : (size_t)t * N + n) * cols + k;
        else
            o = batch_major ? (((size_t)n * T + t) * D + d) * Hr + j : (((size_t)t * D + d) * N + n) * Hr + j;
        dst[o] = v;
        return;
    }
    const float a = merge_src(src, tmap, ha, 0, t, n, k, T, N, st_t, st_n, st_d, rev_mask, policy, fill);
    const float b = merge_src(src, tmap, ha, 1, t, n, k, T, N, st_t, st_n, st_d, rev_mask, policy, fill);
    float v = mode == MERGE_SUM ? a + b : mode == MERGE_MUL ? a * b : (a + b) * 0.5f;
    dst[(batch_major ? (size_t)n * T + t : (size_t)t * N + n) * cols + k] = v;
}

/* dst[r, k] = v[k]: the dense layer's bias, before the GEMM accumulates into it (beta = 1). */
__kernel void fill_rows(__global float *dst, const ulong dst_off, const int cols, __global const float *v) {
    const int k = get_global_id(0), r = get_global_id(1);
    if (k < cols) dst[dst_off + (size_t)r * cols + k] = v[k];
}
