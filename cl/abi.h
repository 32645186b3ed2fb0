/* The constants host code and kernels share, in one copy: the C sources include this file and the
 * build embeds it first in the kernel program (CMakeLists.txt, CLRNN_CL_SOURCES), so it is part of
 * the source the kernel cache key hashes. Integer #defines only, valid C and OpenCL C. Where a value
 * is a public enum's (clrnn.h), the C side checks that they agree at compile time (below). */
#ifndef CLRNN_ABI_H
#define CLRNN_ABI_H

/* Activation kinds: clrnn_activation_kind. The kernels read the activations as
 * acts[(dir * ACT_SLOTS + slot) * ACT_PARAMS + {0: kind, 1: alpha, 2: beta}]. */
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3
#define ACT_AFFINE 4
#define ACT_LEAKY_RELU 5
#define ACT_THRESHOLDED_RELU 6
#define ACT_SCALED_TANH 7
#define ACT_HARD_SIGMOID 8
#define ACT_ELU 9
#define ACT_SOFTSIGN 10
#define ACT_SOFTPLUS 11
#define ACT_SLOTS 3  /* activation slots per direction */
#define ACT_PARAMS 3 /* kind, alpha, beta */

/* Storage types of device tensors (storage.h, the build option -DCLRNN_STORAGE=...): clrnn_storage. */
#define STORAGE_FP32 0
#define STORAGE_FP16 1
#define STORAGE_BF16 2

/* Step table (step_table.c): entry[d][s][n] = time index t processed at step s, plus flags. */
#define STEP_T_MASK 0x0fffffff
#define STEP_VALID 0x10000000   /* the step is computed */
#define STEP_STARTED 0x20000000 /* a computed step came before this one (carry policy) */

/* Masked-output policies: clrnn_masked_output. */
#define MASKED_ZERO 0
#define MASKED_CARRY 1
#define MASKED_FILL 2

/* Direction merges of the final outputs (merge.cl): clrnn_merge. */
#define MERGE_CONCAT 0
#define MERGE_SUM 1
#define MERGE_MUL 2
#define MERGE_AVE 3
#define MERGE_NONE 4

/* The flags argument of the LSTM step kernels (cells.c: clrnn_lstm_flags). */
#define LSTM_PEEPHOLE 1
#define LSTM_CIFG 2
#define LSTM_PROJ 4 /* the step leaves h to the projection (LSTMP) */

/* Rows per work-item of the tiled plan's wide kernels (cl/tiled/step_tiled.cl, xproj_tiled.cl) for 3 or 4
 * 16-lane slots per block: the input projection xproj_tiled_<slots>, and the step and scan kernels
 * *_tiled_<MR> used once N >= 8 (the GRU's 8, the LSTM's, LSTMP's and vanilla RNN's 6): at most
 * 24 accumulators, MR * slots. */
#define TILED_MR_3 8
#define TILED_MR_4 6

#if !defined(__OPENCL_VERSION__) && !defined(__OPENCL_C_VERSION__) /* the C side */
#include "clrnn.h"
_Static_assert(ACT_SIGMOID == CLRNN_ACT_SIGMOID && ACT_TANH == CLRNN_ACT_TANH && ACT_RELU == CLRNN_ACT_RELU &&
                   ACT_AFFINE == CLRNN_ACT_AFFINE && ACT_LEAKY_RELU == CLRNN_ACT_LEAKY_RELU &&
                   ACT_THRESHOLDED_RELU == CLRNN_ACT_THRESHOLDED_RELU && ACT_SCALED_TANH == CLRNN_ACT_SCALED_TANH &&
                   ACT_HARD_SIGMOID == CLRNN_ACT_HARD_SIGMOID && ACT_ELU == CLRNN_ACT_ELU &&
                   ACT_SOFTSIGN == CLRNN_ACT_SOFTSIGN && ACT_SOFTPLUS == CLRNN_ACT_SOFTPLUS &&
                   ACT_SOFTPLUS + 1 == CLRNN_ACT_COUNT_,
               "abi.h ACT_* differ from clrnn_activation_kind");
_Static_assert(MASKED_ZERO == CLRNN_MASKED_OUTPUT_ZERO && MASKED_CARRY == CLRNN_MASKED_OUTPUT_CARRY &&
                   MASKED_FILL == CLRNN_MASKED_OUTPUT_FILL,
               "abi.h MASKED_* differ from clrnn_masked_output");
_Static_assert(MERGE_CONCAT == CLRNN_MERGE_CONCAT && MERGE_SUM == CLRNN_MERGE_SUM && MERGE_MUL == CLRNN_MERGE_MUL &&
                   MERGE_AVE == CLRNN_MERGE_AVE && MERGE_NONE == CLRNN_MERGE_NONE,
               "abi.h MERGE_* differ from clrnn_merge");
_Static_assert(STORAGE_FP32 == CLRNN_STORAGE_FP32 && STORAGE_FP16 == CLRNN_STORAGE_FP16 &&
                   STORAGE_BF16 == CLRNN_STORAGE_BF16,
               "abi.h STORAGE_* differ from clrnn_storage");
#endif

#endif
