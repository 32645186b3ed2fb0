/* ONNX models: load (protobuf → values and nodes, every node validated by its operator's
 * prepare(), constant nodes folded), describe (inputs, outputs), bind, run, read outputs.
 *
 * Values are named once (SSA): an initializer, a graph input or one node output. Nodes must come
 * in topological order, as the ONNX IR requires; an input that names nothing defined before it is
 * a load error. Folding runs, at load, every node whose inputs are all constant (Constant nodes,
 * shape arithmetic on initializers, weights massaged by Unsqueeze/Concat/...), so a run executes
 * only what depends on the graph inputs. */
#include "onnx_internal.h"

#include "core/launch.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void model_free(clrnn_model *m);

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */
const char *clrnn_ox_detail(void) {
    const char *e = clrnn_last_error();
    const char *p = strstr(e, ": ");
    return (p && !strncmp(e, "CLRNN_", 6)) ? p + 2 : e;
}

clrnn_status clrnn_ox_fail(const ox_node *n, clrnn_status st, const char *fmt, ...) {
    char buf[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!n) return clrnn_fail(st, "%s", buf);
    return clrnn_fail(st, "node %s (%s): %s", n->label, n->op_type, buf);
}

clrnn_status clrnn_ox_wrap(const ox_node *n, clrnn_status st) {
    char buf[1800];
    snprintf(buf, sizeof buf, "%s", clrnn_ox_detail());
    if (!n || !strncmp(buf, "node ", 5)) return clrnn_fail(st, "%s", buf);
    return clrnn_fail(st, "node %s (%s): %s", n->label, n->op_type, buf);
}

/* ------------------------------------------------------------------------------------------
 * Values by name
 * ---------------------------------------------------------------------------------------- */
static uint64_t name_hash(const char *s) { return clrnn_hash64(CLRNN_HASH_SEED, s, strlen(s)); }

static int names_find(const ox_names *t, const ox_value *values, const char *name) {
    if (!t->cap) return -1;
    for (size_t i = name_hash(name) & (size_t)(t->cap - 1);; i = (i + 1) & (size_t)(t->cap - 1)) {
        const int v = t->slot[i];
        if (v < 0) return -1;
        if (!strcmp(values[v].name, name)) return v;
    }
}

static clrnn_status names_insert(ox_names *t, const ox_value *values, int v) {
    if (2 * (t->n + 1) > t->cap) { /* grow: rehash the entries of the old table */
        const int cap = t->cap ? 2 * t->cap : 128;
        int *h = malloc((size_t)cap * sizeof *h);
        if (!h) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "value table");
        for (int i = 0; i < cap; ++i) h[i] = -1;
        for (int k = 0; k < t->cap; ++k) {
            if (t->slot[k] < 0) continue;
            size_t i = name_hash(values[t->slot[k]].name) & (size_t)(cap - 1);
            while (h[i] >= 0) i = (i + 1) & (size_t)(cap - 1);
            h[i] = t->slot[k];
        }
        free(t->slot);
        t->slot = h;
        t->cap = cap;
    }
    size_t i = name_hash(values[v].name) & (size_t)(t->cap - 1);
    while (t->slot[i] >= 0) i = (i + 1) & (size_t)(t->cap - 1);
    t->slot[i] = v;
    t->n++;
    return CLRNN_OK;
}

/* The names of the scope being built. */
static ox_names *own_names(clrnn_model *m) { return m->scope ? &m->scope->names : &m->names; }
static int find_own(clrnn_model *m, const char *name) { return names_find(own_names(m), m->values, name); }

/* A name as a node of the current scope sees it: its own scope first, then the enclosing ones.
 * A non-constant value of an enclosing scope marks every body in between as reading it (their
 * owners must not be folded). */
static int find_value(clrnn_model *m, const char *name) {
    for (ox_graph *g = m->scope; g; g = g->parent) {
        const int v = names_find(&g->names, m->values, name);
        if (v < 0) continue;
        for (ox_graph *h = m->scope; h != g; h = h->parent)
            if (!m->values[v].is_const) h->reads_outer = 1;
        return v;
    }
    const int v = names_find(&m->names, m->values, name);
    if (v >= 0 && !m->values[v].is_const)
        for (ox_graph *h = m->scope; h; h = h->parent) h->reads_outer = 1;
    return v;
}

int clrnn_ox_find_value(clrnn_model *m, const char *name) { return find_value(m, name); }

/* Appends a value (no name table entry); its index in *out. */
static clrnn_status new_value(clrnn_model *m, const char *name, int *out) {
    if (m->n_values == m->cap_values) {
        if (m->cap_values > INT32_MAX / 4) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "too many values");
        const int cap = m->cap_values ? 2 * m->cap_values : 64;
        ox_value *v = realloc(m->values, (size_t)cap * sizeof *v);
        if (!v) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "value table");
        m->values = v;
        m->cap_values = cap;
    }
    ox_value *v = &m->values[m->n_values];
    memset(v, 0, sizeof *v);
    if (!(v->name = malloc(strlen(name) + 1))) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "value name");
    strcpy(v->name, name);
    v->depth = m->scope ? m->scope->depth : 0;
    *out = m->n_values++;
    return CLRNN_OK;
}

/* Adds a value named `name` (must be new in the current scope); its index in *out. */
static clrnn_status add_value(clrnn_model *m, const char *name, int *out) {
    clrnn_status st = new_value(m, name, out);
    return st == CLRNN_OK ? names_insert(own_names(m), m->values, *out) : st;
}

