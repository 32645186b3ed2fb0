/* RNN loops on the fused engine (issue 11 item 2, src/onnx/fuse_loop.c).
 *
 *   - every tf2onnx model of tests/keras whose recurrence is a Loop: loaded, each loop reported
 *     fused as the cell / mask / direction listed here (a regression in recognition fails), run, and
 *     compared with Keras' own outputs within |got - exp| <= 1e-5 (1 + |exp|);
 *   - near misses: a fusable body mutated in one place (an extra op on h, a wrong gate wiring, an
 *     activation that differs, a weight that is not constant, a condition that is not time < T, a
 *     mask missing on c, the wrong scan output, a step of 2, the input gathered by another
 *     counter) must not be fused. On this branch such a load is refused ("operator Loop is not
 *     supported"); once the generic Loop lands it loads with zero fused loops: both are accepted;
 *   - structure, not names: every body value renamed, every commutative Add/Mul operand swapped:
 *     still fused, still Keras' outputs;
 *   - initial states are the Loop's initial carried values: a run continued from the states of a
 *     run on the first half of the sequence gives Keras' final states of the whole sequence;
 *   - a loop whose trip count at run time is not its input's length (time starting at 1) is
 *     refused at run time, naming the reason. */
#include "onnx/onnx_case.h"
#include "onnx.pb-c.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Per loop in graph order: cell (R SimpleRNN, L LSTM, G GRU reset_after, g GRU reset before), mask
 * (m: Keras mask, output carried; z: Keras mask or TF1 sequence_length, zeros at masked steps;
 * '.': none), r: reversed input. */
typedef struct fused_case {
    const char *model;
    const char *loops;
} fused_case;

static const fused_case cases[] = {
    {"k2_bidir_simplernn_sum", "R.. R.r"},
    {"k2_emb_gru_seq", "Gm."},
    {"k2_emb_lstm_last", "Lm."},
    {"k2_emb_mask_stack_gru2", "Gm. Gm."},
    {"k2_gru0_back", "g.r"},
    {"k2_gru0_last", "g.."},
    {"k2_gru0_seq", "g.."},
    {"k2_mask_bidir_gru_ave_holes", "Gz. Gzr"},
    {"k2_mask_bidir_lstm_concat_right", "Lz. Lzr"},
    {"k2_mask_gru0_holes", "gm."},
    {"k2_mask_gru_holes", "Gm."},
    {"k2_mask_gru_last_allmasked", "Gm."},
    {"k2_mask_gru_right", "Gm."},
    {"k2_mask_gru_timedistributed_softmax", "Gm."},
    {"k2_mask_lstm_allmasked", "Lm."},
    {"k2_mask_lstm_back_right", "Lmr"},
    {"k2_mask_lstm_holes", "Lm."},
    {"k2_mask_lstm_last_holes", "Lm."},
    {"k2_mask_lstm_left", "Lm."},
    {"k2_mask_lstm_return_state_holes", "Lm."},
    {"k2_mask_lstm_right", "Lm."},
    {"k2_mask_simplernn_holes", "Rm."},
    {"k2_mask_simplernn_last_holes", "Rm."},
    {"k2_mask_simplernn_left", "Rm."},
    {"k2_mask_stack_lstm2_holes", "Lm. Lm."},
    {"k2_simplernn_back", "R.r"},
    {"k2_simplernn_last", "R.."},
    {"k2_simplernn_relu_fixedt", "R.."},
    {"k2_simplernn_return_state_back", "R.r"},
    {"k2_simplernn_seq", "R.."},
    {"k2_stack_mixed3", "R.."},
    {"k2_stack_simplernn3", "R.. R.. R.."},
    {"k3_bidir_gru_concat_last", "G.. G.r"},
    {"k3_bidir_simplernn_sum", "R.. R.r"},
    {"k3_emb_gru_seq", "Gm."},
    {"k3_emb_lstm_last", "Lm."},
    {"k3_emb_mask_stack_gru2", "Gm. Gm."},
    {"k3_gru0_back", "g.r"},
    {"k3_gru0_last", "g.."},
    {"k3_gru0_seq", "g.."},
    {"k3_gru_back", "G.r"},
    {"k3_gru_dense_mlp", "G.."},
    {"k3_gru_last", "G.."},
    {"k3_gru_return_state", "G.."},
    {"k3_gru_seq", "G.."},
    {"k3_mask_bidir_gru_ave_holes", "Gz. Gzr"},
    {"k3_mask_bidir_lstm_concat_right", "Lz. Lzr"},
    {"k3_mask_gru0_holes", "gm."},
    {"k3_mask_gru_holes", "Gm."},
    {"k3_mask_gru_last_allmasked", "Gm."},
    {"k3_mask_gru_right", "Gm."},
    {"k3_mask_lstm_allmasked", "Lm."},
    {"k3_mask_lstm_back_right", "Lmr"},
    {"k3_mask_lstm_holes", "Lm."},
    {"k3_mask_lstm_last_holes", "Lm."},
    {"k3_mask_lstm_left", "Lm."},
    {"k3_mask_lstm_return_state_holes", "Lm."},
    {"k3_mask_lstm_right", "Lm."},
    {"k3_mask_simplernn_holes", "Rm."},
    {"k3_mask_simplernn_last_holes", "Rm."},
    {"k3_mask_simplernn_left", "Rm."},
    {"k3_mask_stack_lstm2_holes", "Lm. Lm."},
    {"k3_simplernn_back", "R.r"},
    {"k3_simplernn_last", "R.."},
    {"k3_simplernn_relu_fixedt", "R.."},
    {"k3_simplernn_return_state_back", "R.r"},
    {"k3_simplernn_seq", "R.."},
    {"k3_stack_mixed3", "G.. R.."},
    {"k3_stack_simplernn3", "R.. R.. R.."},
    /* TF1 dynamic_rnn(sequence_length) frozen graphs: a Scan; the lengths become the mask */
    {"tf1_basicrnn_frozen_cfv1", "Rz."},
    {"tf1_basiclstm_frozen_cfv1", "Lz."},
    {"tf1_lstm_frozen_cfv1", "Lz."},
    {"tf1_gru_frozen_cfv1", "gz."},
    /* LSTMCell options: clrnn's peepholes, projection, cell_clip, proj_clip (checked below) */
    {"tf1_lstm_peephole_frozen_cfv1", "Lz."},
    {"tf1_lstm_proj_frozen_cfv1", "Lz."},
    {"tf1_lstm_peephole_proj_clip_frozen_cfv1", "Lz."},
    {"tf1_lstm_peephole_function", "Lz."},
    {"tf1_lstm_proj_function", "Lz."},
    {"tf1_lstm_peephole_proj_clip_function", "Lz."},
    /* MultiRNNCell: two cells in one body, run one after the other (first cell's code here) */
    {"tf1_multi_lstm2_frozen_cfv1", "Lz."},
    {"tf1_multi_lstm2_function", "Lz."},
    {"tf1_multi_gru_basicrnn_frozen_cfv1", "gz."},
    {"tf1_multi_gru_basicrnn_function", "gz."},
    /* TF1 through tf.function: a Loop that stops at the longest sequence */
    {"tf1_basicrnn_function", "Rz."},
    {"tf1_basiclstm_function", "Lz."},
    /* an ONNX LSTM node: no loop at all */
    {"k2_lstm_seq", ""},
};

