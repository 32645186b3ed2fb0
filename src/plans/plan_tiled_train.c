/* The tiled plan's training forward (issue 13): the persistent scan of the inference forward
 * (cl/tiled/step_tiled.cl, h_prev·Rᵀ register-tiled and fused with the gate math) run with its
 * `train` flag (cl/tiled/train_tiled.cl), which also keeps per step, at the row of its time index,
 * exactly what the portable backward reads (the reserve layout of cl/train/train.cl). Per layer:
 * the trainable values (which an optimizer changes between calls) are repacked on the device into
 * the plan's layouts, the input projection runs as the inference one (xproj_tiled), then one scan
 * launch covers every step and direction; the states go in and out of the reserve's. No atomics:
 * the same bits run to run.
 *
 * Covered: every cell (RNN with any activation, LSTM with peepholes, CIFG, cell_clip, forget_bias,
 * both GRUs), clip, lengths and masks (holes too) under every masked-output policy, reverse walks,
 * bidirectional, stacked, both layouts (the reserve's input is time-major), last_only and dense
 * (after the layers). Not covered (the portable forward runs instead, see clrnn_tiled_train_fallback):
 * the LSTM projection, input and recurrent dropout, and the dropout between layers (on the layers
 * below the last); a device whose work-group cannot hold the scan's blocks. */
#include "plan_tiled_train.h"

#include "cl/abi.h"
#include "launch.h"
#include "plan.h"
#include "rnn/cells.h"
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

/* Device buffers, grown to the largest call seen (elements in cap[]). */
enum { TB_WT, TB_RT, TB_BIAS, TB_PEEP, TB_XPROJ, TB_H0, TB_H1, TB_C0, TB_C1, TB_Z, TB_RH, TB_PERM, TB_NEEDED, TB_COUNT };
static const char *const tb_what[TB_COUNT] = {"packed input weights", "packed recurrent weights", "packed biases",
                                              "packed peepholes", "input projection", "state", "state", "cell state",
                                              "cell state", "update gate", "reset state", "row order", "row table"};

struct clrnn_tiled_train {
    cl_mem m[TB_COUNT];
    size_t cap[TB_COUNT]; /* 4-byte elements */
    size_t bytes;         /* counted in r->train_bytes */
    int32_t *host;        /* staging of perm [N], row_needed [T*N] */
    size_t host_cap;
};

void clrnn_tiled_train_free(clrnn_rnn *r, clrnn_tiled_train *t) {
    if (!t) return;
    for (int i = 0; i < TB_COUNT; ++i)
        if (t->m[i]) clReleaseMemObject(t->m[i]);
    r->train_bytes -= t->bytes < r->train_bytes ? t->bytes : r->train_bytes;
    free(t->host);
    free(t);
}

const char *clrnn_tiled_train_fallback(const clrnn_rnn *r, int l) {
    const clrnn_rnn_desc *d = &r->desc;
    if (d->proj_size > 0) return "the LSTM projection";
    if (d->input_dropout > 0 || d->recurrent_dropout > 0) return "input or recurrent dropout";
    if (d->dropout > 0 && l < d->num_layers - 1) return "dropout between layers";
    return NULL;
}

/* The training scan of r's cell, by MR (1, or TILED_MR_<slots> once N >= 8). */
static clrnn_kernel_id train_scan(const clrnn_rnn *r, int m) {
    switch (r->desc.cell) {
    case CLRNN_CELL_RNN: return m ? CLRNN_K_rnn_train_scan_tiled_6 : CLRNN_K_rnn_train_scan_tiled_1;
    case CLRNN_CELL_LSTM: return m ? CLRNN_K_lstm_train_scan_tiled_6 : CLRNN_K_lstm_train_scan_tiled_1;
    default:
        if (r->desc.linear_before_reset) return m ? CLRNN_K_gru_lbr_train_scan_tiled_8 : CLRNN_K_gru_lbr_train_scan_tiled_1;
        return m ? CLRNN_K_gru_train_scan_tiled_8 : CLRNN_K_gru_train_scan_tiled_1;
    }
}

const char *clrnn_tiled_train_kernel(const clrnn_rnn *r) {
    switch (r->desc.cell) {
    case CLRNN_CELL_RNN: return "rnn_train_scan_tiled_{1,6}";
    case CLRNN_CELL_LSTM: return "lstm_train_scan_tiled_{1,6}";
    default: return r->desc.linear_before_reset ? "gru_lbr_train_scan_tiled_{1,8}" : "gru_train_scan_tiled_{1,8}";
    }
}

