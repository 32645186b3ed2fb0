/* clrnn-run: runs an ONNX or Keras model on clrnn with inputs from .npy files.
 *
 *   clrnn-run MODEL --input NAME=FILE.npy [--input ...] --output-dir DIR [--device SPEC] [--repeat K]
 *   clrnn-run MODEL --info [--device SPEC]
 *
 * --info also lists the Loop/Scan nodes and what each became (fused RNN: cell, direction, mask;
 * or generic, and why).
 *
 * MODEL is told by its content, not its name: a zip ("PK\3\4") is a .keras archive, an HDF5 file
 * ("\x89HDF\r\n\x1a\n") a Keras .h5 file, anything else ONNX. Keras models take their inputs by
 * the InputLayer names and give their outputs by the output layers' names.
 *
 * Every graph output is written to DIR/NAME.npy (characters of NAME outside [A-Za-z0-9._-] become
 * '_'; a name longer than 251 bytes keeps its first 242 and gets '-' and 8 hex digits of a hash of
 * the whole name, so the file name fits NAME_MAX). The outputs appear together: each is written
 * to a temporary file in DIR and they are renamed into place only after all were written, so a
 * failure leaves none of this run's files behind. --repeat K runs the model K times and prints the
 * median wall time of one run. Any error: exit status 1 and exactly one line on stderr,
 * "clrnn-run: ...", always the last one (the library may print warnings before it, one line each,
 * "clrnn: warning: ..."; they are not errors). Strings from the model or the .npy files are
 * escaped (control bytes and invalid UTF-8 as \xNN) on stdout and stderr. Scripts depend on this
 * interface: keep it stable. */
#include "internal.h"
#include "tool_args.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *usage =
    "usage: clrnn-run MODEL --input NAME=FILE.npy [--input NAME=FILE.npy ...] --output-dir DIR\n"
    "                 [--device SPEC] [--repeat K]\n"
    "       clrnn-run MODEL --info [--device SPEC]\n"
    "       clrnn-run --version\n"
    "MODEL: an ONNX model, a .keras archive or a Keras .h5 file (told apart by content).\n"
    "Binds each graph input from a .npy file (float32, int32, int64), runs the model on an OpenCL\n"
    "device and writes every graph output to DIR/NAME.npy (characters of NAME other than letters,\n"
    "digits, '.', '_' and '-' become '_'; a name over 251 bytes is cut to 242 plus '-' and a hash;\n"
    "the outputs appear together, or none on a failure). --info lists the inputs and outputs.\n"
    "--repeat K runs K times and prints the median time of one run. --device: an index, gpu, cpu,\n"
    "or part of a device or platform name (default: $CLRNN_DEVICE, else the best GPU, else a CPU).\n"
    "Names from the files are shown with control bytes and invalid UTF-8 escaped as \\xNN.\n"
    "Exit status 0 on success, 1 on any error: one line on stderr, the last one (lines before it\n"
    "that start with 'clrnn: warning:' are the library's warnings).\n";

/* Temporary output files written so far: removed if the run fails before they are renamed. */
static char **tmp_files;
static int n_tmp_files;

static void remove_tmp_files(void) {
    for (int i = 0; i < n_tmp_files; ++i) unlink(tmp_files[i]);
}

/* One line on stderr, exit 1. Names from the model land in these messages, so the whole line is
 * escaped (newlines folded to spaces first), like clrnn_fail does for the library's messages. */
static void die(const char *fmt, ...) {
    char buf[4096], shown[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; ++p)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    clrnn_escape(shown, sizeof shown, buf, strlen(buf));
    remove_tmp_files();
    fflush(stdout);
    fprintf(stderr, "clrnn-run: %s\n", shown);
    exit(1);
}

/* A string from the model, escaped for the terminal (see clrnn_escape). */
#define ESC(s, buf) clrnn_esc((s), (buf), sizeof(buf))

