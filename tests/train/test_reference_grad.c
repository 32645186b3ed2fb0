/* The float64 reference backward (tests/ref/reference_train.c) against central finite differences
 * of its own forward, over the whole option matrix: L = sum dy.y + sum dhn.hn + sum dcn.cn with
 * random dy, dhn, dcn, differentiated with respect to every weight, x, h0 and c0 element. Also:
 * with zero dropout its forward equals clrnn_reference_forward bit for bit, its float interface
 * (clrnn_reference_train) writes exactly the engine's values, and the dropout masks are the
 * contract's (clrnn_dropout_keep at the documented counters), keep 1-p of the elements and scale
 * them by 1/(1-p). No device kernels run: an rnn is created only for its descriptor and weights. */
#include "cl/train/rng.h"
#include "reference.h"
#include "test_util.h"

#define EPS 1e-6         /* central-difference step (float64) */
#define FD_TOL 1e-6      /* |fd - analytic| <= FD_TOL * (1 + |analytic|) */
#define KINK_MARGIN 1e-4 /* inputs this close to an activation's / clip's kink are redrawn */

typedef enum { LEN_FULL, LEN_VARIED, LEN_MASK_HOLES, LEN_BOTH } len_mode;

typedef struct gcase {
    char name[160];
    clrnn_rnn_desc desc;
    int T, N;
    len_mode lens;
    int with_h0, last_only, zero_rows;
    int dropout;   /* apply the descriptor's dropout rates */
    uint32_t call; /* forward_train call number */
} gcase;

/* One problem: float inputs (for the float interfaces) and their double copies (for the engine). */
typedef struct prob {
    size_t nx, nh, nc, ny, np;
    float *x, *h0, *c0, *dy, *dhn, *dcn;
    double *dx_, *dh0_, *dc0_, *dy_, *dhn_, *dcn_; /* double copies of x, h0, c0 and the incoming gradients */
    double *theta;
    int32_t *lens;
    uint8_t *mask;
} prob;

static double *dup_double(const float *a, size_t n) {
    if (!a) return NULL;
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; ++i) d[i] = a[i];
    return d;
}

static void prob_free(prob *b) {
    free(b->x), free(b->h0), free(b->c0), free(b->dy), free(b->dhn), free(b->dcn);
    free(b->dx_), free(b->dh0_), free(b->dc0_), free(b->dy_), free(b->dhn_), free(b->dcn_);
    free(b->theta), free(b->lens), free(b->mask);
    memset(b, 0, sizeof *b);
}

static void make_prob(const clrnn_rnn *r, const gcase *c, uint64_t *seed, prob *b) {
    clrnn_rnn_desc d;
    clrnn_rnn_get_desc(r, &d);
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), T = c->T, N = c->N;
    const int none = D == 2 && d.merge == CLRNN_MERGE_NONE;
    memset(b, 0, sizeof *b);
    b->nx = (size_t)T * N * d.input_size;
    b->nh = (size_t)d.num_layers * D * N * Hr;
    b->nc = (size_t)d.num_layers * D * N * d.hidden_size;
    b->ny = (size_t)(c->last_only ? 1 : T) * N * (none ? 2 * Hr : clrnn_rnn_output_size(r));
    b->x = tu_alloc_random(b->nx, seed, -1, 1);
    if (c->with_h0) {
        b->h0 = tu_alloc_random(b->nh, seed, -0.8f, 0.8f);
        if (d.cell == CLRNN_CELL_LSTM) b->c0 = tu_alloc_random(b->nc, seed, -0.8f, 0.8f);
    }
    b->dy = tu_alloc_random(b->ny, seed, -1, 1);
    b->dhn = tu_alloc_random(b->nh, seed, -1, 1);
    if (d.cell == CLRNN_CELL_LSTM) b->dcn = tu_alloc_random(b->nc, seed, -1, 1);
    if (c->lens == LEN_VARIED || c->lens == LEN_BOTH || c->zero_rows)
        b->lens = tu_random_lens(N, T, seed, c->zero_rows);
    if (c->lens == LEN_MASK_HOLES || c->lens == LEN_BOTH)
        b->mask = tu_random_mask(N, T, seed, N - 2); /* one fully masked row */
    b->dx_ = dup_double(b->x, b->nx);
    b->dh0_ = dup_double(b->h0, b->nh);
    b->dc0_ = dup_double(b->c0, b->nc);
    b->dy_ = dup_double(b->dy, b->ny);
    b->dhn_ = dup_double(b->dhn, b->nh);
    b->dcn_ = dup_double(b->dcn, b->nc);
    b->np = clrnn_reference_param_count(r);
    b->theta = malloc((b->np ? b->np : 1) * sizeof(double));
    clrnn_reference_param_import(r, b->theta);
}

static void base_problem(const gcase *c, prob *b, clrnn_reference_problem *p) {
    memset(p, 0, sizeof *p);
    p->T = c->T, p->N = c->N, p->seq_lens = b->lens, p->mask = b->mask, p->last_only = c->last_only;
    p->dropout = c->dropout, p->call = c->call;
    p->theta = b->theta, p->x = b->dx_, p->h0 = b->dh0_, p->c0 = b->dc0_;
}

/* The scalar loss of the engine's forward at the problem's current values. */
static double loss(const clrnn_rnn *r, const gcase *c, prob *b, double *y, double *hn, double *cn, double *kink) {
    clrnn_reference_problem p;
    base_problem(c, b, &p);
    p.y = y, p.hn = hn, p.cn = cn;
    TU_OK(clrnn_reference_run(r, &p));
    double s = 0;
    for (size_t i = 0; i < b->ny; ++i) s += b->dy_[i] * y[i];
    for (size_t i = 0; i < b->nh; ++i) s += b->dhn_[i] * hn[i];
    if (b->dcn_)
        for (size_t i = 0; i < b->nc; ++i) s += b->dcn_[i] * cn[i];
    if (kink) *kink = p.kink;
    return s;
}

typedef struct fd_stats {
    double max_err; /* max |fd - an| / (1 + |an|) */
    size_t checked;
} fd_stats;

/* Central differences over every element of v (n) against the analytic gradient g. */
static void fd_check(const clrnn_rnn *r, const gcase *c, prob *b, double *v, const double *g, size_t n,
                     const char *what, double *y, double *hn, double *cn, fd_stats *st) {
    for (size_t i = 0; i < n; ++i) {
        const double keep = v[i];
        v[i] = keep + EPS;
        const double lp = loss(r, c, b, y, hn, cn, NULL);
        v[i] = keep - EPS;
        const double lm = loss(r, c, b, y, hn, cn, NULL);
        v[i] = keep;
        const double fd = (lp - lm) / (2 * EPS), err = fabs(fd - g[i]) / (1 + fabs(g[i]));
        if (!(err <= FD_TOL))
            fail_msg("%s: d loss / d %s[%zu]: finite difference %.10g, backward %.10g (rel err %.3g)", c->name, what, i,
                     fd, g[i], err);
        if (err > st->max_err) st->max_err = err;
        ++st->checked;
    }
}

