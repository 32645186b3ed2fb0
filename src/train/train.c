/* Training (issue 13): backpropagation through time on the device, for every cell and option the
 * forward runs.
 *
 * The trainable values live on the device in the internal layout (clrnn_layer_weights: W, R, Wb,
 * Rb, P, proj per layer and direction; dense W and b), next to gradients of the same shapes
 * (clrnn_rnn_param_bufs). They are uploaded from the host weights when those changed
 * (rnn->host_gen); an optimizer that changes them calls clrnn_rnn_params_updated, and the host copy
 * follows lazily (clrnn_rnn_sync_host_params, run before an inference forward, set_param, get_param).
 *
 * The training forward does not use the plan's packed kernels: per layer and direction one GEMM
 * gives x W^T for every step; then, per step, h_prev R^T (a GEMM of N rows) and one element-wise
 * kernel (cl/train/train.cl) that reads the step table and keeps in the reserve, at the row of the
 * step's TIME index, what the backward needs. The backward walks the steps in reverse with one
 * element-wise kernel for the output gradient (masks, CARRY, projection clip) and one for the cell
 * (one kernel doing both without a projection), and a GEMM dG R for dh_prev. Because everything
 * is stored by time index, every weight gradient is one GEMM over all T*N rows (dW = dG^T X,
 * dR = dG^T H_prev, ...), the biases and peepholes a column sum in a fixed order: no atomics, the
 * same bits run to run. */
#include "train.h"

#include "blas/gemm_own.h"
#include "cl/abi.h"
#include "cl/train/rng.h"
#include "plans/launch.h"
#include "plans/plan.h"
#include "rnn/cells.h"
#include "rnn/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * The training program: built on first use, one per context (under the context lock)
 * ---------------------------------------------------------------------------------------- */
#define TRAIN_KERNELS(X)                                                                           \
    X(tr_rnn_fwd) X(tr_lstm_fwd) X(tr_proj_fwd) X(tr_gru_lbr_fwd) X(tr_gru_gates_fwd) X(tr_gru_out_fwd) \
    X(tr_bwd_out) X(tr_rnn_bwd) X(tr_lstm_bwd) X(tr_gru_bwd) X(tr_gru_rb_r) X(tr_merge_bwd) X(tr_add) \
    X(tr_permute) X(tr_colsum) X(tr_peep_grad) X(tr_drop) X(tr_zero_masked_rows) X(tr_transpose) \
    X(tr_pack_r) X(tr_bwd_scan_1) X(tr_bwd_scan_6)

enum {
#define TK_ENUM(name) TK_##name,
    TRAIN_KERNELS(TK_ENUM)
#undef TK_ENUM
    TK_COUNT
};
static const char *const tk_names[] = {
#define TK_NAME(name) #name,
    TRAIN_KERNELS(TK_NAME)
#undef TK_NAME
};

/* The program's kernels (the kept program's state, program.c: made once per context, released
 * with it). */
struct clrnn_train_program {
    cl_kernel k[TK_COUNT];
};

extern const clrnn_embedded_source clrnn_train_sources[];
extern const size_t clrnn_train_sources_count;

static void release_kernels(void *state) {
    struct clrnn_train_program *p = state;
    for (int i = 0; i < TK_COUNT; ++i) {
        if (p->k[i]) clReleaseKernel(p->k[i]);
        p->k[i] = NULL;
    }
}

static clrnn_status make_kernels(cl_program prog, void *user) {
    struct clrnn_train_program *p = user;
    for (int i = 0; i < TK_COUNT; ++i) {
        cl_int err;
        p->k[i] = clCreateKernel(prog, tk_names[i], &err);
        if (err != CL_SUCCESS) {
            p->k[i] = NULL;
            release_kernels(p);
            return clrnn_fail_cl(err, "clCreateKernel", tk_names[i]);
        }
    }
    return CLRNN_OK;
}

/* Context lock held (ctx->train is read and set under it). */
static clrnn_status ensure_program(clrnn_context *ctx) {
    if (ctx->train) return CLRNN_OK;
    const clrnn_program_def def = {"the training kernels", "clrnn-train-program-v1", clrnn_train_sources,
                                   clrnn_train_sources_count, 1, make_kernels};
    const clrnn_kept_program *kp;
    const clrnn_status st = clrnn_program_kept(ctx, &def, sizeof(struct clrnn_train_program), release_kernels, &kp);
    if (st != CLRNN_OK) return st;
    ctx->train = kp->state;
    return CLRNN_OK;
}

static kargs tk(clrnn_context *ctx, int id) {
    kargs a = clrnn_kargs_begin(ctx->train->k[id], tk_names[id]);
    return a;
}

/* 2-D launch (g0 units rounded up to the work-group width, g1 rows). */
static clrnn_status launch2(clrnn_context *ctx, kargs *a, size_t g0, size_t g1) {
    return launch(ctx, a, g0, g1, 1, step_lws(ctx, a->k, (int)(g0 < 64 ? g0 : 64)));
}

/* The cell kernels' launch: a work-item per 16 of `width` units (cl/train/train.cl: real16), g1 rows. */
static clrnn_status launch16(clrnn_context *ctx, kargs *a, size_t width, size_t g1) {
    const size_t g0 = (width + 15) / 16;
    return launch(ctx, a, g0, g1, 1, step_lws(ctx, a->k, (int)(g0 < 16 ? g0 : 16)));
}

/* The fused cell kernels' loops a work-item (hr_dot16 per gate, TR_FUSED_DH_ADD over G*H): K
 * iterations of a 16-lane ld16 each (its loop for a partial 16), for the device's loop bound: past
 * it the product runs as the (split) GEMM instead. */
#define FUSED_LOOPS(G, K) ((long)(G) * (K) * 17 + 64)

/* dst[0..cols) (+)= the column sums of src's rows x cols (rows ld apart): tr_colsum, 8 groups of
 * 16 columns a work-item (one each, its own work-group) on CPU devices, 1 elsewhere; the same
 * bits either way. */
static clrnn_status colsum(clrnn_context *ctx, cl_mem src, int ld, int rows, int cols, cl_mem dst, int add) {
    const int groups = ctx->info.type == CLRNN_DEVICE_TYPE_CPU ? 8 : 1;
    /* a work-item loops over the rows per group of 16 columns, and once per column of a last
     * partial group: row chunks that fit the device's loop bound, the later ones adding (off) */
    const long per_row = groups + 16L, fit = clrnn_loop_budget(ctx) / per_row - 1;
    const int chunk = fit >= rows ? rows : fit < 1 ? 1 : (int)fit;
    const size_t g0 = ((size_t)cols + 16 * (size_t)groups - 1) / (16 * (size_t)groups);
    clrnn_status st = CLRNN_OK;
    for (int r0 = 0; st == CLRNN_OK && (r0 < rows || r0 == 0); r0 += chunk) {
        const int n = rows - r0 < chunk ? rows - r0 : chunk;
        kargs k = tk(ctx, TK_tr_colsum);
        if ((long)r0 * ld > INT_MAX) return clrnn_fail(CLRNN_ERR_OVERFLOW, "column sums: row offset past int");
        a_mem(&k, src), a_int(&k, r0 * ld), a_int(&k, ld), a_int(&k, n), a_int(&k, cols), a_mem(&k, dst);
        a_int(&k, add || r0 > 0), a_int(&k, groups);
        clrnn_karg_loops(&k, per_row * (n + 1L) + groups);
        st = groups > 1 ? launch(ctx, &k, g0, 1, 1, 1) : launch2(ctx, &k, g0, 1);
        if (rows == 0) break;
    }
    return st;
}

static clrnn_status gemm(clrnn_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, cl_mem a, size_t a_off,
                         size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                         size_t ldc) {
    return clrnn_sgemm_locked(ctx, ta, tb, m, n, k, 1.0f, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
}

static clrnn_status fill_zero(clrnn_context *ctx, cl_mem m, size_t floats) {
    const float zero = 0.0f;
    const cl_int err = clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof zero, 0, floats * sizeof(float), 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueFillBuffer", "zeroing a training buffer");
}

static void release_mem(cl_mem *m) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

/* ------------------------------------------------------------------------------------------
 * Trainable values and gradients
 * ---------------------------------------------------------------------------------------- */
enum { PB_W, PB_R, PB_WB, PB_RB }; /* then P (peepholes set), proj (projection) */

typedef struct clrnn_train_state {
    clrnn_param_buf p[CLRNN_MAX_PARAM_BUFS];
    char names[CLRNN_MAX_PARAM_BUFS][48];
    int n;          /* buffers in p */
    int per_ld;     /* buffers per (layer, direction) */
    int peep, proj; /* index within a (layer, direction)'s group, or -1 */
    unsigned gen;   /* rnn->host_gen the device values were uploaded from */
    int host_stale; /* an optimizer changed the device values: the host copy is behind */
    int grads_set;  /* backward_weights ran at least once (the gradients mean something) */
    uint32_t calls; /* forward_train calls so far: the next one's number */
    cl_mem acts;    /* [2][3][3] activations as the kernels read them */
    size_t bytes;
} clrnn_train_state;

static int pidx(const clrnn_train_state *ts, int ld, int role) { return ld * ts->per_ld + role; }
static int dense_idx(const clrnn_train_state *ts, int which) { return ts->n - 2 + which; }

void clrnn_train_release(clrnn_rnn *r) {
    clrnn_train_state *ts = r->train;
    if (!ts) return;
    for (int i = 0; i < ts->n; ++i) {
        release_mem(&ts->p[i].value);
        release_mem(&ts->p[i].grad);
    }
    release_mem(&ts->acts);
    r->train_bytes = r->train_bytes > ts->bytes ? r->train_bytes - ts->bytes : 0;
    free(ts);
    r->train = NULL;
}

/* The host array behind parameter i. */
static float *host_of(clrnn_rnn *r, int i) {
    const clrnn_train_state *ts = r->train;
    if (r->desc.dense_size > 0 && i >= dense_idx(ts, 0)) return i == dense_idx(ts, 0) ? r->dense_W : r->dense_b;
    clrnn_layer_weights *w = &r->lw[i / ts->per_ld];
    const int role = i % ts->per_ld;
    if (role == PB_W) return w->W;
    if (role == PB_R) return w->R;
    if (role == PB_WB) return w->Wb;
    if (role == PB_RB) return w->Rb;
    if (role == ts->peep) return w->P;
    return w->proj;
}

/* Whether bytes_new more (its biggest buffer `biggest`) fit the device beside what the rnn holds:
 * plan weights, workspace and training's memory (r->train_bytes), less `replaced` (the buffers the
 * new ones replace). */
static clrnn_status check_device_room(const clrnn_rnn *r, size_t replaced, size_t bytes_new, size_t biggest,
                                      const char *what) {
    const clrnn_device_info *info = &r->ctx->info;
    if (info->max_alloc_bytes > 0 && biggest > info->max_alloc_bytes)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: a buffer of %zu bytes, the device allows %llu per buffer",
                          what, biggest, (unsigned long long)info->max_alloc_bytes);
    const size_t train = r->train_bytes > replaced ? r->train_bytes - replaced : 0;
    const size_t others = r->dw.bytes + r->ws.bytes + train;
    if (info->global_mem_bytes > 0 && (bytes_new > info->global_mem_bytes || others > info->global_mem_bytes - bytes_new))
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                          "%s: %zu bytes, with the %zu bytes the rnn holds already over the device's %llu bytes", what,
                          bytes_new, others, (unsigned long long)info->global_mem_bytes);
    return CLRNN_OK;
}

