/* Control flow: Loop, Scan and If, each running a subgraph (ox_graph, built at load by
 * clrnn_ox_graph_build, see model.c) whose names see the enclosing scopes.
 *
 * Data stays where it is computed: a loop-carried value goes to the next iteration by swapping its
 * buffers with the body input (no copy, no host round trip), scan-input slices are strided copies
 * on the device (float32), scan outputs are written into their stacked buffer at each step (a Loop
 * whose length depends on `cond` grows it by doubling). The host reads the trip count once and the
 * condition once per iteration, only when the Loop has one. Every run counts its iterations
 * against CLRNN_MODEL_MAX_ITERATIONS, so a hostile trip count or a condition that never turns
 * false fails instead of spinning. */
#include "onnx_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct cf_state {
    ox_graph *body, *other;  /* Loop/Scan body; If: then_branch, else_branch */
    int n_carried, n_scan;   /* loop-carried values, scan outputs */
    int n_scan_in;           /* Scan: scan inputs */
    int *stage;              /* per carried value: a hidden value for hand-offs that cannot swap */
    int *swap;               /* per carried value: its body output is the body's own, used once */
    int *grow;               /* Loop: per scan output, a hidden value to grow the stack into */
    int iter_rank, cond_rank; /* Loop: declared rank (0 or 1) of iteration_num and cond */
    int64_t *in_axis, *in_dir, *out_axis, *out_dir; /* Scan attributes */
    int *step_ndim;          /* per scan output: per-iteration shape of this run */
    int64_t (*step_shape)[CLRNN_MAX_DIMS];
    int64_t *cap;            /* Loop: per scan output, iterations its buffer holds */
} cf_state;

static void cf_release(ox_node *n) {
    cf_state *s = n->state;
    if (!s) return;
    clrnn_ox_graph_free(s->body);
    clrnn_ox_graph_free(s->other);
    free(s->stage), free(s->swap), free(s->grow);
    free(s->in_axis), free(s->in_dir), free(s->out_axis), free(s->out_dir);
    free(s->step_ndim), free(s->step_shape), free(s->cap);
    free(s);
    n->state = NULL;
}

static clrnn_status graph_attr(const ox_node *n, const Onnx__NodeProto *p, const char *name,
                               const Onnx__GraphProto **g) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, name);
    if (!a) return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute '%s' is required", name);
    if ((a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH) || !a->g)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute '%s' is not a graph", name);
    *g = a->g;
    return CLRNN_OK;
}

/* Declared rank of graph input i: 1 for [1], else 0 (scalar or undeclared). */
static int declared_rank(const Onnx__GraphProto *g, size_t i) {
    if (i >= g->n_input) return 0;
    const Onnx__TypeProto *t = g->input[i]->type;
    return t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type && t->tensor_type->shape &&
                   t->tensor_type->shape->n_dim == 1
               ? 1
               : 0;
}

