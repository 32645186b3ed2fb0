/* GEMM through CLBlast (row-major), and the tuned CLBlast parameters applied with
 * CLBlastOverrideParameters when a context is created: the per-device file written by clrnn-tune
 * wins over the shipped table (gemm_tuned.h), kernel by kernel. Sources, file format, key and
 * failure rules: gemm_tuning.h; reading, checking and writing the sets: gemm_tuning.c. Here: the
 * locks around CLBlast, installing the sets, the GEMM calls. */
#include "gemm_tuning.h"
#include "gemm_own.h"
#include "core/launch.h"

#include <clblast_c.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static clrnn_status blas_fail(CLBlastStatusCode code, const char *call) {
    if (code == CLBlastOpenCLOutOfResources || code == CLBlastOpenCLOutOfHostMemory || code == CLBlastTempBufferAllocFailure)
        return clrnn_fail(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "%s: CLBlast status %d (device out of memory)", call, (int)code);
    if (code < 0 && code > -100) return clrnn_fail_cl((cl_int)code, call, "running CLBlast");
    return clrnn_fail(CLRNN_ERR_BLAS, "%s: CLBlast status %d", call, (int)code);
}

/* Serialising CLBlast where it must be. CLBlast 1.5.3's caches (programs per cl_context,
 * binaries per device, tuning databases per device) each sit behind a mutex, but a miss is not
 * atomic: two callers that miss the same entry both build it and both Store() it, and where
 * CLBlast is compiled as C++14 (its map-based cache, e.g. MSVC builds) the second Store throws
 * "object already in cache" and the GEMM fails (fixed upstream in 1.6.1). Misses were rare (the
 * first GEMM of a context); since clrnn_gemm_context_release clears the caches, every live
 * context misses right after each destroy, all at once. So, without serialising every GEMM
 * (which would make a compile on one context, ~1 s on a GPU, stall the GEMMs of all others):
 *   - a reader/writer gate (blas_mtx, blas_cnd): every CLBlast GEMM passes it shared
 *     (blas_call_begin/end), the cache clear and CLBlastOverrideParameters exclusively
 *     (blas_exclusive_enter/leave), which bumps blas_generation;
 *   - a context that has not run a routine (sgemm / sgemm_batched) since the last bump may
 *     build its program, so that call also holds compile_lock: builds never overlap, while GEMMs
 *     whose programs are cached (nothing can drop them while the gate is held shared) run in
 *     parallel as before. */
static mtx_t blas_mtx, compile_lock;
static cnd_t blas_cnd;
static int blas_readers, blas_writer, blas_writers_waiting;
static uint64_t blas_generation = 1; /* written only with the gate held exclusively */
static once_flag blas_once = ONCE_FLAG_INIT;
static void blas_init(void) {
    mtx_init(&blas_mtx, mtx_plain);
    mtx_init(&compile_lock, mtx_plain);
    cnd_init(&blas_cnd);
}

static void blas_exclusive_enter(void) {
    call_once(&blas_once, blas_init);
    mtx_lock(&blas_mtx);
    blas_writers_waiting++;
    while (blas_writer || blas_readers) cnd_wait(&blas_cnd, &blas_mtx);
    blas_writers_waiting--;
    blas_writer = 1;
    mtx_unlock(&blas_mtx);
}

static void blas_exclusive_leave(void) {
    mtx_lock(&blas_mtx);
    blas_generation++;
    blas_writer = 0;
    cnd_broadcast(&blas_cnd);
    mtx_unlock(&blas_mtx);
}

enum { BLAS_SGEMM = 0, BLAS_SGEMM_BATCHED = 1 };

/* Around one CLBlast GEMM on ctx (its lock held); returns whether compile_lock was taken. A
 * waiting writer goes first, so a stream of GEMMs cannot starve a destroy. */
static int blas_call_begin(clrnn_context *ctx, int routine) {
    call_once(&blas_once, blas_init);
    mtx_lock(&blas_mtx);
    while (blas_writer || blas_writers_waiting) cnd_wait(&blas_cnd, &blas_mtx);
    blas_readers++;
    const int may_build = ctx->blas_generation[routine] != blas_generation;
    mtx_unlock(&blas_mtx);
    atomic_store(&ctx->used_blas, 1);
    if (may_build) mtx_lock(&compile_lock);
    return may_build;
}