clrnn_status clrnn_ox_add_hidden_value(clrnn_model *m, const char *name, clrnn_dtype dtype, int is_bool, int *out) {
    clrnn_status st = new_value(m, name, out);
    if (st == CLRNN_OK) {
        m->values[*out].dtype = dtype;
        m->values[*out].is_bool = is_bool;
    }
    return st;
}

static char *keep_string(clrnn_model *m, const char *s) {
    char **list = realloc(m->strings, (size_t)(m->n_strings + 1) * sizeof *list);
    if (!list) return NULL;
    m->strings = list;
    char *c = malloc(strlen(s) + 1);
    if (!c) return NULL;
    strcpy(c, s);
    m->strings[m->n_strings++] = c;
    return c;
}

/* ------------------------------------------------------------------------------------------
 * Load
 * ---------------------------------------------------------------------------------------- */
/* Declared type and shape of a graph input or output. */
static clrnn_status io_info(clrnn_model *m, const Onnx__ValueInfoProto *vi, const char *kind, clrnn_model_tensor_info *info,
                            int *has_type, int *is_bool) {
    memset(info, 0, sizeof *info);
    info->ndim = -1;
    *has_type = 0;
    *is_bool = 0;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp) return CLRNN_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph %s '%s' is not a tensor (sequence, map, optional and sparse "
                          "values are not supported)", kind, vi->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != OX_UNDEFINED) {
        if (!clrnn_ox_dtype_from_onnx(tt->elem_type, &info->dtype, is_bool))
            return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph %s '%s' is of type %s; clrnn supports FLOAT, INT32, INT64, "
                              "UINT8 and BOOL", kind, vi->name, clrnn_ox_type_name(tt->elem_type));
        *has_type = 1;
    }
    if (tt->shape) {
        if (tt->shape->n_dim > CLRNN_MAX_DIMS)
            return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph %s '%s' has rank %zu (at most %d)", kind, vi->name,
                              tt->shape->n_dim, CLRNN_MAX_DIMS);
        info->ndim = (int)tt->shape->n_dim;
        for (int i = 0; i < info->ndim; ++i) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            info->shape[i] = -1;
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
                info->shape[i] = d->dim_value;
            else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param && *d->dim_param)
                if (!(info->dim_names[i] = keep_string(m, d->dim_param)))
                    return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "dimension name");
        }
    }
    return CLRNN_OK;
}

static clrnn_status add_initializer(clrnn_model *m, const Onnx__TensorProto *t) {
    if (!t->name || !*t->name) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "an initializer has no name");
    if (find_own(m, t->name) >= 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "initializer '%s' is defined twice", t->name);
    clrnn_array a;
    int is_bool;
    clrnn_status st = clrnn_ox_tensor_decode(t, "initializer", &a, &is_bool);
    if (st != CLRNN_OK) return st;
    int vi;
    if ((st = add_value(m, t->name, &vi)) != CLRNN_OK) {
        clrnn_array_free(&a);
        return st;
    }
    ox_value *v = &m->values[vi];
    if ((st = clrnn_ox_adopt_host(m, v, a.data, a.count * clrnn_dtype_size(a.dtype))) != CLRNN_OK) {
        clrnn_array_free(&a);
        return st;
    }
    v->dtype = a.dtype;
    v->is_bool = is_bool;
    v->ndim = a.ndim;
    memcpy(v->shape, a.shape, sizeof v->shape);
    v->count = a.count;
    v->on_host = v->has_data = v->is_const = 1;
    return CLRNN_OK;
}

static void make_label(const Onnx__NodeProto *p, int index, char *buf, size_t cap) {
    if (p->name && *p->name)
        snprintf(buf, cap, "'%s'", p->name);
    else if (p->n_output > 0 && p->output[0] && *p->output[0])
        snprintf(buf, cap, "#%d (output '%s')", index, p->output[0]);
    else
        snprintf(buf, cap, "#%d", index);
}

static int is_default_domain(const char *d) { return !d || !*d || !strcmp(d, "ai.onnx"); }

/* Kept out of add_node's frame: add_node recurses through Loop/Scan/If bodies. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static clrnn_status unknown_op(const ox_node *n, const char *op_type) {
    char ops[1400];
    return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "operator %s is not supported; clrnn runs %s", op_type,
                         clrnn_ox_supported_ops(ops, sizeof ops));
}

/* Builds node p into nodes[*count] (then counted: the owner frees it even on failure). */
static clrnn_status add_node(clrnn_model *m, ox_node *nodes, int *count, const Onnx__NodeProto *p, int index) {
    ox_node *n = &nodes[*count];
    memset(n, 0, sizeof *n);
    n->index = index;
    char label[512];
    make_label(p, index, label, sizeof label);
    const char *op_type = p->op_type ? p->op_type : "";
    n->label = malloc(strlen(label) + 1);
    n->op_type = malloc(strlen(op_type) + 1);
    if (!n->label || !n->op_type) {
        free(n->label), free(n->op_type);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "node");
    }
    strcpy(n->label, label);
    strcpy(n->op_type, op_type);
    ++*count; /* owned from here: destroy frees it */

    /* the Keras loader's own operators exist only in the graphs it builds, never in a file */
    const int keras_op = m->keras && p->domain && !strcmp(p->domain, CLRNN_KERAS_DOMAIN);
    if (!is_default_domain(p->domain) && !keras_op)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "operator domain '%s' is not supported (only the default ONNX "
                             "domain is)", p->domain);
    /* a Loop that is an RNN cell runs on the fused engine (fuse_loop.c) */
    if (!keras_op) {
        clrnn_status st = clrnn_ox_fuse_loop(m, n, p, &n->op);
        if (st != CLRNN_OK) return st;
    }
    if (!n->op)
