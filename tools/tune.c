/* clrnn-tune: tunes CLBlast's GEMM kernels for the GEMMs clrnn issues on this device and stores the
 * result as the device's tuning file, which every later context on the device applies.
 *
 *   clrnn-tune [--device SPEC] [--cache-dir DIR] [--budget SECONDS] [--quick] [--shapes LIST]
 *              [--traced-only] [--output FILE] [--no-write] [--table] [--seed N] [--verbose]
 *   clrnn-tune --show                 where the device's tuning file is, and what a context applies
 *   clrnn-tune --measure [--shapes]   GFLOP/s per shape: CLBlast's defaults, then what clrnn applies
 *   clrnn-tune [--output FILE] --import FILE.json...
 *                                     turn the JSON results of CLBlast's own clblast_tuner_* programs
 *                                     (clblast-utils) into this device's tuning file
 *
 * Shapes: by default the GEMMs clrnn really issues for the issue-5 scenarios S1-S6, recorded by
 * running each forward once with the GEMMs traced and skipped (so the list follows forward.c),
 * plus the input projections of the generic plan (marked "S1*": what forward.c sends to CLBlast
 * when it does not pick a specialised kernel; --traced-only leaves them out);
 * --shapes MxNxK[/ab][,...] gives them by hand (row-major; a, b = n or t for op(A), op(B)).
 *
 * Search (own, through CLBlastOverrideParameters on the real routine, so the pre/post-processing
 * kernels and the direct/indirect choice are timed as clrnn will see them):
 *   1. Xgemm (indirect path forced): seeds (CPU-friendly tiles of both GEMM kernels), then
 *      first-improvement local search over one parameter at a time;
 *   2. XgemmDirect (direct path forced) on the shapes small enough to go direct, the same way;
 *   3. the helper kernels Copy, Pad, Transpose, Padtranspose with the chosen Xgemm;
 *   4. the direct/indirect crossover (XGEMM_MIN_INDIRECT_SIZE) from each shape's two timings
 *      (and small square probes, so that GEMMs smaller than the ones seen are routed sensibly).
 * Large shapes are searched with M capped (the tile choice does not depend on M once it is large)
 * and every shape is measured at full size before and after. A candidate that wins is timed
 * again next to the incumbent before it is kept (other work on the machine moves timings).
 *
 * Every measurement runs in a child process (this program again, --eval-child): on a CPU device a
 * kernel that writes out of bounds writes into the host heap, and some parameter sets that pass
 * CLBlast's own constraints do (seen on PoCL with GEMMK=1), so a candidate may only ever take its
 * own process down, and a hung one is killed by an alarm. The child checks the result against a
 * double-precision product (odd sizes, then samples of the first shape) before timing.
 * Each candidate recompiles CLBlast's GEMM program (seconds on PoCL; PoCL's kernel cache keeps the
 * result, so re-timing a known set is cheap), which is what the budget mostly pays for. The file
 * is written after stage 2, so an interrupted run keeps progress. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clblast_c.h>

#include "bench_common.h"
#include "blas/gemm_tuning.h"
#include "internal.h" /* clrnn_read_user_file, clrnn_esc */
#include "tool_args.h"

/* ------------------------------------------------------------------------------------------
 * Shapes
 * ---------------------------------------------------------------------------------------- */
#define MAX_SHAPES 64

typedef struct gemm_shape {
    int ta, tb;
    size_t m, n, k;
    double count;       /* GEMMs of this shape per forward of its scenarios */
    char used_by[64];   /* "S1 S3" */
} gemm_shape;

typedef struct shape_list {
    gemm_shape s[MAX_SHAPES];
    int n;
    const char *current; /* scenario being traced */
} shape_list;

static void add_shape(shape_list *l, int ta, int tb, size_t m, size_t n, size_t k, double count, const char *who) {
    for (int i = 0; i < l->n; ++i) {
        gemm_shape *g = &l->s[i];
        if (g->ta == ta && g->tb == tb && g->m == m && g->n == n && g->k == k) {
            g->count += count;
            if (who && !strstr(g->used_by, who) && strlen(g->used_by) + strlen(who) + 2 < sizeof g->used_by) {
                strcat(g->used_by, " ");
                strcat(g->used_by, who);
            }
            return;
        }
    }
    if (l->n >= MAX_SHAPES) return;
    gemm_shape *g = &l->s[l->n++];
    memset(g, 0, sizeof *g);
    g->ta = ta, g->tb = tb, g->m = m, g->n = n, g->k = k, g->count = count;
    snprintf(g->used_by, sizeof g->used_by, "%s", who ? who : "-");
}

static void trace_cb(void *user, int ta, int tb, size_t m, size_t n, size_t k, size_t count) {
    shape_list *l = user;
    add_shape(l, ta, tb, m, n, k, (double)count, l->current);
}

/* Runs each scenario's forward once with GEMMs traced and skipped; on failure why[] says why. */
static clrnn_status trace_scenarios(clrnn_context *ctx, shape_list *l, int verbose, char *why, size_t why_cap) {
    for (size_t i = 0; i < bench_scenario_count; ++i) {
        const bench_scenario *sc = &bench_scenarios[i];
        bench_model m;
        bench_clrnn b;
        if (!bench_model_init(&m, &sc->shape, 1234 + i)) {
            bench_model_free(&m);
            snprintf(why, why_cap, "%s: out of host memory for the network", sc->name);
            return CLRNN_ERR_OUT_OF_MEMORY;
        }
        clrnn_status st = bench_clrnn_init(&b, ctx, &m);
        if (st != CLRNN_OK) snprintf(why, why_cap, "%s: %s", sc->name, b.error);
        if (st == CLRNN_OK) {
            l->current = sc->name;
            clrnn_gemm_set_trace(trace_cb, l, 1);
            st = bench_clrnn_run(&b);
            clrnn_gemm_set_trace(NULL, NULL, 0);
            if (st != CLRNN_OK) snprintf(why, why_cap, "%s: %s", sc->name, clrnn_last_error());
        }
        bench_clrnn_free(&b);
        bench_model_free(&m);
        if (st != CLRNN_OK) return st;
        if (verbose) fprintf(stderr, "traced %s\n", sc->name);
    }
    return CLRNN_OK;
}

/* The input projections of the generic plan (one GEMM per layer, M = T*N, N = D*G*H, K = I_l),
 * which forward.c issues through CLBlast whenever it does not take a specialised kernel path;
 * added unless --traced-only, so the tuning also covers the plans this device did not pick now. */
static void add_generic_plan(shape_list *l) {
    for (size_t i = 0; i < bench_scenario_count; ++i) {
        const bench_scenario *sc = &bench_scenarios[i];
        const bench_shape *s = &sc->shape;
        const int D = s->bidir ? 2 : 1;
        char who[16];
        snprintf(who, sizeof who, "%s*", sc->name);
        for (int layer = 0; layer < s->L; ++layer) {
            const size_t m = (size_t)s->T * s->N, n = (size_t)D * bench_cell_gates(s->cell) * s->H;
            const size_t k = (size_t)bench_layer_input(s, layer);
            int seen = 0;
            for (int j = 0; j < l->n; ++j)
                seen |= l->s[j].m == m && l->s[j].n == n && l->s[j].k == k && !l->s[j].ta && !l->s[j].tb &&
                        strstr(l->s[j].used_by, sc->name) != NULL;
            if (!seen) add_shape(l, 0, 0, m, n, k, 1, who);
        }
    }
}

