/* The generic plan (cl/gates_*.cl): simple kernels, one work-item per unit and row, for devices
 * where the driver vectorises across work-items (GPUs). The input projection is one CLBlast SGEMM
 * per layer for all steps and directions; the recurrence a launch (two for the reset-before GRU
 * and the projected LSTM) per step. States are packed: rows Hr (h) and H (c) apart. */
#include "rnn/cells.h"
#include "launch.h"
#include "plan.h"
#include "train/train.h"

#include <string.h>

static clrnn_status init(clrnn_rnn *r) {
    r->Hs = r->Hr;
    r->Hc = r->desc.hidden_size;
    return CLRNN_OK;
}

/* The repacking scratch of the largest layer: W of the widest input, R, or the projection. */
static size_t upload_scratch(const clrnn_rnn *r) {
    const clrnn_rnn_desc *d = &r->desc;
    const size_t D = (size_t)r->D, Hr = (size_t)r->Hr, H = (size_t)d->hidden_size, GH = (size_t)r->G * H;
    const size_t max_in = (size_t)d->input_size > D * Hr ? (size_t)d->input_size : D * Hr;
    size_t n = max_in * D * GH > D * Hr * GH ? max_in * D * GH : D * Hr * GH;
    return D * H * Hr > n ? D * H * Hr : n;
}

/* dst[k * ld + row] = m[row * K + k]: a [rows, K] matrix transposed, its rows ld floats apart. */
static void transpose(float *dst, size_t ld, const float *m, int rows, int K) {
    for (int row = 0; row < rows; ++row)
        for (int k = 0; k < K; ++k) dst[(size_t)k * ld + row] = m[(size_t)row * K + k];
}

/* Layer l: WT [I, D*G*H], RT [D][Hr][G*H], bias [D][2][G*H], peep [D][3H], projT [D][H][Hr]. */
static clrnn_status upload_layer(clrnn_rnn *r, int l, float *tmp) {
    const clrnn_rnn_desc *d = &r->desc;
    const int D = r->D, G = r->G, H = d->hidden_size, Hr = r->Hr, GH = G * H;
    const int I = r->lw[l * D].in_size;
    const clrnn_layer_weights *lw = &r->lw[l * D];
    const size_t f = sizeof(float);
    clrnn_status st;
    /* WT: both directions' input weights side by side, one GEMM for the layer */
    for (int dir = 0; dir < D; ++dir) transpose(tmp + (size_t)dir * GH, (size_t)D * GH, lw[dir].W, GH, I);
    if ((st = clrnn_rnn_upload_stored(r, &r->dw.WT[l], tmp, (size_t)I * D * GH, "input weights")) != CLRNN_OK)
        return st;
    /* RT so that consecutive work-items (j) read consecutive floats */
    for (int dir = 0; dir < D; ++dir) transpose(tmp + (size_t)dir * Hr * GH, (size_t)GH, lw[dir].R, GH, Hr);
    if ((st = clrnn_rnn_upload_stored(r, &r->dw.RT[l], tmp, (size_t)D * Hr * GH, "recurrent weights")) != CLRNN_OK)
        return st;
    /* bias: row 0 the folded x-side bias, row 1 = Rb */
    for (int dir = 0; dir < D; ++dir) {
        float *b = tmp + (size_t)dir * 2 * GH;
        for (int k = 0; k < GH; ++k) {
            b[k] = clrnn_cell_folded_bias(d, &lw[dir], k / H, H, k % H);
            b[GH + k] = lw[dir].Rb[k];
        }
    }
    if ((st = clrnn_rnn_upload_buf(r, &r->dw.bias[l], tmp, (size_t)D * 2 * GH * f, "biases")) != CLRNN_OK) return st;
    for (int dir = 0; dir < D; ++dir) memcpy(tmp + (size_t)dir * 3 * H, lw[dir].P, 3 * (size_t)H * f);
    if ((st = clrnn_rnn_upload_stored(r, &r->dw.peep[l], tmp, (size_t)D * 3 * H, "peepholes")) != CLRNN_OK ||
        d->proj_size == 0)
        return st;
    for (int dir = 0; dir < D; ++dir) transpose(tmp + (size_t)dir * H * Hr, (size_t)Hr, lw[dir].proj, Hr, H);
    return clrnn_rnn_upload_stored(r, &r->dw.projT[l], tmp, (size_t)D * H * Hr, "projection");
}

static void workspace(const clrnn_rnn *r, clrnn_plan_workspace *w) {
    w->xp_cols = (size_t)r->D * r->G * r->desc.hidden_size;
    w->n_bufs = 0;
}

/* x_proj [T*N, D*G*H] = input [T*N, I] · WT for all steps and directions: an SGEMM, or with fp16/bf16
 * storage (which the GEMMs do not read) the xproj_generic kernel. */
