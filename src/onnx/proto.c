/* Protobuf → clrnn: ONNX element types, TensorProto decoding (typed fields or little-endian
 * raw_data; external data and segments are rejected), node attributes with type checks, and the
 * public TensorProto (.pb) reader. */
#include "onnx_internal.h"

#include <stdlib.h>
#include <string.h>

const char *clrnn_ox_type_name(int32_t t) {
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",       "UINT16",
                                        "INT16",     "INT32",  "INT64",     "STRING",     "BOOL",
                                        "FLOAT16",   "DOUBLE", "UINT32",    "UINT64",     "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && t < (int32_t)(sizeof names / sizeof *names)) return names[t];
    return t >= 17 && t <= 20 ? "FLOAT8" : "an unknown type";
}

int clrnn_ox_dtype_from_onnx(int32_t t, clrnn_dtype *dtype, int *is_bool) {
    int b = 0;
    switch (t) {
    case OX_FLOAT: *dtype = CLRNN_DTYPE_FLOAT32; break;
    case OX_INT32: *dtype = CLRNN_DTYPE_INT32; break;
    case OX_INT64: *dtype = CLRNN_DTYPE_INT64; break;
    case OX_UINT8: *dtype = CLRNN_DTYPE_UINT8; break;
    case OX_BOOL:
        *dtype = CLRNN_DTYPE_UINT8;
        b = 1;
        break;
    default: return 0;
    }
    if (is_bool) *is_bool = b;
    return 1;
}

const char *clrnn_ox_dtype_name(clrnn_dtype dt, int is_bool) {
    if (is_bool) return "bool";
    switch (dt) {
    case CLRNN_DTYPE_FLOAT32: return "float32";
    case CLRNN_DTYPE_INT32: return "int32";
    case CLRNN_DTYPE_INT64: return "int64";
    case CLRNN_DTYPE_UINT8: return "uint8";
    default: return "?";
    }
}

#define UNSUPPORTED(...) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, __VA_ARGS__)
#define CORRUPT(...) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, __VA_ARGS__)

clrnn_status clrnn_ox_tensor_decode(const Onnx__TensorProto *t, const char *what, clrnn_array *out, int *is_bool) {
    memset(out, 0, sizeof *out);
    const char *name = t->name && *t->name ? t->name : "";
    if (t->n_external_data > 0 || (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)) {
        const char *loc = "?";
        for (size_t i = 0; i < t->n_external_data; ++i)
            if (t->external_data[i]->key && !strcmp(t->external_data[i]->key, "location") && t->external_data[i]->value)
                loc = t->external_data[i]->value;
        UNSUPPORTED("%s '%s' keeps its data in an external file ('%s'); clrnn reads self-contained models only "
                    "(re-save it with onnx.save_model(model, path, save_as_external_data=False))",
                    what, name, loc);
    }
    if (t->segment) UNSUPPORTED("%s '%s' is a segment of a tensor; segmented tensors are not supported", what, name);
    const int32_t type = t->has_data_type ? t->data_type : OX_UNDEFINED;
    clrnn_dtype dt;
    int b = 0;
    if (!clrnn_ox_dtype_from_onnx(type, &dt, &b))
        UNSUPPORTED("%s '%s' is of type %s; clrnn supports FLOAT, INT32, INT64, UINT8 and BOOL", what, name,
                    clrnn_ox_type_name(type));
    if (t->n_dims > CLRNN_MAX_DIMS) UNSUPPORTED("%s '%s' has %zu dimensions (at most %d)", what, name, t->n_dims, CLRNN_MAX_DIMS);
    size_t count = 1;
    for (size_t i = 0; i < t->n_dims; ++i) {
        if (t->dims[i] < 0) CORRUPT("%s '%s': dimension %zu is %lld", what, name, i, (long long)t->dims[i]);
        if (!clrnn_mul_size(count, (size_t)t->dims[i], &count)) return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s '%s': size overflows", what, name);
        out->shape[i] = t->dims[i];
    }
    out->ndim = (int)t->n_dims;
    out->dtype = dt;
    out->count = count;
    const size_t es = clrnn_dtype_size(dt);
    size_t bytes;
    if (!clrnn_mul_size(count, es, &bytes)) return clrnn_fail(CLRNN_ERR_OVERFLOW, "%s '%s': size overflows", what, name);
    /* Check that the file holds as much data as the shape claims before allocating: a corrupt
     * dimension must not turn into a huge allocation (found by fuzz_onnx). */
    const size_t have = t->has_raw_data                ? t->raw_data.len / (es ? es : 1)
                        : dt == CLRNN_DTYPE_FLOAT32    ? t->n_float_data
                        : dt == CLRNN_DTYPE_INT64      ? t->n_int64_data
                                                       : t->n_int32_data; /* int32, uint8 and bool */
    if (t->has_raw_data ? t->raw_data.len != bytes : have != count)
        CORRUPT("%s '%s': %zu elements of data for shape with %zu elements", what, name, have, count);
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s '%s' (%zu bytes)", what, name, bytes);
    if (t->has_raw_data) {
        if (bytes) memcpy(out->data, t->raw_data.data, bytes);
    } else if (dt == CLRNN_DTYPE_FLOAT32) {
        ox_memcpy(out->data, t->float_data, bytes);
    } else if (dt == CLRNN_DTYPE_INT64) {
        ox_memcpy(out->data, t->int64_data, bytes);
    } else if (dt == CLRNN_DTYPE_INT32) {
        ox_memcpy(out->data, t->int32_data, bytes);
    } else { /* uint8 and bool travel in int32_data, one element each */
        unsigned char *d = out->data;
        for (size_t i = 0; i < count; ++i) d[i] = (unsigned char)(b ? t->int32_data[i] != 0 : t->int32_data[i]);
    }
    if (b) { /* a bool is 0 or 1, whatever byte the writer used */
        unsigned char *d = out->data;
        for (size_t i = 0; i < count; ++i) d[i] = d[i] != 0;
    }
    if (is_bool) *is_bool = b;
    return CLRNN_OK;
}

