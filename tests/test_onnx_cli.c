/* clrnn-run ($CLRNN_RUN): the PyTorch-exported models of tests/onnx/torch (tools/export_torch_onnx.py)
 * run through the tool and match PyTorch within 1e-5, for two data sets of different batch size and
 * length each; and the command-line contract: --info, --repeat, every output written, and every
 * error gives exit status 1 and exactly one line on stderr naming what went wrong. */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* clrnn_mkdirs */
#include "onnx/onnx_case.h"

extern char **environ;

static const char *env_or_fail(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) fail_msg("%s is not set (run through ctest)", name);
    return v;
}

typedef struct run_result {
    int status;      /* exit status, or -1 if it did not exit normally */
    char out[16384]; /* stdout */
    char err[4096];  /* stderr */
} run_result;

static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Runs clrnn-run with argv[1..] (NULL-terminated), capturing stdout and stderr. */
static run_result *run_tool(const char *const *args) {
    static run_result r;
    const char *tmp = env_or_fail("CLRNN_TEST_TMP");
    clrnn_mkdirs(tmp);
    char out_path[1024], err_path[1024];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    char *argv[128];
    int argc = 0;
    argv[argc++] = (char *)env_or_fail("CLRNN_RUN");
    for (; args[argc - 1] && argc < 127; ++argc) argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) fail_msg("cannot start %s: %s", argv[0], strerror(rc));
    int ws;
    waitpid(pid, &ws, 0);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    slurp(out_path, r.out, sizeof r.out);
    slurp(err_path, r.err, sizeof r.err);
    return &r;
}

/* Exit status 1, one line on stderr containing every `needle`. */
static void expect_error(const run_result *r, const char *const *needles) {
    if (r->status != 1) fail_msg("exit status %d, expected 1; stderr: %s", r->status, r->err);
    const char *nl = strchr(r->err, '\n');
    if (!nl || nl[1] != '\0') fail_msg("stderr is not exactly one line: '%s'", r->err);
    for (; *needles; ++needles)
        if (!strstr(r->err, *needles)) fail_msg("stderr lacks '%s': %s", *needles, r->err);
}

/* Builds "--input name=dir/name.npy" for every .npy in dir. */
static int add_inputs(const char *dir, const char **args, int n, char storage[][4096]) {
    int count;
    char **files = oc_list(dir, NULL, &count);
    for (int i = 0; i < count && i < 16; ++i) {
        char name[256];
        snprintf(name, sizeof name, "%s", files[i]);
        char *dot = strstr(name, ".npy");
        if (!dot) continue;
        *dot = '\0';
        args[n++] = "--input";
        snprintf(storage[i], 4096, "%s=%s/%s", name, dir, files[i]);
        args[n++] = storage[i];
    }
    oc_free_list(files, count);
    return n;
}

static void test_torch_models(void **state) {
    (void)state;
    const char *root = env_or_fail("CLRNN_ONNX_TORCH"), *tmp = env_or_fail("CLRNN_TEST_TMP");
    int n_models;
    char **models = oc_list(root, NULL, &n_models);
    int runs = 0, passed = 0;
    for (int mi = 0; mi < n_models; ++mi) {
        for (int s = 0; s < 2; ++s) {
            char model[1200], in_dir[1200], want_dir[1200], out_dir[1200];
            snprintf(model, sizeof model, "%s/%s/model.onnx", root, models[mi]);
            snprintf(in_dir, sizeof in_dir, "%s/%s/set%d/in", root, models[mi], s);
            snprintf(want_dir, sizeof want_dir, "%s/%s/set%d/out", root, models[mi], s);
            snprintf(out_dir, sizeof out_dir, "%s/torch/%s/set%d", tmp, models[mi], s);
            if (!oc_is_dir(in_dir)) continue;
            const char *args[64];
            static char storage[16][4096];
            int n = 0;
            args[n++] = model;
            n = add_inputs(in_dir, args, n, storage);
            args[n++] = "--output-dir";
            args[n++] = out_dir;
            args[n] = NULL;
            ++runs;
            const run_result *r = run_tool(args);
            if (r->status != 0) {
                print_message("  FAIL %s set%d: exit %d: %s", models[mi], s, r->status, r->err);
                continue;
            }
            /* every PyTorch output is there and matches; nothing else was written */
            int n_want, n_got, ok = 1;
            char **want = oc_list(want_dir, NULL, &n_want), **got = oc_list(out_dir, NULL, &n_got);
            if (n_got != n_want) {
                print_message("  FAIL %s set%d: %d files written, expected %d\n", models[mi], s, n_got, n_want);
                ok = 0;
            }
            double worst = 0;
            for (int k = 0; k < n_want && ok; ++k) {
                char a[2400], b[2400], msg[512];
                snprintf(a, sizeof a, "%s/%s", out_dir, want[k]);
                snprintf(b, sizeof b, "%s/%s", want_dir, want[k]);
                clrnn_array ga, wa;
                memset(&ga, 0, sizeof ga);
                memset(&wa, 0, sizeof wa);
                double err = 0;
                if (clrnn_npy_load(a, &ga) != CLRNN_OK || clrnn_npy_load(b, &wa) != CLRNN_OK) {
                    print_message("  FAIL %s set%d: %s\n", models[mi], s, clrnn_last_error());
                    ok = 0;
                } else if (!oc_compare(&ga, &wa, 1e-5, 0.0, &err, msg, sizeof msg)) {
                    print_message("  FAIL %s set%d %s: %s\n", models[mi], s, want[k], msg);
                    ok = 0;
                }
                if (err > worst) worst = err;
                clrnn_array_free(&ga);
                clrnn_array_free(&wa);
            }
            oc_free_list(want, n_want);
            oc_free_list(got, n_got);
            if (ok) {
                ++passed;
                print_message("  PASS %-48s set%d  max err %.3g x 1e-5\n", models[mi], s, worst);
            }
        }
    }
    oc_free_list(models, n_models);
    print_message("PyTorch-exported models through clrnn-run: %d of %d runs match PyTorch within 1e-5\n", passed, runs);
    assert_true(runs >= 22);
    assert_int_equal(passed, runs);
}

