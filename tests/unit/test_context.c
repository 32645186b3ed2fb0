/* Device listing and selection, context creation (own and adopted), capabilities; the kernel list
 * (src/kernel_list.h) against the kernels the program really has. */
#include "internal.h"
#include "test_util.h"

#include <ctype.h>
#include <stdlib.h>

static void lists_devices(void **state) {
    (void)state;
    size_t n = 0;
    TU_OK(clrnn_list_devices(NULL, 0, &n));
    assert_true(n >= 1);
    clrnn_device_info *devs = calloc(n, sizeof *devs);
    size_t n2 = 0;
    TU_OK(clrnn_list_devices(devs, n, &n2));
    assert_int_equal(n, n2);
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(devs[i].index, (int)i);
        assert_true(strlen(devs[i].name) > 0);
        assert_true(devs[i].compute_units >= 1);
        assert_true(devs[i].max_work_group_size >= 1);
        assert_true(devs[i].global_mem_bytes > 0);
        assert_true(devs[i].local_mem_bytes > 0);
    }
    free(devs);
}

static int test_device(clrnn_device_info *info);

static void default_context(void **state) {
    (void)state;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(ctx, &info));
    int idx = -1;
    TU_OK(clrnn_select_device(getenv("CLRNN_DEVICE"), &idx)); /* default params: the variable, else the default */
    assert_int_equal(info.index, idx);
    assert_non_null(clrnn_context_cl_context(ctx));
    assert_non_null(clrnn_context_cl_queue(ctx));
    assert_non_null(clrnn_context_cl_device(ctx));
    clrnn_context_destroy(ctx);
    clrnn_context_destroy(NULL); /* no-op */
}

/* The device the tests run on: $CLRNN_DEVICE (CI names Rusticl's llvmpipe or Oclgrind that way), else
 * the default. Its platform name is a spec that finds a device of that platform. */
static int test_device(clrnn_device_info *info) {
    int idx = -1;
    TU_OK(clrnn_select_device(getenv("CLRNN_DEVICE"), &idx));
    size_t n = 0;
    clrnn_device_info *devs = calloc(64, sizeof *devs);
    TU_OK(clrnn_list_devices(devs, 64, &n));
    assert_true(idx >= 0 && (size_t)idx < n);
    *info = devs[idx];
    free(devs);
    return idx;
}

/* A case-changed copy of s ("PoCL" for "pocl"): the name match ignores case. */
static void flip_case(char *s) {
    for (; *s; ++s) *s = (char)(islower((unsigned char)*s) ? toupper((unsigned char)*s) : tolower((unsigned char)*s));
}

static void select_by_name_index_and_type(void **state) {
    (void)state;
    clrnn_device_info info;
    const int mine = test_device(&info);
    /* found by its platform name, case-insensitively (the first device of that platform) */
    int idx = -1;
    TU_OK(clrnn_select_device(info.platform_name, &idx));
    assert_true(idx >= 0 && idx <= mine);
    char flipped[sizeof info.platform_name];
    snprintf(flipped, sizeof flipped, "%s", info.platform_name);
    flip_case(flipped);
    int idx2 = -1;
    TU_OK(clrnn_select_device(flipped, &idx2));
    assert_int_equal(idx, idx2);
    /* and by its own name and index */
    TU_OK(clrnn_select_device(info.name, &idx2));
    assert_true(idx2 <= mine);
    char num[16];
    snprintf(num, sizeof num, "%d", mine);
    TU_OK(clrnn_select_device(num, &idx2));
    assert_int_equal(idx2, mine);
    TU_OK(clrnn_select_device("0", &idx2));
    assert_int_equal(idx2, 0);
    /* by type: the same rule as the default; a simulator or rasterizer is never a "gpu" or "cpu" */
    const char *spec = info.type == CLRNN_DEVICE_TYPE_GPU ? "gpu" : "cpu";
    const clrnn_status st = clrnn_select_device(spec, &idx2);
    size_t n = 0;
    uint64_t *types = calloc(64, sizeof *types);
    clrnn_device_info *devs = calloc(64, sizeof *devs);
    TU_OK(clrnn_list_devices_typed(devs, types, 64, &n));
    const int expect = clrnn_device_choose(devs, types, n, info.type == CLRNN_DEVICE_TYPE_GPU ? CLRNN_DEVICE_TYPE_GPU
                                                                                             : CLRNN_DEVICE_TYPE_CPU,
                                           NULL, 0);
    if (expect < 0) {
        assert_int_equal(st, CLRNN_ERR_NO_DEVICE);
        assert_non_null(strstr(clrnn_last_error(), "passed over"));
    } else {
        TU_OK(st);
        assert_int_equal(idx2, expect);
    }
    free(types);
    free(devs);
}

