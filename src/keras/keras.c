/* Keras models loaded natively: .keras archives (Keras 3, and the Keras 2.13+ native format: a zip
 * of config.json, metadata.json and model.weights.h5) and legacy Keras 2 .h5 files (the root
 * attribute model_config and the group model_weights), into the same clrnn_model as ONNX.
 *
 * Design: the Keras config is translated into a graph of the ONNX module's machinery — a
 * ModelProto synthesised in memory (protobuf-c structs, never serialised) handed to
 * clrnn_ox_load_proto — so a Keras model has the one model handle, its values, budgets, inputs,
 * run and outputs. Layers map onto nodes: Dense → MatMul + Add (device) + Activation, Embedding →
 * Gather (+ Cast of float ids), the recurrent layers and the Keras-only semantics (masks carried
 * state and output, go_backwards, Bidirectional) onto the operators of CLRNN_KERAS_DOMAIN
 * (keras_ops.c), which drive clrnn_rnn with CLRNN_FRAMEWORK_KERAS weights.
 *
 * Untrusted input: every JSON field is type-checked (a wrong type is CLRNN_ERR_CORRUPT_FILE, a value
 * clrnn cannot run CLRNN_ERR_UNSUPPORTED, both naming the layer, its class and the config key), zip
 * entries are size-checked before they are extracted, every weight's shape is checked against the
 * shape the config implies before it is read, and the weights together against the model's host
 * budget (CLRNN_MODEL_HOST_BUDGET). The weights file inside a .keras archive is opened from memory
 * (HDF5 core driver with a file image), never written to disk. HDF5 is not thread-safe in every
 * build: all HDF5 calls of clrnn run under one process-wide lock. */
#include "onnx/onnx_internal.h"

#include <hdf5.h>
#include <jansson.h>
#include <zip.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define MAX_JSON_BYTES ((size_t)64 << 20) /* config.json / model_config */
#define MAX_META_BYTES ((size_t)1 << 20)  /* metadata.json */
#define MAX_LAYERS 4096
#define MAX_NAME 512

/* ------------------------------------------------------------------------------------------
 * Arena: everything of the synthesised ModelProto, freed at once
 * ---------------------------------------------------------------------------------------- */
typedef struct arena {
    void **p;
    size_t n, cap;
} arena;

static void *amalloc(arena *a, size_t size) {
    if (a->n == a->cap) {
        const size_t cap = a->cap ? 2 * a->cap : 256;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p) return NULL;
        a->p = p;
        a->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (m) a->p[a->n++] = m;
    return m;
}

static char *astrdup(arena *a, const char *s) {
    char *c = amalloc(a, strlen(s) + 1);
    if (c) strcpy(c, s);
    return c;
}

static void afree(arena *a) {
    for (size_t i = 0; i < a->n; ++i) free(a->p[i]);
    free(a->p);
}

/* Growable array of pointers in the arena's lifetime (freed by the builder). */
typedef struct plist {
    void **v;
    size_t n, cap;
} plist;

static int plist_add(plist *l, void *x) {
    if (l->n == l->cap) {
        const size_t cap = l->cap ? 2 * l->cap : 32;
        void **v = realloc(l->v, cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * HDF5 (one process-wide lock; its error stack never printed)
 * ---------------------------------------------------------------------------------------- */
static mtx_t h5_lock;
static once_flag h5_once = ONCE_FLAG_INIT;
static void h5_init(void) {
    mtx_init(&h5_lock, mtx_plain);
    /* HDF5's exit handler prints to stderr when a damaged file left objects it cannot close
     * ("infinite loop closing library"); a program's stderr is not HDF5's to write at exit.
     * (Fails harmlessly when the application initialised HDF5 itself.) */
    H5dont_atexit();
}

/* Is `path` (relative to loc, '/'-separated) a link chain that exists? H5Lexists needs every
 * intermediate component checked first. */
static int h5_exists(hid_t loc, const char *path) {
    char buf[2048];
    const size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 0; i <= n; ++i) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        const char c = buf[i];
        buf[i] = '\0';
        if (i > 0 && H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
        if (H5Oexists_by_name(loc, buf, H5P_DEFAULT) <= 0) return 0;
        buf[i] = c;
    }
    return 1;
}

/* Reads a string attribute (scalar or 1-D; fixed or variable length) into malloc'ed NUL-terminated
 * strings. *count strings in *out (free each and the array). Absent: CLRNN_ERR_NOT_FOUND (no message). */
static clrnn_status h5_attr_strings(hid_t obj, const char *name, size_t max_bytes, char ***out, size_t *count) {
    *out = NULL;
    *count = 0;
    if (H5Aexists(obj, name) <= 0) return CLRNN_ERR_NOT_FOUND;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' cannot be opened", name);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    clrnn_status st = CLRNN_OK;
    hsize_t dims[1] = {1};
    const int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || nd < 0 || nd > 1) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' is not a string or a list of strings", name);
        goto done;
    }
    if (nd == 1) H5Sget_simple_extent_dims(sp, dims, NULL);
    const size_t n = (size_t)dims[0];
    if (n > (1u << 20)) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' lists %zu strings", name, n);
        goto done;
    }
    char **list = calloc(n + 1, sizeof *list);
    if (!list) {
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
        goto done;
    }
    const htri_t vlen = H5Tis_variable_str(t);
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (vlen > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char **raw = calloc(n + 1, sizeof *raw);
        if (!raw || H5Aread(a, mt, raw) < 0) {
            st = raw ? clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' cannot be read", name)
                     : clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
        } else {
            size_t total = 0;
            for (size_t i = 0; i < n && st == CLRNN_OK; ++i) {
                const char *s = raw[i] ? raw[i] : "";
                total += strlen(s);
                if (total > max_bytes)
                    st = clrnn_fail(CLRNN_ERR_UNSUPPORTED, "HDF5 attribute '%s' is larger than %zu bytes", name, max_bytes);
                else if (!(list[i] = strdup(s)))
                    st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        }
        free(raw);
    } else {
        const size_t len = H5Tget_size(t);
        size_t bytes;
        if (len == 0 || !clrnn_mul_size(len, n, &bytes) || bytes > max_bytes) {
            st = clrnn_fail(CLRNN_ERR_UNSUPPORTED, "HDF5 attribute '%s' is larger than %zu bytes", name, max_bytes);
        } else {
            H5Tset_size(mt, len);
            char *raw = malloc(bytes + 1);
            if (!raw) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
            else if (H5Aread(a, mt, raw) < 0) st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' cannot be read", name);
            for (size_t i = 0; raw && i < n && st == CLRNN_OK; ++i) {
                list[i] = malloc(len + 1);
                if (!list[i]) {
                    st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
                    break;
                }
                memcpy(list[i], raw + i * len, len);
                list[i][len] = '\0'; /* NUL-padded or not: cut at the first NUL */
            }
            free(raw);
        }
    }
    H5Tclose(mt);
    if (st != CLRNN_OK) {
        for (size_t i = 0; i < n; ++i) free(list[i]);
        free(list);
    } else {
        *out = list;
        *count = n;
    }
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return st;
}

static void free_strings(char **s, size_t n) {
    for (size_t i = 0; s && i < n; ++i) free(s[i]);
    free(s);
}

/* One string attribute; CLRNN_ERR_NOT_FOUND when absent. */
static clrnn_status h5_attr_string(hid_t obj, const char *name, size_t max_bytes, char **out) {
    char **list;
    size_t n;
    *out = NULL;
    clrnn_status st = h5_attr_strings(obj, name, max_bytes, &list, &n);
    if (st != CLRNN_OK) return st;
    if (n != 1) {
        free_strings(list, n);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "HDF5 attribute '%s' holds %zu strings, expected one", name, n);
    }
    *out = list[0];
    free(list);
    return CLRNN_OK;
}

/* Keras' save_attributes_to_hdf5_group splits a long list into name0, name1, ... */
static clrnn_status h5_attr_list(hid_t obj, const char *name, char ***out, size_t *count) {
    clrnn_status st = h5_attr_strings(obj, name, (size_t)16 << 20, out, count);
    if (st != CLRNN_ERR_NOT_FOUND) return st;
    char **all = NULL;
    size_t n_all = 0;
    for (int chunk = 0; chunk < 4096; ++chunk) {
        char key[96];
        snprintf(key, sizeof key, "%s%d", name, chunk);
        char **part;
        size_t n;
        st = h5_attr_strings(obj, key, (size_t)16 << 20, &part, &n);
        if (st == CLRNN_ERR_NOT_FOUND) break;
        if (st != CLRNN_OK) {
            free_strings(all, n_all);
            return st;
        }
        char **grown = realloc(all, (n_all + n + 1) * sizeof *grown);
        if (!grown) {
            free_strings(part, n);
            free_strings(all, n_all);
            return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "attribute '%s'", name);
        }
        all = grown;
        memcpy(all + n_all, part, n * sizeof *part);
        n_all += n;
        free(part);
    }
    if (!all && n_all == 0) {
        *out = NULL;
        *count = 0;
        return CLRNN_ERR_NOT_FOUND;
    }
    *out = all;
    *count = n_all;
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * The builder
 * ---------------------------------------------------------------------------------------- */
typedef struct kt { /* a Keras tensor: the graph value holding it, its shape, its mask */
    const char *value;
    const char *mask; /* NULL: no mask */
    clrnn_dtype dtype;
    int is_bool; /* a mask computed by Keras 3's recorded ops (NotEqual, Any) */
    int ndim;
    int64_t shape[CLRNN_MAX_DIMS]; /* -1: free */
} kt;

typedef struct klayer {
    const char *name, *cls;
    json_t *entry, *cfg;
    char wpath[MAX_NAME + 64]; /* .keras: "layers/<class>[_k]" */
    kt *outs;                  /* per call node: up to 8 outputs */
    int *n_outs;
    int n_nodes, done_nodes;
    const char *winit[8]; /* initializer names of its weights, created once (shared layers) */
    int n_winit;
} klayer;

typedef struct kb {
    arena a;
    plist nodes, inits, inputs, outputs;
    int uid;
    int major;     /* Keras major version that wrote the file (2 or 3) */
    int legacy_h5; /* weights from model_weights/<layer>/weight_names */
    hid_t h5;      /* the weights file */
    hid_t wroot;   /* legacy: model_weights group; .keras: the file */
    size_t budget, weight_bytes;
    char version[64];
    klayer *layers;
    int n_layers;
} kb;

static clrnn_status lfail(const klayer *l, clrnn_status st, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static clrnn_status lfail(const klayer *l, clrnn_status st, const char *key, const char *fmt, ...) {
    char buf[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (key) return clrnn_fail(st, "layer '%s' (%s), config key '%s': %s", l->name, l->cls, key, buf);
    return clrnn_fail(st, "layer '%s' (%s): %s", l->name, l->cls, buf);
}

static const char *new_value(kb *b, const klayer *l, const char *what) {
    char buf[MAX_NAME + 64];
    snprintf(buf, sizeof buf, "%s/%s%d", l ? l->name : "", what, b->uid++);
    return astrdup(&b->a, buf);
}

#define OOM() clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "building the Keras model graph")

static Onnx__AttributeProto *attr_new(kb *b, const char *name, Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto *a = amalloc(&b->a, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = astrdup(&b->a, name);
    a->has_type = 1;
    a->type = type;
    return a->name ? a : NULL;
}
static Onnx__AttributeProto *attr_int(kb *b, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = 1, a->i = v;
    return a;
}
static Onnx__AttributeProto *attr_float(kb *b, const char *name, float v) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = 1, a->f = v;
    return a;
}
static Onnx__AttributeProto *attr_ints(kb *b, const char *name, const int64_t *v, size_t n) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a || !(a->ints = amalloc(&b->a, n * sizeof *v))) return NULL;
    memcpy(a->ints, v, n * sizeof *v);
    a->n_ints = n;
    return a;
}
static Onnx__AttributeProto *attr_floats(kb *b, const char *name, const float *v, size_t n) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    if (!a || !(a->floats = amalloc(&b->a, n * sizeof *v))) return NULL;
    memcpy(a->floats, v, n * sizeof *v);
    a->n_floats = n;
    return a;
}

/* A node named after its layer; keras: in CLRNN_KERAS_DOMAIN. Input names may be "" (omitted). */
static clrnn_status emit(kb *b, const klayer *l, const char *op, int keras, int n_in, const char *const *in, int n_out,
                         const char *const *out, Onnx__AttributeProto **attrs, size_t n_attrs) {
    Onnx__NodeProto *p = amalloc(&b->a, sizeof *p);
    if (!p) return OOM();
    onnx__node_proto__init(p);
    p->name = astrdup(&b->a, l ? l->name : "output");
    p->op_type = astrdup(&b->a, op);
    p->domain = astrdup(&b->a, keras ? CLRNN_KERAS_DOMAIN : "");
    p->input = amalloc(&b->a, (size_t)(n_in + 1) * sizeof *p->input);
    p->output = amalloc(&b->a, (size_t)(n_out + 1) * sizeof *p->output);
    p->attribute = amalloc(&b->a, (n_attrs + 1) * sizeof *p->attribute);
    if (!p->name || !p->op_type || !p->domain || !p->input || !p->output || !p->attribute) return OOM();
    for (int i = 0; i < n_in; ++i) p->input[i] = (char *)(in[i] ? in[i] : "");
    for (int i = 0; i < n_out; ++i) p->output[i] = (char *)out[i];
    for (size_t i = 0; i < n_attrs; ++i) {
        if (!attrs[i]) return OOM();
        p->attribute[i] = attrs[i];
    }
    p->n_input = (size_t)n_in;
    p->n_output = (size_t)n_out;
    p->n_attribute = n_attrs;
    return plist_add(&b->nodes, p) ? CLRNN_OK : OOM();
}