static void expect_same_float(const char *name, const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!(got[i] == want[i]) && !(isnan(got[i]) && isnan(want[i])))
            fail_msg("%s: %s[%zu] = %.9g, expected %.9g", name, what, i, (double)got[i], (double)want[i]);
}

static void expect_float_of(const char *name, const char *what, const float *got, const double *want, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!(got[i] == (float)want[i]))
            fail_msg("%s: %s[%zu] = %.9g, expected (float) %.9g", name, what, i, (double)got[i], want[i]);
}

/* The float interface: same outputs as clrnn_reference_forward (no dropout), every output written
 * and equal to the engine's values (converted). */
static void check_float_interface(const clrnn_rnn *r, const gcase *c, prob *b, const clrnn_reference_problem *an,
                                  const double *y_, const double *hn_, const double *cn_) {
    clrnn_rnn_desc d;
    clrnn_rnn_get_desc(r, &d);
    const int lstm = d.cell == CLRNN_CELL_LSTM;
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = c->T, a.batch = c->N, a.x.host = b->x, a.seq_lens = b->lens, a.mask = b->mask;
    a.h0.host = b->h0, a.c0.host = b->c0, a.last_only = c->last_only;
    float *y = tu_alloc_poison(b->ny), *hn = tu_alloc_poison(b->nh), *cn = tu_alloc_poison(b->nc);
    float *dx = tu_alloc_poison(b->nx), *dh0 = tu_alloc_poison(b->nh), *dc0 = tu_alloc_poison(b->nc);
    a.y.host = y, a.hn.host = hn;
    if (lstm) a.cn.host = cn;
    clrnn_backward_args bw;
    memset(&bw, 0, sizeof bw);
    bw.dy.host = b->dy, bw.dhn.host = b->dhn, bw.dcn.host = b->dcn;
    bw.dx.host = dx, bw.dh0.host = dh0;
    if (lstm) bw.dc0.host = dc0;
    clrnn_reference_grads gr;
    TU_OK(clrnn_reference_train(r, &a, c->call, &bw, &gr));
    expect_float_of(c->name, "train y", y, y_, b->ny);
    expect_float_of(c->name, "train hn", hn, hn_, b->nh);
    if (lstm) expect_float_of(c->name, "train cn", cn, cn_, b->nc);
    expect_float_of(c->name, "train dx", dx, an->dx, b->nx);
    expect_float_of(c->name, "train dh0", dh0, an->dh0, b->nh);
    if (lstm) expect_float_of(c->name, "train dc0", dc0, an->dc0, b->nc);
    /* the grads in the weights' layout are theta's blocks in order */
    const int D = clrnn_rnn_num_directions(r), G = tu_gates(d.cell), H = d.hidden_size, Hr = clrnn_rnn_state_size(r);
    assert_int_equal(gr.n, d.num_layers * D);
    size_t off = 0;
    for (int k = 0; k < gr.n; ++k) {
        const clrnn_layer_weights *w = &gr.lw[k];
        const size_t GH = (size_t)G * H;
        assert_int_equal(w->in_size, k < D ? d.input_size : D * Hr);
        expect_float_of(c->name, "grad W", w->W, an->dtheta + off, GH * w->in_size), off += GH * w->in_size;
        expect_float_of(c->name, "grad R", w->R, an->dtheta + off, GH * Hr), off += GH * Hr;
        expect_float_of(c->name, "grad Wb", w->Wb, an->dtheta + off, GH), off += GH;
        expect_float_of(c->name, "grad Rb", w->Rb, an->dtheta + off, GH), off += GH;
        if (d.peephole) {
            assert_non_null(w->P);
            expect_float_of(c->name, "grad P", w->P, an->dtheta + off, (size_t)3 * H), off += (size_t)3 * H;
        } else {
            assert_null(w->P);
        }
        if (d.proj_size > 0) {
            assert_non_null(w->proj);
            expect_float_of(c->name, "grad proj", w->proj, an->dtheta + off, (size_t)Hr * H), off += (size_t)Hr * H;
        } else {
            assert_null(w->proj);
        }
        if (d.input_forget) /* CIFG: the unused f rows get no gradient */
            for (size_t e = (size_t)H * w->in_size; e < (size_t)2 * H * w->in_size; ++e) assert_true(w->W[e] == 0);
    }
    if (d.dense_size > 0) {
        const size_t O = (size_t)d.dense_size, Hm = (size_t)(D == 2 && d.merge != CLRNN_MERGE_CONCAT ? Hr : D * Hr);
        expect_float_of(c->name, "grad dense_W", gr.dense_W, an->dtheta + off, O * Hm), off += O * Hm;
        expect_float_of(c->name, "grad dense_b", gr.dense_b, an->dtheta + off, O), off += O;
    } else {
        assert_null(gr.dense_W);
        assert_null(gr.dense_b);
    }
    assert_int_equal(off, b->np);
    clrnn_reference_grads_free(&gr);
    /* no dropout: the forward is clrnn_reference_forward's, bit for bit */
    if (!c->dropout || (d.dropout == 0 && d.input_dropout == 0 && d.recurrent_dropout == 0)) {
        float *yr = tu_alloc_poison(b->ny), *hnr = tu_alloc_poison(b->nh), *cnr = tu_alloc_poison(b->nc);
        clrnn_forward_args ar = a;
        ar.y.host = yr, ar.hn.host = hnr, ar.cn.host = lstm ? cnr : NULL;
        TU_OK(clrnn_reference_forward(r, &ar));
        expect_same_float(c->name, "y vs clrnn_reference_forward", y, yr, b->ny);
        expect_same_float(c->name, "hn vs clrnn_reference_forward", hn, hnr, b->nh);
        if (lstm) expect_same_float(c->name, "cn vs clrnn_reference_forward", cn, cnr, b->nc);
        free(yr), free(hnr), free(cnr);
    }
    free(y), free(hn), free(cn), free(dx), free(dh0), free(dc0);
}

static fd_stats g_stats;
static int g_redraws;

