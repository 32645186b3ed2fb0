/* The kernels' sigmoid and tanh (cl/common.cl: sigmoid_fast_, tanh_fast_, expanded by
 * ACTIVATION_BODY on one lane and on 16), on the device, against double: a test program made of the
 * library's own abi.h, storage.h and common.cl and a kernel that applies activate() (one lane) and
 * ACTIVATION_BODY(real16) (16 lanes) to a sweep of floats. Checked: the error in ulp of the float
 * result (the spacing of floats at the double value; subnormal results count in 2^-149) over every
 * 997th float bit pattern (both signs, all exponents, mantissas that differ from binade to binade,
 * NaNs and infinities included) and the values at the forms' seams with their neighbours; the exact
 * limits (sigmoid(-inf) = +0, sigmoid(+inf) = 1, tanh(+-inf) = +-1, tanh(-0) = -0), NaN in gives
 * NaN, the lanes give the same bits as one lane and a second run the same bits. Then the same through the library's forward
 * (an RNN with I = H = 1, W = 1, R = 0, no bias: h = act(x)) under the plan of CLRNN_PLAN: the
 * plan's kernels give the bits of common.cl's functions. CLRNN_ACT_SWEEP=all adds every float of
 * the ranges where the functions are not yet at their limits (minutes: the measurement behind the
 * bounds). The largest error of each sweep is printed. */
#include "test_util.h"

#include <float.h>

#include "cl/abi.h"
#include "core/launch.h"

extern const clrnn_embedded_source clrnn_embedded_sources[];
extern const size_t clrnn_embedded_sources_count;

/* The bounds: the largest errors CLRNN_ACT_SWEEP=all finds (2.402 and 1.549 ulp), rounded up. */
#define SIGMOID_MAX_ULP 2.5
#define TANH_MAX_ULP 1.6

static const char sweep_kernel[] =
    "inline real16 act16_(__global const float *acts, real16 x) {\n"
    "    const int kind = (int)acts[0];\n"
    "    const float alpha = acts[1], beta = acts[2];\n"
    "    ACTIVATION_BODY(real16, x, kind, alpha, beta)\n"
    "}\n"
    "__kernel void act_sweep(__global const float *acts, __global const float *x, __global float *y1,\n"
    "                        __global float *y16) {\n"
    "    const size_t i = get_global_id(0);\n"
    "    vstore16(act16_(acts, vload16(i, x)), i, y16);\n"
    "    for (int l = 0; l < 16; ++l) y1[i * 16 + l] = activate(acts, 0, 0, x[i * 16 + l], 0.0f);\n"
    "}\n";

/* ---- the reference ---- */
static double ref_act(int kind, float xf) {
    const double x = xf;
    if (kind == ACT_TANH) return tanh(x);
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* |y - ref| in units of the float spacing at ref (2^-149 among the subnormals). */
static double ulp_err(float y, double ref) {
    int e;
    frexp(ref, &e); /* |ref| in [2^(e-1), 2^e) */
    const double ulp = ref == 0.0 || e - 24 < -149 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)y - ref) / ulp;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* 1 when the device flushes subnormal floats to zero (no CL_FP_DENORM: llvmpipe): subnormal inputs
 * are then zeros and subnormal results may be zeros, which the checks allow. */
static int flushes;
/* ulp added to the bounds where float division need not be correctly rounded (OpenCL allows 2.5 ulp;
 * the CPU devices' is exact, as the bounds assume): any device but a CPU. */
static double div_slack;

/* ---- the test program ---- */
static clrnn_status check_sweep(cl_program prog, void *user) {
    (void)user;
    static const char *const names[] = {"act_sweep"};
    return clrnn_program_has_kernels(prog, names, 1);
}

typedef struct sweep_device {
    clrnn_context *ctx;
    cl_kernel k;
    cl_mem acts, x, y1, y16;
    size_t cap; /* floats per chunk (a multiple of 16) */
} sweep_device;