/* Buffer i holds at least n elements (contents zero when new: padding lanes stay defined). */
static clrnn_status grow(clrnn_rnn *r, clrnn_tiled_train *t, int i, size_t n) {
    if (n == 0) n = 1;
    if (t->m[i] && t->cap[i] >= n) return CLRNN_OK;
    const clrnn_device_info *info = &r->ctx->info;
    if (n > SIZE_MAX / 4 || (info->max_alloc_bytes > 0 && n * 4 > info->max_alloc_bytes))
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "tiled training forward: the %s (%zu bytes) exceed the device's %llu per buffer",
                          tb_what[i], n * 4, (unsigned long long)info->max_alloc_bytes);
    if (t->m[i]) {
        clReleaseMemObject(t->m[i]);
        t->m[i] = NULL;
        t->bytes -= t->cap[i] * 4;
        r->train_bytes -= t->cap[i] * 4 < r->train_bytes ? t->cap[i] * 4 : r->train_bytes;
        t->cap[i] = 0;
    }
    cl_int err;
    t->m[i] = clCreateBuffer(r->ctx->cl_ctx, CL_MEM_READ_WRITE, n * 4, NULL, &err);
    if (err != CL_SUCCESS) {
        t->m[i] = NULL;
        return clrnn_fail_cl(err, "clCreateBuffer", tb_what[i]);
    }
    const float zero = 0.0f;
    err = clEnqueueFillBuffer(r->ctx->queue, t->m[i], &zero, sizeof zero, 0, n * 4, 0, NULL, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueFillBuffer", tb_what[i]);
    t->cap[i] = n;
    t->bytes += n * 4;
    r->train_bytes += n * 4;
    return CLRNN_OK;
}

/* perm [N] and row_needed [T*N] from the step table (clrnn_build_row_order, as the inference
 * forward's), uploaded. */
