/* Hostile ONNX models and misuse of a loaded one (issue 10: D3, D6 and D15 of the reliability
 * review), built here with a small protobuf encoder so that every case is exact and tiny:
 *   - nesting: every recursive message path of onnx.proto (types through sequence, map and
 *     optional; Graph → Node → Attribute.g / .graphs; Attribute.tp / .type_protos; functions,
 *     training graphs; tensors and sparse tensors at the bottom of a graph chain) at the depth
 *     bound (not refused for depth), one level more (refused, naming depth and bound) and 5,000
 *     levels, each loaded on a thread with a 256 KiB stack; the walk agrees with protobuf-c on
 *     every model of the ONNX suite and on mutated ones (it refuses nothing protobuf-c reads);
 *   - memory: a chain of ConstantOfShape nodes and of Expand nodes under small host and device
 *     budgets (CLRNN_MODEL_HOST_BUDGET / _DEVICE_BUDGET), a device buffer over the device's
 *     per-buffer limit, host copies of device outputs, budgets given back when buffers grow,
 *     the strict parsing of the variables, a real model under the default budgets;
 *   - clrnn_model_set_input: every way it can fail leaves the previous binding (the next run
 *     gives the same outputs, bit for bit), for every dtype conversion path;
 *   - issue 11's operators: shapes that do not broadcast, wrong dtypes and opset forms, axes and
 *     indices out of range, Tile/Pad/Range results over the budgets or beyond 2^31 elements. */
#include <pthread.h>

#include "onnx/onnx_case.h"
#include "onnx/onnx_internal.h"

/* ------------------------------------------------------------------------------------------
 * A protobuf encoder (wire format: varints and length-delimited fields)
 * ---------------------------------------------------------------------------------------- */
