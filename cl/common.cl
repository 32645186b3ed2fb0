/* Helpers shared by every kernel: activations (ONNX list), clipping, the step table, and the
 * recurrent dot product h_prev · Rᵀ with h_prev staged in local memory.
 * Built without -cl-fast-relaxed-math: sigmoid and tanh are clrnn's own (sigmoid_fast_, tanh_fast_),
 * the other transcendentals the IEEE-conformant built-ins. */

/* The constants shared with the host (ACT_, STEP_, MASKED_, MERGE_, LSTM_): abi.h, embedded
 * before this file. */

/* Precision. REAL (the build option -DREAL=..., program.c; float when absent) is the type of the
 * tensors the kernels read and write (weights, biases, states, projections, outputs, local tiles)
 * and of their arithmetic; realN are its vectors. The stored tensors of the forward kernels are `store`
 * (storage.h, embedded before this file), read and written through LOAD/STORE: fp32, or fp16/bf16
 * widened to real on load. Host scalars (clip, fill, proj_clip) and the
 * activation table stay float. */
#ifndef REAL
#define REAL float
#endif
#define REAL_VEC_(t, n) t##n
#define REAL_VEC(t, n) REAL_VEC_(t, n) /* REAL_VEC(float, 16) is float16 */
typedef REAL real;
typedef REAL_VEC(REAL, 4) real4;
typedef REAL_VEC(REAL, 16) real16;

/* clamp() that keeps NaN: OpenCL's clamp is fmin(fmax(x, lo), hi), which turns NaN into lo. Works
 * for real and realN (select and the comparisons are element-wise). */
#define CLAMP_NAN(x, lo, hi) select(select((x), (lo), (x) < (lo)), (hi), (x) > (hi))

/* sigmoid and tanh, the hot activations, for real and real16 (the suffix names the type:
 * ACTIVATION_BODY pastes its T onto it), from one exp of a non-positive argument: straight-line FMAs,
 * one division and a few selects, the same form on every lane and in every kernel, whatever the
 * device's libm (PoCL 3.1's tanh on 16 lanes: 57 instructions, two divisions; this one 41, one).
 * Error against double over every float short of the limits (tests/unit/test_activations.c,
 * CLRNN_ACT_SWEEP=all): at most 2.41 ulp (sigmoid) and 1.55 ulp (tanh). Exact limits: sigmoid(-inf) = +0,
 * sigmoid(+inf) = 1, tanh(+-inf) = +-1, tanh(-0) = -0; NaN in, NaN out; no overflow for any x (only
 * exp(-|x|) and exp(-2|x|) are taken, both in [0, 1]). Written with fma() and no form whose value
 * depends on contraction, so the bits are the same on every run (REAL is float: program.c); the
 * bounds take a correctly rounded division (PoCL; OpenCL allows a float division 2.5 ulp).
 *   exp_neg_(x), x <= 0 or NaN: x = n ln2 + r with n = rint(x / ln2) by the 1.5 * 2^23 rounding
 *     trick (no float -> int conversion, so NaN goes through to the polynomial), ln2 in two parts
 *     (Cody-Waite), |r| <= ln2 / 2; exp(r) = 1 + r + r^2 u(r), u a degree-4 Chebyshev fit
 *     (0.13 ulp) evaluated by Estrin's scheme (a short dependency chain); 2^n from exponent bits, in
 *     two factors below the normal floats so that the subnormal results are right; x < -104 gives
 *     0 (exp(-104) rounds to 0).
 *   sigmoid: e = exp(-|x|), then 1 / (1 + e) for x >= 0 and e / (1 + e) below (no cancellation,
 *     no overflow, tiny results for very negative x).
 *   tanh, on |x| with the sign put back: below 0.625, |x| + |x|^3 P(x^2) (Cephes' tanhf
 *     polynomial: no cancellation near 0); above, (1 - e) / (1 + e) with e = exp(-2|x|). */
#if CLRNN_COMPACT
/* The compact build (a software rasterizer, llvmpipe: program.c): its compiler's time grows
 * superlinearly with straight-line vector code, and the polynomial forms below made a gpu-plan
 * forward's build take over 4x as long there (46 s -> over 200 s); there, the built-ins. */
#define FAST_ACT_DEFS(T, I, U, AS_T, AS_I, AS_U)                                                   \
    static inline T sigmoid_fast_##T(T x) { return 1.0f / (1.0f + exp(-x)); }                     \
    static inline T tanh_fast_##T(T x) { return tanh(x); }