static void run_case(const gcase *c) {
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &c->desc, &r));
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (const char *q = c->name; *q; ++q) seed = seed * 131 + (unsigned char)*q;
    const int H = c->desc.hidden_size;
    const float sc = 1.5f / sqrtf((float)(H > 2 ? H : 2));
    prob b;
    double *y = NULL, *hn = NULL, *cn = NULL;
    double kink = 0;
    /* keep every activation / clip input away from its kinks: redraw weights and inputs */
    for (int attempt = 0;; ++attempt) {
        tu_set_random_weights(r, &seed, sc, 0.7f, 0.7f);
        make_prob(r, c, &seed, &b);
        y = malloc(b.ny * sizeof(double)), hn = malloc(b.nh * sizeof(double)), cn = malloc((b.nc + 1) * sizeof(double));
        loss(r, c, &b, y, hn, cn, &kink);
        if (kink > KINK_MARGIN) break;
        if (attempt == 40) fail_msg("%s: no draw keeps the inputs %g away from a kink", c->name, KINK_MARGIN);
        ++g_redraws;
        prob_free(&b);
        free(y), free(hn), free(cn);
    }
    /* the analytic gradients */
    clrnn_reference_problem an;
    base_problem(c, &b, &an);
    double *y_ = malloc(b.ny * sizeof(double)), *hn_ = malloc(b.nh * sizeof(double)),
           *cn_ = malloc((b.nc + 1) * sizeof(double));
    an.y = y_, an.hn = hn_, an.cn = cn_;
    an.dy = b.dy_, an.dhn = b.dhn_, an.dcn = b.dcn_;
    an.dtheta = malloc((b.np + 1) * sizeof(double));
    an.dx = malloc(b.nx * sizeof(double));
    an.dh0 = malloc(b.nh * sizeof(double));
    an.dc0 = malloc((b.nc + 1) * sizeof(double));
    TU_OK(clrnn_reference_run(r, &an));
    /* zero-length rows: dh0 = dhn, dx = 0 */
    clrnn_rnn_desc d;
    clrnn_rnn_get_desc(r, &d);
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), I = d.input_size;
    const int bm = d.layout == CLRNN_LAYOUT_BATCH_MAJOR;
    for (int n = 0; b.lens && n < c->N; ++n) {
        if (b.lens[n] != 0) continue;
        for (int k = 0; k < d.num_layers * D; ++k)
            for (int q = 0; q < Hr; ++q) {
                const size_t e = ((size_t)k * c->N + n) * Hr + q;
                if (!(an.dh0[e] == b.dhn_[e])) fail_msg("%s: zero-length row %d: dh0 != dhn", c->name, n);
            }
        for (int t = 0; t < c->T; ++t)
            for (int i = 0; i < I; ++i)
                if (an.dx[(bm ? (size_t)n * c->T + t : (size_t)t * c->N + n) * I + i] != 0)
                    fail_msg("%s: zero-length row %d: dx != 0", c->name, n);
    }
    check_float_interface(r, c, &b, &an, y_, hn_, cn_);
    /* the finite differences */
    fd_check(r, c, &b, b.theta, an.dtheta, b.np, "theta", y, hn, cn, &g_stats);
    fd_check(r, c, &b, b.dx_, an.dx, b.nx, "x", y, hn, cn, &g_stats);
    /* initial states not given were zeros: their gradients are checked at zeros */
    if (!b.dh0_) b.dh0_ = calloc(b.nh, sizeof(double));
    fd_check(r, c, &b, b.dh0_, an.dh0, b.nh, "h0", y, hn, cn, &g_stats);
    if (d.cell == CLRNN_CELL_LSTM) {
        if (!b.dc0_) b.dc0_ = calloc(b.nc, sizeof(double));
        fd_check(r, c, &b, b.dc0_, an.dc0, b.nc, "c0", y, hn, cn, &g_stats);
    }
    free(y_), free(hn_), free(cn_), free(an.dtheta), free(an.dx), free(an.dh0), free(an.dc0);
    free(y), free(hn), free(cn);
    prob_free(&b);
    clrnn_rnn_destroy(r);
}

static void print_stats(const char *what, int cases) {
    print_message("%s: %d cases, %zu finite differences, max rel err %.3g, %d redraws away from kinks\n", what, cases,
                  g_stats.checked, g_stats.max_err, g_redraws);
    memset(&g_stats, 0, sizeof g_stats);
    g_redraws = 0;
}

/* ---- the matrix: cell x direction x layout x lengths/mask x layers, the rest cycled ---- */
static void matrix(void **state) {
    (void)state;
    int count = 0;
    for (int ci = 0; ci < TU_MATRIX_CELLS; ++ci)
        for (int dir = 0; dir < 3; ++dir)
            for (int layout = 0; layout < 2; ++layout)
                for (int lm = 0; lm < 4; ++lm)
                    for (int L = 1; L <= 2; ++L) {
                        gcase c;
                        memset(&c, 0, sizeof c);
                        c.desc = tu_matrix_desc(ci, dir, layout, L, count, 3, 3);
                        c.desc.reverse_mode = (clrnn_reverse_mode)((count / 3) % 2);
                        c.desc.reverse_order = (clrnn_reverse_order)((count / 5) % 2);
                        if (dir == 2) c.desc.merge = (clrnn_merge)((count / 2) % 5);
                        if (count % 3 == 1 && c.desc.merge != CLRNN_MERGE_NONE) c.desc.dense_size = 2;
                        c.T = 5;
                        c.N = 3;
                        c.lens = (len_mode)lm;
                        c.with_h0 = count % 2;
                        c.last_only = count % 4 == 3;
                        c.zero_rows = lm == LEN_VARIED && count % 3 == 0;
                        if (count % 4 == 2) { /* a quarter of the matrix with every dropout, at some call */
                            c.desc.dropout = 0.3f, c.desc.input_dropout = 0.25f, c.desc.recurrent_dropout = 0.2f;
                            c.desc.dropout_mode = (clrnn_dropout_mode)((count / 4) % 2);
                            c.desc.dropout_seed = 1000 + (uint64_t)count;
                            c.dropout = 1;
                            c.call = (uint32_t)count;
                        }
                        snprintf(c.name, sizeof c.name,
                                 "%s/%s/%s/%s/L%d/out%d/rm%d/ro%d/merge%d/dense%d/last%d/h0%d/drop%d", tu_matrix_cell_names[ci],
                                 tu_matrix_dir_names[dir], layout ? "batch" : "time", tu_matrix_len_names[lm], L, (int)c.desc.masked_output,
                                 (int)c.desc.reverse_mode, (int)c.desc.reverse_order, (int)c.desc.merge,
                                 c.desc.dense_size, c.last_only, c.with_h0, c.dropout);
                        run_case(&c);
                        ++count;
                    }
    assert_int_equal(count, 240);
    print_stats("matrix", count);
}

