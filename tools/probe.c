/* clrnn-probe: what OpenCL devices are here, and does clrnn work on the chosen one?
 *
 *   clrnn-probe [--device SPEC] [--list] [--json] [--cache-dir DIR] [--no-selfcheck] [--full] [--sgemm-size N]
 *               [--storage fp32|fp16|bf16]
 *
 * Lists every platform and device with the capabilities clrnn cares about (the default is marked),
 * builds the kernels on the chosen device cold and from the binary cache, checks one SGEMM
 * through CLBlast against plain C and prints its GFLOP/s, and runs every cell type and direction
 * against the double-precision reference, with the plan and scan a new rnn gets on the device, and
 * the tiled plan's persistent scan forced on one cell (the LSTM; --full: on every cell). Each
 * distinct kernel a check runs costs a compile on its first launch (PoCL 3.1 on 2 loaded cores:
 * ~0.4-0.9 s each, ~2.7 s the SGEMM tile), so the default checks each kernel of the default path once and the
 * persistent scan's device support (a loop over steps with work-group barriers) on one cell;
 * test_forward checks every cell's persistent scan bitwise against its per-step launches
 * (--sgemm-size N: the timed SGEMM is N^3 instead of 512^3, for a
 * simulator such as Oclgrind; --storage fp16|bf16: the self-check's rnns store weights and activations
 * in that type, held to |got - want| / (1 + |want|) <= 1e-3 (fp16) or 8e-3 (bf16), test_forward's bounds). Exit status: 0 all checks passed, 1 a check failed,
 * 2 bad usage or no device. JSON is written in the C locale. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clrnn.h"
#include "internal.h"
#include "core/launch.h"
#include "reference.h"
#include "tool_args.h"

typedef struct check {
    char name[96];
    int pass;
    char detail[160];
} check;

static check checks[64];
static int n_checks;

static void add_check(int pass, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void add_check(int pass, const char *name, const char *fmt, ...) {
    if (n_checks >= 64) return;
    check *c = &checks[n_checks++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->pass = pass;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static float frand(float lo, float hi) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

static const char *type_name(clrnn_device_type t) {
    return t == CLRNN_DEVICE_TYPE_GPU ? "GPU" : t == CLRNN_DEVICE_TYPE_CPU ? "CPU" : t == CLRNN_DEVICE_TYPE_ACCELERATOR ? "accelerator" : "other";
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

/* SGEMM m x n x k against plain C; returns max abs error, or -1 on failure. */
static double sgemm_check(clrnn_context *ctx, size_t m, size_t n, size_t k, double *gflops) {
    float *A = malloc(m * k * sizeof(float)), *B = malloc(k * n * sizeof(float)), *C = malloc(m * n * sizeof(float));
    for (size_t i = 0; i < m * k; ++i) A[i] = frand(-1, 1);
    for (size_t i = 0; i < k * n; ++i) B[i] = frand(-1, 1);
    cl_int err;
    cl_context cl = clrnn_context_cl_context(ctx);
    cl_mem a = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, m * k * 4, A, &err);
    cl_mem b = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, k * n * 4, B, &err);
    cl_mem c = clCreateBuffer(cl, CL_MEM_READ_WRITE, m * n * 4, NULL, &err);
    double maxerr = -1;
    if (clrnn_sgemm(ctx, 0, 0, m, n, k, 1, a, 0, k, b, 0, n, 0, c, 0, n) == CLRNN_OK && clrnn_context_finish(ctx) == CLRNN_OK) {
        clEnqueueReadBuffer(clrnn_context_cl_queue(ctx), c, CL_TRUE, 0, m * n * 4, C, 0, NULL, NULL);
        maxerr = 0;
        /* row by row along B's rows (contiguous): the 512^3 reference was ~0.2 s of the probe's CPU */
        double *row = malloc(n * sizeof(double));
        for (size_t i = 0; row && i < m; ++i) {
            for (size_t j = 0; j < n; ++j) row[j] = 0;
            for (size_t p = 0; p < k; ++p) {
                const double a_ip = A[i * k + p];
                const float *b_p = B + p * n;
                for (size_t j = 0; j < n; ++j) row[j] += a_ip * b_p[j];
            }
            for (size_t j = 0; j < n; ++j) maxerr = fmax(maxerr, fabs(row[j] - C[i * n + j]));
        }
        if (!row) maxerr = -1;
        free(row);
        if (gflops) {
            double best = 1e30;
            for (int rep = 0; rep < 5; ++rep) {
                double t0 = now_ms();
                clrnn_sgemm(ctx, 0, 0, m, n, k, 1, a, 0, k, b, 0, n, 0, c, 0, n);
                clrnn_context_finish(ctx);
                best = fmin(best, now_ms() - t0);
            }
            *gflops = 2.0 * m * n * k / (best * 1e6);
        }
    }
    clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    free(A), free(B), free(C);
    return maxerr;
}