/* float32 initializer over `data` (arena memory, not copied here: the loader decodes it). */
static clrnn_status add_init(kb *b, const char *name, float *data, int ndim, const int64_t *dims) {
    Onnx__TensorProto *t = amalloc(&b->a, sizeof *t);
    if (!t) return OOM();
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = OX_FLOAT;
    t->n_dims = (size_t)ndim;
    t->dims = amalloc(&b->a, (size_t)(ndim + 1) * sizeof *t->dims);
    if (!t->dims) return OOM();
    size_t count = 1;
    for (int i = 0; i < ndim; ++i) t->dims[i] = dims[i], count *= (size_t)dims[i];
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = count * sizeof(float);
    return plist_add(&b->inits, t) ? CLRNN_OK : OOM();
}

/* int64 initializer (Reshape's shape), values copied into the arena */
static clrnn_status add_init_i64(kb *b, const char *name, const int64_t *v, int64_t n) {
    Onnx__TensorProto *t = amalloc(&b->a, sizeof *t);
    int64_t *data = amalloc(&b->a, (size_t)n * sizeof *data);
    int64_t *dims = amalloc(&b->a, sizeof *dims);
    if (!t || !data || !dims) return OOM();
    onnx__tensor_proto__init(t);
    memcpy(data, v, (size_t)n * sizeof *data);
    dims[0] = n;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = OX_INT64;
    t->n_dims = 1;
    t->dims = dims;
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = (size_t)n * sizeof *data;
    return plist_add(&b->inits, t) ? CLRNN_OK : OOM();
}

static int onnx_type(clrnn_dtype t) {
    return t == CLRNN_DTYPE_FLOAT32 ? OX_FLOAT : t == CLRNN_DTYPE_INT32 ? OX_INT32 : t == CLRNN_DTYPE_INT64 ? OX_INT64 : OX_UINT8;
}

static Onnx__ValueInfoProto *value_info(kb *b, const char *name, const kt *t) {
    Onnx__ValueInfoProto *vi = amalloc(&b->a, sizeof *vi);
    Onnx__TypeProto *tp = amalloc(&b->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = amalloc(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *sp = amalloc(&b->a, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = amalloc(&b->a, (size_t)(t->ndim + 1) * sizeof *dims);
    if (!vi || !tp || !tt || !sp || !dims) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    vi->name = (char *)name;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = onnx_type(t->dtype);
    tt->shape = sp;
    sp->dim = dims;
    sp->n_dim = (size_t)t->ndim;
    for (int i = 0; i < t->ndim; ++i) {
        Onnx__TensorShapeProto__Dimension *d = amalloc(&b->a, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (t->shape[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = t->shape[i];
        } else if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "batch";
        }
        dims[i] = d;
    }
    return vi;
}

/* ------------------------------------------------------------------------------------------
 * JSON fields, type-checked
 * ---------------------------------------------------------------------------------------- */
static clrnn_status cfg_bool(const klayer *l, json_t *o, const char *key, int def, int *out) {
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v || json_is_null(v)) return CLRNN_OK;
    if (!json_is_boolean(v)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be true or false");
    *out = json_is_true(v);
    return CLRNN_OK;
}

static clrnn_status cfg_int(const klayer *l, json_t *o, const char *key, int64_t lo, int64_t hi, int required,
                            int64_t def, int64_t *out) {
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v || json_is_null(v)) return required ? lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "is missing") : CLRNN_OK;
    if (!json_is_integer(v)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be an integer");
    const json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, key, "%lld is outside [%lld, %lld]", (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return CLRNN_OK;
}

static clrnn_status cfg_number(const klayer *l, json_t *o, const char *key, double def, double *out) {
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v || json_is_null(v)) return CLRNN_OK;
    if (!json_is_number(v)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be a number");
    *out = json_number_value(v);
    if (!isfinite(*out)) return lfail(l, CLRNN_ERR_UNSUPPORTED, key, "must be finite");
    return CLRNN_OK;
}

/* String field; NULL when absent or null (def). */
static clrnn_status cfg_string(const klayer *l, json_t *o, const char *key, const char *def, const char **out) {
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v || json_is_null(v)) return CLRNN_OK;
    if (!json_is_string(v)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be a string");
    *out = json_string_value(v);
    return CLRNN_OK;
}

/* Every key of the layer's config must be one clrnn knows for its class: a key it does not know
 * may change what the layer computes. The keys that only matter for training are known and
 * ignored (initializers, regularizers, constraints, dropout rates, seeds). */
static clrnn_status check_keys(const klayer *l, json_t *cfg, const char *const *known) {
    static const char *const base[] = {"name", "trainable", "dtype", "batch_input_shape", "input_shape", "batch_size",
                                       "activity_regularizer", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(cfg, key, v) {
        int ok = 0;
        for (const char *const *k = base; *k && !ok; ++k) ok = !strcmp(*k, key);
        for (const char *const *k = known; k && *k && !ok; ++k) ok = !strcmp(*k, key);
        if (!ok) return lfail(l, CLRNN_ERR_UNSUPPORTED, key, "is not a config key clrnn knows for %s", l->cls);
    }
    return CLRNN_OK;
}

/* The layer's dtype policy must compute in float32 (Keras 2: a string; Keras 3: a DTypePolicy). */
static clrnn_status check_dtype(const klayer *l, json_t *cfg) {
    json_t *v = json_object_get(cfg, "dtype");
    if (!v || json_is_null(v)) return CLRNN_OK;
    const char *name = NULL;
    if (json_is_string(v)) {
        name = json_string_value(v);
    } else if (json_is_object(v)) {
        json_t *c = json_object_get(v, "config");
        json_t *n = c ? json_object_get(c, "name") : NULL;
        if (!n || !json_is_string(n)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "dtype", "a dtype policy without a name");
        name = json_string_value(n);
    } else {
        return lfail(l, CLRNN_ERR_CORRUPT_FILE, "dtype", "must be a string or a dtype policy");
    }
    if (strcmp(name, "float32") != 0)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "dtype", "'%s': clrnn computes Keras layers in float32 only", name);
    return CLRNN_OK;
}

/* Activation by Keras name (a string; Keras 3 may also write a serialized function object). */
typedef struct kact_name {
    const char *name;
    int kind; /* keras_ops.c KA_* order */
} kact_name;
static const kact_name kacts[] = {
    {"linear", 0},    {"relu", 1},     {"sigmoid", 2},      {"tanh", 3},          {"softmax", 4},    {"log_softmax", 5},
    {"elu", 6},       {"selu", 7},     {"softplus", 8},     {"softsign", 9},      {"swish", 10},     {"silu", 10},
    {"gelu", 11},     {"exponential", 12}, {"hard_sigmoid", 13}, {"hard_silu", 14}, {"hard_swish", 14}, {"relu6", 15},
    {"leaky_relu", 16}, {"mish", 17},
};
enum { KA_LINEAR = 0, KA_HARD_SIGMOID = 13, KA_HARD_SILU = 14, KA_LEAKY_RELU = 16 };

static clrnn_status activation_name(const klayer *l, json_t *cfg, const char *key, const char *def, const char **out) {
    json_t *v = json_object_get(cfg, key);
    *out = def;
    if (!v || json_is_null(v)) return CLRNN_OK;
    if (json_is_object(v)) { /* {"module": "keras.activations", "class_name": "function", "config": "relu", ...} */
        json_t *c = json_object_get(v, "config");
        json_t *cn = json_object_get(v, "class_name");
        if (cn && json_is_string(cn) && !strcmp(json_string_value(cn), "function") && c && json_is_string(c)) {
            *out = json_string_value(c);
            return CLRNN_OK;
        }
        return lfail(l, CLRNN_ERR_UNSUPPORTED, key, "a custom or parameterised activation object");
    }
    if (!json_is_string(v)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be the name of an activation");
    *out = json_string_value(v);
    return CLRNN_OK;
}

static int find_kact(const char *name) {
    for (size_t i = 0; i < sizeof kacts / sizeof *kacts; ++i)
        if (!strcmp(kacts[i].name, name)) return kacts[i].kind;
    return -1;
}

/* The slope and offset of hard_sigmoid: Keras 2 clip(0.2x + 0.5), Keras 3 relu6(x + 3) / 6. */
static float hard_sigmoid_alpha(const kb *b) { return b->major >= 3 ? 1.0f / 6.0f : 0.2f; }

/* An activation inside a recurrent cell, as clrnn_activation. */
static clrnn_status rnn_activation(const kb *b, const klayer *l, json_t *cfg, const char *key, const char *def,
                                   clrnn_activation *out) {
    const char *name;
    clrnn_status st = activation_name(l, cfg, key, def, &name);
    if (st != CLRNN_OK) return st;
    memset(out, 0, sizeof *out);
    if (!strcmp(name, "tanh")) out->kind = CLRNN_ACT_TANH;
    else if (!strcmp(name, "sigmoid")) out->kind = CLRNN_ACT_SIGMOID;
    else if (!strcmp(name, "relu")) out->kind = CLRNN_ACT_RELU;
    else if (!strcmp(name, "linear")) *out = (clrnn_activation){CLRNN_ACT_AFFINE, 1.0f, 0.0f};
    else if (!strcmp(name, "hard_sigmoid")) *out = (clrnn_activation){CLRNN_ACT_HARD_SIGMOID, hard_sigmoid_alpha(b), 0.5f};
    else if (!strcmp(name, "elu")) *out = (clrnn_activation){CLRNN_ACT_ELU, 1.0f, 0.0f};
    else if (!strcmp(name, "softsign")) out->kind = CLRNN_ACT_SOFTSIGN;
    else if (!strcmp(name, "softplus")) out->kind = CLRNN_ACT_SOFTPLUS;
    else
        return lfail(l, CLRNN_ERR_UNSUPPORTED, key, "activation '%s' inside a recurrent cell (clrnn runs tanh, sigmoid, "
                     "relu, linear, hard_sigmoid, elu, softsign, softplus there)", name);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Weights
 * ---------------------------------------------------------------------------------------- */
static void shape_text(int ndim, const int64_t *s, char *buf, size_t cap) {
    size_t pos = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && pos < cap; ++i) pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

/* Reads dataset `path` (relative to loc) as float32 of exactly the expected shape. */
static clrnn_status read_weight(kb *b, const klayer *l, hid_t loc, const char *path, const char *what, int ndim,
                                const int64_t *shape, float **out) {
    if (!h5_exists(loc, path))
        return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "weight %s ('%s') is missing from the weights file", what, path);
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "weight %s ('%s') is not a dataset", what, path);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    clrnn_status st = CLRNN_OK;
    hsize_t dims[CLRNN_MAX_DIMS];
    const int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int64_t got[CLRNN_MAX_DIMS];
    if (sp < 0 || t < 0 || nd < 0 || nd > CLRNN_MAX_DIMS || H5Tget_class(t) != H5T_FLOAT ||
        (H5Tget_size(t) != 4 && H5Tget_size(t) != 8)) {
        st = lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "weight %s ('%s') is not a float32 or float64 array", what, path);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    int same = nd == ndim;
    for (int i = 0; i < nd; ++i) got[i] = (int64_t)dims[i], same &= i < ndim && got[i] == shape[i];
    if (!same) {
        char g[128], w[128];
        shape_text(nd, got, g, sizeof g);
        shape_text(ndim, shape, w, sizeof w);
        st = lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "weight %s ('%s') has shape %s; the layer's config implies %s", what,
                   path, g, w);
        goto done;
    }
    size_t count = 1, bytes;
    for (int i = 0; i < ndim; ++i) count *= (size_t)shape[i]; /* fits: shapes are bounded by the config checks */
    bytes = count * sizeof(float);
    if (bytes > b->budget - b->weight_bytes) {
        st = lfail(l, CLRNN_ERR_OUT_OF_MEMORY, NULL, "the weights need more than the model's host budget of %zu bytes "
                   "(CLRNN_MODEL_HOST_BUDGET)", b->budget);
        goto done;
    }
    float *data = amalloc(&b->a, bytes);
    if (!data) {
        st = OOM();
        goto done;
    }
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        st = lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "weight %s ('%s') cannot be read", what, path);
        goto done;
    }
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(data[i])) {
            st = lfail(l, CLRNN_ERR_NON_FINITE, NULL, "weight %s ('%s') element %zu is not finite", what, path, i);
            goto done;
        }
    b->weight_bytes += bytes;
    *out = data;
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

typedef struct wspec {
    const char *what;
    int ndim;
    int64_t shape[2];
} wspec;

/* The layer's weights, in Keras order, as initializers (created once per layer: a layer called
 * twice shares them). .keras: <wpath>/<sub[g]>/vars/<i>, group by group; .h5: the layer's
 * weight_names in order (all groups concatenated). */
static clrnn_status layer_weights(kb *b, klayer *l, int n_groups, const char *const *subs, const int *counts,
                                  const wspec *spec, const char **names) {
    int total = 0;
    for (int g = 0; g < n_groups; ++g) total += counts[g];
    if (l->n_winit) {
        for (int i = 0; i < total; ++i) names[i] = l->winit[i];
        return CLRNN_OK;
    }
    clrnn_status st = CLRNN_OK;
    float *data[8] = {0};
    if (b->legacy_h5) {
        if (!h5_exists(b->wroot, l->name))
            return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "model_weights has no group for this layer");
        hid_t g = H5Gopen2(b->wroot, l->name, H5P_DEFAULT);
        if (g < 0) return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "model_weights/%s is not a group", l->name);
        char **wn = NULL;
        size_t n = 0;
        st = h5_attr_list(g, "weight_names", &wn, &n);
        if (st == CLRNN_ERR_NOT_FOUND) st = lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "its weight group has no weight_names");
        else if (st == CLRNN_OK && n != (size_t)total)
            st = lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "the weights file holds %zu weights for it; its config implies %d", n, total);
        for (int i = 0; i < total && st == CLRNN_OK; ++i)
            st = read_weight(b, l, g, wn[i], spec[i].what, spec[i].ndim, spec[i].shape, &data[i]);
        free_strings(wn, n);
        H5Gclose(g);
    } else {
        int i = 0;
        for (int g = 0; g < n_groups && st == CLRNN_OK; ++g) {
            char vars[MAX_NAME + 160];
            snprintf(vars, sizeof vars, "%s%s%s/vars", l->wpath, subs[g] ? "/" : "", subs[g] ? subs[g] : "");
            for (int k = 0; k < counts[g] && st == CLRNN_OK; ++k, ++i) {
                char path[MAX_NAME + 200];
                snprintf(path, sizeof path, "%s/%d", vars, k);
                st = read_weight(b, l, b->wroot, path, spec[i].what, spec[i].ndim, spec[i].shape, &data[i]);
            }
            char extra[MAX_NAME + 200];
            snprintf(extra, sizeof extra, "%s/%d", vars, counts[g]);
            if (st == CLRNN_OK && h5_exists(b->wroot, extra))
                st = lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "the weights file holds more than the %d weights its config "
                           "implies under '%s'", counts[g], vars);
        }
    }
    for (int i = 0; i < total && st == CLRNN_OK; ++i) {
        const char *name = new_value(b, l, spec[i].what);
        if (!name) return OOM();
        if ((st = add_init(b, name, data[i], spec[i].ndim, spec[i].shape)) != CLRNN_OK) return st;
        l->winit[i] = names[i] = name;
    }
    if (st == CLRNN_OK) l->n_winit = total;
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Layers
 * ---------------------------------------------------------------------------------------- */
