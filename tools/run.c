/* clrnn-run: runs an ONNX model on clrnn with inputs from .npy files.
 *
 *   clrnn-run MODEL.onnx --input NAME=FILE.npy [--input ...] --output-dir DIR [--device SPEC] [--repeat K]
 *   clrnn-run MODEL.onnx --info [--device SPEC]
 *
 * Every graph output is written to DIR/NAME.npy (characters of NAME outside [A-Za-z0-9._-] become
 * '_'). --repeat K runs the model K times and prints the median wall time of one run. Any error:
 * exit status 1 and one line on stderr. Scripts depend on this interface: keep it stable. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *usage =
    "usage: clrnn-run MODEL.onnx --input NAME=FILE.npy [--input NAME=FILE.npy ...] --output-dir DIR\n"
    "                 [--device SPEC] [--repeat K]\n"
    "       clrnn-run MODEL.onnx --info [--device SPEC]\n"
    "Binds each graph input from a .npy file (float32, int32, int64), runs the model on an OpenCL\n"
    "device and writes every graph output to DIR/NAME.npy (characters of NAME other than letters,\n"
    "digits, '.', '_' and '-' become '_'). --info lists the inputs and outputs. --repeat K runs K\n"
    "times and prints the median time of one run. --device: an index, gpu, cpu, or part of a device\n"
    "or platform name (default: $CLRNN_DEVICE, else the best GPU, else a CPU).\n"
    "Exit status 0 on success, 1 on any error (one line on stderr).\n";

/* One line on stderr (newlines of a compiler log folded), exit 1. */
static void die(const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; ++p)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fprintf(stderr, "clrnn-run: %s\n", buf);
    exit(1);
}

/* The library's message without its "CLRNN_ERR_...: " prefix, copied (the next call may reuse it). */
static const char *detail(void) {
    static char buf[2048];
    const char *e = clrnn_last_error();
    const char *p = strstr(e, ": ");
    snprintf(buf, sizeof buf, "%s", (p && !strncmp(e, "CLRNN_", 6)) ? p + 2 : e);
    return buf;
}

static const char *dtype_name(clrnn_dtype t) {
    return t == CLRNN_DTYPE_FLOAT32 ? "float32" : t == CLRNN_DTYPE_INT32 ? "int32" : t == CLRNN_DTYPE_INT64 ? "int64" : "uint8";
}

