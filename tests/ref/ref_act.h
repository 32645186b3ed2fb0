/* The float64 references' activations and clamp (internal to tests/ref: reference.c's forward and
 * reference_train.c's forward and backward use the same exact forms). The device kernels keep
 * their own (cl/), so that the reference stays an independent oracle for them. */
#ifndef CLRNN_TESTS_REF_ACT_H
#define CLRNN_TESTS_REF_ACT_H

#include <math.h>

#include "clrnn.h"

/* v clamped to [-c, c]; c <= 0 is no clamp. NaN stays NaN. */
static inline double ref_clamp(double v, double c) { return c > 0 ? (v < -c ? -c : v > c ? c : v) : v; }

/* The activations in their exact forms: NaN in gives NaN out (no comparison may drop it), the
 * limits at +-inf are the mathematical ones, softplus never overflows for a finite input. */
static inline double ref_act(clrnn_activation a, double x) {
    const double al = a.alpha, be = a.beta;
    switch (a.kind) {
    case CLRNN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case CLRNN_ACT_TANH: return tanh(x);
    case CLRNN_ACT_RELU: return x < 0 ? 0 : x;
    case CLRNN_ACT_AFFINE: return al * x + be;
    case CLRNN_ACT_LEAKY_RELU: return x < 0 ? al * x : x;
    case CLRNN_ACT_THRESHOLDED_RELU: return x <= al ? 0 : x;
    case CLRNN_ACT_SCALED_TANH: return al * tanh(be * x);
    case CLRNN_ACT_HARD_SIGMOID: {
        const double v = al * x + be;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case CLRNN_ACT_ELU: return x < 0 ? al * expm1(x) : x;
    case CLRNN_ACT_SOFTSIGN: return isinf(x) ? copysign(1.0, x) : x / (1 + fabs(x));
    case CLRNN_ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    default: return x;
    }
}

#endif