/* ---- every option on its own and in combinations ---- */
static int build_options(gcase *cases) {
    int n = 0;
#define ADD(nm, cell, body)                                                                                            \
    do {                                                                                                               \
        gcase *c = &cases[n++];                                                                                        \
        memset(c, 0, sizeof *c);                                                                                       \
        snprintf(c->name, sizeof c->name, "%s", nm);                                                                   \
        c->desc = tu_desc(cell, 3, 4);                                                                                    \
        c->T = 5;                                                                                                      \
        c->N = 3;                                                                                                      \
        body;                                                                                                          \
    } while (0)
    ADD("lstm peephole", CLRNN_CELL_LSTM, (c->desc.peephole = 1, c->with_h0 = 1));
    ADD("lstm peephole bi lens mask", CLRNN_CELL_LSTM,
        (c->desc.peephole = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->lens = LEN_BOTH, c->with_h0 = 1));
    ADD("lstm cifg", CLRNN_CELL_LSTM, (c->desc.input_forget = 1, c->with_h0 = 1));
    ADD("lstm cifg peephole", CLRNN_CELL_LSTM, (c->desc.input_forget = 1, c->desc.peephole = 1, c->with_h0 = 1));
    ADD("lstm onnx clip", CLRNN_CELL_LSTM, (c->desc.clip = 0.6f, c->with_h0 = 1));
    ADD("lstm cell_clip", CLRNN_CELL_LSTM, (c->desc.cell_clip = 0.3f, c->with_h0 = 1));
    ADD("lstm forget_bias", CLRNN_CELL_LSTM, (c->desc.forget_bias = 1.0f, c->with_h0 = 1));
    ADD("lstm proj", CLRNN_CELL_LSTM, (c->desc.proj_size = 2, c->with_h0 = 1));
    ADD("lstm proj bi 2 layers lens", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 3, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.num_layers = 2,
         c->lens = LEN_VARIED, c->with_h0 = 1));
    ADD("lstm proj clip peephole cell_clip", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 2, c->desc.proj_clip = 0.15f, c->desc.peephole = 1, c->desc.cell_clip = 0.4f,
         c->with_h0 = 1));
    ADD("lstm everything bi 2 layers", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 3, c->desc.proj_clip = 0.4f, c->desc.peephole = 1, c->desc.cell_clip = 0.5f,
         c->desc.clip = 0.8f, c->desc.forget_bias = 0.5f, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL,
         c->desc.num_layers = 2, c->lens = LEN_BOTH, c->with_h0 = 1, c->desc.merge = CLRNN_MERGE_MUL,
         c->desc.dense_size = 2, c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY));
    ADD("lstm proj mask carry", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 2, c->lens = LEN_MASK_HOLES, c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY));
    ADD("lstm proj last_only bi lens batch", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 3, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->last_only = 1, c->lens = LEN_VARIED,
         c->zero_rows = 1, c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR, c->with_h0 = 1));
    ADD("gru clip", CLRNN_CELL_GRU, (c->desc.clip = 0.5f, c->with_h0 = 1));
    ADD("gru lbr clip", CLRNN_CELL_GRU, (c->desc.clip = 0.5f, c->desc.linear_before_reset = 1, c->with_h0 = 1));
    ADD("rnn clip", CLRNN_CELL_RNN, (c->desc.clip = 0.5f, c->with_h0 = 1));
    /* every activation in every slot */
    static const clrnn_activation acts[] = {{CLRNN_ACT_SIGMOID, 0, 0},
                                            {CLRNN_ACT_TANH, 0, 0},
                                            {CLRNN_ACT_RELU, 0, 0},
                                            {CLRNN_ACT_AFFINE, 0.7f, 0.2f},
                                            {CLRNN_ACT_LEAKY_RELU, 0.1f, 0},
                                            {CLRNN_ACT_THRESHOLDED_RELU, 0.2f, 0},
                                            {CLRNN_ACT_SCALED_TANH, 0.8f, 1.3f},
                                            {CLRNN_ACT_HARD_SIGMOID, 0.3f, 0.5f},
                                            {CLRNN_ACT_ELU, 0.9f, 0},
                                            {CLRNN_ACT_SOFTSIGN, 0, 0},
                                            {CLRNN_ACT_SOFTPLUS, 0, 0}};
    static const char *act_names[] = {"sigmoid",          "tanh",        "relu",         "affine", "leaky_relu",
                                      "thresholded_relu", "scaled_tanh", "hard_sigmoid", "elu",    "softsign",
                                      "softplus"};
    const int na = (int)(sizeof acts / sizeof acts[0]);
    for (int ai = 0; ai < na; ++ai) {
        char nm[96];
        snprintf(nm, sizeof nm, "rnn act %s bi", act_names[ai]);
        ADD(nm, CLRNN_CELL_RNN,
            (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.activations[0][0] = acts[ai],
             c->desc.activations[1][0] = acts[(ai + 3) % na], c->with_h0 = 1, c->lens = LEN_VARIED));
        for (int slot = 0; slot < 3; ++slot) {
            snprintf(nm, sizeof nm, "lstm act %s slot %d", act_names[ai], slot);
            ADD(nm, CLRNN_CELL_LSTM,
                (c->desc.activations[0][slot] = acts[ai], c->with_h0 = 1, c->desc.peephole = slot == 1,
                 c->desc.clip = slot == 2 ? 1.5f : 0));
        }
        for (int slot = 0; slot < 2; ++slot) {
            snprintf(nm, sizeof nm, "gru act %s slot %d", act_names[ai], slot);
            ADD(nm, CLRNN_CELL_GRU,
                (c->desc.activations[0][slot] = acts[ai], c->with_h0 = 1,
                 c->desc.linear_before_reset = (ai + slot) % 2));
        }
    }
    for (int m = 0; m <= CLRNN_MERGE_NONE; ++m) {
        static const char *names[] = {"merge concat", "merge sum", "merge mul", "merge ave", "merge none"};
        ADD(names[m], CLRNN_CELL_LSTM,
            (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = (clrnn_merge)m, c->lens = LEN_MASK_HOLES,
             c->desc.layout = (clrnn_layout)(m % 2), c->desc.dense_size = m == CLRNN_MERGE_NONE ? 0 : 2));
        char nm[96];
        snprintf(nm, sizeof nm, "%s last_only", names[m]);
        ADD(nm, CLRNN_CELL_GRU,
            (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = (clrnn_merge)m, c->last_only = 1,
             c->lens = LEN_BOTH, c->zero_rows = 1, c->desc.masked_output = (clrnn_masked_output)(m % 3)));
    }
    for (int pol = 0; pol < 3; ++pol)
        for (int ro = 0; ro < 2; ++ro)
            for (int rm = 0; rm < 2; ++rm) {
                char nm[96];
                snprintf(nm, sizeof nm, "policy %d order %d mode %d bi lens+mask zero rows", pol, ro, rm);
                ADD(nm, CLRNN_CELL_LSTM,
                    (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.masked_output = (clrnn_masked_output)pol,
                     c->desc.masked_fill_value = -0.75f, c->desc.reverse_order = (clrnn_reverse_order)ro,
                     c->desc.reverse_mode = (clrnn_reverse_mode)rm, c->lens = LEN_BOTH, c->zero_rows = 1,
                     c->with_h0 = 1, c->N = 4, c->T = 6, c->desc.num_layers = 2));
            }
    ADD("keras go_backwards", CLRNN_CELL_LSTM,
        (c->desc.direction = CLRNN_DIR_REVERSE, c->desc.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED,
         c->desc.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS, c->lens = LEN_MASK_HOLES,
         c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY, c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR));
    ADD("dense last_only rnn", CLRNN_CELL_RNN, (c->desc.dense_size = 2, c->last_only = 1, c->lens = LEN_VARIED));
    ADD("last_only fill zero rows", CLRNN_CELL_RNN,
        (c->last_only = 1, c->zero_rows = 1, c->lens = LEN_VARIED, c->desc.masked_output = CLRNN_MASKED_OUTPUT_FILL,
         c->desc.masked_fill_value = -2.0f, c->with_h0 = 1));
    ADD("zero-length rows lstm bi", CLRNN_CELL_LSTM,
        (c->zero_rows = 1, c->lens = LEN_VARIED, c->with_h0 = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("3 layers bi gru lbr lens", CLRNN_CELL_GRU,
        (c->desc.num_layers = 3, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->lens = LEN_VARIED,
         c->desc.linear_before_reset = 1, c->with_h0 = 1, c->desc.hidden_size = 2));
    ADD("H=1 lstm bi", CLRNN_CELL_LSTM, (c->desc.hidden_size = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("I=1 gru", CLRNN_CELL_GRU, (c->desc.input_size = 1, c->lens = LEN_VARIED));
    ADD("T=1 lstm bi", CLRNN_CELL_LSTM, (c->T = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->with_h0 = 1));
    ADD("N=1 gru 2 layers", CLRNN_CELL_GRU, (c->N = 1, c->desc.num_layers = 2, c->with_h0 = 1));
#undef ADD
    return n;
}

static void options(void **state) {
    (void)state;
    gcase *cases = calloc(256, sizeof(gcase));
    const int n = build_options(cases);
    assert_true(n <= 256);
    for (int i = 0; i < n; ++i) run_case(&cases[i]);
    print_stats("options", n);
    free(cases);
}

/* ---- dropout: finite differences at fixed masks ---- */
static void dropout_fd(void **state) {
    (void)state;
    gcase *cases = calloc(128, sizeof(gcase));
    int n = 0;
    static const clrnn_cell cells[] = {CLRNN_CELL_RNN, CLRNN_CELL_LSTM, CLRNN_CELL_GRU, CLRNN_CELL_GRU};
    static const char *cell_names[] = {"rnn", "lstm", "gru", "gru_lbr"};
    for (int ci = 0; ci < 4; ++ci)
        for (int kind = 0; kind < 4; ++kind) /* output, input, recurrent, all three */
            for (int mode = 0; mode < 2; ++mode) {
                if (kind == 0 && mode == 1) continue; /* the output dropout has no mode */
                gcase *c = &cases[n++];
                memset(c, 0, sizeof *c);
                c->desc = tu_desc(cells[ci], 3, 4);
                c->desc.linear_before_reset = ci == 3;
                c->desc.num_layers = 2;
                c->desc.direction = kind == 3 ? CLRNN_DIR_BIDIRECTIONAL : CLRNN_DIR_FORWARD;
                c->desc.dropout = kind == 0 || kind == 3 ? 0.3f : 0;
                c->desc.input_dropout = kind == 1 || kind == 3 ? 0.4f : 0;
                c->desc.recurrent_dropout = kind == 2 || kind == 3 ? 0.35f : 0;
                c->desc.dropout_mode = (clrnn_dropout_mode)mode;
                c->desc.dropout_seed = 0x0123456789abcdefULL + (uint64_t)n;
                if (ci == 1 && kind == 3) c->desc.peephole = 1, c->desc.proj_size = 3;
                c->T = 5;
                c->N = 3;
                c->lens = kind == 3 ? LEN_BOTH : LEN_FULL;
                c->with_h0 = 1;
                c->dropout = 1;
                c->call = (uint32_t)(n % 3);
                snprintf(c->name, sizeof c->name, "dropout %s kind %d mode %d call %u", cell_names[ci], kind, mode,
                         c->call);
            }
    for (int i = 0; i < n; ++i) run_case(&cases[i]);
    print_stats("dropout", n);
    free(cases);
}

/* ---- dropout: the masks are the contract's, keep 1 - p, scale 1/(1-p) ---- */

/* A single-layer (or two-layer) RNN whose step is y_t = W x_t + R h_{t-1} with affine(1, 0), so
 * that each dropout mask can be read off its outputs. */
static clrnn_rnn *identity_rnn(int L, int H, int recurrent_identity, float out_p, float in_p, float rec_p,
                               clrnn_dropout_mode mode, uint64_t seed) {
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, H, H);
    d.num_layers = L;
    d.activations[0][0] = (clrnn_activation){CLRNN_ACT_AFFINE, 1.0f, 0.0f};
    d.dropout = out_p, d.input_dropout = in_p, d.recurrent_dropout = rec_p, d.dropout_mode = mode;
    d.dropout_seed = seed;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    float *eye = calloc((size_t)H * H, sizeof(float)), *zero = calloc((size_t)H * H + 2 * (size_t)H, sizeof(float));
    for (int i = 0; i < H; ++i) eye[(size_t)i * H + i] = 1;
    for (int l = 0; l < L; ++l) {
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, 0, CLRNN_PARAM_W, eye, (size_t)H * H));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, 0, CLRNN_PARAM_R, recurrent_identity ? eye : zero,
                                  (size_t)H * H));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, 0, CLRNN_PARAM_B, zero, (size_t)2 * H));
    }
    free(eye), free(zero);
    return r;
}