#ifdef CLRNN_HAVE_KERAS
        n->op = keras_op ? clrnn_keras_find_op(op_type) : clrnn_ox_find_op(op_type);
#else
        n->op = keras_op ? NULL : clrnn_ox_find_op(op_type); /* built without the keras module */
#endif
    if (!n->op) return unknown_op(n, op_type);
    const ox_op *op = n->op;
    if ((int)p->n_input < op->min_in || (int)p->n_input > op->max_in)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu inputs, %s takes %d to %d", p->n_input, op_type,
                             op->min_in, op->max_in);
    if ((int)p->n_output < op->min_out || (int)p->n_output > op->max_out)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "%zu outputs, %s has %d to %d", p->n_output, op_type,
                             op->min_out, op->max_out);
    for (size_t i = 0; i < p->n_attribute; ++i) {
        const Onnx__AttributeProto *a = p->attribute[i];
        int known = 0;
        for (const char *const *k = op->attrs; k && *k && a->name; ++k) known |= !strcmp(*k, a->name);
        if (!known)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute '%s' is not supported for %s",
                                 a->name ? a->name : "", op_type);
        if (a->ref_attr_name && *a->ref_attr_name)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "attribute '%s' refers to a function attribute", a->name);
    }
    n->n_in = (int)p->n_input;
    n->n_out = (int)p->n_output;
    n->in = malloc(((size_t)n->n_in + 1) * sizeof *n->in);
    n->out = malloc(((size_t)n->n_out + 1) * sizeof *n->out);
    if (!n->in || !n->out) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "node");
    for (int i = 0; i < n->n_in; ++i) {
        const char *name = p->input[i];
        n->in[i] = -1;
        if (!name || !*name) continue;
        if ((n->in[i] = find_value(m, name)) < 0)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input '%s' is not an initializer, a graph input or the "
                                 "output of an earlier node (nodes must be in topological order)", name);
    }
    for (int i = 0; i < n->n_out; ++i) {
        const char *name = p->output[i];
        n->out[i] = -1;
        if (!name || !*name) continue;
        if (find_own(m, name) >= 0)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "output '%s' is already defined (a value has one producer)",
                                 name);
        clrnn_status st = add_value(m, name, &n->out[i]);
        if (st != CLRNN_OK) return st;
    }
    /* ONNX optional inputs/outputs may be given as "", but only after the required ones: every
     * prepare/run may rely on the first min_in inputs and min_out outputs (found by fuzz_onnx). */
    for (int i = 0; i < op->min_in && i < n->n_in; ++i)
        if (n->in[i] < 0) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "required input %d has an empty name", i);
    for (int i = 0; i < op->min_out && i < n->n_out; ++i)
        if (n->out[i] < 0) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "required output %d has an empty name", i);
    clrnn_status st = op->prepare(m, n, p);
    if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);

    /* fold: every present input constant, and no subgraph reading a non-constant outer value */
    int all_const = !n->reads_outer;
    for (int i = 0; i < n->n_in; ++i)
        if (n->in[i] >= 0 && !m->values[n->in[i]].is_const) all_const = 0;
    if (all_const) {
        if ((st = op->run(m, n)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
        for (int i = 0; i < n->n_out; ++i)
            if (n->out[i] >= 0) {
                ox_value *v = &m->values[n->out[i]];
                if (!v->has_data) return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "output %d not computed", i);
                v->is_const = 1;
            }
        n->folded = 1;
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Subgraphs (Loop / Scan bodies, If branches)
 * ---------------------------------------------------------------------------------------- */
static void node_free(ox_node *n) {
    if (n->op && n->op->release)
        n->op->release(n);
    else
        free(n->state);
    free(n->label);
    free(n->op_type);
    free(n->in);
    free(n->out);
}

void clrnn_ox_graph_free(ox_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; ++i) node_free(&g->nodes[i]);
    free(g->nodes);
    free(g->names.slot);
    free(g->inputs);
    free(g->outputs);
    free(g->out_ndim);
    free(g->out_shape);
    free(g);
}

/* The body's part of clrnn_ox_graph_build, in the body's scope (m->scope = g). */
static clrnn_status build_body(clrnn_model *m, ox_graph *g, const Onnx__GraphProto *gp, int n_in, const int *in_type,
                               const int *in_bool) {
    clrnn_status st;
    if (gp->n_sparse_initializer > 0) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "sparse initializers are not supported");
    for (size_t i = 0; i < gp->n_initializer; ++i)
        if ((st = add_initializer(m, gp->initializer[i])) != CLRNN_OK) return st;
    if (gp->n_input != (size_t)n_in)
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the graph has %zu inputs, the operator gives it %d", gp->n_input, n_in);
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    g->out_ndim = calloc(gp->n_output + 1, sizeof *g->out_ndim);
    g->out_shape = calloc(gp->n_output + 1, sizeof *g->out_shape);
    g->nodes = calloc(gp->n_node + 1, sizeof *g->nodes);
    if (!g->inputs || !g->outputs || !g->out_ndim || !g->out_shape || !g->nodes)
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "subgraph");
    for (size_t i = 0; i < gp->n_input; ++i) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph input %zu has no name", i);
        if (find_own(m, vi->name) >= 0)
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph input '%s' is defined twice (or is an initializer too)", vi->name);
        clrnn_model_tensor_info info;
        int has_type, is_bool;
        if ((st = io_info(m, vi, "input", &info, &has_type, &is_bool)) != CLRNN_OK) return st;
        if (in_type[i] >= 0 && has_type && ((int)info.dtype != in_type[i] || is_bool != in_bool[i]))
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph input '%s' is declared %s, the operator gives it %s", vi->name,
                              clrnn_ox_dtype_name(info.dtype, is_bool),
                              clrnn_ox_dtype_name((clrnn_dtype)in_type[i], in_bool[i]));
        if (in_type[i] < 0 && !has_type)
            return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph input '%s' declares no element type", vi->name);
        if ((st = add_value(m, vi->name, &g->inputs[i])) != CLRNN_OK) return st;
        ox_value *v = &m->values[g->inputs[i]];
        v->dtype = in_type[i] >= 0 ? (clrnn_dtype)in_type[i] : info.dtype;
        v->is_bool = in_type[i] >= 0 ? in_bool[i] : is_bool;
        g->n_inputs++;
    }
    for (size_t i = 0; i < gp->n_node; ++i)
        if ((st = add_node(m, g->nodes, &g->n_nodes, gp->node[i], (int)i)) != CLRNN_OK) return st;
    for (size_t i = 0; i < gp->n_output; ++i) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const int v = vi->name && *vi->name ? find_value(m, vi->name) : -1;
        if (v < 0)
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph output '%s' is computed by no node", vi->name ? vi->name : "");
        clrnn_model_tensor_info info;
        int has_type, is_bool;
        if ((st = io_info(m, vi, "output", &info, &has_type, &is_bool)) != CLRNN_OK) return st;
        const ox_value *val = &m->values[v];
        if (has_type && (info.dtype != val->dtype || is_bool != val->is_bool))
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph output '%s' is declared %s but computes %s", vi->name,
                              clrnn_ox_dtype_name(info.dtype, is_bool), clrnn_ox_dtype_name(val->dtype, val->is_bool));
        g->outputs[i] = v;
        g->out_ndim[i] = info.ndim;
        memcpy(g->out_shape[i], info.shape, sizeof info.shape);
        g->n_outputs++;
    }
    return CLRNN_OK;
}

