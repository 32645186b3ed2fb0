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

#endif
