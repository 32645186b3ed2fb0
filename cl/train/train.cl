/* Training kernels (src/train/train.c): the training forward's step kernels, which keep in the
 * reserve what the backward needs, the reverse-time step kernels of the backward, the merge
 * backward, and fixed-order column sums for biases and peepholes. Embedded after abi.h, common.cl
 * (REAL, activate, clip1, masked_output) and train/rng.h (the dropout masks).
 *
 * One launch per direction and step; work-item (j, n) is unit j of batch row n. The step table
 * entry (d, s, n) gives the time index t; everything kept per step is stored at row t*N + n of a
 * [T*N, ...] buffer (each (t, n) is visited once per direction), so the weight gradients are
 * single GEMMs over all rows. A reserve row (S floats) holds h_prev [Hr] at 0, then the cell's
 * gate pre-activations (before `clip`) at Hr; LSTM adds c_prev, the unclipped c, and for LSTMP
 * the unprojected h and the projection before proj_clip; GRU a fourth block (lbr: R_n h + Rb_n;
 * reset-before: r * h_prev). Steps the table marks as not computed store zeros there (h_prev
 * and c_prev as carried) so that no NaN of stale memory reaches a GEMM. */

/* Inverted dropout's factor for element (c0, c1) of a stream: 0 or 1/(1-p); 1 when p = 0. */
static inline real drop_factor(uint seed_lo, uint seed_hi, uint call, int l, int d, int stream, uint c0, uint c1,
                               float p) {
    if (p <= 0.0f) return 1.0f;
    return clrnn_dropout_keep(seed_lo, seed_hi, call, l, d, stream, c0, c1, p) ? 1.0f / (1.0f - p) : 0.0f;
}

/* The parameters of the layer output a forward step writes: y [T*N, ycols] at column ycol0 + k,
 * with `dropout` (p_out > 0: layers below the last) applied after the masked-output policy. */
#define TR_Y_PARAMS                                                                                \
    __global real *y, const int ycols, const int ycol0, const float p_out, const uint seed_lo,     \
        const uint seed_hi, const uint call, const int l, const int policy, const float fill

static inline void write_y(__global real *y, int t, int n, int N, int ycols, int col, real v, float p_out, uint seed_lo,
                           uint seed_hi, uint call, int l) {
    if (p_out > 0.0f) {
        const int keep =
            clrnn_dropout_keep(seed_lo, seed_hi, call, l, 0, RNG_STREAM_OUTPUT, (uint)(n * ycols + col), (uint)t, p_out);
        v = keep ? v * (1.0f / (1.0f - p_out)) : 0.0f;
    }
    y[((size_t)t * N + n) * ycols + col] = v;
}
#define WRITE_Y(t, n, k, v) write_y(y, (t), (n), N, ycols, ycol0 + (k), (v), p_out, seed_lo, seed_hi, call, l)

/* The parameters every forward step kernel opens with. XW [T*N, G*H]: the input projection of
 * all steps (x W^T, no bias); HR [N, G*H]: h_prev R^T of this step; Wb, Rb [G*H] this
 * direction's biases; res [T*N, S] the direction's reserve rows. */
#define TR_STEP_PARAMS                                                                             \
    const int s, const int T, const int N, const int H, const int Hr, const int d,                 \
        __global const int *tmap, __global const real *XW, __global const real *HR,                \
        __global const real *Wb, __global const real *Rb, __global const float *acts,              \
        const float clip, __global real *res, const int S

#define TR_PROLOGUE(width)                                                                         \
    const int j = get_global_id(0), n = get_global_id(1);                                          \
    if (j >= (width) || n >= N) return;                                                            \
    const int e = tmap[((size_t)d * T + s) * N + n];                                               \
    const int t = e & STEP_T_MASK;                                                                 \
    const int valid = (e & STEP_VALID) != 0;                                                       \
    const size_t row = (size_t)t * N + n;                                                          \
    __global real *rr = res + row * S

/* The carried state h_prev of row n, kept in the reserve at rr[0, Hr). A masked step leaves it as
 * it is, zeroes the reserve's `slots` slots (`stride` apart) from `off` and writes the policy's output. */
#define TR_STATE_IN(off, slots, stride)                                                            \
    __global real *hs = h_state + ((size_t)d * N + n) * Hr;                                        \
    const real hp = hs[j];                                                                         \
    rr[j] = hp;                                                                                    \
    if (!valid) {                                                                                  \
        for (int g_ = 0; g_ < (slots); ++g_) rr[(off) + g_ * (stride) + j] = 0.0f;                 \
        WRITE_Y(t, n, j, masked_output(policy, e, hp, fill));                                      \
        return;                                                                                    \
    }

/* The cell kernels (forward and backward) give a work-item 16 adjacent units of one batch row
 * (work-item (jb, n): units 16*jb.., `lanes` of them below the width) and do the arithmetic on
 * real16: PoCL does not vectorise the scalar form across work-items through activate()'s switch,
 * and the transcendentals were a third of a training step. A partial last block loads zeros into
 * its missing lanes and stores only the real ones (ld16, st16: common.cl). */

/* activate() on 16 lanes (the same ACTIVATION_BODY), and d act(clip(a)) / da for activation slot
 * `slot` of direction `dir` (the gradient contract: clip passes 1 inside [-clip, clip], 0 outside). */
static inline real16 act16(__global const float *acts, int dir, int slot, real16 x, float clip) {
    if (clip > 0.0f) x = CLAMP_NAN(x, (real16)-clip, (real16)clip);
    __global const float *a = acts + (dir * ACT_SLOTS + slot) * ACT_PARAMS;
    const int kind = (int)a[0];
    const float alpha = a[1], beta = a[2];
    ACTIVATION_BODY(real16, x, kind, alpha, beta)
}
static inline real16 dact16_raw(__global const float *acts, int dir, int slot, real16 x) {
    __global const float *p = acts + (dir * ACT_SLOTS + slot) * ACT_PARAMS;
    const int kind = (int)p[0];
    const float alpha = p[1], beta = p[2];
    const real16 zero = (real16)0.0f, one = (real16)1.0f;
    switch (kind) {
    case ACT_SIGMOID: {
        const real16 s = sigmoid_fast_real16(x); /* the forward's own (common.cl) */
        return s * (1.0f - s);
    }
    case ACT_TANH: {
        const real16 t = tanh_fast_real16(x);
        return 1.0f - t * t;
    }
    case ACT_RELU: return select(zero, one, x > 0.0f);
    case ACT_AFFINE: return (real16)alpha;
    case ACT_LEAKY_RELU: return select(one, (real16)alpha, x < 0.0f);
    case ACT_THRESHOLDED_RELU: return select(zero, one, x > alpha);
    case ACT_SCALED_TANH: {
        const real16 t = tanh_fast_real16(beta * x);
        return alpha * beta * (1.0f - t * t);
    }
    case ACT_HARD_SIGMOID: {
        const real16 v = alpha * x + beta;
        return select(zero, (real16)alpha, (v > 0.0f) & (v < 1.0f));
    }
    case ACT_ELU: return select(one, alpha * exp(x), x < 0.0f);
    case ACT_SOFTSIGN: {
        const real16 q = 1.0f + fabs(x);
        return 1.0f / (q * q);
    }
    case ACT_SOFTPLUS: return 1.0f / (1.0f + exp(-x));
    default: return one;
    }
}
static inline real16 dact16(__global const float *acts, int dir, int slot, real16 a, float clip) {
    const real16 g = dact16_raw(acts, dir, slot, a);
    return clip > 0.0f ? select(g, (real16)0.0f, (a < -clip) | (a > clip)) : g;
}
/* dact16 where y = act16(acts, dir, slot, a, clip) is already known: sigmoid and tanh from y (the
 * values dact16_raw recomputes, s (1 - s) and 1 - t t of the same exp / tanh: the same bits, an
 * exp or tanh per vector fewer; where |a| > clip, y is of the clamped a but the gradient is 0). */
