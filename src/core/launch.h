/* The one kernel launch path of libclrnn: every module sets a kernel's arguments on a clrnn_kargs
 * (the first failing clSetKernelArg is kept and reported with the kernel's name) and enqueues it
 * with clrnn_enqueue: its two clEnqueueNDRangeKernel (untraced here, traced in launch.c) are the
 * library's only ones. The trace lives here too.
 *
 * CLRNN_VERBOSE=1 (read when a context is created; unset, empty or 0 = off) prints to stderr, per
 * context, one line per kernel launch or CLBlast GEMM, and one per program build and kernel
 * creation, comma-separated like oneDNN's DNNL_VERBOSE:
 *   clrnn_verbose,info,<clrnn version>,<device>,<driver>,profiling=<0|1>        at context creation
 *     (profiling=0 (no device timestamps: ...) on a device whose profiling timer has a resolution of
 *     0 ns, as Rusticl 22.3's: its event times are placeholders, so its launches get "-")
 *   clrnn_verbose,build,<program>,<source|binary>,<host ms>     clBuildProgram from source / a cached binary
 *   clrnn_verbose,kernels,<program>,<host ms>                   clCreateKernel of a program's kernels
 *   clrnn_verbose,exec,<kernel>,<plan>,<shape>,<what>,<global>,<local>,<device ms>
 * <kernel> is the __kernel's name (clblast_sgemm / clblast_sgemm_batched for a CLBlast call: the
 * device time is that of the event CLBlast returns); <plan> and <shape> are the scope the driver
 * set (clrnn_trace_scope: "tiled", "l0 lstm T=100 N=64 I=512 H=512 D=1"; "-" outside one); <what>
 * the launch's own detail ("gemm M=6400 N=2048 K=512 ta=0 tb=1" for clrnn's SGEMM, the ONNX node),
 * or "-"; <global>/<local> the NDRange as "AxBxC" ("-" when unknown / left to the driver); <device
 * ms> the kernel's CL_PROFILING_COMMAND_END - START in milliseconds ("-" on an application's queue
 * made without CL_QUEUE_PROFILING_ENABLE, or on a device without device timestamps). Fields never hold a comma.
 * When: a launch's line is written once its kernel is done, in launch order, when the context next
 * waits for its queue anyway: at the end of clrnn_rnn_forward, of each training call and of
 * clrnn_model_run, in clrnn_context_finish and clrnn_context_destroy (the other calls' launches,
 * clrnn_sgemm's say, come out at the next of these), or after 256 launches, which then wait.
 * Build, kernels and info lines come at once.
 * Cost: off (the default) a launch is the plain enqueue behind one branch: no events, no waits, no
 * profiling queue. On, the queue is made with CL_QUEUE_PROFILING_ENABLE and each launch makes an
 * event, kept until its line is written; the calls wait for nothing they did not wait for before
 * (but every 256th launch), so the tiled plan's measured scan choice is the same as without it.
 * Threads: a context's launches are serialised by its lock (held by every caller of clrnn_enqueue);
 * lines of all contexts go out one at a time through a process-wide lock. */
#ifndef CLRNN_CORE_LAUNCH_H
#define CLRNN_CORE_LAUNCH_H

#include "internal.h"

#include <limits.h>

typedef struct clrnn_kargs {
    cl_kernel k;
    cl_uint i; /* next argument index */
    cl_int err;
    const char *name; /* names the kernel in messages */
    clrnn_status st;  /* the kernel could not be created on its first use (k NULL; the message names it) */
    long loops;       /* clrnn_karg_loops: the loop iterations a work-item runs */
    int declared;     /* clrnn_karg_loops was called (a count of 0 is a declaration too) */
} clrnn_kargs;

static inline clrnn_kargs clrnn_kargs_begin(cl_kernel k, const char *name) {
    clrnn_kargs a = {k, 0, CL_SUCCESS, name, CLRNN_OK, 0, 0};
    return a;
}

