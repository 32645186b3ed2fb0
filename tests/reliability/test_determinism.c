/* Determinism: the same inputs give bitwise-identical outputs
 *   - across runs of one rnn, including after its workspace grew for a larger call;
 *   - across rnn objects and contexts in one process, the kernels compiled or loaded from the cache;
 *   - across processes (this program run again with --child, once compiling the kernels, once
 *     loading them from the disk cache), compared byte for byte;
 *   - across the tiled plan's input-projection blocking (CLRNN_XPROJ_KC k blocks with running sums
 *     in x_proj, CLRNN_XPROJ_CHUNK row groups, CLRNN_XPROJ_OLD the unblocked launch).
 * The models cover every cell, both directions, layers, lengths + masks, projection, dense, and a
 * size with several work-groups and GEMM tiles. Under each plan (ctest runs the test with the
 * device default and with CLRNN_PLAN=generic / tiled). */
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

typedef struct model {
    clrnn_rnn_desc d;
    int T, N, lens, mask;
} model;

#define N_MODELS 5

static model models(int i) {
    model m;
    memset(&m, 0, sizeof m);
    m.d = clrnn_rnn_desc_default();
    m.T = 7, m.N = 5;
    switch (i) {
    case 0: /* 2-layer bidirectional LSTM, batch-major, lengths and mask holes */
        m.d.cell = CLRNN_CELL_LSTM, m.d.input_size = 6, m.d.hidden_size = 33, m.d.num_layers = 2;
        m.d.direction = CLRNN_DIR_BIDIRECTIONAL, m.d.layout = CLRNN_LAYOUT_BATCH_MAJOR;
        m.lens = m.mask = 1;
        break;
    case 1: /* GRU linear-before-reset with a dense layer */
        m.d.cell = CLRNN_CELL_GRU, m.d.input_size = 5, m.d.hidden_size = 20, m.d.linear_before_reset = 1;
        m.d.dense_size = 7, m.lens = 1;
        break;
    case 2: /* reverse ReLU RNN */
        m.d.cell = CLRNN_CELL_RNN, m.d.input_size = 4, m.d.hidden_size = 9, m.d.direction = CLRNN_DIR_REVERSE;
        m.d.activations[0][0].kind = CLRNN_ACT_RELU;
        break;
    case 3: /* reset-before GRU, bidirectional, summed */
        m.d.cell = CLRNN_CELL_GRU, m.d.input_size = 3, m.d.hidden_size = 17;
        m.d.direction = CLRNN_DIR_BIDIRECTIONAL, m.d.merge = CLRNN_MERGE_SUM, m.mask = 1;
        break;
    default: /* larger: several work-groups and GEMM tiles; LSTM with peepholes */
        m.d.cell = CLRNN_CELL_LSTM, m.d.input_size = 64, m.d.hidden_size = 130, m.d.peephole = 1;
        m.T = 12, m.N = 9;
        break;
    }
    return m;
}

static int gates(clrnn_cell c) { return c == CLRNN_CELL_LSTM ? 4 : c == CLRNN_CELL_GRU ? 3 : 1; }

static void set_weights(clrnn_rnn *r, const clrnn_rnn_desc *d, uint64_t seed) {
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), GH = gates(d->cell) * d->hidden_size;
    const float sc = 1.0f / sqrtf((float)d->hidden_size);
    for (int l = 0; l < d->num_layers; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const int I = l == 0 ? d->input_size : D * Hr;
            float *w = tu_alloc_random((size_t)GH * I, &seed, -sc, sc), *rr = tu_alloc_random((size_t)GH * Hr, &seed, -sc, sc);
            float *b = tu_alloc_random((size_t)2 * GH, &seed, -0.3f, 0.3f), *p = tu_alloc_random((size_t)3 * d->hidden_size, &seed, -0.3f, 0.3f);
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, w, (size_t)GH * I));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, rr, (size_t)GH * Hr));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, b, (size_t)2 * GH));
            if (d->peephole)
                TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_PEEPHOLE, p, (size_t)3 * d->hidden_size));
            free(w), free(rr), free(b), free(p);
        }
    if (d->dense_size > 0) {
        const int Hm = D * Hr; /* concatenated directions (the dense model is unidirectional) */
        float *w = tu_alloc_random((size_t)d->dense_size * Hm, &seed, -0.5f, 0.5f), *b = tu_alloc_random((size_t)d->dense_size, &seed, -0.5f, 0.5f);
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W, w, (size_t)d->dense_size * Hm));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_B, b, (size_t)d->dense_size));
        free(w), free(b);
    }
}