static inline real16 dact16_y(__global const float *acts, int dir, int slot, real16 a, real16 y, float clip) {
    const int kind = (int)acts[(dir * ACT_SLOTS + slot) * ACT_PARAMS];
    const real16 g = kind == ACT_SIGMOID ? y * (1.0f - y) : kind == ACT_TANH ? 1.0f - y * y : dact16_raw(acts, dir, slot, a);
    return clip > 0.0f ? select(g, (real16)0.0f, (a < -clip) | (a > clip)) : g;
}

/* The dropout factors of 16 adjacent elements c0.. of a stream (all 1 when p = 0). */
static inline real16 drop16(uint seed_lo, uint seed_hi, uint call, int l, int d, int stream, uint c0, uint c1, float p,
                            int lanes) {
    if (p <= 0.0f) return (real16)1.0f;
    real tmp[16];
    for (int i = 0; i < 16; ++i)
        tmp[i] = i < lanes ? drop_factor(seed_lo, seed_hi, call, l, d, stream, c0 + (uint)i, c1, p) : 0.0f;
    return vload16(0, tmp);
}

static inline real16 masked_output16(int policy, int entry, real16 h_prev, float fill) {
    if (policy == MASKED_CARRY) return (entry & STEP_STARTED) ? h_prev : (real16)0.0f;
    if (policy == MASKED_FILL) return (real16)fill;
    return (real16)0.0f;
}

/* write_y on 16 lanes: one vector store without dropout, else element by element. */
static inline void write_y16(__global real *y, int t, int n, int N, int ycols, int col, real16 v, int lanes,
                             float p_out, uint seed_lo, uint seed_hi, uint call, int l) {
    if (p_out <= 0.0f) {
        st16(y + ((size_t)t * N + n) * ycols + col, v, lanes);
        return;
    }
    real tmp[16];
    vstore16(v, 0, tmp);
    for (int i = 0; i < lanes; ++i) write_y(y, t, n, N, ycols, col + i, tmp[i], p_out, seed_lo, seed_hi, call, l);
}
#define WRITE_Y16(t, n, k, v) \
    write_y16(y, (t), (n), N, ycols, ycol0 + (k), (v), lanes, p_out, seed_lo, seed_hi, call, l)

#define TR_PROLOGUE16(width)                                                                       \
    const int j = (int)get_global_id(0) * 16, n = get_global_id(1);                                \
    if (j >= (width) || n >= N) return;                                                            \
    const int lanes = min(16, (width) - j);                                                        \
    const int e = tmap[((size_t)d * T + s) * N + n];                                               \
    const int t = e & STEP_T_MASK;                                                                 \
    const int valid = (e & STEP_VALID) != 0;                                                       \
    const size_t row = (size_t)t * N + n;                                                          \
    __global real *rr = res + row * S

#define TR_STATE_IN16(off, slots, stride)                                                          \
    __global real *hs = h_state + ((size_t)d * N + n) * Hr;                                        \
    const real16 hp = ld16(hs + j, lanes);                                                         \
    st16(rr + j, hp, lanes);                                                                       \
    if (!valid) {                                                                                  \
        for (int g_ = 0; g_ < (slots); ++g_) st16(rr + (off) + g_ * (stride) + j, (real16)0.0f, lanes); \
        WRITE_Y16(t, n, j, masked_output16(policy, e, hp, fill));                                  \
        return;                                                                                    \
    }

/* The step's h_prev R^T inside the cell kernel (TR_FUSE_PARAMS, fuse_hr = 1: train.c, small
 * products): a launch a step fewer. Work-item (jb, n) sums its 16 columns col.. of R^T [Hr, ld]
 * against row n of h_prev in k order, fma by fma from 0, as sgemm_small sums the GEMM it replaces
 * (train.c fuses only where that GEMM would run there: the same bits). A work-group is one whole
 * row (local size = the row's work-items, exactly): its barrier keeps every h_prev read before
 * any work-item of the row writes its new h into h_state. */
#define TR_FUSE_PARAMS __global const real *RT, const int fuse_hr

static inline real16 hr_dot16(__global const real *h_prev, int Hr, __global const real *RT, int ld, int col,
                              int lanes) {
    real16 acc = (real16)0.0f;
    for (int k = 0; k < Hr; ++k) acc = fma((real16)(h_prev[k]), ld16(RT + (size_t)k * ld + col, lanes), acc);
    return acc;
}

/* Vanilla RNN: h = f(x W^T + h_prev R^T + Wb + Rb). */
__kernel void tr_rnn_fwd(TR_STEP_PARAMS, __global real *h_state, TR_Y_PARAMS, TR_FUSE_PARAMS) {
    TR_PROLOGUE16(H);
    /* the product and the barrier before the masked row's return (PoCL 3.1's LLVM crashed
     * compiling this kernel with the barrier after it) */
    real16 hr = (real16)0.0f;
    if (fuse_hr) {
        if (valid) hr = hr_dot16(h_state + ((size_t)d * N + n) * Hr, Hr, RT, H, j, lanes);
        barrier(CLK_GLOBAL_MEM_FENCE);
    } else {
        hr = ld16(HR + (size_t)n * H + j, lanes);
    }
    TR_STATE_IN16(Hr, 1, 0);
    const real16 a = ld16(XW + row * H + j, lanes) + hr + ld16(Wb + j, lanes) + ld16(Rb + j, lanes);
    st16(rr + Hr + j, a, lanes);
    const real16 h = act16(acts, d, 0, a, clip);
    st16(hs + j, h, lanes);
    WRITE_Y16(t, n, j, h);
}

