/* One layer on the device: the input projection of every step and direction at once, then the
 * recurrence. The tiled plan runs it as a launch per step or as one persistent launch (measured per
 * batch size, see scan_tiled); the generic plan as a launch (two for the reset-before GRU and the
 * projected LSTM) per step. Nothing is read back between steps. */
#include "launch.h"

#include <string.h>

/* Row groups for the tiled kernels: the fewest that still give every compute unit two work-items
 * (units = work-items per group), so each work-item keeps its weight slice in cache across more rows.
 * rnn->tiled_groups (CLRNN_TILED_GROUPS at creation) overrides it, for tuning experiments. */
static void tiled_groups(const clrnn_rnn *r, int n_rb, int units, int *groups, int *rb_per_item) {
    int g = (2 * (int)r->ctx->info.compute_units + units - 1) / units;
    if (r->tiled_groups > 0) g = r->tiled_groups;
    g = g < 1 ? 1 : g > n_rb ? n_rb : g;
    *rb_per_item = (n_rb + g - 1) / g;
    *groups = (n_rb + *rb_per_item - 1) / *rb_per_item;
}

/* x_proj for one layer: the tiled kernel, or CLBlast for the generic plan. */
clrnn_status clrnn_input_projection(clrnn_rnn *r, int l, int T, int N, int batch_major, cl_mem in, size_t in_off) {
    const int rows = T * N;
    clrnn_context *ctx = r->ctx;
    const int I = r->lw[l * r->D].in_size, H = r->desc.hidden_size;
    if (!r->tiled) {
        const size_t cols = (size_t)r->D * r->G * H;
        return clrnn_sgemm_locked(ctx, 0, 0, (size_t)rows, cols, (size_t)I, 1.0f, in, in_off, (size_t)I, r->dw.WT[l], 0,
                                  cols, 0.0f, r->ws.x_proj, 0, cols);
    }
    const clrnn_kernel_id id = r->Gs == 4 ? CLRNN_K_xproj_tiled_4 : CLRNN_K_xproj_tiled_3;
    int groups, rb_per_item;
    tiled_groups(r, (T * N + 3) / 4, r->Hb * r->D, &groups, &rb_per_item);
    kargs a = begin(ctx, id, "xproj_tiled");
    a_int(&a, T), a_int(&a, N), a_int(&a, batch_major), a_int(&a, r->Hb), a_int(&a, I), a_mem(&a, in);
    a_ulong(&a, in_off), a_mem(&a, r->dw.WT[l]), a_mem(&a, r->ws.x_proj), a_mem(&a, r->ws.perm);
    a_mem(&a, r->ws.row_needed), a_int(&a, rb_per_item);
    return launch(ctx, &a, (size_t)r->Hb, (size_t)groups, (size_t)r->D, 1);
}

/* The tiled plan's scan kernels by cell, as [MR = 1, MR = 4]: the persistent scan, and the step
 * kernel(s) it replaces (the reset-before GRU's step is two launches, gates then output; the
 * LSTMP's too, LSTM then projection). */
typedef struct tiled_kernels {
    clrnn_kernel_id scan[2], step[2], step2[2];
    int n_steps; /* launches per step */
} tiled_kernels;

static tiled_kernels tiled_kernels_for(const clrnn_rnn_desc *d) {
    if (d->cell == CLRNN_CELL_LSTM && d->proj_size > 0)
        return (tiled_kernels){{CLRNN_K_lstmp_scan_tiled_1, CLRNN_K_lstmp_scan_tiled_4},
                               {CLRNN_K_lstm_step_tiled_1, CLRNN_K_lstm_step_tiled_4},
                               {CLRNN_K_proj_step_tiled_1, CLRNN_K_proj_step_tiled_4}, 2};
    if (d->cell == CLRNN_CELL_LSTM)
        return (tiled_kernels){{CLRNN_K_lstm_scan_tiled_1, CLRNN_K_lstm_scan_tiled_4},
                               {CLRNN_K_lstm_step_tiled_1, CLRNN_K_lstm_step_tiled_4}, {0, 0}, 1};
    if (d->cell == CLRNN_CELL_RNN)
        return (tiled_kernels){{CLRNN_K_rnn_scan_tiled_1, CLRNN_K_rnn_scan_tiled_4},
                               {CLRNN_K_rnn_step_tiled_1, CLRNN_K_rnn_step_tiled_4}, {0, 0}, 1};
    if (d->linear_before_reset)
        return (tiled_kernels){{CLRNN_K_gru_lbr_scan_tiled_1, CLRNN_K_gru_lbr_scan_tiled_4},
                               {CLRNN_K_gru_lbr_step_tiled_1, CLRNN_K_gru_lbr_step_tiled_4}, {0, 0}, 1};
    return (tiled_kernels){{CLRNN_K_gru_scan_tiled_1, CLRNN_K_gru_scan_tiled_4},
                           {CLRNN_K_gru_gates_step_tiled_1, CLRNN_K_gru_gates_step_tiled_4},
                           {CLRNN_K_gru_out_step_tiled_1, CLRNN_K_gru_out_step_tiled_4}, 2};
}