static int parse_shapes(const char *arg, shape_list *l) {
    const char *p = arg;
    while (*p) {
        unsigned long long m, n, k;
        int used = 0, ta = 0, tb = 0;
        if (sscanf(p, "%llux%llux%llu%n", &m, &n, &k, &used) != 3 || !m || !n || !k) return 0;
        p += used;
        if (*p == '/') {
            if ((p[1] != 'n' && p[1] != 't') || (p[2] != 'n' && p[2] != 't')) return 0;
            ta = p[1] == 't', tb = p[2] == 't';
            p += 3;
        }
        add_shape(l, ta, tb, (size_t)m, (size_t)n, (size_t)k, 1, "cli");
        if (*p == ',') ++p;
        else if (*p) return 0;
    }
    return l->n > 0;
}

static void shapes_string(const gemm_shape *s, int n, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; ++i)
        len += (size_t)snprintf(out + len, cap - len, "%s%zux%zux%zu/%c%c", i ? "," : "", s[i].m, s[i].n, s[i].k,
                                s[i].ta ? 't' : 'n', s[i].tb ? 't' : 'n');
}

static double shape_flops(const gemm_shape *g) { return 2.0 * (double)g->m * (double)g->n * (double)g->k; }

/* ------------------------------------------------------------------------------------------
 * The measuring child: --eval-child SETFILE --shapes LIST --runs R
 * Installs the sets of SETFILE ("-": none, CLBlast's defaults), checks, times each shape and
 * prints "EVAL_OK t1 t2 ..." (ms, best of R after one untimed call) or "EVAL_FAIL reason".
 * ---------------------------------------------------------------------------------------- */
