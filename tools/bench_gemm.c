/* clrnn-bench-gemm: GFLOP/s of the training engine's GEMM shapes through CLBlast, through
 * clrnn's own SGEMM and through OpenBLAS on the host (when libopenblas.so.0 loads: dlopen, so the
 * tool builds without it; CLRNN_BENCH_OPENBLAS=PATH names another, "none" skips it), alternating
 * in one process (so a loaded machine affects all alike).
 *   clrnn-bench-gemm [reps] [own] [FILTER] | --version   ("own": no CLBlast; FILTER: only the
 *   shapes whose name contains it, e.g. S6 or dW). The CPU-s columns: GFLOP per CPU-second of
 *   the process (all threads), steadier than wall time on a loaded machine (OpenBLAS's idle
 *   threads spin, which counts against it there)
 * Shapes: S1 LSTM T=100 N=64 I=H=512 (G*H = 2048), as src/train/train.c calls them: the per-step
 * h R^T with R^T stored (NN [64 x 512] x [512 x 2048]), the whole-sequence x W^T [6400 x 512] x
 * [512 x 2048]^T, the backward's per-step dG R [64 x 2048] x [2048 x 512], dX = dG W [6400 x 2048]
 * x [2048 x 512], and dW = dG^T X / dR = dG^T H [2048 x 6400] x [6400 x 512] (the same shape);
 * the big ones again for S3 (GRU, G*H = 1536) and S6 (LSTM I=H=1024). */
#include <clrnn.h>

#include <dlfcn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool_args.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the process's CPU time, all threads (PoCL's workers included): on a loaded machine GFLOP per
 * CPU-second is steadier than per wall-second */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* cblas_sgemm's signature with the CBLAS enums as int (row-major 101, no-trans 111, trans 112) */
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);

/* OpenBLAS's cblas_sgemm, NULL when it does not load; prints which kernels it chose (an OpenBLAS
 * older than the CPU falls back to SSE3 "Prescott" kernels, 0.3.21 on this Xeon (family 6 model
 * 207) does: OPENBLAS_CORETYPE=SkylakeX selects its AVX-512 ones). */
static cblas_sgemm_fn load_openblas(void) {
    const char *path = getenv("CLRNN_BENCH_OPENBLAS");
    if (path && strcmp(path, "none") == 0) return NULL;
    void *lib = dlopen(path ? path : "libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("OpenBLAS: not loaded (%s)\n", dlerror());
        return NULL;
    }
    cblas_sgemm_fn f;
    char *(*corename)(void) = NULL;
    void *sym = dlsym(lib, "cblas_sgemm"), *name = dlsym(lib, "openblas_get_corename");
    memcpy(&f, &sym, sizeof f); /* object to function pointer, without the cast ISO C leaves undefined */
    memcpy(&corename, &name, sizeof corename);
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    printf("OpenBLAS: %s, kernels for %s, OPENBLAS_NUM_THREADS=%s\n", path ? path : "libopenblas.so.0",
           corename ? corename() : "?", threads ? threads : "(unset)");
    return sym ? f : NULL;
}