static clrnn_status input_projection(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off) {
    const int I = r->lw[l * r->D].in_size;
    const size_t cols = (size_t)r->D * r->G * r->desc.hidden_size;
    (void)batch_major; /* the step kernels read x_proj in the input's row order */
    if (r->elem != sizeof(float)) {
        kargs a = begin_r(r, CLRNN_K_xproj_generic, "xproj_generic");
        a_int(&a, T * N), a_int(&a, (int)cols), a_int(&a, I), a_mem(&a, in), a_ulong(&a, in_off), a_mem(&a, r->dw.WT[l]);
        a_mem(&a, r->ws.x_proj);
        clrnn_karg_loops(&a, (long)I + 1);
        return launch(r->ctx, &a, cols, (size_t)T * N, 1, step_lws(r->ctx, a.k, (int)cols));
    }
    return clrnn_sgemm_locked(r->ctx, 0, 0, (size_t)T * N, cols, (size_t)I, 1.0f, in, in_off, (size_t)I, r->dw.WT[l], 0,
                              cols, 0.0f, r->ws.x_proj, 0, cols);
}

/* Launch arguments of a generic step kernel. They are bound once, in order; the ones the scan
 * rebinds at each step (the step index and the ping-pong states) are found by name: each slot
 * records its index as it is bound, so no loop counts positions. */
typedef struct step_args {
    kargs a;
    cl_uint h_prev, h_next, c_prev, c_next; /* the slots; 0 where the kernel has none (0 is the step) */
} step_args;

#define STEP_ARG 0 /* every step kernel's first parameter: the step index s */

/* Binds GENERIC_STEP_PARAMS (cl/common.cl), the parameters rnn_step, lstm_step and the GRU step
 * kernels open with; the kernel-specific ones follow. */
static step_args step_args_begin(clrnn_rnn *r, clrnn_kernel_id id, int l, int T, int N, int xp_batch_major) {
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    step_args k = {begin_r(r, id, clrnn_kernel_name(id)), 0, 0, 0, 0};
    kargs *a = &k.a;
    a_int(a, 0), a_int(a, T), a_int(a, N), a_int(a, r->desc.hidden_size), a_mem(a, ws->tmap), a_mem(a, ws->x_proj);
    a_int(a, xp_batch_major), a_mem(a, dw->RT[l]), a_mem(a, dw->bias[l]), a_mem(a, dw->acts);
    k.h_prev = a->i, a_mem(a, ws->h[l][0]);
    return k;
}

/* Points the named slots at step s's states: read [s & 1], write [(s + 1) & 1]. */
static void step_args_at(step_args *k, int s, cl_mem *h, cl_mem *c) {
    const int cur = s & 1, nxt = (s + 1) & 1;
    a_set_int(&k->a, STEP_ARG, s);
    if (k->h_prev) a_set_mem(&k->a, k->h_prev, h[cur]);
    if (k->h_next) a_set_mem(&k->a, k->h_next, h[nxt]);
    if (k->c_prev) a_set_mem(&k->a, k->c_prev, c[cur]);
    if (k->c_next) a_set_mem(&k->a, k->c_next, c[nxt]);
}

/* RECURRENT_DOT's loops a work-item (cl/common.cl: chunks of lws, k, G gates a k) and a few
 * more: declared for the device's loop bound (the launch refuses past it). */
static long dot_loops(int G, int K, size_t lws) { return (long)K / (long)lws + 2 + (long)K * (1L + G) + 16; }

