/* Contexts: open a device by spec (or adopt an application's OpenCL objects), record its
 * capabilities, build the kernels, apply tuned GEMM parameters. */
#include "internal.h"
#include "core/launch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Registry of live handles: an open-addressing hash set of (key, kind, id), linear probing with
 * backward-shift deletion, behind one lock. Lookups never dereference the pointer.
 * The key is the pointer XOR a constant: a table of plain pointers would keep every registered
 * object reachable for LeakSanitizer (and valgrind), hiding an application's leaked handles.
 * ---------------------------------------------------------------------------------------- */
typedef struct handle_entry {
    uintptr_t key; /* disguise(obj); 0 = empty slot */
    uint64_t id;
    int kind;
} handle_entry;

static once_flag locks_once = ONCE_FLAG_INIT;
static mtx_t registry_lock;
static handle_entry *registry;
static size_t registry_cap, registry_used;
static uint64_t registry_next_id = 1;

static void locks_init(void) {
    mtx_init(&registry_lock, mtx_plain);
}

static uintptr_t disguise(const void *obj) { return (uintptr_t)obj ^ (uintptr_t)0xa5c3e1f00f1e3c5bULL; }

static size_t registry_slot(uintptr_t key, size_t cap) {
    uint64_t x = (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* Index of the key in the table, or (size_t)-1. Lock held. */
static size_t registry_find(uintptr_t key) {
    if (!registry || key == 0) return (size_t)-1;
    for (size_t i = registry_slot(key, registry_cap);; i = (i + 1) & (registry_cap - 1)) {
        if (registry[i].key == key) return i;
        if (registry[i].key == 0) return (size_t)-1;
    }
}

static int registry_grow(void) {
    const size_t cap = registry_cap ? registry_cap * 2 : 64;
    handle_entry *t = calloc(cap, sizeof *t);
    if (!t) return 0;
    for (size_t i = 0; i < registry_cap; ++i)
        if (registry[i].key) {
            size_t j = registry_slot(registry[i].key, cap);
            while (t[j].key) j = (j + 1) & (cap - 1);
            t[j] = registry[i];
        }
    free(registry);
    registry = t;
    registry_cap = cap;
    return 1;
}

uint64_t clrnn_handle_register(const void *obj, clrnn_handle_kind kind) {
    call_once(&locks_once, locks_init);
    const uintptr_t key = disguise(obj);
    uint64_t id = 0;
    mtx_lock(&registry_lock);
    if (obj && key && registry_find(key) == (size_t)-1 &&
        ((registry_used + 1) * 2 <= registry_cap || registry_grow())) {
        size_t i = registry_slot(key, registry_cap);
        while (registry[i].key) i = (i + 1) & (registry_cap - 1);
        id = registry_next_id++;
        registry[i] = (handle_entry){key, id, (int)kind};
        registry_used++;
    }
    mtx_unlock(&registry_lock);
    return id;
}

int clrnn_handle_unregister(const void *obj, clrnn_handle_kind kind) {
    call_once(&locks_once, locks_init);
    mtx_lock(&registry_lock);
    size_t i = registry_find(disguise(obj));
    const int found = i != (size_t)-1 && registry[i].kind == (int)kind;
    if (found) {
        /* backward-shift deletion keeps every probe chain unbroken without tombstones */
        registry[i].key = 0;
        for (size_t j = (i + 1) & (registry_cap - 1); registry[j].key; j = (j + 1) & (registry_cap - 1)) {
            const size_t k = registry_slot(registry[j].key, registry_cap);
            const int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (stays) continue;
            registry[i] = registry[j];
            registry[j].key = 0;
            i = j;
        }
        if (--registry_used == 0) {
            free(registry);
            registry = NULL;
            registry_cap = 0;
        }
    }
    mtx_unlock(&registry_lock);
    return found;
}

/* Id and kind of obj (0, 0 when not live). */
static uint64_t handle_lookup(const void *obj, int *kind) {
    call_once(&locks_once, locks_init);
    mtx_lock(&registry_lock);
    size_t i = registry_find(disguise(obj));
    uint64_t id = i == (size_t)-1 ? 0 : registry[i].id;
    *kind = i == (size_t)-1 ? 0 : registry[i].kind;
    mtx_unlock(&registry_lock);
    return id;
}

uint64_t clrnn_handle_id(const void *obj, clrnn_handle_kind kind) {
    int k = 0;
    uint64_t id = obj ? handle_lookup(obj, &k) : 0;
    return k == (int)kind ? id : 0;
}

static const char *kind_name(int kind) {
    return kind == CLRNN_HANDLE_CONTEXT ? "clrnn_context"
           : kind == CLRNN_HANDLE_RNN   ? "clrnn_rnn"
           : kind == CLRNN_HANDLE_MODEL ? "clrnn_model"
           : kind == CLRNN_HANDLE_OPTIMIZER ? "clrnn_optimizer"
           : kind == CLRNN_HANDLE_EMBEDDING ? "clrnn_embedding"
                                        : "?";
}

clrnn_status clrnn_check_handle(const void *obj, clrnn_handle_kind kind, const char *func, const char *arg) {
    if (!obj) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "%s: %s is NULL", func, arg);
    int k = 0;
    handle_lookup(obj, &k);
    if (k == (int)kind) return CLRNN_OK;
    if (k != 0)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "%s: %s %p is a %s, not a %s", func, arg, obj, kind_name(k),
                          kind_name((int)kind));
    return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                      "%s: %s %p is not a live %s (already destroyed, or not created by clrnn)", func, arg, obj,
                      kind_name((int)kind));
}