static float *host_filled(size_t n) {
    float *h = malloc(n * sizeof(float));
    if (!h) {
        fprintf(stderr, "clrnn-bench-gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; ++i) h[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return h;
}

static cl_mem filled(clrnn_context *ctx, size_t n) {
    float *h = host_filled(n);
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), h, &err);
    free(h);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clCreateBuffer failed (%d)\n", err);
        exit(1);
    }
    return m;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) return tool_version("clrnn-bench-gemm");
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    int own_only = 0;
    const char *filter = NULL;
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "own") == 0 && !own_only) own_only = 1;
        else if (!filter) filter = argv[i];
        else reps = 0;
    }
    if (reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: clrnn-bench-gemm [reps 1..1000] [own] [FILTER] | --version\n");
        return 2;
    }
    const cblas_sgemm_fn openblas = load_openblas();
    clrnn_context *ctx;
    if (clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
        fprintf(stderr, "clrnn-bench-gemm: %s\n", clrnn_last_error());
        return 1;
    }
    struct {
        const char *name;
        int ta, tb;
        size_t m, n, k;
    } shapes[] = {
        {"S1 step h R^T   NN", 0, 0, 64, 2048, 512},
        {"S1 seq x W^T    NT", 0, 1, 6400, 2048, 512},
        {"S1 dW = dG^T X  TN", 1, 0, 2048, 512, 6400},
        {"S1 step dG R    NN", 0, 0, 64, 512, 2048},
        {"S1 dX = dG W    NN", 0, 0, 6400, 512, 2048},
        {"S3 seq x W^T    NT", 0, 1, 6400, 1536, 512},
        {"S3 dW = dG^T X  TN", 1, 0, 1536, 512, 6400},
        {"S3 dX = dG W    NN", 0, 0, 6400, 512, 1536},
        {"S6 seq x W^T    NT", 0, 1, 6400, 4096, 1024},
        {"S6 dW = dG^T X  TN", 1, 0, 4096, 1024, 6400},
        {"S6 dX = dG W    NN", 0, 0, 6400, 1024, 4096},
    };
    printf("%-20s %10s %10s %10s %8s %10s %10s\n", "shape", "CLBlast", "own", "OpenBLAS", "own/OB", "own/CPU-s",
           "OB/CPU-s");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        if (filter && !strstr(shapes[s].name, filter)) continue;
        const int ta = shapes[s].ta, tb = shapes[s].tb;
        const size_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        cl_mem a = filled(ctx, m * k), b = filled(ctx, k * n), c = filled(ctx, m * n);
        float *ha = openblas ? host_filled(m * k) : NULL, *hb = openblas ? host_filled(k * n) : NULL;
        float *hc = openblas ? host_filled(m * n) : NULL;
        double best[3] = {1e30, 1e30, 1e30}, best_cpu[3] = {1e30, 1e30, 1e30};
        const char *mode[2] = {"clblast", "own"};
        for (int r = 0; r <= reps; ++r)
            for (int which = own_only; which < 3; ++which) {
                if (which == 2) {
                    if (!openblas) continue;
                    const double t0 = now_s(), c0 = cpu_s();
                    openblas(101, ta ? 112 : 111, tb ? 112 : 111, (int)m, (int)n, (int)k, 1.0f, ha, ta ? (int)m : (int)k,
                             hb, tb ? (int)k : (int)n, 0.0f, hc, (int)n);
                    const double dt = now_s() - t0, dc = cpu_s() - c0;
                    if (r > 0 && dt < best[2]) best[2] = dt;
                    if (r > 0 && dc < best_cpu[2]) best_cpu[2] = dc;
                    continue;
                }
                setenv("CLRNN_GEMM", mode[which], 1);
                const double t0 = now_s(), c0 = cpu_s();
                if (clrnn_sgemm(ctx, ta, tb, m, n, k, 1.0f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0.0f, c, 0, n) !=
                        CLRNN_OK ||
                    clrnn_context_finish(ctx) != CLRNN_OK) {
                    fprintf(stderr, "clrnn-bench-gemm: %s\n", clrnn_last_error());
                    return 1;
                }
                const double dt = now_s() - t0, dc = cpu_s() - c0;
                if (r > 0 && dt < best[which]) best[which] = dt; /* r = 0 builds the programs */
                if (r > 0 && dc < best_cpu[which]) best_cpu[which] = dc;
            }
        const double flop = 2.0 * (double)m * (double)n * (double)k;
        printf("%-20s %10.1f %10.1f %10.1f %8.2f %10.1f %10.1f   GFLOP/s (best of %d), [%zu x %zu]%s x [%zu x %zu]%s\n",
               shapes[s].name, own_only ? 0.0 : flop / best[0] * 1e-9, flop / best[1] * 1e-9,
               openblas ? flop / best[2] * 1e-9 : 0.0, openblas ? best[2] / best[1] : 0.0, flop / best_cpu[1] * 1e-9,
               openblas ? flop / best_cpu[2] * 1e-9 : 0.0, reps, m, k, ta ? "^T" : "", k, n, tb ? "^T" : "");
        fflush(stdout);
        clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
        free(ha), free(hb), free(hc);
    }
    clrnn_context_destroy(ctx);
    return 0;
}
