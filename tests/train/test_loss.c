/* The losses (src/train/loss.c): loss, metric and dlogits against PyTorch autograd
 * (tests/golden/optim/torch_loss_*, tools/golden_optim.py) and a float64 C computation of the same
 * formulas, for host and device tensors, weighted and masked rows, in place; extreme logits (+-80,
 * +-1e4) finite; bitwise determinism; refused arguments with the outputs untouched. */
#include "test_util.h"

#include "internal.h"

/* float64: loss, metric, dl as clrnn.h defines them */
static void ref_loss(clrnn_loss_kind kind, int R, int C, const float *x, const int32_t *labels, const float *z,
                     const uint8_t *mask, const float *weight, double *loss, double *metric, double *dl) {
    double wsum = 0, L = 0, M = 0;
    double *w = malloc((size_t)R * sizeof *w);
    for (int r = 0; r < R; ++r) w[r] = (!mask || mask[r]) ? (weight ? weight[r] : 1.0) : 0.0, wsum += w[r];
    const double per = kind == CLRNN_LOSS_SOFTMAX_XENT ? 1.0 : C;
    for (int r = 0; r < R; ++r) {
        const float *xr = x + (size_t)r * C;
        double *d = dl + (size_t)r * C;
        for (int c = 0; c < C; ++c) d[c] = 0;
        if (w[r] == 0) continue;
        const double s = w[r] / (wsum * per);
        if (kind == CLRNN_LOSS_SOFTMAX_XENT) {
            double m = xr[0];
            int arg = 0;
            for (int c = 1; c < C; ++c)
                if (xr[c] > m) m = xr[c], arg = c;
            double sum = 0;
            for (int c = 0; c < C; ++c) sum += exp((double)xr[c] - m);
            const double lse = log(sum) + m;
            L += w[r] * (lse - xr[labels[r]]);
            M += w[r] * (arg == labels[r]);
            for (int c = 0; c < C; ++c) d[c] = s * (exp(xr[c] - lse) - (c == labels[r]));
        } else {
            const float *zr = z + (size_t)r * C;
            for (int c = 0; c < C; ++c) {
                const double v = xr[c], t = zr[c];
                if (kind == CLRNN_LOSS_SIGMOID_BCE) {
                    L += w[r] * (fmax(v, 0) - v * t + log1p(exp(-fabs(v))));
                    M += w[r] * ((v > 0) == (t > 0.5));
                    d[c] = s * (1.0 / (1.0 + exp(-v)) - t);
                } else {
                    L += w[r] * (v - t) * (v - t);
                    M += w[r] * fabs(v - t);
                    d[c] = s * 2 * (v - t);
                }
            }
        }
    }
    *loss = wsum > 0 ? L / (wsum * per) : 0;
    *metric = wsum > 0 ? M / (wsum * per) : 0;
    free(w);
}

static void check_against(const char *what, const clrnn_loss_result *res, const float *dl, double loss, double metric,
                          const double *dref, size_t n, int check_metric) {
    if (tu_rel_err(res->loss, loss) > 1e-5) fail_msg("%s: loss %.9g, expected %.9g", what, res->loss, loss);
    if (check_metric && tu_rel_err(res->metric, metric) > 1e-5)
        fail_msg("%s: metric %.9g, expected %.9g", what, res->metric, metric);
    for (size_t i = 0; i < n; ++i)
        if (!(tu_rel_err(dl[i], dref[i]) <= 1e-5)) fail_msg("%s: dlogits[%zu] %.9g, expected %.9g", what, i, dl[i], dref[i]);
}

/* ---- PyTorch ---- */
static void load(const char *cs, const char *name, clrnn_array *a) {
    char path[1024];
    const char *root = getenv("CLRNN_GOLDEN_DIR");
    snprintf(path, sizeof path, "%s/optim/%s/%s.npy", root ? root : "tests/golden", cs, name);
    TU_OK(clrnn_npy_load(path, a));
}

