/* Golden data from the real frameworks (PyTorch, Keras, TF1; see tests/golden/README.md and the
 * scripts tools/golden_torch.py, tools/golden_keras.py): every case is imported through the
 * framework's own weight layout, run on the device with poisoned outputs and compared within 1e-5.
 * CLRNN_STORAGE=fp16|bf16 runs every case with that storage (clrnn_rnn_desc.storage) against the
 * same fp32 framework outputs, per element |got - want| / (1 + |want|) <= 1e-3 (fp16) or 8e-3
 * (bf16): tu_storage_tol and its reasoning (tests/test_util.h). */
#include "test_util.h"
#include "golden/golden_case.h"

#include <math.h>
#include <sys/stat.h>

#define TOL tu_storage_tol()

static int read_meta(const char *dir, golden_meta *m) {
    char path[2200], key[64], val[64];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    memset(m, 0, sizeof *m);
    m->layers = 1, m->return_sequences = 1, m->chunks = 1;
    strcpy(m->merge, "concat"), strcpy(m->reverse_mode, "per_row"), strcpy(m->masked_output, "zero");
    while (fscanf(f, "%63s %63s", key, val) == 2) {
        golden_meta_set(m, key, val);
    }
    fclose(f);
    return 1;
}

static int load(const char *dir, const char *name, clrnn_array *a) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    clrnn_status st = clrnn_npy_load(path, a);
    if (st != CLRNN_OK) fail_msg("%s: %s", path, clrnn_last_error());
    return 1;
}

/* Copies time steps [t0, t0 + len) of a [T, N, C] / [N, T, C] tensor into or out of a chunk. */
static void chunk_copy(float *full, float *part, int batch_major, int T, int N, int C, int t0, int len, int to_part) {
    for (int t = 0; t < len; ++t)
        for (int n = 0; n < N; ++n) {
            float *f = full + (batch_major ? ((size_t)n * T + t0 + t) : ((size_t)(t0 + t) * N + n)) * C;
            float *p = part + (batch_major ? ((size_t)n * len + t) : ((size_t)t * N + n)) * C;
            if (to_part) memcpy(p, f, (size_t)C * sizeof(float));
            else memcpy(f, p, (size_t)C * sizeof(float));
        }
}

static void compare(const char *cas, const char *what, const float *got, const clrnn_array *want, size_t n) {
    if (want->count != n) fail_msg("%s: %s has %zu elements, clrnn produced %zu", cas, what, want->count, n);
    if (tu_storage_of_env() != CLRNN_STORAGE_FP32) {
        const float *w = want->data;
        for (size_t i = 0; i < n; ++i) {
            const double e = tu_rel_err(got[i], w[i]);
            if (!(e <= TOL))
                fail_msg("%s: %s |got - want| / (1 + |want|) = %.3g > %.3g at %zu (got %.8g, framework %.8g)", cas,
                         what, e, TOL, i, (double)got[i], (double)w[i]);
        }
        return;
    }
    size_t where = 0;
    double err = tu_max_abs_diff(got, want->data, n, &where);
    if (!(err <= TOL))
        fail_msg("%s: %s max abs err %.3g at %zu (got %.8g, framework %.8g)", cas, what, err, where, (double)got[where],
                 (double)((const float *)want->data)[where]);
}

