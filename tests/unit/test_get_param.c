/* clrnn_rnn_get_param and clrnn_weights_export (src/rnn/weights.c), the inverse of set_param's import:
 *   - round trip: for every framework x role x cell x option, random values set through set_param
 *     read back bitwise (combined roles too: the value set_param was given);
 *   - cross-framework: weights set through ONNX (and PyTorch for the projection) read back in every
 *     framework's layout exactly as the role table in clrnn.h describes it, built here from the
 *     test's own copy of the weights in internal gate order and its own gate-order table (biases
 *     that a framework keeps as one vector read as Wb + Rb);
 *   - gradients (grad = 1): a split bias reads dWb, not the sum;
 *   - refusals as set_param's: counts, roles a framework or descriptor lacks, layers, directions,
 *     unknown enums, NULLs, required tensors never set (optional ones read as zeros), every refused
 *     call leaving the output untouched.
 * Host only: no forward runs. */
#include "test_util.h"

#include "internal.h"

enum { I0 = 3, H = 4, PROJ = 3, DENSE = 2 };

typedef struct config {
    const char *name;
    clrnn_cell cell;
    int lbr, peephole, proj, layers, bidir, dense;
    clrnn_merge merge;
} config;

static const config configs[] = {
    {"rnn", CLRNN_CELL_RNN, 0, 0, 0, 1, 0, 0, CLRNN_MERGE_CONCAT},
    {"rnn bidir 2 layers dense", CLRNN_CELL_RNN, 0, 0, 0, 2, 1, 1, CLRNN_MERGE_CONCAT},
    {"lstm", CLRNN_CELL_LSTM, 0, 0, 0, 1, 0, 0, CLRNN_MERGE_CONCAT},
    {"lstm peephole", CLRNN_CELL_LSTM, 0, 1, 0, 1, 0, 0, CLRNN_MERGE_CONCAT},
    {"lstm projection", CLRNN_CELL_LSTM, 0, 0, 1, 1, 0, 1, CLRNN_MERGE_CONCAT},
    {"lstm peephole projection bidir 2 layers dense", CLRNN_CELL_LSTM, 0, 1, 1, 2, 1, 1, CLRNN_MERGE_CONCAT},
    {"lstm bidir sum dense", CLRNN_CELL_LSTM, 0, 0, 0, 1, 1, 1, CLRNN_MERGE_SUM},
    {"gru reset-before", CLRNN_CELL_GRU, 0, 0, 0, 1, 0, 0, CLRNN_MERGE_CONCAT},
    {"gru reset-before bidir 2 layers dense", CLRNN_CELL_GRU, 0, 0, 0, 2, 1, 1, CLRNN_MERGE_CONCAT},
    {"gru lbr", CLRNN_CELL_GRU, 1, 0, 0, 1, 0, 0, CLRNN_MERGE_CONCAT},
    {"gru lbr bidir 3 layers dense", CLRNN_CELL_GRU, 1, 0, 0, 3, 1, 1, CLRNN_MERGE_AVE},
};

static const char *const fw_names[] = {"ONNX", "PyTorch", "Keras", "TF1"};

/* The test's own weights, internal gate order (LSTM i, f, g, o; GRU z, r, n), per (layer, dir). */
typedef struct tweights {
    int G, Hr, D, L, I[CLRNN_MAX_LAYERS], O, Hm;
    float *W[8], *R[8], *Wb[8], *Rb[8], *P[8], *proj[8];
    float *dW, *db;
} tweights;

/* Each framework's position of internal gate g (clrnn.h: ONNX LSTM i,o,f,c GRU z,r,h; PyTorch
 * LSTM i,f,g,o GRU r,z,n; Keras LSTM i,f,c,o GRU z,r,h; TF1 LSTM i,j,f,o, GRU gates r,u). */
static int fw_gate(clrnn_cell cell, int fw, int g) {
    static const int lstm[4][4] = {{0, 2, 3, 1}, {0, 1, 2, 3}, {0, 1, 2, 3}, {0, 2, 1, 3}};
    static const int gru[4][3] = {{0, 1, 2}, {1, 0, 2}, {0, 1, 2}, {1, 0, -1}};
    if (cell == CLRNN_CELL_RNN) return 0;
    return cell == CLRNN_CELL_LSTM ? lstm[fw][g] : gru[fw][g];
}

