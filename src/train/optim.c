/* Optimizers (clrnn_optimizer): SGD (+momentum, Nesterov), RMSprop, Adam in the PyTorch or the
 * Keras epsilon form, with global gradient-norm clipping. A step reads every trainable tensor's
 * gradient once for the norm (fixed blocks summed by one work-item each, the blocks then summed in
 * double on the host in tensor and block order: bitwise the same every run), refuses a non-finite
 * norm before anything changes, then runs the update kernel with the clip factor. Both kernels take
 * GLUE_OPT_GROUP tensors a launch (a launch per tensor was most of a small model's step). */
#include "train/glue.h"

#include "cl/train/glue_abi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct opt_tensor {
    size_t count, nblocks;
    size_t block0;    /* its first block in the partial sums */
    cl_mem s1, s2;    /* momentum / m, squared average / v (NULL where the kind has none) */
} opt_tensor;

/* Up to GLUE_OPT_GROUP consecutive tensors, updated by one launch. */
typedef struct opt_group {
    int first, n;
    size_t total, nblocks, block0; /* elements and blocks of its tensors; its first block */
    cl_mem meta;                   /* [2 * GLUE_OPT_GROUP] ulong: per slot the count and first element */
    cl_mem meta_blocks;            /* the same with the first block */
} opt_group;

struct clrnn_optimizer {
    clrnn_context *ctx;
    uint64_t ctx_id;
    clrnn_optimizer_params p;
    int64_t t; /* updates done */
    /* bound at the first step */
    int bound, n, ngroups;
    uint64_t owner;
    opt_tensor *tensors;
    opt_group *groups;
    cl_mem partial;   /* [all blocks] sums of squares */
    float *partial_h; /* host copy */
    size_t nblocks;
};

clrnn_optimizer_params clrnn_optimizer_default_params(clrnn_optimizer_kind kind, clrnn_eps_style style) {
    clrnn_optimizer_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.eps_style = style;
    p.beta1 = 0.9f, p.beta2 = 0.999f;
    const int keras = style == CLRNN_EPS_KERAS;
    p.eps = keras ? 1e-7f : 1e-8f;
    p.clip_style = keras ? CLRNN_CLIP_TF : CLRNN_CLIP_TORCH;
    switch (kind) {
    case CLRNN_OPTIMIZER_SGD: p.lr = keras ? 1e-2f : 1e-3f; break;
    case CLRNN_OPTIMIZER_RMSPROP:
        p.lr = keras ? 1e-3f : 1e-2f;
        p.rho = keras ? 0.9f : 0.99f;
        break;
    default: p.lr = 1e-3f; break;
    }
    return p;
}

static int unit_interval(float v) { return isfinite(v) && v >= 0.0f && v < 1.0f; }

static clrnn_status check_params(const clrnn_optimizer_params *p) {
    const char *F = "clrnn_optimizer_create";
    if (p->kind != CLRNN_OPTIMIZER_SGD && p->kind != CLRNN_OPTIMIZER_RMSPROP && p->kind != CLRNN_OPTIMIZER_ADAM)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: kind %d is not a clrnn_optimizer_kind", F, (int)p->kind);
    if (!(isfinite(p->lr) && p->lr > 0.0f))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: lr = %g must be finite and > 0", F, (double)p->lr);
    if (p->eps_style != CLRNN_EPS_TORCH && p->eps_style != CLRNN_EPS_KERAS)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: eps_style %d is not a clrnn_eps_style", F, (int)p->eps_style);
    if (p->clip_style != CLRNN_CLIP_TORCH && p->clip_style != CLRNN_CLIP_TF)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: clip_style %d is not a clrnn_clip_style", F,
                          (int)p->clip_style);
    if (!(isfinite(p->clip_norm) && p->clip_norm >= 0.0f))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: clip_norm = %g must be finite and >= 0 (0 = off)", F,
                          (double)p->clip_norm);
    if (p->kind != CLRNN_OPTIMIZER_ADAM && !unit_interval(p->momentum))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: momentum = %g must be in [0, 1)", F, (double)p->momentum);
    if (p->kind == CLRNN_OPTIMIZER_SGD && p->nesterov && p->momentum == 0.0f)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: nesterov needs momentum > 0", F);
    if (p->kind == CLRNN_OPTIMIZER_RMSPROP && !unit_interval(p->rho))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: rho = %g must be in [0, 1)", F, (double)p->rho);
    if (p->kind == CLRNN_OPTIMIZER_ADAM && (!unit_interval(p->beta1) || !unit_interval(p->beta2)))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: beta1 = %g, beta2 = %g must be in [0, 1)", F,
                          (double)p->beta1, (double)p->beta2);
    if (p->kind != CLRNN_OPTIMIZER_SGD && !(isfinite(p->eps) && p->eps > 0.0f))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: eps = %g must be finite and > 0", F, (double)p->eps);
    return CLRNN_OK;
}