/* One rnn configuration on the device against the reference; returns max abs error or -1.
 * proj > 0: an LSTM with a projection of that size, weights in PyTorch's layout. */
static clrnn_storage check_storage = CLRNN_STORAGE_FP32; /* --storage */

/* The self-check's error: |got - want| for fp32 storage, |got - want| / (1 + |want|) for fp16/bf16. */
static double check_err(float got, float want) {
    if (isnan(got)) return INFINITY;
    const double e = fabs((double)got - want);
    return check_storage == CLRNN_STORAGE_FP32 ? e : e / (1.0 + fabs((double)want));
}

static double rnn_check(clrnn_context *ctx, clrnn_cell cell, int lbr, clrnn_direction dir, int proj) {
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.storage = check_storage;
    d.cell = cell, d.linear_before_reset = lbr, d.direction = dir, d.proj_size = proj;
    d.input_size = 5, d.hidden_size = 9, d.num_layers = 2;
    clrnn_rnn *r;
    if (clrnn_rnn_create(ctx, &d, &r) != CLRNN_OK) return -1;
    const int D = dir == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1, G = cell == CLRNN_CELL_LSTM ? 4 : cell == CLRNN_CELL_GRU ? 3 : 1;
    const int H = 9, K = proj ? proj : H, T = 7, N = 3;
    const clrnn_framework fw = proj ? CLRNN_FRAMEWORK_PYTORCH : CLRNN_FRAMEWORK_ONNX; /* ONNX has no projection */
    for (int l = 0; l < 2; ++l)
        for (int dd = 0; dd < D; ++dd) {
            const int I = l ? D * K : 5;
            float *w = malloc(sizeof(float) * G * H * I), *rr = malloc(sizeof(float) * G * H * K);
            float *b = malloc(sizeof(float) * 2 * G * H), *pj = malloc(sizeof(float) * K * H);
            for (int i = 0; i < G * H * I; ++i) w[i] = frand(-0.4f, 0.4f);
            for (int i = 0; i < G * H * K; ++i) rr[i] = frand(-0.4f, 0.4f);
            for (int i = 0; i < 2 * G * H; ++i) b[i] = frand(-0.4f, 0.4f);
            for (int i = 0; i < K * H; ++i) pj[i] = frand(-0.4f, 0.4f);
            clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_W, w, (size_t)G * H * I);
            clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_R, rr, (size_t)G * H * K);
            if (proj) {
                clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_BW, b, (size_t)G * H);
                clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_BR, b + G * H, (size_t)G * H);
                clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_PROJ, pj, (size_t)K * H);
            } else {
                clrnn_rnn_set_param(r, fw, l, dd, CLRNN_PARAM_B, b, (size_t)2 * G * H);
            }
            free(w), free(rr), free(b), free(pj);
        }
    float x[7 * 3 * 5], y[7 * 3 * 18], yr[7 * 3 * 18], hn[2 * 2 * 3 * 9], hr[2 * 2 * 3 * 9];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; ++i) x[i] = frand(-1, 1);
    for (size_t i = 0; i < sizeof y / sizeof y[0]; ++i) y[i] = yr[i] = 1234567.0f;
    const int32_t lens[3] = {7, 4, 1};
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.seq_lens = lens, a.y.host = y, a.hn.host = hn;
    double err = -1; /* also when a weight was refused: forward then fails */
    if (clrnn_rnn_forward(r, &a) == CLRNN_OK) {
        a.y.host = yr, a.hn.host = hr;
        clrnn_reference_forward(r, &a);
        err = 0;
        for (int i = 0; i < T * N * D * K; ++i) err = fmax(err, check_err(y[i], yr[i]));
        for (int i = 0; i < 2 * D * N * K; ++i) err = fmax(err, check_err(hn[i], hr[i]));
    }
    clrnn_rnn_destroy(r);
    return err;
}