clrnn_status clrnn_ox_graph_build(clrnn_model *m, const ox_node *owner, const char *attr, const Onnx__GraphProto *gp,
                                  int n_in, const int *in_type, const int *in_bool, ox_graph **out) {
    *out = NULL;
    const int depth = m->scope ? m->scope->depth + 1 : 1;
    if (depth > CLRNN_OX_MAX_GRAPH_DEPTH)
        return clrnn_ox_fail(owner, CLRNN_ERR_UNSUPPORTED, "attribute '%s': subgraphs nested more than %d deep", attr,
                             CLRNN_OX_MAX_GRAPH_DEPTH);
    ox_graph *g = calloc(1, sizeof *g);
    if (!g) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "subgraph");
    g->parent = m->scope;
    g->depth = depth;
    g->owner = owner->label;
    m->scope = g;
    clrnn_status st = build_body(m, g, gp, n_in, in_type, in_bool);
    m->scope = g->parent;
    if (st != CLRNN_OK) {
        char msg[1800];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        clrnn_ox_graph_free(g);
        return clrnn_ox_fail(owner, st, "attribute '%s': %s", attr, msg);
    }
    *out = g;
    return CLRNN_OK;
}

/* Runs nodes[0..count) that are not folded, each output checked computed. */
static clrnn_status run_nodes(clrnn_model *m, ox_node *nodes, int count) {
    for (int i = 0; i < count; ++i) {
        ox_node *n = &nodes[i];
        if (n->folded) continue;
        for (int o = 0; o < n->n_out; ++o)
            if (n->out[o] >= 0) m->values[n->out[o]].has_data = 0;
    }
    for (int i = 0; i < count; ++i) {
        ox_node *n = &nodes[i];
        if (n->folded) continue;
        clrnn_status st = n->op->run(m, n);
        if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);
        for (int o = 0; o < n->n_out; ++o)
            if (n->out[o] >= 0 && !m->values[n->out[o]].has_data)
                return clrnn_ox_fail(n, CLRNN_ERR_INTERNAL, "output %d was not computed", o);
    }
    return CLRNN_OK;
}

clrnn_status clrnn_ox_graph_run(clrnn_model *m, ox_graph *g) { return run_nodes(m, g->nodes, g->n_nodes); }

clrnn_status clrnn_ox_count_iterations(clrnn_model *m, const ox_node *n, uint64_t k) {
    if (k > m->max_iterations - m->iterations) {
        if (k == 1) /* counted one by one: a loop with a condition */
            return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "the run reached the bound of %llu loop iterations "
                                 "(CLRNN_MODEL_MAX_ITERATIONS, default 2^24): does its condition never turn false?",
                                 (unsigned long long)m->max_iterations);
        return clrnn_ox_fail(n, CLRNN_ERR_INVALID_ARGUMENT, "%llu iterations would pass the bound of %llu loop "
                             "iterations per run (%llu done; CLRNN_MODEL_MAX_ITERATIONS, default 2^24)",
                             (unsigned long long)k, (unsigned long long)m->max_iterations,
                             (unsigned long long)m->iterations);
    }
    m->iterations += k;
    return CLRNN_OK;
}

