/* clrnn's own SGEMM for CPU devices (src/blas/gemm_own.c launches it): row-major
 * C = alpha op(A) op(B) + beta C, one work-item per strip group x row group of 8 x 32 tiles of C.
 *
 * The micro-kernel is an outer product per k: eight scalars of op(A) (broadcast) times 32
 * contiguous floats of op(B) (two float16 loads) into sixteen float16 accumulators, which PoCL's
 * LLVM keeps in the 32 zmm registers. It reads op(B) in 32-column strips and needs op(B)'s row k,
 * columns j0..j0+31 of the strip, contiguous: true in place for B untransposed when N is a
 * multiple of 32 (or the last row's last strip lies in the buffer), otherwise (B transposed:
 * op(B)'s row is a strided column of B; or a partial last strip), and always for the
 * sequence-wide products (M >= 512 rows), sgemm_pack_b first copies op(B) into contiguous
 * 32-column panels [K][32], zero past column N, so the micro-kernel never reads out of bounds and
 * never branches. op(A) is read as scalars with two strides (row, k), which covers both A and A^T
 * without packing, except A^T in a product at least 64 columns wide, which the host packs too
 * (8-row panels, see sgemm_tile). Rows past M read row M-1 (in bounds; a packed op(A)'s zero
 * rows) and are not written.
 * When op(B) would need packing and op(A) is the smaller operand (the per-step h R^T: 64 rows
 * against 2048 of R), the host runs the transposed product C^T = op(B)^T op(A)^T instead: then
 * only op(A) (64 x K) is packed, not all of R each step, and C is written transposed (c_trans).
 *
 * The sum over k runs in a fixed order for every element (blocks of kc_block, in order), nothing is
 * shared between work-items: the same bits run to run, whatever the launch shape. */

/* Bp[p_off + ((j/W)*K + k)*W + j%W] = op(B)[k][j], 0 past column N up to the last panel's end:
 * op(B) in W-wide panels [K][W] (W = 32 for op(B), one work-item's strip, contiguous; 8 for
 * op(A)^T, one row block's eight scalars a k side by side). Work-item (kb, jb): k in kb*64 ..
 * kb*64+63 and columns jb*64 .. jb*64+63, so that B transposed is read 64 contiguous floats at a
 * time, in fewer work-items (16 KB each; 16 k a work-item made 12800 of them for the S1 weight
 * gradients' dG^T). The host packs op(A)^T this way too (its panels after op(B)'s, from p_off),
 * see sgemm_tile. */
__kernel void sgemm_pack_b(const int K, const int N, const int trans_b, __global const float *b, const ulong b_off,
                           const ulong ldb, __global float *Bp, const ulong p_off, const int W) {
    const int kb = get_global_id(0), jb = get_global_id(1);
    __global const float *src = b + b_off;
    const int padded = (N + W - 1) / W * W;
    const int j0 = jb * 64, cols = min(64, N - j0), n_p = min(64, padded - j0) / W, k0 = kb * 64, k1 = min(K, k0 + 64);
    /* panel j0/W + p, row k: dst + ((j0/W + p)*K + k)*W (no division per element: j0 is a multiple of W) */
    __global float *dst = Bp + p_off + (ulong)(j0 / W) * K * W;
    if (trans_b) {
        for (int p = 0; p < n_p; ++p)
            for (int l = 0; l < W; ++l) {
                const int c = p * W + l;
                __global float *d = dst + (ulong)p * K * W + l;
                __global const float *col = src + (ulong)(j0 + c) * ldb;
                if (c < cols)
                    for (int k = k0; k < k1; ++k) d[(ulong)k * W] = col[k];
                else
                    for (int k = k0; k < k1; ++k) d[(ulong)k * W] = 0.0f;
            }
    } else {
        for (int k = k0; k < k1; ++k) {
            __global const float *row = src + (ulong)k * ldb + j0;
            for (int p = 0; p < n_p; ++p) {
                __global float *d = dst + ((ulong)p * K + k) * W;
                if ((p + 1) * W <= cols && W == 8)
                    vstore8(vload8(0, row + p * 8), 0, d); /* whole panels by vectors: W is not a constant */
                else if ((p + 1) * W <= cols && W == 32)
                    vstore16(vload16(0, row + p * 32), 0, d), vstore16(vload16(0, row + p * 32 + 16), 0, d + 16);
                else if ((p + 1) * W <= cols)
                    for (int l = 0; l < W; ++l) d[l] = row[p * W + l];
                else
                    for (int l = 0; l < W; ++l) d[l] = p * W + l < cols ? row[p * W + l] : 0.0f;
            }
        }
    }
}

