/* Golden gradients from the real frameworks (PyTorch autograd, Keras 2 GradientTape, TF1
 * tf.gradients; tests/golden/grad/README.md, tools/golden_grad_torch.py, tools/golden_grad_tf.py):
 * every case is imported through clrnn_rnn_set_param in the framework's own layout, run through
 * clrnn_rnn_forward_train + clrnn_rnn_backward_data + clrnn_rnn_backward_weights(SET), and y, hn,
 * cn, dx, dh0, dc0 and every parameter's clrnn_rnn_get_grad (in that framework's layout) are
 * compared with the framework's within 1e-5 of |got - exp| / (1 + |exp|). Output buffers are
 * poisoned with NaN first. clrnn_rnn_get_param must give back exactly what set_param got.
 * The same cases also go through the float64 reference backward (clrnn_reference_train, its
 * gradients exported to the framework's layout like get_grad's), so that a device mismatch can be
 * told from a disagreement between the gradient contract and the framework.
 * The *_dropout directories hold cases with dropout (the optional meta keys dropout,
 * input_dropout, recurrent_dropout, dropout_mode, dropout_seed, dropout_shared set the descriptor's fields): the
 * framework's own dropout with clrnn's masks of forward_train call 0 injected.
 * A missing or malformed case fails; every case runs (and is reported) even after one fails. */
#include "internal.h"
#include "plans/plan.h"
#include "reference.h"
#include "test_util.h"
#include "golden/golden_case.h"
#include "train_paths.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define TOL 1e-5

/* A case's failure: printed, counted, and the case abandoned (the others still run). */
typedef struct result {
    const char *dir;
    int failed;
    char first[512];
} result;

static void fail_case(result *res, const char *fmt, ...) {
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("  FAIL %s: %s\n", res->dir, msg);
    if (!res->failed) snprintf(res->first, sizeof res->first, "%s", msg);
    res->failed = 1;
}

/* The optional dropout keys of meta.txt (tests/golden/grad/README.md); absent: 0 / variational. */
typedef struct dropout_meta {
    float dropout, input_dropout, recurrent_dropout;
    clrnn_dropout_mode mode;
    uint64_t seed;
    int shared;
} dropout_meta;

static const char *dropout_keys[] = {"dropout",      "input_dropout", "recurrent_dropout",
                                     "dropout_mode", "dropout_seed",  "dropout_shared"};
enum { NDROPOUT_KEYS = sizeof dropout_keys / sizeof dropout_keys[0] };

/* Stores dropout key k's value; 0 when it is not a valid one. */
static int dropout_meta_set(dropout_meta *dm, int k, const char *val) {
    char *end = NULL;
    if (k < 3) {
        float *rate = k == 0 ? &dm->dropout : k == 1 ? &dm->input_dropout : &dm->recurrent_dropout;
        *rate = strtof(val, &end);
        return *end == 0 && *rate >= 0 && *rate < 1;
    }
    if (k == 3) {
        if (!strcmp(val, "variational")) return dm->mode = CLRNN_DROPOUT_VARIATIONAL, 1;
        if (!strcmp(val, "per_step")) return dm->mode = CLRNN_DROPOUT_PER_STEP, 1;
        return 0;
    }
    if (k == 5) {
        if (!strcmp(val, "0") || !strcmp(val, "1")) return dm->shared = val[0] - '0', 1;
        return 0;
    }
    errno = 0;
    dm->seed = strtoull(val, &end, 10);
    return *end == 0 && errno == 0 && val[0] >= '0' && val[0] <= '9';
}

/* Every key of tests/golden/README.md's meta.txt plus `precision`, each exactly once; the dropout
 * keys at most once each. */