clrnn_status clrnn_check_context(const clrnn_context *ctx, const char *func) {
    return clrnn_check_handle(ctx, CLRNN_HANDLE_CONTEXT, func, "ctx");
}

clrnn_status clrnn_check_rnn(const clrnn_rnn *rnn, const char *func) {
    clrnn_status st = clrnn_check_handle(rnn, CLRNN_HANDLE_RNN, func, "rnn");
    if (st != CLRNN_OK) return st;
    if (clrnn_handle_id(rnn->ctx, CLRNN_HANDLE_CONTEXT) != rnn->ctx_id)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT,
                          "%s: the context of rnn %p has been destroyed (destroy every rnn before its context)", func,
                          (const void *)rnn);
    return CLRNN_OK;
}

clrnn_context_params clrnn_context_default_params(void) {
    clrnn_context_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static void context_free(clrnn_context *ctx);

/* Mesa's software rasterizers (gallivm: llvmpipe under Rusticl) count the loop iterations of one
 * kernel invocation in one counter shared by every loop (LP_MAX_TGSI_LOOP_ITERATIONS = 65535) and,
 * once it is spent, end every loop after its current iteration: wrong numbers, no error.
 * CLRNN_LOOP_LIMIT=<n> sets a bound on any device (tests run the split launches on PoCL with a
 * small one; 0: none, also on a rasterizer). */
void clrnn_loop_limit_init(clrnn_context *ctx) {
    const char *env = getenv("CLRNN_LOOP_LIMIT");
    long limit = clrnn_device_is_rasterizer(ctx) ? 65535 : 0;
    if (env && *env) limit = atol(env) > 0 ? atol(env) : 0;
    ctx->loop_limit = limit;
    ctx->loop_budget = limit / 4 * 3;
    ctx->loop_most = 0;
}

static clrnn_status finish_init(clrnn_context *ctx, const clrnn_context_params *params) {
    clrnn_status st = clrnn_query_device_info(ctx->platform, ctx->device, &ctx->info);
    if (st != CLRNN_OK) return st;
    if (mtx_init(&ctx->lock, mtx_plain) != thrd_success) return clrnn_fail(CLRNN_ERR_INTERNAL, "mtx_init failed");
    ctx->lock_ready = 1;
    clrnn_loop_limit_init(ctx);
    /* one program build or binary load at a time per process (clrnn_program_get) */
    st = clrnn_program_init(ctx, params ? params->cache_dir : NULL, params ? params->disable_cache : 0);
    if (st != CLRNN_OK) return st;
    /* CLRNN_LOOP_PROBE=1 (and no CLRNN_LOOP_LIMIT): the bound measured on this device, not named */
    const char *probe = getenv("CLRNN_LOOP_PROBE"), *limit = getenv("CLRNN_LOOP_LIMIT");
    if (probe && !strcmp(probe, "1") && !(limit && *limit)) {
        long ran = -1;
        if ((st = clrnn_loop_probe(ctx, CLRNN_LOOP_PROBE_N, &ran)) != CLRNN_OK) return st;
        if (ran >= 0 && ran < CLRNN_LOOP_PROBE_N) ctx->loop_limit = ran, ctx->loop_budget = ran / 4 * 3;
    }
    if (!(params && params->disable_tuning)) st = clrnn_gemm_apply_tuning(ctx);
    return st;
}

clrnn_status clrnn_context_create(const clrnn_context_params *params, clrnn_context **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create: out is NULL");
    *out = NULL;
    const char *spec = params && params->device ? params->device : getenv("CLRNN_DEVICE");
    int index = -1;
    clrnn_status st = clrnn_select_device(spec, &index);
    if (st != CLRNN_OK) return st;
    clrnn_device_ref ref;
    if ((st = clrnn_device_at(index, &ref)) != CLRNN_OK) return st;

    clrnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context");
    ctx->platform = ref.platform;
    ctx->device = ref.device;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ref.platform, 0};
    ctx->cl_ctx = clCreateContext(props, 1, &ref.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = clrnn_fail_cl(err, "clCreateContext", NULL);
        free(ctx);
        return st;
    }
    /* a profiling queue only when the trace is on (CLRNN_VERBOSE): off, launches make no events */
    const int traced = clrnn_trace_wanted();
    ctx->queue = clCreateCommandQueue(ctx->cl_ctx, ref.device, traced ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        st = clrnn_fail_cl(err, "clCreateCommandQueue", NULL);
        clReleaseContext(ctx->cl_ctx);
        free(ctx);
        return st;
    }
    clrnn_trace_start(ctx, traced, traced);
    if ((st = finish_init(ctx, params)) != CLRNN_OK) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", clrnn_last_error());
        context_free(ctx);
        clrnn_fail(st, "%s", strchr(saved, ':') ? strchr(saved, ':') + 2 : saved);
        return st;
    }
    ctx->info.index = index;
    if (!(ctx->handle_id = clrnn_handle_register(ctx, CLRNN_HANDLE_CONTEXT))) {
        context_free(ctx);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context handle registry");
    }
    *out = ctx;
    return CLRNN_OK;
}