static void blas_call_end(clrnn_context *ctx, int routine, int may_build, int ok) {
    mtx_lock(&blas_mtx);
    if (may_build && ok) ctx->blas_generation[routine] = blas_generation;
    if (--blas_readers == 0) cnd_broadcast(&blas_cnd);
    mtx_unlock(&blas_mtx);
    if (may_build) mtx_unlock(&compile_lock);
}

/* ------------------------------------------------------------------------------------------
 * Applying (the sets themselves, the per-device file and the shipped table: gemm_tuning.c)
 * ---------------------------------------------------------------------------------------- */
static clrnn_status clrnn_tuning_install(cl_device_id device, const clrnn_clblast_params *p);

/* What this process last installed per (device, kernel): CLBlastOverrideParameters costs a few
 * milliseconds (it searches CLBlast's database), and every context on a device installs the same
 * sets, so a repeat is skipped. Only clrnn_tuning_override writes it. */
typedef struct applied_memo {
    cl_device_id device;
    char kernel[32];
    uint64_t hash;
    size_t gemmk; /* Xgemm's GEMMK (see clrnn_sgemm_batched) */
} applied_memo;
static applied_memo applied[32];
static mtx_t applied_lock;
static once_flag applied_once = ONCE_FLAG_INIT;
static void applied_init(void) { mtx_init(&applied_lock, mtx_plain); }

static uint64_t params_hash(const clrnn_clblast_params *p) {
    uint64_t h = clrnn_hash64(CLRNN_HASH_SEED, &p->count, sizeof p->count);
    for (size_t i = 0; i < p->count; ++i) {
        h = clrnn_hash64(h, p->names[i], strlen(p->names[i]) + 1);
        h = clrnn_hash64(h, &p->values[i], sizeof p->values[i]);
    }
    return h;
}

clrnn_status clrnn_tuning_override(cl_device_id device, const clrnn_clblast_params *p) {
    call_once(&applied_once, applied_init);
    const uint64_t h = params_hash(p);
    int slot = -1, free_slot = -1;
    mtx_lock(&applied_lock);
    for (int i = 0; i < 32; ++i) {
        if (applied[i].device == device && strcmp(applied[i].kernel, p->kernel) == 0) slot = i;
        if (!applied[i].device && free_slot < 0) free_slot = i;
    }
    const int same = slot >= 0 && applied[slot].hash == h;
    mtx_unlock(&applied_lock);
    if (same) return CLRNN_OK;
    clrnn_status st = clrnn_tuning_install(device, p);
    mtx_lock(&applied_lock);
    if (slot < 0) slot = free_slot;
    if (slot >= 0) {
        applied[slot].device = st == CLRNN_OK ? device : NULL;
        snprintf(applied[slot].kernel, sizeof applied[slot].kernel, "%s", p->kernel);
        applied[slot].hash = h;
        applied[slot].gemmk = clrnn_tuning_get(p, "GEMMK", 0);
    }
    mtx_unlock(&applied_lock);
    return st;
}

/* GEMMK of the Xgemm parameters this process installed for `device` (0 if none). */
static size_t xgemm_gemmk(cl_device_id device) {
    call_once(&applied_once, applied_init);
    size_t g = 0;
    mtx_lock(&applied_lock);
    for (int i = 0; i < 32; ++i)
        if (applied[i].device == device && strcmp(applied[i].kernel, "Xgemm") == 0) g = applied[i].gemmk;
    mtx_unlock(&applied_lock);
    return g;
}

static clrnn_status clrnn_tuning_install(cl_device_id device, const clrnn_clblast_params *p) {
    const char *names[CLRNN_TUNING_MAX_PARAMS];
    for (size_t i = 0; i < p->count; ++i) names[i] = p->names[i];
    blas_exclusive_enter(); /* a new database entry: programs are rebuilt */
    CLBlastStatusCode s = CLBlastOverrideParameters(device, p->kernel, CLBlastPrecisionSingle, p->count, names, p->values);
    blas_exclusive_leave();
    if (s != CLBlastSuccess)
        return clrnn_fail(CLRNN_ERR_BLAS, "CLBlastOverrideParameters(%s) failed with CLBlast status %d", p->kernel,
                          (int)s);
    return CLRNN_OK;
}

