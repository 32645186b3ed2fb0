/* The ONNX model API: load from a path and from memory, describe inputs and outputs, bind, run
 * (again, with other shapes), read outputs; weights bound as graph inputs re-imported when they
 * change; int32/int64 input conversion; and every error: status plus a message naming the input,
 * node or operator. Models: tests/onnx/torch (PyTorch exports), tests/onnx/cases, tests/onnx/invalid. */
#include "onnx/onnx_case.h"
#include "onnx/onnx_internal.h" /* the model's ONNX program: from_cache */

#include <unistd.h>

static const char *torch_dir(void) {
    const char *d = getenv("CLRNN_ONNX_TORCH");
    if (!d || !*d) fail_msg("CLRNN_ONNX_TORCH is not set (run through ctest)");
    return d;
}

static const char *cases_dir(void) {
    const char *d = getenv("CLRNN_ONNX_CASES");
    if (!d || !*d) fail_msg("CLRNN_ONNX_CASES is not set (run through ctest)");
    return d;
}

static clrnn_model *load_torch(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", torch_dir(), name);
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(tu_context(), path, &m));
    return m;
}

static clrnn_model *load_invalid(const char *name, clrnn_status *st) {
    char path[1024];
    snprintf(path, sizeof path, "%s/../invalid/%s.onnx", torch_dir(), name);
    clrnn_model *m = NULL;
    *st = clrnn_onnx_load(tu_context(), path, &m);
    return m;
}

/* Binds every set<k>/in/<name>.npy of a torch model. */
static void bind_torch_set(clrnn_model *m, const char *name, int set) {
    for (int i = 0; i < clrnn_model_num_inputs(m); ++i) {
        clrnn_model_tensor_info info;
        TU_OK(clrnn_model_input_info(m, i, &info));
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/set%d/in/%s.npy", torch_dir(), name, set, info.name);
        clrnn_array a;
        TU_OK(clrnn_npy_load(path, &a));
        TU_OK(clrnn_model_set_input(m, info.name, &a));
        clrnn_array_free(&a);
    }
}

/* Every output of the last run against set<k>/out within 1e-5. */
static void check_torch_set(clrnn_model *m, const char *name, int set) {
    for (int i = 0; i < clrnn_model_num_outputs(m); ++i) {
        clrnn_model_tensor_info info;
        TU_OK(clrnn_model_output_info(m, i, &info));
        char path[1200], msg[512];
        snprintf(path, sizeof path, "%s/%s/set%d/out/%s.npy", torch_dir(), name, set, info.name);
        clrnn_array want, got;
        TU_OK(clrnn_npy_load(path, &want));
        TU_OK(clrnn_model_get_output(m, info.name, &got));
        double err;
        if (!oc_compare(&got, &want, 1e-5, 0.0, &err, msg, sizeof msg))
            fail_msg("%s set%d output %s: %s", name, set, info.name, msg);
        clrnn_array_free(&want);
        clrnn_array_free(&got);
    }
}

static void test_load_path_and_memory(void **state) {
    (void)state;
    const char *name = "lstm_2layer_bidirectional_batch_first_state";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", torch_dir(), name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    clrnn_model *a = load_torch(name), *b = NULL;
    TU_OK(clrnn_onnx_load_memory(tu_context(), buf, (size_t)size, &b));
    free(buf);
    bind_torch_set(a, name, 0);
    bind_torch_set(b, name, 0);
    TU_OK(clrnn_model_run(a));
    TU_OK(clrnn_model_run(b));
    check_torch_set(a, name, 0);
    check_torch_set(b, name, 0);
    for (int i = 0; i < clrnn_model_num_outputs(a); ++i) {
        clrnn_model_tensor_info info;
        TU_OK(clrnn_model_output_info(a, i, &info));
        clrnn_array x, y;
        TU_OK(clrnn_model_get_output(a, info.name, &x));
        TU_OK(clrnn_model_get_output(b, info.name, &y));
        assert_int_equal(x.count, y.count);
        assert_memory_equal(x.data, y.data, x.count * sizeof(float));
        clrnn_array_free(&x);
        clrnn_array_free(&y);
    }
    clrnn_model_destroy(a);
    clrnn_model_destroy(b);
}

