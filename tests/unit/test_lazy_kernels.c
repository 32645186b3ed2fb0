/* Kernels made on first use (src/core/program.c clrnn_kernel_get, behind launch.h's begin) and
 * clrnn_rnn_prepare. A new context creates no kernel; a forward creates only the kernels its plan
 * and cell run (a generic-plan LSTM no tiled or GRU kernel, a tiled one no generic step); a kernel
 * the program cannot give fails the forward with a message naming it; threads making the same
 * kernels at once on one context make each once. After clrnn_rnn_prepare(T, N), forwards of that
 * shape (full y, last_only, host or device states) create no kernel, build no program and, on
 * PoCL, compile nothing: PoCL writes each kernel it compiles into POCL_CACHE_DIR, pointed here at a
 * fresh directory, whose file count must not grow (not under ASan: see main). Every forward is checked against the float64
 * reference (tests/ref), the outputs poisoned first. */
#define _XOPEN_SOURCE 700
#include "internal.h"
#include "rnn/cells.h"
#include "ref/reference.h"
#include "test_util.h"

#include <ftw.h>
#include <stdlib.h>
#include <threads.h>
#include <sys/wait.h>
#include <unistd.h>

static char pocl_dir[] = "/tmp/clrnn-lazy-XXXXXX";
static int is_pocl;

static clrnn_context *new_context(void) {
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    is_pocl = strstr(ctx->info.platform_name, "Portable Computing Language") != NULL;
    return ctx;
}

/* Over a program's kernel slots, indexed by clrnn_kernel_id (ctx->kernels.k for the fp32 kernels, a
 * storage program's clrnn_kernel_set k): whether `name` was created, how many whose name
 * contains `part` were, how many were. */
static int slot_created(_Atomic(cl_kernel) const *slots, const char *name) {
    for (int id = 0; id < CLRNN_K_COUNT_; ++id)
        if (!strcmp(clrnn_kernel_name((clrnn_kernel_id)id), name)) return atomic_load(&slots[id]) != NULL;
    fail_msg("no kernel %s in kernel_list.h", name);
    return 0;
}
static int slots_created_like(_Atomic(cl_kernel) const *slots, const char *part) {
    int n = 0;
    for (int id = 0; id < CLRNN_K_COUNT_; ++id)
        if (atomic_load(&slots[id]) && strstr(clrnn_kernel_name((clrnn_kernel_id)id), part)) ++n;
    return n;
}
static int slots_created(_Atomic(cl_kernel) const *slots) {
    int n = 0;
    for (int id = 0; id < CLRNN_K_COUNT_; ++id) n += atomic_load(&slots[id]) != NULL;
    return n;
}

static int created(const clrnn_context *ctx, const char *name) { return slot_created(ctx->kernels.k, name); }
/* Kernels created whose name contains `part`. */
static int created_like(const clrnn_context *ctx, const char *part) { return slots_created_like(ctx->kernels.k, part); }
static int non_null_kernels(const clrnn_context *ctx) { return slots_created(ctx->kernels.k); }

/* Largest |got - want| / (1 + |want|): the forward suite's measure under fp16/bf16 storage. */
static double max_rel_diff(const float *got, const float *want, size_t n, size_t *where) {
    double worst = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
        if (!(e <= worst)) worst = e, *where = i; /* NaN counts as the worst */
    }
    return worst;
}

/* One forward of rnn against the reference: x random, y/hn/cn poisoned; states on the host.
 * fp32 storage: |got - want| <= 1e-5; fp16: |got - want| / (1 + |want|) <= 1e-3 (test_forward's). */