static void sweep_open(sweep_device *dev, size_t cap) {
    static clrnn_embedded_source sources[4];
    static const clrnn_program_def def = {"the activation test kernel", "act-sweep-1", sources, 4, 0, check_sweep};
    /* the library's files, as embedded: the constants, the storage macros, the activations */
    static const char *const lib[3] = {"abi.h", "storage.h", "common.cl"};
    for (int i = 0; i < 3; ++i) {
        size_t j = 0;
        while (j < clrnn_embedded_sources_count && strcmp(clrnn_embedded_sources[j].name, lib[i])) ++j;
        assert_true(j < clrnn_embedded_sources_count);
        sources[i] = clrnn_embedded_sources[j];
    }
    sources[3] = (clrnn_embedded_source){"act_sweep.cl", (const unsigned char *)sweep_kernel, sizeof sweep_kernel - 1};
    memset(dev, 0, sizeof *dev);
    dev->ctx = tu_context();
    cl_device_fp_config fp = 0;
    assert_int_equal(clGetDeviceInfo(clrnn_context_cl_device(dev->ctx), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL),
                     CL_SUCCESS);
    flushes = !(fp & CL_FP_DENORM);
    cl_device_type type = 0;
    assert_int_equal(clGetDeviceInfo(clrnn_context_cl_device(dev->ctx), CL_DEVICE_TYPE, sizeof type, &type, NULL),
                     CL_SUCCESS);
    div_slack = type & CL_DEVICE_TYPE_CPU ? 0.0 : 2.5;
    const clrnn_kept_program *kp = NULL;
    TU_OK(clrnn_program_kept_with(dev->ctx, &def, clrnn_program_options(), 0, NULL, NULL, &kp));
    cl_int err;
    dev->k = clCreateKernel(kp->program, "act_sweep", &err);
    assert_int_equal(err, CL_SUCCESS);
    dev->cap = cap;
    float acts[ACT_PARAMS] = {0};
    dev->acts = tu_dev_buf(acts, ACT_PARAMS);
    float *zero = calloc(cap, sizeof *zero);
    dev->x = tu_dev_buf(zero, cap);
    dev->y1 = tu_dev_buf(zero, cap);
    dev->y16 = tu_dev_buf(zero, cap);
    free(zero);
}

static void sweep_close(sweep_device *dev) {
    clReleaseMemObject(dev->acts), clReleaseMemObject(dev->x);
    clReleaseMemObject(dev->y1), clReleaseMemObject(dev->y16);
    clReleaseKernel(dev->k);
}

/* y1 (one lane) and y16 (16 lanes) = the activation `kind` of x[0..n), n a multiple of 16. */
static void sweep_run(sweep_device *dev, int kind, const float *x, size_t n, float *y1, float *y16) {
    assert_true(n % 16 == 0 && n <= dev->cap);
    cl_command_queue q = clrnn_context_cl_queue(dev->ctx);
    const float acts[ACT_PARAMS] = {(float)kind, 0.0f, 0.0f};
    assert_int_equal(clEnqueueWriteBuffer(q, dev->acts, CL_TRUE, 0, sizeof acts, acts, 0, NULL, NULL), CL_SUCCESS);
    assert_int_equal(clEnqueueWriteBuffer(q, dev->x, CL_TRUE, 0, n * sizeof *x, x, 0, NULL, NULL), CL_SUCCESS);
    for (size_t i = 0; i < n; ++i) y1[i] = y16[i] = POISON;
    assert_int_equal(clEnqueueWriteBuffer(q, dev->y1, CL_TRUE, 0, n * sizeof *y1, y1, 0, NULL, NULL), CL_SUCCESS);
    assert_int_equal(clEnqueueWriteBuffer(q, dev->y16, CL_TRUE, 0, n * sizeof *y16, y16, 0, NULL, NULL), CL_SUCCESS);
    mtx_lock(&dev->ctx->lock);
    clrnn_kargs a = clrnn_kargs_begin(dev->k, "act_sweep");
    clrnn_karg_mem(&a, dev->acts);
    clrnn_karg_mem(&a, dev->x);
    clrnn_karg_mem(&a, dev->y1);
    clrnn_karg_mem(&a, dev->y16);
    const size_t global = n / 16;
    const clrnn_status st = clrnn_enqueue(dev->ctx, &a, 1, &global, NULL, NULL);
    mtx_unlock(&dev->ctx->lock);
    TU_OK(st);
    tu_dev_read(dev->y1, y1, n);
    tu_dev_read(dev->y16, y16, n);
}

