/* clrnn's own SGEMM for CPU devices: cl/blas/sgemm.cl's register-tiled micro-kernel (8 x 32 tiles
 * of C over 32-column strips of op(B)), as its own program built on first use and kept with the
 * context (clrnn_program_kept), with a scratch buffer for the packed operand panels kept next to it.
 * Which operands are packed when, and why the result is the same bits run to run: the comments
 * in sgemm.cl. Small products run on sgemm_small instead (SMALL_MNK). */
#include "gemm_own.h"

#include "core/launch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

extern const clrnn_embedded_source clrnn_blas_sources[];
extern const size_t clrnn_blas_sources_count;

/* A tile of C is TILE_M rows x STRIP columns; op(B) is read in STRIP-column strips (packed: panels
 * [K][STRIP]), a packed op(A)^T in TILE_M-row panels [K][TILE_M]; sgemm_pack_b's work-items copy
 * TILE_N columns each (and the size bound below pads to it, more than either panel needs). */
enum { TILE_M = 8, STRIP = 32, TILE_N = 64 };
/* The products from this many rows of C up (the sequence-wide ones: x W^T, dX, dW; not the
 * per-step ones of 64 rows) run BLIS-blocked (see the work split below) and always read op(B)
 * packed: a K x N copy against M N K multiply-adds, and an in-place strip with rows 2 KB apart
 * (B = W, 512 columns) falls into a few L1 sets, so it would stream from L2 at every k. */
#define BIG_M 512
/* Products of up to this many multiply-adds run on sgemm_small (cl/blas/sgemm_small.cl, a kernel
 * of the main program): under 1 ms there, where the first
 * sgemm_tile costs about 2 s of compiling on PoCL with a cold cache (the ONNX classifier's dense
 * head: 48 s to a first result with CLBlast, 2 s of it sgemm_tile's). Decided by shape only, so a
 * shape gives the same bits cold or warm. */
#define SMALL_MNK ((size_t)1 << 20)
/* ... and, of those, the ones sgemm_small would run an element at a time anyway (op(B) = B^T, or
 * under 16 columns: no 16-column row of op(B) to load as a vector) with up to TINY_MN elements
 * of C (a work-item each) on sgemm_tiny, cheaper again to compile: a classifier's dense head
 * (the same bits: both sum each element over k in order, fma by fma). */
#define TINY_MN ((size_t)1 << 10)
/* sgemm_pack_b's loops a work-item (64 k x 64 columns in panels of W): transposed, 64 lanes x
 * (1 + 64 k); else 64 k x (1 + 64 / W panels x (1 + W lanes)) */
#define PACK_LOOPS(W) (64L * (1 + 64) + 64L * (1 + 64 / (W) * (1 + (W))) + 64 / (W) + 1)

/* The program's kernels, each created on its first use (clCreateKernel compiles on Rusticl). */
enum { K_PACK_B, K_TILE, K_COUNT };
static const char *const own_names[K_COUNT] = {"sgemm_pack_b", "sgemm_tile"};

typedef struct own_kernels {
    cl_kernel k[K_COUNT];
    cl_mem panels;        /* op(B) packed [ceil(N/64)][K][64], then op(A)^T's, grown on demand */
    size_t panels_floats; /* its size */
} own_kernels;

static void release_own(void *state) {
    own_kernels *k = state;
    for (int i = 0; i < K_COUNT; ++i)
        if (k->k[i]) clReleaseKernel(k->k[i]);
    if (k->panels) clReleaseMemObject(k->panels);
    memset(k, 0, sizeof *k);
}

/* The build's check: the program has the kernels (it creates none). */
static clrnn_status check_own(cl_program prog, void *user) {
    (void)user;
    return clrnn_program_has_kernels(prog, own_names, K_COUNT);
}

/* Kernel i of the program, created on first use (the context lock is held: one creator). */
static clrnn_status own_kernel(const clrnn_kept_program *kp, int i, cl_kernel *out) {
    own_kernels *ok = kp->state;
    if (!ok->k[i]) {
        cl_int err;
        cl_kernel k = clCreateKernel(kp->program, own_names[i], &err);
        if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateKernel", own_names[i]);
        ok->k[i] = k;
    }
    *out = ok->k[i];
    return CLRNN_OK;
}