/* Allocates the per-output and per-carried arrays and the hidden staging values. */
static clrnn_status cf_alloc(clrnn_model *m, ox_node *n, cf_state *s, int bo0) {
    const size_t nc = (size_t)s->n_carried + 1, ns = (size_t)s->n_scan + 1;
    s->stage = calloc(nc, sizeof *s->stage);
    s->swap = calloc(nc, sizeof *s->swap);
    s->grow = calloc(ns, sizeof *s->grow);
    s->step_ndim = calloc(ns, sizeof *s->step_ndim);
    s->step_shape = calloc(ns, sizeof *s->step_shape);
    s->cap = calloc(ns, sizeof *s->cap);
    if (!s->stage || !s->swap || !s->grow || !s->step_ndim || !s->step_shape || !s->cap)
        return clrnn_ox_fail(n, CLRNN_ERR_OUT_OF_MEMORY, "state");
    clrnn_status st;
    for (int j = 0; j < s->n_carried; ++j) {
        const int src = s->body->outputs[bo0 + j];
        const ox_value *v = &m->values[src];
        char name[600];
        snprintf(name, sizeof name, "%s (carried %d)", v->name, j);
        if ((st = clrnn_ox_add_hidden_value(m, name, v->dtype, v->is_bool, &s->stage[j])) != CLRNN_OK) return st;
        /* a value computed by the body's own nodes may give its buffers to the next iteration;
         * a body input, a constant, an outer value or one listed twice is copied */
        v = &m->values[src];
        int own = v->depth == s->body->depth && !v->is_const;
        for (int i = 0; i < s->body->n_inputs && own; ++i) own = s->body->inputs[i] != src;
        for (int k = 0; k < s->n_carried && own; ++k) own = k == j || s->body->outputs[bo0 + k] != src;
        s->swap[j] = own;
    }
    for (int k = 0; k < s->n_scan; ++k) {
        const ox_value *v = &m->values[s->body->outputs[bo0 + s->n_carried + k]];
        char name[600];
        snprintf(name, sizeof name, "%s (stacked)", v->name);
        if ((st = clrnn_ox_add_hidden_value(m, name, v->dtype, v->is_bool, &s->grow[k])) != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

/* Body inputs bi0.. take the carried inputs ii0.. of the node. */
static clrnn_status carry_in(clrnn_model *m, ox_node *n, cf_state *s, int bi0, int ii0) {
    for (int j = 0; j < s->n_carried; ++j) {
        clrnn_status st = clrnn_ox_value_assign(m, n, &m->values[s->body->inputs[bi0 + j]], ox_in(m, n, ii0 + j));
        if (st != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

/* Body outputs bo0.. become the body inputs bi0.. of the next iteration. Sources that cannot be
 * swapped are staged first, so that one carried value may read another's old value. */
static clrnn_status carry_on(clrnn_model *m, ox_node *n, cf_state *s, int bi0, int bo0) {
    clrnn_status st;
    for (int j = 0; j < s->n_carried; ++j) {
        const int src = s->body->outputs[bo0 + j], dst = s->body->inputs[bi0 + j];
        if (src != dst && !s->swap[j] &&
            (st = clrnn_ox_value_assign(m, n, &m->values[s->stage[j]], &m->values[src])) != CLRNN_OK)
            return st;
    }
    for (int j = 0; j < s->n_carried; ++j) {
        const int src = s->body->outputs[bo0 + j], dst = s->body->inputs[bi0 + j];
        if (src != dst) clrnn_ox_value_swap(&m->values[s->swap[j] ? src : s->stage[j]], &m->values[dst]);
    }
    return CLRNN_OK;
}

/* The node's outputs 0.. take the final carried values. */
static void carry_out(clrnn_model *m, ox_node *n, cf_state *s, int bi0) {
    for (int j = 0; j < s->n_carried; ++j) {
        ox_value *o = ox_out(m, n, j);
        if (o) clrnn_ox_value_swap(o, &m->values[s->body->inputs[bi0 + j]]);
    }
}

static int same_shape(int na, const int64_t *a, int nb, const int64_t *b) {
    if (na != nb) return 0;
    for (int i = 0; i < na; ++i)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Records (it == 0) or checks the per-iteration shape of scan output k. */
static clrnn_status step_shape(cf_state *s, const ox_node *n, int k, const ox_value *so, int64_t it) {
    if (it == 0) {
        if (so->ndim + 1 > CLRNN_MAX_DIMS)
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "scan output %d ('%s') of rank %d stacks to rank %d (at most %d)",
                                 k, so->name, so->ndim, so->ndim + 1, CLRNN_MAX_DIMS);
        s->step_ndim[k] = so->ndim;
        memcpy(s->step_shape[k], so->shape, sizeof s->step_shape[k]);
        return CLRNN_OK;
    }
    if (!same_shape(so->ndim, so->shape, s->step_ndim[k], s->step_shape[k]))
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "scan output %d ('%s') changes shape at iteration %lld (rank "
                             "%d, %zu elements; rank %d at iteration 0): scan outputs keep one shape",
                             k, so->name, (long long)it, so->ndim, so->count, s->step_ndim[k]);
    return CLRNN_OK;
}

/* Scan outputs of a body that ran no iteration: 0 along the stacking axis, the rest from the
 * body's declared (static) shape. */
static clrnn_status empty_scan_out(clrnn_model *m, ox_node *n, cf_state *s, int k, int bo, int axis_in) {
    ox_value *o = ox_out(m, n, s->n_carried + k);
    if (!o) return CLRNN_OK;
    const int r = s->body->out_ndim[bo];
    int ok = r >= 0 && r + 1 <= CLRNN_MAX_DIMS;
    for (int i = 0; ok && i < r; ++i) ok = s->body->out_shape[bo][i] >= 0;
    if (!ok)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the body ran no iteration and does not declare a static shape "
                             "for scan output %d ('%s'), so its empty result has no known shape", k,
                             m->values[s->body->outputs[bo]].name);
    int axis;
    clrnn_status st = clrnn_ox_axis(n, axis_in, r + 1, "scan_output_axes", &axis);
    if (st != CLRNN_OK) return st;
    int64_t shape[CLRNN_MAX_DIMS];
    for (int i = 0, d = 0; i <= r; ++i) shape[i] = i == axis ? 0 : s->body->out_shape[bo][d++];
    return clrnn_ox_alloc_out(m, n, o, r + 1, shape);
}

/* ------------------------------------------------------------------------------------------
 * Loop
 * ---------------------------------------------------------------------------------------- */
static clrnn_status loop_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    const Onnx__GraphProto *gp = NULL;
    clrnn_status st = graph_attr(n, p, "body", &gp);
    if (st != CLRNN_OK) return st;
    if (n->n_in < 2)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "%d inputs; a Loop has M, cond (either may be \"\") and its "
                             "loop-carried values", n->n_in);
    cf_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    const int nc = n->n_in - 2;
    if (n->n_out < nc)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "%d outputs for %d loop-carried values", n->n_out, nc);
    if ((st = clrnn_ox_check_type(m, n, 0, "trip count M", OX_T_I64)) != CLRNN_OK) return st;
    const ox_value *cond = ox_in(m, n, 1);
    if (cond && !cond->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "cond ('%s') is %s, not bool", cond->name,
                             clrnn_ox_dtype_name(cond->dtype, cond->is_bool));
    int *type = calloc((size_t)n->n_in + 1, sizeof *type), *bools = calloc((size_t)n->n_in + 1, sizeof *bools);
    if (!type || !bools) {
        free(type), free(bools);
        return clrnn_ox_fail(n, CLRNN_ERR_OUT_OF_MEMORY, "state");
    }
    type[0] = CLRNN_DTYPE_INT64;
    type[1] = CLRNN_DTYPE_UINT8, bools[1] = 1;
    st = CLRNN_OK;
    for (int j = 0; j < nc && st == CLRNN_OK; ++j) {
        const ox_value *v = ox_in(m, n, 2 + j);
        if (!v)
            st = clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "loop-carried input %d is left empty (optional values are "
                               "not supported)", j);
        else
            type[2 + j] = v->dtype, bools[2 + j] = v->is_bool;
    }
    if (st == CLRNN_OK) st = clrnn_ox_graph_build(m, n, "body", gp, 2 + nc, type, bools, &s->body);
    free(type), free(bools);
    if (st != CLRNN_OK) return st;
    ox_graph *b = s->body;
    n->reads_outer = b->reads_outer;
    s->n_carried = nc;
    s->n_scan = b->n_outputs - 1 - nc;
    s->iter_rank = declared_rank(gp, 0);
    s->cond_rank = declared_rank(gp, 1);
    if (s->n_scan < 0 || nc + s->n_scan != n->n_out)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "the body has %d outputs; a Loop with %d loop-carried values "
                             "and %d outputs needs 1 + %d", b->n_outputs, nc, n->n_out, n->n_out);
    const ox_value *c = &m->values[b->outputs[0]];
    if (!c->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "body output 0 ('%s', the condition) is %s, not bool", c->name,
                             clrnn_ox_dtype_name(c->dtype, c->is_bool));
    for (int j = 0; j < nc; ++j) {
        const ox_value *in = ox_in(m, n, 2 + j), *bo = &m->values[b->outputs[1 + j]];
        if (in->dtype != bo->dtype || in->is_bool != bo->is_bool)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "loop-carried value %d enters as %s and the body gives "
                                 "back %s ('%s')", j, clrnn_ox_dtype_name(in->dtype, in->is_bool),
                                 clrnn_ox_dtype_name(bo->dtype, bo->is_bool), bo->name);
        ox_set_out_type(m, n, j, in->dtype, in->is_bool);
    }
    for (int k = 0; k < s->n_scan; ++k) {
        const ox_value *bo = &m->values[b->outputs[1 + nc + k]];
        ox_set_out_type(m, n, nc + k, bo->dtype, bo->is_bool);
    }
    return cf_alloc(m, n, s, 1);
}

