/* clrnn-train: trains a recurrent network from .npy files on an OpenCL device.
 *
 *   clrnn-train --x X.npy --y Y.npy [--val-x VX.npy --val-y VY.npy] [--lengths L.npy | --mask-value V]
 *     [--embedding VOCAB:DIM [--mask-zero]] --cell rnn_tanh|rnn_relu|lstm|gru|gru_lbr --hidden H
 *     [--layers L] [--bidirectional [--merge concat|sum|ave|mul]] [--dropout P] [--input-dropout P]
 *     [--recurrent-dropout P] --head softmax:C|sigmoid|linear:O|seq-linear:O
 *     [--optimizer adam|sgd|rmsprop] [--lr LR] [--momentum M] [--clip-norm G] [--batch B]
 *     (--epochs E | --steps S) [--seed S] [--save model.onnx] [--json] [--device SPEC]
 *     [--init DIR] [--no-shuffle] [--val-lengths VL.npy]
 *
 * The data path of one step: a batch of rows (the epoch's order) → [embedding] → the rnn's
 * forward_train (its dense layer is the head's linear map) → the head's loss and its gradient →
 * backward_data → backward_weights → [the embedding's backward] → one optimizer step (after the
 * global-norm clip). Validation runs the inference forward. Scripts depend on this interface and on
 * the --json object (train_loss, val_loss, val_accuracy for classification heads, steps, seconds,
 * ms_per_step; setup_seconds: the warm-up before the steps, see warm_up): keep them stable.
 *
 * The order of an epoch is a Fisher-Yates shuffle driven by splitmix64 from --seed and the epoch
 * number (tools/train/train_torch.py draws the very same), --no-shuffle keeps the file's order.
 * --init DIR starts from weights saved as .npy files in PyTorch's names (rnn.weight_ih_l0,
 * rnn.bias_hh_l1_reverse, head.weight, head.bias, embedding.weight: what train_torch.py
 * --dump-init writes); otherwise weights are drawn as PyTorch draws them (uniform in ±1/sqrt(H) for
 * the rnn, ±1/sqrt(fan_in) for the head, N(0, 1) for the embedding) from --seed.
 * Errors: exit status 1 and one line on stderr, "clrnn-train: ...". */
#include "clrnn.h"
#include "tool_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *usage =
    "usage: clrnn-train --x X.npy --y Y.npy [--val-x VX.npy --val-y VY.npy]\n"
    "                   [--lengths L.npy [--val-lengths VL.npy] | --mask-value V]\n"
    "                   [--embedding VOCAB:DIM [--mask-zero]]\n"
    "                   --cell rnn_tanh|rnn_relu|lstm|gru|gru_lbr --hidden H [--layers L]\n"
    "                   [--bidirectional [--merge concat|sum|ave|mul]]\n"
    "                   [--dropout P] [--input-dropout P] [--recurrent-dropout P]\n"
    "                   --head softmax:C|sigmoid|linear:O|seq-linear:O\n"
    "                   [--optimizer adam|sgd|rmsprop] [--lr LR] [--momentum M] [--clip-norm G]\n"
    "                   [--batch B] (--epochs E | --steps S) [--seed S] [--no-shuffle] [--init DIR]\n"
    "                   [--save model.onnx] [--json] [--device SPEC]\n"
    "       clrnn-train --version\n"
    "X: float32 [N, T, F] (batch-major), or integer ids [N, T] with --embedding. Y: int labels [N]\n"
    "(softmax), [N] or [N, 1] floats (sigmoid), [N, O] (linear: the last step), [N, T, O]\n"
    "(seq-linear: every step). --lengths gives each row's length; --mask-value V masks the steps\n"
    "whose features all equal V (Keras Masking); --mask-zero masks id 0. --dropout acts between\n"
    "layers, --input-dropout / --recurrent-dropout as Keras runs its dropout / recurrent_dropout:\n"
    "with --recurrent-dropout a mask per gate and sample, without it one per step for all gates.\n"
    "A progress line on stderr while training, a validation line per epoch, and with --json one\n"
    "JSON object on stdout at the end. --save writes an ONNX model (input x, output y) that\n"
    "clrnn-run and onnxruntime run. Exit status 0 on success, 1 on an error (one line on stderr).\n";

static void die(const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; ++p)
        if ((unsigned char)*p < 0x20) *p = ' ';
    fflush(stdout);
    fprintf(stderr, "clrnn-train: %s\n", buf);
    exit(1);
}

/* A failed library call: its status and message. */
static void check(clrnn_status st, const char *what) {
    if (st != CLRNN_OK) die("%s: %s", what, clrnn_last_error());
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------------------------- */
typedef enum head_kind { HEAD_SOFTMAX, HEAD_SIGMOID, HEAD_LINEAR, HEAD_SEQ_LINEAR } head_kind;

typedef struct options {
    const char *x, *y, *val_x, *val_y, *lengths, *val_lengths, *save, *device, *init;
    int has_mask_value;
    double mask_value;
    int vocab, embed_dim, mask_zero;
    const char *cell;
    int hidden, layers, bidirectional;
    clrnn_merge merge;
    double dropout, input_dropout, recurrent_dropout;
    head_kind head;
    int out; /* classes or output features */
    const char *optimizer;
    double lr, momentum, clip_norm;
    int batch, epochs, steps, json, shuffle;
    uint64_t seed;
} options;

static const char *value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die("%s needs a value (see --help)", argv[*i]);
    return argv[++*i];
}

