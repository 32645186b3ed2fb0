/* Device kernels of the ONNX glue operators. One work-item per output element, except softmax
 * (one per row). Shapes and strides (up to 8 dims, in elements) travel as int8 vectors and are
 * spilled to private arrays to be indexed. Built without -cl-fast-relaxed-math.
 *
 * Built as one program through src/program.c, like the files of cl/: embedded after cl/abi.h, cl/common.cl
 * (REAL, the tensors' precision, and real) and ox_abi.h (the OX_BIN_* / OX_UN_* / OX_RED_* /
 * OX_PAD_* codes the host passes), with the same build options. Host scalars (alpha, beta, the
 * pad value) stay float. */


/* Strided copy: Transpose, Slice, Expand, Concat, Reshape-as-copy, Gemm's bias broadcast. */
__kernel void ox_copy(__global const real *src, int src_off, __global real *dst, int dst_off, int count, int ndim,
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
__kernel void ox_gather(__global const real *src, __global const int *idx, __global real *dst, int count, int n_idx,
                        int axis_len, int inner) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const int k = i % inner, j = (i / inner) % n_idx, o = i / (inner * n_idx);
    dst[i] = src[((size_t)o * axis_len + idx[j]) * inner + k];
}

/* y = a op b with numpy broadcasting (stride 0 on broadcast axes). */
__kernel void ox_binary(__global const real *a, __global const real *b, __global real *y, int op, int count,
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
    const real x = a[ia], z = b[ib];
    real r;
    switch (op) {
    case OX_BIN_ADD: r = x + z; break;
    case OX_BIN_SUB: r = x - z; break;
    case OX_BIN_MUL: r = x * z; break;
    case OX_BIN_DIV: r = x / z; break;
    case OX_BIN_POW: r = pow(x, z); break;
    /* Max and Min propagate NaN, like numpy's maximum / minimum */
    case OX_BIN_MAX: r = (isnan(x) || isnan(z)) ? x + z : (x > z ? x : z); break;
    default: r = (isnan(x) || isnan(z)) ? x + z : (x < z ? x : z); break;
    }
    y[i] = r;
}

/* Element-wise y = f(x) with up to two parameters (alpha, beta). Every form keeps NaN: the
 * comparisons are written so that a NaN input falls through to an expression of itself. */
__kernel void ox_unary(__global const real *x, __global real *y, int op, int count, float alpha, float beta) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const real v = x[i];
    real r;
    switch (op) {
    case OX_UN_SIGMOID: r = 1.0f / (1.0f + exp(-v)); break;
    case OX_UN_TANH: r = tanh(v); break;
    case OX_UN_RELU: r = v > 0.0f ? v : (v == v ? 0.0f : v); break; /* Relu keeps NaN */
    case OX_UN_NEG: r = -v; break;
    case OX_UN_ABS: r = fabs(v); break;
    case OX_UN_EXP: r = exp(v); break;
    case OX_UN_LOG: r = log(v); break;
    case OX_UN_SQRT: r = sqrt(v); break;
    case OX_UN_RECIPROCAL: r = 1.0f / v; break;
    case OX_UN_FLOOR: r = floor(v); break;
    case OX_UN_CEIL: r = ceil(v); break;
    case OX_UN_LEAKY_RELU: r = v < 0.0f ? alpha * v : v; break;
    case OX_UN_HARD_SIGMOID: {
        const real t = alpha * v + beta;
        r = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
        break;
    }
    case OX_UN_ELU: r = v < 0.0f ? alpha * expm1(v) : v; break;
    /* the overflow-free form of cl/common.cl: log(1 + e^x) without e^x for large x */
    case OX_UN_SOFTPLUS: r = v > 0.0f ? v + log1p(exp(-v)) : log1p(exp(v)); break;
    case OX_UN_SOFTSIGN: r = v / (1.0f + fabs(v)); break;
    case OX_UN_CLIP: { /* min > max gives max, as ONNX says */
        const real t = v < alpha ? alpha : v;
        r = t > beta ? beta : t;
        break;
    }
    case OX_UN_SELU: r = beta * (v > 0.0f ? v : (v == v ? alpha * expm1(v) : v)); break; /* beta = gamma */
    case OX_UN_ERF: r = erf(v); break;
    default: r = v * alpha; break; /* OX_UN_SCALE */
    }
    y[i] = r;
}

/* One work-item per output element: kept axes (kshape, kstride into x) locate the row, the
 * reduced axes (rshape, rstride) are walked in order. An empty reduction gives the identity of
 * the operation (0, 1, -inf, +inf; NaN for the mean, as numpy). */
/* Offset of the j-th element of the reduced axes (shape rs, strides rst), from base. */
static inline int reduced_offset(int j, int base, int nred, const int *rs, const int *rst) {
    for (int k = nred - 1; k >= 0; --k) {
        base += (j % rs[k]) * rst[k];
        j /= rs[k];
    }
    return base;
}