/* ---- the loop bound (ctx->loop_limit: Mesa llvmpipe silently ends every loop of a kernel
 * invocation once it has run 65535 iterations in all) ----
 * A launch whose kernel loops over a size (K of a dot product, rows of a reduction, steps) declares
 * the iterations one work-item runs in all its loops, nested ones counted (an upper bound from the
 * kernel's loops), with clrnn_karg_loops; clrnn_enqueue refuses one over ctx's budget with
 * CLRNN_ERR_UNSUPPORTED instead of running it to a silently wrong result. Callers that can split
 * (K chunks of a GEMM accumulated with beta = 1, row chunks of a reduction, steps of a scan) size
 * their pieces with clrnn_loop_fits / clrnn_loop_budget first. Declared loops are kept on the
 * kargs until declared again (a kernel launched repeatedly declares once). Under a bound, a launch
 * of a loop kernel (tools/loop_kernels.txt, compiled in) that declares nothing is refused with
 * CLRNN_ERR_INTERNAL (clrnn_loop_audit): an undeclared loop would pass the bound unchecked. */
static inline void clrnn_karg_loops(clrnn_kargs *a, long loops) { a->loops = loops, a->declared = 1; }
/* The iterations one work-item may run under ctx's bound; LONG_MAX when there is none. */
static inline long clrnn_loop_budget(const clrnn_context *ctx) {
    return ctx->loop_limit > 0 ? ctx->loop_budget : LONG_MAX;
}
static inline int clrnn_loop_fits(const clrnn_context *ctx, long loops) { return loops <= clrnn_loop_budget(ctx); }
/* Runs one loop of n iterations in one work-item (a tiny program of its own, kept with the
 * context) and sets *ran to the iterations the device ran: fewer than n = the device's bound,
 * measured rather than known by name (clrnn-probe's self-check; CLRNN_LOOP_PROBE=1 at context
 * creation). Takes the context lock. */
clrnn_status clrnn_loop_probe(clrnn_context *ctx, int n, long *ran);
/* The refusal (launch.c): CLRNN_ERR_UNSUPPORTED naming the kernel, its count and the bound. */
clrnn_status clrnn_loop_refuse(clrnn_context *ctx, const clrnn_kargs *a);
/* An undeclared launch under a bound (launch.c): CLRNN_ERR_INTERNAL when a's kernel is one of the
 * loop kernels, else CLRNN_OK. */
clrnn_status clrnn_loop_audit(const clrnn_kargs *a);
/* Whether the kernel function `name` is a loop kernel (tools/loop_kernels.txt). */
int clrnn_is_loop_kernel(const char *name);
static inline void clrnn_karg_at(clrnn_kargs *a, cl_uint index, size_t size, const void *value) {
    if (!a->k) return;
    const cl_int e = clSetKernelArg(a->k, index, size, value);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}
static inline void clrnn_karg(clrnn_kargs *a, size_t size, const void *value) { clrnn_karg_at(a, a->i++, size, value); }
static inline void clrnn_karg_mem(clrnn_kargs *a, cl_mem m) { clrnn_karg(a, sizeof m, &m); }
static inline void clrnn_karg_int(clrnn_kargs *a, int v) {
    const cl_int x = (cl_int)v;
    clrnn_karg(a, sizeof x, &x);
}
static inline void clrnn_karg_float(clrnn_kargs *a, float v) {
    const cl_float x = v;
    clrnn_karg(a, sizeof x, &x);
}
static inline void clrnn_karg_ulong(clrnn_kargs *a, cl_ulong v) { clrnn_karg(a, sizeof v, &v); }
static inline void clrnn_karg_local(clrnn_kargs *a, size_t bytes) { clrnn_karg(a, bytes, NULL); }

/* The traced launch (launch.c): with an event, recorded for its line. */
clrnn_status clrnn_enqueue_traced(clrnn_context *ctx, const clrnn_kargs *a, cl_uint dims, const size_t *global,
                                  const size_t *local, const char *what);