/* mkdir -p for --output-dir, with messages about the output directory. */
static void make_output_dir(const char *dir) {
    const size_t n = strlen(dir);
    if (n == 0) die("--output-dir: the directory name is empty");
    if (n >= PATH_MAX - NAME_MAX - 2) die("--output-dir %.64s...: the path is too long (%zu bytes)", dir, n);
    char buf[PATH_MAX];
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; ++i) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        const char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            die("--output-dir %s: cannot create %s: %s", dir, buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) die("--output-dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) die("--output-dir %s: not a directory", dir);
}

/* FNV-1a of a name, for the suffix that keeps truncated file names apart. */
static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; ++s) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
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
        {
            char shown[256];
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "",
                                    t->dim_names[i] ? ESC(t->dim_names[i], shown) : "?");
        }
    }
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

/* --info: "title:" and a line "  NAME: type [shape]" per tensor of the n that info() describes. */
static void print_tensors(const char *title, const clrnn_model *model, int n,
                          clrnn_status (*info)(const clrnn_model *, int, clrnn_model_tensor_info *)) {
    printf("%s:\n", title);
    for (int i = 0; i < n; ++i) {
        clrnn_model_tensor_info t;
        char buf[512], e[1024];
        info(model, i, &t);
        describe(&t, buf, sizeof buf);
        printf("  %s: %s\n", ESC(t.name, e), buf);
    }
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

/* The model file's format, from its first bytes (an unreadable file is left to the loader to report). */
static const char *model_format(const char *path) {
    clrnn_status st;
    unsigned char magic[8] = {0};
    FILE *f = clrnn_open_regular(path, "model", CLRNN_ERR_IO, &st);
    if (!f) return "ONNX";
    const size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    static const unsigned char zip_magic[4] = {'P', 'K', 3, 4};
    static const unsigned char h5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n >= 4 && !memcmp(magic, zip_magic, 4)) return "Keras archive (.keras)";
    if (n >= 8 && !memcmp(magic, h5_magic, 8)) return "Keras HDF5 (.h5)";
    return "ONNX";
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
        if (!strcmp(a, "--version")) {
            free(inputs);
            return tool_version("clrnn-run");
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
                /* tool_args.h prints the one-line refusal naming the flag */
                if (!tool_long("clrnn-run", a, v, 1, 1000000, &repeat)) exit(1);
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
    const char *format = model_format(model_path);
    const int keras = strcmp(format, "ONNX") != 0;
#ifdef CLRNN_HAVE_KERAS
    if (keras ? clrnn_keras_load(ctx, model_path, &model) != CLRNN_OK : clrnn_onnx_load(ctx, model_path, &model) != CLRNN_OK)
        die("%s", detail());
#else
    if (keras) die("%s: a %s, but this clrnn was built without the keras module", model_path, format);
    if (clrnn_onnx_load(ctx, model_path, &model) != CLRNN_OK) die("%s", detail());
#endif
    const int n_in = clrnn_model_num_inputs(model), n_out = clrnn_model_num_outputs(model);

    if (info) {
        clrnn_model_info mi;
        clrnn_device_info di;
        clrnn_model_get_info(model, &mi);
        clrnn_context_device_info(ctx, &di);
        char e1[1024], e2[1024];
        printf("model: %s\n", ESC(model_path, e1));
        printf("format: %s\n", format);
        printf("producer: %s%s", *mi.producer_name ? ESC(mi.producer_name, e1) : "(unknown)", *mi.producer_version ? " " : "");
        if (keras) printf("%s\n", ESC(mi.producer_version, e2));
        else
            printf("%s, ir_version %lld, opset %lld\n", ESC(mi.producer_version, e2), (long long)mi.ir_version,
                   (long long)mi.opset);
        printf("nodes: %d (%d computed at load, %d recurrent)\n", mi.num_nodes, mi.num_folded, mi.num_recurrent);
        if (mi.num_loops > 0) {
            printf("loops: %d (%d fused into the RNN engine, %d generic)\n", mi.num_loops, mi.num_fused_loops,
                   mi.num_loops - mi.num_fused_loops);
            for (int i = 0; i < mi.num_loops; ++i) {
                clrnn_model_loop_info li;
                if (clrnn_model_get_loop_info(model, i, &li) != CLRNN_OK) continue;
                printf("  %s #%d%s%s%s: %s\n", li.op_type, li.node_index, *li.node_name ? " '" : "",
                       *li.node_name ? ESC(li.node_name, e1) : "", *li.node_name ? "'" : "", ESC(li.description, e2));
            }
        }
        printf("device: %s", ESC(di.name, e1));
        printf(" (%s)\n", ESC(di.platform_name, e2));
        print_tensors("inputs", model, n_in, clrnn_model_input_info);
        print_tensors("outputs", model, n_out, clrnn_model_output_info);
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

    /* File names first: a name that cannot be written fails before the model runs. */
    make_output_dir(out_dir);
    char **written = calloc((size_t)n_out + 1, sizeof *written);
    char **tmp = calloc((size_t)n_out + 1, sizeof *tmp);
    if (!written || !tmp) die("out of memory");
    tmp_files = tmp;
    for (int i = 0; i < n_out; ++i) {
        clrnn_model_tensor_info t;
        clrnn_model_output_info(model, i, &t);
        /* NAME_MAX bytes in all with ".npy"; a longer name keeps a hash of the whole of it */
        enum { FILE_MAX = NAME_MAX - 4, HASHED = FILE_MAX - 9 };
        char file[FILE_MAX + 1];
        const size_t len = strlen(t.name);
        if (len > FILE_MAX) snprintf(file, sizeof file, "%.*s-%08x", (int)HASHED, t.name, (unsigned)name_hash(t.name));
        else snprintf(file, sizeof file, "%s", t.name);
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

    /* Every output into a temporary file in DIR, then all renamed: a failure (die() removes the
     * temporary files) leaves no partial set of outputs. */
    char (*shapes)[256] = calloc((size_t)n_out + 1, sizeof *shapes);
    if (!shapes) die("out of memory");
    for (int i = 0; i < n_out; ++i) {
        clrnn_model_tensor_info t;
        clrnn_model_output_info(model, i, &t);
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/.clrnn-run-%ld-%d.tmp", out_dir, (long)getpid(), i) >= (int)sizeof path ||
            !(tmp[i] = malloc(strlen(path) + 1)))
            die("out of memory");
        strcpy(tmp[i], path);
        n_tmp_files = i + 1;
        clrnn_array arr;
        if (clrnn_model_get_output(model, t.name, &arr) != CLRNN_OK) die("output '%s': %s", t.name, detail());
        const clrnn_status st = clrnn_npy_save(path, &arr);
        array_shape(&arr, shapes[i], sizeof shapes[i]);
        clrnn_array_free(&arr);
        if (st != CLRNN_OK) die("output '%s': %s", t.name, detail());
    }
    /* a directory in the way would fail its rename after others were done: checked first */
    for (int i = 0; i < n_out; ++i) {
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s.npy", out_dir, written[i]); /* fits: make_output_dir bounds out_dir */
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) die("cannot write %s: it is a directory", path);
    }
    for (int i = 0; i < n_out; ++i) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.npy", out_dir, written[i]);
        if (rename(tmp[i], path) != 0) die("cannot write %s: %s", path, strerror(errno));
        /* renamed files are this run's result; only the rest are removed should a later rename fail */
        tmp[i][0] = '\0';
    }
    n_tmp_files = 0;
    for (int i = 0; i < n_out; ++i) {
        char path[PATH_MAX], shown[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.npy", out_dir, written[i]);
        printf("%s: %s\n", ESC(path, shown), shapes[i]);
    }
    free(shapes);
    for (int i = 0; i < n_out; ++i) free(tmp[i]);
    free(tmp);
    for (int i = 0; i < n_out; ++i) free(written[i]);
    free(written);
    for (int b = 0; b < n_inputs; ++b) free(inputs[b].name);
    free(inputs);
    clrnn_model_destroy(model);
    clrnn_context_destroy(ctx);
    return 0;
}