/* What the description of the (first) loop of these models must also say. */
static const struct {
    const char *model, *says;
} options[] = {
    {"tf1_lstm_peephole_frozen_cfv1", "peepholes"},
    {"tf1_lstm_proj_frozen_cfv1", "projection"},
    {"tf1_lstm_peephole_proj_clip_frozen_cfv1", "peepholes, projection, cell_clip, proj_clip"},
    {"tf1_lstm_peephole_function", "peepholes"},
    {"tf1_lstm_proj_function", "projection"},
    {"tf1_lstm_peephole_proj_clip_function", "peepholes, projection, cell_clip, proj_clip"},
    {"tf1_lstm_frozen_cfv1", "sigmoid"}, /* and none of the options: */
    {"tf1_multi_lstm2_frozen_cfv1", "2 stacked cells (LSTM, forward, sequence_length (zeros after the end), units 4, input 4, "
                                    "activation tanh, recurrent sigmoid; LSTM, units 4, input 4"},
    {"tf1_multi_lstm2_function", "2 stacked cells (LSTM"},
    {"tf1_multi_gru_basicrnn_frozen_cfv1", "2 stacked cells (GRU (reset before), forward, sequence_length (zeros after the "
                                           "end), units 4, input 4, activation tanh, recurrent sigmoid; SimpleRNN, units 3, input 4"},
    {"tf1_multi_gru_basicrnn_function", "2 stacked cells (GRU (reset before)"},
};

static const char *keras_dir(void) {
    static char dir[1024];
    const char *src = getenv("CLRNN_SOURCE_DIR");
    if (!src || !*src) fail_msg("CLRNN_SOURCE_DIR is not set (run through ctest)");
    snprintf(dir, sizeof dir, "%s/tests/keras", src);
    return dir;
}

/* The case's input x (tests/keras/<model>/in/x.npy), and its ONNX model loaded when m is given. */
static clrnn_array case_x(const char *model, clrnn_model **m) {
    char path[2400];
    if (m) {
        snprintf(path, sizeof path, "%s/%s/model.onnx", keras_dir(), model);
        *m = NULL;
        TU_OK(clrnn_onnx_load(tu_context(), path, m));
    }
    snprintf(path, sizeof path, "%s/%s/in/x.npy", keras_dir(), model);
    clrnn_array x;
    TU_OK(clrnn_npy_load(path, &x));
    return x;
}

/* meta.txt's `key a b c` line into names (at most 8). */
static int meta_names(const char *model, const char *key, char names[8][128]) {
    char path[2400], line[4096];
    snprintf(path, sizeof path, "%s/%s/meta.txt", keras_dir(), model);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ')
            for (char *t = strtok(line + strlen(key), " \n"); t && n < 8; t = strtok(NULL, " \n"))
                snprintf(names[n++], 128, "%s", t);
    fclose(f);
    return n;
}

static void bind_inputs(clrnn_model *m, const char *model) {
    char kin[8][128], oin[8][128], path[2400];
    const int n = meta_names(model, "keras_inputs", kin);
    assert_int_equal(meta_names(model, "onnx_inputs", oin), n);
    for (int i = 0; i < n; ++i) {
        clrnn_array a;
        snprintf(path, sizeof path, "%s/%s/in/%s.npy", keras_dir(), model, kin[i]);
        TU_OK(clrnn_npy_load(path, &a));
        TU_OK(clrnn_model_set_input(m, oin[i], &a));
        clrnn_array_free(&a);
    }
}

/* Every output against out/; returns the largest scaled error. */
static double compare_outputs(clrnn_model *m, const char *model) {
    char kout[8][128], oout[8][128], path[2400], msg[512];
    const int n = meta_names(model, "keras_outputs", kout);
    assert_int_equal(meta_names(model, "onnx_outputs", oout), n);
    assert_true(n > 0);
    double worst = 0;
    for (int i = 0; i < n; ++i) {
        clrnn_array want, got;
        snprintf(path, sizeof path, "%s/%s/out/%s.npy", keras_dir(), model, kout[i]);
        TU_OK(clrnn_npy_load(path, &want));
        TU_OK(clrnn_model_get_output(m, oout[i], &got));
        double err = 0;
        if (!oc_compare(&got, &want, 1e-5, 1e-5, &err, msg, sizeof msg)) fail_msg("%s output %s: %s", model, oout[i], msg);
        if (err > worst) worst = err;
        clrnn_array_free(&got);
        clrnn_array_free(&want);
    }
    return worst;
}

