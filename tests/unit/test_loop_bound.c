/* The device loop bound as a class (ctx->loop_limit, src/core/launch.h): Mesa llvmpipe ends every
 * loop of a kernel invocation, silently, once it has run 65535 iterations in all. On PoCL (where
 * every result is still right) CLRNN_LOOP_LIMIT forces a small bound, so the launches that would
 * pass it on llvmpipe are split here too: the results must still match the float64 references,
 * no launch may have declared more than the budget, and a launch that cannot be split is refused
 * with CLRNN_ERR_UNSUPPORTED, its output untouched. */
#include "internal.h"
#include "core/launch.h"
#include "plans/plan.h"
#include "ref/reference.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 3000 /* budget 2250: sgemm_small's element path fits 34 k a chunk */

static clrnn_context *bounded_context(const char *limit) {
    setenv("CLRNN_LOOP_LIMIT", limit, 1);
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    unsetenv("CLRNN_LOOP_LIMIT"); /* read once, at creation */
    return ctx;
}

/* The bound is the context's, read at its creation. */
static void bound_read_once(void **state) {
    (void)state;
    clrnn_context *ctx = bounded_context("3000");
    assert_int_equal(ctx->loop_limit, 3000);
    assert_int_equal(ctx->loop_budget, 2250);
    clrnn_context_destroy(ctx);
    ctx = bounded_context("0");
    assert_int_equal(ctx->loop_limit, 0); /* 0: none */
    clrnn_context_destroy(ctx);
    TU_OK(clrnn_context_create(NULL, &ctx));
    assert_int_equal(ctx->loop_limit, clrnn_device_is_rasterizer(ctx) ? 65535 : 0);
    clrnn_context_destroy(ctx);
}

/* The bound measured (clrnn_loop_probe): all iterations ran, or the device's bound; with
 * CLRNN_LOOP_PROBE=1 the context takes what was measured. */
static void bound_probed(void **state) {
    (void)state;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    long ran = -1;
    TU_OK(clrnn_loop_probe(ctx, CLRNN_LOOP_PROBE_N, &ran));
    const long measured = ran < CLRNN_LOOP_PROBE_N ? ran : 0;
    assert_true(ran > 0);
    if (measured) assert_true(ctx->loop_limit > 0 && ctx->loop_limit <= measured); /* llvmpipe: 65535 */
    clrnn_context_destroy(ctx);
    setenv("CLRNN_LOOP_PROBE", "1", 1);
    TU_OK(clrnn_context_create(NULL, &ctx));
    unsetenv("CLRNN_LOOP_PROBE");
    assert_int_equal(ctx->loop_limit, measured);
    TU_OK(clrnn_loop_probe(ctx, 1000, &ran)); /* under any bound */
    assert_int_equal(ran, 1000);
    assert_int_equal(ctx->loop_limit, measured); /* the probe's own launch leaves the bound as it was */
    clrnn_context_destroy(ctx);
}

static cl_mem upload(clrnn_context *ctx, const float *v, size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float), (void *)v, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

/* C = alpha op(A) op(B) + beta C against a float64 product, each element to a tolerance from its
 * own sum of |terms|; with beta = 0 C starts poisoned (every element must be written). */
