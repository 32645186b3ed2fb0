/* Training: forward_train + backward_data + backward_weights against the float64 reference
 * backward (tests/ref/reference_train.c, clrnn_reference_train) within |got-exp|/(1+|exp|) <= 1e-5:
 * every cell and activation, lengths (0 and T), masks with holes (and NaN in the padding), every
 * masked-output policy, both reverse modes and orders, bidirectional with every merge, stacked
 * layers, last_only, dense, projections, dropout. dy, dhn, dcn random. Output buffers poisoned.
 * Also: forward_train's outputs against clrnn_rnn_forward, bitwise determinism, SET vs ADD, the
 * refused calls. */
#include "core/launch.h"
#include "internal.h"
#include "plans/plan.h"
#include "reference.h"
#include "test_util.h"
#include "train/train.h"
#include "train_paths.h"

#include <threads.h>

typedef enum { LEN_FULL, LEN_VARIED, LEN_MASK_HOLES } len_mode;

typedef struct tcase {
    const char *name;
    clrnn_rnn_desc desc;
    int T, N;
    len_mode lens;
    int with_h0, with_dhn, last_only;
    int device_tensors;
    int check_get_grad; /* also every role of every framework through clrnn_rnn_get_grad */
} tcase;

/* Random ONNX weights, scaled to H. */
static void set_random_weights(clrnn_rnn *r, uint64_t *seed) {
    const int H = r->desc.hidden_size;
    tu_set_random_weights(r, seed, 0.8f / sqrtf((float)(H > 2 ? H : 2)), 0.5f, 0.5f);
}

/* The host array of trainable tensor i, in clrnn_rnn_param_bufs' order. */
static float *host_param(clrnn_rnn *r, int i, size_t *count) {
    const clrnn_rnn_desc *d = &r->desc;
    const int per = 4 + (d->peephole ? 1 : 0) + (d->proj_size > 0 ? 1 : 0), LD = d->num_layers * r->D;
    const size_t H = (size_t)d->hidden_size, GH = (size_t)r->G * H, Hr = (size_t)r->Hr;
    if (i >= LD * per) {
        *count = i == LD * per ? (size_t)r->O * r->Hm : (size_t)r->O;
        return i == LD * per ? r->dense_W : r->dense_b;
    }
    clrnn_layer_weights *w = &r->lw[i / per];
    switch (i % per) {
    case 0: *count = GH * w->in_size; return w->W;
    case 1: *count = GH * Hr; return w->R;
    case 2: *count = GH; return w->Wb;
    case 3: *count = GH; return w->Rb;
    case 4: if (d->peephole) { *count = 3 * H; return w->P; } /* fall through */
    default: *count = Hr * H; return w->proj;
    }
}

/* The problem of one case: inputs, loss coefficients (dy, dhn, dcn). */
typedef struct problem {
    int T, N, I, L, D, Hr, H, O, has_c, last_only;
    size_t nx, ny, nh, nc;
    float *x, *h0, *c0, *dy, *dhn, *dcn;
    int32_t *lens;
    uint8_t *mask;
} problem;

static void problem_make(problem *p, clrnn_rnn *r, const tcase *c, uint64_t *seed) {
    memset(p, 0, sizeof *p);
    p->T = c->T, p->N = c->N, p->I = r->desc.input_size, p->L = r->desc.num_layers, p->D = r->D, p->Hr = r->Hr;
    p->H = r->desc.hidden_size, p->O = r->O, p->has_c = r->desc.cell == CLRNN_CELL_LSTM, p->last_only = c->last_only;
    const size_t TN = (size_t)c->T * c->N, LDN = (size_t)p->L * p->D * c->N;
    const int none = r->D == 2 && r->desc.merge == CLRNN_MERGE_NONE;
    p->nx = TN * p->I;
    p->ny = (c->last_only ? (size_t)c->N : TN) * (none ? 2 * (size_t)p->Hr : (size_t)p->O);
    p->nh = LDN * p->Hr;
    p->nc = LDN * p->H;
    p->x = tu_alloc_random(p->nx, seed, -1, 1);
    p->h0 = c->with_h0 ? tu_alloc_random(p->nh, seed, -0.8f, 0.8f) : calloc(p->nh, sizeof(float));
    p->c0 = c->with_h0 ? tu_alloc_random(p->nc, seed, -0.8f, 0.8f) : calloc(p->nc, sizeof(float));
    p->dy = tu_alloc_random(p->ny, seed, -1, 1);
    p->dhn = c->with_dhn ? tu_alloc_random(p->nh, seed, -1, 1) : calloc(p->nh, sizeof(float));
    p->dcn = c->with_dhn ? tu_alloc_random(p->nc, seed, -1, 1) : calloc(p->nc, sizeof(float));
    if (c->lens != LEN_FULL) {
        p->lens = malloc((size_t)c->N * sizeof *p->lens);
        for (int n = 0; n < c->N; ++n) p->lens[n] = n == 0 ? c->T : n == 1 ? 0 : (int)(tu_next(seed) % (uint64_t)(c->T + 1));
    }
    if (c->lens == LEN_MASK_HOLES) {
        p->mask = malloc(TN);
        for (size_t i = 0; i < TN; ++i) p->mask[i] = (tu_next(seed) % 3) != 0;
    }
    /* padding may hold anything, NaN included: no gradient may see it */
    if (c->lens != LEN_FULL && r->desc.layout == CLRNN_LAYOUT_TIME_MAJOR)
        for (int t = 0; t < c->T; ++t)
            for (int n = 0; n < c->N; ++n)
                if (t >= p->lens[n] || (p->mask && !p->mask[(size_t)n * c->T + t]))
                    for (int i = 0; i < p->I; ++i) p->x[((size_t)t * c->N + n) * p->I + i] = NAN;
}

static void problem_free(problem *p) {
    free(p->x), free(p->h0), free(p->c0), free(p->dy), free(p->dhn), free(p->dcn), free(p->lens), free(p->mask);
}

static clrnn_forward_args fwd_args(const problem *p) {
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = p->T, a.batch = p->N, a.x.host = p->x, a.seq_lens = p->lens, a.mask = p->mask;
    a.last_only = p->last_only;
    a.h0.host = p->h0;
    if (p->has_c) a.c0.host = p->c0;
    return a;
}

/* Nothing written past n. */
static int all_poison_from(const float *a, size_t n, size_t cap) {
    for (size_t i = n; i < cap; ++i)
        if (a[i] != POISON) return 0;
    return 1;
}

/* |got - exp| / (1 + |exp|) <= 1e-5: fp32 on the device against float64 (the bar). */
#define TOL 1e-5
static void expect_close(const char *what, const float *got, const float *exp, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const double err = fabs((double)got[i] - (double)exp[i]) / (1.0 + fabs((double)exp[i]));
        if (!(err <= TOL)) fail_msg("%s[%zu]: got %.8g, reference %.8g (err %.3g)", what, i, (double)got[i], (double)exp[i], err);
    }
}

static float *read_buf(cl_mem m, size_t n) {
    float *h = malloc(n * sizeof(float));
    cl_int err = clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, n * sizeof(float), h, 0, NULL, NULL);
    assert_int_equal(err, CL_SUCCESS);
    return h;
}

/* The reference gradient of trainable tensor i (clrnn_rnn_param_bufs' order). */
static const float *ref_param(const clrnn_rnn *r, const clrnn_reference_grads *g, int i) {
    const clrnn_rnn_desc *d = &r->desc;
    const int per = 4 + (d->peephole ? 1 : 0) + (d->proj_size > 0 ? 1 : 0), LD = d->num_layers * r->D;
    if (i >= LD * per) return i == LD * per ? g->dense_W : g->dense_b;
    const clrnn_layer_weights *w = &g->lw[i / per];
    switch (i % per) {
    case 0: return w->W;
    case 1: return w->R;
    case 2: return w->Wb;
    case 3: return w->Rb;
    case 4: if (d->peephole) return w->P; /* fall through */
    default: return w->proj;
    }
}

/* Under the tiled plan the training forward is its own tiled scan (train_paths.h). */
static void check_train_path(clrnn_rnn *r, const clrnn_rnn_desc *d) {
    char plan[2048];
    const char *want = tu_train_forward_want(r, d, plan, sizeof plan);
    if (want && !strstr(plan, want)) fail_msg("plan \"%s\" lacks \"%s\"", plan, want);
}

/* forward_train (outputs against the inference forward and the reference), backward_data,
 * backward_weights SET, every gradient against clrnn_reference_train of the same call (0). */