static clrnn_status check_opt(const clrnn_optimizer *o, const char *func) {
    clrnn_status st = clrnn_check_handle(o, CLRNN_HANDLE_OPTIMIZER, func, "opt");
    if (st != CLRNN_OK) return st;
    if (clrnn_handle_id(o->ctx, CLRNN_HANDLE_CONTEXT) != o->ctx_id)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: the context of optimizer %p has been destroyed (destroy it before its context)", func,
                          (const void *)o);
    return CLRNN_OK;
}

clrnn_status clrnn_optimizer_create(clrnn_context *ctx, const clrnn_optimizer_params *params, clrnn_optimizer **out) {
    clrnn_clear_error();
    const char *F = "clrnn_optimizer_create";
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: out is NULL", F);
    *out = NULL;
    clrnn_status st = clrnn_check_context(ctx, F);
    if (st != CLRNN_OK) return st;
    if (!params) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: params is NULL", F);
    if ((st = check_params(params)) != CLRNN_OK) return st;
    clrnn_optimizer *o = calloc(1, sizeof *o);
    if (!o) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s", F);
    o->ctx = ctx;
    o->ctx_id = ctx->handle_id;
    o->p = *params;
    if (!clrnn_handle_register(o, CLRNN_HANDLE_OPTIMIZER)) {
        free(o);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "optimizer handle registry");
    }
    *out = o;
    return CLRNN_OK;
}

static void unbind(clrnn_optimizer *o) {
    for (int i = 0; i < o->n && o->tensors; ++i) {
        opt_tensor *t = &o->tensors[i];
        if (t->s1) clReleaseMemObject(t->s1);
        if (t->s2) clReleaseMemObject(t->s2);
    }
    for (int i = 0; i < o->ngroups && o->groups; ++i) {
        if (o->groups[i].meta) clReleaseMemObject(o->groups[i].meta);
        if (o->groups[i].meta_blocks) clReleaseMemObject(o->groups[i].meta_blocks);
    }
    if (o->partial) clReleaseMemObject(o->partial);
    free(o->partial_h);
    free(o->tensors);
    free(o->groups);
    o->tensors = NULL;
    o->groups = NULL;
    o->partial = NULL;
    o->partial_h = NULL;
    o->n = o->ngroups = 0;
    o->nblocks = 0;
    o->bound = 0;
}

void clrnn_optimizer_destroy(clrnn_optimizer *o) {
    if (!o) return;
    if (!clrnn_handle_unregister(o, CLRNN_HANDLE_OPTIMIZER)) {
        clrnn_check_handle(o, CLRNN_HANDLE_OPTIMIZER, "clrnn_optimizer_destroy (ignored)", "opt");
        return;
    }
    unbind(o); /* its buffers hold their own reference to their cl_context, even after the context's destroy */
    free(o);
}

clrnn_status clrnn_optimizer_set_lr(clrnn_optimizer *o, float lr) {
    clrnn_clear_error();
    clrnn_status st = check_opt(o, "clrnn_optimizer_set_lr");
    if (st != CLRNN_OK) return st;
    if (!(isfinite(lr) && lr > 0.0f))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_optimizer_set_lr: lr = %g must be finite and > 0", (double)lr);
    o->p.lr = lr;
    return CLRNN_OK;
}

int64_t clrnn_optimizer_steps(const clrnn_optimizer *o) {
    return clrnn_handle_id(o, CLRNN_HANDLE_OPTIMIZER) ? o->t : 0;
}

static clrnn_status zero_buffer(clrnn_context *ctx, size_t count, cl_mem *out, const char *what) {
    clrnn_status st = clrnn_glue_buffer(ctx, count * sizeof(float), NULL, out, what);
    if (st != CLRNN_OK) return st;
    const float zero = 0.0f;
    mtx_lock(&ctx->lock);
    const cl_int err = clEnqueueFillBuffer(ctx->queue, *out, &zero, sizeof zero, 0, count * sizeof(float), 0, NULL, NULL);
    mtx_unlock(&ctx->lock);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", what);
}

