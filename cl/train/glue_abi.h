/* Constants the training-glue kernels (glue.cl) share with src/train/: integer #defines, valid C and
 * OpenCL C, embedded first in the glue program. Where a value is a public enum's (clrnn.h), the C
 * side checks at compile time that they agree (src/train/glue.c). */
#ifndef CLRNN_GLUE_ABI_H
#define CLRNN_GLUE_ABI_H

/* clrnn_loss_kind */
#define GLUE_LOSS_SOFTMAX_XENT 0
#define GLUE_LOSS_SIGMOID_BCE 1
#define GLUE_LOSS_MSE 2
/* per-row statistics of loss_rows: stats[r * GLUE_STATS + k] */
#define GLUE_STATS 4
#define GLUE_STAT_MAX 0    /* softmax: the row's max logit */
#define GLUE_STAT_LSE 1    /* softmax: log sum exp(x - max) */
#define GLUE_STAT_LOSS 2   /* the row's loss (BCE, MSE: summed over C); NaN when an input is not finite */
#define GLUE_STAT_METRIC 3 /* softmax: 1 if correct; BCE: correct elements; MSE: sum |x - z| */

/* clrnn_optimizer_kind, clrnn_eps_style */
#define GLUE_OPT_SGD 0
#define GLUE_OPT_RMSPROP 1
#define GLUE_OPT_ADAM 2
#define GLUE_EPS_TORCH 0
#define GLUE_EPS_KERAS 1

/* Elements per partial sum of squares (sumsq_blocks): fixed, so the norm's order never changes. */
#define GLUE_NORM_BLOCK 256
/* Tensors an optimizer launch takes (sumsq_blocks, opt_update: that many pointer arguments each). */
#define GLUE_OPT_GROUP 8

#endif
