/* clrnn-run ($CLRNN_RUN): the PyTorch-exported models of tests/onnx/torch (tools/export_torch_onnx.py)
 * run through the tool and match PyTorch within 1e-5, for two data sets of different batch size and
 * length each; and the command-line contract: --info, --repeat, every output written, and every
 * error gives exit status 1 and exactly one line on stderr naming what went wrong. */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* clrnn_mkdirs */
#include "onnx/onnx_case.h"
#include "onnx/pb_mini.h"
#include "clean_text.h"

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

/* Runs exe with argv[1..] (NULL-terminated), capturing stdout and stderr; a run longer than
 * timeout_s is killed and fails the test (a hang must not hang CI). */
static run_result *run_exe(const char *exe, const char *const *args, int timeout_s) {
    static run_result r;
    const char *tmp = env_or_fail("CLRNN_TEST_TMP");
    clrnn_mkdirs(tmp);
    char out_path[1024], err_path[1024];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    char *argv[128];
    int argc = 0;
    argv[argc++] = (char *)exe;
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
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (long waited = 0; waitpid(pid, &ws, WNOHANG) == 0; ++waited) {
        if (waited > timeout_s * 100L) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("%s %s did not finish in %d s (blocked?)", exe, args[0] ? args[0] : "", timeout_s);
        }
        nanosleep(&tick, NULL);
    }
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    slurp(out_path, r.out, sizeof r.out);
    slurp(err_path, r.err, sizeof r.err);
    return &r;
}

static run_result *run_tool(const char *const *args) { return run_exe(env_or_fail("CLRNN_RUN"), args, 600); }

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
        const char *n[] = {"node 'det_node' (Det)", "not supported", NULL};
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


/* ---- review D4, D11, D16, D17: hostile names, special files, long names, numeric flags ---- */