static clrnn_status build(clrnn_model *m, const Onnx__ModelProto *mp) {
    clrnn_status st;
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; ++i) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (is_default_domain(o->domain) && o->has_version) m->opset = o->version;
    }
    if (m->opset < 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model imports no version of the ai.onnx operator set");
    if (m->opset < 7 || m->opset > 22)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the model uses version %lld of the ai.onnx operator set; clrnn "
                          "supports 7 to 22", (long long)m->opset);
    m->producer_name = keep_string(m, mp->producer_name ? mp->producer_name : "");
    m->producer_version = keep_string(m, mp->producer_version ? mp->producer_version : "");
    if (!m->producer_name || !m->producer_version) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "model strings");
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the model has no graph");
    if (g->n_sparse_initializer > 0)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "sparse initializers ('%s') are not supported",
                          g->sparse_initializer[0]->values && g->sparse_initializer[0]->values->name
                              ? g->sparse_initializer[0]->values->name : "?");
    for (size_t i = 0; i < g->n_initializer; ++i)
        if ((st = add_initializer(m, g->initializer[i])) != CLRNN_OK) return st;

    /* graph inputs (an initializer listed as an input stays a constant) */
    m->inputs = calloc(g->n_input + 1, sizeof *m->inputs);
    m->outputs = calloc(g->n_output + 1, sizeof *m->outputs);
    if (!m->inputs || !m->outputs) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "graph inputs");
    for (size_t i = 0; i < g->n_input; ++i) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !*vi->name) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph input %zu has no name", i);
        const int existing = find_value(m, vi->name);
        if (existing >= 0) {
            if (m->values[existing].is_const) continue;
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph input '%s' is listed twice", vi->name);
        }
        ox_io *io = &m->inputs[m->n_inputs];
        int has_type, is_bool;
        if ((st = io_info(m, vi, "input", &io->info, &has_type, &is_bool)) != CLRNN_OK) return st;
        if (!has_type) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph input '%s' declares no element type", vi->name);
        if ((st = add_value(m, vi->name, &io->value)) != CLRNN_OK) return st;
        ox_value *v = &m->values[io->value];
        io->info.name = v->name;
        v->dtype = io->info.dtype;
        v->is_bool = is_bool;
        v->is_input = 1;
        m->n_inputs++;
    }

    m->nodes = calloc(g->n_node + 1, sizeof *m->nodes);
    if (!m->nodes) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "nodes");
    for (size_t i = 0; i < g->n_node; ++i)
        if ((st = add_node(m, m->nodes, &m->n_nodes, g->node[i], (int)i)) != CLRNN_OK) return st;

    for (size_t i = 0; i < g->n_output; ++i) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        ox_io *io = &m->outputs[m->n_outputs];
        const int v = vi->name ? find_value(m, vi->name) : -1;
        if (v < 0)
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "graph output '%s' is computed by no node", vi->name ? vi->name : "");
        int has_type, is_bool;
        if ((st = io_info(m, vi, "output", &io->info, &has_type, &is_bool)) != CLRNN_OK) return st;
        const ox_value *val = &m->values[v];
        if (has_type && (io->info.dtype != val->dtype || is_bool != val->is_bool))
            return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "graph output '%s' is declared %s but computes %s", vi->name,
                              clrnn_ox_dtype_name(io->info.dtype, is_bool), clrnn_ox_dtype_name(val->dtype, val->is_bool));
        io->value = v;
        io->info.name = val->name;
        io->info.dtype = val->dtype;
        m->n_outputs++;
    }
    /* A graph with no outputs computes nothing a caller could read (found by fuzz_onnx). */
    if (m->n_outputs == 0) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "the graph declares no outputs");
    return CLRNN_OK;
}

/* A size from the environment: decimal digits with an optional K, M, G or T (powers of 1024),
 * nothing else (no sign, space or fraction), at least 1, no overflow. Absent or empty: `def`. */
static clrnn_status env_bytes(const char *var, size_t def, size_t *out) {
    const char *s = getenv(var);
    *out = def;
    if (!s || !*s) return CLRNN_OK;
    size_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; ++p)
        if (!clrnn_mul_size(v, 10, &v) || v > SIZE_MAX - (size_t)(*p - '0')) goto bad;
        else v += (size_t)(*p - '0');
    if (p == s) goto bad;
    static const char units[] = "KMGT";
    const char *u = *p ? strchr(units, *p) : NULL;
    if (*p && (!u || p[1])) goto bad;
    for (const char *k = units; u && k <= u; ++k)
        if (!clrnn_mul_size(v, 1024, &v)) goto bad;
    if (v == 0) goto bad;
    *out = v;
    return CLRNN_OK;
bad:
    return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s='%.40s' is not a size in bytes (digits, optionally followed by "
                      "K, M, G or T; at least 1)", var, s);
}

/* A count from the environment: decimal digits only, at least 1, no overflow. Absent or empty: `def`. */
static clrnn_status env_count(const char *var, uint64_t def, uint64_t *out) {
    const char *s = getenv(var);
    *out = def;
    if (!s || !*s) return CLRNN_OK;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; ++p) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s || *p || v == 0) goto bad;
    *out = v;
    return CLRNN_OK;