clrnn_status clrnn_gemm_apply_tuning_report(clrnn_context *ctx, clrnn_tuning_report *report) {
    static atomic_int warned_file, warned_set; /* clrnn_warn_once: one warning per kind */
    clrnn_tuning_report local;
    clrnn_tuning_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    clrnn_tuning_set file;
    memset(&file, 0, sizeof file);
    if (clrnn_tuning_context_path(ctx, r->path, sizeof r->path)) {
        clrnn_status st = clrnn_tuning_load(r->path, &ctx->info, &file);
        if (st == CLRNN_OK) {
            r->file_state = 1;
        } else if (st != CLRNN_ERR_NOT_FOUND) {
            r->file_state = -1;
            snprintf(r->warning, sizeof r->warning, "tuning file ignored, using the built-in parameters (%s)",
                     clrnn_last_error());
            clrnn_warn_once(&warned_file, r->warning);
        }
    } else {
        r->path[0] = '\0';
    }
    for (size_t k = 0; clrnn_tuning_kernels[k]; ++k) {
        const char *kernel = clrnn_tuning_kernels[k];
        clrnn_clblast_params p;
        clrnn_tuning_source src = CLRNN_TUNING_FROM_CLBLAST;
        const clrnn_clblast_params *fp = clrnn_tuning_find(&file, kernel);
        if (fp && clrnn_tuning_override(ctx->device, fp) == CLRNN_OK) {
            p = *fp;
            src = CLRNN_TUNING_FROM_FILE;
        } else {
            if (fp) {
                snprintf(r->warning, sizeof r->warning, "tuned %s parameters rejected by CLBlast (%s)", kernel,
                         clrnn_last_error());
                clrnn_warn_once(&warned_set, r->warning);
            }
            if (clrnn_tuning_shipped(&ctx->info, kernel, &p)) {
                if (clrnn_tuning_override(ctx->device, &p) == CLRNN_OK) {
                    src = CLRNN_TUNING_FROM_TABLE;
                } else {
                    snprintf(r->warning, sizeof r->warning, "built-in %s parameters rejected by CLBlast (%s)", kernel,
                             clrnn_last_error());
                    clrnn_warn_once(&warned_set, r->warning);
                }
            }
        }
        if (src != CLRNN_TUNING_FROM_CLBLAST && r->count < CLRNN_TUNING_MAX_KERNELS) {
            r->applied[r->count] = p;
            r->source[r->count++] = src;
        }
    }
    clrnn_clear_error();
    return CLRNN_OK;
}

clrnn_status clrnn_gemm_apply_tuning(clrnn_context *ctx) { return clrnn_gemm_apply_tuning_report(ctx, NULL); }

static clrnn_gemm_trace_fn trace_fn;
static void *trace_user;
static int trace_skip;

void clrnn_gemm_set_trace(clrnn_gemm_trace_fn fn, void *user, int skip) {
    trace_fn = fn;
    trace_user = user;
    trace_skip = skip;
}

/* ------------------------------------------------------------------------------------------
 * Operand checks. CLBlast's own buffer test computes (ld*(rows-1) + cols + off)*4 in size_t,
 * which wraps: an offset or leading dimension near 2^62 then passes it and the kernels read and
 * write at the wrapped address, before the buffer. So every operand is checked here first, in
 * overflow-safe arithmetic, for the public calls (the ONNX MatMul/Gemm come through them) and
 * the internal ones (the generic plan's input projection, the dense layer) alike.
 * ---------------------------------------------------------------------------------------- */
typedef struct gemm_operand {
    const char *name, *ld_name; /* "A", "lda" */
    cl_mem mem;
    size_t ld, rows, cols; /* as stored, row-major: a transposed operand stores op(X)^T */
    size_t floats;         /* CL_MEM_SIZE / 4 */
} gemm_operand;