static clrnn_rnn_desc desc_of(const config *c) {
    clrnn_rnn_desc d = tu_desc(c->cell, I0, H);
    d.num_layers = c->layers;
    d.direction = c->bidir ? CLRNN_DIR_BIDIRECTIONAL : CLRNN_DIR_FORWARD;
    d.merge = c->merge;
    d.peephole = c->peephole;
    d.proj_size = c->proj ? PROJ : 0;
    d.linear_before_reset = c->lbr;
    d.dense_size = c->dense ? DENSE : 0;
    return d;
}

/* Whether `role` exists for framework fw and this descriptor (clrnn.h's role table). */
static int role_exists(const config *c, int fw, clrnn_param role) {
    const int tf1 = fw == CLRNN_FRAMEWORK_TF1, tf1_gru = tf1 && c->cell == CLRNN_CELL_GRU;
    switch (role) {
    case CLRNN_PARAM_W:
    case CLRNN_PARAM_R: return !tf1;
    case CLRNN_PARAM_B: return fw != CLRNN_FRAMEWORK_PYTORCH;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR: return fw == CLRNN_FRAMEWORK_ONNX || fw == CLRNN_FRAMEWORK_PYTORCH;
    case CLRNN_PARAM_PEEPHOLE: return c->peephole && (fw == CLRNN_FRAMEWORK_ONNX || tf1);
    case CLRNN_PARAM_PROJ: return c->proj && (fw == CLRNN_FRAMEWORK_PYTORCH || tf1);
    case CLRNN_PARAM_KERNEL: return tf1 && !(tf1_gru && c->lbr);
    case CLRNN_PARAM_CANDIDATE_KERNEL:
    case CLRNN_PARAM_CANDIDATE_BIAS: return tf1_gru;
    case CLRNN_PARAM_DENSE_W:
    case CLRNN_PARAM_DENSE_B: return c->dense;
    default: return 0;
    }
}

static float sum_bias(const tweights *t, int ld, size_t k) { return t->Wb[ld][k] + t->Rb[ld][k]; }

/* The array framework fw holds for `role` of (layer, dir), built from t by the role table; its
 * element count in *n. Caller frees. */
