/* ONNX conformance: the official backend node tests (Debian libonnx-testdata, $CLRNN_ONNX_TESTDATA)
 * and our own cases (tests/onnx/cases, $CLRNN_ONNX_CASES, made by tools/onnx_cases.py from
 * onnxruntime and the ONNX reference implementation), through the public model API.
 *
 *   - every RNN/GRU/LSTM case of the suite passes at 1e-5 (absolute);
 *   - every glue-operator case (test_<op>* for the operators clrnn runs) passes at 1e-5 absolute +
 *     1e-5 relative, except the ones listed in known_unsupported below with the reason; those must
 *     be refused at load with CLRNN_ERR_UNSUPPORTED (never a wrong answer, never a run-time error);
 *   - every own case passes at 1e-5 (absolute). */
#include "onnx/onnx_case.h"

static const char *testdata_dir(void) {
    const char *d = getenv("CLRNN_ONNX_TESTDATA");
    return d && *d ? d : "/usr/share/libonnx-testdata/data/node";
}

/* The operators clrnn runs, as they appear (lower case) in the suite's directory names. */
static const char *const glue_ops[] = {"constant", "shape",     "gather", "unsqueeze", "squeeze", "concat",
                                       "constantofshape", "slice", "transpose", "reshape", "identity", "cast",
                                       "expand",   "matmul",    "gemm",   "add",       "sub",     "mul",
                                       "div",      "sigmoid",   "tanh",   "relu",      "softmax", "reduce_prod",
                                       "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_sum_square",
                                       "reduce_l1", "reduce_l2", "reduce_log_sum", "reduce_log_sum_exp",
                                       "equal",    "less",      "greater", "less_equal", "greater_equal", "not",
                                       "and",      "or",        "xor",    "where",     "max",     "min",
                                       "sum",      "mean",      "neg",    "abs",       "exp",     "log",
                                       "sqrt",     "reciprocal", "floor", "ceil",      "pow",     "clip",
                                       "leakyrelu", "hardsigmoid", "elu", "softplus",  "softsign",
                                       "split",    "flatten",   "tile",   "constant_pad", "edge_pad", "reflect_pad",
                                       "reversesequence", "gather_elements", "scatternd", "scatter_elements", "range", "argmax",
                                       "argmin",   "top_k",     "selu",   "erf",       "logsoftmax",
                                       "loop11",   "loop13",    "loop16", "scan9",     "scan",    "if"};

/* Cases named like a supported operator that need something clrnn does not do; each must be refused
 * at load with CLRNN_ERR_UNSUPPORTED. The operators whose suite cases are all below opset 7 are
 * covered by own cases at opset 13 (tests/onnx/cases/ops_*). */
#define OPSET_1 "an opset 1 model (clrnn reads opsets 7 to 22)"
#define OPSET_6 "an opset 6 model (clrnn reads opsets 7 to 22)"
static const struct {
    const char *name, *why;
} known_unsupported[] = {
    {"test_identity_opt", "optional-typed values"},
    {"test_identity_sequence", "sequence-typed values"},
    {"test_cast_BFLOAT16_to_FLOAT", "bfloat16 tensors"},
    {"test_cast_DOUBLE_to_FLOAT", "float64 tensors"},
    {"test_cast_DOUBLE_to_FLOAT16", "float64 and float16 tensors"},
    {"test_cast_FLOAT16_to_DOUBLE", "float16 and float64 tensors"},
    {"test_cast_FLOAT16_to_FLOAT", "float16 tensors"},
    {"test_cast_FLOAT_to_BFLOAT16", "bfloat16 tensors"},
    {"test_cast_FLOAT_to_DOUBLE", "float64 tensors"},
    {"test_cast_FLOAT_to_FLOAT16", "float16 tensors"},
    {"test_cast_FLOAT_to_STRING", "string tensors"},
    {"test_cast_STRING_to_FLOAT", "string tensors"},
    {"test_clip_default_int8_inbounds", "int8 tensors"},
    {"test_clip_default_int8_max", "int8 tensors"},
    {"test_clip_default_int8_min", "int8 tensors"},
    {"test_elu", OPSET_6},
    {"test_elu_default", OPSET_6},
    {"test_elu_example", OPSET_6},
    {"test_hardsigmoid", OPSET_6},
    {"test_hardsigmoid_default", OPSET_6},
    {"test_hardsigmoid_example", OPSET_6},
    {"test_max_float16", "float16 tensors"},
    {"test_max_float64", "float64 tensors"},
    {"test_max_int16", "int16 tensors"},
    {"test_max_int8", "int8 tensors"},
    {"test_max_uint16", "uint16 tensors"},
    {"test_max_uint32", "uint32 tensors"},
    {"test_max_uint64", "uint64 tensors"},
    {"test_min_float16", "float16 tensors"},
    {"test_min_float64", "float64 tensors"},
    {"test_min_int16", "int16 tensors"},
    {"test_min_int8", "int8 tensors"},
    {"test_min_uint16", "uint16 tensors"},
    {"test_min_uint32", "uint32 tensors"},
    {"test_min_uint64", "uint64 tensors"},
    {"test_not_2d", OPSET_1},
    {"test_not_3d", OPSET_1},
    {"test_not_4d", OPSET_1},
    {"test_pow_types_float32_uint32", "uint32 tensors"},
    {"test_pow_types_float32_uint64", "uint64 tensors"},
    {"test_if_opt", "optional-typed values"},
    {"test_if_seq", "sequence-typed values"},
    {"test_loop13_seq", "sequence-typed loop-carried values"},
    {"test_loop16_seq_none", "optional- and sequence-typed loop-carried values"},
    {"test_reduce_log_sum", OPSET_6},
    {"test_reduce_log_sum_exp_default_axes_keepdims_example", "float64 tensors"},
    {"test_reduce_log_sum_exp_default_axes_keepdims_random", "float64 tensors"},
    {"test_reduce_log_sum_exp_do_not_keepdims_example", "float64 tensors"},
    {"test_reduce_log_sum_exp_do_not_keepdims_random", "float64 tensors"},
    {"test_reduce_log_sum_exp_keepdims_example", "float64 tensors"},
    {"test_reduce_log_sum_exp_keepdims_random", "float64 tensors"},
    {"test_reduce_log_sum_exp_negative_axes_keepdims_example", "float64 tensors"},
    {"test_reduce_log_sum_exp_negative_axes_keepdims_random", "float64 tensors"},
    {"test_softplus", OPSET_1},
    {"test_softplus_example", OPSET_1},
    {"test_softsign", OPSET_1},
    {"test_softsign_example", OPSET_1},
    {"test_selu", OPSET_6},
    {"test_selu_default", OPSET_6},
    {"test_selu_example", OPSET_6},
};