static void parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->layers = 1, o->batch = 32, o->lr = 1e-3, o->optimizer = "adam", o->shuffle = 1, o->merge = CLRNN_MERGE_CONCAT;
    const char *head = NULL;
    int merge_given = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        int iv;
        double dv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            exit(tool_version("clrnn-train"));
        } else if (!strcmp(a, "--x")) o->x = value(argc, argv, &i);
        else if (!strcmp(a, "--y")) o->y = value(argc, argv, &i);
        else if (!strcmp(a, "--val-x")) o->val_x = value(argc, argv, &i);
        else if (!strcmp(a, "--val-y")) o->val_y = value(argc, argv, &i);
        else if (!strcmp(a, "--lengths")) o->lengths = value(argc, argv, &i);
        else if (!strcmp(a, "--val-lengths")) o->val_lengths = value(argc, argv, &i);
        else if (!strcmp(a, "--save")) o->save = value(argc, argv, &i);
        else if (!strcmp(a, "--device")) o->device = value(argc, argv, &i);
        else if (!strcmp(a, "--init")) o->init = value(argc, argv, &i);
        else if (!strcmp(a, "--mask-value")) {
            if (!tool_double("clrnn-train", a, value(argc, argv, &i), -1e30, 1e30, &o->mask_value)) exit(1);
            o->has_mask_value = 1;
        } else if (!strcmp(a, "--embedding")) {
            const char *v = value(argc, argv, &i);
            char vocab[32];
            const char *colon = strchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof vocab) die("--embedding '%s': expected VOCAB:DIM", v);
            memcpy(vocab, v, (size_t)(colon - v));
            vocab[colon - v] = 0;
            if (!tool_int("clrnn-train", "--embedding VOCAB", vocab, 1, 1 << 24, &o->vocab) ||
                !tool_int("clrnn-train", "--embedding DIM", colon + 1, 1, 1 << 16, &o->embed_dim))
                exit(1);
        } else if (!strcmp(a, "--mask-zero")) o->mask_zero = 1;
        else if (!strcmp(a, "--cell")) o->cell = value(argc, argv, &i);
        else if (!strcmp(a, "--hidden")) {
            if (!tool_int("clrnn-train", a, value(argc, argv, &i), 1, 1 << 16, &o->hidden)) exit(1);
        } else if (!strcmp(a, "--layers")) {
            if (!tool_int("clrnn-train", a, value(argc, argv, &i), 1, 64, &o->layers)) exit(1);
        } else if (!strcmp(a, "--bidirectional")) o->bidirectional = 1;
        else if (!strcmp(a, "--merge")) {
            const char *v = value(argc, argv, &i);
            merge_given = 1;
            if (!strcmp(v, "concat")) o->merge = CLRNN_MERGE_CONCAT;
            else if (!strcmp(v, "sum")) o->merge = CLRNN_MERGE_SUM;
            else if (!strcmp(v, "ave")) o->merge = CLRNN_MERGE_AVE;
            else if (!strcmp(v, "mul")) o->merge = CLRNN_MERGE_MUL;
            else die("--merge '%s': expected concat, sum, ave or mul", v);
        } else if (!strcmp(a, "--dropout") || !strcmp(a, "--input-dropout") || !strcmp(a, "--recurrent-dropout")) {
            if (!tool_double("clrnn-train", a, value(argc, argv, &i), 0, 0.999, &dv)) exit(1);
            *(a[2] == 'd' ? &o->dropout : a[2] == 'i' ? &o->input_dropout : &o->recurrent_dropout) = dv;
        } else if (!strcmp(a, "--head")) head = value(argc, argv, &i);
        else if (!strcmp(a, "--optimizer")) o->optimizer = value(argc, argv, &i);
        else if (!strcmp(a, "--lr")) {
            if (!tool_double("clrnn-train", a, value(argc, argv, &i), 0, 1e6, &o->lr)) exit(1);
        } else if (!strcmp(a, "--momentum")) {
            if (!tool_double("clrnn-train", a, value(argc, argv, &i), 0, 0.9999, &o->momentum)) exit(1);
        } else if (!strcmp(a, "--clip-norm")) {
            if (!tool_double("clrnn-train", a, value(argc, argv, &i), 1e-30, 1e30, &o->clip_norm)) exit(1);
        } else if (!strcmp(a, "--batch")) {
            if (!tool_int("clrnn-train", a, value(argc, argv, &i), 1, 1 << 20, &o->batch)) exit(1);
        } else if (!strcmp(a, "--epochs")) {
            if (!tool_int("clrnn-train", a, value(argc, argv, &i), 1, 1 << 20, &o->epochs)) exit(1);
        } else if (!strcmp(a, "--steps")) {
            if (!tool_int("clrnn-train", a, value(argc, argv, &i), 1, 1 << 30, &o->steps)) exit(1);
        } else if (!strcmp(a, "--seed")) {
            if (!tool_u64("clrnn-train", a, value(argc, argv, &i), &o->seed)) exit(1);
        } else if (!strcmp(a, "--no-shuffle")) o->shuffle = 0;
        else if (!strcmp(a, "--json")) o->json = 1;
        else die("unknown argument '%s' (see --help)", a);
        (void)iv;
    }
    if (!o->x || !o->y) die("--x and --y are required (see --help)");
    if (!o->cell) die("--cell is required (rnn_tanh, rnn_relu, lstm, gru or gru_lbr)");
    if (strcmp(o->cell, "rnn_tanh") && strcmp(o->cell, "rnn_relu") && strcmp(o->cell, "lstm") && strcmp(o->cell, "gru") &&
        strcmp(o->cell, "gru_lbr"))
        die("--cell '%s': expected rnn_tanh, rnn_relu, lstm, gru or gru_lbr", o->cell);
    if (!o->hidden) die("--hidden is required");
    if (!head) die("--head is required (softmax:C, sigmoid, linear:O or seq-linear:O)");
    if (!!o->val_x != !!o->val_y) die("--val-x and --val-y go together");
    if (!o->epochs == !o->steps) die("give exactly one of --epochs and --steps");
    if (o->lengths && o->has_mask_value) die("--lengths and --mask-value exclude each other");
    if (o->mask_zero && !o->vocab) die("--mask-zero needs --embedding");
    if (o->vocab && o->has_mask_value) die("--mask-value is for float inputs; ids use --mask-zero");
    if (merge_given && !o->bidirectional) die("--merge needs --bidirectional");
    if (o->val_lengths && !o->lengths) die("--val-lengths needs --lengths");
    if (o->lengths && o->val_x && !o->val_lengths) die("--lengths with --val-x needs --val-lengths");
    if (o->save) {
        /* before training, not after it: a model that cannot be written is known now */
        char dir[4096];
        const char *slash = strrchr(o->save, '/');
        const size_t n = !slash ? 0 : slash == o->save ? 1 : (size_t)(slash - o->save);
        if (n >= sizeof dir) die("--save '%s': path too long", o->save);
        memcpy(dir, n ? o->save : ".", n ? n : 1);
        dir[n ? n : 1] = 0;
        if (access(dir, W_OK | X_OK) != 0) die("--save %s: directory '%s': %s", o->save, dir, strerror(errno));
    }
    if (strcmp(o->optimizer, "adam") && strcmp(o->optimizer, "sgd") && strcmp(o->optimizer, "rmsprop"))
        die("--optimizer '%s': expected adam, sgd or rmsprop", o->optimizer);
    if (!strcmp(o->optimizer, "adam") && o->momentum > 0) die("--momentum is for sgd and rmsprop");
    const char *colon = strchr(head, ':');
    const size_t kind_len = colon ? (size_t)(colon - head) : strlen(head);
    if (kind_len == 7 && !strncmp(head, "softmax", 7)) o->head = HEAD_SOFTMAX;
    else if (kind_len == 7 && !strncmp(head, "sigmoid", 7)) o->head = HEAD_SIGMOID;
    else if (kind_len == 6 && !strncmp(head, "linear", 6)) o->head = HEAD_LINEAR;
    else if (kind_len == 10 && !strncmp(head, "seq-linear", 10)) o->head = HEAD_SEQ_LINEAR;
    else die("--head '%s': expected softmax:C, sigmoid, linear:O or seq-linear:O", head);
    if (o->head == HEAD_SIGMOID) {
        if (colon && strcmp(colon, ":1")) die("--head sigmoid has one output (sigmoid or sigmoid:1)");
        o->out = 1;
    } else {
        if (!colon) die("--head '%s' needs its size (e.g. %.*s:10)", head, (int)kind_len, head);
        if (!tool_int("clrnn-train", "--head", colon + 1, o->head == HEAD_SOFTMAX ? 2 : 1, 1 << 20, &o->out)) exit(1);
    }
}