static void test_info(void **state) {
    (void)state;
    clrnn_model *m = load_torch("lstm_2layer_bidirectional_batch_first_state");
    clrnn_model_info mi;
    TU_OK(clrnn_model_get_info(m, &mi));
    assert_string_equal(mi.producer_name, "pytorch");
    assert_int_equal(mi.opset, 14);
    assert_int_equal(mi.num_recurrent, 2); /* PyTorch exports one LSTM node per layer */
    assert_true(mi.num_folded > 0 && mi.num_folded < mi.num_nodes);
    assert_int_equal(clrnn_model_num_inputs(m), 3);
    assert_int_equal(clrnn_model_num_outputs(m), 3);
    clrnn_model_tensor_info t;
    TU_OK(clrnn_model_input_info(m, 0, &t));
    assert_string_equal(t.name, "x");
    assert_int_equal(t.dtype, CLRNN_DTYPE_FLOAT32);
    assert_int_equal(t.ndim, 3);
    assert_int_equal(t.shape[0], -1);
    assert_string_equal(t.dim_names[0], "batch");
    assert_int_equal(t.shape[1], -1);
    assert_string_equal(t.dim_names[1], "time");
    assert_int_equal(t.shape[2], 3);
    assert_null(t.dim_names[2]);
    TU_OK(clrnn_model_input_info(m, 1, &t));
    assert_string_equal(t.name, "h0");
    assert_int_equal(t.shape[0], 4);
    TU_OK(clrnn_model_output_info(m, 0, &t));
    assert_string_equal(t.name, "y");
    assert_int_equal(t.shape[2], 8);
    assert_int_equal(clrnn_model_input_info(m, 3, &t), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_model_output_info(m, -1, &t), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_model_destroy(m);
}

/* Different batch sizes and lengths in turn on one model: buffers grow and shrink correctly. */
static void test_reruns_with_other_shapes(void **state) {
    (void)state;
    const char *names[] = {"classifier_embedding_lstm_linear_softmax", "gru_3layer_bidirectional_state_opset9",
                           "rnn_relu_2layer_batch_first_state"};
    for (size_t i = 0; i < sizeof names / sizeof *names; ++i) {
        clrnn_model *m = load_torch(names[i]);
        const int order[] = {0, 1, 0, 1, 1};
        for (size_t k = 0; k < sizeof order / sizeof *order; ++k) {
            bind_torch_set(m, names[i], order[k]);
            TU_OK(clrnn_model_run(m));
            check_torch_set(m, names[i], order[k]);
        }
        clrnn_model_destroy(m);
    }
}

static void load_pb(const char *case_name, int index, clrnn_array *a) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", cases_dir(), case_name, index);
    TU_OK(clrnn_onnx_tensor_load(path, a));
}

static clrnn_array run_first_output(clrnn_model *m) {
    clrnn_model_tensor_info info;
    clrnn_array y;
    TU_OK(clrnn_model_run(m));
    TU_OK(clrnn_model_output_info(m, 0, &info));
    TU_OK(clrnn_model_get_output(m, info.name, &y));
    return y;
}

