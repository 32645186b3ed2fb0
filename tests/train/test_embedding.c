/* The embedding (src/train/embedding.c) and Keras Masking: forward against a host gather (int32 and
 * int64 ids, host and device x, poisoned outputs), mask_zero's mask / lengths / right_padded, the
 * backward against a float64 scatter-add (SET and ADD, ids repeated many times), bitwise
 * determinism, refused ids (out of range: the index in the message, outputs untouched), set/get of
 * the table; clrnn_mask_from_value with suffix padding, holes and a NaN value. */
#include "test_util.h"

#include "internal.h"

enum { V = 23, DIM = 7, N = 4, T = 9 };

static clrnn_embedding *make_emb(int mask_zero, float *table, uint64_t seed) {
    clrnn_embedding *e = NULL;
    TU_OK(clrnn_embedding_create(tu_context(), V, DIM, mask_zero, &e));
    tu_fill(table, V * DIM, &seed, -1, 1);
    TU_OK(clrnn_embedding_set_table(e, table, V * DIM));
    return e;
}

/* right-padded ids (0 = padding) for rows 0..2, holes in row 3 */
static void make_ids(int32_t *ids, uint64_t seed) {
    const int len[N] = {9, 5, 0, 7};
    for (int n = 0; n < N; ++n)
        for (int t = 0; t < T; ++t) ids[n * T + t] = t < len[n] ? 1 + (int32_t)(tu_next(&seed) % (V - 1)) : 0;
    ids[3 * T + 2] = 0; /* a hole */
    ids[0 * T + 4] = ids[0 * T + 5] = ids[1 * T + 0] = ids[3 * T + 6] = 3; /* repeats */
}

static void test_forward(void **s) {
    (void)s;
    float table[V * DIM];
    clrnn_embedding *e = make_emb(1, table, 1);
    int32_t ids[N * T];
    int64_t ids64[N * T];
    make_ids(ids, 2);
    for (int i = 0; i < N * T; ++i) ids64[i] = ids[i];
    for (int variant = 0; variant < 4; ++variant) {
        const int wide = variant & 1, device = variant >> 1;
        const clrnn_ids in = {N, T, wide ? NULL : ids, wide ? ids64 : NULL};
        float *x = tu_alloc_poison(N * T * DIM + 4);
        cl_mem xm = device ? tu_dev_buf(x, N * T * DIM + 4) : NULL;
        uint8_t mask[N * T];
        int32_t lengths[N];
        int right = -1;
        memset(mask, 0xee, sizeof mask);
        clrnn_tensor xt = device ? (clrnn_tensor){NULL, xm, 2 * sizeof(float)} : (clrnn_tensor){x, NULL, 0};
        TU_OK(clrnn_embedding_forward(e, &in, xt, mask, lengths, &right));
        if (device) {
            float *all = malloc((N * T * DIM + 4) * sizeof *all);
            tu_dev_read(xm, all, N * T * DIM + 4);
            assert_true(all[0] == POISON && all[1] == POISON && all[N * T * DIM + 2] == POISON);
            memcpy(x, all + 2, N * T * DIM * sizeof(float));
            free(all);
            clReleaseMemObject(xm);
        }
        for (int p = 0; p < N * T; ++p) {
            for (int j = 0; j < DIM; ++j) assert_true(x[p * DIM + j] == table[ids[p] * DIM + j]);
            assert_int_equal(mask[p], ids[p] != 0);
        }
        assert_int_equal(lengths[0], 9), assert_int_equal(lengths[1], 5), assert_int_equal(lengths[2], 0);
        assert_int_equal(lengths[3], 2);
        assert_int_equal(right, 0); /* row 3 has a hole */
        free(x);
    }
    /* without mask_zero every step counts */
    clrnn_embedding *e2 = make_emb(0, table, 1);
    uint8_t mask[N * T];
    int32_t lengths[N];
    int right = -1;
    float x[N * T * DIM];
    const clrnn_ids in = {N, T, ids, NULL};
    TU_OK(clrnn_embedding_forward(e2, &in, (clrnn_tensor){x, NULL, 0}, mask, lengths, &right));
    for (int p = 0; p < N * T; ++p) assert_int_equal(mask[p], 1);
    for (int n = 0; n < N; ++n) assert_int_equal(lengths[n], T);
    assert_int_equal(right, 1);
    /* right-padded ids: the lengths describe the mask */
    ids[3 * T + 2] = 5;
    TU_OK(clrnn_embedding_forward(e, &in, (clrnn_tensor){x, NULL, 0}, NULL, lengths, &right));
    assert_int_equal(right, 1);
    assert_int_equal(lengths[3], 7);
    clrnn_embedding_destroy(e), clrnn_embedding_destroy(e2);
}

