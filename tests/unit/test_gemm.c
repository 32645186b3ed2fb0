/* SGEMM through CLBlast against a double-precision C product, on random shapes (odd sizes,
 * transposes, offsets, alpha/beta), and the batched form; every operand's extent, leading
 * dimension and OpenCL context checked before anything is enqueued (gemm_operand_extents,
 * gemm_foreign_context, gemm_batched_bad_item). */
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
    /* a buffer too small for the product: refused by clrnn before CLBlast sees it */
    clrnn_status st = clrnn_sgemm(ctx, 0, 0, 4, 4, 4, 1, a, 0, 4, a, 0, 4, 0, a, 0, 4);
    assert_int_equal(st, CLRNN_ERR_SHAPE_MISMATCH);
    assert_true(strlen(clrnn_last_error()) > 0);
    clReleaseMemObject(a);
}

/* ---- operand checks ----
 * Every operand lives in a CL_MEM_USE_HOST_PTR buffer, page-aligned (PoCL then computes in the
 * host memory itself) between two 4 KiB guard regions poisoned with GUARD: a read or write at a
 * wrapped address lands there or in the buffer, and a refused call must leave both untouched. */
#define GUARD_FLOATS 1024
#define GUARD (-7.0f)

typedef struct guarded {
    float *base, *buf; /* base: guard | buf[floats] | guard */
    float *init;       /* what buf held at creation */
    size_t floats;
    cl_mem mem;
} guarded;

static guarded guarded_new(cl_context cl, size_t floats, uint64_t *seed) {
    guarded g;
    const size_t total = ((2 * GUARD_FLOATS + floats) * sizeof(float) + 4095) / 4096 * 4096;
    g.base = aligned_alloc(4096, total);
    assert_non_null(g.base);
    for (size_t i = 0; i < total / sizeof(float); ++i) g.base[i] = GUARD;
    g.buf = g.base + GUARD_FLOATS;
    g.floats = floats;
    g.init = tu_alloc_random(floats, seed, -1, 1);
    memcpy(g.buf, g.init, floats * sizeof(float));
    cl_int err;
    g.mem = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, floats * sizeof(float), g.buf, &err);
    assert_int_equal(err, CL_SUCCESS);
    return g;
}

static void guarded_free(guarded *g) {
    clReleaseMemObject(g->mem);
    free(g->base), free(g->init);
}

/* The guards hold GUARD, and the buffer holds `expect` (its initial contents when NULL). */
static void guarded_check(clrnn_context *ctx, const guarded *g, const float *expect, const char *what) {
    TU_OK(clrnn_context_finish(ctx));
    const size_t after = GUARD_FLOATS + g->floats;
    for (size_t i = 0; i < GUARD_FLOATS; ++i) {
        if (g->base[i] != GUARD) fail_msg("%s: guard before the buffer overwritten at -%zu", what, GUARD_FLOATS - i);
        if (g->base[after + i] != GUARD) fail_msg("%s: guard after the buffer overwritten at +%zu", what, i);
    }
    float *now = malloc(g->floats * sizeof(float));
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), g->mem, CL_TRUE, 0, g->floats * sizeof(float),
                                         now, 0, NULL, NULL),
                     CL_SUCCESS);
    const float *ref = expect ? expect : g->init;
    size_t where = 0;
    const double err = tu_max_abs_diff(now, ref, g->floats, &where);
    free(now);
    if (expect ? err > 1e-4 : err != 0) fail_msg("%s: buffer element %zu differs (max err %g)", what, where, err);
}

#define GM_M 5
#define GM_N 7
#define GM_K 6

/* Rows and columns operand op (0 = A, 1 = B, 2 = C) stores for C[m x n] = op(A)[m x k] op(B)[k x n]. */
static void stored_shape(int op, int trans, size_t *rows, size_t *cols) {
    const size_t m = GM_M, n = GM_N, k = GM_K;
    if (op == 0) *rows = trans ? k : m, *cols = trans ? m : k;
    else if (op == 1) *rows = trans ? n : k, *cols = trans ? k : n;
    else *rows = m, *cols = n;
}

typedef struct gemm_case {
    size_t off[3], ld[3];
} gemm_case;

/* One GEMM whose operand `op` takes (off, ld) and the others their exact-size default, in a fresh
 * set of guarded buffers; asserts `want`, and on success the product against ref_gemm. */