static int read_meta(const char *dir, golden_meta *m, dropout_meta *dm, result *res) {
    static const char *keys[] = {"framework", "cell", "layout", "T", "N", "I", "H", "layers", "direction", "merge",
                                 "reverse_order", "reverse_mode", "masked_output", "proj", "peephole", "cell_clip",
                                 "proj_clip", "forget_bias", "dense", "return_sequences", "chunks", "has_seq_len",
                                 "has_mask", "has_h0", "precision"};
    enum { NKEYS = sizeof keys / sizeof keys[0] };
    int seen[NKEYS] = {0};
    int dseen[NDROPOUT_KEYS] = {0};
    char path[2200], key[64], val[64];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return fail_case(res, "meta.txt missing"), 0;
    memset(m, 0, sizeof *m);
    memset(dm, 0, sizeof *dm);
    int ok = 1;
    while (ok && fscanf(f, "%63s %63s", key, val) == 2) {
        int dk = 0;
        while (dk < NDROPOUT_KEYS && strcmp(dropout_keys[dk], key)) ++dk;
        if (dk < NDROPOUT_KEYS) {
            if (dseen[dk]++) fail_case(res, "meta.txt: repeated key '%s'", key), ok = 0;
            else if (!dropout_meta_set(dm, dk, val)) fail_case(res, "meta.txt: bad %s '%s'", key, val), ok = 0;
            continue;
        }
        int k = 0;
        while (k < NKEYS && strcmp(keys[k], key)) ++k;
        if (k == NKEYS || seen[k]++) {
            fail_case(res, "meta.txt: %s key '%s'", k == NKEYS ? "unknown" : "repeated", key);
            ok = 0;
        }
        golden_meta_set(m, key, val);
    }
    if (ok && !feof(f)) fail_case(res, "meta.txt: unreadable line"), ok = 0;
    fclose(f);
    for (int k = 0; ok && k < NKEYS; ++k)
        if (!seen[k]) fail_case(res, "meta.txt: key '%s' missing", keys[k]), ok = 0;
    if (ok && (m->T < 1 || m->N < 1 || m->I < 1 || m->H < 1 || m->layers < 1 || m->chunks != 1))
        fail_case(res, "meta.txt: bad sizes (T %d N %d I %d H %d layers %d chunks %d)", m->T, m->N, m->I, m->H,
                  m->layers, m->chunks),
            ok = 0;
    return ok;
}

/* 1: loaded; 0: the file does not exist; -1: it exists but does not load (reported). */
static int load(const char *dir, const char *name, clrnn_array *a, result *res) {
    char path[2200];
    snprintf(path, sizeof path, "%.1400s/%.200s.npy", dir, name);
    memset(a, 0, sizeof *a);
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    clrnn_status st = clrnn_npy_load(path, a);
    if (st != CLRNN_OK) return fail_case(res, "%s.npy: %s", name, clrnn_last_error()), -1;
    return 1;
}

/* A required float32 array of exactly `count` elements. */
static int need(const char *dir, const char *name, clrnn_array *a, size_t count, result *res) {
    int r = load(dir, name, a, res);
    if (r == 0) fail_case(res, "%s.npy missing", name);
    if (r <= 0) return 0;
    if (a->dtype != CLRNN_DTYPE_FLOAT32 || a->count != count) {
        fail_case(res, "%s.npy: dtype %d, %zu elements (want float32, %zu)", name, (int)a->dtype, a->count, count);
        return 0;
    }
    return 1;
}

/* One weight file of names.txt: its role, layer and direction. */
typedef struct weight {
    char file[64];
    clrnn_param role;
    int layer, dir;
    clrnn_array value, grad;
} weight;

static int parse_weight(const char *file, weight *w) {
    memset(w, 0, sizeof *w);
    snprintf(w->file, sizeof w->file, "%s", file);
    if (!strcmp(file, "dense_w")) return w->role = CLRNN_PARAM_DENSE_W, 1;
    if (!strcmp(file, "dense_b")) return w->role = CLRNN_PARAM_DENSE_B, 1;
    int used = 0;
    if (sscanf(file, "l%d_d%d_%n", &w->layer, &w->dir, &used) != 2 || used == 0) return 0;
    for (size_t k = 0; k < GOLDEN_NROLES; ++k)
        if (!strcmp(file + used, golden_roles[k].file)) return w->role = golden_roles[k].role, 1;
    return 0;
}

/* The largest error a framework's run saw (printed with its summary). */
static double worst_seen;

/* |got - exp| / (1 + |exp|) <= TOL everywhere; NaN (an unwritten poisoned element) fails. */
static int compare(result *res, const char *what, const float *got, const clrnn_array *want, size_t n) {
    if (want->count != n) return fail_case(res, "%s: %zu expected elements, clrnn has %zu", what, want->count, n), 0;
    const float *e = want->data;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
        double err = fabs((double)got[i] - (double)e[i]) / (1.0 + fabs((double)e[i]));
        if (!(err <= worst)) { /* NaN lands here too */
            worst = isnan(err) ? INFINITY : err, at = i;
            if (isinf(worst)) break;
        }
    }
    if (worst > worst_seen || isnan(worst)) worst_seen = worst;
    if (!(worst <= TOL)) {
        fail_case(res, "%s: err %.3g at %zu (got %.8g, framework %.8g)", what, worst, at, (double)got[at], (double)e[at]);
        return 0;
    }
    return 1;
}

static float *alloc_nan(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; ++i) a[i] = NAN;
    return a;
}