static void check_gemm(clrnn_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float beta, uint64_t *seed) {
    float *A = tu_alloc_random(m * k, seed, -1, 1), *B = tu_alloc_random(k * n, seed, -1, 1);
    float *C0 = beta != 0.0f ? tu_alloc_random(m * n, seed, -1, 1) : tu_alloc_poison(m * n);
    float *C = malloc(m * n * sizeof(float));
    assert_non_null(C);
    const size_t lda = ta ? m : k, ldb = tb ? k : n;
    cl_mem a = upload(ctx, A, m * k), b = upload(ctx, B, k * n), c = upload(ctx, C0, m * n);
    const float alpha = 0.75f;
    TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, n));
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, c, CL_TRUE, 0, m * n * sizeof(float), C, 0, NULL, NULL),
                     CL_SUCCESS);
    for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < n; ++j) {
            double s = 0, mag = 0;
            for (size_t p = 0; p < k; ++p) {
                const double t = (double)A[ta ? p * lda + i : i * lda + p] * B[tb ? j * ldb + p : p * ldb + j];
                s += t, mag += fabs(t);
            }
            const double want = alpha * s + (beta != 0.0f ? (double)beta * C0[i * n + j] : 0.0);
            const double got = C[i * n + j];
            if (!(fabs(got - want) <= 1e-4 * (alpha * mag + 1.0))) /* an early-ended k loop: far off */
                fail_msg("gemm ta=%d tb=%d %zux%zux%zu beta=%g: C[%zu][%zu] = %.9g, want %.9g", ta, tb, m, n, k,
                         (double)beta, i, j, got, want);
        }
    clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    free(A), free(B), free(C0), free(C);
}

/* llvmpipe's GEMM path (sgemm_small / sgemm_tiny, every product on a bounded device) with K far
 * past the budget: split along K, beta applied once. */
static void gemm_split_k(void **state) {
    (void)state;
    clrnn_context *ctx = bounded_context("3000");
    uint64_t seed = 11;
    const size_t shapes[][5] = {
        /* ta, tb, m, n, k */
        {0, 1, 3, 5, 5000},  /* sgemm_tiny: k + 1 a work-item */
        {0, 0, 37, 48, 4100}, /* sgemm_small's vector path (and its last columns, element by element) */
        {1, 0, 70, 33, 2600}, /* op(A) = A^T (the weight gradients' dG^T), 1 column past the vector path */
        {0, 1, 9, 20, 900},  /* op(B) = B^T: the element path, 64 k a work-item: chunks of 34 */
        {1, 1, 1, 16, 6400}, /* dW-like K = T*N */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const size_t *s = shapes[i];
        check_gemm(ctx, (int)s[0], (int)s[1], s[2], s[3], s[4], 0.0f, &seed);
        check_gemm(ctx, (int)s[0], (int)s[1], s[2], s[3], s[4], 0.5f, &seed);
    }
    assert_true(ctx->loop_most > 0);
    assert_true(ctx->loop_most <= ctx->loop_budget);
    clrnn_context_destroy(ctx);
}

/* The tiled SGEMM (forced) under a bound: the blocked kernel's K split too (its pack's 64 x 64
 * panels need a bound above 11000). */
static void gemm_tile_split_k(void **state) {
    (void)state;
    setenv("CLRNN_GEMM", "own-tiled", 1);
    clrnn_context *ctx = bounded_context("20000");
    if (clrnn_device_is_rasterizer(ctx)) { /* llvmpipe compiles sgemm_tile for minutes and never runs it */
        clrnn_context_destroy(ctx);
        unsetenv("CLRNN_GEMM");
        skip();
    }
    uint64_t seed = 12;
    check_gemm(ctx, 1, 0, 520, 96, 2500, 0.0f, &seed); /* BIG_M rows: dW's shape, K = T*N */
    check_gemm(ctx, 0, 1, 40, 70, 3000, 0.5f, &seed);
    assert_true(ctx->loop_most > 0 && ctx->loop_most <= ctx->loop_budget);
    clrnn_context_destroy(ctx);
    unsetenv("CLRNN_GEMM");
}

