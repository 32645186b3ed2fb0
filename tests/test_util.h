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
void tu_context_release(void);

#define TU_OK(expr)                                                                            \
    do {                                                                                       \
        clrnn_status st_ = (expr);                                                             \
        if (st_ != CLRNN_OK) fail_msg("%s -> %s\n  %s", #expr, clrnn_status_name(st_), clrnn_last_error()); \
    } while (0)

#endif