static float *expected(const config *c, const tweights *t, int fw, int layer, int dir, clrnn_param role, size_t *n) {
    const int ld = layer * t->D + dir, G = t->G, Hr = t->Hr, GH = G * H, I = t->I[layer];
    const int tf1_gru = fw == CLRNN_FRAMEWORK_TF1 && c->cell == CLRNN_CELL_GRU;
    const int cols = fw == CLRNN_FRAMEWORK_KERAS || fw == CLRNN_FRAMEWORK_TF1;
    float *out = NULL;
#define ALLOC(count) (*n = (size_t)(count), out = malloc(*n * sizeof(float)))
    switch (role) {
    case CLRNN_PARAM_W:
    case CLRNN_PARAM_R: {
        const int K = role == CLRNN_PARAM_W ? I : Hr;
        const float *src = role == CLRNN_PARAM_W ? t->W[ld] : t->R[ld];
        ALLOC(GH * K);
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j)
                for (int k = 0; k < K; ++k) {
                    const int row = fw_gate(c->cell, fw, g) * H + j;
                    out[cols ? (size_t)k * GH + row : (size_t)row * K + k] = src[((size_t)g * H + j) * K + k];
                }
        break;
    }
    case CLRNN_PARAM_B:
        if (fw == CLRNN_FRAMEWORK_ONNX || (fw == CLRNN_FRAMEWORK_KERAS && c->cell == CLRNN_CELL_GRU && c->lbr)) {
            ALLOC(2 * GH);
            for (int g = 0; g < G; ++g)
                for (int j = 0; j < H; ++j) {
                    out[fw_gate(c->cell, fw, g) * H + j] = t->Wb[ld][g * H + j];
                    out[GH + fw_gate(c->cell, fw, g) * H + j] = t->Rb[ld][g * H + j];
                }
        } else {
            const int gates = tf1_gru ? 2 : G;
            ALLOC(gates * H);
            for (int g = 0; g < gates; ++g)
                for (int j = 0; j < H; ++j) out[fw_gate(c->cell, fw, g) * H + j] = sum_bias(t, ld, (size_t)g * H + j);
        }
        break;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR:
        ALLOC(GH);
        for (int g = 0; g < G; ++g)
            for (int j = 0; j < H; ++j)
                out[fw_gate(c->cell, fw, g) * H + j] = (role == CLRNN_PARAM_BW ? t->Wb : t->Rb)[ld][g * H + j];
        break;
    case CLRNN_PARAM_PEEPHOLE: {
        /* internal i, f, o; ONNX stores i, o, f; TF1 i, f, o */
        static const int onnx_pos[3] = {0, 2, 1};
        ALLOC(3 * H);
        for (int q = 0; q < 3; ++q)
            for (int j = 0; j < H; ++j)
                out[(fw == CLRNN_FRAMEWORK_ONNX ? onnx_pos[q] : q) * H + j] = t->P[ld][q * H + j];
        break;
    }
    case CLRNN_PARAM_PROJ:
        ALLOC(Hr * H);
        for (int p = 0; p < Hr; ++p)
            for (int k = 0; k < H; ++k)
                out[fw == CLRNN_FRAMEWORK_TF1 ? (size_t)k * Hr + p : (size_t)p * H + k] = t->proj[ld][p * H + k];
        break;
    case CLRNN_PARAM_KERNEL: {
        const int gates = tf1_gru ? 2 : G;
        ALLOC((I + Hr) * gates * H);
        for (int g = 0; g < gates; ++g)
            for (int j = 0; j < H; ++j) {
                const int col = fw_gate(c->cell, fw, g) * H + j;
                for (int k = 0; k < I; ++k) out[(size_t)k * gates * H + col] = t->W[ld][((size_t)g * H + j) * I + k];
                for (int k = 0; k < Hr; ++k)
                    out[(size_t)(I + k) * gates * H + col] = t->R[ld][((size_t)g * H + j) * Hr + k];
            }
        break;
    }
    case CLRNN_PARAM_CANDIDATE_KERNEL:
        ALLOC((I + H) * H);
        for (int j = 0; j < H; ++j) {
            for (int k = 0; k < I; ++k) out[(size_t)k * H + j] = t->W[ld][((size_t)2 * H + j) * I + k];
            for (int k = 0; k < H; ++k) out[(size_t)(I + k) * H + j] = t->R[ld][((size_t)2 * H + j) * H + k];
        }
        break;
    case CLRNN_PARAM_CANDIDATE_BIAS:
        ALLOC(H);
        for (int j = 0; j < H; ++j) out[j] = sum_bias(t, ld, (size_t)2 * H + j);
        break;
    case CLRNN_PARAM_DENSE_W:
        ALLOC(t->O * t->Hm);
        for (int o = 0; o < t->O; ++o)
            for (int k = 0; k < t->Hm; ++k)
                out[cols ? (size_t)k * t->O + o : (size_t)o * t->Hm + k] = t->dW[(size_t)o * t->Hm + k];
        break;
    case CLRNN_PARAM_DENSE_B:
        ALLOC(t->O);
        memcpy(out, t->db, *n * sizeof(float));
        break;
    default: fail_msg("no such role %d", (int)role);
    }
#undef ALLOC
    return out;
}