static clrnn_status need_float_input(const klayer *l, const kt *x, int min_rank) {
    if (x->dtype != CLRNN_DTYPE_FLOAT32 || x->is_bool)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "its input is not float32 (only Embedding takes integer ids)");
    if (x->ndim < min_rank) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "its input has rank %d (needs >= %d)", x->ndim, min_rank);
    if (x->shape[x->ndim - 1] < 1)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "the last dimension of its input is not fixed (the model's input "
                     "shape must give the number of features)");
    return CLRNN_OK;
}

/* y = act(x W + b) over the last axis; `sub`: where the weights live (.keras), NULL for Dense itself. */
static clrnn_status dense(kb *b, klayer *l, json_t *cfg, const char *sub, const kt *x, kt *y) {
    static const char *const keys[] = {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                                       "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint",
                                       "lora_rank", "lora_alpha", "quantization_config", NULL};
    clrnn_status st;
    int64_t units, lora;
    int use_bias;
    const char *act;
    if ((st = check_keys(l, cfg, keys)) != CLRNN_OK || (st = check_dtype(l, cfg)) != CLRNN_OK ||
        (st = cfg_int(l, cfg, "units", 1, 1 << 24, 1, 0, &units)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "use_bias", 1, &use_bias)) != CLRNN_OK ||
        (st = activation_name(l, cfg, "activation", "linear", &act)) != CLRNN_OK ||
        (st = cfg_int(l, cfg, "lora_rank", 0, 0, 0, 0, &lora)) != CLRNN_OK ||
        (st = need_float_input(l, x, 2)) != CLRNN_OK)
        return st;
    json_t *q = json_object_get(cfg, "quantization_config");
    if (q && !json_is_null(q)) return lfail(l, CLRNN_ERR_UNSUPPORTED, "quantization_config", "quantized layers");
    const int kind = find_kact(act);
    if (kind < 0) return lfail(l, CLRNN_ERR_UNSUPPORTED, "activation", "activation '%s'", act);
    const int64_t in = x->shape[x->ndim - 1];
    if (in > (1 << 24)) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input features %lld", (long long)in);
    const wspec spec[2] = {{"kernel", 2, {in, units}}, {"bias", 1, {units, 0}}};
    const char *w[2];
    const int counts[1] = {use_bias ? 2 : 1};
    const char *subs[1] = {sub};
    if ((st = layer_weights(b, l, 1, subs, counts, spec, w)) != CLRNN_OK) return st;
    *y = *x;
    y->shape[y->ndim - 1] = units;
    const char *mm = new_value(b, l, "matmul");
    if (!mm) return OOM();
    const char *ins[2] = {x->value, w[0]};
    if ((st = emit(b, l, "MatMul", 0, 2, ins, 1, &mm, NULL, 0)) != CLRNN_OK) return st;
    const char *cur = mm;
    if (use_bias) {
        const char *add = new_value(b, l, "bias_add");
        const char *ai[2] = {mm, w[1]};
        if (!add) return OOM();
        if ((st = emit(b, l, "Add", 0, 2, ai, 1, &add, NULL, 0)) != CLRNN_OK) return st;
        cur = add;
    }
    if (kind != KA_LINEAR) {
        const char *o = new_value(b, l, act);
        if (!o) return OOM();
        const float alpha = kind == KA_LEAKY_RELU ? 0.2f : hard_sigmoid_alpha(b);
        Onnx__AttributeProto *at[3] = {attr_int(b, "kind", kind), attr_float(b, "alpha", alpha), attr_float(b, "beta", 0.5f)};
        if ((st = emit(b, l, "Activation", 1, 1, &cur, 1, &o, at, 3)) != CLRNN_OK) return st;
        cur = o;
    }
    y->value = cur;
    return CLRNN_OK;
}

static clrnn_status activation_layer(kb *b, klayer *l, const kt *x, kt *y) {
    static const char *const keys[] = {"activation", NULL};
    clrnn_status st;
    const char *act;
    if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK ||
        (st = activation_name(l, l->cfg, "activation", NULL, &act)) != CLRNN_OK || (st = need_float_input(l, x, 1)) != CLRNN_OK)
        return st;
    if (!act) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "activation", "is missing");
    const int kind = find_kact(act);
    if (kind < 0) return lfail(l, CLRNN_ERR_UNSUPPORTED, "activation", "activation '%s'", act);
    *y = *x;
    if (kind == KA_LINEAR) return CLRNN_OK;
    const char *o = new_value(b, l, act);
    if (!o) return OOM();
    const float alpha = kind == KA_LEAKY_RELU ? 0.2f : hard_sigmoid_alpha(b);
    Onnx__AttributeProto *at[3] = {attr_int(b, "kind", kind), attr_float(b, "alpha", alpha), attr_float(b, "beta", 0.5f)};
    if ((st = emit(b, l, "Activation", 1, 1, &x->value, 1, &o, at, 3)) != CLRNN_OK) return st;
    y->value = o;
    return CLRNN_OK;
}

static clrnn_status masking(kb *b, klayer *l, const kt *x, kt *y) {
    static const char *const keys[] = {"mask_value", NULL};
    clrnn_status st;
    double mv;
    if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK ||
        (st = cfg_number(l, l->cfg, "mask_value", 0.0, &mv)) != CLRNN_OK || (st = need_float_input(l, x, 2)) != CLRNN_OK)
        return st;
    *y = *x;
    const char *outs[2] = {new_value(b, l, "masked"), new_value(b, l, "mask")};
    if (!outs[0] || !outs[1]) return OOM();
    Onnx__AttributeProto *at[1] = {attr_float(b, "mask_value", (float)mv)};
    if ((st = emit(b, l, "Masking", 1, 1, &x->value, 2, outs, at, 1)) != CLRNN_OK) return st;
    y->value = outs[0];
    y->mask = outs[1];
    return CLRNN_OK;
}

static clrnn_status embedding(kb *b, klayer *l, const kt *x, kt *y) {
    static const char *const keys[] = {"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                                       "embeddings_constraint", "mask_zero", "input_length", "lora_rank", "lora_alpha",
                                       "quantization_config", "sparse", NULL};
    clrnn_status st;
    int64_t V, Dm, lora;
    int mask_zero, sparse;
    json_t *cfg = l->cfg;
    if ((st = check_keys(l, cfg, keys)) != CLRNN_OK || (st = check_dtype(l, cfg)) != CLRNN_OK ||
        (st = cfg_int(l, cfg, "input_dim", 1, (int64_t)1 << 31, 1, 0, &V)) != CLRNN_OK ||
        (st = cfg_int(l, cfg, "output_dim", 1, 1 << 24, 1, 0, &Dm)) != CLRNN_OK ||
        (st = cfg_int(l, cfg, "lora_rank", 0, 0, 0, 0, &lora)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "mask_zero", 0, &mask_zero)) != CLRNN_OK || (st = cfg_bool(l, cfg, "sparse", 0, &sparse)) != CLRNN_OK)
        return st;
    if (sparse) return lfail(l, CLRNN_ERR_UNSUPPORTED, "sparse", "sparse embeddings");
    json_t *q = json_object_get(cfg, "quantization_config");
    if (q && !json_is_null(q)) return lfail(l, CLRNN_ERR_UNSUPPORTED, "quantization_config", "quantized layers");
    if (x->ndim < 1 || x->ndim + 1 > CLRNN_MAX_DIMS) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input of rank %d", x->ndim);
    const wspec spec[1] = {{"embeddings", 2, {V, Dm}}};
    const char *w[1];
    const int counts[1] = {1};
    const char *subs[1] = {NULL};
    if ((st = layer_weights(b, l, 1, subs, counts, spec, w)) != CLRNN_OK) return st;
    const char *ids = x->value;
    if (x->dtype == CLRNN_DTYPE_FLOAT32 || x->dtype == CLRNN_DTYPE_UINT8) { /* Keras casts other ids to int32 */
        const char *c = new_value(b, l, "ids");
        Onnx__AttributeProto *at[1] = {attr_int(b, "to", OX_INT64)};
        if (!c) return OOM();
        if ((st = emit(b, l, "Cast", 0, 1, &x->value, 1, &c, at, 1)) != CLRNN_OK) return st;
        ids = c;
    }
    const char *o = new_value(b, l, "embedded");
    const char *gi[2] = {w[0], ids};
    Onnx__AttributeProto *at[1] = {attr_int(b, "axis", 0)};
    if (!o) return OOM();
    if ((st = emit(b, l, "Gather", 0, 2, gi, 1, &o, at, 1)) != CLRNN_OK) return st;
    *y = *x;
    y->dtype = CLRNN_DTYPE_FLOAT32;
    y->shape[y->ndim++] = Dm;
    y->value = o;
    y->mask = NULL;
    if (mask_zero) {
        const char *mk = new_value(b, l, "mask");
        if (!mk) return OOM();
        Onnx__AttributeProto *ma[1] = {attr_float(b, "value", 0.0f)};
        if ((st = emit(b, l, "NotEqual", 1, 1, &x->value, 1, &mk, ma, 1)) != CLRNN_OK) return st;
        y->mask = mk;
    }
    return CLRNN_OK;
}

/* One recurrent layer config (the layer itself, or the forward/backward layer of a Bidirectional). */
typedef struct rnn_cfg {
    int cell; /* clrnn_cell */
    int64_t units;
    int use_bias, return_sequences, return_state, go_backwards, reset_after, zero_output;
    clrnn_activation act[3];
} rnn_cfg;

static const char *const rnn_keys[] = {
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask", "reset_after",
    "implementation", "time_major", "use_cudnn", NULL};