static void run_case(const tcase *c) {
    clrnn_context *ctx = tu_context();
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &c->desc, &r));
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (const char *q = c->name; *q; ++q) seed = (seed ^ (unsigned char)*q) * 0x100000001b3ULL; /* by name */
    set_random_weights(r, &seed);
    problem p;
    problem_make(&p, r, c, &seed);
    const int dropout = c->desc.dropout > 0 || c->desc.input_dropout > 0 || c->desc.recurrent_dropout > 0;

    clrnn_reserve *res;
    TU_OK(clrnn_reserve_create(r, &res));
    clrnn_forward_args a = fwd_args(&p);
    float *y = tu_alloc_poison(p.ny), *hn = tu_alloc_poison(p.nh), *cn = tu_alloc_poison(p.nc);
    a.y.host = y, a.hn.host = hn;
    if (p.has_c) a.cn.host = cn;
    TU_OK(clrnn_rnn_forward_train(r, &a, res));
    check_train_path(r, &c->desc);
    char what[96];
    if (!dropout) { /* the training forward's outputs are the inference forward's */
        float *y2 = tu_alloc_poison(p.ny), *hn2 = tu_alloc_poison(p.nh), *cn2 = tu_alloc_poison(p.nc);
        a.y.host = y2, a.hn.host = hn2, a.cn.host = p.has_c ? cn2 : NULL;
        TU_OK(clrnn_rnn_forward(r, &a));
        snprintf(what, sizeof what, "%s: forward_train y vs clrnn_rnn_forward", c->name);
        expect_close(what, y, y2, p.ny);
        snprintf(what, sizeof what, "%s: forward_train hn vs clrnn_rnn_forward", c->name);
        expect_close(what, hn, hn2, p.nh);
        if (p.has_c) {
            snprintf(what, sizeof what, "%s: forward_train cn vs clrnn_rnn_forward", c->name);
            expect_close(what, cn, cn2, p.nc);
        }
        free(y2), free(hn2), free(cn2);
    }

    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    float *dx = tu_alloc_poison(p.nx), *dh0 = tu_alloc_poison(p.nh), *dc0 = tu_alloc_poison(p.nc);
    b.dy.host = p.dy;
    if (c->with_dhn) {
        b.dhn.host = p.dhn;
        if (p.has_c) b.dcn.host = p.dcn;
    }
    b.dx.host = dx, b.dh0.host = dh0;
    if (p.has_c) b.dc0.host = dc0;
    const unsigned long scans_before = clrnn_tiled_bwd_scans();
    TU_OK(clrnn_rnn_backward_data(r, res, &b));
    /* the tiled plan runs its fused backward scan (plan_tiled_bwd.c) on every layer it covers */
    assert_int_equal(clrnn_tiled_bwd_scans() - scans_before,
                     tu_fused_bwd_expected(r, c->T, c->N) ? (unsigned long)c->desc.num_layers : 0ul);
    TU_OK(clrnn_rnn_backward_weights(r, res, CLRNN_WGRAD_SET));

    /* the reference: the same call's forward and backward */
    float *ey = tu_alloc_poison(p.ny), *ehn = tu_alloc_poison(p.nh), *ecn = tu_alloc_poison(p.nc);
    float *edx = tu_alloc_poison(p.nx), *edh0 = tu_alloc_poison(p.nh), *edc0 = tu_alloc_poison(p.nc);
    clrnn_forward_args ea = fwd_args(&p);
    ea.y.host = ey, ea.hn.host = ehn;
    if (p.has_c) ea.cn.host = ecn;
    clrnn_backward_args eb = b;
    eb.dx.host = edx, eb.dh0.host = edh0, eb.dc0.host = p.has_c ? edc0 : NULL;
    clrnn_reference_grads g;
    TU_OK(clrnn_reference_train(r, &ea, 0, &eb, &g));
    const char *const out_names[] = {"y", "hn", "cn", "dx", "dh0", "dc0"};
    const float *got[] = {y, hn, cn, dx, dh0, dc0}, *exp[] = {ey, ehn, ecn, edx, edh0, edc0};
    const size_t cnt[] = {p.ny, p.nh, p.nc, p.nx, p.nh, p.nc};
    for (int i = 0; i < 6; ++i) {
        if (!p.has_c && (i == 2 || i == 5)) continue;
        snprintf(what, sizeof what, "%s %s", c->name, out_names[i]);
        expect_close(what, got[i], exp[i], cnt[i]);
    }
    clrnn_param_buf bufs[CLRNN_MAX_PARAM_BUFS];
    int nb = 0;
    TU_OK(clrnn_rnn_param_bufs(r, bufs, CLRNN_MAX_PARAM_BUFS, &nb));
    for (int i = 0; i < nb; ++i) {
        size_t count = 0;
        (void)host_param(r, i, &count);
        assert_int_equal(count, bufs[i].count);
        float *gd = read_buf(bufs[i].grad, count);
        snprintf(what, sizeof what, "%s %s", c->name, bufs[i].what);
        expect_close(what, gd, ref_param(r, &g, i), count);
        free(gd);
    }
    /* clrnn_rnn_get_grad: every role of every framework, as the exporter writes the reference's */
    if (c->check_get_grad)
        for (int fw = 0; fw <= CLRNN_FRAMEWORK_TF1; ++fw)
            for (int role = 0; role < CLRNN_PARAM_COUNT_; ++role)
                for (int l = 0; l < r->desc.num_layers; ++l)
                    for (int dir = 0; dir < r->D; ++dir) {
                        const size_t cap = 4096;
                        float *want = tu_alloc_poison(cap), *have = tu_alloc_poison(cap);
                        size_t count = 0;
                        /* the role's count: the first that the exporter accepts */
                        clrnn_status ws = CLRNN_ERR_SHAPE_MISMATCH;
                        for (count = 1; count < cap && ws == CLRNN_ERR_SHAPE_MISMATCH; ++count)
                            ws = clrnn_weights_export(r, g.lw, g.dense_W, g.dense_b, 1, (clrnn_framework)fw, l, dir,
                                                      (clrnn_param)role, want, count);
                        --count;
                        const clrnn_status gs = clrnn_rnn_get_grad(r, (clrnn_framework)fw, l, dir, (clrnn_param)role, have, count);
                        assert_int_equal(gs, ws);
                        if (gs == CLRNN_OK) {
                            snprintf(what, sizeof what, "%s get_grad fw %d role %d layer %d dir %d", c->name, fw, role, l, dir);
                            expect_close(what, have, want, count);
                            assert_true(all_poison_from(have, count, cap));
                        }
                        free(want), free(have);
                    }
    clrnn_reference_grads_free(&g);
    free(y), free(hn), free(cn), free(dx), free(dh0), free(dc0);
    free(ey), free(ehn), free(ecn), free(edx), free(edh0), free(edc0);
    clrnn_reserve_destroy(res);
    problem_free(&p);
    clrnn_rnn_destroy(r);
}

/* ---- the cases ---- */
static tcase tc(const char *name, clrnn_rnn_desc d, int T, int N, len_mode lens) {
    tcase c;
    memset(&c, 0, sizeof c);
    c.name = name, c.desc = d, c.T = T, c.N = N, c.lens = lens, c.with_h0 = 1, c.with_dhn = 1;
    return c;
}

static clrnn_rnn_desc bidir(clrnn_rnn_desc d, clrnn_merge m) {
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    d.merge = m;
    return d;
}