/* A one-element tensor read on the host (the trip count or a condition). */
static clrnn_status scalar(clrnn_model *m, const ox_node *n, ox_value *v, const char *what, int64_t *out) {
    *out = 0;
    clrnn_status st = clrnn_ox_to_host(m, v);
    if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);
    if (v->count != 1)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s ('%s') has %zu elements, not 1", what, v->name, v->count);
    *out = v->dtype == CLRNN_DTYPE_INT64 ? *(const int64_t *)v->host : *(const unsigned char *)v->host;
    return CLRNN_OK;
}

/* Appends scan output k of iteration `it` to the Loop's stacked output. */
static clrnn_status loop_append(clrnn_model *m, ox_node *n, cf_state *s, int k, int64_t it, int64_t trip, int has_cond) {
    ox_value *o = ox_out(m, n, s->n_carried + k);
    if (!o) return CLRNN_OK;
    ox_value *so = &m->values[s->body->outputs[1 + s->n_carried + k]];
    clrnn_status st = step_shape(s, n, k, so, it);
    if (st != CLRNN_OK) return st;
    const int dev = o->dtype == CLRNN_DTYPE_FLOAT32;
    const int r = s->step_ndim[k] + 1;
    int64_t shape[CLRNN_MAX_DIMS];
    memcpy(shape + 1, s->step_shape[k], (size_t)(r - 1) * sizeof *shape);
    if (it == 0) {
        /* a known trip count sizes the stack once; a condition makes it grow */
        s->cap[k] = has_cond ? (trip < 16 ? trip : 16) : trip;
        shape[0] = s->cap[k];
        if ((st = dev ? clrnn_ox_alloc_device(m, n, o, r, shape) : clrnn_ox_alloc_host(m, n, o, r, shape)) != CLRNN_OK)
            return st;
    } else if (it == s->cap[k]) {
        ox_value *g = &m->values[s->grow[k]];
        shape[0] = s->cap[k] > trip / 2 ? trip : 2 * s->cap[k];
        if ((st = dev ? clrnn_ox_alloc_device(m, n, g, r, shape) : clrnn_ox_alloc_host(m, n, g, r, shape)) != CLRNN_OK)
            return st;
        const int64_t done = (int64_t)so->count * it, one = 1;
        if ((st = clrnn_ox_copy(m, n, dev, o, 0, g, 0, 1, &done, &one, &one)) != CLRNN_OK) return st;
        clrnn_ox_value_swap(o, g);
        clrnn_ox_value_drop(m, g);
        s->cap[k] = shape[0];
    }
    const int64_t cnt = (int64_t)so->count, one = 1;
    return clrnn_ox_copy(m, n, dev, so, 0, o, cnt * it, 1, &cnt, &one, &one);
}

