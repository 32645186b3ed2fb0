/* clrnn-bench-gemm: GFLOP/s of the training engine's GEMM shapes through CLBlast and through
 * clrnn's own SGEMM, alternating in one process (so a loaded machine affects both alike).
 *   clrnn-bench-gemm [reps] [own] | --version      ("own": clrnn's own SGEMM only, no CLBlast)
 * Shapes: S1 LSTM T=100 N=64 I=H=512 (G*H = 2048), as src/train/train.c calls them: the per-step
 * h R^T with R^T stored (NN [64 x 512] x [512 x 2048]), the whole-sequence x W^T [6400 x 512] x
 * [512 x 2048]^T, the backward's per-step dG R [64 x 2048] x [2048 x 512], dX = dG W [6400 x 2048]
 * x [2048 x 512], and dW = dG^T X / dR = dG^T H [2048 x 6400] x [6400 x 512] (the same shape). */
#include <clrnn.h>

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

static cl_mem filled(clrnn_context *ctx, size_t n) {
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; ++i) h[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
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
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    const int own_only = argc > 2 && strcmp(argv[2], "own") == 0;
    if (reps < 1 || reps > 1000 || (argc > 2 && !own_only) || argc > 3) {
        fprintf(stderr, "usage: clrnn-bench-gemm [reps 1..1000] [own] | --version\n");
        return 2;
    }
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
        {"step h R^T      NN", 0, 0, 64, 2048, 512},
        {"seq x W^T       NT", 0, 1, 6400, 2048, 512},
        {"dW = dG^T X     TN", 1, 0, 2048, 512, 6400},
        {"step dG R       NN", 0, 0, 64, 512, 2048},
        {"dX = dG W       NN", 0, 0, 6400, 512, 2048},
    };
    printf("%-20s %10s %10s %8s %10s\n", "shape", "CLBlast", "own", "own/CLB", "own/CPU-s");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; ++s) {
        const int ta = shapes[s].ta, tb = shapes[s].tb;
        const size_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        cl_mem a = filled(ctx, m * k), b = filled(ctx, k * n), c = filled(ctx, m * n);
        double best[2] = {1e30, 1e30}, best_cpu[2] = {1e30, 1e30};
        const char *mode[2] = {"clblast", "own"};
        for (int r = 0; r <= reps; ++r)
            for (int which = own_only; which < 2; ++which) {
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
        printf("%-20s %10.1f %10.1f %8.2f %10.1f   GFLOP/s (best of %d), [%zu x %zu] x [%zu x %zu]%s\n",
               shapes[s].name, own_only ? 0.0 : flop / best[0] * 1e-9, flop / best[1] * 1e-9,
               own_only ? 0.0 : best[0] / best[1], flop / best_cpu[1] * 1e-9, reps, m, k, k, n, tb ? "^T" : "");
        clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    }
    clrnn_context_destroy(ctx);
    return 0;
}