/* The loops of m against the codes ("Lm. G.r"). */
static void check_loops(clrnn_model *m, const char *model, const char *codes) {
    clrnn_model_info info;
    TU_OK(clrnn_model_get_info(m, &info));
    const int expect = *codes ? (int)(strlen(codes) + 1) / 4 : 0;
    if (info.num_loops != expect || info.num_fused_loops != expect)
        fail_msg("%s: %d loops, %d fused (expected %d, all fused)", model, info.num_loops, info.num_fused_loops, expect);
    for (int i = 0; i < expect; ++i) {
        const char *c = codes + 4 * i;
        clrnn_model_loop_info li;
        TU_OK(clrnn_model_get_loop_info(m, i, &li));
        const clrnn_cell cell = c[0] == 'R' ? CLRNN_CELL_RNN : c[0] == 'L' ? CLRNN_CELL_LSTM : CLRNN_CELL_GRU;
        if (!li.fused || li.cell != cell || li.masked != (c[1] != '.') || li.reversed != (c[2] == 'r'))
            fail_msg("%s loop %d: %s (expected %.3s)", model, i, li.description, c);
        if (c[0] == 'G' && !strstr(li.description, "reset_after")) fail_msg("%s loop %d: %s", model, i, li.description);
        if (c[0] == 'g' && !strstr(li.description, "reset before")) fail_msg("%s loop %d: %s", model, i, li.description);
        if (c[1] == 'z' && !strstr(li.description, "zeros")) fail_msg("%s loop %d: %s", model, i, li.description);
        for (size_t k = 0; k < sizeof options / sizeof *options; ++k)
            if (!strcmp(options[k].model, model) && (!strstr(li.description, options[k].says) ||
                                                     (!strcmp(options[k].says, "sigmoid") && strstr(li.description, "peep"))))
                fail_msg("%s loop %d: %s (expected %s)", model, i, li.description, options[k].says);
        if (li.num_cells != (strstr(model, "_multi_") ? 2 : 1)) fail_msg("%s loop %d: %d cells", model, i, li.num_cells);
        if (strcmp(li.op_type, strstr(model, "_frozen") ? "Scan" : "Loop") || li.hidden_size < 1 || li.input_size < 1) fail_msg("%s loop %d: bad info", model, i);
    }
    clrnn_model_loop_info li;
    assert_int_equal(clrnn_model_get_loop_info(m, expect, &li), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_model_get_loop_info(m, -1, &li), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_model_get_loop_info(m, 0, NULL), CLRNN_ERR_NULL_ARGUMENT);
}

static void test_golden_models_fused(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
        char path[2400];
        snprintf(path, sizeof path, "%s/%s/model.onnx", keras_dir(), cases[i].model);
        clrnn_model *m = NULL;
        if (clrnn_onnx_load(tu_context(), path, &m) != CLRNN_OK) fail_msg("%s: %s", cases[i].model, clrnn_last_error());
        check_loops(m, cases[i].model, cases[i].loops);
        bind_inputs(m, cases[i].model);
        TU_OK(clrnn_model_run(m));
        const double err = compare_outputs(m, cases[i].model);
        /* twice: the fused node's state (workspace, mask buffer, constant outputs) across runs */
        TU_OK(clrnn_model_run(m));
        assert_true(compare_outputs(m, cases[i].model) == err);
        print_message("  fused %-40s %-12s max |got-exp|/(1+|exp|) %.2g\n", cases[i].model, cases[i].loops, err * 1e-5);
        clrnn_model_destroy(m);
    }
}

/* ------------------------------------------------------------------------------------------
 * Mutating a model: protobuf-c decode, edit, encode, load from memory
 * ---------------------------------------------------------------------------------------- */
typedef struct mutant {
    Onnx__ModelProto *mp;
    Onnx__NodeProto *loop;
    Onnx__GraphProto *body;
} mutant;

static mutant mutant_open(const char *model) {
    char path[2400];
    snprintf(path, sizeof path, "%s/%s/model.onnx", keras_dir(), model);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    mutant x = {onnx__model_proto__unpack(NULL, (size_t)size, buf), NULL, NULL};
    free(buf);
    assert_non_null(x.mp);
    for (size_t i = 0; i < x.mp->graph->n_node && !x.loop; ++i)
        if (!strcmp(x.mp->graph->node[i]->op_type, "Loop") || !strcmp(x.mp->graph->node[i]->op_type, "Scan"))
            x.loop = x.mp->graph->node[i];
    assert_non_null(x.loop);
    for (size_t i = 0; i < x.loop->n_attribute; ++i)
        if (!strcmp(x.loop->attribute[i]->name, "body")) x.body = x.loop->attribute[i]->g;
    assert_non_null(x.body);
    return x;
}

static clrnn_status mutant_load(mutant *x, clrnn_model **out) {
    const size_t n = onnx__model_proto__get_packed_size(x->mp);
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    onnx__model_proto__pack(x->mp, buf);
    const clrnn_status st = clrnn_onnx_load_memory(tu_context(), buf, n, out);
    free(buf);
    onnx__model_proto__free_unpacked(x->mp, NULL);
    x->mp = NULL;
    return st;
}

static void set_str(char **slot, const char *s) {
    free(*slot);
    *slot = malloc(strlen(s) + 1);
    assert_non_null(*slot);
    strcpy(*slot, s);
}

static Onnx__NodeProto *producer(Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_node; ++i)
        for (size_t o = 0; o < g->node[i]->n_output; ++o)
            if (!strcmp(g->node[i]->output[o], name)) return g->node[i];
    return NULL;
}

/* The nth body node of op_type (graph order). */
static Onnx__NodeProto *nth(Onnx__GraphProto *g, const char *op, int k) {
    for (size_t i = 0; i < g->n_node; ++i)
        if (!strcmp(g->node[i]->op_type, op) && k-- == 0) return g->node[i];
    fail_msg("no %s node", op);
    return NULL;
}

/* Appends op(in) -> out to the body. */
static void add_unary(Onnx__GraphProto *g, const char *op, const char *in, const char *out) {
    Onnx__NodeProto *p = malloc(sizeof *p);
    assert_non_null(p);
    onnx__node_proto__init(p);
    p->op_type = NULL;
    set_str(&p->op_type, op);
    p->n_input = p->n_output = 1;
    p->input = calloc(1, sizeof(char *));
    p->output = calloc(1, sizeof(char *));
    assert_true(p->input && p->output);
    set_str(&p->input[0], in);
    set_str(&p->output[0], out);
    Onnx__NodeProto **nodes = realloc(g->node, (g->n_node + 1) * sizeof *nodes);
    assert_non_null(nodes);
    g->node = nodes;
    g->node[g->n_node++] = p;
}

static const char *body_in(const mutant *x, int i) { return x->body->input[i]->name; }

/* The Tanh(c_new) of the LSTM cell: the Tanh whose input an Add produces. */
static Onnx__NodeProto *lstm_tanh_c(mutant *x) {
    for (int k = 0;; ++k) {
        Onnx__NodeProto *t = nth(x->body, "Tanh", k), *a = producer(x->body, t->input[0]);
        if (a && !strcmp(a->op_type, "Add")) return t;
    }
}

/* k2_mask_lstm_holes: body inputs (iter, cond, time, output, h, c, T, W, R, b); outputs (cond,
 * time, output, h, c, T, W, R, b, scan). */
