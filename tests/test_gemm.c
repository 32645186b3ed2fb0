/* SGEMM through CLBlast against a double-precision C product, on random shapes (odd sizes,
 * transposes, offsets, alpha/beta), and the batched form. */
#include "test_util.h"

static void ref_gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                     const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < n; ++j) {
            double s = 0;
            for (size_t p = 0; p < k; ++p)
                s += (double)(ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
            C[i * ldc + j] = (float)(alpha * s + beta * C[i * ldc + j]);
        }
}

static cl_mem upload(clrnn_context *ctx, const float *a, size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), (void *)a, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

static void random_shapes(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 42;
    const size_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 128, 32}, {3, 200, 1}, {129, 7, 31}, {100, 64, 96}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) {
                const size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                const size_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3, off = 5;
                const size_t na = off + (ta ? k : m) * lda, nb = off + (tb ? n : k) * ldb, nc = off + m * ldc;
                float *A = tu_alloc_random(na, &seed, -1, 1), *B = tu_alloc_random(nb, &seed, -1, 1);
                float *C = tu_alloc_random(nc, &seed, -1, 1), *Cref = malloc(nc * sizeof(float)), *Cdev = malloc(nc * sizeof(float));
                memcpy(Cref, C, nc * sizeof(float));
                const float alpha = 0.75f, beta = (s % 2) ? 0.5f : 0.0f;
                ref_gemm(ta, tb, m, n, k, alpha, A + off, lda, B + off, ldb, beta, Cref + off, ldc);
                cl_mem a = upload(ctx, A, na), b = upload(ctx, B, nb), c = upload(ctx, C, nc);
                TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, alpha, a, off, lda, b, off, ldb, beta, c, off, ldc));
                TU_OK(clrnn_context_finish(ctx));
                clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), c, CL_TRUE, 0, nc * sizeof(float), Cdev, 0, NULL, NULL);
                size_t where = 0;
                double err = tu_max_abs_diff(Cdev, Cref, nc, &where);
                if (err > 1e-4)
                    fail_msg("gemm %zux%zux%zu ta=%d tb=%d: err %g at %zu", m, n, k, ta, tb, err, where);
                /* elements outside the C window (the padding columns) are untouched */
                for (size_t i = 0; i < m; ++i)
                    for (size_t j = n; j < ldc; ++j) assert_true(Cdev[off + i * ldc + j] == C[off + i * ldc + j]);
                clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
                free(A), free(B), free(C), free(Cref), free(Cdev);
            }
}

static void batched(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 7;
    const size_t m = 5, n = 9, k = 13, batch = 3;
    const size_t na = batch * m * k, nb = batch * k * n, nc = batch * m * n;
    float *A = tu_alloc_random(na, &seed, -1, 1), *B = tu_alloc_random(nb, &seed, -1, 1);
    float *C = tu_alloc_random(nc, &seed, -1, 1), *Cref = malloc(nc * sizeof(float)), *Cdev = malloc(nc * sizeof(float));
    memcpy(Cref, C, nc * sizeof(float));
    float alphas[3] = {1, 0.5f, -1}, betas[3] = {0, 1, 0.25f};
    size_t ao[3], bo[3], co[3];
    for (size_t i = 0; i < batch; ++i) {
        ao[i] = i * m * k, bo[i] = i * k * n, co[i] = i * m * n;
        ref_gemm(0, 0, m, n, k, alphas[i], A + ao[i], k, B + bo[i], n, betas[i], Cref + co[i], n);
    }
    cl_mem a = upload(ctx, A, na), b = upload(ctx, B, nb), c = upload(ctx, C, nc);
    TU_OK(clrnn_sgemm_batched(ctx, 0, 0, m, n, k, alphas, a, ao, k, b, bo, n, betas, c, co, n, batch));
    TU_OK(clrnn_context_finish(ctx));
    clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), c, CL_TRUE, 0, nc * sizeof(float), Cdev, 0, NULL, NULL);
    assert_true(tu_max_abs_diff(Cdev, Cref, nc, NULL) < 1e-4);
    clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    free(A), free(B), free(C), free(Cref), free(Cdev);
}

static void bad_arguments(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    assert_int_equal(clrnn_sgemm(ctx, 0, 0, 1, 1, 1, 1, NULL, 0, 1, NULL, 0, 1, 0, NULL, 0, 1), CLRNN_ERR_NULL_ARGUMENT);
    float v = 1;
    cl_mem a = upload(ctx, &v, 1);
    assert_int_equal(clrnn_sgemm(ctx, 0, 0, 0, 1, 1, 1, a, 0, 1, a, 0, 1, 0, a, 0, 1), CLRNN_ERR_INVALID_ARGUMENT);
    /* a C buffer too small for the product: CLBlast's own check, surfaced as a status */
    clrnn_status st = clrnn_sgemm(ctx, 0, 0, 4, 4, 4, 1, a, 0, 4, a, 0, 4, 0, a, 0, 4);
    assert_int_not_equal(st, CLRNN_OK);
    assert_true(strlen(clrnn_last_error()) > 0);
    clReleaseMemObject(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_shapes),
        cmocka_unit_test(batched),
        cmocka_unit_test(bad_arguments),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_context_release();
    return rc;
}