/* One forward of a random rnn against the float64 reference (y, hn); returns the status. */
static clrnn_status forward_vs_reference(clrnn_context *ctx, const char *plan, clrnn_cell cell, int I, int H, int T,
                                         int N, int expect_ok) {
    setenv("CLRNN_PLAN", plan, 1);
    clrnn_rnn_desc d = tu_desc(cell, I, H);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    unsetenv("CLRNN_PLAN");
    uint64_t seed = 0x5eed ^ (uint64_t)H;
    tu_set_random_weights(r, &seed, 1.0f / sqrtf((float)H), 0.3f, 0.3f);
    const size_t nx = (size_t)T * N * I, ny = (size_t)T * N * H, nh = (size_t)N * H;
    float *x = tu_alloc_random(nx, &seed, -1, 1), *y = tu_alloc_poison(ny), *hn = tu_alloc_poison(nh);
    float *y_ref = malloc(ny * sizeof(float)), *hn_ref = malloc(nh * sizeof(float));
    assert_non_null(y_ref), assert_non_null(hn_ref);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y, a.hn.host = hn;
    const clrnn_status st = clrnn_rnn_forward(r, &a);
    if (expect_ok) {
        if (st != CLRNN_OK) fail_msg("%s H=%d: forward -> %s: %s", plan, H, clrnn_status_name(st), clrnn_last_error());
        clrnn_forward_args ar = a;
        ar.y.host = y_ref, ar.hn.host = hn_ref;
        TU_OK(clrnn_reference_forward(r, &ar));
        size_t where = 0;
        const double dy = tu_max_abs_diff(y, y_ref, ny, &where), dh = tu_max_abs_diff(hn, hn_ref, nh, &where);
        if (!(dy < 1e-4 && dh < 1e-4)) fail_msg("%s H=%d: y off by %g, hn by %g", plan, H, dy, dh);
    } else {
        if (st == CLRNN_OK) fail_msg("%s H=%d: ran, not refused", plan, H);
        for (size_t i = 0; i < ny; ++i) assert_true(y[i] == POISON); /* a refused call writes no output */
    }
    free(x), free(y), free(hn), free(y_ref), free(hn_ref);
    clrnn_rnn_destroy(r);
    return st;
}

/* The generic and gpu plans (llvmpipe's default) under the bound: input projection GEMMs split
 * along K; the gpu plan's tile (about 26 iterations a k for the LSTM) hands a layer past the bound
 * to the generic kernels (5 a k). */
static void forward_plans_under_bound(void **state) {
    (void)state;
    clrnn_context *ctx = bounded_context("3000");
    forward_vs_reference(ctx, "gpu", CLRNN_CELL_LSTM, 300, 80, 3, 5, 1);  /* the gpu kernels: fit */
    forward_vs_reference(ctx, "gpu", CLRNN_CELL_LSTM, 700, 300, 3, 5, 1); /* gpu tile over: generic */
    forward_vs_reference(ctx, "generic", CLRNN_CELL_GRU, 900, 200, 2, 3, 1);
    forward_vs_reference(ctx, "generic", CLRNN_CELL_RNN, 500, 500, 2, 3, 1);
    assert_true(ctx->loop_most > 0 && ctx->loop_most <= ctx->loop_budget);
    clrnn_context_destroy(ctx);
}

/* A step kernel whose one dot product passes the bound cannot be split: refused, named. */
static void refused_not_wrong(void **state) {
    (void)state;
    clrnn_context *ctx = bounded_context("3000");
    const clrnn_status st = forward_vs_reference(ctx, "generic", CLRNN_CELL_LSTM, 16, 600, 2, 2, 0);
    assert_int_equal(st, CLRNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(clrnn_last_error(), "lstm_step"));
    assert_non_null(strstr(clrnn_last_error(), "loop iterations"));
    clrnn_context_destroy(ctx);
}

/* Under a bound, a launch of a loop kernel (tools/loop_kernels.txt) that declares no count is
 * refused before it is enqueued, naming the kernel: the audit at run time of what
 * test_loop_kernels checks in the sources. A kernel without such a loop, or one that declares its
 * count, is not stopped by it; without a bound nothing is checked. */