/* Context lock held. Creates the values (from the host weights) and zeroed gradients on first
 * use; re-uploads the values when the host weights changed since. */
static clrnn_status ensure_params(clrnn_rnn *r) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *d = &r->desc;
    const int L = d->num_layers, D = r->D, H = d->hidden_size, Hr = r->Hr, GH = r->G * H;
    clrnn_train_state *ts = r->train;
    if (!ts) {
        ts = calloc(1, sizeof *ts);
        if (!ts) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "training state");
        ts->peep = d->peephole ? 4 : -1;
        ts->proj = d->proj_size > 0 ? 4 + (d->peephole ? 1 : 0) : -1;
        ts->per_ld = 4 + (ts->peep >= 0) + (ts->proj >= 0);
        static const char *const role_names[] = {"W", "R", "Wb", "Rb"};
        size_t total = 0, biggest = 0;
        for (int ld = 0; ld < L * D; ++ld)
            for (int role = 0; role < ts->per_ld; ++role) {
                clrnn_param_buf *p = &ts->p[ts->n];
                const size_t I = (size_t)r->lw[ld].in_size;
                p->count = role == PB_W ? (size_t)GH * I : role == PB_R ? (size_t)GH * Hr
                           : role <= PB_RB ? (size_t)GH : role == ts->peep ? 3 * (size_t)H : (size_t)Hr * H;
                snprintf(ts->names[ts->n], sizeof ts->names[0], "layer %d dir %d %s", ld / D, ld % D,
                         role <= PB_RB ? role_names[role] : role == ts->peep ? "P" : "proj");
                p->what = ts->names[ts->n];
                ts->n++;
            }
        if (d->dense_size > 0) {
            ts->p[ts->n].count = (size_t)r->O * r->Hm, ts->p[ts->n].what = "dense W", ts->n++;
            ts->p[ts->n].count = (size_t)r->O, ts->p[ts->n].what = "dense b", ts->n++;
        }
        for (int i = 0; i < ts->n; ++i) {
            const size_t b = ts->p[i].count * sizeof(float);
            total += 2 * b;
            if (b > biggest) biggest = b;
        }
        r->train = ts;
        clrnn_status st = check_device_room(r, 0, total, biggest, "trainable values and gradients");
        if (st != CLRNN_OK) {
            clrnn_train_release(r);
            return st;
        }
        for (int i = 0; i < ts->n; ++i) {
            cl_int err;
            const size_t bytes = ts->p[i].count * sizeof(float);
            ts->p[i].value = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, host_of(r, i), &err);
            if (err == CL_SUCCESS) ts->p[i].grad = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
            if (err == CL_SUCCESS) st = fill_zero(ctx, ts->p[i].grad, ts->p[i].count);
            else st = clrnn_fail_cl(err, "clCreateBuffer", ts->p[i].what);
            if (st != CLRNN_OK) {
                clrnn_train_release(r);
                return st;
            }
        }
        float acts[2 * ACT_SLOTS * ACT_PARAMS];
        for (int dir = 0; dir < 2; ++dir)
            for (int s = 0; s < ACT_SLOTS; ++s) {
                const clrnn_activation a = clrnn_effective_activation(d, dir < D ? dir : 0, s);
                float *q = acts + (dir * ACT_SLOTS + s) * ACT_PARAMS;
                q[0] = (float)a.kind, q[1] = a.alpha, q[2] = a.beta;
            }
        cl_int err;
        ts->acts = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof acts, acts, &err);
        if (err != CL_SUCCESS) {
            clrnn_train_release(r);
            return clrnn_fail_cl(err, "clCreateBuffer", "activations");
        }
        ts->bytes = total + sizeof acts;
        r->train_bytes += ts->bytes;
        ts->gen = r->host_gen;
        return CLRNN_OK;
    }
    if (ts->gen != r->host_gen) {
        for (int i = 0; i < ts->n; ++i) {
            const cl_int err = clEnqueueWriteBuffer(ctx->queue, ts->p[i].value, CL_TRUE, 0,
                                                    ts->p[i].count * sizeof(float), host_of(r, i), 0, NULL, NULL);
            if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", ts->p[i].what);
        }
        ts->gen = r->host_gen;
        ts->host_stale = 0;
    }
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_param_bufs(clrnn_rnn *r, clrnn_param_buf *out, int cap, int *n) {
    clrnn_status st = clrnn_check_rnn(r, "clrnn_rnn_param_bufs");
    if (st != CLRNN_OK) return st;
    if (!n) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_rnn_param_bufs: n is NULL");
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = ensure_params(r);
    mtx_unlock(&r->ctx->lock);
    if (st != CLRNN_OK) return st;
    *n = r->train->n;
    if (out && cap < r->train->n)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_rnn_param_bufs: room for %d buffers, the rnn has %d", cap,
                          r->train->n);
    if (out) memcpy(out, r->train->p, (size_t)r->train->n * sizeof *out);
    return CLRNN_OK;
}

void clrnn_train_set_call(clrnn_rnn *r, uint32_t call) {
    if (r && r->train) r->train->calls = call;
}

void clrnn_rnn_params_updated(clrnn_rnn *r) {
    if (!r || !r->train) return;
    r->train->host_stale = 1;
    r->dirty = 1; /* the plan repacks from the host copy, which sync brings up to date first */
}

clrnn_status clrnn_rnn_sync_host_params(clrnn_rnn *r) {
    clrnn_train_state *ts = r->train;
    if (!ts || !ts->host_stale) return CLRNN_OK;
    clrnn_status st = CLRNN_OK;
    mtx_lock(&r->ctx->lock);
    for (int i = 0; i < ts->n && st == CLRNN_OK; ++i) {
        const cl_int err = clEnqueueReadBuffer(r->ctx->queue, ts->p[i].value, CL_TRUE, 0,
                                               ts->p[i].count * sizeof(float), host_of(r, i), 0, NULL, NULL);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clEnqueueReadBuffer", ts->p[i].what);
    }
    mtx_unlock(&r->ctx->lock);
    if (st != CLRNN_OK) return st;
    ts->host_stale = 0;
    r->dirty = 1;
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * The reserve
 * ---------------------------------------------------------------------------------------- */
#define RES_LD (CLRNN_MAX_LAYERS * 2)

struct clrnn_reserve {
    clrnn_rnn *rnn;
    uint64_t rnn_id;
    int state; /* 0: nothing to backward; 1: forward_train done; 2: backward_data done too */
    int T, N, last_only;
    uint32_t call;          /* the forward_train call number (dropout masks) */
    size_t TN_cap, N_cap;   /* capacity: step rows and batch rows */
    int32_t *tmap_host;
    size_t tmap_cap;
    int tmap_T, tmap_N;     /* the T and N whose plain table (no lengths, no mask) tmap holds; 0: none */
    cl_mem tmap;            /* [D*T*N + D*N] the step table of the forward */
    cl_mem x0;              /* [T*N, I] layer 0's input, time-major */
    cl_mem xw;              /* [T*N, G*H] x W^T of the direction being run */
    cl_mem hr;              /* [N, G*H] h_prev R^T of a step */
    cl_mem rt;              /* [Hr, G*H] + 64: R^T of the (layer, direction) the forward runs */
    cl_mem rcopy;           /* [G*H, Hr] + 64: R of the one the backward runs, when Hr % 64 != 0 */
    cl_mem step_a;          /* [N, H] r * h_prev (GRU reset-before), h_raw (LSTMP) of a step */
    cl_mem step_m;          /* [N, Hr] the projection of a step */
    cl_mem dense_in;        /* [T*N, Hm] merged output before the dense layer */
    cl_mem y_out;           /* [T*N, max(O, D*Hr)] staging for a host y, or y when none is asked */
    cl_mem dyd;             /* [T*N, max(O, D*Hr)] the output gradient (kept for the dense layer's) */
    cl_mem dmerge;          /* [T*N, Hm] the merged output's gradient (after the dense backward) */
    cl_mem dbuf[2];         /* [T*N, max(I, D*Hr)] a layer's output gradient / its input's */
    cl_mem dh[2];           /* [D, N, Hr] the state gradient, ping-pong across steps */
    cl_mem dc;              /* [D, N, H] */
    cl_mem carry;           /* [N, Hr] CARRY: masked steps' output gradients waiting for a computed one */
    cl_mem dh_step;         /* [N, Hr] a step's output gradient */
    cl_mem dhraw;           /* [N, H] LSTMP: its h_raw gradient; GRU reset-before: (r * h)'s */
    cl_mem dg_step;         /* [N, G*H] a step's gate gradients (h side) */
    cl_mem dlast;           /* [D, N, Hr] last_only: the final states' gradient from dy */
    cl_mem xdrop;           /* [T*N, max(I, D*Hr)] input / recurrent dropout: a gate's masked copy */
    cl_mem y[CLRNN_MAX_LAYERS]; /* [T*N, D*Hr] layer outputs (after dropout) */
    cl_mem h[CLRNN_MAX_LAYERS]; /* [D, N, Hr] states: h0, then the final states */
    cl_mem c[CLRNN_MAX_LAYERS]; /* [D, N, H] */
    cl_mem res[RES_LD];     /* [T*N, S] per (layer, direction): see train.cl */
    cl_mem dgx[RES_LD];     /* [T*N, G*H] gate gradients by time (x side: W, Wb) */
    cl_mem dgh[RES_LD];     /* [T*N, G*H] GRU lbr: the h side (R, Rb) */
    cl_mem dm[RES_LD];      /* [T*N, Hr] LSTMP: the projection output's gradient */
    cl_mem dense_src;       /* not owned: where the dense layer's input is (dense_in or y[L-1]) */
    int bwd_cur, bwd_has_dy; /* backward: the dbuf holding the layer's output gradient, and whether it has one */
    int bwd_need_dx;         /* backward: the layer's input gradient is needed (a lower layer's, or dx asked) */
    size_t bytes;
};

/* Floats of a reserve row (train.cl's layout). */
static int res_row(const clrnn_rnn *r) {
    const int H = r->desc.hidden_size, Hr = r->Hr;
    switch (r->desc.cell) {
    case CLRNN_CELL_RNN: return Hr + H;
    case CLRNN_CELL_LSTM: return Hr + 6 * H + (r->desc.proj_size > 0 ? H + Hr : 0);
    default: return Hr + 4 * H;
    }
}
#define RES_O_HRAW(r) ((r)->Hr + 6 * (r)->desc.hidden_size)
#define RES_O_M(r) ((r)->Hr + 7 * (r)->desc.hidden_size)

typedef struct res_buf {
    cl_mem *mem;
    size_t elems;
} res_buf;

#define RES_MAX_BUFS (26 + 3 * CLRNN_MAX_LAYERS + 4 * RES_LD)

static int res_layout(const clrnn_rnn *r, clrnn_reserve *v, size_t TN, size_t N, res_buf *b) {
    const clrnn_rnn_desc *d = &r->desc;
    const size_t D = (size_t)r->D, H = (size_t)d->hidden_size, Hr = (size_t)r->Hr, GH = (size_t)r->G * H;
    const size_t I = (size_t)d->input_size, L = (size_t)d->num_layers;
    const int lstm = d->cell == CLRNN_CELL_LSTM, lbr = d->cell == CLRNN_CELL_GRU && d->linear_before_reset;
    const size_t XC = I > D * Hr ? I : D * Hr, OC = (size_t)r->O > D * Hr ? (size_t)r->O : D * Hr;
    int n = 0, ok = 1;
    size_t e;
#define RB(m, rows, cols)                                                                          \
    do {                                                                                           \
        ok = ok && clrnn_mul_size((rows), (cols), &e) && e <= SIZE_MAX / 8;                        \
        b[n++] = (res_buf){&(m), ok ? e : 0};                                                      \
    } while (0)
    RB(v->tmap, D * TN + D * N, 1);
    RB(v->x0, TN, I);
    RB(v->xw, TN, GH);
    RB(v->hr, N, GH);
    /* 64 floats past the matrix: the SGEMM reads a row's whole 64-column panels in place when
     * the last one lies in the buffer (gemm_own.c), instead of packing them every step */
    RB(v->rt, Hr * GH + 64, 1);
    if (Hr % 64) RB(v->rcopy, GH * Hr + 64, 1);
    RB(v->step_a, N, H);
    RB(v->step_m, N, Hr);
    if (d->dense_size > 0) RB(v->dense_in, TN, (size_t)r->Hm);
    RB(v->y_out, TN, OC);
    RB(v->dyd, TN, OC);
    RB(v->dmerge, TN, (size_t)r->Hm);
    RB(v->dbuf[0], TN, XC);
    RB(v->dbuf[1], TN, XC);
    RB(v->dh[0], D * N, Hr);
    RB(v->dh[1], D * N, Hr);
    if (lstm) RB(v->dc, D * N, H);
    RB(v->carry, N, Hr);
    RB(v->dh_step, N, Hr);
    RB(v->dhraw, N, H);
    RB(v->dg_step, N, GH);
    RB(v->dlast, D * N, Hr);
    if (d->input_dropout > 0 || d->recurrent_dropout > 0) RB(v->xdrop, TN, XC);
    for (size_t l = 0; l < L; ++l) {
        RB(v->y[l], TN, D * Hr);
        RB(v->h[l], D * N, Hr);
        if (lstm) RB(v->c[l], D * N, H);
        for (size_t dd = 0; dd < D; ++dd) {
            const size_t ld = l * D + dd;
            RB(v->res[ld], TN, (size_t)res_row(r));
            RB(v->dgx[ld], TN, GH);
            if (lbr) RB(v->dgh[ld], TN, GH);
            if (d->proj_size > 0) RB(v->dm[ld], TN, Hr);
        }
    }
#undef RB
    return ok ? n : 0;
}

static void reserve_release_bufs(clrnn_reserve *v) {
    cl_mem *all[] = {&v->tmap, &v->x0, &v->xw, &v->hr, &v->rt, &v->rcopy, &v->step_a, &v->step_m, &v->dense_in,
                     &v->y_out, &v->dyd, &v->dmerge, &v->dbuf[0], &v->dbuf[1], &v->dh[0], &v->dh[1], &v->dc,
                     &v->carry, &v->dh_step, &v->dhraw, &v->dg_step, &v->dlast, &v->xdrop};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i) release_mem(all[i]);
    v->tmap_T = v->tmap_N = 0;
    for (int l = 0; l < CLRNN_MAX_LAYERS; ++l) {
        release_mem(&v->y[l]);
        release_mem(&v->h[l]);
        release_mem(&v->c[l]);
    }
    for (int i = 0; i < RES_LD; ++i) {
        release_mem(&v->res[i]);
        release_mem(&v->dgx[i]);
        release_mem(&v->dgh[i]);
        release_mem(&v->dm[i]);
    }
    v->TN_cap = v->N_cap = 0;
    v->bytes = 0;
    v->state = 0;
}