/* The buffer itself: of ctx's OpenCL context, and a row stride of at least its row (BLAS). */
static clrnn_status check_buffer(const clrnn_context *ctx, const char *func, gemm_operand *op) {
    if (!op->mem) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: %s: NULL buffer", func, op->name);
    cl_context owner = NULL;
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(op->mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS) err = clGetMemObjectInfo(op->mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s: not a valid cl_mem (%s)", func, op->name,
                          clrnn_cl_error_name(err));
    if (owner != ctx->cl_ctx)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: %s: the buffer belongs to another OpenCL context than ctx's", func, op->name);
    if (op->ld < op->cols)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: %s: %s = %zu is smaller than the %zu columns it stores per row", func, op->name,
                          op->ld_name, op->ld, op->cols);
    op->floats = bytes / sizeof(float);
    return CLRNN_OK;
}

/* Elements [off, off + ld*(rows-1) + cols) must lie in the buffer; `item` is (size_t)-1 for a
 * single GEMM. */
static clrnn_status check_extent(const char *func, size_t item, const gemm_operand *op, size_t off) {
    char where[48] = "";
    if (item != (size_t)-1) snprintf(where, sizeof where, "item %zu: ", item);
    size_t end = 0;
    const int fits = clrnn_mul_size(op->ld, op->rows - 1, &end) && end <= SIZE_MAX - op->cols &&
                     (end += op->cols) <= SIZE_MAX - off && (end += off) <= SIZE_MAX / sizeof(float);
    if (!fits)
        return clrnn_fail(CLRNN_ERR_OVERFLOW,
                          "%s: %s%s: offset %zu + %s %zu x (%zu rows - 1) + %zu columns overflows a byte size", func,
                          where, op->name, off, op->ld_name, op->ld, op->rows, op->cols);
    if (end > op->floats)
        return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH,
                          "%s: %s%s: offset %zu + %s %zu x (%zu rows - 1) + %zu columns = %zu elements, the buffer "
                          "holds %zu",
                          func, where, op->name, off, op->ld_name, op->ld, op->rows, op->cols, end, op->floats);
    return CLRNN_OK;
}

/* Every check of a (batched) GEMM, before anything is enqueued: buffers, then each item's extents
 * in item order. batched = 0: one GEMM, offsets a_offs[0] etc. */
static clrnn_status check_gemm(const clrnn_context *ctx, const char *func, int batched, int trans_a, int trans_b,
                               size_t m, size_t n, size_t k, cl_mem a, const size_t *a_offs, size_t lda, cl_mem b,
                               const size_t *b_offs, size_t ldb, cl_mem c, const size_t *c_offs, size_t ldc,
                               size_t batch) {
    if (m == 0 || n == 0 || k == 0)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: zero dimension (m = %zu, n = %zu, k = %zu)", func, m, n, k);
    gemm_operand ops[3] = {
        {"A", "lda", a, lda, trans_a ? k : m, trans_a ? m : k, 0},
        {"B", "ldb", b, ldb, trans_b ? n : k, trans_b ? k : n, 0},
        {"C", "ldc", c, ldc, m, n, 0},
    };
    const size_t *offs[3] = {a_offs, b_offs, c_offs};
    clrnn_status st;
    for (int i = 0; i < 3; ++i)
        if ((st = check_buffer(ctx, func, &ops[i])) != CLRNN_OK) return st;
    for (size_t item = 0; item < batch; ++item)
        for (int i = 0; i < 3; ++i)
            if ((st = check_extent(func, batched ? item : (size_t)-1, &ops[i], offs[i][item])) != CLRNN_OK) return st;
    return CLRNN_OK;
}

/* The trace of one CLBlast call (CLRNN_VERBOSE, core/launch.h): its exec line from the event it
 * returned and, when the call may have compiled CLBlast's program (the context's first of the
 * routine), a build line with the call's host time. */
static void trace_blas(clrnn_context *ctx, const char *name, int may_build, double t0, int trans_a, int trans_b,
                       size_t m, size_t n, size_t k, size_t batch, cl_event ev) {
    if (may_build) clrnn_trace_host(ctx, CLRNN_TRACE_BUILD, name, "first_call", clrnn_now_ms() - t0);
    char what[160];
    snprintf(what, sizeof what, "gemm M=%zu N=%zu K=%zu ta=%d tb=%d batch=%zu", m, n, k, trans_a ? 1 : 0,
             trans_b ? 1 : 0, batch);
    clrnn_trace_event(ctx, name, what, ev);
}