enum { B_ITER = 0, B_TIME = 2, B_OUT = 3, B_H = 4, B_C = 5 };
enum { O_COND = 0, O_TIME = 1, O_OUT = 2, O_H = 3, O_C = 4, O_SCAN = 9 };

typedef void (*mutation)(mutant *x);

static void mut_relu_on_h(mutant *x) {
    add_unary(x->body, "Relu", x->body->output[O_H]->name, "mutated_h");
    set_str(&x->body->output[O_H]->name, "mutated_h");
}
static void mut_cell_sub(mutant *x) { /* c_new = f c - i g */
    set_str(&producer(x->body, lstm_tanh_c(x)->input[0])->op_type, "Sub");
}
static void mut_output_gate_tanh(mutant *x) { /* o = tanh(...): not the recurrent activation */
    Onnx__NodeProto *t = lstm_tanh_c(x);
    for (size_t i = 0; i < x->body->n_node; ++i) {
        Onnx__NodeProto *p = x->body->node[i];
        if (strcmp(p->op_type, "Mul") || p->n_input != 2) continue;
        for (int k = 0; k < 2; ++k)
            if (!strcmp(p->input[k], t->output[0])) {
                Onnx__NodeProto *o = producer(x->body, p->input[1 - k]);
                assert_string_equal(o->op_type, "Sigmoid");
                set_str(&o->op_type, "Tanh");
                return;
            }
    }
    fail_msg("no output gate");
}
static void mut_forget_on_h(mutant *x) { /* f ⊙ h instead of f ⊙ c */
    Onnx__NodeProto *a = producer(x->body, lstm_tanh_c(x)->input[0]);
    for (int k = 0; k < 2; ++k) {
        Onnx__NodeProto *mul = producer(x->body, a->input[k]);
        for (int j = 0; j < 2; ++j)
            if (!strcmp(mul->input[j], body_in(x, B_C))) {
                set_str(&mul->input[j], body_in(x, B_H));
                return;
            }
    }
    fail_msg("no f * c");
}
static void add_float_input(Onnx__GraphProto *g, const char *name);
static void mut_dynamic_weight(mutant *x) { /* W: a graph input instead of a constant */
    add_float_input(x->mp->graph, "dynamic_W");
    set_str(&x->loop->input[2 + 5], "dynamic_W"); /* Loop inputs: M, cond, time, out, h, c, T, W */
}
static void mut_cond_less_equal(mutant *x) { set_str(&producer(x->body, x->body->output[O_COND]->name)->op_type, "LessOrEqual"); }
static void mut_c_unmasked(mutant *x) { set_str(&x->body->output[O_C]->name, lstm_tanh_c(x)->input[0]); }
static void mut_scan_is_h(mutant *x) { set_str(&x->body->output[O_SCAN]->name, x->body->output[O_H]->name); }
static void mut_time_step_2(mutant *x) {
    Onnx__NodeProto *add = producer(x->body, x->body->output[O_TIME]->name);
    assert_string_equal(add->op_type, "Add");
    for (size_t i = 0; i < x->body->n_initializer; ++i) {
        Onnx__TensorProto *t = x->body->initializer[i];
        if (strcmp(t->name, add->input[1]) && strcmp(t->name, add->input[0])) continue;
        if (t->raw_data.len == 4) {
            const int32_t two = 2;
            memcpy(t->raw_data.data, &two, 4);
        } else {
            assert_int_equal(t->n_int32_data, 1);
            t->int32_data[0] = 2;
        }
        return;
    }
    fail_msg("no step constant");
}
static void mut_x_by_iteration(mutant *x) { /* x_t gathered by the iteration counter, mask_t by time */
    for (int k = 0;; ++k) {
        Onnx__NodeProto *gt = nth(x->body, "Gather", k);
        const Onnx__NodeProto *user = NULL;
        for (size_t i = 0; i < x->body->n_node && !user; ++i)
            if (!strcmp(x->body->node[i]->op_type, "MatMul") && !strcmp(x->body->node[i]->input[0], gt->output[0]))
                user = x->body->node[i];
        if (user) {
            set_str(&gt->input[1], body_in(x, B_ITER));
            return;
        }
    }
}

/* A near miss loads (the generic Loop/Scan takes it), with its one loop not fused and a report
 * that says why. */
static void expect_not_fused(const char *what, clrnn_status st, clrnn_model *m) {
    if (st != CLRNN_OK) fail_msg("%s: the generic loop should take it: %s: %s", what, clrnn_status_name(st), clrnn_last_error());
    clrnn_model_info info;
    TU_OK(clrnn_model_get_info(m, &info));
    if (info.num_loops != 1 || info.num_fused_loops != 0) fail_msg("%s: %d of %d loops fused", what, info.num_fused_loops, info.num_loops);
    clrnn_model_loop_info li;
    TU_OK(clrnn_model_get_loop_info(m, 0, &li));
    if (li.fused || strncmp(li.description, "generic (not fused: ", 20)) fail_msg("%s: %s", what, li.description);
    print_message("  not fused: %-28s %s\n", what, li.description);
    clrnn_model_destroy(m);
}