static void undeclared_launch_refused(void **state) {
    (void)state;
    assert_true(clrnn_is_loop_kernel("merge_outputs") && clrnn_is_loop_kernel("lstm_step_tiled_6"));
    assert_true(clrnn_is_loop_kernel("xproj_tiled_4") && clrnn_is_loop_kernel("tr_bwd_scan_6"));
    assert_false(clrnn_is_loop_kernel("fill_rows") || clrnn_is_loop_kernel("copy_rows"));
    assert_false(clrnn_is_loop_kernel("merge_output") || clrnn_is_loop_kernel("") || clrnn_is_loop_kernel(NULL));
    clrnn_context *ctx = bounded_context("3000");
    clrnn_kargs merge = clrnn_kargs_begin(NULL, "the output merge"), fill = clrnn_kargs_begin(NULL, "fill");
    TU_OK(clrnn_kernel_get(ctx, CLRNN_K_merge_outputs, &merge.k));
    TU_OK(clrnn_kernel_get(ctx, CLRNN_K_fill_rows, &fill.k));
    const size_t one = 1;
    mtx_lock(&ctx->lock);
    const clrnn_status st = clrnn_enqueue(ctx, &merge, 1, &one, &one, NULL);
    mtx_unlock(&ctx->lock);
    assert_int_equal(st, CLRNN_ERR_INTERNAL);
    assert_non_null(strstr(clrnn_last_error(), "kernel merge_outputs loops over a size"));
    assert_non_null(strstr(clrnn_last_error(), "declares no loop count"));
    assert_int_equal(clrnn_loop_audit(&fill), CLRNN_OK);
    clrnn_karg_loops(&merge, 0); /* a count of 0 is a declaration */
    assert_true(merge.declared);
    clrnn_context_destroy(ctx);
    /* no bound (PoCL): the enqueue does not look; the unset arguments fail in the driver instead */
    TU_OK(clrnn_context_create(NULL, &ctx));
    clrnn_kargs again = clrnn_kargs_begin(NULL, "the output merge");
    TU_OK(clrnn_kernel_get(ctx, CLRNN_K_merge_outputs, &again.k));
    if (ctx->loop_limit == 0) {
        mtx_lock(&ctx->lock);
        const clrnn_status st2 = clrnn_enqueue(ctx, &again, 1, &one, &one, NULL);
        mtx_unlock(&ctx->lock);
        assert_int_equal(st2, CLRNN_ERR_OPENCL);
        assert_non_null(strstr(clrnn_last_error(), "CL_INVALID_KERNEL_ARGS"));
    }
    clrnn_context_destroy(ctx);
}

static char outer_limit[32]; /* CLRNN_LOOP_LIMIT as the test was started with */

/* Under the device's own bound (none on PoCL, 65535 on llvmpipe; or CLRNN_LOOP_LIMIT as given to
 * the test: 0 on llvmpipe gives back the unbounded launches, to see the wrong numbers): shapes whose
 * launches, unsplit, run past 65535 loop iterations a work-item. tools/ci-portability.sh runs this
 * on Rusticl (CLRNN_LOOP_BOUND_TESTS='*bound_*': the cases of the device's own bound). */
static void device_bound_shapes(void **state) {
    (void)state;
    clrnn_context *ctx = outer_limit[0] ? bounded_context(outer_limit) : NULL;
    if (!ctx) TU_OK(clrnn_context_create(NULL, &ctx));
    uint64_t seed = 13;
    check_gemm(ctx, 0, 1, 2, 3, 70000, 0.0f, &seed); /* sgemm_tiny: 70000 k */
    check_gemm(ctx, 0, 1, 36, 30, 1100, 0.5f, &seed); /* sgemm_small's element path (llvmpipe): 64 x 1100 */
    /* the gpu plan's LSTM tile (llvmpipe's default plan), counted as about 26 iterations a k (every
     * nested loop; llvmpipe itself ran 2600 of them right unsplit, its compiler unrolling the
     * constant inner loops): past the bound the generic kernels take the layer */
    forward_vs_reference(ctx, "gpu", CLRNN_CELL_LSTM, 16, 2600, 2, 2, 1);
    clrnn_context_destroy(ctx);
}

/* Gradient (internal layout, the reference's) against the device's, read through get_grad in
 * framework fw's layout (ONNX: an RNN's one gate is in internal order, B = [Wb, Rb]; PyTorch: the
 * internal gate order of every cell). */