static void tweights_init(tweights *t, const config *c, uint64_t *seed) {
    memset(t, 0, sizeof *t);
    t->G = c->cell == CLRNN_CELL_LSTM ? 4 : c->cell == CLRNN_CELL_GRU ? 3 : 1;
    t->Hr = c->proj ? PROJ : H;
    t->D = c->bidir ? 2 : 1;
    t->L = c->layers;
    assert_true(t->L * t->D <= 8);
    for (int l = 0; l < t->L; ++l) t->I[l] = l == 0 ? I0 : t->D * t->Hr;
    t->Hm = c->bidir && c->merge == CLRNN_MERGE_CONCAT ? 2 * t->Hr : t->Hr;
    t->O = DENSE;
    const size_t GH = (size_t)t->G * H;
    for (int l = 0; l < t->L; ++l)
        for (int d = 0; d < t->D; ++d) {
            const int ld = l * t->D + d;
            t->W[ld] = tu_alloc_random(GH * t->I[l], seed, -1, 1);
            t->R[ld] = tu_alloc_random(GH * t->Hr, seed, -1, 1);
            t->Wb[ld] = tu_alloc_random(GH, seed, -1, 1);
            t->Rb[ld] = tu_alloc_random(GH, seed, -1, 1);
            t->P[ld] = tu_alloc_random(3 * H, seed, -1, 1);
            t->proj[ld] = tu_alloc_random((size_t)t->Hr * H, seed, -1, 1);
        }
    t->dW = tu_alloc_random((size_t)t->O * t->Hm, seed, -1, 1);
    t->db = tu_alloc_random((size_t)t->O, seed, -1, 1);
}

static void tweights_free(tweights *t) {
    for (int i = 0; i < 8; ++i) {
        free(t->W[i]);
        free(t->R[i]);
        free(t->Wb[i]);
        free(t->Rb[i]);
        free(t->P[i]);
        free(t->proj[i]);
    }
    free(t->dW);
    free(t->db);
}

/* A fresh rnn of config c, and random weights of its shapes in t (set nothing yet). */
static clrnn_rnn *rnn_of(const config *c, tweights *t, uint64_t *seed) {
    const clrnn_rnn_desc desc = desc_of(c);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &desc, &r));
    tweights_init(t, c, seed);
    return r;
}

static void set_role(clrnn_rnn *r, const config *c, const tweights *t, int fw, int l, int d, clrnn_param role) {
    size_t n;
    float *a = expected(c, t, fw, l, d, role, &n);
    TU_OK(clrnn_rnn_set_param(r, (clrnn_framework)fw, l, d, role, a, n));
    free(a);
}

/* Weights through ONNX (and the projection through PyTorch), read back in every framework. */
static void cross_framework(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0001;
    for (size_t ci = 0; ci < sizeof configs / sizeof *configs; ++ci) {
        const config *c = &configs[ci];
        tweights t;
        clrnn_rnn *r = rnn_of(c, &t, &seed);
        for (int l = 0; l < t.L; ++l)
            for (int d = 0; d < t.D; ++d) {
                set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_W);
                set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_R);
                set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_B);
                if (c->peephole) set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_PEEPHOLE);
                if (c->proj) set_role(r, c, &t, CLRNN_FRAMEWORK_PYTORCH, l, d, CLRNN_PARAM_PROJ);
            }
        if (c->dense) {
            set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W);
            set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_B);
        }
        int checked = 0;
        for (int fw = 0; fw <= CLRNN_FRAMEWORK_TF1; ++fw)
            for (int role = 0; role < CLRNN_PARAM_COUNT_; ++role) {
                if (!role_exists(c, fw, (clrnn_param)role)) continue;
                const int dense = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
                for (int l = 0; l < (dense ? 1 : t.L); ++l)
                    for (int d = 0; d < (dense ? 1 : t.D); ++d) {
                        size_t n;
                        float *want = expected(c, &t, fw, l, d, (clrnn_param)role, &n);
                        float *got = tu_alloc_poison(n + 1);
                        TU_OK(clrnn_rnn_get_param(r, (clrnn_framework)fw, l, d, (clrnn_param)role, got, n));
                        for (size_t i = 0; i < n; ++i)
                            if (memcmp(&got[i], &want[i], sizeof(float)))
                                fail_msg("%s: %s role %d layer %d dir %d: element %zu is %.9g, expected %.9g", c->name,
                                         fw_names[fw], role, l, d, i, (double)got[i], (double)want[i]);
                        assert_true(got[n] == POISON); /* nothing past count */
                        free(want);
                        free(got);
                        ++checked;
                    }
            }
        assert_true(checked >= 6);
        tweights_free(&t);
        clrnn_rnn_destroy(r);
    }
}