static void test_near_misses_not_fused(void **state) {
    (void)state;
    static const struct {
        const char *what;
        mutation f;
    } muts[] = {
        {"Relu on h", mut_relu_on_h},
        {"c_new = f c - i g", mut_cell_sub},
        {"output gate tanh", mut_output_gate_tanh},
        {"f gates h, not c", mut_forget_on_h},
        {"W not a constant", mut_dynamic_weight},
        {"cond time+1 <= T", mut_cond_less_equal},
        {"c not masked", mut_c_unmasked},
        {"scan output = h", mut_scan_is_h},
        {"time step 2", mut_time_step_2},
        {"x_t by iteration", mut_x_by_iteration},
    };
    for (size_t i = 0; i < sizeof muts / sizeof *muts; ++i) {
        mutant x = mutant_open("k2_mask_lstm_holes");
        muts[i].f(&x);
        clrnn_model *m = NULL;
        const clrnn_status st = mutant_load(&x, &m);
        expect_not_fused(muts[i].what, st, m);
    }
    /* a TF1 Scan: the mask off by one (time > len), the forget gate on h */
    for (int k = 0; k < 2; ++k) {
        mutant x = mutant_open("tf1_lstm_frozen_cfv1");
        if (k == 0) set_str(&nth(x.body, "GreaterOrEqual", 0)->op_type, "Greater");
        else {
            /* body inputs: counter, c, h, time, x_t: f ⊙ c -> f ⊙ h */
            Onnx__NodeProto *a = producer(x.body, lstm_tanh_c(&x)->input[0]);
            int done = 0;
            for (int i = 0; i < 2 && !done; ++i) {
                Onnx__NodeProto *mul = producer(x.body, a->input[i]);
                for (int j = 0; j < 2 && !done; ++j)
                    if (!strcmp(mul->input[j], body_in(&x, 1))) set_str(&mul->input[j], body_in(&x, 2)), done = 1;
            }
            assert_true(done);
        }
        clrnn_model *m = NULL;
        const clrnn_status st = mutant_load(&x, &m);
        expect_not_fused(k ? "TF1: f gates h, not c" : "TF1: time > len", st, m);
    }
    /* a GRU whose update is (2 - z) ⊙ hh, a SimpleRNN of an activation clrnn does not have (Erf) */
    {
        mutant x = mutant_open("k3_gru_seq");
        Onnx__NodeProto *sub = nth(x.body, "Sub", 0);
        int done = 0;
        for (size_t i = 0; i < x.body->n_initializer && !done; ++i) {
            Onnx__TensorProto *t = x.body->initializer[i];
            if (strcmp(t->name, sub->input[0])) continue;
            const float two = 2.0f;
            if (t->raw_data.len == 4) memcpy(t->raw_data.data, &two, 4);
            else t->float_data[0] = two;
            done = 1;
        }
        assert_true(done);
        clrnn_model *m = NULL;
        const clrnn_status st = mutant_load(&x, &m);
        expect_not_fused("GRU: (2 - z) hh", st, m);
        x = mutant_open("k2_simplernn_seq");
        set_str(&nth(x.body, "Tanh", 0)->op_type, "Erf");
        const clrnn_status st2 = mutant_load(&x, &m);
        expect_not_fused("SimpleRNN: erf", st2, m);
    }
    /* a TF1 MultiRNNCell whose second cell reads the step input instead of the first cell's h */
    {
        mutant x = mutant_open("tf1_multi_lstm2_frozen_cfv1");
        const char *x_t = body_in(&x, (int)x.body->n_input - 1); /* the scan input */
        int done = 0;
        for (int k = 0; !done; ++k) {
            Onnx__NodeProto *cat = nth(x.body, "Concat", k);
            if (strcmp(cat->input[0], x_t)) set_str(&cat->input[0], x_t), done = 1;
        }
        clrnn_model *m = NULL;
        const clrnn_status st = mutant_load(&x, &m);
        expect_not_fused("TF1: cell 2 reads x_t", st, m);
    }
    /* unmutated, the same path fuses: the mutations are what the recogniser refused */
    mutant x = mutant_open("k2_mask_lstm_holes");
    clrnn_model *m = NULL;
    TU_OK(mutant_load(&x, &m));
    check_loops(m, "k2_mask_lstm_holes", "Lm.");
    clrnn_model_destroy(m);
}

/* ------------------------------------------------------------------------------------------
 * Structure, not names
 * ---------------------------------------------------------------------------------------- */
/* Renames name if it is defined in the body (input, initializer, node output). */
static void rename_local(Onnx__GraphProto *g, char **slot, char (*defined)[256], int n_defined) {
    for (int i = 0; i < n_defined; ++i)
        if (!strcmp(*slot, defined[i])) {
            char buf[300];
            snprintf(buf, sizeof buf, "renamed_%d", i);
            set_str(slot, buf);
            return;
        }
    (void)g;
}

static void rename_body(mutant *x) {
    Onnx__GraphProto *g = x->body;
    static char defined[512][256];
    int n = 0;
    for (size_t i = 0; i < g->n_input; ++i) snprintf(defined[n++], 256, "%s", g->input[i]->name);
    for (size_t i = 0; i < g->n_initializer; ++i) snprintf(defined[n++], 256, "%s", g->initializer[i]->name);
    for (size_t i = 0; i < g->n_node; ++i)
        for (size_t o = 0; o < g->node[i]->n_output; ++o) snprintf(defined[n++], 256, "%s", g->node[i]->output[o]);
    assert_true(n < 512);
    for (size_t i = 0; i < g->n_input; ++i) rename_local(g, &g->input[i]->name, defined, n);
    for (size_t i = 0; i < g->n_output; ++i) rename_local(g, &g->output[i]->name, defined, n);
    for (size_t i = 0; i < g->n_initializer; ++i) rename_local(g, &g->initializer[i]->name, defined, n);
    for (size_t i = 0; i < g->n_node; ++i) {
        set_str(&g->node[i]->name, "");
        for (size_t k = 0; k < g->node[i]->n_input; ++k) rename_local(g, &g->node[i]->input[k], defined, n);
        for (size_t k = 0; k < g->node[i]->n_output; ++k) rename_local(g, &g->node[i]->output[k], defined, n);
    }
    for (size_t i = 0; i < g->n_value_info; ++i) rename_local(g, &g->value_info[i]->name, defined, n);
}

static void swap_commutative(mutant *x) {
    for (size_t i = 0; i < x->body->n_node; ++i) {
        Onnx__NodeProto *p = x->body->node[i];
        if ((!strcmp(p->op_type, "Add") || !strcmp(p->op_type, "Mul") || !strcmp(p->op_type, "And")) && p->n_input == 2) {
            char *t = p->input[0];
            p->input[0] = p->input[1];
            p->input[1] = t;
        }
    }
}

static void test_structure_not_names(void **state) {
    (void)state;
    static const char *const models[][2] = {
        {"k2_mask_lstm_holes", "Lm."}, {"k3_mask_gru_holes", "Gm."}, {"k2_mask_gru0_holes", "gm."},
        {"k3_mask_simplernn_holes", "Rm."}, {"k3_gru_seq", "G.."},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; ++i)
        for (int how = 0; how < 2; ++how) {
            mutant x = mutant_open(models[i][0]);
            if (how == 0) rename_body(&x);
            else swap_commutative(&x);
            clrnn_model *m = NULL;
            if (mutant_load(&x, &m) != CLRNN_OK) fail_msg("%s (%s): %s", models[i][0], how ? "swapped" : "renamed", clrnn_last_error());
            check_loops(m, models[i][0], models[i][1]);
            bind_inputs(m, models[i][0]);
            TU_OK(clrnn_model_run(m));
            compare_outputs(m, models[i][0]);
            clrnn_model_destroy(m);
        }
}

