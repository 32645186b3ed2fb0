/* Descriptor validation and rnn object lifetime. Every inconsistency becomes a status here,
 * before any device work, with a message naming the field. */
#include "cells.h"
#include "plans/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

clrnn_rnn_desc clrnn_rnn_desc_default(void) {
    clrnn_rnn_desc d;
    memset(&d, 0, sizeof d);
    d.cell = CLRNN_CELL_LSTM;
    d.num_layers = 1;
    d.direction = CLRNN_DIR_FORWARD;
    d.merge = CLRNN_MERGE_CONCAT;
    d.layout = CLRNN_LAYOUT_TIME_MAJOR;
    return d;
}

clrnn_activation clrnn_effective_activation(const clrnn_rnn_desc *desc, int dir, int slot) {
    clrnn_activation a = desc->activations[dir][slot];
    if (a.kind != CLRNN_ACT_DEFAULT) return a;
    a.kind = clrnn_cell_info_of(desc->cell)->default_act[slot];
    a.alpha = a.beta = 0.0f;
    return a;
}

#define BAD(...) return clrnn_fail(CLRNN_ERR_INVALID_DESCRIPTOR, __VA_ARGS__)

static clrnn_status validate(const clrnn_rnn_desc *d) {
    const clrnn_cell_info *cell = clrnn_cell_info_of(d->cell);
    if (!cell) BAD("cell = %d is not a clrnn_cell", (int)d->cell);
    if (d->input_size <= 0) BAD("input_size = %d must be >= 1", d->input_size);
    if (d->hidden_size <= 0) BAD("hidden_size = %d must be >= 1", d->hidden_size);
    /* Caps keep every index the kernels compute inside 32-bit ints. */
    if (d->input_size > (1 << 20) || d->hidden_size > (1 << 16))
        BAD("input_size %d / hidden_size %d exceed the supported maximum (2^20 / 2^16)", d->input_size, d->hidden_size);
    if (d->num_layers <= 0 || d->num_layers > CLRNN_MAX_LAYERS)
        BAD("num_layers = %d must be in [1, %d]", d->num_layers, CLRNN_MAX_LAYERS);
    if ((unsigned)d->direction > CLRNN_DIR_BIDIRECTIONAL) BAD("direction = %d is not a clrnn_direction", (int)d->direction);
    if ((unsigned)d->merge > CLRNN_MERGE_NONE) BAD("merge = %d is not a clrnn_merge", (int)d->merge);
    if ((unsigned)d->layout > CLRNN_LAYOUT_BATCH_MAJOR) BAD("layout = %d is not a clrnn_layout", (int)d->layout);
    if ((unsigned)d->masked_output > CLRNN_MASKED_OUTPUT_FILL)
        BAD("masked_output = %d is not a clrnn_masked_output", (int)d->masked_output);
    if ((unsigned)d->reverse_order > CLRNN_REVERSE_OUTPUT_REVERSED)
        BAD("reverse_order = %d is not a clrnn_reverse_order", (int)d->reverse_order);
    if ((unsigned)d->reverse_mode > CLRNN_REVERSE_WHOLE_AXIS)
        BAD("reverse_mode = %d is not a clrnn_reverse_mode", (int)d->reverse_mode);
    if (d->direction != CLRNN_DIR_BIDIRECTIONAL && d->merge != CLRNN_MERGE_CONCAT)
        BAD("merge = %d needs direction = CLRNN_DIR_BIDIRECTIONAL", (int)d->merge);
    const int D = d->direction == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1;
    for (int dir = 0; dir < 2; ++dir)
        for (int s = 0; s < 3; ++s) {
            const clrnn_activation *a = &d->activations[dir][s];
            if ((unsigned)a->kind >= CLRNN_ACT_COUNT_) BAD("activations[%d][%d].kind = %d is unknown", dir, s, (int)a->kind);
            if (a->kind != CLRNN_ACT_DEFAULT && (s >= cell->slots || dir >= D))
                BAD("activations[%d][%d] is set but this %s has %d slot(s) per direction and %d direction(s)", dir, s,
                    cell->name, cell->slots, D);
            if (!isfinite(a->alpha) || !isfinite(a->beta)) BAD("activations[%d][%d] alpha/beta not finite", dir, s);
        }
    if (!isfinite(d->clip) || d->clip < 0) BAD("clip = %g must be finite and >= 0", d->clip);
    if (!isfinite(d->masked_fill_value)) BAD("masked_fill_value must be finite");
    if (!(cell->options & CLRNN_CELL_OPT_LSTM) && (d->peephole || d->input_forget || d->proj_size || d->cell_clip != 0 ||
                                                   d->proj_clip != 0 || d->forget_bias != 0))
        BAD("peephole, input_forget, proj_size, cell_clip, proj_clip and forget_bias are LSTM options");
    if (!(cell->options & CLRNN_CELL_OPT_LBR) && d->linear_before_reset) BAD("linear_before_reset is a GRU option");
    if (d->proj_size < 0 || d->proj_size > d->hidden_size)
        BAD("proj_size = %d must be in [0, hidden_size = %d]", d->proj_size, d->hidden_size);
    if (!isfinite(d->cell_clip) || d->cell_clip < 0) BAD("cell_clip = %g must be finite and >= 0", d->cell_clip);
    if (!isfinite(d->proj_clip) || d->proj_clip < 0) BAD("proj_clip = %g must be finite and >= 0", d->proj_clip);
    if (d->proj_clip != 0 && d->proj_size == 0) BAD("proj_clip needs proj_size > 0");
    if (!isfinite(d->forget_bias)) BAD("forget_bias must be finite");
    if (d->dense_size < 0 || d->dense_size > (1 << 20)) BAD("dense_size = %d must be in [0, 2^20]", d->dense_size);
    if (d->dense_size > 0 && D == 2 && d->merge == CLRNN_MERGE_NONE)
        BAD("a dense output layer needs merged directions (merge != CLRNN_MERGE_NONE)");
    const float rates[3] = {d->dropout, d->input_dropout, d->recurrent_dropout};
    const char *const rate_names[3] = {"dropout", "input_dropout", "recurrent_dropout"};
    for (int i = 0; i < 3; ++i)
        if (!isfinite(rates[i]) || rates[i] < 0 || rates[i] >= 1) BAD("%s = %g must be in [0, 1)", rate_names[i], rates[i]);
    if ((unsigned)d->dropout_mode > CLRNN_DROPOUT_PER_STEP)
        BAD("dropout_mode = %d is not a clrnn_dropout_mode", (int)d->dropout_mode);
    if (d->dropout_shared != 0 && d->dropout_shared != 1) BAD("dropout_shared = %d is not 0 or 1", d->dropout_shared);
    if ((unsigned)d->storage > CLRNN_STORAGE_BF16) BAD("storage = %d is not a clrnn_storage", (int)d->storage);
    return CLRNN_OK;
}