/* float64 scatter-add in (n, t) order */
static void ref_backward(const int32_t *ids, const float *dx, int NTn, double *g) {
    for (int i = 0; i < V * DIM; ++i) g[i] = 0;
    for (int p = 0; p < NTn; ++p)
        for (int j = 0; j < DIM; ++j) g[ids[p] * DIM + j] += dx[p * DIM + j];
}

static void test_backward(void **s) {
    (void)s;
    float table[V * DIM];
    clrnn_embedding *e = make_emb(1, table, 3);
    int32_t ids[N * T];
    make_ids(ids, 4);
    uint64_t seed = 5;
    float dx[N * T * DIM], dx2[N * T * DIM];
    tu_fill(dx, N * T * DIM, &seed, -1, 1);
    tu_fill(dx2, N * T * DIM, &seed, -1, 1);
    const clrnn_ids in = {N, T, ids, NULL};
    float got[V * DIM];
    TU_OK(clrnn_embedding_get_grad(e, got, V * DIM));
    for (int i = 0; i < V * DIM; ++i) assert_true(got[i] == 0.0f); /* zeros before any backward */
    double ref[V * DIM], ref2[V * DIM];
    ref_backward(ids, dx, N * T, ref);
    ref_backward(ids, dx2, N * T, ref2);
    for (int device = 0; device < 2; ++device) {
        cl_mem dm = device ? tu_dev_buf(dx, N * T * DIM) : NULL, dm2 = device ? tu_dev_buf(dx2, N * T * DIM) : NULL;
        const clrnn_tensor t1 = device ? (clrnn_tensor){NULL, dm, 0} : (clrnn_tensor){dx, NULL, 0};
        const clrnn_tensor t2 = device ? (clrnn_tensor){NULL, dm2, 0} : (clrnn_tensor){dx2, NULL, 0};
        TU_OK(clrnn_embedding_backward(e, &in, t2, CLRNN_WGRAD_SET)); /* overwritten by the next SET */
        TU_OK(clrnn_embedding_backward(e, &in, t1, CLRNN_WGRAD_SET));
        TU_OK(clrnn_embedding_get_grad(e, got, V * DIM));
        for (int i = 0; i < V * DIM; ++i)
            if (tu_rel_err(got[i], ref[i]) > 1e-5) fail_msg("SET grad[%d] %.9g, float64 %.9g", i, got[i], ref[i]);
        TU_OK(clrnn_embedding_backward(e, &in, t2, CLRNN_WGRAD_ADD));
        TU_OK(clrnn_embedding_get_grad(e, got, V * DIM));
        for (int i = 0; i < V * DIM; ++i)
            if (tu_rel_err(got[i], ref[i] + ref2[i]) > 1e-5)
                fail_msg("ADD grad[%d] %.9g, float64 %.9g", i, got[i], ref[i] + ref2[i]);
        if (dm) clReleaseMemObject(dm), clReleaseMemObject(dm2);
    }
    /* int64 ids: the same bits */
    int64_t ids64[N * T];
    for (int i = 0; i < N * T; ++i) ids64[i] = ids[i];
    float g32[V * DIM];
    TU_OK(clrnn_embedding_backward(e, &in, (clrnn_tensor){dx, NULL, 0}, CLRNN_WGRAD_SET));
    TU_OK(clrnn_embedding_get_grad(e, g32, V * DIM));
    const clrnn_ids in64 = {N, T, NULL, ids64};
    TU_OK(clrnn_embedding_backward(e, &in64, (clrnn_tensor){dx, NULL, 0}, CLRNN_WGRAD_SET));
    TU_OK(clrnn_embedding_get_grad(e, got, V * DIM));
    assert_memory_equal(g32, got, sizeof got);
    clrnn_embedding_destroy(e);
}