typedef struct pb {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_raw(pb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void pb_varint(pb *b, uint64_t v) {
    uint8_t t[10];
    size_t k = 0;
    do {
        t[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        ++k;
    } while (v);
    pb_raw(b, t, k);
}
static void pb_int(pb *b, int field, uint64_t v) {
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}
static void pb_bytes(pb *b, int field, const void *d, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, d, n);
}
static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
static void pb_msg(pb *b, int field, const pb *m) { pb_bytes(b, field, m->p, m->n); }
static void pb_free(pb *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* onnx.proto field numbers used below */
enum {
    MODEL_IR = 1, MODEL_GRAPH = 7, MODEL_OPSET = 8, MODEL_TRAINING = 20, MODEL_FUNCTIONS = 25,
    OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INIT = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12, GRAPH_VALUE_INFO = 13,
    GRAPH_SPARSE_INIT = 15,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTR = 5,
    ATTR_NAME = 1, ATTR_I = 3, ATTR_T = 5, ATTR_G = 6, ATTR_TENSORS = 10, ATTR_GRAPHS = 11, ATTR_TP = 14,
    ATTR_TYPE_PROTOS = 15, ATTR_TYPE = 20, ATTR_SPARSE = 22, ATTR_SPARSES = 23,
    VI_NAME = 1, VI_TYPE = 2,
    TYPE_TENSOR = 1, TYPE_SEQUENCE = 4, TYPE_MAP = 5, TYPE_OPTIONAL = 9,
    SEQ_ELEM = 1, MAP_VALUE = 2, OPT_ELEM = 1,
    TT_ELEM = 1, TT_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
    TENSOR_DIMS = 1, TENSOR_TYPE = 2, TENSOR_SEGMENT = 3, TENSOR_NAME = 8, TENSOR_RAW = 9,
    SPARSE_VALUES = 1, SPARSE_INDICES = 2,
    FUNC_NODE = 7, TRAINING_INIT = 1, TRAINING_ALGO = 2
};

/* ModelProto{ir_version 8, opset_import {"" 14}} followed by `rest` (its other fields). */
static pb model_with(const pb *rest) {
    pb m = {0}, op = {0};
    pb_int(&m, MODEL_IR, 8);
    pb_int(&op, OPSET_VERSION, 14);
    pb_msg(&m, MODEL_OPSET, &op);
    pb_raw(&m, rest->p, rest->n);
    pb_free(&op);
    return m;
}

/* A TensorProto: int64 or float data (raw), dims as given. */
static void pb_tensor(pb *b, int field, const char *name, int onnx_type, int ndim, const int64_t *dims, const void *data,
                      size_t bytes) {
    pb t = {0};
    for (int i = 0; i < ndim; ++i) pb_int(&t, TENSOR_DIMS, (uint64_t)dims[i]);
    pb_int(&t, TENSOR_TYPE, (uint64_t)onnx_type);
    if (name) pb_str(&t, TENSOR_NAME, name);
    pb_bytes(&t, TENSOR_RAW, data, bytes);
    pb_msg(b, field, &t);
    pb_free(&t);
}

/* A ValueInfoProto of a tensor: elem type, dims (>= 0 values, -1 the symbolic name `sym`). */
static void pb_value_info(pb *b, int field, const char *name, int onnx_type, int ndim, const int64_t *dims,
                          const char *sym) {
    pb vi = {0}, ty = {0}, tt = {0}, sh = {0};
    pb_int(&tt, TT_ELEM, (uint64_t)onnx_type);
    if (ndim >= 0) {
        for (int i = 0; i < ndim; ++i) {
            pb d = {0};
            if (dims[i] >= 0) pb_int(&d, DIM_VALUE, (uint64_t)dims[i]);
            else pb_str(&d, DIM_PARAM, sym);
            pb_msg(&sh, SHAPE_DIM, &d);
            pb_free(&d);
        }
        pb_msg(&tt, TT_SHAPE, &sh);
    }
    pb_msg(&ty, TYPE_TENSOR, &tt);
    pb_str(&vi, VI_NAME, name);
    pb_msg(&vi, VI_TYPE, &ty);
    pb_msg(b, field, &vi);
    pb_free(&vi), pb_free(&ty), pb_free(&tt), pb_free(&sh);
}

/* A NodeProto; inputs/outputs NULL-terminated; `attrs` its encoded attributes (or NULL). */
static void pb_node(pb *g, const char *name, const char *op, const char *const *in, const char *const *out,
                    const pb *attrs) {
    pb n = {0};
    for (; in && *in; ++in) pb_str(&n, NODE_INPUT, *in);
    for (; out && *out; ++out) pb_str(&n, NODE_OUTPUT, *out);
    pb_str(&n, NODE_NAME, name);
    pb_str(&n, NODE_OP, op);
    if (attrs) pb_raw(&n, attrs->p, attrs->n);
    pb_msg(g, GRAPH_NODE, &n);
    pb_free(&n);
}

/* ------------------------------------------------------------------------------------------
 * Loading on a thread with a small stack
 * ---------------------------------------------------------------------------------------- */
#define SMALL_STACK (256u << 10)

typedef struct load_job {
    const pb *model;
    clrnn_status st;
    clrnn_model *m;
    char msg[2048];
} load_job;

static void *load_thread(void *arg) {
    load_job *j = arg;
    j->m = (clrnn_model *)1;
    j->st = clrnn_onnx_load_memory(tu_context(), j->model->p, j->model->n, &j->m);
    snprintf(j->msg, sizeof j->msg, "%s", clrnn_last_error()); /* the error is per thread */
    if (j->st != CLRNN_OK && j->m) j->m = (clrnn_model *)2; /* reported below */
    clrnn_model_destroy(j->st == CLRNN_OK ? j->m : NULL);
    return NULL;
}

/* Loads `model` on a 256 KiB stack; a stack overflow kills the test program. */
static load_job load_small_stack(const pb *model) {
    load_job j = {model, CLRNN_OK, NULL, ""};
    pthread_attr_t attr;
    pthread_t t;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, SMALL_STACK), 0);
    assert_int_equal(pthread_create(&t, &attr, load_thread, &j), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&attr);
    if (j.st != CLRNN_OK && j.m != NULL) fail_msg("a failed load left *out set (%s)", j.msg);
    return j;
}

/* ------------------------------------------------------------------------------------------
 * D3: nesting
 * ---------------------------------------------------------------------------------------- */
/* A chain of nested messages from ModelProto down: the fields `prefix`, then `cycle` repeated
 * (a partial cycle at the end when `suffixes` is empty), then one of `suffixes` (chosen by
 * length to land on the exact depth; they apply after a cycle minus its last field). */
typedef struct nest_path {
    const char *name;
    int prefix[6], n_prefix;
    int cycle[6], n_cycle;
    int suffixes[3][4], n_suffix[3]; /* by length 1, 2, 3 (0: none) */
} nest_path;

static const nest_path paths[] = {
    {"TypeProto.sequence_type (graph input)", {MODEL_GRAPH, GRAPH_INPUT, VI_TYPE}, 3, {TYPE_SEQUENCE, SEQ_ELEM}, 2, {{0}}, {0}},
    {"TypeProto.map_type (graph output)", {MODEL_GRAPH, GRAPH_OUTPUT, VI_TYPE}, 3, {TYPE_MAP, MAP_VALUE}, 2, {{0}}, {0}},
    {"TypeProto.optional_type (value_info)", {MODEL_GRAPH, GRAPH_VALUE_INFO, VI_TYPE}, 3, {TYPE_OPTIONAL, OPT_ELEM}, 2, {{0}}, {0}},
    {"sequence/map/optional mixed", {MODEL_GRAPH, GRAPH_INPUT, VI_TYPE}, 3,
     {TYPE_SEQUENCE, SEQ_ELEM, TYPE_MAP, MAP_VALUE, TYPE_OPTIONAL, OPT_ELEM}, 6, {{0}}, {0}},
    {"AttributeProto.tp", {MODEL_GRAPH, GRAPH_NODE, NODE_ATTR, ATTR_TP}, 4, {TYPE_SEQUENCE, SEQ_ELEM}, 2, {{0}}, {0}},
    {"AttributeProto.type_protos", {MODEL_GRAPH, GRAPH_NODE, NODE_ATTR, ATTR_TYPE_PROTOS}, 4, {TYPE_OPTIONAL, OPT_ELEM}, 2,
     {{0}}, {0}},
    {"Graph -> Node -> Attribute.g", {MODEL_GRAPH}, 1, {GRAPH_NODE, NODE_ATTR, ATTR_G}, 3, {{0}}, {0}},
    {"Graph -> Node -> Attribute.graphs", {MODEL_GRAPH}, 1, {GRAPH_NODE, NODE_ATTR, ATTR_GRAPHS}, 3, {{0}}, {0}},
    {"FunctionProto -> Node -> Attribute.g", {MODEL_FUNCTIONS, FUNC_NODE, NODE_ATTR, ATTR_G}, 4,
     {GRAPH_NODE, NODE_ATTR, ATTR_G}, 3, {{0}}, {0}},
    {"TrainingInfoProto.algorithm", {MODEL_TRAINING, TRAINING_ALGO}, 2, {GRAPH_NODE, NODE_ATTR, ATTR_GRAPHS}, 3, {{0}}, {0}},
    {"TrainingInfoProto.initialization", {MODEL_TRAINING, TRAINING_INIT}, 2, {GRAPH_NODE, NODE_ATTR, ATTR_G}, 3, {{0}}, {0}},
    {"graph chain ending in attribute tensors", {MODEL_GRAPH}, 1, {GRAPH_NODE, NODE_ATTR, ATTR_G}, 3,
     {{ATTR_TENSORS}, {ATTR_T, TENSOR_SEGMENT}, {ATTR_SPARSES, SPARSE_INDICES, TENSOR_SEGMENT}}, {1, 2, 3}},
    {"graph chain ending in a sparse attribute", {MODEL_GRAPH}, 1, {GRAPH_NODE, NODE_ATTR, ATTR_GRAPHS}, 3,
     {{ATTR_T}, {ATTR_SPARSE, SPARSE_VALUES}, {ATTR_SPARSE, SPARSE_VALUES, TENSOR_SEGMENT}}, {1, 2, 3}},
};

/* The fields of a chain of `depth` messages (depth - 1 fields); returns their count. */
static size_t path_fields(const nest_path *p, int depth, int *f) {
    const size_t want = (size_t)depth - 1;
    size_t k = 0;
    for (int i = 0; i < p->n_prefix; ++i) f[k++] = p->prefix[i];
    if (!p->n_suffix[0]) {
        for (size_t c = 0; k < want; ++c) f[k++] = p->cycle[c % (size_t)p->n_cycle];
        return k;
    }
    /* whole cycles, the cycle less its last field, then the suffix of the length that fits */
    const size_t rest = want - k - (size_t)(p->n_cycle - 1);
    const size_t s = (rest - 1) % 3 + 1, whole = (rest - s) / (size_t)p->n_cycle;
    for (size_t c = 0; c < whole * (size_t)p->n_cycle + (size_t)(p->n_cycle - 1); ++c) f[k++] = p->cycle[c % (size_t)p->n_cycle];
    for (size_t i = 0; i < s; ++i) f[k++] = p->suffixes[s - 1][i];
    return k;
}

/* The model of a chain: innermost message empty; each level holds the next as its only field
 * (ModelProto also its ir_version and opset). */
static pb nested_model(const nest_path *p, int depth) {
    int *f = malloc((size_t)depth * sizeof *f);
    assert_non_null(f);
    const size_t n = path_fields(p, depth, f);
    assert_int_equal(n, (size_t)depth - 1);
    pb cur = {0};
    for (size_t i = n; i-- > 1;) {
        pb next = {0};
        pb_msg(&next, f[i], &cur);
        pb_free(&cur);
        cur = next;
    }
    pb top = {0};
    pb_msg(&top, f[0], &cur);
    pb m = model_with(&top);
    pb_free(&cur), pb_free(&top);
    free(f);
    return m;
}

static void test_nesting_every_path(void **state) {
    (void)state;
    tu_context(); /* created here, on the main thread */
    char depth_msg[64], bound_msg[64];
    snprintf(depth_msg, sizeof depth_msg, "%d levels deep", CLRNN_OX_MAX_NESTING + 1);
    snprintf(bound_msg, sizeof bound_msg, "at most %d levels", CLRNN_OX_MAX_NESTING);
    for (size_t i = 0; i < sizeof paths / sizeof *paths; ++i) {
        const nest_path *p = &paths[i];
        const int depths[] = {CLRNN_OX_MAX_NESTING - 1, CLRNN_OX_MAX_NESTING, CLRNN_OX_MAX_NESTING + 1, 5000};
        for (size_t d = 0; d < sizeof depths / sizeof *depths; ++d) {
            pb model = nested_model(p, depths[d]);
            int got = 0;
            /* the encoder built what it says: the walk measures the same depth */
            const clrnn_status wst = clrnn_ox_check_wire(&onnx__model_proto__descriptor, model.p, model.n, "an ONNX model", &got);
            load_job j = load_small_stack(&model);
            if (depths[d] <= CLRNN_OX_MAX_NESTING) {
                if (wst != CLRNN_OK || got != depths[d])
                    fail_msg("%s, depth %d: walk says %s, depth %d (%s)", p->name, depths[d], clrnn_status_name(wst), got,
                             clrnn_last_error());
                /* decoded: it may fail later (these are no runnable models), but not for its depth */
                if (strstr(j.msg, "levels deep")) fail_msg("%s, depth %d refused: %s", p->name, depths[d], j.msg);
            } else {
                if (j.st != CLRNN_ERR_CORRUPT_FILE || !strstr(j.msg, depth_msg) || !strstr(j.msg, bound_msg))
                    fail_msg("%s, depth %d (%zu bytes): %s, %s", p->name, depths[d], model.n, clrnn_status_name(j.st), j.msg);
            }
            pb_free(&model);
        }
    }
}

/* A model nested deeper than the bound in several places at once, and inside a valid model:
 * the first offending spot is named. */
static void test_nesting_inside_a_real_model(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/gru_1layer_state/model.onnx", getenv("CLRNN_ONNX_TORCH"));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    pb real = {0};
    uint8_t buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) pb_raw(&real, buf, n);
    fclose(f);
    load_job j = load_small_stack(&real);
    if (j.st != CLRNN_OK) fail_msg("%s", j.msg);
    /* protobuf merges repeated occurrences of a message field: a second ModelProto.graph field
     * carrying a deep chain lands in the same graph */
    pb deep = nested_model(&paths[6], CLRNN_OX_MAX_NESTING + 1);
    pb both = {0};
    pb_raw(&both, real.p, real.n);
    pb_raw(&both, deep.p, deep.n);
    j = load_small_stack(&both);
    assert_int_equal(j.st, CLRNN_ERR_CORRUPT_FILE);
    assert_non_null(strstr(j.msg, "levels deep"));
    assert_non_null(strstr(j.msg, "onnx.GraphProto"));
    pb_free(&real), pb_free(&deep), pb_free(&both);
}

static pb read_all(const char *path) {
    pb b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) pb_raw(&b, buf, n);
    fclose(f);
    return b;
}

/* The walk and protobuf-c agree on whether bytes frame a message: on the real models, on every
 * prefix of one and on random mutations (a byte changed, bytes inserted or removed). The walk
 * may accept what protobuf-c then refuses for other reasons (a wire type that does not match the
 * field), but it must never refuse what protobuf-c decodes. */
static int walk_ok(const pb *b) {
    return clrnn_ox_check_wire(&onnx__model_proto__descriptor, b->p, b->n, "an ONNX model", NULL) == CLRNN_OK;
}
static int unpack_ok(const pb *b) {
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, b->n, b->p);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    return mp != NULL;
}

static void walk_agrees(const pb *b, const char *what, int *agree_refused) {
    const int w = walk_ok(b), u = unpack_ok(b);
    if (u && !w) fail_msg("%s: protobuf-c decodes it, the walk refuses it: %s", what, clrnn_last_error());
    if (!u && !w) ++*agree_refused;
}