/* ------------------------------------------------------------------------------------------
 * Data
 * ---------------------------------------------------------------------------------------- */
typedef struct dataset {
    clrnn_array x, y;
    int32_t *lengths; /* [N] or NULL */
    uint8_t *mask;    /* [N, T] or NULL (--mask-value / --mask-zero) */
    int N, T, F;      /* F: features (float x) */
    int64_t *ids;     /* [N, T] ids as int64 (--embedding) */
} dataset;

static const char *dtype_name(clrnn_dtype t) {
    return t == CLRNN_DTYPE_FLOAT32 ? "float32" : t == CLRNN_DTYPE_INT32 ? "int32" : t == CLRNN_DTYPE_INT64 ? "int64" : "uint8";
}

static void load_npy(const char *path, const char *flag, clrnn_array *a) {
    clrnn_status st = clrnn_npy_load(path, a);
    if (st != CLRNN_OK) die("%s %s: %s", flag, path, clrnn_last_error());
}

static double elem(const clrnn_array *a, size_t i) {
    switch (a->dtype) {
    case CLRNN_DTYPE_FLOAT32: return ((const float *)a->data)[i];
    case CLRNN_DTYPE_INT32: return ((const int32_t *)a->data)[i];
    case CLRNN_DTYPE_INT64: return (double)((const int64_t *)a->data)[i];
    default: return ((const uint8_t *)a->data)[i];
    }
}

static void load_set(const options *o, const char *xp, const char *yp, const char *lp, const char *what, dataset *d) {
    memset(d, 0, sizeof *d);
    load_npy(xp, what[0] == 't' ? "--x" : "--val-x", &d->x);
    load_npy(yp, what[0] == 't' ? "--y" : "--val-y", &d->y);
    const clrnn_array *x = &d->x, *y = &d->y;
    if (o->vocab) {
        if ((x->dtype != CLRNN_DTYPE_INT32 && x->dtype != CLRNN_DTYPE_INT64) || x->ndim != 2)
            die("%s x %s: with --embedding x holds integer ids [N, T], not %s of rank %d", what, xp, dtype_name(x->dtype), x->ndim);
        d->F = o->embed_dim;
    } else {
        if (x->dtype != CLRNN_DTYPE_FLOAT32 || x->ndim != 3)
            die("%s x %s: expected float32 [N, T, F] (batch-major), not %s of rank %d%s", what, xp, dtype_name(x->dtype),
                x->ndim, x->dtype != CLRNN_DTYPE_FLOAT32 ? " (ids need --embedding)" : "");
        d->F = (int)x->shape[2];
    }
    if (x->shape[0] < 1 || x->shape[1] < 1 || x->shape[0] > INT32_MAX || x->shape[1] > (1 << 20) || d->F < 1)
        die("%s x %s: shape with an empty or too large dimension", what, xp);
    d->N = (int)x->shape[0];
    d->T = (int)x->shape[1];
    if (o->vocab) {
        d->ids = malloc(x->count * sizeof *d->ids);
        if (!d->ids) die("out of memory");
        for (size_t i = 0; i < x->count; ++i) {
            const int64_t v = x->dtype == CLRNN_DTYPE_INT32 ? ((const int32_t *)x->data)[i] : ((const int64_t *)x->data)[i];
            if (v < 0 || v >= o->vocab)
                die("%s x %s: id %lld at element %zu is outside the embedding's [0, %d)", what, xp, (long long)v, i, o->vocab);
            d->ids[i] = v;
        }
    } else {
        for (size_t i = 0; i < x->count; ++i)
            if (!isfinite(((const float *)x->data)[i])) die("%s x %s: element %zu is not finite", what, xp, i);
    }
    /* y by head */
    const long long N = d->N, T = d->T, O = o->out;
    int ok;
    switch (o->head) {
    case HEAD_SOFTMAX:
        ok = (y->dtype == CLRNN_DTYPE_INT32 || y->dtype == CLRNN_DTYPE_INT64) && y->ndim == 1 && y->shape[0] == N;
        if (!ok) die("%s y %s: softmax:%d needs integer labels [%lld], not %s of rank %d", what, yp, o->out, N, dtype_name(y->dtype), y->ndim);
        for (size_t i = 0; i < y->count; ++i)
            if (elem(y, i) < 0 || elem(y, i) >= O) die("%s y %s: label %.0f of row %zu is outside [0, %d)", what, yp, elem(y, i), i, o->out);
        break;
    case HEAD_SIGMOID:
        ok = y->dtype == CLRNN_DTYPE_FLOAT32 && y->count == (size_t)N && (y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1));
        if (!ok) die("%s y %s: sigmoid needs float32 [%lld] or [%lld, 1]", what, yp, N, N);
        break;
    case HEAD_LINEAR:
        ok = y->dtype == CLRNN_DTYPE_FLOAT32 && y->ndim == 2 && y->shape[0] == N && y->shape[1] == O;
        if (!ok) die("%s y %s: linear:%d needs float32 [%lld, %lld]", what, yp, o->out, N, O);
        break;
    case HEAD_SEQ_LINEAR:
        ok = y->dtype == CLRNN_DTYPE_FLOAT32 && y->ndim == 3 && y->shape[0] == N && y->shape[1] == T && y->shape[2] == O;
        if (!ok) die("%s y %s: seq-linear:%d needs float32 [%lld, %lld, %lld]", what, yp, o->out, N, T, O);
        break;
    }
    if (y->dtype == CLRNN_DTYPE_FLOAT32)
        for (size_t i = 0; i < y->count; ++i)
            if (!isfinite(((const float *)y->data)[i])) die("%s y %s: element %zu is not finite", what, yp, i);
    /* which steps count */
    if (lp) {
        clrnn_array l;
        load_npy(lp, what[0] == 't' ? "--lengths" : "--val-lengths", &l);
        if ((l.dtype != CLRNN_DTYPE_INT32 && l.dtype != CLRNN_DTYPE_INT64) || l.ndim != 1 || l.shape[0] != N)
            die("%s lengths %s: expected integer [%lld]", what, lp, N);
        d->lengths = malloc((size_t)N * sizeof *d->lengths);
        if (!d->lengths) die("out of memory");
        for (int n = 0; n < N; ++n) {
            const double v = elem(&l, (size_t)n);
            if (v < 0 || v > T) die("%s lengths %s: length %.0f of row %d is outside [0, T = %lld]", what, lp, v, n, T);
            d->lengths[n] = (int32_t)v;
        }
        clrnn_array_free(&l);
    } else if (o->has_mask_value || o->mask_zero) {
        /* Keras' masks, per step (holes allowed): Masking on the values, or Embedding(mask_zero) */
        d->mask = malloc((size_t)N * T);
        if (!d->mask) die("out of memory");
        if (o->mask_zero)
            for (size_t nt = 0; nt < (size_t)N * T; ++nt) d->mask[nt] = d->ids[nt] != 0;
        else
            check(clrnn_mask_from_value(x->data, d->N, d->T, d->F, (float)o->mask_value, d->mask, NULL, NULL),
                  "--mask-value");
    }
}

