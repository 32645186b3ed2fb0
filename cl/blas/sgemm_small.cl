/* clrnn's own SGEMM for small products on CPU devices (src/blas/gemm_own.c: m n k up to SMALL_MNK,
 * a classifier's dense head, an ONNX Linear on a few rows), where compiling cl/blas/sgemm.cl's
 * sgemm_tile (about 2 s on PoCL with a cold cache, against about 0.05 s for this one) would cost
 * more than the product. A kernel of the main program, so that such a product builds no second
 * program either (a clBuildProgram costs about 0.2 s on PoCL whatever its size). One work-item
 * per element of C, the sum over k in order (sgemm_tile's order for k up to one block). op(A)[i][p] = a[i*a_rs + p*a_ks],
 * op(B)[p][j] = b[p*b_ks + j*b_js]; beta == 0: C is not read. */
__kernel void sgemm_small(const int M, const int N, const int K, const float alpha, __global const float *a,
                          const ulong a_off, const ulong a_rs, const ulong a_ks, __global const float *b,
                          const ulong b_off, const ulong b_ks, const ulong b_js, const float beta, __global float *c,
                          const ulong c_off, const ulong ldc) {
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= M || j >= N) return;
    __global const float *ar = a + a_off + (ulong)i * a_rs;
    __global const float *bc = b + b_off + (ulong)j * b_js;
    float acc = 0.0f;
    for (int p = 0; p < K; ++p) acc = fma(ar[(ulong)p * a_ks], bc[(ulong)p * b_ks], acc);
    __global float *e = c + c_off + (ulong)i * ldc + j;
    *e = beta != 0.0f ? fma(beta, *e, alpha * acc) : alpha * acc;
}