/* Every model of a directory of cases (<dir>/<case>/model.onnx) or of .onnx files. */
static int walk_real_models(const char *dir, int flat) {
    int n = 0, models = 0;
    char **names = oc_list(dir, NULL, &n);
    for (int i = 0; i < n; ++i) {
        char path[2048];
        if (flat) {
            const size_t len = strlen(names[i]);
            if (len < 5 || strcmp(names[i] + len - 5, ".onnx")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        } else {
            snprintf(path, sizeof path, "%s/%s/model.onnx", dir, names[i]);
            if (!oc_exists(path)) continue;
        }
        pb b = read_all(path);
        int depth = 0;
        if (clrnn_ox_check_wire(&onnx__model_proto__descriptor, b.p, b.n, "an ONNX model", &depth) != CLRNN_OK || !unpack_ok(&b))
            fail_msg("%s: %s", path, clrnn_last_error());
        if (depth > CLRNN_OX_MAX_NESTING / 3) /* real models reach 14; the bound leaves room */
            fail_msg("%s nests %d levels", path, depth);
        ++models;
        pb_free(&b);
    }
    oc_free_list(names, n);
    return models;
}

static void test_walk_agrees_with_protobuf_c(void **state) {
    (void)state;
    const char *node = getenv("CLRNN_ONNX_TESTDATA"), *torch = getenv("CLRNN_ONNX_TORCH");
    if (!node || !*node) node = "/usr/share/libonnx-testdata/data/node";
    char dir[1200];
    int models = 0, refused = 0;
    const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    for (size_t i = 0; i < sizeof suites / sizeof *suites; ++i) {
        snprintf(dir, sizeof dir, "%s/../%s", node, suites[i]);
        models += walk_real_models(dir, 0);
    }
    const char *ours[] = {"torch", "cases", "invalid"};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; ++i) {
        snprintf(dir, sizeof dir, "%s/../%s", torch, ours[i]);
        models += walk_real_models(dir, i == 2);
    }
    print_message("%d real models walked\n", models);
    assert_true(models > 1100);

    char path[1024];
    snprintf(path, sizeof path, "%s/lstm_2layer_bidirectional_batch_first_state/model.onnx", getenv("CLRNN_ONNX_TORCH"));
    pb real = read_all(path);
    for (size_t len = 0; len < real.n; ++len) {
        pb prefix = {real.p, len, len};
        walk_agrees(&prefix, "a prefix", &refused);
    }
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int k = 0; k < 20000; ++k) {
        pb b = {0};
        pb_raw(&b, real.p, real.n);
        const int edits = 1 + (int)(tu_next(&s) % 4);
        for (int e = 0; e < edits && b.n > 8; ++e) {
            const size_t at = (size_t)(tu_next(&s) % b.n);
            const uint64_t r = tu_next(&s);
            switch (r % 4) {
            case 0: b.p[at] = (uint8_t)(r >> 8); break;
            case 1: b.p[at] ^= (uint8_t)(1u << ((r >> 8) % 8)); break;
            case 2: /* remove a few bytes */
                memmove(b.p + at, b.p + at + 1, b.n - at - 1), b.n--;
                break;
            default: { /* insert a varint-looking byte */
                const uint8_t x = (uint8_t)(r >> 8);
                pb_raw(&b, &x, 1);
                memmove(b.p + at + 1, b.p + at, b.n - at - 1);
                b.p[at] = x;
            }
            }
        }
        walk_agrees(&b, "a mutation", &refused);
        pb_free(&b);
    }
    print_message("%d prefixes and mutations refused by both\n", refused);
    assert_true(refused > 1000); /* the mutations did reach the framing checks */
    pb_free(&real);
}

/* ------------------------------------------------------------------------------------------
 * D6: memory budgets
 * ---------------------------------------------------------------------------------------- */
static void set_budgets(const char *host, const char *device) {
    if (host) setenv("CLRNN_MODEL_HOST_BUDGET", host, 1);
    else unsetenv("CLRNN_MODEL_HOST_BUDGET");
    if (device) setenv("CLRNN_MODEL_DEVICE_BUDGET", device, 1);
    else unsetenv("CLRNN_MODEL_DEVICE_BUDGET");
}

static clrnn_model *load_pb(const pb *model, clrnn_status *st) {
    clrnn_model *m = (clrnn_model *)1;
    *st = clrnn_onnx_load_memory(tu_context(), model->p, model->n, &m);
    if (*st != CLRNN_OK) assert_null(m);
    return m;
}

/* `n` ConstantOfShape nodes cos<i>, each filling an int64 tensor of `elems` elements (value i+1),
 * the shape an initializer; output: cos0. (The review's 3 KB file had 64 nodes of 256 MiB.) */
static pb constant_of_shape_chain(int n, int64_t elems) {
    pb g = {0};
    const int64_t one = 1;
    pb_tensor(&g, GRAPH_INIT, "S", OX_INT64, 1, &one, &elems, sizeof elems);
    for (int i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "cos%d", i);
        const char *in[] = {"S", NULL}, *out[] = {name, NULL};
        const int64_t v = i + 1;
        pb a = {0}, attr = {0};
        pb_str(&attr, ATTR_NAME, "value");
        pb_int(&attr, ATTR_TYPE, 4 /* TENSOR */);
        pb_tensor(&attr, ATTR_T, "v", OX_INT64, 1, &one, &v, sizeof v);
        pb_msg(&a, NODE_ATTR, &attr);
        pb_node(&g, name, "ConstantOfShape", in, out, &a);
        pb_free(&a), pb_free(&attr);
    }
    pb_value_info(&g, GRAPH_OUTPUT, "cos0", OX_INT64, -1, NULL, NULL);
    pb gm = {0};
    pb_msg(&gm, MODEL_GRAPH, &g);
    pb m = model_with(&gm);
    pb_free(&g), pb_free(&gm);
    return m;
}

/* `n` Expand nodes exp<i> of a float X[1] (a random value) to [elems]; outputs exp0 .. exp<n-1>. */
static pb expand_chain(int n, int64_t elems, float x) {
    pb g = {0};
    const int64_t one = 1;
    pb_tensor(&g, GRAPH_INIT, "X", OX_FLOAT, 1, &one, &x, sizeof x);
    pb_tensor(&g, GRAPH_INIT, "S", OX_INT64, 1, &one, &elems, sizeof elems);
    for (int i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "exp%d", i);
        const char *in[] = {"X", "S", NULL}, *out[] = {name, NULL};
        pb_node(&g, name, "Expand", in, out, NULL);
    }
    for (int i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "exp%d", i);
        pb_value_info(&g, GRAPH_OUTPUT, name, OX_FLOAT, -1, NULL, NULL);
    }
    pb gm = {0};
    pb_msg(&gm, MODEL_GRAPH, &g);
    pb m = model_with(&gm);
    pb_free(&g), pb_free(&gm);
    return m;
}

static void expect_msg(const char *const *needles) {
    for (; *needles; ++needles)
        if (!strstr(clrnn_last_error(), *needles)) fail_msg("message lacks '%s': %s", *needles, clrnn_last_error());
}

static void test_host_budget_constant_of_shape(void **state) {
    (void)state;
    clrnn_status st;
    /* 64 nodes of 8 MiB under a 20 MiB budget: the third is refused, naming node, bytes and budget */
    set_budgets("20M", NULL);
    pb model = constant_of_shape_chain(64, 1 << 20);
    assert_true(model.n < 6000);
    assert_null(load_pb(&model, &st));
    assert_int_equal(st, CLRNN_ERR_OUT_OF_MEMORY);
    const char *want[] = {"node 'cos2' (ConstantOfShape)", "needs 8388608 bytes on the host", "16777224 bytes",
                          "host budget of 20971520 bytes", "CLRNN_MODEL_HOST_BUDGET", NULL};
    expect_msg(want);
    pb_free(&model);
    /* two fit, and the folded values are right */
    model = constant_of_shape_chain(2, 1 << 20);
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    clrnn_array out;
    TU_OK(clrnn_model_get_output(m, "cos0", &out));
    assert_int_equal(out.count, 1 << 20);
    assert_int_equal(((int64_t *)out.data)[0], 1);
    assert_int_equal(((int64_t *)out.data)[out.count - 1], 1);
    clrnn_array_free(&out);
    clrnn_model_destroy(m);
    pb_free(&model);
    /* the initializers count too: a budget below them refuses the model at its first initializer */
    set_budgets("4", NULL);
    model = constant_of_shape_chain(1, 1);
    assert_null(load_pb(&model, &st));
    assert_int_equal(st, CLRNN_ERR_OUT_OF_MEMORY);
    const char *want2[] = {"value 'S' needs 8 bytes", "budget of 4 bytes", NULL};
    expect_msg(want2);
    pb_free(&model);
    set_budgets(NULL, NULL);
}

