/* The launch path's trace (src/core/launch.h): CLRNN_VERBOSE=1 writes one exec line per kernel launch
 * of a forward, with the kernels the plan runs (names from the library's own cell table), the
 * driver's scope, sizes and device times >= 0; outputs are bitwise those of a context without it;
 * off, the queue is made without profiling and nothing is written; the internal sink gets the same
 * records, from several threads at once; an application's queue without profiling gets "-". */
#include "test_util.h"

#include "core/launch.h"
#include "rnn/cells.h"

#include <fcntl.h>
#include <threads.h>
#include <unistd.h>

enum { T = 5, N = 3, I = 7, H = 16 };

/* ---- stderr capture ---- */
typedef struct capture {
    int saved;
    char path[64];
} capture;
static void capture_begin(capture *c) {
    snprintf(c->path, sizeof c->path, "/tmp/clrnn-test-trace-%ld.txt", (long)getpid());
    fflush(stderr);
    c->saved = dup(2);
    const int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(c->saved >= 0 && fd >= 0);
    assert_true(dup2(fd, 2) >= 0);
    close(fd);
}
/* The captured text (malloc'ed); stderr restored. */
static char *capture_end(capture *c) {
    fflush(stderr);
    assert_true(dup2(c->saved, 2) >= 0);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)n + 1);
    assert_true(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    unlink(c->path);
    return text;
}

/* ---- one exec line, split ---- */
typedef struct exec_line {
    char kernel[64], plan[32], shape[160], what[160], global[48], local[48], ms[32];
} exec_line;
/* Splits "clrnn_verbose,exec,k,p,s,w,g,l,ms"; 0 if the line is not an exec line of 9 fields. */
static int parse_exec(const char *line, exec_line *e) {
    if (strncmp(line, "clrnn_verbose,exec,", 19) != 0) return 0;
    char *fields[7] = {e->kernel, e->plan, e->shape, e->what, e->global, e->local, e->ms};
    const size_t caps[7] = {sizeof e->kernel, sizeof e->plan, sizeof e->shape, sizeof e->what, sizeof e->global,
                            sizeof e->local, sizeof e->ms};
    const char *p = line + 19;
    for (int i = 0; i < 7; ++i) {
        const char *end = i < 6 ? strchr(p, ',') : p + strlen(p);
        if (!end || (size_t)(end - p) >= caps[i]) return 0;
        memcpy(fields[i], p, (size_t)(end - p));
        fields[i][end - p] = '\0';
        p = end + 1;
    }
    return strchr(e->ms, ',') == NULL;
}

/* ---- the network ---- */
static clrnn_rnn *make_rnn(clrnn_context *ctx, clrnn_cell cell, int L, int bidir) {
    clrnn_rnn_desc d = tu_desc(cell, I, H);
    d.num_layers = L;
    if (bidir) d.direction = CLRNN_DIR_BIDIRECTIONAL;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    uint64_t seed = 0x7ace5eedULL;
    tu_set_random_weights(r, &seed, 0.4f, 0.3f, 0.3f);
    return r;
}

/* A forward of random x (the same for every call) into y and hn, poisoned first. */
static void run_forward(clrnn_rnn *r, int L, int D, float *y, float *hn) {
    uint64_t seed = 0x5eed1ULL;
    float *x = tu_alloc_random((size_t)T * N * I, &seed, -1.0f, 1.0f);
    for (size_t i = 0; i < (size_t)T * N * D * H; ++i) y[i] = NAN;
    for (size_t i = 0; i < (size_t)L * D * N * H; ++i) hn[i] = NAN;
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N;
    a.x.host = x, a.y.host = y, a.hn.host = hn;
    TU_OK(clrnn_rnn_forward(r, &a));
    free(x);
}

static clrnn_context *make_context(int verbose) {
    if (verbose)
        setenv("CLRNN_VERBOSE", "1", 1);
    else
        unsetenv("CLRNN_VERBOSE");
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    unsetenv("CLRNN_VERBOSE");
    return ctx;
}

static cl_command_queue_properties queue_props(clrnn_context *ctx) {
    cl_command_queue_properties p = 0;
    assert_int_equal(clGetCommandQueueInfo(clrnn_context_cl_queue(ctx), CL_QUEUE_PROPERTIES, sizeof p, &p, NULL),
                     CL_SUCCESS);
    return p;
}