static clrnn_status bind_scalar(clrnn_model *m, const ox_node *n, ox_value *v, int rank, int64_t x) {
    const int64_t one = 1;
    clrnn_status st = clrnn_ox_alloc_host(m, n, v, rank, &one);
    if (st != CLRNN_OK) return st;
    if (v->dtype == CLRNN_DTYPE_INT64)
        *(int64_t *)v->host = x;
    else
        *(unsigned char *)v->host = (unsigned char)(x != 0);
    return CLRNN_OK;
}

static clrnn_status body_failed(const ox_node *n, clrnn_status st, int64_t it) {
    char msg[1800];
    snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
    return clrnn_ox_fail(n, st, "iteration %lld of the body: %s", (long long)it, msg);
}

static clrnn_status loop_run(clrnn_model *m, ox_node *n) {
    cf_state *s = n->state;
    ox_graph *b = s->body;
    clrnn_status st;
    int64_t trip = INT64_MAX, c = 1;
    ox_value *mv = ox_in(m, n, 0), *cv = ox_in(m, n, 1);
    if (mv && (st = scalar(m, n, mv, "the trip count M", &trip)) != CLRNN_OK) return st;
    if (cv && (st = scalar(m, n, cv, "cond", &c)) != CLRNN_OK) return st;
    if (trip < 0) trip = 0;
    const int has_cond = cv != NULL;
    /* without a condition the loop runs exactly `trip` times: refuse it whole before starting */
    if (!has_cond && c && trip > 0 && (st = clrnn_ox_count_iterations(m, n, (uint64_t)trip)) != CLRNN_OK) return st;
    if ((st = carry_in(m, n, s, 2, 2)) != CLRNN_OK) return st;
    int64_t it = 0;
    for (; it < trip && c; ++it) {
        if (has_cond && (st = clrnn_ox_count_iterations(m, n, 1)) != CLRNN_OK) return st;
        if ((st = bind_scalar(m, n, &m->values[b->inputs[0]], s->iter_rank, it)) != CLRNN_OK) return st;
        if ((st = bind_scalar(m, n, &m->values[b->inputs[1]], s->cond_rank, c)) != CLRNN_OK) return st;
        if ((st = clrnn_ox_graph_run(m, b)) != CLRNN_OK) return body_failed(n, st, it);
        /* without a Loop input `cond` the body's condition is ignored (ONNX): not read back */
        if (has_cond && (st = scalar(m, n, &m->values[b->outputs[0]], "the body's condition", &c)) != CLRNN_OK)
            return st;
        for (int k = 0; k < s->n_scan; ++k)
            if ((st = loop_append(m, n, s, k, it, trip, has_cond)) != CLRNN_OK) return st;
        if ((st = carry_on(m, n, s, 2, 1)) != CLRNN_OK) return st;
    }
    for (int k = 0; k < s->n_scan; ++k) {
        ox_value *o = ox_out(m, n, s->n_carried + k);
        if (!o) continue;
        if (it == 0) {
            if ((st = empty_scan_out(m, n, s, k, 1 + s->n_carried + k, 0)) != CLRNN_OK) return st;
            continue;
        }
        /* the stack may hold more rows than ran: the shape says how many are results */
        o->shape[0] = it;
        o->count = (size_t)it * m->values[s->body->outputs[1 + s->n_carried + k]].count;
        o->version++;
    }
    carry_out(m, n, s, 2);
    return CLRNN_OK;
}

static const char *const loop_attrs[] = {"body", NULL};
/* M and cond are optional but present (""): min_in 0 with the count checked in prepare */
const ox_op clrnn_ox_op_loop = {"Loop", 0, 1 << 16, 1, 1 << 16, loop_attrs, loop_prepare, loop_run, cf_release};

