/* Internal declarations of the ONNX modules (src/onnx/). Not installed.
 *
 * The data path: proto.c decodes the protobuf (protobuf-c, generated from onnx.proto) into
 * tensors and attributes → model.c builds the graph (values by name, nodes in topological order),
 * validates every node at load through its operator's prepare() (ops.c registry), folds the nodes
 * whose inputs are all constant → clrnn_model_run executes the rest in order. Values live on the
 * host, on the device or both (value.c keeps the two copies coherent); device math goes through
 * kernels.cl (device.c) and CLBlast, RNN nodes through clrnn_rnn_forward (ops_rnn.c).
 *
 * Control flow (ops_control.c): a Loop/Scan/If body is an ox_graph built by clrnn_ox_graph_build
 * while its node is prepared: its values join the model's one value table (indices stay valid),
 * its names live in a scope of their own, looked up before the enclosing scopes', so a body reads
 * outer values by name and its own names stay invisible outside. Body nodes are validated and
 * folded like the main graph's; a node whose body reads a non-constant outer value is never
 * folded. At run the operator binds the body inputs, runs its nodes (clrnn_ox_graph_run) and
 * hands the outputs on by swapping buffers (clrnn_ox_value_swap), so device data stays there. */
#ifndef CLRNN_ONNX_INTERNAL_H
#define CLRNN_ONNX_INTERNAL_H

#include "internal.h"
#include "onnx.pb-c.h"

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader reads raw_data as little-endian and needs a little-endian host"
#endif

/* ONNX TensorProto.DataType values clrnn names in messages or supports. */
enum {
    OX_UNDEFINED = 0,
    OX_FLOAT = 1,
    OX_UINT8 = 2,
    OX_INT8 = 3,
    OX_UINT16 = 4,
    OX_INT16 = 5,
    OX_INT32 = 6,
    OX_INT64 = 7,
    OX_STRING = 8,
    OX_BOOL = 9,
    OX_FLOAT16 = 10,
    OX_DOUBLE = 11
};

/* memcpy that accepts (NULL, 0): empty protobuf fields and empty tensors have NULL data. */
static inline void ox_memcpy(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
}

/* ---- values ---- */
typedef struct ox_value {
    char *name;
    clrnn_dtype dtype;   /* fixed at load (type inference) */
    int is_bool;         /* ONNX BOOL stored as uint8 0/1 */
    int ndim;
    int64_t shape[CLRNN_MAX_DIMS];
    size_t count;
    void *host;          /* host copy, host_cap bytes */
    size_t host_cap;
    cl_mem mem;          /* device copy (float32 only), mem_cap bytes */
    size_t mem_cap;
    int on_host, on_device; /* which copies hold the current data */
    int has_data;        /* set by the last run / bind / load */
    int is_const;        /* initializer or folded at load: never rewritten */
    int is_input;        /* graph input (bound by the user) */
    int depth;           /* 0: main graph, d: defined in a body nested d deep */
    uint64_t version;    /* bumped at every write, lets ops cache derived data */
} ox_value;

/* ---- nodes and operators ---- */
struct ox_op;
typedef struct ox_node {
    char *label;  /* "'name'" or "#index (output 'y')" for messages */
    char *op_type;
    const struct ox_op *op;
    int index;
    int n_in, n_out;
    int *in, *out; /* value indices; -1 = an omitted optional input or output */
    void *state;   /* the operator's parsed attributes and cached objects */
    int folded;    /* computed at load */
    int reads_outer; /* its subgraph reads non-constant values of enclosing graphs: never folded */
} ox_node;

typedef struct ox_op {
    const char *op_type;
    int min_in, max_in, min_out, max_out;
    const char *const *attrs; /* accepted attribute names, NULL-terminated */
    /* At load: parses attributes into n->state, checks what can be checked without data, sets the
     * dtype of every output value. */
    clrnn_status (*prepare)(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p);
    /* Computes the outputs from the inputs (each present input has data). */
    clrnn_status (*run)(clrnn_model *m, ox_node *n);
    void (*release)(ox_node *n); /* frees n->state; may be NULL (then free(n->state)) */
} ox_op;

const ox_op *clrnn_ox_find_op(const char *op_type);