static void forward_checked(clrnn_rnn *r, int T, int N, int last_only, uint64_t *seed) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), O = clrnn_rnn_output_size(r);
    const int lstm = d.cell == CLRNN_CELL_LSTM;
    const size_t nx = (size_t)T * N * d.input_size, ny = (size_t)(last_only ? 1 : T) * N * O;
    const size_t nh = (size_t)d.num_layers * D * N * Hr, nc = (size_t)d.num_layers * D * N * d.hidden_size;
    float *x = tu_alloc_random(nx, seed, -1, 1), *h0 = tu_alloc_random(nh, seed, -1, 1);
    float *y = tu_alloc_poison(ny), *hn = tu_alloc_poison(nh), *cn = tu_alloc_poison(nc);
    float *y_ref = tu_alloc_poison(ny), *hn_ref = tu_alloc_poison(nh), *cn_ref = tu_alloc_poison(nc);
    clrnn_forward_args a = {0};
    a.seq_length = T, a.batch = N, a.last_only = last_only;
    a.x.host = x, a.h0.host = h0, a.y.host = y, a.hn.host = hn;
    if (lstm) a.cn.host = cn;
    TU_OK(clrnn_rnn_forward(r, &a));
    clrnn_forward_args ar = a;
    ar.y.host = y_ref, ar.hn.host = hn_ref;
    if (lstm) ar.cn.host = cn_ref;
    TU_OK(clrnn_reference_forward(r, &ar));
    size_t where = 0;
    const int fp32 = d.storage == CLRNN_STORAGE_FP32;
    const double bound = fp32 ? 1e-5 : 1e-3;
    double err = fp32 ? tu_max_abs_diff(y, y_ref, ny, &where) : max_rel_diff(y, y_ref, ny, &where);
    if (!(err <= bound)) fail_msg("y differs from the reference by %g at %zu", err, where);
    err = fp32 ? tu_max_abs_diff(hn, hn_ref, nh, &where) : max_rel_diff(hn, hn_ref, nh, &where);
    if (!(err <= bound)) fail_msg("hn differs from the reference by %g at %zu", err, where);
    if (lstm && !((err = fp32 ? tu_max_abs_diff(cn, cn_ref, nc, &where) : max_rel_diff(cn, cn_ref, nc, &where)) <= bound))
        fail_msg("cn differs from the reference by %g at %zu", err, where);
    free(x), free(h0), free(y), free(hn), free(cn), free(y_ref), free(hn_ref), free(cn_ref);
}

static clrnn_rnn *make_rnn_stored(clrnn_context *ctx, clrnn_cell cell, int layers, int bidir, int dense,
                                  clrnn_storage storage, uint64_t *seed) {
    clrnn_rnn_desc d = tu_desc(cell, 5, 19);
    d.storage = storage;
    d.num_layers = layers;
    if (bidir) d.direction = CLRNN_DIR_BIDIRECTIONAL;
    d.dense_size = dense;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    tu_set_random_weights(r, seed, 0.4f, 0.3f, 0.4f);
    return r;
}

static clrnn_rnn *make_rnn(clrnn_context *ctx, clrnn_cell cell, int layers, int bidir, int dense, uint64_t *seed) {
    return make_rnn_stored(ctx, cell, layers, bidir, dense, CLRNN_STORAGE_FP32, seed);
}

/* The storage program's kernels (clrnn_kernel_set) created so far, and those whose name has `part`. */
static int set_created(const clrnn_kernel_set *set) {
    const int n = slots_created(set->k);
    assert_int_equal(n, atomic_load(&set->created));
    return n;
}
static int set_created_like(const clrnn_kernel_set *set, const char *part) { return slots_created_like(set->k, part); }
static int set_has(const clrnn_kernel_set *set, const char *name) { return slot_created(set->k, name); }

static void new_context_creates_no_kernel(void **state) {
    (void)state;
    clrnn_context *ctx = new_context();
    assert_int_equal(clrnn_kernels_created(ctx), 0);
    assert_int_equal(non_null_kernels(ctx), 0);
    clrnn_context_destroy(ctx);
}

