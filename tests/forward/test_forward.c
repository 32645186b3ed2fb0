/* The device forward pass against the double-precision reference (tests/ref/reference.c), over a matrix
 * of cell × direction × layout × lengths/mask × layers, plus every option on its own, odd sizes,
 * streaming, device buffers and workspace reuse. Outputs are poisoned before each run. */
#include "reference.h"
#include "test_util.h"

/* Tolerance against the float64 reference, times max(1, max |reference|) of the tensor checked:
 * 1e-5 for fp32 storage; with CLRNN_STORAGE=fp16|bf16 every rnn of this program stores its weights
 * and activations in that type and is held to its rounding's bound (tu_storage_tol, test_util.h). */
#define TOL tu_storage_tol()
/* clrnn_rnn_create with the storage the environment asks for. */
static clrnn_status create_rnn(clrnn_context *ctx, const clrnn_rnn_desc *desc, clrnn_rnn **out) {
    clrnn_rnn_desc d = *desc;
    d.storage = tu_storage_of_env();
    return clrnn_rnn_create(ctx, &d, out);
}

typedef enum { LEN_FULL, LEN_VARIED, LEN_MASK_HOLES, LEN_BOTH } len_mode;

typedef struct fcase {
    const char *name;
    clrnn_rnn_desc desc;
    int T, N;
    len_mode lens;
    int with_h0, last_only, zero_rows;
    clrnn_framework fw;
} fcase;

/* Random weights through the importer of `fw`, R and W scaled by 1/sqrt(H). */
static void set_random_weights(clrnn_rnn *r, clrnn_framework fw, uint64_t *seed) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const int H = d.hidden_size;
    tu_set_random_weights_fw(r, fw, seed, 1.0f / sqrtf((float)(H > 2 ? H : 2)), 0.5f, 0.5f);
}

typedef struct io {
    float *x, *h0, *c0, *y, *hn, *cn, *y_ref, *hn_ref, *cn_ref;
    int32_t *lens;
    uint8_t *mask;
    size_t nx, nh, nc, ny;
} io;

static void io_free(io *b) {
    free(b->x), free(b->h0), free(b->c0), free(b->y), free(b->hn), free(b->cn);
    free(b->y_ref), free(b->hn_ref), free(b->cn_ref), free(b->lens), free(b->mask);
}

static void make_io(const clrnn_rnn *r, const fcase *c, uint64_t *seed, io *b, clrnn_forward_args *a) {
    clrnn_rnn_desc d;
    clrnn_rnn_get_desc(r, &d);
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), T = c->T, N = c->N;
    memset(b, 0, sizeof *b);
    b->nx = (size_t)T * N * d.input_size;
    b->nh = (size_t)d.num_layers * D * N * Hr;
    b->nc = (size_t)d.num_layers * D * N * d.hidden_size;
    const int none = D == 2 && d.merge == CLRNN_MERGE_NONE;
    b->ny = (size_t)(c->last_only ? 1 : T) * N * (none ? 2 * Hr : clrnn_rnn_output_size(r));
    b->x = tu_alloc_random(b->nx, seed, -1, 1);
    if (c->with_h0) {
        b->h0 = tu_alloc_random(b->nh, seed, -0.8f, 0.8f);
        b->c0 = tu_alloc_random(b->nc, seed, -0.8f, 0.8f);
    }
    b->y = tu_alloc_poison(b->ny), b->y_ref = tu_alloc_poison(b->ny);
    b->hn = tu_alloc_poison(b->nh), b->hn_ref = tu_alloc_poison(b->nh);
    b->cn = tu_alloc_poison(b->nc), b->cn_ref = tu_alloc_poison(b->nc);
    if (c->lens == LEN_VARIED || c->lens == LEN_BOTH || c->zero_rows)
        b->lens = tu_random_lens(N, T, seed, c->zero_rows);
    if (c->lens == LEN_MASK_HOLES || c->lens == LEN_BOTH)
        b->mask = tu_random_mask(N, T, seed, N - 1); /* one fully masked row */
    memset(a, 0, sizeof *a);
    a->seq_length = T;
    a->batch = N;
    a->x.host = b->x;
    a->seq_lens = b->lens;
    a->mask = b->mask;
    a->h0.host = b->h0;
    if (d.cell == CLRNN_CELL_LSTM) a->c0.host = b->c0;
    a->last_only = c->last_only;
    a->y.host = b->y;
    a->hn.host = b->hn;
    if (d.cell == CLRNN_CELL_LSTM) a->cn.host = b->cn;
}

/* With fp16/bf16 storage: the measure per element, |got - want| / (1 + |want|) <= TOL (NaN
 * where want is NaN). The largest ratio to TOL seen is printed at the end (how close the suite runs
 * to the bound). */
static double worst_ratio;
static char worst_case[160];
static void check_close_stored(const char *name, const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (isnan(want[i]) && isnan(got[i])) continue;
        const double e = tu_rel_err(got[i], want[i]);
        if (!(e <= TOL))
            fail_msg("%s: %s differs from the reference: |got - want| / (1 + |want|) = %.3g > %.3g at %zu (got %.8g want "
                     "%.8g)",
                     name, what, e, TOL, i, (double)got[i], (double)want[i]);
        if (e / TOL > worst_ratio) {
            worst_ratio = e / TOL;
            snprintf(worst_case, sizeof worst_case, "%s %s", name, what);
        }
    }
}

static void check_close(const char *name, const char *what, const float *got, const float *want, size_t n) {
    if (tu_storage_of_env() != CLRNN_STORAGE_FP32) {
        check_close_stored(name, what, got, want, n);
        return;
    }
    size_t where = 0;
    double tol_scale = 1.0;
    for (size_t i = 0; i < n; ++i) tol_scale = fmax(tol_scale, fabs(want[i]));
    const double err = tu_max_abs_diff(got, want, n, &where);
    if (!(err <= TOL * tol_scale))
        fail_msg("%s: %s differs from the reference: max abs err %.3g at %zu (got %.8g want %.8g)", name, what, err,
                 where, (double)got[where], (double)want[where]);
}

static void run_case(const fcase *c) {
    clrnn_context *ctx = tu_context();
    clrnn_rnn *r = NULL;
    TU_OK(create_rnn(ctx, &c->desc, &r));
    /* From the case's name (and CLRNN_TEST_SEED, to try other draws), never from an address: the
     * same inputs every run, so a failure reproduces. */
    const char *salt = getenv("CLRNN_TEST_SEED");
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (salt ? strtoull(salt, NULL, 0) : 0);
    for (const char *p = c->name; *p; ++p) seed = seed * 131 + (unsigned char)*p;
    set_random_weights(r, c->fw, &seed);
    io b;
    clrnn_forward_args a;
    make_io(r, c, &seed, &b, &a);
    clrnn_status st = clrnn_rnn_forward(r, &a);
    if (st != CLRNN_OK) fail_msg("%s: forward -> %s: %s", c->name, clrnn_status_name(st), clrnn_last_error());
    clrnn_forward_args ar = a;
    ar.y.host = b.y_ref, ar.hn.host = b.hn_ref;
    if (a.cn.host) ar.cn.host = b.cn_ref;
    TU_OK(clrnn_reference_forward(r, &ar));
    check_close(c->name, "y", b.y, b.y_ref, b.ny);
    check_close(c->name, "hn", b.hn, b.hn_ref, b.nh);
    if (a.cn.host) check_close(c->name, "cn", b.cn, b.cn_ref, b.nc);
    io_free(&b);
    clrnn_rnn_destroy(r);
}