static void test_device_budget_expand(void **state) {
    (void)state;
    clrnn_status st;
    uint64_t s = 42;
    const float x = tu_uniform(&s, -2.0f, 2.0f);
    /* the review's 81-byte model: one Expand to 2^30-1 floats (4 GiB), over the device's
     * per-buffer limit here or, on a device allowing that, over a 64 MiB budget */
    set_budgets(NULL, "64M");
    pb model = expand_chain(1, (1 << 30) - 1, x);
    assert_true(model.n < 128);
    assert_null(load_pb(&model, &st));
    assert_int_equal(st, CLRNN_ERR_DEVICE_OUT_OF_MEMORY);
    const char *want[] = {"node 'exp0' (Expand)", "4294967292 bytes", NULL};
    expect_msg(want);
    pb_free(&model);
    /* the total: 4 MiB each under a 10 MiB device budget, the third is refused */
    set_budgets(NULL, "10M");
    model = expand_chain(8, 1 << 20, x);
    assert_null(load_pb(&model, &st));
    assert_int_equal(st, CLRNN_ERR_DEVICE_OUT_OF_MEMORY);
    const char *want2[] = {"node 'exp2' (Expand)", "needs 4194304 bytes on the device", "device budget of 10485760 bytes",
                           "CLRNN_MODEL_DEVICE_BUDGET", NULL};
    expect_msg(want2);
    pb_free(&model);
    /* two fit on the device; reading one back needs a host copy, under the host budget */
    set_budgets("6M", "10M");
    model = expand_chain(2, 1 << 20, x);
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    clrnn_array out;
    TU_OK(clrnn_model_get_output(m, "exp0", &out));
    assert_int_equal(out.count, 1 << 20);
    assert_true(((float *)out.data)[0] == x && ((float *)out.data)[out.count - 1] == x);
    clrnn_array_free(&out);
    assert_int_equal(clrnn_model_get_output(m, "exp1", &out), CLRNN_ERR_OUT_OF_MEMORY);
    const char *want3[] = {"value 'exp1' needs 4194304 bytes on the host", "host budget of 6291456 bytes", NULL};
    expect_msg(want3);
    assert_null(out.data);
    clrnn_model_destroy(m);
    pb_free(&model);
    set_budgets(NULL, NULL);
}

/* Y = Relu(X), X float [n] (n free): a model whose buffers grow with the input. */
static pb relu_model(void) {
    pb g = {0};
    const int64_t dims[] = {-1};
    const char *in[] = {"X", NULL}, *out[] = {"Y", NULL};
    pb_node(&g, "relu", "Relu", in, out, NULL);
    pb_value_info(&g, GRAPH_INPUT, "X", OX_FLOAT, 1, dims, "n");
    pb_value_info(&g, GRAPH_OUTPUT, "Y", OX_FLOAT, 1, dims, "n");
    pb gm = {0};
    pb_msg(&gm, MODEL_GRAPH, &g);
    pb m = model_with(&gm);
    pb_free(&g), pb_free(&gm);
    return m;
}

/* Buffers that grow give their old size back: ten runs of growing inputs allocate 4.4 MB in
 * all on each side, under budgets of 1 MiB, since at most 800 KB live at once. */
static void test_budget_given_back(void **state) {
    (void)state;
    clrnn_status st;
    set_budgets("1M", "1M");
    pb model = relu_model();
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    uint64_t s = 7;
    for (int round = 0; round < 2; ++round)
        for (int i = 1; i <= 10; ++i) {
            const size_t n = (size_t)(round ? 11 - i : i) * 10000;
            float *x = tu_alloc_random(n, &s, -1.0f, 1.0f);
            clrnn_array a = {CLRNN_DTYPE_FLOAT32, 1, {(int64_t)n}, n, x}, y;
            TU_OK(clrnn_model_set_input(m, "X", &a));
            TU_OK(clrnn_model_run(m));
            TU_OK(clrnn_model_get_output(m, "Y", &y));
            assert_int_equal(y.count, n);
            for (size_t k = 0; k < n; ++k) assert_true(((float *)y.data)[k] == (x[k] > 0 ? x[k] : 0.0f));
            clrnn_array_free(&y);
            free(x);
        }
    /* 140,000 floats: X fits on the host (560 KB + Y's 400 KB) but X and Y not on the device */
    const size_t n = 140000;
    float *x = tu_alloc_random(n, &s, -1.0f, 1.0f);
    clrnn_array a = {CLRNN_DTYPE_FLOAT32, 1, {(int64_t)n}, n, x};
    TU_OK(clrnn_model_set_input(m, "X", &a));
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_DEVICE_OUT_OF_MEMORY);
    const char *want[] = {"node 'relu' (Relu)", "560000 bytes on the device", NULL};
    expect_msg(want);
    free(x);
    clrnn_model_destroy(m);
    /* and loading and destroying models: each has its own budget */
    for (int i = 0; i < 20; ++i) {
        m = load_pb(&model, &st);
        TU_OK(st);
        clrnn_model_destroy(m);
    }
    pb_free(&model);
    set_budgets(NULL, NULL);
}

static void test_budget_variables(void **state) {
    (void)state;
    pb model = relu_model();
    clrnn_status st;
    const char *bad[] = {"abc", "-1", "+5", " 5", "5 ", "1.5G", "12X", "0", "0K", "1KB", "1k",
                         "99999999999999999999999", "18014398509481984K", "K"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i)
        for (int dev = 0; dev < 2; ++dev) {
            set_budgets(dev ? NULL : bad[i], dev ? bad[i] : NULL);
            assert_null(load_pb(&model, &st));
            if (st != CLRNN_ERR_INVALID_ARGUMENT) fail_msg("'%s': %s", bad[i], clrnn_status_name(st));
            assert_non_null(strstr(clrnn_last_error(), dev ? "CLRNN_MODEL_DEVICE_BUDGET" : "CLRNN_MODEL_HOST_BUDGET"));
        }
    const char *good[] = {"1", "4096", "64K", "3M", "2G", "1T", "", "18446744073709551615"};
    for (size_t i = 0; i < sizeof good / sizeof *good; ++i) {
        set_budgets(good[i], good[i]);
        clrnn_model *m = load_pb(&model, &st);
        if (st != CLRNN_OK) fail_msg("'%s': %s", good[i], clrnn_last_error());
        clrnn_model_destroy(m);
    }
    pb_free(&model);
    set_budgets(NULL, NULL);
}

/* A real model under the default budgets loads and reproduces its reference outputs. */
static void test_default_budget_real_model(void **state) {
    (void)state;
    set_budgets(NULL, NULL);
    const char *torch = getenv("CLRNN_ONNX_TORCH");
    char path[1200];
    snprintf(path, sizeof path, "%s/gru_1layer_state/model.onnx", torch);
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(tu_context(), path, &m));
    const char *ins[] = {"x", "h0"}, *outs[] = {"y", "hn"};
    for (int i = 0; i < 2; ++i) {
        snprintf(path, sizeof path, "%s/gru_1layer_state/set0/in/%s.npy", torch, ins[i]);
        clrnn_array a;
        TU_OK(clrnn_npy_load(path, &a));
        TU_OK(clrnn_model_set_input(m, ins[i], &a));
        clrnn_array_free(&a);
    }
    TU_OK(clrnn_model_run(m));
    for (int i = 0; i < 2; ++i) {
        snprintf(path, sizeof path, "%s/gru_1layer_state/set0/out/%s.npy", torch, outs[i]);
        clrnn_array want, got;
        char msg[512];
        double err;
        TU_OK(clrnn_npy_load(path, &want));
        TU_OK(clrnn_model_get_output(m, outs[i], &got));
        if (!oc_compare(&got, &want, 1e-5, 0.0, &err, msg, sizeof msg)) fail_msg("%s: %s", outs[i], msg);
        clrnn_array_free(&want), clrnn_array_free(&got);
    }
    clrnn_model_destroy(m);
}

/* ------------------------------------------------------------------------------------------
 * D15: a failing clrnn_model_set_input leaves the previous binding
 * ---------------------------------------------------------------------------------------- */
/* Inputs of every conversion path: x float [n, 3] (copy), idx int32 [k] (from int64: narrowed,
 * range-checked), pos int64 [2] (from int32: widened), b bool [2] (normalized to 0/1).
 * Outputs: y = Gather(x, idx), z = Gather(x, pos), w = Cast(b, FLOAT). */
static pb binding_model(void) {
    pb g = {0};
    const char *i1[] = {"x", "idx", NULL}, *o1[] = {"y", NULL};
    const char *i2[] = {"x", "pos", NULL}, *o2[] = {"z", NULL};
    const char *i3[] = {"b", NULL}, *o3[] = {"w", NULL};
    pb_node(&g, "gather_idx", "Gather", i1, o1, NULL);
    pb_node(&g, "gather_pos", "Gather", i2, o2, NULL);
    pb a = {0}, attr = {0};
    pb_str(&attr, ATTR_NAME, "to");
    pb_int(&attr, ATTR_TYPE, 2 /* INT */);
    pb_int(&attr, ATTR_I, OX_FLOAT);
    pb_msg(&a, NODE_ATTR, &attr);
    pb_node(&g, "cast", "Cast", i3, o3, &a);
    pb_free(&a), pb_free(&attr);
    const int64_t xd[] = {-1, 3}, kd[] = {-1}, two[] = {2};
    pb_value_info(&g, GRAPH_INPUT, "x", OX_FLOAT, 2, xd, "n");
    pb_value_info(&g, GRAPH_INPUT, "idx", OX_INT32, 1, kd, "k");
    pb_value_info(&g, GRAPH_INPUT, "pos", OX_INT64, 1, two, NULL);
    pb_value_info(&g, GRAPH_INPUT, "b", OX_BOOL, 1, two, NULL);
    pb_value_info(&g, GRAPH_OUTPUT, "y", OX_FLOAT, -1, NULL, NULL);
    pb_value_info(&g, GRAPH_OUTPUT, "z", OX_FLOAT, -1, NULL, NULL);
    pb_value_info(&g, GRAPH_OUTPUT, "w", OX_FLOAT, -1, NULL, NULL);
    pb gm = {0};
    pb_msg(&gm, MODEL_GRAPH, &g);
    pb m = model_with(&gm);
    pb_free(&g), pb_free(&gm);
    return m;
}