static void run_case(clrnn_context *ctx, int trans, int op, size_t off, size_t ld, size_t floats, clrnn_status want,
                     const char *label) {
    static const char *const names[3] = {"A", "B", "C"};
    uint64_t seed = 1000u + (uint64_t)op * 31u + (uint64_t)trans;
    cl_context cl = clrnn_context_cl_context(ctx);
    gemm_case c;
    guarded g[3];
    for (int i = 0; i < 3; ++i) {
        size_t rows, cols;
        stored_shape(i, trans, &rows, &cols);
        c.off[i] = i == op ? off : 0;
        c.ld[i] = i == op ? ld : cols;
        g[i] = guarded_new(cl, i == op ? floats : rows * cols, &seed);
    }
    const float alpha = 0.75f, beta = 0.5f;
    char what[160];
    snprintf(what, sizeof what, "%s, %s%s, off %zu, ld %zu", label, names[op], trans ? " (transposed)" : "", off, ld);
    clrnn_status st = clrnn_sgemm(ctx, trans, trans, GM_M, GM_N, GM_K, alpha, g[0].mem, c.off[0], c.ld[0], g[1].mem,
                                  c.off[1], c.ld[1], beta, g[2].mem, c.off[2], c.ld[2]);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", what, clrnn_status_name(st), clrnn_last_error(), clrnn_status_name(want));
    float *expect = NULL;
    if (want == CLRNN_OK) {
        expect = malloc(g[2].floats * sizeof(float));
        memcpy(expect, g[2].init, g[2].floats * sizeof(float));
        ref_gemm(trans, trans, GM_M, GM_N, GM_K, alpha, g[0].init + c.off[0], c.ld[0], g[1].init + c.off[1], c.ld[1],
                 beta, expect + c.off[2], c.ld[2]);
    } else {
        /* the message names the operand: "clrnn_sgemm: A: ..." */
        char name[8];
        snprintf(name, sizeof name, ": %s: ", names[op]);
        if (!strstr(clrnn_last_error(), name))
            fail_msg("%s: message does not name %s: %s", what, names[op], clrnn_last_error());
    }
    for (int i = 0; i < 3; ++i) guarded_check(ctx, &g[i], i == 2 ? expect : NULL, what);
    free(expect);
    for (int i = 0; i < 3; ++i) guarded_free(&g[i]);
}

static void gemm_operand_extents(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    const size_t big = (size_t)1 << 62;
    int cases = 0;
    for (int op = 0; op < 3; ++op)
        for (int trans = 0; trans < 2; ++trans) {
            size_t rows, cols;
            stored_shape(op, trans, &rows, &cols);
            /* the operand's buffer: exactly rows-1 strides of ld_fit plus one row */
            const size_t ld_fit = cols + 3, floats = ld_fit * (rows - 1) + cols;
            const size_t dense = cols * (rows - 1) + cols; /* extent with ld = cols, offset 0 */
            const size_t off_fit = floats - dense;
            const struct {
                size_t off, ld;
                clrnn_status want;
                const char *label;
            } v[] = {
                {off_fit, cols, CLRNN_OK, "offset: exact fit"},
                {off_fit + 1, cols, CLRNN_ERR_SHAPE_MISMATCH, "offset: one past the end"},
                {floats * 1000, cols, CLRNN_ERR_SHAPE_MISMATCH, "offset: far past the end"},
                /* the largest extent whose byte size fits size_t, and the smallest that does not */
                {SIZE_MAX / 4 - dense, cols, CLRNN_ERR_SHAPE_MISMATCH, "offset: byte size SIZE_MAX-3"},
                {SIZE_MAX / 4 - dense + 1, cols, CLRNN_ERR_OVERFLOW, "offset: byte size 2^64"},
                {big - 16, cols, CLRNN_ERR_OVERFLOW, "offset: 2^62-16 (wraps to -64 bytes)"},
                {SIZE_MAX / 4 - 8, cols, CLRNN_ERR_OVERFLOW, "offset: SIZE_MAX/4-8"},
                {big + 8, cols, CLRNN_ERR_OVERFLOW, "offset: 2^62+8"},
                {SIZE_MAX, cols, CLRNN_ERR_OVERFLOW, "offset: SIZE_MAX"},
                {0, ld_fit, CLRNN_OK, "ld: exact fit"},
                {1, ld_fit, CLRNN_ERR_SHAPE_MISMATCH, "ld: exact fit, offset 1"},
                {0, ld_fit + 1, CLRNN_ERR_SHAPE_MISMATCH, "ld: one past the end"},
                {0, cols - 1, CLRNN_ERR_INVALID_ARGUMENT, "ld: smaller than the stored columns"},
                {0, 0, CLRNN_ERR_INVALID_ARGUMENT, "ld: 0"},
                {0, big - 16, CLRNN_ERR_OVERFLOW, "ld: 2^62-16"},
                {0, SIZE_MAX / 4 - 8, CLRNN_ERR_OVERFLOW, "ld: SIZE_MAX/4-8"},
                {0, big + 8, CLRNN_ERR_OVERFLOW, "ld: 2^62+8 (a row is 32 bytes after wrapping)"},
                {0, big, CLRNN_ERR_OVERFLOW, "ld: 2^62 (a row is 0 bytes after wrapping)"},
                {0, SIZE_MAX / (rows - 1) + 1, CLRNN_ERR_OVERFLOW, "ld: ld x (rows-1) just wraps"},
                {0, SIZE_MAX, CLRNN_ERR_OVERFLOW, "ld: SIZE_MAX"},
            };
            for (size_t i = 0; i < sizeof v / sizeof v[0]; ++i, ++cases)
                run_case(ctx, trans, op, v[i].off, v[i].ld, floats, v[i].want, v[i].label);
        }
    printf("gemm operand cases checked: %d\n", cases);
}