typedef struct mask_stats {
    size_t kept, total, changed_over_t, pairs;
} mask_stats;

/* A mask element read off the outputs: 0 or exactly 1/(1-p) (to rounding), and equal to the
 * contract's draw; `fresh`: a new draw (counted), not a variational mask's repeat. */
static void check_element(double ratio, double scale, int keep, int fresh, const char *what, mask_stats *ms) {
    const double want = keep ? scale : 0.0;
    if (!(fabs(ratio - want) <= 1e-12 * (1 + scale)))
        fail_msg("%s: mask scale %.17g, expected %.17g", what, ratio, want);
    if (!fresh) return;
    ms->kept += keep != 0;
    ms->total++;
}

static void expect_fraction(const char *what, const mask_stats *ms, double p) {
    const double kept = (double)ms->kept / (double)ms->total;
    print_message("%s: kept %.4f of %zu (1-p = %.4f)\n", what, kept, ms->total, 1 - p);
    /* 5 standard deviations of a binomial of that size (the draws are deterministic: no flakiness) */
    const double sd = sqrt(p * (1 - p) / (double)ms->total);
    if (!(fabs(kept - (1 - p)) <= 5 * sd))
        fail_msg("%s: kept fraction %.4f, expected %.4f +- %.4f", what, kept, 1 - p, 5 * sd);
}

