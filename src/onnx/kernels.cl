/* Device kernels of the ONNX glue operators (float32). One work-item per output element, except
 * softmax (one per row). Shapes and strides (up to 8 dims, in elements) travel as int8 vectors and
 * are spilled to private arrays to be indexed. Built without -cl-fast-relaxed-math.
 *
 * The operation codes match the OX_BIN_* / OX_UN_* enums of src/onnx/onnx_internal.h. */

#define OX_BIN_ADD 0
#define OX_BIN_SUB 1
#define OX_BIN_MUL 2
#define OX_BIN_DIV 3
#define OX_UN_SIGMOID 0
#define OX_UN_TANH 1
#define OX_UN_RELU 2

/* Strided copy: Transpose, Slice, Expand, Concat, Reshape-as-copy, Gemm's bias broadcast. */
__kernel void ox_copy(__global const float *src, int src_off, __global float *dst, int dst_off, int count, int ndim,
                      int8 shape, int8 sstride, int8 dstride) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int shp[8], ss[8], ds[8];
    vstore8(shape, 0, shp);
    vstore8(sstride, 0, ss);
    vstore8(dstride, 0, ds);
    int rem = i, s = src_off, d = dst_off;
    for (int k = ndim - 1; k >= 0; --k) {
        const int idx = rem % shp[k];
        rem /= shp[k];
        s += idx * ss[k];
        d += idx * ds[k];
    }
    dst[d] = src[s];
}

/* dst[o, j, k] = src[o, idx[j], k] (indices already checked and made non-negative on the host). */
__kernel void ox_gather(__global const float *src, __global const int *idx, __global float *dst, int count, int n_idx,
                        int axis_len, int inner) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const int k = i % inner, j = (i / inner) % n_idx, o = i / (inner * n_idx);
    dst[i] = src[((size_t)o * axis_len + idx[j]) * inner + k];
}

/* y = a op b with numpy broadcasting (stride 0 on broadcast axes). */
__kernel void ox_binary(__global const float *a, __global const float *b, __global float *y, int op, int count,
                        int ndim, int8 shape, int8 astride, int8 bstride) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int shp[8], as[8], bs[8];
    vstore8(shape, 0, shp);
    vstore8(astride, 0, as);
    vstore8(bstride, 0, bs);
    int rem = i, ia = 0, ib = 0;
    for (int k = ndim - 1; k >= 0; --k) {
        const int idx = rem % shp[k];
        rem /= shp[k];
        ia += idx * as[k];
        ib += idx * bs[k];
    }
    const float x = a[ia], z = b[ib];
    float r;
    switch (op) {
    case OX_BIN_ADD: r = x + z; break;
    case OX_BIN_SUB: r = x - z; break;
    case OX_BIN_MUL: r = x * z; break;
    default: r = x / z; break;
    }
    y[i] = r;
}

__kernel void ox_unary(__global const float *x, __global float *y, int op, int count) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float v = x[i];
    float r;
    switch (op) {
    case OX_UN_SIGMOID: r = 1.0f / (1.0f + exp(-v)); break;
    case OX_UN_TANH: r = tanh(v); break;
    default: r = v > 0.0f ? v : (v == v ? 0.0f : v); break; /* Relu keeps NaN */
    }
    y[i] = r;
}

/* Softmax over the middle axis of [outer, len, inner]: one work-item per (outer, inner) row. */
__kernel void ox_softmax(__global const float *x, __global float *y, int outer, int len, int inner) {
    const int r = get_global_id(0);
    if (r >= outer * inner) return;
    const int o = r / inner, k = r % inner;
    const size_t base = (size_t)o * len * inner + k;
    float mx = -INFINITY;
    for (int j = 0; j < len; ++j) mx = fmax(mx, x[base + (size_t)j * inner]);
    float sum = 0.0f;
    for (int j = 0; j < len; ++j) {
        const float e = exp(x[base + (size_t)j * inner] - mx);
        y[base + (size_t)j * inner] = e;
        sum += e;
    }
    for (int j = 0; j < len; ++j) y[base + (size_t)j * inner] /= sum;
}