/* One layer, one direction: every cell, lengths (a 0 and a T row), h0 and dhn given or not. */
static void test_cells(void **s) {
    (void)s;
    clrnn_rnn_desc lbr = tu_desc(CLRNN_CELL_GRU, 3, 4);
    lbr.linear_before_reset = 1;
    tcase cs[] = {tc("rnn_tanh", tu_desc(CLRNN_CELL_RNN, 3, 4), 4, 3, LEN_FULL),
                  tc("rnn_lengths", tu_desc(CLRNN_CELL_RNN, 3, 4), 5, 4, LEN_VARIED),
                  tc("lstm", tu_desc(CLRNN_CELL_LSTM, 3, 4), 4, 3, LEN_VARIED),
                  tc("gru_lbr", lbr, 4, 3, LEN_VARIED),
                  tc("gru_rb", tu_desc(CLRNN_CELL_GRU, 3, 4), 4, 3, LEN_VARIED)};
    cs[1].with_h0 = 0;
    cs[2].with_dhn = 0;
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* LSTM options: peepholes, CIFG, projection (+ proj_clip), cell_clip, forget_bias, ONNX clip. */
static void test_lstm_options(void **s) {
    (void)s;
    clrnn_rnn_desc a = tu_desc(CLRNN_CELL_LSTM, 3, 5), b = a, c = a, e = a;
    a.peephole = 1, a.forget_bias = 1.0f;
    b.input_forget = 1, b.peephole = 1, b.cell_clip = 0.45f;
    c.proj_size = 3, c.proj_clip = 0.3f;
    e.clip = 0.9f, e.forget_bias = 0.5f;
    tcase cs[] = {tc("lstm_peep_fb", a, 4, 3, LEN_VARIED), tc("lstm_cifg_cellclip", b, 4, 3, LEN_MASK_HOLES),
                  tc("lstmp_clip", c, 4, 3, LEN_VARIED), tc("lstm_onnx_clip", e, 4, 3, LEN_FULL)};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* Masks with holes under each policy, reverse walks and output orders. */
static void test_masks_reverse(void **s) {
    (void)s;
    clrnn_rnn_desc z = tu_desc(CLRNN_CELL_GRU, 2, 3), cy = z, f = z, r1 = tu_desc(CLRNN_CELL_RNN, 2, 3), r2 = r1, r3 = r1;
    cy.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    f.masked_output = CLRNN_MASKED_OUTPUT_FILL, f.masked_fill_value = 0.25f;
    r1.direction = CLRNN_DIR_REVERSE;
    r2.direction = CLRNN_DIR_REVERSE, r2.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS, r2.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED;
    r2.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    r3.direction = CLRNN_DIR_REVERSE, r3.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED;
    clrnn_rnn_desc r4 = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    r4.direction = CLRNN_DIR_REVERSE, r4.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS, r4.masked_output = CLRNN_MASKED_OUTPUT_FILL;
    r4.masked_fill_value = 0.5f;
    tcase cs[] = {tc("mask_zero", z, 5, 3, LEN_MASK_HOLES), tc("mask_carry", cy, 5, 3, LEN_MASK_HOLES),
                  tc("mask_fill", f, 5, 3, LEN_MASK_HOLES), tc("reverse_per_row", r1, 5, 3, LEN_VARIED),
                  tc("reverse_whole_reversed_carry", r2, 5, 3, LEN_MASK_HOLES),
                  tc("reverse_per_row_reversed", r3, 5, 3, LEN_VARIED),
                  tc("reverse_whole_in_place_fill", r4, 5, 3, LEN_MASK_HOLES)};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* Bidirectional with every merge; last_only; dense; batch-major. */
static void test_bidirectional(void **s) {
    (void)s;
    const clrnn_merge ms[] = {CLRNN_MERGE_CONCAT, CLRNN_MERGE_SUM, CLRNN_MERGE_MUL, CLRNN_MERGE_AVE, CLRNN_MERGE_NONE};
    static const char *const names[] = {"bi_concat", "bi_sum", "bi_mul", "bi_ave", "bi_none"};
    for (int i = 0; i < 5; ++i) {
        clrnn_rnn_desc d = bidir(tu_desc(i % 2 ? CLRNN_CELL_LSTM : CLRNN_CELL_RNN, 2, 3), ms[i]);
        d.reverse_order = i == 2 ? CLRNN_REVERSE_OUTPUT_REVERSED : CLRNN_REVERSE_OUTPUT_IN_PLACE;
        d.layout = i >= 3 ? CLRNN_LAYOUT_BATCH_MAJOR : CLRNN_LAYOUT_TIME_MAJOR;
        tcase c = tc(names[i], d, 4, 3, i == 4 ? LEN_MASK_HOLES : LEN_VARIED);
        run_case(&c);
    }
    clrnn_rnn_desc d = bidir(tu_desc(CLRNN_CELL_GRU, 2, 3), CLRNN_MERGE_MUL);
    d.dense_size = 2, d.masked_output = CLRNN_MASKED_OUTPUT_FILL, d.masked_fill_value = -0.5f;
    tcase c = tc("bi_mul_last_only_dense", d, 4, 4, LEN_VARIED);
    c.last_only = 1;
    run_case(&c);
    d = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    d.dense_size = 2, d.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    c = tc("dense_batch_major", d, 4, 3, LEN_VARIED);
    run_case(&c);
    d = bidir(tu_desc(CLRNN_CELL_RNN, 2, 3), CLRNN_MERGE_NONE);
    d.masked_output = CLRNN_MASKED_OUTPUT_CARRY, d.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS;
    c = tc("bi_none_last_only_carry", d, 5, 4, LEN_MASK_HOLES);
    c.last_only = 1;
    run_case(&c);
    /* get_grad in every framework's layout: LSTM with peepholes and projection, both GRUs, dense */
    d = bidir(tu_desc(CLRNN_CELL_LSTM, 2, 3), CLRNN_MERGE_SUM);
    d.peephole = 1, d.proj_size = 2, d.dense_size = 2, d.num_layers = 2;
    c = tc("get_grad_lstm", d, 3, 2, LEN_VARIED);
    c.check_get_grad = 1;
    run_case(&c);
    for (int lbr = 0; lbr < 2; ++lbr) {
        d = tu_desc(CLRNN_CELL_GRU, 2, 3);
        d.linear_before_reset = lbr;
        c = tc(lbr ? "get_grad_gru_lbr" : "get_grad_gru", d, 3, 2, LEN_FULL);
        c.check_get_grad = 1;
        run_case(&c);
    }
}

/* Stacked layers: 2 and 3, bidirectional, projection. */
static void test_stacked(void **s) {
    (void)s;
    clrnn_rnn_desc a = bidir(tu_desc(CLRNN_CELL_LSTM, 2, 3), CLRNN_MERGE_SUM), b = tu_desc(CLRNN_CELL_GRU, 2, 3);
    a.num_layers = 2, a.proj_size = 2, a.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    b.num_layers = 3, b.linear_before_reset = 1, b.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    tcase cs[] = {tc("stacked2_bi_lstmp", a, 4, 3, LEN_VARIED), tc("stacked3_gru_carry", b, 4, 3, LEN_MASK_HOLES)};
    cs[1].last_only = 1;
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* Hidden sizes past one 16-unit block of the cell kernels (cl/train/train.cl: a work-item per 16
 * units): 21 (a full block and a 5-lane tail), 32 (two full blocks); every cell, bidirectional,
 * lengths 0 and T, a batch of 5, LSTM options and dropout on the lane-by-lane paths. */
static void test_wide_blocks(void **s) {
    (void)s;
    clrnn_rnn_desc rnn = tu_desc(CLRNN_CELL_RNN, 5, 21), lstm = tu_desc(CLRNN_CELL_LSTM, 6, 21);
    clrnn_rnn_desc rb = tu_desc(CLRNN_CELL_GRU, 4, 21), lbr = tu_desc(CLRNN_CELL_GRU, 7, 32);
    clrnn_rnn_desc opts = tu_desc(CLRNN_CELL_LSTM, 3, 21), drop = tu_desc(CLRNN_CELL_GRU, 5, 21);
    clrnn_rnn_desc l32 = bidir(tu_desc(CLRNN_CELL_LSTM, 4, 32), CLRNN_MERGE_CONCAT);
    lstm.direction = CLRNN_DIR_BIDIRECTIONAL;
    lbr.linear_before_reset = 1, lbr.num_layers = 2;
    opts.peephole = 1, opts.cell_clip = 0.4f, opts.forget_bias = 0.3f, opts.clip = 1.2f;
    drop.num_layers = 2, drop.dropout = 0.3f, drop.recurrent_dropout = 0.35f, drop.input_dropout = 0.2f;
    drop.dropout_seed = 77, drop.dropout_mode = CLRNN_DROPOUT_PER_STEP;
    tcase cs[] = {tc("wide_rnn", rnn, 4, 5, LEN_VARIED),       tc("wide_lstm_bi", lstm, 4, 5, LEN_VARIED),
                  tc("wide_gru_rb", rb, 4, 5, LEN_MASK_HOLES), tc("wide_gru_lbr_stacked", lbr, 3, 5, LEN_VARIED),
                  tc("wide_lstm_options", opts, 4, 5, LEN_VARIED), tc("wide_gru_dropout", drop, 4, 5, LEN_VARIED),
                  tc("wide_lstm32_bi", l32, 3, 5, LEN_VARIED)};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* The tiled plan's fused backward scan (cl/train/bwd_tiled.cl) at its edges: batches past one
 * 6-row block and not a multiple of it (13: the 6-row kernel, 7: the 1-row one), hidden sizes not a
 * multiple of 16 and past one 64-column panel of R (70, 21), lengths 0 and T, masks with holes
 * under CARRY, every cell, bidirectional and stacked, output dropout between layers, peepholes and
 * clips. (Under the other plans these run the portable backward: the same reference.) */
static void test_fused_scan_edges(void **s) {
    (void)s;
    clrnn_rnn_desc lstm = bidir(tu_desc(CLRNN_CELL_LSTM, 9, 70), CLRNN_MERGE_CONCAT);
    clrnn_rnn_desc rb = tu_desc(CLRNN_CELL_GRU, 5, 70), lbr = tu_desc(CLRNN_CELL_GRU, 6, 21);
    clrnn_rnn_desc rnn = tu_desc(CLRNN_CELL_RNN, 4, 70), opts = tu_desc(CLRNN_CELL_LSTM, 5, 21);
    clrnn_rnn_desc stack = tu_desc(CLRNN_CELL_GRU, 3, 21);
    rb.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    lbr.linear_before_reset = 1, lbr.direction = CLRNN_DIR_BIDIRECTIONAL, lbr.merge = CLRNN_MERGE_SUM;
    rnn.num_layers = 2, rnn.dropout = 0.3f, rnn.dropout_seed = 5;
    opts.peephole = 1, opts.input_forget = 1, opts.cell_clip = 0.4f, opts.clip = 1.1f;
    stack.num_layers = 3, stack.direction = CLRNN_DIR_BIDIRECTIONAL, stack.merge = CLRNN_MERGE_CONCAT;
    tcase cs[] = {tc("fused_lstm_bi_N13_H70", lstm, 5, 13, LEN_VARIED),
                  tc("fused_gru_rb_carry_N13_H70", rb, 5, 13, LEN_MASK_HOLES),
                  tc("fused_gru_lbr_bi_N7_H21", lbr, 4, 7, LEN_VARIED),
                  tc("fused_rnn_stacked_dropout_N13_H70", rnn, 4, 13, LEN_VARIED),
                  tc("fused_lstm_options_N8_H21", opts, 4, 8, LEN_MASK_HOLES),
                  tc("fused_gru_stacked3_bi_N6_H21", stack, 3, 6, LEN_VARIED),
                  tc("fused_lstm_T1_N13", tu_desc(CLRNN_CELL_LSTM, 3, 21), 1, 13, LEN_VARIED)};
    cs[2].last_only = 1;
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* Every ONNX activation in the RNN's slot (relu = the rnn_relu cell), and in the LSTM's and GRU's
 * slots; the ONNX clip with them. */
static void test_activations(void **s) {
    (void)s;
    const clrnn_activation acts[] = {{CLRNN_ACT_SIGMOID, 0, 0},          {CLRNN_ACT_TANH, 0, 0},
                                     {CLRNN_ACT_RELU, 0, 0},             {CLRNN_ACT_AFFINE, 0.7f, 0.2f},
                                     {CLRNN_ACT_LEAKY_RELU, 0.1f, 0},    {CLRNN_ACT_THRESHOLDED_RELU, 0.2f, 0},
                                     {CLRNN_ACT_SCALED_TANH, 1.3f, 0.6f}, {CLRNN_ACT_HARD_SIGMOID, 0.3f, 0.45f},
                                     {CLRNN_ACT_ELU, 0.8f, 0},           {CLRNN_ACT_SOFTSIGN, 0, 0},
                                     {CLRNN_ACT_SOFTPLUS, 0, 0}};
    const int n_acts = (int)(sizeof acts / sizeof *acts);
    for (int i = 0; i < n_acts; ++i) {
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 3, 5);
        d.activations[0][0] = acts[i];
        if (i % 3 == 0) d.clip = 0.8f;
        char name[32];
        snprintf(name, sizeof name, "rnn_act_%d", (int)acts[i].kind);
        tcase c = tc(name, d, 5, 3, LEN_VARIED);
        run_case(&c);
    }
    for (int i = 0; i < n_acts; ++i) {
        clrnn_rnn_desc l = tu_desc(CLRNN_CELL_LSTM, 3, 4), g = tu_desc(CLRNN_CELL_GRU, 3, 4);
        l.activations[0][i % 3] = acts[i];
        l.activations[0][(i + 1) % 3] = acts[(i + 5) % n_acts];
        g.activations[0][i % 2] = acts[i];
        g.linear_before_reset = i % 2;
        if (i % 4 == 1) l.clip = g.clip = 1.1f;
        char name[32];
        snprintf(name, sizeof name, "lstm_act_%d", i);
        tcase c = tc(name, l, 4, 3, LEN_VARIED);
        run_case(&c);
        snprintf(name, sizeof name, "gru_act_%d", i);
        c = tc(name, g, 4, 3, LEN_VARIED);
        run_case(&c);
    }
}

/* ---- the API around it ---- */
typedef struct run_out {
    float *y, *hn, *dx, *dh0, **grads;
    int n;
    size_t *counts;
} run_out;

static void run_out_free(run_out *o) {
    free(o->y), free(o->hn), free(o->dx), free(o->dh0);
    for (int i = 0; i < o->n; ++i) free(o->grads[i]);
    free(o->grads), free(o->counts);
}

static void read_grads(clrnn_rnn *r, run_out *o) {
    clrnn_param_buf bufs[CLRNN_MAX_PARAM_BUFS];
    TU_OK(clrnn_rnn_param_bufs(r, bufs, CLRNN_MAX_PARAM_BUFS, &o->n));
    o->grads = calloc((size_t)o->n, sizeof *o->grads);
    o->counts = calloc((size_t)o->n, sizeof *o->counts);
    for (int i = 0; i < o->n; ++i) o->grads[i] = read_buf(bufs[i].grad, o->counts[i] = bufs[i].count);
}

/* forward_train + backward_data + backward_weights(mode) with host tensors. */
static void train_step(clrnn_rnn *r, clrnn_reserve *res, const problem *p, clrnn_wgrad_mode mode, run_out *o) {
    clrnn_forward_args a = fwd_args(p);
    o->y = tu_alloc_poison(p->ny), o->hn = tu_alloc_poison(p->nh);
    a.y.host = o->y, a.hn.host = o->hn;
    TU_OK(clrnn_rnn_forward_train(r, &a, res));
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    o->dx = tu_alloc_poison(p->nx), o->dh0 = tu_alloc_poison(p->nh);
    b.dy.host = p->dy, b.dhn.host = p->dhn, b.dx.host = o->dx, b.dh0.host = o->dh0;
    TU_OK(clrnn_rnn_backward_data(r, res, &b));
    TU_OK(clrnn_rnn_backward_weights(r, res, mode));
    read_grads(r, o);
}

static clrnn_rnn *api_rnn(problem *p, uint64_t *seed, tcase *c) {
    clrnn_rnn_desc d = bidir(tu_desc(CLRNN_CELL_LSTM, 3, 5), CLRNN_MERGE_CONCAT);
    d.num_layers = 2, d.peephole = 1, d.dense_size = 2, d.dropout = 0.3f, d.dropout_seed = 77;
    *c = tc("api", d, 6, 4, LEN_MASK_HOLES);
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    set_random_weights(r, seed);
    problem_make(p, r, c, seed);
    return r;
}

static void expect_same(const char *what, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (memcmp(&a[i], &b[i], sizeof(float))) fail_msg("%s[%zu]: %.9g vs %.9g (not bitwise equal)", what, i, (double)a[i], (double)b[i]);
}

/* Two rnn objects, the same inputs: bitwise the same outputs and gradients (dropout included:
 * its masks depend on the seed and the call number only). ADD after SET doubles every gradient
 * exactly: the second pass computes the same bits and x + x is exact. */
static void test_determinism_and_add(void **s) {
    (void)s;
    uint64_t seed1 = 5, seed2 = 5;
    problem p1, p2;
    tcase c;
    clrnn_rnn *r1 = api_rnn(&p1, &seed1, &c), *r2 = api_rnn(&p2, &seed2, &c);
    clrnn_reserve *v1, *v2;
    TU_OK(clrnn_reserve_create(r1, &v1));
    TU_OK(clrnn_reserve_create(r2, &v2));
    run_out o1, o2, o3;
    train_step(r1, v1, &p1, CLRNN_WGRAD_SET, &o1);
    train_step(r2, v2, &p2, CLRNN_WGRAD_SET, &o2);
    expect_same("y", o1.y, o2.y, p1.ny);
    expect_same("dx", o1.dx, o2.dx, p1.nx);
    expect_same("dh0", o1.dh0, o2.dh0, p1.nh);
    for (int i = 0; i < o1.n; ++i) expect_same("grad", o1.grads[i], o2.grads[i], o1.counts[i]);
    /* ADD on r2, with r2's second call's masks: compare with r1's second call under SET */
    run_out_free(&o2);
    train_step(r1, v1, &p1, CLRNN_WGRAD_SET, &o3);
    train_step(r2, v2, &p2, CLRNN_WGRAD_ADD, &o2);
    int differs = 0;
    for (size_t i = 0; i < p1.nx && !differs; ++i) differs = o1.dx[i] != o3.dx[i];
    if (!differs) fail_msg("the second call's dropout masks equal the first's");
    for (int i = 0; i < o1.n; ++i)
        for (size_t k = 0; k < o1.counts[i]; ++k) {
            const float want = o1.grads[i][k] + o3.grads[i][k];
            if (memcmp(&want, &o2.grads[i][k], sizeof want))
                fail_msg("ADD: grad %d[%zu] = %.9g, SET + SET = %.9g", i, k, (double)o2.grads[i][k], (double)want);
        }
    run_out_free(&o1), run_out_free(&o2), run_out_free(&o3);
    clrnn_reserve_destroy(v1), clrnn_reserve_destroy(v2);
    problem_free(&p1), problem_free(&p2);
    clrnn_rnn_destroy(r1), clrnn_rnn_destroy(r2);
}

static cl_mem dev_buf(size_t floats, const float *init) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(tu_context()), CL_MEM_READ_WRITE, (floats + 16) * sizeof(float), NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    float *tmp = malloc((floats + 16) * sizeof(float));
    for (size_t i = 0; i < floats + 16; ++i) tmp[i] = NAN; /* poison, and 16 floats before the data */
    if (init) memcpy(tmp + 16, init, floats * sizeof(float));
    err = clEnqueueWriteBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, (floats + 16) * sizeof(float), tmp, 0, NULL, NULL);
    assert_int_equal(err, CL_SUCCESS);
    free(tmp);
    return m;
}
static clrnn_tensor dtensor(cl_mem m) {
    clrnn_tensor t = {NULL, m, 16 * sizeof(float)};
    return t;
}
static float *dev_read(cl_mem m, size_t floats) {
    float *all = read_buf(m, floats + 16), *out = malloc(floats * sizeof(float));
    memcpy(out, all + 16, floats * sizeof(float));
    free(all);
    return out;
}

/* Reads floats of m (past dtensor's 16-float offset) through a queue of its own. */
static float *dev_read_other_queue(cl_command_queue q, cl_mem m, size_t floats) {
    float *out = malloc(floats * sizeof(float));
    assert_non_null(out);
    assert_int_equal(clEnqueueReadBuffer(q, m, CL_TRUE, 16 * sizeof(float), floats * sizeof(float), out, 0, NULL, NULL),
                     CL_SUCCESS);
    return out;
}

/* A training step of p with every tensor a device buffer (NaN-poisoned, at an offset) on reserve v:
 * y, hn, dx, dh0 and the gradients must be bitwise `want`'s. q2: read the outputs through that
 * queue after clrnn_context_finish (else through the context's own queue). */
static void device_step_matches(clrnn_rnn *r, clrnn_reserve *v, const problem *p, const run_out *want,
                                cl_command_queue q2) {
    cl_mem x = dev_buf(p->nx, p->x), h0 = dev_buf(p->nh, p->h0), c0 = dev_buf(p->nc, p->c0), y = dev_buf(p->ny, NULL);
    cl_mem hn = dev_buf(p->nh, NULL), dy = dev_buf(p->ny, p->dy), dhn = dev_buf(p->nh, p->dhn);
    cl_mem dx = dev_buf(p->nx, NULL), dh0 = dev_buf(p->nh, NULL);
    clrnn_forward_args a = fwd_args(p);
    a.x = dtensor(x), a.h0 = dtensor(h0), a.y = dtensor(y), a.hn = dtensor(hn);
    if (p->has_c) a.c0 = dtensor(c0);
    TU_OK(clrnn_rnn_forward_train(r, &a, v));
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    b.dy = dtensor(dy), b.dhn = dtensor(dhn), b.dx = dtensor(dx), b.dh0 = dtensor(dh0);
    TU_OK(clrnn_rnn_backward_data(r, v, &b));
    TU_OK(clrnn_rnn_backward_weights(r, v, CLRNN_WGRAD_SET));
    cl_mem outs[4] = {y, hn, dx, dh0};
    const size_t n[4] = {p->ny, p->nh, p->nx, p->nh};
    const float *expect[4] = {want->y, want->hn, want->dx, want->dh0};
    static const char *const names[4] = {"device y", "device hn", "device dx", "device dh0"};
    if (q2) TU_OK(clrnn_context_finish(tu_context()));
    for (int i = 0; i < 4; ++i) {
        float *got = q2 ? dev_read_other_queue(q2, outs[i], n[i]) : dev_read(outs[i], n[i]);
        expect_same(names[i], got, expect[i], n[i]);
        free(got);
    }
    run_out o2;
    memset(&o2, 0, sizeof o2);
    read_grads(r, &o2);
    for (int i = 0; i < want->n; ++i) expect_same("device grad", o2.grads[i], want->grads[i], want->counts[i]);
    run_out_free(&o2);
    cl_mem all[] = {x, h0, c0, y, hn, dy, dhn, dx, dh0};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i) clReleaseMemObject(all[i]);
}

/* Device tensors (at an offset, NaN-poisoned outputs) give the bits host tensors give. */
static void test_device_tensors(void **s) {
    (void)s;
    uint64_t seed = 11;
    problem p;
    tcase c;
    clrnn_rnn *r = api_rnn(&p, &seed, &c);
    clrnn_rnn_desc d = r->desc;
    d.dropout = 0; /* the two steps of one rnn have different call numbers */
    clrnn_rnn_destroy(r);
    problem_free(&p);
    seed = 11;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    set_random_weights(r, &seed);
    c.desc = d;
    problem_make(&p, r, &c, &seed);
    clrnn_reserve *v;
    TU_OK(clrnn_reserve_create(r, &v));
    run_out o;
    train_step(r, v, &p, CLRNN_WGRAD_SET, &o);
    device_step_matches(r, v, &p, &o, NULL);
    run_out_free(&o);
    clrnn_reserve_destroy(v);
    problem_free(&p);
    clrnn_rnn_destroy(r);
}

/* All tensors on the device: the calls only enqueue (clrnn.h, Training: "Completion"), and a call
 * without lengths reuses the step table of the reserve's last call of its T and N instead of
 * uploading it. One reserve runs shapes that repeat, change, come back, and a call with lengths
 * between plain ones; each call's y, hn, dx, dh0 and gradients must be bitwise those of host tensors
 * on a fresh reserve. The outputs are read through a second queue after clrnn_context_finish. */
static void test_device_calls_reuse_the_table(void **s) {
    (void)s;
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 3, 4);
    d.dense_size = 2;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    uint64_t seed = 21;
    set_random_weights(r, &seed);
    clrnn_reserve *v;
    TU_OK(clrnn_reserve_create(r, &v));
    cl_int err;
    cl_command_queue q2 = clCreateCommandQueue(clrnn_context_cl_context(ctx), clrnn_context_cl_device(ctx), 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    const struct { int T, N; len_mode lens; } calls[] = {{4, 3, LEN_FULL}, {4, 3, LEN_FULL}, {6, 2, LEN_FULL},
                                                          {4, 3, LEN_FULL}, {4, 3, LEN_VARIED}, {4, 3, LEN_FULL}};
    for (size_t k = 0; k < sizeof calls / sizeof *calls; ++k) {
        tcase c = tc("device calls", d, calls[k].T, calls[k].N, calls[k].lens);
        problem p;
        problem_make(&p, r, &c, &seed);
        clrnn_reserve *fresh;
        TU_OK(clrnn_reserve_create(r, &fresh));
        run_out want;
        train_step(r, fresh, &p, CLRNN_WGRAD_SET, &want);
        clrnn_reserve_destroy(fresh);
        device_step_matches(r, v, &p, &want, q2);
        run_out_free(&want);
        problem_free(&p);
    }
    clReleaseCommandQueue(q2);
    clrnn_reserve_destroy(v);
    clrnn_rnn_destroy(r);
}

static int all_poison(const float *a, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (a[i] != POISON) return 0;
    return 1;
}

/* Calls in the wrong order, with a reserve of another rnn or a destroyed one, or with bad shapes,
 * are refused with a specific status and write nothing. */
static void test_refused(void **s) {
    (void)s;
    uint64_t seed = 3;
    problem p;
    tcase c;
    clrnn_rnn *r = api_rnn(&p, &seed, &c);
    clrnn_rnn *other;
    TU_OK(clrnn_rnn_create(tu_context(), &r->desc, &other));
    clrnn_reserve *v, *vo, *dead;
    TU_OK(clrnn_reserve_create(r, &v));
    TU_OK(clrnn_reserve_create(other, &vo));
    TU_OK(clrnn_reserve_create(r, &dead));
    clrnn_reserve_destroy(dead);
    float *dx = tu_alloc_poison(p.nx), *dh0 = tu_alloc_poison(p.nh), *y = tu_alloc_poison(p.ny);
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    b.dy.host = p.dy, b.dx.host = dx, b.dh0.host = dh0;
    /* no gradients before backward_weights */
    float gbuf[64];
    assert_int_equal(clrnn_rnn_get_grad(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, gbuf, 40), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "backward_weights"));
    assert_int_equal(clrnn_rnn_get_grad(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, NULL, 40), CLRNN_ERR_NULL_ARGUMENT);
    /* backward before any forward_train */
    assert_int_equal(clrnn_rnn_backward_data(r, v, &b), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "forward_train"));
    assert_int_equal(clrnn_rnn_backward_weights(r, v, CLRNN_WGRAD_SET), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_forward_args a = fwd_args(&p);
    a.y.host = y;
    assert_int_equal(clrnn_rnn_forward_train(r, &a, vo), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "another rnn"));
    assert_int_equal(clrnn_rnn_forward_train(r, &a, dead), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_rnn_forward_train(r, &a, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_true(all_poison(y, p.ny));
    TU_OK(clrnn_rnn_forward_train(r, &a, v));
    /* weights before data */
    assert_int_equal(clrnn_rnn_backward_weights(r, v, CLRNN_WGRAD_SET), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "backward_data"));
    assert_int_equal(clrnn_rnn_backward_data(r, vo, &b), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_rnn_backward_data(r, v, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_rnn_backward_data(r, dead, &b), CLRNN_ERR_INVALID_ARGUMENT);
    /* a device dy too small, dx with both host and mem */
    cl_mem small = dev_buf(4, NULL);
    clrnn_backward_args bad = b;
    bad.dy.host = NULL, bad.dy.mem = small, bad.dy.offset = 0;
    assert_int_equal(clrnn_rnn_backward_data(r, v, &bad), CLRNN_ERR_SHAPE_MISMATCH);
    bad = b;
    bad.dx.mem = small;
    assert_int_equal(clrnn_rnn_backward_data(r, v, &bad), CLRNN_ERR_INVALID_ARGUMENT);
    bad = b;
    bad.dh0.host = NULL, bad.dh0.mem = small, bad.dh0.offset = 0;
    assert_int_equal(clrnn_rnn_backward_data(r, v, &bad), CLRNN_ERR_SHAPE_MISMATCH);
    assert_true(all_poison(dx, p.nx));
    assert_true(all_poison(dh0, p.nh));
    assert_int_equal(clrnn_rnn_backward_weights(r, v, (clrnn_wgrad_mode)7), CLRNN_ERR_INVALID_ARGUMENT);
    clReleaseMemObject(small);
    /* the rnn and its gradients still work after all that */
    TU_OK(clrnn_rnn_backward_data(r, v, &b));
    TU_OK(clrnn_rnn_backward_weights(r, v, CLRNN_WGRAD_SET));
    assert_false(all_poison(dx, p.nx));
    /* without dx (layer 0's input gradient is then skipped) the weight gradients are the same bits */
    run_out g1, g2;
    memset(&g1, 0, sizeof g1), memset(&g2, 0, sizeof g2);
    read_grads(r, &g1);
    clrnn_backward_args nodx = b;
    nodx.dx.host = NULL, nodx.dh0.host = NULL;
    TU_OK(clrnn_rnn_backward_data(r, v, &nodx));
    TU_OK(clrnn_rnn_backward_weights(r, v, CLRNN_WGRAD_SET));
    read_grads(r, &g2);
    for (int i = 0; i < g1.n; ++i) expect_same("grad without dx", g2.grads[i], g1.grads[i], g1.counts[i]);
    run_out_free(&g1), run_out_free(&g2);
    free(dx), free(dh0), free(y);
    clrnn_reserve_destroy(v), clrnn_reserve_destroy(vo);
    clrnn_reserve_destroy(v); /* destroyed twice: ignored */
    problem_free(&p);
    clrnn_rnn_destroy(r), clrnn_rnn_destroy(other);
}

/* The training program: built on the first training call of a context (not at its creation, not by
 * an inference forward), then shared by every rnn on it. */
static void test_program_first_use(void **s) {
    (void)s;
    clrnn_context *ctx;
    TU_OK(clrnn_context_create(NULL, &ctx));
    /* one GEMM first: on a CPU device it builds clrnn's own SGEMM program (its own first use),
     * which is not the program counted here */
    cl_int err;
    const float abc[3] = {1.0f, 2.0f, 0.0f};
    cl_mem g = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof abc,
                              (void *)abc, &err);
    assert_int_equal(err, CL_SUCCESS);
    TU_OK(clrnn_sgemm(ctx, 0, 0, 1, 1, 1, 1.0f, g, 0, 1, g, 1, 1, 0.0f, g, 2, 1));
    TU_OK(clrnn_context_finish(ctx));
    clReleaseMemObject(g);
    const int got0 = ctx->programs_got;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 2, 3);
    clrnn_rnn *r1, *r2;
    TU_OK(clrnn_rnn_create(ctx, &d, &r1));
    TU_OK(clrnn_rnn_create(ctx, &d, &r2));
    uint64_t seed = 3;
    set_random_weights(r1, &seed);
    set_random_weights(r2, &seed);
    float x[2 * 2 * 2] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f}, y[2 * 2 * 3];
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 2, a.x.host = x, a.y.host = y;
    TU_OK(clrnn_rnn_forward(r1, &a));
    assert_int_equal(ctx->programs_got, got0);
    clrnn_reserve *v1, *v2;
    TU_OK(clrnn_reserve_create(r1, &v1));
    TU_OK(clrnn_reserve_create(r2, &v2));
    assert_int_equal(ctx->programs_got, got0);
    TU_OK(clrnn_rnn_forward_train(r1, &a, v1));
    /* the training kernels, and where the tiled plan's training forward ran, its own program
     * (its kernels are not in the main program: src/kernel_list.h, TILED_TRAIN) */
    const int tiled_train = atomic_load(&ctx->kernels.program[CLRNN_KG_TILED_TRAIN]) != NULL;
    assert_false(ctx->kernels.main_groups & 1u << CLRNN_KG_TILED_TRAIN);
    assert_int_equal(ctx->programs_got, got0 + 1 + tiled_train);
    TU_OK(clrnn_rnn_forward_train(r2, &a, v2));
    assert_int_equal(ctx->programs_got, got0 + 1 + tiled_train);
    clrnn_reserve_destroy(v1), clrnn_reserve_destroy(v2);
    clrnn_rnn_destroy(r1);
    clrnn_context_destroy(ctx); /* before r2 and its reserve: they stay destroyable */
    clrnn_rnn_destroy(r2);
}

