/* The one kernel launch path and the CLRNN_VERBOSE trace (format and cost: launch.h). */
#include "core/launch.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

/* One lock for every line (of any context) and for the installed sink. */
static once_flag trace_once = ONCE_FLAG_INIT;
static mtx_t trace_lock;
static clrnn_trace_sink installed_sink;
static void *installed_user;
static void trace_lock_init(void) { mtx_init(&trace_lock, mtx_plain); }

void clrnn_trace_install(clrnn_trace_sink sink, void *user) {
    call_once(&trace_once, trace_lock_init);
    mtx_lock(&trace_lock);
    installed_sink = sink;
    installed_user = user;
    mtx_unlock(&trace_lock);
}

static int env_verbose(void) {
    const char *v = getenv("CLRNN_VERBOSE");
    return v && v[0] && strcmp(v, "0") != 0;
}

int clrnn_trace_wanted(void) {
    call_once(&trace_once, trace_lock_init);
    mtx_lock(&trace_lock);
    const int sink = installed_sink != NULL;
    mtx_unlock(&trace_lock);
    return sink || env_verbose();
}

/* A field of a line: no commas (the separator), no control characters; untrusted text (ONNX
 * names) is escaped by the caller. */
static void field(char *dst, size_t cap, const char *src) {
    if (!src || !src[0]) src = "-";
    size_t i = 0;
    for (; src[i] && i + 1 < cap; ++i) {
        const unsigned char c = (unsigned char)src[i];
        dst[i] = c == ',' ? ';' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    dst[i] = '\0';
}

/* A traced launch waiting for its event: its line is written, in launch order, when the context
 * next waits for its queue (clrnn_trace_flush) or when PENDING_CAP launches wait, so that the trace
 * adds no wait to the calls it watches. */
enum { PENDING_CAP = 256 };
typedef struct clrnn_trace_pending {
    cl_event ev;
    cl_uint dims;
    size_t global[3], local[3];
    int has_local;
    char name[64], plan[24], shape[CLRNN_TRACE_SHAPE], what[160];
} clrnn_trace_pending;

static void emit(clrnn_context *ctx, clrnn_trace_record *rec) {
    call_once(&trace_once, trace_lock_init);
    mtx_lock(&trace_lock);
    if (ctx->trace.sink)
        ctx->trace.sink(ctx->trace.user, rec);
    else
        fprintf(stderr, "%s\n", rec->line);
    mtx_unlock(&trace_lock);
}

void clrnn_trace_start(clrnn_context *ctx, int on, int profiling) {
    memset(&ctx->trace, 0, sizeof ctx->trace);
    if (!on) return;
    call_once(&trace_once, trace_lock_init);
    mtx_lock(&trace_lock);
    ctx->trace.sink = installed_sink;
    ctx->trace.user = installed_user;
    mtx_unlock(&trace_lock);
    ctx->trace.enabled = ctx->trace.on = 1;
    /* A profiling queue whose device has no timer: Rusticl 22.3 (llvmpipe) reports a resolution of
     * 0 ns and stamps every event 0, 1, 2, 3 ns (queued, submit, start, end), i.e. 1e-6 ms a kernel.
     * Its launches get "-" (no device time), as on a queue without profiling, not 0 ms. */
    size_t resolution = 1;
    const int no_timer = profiling &&
                         clGetDeviceInfo(ctx->device, CL_DEVICE_PROFILING_TIMER_RESOLUTION, sizeof resolution,
                                         &resolution, NULL) == CL_SUCCESS &&
                         resolution == 0;
    if (no_timer) profiling = 0;
    ctx->trace.profiling = profiling;
    /* without the room, every launch's line is written as soon as its kernel is done */
    ctx->trace.pending = malloc(PENDING_CAP * sizeof *ctx->trace.pending);
    char dev[256] = "", drv[128] = "", fd[256], fv[128], line[512];
    clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof dev - 1, dev, NULL);
    clGetDeviceInfo(ctx->device, CL_DRIVER_VERSION, sizeof drv - 1, drv, NULL);
    field(fd, sizeof fd, dev), field(fv, sizeof fv, drv);
    snprintf(line, sizeof line, "clrnn_verbose,info,clrnn %s,%s,%s,profiling=%d%s", CLRNN_VERSION_STRING, fd, fv,
             profiling, no_timer ? " (no device timestamps: the device's profiling timer has a resolution of 0 ns)" : "");
    clrnn_trace_record rec = {0};
    rec.kind = CLRNN_TRACE_INFO;
    rec.name = fd, rec.plan = "-", rec.shape = "-", rec.what = fv;
    rec.device_ms = rec.host_ms = -1;
    rec.line = line;
    emit(ctx, &rec);
}

