/* The converters' own ONNX files (tests/keras, tools/golden_tf.py): Keras 2.15 / 3.15 models and TF1
 * dynamic_rnn graphs through tf2onnx 1.17, PyTorch packed sequences through torch.onnx. Every model
 * must load, run through the model API and match the framework's own outputs within
 * |got - exp| / (1 + |exp|) <= 1e-5: a refusal (CLRNN_ERR_UNSUPPORTED) fails the test like a wrong
 * number, so a model that runs today and stops running, or a new model clrnn cannot run, is caught. */
#include "onnx/onnx_case.h"

#define MAX_NAMES 32

typedef struct names {
    int count;
    char name[MAX_NAMES][128];
} names;

typedef struct case_meta {
    names keras_inputs, onnx_inputs, keras_outputs, onnx_outputs;
} case_meta;

static void split_names(const char *value, names *out) {
    out->count = 0;
    for (const char *p = value; *p && out->count < MAX_NAMES;) {
        while (*p == ' ') ++p;
        size_t n = strcspn(p, " \n");
        if (!n) break;
        if (n >= sizeof out->name[0]) fail_msg("name too long in meta.txt: %.*s", (int)n, p);
        memcpy(out->name[out->count], p, n);
        out->name[out->count++][n] = '\0';
        p += n;
    }
}