/* Every role of every framework: random values set, read back bitwise. */
static void round_trip(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0002;
    int checked = 0;
    for (size_t ci = 0; ci < sizeof configs / sizeof *configs; ++ci) {
        const config *c = &configs[ci];
        for (int fw = 0; fw <= CLRNN_FRAMEWORK_TF1; ++fw) {
            tweights t; /* for the shapes only: the values set are fresh random arrays */
            clrnn_rnn *r = rnn_of(c, &t, &seed);
            for (int role = 0; role < CLRNN_PARAM_COUNT_; ++role) {
                if (!role_exists(c, fw, (clrnn_param)role)) continue;
                const int dense = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
                for (int l = 0; l < (dense ? 1 : t.L); ++l)
                    for (int d = 0; d < (dense ? 1 : t.D); ++d) {
                        size_t n;
                        free(expected(c, &t, fw, l, d, (clrnn_param)role, &n));
                        float *given = tu_alloc_random(n, &seed, -2, 2);
                        TU_OK(clrnn_rnn_set_param(r, (clrnn_framework)fw, l, d, (clrnn_param)role, given, n));
                        float *got = tu_alloc_poison(n);
                        TU_OK(clrnn_rnn_get_param(r, (clrnn_framework)fw, l, d, (clrnn_param)role, got, n));
                        if (memcmp(got, given, n * sizeof(float))) {
                            size_t at = 0;
                            tu_max_abs_diff(got, given, n, &at);
                            fail_msg("%s: %s role %d layer %d dir %d: element %zu reads %.9g, was set to %.9g", c->name,
                                     fw_names[fw], role, l, d, at, (double)got[at], (double)given[at]);
                        }
                        free(given);
                        free(got);
                        ++checked;
                    }
            }
            tweights_free(&t);
            clrnn_rnn_destroy(r);
        }
    }
    assert_true(checked > 100);
}

/* A combined role set through one framework and read through another that splits it: Keras' single
 * LSTM bias is Wb, with Rb zero, so ONNX B reads [bias; 0] and PyTorch bias_hh zeros. */
static void combined_role_split(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0003;
    const config *c = &configs[2]; /* lstm */
    const clrnn_rnn_desc desc = desc_of(c);
    clrnn_rnn *r = NULL;
    TU_OK(clrnn_rnn_create(tu_context(), &desc, &r));
    float *bias = tu_alloc_random(4 * H, &seed, -1, 1);
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_B, bias, 4 * H));
    float onnx[8 * H], hh[4 * H], ih[4 * H];
    TU_OK(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, onnx, 8 * H));
    TU_OK(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_BR, hh, 4 * H));
    TU_OK(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_BW, ih, 4 * H));
    assert_memory_equal(ih, bias, sizeof ih); /* Keras i, f, c, o = PyTorch i, f, g, o */
    for (int k = 0; k < 4 * H; ++k) {
        assert_true(hh[k] == 0.0f);
        assert_true(onnx[4 * H + k] == 0.0f);
    }
    /* ONNX's i, o, f, c blocks */
    static const int keras_of_onnx[4] = {0, 3, 1, 2};
    for (int b = 0; b < 4; ++b) assert_memory_equal(onnx + b * H, bias + keras_of_onnx[b] * H, H * sizeof(float));
    free(bias);
    clrnn_rnn_destroy(r);
}

/* clrnn_weights_export on gradient arrays: a bias that a framework keeps as one vector takes dWb,
 * values take Wb + Rb; split biases take each their own. */
