/* clrnn's own SGEMM (src/blas/gemm_own.c, cl/blas/sgemm.cl; CLRNN_GEMM=own forces it on any
 * device) against a float64 host GEMM: every transpose combination over odd sizes (1, 3, 17, 63,
 * 65, 257: partial 8 x 32 tiles, single rows and columns), offsets and leading dimensions past
 * the row, alpha/beta including beta = 0 on a NaN-poisoned C; op(B) read in place past its columns
 * (NaN there). Each element must lie within the
 * fp32 dot-product error bound 2 (k + 2) eps sum |terms| of the float64 value, and nothing outside
 * C's window may change. The same GEMM twice gives the same bits. Small products run on
 * sgemm_small (cheap to compile), the rest on sgemm_tile: the odd sizes run a second time with
 * CLRNN_GEMM=own-tiled, so both kernels meet every shape. The weight gradients' shared products
 * (clrnn_sgemm_shared_at_locked: dG^T packed once for dW, dR and the reset-before n block) give
 * the bits of the separate GEMMs. */
#include "test_util.h"

#include "blas/gemm_own.h"
#include "core/launch.h"

#include <float.h>
#include <math.h>

static cl_mem upload(clrnn_context *ctx, const float *a, size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), (void *)a, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

static void download(clrnn_context *ctx, cl_mem m, float *dst, size_t n) {
    TU_OK(clrnn_context_finish(ctx));
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), m, CL_TRUE, 0, n * sizeof(float), dst, 0, NULL,
                                         NULL),
                     CL_SUCCESS);
}

/* One GEMM on the device against float64 (fail_msg on the first element out of bounds). B's
 * buffer has b_slack more floats after its last row; with b_nan, those and B's padding columns
 * (past n of each row) are NaN, which no element of C may see. */
static void check_one_b(clrnn_context *ctx, uint64_t *seed, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                        float beta, size_t pad, size_t off, size_t b_slack, int b_nan) {
    const size_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const size_t na = off + (ta ? k : m) * lda, nb = off + (tb ? n : k) * ldb + b_slack, nc = off + m * ldc + pad;
    float *A = tu_alloc_random(na, seed, -1, 1), *B = tu_alloc_random(nb, seed, -1, 1);
    if (b_nan && !tb) {
        for (size_t p = 0; p < k; ++p)
            for (size_t j = n; j < ldb; ++j) B[off + p * ldb + j] = NAN;
        for (size_t e = nb - b_slack; e < nb; ++e) B[e] = NAN;
    }
    float *C = tu_alloc_random(nc, seed, -1, 1), *got = malloc(nc * sizeof(float));
    assert_non_null(got);
    if (beta == 0.0f) /* BLAS: C is not read when beta = 0, so its NaNs must not show */
        for (size_t i = 0; i < m; ++i)
            for (size_t j = 0; j < n; ++j) C[off + i * ldc + j] = NAN;
    cl_mem a = upload(ctx, A, na), b = upload(ctx, B, nb), c = upload(ctx, C, nc);
    TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, alpha, a, off, lda, b, off, ldb, beta, c, off, ldc));
    download(ctx, c, got, nc);
    for (size_t e = 0; e < nc; ++e) {
        const size_t i = (e - off) / ldc, j = (e - off) % ldc;
        if (e < off || i >= m || j >= n) { /* outside C's window: untouched, bit for bit */
            if (memcmp(&got[e], &C[e], sizeof(float)) != 0)
                fail_msg("%zux%zux%zu ta=%d tb=%d: element %zu outside C changed", m, n, k, ta, tb, e);
            continue;
        }
        double s = 0, bound = 0;
        for (size_t p = 0; p < k; ++p) {
            const double t = (double)A[off + (ta ? p * lda + i : i * lda + p)] * B[off + (tb ? j * ldb + p : p * ldb + j)];
            s += t, bound += fabs(t);
        }
        double exp = alpha * s;
        bound = fabs(alpha) * bound;
        if (beta != 0.0f) exp += (double)beta * C[e], bound += fabs((double)beta * C[e]);
        const double tol = 2.0 * (double)(k + 2) * FLT_EPSILON * bound + 1e-30;
        if (!(fabs(got[e] - exp) <= tol))
            fail_msg("%zux%zux%zu ta=%d tb=%d alpha=%g beta=%g: C[%zu][%zu] = %.9g, float64 %.9g (tolerance %g)", m, n, k,
                     ta, tb, alpha, beta, i, j, got[e], exp, tol);
    }
    clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    free(A), free(B), free(C), free(got);
}