/* ---- the inputs ---- */
/* Values at the forms' seams and limits, each with its float neighbours. */
static size_t seam_inputs(float *x, size_t cap) {
    static const float seams[] = {0.0f, 0.625f, 0.5f, 1.0f, 2.0f, 8.0f, 9.0f, 9.1f, 16.0f, 17.0f, 17.4f, 44.0f,
                                  52.0f, 87.3f, 87.34f, 88.0f, 88.73f, 89.0f, 100.0f, 103.0f, 103.97f, 104.0f,
                                  105.0f, 1e-30f, 1e-38f, 0x1p-149f, 0x1p-126f, 1e30f, 3.4e38f, 1e-7f, 3e-4f};
    size_t n = 0;
    for (size_t i = 0; i < sizeof seams / sizeof seams[0]; ++i)
        for (int s = 0; s < 2; ++s) {
            const float v = s ? -seams[i] : seams[i];
            for (int d = -3; d <= 3 && n < cap; ++d) {
                const uint32_t u = to_bits(v);
                if (v == 0.0f && d < 0) continue;
                x[n++] = from_bits(u + (uint32_t)d);
            }
        }
    return n;
}

/* The sweep: bit-pattern ranges [lo, hi) of floats, each walked by its stride (the patterns of the
 * negative floats are 2^31 above those of the positive ones). Yields up to cap floats at a time into
 * x (a multiple of 16, padded with zeros); 0 at the end. */
typedef struct sweep_range {
    uint64_t lo, hi, stride;
} sweep_range;
typedef struct sweep_iter {
    const sweep_range *ranges;
    int count, at;
    uint64_t next;
} sweep_iter;

static size_t sweep_fill(sweep_iter *it, float *x, size_t cap) {
    size_t n = 0;
    while (n < cap && it->at < it->count) {
        const sweep_range *r = &it->ranges[it->at];
        if (it->next < r->lo) it->next = r->lo;
        if (it->next >= r->hi) {
            it->at++, it->next = 0;
            continue;
        }
        x[n++] = from_bits((uint32_t)it->next);
        it->next += r->stride;
    }
    while (n % 16) x[n++] = 0.0f;
    return n;
}

/* ---- the checks ---- */
typedef struct act_stats {
    double max_err;
    float worst_x;
    float worst_y;
    size_t count;
} act_stats;

/* Checks y (one lane) and y16 of kind on x[0..n): same bits, NaN for NaN, the error against double
 * into st. */
static void check_results(int kind, const float *x, const float *y1, const float *y16, size_t n, act_stats *st) {
    for (size_t i = 0; i < n; ++i) {
        if (to_bits(y1[i]) != to_bits(y16[i]))
            fail_msg("%s(%a): one lane gives %a, 16 lanes %a", kind == ACT_TANH ? "tanh" : "sigmoid", (double)x[i],
                     (double)y1[i], (double)y16[i]);
        if (isnan(x[i])) {
            if (!isnan(y1[i])) fail_msg("%s(NaN) = %a", kind == ACT_TANH ? "tanh" : "sigmoid", (double)y1[i]);
            continue;
        }
        const double ref = ref_act(kind, x[i]);
        if (flushes && (fabsf(x[i]) < FLT_MIN || fabs(ref) < FLT_MIN)) {
            if (!(fabs((double)y1[i] - ref) <= FLT_MIN)) /* the result, or a flushed one */
                fail_msg("%s(%a) = %a, double %a (subnormals flushed)", kind == ACT_TANH ? "tanh" : "sigmoid",
                         (double)x[i], (double)y1[i], ref);
            continue;
        }
        const double e = ulp_err(y1[i], ref);
        if (!(e <= st->max_err)) { /* also catches a NaN result */
            st->max_err = isnan(e) ? INFINITY : e;
            st->worst_x = x[i];
            st->worst_y = y1[i];
        }
        st->count++;
    }
}