static void dropout_masks(void **state) {
    (void)state;
    const int T = 6, N = 97, H = 8;
    const float p = 0.3f;
    const double scale = 1.0 / (1.0 - (double)p);
    const uint64_t seed = 0xfeedfacecafebeefULL;
    const uint32_t lo = (uint32_t)seed, hi = (uint32_t)(seed >> 32);
    uint64_t s = 42;
    double *x = malloc(sizeof(double) * T * N * H), *h0 = malloc(sizeof(double) * 2 * N * H);
    double *y = malloc(sizeof(double) * T * N * H), *y2 = malloc(sizeof(double) * T * N * H);
    for (int i = 0; i < T * N * H; ++i) x[i] = 0.5 + tu_uniform(&s, 0, 1);
    for (int i = 0; i < 2 * N * H; ++i) h0[i] = 0.5 + tu_uniform(&s, 0, 1);
    for (uint32_t call = 0; call < 3; ++call)
        for (int mode = 0; mode < 2; ++mode) {
            /* input_dropout: y_t = x_t . m_t */
            {
                clrnn_rnn *r = identity_rnn(1, H, 0, 0, p, 0, (clrnn_dropout_mode)mode, seed);
                double *theta = malloc(sizeof(double) * clrnn_reference_param_count(r));
                clrnn_reference_param_import(r, theta);
                clrnn_reference_problem pr;
                memset(&pr, 0, sizeof pr);
                pr.T = T, pr.N = N, pr.dropout = 1, pr.call = call, pr.theta = theta, pr.x = x, pr.y = y;
                TU_OK(clrnn_reference_run(r, &pr));
                mask_stats ms = {0, 0, 0, 0};
                for (int t = 0; t < T; ++t)
                    for (int n = 0; n < N; ++n)
                        for (int i = 0; i < H; ++i) {
                            const size_t e = ((size_t)t * N + n) * H + i;
                            const uint32_t c1 = mode == CLRNN_DROPOUT_PER_STEP ? (uint32_t)t : 0;
                            const int keep = clrnn_dropout_keep(lo, hi, call, 0, 0, RNG_STREAM_INPUT + 0,
                                                                (uint32_t)(n * H + i), c1, p);
                            check_element(y[e] / x[e], scale, keep, mode == CLRNN_DROPOUT_PER_STEP || t == 0,
                                          "input_dropout", &ms);
                            if (t > 0) {
                                const size_t e0 = ((size_t)(t - 1) * N + n) * H + i;
                                ms.pairs++;
                                ms.changed_over_t += (y[e] == 0) != (y[e0] == 0);
                            }
                        }
                expect_fraction(mode ? "input_dropout per step" : "input_dropout variational", &ms, p);
                if (mode == CLRNN_DROPOUT_VARIATIONAL)
                    assert_int_equal(ms.changed_over_t, 0);
                else
                    assert_true(ms.changed_over_t > ms.pairs / 4); /* 2p(1-p) = 0.42 expected */
                /* the backward sees the same masks: dx = dy . m */
                double *dy = malloc(sizeof(double) * T * N * H), *dx = malloc(sizeof(double) * T * N * H);
                for (int i = 0; i < T * N * H; ++i) dy[i] = 1;
                pr.dy = dy, pr.dx = dx;
                TU_OK(clrnn_reference_run(r, &pr));
                for (int i = 0; i < T * N * H; ++i)
                    if (!(fabs(dx[i] - y[i] / x[i]) <= 1e-12))
                        fail_msg("input_dropout: dx[%d] = %g, mask %g", i, dx[i], y[i] / x[i]);
                free(dy), free(dx), free(theta);
                clrnn_rnn_destroy(r);
            }
            /* recurrent_dropout: y_t = x_t + y_{t-1} . m_t (y_{-1} = h0) */
            {
                clrnn_rnn *r = identity_rnn(1, H, 1, 0, 0, p, (clrnn_dropout_mode)mode, seed);
                double *theta = malloc(sizeof(double) * clrnn_reference_param_count(r));
                clrnn_reference_param_import(r, theta);
                clrnn_reference_problem pr;
                memset(&pr, 0, sizeof pr);
                pr.T = T, pr.N = N, pr.dropout = 1, pr.call = call, pr.theta = theta, pr.x = x, pr.h0 = h0, pr.y = y;
                TU_OK(clrnn_reference_run(r, &pr));
                mask_stats ms = {0, 0, 0, 0};
                for (int t = 0; t < T; ++t)
                    for (int n = 0; n < N; ++n)
                        for (int k = 0; k < H; ++k) {
                            const size_t e = ((size_t)t * N + n) * H + k;
                            const double hp = t == 0 ? h0[(size_t)n * H + k] : y[((size_t)(t - 1) * N + n) * H + k];
                            const uint32_t c1 = mode == CLRNN_DROPOUT_PER_STEP ? (uint32_t)t : 0;
                            const int keep = clrnn_dropout_keep(lo, hi, call, 0, 0, RNG_STREAM_RECURRENT + 0,
                                                                (uint32_t)(n * H + k), c1, p);
                            check_element((y[e] - x[e]) / hp, scale, keep, mode == CLRNN_DROPOUT_PER_STEP || t == 0,
                                          "recurrent_dropout", &ms);
                        }
                expect_fraction(mode ? "recurrent_dropout per step" : "recurrent_dropout variational", &ms, p);
                free(theta);
                clrnn_rnn_destroy(r);
            }
        }
    /* dropout between layers: layer 0 passes x through, layer 1 passes its input: y = x . m */
    for (uint32_t call = 0; call < 3; ++call) {
        clrnn_rnn *r = identity_rnn(2, H, 0, p, 0, 0, CLRNN_DROPOUT_VARIATIONAL, seed);
        double *theta = malloc(sizeof(double) * clrnn_reference_param_count(r));
        clrnn_reference_param_import(r, theta);
        clrnn_reference_problem pr;
        memset(&pr, 0, sizeof pr);
        pr.T = T, pr.N = N, pr.dropout = 1, pr.call = call, pr.theta = theta, pr.x = x, pr.y = call == 1 ? y2 : y;
        TU_OK(clrnn_reference_run(r, &pr));
        mask_stats ms = {0, 0, 0, 0};
        for (int t = 0; t < T; ++t)
            for (int n = 0; n < N; ++n)
                for (int u = 0; u < H; ++u) {
                    const size_t e = ((size_t)t * N + n) * H + u;
                    const int keep = clrnn_dropout_keep(lo, hi, call, 0, 0, RNG_STREAM_OUTPUT, (uint32_t)(n * H + u),
                                                        (uint32_t)t, p);
                    check_element(pr.y[e] / x[e], scale, keep, 1, "dropout", &ms);
                }
        expect_fraction("dropout between layers", &ms, p);
        free(theta);
        clrnn_rnn_destroy(r);
    }
    /* another call, other masks */
    size_t differ = 0;
    for (int i = 0; i < T * N * H; ++i) differ += (y[i] == 0) != (y2[i] == 0);
    assert_true(differ > (size_t)(T * N * H) / 4);
    free(x), free(h0), free(y), free(y2);
}