/* One layer's recurrence over all T steps, both directions in each launch. */
static clrnn_status scan_layer(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int H = d->hidden_size, Hr = r->Hr, D = r->D;
    const int policy = (int)d->masked_output;
    const float fill = d->masked_fill_value;
    clrnn_status st = CLRNN_OK;
    cl_mem *h = ws->h[l], *c = ws->c[l];

    const clrnn_cell_kernels *kern = clrnn_cell_kernels_for(d);
    const clrnn_kernel_id k0 = kern->generic[0], k1 = kern->generic[1];

    if (!clrnn_cell_info_of(d->cell)->has_c && !kern->two_launch) { /* rnn_step, gru_lbr_step */
        step_args k = step_args_begin(r, k0, l, T, N, xp_batch_major);
        kargs *a = &k.a;
        const size_t lws = step_lws(ctx, a->k, H);
        k.h_next = a->i, a_mem(a, h[1]);
        a_mem(a, y_layer), a_int(a, policy), a_flt(a, d->clip), a_flt(a, fill), a_local(a, lws * sizeof(float));
        clrnn_karg_loops(a, dot_loops(kern->generic[0] == CLRNN_K_rnn_step ? 1 : 3, H, lws));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            step_args_at(&k, s, h, c);
            st = launch(ctx, a, (size_t)H, (size_t)N, (size_t)D, lws);
        }
    } else if (kern->uses_z) { /* gru_gates_step, gru_out_step */
        step_args g = step_args_begin(r, k0, l, T, N, xp_batch_major), o = step_args_begin(r, k1, l, T, N, xp_batch_major);
        const size_t lg = step_lws(ctx, g.a.k, H), lo = step_lws(ctx, o.a.k, H);
        a_mem(&g.a, ws->zbuf), a_mem(&g.a, ws->h_raw), a_flt(&g.a, d->clip), a_local(&g.a, lg * sizeof(float));
        a_mem(&o.a, ws->zbuf), a_mem(&o.a, ws->h_raw);
        o.h_next = o.a.i, a_mem(&o.a, h[1]);
        a_mem(&o.a, y_layer), a_int(&o.a, policy), a_flt(&o.a, d->clip), a_flt(&o.a, fill);
        a_local(&o.a, lo * sizeof(float));
        clrnn_karg_loops(&g.a, dot_loops(2, H, lg)), clrnn_karg_loops(&o.a, dot_loops(1, H, lo));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            step_args_at(&g, s, h, c);
            step_args_at(&o, s, h, c);
            st = launch(ctx, &g.a, (size_t)H, (size_t)N, (size_t)D, lg);
            if (st == CLRNN_OK) st = launch(ctx, &o.a, (size_t)H, (size_t)N, (size_t)D, lo);
        }
    } else {
        const int proj = d->proj_size > 0;
        step_args k = step_args_begin(r, k0, l, T, N, xp_batch_major); /* lstm_step */
        kargs *a = &k.a;
        const size_t la = step_lws(ctx, a->k, H);
        a_int(a, Hr), a_mem(a, dw->peep[l]);
        k.c_prev = a->i, a_mem(a, c[0]);
        k.h_next = a->i, a_mem(a, h[1]);
        k.c_next = a->i, a_mem(a, c[1]);
        a_mem(a, y_layer), a_mem(a, ws->h_raw), a_int(a, clrnn_lstm_flags(d)), a_int(a, policy), a_flt(a, d->clip);
        a_flt(a, d->cell_clip), a_flt(a, fill), a_local(a, la * sizeof(float));
        clrnn_karg_loops(a, dot_loops(4, Hr, la));
        /* lstm_proj_step: m = W_proj h_raw, from h_raw to the h states */
        step_args p = {{0}, 0, 0, 0, 0};
        size_t lp = 1;
        if (proj) { /* created only for an rnn with a projection (first use) */
            p.a = begin_r(r, CLRNN_K_lstm_proj_step, "lstm_proj_step");
            lp = step_lws(ctx, p.a.k, Hr);
            a_int(&p.a, 0), a_int(&p.a, T), a_int(&p.a, N), a_int(&p.a, H), a_int(&p.a, Hr), a_mem(&p.a, ws->tmap);
            a_mem(&p.a, dw->projT[l]), a_mem(&p.a, ws->h_raw);
            p.h_prev = p.a.i, a_mem(&p.a, h[0]);
            p.h_next = p.a.i, a_mem(&p.a, h[1]);
            a_mem(&p.a, y_layer), a_int(&p.a, policy), a_flt(&p.a, d->proj_clip), a_flt(&p.a, fill);
            a_local(&p.a, lp * sizeof(float));
            clrnn_karg_loops(&p.a, dot_loops(1, H, lp));
        }
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            step_args_at(&k, s, h, c);
            st = launch(ctx, a, (size_t)H, (size_t)N, (size_t)D, la);
            if (proj && st == CLRNN_OK) {
                step_args_at(&p, s, h, c);
                st = launch(ctx, &p.a, (size_t)Hr, (size_t)N, (size_t)D, lp);
            }
        }
    }
    *final_idx = T & 1;
    return st;
}

static void describe(const clrnn_rnn *r, char *buf, size_t cap) {
    const clrnn_cell_kernels *k = clrnn_cell_kernels_for(&r->desc);
    snprintf(buf, cap, "generic: input projection CLBlast SGEMM, steps %s%s%s, one work-item per unit, %d direction(s)",
             clrnn_kernel_name(k->generic[0]), k->two_launch ? " + " : "", k->two_launch ? clrnn_kernel_name(k->generic[1]) : "",
             r->D);
}

/* lifetime; device memory; the forward pass */
const clrnn_plan_ops clrnn_plan_generic = {
    .name = "generic", .init = init,
    .upload_scratch = upload_scratch, .upload_layer = upload_layer, .workspace = workspace,
    .input_projection = input_projection, .scan_layer = scan_layer, .describe = describe,
    /* training: the portable implementation (src/train/train.c) */
    .forward_train_layer = clrnn_train_portable_forward_layer,
    .scan_layer_backward = clrnn_train_portable_backward_layer,
    .weight_gradient = clrnn_train_portable_weight_gradient,
};