/* The dropout fields of the descriptor: rates in [0, 1), finite; a known mode; dropout_shared 0 or 1. */
static void test_dropout_desc(void **s) {
    (void)s;
    const float bad[] = {1.0f, -0.1f, NAN, INFINITY, 1.5f};
    for (int field = 0; field < 3; ++field)
        for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
            clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 2, 3);
            float *f = field == 0 ? &d.dropout : field == 1 ? &d.input_dropout : &d.recurrent_dropout;
            *f = bad[i];
            clrnn_rnn *r = NULL;
            assert_int_equal(clrnn_rnn_create(tu_context(), &d, &r), CLRNN_ERR_INVALID_DESCRIPTOR);
            assert_null(r);
            assert_non_null(strstr(clrnn_last_error(), "dropout"));
        }
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    d.dropout_mode = (clrnn_dropout_mode)2;
    clrnn_rnn *r = NULL;
    assert_int_equal(clrnn_rnn_create(tu_context(), &d, &r), CLRNN_ERR_INVALID_DESCRIPTOR);
    d.dropout_mode = CLRNN_DROPOUT_VARIATIONAL, d.dropout_shared = 2;
    assert_int_equal(clrnn_rnn_create(tu_context(), &d, &r), CLRNN_ERR_INVALID_DESCRIPTOR);
    assert_non_null(strstr(clrnn_last_error(), "dropout_shared"));
    d.dropout_shared = 1, d.dropout_mode = CLRNN_DROPOUT_PER_STEP, d.dropout = 0.999f;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    clrnn_rnn_destroy(r);
}