#define CHECK(expr, what)                                                                                     \
    do {                                                                                                      \
        clrnn_status st_ = (expr);                                                                            \
        if (st_ != CLRNN_OK) {                                                                                \
            fail_case(res, "%s: %s: %s", what, clrnn_status_name(st_), clrnn_last_error());                   \
            goto done;                                                                                        \
        }                                                                                                     \
    } while (0)

/* Reads the weight list (names.txt), each weight and its gradient file. Returns the count, -1 on
 * a malformed list. Every l*_d*_* / dense_* file of the directory must be listed. */
static int read_weights(const char *dir, weight *ws, int cap, result *res) {
    char path[2200], file[256], fwname[512];
    snprintf(path, sizeof path, "%s/names.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return fail_case(res, "names.txt missing"), -1;
    int n = 0, ok = 1;
    while (ok && fscanf(f, "%255s %511s", file, fwname) == 2) {
        if (n == cap || !parse_weight(file, &ws[n])) {
            fail_case(res, "names.txt: bad weight file name '%s'", file);
            ok = 0;
            break;
        }
        n++;
    }
    fclose(f);
    if (!ok) return -1;
    if (n == 0) return fail_case(res, "names.txt lists no weight"), -1;
    DIR *h = opendir(dir);
    if (!h) return fail_case(res, "cannot list the directory"), -1;
    struct dirent *e;
    int listed = 0;
    while ((e = readdir(h))) {
        size_t len = strlen(e->d_name);
        weight tmp;
        char stem[256];
        if (len < 5 || len > 200 || strcmp(e->d_name + len - 4, ".npy")) continue;
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 4), e->d_name);
        if (!parse_weight(stem, &tmp)) continue;
        int found = 0;
        for (int i = 0; i < n; ++i) found |= !strcmp(ws[i].file, stem);
        if (!found) fail_case(res, "%s.npy is not in names.txt", stem), ok = 0;
        listed++;
    }
    closedir(h);
    if (ok && listed != n) fail_case(res, "names.txt lists %d weights, the directory has %d", n, listed), ok = 0;
    return ok ? n : -1;
}