/* LSTM (gates i, f, g, o; peepholes, CIFG, cell_clip, forget_bias). With the projection the step
 * leaves h_raw = o * h(c) to hraw_step; tr_proj_fwd writes the state and the output. */
__kernel void tr_lstm_fwd(TR_STEP_PARAMS, __global const real *P, __global real *h_state, __global real *c_state,
                          __global real *hraw_step, const int flags, const float cell_clip, const float forget_bias,
                          TR_Y_PARAMS, TR_FUSE_PARAMS) {
    TR_PROLOGUE16(H);
    const int GH = 4 * H, peep = flags & LSTM_PEEPHOLE, cifg = flags & LSTM_CIFG, proj = flags & LSTM_PROJ;
    const int o_pre = Hr, o_c = Hr + 4 * H, o_cu = Hr + 5 * H, o_hraw = Hr + 6 * H;
    __global real *cs = c_state + ((size_t)d * N + n) * H + j;
    __global real *hs = h_state + ((size_t)d * N + n) * Hr + j;
    const real16 cp = ld16(cs, lanes);
    if (!proj) st16(rr + j, ld16(hs, lanes), lanes);
    st16(rr + o_c + j, cp, lanes);
    if (!valid) {
        for (int g = 0; g < 4; ++g) st16(rr + o_pre + g * H + j, (real16)0.0f, lanes);
        st16(rr + o_cu + j, cp, lanes);
        if (proj) {
            st16(hraw_step + (size_t)n * H + j, (real16)0.0f, lanes);
            st16(rr + o_hraw + j, (real16)0.0f, lanes);
        } else {
            WRITE_Y16(t, n, j, masked_output16(policy, e, ld16(hs, lanes), fill));
        }
        return;
    }
    __global const real *xw = XW + row * GH + j, *hr = HR + (size_t)n * GH + j;
    real16 hr_i, hr_f, hr_g, hr_o;
    if (fuse_hr) { /* never with a projection (its h_state is written by tr_proj_fwd) */
        __global const real *h_prev = h_state + ((size_t)d * N + n) * Hr;
        hr_i = hr_dot16(h_prev, Hr, RT, GH, j, lanes);
        hr_f = cifg ? (real16)0.0f : hr_dot16(h_prev, Hr, RT, GH, H + j, lanes);
        hr_g = hr_dot16(h_prev, Hr, RT, GH, 2 * H + j, lanes);
        hr_o = hr_dot16(h_prev, Hr, RT, GH, 3 * H + j, lanes);
        barrier(CLK_GLOBAL_MEM_FENCE);
    } else {
        hr_i = ld16(hr, lanes), hr_f = cifg ? (real16)0.0f : ld16(hr + H, lanes);
        hr_g = ld16(hr + 2 * H, lanes), hr_o = ld16(hr + 3 * H, lanes);
    }
    const real16 zero = (real16)0.0f;
    const real16 a_i = ld16(xw, lanes) + hr_i + ld16(Wb + j, lanes) + ld16(Rb + j, lanes) +
                       (peep ? ld16(P + j, lanes) * cp : zero);
    const real16 i = act16(acts, d, 0, a_i, clip);
    real16 a_f = zero, f;
    if (cifg) {
        f = 1.0f - i;
    } else {
        a_f = ld16(xw + H, lanes) + hr_f + ld16(Wb + H + j, lanes) + ld16(Rb + H + j, lanes) +
              forget_bias + (peep ? ld16(P + H + j, lanes) * cp : zero);
        f = act16(acts, d, 0, a_f, clip);
    }
    const real16 a_g = ld16(xw + 2 * H, lanes) + hr_g + ld16(Wb + 2 * H + j, lanes) + ld16(Rb + 2 * H + j, lanes);
    const real16 g = act16(acts, d, 1, a_g, clip);
    const real16 cu = f * cp + i * g;
    const real16 c = cell_clip > 0.0f ? CLAMP_NAN(cu, (real16)-cell_clip, (real16)cell_clip) : cu;
    const real16 a_o = ld16(xw + 3 * H, lanes) + hr_o + ld16(Wb + 3 * H + j, lanes) + ld16(Rb + 3 * H + j, lanes) +
                       (peep ? ld16(P + 2 * H + j, lanes) * c : zero);
    const real16 o = act16(acts, d, 0, a_o, clip);
    const real16 h = o * act16(acts, d, 2, c, clip);
    st16(rr + o_pre + j, a_i, lanes);
    st16(rr + o_pre + H + j, a_f, lanes);
    st16(rr + o_pre + 2 * H + j, a_g, lanes);
    st16(rr + o_pre + 3 * H + j, a_o, lanes);
    st16(rr + o_cu + j, cu, lanes);
    st16(cs, c, lanes);
    if (proj) {
        st16(hraw_step + (size_t)n * H + j, h, lanes);
        st16(rr + o_hraw + j, h, lanes);
    } else {
        st16(hs, h, lanes);
        WRITE_Y16(t, n, j, h);
    }
}

/* LSTMP: m = proj_clip(h_raw W_proj^T) (M [N, Hr], a GEMM before this) becomes the state and the
 * output; the reserve keeps h_prev and m before the clip. */
__kernel void tr_proj_fwd(const int s, const int T, const int N, const int Hr, const int d, __global const int *tmap,
                          __global const real *M, __global real *res, const int S, const int o_m,
                          __global real *h_state, const float proj_clip, TR_Y_PARAMS) {
    TR_PROLOGUE(Hr);
    TR_STATE_IN(o_m, 1, 0);
    const real m = M[(size_t)n * Hr + j];
    rr[o_m + j] = m;
    const real v = proj_clip > 0.0f ? CLAMP_NAN(m, -proj_clip, proj_clip) : m;
    hs[j] = v;
    WRITE_Y(t, n, j, v);
}