static void check_one(clrnn_context *ctx, uint64_t *seed, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                      float beta, size_t pad, size_t off) {
    check_one_b(ctx, seed, ta, tb, m, n, k, alpha, beta, pad, off, 0, 0);
}

/* B untransposed with n not a multiple of 32 is read in place when the last row's last 32-column
 * panel lies inside its buffer (gemm_own.c: b_panels_in_bounds): the columns past n that the
 * panels read (NaN here, in the padding and the slack) must not reach C; one float short of that
 * it is packed as before. */
static void b_in_place_panels(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 17;
    const size_t ns[] = {1, 20, 150, 65};
    for (int i = 0; i < 4; ++i) {
        const size_t n = ns[i], panel = (n + 31) / 32 * 32;
        for (int pad = 0; pad < 2; ++pad) {
            const size_t ldb = n + (size_t)pad * 3, need = panel - n; /* floats past the last row's n */
            check_one_b(ctx, &seed, 0, 0, 37, n, 150, 1.0f, 0.0f, (size_t)pad * 3, 0, need > ldb - n ? need - (ldb - n) : 0, 1);
            check_one_b(ctx, &seed, 1, 0, 9, n, 70, 0.5f, 1.0f, (size_t)pad * 3, 2, 7, 1);
            check_one_b(ctx, &seed, 0, 0, 5, n, 33, 1.0f, 0.0f, (size_t)pad * 3, 1, 0, 1);
        }
    }
}

static void odd_sizes(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 1234;
    const size_t sizes[] = {1, 3, 17, 63, 65, 257};
    const float alphas[] = {1.0f, -0.75f, 2.0f}, betas[] = {0.0f, 1.0f, 0.5f, -1.25f};
    int combo = 0;
    for (size_t mi = 0; mi < 6; ++mi)
        for (size_t ni = 0; ni < 6; ++ni)
            for (size_t ki = 0; ki < 6; ++ki) {
                const size_t m = sizes[mi], n = sizes[ni], k = sizes[ki];
                for (int t = 0; t < 4; ++t, ++combo)
                    check_one(ctx, &seed, t >> 1, t & 1, m, n, k, alphas[combo % 3], betas[combo % 4], combo % 5,
                              (size_t)(combo % 7) * 3);
            }
}

static void odd_sizes_tiled_only(void **state) {
    setenv("CLRNN_GEMM", "own-tiled", 1);
    odd_sizes(state);
    setenv("CLRNN_GEMM", "own", 1);
}

/* The training engine's shapes, scaled down: many full tiles, K past one KC block, op(B) in place
 * (N % 64 == 0), packed, and the transposed product. */
static void training_like(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 99;
    check_one(ctx, &seed, 0, 1, 64, 512, 128, 1.0f, 0.0f, 0, 0);   /* h_prev R^T */
    check_one(ctx, &seed, 0, 0, 64, 128, 512, 1.0f, 1.0f, 0, 64);  /* dG R, accumulating */
    check_one(ctx, &seed, 1, 0, 512, 128, 640, 1.0f, 1.0f, 0, 0);  /* dW += dG^T X */
    check_one(ctx, &seed, 1, 1, 70, 130, 300, 0.5f, 0.0f, 1, 5);   /* TT, for completeness */
    /* op(B) not contiguous, op(A)^T in place (M % 64 == 0): computed as C^T = op(B)^T op(A)^T */
    check_one(ctx, &seed, 1, 0, 128, 65, 300, 1.0f, 0.5f, 2, 3);
    check_one(ctx, &seed, 1, 1, 192, 1000, 33, -1.0f, 0.0f, 0, 1);
    check_one(ctx, &seed, 0, 1, 5, 70, 2500, 1.0f, 0.0f, 3, 2);   /* transposed product past one k block */
}

