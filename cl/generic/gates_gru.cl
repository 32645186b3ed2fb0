/* GRU steps, gates in clrnn's internal order z, r, n.
 *   z = f(xz + R_z h)   r = f(xr + R_r h)   h_t = (1 - z) n + z h_{t-1}
 * linear-before-reset (PyTorch, Keras reset_after, ONNX lbr=1): n = g(xn + Wb_n + r (R_n h + Rb_n))
 *   -> one fused kernel per step.
 * reset-before (ONNX lbr=0, Keras reset_after=False, TF1 GRUCell): n = g(xn + R_n (r h) + Wb_n + Rb_n)
 *   -> R_n needs the whole vector r*h first, so the step is two launches: gates, then output.
 * bias[d] holds two rows of 3H: the x-side bias (Wb + Rb folded, except lbr's n gate: Wb_n) and
 * the recurrent bias kept apart for lbr's n gate (Rb_n). */
__kernel void gru_lbr_step(GENERIC_STEP_PARAMS, __global store *h_next, __global store *y, const int policy,
                           const float clip, const float fill, __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    __global const store *hp = h_prev + state_row(p);
    if (masked_step(p, hp, h_next, y, policy, fill)) return;
    real acc[3] = {0.0f, 0.0f, 0.0f};
    RECURRENT_DOT(3, acc, hp, RT + (size_t)p.d * H * 3 * H, 3 * H, H, p.j, H, tile, p.active);
    if (!p.active) return;
    __global const store *xp = xproj_unit(p, x_proj, T, xp_batch_major, 3, H);
    __global const real *b = bias + p.d * 6 * H + p.j;
    const real z = activate(acts, p.d, 0, LOAD(xp, 0) + b[0] + acc[0], clip);
    const real r = activate(acts, p.d, 0, LOAD(xp, H) + b[H] + acc[1], clip);
    const real nn = activate(acts, p.d, 1, LOAD(xp, 2 * H) + b[2 * H] + r * (acc[2] + b[3 * H + 2 * H]), clip);
    const real h = (1.0f - z) * nn + z * LOAD(hp, p.j);
    STORE(h_next, state_index(p), h);
    STORE(y, output_index(p), h);
}

/* reset-before, launch 1: z to zbuf, r (.) h_prev to rh. */
__kernel void gru_gates_step(GENERIC_STEP_PARAMS, __global store *zbuf, __global store *rh, const float clip,
                             __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    if (!(p.entry & STEP_VALID)) return; /* uniform over the work-group: (n, d) is fixed */
    __global const store *hp = h_prev + state_row(p);
    real acc[2] = {0.0f, 0.0f};
    RECURRENT_DOT(2, acc, hp, RT + (size_t)p.d * H * 3 * H, 3 * H, H, p.j, H, tile, p.active);
    if (!p.active) return;
    __global const store *xp = xproj_unit(p, x_proj, T, xp_batch_major, 3, H);
    __global const real *b = bias + p.d * 6 * H + p.j;
    const size_t hidx = state_index(p);
    STORE(zbuf, hidx, activate(acts, p.d, 0, LOAD(xp, 0) + b[0] + acc[0], clip));
    STORE(rh, hidx, activate(acts, p.d, 0, LOAD(xp, H) + b[H] + acc[1], clip) * LOAD(hp, p.j));
}

/* reset-before, launch 2: n = g(xn + R_n (r h) + b_n), h = (1 - z) n + z h_prev. */
__kernel void gru_out_step(GENERIC_STEP_PARAMS, __global const store *zbuf, __global const store *rh,
                           __global store *h_next, __global store *y, const int policy, const float clip,
                           const float fill, __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    __global const store *hp = h_prev + state_row(p);
    if (masked_step(p, hp, h_next, y, policy, fill)) return;
    real acc[1] = {0.0f};
    RECURRENT_DOT(1, acc, rh + state_row(p), RT + (size_t)p.d * H * 3 * H + 2 * H, 3 * H, H, p.j, H, tile, p.active);
    if (!p.active) return;
    const real xn = LOAD(xproj_unit(p, x_proj, T, xp_batch_major, 3, H), 2 * H);
    const real nn = activate(acts, p.d, 1, xn + bias[p.d * 6 * H + 2 * H + p.j] + acc[0], clip);
    const size_t hidx = state_index(p);
    const real z = LOAD(zbuf, hidx);
    const real h = (1.0f - z) * nn + z * LOAD(hp, p.j);
    STORE(h_next, hidx, h);
    STORE(y, output_index(p), h);
}