bad:
    return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s='%.40s' is not a count (decimal digits, at least 1)", var, s);
}

/* The budgets of a model's values (see clrnn_onnx_load in clrnn.h). Host: a quarter of the
 * physical memory; on a CPU device the device buffers, the rnn workspaces and the file with its
 * decoded copy come out of the same memory. Device: half of what the device reports, the rest
 * left to the rnn weights and workspaces, CLBlast and other models. */
clrnn_status clrnn_ox_host_budget(size_t *out) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    size_t phys = 0;
    if (pages <= 0 || page <= 0 || !clrnn_mul_size((size_t)pages, (size_t)page, &phys)) phys = (size_t)8 << 30;
    return env_bytes("CLRNN_MODEL_HOST_BUDGET", phys / 4, out);
}

static clrnn_status set_budgets(clrnn_model *m) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    size_t phys = 0;
    if (pages <= 0 || page <= 0 || !clrnn_mul_size((size_t)pages, (size_t)page, &phys)) phys = (size_t)8 << 30;
    const uint64_t global = m->ctx->info.global_mem_bytes;
    const size_t dev_def = global == 0 ? SIZE_MAX : global / 2 > SIZE_MAX ? SIZE_MAX : (size_t)(global / 2);
    clrnn_status st = env_bytes("CLRNN_MODEL_HOST_BUDGET", phys / 4, &m->host_budget);
    if (st == CLRNN_OK) st = env_bytes("CLRNN_MODEL_DEVICE_BUDGET", dev_def, &m->dev_budget);
    return st == CLRNN_OK ? env_count("CLRNN_MODEL_MAX_ITERATIONS", CLRNN_OX_DEFAULT_MAX_ITERATIONS, &m->max_iterations) : st;
}

clrnn_status clrnn_onnx_load_memory(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_load_memory: out is NULL");
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, "clrnn_onnx_load_memory");
    if (st != CLRNN_OK) return st;
    if (!data) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_onnx_load_memory: data is NULL");
    /* protobuf-c recurses once per nested message: bound the depth before it runs */
    if ((st = clrnn_ox_check_wire(&onnx__model_proto__descriptor, data, size, "an ONNX model", NULL)) != CLRNN_OK)
        return st;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "not an ONNX model (protobuf decoding of %zu bytes failed)", size);
    st = clrnn_ox_load_proto(ctx, mp, 0, out);
    onnx__model_proto__free_unpacked(mp, NULL);
    return st;
}

clrnn_status clrnn_ox_load_proto(clrnn_context *ctx, const Onnx__ModelProto *mp, int keras, clrnn_model **out) {
    *out = NULL;
    clrnn_model *m = calloc(1, sizeof *m);
    clrnn_status st = m ? CLRNN_OK : clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "model");
    if (m) {
        m->ctx = ctx;
        m->ctx_id = clrnn_handle_id(ctx, CLRNN_HANDLE_CONTEXT);
        m->keras = keras;
        st = set_budgets(m);
        if (st == CLRNN_OK) st = build(m, mp);
    }
    if (st == CLRNN_OK) {
        /* folding may have left device work in flight */
        cl_int err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clFinish", "loading the model");
    }
    if (st == CLRNN_OK && !clrnn_handle_register(m, CLRNN_HANDLE_MODEL))
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "model handle registry");
    if (st != CLRNN_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        model_free(m);
        return clrnn_fail(st, "%s", msg);
    }
    *out = m;
    return CLRNN_OK;
}

clrnn_status clrnn_ox_load_path(clrnn_context *ctx, const char *path, const char *func, const char *what,
                                clrnn_ox_load_memory_fn load_memory, clrnn_model **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: out is NULL", func);
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, func);
    if (st != CLRNN_OK) return st;
    if (!path) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: path is NULL", func);
    unsigned char *buf;
    size_t size;
    st = clrnn_read_user_file(path, what, &buf, &size);
    if (st != CLRNN_OK) return st;
    st = load_memory(ctx, buf, size, out);
    free(buf);
    if (st != CLRNN_OK) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        return clrnn_fail(st, "%s: %s", path, msg);
    }
    return CLRNN_OK;
}

clrnn_status clrnn_onnx_load(clrnn_context *ctx, const char *path, clrnn_model **out) {
    return clrnn_ox_load_path(ctx, path, "clrnn_onnx_load", "file", clrnn_onnx_load_memory, out);
}

/* Live model whose context is live too (every entry point but destroy). */
static clrnn_status check_model(const clrnn_model *m, const char *func) {
    clrnn_status st = clrnn_check_handle(m, CLRNN_HANDLE_MODEL, func, "model");
    if (st != CLRNN_OK) return st;
    if (clrnn_handle_id(m->ctx, CLRNN_HANDLE_CONTEXT) != m->ctx_id)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: the context of model %p has been destroyed (destroy every model before its context)",
                          func, (const void *)m);
    return CLRNN_OK;
}

/* A NULL, destroyed or foreign pointer is ignored (the reason is left in clrnn_last_error()).
 * A model may be destroyed after its context: its OpenCL objects keep the OpenCL context alive. */
void clrnn_model_destroy(clrnn_model *m) {
    if (!m) return;
    if (!clrnn_handle_unregister(m, CLRNN_HANDLE_MODEL)) {
        clrnn_check_handle(m, CLRNN_HANDLE_MODEL, "clrnn_model_destroy (ignored)", "model");
        return;
    }
    model_free(m);
}

