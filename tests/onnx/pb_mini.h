/* A few lines of protobuf wire format, enough to write hostile ONNX models from C (strings of any
 * bytes, embedded NULs included) for the escaping and file-type tests. Field numbers: onnx.proto. */
#ifndef CLRNN_PB_MINI_H
#define CLRNN_PB_MINI_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb {
    unsigned char *d;
    size_t n, cap;
} pb;

static inline void pb_raw(pb *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
        if (!b->d) abort();
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static inline void pb_varint(pb *b, uint64_t v) {
    unsigned char t[10];
    size_t k = 0;
    do {
        t[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        ++k;
    } while (v);
    pb_raw(b, t, k);
}

static inline void pb_uint(pb *b, int field, uint64_t v) {
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static inline void pb_bytes(pb *b, int field, const void *p, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}

static inline void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

/* Appends sub as a length-delimited field and frees it. */
static inline void pb_msg(pb *b, int field, pb *sub) {
    pb_bytes(b, field, sub->d ? (const void *)sub->d : "", sub->n);
    free(sub->d);
    memset(sub, 0, sizeof *sub);
}

/* A string of given length (may hold NULs). */
typedef struct pb_s {
    const char *p;
    size_t n;
} pb_s;
#define PB_S(lit) ((pb_s){(lit), sizeof(lit) - 1})
#define PB_C(cstr) ((pb_s){(cstr), strlen(cstr)})

/* The string fields of a one-node model: input -> op -> output, float tensors of shape [dim]
 * (with out2_name a second output, Tanh of the input). */
typedef struct pb_model_strings {
    pb_s producer, producer_version, graph_name, graph_doc, node_name, op_type, domain, node_doc, in_name, out_name,
        dim_param, ext_location, init_name, out2_name;
} pb_model_strings;

static inline pb_model_strings pb_model_defaults(void) {
    pb_model_strings s = {PB_S("tester"), PB_S("1.0"), PB_S("g"), PB_S(""), PB_S("n0"), PB_S("Relu"), PB_S(""),
                          PB_S(""), PB_S("X"), PB_S("Y"), PB_S("batch"), {NULL, 0}, {NULL, 0}, {NULL, 0}};
    return s;
}

static inline void pb_value_info(pb *g, int field, pb_s name, pb_s dim_param) {
    pb vi = {0}, type = {0}, tensor = {0}, shape = {0}, dim = {0};
    pb_bytes(&dim, 2, dim_param.p, dim_param.n); /* Dimension.dim_param */
    pb_msg(&shape, 1, &dim);                     /* TensorShapeProto.dim */
    pb_uint(&tensor, 1, 1);                      /* elem_type FLOAT */
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor); /* TypeProto.tensor_type */
    pb_bytes(&vi, 1, name.p, name.n);
    pb_msg(&vi, 2, &type);
    pb_msg(g, field, &vi);
}

/* Serialized ModelProto (opset 14); free() the result. An ext_location adds an initializer whose
 * data is external; an init_name adds a float initializer [1] under that name. */
static inline unsigned char *pb_model(const pb_model_strings *s, size_t *size) {
    pb m = {0}, opset = {0}, g = {0}, node = {0};
    pb_bytes(&node, 1, s->in_name.p, s->in_name.n);
    pb_bytes(&node, 2, s->out_name.p, s->out_name.n);
    pb_bytes(&node, 3, s->node_name.p, s->node_name.n);
    pb_bytes(&node, 4, s->op_type.p, s->op_type.n);
    if (s->node_doc.n) pb_bytes(&node, 6, s->node_doc.p, s->node_doc.n);
    if (s->domain.n) pb_bytes(&node, 7, s->domain.p, s->domain.n);
    pb_msg(&g, 1, &node);
    if (s->out2_name.p) { /* a second output: Tanh of the input */
        pb_bytes(&node, 1, s->in_name.p, s->in_name.n);
        pb_bytes(&node, 2, s->out2_name.p, s->out2_name.n);
        pb_str(&node, 3, "n1");
        pb_str(&node, 4, "Tanh");
        pb_msg(&g, 1, &node);
    }
    pb_bytes(&g, 2, s->graph_name.p, s->graph_name.n);
    if (s->ext_location.p) {
        pb t = {0}, kv = {0};
        pb_uint(&t, 1, 1); /* dims [1] */
        pb_uint(&t, 2, 1); /* FLOAT */
        pb_str(&t, 8, "W");
        pb_str(&kv, 1, "location");
        pb_bytes(&kv, 2, s->ext_location.p, s->ext_location.n);
        pb_msg(&t, 13, &kv);
        pb_uint(&t, 14, 1); /* EXTERNAL */
        pb_msg(&g, 5, &t);
    }
    if (s->init_name.p) {
        pb t = {0};
        const float one = 1.0f;
        pb_uint(&t, 1, 1);
        pb_uint(&t, 2, 1);
        pb_bytes(&t, 8, s->init_name.p, s->init_name.n);
        pb_bytes(&t, 9, &one, sizeof one); /* raw_data */
        pb_msg(&g, 5, &t);
    }
    if (s->graph_doc.n) pb_bytes(&g, 10, s->graph_doc.p, s->graph_doc.n);
    pb_value_info(&g, 11, s->in_name, s->dim_param);
    pb_value_info(&g, 12, s->out_name, s->dim_param);
    if (s->out2_name.p) pb_value_info(&g, 12, s->out2_name, s->dim_param);
    pb_uint(&m, 1, 8); /* ir_version */
    pb_str(&opset, 1, "");
    pb_uint(&opset, 2, 14);
    pb_msg(&m, 8, &opset);
    pb_bytes(&m, 2, s->producer.p, s->producer.n);
    pb_bytes(&m, 3, s->producer_version.p, s->producer_version.n);
    pb_msg(&m, 7, &g);
    *size = m.n;
    return m.d;
}

#endif