/* The optimizer's state for these tensors, zero. */
static clrnn_status bind(clrnn_optimizer *o, const clrnn_param_buf *bufs, int n, uint64_t owner) {
    o->tensors = calloc((size_t)n, sizeof *o->tensors);
    if (!o->tensors) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "optimizer state for %d tensors", n);
    o->n = n;
    const clrnn_optimizer_params *p = &o->p;
    const int need_s1 = p->kind == CLRNN_OPTIMIZER_ADAM || p->momentum > 0.0f;
    const int need_s2 = p->kind != CLRNN_OPTIMIZER_SGD;
    clrnn_status st = CLRNN_OK;
    for (int i = 0; i < n && st == CLRNN_OK; ++i) {
        opt_tensor *t = &o->tensors[i];
        t->count = bufs[i].count;
        t->nblocks = (t->count + GLUE_NORM_BLOCK - 1) / GLUE_NORM_BLOCK;
        t->block0 = o->nblocks;
        o->nblocks += t->nblocks;
        if (need_s1) st = zero_buffer(o->ctx, t->count, &t->s1, "optimizer momentum");
        if (st == CLRNN_OK && need_s2) st = zero_buffer(o->ctx, t->count, &t->s2, "optimizer squared average");
    }
    if (st == CLRNN_OK)
        st = clrnn_glue_buffer(o->ctx, o->nblocks * sizeof(float), NULL, &o->partial, "gradient norm partial sums");
    if (st == CLRNN_OK && !(o->partial_h = malloc((o->nblocks ? o->nblocks : 1) * sizeof(float))))
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "gradient norm partial sums");
    const int ng = (n + GLUE_OPT_GROUP - 1) / GLUE_OPT_GROUP;
    if (st == CLRNN_OK && !(o->groups = calloc((size_t)ng, sizeof *o->groups)))
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "optimizer groups");
    if (st == CLRNN_OK) o->ngroups = ng;
    for (int gi = 0; gi < ng && st == CLRNN_OK; ++gi) {
        opt_group *g = &o->groups[gi];
        g->first = gi * GLUE_OPT_GROUP;
        g->n = n - g->first < GLUE_OPT_GROUP ? n - g->first : GLUE_OPT_GROUP;
        g->block0 = o->tensors[g->first].block0;
        cl_ulong meta[2 * GLUE_OPT_GROUP] = {0}, meta_b[2 * GLUE_OPT_GROUP] = {0};
        for (int k = 0; k < g->n; ++k) {
            const opt_tensor *t = &o->tensors[g->first + k];
            meta[2 * k] = meta_b[2 * k] = t->count;
            meta[2 * k + 1] = g->total, meta_b[2 * k + 1] = g->nblocks;
            g->total += t->count, g->nblocks += t->nblocks;
        }
        st = clrnn_glue_buffer(o->ctx, sizeof meta, meta, &g->meta, "optimizer group table");
        if (st == CLRNN_OK) st = clrnn_glue_buffer(o->ctx, sizeof meta_b, meta_b, &g->meta_blocks, "optimizer group table");
    }
    if (st != CLRNN_OK) {
        unbind(o);
        return st;
    }
    o->owner = owner;
    o->bound = 1;
    return CLRNN_OK;
}

/* The tensor in slot s of a group's launch: slots past its tensors repeat its first (the kernels
 * never select them). */
static int slot_tensor(const opt_group *g, int s) { return g->first + (s < g->n ? s : 0); }