/* Many positions of few ids (a long accumulation): float64 agreement and bitwise repeats. */
static void test_backward_determinism(void **s) {
    (void)s;
    enum { BN = 64, BT = 50 };
    float table[V * DIM];
    clrnn_embedding *e = make_emb(0, table, 6);
    int32_t *ids = malloc(BN * BT * sizeof *ids);
    uint64_t seed = 7;
    for (int i = 0; i < BN * BT; ++i) ids[i] = (int32_t)(tu_next(&seed) % 4);
    float *dx = tu_alloc_random((size_t)BN * BT * DIM, &seed, -1, 1);
    const clrnn_ids in = {BN, BT, ids, NULL};
    float g1[V * DIM], g2[V * DIM];
    TU_OK(clrnn_embedding_backward(e, &in, (clrnn_tensor){dx, NULL, 0}, CLRNN_WGRAD_SET));
    TU_OK(clrnn_embedding_get_grad(e, g1, V * DIM));
    TU_OK(clrnn_embedding_backward(e, &in, (clrnn_tensor){dx, NULL, 0}, CLRNN_WGRAD_SET));
    TU_OK(clrnn_embedding_get_grad(e, g2, V * DIM));
    assert_memory_equal(g1, g2, sizeof g1);
    double ref[V * DIM];
    ref_backward(ids, dx, BN * BT, ref);
    for (int i = 0; i < V * DIM; ++i)
        if (tu_rel_err(g1[i], ref[i]) > 1e-5) fail_msg("grad[%d] %.9g, float64 %.9g", i, g1[i], ref[i]);
    free(ids), free(dx);
    clrnn_embedding_destroy(e);
}

