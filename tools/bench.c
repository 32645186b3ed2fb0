/* clrnn-bench: how fast clrnn runs an RNN on this device, next to oneDNN on the CPU.
 *
 *   clrnn-bench --cell lstm|gru|gru_lbr|rnn_tanh|rnn_relu --seq T --batch N --input I --hidden H
 *               [--layers L] [--bidirectional] [--min-len M] [--repeat R] [--device SPEC] [--json]
 *               [--proj P]   (LSTM with a projection of size P, PyTorch proj_size)
 *   clrnn-bench --suite [--csv|--json] [--repeat R] [--device SPEC]       S1-S6, oneDNN side by side
 *   clrnn-bench --plot FILE.svg [shape flags]        GFLOP/s against batch 1..256, clrnn and oneDNN
 *   clrnn-bench --profile [--suite | shape flags] [--train]   per kernel: launches, device ms, share
 *                                                    (from the trace, see below)
 *   clrnn-bench --first-result [shape flags]         time from context creation to the first result,
 *                                                    new processes with cold and then warm caches
 *   other flags: --csv, --dnnl (single shape: also run oneDNN), --dnnl-only (time oneDNN alone, e.g. to
 *                check that clrnn's OpenCL threads do not slow it), --threads N (oneDNN threads),
 *                --cache-dir DIR, --no-tuning, --verbose (the plan: device, kernels, GEMMs issued)
 *
 * Shape flags default to S1 (lstm T=100 N=64 I=H=512). Everything is fp32 forward inference,
 * time-major, zero initial states, full output sequence; clrnn reads x from and writes y to device
 * buffers, oneDNN host memory (on a CPU OpenCL device both are the same RAM). Each measurement
 * warms up, then times R runs (default: as many as fit in ~2 s, at least 5) and reports the
 * median and the minimum; GFLOP/s = FLOPs / median, FLOPs = sum over layers of
 * 2·tokens·(G·H·(I_l + K) + P·H)·directions, K = P (with a projection) or H, tokens = real
 * (unpadded) tokens.
 * oneDNN runs the same weights, one primitive per layer (a bidirectional layer feeds the next
 * the concatenation of both directions, as clrnn and PyTorch do); the outputs are compared and the
 * largest difference is reported. oneDNN has no per-row lengths: with --min-len it is skipped.
 *
 * --train (one shape, or --suite) times a training step instead: clrnn_rnn_forward_train (hn, cn
 * out too) + clrnn_rnn_backward_data (dx, dh0, dc0 from random dy, dhn, dcn) +
 * clrnn_rnn_backward_weights (SET), each part waited for, with a per-part breakdown; oneDNN (the
 * suite always, one shape with --dnnl) runs forward_training with a workspace and h0 = c0 = 0, then,
 * per layer from the last down, the backward primitive for diff_src_layer, diff_src_iter(_c) and
 * every diff_weights / diff_bias, after zeroing those (oneDNN accumulates them) and reordering the
 * weights into the backward's formats where they differ (a training loop's weights change every
 * step). FLOPs of a step = 3x the forward's. The gradients of the last step are compared:
 * max |clrnn - oneDNN| / (1 + |oneDNN|) over dx, dh0, dc0 and over all weight and bias gradients.
 * --profile (one shape, or --suite; with --train, the training step) runs the call on a second context
 * that traces (src/core/launch.h, what CLRNN_VERBOSE=1 prints) into a table instead of stderr: per
 * kernel (per training phase and kernel with --train) the launches per call, the device ms per
 * call, the share of the kernels' device time and the mean µs per launch, over R traced calls
 * (default 10) after three warm-up calls with the trace paused. Beside it the untraced median of the
 * same call on the main context: the part of it that no kernel accounts for is launch overhead,
 * idle gaps and host work.
 * Output for machines (--json, --csv) is written in the C locale. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "blas/gemm_tuning.h"
#include "core/launch.h"
#include "tool_args.h"

#ifdef CLRNN_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef CLRNN_HAVE_OPENMP
#include <omp.h>
#endif

typedef enum out_format { OUT_TABLE = 0, OUT_CSV, OUT_JSON } out_format;

typedef struct options {
    bench_shape shape;
    int repeat; /* 0 = automatic */
    const char *device;
    const char *cache_dir;
    const char *plot;
    out_format format;
    int suite, first_result, first_result_child, dnnl, dnnl_only, verbose, no_tuning, threads, keep;
    int train; /* --train: a training step instead of the forward */
    int profile; /* --profile: the table of where the time goes, from the trace */
} options;

#define MAX_PHASES 3
typedef struct stats {
    int ok;
    int repeat;
    double median_ms, min_ms, max_ms;
    double phase_ms[MAX_PHASES]; /* --train: the median of each phase over the timed runs */
} stats;

typedef struct result {
    bench_shape shape;
    const char *name; /* scenario name or NULL */
    double flops;
    stats clrnn;
    stats dnnl;
    int dnnl_state; /* 1 ran, 0 not available, -1 unsupported (lengths), -2 failed */
    char dnnl_note[160];
    double max_abs_diff; /* clrnn vs oneDNN outputs; NAN if not compared */
    int train;           /* a training step (--train): flops = 3x the forward's */
    double err_dx, err_dw; /* --train: max |clrnn - oneDNN| / (1 + |oneDNN|) over dx, dh0, dc0 / weight grads */
} result;

static options opt;
static clrnn_context *g_ctx;
static int g_dnnl_threads;

/* ------------------------------------------------------------------------------------------
 * Timing
 * ---------------------------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Warm-up (at least three runs, more while they are short: clrnn measures its scan variants on the
 * 2nd and 3rd call of a shape), then `repeat` timed runs (0: as many as fit in ~2 s, between 5 and
 * 50). `phase` (nphase entries, may be NULL): times fn writes for its parts of one run; their medians
 * over the timed runs go to phase_ms. */
static stats measure(int (*fn)(void *), void *arg, int repeat, const double *phase, int nphase) {
    stats s;
    memset(&s, 0, sizeof s);
    double warm_total = 0, last = 0;
    for (int w = 0; w < 10; ++w) {
        const double t0 = bench_now_ms();
        if (!fn(arg)) return s;
        last = bench_now_ms() - t0;
        warm_total += last;
        if (w >= 2 && (warm_total > 200 || last > 20)) break;
    }
    int r = repeat;
    if (r <= 0) {
        r = last > 0 ? (int)(2000.0 / last) : 50;
        if (r < 5) r = 5;
        if (r > 50) r = 50;
    }
    if (nphase > MAX_PHASES) nphase = MAX_PHASES;
    double *t = malloc((size_t)r * (1 + MAX_PHASES) * sizeof(double));
    if (!t) return s;
    double *pt = t + r; /* pt[k * r + i]: phase k of timed run i */
    for (int i = 0; i < r; ++i) {
        const double t0 = bench_now_ms();
        if (!fn(arg)) {
            free(t);
            return s;
        }
        t[i] = bench_now_ms() - t0;
        for (int k = 0; k < nphase && phase; ++k) pt[k * r + i] = phase[k];
    }
    for (int k = 0; k < nphase && phase; ++k) s.phase_ms[k] = median_of(pt + k * r, r);
    s.median_ms = median_of(t, r);
    s.ok = 1;
    s.repeat = r;
    s.min_ms = t[0];
    s.max_ms = t[r - 1];
    free(t);
    return s;
}

static int run_clrnn(void *arg) {
    bench_clrnn *b = arg;
    clrnn_status st = bench_clrnn_run(b);
    if (st != CLRNN_OK) fprintf(stderr, "clrnn-bench: forward failed: %s\n", clrnn_last_error());
    return st == CLRNN_OK;
}

/* The gradients a training step starts from (host, the same numbers clrnn and oneDNN get): dy [T, N, D*K],
 * dhn [L*D, N, K], dcn [L*D, N, H] (LSTM; else NULL). */
typedef struct train_grads {
    float *dy, *dhn, *dcn;
} train_grads;

/* ------------------------------------------------------------------------------------------
 * oneDNN
 * ---------------------------------------------------------------------------------------- */
#ifdef CLRNN_HAVE_DNNL
#define DNNL_MAX_LAYERS 16

typedef struct dnnl_layer {
    dnnl_primitive_t prim;
    dnnl_memory_t wl, wi, wp, bias, dst; /* wp: LSTM projection, or NULL */
    /* --train only (else NULL): the forward_training primitive's states and workspace, the backward
     * primitive, the weights in the backward's formats where they differ from the forward's (with
     * the reorders that refresh them every step, as a training loop whose weights change must),
     * and the gradients */
    dnnl_memory_t src_iter, src_iter_c, dst_iter, dst_iter_c, ws;
    dnnl_primitive_t bwd;
    dnnl_memory_t bwl, bwi, bwp, bbias;
    dnnl_primitive_t rwl, rwi, rwp, rbias;
    dnnl_memory_t dsrc, dsrc_iter, dsrc_iter_c, dwl, dwi, dwp, dbias, ddst_iter, ddst_iter_c;
} dnnl_layer;

typedef struct dnnl_runner {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_memory_t src;
    dnnl_memory_t ddst; /* --train: dy, the last layer's diff_dst_layer */
    int L, train;
    dnnl_layer layer[DNNL_MAX_LAYERS];
    char impl[128], bwd_impl[128];
    double phase[MAX_PHASES]; /* --train, the last step: forward, backward, of which reorders + zeroing */
} dnnl_runner;

#define DNNL_TRY(call)                                                                               \
    do {                                                                                             \
        dnnl_status_t s_ = (call);                                                                   \
        if (s_ != dnnl_success) {                                                                    \
            snprintf(err, err_cap, "%s failed (dnnl status %d)", #call, (int)s_);                    \
            return 0;                                                                                \
        }                                                                                            \
    } while (0)

/* Memory `from` (format `from_md`) → `to` (format `to_md`) by one reorder primitive, waited for. */
static int reorder_now(dnnl_runner *r, const dnnl_memory_desc_t *from_md, dnnl_memory_t from,
                       const dnnl_memory_desc_t *to_md, dnnl_memory_t to, char *err, size_t err_cap) {
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, from_md, r->eng, to_md, r->eng, NULL));
    DNNL_TRY(dnnl_primitive_create(&rp, rpd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_TRY(dnnl_primitive_execute(rp, r->stream, 2, args));
    DNNL_TRY(dnnl_stream_wait(r->stream));
    dnnl_primitive_destroy(rp);
    dnnl_primitive_desc_destroy(rpd);
    return 1;
}

/* User memory `user` (format of `user_md`) → memory in the primitive's chosen format `want`. */
static int dnnl_reordered(dnnl_runner *r, const dnnl_memory_desc_t *user_md, void *data, const dnnl_memory_desc_t *want,
                          dnnl_memory_t *out, char *err, size_t err_cap) {
    dnnl_memory_t user = NULL;
    DNNL_TRY(dnnl_memory_create(&user, user_md, r->eng, data));
    if (dnnl_memory_desc_equal(user_md, want)) {
        /* same layout: copy into library-owned memory so `data` may be freed */
        DNNL_TRY(dnnl_memory_create(out, want, r->eng, DNNL_MEMORY_ALLOCATE));
        void *h = NULL;
        DNNL_TRY(dnnl_memory_get_data_handle(*out, &h));
        memcpy(h, data, dnnl_memory_desc_get_size(want));
        dnnl_memory_destroy(user);
        return 1;
    }
    DNNL_TRY(dnnl_memory_create(out, want, r->eng, DNNL_MEMORY_ALLOCATE));
    if (!reorder_now(r, user_md, user, want, *out, err, err_cap)) return 0;
    dnnl_memory_destroy(user);
    return 1;
}

/* The reverse: library memory `mem` (any format) → host `data` in the plain format `user_md`. */
static int dnnl_to_user(dnnl_runner *r, dnnl_memory_t mem, const dnnl_memory_desc_t *user_md, void *data, char *err,
                        size_t err_cap) {
    const dnnl_memory_desc_t *have = NULL;
    DNNL_TRY(dnnl_memory_get_memory_desc(mem, &have));
    dnnl_memory_t user = NULL;
    DNNL_TRY(dnnl_memory_create(&user, user_md, r->eng, data));
    if (!reorder_now(r, have, mem, user_md, user, err, err_cap)) return 0;
    dnnl_memory_destroy(user);
    return 1;
}

/* Library-owned memory for the primitive's argument `arg` (zero-filled if `zero`). */
static int dnnl_arg_memory(dnnl_runner *r, const_dnnl_primitive_desc_t pd, int arg, int zero, dnnl_memory_t *out,
                           char *err, size_t err_cap) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (!md) {
        snprintf(err, err_cap, "no memory descriptor for argument %d", arg);
        return 0;
    }
    DNNL_TRY(dnnl_memory_create(out, md, r->eng, DNNL_MEMORY_ALLOCATE));
    if (zero) {
        void *h = NULL;
        DNNL_TRY(dnnl_memory_get_data_handle(*out, &h));
        memset(h, 0, dnnl_memory_desc_get_size(md));
    }
    return 1;
}

/* The backward's copy of forward weights `from` when the backward wants argument `arg` in another
 * format: memory in that format and the reorder that fills it (both NULL when the formats agree). */