typedef struct outputs {
    clrnn_array a[3];
} outputs;

static outputs run_outputs(clrnn_model *m) {
    outputs o;
    TU_OK(clrnn_model_run(m));
    const char *names[] = {"y", "z", "w"};
    for (int i = 0; i < 3; ++i) TU_OK(clrnn_model_get_output(m, names[i], &o.a[i]));
    return o;
}

static void outputs_equal(const outputs *a, const outputs *b, const char *what) {
    for (int i = 0; i < 3; ++i) {
        const clrnn_array *x = &a->a[i], *y = &b->a[i];
        if (x->dtype != y->dtype || x->ndim != y->ndim || x->count != y->count ||
            memcmp(x->shape, y->shape, sizeof x->shape) || memcmp(x->data, y->data, x->count * clrnn_dtype_size(x->dtype)))
            fail_msg("after %s, output %d differs from the run before", what, i);
    }
}

static void outputs_free(outputs *o) {
    for (int i = 0; i < 3; ++i) clrnn_array_free(&o->a[i]);
}

typedef struct bad_bind {
    const char *what, *name;
    clrnn_array a;
    int null_array;
    clrnn_status want;
} bad_bind;

static void test_failed_set_input_keeps_binding(void **state) {
    (void)state;
    set_budgets("1M", NULL);
    pb model = binding_model();
    clrnn_status st;
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    uint64_t s = 99;
    float x[5 * 3];
    tu_fill(x, 15, &s, -3.0f, 3.0f);
    int64_t idx64[4] = {4, 0, 2, 1};
    int32_t idx32[4] = {3, 1, 0, 4}, pos32[2] = {2, 4};
    int64_t pos64[2] = {1, 3};
    uint8_t b[2] = {7, 0};
    const clrnn_array gx = {CLRNN_DTYPE_FLOAT32, 2, {5, 3}, 15, x};
    /* the good bindings, one per conversion path, each rebound before every failing call */
    const clrnn_array good[][2] = {
        {{CLRNN_DTYPE_INT64, 1, {4}, 4, idx64}, {CLRNN_DTYPE_INT32, 1, {4}, 4, idx32}}, /* idx: narrowed, copied */
        {{CLRNN_DTYPE_INT32, 1, {2}, 2, pos32}, {CLRNN_DTYPE_INT64, 1, {2}, 2, pos64}}, /* pos: widened, copied */
    };
    static float big[300000]; /* 1.2 MB: over the host budget of 1 MiB */
    int64_t far[4] = {1, 2, 3, (int64_t)1 << 40}, low[3] = {INT64_MIN, 0, 0}, mid[3] = {0, (int64_t)INT32_MAX + 1, 0};
    float one[3] = {0};
    const bad_bind bads[] = {
        {"wrong dtype", "x", {CLRNN_DTYPE_INT32, 2, {5, 3}, 15, idx32}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"uint8 for float", "x", {CLRNN_DTYPE_UINT8, 2, {5, 3}, 15, b}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"float for bool", "b", {CLRNN_DTYPE_FLOAT32, 1, {2}, 2, x}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"unknown dtype", "x", {(clrnn_dtype)77, 2, {5, 3}, 15, x}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"wrong rank", "x", {CLRNN_DTYPE_FLOAT32, 1, {15}, 15, x}, 0, CLRNN_ERR_SHAPE_MISMATCH},
        {"negative rank", "x", {CLRNN_DTYPE_FLOAT32, -1, {15}, 15, x}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"rank over the maximum", "x", {CLRNN_DTYPE_FLOAT32, CLRNN_MAX_DIMS + 1, {1}, 1, x}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"fixed dimension", "x", {CLRNN_DTYPE_FLOAT32, 2, {3, 5}, 15, x}, 0, CLRNN_ERR_SHAPE_MISMATCH},
        {"fixed dimension (pos)", "pos", {CLRNN_DTYPE_INT64, 1, {3}, 3, low}, 0, CLRNN_ERR_SHAPE_MISMATCH},
        {"negative dimension", "idx", {CLRNN_DTYPE_INT32, 1, {-4}, 4, idx32}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"count against shape", "x", {CLRNN_DTYPE_FLOAT32, 2, {5, 3}, 14, x}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"NULL data", "x", {CLRNN_DTYPE_FLOAT32, 2, {5, 3}, 15, NULL}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"int64 out of int32 range (last element)", "idx", {CLRNN_DTYPE_INT64, 1, {4}, 4, far}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"int64 out of int32 range (first element)", "idx", {CLRNN_DTYPE_INT64, 1, {3}, 3, low}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"int64 out of int32 range (middle)", "idx", {CLRNN_DTYPE_INT64, 1, {3}, 3, mid}, 0, CLRNN_ERR_INVALID_ARGUMENT},
        {"over 2^31-1 elements", "x", {CLRNN_DTYPE_FLOAT32, 2, {(int64_t)1 << 30, 3}, (size_t)3 << 30, one}, 0,
         CLRNN_ERR_UNSUPPORTED},
        {"over the host budget", "x", {CLRNN_DTYPE_FLOAT32, 2, {100000, 3}, 300000, big}, 0, CLRNN_ERR_OUT_OF_MEMORY},
        {"unknown name", "nope", {CLRNN_DTYPE_FLOAT32, 2, {5, 3}, 15, x}, 0, CLRNN_ERR_NOT_FOUND},
        {"NULL name", NULL, {CLRNN_DTYPE_FLOAT32, 2, {5, 3}, 15, x}, 0, CLRNN_ERR_NULL_ARGUMENT},
        {"NULL array", "x", {CLRNN_DTYPE_FLOAT32, 0, {0}, 0, NULL}, 1, CLRNN_ERR_NULL_ARGUMENT},
    };
    for (int variant = 0; variant < 2; ++variant) {
        TU_OK(clrnn_model_set_input(m, "x", &gx));
        TU_OK(clrnn_model_set_input(m, "idx", &good[0][variant]));
        TU_OK(clrnn_model_set_input(m, "pos", &good[1][variant]));
        const clrnn_array gb = {CLRNN_DTYPE_UINT8, 1, {2}, 2, b};
        TU_OK(clrnn_model_set_input(m, "b", &gb));
        outputs before = run_outputs(m);
        assert_true(((float *)before.a[2].data)[0] == 1.0f && ((float *)before.a[2].data)[1] == 0.0f); /* bool 7 → 1 */
        for (size_t i = 0; i < sizeof bads / sizeof *bads; ++i) {
            const bad_bind *bb = &bads[i];
            st = clrnn_model_set_input(m, bb->name, bb->null_array ? NULL : &bb->a);
            if (st != bb->want)
                fail_msg("%s: %s, expected %s (%s)", bb->what, clrnn_status_name(st), clrnn_status_name(bb->want),
                         clrnn_last_error());
            if (bb->want != CLRNN_ERR_NULL_ARGUMENT && bb->want != CLRNN_ERR_NOT_FOUND && !strstr(clrnn_last_error(), bb->name))
                fail_msg("%s: the message does not name the input: %s", bb->what, clrnn_last_error());
            outputs after = run_outputs(m);
            outputs_equal(&before, &after, bb->what);
            outputs_free(&after);
        }
        /* a good call after all that still rebinds */
        int32_t other[1] = {0};
        const clrnn_array o = {CLRNN_DTYPE_INT32, 1, {1}, 1, other};
        TU_OK(clrnn_model_set_input(m, "idx", &o));
        outputs after = run_outputs(m);
        assert_int_equal(after.a[0].count, 3);
        assert_memory_equal(after.a[0].data, x, 3 * sizeof(float));
        outputs_free(&after);
        outputs_free(&before);
    }
    clrnn_model_destroy(m);
    pb_free(&model);
    set_budgets(NULL, NULL);
}

/* ------------------------------------------------------------------------------------------
 * Issue 11: bad inputs of the operators exporters emit around RNNs. One-node models with their
 * data as initializers (folded at load, so the operator's run() refuses them at load) or as
 * graph inputs (refused at run, after which the model still runs correct data).
 * ---------------------------------------------------------------------------------------- */
typedef struct op_in {
    const char *name;
    int type; /* OX_FLOAT, OX_INT32, OX_INT64, OX_BOOL */
    int ndim;
    int64_t dims[4];
    const void *data; /* NULL: a graph input of any shape */
} op_in;

static size_t onnx_elem_size(int type) { return type == OX_INT64 ? 8 : type == OX_BOOL ? 1 : 4; }

