/* Storage types (clrnn_rnn_desc.storage): the stored values are the float inputs rounded to nearest
 * even, on the host path (a host x) and the device path (a device x) alike, checked bit for bit
 * against roundings written here independently (C's _Float16 conversion; bf16 by picking the nearer
 * neighbour in double); the device bytes of weights and workspace are halved; training and a bad
 * value are refused. The forward suite's accuracy under fp16/bf16 is tests/forward/test_forward.c
 * (CLRNN_STORAGE=fp16|bf16). Runs under each plan (CLRNN_PLAN). */
#include "test_util.h"

/* The reference roundings, float -> stored -> float. */
static float ref_fp16(float x) { return (float)(_Float16)x; }

static float ref_bf16(float x) {
    if (isnan(x)) return x;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    /* the two neighbours: truncated (toward zero) and one bf16 step away from zero (inf past the
     * largest bf16, at the distance of 2^128 as IEEE rounding counts it) */
    const uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
    float lo, hi;
    memcpy(&lo, &lo_bits, sizeof lo);
    memcpy(&hi, &hi_bits, sizeof hi);
    const double dlo = fabs((double)x - lo);
    const double dhi = isinf(hi) ? fabs(fabs((double)x) - 0x1p128) : fabs((double)x - hi);
    if (dlo != dhi) return dlo < dhi ? lo : hi;
    return (lo_bits >> 16) & 1u ? hi : lo; /* a tie: the even one */
}

/* Values that exercise the rounding: ties both ways, subnormal halves, the fp16 overflow edge,
 * (not -0: the network itself makes it +0, as x_proj = -0 * 1 + 0 is +0 in any precision)
 * large and tiny magnitudes, then random ones over many binades. */
static size_t rounding_inputs(float *x, size_t cap, uint64_t *seed) {
    static const float edges[] = {
        0.0f, 1.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-20f, -1.0f - 0x1p-11f,
        1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -(1.0f + 0x1p-8f + 0x1p-20f), 65504.0f, 65519.0f, 65520.0f, -65520.0f,
        70000.0f, 0x1p-14f, 0x1p-24f, 0x1p-25f, 3 * 0x1p-26f, 0x1.8p-24f, 3e-6f, -5.9e-8f, 1e-8f, 0.1f, 1.0f / 3,
        3.0e38f, -3.4e38f, 0x1.ffffp127f,
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0] && n < cap; ++i) x[n++] = edges[i];
    while (n < cap) {
        const double m = (double)(tu_next(seed) % 1000000) / 1e6 + 1.0; /* [1, 2) */
        const int e = (int)(tu_next(seed) % 60) - 30;                   /* 2^-30 .. 2^29 */
        x[n++] = (float)(ldexp(m, e) * ((tu_next(seed) & 1) ? -1 : 1));
    }
    return n;
}

/* A vanilla RNN that outputs its input: I = H = 1, W = 1, R = 0, no bias, activation affine(1, 0),
 * one step, the values along the batch. Its y and hn are then the stored (rounded) x, read back as
 * float: every stage (x, x_proj, h, the layer output) stores a value that is already representable. */