/* ---- dropout per gate, layer and direction, against clrnn_reference_forward ----
 * A mask multiplies x (h_{t-1}) before gate g's product, so a row's run with constant masks equals a
 * run without dropout whose W (R) columns of gate g are scaled by that row's m_g: VARIATIONAL input
 * and recurrent masks at any T, and at T = 1 the dropout between layers too (it scales the next
 * layer's W columns). p = 0.5 makes the scale exactly 2: the two runs agree bit for bit. */
static double mask_of(const clrnn_rnn_desc *d, uint32_t call, int l, int dir, int stream, uint32_t c0, float p) {
    const uint32_t lo = (uint32_t)d->dropout_seed, hi = (uint32_t)(d->dropout_seed >> 32);
    return clrnn_dropout_keep(lo, hi, call, l, dir, stream, c0, 0, p) ? 1.0 / (1.0 - (double)p) : 0.0;
}

static void gates_case(clrnn_cell cell, int lbr, int T, int with_output_dropout) {
    clrnn_rnn_desc d = tu_desc(cell, 3, 4);
    d.linear_before_reset = lbr;
    d.num_layers = 3;
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    if (cell == CLRNN_CELL_LSTM) d.peephole = 1, d.proj_size = 3;
    d.input_dropout = 0.5f;
    d.recurrent_dropout = 0.5f;
    d.dropout = with_output_dropout ? 0.5f : 0;
    d.dropout_mode = CLRNN_DROPOUT_VARIATIONAL;
    d.dropout_seed = 0x5eed0000beefULL + (uint64_t)cell * 7 + (uint64_t)lbr;
    const uint32_t call = 5;
    const int N = 3, L = d.num_layers, D = 2;
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    uint64_t seed = 99 + (uint64_t)cell * 3 + (uint64_t)lbr;
    tu_set_random_weights(r, &seed, 0.8f, 0.7f, 0.7f);
    const int H = d.hidden_size, Hr = clrnn_rnn_state_size(r), G = tu_gates(cell), O = clrnn_rnn_output_size(r);
    const size_t nx = (size_t)T * N * d.input_size, nh = (size_t)L * D * N * Hr, nc = (size_t)L * D * N * H;
    float *x = tu_alloc_random(nx, &seed, -1, 1), *h0 = tu_alloc_random(nh, &seed, -0.8f, 0.8f);
    float *c0 = tu_alloc_random(nc, &seed, -0.8f, 0.8f);
    float *y = tu_alloc_poison((size_t)T * N * O), *hn = tu_alloc_poison(nh), *cn = tu_alloc_poison(nc);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.h0.host = h0, a.y.host = y, a.hn.host = hn;
    if (cell == CLRNN_CELL_LSTM) a.c0.host = c0, a.cn.host = cn;
    TU_OK(clrnn_reference_train(r, &a, call, NULL, NULL));

    clrnn_rnn_desc d1 = d;
    d1.dropout = d1.input_dropout = d1.recurrent_dropout = 0;
    for (int n = 0; n < N; ++n) {
        clrnn_rnn *r1 = NULL;
        TU_OK(clrnn_rnn_create(tu_context(), &d1, &r1));
        for (int l = 0; l < L; ++l)
            for (int dir = 0; dir < D; ++dir) {
                const clrnn_layer_weights *w = &r->lw[l * D + dir];
                clrnn_layer_weights *w1 = &r1->lw[l * D + dir];
                const int I = w->in_size;
                assert_int_equal(w1->in_size, I);
                memcpy(w1->Wb, w->Wb, sizeof(float) * G * H);
                memcpy(w1->Rb, w->Rb, sizeof(float) * G * H);
                memcpy(w1->P, w->P, sizeof(float) * 3 * H);
                if (w->proj) memcpy(w1->proj, w->proj, sizeof(float) * Hr * H);
                for (int row = 0; row < G * H; ++row) {
                    const int g = row / H;
                    for (int i = 0; i < I; ++i) {
                        double m =
                            mask_of(&d, call, l, dir, RNG_STREAM_INPUT + g, (uint32_t)(n * I + i), d.input_dropout);
                        if (l > 0 && d.dropout > 0) /* T = 1: the dropout of layer l-1's output, step 0 */
                            m *= mask_of(&d, call, l - 1, 0, RNG_STREAM_OUTPUT, (uint32_t)(n * I + i), d.dropout);
                        w1->W[(size_t)row * I + i] = (float)(w->W[(size_t)row * I + i] * m);
                    }
                    for (int k = 0; k < Hr; ++k) {
                        const double m = mask_of(&d, call, l, dir, RNG_STREAM_RECURRENT + g, (uint32_t)(n * Hr + k),
                                                 d.recurrent_dropout);
                        w1->R[(size_t)row * Hr + k] = (float)(w->R[(size_t)row * Hr + k] * m);
                    }
                }
            }
        float *x1 = malloc(sizeof(float) * T * d.input_size), *h01 = malloc(sizeof(float) * L * D * Hr);
        float *c01 = malloc(sizeof(float) * L * D * H);
        float *y1 = tu_alloc_poison((size_t)T * O), *hn1 = tu_alloc_poison((size_t)L * D * Hr);
        float *cn1 = tu_alloc_poison((size_t)L * D * H);
        for (int t = 0; t < T; ++t)
            memcpy(x1 + (size_t)t * d.input_size, x + ((size_t)t * N + n) * d.input_size, sizeof(float) * d.input_size);
        for (int k = 0; k < L * D; ++k) {
            memcpy(h01 + (size_t)k * Hr, h0 + ((size_t)k * N + n) * Hr, sizeof(float) * Hr);
            memcpy(c01 + (size_t)k * H, c0 + ((size_t)k * N + n) * H, sizeof(float) * H);
        }
        clrnn_forward_args a1;
        memset(&a1, 0, sizeof a1);
        a1.seq_length = T, a1.batch = 1, a1.x.host = x1, a1.h0.host = h01, a1.y.host = y1, a1.hn.host = hn1;
        if (cell == CLRNN_CELL_LSTM) a1.c0.host = c01, a1.cn.host = cn1;
        TU_OK(clrnn_reference_forward(r1, &a1));
        char what[96];
        snprintf(what, sizeof what, "dropout per gate, cell %d lbr %d T %d row %d", (int)cell, lbr, T, n);
        for (int t = 0; t < T; ++t)
            expect_same_float(what, "y", y + ((size_t)t * N + n) * O, y1 + (size_t)t * O, (size_t)O);
        for (int k = 0; k < L * D; ++k) {
            expect_same_float(what, "hn", hn + ((size_t)k * N + n) * Hr, hn1 + (size_t)k * Hr, (size_t)Hr);
            if (cell == CLRNN_CELL_LSTM)
                expect_same_float(what, "cn", cn + ((size_t)k * N + n) * H, cn1 + (size_t)k * H, (size_t)H);
        }
        free(x1), free(h01), free(c01), free(y1), free(hn1), free(cn1);
        clrnn_rnn_destroy(r1);
    }
    free(x), free(h0), free(c0), free(y), free(hn), free(cn);
    clrnn_rnn_destroy(r);
}