/* Output of model i (y, hn, cn concatenated) into a malloc'ed buffer; T/N override if > 0. */
typedef struct result {
    float *v;
    size_t n;
} result;

static result run_model(clrnn_rnn *r, const model *m, int T, int N) {
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), O = clrnn_rnn_output_size(r);
    const int L = m->d.num_layers, H = m->d.hidden_size, lstm = m->d.cell == CLRNN_CELL_LSTM;
    uint64_t seed = 1000 + (uint64_t)T * 31 + (uint64_t)N;
    float *x = tu_alloc_random((size_t)T * N * m->d.input_size, &seed, -1, 1);
    int32_t *lens = malloc(sizeof(int32_t) * (size_t)N);
    uint8_t *mask = malloc((size_t)N * T);
    for (int n = 0; n < N; ++n) lens[n] = n % 2 ? T - n % T : T;
    for (int i = 0; i < N * T; ++i) mask[i] = (tu_next(&seed) % 5) != 0;
    const size_t ny = (size_t)T * N * O, nh = (size_t)L * D * N * Hr, nc = lstm ? (size_t)L * D * N * H : 0;
    result res = {tu_alloc_poison(ny + nh + nc), ny + nh + nc};
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x;
    a.seq_lens = m->lens ? lens : NULL, a.mask = m->mask ? mask : NULL;
    a.y.host = res.v, a.hn.host = res.v + ny;
    if (lstm) a.cn.host = res.v + ny + nh;
    TU_OK(clrnn_rnn_forward(r, &a));
    free(x), free(lens), free(mask);
    return res;
}

/* Every model on a context, outputs concatenated. */
static result run_all(clrnn_context *ctx) {
    result all = {NULL, 0};
    for (int i = 0; i < N_MODELS; ++i) {
        const model m = models(i);
        clrnn_rnn *r;
        TU_OK(clrnn_rnn_create(ctx, &m.d, &r));
        set_weights(r, &m.d, 77 + (uint64_t)i);
        result one = run_model(r, &m, m.T, m.N);
        all.v = realloc(all.v, (all.n + one.n) * sizeof(float));
        memcpy(all.v + all.n, one.v, one.n * sizeof(float));
        all.n += one.n;
        free(one.v);
        clrnn_rnn_destroy(r);
    }
    return all;
}

static clrnn_context *context(int disable_cache) {
    clrnn_context_params p = clrnn_context_default_params();
    p.disable_cache = disable_cache;
    clrnn_context *ctx;
    TU_OK(clrnn_context_create(&p, &ctx));
    return ctx;
}

static void assert_same_bits(const result *a, const result *b, const char *what) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; ++i)
        if (memcmp(&a->v[i], &b->v[i], sizeof(float)) != 0)
            fail_msg("%s: element %zu differs: %.9g vs %.9g", what, i, (double)a->v[i], (double)b->v[i]);
}

/* Every element was written and is an ordinary number (identical garbage would compare equal). */
static void assert_written(const result *r) {
    size_t nonzero = 0;
    for (size_t i = 0; i < r->n; ++i) {
        if (!isfinite(r->v[i]) || r->v[i] == POISON) fail_msg("element %zu is %g", i, (double)r->v[i]);
        nonzero += r->v[i] != 0.0f;
    }
    assert_true(nonzero > r->n / 4); /* ReLU and masked steps give zeros, not most of them */
}

static void across_runs(void **state) {
    (void)state;
    clrnn_context *ctx = context(0);
    for (int i = 0; i < N_MODELS; ++i) {
        const model m = models(i);
        clrnn_rnn *r, *fresh;
        TU_OK(clrnn_rnn_create(ctx, &m.d, &r));
        set_weights(r, &m.d, 5);
        result first = run_model(r, &m, m.T, m.N);
        assert_written(&first);
        for (int k = 0; k < 3; ++k) {
            result again = run_model(r, &m, m.T, m.N);
            assert_same_bits(&first, &again, "same rnn, run again");
            free(again.v);
        }
        /* after the workspace grew for a larger call, the smaller call gives the same bits */
        free(run_model(r, &m, m.T + 5, m.N + 3).v);
        result after_growth = run_model(r, &m, m.T, m.N);
        assert_same_bits(&first, &after_growth, "same rnn, after a larger call");
        /* a second rnn with the same weights */
        TU_OK(clrnn_rnn_create(ctx, &m.d, &fresh));
        set_weights(fresh, &m.d, 5);
        result other = run_model(fresh, &m, m.T, m.N);
        assert_same_bits(&first, &other, "another rnn object");
        free(first.v), free(after_growth.v), free(other.v);
        clrnn_rnn_destroy(fresh);
        clrnn_rnn_destroy(r);
    }
    clrnn_context_destroy(ctx);
}