/* Context lock held. Sized for (T, N), grown to the largest seen (as the workspace), checked
 * against the device's limits before anything is released. */
static clrnn_status reserve_ensure(clrnn_rnn *r, clrnn_reserve *v, int T, int N) {
    const size_t TN = (size_t)T * N;
    if (v->x0 && TN <= v->TN_cap && (size_t)N <= v->N_cap) return CLRNN_OK;
    const size_t want_TN = TN > v->TN_cap ? TN : v->TN_cap, want_N = (size_t)N > v->N_cap ? (size_t)N : v->N_cap;
    res_buf b[RES_MAX_BUFS];
    const int n = res_layout(r, v, want_TN, want_N, b);
    if (n == 0) return clrnn_fail(CLRNN_ERR_OVERFLOW, "the reserve for T=%d N=%d overflows", T, N);
    size_t total = 0, biggest = 0;
    for (int i = 0; i < n; ++i) {
        const size_t bytes = (b[i].elems ? b[i].elems : 1) * sizeof(float);
        if (total > SIZE_MAX - bytes) return clrnn_fail(CLRNN_ERR_OVERFLOW, "the reserve for T=%d N=%d overflows", T, N);
        total += bytes;
        if (bytes > biggest) biggest = bytes;
    }
    clrnn_status st = check_device_room(r, v->bytes, total, biggest, "the training reserve");
    if (st != CLRNN_OK) return st;
    r->train_bytes -= v->bytes < r->train_bytes ? v->bytes : r->train_bytes;
    reserve_release_bufs(v);
    for (int i = 0; i < n; ++i) {
        cl_int err;
        *b[i].mem = clCreateBuffer(r->ctx->cl_ctx, CL_MEM_READ_WRITE, (b[i].elems ? b[i].elems : 1) * sizeof(float),
                                   NULL, &err);
        if (err != CL_SUCCESS) {
            reserve_release_bufs(v);
            return clrnn_fail_cl(err, "clCreateBuffer", "the training reserve");
        }
        v->bytes += (b[i].elems ? b[i].elems : 1) * sizeof(float);
        /* defined contents: no GEMM's beta = 0 output ever meets stale NaN, whatever the BLAS does */
        if ((st = fill_zero(r->ctx, *b[i].mem, b[i].elems ? b[i].elems : 1)) != CLRNN_OK) {
            reserve_release_bufs(v);
            return st;
        }
    }
    v->TN_cap = want_TN;
    v->N_cap = want_N;
    r->train_bytes += v->bytes;
    return CLRNN_OK;
}

/* The trace's scope of a training phase (CLRNN_VERBOSE, core/launch.h); l < 0: not one layer's. */
static void trace_scope(clrnn_rnn *r, const clrnn_reserve *v, const char *phase, int l) {
    if (!clrnn_trace_on(r->ctx)) return;
    const char *cell = clrnn_cell_info_of(r->desc.cell)->lower;
    if (l >= 0)
        clrnn_trace_scope(r->ctx, r->plan->name, "%s l%d %s T=%d N=%d H=%d D=%d", phase, l, cell, v->T, v->N,
                          r->desc.hidden_size, r->D);
    else
        clrnn_trace_scope(r->ctx, r->plan->name, "%s %s T=%d N=%d H=%d D=%d", phase, cell, v->T, v->N,
                          r->desc.hidden_size, r->D);
}

clrnn_status clrnn_reserve_create(clrnn_rnn *rnn, clrnn_reserve **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_reserve_create: out is NULL");
    *out = NULL;
    clrnn_status st = clrnn_check_rnn(rnn, "clrnn_reserve_create");
    if (st != CLRNN_OK) return st;
    if (rnn->desc.storage != CLRNN_STORAGE_FP32) /* the training kernels read and write float32 only */
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED,
                          "clrnn_reserve_create: training needs storage = CLRNN_STORAGE_FP32 (this rnn stores %s: "
                          "fp16/bf16 storage is for inference)",
                          rnn->desc.storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16");
    clrnn_reserve *v = calloc(1, sizeof *v);
    if (!v) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "reserve object");
    v->rnn = rnn;
    v->rnn_id = clrnn_handle_id(rnn, CLRNN_HANDLE_RNN);
    if (!clrnn_handle_register(v, CLRNN_HANDLE_RESERVE)) {
        free(v);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "reserve handle registry");
    }
    *out = v;
    return CLRNN_OK;
}

/* A destroyed or foreign pointer is ignored. The reserve may outlive its rnn (its buffers keep the
 * OpenCL context alive); it can then only be destroyed. */
void clrnn_reserve_destroy(clrnn_reserve *v) {
    if (!v) return;
    if (!clrnn_handle_unregister(v, CLRNN_HANDLE_RESERVE)) {
        clrnn_check_handle(v, CLRNN_HANDLE_RESERVE, "clrnn_reserve_destroy (ignored)", "reserve");
        return;
    }
    /* its bytes leave the rnn's count (when the rnn still lives: a reserve may outlive it) */
    if (v->rnn_id && clrnn_handle_id(v->rnn, CLRNN_HANDLE_RNN) == v->rnn_id)
        v->rnn->train_bytes -= v->bytes < v->rnn->train_bytes ? v->bytes : v->rnn->train_bytes;
    reserve_release_bufs(v);
    free(v->tmap_host);
    free(v);
}