/* ---- the matrix ---- */
static void matrix(void **state) {
    (void)state;
    int count = 0;
    for (int ci = 0; ci < TU_MATRIX_CELLS; ++ci)
        for (int dir = 0; dir < 3; ++dir)
            for (int layout = 0; layout < 2; ++layout)
                for (int lm = 0; lm < 4; ++lm)
                    for (int L = 1; L <= 2; ++L) {
                        fcase c;
                        memset(&c, 0, sizeof c);
                        char name[128];
                        snprintf(name, sizeof name, "%s/%s/%s/%s/L%d", tu_matrix_cell_names[ci], tu_matrix_dir_names[dir],
                                 layout ? "batch" : "time", tu_matrix_len_names[lm], L);
                        c.name = name;
                        c.desc = tu_matrix_desc(ci, dir, layout, L, count, 4, 7);
                        c.T = 6;
                        c.N = 4;
                        c.lens = (len_mode)lm;
                        c.with_h0 = count % 2;
                        c.fw = (clrnn_framework)(count % 4);
                        if (c.fw == CLRNN_FRAMEWORK_TF1 && ci == 4) c.fw = CLRNN_FRAMEWORK_PYTORCH; /* TF1 GRUCell is reset-before */
                        run_case(&c);
                        ++count;
                    }
    assert_int_equal(count, 240);
}

