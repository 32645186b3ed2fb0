/* Recurrent loops recognised at load and run on the fused engine (issue 11 item 2).
 *
 * Two forms: the Loop of tf2onnx's Keras conversions (below) and the Scan of TF1 dynamic_rnn
 * frozen graphs: carried (counter, [c], h, ...), the step input the body's scan input, gates from
 * MatMul(Concat(x_t, h), kernel) (TF1 cells), a step skipped where GreaterOrEqual(counter,
 * sequence_length) (the lengths become clrnn's mask; the output is zeros there), every
 * iteration of the scanned input run (a Scan has no condition). LSTMCell's peepholes (c ⊙ p in
 * the gates), projection (h = m · P) and clips (Min/Max or Clip of c and of h) map onto clrnn's
 * own options. A MultiRNNCell body holds several cells, each reading the h_new of the one below
 * at the same step: it runs as one clrnn rnn per cell, one after the other over the sequence
 * (the same values: a cell's step t needs only step t of the cell below). tf.function writes
 * the TF1 loop as a Loop that stops at the longest sequence: the fused RNN then runs that prefix.
 *
 * tf2onnx emits a Keras SimpleRNN, a Keras 3 GRU and every masked Keras layer as an ONNX Loop
 * whose body is one step of the cell:
 *
 *   carried (time, [output], h, [c], T, W, R, b ...);  x_t = Gather(X, time), mask_t = Gather(M, time)
 *   gates = MatMul(x_t, W) + MatMul(h, R) + b → Split → activations → h_new (c_new)
 *   h = Cast(mask_t) * h_new + Cast(Not mask_t) * h       (with a mask: h, c and the output)
 *   cond = Less(time + 1, T) [And Less(iteration, T)];    scan output = the step's output
 *
 * where X [T, N, I] and M [T, N, 1] are OUTER values (referenced by name, not Loop inputs). Such a
 * loop is one clrnn_rnn_forward over X, time-major, with the Keras mask semantics (state carried
 * through masked steps, output carried, zeros before the first computed step).
 *
 * The recogniser proves what it relies on from the body's structure, never from names:
 *   - each carried value's role: time (output = input + 1), loop-invariant (output = input), h, c,
 *     the carried output; every other carried value makes the loop unrecognised;
 *   - the cell, by matching h_new (and c_new) as expression trees: Add/Mul commutative, Identity
 *     skipped, gate pre-activations as linear forms x·W[:, window] + h·R[:, window] + b[window]
 *     over constant matrices (body initializers, Constant nodes, outer constants, or carried
 *     loop-invariants initialised by constants) through Split / Slice / Squeeze. The weights handed
 *     to clrnn are rebuilt from those windows, so any gate wiring that the formula reads is taken as
 *     written, and a formula that is not one of the cells is not fused;
 *   - the mask: every non-invariant carried value selected by the same mask_t, or none;
 *   - the scan output is h_new (no mask) or the carried output's select (mask);
 *   - the trip logic: cond is a conjunction of Less(i, b) with i the time (+1) or the iteration
 *     counter and b loop-invariant. The trip count this gives is evaluated at run time from the
 *     actual values and must equal X's length, with time starting at 0 (else the run is refused
 *     with a message saying why: a generic Loop would be needed).
 * Anything else: not fused; the Loop is left to the generic operator. Each Loop/Scan node gets a
 * report (clrnn_model_get_loop_info) saying what it became or why it was not fused. */
#include "onnx_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_ARR 96
#define FZ_DEPTH 24
/* Entries of the body's lists the matcher may look at in all: a hostile body (a DAG of Adds
 * that share operands, 10^5 nodes) cannot make recognition slow; real bodies take ~10^4. */
#define FZ_WORK ((size_t)20 << 20)

typedef struct fz_win {
    const float *d; /* row-major matrix (or vector: rows 1; a scalar broadcast: rows 0) */
    int64_t rows, ld;
    int64_t c0, w; /* the column window */
} fz_win;

/* A linear form of a [N, w] value: x_t·x + h·h + (r ⊙ h)·rh + Σ b (any part may be absent). */
typedef struct fz_lin {
    int64_t w; /* 0: a scalar bias only (broadcast) */
    int hx, hh, hrh, nb;
    fz_win x, h, rh, b[4];
    /* MatMul(Concat(x_t, h), K) (TF1): K's rows split between x and h once the width is known */
    int hcat, cat_x_first, cat_rh;
    fz_win cat;
    /* TF1 peepholes: c_prev ⊙ p (gates i, f), c_new ⊙ p (gate o) */
    int hpc, hpn;
    fz_win pc, pn;
} fz_lin;

/* An activation's argument: `name`, or (split) output oi of Split(name). */
typedef struct fz_arg {
    const char *name;
    const Onnx__NodeProto *split;
    int oi;
} fz_arg;

enum { IDX_UNSET = 0, IDX_TIME = 1, IDX_ITER = 2 };
enum { LHS_ITER = 0, LHS_TIME = 1, LHS_TIME1 = 2 };

typedef struct fz_term {
    int lhs;          /* LHS_* */
    int rhs_k;        /* loop-invariant carried value, or -1 */
    int rhs_val;      /* outer value (model value index), or -1 */
    double rhs_const; /* else: a constant */
} fz_term;

/* What a recognised loop runs. */
/* One cell of the body (a TF1 MultiRNNCell has several, each reading the one below). */
typedef struct fz_layer {
    clrnn_cell cell;
    int lbr, I, H, G;
    clrnn_activation act[3];
    float *W, *R, *B; /* Keras layout: [I, G*H], [Hr, G*H], [G*H] or (lbr) [2, G*H] */
    int Hr, peephole;  /* state width (P with a projection, else H) */
    float *peep, *proj; /* TF1 layout: [3H] (w_i, w_f, w_o), [H, P] */
    float cell_clip, proj_clip;
    int k_h, k_c;      /* its carried h and c */
} fz_layer;

#define FZ_MAX_LAYERS 4

typedef struct fz_plan {
    int L;
    fz_layer ly[FZ_MAX_LAYERS];
    int K, S;         /* carried values, scan outputs */
    int k_time, k_out; /* k_time: the counter the step reads by (-1: none, a Scan without mask) */
    /* the carried output's value at a masked step: its previous value (Keras), or zeros
     * (Bidirectional returning sequences), read from the loop-invariant carried value zero_k or
     * the outer value zero_val, each checked to be zeros at run time */
    int out_zero, zero_k, zero_val;
    int idx;          /* IDX_TIME or IDX_ITER: what the Gathers index by */
    int scan;         /* a Scan node (inputs: K initial values, X; no trip count or condition) */
    int ni;           /* node input of carried value 0: 2 (Loop) or 0 (Scan) */
    int x_val, mask_val;
    int len_val;      /* TF1 sequence_length [N]: a step is skipped where time >= len */
    unsigned char counter[64]; /* per carried value: output = input + 1 */
    int nterm;
    fz_term term[2];
    unsigned char pass[64]; /* per carried value: loop-invariant */
    int reversed;
} fz_plan;

typedef struct fz {
    clrnn_model *m;
    const Onnx__GraphProto *g;
    const Onnx__NodeProto *loop;
    int K;
    int bi, bo, ni; /* carried value 0: body input, body output, node input */
    int scan;
    const char *scan_x; /* Scan: the body's scan input */
    const char *layer_x; /* matching a cell above the first: its input, the h_new below */
    const unsigned char *counter;
    const char *iter_in, *time_in, *h_in, *c_in;
    const char *peep_in, *peep_new; /* while matching LSTM gates: c_prev and c_new */
    int64_t hr; /* while matching a projected LSTM's gates: the state width P */
    int idx, x_src, mask_src, len_src;
    clrnn_array arr[FZ_MAX_ARR];
    const char *arr_name[FZ_MAX_ARR];
    int n_arr;
    size_t work_done, *work; /* work = &work_done: counted through const pointers too */
    char why[200];
} fz;

/* Counts n more entries looked at; 0 once the budget is spent (then nothing more matches). */
static int work(const fz *z, size_t n) {
    if (*z->work > FZ_WORK) return 0;
    *z->work += n + 1;
    return 1;
}