static void sweep_kind(sweep_device *dev, int kind, const sweep_range *ranges, int count, double bound) {
    float *x = malloc(dev->cap * sizeof *x), *y1 = malloc(dev->cap * sizeof *y1), *y16 = malloc(dev->cap * sizeof *y16);
    act_stats st = {0};
    sweep_iter it = {ranges, count, 0, 0};
    /* the seams first, then the sweep */
    size_t n = seam_inputs(x, dev->cap);
    while (n % 16) x[n++] = 0.0f;
    for (;;) {
        sweep_run(dev, kind, x, n, y1, y16);
        check_results(kind, x, y1, y16, n, &st);
        n = sweep_fill(&it, x, dev->cap);
        if (!n) break;
    }
    const char *name = kind == ACT_TANH ? "tanh" : "sigmoid";
    print_message("%s: %zu floats, largest error %.3f ulp at x = %a (%.9g): %a, double %.17g\n", name, st.count,
                      st.max_err, (double)st.worst_x, (double)st.worst_x, (double)st.worst_y,
                      ref_act(kind, st.worst_x));
    if (st.max_err > bound + div_slack) fail_msg("%s: %.3f ulp > %.1f", name, st.max_err, bound + div_slack);
    free(x), free(y1), free(y16);
}

static int sweep_all(void) {
    const char *e = getenv("CLRNN_ACT_SWEEP");
    return e && !strcmp(e, "all");
}

/* The sweep of both activations: every 997th float pattern (997: odd and prime, so the mantissas it
 * visits differ from binade to binade); with CLRNN_ACT_SWEEP=all also every float of magnitude in
 * [2^-30, L], L = 104 for sigmoid (below -104 it is 0, above 17.4 1) and 9.1 for tanh (+-1 beyond):
 * the measurement behind the bounds (minutes). Below 2^-30 both are their first Taylor term. */
static void sweep_within_bounds(void **state) {
    (void)state;
    sweep_device dev;
    sweep_open(&dev, (size_t)1 << 20);
    const uint64_t neg = (uint64_t)1 << 31, tiny = to_bits(0x1p-30f);
    const uint64_t every = (uint64_t)1 << 32;
    const sweep_range sig[] = {{0, every, 997}, {tiny, to_bits(104.0f) + 1, 1}, {neg + tiny, neg + to_bits(104.0f) + 1, 1}};
    const sweep_range th[] = {{0, every, 997}, {tiny, to_bits(9.1f) + 1, 1}, {neg + tiny, neg + to_bits(9.1f) + 1, 1}};
    const int count = sweep_all() ? 3 : 1;
    sweep_kind(&dev, ACT_SIGMOID, sig, count, SIGMOID_MAX_ULP);
    sweep_kind(&dev, ACT_TANH, th, count, TANH_MAX_ULP);
    sweep_close(&dev);
}

/* The limits and signs exactly, NaN of either sign, and a second run's bits. */
static void limits_exact(void **state) {
    (void)state;
    sweep_device dev;
    sweep_open(&dev, 64);
    const float x[16] = {INFINITY, -INFINITY, 0.0f, -0.0f, NAN, -NAN, 3.4e38f, -3.4e38f,
                         200.0f, -200.0f, 20.0f, -20.0f, 0x1p-149f, -0x1p-149f, 1e-20f, -1e-20f};
    float s1[16], s16[16], t1[16], t16[16], again1[16], again16[16];
    sweep_run(&dev, ACT_SIGMOID, x, 16, s1, s16);
    sweep_run(&dev, ACT_TANH, x, 16, t1, t16);
    for (int i = 0; i < 16; ++i)
        if (to_bits(s1[i]) != to_bits(s16[i]) || to_bits(t1[i]) != to_bits(t16[i]))
            fail_msg("x = %a: one lane and 16 lanes differ", (double)x[i]);
    assert_true(s1[0] == 1.0f && s1[1] == 0.0f && !signbit(s1[1]));
    assert_true(s1[2] == 0.5f && s1[3] == 0.5f && isnan(s1[4]) && isnan(s1[5]));
    assert_true(s1[6] == 1.0f && s1[7] == 0.0f && s1[8] == 1.0f && s1[9] == 0.0f);
    assert_true(t1[0] == 1.0f && t1[1] == -1.0f);
    assert_true(t1[2] == 0.0f && !signbit(t1[2]) && t1[3] == 0.0f && signbit(t1[3]));
    assert_true(isnan(t1[4]) && isnan(t1[5]));
    assert_true(t1[6] == 1.0f && t1[7] == -1.0f && t1[8] == 1.0f && t1[9] == -1.0f && t1[10] == 1.0f && t1[11] == -1.0f);
    /* tanh(x) = x for tiny x, sign kept */
    assert_true(t1[14] == x[14] && t1[15] == x[15]);
    assert_true((t1[12] == x[12] && t1[13] == x[13]) || (flushes && t1[12] == 0.0f && t1[13] == 0.0f));
    /* sigmoid(-20) = 2.06e-9: a tiny result, not 0 */
    assert_true(ulp_err(s1[11], ref_act(ACT_SIGMOID, -20.0f)) <= SIGMOID_MAX_ULP + div_slack);
    sweep_run(&dev, ACT_SIGMOID, x, 16, again1, again16);
    assert_memory_equal(again1, s1, sizeof s1);
    sweep_run(&dev, ACT_TANH, x, 16, again1, again16);
    assert_memory_equal(again1, t1, sizeof t1);
    sweep_close(&dev);
}