static void free_set(dataset *d) {
    clrnn_array_free(&d->x);
    clrnn_array_free(&d->y);
    free(d->lengths);
    free(d->mask);
    free(d->ids);
}

/* splitmix64 (Steele et al.): the epoch order's generator, also drawn by train_torch.py. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void epoch_order(int N, uint64_t seed, int epoch, int shuffle, int32_t *order) {
    for (int i = 0; i < N; ++i) order[i] = i;
    if (!shuffle) return;
    uint64_t state = seed ^ ((uint64_t)(epoch + 1) * 0x9E3779B97F4A7C15ull);
    for (int i = N - 1; i > 0; --i) {
        const uint64_t j = splitmix64(&state) % (uint64_t)(i + 1);
        const int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* ------------------------------------------------------------------------------------------
 * The network: [embedding] → rnn (its dense layer is the head's linear map) → loss
 * ---------------------------------------------------------------------------------------- */
typedef struct network {
    clrnn_context *ctx;
    clrnn_rnn *rnn;
    clrnn_embedding *emb;
    clrnn_rnn_desc desc;
    int D, Hm, last_only;
} network;

/* Uniform in [-k, k) and standard normal draws from splitmix64 (the default initialisation). */
static double uniform(uint64_t *s, double k) { return ((double)(splitmix64(s) >> 11) * 0x1.0p-53 * 2 - 1) * k; }
static double normal(uint64_t *s) {
    const double u1 = ((double)(splitmix64(s) >> 11) + 1) * 0x1.0p-53, u2 = (double)(splitmix64(s) >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *fill_uniform(size_t n, double k, uint64_t *s) {
    float *v = malloc(n * sizeof *v);
    if (!v) die("out of memory");
    for (size_t i = 0; i < n; ++i) v[i] = (float)uniform(s, k);
    return v;
}

/* One weight from --init DIR: DIR/NAME.npy, float32 with exactly `count` elements. */
static float *init_file(const char *dir, const char *name, size_t count, int required) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (!required && access(path, F_OK) != 0) return NULL;
    clrnn_array a;
    load_npy(path, "--init", &a);
    if (a.dtype != CLRNN_DTYPE_FLOAT32 || a.count != count)
        die("--init %s: expected %zu float32 values, found %zu of %s", path, count, a.count, dtype_name(a.dtype));
    return a.data;
}

static void set_param(network *net, clrnn_framework fw, int l, int d, clrnn_param role, float *v, size_t count,
                      const char *what) {
    char buf[256];
    snprintf(buf, sizeof buf, "setting %s of layer %d direction %d", what, l, d);
    check(clrnn_rnn_set_param(net->rnn, fw, l, d, role, v, count), buf);
    free(v);
}

static void build_network(const options *o, int F, network *net) {
    memset(net, 0, sizeof *net);
    clrnn_context_params cp = clrnn_context_default_params();
    cp.device = o->device;
    check(clrnn_context_create(&cp, &net->ctx), "opening the device");
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    if (!strcmp(o->cell, "rnn_tanh") || !strcmp(o->cell, "rnn_relu")) {
        d.cell = CLRNN_CELL_RNN;
        if (o->cell[4] == 'r') d.activations[0][0].kind = d.activations[1][0].kind = CLRNN_ACT_RELU;
    } else if (!strcmp(o->cell, "lstm")) {
        d.cell = CLRNN_CELL_LSTM;
    } else if (!strcmp(o->cell, "gru") || !strcmp(o->cell, "gru_lbr")) {
        d.cell = CLRNN_CELL_GRU;
        d.linear_before_reset = !strcmp(o->cell, "gru_lbr");
    } else {
        die("--cell '%s': expected rnn_tanh, rnn_relu, lstm, gru or gru_lbr", o->cell);
    }
    if (o->bidirectional) d.activations[1][0] = d.activations[0][0];
    else d.activations[1][0].kind = CLRNN_ACT_DEFAULT;
    d.input_size = F;
    d.hidden_size = o->hidden;
    d.num_layers = o->layers;
    d.direction = o->bidirectional ? CLRNN_DIR_BIDIRECTIONAL : CLRNN_DIR_FORWARD;
    d.merge = o->merge;
    d.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    d.masked_output = CLRNN_MASKED_OUTPUT_ZERO;
    d.dense_size = o->out;
    d.dropout = (float)o->dropout;
    d.input_dropout = (float)o->input_dropout;
    d.recurrent_dropout = (float)o->recurrent_dropout;
    /* as Keras runs its dropout: with recurrent_dropout, implementation 1 (a mask per gate and
     * sample); without, its fused path (one mask per step for every gate) */
    d.dropout_mode = o->recurrent_dropout > 0 ? CLRNN_DROPOUT_VARIATIONAL : CLRNN_DROPOUT_PER_STEP;
    d.dropout_shared = o->recurrent_dropout > 0 ? 0 : 1;
    d.dropout_seed = o->seed;
    check(clrnn_rnn_create(net->ctx, &d, &net->rnn), "creating the rnn");
    net->desc = d;
    net->D = clrnn_rnn_num_directions(net->rnn);
    const int H = o->hidden, D = net->D, G = d.cell == CLRNN_CELL_LSTM ? 4 : d.cell == CLRNN_CELL_GRU ? 3 : 1;
    net->Hm = D == 2 && d.merge == CLRNN_MERGE_CONCAT ? 2 * H : H;
    net->last_only = o->head != HEAD_SEQ_LINEAR;
    if (o->vocab) check(clrnn_embedding_create(net->ctx, o->vocab, o->embed_dim, o->mask_zero, &net->emb), "creating the embedding");

    /* weights: --init DIR in PyTorch's names, else PyTorch's initialisation from --seed */
    uint64_t s = o->seed ^ 0x5DEECE66Dull;
    const double k = 1 / sqrt((double)H), kd = 1 / sqrt((double)net->Hm);
    for (int l = 0; l < o->layers; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const size_t I = l == 0 ? (size_t)F : (size_t)D * H, GH = (size_t)G * H;
            if (o->init) {
                char name[128];
                const char *sfx = dir ? "_reverse" : "";
                snprintf(name, sizeof name, "rnn.weight_ih_l%d%s", l, sfx);
                set_param(net, CLRNN_FRAMEWORK_PYTORCH, l, dir, CLRNN_PARAM_W, init_file(o->init, name, GH * I, 1), GH * I, name);
                snprintf(name, sizeof name, "rnn.weight_hh_l%d%s", l, sfx);
                set_param(net, CLRNN_FRAMEWORK_PYTORCH, l, dir, CLRNN_PARAM_R, init_file(o->init, name, GH * H, 1), GH * H, name);
                snprintf(name, sizeof name, "rnn.bias_ih_l%d%s", l, sfx);
                set_param(net, CLRNN_FRAMEWORK_PYTORCH, l, dir, CLRNN_PARAM_BW, init_file(o->init, name, GH, 1), GH, name);
                snprintf(name, sizeof name, "rnn.bias_hh_l%d%s", l, sfx);
                set_param(net, CLRNN_FRAMEWORK_PYTORCH, l, dir, CLRNN_PARAM_BR, init_file(o->init, name, GH, 1), GH, name);
            } else {
                set_param(net, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, fill_uniform(GH * I, k, &s), GH * I, "W");
                set_param(net, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, fill_uniform(GH * H, k, &s), GH * H, "R");
                set_param(net, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, fill_uniform(2 * GH, k, &s), 2 * GH, "B");
            }
        }
    const size_t nW = (size_t)o->out * net->Hm;
    if (o->init) {
        set_param(net, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_W, init_file(o->init, "head.weight", nW, 1), nW, "head.weight");
        set_param(net, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_B, init_file(o->init, "head.bias", (size_t)o->out, 1),
                  (size_t)o->out, "head.bias");
    } else {
        set_param(net, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_W, fill_uniform(nW, kd, &s), nW, "the head's weight");
        set_param(net, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_B, fill_uniform((size_t)o->out, kd, &s),
                  (size_t)o->out, "the head's bias");
    }
    if (net->emb) {
        const size_t n = (size_t)o->vocab * o->embed_dim;
        float *t = o->init ? init_file(o->init, "embedding.weight", n, 1) : NULL;
        if (!t) {
            t = malloc(n * sizeof *t);
            if (!t) die("out of memory");
            for (size_t i = 0; i < n; ++i) t[i] = (float)normal(&s);
        }
        check(clrnn_embedding_set_table(net->emb, t, n), "setting the embedding table");
        free(t);
    }
}

static void free_network(network *net) {
    clrnn_embedding_destroy(net->emb);
    clrnn_rnn_destroy(net->rnn);
    clrnn_context_destroy(net->ctx);
}

/* A batch's host buffers, sized for the largest batch. */
typedef struct batch {
    int B;
    float *x;        /* [B, T, F] */
    int64_t *ids;    /* [B, T] */
    int32_t *labels; /* [B] (softmax) */
    float *targets;  /* [B, O] or [B, T, O] */
    int32_t *lengths;
    uint8_t *mask;     /* [B, T] */
    uint8_t *row_mask; /* seq-linear: [B*T] */
    float *logits, *dlogits, *dx;
    cl_mem logits_dev, dlogits_dev; /* a training step's logits and their gradient stay on the device */
} batch;

static void *xalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static void alloc_batch(const options *o, const dataset *d, int B, batch *b) {
    const size_t TF = (size_t)d->T * d->F, out_rows = o->head == HEAD_SEQ_LINEAR ? (size_t)B * d->T : (size_t)B;
    b->x = xalloc((size_t)B * TF * sizeof(float));
    b->dx = xalloc((size_t)B * TF * sizeof(float));
    b->ids = xalloc((size_t)B * d->T * sizeof(int64_t));
    b->labels = xalloc((size_t)B * sizeof(int32_t));
    b->targets = xalloc(out_rows * o->out * sizeof(float));
    b->lengths = xalloc((size_t)B * sizeof(int32_t));
    b->mask = xalloc((size_t)B * d->T);
    b->row_mask = xalloc((size_t)B * d->T);
    b->logits = xalloc(out_rows * o->out * sizeof(float));
    b->dlogits = xalloc(out_rows * o->out * sizeof(float));
}

static void free_batch(batch *b) {
    free(b->x), free(b->dx), free(b->ids), free(b->labels), free(b->targets), free(b->lengths), free(b->mask);
    free(b->row_mask), free(b->logits), free(b->dlogits);
}

/* Rows order[first .. first+B) of the set into the batch. */
static void gather(const options *o, const dataset *d, const int32_t *order, int first, int B, batch *b) {
    const size_t T = (size_t)d->T, F = (size_t)d->F, O = (size_t)o->out;
    b->B = B;
    for (int i = 0; i < B; ++i) {
        const size_t n = (size_t)order[first + i];
        if (d->ids) memcpy(b->ids + i * T, d->ids + n * T, T * sizeof(int64_t));
        else memcpy(b->x + i * T * F, (const float *)d->x.data + n * T * F, T * F * sizeof(float));
        if (o->head == HEAD_SOFTMAX) b->labels[i] = (int32_t)elem(&d->y, n);
        else if (o->head == HEAD_SEQ_LINEAR) memcpy(b->targets + i * T * O, (const float *)d->y.data + n * T * O, T * O * sizeof(float));
        else memcpy(b->targets + i * O, (const float *)d->y.data + n * O, O * sizeof(float));
        if (d->lengths) b->lengths[i] = d->lengths[n];
        if (d->mask) memcpy(b->mask + i * T, d->mask + n * T, T);
        for (size_t t = 0; t < T; ++t)
            b->row_mask[i * T + t] = d->lengths ? (int)t < d->lengths[n] : d->mask ? d->mask[n * T + t] : 1;
    }
}

/* A device buffer of `bytes` for the batch (the training step's logits path). */
static cl_mem device_buffer(const network *net, size_t bytes) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(net->ctx), CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS) die("clCreateBuffer of %zu bytes failed (%d)", bytes, (int)err);
    return m;
}