/* ---- every option on its own ---- */
static void options(void **state) {
    (void)state;
    fcase cases[64];
    int n = 0;
#define ADD(nm, cell, body)                        \
    do {                                           \
        fcase *c = &cases[n++];                    \
        memset(c, 0, sizeof *c);                   \
        c->name = nm;                              \
        c->desc = tu_desc(cell, 5, 6);                \
        c->T = 7;                                  \
        c->N = 3;                                  \
        c->fw = CLRNN_FRAMEWORK_ONNX;              \
        body;                                      \
    } while (0)
    ADD("lstm peephole", CLRNN_CELL_LSTM, c->desc.peephole = 1);
    ADD("lstm peephole bi lens", CLRNN_CELL_LSTM,
        (c->desc.peephole = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->lens = LEN_VARIED));
    ADD("lstm peephole tf1", CLRNN_CELL_LSTM, (c->desc.peephole = 1, c->fw = CLRNN_FRAMEWORK_TF1));
    ADD("lstm cifg", CLRNN_CELL_LSTM, c->desc.input_forget = 1);
    ADD("lstm onnx clip", CLRNN_CELL_LSTM, (c->desc.clip = 0.3f, c->with_h0 = 1));
    ADD("lstm cell_clip", CLRNN_CELL_LSTM, (c->desc.cell_clip = 0.2f, c->with_h0 = 1));
    ADD("lstm forget_bias", CLRNN_CELL_LSTM, c->desc.forget_bias = 1.0f);
    ADD("lstm proj", CLRNN_CELL_LSTM, (c->desc.proj_size = 3, c->fw = CLRNN_FRAMEWORK_PYTORCH));
    ADD("lstm proj bi 2 layers lens", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 4, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.num_layers = 2,
         c->lens = LEN_VARIED, c->with_h0 = 1, c->fw = CLRNN_FRAMEWORK_PYTORCH));
    ADD("lstm proj clip peephole tf1", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 2, c->desc.proj_clip = 0.1f, c->desc.peephole = 1, c->desc.cell_clip = 0.5f,
         c->fw = CLRNN_FRAMEWORK_TF1));
    ADD("lstm proj mask carry", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 3, c->lens = LEN_MASK_HOLES, c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY,
         c->fw = CLRNN_FRAMEWORK_PYTORCH));
    ADD("lstm proj last_only bi lens batch", CLRNN_CELL_LSTM,
        (c->desc.proj_size = 5, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->last_only = 1, c->lens = LEN_VARIED,
         c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR, c->with_h0 = 1, c->fw = CLRNN_FRAMEWORK_PYTORCH));
    ADD("gru clip", CLRNN_CELL_GRU, c->desc.clip = 0.4f);
    ADD("gru lbr clip", CLRNN_CELL_GRU, (c->desc.clip = 0.4f, c->desc.linear_before_reset = 1));
    ADD("gru tf1", CLRNN_CELL_GRU, (c->fw = CLRNN_FRAMEWORK_TF1, c->lens = LEN_VARIED));
    ADD("rnn onnx activations", CLRNN_CELL_RNN,
        (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL,
         c->desc.activations[0][0] = (clrnn_activation){CLRNN_ACT_SCALED_TANH, 0.7f, 1.3f},
         c->desc.activations[1][0] = (clrnn_activation){CLRNN_ACT_LEAKY_RELU, 0.1f, 0}));
    ADD("lstm onnx activations", CLRNN_CELL_LSTM,
        (c->desc.activations[0][0] = (clrnn_activation){CLRNN_ACT_HARD_SIGMOID, 0.2f, 0.5f},
         c->desc.activations[0][1] = (clrnn_activation){CLRNN_ACT_ELU, 0.9f, 0},
         c->desc.activations[0][2] = (clrnn_activation){CLRNN_ACT_SOFTSIGN, 0, 0}));
    ADD("gru onnx activations", CLRNN_CELL_GRU,
        (c->desc.activations[0][0] = (clrnn_activation){CLRNN_ACT_SIGMOID, 0, 0},
         c->desc.activations[0][1] = (clrnn_activation){CLRNN_ACT_SOFTPLUS, 0, 0}));
    ADD("rnn affine thresholded", CLRNN_CELL_RNN,
        (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL,
         c->desc.activations[0][0] = (clrnn_activation){CLRNN_ACT_AFFINE, 0.5f, 0.1f},
         c->desc.activations[1][0] = (clrnn_activation){CLRNN_ACT_THRESHOLDED_RELU, 0.1f, 0}));
    for (int m = 0; m <= CLRNN_MERGE_NONE; ++m) {
        static const char *names[] = {"merge concat", "merge sum", "merge mul", "merge ave", "merge none"};
        ADD(names[m], CLRNN_CELL_LSTM,
            (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = (clrnn_merge)m, c->lens = LEN_MASK_HOLES,
             c->desc.layout = (clrnn_layout)(m % 2)));
    }
    ADD("merge none last_only", CLRNN_CELL_GRU,
        (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = CLRNN_MERGE_NONE, c->last_only = 1,
         c->lens = LEN_VARIED, c->zero_rows = 1));
    ADD("last_only lens", CLRNN_CELL_LSTM, (c->last_only = 1, c->lens = LEN_VARIED, c->zero_rows = 1, c->with_h0 = 1));
    ADD("last_only bi sum mask carry", CLRNN_CELL_LSTM,
        (c->last_only = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = CLRNN_MERGE_SUM,
         c->lens = LEN_MASK_HOLES, c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY));
    ADD("last_only fill zero rows", CLRNN_CELL_RNN,
        (c->last_only = 1, c->zero_rows = 1, c->desc.masked_output = CLRNN_MASKED_OUTPUT_FILL,
         c->desc.masked_fill_value = -2.0f));
    ADD("keras go_backwards", CLRNN_CELL_LSTM,
        (c->desc.direction = CLRNN_DIR_REVERSE, c->desc.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED,
         c->desc.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS, c->lens = LEN_MASK_HOLES,
         c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY, c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR,
         c->fw = CLRNN_FRAMEWORK_KERAS));
    ADD("reverse order per-row lens", CLRNN_CELL_GRU,
        (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED,
         c->lens = LEN_BOTH));
    ADD("whole-axis bi lens", CLRNN_CELL_RNN,
        (c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.reverse_mode = CLRNN_REVERSE_WHOLE_AXIS,
         c->lens = LEN_VARIED));
    ADD("dense", CLRNN_CELL_LSTM, (c->desc.dense_size = 3, c->fw = CLRNN_FRAMEWORK_KERAS));
    ADD("dense bi ave batch lens", CLRNN_CELL_GRU,
        (c->desc.dense_size = 5, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->desc.merge = CLRNN_MERGE_AVE,
         c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR, c->lens = LEN_VARIED, c->fw = CLRNN_FRAMEWORK_PYTORCH));
    ADD("dense last_only", CLRNN_CELL_RNN, (c->desc.dense_size = 2, c->last_only = 1, c->lens = LEN_VARIED));
    ADD("zero-length rows", CLRNN_CELL_LSTM,
        (c->zero_rows = 1, c->with_h0 = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("3 layers bi gru lens", CLRNN_CELL_GRU,
        (c->desc.num_layers = 3, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL, c->lens = LEN_VARIED,
         c->desc.linear_before_reset = 1, c->with_h0 = 1));
    /* odd sizes */
    ADD("H=1", CLRNN_CELL_LSTM, (c->desc.hidden_size = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("I=1", CLRNN_CELL_GRU, (c->desc.input_size = 1, c->lens = LEN_VARIED));
    ADD("T=1", CLRNN_CELL_LSTM, (c->T = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("N=1", CLRNN_CELL_GRU, (c->N = 1, c->desc.num_layers = 2));
    ADD("H=70 (two tiles)", CLRNN_CELL_LSTM, (c->desc.hidden_size = 70, c->N = 2, c->T = 3, c->lens = LEN_VARIED));
    ADD("H=70 gru", CLRNN_CELL_GRU, (c->desc.hidden_size = 70, c->N = 2, c->T = 3));
    ADD("H=33 I=17 rnn bi", CLRNN_CELL_RNN,
        (c->desc.hidden_size = 33, c->desc.input_size = 17, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("T=40 N=9 long", CLRNN_CELL_LSTM, (c->T = 40, c->N = 9, c->lens = LEN_BOTH));
    /* batches wide enough for the wide (6- or 8-row) blocks, with lengths: the tiled plan's
     * length-sorted row order */
    ADD("N=13 lens lstm bi", CLRNN_CELL_LSTM,
        (c->N = 13, c->T = 9, c->lens = LEN_VARIED, c->zero_rows = 1, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL,
         c->with_h0 = 1, c->desc.num_layers = 2));
    ADD("N=13 lens gru_lbr batch", CLRNN_CELL_GRU,
        (c->N = 13, c->T = 9, c->lens = LEN_VARIED, c->desc.linear_before_reset = 1,
         c->desc.layout = CLRNN_LAYOUT_BATCH_MAJOR, c->desc.direction = CLRNN_DIR_REVERSE));
    ADD("N=13 lens+mask rnn carry", CLRNN_CELL_RNN,
        (c->N = 13, c->T = 9, c->lens = LEN_BOTH, c->desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY,
         c->desc.hidden_size = 20, c->last_only = 0));
    /* a last 64-unit block of the tiled plan with <= 32 units (26 of H = 90; the projection's 6 of
     * 70) runs the micro-kernel on 2 of its 4 slots, next to full blocks in the same launch */
    ADD("H=90 N=9 rnn bi lens", CLRNN_CELL_RNN,
        (c->desc.hidden_size = 90, c->N = 9, c->T = 5, c->lens = LEN_VARIED, c->desc.direction = CLRNN_DIR_BIDIRECTIONAL));
    ADD("proj 70 N=9 lstm", CLRNN_CELL_LSTM,
        (c->desc.hidden_size = 80, c->desc.proj_size = 70, c->N = 9, c->T = 4, c->fw = CLRNN_FRAMEWORK_PYTORCH));
#undef ADD
    for (int i = 0; i < n; ++i) {
        /* Thresholded relu jumps by alpha at x = alpha: a pre-activation within its rounding (u |x|)
         * of alpha flips the output by 0.1 and then, through R, the later steps. No tolerance
         * bounds that, so with fp16/bf16 storage the case is left out (the activation is the same
         * float code under every storage; only its input is rounded). */
        if (tu_storage_of_env() != CLRNN_STORAGE_FP32 && !strcmp(cases[i].name, "rnn affine thresholded")) continue;
        run_case(&cases[i]);
    }
}

/* Running a sequence in chunks, carrying hn/cn into h0/c0, equals one call. */
static void streaming_equals_one_call(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 3, 5);
    d.num_layers = 2;
    d.direction = CLRNN_DIR_FORWARD;
    clrnn_rnn *r;
    TU_OK(create_rnn(ctx, &d, &r));
    uint64_t seed = 77;
    set_random_weights(r, CLRNN_FRAMEWORK_PYTORCH, &seed);
    const int T = 12, N = 2, chunk = 4, I = 3, H = 5, L = 2;
    float *x = tu_alloc_random((size_t)T * N * I, &seed, -1, 1);
    float *y1 = tu_alloc_poison((size_t)T * N * H), *y2 = tu_alloc_poison((size_t)T * N * H);
    float *h1 = tu_alloc_poison((size_t)L * N * H), *c1 = tu_alloc_poison((size_t)L * N * H);
    float *h = calloc((size_t)L * N * H, sizeof(float)), *c = calloc((size_t)L * N * H, sizeof(float));
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y1, a.hn.host = h1, a.cn.host = c1;
    TU_OK(clrnn_rnn_forward(r, &a));
    for (int t0 = 0; t0 < T; t0 += chunk) {
        memset(&a, 0, sizeof a);
        a.seq_length = chunk, a.batch = N, a.x.host = x + (size_t)t0 * N * I, a.y.host = y2 + (size_t)t0 * N * H;
        a.h0.host = h, a.c0.host = c, a.hn.host = h, a.cn.host = c;
        TU_OK(clrnn_rnn_forward(r, &a));
    }
    assert_memory_equal(y1, y2, sizeof(float) * T * N * H);
    assert_memory_equal(h1, h, sizeof(float) * L * N * H);
    assert_memory_equal(c1, c, sizeof(float) * L * N * H);
    free(x), free(y1), free(y2), free(h1), free(c1), free(h), free(c);
    clrnn_rnn_destroy(r);
}

/* Inputs and outputs as device buffers with offsets give the same result as host pointers, and
 * nothing outside the output window is touched. y_at_start: y from its buffer's start, where one
 * direction in order lets the last layer write it in place (forward.c: y_in_place). */
static void device_buffers_case(clrnn_rnn_desc d, int y_at_start) {
    clrnn_context *ctx = tu_context();
    clrnn_rnn *r;
    TU_OK(create_rnn(ctx, &d, &r));
    uint64_t seed = 5;
    set_random_weights(r, CLRNN_FRAMEWORK_ONNX, &seed);
    const int T = 5, N = 3, O = clrnn_rnn_output_size(r), D = clrnn_rnn_num_directions(r), Hr = 6, pad = 16;
    const size_t nx = (size_t)T * N * 4, ny = (size_t)T * N * O, nh = (size_t)d.num_layers * D * N * Hr;
    float *x = tu_alloc_random(nx, &seed, -1, 1), *h0 = tu_alloc_random(nh, &seed, -1, 1);
    float *y_host = tu_alloc_poison(ny), *hn_host = tu_alloc_poison(nh);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.h0.host = h0, a.y.host = y_host, a.hn.host = hn_host;
    TU_OK(clrnn_rnn_forward(r, &a));

    cl_int err;
    cl_context cl = clrnn_context_cl_context(ctx);
    cl_command_queue q = clrnn_context_cl_queue(ctx);
    const size_t off = pad * sizeof(float), y_off = y_at_start ? 0 : off;
    cl_mem bx = clCreateBuffer(cl, CL_MEM_READ_WRITE, off + nx * sizeof(float), NULL, &err);
    cl_mem bh0 = clCreateBuffer(cl, CL_MEM_READ_WRITE, off + nh * sizeof(float), NULL, &err);
    cl_mem by = clCreateBuffer(cl, CL_MEM_READ_WRITE, 2 * off + ny * sizeof(float), NULL, &err);
    cl_mem bhn = clCreateBuffer(cl, CL_MEM_READ_WRITE, off + nh * sizeof(float), NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    float *poison = tu_alloc_poison(ny + 2 * pad);
    clEnqueueWriteBuffer(q, bx, CL_TRUE, off, nx * sizeof(float), x, 0, NULL, NULL);
    clEnqueueWriteBuffer(q, bh0, CL_TRUE, off, nh * sizeof(float), h0, 0, NULL, NULL);
    clEnqueueWriteBuffer(q, by, CL_TRUE, 0, (ny + 2 * pad) * sizeof(float), poison, 0, NULL, NULL);
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N;
    a.x.mem = bx, a.x.offset = off, a.h0.mem = bh0, a.h0.offset = off;
    a.y.mem = by, a.y.offset = y_off, a.hn.mem = bhn, a.hn.offset = off;
    TU_OK(clrnn_rnn_forward(r, &a));
    float *y_dev = malloc((ny + 2 * pad) * sizeof(float)), *hn_dev = malloc(nh * sizeof(float));
    clEnqueueReadBuffer(q, by, CL_TRUE, 0, (ny + 2 * pad) * sizeof(float), y_dev, 0, NULL, NULL);
    clEnqueueReadBuffer(q, bhn, CL_TRUE, off, nh * sizeof(float), hn_dev, 0, NULL, NULL);
    const size_t y0 = y_off / sizeof(float);
    assert_memory_equal(y_dev + y0, y_host, ny * sizeof(float));
    assert_memory_equal(hn_dev, hn_host, nh * sizeof(float));
    for (size_t i = 0; i < y0; ++i) assert_true(y_dev[i] == POISON);
    for (size_t i = y0 + ny; i < ny + 2 * pad; ++i) assert_true(y_dev[i] == POISON);
    /* an undersized device buffer is refused before any work */
    a.y.offset = off + 64 * sizeof(float);
    assert_int_equal(clrnn_rnn_forward(r, &a), CLRNN_ERR_SHAPE_MISMATCH);
    clReleaseMemObject(bx), clReleaseMemObject(bh0), clReleaseMemObject(by), clReleaseMemObject(bhn);
    free(x), free(h0), free(y_host), free(hn_host), free(poison), free(y_dev), free(hn_dev);
    clrnn_rnn_destroy(r);
}

/* Device buffers for x, h0, y, hn (at offsets, poison around y): the same bits as host buffers.
 * Four output paths: merge + dense, the layer output copied as it is (one direction, time-major),
 * the last layer writing y in place (y at its buffer's start: one and two layers, batch-major with
 * its merge, reversed output order with its merge), and the dense layer reading the layer output
 * directly. */
static void device_buffers(void **state) {
    (void)state;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_GRU, 4, 6);
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    d.dense_size = 3;
    device_buffers_case(d, 0);
    device_buffers_case(d, 1);
    d = tu_desc(CLRNN_CELL_LSTM, 4, 6);
    device_buffers_case(d, 0);
    device_buffers_case(d, 1);
    d.num_layers = 2;
    device_buffers_case(d, 1);
    d.num_layers = 1;
    d.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    device_buffers_case(d, 1);
    d.layout = CLRNN_LAYOUT_TIME_MAJOR;
    d.direction = CLRNN_DIR_REVERSE;
    d.reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED;
    device_buffers_case(d, 1);
    d = tu_desc(CLRNN_CELL_RNN, 4, 6);
    device_buffers_case(d, 1);
    d = tu_desc(CLRNN_CELL_LSTM, 4, 6);
    d.dense_size = 5;
    device_buffers_case(d, 0);
}

/* One forward of rnn r on (T, N) with lengths (lens) or a mask with holes (mask) or neither, from
 * inputs drawn from `seed`; y (poisoned first) and hn come back. */
static void seeded_forward(clrnn_rnn *r, int T, int N, int kind, uint64_t seed, float *y, float *hn) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const size_t ny = (size_t)T * N * clrnn_rnn_output_size(r);
    float *x = tu_alloc_random((size_t)T * N * d.input_size, &seed, -1, 1);
    int32_t lens[8];
    uint8_t mask[8 * 8];
    for (int n = 0; n < N; ++n) lens[n] = n % 2 ? T : T - 1 - n % 3;
    for (int i = 0; i < N * T; ++i) mask[i] = (uint8_t)(i % 3 != 1);
    for (size_t i = 0; i < ny; ++i) y[i] = POISON;
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y, a.hn.host = hn;
    a.seq_lens = kind == 1 ? lens : NULL;
    a.mask = kind == 2 ? mask : NULL;
    TU_OK(clrnn_rnn_forward(r, &a));
    free(x);
}

/* A call without lengths or a mask reuses the step table (and the tiled plan's row order) that the
 * last such call of the same T and N left on the device (forward.c: tmap_T): a run of calls that
 * change T, N, the lengths or the mask between such calls gives, call by call, the bits of a fresh
 * rnn's single call. */
static void step_table_reuse(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    static const int calls[][3] = {{5, 3, 0}, {5, 3, 0}, {5, 3, 1}, {5, 3, 0}, {4, 3, 0}, {5, 3, 0}, {5, 2, 0},
                                   {5, 3, 2}, {5, 3, 0}, {5, 3, 1}, {5, 3, 1}, {6, 4, 0}, {5, 3, 0}};
    for (int cell = 0; cell < 2; ++cell) {
        const clrnn_rnn_desc d = tu_desc(cell ? CLRNN_CELL_GRU : CLRNN_CELL_LSTM, 4, 6);
        clrnn_rnn *r;
        TU_OK(create_rnn(ctx, &d, &r));
        uint64_t wseed = 21 + (uint64_t)cell;
        set_random_weights(r, CLRNN_FRAMEWORK_ONNX, &wseed);
        const size_t cap = (size_t)6 * 4 * clrnn_rnn_output_size(r), nh = (size_t)4 * 6;
        float *y = malloc(cap * sizeof *y), *y_ref = malloc(cap * sizeof *y), *hn = malloc(nh * sizeof *hn),
              *hn_ref = malloc(nh * sizeof *hn);
        for (size_t c = 0; c < sizeof calls / sizeof calls[0]; ++c) {
            const int T = calls[c][0], N = calls[c][1], kind = calls[c][2];
            seeded_forward(r, T, N, kind, 100 + c, y, hn);
            clrnn_rnn *fresh;
            TU_OK(create_rnn(ctx, &d, &fresh));
            wseed = 21 + (uint64_t)cell;
            set_random_weights(fresh, CLRNN_FRAMEWORK_ONNX, &wseed);
            seeded_forward(fresh, T, N, kind, 100 + c, y_ref, hn_ref);
            clrnn_rnn_destroy(fresh);
            assert_memory_equal(y, y_ref, (size_t)T * N * clrnn_rnn_output_size(r) * sizeof *y);
            assert_memory_equal(hn, hn_ref, (size_t)N * 6 * sizeof *hn);
        }
        free(y), free(y_ref), free(hn), free(hn_ref);
        clrnn_rnn_destroy(r);
    }
}

/* ---- sub-buffers (issue 10, D8) ---- */
/* A tensor carved out of a larger buffer: parent [origin | sub-buffer: 16-byte lead | tensor | tail],
 * every byte of the parent outside the tensor poisoned (or, for an input, left as poisoned). */
typedef struct carved {
    cl_mem parent, sub;
    size_t origin, bytes, parent_bytes;
} carved;

#define CARVE_LEAD (4 * sizeof(float)) /* the tensor's offset inside its sub-buffer */

static void carve(carved *c, const float *data, size_t n, size_t origin) {
    clrnn_context *ctx = tu_context();
    cl_context cl = clrnn_context_cl_context(ctx);
    cl_command_queue q = clrnn_context_cl_queue(ctx);
    cl_int err;
    c->origin = origin;
    c->bytes = n * sizeof(float);
    c->parent_bytes = origin + CARVE_LEAD + c->bytes + origin; /* as much again after it */
    c->parent = clCreateBuffer(cl, CL_MEM_READ_WRITE, c->parent_bytes, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    float *poison = tu_alloc_poison(c->parent_bytes / sizeof(float));
    assert_int_equal(clEnqueueWriteBuffer(q, c->parent, CL_TRUE, 0, c->parent_bytes, poison, 0, NULL, NULL), CL_SUCCESS);
    free(poison);
    if (data)
        assert_int_equal(clEnqueueWriteBuffer(q, c->parent, CL_TRUE, origin + CARVE_LEAD, c->bytes, data, 0, NULL, NULL),
                         CL_SUCCESS);
    const cl_buffer_region reg = {origin, CARVE_LEAD + c->bytes};
    c->sub = clCreateSubBuffer(c->parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
    assert_int_equal(err, CL_SUCCESS);
}

/* The tensor's bytes must equal `want` bitwise; every other byte of the parent is still POISON. */
static void check_carved(const carved *c, const float *want, const char *name, const char *what) {
    float *p = malloc(c->parent_bytes);
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), c->parent, CL_TRUE, 0, c->parent_bytes, p,
                                         0, NULL, NULL),
                     CL_SUCCESS);
    const size_t first = (c->origin + CARVE_LEAD) / sizeof(float), n = c->bytes / sizeof(float);
    for (size_t i = 0; i < c->parent_bytes / sizeof(float); ++i) {
        if (i >= first && i < first + n) {
            if (want && memcmp(&p[i], &want[i - first], sizeof(float)) != 0)
                fail_msg("%s: %s[%zu] = %.9g through a sub-buffer, %.9g through host memory", name, what, i - first,
                         (double)p[i], (double)want[i - first]);
        } else if (!(p[i] == POISON)) {
            fail_msg("%s: %s: parent byte %zu outside the sub-buffer's tensor was written (%g)", name, what,
                     i * sizeof(float), (double)p[i]);
        }
    }
    free(p);
}

static void release_carved(carved *c) {
    clReleaseMemObject(c->sub);
    clReleaseMemObject(c->parent);
}

/* x, h0, c0, y, hn, cn all as sub-buffers (at an aligned non-zero origin, the tensor 16 bytes into
 * each): the same bits as the host-pointer run, and nothing of the parents outside the tensors
 * written. */
static void sub_buffer_case(const fcase *c) {
    clrnn_context *ctx = tu_context();
    clrnn_rnn *r = NULL;
    TU_OK(create_rnn(ctx, &c->desc, &r));
    uint64_t seed = 0x5eed;
    for (const char *p = c->name; *p; ++p) seed = seed * 131 + (unsigned char)*p;
    set_random_weights(r, c->fw, &seed);
    io b;
    clrnn_forward_args a;
    make_io(r, c, &seed, &b, &a);
    TU_OK(clrnn_rnn_forward(r, &a)); /* host pointers: b.y, b.hn, b.cn */
    const int lstm = c->desc.cell == CLRNN_CELL_LSTM;
    cl_uint align_bits = 0;
    assert_int_equal(clGetDeviceInfo(clrnn_context_cl_device(ctx), CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                     &align_bits, NULL),
                     CL_SUCCESS);
    const size_t origin = 3 * (size_t)(align_bits / 8);
    carved x, h0, c0, y, hn, cn;
    carve(&x, b.x, b.nx, origin);
    carve(&h0, b.h0, b.nh, origin);
    carve(&y, NULL, b.ny, origin);
    carve(&hn, NULL, b.nh, origin);
    if (lstm) carve(&c0, b.c0, b.nc, origin), carve(&cn, NULL, b.nc, origin);
    clrnn_forward_args ad = a;
    ad.x = (clrnn_tensor){NULL, x.sub, CARVE_LEAD};
    ad.h0 = b.h0 ? (clrnn_tensor){NULL, h0.sub, CARVE_LEAD} : (clrnn_tensor){0};
    ad.y = (clrnn_tensor){NULL, y.sub, CARVE_LEAD};
    ad.hn = (clrnn_tensor){NULL, hn.sub, CARVE_LEAD};
    if (lstm) {
        ad.c0 = b.c0 ? (clrnn_tensor){NULL, c0.sub, CARVE_LEAD} : (clrnn_tensor){0};
        ad.cn = (clrnn_tensor){NULL, cn.sub, CARVE_LEAD};
    }
    TU_OK(clrnn_rnn_forward(r, &ad));
    check_carved(&y, b.y, c->name, "y");
    check_carved(&hn, b.hn, c->name, "hn");
    check_carved(&x, b.x, c->name, "x");
    check_carved(&h0, b.h0, c->name, "h0");
    if (lstm) check_carved(&cn, b.cn, c->name, "cn"), check_carved(&c0, b.c0, c->name, "c0");
    release_carved(&x), release_carved(&h0), release_carved(&y), release_carved(&hn);
    if (lstm) release_carved(&c0), release_carved(&cn);
    io_free(&b);
    clrnn_rnn_destroy(r);
}

/* Both layouts, one and two directions, lengths and masks, initial states, last-only outputs,
 * states padded by the tiled plan (H = 5, 7) and not (H = 16), a projection (hn narrower than cn),
 * two layers, merge NONE and a dense layer (y written by the GEMM). */
static void sub_buffers(void **state) {
    (void)state;
    typedef struct {
        clrnn_cell cell;
        int H, dir, layout, lens, last_only, L, proj, dense, merge;
    } sb;
    static const sb cases[] = {
        {CLRNN_CELL_LSTM, 5, CLRNN_DIR_FORWARD, 0, LEN_VARIED, 0, 1, 0, 0, 0},
        {CLRNN_CELL_LSTM, 5, CLRNN_DIR_BIDIRECTIONAL, 1, LEN_BOTH, 1, 1, 0, 0, 0},
        {CLRNN_CELL_LSTM, 5, CLRNN_DIR_BIDIRECTIONAL, 0, LEN_MASK_HOLES, 0, 2, 3, 0, CLRNN_MERGE_NONE},
        {CLRNN_CELL_LSTM, 16, CLRNN_DIR_FORWARD, 1, LEN_FULL, 0, 1, 0, 0, 0},
        {CLRNN_CELL_GRU, 7, CLRNN_DIR_BIDIRECTIONAL, 0, LEN_VARIED, 0, 2, 0, 0, CLRNN_MERGE_SUM},
        {CLRNN_CELL_GRU, 16, CLRNN_DIR_BIDIRECTIONAL, 1, LEN_FULL, 1, 1, 0, 3, 0},
        {CLRNN_CELL_RNN, 7, CLRNN_DIR_REVERSE, 1, LEN_VARIED, 1, 1, 0, 0, 0},
        {CLRNN_CELL_RNN, 5, CLRNN_DIR_FORWARD, 0, LEN_FULL, 0, 1, 0, 4, 0},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); ++i)
        for (int with_h0 = 0; with_h0 < 2; ++with_h0) {
            const sb *k = &cases[i];
            fcase c;
            memset(&c, 0, sizeof c);
            char name[64];
            snprintf(name, sizeof name, "sub-buffers case %d%s", i, with_h0 ? " with h0" : "");
            c.name = name;
            c.desc = tu_desc(k->cell, 3, k->H);
            c.desc.direction = (clrnn_direction)k->dir;
            c.desc.layout = (clrnn_layout)k->layout;
            c.desc.num_layers = k->L;
            c.desc.proj_size = k->proj;
            c.desc.dense_size = k->dense;
            c.desc.merge = (clrnn_merge)k->merge;
            c.T = 5, c.N = 3, c.lens = (len_mode)k->lens, c.last_only = k->last_only, c.with_h0 = with_h0;
            c.fw = k->proj ? CLRNN_FRAMEWORK_PYTORCH : CLRNN_FRAMEWORK_ONNX;
            sub_buffer_case(&c);
        }
}

/* The workspace is sized once and reused; smaller calls after a larger one are still right, and
 * repeated runs are bitwise identical. */
static void workspace_reuse_and_determinism(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 4, 8);
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    clrnn_rnn *r;
    TU_OK(create_rnn(ctx, &d, &r));
    uint64_t seed = 11;
    set_random_weights(r, CLRNN_FRAMEWORK_ONNX, &seed);
    assert_int_equal(clrnn_rnn_workspace_bytes(r), 0);
    const int shapes[][2] = {{9, 5}, {3, 2}, {9, 5}, {9, 5}};
    float *first = NULL;
    size_t ws_after_first = 0;
    for (int i = 0; i < 4; ++i) {
        const int T = shapes[i][0], N = shapes[i][1];
        float *x = tu_alloc_random((size_t)T * N * 4, &(uint64_t){1234}, -1, 1);
        float *y = tu_alloc_poison((size_t)T * N * 16), *yr = tu_alloc_poison((size_t)T * N * 16);
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
        TU_OK(clrnn_rnn_forward(r, &a));
        a.y.host = yr;
        TU_OK(clrnn_reference_forward(r, &a));
        check_close("reuse", "y", y, yr, (size_t)T * N * 16);
        if (i == 0) ws_after_first = clrnn_rnn_workspace_bytes(r);
        assert_int_equal(clrnn_rnn_workspace_bytes(r), ws_after_first);
        if (i == 0) first = y;
        else {
            if (i >= 2) assert_memory_equal(first, y, sizeof(float) * T * N * 16);
            free(y);
        }
        free(x), free(yr);
    }
    assert_true(ws_after_first > 0);
    free(first);
    clrnn_rnn_destroy(r);
}

/* Changing weights after a run re-uploads them. */
static void weights_update_after_run(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    fcase c;
    memset(&c, 0, sizeof c);
    c.name = "update";
    c.desc = tu_desc(CLRNN_CELL_RNN, 2, 3);
    c.T = 3, c.N = 2, c.fw = CLRNN_FRAMEWORK_ONNX;
    clrnn_rnn *r;
    TU_OK(create_rnn(ctx, &c.desc, &r));
    uint64_t seed = 3;
    set_random_weights(r, c.fw, &seed);
    io b;
    clrnn_forward_args a;
    make_io(r, &c, &seed, &b, &a);
    TU_OK(clrnn_rnn_forward(r, &a));
    set_random_weights(r, c.fw, &seed);
    TU_OK(clrnn_rnn_forward(r, &a));
    clrnn_forward_args ar = a;
    ar.y.host = b.y_ref, ar.hn.host = b.hn_ref;
    TU_OK(clrnn_reference_forward(r, &ar));
    check_close("update", "y", b.y, b.y_ref, b.ny);
    io_free(&b);
    clrnn_rnn_destroy(r);
}

/* The plan is visible and follows CLRNN_PLAN (default: tiled on CPU devices, gpu on GPUs and llvmpipe, generic elsewhere). */
static void plan_is_reported(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    char buf[256];
    const char *env = getenv("CLRNN_PLAN");
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(ctx, &info));
    /* llvmpipe (Mesa's software rasterizer) gets the gpu plan: its compiler takes seconds per tiled kernel */
    const char *want = env && *env                          ? env
                       : strstr(info.name, "llvmpipe")      ? "gpu"
                       : info.type == CLRNN_DEVICE_TYPE_CPU ? "tiled"
                       : info.type == CLRNN_DEVICE_TYPE_GPU ? "gpu"
                                                            : "generic";
    for (int proj = 0; proj <= 2; proj += 2) { /* every plan covers the projected LSTM too */
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 3, 5);
        d.proj_size = proj;
        clrnn_rnn *r;
        TU_OK(create_rnn(ctx, &d, &r));
        assert_non_null(strstr(clrnn_rnn_plan(r, buf, sizeof buf), want));
        assert_non_null(strstr(buf, proj ? "proj" : "lstm"));
        clrnn_rnn_destroy(r);
    }
}