/* Work-group width of the persistent scan: the blocks of a step (and of the LSTMP's projection). */
static int scan_width(const clrnn_rnn *r) { return r->Hbp > r->Hb ? r->Hbp : r->Hb; }

/* Arguments of every tiled step/scan kernel (the *_TILED_PARAMS lists in cl/step_tiled.cl), steps
 * [0, T), state buffers a = 0 and b = 1 (the step kernels read a and write b, the scan starts from
 * a). *state_arg is the index of the first state argument (h_a, then c_a for the LSTM, then b). */
static kargs tiled_args(clrnn_rnn *r, clrnn_kernel_id id, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                        cl_uint *state_arg) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int proj = d->proj_size > 0;
    kargs a = begin(r->ctx, id, "tiled scan");
    a_int(&a, 0), a_int(&a, T), a_int(&a, T), a_int(&a, N);
    if (id == CLRNN_K_proj_step_tiled_1 || id == CLRNN_K_proj_step_tiled_4) {
        /* PROJ_TILED_PARAMS: H = the projection size, K = the hidden size, rows of h_raw Hc apart */
        a_int(&a, r->Hr), a_int(&a, d->hidden_size), a_mem(&a, ws->tmap), a_mem(&a, ws->perm), a_mem(&a, dw->projT[l]);
        a_mem(&a, ws->h_raw), a_int(&a, r->Hc);
        *state_arg = a.i;
        a_mem(&a, ws->h[l][0]), a_mem(&a, ws->h[l][1]), a_mem(&a, y_layer), a_int(&a, (int)d->masked_output);
        a_flt(&a, d->proj_clip), a_flt(&a, d->masked_fill_value);
        return a;
    }
    a_int(&a, d->hidden_size), a_int(&a, r->Hr);
    a_mem(&a, ws->tmap), a_mem(&a, ws->perm), a_mem(&a, ws->x_proj), a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]);
    a_mem(&a, dw->bias[l]);
    if (d->cell == CLRNN_CELL_LSTM) {
        a_mem(&a, dw->peep[l]), a_mem(&a, dw->acts);
        *state_arg = a.i;
        a_mem(&a, ws->h[l][0]), a_mem(&a, ws->c[l][0]), a_mem(&a, ws->h[l][1]), a_mem(&a, ws->c[l][1]);
        a_mem(&a, y_layer), a_int(&a, (d->peephole ? 1 : 0) | (d->input_forget ? 2 : 0) | (proj ? 4 : 0));
        a_int(&a, (int)d->masked_output), a_flt(&a, d->clip), a_flt(&a, d->cell_clip), a_flt(&a, d->masked_fill_value);
        a_mem(&a, ws->h_raw), a_int(&a, r->Hs);
        if (id == CLRNN_K_lstmp_scan_tiled_1 || id == CLRNN_K_lstmp_scan_tiled_4)
            a_mem(&a, dw->projT[l]), a_int(&a, r->Hr), a_flt(&a, d->proj_clip);
        return a;
    }
    a_mem(&a, dw->acts);
    *state_arg = a.i;
    a_mem(&a, ws->h[l][0]), a_mem(&a, ws->h[l][1]);
    if (d->cell == CLRNN_CELL_GRU && !d->linear_before_reset) a_mem(&a, ws->zbuf), a_mem(&a, ws->h_raw);
    a_mem(&a, y_layer), a_int(&a, (int)d->masked_output), a_flt(&a, d->clip), a_flt(&a, d->masked_fill_value);
    return a;
}

/* Points a step kernel at step s: it reads the states of buffer s & 1 and writes the other
 * (with_c: the LSTM phase, which carries c too). */
static void tiled_step_at(kargs *a, const clrnn_rnn *r, int l, cl_uint state_arg, int with_c, int s) {
    const int cur = s & 1, nxt = cur ^ 1;
    const clrnn_workspace *ws = &r->ws;
    a_set_int(a, 0, s);
    a_set_mem(a, state_arg, ws->h[l][cur]);
    if (with_c) a_set_mem(a, state_arg + 1, ws->c[l][cur]);
    a_set_mem(a, state_arg + 1 + with_c, ws->h[l][nxt]);
    if (with_c) a_set_mem(a, state_arg + 3, ws->c[l][nxt]);
}