/* The forward arguments of a gathered batch (x from the embedding when there is one). */
static clrnn_forward_args forward_args(const network *net, const dataset *d, batch *b) {
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = d->T;
    a.batch = b->B;
    if (net->emb) {
        const clrnn_ids ids = {b->B, d->T, NULL, b->ids};
        clrnn_tensor x = {b->x, NULL, 0};
        check(clrnn_embedding_forward(net->emb, &ids, x, NULL, NULL, NULL), "embedding forward");
    }
    a.x.host = b->x;
    a.seq_lens = d->lengths ? b->lengths : NULL;
    a.mask = d->mask ? b->mask : NULL;
    a.last_only = net->last_only;
    a.y.host = b->logits;
    return a;
}

/* The training step's forward arguments: y into the device buffer b->logits_dev (the loss reads it
 * there, its gradient goes to b->dlogits_dev, the backward's dy: no host round trip of either). */
static clrnn_forward_args train_forward_args(const network *net, const dataset *d, batch *b) {
    clrnn_forward_args a = forward_args(net, d, b);
    a.y.host = NULL;
    a.y.mem = b->logits_dev;
    return a;
}

/* The head's loss (and, when `grad`, its gradient into b->dlogits_dev) of the batch's logits
 * (grad: in b->logits_dev; else in b->logits). */