/* The reserve is live and belongs to this (live) rnn. */
static clrnn_status check_reserve(const clrnn_rnn *r, const clrnn_reserve *v, const char *func) {
    clrnn_status st = clrnn_check_handle(v, CLRNN_HANDLE_RESERVE, func, "reserve");
    if (st != CLRNN_OK) return st;
    if (v->rnn != r || v->rnn_id != clrnn_handle_id(r, CLRNN_HANDLE_RNN))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: the reserve was created for another rnn", func);
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Training forward
 * ---------------------------------------------------------------------------------------- */
static cl_mem pval(const clrnn_rnn *r, int ld, int role) { return r->train->p[pidx(r->train, ld, role)].value; }
static cl_mem pgrad(const clrnn_rnn *r, int ld, int role) { return r->train->p[pidx(r->train, ld, role)].grad; }
static cl_mem layer_input(const clrnn_reserve *v, int l) { return l == 0 ? v->x0 : v->y[l - 1]; }
/* The peepholes (any buffer when there are none: the kernels do not read it then). */
static cl_mem peep_val(const clrnn_rnn *r, int ld) { return pval(r, ld, r->train->peep >= 0 ? r->train->peep : PB_WB); }

/* dst (+)= src * the mask of a dropout stream (tr_drop): rows time rows (s < 0, T*N of them) or
 * step s's batch rows (N). */
typedef struct drop_spec {
    float p;
    int l, d, stream;
} drop_spec;

/* Gate g's input / recurrent mask stream; with dropout_shared every gate takes gate 0's (one mask). */
static int input_stream(const clrnn_rnn_desc *d, int g) { return RNG_STREAM_INPUT + (d->dropout_shared ? 0 : g); }
static int recurrent_stream(const clrnn_rnn_desc *d, int g) {
    return RNG_STREAM_RECURRENT + (d->dropout_shared ? 0 : g);
}
static clrnn_status drop(clrnn_rnn *r, clrnn_reserve *v, drop_spec m, int s, cl_mem src, size_t src_off, int src_ld,
                         cl_mem dst, size_t dst_off, int dst_ld, int C, int accumulate) {
    const clrnn_rnn_desc *d = &r->desc;
    kargs k = tk(r->ctx, TK_tr_drop);
    a_mem(&k, src), a_ulong(&k, src_off), a_int(&k, src_ld), a_mem(&k, dst), a_ulong(&k, dst_off), a_int(&k, dst_ld);
    a_int(&k, C), a_int(&k, v->N), a_int(&k, v->T), a_mem(&k, v->tmap), a_int(&k, s), a_int(&k, m.d), a_flt(&k, m.p);
    a_int(&k, (int)(uint32_t)d->dropout_seed), a_int(&k, (int)(uint32_t)(d->dropout_seed >> 32)), a_int(&k, (int)v->call);
    a_int(&k, m.l), a_int(&k, m.stream), a_int(&k, d->dropout_mode == CLRNN_DROPOUT_PER_STEP), a_int(&k, accumulate);
    return launch2(r->ctx, &k, (size_t)C, s < 0 ? (size_t)v->T * v->N : (size_t)v->N);
}

/* Binds the recurrent-dropout parameters of the GRU reset-before kernels. */
static void rec_drop_params(kargs *a, const clrnn_rnn *r, const clrnn_reserve *v, int l) {
    const clrnn_rnn_desc *d = &r->desc;
    a_flt(a, d->recurrent_dropout), a_int(a, (int)(uint32_t)d->dropout_seed);
    a_int(a, (int)(uint32_t)(d->dropout_seed >> 32)), a_int(a, (int)v->call), a_int(a, l);
    a_int(a, (d->dropout_mode == CLRNN_DROPOUT_PER_STEP ? RNG_DROP_PER_STEP : 0) | (d->dropout_shared ? RNG_DROP_SHARED : 0));
}

/* Binds TR_STEP_PARAMS (step 0; the step is rebound per launch). */
static void step_params(kargs *a, const clrnn_rnn *r, const clrnn_reserve *v, int l, int d) {
    const int ld = l * r->D + d;
    a_int(a, 0), a_int(a, v->T), a_int(a, v->N), a_int(a, r->desc.hidden_size), a_int(a, r->Hr), a_int(a, d);
    a_mem(a, v->tmap), a_mem(a, v->xw), a_mem(a, v->hr), a_mem(a, pval(r, ld, PB_WB)), a_mem(a, pval(r, ld, PB_RB));
    a_mem(a, r->train->acts), a_flt(a, r->desc.clip), a_mem(a, v->res[ld]), a_int(a, res_row(r));
}

/* Binds TR_Y_PARAMS. */
static void y_params(kargs *a, const clrnn_rnn *r, const clrnn_reserve *v, int l, int d) {
    const clrnn_rnn_desc *desc = &r->desc;
    const float p_out = l < desc->num_layers - 1 ? desc->dropout : 0.0f;
    a_mem(a, v->y[l]), a_int(a, r->D * r->Hr), a_int(a, d * r->Hr), a_flt(a, p_out);
    a_int(a, (int)(uint32_t)desc->dropout_seed), a_int(a, (int)(uint32_t)(desc->dropout_seed >> 32));
    a_int(a, (int)v->call), a_int(a, l), a_int(a, (int)desc->masked_output), a_flt(a, desc->masked_fill_value);
}

void clrnn_train_fwd_io_of(const clrnn_rnn *r, const clrnn_reserve *v, int l, clrnn_train_fwd_io *io) {
    memset(io, 0, sizeof *io);
    io->T = v->T, io->N = v->N, io->S = res_row(r);
    io->tmap_host = v->tmap_host, io->tmap = v->tmap;
    io->x = layer_input(v, l), io->y = v->y[l], io->h = v->h[l], io->c = v->c[l], io->acts = r->train->acts;
    for (int d = 0; d < r->D; ++d) {
        const int ld = l * r->D + d;
        io->res[d] = v->res[ld];
        io->W[d] = pval(r, ld, PB_W), io->R[d] = pval(r, ld, PB_R);
        io->Wb[d] = pval(r, ld, PB_WB), io->Rb[d] = pval(r, ld, PB_RB);
        io->P[d] = r->train->peep >= 0 ? pval(r, ld, r->train->peep) : NULL;
    }
}

clrnn_status clrnn_train_portable_forward_layer(clrnn_rnn *r, clrnn_reserve *v, int l) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    const int D = r->D, H = desc->hidden_size, Hr = r->Hr, GH = r->G * H, T = v->T, N = v->N;
    const size_t TN = (size_t)T * N;
    const int lstm = desc->cell == CLRNN_CELL_LSTM, gru = desc->cell == CLRNN_CELL_GRU;
    const int lbr = gru && desc->linear_before_reset, rb = gru && !lbr, proj = desc->proj_size > 0;
    const float p_in = desc->input_dropout, p_rec = desc->recurrent_dropout;
    clrnn_status st = CLRNN_OK;
    for (int d = 0; d < D && st == CLRNN_OK; ++d) {
        const int ld = l * D + d;
        const size_t I = (size_t)r->lw[ld].in_size, h_off = (size_t)d * N * Hr;
        /* x W^T for every step: [T*N, G*H]; with input dropout gate g's block sees x * m_g */
        if (p_in > 0) {
            for (int g = 0; g < r->G && st == CLRNN_OK; ++g) {
                const drop_spec m = {p_in, l, d, input_stream(desc, g)};
                st = drop(r, v, m, -1, layer_input(v, l), 0, (int)I, v->xdrop, 0, (int)I, (int)I, 0);
                if (st == CLRNN_OK)
                    st = gemm(ctx, 0, 1, TN, (size_t)H, I, v->xdrop, 0, I, pval(r, ld, PB_W), (size_t)g * H * I, I, 0.0f,
                              v->xw, (size_t)g * H, (size_t)GH);
            }
        } else {
            st = gemm(ctx, 0, 1, TN, (size_t)GH, I, layer_input(v, l), 0, I, pval(r, ld, PB_W), 0, I, 0.0f, v->xw, 0,
                      (size_t)GH);
        }
        if (st != CLRNN_OK) return st;
        /* R^T once per call (R changes between calls): the per-step h_prev R^T then reads its
         * rows in place, one GEMM launch of N rows a step, instead of the transposed product
         * that packed h_prev each step and filled 64-column panels from N (1 at batch 1) rows */
        {
            kargs k = tk(ctx, TK_tr_transpose);
            a_mem(&k, pval(r, ld, PB_R)), a_int(&k, GH), a_int(&k, Hr), a_mem(&k, v->rt);
            if ((st = launch2(ctx, &k, (size_t)GH, (size_t)Hr)) != CLRNN_OK) return st;
        }
        /* h_prev R^T inside the cell kernel (train.cl TR_FUSE_PARAMS, a launch a step fewer): RNN
         * and LSTM without a projection or recurrent dropout, a row's units in one work-group
         * (H <= 256), where the GEMM would run on sgemm_small (the fused sum is its sum: same bits) */
        const size_t row_items = ((size_t)H + 15) / 16;
        const int fuse_hr = (lstm || desc->cell == CLRNN_CELL_RNN) && !proj && p_rec <= 0 && row_items <= 16 &&
                            clrnn_gemm_own_small(ctx, (size_t)N, (size_t)GH, (size_t)Hr) &&
                            clrnn_loop_fits(ctx, FUSED_LOOPS(r->G, Hr));
        kargs cell, out, pj;
        if (lstm) {
            cell = tk(ctx, TK_tr_lstm_fwd);
            step_params(&cell, r, v, l, d);
            a_mem(&cell, peep_val(r, ld)), a_mem(&cell, v->h[l]), a_mem(&cell, v->c[l]), a_mem(&cell, v->step_a);
            a_int(&cell, clrnn_lstm_flags(desc)), a_flt(&cell, desc->cell_clip), a_flt(&cell, desc->forget_bias);
            y_params(&cell, r, v, l, d);
            a_mem(&cell, v->rt), a_int(&cell, fuse_hr);
            if (proj) {
                pj = tk(ctx, TK_tr_proj_fwd);
                a_int(&pj, 0), a_int(&pj, T), a_int(&pj, N), a_int(&pj, Hr), a_int(&pj, d), a_mem(&pj, v->tmap);
                a_mem(&pj, v->step_m), a_mem(&pj, v->res[ld]), a_int(&pj, res_row(r)), a_int(&pj, RES_O_M(r));
                a_mem(&pj, v->h[l]), a_flt(&pj, desc->proj_clip);
                y_params(&pj, r, v, l, d);
            }
        } else if (rb) {
            cell = tk(ctx, TK_tr_gru_gates_fwd);
            step_params(&cell, r, v, l, d);
            a_mem(&cell, v->h[l]), a_mem(&cell, v->step_a);
            rec_drop_params(&cell, r, v, l);
            out = tk(ctx, TK_tr_gru_out_fwd);
            step_params(&out, r, v, l, d);
            a_mem(&out, v->h[l]);
            y_params(&out, r, v, l, d);
        } else {
            cell = tk(ctx, lbr ? TK_tr_gru_lbr_fwd : TK_tr_rnn_fwd);
            step_params(&cell, r, v, l, d);
            a_mem(&cell, v->h[l]);
            y_params(&cell, r, v, l, d);
            if (!lbr) a_mem(&cell, v->rt), a_int(&cell, fuse_hr);
        }
        clrnn_karg_loops(&cell, fuse_hr ? FUSED_LOOPS(r->G, Hr) : FUSED_LOOPS(0, 0)); /* unfused: its 16-lane loops */
        for (int s = 0; s < T && st == CLRNN_OK; ++s) {
            /* h_prev R^T ([N, G*H]; reset-before GRU: the z, r blocks now, n after r * h_prev); with
             * recurrent dropout gate g's block sees h_prev * m_g */
            if (fuse_hr) {
                /* the cell kernel computes it */
            } else if (p_rec > 0) {
                for (int g = 0; g < (rb ? 2 : r->G) && st == CLRNN_OK; ++g) {
                    const drop_spec m = {p_rec, l, d, recurrent_stream(desc, g)};
                    st = drop(r, v, m, s, v->h[l], h_off, Hr, v->dh_step, 0, Hr, Hr, 0);
                    if (st == CLRNN_OK)
                        st = gemm(ctx, 0, 0, (size_t)N, (size_t)H, (size_t)Hr, v->dh_step, 0, (size_t)Hr, v->rt,
                                  (size_t)g * H, (size_t)GH, 0.0f, v->hr, (size_t)g * H, (size_t)GH);
                }
            } else {
                st = gemm(ctx, 0, 0, (size_t)N, (size_t)(rb ? 2 * H : GH), (size_t)Hr, v->h[l], h_off, (size_t)Hr, v->rt,
                          0, (size_t)GH, 0.0f, v->hr, 0, (size_t)GH);
            }
            if (st != CLRNN_OK) break;
            a_set_int(&cell, 0, s);
            /* fused: the work-group is the row's work-items exactly (the kernel's barrier) */
            st = fuse_hr ? launch(ctx, &cell, row_items, (size_t)N, 1, row_items) : launch16(ctx, &cell, (size_t)H, (size_t)N);
            if (st != CLRNN_OK) break;
            if (rb) {
                st = gemm(ctx, 0, 0, (size_t)N, (size_t)H, (size_t)H, v->step_a, 0, (size_t)H, v->rt, (size_t)2 * H,
                          (size_t)GH, 0.0f, v->hr, (size_t)2 * H, (size_t)GH);
                if (st == CLRNN_OK) {
                    a_set_int(&out, 0, s);
                    st = launch16(ctx, &out, (size_t)H, (size_t)N);
                }
            } else if (proj) {
                st = gemm(ctx, 0, 1, (size_t)N, (size_t)Hr, (size_t)H, v->step_a, 0, (size_t)H, pval(r, ld, r->train->proj),
                          0, (size_t)H, 0.0f, v->step_m, 0, (size_t)Hr);
                if (st == CLRNN_OK) {
                    a_set_int(&pj, 0, s);
                    st = launch2(ctx, &pj, (size_t)Hr, (size_t)N);
                }
            }
        }
    }
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Backward
 * ---------------------------------------------------------------------------------------- */

/* Layer l's reverse scan. On entry: v->dh[0] holds dh of its final states (dhn, + last_only's),
 * v->dc dc (LSTM), and, when has_dy, v->dbuf[cur] its output's gradient [T*N, D*Hr]. On exit:
 * dh0/dc0 of the layer in v->dh[T & 1] and v->dc, the gate gradients by time in dgx (dgh); the
 * input's gradient follows (input_gradient). */
static clrnn_status backward_layer(clrnn_rnn *r, clrnn_reserve *v, int l, int cur, int has_dy) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    const int D = r->D, H = desc->hidden_size, Hr = r->Hr, GH = r->G * H, T = v->T, N = v->N;
    const int lstm = desc->cell == CLRNN_CELL_LSTM, gru = desc->cell == CLRNN_CELL_GRU;
    const int lbr = gru && desc->linear_before_reset, rb = gru && !lbr, proj = desc->proj_size > 0;
    const float p_out = l < desc->num_layers - 1 ? desc->dropout : 0.0f;
    const float p_rec = desc->recurrent_dropout;
    clrnn_status st = CLRNN_OK;
    for (int d = 0; d < D && st == CLRNN_OK; ++d) {
        const int ld = l * D + d;
        const size_t h_off = (size_t)d * N * Hr;
        if ((st = fill_zero(ctx, v->carry, (size_t)N * Hr)) != CLRNN_OK) return st;
        /* tr_bwd_out (LSTMP only: else the cell kernel does its work); the dh ping-pong slots
         * (dh_state 16, dh_next 17) are rebound per step */
        kargs o = tk(ctx, TK_tr_bwd_out);
        a_int(&o, 0), a_int(&o, T), a_int(&o, N), a_int(&o, Hr), a_int(&o, d), a_mem(&o, v->tmap);
        a_mem(&o, v->dbuf[cur]), a_int(&o, has_dy), a_int(&o, D * Hr), a_int(&o, d * Hr), a_flt(&o, p_out);
        a_int(&o, (int)(uint32_t)desc->dropout_seed), a_int(&o, (int)(uint32_t)(desc->dropout_seed >> 32));
        a_int(&o, (int)v->call), a_int(&o, l), a_int(&o, (int)desc->masked_output);
        const cl_uint o_dh_state = o.i;
        a_mem(&o, v->dh[0]), a_mem(&o, v->dh[1]), a_mem(&o, v->carry), a_mem(&o, v->dh_step), a_int(&o, proj);
        a_mem(&o, v->res[ld]), a_int(&o, res_row(r)), a_int(&o, proj ? RES_O_M(r) : 0), a_flt(&o, desc->proj_clip);
        a_mem(&o, proj ? v->dm[ld] : v->dh_step);
        /* the cell's backward */
        const int cell_id = lstm ? TK_tr_lstm_bwd : gru ? TK_tr_gru_bwd : TK_tr_rnn_bwd;
        kargs c = tk(ctx, cell_id);
        a_int(&c, 0), a_int(&c, T), a_int(&c, N), a_int(&c, H), a_int(&c, Hr), a_int(&c, d), a_mem(&c, v->tmap);
        a_mem(&c, v->res[ld]), a_int(&c, res_row(r)), a_mem(&c, r->train->acts), a_flt(&c, desc->clip);
        a_mem(&c, proj ? v->dhraw : v->dh_step), a_mem(&c, v->dgx[ld]), a_mem(&c, v->dg_step);
        cl_uint c_dh_next = 0;
        if (lstm) {
            a_mem(&c, peep_val(r, ld)), a_mem(&c, v->dc), a_int(&c, clrnn_lstm_flags(desc)), a_flt(&c, desc->cell_clip);
        } else if (gru) {
            a_int(&c, lbr), a_mem(&c, lbr ? v->dgh[ld] : v->dgx[ld]);
            c_dh_next = c.i;
            a_mem(&c, v->dh[1]);
        }
        /* without a projection the cell kernel does tr_bwd_out's work too (TR_OUT_PARAMS) */
        const int fuse_out = !proj;
        a_int(&c, fuse_out), a_mem(&c, v->dbuf[cur]), a_int(&c, has_dy), a_int(&c, D * Hr), a_int(&c, d * Hr);
        a_flt(&c, p_out), a_int(&c, (int)(uint32_t)desc->dropout_seed);
        a_int(&c, (int)(uint32_t)(desc->dropout_seed >> 32)), a_int(&c, (int)v->call), a_int(&c, l);
        a_int(&c, (int)desc->masked_output);
        const cl_uint c_dh_state = c.i;
        a_mem(&c, v->dh[0]), a_mem(&c, v->dh[1]), a_mem(&c, v->carry);
        /* the previous step's dG R inside the RNN / LSTM cell kernel (train.cl TR_BWD_FUSE_PARAMS,
         * a launch a step fewer), on the forward's conditions: no projection, no recurrent dropout,
         * a row in one work-group, the GEMM on sgemm_small (its sum: the same bits) */
        const size_t row_items = ((size_t)H + 15) / 16;
        const int fuse_dh = (lstm || desc->cell == CLRNN_CELL_RNN) && !proj && p_rec <= 0 && row_items <= 16 &&
                            clrnn_gemm_own_small(ctx, (size_t)N, (size_t)Hr, (size_t)GH) &&
                            clrnn_loop_fits(ctx, FUSED_LOOPS(1, GH));
        cl_uint c_fuse = 0;
        /* R for dG R: a copy with room past it when Hr is not a multiple of 64, so the SGEMM reads
         * it in place rather than packing it every step (the trainable buffer is exactly R) */
        cl_mem Rm = pval(r, ld, PB_R);
        if (Hr % 64 && !fuse_dh) {
            const cl_int err = clEnqueueCopyBuffer(ctx->queue, Rm, v->rcopy, 0, 0, (size_t)GH * Hr * sizeof(float), 0,
                                                   NULL, NULL);
            if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueCopyBuffer", "the recurrent weights");
            Rm = v->rcopy;
        }
        if (!gru) {
            a_mem(&c, Rm);
            c_fuse = c.i;
            a_int(&c, 0);
        }
        kargs rr = tk(ctx, TK_tr_gru_rb_r);
        cl_uint rr_dh_next = 0;
        if (rb) {
            a_int(&rr, 0), a_int(&rr, T), a_int(&rr, N), a_int(&rr, H), a_int(&rr, Hr), a_int(&rr, d), a_mem(&rr, v->tmap);
            a_mem(&rr, v->res[ld]), a_int(&rr, res_row(r)), a_mem(&rr, r->train->acts), a_flt(&rr, desc->clip);
            a_mem(&rr, v->dh_step), a_mem(&rr, v->dgx[ld]), a_mem(&rr, v->dg_step), a_mem(&rr, v->dhraw);
            rr_dh_next = rr.i;
            a_mem(&rr, v->dh[1]);
            rec_drop_params(&rr, r, v, l);
        }
        clrnn_karg_loops(&c, fuse_dh ? FUSED_LOOPS(1, GH) : FUSED_LOOPS(0, 0)); /* unfused: its 16-lane loops */
        for (int s = T - 1; s >= 0 && st == CLRNN_OK; --s) {
            /* dh of this step's state is in dh[a]; dh_prev goes to dh[b] */
            const int a = (T - 1 - s) & 1, b = 1 - a;
            a_set_int(&o, 0, s);
            a_set_mem(&o, o_dh_state, v->dh[a]);
            a_set_mem(&o, o_dh_state + 1, v->dh[b]);
            if (!fuse_out && (st = launch2(ctx, &o, (size_t)Hr, (size_t)N)) != CLRNN_OK) break;
            if (proj && (st = gemm(ctx, 0, 0, (size_t)N, (size_t)H, (size_t)Hr, v->dh_step, 0, (size_t)Hr,
                                   pval(r, ld, r->train->proj), 0, (size_t)H, 0.0f, v->dhraw, 0, (size_t)H)) != CLRNN_OK)
                break;
            a_set_int(&c, 0, s);
            if (c_dh_next) a_set_mem(&c, c_dh_next, v->dh[b]);
            a_set_mem(&c, c_dh_state, v->dh[a]);
            a_set_mem(&c, c_dh_state + 1, v->dh[b]);
            /* fused: the kernel adds the previous step's dG R (none before the first processed step) */
            if (fuse_dh) a_set_int(&c, c_fuse, s < T - 1);
            st = fuse_dh ? launch(ctx, &c, row_items, (size_t)N, 1, row_items) : launch16(ctx, &c, (size_t)H, (size_t)N);
            if (st != CLRNN_OK) break;
            if (rb) {
                /* (r * h_prev)'s gradient: dG_n R_n, then r's gradient and the r * dh_prev term */
                st = gemm(ctx, 0, 0, (size_t)N, (size_t)H, (size_t)H, v->dg_step, (size_t)2 * H, (size_t)GH, Rm,
                          (size_t)2 * H * Hr, (size_t)Hr, 0.0f, v->dhraw, 0, (size_t)H);
                if (st != CLRNN_OK) break;
                a_set_int(&rr, 0, s);
                a_set_mem(&rr, rr_dh_next, v->dh[b]);
                if ((st = launch16(ctx, &rr, (size_t)H, (size_t)N)) != CLRNN_OK) break;
            }
            /* dh_prev += dG R (masked rows: dG = 0, dh passed through by tr_bwd_out or the fused
             * cell kernel); recurrent
             * dropout: sum over gates of (dG_g R_g) * m_g */
            if (p_rec > 0) {
                for (int g = 0; g < (rb ? 2 : r->G) && st == CLRNN_OK; ++g) {
                    st = gemm(ctx, 0, 0, (size_t)N, (size_t)Hr, (size_t)H, v->dg_step, (size_t)g * H, (size_t)GH, Rm,
                              (size_t)g * H * Hr, (size_t)Hr, 0.0f, v->step_m, 0, (size_t)Hr);
                    const drop_spec m = {p_rec, l, d, recurrent_stream(desc, g)};
                    if (st == CLRNN_OK) st = drop(r, v, m, s, v->step_m, 0, Hr, v->dh[b], h_off, Hr, Hr, 1);
                }
            } else if (!fuse_dh || s == 0) { /* fused: the next step's kernel adds it, dh0's here */
                st = gemm(ctx, 0, 0, (size_t)N, (size_t)Hr, (size_t)(rb ? 2 * H : GH), v->dg_step, 0, (size_t)GH, Rm, 0,
                          (size_t)Hr, 1.0f, v->dh[b], h_off, (size_t)Hr);
            }
        }
    }
    return st;
}