static int dnnl_backward_copy(dnnl_runner *r, const_dnnl_primitive_desc_t bpd, int arg, dnnl_memory_t from,
                              dnnl_memory_t *to, dnnl_primitive_t *reorder, char *err, size_t err_cap) {
    *to = NULL, *reorder = NULL;
    if (!from) return 1;
    const dnnl_memory_desc_t *have = NULL, *want = dnnl_primitive_desc_query_md(bpd, dnnl_query_exec_arg_md, arg);
    DNNL_TRY(dnnl_memory_get_memory_desc(from, &have));
    if (!want || dnnl_memory_desc_equal(have, want)) return 1;
    DNNL_TRY(dnnl_memory_create(to, want, r->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd = NULL;
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, have, r->eng, want, r->eng, NULL));
    const dnnl_status_t st = dnnl_primitive_create(reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    DNNL_TRY(st);
    return 1;
}

static void dnnl_free(dnnl_runner *r) {
    for (int l = 0; l < r->L; ++l) {
        dnnl_layer *y = &r->layer[l];
        dnnl_primitive_t *prims[] = {&y->prim, &y->bwd, &y->rwl, &y->rwi, &y->rwp, &y->rbias};
        for (size_t i = 0; i < sizeof prims / sizeof prims[0]; ++i)
            if (*prims[i]) dnnl_primitive_destroy(*prims[i]);
        dnnl_memory_t *mems[] = {&y->wl,   &y->wi,        &y->wp,         &y->bias,     &y->dst,    &y->src_iter,
                                 &y->src_iter_c, &y->dst_iter, &y->dst_iter_c, &y->ws,  &y->bwl,    &y->bwi,
                                 &y->bwp,  &y->bbias,     &y->dsrc,       &y->dsrc_iter, &y->dsrc_iter_c, &y->dwl,
                                 &y->dwi,  &y->dwp,       &y->dbias,      &y->ddst_iter, &y->ddst_iter_c};
        for (size_t i = 0; i < sizeof mems / sizeof mems[0]; ++i)
            if (*mems[i]) dnnl_memory_destroy(*mems[i]);
    }
    if (r->src) dnnl_memory_destroy(r->src);
    if (r->ddst) dnnl_memory_destroy(r->ddst);
    if (r->stream) dnnl_stream_destroy(r->stream);
    if (r->eng) dnnl_engine_destroy(r->eng);
    memset(r, 0, sizeof *r);
}

/* One primitive per layer with the model's weights (ONNX gate order → oneDNN's). With `g` (--train):
 * forward_training primitives with h0 = c0 = 0 and hn/cn outputs (the backward's dh0/dc0 and
 * dhn/dcn need them), a workspace, and per layer the backward primitive computing diff_src_layer,
 * diff_src_iter(_c) and every diff_weights / diff_bias from g's dy, dhn, dcn. */
static int dnnl_init(dnnl_runner *r, const bench_model *m, const train_grads *g, char *err, size_t err_cap) {
    memset(r, 0, sizeof *r);
    const bench_shape *s = &m->shape;
    if (s->L > DNNL_MAX_LAYERS) {
        snprintf(err, err_cap, "more than %d layers", DNNL_MAX_LAYERS);
        return 0;
    }
    r->train = g != NULL;
    DNNL_TRY(dnnl_engine_create(&r->eng, dnnl_cpu, 0));
    DNNL_TRY(dnnl_stream_create(&r->stream, r->eng, dnnl_stream_default_flags));
    const int D = m->D, G = m->G, H = s->H, lbr = s->cell == BENCH_GRU_LBR, Gb = G + (lbr ? 1 : 0);
    const int P = s->P, K = P ? P : H; /* K: the recurrent state size (the projection's, if any) */
    const int lstm = s->cell == BENCH_LSTM;
    /* oneDNN gate g holds ONNX gate map[g]: LSTM oneDNN i,f,c,o vs ONNX i,o,f,c; GRU both z,r,h */
    static const int lstm_map[4] = {0, 2, 3, 1}, same_map[4] = {0, 1, 2, 3};
    const int *map = s->cell == BENCH_LSTM ? lstm_map : same_map;
    dnnl_memory_desc_t x_md;
    dnnl_dims_t x_dims = {s->T, s->N, s->I};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&x_md, 3, x_dims, dnnl_f32, dnnl_tnc));
    DNNL_TRY(dnnl_memory_create(&r->src, &x_md, r->eng, m->x));
    for (int l = 0; l < s->L; ++l) {
        dnnl_layer *y = &r->layer[l];
        r->L = l + 1;
        const int I = bench_layer_input(s, l);
        dnnl_memory_desc_t src_md, wl_any, wi_any, wp_any, b_any, dst_md, wl_user, wi_user, wp_user, b_user;
        dnnl_memory_desc_t h_md, c_md; /* [1, D, N, K] / [1, D, N, H]: h0, hn / c0, cn (training only) */
        dnnl_dims_t src_dims = {s->T, s->N, I}, wl_dims = {1, D, I, G, H}, wi_dims = {1, D, K, G, H},
                    wp_dims = {1, D, H, P}, b_dims = {1, D, Gb, H}, dst_dims = {s->T, s->N, D * K},
                    h_dims = {1, D, s->N, K}, c_dims = {1, D, s->N, H};
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 3, src_dims, dnnl_f32, dnnl_tnc));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 3, dst_dims, dnnl_f32, dnnl_tnc));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wl_any, 5, wl_dims, dnnl_f32, dnnl_format_tag_any));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wi_any, 5, wi_dims, dnnl_f32, dnnl_format_tag_any));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_any, 4, b_dims, dnnl_f32, dnnl_format_tag_any));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wl_user, 5, wl_dims, dnnl_f32, dnnl_ldigo));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&wi_user, 5, wi_dims, dnnl_f32, dnnl_ldigo));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_user, 4, b_dims, dnnl_f32, dnnl_ldgo));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&h_md, 4, h_dims, dnnl_f32, dnnl_ldnc));
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&c_md, 4, c_dims, dnnl_f32, dnnl_ldnc));
        if (P) {
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&wp_any, 4, wp_dims, dnnl_f32, dnnl_format_tag_any));
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&wp_user, 4, wp_dims, dnnl_f32, dnnl_ldio));
        }
        const dnnl_rnn_direction_t dir = D == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
        const dnnl_prop_kind_t prop = r->train ? dnnl_forward_training : dnnl_forward_inference;
        const dnnl_memory_desc_t *hs = r->train ? &h_md : NULL, *cs = r->train && lstm ? &c_md : NULL;
        const dnnl_memory_desc_t *wp = P ? &wp_any : NULL;
        const dnnl_alg_kind_t act = s->cell == BENCH_RNN_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh;
        dnnl_rnn_desc_t rd;
        switch (s->cell) {
        case BENCH_LSTM:
            DNNL_TRY(dnnl_lstm_forward_desc_init_v3(&rd, prop, dir, &src_md, hs, cs, &wl_any, &wi_any, NULL, wp, &b_any,
                                                    &dst_md, hs, cs, 0));
            break;
        case BENCH_GRU:
            DNNL_TRY(dnnl_gru_forward_desc_init(&rd, prop, dir, &src_md, hs, &wl_any, &wi_any, &b_any, &dst_md, hs, 0));
            break;
        case BENCH_GRU_LBR:
            DNNL_TRY(dnnl_lbr_gru_forward_desc_init(&rd, prop, dir, &src_md, hs, &wl_any, &wi_any, &b_any, &dst_md, hs, 0));
            break;
        default:
            DNNL_TRY(dnnl_vanilla_rnn_forward_desc_init(&rd, prop, act, dir, &src_md, hs, &wl_any, &wi_any, &b_any,
                                                        &dst_md, hs, 0, 0.0f, 0.0f));
            break;
        }
        dnnl_primitive_desc_t pd = NULL;
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &rd, NULL, r->eng, NULL));
        const char *impl = NULL;
        if (l == 0 && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
            snprintf(r->impl, sizeof r->impl, "%s", impl);
        const size_t nwl = (size_t)D * I * G * H, nwi = (size_t)D * K * G * H, nb = (size_t)D * Gb * H;
        const size_t nwp = (size_t)D * H * P;
        float *wl = malloc(nwl * sizeof(float)), *wi = malloc(nwi * sizeof(float)), *b = malloc(nb * sizeof(float));
        float *wpj = P ? malloc(nwp * sizeof(float)) : NULL;
        int ok = wl && wi && b && (!P || wpj);
        for (int d = 0; ok && d < D; ++d) {
            const size_t w = (size_t)l * D + d;
            for (int i = 0; i < I; ++i)
                for (int gg = 0; gg < G; ++gg)
                    for (int h = 0; h < H; ++h)
                        wl[(((size_t)d * I + i) * G + gg) * H + h] = m->W[w][((size_t)map[gg] * H + h) * I + i];
            for (int k = 0; k < K; ++k)
                for (int gg = 0; gg < G; ++gg)
                    for (int h = 0; h < H; ++h)
                        wi[(((size_t)d * K + k) * G + gg) * H + h] = m->R[w][((size_t)map[gg] * H + h) * K + k];
            for (int k = 0; k < H && P; ++k) /* ldio: [d][H in][P out] from PyTorch's weight_hr [P, H] */
                for (int p = 0; p < P; ++p) wpj[((size_t)d * H + k) * P + p] = m->Pj[w][(size_t)p * H + k];
            for (int gg = 0; gg < Gb; ++gg)
                for (int h = 0; h < H; ++h) {
                    float v;
                    if (lbr && gg == 2) v = m->Wb[w][2 * H + h];      /* n gate: input bias only */
                    else if (lbr && gg == 3) v = m->Rb[w][2 * H + h]; /* n gate: recurrent bias, inside r*(...) */
                    else v = m->Wb[w][(size_t)map[gg] * H + h] + m->Rb[w][(size_t)map[gg] * H + h];
                    b[((size_t)d * Gb + gg) * H + h] = v;
                }
        }
        if (ok)
            ok = dnnl_reordered(r, &wl_user, wl, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS_LAYER),
                                &y->wl, err, err_cap) &&
                 dnnl_reordered(r, &wi_user, wi, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS_ITER),
                                &y->wi, err, err_cap) &&
                 dnnl_reordered(r, &b_user, b, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_BIAS),
                                &y->bias, err, err_cap) &&
                 (!P || dnnl_reordered(r, &wp_user, wpj,
                                       dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS_PROJECTION),
                                       &y->wp, err, err_cap));
        else
            snprintf(err, err_cap, "out of memory");
        free(wl), free(wi), free(b), free(wpj);
        if (ok && dnnl_memory_create(&y->dst, &dst_md, r->eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
            snprintf(err, err_cap, "dnnl_memory_create(dst) failed");
            ok = 0;
        }
        if (ok && dnnl_primitive_create(&y->prim, pd) != dnnl_success) {
            snprintf(err, err_cap, "dnnl_primitive_create failed");
            ok = 0;
        }
        if (ok && r->train) {
            /* the backward: diff tensors in the forward's plain formats, weights and their gradients
             * in whatever the backward prefers (hinted by the forward) */
            dnnl_rnn_desc_t bd;
            dnnl_status_t bs;
            switch (s->cell) {
            case BENCH_LSTM:
                bs = dnnl_lstm_backward_desc_init_v3(&bd, dnnl_backward, dir, &src_md, hs, cs, &wl_any, &wi_any, NULL, wp,
                                                     &b_any, &dst_md, hs, cs, &src_md, hs, cs, &wl_any, &wi_any, NULL,
                                                     wp, &b_any, &dst_md, hs, cs, 0);
                break;
            case BENCH_GRU:
                bs = dnnl_gru_backward_desc_init(&bd, dnnl_backward, dir, &src_md, hs, &wl_any, &wi_any, &b_any, &dst_md,
                                                 hs, &src_md, hs, &wl_any, &wi_any, &b_any, &dst_md, hs, 0);
                break;
            case BENCH_GRU_LBR:
                bs = dnnl_lbr_gru_backward_desc_init(&bd, dnnl_backward, dir, &src_md, hs, &wl_any, &wi_any, &b_any,
                                                     &dst_md, hs, &src_md, hs, &wl_any, &wi_any, &b_any, &dst_md, hs, 0);
                break;
            default:
                bs = dnnl_vanilla_rnn_backward_desc_init(&bd, dnnl_backward, act, dir, &src_md, hs, &wl_any, &wi_any,
                                                         &b_any, &dst_md, hs, &src_md, hs, &wl_any, &wi_any, &b_any,
                                                         &dst_md, hs, 0, 0.0f, 0.0f);
                break;
            }
            dnnl_primitive_desc_t bpd = NULL;
            if (bs == dnnl_success) bs = dnnl_primitive_desc_create(&bpd, &bd, NULL, r->eng, pd);
            if (bs != dnnl_success) {
                snprintf(err, err_cap, "the backward primitive descriptor (dnnl status %d)", (int)bs);
                ok = 0;
            }
            if (ok && l == 0 && dnnl_primitive_desc_query(bpd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
                snprintf(r->bwd_impl, sizeof r->bwd_impl, "%s", impl);
            const size_t hoff = (size_t)l * D * s->N * K, coff = (size_t)l * D * s->N * H;
            ok = ok && dnnl_arg_memory(r, pd, DNNL_ARG_WORKSPACE, 0, &y->ws, err, err_cap) &&
                 dnnl_arg_memory(r, pd, DNNL_ARG_SRC_ITER, 1, &y->src_iter, err, err_cap) &&
                 dnnl_arg_memory(r, pd, DNNL_ARG_DST_ITER, 0, &y->dst_iter, err, err_cap) &&
                 (!lstm || (dnnl_arg_memory(r, pd, DNNL_ARG_SRC_ITER_C, 1, &y->src_iter_c, err, err_cap) &&
                            dnnl_arg_memory(r, pd, DNNL_ARG_DST_ITER_C, 0, &y->dst_iter_c, err, err_cap))) &&
                 dnnl_backward_copy(r, bpd, DNNL_ARG_WEIGHTS_LAYER, y->wl, &y->bwl, &y->rwl, err, err_cap) &&
                 dnnl_backward_copy(r, bpd, DNNL_ARG_WEIGHTS_ITER, y->wi, &y->bwi, &y->rwi, err, err_cap) &&
                 dnnl_backward_copy(r, bpd, DNNL_ARG_WEIGHTS_PROJECTION, y->wp, &y->bwp, &y->rwp, err, err_cap) &&
                 dnnl_backward_copy(r, bpd, DNNL_ARG_BIAS, y->bias, &y->bbias, &y->rbias, err, err_cap) &&
                 dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_SRC_LAYER, 0, &y->dsrc, err, err_cap) &&
                 dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_SRC_ITER, 0, &y->dsrc_iter, err, err_cap) &&
                 (!lstm || dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_SRC_ITER_C, 0, &y->dsrc_iter_c, err, err_cap)) &&
                 dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_WEIGHTS_LAYER, 1, &y->dwl, err, err_cap) &&
                 dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_WEIGHTS_ITER, 1, &y->dwi, err, err_cap) &&
                 (!P || dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_WEIGHTS_PROJECTION, 1, &y->dwp, err, err_cap)) &&
                 dnnl_arg_memory(r, bpd, DNNL_ARG_DIFF_BIAS, 1, &y->dbias, err, err_cap);
            /* dhn / dcn of this layer: the user's arrays, [1, D, N, K] / [1, D, N, H] slices */
            if (ok && (dnnl_memory_create(&y->ddst_iter, &h_md, r->eng, g->dhn + hoff) != dnnl_success ||
                       (lstm && dnnl_memory_create(&y->ddst_iter_c, &c_md, r->eng, g->dcn + coff) != dnnl_success))) {
                snprintf(err, err_cap, "dnnl_memory_create(diff_dst_iter) failed");
                ok = 0;
            }
            if (ok && l == s->L - 1 && dnnl_memory_create(&r->ddst, &dst_md, r->eng, g->dy) != dnnl_success) {
                snprintf(err, err_cap, "dnnl_memory_create(diff_dst_layer) failed");
                ok = 0;
            }
            if (ok && dnnl_primitive_create(&y->bwd, bpd) != dnnl_success) {
                snprintf(err, err_cap, "dnnl_primitive_create(backward) failed");
                ok = 0;
            }
            if (bpd) dnnl_primitive_desc_destroy(bpd);
        }
        dnnl_primitive_desc_destroy(pd);
        if (!ok) return 0;
    }
    return 1;
}