static clrnn_status parse_rnn(const kb *b, const klayer *l, const char *cls, json_t *cfg, rnn_cfg *r) {
    memset(r, 0, sizeof *r);
    clrnn_status st;
    if (!strcmp(cls, "SimpleRNN")) r->cell = CLRNN_CELL_RNN;
    else if (!strcmp(cls, "LSTM")) r->cell = CLRNN_CELL_LSTM;
    else if (!strcmp(cls, "GRU")) r->cell = CLRNN_CELL_GRU;
    else return lfail(l, CLRNN_ERR_UNSUPPORTED, "layer", "wraps a %.64s (clrnn wraps SimpleRNN, LSTM and GRU)", cls);
    if ((st = check_keys(l, cfg, rnn_keys)) != CLRNN_OK || (st = check_dtype(l, cfg)) != CLRNN_OK) return st;
    /* keys of another cell kind are not the config of this one */
    if (r->cell != CLRNN_CELL_GRU && json_object_get(cfg, "reset_after"))
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "reset_after", "is not an option of %s", cls);
    if (r->cell == CLRNN_CELL_RNN && json_object_get(cfg, "recurrent_activation"))
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "recurrent_activation", "is not an option of SimpleRNN");
    int stateful, time_major;
    if ((st = cfg_int(l, cfg, "units", 1, 1 << 16, 1, 0, &r->units)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "use_bias", 1, &r->use_bias)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "return_sequences", 0, &r->return_sequences)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "return_state", 0, &r->return_state)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "go_backwards", 0, &r->go_backwards)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "zero_output_for_mask", 0, &r->zero_output)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "reset_after", 1, &r->reset_after)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "stateful", 0, &stateful)) != CLRNN_OK ||
        (st = cfg_bool(l, cfg, "time_major", 0, &time_major)) != CLRNN_OK)
        return st;
    if (stateful) return lfail(l, CLRNN_ERR_UNSUPPORTED, "stateful", "stateful layers (state kept between calls)");
    if (time_major) return lfail(l, CLRNN_ERR_UNSUPPORTED, "time_major", "time-major Keras layers");
    json_t *uc = json_object_get(cfg, "use_cudnn");
    if (uc && !json_is_boolean(uc) && !json_is_string(uc) && !json_is_null(uc))
        return lfail(l, CLRNN_ERR_CORRUPT_FILE, "use_cudnn", "must be true, false or \"auto\"");
    /* slots as in clrnn: RNN {f}, GRU {f, g}, LSTM {f, g, h}; Keras: recurrent_activation gates, activation the rest */
    if (r->cell == CLRNN_CELL_RNN) {
        st = rnn_activation(b, l, cfg, "activation", "tanh", &r->act[0]);
    } else {
        st = rnn_activation(b, l, cfg, "recurrent_activation", "sigmoid", &r->act[0]);
        if (st == CLRNN_OK) st = rnn_activation(b, l, cfg, "activation", "tanh", &r->act[1]);
        if (r->cell == CLRNN_CELL_LSTM) r->act[2] = r->act[1]; /* h(c) is Keras' activation too */
    }
    return st;
}

/* The cell's weights: kernel [I, G*H], recurrent_kernel [H, G*H], bias [G*H] ([2, G*H] for GRU reset_after). */
static int rnn_specs(const rnn_cfg *r, int64_t I, wspec *spec) {
    const int64_t G = r->cell == CLRNN_CELL_LSTM ? 4 : r->cell == CLRNN_CELL_GRU ? 3 : 1, GH = G * r->units;
    spec[0] = (wspec){"kernel", 2, {I, GH}};
    spec[1] = (wspec){"recurrent_kernel", 2, {r->units, GH}};
    if (!r->use_bias) return 2;
    if (r->cell == CLRNN_CELL_GRU && r->reset_after) spec[2] = (wspec){"bias", 2, {2, GH}};
    else spec[2] = (wspec){"bias", 1, {GH, 0}};
    return 3;
}

static const char *const bidi_keys[] = {"layer", "backward_layer", "merge_mode", NULL};

static int is_recurrent(const char *cls) {
    return !strcmp(cls, "SimpleRNN") || !strcmp(cls, "LSTM") || !strcmp(cls, "GRU") || !strcmp(cls, "Bidirectional");
}

/* SimpleRNN, LSTM, GRU or Bidirectional: outs[0..) as Keras returns them. init[n_init]: the
 * initial_state tensors (none: zeros), Keras' order: h (and c) of the forward, then backward layer. */
static clrnn_status recurrent(kb *b, klayer *l, const kt *x, const kt *const *init, int n_init, int allow_state,
                              kt *outs, int *n_outs) {
    clrnn_status st;
    const int bidi = !strcmp(l->cls, "Bidirectional");
    rnn_cfg r[2];
    int merge = CLRNN_MERGE_CONCAT;
    if (bidi) {
        if ((st = check_keys(l, l->cfg, bidi_keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK) return st;
        json_t *fw = json_object_get(l->cfg, "layer"), *bw = json_object_get(l->cfg, "backward_layer");
        json_t *mm = json_object_get(l->cfg, "merge_mode");
        if (!mm || json_is_null(mm)) merge = mm ? CLRNN_MERGE_NONE : CLRNN_MERGE_CONCAT;
        else if (!json_is_string(mm)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "merge_mode", "must be a string or null");
        else {
            const char *s = json_string_value(mm);
            if (!strcmp(s, "concat")) merge = CLRNN_MERGE_CONCAT;
            else if (!strcmp(s, "sum")) merge = CLRNN_MERGE_SUM;
            else if (!strcmp(s, "mul")) merge = CLRNN_MERGE_MUL;
            else if (!strcmp(s, "ave")) merge = CLRNN_MERGE_AVE;
            else return lfail(l, CLRNN_ERR_UNSUPPORTED, "merge_mode", "'%s' is not concat, sum, mul, ave or null", s);
        }
        json_t *sub[2] = {fw, bw};
        for (int d = 0; d < 2; ++d) {
            json_t *o = sub[d] ? sub[d] : fw;
            const char *key = d ? "backward_layer" : "layer";
            if (!o || !json_is_object(o)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "must be a layer object");
            json_t *cn = json_object_get(o, "class_name"), *c = json_object_get(o, "config");
            if (!cn || !json_is_string(cn) || !c || !json_is_object(c))
                return lfail(l, CLRNN_ERR_CORRUPT_FILE, key, "needs a class_name string and a config object");
            if ((st = parse_rnn(b, l, json_string_value(cn), c, &r[d])) != CLRNN_OK) return st;
            if (!sub[1] && d == 1) r[1].go_backwards = !r[0].go_backwards; /* Keras 2: the backward copy */
        }
        if (r[0].go_backwards || !r[1].go_backwards)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "go_backwards", "the forward layer must run forwards and the backward "
                         "layer backwards");
        if (r[0].cell != r[1].cell || r[0].units != r[1].units || r[0].return_sequences != r[1].return_sequences ||
            r[0].return_state != r[1].return_state || (r[0].cell == CLRNN_CELL_GRU && r[0].reset_after != r[1].reset_after))
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "backward_layer", "differs from the forward layer in its cell, units, "
                         "reset_after, return_sequences or return_state");
        /* Keras forces zero_output_for_mask = return_sequences on both halves */
        r[0].zero_output = r[1].zero_output = r[0].return_sequences;
    } else if ((st = parse_rnn(b, l, l->cls, l->cfg, &r[0])) != CLRNN_OK) {
        return st;
    }
    const int D = bidi ? 2 : 1;
    if (r[0].return_state && !allow_state)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "return_state", "a Sequential model takes one output per layer");
    if (x->mask && r[0].zero_output && !r[0].return_sequences)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "zero_output_for_mask", "with return_sequences false and a mask (Keras then "
                     "returns the zeroed output of the last step)");
    if ((st = need_float_input(l, x, 3)) != CLRNN_OK) return st;
    if (x->ndim != 3) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input of rank %d (a recurrent layer takes [batch, "
                                   "timesteps, features])", x->ndim);
    const int64_t I = x->shape[2];
    if (I > (1 << 20)) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input features %lld", (long long)I);

    wspec spec[6];
    int counts[2];
    counts[0] = rnn_specs(&r[0], I, spec);
    if (D == 2) counts[1] = rnn_specs(&r[1], I, spec + counts[0]);
    const char *w[6];
    static const char *const sub1[1] = {"cell"};
    static const char *const sub2[2] = {"forward_layer/cell", "backward_layer/cell"};
    if ((st = layer_weights(b, l, D, D == 2 ? sub2 : sub1, counts, spec, w)) != CLRNN_OK) return st;

    const int lstm = r[0].cell == CLRNN_CELL_LSTM, n_y = D == 2 && merge == CLRNN_MERGE_NONE ? 2 : 1;
    const char *in[12] = {x->value, w[0], w[1], x->mask ? x->mask : "", counts[0] == 3 ? w[2] : ""};
    int n_in = 5;
    if (D == 2) {
        in[5] = w[counts[0]];
        in[6] = w[counts[0] + 1];
        in[7] = counts[1] == 3 ? w[counts[0] + 2] : "";
        n_in = 8;
    }
    if (n_init) { /* inputs 8.. : h0 and c0 of the forward layer, then of the backward one */
        const int per_dir = lstm ? 2 : 1;
        if (n_init != D * per_dir)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "initial_state of %d tensors (this layer has %d "
                         "states)", n_init, D * per_dir);
        for (int i = 0; i < n_init; ++i) {
            const kt *s0 = init[i];
            if (s0->dtype != CLRNN_DTYPE_FLOAT32 || s0->is_bool || s0->ndim != 2 ||
                (s0->shape[1] >= 0 && s0->shape[1] != r[0].units))
                return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "initial_state %d is not a float32 [batch, %lld] "
                             "tensor", i, (long long)r[0].units);
        }
        for (int k = n_in; k < 12; ++k) in[k] = "";
        for (int d = 0; d < D; ++d)
            for (int k = 0; k < per_dir; ++k) in[8 + 2 * d + k] = init[d * per_dir + k]->value;
        n_in = 12;
    }
    const int n_out = n_y + D * (lstm ? 2 : 1);
    const char *on[6];
    for (int i = 0; i < n_out; ++i)
        if (!(on[i] = new_value(b, l, i < n_y ? "output" : "state"))) return OOM();
    const int64_t H = r[0].units;
    int64_t kinds[6];
    float alpha[6], beta[6];
    for (int d = 0; d < D; ++d)
        for (int k = 0; k < 3; ++k) {
            kinds[d * 3 + k] = r[d].act[k].kind;
            alpha[d * 3 + k] = r[d].act[k].alpha;
            beta[d * 3 + k] = r[d].act[k].beta;
        }
    Onnx__AttributeProto *at[9] = {
        attr_int(b, "direction", bidi ? 2 : r[0].go_backwards ? 1 : 0),
        attr_int(b, "merge", merge),
        attr_int(b, "return_sequences", r[0].return_sequences),
        attr_int(b, "zero_output_for_mask", r[0].zero_output),
        attr_int(b, "reset_after", r[0].cell == CLRNN_CELL_GRU && r[0].reset_after),
        attr_int(b, "units", H),
        attr_ints(b, "activations", kinds, (size_t)D * 3),
        attr_floats(b, "activation_alpha", alpha, (size_t)D * 3),
        attr_floats(b, "activation_beta", beta, (size_t)D * 3),
    };
    static const char *const ops[3] = {"SimpleRNN", "LSTM", "GRU"};
    if ((st = emit(b, l, ops[r[0].cell], 1, n_in, in, n_out, on, at, 9)) != CLRNN_OK) return st;

    const int64_t O = D == 2 && merge == CLRNN_MERGE_CONCAT ? 2 * H : H;
    for (int i = 0; i < n_out; ++i) {
        kt *t = &outs[i];
        memset(t, 0, sizeof *t);
        t->value = on[i];
        t->dtype = CLRNN_DTYPE_FLOAT32;
        t->shape[0] = x->shape[0];
        if (i < n_y && r[0].return_sequences) {
            t->ndim = 3;
            t->shape[1] = x->shape[1];
            t->shape[2] = O;
            t->mask = x->mask; /* Keras: the mask goes on (unreversed, even after go_backwards) */
        } else {
            t->ndim = 2;
            t->shape[1] = i < n_y ? O : H;
        }
    }
    *n_outs = r[0].return_state ? n_out : n_y;
    return CLRNN_OK;
}

static clrnn_status time_distributed(kb *b, klayer *l, const kt *x, kt *y) {
    static const char *const keys[] = {"layer", NULL};
    clrnn_status st;
    if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK) return st;
    json_t *in = json_object_get(l->cfg, "layer");
    if (!in || !json_is_object(in)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "layer", "must be a layer object");
    json_t *cn = json_object_get(in, "class_name"), *c = json_object_get(in, "config");
    if (!cn || !json_is_string(cn) || !c || !json_is_object(c))
        return lfail(l, CLRNN_ERR_CORRUPT_FILE, "layer", "needs a class_name string and a config object");
    if (strcmp(json_string_value(cn), "Dense") != 0)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "layer", "wraps a %.64s (clrnn runs TimeDistributed(Dense))", json_string_value(cn));
    if (x->ndim < 3) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input of rank %d (needs [batch, timesteps, ...])", x->ndim);
    /* Dense acts on the last axis: the same at every step */
    return dense(b, l, c, "layer", x, y);
}

static clrnn_status identity_layer(const klayer *l, const char *const *keys, const kt *x, kt *y) {
    clrnn_status st = check_keys(l, l->cfg, keys);
    if (st == CLRNN_OK) st = check_dtype(l, l->cfg);
    *y = *x;
    return st;
}

/* The ops Keras 3 records in a Functional config to compute a mask: not_equal(x, scalar) and
 * any(axis=-1); `scalar` is the call's second positional argument. */