static void generic_plan_creates_no_tiled_kernel(void **state) {
    (void)state;
    setenv("CLRNN_PLAN", "generic", 1);
    clrnn_context *ctx = new_context();
    uint64_t seed = 11;
    clrnn_rnn *r = make_rnn(ctx, CLRNN_CELL_LSTM, 2, 1, 0, &seed);
    assert_int_equal(clrnn_kernels_created(ctx), 0); /* creating the rnn runs nothing */
    forward_checked(r, 6, 3, 0, &seed);
    assert_true(created(ctx, "lstm_step"));
    assert_int_equal(created_like(ctx, "tiled"), 0);
    assert_int_equal(created_like(ctx, "gru"), 0);
    assert_false(created(ctx, "rnn_step"));
    assert_false(created(ctx, "lstm_proj_step")); /* no projection: not made */
    assert_int_equal(clrnn_kernels_created(ctx), non_null_kernels(ctx));
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    unsetenv("CLRNN_PLAN");
}

static void tiled_plan_creates_only_its_cells_kernels(void **state) {
    (void)state;
    setenv("CLRNN_PLAN", "tiled", 1);
    clrnn_context *ctx = new_context();
    uint64_t seed = 12;
    clrnn_rnn *r = make_rnn(ctx, CLRNN_CELL_GRU, 1, 0, 0, &seed);
    forward_checked(r, 6, 3, 0, &seed);
    assert_true(created_like(ctx, "gru_") > 0);
    assert_int_equal(created_like(ctx, "lstm"), 0);
    assert_int_equal(created_like(ctx, "rnn_"), 0);
    assert_false(created(ctx, "gru_gates_step")); /* the generic plan's */
    assert_false(created(ctx, "gru_out_step"));
    /* the wide row blocks (TILED_MR_* rows) are for batches of 8 or more */
    clrnn_rnn_desc gd = tu_desc(CLRNN_CELL_GRU, 4, 8);
    const clrnn_cell_kernels *gk = clrnn_cell_kernels_for(&gd);
    assert_false(created(ctx, clrnn_kernel_name(gk->tiled_scan[1])));
    assert_false(created(ctx, clrnn_kernel_name(gk->tiled_step[0][1])));
    const int n = clrnn_kernels_created(ctx);
    assert_int_equal(n, non_null_kernels(ctx));
    forward_checked(r, 6, 3, 0, &seed); /* the same call again: nothing new */
    assert_int_equal(clrnn_kernels_created(ctx), n);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    unsetenv("CLRNN_PLAN");
}

/* An fp16 rnn (and a bf16 one) on a fresh context builds its storage program on its first forward
 * and creates, in it, only the kernels its plan and cell run, as the fp32 program does: under the
 * generic plan an LSTM makes lstm_step and no tiled or GRU kernel, under the tiled plan only the
 * LSTM's tiled kernels for its batch; a second forward makes nothing; a GRU rnn of the same
 * storage adds only GRU kernels to the same program; the fp32 program makes no cell kernel. */