/* An execute argument list; NULL memories (arguments this shape has not) are left out. */
typedef struct dnnl_args {
    dnnl_exec_arg_t a[24];
    int n;
} dnnl_args;
static void arg_add(dnnl_args *v, int key, dnnl_memory_t mem) {
    if (mem && v->n < 24) v->a[v->n].arg = key, v->a[v->n].memory = mem, ++v->n;
}
/* The arguments the forward and the backward share: the forward's inputs, outputs and workspace
 * (the backward reads them all), with the weights the primitive wants. */
static void forward_args(const dnnl_runner *r, int l, int for_backward, dnnl_args *v) {
    const dnnl_layer *y = &r->layer[l];
    v->n = 0;
    arg_add(v, DNNL_ARG_SRC_LAYER, l == 0 ? r->src : r->layer[l - 1].dst);
    arg_add(v, DNNL_ARG_SRC_ITER, y->src_iter);
    arg_add(v, DNNL_ARG_SRC_ITER_C, y->src_iter_c);
    arg_add(v, DNNL_ARG_WEIGHTS_LAYER, for_backward && y->bwl ? y->bwl : y->wl);
    arg_add(v, DNNL_ARG_WEIGHTS_ITER, for_backward && y->bwi ? y->bwi : y->wi);
    arg_add(v, DNNL_ARG_WEIGHTS_PROJECTION, for_backward && y->bwp ? y->bwp : y->wp);
    arg_add(v, DNNL_ARG_BIAS, for_backward && y->bbias ? y->bbias : y->bias);
    arg_add(v, DNNL_ARG_DST_LAYER, y->dst);
    arg_add(v, DNNL_ARG_DST_ITER, y->dst_iter);
    arg_add(v, DNNL_ARG_DST_ITER_C, y->dst_iter_c);
    arg_add(v, DNNL_ARG_WORKSPACE, y->ws);
}

static int run_dnnl(void *arg) {
    dnnl_runner *r = arg;
    for (int l = 0; l < r->L; ++l) {
        dnnl_args v;
        forward_args(r, l, 0, &v);
        if (dnnl_primitive_execute(r->layer[l].prim, r->stream, v.n, v.a) != dnnl_success) return 0;
    }
    return dnnl_stream_wait(r->stream) == dnnl_success;
}

static void zero_memory(dnnl_memory_t mem) {
    void *h = NULL;
    const dnnl_memory_desc_t *md = NULL;
    if (mem && dnnl_memory_get_data_handle(mem, &h) == dnnl_success && h &&
        dnnl_memory_get_memory_desc(mem, &md) == dnnl_success)
        memset(h, 0, dnnl_memory_desc_get_size(md));
}

static int reorder(dnnl_runner *r, dnnl_primitive_t rp, dnnl_memory_t from, dnnl_memory_t to) {
    if (!rp) return 1;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(rp, r->stream, 2, a) == dnnl_success;
}

/* One training step: forward_training over the layers, then the gradients zeroed (oneDNN's
 * backward accumulates into diff_weights / diff_bias; a step SETs them as clrnn's does), the
 * weights brought to the backward's formats, and the backward from the last layer down, each
 * layer's diff_src_layer being the diff_dst_layer of the one below. */
static int run_dnnl_train(void *arg) {
    dnnl_runner *r = arg;
    const double t0 = bench_now_ms();
    if (!run_dnnl(r)) return 0;
    const double t1 = bench_now_ms();
    for (int l = 0; l < r->L; ++l) {
        dnnl_layer *y = &r->layer[l];
        zero_memory(y->dwl), zero_memory(y->dwi), zero_memory(y->dwp), zero_memory(y->dbias);
        if (!reorder(r, y->rwl, y->wl, y->bwl) || !reorder(r, y->rwi, y->wi, y->bwi) ||
            !reorder(r, y->rwp, y->wp, y->bwp) || !reorder(r, y->rbias, y->bias, y->bbias))
            return 0;
    }
    if (dnnl_stream_wait(r->stream) != dnnl_success) return 0;
    const double t2 = bench_now_ms();
    for (int l = r->L - 1; l >= 0; --l) {
        dnnl_layer *y = &r->layer[l];
        dnnl_args v;
        forward_args(r, l, 1, &v);
        arg_add(&v, DNNL_ARG_DIFF_SRC_LAYER, y->dsrc);
        arg_add(&v, DNNL_ARG_DIFF_SRC_ITER, y->dsrc_iter);
        arg_add(&v, DNNL_ARG_DIFF_SRC_ITER_C, y->dsrc_iter_c);
        arg_add(&v, DNNL_ARG_DIFF_WEIGHTS_LAYER, y->dwl);
        arg_add(&v, DNNL_ARG_DIFF_WEIGHTS_ITER, y->dwi);
        arg_add(&v, DNNL_ARG_DIFF_WEIGHTS_PROJECTION, y->dwp);
        arg_add(&v, DNNL_ARG_DIFF_BIAS, y->dbias);
        arg_add(&v, DNNL_ARG_DIFF_DST_LAYER, l == r->L - 1 ? r->ddst : r->layer[l + 1].dsrc);
        arg_add(&v, DNNL_ARG_DIFF_DST_ITER, y->ddst_iter);
        arg_add(&v, DNNL_ARG_DIFF_DST_ITER_C, y->ddst_iter_c);
        if (dnnl_primitive_execute(y->bwd, r->stream, v.n, v.a) != dnnl_success) return 0;
    }
    if (dnnl_stream_wait(r->stream) != dnnl_success) return 0;
    const double t3 = bench_now_ms();
    r->phase[0] = t1 - t0, r->phase[1] = t3 - t1, r->phase[2] = t2 - t1;
    return 1;
}

static const float *dnnl_host(dnnl_memory_t mem) {
    void *h = NULL;
    if (!mem || dnnl_memory_get_data_handle(mem, &h) != dnnl_success) return NULL;
    return h;
}
static const float *dnnl_output(dnnl_runner *r) { return dnnl_host(r->layer[r->L - 1].dst); }
#endif

static int dnnl_available(void) {
#ifdef CLRNN_HAVE_DNNL
    return 1;
#else
    return 0;
#endif
}

static void setup_dnnl_threads(void) {
    long n = opt.threads;
#ifdef CLRNN_HAVE_OPENMP
    /* OMP_NUM_THREADS is read by libgomp when it loads; --threads wins, then OMP_NUM_THREADS,
     * then one thread per online CPU */
    const char *env = getenv("OMP_NUM_THREADS");
    if (n <= 0 && env && *env) n = omp_get_max_threads();
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    omp_set_num_threads((int)n);
    g_dnnl_threads = omp_get_max_threads();
#else
    (void)n;
    g_dnnl_threads = 0; /* oneDNN's own default; unknown here */
#endif
}

/* ------------------------------------------------------------------------------------------
 * One shape: clrnn, then oneDNN, then the output comparison
 * ---------------------------------------------------------------------------------------- */
static void gemm_trace_print(void *user, int ta, int tb, size_t m, size_t n, size_t k, size_t count) {
    (void)user;
    fprintf(stderr, "    GEMM %s%s M=%zu N=%zu K=%zu%s (%.1f MFLOP)\n", ta ? "T" : "N", tb ? "T" : "N", m, n, k,
            count > 1 ? " batched" : "", 2.0 * m * n * k * (double)count / 1e6);
}

/* Whether oneDNN runs next to clrnn on this shape; when not, res->dnnl_state and dnnl_note say why
 * (not built in, or per-row lengths, which oneDNN cannot express). */
static int dnnl_wanted(const bench_shape *shape, int with_dnnl, result *res) {
    res->dnnl_state = 0;
    if (!with_dnnl) return 0;
    if (!dnnl_available()) {
        snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN not built in");
        return 0;
    }
    if (shape->min_len > 0 && shape->min_len < shape->T) {
        res->dnnl_state = -1;
        snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN has no per-row lengths");
        return 0;
    }
    return 1;
}

static int bench_one(const bench_shape *shape, const char *name, int with_dnnl, result *res) {
    memset(res, 0, sizeof *res);
    res->shape = *shape;
    res->name = name;
    res->max_abs_diff = NAN;
    bench_model m;
    if (!bench_model_init(&m, shape, 0x1234567ULL)) {
        bench_model_free(&m);
        fprintf(stderr, "clrnn-bench: out of host memory\n");
        return 0;
    }
    res->flops = bench_flops(shape, m.lens);
    char label[128];
    bench_shape_label(shape, label, sizeof label);
    if (opt.verbose) fprintf(stderr, "%s%s%s\n", name ? name : "", name ? ": " : "", label);

    bench_clrnn b;
    clrnn_status st = bench_clrnn_init(&b, g_ctx, &m);
    if (st != CLRNN_OK) {
        fprintf(stderr, "clrnn-bench: %s: %s\n", label, b.error);
        bench_clrnn_free(&b);
        bench_model_free(&m);
        return 0;
    }
    if (opt.verbose) {
        clrnn_gemm_set_trace(gemm_trace_print, NULL, 0);
        fprintf(stderr, "  clrnn first forward (GEMMs it issues through CLBlast, if any, listed):\n");
        const double t0 = bench_now_ms();
        st = bench_clrnn_run(&b);
        clrnn_gemm_set_trace(NULL, NULL, 0);
        fprintf(stderr, "    first forward %.1f ms, workspace %.1f MiB\n", bench_now_ms() - t0,
                clrnn_rnn_workspace_bytes(b.rnn) / 1048576.0);
    }
    int ok = 1;
    if (!opt.dnnl_only) {
        res->clrnn = measure(run_clrnn, &b, opt.repeat, NULL, 0);
        ok = res->clrnn.ok;
        if (opt.verbose) { /* after the runs: the scan choice is measured on the 2nd and 3rd call */
            char plan[1024];
            fprintf(stderr, "  clrnn plan: %s\n", clrnn_rnn_plan(b.rnn, plan, sizeof plan));
        }
    } else {
        ok = bench_clrnn_run(&b) == CLRNN_OK; /* one run, for the output comparison */
    }

    const int use_dnnl = dnnl_wanted(shape, with_dnnl, res);
    (void)use_dnnl; /* without oneDNN built in, nothing reads it */
#ifdef CLRNN_HAVE_DNNL
    if (use_dnnl) {
        dnnl_runner r;
        char err[256] = "";
        if (!dnnl_init(&r, &m, NULL, err, sizeof err)) {
            res->dnnl_state = -2;
            snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN set-up failed: %.120s", err);
        } else {
            if (opt.verbose) fprintf(stderr, "  oneDNN: %s, %d thread(s)\n", r.impl, g_dnnl_threads);
            res->dnnl = measure(run_dnnl, &r, opt.repeat, NULL, 0);
            res->dnnl_state = res->dnnl.ok ? 1 : -2;
            if (!res->dnnl.ok) snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN execution failed");
            /* same network, same input: the outputs must agree */
            const size_t count = (size_t)shape->T * shape->N * m.D * (shape->P ? shape->P : shape->H);
            float *y = malloc(count * sizeof(float));
            const float *yd = res->dnnl.ok && ok ? dnnl_output(&r) : NULL;
            if (y && yd && bench_clrnn_read_y(&b, y, count) == CLRNN_OK) {
                double worst = 0;
                for (size_t i = 0; i < count; ++i) {
                    const double d = fabs((double)y[i] - (double)yd[i]);
                    if (!(d <= worst)) worst = d;
                }
                res->max_abs_diff = worst;
            }
            free(y);
        }
        dnnl_free(&r);
    }
#endif
    bench_clrnn_free(&b);
    bench_model_free(&m);
    return ok;
}

