/* clrnn's own SGEMM for small products on CPU devices (src/blas/gemm_own.c: m n k up to SMALL_MNK,
 * a classifier's dense head, an ONNX Linear on a few rows, the training's per-step h_prev R^T and
 * dG R at small batch), where compiling cl/blas/sgemm.cl's sgemm_tile (about 2 s on PoCL with a
 * cold cache, against about 0.05 s for this one) would cost more than the product. A kernel of the
 * main program, so that such a product builds no second program either (a clBuildProgram costs
 * about 0.2 s on PoCL whatever its size). op(A)[i][p] = a[i*a_rs + p*a_ks], op(B)[p][j] =
 * b[p*b_ks + j*b_js]; beta == 0: C is not read.
 *
 * A work-item computes SM_ROWS x SM_COLS elements of C: with op(B)'s rows contiguous (b_js == 1)
 * and all 16 columns inside N, as four float16 accumulators, one op(B) row load feeding four rows
 * (PoCL's implicit vectoriser had run the one-element-a-work-item kernel scalar: 0.1-0.2 GFLOP/s
 * at M = 1, the batch-1 training step's every GEMM); otherwise (op(B) = B^T, the last columns) an
 * element at a time. Either way each element is its sum over k in order, fma by fma (sgemm_tile's
 * order for k up to one block): the same bits whichever path, as before this layout. */
#define SM_ROWS 4
#define SM_COLS 16

__kernel void sgemm_small(const int M, const int N, const int K, const float alpha, __global const float *a,
                          const ulong a_off, const ulong a_rs, const ulong a_ks, __global const float *b,
                          const ulong b_off, const ulong b_ks, const ulong b_js, const float beta, __global float *c,
                          const ulong c_off, const ulong ldc) {
    const int j0 = (int)get_global_id(0) * SM_COLS, i0 = (int)get_global_id(1) * SM_ROWS;
    if (i0 >= M || j0 >= N) return;
    const int rows = M - i0 < SM_ROWS ? M - i0 : SM_ROWS, cols = N - j0 < SM_COLS ? N - j0 : SM_COLS;
    /* rows past M read row M - 1 (in bounds) and are never stored: no branch in the k loop */
    __global const float *a0 = a + a_off + (ulong)i0 * a_rs;
    __global const float *a1 = a + a_off + (ulong)(rows > 1 ? i0 + 1 : i0) * a_rs;
    __global const float *a2 = a + a_off + (ulong)(rows > 2 ? i0 + 2 : i0) * a_rs;
    __global const float *a3 = a + a_off + (ulong)(rows > 3 ? i0 + 3 : i0) * a_rs;
    __global float *c0 = c + c_off + (ulong)i0 * ldc + j0;
    if (b_js == 1 && cols == SM_COLS) {
        __global const float *bp = b + b_off + j0;
        float16 s0 = (float16)(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (int p = 0; p < K; ++p) {
            const float16 bv = vload16(0, bp + (ulong)p * b_ks);
            const ulong ap = (ulong)p * a_ks;
            s0 = fma((float16)(a0[ap]), bv, s0);
            s1 = fma((float16)(a1[ap]), bv, s1);
            s2 = fma((float16)(a2[ap]), bv, s2);
            s3 = fma((float16)(a3[ap]), bv, s3);
        }
        for (int r = 0; r < rows; ++r) {
            __global float *e = c0 + (ulong)r * ldc;
            const float16 s = r == 0 ? s0 : r == 1 ? s1 : r == 2 ? s2 : s3;
            vstore16(beta != 0.0f ? fma((float16)(beta), vload16(0, e), alpha * s) : alpha * s, 0, e);
        }
        return;
    }
    for (int r = 0; r < rows; ++r) {
        __global const float *ar = r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : a3;
        for (int jj = 0; jj < cols; ++jj) {
            __global const float *bc = b + b_off + (ulong)(j0 + jj) * b_js;
            float acc = 0.0f;
            for (int p = 0; p < K; ++p) acc = fma(ar[(ulong)p * a_ks], bc[(ulong)p * b_ks], acc);
            __global float *e = c0 + (ulong)r * ldc + jj;
            *e = beta != 0.0f ? fma(beta, *e, alpha * acc) : alpha * acc;
        }
    }
}

/* The small products sgemm_small would run an element at a time (gemm_own.c TINY_MN: op(B) = B^T
 * or under 16 columns, a few rows; a classifier's dense head): an element of C a work-item, its
 * sum over k in order, fma by fma, as sgemm_small's (the same bits). PoCL
 * compiles this in about a quarter of sgemm_small's time (60 against 250 ms here), and at these
 * sizes the compile is the whole cost of a first result. */
__kernel void sgemm_tiny(const int M, const int N, const int K, const float alpha, __global const float *a,
                         const ulong a_off, const ulong a_rs, const ulong a_ks, __global const float *b,
                         const ulong b_off, const ulong b_ks, const ulong b_js, const float beta, __global float *c,
                         const ulong c_off, const ulong ldc) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1);
    if (i >= M || j >= N) return;
    __global const float *ar = a + a_off + (ulong)i * a_rs, *bc = b + b_off + (ulong)j * b_js;
    float acc = 0.0f;
    for (int p = 0; p < K; ++p) acc = fma(ar[(ulong)p * a_ks], bc[(ulong)p * b_ks], acc);
    __global float *e = c + c_off + (ulong)i * ldc + j;
    *e = beta != 0.0f ? fma(beta, *e, alpha * acc) : alpha * acc;
}