/* GRU, linear before reset: n = g(x W_n^T + Wb_n + r * (h R_n^T + Rb_n)). */
__kernel void tr_gru_lbr_fwd(TR_STEP_PARAMS, __global real *h_state, TR_Y_PARAMS) {
    TR_PROLOGUE16(H);
    const int GH = 3 * H;
    TR_STATE_IN16(Hr, 4, H);
    __global const real *xw = XW + row * GH + j, *hr = HR + (size_t)n * GH + j;
    const real16 a_z = ld16(xw, lanes) + ld16(hr, lanes) + ld16(Wb + j, lanes) + ld16(Rb + j, lanes);
    const real16 a_r = ld16(xw + H, lanes) + ld16(hr + H, lanes) + ld16(Wb + H + j, lanes) + ld16(Rb + H + j, lanes);
    const real16 xn = ld16(xw + 2 * H, lanes) + ld16(Wb + 2 * H + j, lanes);
    const real16 hn = ld16(hr + 2 * H, lanes) + ld16(Rb + 2 * H + j, lanes);
    const real16 z = act16(acts, d, 0, a_z, clip), r = act16(acts, d, 0, a_r, clip);
    const real16 nn = act16(acts, d, 1, xn + r * hn, clip);
    const real16 h = (1.0f - z) * nn + z * hp;
    st16(rr + Hr + j, a_z, lanes);
    st16(rr + Hr + H + j, a_r, lanes);
    st16(rr + Hr + 2 * H + j, xn, lanes);
    st16(rr + Hr + 3 * H + j, hn, lanes);
    st16(hs + j, h, lanes);
    WRITE_Y16(t, n, j, h);
}

/* GRU, reset before, first half: z and r pre-activations, r * h_prev into rh_step (for the
 * GEMM h_prev-side of n) and the reserve. */
__kernel void tr_gru_gates_fwd(TR_STEP_PARAMS, __global const real *h_state, __global real *rh_step,
                               const float p_rec, const uint seed_lo, const uint seed_hi, const uint call, const int l,
                               const int drop_mode) {
    TR_PROLOGUE16(H);
    const int GH = 3 * H;
    const real16 hp = ld16(h_state + ((size_t)d * N + n) * Hr + j, lanes);
    st16(rr + j, hp, lanes);
    if (!valid) {
        for (int g = 0; g < 4; ++g) st16(rr + Hr + g * H + j, (real16)0.0f, lanes);
        st16(rh_step + (size_t)n * H + j, (real16)0.0f, lanes);
        return;
    }
    __global const real *xw = XW + row * GH + j, *hr = HR + (size_t)n * GH + j;
    const real16 a_z = ld16(xw, lanes) + ld16(hr, lanes) + ld16(Wb + j, lanes) + ld16(Rb + j, lanes);
    const real16 a_r = ld16(xw + H, lanes) + ld16(hr + H, lanes) + ld16(Wb + H + j, lanes) + ld16(Rb + H + j, lanes);
    /* recurrent dropout: n's recurrent product sees r * (h_prev * m_n) */
    const real16 m_n = drop16(seed_lo, seed_hi, call, l, d, RNG_STREAM_RECURRENT + ((drop_mode & RNG_DROP_SHARED) ? 0 : 2),
                              (uint)(n * Hr + j), (drop_mode & RNG_DROP_PER_STEP) ? (uint)t : 0u, p_rec, lanes);
    const real16 rh = act16(acts, d, 0, a_r, clip) * select(hp * m_n, (real16)0.0f, m_n == 0.0f);
    st16(rr + Hr + j, a_z, lanes);
    st16(rr + Hr + H + j, a_r, lanes);
    st16(rr + Hr + 3 * H + j, rh, lanes);
    st16(rh_step + (size_t)n * H + j, rh, lanes);
}

/* GRU, reset before, second half: n = g(x W_n^T + Wb_n + (r * h_prev) R_n^T + Rb_n) (HR's n block
 * holds the GEMM), then h. */
__kernel void tr_gru_out_fwd(TR_STEP_PARAMS, __global real *h_state, TR_Y_PARAMS) {
    TR_PROLOGUE16(H);
    const int GH = 3 * H;
    __global real *hs = h_state + ((size_t)d * N + n) * Hr + j;
    const real16 hp = ld16(hs, lanes);
    if (!valid) {
        WRITE_Y16(t, n, j, masked_output16(policy, e, hp, fill));
        return;
    }
    const real16 a_n = ld16(XW + row * GH + 2 * H + j, lanes) + ld16(Wb + 2 * H + j, lanes) +
                       ld16(HR + (size_t)n * GH + 2 * H + j, lanes) + ld16(Rb + 2 * H + j, lanes);
    st16(rr + Hr + 2 * H + j, a_n, lanes);
    const real16 z = act16(acts, d, 0, ld16(rr + Hr + j, lanes), clip);
    const real16 h = (1.0f - z) * act16(acts, d, 1, a_n, clip) + z * hp;
    st16(hs, h, lanes);
    WRITE_Y16(t, n, j, h);
}

/* ------------------------------------------------------------------------------------------
 * Backward, one step s of direction d (walked from s = T-1 down to 0)
 * ---------------------------------------------------------------------------------------- */

/* The gradient reaching this step's output h (width Hr): the state's dh (from later steps, dhn,
 * last_only) plus dy at time t (through this layer's output dropout), plus what CARRY collected
 * from masked steps after it. Computed step: dh_step = that sum (LSTMP: through proj_clip, and kept
 * as dM for the projection's gradient), dh_next = 0 (the cell kernels and the GEMM fill it);
 * masked step: dh passes unchanged to dh_next, and under CARRY dy joins `carry` (when a computed
 * step comes before it in processing order; else it is dropped). */
__kernel void tr_bwd_out(const int s, const int T, const int N, const int Hr, const int d, __global const int *tmap,
                         __global const real *dY, const int has_dy, const int ycols, const int ycol0,
                         const float p_out, const uint seed_lo, const uint seed_hi, const uint call, const int l,
                         const int policy, __global const real *dh_state, __global real *dh_next,
                         __global real *carry, __global real *dh_step, const int proj, __global const real *res,
                         const int S, const int o_m, const float proj_clip, __global real *dM) {
    const int k = get_global_id(0), n = get_global_id(1);
    if (k >= Hr || n >= N) return;
    const int e = tmap[((size_t)d * T + s) * N + n];
    const int t = e & STEP_T_MASK;
    const size_t row = (size_t)t * N + n, idx = ((size_t)d * N + n) * Hr + k, cidx = (size_t)n * Hr + k;
    real dy = 0.0f;
    if (has_dy) {
        dy = dY[row * ycols + ycol0 + k];
        if (p_out > 0.0f)
            dy *= drop_factor(seed_lo, seed_hi, call, l, 0, RNG_STREAM_OUTPUT, (uint)(n * ycols + ycol0 + k), (uint)t,
                              p_out);
    }
    if (e & STEP_VALID) {
        real g = dh_state[idx] + dy + carry[cidx];
        carry[cidx] = 0.0f;
        if (proj) {
            const real m = res[row * S + o_m + k];
            if (proj_clip > 0.0f && (m < -proj_clip || m > proj_clip)) g = 0.0f;
            dM[row * Hr + k] = g;
        }
        dh_step[cidx] = g;
        dh_next[idx] = 0.0f;
    } else {
        if (policy == MASKED_CARRY && (e & STEP_STARTED)) carry[cidx] += dy;
        dh_next[idx] = dh_state[idx];
        dh_step[cidx] = 0.0f;
        if (proj) dM[row * Hr + k] = 0.0f;
    }
}