/* Layer l's input gradient into v->dbuf[1 - cur] when v->bwd_need_dx: the sum over directions of
 * dG W (input dropout: of (dG_g W_g) * m_g). */
static clrnn_status input_gradient(clrnn_rnn *r, clrnn_reserve *v, int l, int cur) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    const int D = r->D, H = desc->hidden_size, GH = r->G * H;
    const size_t TN = (size_t)v->T * v->N;
    const float p_in = desc->input_dropout;
    clrnn_status st = CLRNN_OK;
    if (!v->bwd_need_dx) return st;
    const size_t I = (size_t)r->lw[l * D].in_size;
    for (int d = 0; d < D && st == CLRNN_OK; ++d) {
        if (p_in > 0) {
            for (int g = 0; g < r->G && st == CLRNN_OK; ++g) {
                st = gemm(ctx, 0, 0, TN, I, (size_t)H, v->dgx[l * D + d], (size_t)g * H, (size_t)GH,
                          pval(r, l * D + d, PB_W), (size_t)g * H * I, I, 0.0f, v->xdrop, 0, I);
                const drop_spec m = {p_in, l, d, input_stream(desc, g)};
                if (st == CLRNN_OK) st = drop(r, v, m, -1, v->xdrop, 0, (int)I, v->dbuf[1 - cur], 0, (int)I, (int)I, d || g);
            }
        } else {
            st = gemm(ctx, 0, 0, TN, I, (size_t)GH, v->dgx[l * D + d], 0, (size_t)GH, pval(r, l * D + d, PB_W), 0, I,
                      d ? 1.0f : 0.0f, v->dbuf[1 - cur], 0, I);
        }
    }
    return st;
}