clrnn_status clrnn_context_create_from_cl(cl_context context, cl_device_id device, cl_command_queue queue,
                                          const clrnn_context_params *params, clrnn_context **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create_from_cl: out is NULL");
    *out = NULL;
    if (!context || !device || !queue)
        return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create_from_cl: context, device and queue are required");
    cl_context qctx = NULL;
    cl_device_id qdev = NULL;
    cl_command_queue_properties qprops = 0;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL);
    if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL);
    if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qprops, &qprops, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetCommandQueueInfo", "checking the adopted queue");
    if (qctx != context || qdev != device)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "the queue does not belong to the given context and device");
    if (qprops & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn needs an in-order command queue");
    cl_platform_id platform = NULL;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);

    clrnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context");
    clRetainContext(context);
    clRetainCommandQueue(queue);
    ctx->platform = platform;
    ctx->device = device;
    ctx->cl_ctx = context;
    ctx->queue = queue;
    /* the application's queue as it is: device times only if it was made with profiling */
    clrnn_trace_start(ctx, clrnn_trace_wanted(), (qprops & CL_QUEUE_PROFILING_ENABLE) != 0);
    clrnn_status st = finish_init(ctx, params);
    if (st != CLRNN_OK) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", clrnn_last_error());
        context_free(ctx);
        clrnn_fail(st, "%s", strchr(saved, ':') ? strchr(saved, ':') + 2 : saved);
        return st;
    }
    if (!(ctx->handle_id = clrnn_handle_register(ctx, CLRNN_HANDLE_CONTEXT))) {
        context_free(ctx);
        return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context handle registry");
    }
    *out = ctx;
    return CLRNN_OK;
}

/* A NULL, destroyed or foreign pointer is ignored (a destroy cannot report a status; the reason is
 * left in clrnn_last_error()). */
void clrnn_context_destroy(clrnn_context *ctx) {
    if (!ctx) return;
    if (!clrnn_handle_unregister(ctx, CLRNN_HANDLE_CONTEXT)) {
        clrnn_check_handle(ctx, CLRNN_HANDLE_CONTEXT, "clrnn_context_destroy (ignored)", "ctx");
        return;
    }
    context_free(ctx);
}

static void context_free(clrnn_context *ctx) {
    if (ctx->queue) clFinish(ctx->queue);
    clrnn_trace_stop(ctx); /* its last lines, once the queue is done */
    clrnn_program_release(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl_ctx) clReleaseContext(ctx->cl_ctx);
    clrnn_gemm_context_release(ctx); /* CLBlast's programs hold the cl_context too */
    if (ctx->lock_ready) mtx_destroy(&ctx->lock);
    free(ctx);
}

clrnn_status clrnn_context_device_info(const clrnn_context *ctx, clrnn_device_info *info) {
    clrnn_status st = clrnn_check_context(ctx, "clrnn_context_device_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_device_info: info is NULL");
    *info = ctx->info;
    return CLRNN_OK;
}

clrnn_status clrnn_context_build_info(const clrnn_context *ctx, clrnn_build_info *info) {
    clrnn_status st = clrnn_check_context(ctx, "clrnn_context_build_info");
    if (st != CLRNN_OK) return st;
    if (!info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_build_info: info is NULL");
    *info = ctx->build;
    return CLRNN_OK;
}

/* NULL for a NULL, destroyed or foreign context. */
cl_context clrnn_context_cl_context(const clrnn_context *ctx) {
    return clrnn_handle_id(ctx, CLRNN_HANDLE_CONTEXT) ? ctx->cl_ctx : NULL;
}
cl_command_queue clrnn_context_cl_queue(const clrnn_context *ctx) {
    return clrnn_handle_id(ctx, CLRNN_HANDLE_CONTEXT) ? ctx->queue : NULL;
}
cl_device_id clrnn_context_cl_device(const clrnn_context *ctx) {
    return clrnn_handle_id(ctx, CLRNN_HANDLE_CONTEXT) ? ctx->device : NULL;
}

clrnn_status clrnn_context_finish(clrnn_context *ctx) {
    clrnn_status st = clrnn_check_context(ctx, "clrnn_context_finish");
    if (st != CLRNN_OK) return st;
    cl_int err = clFinish(ctx->queue);
    clrnn_trace_flush(ctx);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", NULL);
}
