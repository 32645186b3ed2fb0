/* clrnn's own SGEMM for CPU devices: cl/blas/sgemm.cl's register-tiled micro-kernel (8 x 32 tiles
 * of C over 64-column panels of op(B)), as its own program built on first use and kept with the
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

/* TILE_N: op(B)'s panel width; a work-item's tile of C is TILE_M rows x TILE_NH columns (half a panel) */
enum { TILE_M = 8, TILE_N = 64, TILE_NH = 32 };
/* Products of up to this many multiply-adds run on sgemm_small (cl/blas/sgemm_small.cl, a kernel
 * of the main program): under 1 ms there, where the first
 * sgemm_tile costs about 2 s of compiling on PoCL with a cold cache (the ONNX classifier's dense
 * head: 48 s to a first result with CLBlast, 2 s of it sgemm_tile's). Decided by shape only, so a
 * shape gives the same bits cold or warm. */
#define SMALL_MNK ((size_t)1 << 20)

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
    if (env && strcmp(env, "clblast") == 0) return 0;
    const int wanted = (env && (strcmp(env, "own") == 0 || strcmp(env, "own-tiled") == 0)) || ctx->info.type == CLRNN_DEVICE_TYPE_CPU;
    /* the kernels index rows, columns and k in int, and the panels hold ceil(N'/64)*64*K floats
     * (N' = m or n) */
    const size_t lim = (size_t)1 << 30;
    return wanted && m < lim && n < lim && k < lim && ((m > n ? m : n) / TILE_N + 1) * TILE_N <= SIZE_MAX / sizeof(float) / k;
}

/* The sgemm_small rule by shape alone (a shape gives the same bits cold or warm). */
static int small_product(size_t m, size_t n, size_t k) {
    const char *env = getenv("CLRNN_GEMM");
    return m <= SMALL_MNK && n <= SMALL_MNK && m * n <= SMALL_MNK && m * n * k <= SMALL_MNK &&
           !(env && !strcmp(env, "own-tiled"));
}