/* ------------------------------------------------------------------------------------------
 * Initial states, trip count
 * ---------------------------------------------------------------------------------------- */
/* Adds a float graph input [?, ?] named `name`. */
static void add_float_input(Onnx__GraphProto *g, const char *name) {
    Onnx__ValueInfoProto **in = realloc(g->input, (g->n_input + 1) * sizeof *in);
    Onnx__ValueInfoProto *vi = malloc(sizeof *vi);
    Onnx__TypeProto *tp = malloc(sizeof *tp);
    Onnx__TypeProto__Tensor *tt = malloc(sizeof *tt);
    assert_true(in && vi && tp && tt);
    g->input = in;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = NULL;
    set_str(&vi->name, name);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    g->input[g->n_input++] = vi;
}

static clrnn_array slice_time(const clrnn_array *x, int t0, int t1) { /* x[:, t0:t1] of [N, T, I] */
    clrnn_array a = *x;
    a.shape[1] = t1 - t0;
    a.count = (size_t)(a.shape[0] * a.shape[1] * a.shape[2]);
    a.data = malloc(a.count * sizeof(float));
    assert_non_null(a.data);
    for (int64_t n = 0; n < x->shape[0]; ++n)
        memcpy((float *)a.data + n * a.shape[1] * a.shape[2], (const float *)x->data + (n * x->shape[1] + t0) * x->shape[2],
               (size_t)(a.shape[1] * a.shape[2]) * sizeof(float));
    return a;
}

static void test_initial_states(void **state) {
    (void)state;
    static const char *const model = "k2_mask_lstm_return_state_holes"; /* outputs: last output, h, c */
    mutant x = mutant_open(model);
    /* Loop inputs: M, cond, time, output, h, c, ...: h and c start from graph inputs */
    add_float_input(x.mp->graph, "h0");
    add_float_input(x.mp->graph, "c0");
    set_str(&x.loop->input[4], "h0");
    set_str(&x.loop->input[5], "c0");
    clrnn_model *m = NULL;
    TU_OK(mutant_load(&x, &m));
    check_loops(m, model, "Lm.");
    char path[2400];
    clrnn_array xa = case_x(model, NULL), want_h, want_c;
    const int T = (int)xa.shape[1], half = T / 2, N = (int)xa.shape[0];
    clrnn_array h = {CLRNN_DTYPE_FLOAT32, 2, {N, 4}, (size_t)N * 4, calloc((size_t)N * 4, sizeof(float))};
    clrnn_array c = {CLRNN_DTYPE_FLOAT32, 2, {N, 4}, (size_t)N * 4, calloc((size_t)N * 4, sizeof(float))};
    assert_true(h.data && c.data);
    for (int part = 0; part < 2; ++part) {
        clrnn_array xs = slice_time(&xa, part ? half : 0, part ? T : half);
        TU_OK(clrnn_model_set_input(m, "x", &xs));
        TU_OK(clrnn_model_set_input(m, "h0", &h));
        TU_OK(clrnn_model_set_input(m, "c0", &c));
        clrnn_array_free(&xs);
        clrnn_array_free(&h);
        clrnn_array_free(&c);
        TU_OK(clrnn_model_run(m));
        TU_OK(clrnn_model_get_output(m, "rnn_1", &h));
        TU_OK(clrnn_model_get_output(m, "rnn_2", &c));
    }
    /* the second half started from the first half's states: Keras' states of the whole sequence */
    snprintf(path, sizeof path, "%s/%s/out/rnn_1.npy", keras_dir(), model);
    TU_OK(clrnn_npy_load(path, &want_h));
    snprintf(path, sizeof path, "%s/%s/out/rnn_2.npy", keras_dir(), model);
    TU_OK(clrnn_npy_load(path, &want_c));
    double err;
    char msg[512];
    if (!oc_compare(&h, &want_h, 1e-5, 1e-5, &err, msg, sizeof msg)) fail_msg("h: %s", msg);
    if (!oc_compare(&c, &want_c, 1e-5, 1e-5, &err, msg, sizeof msg)) fail_msg("c: %s", msg);
    /* and the states did matter: from zeros the second half ends elsewhere */
    memset(h.data, 0, h.count * sizeof(float));
    memset(c.data, 0, c.count * sizeof(float));
    clrnn_array xs = slice_time(&xa, half, T);
    TU_OK(clrnn_model_set_input(m, "x", &xs));
    TU_OK(clrnn_model_set_input(m, "h0", &h));
    TU_OK(clrnn_model_set_input(m, "c0", &c));
    TU_OK(clrnn_model_run(m));
    clrnn_array h2;
    TU_OK(clrnn_model_get_output(m, "rnn_1", &h2));
    assert_false(oc_compare(&h2, &want_h, 1e-5, 1e-5, &err, msg, sizeof msg));
    clrnn_array_free(&h2);
    clrnn_array_free(&xs);
    clrnn_array_free(&h);
    clrnn_array_free(&c);
    clrnn_array_free(&want_h);
    clrnn_array_free(&want_c);
    clrnn_array_free(&xa);
    clrnn_model_destroy(m);
}

/* The counter starts at 1: the body reads X[1..T-1] in T-1 iterations, which the fused engine does
 * not run. The recogniser cannot see that (the start is a value), the run-time check does, and
 * the run falls back to the generic Loop prepared beside the fused node: its outputs are those of
 * the same model loaded with CLRNN_NO_FUSE=1, bit for bit. */
static clrnn_model *counter_from_one(int no_fuse) {
    mutant x = mutant_open("k2_mask_lstm_holes");
    Onnx__TensorProto *t0 = NULL;
    for (size_t i = 0; i < x.mp->graph->n_initializer; ++i)
        if (!strcmp(x.mp->graph->initializer[i]->name, x.loop->input[2])) t0 = x.mp->graph->initializer[i];
    assert_non_null(t0);
    const int32_t one = 1;
    if (t0->raw_data.len == 4) memcpy(t0->raw_data.data, &one, 4);
    else t0->int32_data[0] = 1;
    if (no_fuse) setenv("CLRNN_NO_FUSE", "1", 1);
    clrnn_model *m = NULL;
    const clrnn_status st = mutant_load(&x, &m);
    unsetenv("CLRNN_NO_FUSE");
    TU_OK(st);
    if (no_fuse) {
        clrnn_model_info info;
        TU_OK(clrnn_model_get_info(m, &info));
        assert_int_equal(info.num_loops, 1);
        assert_int_equal(info.num_fused_loops, 0);
    } else {
        check_loops(m, "k2_mask_lstm_holes", "Lm."); /* the body is the same: fused at load */
    }
    bind_inputs(m, "k2_mask_lstm_holes");
    TU_OK(clrnn_model_run(m));
    return m;
}

