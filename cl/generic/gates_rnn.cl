/* Vanilla RNN step: h_t = f(W x_t + R h_{t-1} + Wb + Rb).
 * One work-item per (j, n, d); x_proj = X·Wᵀ comes from the layer's input GEMM. */
__kernel void rnn_step(const int s, const int T, const int N, const int H, __global const int *tmap,
                       __global const real *x_proj, const int xp_batch_major, __global const real *RT,
                       __global const real *bias, __global const float *acts, __global const real *h_prev,
                       __global real *h_next, __global real *y, const int policy, const float clip,
                       const float fill, __local real *tile) {
    const int j = get_global_id(0), n = get_global_id(1), d = get_global_id(2);
    const int D = get_global_size(2);
    const int entry = tmap[(d * T + s) * N + n];
    const int t = entry & STEP_T_MASK;
    const int active = j < H;
    __global const real *hp = h_prev + (size_t)(d * N + n) * H;
    if (!(entry & STEP_VALID)) {
        if (active) {
            h_next[(size_t)(d * N + n) * H + j] = hp[j];
            y[((size_t)t * N + n) * D * H + d * H + j] = masked_output(policy, entry, hp[j], fill);
        }
        return;
    }
    real acc[1] = {0.0f};
    RECURRENT_DOT(1, acc, hp, RT + (size_t)d * H * H, H, H, j, H, tile, active);
    if (!active) return;
    const size_t row = xproj_row(t, n, T, N, xp_batch_major);
    const real pre = x_proj[row * D * H + d * H + j] + bias[d * 2 * H + j] + acc[0];
    const real h = activate(acts, d, 0, pre, clip);
    h_next[(size_t)(d * N + n) * H + j] = h;
    y[((size_t)t * N + n) * D * H + d * H + j] = h;
}