/* clrnn-bench / clrnn-tune: built next to clrnn-run. */
static const char *tool_path(const char *name, char *buf, size_t cap) {
    char run[1024];
    snprintf(run, sizeof run, "%s", env_or_fail("CLRNN_RUN"));
    snprintf(buf, cap, "%s/%s", dirname(run), name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_model(const char *path, const pb_model_strings *s) {
    size_t n;
    unsigned char *bytes = pb_model(s, &n);
    write_bytes(path, bytes, n);
    free(bytes);
}

static void write_x(const char *path, float *x, int n) {
    uint64_t seed = 99;
    tu_fill(x, (size_t)n, &seed, -2, 2);
    clrnn_array a = {CLRNN_DTYPE_FLOAT32, 1, {n}, (size_t)n, x};
    TU_OK(clrnn_npy_save(path, &a));
}

/* An error (expect_error) whose line is clean and shows the escaped hostile bytes. */
static void expect_clean_error(const char *what, const run_result *r, const char *shown) {
    const char *n[] = {shown, NULL};
    if (r->status != 1 || !strstr(r->err, shown)) print_message("  %s:\n", what);
    expect_error(r, n);
    assert_clean(what, r->err, 1);
    assert_clean(what, r->out, 1);
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) ++n;
    return n;
}

/* Every string field of a model and of a .npy header carrying escapes: clrnn-run's stdout and
 * stderr hold none of their raw bytes, only \xNN (D4). */
static void test_hostile_names(void **state) {
    (void)state;
    const char *tmp = env_or_fail("CLRNN_TEST_TMP");
    char model[1200], bad[1200], xfile[1200], out[1200], arg[2400];
    snprintf(model, sizeof model, "%s/hostile.onnx", tmp);
    snprintf(bad, sizeof bad, "%s/hostile_bad.onnx", tmp);
    snprintf(xfile, sizeof xfile, "%s/hostile_x.npy", tmp);
    snprintf(out, sizeof out, "%s/hostile_out", tmp);
    pb_model_strings s = pb_model_defaults();
    s.in_name = PB_S(EVIL), s.out_name = PB_S("out\x9b\x1b]52;c;Zm9v\x07"), s.dim_param = PB_S(EVIL);
    s.producer = PB_S(EVIL), s.producer_version = PB_S(EVIL), s.graph_name = PB_S(EVIL), s.graph_doc = PB_S(EVIL);
    s.node_doc = PB_S(EVIL), s.node_name = PB_S(EVIL);
    write_model(model, &s);
    { /* --info: producer, version, input and output names, dim_param */
        const char *args[] = {model, "--info", NULL};
        const run_result *r = run_tool(args);
        if (r->status != 0) fail_msg("--info: exit %d: %s", r->status, r->err);
        assert_clean("--info stdout", r->out, 1);
        assert_clean("--info stderr", r->err, 1);
        if (count_of(r->out, "A\\x1b]0;PWNED") < 5) fail_msg("--info does not show every field:\n%s", r->out);
        assert_non_null(strstr(r->out, "out\\x9b\\x1b]52;c;Zm9v\\x07"));
    }
    { /* an input not given, named in the error */
        const char *args[] = {model, "--output-dir", out, NULL};
        expect_clean_error("input not given", run_tool(args), "A\\x1b]0;PWNED");
    }
    { /* a run with the hostile input name: the written path on stdout is clean */
        float x[5];
        write_x(xfile, x, 5);
        snprintf(arg, sizeof arg, "%.*s=%s", (int)sizeof EVIL - 1, EVIL, xfile);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const run_result *r = run_tool(args);
        if (r->status != 0) fail_msg("run: exit %d: %s", r->status, r->err);
        assert_clean("run stdout", r->out, 1);
        assert_clean("run stderr", r->err, 1);
        char file[1400];
        snprintf(file, sizeof file, "%s/out___52_c_Zm9v_.npy", out);
        assert_true(oc_exists(file));
    }
    /* fields that fail the load and are named in the message */
    for (int field = 0; field < 5; ++field) {
        pb_model_strings b = pb_model_defaults();
        switch (field) {
        case 0: b.op_type = PB_S(EVIL); break;
        case 1: b.domain = PB_S(EVIL); break;
        case 2: b.node_name = PB_S(EVIL), b.op_type = PB_S("Det"); break;
        case 3: b.ext_location = PB_S(EVIL); break;
        case 4: b.node_name = PB_S(EVIL_NUL), b.op_type = PB_S(EVIL_NUL), b.domain = PB_S(EVIL); break;
        }
        write_model(bad, &b);
        const char *args[] = {bad, "--info", NULL};
        char what[64];
        snprintf(what, sizeof what, "load error, field case %d", field);
        expect_clean_error(what, run_tool(args), field == 4 ? "\\x1b" : "A\\x1b]0;PWNED");
    }
    { /* clrnn-tune --import: a tuner family name from the JSON file */
        char json[1200], tune[1200];
        snprintf(json, sizeof json, "%s/hostile.json", tmp);
        char text[512];
        const int n = snprintf(text, sizeof text, "{\"kernel_family\": \"%s\", \"best_parameters\": \"A=1\"}", EVIL_LINE);
        write_bytes(json, text, (size_t)n);
        const char *args[] = {"--import", json, NULL};
        expect_clean_error("clrnn-tune --import", run_exe(tool_path("clrnn-tune", tune, sizeof tune), args, 60),
                           "A\\x1b]0;PWNED");
    }
    /* .npy headers: descr, shape text, an unknown key, the magic */
    const char *fmt[] = {"{'descr': '%s', 'fortran_order': False, 'shape': (5,), }",
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (5,%s), }",
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), '%s': 0}", "%s"};
    for (int c = 0; c < 4; ++c) {
        char dict[512];
        unsigned char buf[1024];
        const int dl = snprintf(dict, sizeof dict, fmt[c], EVIL_LINE);
        size_t hl = (size_t)dl + 1;
        while ((10 + hl) % 64) ++hl;
        memcpy(buf, c == 3 ? "\x93NUMPZ\x01\x00" : "\x93NUMPY\x01\x00", 8);
        buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
        memcpy(buf + 10, dict, (size_t)dl);
        memset(buf + 10 + dl, ' ', hl - (size_t)dl - 1);
        buf[10 + hl - 1] = '\n';
        memset(buf + 10 + hl, 0, 20);
        if (c == 3) memcpy(buf, "\x1b[2J\x9b\x07XY", 8); /* the magic itself */
        write_bytes(xfile, buf, 10 + hl + 20);
        snprintf(arg, sizeof arg, "%.*s=%s", (int)sizeof EVIL - 1, EVIL, xfile);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        char what[64];
        snprintf(what, sizeof what, ".npy header case %d", c);
        expect_clean_error(what, run_tool(args), c == 3 ? "\\x1b[2J\\x9b" : "A\\x1b]0;PWNED");
    }
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_onnx_cli: a reader blocked on a special file\n";
    if (write(2, msg, sizeof msg - 1)) {}
    _exit(3);
}

/* A directory, a FIFO, a character device and a symlink to a directory as the model, as an ONNX
 * tensor file, as a .npy input and as external data: CLRNN_ERR_IO "not a regular file", no hang,
 * from the library and from clrnn-run (D11). */
