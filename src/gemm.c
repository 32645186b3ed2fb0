/* GEMM through CLBlast (row-major), and the per-device database of tuned CLBlast parameters
 * applied with CLBlastOverrideParameters when a context is created. */
#include "internal.h"

#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

/* Tuned parameters: one row per (device-name substring, CLBlast kernel). Values come from
 * CLBlast's own tuners (clblast_tuner_xgemm, ... from clblast-utils) run on that device. */
typedef struct tuned_entry {
    const char *device_substring;
    const char *kernel;
    size_t count;
    const char *names[16];
    size_t values[16];
} tuned_entry;

#include "gemm_tuned.h"

static clrnn_status blas_fail(CLBlastStatusCode code, const char *call) {
    if (code == CLBlastOpenCLOutOfResources || code == CLBlastOpenCLOutOfHostMemory || code == CLBlastTempBufferAllocFailure)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: CLBlast status %d (device out of memory)", call, (int)code);
    if (code < 0 && code > -100) return clrnn_fail_cl((cl_int)code, call, "running CLBlast");
    return clrnn_fail(CLRNN_ERR_BLAS, "%s: CLBlast status %d", call, (int)code);
}

clrnn_status clrnn_gemm_apply_tuning(clrnn_context *ctx) {
    for (size_t i = 0; i < sizeof tuned_db / sizeof tuned_db[0]; ++i) {
        const tuned_entry *e = &tuned_db[i];
        if (!e->device_substring || !strstr(ctx->info.name, e->device_substring)) continue;
        CLBlastStatusCode s =
            CLBlastOverrideParameters(ctx->device, e->kernel, CLBlastPrecisionSingle, e->count, (const char **)e->names, e->values);
        if (s != CLBlastSuccess) return blas_fail(s, "CLBlastOverrideParameters");
    }
    return CLRNN_OK;
}

clrnn_status clrnn_sgemm_locked(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                                size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                                       lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, NULL);
    return s == CLBlastSuccess ? CLRNN_OK : blas_fail(s, "CLBlastSgemm");
}

clrnn_status clrnn_sgemm(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                         cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c,
                         size_t c_off, size_t ldc) {
    clrnn_clear_error();
    if (!ctx || !a || !b || !c) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_sgemm: NULL context or buffer");
    if (m == 0 || n == 0 || k == 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_sgemm: zero dimension");
    mtx_lock(&ctx->lock);
    clrnn_status st = clrnn_sgemm_locked(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta,
                                         c, c_off, ldc);
    mtx_unlock(&ctx->lock);
    return st;
}

clrnn_status clrnn_sgemm_batched(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                 const float *alphas, cl_mem a, const size_t *a_offs, size_t lda, cl_mem b,
                                 const size_t *b_offs, size_t ldb, const float *betas, cl_mem c, const size_t *c_offs,
                                 size_t ldc, size_t batch) {
    clrnn_clear_error();
    if (!ctx || !a || !b || !c || !alphas || !betas || !a_offs || !b_offs || !c_offs)
        return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_sgemm_batched: NULL argument");
    if (m == 0 || n == 0 || k == 0 || batch == 0)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_sgemm_batched: zero dimension or batch");
    mtx_lock(&ctx->lock);
    CLBlastStatusCode s = CLBlastSgemmBatched(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                              trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alphas, a,
                                              a_offs, lda, b, b_offs, ldb, betas, c, c_offs, ldc, batch, &ctx->queue, NULL);
    mtx_unlock(&ctx->lock);
    return s == CLBlastSuccess ? CLRNN_OK : blas_fail(s, "CLBlastSgemmBatched");
}