static void torch_case(const char *cs, clrnn_loss_kind kind) {
    clrnn_array x, w, loss, dl, lab = {0}, z = {0};
    load(cs, "logits", &x), load(cs, "weight", &w), load(cs, "loss", &loss), load(cs, "dlogits", &dl);
    if (kind == CLRNN_LOSS_SOFTMAX_XENT) load(cs, "labels", &lab);
    else load(cs, "targets", &z);
    const int R = (int)x.shape[0], C = (int)x.shape[1];
    float *got = tu_alloc_poison(x.count);
    clrnn_loss_args a = {0};
    a.kind = kind, a.rows = R, a.cols = C, a.logits.host = x.data, a.labels = lab.data, a.targets.host = z.data;
    a.row_weight = w.data, a.dlogits.host = got;
    clrnn_loss_result res;
    TU_OK(clrnn_loss(tu_context(), &a, &res));
    double *dexp = malloc(x.count * sizeof *dexp), lref, mref, *dref = malloc(x.count * sizeof *dref);
    for (size_t i = 0; i < x.count; ++i) dexp[i] = ((const float *)dl.data)[i];
    check_against(cs, &res, got, ((const float *)loss.data)[0], 0, dexp, x.count, 0);
    ref_loss(kind, R, C, x.data, lab.data, z.data, NULL, w.data, &lref, &mref, dref);
    check_against(cs, &res, got, lref, mref, dref, x.count, 1);
    for (size_t i = 0; i < x.count; ++i) assert_true(isfinite(got[i]));
    printf("  %-26s loss %.6g (torch %.6g)\n", cs, res.loss, ((const float *)loss.data)[0]);
    free(got), free(dexp), free(dref);
    clrnn_array_free(&x), clrnn_array_free(&w), clrnn_array_free(&loss), clrnn_array_free(&dl);
    clrnn_array_free(&lab), clrnn_array_free(&z);
}

static void test_torch(void **s) {
    (void)s;
    torch_case("torch_loss_softmax_xent", CLRNN_LOSS_SOFTMAX_XENT);
    torch_case("torch_loss_sigmoid_bce", CLRNN_LOSS_SIGMOID_BCE);
    torch_case("torch_loss_mse", CLRNN_LOSS_MSE);
}

/* ---- random cases against float64: host and device tensors, masks, weights, extremes ---- */
typedef struct rcase {
    clrnn_loss_kind kind;
    int R, C;
    float *x, *z, *w;
    int32_t *labels;
    uint8_t *mask;
} rcase;

static rcase make_case(clrnn_loss_kind kind, int R, int C, uint64_t seed, int extreme) {
    rcase c = {kind, R, C, NULL, NULL, NULL, NULL, NULL};
    c.x = tu_alloc_random((size_t)R * C, &seed, -5, 5);
    if (extreme) {
        const float ext[] = {80, -80, 1e4f, -1e4f, 88.5f, -104, 1e4f, 1e4f};
        for (size_t i = 0; i < sizeof ext / sizeof *ext && i < (size_t)R * C; ++i) c.x[i * 3 % ((size_t)R * C)] = ext[i];
    }
    c.w = tu_alloc_random((size_t)R, &seed, 0.25f, 2.0f);
    c.mask = malloc((size_t)R);
    for (int r = 0; r < R; ++r) c.mask[r] = (tu_next(&seed) % 5) != 0;
    c.mask[0] = 1;
    if (kind == CLRNN_LOSS_SOFTMAX_XENT) {
        c.labels = malloc((size_t)R * sizeof *c.labels);
        for (int r = 0; r < R; ++r) c.labels[r] = c.mask[r] ? (int32_t)(tu_next(&seed) % (uint64_t)C) : -1;
    } else {
        c.z = tu_alloc_random((size_t)R * C, &seed, 0, 1);
        if (kind == CLRNN_LOSS_SIGMOID_BCE)
            for (int i = 0; i < R * C; i += 2) c.z[i] = c.z[i] > 0.5f;
    }
    return c;
}
static void free_case(rcase *c) { free(c->x), free(c->z), free(c->w), free(c->labels), free(c->mask); }

static clrnn_loss_args args_of(const rcase *c) {
    clrnn_loss_args a = {0};
    a.kind = c->kind, a.rows = c->R, a.cols = c->C, a.logits.host = c->x, a.labels = c->labels;
    if (c->z) a.targets.host = c->z;
    a.row_mask = c->mask, a.row_weight = c->w;
    return a;
}

