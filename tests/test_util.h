/* Shared helpers for the cmocka tests: one context per test process, seeded random data,
 * poisoned output buffers, and error comparison with explicit NaN rules. */
#ifndef CLRNN_TEST_UTIL_H
#define CLRNN_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"

/* Value written to outputs before a run: a run that leaves an element unwritten shows it. */
#define POISON 1234567.0f

static inline uint64_t tu_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
/* Uniform in [lo, hi), never exactly zero-filled arrays. */
static inline float tu_uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((tu_next(s) >> 40) * (1.0 / 16777216.0));
}
static inline void tu_fill(float *a, size_t n, uint64_t *s, float lo, float hi) {
    for (size_t i = 0; i < n; ++i) a[i] = tu_uniform(s, lo, hi);
}
static inline float *tu_alloc_random(size_t n, uint64_t *s, float lo, float hi) {
    float *a = malloc((n ? n : 1) * sizeof(float));
    tu_fill(a, n, s, lo, hi);
    return a;
}
static inline float *tu_alloc_poison(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; ++i) a[i] = POISON;
    return a;
}

/* Max |a - b| over n elements; NaN anywhere (or a NaN mismatch) returns INFINITY. */
static inline double tu_max_abs_diff(const float *a, const float *b, size_t n, size_t *where) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) || isnan(b[i])) d = (isnan(a[i]) && isnan(b[i])) ? 0 : INFINITY;
        if (d > m || isinf(d)) {
            m = d;
            if (where) *where = i;
        }
        if (isinf(d)) break;
    }
    return m;
}

/* The error measure: |got - exp| / (1 + |exp|). */
static inline double tu_rel_err(double got, double exp) { return fabs(got - exp) / (1.0 + fabs(exp)); }

/* The storage CLRNN_STORAGE=fp32|fp16|bf16 asks of every rnn a suite creates (test_forward,
 * test_golden: clrnn_rnn_desc.storage), and its bound. fp32: 1e-5 (test_forward scales it by
 * max(1, max |reference|)). fp16 and bf16, per element |got - exp| / (1 + |exp|): every stored value
 * carries a relative error of at most the format's unit roundoff u (fp16 2^-11, bf16 2^-8; fp32
 * arithmetic adds ~1e-7), and each output is a short chain of such roundings (x, W, x_proj, R,
 * h_prev, c, the output) through activations of slope <= 1, so its error is a small multiple of u,
 * the same multiple for both formats. The fp16 bound is 1e-3 (~2u); bf16's is that bound
 * scaled by the ratio of the unit roundoffs (2^-8 / 2^-11 = 8): 8e-3. */
static inline clrnn_storage tu_storage_of_env(void) {
    const char *s = getenv("CLRNN_STORAGE");
    if (!s || !*s || !strcmp(s, "fp32")) return CLRNN_STORAGE_FP32;
    if (!strcmp(s, "fp16")) return CLRNN_STORAGE_FP16;
    if (!strcmp(s, "bf16")) return CLRNN_STORAGE_BF16;
    fprintf(stderr, "CLRNN_STORAGE=%s: not fp32, fp16 or bf16\n", s);
    exit(2);
}
static inline double tu_storage_tol(void) {
    const clrnn_storage st = tu_storage_of_env();
    return st == CLRNN_STORAGE_FP16 ? 1e-3 : st == CLRNN_STORAGE_BF16 ? 8e-3 : 1e-5;
}

/* A descriptor with the defaults but for the cell and its sizes. */
static inline clrnn_rnn_desc tu_desc(clrnn_cell cell, int I, int H) {
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = cell;
    d.input_size = I;
    d.hidden_size = H;
    return d;
}
static inline int tu_gates(clrnn_cell c) { return c == CLRNN_CELL_LSTM ? 4 : c == CLRNN_CELL_GRU ? 3 : 1; }

/* Random row lengths in [1, T] (every third row full); with zero_last the last row has length 0. */
static inline int32_t *tu_random_lens(int N, int T, uint64_t *s, int zero_last) {
    int32_t *lens = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    for (int n = 0; n < N; ++n) lens[n] = (n % 3 == 0) ? T : 1 + (int)(tu_next(s) % (uint64_t)T);
    if (zero_last) lens[N - 1] = 0;
    return lens;
}
/* A random [N, T] step mask (3 in 4 steps kept) with row empty_row fully masked (if in range). */
static inline uint8_t *tu_random_mask(int N, int T, uint64_t *s, int empty_row) {
    const size_t NT = (size_t)N * (size_t)T;
    uint8_t *mask = malloc(NT ? NT : 1);
    for (int n = 0; n < N; ++n)
        for (int t = 0; t < T; ++t) mask[(size_t)n * T + t] = (tu_next(s) % 4) != 0;
    if (empty_row >= 0 && empty_row < N) memset(mask + (size_t)empty_row * T, 0, (size_t)T);
    return mask;
}