static void storage_kernels_made_on_first_use(const char *plan) {
    setenv("CLRNN_PLAN", plan, 1);
    const int tiled = !strcmp(plan, "tiled");
    clrnn_context *ctx = new_context();
    uint64_t seed = 15;
    clrnn_rnn *r = make_rnn_stored(ctx, CLRNN_CELL_LSTM, 1, 0, 0, CLRNN_STORAGE_FP16, &seed);
    assert_null(r->kernels); /* creating the rnn builds nothing */
    const int programs = ctx->programs_got;
    forward_checked(r, 6, 3, 0, &seed);
    assert_int_equal(ctx->programs_got, programs + 1); /* the fp16 program, and nothing else */
    clrnn_kernel_set *set = r->kernels;
    assert_non_null(set);
    assert_non_null(set->program[CLRNN_KG_CORE]);
    assert_non_null(strstr(set->what, "fp16"));
    const int n = set_created(set);
    assert_true(n > 0);
    assert_true(n < CLRNN_K_COUNT_ / 2);
    assert_int_equal(set_created_like(set, "gru"), 0);
    assert_int_equal(set_created_like(set, "rnn_"), 0);
    assert_int_equal(set_created_like(set, "lstmp"), 0); /* no projection */
    if (tiled) {
        assert_true(set_created_like(set, "lstm_") > 0);
        assert_false(set_has(set, "lstm_step")); /* the generic plan's */
        /* the wide row blocks (TILED_MR_* rows) are for batches of 8 or more */
        clrnn_rnn_desc ld = tu_desc(CLRNN_CELL_LSTM, 4, 8);
        const clrnn_cell_kernels *lk = clrnn_cell_kernels_for(&ld);
        assert_false(set_has(set, clrnn_kernel_name(lk->tiled_scan[1])));
    } else {
        assert_true(set_has(set, "lstm_step"));
        assert_int_equal(set_created_like(set, "tiled"), 0);
    }
    /* the fp32 program's cell kernels are not made for an fp16 rnn */
    assert_int_equal(created_like(ctx, "lstm"), 0);
    assert_int_equal(clrnn_kernels_created(ctx), non_null_kernels(ctx));
    forward_checked(r, 6, 3, 0, &seed);
    assert_int_equal(set_created(set), n);
    /* a GRU of the same storage: the same program, its own cell's kernels only */
    clrnn_rnn *g = make_rnn_stored(ctx, CLRNN_CELL_GRU, 1, 0, 0, CLRNN_STORAGE_FP16, &seed);
    forward_checked(g, 6, 3, 0, &seed);
    assert_ptr_equal(g->kernels, set);
    assert_int_equal(ctx->programs_got, programs + 1);
    assert_true(set_created_like(set, "gru") > 0);
    assert_int_equal(set_created_like(set, "rnn_"), 0);
    assert_int_equal(created_like(ctx, "gru"), 0);
    /* bf16: a program of its own, made the same way */
    clrnn_rnn *b = make_rnn_stored(ctx, CLRNN_CELL_RNN, 1, 0, 0, CLRNN_STORAGE_BF16, &seed);
    clrnn_forward_args a = {0};
    const int T = 4, N = 2;
    float *x = tu_alloc_random((size_t)T * N * 5, &seed, -1, 1), *y = tu_alloc_poison((size_t)T * N * 19);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
    TU_OK(clrnn_rnn_forward(b, &a));
    for (size_t i = 0; i < (size_t)T * N * 19; ++i) assert_false(isnan(y[i]));
    assert_non_null(b->kernels);
    assert_true(b->kernels != set);
    assert_non_null(strstr(b->kernels->what, "bf16"));
    assert_true(set_created_like(b->kernels, "rnn_") > 0);
    assert_int_equal(set_created_like(b->kernels, "lstm"), 0);
    assert_int_equal(set_created_like(b->kernels, "gru"), 0);
    free(x), free(y);
    clrnn_rnn_destroy(b);
    clrnn_rnn_destroy(g);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    unsetenv("CLRNN_PLAN");
}
static void fp16_generic_plan_creates_only_what_it_runs(void **state) {
    (void)state;
    storage_kernels_made_on_first_use("generic");
}
static void fp16_tiled_plan_creates_only_what_it_runs(void **state) {
    (void)state;
    storage_kernels_made_on_first_use("tiled");
}