static void run_vs_ref(clrnn_loss_kind kind, int R, int C, uint64_t seed, int extreme, int device) {
    rcase c = make_case(kind, R, C, seed, extreme);
    const size_t n = (size_t)R * C;
    clrnn_loss_args a = args_of(&c);
    float *got = tu_alloc_poison(n);
    cl_mem xm = NULL, zm = NULL, dm = NULL;
    if (device) {
        /* offsets: logits 3 floats in, dlogits 5 */
        float *pad = tu_alloc_poison(n + 8);
        memcpy(pad + 3, c.x, n * sizeof(float));
        xm = tu_dev_buf(pad, n + 8);
        a.logits = (clrnn_tensor){NULL, xm, 3 * sizeof(float)};
        if (c.z) zm = tu_dev_buf(c.z, n), a.targets = (clrnn_tensor){NULL, zm, 0};
        for (size_t i = 0; i < n + 8; ++i) pad[i] = POISON;
        dm = tu_dev_buf(pad, n + 8);
        a.dlogits = (clrnn_tensor){NULL, dm, 5 * sizeof(float)};
        free(pad);
    } else {
        a.dlogits.host = got;
    }
    clrnn_loss_result res = {NAN, NAN, 0};
    TU_OK(clrnn_loss(tu_context(), &a, &res));
    if (device) {
        float *all = malloc((n + 8) * sizeof *all);
        tu_dev_read(dm, all, n + 8);
        memcpy(got, all + 5, n * sizeof(float));
        for (int i = 0; i < 5; ++i) assert_true(all[i] == POISON);
        for (int i = 5 + (int)n; i < (int)n + 8; ++i) assert_true(all[i] == POISON);
        free(all);
    }
    double loss, metric, *dref = malloc(n * sizeof *dref);
    ref_loss(kind, R, C, c.x, c.labels, c.z, c.mask, c.w, &loss, &metric, dref);
    char what[96];
    snprintf(what, sizeof what, "kind %d R %d C %d%s%s", (int)kind, R, C, extreme ? " extreme" : "",
             device ? " device" : " host");
    check_against(what, &res, got, loss, metric, dref, n, 1);
    double wsum = 0;
    for (int r = 0; r < R; ++r) wsum += c.mask[r] ? c.w[r] : 0;
    assert_true(fabs(res.weight - wsum) <= 1e-9 * wsum);
    for (size_t i = 0; i < n; ++i) {
        assert_true(isfinite(got[i]));
        if (!c.mask[i / (size_t)C]) assert_true(got[i] == 0.0f); /* excluded rows: exactly 0 */
    }
    assert_true(isfinite(res.loss));
    free(got), free(dref);
    if (xm) clReleaseMemObject(xm);
    if (zm) clReleaseMemObject(zm);
    if (dm) clReleaseMemObject(dm);
    free_case(&c);
}

static void test_vs_float64(void **s) {
    (void)s;
    const clrnn_loss_kind kinds[] = {CLRNN_LOSS_SOFTMAX_XENT, CLRNN_LOSS_SIGMOID_BCE, CLRNN_LOSS_MSE};
    for (int k = 0; k < 3; ++k)
        for (int device = 0; device < 2; ++device) {
            run_vs_ref(kinds[k], 37, 10, 11 + (uint64_t)k, 0, device);
            run_vs_ref(kinds[k], 5, 1 + (k != 0), 21 + (uint64_t)k, 0, device); /* C = 1 for BCE/MSE heads */
            run_vs_ref(kinds[k], 200, 33, 31 + (uint64_t)k, 0, device);
        }
}

static void test_extreme_logits(void **s) {
    (void)s;
    const clrnn_loss_kind kinds[] = {CLRNN_LOSS_SOFTMAX_XENT, CLRNN_LOSS_SIGMOID_BCE, CLRNN_LOSS_MSE};
    for (int k = 0; k < 3; ++k) run_vs_ref(kinds[k], 12, 4, 41 + (uint64_t)k, 1, k == 1);
}