static clrnn_status mask_op(kb *b, klayer *l, const kt *x, json_t *scalar, kt *y) {
    clrnn_status st;
    *y = *x;
    y->mask = NULL;
    y->dtype = CLRNN_DTYPE_UINT8;
    y->is_bool = 1;
    const char *o = new_value(b, l, "bool");
    if (!o) return OOM();
    if (!strcmp(l->cls, "ZerosLike") || !strcmp(l->cls, "OnesLike")) {
        static const char *const keys[] = {"dtype", NULL};
        json_t *dt = json_object_get(l->cfg, "dtype");
        if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK) return st;
        if (!dt || !json_is_string(dt) || strcmp(json_string_value(dt), "bool") != 0 || scalar)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "dtype", "%s other than of dtype bool (the op Keras 3 records when "
                         "it merges masks)", l->cls);
        Onnx__AttributeProto *at[1] = {attr_int(b, "value", !strcmp(l->cls, "OnesLike"))};
        if ((st = emit(b, l, "BoolLike", 1, 1, &x->value, 1, &o, at, 1)) != CLRNN_OK) return st;
    } else if (!strcmp(l->cls, "ExpandDims")) {
        static const char *const keys[] = {"axis", NULL};
        int64_t axis;
        if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK ||
            (st = cfg_int(l, l->cfg, "axis", -CLRNN_MAX_DIMS, CLRNN_MAX_DIMS - 1, 1, 0, &axis)) != CLRNN_OK)
            return st;
        if (!x->is_bool || scalar || x->ndim >= CLRNN_MAX_DIMS || axis < -(x->ndim + 1) || axis > x->ndim)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "axis", "expand_dims other than of a bool tensor (a mask) within its rank");
        const int ax = (int)(axis < 0 ? axis + x->ndim + 1 : axis);
        const char *axes = new_value(b, l, "axes");
        if (!axes) return OOM();
        const int64_t av = ax;
        if ((st = add_init_i64(b, axes, &av, 1)) != CLRNN_OK) return st;
        const char *in[2] = {x->value, axes};
        if ((st = emit(b, l, "Unsqueeze", 0, 2, in, 1, &o, NULL, 0)) != CLRNN_OK) return st;
        for (int d = x->ndim; d > ax; --d) y->shape[d] = y->shape[d - 1];
        y->shape[ax] = 1;
        y->ndim++;
    } else if (!strcmp(l->cls, "NotEqual")) {
        static const char *const keys[] = {NULL};
        if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK) return st;
        if (!scalar || !json_is_number(scalar) || !isfinite(json_number_value(scalar)))
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "not_equal with a second argument that is not a number");
        if (x->is_bool) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "not_equal of a bool tensor");
        Onnx__AttributeProto *at[1] = {attr_float(b, "value", (float)json_number_value(scalar))};
        if ((st = emit(b, l, "NotEqual", 1, 1, &x->value, 1, &o, at, 1)) != CLRNN_OK) return st;
    } else {
        static const char *const keys[] = {"axis", "keepdims", NULL};
        int64_t axis;
        int keepdims;
        if ((st = check_keys(l, l->cfg, keys)) != CLRNN_OK || (st = cfg_int(l, l->cfg, "axis", -8, 7, 1, 0, &axis)) != CLRNN_OK ||
            (st = cfg_bool(l, l->cfg, "keepdims", 0, &keepdims)) != CLRNN_OK)
            return st;
        if (scalar) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "any with a second positional argument");
        if (!x->is_bool || x->ndim < 1 || (axis != -1 && axis != x->ndim - 1) || keepdims)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "axis", "any other than over the last axis of a bool tensor without keepdims");
        if ((st = emit(b, l, "AnyLastAxis", 1, 1, &x->value, 1, &o, NULL, 0)) != CLRNN_OK) return st;
        y->ndim--;
    }
    y->value = o;
    return CLRNN_OK;
}

/* The mask of a merge layer's output, as Keras computes it from its inputs' masks [N, T]:
 *   Keras 2: Add ANDs the masks present (an unmasked input constrains nothing); Concatenate on the
 *     last (feature) axis ANDs them too (an unmasked input counts as all-true);
 *   Keras 3: Add ORs them and gives no mask when an input is unmasked; Concatenate on the feature
 *     axis broadcasts them and takes any(): their OR, all-true (no mask) with an unmasked input.
 *     (A Functional config records these ops and passes the result as the next call's mask; the
 *     propagation here serves Sequential models and calls recorded with mask null.)
 *   Concatenate on the time axis: the masks concatenated along it (every input must be masked:
 *     Keras 2 cannot build the other case, Keras 3 fills in ones).
 * No input masked: no mask. */
static clrnn_status merge_mask(kb *b, klayer *l, const kt *const *xs, int n, int add, int ax, kt *y) {
    clrnn_status st;
    int n_masked = 0;
    for (int i = 0; i < n; ++i) n_masked += xs[i]->mask != NULL;
    y->mask = NULL;
    if (!n_masked) return CLRNN_OK;
    const int r = xs[0]->ndim;
    if (r != 3) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "a merge of masked tensors of rank %d (clrnn merges the "
                             "masks of [batch, timesteps, features] tensors)", r);
    const char *cur = NULL;
    if (add || ax == r - 1) {
        const int any = b->major >= 3;
        if (any && n_masked < n) return CLRNN_OK; /* Keras 3: an unmasked input, no mask */
        for (int i = 0; i < n; ++i) {
            if (!xs[i]->mask) continue;
            if (!cur) {
                cur = xs[i]->mask;
                continue;
            }
            const char *o = new_value(b, l, "mask");
            const char *in[2] = {cur, xs[i]->mask};
            if (!o) return OOM();
            if ((st = emit(b, l, any ? "Or" : "And", 0, 2, in, 1, &o, NULL, 0)) != CLRNN_OK) return st;
            cur = o;
        }
    } else if (ax == 1) {
        if (n_masked < n)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "axis", "1 (timesteps) with %d of the %d inputs unmasked (clrnn "
                         "concatenates masks along time when every input has one)", n - n_masked, n);
        const char *in[16], *o = new_value(b, l, "mask");
        if (!o) return OOM();
        for (int i = 0; i < n; ++i) in[i] = xs[i]->mask;
        Onnx__AttributeProto *at[1] = {attr_int(b, "axis", 1)};
        if (!at[0]) return OOM();
        if ((st = emit(b, l, "Concat", 0, n, in, 1, &o, at, 1)) != CLRNN_OK) return st;
        cur = o;
    } else {
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "axis", "%d (the batch axis) on masked inputs", ax);
    }
    y->mask = cur;
    return CLRNN_OK;
}

/* Keras 3's logical_or / logical_and of two bool tensors (recorded when it merges masks), with
 * numpy broadcasting. */
static clrnn_status logic_layer(kb *b, klayer *l, const kt *const *xs, int n, kt *y) {
    static const char *const keys[] = {NULL};
    clrnn_status st = check_keys(l, l->cfg, keys);
    if (st != CLRNN_OK) return st;
    if (n != 2 || !xs[0]->is_bool || !xs[1]->is_bool || xs[0]->ndim != xs[1]->ndim)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "%s other than of two bool tensors of one rank", l->cls);
    *y = *xs[0];
    y->mask = NULL;
    for (int d = 0; d < y->ndim; ++d) {
        const int64_t a = xs[0]->shape[d], c = xs[1]->shape[d];
        y->shape[d] = a == 1 ? c : c == 1 ? a : a < 0 ? c : a;
    }
    const char *o = new_value(b, l, "bool");
    const char *in[2] = {xs[0]->value, xs[1]->value};
    if (!o) return OOM();
    if ((st = emit(b, l, !strcmp(l->cls, "LogicalOr") ? "Or" : "And", 0, 2, in, 1, &o, NULL, 0)) != CLRNN_OK) return st;
    y->value = o;
    return CLRNN_OK;
}

/* Add and Concatenate of float tensors, their masks merged as Keras does (merge_mask); Keras 3's
 * recorded Concatenate of bool tensors (masks). */
static clrnn_status merge(kb *b, klayer *l, const kt *const *xs, int n, kt *y) {
    clrnn_status st;
    if (!strcmp(l->cls, "LogicalOr") || !strcmp(l->cls, "LogicalAnd")) return logic_layer(b, l, xs, n, y);
    const int add = !strcmp(l->cls, "Add");
    if (!add && strcmp(l->cls, "Concatenate") != 0)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a %s layer called on %d tensors", l->cls, n);
    static const char *const add_keys[] = {NULL}, *const cat_keys[] = {"axis", NULL};
    if ((st = check_keys(l, l->cfg, add ? add_keys : cat_keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK)
        return st;
    if (n < 2) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a merge of %d tensor", n);
    int64_t axis = -1;
    if (!add && (st = cfg_int(l, l->cfg, "axis", -CLRNN_MAX_DIMS, CLRNN_MAX_DIMS - 1, 0, -1, &axis)) != CLRNN_OK) return st;
    const int r = xs[0]->ndim;
    if (axis < -r || axis >= r) return lfail(l, CLRNN_ERR_UNSUPPORTED, "axis", "%lld for inputs of rank %d", (long long)axis, r);
    const int ax = (int)(axis < 0 ? axis + r : axis);
    const int bools = !add && xs[0]->is_bool;
    *y = *xs[0];
    for (int i = 0; i < n; ++i) {
        const kt *x = xs[i];
        if ((bools ? !x->is_bool : x->dtype != CLRNN_DTYPE_FLOAT32 || x->is_bool) || x->ndim != r)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input %d is not a %s tensor of rank %d", i,
                         bools ? "bool" : "float32", r);
        for (int d = 0; d < r; ++d) {
            if (d == ax && !add) continue;
            if (x->shape[d] >= 0 && y->shape[d] >= 0 && x->shape[d] != y->shape[d])
                return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "input %d has dimension %d = %lld, input 0 %lld", i, d,
                             (long long)x->shape[d], (long long)y->shape[d]);
            if (y->shape[d] < 0) y->shape[d] = x->shape[d];
        }
        if (!add && i > 0) y->shape[ax] = y->shape[ax] < 0 || x->shape[ax] < 0 ? -1 : y->shape[ax] + x->shape[ax];
    }
    if ((st = merge_mask(b, l, xs, n, add, ax, y)) != CLRNN_OK) return st;
    if (add) {
        const char *cur = xs[0]->value;
        for (int i = 1; i < n; ++i) {
            const char *o = new_value(b, l, "sum");
            const char *in[2] = {cur, xs[i]->value};
            if (!o) return OOM();
            if ((st = emit(b, l, "Add", 0, 2, in, 1, &o, NULL, 0)) != CLRNN_OK) return st;
            cur = o;
        }
        y->value = cur;
        return CLRNN_OK;
    }
    const char *in[16], *o = new_value(b, l, "concat");
    if (!o) return OOM();
    for (int i = 0; i < n; ++i) in[i] = xs[i]->value;
    Onnx__AttributeProto *at[1] = {attr_int(b, "axis", ax)};
    if ((st = emit(b, l, "Concat", 0, n, in, 1, &o, at, 1)) != CLRNN_OK) return st;
    y->value = o;
    return CLRNN_OK;
}

/* Flatten (all but the batch axis into one) and Reshape(target_shape): ONNX Reshape with the batch
 * dimension copied (0). Neither supports masking: Keras 3 drops a mask there (with a warning), and
 * so does clrnn (Keras 2 refuses to build such a model). */
static clrnn_status reshape_layer(kb *b, klayer *l, const kt *x, kt *y) {
    static const char *const flat_keys[] = {"data_format", NULL}, *const res_keys[] = {"target_shape", NULL};
    const int flat = !strcmp(l->cls, "Flatten");
    clrnn_status st;
    if ((st = check_keys(l, l->cfg, flat ? flat_keys : res_keys)) != CLRNN_OK || (st = check_dtype(l, l->cfg)) != CLRNN_OK)
        return st;
    if (x->dtype != CLRNN_DTYPE_FLOAT32 || x->is_bool || x->ndim < 1)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "its input is not a float32 tensor with a batch axis");
    int64_t shape[CLRNN_MAX_DIMS];
    int n = 1;
    shape[0] = 0; /* the batch, as it comes */
    *y = *x;
    y->mask = NULL;
    if (flat) {
        const char *df;
        if ((st = cfg_string(l, l->cfg, "data_format", "channels_last", &df)) != CLRNN_OK) return st;
        if (strcmp(df, "channels_last") != 0)
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "data_format", "'%s' (clrnn flattens channels_last)", df);
        shape[n++] = -1;
        int64_t prod = 1;
        for (int i = 1; i < x->ndim; ++i) prod = prod < 0 || x->shape[i] < 0 ? -1 : prod * x->shape[i];
        y->ndim = 2;
        y->shape[1] = prod;
    } else {
        json_t *ts = json_object_get(l->cfg, "target_shape");
        if (!ts || !json_is_array(ts)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "target_shape", "must be a list");
        const size_t k = json_array_size(ts);
        if (k < 1 || k + 1 > CLRNN_MAX_DIMS) return lfail(l, CLRNN_ERR_UNSUPPORTED, "target_shape", "rank %zu", k + 1);
        int free_dims = 0;
        y->ndim = (int)k + 1;
        for (size_t i = 0; i < k; ++i) {
            json_t *d = json_array_get(ts, i);
            if (!json_is_integer(d) || json_integer_value(d) < -1 || json_integer_value(d) == 0 ||
                json_integer_value(d) > (1 << 30))
                return lfail(l, CLRNN_ERR_CORRUPT_FILE, "target_shape", "entry %zu must be -1 or a positive integer", i);
            shape[n++] = y->shape[i + 1] = json_integer_value(d);
            free_dims += json_integer_value(d) == -1;
        }
        if (free_dims > 1) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "target_shape", "more than one -1");
    }
    const char *sh = new_value(b, l, "shape"), *o = new_value(b, l, "reshaped");
    if (!sh || !o) return OOM();
    if ((st = add_init_i64(b, sh, shape, n)) != CLRNN_OK) return st;
    const char *in[2] = {x->value, sh};
    if ((st = emit(b, l, "Reshape", 0, 2, in, 1, &o, NULL, 0)) != CLRNN_OK) return st;
    y->value = o;
    return CLRNN_OK;
}