static clrnn_status row_order(clrnn_rnn *r, clrnn_tiled_train *t, const clrnn_train_fwd_io *io) {
    const int T = io->T, N = io->N;
    const size_t n = (size_t)N + (size_t)T * N;
    if (n > t->host_cap) {
        int32_t *h = realloc(t->host, n * sizeof *h);
        if (!h) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "tiled training forward: row order");
        t->host = h;
        t->host_cap = n;
    }
    int32_t *perm = t->host, *needed = perm + N;
    clrnn_build_row_order(r->D, T, N, io->tmap_host, perm, needed);
    cl_int err = clEnqueueWriteBuffer(r->ctx->queue, t->m[TB_PERM], CL_TRUE, 0, (size_t)N * sizeof *perm, perm, 0,
                                      NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(r->ctx->queue, t->m[TB_NEEDED], CL_TRUE, 0, (size_t)T * N * sizeof *needed, needed,
                                   0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the row order");
}

/* rows rows of `width` floats between a buffer with rows `from_pitch` apart and one `to_pitch`. */
static clrnn_status copy_rows(clrnn_context *ctx, cl_mem from, size_t from_pitch, cl_mem to, size_t to_pitch,
                              size_t rows, size_t width) {
    const size_t origin[3] = {0, 0, 0}, region[3] = {width * 4, rows, 1};
    const cl_int err = clEnqueueCopyBufferRect(ctx->queue, from, to, origin, origin, region, from_pitch * 4, 0,
                                               to_pitch * 4, 0, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueCopyBufferRect", "the training states");
}

/* The trainable values of layer l into the packed layouts (plan_tiled.c's packed_index; the biases
 * folded as clrnn_cell_folded_bias folds them). */
static clrnn_status pack(clrnn_rnn *r, clrnn_tiled_train *t, const clrnn_train_fwd_io *io, const clrnn_tiled_geom *g,
                         int I) {
    clrnn_context *ctx = r->ctx;
    const int H = r->desc.hidden_size, G = r->G, Hr = r->Hr, Hp = 16 * g->Hb;
    const size_t per_dir = (size_t)g->Hb * g->Gs * 16;
    const clrnn_cell_info *cell = clrnn_cell_info_of(r->desc.cell);
    clrnn_status st = CLRNN_OK;
    for (int d = 0; d < r->D && st == CLRNN_OK; ++d) {
        for (int which = 0; which < 2 && st == CLRNN_OK; ++which) {
            const int K = which ? Hr : I;
            kargs a = begin(ctx, CLRNN_K_tiled_train_pack, "tiled training forward");
            a_mem(&a, which ? io->R[d] : io->W[d]), a_int(&a, G), a_int(&a, H), a_int(&a, K), a_int(&a, g->UB);
            a_int(&a, g->Gs), a_mem(&a, t->m[which ? TB_RT : TB_WT]), a_ulong(&a, d * K * per_dir);
            a_int(&a, which && r->desc.cell == CLRNN_CELL_GRU && !r->desc.linear_before_reset); /* gru_split */
            st = launch(ctx, &a, (size_t)g->Gs * 16, (size_t)K, (size_t)g->Hb, (size_t)g->Gs * 16);
        }
        if (st != CLRNN_OK) break;
        kargs b = begin(ctx, CLRNN_K_tiled_train_pack_bias, "tiled training forward");
        a_mem(&b, io->Wb[d]), a_mem(&b, io->Rb[d]), a_int(&b, G), a_int(&b, H), a_int(&b, g->UB), a_int(&b, g->Gs);
        a_int(&b, g->Hb), a_int(&b, clrnn_cell_kernels_for(&r->desc)->rb_apart), a_int(&b, cell->forget_gate);
        a_flt(&b, r->desc.forget_bias), a_mem(&b, t->m[TB_BIAS]), a_ulong(&b, d * 2 * per_dir);
        st = launch(ctx, &b, 2 * per_dir, 1, 1, 64);
        if (st == CLRNN_OK && io->P[d]) {
            kargs p = begin(ctx, CLRNN_K_tiled_train_pack_peep, "tiled training forward");
            a_mem(&p, io->P[d]), a_int(&p, H), a_int(&p, Hp), a_mem(&p, t->m[TB_PEEP]), a_ulong(&p, (size_t)d * 3 * Hp);
            st = launch(ctx, &p, 3 * (size_t)Hp, 1, 1, 64);
        }
    }
    return st;
}

clrnn_status clrnn_tiled_train_forward_layer(clrnn_rnn *r, clrnn_reserve *v, int l, const clrnn_tiled_geom *g,
                                             clrnn_tiled_train **state) {
    if (clrnn_tiled_train_fallback(r, l)) return clrnn_train_portable_forward_layer(r, v, l);
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    clrnn_train_fwd_io io;
    clrnn_train_fwd_io_of(r, v, l, &io);
    const int T = io.T, N = io.N, D = r->D, H = desc->hidden_size, Hr = r->Hr, Hb = g->Hb, Hs = g->UB * g->Hb;
    const int I = r->lw[l * D].in_size, has_c = clrnn_cell_info_of(desc->cell)->has_c;
    const int rb = desc->cell == CLRNN_CELL_GRU && !desc->linear_before_reset;
    const size_t TN = (size_t)T * N, per_dir = (size_t)Hb * g->Gs * 16;
    /* MR rows per work-item as the inference scan picks them */
    const int m = N >= 8, mr = !m ? 1 : g->Gs == 3 ? TILED_MR_3 : TILED_MR_4, n_rb = (N + mr - 1) / mr;
    const clrnn_kernel_id scan_id = train_scan(r, m);
    int groups = ((int)ctx->info.compute_units + D - 1) / D; /* a row group per compute unit and direction */
    if (g->groups > 0) groups = g->groups;
    groups = groups < 1 ? 1 : groups > n_rb ? n_rb : groups;
    /* steps per launch under the device's loop bound (clrnn_tiled_scan_chunk) */
    const int chunk = clrnn_tiled_scan_chunk(ctx, clrnn_tiled_scan_step_loops(r, mr, (n_rb + groups - 1) / groups, 1));
    /* the scan's work-group is a row group's Hb blocks: a device that cannot hold it, or whose loop
     * bound not one step fits, trains portably */
    kargs a = begin(ctx, scan_id, "tiled training scan");
    size_t kmax = 0;
    if (a.st != CLRNN_OK ||
        clGetKernelWorkGroupInfo(a.k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL) != CL_SUCCESS ||
        (size_t)Hb > kmax || chunk < 1) {
        clrnn_clear_error();
        return clrnn_train_portable_forward_layer(r, v, l);
    }
    if (!*state) {
        *state = calloc(1, sizeof **state);
        if (!*state) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "tiled training forward state");
    }
    clrnn_tiled_train *t = *state;
    const size_t n_state = (size_t)D * N * Hs;
    const size_t need[TB_COUNT] = {(size_t)D * I * per_dir, (size_t)D * Hr * per_dir, (size_t)D * 2 * per_dir,
                                   (size_t)D * 3 * 16 * Hb, TN * D * per_dir, n_state, n_state, has_c ? n_state : 1,
                                   has_c ? n_state : 1, rb ? n_state : 1, rb ? n_state : 1, (size_t)N, TN};
    clrnn_status st = CLRNN_OK;
    for (int i = 0; i < TB_COUNT && st == CLRNN_OK; ++i) st = grow(r, t, i, need[i]);
    if (st != CLRNN_OK || (st = row_order(r, t, &io)) != CLRNN_OK || (st = pack(r, t, &io, g, I)) != CLRNN_OK) return st;
    if (T == 0) return CLRNN_OK;
    /* initial states: [D, N, Hr] rows into the scan's [D][N][Hs] */
    if ((st = copy_rows(ctx, io.h, (size_t)Hr, t->m[TB_H0], (size_t)Hs, (size_t)D * N, (size_t)Hr)) != CLRNN_OK ||
        (has_c && (st = copy_rows(ctx, io.c, (size_t)H, t->m[TB_C0], (size_t)Hs, (size_t)D * N, (size_t)H)) != CLRNN_OK))
        return st;
    /* the input projection of every step and direction (rows in length order, unneeded ones skipped) */
    const kargs x = begin(ctx, clrnn_cell_info_of(desc->cell)->tiled_xproj, "xproj_tiled");
    if ((st = clrnn_tiled_xproj(ctx, x, g, T, N, 0, D, I, io.x, 0, t->m[TB_WT], t->m[TB_XPROJ], t->m[TB_PERM],
                                t->m[TB_NEEDED])) != CLRNN_OK)
        return st;
    /* the scan: TILED_STEP_PARAMS, the cell's, then the reserves */
    a_int(&a, 0), a_int(&a, T), a_int(&a, T), a_int(&a, N), a_int(&a, H), a_int(&a, Hr), a_mem(&a, io.tmap);
    a_mem(&a, t->m[TB_PERM]), a_mem(&a, t->m[TB_XPROJ]), a_int(&a, 0), a_mem(&a, t->m[TB_RT]), a_mem(&a, t->m[TB_BIAS]);
    if (has_c) {
        a_mem(&a, t->m[TB_PEEP]), a_mem(&a, io.acts);
        a_mem(&a, t->m[TB_H0]), a_mem(&a, t->m[TB_C0]), a_mem(&a, t->m[TB_H1]), a_mem(&a, t->m[TB_C1]);
        a_mem(&a, io.y), a_int(&a, clrnn_lstm_flags(desc)), a_int(&a, (int)desc->masked_output), a_flt(&a, desc->clip);
        a_flt(&a, desc->cell_clip), a_flt(&a, desc->masked_fill_value), a_mem(&a, t->m[TB_H0]), a_int(&a, Hs);
    } else {
        a_mem(&a, io.acts), a_mem(&a, t->m[TB_H0]), a_mem(&a, t->m[TB_H1]);
        if (rb) a_mem(&a, t->m[TB_Z]), a_mem(&a, t->m[TB_RH]);
        a_mem(&a, io.y), a_int(&a, (int)desc->masked_output), a_flt(&a, desc->clip), a_flt(&a, desc->masked_fill_value);
    }
    a_mem(&a, io.res[0]), a_mem(&a, io.res[D - 1]), a_int(&a, io.S);
    clrnn_karg_loops(&a, (long)(T < chunk ? T : chunk) *
                             clrnn_tiled_scan_step_loops(r, mr, (n_rb + groups - 1) / groups, 1));
    if ((st = clrnn_tiled_scan_launch(ctx, &a, (size_t)Hb, (size_t)groups, (size_t)D, 0, T, chunk)) != CLRNN_OK)
        return st;
    /* final states: step s writes buffer (s + 1) & 1, so after T steps they are in T & 1 */
    const int fin = T & 1;
    if ((st = copy_rows(ctx, t->m[fin ? TB_H1 : TB_H0], (size_t)Hs, io.h, (size_t)Hr, (size_t)D * N, (size_t)Hr)) != CLRNN_OK)
        return st;
    if (has_c) st = copy_rows(ctx, t->m[fin ? TB_C1 : TB_C0], (size_t)Hs, io.c, (size_t)H, (size_t)D * N, (size_t)H);
    return st;
}