/* The parameters of the cell backward kernels: dh [N, H] the gradient of this step's h (or h_raw),
 * dGt [T*N, G*H] the gate gradients by time (for dW, dWb), dGs [N, G*H] this step's (for dh_prev). */
#define TR_BWD_PARAMS                                                                              \
    const int s, const int T, const int N, const int H, const int Hr, const int d,                 \
        __global const int *tmap, __global const real *res, const int S,                           \
        __global const float *acts, const float clip, __global const real *dh,                     \
        __global real *dGt, __global real *dGs
/* The cell backward bodies are inline functions of the work-item's position (jb_: the block of 16
 * units, n_: the batch row), so the fused backward scan (bwd_tiled.cl) runs the same arithmetic;
 * the tr_*_bwd kernels below pass get_global_id. */
#define TR_BWD_AT const int jb_, const int n_, TR_BWD_PARAMS
#define TR_BWD_ARGS s, T, N, H, Hr, d, tmap, res, S, acts, clip, dh, dGt, dGs

/* Without a projection (H = Hr) the cell kernels also do tr_bwd_out's work for their lanes
 * (fused = 1: one launch a step fewer); dh is then not read. The same arithmetic as tr_bwd_out. */
#define TR_OUT_PARAMS                                                                              \
    const int fused, __global const real *dY, const int has_dy, const int ycols, const int ycol0,  \
        const float p_out, const uint seed_lo, const uint seed_hi, const uint call, const int l,   \
        const int policy, __global const real *dh_state, __global real *dh_out, __global real *carry
#define TR_OUT_ARGS fused, dY, has_dy, ycols, ycol0, p_out, seed_lo, seed_hi, call, l, policy, dh_state, dh_out, carry

/* The previous step's dG R inside the cell kernel (TR_BWD_FUSE_PARAMS, fuse_dh = 1: train.c, small
 * products, every step but the first processed): the state's gradient is dh_state + dGs R, dGs
 * [N, G*H] the gate gradients the previous launch left, R [G*H, Hr]; the sum over k in order, fma
 * by fma from 0, then added, as sgemm_small's beta = 1 GEMM it replaces (the same bits). As in the
 * forward, a work-group is one row, and a barrier keeps the row's dGs reads before its writes. */
#define TR_BWD_FUSE_PARAMS __global const real *Rm, const int fuse_dh
/* what the cell bodies take of it: whether there is a product, and its value for the lanes */
#define TR_BWD_DH_ADD const int fuse_dh, const real16 dh_add

/* dh_state's 16 lanes at idx, plus the fused product when there is one. */
static inline real16 dh_in16(__global const real *dh_state, size_t idx, int lanes, int fuse_dh, real16 dh_add) {
    const real16 v = ld16(dh_state + idx, lanes);
    return fuse_dh ? v + dh_add : v;
}

static inline real16 bwd_out16(int lanes, int j, int n, int e, int N, int Hr, int d, __global const real *dY,
                               int has_dy, int ycols, int ycol0, float p_out, uint seed_lo, uint seed_hi, uint call,
                               int l, int policy, __global const real *dh_state, __global real *dh_out,
                               __global real *carry, int fuse_dh, real16 dh_add) {
    const int t = e & STEP_T_MASK;
    const size_t row = (size_t)t * N + n, idx = ((size_t)d * N + n) * Hr + j, cidx = (size_t)n * Hr + j;
    real16 dy = (real16)0.0f;
    if (has_dy) {
        dy = ld16(dY + row * ycols + ycol0 + j, lanes);
        if (p_out > 0.0f)
            dy *= drop16(seed_lo, seed_hi, call, l, 0, RNG_STREAM_OUTPUT, (uint)(n * ycols + ycol0 + j), (uint)t, p_out,
                         lanes);
    }
    if (e & STEP_VALID) {
        const real16 g = dh_in16(dh_state, idx, lanes, fuse_dh, dh_add) + dy + ld16(carry + cidx, lanes);
        st16(carry + cidx, (real16)0.0f, lanes);
        st16(dh_out + idx, (real16)0.0f, lanes);
        return g;
    }
    if (policy == MASKED_CARRY && (e & STEP_STARTED)) st16(carry + cidx, ld16(carry + cidx, lanes) + dy, lanes);
    st16(dh_out + idx, dh_in16(dh_state, idx, lanes, fuse_dh, dh_add), lanes);
    return (real16)0.0f;
}
/* The gradient of this step's h (or h_raw): tr_bwd_out's result in dh, or computed here. */
#define TR_DH16_ADD(fuse_dh, dh_add)                                                               \
    (fused ? bwd_out16(lanes, j, n, e, N, Hr, d, dY, has_dy, ycols, ycol0, p_out, seed_lo, seed_hi, call, l, policy, \
                       dh_state, dh_out, carry, (fuse_dh), (dh_add))                               \
           : ld16(dh + (size_t)n * H + j, lanes))
#define TR_DH16() TR_DH16_ADD(0, (real16)0.0f)