__kernel void ox_reduce(__global const real *x, __global real *y, int op, int count, int nkeep, int8 kshape,
                        int8 kstride, int nred, int8 rshape, int8 rstride, int rcount) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int ks[8], kst[8], rs[8], rst[8];
    vstore8(kshape, 0, ks);
    vstore8(kstride, 0, kst);
    vstore8(rshape, 0, rs);
    vstore8(rstride, 0, rst);
    int rem = i, base = 0;
    for (int k = nkeep - 1; k >= 0; --k) {
        base += (rem % ks[k]) * kst[k];
        rem /= ks[k];
    }
    real acc = op == OX_RED_MAX ? -INFINITY : op == OX_RED_MIN ? INFINITY : op == OX_RED_PROD ? 1.0f : 0.0f;
    real mx = -INFINITY;
    if (op == OX_RED_LOG_SUM_EXP) /* shifted by the largest element: no overflow */
        for (int j = 0; j < rcount; ++j) {
            const real v = x[reduced_offset(j, base, nred, rs, rst)];
            mx = (v > mx || isnan(v)) ? v : mx;
        }
    if (isinf(mx)) mx = 0.0f;
    for (int j = 0; j < rcount; ++j) {
        const real v = x[reduced_offset(j, base, nred, rs, rst)];
        switch (op) {
        /* a NaN wins and stays (numpy's max / min) */
        case OX_RED_MAX: acc = isnan(acc) ? acc : ((v > acc || isnan(v)) ? v : acc); break;
        case OX_RED_MIN: acc = isnan(acc) ? acc : ((v < acc || isnan(v)) ? v : acc); break;
        case OX_RED_PROD: acc *= v; break;
        case OX_RED_SUM_SQUARE:
        case OX_RED_L2: acc += v * v; break;
        case OX_RED_L1: acc += fabs(v); break;
        case OX_RED_LOG_SUM_EXP: acc += exp(v - mx); break;
        default: acc += v; break;
        }
    }
    switch (op) {
    case OX_RED_MEAN: acc = acc / (real)rcount; break;
    case OX_RED_L2: acc = sqrt(acc); break;
    case OX_RED_LOG_SUM: acc = log(acc); break;
    case OX_RED_LOG_SUM_EXP: acc = log(acc) + mx; break;
    default: break;
    }
    y[i] = acc;
}

/* y = cond ? a : b with numpy broadcasting; cond is the bool tensor (one byte per element). */
__kernel void ox_where(__global const uchar *c, __global const real *a, __global const real *b, __global real *y,
                       int count, int ndim, int8 shape, int8 cstride, int8 astride, int8 bstride) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int shp[8], cs[8], as[8], bs[8];
    vstore8(shape, 0, shp);
    vstore8(cstride, 0, cs);
    vstore8(astride, 0, as);
    vstore8(bstride, 0, bs);
    int rem = i, ic = 0, ia = 0, ib = 0;
    for (int k = ndim - 1; k >= 0; --k) {
        const int idx = rem % shp[k];
        rem /= shp[k];
        ic += idx * cs[k];
        ia += idx * as[k];
        ib += idx * bs[k];
    }
    y[i] = c[ic] ? a[ia] : b[ib];
}

/* Pad: every output element reads the input element its index maps to (edge: clamped, reflect:
 * mirrored without the border, wrap: modulo) or the constant. `begin` holds the leading pads,
 * negative ones crop. */
__kernel void ox_pad(__global const real *x, __global real *y, int mode, float value, int count, int ndim,
                     int8 oshape, int8 ishape, int8 begin) {
    const int i = get_global_id(0);
    if (i >= count) return;
    int os[8], is[8], bg[8];
    vstore8(oshape, 0, os);
    vstore8(ishape, 0, is);
    vstore8(begin, 0, bg);
    int rem = i, off = 0, stride = 1, outside = 0;
    for (int k = ndim - 1; k >= 0; --k) {
        int j = rem % os[k] - bg[k];
        rem /= os[k];
        const int n = is[k];
        if (j < 0 || j >= n) {
            if (mode == OX_PAD_CONSTANT || n == 0) outside = 1;
            else if (mode == OX_PAD_EDGE) j = j < 0 ? 0 : n - 1;
            else if (mode == OX_PAD_WRAP) j = ((j % n) + n) % n;
            else if (n == 1) j = 0;
            else {
                const int p = 2 * (n - 1);
                j = ((j % p) + p) % p;
                if (j >= n) j = p - j;
            }
        }
        off += j * stride;
        stride *= n;
    }
    y[i] = outside ? value : x[off];
}

/* Softmax (LogSoftmax when log_out) over the middle axis of [outer, len, inner]: one work-item per
 * (outer, inner) row. */
__kernel void ox_softmax(__global const real *x, __global real *y, int outer, int len, int inner, int log_out) {
    const int r = get_global_id(0);
    if (r >= outer * inner) return;
    const int o = r / inner, k = r % inner;
    const size_t base = (size_t)o * len * inner + k;
    real mx = -INFINITY;
    for (int j = 0; j < len; ++j) mx = fmax(mx, x[base + (size_t)j * inner]);
    real sum = 0.0f;
    for (int j = 0; j < len; ++j) {
        const real e = exp(x[base + (size_t)j * inner] - mx);
        y[base + (size_t)j * inner] = e;
        sum += e;
    }
    if (log_out) { /* x - max - log(sum): no log of an underflowed exp */
        const real ls = log(sum);
        for (int j = 0; j < len; ++j) y[base + (size_t)j * inner] = x[base + (size_t)j * inner] - mx - ls;
        return;
    }
    for (int j = 0; j < len; ++j) y[base + (size_t)j * inner] /= sum;
}
