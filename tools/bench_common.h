/* Shared by clrnn-bench and clrnn-tune: the S1–S6 benchmark scenarios of issue 5, cell names,
 * a seeded random network (ONNX layout and gate order, so the same numbers can be fed to oneDNN),
 * and a clrnn rnn built from it with device input/output buffers. */
#ifndef CLRNN_BENCH_COMMON_H
#define CLRNN_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "clrnn.h"

typedef enum bench_cell_kind {
    BENCH_LSTM = 0,
    BENCH_GRU,     /* reset-before (ONNX linear_before_reset = 0, oneDNN vanilla_gru) */
    BENCH_GRU_LBR, /* linear-before-reset (PyTorch, oneDNN lbr_gru) */
    BENCH_RNN_TANH,
    BENCH_RNN_RELU,
    BENCH_CELL_COUNT
} bench_cell_kind;

/* "lstm", "gru", "gru_lbr", "rnn_tanh", "rnn_relu"; -1 if unknown. */
int bench_cell_parse(const char *name);
const char *bench_cell_name(bench_cell_kind cell);
int bench_cell_gates(bench_cell_kind cell);

/* One network shape and run shape. */
typedef struct bench_shape {
    bench_cell_kind cell;
    int T, N, I, H, L;
    int bidir;
    int min_len; /* 0: every row has length T; else lengths uniform in [min_len, T] (fixed seed) */
    int P;       /* LSTM projection size (PyTorch proj_size); 0: none */
    int storage; /* clrnn_storage of clrnn's rnn (--storage fp32|fp16|bf16); oneDNN stays fp32 */
} bench_shape;

typedef struct bench_scenario {
    const char *name;
    const char *what;
    bench_shape shape;
    double issue_dnnl_ms; /* oneDNN time quoted in issue 5 (2 threads, this machine) */
} bench_scenario;

extern const bench_scenario bench_scenarios[];
extern const size_t bench_scenario_count;

/* Input size of layer l: I for l = 0, D*H (D*P with a projection) after. */
int bench_layer_input(const bench_shape *s, int l);
/* FLOPs of one forward: sum over layers of 2 * tokens * (G*H * (I_l + K) + P*H) * D with K = P or H,
 * tokens = sum of the row lengths (T*N for fixed length). */
double bench_flops(const bench_shape *s, const int32_t *lens);
/* Per-row lengths for s (NULL-free: always filled; all T when min_len == 0). */
void bench_lengths(const bench_shape *s, int32_t *lens);
/* "lstm T=100 N=64 I=512 H=512" (+ " P=256" / " L=2 bidir" / " len>=M"). */
void bench_shape_label(const bench_shape *s, char *out, size_t cap);

/* Host weights in ONNX layout and gate order, per (layer, direction):
 * W [G*H, I_l], R [G*H, K], Wb [G*H], Rb [G*H], and with a projection Pj [P, H] (PyTorch weight_hr).
 * Uniform in [-1/sqrt(H), 1/sqrt(H)] (PyTorch init). */
typedef struct bench_model {
    bench_shape shape;
    int D, G;
    float **W, **R, **Wb, **Rb, **Pj; /* [L*D] */
    float *x;                   /* [T, N, I] time-major, uniform in [-1, 1] */
    int32_t *lens;              /* [N] */
} bench_model;

int bench_model_init(bench_model *m, const bench_shape *s, uint64_t seed);
/* n floats uniform in [lo, hi] from the xorshift state *seed (advanced); NULL when out of memory. */
float *bench_random_array(size_t n, uint64_t *seed, float lo, float hi);
void bench_model_free(bench_model *m);

/* A clrnn rnn for the model with device buffers x [T,N,I] (filled) and y [T,N,D*K]. */
typedef struct bench_clrnn {
    clrnn_context *ctx;
    clrnn_rnn *rnn;
    cl_mem x, y;
    clrnn_forward_args args;
    char error[512]; /* why bench_clrnn_init failed: its own reason, or clrnn's message */
} bench_clrnn;

/* On failure b->error says why (never empty), whether clrnn or the tool's own step failed. */
clrnn_status bench_clrnn_init(bench_clrnn *b, clrnn_context *ctx, const bench_model *m);
clrnn_status bench_clrnn_run(bench_clrnn *b);
/* Copies y to host (T*N*D*K floats). */
clrnn_status bench_clrnn_read_y(bench_clrnn *b, float *y, size_t count);
void bench_clrnn_free(bench_clrnn *b);

double bench_now_ms(void);

#endif