/* Weights bound as graph inputs: a changed W must be re-imported (the RNN node caches them). */
static void test_weights_as_inputs_reimported(void **state) {
    (void)state;
    const char *name = "lstm_weights_as_inputs_bidirectional";
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/model.onnx", cases_dir(), name);
    clrnn_model *m = NULL, *fresh = NULL;
    TU_OK(clrnn_onnx_load(tu_context(), path, &m));
    TU_OK(clrnn_onnx_load(tu_context(), path, &fresh));
    int w_index = -1;
    for (int i = 0; i < clrnn_model_num_inputs(m); ++i) {
        clrnn_model_tensor_info info;
        clrnn_array a;
        TU_OK(clrnn_model_input_info(m, i, &info));
        load_pb(name, i, &a);
        TU_OK(clrnn_model_set_input(m, info.name, &a));
        TU_OK(clrnn_model_set_input(fresh, info.name, &a));
        if (!strcmp(info.name, "W")) w_index = i;
        clrnn_array_free(&a);
    }
    assert_true(w_index >= 0);
    clrnn_array y1 = run_first_output(m);
    clrnn_array w;
    load_pb(name, w_index, &w);
    for (size_t i = 0; i < w.count; ++i) ((float *)w.data)[i] *= -0.5f;
    TU_OK(clrnn_model_set_input(m, "W", &w));
    TU_OK(clrnn_model_set_input(fresh, "W", &w));
    clrnn_array y2 = run_first_output(m), y3 = run_first_output(fresh);
    assert_int_equal(y1.count, y2.count);
    assert_memory_equal(y2.data, y3.data, y2.count * sizeof(float)); /* same as a model that never saw the old W */
    double diff = tu_max_abs_diff(y1.data, y2.data, y1.count, NULL);
    assert_true(diff > 1e-3); /* and not the result of the old W */
    clrnn_array_free(&w);
    clrnn_array_free(&y1);
    clrnn_array_free(&y2);
    clrnn_array_free(&y3);
    clrnn_model_destroy(m);
    clrnn_model_destroy(fresh);
}

/* int64 data binds to an int32 input when it fits, and int32 to an int64 input. */
static void test_integer_conversion(void **state) {
    (void)state;
    const char *cls = "classifier_embedding_lstm_linear_softmax";
    clrnn_model *m = load_torch(cls);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/set0/in/tokens.npy", torch_dir(), cls);
    clrnn_array t64, t32;
    TU_OK(clrnn_npy_load(path, &t64));
    assert_int_equal(t64.dtype, CLRNN_DTYPE_INT64);
    t32 = t64;
    t32.dtype = CLRNN_DTYPE_INT32;
    t32.data = malloc(t64.count * sizeof(int32_t));
    for (size_t i = 0; i < t64.count; ++i) ((int32_t *)t32.data)[i] = (int32_t)((int64_t *)t64.data)[i];
    TU_OK(clrnn_model_set_input(m, "tokens", &t32));
    TU_OK(clrnn_model_run(m));
    check_torch_set(m, cls, 0);
    /* an out-of-vocabulary token is a run-time error naming the Gather node */
    ((int32_t *)t32.data)[1] = 99;
    TU_OK(clrnn_model_set_input(m, "tokens", &t32));
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "(Gather)"));
    assert_non_null(strstr(clrnn_last_error(), "index 99"));
    clrnn_array_free(&t64);
    clrnn_array_free(&t32);
    clrnn_model_destroy(m);

    clrnn_status st;
    m = load_invalid("lstm_symbolic_shapes", &st);
    TU_OK(st);
    int64_t lens[2] = {1, 2};
    clrnn_array l = {CLRNN_DTYPE_INT64, 1, {2}, 2, lens};
    TU_OK(clrnn_model_set_input(m, "lens", &l));
    lens[1] = (int64_t)1 << 40;
    assert_int_equal(clrnn_model_set_input(m, "lens", &l), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "'lens'"));
    clrnn_model_destroy(m);
}

static void expect_load_error(const char *name, clrnn_status want, const char *const *needles) {
    clrnn_status st;
    clrnn_model *m = load_invalid(name, &st);
    assert_null(m);
    if (st != want) fail_msg("%s: status %s, expected %s (%s)", name, clrnn_status_name(st), clrnn_status_name(want),
                             clrnn_last_error());
    for (; *needles; ++needles)
        if (!strstr(clrnn_last_error(), *needles)) fail_msg("%s: message lacks '%s': %s", name, *needles, clrnn_last_error());
}

/* Every prefix of a real exported model is a truncated file: each must be refused with a status
 * and a message, never crash or leak (the model below is ~1-7 KiB, so this is a few thousand loads). */
static void test_truncated_models(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/../invalid/lstm_symbolic_shapes.onnx", torch_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[65536];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 100 && n < sizeof buf);
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load_memory(tu_context(), buf, n, &m)); /* the whole file loads */
    clrnn_model_destroy(m);
    int refused = 0;
    for (size_t len = 0; len < n; ++len) {
        m = (clrnn_model *)1;
        const clrnn_status st = clrnn_onnx_load_memory(tu_context(), buf, len, &m);
        if (st == CLRNN_OK) { /* a prefix can still be a valid message only if it drops trailing fields */
            assert_non_null(m);
            clrnn_model_destroy(m);
            continue;
        }
        assert_null(m);
        assert_true(strlen(clrnn_last_error()) > 10);
        ++refused;
    }
    assert_true(refused > (int)(n * 9 / 10));
}