static void describe(const clrnn_model_tensor_info *t, char *buf, size_t cap) {
    size_t pos = (size_t)snprintf(buf, cap, "%s", dtype_name(t->dtype));
    if (t->ndim < 0) {
        snprintf(buf + pos, cap - pos, " (shape not declared)");
        return;
    }
    pos += (size_t)snprintf(buf + pos, cap - pos, " [");
    for (int i = 0; i < t->ndim && pos < cap; ++i) {
        if (t->shape[i] >= 0)
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        else
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", t->dim_names[i] ? t->dim_names[i] : "?");
    }
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

static void array_shape(const clrnn_array *a, char *buf, size_t cap) {
    size_t pos = (size_t)snprintf(buf, cap, "%s [", dtype_name(a->dtype));
    for (int i = 0; i < a->ndim && pos < cap; ++i)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct binding {
    const char *arg;
    char *name;
    const char *file;
} binding;

int main(int argc, char **argv) {
    const char *model_path = NULL, *out_dir = NULL, *device = NULL;
    int info = 0;
    long repeat = 0;
    binding *inputs = calloc((size_t)argc, sizeof *inputs);
    int n_inputs = 0;
    if (!inputs) die("out of memory");
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            free(inputs);
            return 0;
        }
        if (!strcmp(a, "--info")) {
            info = 1;
        } else if (!strcmp(a, "--input") || !strcmp(a, "--output-dir") || !strcmp(a, "--device") || !strcmp(a, "--repeat")) {
            if (i + 1 >= argc) die("%s needs a value (see --help)", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--input")) inputs[n_inputs++].arg = v;
            else if (!strcmp(a, "--output-dir")) out_dir = v;
            else if (!strcmp(a, "--device")) device = v;
            else {
                char *end;
                repeat = strtol(v, &end, 10);
                if (*end || repeat < 1 || repeat > 1000000) die("--repeat %s: expected a count >= 1", v);
            }
        } else if (a[0] == '-' && a[1]) {
            die("unknown option %s (see --help)", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            die("unexpected argument '%s' (one model per run; see --help)", a);
        }
    }
    if (!model_path) die("no model given (see --help)");
    if (!info && !out_dir) die("--output-dir DIR is required (or --info; see --help)");

    clrnn_context_params params = clrnn_context_default_params();
    params.device = device;
    clrnn_context *ctx = NULL;
    if (clrnn_context_create(&params, &ctx) != CLRNN_OK) die("cannot open the OpenCL device: %s", detail());
    clrnn_model *model = NULL;
    if (clrnn_onnx_load(ctx, model_path, &model) != CLRNN_OK) die("%s", detail());
    const int n_in = clrnn_model_num_inputs(model), n_out = clrnn_model_num_outputs(model);

    if (info) {
        clrnn_model_info mi;
        clrnn_device_info di;
        clrnn_model_get_info(model, &mi);
        clrnn_context_device_info(ctx, &di);
        printf("model: %s\n", model_path);
        printf("producer: %s%s%s, ir_version %lld, opset %lld\n", *mi.producer_name ? mi.producer_name : "(unknown)",
               *mi.producer_version ? " " : "", mi.producer_version, (long long)mi.ir_version, (long long)mi.opset);
        printf("nodes: %d (%d computed at load, %d recurrent)\n", mi.num_nodes, mi.num_folded, mi.num_recurrent);
        printf("device: %s (%s)\n", di.name, di.platform_name);
        printf("inputs:\n");
        for (int i = 0; i < n_in; ++i) {
            clrnn_model_tensor_info t;
            char buf[512];
            clrnn_model_input_info(model, i, &t);
            describe(&t, buf, sizeof buf);
            printf("  %s: %s\n", t.name, buf);
        }
        printf("outputs:\n");
        for (int i = 0; i < n_out; ++i) {
            clrnn_model_tensor_info t;
            char buf[512];
            clrnn_model_output_info(model, i, &t);
            describe(&t, buf, sizeof buf);
            printf("  %s: %s\n", t.name, buf);
        }
        clrnn_model_destroy(model);
        clrnn_context_destroy(ctx);
        free(inputs);
        return 0;
    }

    /* NAME=FILE: split at the first '=' whose prefix names an input (names may contain '='). */
    for (int b = 0; b < n_inputs; ++b) {
        const char *arg = inputs[b].arg;
        const char *eq = NULL;
        for (const char *p = strchr(arg, '='); p && !eq; p = strchr(p + 1, '='))
            for (int i = 0; i < n_in && !eq; ++i) {
                clrnn_model_tensor_info t;
                clrnn_model_input_info(model, i, &t);
                if (strlen(t.name) == (size_t)(p - arg) && !strncmp(t.name, arg, (size_t)(p - arg))) eq = p;
            }
        if (!eq) eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1]) die("--input %s: expected NAME=FILE.npy", arg);
        inputs[b].name = malloc((size_t)(eq - arg) + 1);
        if (!inputs[b].name) die("out of memory");
        memcpy(inputs[b].name, arg, (size_t)(eq - arg));
        inputs[b].name[eq - arg] = '\0';
        inputs[b].file = eq + 1;
        for (int c = 0; c < b; ++c)
            if (!strcmp(inputs[c].name, inputs[b].name)) die("input '%s' is given twice", inputs[b].name);
        clrnn_array arr;
        if (clrnn_npy_load(inputs[b].file, &arr) != CLRNN_OK) die("input '%s': %s", inputs[b].name, detail());
        const clrnn_status st = clrnn_model_set_input(model, inputs[b].name, &arr);
        clrnn_array_free(&arr);
        if (st != CLRNN_OK) die("%s (from %s)", detail(), inputs[b].file);
    }
    for (int i = 0; i < n_in; ++i) {
        clrnn_model_tensor_info t;
        clrnn_model_input_info(model, i, &t);
        int given = 0;
        for (int b = 0; b < n_inputs; ++b) given |= !strcmp(inputs[b].name, t.name);
        if (!given) {
            char buf[512];
            describe(&t, buf, sizeof buf);
            die("input '%s' was not given: add --input %s=FILE.npy (the model expects %s)", t.name, t.name, buf);
        }
    }

    const long runs = repeat > 0 ? repeat : 1;
    double *times = malloc((size_t)runs * sizeof *times);
    if (!times) die("out of memory");
    for (long r = 0; r < runs; ++r) {
        const double t0 = now_ms();
        if (clrnn_model_run(model) != CLRNN_OK) die("%s", detail());
        times[r] = now_ms() - t0;
    }
    if (repeat > 0) {
        qsort(times, (size_t)runs, sizeof *times, cmp_double);
        const double median = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
        printf("median %.3f ms over %ld runs (min %.3f, max %.3f)\n", median, runs, times[0], times[runs - 1]);
    }
    free(times);

    if (clrnn_mkdirs(out_dir) != CLRNN_OK) die("--output-dir %s: %s", out_dir, detail());
    char **written = calloc((size_t)n_out + 1, sizeof *written);
    if (!written) die("out of memory");
    for (int i = 0; i < n_out; ++i) {
        clrnn_model_tensor_info t;
        clrnn_model_output_info(model, i, &t);
        char file[256];
        snprintf(file, sizeof file, "%s", t.name);
        for (char *p = file; *p; ++p)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                  *p == '_' || *p == '-'))
                *p = '_';
        if (!file[0] || !strcmp(file, ".") || !strcmp(file, "..")) snprintf(file, sizeof file, "output_%d", i);
        for (int j = 0; j < i; ++j)
            if (!strcmp(written[j], file))
                die("outputs '%s' and another one both map to the file name %s.npy", t.name, file);
        if (!(written[i] = malloc(strlen(file) + 1))) die("out of memory");
        strcpy(written[i], file);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", out_dir, file);
        clrnn_array arr;
        if (clrnn_model_get_output(model, t.name, &arr) != CLRNN_OK) die("output '%s': %s", t.name, detail());
        const clrnn_status st = clrnn_npy_save(path, &arr);
        char shape[256];
        array_shape(&arr, shape, sizeof shape);
        clrnn_array_free(&arr);
        if (st != CLRNN_OK) die("output '%s': %s", t.name, detail());
        printf("%s: %s\n", path, shape);
    }
    for (int i = 0; i < n_out; ++i) free(written[i]);
    free(written);
    for (int b = 0; b < n_inputs; ++b) free(inputs[b].name);
    free(inputs);
    clrnn_model_destroy(model);
    clrnn_context_destroy(ctx);
    return 0;
}
