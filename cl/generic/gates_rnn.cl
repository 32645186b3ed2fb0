/* Vanilla RNN step: h_t = f(W x_t + R h_{t-1} + Wb + Rb).
 * One work-item per (j, n, d); x_proj = X·Wᵀ comes from the layer's input GEMM. */
__kernel void rnn_step(GENERIC_STEP_PARAMS, __global real *h_next, __global real *y, const int policy,
                       const float clip, const float fill, __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    __global const real *hp = h_prev + state_row(p);
    if (masked_step(p, hp, h_next, y, policy, fill)) return;
    real acc[1] = {0.0f};
    RECURRENT_DOT(1, acc, hp, RT + (size_t)p.d * H * H, H, H, p.j, H, tile, p.active);
    if (!p.active) return;
    const real pre = xproj_unit(p, x_proj, T, xp_batch_major, 1, H)[0] + bias[p.d * 2 * H + p.j] + acc[0];
    const real h = activate(acts, p.d, 0, pre, clip);
    h_next[state_index(p)] = h;
    y[output_index(p)] = h;
}