static void model_free(clrnn_model *m) {
    if (!m) return;
    /* no work of ours may be in flight when buffers go; the queue is gone with a destroyed context */
    if (m->ctx && clrnn_handle_id(m->ctx, CLRNN_HANDLE_CONTEXT) == m->ctx_id) clFinish(m->ctx->queue);
    for (int i = 0; i < m->n_nodes; ++i) node_free(&m->nodes[i]);
    free(m->nodes);
    for (int i = 0; i < m->n_values; ++i) clrnn_ox_value_release(m, &m->values[i]);
    free(m->values);
    free(m->names.slot);
    free(m->inputs);
    free(m->outputs);
    for (int i = 0; i < m->n_strings; ++i) free(m->strings[i]);
    free(m->strings);
    clrnn_ox_loop_reports_free(m);
    free(m); /* m->k belongs to the context */
}

/* ------------------------------------------------------------------------------------------
 * Describe
 * ---------------------------------------------------------------------------------------- */
clrnn_status clrnn_model_get_info(const clrnn_model *m, clrnn_model_info *info) {
    clrnn_status st = check_model(m, "clrnn_model_get_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_get_info: info is NULL");
    memset(info, 0, sizeof *info);
    info->producer_name = m->producer_name;
    info->producer_version = m->producer_version;
    info->ir_version = m->ir_version;
    info->opset = m->opset;
    info->num_nodes = m->n_nodes;
    for (int i = 0; i < m->n_nodes; ++i) {
        info->num_folded += m->nodes[i].folded;
        const char *op = m->nodes[i].op_type;
        info->num_recurrent += !strcmp(op, "RNN") || !strcmp(op, "GRU") || !strcmp(op, "LSTM") ||
                               (m->keras && !strcmp(op, "SimpleRNN"));
    }
    info->num_loops = m->n_loops;
    for (int i = 0; i < m->n_loops; ++i) info->num_fused_loops += m->loops[i].fused;
    return CLRNN_OK;
}

clrnn_status clrnn_model_get_loop_info(const clrnn_model *m, int index, clrnn_model_loop_info *info) {
    clrnn_status st = check_model(m, "clrnn_model_get_loop_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_get_loop_info: info is NULL");
    if (index < 0 || index >= m->n_loops)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "loop index %d outside [0, %d)", index, m->n_loops);
    const ox_loop_report *r = &m->loops[index];
    memset(info, 0, sizeof *info);
    info->node_index = r->node;
    info->node_name = r->name;
    info->op_type = r->op_type;
    info->fused = r->fused;
    info->cell = r->cell;
    info->masked = r->masked;
    info->reversed = r->reversed;
    info->hidden_size = r->hidden;
    info->input_size = r->input;
    info->num_cells = r->layers;
    info->description = r->text;
    return CLRNN_OK;
}

int clrnn_model_num_inputs(const clrnn_model *m) {
    return check_model(m, "clrnn_model_num_inputs") == CLRNN_OK ? m->n_inputs : 0;
}
int clrnn_model_num_outputs(const clrnn_model *m) {
    return check_model(m, "clrnn_model_num_outputs") == CLRNN_OK ? m->n_outputs : 0;
}

clrnn_status clrnn_model_input_info(const clrnn_model *m, int index, clrnn_model_tensor_info *info) {
    clrnn_status st = check_model(m, "clrnn_model_input_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_input_info: info is NULL");
    if (index < 0 || index >= m->n_inputs)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input index %d outside [0, %d)", index, m->n_inputs);
    *info = m->inputs[index].info;
    return CLRNN_OK;
}

clrnn_status clrnn_model_output_info(const clrnn_model *m, int index, clrnn_model_tensor_info *info) {
    clrnn_status st = check_model(m, "clrnn_model_output_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_output_info: info is NULL");
    if (index < 0 || index >= m->n_outputs)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "output index %d outside [0, %d)", index, m->n_outputs);
    *info = m->outputs[index].info;
    return CLRNN_OK;
}