/* sqrt(sum g^2) over every tensor, in a fixed order; *bad = the first tensor whose sum is not finite. */
static clrnn_status grad_norm(clrnn_optimizer *o, const clrnn_param_buf *bufs, double *norm, int *bad) {
    clrnn_context *ctx = o->ctx;
    clrnn_status st = CLRNN_OK;
    mtx_lock(&ctx->lock);
    for (int gi = 0; gi < o->ngroups && st == CLRNN_OK; ++gi) {
        const opt_group *g = &o->groups[gi];
        if (g->nblocks == 0) continue;
        glue_args k = clrnn_glue_begin(ctx, GLUE_K_sumsq_blocks);
        for (int s = 0; s < GLUE_OPT_GROUP; ++s) glue_arg_mem(&k, bufs[slot_tensor(g, s)].grad);
        glue_arg_int(&k, g->n), glue_arg_mem(&k, g->meta_blocks), glue_arg_mem(&k, o->partial);
        glue_arg_ulong(&k, g->block0), glue_arg_ulong(&k, g->nblocks);
        /* a work-item's loops (the device's loop bound): its slot among the group's n tensors, then
         * its block's GLUE_NORM_BLOCK elements */
        clrnn_karg_loops(&k, (long)g->n + GLUE_NORM_BLOCK + 2);
        st = clrnn_glue_launch(ctx, &k, g->nblocks);
    }
    if (st == CLRNN_OK && o->nblocks > 0) {
        const cl_int err = clEnqueueReadBuffer(ctx->queue, o->partial, CL_FALSE, 0, o->nblocks * sizeof(float),
                                               o->partial_h, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clEnqueueReadBuffer", "gradient norm partial sums");
    }
    mtx_unlock(&ctx->lock);
    /* wait even after a failed enqueue: reads already queued write into partial_h */
    const cl_int err = clFinish(ctx->queue);
    if (st != CLRNN_OK) return st;
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clFinish", "gradient norm");
    double total = 0.0;
    *bad = -1;
    for (int i = 0; i < o->n; ++i) {
        double s = 0.0;
        for (size_t b = 0; b < o->tensors[i].nblocks; ++b) s += (double)o->partial_h[o->tensors[i].block0 + b];
        if (!isfinite(s) && *bad < 0) *bad = i;
        total += s;
    }
    *norm = sqrt(total);
    return CLRNN_OK;
}

/* The clip factor of the configured form (computed in float, as the frameworks do). */
static float clip_factor(const clrnn_optimizer_params *p, double norm) {
    if (p->clip_norm <= 0.0f) return 1.0f;
    const float nf = (float)norm, c = p->clip_norm;
    if (p->clip_style == CLRNN_CLIP_TORCH) {
        const float coef = c / (nf + 1e-6f); /* clip_grad_norm_: clamped to at most 1 */
        return coef < 1.0f ? coef : 1.0f;
    }
    return c * fminf(1.0f / nf, 1.0f / c); /* tf.clip_by_global_norm's scale */
}

clrnn_status clrnn_optimizer_step_bufs(clrnn_optimizer *o, const clrnn_param_buf *bufs, int n, uint64_t owner,
                                       float *grad_norm_out) {
    const char *F = "clrnn_optimizer_step";
    if (n < 1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: no trainable tensors", F);
    for (int i = 0; i < n; ++i)
        if (!bufs[i].value || !bufs[i].grad || bufs[i].count == 0)
            return clrnn_fail(CLRNN_ERR_INTERNAL, "%s: trainable tensor %d (%s) has no buffers", F, i,
                              bufs[i].what ? bufs[i].what : "?");
    if (o->bound) {
        if (owner != o->owner || n != o->n)
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                              "%s: the optimizer is bound to the tensors of its first step (another rnn or embedding "
                              "now); create one optimizer per model",
                              F);
        for (int i = 0; i < n; ++i)
            if (bufs[i].count != o->tensors[i].count)
                return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: tensor %d (%s) has %zu elements, %zu at the first step",
                                  F, i, bufs[i].what ? bufs[i].what : "?", bufs[i].count, o->tensors[i].count);
    }
    clrnn_status st = clrnn_glue_ensure(o->ctx);
    if (st != CLRNN_OK) return st;
    if (!o->bound && (st = bind(o, bufs, n, owner)) != CLRNN_OK) return st;
    double norm = 0.0;
    int bad = -1;
    if ((st = grad_norm(o, bufs, &norm, &bad)) != CLRNN_OK) return st;
    if (bad >= 0 || !isfinite(norm))
        return clrnn_fail(CLRNN_ERR_NON_FINITE, "%s: the gradient of %s is NaN or infinite (norm %g); nothing updated", F,
                          bad >= 0 && bufs[bad].what ? bufs[bad].what : "a tensor", norm);
    const clrnn_optimizer_params *p = &o->p;
    const float gscale = clip_factor(p, norm);
    const int64_t t = o->t + 1;
    /* Adam's bias corrections, in double */
    double a = p->lr, bc2 = 1.0;
    if (p->kind == CLRNN_OPTIMIZER_ADAM) {
        const double bc1 = 1.0 - pow((double)p->beta1, (double)t), c2 = 1.0 - pow((double)p->beta2, (double)t);
        if (p->eps_style == CLRNN_EPS_TORCH) {
            a = (double)p->lr / bc1;
            bc2 = sqrt(c2);
        } else {
            a = (double)p->lr * sqrt(c2) / bc1;
        }
    }
    clrnn_context *ctx = o->ctx;
    mtx_lock(&ctx->lock);
    for (int gi = 0; gi < o->ngroups && st == CLRNN_OK; ++gi) {
        const opt_group *g = &o->groups[gi];
        glue_args k = clrnn_glue_begin(ctx, GLUE_K_opt_update);
        glue_arg_int(&k, (int)p->kind), glue_arg_int(&k, g->n), glue_arg_mem(&k, g->meta), glue_arg_ulong(&k, g->total);
        clrnn_karg_loops(&k, (long)g->n + 1); /* a work-item finds its slot among the n tensors (the loop bound) */
        for (int s = 0; s < GLUE_OPT_GROUP; ++s) glue_arg_mem(&k, bufs[slot_tensor(g, s)].value);
        for (int s = 0; s < GLUE_OPT_GROUP; ++s) glue_arg_mem(&k, bufs[slot_tensor(g, s)].grad);
        /* unused state arguments get the gradient buffer (never written for them) */
        for (int s = 0; s < GLUE_OPT_GROUP; ++s) {
            const int i = slot_tensor(g, s);
            glue_arg_mem(&k, o->tensors[i].s1 ? o->tensors[i].s1 : bufs[i].grad);
        }
        for (int s = 0; s < GLUE_OPT_GROUP; ++s) {
            const int i = slot_tensor(g, s);
            glue_arg_mem(&k, o->tensors[i].s2 ? o->tensors[i].s2 : bufs[i].grad);
        }
        glue_arg_float(&k, gscale);
        glue_arg_float(&k, p->lr), glue_arg_float(&k, p->momentum), glue_arg_int(&k, p->nesterov != 0);
        glue_arg_float(&k, p->rho), glue_arg_float(&k, p->beta1), glue_arg_float(&k, p->beta2);
        glue_arg_float(&k, p->eps), glue_arg_int(&k, (int)p->eps_style), glue_arg_float(&k, (float)a);
        glue_arg_float(&k, (float)bc2), glue_arg_int(&k, t == 1);
        st = clrnn_glue_launch(ctx, &k, g->total);
    }
    mtx_unlock(&ctx->lock);
    if (st != CLRNN_OK) {
        clFinish(ctx->queue); /* what was enqueued before the failure ends before the error returns */
        return st;
    }
    if ((st = clrnn_train_end_call(ctx, 0, "optimizer update")) != CLRNN_OK) return st;
    o->t = t;
    if (grad_norm_out) *grad_norm_out = (float)norm;
    return CLRNN_OK;
}