/* dlogits into the logits' own device buffer */
static void test_in_place(void **s) {
    (void)s;
    const clrnn_loss_kind kinds[] = {CLRNN_LOSS_SOFTMAX_XENT, CLRNN_LOSS_SIGMOID_BCE, CLRNN_LOSS_MSE};
    for (int k = 0; k < 3; ++k) {
        rcase c = make_case(kinds[k], 23, 6, 51 + (uint64_t)k, 0);
        const size_t n = 23 * 6;
        clrnn_loss_args a = args_of(&c);
        cl_mem xm = tu_dev_buf(c.x, n);
        a.logits = (clrnn_tensor){NULL, xm, 0};
        a.dlogits = a.logits;
        clrnn_loss_result res;
        TU_OK(clrnn_loss(tu_context(), &a, &res));
        float got[23 * 6];
        tu_dev_read(xm, got, n);
        double loss, metric, dref[23 * 6];
        ref_loss(kinds[k], 23, 6, c.x, c.labels, c.z, c.mask, c.w, &loss, &metric, dref);
        check_against("in place", &res, got, loss, metric, dref, n, 1);
        clReleaseMemObject(xm);
        free_case(&c);
    }
}

/* Unweighted means over included rows; no row included: loss 0, dlogits 0. */
static void test_masks(void **s) {
    (void)s;
    rcase c = make_case(CLRNN_LOSS_SOFTMAX_XENT, 8, 3, 61, 0);
    clrnn_loss_args a = args_of(&c);
    a.row_weight = NULL;
    float got[24];
    a.dlogits.host = got;
    clrnn_loss_result res;
    TU_OK(clrnn_loss(tu_context(), &a, &res));
    double loss, metric, dref[24];
    ref_loss(CLRNN_LOSS_SOFTMAX_XENT, 8, 3, c.x, c.labels, NULL, c.mask, NULL, &loss, &metric, dref);
    check_against("mask only", &res, got, loss, metric, dref, 24, 1);
    int inc = 0;
    for (int r = 0; r < 8; ++r) inc += c.mask[r] != 0;
    assert_true(res.weight == inc);
    memset(c.mask, 0, 8);
    for (int i = 0; i < 24; ++i) got[i] = POISON;
    TU_OK(clrnn_loss(tu_context(), &a, &res));
    assert_true(res.loss == 0.0f && res.metric == 0.0f && res.weight == 0.0);
    for (int i = 0; i < 24; ++i) assert_true(got[i] == 0.0f);
    free_case(&c);
}

static void test_determinism(void **s) {
    (void)s;
    const clrnn_loss_kind kinds[] = {CLRNN_LOSS_SOFTMAX_XENT, CLRNN_LOSS_SIGMOID_BCE, CLRNN_LOSS_MSE};
    for (int k = 0; k < 3; ++k) {
        rcase c = make_case(kinds[k], 500, 50, 71 + (uint64_t)k, 1);
        const size_t n = 500 * 50;
        float *d1 = tu_alloc_poison(n), *d2 = tu_alloc_poison(n);
        clrnn_loss_args a = args_of(&c);
        clrnn_loss_result r1, r2;
        a.dlogits.host = d1;
        TU_OK(clrnn_loss(tu_context(), &a, &r1));
        a.dlogits.host = d2;
        TU_OK(clrnn_loss(tu_context(), &a, &r2));
        assert_memory_equal(&r1.loss, &r2.loss, sizeof r1.loss);
        assert_memory_equal(&r1.metric, &r2.metric, sizeof r1.metric);
        assert_memory_equal(d1, d2, n * sizeof(float));
        free(d1), free(d2);
        free_case(&c);
    }
}