/* ------------------------------------------------------------------------------------------
 * Scan. Opset 9 on: scan inputs sliced along scan_input_axes, outputs stacked along
 * scan_output_axes. Opset 8: every input and output has a leading batch axis, sequences run
 * along axis 1, and the optional input 0 is sequence_lens (only full-length sequences run).
 * ---------------------------------------------------------------------------------------- */
static clrnn_status copy_ints(const ox_node *n, const Onnx__NodeProto *p, const char *name, int count, int64_t def,
                              int64_t **out) {
    const int64_t *vals;
    size_t nv;
    int present;
    clrnn_status st = clrnn_ox_attr_ints(n, p, name, &vals, &nv, &present);
    if (st != CLRNN_OK) return st;
    if (present && nv != (size_t)count)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute '%s' has %zu values for %d tensors", name, nv, count);
    if (!(*out = calloc((size_t)count + 1, sizeof **out))) return clrnn_ox_fail(n, CLRNN_ERR_OUT_OF_MEMORY, "state");
    for (int i = 0; i < count; ++i) (*out)[i] = present ? vals[i] : def;
    return CLRNN_OK;
}

static clrnn_status scan_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    const int v8 = m->opset < 9; /* the batched form; its input 0 is sequence_lens */
    const int first = v8 ? 1 : 0;
    const Onnx__GraphProto *gp = NULL;
    clrnn_status st = graph_attr(n, p, "body", &gp);
    if (st != CLRNN_OK) return st;
    int64_t ns_in;
    if ((st = clrnn_ox_attr_int_required(n, p, "num_scan_inputs", &ns_in)) != CLRNN_OK) return st;
    if (ns_in < 1 || ns_in > n->n_in - first)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "num_scan_inputs = %lld for %d inputs", (long long)ns_in, n->n_in);
    for (size_t i = 0; i < p->n_attribute; ++i) { /* each form has its own attributes */
        const char *a = p->attribute[i]->name;
        if (v8 ? strncmp(a, "scan_", 5) == 0 : strcmp(a, "directions") == 0)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "attribute '%s' is not one of Scan-%d's", a, v8 ? 8 : 9);
    }
    cf_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    s->n_scan_in = (int)ns_in;
    const int nc = n->n_in - first - s->n_scan_in;
    if (n->n_out < nc)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "%d outputs for %d state variables", n->n_out, nc);
    s->n_carried = nc;
    s->n_scan = n->n_out - nc;
    if ((st = copy_ints(n, p, "scan_input_axes", s->n_scan_in, v8 ? 1 : 0, &s->in_axis)) != CLRNN_OK ||
        (st = copy_ints(n, p, v8 ? "directions" : "scan_input_directions", s->n_scan_in, 0, &s->in_dir)) != CLRNN_OK ||
        (st = copy_ints(n, p, "scan_output_axes", s->n_scan, v8 ? 1 : 0, &s->out_axis)) != CLRNN_OK ||
        (st = copy_ints(n, p, "scan_output_directions", s->n_scan, 0, &s->out_dir)) != CLRNN_OK)
        return st;
    for (int j = 0; j < s->n_scan_in; ++j)
        if (s->in_dir[j] != 0 && s->in_dir[j] != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "%s[%d] = %lld (0 or 1)",
                                 v8 ? "directions" : "scan_input_directions", j, (long long)s->in_dir[j]);
    for (int k = 0; k < s->n_scan; ++k)
        if (s->out_dir[k] != 0 && s->out_dir[k] != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "scan_output_directions[%d] = %lld (0 or 1)", k,
                                 (long long)s->out_dir[k]);
    if (v8 && (st = clrnn_ox_check_type(m, n, 0, "sequence_lens", OX_T_I64)) != CLRNN_OK) return st;
    const int nb = n->n_in - first;
    int *type = calloc((size_t)nb + 1, sizeof *type), *bools = calloc((size_t)nb + 1, sizeof *bools);
    if (!type || !bools) {
        free(type), free(bools);
        return clrnn_ox_fail(n, CLRNN_ERR_OUT_OF_MEMORY, "state");
    }
    st = CLRNN_OK;
    for (int j = 0; j < nb && st == CLRNN_OK; ++j) {
        const ox_value *v = ox_in(m, n, first + j);
        if (!v)
            st = clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "input %d is left empty", first + j);
        else
            type[j] = v->dtype, bools[j] = v->is_bool;
    }
    if (st == CLRNN_OK) st = clrnn_ox_graph_build(m, n, "body", gp, nb, type, bools, &s->body);
    free(type), free(bools);
    if (st != CLRNN_OK) return st;
    ox_graph *b = s->body;
    n->reads_outer = b->reads_outer;
    if (b->n_outputs != n->n_out)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "the body has %d outputs; this Scan has %d (%d state variables "
                             "and %d scan outputs)", b->n_outputs, n->n_out, nc, s->n_scan);
    for (int j = 0; j < nc; ++j) {
        const ox_value *in = ox_in(m, n, first + j), *bo = &m->values[b->outputs[j]];
        if (in->dtype != bo->dtype || in->is_bool != bo->is_bool)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "state variable %d enters as %s and the body gives back %s "
                                 "('%s')", j, clrnn_ox_dtype_name(in->dtype, in->is_bool),
                                 clrnn_ox_dtype_name(bo->dtype, bo->is_bool), bo->name);
        ox_set_out_type(m, n, j, in->dtype, in->is_bool);
    }
    for (int k = 0; k < s->n_scan; ++k) {
        const ox_value *bo = &m->values[b->outputs[nc + k]];
        ox_set_out_type(m, n, nc + k, bo->dtype, bo->is_bool);
    }
    return cf_alloc(m, n, s, 0);
}