/* use_reference: the float64 reference backward instead of the device. */
static void run_case(const char *dir, result *res, int use_reference) {
    golden_meta m;
    weight ws[128];
    int nw = -1;
    clrnn_rnn *r = NULL;
    clrnn_reserve *reserve = NULL;
    clrnn_array x = {0}, lens = {0}, mask = {0}, h0 = {0}, c0 = {0}, dy = {0}, dhn = {0}, dcn = {0};
    clrnn_array want[6] = {{0}}; /* y hn cn dx dh0 dc0 */
    float *got[6] = {NULL};
    float *back = NULL, *grad = NULL;
    uint8_t *mask8 = NULL;
    clrnn_reference_grads rg = {0, NULL, NULL, NULL};
    memset(ws, 0, sizeof ws);
    dropout_meta dm;
    if (!read_meta(dir, &m, &dm, res)) return;
    clrnn_framework fw;
    clrnn_rnn_desc d = golden_desc_from_meta(&m, &fw);
    d.dropout = dm.dropout, d.input_dropout = dm.input_dropout, d.recurrent_dropout = dm.recurrent_dropout;
    d.dropout_mode = dm.mode, d.dropout_seed = dm.seed, d.dropout_shared = dm.shared; /* forward_train call 0 */
    CHECK(clrnn_rnn_create(tu_context(), &d, &r), "create");
    const int D = clrnn_rnn_num_directions(r), lstm = d.cell == CLRNN_CELL_LSTM;
    const int T = m.T, N = m.N, Hr = clrnn_rnn_state_size(r), C = clrnn_rnn_output_size(r);
    const size_t nx = (size_t)T * N * m.I, ny = (size_t)(m.return_sequences ? T : 1) * N * C;
    const size_t nh = (size_t)m.layers * D * N * Hr, nc = (size_t)m.layers * D * N * m.H;

    nw = read_weights(dir, ws, 128, res);
    if (nw < 0) goto done;
    for (int i = 0; i < nw; ++i) {
        char gname[80];
        snprintf(gname, sizeof gname, "grad_%.63s", ws[i].file);
        const int have_value = load(dir, ws[i].file, &ws[i].value, res);
        const int have_grad = have_value > 0 ? load(dir, gname, &ws[i].grad, res) : 0;
        if (have_value <= 0 || have_grad <= 0) {
            if (!res->failed) fail_case(res, "%s.npy missing", have_value == 0 ? ws[i].file : gname);
            goto done;
        }
        if (ws[i].value.count != ws[i].grad.count) {
            fail_case(res, "%s: %zu values, %zu gradients", ws[i].file, ws[i].value.count, ws[i].grad.count);
            goto done;
        }
        CHECK(clrnn_rnn_set_param(r, fw, ws[i].layer, ws[i].dir, ws[i].role, ws[i].value.data, ws[i].value.count),
              ws[i].file);
    }
    /* get_param gives back exactly what set_param got (in the framework's layout). */
    for (int i = 0; i < nw; ++i) {
        back = alloc_nan(ws[i].value.count);
        CHECK(clrnn_rnn_get_param(r, fw, ws[i].layer, ws[i].dir, ws[i].role, back, ws[i].value.count), ws[i].file);
        if (memcmp(back, ws[i].value.data, ws[i].value.count * sizeof(float))) {
            size_t at = 0;
            while (at + 1 < ws[i].value.count && back[at] == ((float *)ws[i].value.data)[at]) ++at;
            fail_case(res, "get_param %s differs from what set_param got at %zu (%.9g vs %.9g)", ws[i].file, at,
                      (double)back[at], (double)((float *)ws[i].value.data)[at]);
            goto done;
        }
        free(back), back = NULL;
    }

    if (!need(dir, "x", &x, nx, res) || !need(dir, "dy", &dy, ny, res) || !need(dir, "dhn", &dhn, nh, res) ||
        (lstm && !need(dir, "dcn", &dcn, nc, res)))
        goto done;
    static const char *outs[6] = {"y", "hn", "cn", "dx", "dh0", "dc0"};
    const size_t counts[6] = {ny, nh, nc, nx, nh, nc};
    for (int k = 0; k < 6; ++k) {
        if ((k == 2 || k == 5) && !lstm) continue;
        if (!need(dir, outs[k], &want[k], counts[k], res)) goto done;
        got[k] = alloc_nan(counts[k]);
    }
    if (m.has_seq_len) {
        if (load(dir, "seq_len", &lens, res) <= 0 || lens.dtype != CLRNN_DTYPE_INT32 || lens.count != (size_t)N) {
            fail_case(res, "seq_len.npy missing or not int32 [N]");
            goto done;
        }
    }
    if (m.has_mask) {
        if (load(dir, "mask", &mask, res) <= 0 || mask.dtype != CLRNN_DTYPE_INT32 || mask.count != (size_t)N * T) {
            fail_case(res, "mask.npy missing or not int32 [N, T]");
            goto done;
        }
        mask8 = malloc(mask.count);
        for (size_t i = 0; i < mask.count; ++i) mask8[i] = ((int32_t *)mask.data)[i] != 0;
    }
    if (m.has_h0 && (!need(dir, "h0", &h0, nh, res) || (lstm && !need(dir, "c0", &c0, nc, res)))) goto done;

    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N;
    a.x.host = x.data;
    a.seq_lens = lens.data;
    a.mask = mask8;
    a.h0.host = h0.data, a.c0.host = c0.data;
    a.last_only = !m.return_sequences;
    a.y.host = got[0], a.hn.host = got[1];
    if (lstm) a.cn.host = got[2];
    clrnn_backward_args b;
    memset(&b, 0, sizeof b);
    b.dy.host = dy.data, b.dhn.host = dhn.data;
    if (lstm) b.dcn.host = dcn.data, b.dc0.host = got[5];
    b.dx.host = got[3], b.dh0.host = got[4];
    if (use_reference) {
        CHECK(clrnn_reference_train(r, &a, 0, &b, &rg), "reference_train");
    } else {
        CHECK(clrnn_reserve_create(r, &reserve), "reserve_create");
        CHECK(clrnn_rnn_forward_train(r, &a, reserve), "forward_train");
        /* under the tiled plan: its own training forward unless the case has an option it leaves to
         * the portable one (train_paths.h) */
        char plan[2048];
        const char *want = tu_train_forward_want(r, &d, plan, sizeof plan);
        if (want && !strstr(plan, want)) fail_case(res, "plan \"%s\" lacks \"%s\"", plan, want);
        const unsigned long scans_before = clrnn_tiled_bwd_scans();
        CHECK(clrnn_rnn_backward_data(r, reserve, &b), "backward_data");
        /* the tiled plan takes its fused backward scan (plan_tiled_bwd.c) where it covers the rnn */
        const int fused = tu_fused_bwd_expected(r, T, N);
        const unsigned long scans = clrnn_tiled_bwd_scans() - scans_before;
        if (scans != (fused ? (unsigned long)r->desc.num_layers : 0ul))
            fail_case(res, "backward_data: %lu fused backward scans, expected %d", scans, fused ? r->desc.num_layers : 0);
        CHECK(clrnn_rnn_backward_weights(r, reserve, CLRNN_WGRAD_SET), "backward_weights");
    }
    /* every tensor is compared, so that one report names every mismatch of the case */
    for (int k = 0; k < 6; ++k)
        if (got[k]) compare(res, outs[k], got[k], &want[k], counts[k]);
    for (int i = 0; i < nw; ++i) {
        char what[96];
        snprintf(what, sizeof what, "grad %.63s", ws[i].file);
        grad = alloc_nan(ws[i].grad.count);
        if (use_reference)
            CHECK(clrnn_weights_export(r, rg.lw, rg.dense_W, rg.dense_b, 1, fw, ws[i].layer, ws[i].dir, ws[i].role, grad,
                                       ws[i].grad.count),
                  what);
        else
            CHECK(clrnn_rnn_get_grad(r, fw, ws[i].layer, ws[i].dir, ws[i].role, grad, ws[i].grad.count), what);
        compare(res, what, grad, &ws[i].grad, ws[i].grad.count);
        free(grad), grad = NULL;
    }

done:
    free(back), free(grad), free(mask8);
    for (int k = 0; k < 6; ++k) free(got[k]), clrnn_array_free(&want[k]);
    for (int i = 0; i < (nw > 0 ? nw : 0); ++i) clrnn_array_free(&ws[i].value), clrnn_array_free(&ws[i].grad);
    clrnn_array_free(&x), clrnn_array_free(&lens), clrnn_array_free(&mask), clrnn_array_free(&h0);
    clrnn_array_free(&c0), clrnn_array_free(&dy), clrnn_array_free(&dhn), clrnn_array_free(&dcn);
    clrnn_reference_grads_free(&rg);
    clrnn_reserve_destroy(reserve);
    clrnn_rnn_destroy(r);
}