int clrnn_gemm_own_selected(const clrnn_context *ctx, size_t m, size_t n, size_t k) {
    const char *env = getenv("CLRNN_GEMM");
    /* a device with a loop bound (ctx->loop_limit) always: these launches are split along K to fit
     * it, CLBlast's (which loop over K too) could not be */
    if (env && strcmp(env, "clblast") == 0 && ctx->loop_limit <= 0) return 0;
    const int wanted = (env && (strcmp(env, "own") == 0 || strcmp(env, "own-tiled") == 0)) ||
                       ctx->info.type == CLRNN_DEVICE_TYPE_CPU || ctx->loop_limit > 0;
    /* the kernels index rows, columns and k in int, and the panels hold ceil(N'/64)*64*K floats
     * (N' = m or n) */
    const size_t lim = (size_t)1 << 30;
    return wanted && m < lim && n < lim && k < lim && ((m > n ? m : n) / TILE_N + 1) * TILE_N <= SIZE_MAX / sizeof(float) / k;
}

/* The sgemm_small rule by shape alone (a shape gives the same bits cold or warm). */
static int small_product(const clrnn_context *ctx, size_t m, size_t n, size_t k) {
    const char *env = getenv("CLRNN_GEMM");
    /* on a software rasterizer (llvmpipe) every product: its compiler takes minutes for sgemm_tile;
     * so too under a loop bound set on any device (CLRNN_LOOP_LIMIT: the tests run llvmpipe's path) */
    const int small = m <= SMALL_MNK && n <= SMALL_MNK && m * n <= SMALL_MNK && m * n * k <= SMALL_MNK;
    return (small || clrnn_device_is_rasterizer(ctx) || ctx->loop_limit > 0) && !(env && !strcmp(env, "own-tiled"));
}

int clrnn_gemm_own_small(const clrnn_context *ctx, size_t m, size_t n, size_t k) {
    return clrnn_gemm_own_selected(ctx, m, n, k) && small_product(ctx, m, n, k);
}

/* Arguments through the library's one binder (core/launch.h); the kernels take int and ulong sizes. */
typedef clrnn_kargs kargs;
static void arg_int(kargs *a, size_t v) { clrnn_karg_int(a, (int)v); }
static void arg_ulong(kargs *a, size_t v) { clrnn_karg_ulong(a, (cl_ulong)v); }
static void arg_float(kargs *a, float v) { clrnn_karg_float(a, v); }
static void arg_mem(kargs *a, cl_mem m) { clrnn_karg_mem(a, m); }

/* g0 x g1 work-items of one each; `what` is the GEMM's line in the trace. */
static clrnn_status enqueue(clrnn_context *ctx, const kargs *a, const char *what, size_t g0, size_t g1) {
    const size_t global[2] = {g0, g1}, local[2] = {1, 1};
    return clrnn_enqueue(ctx, a, 2, global, local, what);
}

/* The panels buffer holds at least need floats (grown; its contents are not kept). */
static clrnn_status ensure_panels(clrnn_context *ctx, own_kernels *ok, size_t need) {
    if (need == 0 || ok->panels_floats >= need) return CLRNN_OK;
    if (ok->panels) clReleaseMemObject(ok->panels); /* freed once the commands using it are done */
    ok->panels = NULL;
    ok->panels_floats = 0;
    cl_int err;
    ok->panels = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, need * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        ok->panels = NULL;
        return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY
                   ? clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
                                "GEMM: %zu bytes for the packed operand panels (device out of memory)",
                                need * sizeof(float))
                   : clrnn_fail_cl(err, "clCreateBuffer", "the packed operand panels");
    }
    ok->panels_floats = need;
    return CLRNN_OK;
}

/* Whether untransposed B (k rows, n columns, ldb apart from element b_off) can be read in place
 * when n is not a multiple of the strip width: the kernel reads whole 32-column strips, so the
 * columns past n of a row (the next row's start, or padding) feed only accumulators that are never
 * stored; what has to hold is that the last row's last strip lies inside the buffer. */