clrnn_status clrnn_optimizer_step(clrnn_optimizer *o, clrnn_rnn *rnn, clrnn_embedding *emb, float *grad_norm_out) {
    clrnn_clear_error();
    const char *F = "clrnn_optimizer_step";
    clrnn_status st = check_opt(o, F);
    if (st != CLRNN_OK) return st;
    if (!rnn && !emb) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: neither an rnn nor an embedding to step", F);
    if (rnn && (st = clrnn_check_rnn(rnn, F)) != CLRNN_OK) return st;
    if (emb && (st = clrnn_check_embedding(emb, F)) != CLRNN_OK) return st;
    if (rnn && rnn->ctx != o->ctx)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: the rnn belongs to another context than the optimizer", F);
    if (emb && emb->ctx != o->ctx)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: the embedding belongs to another context than the optimizer", F);
    clrnn_param_buf bufs[CLRNN_MAX_PARAM_BUFS + 1];
    int n = 0;
    if (rnn && (st = clrnn_rnn_param_bufs(rnn, bufs, CLRNN_MAX_PARAM_BUFS, &n)) != CLRNN_OK) return st;
    if (emb) clrnn_embedding_param_buf(emb, &bufs[n++]);
    const uint64_t rid = rnn ? clrnn_handle_id(rnn, CLRNN_HANDLE_RNN) : 0;
    const uint64_t eid = emb ? clrnn_handle_id(emb, CLRNN_HANDLE_EMBEDDING) : 0;
    const uint64_t owner = rid * 0x9e3779b97f4a7c15ULL ^ (eid + 0x632be59bd9b4e019ULL);
    st = clrnn_optimizer_step_bufs(o, bufs, n, owner, grad_norm_out);
    if (st == CLRNN_OK && rnn) clrnn_rnn_params_updated(rnn);
    return st;
}