/* Runs every case of one framework's directory (there must be at least min_cases) and fails if
 * any case failed; CLRNN_GRAD_CASE=<substring> runs only the matching cases (for debugging). */
static void run_framework(const char *fw, int min_cases, int use_reference) {
    const char *root = getenv("CLRNN_GOLDEN_DIR");
    const char *only = getenv("CLRNN_GRAD_CASE");
    assert_non_null(root);
    char base[1024];
    snprintf(base, sizeof base, "%s/grad/%s", root, fw);
    char *names[512];
    const int n = golden_list_cases(base, names, 512);
    if (n < 0) fail_msg("golden gradient directory %s is missing", base);
    int ran = 0, passed = 0;
    worst_seen = 0;
    for (int i = 0; i < n; ++i) {
        char dir[1400];
        snprintf(dir, sizeof dir, "%s/%s", base, names[i]);
        if (!only || strstr(names[i], only)) {
            result res = {dir, 0, ""};
            run_case(dir, &res, use_reference);
            printf("  %s %s/%s\n", res.failed ? "fail" : "ok  ", fw, names[i]);
            ran++, passed += !res.failed;
        }
        free(names[i]);
    }
    printf("%s: %d of %d golden gradient cases match within %g (%s; largest error %.3g)\n", fw, passed, ran, TOL,
           use_reference ? "the float64 reference backward" : "the device", worst_seen);
    if (!only) assert_true(ran >= min_cases);
    assert_int_equal(passed, ran);
}

#define FRAMEWORK_TESTS(fw, min_cases)                                                                      \
    static void fw##_cases(void **state) {                                                                  \
        (void)state;                                                                                         \
        run_framework(#fw, min_cases, 0);                                                                    \
    }                                                                                                        \
    static void fw##_reference(void **state) {                                                              \
        (void)state;                                                                                         \
        run_framework(#fw, min_cases, 1);                                                                    \
    }
FRAMEWORK_TESTS(torch, 37)
FRAMEWORK_TESTS(keras, 36)
FRAMEWORK_TESTS(tf1, 18)
FRAMEWORK_TESTS(torch_dropout, 7)
FRAMEWORK_TESTS(keras_dropout, 22)
FRAMEWORK_TESTS(tf1_dropout, 4)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torch_cases),           cmocka_unit_test(keras_cases),
        cmocka_unit_test(tf1_cases),             cmocka_unit_test(torch_dropout_cases),
        cmocka_unit_test(keras_dropout_cases),   cmocka_unit_test(tf1_dropout_cases),
        cmocka_unit_test(torch_reference),       cmocka_unit_test(keras_reference),
        cmocka_unit_test(tf1_reference),         cmocka_unit_test(torch_dropout_reference),
        cmocka_unit_test(keras_dropout_reference), cmocka_unit_test(tf1_dropout_reference),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