static clrnn_loss_result head_loss(const options *o, const network *net, const dataset *d, batch *b, int grad) {
    clrnn_loss_args la;
    memset(&la, 0, sizeof la);
    la.kind = o->head == HEAD_SOFTMAX ? CLRNN_LOSS_SOFTMAX_XENT : o->head == HEAD_SIGMOID ? CLRNN_LOSS_SIGMOID_BCE : CLRNN_LOSS_MSE;
    la.rows = o->head == HEAD_SEQ_LINEAR ? b->B * d->T : b->B;
    la.cols = o->out;
    if (grad) la.logits.mem = b->logits_dev;
    else la.logits.host = b->logits;
    if (o->head == HEAD_SOFTMAX) la.labels = b->labels;
    else la.targets.host = b->targets;
    la.row_mask = o->head == HEAD_SEQ_LINEAR && (d->lengths || d->mask) ? b->row_mask : NULL;
    if (grad) la.dlogits.mem = b->dlogits_dev;
    clrnn_loss_result r;
    check(clrnn_loss(net->ctx, &la, &r), "loss");
    (void)net;
    return r;
}

/* --save: the trained network as ONNX (input x, output y: probabilities for softmax / sigmoid heads). */
static void save_model(const options *o, network *net) {
    clrnn_onnx_export e;
    memset(&e, 0, sizeof e);
    e.rnn = net->rnn;
    float *table = NULL;
    if (net->emb) {
        const size_t n = (size_t)o->vocab * o->embed_dim;
        table = xalloc(n * sizeof *table);
        check(clrnn_embedding_get_table(net->emb, table, n), "reading the embedding table");
        e.embedding = table;
        e.vocab = o->vocab;
        e.mask_zero = o->mask_zero;
    }
    e.use_padding = o->has_mask_value;
    e.padding_value = (float)o->mask_value;
    e.last_only = net->last_only;
    e.head = o->head == HEAD_SOFTMAX ? CLRNN_HEAD_SOFTMAX : o->head == HEAD_SIGMOID ? CLRNN_HEAD_SIGMOID : CLRNN_HEAD_NONE;
    const clrnn_status st = clrnn_onnx_save(&e, o->save);
    free(table);
    if (st != CLRNN_OK) die("--save %s: %s", o->save, clrnn_last_error());
}

/* ------------------------------------------------------------------------------------------
 * Training loop
 * ---------------------------------------------------------------------------------------- */
/* The progress line: rewritten in place on a terminal, else a plain line now and then. */
typedef struct progress {
    int tty, total, every;
    double t0;
} progress;

static void progress_show(const progress *p, int step, int epoch, int epochs, double loss, double metric, int has_metric) {
    const double ms = (now_ms() - p->t0) / (step ? step : 1);
    char bar[32];
    const int width = 24, filled = (int)((double)step / p->total * width);
    for (int i = 0; i < width; ++i) bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[width] = 0;
    char m[48] = "";
    if (has_metric) snprintf(m, sizeof m, " acc %.4f", metric);
    if (p->tty)
        fprintf(stderr, "\r[%s] step %d/%d epoch %d/%d loss %.4f%s %.1f ms/step ", bar, step, p->total, epoch, epochs, loss, m, ms);
    else if (step % p->every == 0 || step == p->total)
        fprintf(stderr, "step %d/%d epoch %d/%d loss %.4f%s %.1f ms/step\n", step, p->total, epoch, epochs, loss, m, ms);
}