/* The tiled plan's two scans (a launch per step, persistent) and the measured choice, which switches
 * between them inside a layer while it times them (2nd and 3rd calls), give bitwise equal results
 * on every call that match the
 * reference: both kernels do the same arithmetic. Row count 3 takes the 1-row micro-kernel, 13 and
 * 29 the wide ones (6 rows for the LSTM and RNN, 8 for the GRU: partial last blocks, and at 29 rows
 * several blocks per row group of the persistent scan); T = 23 leaves enough steps to measure; H = 70
 * is not a multiple of a block. */
#define CALLS_TO_DECIDE 2 /* CLRNN_SCAN_TRIALS */
/* The tiled plan's cases for cell ci (LSTM with peepholes, GRU, reset-after GRU, RNN, LSTMP) and
 * row count ni: 3 rows (the 1-row micro-kernel), 13 and 29 (the wide ones, partial last blocks). */
static fcase tiled_case(int ci, int ni, const char *what, char name[64]) {
    static const clrnn_cell cells[] = {CLRNN_CELL_LSTM, CLRNN_CELL_GRU, CLRNN_CELL_GRU, CLRNN_CELL_RNN,
                                       CLRNN_CELL_LSTM};
    const int N = ni == 0 ? 3 : ni == 1 ? 13 : 29;
    fcase c;
    memset(&c, 0, sizeof c);
    snprintf(name, 64, "%s/%d/N%d", what, ci, N);
    c.name = name;
    c.desc = tu_desc(cells[ci], 5, 70);
    c.desc.linear_before_reset = ci == 2;
    c.desc.peephole = ci == 0;
    c.desc.direction = ci % 2 ? CLRNN_DIR_BIDIRECTIONAL : CLRNN_DIR_FORWARD;
    c.desc.num_layers = 2;
    c.desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    c.T = 23, c.N = N, c.lens = N == 13 ? LEN_BOTH : LEN_VARIED, c.with_h0 = 1, c.fw = CLRNN_FRAMEWORK_ONNX;
    if (ci == 4) { /* LSTMP (TF1): 5 blocks of 16 hidden units, 2 blocks of 64 projected ones */
        c.desc.proj_size = 67, c.desc.proj_clip = 0.3f, c.desc.cell_clip = 0.8f, c.desc.peephole = 1;
        c.desc.direction = CLRNN_DIR_BIDIRECTIONAL, c.fw = CLRNN_FRAMEWORK_TF1;
    }
    return c;
}