/* ---------------------------------------------------------------------------------------- */

const Onnx__AttributeProto *clrnn_ox_attr(const Onnx__NodeProto *p, const char *name) {
    for (size_t i = 0; i < p->n_attribute; ++i)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name)) return p->attribute[i];
    return NULL;
}

static const char *attr_type_name(Onnx__AttributeProto__AttributeType t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    default: return "another type";
    }
}

/* The attribute's type: the declared one, or (old writers) the one its set field implies. */
static Onnx__AttributeProto__AttributeType attr_type(const Onnx__AttributeProto *a) {
    if (a->has_type) return a->type;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static clrnn_status want_type(const ox_node *n, const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t) {
    if (attr_type(a) == t) return CLRNN_OK;
    return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute '%s' is %s, expected %s", a->name,
                         attr_type_name(attr_type(a)), attr_type_name(t));
}

clrnn_status clrnn_ox_attr_int(const ox_node *n, const Onnx__NodeProto *p, const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    *out = def;
    if (!a) return CLRNN_OK;
    clrnn_status st = want_type(n, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (st == CLRNN_OK) *out = a->i;
    return st;
}

clrnn_status clrnn_ox_attr_float(const ox_node *n, const Onnx__NodeProto *p, const char *name, float def, float *out) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    *out = def;
    if (!a) return CLRNN_OK;
    clrnn_status st = want_type(n, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (st == CLRNN_OK) *out = a->f;
    return st;
}

clrnn_status clrnn_ox_attr_string(const ox_node *n, const Onnx__NodeProto *p, const char *name, const char *def,
                                  char *buf, size_t cap) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    if (!a) {
        snprintf(buf, cap, "%s", def ? def : "");
        return CLRNN_OK;
    }
    clrnn_status st = want_type(n, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (st != CLRNN_OK) return st;
    if (a->s.len >= cap || (a->s.len && memchr(a->s.data, 0, a->s.len)))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute '%s' is not a short string", name);
    ox_memcpy(buf, a->s.data, a->s.len);
    buf[a->s.len] = '\0';
    return CLRNN_OK;
}

clrnn_status clrnn_ox_attr_ints(const ox_node *n, const Onnx__NodeProto *p, const char *name, const int64_t **vals,
                                size_t *count, int *present) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    *vals = NULL;
    *count = 0;
    *present = 0;
    if (!a) return CLRNN_OK;
    clrnn_status st = want_type(n, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (st != CLRNN_OK) return st;
    *vals = a->ints;
    *count = a->n_ints;
    *present = 1;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_attr_floats(const ox_node *n, const Onnx__NodeProto *p, const char *name, const float **vals,
                                  size_t *count, int *present) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    *vals = NULL;
    *count = 0;
    *present = 0;
    if (!a) return CLRNN_OK;
    clrnn_status st = want_type(n, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    if (st != CLRNN_OK) return st;
    *vals = a->floats;
    *count = a->n_floats;
    *present = 1;
    return CLRNN_OK;
}

/* ---------------------------------------------------------------------------------------- */

clrnn_status clrnn_onnx_tensor_load_memory(const void *data, size_t size, clrnn_array *out) {
    clrnn_clear_error();
    if (!data || !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_tensor_load_memory: NULL argument");
    memset(out, 0, sizeof *out);
    /* a TensorProto cannot nest (Segment, StringStringEntryProto), but its framing is checked alike */
    clrnn_status st = clrnn_ox_check_wire(&onnx__tensor_proto__descriptor, data, size, "a serialized onnx.TensorProto", NULL);
    if (st != CLRNN_OK) return st;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, data);
    if (!t) CORRUPT("not a serialized onnx.TensorProto (protobuf decoding failed)");
    st = clrnn_ox_tensor_decode(t, "tensor", out, NULL);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return st;
}

clrnn_status clrnn_onnx_tensor_load(const char *path, clrnn_array *out) {
    clrnn_clear_error();
    if (!path || !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_tensor_load: NULL argument");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    clrnn_status st = clrnn_read_user_file(path, "file", &buf, &size); /* regular files only */
    if (st != CLRNN_OK) return st;
    st = clrnn_onnx_tensor_load_memory(buf, size, out);
    free(buf);
    if (st != CLRNN_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        return clrnn_fail(st, "%s: %s", path, msg);
    }
    return CLRNN_OK;
}