/* op(A) = A^T packed into 8-row panels (trans_a, N >= 64, not the transposed product): M off
 * the 8-row tile and panel (rows past M read the panel's zeros), op(B) in place, in
 * place with NaN columns past n, and packed (both operands in the one panel buffer), K at and
 * around the k blocks (256 for M <= 256, 512 above), offsets, padding, beta. On sgemm_tile
 * (own-tiled): the small ones would otherwise run on sgemm_small. */
static void packed_a(void **state) {
    (void)state;
    setenv("CLRNN_GEMM", "own-tiled", 1);
    clrnn_context *ctx = tu_context();
    uint64_t seed = 4242;
    const size_t ms[] = {1, 8, 77, 130, 300}, ks[] = {1, 255, 256, 257, 513, 1100};
    int combo = 0;
    for (size_t mi = 0; mi < 5; ++mi)
        for (size_t ki = 0; ki < 6; ++ki, ++combo) {
            const size_t m = ms[mi], k = ks[ki];
            check_one(ctx, &seed, 1, 0, m, 128, k, 1.0f, combo % 2 ? 0.5f : 0.0f, (size_t)(combo % 3),
                      (size_t)(combo % 4));
            check_one_b(ctx, &seed, 1, 0, m, 150, k, -0.5f, 1.0f, 1, 3, 64, 1);
            check_one(ctx, &seed, 1, 1, m, 200, k, 2.0f, 0.0f, 2, 1);
        }
    setenv("CLRNN_GEMM", "own", 1);
}

/* The sequence-wide products (M >= 512 rows, gemm_own.c's BIG_M): BLIS-style work-items of 128
 * rows x 1..16 strips of 32 columns, k blocks of 256, op(B) always packed into 32-column strips
 * (in place B too), op(A)^T into 8-row panels. Every transposition; M off the 8-row block and the
 * 128-row item (513, 1000), N off the strip (1, 33, 65, 300), K short (one strip per item), just
 * past one k block and long (several strips per item: K > 512); beta = 0 on a NaN-poisoned C,
 * offsets, padding, accumulation; in-place B with NaN past its columns. */
static void blocked_large(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 777;
    const size_t ms[] = {512, 513, 1000}, ns[] = {1, 33, 65, 300}, ks[] = {1, 257, 700};
    const float alphas[] = {1.0f, -0.5f, 1.5f}, betas[] = {0.0f, 1.0f, -0.25f};
    int combo = 0;
    for (size_t mi = 0; mi < 3; ++mi)
        for (size_t ni = 0; ni < 4; ++ni)
            for (size_t ki = 0; ki < 3; ++ki, ++combo) {
                const size_t m = ms[mi], n = ns[ni], k = ks[ki];
                const int t = combo % 4;
                check_one(ctx, &seed, t >> 1, t & 1, m, n, k, alphas[combo % 3], betas[(combo / 2) % 3],
                          (size_t)(combo % 3), (size_t)(combo % 5));
            }
    /* the S1 products' transpositions at a scaled-down size, each beta */
    for (int t = 0; t < 4; ++t) {
        check_one(ctx, &seed, t >> 1, t & 1, 640, 256, 1100, 1.0f, 0.0f, 0, 0);
        check_one(ctx, &seed, t >> 1, t & 1, 600, 96, 300, 0.5f, 1.0f, 1, 7);
    }
    /* K long and N wide (M >= N, else op(B) packed would run the transposed product): 256-row
     * work-items (the last partial: 2100 = 8 x 256 + 52 rows) of several strips each (up to 16,
     * fewer where there are few row groups: 530 rows on a 2-unit device, 2 strips), the last
     * strip partial */
    check_one(ctx, &seed, 1, 0, 2100, 520, 600, 1.0f, 0.0f, 2, 3);
    check_one(ctx, &seed, 0, 1, 1200, 1000, 530, -0.5f, 1.0f, 0, 1);
    check_one_b(ctx, &seed, 0, 0, 700, 150, 600, 1.0f, 0.0f, 3, 2, 64, 1);
    check_one_b(ctx, &seed, 1, 0, 530, 70, 520, -1.0f, 0.5f, 1, 0, 7, 1);
}