static void model_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s/model.onnx", env_or_fail("CLRNN_ONNX_TORCH"), name);
}

static void invalid_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/../invalid/%s.onnx", env_or_fail("CLRNN_ONNX_TORCH"), name);
}

static void test_info(void **state) {
    (void)state;
    char model[1024];
    model_path(model, sizeof model, "lstm_2layer_bidirectional_batch_first_state");
    const char *args[] = {model, "--info", NULL};
    const run_result *r = run_tool(args);
    assert_int_equal(r->status, 0);
    const char *expect[] = {"inputs:\n", "  x: float32 [batch, time, 3]\n", "  h0: float32 [4, batch, 4]\n",
                            "  c0: float32 [4, batch, 4]\n", "outputs:\n", "  y: float32 [batch, time, 8]\n",
                            "  hn: float32 [4, batch, 4]\n", "  cn: float32 [4, batch, 4]\n", "opset 14", NULL};
    for (const char *const *e = expect; *e; ++e)
        if (!strstr(r->out, *e)) fail_msg("--info output lacks '%s':\n%s", *e, r->out);
    assert_true(strstr(r->out, "inputs:") < strstr(r->out, "outputs:"));
}

static void test_repeat(void **state) {
    (void)state;
    char model[1024], x[1200], out[1200];
    model_path(model, sizeof model, "gru_1layer_state");
    snprintf(x, sizeof x, "x=%s/gru_1layer_state/set0/in/x.npy", env_or_fail("CLRNN_ONNX_TORCH"));
    char h0[1200];
    snprintf(h0, sizeof h0, "h0=%s/gru_1layer_state/set0/in/h0.npy", env_or_fail("CLRNN_ONNX_TORCH"));
    snprintf(out, sizeof out, "%s/repeat", env_or_fail("CLRNN_TEST_TMP"));
    const char *args[] = {model, "--input", x, "--input", h0, "--output-dir", out, "--repeat", "5", NULL};
    const run_result *r = run_tool(args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    double median = -1;
    const char *p = strstr(r->out, "median ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "median %lf ms over 5 runs", &median), 1);
    assert_true(median > 0);
}

static void test_errors(void **state) {
    (void)state;
    const char *torch = env_or_fail("CLRNN_ONNX_TORCH"), *tmp = env_or_fail("CLRNN_TEST_TMP");
    char model[1024], cls[1024], bad[1024], x[1200], tok[1200], out[1200], arg[1400];
    model_path(model, sizeof model, "lstm_1layer");
    model_path(cls, sizeof cls, "classifier_embedding_lstm_linear_softmax");
    snprintf(x, sizeof x, "%s/lstm_1layer/set0/in/x.npy", torch);
    snprintf(tok, sizeof tok, "%s/classifier_embedding_lstm_linear_softmax/set0/in/tokens.npy", torch);
    snprintf(out, sizeof out, "%s/errors", tmp);

    { /* a graph input not given */
        const char *args[] = {cls, "--output-dir", out, NULL};
        const char *n[] = {"input 'tokens' was not given", "int64 [batch, time]", NULL};
        expect_error(run_tool(args), n);
    }
    { /* wrong dtype: float data for an int64 input */
        snprintf(arg, sizeof arg, "tokens=%s", x);
        const char *args[] = {cls, "--input", arg, "--output-dir", out, NULL};
        const char *n[] = {"input 'tokens'", "float32", "int64", NULL};
        expect_error(run_tool(args), n);
    }
    { /* wrong fixed dimension: tokens (int64 [N, T]) as the LSTM's x ([time, batch, 3]) */
        snprintf(arg, sizeof arg, "x=%s", tok);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const char *n[] = {"input 'x'", "int64", "float32 [time, batch, 3]", NULL};
        expect_error(run_tool(args), n);
    }
    { /* unknown input name */
        snprintf(arg, sizeof arg, "nope=%s", x);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const char *n[] = {"no input 'nope'", "'x'", NULL};
        expect_error(run_tool(args), n);
    }
    { /* unreadable .npy */
        snprintf(arg, sizeof arg, "x=%s", model);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const char *n[] = {"input 'x'", ".npy", NULL};
        expect_error(run_tool(args), n);
    }
    { /* missing model file */
        const char *args[] = {"/nonexistent/model.onnx", "--info", NULL};
        const char *n[] = {"/nonexistent/model.onnx", NULL};
        expect_error(run_tool(args), n);
    }
    { /* unsupported operator: named node and operator, at load */
        invalid_path(bad, sizeof bad, "unsupported_op");
        const char *args[] = {bad, "--info", NULL};
        const char *n[] = {"node 'floor_node' (Floor)", "not supported", NULL};
        expect_error(run_tool(args), n);
    }
    { /* bind-time dtype error on an int32 input, then run-time errors that name the node */
        invalid_path(bad, sizeof bad, "lstm_symbolic_shapes");
        char lens_arg[1400], x_arg[1400], x5[1200], lens[1200];
        snprintf(x5, sizeof x5, "%s/x5.npy", tmp);
        snprintf(lens, sizeof lens, "%s/lens.npy", tmp);
        float x5_data[2 * 3 * 5] = {0};
        int32_t lens_data[3] = {1, 9, 2};
        clrnn_array ax = {CLRNN_DTYPE_FLOAT32, 3, {2, 3, 5}, 30, x5_data};
        clrnn_array al = {CLRNN_DTYPE_INT32, 1, {3}, 3, lens_data};
        TU_OK(clrnn_npy_save(x5, &ax));
        TU_OK(clrnn_npy_save(lens, &al));

        snprintf(lens_arg, sizeof lens_arg, "lens=%s", x);
        snprintf(x_arg, sizeof x_arg, "X=%s", x);
        const char *a1[] = {bad, "--input", x_arg, "--input", lens_arg, "--output-dir", out, NULL};
        const char *n1[] = {"input 'lens'", "float32", "int32", NULL};
        expect_error(run_tool(a1), n1);

        snprintf(lens_arg, sizeof lens_arg, "lens=%s", lens);
        snprintf(x_arg, sizeof x_arg, "X=%s", x5);
        const char *a2[] = {bad, "--input", x_arg, "--input", lens_arg, "--output-dir", out, NULL};
        const char *n2[] = {"node 'lstm_node' (LSTM)", "5 features", "input_size = 3", NULL};
        expect_error(run_tool(a2), n2);

        /* same file name, now 3 features: the run gets to sequence_lens = {1, 9, 2} with T = 2 */
        float x3_data[2 * 3 * 3] = {0};
        clrnn_array a3x = {CLRNN_DTYPE_FLOAT32, 3, {2, 3, 3}, 18, x3_data};
        TU_OK(clrnn_npy_save(x5, &a3x));
        const char *a3[] = {bad, "--input", x_arg, "--input", lens_arg, "--output-dir", out, NULL};
        const char *n3[] = {"node 'lstm_node' (LSTM)", "sequence_lens[1] = 9", NULL};
        expect_error(run_tool(a3), n3);
    }
    { /* usage errors */
        const char *a1[] = {model, NULL};
        const char *n1[] = {"--output-dir", NULL};
        expect_error(run_tool(a1), n1);
        const char *a2[] = {model, "--frobnicate", NULL};
        const char *n2[] = {"unknown option --frobnicate", NULL};
        expect_error(run_tool(a2), n2);
        const char *a3[] = {model, "--info", "--repeat", "0", NULL};
        const char *n3[] = {"--repeat", NULL};
        expect_error(run_tool(a3), n3);
        const char *a4[] = {model, "--input", NULL};
        const char *n4[] = {"--input needs a value", NULL};
        expect_error(run_tool(a4), n4);
    }
    { /* bad device spec */
        const char *args[] = {model, "--info", "--device", "no-such-device-xyz", NULL};
        const char *n[] = {"device", NULL};
        expect_error(run_tool(args), n);
    }
}

int main(void) {
    /* PoCL's debug banner would be a second line on the tool's stderr */
    unsetenv("POCL_DEBUG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_models),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