static void test_refused(void **s) {
    (void)s;
    clrnn_context *ctx = tu_context();
    float table[V * DIM];
    clrnn_embedding *e = make_emb(1, table, 8);
    int32_t ids[N * T];
    make_ids(ids, 9);
    float x[N * T * DIM], poison[N * T * DIM];
    for (int i = 0; i < N * T * DIM; ++i) x[i] = poison[i] = POISON;
    uint8_t mask[N * T];
    memset(mask, 0xee, sizeof mask);
    int32_t lengths[N] = {-5, -5, -5, -5};
    int right = -5;
    clrnn_ids in = {N, T, ids, NULL};
    const clrnn_tensor xt = {x, NULL, 0};
    ids[2 * T + 6] = V;
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, mask, lengths, &right), CLRNN_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(clrnn_last_error(), "ids[2][6] = 23"));
    ids[2 * T + 6] = -1;
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, mask, lengths, &right), CLRNN_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(clrnn_last_error(), "ids[2][6] = -1"));
    int64_t ids64[N * T] = {0};
    ids64[N * T - 1] = (int64_t)1 << 40;
    const clrnn_ids in64 = {N, T, NULL, ids64};
    assert_int_equal(clrnn_embedding_forward(e, &in64, xt, mask, lengths, &right), CLRNN_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(clrnn_last_error(), "ids[3][8] = 1099511627776"));
    assert_memory_equal(x, poison, sizeof x);
    for (int i = 0; i < N * T; ++i) assert_int_equal(mask[i], 0xee);
    assert_true(lengths[0] == -5 && right == -5);
    float grad_before[V * DIM], grad_after[V * DIM];
    TU_OK(clrnn_embedding_get_grad(e, grad_before, V * DIM));
    assert_int_equal(clrnn_embedding_backward(e, &in, (clrnn_tensor){poison, NULL, 0}, CLRNN_WGRAD_SET),
                     CLRNN_ERR_OUT_OF_RANGE);
    TU_OK(clrnn_embedding_get_grad(e, grad_after, V * DIM));
    assert_memory_equal(grad_before, grad_after, sizeof grad_after);
    ids[2 * T + 6] = 1;
    assert_int_equal(clrnn_embedding_backward(e, &in, (clrnn_tensor){poison, NULL, 0}, (clrnn_wgrad_mode)3),
                     CLRNN_ERR_INVALID_ARGUMENT);
    /* shapes and tensors */
    cl_mem small = tu_dev_buf(poison, 10);
    assert_int_equal(clrnn_embedding_forward(e, &in, (clrnn_tensor){NULL, small, 0}, NULL, NULL, NULL),
                     CLRNN_ERR_SHAPE_MISMATCH);
    assert_int_equal(clrnn_embedding_backward(e, &in, (clrnn_tensor){NULL, small, 0}, CLRNN_WGRAD_ADD),
                     CLRNN_ERR_SHAPE_MISMATCH);
    float now[10];
    tu_dev_read(small, now, 10);
    assert_memory_equal(now, poison, sizeof now);
    clReleaseMemObject(small);
    assert_int_equal(clrnn_embedding_forward(e, &in, (clrnn_tensor){NULL, NULL, 0}, NULL, NULL, NULL),
                     CLRNN_ERR_NULL_ARGUMENT);
    in.batch = 0;
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, NULL, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    in.batch = N;
    in.ids64 = ids64;
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, NULL, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    in.ids32 = NULL, in.ids64 = NULL;
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, NULL, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_embedding_forward(e, NULL, xt, NULL, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_memory_equal(x, poison, sizeof x);
    /* the table */
    float t2[V * DIM];
    memcpy(t2, table, sizeof t2);
    t2[40] = NAN;
    assert_int_equal(clrnn_embedding_set_table(e, t2, V * DIM), CLRNN_ERR_NON_FINITE);
    assert_int_equal(clrnn_embedding_set_table(e, table, V * DIM - 1), CLRNN_ERR_SHAPE_MISMATCH);
    assert_int_equal(clrnn_embedding_get_table(e, t2, V * DIM + 1), CLRNN_ERR_SHAPE_MISMATCH);
    assert_int_equal(clrnn_embedding_get_table(e, NULL, V * DIM), CLRNN_ERR_NULL_ARGUMENT);
    TU_OK(clrnn_embedding_get_table(e, t2, V * DIM));
    assert_memory_equal(t2, table, sizeof t2);
    /* creation, handles */
    clrnn_embedding *bad = (clrnn_embedding *)1;
    assert_int_equal(clrnn_embedding_create(ctx, 0, 4, 0, &bad), CLRNN_ERR_INVALID_ARGUMENT);
    assert_null(bad);
    assert_int_equal(clrnn_embedding_create(ctx, 4, -1, 0, &bad), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_embedding_create(ctx, 1 << 20, 1 << 12, 0, &bad), CLRNN_ERR_OVERFLOW);
    assert_int_equal(clrnn_embedding_create(NULL, 4, 4, 0, &bad), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_embedding_destroy(e);
    assert_int_equal(clrnn_embedding_get_table(e, t2, V * DIM), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_embedding_forward(e, &in, xt, NULL, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_embedding_destroy(e); /* ignored */
    clrnn_embedding_destroy(NULL);
}

static void test_mask_from_value(void **s) {
    (void)s;
    enum { MN = 3, MT = 5, MF = 2 };
    float x[MN * MT * MF];
    uint64_t seed = 10;
    tu_fill(x, MN * MT * MF, &seed, 0.5f, 1);
    /* row 0 full; row 1 padded from t = 3 with -1; row 2 a hole at t = 1, one feature -1 at t = 2 */
    for (int t = 3; t < MT; ++t) x[(1 * MT + t) * MF] = x[(1 * MT + t) * MF + 1] = -1;
    x[(2 * MT + 1) * MF] = x[(2 * MT + 1) * MF + 1] = -1;
    x[(2 * MT + 2) * MF] = -1;
    uint8_t mask[MN * MT];
    int32_t lengths[MN];
    int right = -1;
    TU_OK(clrnn_mask_from_value(x, MN, MT, MF, -1.0f, mask, lengths, &right));
    const uint8_t want[MN * MT] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1};
    assert_memory_equal(mask, want, sizeof want);
    assert_int_equal(lengths[0], 5), assert_int_equal(lengths[1], 3), assert_int_equal(lengths[2], 1);
    assert_int_equal(right, 0);
    x[(2 * MT + 1) * MF] = 0.7f; /* the hole filled: right-padded */
    TU_OK(clrnn_mask_from_value(x, MN, MT, MF, -1.0f, mask, NULL, &right));
    assert_int_equal(right, 1);
    /* NaN masks nothing (NaN != NaN), as Keras */
    for (int i = 0; i < MF; ++i) x[i] = NAN;
    TU_OK(clrnn_mask_from_value(x, MN, MT, MF, NAN, mask, lengths, &right));
    for (int i = 0; i < MN * MT; ++i) assert_int_equal(mask[i], 1);
    assert_int_equal(clrnn_mask_from_value(x, 0, MT, MF, 0, mask, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_mask_from_value(x, MN, MT, 0, 0, mask, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_mask_from_value(NULL, MN, MT, MF, 0, mask, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_mask_from_value(x, MN, MT, MF, 0, NULL, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
}

/* The glue program is built on first use, not with the context; objects outlive their context
 * cleanly (calls refused, destroy clean). */
static void test_lifetime(void **s) {
    (void)s;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    assert_null(ctx->glue);
    clrnn_embedding *e = NULL;
    TU_OK(clrnn_embedding_create(ctx, 5, 3, 0, &e));
    assert_null(ctx->glue);
    const int32_t ids[4] = {1, 4, 4, 0};
    const clrnn_ids in = {2, 2, ids, NULL};
    float x[12], table[15];
    TU_OK(clrnn_embedding_forward(e, &in, (clrnn_tensor){x, NULL, 0}, NULL, NULL, NULL));
    assert_non_null(ctx->glue);
    TU_OK(clrnn_embedding_backward(e, &in, (clrnn_tensor){x, NULL, 0}, CLRNN_WGRAD_SET));
    const clrnn_optimizer_params p = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_ADAM, CLRNN_EPS_KERAS);
    clrnn_optimizer *o = NULL;
    TU_OK(clrnn_optimizer_create(ctx, &p, &o));
    TU_OK(clrnn_optimizer_step(o, NULL, e, NULL));
    /* an embedding of another context: refused */
    clrnn_embedding *other = NULL;
    TU_OK(clrnn_embedding_create(tu_context(), 5, 3, 0, &other));
    clrnn_optimizer *o2 = NULL;
    TU_OK(clrnn_optimizer_create(ctx, &p, &o2));
    assert_int_equal(clrnn_optimizer_step(o2, NULL, other, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_embedding_destroy(other);
    clrnn_context_destroy(ctx);
    assert_int_equal(clrnn_embedding_get_table(e, table, 15), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "destroyed"));
    assert_int_equal(clrnn_optimizer_step(o, NULL, e, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_optimizer_destroy(o);
    clrnn_optimizer_destroy(o2);
    clrnn_embedding_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),  cmocka_unit_test(test_backward), cmocka_unit_test(test_backward_determinism),
        cmocka_unit_test(test_refused),  cmocka_unit_test(test_mask_from_value), cmocka_unit_test(test_lifetime),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
