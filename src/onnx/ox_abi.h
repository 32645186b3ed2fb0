/* The operation codes the ONNX glue kernels (kernels.cl) share with the host code, in one copy:
 * onnx_internal.h includes this file and the build embeds it before kernels.cl in the ONNX
 * program (tools/cmake/onnx.cmake), so it is part of the source the kernel cache key hashes.
 * Integer #defines only, valid C and OpenCL C (as cl/abi.h). */
#ifndef CLRNN_OX_ABI_H
#define CLRNN_OX_ABI_H

/* ox_binary: y = a op b */
#define OX_BIN_ADD 0
#define OX_BIN_SUB 1
#define OX_BIN_MUL 2
#define OX_BIN_DIV 3
#define OX_BIN_POW 4
#define OX_BIN_MAX 5
#define OX_BIN_MIN 6

/* ox_unary: y = f(x; alpha, beta) */
#define OX_UN_SIGMOID 0
#define OX_UN_TANH 1
#define OX_UN_RELU 2
#define OX_UN_NEG 3
#define OX_UN_ABS 4
#define OX_UN_EXP 5
#define OX_UN_LOG 6
#define OX_UN_SQRT 7
#define OX_UN_RECIPROCAL 8
#define OX_UN_FLOOR 9
#define OX_UN_CEIL 10
#define OX_UN_LEAKY_RELU 11
#define OX_UN_HARD_SIGMOID 12
#define OX_UN_ELU 13
#define OX_UN_SOFTPLUS 14
#define OX_UN_SOFTSIGN 15
#define OX_UN_CLIP 16  /* alpha = min, beta = max */
#define OX_UN_SCALE 17 /* y = alpha x */
#define OX_UN_SELU 18  /* alpha, beta = gamma */
#define OX_UN_ERF 19

/* ox_reduce */
#define OX_RED_SUM 0
#define OX_RED_MEAN 1
#define OX_RED_MAX 2
#define OX_RED_MIN 3
#define OX_RED_PROD 4
#define OX_RED_SUM_SQUARE 5
#define OX_RED_L1 6
#define OX_RED_L2 7
#define OX_RED_LOG_SUM 8
#define OX_RED_LOG_SUM_EXP 9

/* ox_pad modes */
#define OX_PAD_CONSTANT 0
#define OX_PAD_REFLECT 1
#define OX_PAD_EDGE 2
#define OX_PAD_WRAP 3

#endif