/* ------------------------------------------------------------------------------------------
 * --train: one training step, clrnn then oneDNN, then the gradients compared
 * ---------------------------------------------------------------------------------------- */
static void train_grads_free(train_grads *g) {
    free(g->dy), free(g->dhn), free(g->dcn);
    memset(g, 0, sizeof *g);
}

/* Random dy, dhn, dcn in [-1, 1] (fixed seed): every output of the forward carries a gradient. */
static int train_grads_init(train_grads *g, const bench_model *m) {
    const bench_shape *s = &m->shape;
    const size_t K = (size_t)(s->P ? s->P : s->H), LDN = (size_t)s->L * m->D * s->N;
    uint64_t seed = 0xD1B54A32D192ED03ULL;
    memset(g, 0, sizeof *g);
    g->dy = bench_random_array((size_t)s->T * s->N * m->D * K, &seed, -1.0f, 1.0f);
    g->dhn = bench_random_array(LDN * K, &seed, -1.0f, 1.0f);
    g->dcn = s->cell == BENCH_LSTM ? bench_random_array(LDN * s->H, &seed, -1.0f, 1.0f) : NULL;
    return g->dy && g->dhn && (s->cell != BENCH_LSTM || g->dcn);
}

/* clrnn's side: the forward's rnn and buffers plus a reserve, hn/cn outputs, the incoming
 * gradients dy, dhn, dcn and the outputs dx, dh0, dc0, all device buffers. */
typedef struct clrnn_trainer {
    bench_clrnn b;
    clrnn_reserve *res;
    cl_mem hn, cn, dy, dhn, dcn, dx, dh0, dc0;
    clrnn_backward_args bargs;
    double phase[MAX_PHASES]; /* the last step: forward_train, backward_data, backward_weights */
    char error[512];
} clrnn_trainer;

static cl_mem device_buffer(clrnn_trainer *t, const char *what, size_t floats, const float *init) {
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(clrnn_context_cl_context(t->b.ctx), CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0),
                                floats * sizeof(float), (void *)init, &err);
    if (err != CL_SUCCESS) {
        snprintf(t->error, sizeof t->error, "cannot allocate the device buffer %s (%zu bytes): OpenCL error %d", what,
                 floats * sizeof(float), (int)err);
        return NULL;
    }
    return mem;
}

static void clrnn_trainer_free(clrnn_trainer *t) {
    cl_mem *mems[] = {&t->hn, &t->cn, &t->dy, &t->dhn, &t->dcn, &t->dx, &t->dh0, &t->dc0};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; ++i)
        if (*mems[i]) clReleaseMemObject(*mems[i]);
    clrnn_reserve_destroy(t->res);
    bench_clrnn_free(&t->b);
    memset(t, 0, sizeof *t);
}

static int clrnn_trainer_init(clrnn_trainer *t, const bench_model *m, const train_grads *g) {
    memset(t, 0, sizeof *t);
    if (bench_clrnn_init(&t->b, g_ctx, m) != CLRNN_OK) {
        snprintf(t->error, sizeof t->error, "%s", t->b.error);
        return 0;
    }
    const bench_shape *s = &m->shape;
    const int lstm = s->cell == BENCH_LSTM;
    const size_t K = (size_t)(s->P ? s->P : s->H), LDN = (size_t)s->L * m->D * s->N;
    const size_t ny = (size_t)s->T * s->N * m->D * K, nx = (size_t)s->T * s->N * s->I;
    if (clrnn_reserve_create(t->b.rnn, &t->res) != CLRNN_OK) {
        snprintf(t->error, sizeof t->error, "clrnn_reserve_create: %s", clrnn_last_error());
        return 0;
    }
    if (!(t->hn = device_buffer(t, "hn", LDN * K, NULL)) || (lstm && !(t->cn = device_buffer(t, "cn", LDN * s->H, NULL))) ||
        !(t->dy = device_buffer(t, "dy", ny, g->dy)) || !(t->dhn = device_buffer(t, "dhn", LDN * K, g->dhn)) ||
        (lstm && !(t->dcn = device_buffer(t, "dcn", LDN * s->H, g->dcn))) || !(t->dx = device_buffer(t, "dx", nx, NULL)) ||
        !(t->dh0 = device_buffer(t, "dh0", LDN * K, NULL)) || (lstm && !(t->dc0 = device_buffer(t, "dc0", LDN * s->H, NULL))))
        return 0;
    /* hn / cn too: oneDNN's forward_training writes dst_iter(_c), whose gradients dhn / dcn enter */
    t->b.args.hn.mem = t->hn;
    t->b.args.cn.mem = t->cn;
    t->bargs.dy.mem = t->dy, t->bargs.dhn.mem = t->dhn, t->bargs.dcn.mem = t->dcn;
    t->bargs.dx.mem = t->dx, t->bargs.dh0.mem = t->dh0, t->bargs.dc0.mem = t->dc0;
    return 1;
}

/* One step; each part waits for the device (clFinish) so that the breakdown is the parts' own time. */
static int run_clrnn_train(void *arg) {
    clrnn_trainer *t = arg;
    cl_command_queue q = clrnn_context_cl_queue(t->b.ctx);
    const char *what = "forward_train";
    const double t0 = bench_now_ms();
    clrnn_status st = clrnn_rnn_forward_train(t->b.rnn, &t->b.args, t->res);
    if (st == CLRNN_OK && clFinish(q) != CL_SUCCESS) st = CLRNN_ERR_OPENCL;
    const double t1 = bench_now_ms();
    if (st == CLRNN_OK) {
        what = "backward_data";
        st = clrnn_rnn_backward_data(t->b.rnn, t->res, &t->bargs);
        if (st == CLRNN_OK && clFinish(q) != CL_SUCCESS) st = CLRNN_ERR_OPENCL;
    }
    const double t2 = bench_now_ms();
    if (st == CLRNN_OK) {
        what = "backward_weights";
        st = clrnn_rnn_backward_weights(t->b.rnn, t->res, CLRNN_WGRAD_SET);
        if (st == CLRNN_OK && clFinish(q) != CL_SUCCESS) st = CLRNN_ERR_OPENCL;
    }
    const double t3 = bench_now_ms();
    if (st != CLRNN_OK) {
        fprintf(stderr, "clrnn-bench: %s failed: %s\n", what, clrnn_last_error());
        return 0;
    }
    t->phase[0] = t1 - t0, t->phase[1] = t2 - t1, t->phase[2] = t3 - t2;
    return 1;
}

#ifdef CLRNN_HAVE_DNNL
/* max |a - b| / (1 + |b|) over n values, into *worst (NaN anywhere makes it NaN). */
static void err_update(double *worst, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (isnan(e) || isnan(*worst)) *worst = NAN;
        else if (e > *worst) *worst = e;
    }
}

static int read_device(clrnn_trainer *t, cl_mem mem, float *out, size_t n) {
    return clEnqueueReadBuffer(clrnn_context_cl_queue(t->b.ctx), mem, CL_TRUE, 0, n * sizeof(float), out, 0, NULL,
                               NULL) == CL_SUCCESS;
}

/* clrnn's dx, dh0, dc0 against oneDNN's diff_src_layer / diff_src_iter(_c) of the same step. */
static double compare_data_grads(clrnn_trainer *t, dnnl_runner *r, const bench_model *m) {
    const bench_shape *s = &m->shape;
    const size_t K = (size_t)(s->P ? s->P : s->H), DN = (size_t)m->D * s->N;
    const size_t nx = (size_t)s->T * s->N * s->I, nh = (size_t)s->L * DN * K, nc = (size_t)s->L * DN * s->H;
    float *buf = malloc((nx > nh ? (nx > nc ? nx : nc) : (nh > nc ? nh : nc)) * sizeof(float));
    double worst = 0;
    const float *o = dnnl_host(r->layer[0].dsrc);
    if (!buf || !o || !read_device(t, t->dx, buf, nx)) worst = NAN;
    else err_update(&worst, buf, o, nx);
    if (!isnan(worst) && !read_device(t, t->dh0, buf, nh)) worst = NAN;
    for (int l = 0; l < s->L && !isnan(worst); ++l) {
        o = dnnl_host(r->layer[l].dsrc_iter);
        if (o) err_update(&worst, buf + (size_t)l * DN * K, o, DN * K);
        else worst = NAN;
    }
    if (s->cell == BENCH_LSTM) {
        if (!isnan(worst) && !read_device(t, t->dc0, buf, nc)) worst = NAN;
        for (int l = 0; l < s->L && !isnan(worst); ++l) {
            o = dnnl_host(r->layer[l].dsrc_iter_c);
            if (o) err_update(&worst, buf + (size_t)l * DN * s->H, o, DN * s->H);
            else worst = NAN;
        }
    }
    free(buf);
    return worst;
}

/* clrnn_rnn_get_grad (ONNX layout; the projection in PyTorch's) of every layer and direction against
 * oneDNN's diff_weights_layer / iter / projection and diff_bias, brought to plain formats. oneDNN has
 * one bias: its gradient is dWb = dRb, except lbr GRU's n gate, whose Wb and Rb parts are separate. */
static double compare_weight_grads(dnnl_runner *r, const bench_model *m, clrnn_rnn *rnn) {
    const bench_shape *s = &m->shape;
    const int D = m->D, G = m->G, H = s->H, P = s->P, K = P ? P : H, lbr = s->cell == BENCH_GRU_LBR, Gb = G + lbr;
    static const int lstm_map[4] = {0, 2, 3, 1}, same_map[4] = {0, 1, 2, 3};
    const int *map = s->cell == BENCH_LSTM ? lstm_map : same_map;
    double worst = 0;
    char err[256] = "";
    const size_t err_cap = sizeof err;
    for (int l = 0; l < s->L && !isnan(worst); ++l) {
        const dnnl_layer *y = &r->layer[l];
        const int I = bench_layer_input(s, l);
        const size_t nwl = (size_t)D * I * G * H, nwi = (size_t)D * K * G * H, nb = (size_t)D * Gb * H, nwp = (size_t)D * H * P;
        const size_t most = nwl > nwi ? nwl : nwi;
        float *o = malloc((most + nb + nwp + 1) * sizeof(float)), *c = malloc((most / D + 2 * (size_t)G * H + 1) * sizeof(float));
        if (!o || !c) {
            free(o), free(c);
            fprintf(stderr, "clrnn-bench: weight gradients not compared: out of memory\n");
            return NAN;
        }
        float *ob = o + most, *op = ob + nb, *oc = o, *cb = c + most / D;
        dnnl_memory_desc_t wl_user, wi_user, b_user, wp_user;
        dnnl_dims_t wl_dims = {1, D, I, G, H}, wi_dims = {1, D, K, G, H}, b_dims = {1, D, Gb, H}, wp_dims = {1, D, H, P};
        int ok = dnnl_memory_desc_init_by_tag(&wl_user, 5, wl_dims, dnnl_f32, dnnl_ldigo) == dnnl_success &&
                 dnnl_memory_desc_init_by_tag(&wi_user, 5, wi_dims, dnnl_f32, dnnl_ldigo) == dnnl_success &&
                 dnnl_memory_desc_init_by_tag(&b_user, 4, b_dims, dnnl_f32, dnnl_ldgo) == dnnl_success &&
                 (!P || dnnl_memory_desc_init_by_tag(&wp_user, 4, wp_dims, dnnl_f32, dnnl_ldio) == dnnl_success) &&
                 dnnl_to_user(r, y->dbias, &b_user, ob, err, err_cap) &&
                 (!P || dnnl_to_user(r, y->dwp, &wp_user, op, err, err_cap));
        for (int pass = 0; ok && pass < 2; ++pass) { /* W then R: [d][in][g][h] vs ONNX [g*H + h][in] */
            const int in = pass ? K : I;
            ok = dnnl_to_user(r, pass ? y->dwi : y->dwl, pass ? &wi_user : &wl_user, oc, err, err_cap);
            for (int d = 0; ok && d < D; ++d) {
                const size_t n = (size_t)G * H * in;
                ok = clrnn_rnn_get_grad(rnn, CLRNN_FRAMEWORK_ONNX, l, d, pass ? CLRNN_PARAM_R : CLRNN_PARAM_W, c, n) == CLRNN_OK;
                for (int i = 0; ok && i < in; ++i)
                    for (int g = 0; g < G; ++g)
                        for (int h = 0; h < H; ++h) {
                            const float a = c[((size_t)map[g] * H + h) * in + i];
                            const float b = oc[(((size_t)d * in + i) * G + g) * H + h];
                            err_update(&worst, &a, &b, 1);
                        }
            }
        }
        for (int d = 0; ok && d < D; ++d) {
            ok = clrnn_rnn_get_grad(rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_BW, cb, (size_t)G * H) == CLRNN_OK &&
                 clrnn_rnn_get_grad(rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_BR, cb + (size_t)G * H, (size_t)G * H) ==
                     CLRNN_OK;
            for (int g = 0; ok && g < G; ++g)
                for (int h = 0; h < H; ++h) {
                    const float *ogate = ob + ((size_t)d * Gb + g) * H;
                    const float *orb = lbr && g == 2 ? ob + ((size_t)d * Gb + 3) * H : ogate;
                    err_update(&worst, &cb[(size_t)map[g] * H + h], &ogate[h], 1);
                    err_update(&worst, &cb[(size_t)G * H + (size_t)map[g] * H + h], &orb[h], 1);
                }
            if (ok && P) { /* ldio [d][H][P] vs PyTorch weight_hr [P, H] */
                ok = clrnn_rnn_get_grad(rnn, CLRNN_FRAMEWORK_PYTORCH, l, d, CLRNN_PARAM_PROJ, c, (size_t)P * H) == CLRNN_OK;
                for (int k = 0; ok && k < H; ++k)
                    for (int p = 0; p < P; ++p) err_update(&worst, &c[(size_t)p * H + k], &op[((size_t)d * H + k) * P + p], 1);
            }
        }
        if (!ok) {
            fprintf(stderr, "clrnn-bench: weight gradients not compared: %s\n", err[0] ? err : clrnn_last_error());
            worst = NAN;
        }
        free(o), free(c);
    }
    return worst;
}
#endif