enum { ATTR_F = 2, ATTR_S = 4, ATTR_INTS = 8 };
static void attr_int(pb *a, const char *name, int64_t v) {
    pb at = {0};
    pb_str(&at, ATTR_NAME, name);
    pb_int(&at, ATTR_I, (uint64_t)v);
    pb_int(&at, ATTR_TYPE, 2 /* INT */);
    pb_msg(a, NODE_ATTR, &at);
    pb_free(&at);
}
static void attr_ints(pb *a, const char *name, int n, const int64_t *v) {
    pb at = {0};
    pb_str(&at, ATTR_NAME, name);
    for (int i = 0; i < n; ++i) pb_int(&at, ATTR_INTS, (uint64_t)v[i]);
    pb_int(&at, ATTR_TYPE, 7 /* INTS */);
    pb_msg(a, NODE_ATTR, &at);
    pb_free(&at);
}
static void attr_str(pb *a, const char *name, const char *v) {
    pb at = {0};
    pb_str(&at, ATTR_NAME, name);
    pb_str(&at, ATTR_S, v);
    pb_int(&at, ATTR_TYPE, 3 /* STRING */);
    pb_msg(a, NODE_ATTR, &at);
    pb_free(&at);
}

/* Model: node 'op' of type `op` over `ins` (n_in of them), outputs y0 .. y<n_out-1>, at `opset`. */
static pb op_model(const char *op, const op_in *ins, int n_in, int n_out, const pb *attrs, int opset) {
    pb g = {0};
    const char *in[8] = {NULL}, *out[4] = {"y0", "y1", "y2", NULL};
    for (int i = 0; i < n_in; ++i) {
        in[i] = ins[i].name;
        if (ins[i].data) {
            size_t count = 1;
            for (int d = 0; d < ins[i].ndim; ++d) count *= (size_t)ins[i].dims[d];
            pb_tensor(&g, GRAPH_INIT, ins[i].name, ins[i].type, ins[i].ndim, ins[i].dims, ins[i].data,
                      count * onnx_elem_size(ins[i].type));
        } else if (*ins[i].name) {
            pb_value_info(&g, GRAPH_INPUT, ins[i].name, ins[i].type, -1, NULL, NULL);
        }
    }
    out[n_out] = NULL;
    pb_node(&g, "op", op, in, out, attrs);
    for (int i = 0; i < n_out; ++i) /* element type UNDEFINED: whatever the operator computes */
        pb_value_info(&g, GRAPH_OUTPUT, out[i], 0, -1, NULL, NULL);
    pb gm = {0}, m = {0}, os = {0};
    pb_msg(&gm, MODEL_GRAPH, &g);
    pb_int(&m, MODEL_IR, 8);
    pb_int(&os, OPSET_VERSION, (uint64_t)opset);
    pb_msg(&m, MODEL_OPSET, &os);
    pb_raw(&m, gm.p, gm.n);
    pb_free(&g), pb_free(&gm), pb_free(&os);
    return m;
}

/* Loads op_model(...) and expects the load to fail with `want`, the message naming the node and
 * containing every needle. */
static void expect_op_load(const char *what, const char *op, const op_in *ins, int n_in, int n_out, const pb *attrs,
                           int opset, clrnn_status want, const char *const *needles) {
    pb model = op_model(op, ins, n_in, n_out, attrs, opset);
    clrnn_status st;
    clrnn_model *m = load_pb(&model, &st);
    pb_free(&model);
    if (st != want) {
        clrnn_model_destroy(m);
        fail_msg("%s: %s, expected %s (%s)", what, clrnn_status_name(st), clrnn_status_name(want), clrnn_last_error());
    }
    char node[64];
    snprintf(node, sizeof node, "node 'op' (%s)", op);
    if (!strstr(clrnn_last_error(), node)) fail_msg("%s: message does not name the node: %s", what, clrnn_last_error());
    for (; needles && *needles; ++needles)
        if (!strstr(clrnn_last_error(), *needles)) fail_msg("%s: message lacks '%s': %s", what, *needles, clrnn_last_error());
}
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_ops_shapes_that_do_not_broadcast(void **state) {
    (void)state;
    const float a[3] = {1, 2, 3}, b[4] = {1, 2, 3, 4};
    const uint8_t c3[3] = {1, 0, 1}, c4[4] = {1, 0, 1, 1};
    const char *dim[] = {"shapes cannot be broadcast", "3", "4", NULL};
    const op_in ab[] = {{"a", OX_FLOAT, 1, {3}, a}, {"b", OX_FLOAT, 1, {4}, b}};
    const char *binary[] = {"Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "Pow", "Max", "Min", "Sum", "Mean"};
    for (size_t i = 0; i < sizeof binary / sizeof *binary; ++i)
        expect_op_load(binary[i], binary[i], ab, 2, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);
    /* the third input of a variadic op, and every pair of Where's three */
    const op_in three[] = {{"a", OX_FLOAT, 1, {3}, a}, {"a2", OX_FLOAT, 2, {1, 3}, a}, {"b", OX_FLOAT, 1, {4}, b}};
    expect_op_load("Max of 3", "Max", three, 3, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);
    const op_in logic[] = {{"p", OX_BOOL, 1, {3}, c3}, {"q", OX_BOOL, 1, {4}, c4}};
    expect_op_load("And", "And", logic, 2, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);
    expect_op_load("Xor", "Xor", logic, 2, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);
    const op_in w1[] = {{"c", OX_BOOL, 1, {4}, c4}, {"a", OX_FLOAT, 1, {3}, a}, {"b", OX_FLOAT, 1, {3}, a}};
    const op_in w2[] = {{"c", OX_BOOL, 1, {3}, c3}, {"a", OX_FLOAT, 1, {3}, a}, {"b", OX_FLOAT, 1, {4}, b}};
    expect_op_load("Where cond", "Where", w1, 3, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);
    expect_op_load("Where Y", "Where", w2, 3, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH, dim);

    /* at run time: a refused run leaves the model usable, and the next run is right */
    const op_in wg[] = {{"c", OX_BOOL, 0, {0}, NULL}, {"x", OX_FLOAT, 0, {0}, NULL}, {"z", OX_FLOAT, 0, {0}, NULL}};
    pb model = op_model("Where", wg, 3, 1, NULL, 16);
    clrnn_status st;
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    uint64_t s = 11;
    float x[12], z[4];
    tu_fill(x, 12, &s, -1, 1);
    tu_fill(z, 4, &s, -1, 1);
    uint8_t c[3] = {1, 0, 1};
    clrnn_array ca = {CLRNN_DTYPE_UINT8, 2, {3, 1}, 3, c}, xa = {CLRNN_DTYPE_FLOAT32, 2, {3, 4}, 12, x};
    clrnn_array za = {CLRNN_DTYPE_FLOAT32, 1, {3}, 3, z}, y;
    TU_OK(clrnn_model_set_input(m, "c", &ca));
    TU_OK(clrnn_model_set_input(m, "x", &xa));
    TU_OK(clrnn_model_set_input(m, "z", &za)); /* [3] against [3, 4]: no */
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_SHAPE_MISMATCH);
    assert_non_null(strstr(clrnn_last_error(), "node 'op' (Where)"));
    za.shape[0] = za.count = 4;
    TU_OK(clrnn_model_set_input(m, "z", &za));
    TU_OK(clrnn_model_run(m));
    TU_OK(clrnn_model_get_output(m, "y0", &y));
    assert_int_equal(y.ndim, 2);
    assert_int_equal(y.count, 12);
    for (int i = 0; i < 12; ++i) assert_true(((float *)y.data)[i] == (c[i / 4] ? x[i] : z[i % 4]));
    clrnn_array_free(&y);
    clrnn_model_destroy(m);
    pb_free(&model);
}