typedef struct gemm_env {
    cl_context cl;
    cl_command_queue q;
    cl_mem a, b, c;
    float *ha, *hb, *hc;
    uint64_t rng;
} gemm_env;

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int env_buffers(gemm_env *e, const gemm_shape *s, int n) {
    size_t na = 77 * 33, nb = 33 * 45, nc = 77 * 45; /* the odd-size check */
    for (int i = 0; i < n; ++i) {
        if (s[i].m * s[i].k > na) na = s[i].m * s[i].k;
        if (s[i].k * s[i].n > nb) nb = s[i].k * s[i].n;
        if (s[i].m * s[i].n > nc) nc = s[i].m * s[i].n;
    }
    e->ha = malloc(na * sizeof(float));
    e->hb = malloc(nb * sizeof(float));
    e->hc = malloc(nc * sizeof(float));
    if (!e->ha || !e->hb || !e->hc) return 0;
    uint64_t r = 42;
    for (size_t i = 0; i < na; ++i) e->ha[i] = (float)((next_rand(&r) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    for (size_t i = 0; i < nb; ++i) e->hb[i] = (float)((next_rand(&r) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    cl_int e1, e2, e3;
    e->a = clCreateBuffer(e->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, na * sizeof(float), e->ha, &e1);
    e->b = clCreateBuffer(e->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nb * sizeof(float), e->hb, &e2);
    e->c = clCreateBuffer(e->cl, CL_MEM_READ_WRITE, nc * sizeof(float), NULL, &e3);
    return e1 == CL_SUCCESS && e2 == CL_SUCCESS && e3 == CL_SUCCESS;
}

static CLBlastStatusCode run_gemm(gemm_env *e, const gemm_shape *g) {
    const size_t lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    return CLBlastSgemm(CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                        g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, 1.0f, e->a, 0, lda, e->b, 0,
                        ldb, 0.0f, e->c, 0, g->n, &e->q, NULL);
}

/* Best of `runs` timed calls after one untimed call; < 0 on failure. */
static double time_gemm(gemm_env *e, const gemm_shape *g, int runs) {
    clFinish(e->q);
    if (run_gemm(e, g) != CLBlastSuccess || clFinish(e->q) != CL_SUCCESS) return -1;
    double best = 1e30;
    for (int r = 0; r < runs; ++r) {
        const double t0 = bench_now_ms();
        if (run_gemm(e, g) != CLBlastSuccess || clFinish(e->q) != CL_SUCCESS) return -1;
        const double dt = bench_now_ms() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

/* Largest relative error of C (from the last GEMM of shape g) against double-precision dot
 * products at `samples` random places, or everywhere when C is smaller. */
static double check_result(gemm_env *e, const gemm_shape *g, size_t samples) {
    const size_t count = g->m * g->n;
    if (clEnqueueReadBuffer(e->q, e->c, CL_TRUE, 0, count * sizeof(float), e->hc, 0, NULL, NULL) != CL_SUCCESS)
        return INFINITY;
    const size_t lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    const int all = count <= samples;
    double worst = 0;
    for (size_t s = 0; s < (all ? count : samples); ++s) {
        const size_t idx = all ? s : (size_t)(next_rand(&e->rng) % count);
        const size_t i = idx / g->n, j = idx % g->n;
        double ref = 0, mag = 0;
        for (size_t p = 0; p < g->k; ++p) {
            const double av = g->ta ? e->ha[p * lda + i] : e->ha[i * lda + p];
            const double bv = g->tb ? e->hb[j * ldb + p] : e->hb[p * ldb + j];
            ref += av * bv;
            mag += fabs(av * bv);
        }
        const double err = fabs(ref - (double)e->hc[idx]) / (mag + 1e-30);
        if (!(err <= worst)) worst = err; /* NaN counts as the worst */
        if (isnan(err)) return INFINITY;
    }
    return worst;
}

static int eval_child(const char *set_file, const char *shapes_arg, int runs, const char *device, const char *cache_dir,
                      int timeout_s) {
    if (timeout_s > 0) alarm((unsigned)timeout_s); /* a hung kernel ends here */
    shape_list l;
    memset(&l, 0, sizeof l);
    if (!parse_shapes(shapes_arg, &l)) {
        printf("EVAL_FAIL bad shapes\n");
        return 1;
    }
    clrnn_context_params p = clrnn_context_default_params();
    p.device = device;
    p.cache_dir = cache_dir;
    p.disable_tuning = 1; /* only what SETFILE says */
    clrnn_context *ctx = NULL;
    if (clrnn_context_create(&p, &ctx) != CLRNN_OK) {
        printf("EVAL_FAIL %s\n", clrnn_last_error());
        return 1;
    }
    clrnn_device_info info;
    clrnn_context_device_info(ctx, &info);
    int rc = 1;
    gemm_env e;
    memset(&e, 0, sizeof e);
    e.cl = clrnn_context_cl_context(ctx);
    e.q = clrnn_context_cl_queue(ctx);
    e.rng = 0x5eedULL;
    double times[MAX_SHAPES];
    if (strcmp(set_file, "-") != 0) {
        clrnn_tuning_set set;
        if (clrnn_tuning_load(set_file, &info, &set) != CLRNN_OK) {
            printf("EVAL_FAIL %s\n", clrnn_last_error());
            goto out;
        }
        for (size_t i = 0; i < set.count; ++i)
            if (clrnn_tuning_override(clrnn_context_cl_device(ctx), &set.kernels[i]) != CLRNN_OK) {
                printf("EVAL_FAIL %s\n", clrnn_last_error());
                goto out;
            }
    }
    if (!env_buffers(&e, l.s, l.n)) {
        printf("EVAL_FAIL out of memory\n");
        goto out;
    }
    const gemm_shape odd = {0, 0, 77, 45, 33, 1, ""};
    if (run_gemm(&e, &odd) != CLBlastSuccess || clFinish(e.q) != CL_SUCCESS) {
        printf("EVAL_FAIL the 77x45x33 check GEMM failed\n");
        goto out;
    }
    if (check_result(&e, &odd, 1 << 20) > 1e-4) {
        printf("EVAL_FAIL wrong results on 77x45x33\n");
        goto out;
    }
    for (int i = 0; i < l.n; ++i) {
        times[i] = time_gemm(&e, &l.s[i], runs);
        if (times[i] < 0) {
            printf("EVAL_FAIL GEMM %zux%zux%zu failed\n", l.s[i].m, l.s[i].n, l.s[i].k);
            goto out;
        }
        if (i == 0 && check_result(&e, &l.s[i], 48) > 1e-4) {
            printf("EVAL_FAIL wrong results on %zux%zux%zu\n", l.s[i].m, l.s[i].n, l.s[i].k);
            goto out;
        }
    }
    printf("EVAL_OK");
    for (int i = 0; i < l.n; ++i) printf(" %.6f", times[i]);
    printf("\n");
    rc = 0;
out:
    if (e.a) clReleaseMemObject(e.a);
    if (e.b) clReleaseMemObject(e.b);
    if (e.c) clReleaseMemObject(e.c);
    free(e.ha), free(e.hb), free(e.hc);
    clrnn_context_destroy(ctx);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * The parent: runs children, keeps score, shows progress
 * ---------------------------------------------------------------------------------------- */
typedef struct tuner {
    char self[1024];
    const char *device, *cache_dir;
    char set_path[1100]; /* scratch file handed to the children */
    clrnn_device_info info;
    int runs, verbose, tty, trials;
    double t_start, budget_ms;
    uint64_t rng;
    char last_fail[256];
} tuner;

static double elapsed_ms(const tuner *t) { return bench_now_ms() - t->t_start; }

static void progress(tuner *t, const char *stage, double best_speedup, const char *fmt, ...) {
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    double frac = t->budget_ms > 0 ? elapsed_ms(t) / t->budget_ms : 0;
    if (frac > 1) frac = 1;
    const int width = 24, fill = (int)(frac * width + 0.5);
    char bar[32];
    for (int i = 0; i < width; ++i) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    const double left_s = t->budget_ms > elapsed_ms(t) ? (t->budget_ms - elapsed_ms(t)) / 1e3 : 0;
    if (t->tty)
        fprintf(stderr, "\r\033[K[%s] %3.0f%% %-12s trial %-4d best x%.2f  %s  ~%dm%02ds left", bar, frac * 100, stage,
                t->trials, best_speedup, msg, (int)left_s / 60, (int)left_s % 60);
    else
        fprintf(stderr, "[%s] %3.0f%% %-12s trial %-4d best x%.2f  %s\n", bar, frac * 100, stage, t->trials,
                best_speedup, msg);
    fflush(stderr);
}

static void progress_done(tuner *t) {
    if (t->tty) fprintf(stderr, "\n");
}

static void params_string(const clrnn_clblast_params *p, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < p->count && n < cap; ++i)
        n += (size_t)snprintf(out + n, cap - n, "%s%s=%zu", i ? " " : "", p->names[i], p->values[i]);
}

/* Runs a child that installs `sets` (later sets replace earlier ones of the same kernel) and
 * times `shapes`. Returns 1 with times[], or 0 (reason in t->last_fail). */
static int evaluate(tuner *t, const clrnn_clblast_params *const *sets, int n_sets, const gemm_shape *shapes,
                    int n_shapes, int runs, double *times) {
    ++t->trials;
    t->last_fail[0] = '\0';
    const char *set_arg = "-";
    if (n_sets > 0) {
        clrnn_tuning_set set;
        memset(&set, 0, sizeof set);
        for (int i = 0; i < n_sets; ++i) clrnn_tuning_put(&set, sets[i]);
        if (clrnn_tuning_save(t->set_path, &t->info, &set, NULL) != CLRNN_OK) {
            snprintf(t->last_fail, sizeof t->last_fail, "%s", clrnn_last_error());
            return 0;
        }
        set_arg = t->set_path;
    }
    static char shapes_arg[MAX_SHAPES * 48];
    shapes_string(shapes, n_shapes, shapes_arg, sizeof shapes_arg);
    char runs_arg[16];
    snprintf(runs_arg, sizeof runs_arg, "%d", runs);
    const char *argv[16];
    int a = 0;
    argv[a++] = t->self, argv[a++] = "--eval-child", argv[a++] = set_arg, argv[a++] = "--shapes";
    argv[a++] = shapes_arg, argv[a++] = "--runs", argv[a++] = runs_arg;
    if (t->device) argv[a++] = "--device", argv[a++] = t->device;
    if (t->cache_dir) argv[a++] = "--cache-dir", argv[a++] = t->cache_dir;
    argv[a] = NULL;
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(t->last_fail, sizeof t->last_fail, "pipe: %s", strerror(errno));
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        snprintf(t->last_fail, sizeof t->last_fail, "fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]), close(fds[1]);
        execv(t->self, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[MAX_SHAPES * 24 + 512];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const char *ok = strstr(buf, "EVAL_OK");
    if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        const char *p = ok + 7;
        for (int i = 0; i < n_shapes; ++i) {
            char *end = NULL;
            times[i] = strtod(p, &end);
            if (end == p || !(times[i] > 0)) {
                snprintf(t->last_fail, sizeof t->last_fail, "unreadable child output");
                return 0;
            }
            p = end;
        }
        return 1;
    }
    const char *fail = strstr(buf, "EVAL_FAIL ");
    if (fail) snprintf(t->last_fail, sizeof t->last_fail, "%.*s", (int)strcspn(fail + 10, "\n"), fail + 10);
    else if (WIFSIGNALED(status))
        snprintf(t->last_fail, sizeof t->last_fail, "the child died of signal %d (%s)", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? "timed out" : "crashed");
    else
        snprintf(t->last_fail, sizeof t->last_fail, "the child failed (status %d)", status);
    return 0;
}

/* Mean time relative to the reference times (lower is better). */
static double rel_score(const double *times, const double *ref, int n) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += times[i] / ref[i];
    return s / n;
}

static void set_routine(clrnn_clblast_params *r, size_t min_indirect) {
    memset(r, 0, sizeof *r);
    snprintf(r->kernel, sizeof r->kernel, "GemmRoutine");
    clrnn_tuning_set_value(r, "XGEMM_MIN_INDIRECT_SIZE", min_indirect);
}

static clrnn_clblast_params make_params(const char *kernel, const char *const *names, const size_t *values) {
    clrnn_clblast_params p;
    memset(&p, 0, sizeof p);
    snprintf(p.kernel, sizeof p.kernel, "%s", kernel);
    for (int i = 0; names[i]; ++i) clrnn_tuning_set_value(&p, names[i], values[i]);
    return p;
}

static int same_params(const clrnn_clblast_params *a, const clrnn_clblast_params *b) {
    if (strcmp(a->kernel, b->kernel) != 0 || a->count != b->count) return 0;
    for (size_t i = 0; i < a->count; ++i)
        if (clrnn_tuning_get(b, a->names[i], (size_t)-1) != a->values[i]) return 0;
    return 1;
}

/* Value domains of the local search. */
typedef struct domain {
    const char *name;
    size_t vals[8];
    int n;
} domain;

static const domain xgemm_domain[] = {
    {"GEMMK", {0, 1}, 2},          {"MWG", {16, 32, 64, 128}, 4},    {"NWG", {16, 32, 64, 128}, 4},
    {"KWG", {16, 32}, 2},          {"MDIMC", {4, 8, 16, 32}, 4},     {"NDIMC", {4, 8, 16, 32}, 4},
    {"MDIMA", {4, 8, 16, 32}, 4},  {"NDIMB", {4, 8, 16, 32}, 4},     {"VWM", {1, 2, 4, 8, 16}, 5},
    {"VWN", {1, 2, 4, 8, 16}, 5},  {"SA", {0, 1}, 2},                {"SB", {0, 1}, 2},
    {"STRM", {0, 1}, 2},           {"STRN", {0, 1}, 2},              {"KREG", {1, 2, 4, 8, 16}, 5},
};
static const domain direct_domain[] = {
    {"WGD", {8, 16, 32, 64}, 4},    {"MDIMCD", {4, 8, 16, 32}, 4}, {"NDIMCD", {4, 8, 16, 32}, 4},
    {"MDIMAD", {4, 8, 16, 32}, 4},  {"NDIMBD", {4, 8, 16, 32}, 4}, {"KWID", {2, 8, 16}, 3},
    {"VWMD", {1, 2, 4, 8}, 4},      {"VWND", {1, 2, 4, 8}, 4},     {"PADA", {0, 1}, 2},
    {"PADB", {0, 1}, 2},
};
static const domain copy_domain[] = {
    {"COPY_DIMX", {8, 16, 32}, 3}, {"COPY_DIMY", {8, 16, 32}, 3}, {"COPY_VW", {1, 2, 4, 8}, 4}, {"COPY_WPT", {1, 2, 4}, 3}};
static const domain pad_domain[] = {
    {"PAD_DIMX", {8, 16, 32}, 3}, {"PAD_DIMY", {8, 16, 32}, 3}, {"PAD_WPTX", {1, 2, 4}, 3}, {"PAD_WPTY", {1, 2, 4}, 3}};
static const domain transpose_domain[] = {
    {"TRA_DIM", {4, 8, 16, 32}, 4}, {"TRA_PAD", {0, 1}, 2}, {"TRA_SHUFFLE", {0, 1}, 2}, {"TRA_WPT", {1, 2, 4, 8, 16}, 5}};
static const domain padtranspose_domain[] = {
    {"PADTRA_TILE", {8, 16, 32, 64}, 4}, {"PADTRA_WPT", {1, 2, 4, 8, 16}, 5}, {"PADTRA_PAD", {0, 1}, 2}};

typedef struct stage {
    const char *name;
    const domain *dom;
    int n_dom;
    clrnn_clblast_params best;
    double best_score; /* relative to the stage's reference; the fastest measurement of the best */
    int have_best;
    clrnn_clblast_params *tried; /* [MAX_TRIED] */
    int n_tried;
} stage;

#define MAX_TRIED 1024

static stage stage_make(const char *name, const domain *dom, int n_dom, clrnn_clblast_params *tried) {
    stage s;
    memset(&s, 0, sizeof s);
    s.name = name, s.dom = dom, s.n_dom = n_dom, s.tried = tried;
    return s;
}

static int already_tried(stage *s, const clrnn_clblast_params *p) {
    for (int i = 0; i < s->n_tried; ++i)
        if (same_params(&s->tried[i], p)) return 1;
    if (s->tried && s->n_tried < MAX_TRIED) s->tried[s->n_tried++] = *p;
    return 0;
}

/* Starts a stage from `p` (its times become the reference, so scores read as relative time). */
static int stage_start(tuner *t, stage *s, const clrnn_clblast_params *p, const clrnn_clblast_params *const *fixed,
                       int n_fixed, const gemm_shape *shapes, int n_shapes, double *ref) {
    const clrnn_clblast_params *sets[8];
    int n = 0;
    for (int i = 0; i < n_fixed && n < 7; ++i) sets[n++] = fixed[i];
    sets[n++] = p;
    already_tried(s, p);
    if (!evaluate(t, sets, n, shapes, n_shapes, t->runs, ref)) {
        if (t->verbose) fprintf(stderr, "%s%s start failed: %s\n", t->tty ? "\r\033[K" : "", s->name, t->last_fail);
        return 0;
    }
    s->best = *p, s->best_score = 1, s->have_best = 1;
    progress(t, s->name, 1.0, "reference");
    return 1;
}

/* Evaluates candidate p with `fixed` sets installed first. A candidate that beats the best by more
 * than `margin` (relative) is confirmed by timing the best and the candidate once more, back to
 * back: each side keeps its fastest measurement. Returns 1 if p became the best. */
static int consider(tuner *t, stage *s, const clrnn_clblast_params *p, const clrnn_clblast_params *const *fixed,
                    int n_fixed, const gemm_shape *shapes, const double *ref, int n_shapes, double margin,
                    double *scratch) {
    if (already_tried(s, p)) return 0;
    char why[256], ps[400];
    if (!clrnn_tuning_valid(p, t->info.local_mem_bytes, t->info.max_work_group_size, why, sizeof why)) return 0;
    params_string(p, ps, sizeof ps);
    const clrnn_clblast_params *sets[8];
    int n = 0;
    for (int i = 0; i < n_fixed && n < 7; ++i) sets[n++] = fixed[i];
    sets[n++] = p;
    if (!evaluate(t, sets, n, shapes, n_shapes, t->runs, scratch)) {
        if (t->verbose) fprintf(stderr, "%s%s rejected: %s: %s\n", t->tty ? "\r\033[K" : "", s->name, ps, t->last_fail);
        progress(t, s->name, s->have_best ? 1.0 / s->best_score : 1.0, "(candidate failed)");
        return 0;
    }
    double score = rel_score(scratch, ref, n_shapes);
    int won = !s->have_best || score < s->best_score * (1.0 - margin);
    if (won && s->have_best) {
        double *again = scratch + n_shapes;
        sets[n - 1] = &s->best;
        if (evaluate(t, sets, n, shapes, n_shapes, t->runs, again)) {
            const double inc = rel_score(again, ref, n_shapes);
            if (inc < s->best_score) s->best_score = inc;
        }
        sets[n - 1] = p;
        if (evaluate(t, sets, n, shapes, n_shapes, t->runs, again)) {
            const double sc2 = rel_score(again, ref, n_shapes);
            if (sc2 < score) score = sc2;
        }
        won = score < s->best_score * (1.0 - margin);
    }
    if (won) {
        s->best = *p;
        s->best_score = score;
        s->have_best = 1;
    }
    if (t->verbose) fprintf(stderr, "%s%s x%.3f %s%s\n", t->tty ? "\r\033[K" : "", s->name, 1.0 / score, ps, won ? "  *" : "");
    progress(t, s->name, 1.0 / s->best_score, "last x%.2f", 1.0 / score);
    return won;
}

/* Makes a neighbour consistent where one change forces others (the two Xgemm kernels use
 * different parameters; A/B loading tiles follow the thread tiles). */
static void repair(clrnn_clblast_params *p, const char *changed) {
    if (strcmp(p->kernel, "Xgemm") == 0) {
        const size_t gemmk = clrnn_tuning_get(p, "GEMMK", 0);
        if (gemmk == 1) {
            clrnn_tuning_set_value(p, "KWG", 1), clrnn_tuning_set_value(p, "KWI", 1);
            clrnn_tuning_set_value(p, "SA", 0), clrnn_tuning_set_value(p, "SB", 0);
            clrnn_tuning_set_value(p, "STRM", 0), clrnn_tuning_set_value(p, "STRN", 0);
            clrnn_tuning_set_value(p, "MDIMA", clrnn_tuning_get(p, "MDIMC", 8));
            clrnn_tuning_set_value(p, "NDIMB", clrnn_tuning_get(p, "NDIMC", 8));
            size_t vwn = clrnn_tuning_get(p, "VWN", 1), kreg = clrnn_tuning_get(p, "KREG", 1);
            if (kreg % vwn) clrnn_tuning_set_value(p, "KREG", vwn);
        } else {
            if (clrnn_tuning_get(p, "KWG", 1) < 16) clrnn_tuning_set_value(p, "KWG", 32);
            clrnn_tuning_set_value(p, "KWI", 2), clrnn_tuning_set_value(p, "KREG", 1);
            if (strcmp(changed, "MDIMC") == 0) clrnn_tuning_set_value(p, "MDIMA", clrnn_tuning_get(p, "MDIMC", 8));
            if (strcmp(changed, "NDIMC") == 0) clrnn_tuning_set_value(p, "NDIMB", clrnn_tuning_get(p, "NDIMC", 8));
        }
    } else if (strcmp(p->kernel, "XgemmDirect") == 0) {
        if (strcmp(changed, "MDIMCD") == 0) clrnn_tuning_set_value(p, "MDIMAD", clrnn_tuning_get(p, "MDIMCD", 8));
        if (strcmp(changed, "NDIMCD") == 0) clrnn_tuning_set_value(p, "NDIMBD", clrnn_tuning_get(p, "NDIMCD", 8));
    }
}

/* First-improvement local search around s->best until `deadline` (ms since start). */
static void local_search(tuner *t, stage *s, const clrnn_clblast_params *const *fixed, int n_fixed,
                         const gemm_shape *shapes, const double *ref, int n_shapes, double deadline, double *scratch) {
    int improved = 1;
    while (improved && s->have_best && elapsed_ms(t) < deadline) {
        improved = 0;
        /* all single-parameter neighbours, in random order */
        clrnn_clblast_params cand[160];
        int nc = 0;
        for (int d = 0; d < s->n_dom; ++d)
            for (int v = 0; v < s->dom[d].n && nc < 160; ++v) {
                if (clrnn_tuning_get(&s->best, s->dom[d].name, (size_t)-1) == s->dom[d].vals[v]) continue;
                clrnn_clblast_params p = s->best;
                clrnn_tuning_set_value(&p, s->dom[d].name, s->dom[d].vals[v]);
                repair(&p, s->dom[d].name);
                char why[256];
                if (!clrnn_tuning_valid(&p, t->info.local_mem_bytes, t->info.max_work_group_size, why, sizeof why))
                    continue;
                cand[nc++] = p;
            }
        for (int i = nc - 1; i > 0; --i) {
            const int j = (int)(next_rand(&t->rng) % (uint64_t)(i + 1));
            clrnn_clblast_params tmp = cand[i];
            cand[i] = cand[j];
            cand[j] = tmp;
        }
        for (int i = 0; i < nc && elapsed_ms(t) < deadline; ++i)
            if (consider(t, s, &cand[i], fixed, n_fixed, shapes, ref, n_shapes, 0.02, scratch)) {
                improved = 1;
                break;
            }
    }
}

/* ------------------------------------------------------------------------------------------
 * Seeds
 * ---------------------------------------------------------------------------------------- */
static const char *const xgemm_names[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                          "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN", NULL};
/* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN */
static const size_t xgemm_seeds[][16] = {
    {0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2},    /* CLBlast 1.5 generic default */
    {0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},    /* CLBlast 1.5 Intel CPU default */
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},      /* clblast_tuner_xgemm best on PoCL/AVX-512 */
    {0, 1, 32, 2, 8, 8, 128, 8, 8, 128, 0, 0, 0, 0, 4, 4},
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 128, 0, 0, 0, 0, 4, 8},
    {0, 1, 16, 2, 8, 8, 128, 8, 8, 128, 1, 1, 1, 0, 1, 8},    /* CLBlast: i7-4790K */
    {1, 4, 1, 1, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},       /* GEMMK=1: no transposes for row-major */
    {1, 8, 1, 1, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 8, 8},
    {1, 16, 1, 1, 8, 8, 128, 8, 8, 64, 0, 0, 0, 0, 8, 8},
    {1, 2, 1, 1, 16, 16, 64, 4, 4, 64, 0, 0, 0, 0, 1, 1},     /* CLBlast: i9-9980HK */
};
static const char *const direct_names[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                           "PADA", "PADB", "VWMD", "VWND", "WGD", NULL};
/* KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD */
static const size_t direct_seeds[][10] = {
    {2, 8, 8, 8, 8, 1, 1, 1, 1, 16},   /* CLBlast 1.5 generic default */
    {8, 8, 8, 8, 8, 0, 0, 8, 4, 64},   /* CLBlast: i5-4590S */
    {2, 8, 8, 8, 8, 0, 0, 4, 4, 32},
    {2, 4, 4, 4, 4, 0, 0, 8, 8, 32},
    {8, 8, 8, 8, 8, 0, 0, 4, 4, 64},
    {2, 8, 8, 8, 8, 1, 1, 2, 2, 32},
};
/* CLBlast 1.5 generic defaults of the helper kernels: the starting points of their search. */
static const char *const copy_names[] = {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT", NULL};
static const size_t copy_start[] = {16, 16, 4, 2};
static const char *const pad_names[] = {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY", NULL};
static const size_t pad_start[] = {32, 8, 2, 1};
static const char *const transpose_names[] = {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT", NULL};
static const size_t transpose_start[] = {8, 0, 1, 4};
static const char *const padtranspose_names[] = {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT", NULL};
static const size_t padtranspose_start[] = {0, 8, 4};

/* ------------------------------------------------------------------------------------------
 * Reporting
 * ---------------------------------------------------------------------------------------- */
static void print_table_rows(const clrnn_tuning_set *set, const clrnn_device_info *info) {
    printf("    /* %s | %s | %s */\n", info->name, info->driver_version, info->platform_version);
    for (size_t i = 0; i < set->count; ++i) {
        const clrnn_clblast_params *p = &set->kernels[i];
        printf("    {\"Portable Computing Language\", NULL, CLRNN_DEVICE_TYPE_CPU, \"%s\", %zu,\n     {", p->kernel,
               p->count);
        for (size_t j = 0; j < p->count; ++j) printf("%s\"%s\"", j ? ", " : "", p->names[j]);
        printf("},\n     {");
        for (size_t j = 0; j < p->count; ++j) printf("%s%zu", j ? ", " : "", p->values[j]);
        printf("}},\n");
    }
}

static const char *source_name(clrnn_tuning_source s) {
    return s == CLRNN_TUNING_FROM_FILE ? "tuning file" : s == CLRNN_TUNING_FROM_TABLE ? "shipped table" : "CLBlast";
}

static void print_comparison(const shape_list *l, const char *before_name, const double *before,
                             const char *after_name, const double *after) {
    printf("%-22s %-16s %5s %14s %14s %8s\n", "GEMM (MxNxK)", "used by", "count", before_name, after_name, "speedup");
    double tb = 0, ta = 0;
    for (int i = 0; i < l->n; ++i) {
        const gemm_shape *g = &l->s[i];
        char dims[48];
        snprintf(dims, sizeof dims, "%zux%zux%zu%s%s", g->m, g->n, g->k, g->ta ? " tA" : "", g->tb ? " tB" : "");
        const double f = shape_flops(g) / 1e6;
        printf("%-22s %-16s %5.0f %8.1f GF/s %8.1f GF/s %7.2fx\n", dims, g->used_by, g->count, f / before[i],
               f / after[i], before[i] / after[i]);
        tb += g->count * before[i];
        ta += g->count * after[i];
    }
    printf("%-22s %-16s %5s %11.1f ms %11.1f ms %7.2fx\n", "all (x count)", "", "", tb, ta, tb / ta);
}

/* ------------------------------------------------------------------------------------------
 * --import: CLBlast tuner JSON → tuning set
 * ---------------------------------------------------------------------------------------- */
static int import_json(const char *path, clrnn_tuning_set *set) {
    /* the library's reader: a directory or FIFO is refused, not read or waited on forever */
    unsigned char *data = NULL;
    size_t n = 0;
    if (clrnn_read_user_file(path, "tuner file", &data, &n) != CLRNN_OK) {
        fprintf(stderr, "clrnn-tune: --import: %s\n", clrnn_last_error());
        return 0;
    }
    char *buf = (char *)data;
    buf[n] = '\0'; /* clrnn_read_user_file allocates one byte more */
    /* {"kernel_family": "xgemm_1", ..., "best_parameters": "GEMMK=0 KREG=1 ..."}: the family names
     * the tuner (and so the database kernel); the tuners' kernel names are OpenCL function names */
    char family[64] = "", params[1024] = "";
    const char *k = strstr(buf, "\"kernel_family\"");
    const char *p = strstr(buf, "\"best_parameters\"");
    if (k) sscanf(strchr(k + 15, '"') ? strchr(k + 15, '"') + 1 : "", "%63[^\"]", family);
    if (p) sscanf(strchr(p + 17, '"') ? strchr(p + 17, '"') + 1 : "", "%1023[^\"]", params);
    free(buf);
    char shown[256]; /* the family comes from the file: escaped for the terminal */
    clrnn_esc(family, shown, sizeof shown);
    if (!family[0] || !params[0]) {
        fprintf(stderr, "clrnn-tune: %s has no kernel_family / best_parameters\n", path);
        return 0;
    }
    clrnn_clblast_params cp;
    memset(&cp, 0, sizeof cp);
    const char *db = strncmp(family, "xgemm_direct", 12) == 0   ? "XgemmDirect"
                     : strncmp(family, "xgemm", 5) == 0         ? "Xgemm"
                     : strncmp(family, "padtranspose", 12) == 0 ? "Padtranspose"
                     : strncmp(family, "transpose", 9) == 0     ? "Transpose"
                     : strncmp(family, "copy", 4) == 0          ? "Copy"
                     : strncmp(family, "pad", 3) == 0           ? "Pad"
                     : strncmp(family, "gemm_routine", 12) == 0 ? "GemmRoutine"
                                                                : family;
    if (strlen(db) >= sizeof cp.kernel) {
        fprintf(stderr, "clrnn-tune: %s: tuner family %s is not one clrnn tunes\n", path, shown);
        return 0;
    }
    memcpy(cp.kernel, db, strlen(db) + 1);
    const char *const *names = clrnn_tuning_param_names(cp.kernel);
    if (!names) {
        fprintf(stderr, "clrnn-tune: %s: tuner family %s is not one clrnn tunes\n", path, shown);
        return 0;
    }
    char *save = NULL;
    for (char *tok = strtok_r(params, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = '\0';
        for (int i = 0; names[i]; ++i)
            if (strcmp(names[i], tok) == 0) clrnn_tuning_set_value(&cp, tok, (size_t)strtoull(eq + 1, NULL, 10));
    }
    /* CLBlast 1.5 tuners omit parameters fixed by the kernel variant */
    if (strcmp(cp.kernel, "Xgemm") == 0 && clrnn_tuning_get(&cp, "GEMMK", (size_t)-1) == (size_t)-1)
        clrnn_tuning_set_value(&cp, "GEMMK", 0);
    char why[256];
    if (!clrnn_tuning_valid(&cp, 0, 0, why, sizeof why)) {
        char why_shown[1024];
        fprintf(stderr, "clrnn-tune: %s: %s\n", path, clrnn_esc(why, why_shown, sizeof why_shown));
        return 0;
    }
    clrnn_tuning_put(set, &cp);
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------------------------- */
static void usage(FILE *f) {
    fprintf(f,
            "usage: clrnn-tune [--device SPEC] [--cache-dir DIR] [--budget SECONDS] [--quick]\n"
            "                  [--shapes MxNxK[/ab][,...]] [--traced-only] [--output FILE] [--no-write] [--table]\n"
            "                  [--seed N] [--verbose] [--version]\n"
            "       clrnn-tune --show | --measure [--shapes ...] | [--output FILE] --import FILE.json...\n"
            "Tunes CLBlast's GEMM kernels for the GEMMs clrnn issues on the device and writes the\n"
            "device's tuning file (<cache dir>/clblast-<key>.txt), applied by every later context.\n");
}

/* Stages 1 and 2: one GEMM kernel with its path forced, from each of its seeds (n_seeds rows of
 * seed_len values; the first, CLBlast's default, is the reference) and then a local search, until
 * `deadline`; the best set found goes into result. */
static void seeded_stage(tuner *t, stage *s, const char *const *names, const size_t *seeds, size_t n_seeds,
                         size_t seed_len, const clrnn_clblast_params *force, const gemm_shape *shapes, int n_shapes,
                         double *ref, double deadline, double *scratch, clrnn_tuning_set *result) {
    if (n_shapes <= 0) return;
    const clrnn_clblast_params *fx[] = {force};
    for (size_t i = 0; i < n_seeds && elapsed_ms(t) < deadline; ++i) {
        clrnn_clblast_params p = make_params(s->name, names, seeds + i * seed_len);
        if (!s->have_best) stage_start(t, s, &p, fx, 1, shapes, n_shapes, ref);
        else consider(t, s, &p, fx, 1, shapes, ref, n_shapes, 0.01, scratch);
    }
    local_search(t, s, fx, 1, shapes, ref, n_shapes, deadline, scratch);
    if (s->have_best) clrnn_tuning_put(result, &s->best);
}

/* Stage 1-4 search; returns 1 with the chosen sets in *result. */
static int search(tuner *t, const shape_list *shapes, int quick, clrnn_tuning_set *result,
                  const char *path, int no_write) {
    const int n = shapes->n;
    gemm_shape big[MAX_SHAPES], small[MAX_SHAPES];
    int n_big = 0, n_small = 0;
    const size_t m_cap = quick ? 1024 : 2048;
    for (int i = 0; i < n; ++i) {
        gemm_shape g = shapes->s[i];
        const double mnk = (double)g.m * g.n * g.k;
        if (mnk >= 64.0 * 64 * 64) {
            if (g.m > m_cap) g.m = m_cap;
            int dup = 0;
            for (int j = 0; j < n_big; ++j)
                dup |= big[j].m == g.m && big[j].n == g.n && big[j].k == g.k && big[j].ta == g.ta && big[j].tb == g.tb;
            if (!dup) big[n_big++] = g;
        }
        if (mnk < 2048.0 * 2048 * 2048) small[n_small++] = shapes->s[i];
    }
    double ref_big[MAX_SHAPES], ref_small[MAX_SHAPES], scratch[2 * MAX_SHAPES];
    clrnn_clblast_params force_indirect, force_direct;
    set_routine(&force_indirect, 1);
    set_routine(&force_direct, 1 << 20);
    memset(result, 0, sizeof *result);
    static clrnn_clblast_params tried[3][MAX_TRIED];

    /* 1. Xgemm, indirect path forced; reference = CLBlast's generic default (seed 0) */
    stage sx = stage_make("Xgemm", xgemm_domain, (int)(sizeof xgemm_domain / sizeof xgemm_domain[0]), tried[0]);
    seeded_stage(t, &sx, xgemm_names, xgemm_seeds[0], sizeof xgemm_seeds / sizeof xgemm_seeds[0],
                 sizeof xgemm_seeds[0] / sizeof xgemm_seeds[0][0], &force_indirect, big, n_big, ref_big,
                 t->budget_ms * 0.55, scratch, result);
    progress_done(t);

    /* 2. XgemmDirect, direct path forced, on the shapes small enough to go direct */
    stage sd = stage_make("XgemmDirect", direct_domain, (int)(sizeof direct_domain / sizeof direct_domain[0]), tried[1]);
    seeded_stage(t, &sd, direct_names, direct_seeds[0], sizeof direct_seeds / sizeof direct_seeds[0],
                 sizeof direct_seeds[0] / sizeof direct_seeds[0][0], &force_direct, small, n_small, ref_small,
                 t->budget_ms * 0.78, scratch, result);
    progress_done(t);
    if (!no_write && path[0] && result->count) clrnn_tuning_save(path, &t->info, result, "partial: stages 1-2");

    /* 3. helper kernels with the chosen Xgemm, indirect path: kept only on a clear win */
    if (n_big > 0 && sx.have_best) {
        struct {
            const char *kernel;
            const char *const *names;
            const size_t *start;
            const domain *dom;
            int n_dom;
        } helpers[] = {
            {"Copy", copy_names, copy_start, copy_domain, 4},
            {"Pad", pad_names, pad_start, pad_domain, 4},
            {"Transpose", transpose_names, transpose_start, transpose_domain, 4},
            {"Padtranspose", padtranspose_names, padtranspose_start, padtranspose_domain, 3},
        };
        for (int h = 0; h < 4; ++h) {
            const double deadline = t->budget_ms * (0.78 + 0.03 * (h + 1));
            if (elapsed_ms(t) >= deadline) continue;
            stage sh = stage_make(helpers[h].kernel, helpers[h].dom, helpers[h].n_dom, tried[2]);
            const clrnn_clblast_params *fx[] = {&force_indirect, &sx.best};
            clrnn_clblast_params p = make_params(helpers[h].kernel, helpers[h].names, helpers[h].start);
            double ref[MAX_SHAPES];
            if (stage_start(t, &sh, &p, fx, 2, big, n_big, ref)) {
                local_search(t, &sh, fx, 2, big, ref, n_big, deadline, scratch);
                if (sh.best_score < 0.97 && !same_params(&sh.best, &p)) clrnn_tuning_put(result, &sh.best);
            }
        }
        progress_done(t);
    }

    /* 4. crossover: each shape timed both ways at full size with everything chosen so far, plus
     * small square probes so that the threshold also means something below the shapes seen */
    {
        static const size_t probes[] = {32, 64, 128, 192, 256};
        const int n_probe = (int)(sizeof probes / sizeof probes[0]);
        gemm_shape all[MAX_SHAPES + 8], dshapes[MAX_SHAPES + 8];
        double t_ind[MAX_SHAPES + 8], t_dir[MAX_SHAPES + 8], weight[MAX_SHAPES + 8];
        int na = 0, nd = 0, map[MAX_SHAPES + 8];
        for (int i = 0; i < n; ++i) all[na] = shapes->s[i], weight[na++] = 1.0;
        for (int i = 0; i < n_probe && na < MAX_SHAPES; ++i) {
            const gemm_shape g = {0, 0, probes[i], probes[i], probes[i], 1, "probe"};
            all[na] = g, weight[na++] = 0.25;
        }
        for (int i = 0; i < na; ++i) {
            t_dir[i] = INFINITY;
            if ((double)all[i].m * all[i].n * all[i].k < 2048.0 * 2048 * 2048) {
                map[nd] = i;
                dshapes[nd++] = all[i];
            }
        }
        const clrnn_clblast_params *sets[CLRNN_TUNING_MAX_KERNELS + 1];
        int ns = 0;
        for (size_t i = 0; i < result->count; ++i) sets[ns++] = &result->kernels[i];
        sets[ns] = &force_indirect;
        progress(t, "crossover", 1.0, "indirect, full size");
        int ok = evaluate(t, sets, ns + 1, all, na, t->runs, t_ind);
        if (ok && nd > 0) {
            sets[ns] = &force_direct;
            progress(t, "crossover", 1.0, "direct, full size");
            ok = evaluate(t, sets, ns + 1, dshapes, nd, t->runs, scratch);
            for (int j = 0; ok && j < nd; ++j) t_dir[map[j]] = scratch[j];
        }
        progress_done(t);
        if (ok) {
            /* candidate thresholds: just above each shape's cube root, and the extremes; cost: the
             * weighted time relative to the better path of each shape */
            size_t cands[MAX_SHAPES + 10];
            int nc = 0;
            cands[nc++] = 1;
            cands[nc++] = 1 << 20;
            for (int i = 0; i < na; ++i) cands[nc++] = (size_t)ceil(cbrt((double)all[i].m * all[i].n * all[i].k)) + 1;
            size_t best_x = 1;
            double best_cost = INFINITY;
            for (int c = 0; c < nc; ++c) {
                const double x3 = (double)cands[c] * cands[c] * cands[c];
                double cost = 0;
                for (int i = 0; i < na; ++i) {
                    const double mnk = (double)all[i].m * all[i].n * all[i].k;
                    const double best = t_dir[i] < t_ind[i] ? t_dir[i] : t_ind[i];
                    cost += weight[i] * (mnk < x3 ? t_dir[i] : t_ind[i]) / best;
                }
                /* ties: the smaller threshold (fewer shapes on the direct path) */
                if (cost < best_cost * (1 - 1e-9) || (cost <= best_cost && cands[c] < best_x)) {
                    best_cost = cost;
                    best_x = cands[c];
                }
            }
            clrnn_clblast_params r;
            set_routine(&r, best_x);
            clrnn_tuning_put(result, &r);
            if (t->verbose)
                for (int i = 0; i < na; ++i)
                    fprintf(stderr, "  %zux%zux%zu indirect %.3f ms direct %.3f ms\n", all[i].m, all[i].n, all[i].k,
                            t_ind[i], t_dir[i]);
        } else {
            fprintf(stderr, "clrnn-tune: crossover timing failed (%s); CLBlast's threshold kept\n", t->last_fail);
        }
    }
    return result->count > 0;
}

int main(int argc, char **argv) {
    const char *device = NULL, *cache_dir = NULL, *output = NULL, *shapes_arg = NULL, *eval_file = NULL;
    double budget_s = 900;
    int quick = 0, no_write = 0, table = 0, verbose = 0, show = 0, measure = 0, import_first = 0, traced_only = 0;
    int runs = 0, timeout_s = 600;
    uint64_t seed = 0x5eed;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const int has = i + 1 < argc;
        if (strcmp(a, "--device") == 0 && has) device = argv[++i];
        else if (strcmp(a, "--cache-dir") == 0 && has) cache_dir = argv[++i];
        else if (strcmp(a, "--budget") == 0 && has) {
            if (!tool_double("clrnn-tune", a, argv[++i], 1, 1e7, &budget_s)) return 2;
        }
        else if (strcmp(a, "--shapes") == 0 && has) shapes_arg = argv[++i];
        else if (strcmp(a, "--output") == 0 && has) output = argv[++i];
        else if (strcmp(a, "--seed") == 0 && has) {
            if (!tool_u64("clrnn-tune", a, argv[++i], &seed)) return 2;
            seed |= 1;
        } else if (strcmp(a, "--runs") == 0 && has) {
            if (!tool_int("clrnn-tune", a, argv[++i], 1, 1000, &runs)) return 2;
        }
        else if (strcmp(a, "--eval-child") == 0 && has) eval_file = argv[++i];
        else if (strcmp(a, "--quick") == 0) quick = 1;
        else if (strcmp(a, "--no-write") == 0) no_write = 1;
        else if (strcmp(a, "--table") == 0) table = 1;
        else if (strcmp(a, "--traced-only") == 0) traced_only = 1;
        else if (strcmp(a, "--verbose") == 0) verbose = 1;
        else if (strcmp(a, "--show") == 0) show = 1;
        else if (strcmp(a, "--measure") == 0) measure = 1;
        else if (strcmp(a, "--import") == 0 && has) {
            import_first = i + 1;
            break;
        } else if (strcmp(a, "--version") == 0) {
            return tool_version("clrnn-tune");
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "clrnn-tune: unknown or incomplete option %s (see --help)\n", a);
            return 2;
        }
    }
    if (eval_file) return eval_child(eval_file, shapes_arg ? shapes_arg : "", runs > 0 ? runs : 3, device, cache_dir, timeout_s);
    if (quick && budget_s == 900) budget_s = 180;

    clrnn_context_params params = clrnn_context_default_params();
    params.device = device;
    params.cache_dir = cache_dir;
    params.disable_tuning = 1; /* this process never runs a GEMM; --show/--measure apply explicitly */
    clrnn_context *ctx = NULL;
    if (clrnn_context_create(&params, &ctx) != CLRNN_OK) {
        fprintf(stderr, "clrnn-tune: %s\n", clrnn_last_error());
        return 2;
    }
    tuner t;
    memset(&t, 0, sizeof t);
    t.device = device;
    t.cache_dir = cache_dir;
    clrnn_context_device_info(ctx, &t.info);
    t.runs = runs > 0 ? runs : quick ? 2 : 3;
    t.verbose = verbose;
    t.tty = isatty(fileno(stderr));
    t.rng = seed;
    {
        ssize_t len = readlink("/proc/self/exe", t.self, sizeof t.self - 1);
        if (len > 0) t.self[len] = '\0';
        else snprintf(t.self, sizeof t.self, "%s", argv[0]);
    }
    char path[1100];
    if (output) snprintf(path, sizeof path, "%s", output);
    else if (!clrnn_tuning_context_path(ctx, path, sizeof path)) path[0] = '\0';
    int rc = 0;

    if (show) {
        clrnn_tuning_report rep;
        clrnn_gemm_apply_tuning_report(ctx, &rep);
        printf("device:      %s (%s)\n", t.info.name, t.info.platform_name);
        printf("tuning file: %s (%s)\n", rep.path[0] ? rep.path : "(no cache directory)",
               rep.file_state == 1 ? "loaded" : rep.file_state < 0 ? "REJECTED" : "absent");
        if (rep.warning[0]) printf("warning:     %s\n", rep.warning);
        for (size_t i = 0; i < rep.count; ++i) {
            char ps[400];
            params_string(&rep.applied[i], ps, sizeof ps);
            printf("  %-13s from %-13s %s\n", rep.applied[i].kernel, source_name(rep.source[i]), ps);
        }
        if (rep.count == 0) printf("  (nothing applied: CLBlast's own database is used)\n");
        clrnn_context_destroy(ctx);
        return 0;
    }

    if (import_first) {
        clrnn_tuning_set set;
        memset(&set, 0, sizeof set);
        for (int i = import_first; i < argc; ++i)
            if (!import_json(argv[i], &set)) rc = 1;
        if (rc == 0 && set.count > 0 && path[0]) {
            char note[256];
            snprintf(note, sizeof note, "imported from %d clblast_tuner JSON file(s)", argc - import_first);
            if (clrnn_tuning_save(path, &t.info, &set, note) != CLRNN_OK) {
                fprintf(stderr, "clrnn-tune: %s\n", clrnn_last_error());
                rc = 1;
            } else {
                printf("wrote %s (%zu kernel(s))\n", path, set.count);
            }
        }
        if (table) print_table_rows(&set, &t.info);
        clrnn_context_destroy(ctx);
        return rc;
    }

    /* ---- shapes ---- */
    static shape_list shapes;
    if (shapes_arg) {
        if (!parse_shapes(shapes_arg, &shapes)) {
            fprintf(stderr, "clrnn-tune: bad --shapes (want MxNxK[/ab][,...])\n");
            clrnn_context_destroy(ctx);
            return 2;
        }
    } else {
        fprintf(stderr, "recording the GEMMs of S1-S6 ...\n");
        char why[1024] = "";
        if (trace_scenarios(ctx, &shapes, verbose, why, sizeof why) != CLRNN_OK) {
            fprintf(stderr, "clrnn-tune: tracing failed: %s\n", why);
            clrnn_context_destroy(ctx);
            return 1;
        }
        if (!traced_only) add_generic_plan(&shapes);
    }
    const int n = shapes.n;
    double base[MAX_SHAPES], after[MAX_SHAPES];

    /* scratch file for the children's parameter sets */
    char tmpl[] = "/tmp/clrnn-tune-XXXXXX";
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "clrnn-tune: mkdtemp: %s\n", strerror(errno));
        clrnn_context_destroy(ctx);
        return 1;
    }
    snprintf(t.set_path, sizeof t.set_path, "%s/set.txt", tmpl);

    /* ---- baseline: CLBlast's own parameters ---- */
    fprintf(stderr, "device: %s; measuring %d GEMM shape(s) with CLBlast's defaults\n", t.info.name, n);
    if (!evaluate(&t, NULL, 0, shapes.s, n, t.runs, base)) {
        fprintf(stderr, "clrnn-tune: GEMMs fail with CLBlast's defaults: %s\n", t.last_fail);
        rc = 1;
        goto done;
    }

    if (measure) {
        clrnn_tuning_report rep;
        clrnn_gemm_apply_tuning_report(ctx, &rep);
        printf("device: %s\napplied: ", t.info.name);
        const clrnn_clblast_params *sets[CLRNN_TUNING_MAX_KERNELS];
        for (size_t i = 0; i < rep.count; ++i) {
            printf("%s%s (%s)", i ? ", " : "", rep.applied[i].kernel, source_name(rep.source[i]));
            sets[i] = &rep.applied[i];
        }
        printf("%s\n", rep.count ? "" : "nothing");
        if (!evaluate(&t, sets, (int)rep.count, shapes.s, n, t.runs, after)) {
            fprintf(stderr, "clrnn-tune: GEMMs fail with the applied parameters: %s\n", t.last_fail);
            rc = 1;
            goto done;
        }
        print_comparison(&shapes, "CLBlast", base, "clrnn", after);
        goto done;
    }

    /* ---- search, then everything at full size ---- */
    t.t_start = bench_now_ms();
    t.budget_ms = budget_s * 1e3;
    clrnn_tuning_set result;
    if (!search(&t, &shapes, quick, &result, path, no_write)) {
        fprintf(stderr, "clrnn-tune: no parameter set worked; nothing written\n");
        rc = 1;
        goto done;
    }
    {
        const clrnn_clblast_params *sets[CLRNN_TUNING_MAX_KERNELS];
        for (size_t i = 0; i < result.count; ++i) sets[i] = &result.kernels[i];
        if (!evaluate(&t, sets, (int)result.count, shapes.s, n, t.runs, after)) {
            fprintf(stderr, "clrnn-tune: the final set fails (%s); nothing written\n", t.last_fail);
            rc = 1;
            goto done;
        }
    }
    printf("device: %s (%s)\ntuning took %.0f s, %d child runs\n", t.info.name, t.info.platform_name,
           elapsed_ms(&t) / 1e3, t.trials);
    print_comparison(&shapes, "CLBlast", base, "tuned", after);
    for (size_t i = 0; i < result.count; ++i) {
        char ps[400];
        params_string(&result.kernels[i], ps, sizeof ps);
        printf("  %-13s %s\n", result.kernels[i].kernel, ps);
    }
    if (!no_write && path[0]) {
        char note[512];
        double tb = 0, ta = 0;
        for (int i = 0; i < n; ++i) tb += shapes.s[i].count * base[i], ta += shapes.s[i].count * after[i];
        snprintf(note, sizeof note, "clrnn-tune %s: %d shapes, %d child runs, %.0f s; GEMM time x%.2f vs CLBlast defaults",
                 clrnn_version_string(), n, t.trials, elapsed_ms(&t) / 1e3, tb / ta);
        if (clrnn_tuning_save(path, &t.info, &result, note) != CLRNN_OK) {
            fprintf(stderr, "clrnn-tune: %s\n", clrnn_last_error());
            rc = 1;
        } else {
            printf("wrote %s\n", path);
        }
    }
    if (table) print_table_rows(&result, &t.info);

done:
    remove(t.set_path);
    rmdir(tmpl);
    clrnn_context_destroy(ctx);
    return rc;
}
