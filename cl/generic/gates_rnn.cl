/* Vanilla RNN step: h_t = f(W x_t + R h_{t-1} + Wb + Rb).
 * One work-item per (j, n, d); x_proj = X·Wᵀ comes from the layer's input GEMM. */
__kernel void rnn_step(GENERIC_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                       const float clip, const float fill, __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    __global const store *hp = h_prev + state_row(p);
    if (masked_step(p, hp, h_next, y, policy, fill)) return;
    real acc[1] = {0.0f};
    RECURRENT_DOT(1, acc, hp, RT + (size_t)p.d * H * H, H, H, p.j, H, tile, p.active);
    if (!p.active) return;
    const real pre = LOAD(xproj_unit(p, x_proj, T, xp_batch_major, 1, H), 0) + bias[p.d * 2 * H + p.j] + acc[0];
    const real h = activate(acts, p.d, 0, pre, clip);
    STORE(h_next, state_index(p), h);
    STORE(y, output_index(p), h);
}

/* The generic plan's input projection when tensors are stored narrower than fp32 (CLBlast and the
 * own SGEMM take floats): x_proj[row, col] = sum_k x[row, k] WT[k, col], one work-item per (col, row),
 * fp32 accumulation. With fp32 storage the plan runs an SGEMM instead. */
__kernel void xproj_generic(const int rows, const int cols, const int K, __global const store *x, const ulong x_off,
                            __global const store *WT, __global store *x_proj) {
    const int col = get_global_id(0), row = get_global_id(1);
    if (col >= cols || row >= rows) return;
    __global const store *xr = x + x_off + (size_t)row * K;
    real acc = 0.0f;
    for (int k = 0; k < K; ++k) acc = fma(LOAD(xr, k), LOAD(WT, (size_t)k * cols + col), acc);
    STORE(x_proj, (size_t)row * cols + col, acc);
}