static int bench_train_one(const bench_shape *shape, const char *name, int with_dnnl, result *res) {
    memset(res, 0, sizeof *res);
    res->shape = *shape;
    res->name = name;
    res->train = 1;
    res->max_abs_diff = res->err_dx = res->err_dw = NAN;
    bench_model m;
    train_grads g;
    memset(&g, 0, sizeof g);
    if (!bench_model_init(&m, shape, 0x1234567ULL) || !train_grads_init(&g, &m)) {
        train_grads_free(&g);
        bench_model_free(&m);
        fprintf(stderr, "clrnn-bench: out of host memory\n");
        return 0;
    }
    res->flops = 3.0 * bench_flops(shape, m.lens); /* forward + backward data + backward weights */
    char label[128];
    bench_shape_label(shape, label, sizeof label);
    if (opt.verbose) fprintf(stderr, "%s%s%s (training step)\n", name ? name : "", name ? ": " : "", label);

    clrnn_trainer t;
    if (!clrnn_trainer_init(&t, &m, &g)) {
        fprintf(stderr, "clrnn-bench: %s: %s\n", label, t.error);
        clrnn_trainer_free(&t);
        train_grads_free(&g);
        bench_model_free(&m);
        return 0;
    }
    int ok = 1;
    if (!opt.dnnl_only) {
        res->clrnn = measure(run_clrnn_train, &t, opt.repeat, t.phase, 3);
        ok = res->clrnn.ok;
        if (opt.verbose) {
            char plan[1024];
            fprintf(stderr, "  clrnn plan: %s\n", clrnn_rnn_plan(t.b.rnn, plan, sizeof plan));
        }
    } else {
        ok = run_clrnn_train(&t); /* one step, for the comparison */
    }

    const int use_dnnl = dnnl_wanted(shape, with_dnnl, res);
    (void)use_dnnl; /* without oneDNN built in, nothing reads it */
#ifdef CLRNN_HAVE_DNNL
    if (use_dnnl) {
        dnnl_runner r;
        char err[256] = "";
        if (!dnnl_init(&r, &m, &g, err, sizeof err)) {
            res->dnnl_state = -2;
            snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN set-up failed: %.120s", err);
        } else {
            if (opt.verbose)
                fprintf(stderr, "  oneDNN: forward %s, backward %s, %d thread(s); weights reordered for the backward: %s\n",
                        r.impl, r.bwd_impl, g_dnnl_threads, r.layer[0].rwl || r.layer[0].rwi ? "yes" : "no");
            res->dnnl = measure(run_dnnl_train, &r, opt.repeat, r.phase, 3);
            res->dnnl_state = res->dnnl.ok ? 1 : -2;
            if (!res->dnnl.ok) snprintf(res->dnnl_note, sizeof res->dnnl_note, "oneDNN execution failed");
            /* the same step on the same numbers: the gradients must agree */
            if (res->dnnl.ok && ok) {
                res->err_dx = compare_data_grads(&t, &r, &m);
                res->err_dw = compare_weight_grads(&r, &m, t.b.rnn);
            }
        }
        dnnl_free(&r);
    }
#endif
    clrnn_trainer_free(&t);
    train_grads_free(&g);
    bench_model_free(&m);
    return ok;
}

/* ------------------------------------------------------------------------------------------
 * --profile: where a forward (or a training step) spends its time, from the trace
 * ---------------------------------------------------------------------------------------- */
#define PROFILE_ROWS 96
typedef struct profile_row {
    char key[160]; /* kernel, or "phase kernel" for a training step */
    long calls;
    double device_ms;
} profile_row;
typedef struct profile_table {
    int recording, train;
    int n, overflow;
    long launches, untimed;
    profile_row rows[PROFILE_ROWS];
} profile_table;

static profile_table g_profile;
static clrnn_context *g_trace_ctx; /* the context that traces into g_profile */

/* The sink: called with the trace's lock held, one record at a time. */
static void profile_sink(void *user, const clrnn_trace_record *rec) {
    profile_table *p = user;
    if (!p->recording || rec->kind != CLRNN_TRACE_EXEC) return;
    char key[160];
    if (p->train) {
        /* the scope starts with the phase: "fwd_train l0 ...", "bwd_data l1 ...", "bwd_weights dense ..." */
        const size_t n = strcspn(rec->shape, " ");
        snprintf(key, sizeof key, "%.*s %s", (int)n, rec->shape, rec->name);
    } else
        snprintf(key, sizeof key, "%s", rec->name);
    p->launches++;
    if (rec->device_ms < 0) p->untimed++;
    int i = 0;
    while (i < p->n && strcmp(p->rows[i].key, key) != 0) ++i;
    if (i == p->n) {
        if (p->n == PROFILE_ROWS) {
            p->overflow++;
            return;
        }
        snprintf(p->rows[p->n++].key, sizeof p->rows[0].key, "%s", key);
    }
    p->rows[i].calls++;
    if (rec->device_ms > 0) p->rows[i].device_ms += rec->device_ms;
}

static int cmp_row(const void *a, const void *b) {
    const double x = ((const profile_row *)a)->device_ms, y = ((const profile_row *)b)->device_ms;
    return x > y ? -1 : x < y;
}

static void print_profile(const char *label, int runs, double traced_ms, double plain_ms) {
    profile_table *p = &g_profile;
    qsort(p->rows, (size_t)p->n, sizeof p->rows[0], cmp_row);
    double total = 0;
    for (int i = 0; i < p->n; ++i) total += p->rows[i].device_ms;
    printf("\n%s: %s per call, %d traced calls\n", label, p->train ? "training step" : "forward", runs);
    printf("%-44s %10s %12s %7s %11s\n", p->train ? "phase kernel" : "kernel", "calls", "device ms", "%", "mean us");
    const int no_times = p->launches > 0 && p->untimed == p->launches; /* "-", not 0 ms */
    for (int i = 0; i < p->n; ++i) {
        const profile_row *r = &p->rows[i];
        if (no_times)
            printf("%-44s %10.1f %12s %7s %11s\n", r->key, (double)r->calls / runs, "-", "-", "-");
        else
            printf("%-44s %10.1f %12.3f %6.1f%% %11.2f\n", r->key, (double)r->calls / runs, r->device_ms / runs,
                   total > 0 ? 100.0 * r->device_ms / total : 0.0,
                   r->calls ? 1000.0 * r->device_ms / (double)r->calls : 0.0);
    }
    if (no_times)
        printf("%-44s %10.1f %12s %7s\n", "all kernels", (double)p->launches / runs, "-", "-");
    else
        printf("%-44s %10.1f %12.3f %6.1f%%\n", "all kernels", (double)p->launches / runs, total / runs, 100.0);
    if (no_times && plain_ms > 0)
        printf("untraced call: %.3f ms median; traced call %.3f ms median\n", plain_ms, traced_ms);
    else if (plain_ms > 0)
        printf("untraced call: %.3f ms median, of which the kernels' device time is %.1f%% (the rest: launch "
               "overhead, gaps, host work); traced call %.3f ms median\n",
               plain_ms, 100.0 * (total / runs) / plain_ms, traced_ms);
    if (no_times)
        printf("note: no device timestamps: none of the %ld launches had a device time (the queue cannot profile, or "
               "the device has no profiling timer, as Rusticl 22.3's llvmpipe)\n",
               p->untimed);
    else if (p->untimed)
        printf("note: %ld launches had no device time (the queue cannot profile)\n", p->untimed);
    if (p->overflow) printf("note: %d launches of kernels beyond the table's %d rows are left out\n", p->overflow, PROFILE_ROWS);
}

/* The untraced median (main context), then `runs` traced calls on the tracing context after
 * untraced warm-ups; prints the table. */
static int profile_one(const bench_shape *shape, const char *name) {
    char label[160], shape_label[128];
    bench_shape_label(shape, shape_label, sizeof shape_label);
    snprintf(label, sizeof label, "%s%s%s", name ? name : "", name ? " " : "", shape_label);
    result plain;
    if (!(opt.train ? bench_train_one : bench_one)(shape, name, 0, &plain)) return 0;
    bench_model m;
    train_grads g;
    memset(&g, 0, sizeof g);
    if (!bench_model_init(&m, shape, 0x1234567ULL) || (opt.train && !train_grads_init(&g, &m))) {
        train_grads_free(&g);
        bench_model_free(&m);
        fprintf(stderr, "clrnn-bench: out of host memory\n");
        return 0;
    }
    clrnn_context *main_ctx = g_ctx;
    g_ctx = g_trace_ctx; /* clrnn_trainer_init takes g_ctx */
    clrnn_trainer t;
    bench_clrnn b;
    memset(&t, 0, sizeof t);
    memset(&b, 0, sizeof b);
    int ok;
    const char *error;
    if (opt.train) {
        ok = clrnn_trainer_init(&t, &m, &g);
        error = t.error;
    } else {
        ok = bench_clrnn_init(&b, g_ctx, &m) == CLRNN_OK;
        error = b.error;
    }
    if (!ok) fprintf(stderr, "clrnn-bench: %s: %s\n", label, error);
    int (*fn)(void *) = opt.train ? run_clrnn_train : run_clrnn;
    void *arg = opt.train ? (void *)&t : (void *)&b;
    const int runs = opt.repeat > 0 ? opt.repeat : 10;
    double traced_ms = 0;
    clrnn_trace_pause(g_ctx, 1);
    for (int w = 0; w < 3 && ok; ++w) ok = fn(arg);
    clrnn_trace_pause(g_ctx, 0);
    memset(&g_profile, 0, sizeof g_profile);
    g_profile.train = opt.train;
    g_profile.recording = 1;
    double *times = malloc((size_t)runs * sizeof(double));
    for (int i = 0; i < runs && ok && times; ++i) {
        const double t0 = bench_now_ms();
        ok = fn(arg);
        times[i] = bench_now_ms() - t0;
    }
    g_profile.recording = 0;
    if (ok && times) traced_ms = median_of(times, runs);
    free(times);
    if (ok) print_profile(label, runs, traced_ms, plain.clrnn.median_ms);
    if (opt.train)
        clrnn_trainer_free(&t);
    else
        bench_clrnn_free(&b);
    g_ctx = main_ctx;
    train_grads_free(&g);
    bench_model_free(&m);
    return ok;
}

/* ------------------------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------------------------- */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static double gflops(double flops, double ms) { return ms > 0 ? flops / ms / 1e6 : 0; }

static void json_num(FILE *f, const char *key, double v, int last) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
    else fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
}