static int run_case(const char *dir) {
    golden_meta m;
    if (!read_meta(dir, &m)) return 0;
    clrnn_framework fw;
    clrnn_rnn_desc d = golden_desc_from_meta(&m, &fw);
    d.storage = tu_storage_of_env();
    clrnn_rnn *r = NULL;
    clrnn_status st = clrnn_rnn_create(tu_context(), &d, &r);
    if (st != CLRNN_OK) fail_msg("%s: create: %s", dir, clrnn_last_error());
    const int D = clrnn_rnn_num_directions(r);
    for (int l = 0; l < m.layers; ++l)
        for (int dd = 0; dd < D; ++dd)
            for (size_t k = 0; k < GOLDEN_NROLES; ++k) {
                char name[64];
                clrnn_array a;
                snprintf(name, sizeof name, "l%d_d%d_%s.npy", l, dd, golden_roles[k].file);
                if (!load(dir, name, &a)) continue;
                st = clrnn_rnn_set_param(r, fw, l, dd, golden_roles[k].role, a.data, a.count);
                if (st != CLRNN_OK) fail_msg("%s: %s: %s", dir, name, clrnn_last_error());
                clrnn_array_free(&a);
            }
    clrnn_array dw, db;
    if (load(dir, "dense_w.npy", &dw)) {
        TU_OK(clrnn_rnn_set_param(r, fw, 0, 0, CLRNN_PARAM_DENSE_W, dw.data, dw.count));
        clrnn_array_free(&dw);
    }
    if (load(dir, "dense_b.npy", &db)) {
        TU_OK(clrnn_rnn_set_param(r, fw, 0, 0, CLRNN_PARAM_DENSE_B, db.data, db.count));
        clrnn_array_free(&db);
    }

    clrnn_array x, lens = {0}, mask = {0}, h0 = {0}, c0 = {0}, y_want, hn_want, cn_want = {0};
    if (!load(dir, "x.npy", &x) || !load(dir, "y.npy", &y_want) || !load(dir, "hn.npy", &hn_want))
        fail_msg("%s: x.npy, y.npy and hn.npy are required", dir);
    if (m.has_seq_len && !load(dir, "seq_len.npy", &lens)) fail_msg("%s: seq_len.npy missing", dir);
    if (m.has_mask && !load(dir, "mask.npy", &mask)) fail_msg("%s: mask.npy missing", dir);
    if (m.has_h0) load(dir, "h0.npy", &h0), load(dir, "c0.npy", &c0);
    const int lstm = d.cell == CLRNN_CELL_LSTM;
    if (lstm) load(dir, "cn.npy", &cn_want);
    uint8_t *mask8 = NULL;
    if (mask.data) {
        mask8 = malloc(mask.count);
        for (size_t i = 0; i < mask.count; ++i) mask8[i] = ((int32_t *)mask.data)[i] != 0;
    }

    const int T = m.T, N = m.N, Hr = clrnn_rnn_state_size(r);
    const int none = D == 2 && d.merge == CLRNN_MERGE_NONE;
    const int C = none ? 2 * Hr : clrnn_rnn_output_size(r);
    const int bm = d.layout == CLRNN_LAYOUT_BATCH_MAJOR;
    const size_t ny = (size_t)(m.return_sequences ? T : 1) * N * C, nh = (size_t)m.layers * D * N * Hr;
    const size_t nc = (size_t)m.layers * D * N * m.H;
    float *y = tu_alloc_poison(ny), *hn = tu_alloc_poison(nh), *cn = tu_alloc_poison(nc);
    float *h_state = h0.data ? malloc(nh * sizeof(float)) : calloc(nh, sizeof(float));
    float *c_state = c0.data ? malloc(nc * sizeof(float)) : calloc(nc, sizeof(float));
    if (h0.data) memcpy(h_state, h0.data, nh * sizeof(float));
    if (c0.data) memcpy(c_state, c0.data, nc * sizeof(float));
    const int chunk = T / (m.chunks > 0 ? m.chunks : 1);
    float *xc = malloc((size_t)chunk * N * m.I * sizeof(float)), *yc = tu_alloc_poison((size_t)chunk * N * C);
    for (int t0 = 0; t0 < T; t0 += chunk) {
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = chunk, a.batch = N;
        if (m.chunks > 1 && (mask8 || lens.data || !m.return_sequences || none))
            fail_msg("%s: chunked golden cases support plain sequences only", dir);
        chunk_copy(x.data, xc, bm, T, N, m.I, t0, chunk, 1);
        a.x.host = xc;
        a.seq_lens = lens.data;
        a.mask = mask8;
        a.h0.host = h_state, a.hn.host = h_state;
        if (lstm) a.c0.host = c_state, a.cn.host = c_state;
        a.last_only = !m.return_sequences;
        a.y.host = m.chunks > 1 ? yc : y;
        st = clrnn_rnn_forward(r, &a);
        if (st != CLRNN_OK) fail_msg("%s: forward: %s", dir, clrnn_last_error());
        if (m.chunks > 1) chunk_copy(y, yc, bm, T, N, C, t0, chunk, 0);
    }
    memcpy(hn, h_state, nh * sizeof(float));
    memcpy(cn, c_state, nc * sizeof(float));
    compare(dir, "y", y, &y_want, ny);
    compare(dir, "hn", hn, &hn_want, nh);
    if (lstm && cn_want.data) compare(dir, "cn", cn, &cn_want, nc);

    free(y), free(hn), free(cn), free(h_state), free(c_state), free(xc), free(yc), free(mask8);
    clrnn_array_free(&x), clrnn_array_free(&lens), clrnn_array_free(&mask), clrnn_array_free(&h0);
    clrnn_array_free(&c0), clrnn_array_free(&y_want), clrnn_array_free(&hn_want), clrnn_array_free(&cn_want);
    clrnn_rnn_destroy(r);
    return 1;
}

/* Runs every case of one framework's directory; there must be some. */
static void run_framework(const char *fw, int min_cases) {
    const char *root = getenv("CLRNN_GOLDEN_DIR");
    assert_non_null(root);
    char base[1024];
    snprintf(base, sizeof base, "%s/%s", root, fw);
    char *names[1024];
    const int n = golden_list_cases(base, names, 1024);
    if (n < 0) fail_msg("golden directory %s is missing", base);
    int ran = 0;
    for (int i = 0; i < n; ++i) {
        char dir[1400];
        snprintf(dir, sizeof dir, "%s/%s", base, names[i]);
        ran += run_case(dir);
        free(names[i]);
    }
    printf("%s: %d golden cases match within %g%s\n", fw, ran, TOL,
           tu_storage_of_env() == CLRNN_STORAGE_FP32 ? "" : " (relative, fp16/bf16 storage)");
    assert_true(ran >= min_cases);
}

static void torch_cases(void **state) {
    (void)state;
    run_framework("torch", 20);
}
static void keras_cases(void **state) {
    (void)state;
    run_framework("keras", 40);
}
static void tf1_cases(void **state) {
    (void)state;
    run_framework("tf1", 15);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torch_cases),
        cmocka_unit_test(keras_cases),
        cmocka_unit_test(tf1_cases),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