clrnn_status clrnn_train_portable_backward_layer(clrnn_rnn *r, clrnn_reserve *v, int l) {
    const clrnn_status st = backward_layer(r, v, l, v->bwd_cur, v->bwd_has_dy);
    return st != CLRNN_OK ? st : input_gradient(r, v, l, v->bwd_cur);
}

clrnn_status clrnn_train_portable_input_gradient(clrnn_rnn *r, clrnn_reserve *v, int l) {
    return input_gradient(r, v, l, v->bwd_cur);
}

void clrnn_train_bwd_view_of(clrnn_rnn *r, clrnn_reserve *v, int l, int d, clrnn_train_bwd_view *o) {
    const int ld = l * r->D + d, lbr = r->desc.cell == CLRNN_CELL_GRU && r->desc.linear_before_reset;
    const struct clrnn_train_program *p = r->ctx->train;
    memset(o, 0, sizeof *o);
    o->T = v->T, o->N = v->N, o->S = res_row(r), o->has_dy = v->bwd_has_dy, o->call = v->call;
    o->tmap = v->tmap, o->res = v->res[ld], o->dgx = v->dgx[ld], o->dgh = lbr ? v->dgh[ld] : v->dgx[ld];
    o->dg_step = v->dg_step, o->d_rh = v->dhraw, o->dh[0] = v->dh[0], o->dh[1] = v->dh[1];
    o->dc = v->dc ? v->dc : v->dh_step; /* any buffer when there is no c: not read then */
    o->carry = v->carry, o->dy = v->dbuf[v->bwd_cur], o->R = pval(r, ld, PB_R), o->P = peep_val(r, ld);
    o->acts = r->train->acts;
    o->pack_r = p->k[TK_tr_pack_r], o->scan[0] = p->k[TK_tr_bwd_scan_1], o->scan[1] = p->k[TK_tr_bwd_scan_6];
}

clrnn_status clrnn_train_portable_weight_gradient(clrnn_rnn *r, clrnn_reserve *v, int l, float beta) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *desc = &r->desc;
    const int D = r->D, H = desc->hidden_size, Hr = r->Hr, GH = r->G * H;
    const size_t TN = (size_t)v->T * v->N, S = (size_t)res_row(r);
    const int gru = desc->cell == CLRNN_CELL_GRU, lbr = gru && desc->linear_before_reset, rb = gru && !lbr;
    const int add = beta != 0.0f;
    clrnn_status st = CLRNN_OK;
    for (int d = 0; d < D && st == CLRNN_OK; ++d) {
        const int ld = l * D + d;
        const size_t I = (size_t)r->lw[ld].in_size;
        cl_mem dgh = lbr ? v->dgh[ld] : v->dgx[ld];
        /* dW = dG^T X, dR = dG^T H_prev (reset-before n block: dG_n^T (r * H_prev)); with dropout
         * gate g's blocks take X * m_g, H_prev * m_g (the masks regenerated) */
        const char *env = getenv("CLRNN_TRAIN_DW"); /* =separate: a GEMM each, for A/B timings */
        const int shared = !lbr && desc->input_dropout <= 0 && desc->recurrent_dropout <= 0 &&
                           !(env && !strcmp(env, "separate"));
        if (shared) {
            /* dW, dR (and the reset-before n block) read one dG^T: packed once for all of them */
            const clrnn_gemm_part parts[3] = {
                {0, (size_t)GH, I, layer_input(v, l), 0, I, beta, pgrad(r, ld, PB_W), 0, I},
                {0, (size_t)(rb ? 2 * H : GH), (size_t)Hr, v->res[ld], 0, S, beta, pgrad(r, ld, PB_R), 0, (size_t)Hr},
                {(size_t)2 * H, (size_t)H, (size_t)Hr, v->res[ld], (size_t)Hr + 3 * (size_t)H, S, beta, pgrad(r, ld, PB_R),
                 (size_t)2 * H * Hr, (size_t)Hr}};
            st = clrnn_sgemm_shared_at_locked(ctx, TN, (size_t)GH, v->dgx[ld], 0, (size_t)GH, parts, rb ? 3 : 2);
        } else if (desc->input_dropout > 0) {
            for (int g = 0; g < r->G && st == CLRNN_OK; ++g) {
                const drop_spec m = {desc->input_dropout, l, d, input_stream(desc, g)};
                st = drop(r, v, m, -1, layer_input(v, l), 0, (int)I, v->xdrop, 0, (int)I, (int)I, 0);
                if (st == CLRNN_OK)
                    st = gemm(ctx, 1, 0, (size_t)H, I, TN, v->dgx[ld], (size_t)g * H, (size_t)GH, v->xdrop, 0, I, beta,
                              pgrad(r, ld, PB_W), (size_t)g * H * I, I);
            }
        } else {
            st = gemm(ctx, 1, 0, (size_t)GH, I, TN, v->dgx[ld], 0, (size_t)GH, layer_input(v, l), 0, I, beta,
                      pgrad(r, ld, PB_W), 0, I);
        }
        if (st == CLRNN_OK && !shared && desc->recurrent_dropout > 0) {
            for (int g = 0; g < (rb ? 2 : r->G) && st == CLRNN_OK; ++g) {
                const drop_spec m = {desc->recurrent_dropout, l, d, recurrent_stream(desc, g)};
                st = drop(r, v, m, -1, v->res[ld], 0, (int)S, v->xdrop, 0, Hr, Hr, 0);
                if (st == CLRNN_OK)
                    st = gemm(ctx, 1, 0, (size_t)H, (size_t)Hr, TN, dgh, (size_t)g * H, (size_t)GH, v->xdrop, 0,
                              (size_t)Hr, beta, pgrad(r, ld, PB_R), (size_t)g * H * Hr, (size_t)Hr);
            }
        } else if (st == CLRNN_OK && !shared) {
            st = gemm(ctx, 1, 0, (size_t)(rb ? 2 * H : GH), (size_t)Hr, TN, dgh, 0, (size_t)GH, v->res[ld], 0, S, beta,
                      pgrad(r, ld, PB_R), 0, (size_t)Hr);
        }
        if (st == CLRNN_OK && rb && !shared)
            st = gemm(ctx, 1, 0, (size_t)H, (size_t)Hr, TN, dgh, (size_t)2 * H, (size_t)GH, v->res[ld],
                      (size_t)Hr + 3 * (size_t)H, S, beta, pgrad(r, ld, PB_R), (size_t)2 * H * Hr, (size_t)Hr);
        /* biases: column sums in a fixed order; one gate gradient for both (all but the lbr GRU):
         * Rb's is Wb's, copied when set */
        for (int side = 0; side < 2 && st == CLRNN_OK; ++side) {
            if (side && !lbr && !add) {
                const cl_int err = clEnqueueCopyBuffer(ctx->queue, pgrad(r, ld, PB_WB), pgrad(r, ld, PB_RB), 0, 0,
                                                       (size_t)GH * sizeof(float), 0, NULL, NULL);
                if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clEnqueueCopyBuffer", "the recurrent bias gradient");
                break;
            }
            st = colsum(ctx, side ? dgh : v->dgx[ld], GH, (int)TN, GH, pgrad(r, ld, side ? PB_RB : PB_WB), add);
        }
        if (st == CLRNN_OK && r->train->peep >= 0) {
            kargs k = tk(ctx, TK_tr_peep_grad);
            a_mem(&k, v->dgx[ld]), a_mem(&k, v->res[ld]), a_int(&k, (int)S), a_int(&k, Hr), a_int(&k, H);
            a_int(&k, (int)TN), a_flt(&k, desc->cell_clip), a_mem(&k, pgrad(r, ld, r->train->peep)), a_int(&k, add);
            clrnn_karg_loops(&k, (long)TN + 1); /* its rows: refused past the device's loop bound */
            st = launch2(ctx, &k, (size_t)H, 1);
        }
        /* dProj = dM^T H_raw */
        if (st == CLRNN_OK && r->train->proj >= 0)
            st = gemm(ctx, 1, 0, (size_t)Hr, (size_t)H, TN, v->dm[ld], 0, (size_t)Hr, v->res[ld], (size_t)RES_O_HRAW(r),
                      S, beta, pgrad(r, ld, r->train->proj), 0, (size_t)H);
    }
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The public calls
 * ---------------------------------------------------------------------------------------- */
clrnn_status clrnn_train_end_call(clrnn_context *ctx, int host_io, const char *what) {
    const int wait = host_io || ctx->trace.enabled;
    const cl_int err = wait ? clFinish(ctx->queue) : clFlush(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, wait ? "clFinish" : "clFlush", what);
}

static int on_host(const clrnn_tensor *t) { return t->host != NULL; }