static void test_load_errors(void **state) {
    (void)state;
    const char *n1[] = {"node 'det_node' (Det)", "operator Det is not supported", NULL};
    expect_load_error("unsupported_op", CLRNN_ERR_UNSUPPORTED, n1);
    const char *n2[] = {"node 'lstm_node' (LSTM)", "attribute 'output_sequence'", NULL};
    expect_load_error("unsupported_attribute", CLRNN_ERR_UNSUPPORTED, n2);
    const char *n3[] = {"node 'lstm_node' (LSTM)", "'Swish'", NULL};
    expect_load_error("unknown_activation", CLRNN_ERR_UNSUPPORTED, n3);
    const char *n4[] = {"node 'lstm_node' (LSTM)", "activation_alpha has 3", NULL};
    expect_load_error("leftover_alpha", CLRNN_ERR_UNSUPPORTED, n4);
    const char *n5[] = {"node 'lstm_node' (LSTM)", "input R ('R') has shape [1, 16, 5], expected [1, 16, 4]", NULL};
    expect_load_error("bad_weight_shape", CLRNN_ERR_SHAPE_MISMATCH, n5);
    const char *n6[] = {"initializer 'W'", "external file", "weights.bin", NULL};
    expect_load_error("external_data", CLRNN_ERR_UNSUPPORTED, n6);
    const char *n7[] = {"version 6", "7 to 22", NULL};
    expect_load_error("opset_too_old", CLRNN_ERR_UNSUPPORTED, n7);
    /* found by fuzz_onnx: refused before any allocation of the claimed size, and before any operator
     * code reads the missing input */
    const char *n8[] = {"initializer 'W'", "elements of data for shape with", NULL};
    expect_load_error("huge_dims_no_data", CLRNN_ERR_CORRUPT_FILE, n8);
    const char *n9[] = {"node 'relu_node' (Relu)", "required input 0 has an empty name", NULL};
    expect_load_error("empty_required_input", CLRNN_ERR_CORRUPT_FILE, n9);
    /* graph structure and types */
    const char *n10[] = {"node 'relu_a' (Relu)", "input 'B'", "topological order", NULL};
    expect_load_error("cyclic_nodes", CLRNN_ERR_CORRUPT_FILE, n10);
    const char *n11[] = {"node 'lstm_node' (LSTM)", "input 'R' is not an initializer", NULL};
    expect_load_error("missing_initializer", CLRNN_ERR_CORRUPT_FILE, n11);
    const char *n12[] = {"initializer 'R'", "dimension 1 is -16", NULL};
    expect_load_error("negative_dims", CLRNN_ERR_CORRUPT_FILE, n12);
    const char *n13[] = {"node 'lstm_node' (LSTM)", "is int64", "float32", NULL};
    expect_load_error("wrong_input_type", CLRNN_ERR_UNSUPPORTED, n13);
    const char *n14[] = {"declares no outputs", NULL};
    expect_load_error("no_outputs", CLRNN_ERR_CORRUPT_FILE, n14);

    clrnn_model *m = (clrnn_model *)1;
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    assert_int_equal(clrnn_onnx_load_memory(tu_context(), garbage, sizeof garbage, &m), CLRNN_ERR_CORRUPT_FILE);
    assert_null(m);
    assert_int_equal(clrnn_onnx_load(tu_context(), "/nonexistent/model.onnx", &m), CLRNN_ERR_IO);
    assert_int_equal(clrnn_onnx_load(NULL, "x.onnx", &m), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_onnx_load(tu_context(), "x.onnx", NULL), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_model_destroy(NULL);
}

static void test_use_errors(void **state) {
    (void)state;
    clrnn_model *m = load_torch("gru_1layer_state");
    clrnn_array y;
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "input 'x' was not set"));
    assert_int_equal(clrnn_model_get_output(m, "y", &y), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_model_get_output(m, "nope", &y), CLRNN_ERR_NOT_FOUND);
    float data[12] = {0};
    clrnn_array a = {CLRNN_DTYPE_FLOAT32, 3, {1, 4, 3}, 12, data};
    assert_int_equal(clrnn_model_set_input(m, "nope", &a), CLRNN_ERR_NOT_FOUND);
    assert_non_null(strstr(clrnn_last_error(), "'x'"));
    a.shape[2] = 4;
    a.shape[1] = 3;
    assert_int_equal(clrnn_model_set_input(m, "x", &a), CLRNN_ERR_SHAPE_MISMATCH);
    assert_non_null(strstr(clrnn_last_error(), "dimension 2 is 4"));
    a.ndim = 2;
    a.shape[0] = 3, a.shape[1] = 4;
    assert_int_equal(clrnn_model_set_input(m, "x", &a), CLRNN_ERR_SHAPE_MISMATCH);
    a.ndim = 3, a.shape[0] = 1, a.shape[1] = 4, a.shape[2] = 3;
    a.dtype = CLRNN_DTYPE_INT32;
    assert_int_equal(clrnn_model_set_input(m, "x", &a), CLRNN_ERR_INVALID_ARGUMENT);
    a.dtype = CLRNN_DTYPE_FLOAT32;
    TU_OK(clrnn_model_set_input(m, "x", &a));
    /* h0 binds (its batch axis is free) but disagrees with x's batch of 4: a run-time error of the node */
    float h[8] = {0};
    clrnn_array h0 = {CLRNN_DTYPE_FLOAT32, 3, {1, 2, 4}, 8, h};
    TU_OK(clrnn_model_set_input(m, "h0", &h0));
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_SHAPE_MISMATCH);
    assert_non_null(strstr(clrnn_last_error(), "(GRU)"));
    assert_non_null(strstr(clrnn_last_error(), "initial_h"));
    clrnn_model_destroy(m);
}