static void test_ops_wrong_dtypes(void **state) {
    (void)state;
    const float f[2] = {1, 2};
    const int32_t i32[2] = {1, 2};
    const int64_t i64[2] = {1, 2};
    const uint8_t bo[2] = {1, 0};
    const op_in ff[] = {{"a", OX_FLOAT, 1, {2}, f}, {"b", OX_FLOAT, 1, {2}, f}, {"c", OX_FLOAT, 1, {2}, f}};
    const op_in bb[] = {{"a", OX_BOOL, 1, {2}, bo}, {"b", OX_BOOL, 1, {2}, bo}};
    const op_in fi[] = {{"a", OX_FLOAT, 1, {2}, f}, {"b", OX_INT64, 1, {2}, i64}};
    const op_in ii[] = {{"a", OX_INT64, 1, {2}, i64}, {"b", OX_INT32, 1, {2}, i32}};
    const clrnn_status U = CLRNN_ERR_UNSUPPORTED;
    /* logic on numbers, orderings on bools, mixed types, a float condition */
    expect_op_load("And(float)", "And", ff, 2, 1, NULL, 14, U, NEEDLES("is float32; this operator takes bool"));
    expect_op_load("Not(float)", "Not", ff, 1, 1, NULL, 14, U, NEEDLES("is float32; this operator takes bool"));
    expect_op_load("Less(bool)", "Less", bb, 2, 1, NULL, 14, U, NEEDLES("is bool; Less compares numbers"));
    expect_op_load("Equal(float, int64)", "Equal", fi, 2, 1, NULL, 14, U, NEEDLES("float32", "int64", "same type"));
    expect_op_load("Greater(int64, int32)", "Greater", ii, 2, 1, NULL, 14, U, NEEDLES("same type"));
    expect_op_load("Where(float cond)", "Where", ff, 3, 1, NULL, 14, U, NEEDLES("condition ('a') is float32"));
    const op_in w[] = {{"c", OX_BOOL, 1, {2}, bo}, {"a", OX_FLOAT, 1, {2}, f}, {"b", OX_INT64, 1, {2}, i64}};
    expect_op_load("Where(float, int64)", "Where", w, 3, 1, NULL, 14, U, NEEDLES("same type"));
    expect_op_load("Max(float, int64)", "Max", fi, 2, 1, NULL, 14, U, NEEDLES("same type"));
    expect_op_load("Sum(bool)", "Sum", bb, 2, 1, NULL, 14, U, NEEDLES("bool"));
    expect_op_load("Mean(int64)", "Mean", ii, 1, 1, NULL, 14, U, NEEDLES("is int64", "float32")); /* float only (ONNX) */
    /* float-only math on integers and bools */
    const char *float_only[] = {"Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Erf", "Elu", "Selu",
                                "LeakyRelu", "HardSigmoid", "Softplus", "Softsign", "LogSoftmax"};
    for (size_t i = 0; i < sizeof float_only / sizeof *float_only; ++i) {
        expect_op_load(float_only[i], float_only[i], ii, 1, 1, NULL, 14, U, NEEDLES("is int64", "float32"));
        expect_op_load(float_only[i], float_only[i], bb, 1, 1, NULL, 14, U, NEEDLES("is bool"));
    }
    expect_op_load("Neg(bool)", "Neg", bb, 1, 1, NULL, 14, U, NEEDLES("is bool"));
    expect_op_load("ReduceSum(bool)", "ReduceSum", bb, 1, 1, NULL, 14, U, NEEDLES("is bool"));
    expect_op_load("ArgMax(bool)", "ArgMax", bb, 1, 1, NULL, 14, U, NEEDLES("is bool"));
    expect_op_load("Pow(bool)", "Pow", bb, 2, 1, NULL, 14, U, NEEDLES("is bool"));
    /* index, size and bound inputs of the wrong type */
    const op_in clip[] = {{"x", OX_FLOAT, 1, {2}, f}, {"lo", OX_INT32, 0, {0}, i32}};
    expect_op_load("Clip int32 bound", "Clip", clip, 2, 1, NULL, 14, U, NEEDLES("same type"));
    const op_in ge[] = {{"x", OX_FLOAT, 1, {2}, f}, {"i", OX_FLOAT, 1, {2}, f}};
    expect_op_load("GatherElements float indices", "GatherElements", ge, 2, 1, NULL, 14, U, NEEDLES("indices ('i') is float32"));
    expect_op_load("Tile float repeats", "Tile", ge, 2, 1, NULL, 14, U, NEEDLES("repeats ('i') is float32"));
    expect_op_load("ReverseSequence float lens", "ReverseSequence", ge, 2, 1, NULL, 14, U, NEEDLES("sequence_lens"));
    const op_in tk[] = {{"x", OX_FLOAT, 1, {2}, f}, {"k", OX_INT32, 1, {1}, i32}};
    expect_op_load("TopK int32 K", "TopK", tk, 2, 2, NULL, 14, U, NEEDLES("K ('k') is int32", "int64"));
    const op_in rg[] = {{"s", OX_FLOAT, 0, {0}, f}, {"l", OX_INT64, 0, {0}, i64}, {"d", OX_FLOAT, 0, {0}, f}};
    expect_op_load("Range mixed", "Range", rg, 3, 1, NULL, 14, U, NEEDLES("one type"));
    const op_in pd[] = {{"x", OX_FLOAT, 1, {2}, f}, {"p", OX_INT64, 1, {2}, i64}, {"v", OX_INT64, 0, {0}, i64}};
    expect_op_load("Pad int64 constant for float data", "Pad", pd, 3, 1, NULL, 14, U, NEEDLES("constant_value is int64"));
    const op_in sc[] = {{"x", OX_FLOAT, 1, {2}, f}, {"i", OX_INT64, 2, {1, 1}, i64}, {"u", OX_INT64, 1, {1}, i64}};
    expect_op_load("ScatterND int64 updates", "ScatterND", sc, 3, 1, NULL, 14, U, NEEDLES("updates are int64"));
    expect_op_load("ScatterElements int64 updates", "ScatterElements", sc, 3, 1, NULL, 14, U, NEEDLES("updates are int64"));
    const op_in sf[] = {{"x", OX_FLOAT, 1, {2}, f}, {"i", OX_FLOAT, 1, {2}, f}, {"u", OX_FLOAT, 1, {2}, f}};
    expect_op_load("ScatterElements float indices", "ScatterElements", sf, 3, 1, NULL, 14, U, NEEDLES("indices ('i') is float32"));
    const op_in ci[] = {{"x", OX_INT32, 1, {2}, i32}};
    expect_op_load("Clip int32 at opset 9", "Clip", ci, 1, 1, NULL, 9, U, NEEDLES("is int32", "float32"));
    /* the attribute and input forms of the other opset */
    pb a = {0};
    attr_int(&a, "min", 0);
    expect_op_load("Clip attribute at opset 14", "Clip", ff, 1, 1, &a, 14, U, NEEDLES("replaced by inputs in opset 11"));
    pb_free(&a);
    attr_ints(&a, "split", 2, i64);
    expect_op_load("Split attribute at opset 14", "Split", ff, 1, 2, &a, 14, U, NEEDLES("replaced by an input in opset 13"));
    pb_free(&a);
    attr_str(&a, "mode", "wrap");
    const op_in pw[] = {{"x", OX_FLOAT, 1, {2}, f}, {"p", OX_INT64, 1, {2}, i64}};
    expect_op_load("Pad wrap at opset 14", "Pad", pw, 2, 1, &a, 14, U, NEEDLES("mode 'wrap'"));
    pb_free(&a);
    attr_str(&a, "reduction", "max");
    const op_in sn[] = {{"x", OX_FLOAT, 1, {2}, f}, {"i", OX_INT64, 2, {1, 1}, i64}, {"u", OX_FLOAT, 1, {1}, f}};
    expect_op_load("ScatterND max at opset 16", "ScatterND", sn, 3, 1, &a, 16, U, NEEDLES("reduction 'max' at opset 16"));
    pb_free(&a);
    attr_ints(&a, "axes", 1, i64);
    expect_op_load("ReduceMax axes attribute at opset 18", "ReduceMax", ff, 1, 1, &a, 18, U,
                   NEEDLES("replaced by an input in opset 18"));
    expect_op_load("ReduceSum axes attribute at opset 13", "ReduceSum", ff, 1, 1, &a, 13, U,
                   NEEDLES("replaced by an input in opset 13"));
    pb_free(&a);
}