static void scan_variants_bitwise_equal(void **state) {
    (void)state;
    const char *plan_env = getenv("CLRNN_PLAN"), *scan_env = getenv("CLRNN_SCAN");
    /* The tiled plan's own test: run where the suite's plan is the tiled one or the default
     * (test_forward, test_forward_tiled_plan and their fp16/bf16 variants), not once more in
     * every other plan's copy of the suite, where it would only repeat those (and on llvmpipe
     * compile the tiled kernels, minutes each, in the gpu and generic plans' CI pass). */
    if (plan_env && *plan_env && strcmp(plan_env, "tiled") != 0) {
        printf("scan_variants_bitwise_equal: the tiled plan's test, run by the tiled and default suites (CLRNN_PLAN=%s)\n",
               plan_env);
        skip();
    }
    char plan_saved[64] = "", scan_saved[64] = "";
    if (plan_env) snprintf(plan_saved, sizeof plan_saved, "%s", plan_env);
    if (scan_env) snprintf(scan_saved, sizeof scan_saved, "%s", scan_env);
    setenv("CLRNN_PLAN", "tiled", 1);
    static const char *modes[] = {"steps", "persistent", ""};
    for (int ci = 0; ci < TU_MATRIX_CELLS; ++ci)
        for (int ni = 0; ni < 3; ++ni) {
            char name[64];
            fcase c = tiled_case(ci, ni, "scan", name);
            io b[3];
            clrnn_forward_args a[3];
            for (int m = 0; m < 3; ++m) {
                setenv("CLRNN_SCAN", modes[m], 1);
                clrnn_rnn *r;
                TU_OK(create_rnn(tu_context(), &c.desc, &r));
                uint64_t seed = 77 + (uint64_t)ci;
                set_random_weights(r, c.fw, &seed);
                make_io(r, &c, &seed, &b[m], &a[m]);
                /* measured: the first call runs a launch per step, the next two switch while timing */
                for (int call = 0; call < (m == 2 ? 1 + CALLS_TO_DECIDE : 1); ++call) {
                    TU_OK(clrnn_rnn_forward(r, &a[m]));
                    if (call > 0) assert_memory_equal(b[m].y, b[0].y, b[0].ny * sizeof(float));
                }
                char plan[1024];
                clrnn_rnn_plan(r, plan, sizeof plan);
                if (m < 2) assert_non_null(strstr(plan, "forced by CLRNN_SCAN"));
                else if (!strstr(plan, "(measured over") || strstr(plan, "still measuring")) fail_msg("%s: no measured scan choice in the plan: %s", name, plan);
                if (m == 0) {
                    clrnn_forward_args ar = a[0];
                    ar.y.host = b[0].y_ref, ar.hn.host = b[0].hn_ref, ar.cn.host = a[0].cn.host ? b[0].cn_ref : NULL;
                    TU_OK(clrnn_reference_forward(r, &ar));
                    check_close(name, "y", b[0].y, b[0].y_ref, b[0].ny);
                    check_close(name, "hn", b[0].hn, b[0].hn_ref, b[0].nh);
                } else {
                    assert_memory_equal(b[m].y, b[0].y, b[0].ny * sizeof(float));
                    assert_memory_equal(b[m].hn, b[0].hn, b[0].nh * sizeof(float));
                    if (a[0].cn.host) assert_memory_equal(b[m].cn, b[0].cn, b[0].nc * sizeof(float));
                }
                clrnn_rnn_destroy(r);
            }
            for (int m = 0; m < 3; ++m) io_free(&b[m]);
        }
    if (plan_env) setenv("CLRNN_PLAN", plan_saved, 1); else unsetenv("CLRNN_PLAN");
    if (scan_env) setenv("CLRNN_SCAN", scan_saved, 1); else unsetenv("CLRNN_SCAN");
}