/* Whether the GEMMs of ctx go through clrnn's own SGEMM (CPU devices, unless CLRNN_GEMM says). */
static int own_gemm(clrnn_context *ctx) {
    const char *env = getenv("CLRNN_GEMM");
    if (env && strcmp(env, "clblast") == 0) return 0;
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(ctx, &info));
    return (env && strcmp(env, "own") == 0) || info.type == CLRNN_DEVICE_TYPE_CPU;
}

/* The kernels a one-layer unidirectional LSTM forward of T steps runs on `plan` (first call, N < 8:
 * one row per work-item; the tiled plan's first call of a batch size is a launch per step), from
 * the library's cell table: names[i] expected counts[i] times. The generic plan's input projection
 * is clrnn's own SGEMM (this small product: its sgemm_small kernel) or one CLBlast call. */
static int gemm_own_for_test = 1;
static int expected_kernels(const char *plan, const char **names, int *counts) {
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, I, H);
    const clrnn_cell_kernels *k = clrnn_cell_kernels_for(&d);
    if (strcmp(plan, "tiled") == 0) {
        names[0] = clrnn_kernel_name(clrnn_cell_info_of(CLRNN_CELL_LSTM)->tiled_xproj), counts[0] = 1;
        names[1] = clrnn_kernel_name(k->tiled_step[0][0]), counts[1] = T;
        return 2;
    }
    names[0] = gemm_own_for_test ? "sgemm_small" : "clblast_sgemm", counts[0] = 1;
    names[1] = clrnn_kernel_name(k->generic[0]), counts[1] = T;
    return 2;
}

/* The exec lines of text: each one parses, runs on `plan` in a scope of this network, with a
 * device time >= 0, and the kernels are exactly the expected ones, as many times. */
static void check_forward_lines(const char *text, const char *plan) {
    const char *names[4];
    int counts[4], seen[4] = {0};
    const int n_names = expected_kernels(plan, names, counts);
    char shape[96];
    snprintf(shape, sizeof shape, "l0 lstm T=%d N=%d I=%d H=%d D=1", T, N, I, H);
    int execs = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[600];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        p += len + (nl ? 1 : 0);
        if (strncmp(line, "clrnn_verbose,exec,", 19) != 0) continue;
        exec_line e;
        if (!parse_exec(line, &e)) fail_msg("unparsable exec line: %s", line);
        ++execs;
        int found = 0;
        for (int i = 0; i < n_names; ++i)
            if (strcmp(e.kernel, names[i]) == 0) ++seen[i], found = 1;
        if (!found) fail_msg("%s plan: unexpected kernel in: %s", plan, line);
        assert_string_equal(e.plan, plan);
        assert_string_equal(e.shape, shape);
        char *end = NULL;
        const double ms = strtod(e.ms, &end);
        if (end == e.ms || *end || !(ms >= 0.0)) fail_msg("device time not >= 0 in: %s", line);
        if (strcmp(e.kernel, "clblast_sgemm") == 0) /* CLBlast's sizes are its own */
            assert_string_equal(e.global, "-");
        else
            assert_true(e.global[0] >= '1' && e.global[0] <= '9' && strchr(e.global, 'x'));
        if (strncmp(e.kernel, "sgemm_", 6) == 0 || strcmp(e.kernel, "clblast_sgemm") == 0) {
            char gemm[96];
            snprintf(gemm, sizeof gemm, "gemm M=%d N=%d K=%d ", T * N, 4 * H, I);
            if (strncmp(e.what, gemm, strlen(gemm)) != 0) fail_msg("GEMM detail '%s', expected '%s...'", e.what, gemm);
        }
    }
    for (int i = 0; i < n_names; ++i)
        if (seen[i] != counts[i]) fail_msg("%s plan: %s ran %d times, expected %d", plan, names[i], seen[i], counts[i]);
    assert_int_equal(execs, T + 1);
}