void clrnn_trace_pause(clrnn_context *ctx, int paused) {
    mtx_lock(&ctx->lock);
    ctx->trace.on = ctx->trace.enabled && !paused;
    mtx_unlock(&ctx->lock);
}

void clrnn_trace_scope(clrnn_context *ctx, const char *plan, const char *fmt, ...) {
    if (!ctx->trace.on) return;
    ctx->trace.plan = plan;
    ctx->trace.shape[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->trace.shape, sizeof ctx->trace.shape, fmt, ap);
    va_end(ap);
}

static void dims_text(char *out, size_t cap, cl_uint dims, const size_t *v) {
    if (!dims || !v) {
        snprintf(out, cap, "-");
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    for (cl_uint i = 0; i < dims && len < cap; ++i)
        len += (size_t)snprintf(out + len, cap - len, "%s%zu", i ? "x" : "", v[i]);
}

/* Waits for p's event, then writes its exec line and releases the event. */
static void write_exec(clrnn_context *ctx, clrnn_trace_pending *p) {
    clrnn_trace_record rec = {0};
    rec.kind = CLRNN_TRACE_EXEC;
    rec.device_ms = rec.host_ms = -1;
    if (p->ev) {
        cl_ulong t0 = 0, t1 = 0;
        if (clWaitForEvents(1, &p->ev) == CL_SUCCESS && ctx->trace.profiling &&
            clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS)
            rec.device_ms = t1 >= t0 ? (double)(t1 - t0) * 1e-6 : 0.0;
        clReleaseEvent(p->ev);
        p->ev = NULL;
    }
    char g[80], l[80], ms[32], line[1024];
    dims_text(g, sizeof g, p->dims, p->global);
    dims_text(l, sizeof l, p->has_local ? p->dims : 0, p->local);
    if (rec.device_ms >= 0)
        snprintf(ms, sizeof ms, "%.4f", rec.device_ms);
    else
        snprintf(ms, sizeof ms, "-");
    snprintf(line, sizeof line, "clrnn_verbose,exec,%s,%s,%s,%s,%s,%s,%s", p->name, p->plan, p->shape, p->what, g, l,
             ms);
    rec.name = p->name, rec.plan = p->plan, rec.shape = p->shape, rec.what = p->what;
    rec.dims = p->dims;
    memcpy(rec.global, p->global, sizeof rec.global);
    memcpy(rec.local, p->local, sizeof rec.local);
    rec.has_local = p->has_local;
    rec.line = line;
    emit(ctx, &rec);
}

void clrnn_trace_flush_locked(clrnn_context *ctx) {
    if (!ctx->trace.enabled) return;
    for (int i = 0; i < ctx->trace.n_pending; ++i) write_exec(ctx, &ctx->trace.pending[i]);
    ctx->trace.n_pending = 0;
}

void clrnn_trace_flush(clrnn_context *ctx) {
    if (!ctx->trace.enabled) return;
    mtx_lock(&ctx->lock);
    clrnn_trace_flush_locked(ctx);
    mtx_unlock(&ctx->lock);
}

void clrnn_trace_stop(clrnn_context *ctx) {
    if (!ctx->trace.enabled) return;
    clrnn_trace_flush_locked(ctx);
    free(ctx->trace.pending);
    ctx->trace.pending = NULL;
    ctx->trace.enabled = ctx->trace.on = 0;
}

/* Records an enqueued command of ctx (its event ev) for the trace: kept until the next flush, or
 * written at once when there is no room for it. */
static void trace_exec(clrnn_context *ctx, const char *name, const char *what, cl_uint dims, const size_t *global,
                       const size_t *local, cl_event ev) {
    clrnn_trace_pending one, *p = &one;
    if (ctx->trace.pending) {
        if (ctx->trace.n_pending == PENDING_CAP) clrnn_trace_flush_locked(ctx);
        p = &ctx->trace.pending[ctx->trace.n_pending++];
    }
    memset(p, 0, sizeof *p);
    p->ev = ev;
    field(p->name, sizeof p->name, name);
    field(p->plan, sizeof p->plan, ctx->trace.plan);
    field(p->shape, sizeof p->shape, ctx->trace.plan ? ctx->trace.shape : NULL);
    field(p->what, sizeof p->what, what);
    p->dims = dims > 3 ? 3 : dims;
    for (cl_uint i = 0; i < p->dims; ++i) {
        p->global[i] = global ? global[i] : 0;
        p->local[i] = local ? local[i] : 0;
    }
    p->has_local = local != NULL;
    if (p == &one) write_exec(ctx, p);
}

/* The loop-bound probe (clrnn_loop_probe): one work-item sums n ones read from memory in one
 * loop, so the sum is the iterations the device ran (a compiler cannot fold it). */
static const unsigned char loop_probe_src[] =
    "__kernel void clrnn_loop_probe(__global const int *one, const int n, __global int *ran) {\n"
    "    int s = 0;\n"
    "    for (int i = 0; i < n; ++i) s += one[i & 7];\n"
    "    ran[0] = s;\n"
    "}\n";
static const clrnn_embedded_source loop_probe_sources[] = {
    {"loop_probe.cl", loop_probe_src, sizeof loop_probe_src - 1}};

typedef struct loop_probe_state {
    cl_kernel k;
} loop_probe_state;

static void loop_probe_release(void *state) {
    loop_probe_state *p = state;
    if (p->k) clReleaseKernel(p->k);
    p->k = NULL;
}

static clrnn_status loop_probe_make(cl_program prog, void *user) {
    loop_probe_state *p = user;
    cl_int err;
    p->k = clCreateKernel(prog, "clrnn_loop_probe", &err);
    if (err != CL_SUCCESS) p->k = NULL;
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clCreateKernel", "clrnn_loop_probe");
}

clrnn_status clrnn_loop_probe(clrnn_context *ctx, int n, long *ran) {
    *ran = -1;
    const clrnn_program_def def = {"the loop-bound probe", "clrnn-loop-probe-v1", loop_probe_sources, 1, 0,
                                   loop_probe_make};
    const int ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    cl_int out = -1, err = CL_SUCCESS;
    cl_mem one = NULL, res = NULL;
    mtx_lock(&ctx->lock);
    const clrnn_kept_program *kp;
    clrnn_status st = clrnn_program_kept(ctx, &def, sizeof(loop_probe_state), loop_probe_release, &kp);
    if (st == CLRNN_OK) {
        one = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof ones, (void *)ones, &err);
        if (err == CL_SUCCESS) res = clCreateBuffer(ctx->cl_ctx, CL_MEM_WRITE_ONLY, sizeof out, NULL, &err);
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clCreateBuffer", "the loop-bound probe");
    }
    if (st == CLRNN_OK) {
        clrnn_kargs a = clrnn_kargs_begin(((const loop_probe_state *)kp->state)->k, "clrnn_loop_probe");
        clrnn_karg_mem(&a, one), clrnn_karg_int(&a, n), clrnn_karg_mem(&a, res);
        const size_t one_item = 1;
        /* declares no loops: the probe is the launch meant to run past a bound */
        st = clrnn_enqueue(ctx, &a, 1, &one_item, &one_item, "loop-bound probe");
    }
    if (st == CLRNN_OK && (err = clEnqueueReadBuffer(ctx->queue, res, CL_TRUE, 0, sizeof out, &out, 0, NULL, NULL)) !=
                              CL_SUCCESS)
        st = clrnn_fail_cl(err, "clEnqueueReadBuffer", "the loop-bound probe");
    mtx_unlock(&ctx->lock);
    if (one) clReleaseMemObject(one);
    if (res) clReleaseMemObject(res);
    if (st == CLRNN_OK) *ran = out;
    return st;
}