static void free_layer(clrnn_layer_weights *w) {
    free(w->W);
    free(w->R);
    free(w->Wb);
    free(w->Rb);
    free(w->P);
    free(w->proj);
}

static void rnn_free(clrnn_rnn *r);

clrnn_status clrnn_rnn_create(clrnn_context *ctx, const clrnn_rnn_desc *desc, clrnn_rnn **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_create: out is NULL");
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, "clrnn_rnn_create");
    if (st != CLRNN_OK) return st;
    if (!desc) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_create: desc is NULL");
    if ((st = validate(desc)) != CLRNN_OK) return st;

    clrnn_rnn *r = calloc(1, sizeof *r);
    if (!r) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "rnn object");
    r->ctx = ctx;
    r->ctx_id = clrnn_handle_id(ctx, CLRNN_HANDLE_CONTEXT);
    r->desc = *desc;
    r->D = desc->direction == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1;
    r->G = clrnn_cell_gates(desc->cell);
    r->Hr = desc->proj_size > 0 ? desc->proj_size : desc->hidden_size;
    r->Hm = (r->D == 2 && desc->merge != CLRNN_MERGE_CONCAT && desc->merge != CLRNN_MERGE_NONE) ? r->Hr : r->D * r->Hr;
    r->O = desc->dense_size > 0 ? desc->dense_size : r->Hm;
    r->elem = desc->storage == CLRNN_STORAGE_FP32 ? sizeof(float) : sizeof(uint16_t);
    /* the plan, chosen once: it fixes the device layouts (state strides, packed weights) */
    r->plan = clrnn_plan_choose(ctx);
    if ((st = r->plan->init(r)) != CLRNN_OK) {
        rnn_free(r);
        return st;
    }
    r->dirty = 1;
    const size_t H = (size_t)desc->hidden_size, GH = (size_t)r->G * H;
    r->lw = calloc((size_t)desc->num_layers * r->D, sizeof *r->lw);
    if (!r->lw) goto oom;
    for (int l = 0; l < desc->num_layers; ++l)
        for (int d = 0; d < r->D; ++d) {
            clrnn_layer_weights *w = &r->lw[l * r->D + d];
            w->in_size = l == 0 ? desc->input_size : r->D * r->Hr;
            w->W = calloc(GH * (size_t)w->in_size, sizeof(float));
            w->R = calloc(GH * (size_t)r->Hr, sizeof(float));
            w->Wb = calloc(GH, sizeof(float));
            w->Rb = calloc(GH, sizeof(float));
            w->P = calloc(3 * H, sizeof(float));
            if (desc->proj_size > 0) w->proj = calloc((size_t)r->Hr * H, sizeof(float));
            if (!w->W || !w->R || !w->Wb || !w->Rb || !w->P || (desc->proj_size > 0 && !w->proj)) goto oom;
        }
    if (desc->dense_size > 0) {
        r->dense_W = calloc((size_t)r->O * r->Hm, sizeof(float));
        r->dense_b = calloc((size_t)r->O, sizeof(float));
        if (!r->dense_W || !r->dense_b) goto oom;
    }
    if (!clrnn_handle_register(r, CLRNN_HANDLE_RNN)) {
        rnn_free(r);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "rnn handle registry");
    }
    *out = r;
    return CLRNN_OK;