/* Row groups of the persistent scan: a work-group runs on one compute unit and owns its rows for
 * all T steps, so one group per compute unit and direction (each group streams all of Rᵀ once per
 * step). */
static int scan_groups(const clrnn_rnn *r, int n_rb) {
    int g = ((int)r->ctx->info.compute_units + r->D - 1) / r->D;
    if (r->tiled_groups > 0) g = r->tiled_groups;
    return g < 1 ? 1 : g > n_rb ? n_rb : g;
}

/* Whether the persistent scan can run: its work-group is the blocks of one row group. */
static int scan_fits(const clrnn_rnn *r, clrnn_kernel_id id) {
    size_t kmax = 0;
    return clGetKernelWorkGroupInfo(r->ctx->kernels[id], r->ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                    &kmax, NULL) == CL_SUCCESS &&
           (size_t)scan_width(r) <= kmax;
}

/* Steps [s0, s1) of layer l in the tiled plan: the persistent scan (one launch) or one launch (two
 * for the reset-before GRU and the LSTMP) per step. Both run the same arithmetic on the same state buffers (step
 * s reads buffer s & 1), so they can take turns within one layer and give bitwise equal results. */
static clrnn_status scan_tiled_range(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer,
                                     int persistent, int s0, int s1) {
    clrnn_context *ctx = r->ctx;
    /* MR = 4 batch rows per work-item when the batch allows it; 1 keeps small batches parallel */
    const int m = N >= 8 ? 1 : 0, mr = m ? 4 : 1, n_rb = (N + mr - 1) / mr;
    const tiled_kernels tk = tiled_kernels_for(&r->desc);
    if (s0 >= s1) return CLRNN_OK;
    cl_uint state_arg, state_arg2 = 0;
    if (persistent) {
        const size_t width = (size_t)scan_width(r);
        kargs a = tiled_args(r, tk.scan[m], l, T, N, xp_batch_major, y_layer, &state_arg);
        a_set_int(&a, 0, s0), a_set_int(&a, 1, s1);
        return launch(ctx, &a, width, (size_t)scan_groups(r, n_rb), (size_t)r->D, width);
    }
    /* Fewest row groups that still give every compute unit two work-items: each work-item then
     * keeps its slice of Rᵀ in cache across more of the batch. */
    int groups, rb_per_item;
    tiled_groups(r, n_rb, r->Hb * r->D, &groups, &rb_per_item);
    const int lstm = r->desc.cell == CLRNN_CELL_LSTM;
    const size_t blocks2 = (size_t)(r->Hbp ? r->Hbp : r->Hb); /* second launch: projection or GRU output */
    kargs a = tiled_args(r, tk.step[m], l, T, N, xp_batch_major, y_layer, &state_arg), b = a;
    if (tk.n_steps == 2) b = tiled_args(r, tk.step2[m], l, T, N, xp_batch_major, y_layer, &state_arg2);
    clrnn_status st = CLRNN_OK;
    for (int s = s0; s < s1 && st == CLRNN_OK; ++s) {
        tiled_step_at(&a, r, l, state_arg, lstm, s);
        st = launch(ctx, &a, (size_t)r->Hb, (size_t)groups, (size_t)r->D, 1);
        if (tk.n_steps == 2 && st == CLRNN_OK) {
            tiled_step_at(&b, r, l, state_arg2, 0, s);
            st = launch(ctx, &b, blocks2, (size_t)groups, (size_t)r->D, 1);
        }
    }
    return st;
}

static clrnn_status finish(clrnn_context *ctx) {
    const cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", "timing the scan variants");
}

/* The memo slot of batch size N, taking the oldest slot for a new one (caller holds the lock). */
static clrnn_scan_choice *scan_memo_slot(clrnn_rnn *r, int N) {
    for (int i = 0; i < CLRNN_SCAN_MEMO; ++i)
        if (r->scan_memo[i].N == N) return &r->scan_memo[i];
    clrnn_scan_choice *c = &r->scan_memo[r->scan_memo_next];
    r->scan_memo_next = (r->scan_memo_next + 1) % CLRNN_SCAN_MEMO;
    memset(c, 0, sizeof *c);
    c->N = N;
    return c;
}