static void test_trip_count_checked(void **state) {
    (void)state;
    clrnn_model *fused = counter_from_one(0), *generic = counter_from_one(1);
    char oout[8][128];
    const int n = meta_names("k2_mask_lstm_holes", "onnx_outputs", oout);
    assert_true(n > 0);
    for (int i = 0; i < n; ++i) {
        clrnn_array a, b;
        TU_OK(clrnn_model_get_output(fused, oout[i], &a));
        TU_OK(clrnn_model_get_output(generic, oout[i], &b));
        assert_int_equal(a.count, b.count);
        assert_int_equal(a.ndim, b.ndim);
        assert_memory_equal(a.shape, b.shape, sizeof a.shape);
        assert_memory_equal(a.data, b.data, a.count * clrnn_dtype_size(a.dtype));
        clrnn_array_free(&a);
        clrnn_array_free(&b);
    }
    clrnn_model_destroy(fused);
    clrnn_model_destroy(generic);
}

/* tf.function's dynamic_rnn stops at the longest sequence: fewer iterations than the input has steps.
 * The fused loop runs that prefix; its outputs are those of the same model given only that prefix. */
static void test_fewer_iterations(void **state) {
    (void)state;
    static const char *const model = "tf1_basicrnn_function"; /* inputs x [N, T, I], seq_len [N]; outputs y, h */
    clrnn_model *m;
    clrnn_array x = case_x(model, &m);
    const int N = (int)x.shape[0], T = (int)x.shape[1], P = T - 2;
    int32_t lens[8];
    assert_true(N <= 8 && P >= 2);
    for (int b = 0; b < N; ++b) lens[b] = b == 0 ? P : b % 2 ? 1 : 0; /* the longest: P < T */
    clrnn_array len = {CLRNN_DTYPE_INT32, 1, {N}, (size_t)N, lens};
    clrnn_array y[2], h[2];
    for (int run = 0; run < 2; ++run) {
        clrnn_array xs = slice_time(&x, 0, run ? P : T);
        TU_OK(clrnn_model_set_input(m, "x", &xs));
        TU_OK(clrnn_model_set_input(m, "seq_len", &len));
        clrnn_array_free(&xs);
        TU_OK(clrnn_model_run(m));
        TU_OK(clrnn_model_get_output(m, "Identity:0", &y[run]));
        TU_OK(clrnn_model_get_output(m, "Identity_1:0", &h[run]));
    }
    assert_int_equal(y[0].ndim, 3);
    assert_int_equal(y[0].shape[1], P); /* P iterations, not T */
    double err;
    char msg[512];
    if (!oc_compare(&y[0], &y[1], 0, 0, &err, msg, sizeof msg)) fail_msg("y: %s", msg);
    if (!oc_compare(&h[0], &h[1], 0, 0, &err, msg, sizeof msg)) fail_msg("h: %s", msg);
    for (int run = 0; run < 2; ++run) clrnn_array_free(&y[run]), clrnn_array_free(&h[run]);
    clrnn_array_free(&x);
    clrnn_model_destroy(m);
}

/* A body whose h is a DAG of Adds sharing their operands (2^40 paths from the output): not
 * fused, and recognition does not walk the paths (it stops at the first failing operand; a
 * work budget, FZ_WORK in fuse_loop.c, bounds what it looks at in all). */
static void test_hostile_body_bounded(void **state) {
    (void)state;
    mutant x = mutant_open("k2_simplernn_seq"); /* h_new = Tanh(pre) */
    Onnx__NodeProto *t = nth(x.body, "Tanh", 0);
    char prev[64] = "", next[64];
    snprintf(prev, sizeof prev, "%s", t->input[0]);
    for (int i = 0; i < 40; ++i) {
        snprintf(next, sizeof next, "dag_%d", i);
        add_unary(x.body, "Add", prev, next);
        Onnx__NodeProto *a = x.body->node[x.body->n_node - 1];
        char **in = realloc(a->input, 2 * sizeof *in);
        assert_non_null(in);
        a->input = in;
        a->input[1] = NULL;
        set_str(&a->input[1], prev);
        a->n_input = 2;
        snprintf(prev, sizeof prev, "%s", next);
    }
    /* the Tanh now reads the last Add; nodes stay in topological order: move the Tanh to the end */
    set_str(&t->input[0], prev);
    for (size_t i = 0; i + 1 < x.body->n_node; ++i)
        if (x.body->node[i] == t) {
            memmove(&x.body->node[i], &x.body->node[i + 1], (x.body->n_node - i - 1) * sizeof *x.body->node);
            x.body->node[x.body->n_node - 1] = t;
            break;
        }
    /* and so does every node after it that used it: Identity(h) and the cond */
    for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i + 1 < x.body->n_node; ++i) {
            Onnx__NodeProto *p = x.body->node[i];
            int uses = 0;
            for (size_t k = 0; k < p->n_input; ++k) uses |= !strcmp(p->input[k], t->output[0]);
            if (uses) {
                memmove(&x.body->node[i], &x.body->node[i + 1], (x.body->n_node - i - 1) * sizeof *x.body->node);
                x.body->node[x.body->n_node - 1] = p;
                --i;
            }
        }
    const double t0 = now_ms();
    clrnn_model *m = NULL;
    const clrnn_status st = mutant_load(&x, &m);
    const double ms = now_ms() - t0;
    expect_not_fused("2^40-path Add DAG", st, m);
    print_message("  the 2^40-path body loaded (refused) in %.0f ms\n", ms);
    assert_true(ms < 20000);
}

/* Runs of other lengths and batch sizes in between: each run is the model's own (buffers grow,
 * nothing of a longer run leaks into a shorter one). */