static void json_result(FILE *f, const result *r) {
    const bench_shape *s = &r->shape;
    fputc('{', f);
    if (r->name) {
        fprintf(f, "\"scenario\": ");
        json_str(f, r->name);
        fprintf(f, ", ");
    }
    fprintf(f, "\"cell\": \"%s\", \"seq\": %d, \"batch\": %d, \"input\": %d, \"hidden\": %d, \"layers\": %d, "
               "\"bidirectional\": %s, \"min_len\": %d, \"proj\": %d, \"flops\": %.0f, \"repeat\": %d, ",
            bench_cell_name(s->cell), s->T, s->N, s->I, s->H, s->L, s->bidir ? "true" : "false", s->min_len, s->P,
            r->flops, r->clrnn.repeat);
    json_num(f, "median_ms", r->clrnn.median_ms, 0);
    json_num(f, "min_ms", r->clrnn.min_ms, 0);
    json_num(f, "max_ms", r->clrnn.max_ms, 0);
    json_num(f, "gflops", gflops(r->flops, r->clrnn.median_ms), 0);
    json_num(f, "gflops_best", gflops(r->flops, r->clrnn.min_ms), 0);
    if (r->train) { /* medians of each part over the timed steps */
        fprintf(f, "\"phases\": {");
        json_num(f, "forward_train_ms", r->clrnn.phase_ms[0], 0);
        json_num(f, "backward_data_ms", r->clrnn.phase_ms[1], 0);
        json_num(f, "backward_weights_ms", r->clrnn.phase_ms[2], 1);
        fprintf(f, "}, ");
    }
    if (r->dnnl_state == 1) {
        fprintf(f, "\"dnnl\": {");
        json_num(f, "median_ms", r->dnnl.median_ms, 0);
        json_num(f, "min_ms", r->dnnl.min_ms, 0);
        json_num(f, "gflops", gflops(r->flops, r->dnnl.median_ms), 0);
        if (r->train) {
            json_num(f, "forward_ms", r->dnnl.phase_ms[0], 0);
            json_num(f, "backward_ms", r->dnnl.phase_ms[1], 0);
            json_num(f, "reorder_ms", r->dnnl.phase_ms[2], 0);
        }
        fprintf(f, "\"repeat\": %d, \"threads\": %d}, ", r->dnnl.repeat, g_dnnl_threads);
        json_num(f, "ratio", r->clrnn.median_ms / r->dnnl.median_ms, 0);
        if (r->train) {
            json_num(f, "max_err_dx", r->err_dx, 0);
            json_num(f, "max_err_dw", r->err_dw, 0);
        } else {
            json_num(f, "max_abs_diff", r->max_abs_diff, 0);
        }
    } else {
        fprintf(f, "\"dnnl\": null, ");
    }
    fprintf(f, "\"note\": ");
    json_str(f, r->dnnl_note);
    fputc('}', f);
}

static void device_line(char *out, size_t cap) {
    clrnn_device_info info;
    clrnn_context_device_info(g_ctx, &info);
    snprintf(out, cap, "%s (%s)", info.name, info.platform_name);
}

static void json_header(FILE *f) {
    char dev[600];
    device_line(dev, sizeof dev);
    fprintf(f, "\"tool\": \"clrnn-bench\", \"clrnn_version\": \"%s\", \"device\": ", clrnn_version_string());
    json_str(f, dev);
    if (opt.train) fprintf(f, ", \"mode\": \"train\", \"flops_per_step\": \"3x forward\"");
#ifdef CLRNN_HAVE_DNNL
    const dnnl_version_t *v = dnnl_version();
    fprintf(f, ", \"dnnl_version\": \"%d.%d.%d\", \"dnnl_threads\": %d", v->major, v->minor, v->patch, g_dnnl_threads);
#else
    fprintf(f, ", \"dnnl_version\": null");
#endif
}

static const char *csv_header =
    "scenario,cell,seq,batch,input,hidden,layers,bidirectional,min_len,flops,repeat,median_ms,min_ms,gflops,"
    "dnnl_median_ms,dnnl_min_ms,dnnl_gflops,ratio,max_abs_diff,note\n";

static const char *csv_header_train =
    "scenario,cell,seq,batch,input,hidden,layers,bidirectional,min_len,flops,repeat,median_ms,min_ms,gflops,"
    "forward_train_ms,backward_data_ms,backward_weights_ms,dnnl_median_ms,dnnl_min_ms,dnnl_gflops,dnnl_forward_ms,"
    "dnnl_backward_ms,ratio,max_err_dx,max_err_dw,note\n";

static void csv_row_train(FILE *f, const result *r) {
    const bench_shape *s = &r->shape;
    fprintf(f, "%s,%s,%d,%d,%d,%d,%d,%d,%d,%.0f,%d,%.4f,%.4f,%.3f,%.4f,%.4f,%.4f,", r->name ? r->name : "",
            bench_cell_name(s->cell), s->T, s->N, s->I, s->H, s->L, s->bidir, s->min_len, r->flops, r->clrnn.repeat,
            r->clrnn.median_ms, r->clrnn.min_ms, gflops(r->flops, r->clrnn.median_ms), r->clrnn.phase_ms[0],
            r->clrnn.phase_ms[1], r->clrnn.phase_ms[2]);
    if (r->dnnl_state == 1)
        fprintf(f, "%.4f,%.4f,%.3f,%.4f,%.4f,%.4f,%.3g,%.3g,", r->dnnl.median_ms, r->dnnl.min_ms,
                gflops(r->flops, r->dnnl.median_ms), r->dnnl.phase_ms[0], r->dnnl.phase_ms[1],
                r->clrnn.median_ms / r->dnnl.median_ms, r->err_dx, r->err_dw);
    else
        fprintf(f, ",,,,,,,,");
    fprintf(f, "%s\n", r->dnnl_note);
}

static void csv_row(FILE *f, const result *r) {
    const bench_shape *s = &r->shape;
    if (r->train) {
        csv_row_train(f, r);
        return;
    }
    fprintf(f, "%s,%s,%d,%d,%d,%d,%d,%d,%d,%.0f,%d,%.4f,%.4f,%.3f,", r->name ? r->name : "", bench_cell_name(s->cell),
            s->T, s->N, s->I, s->H, s->L, s->bidir, s->min_len, r->flops, r->clrnn.repeat, r->clrnn.median_ms,
            r->clrnn.min_ms, gflops(r->flops, r->clrnn.median_ms));
    if (r->dnnl_state == 1)
        fprintf(f, "%.4f,%.4f,%.3f,%.4f,%.3g,", r->dnnl.median_ms, r->dnnl.min_ms, gflops(r->flops, r->dnnl.median_ms),
                r->clrnn.median_ms / r->dnnl.median_ms, r->max_abs_diff);
    else
        fprintf(f, ",,,,,");
    fprintf(f, "%s\n", r->dnnl_note);
}

static void table_header(FILE *f, int with_dnnl) {
    char dev[600];
    device_line(dev, sizeof dev);
    fprintf(f, "clrnn %s on %s", clrnn_version_string(), dev);
#ifdef CLRNN_HAVE_DNNL
    if (with_dnnl) {
        const dnnl_version_t *v = dnnl_version();
        fprintf(f, "; oneDNN %d.%d.%d, %d thread(s)", v->major, v->minor, v->patch, g_dnnl_threads);
    }
#endif
    if (opt.train)
        fprintf(f, "\nfp32 training step: clrnn forward_train + backward_data (dx, dh0, dc0) + backward_weights (SET);\n"
                   "oneDNN forward_training + backward (diff src layer/iter, all diff weights and bias), same weights,\n"
                   "x, dy, dhn, dcn. Times in ms (median / min of the steps), GFLOP/s = 3x the forward's FLOPs / median\n\n");
    else
        fprintf(f, "\nfp32 forward inference, times in ms (median / min of the runs), GFLOP/s from the median\n\n");
    fprintf(f, "%-3s %-34s %9s %9s %7s", "", "", "clrnn", "", "");
    if (with_dnnl) fprintf(f, " %9s %9s %7s %9s", "oneDNN", "", "", "");
    fprintf(f, "\n%-3s %-34s %9s %9s %7s", "", "shape", "median", "min", "GFLOP/s");
    if (with_dnnl && opt.train) fprintf(f, " %9s %9s %7s %9s  %-7s  %s", "median", "min", "GFLOP/s", "ratio", "err dx", "err dW");
    else if (with_dnnl) fprintf(f, " %9s %9s %7s %9s  %s", "median", "min", "GFLOP/s", "ratio", "max|diff|");
    fprintf(f, "\n");
}

static void table_row(FILE *f, const result *r, int with_dnnl) {
    char label[128];
    bench_shape_label(&r->shape, label, sizeof label);
    fprintf(f, "%-3s %-34s %9.3f %9.3f %7.1f", r->name ? r->name : "", label, r->clrnn.median_ms, r->clrnn.min_ms,
            gflops(r->flops, r->clrnn.median_ms));
    if (with_dnnl) {
        if (r->dnnl_state == 1 && r->train)
            fprintf(f, " %9.3f %9.3f %7.1f %8.2fx  %.1e  %.1e", r->dnnl.median_ms, r->dnnl.min_ms,
                    gflops(r->flops, r->dnnl.median_ms), r->clrnn.median_ms / r->dnnl.median_ms, r->err_dx, r->err_dw);
        else if (r->dnnl_state == 1)
            fprintf(f, " %9.3f %9.3f %7.1f %8.2fx  %.1e", r->dnnl.median_ms, r->dnnl.min_ms,
                    gflops(r->flops, r->dnnl.median_ms), r->clrnn.median_ms / r->dnnl.median_ms, r->max_abs_diff);
        else
            fprintf(f, "  %s", r->dnnl_note);
    }
    fprintf(f, "\n");
    if (r->train) { /* the breakdown: medians of each part, so they need not add up to the step's median */
        fprintf(f, "%-3s   clrnn forward_train %.3f / backward_data %.3f / backward_weights %.3f ms", "",
                r->clrnn.phase_ms[0], r->clrnn.phase_ms[1], r->clrnn.phase_ms[2]);
        if (with_dnnl && r->dnnl_state == 1)
            fprintf(f, "; oneDNN forward %.3f / backward %.3f ms (of which %.3f weight reorders + zeroing)",
                    r->dnnl.phase_ms[0], r->dnnl.phase_ms[1], r->dnnl.phase_ms[2]);
        fprintf(f, "\n");
    }
}

/* ------------------------------------------------------------------------------------------
 * --plot: GFLOP/s against batch size, as a hand-written SVG
 * ---------------------------------------------------------------------------------------- */
static void xml_text(FILE *f, const char *s) {
    for (; *s; ++s) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else fputc(*s, f);
    }
}

static double nice_ceiling(double v, double *step) {
    if (v <= 0) v = 1;
    const double mag = pow(10, floor(log10(v)));
    const double steps[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; ++i) {
        const double st = steps[i] * mag / 5;
        const double top = ceil(v / st) * st;
        if (top / st <= 8) {
            *step = st;
            return top;
        }
    }
    *step = mag;
    return ceil(v / mag) * mag;
}

static int write_svg(const char *path, const result *res, int n, const char *title) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "clrnn-bench: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    const double W = 760, Hh = 460, ml = 72, mr = 24, mt = 56, mb = 64;
    const double pw = W - ml - mr, ph = Hh - mt - mb;
    double ymax = 0;
    int have_dnnl = 0;
    for (int i = 0; i < n; ++i) {
        const double a = gflops(res[i].flops, res[i].clrnn.median_ms);
        if (res[i].clrnn.ok && a > ymax) ymax = a;
        if (res[i].dnnl_state == 1) {
            have_dnnl = 1;
            const double b = gflops(res[i].flops, res[i].dnnl.median_ms);
            if (b > ymax) ymax = b;
        }
    }
    double ystep;
    ymax = nice_ceiling(ymax * 1.05, &ystep);
    const double xmax = 8; /* log2(256) */
#define PX(b) (ml + pw * (log2((double)(b)) / xmax))
#define PY(g) (mt + ph * (1 - (g) / ymax))
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n", W, Hh, W, Hh);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", ml);
    xml_text(f, "GFLOP/s against batch size");
    fprintf(f, "</text>\n<text x=\"%.0f\" y=\"42\" fill=\"#555\" font-size=\"12\">", ml);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    /* grid and y ticks */
    fprintf(f, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (double g = 0; g <= ymax + 1e-9; g += ystep)
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml, PY(g), ml + pw, PY(g));
    for (int b = 1; b <= 256; b *= 2)
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(b), mt, PX(b), mt + ph);
    fprintf(f, "</g>\n<g fill=\"#333\" text-anchor=\"end\">\n");
    for (double g = 0; g <= ymax + 1e-9; g += ystep)
        fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%g</text>\n", ml - 8, PY(g) + 4, g);
    fprintf(f, "</g>\n<g fill=\"#333\" text-anchor=\"middle\">\n");
    for (int b = 1; b <= 256; b *= 2) fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%d</text>\n", PX(b), mt + ph + 20, b);
    fprintf(f, "</g>\n");
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", ml, mt, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#333\">batch size N (log scale)</text>\n",
            ml + pw / 2, Hh - 18);
    fprintf(f, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">GFLOP/s "
               "(median)</text>\n", mt + ph / 2);
    /* series */
    const char *colors[2] = {"#1f77b4", "#d62728"};
    const char *names[2] = {"clrnn", "oneDNN"};
    for (int sidx = 0; sidx < (have_dnnl ? 2 : 1); ++sidx) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", colors[sidx]);
        for (int i = 0; i < n; ++i) {
            const stats *st = sidx ? &res[i].dnnl : &res[i].clrnn;
            if ((sidx && res[i].dnnl_state != 1) || !st->ok) continue;
            fprintf(f, "%.1f,%.1f ", PX(res[i].shape.N), PY(gflops(res[i].flops, st->median_ms)));
        }
        fprintf(f, "\"/>\n<g fill=\"%s\">\n", colors[sidx]);
        for (int i = 0; i < n; ++i) {
            const stats *st = sidx ? &res[i].dnnl : &res[i].clrnn;
            if ((sidx && res[i].dnnl_state != 1) || !st->ok) continue;
            const double g = gflops(res[i].flops, st->median_ms);
            fprintf(f, "  <circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>%s N=%d: %.1f GFLOP/s, %.3f ms</title></circle>\n",
                    PX(res[i].shape.N), PY(g), names[sidx], res[i].shape.N, g, st->median_ms);
        }
        fprintf(f, "</g>\n");
        /* legend */
        const double lx = ml + 16, ly = mt + 18 + 20 * sidx;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", lx,
                ly, lx + 24, ly, colors[sidx]);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", lx + 12, ly, colors[sidx]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222\">%s</text>\n", lx + 32, ly + 4, names[sidx]);
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    const int ok = !ferror(f);
    return (fclose(f) == 0) && ok;
}