/* Largest tensor kept on the host (integer shape arithmetic, folded constants). */
#define CLRNN_OX_MAX_HOST_BYTES (256 << 20)
/* Comma-separated list of the supported operators, for messages; returns buf. */
const char *clrnn_ox_supported_ops(char *buf, size_t cap);

/* ---- device kernels (device.c, kernels.cl) ---- */
/* The ONNX kernels: one program per context (clrnn_program_kept), shared by its models; each
 * kernel created on its first launch (under the context lock), NULL before. */
typedef struct ox_kernels {
    cl_program program; /* the kept program's (not owned) */
    cl_kernel copy, gather, binary, unary, softmax, reduce, where, pad;
} ox_kernels;

/* Names of one scope: open addressing over value indices, cap slots (power of 2), -1 = empty. */
typedef struct ox_names {
    int *slot;
    int cap, n;
} ox_names;

/* A subgraph (Loop/Scan body, If branch). */
typedef struct ox_graph {
    struct ox_graph *parent; /* enclosing body; NULL when the main graph encloses it */
    int depth;               /* 1 for a body of the main graph */
    const char *owner;       /* label of the node that owns it, for messages */
    ox_names names;
    ox_node *nodes;
    int n_nodes;
    int *inputs, *outputs; /* value indices */
    int n_inputs, n_outputs;
    int *out_ndim;                          /* declared rank of each output, -1 unknown */
    int64_t (*out_shape)[CLRNN_MAX_DIMS];  /* declared dims, -1 unknown */
    int reads_outer; /* a node reads a non-constant value of an enclosing graph */
} ox_graph;

/* Deepest nesting of subgraphs (the wire check allows ~21 through protobuf nesting already). */
#define CLRNN_OX_MAX_GRAPH_DEPTH 16
/* Default of CLRNN_MODEL_MAX_ITERATIONS: body iterations of one run, all loops together. */
#define CLRNN_OX_DEFAULT_MAX_ITERATIONS ((uint64_t)1 << 24)

typedef struct ox_io {
    int value;
    clrnn_model_tensor_info info;
} ox_io;

/* What a Loop or Scan node became (fuse_loop.c; clrnn_model_loop_info). */
typedef struct ox_loop_report {
    int node;
    char *name, *op_type, *text, *why; /* why: the reason it was not fused ("" when fused) */
    int fused, masked, reversed, hidden, input, layers;
    clrnn_cell cell;
} ox_loop_report;

struct clrnn_model {
    clrnn_context *ctx;
    uint64_t ctx_id; /* ctx's registry id at load: detects a destroyed context */
    int64_t opset, ir_version;
    char *producer_name, *producer_version;
    ox_value *values;
    int n_values, cap_values;
    ox_names names;   /* the main graph's names */
    ox_graph *scope;  /* while loading: the subgraph being built (NULL: the main graph) */
    uint64_t iterations, max_iterations; /* body iterations of the current run, and the bound */
    ox_node *nodes;
    int n_nodes;
    ox_io *inputs, *outputs;
    int n_inputs, n_outputs;
    char **strings; /* owned strings referenced by the io infos (dim names) */
    int n_strings;
    ox_kernels *k; /* the context's ONNX kernels, NULL until the model first needs them */
    int kernels_from_cache; /* their program came from the context's binary cache */
    /* Bytes of the values' live buffers and the limits they must stay under (value.c; the
     * budgets are set at load, see clrnn_onnx_load in clrnn.h). */
    size_t host_bytes, host_budget;
    size_t dev_bytes, dev_budget;
    int keras; /* built by the Keras loader (src/keras/): its CLRNN_KERAS_DOMAIN operators are allowed */
    ox_loop_report *loops; /* one per Loop/Scan node, in graph order */
    int n_loops;
};

/* Builds a model from a decoded (or synthesised) ModelProto: values, nodes, folding, budgets, the
 * handle registered. `keras`: the graph comes from clrnn_keras_load and may use the operators of
 * CLRNN_KERAS_DOMAIN (which an ONNX file never can). Reports like clrnn_onnx_load_memory. */