/* CLRNN_VERBOSE=1 on each plan: the lines of a forward, and its results bitwise those without. */
static void test_verbose_forward(void **state) {
    (void)state;
    static const char *const plans[] = {"tiled", "generic"};
    for (int pi = 0; pi < 2; ++pi) {
        setenv("CLRNN_PLAN", plans[pi], 1);
        clrnn_context *off = make_context(0), *on = make_context(1);
        gemm_own_for_test = own_gemm(on);
        clrnn_rnn *r_off = make_rnn(off, CLRNN_CELL_LSTM, 1, 0), *r_on = make_rnn(on, CLRNN_CELL_LSTM, 1, 0);
        char desc[512];
        const char *pd = clrnn_rnn_plan(r_on, desc, sizeof desc);
        assert_non_null(pd);
        assert_true(strncmp(pd, plans[pi], strlen(plans[pi])) == 0);
        const size_t ny = (size_t)T * N * H, nh = (size_t)N * H;
        float *y_off = malloc(ny * sizeof(float)), *y_on = malloc(ny * sizeof(float));
        float *h_off = malloc(nh * sizeof(float)), *h_on = malloc(nh * sizeof(float));
        for (int call = 0; call < 2; ++call) { /* the tiled plan's second call of a batch size too */
            capture c;
            capture_begin(&c);
            run_forward(r_off, 1, 1, y_off, h_off);
            char *quiet = capture_end(&c);
            assert_null(strstr(quiet, "clrnn_verbose"));
            free(quiet);
            capture_begin(&c);
            run_forward(r_on, 1, 1, y_on, h_on);
            char *text = capture_end(&c);
            check_forward_lines(text, plans[pi]);
            free(text);
            assert_memory_equal(y_on, y_off, ny * sizeof(float));
            assert_memory_equal(h_on, h_off, nh * sizeof(float));
            for (size_t i = 0; i < ny; ++i) assert_false(isnan(y_on[i]));
        }
        free(y_off), free(y_on), free(h_off), free(h_on);
        clrnn_rnn_destroy(r_off), clrnn_rnn_destroy(r_on);
        clrnn_context_destroy(off), clrnn_context_destroy(on);
    }
    unsetenv("CLRNN_PLAN");
}

/* Off (the default): no profiling queue, no trace state, nothing written, even for a context
 * creation; on: a profiling queue and the context's info, build or load, and kernels lines. */
static void test_off_no_profiling_queue(void **state) {
    (void)state;
    capture c;
    capture_begin(&c);
    clrnn_context *off = make_context(0);
    char *text = capture_end(&c);
    assert_null(strstr(text, "clrnn_verbose"));
    free(text);
    assert_false(queue_props(off) & CL_QUEUE_PROFILING_ENABLE);
    assert_int_equal(off->trace.on, 0);
    assert_int_equal(off->trace.profiling, 0);
    clrnn_context_destroy(off);

    capture_begin(&c);
    clrnn_context *on = make_context(1);
    text = capture_end(&c);
    assert_true(queue_props(on) & CL_QUEUE_PROFILING_ENABLE);
    assert_int_equal(on->trace.on, 1);
    assert_non_null(strstr(text, "clrnn_verbose,info,clrnn " CLRNN_VERSION_STRING ","));
    assert_non_null(strstr(text, ",profiling=1\n"));
    const char *b = strstr(text, "clrnn_verbose,build,the main kernels,");
    assert_non_null(b);
    b += strlen("clrnn_verbose,build,the main kernels,");
    assert_true(strncmp(b, "source,", 7) == 0 || strncmp(b, "binary,", 7) == 0);
    assert_true(strtod(b + 7, NULL) >= 0.0);
    assert_non_null(strstr(text, "clrnn_verbose,kernels,the main kernels,"));
    free(text);
    clrnn_context_destroy(on);
}

/* ---- the sink ---- */
typedef struct tally {
    int exec, build, kernels, info, negative, bidir_scopes, layer1, bad_lines;
    double device_ms;
} tally;
static void count_record(void *user, const clrnn_trace_record *rec) {
    tally *t = user;
    if (rec->kind == CLRNN_TRACE_EXEC) {
        t->exec++;
        if (rec->device_ms < 0) t->negative++;
        else t->device_ms += rec->device_ms;
        if (strstr(rec->shape, " D=2")) t->bidir_scopes++;
        if (strncmp(rec->shape, "l1 ", 3) == 0) t->layer1++;
        /* counted, not asserted: the sink runs on the workers' threads */
        if (strncmp(rec->line, "clrnn_verbose,exec,", 19) != 0 || !strstr(rec->line, rec->name)) t->bad_lines++;
    } else if (rec->kind == CLRNN_TRACE_BUILD)
        t->build++;
    else if (rec->kind == CLRNN_TRACE_KERNELS)
        t->kernels++;
    else if (rec->kind == CLRNN_TRACE_INFO)
        t->info++;
}