/* sgemm_tiny (op(B) = B^T or under 16 columns, up to 2^10 elements of C) and sgemm_small give the
 * same bits: C = op(A) op(B) for a classifier-head shape against the first columns of the same
 * rows times a B widened past the tiny bound (its first columns op(B)'s; untransposed, sgemm_small's
 * vector path), every transposition. */
static void tiny_matches_small(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 91;
    const size_t m = 3, n = 4, k = 37, wide = 1000; /* 3 x 1000 > 2^10 elements: sgemm_small */
    for (int t = 0; t < 4; ++t) {
        const int ta = t >> 1, tb = t & 1;
        float *A = tu_alloc_random(m * k, &seed, -1, 1), *Bw = tu_alloc_random(k * wide, &seed, -1, 1);
        float *B = malloc(k * n * sizeof(float)), *c1 = tu_alloc_poison(m * n), *c2 = tu_alloc_poison(m * wide);
        assert_non_null(B);
        /* op(B)[p][j] = Bw's element of column j (stored k x wide, or wide x k for tb) */
        for (size_t p = 0; p < k; ++p)
            for (size_t j = 0; j < n; ++j) B[tb ? j * k + p : p * n + j] = Bw[tb ? j * k + p : p * wide + j];
        cl_mem a = upload(ctx, A, m * k), b = upload(ctx, B, k * n), bw = upload(ctx, Bw, k * wide);
        cl_mem g1 = upload(ctx, c1, m * n), g2 = upload(ctx, c2, m * wide);
        const size_t lda = ta ? m : k;
        TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, 0.75f, a, 0, lda, b, 0, tb ? k : n, 0.0f, g1, 0, n));
        TU_OK(clrnn_sgemm(ctx, ta, tb, m, wide, k, 0.75f, a, 0, lda, bw, 0, tb ? k : wide, 0.0f, g2, 0, wide));
        download(ctx, g1, c1, m * n);
        download(ctx, g2, c2, m * wide);
        for (size_t i = 0; i < m; ++i)
            for (size_t j = 0; j < n; ++j) {
                assert_false(isnan(c1[i * n + j]));
                if (memcmp(&c1[i * n + j], &c2[i * wide + j], sizeof(float)) != 0)
                    fail_msg("ta=%d tb=%d C[%zu][%zu]: sgemm_tiny %.9g, sgemm_small %.9g", ta, tb, i, j, c1[i * n + j],
                             c2[i * wide + j]);
            }
        clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(bw), clReleaseMemObject(g1),
            clReleaseMemObject(g2);
        free(A), free(B), free(Bw), free(c1), free(c2);
    }
}

/* The same GEMM twice: the same bits (fixed summation order, no atomics). */
static void deterministic(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 5;
    for (int big = 0; big < 2; ++big) { /* below and at BIG_M rows: the two work splits */
        const size_t m = big ? 700 : 130, n = 200, k = 777;
        float *A = tu_alloc_random(k * m, &seed, -1, 1), *B = tu_alloc_random(k * n, &seed, -1, 1);
        float *r1 = malloc(m * n * sizeof(float)), *r2 = malloc(m * n * sizeof(float));
        assert_non_null(r1), assert_non_null(r2);
        cl_mem a = upload(ctx, A, k * m), b = upload(ctx, B, k * n), c = upload(ctx, r1, m * n);
        for (int t = 0; t < 4; ++t) {
            const int ta = t >> 1, tb = t & 1;
            TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, 1.0f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.0f, c, 0, n));
            download(ctx, c, r1, m * n);
            TU_OK(clrnn_sgemm(ctx, ta, tb, m, n, k, 1.0f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.0f, c, 0, n));
            download(ctx, c, r2, m * n);
            assert_memory_equal(r1, r2, m * n * sizeof(float));
        }
        clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
        free(A), free(B), free(r1), free(r2);
    }
}

/* dW = dG^T X, dR = dG^T H_prev[z, r], dR_n = dG_n^T (r*H_prev) as one shared set: bit for bit the
 * separate GEMMs, on NaN-poisoned C with beta = 0 (C around the parts' windows untouched) and
 * accumulating with beta = 1; B with a leading dimension past its columns and an offset (the
 * reserve's rows); sizes where the packing is shared (parts of >= 512 rows from a multiple of 8)
 * and where it is not (a part of fewer rows, a part from an odd row: part by part). */