/* One layer of the tiled plan. Which scan is faster depends on the device and the shape (the
 * persistent scan saves a launch per step but runs a row group on one compute unit, streaming all
 * of Rᵀ there), so it is measured per batch size, on the layer's own steps: after a warm-up step of
 * each, steps run as A B B A chunks of k steps (A = a launch per step, B = persistent), which cancels
 * a cost that drifts linearly over time (rows finishing), and the faster takes the remaining steps.
 * No work is repeated. The first call of a batch size is not measured (first-touch page faults and
 * cold caches would decide it) and runs a launch per step; the next CLRNN_SCAN_TRIALS calls with
 * enough steps are, and their summed times decide. CLRNN_SCAN=steps|persistent forces one. */
static clrnn_status scan_tiled(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer) {
    const tiled_kernels tk = tiled_kernels_for(&r->desc);
    int mode = r->scan_mode;
    if (!scan_fits(r, tk.scan[N >= 8])) mode = CLRNN_SCAN_STEPS;
    const int k = (T - 2) / 4 < 8 ? (T - 2) / 4 : 8;
    clrnn_scan_choice *memo = mode ? NULL : scan_memo_slot(r, N);
    if (memo && memo->mode) mode = memo->mode;
    /* measure on layer 0 only, and not on a batch size's first call */
    if (mode || k < 2 || l > 0 || memo->calls++ == 0)
        return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, mode == CLRNN_SCAN_PERSISTENT, 0, T);

    clrnn_status st;
    double t[4];
    const int s[5] = {2, 2 + k, 2 + 3 * k, 2 + 4 * k, T};
    if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 0, 0, 1)) != CLRNN_OK ||
        (st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, 1, 1, 2)) != CLRNN_OK ||
        (st = finish(r->ctx)) != CLRNN_OK)
        return st;
    for (int c = 0; c < 3; ++c) {
        t[c] = clrnn_now_ms();
        if ((st = scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, c == 1, s[c], s[c + 1])) != CLRNN_OK ||
            (st = finish(r->ctx)) != CLRNN_OK)
            return st;
    }
    t[3] = clrnn_now_ms();
    memo->steps_timed += 2 * k;
    memo->ms_steps += (t[1] - t[0]) + (t[3] - t[2]);
    memo->ms_persistent += t[2] - t[1];
    int best = memo->ms_persistent < memo->ms_steps ? CLRNN_SCAN_PERSISTENT : CLRNN_SCAN_STEPS;
    if (++memo->trials >= CLRNN_SCAN_TRIALS) memo->mode = best;
    return scan_tiled_range(r, l, T, N, xp_batch_major, y_layer, best == CLRNN_SCAN_PERSISTENT, s[3], s[4]);
}