/* An optimizer's update of the device values (clrnn_rnn_params_updated) reaches the inference
 * forward: the host weights follow before it runs. */
static void test_params_updated(void **s) {
    (void)s;
    uint64_t seed = 21;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_GRU, 3, 4);
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    set_random_weights(r, &seed);
    tcase c = tc("updated", d, 4, 3, LEN_FULL);
    problem p;
    problem_make(&p, r, &c, &seed);
    clrnn_param_buf bufs[CLRNN_MAX_PARAM_BUFS];
    int n = 0;
    TU_OK(clrnn_rnn_param_bufs(r, bufs, CLRNN_MAX_PARAM_BUFS, &n));
    assert_int_equal(n, 4);
    float *w = read_buf(bufs[0].value, bufs[0].count);
    assert_true(memcmp(w, r->lw[0].W, bufs[0].count * sizeof(float)) == 0);
    for (size_t i = 0; i < bufs[0].count; ++i) w[i] *= -0.5f;
    assert_int_equal(clEnqueueWriteBuffer(clrnn_context_cl_queue(tu_context()), bufs[0].value, CL_TRUE, 0,
                                          bufs[0].count * sizeof(float), w, 0, NULL, NULL), CL_SUCCESS);
    clrnn_rnn_params_updated(r);
    clrnn_forward_args a = fwd_args(&p);
    float *y = tu_alloc_poison(p.ny), *ye = tu_alloc_poison(p.ny);
    a.y.host = y;
    TU_OK(clrnn_rnn_forward(r, &a));
    assert_true(memcmp(w, r->lw[0].W, bufs[0].count * sizeof(float)) == 0);
    a.y.host = ye;
    TU_OK(clrnn_reference_forward(r, &a));
    size_t where;
    assert_true(tu_max_abs_diff(y, ye, p.ny, &where) <= 1e-5);
    free(w), free(y), free(ye);
    problem_free(&p);
    clrnn_rnn_destroy(r);
}