/* ------------------------------------------------------------------------------------------
 * --first-result: new processes, cold then warm caches
 * ---------------------------------------------------------------------------------------- */
typedef struct first_result {
    int ok;
    double process_ms; /* fork → exit, as the parent sees it */
    double ctx_ms, build_ms, setup_ms, first_ms, second_ms, total_ms;
    int from_cache;
    long pocl_files_added; /* entries PoCL's kernel cache gained during the run */
} first_result;

static int child_first_result(void) {
    bench_model m;
    if (!bench_model_init(&m, &opt.shape, 0x1234567ULL)) return 1;
    /* the network's weights are the application's data: generated before the clock starts */
    const double t0 = bench_now_ms();
    clrnn_context_params p = clrnn_context_default_params();
    p.device = opt.device;
    p.disable_tuning = opt.no_tuning;
    clrnn_context *ctx = NULL;
    if (clrnn_context_create(&p, &ctx) != CLRNN_OK) {
        fprintf(stderr, "clrnn-bench: %s\n", clrnn_last_error());
        bench_model_free(&m);
        return 1;
    }
    const double t1 = bench_now_ms();
    bench_clrnn b;
    clrnn_status st = bench_clrnn_init(&b, ctx, &m);
    const double t2 = bench_now_ms();
    const int init_ok = st == CLRNN_OK;
    if (st == CLRNN_OK) st = bench_clrnn_run(&b);
    const double t3 = bench_now_ms();
    if (st == CLRNN_OK) st = bench_clrnn_run(&b);
    const double t4 = bench_now_ms();
    clrnn_build_info bi;
    clrnn_context_build_info(ctx, &bi);
    if (st == CLRNN_OK)
        printf("FIRST_RESULT ctx_ms=%.3f build_ms=%.3f from_cache=%d setup_ms=%.3f first_ms=%.3f second_ms=%.3f "
               "total_ms=%.3f\n", t1 - t0, bi.build_ms, bi.from_cache, t2 - t1, t3 - t2, t4 - t3, t3 - t0);
    else
        fprintf(stderr, "clrnn-bench: %s\n", init_ok ? clrnn_last_error() : b.error);
    bench_clrnn_free(&b);
    clrnn_context_destroy(ctx);
    bench_model_free(&m);
    return st == CLRNN_OK ? 0 : 1;
}

/* Non-empty files under dir, recursively. */
static long count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0) continue;
        /* PoCL touches "last_accessed" and may leave empty temp files: neither is a compilation */
        if (S_ISDIR(sb.st_mode)) n += count_files(p);
        else if (S_ISREG(sb.st_mode) && sb.st_size > 0 && strcmp(e->d_name, "last_accessed") != 0) ++n;
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char p[2048];
                snprintf(p, sizeof p, "%s/%s", path, e->d_name);
                remove_tree(p);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static first_result spawn_first_result(const char *self, const char *clrnn_dir, const char *pocl_dir) {
    first_result r;
    memset(&r, 0, sizeof r);
    char T[16], N[16], I[16], H[16], L[16], P[16];
    snprintf(T, sizeof T, "%d", opt.shape.T), snprintf(N, sizeof N, "%d", opt.shape.N);
    snprintf(I, sizeof I, "%d", opt.shape.I), snprintf(H, sizeof H, "%d", opt.shape.H);
    snprintf(L, sizeof L, "%d", opt.shape.L), snprintf(P, sizeof P, "%d", opt.shape.P);
    const char *argv[24];
    int a = 0;
    argv[a++] = self;
    argv[a++] = "--first-result-child";
    argv[a++] = "--cell", argv[a++] = bench_cell_name(opt.shape.cell);
    argv[a++] = "--seq", argv[a++] = T, argv[a++] = "--batch", argv[a++] = N;
    argv[a++] = "--input", argv[a++] = I, argv[a++] = "--hidden", argv[a++] = H, argv[a++] = "--layers", argv[a++] = L;
    if (opt.shape.bidir) argv[a++] = "--bidirectional";
    if (opt.shape.P) argv[a++] = "--proj", argv[a++] = P;
    if (opt.shape.storage)
        argv[a++] = "--storage", argv[a++] = opt.shape.storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16";
    if (opt.no_tuning) argv[a++] = "--no-tuning";
    if (opt.device) argv[a++] = "--device", argv[a++] = opt.device;
    argv[a] = NULL;
    const long files_before = count_files(pocl_dir);
    int fds[2];
    if (pipe(fds) != 0) return r;
    fflush(NULL);
    const double t0 = bench_now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return r;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]), close(fds[1]);
        setenv("CLRNN_CACHE_DIR", clrnn_dir, 1);
        setenv("POCL_CACHE_DIR", pocl_dir, 1);
        setenv("CUDA_CACHE_PATH", pocl_dir, 1); /* NVIDIA's OpenCL kernel cache, should the device be one */
        unsetenv("CLRNN_CACHE_DISABLE");
        execv(self, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.process_ms = bench_now_ms() - t0;
    const char *line = strstr(buf, "FIRST_RESULT ");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && line &&
        sscanf(line, "FIRST_RESULT ctx_ms=%lf build_ms=%lf from_cache=%d setup_ms=%lf first_ms=%lf second_ms=%lf total_ms=%lf",
               &r.ctx_ms, &r.build_ms, &r.from_cache, &r.setup_ms, &r.first_ms, &r.second_ms, &r.total_ms) == 7)
        r.ok = 1;
    r.pocl_files_added = count_files(pocl_dir) - files_before;
    return r;
}