static void test_special_files(void **state) {
    (void)state;
    const char *tmp = env_or_fail("CLRNN_TEST_TMP");
    char dir[1200], fifo[1300], link[1300], model[1300], ext[1300], arg[2800];
    snprintf(dir, sizeof dir, "%s/special", tmp);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(model, sizeof model, "%s/relu.onnx", tmp);
    snprintf(ext, sizeof ext, "%s/ext.onnx", tmp);
    clrnn_mkdirs(dir);
    unlink(fifo), unlink(link);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(dir, link), 0);
    pb_model_strings s = pb_model_defaults();
    write_model(model, &s);
    s.ext_location = PB_C(fifo); /* absolute; a reader that opened it would block */
    write_model(ext, &s);
    const char *paths[] = {dir, fifo, "/dev/null", link};
    signal(SIGALRM, on_alarm);
    alarm(60);
    for (int i = 0; i < 4; ++i) {
        clrnn_model *m = NULL;
        assert_int_equal(clrnn_onnx_load(tu_context(), paths[i], &m), CLRNN_ERR_IO);
        if (!strstr(clrnn_last_error(), "not a regular file")) fail_msg("onnx load %s: %s", paths[i], clrnn_last_error());
        assert_null(m);
        clrnn_array a;
        assert_int_equal(clrnn_onnx_tensor_load(paths[i], &a), CLRNN_ERR_IO);
        if (!strstr(clrnn_last_error(), "not a regular file")) fail_msg("tensor load %s: %s", paths[i], clrnn_last_error());
        assert_null(a.data);
        assert_int_equal(clrnn_npy_load(paths[i], &a), CLRNN_ERR_IO);
        if (!strstr(clrnn_last_error(), "not a regular file")) fail_msg("npy load %s: %s", paths[i], clrnn_last_error());

        const char *a1[] = {paths[i], "--info", NULL};
        const char *n1[] = {"not a regular file", NULL};
        expect_error(run_exe(env_or_fail("CLRNN_RUN"), a1, 60), n1);
        snprintf(arg, sizeof arg, "X=%s", paths[i]);
        const char *a2[] = {model, "--input", arg, "--output-dir", dir, NULL};
        const char *n2[] = {"input 'X'", "not a regular file", NULL};
        expect_error(run_exe(env_or_fail("CLRNN_RUN"), a2, 60), n2);
        char tune[1200];
        const char *a4[] = {"--import", paths[i], NULL};
        expect_error(run_exe(tool_path("clrnn-tune", tune, sizeof tune), a4, 60), n1);
    }
    /* external data pointing at the FIFO: refused without opening it */
    clrnn_model *m = NULL;
    assert_int_not_equal(clrnn_onnx_load(tu_context(), ext, &m), CLRNN_OK);
    assert_null(m);
    const char *a3[] = {ext, "--info", NULL};
    const char *n3[] = {"external", NULL};
    expect_error(run_exe(env_or_fail("CLRNN_RUN"), a3, 60), n3);
    alarm(0);
    unlink(fifo), unlink(link);
}

/* Files in dir (dotfiles too: a temporary output left behind counts). */
static int files_in(const char *dir) {
    int n;
    char **names = oc_list(dir, NULL, &n);
    oc_free_list(names, n);
    return n;
}

static void rm_tree(const char *dir) {
    int n;
    char **names = oc_list(dir, NULL, &n);
    for (int i = 0; i < n; ++i) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (oc_is_dir(p)) rm_tree(p);
        else unlink(p);
    }
    oc_free_list(names, n);
    rmdir(dir);
}

static void check_output(const char *path, const float *x, int n, int tanh_of) {
    clrnn_array a;
    if (clrnn_npy_load(path, &a) != CLRNN_OK) fail_msg("%s: %s", path, clrnn_last_error());
    assert_int_equal((int)a.count, n);
    for (int i = 0; i < n; ++i) {
        const float want = tanh_of ? tanhf(x[i]) : (x[i] > 0 ? x[i] : 0);
        if (fabsf(((float *)a.data)[i] - want) > 1e-5f) fail_msg("%s[%d] = %g, want %g", path, i, ((float *)a.data)[i], want);
    }
    clrnn_array_free(&a);
}

/* Output names up to any length fit NAME_MAX and stay apart; outputs appear all or none; the
 * --output-dir messages are about the output directory; warnings never hide the error line (D16). */