/* Enqueues a's kernel on ctx's queue over `dims` dimensions (local NULL: the driver's choice), the
 * context lock held. `what` (may be NULL) is the trace's detail of this launch: build it only when
 * clrnn_trace_on(ctx). A kept argument failure is reported as from "clSetKernelArg", naming the
 * kernel. Inline, so that with the trace off a launch is the plain enqueue behind one branch. */
static inline clrnn_status clrnn_enqueue(clrnn_context *ctx, const clrnn_kargs *a, cl_uint dims, const size_t *global,
                                         const size_t *local, const char *what) {
    if (a->st != CLRNN_OK) return a->st;
    if (a->err != CL_SUCCESS) return clrnn_fail_cl(a->err, "clSetKernelArg", a->name);
    if (ctx->loop_limit > 0) {
        if (!a->declared) {
            const clrnn_status st = clrnn_loop_audit(a);
            if (st != CLRNN_OK) return st;
        }
        if (a->loops > ctx->loop_budget) return clrnn_loop_refuse(ctx, a);
        if (a->loops > ctx->loop_most) ctx->loop_most = a->loops;
    }
    if (ctx->trace.on) return clrnn_enqueue_traced(ctx, a, dims, global, local, what);
    const cl_int err = clEnqueueNDRangeKernel(ctx->queue, a->k, dims, NULL, global, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clEnqueueNDRangeKernel", a->name);
}

/* ---- the trace ---- */
static inline int clrnn_trace_on(const clrnn_context *ctx) { return ctx->trace.on; }
/* At context creation, before its queue: whether this context traces (CLRNN_VERBOSE, or a sink
 * installed), i.e. whether its queue wants CL_QUEUE_PROFILING_ENABLE. */
int clrnn_trace_wanted(void);
/* Fixes ctx->trace once its queue exists (profiling: the queue has CL_QUEUE_PROFILING_ENABLE) and
 * writes the info line. */
void clrnn_trace_start(clrnn_context *ctx, int on, int profiling);
/* The scope of the launches that follow (ctx->lock held): plan (a static string) and a printf shape;
 * clrnn_trace_scope_end ends it. Nothing happens when the trace is off. */
void clrnn_trace_scope(clrnn_context *ctx, const char *plan, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline void clrnn_trace_scope_end(clrnn_context *ctx) {
    ctx->trace.plan = NULL;
    ctx->trace.shape[0] = '\0';
}
/* An enqueued command of its own (a CLBlast GEMM): its exec line, from ev (released once written). */
void clrnn_trace_event(clrnn_context *ctx, const char *name, const char *what, cl_event ev);
/* Writes the lines of the launches that wait for their events (waiting for them): the context lock
 * held (_locked) or taken. Nothing when the trace is off. */
void clrnn_trace_flush_locked(clrnn_context *ctx);
void clrnn_trace_flush(clrnn_context *ctx);
/* At context destroy, after its queue is finished: the last lines, and the trace's memory freed. */
void clrnn_trace_stop(clrnn_context *ctx);
/* A build (what = "source" or "binary") or kernel creation of `program`, host_ms long. */
void clrnn_trace_host(clrnn_context *ctx, clrnn_trace_kind kind, const char *program, const char *what, double host_ms);
/* Internal hook (clrnn-bench --profile, the tests): contexts created from now on trace into sink
 * instead of stderr, whatever CLRNN_VERBOSE says; NULL restores the default. The sink is called
 * with a process-wide lock held, one record at a time. */
void clrnn_trace_install(clrnn_trace_sink sink, void *user);
/* Internal hook (clrnn-bench --profile): a tracing context's launches go untraced while paused (the
 * profiling queue stays), e.g. for warm-up calls whose timing decisions (the tiled plan's scan
 * choice) a per-launch wait would bias. No other call may be running on ctx. */
void clrnn_trace_pause(clrnn_context *ctx, int paused);

#endif