static void shared_weight_gradients(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    uint64_t seed = 99;
    const size_t cases[3][2] = {{512, 300}, {100, 130}, {520, 70}}; /* H, k = T*N */
    for (int ci = 0; ci < 3; ++ci) {
        const size_t H = cases[ci][0], k = cases[ci][1], GH = 3 * H, I = 96, S = H + 4 * H + 5, lda = GH + 3;
        const size_t m0_n = ci == 2 ? 2 * H + 1 : 2 * H; /* an odd start: not shared */
        float *A = tu_alloc_random(k * lda, &seed, -1, 1), *X = tu_alloc_random(k * I, &seed, -1, 1);
        float *Hs = tu_alloc_random(k * S, &seed, -1, 1);
        const size_t ncw = GH * I + 5, ncr = GH * H + 5;
        for (int beta_i = 0; beta_i < 2; ++beta_i) {
            const float beta = beta_i ? 1.0f : 0.0f;
            float *cw = tu_alloc_random(ncw, &seed, -1, 1), *cr = tu_alloc_random(ncr, &seed, -1, 1);
            if (!beta_i) /* the parts' windows NaN (not read at beta = 0), the slack around them not */
                for (size_t e = 2; e < ncw - 3; ++e) cw[e] = NAN;
            if (!beta_i)
                for (size_t e = 2; e < ncr - 3; ++e) cr[e] = NAN;
            cl_mem a = upload(ctx, A, k * lda), x = upload(ctx, X, k * I), hs = upload(ctx, Hs, k * S);
            cl_mem c[2][2]; /* [shared, separate][W, R] */
            float *got[2][2];
            for (int w = 0; w < 2; ++w) {
                c[w][0] = upload(ctx, cw, ncw), c[w][1] = upload(ctx, cr, ncr);
                got[w][0] = malloc(ncw * sizeof(float)), got[w][1] = malloc(ncr * sizeof(float));
                assert_non_null(got[w][0]), assert_non_null(got[w][1]);
            }
            const clrnn_gemm_part parts[3] = {
                {0, GH, I, x, 0, I, beta, c[0][0], 2, I},
                {0, 2 * H, H, hs, 1, S, beta, c[0][1], 2, H},
                {m0_n, GH - m0_n, H, hs, H + 3 * H, S, beta, c[0][1], 2 + m0_n * H, H}};
            mtx_lock(&ctx->lock);
            const clrnn_status st = clrnn_sgemm_shared_at_locked(ctx, k, GH, a, 1, lda, parts, 3);
            mtx_unlock(&ctx->lock);
            TU_OK(st);
            for (int p = 0; p < 3; ++p)
                TU_OK(clrnn_sgemm(ctx, 1, 0, parts[p].m, parts[p].n, k, 1.0f, a, 1 + parts[p].m0, lda, parts[p].b,
                                  parts[p].b_off, parts[p].ldb, beta, c[1][p ? 1 : 0], parts[p].c_off, parts[p].ldc));
            for (int w = 0; w < 2; ++w) download(ctx, c[w][0], got[w][0], ncw), download(ctx, c[w][1], got[w][1], ncr);
            assert_memory_equal(got[0][0], got[1][0], ncw * sizeof(float));
            assert_memory_equal(got[0][1], got[1][1], ncr * sizeof(float));
            /* every element of the windows written (no NaN left), the slack untouched */
            const size_t win_r = ci == 2 ? GH * H - H : GH * H; /* the odd start leaves one row of R's n block */
            for (size_t e = 0; e < ncw; ++e)
                if (e < 2 || e >= 2 + GH * I ? memcmp(&got[0][0][e], &cw[e], sizeof(float)) != 0 : isnan(got[0][0][e]))
                    fail_msg("H=%zu k=%zu beta=%g: dW element %zu", H, k, beta, e);
            for (size_t e = 0; e < ncr; ++e) {
                const int hole = ci == 2 && e >= 2 + 2 * H * H && e < 2 + 2 * H * H + H; /* row 2H: no part's */
                if (e < 2 || e >= 2 + GH * H || hole ? memcmp(&got[0][1][e], &cr[e], sizeof(float)) != 0
                                                     : isnan(got[0][1][e]))
                    fail_msg("H=%zu k=%zu beta=%g: dR element %zu (window %zu)", H, k, beta, e, win_r);
            }
            for (int w = 0; w < 2; ++w) {
                clReleaseMemObject(c[w][0]), clReleaseMemObject(c[w][1]);
                free(got[w][0]), free(got[w][1]);
            }
            clReleaseMemObject(a), clReleaseMemObject(x), clReleaseMemObject(hs);
            free(cw), free(cr);
        }
        free(A), free(X), free(Hs);
    }
}