static void identity_rnn_rounds(clrnn_storage storage, int device_x) {
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 1, 1);
    d.activations[0][0] = (clrnn_activation){CLRNN_ACT_AFFINE, 1.0f, 0.0f};
    d.storage = storage;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    const float one = 1.0f, zero = 0.0f;
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, &one, 1));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, &zero, 1));
    enum { N = 200 };
    float x[N], *y = tu_alloc_poison(N), *hn = tu_alloc_poison(N);
    uint64_t seed = 0x5eed0000u + (uint64_t)storage;
    const size_t n = rounding_inputs(x, N, &seed);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 1;
    a.batch = (int)n;
    cl_mem xm = NULL;
    if (device_x)
        a.x.mem = xm = tu_dev_buf(x, n);
    else
        a.x.host = x;
    a.y.host = y;
    a.hn.host = hn;
    TU_OK(clrnn_rnn_forward(r, &a));
    for (size_t i = 0; i < n; ++i) {
        const float want = storage == CLRNN_STORAGE_FP16 ? ref_fp16(x[i]) : ref_bf16(x[i]);
        /* bit for bit, but a zero's sign: x_proj = (-0) * 1 + 0 is +0 whatever the storage */
        const int same = want == 0.0f ? y[i] == 0.0f && hn[i] == 0.0f
                                      : !memcmp(&y[i], &want, sizeof want) && !memcmp(&hn[i], &want, sizeof want);
        if (!same)
            fail_msg("%s storage, %s x: %a (%.9g) is stored as y %a, hn %a; round to nearest even gives %a",
                     storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16", device_x ? "device" : "host", (double)x[i],
                     (double)x[i], (double)y[i], (double)hn[i], (double)want);
    }
    if (xm) clReleaseMemObject(xm);
    free(y), free(hn);
    clrnn_rnn_destroy(r);
}

/* The rounding of values computed on the device (the kernels' stores, scalar and 16-wide): I = 1,
 * H = n units with W[j] = v_j (rounded on upload), R = 0, x = 3, one step, activation affine(1, 0):
 * x_proj[j] = 3 * stored(v_j), exact in float but in general not representable in the storage, so
 * the kernel rounds it; y[j] and hn[j] must be stored(3 * stored(v_j)). */
static void computed_values_round(clrnn_storage storage) {
    clrnn_context *ctx = tu_context();
    enum { H = 120 };
    float v[H];
    uint64_t seed = 0xabcdu + (uint64_t)storage;
    rounding_inputs(v, H, &seed);
    for (int j = 0; j < H; ++j)
        if (fabsf(v[j]) > 1e37f) v[j] = 1e37f; /* weights must stay finite once rounded */
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 1, H);
    d.activations[0][0] = (clrnn_activation){CLRNN_ACT_AFFINE, 1.0f, 0.0f};
    d.storage = storage;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    float *R = calloc((size_t)H * H, sizeof *R);
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, v, H));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, R, (size_t)H * H));
    float x = 3.0f, *y = tu_alloc_poison(H), *hn = tu_alloc_poison(H);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 1, a.batch = 1, a.x.host = &x, a.y.host = y, a.hn.host = hn;
    TU_OK(clrnn_rnn_forward(r, &a));
    for (int j = 0; j < H; ++j) {
        float (*rnd)(float) = storage == CLRNN_STORAGE_FP16 ? ref_fp16 : ref_bf16;
        const float want = rnd(3.0f * rnd(v[j]));
        const int same = want == 0.0f ? y[j] == 0.0f && hn[j] == 0.0f
                                      : !memcmp(&y[j], &want, sizeof want) && !memcmp(&hn[j], &want, sizeof want);
        if (!same)
            fail_msg("%s storage: unit %d, 3 * stored(%a) is stored as y %a, hn %a; round to nearest even gives %a",
                     storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16", j, (double)v[j], (double)y[j], (double)hn[j],
                     (double)want);
    }
    free(R), free(y), free(hn);
    clrnn_rnn_destroy(r);
}

static void fp16_rounds_to_nearest_even(void **state) {
    (void)state;
    identity_rnn_rounds(CLRNN_STORAGE_FP16, 0);
    identity_rnn_rounds(CLRNN_STORAGE_FP16, 1);
    computed_values_round(CLRNN_STORAGE_FP16);
}

static void bf16_rounds_to_nearest_even(void **state) {
    (void)state;
    identity_rnn_rounds(CLRNN_STORAGE_BF16, 0);
    identity_rnn_rounds(CLRNN_STORAGE_BF16, 1);
    computed_values_round(CLRNN_STORAGE_BF16);
}