static void bad_device_spec_is_a_clear_error(void **state) {
    (void)state;
    int idx = -1;
    assert_int_equal(clrnn_select_device("no-such-device-xyz", &idx), CLRNN_ERR_NO_DEVICE);
    assert_non_null(strstr(clrnn_last_error(), "no-such-device-xyz"));
    assert_non_null(strstr(clrnn_last_error(), "available"));
    assert_int_equal(clrnn_select_device("999", &idx), CLRNN_ERR_NO_DEVICE);
    assert_non_null(strstr(clrnn_last_error(), "out of range"));

    /* the environment variable is honoured, and a bad value fails context creation cleanly */
    clrnn_device_info info;
    const int mine = test_device(&info);
    char num[16];
    snprintf(num, sizeof num, "%d", mine);
    const char *env = getenv("CLRNN_DEVICE");
    char *saved = env ? strdup(env) : NULL;
    setenv("CLRNN_DEVICE", "no-such-device-xyz", 1);
    clrnn_context *ctx = (clrnn_context *)0x1;
    assert_int_equal(clrnn_context_create(NULL, &ctx), CLRNN_ERR_NO_DEVICE);
    assert_null(ctx);
    setenv("CLRNN_DEVICE", num, 1);
    TU_OK(clrnn_context_create(NULL, &ctx));
    clrnn_device_info got;
    TU_OK(clrnn_context_device_info(ctx, &got));
    assert_int_equal(got.index, mine);
    clrnn_context_destroy(ctx);
    /* params.device wins over the environment */
    setenv("CLRNN_DEVICE", "no-such-device-xyz", 1);
    clrnn_context_params p = clrnn_context_default_params();
    p.device = num;
    TU_OK(clrnn_context_create(&p, &ctx));
    clrnn_context_destroy(ctx);
    /* the next tests run on the same device again */
    if (saved) setenv("CLRNN_DEVICE", saved, 1);
    else unsetenv("CLRNN_DEVICE");
    free(saved);
}

static void adopts_application_objects(void **state) {
    (void)state;
    /* the test device's own handles, as an application holding them would pass them */
    clrnn_device_info info;
    clrnn_device_ref ref;
    TU_OK(clrnn_device_at(test_device(&info), &ref));
    cl_device_id dev = ref.device;
    cl_int err;
    cl_context cl = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cl_command_queue q = clCreateCommandQueue(cl, dev, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create_from_cl(cl, dev, q, NULL, &ctx));
    assert_ptr_equal(clrnn_context_cl_context(ctx), cl);
    assert_ptr_equal(clrnn_context_cl_queue(ctx), q);
    assert_ptr_equal(clrnn_context_cl_device(ctx), dev);
    /* the adopted context works end to end: a tiny RNN runs */
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_RNN, d.input_size = 1, d.hidden_size = 1;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    float w = 0.5f, rr = 0.25f, x[2] = {1, 2}, y[2] = {POISON, POISON};
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, &w, 1));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, &rr, 1));
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 1, a.x.host = x, a.y.host = y;
    TU_OK(clrnn_rnn_forward(r, &a));
    assert_float_equal(y[0], tanh(0.5), 1e-6);
    assert_float_equal(y[1], tanh(1.0 + 0.25 * tanh(0.5)), 1e-6);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    /* still ours to use and release after clrnn let go */
    assert_int_equal(clFinish(q), CL_SUCCESS);
    clReleaseCommandQueue(q);
    clReleaseContext(cl);

    assert_int_equal(clrnn_context_create_from_cl(NULL, dev, NULL, NULL, &ctx), CLRNN_ERR_NULL_ARGUMENT);
}

