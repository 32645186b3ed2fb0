/* The tiled plan's training forward (plan_tiled_train.c), called from plan_tiled.c's table. */
#ifndef CLRNN_PLAN_TILED_TRAIN_H
#define CLRNN_PLAN_TILED_TRAIN_H

#include "core/launch.h"
#include "internal.h"

/* The tiled packing of the rnn (plan_tiled.c's tiled_state): UB units per block, Gs 16-lane slots
 * per block, Hb blocks; groups > 0: the row-group count forced by CLRNN_TILED_GROUPS. */
typedef struct clrnn_tiled_geom {
    int UB, Gs, Hb, groups;
} clrnn_tiled_geom;

typedef struct clrnn_tiled_train clrnn_tiled_train; /* its device buffers, kept per rnn */

/* Layer l's training forward: the tiled persistent scan that also fills the reserve, or the
 * portable forward (clrnn_train_portable_forward_layer) where clrnn_tiled_train_fallback says so.
 * *state is created on first use. Context lock held. */
clrnn_status clrnn_tiled_train_forward_layer(clrnn_rnn *r, clrnn_reserve *res, int l, const clrnn_tiled_geom *g,
                                             clrnn_tiled_train **state);
/* Why layer l of r trains through the portable forward (an option the tiled path does not cover),
 * or NULL when it runs the tiled scan. Fixed for the rnn's descriptor. */
const char *clrnn_tiled_train_fallback(const clrnn_rnn *r, int l);
/* The training scan's kernel stem for r ("lstm_train_scan_tiled"), for the plan's description. */
const char *clrnn_tiled_train_kernel(const clrnn_rnn *r);
void clrnn_tiled_train_free(clrnn_rnn *r, clrnn_tiled_train *state);

/* x_proj [rows][D][Hb][Gs][16] = x · WTp (plan_tiled.c) of the T x N rows of x (at element x_off,
 * (t, n) rows, or (n, t) with batch_major), WTp packed [D][Hb][K][Gs][16]: kernel `a` (the cell's
 * tiled_xproj, begun by the caller from the rnn's storage program), rows visited in perm's length
 * order, row blocks with no row_needed skipped. */
clrnn_status clrnn_tiled_xproj(clrnn_context *ctx, clrnn_kargs a, const clrnn_tiled_geom *g, int T, int N,
                               int batch_major, int D, int K, cl_mem x, size_t x_off, cl_mem WTp, cl_mem x_proj,
                               cl_mem perm, cl_mem needed);

/* The persistent scans' steps per launch (plan_tiled.c). A software rasterizer (Mesa llvmpipe)
 * ends every loop of a kernel invocation silently once the invocation has run 65535 loop
 * iterations in all, so a scan runs its steps in launches that stay under that bound:
 * clrnn_tiled_scan_step_loops is an upper bound of the loop iterations one work-group runs for a
 * step (every loop of the kernels' compact build counted as written, MR rows per work-item,
 * row_blocks per work-group, train: the training scan), clrnn_tiled_scan_chunk the steps a launch
 * may then run on ctx's device (INT_MAX: no bound; 0: not one step), and clrnn_tiled_scan_launch
 * runs scan kernel `a` (s0, s1 its first two arguments, local size width) over steps [s0, s1) in
 * launches of at most chunk steps. */
long clrnn_tiled_scan_step_loops(const clrnn_rnn *r, int mr, int row_blocks, int train);
int clrnn_tiled_scan_chunk(const clrnn_context *ctx, long step_loops);
clrnn_status clrnn_tiled_scan_launch(clrnn_context *ctx, clrnn_kargs *a, size_t width, size_t groups, size_t D,
                                     int s0, int s1, int chunk);

#endif