/* The same LSTM (I = H = 256) under each storage, run once: its weights' device bytes are halved
 * but for the float32 biases and activation table (under 1 % here), and its workspace is at most 0.6
 * of fp32's: the stored buffers halve, while the float staging of the user's y ([T*N, H]) stays
 * (x_proj's 4H columns, x, y and y's staging make fp16 = (2 + 8 + 2 + 4) / (4 + 16 + 4 + 4) = 0.57). */
static void device_bytes_halved(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    enum { I = 256, H = 256, T = 16, N = 8 };
    size_t wbytes[3], wsbytes[3];
    float *x = NULL;
    uint64_t xs = 7;
    x = tu_alloc_random((size_t)T * N * I, &xs, -1, 1);
    for (int s = 0; s < 3; ++s) {
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, I, H);
        d.storage = (clrnn_storage)s;
        clrnn_rnn *r = NULL;
        TU_OK(clrnn_rnn_create(ctx, &d, &r));
        uint64_t seed = 11;
        tu_set_random_weights(r, &seed, 0.06f, 0.5f, 0.5f);
        float *y = tu_alloc_poison((size_t)T * N * H);
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
        TU_OK(clrnn_rnn_forward(r, &a));
        for (size_t i = 0; i < (size_t)T * N * H; ++i)
            if (!isfinite(y[i])) fail_msg("storage %d: y[%zu] = %g", s, i, (double)y[i]);
        wbytes[s] = clrnn_rnn_weight_bytes(r);
        wsbytes[s] = clrnn_rnn_workspace_bytes(r);
        free(y);
        clrnn_rnn_destroy(r);
    }
    free(x);
    for (int s = 1; s < 3; ++s) {
        printf("storage %d: weights %zu bytes (fp32 %zu), workspace %zu bytes (fp32 %zu)\n", s, wbytes[s], wbytes[0],
               wsbytes[s], wsbytes[0]);
        assert_true(wbytes[s] * 2 >= wbytes[0]);
        assert_true((double)wbytes[s] <= 0.51 * (double)wbytes[0]);
        assert_true((double)wsbytes[s] <= 0.6 * (double)wsbytes[0]);
    }
}

/* Training reads and writes float32: an fp16/bf16 rnn gets no reserve (so no forward_train or
 * backward), with a message that says why. Its descriptor and plan line name the storage. */
static void training_refused(void **state) {
    (void)state;
    for (int s = 1; s < 3; ++s) {
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_GRU, 3, 5);
        d.storage = (clrnn_storage)s;
        clrnn_rnn *r = NULL;
        TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
        clrnn_reserve *res = (clrnn_reserve *)&d; /* must become NULL */
        assert_int_equal(clrnn_reserve_create(r, &res), CLRNN_ERR_UNSUPPORTED);
        assert_null(res);
        assert_non_null(strstr(clrnn_last_error(), "CLRNN_STORAGE_FP32"));
        clrnn_rnn_desc got;
        TU_OK(clrnn_rnn_get_desc(r, &got));
        assert_int_equal(got.storage, s);
        char plan[1024];
        assert_non_null(strstr(clrnn_rnn_plan(r, plan, sizeof plan), s == 1 ? "stored as fp16" : "stored as bf16"));
        clrnn_rnn_destroy(r);
    }
}

static void bad_storage_refused(void **state) {
    (void)state;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 3, 5);
    d.storage = (clrnn_storage)3;
    clrnn_rnn *r = (clrnn_rnn *)&d;
    assert_int_equal(clrnn_rnn_create(tu_context(), &d, &r), CLRNN_ERR_INVALID_DESCRIPTOR);
    assert_null(r);
    assert_non_null(strstr(clrnn_last_error(), "storage = 3"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fp16_rounds_to_nearest_even),
        cmocka_unit_test(bf16_rounds_to_nearest_even),
        cmocka_unit_test(device_bytes_halved),
        cmocka_unit_test(training_refused),
        cmocka_unit_test(bad_storage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