static void gradients(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0004;
    for (int ci = 0; ci < 2; ++ci) {
        const config *c = &configs[ci == 0 ? 2 : 9]; /* lstm; gru lbr */
        tweights t;
        clrnn_rnn *r = rnn_of(c, &t, &seed);
        set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W);
        set_role(r, c, &t, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R);
        tweights g; /* the gradient arrays, distinct from the rnn's values */
        tweights_init(&g, c, &seed);
        clrnn_layer_weights gw = {.in_size = I0, .W = g.W[0], .R = g.R[0], .Wb = g.Wb[0], .Rb = g.Rb[0], .P = g.P[0]};
        const size_t GH = (size_t)t.G * H;
        float *got = tu_alloc_poison(2 * GH);
        /* Keras B: an LSTM's single bias reads dWb; a reset_after GRU's [2, G*H] reads dWb; dRb */
        const size_t nb = c->cell == CLRNN_CELL_GRU ? 2 * GH : GH;
        TU_OK(clrnn_weights_export(r, &gw, NULL, NULL, 1, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_B, got, nb));
        for (size_t g0 = 0; g0 < (size_t)t.G; ++g0)
            for (int j = 0; j < H; ++j) {
                const size_t k = g0 * H + j, at = (size_t)fw_gate(c->cell, CLRNN_FRAMEWORK_KERAS, (int)g0) * H + j;
                assert_true(got[at] == g.Wb[0][k]);
                if (nb == 2 * GH) assert_true(got[GH + at] == g.Rb[0][k]);
            }
        /* the same arrays as values: Wb + Rb for the single bias */
        TU_OK(clrnn_weights_export(r, &gw, NULL, NULL, 0, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_B, got, nb));
        if (nb == GH)
            for (size_t k = 0; k < GH; ++k) assert_true(got[k] == g.Wb[0][k] + g.Rb[0][k]);
        /* W from the gradient arrays, not the rnn's */
        float *w = tu_alloc_poison(GH * I0);
        TU_OK(clrnn_weights_export(r, &gw, NULL, NULL, 1, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_W, w, GH * I0));
        for (size_t g0 = 0; g0 < (size_t)t.G; ++g0)
            assert_memory_equal(w + (size_t)fw_gate(c->cell, CLRNN_FRAMEWORK_PYTORCH, (int)g0) * H * I0,
                                g.W[0] + g0 * H * I0, H * I0 * sizeof(float));
        free(w);
        free(got);
        tweights_free(&g);
        tweights_free(&t);
        clrnn_rnn_destroy(r);
    }
}

static void assert_refused(clrnn_status got, clrnn_status want, const float *out, size_t n) {
    if (got != want)
        fail_msg("got %s, expected %s (%s)", clrnn_status_name(got), clrnn_status_name(want), clrnn_last_error());
    assert_true(clrnn_last_error()[0] != '\0');
    for (size_t i = 0; i < n; ++i) assert_true(out[i] == POISON);
}