/* Loss and metric of the whole set with the inference forward (rows weighted as the loss weights them). */
static void evaluate(const options *o, network *net, const dataset *d, batch *b, int32_t *order, double *loss, double *metric) {
    double lsum = 0, msum = 0, wsum = 0;
    for (int n = 0; n < d->N; ++n) order[n] = n;
    for (int first = 0; first < d->N; first += o->batch) {
        const int B = d->N - first < o->batch ? d->N - first : o->batch;
        gather(o, d, order, first, B, b);
        clrnn_forward_args a = forward_args(net, d, b);
        check(clrnn_rnn_forward(net->rnn, &a), "validation forward");
        const clrnn_loss_result r = head_loss(o, net, d, b, 0);
        lsum += r.loss * r.weight, msum += r.metric * r.weight, wsum += r.weight;
    }
    *loss = wsum > 0 ? lsum / wsum : 0;
    *metric = wsum > 0 ? msum / wsum : 0;
}

/* Builds and compiles, before the timed loop, every kernel the loop runs (the programs on first
 * use; PoCL also compiles a kernel for each work-group size at its first launch): one training step
 * and one validation forward of a copy of the network (the same descriptor, zero weights, its own
 * reserve and optimizer) on the set's first rows, so that the model's weights, its dropout masks
 * (counted per forward_train of an rnn) and its optimizer state are exactly those of a run without
 * it. ms_per_step is then the steps' time; the copy's step is setup_seconds. */
static void warm_up(const options *o, const network *net, const dataset *d, int B, batch *b, int32_t *order) {
    network w = *net;
    check(clrnn_rnn_create(net->ctx, &net->desc, &w.rnn), "warm-up: creating a copy of the rnn");
    const int H = o->hidden, D = net->D, L = o->layers;
    const int G = net->desc.cell == CLRNN_CELL_LSTM ? 4 : net->desc.cell == CLRNN_CELL_GRU ? 3 : 1;
    const size_t GH = (size_t)G * H, nW = (size_t)o->out * net->Hm;
    const size_t biggest = GH * ((size_t)(d->F > D * H ? d->F : D * H) + 2) + nW + (size_t)o->out;
    float *zero = calloc(biggest, sizeof *zero);
    if (!zero) die("out of memory");
    for (int l = 0; l < L; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const size_t I = l == 0 ? (size_t)d->F : (size_t)D * H;
            check(clrnn_rnn_set_param(w.rnn, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, zero, GH * I), "warm-up: W");
            check(clrnn_rnn_set_param(w.rnn, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, zero, GH * H), "warm-up: R");
            check(clrnn_rnn_set_param(w.rnn, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, zero, 2 * GH), "warm-up: B");
        }
    check(clrnn_rnn_set_param(w.rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_W, zero, nW), "warm-up: head");
    check(clrnn_rnn_set_param(w.rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_DENSE_B, zero, (size_t)o->out),
          "warm-up: head bias");
    free(zero);
    if (net->emb) {
        const size_t n = (size_t)o->vocab * o->embed_dim;
        float *t = calloc(n ? n : 1, sizeof *t);
        if (!t) die("out of memory");
        check(clrnn_embedding_create(net->ctx, o->vocab, o->embed_dim, o->mask_zero, &w.emb), "warm-up: embedding");
        check(clrnn_embedding_set_table(w.emb, t, n), "warm-up: embedding table");
        free(t);
    }
    clrnn_reserve *res = NULL;
    check(clrnn_reserve_create(w.rnn, &res), "warm-up: reserve");
    clrnn_optimizer_params op = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_ADAM, CLRNN_EPS_TORCH);
    if (!strcmp(o->optimizer, "sgd")) op = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_SGD, CLRNN_EPS_TORCH);
    if (!strcmp(o->optimizer, "rmsprop")) op = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_RMSPROP, CLRNN_EPS_TORCH);
    clrnn_optimizer *opt = NULL;
    check(clrnn_optimizer_create(net->ctx, &op, &opt), "warm-up: optimizer");
    for (int n = 0; n < B; ++n) order[n] = n;
    gather(o, d, order, 0, B, b);
    clrnn_forward_args fa = train_forward_args(&w, d, b);
    check(clrnn_rnn_forward_train(w.rnn, &fa, res), "warm-up: forward_train");
    (void)head_loss(o, &w, d, b, 1);
    clrnn_backward_args ba;
    memset(&ba, 0, sizeof ba);
    ba.dy.mem = b->dlogits_dev;
    if (w.emb) ba.dx.host = b->dx;
    check(clrnn_rnn_backward_data(w.rnn, res, &ba), "warm-up: backward_data");
    check(clrnn_rnn_backward_weights(w.rnn, res, CLRNN_WGRAD_SET), "warm-up: backward_weights");
    if (w.emb) {
        const clrnn_ids ids = {B, d->T, NULL, b->ids};
        const clrnn_tensor dx = {b->dx, NULL, 0};
        check(clrnn_embedding_backward(w.emb, &ids, dx, CLRNN_WGRAD_SET), "warm-up: embedding backward");
    }
    check(clrnn_optimizer_step(opt, w.rnn, w.emb, NULL), "warm-up: optimizer step");
    fa = forward_args(&w, d, b);
    check(clrnn_rnn_forward(w.rnn, &fa), "warm-up: forward");
    (void)head_loss(o, &w, d, b, 0);
    clrnn_optimizer_destroy(opt);
    clrnn_reserve_destroy(res);
    clrnn_embedding_destroy(w.emb);
    clrnn_rnn_destroy(w.rnn);
}