/* One float16 of C's row `crow`, columns j..j+15 (cols of them inside C). The first K block
 * writes alpha acc + beta C (beta == 0: C is not read, BLAS: a NaN there does not show), later
 * ones add alpha acc to it. */
static inline void store16(__global float *crow, const int j, const int cols, const float16 acc, const float alpha,
                           const float beta, const int first) {
    if (cols >= 16) {
        float16 v;
        if (!first) v = fma((float16)alpha, acc, vload16(0, crow + j));
        else if (beta != 0.0f) v = fma((float16)beta, vload16(0, crow + j), alpha * acc);
        else v = alpha * acc;
        vstore16(v, 0, crow + j);
    } else if (cols > 0) {
        float t[16];
        vstore16(acc, 0, t);
        for (int l = 0; l < cols; ++l)
            crow[j + l] = !first ? fma(alpha, t[l], crow[j + l])
                          : beta != 0.0f ? fma(beta, crow[j + l], alpha * t[l]) : alpha * t[l];
    }
}

/* The same for C stored transposed (the kernel computes C^T = op(B)^T op(A)^T): element (row,
 * j + l) of the computed matrix is C[(j + l) * ldc + row], scalar stores. */
static inline void store16_t(__global float *c, const int row, const ulong ldc, const int j, const int cols,
                             const float16 acc, const float alpha, const float beta, const int first) {
    float t[16];
    vstore16(acc, 0, t);
    for (int l = 0; l < min(cols, 16); ++l) {
        __global float *e = c + (ulong)(j + l) * ldc + row;
        *e = !first ? fma(alpha, t[l], *e) : beta != 0.0f ? fma(beta, *e, alpha * t[l]) : alpha * t[l];
    }
}

/* k is taken in blocks of kc_block (the host's choice, so that a block of the op(B) panel stays in
 * L1/L2 while the work-item runs all its row blocks over it); C's tile is the running sum between
 * blocks. Fixed block order, so still the same bits run to run.
 *
 * The tile is 8 rows x 32 columns (one strip): per k, two float16 loads of op(B) and
 * eight broadcasts of op(A) feed sixteen FMAs. The 4 x 64 tile it replaced fed the same sixteen FMAs
 * from four op(B) loads, 256 bytes a k from a panel block that lives in L2 once it outgrows L1;
 * eight rows halve that traffic (PoCL's code for both is a clean loop, no spills: for this one two
 * vmovups, eight vbroadcastss from memory, sixteen vfmadd231ps on zmm a k). */

/* op(A)'s row i from the start of a k block: see sgemm_tile */
static inline ulong arow(const int i, const ulong a_rs, const ulong a_ps) {
    return (ulong)(i >> 3) * a_ps + (ulong)(i & 7) * a_rs;
}

/* Work-item (sg, grp): the strips (32 columns each) sg*strips_per_item .. +strips_per_item, row
 * blocks grp*rb_per_item .. +rb_per_item. Loop order (BLIS's, for one work-item): per k block,
 * per strip, per row block: the strip's kc_block x 32 block of op(B) (32 KB at kc 256, contiguous
 * when packed) stays in L1 across the row blocks, the work-item's rows of op(A) for the k block
 * (rb_per_item*8 x kc_block) in L2 across its strips, and across the next work-items (dimension 0
 * is the strip group: neighbours share their rows). op(A)[i][k] = a[a_off + (i/8)*a_ps +
 * (i%8)*a_rs + k*a_ks]: in place a_ps = 8 a_rs; packed by sgemm_pack_b into 8-row panels [K][8],
 * a_rs = 1, a_ks = 8, a_ps = 8 K, so that the eight rows' scalars for one k are 32 contiguous bytes
 * and k steps 32 bytes, one stream the prefetcher follows, where op(A) = dG^T in place steps 8 KB
 * (a new page) every k; op(B)[k][s*32 + c] = b[b_off + s*b_js + k*b_ks + c]; c_trans: the M x N
 * result goes to C transposed (C[j][i], ldc its row stride). */
