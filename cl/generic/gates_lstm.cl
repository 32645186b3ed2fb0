/* LSTM step, gates in clrnn's internal order i, f, g, o.
 *   i = f(xi + R_i h + P_i c_prev)   f = f(xf + R_f h + P_f c_prev) (CIFG: 1 - i)
 *   g = g(xg + R_g h)   c = f c_prev + i g (TF1 cell_clip clamps the carried c)
 *   o = f(xo + R_o h + P_o c)   h = o h(c)
 * ONNX `clip` clamps every activation input (inside activate()), so h() sees a clipped copy of c
 * while the carried c stays unclipped, as the ONNX spec words it. (ONNX Runtime 1.32 was measured
 * applying h() to the unclipped c; the two differ only once |c| > clip.)
 * With a projection (LSTMP) this kernel writes the unprojected h to h_raw and leaves h_next and y to
 * lstm_proj_step. One work-item per (j, n, d). */

__kernel void lstm_step(GENERIC_STEP_PARAMS, const int Hr, __global const store *peep, __global const store *c_prev,
                        __global store *h_next, __global store *c_next, __global store *y, __global store *h_raw,
                        const int flags, const int policy, const float clip, const float cell_clip,
                        const float fill, __local real *tile) {
    const step_pos p = step_position(tmap, s, T, N, H);
    __global const store *hp = h_prev + (size_t)(p.d * N + p.n) * Hr;
    const size_t cidx = state_index(p);
    if (!(p.entry & STEP_VALID)) {
        if (p.active) STORE(c_next, cidx, LOAD(c_prev, cidx));
        if (!(flags & LSTM_PROJ)) masked_step(p, hp, h_next, y, policy, fill); /* Hr == H */
        return;
    }
    real acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    RECURRENT_DOT(4, acc, hp, RT + (size_t)p.d * Hr * 4 * H, 4 * H, H, p.j, Hr, tile, p.active);
    if (!p.active) return;
    __global const store *xp = xproj_unit(p, x_proj, T, xp_batch_major, 4, H);
    __global const real *b = bias + p.d * 8 * H + p.j;
    const real cp = LOAD(c_prev, cidx);
    __global const store *P = peep + p.d * 3 * H + p.j;
    const int peep_on = flags & LSTM_PEEPHOLE;
    real h;
    const real c = lstm_cell(acts, p.d, flags, LOAD(xp, 0) + b[0] + acc[0], LOAD(xp, H) + b[H] + acc[1],
                             LOAD(xp, 2 * H) + b[2 * H] + acc[2], LOAD(xp, 3 * H) + b[3 * H] + acc[3], cp,
                             peep_on ? LOAD(P, 0) : 0.0f, peep_on ? LOAD(P, H) : 0.0f, peep_on ? LOAD(P, 2 * H) : 0.0f,
                             clip, cell_clip, &h);
    STORE(c_next, cidx, c);
    if (flags & LSTM_PROJ) {
        STORE(h_raw, cidx, h);
    } else {
        STORE(h_next, cidx, h);
        STORE(y, output_index(p), h);
    }
}

/* LSTMP: m = W_proj h (optional TF1 proj_clip); m is both the output and the recurrent state.
 * One work-item per (p, n, d), p < Hr. */
__kernel void lstm_proj_step(const int s, const int T, const int N, const int H, const int Hr,
                             __global const int *tmap, __global const store *projT, __global const store *h_raw,
                             __global const store *h_prev, __global store *h_next, __global store *y,
                             const int policy, const float proj_clip, const float fill, __local real *tile) {
    const step_pos q = step_position(tmap, s, T, N, Hr);
    __global const store *hp = h_prev + state_row(q);
    if (masked_step(q, hp, h_next, y, policy, fill)) return;
    real acc[1] = {0.0f};
    RECURRENT_DOT(1, acc, h_raw + (size_t)(q.d * N + q.n) * H, projT + (size_t)q.d * H * Hr, Hr, Hr, q.j, H, tile,
                  q.active);
    if (!q.active) return;
    real m = acc[0];
    m = clip1(m, proj_clip);
    STORE(h_next, state_index(q), m);
    STORE(y, output_index(q), m);
}