static void test_shapes_change(void **state) {
    (void)state;
    static const char *const model = "k2_mask_lstm_holes";
    clrnn_model *m;
    clrnn_array x = case_x(model, &m);
    /* [2N, 3T, I]: x repeated along both axes */
    const int64_t N = x.shape[0], T = x.shape[1], I = x.shape[2];
    clrnn_array big = {CLRNN_DTYPE_FLOAT32, 3, {2 * N, 3 * T, I}, (size_t)(6 * N * T * I), malloc((size_t)(6 * N * T * I) * sizeof(float))};
    assert_non_null(big.data);
    for (int64_t b = 0; b < 2 * N; ++b)
        for (int64_t t = 0; t < 3 * T; ++t)
            memcpy((float *)big.data + (b * 3 * T + t) * I, (const float *)x.data + ((b % N) * T + t % T) * I, (size_t)I * sizeof(float));
    for (int run = 0; run < 3; ++run) {
        TU_OK(clrnn_model_set_input(m, "x", run == 1 ? &big : &x));
        TU_OK(clrnn_model_run(m));
        if (run != 1) compare_outputs(m, model);
        else {
            clrnn_array y;
            TU_OK(clrnn_model_get_output(m, "rnn", &y));
            assert_int_equal(y.shape[0], 2 * N);
            assert_int_equal(y.shape[1], 3 * T);
            clrnn_array_free(&y);
        }
    }
    clrnn_array_free(&big);
    clrnn_array_free(&x);
    clrnn_model_destroy(m);
}

/* Random structural mutations of fusable bodies (an op type changed, an input renamed to another
 * value of the body, a body output moved to another value): every load ends in a fused model, a refusal, or (this
 * branch) "not supported"; a fused one runs or fails with a status. No crash, leak or hang (the
 * ASan+UBSan build runs this too). After the generic Loop lands, fused-vs-generic outputs of the
 * same mutants make the differential test. */
static void test_random_mutations(void **state) {
    (void)state;
    static const char *const models[] = {"k2_mask_lstm_holes", "k3_gru_seq", "k2_gru0_seq", "k2_mask_simplernn_holes",
                                         "tf1_lstm_peephole_proj_clip_frozen_cfv1", "tf1_multi_gru_basicrnn_function",
                                         "k3_mask_bidir_lstm_concat_right"};
    static const char *const ops[] = {"Add", "Mul", "Sub", "Sigmoid", "Tanh", "Relu", "Identity", "Not", "Cast", "Less"};
    uint64_t seed = 0x5eed1234;
    int fused = 0, refused = 0, loaded = 0;
    for (int it = 0; it < 400; ++it) {
        mutant x = mutant_open(models[it % (int)(sizeof models / sizeof *models)]);
        Onnx__GraphProto *g = x.body;
        char what[512] = "";
        for (int k = 0; k < 1 + (int)(tu_next(&seed) % 4 == 0); ++k) {
            Onnx__NodeProto *p = g->node[tu_next(&seed) % g->n_node];
            const size_t len = strlen(what);
            switch (tu_next(&seed) % 3) {
            case 0: {
                const char *op = ops[tu_next(&seed) % (sizeof ops / sizeof *ops)];
                snprintf(what + len, sizeof what - len, " [%s %s -> %s]", p->output[0], p->op_type, op);
                set_str(&p->op_type, op);
                break;
            }
            case 1:
                if (p->n_input) {
                    Onnx__NodeProto *q = g->node[tu_next(&seed) % g->n_node];
                    const size_t i = tu_next(&seed) % p->n_input;
                    snprintf(what + len, sizeof what - len, " [%s input %zu -> %s]", p->output[0], i, q->output[0]);
                    set_str(&p->input[i], q->output[0]);
                }
                break;
            default: {
                const size_t o = 1 + tu_next(&seed) % (g->n_output - 1);
                Onnx__NodeProto *q = g->node[tu_next(&seed) % g->n_node];
                snprintf(what + len, sizeof what - len, " [body output %zu -> %s]", o, q->output[0]);
                set_str(&g->output[o]->name, q->output[0]);
            }
            }
        }
        clrnn_model *m = NULL;
        const clrnn_status st = mutant_load(&x, &m);
        if (st != CLRNN_OK) {
            ++refused;
            continue;
        }
        ++loaded;
        clrnn_model_info info;
        TU_OK(clrnn_model_get_info(m, &info));
        fused += info.num_fused_loops > 0;
        if (info.num_fused_loops < info.num_loops) { /* the generic Loop's (a mutated condition may never end) */
            clrnn_model_destroy(m);
            continue;
        }
        if (info.num_fused_loops) print_message("  fused mutant of %s:%s\n", models[it % (int)(sizeof models / sizeof *models)], what);
        /* a fused mutant runs on its model's inputs, or fails cleanly */
        char in[8][128], oin[8][128], path[2400];
        const char *model = models[it % (int)(sizeof models / sizeof *models)];
        const int n = meta_names(model, "keras_inputs", in);
        meta_names(model, "onnx_inputs", oin);
        for (int i = 0; i < n; ++i) {
            clrnn_array a;
            snprintf(path, sizeof path, "%s/%s/in/%s.npy", keras_dir(), model, in[i]);
            TU_OK(clrnn_npy_load(path, &a));
            (void)clrnn_model_set_input(m, oin[i], &a);
            clrnn_array_free(&a);
        }
        (void)clrnn_model_run(m);
        clrnn_model_destroy(m);
    }
    print_message("  400 random mutants: %d loaded (%d with a fused loop), %d refused\n", loaded, fused, refused);
}

static void test_no_fuse_env(void **state) {
    (void)state;
    char path[2400];
    snprintf(path, sizeof path, "%s/k2_simplernn_seq/model.onnx", keras_dir());
    setenv("CLRNN_NO_FUSE", "1", 1);
    clrnn_model *m = NULL;
    const clrnn_status st = clrnn_onnx_load(tu_context(), path, &m);
    unsetenv("CLRNN_NO_FUSE");
    expect_not_fused("CLRNN_NO_FUSE=1", st, m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_models_fused),  cmocka_unit_test(test_near_misses_not_fused),
        cmocka_unit_test(test_structure_not_names),  cmocka_unit_test(test_initial_states),
        cmocka_unit_test(test_trip_count_checked),   cmocka_unit_test(test_fewer_iterations),
        cmocka_unit_test(test_hostile_body_bounded), cmocka_unit_test(test_shapes_change),
        cmocka_unit_test(test_random_mutations),     cmocka_unit_test(test_no_fuse_env),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