clrnn_status clrnn_ox_load_proto(clrnn_context *ctx, const Onnx__ModelProto *mp, int keras, clrnn_model **out);
/* clrnn_onnx_load and clrnn_keras_load: argument checks, the file read whole (regular files only;
 * `what` names it in messages), load_memory on it, and the path in front of a failure's message. */
typedef clrnn_status (*clrnn_ox_load_memory_fn)(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out);
clrnn_status clrnn_ox_load_path(clrnn_context *ctx, const char *path, const char *func, const char *what,
                                clrnn_ox_load_memory_fn load_memory, clrnn_model **out);
/* The host budget a model gets (CLRNN_MODEL_HOST_BUDGET, else a quarter of the physical memory). */
clrnn_status clrnn_ox_host_budget(size_t *out);
/* Index of the value named `name`, -1 if none is defined (yet). */
int clrnn_ox_find_value(clrnn_model *m, const char *name);
/* Loop (and Scan) nodes that are an RNN cell over a scanned tensor (fuse_loop.c): called by add_node
 * before the operator lookup. Recognised: *op = the fused operator, n->state its plan; else *op =
 * NULL (the node goes to the registry). Either way the node's report is added to m->loops. Fails
 * only when out of memory. */
clrnn_status clrnn_ox_fuse_loop(clrnn_model *m, ox_node *n, const Onnx__NodeProto *p, const struct ox_op **op);
void clrnn_ox_loop_reports_free(clrnn_model *m);
#define CLRNN_KERAS_DOMAIN "ai.clrnn.keras"
/* The Keras loader's operators (src/keras/keras_ops.c): masks, Keras RNN layers, activations. */
const ox_op *clrnn_keras_find_op(const char *op_type);

/* ---- subgraphs (model.c) ---- */
/* Builds graph attribute g of node `owner` (being prepared) as a subgraph of the current scope.
 * It must declare n_in inputs; in_type[i] / in_bool[i] give their types (in_type[i] < 0: the
 * declared type). Every node is validated (and folded when constant); outputs' types come from
 * what computes them. Errors name the body's node; the caller names the owner. */
clrnn_status clrnn_ox_graph_build(clrnn_model *m, const ox_node *owner, const char *attr, const Onnx__GraphProto *g,
                                  int n_in, const int *in_type, const int *in_bool, ox_graph **out);
void clrnn_ox_graph_free(ox_graph *g);
/* Runs the graph's nodes that are not folded (its inputs bound). */
clrnn_status clrnn_ox_graph_run(clrnn_model *m, ox_graph *g);
/* A value outside every name table (an operator's scratch), released with the model. */
clrnn_status clrnn_ox_add_hidden_value(clrnn_model *m, const char *name, clrnn_dtype dtype, int is_bool, int *out);
/* Counts k body iterations against CLRNN_MODEL_MAX_ITERATIONS (n names the loop); refuses
 * (CLRNN_ERR_INVALID_ARGUMENT) what would pass the bound, before running them. */
clrnn_status clrnn_ox_count_iterations(clrnn_model *m, const ox_node *n, uint64_t k);