/* The reset-before GRU's out phase takes two 16-unit blocks per work-item in the per-step launch
 * once there are enough blocks (4 work-items per compute unit: here 17 blocks x 2 directions, an
 * odd count so the last work-item has one block, for up to 4 compute units) and always in the
 * persistent scan: both match the float64 reference and are bitwise equal to each other, with
 * variable lengths (finished row blocks skip the dot product) and 13 rows (a partial row block). */
static void gru_out_block_pairs(void **state) {
    (void)state;
    const char *plan_env = getenv("CLRNN_PLAN"), *scan_env = getenv("CLRNN_SCAN");
    if (plan_env && *plan_env && strcmp(plan_env, "tiled") != 0) {
        printf("gru_out_block_pairs: the tiled plan's test, run by the tiled and default suites (CLRNN_PLAN=%s)\n", plan_env);
        skip();
    }
    char plan_saved[64] = "", scan_saved[64] = "";
    if (plan_env) snprintf(plan_saved, sizeof plan_saved, "%s", plan_env);
    if (scan_env) snprintf(scan_saved, sizeof scan_saved, "%s", scan_env);
    setenv("CLRNN_PLAN", "tiled", 1);
    static const char *modes[] = {"steps", "persistent"};
    fcase c;
    memset(&c, 0, sizeof c);
    c.name = "gru out pairs";
    c.desc = tu_desc(CLRNN_CELL_GRU, 7, 270);
    c.desc.direction = CLRNN_DIR_BIDIRECTIONAL;
    c.desc.masked_output = CLRNN_MASKED_OUTPUT_CARRY;
    c.T = 6, c.N = 13, c.lens = LEN_VARIED, c.with_h0 = 1, c.fw = CLRNN_FRAMEWORK_ONNX;
    io b[2];
    clrnn_forward_args a[2];
    for (int m = 0; m < 2; ++m) {
        setenv("CLRNN_SCAN", modes[m], 1);
        clrnn_rnn *r;
        TU_OK(create_rnn(tu_context(), &c.desc, &r));
        uint64_t seed = 91;
        set_random_weights(r, c.fw, &seed);
        make_io(r, &c, &seed, &b[m], &a[m]);
        TU_OK(clrnn_rnn_forward(r, &a[m]));
        clrnn_forward_args ar = a[m];
        ar.y.host = b[m].y_ref, ar.hn.host = b[m].hn_ref;
        TU_OK(clrnn_reference_forward(r, &ar));
        check_close(modes[m], "y", b[m].y, b[m].y_ref, b[m].ny);
        check_close(modes[m], "hn", b[m].hn, b[m].hn_ref, b[m].nh);
        clrnn_rnn_destroy(r);
    }
    assert_memory_equal(b[1].y, b[0].y, b[0].ny * sizeof(float));
    assert_memory_equal(b[1].hn, b[0].hn, b[0].nh * sizeof(float));
    for (int m = 0; m < 2; ++m) io_free(&b[m]);
    if (plan_env) setenv("CLRNN_PLAN", plan_saved, 1); else unsetenv("CLRNN_PLAN");
    if (scan_env) setenv("CLRNN_SCAN", scan_saved, 1); else unsetenv("CLRNN_SCAN");
}

