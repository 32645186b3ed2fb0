/* Helpers shared by every kernel: activations (ONNX list), clipping, the step table, and the
 * recurrent dot product h_prev · Rᵀ with h_prev staged in local memory.
 * Built without -cl-fast-relaxed-math: conformance tolerances rely on IEEE exp/tanh. */

/* Activation kinds: the values of clrnn_activation_kind in clrnn.h. */
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3
#define ACT_AFFINE 4
#define ACT_LEAKY_RELU 5
#define ACT_THRESHOLDED_RELU 6
#define ACT_SCALED_TANH 7
#define ACT_HARD_SIGMOID 8
#define ACT_ELU 9
#define ACT_SOFTSIGN 10
#define ACT_SOFTPLUS 11

/* Step table flags: the CLRNN_STEP_* values in src/internal.h. */
#define STEP_T_MASK 0x0fffffff
#define STEP_VALID 0x10000000
#define STEP_STARTED 0x20000000

/* Masked-output policies: clrnn_masked_output. */
#define MASKED_ZERO 0
#define MASKED_CARRY 1
#define MASKED_FILL 2

/* acts[(dir * 3 + slot) * 3 + {0: kind, 1: alpha, 2: beta}] */
inline float activate(__global const float *acts, int dir, int slot, float x, float clip) {
    if (clip > 0.0f) x = clamp(x, -clip, clip);
    __global const float *a = acts + (dir * 3 + slot) * 3;
    int kind = (int)a[0];
    float alpha = a[1], beta = a[2];
    switch (kind) {
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case ACT_TANH: return tanh(x);
    case ACT_RELU: return fmax(x, 0.0f);
    case ACT_AFFINE: return alpha * x + beta;
    case ACT_LEAKY_RELU: return x < 0.0f ? alpha * x : x;
    case ACT_THRESHOLDED_RELU: return x > alpha ? x : 0.0f;
    case ACT_SCALED_TANH: return alpha * tanh(beta * x);
    case ACT_HARD_SIGMOID: return fmax(0.0f, fmin(1.0f, alpha * x + beta));
    case ACT_ELU: return x < 0.0f ? alpha * (exp(x) - 1.0f) : x;
    case ACT_SOFTSIGN: return x / (1.0f + fabs(x));
    case ACT_SOFTPLUS: return log1p(exp(x)) ;
    default: return x;
    }
}

/* Row of x_proj holding (t, n): layer 0 may be batch-major ([N, T] rows). */
inline size_t xproj_row(int t, int n, int T, int N, int batch_major) {
    return batch_major ? (size_t)n * T + t : (size_t)t * N + n;
}

/* Output at a step that is not computed, by policy. */
inline float masked_output(int policy, int entry, float h_prev, float fill) {
    if (policy == MASKED_CARRY) return (entry & STEP_STARTED) ? h_prev : 0.0f;
    if (policy == MASKED_FILL) return fill;
    return 0.0f;
}

/* acc[g] += sum_k v[k] * RT[k * ld + g * gate_stride + j] for g < G, k < K.
 * v is staged through local memory in tiles of the work-group size; every work-item of the
 * group must call this (barriers), including those with j out of range (active = 0). */
#define RECURRENT_DOT(G, acc, v, RT, ld, gate_stride, j, K, tile, active)                         \
    do {                                                                                          \
        const int lid_ = get_local_id(0), lsz_ = get_local_size(0);                               \
        for (int k0_ = 0; k0_ < (K); k0_ += lsz_) {                                               \
            barrier(CLK_LOCAL_MEM_FENCE);                                                         \
            if (k0_ + lid_ < (K)) (tile)[lid_] = (v)[k0_ + lid_];                                 \
            barrier(CLK_LOCAL_MEM_FENCE);                                                         \
            if (active) {                                                                         \
                const int kn_ = min(lsz_, (K) - k0_);                                             \
                for (int kk_ = 0; kk_ < kn_; ++kk_) {                                             \
                    const float hv_ = (tile)[kk_];                                                \
                    __global const float *row_ = (RT) + (size_t)(k0_ + kk_) * (ld) + (j);         \
                    for (int g_ = 0; g_ < (G); ++g_) (acc)[g_] = fma(hv_, row_[g_ * (gate_stride)], (acc)[g_]); \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)
