/* The tiled plan's reverse-time scan of training (plan.h: scan_layer_backward): per layer and
 * direction R is packed once in 64-column panels (tr_pack_r) and one persistent launch
 * (tr_bwd_scan_MR, cl/train/bwd_tiled.cl) walks all T steps, each step the gate gradients and
 * dh_prev = dG R fused in one work-group per row set. It replaces the portable backward's per-step
 * cell kernel + N-row GEMM (the GEMM ran at a third of the tiled forward's rate on S1) and reads and
 * writes the same reserve buffers (clrnn_train_bwd_view), so the weight gradient and the input
 * gradient (the portable clrnn_train_portable_input_gradient) are unchanged.
 *
 * Covered: every cell (RNN, LSTM with peepholes / CIFG / clips / forget bias, GRU both flavours),
 * lengths and masks with holes under every masked-output policy, output dropout between layers,
 * input dropout (only the input gradient sees it), bidirectional, stacked, last_only, dense.
 * Falls back to the portable backward for: the LSTM projection, recurrent dropout, and a device
 * whose work-group limit is below the kernel's width. CLRNN_TRAIN_BWD=portable forces the fallback,
 * =fused takes the fused scan wherever it can run (read per call: A/B measurements in one process). */
#include "cl/abi.h"
#include "launch.h"
#include "plan.h"
#include "plan_tiled_train.h"
#include "rnn/cells.h"
#include "train/train.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* cl/train/bwd_tiled.cl's BWD_CELL_* */
enum { BWD_CELL_RNN, BWD_CELL_LSTM, BWD_CELL_GRU_LBR, BWD_CELL_GRU_RB };

static atomic_ulong scans_taken;

unsigned long clrnn_tiled_bwd_scans(void) { return atomic_load(&scans_taken); }

static int covers(const clrnn_rnn *r) {
    const char *env = getenv("CLRNN_TRAIN_BWD");
    if (env && !strcmp(env, "portable")) return 0;
    if (r->desc.proj_size > 0 || r->desc.recurrent_dropout > 0) return 0;
    /* The reset-before GRU's fused scan was once opt-in: on a loaded 2-core Xeon its wall time was
     * up to 1.3x the portable's (a persistent launch is one work-group per compute unit for all T
     * steps, so a descheduled worker stalls the whole scan). Quiet, on a 2-core EPYC (Zen 4), S3's
     * training step took 336-361 ms fused against 377-401 ms portable, alternated in one process
     * (2026-12-02): the default now, as for every other cell; =portable keeps the A/B. */
    return 1;
}

/* The kernel's rows a register block (tr_bwd_scan_1 / _6) for N rows. */
static int scan_mr(int N) { return N >= 8 ? 6 : 1; }
/* One row set per compute unit (a work-group runs on one of them), at most one a row block. */
static int scan_groups(const clrnn_context *ctx, int n_rb) {
    const int groups = (int)ctx->info.compute_units;
    return groups < 1 ? 1 : groups > n_rb ? n_rb : groups;
}

/* Loop iterations of one row of a cell phase of bwd_scan, an upper bound: the largest body (the
 * LSTM's tr_lstm_bwd_at with bwd_out16) makes 25 ld16/st16 calls, each a loop of up to 16 (lanes
 * below 16), counted as 32; one drop16 of the output gradient (16 lanes x (1 + 10 Philox rounds));
 * the prologue's / STORE_DG's short loops. tr_gru_rb_r_at (the reset-before GRU's r phase) makes 9
 * calls and one drop16 (a no-op: recurrent dropout falls back). */
#define BWD_ROW_LOOPS (32L * 16 + 16L * 11 + 16)
/* bwd_block_product's loops for one row block of MR rows over K columns: the rows' pointers (MR),
 * tiled_dot with G = 4 in its loop form (CLRNN_COMPACT, the larger count: MR * 5 zeroings, K x
 * (1 + MR x 5)), then per row 4 column slots of an ld16 and an st16 (1 + 4 x 33). */
static long block_product_loops(int MR, int K) { return 1 + MR + 5L * MR + (long)K * (1 + 5L * MR) + MR * 134L; }

/* An upper bound, not a tight one: on llvmpipe (Mesa Rusticl, LLVM 15) with the bound not enforced
 * (CLRNN_LOOP_LIMIT=0), an LSTM of H 16, N 8 (7058 declared a step) gave the reference gradients
 * fused at T = 21 (148,219 declared) and wrong ones at T = 69 (487,003): the count is 2.3x to 7.4x
 * what llvmpipe counts (its compiler unrolls the constant loops), so the scan falls back sooner
 * there than it must. test_loop_bound's device_bound_fused_backward runs the edge of the budget. */
long clrnn_tiled_bwd_scan_loops(const clrnn_rnn *r, int T, int N) {
    const int H = r->desc.hidden_size, GH = r->G * H, MR = scan_mr(N), n_rb = (N + MR - 1) / MR;
    const int rb_gru = r->desc.cell == CLRNN_CELL_GRU && !r->desc.linear_before_reset,
              groups = scan_groups(r->ctx, n_rb);
    /* the row blocks of the busiest group (grp 0: rb = 0, groups, ...), each phase's loop over them */
    const long rbs = (n_rb + groups - 1) / groups;
    const long cell_phase = rbs * (1 + MR * (1 + BWD_ROW_LOOPS));
    long step = 1 + cell_phase + rbs * (1 + block_product_loops(MR, rb_gru ? 2 * H : GH));
    if (rb_gru) step += rbs * (1 + block_product_loops(MR, H)) + cell_phase;
    return (long)T * step + 1;
}