/* "float32 [N, 5]" */
static void describe(const clrnn_model_tensor_info *info, int is_bool, char *buf, size_t cap) {
    size_t pos = (size_t)snprintf(buf, cap, "%s", clrnn_ox_dtype_name(info->dtype, is_bool));
    if (info->ndim < 0 || pos >= cap) return;
    pos += (size_t)snprintf(buf + pos, cap - pos, " [");
    for (int i = 0; i < info->ndim && pos < cap; ++i) {
        if (info->shape[i] >= 0)
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%lld", i ? ", " : "", (long long)info->shape[i]);
        else
            pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", info->dim_names[i] ? info->dim_names[i] : "?");
    }
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

/* ------------------------------------------------------------------------------------------
 * Bind, run, read
 * ---------------------------------------------------------------------------------------- */
clrnn_status clrnn_model_set_input(clrnn_model *m, const char *name, const clrnn_array *a) {
    clrnn_clear_error();
    clrnn_status st = check_model(m, "clrnn_model_set_input");
    if (st != CLRNN_OK) return st;
    if (!name || !a) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_set_input: NULL argument");
    const ox_io *io = NULL;
    for (int i = 0; i < m->n_inputs && !io; ++i)
        if (!strcmp(m->inputs[i].info.name, name)) io = &m->inputs[i];
    if (!io) {
        char list[1024] = "";
        size_t pos = 0;
        for (int i = 0; i < m->n_inputs && pos < sizeof list; ++i)
            pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s'%s'", i ? ", " : "", m->inputs[i].info.name);
        return clrnn_fail(CLRNN_ERR_NOT_FOUND, "the model has no input '%s' (its inputs: %s)", name,
                          m->n_inputs ? list : "none");
    }
    ox_value *v = &m->values[io->value];
    char expect[256];
    describe(&io->info, v->is_bool, expect, sizeof expect);
    const int ints = (a->dtype == CLRNN_DTYPE_INT32 || a->dtype == CLRNN_DTYPE_INT64) &&
                     (v->dtype == CLRNN_DTYPE_INT32 || v->dtype == CLRNN_DTYPE_INT64);
    if (a->dtype != v->dtype && !ints)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s': got %s data, the model expects %s", name,
                          clrnn_ox_dtype_name(a->dtype, 0), expect);
    if (a->ndim < 0 || a->ndim > CLRNN_MAX_DIMS || (a->count > 0 && !a->data))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s': invalid array", name);
    if (io->info.ndim >= 0 && a->ndim != io->info.ndim)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "input '%s': got rank %d, the model expects %s", name, a->ndim, expect);
    size_t count = 1;
    for (int i = 0; i < a->ndim; ++i) {
        if (io->info.ndim >= 0 && io->info.shape[i] >= 0 && a->shape[i] != io->info.shape[i])
            return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "input '%s': dimension %d is %lld, the model expects %s", name, i,
                              (long long)a->shape[i], expect);
        if (a->shape[i] < 0 || !clrnn_mul_size(count, (size_t)a->shape[i], &count))
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s': bad shape", name);
    }
    if (count != a->count)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s': count %zu does not match its shape (%zu)", name, a->count, count);
    /* Everything that can fail is checked before the bound value is touched, so a refused call
     * leaves the previous binding in place: the conversion's range here, size and budget in
     * clrnn_ox_alloc_host (which leaves v unchanged when it refuses). */
    const int narrow = a->dtype == CLRNN_DTYPE_INT64 && v->dtype == CLRNN_DTYPE_INT32;
    for (size_t i = 0; narrow && i < count; ++i) {
        const int64_t x = ((const int64_t *)a->data)[i];
        if (x < INT32_MIN || x > INT32_MAX)
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s' is int32 in the model; element %zu = %lld "
                              "does not fit", name, i, (long long)x);
    }
    st = clrnn_ox_alloc_host(m, NULL, v, a->ndim, a->shape);
    if (st != CLRNN_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        return clrnn_fail(st, "input '%s': %s", name, msg);
    }
    if (a->dtype == v->dtype) {
        ox_memcpy(v->host, a->data, count * clrnn_dtype_size(v->dtype));
        if (v->is_bool)
            for (size_t i = 0; i < count; ++i) ((unsigned char *)v->host)[i] = ((unsigned char *)v->host)[i] != 0;
    } else if (v->dtype == CLRNN_DTYPE_INT64) {
        for (size_t i = 0; i < count; ++i) ((int64_t *)v->host)[i] = ((const int32_t *)a->data)[i];
    } else {
        for (size_t i = 0; i < count; ++i) ((int32_t *)v->host)[i] = (int32_t)((const int64_t *)a->data)[i];
    }
    return CLRNN_OK;
}

clrnn_status clrnn_model_run(clrnn_model *m) {
    clrnn_clear_error();
    clrnn_status st = check_model(m, "clrnn_model_run");
    if (st != CLRNN_OK) return st;
    for (int i = 0; i < m->n_inputs; ++i) {
        const ox_value *v = &m->values[m->inputs[i].value];
        if (!v->has_data) {
            char expect[256];
            describe(&m->inputs[i].info, v->is_bool, expect, sizeof expect);
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "input '%s' was not set (the model expects %s)", v->name, expect);
        }
    }
    m->iterations = 0;
    st = run_nodes(m, m->nodes, m->n_nodes);
    cl_int err = clFinish(m->ctx->queue);
    if (st == CLRNN_OK && err != CL_SUCCESS) st = clrnn_fail_cl(err, "clFinish", "running the model");
    clrnn_trace_flush(m->ctx); /* CLRNN_VERBOSE: the run's lines */
    return st;
}

clrnn_status clrnn_model_get_output(clrnn_model *m, const char *name, clrnn_array *out) {
    clrnn_clear_error();
    if (out) memset(out, 0, sizeof *out);
    clrnn_status st = check_model(m, "clrnn_model_get_output");
    if (st != CLRNN_OK) return st;
    if (!name || !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_model_get_output: NULL argument");
    ox_value *v = NULL;
    for (int i = 0; i < m->n_outputs && !v; ++i)
        if (!strcmp(m->outputs[i].info.name, name)) v = &m->values[m->outputs[i].value];
    if (!v) return clrnn_fail(CLRNN_ERR_NOT_FOUND, "the model has no output '%s'", name);
    if (!v->has_data) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "output '%s' is not computed yet (call clrnn_model_run)", name);
    st = clrnn_ox_to_host(m, v);
    if (st != CLRNN_OK) return st;
    const size_t bytes = v->count * clrnn_dtype_size(v->dtype);
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "output '%s' (%zu bytes)", name, bytes);
    ox_memcpy(out->data, v->host, bytes);
    out->dtype = v->dtype;
    out->ndim = v->ndim;
    memcpy(out->shape, v->shape, sizeof out->shape);
    out->count = v->count;
    return CLRNN_OK;
}