/* The sgemm_pack_b launches of a traced context: all of them, and those of the shared op(A)^T. */
typedef struct pack_tally {
    int packs, shared;
} pack_tally;

static void pack_record(void *user, const clrnn_trace_record *rec) {
    pack_tally *t = user;
    if (rec->kind != CLRNN_TRACE_EXEC || strcmp(rec->name, "sgemm_pack_b") != 0) return;
    t->packs++;
    if (strstr(rec->what, "(shared)")) t->shared++;
}

/* The set takes the shared path where it should: dG^T packed once (then one op(B) pack per part),
 * against each GEMM's own packs when the parts run separately (an odd start). */
static void shared_weight_gradients_pack_once(void **state) {
    (void)state;
    uint64_t seed = 5;
    for (int odd = 0; odd < 2; ++odd) {
        pack_tally t = {0, 0};
        clrnn_trace_install(pack_record, &t);
        clrnn_context *ctx = NULL;
        const clrnn_status cs = clrnn_context_create(NULL, &ctx);
        clrnn_trace_install(NULL, NULL);
        TU_OK(cs);
        const size_t H = 512, GH = 3 * H, k = 70, I = 64;
        float *A = tu_alloc_random(k * GH, &seed, -1, 1), *X = tu_alloc_random(k * H, &seed, -1, 1);
        float *C = tu_alloc_random(GH * H, &seed, -1, 1); /* GH * H >= GH * I */
        cl_mem a = upload(ctx, A, k * GH), x = upload(ctx, X, k * H), cw = upload(ctx, C, GH * I);
        cl_mem cr = upload(ctx, C, GH * H);
        const size_t m0 = odd ? 2 * H + 1 : 2 * H;
        const clrnn_gemm_part parts[3] = {{0, GH, I, x, 0, I, 0.0f, cw, 0, I},
                                          {0, 2 * H, H, x, 0, H, 0.0f, cr, 0, H},
                                          {m0, GH - m0, H, x, 0, H, 0.0f, cr, m0 * H, H}};
        mtx_lock(&ctx->lock);
        const clrnn_status st = clrnn_sgemm_shared_at_locked(ctx, k, GH, a, 0, GH, parts, 3);
        mtx_unlock(&ctx->lock);
        TU_OK(st);
        TU_OK(clrnn_context_finish(ctx));
        const int bounded = ctx->loop_limit > 0; /* K split to a loop bound: nothing packed once */
        clReleaseMemObject(a), clReleaseMemObject(x), clReleaseMemObject(cw), clReleaseMemObject(cr);
        clrnn_context_destroy(ctx);
        free(A), free(X), free(C);
        /* separate: op(A)^T and op(B) for the first two; the third (511 rows, under BIG_M) reads
         * its op(B) in place */
        if (bounded) assert_int_equal(t.shared, 0);
        else if (odd) assert_int_equal(t.shared, 0), assert_int_equal(t.packs, 5);
        else assert_int_equal(t.shared, 1), assert_int_equal(t.packs, 4);
    }
}

int main(void) {
    setenv("CLRNN_GEMM", "own", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(odd_sizes),
        cmocka_unit_test(odd_sizes_tiled_only),
        cmocka_unit_test(training_like),
        cmocka_unit_test(b_in_place_panels),
        cmocka_unit_test(packed_a),
        cmocka_unit_test(blocked_large),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(shared_weight_gradients),
        cmocka_unit_test(shared_weight_gradients_pack_once),
        cmocka_unit_test(tiny_matches_small),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