/* Every refusal leaves the host and device dlogits as they were. */
static void test_refused(void **s) {
    (void)s;
    clrnn_context *ctx = tu_context();
    rcase c = make_case(CLRNN_LOSS_SOFTMAX_XENT, 6, 4, 81, 0);
    rcase b = make_case(CLRNN_LOSS_SIGMOID_BCE, 6, 4, 82, 0);
    float host_dl[24], poison[24];
    for (int i = 0; i < 24; ++i) host_dl[i] = poison[i] = POISON;
    cl_mem dm = tu_dev_buf(poison, 24), small = tu_dev_buf(poison, 23);
    clrnn_loss_result res = {7, 7, 7};
    clrnn_loss_args a;
#define EXPECT_ON(src, status, word, setup)                                                \
    do {                                                                                   \
        for (int dev = 0; dev < 2; ++dev) {                                                \
            a = args_of(src);                                                              \
            if (dev) a.dlogits.mem = dm;                                                   \
            else a.dlogits.host = host_dl;                                                 \
            setup;                                                                         \
            assert_int_equal(clrnn_loss(ctx, &a, &res), status);                           \
            if (!strstr(clrnn_last_error(), word))                                         \
                fail_msg("message '%s' does not name '%s'", clrnn_last_error(), word);     \
            float now[24];                                                                 \
            tu_dev_read(dm, now, 24);                                                         \
            assert_memory_equal(now, poison, sizeof now);                                  \
            assert_memory_equal(host_dl, poison, sizeof poison);                           \
            assert_true(res.loss == 7 && res.metric == 7 && res.weight == 7);              \
        }                                                                                  \
    } while (0)
#define EXPECT(status, word, setup) EXPECT_ON(&c, status, word, setup)
    int32_t bad_labels[6];
    memcpy(bad_labels, c.labels, sizeof bad_labels);
    bad_labels[3] = 4;
    c.mask[3] = 1;
    EXPECT(CLRNN_ERR_OUT_OF_RANGE, "labels[3] = 4", a.labels = bad_labels);
    bad_labels[3] = -2;
    EXPECT(CLRNN_ERR_OUT_OF_RANGE, "labels[3] = -2", a.labels = bad_labels);
    float xnan[24];
    memcpy(xnan, c.x, sizeof xnan);
    xnan[2 * 4 + 1] = NAN;
    c.mask[2] = 1;
    EXPECT(CLRNN_ERR_NON_FINITE, "row 2", a.logits.host = xnan);
    xnan[2 * 4 + 1] = INFINITY;
    EXPECT(CLRNN_ERR_NON_FINITE, "row 2", a.logits.host = xnan);
    float znan[24];
    memcpy(znan, b.z, sizeof znan);
    znan[5 * 4] = NAN;
    b.mask[5] = 1;
    EXPECT_ON(&b, CLRNN_ERR_NON_FINITE, "row 5", a.targets.host = znan);
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "rows", a.rows = 0);
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "cols", a.cols = -1);
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "kind", a.kind = (clrnn_loss_kind)9);
    EXPECT(CLRNN_ERR_NULL_ARGUMENT, "logits", a.logits.host = NULL);
    EXPECT(CLRNN_ERR_NULL_ARGUMENT, "labels", a.labels = NULL);
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "targets", a.targets.host = b.z);
    EXPECT_ON(&b, CLRNN_ERR_INVALID_ARGUMENT, "labels", a.labels = c.labels);
    EXPECT_ON(&b, CLRNN_ERR_NULL_ARGUMENT, "targets", a.targets.host = NULL);
    float wneg[6] = {1, 1, -1, 1, 1, 1};
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "row_weight[2]", a.row_weight = wneg);
    wneg[2] = NAN;
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "row_weight[2]", a.row_weight = wneg);
    EXPECT(CLRNN_ERR_SHAPE_MISMATCH, "logits", (a.logits.host = NULL, a.logits.mem = small));
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "logits", a.logits.mem = small);
    EXPECT(CLRNN_ERR_INVALID_ARGUMENT, "offset", (a.logits.host = NULL, a.logits.mem = small, a.logits.offset = 2));
    EXPECT(CLRNN_ERR_OVERFLOW, "2^31", (a.rows = 1 << 20, a.cols = 1 << 12));
#undef EXPECT
#undef EXPECT_ON
    /* the shape of the device dlogits itself */
    a = args_of(&c);
    a.dlogits.mem = small;
    assert_int_equal(clrnn_loss(ctx, &a, &res), CLRNN_ERR_SHAPE_MISMATCH);
    assert_int_equal(clrnn_loss(ctx, NULL, &res), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_loss(ctx, &a, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_loss(NULL, &a, &res), CLRNN_ERR_NULL_ARGUMENT);
    /* an excluded row's label is never read: -1 padding labels pass */
    a = args_of(&c);
    c.mask[4] = 0;
    c.labels[4] = -1;
    TU_OK(clrnn_loss(ctx, &a, &res));
    clReleaseMemObject(dm), clReleaseMemObject(small);
    free_case(&c), free_case(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch),      cmocka_unit_test(test_vs_float64), cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_in_place),   cmocka_unit_test(test_masks),      cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