static void test_output_files(void **state) {
    (void)state;
    const char *tmp = env_or_fail("CLRNN_TEST_TMP");
    char model[1200], xfile[1200], out[1200], arg[1400];
    snprintf(model, sizeof model, "%s/names.onnx", tmp);
    snprintf(xfile, sizeof xfile, "%s/names_x.npy", tmp);
    snprintf(out, sizeof out, "%s/names_out", tmp);
    snprintf(arg, sizeof arg, "X=%s", xfile);
    float x[7];
    write_x(xfile, x, 7);
    char n251[252], n252[253], l1[301], l2[301];
    memset(n251, 'a', 251), n251[251] = '\0';
    memset(n252, 'a', 252), n252[252] = '\0';
    memset(l1, 'o', 300), l1[300] = '\0';
    memcpy(l2, l1, sizeof l1), l2[299] = 'p'; /* same first 299 bytes */
    const char *pairs[][2] = {{n251, n252}, {l1, l2}, {n252, l1}};
    for (int p = 0; p < 3; ++p) {
        rm_tree(out);
        pb_model_strings s = pb_model_defaults();
        s.out_name = PB_C(pairs[p][0]), s.out2_name = PB_C(pairs[p][1]);
        write_model(model, &s);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const run_result *r = run_tool(args);
        if (r->status != 0) fail_msg("names %zu/%zu: exit %d: %s", strlen(pairs[p][0]), strlen(pairs[p][1]), r->status, r->err);
        assert_int_equal(files_in(out), 2);
        int n;
        char **names = oc_list(out, NULL, &n);
        for (int i = 0; i < n; ++i) {
            assert_true(strlen(names[i]) <= 255);
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", out, names[i]);
            if (!strstr(r->out, path)) fail_msg("stdout does not list %s:\n%s", path, r->out);
        }
        oc_free_list(names, n);
        /* which file is which output: a name of <= 251 bytes is kept whole */
        char path[4096];
        if (p == 0) {
            snprintf(path, sizeof path, "%s/%s.npy", out, n251);
            check_output(path, x, 7, 0);
        }
    }
    /* all or nothing: the second output's file name is taken by a directory, so the run fails and
     * the first output must not be left there either (nor any temporary file) */
    {
        rm_tree(out);
        pb_model_strings s = pb_model_defaults();
        s.out2_name = PB_S("Z");
        write_model(model, &s);
        char zdir[1300];
        snprintf(zdir, sizeof zdir, "%s/Z.npy", out);
        clrnn_mkdirs(zdir);
        const char *args[] = {model, "--input", arg, "--output-dir", out, NULL};
        const char *n[] = {"Z.npy", NULL};
        expect_error(run_tool(args), n);
        assert_int_equal(files_in(out), 1); /* only the directory Z.npy */
        rmdir(zdir);
        const run_result *r = run_tool(args);
        if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
        char y[1300], z[1300];
        snprintf(y, sizeof y, "%s/Y.npy", out);
        snprintf(z, sizeof z, "%s/Z.npy", out);
        check_output(y, x, 7, 0);
        check_output(z, x, 7, 1);
        assert_int_equal(files_in(out), 2);
    }
    /* --output-dir: 1100 characters deep works; too long, a too-long component, and a file are
     * reported about the output directory, never as a "cache path" */
    {
        char deep[1200] = "", *p = deep;
        p += snprintf(deep, sizeof deep, "%s/deep", tmp);
        while (strlen(deep) < 1100) p += snprintf(p, sizeof deep - (size_t)(p - deep), "/%.100s", l1);
        const char *args[] = {model, "--input", arg, "--output-dir", deep, NULL};
        const run_result *r = run_tool(args);
        if (r->status != 0) fail_msg("1100-character --output-dir: exit %d: %s", r->status, r->err);
        static char huge[6000];
        memset(huge, 'd', sizeof huge - 1);
        huge[0] = '/';
        const char *a2[] = {model, "--input", arg, "--output-dir", huge, NULL};
        const char *n2[] = {"--output-dir", "too long", NULL};
        expect_error(run_tool(a2), n2);
        assert_null(strstr(run_tool(a2)->err, "cache"));
        char comp[1400];
        snprintf(comp, sizeof comp, "%s/%s", tmp, l1);
        const char *a3[] = {model, "--input", arg, "--output-dir", comp, NULL};
        const char *n3[] = {"--output-dir", "File name too long", NULL};
        expect_error(run_tool(a3), n3);
        const char *a4[] = {model, "--input", arg, "--output-dir", xfile, NULL};
        const char *n4[] = {"--output-dir", "not a directory", NULL};
        expect_error(run_tool(a4), n4);
    }
    /* a cache that cannot be used prints a warning line; the error is still exactly one line,
     * the last, and the only one from clrnn-run */
    {
        char cache[1300];
        snprintf(cache, sizeof cache, "%s/sub", xfile); /* below a regular file: cannot be created */
        setenv("CLRNN_CACHE_DIR", cache, 1);
        setenv("CLRNN_CACHE_MODE", "binary", 1);
        const char *args[] = {model, "--output-dir", out, NULL};
        const run_result *r = run_tool(args);
        unsetenv("CLRNN_CACHE_MODE");
        unsetenv("CLRNN_CACHE_DIR");
        assert_int_equal(r->status, 1);
        int tool_lines = 0;
        const char *line = r->err, *last = r->err;
        while (*line) {
            const char *nl = strchr(line, '\n');
            if (!nl) fail_msg("stderr does not end in a newline: %s", r->err);
            if (!strncmp(line, "clrnn-run: ", 11)) ++tool_lines;
            else if (strncmp(line, "clrnn: warning: ", 16)) fail_msg("stray stderr line: %s", r->err);
            last = line;
            line = nl + 1;
        }
        assert_int_equal(tool_lines, 1);
        assert_int_equal(strncmp(last, "clrnn-run: ", 11), 0);
        assert_non_null(strstr(last, "was not given"));
    }
}