/* Everything set_param refuses, get_param refuses, writing nothing. */
static void refusals(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0005;
    for (size_t ci = 0; ci < sizeof configs / sizeof *configs; ++ci) {
        const config *c = &configs[ci];
        tweights t;
        clrnn_rnn *r = rnn_of(c, &t, &seed);
        float *buf = tu_alloc_poison(4096), *data = tu_alloc_random(4096, &seed, -1, 1);
        for (int fw = 0; fw <= CLRNN_FRAMEWORK_TF1; ++fw)
            for (int role = 0; role < CLRNN_PARAM_COUNT_; ++role) {
                const clrnn_framework f = (clrnn_framework)fw;
                const clrnn_param p = (clrnn_param)role;
                if (!role_exists(c, fw, p)) {
                    assert_refused(clrnn_rnn_set_param(r, f, 0, 0, p, data, 4 * H), CLRNN_ERR_INVALID_ARGUMENT, NULL, 0);
                    assert_refused(clrnn_rnn_get_param(r, f, 0, 0, p, buf, 4 * H), CLRNN_ERR_INVALID_ARGUMENT, buf, 4096);
                    continue;
                }
                size_t n;
                free(expected(c, &t, fw, t.L - 1, t.D - 1, p, &n));
                const int dense = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
                for (int dn = -1; dn <= 1; dn += 2) {
                    assert_refused(clrnn_rnn_set_param(r, f, t.L - 1, t.D - 1, p, data, n + dn), CLRNN_ERR_SHAPE_MISMATCH,
                                   NULL, 0);
                    assert_refused(clrnn_rnn_get_param(r, f, t.L - 1, t.D - 1, p, buf, n + dn), CLRNN_ERR_SHAPE_MISMATCH,
                                   buf, 4096);
                }
                /* byte count for element count */
                assert_refused(clrnn_rnn_get_param(r, f, t.L - 1, t.D - 1, p, buf, n * 4), CLRNN_ERR_SHAPE_MISMATCH, buf, 4096);
                if (!dense) {
                    const int bad[][2] = {{-1, 0}, {t.L, 0}, {0, -1}, {0, t.D}};
                    for (int b = 0; b < 4; ++b) {
                        assert_refused(clrnn_rnn_set_param(r, f, bad[b][0], bad[b][1], p, data, n),
                                       CLRNN_ERR_INVALID_ARGUMENT, NULL, 0);
                        assert_refused(clrnn_rnn_get_param(r, f, bad[b][0], bad[b][1], p, buf, n),
                                       CLRNN_ERR_INVALID_ARGUMENT, buf, 4096);
                    }
                }
                /* never set: required tensors are missing, optional ones read as zeros */
                const int required = role == CLRNN_PARAM_W || role == CLRNN_PARAM_R || role == CLRNN_PARAM_KERNEL ||
                                     role == CLRNN_PARAM_CANDIDATE_KERNEL || role == CLRNN_PARAM_PROJ ||
                                     role == CLRNN_PARAM_DENSE_W;
                if (required) {
                    assert_refused(clrnn_rnn_get_param(r, f, t.L - 1, t.D - 1, p, buf, n), CLRNN_ERR_MISSING_WEIGHTS,
                                   buf, 4096);
                } else {
                    TU_OK(clrnn_rnn_get_param(r, f, t.L - 1, t.D - 1, p, buf, n));
                    for (size_t i = 0; i < n; ++i) assert_true(buf[i] == 0.0f);
                    for (size_t i = 0; i < 4096; ++i) buf[i] = POISON;
                }
            }
        assert_refused(clrnn_rnn_get_param(r, (clrnn_framework)4, 0, 0, CLRNN_PARAM_W, buf, 4 * H * I0),
                       CLRNN_ERR_INVALID_ARGUMENT, buf, 4096);
        assert_refused(clrnn_rnn_get_param(r, (clrnn_framework)-1, 0, 0, CLRNN_PARAM_W, buf, 4 * H * I0),
                       CLRNN_ERR_INVALID_ARGUMENT, buf, 4096);
        assert_refused(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_COUNT_, buf, 4),
                       CLRNN_ERR_INVALID_ARGUMENT, buf, 4096);
        assert_refused(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, NULL, 2 * (size_t)t.G * H),
                       CLRNN_ERR_NULL_ARGUMENT, NULL, 0);
        assert_refused(clrnn_rnn_get_param(NULL, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, buf, 2 * (size_t)t.G * H),
                       CLRNN_ERR_NULL_ARGUMENT, buf, 4096);
        free(buf);
        free(data);
        tweights_free(&t);
        clrnn_rnn_destroy(r);
    }
}

/* TF1 GRU: KERNEL alone sets z and r; W and R stay missing until CANDIDATE_KERNEL sets n. */
static void partly_set(void **state) {
    (void)state;
    uint64_t seed = 0x5eed0006;
    const config *c = &configs[7]; /* gru reset-before */
    tweights t;
    clrnn_rnn *r = rnn_of(c, &t, &seed);
    set_role(r, c, &t, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_KERNEL);
    const size_t nw = (size_t)3 * H * I0;
    float *buf = tu_alloc_poison(nw);
    assert_refused(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, buf, nw), CLRNN_ERR_MISSING_WEIGHTS,
                   buf, nw);
    assert_refused(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_CANDIDATE_KERNEL, buf, (I0 + H) * H),
                   CLRNN_ERR_MISSING_WEIGHTS, buf, nw);
    set_role(r, c, &t, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_CANDIDATE_KERNEL);
    TU_OK(clrnn_rnn_get_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, buf, nw));
    size_t n;
    float *want = expected(c, &t, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, &n);
    assert_int_equal(n, nw);
    assert_memory_equal(buf, want, nw * sizeof(float));
    free(want);
    free(buf);
    tweights_free(&t);
    clrnn_rnn_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cross_framework), cmocka_unit_test(round_trip), cmocka_unit_test(combined_role_split),
        cmocka_unit_test(gradients),       cmocka_unit_test(refusals),   cmocka_unit_test(partly_set),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