int clrnn_gemm_own_small(const clrnn_context *ctx, size_t m, size_t n, size_t k) {
    return clrnn_gemm_own_selected(ctx, m, n, k) && small_product(m, n, k);
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

/* Whether untransposed B (k rows, n columns, ldb apart from element b_off) can be read in place
 * when n is not a multiple of the panel width: the kernel reads whole 64-column panels, so the
 * columns past n of a row (the next row's start, or padding) feed only accumulators that are never
 * stored; what has to hold is that the last row's last panel lies inside the buffer. */
static int b_panels_in_bounds(cl_mem b, size_t b_off, size_t k, size_t ldb, size_t n) {
    size_t bytes = 0;
    if (k == 0 || clGetMemObjectInfo(b, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS) return 0;
    const size_t last = b_off + (k - 1) * ldb + (n + TILE_N - 1) / TILE_N * TILE_N;
    return last <= bytes / sizeof(float);
}

clrnn_status clrnn_gemm_own(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                            cl_mem c, size_t c_off, size_t ldc) {
    const clrnn_program_def def = {"the SGEMM kernels", "clrnn-sgemm-program-v1", clrnn_blas_sources,
                                   clrnn_blas_sources_count, 1, check_own};
    clrnn_status st;
    kargs t = clrnn_kargs_begin(NULL, "sgemm_small");
    char what[128];
    what[0] = '\0';
    if (clrnn_trace_on(ctx))
        snprintf(what, sizeof what, "gemm M=%zu N=%zu K=%zu ta=%d tb=%d", m, n, k, trans_a ? 1 : 0, trans_b ? 1 : 0);
    if (small_product(m, n, k)) {
        if ((st = clrnn_kernel_get(ctx, CLRNN_K_sgemm_small, &t.k)) != CLRNN_OK) return st;
        arg_int(&t, m), arg_int(&t, n), arg_int(&t, k), arg_float(&t, alpha), arg_mem(&t, a), arg_ulong(&t, a_off);
        arg_ulong(&t, trans_a ? 1 : lda), arg_ulong(&t, trans_a ? lda : 1), arg_mem(&t, b), arg_ulong(&t, b_off);
        arg_ulong(&t, trans_b ? 1 : ldb), arg_ulong(&t, trans_b ? ldb : 1), arg_float(&t, beta), arg_mem(&t, c);
        arg_ulong(&t, c_off), arg_ulong(&t, ldc);
        /* a work-item per 4 rows x 16 columns of C (sgemm_small.cl: SM_ROWS x SM_COLS), one a
         * work-group: each is explicitly vectorised */
        const size_t global[2] = {(n + 15) / 16, (m + 3) / 4}, local[2] = {1, 1};
        return clrnn_enqueue(ctx, &t, 2, global, local, what);
    }
    const clrnn_kept_program *kp;
    st = clrnn_program_kept(ctx, &def, sizeof(own_kernels), release_own, &kp);
    if (st != CLRNN_OK) return st;
    own_kernels *ok = kp->state;
    /* The kernel's operands: X (M' x K, scalars) times Y (K x N', 64-column panels), into C or C^T.
     * op(Y)'s row k, columns jb*64.. must be 64 contiguous floats in bounds: in place when Y is
     * stored K x N' with N' a multiple of 64 or the last row's last panel inside the buffer, else
     * packed. If op(B) would be packed and op(A) is
     * smaller, compute C^T = op(B)^T op(A)^T: op(A)^T is what gets packed. */
    const int b_in_place = !trans_b && (n % TILE_N == 0 || b_panels_in_bounds(b, b_off, k, ldb, n));
    const int a_t_in_place = trans_a && m % TILE_N == 0;
    const int swap = !b_in_place && (a_t_in_place || m < n);
    const size_t M = swap ? n : m, N = swap ? m : n;
    cl_mem x = swap ? b : a, y = swap ? a : b;
    const size_t x_off = swap ? b_off : a_off, y_off = swap ? a_off : b_off;
    /* op(X)[i][p] = x[i*x_rs + p*x_ks]; Y is stored K x N' (y_trans = 0) or N' x K */
    const size_t x_rs = swap ? (trans_b ? ldb : 1) : (trans_a ? 1 : lda);
    const size_t x_ks = swap ? (trans_b ? 1 : ldb) : (trans_a ? lda : 1);
    const int y_trans = swap ? !trans_a : trans_b;
    const size_t ldy = swap ? lda : ldb;
    const size_t n_jb = (N + TILE_N - 1) / TILE_N, n_rb = (M + TILE_M - 1) / TILE_M;
    cl_mem ysrc = y, xsrc = x;
    size_t ysrc_off = y_off, y_js = TILE_N, y_ks = ldy, xsrc_off = x_off, xsrc_rs = x_rs, xsrc_ks = x_ks;
    const int y_in_place = swap ? !y_trans && N % TILE_N == 0 : b_in_place;
    /* op(A) is packed too (64-row panels, see sgemm_tile) when its row scalars are far apart along
     * k (op(A) = A^T: lda floats a k, a new page each k for the weight gradients' dG^T) and there
     * are enough columns to repay the copy; the transposed product's X is never packed. */
    const size_t need_y = y_in_place ? 0 : n_jb * TILE_N * k, n_ib = (M + TILE_N - 1) / TILE_N;
    const int pack_x = !swap && trans_a && N >= 2 * TILE_N && k > 0 &&
                       n_ib * TILE_N <= (SIZE_MAX / sizeof(float) - need_y) / k;
    const size_t need = need_y + (pack_x ? n_ib * TILE_N * k : 0);
    if (need > 0 && ok->panels_floats < need) {
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
    }
    if (!y_in_place) {
        kargs p = clrnn_kargs_begin(NULL, "sgemm_pack_b");
        if ((st = own_kernel(kp, K_PACK_B, &p.k)) != CLRNN_OK) return st;
        arg_int(&p, k), arg_int(&p, N), arg_int(&p, y_trans), arg_mem(&p, y), arg_ulong(&p, y_off),
            arg_ulong(&p, ldy), arg_mem(&p, ok->panels), arg_ulong(&p, 0);
        if ((st = enqueue(ctx, &p, what, (k + 15) / 16, n_jb)) != CLRNN_OK) return st;
        ysrc = ok->panels, ysrc_off = 0, y_js = TILE_N * k, y_ks = TILE_N;
    }
    if (pack_x) {
        /* op(A)^T is K x M: A stored K x M (trans_a) is its untransposed layout, A stored M x K its
         * transpose */
        kargs p = clrnn_kargs_begin(NULL, "sgemm_pack_b");
        if ((st = own_kernel(kp, K_PACK_B, &p.k)) != CLRNN_OK) return st;
        arg_int(&p, k), arg_int(&p, M), arg_int(&p, !trans_a), arg_mem(&p, x), arg_ulong(&p, x_off),
            arg_ulong(&p, lda), arg_mem(&p, ok->panels), arg_ulong(&p, need_y);
        if ((st = enqueue(ctx, &p, what, (k + 15) / 16, n_ib)) != CLRNN_OK) return st;
        xsrc = ok->panels, xsrc_off = need_y, xsrc_rs = 1, xsrc_ks = TILE_N;
    }
    const size_t xsrc_ps = pack_x ? TILE_N * k : TILE_N * xsrc_rs;

    /* Enough work-items for the CPU's threads to balance (~32 for a few cores, under load), each
     * as many row blocks as that allows: a work-item reuses each kc_block x 32 block of its half
     * panel across its row blocks. */
    const size_t n_jh = (N + TILE_NH - 1) / TILE_NH;
    size_t groups = (32 + n_jh - 1) / n_jh;
    if (groups > n_rb) groups = n_rb;
    const size_t rb_per_item = (n_rb + groups - 1) / groups;
    groups = (n_rb + rb_per_item - 1) / rb_per_item;
    /* k blocks: 256 when C is small (the per-step products, M <= 256 rows): the half-panel block,
     * 256 x 32 floats = 32 KB, and op(A)'s 8 x 256 stay in a 48 KB L1; 512 for a large C, which
     * each block reads and writes once more (64 KB blocks, in L2). The transposed product's stores
     * are scalar, so there fewer passes over C weigh more still. Chosen by A/B timings of the S1
     * shapes (clrnn-bench-gemm), not derived. */
    const size_t kc_want = swap ? 1024 : M <= 256 ? 256 : 512, kc_block = k < kc_want ? k : kc_want;
    t = clrnn_kargs_begin(NULL, "sgemm_tile");
    if ((st = own_kernel(kp, K_TILE, &t.k)) != CLRNN_OK) return st;
    arg_int(&t, M), arg_int(&t, N), arg_int(&t, k), arg_float(&t, alpha);
    arg_mem(&t, xsrc), arg_ulong(&t, xsrc_off), arg_ulong(&t, xsrc_rs), arg_ulong(&t, xsrc_ks), arg_ulong(&t, xsrc_ps);
    arg_mem(&t, ysrc), arg_ulong(&t, ysrc_off), arg_ulong(&t, y_js), arg_ulong(&t, y_ks);
    arg_float(&t, beta), arg_mem(&t, c), arg_ulong(&t, c_off), arg_ulong(&t, ldc);
    arg_int(&t, swap), arg_int(&t, kc_block), arg_int(&t, rb_per_item);
    return enqueue(ctx, &t, what, n_jh, groups);
}
