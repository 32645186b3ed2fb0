/* clrnn's own SGEMM (gemm_own.c, kernels cl/blas/sgemm.cl), used for clrnn_sgemm and
 * clrnn_sgemm_locked on CPU devices in place of CLBlast. */
#ifndef CLRNN_GEMM_OWN_H
#define CLRNN_GEMM_OWN_H

#include "internal.h"

/* Whether a GEMM of this size on ctx runs on the own kernels: CLRNN_GEMM=own (any device; small
 * products on sgemm_small, the rest on sgemm_tile), CLRNN_GEMM=own-tiled (the same, always
 * sgemm_tile), CLRNN_GEMM=clblast (never), otherwise on CPU devices; sizes past the kernels' int indices go
 * to CLBlast. */
int clrnn_gemm_own_selected(const clrnn_context *ctx, size_t m, size_t n, size_t k);

/* Whether a GEMM of this size on ctx runs on sgemm_small (own kernels selected, the product small,
 * not CLRNN_GEMM=own-tiled): its elements are then each a sum over k in order, fma by fma from 0,
 * which a fused kernel can reproduce bit for bit (src/train/train.c's forward step). */
int clrnn_gemm_own_small(const clrnn_context *ctx, size_t m, size_t n, size_t k);

/* Row-major C = alpha op(A) op(B) + beta C on checked operands (gemm.c's check_gemm), the
 * context lock held. beta == 0: C is not read. */
clrnn_status clrnn_gemm_own(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                            cl_mem c, size_t c_off, size_t ldc);

/* One product of a shared-operand set: C = op(A)[m0 .. m0+m) B (B k x n, row-major, untransposed),
 * op(A) = A^T the caller's A (k rows of m_all, lda apart), alpha 1. */
typedef struct clrnn_gemm_part {
    size_t m0, m, n;
    cl_mem b;
    size_t b_off, ldb;
    float beta;
    cl_mem c;
    size_t c_off, ldc;
} clrnn_gemm_part;

/* The parts on the own kernels with op(A)^T packed once for all of them where each would pack it
 * (the weight gradients dW = dG^T X, dR = dG^T H_prev share dG^T: TN x G*H floats a copy fewer);
 * otherwise part by part as clrnn_gemm_own. Either way the same bits as separate calls. */
clrnn_status clrnn_gemm_own_shared_at(clrnn_context *ctx, size_t k, size_t m_all, cl_mem a, size_t a_off, size_t lda,
                                      const clrnn_gemm_part *parts, int n_parts);

/* gemm.c: the parts as clrnn_sgemm_locked calls (checked, traced, CLBlast where the own kernels are
 * not selected), op(A)^T shared on the own kernels when every part runs on them. */
clrnn_status clrnn_sgemm_shared_at_locked(clrnn_context *ctx, size_t k, size_t m_all, cl_mem a, size_t a_off,
                                          size_t lda, const clrnn_gemm_part *parts, int n_parts);

#endif