static clrnn_status forward_train_locked(clrnn_rnn *r, const clrnn_forward_args *args, clrnn_reserve *v) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *d = &r->desc;
    const int T = args->seq_length, N = args->batch, D = r->D, H = d->hidden_size, Hr = r->Hr, L = d->num_layers;
    const size_t TN = (size_t)T * N, I = (size_t)d->input_size;
    clrnn_status st;
    if ((st = ensure_program(ctx)) != CLRNN_OK || (st = ensure_params(r)) != CLRNN_OK ||
        (st = reserve_ensure(r, v, T, N)) != CLRNN_OK)
        return st;
    v->state = 0;
    v->T = T, v->N = N, v->last_only = args->last_only;
    v->call = r->train->calls++;
    trace_scope(r, v, "fwd_train in", -1);

    /* x → x0, time-major (kept: layer 0's weight gradient reads it) */
    const int batch_major = d->layout == CLRNN_LAYOUT_BATCH_MAJOR && N > 1 && T > 1;
    if (!batch_major) {
        if ((st = clrnn_move_block(ctx, 1, v->x0, 0, &args->x, 0, 1, TN * I, TN * I)) != CLRNN_OK) return st;
    } else {
        cl_mem src = args->x.mem;
        size_t src_off = args->x.offset / sizeof(float);
        if (args->x.host) {
            if ((st = clrnn_move_block(ctx, 1, v->dbuf[0], 0, &args->x, 0, 1, TN * I, TN * I)) != CLRNN_OK) return st;
            src = v->dbuf[0], src_off = 0;
        }
        kargs k = tk(ctx, TK_tr_permute);
        a_mem(&k, src), a_ulong(&k, src_off), a_mem(&k, v->x0), a_ulong(&k, 0), a_int(&k, T), a_int(&k, N);
        a_int(&k, (int)I), a_int(&k, 1);
        if ((st = launch(ctx, &k, I, (size_t)N, (size_t)T, step_lws(ctx, k.k, (int)I))) != CLRNN_OK) return st;
    }

    /* initial states */
    const size_t h_slab = (size_t)D * N * Hr * sizeof(float), c_slab = (size_t)D * N * H * sizeof(float);
    const int has_c = d->cell == CLRNN_CELL_LSTM;
    for (int l = 0; l < L; ++l) {
        if ((st = clrnn_load_state(ctx, v->h[l], &args->h0, l * h_slab, (size_t)D * N, Hr, Hr)) != CLRNN_OK) return st;
        if (has_c && (st = clrnn_load_state(ctx, v->c[l], &args->c0, l * c_slab, (size_t)D * N, H, H)) != CLRNN_OK)
            return st;
    }

    /* the step table, kept with the reserve for the backward. Its upload blocks, which also
     * completes the uploads of host inputs queued above (the caller may reuse that memory once
     * the call returns); without lengths or a mask, and with no host input, the table of the last
     * call of this T and N is still in place and nothing is sent or waited for. */
    const int host_in = on_host(&args->x) || on_host(&args->h0) || on_host(&args->c0);
    const int varies = args->seq_lens || args->mask;
    if (host_in || varies || v->tmap_T != T || v->tmap_N != N) {
        const size_t n_tmap = (size_t)D * TN + (size_t)D * N;
        if (n_tmap > v->tmap_cap) {
            int32_t *t = realloc(v->tmap_host, n_tmap * sizeof *t);
            if (!t) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "step table");
            v->tmap_host = t;
            v->tmap_cap = n_tmap;
        }
        v->tmap_T = v->tmap_N = 0;
        clrnn_build_step_table(d, D, T, N, args->seq_lens, args->mask, v->tmap_host);
        const cl_int err = clEnqueueWriteBuffer(ctx->queue, v->tmap, CL_TRUE, 0, n_tmap * sizeof(int32_t),
                                                v->tmap_host, 0, NULL, NULL);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueWriteBuffer", "uploading the step table");
        if (!varies) v->tmap_T = T, v->tmap_N = N;
    }

    if (varies) {
        kargs k = tk(ctx, TK_tr_zero_masked_rows);
        a_mem(&k, v->x0), a_mem(&k, v->tmap), a_int(&k, T), a_int(&k, N), a_int(&k, (int)I);
        if ((st = launch(ctx, &k, I, (size_t)N, (size_t)T, step_lws(ctx, k.k, (int)I))) != CLRNN_OK) return st;
    }

    for (int l = 0; l < L; ++l) {
        trace_scope(r, v, "fwd_train", l);
        if ((st = r->plan->forward_train_layer(r, v, l)) != CLRNN_OK) return st;
    }
    trace_scope(r, v, "fwd_train out", -1);

    /* final states */
    for (int l = 0; l < L; ++l) {
        if ((args->hn.host || args->hn.mem) &&
            (st = clrnn_move_block(ctx, 0, v->h[l], 0, &args->hn, l * h_slab, (size_t)D * N, Hr, Hr)) != CLRNN_OK)
            return st;
        if ((args->cn.host || args->cn.mem) &&
            (st = clrnn_move_block(ctx, 0, v->c[l], 0, &args->cn, l * c_slab, (size_t)D * N, H, H)) != CLRNN_OK)
            return st;
    }

    /* outputs: always merged (and through the dense layer), into the reserve's staging when the
     * caller asks no y: the backward needs the dense layer's input */
    clrnn_forward_args a = *args;
    if (!a.y.host && !a.y.mem) a.y.mem = v->y_out, a.y.offset = 0;
    const clrnn_out_bufs ob = {v->tmap,
                               d->dense_size > 0 ? r->train->p[dense_idx(r->train, 0)].value : NULL,
                               1,
                               d->dense_size > 0 ? r->train->p[dense_idx(r->train, 1)].value : NULL,
                               v->dense_in,
                               v->y_out};
    cl_mem merged = NULL;
    if (args->last_only) {
        st = clrnn_emit_outputs(r, &a, &ob, v->h[L - 1], 1, 0, Hr, N * Hr, D * T * N, 0, 0, &merged);
    } else {
        st = clrnn_emit_outputs(r, &a, &ob, v->y[L - 1], T, N * D * Hr, D * Hr, Hr, -1, clrnn_output_rev_mask(r),
                                d->layout == CLRNN_LAYOUT_BATCH_MAJOR, &merged);
    }
    if (st != CLRNN_OK) return st;
    v->dense_src = merged;
    if ((st = clrnn_train_end_call(ctx, on_host(&args->y) || on_host(&args->hn) || on_host(&args->cn),
                                   "the training forward")) != CLRNN_OK)
        return st;
    v->state = 1;
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_forward_train(clrnn_rnn *r, const clrnn_forward_args *args, clrnn_reserve *v) {
    clrnn_clear_error();
    const char *func = "clrnn_rnn_forward_train";
    clrnn_status st = clrnn_rnn_check_forward_entry(r, args, func);
    if (st != CLRNN_OK) return st;
    if ((st = check_reserve(r, v, func)) != CLRNN_OK) return st;
    if ((st = clrnn_forward_check_args(r, args)) != CLRNN_OK) return st;
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = forward_train_locked(r, args, v);
    clrnn_trace_scope_end(r->ctx);
    if (st != CLRNN_OK) clFinish(r->ctx->queue);
    clrnn_trace_flush_locked(r->ctx);
    mtx_unlock(&r->ctx->lock);
    return st;
}

static clrnn_status check_backward_args(const clrnn_rnn *r, const clrnn_reserve *v, const clrnn_backward_args *a,
                                        const char *func) {
    const clrnn_tensor *t[6] = {&a->dy, &a->dhn, &a->dcn, &a->dx, &a->dh0, &a->dc0};
    static const char *const names[6] = {"dy", "dhn", "dcn", "dx", "dh0", "dc0"};
    const int D = r->D, N = v->N, T = v->T, L = r->desc.num_layers;
    const size_t rows_out = v->last_only ? (size_t)N : (size_t)T * N;
    const size_t ycols = D == 2 && r->desc.merge == CLRNN_MERGE_NONE ? 2 * (size_t)r->Hr : (size_t)r->O;
    const size_t LDN = (size_t)L * D * N;
    const size_t bytes[6] = {rows_out * ycols, LDN * r->Hr, LDN * r->desc.hidden_size, (size_t)T * N * r->desc.input_size,
                             LDN * r->Hr, LDN * r->desc.hidden_size};
    const int has_c = r->desc.cell == CLRNN_CELL_LSTM;
    clrnn_status st;
    for (int i = 0; i < 6; ++i) {
        if ((st = clrnn_rnn_check_mem(r, t[i], names[i], func)) != CLRNN_OK) return st;
        if ((st = clrnn_check_tensor(t[i], names[i], 0)) != CLRNN_OK) return st;
        if (!has_c && (i == 2 || i == 5) && (t[i]->host || t[i]->mem))
            return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s is only for LSTM", func, names[i]);
        if ((st = clrnn_check_mem_size(t[i], bytes[i] * sizeof(float), names[i])) != CLRNN_OK) return st;
    }
    return CLRNN_OK;
}