__kernel void sgemm_tile(const int M, const int N, const int K, const float alpha, __global const float *a,
                         const ulong a_off, const ulong a_rs, const ulong a_ks, const ulong a_ps,
                         __global const float *b, const ulong b_off, const ulong b_js, const ulong b_ks, const float beta, __global float *c,
                         const ulong c_off, const ulong ldc, const int c_trans, const int kc_block,
                         const int rb_per_item, const int strips_per_item) {
    const int sg = get_global_id(0), grp = get_global_id(1);
    const int n_rb = (M + 7) / 8, n_js = (N + 31) / 32;
    const int rb0 = grp * rb_per_item, rb1 = min(n_rb, (grp + 1) * rb_per_item);
    const int js0 = sg * strips_per_item, js1 = min(n_js, (sg + 1) * strips_per_item);
    for (int kc = 0; kc < K; kc += kc_block) {
      for (int js = js0; js < js1; ++js) {
        const int kn = min(kc_block, K - kc), first = kc == 0, j0 = js * 32, cols = N - j0;
        __global const float *bblock = b + b_off + (ulong)js * b_js + (ulong)kc * b_ks;
        for (int rb = rb0; rb < rb1; ++rb) {
            const int i0 = rb * 8;
            __global const float *abase = a + a_off + (ulong)kc * a_ks;
            __global const float *p0 = abase + arow(min(i0 + 0, M - 1), a_rs, a_ps);
            __global const float *p1 = abase + arow(min(i0 + 1, M - 1), a_rs, a_ps);
            __global const float *p2 = abase + arow(min(i0 + 2, M - 1), a_rs, a_ps);
            __global const float *p3 = abase + arow(min(i0 + 3, M - 1), a_rs, a_ps);
            __global const float *p4 = abase + arow(min(i0 + 4, M - 1), a_rs, a_ps);
            __global const float *p5 = abase + arow(min(i0 + 5, M - 1), a_rs, a_ps);
            __global const float *p6 = abase + arow(min(i0 + 6, M - 1), a_rs, a_ps);
            __global const float *p7 = abase + arow(min(i0 + 7, M - 1), a_rs, a_ps);
            __global const float *B = bblock;
            /* named accumulators, not an array: see tiled_dot in cl/tiled/step_tiled.cl */
            float16 a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f, a20 = 0.0f, a21 = 0.0f, a30 = 0.0f, a31 = 0.0f;
            float16 a40 = 0.0f, a41 = 0.0f, a50 = 0.0f, a51 = 0.0f, a60 = 0.0f, a61 = 0.0f, a70 = 0.0f, a71 = 0.0f;
            for (int k = 0; k < kn; ++k) {
                const float16 w0 = vload16(0, B), w1 = vload16(1, B);
                B += b_ks;
                const float16 h0 = (float16)*p0, h1 = (float16)*p1, h2 = (float16)*p2, h3 = (float16)*p3;
                const float16 h4 = (float16)*p4, h5 = (float16)*p5, h6 = (float16)*p6, h7 = (float16)*p7;
                p0 += a_ks, p1 += a_ks, p2 += a_ks, p3 += a_ks, p4 += a_ks, p5 += a_ks, p6 += a_ks, p7 += a_ks;
                a00 = fma(h0, w0, a00), a01 = fma(h0, w1, a01), a10 = fma(h1, w0, a10), a11 = fma(h1, w1, a11);
                a20 = fma(h2, w0, a20), a21 = fma(h2, w1, a21), a30 = fma(h3, w0, a30), a31 = fma(h3, w1, a31);
                a40 = fma(h4, w0, a40), a41 = fma(h4, w1, a41), a50 = fma(h5, w0, a50), a51 = fma(h5, w1, a51);
                a60 = fma(h6, w0, a60), a61 = fma(h6, w1, a61), a70 = fma(h7, w0, a70), a71 = fma(h7, w1, a71);
            }
            __global float *crow = c + c_off + (ulong)i0 * ldc;
#define STORE_ROW(r, x0, x1)                                                                       \
    if (i0 + r < M && c_trans) {                                                                   \
        __global float *ct = c + c_off;                                                            \
        store16_t(ct, i0 + r, ldc, j0, cols, x0, alpha, beta, first);                              \
        store16_t(ct, i0 + r, ldc, j0 + 16, cols - 16, x1, alpha, beta, first);                    \
    } else if (i0 + r < M) {                                                                       \
        __global float *cr = crow + (ulong)r * ldc;                                                \
        store16(cr, j0, cols, x0, alpha, beta, first);                                             \
        store16(cr, j0 + 16, cols - 16, x1, alpha, beta, first);                                   \
    }
            STORE_ROW(0, a00, a01)
            STORE_ROW(1, a10, a11)
            STORE_ROW(2, a20, a21)
            STORE_ROW(3, a30, a31)
            STORE_ROW(4, a40, a41)
            STORE_ROW(5, a50, a51)
            STORE_ROW(6, a60, a61)
            STORE_ROW(7, a70, a71)
#undef STORE_ROW
        }
      }
    }
}