#define TR_BWD_PROLOGUE16(G)                                                                       \
    const int j = jb_ * 16, n = n_;                                                                \
    if (j >= H || n >= N) return;                                                                  \
    const int lanes = min(16, H - j);                                                              \
    const int e = tmap[((size_t)d * T + s) * N + n];                                               \
    const int t = e & STEP_T_MASK;                                                                 \
    const size_t row = (size_t)t * N + n;                                                          \
    const real16 dhv = TR_DH16_ADD(fuse_dh, dh_add);                                               \
    __global real *gt = dGt + row * (G) * H + j, *gs = dGs + (size_t)n * (G) * H + j;              \
    if (!(e & STEP_VALID)) {                                                                       \
        for (int g_ = 0; g_ < (G); ++g_) {                                                         \
            st16(gt + g_ * H, (real16)0.0f, lanes);                                                \
            st16(gs + g_ * H, (real16)0.0f, lanes);                                                \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    __global const real *rr = res + row * S

/* gt and gs at gate slot `g_` get v */
#define STORE_DG(g_, v)                                                                            \
    do {                                                                                           \
        const real16 v_ = (v);                                                                     \
        st16(gt + (g_) * H, v_, lanes);                                                            \
        st16(gs + (g_) * H, v_, lanes);                                                            \
    } while (0)

static inline void tr_rnn_bwd_at(TR_BWD_AT, TR_OUT_PARAMS, TR_BWD_DH_ADD) {
    TR_BWD_PROLOGUE16(1);
    const real16 g = dhv * dact16(acts, d, 0, ld16(rr + Hr + j, lanes), clip);
    STORE_DG(0, g);
}

static inline void tr_lstm_bwd_at(TR_BWD_AT, __global const real *P, __global real *dc_state, const int flags,
                                  const float cell_clip, TR_OUT_PARAMS, TR_BWD_DH_ADD) {
    TR_BWD_PROLOGUE16(4);
    const int peep = flags & LSTM_PEEPHOLE, cifg = flags & LSTM_CIFG;
    const int o_pre = Hr, o_c = Hr + 4 * H, o_cu = Hr + 5 * H;
    const real16 a_i = ld16(rr + o_pre + j, lanes), a_f = ld16(rr + o_pre + H + j, lanes);
    const real16 a_g = ld16(rr + o_pre + 2 * H + j, lanes), a_o = ld16(rr + o_pre + 3 * H + j, lanes);
    const real16 cp = ld16(rr + o_c + j, lanes), cu = ld16(rr + o_cu + j, lanes);
    const real16 c = cell_clip > 0.0f ? CLAMP_NAN(cu, (real16)-cell_clip, (real16)cell_clip) : cu;
    const real16 i = act16(acts, d, 0, a_i, clip);
    const real16 f = cifg ? 1.0f - i : act16(acts, d, 0, a_f, clip);
    const real16 g = act16(acts, d, 1, a_g, clip), o = act16(acts, d, 0, a_o, clip);
    const real16 hc = act16(acts, d, 2, c, clip), dhc = dact16_y(acts, d, 2, c, hc, clip);
    const real16 da_o = dhv * hc * dact16_y(acts, d, 0, a_o, o, clip);
    __global real *dcs = dc_state + ((size_t)d * N + n) * H + j;
    real16 dc = ld16(dcs, lanes) + dhv * o * dhc + (peep ? da_o * ld16(P + 2 * H + j, lanes) : (real16)0.0f);
    if (cell_clip > 0.0f) dc = select(dc, (real16)0.0f, (cu < -cell_clip) | (cu > cell_clip));
    real16 di = dc * g, da_f = (real16)0.0f;
    const real16 df = dc * cp;
    if (cifg) di -= df;
    else da_f = df * dact16_y(acts, d, 0, a_f, f, clip);
    const real16 da_i = di * dact16_y(acts, d, 0, a_i, i, clip);
    const real16 da_g = dc * i * dact16_y(acts, d, 1, a_g, g, clip);
    real16 dcp = dc * f;
    if (peep) dcp += da_i * ld16(P + j, lanes) + da_f * ld16(P + H + j, lanes);
    st16(dcs, dcp, lanes);
    STORE_DG(0, da_i);
    STORE_DG(1, da_f);
    STORE_DG(2, da_g);
    STORE_DG(3, da_o);
}

/* GRU, both flavours: z, n (and lbr's r) gradients; dh_next gets the direct z * dh term.
 * lbr: dGt holds the x-side gradients (W, Wb: da_n), dGh_t and dGs the h-side ones (R, Rb and
 * dh_prev: r * da_n). Reset before: r's gradient needs (r * h_prev)'s, after the GEMM through R_n
 * (tr_gru_rb_r); its slots are left 0 here. */
static inline void tr_gru_bwd_at(TR_BWD_AT, const int lbr, __global real *dGh_t, __global real *dh_next,
                                 TR_OUT_PARAMS) {
    const int j = jb_ * 16, n = n_;
    if (j >= H || n >= N) return;
    const int lanes = min(16, H - j);
    const int e = tmap[((size_t)d * T + s) * N + n];
    const int t = e & STEP_T_MASK;
    const size_t row = (size_t)t * N + n;
    const real16 dhv = TR_DH16();
    __global real *gt = dGt + row * 3 * H + j, *gs = dGs + (size_t)n * 3 * H + j;
    __global real *gh = lbr ? dGh_t + row * 3 * H + j : gt;
    const real16 zero = (real16)0.0f;
    if (!(e & STEP_VALID)) {
        for (int g = 0; g < 3; ++g) {
            st16(gt + g * H, zero, lanes);
            st16(gs + g * H, zero, lanes);
            st16(gh + g * H, zero, lanes);
        }
        return;
    }
    __global const real *rr = res + row * S;
    const real16 hp = ld16(rr + j, lanes), a_z = ld16(rr + Hr + j, lanes), a_r = ld16(rr + Hr + H + j, lanes);
    const real16 third = ld16(rr + Hr + 2 * H + j, lanes), fourth = ld16(rr + Hr + 3 * H + j, lanes);
    /* r: only the lbr GRU's n reads it here (reset-before: tr_gru_rb_r) */
    const real16 z = act16(acts, d, 0, a_z, clip), r = lbr ? act16(acts, d, 0, a_r, clip) : (real16)0.0f;
    const real16 a_n = lbr ? third + r * fourth : third;
    const real16 nn = act16(acts, d, 1, a_n, clip);
    const real16 da_n = dhv * (1.0f - z) * dact16_y(acts, d, 1, a_n, nn, clip);
    const real16 da_z = dhv * (hp - nn) * dact16_y(acts, d, 0, a_z, z, clip);
    __global real *dn = dh_next + ((size_t)d * N + n) * Hr + j;
    st16(dn, ld16(dn, lanes) + dhv * z, lanes);
    STORE_DG(0, da_z);
    st16(gt + 2 * H, da_n, lanes);
    if (lbr) {
        const real16 da_r = da_n * fourth * dact16_y(acts, d, 0, a_r, r, clip);
        STORE_DG(1, da_r);
        st16(gh, da_z, lanes);
        st16(gh + H, da_r, lanes);
        const real16 rn = da_n * r;
        st16(gh + 2 * H, rn, lanes);
        st16(gs + 2 * H, rn, lanes);
    } else {
        st16(gs + 2 * H, da_n, lanes);
        STORE_DG(1, zero);
    }
}

/* GRU reset before: d_rh [N, H] = dG_n R_n (a GEMM before this) gives r's gradient and the
 * r * dh_prev term. */
static inline void tr_gru_rb_r_at(TR_BWD_AT, __global const real *d_rh, __global real *dh_next, const float p_rec,
                                  const uint seed_lo, const uint seed_hi, const uint call, const int l,
                                  const int drop_mode) {
    const int j = jb_ * 16, n = n_;
    if (j >= H || n >= N) return;
    const int lanes = min(16, H - j);
    const int e = tmap[((size_t)d * T + s) * N + n];
    if (!(e & STEP_VALID)) return;
    const int t = e & STEP_T_MASK;
    const size_t row = (size_t)t * N + n;
    __global const real *rr = res + row * S;
    const real16 hp = ld16(rr + j, lanes), a_r = ld16(rr + Hr + H + j, lanes);
    const real16 r = act16(acts, d, 0, a_r, clip);
    const real16 drh = ld16(d_rh + (size_t)n * H + j, lanes);
    (void)dh;
    const real16 m_n = drop16(seed_lo, seed_hi, call, l, d, RNG_STREAM_RECURRENT + ((drop_mode & RNG_DROP_SHARED) ? 0 : 2),
                              (uint)(n * Hr + j), (drop_mode & RNG_DROP_PER_STEP) ? (uint)t : 0u, p_rec, lanes);
    const int16 dropped = m_n == 0.0f;
    const real16 da_r = select(drh * hp * m_n * dact16_y(acts, d, 0, a_r, r, clip), (real16)0.0f, dropped);
    st16(dGt + row * 3 * H + H + j, da_r, lanes);
    st16(dGs + (size_t)n * 3 * H + H + j, da_r, lanes);
    __global real *dn = dh_next + ((size_t)d * N + n) * Hr + j;
    st16(dn, select(ld16(dn, lanes) + drh * r * m_n, ld16(dn, lanes), dropped), lanes);
}

/* The previous step's dGs R for this work-item's 16 lanes (fuse_dh: see TR_BWD_FUSE_PARAMS), then
 * the barrier that keeps the row's dGs reads before the cell body overwrites dGs; every work-item
 * of the group reaches it (fuse_dh is the same for all). */
#define TR_FUSED_DH_ADD(G)                                                                         \
    real16 dh_add = (real16)0.0f;                                                                  \
    if (fuse_dh) {                                                                                 \
        const int j_ = (int)get_global_id(0) * 16, n_ = get_global_id(1);                          \
        if (j_ < H && n_ < N) {                                                                    \
            const int lanes_ = min(16, H - j_);                                                    \
            __global const real *dg_prev = dGs + (size_t)n_ * (G) * H;                             \
            for (int k_ = 0; k_ < (G) * H; ++k_)                                                   \
                dh_add = fma((real16)(dg_prev[k_]), ld16(Rm + (size_t)k_ * Hr + j_, lanes_), dh_add); \
        }                                                                                          \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                             \
    }

__kernel void tr_rnn_bwd(TR_BWD_PARAMS, TR_OUT_PARAMS, TR_BWD_FUSE_PARAMS) {
    TR_FUSED_DH_ADD(1)
    tr_rnn_bwd_at(get_global_id(0), get_global_id(1), TR_BWD_ARGS, TR_OUT_ARGS, fuse_dh, dh_add);
}
__kernel void tr_lstm_bwd(TR_BWD_PARAMS, __global const real *P, __global real *dc_state, const int flags,
                          const float cell_clip, TR_OUT_PARAMS, TR_BWD_FUSE_PARAMS) {
    TR_FUSED_DH_ADD(4)
    tr_lstm_bwd_at(get_global_id(0), get_global_id(1), TR_BWD_ARGS, P, dc_state, flags, cell_clip, TR_OUT_ARGS,
                   fuse_dh, dh_add);
}
__kernel void tr_gru_bwd(TR_BWD_PARAMS, const int lbr, __global real *dGh_t, __global real *dh_next, TR_OUT_PARAMS) {
    tr_gru_bwd_at(get_global_id(0), get_global_id(1), TR_BWD_ARGS, lbr, dGh_t, dh_next, TR_OUT_ARGS);
}
__kernel void tr_gru_rb_r(TR_BWD_PARAMS, __global const real *d_rh, __global real *dh_next, const float p_rec,
                          const uint seed_lo, const uint seed_hi, const uint call, const int l, const int drop_mode) {
    tr_gru_rb_r_at(get_global_id(0), get_global_id(1), TR_BWD_ARGS, d_rh, dh_next, p_rec, seed_lo, seed_hi, call, l,
                   drop_mode);
}

/* The gradient of the last layer's output from the merged one (the forward merge_outputs in
 * reverse: each (d, t, n) source is reached from exactly one output row, so this is a scatter
 * without conflicts). dst and ysrc share the strides (st_t, st_n, st_d); ysrc is the layer's
 * output (mul needs the other direction's). Sources of rows without a computed step (last_only,
 * has_any = 0) get 0: their output was the policy's constant. */
__kernel void tr_merge_bwd(const int T, const int N, const int D, const int Hr, const int mode, const int batch_major,
                           const int rev_mask, __global const int *tmap, const int has_any_off,
                           __global const real *dm, __global real *dst, __global const real *ysrc, const int st_t,
                           const int st_n, const int st_d, const int policy, const float fill) {
    const int n = get_global_id(0), t = get_global_id(1);
    if (n >= N) return;
    __global const int *ha = has_any_off >= 0 ? tmap + has_any_off : 0;
    const size_t row = batch_major ? (size_t)n * T + t : (size_t)t * N + n;
    const real masked = policy == MASKED_FILL ? fill : 0.0f;
    size_t off[2];
    int live[2];
    for (int dd = 0; dd < D; ++dd) {
        live[dd] = !ha || ha[dd * N + n];
        const int tt = (rev_mask & (1 << dd)) ? tmap[((size_t)dd * T + t) * N + n] & STEP_T_MASK : t;
        off[dd] = (size_t)tt * st_t + (size_t)n * st_n + (size_t)dd * st_d;
    }
    for (int dd = 0; dd < D; ++dd) {
        __global real *o = dst + off[dd];
        if (!live[dd]) {
            for (int k = 0; k < Hr; ++k) o[k] = 0.0f;
            continue;
        }
        if (mode == MERGE_CONCAT || mode == MERGE_NONE) {
            __global const real *g = dm + (mode == MERGE_CONCAT ? row * D * Hr + (size_t)dd * Hr
                                           : batch_major ? (row * D + dd) * Hr : (((size_t)t * D + dd) * N + n) * Hr);
            for (int k = 0; k < Hr; ++k) o[k] = g[k];
        } else if (mode == MERGE_MUL) {
            const int other = 1 - dd;
            __global const real *g = dm + row * Hr, *b = ysrc + off[other];
            for (int k = 0; k < Hr; ++k) o[k] = g[k] * (live[other] ? b[k] : masked);
        } else {
            const real scale = mode == MERGE_AVE ? 0.5f : 1.0f;
            __global const real *g = dm + row * Hr;
            for (int k = 0; k < Hr; ++k) o[k] = g[k] * scale;
        }
    }
}

/* Dropout's masks on a block of rows: dst = src * mask (accumulate: dst += src * mask), column c
 * of C. Rows are time rows t*N + n (s < 0) or the batch rows of step s (t from the step table).
 * The mask of element (n, c) is draw (n*C + c, per_step ? t : 0) of `stream`, direction d. */
__kernel void tr_drop(__global const real *src, const ulong src_off, const int src_ld, __global real *dst,
                      const ulong dst_off, const int dst_ld, const int C, const int N, const int T,
                      __global const int *tmap, const int s, const int d, const float p, const uint seed_lo,
                      const uint seed_hi, const uint call, const int l, const int stream, const int per_step,
                      const int accumulate) {
    const int c = get_global_id(0), row = get_global_id(1);
    if (c >= C) return;
    int t, n;
    if (s < 0) {
        t = row / N, n = row % N;
    } else {
        n = row, t = tmap[((size_t)d * T + s) * N + n] & STEP_T_MASK;
    }
    const real f = drop_factor(seed_lo, seed_hi, call, l, d, stream, (uint)(n * C + c), per_step ? (uint)t : 0u, p);
    const real v = src[src_off + (size_t)row * src_ld + c];
    const real out = f == 0.0f ? 0.0f : v * f;
    __global real *o = dst + dst_off + (size_t)row * dst_ld + c;
    *o = accumulate ? *o + out : out;
}

/* Zeroes the rows (t, n) of a time-major [T*N, C] input that no step computes (direction 0's
 * table visits each (t, n) once): whatever padding holds (NaN included) cannot reach a weight
 * gradient through a zero gate gradient. */
__kernel void tr_zero_masked_rows(__global real *x, __global const int *tmap, const int T, const int N, const int C) {
    const int c = get_global_id(0), n = get_global_id(1), s = get_global_id(2);
    if (c >= C) return;
    const int e = tmap[(size_t)s * N + n];
    if (!(e & STEP_VALID)) x[((size_t)(e & STEP_T_MASK) * N + n) * C + c] = 0.0f;
}

/* dst [cols, rows] = src [rows, cols]^T; work-item (r, c), r along the rows of src (dst's
 * contiguous direction). */
__kernel void tr_transpose(__global const real *src, const int rows, const int cols, __global real *dst) {
    const int r = get_global_id(0), c = get_global_id(1);
    if (r < rows) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* dst[i] += src[i] */
__kernel void tr_add(__global real *dst, __global const real *src, const int count) {
    const int i = get_global_id(0);
    if (i < count) dst[i] += src[i];
}

/* Rows between time-major [T, N, C] and batch-major [N, T, C]: to_time = 1 reads batch-major. */
__kernel void tr_permute(__global const real *src, const ulong src_off, __global real *dst, const ulong dst_off,
                         const int T, const int N, const int C, const int to_time) {
    const int c = get_global_id(0), n = get_global_id(1), t = get_global_id(2);
    if (c >= C) return;
    const size_t tm = ((size_t)t * N + n) * C + c, bm = ((size_t)n * T + t) * C + c;
    dst[dst_off + (to_time ? tm : bm)] = src[src_off + (to_time ? bm : tm)];
}

/* dst[c] (+)= sum over rows r, in order, of src[off + r * ld + c]: bias gradients, deterministic.
 * A work-item sums `groups` adjacent 16-column groups (float16 each: a cache line per row on CPUs,
 * where a column a work-item would walk the rows 1 float per line). The host asks for 8 on CPU
 * devices: a row of dG is 4H floats (8 KB at H = 512), a stride no prefetcher follows, so each
 * row then brings 8 cache lines in flight at once instead of 1 (the S1 bias gradient, 6400 x 2048,
 * had been 16.5 ms); 1 elsewhere. Each column's sum is still row 0, 1, 2, ... in order: the same
 * bits whatever the grouping. */
__kernel void tr_colsum(__global const real *src, const int off, const int ld, const int rows, const int cols,
                        __global real *dst, const int add, const int groups) {
    const int c0 = get_global_id(0) * 16 * groups;
    if (groups == 8 && c0 + 128 <= cols) {
        /* named accumulators, not an array: kept in registers */
        real16 s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
        for (int r = 0; r < rows; ++r) {
            __global const real *p = src + off + (size_t)r * ld + c0;
            s0 += vload16(0, p), s1 += vload16(1, p), s2 += vload16(2, p), s3 += vload16(3, p);
            s4 += vload16(4, p), s5 += vload16(5, p), s6 += vload16(6, p), s7 += vload16(7, p);
        }
        __global real *d = dst + c0;
        if (add) {
            s0 += vload16(0, d), s1 += vload16(1, d), s2 += vload16(2, d), s3 += vload16(3, d);
            s4 += vload16(4, d), s5 += vload16(5, d), s6 += vload16(6, d), s7 += vload16(7, d);
        }
        vstore16(s0, 0, d), vstore16(s1, 1, d), vstore16(s2, 2, d), vstore16(s3, 3, d);
        vstore16(s4, 4, d), vstore16(s5, 5, d), vstore16(s6, 6, d), vstore16(s7, 7, d);
        return;
    }
    for (int g = 0; g < groups; ++g) {
        const int cg = c0 + 16 * g;
        if (cg >= cols) return;
        if (cg + 16 <= cols) {
            real16 acc = (real16)(0.0f);
            for (int r = 0; r < rows; ++r) acc += vload16(0, src + off + (size_t)r * ld + cg);
            if (add) acc += vload16(0, dst + cg);
            vstore16(acc, 0, dst + cg);
            continue;
        }
        for (int c = cg; c < cols; ++c) {
            real acc = 0.0f;
            for (int r = 0; r < rows; ++r) acc += src[off + (size_t)r * ld + c];
            dst[c] = add ? dst[c] + acc : acc;
        }
    }
}

/* Peephole gradients: dP_i = sum da_i * c_prev, dP_f = sum da_f * c_prev, dP_o = sum da_o * c,
 * over all rows in order (dG [rows, 4H], the reserve rows for c_prev and the unclipped c). */
__kernel void tr_peep_grad(__global const real *dG, __global const real *res, const int S, const int Hr, const int H,
                           const int rows, const float cell_clip, __global real *dP, const int add) {
    const int j = get_global_id(0);
    if (j >= H) return;
    real ai = 0.0f, af = 0.0f, ao = 0.0f;
    const int o_c = Hr + 4 * H, o_cu = Hr + 5 * H;
    for (int r = 0; r < rows; ++r) {
        __global const real *g = dG + (size_t)r * 4 * H + j, *rr = res + (size_t)r * S;
        const real cp = rr[o_c + j], cu = rr[o_cu + j];
        const real c = cell_clip > 0.0f ? CLAMP_NAN(cu, -cell_clip, cell_clip) : cu;
        ai += g[0] * cp;
        af += g[H] * cp;
        ao += g[3 * H] * c;
    }
    dP[j] = add ? dP[j] + ai : ai;
    dP[H + j] = add ? dP[H + j] + af : af;
    dP[2 * H + j] = add ? dP[2 * H + j] + ao : ao;
}