/* meta.txt: `key value...` lines (tools/golden_tf.py write_meta). */
static void read_meta(const char *dir, case_meta *m) {
    char path[1400], line[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    memset(m, 0, sizeof *m);
    static const char *const keys[] = {"keras_inputs ", "onnx_inputs ", "keras_outputs ", "onnx_outputs "};
    names *dst[] = {&m->keras_inputs, &m->onnx_inputs, &m->keras_outputs, &m->onnx_outputs};
    while (fgets(line, sizeof line, f))
        for (int k = 0; k < 4; ++k)
            if (!strncmp(line, keys[k], strlen(keys[k]))) split_names(line + strlen(keys[k]), dst[k]);
    fclose(f);
    if (!m->keras_inputs.count || m->keras_inputs.count != m->onnx_inputs.count || !m->keras_outputs.count ||
        m->keras_outputs.count != m->onnx_outputs.count)
        fail_msg("%s: meta.txt lacks matching input/output name lists", path);
}

/* The load error without the status prefix, the file's path and the list of supported operators. */
static const char *short_error(const char *path) {
    static char buf[1024];
    const char *e = clrnn_last_error(), *p = strstr(e, path);
    snprintf(buf, sizeof buf, "%s", p ? p + strlen(path) + (p[strlen(path)] == ':' ? 2 : 0) : e);
    char *cut = strstr(buf, "; clrnn runs");
    if (cut) *cut = '\0';
    return buf;
}

/* Loads, binds in/, runs and compares with out/. Returns 1 on a match, 0 on a mismatch or a run
 * failure (printed as FAIL), -1 when the model is refused as unsupported (printed as REFUSED). */
static int run_model(const char *dir, const char *name, double *worst) {
    case_meta meta;
    read_meta(dir, &meta);
    char path[1400], msg[512];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    clrnn_model *m = NULL;
    clrnn_status st = clrnn_onnx_load(tu_context(), path, &m);
    if (st == CLRNN_ERR_UNSUPPORTED) {
        print_message("  REFUSED %-36s %s\n", name, short_error(path));
        return -1;
    }
    if (st != CLRNN_OK) { /* onnxruntime runs every one of these files: any other refusal is a bug */
        print_message("  FAIL %s: load: %s: %s\n", name, clrnn_status_name(st), clrnn_last_error());
        return 0;
    }
    int ok = 1;
    /* every RNN these converters emit as a Loop/Scan is one the recogniser knows (issue 11): a loop
     * left to the generic operator here is a regression of fuse_loop.c */
    clrnn_model_info info;
    TU_OK(clrnn_model_get_info(m, &info));
    for (int k = 0; k < info.num_loops; ++k) {
        clrnn_model_loop_info li;
        TU_OK(clrnn_model_get_loop_info(m, k, &li));
        if (!li.fused) {
            print_message("  FAIL %s: loop #%d not fused: %s\n", name, li.node_index, li.description);
            ok = 0;
        }
    }
    for (int i = 0; i < meta.keras_inputs.count && ok; ++i) {
        snprintf(path, sizeof path, "%s/in/%s.npy", dir, meta.keras_inputs.name[i]);
        clrnn_array a;
        TU_OK(clrnn_npy_load(path, &a));
        st = clrnn_model_set_input(m, meta.onnx_inputs.name[i], &a);
        clrnn_array_free(&a);
        if (st != CLRNN_OK) {
            print_message("  FAIL %s: set_input %s: %s: %s\n", name, meta.onnx_inputs.name[i], clrnn_status_name(st),
                          clrnn_last_error());
            ok = 0;
        }
    }
    if (ok && (st = clrnn_model_run(m)) != CLRNN_OK) {
        print_message("  FAIL %s: run: %s: %s\n", name, clrnn_status_name(st), clrnn_last_error());
        ok = 0;
    }
    *worst = 0;
    for (int i = 0; i < meta.keras_outputs.count && ok; ++i) {
        snprintf(path, sizeof path, "%s/out/%s.npy", dir, meta.keras_outputs.name[i]);
        clrnn_array want, got;
        memset(&got, 0, sizeof got);
        TU_OK(clrnn_npy_load(path, &want));
        double err = 0;
        st = clrnn_model_get_output(m, meta.onnx_outputs.name[i], &got);
        if (st != CLRNN_OK) {
            print_message("  FAIL %s: get_output %s: %s: %s\n", name, meta.onnx_outputs.name[i], clrnn_status_name(st),
                          clrnn_last_error());
            ok = 0;
        } else if (!oc_compare(&got, &want, 1e-5, 1e-5, &err, msg, sizeof msg)) {
            print_message("  FAIL %s output %s: %s\n", name, meta.onnx_outputs.name[i], msg);
            ok = 0;
        }
        if (err > *worst) *worst = err;
        clrnn_array_free(&got);
        clrnn_array_free(&want);
    }
    clrnn_model_destroy(m);
    return ok;
}

static void test_converted_models(void **state) {
    (void)state;
    const char *src = getenv("CLRNN_SOURCE_DIR");
    if (!src || !*src) fail_msg("CLRNN_SOURCE_DIR is not set (run through ctest)");
    char root[1024];
    snprintf(root, sizeof root, "%s/tests/keras", src);
    int n_dirs;
    char **dirs = oc_list(root, NULL, &n_dirs);
    int models = 0, passed = 0, failed = 0, unsupported = 0;
    for (int i = 0; i < n_dirs; ++i) {
        char dir[1200], onnx[1300];
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[i]);
        snprintf(onnx, sizeof onnx, "%s/model.onnx", dir);
        if (!oc_is_dir(dir) || !oc_exists(onnx)) continue; /* OPS.md; Keras-only cases */
        ++models;
        double worst = 0;
        const int r = run_model(dir, dirs[i], &worst);
        if (r > 0) {
            ++passed;
            print_message("  PASS %-44s max |got-exp|/(1+|exp|) %.2g\n", dirs[i], worst * 1e-5);
        } else if (r == 0) {
            ++failed;
        } else {
            ++unsupported;
        }
    }
    oc_free_list(dirs, n_dirs);
    print_message("converted models (tests/keras): %d, %d match the framework within 1e-5, %d FAIL, "
                  "%d refused\n", models, passed, failed, unsupported);
    assert_true(models >= 145); /* the data is all there */
    assert_int_equal(failed, 0);
    assert_int_equal(unsupported, 0);
    assert_int_equal(passed, models);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converted_models),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