#else
#define FAST_ACT_DEFS(T, I, U, AS_T, AS_I, AS_U)                                                   \
    static inline T exp_neg_##T(T x) {                                                             \
        x = select(x, (T)-104.0f, x < -104.0f); /* keeps NaN */                                    \
        const T k = fma(x, (T)1.44269504088896341f, (T)12582912.0f); /* 1.5 * 2^23 + rint(x / ln2) */ \
        const T n = k - 12582912.0f;                                                               \
        T r = fma(n, (T)-0.693145751953125f, x);                                                   \
        r = fma(n, (T)-1.428606765330187045e-6f, r);                                               \
        /* exp(r) = 1 + r + r^2 u(r), u of degree 4 (Chebyshev fit, 0.13 ulp), by Estrin's scheme */ \
        const T r2 = r * r;                                                                        \
        const T u_lo = fma((T)0.16666577026f, r, (T)0.5f);                                         \
        const T u_hi = fma((T)0.0013926176120f, r2, fma((T)0.0083631730745f, r, (T)0.041666554662f)); \
        const T v = fma(fma(u_hi, r2, u_lo), r2, r);                                               \
        /* 2^n = s_hi * s_lo, s_lo = 1 unless 2^n is below the normal floats (n < -126) */         \
        const I e = AS_I(k) - 0x4b400000 + 127; /* n + 127 (any value for NaN) */                  \
        const T s_hi = AS_T(AS_U(max(e, (I)1)) << 23), s_lo = AS_T(AS_U(min(e, (I)1) + 126) << 23); \
        return fma(v, s_lo, s_lo) * s_hi;                                                          \
    }                                                                                              \
    static inline T sigmoid_fast_##T(T x) {                                                        \
        const T e = exp_neg_##T(-fabs(x));                                                         \
        return select((T)1.0f, e, x < 0.0f) / (1.0f + e);                                          \
    }                                                                                              \
    static inline T tanh_fast_##T(T x) {                                                           \
        const T a = fabs(x), s = x * x;                                                            \
        T p = fma((T)-5.70498872745e-3f, s, (T)2.06390887954e-2f);                                 \
        p = fma(p, s, (T)-5.37397155531e-2f);                                                      \
        p = fma(p, s, (T)1.33314422036e-1f);                                                       \
        p = fma(p, s, (T)-3.33332819422e-1f);                                                      \
        const T small = fma(p * s, a, a);                                                          \
        const T e = exp_neg_##T(-2.0f * a);                                                        \
        const T big = (1.0f - e) / (1.0f + e);                                                     \
        return copysign(select(small, big, a >= 0.625f), x); /* on |x|: tanh(-0) = -0 */           \
    }
#endif
FAST_ACT_DEFS(real, int, uint, as_float, as_int, as_uint)
FAST_ACT_DEFS(real16, int16, uint16, as_float16, as_int16, as_uint16)

/* The one definition of every activation, for a real (T = real) or a realN (the tiled kernels'
 * real16): activate() and step_tiled.cl's activate16() both expand it. Each form is exact in the
 * limits and keeps NaN, as the double reference (src/reference.c) does:
 *   - no fmax/fmin (they return the non-NaN operand): relu, hard_sigmoid and the clip use select;
 *   - softplus as x + log1p(exp(-x)) for x > 0 (log1p(exp(x)) overflows to inf from x = 88.8);
 *   - softsign of +-inf is +-1 (inf / inf would be NaN); elu uses expm1 (exact near 0). */
#define ACTIVATION_BODY(T, x, kind, alpha, beta)                                                   \
    switch (kind) {                                                                                \
    case ACT_SIGMOID: return sigmoid_fast_##T(x);                                                  \
    case ACT_TANH: return tanh_fast_##T(x);                                                        \
    case ACT_RELU: return select((x), (T)0.0f, (x) < 0.0f);                                       \
    case ACT_AFFINE: return (alpha) * (x) + (beta);                                                \
    case ACT_LEAKY_RELU: return select((x), (alpha) * (x), (x) < 0.0f);                           \
    case ACT_THRESHOLDED_RELU: return select((x), (T)0.0f, (x) <= (alpha));                       \
    case ACT_SCALED_TANH: return (alpha) * tanh_fast_##T((beta) * (x));                            \
    case ACT_HARD_SIGMOID: {                                                                       \
        const T v_ = (alpha) * (x) + (beta);                                                       \
        return CLAMP_NAN(v_, (T)0.0f, (T)1.0f);                                                    \
    }                                                                                              \
    case ACT_ELU: return select((x), (alpha) * expm1(x), (x) < 0.0f);                             \
    case ACT_SOFTSIGN: return select((x) / (1.0f + fabs(x)), copysign((T)1.0f, (x)), isinf(x));   \
    case ACT_SOFTPLUS: return select(log1p(exp(x)), (x) + log1p(exp(-(x))), (x) > 0.0f);          \
    default: return (x);                                                                           \
    }