oom:
    rnn_free(r);
    return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "host weight storage for L=%d H=%d", desc->num_layers,
                      desc->hidden_size);
}

/* A NULL, destroyed or foreign pointer is ignored (the reason is left in clrnn_last_error()).
 * An rnn may be destroyed after its context: its device buffers keep the OpenCL context alive. */
void clrnn_rnn_destroy(clrnn_rnn *r) {
    if (!r) return;
    if (!clrnn_handle_unregister(r, CLRNN_HANDLE_RNN)) {
        clrnn_check_rnn(r, "clrnn_rnn_destroy (ignored)");
        return;
    }
    rnn_free(r);
}

static void rnn_free(clrnn_rnn *r) {
    clrnn_train_release(r);
    clrnn_rnn_release_device(r);
    if (r->plan && r->plan->release) r->plan->release(r);
    if (r->lw)
        for (int i = 0; i < r->desc.num_layers * r->D; ++i) free_layer(&r->lw[i]);
    free(r->lw);
    free(r->dense_W);
    free(r->dense_b);
    free(r->tmap_host);
    free(r);
}

clrnn_status clrnn_rnn_get_desc(const clrnn_rnn *rnn, clrnn_rnn_desc *desc) {
    /* allowed after the context is gone: only the rnn itself is read */
    if (!clrnn_handle_id(rnn, CLRNN_HANDLE_RNN)) return clrnn_check_rnn(rnn, "clrnn_rnn_get_desc");
    if (!desc) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_get_desc: desc is NULL");
    *desc = rnn->desc;
    return CLRNN_OK;
}

/* The size queries answer 0 for a NULL, destroyed or foreign rnn. */
static int live(const clrnn_rnn *rnn) { return clrnn_handle_id(rnn, CLRNN_HANDLE_RNN) != 0; }
int clrnn_rnn_num_directions(const clrnn_rnn *rnn) { return live(rnn) ? rnn->D : 0; }
int clrnn_rnn_state_size(const clrnn_rnn *rnn) { return live(rnn) ? rnn->Hr : 0; }
int clrnn_rnn_output_size(const clrnn_rnn *rnn) { return live(rnn) ? rnn->O : 0; }
size_t clrnn_rnn_workspace_bytes(const clrnn_rnn *rnn) { return live(rnn) ? rnn->ws.bytes : 0; }
size_t clrnn_rnn_weight_bytes(const clrnn_rnn *rnn) { return live(rnn) ? rnn->dw.bytes : 0; }

clrnn_status clrnn_rnn_check_mem(const clrnn_rnn *rnn, const clrnn_tensor *t, const char *name, const char *func) {
    if (!t->mem) return CLRNN_OK;
    cl_context owner = NULL;
    cl_int err = clGetMemObjectInfo(t->mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err != CL_SUCCESS)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s.mem is not a valid cl_mem (%s)", func, name,
                          clrnn_cl_error_name(err));
    if (owner != rnn->ctx->cl_ctx)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s.mem belongs to another OpenCL context than the rnn's", func,
                          name);
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_check_forward_entry(const clrnn_rnn *rnn, const clrnn_forward_args *args, const char *func) {
    clrnn_status st = clrnn_check_rnn(rnn, func);
    if (st != CLRNN_OK) return st;
    if (!args) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: args is NULL", func);
    const clrnn_tensor *t[6] = {&args->x, &args->h0, &args->c0, &args->y, &args->hn, &args->cn};
    static const char *const names[6] = {"x", "h0", "c0", "y", "hn", "cn"};
    for (int i = 0; i < 6; ++i)
        if ((st = clrnn_rnn_check_mem(rnn, t[i], names[i], func)) != CLRNN_OK) return st;
    return CLRNN_OK;
}

const char *clrnn_rnn_plan(const clrnn_rnn *r, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    /* a dead rnn, or one whose context is gone, is not read (nor its context's lock taken) */
    if (clrnn_check_rnn(r, "clrnn_rnn_plan") != CLRNN_OK) {
        snprintf(buf, cap, "(%s)", clrnn_last_error());
        return buf;
    }
    r->plan->describe(r, buf, cap);
    size_t len = strlen(buf);
    const char *why = clrnn_plan_default_why(r->ctx, r->plan);
    if (why && len + 1 < cap) snprintf(buf + len, cap - len, "; %s", why);
    len = strlen(buf);
    if (r->desc.storage != CLRNN_STORAGE_FP32 && len + 1 < cap)
        snprintf(buf + len, cap - len, "; weights and activations stored as %s, fp32 arithmetic",
                 r->desc.storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16");
    return buf;
}