static void creation_failure_names_the_kernel(void **state) {
    (void)state;
    clrnn_context *ctx = new_context();
    /* a program without the library's kernels in place of the context's: every first use fails */
    const char *src = "__kernel void unrelated(__global float *x) { x[0] = 1.0f; }";
    cl_int err;
    cl_program other = clCreateProgramWithSource(ctx->cl_ctx, 1, &src, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    assert_int_equal(clBuildProgram(other, 1, &ctx->device, NULL, NULL, NULL), CL_SUCCESS);
    clReleaseProgram(ctx->program);
    ctx->program = other;
    for (int g = 0; g < CLRNN_KG_COUNT_; ++g)
        if (ctx->kernels.main_groups & 1u << g) atomic_store(&ctx->kernels.program[g], other);
    uint64_t seed = 13;
    clrnn_rnn *r = make_rnn(ctx, CLRNN_CELL_LSTM, 1, 0, 0, &seed);
    const int T = 4, N = 2;
    float *x = tu_alloc_random((size_t)T * N * 5, &seed, -1, 1), *y = tu_alloc_poison((size_t)T * N * 19);
    clrnn_forward_args a = {0};
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
    assert_int_equal(clrnn_rnn_forward(r, &a), CLRNN_ERR_OPENCL);
    const char *msg = clrnn_last_error();
    assert_non_null(strstr(msg, "clCreateKernel"));
    assert_non_null(strstr(msg, "on its first use"));
    int named = 0;
    for (int id = 0; id < CLRNN_K_COUNT_; ++id) {
        char want[96];
        snprintf(want, sizeof want, "kernel %s ", clrnn_kernel_name((clrnn_kernel_id)id));
        named += strstr(msg, want) != NULL;
    }
    if (named != 1) fail_msg("the message names %d kernels: %s", named, msg);
    assert_int_equal(clrnn_kernels_created(ctx), 0);
    free(x), free(y);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
}

/* Threads whose first forwards on one fresh context need the same kernels at once. */
typedef struct job {
    clrnn_rnn *r;
    uint64_t seed;
} job;
static int run_job(void *arg) {
    job *j = arg;
    forward_checked(j->r, 5, 3, 0, &j->seed);
    return 0;
}

static void threads_create_each_kernel_once(void **state) {
    (void)state;
    enum { THREADS = 4 };
    job jobs[THREADS];
    thrd_t th[THREADS];
    /* PoCL 3.1 compiling one program's kernels from several threads at once leaks inside LLVM (as
     * test_threads does with an empty PoCL cache): the same calls run once on another context
     * first, so that the threads below race on creating the kernels, not on PoCL's compiler */
    clrnn_context *warm = new_context();
    for (int t = 0; t < 2; ++t) {
        uint64_t seed = 100 + (uint64_t)t;
        clrnn_rnn *r = make_rnn(warm, t & 1 ? CLRNN_CELL_GRU : CLRNN_CELL_LSTM, 1, 0, 0, &seed);
        forward_checked(r, 5, 3, 0, &seed);
        clrnn_rnn_destroy(r);
    }
    clrnn_context_destroy(warm);
    clrnn_context *ctx = new_context();
    for (int t = 0; t < THREADS; ++t) {
        jobs[t].seed = 100 + (uint64_t)t;
        jobs[t].r = make_rnn(ctx, t & 1 ? CLRNN_CELL_GRU : CLRNN_CELL_LSTM, 1, 0, 0, &jobs[t].seed);
    }
    assert_int_equal(clrnn_kernels_created(ctx), 0);
    for (int t = 0; t < THREADS; ++t) assert_int_equal(thrd_create(&th[t], run_job, &jobs[t]), thrd_success);
    for (int t = 0; t < THREADS; ++t) thrd_join(th[t], NULL);
    assert_true(clrnn_kernels_created(ctx) > 0);
    assert_int_equal(clrnn_kernels_created(ctx), non_null_kernels(ctx));
    for (int t = 0; t < THREADS; ++t) clrnn_rnn_destroy(jobs[t].r);
    clrnn_context_destroy(ctx);
}

static int fresh_cache; /* POCL_CACHE_DIR is pocl_dir, made empty by this test */
static long files_found;
static int count_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)path, (void)sb, (void)ftw;
    if (flag == FTW_F) ++files_found;
    return 0;
}
static long pocl_cache_files(void) {
    files_found = 0;
    nftw(pocl_dir, count_file, 16, FTW_PHYS);
    return files_found;
}

