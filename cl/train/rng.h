/* Counter-based random numbers for dropout: Philox4x32-10 (Salmon et al., SC'11; the generator of
 * cuRAND and PyTorch's CUDA dropout). A draw is a pure function of (key, counter), the same bits in
 * C and OpenCL C, so the backward regenerates the forward's masks instead of storing them, the
 * float64 reference draws the very same ones, and no state is carried between work-items. */
#ifndef CLRNN_RNG_H
#define CLRNN_RNG_H

#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define RNG_U32 uint
#define RNG_FN static inline /* PoCL builds with -Dinline=: plain inline would be an external function */
#define RNG_MULHI(a, b) mul_hi(a, b)
#else
#include <stdint.h>
#define RNG_U32 uint32_t
#define RNG_FN static inline
#define RNG_MULHI(a, b) ((uint32_t)(((uint64_t)(a) * (b)) >> 32))
#endif

/* One Philox4x32-10 block: the four 32-bit words of counter (c[0..3]) under key (k0, k1), into c.
 * test_rng checks it against Random123's published known-answer vectors. */
RNG_FN void clrnn_philox4x32(RNG_U32 *c, RNG_U32 k0, RNG_U32 k1) {
    for (int round = 0; round < 10; ++round) {
        const RNG_U32 m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
        const RNG_U32 lo0 = m0 * c[0], hi0 = RNG_MULHI(m0, c[0]);
        const RNG_U32 lo1 = m1 * c[2], hi1 = RNG_MULHI(m1, c[2]);
        const RNG_U32 n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* Word 0 of the block of counter (c0..c3) (the others are discarded: one draw per element keeps the
 * counter layout trivial). */
RNG_FN RNG_U32 clrnn_philox_u32(RNG_U32 c0, RNG_U32 c1, RNG_U32 c2, RNG_U32 c3, RNG_U32 k0, RNG_U32 k1) {
    RNG_U32 c[4] = {c0, c1, c2, c3};
    clrnn_philox4x32(c, k0, k1);
    return c[0];
}

/* Streams of the counter's word 2 (with layer and direction): which dropout a draw is for. */
#define RNG_STREAM_OUTPUT 0    /* `dropout` on a layer's output */
#define RNG_STREAM_INPUT 1     /* `input_dropout`, + gate */
#define RNG_STREAM_RECURRENT 8 /* `recurrent_dropout`, + gate */

/* A kernel's dropout mode bits (the desc's dropout_mode and dropout_shared). */
#define RNG_DROP_PER_STEP 1 /* a new mask every step (counter word 1 = t), else one per sample */
#define RNG_DROP_SHARED 2   /* one mask for all gates (gate 0's stream) */

/* Whether element (c0, c1) of stream `stream` of layer `l`, direction `d` is kept, in forward_train
 * call number `call` of an rnn keyed by `seed`: kept with probability 1 - p. c0 is the element
 * within its row (row * width + unit), c1 the step (0 for variational masks). */
RNG_FN int clrnn_dropout_keep(RNG_U32 seed_lo, RNG_U32 seed_hi, RNG_U32 call, int l, int d, int stream, RNG_U32 c0,
                              RNG_U32 c1, float p) {
    const RNG_U32 c2 = ((RNG_U32)l << 16) | ((RNG_U32)d << 8) | (RNG_U32)stream;
    const RNG_U32 bits = clrnn_philox_u32(c0, c1, c2, call, seed_lo, seed_hi);
    return (float)(bits >> 8) * (1.0f / 16777216.0f) >= p; /* a uniform in [0, 1) on 24 bits */
}

#endif
