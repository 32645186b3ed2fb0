/* Runs one test case in the layout of the ONNX backend node tests:
 *   <dir>/model.onnx, <dir>/test_data_set_<k>/input_<i>.pb, output_<i>.pb (serialized TensorProtos)
 * Inputs bind to the graph inputs in order, outputs compare with the graph outputs in order.
 * Shared by the ONNX tests (header-only, static functions). */
#ifndef CLRNN_ONNX_CASE_H
#define CLRNN_ONNX_CASE_H

#include <dirent.h>
#include <sys/stat.h>

#include "../test_util.h"

typedef enum { CASE_PASS, CASE_UNSUPPORTED, CASE_FAIL } case_result;

typedef struct case_report {
    case_result result;
    char message[1024]; /* why it failed or is unsupported */
    double max_err;     /* largest scaled error over all outputs */
    int data_sets;
} case_report;

static inline int oc_is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static inline int oc_exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

static inline int oc_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of dir starting with prefix (NULL: all but "." and ".."); free with oc_free_list. */
static char **oc_list(const char *dir, const char *prefix, int *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    size_t cap = 64;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (prefix && strncmp(e->d_name, prefix, strlen(prefix))) continue;
        if ((size_t)*count == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[*count] = malloc(strlen(e->d_name) + 1);
        strcpy(names[(*count)++], e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)*count, sizeof *names, oc_cmp_str);
    return names;
}

static inline void oc_free_list(char **names, int count) {
    for (int i = 0; i < count; ++i) free(names[i]);
    free(names);
}

static inline const char *oc_dtype(clrnn_dtype t) {
    return t == CLRNN_DTYPE_FLOAT32 ? "float32" : t == CLRNN_DTYPE_INT32 ? "int32" : t == CLRNN_DTYPE_INT64 ? "int64" : "uint8";
}

/* Compares got with want: same dtype and shape; floats within atol + rtol * |want| (NaN equals NaN),
 * integers exactly. Returns 1 when equal; else writes why into msg. *err: max |d| / (atol + rtol|want|). */
static inline int oc_compare(const clrnn_array *got, const clrnn_array *want, double atol, double rtol, double *err, char *msg,
                      size_t cap) {
    *err = 0;
    if (got->dtype != want->dtype) {
        snprintf(msg, cap, "dtype %s, expected %s", oc_dtype(got->dtype), oc_dtype(want->dtype));
        return 0;
    }
    int same = got->ndim == want->ndim;
    for (int i = 0; same && i < got->ndim; ++i) same = got->shape[i] == want->shape[i];
    if (!same) {
        char a[128] = "", b[128] = "";
        size_t pa = 0, pb = 0;
        for (int i = 0; i < got->ndim; ++i) pa += (size_t)snprintf(a + pa, sizeof a - pa, "%s%lld", i ? "," : "", (long long)got->shape[i]);
        for (int i = 0; i < want->ndim; ++i) pb += (size_t)snprintf(b + pb, sizeof b - pb, "%s%lld", i ? "," : "", (long long)want->shape[i]);
        snprintf(msg, cap, "shape [%s], expected [%s]", a, b);
        return 0;
    }
    for (size_t i = 0; i < want->count; ++i) {
        if (want->dtype == CLRNN_DTYPE_FLOAT32) {
            const float g = ((const float *)got->data)[i], w = ((const float *)want->data)[i];
            if (isnan(g) || isnan(w)) {
                if (isnan(g) && isnan(w)) continue;
                snprintf(msg, cap, "element %zu is %g, expected %g", i, (double)g, (double)w);
                *err = INFINITY;
                return 0;
            }
            if (isinf(w) || isinf(g)) {
                if (g == w) continue;
                snprintf(msg, cap, "element %zu is %g, expected %g", i, (double)g, (double)w);
                *err = INFINITY;
                return 0;
            }
            const double e = fabs((double)g - (double)w) / (atol + rtol * fabs((double)w));
            if (e > *err) *err = e;
            if (e > 1.0) {
                snprintf(msg, cap, "element %zu is %.9g, expected %.9g (|diff| %.3g)", i, (double)g, (double)w,
                         fabs((double)g - (double)w));
                return 0;
            }
        } else {
            const size_t es = clrnn_dtype_size(want->dtype);
            if (memcmp((const char *)got->data + i * es, (const char *)want->data + i * es, es)) {
                snprintf(msg, cap, "element %zu differs (integer data must match exactly)", i);
                *err = INFINITY;
                return 0;
            }
        }
    }
    return 1;
}