/* Applies layer l to its inputs; outs: its outputs. */
static clrnn_status apply(kb *b, klayer *l, const kt *x, const kt *const *init, int n_init, json_t *scalar,
                          int functional, kt *outs, int *n_outs) {
    static const char *const dropout_keys[] = {"rate", "noise_shape", "seed", NULL};
    static const char *const sdrop_keys[] = {"rate", "seed", "data_format", NULL};
    static const char *const noise_keys[] = {"stddev", "seed", NULL};
    *n_outs = 1;
    const char *c = l->cls;
    if (functional && (!strcmp(c, "NotEqual") || !strcmp(c, "Any") || !strcmp(c, "ExpandDims") ||
                       !strcmp(c, "ZerosLike") || !strcmp(c, "OnesLike")))
        return mask_op(b, l, x, scalar, outs);
    if (scalar) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a call with 2 positional arguments");
    if (x->is_bool) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "called on a bool tensor");
    if (!strcmp(c, "Masking")) return masking(b, l, x, outs);
    if (!strcmp(c, "Embedding")) return embedding(b, l, x, outs);
    if (!strcmp(c, "Dense")) return dense(b, l, l->cfg, NULL, x, outs);
    if (!strcmp(c, "TimeDistributed")) return time_distributed(b, l, x, outs);
    if (!strcmp(c, "Activation")) return activation_layer(b, l, x, outs);
    if (!strcmp(c, "Dropout")) return identity_layer(l, dropout_keys, x, outs);
    if (!strcmp(c, "SpatialDropout1D")) return identity_layer(l, sdrop_keys, x, outs);
    if (!strcmp(c, "GaussianNoise") || !strcmp(c, "GaussianDropout"))
        return identity_layer(l, !strcmp(c, "GaussianNoise") ? noise_keys : dropout_keys, x, outs);
    if (!strcmp(c, "Flatten") || !strcmp(c, "Reshape")) return reshape_layer(b, l, x, outs);
    if (n_init && !is_recurrent(c))
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "an initial_state passed to a %s layer", c);
    if (is_recurrent(c))
        return recurrent(b, l, x, init, n_init, functional, outs, n_outs);
    return lfail(l, CLRNN_ERR_UNSUPPORTED, "class_name", "layer class '%s' is not supported (clrnn loads InputLayer, "
                 "Masking, Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dense, TimeDistributed(Dense), Activation, "
                 "Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout, Flatten, Reshape, and in Functional models "
                 "Add and Concatenate)", c);
}

/* ------------------------------------------------------------------------------------------
 * Model topology
 * ---------------------------------------------------------------------------------------- */
static clrnn_status input_layer(kb *b, klayer *l, json_t *shape_arr, const char *shape_key, const char *dtype, kt *t) {
    memset(t, 0, sizeof *t);
    if (!shape_arr || !json_is_array(shape_arr))
        return lfail(l, CLRNN_ERR_CORRUPT_FILE, shape_key, "the input shape must be a list");
    const size_t n = json_array_size(shape_arr);
    if (n < 1 || n > CLRNN_MAX_DIMS) return lfail(l, CLRNN_ERR_UNSUPPORTED, shape_key, "rank %zu (1 to %d)", n, CLRNN_MAX_DIMS);
    t->ndim = (int)n;
    for (size_t i = 0; i < n; ++i) {
        json_t *d = json_array_get(shape_arr, i);
        if (json_is_null(d)) t->shape[i] = -1;
        else if (json_is_integer(d) && json_integer_value(d) >= 1 && json_integer_value(d) <= (1 << 30)) t->shape[i] = json_integer_value(d);
        else return lfail(l, CLRNN_ERR_CORRUPT_FILE, shape_key, "dimension %zu must be null or a positive integer", i);
    }
    if (!dtype || !strcmp(dtype, "float32")) t->dtype = CLRNN_DTYPE_FLOAT32;
    else if (!strcmp(dtype, "int32")) t->dtype = CLRNN_DTYPE_INT32;
    else if (!strcmp(dtype, "int64")) t->dtype = CLRNN_DTYPE_INT64;
    else return lfail(l, CLRNN_ERR_UNSUPPORTED, "dtype", "input dtype '%s' (clrnn takes float32, int32 and int64)", dtype);
    for (size_t i = 0; i < b->inputs.n; ++i)
        if (!strcmp(((Onnx__ValueInfoProto *)b->inputs.v[i])->name, l->name))
            return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "two inputs have this name");
    t->value = l->name;
    Onnx__ValueInfoProto *vi = value_info(b, l->name, t);
    return vi && plist_add(&b->inputs, vi) ? CLRNN_OK : OOM();
}

static clrnn_status input_from_config(kb *b, klayer *l, kt *t) {
    static const char *const keys[] = {"batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name", "optional",
                                       "input_tensor", NULL};
    clrnn_status st = check_keys(l, l->cfg, keys);
    if (st != CLRNN_OK) return st;
    int sparse, ragged, optional;
    const char *dtype = NULL;
    if ((st = cfg_bool(l, l->cfg, "sparse", 0, &sparse)) != CLRNN_OK || (st = cfg_bool(l, l->cfg, "ragged", 0, &ragged)) != CLRNN_OK ||
        (st = cfg_bool(l, l->cfg, "optional", 0, &optional)) != CLRNN_OK)
        return st;
    if (sparse || ragged || optional)
        return lfail(l, CLRNN_ERR_UNSUPPORTED, sparse ? "sparse" : ragged ? "ragged" : "optional", "sparse, ragged and "
                     "optional inputs");
    json_t *dt = json_object_get(l->cfg, "dtype");
    if (dt && json_is_object(dt)) {
        json_t *c = json_object_get(dt, "config"), *nm = c ? json_object_get(c, "name") : NULL;
        if (!nm || !json_is_string(nm)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "dtype", "a dtype policy without a name");
        dtype = json_string_value(nm);
    } else if ((st = cfg_string(l, l->cfg, "dtype", NULL, &dtype)) != CLRNN_OK) {
        return st;
    }
    const char *key = json_object_get(l->cfg, "batch_shape") ? "batch_shape" : "batch_input_shape";
    return input_layer(b, l, json_object_get(l->cfg, key), key, dtype, t);
}

/* The outputs of the model, named as Keras names them (layer names; repeats get _1, _2, ...). */
static clrnn_status add_output(kb *b, const char *layer_name, const kt *t) {
    char name[MAX_NAME + 16];
    snprintf(name, sizeof name, "%s", layer_name);
    for (int k = 1;; ++k) {
        int used = 0;
        for (size_t i = 0; i < b->outputs.n && !used; ++i) used = !strcmp(((Onnx__ValueInfoProto *)b->outputs.v[i])->name, name);
        for (size_t i = 0; i < b->inputs.n && !used; ++i) used = !strcmp(((Onnx__ValueInfoProto *)b->inputs.v[i])->name, name);
        if (!used) break;
        if (k > MAX_LAYERS) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "too many outputs named '%s'", layer_name);
        snprintf(name, sizeof name, "%s_%d", layer_name, k);
    }
    const char *out = astrdup(&b->a, name);
    if (!out) return OOM();
    clrnn_status st = emit(b, NULL, "Identity", 0, 1, &t->value, 1, &out, NULL, 0);
    if (st != CLRNN_OK) return st;
    Onnx__ValueInfoProto *vi = value_info(b, out, t);
    return vi && plist_add(&b->outputs, vi) ? CLRNN_OK : OOM();
}

/* "layers/<snake_case(class)>[_k]": Keras' saving_lib names a container's layers by class, counting. */
static void weight_paths(kb *b, const char *root) {
    for (int i = 0; i < b->n_layers; ++i) {
        klayer *l = &b->layers[i];
        char snake[MAX_NAME];
        size_t n = 0;
        const char *c = l->cls;
        for (size_t k = 0; c[k] && n + 2 < sizeof snake; ++k) {
            const int up = c[k] >= 'A' && c[k] <= 'Z';
            const int prev_lower = k > 0 && ((c[k - 1] >= 'a' && c[k - 1] <= 'z') || (c[k - 1] >= '0' && c[k - 1] <= '9'));
            const int next_lower = c[k + 1] >= 'a' && c[k + 1] <= 'z';
            const int prev_upper = k > 0 && c[k - 1] >= 'A' && c[k - 1] <= 'Z';
            if (up && k > 0 && (prev_lower || (prev_upper && next_lower))) snake[n++] = '_';
            snake[n++] = up ? (char)(c[k] - 'A' + 'a') : c[k];
        }
        snake[n] = '\0';
        int count = 0;
        for (int j = 0; j < i; ++j)
            if (!strcmp(b->layers[j].cls, l->cls)) ++count;
        if (count) snprintf(l->wpath, sizeof l->wpath, "%s/%s_%d", root, snake, count);
        else snprintf(l->wpath, sizeof l->wpath, "%s/%s", root, snake);
    }
}

/* Reads the layers array: name, class, config of each. */
static clrnn_status read_layers(kb *b, json_t *layers, int functional) {
    if (!layers || !json_is_array(layers)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model config has no 'layers' list");
    const size_t n = json_array_size(layers);
    if (n > MAX_LAYERS) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the model has %zu layers (at most %d)", n, MAX_LAYERS);
    b->layers = amalloc(&b->a, (n + 1) * sizeof *b->layers);
    if (!b->layers) return OOM();
    for (size_t i = 0; i < n; ++i) {
        json_t *e = json_array_get(layers, i);
        klayer *l = &b->layers[b->n_layers];
        l->name = "?";
        l->cls = "?";
        if (!json_is_object(e)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "layer %zu of the model config is not an object", i);
        json_t *cn = json_object_get(e, "class_name"), *cfg = json_object_get(e, "config");
        if (!cn || !json_is_string(cn)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "layer %zu has no class_name string", i);
        l->cls = json_string_value(cn);
        if (!cfg || !json_is_object(cfg)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "layer %zu (%s) has no config object", i, l->cls);
        json_t *nm = json_object_get(cfg, "name");
        if (!nm && functional) nm = json_object_get(e, "name");
        if (!nm || !json_is_string(nm) || !*json_string_value(nm))
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "layer %zu (%s) has no name", i, l->cls);
        l->name = json_string_value(nm);
        if (strlen(l->name) > MAX_NAME) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "layer %zu has a name of %zu bytes (at most %d)", i,
                                                          strlen(l->name), MAX_NAME);
        for (int j = 0; j < b->n_layers; ++j)
            if (!strcmp(b->layers[j].name, l->name)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, NULL, "two layers have this name");
        if (!strcmp(l->cls, "Sequential") || !strcmp(l->cls, "Functional") || !strcmp(l->cls, "Model"))
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "class_name", "nested models");
        l->entry = e;
        l->cfg = cfg;
        b->n_layers++;
    }
    return CLRNN_OK;
}

static clrnn_status sequential(kb *b, json_t *mcfg) {
    clrnn_status st = read_layers(b, json_object_get(mcfg, "layers"), 0);
    if (st != CLRNN_OK) return st;
    if (b->n_layers == 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the Sequential model has no layers");
    /* Sequential.layers, which saving_lib walks, leaves out the InputLayer */
    const int skip = !strcmp(b->layers[0].cls, "InputLayer");
    /* (counting by class, the InputLayer that Sequential.layers leaves out changes no other name) */
    if (!b->legacy_h5) weight_paths(b, "layers");
    kt cur;
    int first = 0;
    if (skip) {
        if ((st = input_from_config(b, &b->layers[0], &cur)) != CLRNN_OK) return st;
        first = 1;
    } else {
        /* no InputLayer: the first layer carries the input shape (Keras 2: "<layer>_input") */
        klayer *l0 = &b->layers[0];
        json_t *shape = json_object_get(l0->cfg, "batch_input_shape");
        const char *key = "batch_input_shape";
        if (!shape) shape = json_object_get(mcfg, "build_input_shape"), key = "build_input_shape";
        if (!shape) return lfail(l0, CLRNN_ERR_UNSUPPORTED, NULL, "the model declares no input shape (no InputLayer, "
                                 "batch_input_shape or build_input_shape)");
        klayer in = *l0;
        char name[MAX_NAME + 16];
        snprintf(name, sizeof name, b->major >= 3 ? "input_layer" : "%s_input", l0->name);
        in.name = astrdup(&b->a, name);
        if (!in.name) return OOM();
        if ((st = input_layer(b, &in, shape, key, "float32", &cur)) != CLRNN_OK) return st;
    }
    for (int i = first; i < b->n_layers; ++i) {
        klayer *l = &b->layers[i];
        if (!strcmp(l->cls, "InputLayer")) return lfail(l, CLRNN_ERR_UNSUPPORTED, NULL, "an InputLayer inside a Sequential model");
        kt outs[8];
        int n;
        if ((st = apply(b, l, &cur, NULL, 0, NULL, 0, outs, &n)) != CLRNN_OK) return st;
        cur = outs[0];
    }
    return add_output(b, b->layers[b->n_layers - 1].name, &cur);
}

/* [name, node_index, tensor_index] (Keras 2 adds a kwargs dict; Keras 3 tensors are objects). */
typedef struct tref {
    const char *layer;
    int64_t node, tensor;
    json_t *kwargs;
} tref;

static clrnn_status parse_tref(json_t *v, const char *where, tref *r) {
    memset(r, 0, sizeof *r);
    if (json_is_object(v)) { /* Keras 3: {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}} */
        json_t *c = json_object_get(v, "config");
        v = c ? json_object_get(c, "keras_history") : NULL;
        if (!v) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: a tensor without keras_history", where);
    }
    if (!json_is_array(v) || json_array_size(v) < 3 || json_array_size(v) > 4 || !json_is_string(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)) || !json_is_integer(json_array_get(v, 2)))
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: a tensor reference must be [layer name, node index, tensor index]", where);
    r->layer = json_string_value(json_array_get(v, 0));
    r->node = json_integer_value(json_array_get(v, 1));
    r->tensor = json_integer_value(json_array_get(v, 2));
    if (json_array_size(v) == 4) r->kwargs = json_array_get(v, 3);
    if (r->node < 0 || r->node >= MAX_LAYERS || r->tensor < 0 || r->tensor >= 8)
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: tensor reference ['%s', %lld, %lld] out of range", where, r->layer,
                          (long long)r->node, (long long)r->tensor);
    return CLRNN_OK;
}