static int run_first_result(const char *self) {
    char tmpl[] = "/tmp/clrnn-first-result-XXXXXX";
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "clrnn-bench: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char clrnn_dir[600], pocl_dir[600];
    snprintf(clrnn_dir, sizeof clrnn_dir, "%s/clrnn", tmpl);
    snprintf(pocl_dir, sizeof pocl_dir, "%s/pocl", tmpl);
    mkdir(clrnn_dir, 0755);
    mkdir(pocl_dir, 0755); /* PoCL uses POCL_CACHE_DIR only if it exists */
    const int warm_runs = opt.repeat > 0 ? opt.repeat : 3;
    first_result runs[1 + 20];
    const int total = 1 + (warm_runs > 20 ? 20 : warm_runs);
    int rc = 0;
    for (int i = 0; i < total; ++i) {
        fprintf(stderr, "%s run %d/%d ...\n", i == 0 ? "cold" : "warm", i + 1, total);
        runs[i] = spawn_first_result(self, clrnn_dir, pocl_dir);
        if (!runs[i].ok) {
            fprintf(stderr, "clrnn-bench: the %s child run failed\n", i ? "warm" : "cold");
            rc = 1;
            break;
        }
    }
    if (!opt.keep) remove_tree(tmpl);
    else fprintf(stderr, "caches kept in %s\n", tmpl);
    if (rc) return rc;
    /* warm: the run with the median time to first result */
    double tt[20];
    for (int i = 1; i < total; ++i) tt[i - 1] = runs[i].total_ms;
    qsort(tt, (size_t)(total - 1), sizeof(double), cmp_double);
    int wi = 1;
    for (int i = 1; i < total; ++i)
        if (runs[i].total_ms == tt[(total - 1) / 2]) wi = i;
    const first_result *c = &runs[0], *w = &runs[wi];
    char label[128];
    bench_shape_label(&opt.shape, label, sizeof label);
    if (opt.format == OUT_JSON) {
        printf("{\"tool\": \"clrnn-bench\", \"mode\": \"first_result\", \"shape\": \"%s\", \"warm_runs\": %d", label,
               total - 1);
        for (int k = 0; k < 2; ++k) {
            const first_result *r = k ? w : c;
            printf(", \"%s\": {\"process_ms\": %.1f, \"context_ms\": %.1f, \"kernels_from_cache\": %d, "
                   "\"kernel_build_ms\": %.1f, \"setup_ms\": %.1f, \"first_forward_ms\": %.1f, "
                   "\"steady_forward_ms\": %.1f, \"time_to_first_result_ms\": %.1f, \"pocl_cache_files_added\": %ld}",
                   k ? "warm" : "cold", r->process_ms, r->ctx_ms, r->from_cache, r->build_ms, r->setup_ms, r->first_ms,
                   r->second_ms, r->total_ms, r->pocl_files_added);
        }
        printf("}\n");
    } else if (opt.format == OUT_CSV) {
        printf("run,process_ms,context_ms,kernels_from_cache,kernel_build_ms,setup_ms,first_forward_ms,"
               "steady_forward_ms,time_to_first_result_ms,pocl_cache_files_added\n");
        for (int i = 0; i < total; ++i)
            printf("%s%d,%.1f,%.1f,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%ld\n", i ? "warm" : "cold", i, runs[i].process_ms,
                   runs[i].ctx_ms, runs[i].from_cache, runs[i].build_ms, runs[i].setup_ms, runs[i].first_ms,
                   runs[i].second_ms, runs[i].total_ms, runs[i].pocl_files_added);
    } else {
        printf("time to first result, %s, new processes (fresh clrnn and PoCL caches, then reused)\n\n", label);
        printf("%-42s %12s %12s\n", "", "cold", "warm");
        printf("%-42s %12.1f %12.1f\n", "context create (ms)", c->ctx_ms, w->ctx_ms);
        printf("%-42s %12s %12s\n", "  clrnn program", c->from_cache ? "binary cache" : "from source",
               w->from_cache ? "binary cache" : "from source");
        printf("%-42s %12.1f %12.1f\n", "rnn create + weights + buffers (ms)", c->setup_ms, w->setup_ms);
        printf("%-42s %12.1f %12.1f\n", "first forward (ms)", c->first_ms, w->first_ms);
        printf("%-42s %12.1f %12.1f\n", "  of which one-time (first - steady)", c->first_ms - c->second_ms,
               w->first_ms - w->second_ms);
        printf("%-42s %12.1f %12.1f\n", "time to first result (ms)", c->total_ms, w->total_ms);
        printf("%-42s %12.1f %12.1f\n", "whole process, exec to exit (ms)", c->process_ms, w->process_ms);
        printf("%-42s %12ld %12ld\n", "files added to PoCL's kernel cache", c->pocl_files_added, w->pocl_files_added);
        printf("\nwarm = median of %d warm run(s); 0 files added in a warm run = nothing was compiled (on PoCL the\n"
               "program is built from source and PoCL's own cache supplies the compiled kernels)\n", total - 1);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------------------------- */
static void usage(FILE *f) {
    fprintf(f,
            "usage: clrnn-bench --cell lstm|gru|gru_lbr|rnn_tanh|rnn_relu --seq T --batch N --input I --hidden H\n"
            "                   [--layers L] [--bidirectional] [--min-len M] [--repeat R] [--device SPEC] [--json]\n"
            "                   [--proj P] (LSTM projection)\n"
            "       clrnn-bench --suite [--csv|--json] [--repeat R]\n"
            "       clrnn-bench --train [--suite | shape flags] [--dnnl]   a training step: clrnn forward_train +\n"
            "                   backward_data (dx, dh0, dc0) + backward_weights (SET), next to oneDNN's\n"
            "                   forward_training + backward (the suite always, one shape with --dnnl); random dy,\n"
            "                   dhn, dcn; GFLOP/s count a step as 3x the forward's FLOPs\n"
            "       clrnn-bench --plot FILE.svg [shape flags]\n"
            "       clrnn-bench --first-result [shape flags] [--repeat WARM_RUNS] [--keep-cache]\n"
            "       clrnn-bench --profile [--suite | shape flags] [--train] [--repeat R]   where the time goes, per\n"
            "                   kernel, from the trace (CLRNN_VERBOSE)\n"
            "other: --csv --dnnl --dnnl-only --threads N --cache-dir DIR --no-tuning --verbose --version\n"
            "       --storage fp32|fp16|bf16: clrnn's weights and activations in device memory (oneDNN stays fp32;\n"
            "                   max_abs_diff then shows the storage's rounding; --train needs fp32)\n"
            "shape flags default to S1: --cell lstm --seq 100 --batch 64 --input 512 --hidden 512\n");
}

/* An integer flag value in [lo, 2^30] (2^29 for sizes that are doubled by --bidirectional, which
 * must stay an int): tool_args.h prints the one-line refusal naming the flag. */
static int flag_reported; /* the refusal of a flag value was printed already */
static int parse_int(const char *flag, const char *s, int lo, int *out) {
    const int hi = !strcmp(flag, "--hidden") || !strcmp(flag, "--proj") ? 1 << 29 : 1 << 30;
    const int ok = tool_int("clrnn-bench", flag, s, lo, hi, out);
    flag_reported = !ok;
    return ok;
}

int main(int argc, char **argv) {
    memset(&opt, 0, sizeof opt);
    opt.shape = bench_scenarios[0].shape;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const int has = i + 1 < argc;
        int ok = 1;
        if (strcmp(a, "--cell") == 0 && has) {
            int c = bench_cell_parse(argv[++i]);
            ok = c >= 0;
            if (ok) opt.shape.cell = (bench_cell_kind)c;
            else fprintf(stderr, "clrnn-bench: --cell '%s': expected lstm, gru, gru_lbr, rnn_tanh or rnn_relu\n", argv[i]);
            flag_reported = !ok;
        } else if (strcmp(a, "--seq") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.shape.T);
        else if (strcmp(a, "--batch") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.shape.N);
        else if (strcmp(a, "--input") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.shape.I);
        else if (strcmp(a, "--hidden") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.shape.H);
        else if (strcmp(a, "--layers") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.shape.L);
        else if (strcmp(a, "--proj") == 0 && has) ok = parse_int(a, argv[++i], 0, &opt.shape.P);
        else if (strcmp(a, "--min-len") == 0 && has) ok = parse_int(a, argv[++i], 0, &opt.shape.min_len);
        else if (strcmp(a, "--repeat") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.repeat);
        else if (strcmp(a, "--threads") == 0 && has) ok = parse_int(a, argv[++i], 1, &opt.threads);
        else if (strcmp(a, "--device") == 0 && has) opt.device = argv[++i];
        else if (strcmp(a, "--cache-dir") == 0 && has) opt.cache_dir = argv[++i];
        else if (strcmp(a, "--plot") == 0 && has) opt.plot = argv[++i];
        else if (strcmp(a, "--bidirectional") == 0) opt.shape.bidir = 1;
        else if (strcmp(a, "--storage") == 0 && has) {
            const char *v = argv[++i];
            opt.shape.storage = !strcmp(v, "fp32") ? CLRNN_STORAGE_FP32 : !strcmp(v, "fp16") ? CLRNN_STORAGE_FP16
                                : !strcmp(v, "bf16") ? CLRNN_STORAGE_BF16 : -1;
            if (opt.shape.storage < 0) {
                fprintf(stderr, "clrnn-bench: --storage '%s': expected fp32, fp16 or bf16\n", v);
                return 2;
            }
        }
        else if (strcmp(a, "--json") == 0) opt.format = OUT_JSON;
        else if (strcmp(a, "--csv") == 0) opt.format = OUT_CSV;
        else if (strcmp(a, "--suite") == 0) opt.suite = 1;
        else if (strcmp(a, "--train") == 0) opt.train = 1;
        else if (strcmp(a, "--profile") == 0) opt.profile = 1;
        else if (strcmp(a, "--dnnl") == 0) opt.dnnl = 1;
        else if (strcmp(a, "--dnnl-only") == 0) opt.dnnl = opt.dnnl_only = 1;
        else if (strcmp(a, "--first-result") == 0) opt.first_result = 1;
        else if (strcmp(a, "--first-result-child") == 0) opt.first_result_child = 1;
        else if (strcmp(a, "--keep-cache") == 0) opt.keep = 1;
        else if (strcmp(a, "--no-tuning") == 0) opt.no_tuning = 1;
        else if (strcmp(a, "--verbose") == 0) opt.verbose = 1;
        else if (strcmp(a, "--version") == 0) return tool_version("clrnn-bench");
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else ok = 0;
        if (!ok) {
            /* a bad number was reported by parse_int, naming the flag; anything else is one line here */
            if (!flag_reported) fprintf(stderr, "clrnn-bench: unknown or incomplete option %s (see --help)\n", a);
            return 2;
        }
    }
    if (opt.shape.min_len > opt.shape.T) {
        fprintf(stderr, "clrnn-bench: --min-len %d is larger than --seq %d\n", opt.shape.min_len, opt.shape.T);
        return 2;
    }
    if (opt.train && (opt.plot || opt.first_result)) {
        fprintf(stderr, "clrnn-bench: --train times a step of one shape or of the suite; not with --plot or --first-result\n");
        return 2;
    }
    if (opt.profile && (opt.plot || opt.first_result || opt.format != OUT_TABLE || opt.dnnl)) {
        fprintf(stderr, "clrnn-bench: --profile prints a table of one shape or of the suite; not with --plot, "
                        "--first-result, --csv, --json or --dnnl\n");
        return 2;
    }
    if (opt.train && opt.shape.storage) {
        fprintf(stderr, "clrnn-bench: --train needs --storage fp32 (fp16/bf16 storage is for inference)\n");
        return 2;
    }
    if (opt.first_result_child) return child_first_result();
    if (opt.first_result) {
        char self[1024];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) snprintf(self, sizeof self, "%s", argv[0]);
        else self[n] = '\0';
        return run_first_result(self);
    }

    setup_dnnl_threads();
    clrnn_context_params p = clrnn_context_default_params();
    p.device = opt.device;
    p.cache_dir = opt.cache_dir;
    p.disable_tuning = opt.no_tuning;
    const double tc = bench_now_ms();
    if (clrnn_context_create(&p, &g_ctx) != CLRNN_OK) {
        fprintf(stderr, "clrnn-bench: %s\n", clrnn_last_error());
        return 2;
    }
    if (opt.verbose) {
        clrnn_build_info bi;
        clrnn_context_build_info(g_ctx, &bi);
        char dev[600];
        device_line(dev, sizeof dev);
        fprintf(stderr, "device %s\ncontext created in %.1f ms, kernels %s (%.1f ms)\n", dev, bench_now_ms() - tc,
                bi.from_cache ? "from clrnn's binary cache" : "built from source", bi.build_ms);
        if (!opt.no_tuning) {
            clrnn_tuning_report rep;
            clrnn_gemm_apply_tuning_report(g_ctx, &rep);
            fprintf(stderr, "CLBlast tuning file %s: %s\n", rep.path[0] ? rep.path : "(none)",
                    rep.file_state == 1 ? "loaded" : rep.file_state < 0 ? "rejected" : "absent");
            for (size_t i = 0; i < rep.count; ++i)
                fprintf(stderr, "  %s from the %s\n", rep.applied[i].kernel,
                        rep.source[i] == CLRNN_TUNING_FROM_FILE ? "tuning file" : "shipped table");
        }
    }

    int rc = 0;
    if (opt.profile) {
        /* a second context that traces into the table (the sink is fixed when a context is made) */
        clrnn_trace_install(profile_sink, &g_profile);
        const clrnn_status ts = clrnn_context_create(&p, &g_trace_ctx);
        clrnn_trace_install(NULL, NULL);
        if (ts != CLRNN_OK) {
            fprintf(stderr, "clrnn-bench: %s\n", clrnn_last_error());
            clrnn_context_destroy(g_ctx);
            return 2;
        }
        char dev[600];
        device_line(dev, sizeof dev);
        printf("clrnn %s on %s\n", clrnn_version_string(), dev);
        if (opt.suite) {
            for (size_t i = 0; i < bench_scenario_count; ++i)
                if (!profile_one(&bench_scenarios[i].shape, bench_scenarios[i].name)) rc = 1;
        } else if (!profile_one(&opt.shape, NULL))
            rc = 1;
        clrnn_context_destroy(g_trace_ctx);
        clrnn_context_destroy(g_ctx);
        return rc;
    }
    if (opt.suite) {
        const int with_dnnl = dnnl_available();
        result res[16];
        const int n = (int)bench_scenario_count;
        if (opt.format == OUT_TABLE) table_header(stdout, with_dnnl);
        if (opt.format == OUT_CSV) fputs(opt.train ? csv_header_train : csv_header, stdout);
        for (int i = 0; i < n; ++i) {
            bench_shape shape = bench_scenarios[i].shape;
            shape.storage = opt.shape.storage; /* --storage applies to every scenario */
            if (!(opt.train ? bench_train_one : bench_one)(&shape, bench_scenarios[i].name, with_dnnl, &res[i]))
                rc = 1;
            /* a variable-length scenario is compared with its padded twin, run earlier in the suite */
            for (int j = 0; j < i && res[i].shape.min_len > 0; ++j) {
                bench_shape padded = res[i].shape;
                padded.min_len = 0;
                if (memcmp(&padded, &res[j].shape, sizeof padded) == 0 && res[j].clrnn.median_ms > 0)
                    snprintf(res[i].dnnl_note, sizeof res[i].dnnl_note, "clrnn: %.2fx the padded %s time",
                             res[i].clrnn.median_ms / res[j].clrnn.median_ms, res[j].name);
            }
            if (opt.format == OUT_TABLE) table_row(stdout, &res[i], with_dnnl);
            if (opt.format == OUT_CSV) csv_row(stdout, &res[i]);
            fflush(stdout);
        }
        if (opt.format == OUT_TABLE && with_dnnl && opt.train)
            printf("\nratio = clrnn median / oneDNN median (above 1: clrnn is slower); err dx / err dW = largest\n"
                   "|clrnn - oneDNN| / (1 + |oneDNN|) over dx, dh0, dc0 / over every weight and bias gradient\n");
        else if (opt.format == OUT_TABLE && with_dnnl)
            printf("\nratio = clrnn median / oneDNN median (above 1: clrnn is slower); max|diff| = largest "
                   "difference between the two outputs\n");
        if (opt.format == OUT_JSON) {
            printf("{");
            json_header(stdout);
            printf(", \"scenarios\": [");
            for (int i = 0; i < n; ++i) {
                if (i) printf(", ");
                json_result(stdout, &res[i]);
            }
            printf("]}\n");
        }
    } else if (opt.plot) {
        const int with_dnnl = dnnl_available();
        result res[9];
        int n = 0;
        if (opt.format == OUT_TABLE) table_header(stdout, with_dnnl);
        if (opt.format == OUT_CSV) fputs(csv_header, stdout);
        for (int b = 1; b <= 256; b *= 2, ++n) {
            bench_shape s = opt.shape;
            s.N = b;
            if (!bench_one(&s, NULL, with_dnnl, &res[n])) rc = 1;
            if (opt.format == OUT_TABLE) table_row(stdout, &res[n], with_dnnl);
            if (opt.format == OUT_CSV) csv_row(stdout, &res[n]);
            fflush(stdout);
        }
        char title[900], label[128], dev[600];
        bench_shape s = opt.shape;
        s.N = 0;
        bench_shape_label(&s, label, sizeof label);
        char *np = strstr(label, " N=0");
        if (np) memmove(np, np + 4, strlen(np + 4) + 1);
        clrnn_device_info info;
        clrnn_context_device_info(g_ctx, &info);
        snprintf(dev, sizeof dev, "%.80s", info.name);
        if (with_dnnl)
            snprintf(title, sizeof title, "%s, fp32 inference. clrnn: %s; oneDNN: CPU, %d thread(s)", label, dev,
                     g_dnnl_threads);
        else
            snprintf(title, sizeof title, "%s, fp32 inference. clrnn: %s", label, dev);
        if (!write_svg(opt.plot, res, n, title)) rc = 1;
        else if (opt.format == OUT_TABLE) printf("\nwrote %s\n", opt.plot);
        if (opt.format == OUT_JSON) {
            printf("{");
            json_header(stdout);
            printf(", \"plot\": ");
            json_str(stdout, opt.plot);
            printf(", \"points\": [");
            for (int i = 0; i < n; ++i) {
                if (i) printf(", ");
                json_result(stdout, &res[i]);
            }
            printf("]}\n");
        }
    } else {
        result r;
        const int with_dnnl = opt.dnnl;
        if (!(opt.train ? bench_train_one : bench_one)(&opt.shape, NULL, with_dnnl, &r)) rc = 1;
        if (opt.format == OUT_JSON) {
            printf("{");
            json_header(stdout);
            printf(", ");
            /* the result's own fields, flattened into the same object */
            FILE *f = stdout;
            fflush(f);
            char *buf = NULL;
            size_t len = 0;
            FILE *mem = open_memstream(&buf, &len);
            if (mem) {
                json_result(mem, &r);
                fclose(mem);
                printf("%.*s}\n", len > 2 ? (int)(len - 2) : 0, buf + 1);
                free(buf);
            }
        } else if (opt.format == OUT_CSV) {
            fputs(opt.train ? csv_header_train : csv_header, stdout);
            csv_row(stdout, &r);
        } else {
            table_header(stdout, with_dnnl);
            table_row(stdout, &r, with_dnnl);
        }
    }
    clrnn_context_destroy(g_ctx);
    return rc;
}