/* Runs every data set of the case in dir. atol/rtol as in oc_compare. */
static inline case_report oc_run_case(const char *dir, double atol, double rtol) {
    case_report r;
    memset(&r, 0, sizeof r);
    char path[4608];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    clrnn_model *model = NULL;
    clrnn_status st = clrnn_onnx_load(tu_context(), path, &model);
    if (st != CLRNN_OK) {
        r.result = st == CLRNN_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
        snprintf(r.message, sizeof r.message, "load: %s", clrnn_last_error());
        return r;
    }
    int n_sets;
    char **sets = oc_list(dir, "test_data_set_", &n_sets);
    r.result = CASE_PASS;
    for (int s = 0; s < n_sets && r.result == CASE_PASS; ++s) {
        for (int i = 0; i < clrnn_model_num_inputs(model) && r.result == CASE_PASS; ++i) {
            clrnn_model_tensor_info info;
            clrnn_model_input_info(model, i, &info);
            snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, sets[s], i);
            if (!oc_exists(path)) continue; /* an optional input the case leaves out */
            clrnn_array a;
            st = clrnn_onnx_tensor_load(path, &a);
            if (st == CLRNN_OK) st = clrnn_model_set_input(model, info.name, &a);
            if (st != CLRNN_OK) {
                r.result = st == CLRNN_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
                snprintf(r.message, sizeof r.message, "input %d: %s", i, clrnn_last_error());
            }
            clrnn_array_free(&a);
        }
        if (r.result != CASE_PASS) break;
        if ((st = clrnn_model_run(model)) != CLRNN_OK) {
            r.result = CASE_FAIL;
            snprintf(r.message, sizeof r.message, "run: %s", clrnn_last_error());
            break;
        }
        for (int i = 0; i < clrnn_model_num_outputs(model) && r.result == CASE_PASS; ++i) {
            clrnn_model_tensor_info info;
            clrnn_model_output_info(model, i, &info);
            snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, sets[s], i);
            clrnn_array want, got;
            memset(&got, 0, sizeof got);
            if ((st = clrnn_onnx_tensor_load(path, &want)) != CLRNN_OK) {
                r.result = CASE_FAIL;
                snprintf(r.message, sizeof r.message, "expected output %d: %s", i, clrnn_last_error());
                break;
            }
            if ((st = clrnn_model_get_output(model, info.name, &got)) != CLRNN_OK) {
                r.result = CASE_FAIL;
                snprintf(r.message, sizeof r.message, "output %d: %s", i, clrnn_last_error());
            } else {
                char msg[512];
                double err;
                if (!oc_compare(&got, &want, atol, rtol, &err, msg, sizeof msg)) {
                    r.result = CASE_FAIL;
                    snprintf(r.message, sizeof r.message, "%s output %d '%s': %s", sets[s], i, info.name, msg);
                }
                if (err > r.max_err) r.max_err = err;
            }
            clrnn_array_free(&want);
            clrnn_array_free(&got);
        }
        r.data_sets++;
    }
    if (n_sets == 0 && r.result == CASE_PASS) {
        r.result = CASE_FAIL;
        snprintf(r.message, sizeof r.message, "no test_data_set_* directory");
    }
    oc_free_list(sets, n_sets);
    clrnn_model_destroy(model);
    return r;
}

#endif