/* The loop kernels, sorted (generated from tools/loop_kernels.txt, CMakeLists.txt). */
static const char *const loop_kernels[] = {
#include "loop_kernels.inc"
};

static int name_cmp(const void *key, const void *elem) { return strcmp(key, *(const char *const *)elem); }

int clrnn_is_loop_kernel(const char *name) {
    return name && bsearch(name, loop_kernels, sizeof loop_kernels / sizeof loop_kernels[0], sizeof loop_kernels[0],
                           name_cmp) != NULL;
}

/* Only under a bound and for an undeclared launch, so the query costs nothing on PoCL's path. The
 * kernel's own function name, not a->name (which may be a description: "tiled scan"). */
clrnn_status clrnn_loop_audit(const clrnn_kargs *a) {
    char name[128] = "";
    if (!a->k || clGetKernelInfo(a->k, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL) != CL_SUCCESS)
        return CLRNN_OK; /* the enqueue reports a kernel that cannot be queried */
    name[sizeof name - 1] = '\0';
    if (!clrnn_is_loop_kernel(name)) return CLRNN_OK;
    return clrnn_fail(CLRNN_ERR_INTERNAL,
                      "kernel %s loops over a size (tools/loop_kernels.txt) but its launch declares no loop count "
                      "(clrnn_karg_loops), so the device's loop bound could not be checked",
                      name);
}