/* Layer l's reverse scan, direction d, with R packed into rp. */
static clrnn_status scan_direction(clrnn_rnn *r, clrnn_reserve *v, int l, int d, cl_mem rp, int *fits) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    const int H = desc->hidden_size, Hr = r->Hr, GH = r->G * H, D = r->D;
    const int Hb = (H + 15) / 16, Kb = (Hr + 63) / 64, width = Hb > Kb ? Hb : Kb;
    clrnn_train_bwd_view w;
    clrnn_train_bwd_view_of(r, v, l, d, &w);
    const int MR = scan_mr(w.N), m = MR > 1, n_rb = (w.N + MR - 1) / MR;
    /* the work-group is every block of one row set: it must fit the kernel's limit; and the scan
     * walks all T steps in one invocation (the kernel takes no step range to split it at), which a
     * device with a loop bound (llvmpipe: 65535 iterations an invocation, ctx->loop_limit) would
     * end early: the portable backward there when its loops do not fit */
    const long loops = clrnn_tiled_bwd_scan_loops(r, w.T, w.N);
    size_t kmax = 0;
    if (!clrnn_loop_fits(ctx, loops) ||
        clGetKernelWorkGroupInfo(w.scan[m], ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) !=
            CL_SUCCESS ||
        (size_t)width > kmax) {
        *fits = 0;
        return CLRNN_OK;
    }
    *fits = 1;
    clrnn_status st;
    {
        kargs a = clrnn_kargs_begin(w.pack_r, "tr_pack_r");
        a_mem(&a, w.R), a_int(&a, GH), a_int(&a, Hr), a_int(&a, Kb), a_mem(&a, rp);
        const size_t g0 = (size_t)Kb * 64;
        if ((st = launch(ctx, &a, g0, (size_t)GH, 1, step_lws(ctx, a.k, 64))) != CLRNN_OK) return st;
    }
    const float zero = 0.0f;
    const cl_int err = clEnqueueFillBuffer(ctx->queue, w.carry, &zero, sizeof zero, 0, (size_t)w.N * Hr * sizeof(float),
                                           0, NULL, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing the carried output gradient");
    const int cell = desc->cell == CLRNN_CELL_LSTM ? BWD_CELL_LSTM
                     : desc->cell == CLRNN_CELL_GRU ? (desc->linear_before_reset ? BWD_CELL_GRU_LBR : BWD_CELL_GRU_RB)
                                                    : BWD_CELL_RNN;
    const float p_out = l < desc->num_layers - 1 ? desc->dropout : 0.0f;
    kargs a = clrnn_kargs_begin(w.scan[m], m ? "tr_bwd_scan_6" : "tr_bwd_scan_1");
    a_int(&a, w.T), a_int(&a, w.N), a_int(&a, H), a_int(&a, Hr), a_int(&a, d), a_int(&a, cell);
    a_mem(&a, w.tmap), a_mem(&a, w.res), a_int(&a, w.S), a_mem(&a, w.acts), a_flt(&a, desc->clip);
    a_mem(&a, w.dgx), a_mem(&a, w.dg_step), a_mem(&a, w.dgh), a_mem(&a, rp), a_mem(&a, w.P), a_mem(&a, w.dc);
    a_int(&a, clrnn_lstm_flags(desc)), a_flt(&a, desc->cell_clip), a_mem(&a, w.d_rh);
    a_mem(&a, w.dy), a_int(&a, w.has_dy), a_int(&a, D * Hr), a_int(&a, d * Hr), a_flt(&a, p_out);
    a_int(&a, (int)(uint32_t)desc->dropout_seed), a_int(&a, (int)(uint32_t)(desc->dropout_seed >> 32));
    a_int(&a, (int)w.call), a_int(&a, l), a_int(&a, (int)desc->masked_output);
    a_mem(&a, w.dh[0]), a_mem(&a, w.dh[1]), a_mem(&a, w.carry);
    clrnn_karg_loops(&a, loops);
    return launch(ctx, &a, (size_t)width, (size_t)scan_groups(ctx, n_rb), 1, (size_t)width);
}

clrnn_status clrnn_tiled_scan_layer_backward(clrnn_rnn *r, clrnn_reserve *v, int l) {
    if (!covers(r)) return clrnn_train_portable_backward_layer(r, v, l);
    const int GH = r->G * r->desc.hidden_size, Kb = (r->Hr + 63) / 64;
    const size_t bytes = (size_t)Kb * 64 * GH * sizeof(float);
    const clrnn_device_info *info = &r->ctx->info;
    if (info->max_alloc_bytes > 0 && bytes > info->max_alloc_bytes) return clrnn_train_portable_backward_layer(r, v, l);
    cl_int err;
    /* per call (R changes between calls): the scans of both directions take turns in it */
    cl_mem rp = clCreateBuffer(r->ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateBuffer", "the packed recurrent weights of the backward");
    clrnn_status st = CLRNN_OK;
    int fits = 1;
    for (int d = 0; d < r->D && st == CLRNN_OK && fits; ++d) st = scan_direction(r, v, l, d, rp, &fits);
    clReleaseMemObject(rp); /* the queued kernels keep it alive */
    if (st != CLRNN_OK) return st;
    if (!fits) return clrnn_train_portable_backward_layer(r, v, l); /* only d = 0 can find it does not fit */
    atomic_fetch_add(&scans_taken, 1);
    return clrnn_train_portable_input_gradient(r, v, l);
}