static int nope(fz *z, const char *why) {
    if (!z->why[0]) snprintf(z->why, sizeof z->why, "%s", why);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * The body graph
 * ---------------------------------------------------------------------------------------- */
static int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static const Onnx__NodeProto *prod(const fz *z, const char *name, int *out_index) {
    if (!name || !*name || !work(z, z->g->n_node)) return NULL;
    for (size_t i = 0; i < z->g->n_node; ++i) {
        const Onnx__NodeProto *p = z->g->node[i];
        for (size_t o = 0; o < p->n_output; ++o)
            if (same(p->output[o], name)) {
                if (out_index) *out_index = (int)o;
                return p;
            }
    }
    return NULL;
}

static int is_op(const Onnx__NodeProto *p, const char *op) {
    return p && same(p->op_type, op) && (!p->domain || !*p->domain || !strcmp(p->domain, "ai.onnx"));
}

static const char *sid(const fz *z, const char *name) {
    for (int i = 0; i < FZ_DEPTH; ++i) {
        const Onnx__NodeProto *p = prod(z, name, NULL);
        if (!is_op(p, "Identity") || p->n_input != 1) return name;
        name = p->input[0];
    }
    return name;
}

static int body_input(const fz *z, const char *name) {
    if (!work(z, z->g->n_input)) return -1;
    for (size_t i = 0; i < z->g->n_input; ++i)
        if (same(z->g->input[i]->name, name)) return (int)i;
    return -1;
}

static const Onnx__TensorProto *body_init(const fz *z, const char *name) {
    if (!work(z, z->g->n_initializer)) return NULL;
    for (size_t i = 0; i < z->g->n_initializer; ++i)
        if (same(z->g->initializer[i]->name, name)) return z->g->initializer[i];
    return NULL;
}

/* Carried value k whose body input this is, else -1. */
static int carried_in(const fz *z, const char *name) {
    const int i = body_input(z, name);
    return i >= z->bi && i < z->bi + z->K ? i - z->bi : -1;
}

static const char *body_out(const fz *z, int k) { return z->g->output[z->bo + k]->name; }
static const char *body_in(const fz *z, int k) { return z->g->input[z->bi + k]->name; }

static int passthrough(const fz *z, int k) { return same(sid(z, body_out(z, k)), body_in(z, k)); }

/* The carried value k's initial value (a node input). */
static int init_value(const fz *z, int k) { return clrnn_ox_find_value(z->m, z->loop->input[z->ni + k]); }

/* The outer value a body name refers to (defined neither in the body nor as a body input). */
static int outer_value(const fz *z, const char *name) {
    if (!name || !*name || body_input(z, name) >= 0 || body_init(z, name) || prod(z, name, NULL)) return -1;
    return clrnn_ox_find_value(z->m, name);
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *p, const char *name) { return clrnn_ox_attr(p, name); }

/* The attribute `name` of p in *a (NULL when absent); 0 when it is present with another type. */
static int attr_typed(const Onnx__NodeProto *p, const char *name, Onnx__AttributeProto__AttributeType type,
                      const Onnx__AttributeProto **a) {
    *a = attr(p, name);
    return !*a || (*a)->type == type;
}

static int attr_i(const Onnx__NodeProto *p, const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a;
    if (!attr_typed(p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a)) return 0;
    *out = a ? a->i : def;
    return 1;
}

static int attr_f(const Onnx__NodeProto *p, const char *name, float def, float *out) {
    const Onnx__AttributeProto *a;
    if (!attr_typed(p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a)) return 0;
    *out = a ? a->f : def;
    return 1;
}

/* Only the attributes listed may be present (an unknown one could change the meaning). */
static int attrs_only(const Onnx__NodeProto *p, const char *const *ok) {
    for (size_t i = 0; i < p->n_attribute; ++i) {
        int known = 0;
        for (const char *const *k = ok; *k; ++k) known |= same(p->attribute[i]->name, *k);
        if (!known || (p->attribute[i]->ref_attr_name && *p->attribute[i]->ref_attr_name)) return 0;
    }
    return 1;
}
static const char *const no_attrs[] = {NULL};

/* ------------------------------------------------------------------------------------------
 * Constants: body initializers, Constant nodes, outer constants, carried loop-invariants whose
 * initial value is a constant
 * ---------------------------------------------------------------------------------------- */
static const clrnn_array *fz_const(fz *z, const char *name) {
    name = sid(z, name);
    for (int i = 0; i < z->n_arr; ++i)
        if (same(z->arr_name[i], name)) return &z->arr[i];
    if (z->n_arr == FZ_MAX_ARR) return NULL;
    clrnn_array *a = &z->arr[z->n_arr];
    memset(a, 0, sizeof *a);
    const Onnx__TensorProto *t = body_init(z, name);
    const Onnx__NodeProto *p = t ? NULL : prod(z, name, NULL);
    if (!t && is_op(p, "Constant") && p->n_attribute == 1 && same(p->attribute[0]->name, "value") && p->attribute[0]->t)
        t = p->attribute[0]->t;
    int is_bool;
    if (t) {
        if (clrnn_ox_tensor_decode(t, "a loop body constant", a, &is_bool) != CLRNN_OK) {
            clrnn_clear_error();
            return NULL;
        }
    } else {
        int v = -1;
        const int k = carried_in(z, name);
        if (k >= 0 && passthrough(z, k))
            v = init_value(z, k);
        else if (k < 0 && !p)
            v = outer_value(z, name);
        if (v < 0) return NULL;
        ox_value *ov = &z->m->values[v];
        if (!ov->is_const || !ov->has_data) return NULL;
        if (clrnn_ox_to_host(z->m, ov) != CLRNN_OK) {
            clrnn_clear_error();
            return NULL;
        }
        /* a copy: the recogniser's arrays are all owned and freed alike */
        const size_t bytes = ov->count * clrnn_dtype_size(ov->dtype);
        if (!(a->data = malloc(bytes ? bytes : 1))) return NULL;
        ox_memcpy(a->data, ov->host, bytes);
        a->dtype = ov->dtype;
        a->ndim = ov->ndim;
        memcpy(a->shape, ov->shape, sizeof a->shape);
        a->count = ov->count;
    }
    z->arr_name[z->n_arr++] = name;
    return a;
}

static int fz_ints(fz *z, const char *name, int64_t *out, int cap) {
    const clrnn_array *a = fz_const(z, name);
    if (!a || (a->dtype != CLRNN_DTYPE_INT32 && a->dtype != CLRNN_DTYPE_INT64) || a->ndim > 1 || a->count > (size_t)cap)
        return -1;
    for (size_t i = 0; i < a->count; ++i)
        out[i] = a->dtype == CLRNN_DTYPE_INT32 ? ((const int32_t *)a->data)[i] : ((const int64_t *)a->data)[i];
    return (int)a->count;
}

/* A constant of one element, any numeric type. */
static int fz_scalar(fz *z, const char *name, double *out) {
    const clrnn_array *a = fz_const(z, name);
    if (!a || a->count != 1) return 0;
    switch (a->dtype) {
    case CLRNN_DTYPE_FLOAT32: *out = ((const float *)a->data)[0]; break;
    case CLRNN_DTYPE_INT32: *out = ((const int32_t *)a->data)[0]; break;
    case CLRNN_DTYPE_INT64: *out = (double)((const int64_t *)a->data)[0]; break;
    default: return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * Windows of constant matrices
 * ---------------------------------------------------------------------------------------- */
/* Slice (opset >= 10 input form, steps 1) of a rank-2 tensor: axis 0 whole, the columns [*c0, +*w)
 * of cols. rows < 0: unknown (the batch): axis 0 must then run from 0 to "the end" (>= 2^31 - 1). */
static int slice_cols(fz *z, const Onnx__NodeProto *p, int64_t rows, int64_t cols, int64_t *c0, int64_t *w) {
    if (z->m->opset < 10 || p->n_input < 3 || p->n_input > 5 || !attrs_only(p, no_attrs)) return 0;
    int64_t st[2], en[2], ax[2] = {0, 1}, sp[2] = {1, 1};
    const int ns = fz_ints(z, p->input[1], st, 2), ne = fz_ints(z, p->input[2], en, 2);
    if (ns < 1 || ne != ns) return 0;
    if (p->n_input > 3 && *p->input[3] && fz_ints(z, p->input[3], ax, 2) != ns) return 0;
    if (p->n_input > 4 && *p->input[4] && fz_ints(z, p->input[4], sp, 2) != ns) return 0;
    int64_t lo[2] = {0, 0}, hi[2] = {rows, cols};
    int seen[2] = {0, 0};
    for (int i = 0; i < ns; ++i) {
        const int64_t a = ax[i] < 0 ? ax[i] + 2 : ax[i];
        if (a < 0 || a > 1 || seen[a] || sp[i] != 1) return 0;
        seen[a] = 1;
        if (a == 0 && rows < 0) {
            if (st[i] != 0 || en[i] < INT32_MAX) return 0;
            continue;
        }
        const int64_t dim = a ? cols : rows;
        int64_t s = st[i] < 0 ? st[i] + dim : st[i], e = en[i] < 0 ? en[i] + dim : en[i];
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        lo[a] = s;
        hi[a] = e;
    }
    if (rows >= 0 && (lo[0] != 0 || hi[0] != rows)) return 0;
    if (hi[1] <= lo[1]) return 0;
    *c0 = lo[1];
    *w = hi[1] - lo[1];
    return 1;
}

/* A float32 constant 2-D matrix, or a column Slice of one. */
static int fz_matwin(fz *z, const char *name, fz_win *win) {
    name = sid(z, name);
    const clrnn_array *a = fz_const(z, name);
    if (a) {
        if (a->dtype != CLRNN_DTYPE_FLOAT32 || a->ndim != 2 || a->shape[0] < 1 || a->shape[1] < 1) return 0;
        *win = (fz_win){a->data, a->shape[0], a->shape[1], 0, a->shape[1]};
        return 1;
    }
    const Onnx__NodeProto *p = prod(z, name, NULL);
    if (!is_op(p, "Slice") || !fz_matwin(z, p->input[0], win) || win->c0 != 0 || win->w != win->ld) return 0;
    return slice_cols(z, p, win->rows, win->ld, &win->c0, &win->w);
}

/* A float32 constant vector [C] or [1, C]; a row of a constant [R, C] split along axis 0 into
 * rows (then optionally squeezed on axis 0). */
static int fz_vecwin(fz *z, const char *name, fz_win *win) {
    name = sid(z, name);
    const clrnn_array *a = fz_const(z, name);
    if (a) {
        if (a->dtype == CLRNN_DTYPE_FLOAT32 && a->ndim == 0 && a->count == 1) { /* broadcast (TF1 forget_bias) */
            *win = (fz_win){a->data, 0, 0, 0, 0};
            return 1;
        }
        if (a->dtype != CLRNN_DTYPE_FLOAT32 || a->count < 1 || !(a->ndim == 1 || (a->ndim == 2 && a->shape[0] == 1)))
            return 0;
        *win = (fz_win){a->data, 1, (int64_t)a->count, 0, (int64_t)a->count};
        return 1;
    }
    int oi = 0;
    const Onnx__NodeProto *p = prod(z, name, &oi);
    if (is_op(p, "Squeeze") && p->n_input >= 1) {
        int64_t axes[2];
        int na;
        if (z->m->opset >= 13) {
            if (!attrs_only(p, no_attrs) || p->n_input != 2 || (na = fz_ints(z, p->input[1], axes, 2)) != 1) return 0;
        } else {
            static const char *const ok[] = {"axes", NULL};
            const Onnx__AttributeProto *at = attr(p, "axes");
            if (!attrs_only(p, ok) || p->n_input != 1 || !at || at->n_ints != 1) return 0;
            axes[0] = at->ints[0];
        }
        if (axes[0] != 0 && axes[0] != -2) return 0;
        int so = 0;
        const Onnx__NodeProto *s = prod(z, sid(z, p->input[0]), &so);
        if (!is_op(s, "Split")) return 0;
        p = s;
        oi = so;
    }
    if (!is_op(p, "Split")) return 0;
    static const char *const split_ok[] = {"axis", "split", "num_outputs", NULL};
    int64_t axis;
    const clrnn_array *m2 = fz_const(z, p->input[0]);
    if (!attrs_only(p, split_ok) || !attr_i(p, "axis", 0, &axis) || axis != 0 || !m2 || m2->dtype != CLRNN_DTYPE_FLOAT32 ||
        m2->ndim != 2 || (int64_t)p->n_output != m2->shape[0] || m2->shape[1] < 1)
        return 0;
    /* equal parts of one row each (no sizes, or all sizes 1) */
    if (p->n_input > 1 && *p->input[1]) {
        int64_t sz[16];
        const int ns = fz_ints(z, p->input[1], sz, 16);
        if (ns != (int)p->n_output) return 0;
        for (int i = 0; i < ns; ++i)
            if (sz[i] != 1) return 0;
    }
    const Onnx__AttributeProto *sa = attr(p, "split");
    for (size_t i = 0; sa && i < sa->n_ints; ++i)
        if (sa->ints[i] != 1 || sa->n_ints != p->n_output) return 0;
    *win = (fz_win){(const float *)m2->data + (size_t)oi * (size_t)m2->shape[1], 1, m2->shape[1], 0, m2->shape[1]};
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * Gathers of the step: X[t] and mask[t]
 * ---------------------------------------------------------------------------------------- */
/* The counter the step reads by: the first carried counter asked about becomes it. */
static int is_time(fz *z, const char *name) {
    if (z->time_in) return same(name, z->time_in);
    const int k = carried_in(z, name);
    if (k < 0 || !z->counter[k]) return 0;
    z->time_in = body_in(z, k);
    return 1;
}

static int gather_step(fz *z, const char *name, int want_bool, int *src) {
    const Onnx__NodeProto *p = prod(z, sid(z, name), NULL);
    static const char *const ok[] = {"axis", NULL};
    int64_t axis;
    if (!is_op(p, "Gather") || p->n_input != 2 || !attrs_only(p, ok) || !attr_i(p, "axis", 0, &axis) || axis != 0)
        return 0;
    const char *ix = sid(z, p->input[1]);
    const int kind = is_time(z, ix) ? IDX_TIME : z->iter_in && same(ix, z->iter_in) ? IDX_ITER : IDX_UNSET;
    if (kind == IDX_UNSET || (z->idx != IDX_UNSET && z->idx != kind)) return 0;
    const int v = outer_value(z, p->input[0]);
    if (v < 0) return 0;
    const ox_value *ov = &z->m->values[v];
    if (want_bool ? !(ov->dtype == CLRNN_DTYPE_UINT8 && ov->is_bool) : (ov->dtype != CLRNN_DTYPE_FLOAT32 || ov->is_bool))
        return 0;
    z->idx = kind;
    *src = v;
    return 1;
}

static int is_x_t(fz *z, const char *name) {
    int v;
    if (z->layer_x) return same(sid(z, name), z->layer_x);
    if (z->scan) return same(sid(z, name), z->scan_x);
    if (!gather_step(z, name, 0, &v)) return 0;
    if (z->x_src >= 0 && z->x_src != v) return 0;
    z->x_src = v;
    return 1;
}

/* The step's mask: +1 when true means "compute this step" (Keras: Gather(mask, t) of a bool
 * [T, N, 1]), -1 when true means "skip it" (TF1: Reshape(GreaterOrEqual(t, len), [-1, 1]) of the
 * sequence lengths [N]), 0 when it is neither. One source per body. */
static int step_mask(fz *z, const char *name) {
    int v;
    name = sid(z, name);
    if (gather_step(z, name, 1, &v)) {
        if (z->len_src >= 0 || (z->mask_src >= 0 && z->mask_src != v)) return 0;
        z->mask_src = v;
        return 1;
    }
    const Onnx__NodeProto *p = prod(z, name, NULL);
    if (is_op(p, "Reshape") && p->n_input == 2 && attrs_only(p, no_attrs)) {
        int64_t sh[2];
        if (fz_ints(z, p->input[1], sh, 2) != 2 || sh[0] != -1 || sh[1] != 1) return 0;
        p = prod(z, sid(z, p->input[0]), NULL);
        const char *t, *len;
        if (!is_op(p, "GreaterOrEqual") || p->n_input != 2 || !attrs_only(p, no_attrs)) return 0;
        t = sid(z, p->input[0]);
        len = sid(z, p->input[1]);
        const int kl = carried_in(z, len);
        v = kl >= 0 ? (passthrough(z, kl) ? init_value(z, kl) : -1) : outer_value(z, len);
        if (v < 0 || !is_time(z, t) || z->mask_src >= 0 || (z->len_src >= 0 && z->len_src != v)) return 0;
        const ox_value *lv = &z->m->values[v];
        if (lv->is_bool || (lv->dtype != CLRNN_DTYPE_INT32 && lv->dtype != CLRNN_DTYPE_INT64)) return 0;
        z->len_src = v;
        return -1;
    }
    return 0;
}

/* Cast(m) or Cast(Not(m)) to float of the step mask: +1 when it is 1 at computed steps, -1 when
 * it is 1 at skipped steps, 0 when it is no such indicator. */
static int indicator(fz *z, const char *name) {
    const Onnx__NodeProto *p = prod(z, sid(z, name), NULL);
    static const char *const ok[] = {"to", "saturate", NULL};
    int64_t to;
    if (!is_op(p, "Cast") || p->n_input != 1 || !attrs_only(p, ok) || !attr_i(p, "to", 0, &to) || to != OX_FLOAT) return 0;
    const char *in = sid(z, p->input[0]);
    const Onnx__NodeProto *q = prod(z, in, NULL);
    if (is_op(q, "Not") && q->n_input == 1 && attrs_only(q, no_attrs)) return -step_mask(z, q->input[0]);
    return step_mask(z, in);
}

/* Two-input commutative node `op`: its inputs in *a, *b. */
static int binary(fz *z, const char *name, const char *op, const char **a, const char **b) {
    const Onnx__NodeProto *p = prod(z, sid(z, name), NULL);
    if (!is_op(p, op) || p->n_input != 2 || p->n_output != 1 || !attrs_only(p, no_attrs)) return 0;
    *a = sid(z, p->input[0]);
    *b = sid(z, p->input[1]);
    return 1;
}

/* select(mask_t, new, old): Where(mask_t, new, old) or Cast(m)*new + Cast(Not m)*old, any order. */
static int is_select(fz *z, const char *name, const char **nw, const char **old) {
    const Onnx__NodeProto *p = prod(z, sid(z, name), NULL);
    int pol;
    if (is_op(p, "Where") && p->n_input == 3 && attrs_only(p, no_attrs) && (pol = step_mask(z, p->input[0])) != 0) {
        *nw = sid(z, p->input[pol > 0 ? 1 : 2]);
        *old = sid(z, p->input[pol > 0 ? 2 : 1]);
        return 1;
    }
    const char *t[2], *f[2][2];
    if (!binary(z, name, "Add", &t[0], &t[1]) || !binary(z, t[0], "Mul", &f[0][0], &f[0][1]) ||
        !binary(z, t[1], "Mul", &f[1][0], &f[1][1]))
        return 0;
    for (int a = 0; a < 2; ++a)     /* which Add term holds the mask */
        for (int i = 0; i < 2; ++i) /* which factor of it is the Cast */
            for (int j = 0; j < 2; ++j)
                if (indicator(z, f[a][i]) > 0 && indicator(z, f[1 - a][j]) < 0) {
                    *nw = f[a][1 - i];
                    *old = f[1 - a][1 - j];
                    return 1;
                }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Linear forms of the gate pre-activations
 * ---------------------------------------------------------------------------------------- */
static int lin_narrow(fz_lin *L, int64_t off, int64_t w) {
    if (off < 0 || w < 1 || off + w > L->w) return 0;
    fz_win *ws[10] = {&L->x, &L->h, &L->rh, &L->cat, &L->b[0], &L->b[1], &L->b[2], &L->b[3], &L->pc, &L->pn};
    const int have[10] = {L->hx, L->hh, L->hrh, L->hcat, L->nb > 0, L->nb > 1, L->nb > 2, L->nb > 3, L->hpc, L->hpn};
    for (int i = 0; i < 10; ++i)
        if (have[i] && ws[i]->rows > 0) {
            ws[i]->c0 += off;
            ws[i]->w = w;
        }
    L->w = w;
    return 1;
}

static int lin_add(fz_lin *a, const fz_lin *b) {
    if (!a->w) a->w = b->w;
    const int ma = a->hx + a->hh + a->hrh, mb = b->hx + b->hh + b->hrh;
    if ((b->w && a->w != b->w) || (a->hx && b->hx) || (a->hh && b->hh) || (a->hrh && b->hrh) || a->nb + b->nb > 4 ||
        (a->hcat && (b->hcat || mb)) || (b->hcat && ma))
        return 0;
    if ((a->hpc && b->hpc) || (a->hpn && b->hpn)) return 0;
    if (b->hcat) a->hcat = 1, a->cat = b->cat, a->cat_x_first = b->cat_x_first, a->cat_rh = b->cat_rh;
    if (b->hpc) a->hpc = 1, a->pc = b->pc;
    if (b->hpn) a->hpn = 1, a->pn = b->pn;
    if (b->hx) a->x = b->x, a->hx = 1;
    if (b->hh) a->h = b->h, a->hh = 1;
    if (b->hrh) a->rh = b->rh, a->hrh = 1;
    for (int i = 0; i < b->nb; ++i) a->b[a->nb++] = b->b[i];
    return 1;
}

static int split_narrow(fz *z, const Onnx__NodeProto *p, int oi, fz_lin *L);

/* The linear form of `name`; `r` (may be NULL): the GRU reset gate, for MatMul(r * h, R). */
static int lin_of(fz *z, const char *name, const char *r, fz_lin *L, int depth) {
    memset(L, 0, sizeof *L);
    if (depth > FZ_DEPTH) return 0;
    name = sid(z, name);
    fz_win w;
    if (fz_vecwin(z, name, &w)) {
        L->w = w.w;
        L->b[L->nb++] = w;
        return 1;
    }
    int oi = 0;
    const Onnx__NodeProto *p = prod(z, name, &oi);
    if (!p) return 0;
    if (is_op(p, "MatMul") && p->n_input == 2 && attrs_only(p, no_attrs)) {
        const char *a = sid(z, p->input[0]), *f0, *f1;
        if (!fz_matwin(z, p->input[1], &w)) return 0;
        L->w = w.w;
        const Onnx__NodeProto *cp = prod(z, a, NULL);
        static const char *const cat_ok[] = {"axis", NULL};
        int64_t cax;
        if (is_op(cp, "Concat") && cp->n_input == 2 && attrs_only(cp, cat_ok) && attr_i(cp, "axis", 0, &cax) &&
            (cax == 1 || cax == -1)) { /* [x_t, h] (or [x_t, r ⊙ h]) · K */
            for (int xf = 0; xf < 2; ++xf) {
                const char *px = sid(z, cp->input[xf ? 0 : 1]), *ph = sid(z, cp->input[xf ? 1 : 0]);
                const int rh = r && binary(z, ph, "Mul", &f0, &f1) &&
                               ((same(f0, r) && same(f1, z->h_in)) || (same(f1, r) && same(f0, z->h_in)));
                if (is_x_t(z, px) && (rh || same(ph, z->h_in))) {
                    L->hcat = 1, L->cat = w, L->cat_x_first = xf, L->cat_rh = rh;
                    return 1;
                }
            }
            return 0;
        }
        if (is_x_t(z, a)) L->x = w, L->hx = 1;
        else if (same(a, z->h_in)) L->h = w, L->hh = 1;
        else if (r && binary(z, a, "Mul", &f0, &f1) && ((same(f0, r) && same(f1, z->h_in)) || (same(f1, r) && same(f0, z->h_in))))
            L->rh = w, L->hrh = 1;
        else
            return 0;
        return 1;
    }
    const char *m0, *m1;
    if ((z->peep_in || z->peep_new) && binary(z, name, "Mul", &m0, &m1)) { /* a peephole: c ⊙ p */
        for (int o = 0; o < 2; ++o) {
            const char *c = o ? m1 : m0, *pv = o ? m0 : m1;
            const int in = same(c, z->peep_in), nw = same(c, z->peep_new);
            if ((in || nw) && fz_vecwin(z, pv, &w) && w.rows > 0) {
                L->w = w.w;
                if (in) L->pc = w, L->hpc = 1;
                else L->pn = w, L->hpn = 1;
                return 1;
            }
        }
        return 0;
    }
    if (is_op(p, "Add") && p->n_input == 2 && attrs_only(p, no_attrs)) {
        fz_lin b;
        return lin_of(z, p->input[0], r, L, depth + 1) && lin_of(z, p->input[1], r, &b, depth + 1) && lin_add(L, &b);
    }
    if (is_op(p, "Split") && p->n_input >= 1) return lin_of(z, p->input[0], r, L, depth + 1) && split_narrow(z, p, oi, L);
    if (is_op(p, "Slice")) {
        int64_t c0, cw;
        return lin_of(z, p->input[0], r, L, depth + 1) && slice_cols(z, p, -1, L->w, &c0, &cw) && lin_narrow(L, c0, cw);
    }
    return 0;
}

/* Output oi of a Split along the last axis of a rank-2 value of linear form L. */
static int split_narrow(fz *z, const Onnx__NodeProto *p, int oi, fz_lin *L) {
    {
        static const char *const ok[] = {"axis", "split", "num_outputs", NULL};
        int64_t axis;
        if (!attrs_only(p, ok) || !attr_i(p, "axis", 0, &axis) || (axis != 1 && axis != -1) || !L->w) return 0;
        int64_t sz[16];
        int ns = -1;
        const Onnx__AttributeProto *sa = attr(p, "split");
        if (p->n_input > 1 && *p->input[1]) {
            if ((ns = fz_ints(z, p->input[1], sz, 16)) < 0) return 0; /* sizes not constant */
        } else if (sa) {
            if (sa->n_ints > 16) return 0;
            ns = (int)sa->n_ints;
            for (int i = 0; i < ns; ++i) sz[i] = sa->ints[i];
        }
        const int n_out = (int)p->n_output;
        if (ns < 0) { /* equal parts */
            if (n_out < 1 || n_out > 16 || L->w % n_out) return 0;
            ns = n_out;
            for (int i = 0; i < ns; ++i) sz[i] = L->w / n_out;
        }
        if (ns != n_out) return 0;
        int64_t off = 0, tot = 0;
        for (int i = 0; i < ns; ++i) {
            if (sz[i] < 0) return 0;
            if (i < oi) off += sz[i];
            tot += sz[i];
        }
        if (tot != L->w) return 0;
        return lin_narrow(L, off, sz[oi]);
    }
}

/* Splits a [x_t, h]·K form's rows now that the state width is known (hr, else the form's width):
 * I = rows - H. */
static int lin_resolve(fz_lin *L, int64_t hr) {
    if (!L->hcat) return 1;
    const int64_t H = hr ? hr : L->w, rows = L->cat.rows, I = rows - H;
    if (H < 1 || I < 1) return 0;
    fz_win xw = L->cat, hw = L->cat;
    xw.rows = I;
    hw.rows = H;
    if (L->cat_x_first) hw.d += H > 0 ? (size_t)I * (size_t)L->cat.ld : 0;
    else xw.d += (size_t)H * (size_t)L->cat.ld;
    L->x = xw, L->hx = 1;
    if (L->cat_rh) L->rh = hw, L->hrh = 1;
    else L->h = hw, L->hh = 1;
    L->hcat = 0;
    return 1;
}

static int lin_arg(fz *z, const fz_arg *a, const char *r, fz_lin *L) {
    return lin_of(z, a->name, r, L, 0) && (!a->split || split_narrow(z, a->split, a->oi, L)) && lin_resolve(L, z->hr);
}

/* A gate: x·W + h·R (+ biases), width H. */
static int lin_gate(fz *z, const fz_arg *a, fz_lin *L) {
    return lin_arg(z, a, NULL, L) && L->hx && L->hh && !L->hrh;
}

/* ------------------------------------------------------------------------------------------
 * Activations
 * ---------------------------------------------------------------------------------------- */
/* p as an activation clrnn has (attributes included). */
static int act_node(const Onnx__NodeProto *p, clrnn_activation *a) {
    if (!p || p->n_input != 1 || p->n_output != 1) return 0;
    static const char *const alpha[] = {"alpha", NULL}, *const ab[] = {"alpha", "beta", NULL};
    float al, be;
    if (is_op(p, "Sigmoid") && attrs_only(p, no_attrs)) *a = (clrnn_activation){CLRNN_ACT_SIGMOID, 0, 0};
    else if (is_op(p, "Tanh") && attrs_only(p, no_attrs)) *a = (clrnn_activation){CLRNN_ACT_TANH, 0, 0};
    else if (is_op(p, "Relu") && attrs_only(p, no_attrs)) *a = (clrnn_activation){CLRNN_ACT_RELU, 0, 0};
    else if (is_op(p, "Softsign") && attrs_only(p, no_attrs)) *a = (clrnn_activation){CLRNN_ACT_SOFTSIGN, 0, 0};
    else if (is_op(p, "Softplus") && attrs_only(p, no_attrs)) *a = (clrnn_activation){CLRNN_ACT_SOFTPLUS, 0, 0};
    else if (is_op(p, "Elu") && attrs_only(p, alpha) && attr_f(p, "alpha", 1.0f, &al))
        *a = (clrnn_activation){CLRNN_ACT_ELU, al, 0};
    else if (is_op(p, "LeakyRelu") && attrs_only(p, alpha) && attr_f(p, "alpha", 0.01f, &al))
        *a = (clrnn_activation){CLRNN_ACT_LEAKY_RELU, al, 0};
    else if (is_op(p, "HardSigmoid") && attrs_only(p, ab) && attr_f(p, "alpha", 0.2f, &al) && attr_f(p, "beta", 0.5f, &be))
        *a = (clrnn_activation){CLRNN_ACT_HARD_SIGMOID, al, be};
    else
        return 0;
    return 1;
}

/* The activation producing `name` and its argument; anything else is the identity (Keras
 * "linear") with the value itself as argument. An output of a Split of an activation (TF1's
 * GRUCell: sigmoid, then split into r and u) is that activation of the Split's output: element-wise
 * functions commute with Split. */
static void act_of(fz *z, const char *name, clrnn_activation *a, fz_arg *arg) {
    name = sid(z, name);
    int oi = 0;
    const Onnx__NodeProto *p = prod(z, name, &oi), *split = NULL;
    *a = (clrnn_activation){CLRNN_ACT_AFFINE, 1.0f, 0.0f};
    *arg = (fz_arg){name, NULL, 0};
    if (is_op(p, "Split") && p->n_input >= 1) {
        split = p;
        p = prod(z, sid(z, p->input[0]), NULL);
    }
    clrnn_activation act;
    if (!act_node(p, &act)) return;
    *a = act;
    *arg = (fz_arg){sid(z, p->input[0]), split, split ? oi : 0};
}

static int act_eq(clrnn_activation a, clrnn_activation b) {
    return a.kind == b.kind && a.alpha == b.alpha && a.beta == b.beta;
}

/* ------------------------------------------------------------------------------------------
 * Cells
 * ---------------------------------------------------------------------------------------- */
typedef struct fz_cell {
    clrnn_cell cell;
    int lbr;
    clrnn_activation act[3];
    const char *c_in, *c_new;
    /* per gate (Keras order): the input part, the recurrent part (may be the same form) and the
     * bias row the recurrent part's biases go to (reset_after candidate: 1) */
    int G;
    fz_lin gx[4], gh[4];
    int split[4]; /* gx and gh are separate forms */
    /* TF1 LSTMCell options */
    int peephole;
    fz_win proj; /* rows H, w P; proj.d NULL: none */
    float cell_clip, proj_clip;
} fz_cell;

/* Max(Min(x, a), -a) in either nesting, or Clip(x, -a, a), a > 0 a constant: x and a; else name, 0. */
static const char *strip_clip(fz *z, const char *name, float *a) {
    *a = 0;
    name = sid(z, name);
    const Onnx__NodeProto *p = prod(z, name, NULL);
    double lo, hi;
    if (is_op(p, "Clip") && p->n_input == 3 && attrs_only(p, no_attrs) && fz_scalar(z, p->input[1], &lo) &&
        fz_scalar(z, p->input[2], &hi) && hi > 0 && lo == -hi) {
        *a = (float)hi;
        return sid(z, p->input[0]);
    }
    for (int outer = 0; outer < 2; ++outer) {
        const char *a0, *a1, *b0, *b1;
        if (!binary(z, name, outer ? "Min" : "Max", &a0, &a1)) continue;
        for (int o = 0; o < 2; ++o) {
            double v1, v2;
            if (!fz_scalar(z, o ? a0 : a1, &v1) || !binary(z, o ? a1 : a0, outer ? "Max" : "Min", &b0, &b1)) continue;
            for (int q = 0; q < 2; ++q)
                if (fz_scalar(z, q ? b0 : b1, &v2)) {
                    const double h = outer ? v1 : v2, l = outer ? v2 : v1; /* Min's bound, Max's bound */
                    if (h > 0 && l == -h) {
                        *a = (float)h;
                        return q ? b1 : b0;
                    }
                }
        }
    }
    return name;
}

static int match_rnn(fz *z, const char *h_new, fz_cell *c) {
    fz_arg pre;
    act_of(z, h_new, &c->act[0], &pre);
    if (!lin_gate(z, &pre, &c->gx[0])) return 0;
    c->cell = CLRNN_CELL_RNN;
    c->G = 1;
    return 1;
}

/* h_new = o ⊙ act_h(c_new), c_new = f ⊙ c + i ⊙ g; gates i, f, g, o of one recurrent activation. */
static int match_lstm(fz *z, const char *h_new, fz_cell *c) {
    const char *m0, *m1;
    /* TF1: h = clip(m · P, proj_clip), m = o ⊙ act(c) */
    const char *m = strip_clip(z, h_new, &c->proj_clip);
    const Onnx__NodeProto *pp = prod(z, m, NULL);
    if (is_op(pp, "MatMul") && pp->n_input == 2 && attrs_only(pp, no_attrs) && fz_matwin(z, pp->input[1], &c->proj))
        m = sid(z, pp->input[0]);
    else if (c->proj_clip != 0)
        return 0;
    else
        c->proj.d = NULL;
    if (!binary(z, m, "Mul", &m0, &m1)) return 0;
    for (int ord = 0; ord < 2; ++ord) {
        const char *o = ord ? m1 : m0, *hc = ord ? m0 : m1, *cn, *cnc, *t0, *t1;
        clrnn_activation ah, ra, ao;
        fz_arg cna;
        act_of(z, hc, &ah, &cna);
        cnc = cna.name; /* c_new after the cell clip: what is carried, what h and the o peephole read */
        cn = strip_clip(z, cnc, &c->cell_clip);
        if (cna.split || !binary(z, cn, "Add", &t0, &t1)) continue;
        for (int o2 = 0; o2 < 2; ++o2) {
            const char *fc0, *fc1, *ig0, *ig1;
            if (!binary(z, o2 ? t1 : t0, "Mul", &fc0, &fc1) || !binary(z, o2 ? t0 : t1, "Mul", &ig0, &ig1)) continue;
            for (int o3 = 0; o3 < 2; ++o3) {
                const char *f = o3 ? fc1 : fc0, *cin = o3 ? fc0 : fc1;
                fz_arg zf, zi, zg, zo, a0, a1;
                const int kc = carried_in(z, cin);
                if (kc < 0 || same(cin, z->h_in) || z->counter[kc]) continue;
                act_of(z, f, &ra, &zf);
                clrnn_activation x0, x1;
                act_of(z, ig0, &x0, &a0);
                act_of(z, ig1, &x1, &a1);
                if (act_eq(x0, ra)) zi = a0, zg = a1, c->act[1] = x1;
                else if (act_eq(x1, ra)) zi = a1, zg = a0, c->act[1] = x0;
                else continue;
                act_of(z, o, &ao, &zo);
                if (!act_eq(ao, ra)) continue;
                z->peep_in = cin;
                z->peep_new = cnc;
                z->hr = c->proj.d ? c->proj.w : 0;
                const int ok = lin_gate(z, &zi, &c->gx[0]) && lin_gate(z, &zf, &c->gx[1]) && lin_gate(z, &zg, &c->gx[2]) &&
                               lin_gate(z, &zo, &c->gx[3]);
                z->peep_in = z->peep_new = NULL;
                z->hr = 0;
                if (!ok) continue;
                /* peepholes: i and f on c_prev, o on c_new, all three or none */
                const fz_lin *g = c->gx;
                const int peep = g[0].hpc && g[1].hpc && g[3].hpn;
                if (g[0].hpn || g[1].hpn || g[2].hpc || g[2].hpn || g[3].hpc ||
                    (!peep && (g[0].hpc || g[1].hpc || g[3].hpn)))
                    continue;
                c->peephole = peep;
                c->cell = CLRNN_CELL_LSTM;
                c->G = 4;
                c->act[0] = ra;
                c->act[2] = ah;
                c->c_in = cin;
                c->c_new = cnc;
                return 1;
            }
        }
    }
    return 0;
}

/* h_new = z ⊙ h + (1 - z) ⊙ hh, hh = act(x·W_h + r ⊙ (h·R_h + b)) (reset_after) or
 * act(x·W_h + (r ⊙ h)·R_h + b) (reset before); z, r of one recurrent activation. */
static int match_gru(fz *z, const char *h_new, fz_cell *c) {
    const char *t0, *t1;
    if (!binary(z, h_new, "Add", &t0, &t1)) return 0;
    for (int ord = 0; ord < 2; ++ord) {
        const char *zh0, *zh1, *s0, *s1, *zg = NULL, *hh = NULL, *hpre;
        fz_arg zpre, hpa, rpre;
        if (!binary(z, ord ? t1 : t0, "Mul", &zh0, &zh1) || !binary(z, ord ? t0 : t1, "Mul", &s0, &s1)) continue;
        if (same(zh0, z->h_in)) zg = zh1;
        else if (same(zh1, z->h_in)) zg = zh0;
        else continue;
        for (int o2 = 0; o2 < 2 && !hh; ++o2) {
            const Onnx__NodeProto *sub = prod(z, o2 ? s1 : s0, NULL);
            double one;
            if (is_op(sub, "Sub") && sub->n_input == 2 && attrs_only(sub, no_attrs) && fz_scalar(z, sub->input[0], &one) &&
                one == 1.0 && same(sid(z, sub->input[1]), zg))
                hh = o2 ? s0 : s1;
        }
        if (!hh) continue;
        clrnn_activation ra, ag, ar;
        act_of(z, zg, &ra, &zpre);
        act_of(z, hh, &ag, &hpa);
        hpre = hpa.name;
        if (hpa.split || !lin_gate(z, &zpre, &c->gx[0])) continue;
        /* the candidate's terms */
        const char *terms[4];
        int nt = 0;
        terms[nt++] = hpre;
        for (int i = 0; i < nt && nt <= 3;) {
            const char *a, *b;
            if (binary(z, terms[i], "Add", &a, &b)) {
                terms[i] = a;
                terms[nt++] = b;
            } else {
                ++i;
            }
        }
        if (nt > 3) continue;
        const char *r = NULL;
        int lbr_term = -1;
        for (int i = 0; i < nt && !r; ++i) {
            const char *a, *b, *m0, *m1;
            const Onnx__NodeProto *p = prod(z, terms[i], NULL);
            if (binary(z, terms[i], "Mul", &a, &b)) { /* r ⊙ (h·R + b) */
                for (int o = 0; o < 2 && !r; ++o) {
                    act_of(z, o ? b : a, &ar, &rpre);
                    fz_lin L;
                    if (act_eq(ar, ra) && lin_of(z, o ? a : b, NULL, &L, 0) && L.hh && !L.hx && !L.hrh && !L.hcat) {
                        r = o ? b : a;
                        lbr_term = i;
                        c->gh[2] = L;
                    }
                }
            } else if (is_op(p, "MatMul") && p->n_input == 2) { /* (r ⊙ h)·R, or [x_t, r ⊙ h]·R (TF1) */
                const char *in0 = sid(z, p->input[0]);
                const Onnx__NodeProto *cp = prod(z, in0, NULL);
                for (int part = 0; part < (is_op(cp, "Concat") && cp->n_input == 2 ? 2 : 1) && !r; ++part) {
                    const char *mm = is_op(cp, "Concat") && cp->n_input == 2 ? sid(z, cp->input[part]) : in0;
                    if (!binary(z, mm, "Mul", &m0, &m1)) continue;
                    const char *rr = same(m0, z->h_in) ? m1 : same(m1, z->h_in) ? m0 : NULL;
                    if (rr) {
                        act_of(z, rr, &ar, &rpre);
                        if (act_eq(ar, ra)) r = rr;
                    }
                }
            }
        }
        if (!r || !lin_gate(z, &rpre, &c->gx[1])) continue;
        fz_lin cand;
        memset(&cand, 0, sizeof cand);
        int ok = 1, have = 0;
        for (int i = 0; i < nt && ok; ++i) {
            if (i == lbr_term) continue;
            fz_lin L;
            if (!lin_of(z, terms[i], r, &L, 0)) ok = 0;
            else if (!have) cand = L, have = 1;
            else ok = lin_add(&cand, &L);
        }
        if (!ok || !have || !lin_resolve(&cand, 0) || !cand.hx || cand.hh) continue;
        if (lbr_term >= 0 ? (cand.hrh || cand.w != c->gh[2].w) : !cand.hrh) continue;
        c->lbr = lbr_term >= 0;
        c->gx[2] = cand;
        c->split[2] = c->lbr;
        c->cell = CLRNN_CELL_GRU;
        c->G = 3;
        c->act[0] = ra;
        c->act[1] = ag;
        return 1;
    }
    return 0;
}

/* The cell's weights in clrnn's Keras layout, rebuilt from the windows the formula reads. */
static int build_weights(fz *z, const fz_cell *c, fz_layer *pl) {
    const int G = c->G;
    const int64_t H = c->gx[0].w, I = c->gx[0].x.rows, Hr = c->proj.d ? c->proj.w : H;
    if (H < 1 || H > (1 << 16) || I < 1 || I > (1 << 20) || Hr < 1 || Hr > H) return nope(z, "gate sizes out of range");
    if (c->proj.d && c->proj.rows != H) return nope(z, "the projection is not [units, P]");
    for (int g = 0; g < G; ++g) {
        const fz_lin *x = &c->gx[g];
        const fz_lin *h = c->split[g] ? &c->gh[g] : x;
        if (x->w != H || x->x.rows != I || (h->hh && h->h.rows != Hr) || (h->hrh && h->rh.rows != Hr) || h->w != H)
            return nope(z, "the gates' sizes differ");
    }
    const size_t GH = (size_t)G * (size_t)H;
    pl->W = calloc((size_t)I * GH, sizeof(float));
    pl->R = calloc((size_t)Hr * GH, sizeof(float));
    pl->B = calloc((c->lbr ? 2 : 1) * GH, sizeof(float));
    if (!pl->W || !pl->R || !pl->B) return nope(z, "out of memory");
    if (c->peephole) {
        const fz_win *pw[3] = {&c->gx[0].pc, &c->gx[1].pc, &c->gx[3].pn}; /* TF1 order: i, f, o */
        if (!(pl->peep = malloc(3 * (size_t)H * sizeof(float)))) return nope(z, "out of memory");
        for (int k = 0; k < 3; ++k) {
            if (pw[k]->w != H) return nope(z, "a peephole is not [units]");
            memcpy(pl->peep + (size_t)k * H, pw[k]->d + pw[k]->c0, (size_t)H * sizeof(float));
        }
    }
    if (c->proj.d) {
        if (!(pl->proj = malloc((size_t)H * (size_t)Hr * sizeof(float)))) return nope(z, "out of memory");
        for (int64_t i = 0; i < H; ++i)
            memcpy(pl->proj + (size_t)i * Hr, c->proj.d + i * c->proj.ld + c->proj.c0, (size_t)Hr * sizeof(float));
    }
    pl->Hr = (int)Hr;
    pl->peephole = c->peephole;
    pl->cell_clip = c->cell_clip;
    pl->proj_clip = c->proj_clip;
    for (int g = 0; g < G; ++g) {
        const fz_lin *x = &c->gx[g];
        const fz_lin *h = c->split[g] ? &c->gh[g] : x;
        const fz_win *rw = h->hh ? &h->h : &h->rh;
        for (int64_t i = 0; i < I; ++i)
            memcpy(pl->W + (size_t)i * GH + (size_t)g * H, x->x.d + i * x->x.ld + x->x.c0, (size_t)H * sizeof(float));
        for (int64_t i = 0; i < Hr; ++i)
            memcpy(pl->R + (size_t)i * GH + (size_t)g * H, rw->d + i * rw->ld + rw->c0, (size_t)H * sizeof(float));
        for (int k = 0; k < x->nb; ++k)
            for (int64_t j = 0; j < H; ++j) pl->B[(size_t)g * H + j] += x->b[k].d[x->b[k].rows ? x->b[k].c0 + j : 0];
        if (c->split[g])
            for (int k = 0; k < h->nb; ++k)
                for (int64_t j = 0; j < H; ++j) pl->B[GH + (size_t)g * H + j] += h->b[k].d[h->b[k].rows ? h->b[k].c0 + j : 0];
    }
    pl->cell = c->cell;
    pl->lbr = c->lbr;
    pl->G = G;
    pl->H = (int)H;
    pl->I = (int)I;
    memcpy(pl->act, c->act, sizeof pl->act);
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * Trip logic
 * ---------------------------------------------------------------------------------------- */
static const char *strip_casts(fz *z, const char *name) {
    for (int i = 0; i < FZ_DEPTH; ++i) {
        name = sid(z, name);
        const Onnx__NodeProto *p = prod(z, name, NULL);
        static const char *const ok[] = {"to", "saturate", NULL};
        int64_t to;
        if (!is_op(p, "Cast") || p->n_input != 1 || !attrs_only(p, ok) || !attr_i(p, "to", 0, &to) ||
            !(to == OX_FLOAT || to == OX_INT32 || to == OX_INT64 || to == OX_DOUBLE))
            return name;
        name = p->input[0];
    }
    return name;
}

static int match_term(fz *z, const char *name, fz_term *t) {
    const Onnx__NodeProto *p = prod(z, sid(z, name), NULL);
    if (!is_op(p, "Less") || p->n_input != 2 || !attrs_only(p, no_attrs)) return 0;
    const char *l = strip_casts(z, p->input[0]), *r = strip_casts(z, p->input[1]);
    int k1 = -1; /* l = a counter's next value */
    for (int k = 0; k < z->K && k1 < 0; ++k)
        if (z->counter[k] && same(sid(z, body_out(z, k)), l)) k1 = k;
    if (same(l, z->iter_in)) t->lhs = LHS_ITER;
    else if (is_time(z, l)) t->lhs = LHS_TIME;
    else if (k1 >= 0 && is_time(z, body_in(z, k1))) t->lhs = LHS_TIME1;
    else return 0;
    const int k = carried_in(z, r);
    t->rhs_k = k >= 0 && passthrough(z, k) ? k : -1;
    t->rhs_val = k < 0 ? outer_value(z, r) : -1;
    if (t->rhs_k >= 0 || t->rhs_val >= 0) return 1;
    return k < 0 && fz_scalar(z, r, &t->rhs_const);
}

/* ------------------------------------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------------------------------- */
/* The body; a Scan only with one scanned input, forward along axis 0, outputs stacked on axis 0. */
static const Onnx__GraphProto *loop_body(const Onnx__NodeProto *p, int scan) {
    const Onnx__AttributeProto *a = clrnn_ox_attr(p, "body");
    if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH || !a->g) return NULL;
    for (size_t i = 0; i < p->n_attribute; ++i) {
        const Onnx__AttributeProto *t = p->attribute[i];
        if (t == a) continue;
        if (!scan || !t->name || (t->ref_attr_name && *t->ref_attr_name)) return NULL;
        if (!strcmp(t->name, "num_scan_inputs")) {
            if (t->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT || t->i != 1) return NULL;
        } else if (!strcmp(t->name, "scan_input_axes") || !strcmp(t->name, "scan_input_directions") ||
                   !strcmp(t->name, "scan_output_axes") || !strcmp(t->name, "scan_output_directions")) {
            if (t->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return NULL;
            for (size_t k = 0; k < t->n_ints; ++k)
                if (t->ints[k] != 0) return NULL;
        } else {
            return NULL;
        }
    }
    if (scan && !clrnn_ox_attr(p, "num_scan_inputs")) return NULL;
    return a->g;
}

/* Walks back from value v through Transpose/Identity/Cast/Unsqueeze to a ReverseSequence. */
static int reversed_input(const clrnn_model *m, int v) {
    for (int d = 0; d < 4 && v >= 0; ++d) {
        int next = -1;
        for (int i = m->n_nodes - 1; i >= 0 && next < 0; --i) {
            const ox_node *n = &m->nodes[i];
            for (int o = 0; o < n->n_out; ++o)
                if (n->out[o] == v) {
                    if (!strcmp(n->op_type, "ReverseSequence")) return 1;
                    if (strcmp(n->op_type, "Transpose") && strcmp(n->op_type, "Identity") && strcmp(n->op_type, "Cast"))
                        return 0;
                    next = n->n_in > 0 ? n->in[0] : -1;
                }
        }
        v = next;
    }
    return 0;
}

/* A masked step's value of the output: zeros from a loop-invariant carried value, an outer value
 * (both checked at run time) or a constant of zeros. */
static int zero_source(fz *z, fz_plan *pl, const char *old) {
    const int kz = carried_in(z, old);
    const clrnn_array *c0 = kz < 0 ? fz_const(z, old) : NULL;
    int zero = c0 && c0->dtype == CLRNN_DTYPE_FLOAT32;
    for (size_t i = 0; zero && i < c0->count; ++i) zero = ((const float *)c0->data)[i] == 0.0f;
    const int ov = kz < 0 && !zero ? outer_value(z, old) : -1;
    if (!((kz >= 0 && passthrough(z, kz)) || ov >= 0 || zero)) return 0;
    pl->zero_k = kz >= 0 ? kz : -1;
    pl->zero_val = ov;
    return 1;
}

static int recognise(fz *z, fz_plan *pl) {
    const Onnx__NodeProto *lp = z->loop;
    const Onnx__GraphProto *g = z->g = loop_body(lp, z->scan);
    if (!g) return nope(z, "attributes other than the body and forward scans over axis 0");
    int K, S;
    if (z->scan) {
        /* Scan (opset >= 9): inputs = K initial values + one scanned tensor; outputs = K finals + S */
        if (z->m->opset < 9 || g->n_input < 2 || lp->n_input != g->n_input) return nope(z, "not an RNN scan (inputs)");
        K = (int)g->n_input - 1;
        S = (int)g->n_output - K;
        z->bi = z->bo = z->ni = 0;
        z->scan_x = g->input[K]->name;
    } else {
        if (g->n_input < 3 || lp->n_input != g->n_input || g->n_output < g->n_input - 1) return nope(z, "not an RNN loop (inputs)");
        K = (int)g->n_input - 2;
        S = (int)g->n_output - 1 - K;
        z->bi = 2, z->bo = 1, z->ni = 2;
        z->iter_in = g->input[0]->name;
    }
    z->K = K;
    if (K < 1 || K > 64 || S < 0 || S > 1 || lp->n_output != (size_t)(K + S)) return nope(z, "not an RNN loop (outputs)");
    for (size_t i = 0; i < g->n_input; ++i)
        if (!g->input[i]->name || !*g->input[i]->name) return nope(z, "unnamed body input");
    for (size_t i = 0; i < g->n_output; ++i)
        if (!g->output[i]->name || !*g->output[i]->name) return nope(z, "unnamed body output");
    for (size_t i = z->ni; i < lp->n_input; ++i)
        if (!*lp->input[i] || clrnn_ox_find_value(z->m, lp->input[i]) < 0) return nope(z, "an initial value is missing");
    z->x_src = z->mask_src = z->len_src = -1;
    z->counter = pl->counter;
    pl->K = K;
    pl->S = S;
    pl->scan = z->scan;
    pl->ni = z->ni;
    pl->k_time = pl->k_out = -1;
    pl->zero_k = pl->zero_val = -1;

    /* loop-invariants (output = input) and counters (output = input + 1) */
    for (int k = 0; k < K; ++k) {
        pl->pass[k] = (unsigned char)passthrough(z, k);
        const char *a, *b;
        double one;
        if (pl->pass[k] || !binary(z, body_out(z, k), "Add", &a, &b)) continue;
        const char *in = body_in(z, k);
        const ox_value *iv = &z->m->values[init_value(z, k)];
        if (((same(a, in) && fz_scalar(z, b, &one) && one == 1.0) || (same(b, in) && fz_scalar(z, a, &one) && one == 1.0)) &&
            !iv->is_bool && (iv->dtype == CLRNN_DTYPE_INT32 || iv->dtype == CLRNN_DTYPE_INT64))
            pl->counter[k] = 1;
    }

    /* the other carried values: new (masked: select(mask_t, new, itself)) */
    const char *nw[64], *old[64];
    int masked = -1;
    for (int k = 0; k < K; ++k) {
        if (pl->pass[k] || pl->counter[k]) continue;
        const char *o = sid(z, body_out(z, k));
        const int sel = is_select(z, o, &nw[k], &old[k]);
        if (masked >= 0 && masked != sel) return nope(z, "the mask selects some carried values and not others");
        masked = sel;
        if (!sel) nw[k] = o;
        else if (!same(old[k], body_in(z, k))) { /* zeros at masked steps (checked below: the output only) */
            if (pl->out_zero || !zero_source(z, pl, old[k])) return nope(z, "a masked step neither keeps a carried value nor zeroes it");
            pl->out_zero = 1 + k; /* the carried value it is, + 1 */
        }
    }
    if (masked < 0) return nope(z, "no recurrent state");

    /* the cells: the first reads the step input, each next one (a TF1 MultiRNNCell) the h_new of
     * the one below; try each carried value as h */
    fz_cell cells[FZ_MAX_LAYERS];
    const char *h_new = NULL;
    unsigned char used[64] = {0};
    pl->L = 0;
    for (int l = 0; l < FZ_MAX_LAYERS; ++l) {
        fz_cell *c = &cells[l];
        fz_layer *ly = &pl->ly[l];
        int found = 0;
        z->layer_x = l ? h_new : NULL;
        for (int k = 0; k < K && !found; ++k) {
            if (pl->pass[k] || pl->counter[k] || used[k]) continue;
            const ox_value *iv = &z->m->values[init_value(z, k)];
            if (iv->dtype != CLRNN_DTYPE_FLOAT32) continue;
            z->h_in = body_in(z, k);
            const int save_idx = z->idx, save_x = z->x_src;
            const char *save_t = z->time_in;
            memset(c, 0, sizeof *c);
            if (match_lstm(z, nw[k], c) || (memset(c, 0, sizeof *c), match_gru(z, nw[k], c)) ||
                (memset(c, 0, sizeof *c), match_rnn(z, nw[k], c))) {
                found = 1;
                ly->k_h = k;
                used[k] = 1;
                h_new = sid(z, nw[k]);
            } else {
                z->idx = save_idx;
                z->x_src = save_x;
                z->time_in = save_t;
            }
        }
        if (!found) break;
        ly->k_c = -1;
        for (int k = 0; k < K && c->cell == CLRNN_CELL_LSTM && ly->k_c < 0; ++k)
            if (!pl->pass[k] && !pl->counter[k] && !used[k] && same(body_in(z, k), c->c_in) && same(sid(z, nw[k]), c->c_new))
                ly->k_c = k, used[k] = 1;
        if (c->cell == CLRNN_CELL_LSTM && ly->k_c < 0) return nope(z, "the LSTM cell state is not carried");
        pl->L = l + 1;
    }
    z->layer_x = NULL;
    if (!pl->L) return nope(z, "the body is not a SimpleRNN, LSTM or GRU cell clrnn recognises");
    /* the others: the carried output (new = the top cell's h_new) */
    for (int k = 0; k < K; ++k) {
        if (pl->pass[k] || pl->counter[k] || used[k]) continue;
        if (pl->k_out < 0 && same(sid(z, nw[k]), h_new)) pl->k_out = k;
        else return nope(z, "a carried value has no RNN role");
    }
    if (pl->out_zero && pl->out_zero - 1 != pl->k_out) return nope(z, "a masked step zeroes a state");
    /* the scan output: the step's output */
    if (S == 1) {
        const char *so = sid(z, g->output[z->bo + K]->name), *sn, *sold;
        int ok = !masked && same(so, h_new);
        if (masked && pl->k_out >= 0) ok = same(so, sid(z, body_out(z, pl->k_out)));
        else if (masked && is_select(z, so, &sn, &sold) && same(sid(z, sn), h_new)) { /* its own select (TF1) */
            ok = !pl->out_zero && zero_source(z, pl, sold);
            pl->out_zero = 1;
        }
        if (!ok) return nope(z, "the scan output is not the step's output");
    }
    pl->out_zero = pl->out_zero != 0;
    if (!z->scan && z->x_src < 0) return nope(z, "the step input is not gathered from an outer tensor");
    if (z->scan) pl->x_val = init_value(z, K); /* the scanned tensor, node input K */
    /* the condition */
    if (!z->scan) {
        const char *cond = sid(z, g->output[0]->name), *a, *b;
        if (binary(z, cond, "And", &a, &b)) {
            if (!match_term(z, a, &pl->term[0]) || !match_term(z, b, &pl->term[1]))
                return nope(z, "the loop condition is not a bound on the time counter");
            pl->nterm = 2;
        } else {
            if (!match_term(z, cond, &pl->term[0])) return nope(z, "the loop condition is not a bound on the time counter");
            pl->nterm = 1;
        }
        pl->x_val = z->x_src;
    }
    if (z->time_in) pl->k_time = carried_in(z, z->time_in);
    if (!z->scan && pl->k_time < 0 && z->idx != IDX_ITER) return nope(z, "no carried time counter");
    pl->idx = z->idx;
    pl->mask_val = masked ? z->mask_src : -1;
    pl->len_val = masked ? z->len_src : -1;
    if (masked && pl->mask_val < 0 && pl->len_val < 0) return nope(z, "no mask source");
    for (int l = 0; l < pl->L; ++l) {
        if (!build_weights(z, &cells[l], &pl->ly[l])) return 0;
        if (l && pl->ly[l].I != pl->ly[l - 1].Hr) return nope(z, "a cell's input is not the one below's output");
    }
    pl->reversed = reversed_input(z->m, pl->x_val);
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * The fused node
 * ---------------------------------------------------------------------------------------- */
typedef struct fused_state {
    fz_plan p;
    clrnn_rnn *rnn[FZ_MAX_LAYERS];
    cl_mem mid[2];    /* a stack's intermediate sequences (time-major [T, N, Hr]), alternating */
    size_t mid_bytes[2];
    int in_x, in_mask, in_rhs[2], in_zero, in_len; /* indices into n->in of the outer values (appended at prepare) */
    uint8_t *mask_nt;             /* host [N, T] */
    size_t mask_cap;
    /* The same node prepared as the generic Loop/Scan (its body built): what a run takes when the
     * loop's actual values leave the fused engine's conditions (a trip count other than the input's
     * length, time not starting at 0, a non-zero initial output). Its label, op_type and outputs
     * are the fused node's; `in` is its own copy of the node's inputs. */
    ox_node generic;
    int has_generic;
} fused_state;

static void fused_release(ox_node *n) {
    fused_state *s = n->state;
    if (!s) return;
    if (s->has_generic) {
        if (s->generic.op->release) s->generic.op->release(&s->generic);
        else free(s->generic.state);
    }
    free(s->generic.in);
    for (int l = 0; l < FZ_MAX_LAYERS; ++l) {
        clrnn_rnn_destroy(s->rnn[l]);
        fz_layer *ly = &s->p.ly[l];
        free(ly->W), free(ly->R), free(ly->B), free(ly->peep), free(ly->proj);
    }
    for (int i = 0; i < 2; ++i)
        if (s->mid[i]) clReleaseMemObject(s->mid[i]);
    free(s->mask_nt);
    free(s);
}

static int append_input(ox_node *n, int v) {
    int *in = realloc(n->in, ((size_t)n->n_in + 2) * sizeof *in);
    if (!in) return -1;
    n->in = in;
    in[n->n_in] = v;
    return n->n_in++;
}

/* The generic operator's prepare on a shadow of n (before the fused prepare appends its inputs).
 * Its failure only means there is no fallback: the fused node alone runs what it proved. */
static clrnn_status prepare_generic(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, fused_state *s) {
    ox_node *g = &s->generic;
    *g = *n;
    g->state = NULL;
    g->in = malloc(((size_t)n->n_in + 1) * sizeof *g->in);
    if (!g->in) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "fused loop fallback");
    memcpy(g->in, n->in, (size_t)n->n_in * sizeof *g->in);
    g->op = clrnn_ox_find_op(n->op_type);
    if (!g->op) return CLRNN_OK;
    if (g->op->prepare(m, g, p) == CLRNN_OK) {
        s->has_generic = 1;
        return CLRNN_OK;
    }
    if (g->op->release) g->op->release(g);
    else free(g->state);
    g->state = NULL;
    clrnn_clear_error();
    return CLRNN_OK;
}

/* A run the fused engine cannot take, on the generic operator (when it could be prepared). */
static clrnn_status run_generic(clrnn_model *m, ox_node *n, fused_state *s, clrnn_status refusal) {
    if (!s->has_generic) return refusal;
    clrnn_clear_error();
    clrnn_status st = s->generic.op->run(m, &s->generic);
    return st == CLRNN_OK ? st : clrnn_ox_wrap(n, st);
}

static clrnn_status fused_prepare(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p) {
    fused_state *s = n->state;
    fz_plan *pl = &s->p;
    clrnn_status gst = prepare_generic(m, n, p, s);
    if (gst != CLRNN_OK) return gst;
    s->in_mask = s->in_rhs[0] = s->in_rhs[1] = s->in_zero = s->in_len = -1;
    /* the outer values the body reads become inputs: run order and folding see them */
    if ((s->in_x = append_input(n, pl->x_val)) < 0 || (pl->mask_val >= 0 && (s->in_mask = append_input(n, pl->mask_val)) < 0))
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "fused loop inputs");
    for (int i = 0; i < pl->nterm; ++i)
        if (pl->term[i].rhs_val >= 0 && (s->in_rhs[i] = append_input(n, pl->term[i].rhs_val)) < 0)
            return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "fused loop inputs");
    if ((pl->zero_val >= 0 && (s->in_zero = append_input(n, pl->zero_val)) < 0) ||
        (pl->len_val >= 0 && (s->in_len = append_input(n, pl->len_val)) < 0))
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "fused loop inputs");
    const ox_value *M = pl->scan ? NULL : ox_in(m, n, 0), *cond = pl->scan ? NULL : ox_in(m, n, 1);
    const ox_value *X = ox_in(m, n, s->in_x);
    if (X->dtype != CLRNN_DTYPE_FLOAT32 || X->is_bool)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the scanned input '%s' must be float32", X->name);
    for (int i = 0; i < 2 * pl->L + 1; ++i) {
        const int k = i == 2 * pl->L ? pl->k_out : i % 2 ? pl->ly[i / 2].k_c : pl->ly[i / 2].k_h;
        const ox_value *v = k >= 0 ? ox_in(m, n, pl->ni + k) : NULL;
        if (v && (v->dtype != CLRNN_DTYPE_FLOAT32 || v->is_bool))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the initial state '%s' must be float32", v->name);
    }
    if (M && (M->dtype != CLRNN_DTYPE_INT64 || M->is_bool))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "trip count M ('%s') must be int64", M->name);
    if (cond && (cond->dtype != CLRNN_DTYPE_UINT8 || !cond->is_bool))
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "condition ('%s') must be bool", cond->name);
    for (int k = 0; k < pl->K; ++k) {
        const ox_value *iv = ox_in(m, n, pl->ni + k);
        ox_value *ov = ox_out(m, n, k);
        if (!ov) continue;
        ov->dtype = iv->dtype;
        ov->is_bool = iv->is_bool;
        if (pl->pass[k] && iv->is_const) {
            /* a constant passed through: computed once, here */
            clrnn_status st = clrnn_ox_copy_reshaped(m, n, (ox_value *)iv, ov, iv->ndim, iv->shape);
            if (st != CLRNN_OK) return st;
            ov->is_const = 1;
        }
    }
    if (pl->S) ox_set_out_type(m, n, pl->K, CLRNN_DTYPE_FLOAT32, 0);
    for (int i = 0; i < pl->nterm; ++i) {
        if (pl->term[i].rhs_k < 0 && pl->term[i].rhs_val < 0) continue;
        const ox_value *r = pl->term[i].rhs_k >= 0 ? ox_in(m, n, pl->ni + pl->term[i].rhs_k) : ox_in(m, n, s->in_rhs[i]);
        if (r->is_bool || (r->dtype != CLRNN_DTYPE_INT32 && r->dtype != CLRNN_DTYPE_INT64 && r->dtype != CLRNN_DTYPE_FLOAT32))
            return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the loop bound '%s' is not a number", r->name);
    }

    /* one clrnn rnn per cell: a stack runs cell after cell over the whole sequence, which is what
     * the step-by-step body computes (each cell reads the one below at the same step) */
    for (int l = 0; l < pl->L; ++l) {
        fz_layer *ly = &pl->ly[l];
        clrnn_rnn_desc d = clrnn_rnn_desc_default();
        d.cell = ly->cell;
        d.input_size = ly->I;
        d.hidden_size = ly->H;
        d.layout = CLRNN_LAYOUT_TIME_MAJOR;
        d.direction = CLRNN_DIR_FORWARD;
        /* a lower cell's output at a masked step is not read (the cell above keeps its state) */
        d.masked_output = pl->out_zero || l < pl->L - 1 ? CLRNN_MASKED_OUTPUT_ZERO : CLRNN_MASKED_OUTPUT_CARRY;
        d.linear_before_reset = ly->lbr;
        d.peephole = ly->peephole;
        d.proj_size = ly->Hr != ly->H ? ly->Hr : 0;
        d.cell_clip = ly->cell_clip;
        d.proj_clip = ly->proj_clip;
        for (int i = 0; i < 3; ++i) d.activations[0][i] = ly->act[i];
        clrnn_rnn *r = NULL;
        clrnn_status st = clrnn_rnn_create(m->ctx, &d, &s->rnn[l]);
        r = s->rnn[l];
        const size_t GH = (size_t)ly->G * (size_t)ly->H;
        if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_W, ly->W, (size_t)ly->I * GH);
        if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_R, ly->R, (size_t)ly->Hr * GH);
        if (st == CLRNN_OK && ly->peep)
            st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_PEEPHOLE, ly->peep, 3 * (size_t)ly->H);
        if (st == CLRNN_OK && ly->proj)
            st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_PROJ, ly->proj, (size_t)ly->H * ly->Hr);
        if (st == CLRNN_OK)
            st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_B, ly->B, (ly->lbr ? 2 : 1) * GH);
        if (st != CLRNN_OK) return clrnn_ox_wrap(n, st);
        free(ly->W), free(ly->R), free(ly->B), free(ly->peep), free(ly->proj);
        ly->W = ly->R = ly->B = ly->peep = ly->proj = NULL;
    }
    return CLRNN_OK;
}