int main(int argc, char **argv) {
    options o;
    parse(argc, argv, &o);
    if (o.save && o.lengths)
        fprintf(stderr, "clrnn-train: warning: --save with --lengths: the model has no lengths input, it runs every "
                        "step of every row (right-pad with --mask-value for a model that derives them)\n");
    dataset train, val;
    load_set(&o, o.x, o.y, o.lengths, "training", &train);
    const int has_val = o.val_x != NULL;
    if (has_val) {
        load_set(&o, o.val_x, o.val_y, o.val_lengths, "validation", &val);
        if (val.F != train.F || (o.head == HEAD_SEQ_LINEAR && val.T != train.T))
            die("--val-x: features %d (T %d) differ from --x's %d (T %d)", val.F, val.T, train.F, train.T);
    }
    const int classify = o.head == HEAD_SOFTMAX || o.head == HEAD_SIGMOID;
    network net;
    build_network(&o, train.F, &net);
    clrnn_reserve *res = NULL;
    check(clrnn_reserve_create(net.rnn, &res), "creating the reserve");
    clrnn_optimizer_kind kind = !strcmp(o.optimizer, "adam") ? CLRNN_OPTIMIZER_ADAM
                                : !strcmp(o.optimizer, "sgd") ? CLRNN_OPTIMIZER_SGD
                                                               : CLRNN_OPTIMIZER_RMSPROP;
    clrnn_optimizer_params op = clrnn_optimizer_default_params(kind, CLRNN_EPS_TORCH);
    op.lr = (float)o.lr;
    if (kind != CLRNN_OPTIMIZER_ADAM) op.momentum = (float)o.momentum;
    op.clip_norm = (float)o.clip_norm;
    clrnn_optimizer *opt = NULL;
    check(clrnn_optimizer_create(net.ctx, &op, &opt), "creating the optimizer");

    const int max_N = has_val && val.N > train.N ? val.N : train.N;
    const int B_max = o.batch < max_N ? o.batch : max_N;
    batch b;
    alloc_batch(&o, has_val && val.T > train.T ? &val : &train, B_max, &b);
    {
        const size_t rows = o.head == HEAD_SEQ_LINEAR ? (size_t)B_max * train.T : (size_t)B_max;
        b.logits_dev = device_buffer(&net, rows * o.out * sizeof(float));
        b.dlogits_dev = device_buffer(&net, rows * o.out * sizeof(float));
    }
    int32_t *order = xalloc((size_t)max_N * sizeof *order);
    const int per_epoch = (train.N + o.batch - 1) / o.batch;
    const int total = o.steps ? o.steps : o.epochs * per_epoch;
    const int epochs = (total + per_epoch - 1) / per_epoch;
    double *losses = xalloc((size_t)total * sizeof(double)), *metrics = xalloc((size_t)total * sizeof(double));
    const double t_setup = now_ms();
    warm_up(&o, &net, &train, B_max, &b, order);
    const double setup_ms = now_ms() - t_setup;
    progress pr = {isatty(2), total, total / 20 > 0 ? total / 20 : 1, now_ms()};
    double val_loss = 0, val_metric = 0, eval_ms = 0;
    int step = 0;
    for (int epoch = 0; step < total; ++epoch) {
        epoch_order(train.N, o.seed, epoch, o.shuffle, order);
        for (int bi = 0; bi < per_epoch && step < total; ++bi) {
            const int first = bi * o.batch, B = train.N - first < o.batch ? train.N - first : o.batch;
            gather(&o, &train, order, first, B, &b);
            clrnn_forward_args fa = train_forward_args(&net, &train, &b);
            check(clrnn_rnn_forward_train(net.rnn, &fa, res), "forward_train");
            const clrnn_loss_result r = head_loss(&o, &net, &train, &b, 1);
            clrnn_backward_args ba;
            memset(&ba, 0, sizeof ba);
            ba.dy.mem = b.dlogits_dev;
            if (net.emb) ba.dx.host = b.dx;
            check(clrnn_rnn_backward_data(net.rnn, res, &ba), "backward_data");
            check(clrnn_rnn_backward_weights(net.rnn, res, CLRNN_WGRAD_SET), "backward_weights");
            if (net.emb) {
                const clrnn_ids ids = {B, train.T, NULL, b.ids};
                const clrnn_tensor dx = {b.dx, NULL, 0};
                check(clrnn_embedding_backward(net.emb, &ids, dx, CLRNN_WGRAD_SET), "embedding backward");
            }
            check(clrnn_optimizer_step(opt, net.rnn, net.emb, NULL), "optimizer step");
            losses[step] = r.loss, metrics[step] = r.metric;
            ++step;
            progress_show(&pr, step, epoch + 1, epochs, r.loss, r.metric, classify);
        }
        if (has_val) {
            const double t = now_ms();
            evaluate(&o, &net, &val, &b, order, &val_loss, &val_metric);
            eval_ms += now_ms() - t;
            if (pr.tty) fputc('\n', stderr);
            fprintf(stderr, "epoch %d/%d: val_loss %.4f", epoch + 1, epochs, val_loss);
            if (classify) fprintf(stderr, " val_accuracy %.4f", val_metric);
            fputc('\n', stderr);
        }
    }
    const double seconds = (now_ms() - pr.t0 - eval_ms) / 1e3;
    if (pr.tty && !has_val) fputc('\n', stderr);
    /* train_loss / train_accuracy: means over the last epoch's batches (train_torch.py's rule) */
    double tl = 0, tm = 0;
    const int from = step > per_epoch ? step - per_epoch : 0;
    for (int i = from; i < step; ++i) tl += losses[i], tm += metrics[i];
    tl /= step - from, tm /= step - from;
    if (o.save) save_model(&o, &net);
    if (o.json) {
        printf("{\"train_loss\": %.9g", tl);
        if (classify) printf(", \"train_accuracy\": %.9g", tm);
        if (has_val) {
            printf(", \"val_loss\": %.9g", val_loss);
            if (classify) printf(", \"val_accuracy\": %.9g", val_metric);
        }
        printf(", \"steps\": %d, \"seconds\": %.6g, \"ms_per_step\": %.6g, \"setup_seconds\": %.6g}\n", step, seconds,
               seconds * 1e3 / step, setup_ms / 1e3);
    } else {
        printf("trained %d steps in %.2f s (%.2f ms/step): train_loss %.4f", step, seconds, seconds * 1e3 / step, tl);
        if (has_val) printf(", val_loss %.4f", val_loss);
        if (has_val && classify) printf(", val_accuracy %.4f", val_metric);
        printf("\n");
    }
    free(losses), free(metrics), free(order);
    clReleaseMemObject(b.logits_dev), clReleaseMemObject(b.dlogits_dev);
    free_batch(&b);
    clrnn_optimizer_destroy(opt);
    clrnn_reserve_destroy(res);
    free_network(&net);
    free_set(&train);
    if (has_val) free_set(&val);
    return fflush(stdout) == 0 ? 0 : 1;
}