static void test_tensor_load(void **state) {
    (void)state;
    const char *node = getenv("CLRNN_ONNX_TESTDATA");
    char path[1200];
    snprintf(path, sizeof path, "%s/test_lstm_defaults/test_data_set_0/input_1.pb",
             node && *node ? node : "/usr/share/libonnx-testdata/data/node");
    clrnn_array a;
    TU_OK(clrnn_onnx_tensor_load(path, &a));
    assert_int_equal(a.dtype, CLRNN_DTYPE_FLOAT32);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[0], 1);
    assert_int_equal(a.shape[1], 12);
    assert_int_equal(a.shape[2], 2);
    assert_int_equal(a.count, 24);
    clrnn_array_free(&a);
    const unsigned char garbage[] = {0x0a, 0xff};
    assert_int_equal(clrnn_onnx_tensor_load_memory(garbage, sizeof garbage, &a), CLRNN_ERR_CORRUPT_FILE);
    assert_int_equal(clrnn_onnx_tensor_load("/nonexistent.pb", &a), CLRNN_ERR_IO);
}

/* Model handles are checked like contexts and rnns: destroyed, foreign, wrong kind, a model whose
 * context was destroyed (destroying it afterwards is still clean), loading on a dead context. */
static void test_handle_misuse(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/gru_1layer_state/model.onnx", torch_dir());
    clrnn_model *m = load_torch("gru_1layer_state");
    clrnn_model_destroy(m);
    assert_int_equal(clrnn_model_run(m), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "not a live clrnn_model"));
    assert_int_equal(clrnn_model_num_inputs(m), 0);
    clrnn_model_destroy(m); /* double destroy: ignored, with a message */
    assert_non_null(strstr(clrnn_last_error(), "clrnn_model_destroy (ignored)"));

    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.input_size = 2, d.hidden_size = 2;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
    clrnn_array y;
    assert_int_equal(clrnn_model_get_output((clrnn_model *)r, "y", &y), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "is a clrnn_rnn, not a clrnn_model"));
    clrnn_model_destroy((clrnn_model *)r); /* the wrong kind is not destroyed */
    clrnn_rnn_destroy(r);

    clrnn_context *own = NULL;
    TU_OK(clrnn_context_create(NULL, &own));
    TU_OK(clrnn_onnx_load(own, path, &m));
    clrnn_context_destroy(own);
    clrnn_model_info info;
    assert_int_equal(clrnn_model_get_info(m, &info), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "context of model"));
    clrnn_model_destroy(m); /* after its context: frees everything (LSan checks) */
    m = (clrnn_model *)(uintptr_t)1;
    assert_int_equal(clrnn_onnx_load(own, path, &m), CLRNN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "not a live clrnn_context"));
    assert_null(m);
}