/* Dropout on outputs, inputs and the recurrent state, variational and per step: the reference's
 * masks are the same draws (the call number and the seed only). Zero rates are no dropout (every
 * other case runs with rates 0 and matches clrnn_rnn_forward). */
static void test_dropout(void **s) {
    (void)s;
    const clrnn_cell cells[] = {CLRNN_CELL_RNN, CLRNN_CELL_LSTM, CLRNN_CELL_GRU, CLRNN_CELL_GRU};
    static const char *const names[] = {"drop_rnn",        "drop_lstmp_bi",        "drop_gru_rb",        "drop_gru_lbr",
                                        "drop_shared_rnn", "drop_shared_lstmp_bi", "drop_shared_gru_rb", "drop_shared_gru_lbr"};
    for (int k = 0; k < 8; ++k) {
        const int i = k % 4; /* k >= 4: one mask shared by the gates (dropout_shared) */
        clrnn_rnn_desc d = tu_desc(cells[i], 3, 4);
        d.dropout_shared = k >= 4;
        d.num_layers = 2, d.dropout = 0.3f, d.input_dropout = 0.25f, d.recurrent_dropout = 0.35f;
        d.dropout_seed = 0x1234567890ULL + (uint64_t)i;
        d.dropout_mode = i % 2 ? CLRNN_DROPOUT_PER_STEP : CLRNN_DROPOUT_VARIATIONAL;
        if (i == 1) d.proj_size = 3, d.peephole = 1, d.direction = CLRNN_DIR_BIDIRECTIONAL;
        if (i == 3) d.linear_before_reset = 1;
        tcase c = tc(names[k], d, 4, 3, LEN_VARIED);
        run_case(&c);
    }
}