/* Every numeric flag of clrnn-run, clrnn-bench and clrnn-tune refuses a bad value before any work:
 * exit status != 0 and one line naming the flag, within seconds (D17). */
static void test_numeric_flags(void **state) {
    (void)state;
    char bench[1200], tune[1200], model[1200];
    tool_path("clrnn-bench", bench, sizeof bench);
    tool_path("clrnn-tune", tune, sizeof tune);
    model_path(model, sizeof model, "lstm_1layer");
    const char *ints[] = {"-5", "abc", "12x", "", "99999999999999999999999", " 3", "1.5", "0x10", "3 ", "+-1", NULL};
    const char *reals[] = {"-1", "x", "5s", "", "1e999", "nan", "inf", "0x10", " 3", "0", NULL};
    const char *seeds[] = {"-1", "x", "12x", "", "99999999999999999999999", " 3", "1.5", NULL};
    const struct {
        const char *exe, *flag;
        const char *const *values;
    } cases[] = {
        {bench, "--seq", ints},     {bench, "--batch", ints},   {bench, "--input", ints},  {bench, "--hidden", ints},
        {bench, "--layers", ints},  {bench, "--proj", ints},    {bench, "--min-len", ints}, {bench, "--repeat", ints},
        {bench, "--threads", ints}, {tune, "--budget", reals},  {tune, "--seed", seeds},   {tune, "--runs", ints},
        {NULL, "--repeat", ints},
    };
    int checked = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
        const char *exe = cases[c].exe ? cases[c].exe : env_or_fail("CLRNN_RUN");
        if (!oc_exists(exe)) fail_msg("%s is not built", exe);
        for (const char *const *v = cases[c].values; *v; ++v) {
            /* --proj and --min-len take 0: "-5" is still out of range */
            const char *a1[] = {cases[c].flag, *v, NULL};
            const char *a2[] = {model, "--info", cases[c].flag, *v, NULL};
            const run_result *r = run_exe(exe, cases[c].exe ? a1 : a2, 20);
            if (r->status == 0) fail_msg("%s %s '%s' was accepted", exe, cases[c].flag, *v);
            const char *nl = strchr(r->err, '\n');
            if (!nl || nl[1]) fail_msg("%s %s '%s': stderr is not one line: %s", exe, cases[c].flag, *v, r->err);
            if (!strstr(r->err, cases[c].flag)) fail_msg("%s %s '%s': message does not name the flag: %s", exe, cases[c].flag, *v, r->err);
            ++checked;
        }
    }
    /* and a good value still passes the parser (a help-free quick check: --min-len > --seq) */
    const char *good[] = {"--seq", "3", "--min-len", "4", NULL};
    const run_result *r = run_exe(bench, good, 20);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "--min-len 4 is larger than --seq 3"));
    print_message("  %d bad flag values refused\n", checked);
}

int main(void) {
    /* PoCL's debug banner would be a second line on the tool's stderr */
    unsetenv("POCL_DEBUG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_models),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_special_files),
        cmocka_unit_test(test_output_files),
        cmocka_unit_test(test_numeric_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