static int b_panels_in_bounds(cl_mem b, size_t b_off, size_t k, size_t ldb, size_t n) {
    size_t bytes = 0;
    if (k == 0 || clGetMemObjectInfo(b, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS) return 0;
    const size_t last = b_off + (k - 1) * ldb + (n + STRIP - 1) / STRIP * STRIP;
    return last <= bytes / sizeof(float);
}

/* op(A)^T already in 8-row panels (sgemm_pack_b, W = TILE_M) from element `off` of the panels
 * buffer (clrnn_gemm_own_shared_at): the call packs its op(B) below y_cap, where they do not
 * overlap, and allocates nothing. */
typedef struct packed_x {
    size_t off, y_cap;
} packed_x;

/* The product's launch shape, decided by shape alone (the same bits cold or warm, shared or not). */
static int own_swap(int trans_a, int trans_b, size_t m, size_t n, size_t k, cl_mem b, size_t b_off, size_t ldb) {
    const int b_in_place = !trans_b && (n % STRIP == 0 || b_panels_in_bounds(b, b_off, k, ldb, n));
    const int a_t_in_place = trans_a && m % STRIP == 0;
    return !b_in_place && (a_t_in_place || m < n);
}

static clrnn_status own_run(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                            cl_mem c, size_t c_off, size_t ldc, const packed_x *pre);

clrnn_status clrnn_gemm_own(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                            cl_mem c, size_t c_off, size_t ldc) {
    return own_run(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc, NULL);
}

/* Whether part p of a shared product takes the path that packs op(A)^T (not swapped, BIG_M rows,
 * wide enough: own_run's pack_x), so that one packing serves every part. */
static int packs_a(const clrnn_context *ctx, size_t k, const clrnn_gemm_part *p) {
    return !small_product(ctx, p->m, p->n, k) && p->m0 % TILE_M == 0 && p->m >= BIG_M && p->n >= 2 * STRIP &&
           !own_swap(1, 0, p->m, p->n, k, p->b, p->b_off, p->ldb);
}

clrnn_status clrnn_gemm_own_shared_at(clrnn_context *ctx, size_t k, size_t m_all, cl_mem a, size_t a_off, size_t lda,
                                      const clrnn_gemm_part *parts, int n_parts) {
    int shared = k > 0 && n_parts > 1;
    size_t y_cap = 0;
    for (int i = 0; i < n_parts && shared; ++i) {
        shared = packs_a(ctx, k, &parts[i]) && parts[i].m0 + parts[i].m <= m_all;
        const size_t y = (parts[i].n + STRIP - 1) / STRIP * STRIP * k;
        if (y > y_cap) y_cap = y;
    }
    const size_t n_rb = (m_all + TILE_M - 1) / TILE_M;
    if (shared && n_rb * TILE_M > (SIZE_MAX / sizeof(float) - y_cap) / k) shared = 0;
    if (ctx->loop_limit > 0) shared = 0; /* own_run splits K to the loop bound; one packing serves no split */
    if (!shared) {
        clrnn_status st = CLRNN_OK;
        for (int i = 0; i < n_parts && st == CLRNN_OK; ++i) {
            const clrnn_gemm_part *p = &parts[i];
            st = own_run(ctx, 1, 0, p->m, p->n, k, 1.0f, a, a_off + p->m0, lda, p->b, p->b_off, p->ldb, p->beta, p->c,
                         p->c_off, p->ldc, NULL);
        }
        return st;
    }
    /* op(A)^T (A as stored: k rows of m_all) into 8-row panels once, after room for any part's op(B) */
    const clrnn_program_def def = {"the SGEMM kernels", "clrnn-sgemm-program-v2", clrnn_blas_sources,
                                   clrnn_blas_sources_count, 1, check_own};
    const clrnn_kept_program *kp;
    clrnn_status st = clrnn_program_kept(ctx, &def, sizeof(own_kernels), release_own, &kp);
    if (st != CLRNN_OK) return st;
    if ((st = ensure_panels(ctx, kp->state, y_cap + n_rb * TILE_M * k)) != CLRNN_OK) return st;
    char what[128];
    what[0] = '\0';
    if (clrnn_trace_on(ctx)) snprintf(what, sizeof what, "gemm pack op(A)^T M=%zu K=%zu (shared)", m_all, k);
    kargs p = clrnn_kargs_begin(NULL, "sgemm_pack_b");
    if ((st = own_kernel(kp, K_PACK_B, &p.k)) != CLRNN_OK) return st;
    arg_int(&p, k), arg_int(&p, m_all), arg_int(&p, 0), arg_mem(&p, a), arg_ulong(&p, a_off), arg_ulong(&p, lda),
        arg_mem(&p, ((own_kernels *)kp->state)->panels), arg_ulong(&p, y_cap), arg_int(&p, TILE_M);
    clrnn_karg_loops(&p, PACK_LOOPS(TILE_M));
    if ((st = enqueue(ctx, &p, what, (k + 63) / 64, (m_all + TILE_N - 1) / TILE_N)) != CLRNN_OK) return st;
    for (int i = 0; i < n_parts && st == CLRNN_OK; ++i) {
        const clrnn_gemm_part *q = &parts[i];
        const packed_x pre = {y_cap + q->m0 * k, y_cap}; /* row m0's panel: m0 / 8 panels of 8 k */
        st = own_run(ctx, 1, 0, q->m, q->n, k, 1.0f, a, a_off + q->m0, lda, q->b, q->b_off, q->ldb, q->beta, q->c,
                     q->c_off, q->ldc, &pre);
    }
    return st;
}

/* The product over all of k in one set of launches; *over = 1 (nothing enqueued but maybe a pack)
 * when its sgemm_small / sgemm_tiny / sgemm_tile launch would run more loop iterations a work-item
 * than ctx's bound (own_run then splits K). */
static clrnn_status own_range(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                              cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                              cl_mem c, size_t c_off, size_t ldc, const packed_x *pre, int *over);

/* K in chunks under the device's loop bound (ctx->loop_limit): C = alpha op(A) op(B) + beta C as
 * the first chunk, then C += alpha op(A)[:, k0..] op(B)[k0.., :] (beta = 1) per chunk; the chunk
 * is halved until the launches' declared loops fit. Without a bound: one range. */
static clrnn_status own_run(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                            cl_mem c, size_t c_off, size_t ldc, const packed_x *pre) {
    size_t kc = k;
    for (size_t k0 = 0; k0 < k || (k == 0 && k0 == 0);) {
        const size_t kn = k - k0 < kc ? k - k0 : kc;
        int over = 0;
        const clrnn_status st =
            own_range(ctx, trans_a, trans_b, m, n, kn, alpha, a, a_off + (trans_a ? k0 * lda : k0), lda, b,
                      b_off + (trans_b ? k0 : k0 * ldb), ldb, k0 ? 1.0f : beta, c, c_off, ldc, k0 ? NULL : pre, &over);
        if (st != CLRNN_OK) return st;
        if (!over) {
            if (k == 0) break;
            k0 += kn;
            continue;
        }
        if (pre || kn <= 1)
            return clrnn_fail(CLRNN_ERR_UNSUPPORTED,
                              "GEMM M=%zu N=%zu: not even a chunk of %zu of K=%zu fits the device's loop bound of %ld "
                              "iterations an invocation (CLRNN_LOOP_LIMIT)",
                              m, n, kn, k, ctx->loop_limit);
        kc = (kn + 1) / 2;
    }
    return CLRNN_OK;
}

static clrnn_status own_range(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                              cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                              cl_mem c, size_t c_off, size_t ldc, const packed_x *pre, int *over) {
    const clrnn_program_def def = {"the SGEMM kernels", "clrnn-sgemm-program-v2", clrnn_blas_sources,
                                   clrnn_blas_sources_count, 1, check_own};
    clrnn_status st;
    kargs t = clrnn_kargs_begin(NULL, "sgemm_small");
    char what[128];
    what[0] = '\0';
    if (clrnn_trace_on(ctx))
        snprintf(what, sizeof what, "gemm M=%zu N=%zu K=%zu ta=%d tb=%d", m, n, k, trans_a ? 1 : 0, trans_b ? 1 : 0);
    if (small_product(ctx, m, n, k)) {
        const int tiny = (trans_b || n < 16) && m * n <= TINY_MN;
        t.name = tiny ? "sgemm_tiny" : "sgemm_small";
        if ((st = clrnn_kernel_get(ctx, tiny ? CLRNN_K_sgemm_tiny : CLRNN_K_sgemm_small, &t.k)) != CLRNN_OK) return st;
        arg_int(&t, m), arg_int(&t, n), arg_int(&t, k), arg_float(&t, alpha), arg_mem(&t, a), arg_ulong(&t, a_off);
        arg_ulong(&t, trans_a ? 1 : lda), arg_ulong(&t, trans_a ? lda : 1), arg_mem(&t, b), arg_ulong(&t, b_off);
        arg_ulong(&t, trans_b ? 1 : ldb), arg_ulong(&t, trans_b ? ldb : 1), arg_float(&t, beta), arg_mem(&t, c);
        arg_ulong(&t, c_off), arg_ulong(&t, ldc);
        /* a work-item per 4 rows x 16 columns of C (sgemm_small.cl: SM_ROWS x SM_COLS), one a
         * work-group: each is explicitly vectorised; sgemm_tiny's, an element of C */
        const size_t global[2] = {tiny ? n : (n + 15) / 16, tiny ? m : (m + 3) / 4}, local[2] = {1, 1};
        /* loops: k (tiny; small's vector path), or 4 rows x 16 columns x k (small's element path:
         * op(B) = B^T or the last columns) */
        const long loops = tiny ? (long)k + 1 : 4 + 16 * 4 * ((long)k + 1) + 4;
        if (!clrnn_loop_fits(ctx, loops)) return *over = 1, CLRNN_OK;
        clrnn_karg_loops(&t, loops);
        return clrnn_enqueue(ctx, &t, 2, global, local, what);
    }
    const clrnn_kept_program *kp;
    st = clrnn_program_kept(ctx, &def, sizeof(own_kernels), release_own, &kp);
    if (st != CLRNN_OK) return st;
    own_kernels *ok = kp->state;
    /* The kernel's operands: X (M' x K, scalars) times Y (K x N', 32-column strips), into C or C^T.
     * op(Y)'s row k, columns s*32.. must be 32 contiguous floats in bounds: in place when Y is
     * stored K x N' with N' a multiple of 32 or the last row's last strip inside the buffer, else
     * packed (and always packed for BIG_M rows). If op(B) would be packed and op(A) is
     * smaller, compute C^T = op(B)^T op(A)^T: op(A)^T is what gets packed. */
    const int b_in_place = !trans_b && (n % STRIP == 0 || b_panels_in_bounds(b, b_off, k, ldb, n));
    const int swap = own_swap(trans_a, trans_b, m, n, k, b, b_off, ldb);
    const size_t M = swap ? n : m, N = swap ? m : n;
    cl_mem x = swap ? b : a, y = swap ? a : b;
    const size_t x_off = swap ? b_off : a_off, y_off = swap ? a_off : b_off;
    /* op(X)[i][p] = x[i*x_rs + p*x_ks]; Y is stored K x N' (y_trans = 0) or N' x K */
    const size_t x_rs = swap ? (trans_b ? ldb : 1) : (trans_a ? 1 : lda);
    const size_t x_ks = swap ? (trans_b ? 1 : ldb) : (trans_a ? lda : 1);
    const int y_trans = swap ? !trans_a : trans_b;
    const size_t ldy = swap ? lda : ldb;
    const size_t n_js = (N + STRIP - 1) / STRIP, n_rb = (M + TILE_M - 1) / TILE_M;
    const int big = !swap && M >= BIG_M;
    cl_mem ysrc = y, xsrc = x;
    size_t ysrc_off = y_off, y_js = STRIP, y_ks = ldy, xsrc_off = x_off, xsrc_rs = x_rs, xsrc_ks = x_ks;
    const int y_in_place = swap ? !y_trans && N % STRIP == 0 : b_in_place && !big;
    /* op(A) is packed too (8-row panels, see sgemm_tile) when its row scalars are far apart along
     * k (op(A) = A^T: lda floats a k, a new page each k for the weight gradients' dG^T) and there
     * are enough columns to repay the copy; the transposed product's X is never packed. */
    const size_t need_y = y_in_place ? 0 : n_js * STRIP * k;
    const int pack_x = !swap && trans_a && N >= 2 * STRIP && k > 0 &&
                       n_rb * TILE_M <= (SIZE_MAX / sizeof(float) - need_y) / k;
    if (pre && (!pack_x || need_y > pre->y_cap))
        return clrnn_fail(CLRNN_ERR_INTERNAL, "GEMM: a shared packed op(A)^T on a product that does not read it");
    const size_t need = pre ? 0 : need_y + (pack_x ? n_rb * TILE_M * k : 0);
    if ((st = ensure_panels(ctx, ok, need)) != CLRNN_OK) return st;
    if (!y_in_place) {
        kargs p = clrnn_kargs_begin(NULL, "sgemm_pack_b");
        if ((st = own_kernel(kp, K_PACK_B, &p.k)) != CLRNN_OK) return st;
        arg_int(&p, k), arg_int(&p, N), arg_int(&p, y_trans), arg_mem(&p, y), arg_ulong(&p, y_off),
            arg_ulong(&p, ldy), arg_mem(&p, ok->panels), arg_ulong(&p, 0), arg_int(&p, STRIP);
        clrnn_karg_loops(&p, PACK_LOOPS(STRIP));
        if ((st = enqueue(ctx, &p, what, (k + 63) / 64, (N + TILE_N - 1) / TILE_N)) != CLRNN_OK) return st;
        ysrc = ok->panels, ysrc_off = 0, y_js = STRIP * k, y_ks = STRIP;
    }
    if (pre) {
        xsrc = ok->panels, xsrc_off = pre->off, xsrc_rs = 1, xsrc_ks = TILE_M;
    } else if (pack_x) {
        /* op(A)^T is K x M: A stored K x M (trans_a) is its untransposed layout, A stored M x K its
         * transpose */
        kargs p = clrnn_kargs_begin(NULL, "sgemm_pack_b");
        if ((st = own_kernel(kp, K_PACK_B, &p.k)) != CLRNN_OK) return st;
        arg_int(&p, k), arg_int(&p, M), arg_int(&p, !trans_a), arg_mem(&p, x), arg_ulong(&p, x_off),
            arg_ulong(&p, lda), arg_mem(&p, ok->panels), arg_ulong(&p, need_y), arg_int(&p, TILE_M);
        clrnn_karg_loops(&p, PACK_LOOPS(TILE_M));
        if ((st = enqueue(ctx, &p, what, (k + 63) / 64, (M + TILE_N - 1) / TILE_N)) != CLRNN_OK) return st;
        xsrc = ok->panels, xsrc_off = need_y, xsrc_rs = 1, xsrc_ks = TILE_M;
    }
    const size_t xsrc_ps = pack_x ? TILE_M * k : TILE_M * xsrc_rs;

    size_t rb_per_item, strips_per_item = 1, groups, kc_block;
    if (big) {
        /* BLIS's blocking (its loops: k blocks of kc, op(A) blocks of mc rows in L2, micro-panels
         * of op(B) in L1) with work-items as the outer loops: a work-item is mc = 128 rows times
         * one or more 32-column strips, k in blocks of 256 (a strip's 256 x 32 block of packed
         * op(B), 32 KB, stays in L1 over the 16 row blocks; the 128 x 256 block of op(A), 128 KB,
         * in L2 over the work-item's strips). When K is short, op(A)'s 128 rows for all of K stay
         * in L2 from one work-item to the next (dimension 0, the strips, runs first): one strip
         * each, many work-items. When K is long (the weight gradients, K = T*N), neither operand
         * stays in L2 for all of K: op(A) streams once per strip group and op(B) once per row
         * group, so a work-item takes 256 rows (a 256 KB block of op(A) in L2) and as many strips
         * (at most 16: a 256 x 512 tile of C, rewritten each k block) as still leave two
         * work-items per compute unit. S3's dW (1536 x 512, K = 6400): op(A) read once and op(B)
         * 6 times, 117 MB, where 128 rows and ~64 work-items (3 strips each) read 393 MB; in one
         * process, alternated (load 4), CPU time per product -3 to -11 % for the S3 dW and dR and
         * the S1 dW shapes. The same sums in the same order: the split changes no bits. */
        kc_block = k < 256 ? k : 256;
        const int long_k = k > 2 * kc_block;
        const size_t rb_want = long_k ? 32 : 16;
        rb_per_item = n_rb < rb_want ? n_rb : rb_want;
        groups = (n_rb + rb_per_item - 1) / rb_per_item;
        if (long_k) {
            const size_t want = 2 * (ctx->info.compute_units > 0 ? (size_t)ctx->info.compute_units : 1);
            const size_t strip_groups = groups >= want ? 1 : (want + groups - 1) / groups;
            strips_per_item = (n_js + strip_groups - 1) / strip_groups;
            if (strips_per_item < 1) strips_per_item = 1;
            if (strips_per_item > 16) strips_per_item = 16;
        }
    } else {
        /* Enough work-items for the CPU's threads to balance (~32 for a few cores, under load), each
         * as many row blocks as that allows: a work-item reuses each kc_block x 32 block of its
         * strip across its row blocks. */
        groups = (32 + n_js - 1) / n_js;
        if (groups > n_rb) groups = n_rb;
        rb_per_item = (n_rb + groups - 1) / groups;
        groups = (n_rb + rb_per_item - 1) / rb_per_item;
        /* k blocks: 256 when C is small (the per-step products, M <= 256 rows): the strip's block,
         * 256 x 32 floats = 32 KB, and op(A)'s 8 x 256 stay in a 48 KB L1; 512 for a larger C,
         * which each block reads and writes once more (64 KB blocks, in L2). The transposed
         * product's stores are scalar, so there fewer passes over C weigh more still. Chosen by A/B
         * timings of the S1 shapes (clrnn-bench-gemm), not derived. */
        const size_t kc_want = swap ? 1024 : M <= 256 ? 256 : 512;
        kc_block = k < kc_want ? k : kc_want;
    }
    /* sgemm_tile's loops a work-item: per k block, per strip, per row block the block's k and the
     * 8 rows' 2 x 16-lane stores (store16 / store16_t) */
    const long n_kb = (long)((k + kc_block - 1) / (kc_block ? kc_block : 1));
    const long tile_loops = n_kb * (1 + (long)strips_per_item * (1 + (long)rb_per_item * (1 + 8 * 2 * 16))) +
                            (long)strips_per_item * (long)rb_per_item * (long)k;
    if (!clrnn_loop_fits(ctx, tile_loops)) return *over = 1, CLRNN_OK;
    t = clrnn_kargs_begin(NULL, "sgemm_tile");
    clrnn_karg_loops(&t, tile_loops);
    if ((st = own_kernel(kp, K_TILE, &t.k)) != CLRNN_OK) return st;
    arg_int(&t, M), arg_int(&t, N), arg_int(&t, k), arg_float(&t, alpha);
    arg_mem(&t, xsrc), arg_ulong(&t, xsrc_off), arg_ulong(&t, xsrc_rs), arg_ulong(&t, xsrc_ks), arg_ulong(&t, xsrc_ps);
    arg_mem(&t, ysrc), arg_ulong(&t, ysrc_off), arg_ulong(&t, y_js), arg_ulong(&t, y_ks);
    arg_float(&t, beta), arg_mem(&t, c), arg_ulong(&t, c_off), arg_ulong(&t, ldc);
    arg_int(&t, swap), arg_int(&t, kc_block), arg_int(&t, rb_per_item), arg_int(&t, strips_per_item);
    return enqueue(ctx, &t, what, (n_js + strips_per_item - 1) / strips_per_item, groups);
}