/* The forward and gradient matrices' axes: cell variant ci (TU_MATRIX_CELLS), direction, layout,
 * layers; count cycles the masked-output policy. */
enum { TU_MATRIX_CELLS = 5 };
static const char *const tu_matrix_cell_names[TU_MATRIX_CELLS] = {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_lbr"};
static const char *const tu_matrix_dir_names[3] = {"fwd", "rev", "bi"};
static const char *const tu_matrix_len_names[4] = {"full", "lens", "mask", "lens+mask"};
static inline clrnn_rnn_desc tu_matrix_desc(int ci, int dir, int layout, int L, int count, int I, int H) {
    static const clrnn_cell cells[TU_MATRIX_CELLS] = {CLRNN_CELL_RNN, CLRNN_CELL_RNN, CLRNN_CELL_LSTM, CLRNN_CELL_GRU,
                                                      CLRNN_CELL_GRU};
    clrnn_rnn_desc d = tu_desc(cells[ci], I, H);
    if (ci == 1) d.activations[0][0].kind = d.activations[1][0].kind = CLRNN_ACT_RELU;
    if (ci == 1 && dir != 2) d.activations[1][0].kind = CLRNN_ACT_DEFAULT;
    d.linear_before_reset = ci == 4;
    d.direction = (clrnn_direction)dir;
    d.layout = (clrnn_layout)layout;
    d.num_layers = L;
    d.masked_output = (clrnn_masked_output)(count % 3);
    d.masked_fill_value = 0.25f;
    return d;
}

/* Shell setup of the file tests: system() of fmt with up to three %s, each replaced by arg; a
 * non-zero exit fails the test. */
static inline void tu_sh(const char *fmt, const char *arg) {
    char cmd[4000];
    const int n = snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
    if (n < 0 || (size_t)n >= sizeof cmd) fail_msg("command too long: %s", fmt);
    assert_int_equal(system(cmd), 0);
}

/* The test process's context (created once; kernels from the test cache dir). */
clrnn_context *tu_context(void);
/* In a forked child that is about to become user `uid` (still root): that user's own HOME and
 * XDG_CACHE_HOME (<base>-home, where Mesa keeps its shader cache and NVIDIA its ~/.nv
 * ComputeCache) and POCL_CACHE_DIR (<base>-pocl), owned by uid and kept between runs, so only the
 * first run compiles every kernel for that user. Without them the child keeps root's HOME, whose
 * caches it cannot write: Rusticl then JIT-compiles every kernel in every child (minutes each).
 * Returns 0, or -1 when a directory cannot be made that user's. */
int tu_other_user_caches(const char *base, unsigned uid);
/* Destroys the process's context (a later tu_context() makes a new one). */
void tu_context_release(void);
/* A cmocka group teardown that releases it: `return cmocka_run_group_tests(tests, NULL, tu_group_release);`
 * ends a test program with nothing of clrnn left for the leak checker. */
int tu_group_release(void **state);

/* Random weights through the importer of `fw` (exercising its shape rules): W, R in [-sc, sc) and
 * B in [-0.5, 0.5) (TF1: then its kernel, [-sc, sc)), peepholes in [-peep, peep) (through ONNX's
 * importer, TF1's for TF1), the LSTMP projection in [-sc, sc) (PyTorch's, TF1's for TF1) and the
 * dense layer (W in [-dense, dense), b in [-0.5, 0.5)), drawn from seed in that order, layer by
 * direction. */
void tu_set_random_weights_fw(clrnn_rnn *r, clrnn_framework fw, uint64_t *seed, float sc, float peep, float dense);
/* The same through the ONNX importer. */
static inline void tu_set_random_weights(clrnn_rnn *r, uint64_t *seed, float sc, float peep, float dense) {
    tu_set_random_weights_fw(r, CLRNN_FRAMEWORK_ONNX, seed, sc, peep, dense);
}

/* A read-write buffer of the test context holding a copy of v[0..n); a failure fails the test. */
cl_mem tu_dev_buf(const float *v, size_t n);
/* Blocking read of n floats of m into v; a failure fails the test. */
void tu_dev_read(cl_mem m, float *v, size_t n);

#define TU_OK(expr)                                                                            \
    do {                                                                                       \
        clrnn_status st_ = (expr);                                                             \
        if (st_ != CLRNN_OK) fail_msg("%s -> %s\n  %s", #expr, clrnn_status_name(st_), clrnn_last_error()); \
    } while (0)

#endif