static clrnn_status backward_locked(clrnn_rnn *r, clrnn_reserve *v, const clrnn_backward_args *args) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *d = &r->desc;
    const int T = v->T, N = v->N, D = r->D, H = d->hidden_size, Hr = r->Hr, L = d->num_layers, Hm = r->Hm, O = r->O;
    const size_t TN = (size_t)T * N, rows_out = v->last_only ? (size_t)N : TN;
    const int none = D == 2 && d->merge == CLRNN_MERGE_NONE;
    const size_t ycols = none ? 2 * (size_t)Hr : (size_t)O;
    const int has_c = d->cell == CLRNN_CELL_LSTM;
    clrnn_status st;
    if ((st = ensure_params(r)) != CLRNN_OK) return st;
    v->state = 1; /* a failure below leaves no backward to take weight gradients of */
    trace_scope(r, v, "bwd_data out", -1);

    /* dy → the reserve (the dense layer's gradient reads it later), through the dense layer */
    if (args->dy.host || args->dy.mem) st = clrnn_move_block(ctx, 1, v->dyd, 0, &args->dy, 0, 1, rows_out * ycols, rows_out * ycols);
    else st = fill_zero(ctx, v->dyd, rows_out * ycols);
    if (st != CLRNN_OK) return st;
    cl_mem dm = v->dyd;
    if (d->dense_size > 0) {
        st = gemm(ctx, 0, 0, rows_out, (size_t)Hm, (size_t)O, v->dyd, 0, (size_t)O, r->train->p[dense_idx(r->train, 0)].value,
                  0, (size_t)Hm, 0.0f, v->dmerge, 0, (size_t)Hm);
        if (st != CLRNN_OK) return st;
        dm = v->dmerge;
    }
    /* the merge backward: into the last layer's output gradient, or (last_only) its final states' */
    int cur = 0;
    {
        kargs k = tk(ctx, TK_tr_merge_bwd);
        const int rev_mask = v->last_only ? 0 : clrnn_output_rev_mask(r);
        const int mode = D == 1 ? CLRNN_MERGE_CONCAT : (int)d->merge;
        a_int(&k, v->last_only ? 1 : T), a_int(&k, N), a_int(&k, D), a_int(&k, Hr), a_int(&k, mode);
        a_int(&k, v->last_only ? 0 : d->layout == CLRNN_LAYOUT_BATCH_MAJOR), a_int(&k, rev_mask), a_mem(&k, v->tmap);
        a_int(&k, v->last_only ? D * T * N : -1), a_mem(&k, dm);
        if (v->last_only) {
            a_mem(&k, v->dlast), a_mem(&k, v->h[L - 1]), a_int(&k, 0), a_int(&k, Hr), a_int(&k, N * Hr);
        } else {
            a_mem(&k, v->dbuf[cur]), a_mem(&k, v->y[L - 1]), a_int(&k, N * D * Hr), a_int(&k, D * Hr), a_int(&k, Hr);
        }
        a_int(&k, (int)d->masked_output), a_flt(&k, d->masked_fill_value);
        clrnn_karg_loops(&k, 2L * D * (Hr + 1) + 2); /* per direction: its Hr outputs */
        if ((st = launch(ctx, &k, (size_t)N, v->last_only ? 1 : (size_t)T, 1, step_lws(ctx, k.k, N))) != CLRNN_OK)
            return st;
    }
    int has_dy = !v->last_only;
    const size_t h_slab = (size_t)D * N * Hr * sizeof(float), c_slab = (size_t)D * N * H * sizeof(float);
    for (int l = L - 1; l >= 0; --l) {
        if ((st = clrnn_load_state(ctx, v->dh[0], &args->dhn, l * h_slab, (size_t)D * N, Hr, Hr)) != CLRNN_OK) return st;
        if (has_c && (st = clrnn_load_state(ctx, v->dc, &args->dcn, l * c_slab, (size_t)D * N, H, H)) != CLRNN_OK)
            return st;
        if (l == L - 1 && v->last_only) {
            kargs k = tk(ctx, TK_tr_add);
            a_mem(&k, v->dh[0]), a_mem(&k, v->dlast), a_int(&k, D * N * Hr);
            if ((st = launch2(ctx, &k, (size_t)D * N * Hr, 1)) != CLRNN_OK) return st;
        }
        v->bwd_cur = cur, v->bwd_has_dy = has_dy;
        v->bwd_need_dx = l > 0 || args->dx.host || args->dx.mem;
        trace_scope(r, v, "bwd_data", l);
        if ((st = r->plan->scan_layer_backward(r, v, l)) != CLRNN_OK) return st;
        if ((args->dh0.host || args->dh0.mem) &&
            (st = clrnn_move_block(ctx, 0, v->dh[T & 1], 0, &args->dh0, l * h_slab, (size_t)D * N, Hr, Hr)) != CLRNN_OK)
            return st;
        if (has_c && (args->dc0.host || args->dc0.mem) &&
            (st = clrnn_move_block(ctx, 0, v->dc, 0, &args->dc0, l * c_slab, (size_t)D * N, H, H)) != CLRNN_OK)
            return st;
        cur = 1 - cur; /* the input's gradient is the lower layer's output gradient */
        has_dy = 1;
    }
    /* dx in the user's layout */
    if (args->dx.host || args->dx.mem) {
        const size_t I = (size_t)d->input_size;
        cl_mem src = v->dbuf[cur];
        if (d->layout == CLRNN_LAYOUT_BATCH_MAJOR && N > 1 && T > 1) {
            kargs k = tk(ctx, TK_tr_permute);
            a_mem(&k, v->dbuf[cur]), a_ulong(&k, 0), a_mem(&k, v->dbuf[1 - cur]), a_ulong(&k, 0), a_int(&k, T);
            a_int(&k, N), a_int(&k, (int)I), a_int(&k, 0);
            if ((st = launch(ctx, &k, I, (size_t)N, (size_t)T, step_lws(ctx, k.k, (int)I))) != CLRNN_OK) return st;
            src = v->dbuf[1 - cur];
        }
        if ((st = clrnn_move_block(ctx, 0, src, 0, &args->dx, 0, 1, TN * I, TN * I)) != CLRNN_OK) return st;
    }
    const int host_io = on_host(&args->dy) || on_host(&args->dhn) || on_host(&args->dcn) || on_host(&args->dx) ||
                        on_host(&args->dh0) || on_host(&args->dc0);
    if ((st = clrnn_train_end_call(ctx, host_io, "the backward pass")) != CLRNN_OK) return st;
    v->state = 2;
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_backward_data(clrnn_rnn *r, clrnn_reserve *v, const clrnn_backward_args *args) {
    clrnn_clear_error();
    const char *func = "clrnn_rnn_backward_data";
    clrnn_status st = clrnn_check_rnn(r, func);
    if (st != CLRNN_OK) return st;
    if ((st = check_reserve(r, v, func)) != CLRNN_OK) return st;
    if (!args) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: args is NULL", func);
    if (v->state < 1)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: the reserve holds no forward (run clrnn_rnn_forward_train first)", func);
    if ((st = check_backward_args(r, v, args, func)) != CLRNN_OK) return st;
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = backward_locked(r, v, args);
    clrnn_trace_scope_end(r->ctx);
    if (st != CLRNN_OK) clFinish(r->ctx->queue);
    clrnn_trace_flush_locked(r->ctx);
    mtx_unlock(&r->ctx->lock);
    return st;
}

static clrnn_status backward_weights_locked(clrnn_rnn *r, clrnn_reserve *v, float beta) {
    clrnn_context *ctx = r->ctx;
    const clrnn_rnn_desc *d = &r->desc;
    clrnn_status st;
    if ((st = ensure_params(r)) != CLRNN_OK) return st;
    for (int l = 0; l < d->num_layers; ++l) {
        trace_scope(r, v, "bwd_weights", l);
        if ((st = r->plan->weight_gradient(r, v, l, beta)) != CLRNN_OK) return st;
    }
    trace_scope(r, v, "bwd_weights dense", -1);
    if (d->dense_size > 0) {
        const size_t rows = v->last_only ? (size_t)v->N : (size_t)v->T * v->N;
        const int Hm = r->Hm, O = r->O;
        clrnn_train_state *ts = r->train;
        st = gemm(ctx, 1, 0, (size_t)O, (size_t)Hm, rows, v->dyd, 0, (size_t)O, v->dense_src, 0, (size_t)Hm, beta,
                  ts->p[dense_idx(ts, 0)].grad, 0, (size_t)Hm);
        if (st != CLRNN_OK) return st;
        if ((st = colsum(ctx, v->dyd, O, (int)rows, O, ts->p[dense_idx(ts, 1)].grad, beta != 0.0f)) != CLRNN_OK)
            return st;
    }
    if ((st = clrnn_train_end_call(ctx, 0, "the weight gradients")) != CLRNN_OK) return st;
    r->train->grads_set = 1;
    return CLRNN_OK;
}

clrnn_status clrnn_rnn_backward_weights(clrnn_rnn *r, clrnn_reserve *v, clrnn_wgrad_mode mode) {
    clrnn_clear_error();
    const char *func = "clrnn_rnn_backward_weights";
    clrnn_status st = clrnn_check_rnn(r, func);
    if (st != CLRNN_OK) return st;
    if ((st = check_reserve(r, v, func)) != CLRNN_OK) return st;
    if (mode != CLRNN_WGRAD_SET && mode != CLRNN_WGRAD_ADD)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: mode = %d is not a clrnn_wgrad_mode", func, (int)mode);
    if (v->state < 2)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: no backward_data on this reserve since its forward_train (call clrnn_rnn_backward_data first)",
                          func);
    if ((st = clrnn_weights_check_complete(r)) != CLRNN_OK) return st;
    mtx_lock(&r->ctx->lock);
    st = backward_weights_locked(r, v, mode == CLRNN_WGRAD_ADD ? 1.0f : 0.0f);
    clrnn_trace_scope_end(r->ctx);
    if (st != CLRNN_OK) clFinish(r->ctx->queue);
    clrnn_trace_flush_locked(r->ctx);
    mtx_unlock(&r->ctx->lock);
    return st;
}

/* The gradient of one role in a framework's layout: the (layer, dir)'s gradient buffers (or the
 * dense layer's) read back into internal-layout arrays, then weights.c's exporter (grad = 1: a
 * combined bias role takes dWb). */
clrnn_status clrnn_rnn_get_grad(clrnn_rnn *r, clrnn_framework fw, int layer, int dir, clrnn_param role, float *out,
                                size_t count) {
    clrnn_clear_error();
    const char *func = "clrnn_rnn_get_grad";
    clrnn_status st = clrnn_check_rnn(r, func);
    if (st != CLRNN_OK) return st;
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: out is NULL", func);
    if ((unsigned)fw > CLRNN_FRAMEWORK_TF1) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: framework = %d is unknown", func, (int)fw);
    if ((unsigned)role >= CLRNN_PARAM_COUNT_) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: role = %d is unknown", func, (int)role);
    const int dense_role = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
    const int L = r->desc.num_layers, D = r->D;
    if (!dense_role && (layer < 0 || layer >= L || dir < 0 || dir >= D))
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: layer %d / dir %d out of range (%d layers, %d directions)", func,
                          layer, dir, L, D);
    clrnn_train_state *ts = r->train;
    if (!ts || !ts->grads_set)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: no gradients yet (run clrnn_rnn_backward_weights first)", func);
    clrnn_layer_weights *w = calloc((size_t)L * D, sizeof *w);
    float *bufs[6] = {NULL};
    float *dense[2] = {NULL, NULL};
    if (!w) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: gradient staging", func);
    mtx_lock(&r->ctx->lock);
    if (dense_role) {
        if (r->desc.dense_size > 0)
            for (int k = 0; k < 2 && st == CLRNN_OK; ++k) {
                const clrnn_param_buf *p = &ts->p[dense_idx(ts, k)];
                if (!(dense[k] = malloc(p->count * sizeof(float)))) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s", func);
                else if (clEnqueueReadBuffer(r->ctx->queue, p->grad, CL_TRUE, 0, p->count * sizeof(float), dense[k], 0,
                                             NULL, NULL) != CL_SUCCESS)
                    st = clrnn_fail(CLRNN_ERR_OPENCL, "%s: reading %s", func, p->what);
            }
    } else {
        const int ld = layer * D + dir;
        w[ld] = r->lw[ld]; /* sizes and flags; the arrays are replaced below */
        w[ld].P = w[ld].proj = NULL;
        for (int k = 0; k < ts->per_ld && st == CLRNN_OK; ++k) {
            const clrnn_param_buf *p = &ts->p[pidx(ts, ld, k)];
            if (!(bufs[k] = malloc(p->count * sizeof(float)))) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s", func);
            else if (clEnqueueReadBuffer(r->ctx->queue, p->grad, CL_TRUE, 0, p->count * sizeof(float), bufs[k], 0, NULL,
                                         NULL) != CL_SUCCESS)
                st = clrnn_fail(CLRNN_ERR_OPENCL, "%s: reading %s", func, p->what);
        }
        w[ld].W = bufs[PB_W], w[ld].R = bufs[PB_R], w[ld].Wb = bufs[PB_WB], w[ld].Rb = bufs[PB_RB];
        if (ts->peep >= 0) w[ld].P = bufs[ts->peep];
        if (ts->proj >= 0) w[ld].proj = bufs[ts->proj];
    }
    mtx_unlock(&r->ctx->lock);
    if (st == CLRNN_OK) st = clrnn_weights_export(r, w, dense[0], dense[1], 1, fw, layer, dir, role, out, count);
    for (int k = 0; k < 6; ++k) free(bufs[k]);
    free(dense[0]), free(dense[1]);
    free(w);
    return st;
}