/* dst = x with axes[0..nfix) (ascending) fixed at idx[]: a strided copy where x's type lives. */
static clrnn_status slice_copy(clrnn_model *m, const ox_node *n, ox_value *x, ox_value *dst, int nfix, const int *axes,
                               const int64_t *idx) {
    int64_t xs[CLRNN_MAX_DIMS], shape[CLRNN_MAX_DIMS], ss[CLRNN_MAX_DIMS], ds[CLRNN_MAX_DIMS], off = 0;
    clrnn_ox_strides(x->ndim, x->shape, xs);
    int r = 0;
    for (int i = 0, f = 0; i < x->ndim; ++i)
        if (f < nfix && axes[f] == i)
            off += idx[f++] * xs[i];
        else
            shape[r] = x->shape[i], ss[r++] = xs[i];
    const int dev = x->dtype == CLRNN_DTYPE_FLOAT32;
    clrnn_status st = dev ? clrnn_ox_alloc_device(m, n, dst, r, shape) : clrnn_ox_alloc_host(m, n, dst, r, shape);
    if (st != CLRNN_OK) return st;
    clrnn_ox_strides(r, shape, ds);
    return clrnn_ox_copy(m, n, dev, x, off, dst, 0, r, shape, ss, ds);
}

/* The other way: src goes into o (allocated) with o's axes[0..nfix) (ascending) fixed at idx[]. */
static clrnn_status place_copy(clrnn_model *m, const ox_node *n, ox_value *src, ox_value *o, int nfix, const int *axes,
                               const int64_t *idx) {
    int64_t os[CLRNN_MAX_DIMS], ds[CLRNN_MAX_DIMS], ss[CLRNN_MAX_DIMS], off = 0;
    clrnn_ox_strides(o->ndim, o->shape, os);
    for (int i = 0, f = 0, d = 0; i < o->ndim; ++i)
        if (f < nfix && axes[f] == i)
            off += idx[f++] * os[i];
        else
            ds[d++] = os[i];
    clrnn_ox_strides(src->ndim, src->shape, ss);
    return clrnn_ox_copy(m, n, o->dtype == CLRNN_DTYPE_FLOAT32, src, 0, o, off, src->ndim, src->shape, ss, ds);
}

static clrnn_status alloc_side(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape) {
    return v->dtype == CLRNN_DTYPE_FLOAT32 ? clrnn_ox_alloc_device(m, n, v, ndim, shape)
                                           : clrnn_ox_alloc_host(m, n, v, ndim, shape);
}

/* A value of `shape` with `extra` leading dimensions (lead[]) inserted at `at`. */
static void insert_dims(int ndim, const int64_t *shape, int at, int extra, const int64_t *lead, int64_t *out) {
    for (int i = 0, d = 0; i < ndim + extra; ++i) out[i] = i >= at && i < at + extra ? lead[i - at] : shape[d++];
}