/* A buffer of another cl_context as each operand, single and batched: refused, nothing written. */
static void gemm_foreign_context(void **state) {
    (void)state;
    static const char *const names[3] = {"A", "B", "C"};
    clrnn_context *ctx = tu_context();
    cl_device_id dev = clrnn_context_cl_device(ctx);
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_command_queue other_q = clCreateCommandQueue(other, dev, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    uint64_t seed = 99;
    const size_t sizes[3] = {GM_M * GM_K, GM_K * GM_N, GM_M * GM_N}, lds[3] = {GM_K, GM_N, GM_N};
    for (int op = 0; op < 3; ++op)
        for (int batched = 0; batched < 2; ++batched) {
            guarded g[3];
            for (int i = 0; i < 3; ++i) g[i] = guarded_new(clrnn_context_cl_context(ctx), sizes[i], &seed);
            guarded f = guarded_new(other, sizes[op], &seed);
            cl_mem mem[3] = {g[0].mem, g[1].mem, g[2].mem};
            mem[op] = f.mem;
            const size_t zero = 0;
            const float one = 1.0f;
            clrnn_status st =
                batched ? clrnn_sgemm_batched(ctx, 0, 0, GM_M, GM_N, GM_K, &one, mem[0], &zero, lds[0], mem[1], &zero,
                                              lds[1], &one, mem[2], &zero, lds[2], 1)
                        : clrnn_sgemm(ctx, 0, 0, GM_M, GM_N, GM_K, 1.0f, mem[0], 0, lds[0], mem[1], 0, lds[1], 1.0f,
                                      mem[2], 0, lds[2]);
            if (st != CLRNN_ERR_INVALID_ARGUMENT) fail_msg("foreign %s: got %s", names[op], clrnn_status_name(st));
            char want[64];
            snprintf(want, sizeof want, ": %s: the buffer belongs to another OpenCL context", names[op]);
            if (!strstr(clrnn_last_error(), want)) fail_msg("foreign %s: message '%s'", names[op], clrnn_last_error());
            for (int i = 0; i < 3; ++i) guarded_check(ctx, &g[i], NULL, names[op]);
            /* the foreign buffer itself, read through its own context */
            float *now = malloc(f.floats * sizeof(float));
            assert_int_equal(clEnqueueReadBuffer(other_q, f.mem, CL_TRUE, 0, f.floats * sizeof(float), now, 0, NULL, NULL),
                             CL_SUCCESS);
            assert_memory_equal(now, f.init, f.floats * sizeof(float));
            for (size_t i = 0; i < GUARD_FLOATS; ++i)
                assert_true(f.base[i] == GUARD && f.base[GUARD_FLOATS + f.floats + i] == GUARD);
            free(now);
            guarded_free(&f);
            for (int i = 0; i < 3; ++i) guarded_free(&g[i]);
        }
    clReleaseCommandQueue(other_q);
    clReleaseContext(other);
}

/* The batched call: one bad item among good ones refuses the whole call before any item runs;
 * with every item good (the last one ending exactly at each buffer's end) the products match. */
static void gemm_batched_bad_item(void **state) {
    (void)state;
    static const char *const names[3] = {"A", "B", "C"};
    clrnn_context *ctx = tu_context();
    cl_context cl = clrnn_context_cl_context(ctx);
    enum { BATCH = 4, BAD = 2 };
    const size_t big = (size_t)1 << 62;
    for (int trans = 0; trans < 2; ++trans) {
        size_t rows[3], cols[3], item[3];
        for (int i = 0; i < 3; ++i) stored_shape(i, trans, &rows[i], &cols[i]), item[i] = rows[i] * cols[i];
        for (int op = -1; op < 3; ++op) {
            const size_t bad[] = {(BATCH - 1) * item[op < 0 ? 0 : op] + 1, big - 16, SIZE_MAX / 4 - 8, big + 8};
            const clrnn_status want[] = {CLRNN_ERR_SHAPE_MISMATCH, CLRNN_ERR_OVERFLOW, CLRNN_ERR_OVERFLOW,
                                         CLRNN_ERR_OVERFLOW};
            for (size_t v = 0; v < (op < 0 ? 1u : sizeof bad / sizeof bad[0]); ++v) {
                uint64_t seed = 77u + (uint64_t)v;
                guarded g[3];
                size_t offs[3][BATCH];
                for (int i = 0; i < 3; ++i) {
                    g[i] = guarded_new(cl, BATCH * item[i], &seed);
                    for (int b = 0; b < BATCH; ++b) offs[i][b] = (size_t)b * item[i];
                }
                if (op >= 0) offs[op][BAD] = bad[v];
                const float alphas[BATCH] = {1.0f, -0.5f, 0.25f, 2.0f}, betas[BATCH] = {0.0f, 1.0f, -1.0f, 0.5f};
                clrnn_status st = clrnn_sgemm_batched(ctx, trans, trans, GM_M, GM_N, GM_K, alphas, g[0].mem, offs[0],
                                                      cols[0], g[1].mem, offs[1], cols[1], betas, g[2].mem, offs[2],
                                                      cols[2], BATCH);
                char what[96];
                snprintf(what, sizeof what, "batched%s, item %d of %s at offset %zu", trans ? " (transposed)" : "",
                         BAD, op < 0 ? "none" : names[op], op < 0 ? 0 : bad[v]);
                float *expect = NULL;
                if (op < 0) {
                    TU_OK(st);
                    expect = malloc(g[2].floats * sizeof(float));
                    memcpy(expect, g[2].init, g[2].floats * sizeof(float));
                    for (int b = 0; b < BATCH; ++b)
                        ref_gemm(trans, trans, GM_M, GM_N, GM_K, alphas[b], g[0].init + offs[0][b], cols[0],
                                 g[1].init + offs[1][b], cols[1], betas[b], expect + offs[2][b], cols[2]);
                } else {
                    if (st != want[v]) fail_msg("%s: got %s (%s)", what, clrnn_status_name(st), clrnn_last_error());
                    char name[32];
                    snprintf(name, sizeof name, ": item %d: %s: ", BAD, names[op]);
                    if (!strstr(clrnn_last_error(), name)) fail_msg("%s: message '%s'", what, clrnn_last_error());
                }
                /* refused: C holds its initial values everywhere, also for the good items */
                for (int i = 0; i < 3; ++i) guarded_check(ctx, &g[i], i == 2 ? expect : NULL, what);
                free(expect);
                for (int i = 0; i < 3; ++i) guarded_free(&g[i]);
            }
        }
    }
    /* a leading dimension below the stored columns is refused for the whole batch */
    uint64_t seed = 5;
    guarded g = guarded_new(cl, 4 * GM_M * GM_N, &seed);
    const size_t zero[1] = {0};
    const float one = 1.0f;
    assert_int_equal(clrnn_sgemm_batched(ctx, 1, 0, GM_M, GM_N, GM_K, &one, g.mem, zero, GM_M - 1, g.mem, zero, GM_N,
                                         &one, g.mem, zero, GM_N, 1),
                     CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), ": A: lda = 4"));
    guarded_check(ctx, &g, NULL, "batched lda");
    guarded_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_shapes),
        cmocka_unit_test(batched),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(gemm_operand_extents),
        cmocka_unit_test(gemm_foreign_context),
        cmocka_unit_test(gemm_batched_bad_item),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