/* src/kernel_list.h is written by hand; the compiler is the one that knows every __kernel of cl/
 * (step_tiled.cl makes its kernel names by token pasting, so a text scan would not). Over the
 * program of every kernel group (the context's main program for its groups, each other group's
 * own, built here): every kernel a program has is listed, and every listed kernel is in its
 * group's program exactly once (a listed one that is not would fail its first use, in
 * clCreateKernel). The main program holds CORE and, on a CPU device, the tiled plan's kernels and
 * no other plan's or training's (what a cold start compiles). */
static void kernel_list_matches_the_programs(void **state) {
    (void)state;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    assert_true(ctx->kernels.main_groups & 1u << CLRNN_KG_CORE);
    if (ctx->info.type == CLRNN_DEVICE_TYPE_CPU && !getenv("CLRNN_PLAN") && !clrnn_device_is_rasterizer(ctx))
        assert_int_equal(ctx->kernels.main_groups, 1u << CLRNN_KG_CORE | 1u << CLRNN_KG_TILED);
    int listed[CLRNN_K_COUNT_] = {0}, unlisted = 0, programs = 0;
    for (int g = 0; g < CLRNN_KG_COUNT_; ++g) {
        cl_program prog = NULL;
        TU_OK(clrnn_kernel_group_program(ctx, NULL, (clrnn_kernel_group)g, &prog));
        assert_non_null(prog);
        assert_true((prog == ctx->program) == ((ctx->kernels.main_groups & 1u << g) != 0));
        size_t n_kernels = 0, len = 0;
        assert_int_equal(clGetProgramInfo(prog, CL_PROGRAM_NUM_KERNELS, sizeof n_kernels, &n_kernels, NULL),
                         CL_SUCCESS);
        assert_int_equal(clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &len), CL_SUCCESS);
        char *names = malloc(len + 1);
        assert_non_null(names);
        assert_int_equal(clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, len, names, NULL), CL_SUCCESS);
        names[len] = '\0';
        size_t seen = 0;
        for (char *save = NULL, *k = strtok_r(names, ";", &save); k; k = strtok_r(NULL, ";", &save), ++seen) {
            int found = -1;
            for (int id = 0; id < CLRNN_K_COUNT_; ++id)
                if (!strcmp(k, clrnn_kernel_name((clrnn_kernel_id)id))) found = id;
            if (found < 0) {
                fprintf(stderr, "kernel %s of cl/ is missing from src/kernel_list.h\n", k);
                ++unlisted;
            } else if ((int)clrnn_kernel_group_of((clrnn_kernel_id)found) == g) {
                ++listed[found];
            }
        }
        assert_int_equal(seen, n_kernels);
        free(names);
        programs += prog != ctx->program;
    }
    for (int id = 0; id < CLRNN_K_COUNT_; ++id)
        if (listed[id] != 1)
            fprintf(stderr, "src/kernel_list.h: %s is in its group's program %d times\n",
                    clrnn_kernel_name((clrnn_kernel_id)id), listed[id]);
    assert_int_equal(unlisted, 0);
    for (int id = 0; id < CLRNN_K_COUNT_; ++id) assert_int_equal(listed[id], 1);
    /* each group not in the main program: one program of its own, built once */
    int others = 0;
    for (int g = 0; g < CLRNN_KG_COUNT_; ++g) others += !(ctx->kernels.main_groups & 1u << g);
    assert_int_equal(programs, others);
    assert_int_equal(ctx->programs_got, 1 + others);
    clrnn_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernel_list_matches_the_programs),
        cmocka_unit_test(lists_devices),
        cmocka_unit_test(default_context),
        cmocka_unit_test(select_by_name_index_and_type),
        cmocka_unit_test(bad_device_spec_is_a_clear_error),
        cmocka_unit_test(adopts_application_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