static clrnn_status scan_run(clrnn_model *m, ox_node *n) {
    cf_state *s = n->state;
    ox_graph *b = s->body;
    const int v8 = m->opset < 9, first = v8 ? 1 : 0, nc = s->n_carried;
    clrnn_status st;
    /* sequence length T (and batch B in the batched form) from the scan inputs */
    int64_t T = -1, B = 1;
    for (int j = 0; j < s->n_scan_in; ++j) {
        const ox_value *x = ox_in(m, n, first + nc + j);
        int a;
        if (x->ndim < 1 + v8)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "scan input %d ('%s') has rank %d", j, x->name, x->ndim);
        if ((st = clrnn_ox_axis(n, s->in_axis[j], x->ndim, "scan_input_axes", &a)) != CLRNN_OK) return st;
        if ((T >= 0 && x->shape[a] != T) || (v8 && j > 0 && x->shape[0] != B))
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "scan input %d ('%s') has %lld steps along axis %d "
                                 "(scan input 0: %lld)", j, x->name, (long long)x->shape[a], a, (long long)T);
        T = x->shape[a];
        if (v8) B = x->shape[0];
    }
    for (int j = 0; v8 && j < nc; ++j) {
        const ox_value *x = ox_in(m, n, first + j);
        if (x->ndim < 1 || x->shape[0] != B)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "state variable %d ('%s') does not have the batch size "
                                 "%lld of the scan inputs as its first dimension", j, x->name, (long long)B);
    }
    ox_value *lens = v8 ? ox_in(m, n, 0) : NULL;
    if (lens) {
        if ((st = clrnn_ox_to_host(m, lens)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
        if (lens->count != (size_t)B)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "sequence_lens has %zu elements for a batch of %lld",
                                 lens->count, (long long)B);
        for (size_t i = 0; i < lens->count; ++i)
            if (((const int64_t *)lens->host)[i] != T)
                return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "sequence_lens[%zu] = %lld: Scan-8 runs full-length "
                                     "sequences only (%lld steps)", i, (long long)((const int64_t *)lens->host)[i],
                                     (long long)T);
    }
    if (T > 0 && B > 0 && (st = clrnn_ox_count_iterations(m, n, (uint64_t)(T * B))) != CLRNN_OK) return st;
    const int batch_axis[1] = {0};
    for (int64_t bi = 0; bi < B; ++bi) {
        /* state: the node's inputs (batched: row bi of each) */
        for (int j = 0; j < nc; ++j) {
            ox_value *x = ox_in(m, n, first + j), *bx = &m->values[b->inputs[j]];
            st = v8 ? slice_copy(m, n, x, bx, 1, batch_axis, &bi) : clrnn_ox_value_assign(m, n, bx, x);
            if (st != CLRNN_OK) return st;
        }
        for (int64_t t = 0; t < T; ++t) {
            for (int j = 0; j < s->n_scan_in; ++j) { /* the slice of step t, where the input lives */
                ox_value *x = ox_in(m, n, first + nc + j);
                int a;
                clrnn_ox_axis(n, s->in_axis[j], x->ndim, "scan_input_axes", &a);
                const int axes[2] = {0, a};
                const int64_t idx[2] = {bi, s->in_dir[j] ? T - 1 - t : t};
                if ((st = slice_copy(m, n, x, &m->values[b->inputs[nc + j]], 1 + v8, axes + !v8, idx + !v8)) != CLRNN_OK)
                    return st;
            }
            if ((st = clrnn_ox_graph_run(m, b)) != CLRNN_OK) return body_failed(n, st, t);
            for (int k = 0; k < s->n_scan; ++k) {
                ox_value *o = ox_out(m, n, nc + k), *so = &m->values[b->outputs[nc + k]];
                if (!o) continue;
                if ((st = step_shape(s, n, k, so, bi * T + t)) != CLRNN_OK) return st;
                if (so->ndim + 1 + v8 > CLRNN_MAX_DIMS)
                    return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "scan output %d stacks past rank %d", k, CLRNN_MAX_DIMS);
                int a;
                if ((st = clrnn_ox_axis(n, s->out_axis[k], so->ndim + 1 + v8, "scan_output_axes", &a)) != CLRNN_OK)
                    return st;
                if (bi == 0 && t == 0) {
                    int64_t shape[CLRNN_MAX_DIMS];
                    const int64_t lead[2] = {B, T};
                    insert_dims(so->ndim, so->shape, v8 ? 0 : a, 1 + v8, lead + !v8, shape);
                    if ((st = alloc_side(m, n, o, so->ndim + 1 + v8, shape)) != CLRNN_OK) return st;
                }
                const int axes[2] = {0, a};
                const int64_t idx[2] = {bi, s->out_dir[k] ? T - 1 - t : t};
                if ((st = place_copy(m, n, so, o, 1 + v8, axes + !v8, idx + !v8)) != CLRNN_OK) return st;
            }
            if ((st = carry_on(m, n, s, 0, 0)) != CLRNN_OK) return st;
        }
        for (int j = 0; v8 && j < nc; ++j) { /* batched: row bi of each final state */
            ox_value *o = ox_out(m, n, j), *bx = &m->values[b->inputs[j]];
            if (!o) continue;
            if (bi == 0) {
                int64_t shape[CLRNN_MAX_DIMS];
                const int64_t lead[1] = {B};
                if (bx->ndim + 1 > CLRNN_MAX_DIMS)
                    return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "state %d stacks past rank %d", j, CLRNN_MAX_DIMS);
                insert_dims(bx->ndim, bx->shape, 0, 1, lead, shape);
                if ((st = alloc_side(m, n, o, bx->ndim + 1, shape)) != CLRNN_OK) return st;
            } else if (!same_shape(bx->ndim, bx->shape, o->ndim - 1, o->shape + 1)) {
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "state variable %d of batch row %lld has another "
                                     "shape than row 0's", j, (long long)bi);
            }
            if ((st = place_copy(m, n, bx, o, 1, batch_axis, &bi)) != CLRNN_OK) return st;
        }
    }
    if (v8 && B == 0) /* no row ran: the states are the (empty) inputs */
        for (int j = 0; j < nc; ++j)
            if (ox_out(m, n, j) && (st = clrnn_ox_value_assign(m, n, ox_out(m, n, j), ox_in(m, n, first + j))) != CLRNN_OK)
                return st;
    if (T == 0 || B == 0) { /* scan outputs from the body's declared shapes */
        for (int k = 0; k < s->n_scan; ++k) {
            ox_value *o = ox_out(m, n, nc + k);
            if (!o) continue;
            if (!v8) {
                if ((st = empty_scan_out(m, n, s, k, nc + k, (int)s->out_axis[k])) != CLRNN_OK) return st;
                continue;
            }
            const int r = b->out_ndim[nc + k];
            int ok = r >= 0 && r + 2 <= CLRNN_MAX_DIMS;
            for (int i = 0; ok && i < r; ++i) ok = b->out_shape[nc + k][i] >= 0;
            if (!ok)
                return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the body ran no iteration and does not declare a static "
                                     "shape for scan output %d", k);
            int64_t shape[CLRNN_MAX_DIMS];
            const int64_t lead[2] = {B, T};
            insert_dims(r, b->out_shape[nc + k], 0, 2, lead, shape);
            if ((st = alloc_side(m, n, o, r + 2, shape)) != CLRNN_OK) return st;
        }
    }
    if (!v8) carry_out(m, n, s, 0);
    return CLRNN_OK;
}