/* ---- errors (model.c) ---- */
/* "node 'name' (Op): <formatted>" */
clrnn_status clrnn_ox_fail(const ox_node *n, clrnn_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* clrnn_last_error() without its leading "CLRNN_ERR_...: " status name. */
const char *clrnn_ox_detail(void);
/* Re-reports the current clrnn_last_error() (from a call that failed with `st`) prefixed with the node. */
clrnn_status clrnn_ox_wrap(const ox_node *n, clrnn_status st);
static inline ox_value *ox_in(clrnn_model *m, const ox_node *n, int i) {
    return (i < n->n_in && n->in[i] >= 0) ? &m->values[n->in[i]] : NULL;
}
static inline ox_value *ox_out(clrnn_model *m, const ox_node *n, int i) {
    return (i < n->n_out && n->out[i] >= 0) ? &m->values[n->out[i]] : NULL;
}

/* ---- protobuf helpers (proto.c) ---- */
const char *clrnn_ox_type_name(int32_t onnx_type);
/* Maps an ONNX element type onto clrnn's; returns 0 if clrnn has no such type. */
int clrnn_ox_dtype_from_onnx(int32_t onnx_type, clrnn_dtype *dtype, int *is_bool);
const char *clrnn_ox_dtype_name(clrnn_dtype dtype, int is_bool);
/* Decodes a TensorProto (typed fields or raw_data) into a new array. `what` names it in messages. */
clrnn_status clrnn_ox_tensor_decode(const Onnx__TensorProto *t, const char *what, clrnn_array *out, int *is_bool);

/* Deepest nesting of protobuf messages clrnn decodes, the top-level message counting as 1.
 * protobuf-c recurses once per level with no limit of its own, ~960 bytes of stack per level
 * (protobuf-c 1.4.1, x86-64): 64 levels take ~60 KiB. Real models stay far below: the 1,100+
 * models of the ONNX test suite and tests/onnx (Loop/If/Scan bodies, sequence and optional
 * types) reach 14; a subgraph adds 3 levels, a sequence or optional type 2. */
#define CLRNN_OX_MAX_NESTING 64
/* Walks the wire format of a `desc` message iteratively and refuses (CLRNN_ERR_CORRUPT_FILE)
 * nesting deeper than CLRNN_OX_MAX_NESTING and malformed framing, before protobuf-c recurses.
 * `what` names the data in messages ("an ONNX model"); *depth (may be NULL): the deepest level. */
clrnn_status clrnn_ox_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                                 const char *what, int *depth);


const Onnx__AttributeProto *clrnn_ox_attr(const Onnx__NodeProto *p, const char *name);
/* Typed attribute readers: the default when absent, a node-naming error when of another type. */
clrnn_status clrnn_ox_attr_int(const ox_node *n, const Onnx__NodeProto *p, const char *name, int64_t def, int64_t *out);
clrnn_status clrnn_ox_attr_float(const ox_node *n, const Onnx__NodeProto *p, const char *name, float def, float *out);
/* Copies the string into buf (truncation is an error); def when absent. */
clrnn_status clrnn_ox_attr_string(const ox_node *n, const Onnx__NodeProto *p, const char *name, const char *def,
                                  char *buf, size_t cap);
/* Pointer into the proto (valid during prepare); *count = 0 and *present = 0 when absent. */
clrnn_status clrnn_ox_attr_ints(const ox_node *n, const Onnx__NodeProto *p, const char *name, const int64_t **vals,
                                size_t *count, int *present);
clrnn_status clrnn_ox_attr_floats(const ox_node *n, const Onnx__NodeProto *p, const char *name, const float **vals,
                                  size_t *count, int *present);

/* ---- values (value.c) ---- */
/* Element count of a shape; CLRNN_ERR_OVERFLOW / INVALID_ARGUMENT (negative dim) via n's name. */
clrnn_status clrnn_ox_shape_count(const ox_node *n, int ndim, const int64_t *shape, size_t *count);
/* Sets the value's shape and makes its host copy current and writable (nothing on the device).
 * Both allocators count the buffer against the model's budget; a refusal (size, budget) leaves v
 * unchanged. */
clrnn_status clrnn_ox_alloc_host(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape);
/* Sets the value's shape and makes its device copy current and writable (float32 only). */
clrnn_status clrnn_ox_alloc_device(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape);
/* Makes the host (device) copy current, transferring if needed. */
clrnn_status clrnn_ox_to_host(clrnn_model *m, ox_value *v);
clrnn_status clrnn_ox_to_device(clrnn_model *m, ox_value *v);
/* Gives v's host buffer to `data` (malloc'ed, `bytes` long; freed with the value) within the
 * model's host budget; on failure v is unchanged and the caller still owns data. */
clrnn_status clrnn_ox_adopt_host(clrnn_model *m, ox_value *v, void *data, size_t bytes);
void clrnn_ox_value_release(clrnn_model *m, ox_value *v);
/* Exchanges the data (buffers, shape, flags) of two values of the same type; names and roles
 * stay. Both versions move past either old one, so caches keyed on them see the change. */