/* ONNX `clip` on an activation input (0 = off), keeping NaN. */
static inline real clip1(real x, float clip) { return clip > 0.0f ? CLAMP_NAN(x, -clip, clip) : x; }

/* acts[(dir * ACT_SLOTS + slot) * ACT_PARAMS + {0: kind, 1: alpha, 2: beta}] */
static inline real activate(__global const float *acts, int dir, int slot, real x, float clip) {
    x = clip1(x, clip);
    __global const float *a = acts + (dir * ACT_SLOTS + slot) * ACT_PARAMS;
    const int kind = (int)a[0];
    const float alpha = a[1], beta = a[2];
    ACTIVATION_BODY(real, x, kind, alpha, beta)
}

/* Row of x_proj holding (t, n): layer 0 may be batch-major ([N, T] rows). */
static inline size_t xproj_row(int t, int n, int T, int N, int batch_major) {
    return batch_major ? (size_t)n * T + t : (size_t)t * N + n;
}

/* Output at a step that is not computed, by policy. */
static inline real masked_output(int policy, int entry, real h_prev, float fill) {
    if (policy == MASKED_CARRY) return (entry & STEP_STARTED) ? h_prev : 0.0f;
    if (policy == MASKED_FILL) return fill;
    return 0.0f;
}

/* The parameters every generic step kernel but lstm_proj_step opens with, in this order; the host
 * binds them in one place (plan_generic.c: step_args_begin) and finds the ones it rebinds at each
 * step by name, not by position. */
#define GENERIC_STEP_PARAMS                                                                        \
    const int s, const int T, const int N, const int H, __global const int *tmap,                 \
        __global const store *x_proj, const int xp_batch_major, __global const store *RT,         \
        __global const real *bias, __global const float *acts, __global const store *h_prev

/* The generic (per-unit) step kernels' shared prologue: work-item (j, n, d) computes unit j of
 * batch row n in direction d at step s; its step-table entry says which time index t that is and
 * whether the step is computed. W is the width of the state it writes (H, or Hr for the LSTMP
 * projection). */
typedef struct step_pos {
    int j, n, d, D; /* unit, batch row, direction, directions */
    int N, W;       /* batch rows, state width */
    int entry, t;   /* step-table entry, its time index */
    int active;     /* j < W: work-items past the width only help stage the tiles */
} step_pos;

static inline step_pos step_position(__global const int *tmap, int s, int T, int N, int W) {
    step_pos p;
    p.j = get_global_id(0);
    p.n = get_global_id(1);
    p.d = get_global_id(2);
    p.D = get_global_size(2);
    p.N = N;
    p.W = W;
    p.entry = tmap[(p.d * T + s) * N + p.n];
    p.t = p.entry & STEP_T_MASK;
    p.active = p.j < W;
    return p;
}

/* Offset of (d, n)'s state row ([D, N, W]), and of the unit's element in it. */
static inline size_t state_row(step_pos p) { return (size_t)(p.d * p.N + p.n) * p.W; }
static inline size_t state_index(step_pos p) { return state_row(p) + p.j; }
/* The unit's element of y ([T, N, D, W]) at time index t. */
static inline size_t output_index(step_pos p) { return ((size_t)p.t * p.N + p.n) * p.D * p.W + p.d * p.W + p.j; }

/* The unit's gate 0 in x_proj (rows of G gates of H per direction); gate g is at [g * H]. */
static inline __global const store *xproj_unit(step_pos p, __global const store *x_proj, int T, int batch_major, int G,
                                               int H) {
    const size_t row = xproj_row(p.t, p.n, T, p.N, batch_major);
    return x_proj + row * p.D * G * H + p.d * G * H + p.j;
}

/* A step the table marks as not computed: the state h_prev (hp: the (d, n) row) is carried to
 * h_next and the output follows the masked-output policy. Returns 1 for such a step, after which
 * the kernel returns (uniformly over the work-group, whose (n, d) is fixed); 0 for a computed one. */
static inline int masked_step(step_pos p, __global const store *hp, __global store *h_next, __global store *y,
                              int policy, float fill) {
    if (p.entry & STEP_VALID) return 0;
    if (p.active) {
        const real h = LOAD(hp, p.j);
        STORE(h_next, state_index(p), h);
        STORE(y, output_index(p), masked_output(policy, p.entry, h, fill));
    }
    return 1;
}