static void expect_grad(clrnn_rnn *r, clrnn_framework fw, clrnn_param role, const float *want, size_t n, size_t offset,
                        size_t total, const char *what) {
    float *got = tu_alloc_poison(total);
    TU_OK(clrnn_rnn_get_grad(r, fw, 0, 0, role, got, total));
    for (size_t i = 0; i < n; ++i)
        if (!(tu_rel_err(got[offset + i], want[i]) <= 1e-4))
            fail_msg("%s[%zu] = %.9g, want %.9g", what, i, (double)got[offset + i], (double)want[i]);
    free(got);
}

/* One training step of r (one direction, no dense layer) on random x in [-1, 1] and dy in
 * [-dy_range, dy_range] for T steps of N rows, and the float64 reference's gradients of the same
 * step into *g; returns the fused backward scans that backward_data took. */
static unsigned long train_step_vs_reference(clrnn_rnn *r, int T, int N, uint64_t *seed, float dy_range,
                                             clrnn_reference_grads *g) {
    const size_t nx = (size_t)T * N * r->desc.input_size, ny = (size_t)T * N * r->desc.hidden_size;
    float *x = tu_alloc_random(nx, seed, -1, 1), *dy = tu_alloc_random(ny, seed, -dy_range, dy_range);
    float *y = tu_alloc_poison(ny), *ey = tu_alloc_poison(ny);
    clrnn_reserve *res = NULL;
    TU_OK(clrnn_reserve_create(r, &res));
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
    TU_OK(clrnn_rnn_forward_train(r, &a, res));
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    b.dy.host = dy;
    const unsigned long scans = clrnn_tiled_bwd_scans();
    TU_OK(clrnn_rnn_backward_data(r, res, &b));
    const unsigned long fused = clrnn_tiled_bwd_scans() - scans;
    TU_OK(clrnn_rnn_backward_weights(r, res, CLRNN_WGRAD_SET));
    clrnn_forward_args ea = a;
    ea.y.host = ey;
    TU_OK(clrnn_reference_train(r, &ea, 0, &b, g));
    clrnn_reserve_destroy(res);
    free(x), free(dy), free(y), free(ey);
    return fused;
}

/* A training step with T*N = 70000 rows under the device's own bound: the weight gradients' GEMMs
 * (K = T*N) and the bias gradients' column sums (T*N rows) loop past 65535 a work-item unsplit. */
static void device_bound_training(void **state) {
    (void)state;
    clrnn_context *ctx = outer_limit[0] ? bounded_context(outer_limit) : NULL;
    if (!ctx) TU_OK(clrnn_context_create(NULL, &ctx));
    setenv("CLRNN_PLAN", "gpu", 1); /* llvmpipe's default plan; its training is the portable one */
    const int I = 3, H = 5, T = 35, N = 2000;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, I, H);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    unsetenv("CLRNN_PLAN");
    uint64_t seed = 21;
    tu_set_random_weights(r, &seed, 0.5f, 0.3f, 0.3f);
    clrnn_reference_grads g;
    train_step_vs_reference(r, T, N, &seed, 0.01f, &g);
    expect_grad(r, CLRNN_FRAMEWORK_ONNX, CLRNN_PARAM_W, g.lw[0].W, (size_t)H * I, 0, (size_t)H * I,
                "T*N = 70000 training: dW");
    expect_grad(r, CLRNN_FRAMEWORK_ONNX, CLRNN_PARAM_R, g.lw[0].R, (size_t)H * H, 0, (size_t)H * H,
                "T*N = 70000 training: dR");
    expect_grad(r, CLRNN_FRAMEWORK_ONNX, CLRNN_PARAM_B, g.lw[0].Wb, (size_t)H, 0, 2 * (size_t)H,
                "T*N = 70000 training: dWb");
    expect_grad(r, CLRNN_FRAMEWORK_ONNX, CLRNN_PARAM_B, g.lw[0].Rb, (size_t)H, (size_t)H, 2 * (size_t)H,
                "T*N = 70000 training: dRb");
    clrnn_reference_grads_free(&g);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
}