static klayer *find_layer(kb *b, const char *name) {
    for (int i = 0; i < b->n_layers; ++i)
        if (!strcmp(b->layers[i].name, name)) return &b->layers[i];
    return NULL;
}

/* The tensor a reference names, if its layer node was translated already; NULL otherwise. */
static const kt *resolve(kb *b, const tref *r, clrnn_status *st, const char *where) {
    *st = CLRNN_OK;
    klayer *src = find_layer(b, r->layer);
    if (!src) {
        *st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: refers to an unknown layer '%s'", where, r->layer);
        return NULL;
    }
    if (r->node >= src->n_nodes) {
        *st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: layer '%s' has no call node %lld", where, r->layer, (long long)r->node);
        return NULL;
    }
    if (src->n_outs[r->node] < 0) return NULL; /* not yet */
    if (r->tensor >= src->n_outs[r->node]) {
        *st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: layer '%s' has no output %lld", where, r->layer, (long long)r->tensor);
        return NULL;
    }
    return &src->outs[r->node * 8 + r->tensor];
}

/* resolve() of refs[0..n) into out: 1 when all are computed, 0 when one is not yet (or *st failed). */
static int resolve_all(kb *b, const tref *refs, int n, const kt **out, clrnn_status *st, const char *where) {
    *st = CLRNN_OK;
    for (int i = 0; i < n; ++i)
        if (!(out[i] = resolve(b, &refs[i], st, where))) return 0;
    return 1;
}

/* One call of a layer: its tensor input, a scalar second argument (Keras 3's recorded ops), and
 * the mask passed explicitly (Keras 3 records the mask it propagated as the call's mask). */
typedef struct kcall {
    tref in;
    tref more[15]; /* the other inputs of a merge layer (Add, Concatenate); Keras 2: a recurrent
                      layer's initial states */
    int n_more;
    json_t *scalar;
    int has_mask;
    tref mask;
    tref init[4]; /* Keras 3: a recurrent layer's initial_state */
    int n_init;
} kcall;

/* The kwargs of a call: training is harmless, mask is null or a tensor; nothing else. */
static clrnn_status check_kwargs(const klayer *l, json_t *kw, const char *where, kcall *c) {
    if (!kw || json_is_null(kw)) return CLRNN_OK;
    if (!json_is_object(kw)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "inbound_nodes", "call kwargs must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(kw, key, v) {
        if (!strcmp(key, "training")) continue;
        if (!strcmp(key, "mask") && json_is_null(v)) continue;
        if (!strcmp(key, "initial_state") && json_is_null(v)) continue;
        if (!strcmp(key, "initial_state") && json_is_array(v)) {
            const size_t n = json_array_size(v);
            if (n < 1 || n > 4)
                return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "initial_state with %zu tensors (1 to 4)", n);
            for (size_t i = 0; i < n; ++i) {
                clrnn_status st = parse_tref(json_array_get(v, i), where, &c->init[i]);
                if (st != CLRNN_OK) return st;
            }
            c->n_init = (int)n;
            continue;
        }
        if (!strcmp(key, "mask") && json_is_object(v)) {
            c->has_mask = 1;
            clrnn_status st = parse_tref(v, where, &c->mask);
            if (st != CLRNN_OK) return st;
            continue;
        }
        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "call argument '%s' (clrnn calls layers on one input, "
                     "with the mask Keras propagates, and recurrent layers with an initial_state)", key);
    }
    return CLRNN_OK;
}

static clrnn_status node_call(const klayer *l, json_t *node, kcall *c) {
    char where[MAX_NAME + 64];
    snprintf(where, sizeof where, "layer '%s'", l->name);
    memset(c, 0, sizeof *c);
    clrnn_status st;
    if (json_is_object(node)) { /* Keras 3: {"args": [...], "kwargs": {...}} */
        json_t *args = json_object_get(node, "args"), *kw = json_object_get(node, "kwargs");
        if (!args || !json_is_array(args)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "inbound_nodes", "a node without args");
        const size_t na = json_array_size(args);
        if (na < 1 || na > 2 || (na == 2 && !json_is_number(json_array_get(args, 1)) && !json_is_object(json_array_get(args, 1))))
            return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a call with %zu positional arguments", na);
        json_t *a = json_array_get(args, 0);
        if (json_is_array(a) && json_array_size(a) > 0 && !json_is_string(json_array_get(a, 0))) {
            /* a list of tensors: a merge layer's inputs */
            const size_t nt = json_array_size(a);
            if (nt > 16) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a layer called on %zu tensors", nt);
            for (size_t i = 0; i < nt; ++i)
                if ((st = parse_tref(json_array_get(a, i), where, i ? &c->more[i - 1] : &c->in)) != CLRNN_OK) return st;
            c->n_more = (int)nt - 1;
            if (na == 2) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a call with 2 positional arguments");
            return check_kwargs(l, kw, where, c);
        }
        if ((st = parse_tref(a, where, &c->in)) != CLRNN_OK) return st;
        json_t *a2 = na == 2 ? json_array_get(args, 1) : NULL;
        if (a2 && json_is_object(a2)) { /* a second tensor: Keras 3's recorded logical_or / logical_and */
            if ((st = parse_tref(a2, where, &c->more[0])) != CLRNN_OK) return st;
            c->n_more = 1;
        } else if (a2) {
            c->scalar = a2;
        }
        return check_kwargs(l, kw, where, c);
    }
    if (!json_is_array(node)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "inbound_nodes", "a node must be a list or an object");
    const size_t nt = json_array_size(node);
    if (nt < 1 || nt > 16) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a layer called on %zu tensors", nt);
    for (size_t i = 0; i < nt; ++i) {
        tref *r = i ? &c->more[i - 1] : &c->in;
        if ((st = parse_tref(json_array_get(node, i), where, r)) != CLRNN_OK) return st;
        if ((st = check_kwargs(l, r->kwargs, where, c)) != CLRNN_OK) return st;
    }
    c->n_more = (int)nt - 1;
    return CLRNN_OK;
}

/* input_layers / output_layers: one [name, node, tensor] or a list of them. */
static clrnn_status io_refs(json_t *v, const char *key, tref *refs, int *n) {
    *n = 0;
    if (!v || !json_is_array(v)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model config has no '%s' list", key);
    if (json_array_size(v) > 0 && json_is_string(json_array_get(v, 0))) {
        *n = 1;
        return parse_tref(v, key, &refs[0]);
    }
    if (json_array_size(v) > 64) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "%s lists %zu tensors (at most 64)", key, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); ++i) {
        clrnn_status st = parse_tref(json_array_get(v, i), key, &refs[i]);
        if (st != CLRNN_OK) return st;
        ++*n;
    }
    if (*n == 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "'%s' is empty", key);
    return CLRNN_OK;
}

static clrnn_status functional(kb *b, json_t *mcfg) {
    clrnn_status st = read_layers(b, json_object_get(mcfg, "layers"), 1);
    if (st != CLRNN_OK) return st;
    if (!b->legacy_h5) weight_paths(b, "layers");
    for (int i = 0; i < b->n_layers; ++i) {
        klayer *l = &b->layers[i];
        json_t *nodes = json_object_get(l->entry, "inbound_nodes");
        if (!nodes || !json_is_array(nodes)) return lfail(l, CLRNN_ERR_CORRUPT_FILE, "inbound_nodes", "must be a list");
        const int is_input = !strcmp(l->cls, "InputLayer");
        const size_t nn = is_input ? 1 : json_array_size(nodes);
        if (nn > 64) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "called %zu times (at most 64)", nn);
        l->n_nodes = (int)nn;
        l->outs = amalloc(&b->a, (nn * 8 + 1) * sizeof *l->outs);
        l->n_outs = amalloc(&b->a, (nn + 1) * sizeof *l->n_outs);
        if (!l->outs || !l->n_outs) return OOM();
        for (size_t k = 0; k < nn; ++k) l->n_outs[k] = -1;
        if (is_input) {
            if ((st = input_from_config(b, l, &l->outs[0])) != CLRNN_OK) return st;
            l->n_outs[0] = 1;
            l->done_nodes = 1;
        }
    }
    /* translate every call once its input exists (the config lists layers in a topological order,
     * but a shared layer's later calls may come after layers that follow it) */
    for (int progress = 1; progress;) {
        progress = 0;
        for (int i = 0; i < b->n_layers; ++i) {
            klayer *l = &b->layers[i];
            for (int k = 0; k < l->n_nodes; ++k) {
                if (l->n_outs[k] >= 0) continue;
                kcall c;
                if ((st = node_call(l, json_array_get(json_object_get(l->entry, "inbound_nodes"), (size_t)k), &c)) != CLRNN_OK)
                    return st;
                char where[MAX_NAME + 64];
                snprintf(where, sizeof where, "layer '%s'", l->name);
                const kt *x = resolve(b, &c.in, &st, where);
                if (st != CLRNN_OK) return st;
                if (!x) continue;
                /* Keras 2 lists a recurrent layer's initial states after its input */
                if (c.n_more && is_recurrent(l->cls)) {
                    if (c.n_init || c.n_more > 4)
                        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a recurrent layer called on %d tensors",
                                     1 + c.n_more);
                    memcpy(c.init, c.more, (size_t)c.n_more * sizeof *c.more);
                    c.n_init = c.n_more;
                    c.n_more = 0;
                }
                if (c.n_more || !strcmp(l->cls, "Add") || !strcmp(l->cls, "Concatenate")) {
                    const kt *xs[16] = {x};
                    const int ready = resolve_all(b, c.more, c.n_more, xs + 1, &st, where);
                    if (st != CLRNN_OK) return st;
                    if (!ready) continue;
                    if (c.has_mask) return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a mask passed to a merge layer");
                    if ((st = merge(b, l, xs, 1 + c.n_more, &l->outs[k * 8])) != CLRNN_OK) return st;
                    l->n_outs[k] = 1;
                    progress = 1;
                    continue;
                }
                kt xm = *x;
                if (c.has_mask) { /* the mask Keras 3 recorded replaces the one propagated */
                    const kt *mk = resolve(b, &c.mask, &st, where);
                    if (st != CLRNN_OK) return st;
                    if (!mk) continue;
                    if (!mk->is_bool || mk->ndim != 2)
                        return lfail(l, CLRNN_ERR_UNSUPPORTED, "inbound_nodes", "a mask that is not a bool [batch, timesteps] tensor");
                    xm.mask = mk->value;
                } else if (b->major >= 3 && c.n_init) {
                    /* Keras 3 fills in a call's mask from its input only when that input is the
                     * call's one tensor argument: with an initial_state the layer runs unmasked */
                    xm.mask = NULL;
                }
                const kt *init[4];
                const int ready = resolve_all(b, c.init, c.n_init, init, &st, where);
                if (st != CLRNN_OK) return st;
                if (!ready) continue;
                int n;
                if ((st = apply(b, l, &xm, init, c.n_init, c.scalar, 1, &l->outs[k * 8], &n)) != CLRNN_OK) return st;
                l->n_outs[k] = n;
                progress = 1;
            }
        }
    }
    for (int i = 0; i < b->n_layers; ++i)
        for (int k = 0; k < b->layers[i].n_nodes; ++k)
            if (b->layers[i].n_outs[k] < 0)
                return lfail(&b->layers[i], CLRNN_ERR_CORRUPT_FILE, "inbound_nodes", "its input is never computed (a cycle "
                             "or a reference to a missing call)");
    tref refs[64];
    int n;
    if ((st = io_refs(json_object_get(mcfg, "input_layers"), "input_layers", refs, &n)) != CLRNN_OK) return st;
    for (int i = 0; i < n; ++i) {
        klayer *l = find_layer(b, refs[i].layer);
        if (!l || strcmp(l->cls, "InputLayer") != 0 || refs[i].node != 0 || refs[i].tensor != 0)
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "input_layers: '%s' is not an InputLayer", refs[i].layer);
    }
    if ((int)b->inputs.n != n)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the model has %zu InputLayers but %d model inputs", b->inputs.n, n);
    /* the graph inputs in the model's order */
    for (int i = 0; i < n; ++i)
        for (size_t j = (size_t)i; j < b->inputs.n; ++j)
            if (!strcmp(((Onnx__ValueInfoProto *)b->inputs.v[j])->name, refs[i].layer)) {
                void *t = b->inputs.v[i];
                b->inputs.v[i] = b->inputs.v[j];
                b->inputs.v[j] = t;
            }
    if ((st = io_refs(json_object_get(mcfg, "output_layers"), "output_layers", refs, &n)) != CLRNN_OK) return st;
    /* Keras 3's output_names are the layer names, repeats and all: then each gets its position */
    int repeats = 0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < i; ++j) repeats |= !strcmp(refs[i].layer, refs[j].layer);
    for (int i = 0; i < n; ++i) {
        const kt *t = resolve(b, &refs[i], &st, "output_layers");
        if (st != CLRNN_OK) return st;
        if (!t) return clrnn_fail(CLRNN_ERR_INTERNAL, "output '%s' not computed", refs[i].layer);
        char name[MAX_NAME + 16];
        if (repeats && b->major >= 3) snprintf(name, sizeof name, "%s_%d", refs[i].layer, i);
        else snprintf(name, sizeof name, "%s", refs[i].layer);
        if ((st = add_output(b, name, t)) != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------------------------- */
/* Deepest nesting of JSON arrays and objects clrnn parses. jansson recurses once per level (its
 * own limit is 2048, more stack than a thread of 256 KiB has); real configs reach about 12 (a
 * Bidirectional layer of a Functional model with a dtype policy). */
#define MAX_JSON_DEPTH 96

static clrnn_status parse_json(const void *data, size_t size, const char *what, json_t **out) {
    *out = NULL;
    const unsigned char *p = data;
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < size; ++i) {
        const unsigned char c = p[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > MAX_JSON_DEPTH)
                return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "%s nests arrays and objects more than %d levels deep", what,
                                  MAX_JSON_DEPTH);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    json_error_t err;
    *out = json_loadb(data, size, JSON_REJECT_DUPLICATES, &err);
    if (!*out) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s is not valid JSON: %s (line %d, column %d)", what, err.text,
                                 err.line, err.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s is not a JSON object", what);
    }
    return CLRNN_OK;
}