/* The tiled micro-kernels' two forms on a CPU device (tiled/tiled_dot.h): the wide one (a register
 * block at once, for 16-float vectors) and the narrow one (a 16-lane slice a pass, for 8 or 4), as
 * CLRNN_SIMD_LANES forces them in a context of their own, give bitwise equal outputs under both
 * scans, with the input projection's k blocks; the wide form's match the reference. The device's
 * own width picks one of them in every other test. */
static void simd_forms_bitwise_equal(void **state) {
    (void)state;
    const char *plan_env = getenv("CLRNN_PLAN"), *scan_env = getenv("CLRNN_SCAN"),
               *lanes_env = getenv("CLRNN_SIMD_LANES"), *compact_env = getenv("CLRNN_COMPACT");
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(tu_context(), &info));
    /* three builds of the tiled kernels (cold: seconds each on PoCL, more for the narrow form): once,
     * in the default suite (test_forward), not again in its plan, scan, storage and bound copies */
    if ((plan_env && *plan_env) || (scan_env && *scan_env) || getenv("CLRNN_STORAGE") || getenv("CLRNN_LOOP_LIMIT") ||
        info.type != CLRNN_DEVICE_TYPE_CPU || (compact_env && *compact_env && strcmp(compact_env, "0") != 0) ||
        strstr(info.name, "llvmpipe")) {
        printf("simd_forms_bitwise_equal: the tiled plan's CPU forms, run by the default suite (test_forward) on a CPU "
               "device without CLRNN_COMPACT (device '%s', CLRNN_PLAN=%s)\n",
               info.name, plan_env ? plan_env : "");
        skip();
    }
    char plan_saved[64] = "", scan_saved[64] = "", lanes_saved[64] = "";
    if (plan_env) snprintf(plan_saved, sizeof plan_saved, "%s", plan_env);
    if (scan_env) snprintf(scan_saved, sizeof scan_saved, "%s", scan_env);
    if (lanes_env) snprintf(lanes_saved, sizeof lanes_saved, "%s", lanes_env);
    setenv("CLRNN_PLAN", "tiled", 1);
    static const char *lanes[] = {"16", "8", "4"}, *modes[] = {"steps", "persistent"};
    enum { FORMS = 3, MODES = 2, CASES = TU_MATRIX_CELLS * 3 };
    static io b[FORMS][MODES][CASES];
    for (int f = 0; f < FORMS; ++f) {
        setenv("CLRNN_SIMD_LANES", lanes[f], 1);
        clrnn_context *ctx;
        TU_OK(clrnn_context_create(NULL, &ctx));
        for (int m = 0; m < MODES; ++m) {
            setenv("CLRNN_SCAN", modes[m], 1);
            for (int ci = 0; ci < TU_MATRIX_CELLS; ++ci)
                for (int ni = 0; ni < 3; ++ni) {
                    char name[64];
                    const fcase c = tiled_case(ci, ni, "simd", name);
                    io *o = &b[f][m][ci * 3 + ni];
                    clrnn_forward_args a;
                    clrnn_rnn *r;
                    TU_OK(create_rnn(ctx, &c.desc, &r));
                    uint64_t seed = 177 + (uint64_t)ci;
                    set_random_weights(r, c.fw, &seed);
                    make_io(r, &c, &seed, o, &a);
                    TU_OK(clrnn_rnn_forward(r, &a));
                    const int has_c = a.cn.host != NULL;
                    if (f == 0) {
                        clrnn_forward_args ar = a;
                        ar.y.host = o->y_ref, ar.hn.host = o->hn_ref, ar.cn.host = has_c ? o->cn_ref : NULL;
                        TU_OK(clrnn_reference_forward(r, &ar));
                        check_close(name, "y", o->y, o->y_ref, o->ny);
                        check_close(name, "hn", o->hn, o->hn_ref, o->nh);
                    } else {
                        const io *w = &b[0][m][ci * 3 + ni];
                        if (memcmp(o->y, w->y, w->ny * sizeof(float)) || memcmp(o->hn, w->hn, w->nh * sizeof(float)) ||
                            (has_c && memcmp(o->cn, w->cn, w->nc * sizeof(float))))
                            fail_msg("%s (%s scan): CLRNN_SIMD_LANES=%s differs from the wide form's outputs", name,
                                     modes[m], lanes[f]);
                    }
                    clrnn_rnn_destroy(r);
                }
        }
        clrnn_context_destroy(ctx);
    }
    for (int f = 0; f < FORMS; ++f)
        for (int m = 0; m < MODES; ++m)
            for (int i = 0; i < CASES; ++i) io_free(&b[f][m][i]);
    if (plan_env) setenv("CLRNN_PLAN", plan_saved, 1); else unsetenv("CLRNN_PLAN");
    if (scan_env) setenv("CLRNN_SCAN", scan_saved, 1); else unsetenv("CLRNN_SCAN");
    if (lanes_env) setenv("CLRNN_SIMD_LANES", lanes_saved, 1); else unsetenv("CLRNN_SIMD_LANES");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_is_reported),
        cmocka_unit_test(options),
        cmocka_unit_test(matrix),
        cmocka_unit_test(streaming_equals_one_call),
        cmocka_unit_test(device_buffers),
        cmocka_unit_test(step_table_reuse),
        cmocka_unit_test(sub_buffers),
        cmocka_unit_test(workspace_reuse_and_determinism),
        cmocka_unit_test(weights_update_after_run),
        cmocka_unit_test(scan_variants_bitwise_equal),
        cmocka_unit_test(simd_forms_bitwise_equal),
        cmocka_unit_test(gru_out_block_pairs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tu_storage_of_env() != CLRNN_STORAGE_FP32)
        printf("storage %s: largest |got - want| / (1 + |want|) = %.3g of the bound %.3g (case %s)\n",
               getenv("CLRNN_STORAGE"), worst_ratio * TOL, TOL, worst_case);
    tu_context_release();
    return rc;
}