/* The plan's kernels (CLRNN_PLAN) give the bits of common.cl's functions: h = act(x) by an RNN with
 * I = H = 1, W = 1, R = 0, no bias, one step, the values along the batch. */
static void forward_matches(void **state) {
    (void)state;
    enum { N = 4096 };
    sweep_device dev;
    sweep_open(&dev, N);
    float *x = malloc(N * sizeof *x), *want1 = malloc(N * sizeof *x), *want16 = malloc(N * sizeof *x);
    size_t n = seam_inputs(x, N);
    uint64_t seed = 0xac7u;
    while (n < N) { /* random floats over [-120, 120], all binades */
        const float m = tu_uniform(&seed, 1.0f, 2.0f);
        const int e = (int)(tu_next(&seed) % 40) - 33; /* 2^-33 .. 2^6 */
        x[n++] = ldexpf(m, e) * ((tu_next(&seed) & 1) ? -1.0f : 1.0f);
    }
    x[N - 1] = NAN, x[N - 2] = INFINITY, x[N - 3] = -INFINITY;
    for (size_t i = 0; i < N; ++i)
        if (x[i] == 0.0f || (flushes && fabsf(x[i]) < FLT_MIN)) x[i] = 0.0f; /* x_proj = (-0) * 1 + 0 is +0 */
    static const clrnn_activation_kind kinds[] = {CLRNN_ACT_SIGMOID, CLRNN_ACT_TANH};
    for (int c = 0; c < 2; ++c) {
        sweep_run(&dev, (int)kinds[c], x, N, want1, want16);
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 1, 1);
        d.activations[0][0] = (clrnn_activation){kinds[c], 0.0f, 0.0f};
        clrnn_rnn *r = NULL;
        TU_OK(clrnn_rnn_create(dev.ctx, &d, &r));
        const float one = 1.0f, zero = 0.0f;
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, &one, 1));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, &zero, 1));
        float *y = tu_alloc_poison(N), *hn = tu_alloc_poison(N);
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = 1;
        a.batch = N;
        a.x.host = x;
        a.y.host = y;
        a.hn.host = hn;
        TU_OK(clrnn_rnn_forward(r, &a));
        for (size_t i = 0; i < N; ++i)
            if (to_bits(y[i]) != to_bits(want1[i]) || to_bits(hn[i]) != to_bits(want1[i]))
                fail_msg("%s(%a): the forward gives y %a, hn %a; common.cl %a",
                         kinds[c] == CLRNN_ACT_TANH ? "tanh" : "sigmoid", (double)x[i], (double)y[i],
                         (double)hn[i], (double)want1[i]);
        free(y), free(hn);
        clrnn_rnn_destroy(r);
    }
    free(x), free(want1), free(want16);
    sweep_close(&dev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_exact),
        cmocka_unit_test(sweep_within_bounds),
        cmocka_unit_test(forward_matches),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
