/* Resources that no sanitizer sees: context create -> CLBlast work -> destroy must stay flat in
 * resident memory. CLBlast keeps every compiled program in a process-wide cache and each program
 * retains its cl_context, so a destroyed context that had run a GEMM stayed alive (~7 MB on PoCL):
 * memory that is still reachable, hence invisible to LeakSanitizer.
 *
 * Each cycle creates a context and runs all three ways clrnn reaches CLBlast: clrnn_sgemm, a
 * forward through a dense layer (dense_size > 0), and a forward of the generic plan (its input
 * projection is a CLBlast GEMM; CLRNN_PLAN=generic while that rnn is created), checks the
 * numbers, and destroys everything. After WARMUP cycles the resident set may grow by at most
 * RSS_BOUND_MB over the remaining ones (before the fix: ~7 MB per cycle, ~600 MB in all), and no
 * file descriptor may be left open.
 *
 * Sanitizer builds get a looser bound, RSS_BOUND_MB (100 MB there): ASan's quarantine and shadow
 * memory (TSan's shadow) move the resident set by themselves (ctest runs the ASan build with a
 * 16 MB quarantine: at the default 256 MB the quarantine alone plateaued near 95 MB once the
 * contexts' program builds grew). Measured over the 90 cycles, ASan
 * build: -15 MB with the fix, +927 MB without; Release: +0.5 MB with, +603 MB without.
 *
 * clear_while_others_run: the destroy-time cache clear is process-wide, so contexts of other
 * threads keep running GEMMs (right numbers, no failure) while contexts come and go. */
#include "test_util.h"

#include <dirent.h>
#include <stdatomic.h>
#include <threads.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define RSS_SANITIZED 1
#endif
#endif
#ifndef RSS_SANITIZED
#define RSS_SANITIZED 0
#endif

#define CYCLES 100
#define WARMUP 10
/* growth allowed over the CYCLES - WARMUP measured cycles */
#if RSS_SANITIZED
#define RSS_BOUND_MB 100.0
#else
#define RSS_BOUND_MB 20.0
#endif

enum { GM = 16, T = 3, N = 2, I = 4, H = 8, DENSE = 3 };

static double rss_mb(void) {
#if defined(__GLIBC__) && !RSS_SANITIZED
    malloc_trim(0); /* freed heap pages back to the system: what stays resident is in use */
#endif
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size = 0, resident = 0;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct work {
    float A[GM * GM], Cref[GM * GM];
    float W[3 * H * I], R[3 * H * H], B[6 * H], DW[DENSE * H], DB[DENSE];
    float x[T * N * I];
} work;

static void work_init(work *w, uint64_t seed) {
    tu_fill(w->A, GM * GM, &seed, -1, 1);
    for (int i = 0; i < GM; ++i) /* C = A A^T */
        for (int j = 0; j < GM; ++j) {
            double s = 0;
            for (int p = 0; p < GM; ++p) s += (double)w->A[i * GM + p] * w->A[j * GM + p];
            w->Cref[i * GM + j] = (float)s;
        }
    tu_fill(w->W, 3 * H * I, &seed, -0.5f, 0.5f), tu_fill(w->R, 3 * H * H, &seed, -0.5f, 0.5f);
    tu_fill(w->B, 6 * H, &seed, -0.3f, 0.3f), tu_fill(w->DW, DENSE * H, &seed, -0.5f, 0.5f);
    tu_fill(w->DB, DENSE, &seed, -0.3f, 0.3f), tu_fill(w->x, T * N * I, &seed, -1, 1);
}

static clrnn_rnn *make_rnn(clrnn_context *ctx, const work *w, int generic) {
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_GRU, d.input_size = I, d.hidden_size = H, d.dense_size = DENSE;
    /* the plan is chosen when the rnn is created */
    const char *was = getenv("CLRNN_PLAN");
    char saved[32] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    if (generic) setenv("CLRNN_PLAN", "generic", 1);
    clrnn_rnn *r = NULL;
    clrnn_status st = clrnn_rnn_create(ctx, &d, &r);
    if (generic) was ? setenv("CLRNN_PLAN", saved, 1) : unsetenv("CLRNN_PLAN");
    TU_OK(st);
    if (generic) {
        char plan[512];
        clrnn_rnn_plan(r, plan, sizeof plan);
        if (strncmp(plan, "generic", 7) != 0) fail_msg("CLRNN_PLAN=generic gave the plan '%s'", plan);
    }
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w->W, 3 * H * I));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, w->R, 3 * H * H));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, w->B, 6 * H));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W, w->DW, DENSE * H));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_B, w->DB, DENSE));
    return r;
}

static void forward(clrnn_rnn *r, const work *w, float *y) {
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N;
    a.x.host = (void *)w->x;
    a.y.host = y;
    TU_OK(clrnn_rnn_forward(r, &a));
}

/* One create -> GEMM + dense forward + generic forward -> destroy. */
static void cycle(const work *w) {
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    cl_int err;
    cl_mem a = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof w->A,
                              (void *)w->A, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_mem c = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE, sizeof w->A, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    TU_OK(clrnn_sgemm(ctx, 0, 1, GM, GM, GM, 1.0f, a, 0, GM, a, 0, GM, 0.0f, c, 0, GM));
    float C[GM * GM];
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), c, CL_TRUE, 0, sizeof C, C, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_true(tu_max_abs_diff(C, w->Cref, GM * GM, NULL) < 1e-4);
    clReleaseMemObject(a), clReleaseMemObject(c);

    clrnn_rnn *dense = make_rnn(ctx, w, 0), *generic = make_rnn(ctx, w, 1);
    float y1[T * N * DENSE], y2[T * N * DENSE];
    forward(dense, w, y1);
    forward(generic, w, y2);
    /* the two plans compute the same network */
    assert_true(tu_max_abs_diff(y1, y2, T * N * DENSE, NULL) < 1e-4);
    clrnn_rnn_destroy(dense);
    clrnn_rnn_destroy(generic);
    clrnn_context_destroy(ctx);
}