static const char *unsupported_reason(const char *name) {
    for (size_t i = 0; i < sizeof known_unsupported / sizeof *known_unsupported; ++i)
        if (!strcmp(known_unsupported[i].name, name)) return known_unsupported[i].why;
    return NULL;
}

static int is_rnn_case(const char *name) {
    return !strncmp(name, "test_lstm_", 10) || !strncmp(name, "test_gru_", 9) || !strncmp(name, "test_rnn_", 9) ||
           !strncmp(name, "test_simple_rnn_", 16);
}

static int is_glue_case(const char *name) {
    for (size_t i = 0; i < sizeof glue_ops / sizeof *glue_ops; ++i) {
        char prefix[64];
        const int n = snprintf(prefix, sizeof prefix, "test_%s", glue_ops[i]);
        if (!strncmp(name, prefix, (size_t)n) && (name[n] == '\0' || name[n] == '_')) return 1;
    }
    return 0;
}

static void test_backend_rnn_cases(void **state) {
    (void)state;
    int count, passed = 0, total = 0;
    char **names = oc_list(testdata_dir(), "test_", &count);
    if (!names) fail_msg("cannot read the ONNX backend tests at %s (install libonnx-testdata)", testdata_dir());
    for (int i = 0; i < count; ++i) {
        if (!is_rnn_case(names[i])) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", testdata_dir(), names[i]);
        const case_report r = oc_run_case(dir, 1e-5, 0.0);
        ++total;
        if (r.result == CASE_PASS) {
            ++passed;
            print_message("  PASS %-40s max err %.3g x tol\n", names[i], r.max_err);
        } else {
            print_message("  FAIL %-40s %s\n", names[i], r.message);
        }
    }
    oc_free_list(names, count);
    print_message("ONNX backend RNN/GRU/LSTM cases: %d of %d pass\n", passed, total);
    assert_true(total >= 12); /* the suite of ONNX 1.12 has 12 such cases */
    assert_int_equal(passed, total);
}

static void test_backend_glue_cases(void **state) {
    (void)state;
    int count, passed = 0, refused = 0, total = 0, wrong = 0;
    char **names = oc_list(testdata_dir(), "test_", &count);
    if (!names) fail_msg("cannot read the ONNX backend tests at %s", testdata_dir());
    for (int i = 0; i < count; ++i) {
        if (!is_glue_case(names[i])) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", testdata_dir(), names[i]);
        if (!oc_is_dir(dir)) continue;
        const case_report r = oc_run_case(dir, 1e-5, 1e-5);
        const char *why = unsupported_reason(names[i]);
        ++total;
        if (r.result == CASE_PASS && !why) {
            ++passed;
        } else if (r.result == CASE_UNSUPPORTED && why) {
            ++refused;
            print_message("  refused %-40s (%s): %s\n", names[i], why, r.message);
        } else {
            ++wrong;
            print_message("  FAIL %-40s %s%s\n", names[i], r.result == CASE_PASS ? "passes but is listed as unsupported" : r.message,
                          why && r.result != CASE_PASS ? " (listed as unsupported: must be refused at load)" : "");
        }
    }
    oc_free_list(names, count);
    print_message("ONNX backend glue-operator cases: %d of %d pass, %d refused at load as unsupported, %d wrong\n", passed,
                  total, refused, wrong);
    assert_true(total > 100);
    assert_int_equal(wrong, 0);
    assert_int_equal(refused, (int)(sizeof known_unsupported / sizeof *known_unsupported));
}

static void test_own_cases(void **state) {
    (void)state;
    const char *dir = getenv("CLRNN_ONNX_CASES");
    if (!dir || !*dir) fail_msg("CLRNN_ONNX_CASES is not set");
    int count, passed = 0;
    char **names = oc_list(dir, NULL, &count);
    if (!names) fail_msg("cannot read %s", dir);
    int total = 0;
    for (int i = 0; i < count; ++i) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!oc_is_dir(path)) continue;
        const case_report r = oc_run_case(path, 1e-5, 0.0);
        ++total;
        if (r.result == CASE_PASS) {
            ++passed;
            print_message("  PASS %-44s max err %.3g x tol (%d data sets)\n", names[i], r.max_err, r.data_sets);
        } else {
            print_message("  FAIL %-44s %s\n", names[i], r.message);
        }
    }
    oc_free_list(names, count);
    print_message("own ONNX cases: %d of %d pass\n", passed, total);
    assert_true(total >= 20);
    assert_int_equal(passed, total);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_rnn_cases),
        cmocka_unit_test(test_backend_glue_cases),
        cmocka_unit_test(test_own_cases),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