/* Major version from "3.15.1" / "2.15.0"; 0 when unknown. */
static int major_of(const char *v) {
    return v && v[0] >= '1' && v[0] <= '9' && (v[1] == '.' || v[1] == '\0') ? v[0] - '0' : 0;
}

/* The model config (the top-level object: class_name + config) → graph. */
static clrnn_status translate(kb *b, json_t *root) {
    json_t *cn = json_object_get(root, "class_name"), *cfg = json_object_get(root, "config");
    if (!cn || !json_is_string(cn)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model config has no class_name string");
    if (!cfg || !json_is_object(cfg)) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model config has no config object");
    const char *c = json_string_value(cn);
    if (!strcmp(c, "Sequential")) return sequential(b, cfg);
    if (!strcmp(c, "Functional") || !strcmp(c, "Model")) return functional(b, cfg);
    return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "model class '%.64s' (clrnn loads Sequential and Functional models; a "
                      "subclassed model has no config to rebuild it from)", c);
}

/* Zip entry → malloc'ed buffer, its declared size checked against `limit` before anything is
 * inflated (a zip bomb declares what it inflates to, or fails the CRC/size check of libzip). */
static clrnn_status zip_entry(zip_t *z, const char *name, size_t limit, clrnn_status too_big, int required,
                              unsigned char **out, size_t *size) {
    *out = NULL;
    *size = 0;
    zip_stat_t zs;
    zip_stat_init(&zs);
    const zip_int64_t idx = zip_name_locate(z, name, 0);
    if (idx < 0) return required ? clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the .keras archive has no %s", name) : CLRNN_ERR_NOT_FOUND;
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the .keras archive entry %s cannot be read: %s", name, zip_strerror(z));
    if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the .keras archive entry %s is encrypted", name);
    if (zs.size > limit)
        return clrnn_fail(too_big, "the .keras archive entry %s inflates to %llu bytes (at most %zu%s)", name,
                          (unsigned long long)zs.size, limit,
                          too_big == CLRNN_ERR_OUT_OF_MEMORY ? ": the model's host budget, CLRNN_MODEL_HOST_BUDGET" : "");
    unsigned char *buf = malloc((size_t)zs.size + 1);
    if (!buf) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s (%llu bytes)", name, (unsigned long long)zs.size);
    zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
    if (!f) {
        free(buf);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the .keras archive entry %s cannot be opened: %s", name, zip_strerror(z));
    }
    size_t got = 0;
    for (;;) {
        const zip_int64_t r = zip_fread(f, buf + got, (size_t)zs.size + 1 - got);
        if (r < 0) {
            const char *e = zip_file_strerror(f);
            char msg[256];
            snprintf(msg, sizeof msg, "%s", e ? e : "?");
            zip_fclose(f);
            free(buf);
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the .keras archive entry %s is damaged: %s", name, msg);
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got > (size_t)zs.size) break;
    }
    zip_fclose(f);
    if (got != (size_t)zs.size) {
        free(buf);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the .keras archive entry %s holds %zu%s bytes, its header says %llu", name,
                          got, got > (size_t)zs.size ? " or more" : "", (unsigned long long)zs.size);
    }
    buf[got] = '\0';
    *out = buf;
    *size = got;
    return CLRNN_OK;
}

static clrnn_status h5_open_image(const void *data, size_t size, const char *what, hid_t *out) {
    *out = -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return clrnn_fail(CLRNN_ERR_INTERNAL, "H5Pcreate failed");
    /* the core driver over a copy of the image, no backing store: nothing touches the disk */
    if (H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 || H5Pset_file_image(fapl, (void *)data, size) < 0) {
        H5Pclose(fapl);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "HDF5 file image of %zu bytes", size);
    }
    hid_t f = H5Fopen("clrnn-keras-weights.h5", H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s is not a readable HDF5 file (%zu bytes)", what, size);
    *out = f;
    return CLRNN_OK;
}

/* Everything under the HDF5 lock: builds the proto and the model. */
static clrnn_status load_locked(clrnn_context *ctx, kb *b, json_t *root, clrnn_model **out) {
    clrnn_status st = translate(b, root);
    if (st != CLRNN_OK) return st;
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    onnx__model_proto__init(&mp);
    onnx__graph_proto__init(&g);
    onnx__operator_set_id_proto__init(&op);
    op.domain = "";
    op.has_version = 1;
    op.version = 17;
    mp.opset_import = ops;
    mp.n_opset_import = 1;
    mp.producer_name = "keras";
    mp.producer_version = b->version;
    mp.graph = &g;
    g.name = "keras";
    g.node = (Onnx__NodeProto **)b->nodes.v;
    g.n_node = b->nodes.n;
    g.initializer = (Onnx__TensorProto **)b->inits.v;
    g.n_initializer = b->inits.n;
    g.input = (Onnx__ValueInfoProto **)b->inputs.v;
    g.n_input = b->inputs.n;
    g.output = (Onnx__ValueInfoProto **)b->outputs.v;
    g.n_output = b->outputs.n;
    return clrnn_ox_load_proto(ctx, &mp, 1, out);
}

static clrnn_status load_keras_archive(clrnn_context *ctx, kb *b, const void *data, size_t size, clrnn_model **out) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "not a readable .keras archive (zip): %s", msg);
    }
    zip_error_fini(&ze);
    unsigned char *cfg = NULL, *meta = NULL, *weights = NULL;
    size_t cfg_n, meta_n, w_n;
    json_t *root = NULL, *mj = NULL;
    clrnn_status st = zip_entry(z, "config.json", MAX_JSON_BYTES, CLRNN_ERR_UNSUPPORTED, 1, &cfg, &cfg_n);
    if (st == CLRNN_OK) {
        st = zip_entry(z, "metadata.json", MAX_META_BYTES, CLRNN_ERR_UNSUPPORTED, 0, &meta, &meta_n);
        if (st == CLRNN_ERR_NOT_FOUND) st = CLRNN_OK;
    }
    if (st == CLRNN_OK && zip_name_locate(z, "model.weights.json", 0) >= 0)
        st = clrnn_fail(CLRNN_ERR_UNSUPPORTED, "sharded weights (model.weights.json) are not supported");
    if (st == CLRNN_OK) st = zip_entry(z, "model.weights.h5", b->budget, CLRNN_ERR_OUT_OF_MEMORY, 1, &weights, &w_n);
    zip_close(z);
    if (st == CLRNN_OK) st = parse_json(cfg, cfg_n, "config.json", &root);
    if (st == CLRNN_OK && meta) {
        st = parse_json(meta, meta_n, "metadata.json", &mj);
        json_t *v = st == CLRNN_OK ? json_object_get(mj, "keras_version") : NULL;
        if (v && json_is_string(v)) snprintf(b->version, sizeof b->version, "%s", json_string_value(v));
        else if (v) st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "metadata.json: keras_version must be a string");
    }
    free(cfg);
    free(meta);
    if (st == CLRNN_OK) {
        b->major = major_of(b->version);
        if (!b->major) b->major = 3;
        mtx_lock(&h5_lock);
        H5E_auto2_t func;
        void *cd;
        H5Eget_auto2(H5E_DEFAULT, &func, &cd);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        st = h5_open_image(weights, w_n, "model.weights.h5", &b->h5);
        free(weights);
        weights = NULL;
        if (st == CLRNN_OK) {
            b->wroot = b->h5;
            /* Keras 2.13-2.15 name the layers' container _layer_checkpoint_dependencies */
            if (!h5_exists(b->h5, "layers") && h5_exists(b->h5, "_layer_checkpoint_dependencies")) {
                st = clrnn_fail(CLRNN_ERR_UNSUPPORTED, "weights stored under _layer_checkpoint_dependencies (Keras 2.13) "
                                "are not supported");
            }
        }
        if (st == CLRNN_OK) st = load_locked(ctx, b, root, out);
        if (b->h5 >= 0) H5Fclose(b->h5);
        b->h5 = -1;
        H5Eset_auto2(H5E_DEFAULT, func, cd);
        mtx_unlock(&h5_lock);
    }
    free(weights);
    json_decref(root);
    json_decref(mj);
    return st;
}

static clrnn_status load_h5(clrnn_context *ctx, kb *b, const void *data, size_t size, clrnn_model **out) {
    if (size > b->budget)
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "the .h5 file of %zu bytes exceeds the model's host budget of %zu bytes",
                          size, b->budget);
    mtx_lock(&h5_lock);
    H5E_auto2_t func;
    void *cd;
    H5Eget_auto2(H5E_DEFAULT, &func, &cd);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    json_t *root = NULL;
    char *cfg = NULL, *ver = NULL;
    clrnn_status st = h5_open_image(data, size, "the .h5 model", &b->h5);
    if (st == CLRNN_OK) {
        st = h5_attr_string(b->h5, "model_config", MAX_JSON_BYTES, &cfg);
        if (st == CLRNN_ERR_NOT_FOUND)
            st = clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the HDF5 file has no model_config attribute (a weights-only file, "
                            "or not a Keras model)");
    }
    if (st == CLRNN_OK) {
        clrnn_status vs = h5_attr_string(b->h5, "keras_version", 64, &ver);
        if (vs == CLRNN_OK) snprintf(b->version, sizeof b->version, "%s", ver);
        else if (vs != CLRNN_ERR_NOT_FOUND) st = vs;
        b->major = major_of(b->version);
        if (!b->major) b->major = 2;
    }
    if (st == CLRNN_OK) st = parse_json(cfg, strlen(cfg), "model_config", &root);
    if (st == CLRNN_OK) {
        if (!h5_exists(b->h5, "model_weights")) st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the HDF5 file has no model_weights group");
        else if ((b->wroot = H5Gopen2(b->h5, "model_weights", H5P_DEFAULT)) < 0)
            st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "model_weights is not a group");
    }
    b->legacy_h5 = 1;
    if (st == CLRNN_OK) st = load_locked(ctx, b, root, out);
    if (b->wroot >= 0) H5Gclose(b->wroot);
    if (b->h5 >= 0) H5Fclose(b->h5);
    b->h5 = b->wroot = -1;
    H5Eset_auto2(H5E_DEFAULT, func, cd);
    mtx_unlock(&h5_lock);
    free(cfg);
    free(ver);
    json_decref(root);
    return st;
}

clrnn_status clrnn_keras_load_memory(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_keras_load_memory: out is NULL");
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, "clrnn_keras_load_memory");
    if (st != CLRNN_OK) return st;
    if (!data) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_keras_load_memory: data is NULL");
    call_once(&h5_once, h5_init);
    kb b;
    memset(&b, 0, sizeof b);
    b.h5 = b.wroot = -1;
    if ((st = clrnn_ox_host_budget(&b.budget)) != CLRNN_OK) return st;
    static const unsigned char zip_magic[4] = {'P', 'K', 3, 4};
    static const unsigned char h5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size >= 4 && !memcmp(data, zip_magic, 4)) st = load_keras_archive(ctx, &b, data, size, out);
    else if (size >= 8 && !memcmp(data, h5_magic, 8)) st = load_h5(ctx, &b, data, size, out);
    else st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "neither a .keras archive (zip) nor a Keras .h5 file (HDF5): %zu bytes "
                         "without either signature", size);
    afree(&b.a);
    free(b.nodes.v);
    free(b.inits.v);
    free(b.inputs.v);
    free(b.outputs.v);
    if (st != CLRNN_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        return clrnn_fail(st, "%s", msg);
    }
    return CLRNN_OK;
}

clrnn_status clrnn_keras_load(clrnn_context *ctx, const char *path, clrnn_model **out) {
    return clrnn_ox_load_path(ctx, path, "clrnn_keras_load", "Keras model", clrnn_keras_load_memory, out);
}