void clrnn_ox_value_swap(ox_value *a, ox_value *b);
/* dst = a copy of src's data, on the side where src is current (float32 on the device). */
clrnn_status clrnn_ox_value_assign(clrnn_model *m, const ox_node *n, ox_value *dst, ox_value *src);
/* Frees the value's buffers (budget given back), keeps its name and type; no data afterwards. */
void clrnn_ox_value_drop(clrnn_model *m, ox_value *v);
/* Reads an integer tensor (int32 or int64, host) into int64s. */
clrnn_status clrnn_ox_read_ints(clrnn_model *m, const ox_node *n, ox_value *v, const char *what, int64_t *out,
                                size_t cap, size_t *count);
/* Row-major strides of a shape. */
void clrnn_ox_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Multidirectional (numpy) broadcast of two shapes; error naming the node when incompatible. */
clrnn_status clrnn_ox_broadcast(const ox_node *n, int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                                int64_t *out);
/* Strides of a tensor of shape (nin, sin) read as broadcast to (nout, sout): 0 on broadcast axes. */
void clrnn_ox_broadcast_strides(int nin, const int64_t *sin, int nout, const int64_t *sout, int64_t *strides);
/* dst[dst_off + Σ idx_k dstride_k] = src[src_off + Σ idx_k sstride_k] over every index of shape,
 * on the host (elements of `elem` bytes). */
void clrnn_ox_host_copy(const void *src, int64_t src_off, void *dst, int64_t dst_off, size_t elem, int ndim,
                        const int64_t *shape, const int64_t *sstride, const int64_t *dstride);
/* Same copy where the data lives: on the device when `device` (float32; both values uploaded as
 * needed), else on the host. The destination copy must already be allocated on that side. */
clrnn_status clrnn_ox_copy(clrnn_model *m, const ox_node *n, int device, ox_value *src, int64_t src_off,
                           ox_value *dst, int64_t dst_off, int ndim, const int64_t *shape, const int64_t *sstride,
                           const int64_t *dstride);
/* Sets v's shape on the side its type lives (float32: device, others: host), see ops_shape.c. */
clrnn_status clrnn_ox_alloc_out(clrnn_model *m, const ox_node *n, ox_value *v, int ndim, const int64_t *shape);
/* out = in's data under a new shape of the same element count, where in's type lives. */
clrnn_status clrnn_ox_copy_reshaped(clrnn_model *m, const ox_node *n, ox_value *in, ox_value *out, int ndim,
                                    const int64_t *shape);
/* Normalizes an axis in [-rank, rank) to [0, rank); error naming the node otherwise. */
clrnn_status clrnn_ox_axis(const ox_node *n, int64_t axis, int rank, const char *what, int *out);

/* ---- device kernels (device.c) ---- */
clrnn_status clrnn_ox_kernels_ensure(clrnn_model *m);
/* the op codes of clrnn_ox_dev_binary / _unary / _reduce / _pad: OX_BIN_*, OX_UN_*, OX_RED_*, OX_PAD_* */
#include "ox_abi.h"
clrnn_status clrnn_ox_dev_copy(clrnn_model *m, const ox_node *n, cl_mem src, int64_t src_off, cl_mem dst,
                               int64_t dst_off, int ndim, const int64_t *shape, const int64_t *sstride,
                               const int64_t *dstride);
clrnn_status clrnn_ox_dev_gather(clrnn_model *m, const ox_node *n, cl_mem src, cl_mem dst, const int32_t *idx,
                                 size_t n_idx, size_t outer, size_t axis_len, size_t inner);
clrnn_status clrnn_ox_dev_binary(clrnn_model *m, const ox_node *n, int op, cl_mem a, cl_mem b, cl_mem y, int ndim,
                                 const int64_t *shape, const int64_t *astride, const int64_t *bstride);
clrnn_status clrnn_ox_dev_unary(clrnn_model *m, const ox_node *n, int op, cl_mem x, cl_mem y, size_t count,
                               float alpha, float beta);
/* y[count] over the kept axes (shape/strides into x, output row-major) of x reduced over the
 * nred axes (rcount elements). */
clrnn_status clrnn_ox_dev_reduce(clrnn_model *m, const ox_node *n, int op, cl_mem x, cl_mem y, size_t count, int nkeep,
                                 const int64_t *kshape, const int64_t *kstride, int nred, const int64_t *rshape,
                                 const int64_t *rstride, size_t rcount);