static int count_cache_entries(const char *d) {
    DIR *h = opendir(d);
    if (!h) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(h));) n += strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp");
    closedir(h);
    return n;
}

/* A context whose binary cache is dir; its own program came from there iff main_from_cache. */
static clrnn_context *context_in_cache(const char *dir, int main_from_cache) {
    clrnn_context_params p = clrnn_context_default_params();
    clrnn_context *ctx = NULL;
    clrnn_build_info bi;
    p.cache_dir = dir;
    TU_OK(clrnn_context_create(&p, &ctx));
    assert_int_equal(clrnn_context_build_info(ctx, &bi), CLRNN_OK);
    assert_int_equal(bi.from_cache, main_from_cache);
    return ctx;
}

/* Loads the case's model on ctx, binds its inputs and runs it; returns the model. */
static clrnn_model *run_case(clrnn_context *ctx, const char *case_name, double *run_ms) {
    char cdir[1024], path[1400];
    snprintf(cdir, sizeof cdir, "%s/%s", cases_dir(), case_name);
    snprintf(path, sizeof path, "%s/model.onnx", cdir);
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(ctx, path, &m));
    for (int i = 0; i < clrnn_model_num_inputs(m); ++i) {
        clrnn_model_tensor_info info;
        TU_OK(clrnn_model_input_info(m, i, &info));
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", cdir, i);
        clrnn_array a;
        TU_OK(clrnn_onnx_tensor_load(path, &a));
        TU_OK(clrnn_model_set_input(m, info.name, &a));
        clrnn_array_free(&a);
    }
    const double t0 = clrnn_now_ms();
    TU_OK(clrnn_model_run(m));
    *run_ms = clrnn_now_ms() - t0;
    return m;
}

/* The two tests below count the ONNX program's builds and cache entries; on a CPU device the
 * case's Gemm would also build clrnn's own SGEMM program (its own first use, tested in
 * test_gemm_own), so they run their GEMMs through CLBlast. */
static char saved_gemm[32];
static int had_gemm;
static void gemm_clblast_begin(void) {
    const char *g = getenv("CLRNN_GEMM");
    had_gemm = g != NULL;
    if (g) snprintf(saved_gemm, sizeof saved_gemm, "%s", g);
    setenv("CLRNN_GEMM", "clblast", 1);
}
static void gemm_clblast_end(void) {
    if (had_gemm) setenv("CLRNN_GEMM", saved_gemm, 1);
    else unsetenv("CLRNN_GEMM");
}

/* The ONNX kernels are obtained through the one program path (program.c), so they obey the
 * context's binary cache like the library's own kernels: on a first context they are built and
 * their entry written beside the main program's, on a second context they are loaded from it, and
 * the outputs agree bit for bit (and with the case's expected outputs). */