static void usage(void) {
    fprintf(stderr, "usage: clrnn-probe [--device SPEC] [--list] [--json] [--cache-dir DIR] [--no-selfcheck] [--full]\n"
                    "                   [--sgemm-size N] [--storage fp32|fp16|bf16] [--version]\n"
                    "  --full: the persistent scan forced on every cell, not only the LSTM (a compile per cell)\n"
                    "  SPEC: an index, gpu|cpu|accelerator, or a name substring (pocl, nvidia, ...);\n"
                    "        default: $CLRNN_DEVICE, else the best GPU, else a CPU device; never a simulator\n"
                    "        (Oclgrind) or software rasterizer (llvmpipe) unless asked by index or name\n");
}

int main(int argc, char **argv) {
    const char *spec = getenv("CLRNN_DEVICE"), *cache_dir = NULL;
    int list_only = 0, json = 0, selfcheck = 1, full = 0;
    long big = 512; /* the timed SGEMM's size */
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) spec = argv[++i];
        else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) cache_dir = argv[++i];
        else if (!strcmp(argv[i], "--sgemm-size") && i + 1 < argc) {
            char *end = NULL;
            big = strtol(argv[++i], &end, 10);
            if (!end || *end || big < 1 || big > 8192) {
                fprintf(stderr, "clrnn-probe: --sgemm-size takes 1..8192\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--list")) list_only = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--no-selfcheck")) selfcheck = 0;
        else if (!strcmp(argv[i], "--full")) full = 1;
        else if (!strcmp(argv[i], "--storage") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "fp32")) check_storage = CLRNN_STORAGE_FP32;
            else if (!strcmp(v, "fp16")) check_storage = CLRNN_STORAGE_FP16;
            else if (!strcmp(v, "bf16")) check_storage = CLRNN_STORAGE_BF16;
            else {
                fprintf(stderr, "clrnn-probe: --storage takes fp32, fp16 or bf16\n");
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--version")) return tool_version("clrnn-probe");
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "clrnn-probe: unknown argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    size_t n = 0;
    static clrnn_device_info devs[64];
    uint64_t cl_types[64];
    if (clrnn_list_devices_typed(devs, cl_types, 64, &n) != CLRNN_OK) {
        fprintf(stderr, "clrnn-probe: %s\n", clrnn_last_error());
        return 2;
    }
    if (n > 64) n = 64;
    int def = -1, chosen = -1;
    char why[1536];
    clrnn_select_device(NULL, &def);
    clrnn_device_choose(devs, cl_types, n, -1, why, sizeof why); /* the same rule, with its reasons */
    if (clrnn_select_device(spec, &chosen) != CLRNN_OK) {
        fprintf(stderr, "clrnn-probe: %s\n", clrnn_last_error());
        return 2;
    }
    if (!json) {
        printf("clrnn %s — OpenCL devices\n", clrnn_version_string());
        for (size_t i = 0; i < n; ++i) {
            const clrnn_device_info *d = &devs[i];
            const char *kind_why = "";
            const clrnn_device_kind kind = clrnn_device_classify(d, cl_types[i], &kind_why);
            printf("%c%c [%d] %s\n", (int)i == def ? '*' : ' ', (int)i == chosen ? '>' : ' ', d->index, d->name);
            printf("       %s%s\n", kind_why, kind > CLRNN_KIND_ACCELERATOR ? " (never chosen by default)" : "");
            printf("       platform %s (%s), vendor %s, driver %s\n", d->platform_name, d->platform_version, d->vendor,
                   d->driver_version);
            printf("       %s, %u compute units @ %u MHz, %.1f GiB global, %llu KiB local, max work-group %zu, fp16 %s, fp64 %s\n",
                   type_name(d->type), d->compute_units, d->max_clock_mhz, d->global_mem_bytes / 1073741824.0,
                   (unsigned long long)(d->local_mem_bytes / 1024), d->max_work_group_size, d->fp16 ? "yes" : "no",
                   d->fp64 ? "yes" : "no");
        }
        printf("   (* default, > chosen)\n");
        printf("default: %s\n", why);
        if (spec && *spec) printf("chosen: [%d], as asked (\"%s\")\n", chosen, spec);
    }
    double cold_ms = -1, warm_ms = -1, gflops = 0;
    int first_from_cache = 0;
    if (!list_only) {
        char spec_idx[16];
        snprintf(spec_idx, sizeof spec_idx, "%d", chosen);
        clrnn_context_params p = clrnn_context_default_params();
        p.device = spec_idx;
        p.cache_dir = cache_dir;
        clrnn_context *ctx = NULL;
        clrnn_build_info bi;
        /* 1: as an application would (cache on); 2: cold compile (cache off); 3: cache hit */
        clrnn_status st = clrnn_context_create(&p, &ctx);
        if (st != CLRNN_OK) {
            add_check(0, "kernel build", "%s", clrnn_last_error());
        } else {
            clrnn_context_build_info(ctx, &bi);
            first_from_cache = bi.from_cache;
            double first_ms = bi.build_ms;
            const int driver_cache = clrnn_program_driver_caches(ctx);
            clrnn_context_params pc = p;
            pc.disable_cache = 1;
            clrnn_context *cold = NULL;
            if (!driver_cache && clrnn_context_create(&pc, &cold) == CLRNN_OK) {
                clrnn_build_info cb;
                clrnn_context_build_info(cold, &cb);
                cold_ms = cb.build_ms;
                clrnn_context_destroy(cold);
            }
            clrnn_context *warm = NULL;
            if (!driver_cache && clrnn_context_create(&p, &warm) == CLRNN_OK) {
                clrnn_build_info wb;
                clrnn_context_build_info(warm, &wb);
                warm_ms = wb.from_cache ? wb.build_ms : -1;
                clrnn_context_destroy(warm);
            }
            if (!first_from_cache && first_ms > cold_ms) cold_ms = first_ms;
            if (driver_cache)
                add_check(1, "kernel build", "%.0f ms; compiled kernels are cached by the driver (PoCL: $POCL_CACHE_DIR, "
                          "else ~/.cache/pocl; Mesa Rusticl: $MESA_SHADER_CACHE_DIR, else ~/.cache/mesa_shader_cache), "
                          "which compiles each kernel on its first use", first_ms);
            else
                add_check(cold_ms >= 0, "kernel build (cold)", "%.0f ms", cold_ms);
            if (driver_cache)
                ; /* nothing of ours to check */
            else if (bi.cache_path[0])
                add_check(warm_ms >= 0 && warm_ms < cold_ms, "kernel cache hit", "%.1f ms (%.0fx faster than cold), %s%s",
                          warm_ms, warm_ms > 0 ? cold_ms / warm_ms : 0.0, bi.cache_path,
                          first_from_cache ? "; this run started warm" : "");
            else
                add_check(1, "kernel cache", "disabled%s%s", bi.cache_warning[0] ? ": " : "", bi.cache_warning);
            double e = sgemm_check(ctx, 67, 45, 33, NULL);
            add_check(e >= 0 && e < 1e-4, "sgemm 67x45x33 vs C", "max abs err %.2g", e);
            e = sgemm_check(ctx, (size_t)big, (size_t)big, (size_t)big, &gflops);
            char sg_name[48];
            snprintf(sg_name, sizeof sg_name, "sgemm %ld^3 vs C", big);
            add_check(e >= 0 && e < 1e-3, sg_name, "max abs err %.2g, %.1f GFLOP/s", e, gflops);
            if (selfcheck) {
                /* the device's loop bound measured (one loop of CLRNN_LOOP_PROBE_N iterations in
                 * one work-item), against the one the context enforces: a device that ends loops
                 * early without the context knowing would give wrong numbers silently */
                long ran = -1;
                const clrnn_status ls = clrnn_loop_probe(ctx, CLRNN_LOOP_PROBE_N, &ran);
                const long measured = ran >= 0 && ran < CLRNN_LOOP_PROBE_N ? ran : 0;
                add_check(ls == CLRNN_OK && ran >= 0 && (!measured || (ctx->loop_limit > 0 && ctx->loop_limit <= measured)),
                          "loop bound", "%s%ld of %d iterations of one loop ran (%s); the context's bound: %ld%s",
                          ls == CLRNN_OK ? "" : clrnn_last_error(), ran, CLRNN_LOOP_PROBE_N,
                          measured ? "the device ends loops early" : "no bound", ctx->loop_limit,
                          ctx->loop_limit ? " (launches split or refused past it)" : " (none)");
                const double check_tol = check_storage == CLRNN_STORAGE_FP16   ? 1e-3
                                         : check_storage == CLRNN_STORAGE_BF16 ? 8e-3
                                                                                : 1e-5;
                const char *storage_note = check_storage == CLRNN_STORAGE_FP16   ? ", fp16 storage"
                                           : check_storage == CLRNN_STORAGE_BF16 ? ", bf16 storage"
                                                                                  : "";
                static const struct {
                    const char *name;
                    clrnn_cell cell;
                    int lbr;
                    int proj;
                } cells[] = {{"rnn", CLRNN_CELL_RNN, 0, 0},   {"lstm", CLRNN_CELL_LSTM, 0, 0}, {"gru", CLRNN_CELL_GRU, 0, 0},
                             {"gru_lbr", CLRNN_CELL_GRU, 1, 0}, {"lstmp", CLRNN_CELL_LSTM, 0, 4}};
                static const char *dirs[] = {"forward", "reverse", "bidirectional"};
                for (int c = 0; c < 5; ++c)
                    for (int dd = 0; dd < 3; ++dd) {
                        double re = rnn_check(ctx, cells[c].cell, cells[c].lbr, (clrnn_direction)dd, cells[c].proj);
                        char name[96];
                        snprintf(name, sizeof name, "self-check %s %s", cells[c].name, dirs[dd]);
                        add_check(re >= 0 && re <= check_tol, name, "2 layers, lengths {7,4,1}%s: max %s err %.2g vs reference",
                                  storage_note, check_storage ? "rel" : "abs", re);
                    }
                /* the tiled plan's persistent scan (a loop over steps with a work-group barrier in one
                 * launch), forced: on devices where it is not the default, this is the check that it
                 * works there too */
                char saved_plan[64] = "", saved_scan[64] = "";
                const char *e_plan = getenv("CLRNN_PLAN"), *e_scan = getenv("CLRNN_SCAN");
                if (e_plan) snprintf(saved_plan, sizeof saved_plan, "%s", e_plan);
                if (e_scan) snprintf(saved_scan, sizeof saved_scan, "%s", e_scan);
                setenv("CLRNN_PLAN", "tiled", 1);
                setenv("CLRNN_SCAN", "persistent", 1);
                for (int c = 0; c < 5; ++c) {
                    /* by default the LSTM's only: whether the device runs the scan's barrier loop */
                    if (!full && (cells[c].cell != CLRNN_CELL_LSTM || cells[c].proj)) continue;
                    double re = rnn_check(ctx, cells[c].cell, cells[c].lbr, CLRNN_DIR_BIDIRECTIONAL, cells[c].proj);
                    char name[96];
                    snprintf(name, sizeof name, "persistent scan %s bidir", cells[c].name);
                    add_check(re >= 0 && re <= check_tol, name, "tiled plan, 2 layers%s: max %s err %.2g vs reference%s",
                              storage_note, check_storage ? "rel" : "abs", re,
                              full ? "" : " (--full: every cell's)");
                }
                if (e_plan) setenv("CLRNN_PLAN", saved_plan, 1); else unsetenv("CLRNN_PLAN");
                if (e_scan) setenv("CLRNN_SCAN", saved_scan, 1); else unsetenv("CLRNN_SCAN");
            }
            clrnn_context_destroy(ctx);
        }
    }
    int failed = 0;
    for (int i = 0; i < n_checks; ++i) failed += !checks[i].pass;
    if (json) {
        printf("{\"version\":\"%s\",\"default_device\":%d,\"chosen_device\":%d,\"default_reason\":", clrnn_version_string(),
               def, chosen);
        json_str(why);
        printf(",\"devices\":[");
        for (size_t i = 0; i < n; ++i) {
            const clrnn_device_info *d = &devs[i];
            printf("%s{\"index\":%d,\"name\":", i ? "," : "", d->index);
            json_str(d->name);
            printf(",\"platform\":");
            json_str(d->platform_name);
            printf(",\"platform_version\":");
            json_str(d->platform_version);
            printf(",\"vendor\":");
            json_str(d->vendor);
            printf(",\"driver_version\":");
            json_str(d->driver_version);
            const char *kind_why = "";
            const clrnn_device_kind kind = clrnn_device_classify(d, cl_types[i], &kind_why);
            static const char *const kinds[] = {"gpu", "cpu", "accelerator", "simulator", "software_rasterizer", "other"};
            printf(",\"kind\":\"%s\",\"kind_reason\":", kinds[kind]);
            json_str(kind_why);
            printf(",\"default_eligible\":%s", kind <= CLRNN_KIND_ACCELERATOR ? "true" : "false");
            printf(",\"type\":\"%s\",\"compute_units\":%u,\"max_clock_mhz\":%u,\"global_mem_bytes\":%llu,"
                   "\"local_mem_bytes\":%llu,\"max_work_group_size\":%zu,\"fp16\":%s,\"fp64\":%s}",
                   type_name(d->type), d->compute_units, d->max_clock_mhz, (unsigned long long)d->global_mem_bytes,
                   (unsigned long long)d->local_mem_bytes, d->max_work_group_size, d->fp16 ? "true" : "false",
                   d->fp64 ? "true" : "false");
        }
        printf("],\"selfcheck\":\"%s\"", !selfcheck || list_only ? "off" : full ? "full" : "default");
        printf(",\"cold_build_ms\":%.3f,\"warm_build_ms\":%.3f,\"sgemm_gflops\":%.3f,\"checks\":[", cold_ms, warm_ms, gflops);
        for (int i = 0; i < n_checks; ++i) {
            printf("%s{\"name\":", i ? "," : "");
            json_str(checks[i].name);
            printf(",\"pass\":%s,\"detail\":", checks[i].pass ? "true" : "false");
            json_str(checks[i].detail);
            printf("}");
        }
        printf("],\"pass\":%s}\n", failed ? "false" : "true");
    } else if (!list_only) {
        printf("\nchecks on [%d] %s\n", chosen, devs[chosen].name);
        for (int i = 0; i < n_checks; ++i)
            printf("  %-4s %-34s %s\n", checks[i].pass ? "PASS" : "FAIL", checks[i].name, checks[i].detail);
        printf("%d passed, %d failed\n", n_checks - failed, failed);
        if (selfcheck && !full)
            printf("(the persistent scan of rnn, gru, gru_lbr and lstmp not run here: clrnn-probe --full)\n");
    }
    return failed ? 1 : 0;
}