static void across_contexts(void **state) {
    (void)state;
    clrnn_context *a = context(0), *b = context(1); /* b compiles its kernels, a may load them */
    result ra = run_all(a), rb = run_all(b);
    assert_same_bits(&ra, &rb, "cached vs compiled context");
    free(ra.v), free(rb.v);
    clrnn_context_destroy(a);
    clrnn_context_destroy(b);
}

/* k blocks of 5 rows of Wᵀ (every model's input splits, the last block short) and 1 KB row groups
 * (a work-group per row block) give the bits of the unblocked projection and of the default. */
static void across_xproj_blocks(void **state) {
    (void)state;
    clrnn_context *ctx = context(0);
    result def = run_all(ctx);
    assert_written(&def);
    setenv("CLRNN_XPROJ_KC", "5", 1), setenv("CLRNN_XPROJ_CHUNK", "1", 1);
    result blocked = run_all(ctx);
    unsetenv("CLRNN_XPROJ_KC"), unsetenv("CLRNN_XPROJ_CHUNK");
    setenv("CLRNN_XPROJ_OLD", "1", 1);
    result unblocked = run_all(ctx);
    unsetenv("CLRNN_XPROJ_OLD");
    assert_same_bits(&def, &blocked, "k blocks of 5, 1 KB row groups");
    assert_same_bits(&def, &unblocked, "one k block, the old launch");
    free(def.v), free(blocked.v), free(unblocked.v);
    clrnn_context_destroy(ctx);
}

/* Child processes run without LeakSanitizer (a no-op outside ASan builds). Their code paths are
 * the ones the parent runs with leak checking; a child may start with a cold PoCL kernel cache
 * (another user), and PoCL's kernel compiler leaks LLVM objects that LSan can only attribute to
 * libpocl (its frames have no frame pointers), i.e. that only a library-wide suppression could
 * hide, which would also hide clrnn's own leaked cl objects (see tests/lsan.supp). LSan's exit
 * check was also seen to crash ("Tracer caught signal 11") in short-lived children while PoCL's
 * worker threads wind down. */
static void child_without_leak_check(void) {
    const char *old = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/* ---- across processes ---- */
static int child_main(const char *out, int disable_cache) {
    clrnn_context_params p = clrnn_context_default_params();
    p.disable_cache = disable_cache;
    clrnn_context *ctx;
    if (clrnn_context_create(&p, &ctx) != CLRNN_OK) {
        fprintf(stderr, "child: %s\n", clrnn_last_error());
        return 1;
    }
    result r = run_all(ctx); /* a failing call inside ends this process with a non-zero status */
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(r.v, sizeof(float), r.n, f) != r.n) return 2;
    if (fclose(f) != 0) return 3;
    free(r.v);
    clrnn_context_destroy(ctx);
    return 0;
}

static void across_processes(void **state) {
    (void)state;
    clrnn_context *ctx = context(0);
    result mine = run_all(ctx);
    assert_written(&mine);
    clrnn_context_destroy(ctx);
    for (int nocache = 0; nocache < 2; ++nocache) {
        char out[256];
        snprintf(out, sizeof out, "/tmp/clrnn-test-determinism-%ld-%d.bin", (long)getpid(), nocache);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child_without_leak_check();
            char *const args[] = {"test_determinism", "--child", out, nocache ? "1" : "0", NULL};
            execv("/proc/self/exe", args);
            _exit(127);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        FILE *f = fopen(out, "rb");
        assert_non_null(f);
        result theirs = {malloc((mine.n + 1) * sizeof(float)), 0};
        theirs.n = fread(theirs.v, sizeof(float), mine.n + 1, f);
        fclose(f);
        remove(out);
        assert_same_bits(&mine, &theirs, nocache ? "another process, kernels compiled" : "another process, kernels cached");
        free(theirs.v);
    }
    free(mine.v);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_main(argv[2], atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(across_runs),
        cmocka_unit_test(across_contexts),
        cmocka_unit_test(across_xproj_blocks),
        cmocka_unit_test(across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