static void test_onnx_kernels_cached(void **state) {
    (void)state;
    gemm_clblast_begin();
    char dir[] = "/tmp/clrnn-onnx-cache-XXXXXX";
    assert_non_null(mkdtemp(dir)); /* mode 0700: a trusted cache directory */
    const char *mode = getenv("CLRNN_CACHE_MODE");
    char saved[32] = "";
    if (mode) snprintf(saved, sizeof saved, "%s", mode);
    setenv("CLRNN_CACHE_MODE", "binary", 1); /* on PoCL clrnn otherwise leaves caching to the driver */
    char cdir[1024], path[1400];
    snprintf(cdir, sizeof cdir, "%s/glue_opset11_embedding_gemm_softmax", cases_dir());
    clrnn_array first;
    memset(&first, 0, sizeof first);
    for (int pass = 0; pass < 2; ++pass) {
        clrnn_context *ctx = context_in_cache(dir, pass);
        double run_ms;
        clrnn_model *m = run_case(ctx, "glue_opset11_embedding_gemm_softmax", &run_ms);
        assert_non_null(m->k); /* the case runs device kernels (Gather, Softmax) */
        assert_int_equal(m->kernels_from_cache, pass);
        assert_int_equal(count_cache_entries(dir), 2); /* the main program's entry and the ONNX one */
        clrnn_model_tensor_info info;
        TU_OK(clrnn_model_output_info(m, 0, &info));
        clrnn_array got, want;
        TU_OK(clrnn_model_get_output(m, info.name, &got));
        snprintf(path, sizeof path, "%s/test_data_set_0/output_0.pb", cdir);
        TU_OK(clrnn_onnx_tensor_load(path, &want));
        char msg[512];
        double err;
        if (!oc_compare(&got, &want, 1e-5, 1e-5, &err, msg, sizeof msg)) fail_msg("pass %d: %s", pass, msg);
        clrnn_array_free(&want);
        if (pass == 0) {
            first = got;
        } else {
            assert_int_equal(got.dtype, first.dtype);
            assert_int_equal(got.count, first.count);
            assert_memory_equal(got.data, first.data, got.count * clrnn_dtype_size(got.dtype));
            clrnn_array_free(&got);
        }
        clrnn_model_destroy(m);
        clrnn_context_destroy(ctx);
    }
    clrnn_array_free(&first);
    if (saved[0]) setenv("CLRNN_CACHE_MODE", saved, 1);
    else unsetenv("CLRNN_CACHE_MODE");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    gemm_clblast_end();
}

/* The ONNX program belongs to the context, like the main one: the first model that runs a device
 * kernel builds it, a second model on that context (alive or after the first is gone) builds
 * nothing and uses the same kernels; another context builds its own. */
static void test_onnx_kernels_per_context(void **state) {
    (void)state;
    gemm_clblast_begin();
    const char *case_name = "glue_opset11_embedding_gemm_softmax"; /* runs Gather and Softmax on the device */
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    const int got0 = ctx->programs_got; /* the main program */
    double ms_first, ms_second, ms_third;
    clrnn_model *a = run_case(ctx, case_name, &ms_first);
    assert_non_null(a->k);
    assert_int_equal(ctx->programs_got, got0 + 1); /* the ONNX program, once */
    clrnn_model *b = run_case(ctx, case_name, &ms_second);
    assert_ptr_equal(b->k, a->k);
    assert_int_equal(ctx->programs_got, got0 + 1);
    clrnn_model_destroy(a);
    clrnn_model_destroy(b);
    clrnn_model *c = run_case(ctx, case_name, &ms_third); /* the kernels outlive the models */
    assert_non_null(c->k);
    assert_int_equal(ctx->programs_got, got0 + 1);
    print_message("first model's first run %.1f ms (builds the ONNX program), second %.1f ms, third %.1f ms\n",
                  ms_first, ms_second, ms_third);
    clrnn_context *other = NULL;
    TU_OK(clrnn_context_create(NULL, &other));
    double ms_other;
    clrnn_model *d = run_case(other, case_name, &ms_other);
    assert_ptr_not_equal(d->k, c->k);
    assert_int_equal(other->programs_got, 2);
    clrnn_model_destroy(d);
    clrnn_context_destroy(other);
    clrnn_model_destroy(c);
    clrnn_context_destroy(ctx);
    gemm_clblast_end();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_path_and_memory),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_reruns_with_other_shapes),
        cmocka_unit_test(test_weights_as_inputs_reimported),
        cmocka_unit_test(test_integer_conversion),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_truncated_models),
        cmocka_unit_test(test_use_errors),
        cmocka_unit_test(test_handle_misuse),
        cmocka_unit_test(test_tensor_load),
        cmocka_unit_test(test_onnx_kernels_cached),
        cmocka_unit_test(test_onnx_kernels_per_context),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