static void test_ops_axes_and_indices_out_of_range(void **state) {
    (void)state;
    const float f[6] = {1, 2, 3, 4, 5, 6};
    const op_in x[] = {{"x", OX_FLOAT, 2, {2, 3}, f}};
    const clrnn_status I = CLRNN_ERR_INVALID_ARGUMENT;
    struct {
        const char *op, *attr;
        int64_t axis;
        int n_out;
    } ax[] = {{"Split", "axis", 2, 1},   {"Split", "axis", -3, 1}, {"ArgMax", "axis", 2, 1}, {"ArgMin", "axis", -3, 1},
              {"Flatten", "axis", 3, 1}, {"Flatten", "axis", -3, 1}, {"Softmax", "axis", 2, 1}};
    for (size_t i = 0; i < sizeof ax / sizeof *ax; ++i) {
        pb a = {0};
        attr_int(&a, ax[i].attr, ax[i].axis);
        char want[64];
        snprintf(want, sizeof want, "axis = %lld is outside", (long long)ax[i].axis);
        expect_op_load(ax[i].op, ax[i].op, x, 1, ax[i].n_out, &a, 14, I, NEEDLES(want, "rank 2"));
        pb_free(&a);
    }
    const int64_t bad_axes[1] = {2};
    pb a = {0};
    attr_ints(&a, "axes", 1, bad_axes);
    expect_op_load("ReduceMax axes", "ReduceMax", x, 1, 1, &a, 14, I, NEEDLES("axes element = 2 is outside"));
    pb_free(&a);
    const op_in rs[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"axes", OX_INT64, 1, {1}, bad_axes}};
    expect_op_load("ReduceSum axes input", "ReduceSum", rs, 2, 1, NULL, 14, I, NEEDLES("axes element = 2 is outside"));
    /* indices beyond their axis */
    const int64_t gi[6] = {0, 1, 2, 0, -4, 1};
    const op_in ge[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"i", OX_INT64, 2, {2, 3}, gi}};
    attr_int(&a, "axis", 1);
    expect_op_load("GatherElements index", "GatherElements", ge, 2, 1, &a, 14, I, NEEDLES("index -4 (element 4", "[-3, 3)"));
    pb_free(&a);
    const int64_t si[2] = {0, 3}, k4 = 4, lens[3] = {1, 3, 1};
    const op_in sn[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"i", OX_INT64, 2, {1, 2}, si}, {"u", OX_FLOAT, 1, {1}, f}};
    expect_op_load("ScatterND index", "ScatterND", sn, 3, 1, NULL, 14, I, NEEDLES("index 3 (tuple 0, element 1)"));
    const int64_t ei[3] = {1, -3, 0};
    const op_in se[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"i", OX_INT64, 2, {1, 3}, ei}, {"u", OX_FLOAT, 2, {1, 3}, f}};
    expect_op_load("ScatterElements index", "ScatterElements", se, 3, 1, NULL, 14, I, NEEDLES("index -3 (element 1", "[-2, 2)"));
    const op_in se2[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"i", OX_INT64, 2, {1, 3}, ei}, {"u", OX_FLOAT, 2, {3, 1}, f}};
    expect_op_load("ScatterElements shapes", "ScatterElements", se2, 3, 1, NULL, 14, CLRNN_ERR_SHAPE_MISMATCH,
                   NEEDLES("must have one shape"));
    const op_in tk[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"k", OX_INT64, 1, {1}, &k4}};
    expect_op_load("TopK K", "TopK", tk, 2, 2, NULL, 14, I, NEEDLES("K = 4 is outside [0, 3]"));
    const op_in rv[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"l", OX_INT64, 1, {3}, lens}};
    expect_op_load("ReverseSequence lens", "ReverseSequence", rv, 2, 1, NULL, 14, I,
                   NEEDLES("sequence_lens[1] = 3 is outside [0, 2]"));
    const int64_t pads_axes[2] = {1, 1}, pad_axis = 5;
    const op_in pa[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"p", OX_INT64, 1, {2}, pads_axes}, {"", 0, 0, {0}, NULL},
                        {"axes", OX_INT64, 1, {1}, &pad_axis}};
    expect_op_load("Pad axes", "Pad", pa, 4, 1, NULL, 18, I, NEEDLES("axes element = 5 is outside"));
    const float zero = 0, one = 1, ten = 10;
    const op_in rg[] = {{"s", OX_FLOAT, 0, {0}, &zero}, {"l", OX_FLOAT, 0, {0}, &ten}, {"d", OX_FLOAT, 0, {0}, &zero}};
    expect_op_load("Range delta 0", "Range", rg, 3, 1, NULL, 14, I, NEEDLES("delta is 0"));
    (void)one;
    /* split sizes that do not add up, an uneven equal split */
    const int64_t sizes[2] = {1, 3};
    const op_in sp[] = {{"x", OX_FLOAT, 2, {2, 3}, f}, {"s", OX_INT64, 1, {2}, sizes}};
    attr_int(&a, "axis", 1);
    expect_op_load("Split sizes", "Split", sp, 2, 2, &a, 14, CLRNN_ERR_SHAPE_MISMATCH, NEEDLES("add up to 4, axis 1 has 3"));
    expect_op_load("Split uneven", "Split", x, 1, 2, &a, 14, CLRNN_ERR_SHAPE_MISMATCH, NEEDLES("size 3 does not split into 2 equal parts"));
    pb_free(&a);
}

/* Results too large for the model's budgets are refused, with the node named, before anything
 * is allocated: the budgets of issue 10 (D6) hold for the operators that multiply sizes. */
static void test_ops_huge_results_refused(void **state) {
    (void)state;
    uint64_t s = 5;
    const float x = tu_uniform(&s, -1, 1);
    const int64_t xi[4] = {1, 2, 3, 4};
    set_budgets("1M", "64M");
    /* Tile: float [1] x 2^28 = 1 GiB on the device; int64 [4] x 2^16 = 2 MiB on the host */
    const int64_t big = 1 << 28, rep16 = 1 << 16;
    const op_in tf[] = {{"x", OX_FLOAT, 1, {1}, &x}, {"r", OX_INT64, 1, {1}, &big}};
    expect_op_load("Tile float", "Tile", tf, 2, 1, NULL, 14, CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                   NEEDLES("1073741824 bytes", "CLRNN_MODEL_DEVICE_BUDGET"));
    const op_in ti[] = {{"x", OX_INT64, 1, {4}, xi}, {"r", OX_INT64, 1, {1}, &rep16}};
    expect_op_load("Tile int64", "Tile", ti, 2, 1, NULL, 14, CLRNN_ERR_OUT_OF_MEMORY,
                   NEEDLES("2097152 bytes on the host", "CLRNN_MODEL_HOST_BUDGET"));
    /* beyond size_t and beyond 2^31 elements */
    const int64_t reps2[2] = {(int64_t)1 << 40, (int64_t)1 << 40}, x2[1] = {7};
    const op_in t2[] = {{"x", OX_INT64, 2, {1, 1}, x2}, {"r", OX_INT64, 1, {2}, reps2}};
    expect_op_load("Tile overflow", "Tile", t2, 2, 1, NULL, 14, CLRNN_ERR_OVERFLOW, NEEDLES("overflows"));
    const int64_t rep32 = (int64_t)1 << 32;
    const op_in t3[] = {{"x", OX_INT64, 1, {1}, x2}, {"r", OX_INT64, 1, {1}, &rep32}};
    expect_op_load("Tile 2^32", "Tile", t3, 2, 1, NULL, 14, CLRNN_ERR_UNSUPPORTED, NEEDLES("at most 2^31-1"));
    /* Pad: 2^27 floats of padding (512 MiB) on the device, and int64 padding on the host */
    const int64_t pads[2] = {0, (int64_t)1 << 27}, pads_i[2] = {1 << 17, 0};
    const op_in pf[] = {{"x", OX_FLOAT, 1, {1}, &x}, {"p", OX_INT64, 1, {2}, pads}};
    expect_op_load("Pad float", "Pad", pf, 2, 1, NULL, 14, CLRNN_ERR_DEVICE_OUT_OF_MEMORY, NEEDLES("536870916 bytes"));
    const op_in pi[] = {{"x", OX_INT64, 1, {4}, xi}, {"p", OX_INT64, 1, {2}, pads_i}};
    expect_op_load("Pad int64", "Pad", pi, 2, 1, NULL, 14, CLRNN_ERR_OUT_OF_MEMORY, NEEDLES("1048608 bytes on the host"));
    /* Range: 2^20 int64 (8 MiB) over the host budget, 2^40 elements, 1e60 elements */
    const int64_t r0 = 0, r20 = 1 << 20, r40 = (int64_t)1 << 40, r1 = 1;
    const op_in ra[] = {{"s", OX_INT64, 0, {0}, &r0}, {"l", OX_INT64, 0, {0}, &r20}, {"d", OX_INT64, 0, {0}, &r1}};
    expect_op_load("Range 2^20", "Range", ra, 3, 1, NULL, 14, CLRNN_ERR_OUT_OF_MEMORY, NEEDLES("8388608 bytes on the host"));
    const op_in rb[] = {{"s", OX_INT64, 0, {0}, &r0}, {"l", OX_INT64, 0, {0}, &r40}, {"d", OX_INT64, 0, {0}, &r1}};
    expect_op_load("Range 2^40", "Range", rb, 3, 1, NULL, 14, CLRNN_ERR_UNSUPPORTED, NEEDLES("at most 2^31-1"));
    const float f0 = 0, fbig = 1e30f, ftiny = 1e-30f;
    const op_in rc[] = {{"s", OX_FLOAT, 0, {0}, &f0}, {"l", OX_FLOAT, 0, {0}, &fbig}, {"d", OX_FLOAT, 0, {0}, &ftiny}};
    expect_op_load("Range 1e60", "Range", rc, 3, 1, NULL, 14, CLRNN_ERR_OVERFLOW, NEEDLES("a range of 1e+60 elements"));
    /* and a result within the budgets is computed */
    const int64_t rep3 = 3;
    const op_in ok[] = {{"x", OX_INT64, 1, {4}, xi}, {"r", OX_INT64, 1, {1}, &rep3}};
    pb model = op_model("Tile", ok, 2, 1, NULL, 14);
    clrnn_status st;
    clrnn_model *m = load_pb(&model, &st);
    TU_OK(st);
    clrnn_array y;
    TU_OK(clrnn_model_get_output(m, "y0", &y));
    assert_int_equal(y.count, 12);
    for (int i = 0; i < 12; ++i) assert_int_equal(((int64_t *)y.data)[i], xi[i % 4]);
    clrnn_array_free(&y);
    clrnn_model_destroy(m);
    pb_free(&model);
    set_budgets(NULL, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_every_path),
        cmocka_unit_test(test_nesting_inside_a_real_model),
        cmocka_unit_test(test_walk_agrees_with_protobuf_c),
        cmocka_unit_test(test_host_budget_constant_of_shape),
        cmocka_unit_test(test_device_budget_expand),
        cmocka_unit_test(test_budget_given_back),
        cmocka_unit_test(test_budget_variables),
        cmocka_unit_test(test_default_budget_real_model),
        cmocka_unit_test(test_failed_set_input_keeps_binding),
        cmocka_unit_test(test_ops_shapes_that_do_not_broadcast),
        cmocka_unit_test(test_ops_wrong_dtypes),
        cmocka_unit_test(test_ops_axes_and_indices_out_of_range),
        cmocka_unit_test(test_ops_huge_results_refused),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