static clrnn_status read_scalar(clrnn_model *m, const ox_node *n, ox_value *v, const char *what, double *out) {
    clrnn_status st = clrnn_ox_to_host(m, v);
    if (st != CLRNN_OK) return st;
    if (v->count != 1) return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "%s '%s' has %zu elements (needs 1)", what, v->name, v->count);
    switch (v->dtype) {
    case CLRNN_DTYPE_FLOAT32: *out = ((const float *)v->host)[0]; break;
    case CLRNN_DTYPE_INT32: *out = ((const int32_t *)v->host)[0]; break;
    case CLRNN_DTYPE_INT64: *out = (double)((const int64_t *)v->host)[0]; break;
    default: *out = ((const uint8_t *)v->host)[0]; break;
    }
    return CLRNN_OK;
}

/* A state [N, H] (or [1, N, H]) on the device. */
static clrnn_status state_in(clrnn_model *m, const ox_node *n, ox_value *v, int N, int H, clrnn_tensor *t) {
    if (v->count != (size_t)N * (size_t)H || v->ndim < 2 || v->shape[v->ndim - 1] != H)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "initial state '%s' must have shape [%d, %d]", v->name, N, H);
    clrnn_status st = clrnn_ox_to_device(m, v);
    if (st == CLRNN_OK) t->mem = v->mem;
    return st;
}