clrnn_status clrnn_loop_refuse(clrnn_context *ctx, const clrnn_kargs *a) {
    return clrnn_fail(CLRNN_ERR_UNSUPPORTED,
                      "kernel %s: a work-item would run %ld loop iterations, over what this device runs correctly "
                      "(a bound of %ld an invocation%s, CLRNN_LOOP_LIMIT; past it every loop ends silently) and "
                      "this launch cannot be split",
                      a->name ? a->name : "?", a->loops, ctx->loop_limit,
                      clrnn_device_is_rasterizer(ctx) ? ": Mesa llvmpipe" : "");
}

clrnn_status clrnn_enqueue_traced(clrnn_context *ctx, const clrnn_kargs *a, cl_uint dims, const size_t *global,
                                  const size_t *local, const char *what) {
    cl_event ev = NULL;
    const cl_int err = clEnqueueNDRangeKernel(ctx->queue, a->k, dims, NULL, global, local, 0, NULL, &ev);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clEnqueueNDRangeKernel", a->name);
    char name[128] = "";
    if (clGetKernelInfo(a->k, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL) != CL_SUCCESS || !name[0])
        snprintf(name, sizeof name, "%s", a->name ? a->name : "?");
    name[sizeof name - 1] = '\0';
    trace_exec(ctx, name, what, dims, global, local, ev);
    return CLRNN_OK;
}

void clrnn_trace_event(clrnn_context *ctx, const char *name, const char *what, cl_event ev) {
    if (!ctx->trace.on) {
        if (ev) clReleaseEvent(ev);
        return;
    }
    trace_exec(ctx, name, what, 0, NULL, NULL, ev);
}

void clrnn_trace_host(clrnn_context *ctx, clrnn_trace_kind kind, const char *program, const char *what, double host_ms) {
    if (!ctx->trace.on) return;
    char fprog[128], fwhat[64], line[320];
    field(fprog, sizeof fprog, program);
    field(fwhat, sizeof fwhat, what);
    if (kind == CLRNN_TRACE_BUILD)
        snprintf(line, sizeof line, "clrnn_verbose,build,%s,%s,%.3f", fprog, fwhat, host_ms);
    else
        snprintf(line, sizeof line, "clrnn_verbose,kernels,%s,%.3f", fprog, host_ms);
    clrnn_trace_record rec = {0};
    rec.kind = kind;
    rec.name = fprog, rec.plan = "-", rec.shape = "-", rec.what = fwhat;
    rec.device_ms = -1;
    rec.host_ms = host_ms;
    rec.line = line;
    emit(ctx, &rec);
}
