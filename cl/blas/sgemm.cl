/* clrnn's own SGEMM for CPU devices (src/blas/gemm_own.c launches it): row-major
 * C = alpha op(A) op(B) + beta C, one work-item per 4 x 64 tile of C per row block it owns.
 *
 * The micro-kernel is an outer product per k: four scalars of op(A) (broadcast) times 64
 * contiguous floats of op(B) (four float16 loads) into sixteen float16 accumulators, the shape
 * of cl/tiled/step_tiled.cl's tiled_dot, which PoCL's LLVM keeps in the 32 zmm registers. It needs
 * op(B)'s row k, columns j0..j0+63, contiguous: true in place for B untransposed when N is a
 * multiple of 64, otherwise (B transposed: op(B)'s row is a strided column of B; or a partial last
 * tile) sgemm_pack_b first copies op(B) into 64-column panels [K][64], zero past column N, so
 * the micro-kernel never reads out of bounds and never branches. op(A) is read as scalars with
 * two strides (row, k), which covers both A and A^T without packing: a broadcast costs the same
 * from either layout. Rows past M read row M-1 (in bounds) and are not written.
 *
 * The sum over k runs in order 0..K-1 for every element, nothing is shared between work-items:
 * the same bits run to run, whatever the launch shape. */

/* Bp[(jb*K + k)*64 + c] = op(B)[k][jb*64 + c], 0 past column N. Work-item (k, jb). */
__kernel void sgemm_pack_b(const int K, const int N, const int trans_b, __global const float *b, const ulong b_off,
                           const ulong ldb, __global float *Bp) {
    const int k = get_global_id(0), jb = get_global_id(1);
    __global const float *src = b + b_off;
    __global float *dst = Bp + ((ulong)jb * K + k) * 64;
    const int j0 = jb * 64, cols = min(64, N - j0);
    if (trans_b)
        for (int c = 0; c < cols; ++c) dst[c] = src[(ulong)(j0 + c) * ldb + k];
    else
        for (int c = 0; c < cols; ++c) dst[c] = src[(ulong)k * ldb + j0 + c];
    for (int c = cols; c < 64; ++c) dst[c] = 0.0f;
}

/* One float16 of C's row `crow`, columns j..j+15 (cols of them inside C). beta == 0: C is not read
 * (BLAS: a NaN there does not propagate). */
inline void store16(__global float *crow, const int j, const int cols, const float16 acc, const float alpha,
                    const float beta) {
    if (cols >= 16) {
        float16 v = alpha * acc;
        if (beta != 0.0f) v = fma((float16)beta, vload16(0, crow + j), v);
        vstore16(v, 0, crow + j);
    } else if (cols > 0) {
        float t[16];
        vstore16(acc, 0, t);
        for (int l = 0; l < cols; ++l)
            crow[j + l] = beta != 0.0f ? fma(beta, crow[j + l], alpha * t[l]) : alpha * t[l];
    }
}

/* Work-item (jb, grp): the 64 columns from jb*64, row blocks grp*rb_per_item .. +rb_per_item.
 * op(A)[i][k] = a[a_off + i*a_rs + k*a_ks]; op(B)[k][jb*64 + c] = b[b_off + jb*b_js + k*b_ks + c]. */
__kernel void sgemm_tile(const int M, const int N, const int K, const float alpha, __global const float *a,
                         const ulong a_off, const ulong a_rs, const ulong a_ks, __global const float *b,
                         const ulong b_off, const ulong b_js, const ulong b_ks, const float beta, __global float *c,
                         const ulong c_off, const ulong ldc, const int rb_per_item) {
    const int jb = get_global_id(0), grp = get_global_id(1);
    const int n_rb = (M + 3) / 4, j0 = jb * 64, cols = N - j0;
    __global const float *bpanel = b + b_off + (ulong)jb * b_js;
    for (int rb = grp * rb_per_item; rb < min(n_rb, (grp + 1) * rb_per_item); ++rb) {
        const int i0 = rb * 4;
        __global const float *p0 = a + a_off + (ulong)min(i0, M - 1) * a_rs;
        __global const float *p1 = a + a_off + (ulong)min(i0 + 1, M - 1) * a_rs;
        __global const float *p2 = a + a_off + (ulong)min(i0 + 2, M - 1) * a_rs;
        __global const float *p3 = a + a_off + (ulong)min(i0 + 3, M - 1) * a_rs;
        __global const float *B = bpanel;
        /* named accumulators, not an array: see tiled_dot in cl/tiled/step_tiled.cl */
        float16 a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
        float16 a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
        for (int k = 0; k < K; ++k) {
            const float16 w0 = vload16(0, B), w1 = vload16(1, B), w2 = vload16(2, B), w3 = vload16(3, B);
            B += b_ks;
            const float16 h0 = (float16)*p0, h1 = (float16)*p1, h2 = (float16)*p2, h3 = (float16)*p3;
            p0 += a_ks, p1 += a_ks, p2 += a_ks, p3 += a_ks;
            a00 = fma(h0, w0, a00), a01 = fma(h0, w1, a01), a02 = fma(h0, w2, a02), a03 = fma(h0, w3, a03);
            a10 = fma(h1, w0, a10), a11 = fma(h1, w1, a11), a12 = fma(h1, w2, a12), a13 = fma(h1, w3, a13);
            a20 = fma(h2, w0, a20), a21 = fma(h2, w1, a21), a22 = fma(h2, w2, a22), a23 = fma(h2, w3, a23);
            a30 = fma(h3, w0, a30), a31 = fma(h3, w1, a31), a32 = fma(h3, w2, a32), a33 = fma(h3, w3, a33);
        }
        __global float *crow = c + c_off + (ulong)i0 * ldc;
#define STORE_ROW(r, x0, x1, x2, x3)                                                               \
    if (i0 + r < M) {                                                                              \
        __global float *cr = crow + (ulong)r * ldc;                                                \
        store16(cr, j0, cols, x0, alpha, beta);                                                    \
        store16(cr, j0 + 16, cols - 16, x1, alpha, beta);                                          \
        store16(cr, j0 + 32, cols - 32, x2, alpha, beta);                                          \
        store16(cr, j0 + 48, cols - 48, x3, alpha, beta);                                          \
    }
        STORE_ROW(0, a00, a01, a02, a03)
        STORE_ROW(1, a10, a11, a12, a13)
        STORE_ROW(2, a20, a21, a22, a23)
        STORE_ROW(3, a30, a31, a32, a33)
#undef STORE_ROW
    }
}