/* s->mask_nt with room for cnt steps (the rnn's [N, T] mask, from the loop's lengths or mask). */
static clrnn_status mask_reserve(fused_state *s, size_t cnt) {
    if (cnt <= s->mask_cap) return CLRNN_OK;
    uint8_t *b = realloc(s->mask_nt, cnt);
    if (!b) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "fused loop mask (%zu bytes)", cnt);
    s->mask_nt = b;
    s->mask_cap = cnt;
    return CLRNN_OK;
}

static clrnn_status fused_run(clrnn_model *m, ox_node *n) {
    fused_state *s = n->state;
    const fz_plan *pl = &s->p;
    ox_value *X = ox_in(m, n, s->in_x), *mask = s->in_mask >= 0 ? ox_in(m, n, s->in_mask) : NULL;
    clrnn_status st;
    if (X->ndim != 3 || X->shape[2] != pl->ly[0].I)
        return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the scanned input '%s' must have shape [time, batch, %d]", X->name,
                             pl->ly[0].I);
    if (X->shape[0] < 1 || X->shape[1] < 1 || X->shape[0] > (1 << 24) || X->shape[1] > 0x7fffffff)
        return clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the fused loop runs time = %lld, batch = %lld (each must be >= 1; time "
                             "< 2^24)", (long long)X->shape[0], (long long)X->shape[1]);
    const int TX = (int)X->shape[0], N = (int)X->shape[1], Hr = pl->ly[pl->L - 1].Hr; /* the top cell's output */

    /* the trip count the loop's own logic gives, from the actual values */
    double t0 = 0, rhs[2] = {0, 0}, M = -1;
    int cond0 = 1;
    ox_value *tv = pl->k_time >= 0 ? ox_in(m, n, pl->ni + pl->k_time) : NULL;
    ox_value *Mv = pl->scan ? NULL : ox_in(m, n, 0), *cv = pl->scan ? NULL : ox_in(m, n, 1);
    if (tv && (st = read_scalar(m, n, tv, "the time counter", &t0)) != CLRNN_OK) return st;
    if (Mv && (st = read_scalar(m, n, Mv, "the trip count", &M)) != CLRNN_OK) return st;
    if (cv) {
        double c;
        if ((st = read_scalar(m, n, cv, "the condition", &c)) != CLRNN_OK) return st;
        cond0 = c != 0;
    }
    for (int i = 0; i < pl->nterm; ++i) {
        ox_value *r = pl->term[i].rhs_k >= 0 ? ox_in(m, n, pl->ni + pl->term[i].rhs_k) : pl->term[i].rhs_val >= 0 ? ox_in(m, n, s->in_rhs[i]) : NULL;
        rhs[i] = pl->term[i].rhs_const;
        if (r && (st = read_scalar(m, n, r, "the loop bound", &rhs[i])) != CLRNN_OK) return st;
    }
    long trips = pl->scan ? TX : 0; /* a Scan runs over its input */
    if (!pl->scan && cond0 && !(Mv && M <= 0))
        for (trips = 1; trips <= TX; ++trips) { /* after iteration trips-1 */
            if (Mv && trips >= M) break;
            const long k = trips - 1;
            int go = 1;
            for (int i = 0; i < pl->nterm; ++i) {
                const double l = pl->term[i].lhs == LHS_ITER ? (double)k : pl->term[i].lhs == LHS_TIME ? t0 + (double)k : t0 + (double)k + 1;
                go &= l < rhs[i];
            }
            if (!go) break;
        }
    /* the steps run: the first `trips` of X (TF1's tf.function loops stop at the longest sequence) */
    if (trips < 1 || trips > TX || (!pl->scan && pl->idx == IDX_TIME && t0 != 0))
        return run_generic(m, n, s,
                           clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "this Loop runs as a fused RNN only over its input from "
                                         "step 0; here it would run %ld%s iterations from time %g over '%s' of %d steps (a "
                                         "generic Loop is needed)", trips, trips > TX ? "+" : "", t0, X->name, TX));
    const int T = (int)trips;

    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T;
    a.batch = N;
    if ((st = clrnn_ox_to_device(m, X)) != CLRNN_OK) return st;
    a.x.mem = X->mem;
    ox_value *len = s->in_len >= 0 ? ox_in(m, n, s->in_len) : NULL;
    if (len) { /* TF1 sequence_length: step t of row b is computed while time t0 + t < len[b] */
        if (len->count != (size_t)N)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the sequence lengths '%s' must have %d elements", len->name, N);
        if ((st = clrnn_ox_to_host(m, len)) != CLRNN_OK) return st;
        if ((st = mask_reserve(s, (size_t)T * (size_t)N)) != CLRNN_OK) return st;
        for (int b = 0; b < N; ++b) {
            const double L = len->dtype == CLRNN_DTYPE_INT32 ? ((const int32_t *)len->host)[b] : (double)((const int64_t *)len->host)[b];
            for (int t = 0; t < T; ++t) s->mask_nt[(size_t)b * T + t] = !(t0 + t >= L);
        }
        a.mask = s->mask_nt;
    }
    if (mask || len) {
        /* clrnn's carried output starts at zeros (so must the loop's); a zeroed one is zeros */
        ox_value *o0 = pl->out_zero ? (pl->zero_k >= 0 ? ox_in(m, n, pl->ni + pl->zero_k) : s->in_zero >= 0 ? ox_in(m, n, s->in_zero) : NULL)
                                    : pl->k_out >= 0 ? ox_in(m, n, pl->ni + pl->k_out) : NULL;
        if (o0) {
            if (o0->dtype != CLRNN_DTYPE_FLOAT32 || (o0->count != (size_t)N * Hr && o0->count != 1 && o0->count != (size_t)Hr))
                return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the output at masked steps '%s' must be float32 of %d x %d "
                                     "elements", o0->name, N, Hr);
            if ((st = clrnn_ox_to_host(m, o0)) != CLRNN_OK) return st;
            for (size_t i = 0; i < o0->count; ++i)
                if (((const float *)o0->host)[i] != 0.0f)
                    return run_generic(m, n, s,
                                       clrnn_ox_fail(n, CLRNN_ERR_UNSUPPORTED, "the fused masked loop needs '%s' (the "
                                                     "output %s) to be zeros", o0->name,
                                                     pl->out_zero ? "at masked steps" : "before the first step"));
        }
    }
    if (mask) {
        if (mask->ndim != 3 || mask->shape[0] != TX || mask->shape[1] != N || mask->shape[2] != 1)
            return clrnn_ox_fail(n, CLRNN_ERR_SHAPE_MISMATCH, "the mask '%s' must have shape [%d, %d, 1]", mask->name, TX, N);
        if ((st = clrnn_ox_to_host(m, mask)) != CLRNN_OK) return st;
        if ((st = mask_reserve(s, (size_t)T * (size_t)N)) != CLRNN_OK) return st;
        const uint8_t *ms = mask->host;
        for (int t = 0; t < T; ++t)
            for (int b = 0; b < N; ++b) s->mask_nt[(size_t)b * T + t] = ms[(size_t)t * N + b];
        a.mask = s->mask_nt;
    }
    const int64_t seq[3] = {T, N, Hr}, st2[2] = {N, Hr};
    ox_value *Y = pl->S ? ox_out(m, n, pl->K) : NULL, *on = pl->k_out >= 0 ? ox_out(m, n, pl->k_out) : NULL;
    if (Y && (st = clrnn_ox_alloc_device(m, n, Y, 3, seq)) != CLRNN_OK) return st;
    if (on && (st = clrnn_ox_alloc_device(m, n, on, 2, st2)) != CLRNN_OK) return st;
    for (int l = 0; l < pl->L; ++l) {
        const fz_layer *ly = &pl->ly[l];
        const int top = l == pl->L - 1;
        const int64_t hs[2] = {N, ly->Hr}, cs[2] = {N, ly->H};
        clrnn_forward_args al = a;
        memset(&al.h0, 0, sizeof al.h0), memset(&al.c0, 0, sizeof al.c0);
        if ((st = state_in(m, n, ox_in(m, n, pl->ni + ly->k_h), N, ly->Hr, &al.h0)) != CLRNN_OK) return st;
        if (ly->k_c >= 0 && (st = state_in(m, n, ox_in(m, n, pl->ni + ly->k_c), N, ly->H, &al.c0)) != CLRNN_OK) return st;
        ox_value *hn = ox_out(m, n, ly->k_h), *cn = ly->k_c >= 0 ? ox_out(m, n, ly->k_c) : NULL;
        if (hn && (st = clrnn_ox_alloc_device(m, n, hn, 2, hs)) != CLRNN_OK) return st;
        if (cn && (st = clrnn_ox_alloc_device(m, n, cn, 2, cs)) != CLRNN_OK) return st;
        al.hn.mem = hn ? hn->mem : NULL;
        al.cn.mem = cn ? cn->mem : NULL;
        if (l) al.x.mem = s->mid[(l - 1) & 1];
        if (!top) { /* the whole sequence, for the cell above */
            const size_t bytes = (size_t)T * (size_t)N * (size_t)ly->Hr * sizeof(float);
            if (bytes > m->ctx->info.max_alloc_bytes)
                return clrnn_ox_fail(n, CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "a stacked cell's sequence needs %zu bytes (the "
                                     "device allows %llu per buffer)", bytes, (unsigned long long)m->ctx->info.max_alloc_bytes);
            cl_mem *mid = &s->mid[l & 1];
            if (s->mid_bytes[l & 1] < bytes) {
                if (*mid) clReleaseMemObject(*mid);
                s->mid_bytes[l & 1] = 0;
                cl_int err;
                *mid = clCreateBuffer(m->ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
                if (err != CL_SUCCESS) {
                    *mid = NULL;
                    return clrnn_fail_cl(err, "clCreateBuffer", "fused loop: a stacked cell's sequence");
                }
                s->mid_bytes[l & 1] = bytes;
            }
            al.y.mem = *mid;
        } else if (Y) {
            al.y.mem = Y->mem;
        } else if (on) {
            al.y.mem = on->mem;
            al.last_only = 1;
        }
        if ((st = clrnn_rnn_forward(s->rnn[l], &al)) != CLRNN_OK) return clrnn_ox_wrap(n, st);
    }
    if (on && Y) { /* the carried output after the last step: the last step's output */
        const size_t bytes = (size_t)N * Hr * sizeof(float);
        mtx_lock(&m->ctx->lock);
        cl_int err = clEnqueueCopyBuffer(m->ctx->queue, Y->mem, on->mem, (size_t)(T - 1) * bytes, 0, bytes, 0, NULL, NULL);
        mtx_unlock(&m->ctx->lock);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueCopyBuffer", "fused loop output");
    }
    /* the counters after the loop */
    for (int k = 0; k < pl->K; ++k) {
        ox_value *to = ox_out(m, n, k), *ti = ox_in(m, n, pl->ni + k);
        if (!to || !pl->counter[k]) continue;
        double c0;
        if ((st = read_scalar(m, n, ti, "a counter", &c0)) != CLRNN_OK ||
            (st = clrnn_ox_alloc_host(m, n, to, ti->ndim, ti->shape)) != CLRNN_OK)
            return st;
        if (to->dtype == CLRNN_DTYPE_INT32) ((int32_t *)to->host)[0] = (int32_t)(c0 + T);
        else ((int64_t *)to->host)[0] = (int64_t)c0 + T;
    }
    /* loop-invariants */
    for (int k = 0; k < pl->K; ++k) {
        ox_value *ov = ox_out(m, n, k), *iv = ox_in(m, n, pl->ni + k);
        if (!ov || !pl->pass[k]) continue;
        if (ov->is_const) ov->has_data = 1; /* copied at load */
        else if ((st = clrnn_ox_copy_reshaped(m, n, iv, ov, iv->ndim, iv->shape)) != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

static const char *const loop_attrs[] = {"body", NULL};
static const ox_op op_fused_loop = {"Loop", 0, 1 << 20, 1, 1 << 20, loop_attrs, fused_prepare, fused_run, fused_release};
static const char *const scan_attrs[] = {"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                                         "scan_output_axes", "scan_output_directions", NULL};
static const ox_op op_fused_scan = {"Scan", 0, 1 << 20, 1, 1 << 20, scan_attrs, fused_prepare, fused_run, fused_release};

/* ------------------------------------------------------------------------------------------
 * Entry point and reports
 * ---------------------------------------------------------------------------------------- */
static const char *cell_name(clrnn_cell c) {
    return c == CLRNN_CELL_LSTM ? "LSTM" : c == CLRNN_CELL_GRU ? "GRU" : "SimpleRNN";
}

static const char *act_name(clrnn_activation a) {
    switch (a.kind) {
    case CLRNN_ACT_SIGMOID: return "sigmoid";
    case CLRNN_ACT_TANH: return "tanh";
    case CLRNN_ACT_RELU: return "relu";
    case CLRNN_ACT_AFFINE: return "linear";
    case CLRNN_ACT_LEAKY_RELU: return "leaky_relu";
    case CLRNN_ACT_HARD_SIGMOID: return "hard_sigmoid";
    case CLRNN_ACT_ELU: return "elu";
    case CLRNN_ACT_SOFTSIGN: return "softsign";
    case CLRNN_ACT_SOFTPLUS: return "softplus";
    default: return "?";
    }
}

static clrnn_status add_report(clrnn_model *m, const ox_node *n, const Onnx__NodeProto *p, const fz_plan *pl, const char *why) {
    ox_loop_report *r = realloc(m->loops, ((size_t)m->n_loops + 1) * sizeof *r);
    if (!r) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "loop reports");
    m->loops = r;
    r = &m->loops[m->n_loops];
    memset(r, 0, sizeof *r);
    char text[1000];
    if (pl) {
        size_t len = (size_t)snprintf(text, sizeof text, "fused: ");
        if (pl->L > 1) len += (size_t)snprintf(text + len, sizeof text - len, "%d stacked cells (", pl->L);
        for (int l = 0; l < pl->L && len < sizeof text; ++l) {
            const fz_layer *ly = &pl->ly[l];
            const int rnn = ly->cell == CLRNN_CELL_RNN;
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s%s", l ? "; " : "", cell_name(ly->cell),
                                    ly->cell == CLRNN_CELL_GRU ? (ly->lbr ? " (reset_after)" : " (reset before)") : "");
            if (l == 0 && len < sizeof text)
                len += (size_t)snprintf(text + len, sizeof text - len, ", %s, %s",
                                        pl->reversed ? "reverse (scans a ReverseSequence input: go_backwards)" : "forward",
                                        pl->len_val >= 0 ? "sequence_length (zeros after the end)" : pl->mask_val < 0 ? "no mask"
                                        : pl->out_zero ? "Keras mask (zeros at masked steps)" : "Keras mask");
            if (len < sizeof text)
                len += (size_t)snprintf(text + len, sizeof text - len, ", units %d, input %d, activation %s%s%s%s%s%s%s",
                                        ly->H, ly->I, act_name(ly->act[rnn ? 0 : 1]), rnn ? "" : ", recurrent ",
                                        rnn ? "" : act_name(ly->act[0]), ly->peephole ? ", peepholes" : "",
                                        ly->Hr != ly->H ? ", projection" : "", ly->cell_clip != 0 ? ", cell_clip" : "",
                                        ly->proj_clip != 0 ? ", proj_clip" : "");
        }
        if (pl->L > 1 && len < sizeof text) snprintf(text + len, sizeof text - len, ")");
        r->fused = 1;
        r->cell = pl->ly[0].cell;
        r->layers = pl->L;
        r->masked = pl->mask_val >= 0 || pl->len_val >= 0;
        r->reversed = pl->reversed;
        r->hidden = pl->ly[pl->L - 1].H;
        r->input = pl->ly[0].I;
    } else {
        snprintf(text, sizeof text, "generic (not fused: %s)", why && *why ? why : "not recognised");
    }
    const char *name = p->name ? p->name : "", *op = p->op_type ? p->op_type : "";
    r->node = n->index;
    const char *w = pl ? "" : why && *why ? why : "not recognised";
    r->text = malloc(strlen(text) + 1);
    r->name = malloc(strlen(name) + 1);
    r->op_type = malloc(strlen(op) + 1);
    r->why = malloc(strlen(w) + 1);
    if (!r->text || !r->name || !r->op_type || !r->why) {
        free(r->text), free(r->name), free(r->op_type), free(r->why);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "loop reports");
    }
    strcpy(r->why, w);
    strcpy(r->text, text);
    strcpy(r->name, name);
    strcpy(r->op_type, op);
    m->n_loops++;
    return CLRNN_OK;
}

void clrnn_ox_loop_reports_free(clrnn_model *m) {
    for (int i = 0; i < m->n_loops; ++i) {
        free(m->loops[i].text);
        free(m->loops[i].name);
        free(m->loops[i].op_type);
        free(m->loops[i].why);
    }
    free(m->loops);
    m->loops = NULL;
    m->n_loops = 0;
}

clrnn_status clrnn_ox_fuse_loop(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, const ox_op **op) {
    *op = NULL;
    const int is_loop = same(p->op_type, "Loop"), is_scan = same(p->op_type, "Scan");
    if ((!is_loop && !is_scan) || (p->domain && *p->domain && strcmp(p->domain, "ai.onnx"))) return CLRNN_OK;
    if (getenv("CLRNN_NO_FUSE") && !strcmp(getenv("CLRNN_NO_FUSE"), "1")) return add_report(m, n, p, NULL, "CLRNN_NO_FUSE=1");
    fz *z = calloc(1, sizeof *z);
    fused_state *s = calloc(1, sizeof *s);
    if (!z || !s) {
        free(z), free(s);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "loop recogniser");
    }
    z->m = m;
    z->loop = p;
    z->scan = is_scan;
    z->work = &z->work_done;
    int ok = recognise(z, &s->p);
    if (*z->work > FZ_WORK) {
        ok = 0;
        snprintf(z->why, sizeof z->why, "the body is too large to analyse");
    }
    clrnn_clear_error(); /* what recognition tried and refused is not an error of the load */
    for (int i = 0; i < z->n_arr; ++i) clrnn_array_free(&z->arr[i]);
    clrnn_status st = add_report(m, n, p, ok ? &s->p : NULL, z->why);
    free(z);
    if (!ok || st != CLRNN_OK) {
        for (int l = 0; l < FZ_MAX_LAYERS; ++l) {
            fz_layer *ly = &s->p.ly[l];
            free(ly->W), free(ly->R), free(ly->B), free(ly->peep), free(ly->proj);
        }
        free(s);
        return st;
    }
    n->state = s;
    *op = is_scan ? &op_fused_scan : &op_fused_loop;
    return CLRNN_OK;
}