static void dropout_gates(void **state) {
    (void)state;
    static const clrnn_cell cells[] = {CLRNN_CELL_RNN, CLRNN_CELL_LSTM, CLRNN_CELL_GRU, CLRNN_CELL_GRU};
    for (int ci = 0; ci < 4; ++ci) {
        gates_case(cells[ci], ci == 3, 4, 0);
        gates_case(cells[ci], ci == 3, 1, 1);
    }
}

/* ---- the derivative at a kink is the contract's ----
 * A one-unit RNN with W = R = Rb = 0 and Wb = b has the activation input a = b exactly; dy = 1 at
 * its single step makes dWb = act'(b). */
static void kink_conventions(void **state) {
    (void)state;
    typedef struct kc {
        clrnn_activation act;
        float clip, b;
        double want;
    } kc;
    const double t5 = tanh(0.5);
    const kc cases[] = {
        {{CLRNN_ACT_RELU, 0, 0}, 0, 0.0f, 0.0},                /* relu: 1 for x > 0 only */
        {{CLRNN_ACT_THRESHOLDED_RELU, 0.3f, 0}, 0, 0.3f, 0.0}, /* 1 for x > alpha only */
        {{CLRNN_ACT_LEAKY_RELU, 0.1f, 0}, 0, 0.0f, 1.0},       /* x < 0 ? alpha : 1 */
        {{CLRNN_ACT_ELU, 0.7f, 0}, 0, 0.0f, 1.0},              /* x < 0 ? alpha e^x : 1 */
        {{CLRNN_ACT_HARD_SIGMOID, 0.5f, 0.0f}, 0, 0.0f, 0.0},  /* alpha where 0 < alpha x + beta < 1 */
        {{CLRNN_ACT_HARD_SIGMOID, 0.5f, 0.5f}, 0, 1.0f, 0.0},
        {{CLRNN_ACT_HARD_SIGMOID, 0.5f, 0.5f}, 0, 0.5f, 0.5},
        {{CLRNN_ACT_TANH, 0, 0}, 0.5f, 0.5f, 1 - t5 * t5}, /* clip: 1 where -clip <= x <= clip */
        {{CLRNN_ACT_TANH, 0, 0}, 0.5f, -0.5f, 1 - t5 * t5},
        {{CLRNN_ACT_TANH, 0, 0}, 0.5f, 0.50001f, 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 1, 1);
        d.activations[0][0] = cases[i].act;
        d.clip = cases[i].clip;
        clrnn_rnn *r = NULL;
        TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
        const float zero = 0, bias[2] = {cases[i].b, 0};
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, &zero, 1));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, &zero, 1));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, bias, 2));
        float x = 1, y = POISON, dy = 1;
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = 1, a.batch = 1, a.x.host = &x, a.y.host = &y;
        clrnn_backward_args bw;
        memset(&bw, 0, sizeof bw);
        bw.dy.host = &dy;
        clrnn_reference_grads g;
        TU_OK(clrnn_reference_train(r, &a, 0, &bw, &g));
        if (!(fabs((double)g.lw[0].Wb[0] - cases[i].want) <= 1e-7))
            fail_msg("kink case %zu (activation %d, clip %g, x = %g): derivative %.9g, expected %.9g", i,
                     (int)cases[i].act.kind, (double)cases[i].clip, (double)cases[i].b, (double)g.lw[0].Wb[0],
                     cases[i].want);
        assert_true(g.lw[0].Wb[0] == g.lw[0].Rb[0]);
        clrnn_reference_grads_free(&g);
        clrnn_rnn_destroy(r);
    }
}

/* ---- the float interface's refusals ---- */
static void refusals(void **state) {
    (void)state;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    uint64_t s = 7;
    tu_set_random_weights(r, &s, 0.5f, 0.7f, 0.7f);
    float x[2 * 1 * 2] = {0.1f, 0.2f, 0.3f, 0.4f}, y[2 * 3];
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 1, a.x.host = x, a.y.host = y;
    assert_int_equal(clrnn_reference_train(NULL, &a, 0, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_reference_train(r, NULL, 0, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_forward_args bad = a;
    bad.hn.mem = (cl_mem)(uintptr_t)1; /* never dereferenced: refused first */
    assert_int_equal(clrnn_reference_train(r, &bad, 0, NULL, NULL), CLRNN_ERR_UNSUPPORTED);
    int32_t lens[1] = {3};
    bad = a;
    bad.seq_lens = lens;
    for (int i = 0; i < 6; ++i) y[i] = POISON;
    assert_int_equal(clrnn_reference_train(r, &bad, 0, NULL, NULL), CLRNN_ERR_INVALID_LENGTH);
    for (int i = 0; i < 6; ++i) assert_true(y[i] == POISON); /* a refused call writes nothing */
    clrnn_reference_grads g;
    TU_OK(clrnn_reference_train(r, &a, 0, NULL, &g)); /* no incoming gradients: all zero */
    for (int i = 0; i < 4 * 3 * 2; ++i) assert_true(g.lw[0].W[i] == 0);
    clrnn_reference_grads_free(&g);
    clrnn_reference_grads_free(&g); /* twice is fine */
    clrnn_rnn_destroy(r);
    /* a rate outside [0, 1): refused (by the descriptor, or else by the reference) */
    d.dropout = 1.0f;
    d.num_layers = 2;
    r = NULL;
    if (clrnn_rnn_create(tu_context(), &d, &r) == CLRNN_OK) {
        tu_set_random_weights(r, &s, 0.5f, 0.7f, 0.7f);
        assert_int_equal(clrnn_reference_train(r, &a, 0, NULL, NULL), CLRNN_ERR_INVALID_ARGUMENT);
        clrnn_rnn_destroy(r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusals),      cmocka_unit_test(kink_conventions), cmocka_unit_test(dropout_masks),
        cmocka_unit_test(dropout_gates), cmocka_unit_test(matrix),           cmocka_unit_test(options),
        cmocka_unit_test(dropout_fd),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