static const char *const scan_attrs[] = {"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                                         "scan_output_axes", "scan_output_directions", "directions", NULL};
const ox_op clrnn_ox_op_scan = {"Scan", 0, 1 << 16, 1, 1 << 16, scan_attrs, scan_prepare, scan_run, cf_release};

/* ------------------------------------------------------------------------------------------
 * If
 * ---------------------------------------------------------------------------------------- */
static clrnn_status if_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    const Onnx__GraphProto *tg = NULL, *eg = NULL;
    clrnn_status st = graph_attr(n, p, "then_branch", &tg);
    if (st == CLRNN_OK) st = graph_attr(n, p, "else_branch", &eg);
    if (st != CLRNN_OK) return st;
    const ox_value *c = ox_in(m, n, 0);
    if (!c->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "cond ('%s') is %s, not bool", c->name,
                             clrnn_ox_dtype_name(c->dtype, c->is_bool));
    cf_state *s = clrnn_ox_new_state(n, sizeof *s);
    if (!s) return CLRNN_ERR_OUT_OF_MEMORY;
    if ((st = clrnn_ox_graph_build(m, n, "then_branch", tg, 0, NULL, NULL, &s->body)) != CLRNN_OK) return st;
    if ((st = clrnn_ox_graph_build(m, n, "else_branch", eg, 0, NULL, NULL, &s->other)) != CLRNN_OK) return st;
    n->reads_outer = s->body->reads_outer || s->other->reads_outer;
    if (s->body->n_outputs != n->n_out || s->other->n_outputs != n->n_out)
        return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "the branches have %d and %d outputs, the node %d",
                             s->body->n_outputs, s->other->n_outputs, n->n_out);
    for (int k = 0; k < n->n_out; ++k) {
        const ox_value *a = &m->values[s->body->outputs[k]], *b = &m->values[s->other->outputs[k]];
        if (a->dtype != b->dtype || a->is_bool != b->is_bool)
            return clrnn_ox_fail(n, CLRNN_ERR_CORRUPT_FILE, "output %d is %s in then_branch and %s in else_branch", k,
                                 clrnn_ox_dtype_name(a->dtype, a->is_bool), clrnn_ox_dtype_name(b->dtype, b->is_bool));
        ox_set_out_type(m, n, k, a->dtype, a->is_bool);
    }
    return CLRNN_OK;
}

static clrnn_status if_run(clrnn_model *m, ox_node *n) {
    cf_state *s = n->state;
    int64_t c = 0;
    clrnn_status st = scalar(m, n, ox_in(m, n, 0), "cond", &c);
    if (st != CLRNN_OK) return st;
    ox_graph *g = c ? s->body : s->other;
    if ((st = clrnn_ox_graph_run(m, g)) != CLRNN_OK) {
        char msg[1800];
        snprintf(msg, sizeof msg, "%s", clrnn_ox_detail());
        return clrnn_ox_fail(n, st, "%s: %s", c ? "then_branch" : "else_branch", msg);
    }
    for (int k = 0; k < n->n_out; ++k) {
        ox_value *o = ox_out(m, n, k);
        if (o && (st = clrnn_ox_value_assign(m, n, o, &m->values[g->outputs[k]])) != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

static const char *const if_attrs[] = {"then_branch", "else_branch", NULL};
const ox_op clrnn_ox_op_if = {"If", 1, 1, 1, 1 << 16, if_attrs, if_prepare, if_run, cf_release};