typedef struct worker {
    clrnn_context *ctx;
    int ok;
} worker;
static int run_worker(void *arg) {
    worker *w = arg;
    clrnn_rnn *r = make_rnn(w->ctx, CLRNN_CELL_GRU, 2, 1);
    float *y = malloc((size_t)T * N * 2 * H * sizeof(float)), *hn = malloc((size_t)2 * 2 * N * H * sizeof(float));
    for (int i = 0; i < 3; ++i) run_forward(r, 2, 2, y, hn);
    w->ok = 1;
    for (size_t i = 0; i < (size_t)T * N * 2 * H; ++i)
        if (isnan(y[i])) w->ok = 0;
    free(y), free(hn);
    clrnn_rnn_destroy(r);
    return 0;
}

/* An installed sink gets the records instead of stderr, serialised, from two contexts forwarding
 * at once in two threads (a 2-layer bidirectional GRU: both layers' scopes, D=2). */
static void test_sink_threads(void **state) {
    (void)state;
    tally t;
    memset(&t, 0, sizeof t);
    clrnn_trace_install(count_record, &t);
    capture c;
    capture_begin(&c);
    clrnn_context *a = make_context(0), *b = make_context(0); /* the sink turns the trace on */
    worker wa = {a, 0}, wb = {b, 0};
    thrd_t ta, tb;
    assert_int_equal(thrd_create(&ta, run_worker, &wa), thrd_success);
    assert_int_equal(thrd_create(&tb, run_worker, &wb), thrd_success);
    thrd_join(ta, NULL);
    thrd_join(tb, NULL);
    char *text = capture_end(&c);
    clrnn_trace_install(NULL, NULL);
    assert_null(strstr(text, "clrnn_verbose")); /* all went to the sink */
    free(text);
    assert_true(wa.ok && wb.ok);
    assert_true(queue_props(a) & CL_QUEUE_PROFILING_ENABLE);
    assert_int_equal(t.info, 2);
    assert_true(t.build >= 2 && t.kernels >= 2);
    assert_true(t.exec >= 2 * 3 * 2 * T); /* at least a step launch per step and layer, per forward */
    assert_int_equal(t.negative, 0);
    assert_int_equal(t.bad_lines, 0);
    assert_true(t.device_ms > 0.0);
    assert_true(t.bidir_scopes > 0 && t.layer1 > 0);
    clrnn_context_destroy(a), clrnn_context_destroy(b);
    /* uninstalled: a new context is quiet again */
    clrnn_context *q = make_context(0);
    assert_int_equal(q->trace.on, 0);
    clrnn_context_destroy(q);
}

/* An application's queue made without profiling: lines, but "-" for the device time. */
static void test_adopted_queue_without_profiling(void **state) {
    (void)state;
    clrnn_context *owner = make_context(0);
    cl_context clc = clrnn_context_cl_context(owner);
    cl_device_id dev = clrnn_context_cl_device(owner);
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(clc, dev, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    setenv("CLRNN_VERBOSE", "1", 1);
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create_from_cl(clc, dev, q, NULL, &ctx));
    unsetenv("CLRNN_VERBOSE");
    clrnn_rnn *r = make_rnn(ctx, CLRNN_CELL_LSTM, 1, 0);
    float *y = malloc((size_t)T * N * H * sizeof(float)), *hn = malloc((size_t)N * H * sizeof(float));
    capture c;
    capture_begin(&c);
    run_forward(r, 1, 1, y, hn);
    char *text = capture_end(&c);
    int execs = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        exec_line e;
        if (!parse_exec(line, &e)) continue;
        ++execs;
        assert_string_equal(e.ms, "-");
    }
    assert_true(execs >= T);
    free(text), free(y), free(hn);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    clReleaseCommandQueue(q);
    clrnn_context_destroy(owner);
}

int main(void) {
    unsetenv("CLRNN_SCAN"); /* the tiled plan's scan as chosen by default */
    /* PoCL turns profiling on for every queue when POCL_DEBUG is set (read at its first call), which
     * would hide what clrnn asks for */
    unsetenv("POCL_DEBUG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbose_forward),
        cmocka_unit_test(test_off_no_profiling_queue),
        cmocka_unit_test(test_sink_threads),
        cmocka_unit_test(test_adopted_queue_without_profiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