/* One reserve through calls of growing and shrinking T and N (it grows, then is reused), each
 * call's dropout masks those of its call number: dx, dh0 and the gradients against the reference. */
static void test_reserve_reuse(void **s) {
    (void)s;
    clrnn_rnn_desc d = bidir(tu_desc(CLRNN_CELL_GRU, 3, 4), CLRNN_MERGE_AVE);
    d.num_layers = 2, d.dropout = 0.2f, d.recurrent_dropout = 0.2f, d.dropout_seed = 99;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    uint64_t seed = 1234;
    set_random_weights(r, &seed);
    clrnn_reserve *v;
    TU_OK(clrnn_reserve_create(r, &v));
    const int shapes[][2] = {{3, 2}, {6, 5}, {2, 3}, {5, 1}, {6, 5}};
    for (uint32_t call = 0; call < 5; ++call) {
        tcase c = tc("reuse", d, shapes[call][0], shapes[call][1], call % 2 ? LEN_MASK_HOLES : LEN_VARIED);
        problem p;
        problem_make(&p, r, &c, &seed);
        run_out o;
        train_step(r, v, &p, CLRNN_WGRAD_SET, &o);
        float *edx = tu_alloc_poison(p.nx), *edh0 = tu_alloc_poison(p.nh), *ey = tu_alloc_poison(p.ny);
        clrnn_forward_args a = fwd_args(&p);
        a.y.host = ey;
        clrnn_backward_args b;
        memset(&b, 0, sizeof b);
        b.dy.host = p.dy, b.dhn.host = p.dhn, b.dx.host = edx, b.dh0.host = edh0;
        clrnn_reference_grads g;
        TU_OK(clrnn_reference_train(r, &a, call, &b, &g));
        expect_close("reuse y", o.y, ey, p.ny);
        expect_close("reuse dx", o.dx, edx, p.nx);
        expect_close("reuse dh0", o.dh0, edh0, p.nh);
        for (int i = 0; i < o.n; ++i) expect_close("reuse grad", o.grads[i], ref_param(r, &g, i), o.counts[i]);
        clrnn_reference_grads_free(&g);
        free(edx), free(edh0), free(ey);
        run_out_free(&o);
        problem_free(&p);
    }
    clrnn_reserve_destroy(v);
    clrnn_rnn_destroy(r);
}

/* A reserve the device cannot hold is refused before anything is allocated
 * (CLRNN_ERR_DEVICE_OUT_OF_MEMORY); the reserve and the rnn stay usable, with the same results. */
static void test_reserve_limits(void **s) {
    (void)s;
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(tu_context(), &info));
    assert_true(info.max_alloc_bytes > 0);
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 1, 1024);
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    uint64_t seed = 7;
    set_random_weights(r, &seed);
    tcase c = tc("limits", d, 2, 2, LEN_FULL);
    problem p;
    problem_make(&p, r, &c, &seed);
    clrnn_reserve *v;
    TU_OK(clrnn_reserve_create(r, &v));
    run_out o1, o2;
    train_step(r, v, &p, CLRNN_WGRAD_SET, &o1);
    /* a reserve row holds more than 4*H floats: enough rows to pass the per-buffer limit */
    const uint64_t rows = info.max_alloc_bytes / (4ull * 1024 * sizeof(float)) + 1;
    assert_true(rows < (1u << 30));
    float *x = calloc((size_t)rows, sizeof(float));
    assert_non_null(x);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 1, a.batch = (int)rows, a.x.host = x;
    assert_int_equal(clrnn_rnn_forward_train(r, &a, v), CLRNN_ERR_DEVICE_OUT_OF_MEMORY);
    assert_non_null(strstr(clrnn_last_error(), "reserve"));
    free(x);
    /* the refused call took no call number and kept the reserve's forward: backward still works */
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    float *dx = tu_alloc_poison(p.nx);
    b.dy.host = p.dy, b.dhn.host = p.dhn, b.dx.host = dx;
    TU_OK(clrnn_rnn_backward_data(r, v, &b));
    expect_same("dx after a refused call", dx, o1.dx, p.nx);
    free(dx);
    train_step(r, v, &p, CLRNN_WGRAD_SET, &o2);
    expect_same("dx after a refused call", o2.dx, o1.dx, p.nx);
    for (int i = 0; i < o1.n; ++i) expect_same("grad after a refused call", o2.grads[i], o1.grads[i], o1.counts[i]);
    run_out_free(&o1), run_out_free(&o2);
    /* training's device memory is counted with the rnn's (the workspace's limits see it): the
     * reserve's share leaves with it, and comes back the same with a new one */
    const size_t with_reserve = r->train_bytes;
    clrnn_reserve_destroy(v);
    assert_true(r->train_bytes > 0 && r->train_bytes < with_reserve);
    TU_OK(clrnn_reserve_create(r, &v));
    train_step(r, v, &p, CLRNN_WGRAD_SET, &o1);
    assert_int_equal(r->train_bytes, with_reserve);
    run_out_free(&o1);
    clrnn_reserve_destroy(v);
    problem_free(&p);
    clrnn_rnn_destroy(r);
}

/* Threads training their own rnn on one shared context at once (the context's training kernels are
 * shared, their arguments set under the context lock): each gets the bits a lone run gets. No
 * cmocka asserts inside threads. */
#define TRAIN_THREADS 3
typedef struct thread_job {
    int id;
    float *dx, *grad;
    size_t nx, ng;
    int ok;
} thread_job;

static clrnn_rnn *thread_rnn(int id, problem *p) {
    clrnn_rnn_desc d = tu_desc(id % 2 ? CLRNN_CELL_LSTM : CLRNN_CELL_GRU, 3, 6);
    d.dropout = 0.25f, d.num_layers = 2, d.dropout_seed = (uint64_t)id;
    clrnn_rnn *r = NULL;
    if (clrnn_rnn_create(tu_context(), &d, &r) != CLRNN_OK) return NULL;
    uint64_t seed = 100 + (uint64_t)id;
    set_random_weights(r, &seed);
    tcase c = tc("threads", d, 7, 4, LEN_VARIED);
    problem_make(p, r, &c, &seed);
    return r;
}

static int thread_fn(void *arg) {
    thread_job *j = arg;
    problem p;
    memset(&p, 0, sizeof p);
    clrnn_rnn *r = thread_rnn(j->id, &p);
    clrnn_reserve *v = NULL;
    j->ok = r && clrnn_reserve_create(r, &v) == CLRNN_OK;
    clrnn_forward_args a = fwd_args(&p);
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    j->nx = p.nx;
    j->dx = malloc(p.nx * sizeof(float));
    b.dy.host = p.dy, b.dx.host = j->dx;
    for (int step = 0; step < 3 && j->ok; ++step)
        j->ok = clrnn_rnn_forward_train(r, &a, v) == CLRNN_OK && clrnn_rnn_backward_data(r, v, &b) == CLRNN_OK &&
                clrnn_rnn_backward_weights(r, v, step ? CLRNN_WGRAD_ADD : CLRNN_WGRAD_SET) == CLRNN_OK;
    clrnn_param_buf bufs[CLRNN_MAX_PARAM_BUFS];
    int n = 0;
    if (j->ok) j->ok = clrnn_rnn_param_bufs(r, bufs, CLRNN_MAX_PARAM_BUFS, &n) == CLRNN_OK;
    if (j->ok) {
        j->ng = bufs[1].count, j->grad = malloc(j->ng * sizeof(float));
        j->ok = clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), bufs[1].grad, CL_TRUE, 0, j->ng * sizeof(float),
                                    j->grad, 0, NULL, NULL) == CL_SUCCESS;
    }
    clrnn_reserve_destroy(v);
    problem_free(&p);
    clrnn_rnn_destroy(r);
    return 0;
}

static void test_threads(void **s) {
    (void)s;
    thread_job alone[TRAIN_THREADS], together[TRAIN_THREADS];
    for (int t = 0; t < TRAIN_THREADS; ++t) {
        alone[t] = (thread_job){.id = t};
        thread_fn(&alone[t]);
        assert_true(alone[t].ok);
    }
    thrd_t th[TRAIN_THREADS];
    for (int t = 0; t < TRAIN_THREADS; ++t) {
        together[t] = (thread_job){.id = t};
        assert_int_equal(thrd_create(&th[t], thread_fn, &together[t]), thrd_success);
    }
    for (int t = 0; t < TRAIN_THREADS; ++t) thrd_join(th[t], NULL);
    for (int t = 0; t < TRAIN_THREADS; ++t) {
        assert_true(together[t].ok);
        expect_same("threaded dx", together[t].dx, alone[t].dx, alone[t].nx);
        expect_same("threaded dR", together[t].grad, alone[t].grad, alone[t].ng);
        free(alone[t].dx), free(alone[t].grad), free(together[t].dx), free(together[t].grad);
    }
}