/* One layer's recurrence over all T steps, both directions in each launch. */
clrnn_status clrnn_scan_layer(clrnn_rnn *r, int l, int T, int N, int xp_batch_major, cl_mem y_layer, int *final_idx) {
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_context *ctx = r->ctx;
    clrnn_workspace *ws = &r->ws;
    clrnn_device_weights *dw = &r->dw;
    const int H = d->hidden_size, Hr = r->Hr, D = r->D;
    const int policy = (int)d->masked_output;
    const float fill = d->masked_fill_value;
    clrnn_status st = CLRNN_OK;
    cl_mem *h = ws->h[l], *c = ws->c[l];

    if (r->tiled) {
        st = scan_tiled(r, l, T, N, xp_batch_major, y_layer);
    } else if (d->cell == CLRNN_CELL_RNN || (d->cell == CLRNN_CELL_GRU && d->linear_before_reset)) {
        const int rnn = d->cell == CLRNN_CELL_RNN;
        kargs a = begin(ctx, rnn ? CLRNN_K_rnn_step : CLRNN_K_gru_lbr_step, rnn ? "rnn_step" : "gru_lbr_step");
        const size_t lws = step_lws(ctx, a.k, H);
        a_int(&a, 0), a_int(&a, T), a_int(&a, N), a_int(&a, H), a_mem(&a, ws->tmap), a_mem(&a, ws->x_proj);
        a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]), a_mem(&a, dw->bias[l]), a_mem(&a, dw->acts);
        a_mem(&a, h[0]), a_mem(&a, h[1]), a_mem(&a, y_layer), a_int(&a, policy), a_flt(&a, d->clip);
        a_flt(&a, fill), a_local(&a, lws * sizeof(float));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            a_set_int(&a, 0, s);
            a_set_mem(&a, 10, h[s & 1]);
            a_set_mem(&a, 11, h[(s + 1) & 1]);
            st = launch(ctx, &a, (size_t)H, (size_t)N, (size_t)D, lws);
        }
    } else if (d->cell == CLRNN_CELL_GRU) {
        kargs g = begin(ctx, CLRNN_K_gru_gates_step, "gru_gates_step");
        kargs o = begin(ctx, CLRNN_K_gru_out_step, "gru_out_step");
        const size_t lg = step_lws(ctx, g.k, H), lo = step_lws(ctx, o.k, H);
        a_int(&g, 0), a_int(&g, T), a_int(&g, N), a_int(&g, H), a_mem(&g, ws->tmap), a_mem(&g, ws->x_proj);
        a_int(&g, xp_batch_major), a_mem(&g, dw->RT[l]), a_mem(&g, dw->bias[l]), a_mem(&g, dw->acts);
        a_mem(&g, h[0]), a_mem(&g, ws->zbuf), a_mem(&g, ws->h_raw), a_flt(&g, d->clip), a_local(&g, lg * sizeof(float));
        a_int(&o, 0), a_int(&o, T), a_int(&o, N), a_int(&o, H), a_mem(&o, ws->tmap), a_mem(&o, ws->x_proj);
        a_int(&o, xp_batch_major), a_mem(&o, dw->RT[l]), a_mem(&o, dw->bias[l]), a_mem(&o, dw->acts);
        a_mem(&o, h[0]), a_mem(&o, ws->zbuf), a_mem(&o, ws->h_raw), a_mem(&o, h[1]), a_mem(&o, y_layer);
        a_int(&o, policy), a_flt(&o, d->clip), a_flt(&o, fill), a_local(&o, lo * sizeof(float));
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            a_set_int(&g, 0, s);
            a_set_mem(&g, 10, h[s & 1]);
            a_set_int(&o, 0, s);
            a_set_mem(&o, 10, h[s & 1]);
            a_set_mem(&o, 13, h[(s + 1) & 1]);
            st = launch(ctx, &g, (size_t)H, (size_t)N, (size_t)D, lg);
            if (st == CLRNN_OK) st = launch(ctx, &o, (size_t)H, (size_t)N, (size_t)D, lo);
        }
    } else {
        const int proj = d->proj_size > 0;
        const int flags = (d->peephole ? 1 : 0) | (d->input_forget ? 2 : 0) | (proj ? 4 : 0);
        kargs a = begin(ctx, CLRNN_K_lstm_step, "lstm_step");
        kargs p = begin(ctx, CLRNN_K_lstm_proj_step, "lstm_proj_step");
        const size_t la = step_lws(ctx, a.k, H), lp = step_lws(ctx, p.k, Hr);
        a_int(&a, 0), a_int(&a, T), a_int(&a, N), a_int(&a, H), a_int(&a, Hr), a_mem(&a, ws->tmap);
        a_mem(&a, ws->x_proj), a_int(&a, xp_batch_major), a_mem(&a, dw->RT[l]), a_mem(&a, dw->bias[l]);
        a_mem(&a, dw->peep[l]), a_mem(&a, dw->acts), a_mem(&a, h[0]), a_mem(&a, c[0]), a_mem(&a, h[1]);
        a_mem(&a, c[1]), a_mem(&a, y_layer), a_mem(&a, ws->h_raw), a_int(&a, flags), a_int(&a, policy);
        a_flt(&a, d->clip), a_flt(&a, d->cell_clip), a_flt(&a, fill), a_local(&a, la * sizeof(float));
        if (proj) {
            a_int(&p, 0), a_int(&p, T), a_int(&p, N), a_int(&p, H), a_int(&p, Hr), a_mem(&p, ws->tmap);
            a_mem(&p, dw->projT[l]), a_mem(&p, ws->h_raw), a_mem(&p, h[0]), a_mem(&p, h[1]), a_mem(&p, y_layer);
            a_int(&p, policy), a_flt(&p, d->proj_clip), a_flt(&p, fill), a_local(&p, lp * sizeof(float));
        }
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            const int cur = s & 1, nxt = (s + 1) & 1;
            a_set_int(&a, 0, s);
            a_set_mem(&a, 12, h[cur]), a_set_mem(&a, 13, c[cur]), a_set_mem(&a, 14, h[nxt]), a_set_mem(&a, 15, c[nxt]);
            st = launch(ctx, &a, (size_t)H, (size_t)N, (size_t)D, la);
            if (proj && st == CLRNN_OK) {
                a_set_int(&p, 0, s);
                a_set_mem(&p, 8, h[cur]), a_set_mem(&p, 9, h[nxt]);
                st = launch(ctx, &p, (size_t)Hr, (size_t)N, (size_t)D, lp);
            }
        }
    }
    *final_idx = T & 1;
    return st;
}