/* The LSTM cell (cl/generic/gates_lstm.cl has the equations) on one unit (T = real: lstm_cell) or
 * on 16 lanes (T = real16: the tiled steps, cl/tiled/step_tiled.cl), with that type's ACTIVATE and
 * CLIP, in one copy. From the gate pre-activations pi, pf, pg, po (x-side, biases and the recurrent
 * product summed; pi, pf and po get the peepholes added in place, as the training reserve keeps
 * them) and c_prev cp, by flags: LSTM_PEEPHOLE adds Pi, Pf, Po (read them only with that flag:
 * without it the peephole buffer may be a stand-in), LSTM_CIFG makes f = 1 - i. Sets c_raw =
 * f c_prev + i g (before TF1's cell_clip), c = clip(c_raw, cell_clip) and h = o h(c). The
 * arguments are lvalues; acts, d, flags, cp, Pi, Pf, Po, clip and cell_clip are the caller's. */
#define LSTM_CELL_BODY(T, ACTIVATE, CLIP, pi, pf, pg, po, c_raw, c, h)                             \
    do {                                                                                           \
        if (flags & LSTM_PEEPHOLE) {                                                               \
            pi += Pi * cp;                                                                         \
            pf += Pf * cp;                                                                         \
        }                                                                                          \
        const T i_ = ACTIVATE(acts, d, 0, pi, clip);                                               \
        const T f_ = (flags & LSTM_CIFG) ? 1.0f - i_ : ACTIVATE(acts, d, 0, pf, clip);             \
        const T g_ = ACTIVATE(acts, d, 1, pg, clip);                                               \
        c_raw = f_ * cp + i_ * g_;                                                                 \
        c = CLIP(c_raw, cell_clip);                                                                \
        if (flags & LSTM_PEEPHOLE) po += Po * c;                                                   \
        h = ACTIVATE(acts, d, 0, po, clip) * ACTIVATE(acts, d, 2, c, clip);                        \
    } while (0)

/* The generic and GPU plans' one-unit cell: returns c, and h in *h. */
static inline real lstm_cell(__global const float *acts, int d, int flags, real pi, real pf, real pg, real po, real cp,
                             real Pi, real Pf, real Po, float clip, float cell_clip, real *h) {
    real c_raw, c;
    LSTM_CELL_BODY(real, activate, clip1, pi, pf, pg, po, c_raw, c, *h);
    return c;
}

/* acc[g] += sum_k v[k] * RT[k * ld + g * gate_stride + j] for g < G, k < K (v and RT stored, the
 * tile and acc real). v is staged through local memory in tiles of the work-group size; every work-item of the
 * group must call this (barriers), including those with j out of range (active = 0). */
#define RECURRENT_DOT(G, acc, v, RT, ld, gate_stride, j, K, tile, active)                         \
    do {                                                                                          \
        const int lid_ = get_local_id(0), lsz_ = get_local_size(0);                               \
        for (int k0_ = 0; k0_ < (K); k0_ += lsz_) {                                               \
            barrier(CLK_LOCAL_MEM_FENCE);                                                         \
            if (k0_ + lid_ < (K)) (tile)[lid_] = LOAD((v), k0_ + lid_);                                 \
            barrier(CLK_LOCAL_MEM_FENCE);                                                         \
            if (active) {                                                                         \
                const int kn_ = min(lsz_, (K) - k0_);                                             \
                for (int kk_ = 0; kk_ < kn_; ++kk_) {                                             \
                    const real hv_ = (tile)[kk_];                                                 \
                    __global const store *row_ = (RT) + (size_t)(k0_ + kk_) * (ld) + (j);         \
                    for (int g_ = 0; g_ < (G); ++g_)                                              \
                        (acc)[g_] = fma(hv_, LOAD(row_, g_ * (gate_stride)), (acc)[g_]);          \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* The first `lanes` (1..16) lanes of an fp32 row at p as a real16 (zeros past them), and the same
 * lanes of v stored back: the training cell kernels' and the tiled training scan's reserve rows. */
static inline real16 ld16(__global const real *p, int lanes) {
    if (lanes == 16) return vload16(0, p);
    real tmp[16];
    for (int i = 0; i < 16; ++i) tmp[i] = i < lanes ? p[i] : 0.0f;
    return vload16(0, tmp);
}
static inline void st16(__global real *p, real16 v, int lanes) {
    if (lanes == 16) {
        vstore16(v, 0, p);
        return;
    }
    real tmp[16];
    vstore16(v, 0, tmp);
    for (int i = 0; i < lanes; ++i) p[i] = tmp[i];
}