/* The tiled training forward's edges (src/plans/plan_tiled_train.c; every plan runs them): a batch
 * of 13 (the 6- and 8-row tiles leave a partial block), hidden sizes off the 16-unit blocks (21, 18,
 * 33; 70 for the vanilla RNN's 64-unit blocks), lengths 0 and T (LEN_VARIED's rows 0 and 1), masks
 * with holes under each policy, bidirectional, stacked, batch-major, reverse, clip, cell_clip,
 * peepholes, CIFG, relu, and dropout between layers (the last layer tiled, the one below portable). */
static void test_tiled_train_shapes(void **s) {
    (void)s;
    clrnn_rnn_desc lstm = bidir(tu_desc(CLRNN_CELL_LSTM, 5, 21), CLRNN_MERGE_CONCAT);
    lstm.peephole = 1, lstm.cell_clip = 0.6f, lstm.clip = 1.5f, lstm.forget_bias = 0.4f;
    clrnn_rnn_desc cifg = tu_desc(CLRNN_CELL_LSTM, 4, 18);
    cifg.input_forget = 1, cifg.num_layers = 2, cifg.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    cifg.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    clrnn_rnn_desc rnn = tu_desc(CLRNN_CELL_RNN, 3, 70);
    rnn.activations[0][0] = (clrnn_activation){CLRNN_ACT_RELU, 0, 0}, rnn.direction = CLRNN_DIR_REVERSE;
    clrnn_rnn_desc rnn_bi = bidir(tu_desc(CLRNN_CELL_RNN, 4, 21), CLRNN_MERGE_SUM);
    rnn_bi.masked_output = CLRNN_MASKED_OUTPUT_FILL, rnn_bi.masked_fill_value = 0.25f;
    clrnn_rnn_desc rb = tu_desc(CLRNN_CELL_GRU, 6, 21);
    rb.num_layers = 2, rb.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    clrnn_rnn_desc lbr = bidir(tu_desc(CLRNN_CELL_GRU, 4, 33), CLRNN_MERGE_AVE);
    lbr.linear_before_reset = 1, lbr.clip = 0.9f;
    clrnn_rnn_desc drop = tu_desc(CLRNN_CELL_GRU, 4, 21);
    drop.linear_before_reset = 1, drop.num_layers = 2, drop.dropout = 0.3f, drop.dropout_seed = 5;
    tcase cs[] = {tc("tiled_lstm_bi_peep_13", lstm, 6, 13, LEN_VARIED), tc("tiled_lstm_cifg_stacked_bm", cifg, 5, 13, LEN_MASK_HOLES),
                  tc("tiled_rnn_relu_70_rev", rnn, 6, 13, LEN_VARIED),  tc("tiled_rnn_bi_fill", rnn_bi, 5, 13, LEN_MASK_HOLES),
                  tc("tiled_gru_rb_stacked_carry", rb, 5, 13, LEN_MASK_HOLES), tc("tiled_gru_lbr_bi_33", lbr, 6, 13, LEN_VARIED),
                  tc("tiled_gru_dropout_below", drop, 4, 13, LEN_VARIED), tc("tiled_lstm_full", cifg, 4, 8, LEN_FULL)};
    cs[7].desc.input_forget = 0, cs[7].desc.layout = CLRNN_LAYOUT_TIME_MAJOR;
    for (size_t i = 0; i < sizeof cs / sizeof *cs; ++i) run_case(&cs[i]);
}

/* Which kernels the training forward launched, from the trace (a sink, core/launch.h). */
typedef struct path_tally {
    int train_scan, portable_cell;
} path_tally;
static void path_record(void *user, const clrnn_trace_record *rec) {
    path_tally *t = user;
    if (rec->kind != CLRNN_TRACE_EXEC) return;
    if (strstr(rec->name, "_train_scan_tiled_")) t->train_scan++;
    if (strncmp(rec->name, "tr_", 3) == 0 && strstr(rec->name, "_fwd")) t->portable_cell++;
}

/* Under the tiled plan: a covered rnn's training forward is one tiled scan launch per layer and no
 * portable step kernel; the projection (not covered) runs the portable kernels only; dropout between
 * two layers runs one of each (from the trace of a context of its own). Then, on the shared
 * context: two calls of each give the same bits (y, hn, dx, dh0, every gradient), and so does a
 * second rnn object. */
static void test_tiled_train_path(void **s) {
    (void)s;
    path_tally t;
    memset(&t, 0, sizeof t);
    clrnn_trace_install(path_record, &t);
    clrnn_context *ctx = NULL;
    const clrnn_status cs = clrnn_context_create(NULL, &ctx);
    clrnn_trace_install(NULL, NULL);
    TU_OK(cs);
    clrnn_rnn_desc covered = bidir(tu_desc(CLRNN_CELL_LSTM, 4, 21), CLRNN_MERGE_CONCAT), proj = covered, drop = covered;
    covered.num_layers = 2;
    proj.proj_size = 5;
    drop.num_layers = 2, drop.dropout = 0.25f;
    const clrnn_rnn_desc *descs[3] = {&covered, &proj, &drop};
    const int want_scan[3] = {2, 0, 1}, want_portable[3] = {0, 1, 1};
    for (int i = 0; i < 3; ++i) {
        tcase c = tc("path", *descs[i], 5, 9, LEN_VARIED);
        clrnn_rnn *r;
        TU_OK(clrnn_rnn_create(ctx, descs[i], &r));
        uint64_t seed = 11;
        set_random_weights(r, &seed);
        problem p;
        problem_make(&p, r, &c, &seed);
        char plan[2048];
        clrnn_rnn_plan(r, plan, sizeof plan);
        clrnn_reserve *v;
        TU_OK(clrnn_reserve_create(r, &v));
        clrnn_forward_args a = fwd_args(&p);
        float *y = tu_alloc_poison(p.ny);
        a.y.host = y;
        memset(&t, 0, sizeof t);
        TU_OK(clrnn_rnn_forward_train(r, &a, v));
        if (strncmp(plan, "tiled", 5) == 0) {
            if (t.train_scan != want_scan[i])
                fail_msg("case %d: %d tiled training scans, want %d (%s)", i, t.train_scan, want_scan[i], plan);
            if (want_portable[i] ? t.portable_cell == 0 : t.portable_cell != 0)
                fail_msg("case %d: %d portable step launches (%s)", i, t.portable_cell, plan);
        }
        free(y);
        clrnn_reserve_destroy(v);
        problem_free(&p);
        clrnn_rnn_destroy(r);

        clrnn_rnn *r1, *r2;
        TU_OK(clrnn_rnn_create(tu_context(), descs[i], &r1));
        TU_OK(clrnn_rnn_create(tu_context(), descs[i], &r2));
        uint64_t seed1 = 11, seed2 = 11;
        set_random_weights(r1, &seed1);
        set_random_weights(r2, &seed2);
        problem p1, p2;
        problem_make(&p1, r1, &c, &seed1);
        problem_make(&p2, r2, &c, &seed2);
        clrnn_reserve *v1, *v2;
        TU_OK(clrnn_reserve_create(r1, &v1));
        TU_OK(clrnn_reserve_create(r2, &v2));
        run_out o1, o2, o3;
        train_step(r1, v1, &p1, CLRNN_WGRAD_SET, &o1);
        clrnn_train_set_call(r1, 0); /* the dropout masks of the first call again */
        train_step(r1, v1, &p1, CLRNN_WGRAD_SET, &o2);
        train_step(r2, v2, &p2, CLRNN_WGRAD_SET, &o3);
        const run_out *again[2] = {&o2, &o3};
        for (int k = 0; k < 2; ++k) {
            expect_same("y", o1.y, again[k]->y, p1.ny);
            expect_same("hn", o1.hn, again[k]->hn, p1.nh);
            expect_same("dx", o1.dx, again[k]->dx, p1.nx);
            expect_same("dh0", o1.dh0, again[k]->dh0, p1.nh);
            for (int g = 0; g < o1.n; ++g) expect_same("grad", o1.grads[g], again[k]->grads[g], o1.counts[g]);
        }
        run_out_free(&o1), run_out_free(&o2), run_out_free(&o3);
        clrnn_reserve_destroy(v1), clrnn_reserve_destroy(v2);
        problem_free(&p1), problem_free(&p2);
        clrnn_rnn_destroy(r1), clrnn_rnn_destroy(r2);
    }
    clrnn_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),         cmocka_unit_test(test_lstm_options), cmocka_unit_test(test_masks_reverse),
        cmocka_unit_test(test_bidirectional), cmocka_unit_test(test_stacked),      cmocka_unit_test(test_activations), cmocka_unit_test(test_wide_blocks),
        cmocka_unit_test(test_determinism_and_add), cmocka_unit_test(test_device_tensors),
        cmocka_unit_test(test_device_calls_reuse_the_table), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_params_updated), cmocka_unit_test(test_dropout), cmocka_unit_test(test_reserve_reuse),
        cmocka_unit_test(test_threads), cmocka_unit_test(test_reserve_limits),
        cmocka_unit_test(test_dropout_desc), cmocka_unit_test(test_program_first_use), cmocka_unit_test(test_fused_scan_edges),
        cmocka_unit_test(test_tiled_train_shapes), cmocka_unit_test(test_tiled_train_path),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER")); /* one test while debugging */
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