static void prepare_leaves_nothing_to_compile(void **state) {
    (void)state;
    clrnn_context *ctx = new_context();
    uint64_t seed = 14;
    /* two bidirectional layers and a dense head (clrnn's SGEMM program on CPU devices) */
    clrnn_rnn *r = make_rnn(ctx, CLRNN_CELL_LSTM, 2, 1, 3, &seed);
    const int T = 12, N = 3;
    TU_OK(clrnn_rnn_prepare(r, T, N));
    const int kernels = clrnn_kernels_created(ctx), programs = ctx->programs_got;
    const long files = pocl_cache_files();
    assert_true(kernels > 0);
    if (fresh_cache && is_pocl) assert_true(files > 0); /* PoCL did compile into the fresh cache */
    forward_checked(r, T, N, 0, &seed);
    forward_checked(r, T, N, 1, &seed);
    forward_checked(r, T, N, 0, &seed); /* past the tiled plan's measured calls */
    forward_checked(r, T, N, 0, &seed);
    assert_int_equal(clrnn_kernels_created(ctx), kernels);
    assert_int_equal(ctx->programs_got, programs);
    if (fresh_cache && is_pocl && pocl_cache_files() != files)
        fail_msg("PoCL compiled after clrnn_rnn_prepare: %ld cache files, %ld before", pocl_cache_files(), files);
    /* refusals */
    assert_int_equal(clrnn_rnn_prepare(r, 0, N), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_rnn_prepare(r, T, -1), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_rnn_prepare(NULL, T, N), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_rnn *bare = NULL;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_GRU, 3, 4);
    TU_OK(clrnn_rnn_create(ctx, &d, &bare));
    assert_int_equal(clrnn_rnn_prepare(bare, T, N), CLRNN_ERR_MISSING_WEIGHTS);
    clrnn_rnn_destroy(bare);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv) {
    /* before any OpenCL call: PoCL reads it once */
#ifndef __SANITIZE_ADDRESS__
    (void)argc, (void)argv;
    if (!mkdtemp(pocl_dir)) return 1;
    setenv("POCL_CACHE_DIR", pocl_dir, 1);
    fresh_cache = 1;
#else
    /* PoCL 3.1 leaks inside LLVM on every kernel it compiles (none from a warm cache), and these
     * tests compile kernels no other test has (fp16 tiled ones at these launch sizes): under ASan
     * they run first in a child with leak detection off, which fills the suite's PoCL cache with
     * exactly these kernels, then here, where nothing is compiled and every leak is clrnn's. The
     * counters are checked both times; only this run's result counts. */
    if (argc < 2 || strcmp(argv[1], "--warm-cache") != 0) {
        const pid_t pid = fork();
        if (pid == 0) {
            const char *old = getenv("ASAN_OPTIONS");
            char opts[1024];
            snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
            execl("/proc/self/exe", argv[0], "--warm-cache", (char *)NULL);
            _exit(127);
        }
        int wst = 0;
        if (pid < 0 || waitpid(pid, &wst, 0) != pid) fprintf(stderr, "test_lazy_kernels: no warm-up run (the cache stays as it is)\n");
    }
#endif
    if (getenv("CLRNN_TEST_FILTER")) cmocka_set_test_filter(getenv("CLRNN_TEST_FILTER")); /* one test by hand */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_context_creates_no_kernel),
        cmocka_unit_test(generic_plan_creates_no_tiled_kernel),
        cmocka_unit_test(tiled_plan_creates_only_its_cells_kernels),
        cmocka_unit_test(fp16_generic_plan_creates_only_what_it_runs),
        cmocka_unit_test(fp16_tiled_plan_creates_only_what_it_runs),
        cmocka_unit_test(creation_failure_names_the_kernel),
        cmocka_unit_test(threads_create_each_kernel_once),
        cmocka_unit_test(prepare_leaves_nothing_to_compile),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (fresh_cache) nftw(pocl_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