clrnn_status clrnn_ox_dev_pad(clrnn_model *m, const ox_node *n, int mode, float value, cl_mem x, cl_mem y, int ndim,
                              const int64_t *oshape, const int64_t *ishape, const int64_t *begin);
/* cond: cond_count bytes on the host (a bool tensor), read through cstride. */
clrnn_status clrnn_ox_dev_where(clrnn_model *m, const ox_node *n, const unsigned char *cond, size_t cond_count,
                                cl_mem x, cl_mem z, cl_mem y, int ndim, const int64_t *shape, const int64_t *cstride,
                                const int64_t *astride, const int64_t *bstride);
clrnn_status clrnn_ox_dev_fill(clrnn_model *m, const ox_node *n, cl_mem mem, size_t offset_bytes, size_t bytes, float value);
clrnn_status clrnn_ox_dev_softmax(clrnn_model *m, const ox_node *n, cl_mem x, cl_mem y, size_t outer, size_t len,
                                  size_t inner, int log_out);
clrnn_status clrnn_ox_dev_fill_zero(clrnn_model *m, const ox_node *n, cl_mem mem, size_t offset_bytes, size_t bytes);

/* ---- shared prepare helpers (ops.c) ---- */
/* Sets the dtype of output i. */
static inline void ox_set_out_type(clrnn_model *m, const ox_node *n, int i, clrnn_dtype dt, int is_bool) {
    ox_value *v = ox_out(m, n, i);
    if (v) {
        v->dtype = dt;
        v->is_bool = is_bool;
    }
}
/* Output 0 takes input 0's type (bool included); returns CLRNN_OK. */
static inline clrnn_status ox_same_type_out(clrnn_model *m, const ox_node *n) {
    const ox_value *in = ox_in(m, n, 0);
    ox_set_out_type(m, n, 0, in->dtype, in->is_bool);
    return CLRNN_OK;
}
/* Requires input i (if present) to be of one of the dtypes in `mask` (bit per clrnn_dtype). */
clrnn_status clrnn_ox_check_type(clrnn_model *m, const ox_node *n, int i, const char *what, unsigned mask);
#define OX_T(dt) (1u << (dt))
#define OX_T_F32 OX_T(CLRNN_DTYPE_FLOAT32)
#define OX_T_INT (OX_T(CLRNN_DTYPE_INT32) | OX_T(CLRNN_DTYPE_INT64))
#define OX_T_I64 OX_T(CLRNN_DTYPE_INT64)
#define OX_T_ALL (OX_T_F32 | OX_T_INT | OX_T(CLRNN_DTYPE_UINT8))
/* clrnn_ox_check_type on input i, then ox_same_type_out. */
static inline clrnn_status ox_check_then_same_type(clrnn_model *m, const ox_node *n, int i, const char *what,
                                                   unsigned mask) {
    const clrnn_status st = clrnn_ox_check_type(m, n, i, what, mask);
    return st == CLRNN_OK ? ox_same_type_out(m, n) : st;
}
/* Sets n->state to `size` zeroed bytes; NULL (CLRNN_ERR_OUT_OF_MEMORY reported) on failure. */
void *clrnn_ox_new_state(ox_node *n, size_t size);
/* clrnn_ox_attr_int for an attribute without default: CLRNN_ERR_CORRUPT_FILE when absent. */
clrnn_status clrnn_ox_attr_int_required(const ox_node *n, const Onnx__NodeProto *p, const char *name, int64_t *out);
/* Axes given by the attribute 'axes' before opset `since`, by the int64 input 1 from `since` on
 * (either in the wrong opset is refused). Copies the attribute into axes[CLRNN_MAX_DIMS]:
 * *count values, *present when the attribute is there. */
clrnn_status clrnn_ox_axes_attr(clrnn_model *m, const ox_node *n, const Onnx__NodeProto *p, int64_t since,
                                int64_t *axes, size_t *count, int *present);

/* export.c: the ONNX model of clrnn_onnx_save in memory (malloc'ed, free with free()); the same
 * checks and refusals, nothing allocated on failure. */
clrnn_status clrnn_ox_export_memory(const clrnn_onnx_export *spec, unsigned char **data, size_t *size);

#endif