/* The tiled plan's fused backward scan (tr_bwd_scan_MR: all T steps in one launch, no step range to
 * split at) under the device's own bound (as device_bound_shapes): the longest T whose declared loops
 * (clrnn_tiled_bwd_scan_loops) fit llvmpipe's budget runs fused, one step more the portable
 * backward; both against the float64 reference. On llvmpipe a count short of the kernel's true
 * iterations by over a third would end the first one's loops early: wrong gradients. Unbounded
 * (PoCL), both run fused. */
static void device_bound_fused_backward(void **state) {
    (void)state;
    clrnn_context *ctx = outer_limit[0] ? bounded_context(outer_limit) : NULL;
    if (!ctx) TU_OK(clrnn_context_create(NULL, &ctx));
    const long budget = ctx->loop_limit > 0 ? ctx->loop_budget : 65535L / 4 * 3; /* llvmpipe's where none */
    setenv("CLRNN_PLAN", "tiled", 1);
    const int I = 3, H = 16, N = 8;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, I, H);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    unsetenv("CLRNN_PLAN");
    int T = 1;
    while (clrnn_tiled_bwd_scan_loops(r, T + 1, N) <= budget) ++T;
    assert_true(clrnn_tiled_bwd_scan_loops(r, T, N) <= budget);
    uint64_t seed = 23;
    tu_set_random_weights(r, &seed, 0.5f, 0.3f, 0.3f);
    for (int over = 0; over < 2; ++over) {
        const int Tc = T + over;
        clrnn_reference_grads g;
        const unsigned long scans = train_step_vs_reference(r, Tc, N, &seed, 0.5f, &g);
        const int fused = ctx->loop_limit <= 0 || !over;
        if (scans != (unsigned long)fused)
            fail_msg("T = %d (declared %ld loops, budget %ld): %lu fused backward scans, want %d", Tc,
                     clrnn_tiled_bwd_scan_loops(r, Tc, N), budget, scans, fused);
        char what[64];
        const size_t G4 = 4 * (size_t)H;
        snprintf(what, sizeof what, "LSTM T=%d N=%d %s: dW", Tc, N, fused ? "fused" : "portable");
        expect_grad(r, CLRNN_FRAMEWORK_PYTORCH, CLRNN_PARAM_W, g.lw[0].W, G4 * I, 0, G4 * I, what);
        snprintf(what, sizeof what, "LSTM T=%d N=%d %s: dR", Tc, N, fused ? "fused" : "portable");
        expect_grad(r, CLRNN_FRAMEWORK_PYTORCH, CLRNN_PARAM_R, g.lw[0].R, G4 * H, 0, G4 * H, what);
        snprintf(what, sizeof what, "LSTM T=%d N=%d %s: dWb", Tc, N, fused ? "fused" : "portable");
        expect_grad(r, CLRNN_FRAMEWORK_PYTORCH, CLRNN_PARAM_BW, g.lw[0].Wb, G4, 0, G4, what);
        clrnn_reference_grads_free(&g);
    }
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
}

int main(void) {
    const char *limit = getenv("CLRNN_LOOP_LIMIT"), *only = getenv("CLRNN_LOOP_BOUND_TESTS");
    snprintf(outer_limit, sizeof outer_limit, "%s", limit ? limit : "");
    unsetenv("CLRNN_LOOP_LIMIT");
    if (only && *only) cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_read_once),
        cmocka_unit_test(bound_probed),
        cmocka_unit_test(gemm_split_k),
        cmocka_unit_test(gemm_tile_split_k),
        cmocka_unit_test(forward_plans_under_bound),
        cmocka_unit_test(refused_not_wrong),
        cmocka_unit_test(undeclared_launch_refused),
        cmocka_unit_test(device_bound_shapes),
        cmocka_unit_test(device_bound_training),
        cmocka_unit_test(device_bound_fused_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