/* One GEMM on checked operands, the context lock held: clrnn's own SGEMM where selected (CPU
 * devices, CLRNN_GEMM; gemm_own.c), else CLBlast. */
static clrnn_status run_sgemm(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                              cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                              cl_mem c, size_t c_off, size_t ldc) {
    if (trace_fn) {
        trace_fn(trace_user, trans_a, trans_b, m, n, k, 1);
        if (trace_skip) return CLRNN_OK;
    }
    if (clrnn_gemm_own_selected(ctx, m, n, k))
        return clrnn_gemm_own(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
    const int building = blas_call_begin(ctx, BLAS_SGEMM);
    const int traced = clrnn_trace_on(ctx);
    cl_event ev = NULL;
    const double t0 = traced ? clrnn_now_ms() : 0;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                                       lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, traced ? &ev : NULL);
    blas_call_end(ctx, BLAS_SGEMM, building, s == CLBlastSuccess);
    if (traced) trace_blas(ctx, "clblast_sgemm", building, t0, trans_a, trans_b, m, n, k, 1, s == CLBlastSuccess ? ev : NULL);
    return s == CLBlastSuccess ? CLRNN_OK : blas_fail(s, "CLBlastSgemm");
}

clrnn_status clrnn_sgemm_locked(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                                size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    clrnn_status st = check_gemm(ctx, "GEMM", 0, trans_a, trans_b, m, n, k, a, &a_off, lda, b, &b_off, ldb, c, &c_off,
                                 ldc, 1);
    if (st != CLRNN_OK) return st;
    return run_sgemm(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
}

clrnn_status clrnn_sgemm_shared_at_locked(clrnn_context *ctx, size_t k, size_t m_all, cl_mem a, size_t a_off,
                                          size_t lda, const clrnn_gemm_part *parts, int n_parts) {
    int own = !trace_fn;
    for (int i = 0; i < n_parts && own; ++i) {
        const clrnn_gemm_part *p = &parts[i];
        own = p->m0 + p->m <= m_all && clrnn_gemm_own_selected(ctx, p->m, p->n, k);
    }
    clrnn_status st = CLRNN_OK;
    if (!own) {
        for (int i = 0; i < n_parts && st == CLRNN_OK; ++i) {
            const clrnn_gemm_part *p = &parts[i];
            st = clrnn_sgemm_locked(ctx, 1, 0, p->m, p->n, k, 1.0f, a, a_off + p->m0, lda, p->b, p->b_off, p->ldb,
                                    p->beta, p->c, p->c_off, p->ldc);
        }
        return st;
    }
    /* the checks clrnn_sgemm_locked makes, part by part, before anything is queued */
    for (int i = 0; i < n_parts && st == CLRNN_OK; ++i) {
        const clrnn_gemm_part *p = &parts[i];
        const size_t a_o = a_off + p->m0;
        st = check_gemm(ctx, "GEMM", 0, 1, 0, p->m, p->n, k, a, &a_o, lda, p->b, &p->b_off, p->ldb, p->c, &p->c_off,
                        p->ldc, 1);
    }
    return st != CLRNN_OK ? st : clrnn_gemm_own_shared_at(ctx, k, m_all, a, a_off, lda, parts, n_parts);
}

clrnn_status clrnn_sgemm(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                         cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c,
                         size_t c_off, size_t ldc) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_context(ctx, "clrnn_sgemm"); /* NULL, destroyed or foreign */
    if (st != CLRNN_OK) return st;
    if (!a || !b || !c)
        return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_sgemm: NULL buffer (%s is NULL)", !a ? "A" : !b ? "B" : "C");
    st = check_gemm(ctx, "clrnn_sgemm", 0, trans_a, trans_b, m, n, k, a, &a_off, lda, b, &b_off, ldb, c, &c_off, ldc, 1);
    if (st != CLRNN_OK) return st;
    mtx_lock(&ctx->lock);
    st = run_sgemm(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
    mtx_unlock(&ctx->lock);
    return st;
}

clrnn_status clrnn_sgemm_batched(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                 const float *alphas, cl_mem a, const size_t *a_offs, size_t lda, cl_mem b,
                                 const size_t *b_offs, size_t ldb, const float *betas, cl_mem c, const size_t *c_offs,
                                 size_t ldc, size_t batch) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_context(ctx, "clrnn_sgemm_batched");
    if (st != CLRNN_OK) return st;
    if (!a || !b || !c || !alphas || !betas || !a_offs || !b_offs || !c_offs)
        return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_sgemm_batched: NULL argument (%s is NULL)",
                          !a ? "A" : !b ? "B" : !c ? "C" : !alphas ? "alphas" : !betas ? "betas"
                          : !a_offs ? "a_offs" : !b_offs ? "b_offs" : "c_offs");
    if (batch == 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_sgemm_batched: batch is 0");
    st = check_gemm(ctx, "clrnn_sgemm_batched", 1, trans_a, trans_b, m, n, k, a, a_offs, lda, b, b_offs, ldb, c, c_offs,
                    ldc, batch);
    if (st != CLRNN_OK) return st;
    if (trace_fn) {
        trace_fn(trace_user, trans_a, trans_b, m, n, k, batch);
        if (trace_skip) return CLRNN_OK;
    }
    mtx_lock(&ctx->lock);
    if (xgemm_gemmk(ctx->device) == 1 || ctx->loop_limit > 0) {
        /* CLBlast 1.5.3's batched GEMM computes wrong results with GEMMK=1 parameters installed
         * (its batched kernels follow GEMMK=0's layouts); on a device with a loop bound its K loop
         * would end early (ctx->loop_limit; run_sgemm splits K): one GEMM per item instead */
        for (size_t i = 0; i < batch && st == CLRNN_OK; ++i)
            st = run_sgemm(ctx, trans_a, trans_b, m, n, k, alphas[i], a, a_offs[i], lda, b, b_offs[i], ldb, betas[i], c,
                           c_offs[i], ldc);
        mtx_unlock(&ctx->lock);
        return st;
    }
    const int building = blas_call_begin(ctx, BLAS_SGEMM_BATCHED);
    const int traced = clrnn_trace_on(ctx);
    cl_event ev = NULL;
    const double t0 = traced ? clrnn_now_ms() : 0;
    CLBlastStatusCode s = CLBlastSgemmBatched(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                              trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alphas, a,
                                              a_offs, lda, b, b_offs, ldb, betas, c, c_offs, ldc, batch, &ctx->queue,
                                              traced ? &ev : NULL);
    blas_call_end(ctx, BLAS_SGEMM_BATCHED, building, s == CLBlastSuccess);
    if (traced)
        trace_blas(ctx, "clblast_sgemm_batched", building, t0, trans_a, trans_b, m, n, k, batch,
                   s == CLBlastSuccess ? ev : NULL);
    mtx_unlock(&ctx->lock);
    return s == CLBlastSuccess ? CLRNN_OK : blas_fail(s, "CLBlastSgemmBatched");
}

/* CLBlast caches a cl_program per (cl_context, device, routine) in a process-wide map for the
 * life of the process; each program retains its cl_context, so a destroyed context that had run
 * a GEMM stayed alive with its driver context and compiled kernels (~7 MB on PoCL), reachable
 * and hence invisible to LeakSanitizer. CLBlast 1.5.3 has no call that drops one context's
 * entries (Remove/RemoveBySubset are internal), only CLBlastClearCache(), which drops every
 * program and binary of the process (not the tuning databases that clrnn_gemm_apply_tuning
 * installed). So it is called when a context that used CLBlast goes. It is safe while other
 * contexts run GEMMs: the exclusive gate waits for the GEMMs in flight, and CLBlast hands out
 * programs as shared_ptr copies. What it costs: each other live context rebuilds its GEMM
 * programs on its next call (~80 ms on PoCL, which caches builds on disk; an application's own
 * CLBlast calls too), one build at a time under compile_lock. */
void clrnn_gemm_context_release(clrnn_context *ctx) {
    if (!atomic_load(&ctx->used_blas)) return;
    blas_exclusive_enter();
    CLBlastClearCache();
    blas_exclusive_leave();
}