static void context_cycles_stay_flat(void **state) {
    (void)state;
    static work w;
    work_init(&w, 31);

    for (int i = 0; i < WARMUP; ++i) cycle(&w);
    const double rss0 = rss_mb();
    const int fds0 = open_fds();
    printf("after %d warm-up cycles: RSS %.1f MB, %d fds\n", WARMUP, rss0, fds0);
    for (int i = WARMUP; i < CYCLES; ++i) {
        cycle(&w);
        if ((i + 1) % 30 == 0) printf("after %d cycles: RSS %+.1f MB\n", i + 1, rss_mb() - rss0);
    }
    const double growth = rss_mb() - rss0;
    const int fds = open_fds();
    printf("%d cycles after the warm-up: RSS %+.1f MB (bound %.0f MB), fds %+d\n", CYCLES - WARMUP, growth,
           RSS_BOUND_MB, fds - fds0);
    assert_int_equal(fds, fds0);
    if (growth > RSS_BOUND_MB)
        fail_msg("RSS grew %.1f MB over %d context cycles (bound %.0f MB): %.2f MB per context", growth,
                 CYCLES - WARMUP, RSS_BOUND_MB, growth / (CYCLES - WARMUP));
}

/* ---- the clear is process-wide: contexts that live on while others come and go ----
 * Each destroy of a context that used CLBlast empties CLBlast's program and binary caches, so
 * the long-lived contexts of the worker threads rebuild their GEMM programs right after, both at
 * once and while the main thread's next context builds its own: CLBlast 1.5.3 then stored the
 * same binary twice and failed the GEMM ("object already in cache"), unless clrnn serialises
 * its CLBlast calls. Every GEMM must succeed with the right numbers. */
enum { WORKERS = 2, CHURN = 12 };
static atomic_int churn_done, worker_failures, worker_gemms;
static char worker_error[512];

static int gemm_worker(void *arg) {
    const work *w = arg;
    clrnn_context *ctx = NULL;
    if (clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
        snprintf(worker_error, sizeof worker_error, "context_create: %s", clrnn_last_error());
        atomic_fetch_add(&worker_failures, 1);
        return 1;
    }
    cl_int err;
    cl_mem a = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof w->A,
                              (void *)w->A, &err);
    cl_mem c = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE, sizeof w->A, NULL, &err);
    float C[GM * GM];
    while (!atomic_load(&churn_done)) {
        clrnn_status st = clrnn_sgemm(ctx, 0, 1, GM, GM, GM, 1.0f, a, 0, GM, a, 0, GM, 0.0f, c, 0, GM);
        if (st == CLRNN_OK && clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), c, CL_TRUE, 0, sizeof C, C, 0, NULL,
                                                  NULL) != CL_SUCCESS)
            st = CLRNN_ERR_OPENCL;
        if (st != CLRNN_OK || tu_max_abs_diff(C, w->Cref, GM * GM, NULL) >= 1e-4) {
            if (atomic_fetch_add(&worker_failures, 1) == 0)
                snprintf(worker_error, sizeof worker_error, "GEMM on a live context: %s",
                         st != CLRNN_OK ? clrnn_last_error() : "wrong numbers");
            break;
        }
        atomic_fetch_add(&worker_gemms, 1);
        thrd_sleep(&(struct timespec){.tv_nsec = 200000}, NULL); /* leave the churn some CPU */
    }
    clReleaseMemObject(a), clReleaseMemObject(c);
    clrnn_context_destroy(ctx);
    return 0;
}

static void clear_while_others_run(void **state) {
    (void)state;
    static work w;
    work_init(&w, 32);
    atomic_store(&churn_done, 0), atomic_store(&worker_failures, 0), atomic_store(&worker_gemms, 0);
    thrd_t th[WORKERS];
    for (int t = 0; t < WORKERS; ++t) assert_int_equal(thrd_create(&th[t], gemm_worker, &w), thrd_success);
    for (int i = 0; i < CHURN && !atomic_load(&worker_failures); ++i) cycle(&w);
    atomic_store(&churn_done, 1);
    for (int t = 0; t < WORKERS; ++t) assert_int_equal(thrd_join(th[t], NULL), thrd_success);
    printf("%d context cycles while %d other contexts ran %d GEMMs\n", CHURN, WORKERS, atomic_load(&worker_gemms));
    if (atomic_load(&worker_failures)) fail_msg("%d failure(s); first: %s", atomic_load(&worker_failures), worker_error);
    assert_true(atomic_load(&worker_gemms) > 0);
}

int main(void) {
    /* CLBlast's caches are what this test is about; on a CPU device GEMMs would otherwise run on
     * clrnn's own SGEMM (test_rss_own sets CLRNN_GEMM=own: its kept program and panels go too) */
    setenv("CLRNN_GEMM", "clblast", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(context_cycles_stay_flat),
        cmocka_unit_test(clear_while_others_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
