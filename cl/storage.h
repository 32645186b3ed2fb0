/* How tensors are stored in device memory (clrnn_rnn_desc.storage), the one abstraction every plan's
 * kernels read and write through. Chosen per program by the build option -DCLRNN_STORAGE=<STORAGE_*>
 * (abi.h; absent: fp32), so each storage type is its own program (and cache entry); the C side
 * builds a program per storage an rnn asks for (program.c: clrnn_program_storage).
 *
 * `store` is the element type of a stored tensor: weights W, R, peepholes and the projection, and
 * the activations (x_proj, the states, layer outputs, the merge's input, the step scratch). The
 * arithmetic is fp32 (`real` stays float): a load widens, a store rounds to nearest even.
 *   fp32: store = float, plain loads and stores;
 *   fp16: store = ushort holding IEEE half bits, vload_half / vstore_half_rte (core OpenCL 1.2: no
 *         cl_khr_fp16 needed; `half *` only as the pointer those take). 11 significant bits,
 *         |x| <= 65504 (beyond: inf, as the conversion rounds);
 *   bf16: store = ushort holding the top half of a float's bits: load = bits << 16, store rounds to
 *         nearest even in integer code (NaN stays a quiet NaN). 8 significant bits, fp32's range.
 * Indices are in elements; the 16-wide forms take an index in units of 16 elements, as vload16.
 *   LOAD(p, i)        p[i] as float         STORE(p, i, v)    p[i] = v (rounded)
 *   LOAD16(p, i)      float16 at p + 16 i   STORE16(p, i, v)  float16 v at p + 16 i (rounded)
 *   STORE16_ALIGNED(p, i, v)  STORE16 where p + 16 i is 64-byte aligned
 * Biases, the activation table and the user's tensors (x, y, h0/c0, hn/cn) stay float. */
#ifndef CLRNN_STORAGE_H
#define CLRNN_STORAGE_H

#ifndef CLRNN_STORAGE
#define CLRNN_STORAGE STORAGE_FP32
#endif

#if CLRNN_STORAGE == STORAGE_FP32
typedef float store;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#define LOAD16(p, i) vload16((i), (p))
#define STORE16(p, i, v) vstore16((v), (i), (p))
/* A 16-wide store where p + 16 i is 64-byte aligned (x_proj's blocks: whole 16-lane slices from a
 * buffer's start, which OpenCL aligns to at least 128 bytes). PoCL 3.1 splits vstore16 into three
 * stores (16 + 16 + 32 bytes, with extracts); an aligned float16 store is one. */
#define STORE16_ALIGNED(p, i, v) (((__global float16 *)(p))[i] = (v))

#elif CLRNN_STORAGE == STORAGE_FP16
typedef ushort store;
/* LOAD16 is vload_half16 (F16C's vcvtph2ps on PoCL). STORE16 converts in integer code around a
 * ushort16 vstore16, to the same bits vstore_half16_rte gives: PoCL 3.1 compiles vstore_half16_rte
 * to aligned 16-byte stores (vmovaps), which fault on an output row that starts at an odd unit (y
 * at unit j0 of a row of H), though the spec asks only for 2-byte alignment. Every LOAD16 of the
 * kernels is at a multiple of 16 elements of a whole buffer (packed weights, 16-lane state and
 * x_proj blocks), so PoCL's vload_half16 is safe there; a new LOAD16 at an arbitrary element
 * offset should be checked on PoCL the same way. (Converting loads in integer code instead made
 * S1 about 3x slower on PoCL.) */
/* A scalar load in a few integer operations: PoCL's scalar vload_half is a ~20-instruction bit
 * routine, and the tiled micro-kernel loads one h_prev value per row and k. Same value as
 * vload_half: the exponent rebias is a multiply by 2^112 (exact, subnormal halves included), inf
 * and NaN keep their all-ones exponent. */
static inline float half_load(ushort h) {
    const uint u = h;
    const float m = as_float((u & 0x7fffu) << 13) * 0x1p112f;
    const uint bits = (u & 0x7c00u) == 0x7c00u ? 0x7f800000u | ((u & 0x3ffu) << 13) : as_uint(m);
    return as_float(bits | ((u & 0x8000u) << 16));
}
#define LOAD(p, i) half_load((p)[i])
#define STORE(p, i, v) vstore_half_rte((v), (i), (__global half *)(p))
#define LOAD16(p, i) vload_half16((i), (__global const half *)(p))
/* Round to nearest even: normal halves by adding 0xfff plus the lowest kept bit before the shift
 * (a carry into the exponent rounds up correctly), subnormal ones by rint(|f| * 2^24) (exact
 * scaling, the default rounding mode is to nearest even), 65520 and up to inf, NaN quiet. */
static inline ushort16 half_round16(float16 f) {
    const uint16 x = as_uint16(f), a = x & 0x7fffffffu;
    const uint16 normal = (a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13;
    const uint16 sub = convert_uint16(rint(as_float16(a) * 0x1p24f));
    uint16 h = select(normal, sub, a < (uint16)0x38800000u);
    h = select(h, (uint16)0x7c00u, a >= (uint16)0x477ff000u);
    h = select(h, (uint16)0x7e00u, a > (uint16)0x7f800000u);
    return convert_ushort16(h | ((x >> 16) & 0x8000u));
}
#define STORE16(p, i, v) vstore16(half_round16(v), (i), (p))
#define STORE16_ALIGNED(p, i, v) STORE16(p, i, v)

#elif CLRNN_STORAGE == STORAGE_BF16
typedef ushort store;
static inline float bf16_load(ushort b) { return as_float((uint)b << 16); }
static inline float16 bf16_load16(ushort16 b) { return as_float16(convert_uint16(b) << 16); }
/* Round to nearest, ties to even: add 0x7fff plus the lowest kept bit, keep the top 16 bits (a
 * carry into the exponent is the correct rounding up, to inf past the largest bf16). NaN is kept
 * quiet rather than rounded (rounding could carry it into inf). */
static inline ushort bf16_round(float f) {
    const uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x0040u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline ushort16 bf16_round16(float16 f) {
    const uint16 u = as_uint16(f);
    const uint16 rounded = (u + (uint16)0x7fffu + ((u >> 16) & (uint16)1u)) >> 16;
    const uint16 nan = (u >> 16) | (uint16)0x0040u;
    return convert_ushort16(select(rounded, nan, (u & (uint16)0x7fffffffu) > (uint16)0x7f800000u));
}
#define LOAD(p, i) bf16_load((p)[i])
#define STORE(p, i, v) ((p)[i] = bf16_round(v))
#define LOAD16(p, i) bf16_load16(vload16((i), (p)))
#define STORE16(p, i, v) vstore16(bf16_round16(v), (i), (p))
#define STORE16_ALIGNED(p, i, v) STORE16(p, i, v)

#else
#error "CLRNN_STORAGE: not a STORAGE_* of abi.h"
#endif

#endif
