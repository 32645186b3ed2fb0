/*
 * clrnn — recurrent neural networks (vanilla RNN, LSTM, GRU) on any OpenCL device.
 *
 * The whole public API lives in this header. The data path reads top to bottom:
 *
 *   context (device, kernel cache)  →  rnn descriptor (cell, sizes, directions, options)
 *   →  weights imported from the layout of the framework that trained them
 *   →  clrnn_rnn_forward (input GEMM → recurrent scan → merge → optional dense) → outputs
 *
 * Conventions
 *   - Every function that can fail returns a clrnn_status. CLRNN_OK is 0.
 *   - On failure, clrnn_last_error() returns a readable message for the calling thread
 *     (which argument, which OpenCL call and its error name, the compiler log, ...).
 *   - Every object has one create and one destroy; destroy(NULL) is a no-op.
 *   - All tensors are float32, C order (row-major), unless stated otherwise.
 *
 * Threading
 *   - A context may be shared by any number of threads: every function taking a context (and
 *     every rnn of it) may be called concurrently; work on one context is serialised by a lock
 *     inside it. Contexts may be created and destroyed concurrently.
 *   - An rnn (or a model) must not be used by two threads at once: it owns its workspace and its
 *     weights. Create one rnn per thread to run in parallel (they share the context's kernels),
 *     or guard a shared rnn with a lock of your own. Outputs do not depend on which thread runs
 *     a call, nor on what other threads run meanwhile (tests/reliability/test_threads.c).
 *   - clrnn_last_error() is per thread: a failure on one thread never changes another's message.
 *   - Destroying an object while another thread uses it is a bug of the caller. Destroy every
 *     rnn and model before its context; one whose context is gone fails with
 *     CLRNN_ERR_INVALID_ARGUMENT (destroying it afterwards is still clean).
 *   - Handles are checked against a registry of live objects: NULL is CLRNN_ERR_NULL_ARGUMENT;
 *     a destroyed, foreign or wrong-kind pointer is CLRNN_ERR_INVALID_ARGUMENT (best effort: once
 *     its memory is reused by a new object of the same kind, a stale pointer names that object).
 *     destroy() of such a pointer is ignored.
 *   - OpenCL buffers (cl_mem) cannot be validated like that: OpenCL has no call that tells a live
 *     cl_mem from a released one or from junk (asking one crashes in the ICD loader or driver). A
 *     buffer of another OpenCL context is detected (CLRNN_ERR_INVALID_ARGUMENT); a released or junk
 *     cl_mem is undefined behaviour, like a freed host pointer.
 * Determinism: on one device and driver, the same inputs and weights give bitwise-identical
 * outputs across runs, rnn objects, contexts, threads and processes (tests/reliability/test_determinism.c).
 */
#ifndef CLRNN_H
#define CLRNN_H

#include <stddef.h>
#include <stdint.h>

/* OpenCL: the API level is the application's choice, never clrnn's (this header uses only the
 * OpenCL 1.0 handle types cl_context, cl_device_id, cl_command_queue and cl_mem). An application
 * that chose a level (CL_TARGET_OPENCL_VERSION, as the Khronos headers ask) or already included
 * <CL/cl.h> gets that header, at its level. Otherwise only the four handles are declared, exactly
 * as <CL/cl.h> declares them, so that an app that does not use OpenCL itself sees no OpenCL
 * header (and no "CL_TARGET_OPENCL_VERSION is not defined" message); such an app may still
 * include <CL/cl.h> after this header (a repeated identical typedef is valid C11 and C++). */
#if defined(CL_TARGET_OPENCL_VERSION) || defined(__OPENCL_CL_H)
#if defined(__APPLE__)
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif
#else
typedef struct _cl_context *cl_context;
typedef struct _cl_device_id *cl_device_id;
typedef struct _cl_command_queue *cl_command_queue;
typedef struct _cl_mem *cl_mem;
#endif

/* CLRNN_API marks the public functions, the only symbols libclrnn.so exports: the library is
 * built with -fvisibility=hidden (tests/install/test_exports.sh checks the .so against this header). */
#ifndef CLRNN_API
#if defined(__GNUC__) || defined(__clang__)
#define CLRNN_API __attribute__((visibility("default")))
#else
#define CLRNN_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CLRNN_VERSION_MAJOR 0
#define CLRNN_VERSION_MINOR 1
#define CLRNN_VERSION_PATCH 0
#define CLRNN_VERSION_STRING "0.1.0"

/* Library version as MAJOR*10000 + MINOR*100 + PATCH. */
CLRNN_API int clrnn_version(void);
CLRNN_API const char *clrnn_version_string(void);

/* ---------------------------------------------------------------------------------------
 * Status codes. One table (X-macro) gives the enum, its name and its message.
 * ------------------------------------------------------------------------------------- */
#define CLRNN_STATUS_LIST(X)                                                                     \
    X(CLRNN_OK, 0, "success")                                                                    \
    X(CLRNN_ERR_NULL_ARGUMENT, 1, "a required pointer argument is NULL")                         \
    X(CLRNN_ERR_INVALID_ARGUMENT, 2, "an argument has an invalid value")                         \
    X(CLRNN_ERR_INVALID_DESCRIPTOR, 3, "the rnn descriptor is inconsistent")                     \
    X(CLRNN_ERR_SHAPE_MISMATCH, 4, "a tensor has the wrong size or shape")                       \
    X(CLRNN_ERR_INVALID_LENGTH, 5, "a sequence length is negative or larger than T")             \
    X(CLRNN_ERR_NON_FINITE, 6, "a weight is NaN or infinite")                                    \
    X(CLRNN_ERR_MISSING_WEIGHTS, 7, "a required weight tensor was never set")                    \
    X(CLRNN_ERR_UNSUPPORTED, 8, "the requested feature or combination is not supported")        \
    X(CLRNN_ERR_OUT_OF_MEMORY, 9, "host memory allocation failed")                               \
    X(CLRNN_ERR_DEVICE_OUT_OF_MEMORY, 10, "device memory allocation failed")                     \
    X(CLRNN_ERR_OVERFLOW, 11, "a size computation overflows")                                    \
    X(CLRNN_ERR_NO_DEVICE, 12, "no OpenCL device matches the request")                           \
    X(CLRNN_ERR_OPENCL, 13, "an OpenCL call failed")                                             \
    X(CLRNN_ERR_BUILD_FAILED, 14, "an OpenCL program failed to build")                           \
    X(CLRNN_ERR_BLAS, 15, "a CLBlast call failed")                                               \
    X(CLRNN_ERR_IO, 16, "a file could not be read or written")                                   \
    X(CLRNN_ERR_CORRUPT_FILE, 17, "a file is corrupt, truncated or of the wrong format")         \
    X(CLRNN_ERR_NOT_FOUND, 18, "a named item does not exist")                                    \
    X(CLRNN_ERR_INTERNAL, 19, "internal error (a bug in clrnn)")                                 \
    X(CLRNN_ERR_OUT_OF_RANGE, 20, "an index (a label, a token id) is outside its range")

typedef enum clrnn_status {
#define CLRNN_X_ENUM(name, value, msg) name = value,
    CLRNN_STATUS_LIST(CLRNN_X_ENUM)
#undef CLRNN_X_ENUM
    CLRNN_STATUS_COUNT_
} clrnn_status;

/* "CLRNN_ERR_SHAPE_MISMATCH: a tensor has the wrong size or shape"-style name of a status
 * (the enum name); never NULL, "CLRNN_UNKNOWN_STATUS" for values outside the enum. */
CLRNN_API const char *clrnn_status_name(clrnn_status status);
/* Human sentence for a status; never NULL. */
CLRNN_API const char *clrnn_status_string(clrnn_status status);
/* Detail of the last failure on the calling thread ("" if none). Valid until the next clrnn call
 * on this thread. One line, safe to print: text taken from files (names in a model, .npy header
 * bytes) is escaped, every byte that is a control character (< 0x20, 0x7f, the C1 range
 * U+0080..U+009F), a bidi or line-separator character, or not valid UTF-8 appears as \xNN; the
 * backslash itself is not escaped. At most 2047 bytes; a longer message ends in "...". */
CLRNN_API const char *clrnn_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Devices and contexts
 * ------------------------------------------------------------------------------------- */
typedef enum clrnn_device_type {
    CLRNN_DEVICE_TYPE_OTHER = 0,
    CLRNN_DEVICE_TYPE_CPU = 1,
    CLRNN_DEVICE_TYPE_GPU = 2,
    CLRNN_DEVICE_TYPE_ACCELERATOR = 3
} clrnn_device_type;

typedef struct clrnn_device_info {
    int index; /* global index across all platforms, as used by CLRNN_DEVICE=<index> */
    int platform_index;
    char name[256];
    char vendor[256];
    char driver_version[128];
    char device_version[128];
    char platform_name[256];
    char platform_vendor[256];
    char platform_version[256];
    clrnn_device_type type;
    uint32_t compute_units;
    uint32_t max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    int fp16; /* cl_khr_fp16 */
    int fp64; /* cl_khr_fp64 */
} clrnn_device_info;

/* Lists every device of every platform. Writes at most `capacity` entries to `out` (may be NULL
 * when capacity is 0) and the total number of devices to *count. */
CLRNN_API clrnn_status clrnn_list_devices(clrnn_device_info *out, size_t capacity, size_t *count);

/* Index (into clrnn_list_devices order) of the device a spec selects. Spec grammar:
 *   NULL or ""  -> the GPU with the most compute units, else the CPU device with the most (PoCL),
 *                  else the accelerator with the most; first on ties. Never a simulator (Oclgrind,
 *                  or any device reporting GPU together with CPU/accelerator) or a software
 *                  rasterizer (Mesa llvmpipe/softpipe under Rusticl or Clover, SwiftShader): they
 *                  run every kernel, orders of magnitude slower, so they are used only when asked
 *                  for by index or name. clrnn-probe prints the choice, why, and what it passed over.
 *   "3"         -> the device with global index 3 (any kind)
 *   "gpu"|"cpu"|"accelerator" -> the default rule within that type (no simulator or rasterizer)
 *   any other   -> first device whose name, vendor, version, or platform name or vendor contains it
 *                  (case-insensitive), e.g. "pocl", "nvidia", "intel", "llvmpipe", "oclgrind".
 * CLRNN_ERR_NO_DEVICE when nothing matches; with only passed-over devices the message names them
 * and how to ask for one. */
CLRNN_API clrnn_status clrnn_select_device(const char *spec, int *index);

typedef struct clrnn_context clrnn_context;

typedef struct clrnn_context_params {
    /* Device spec (grammar above). NULL: the CLRNN_DEVICE environment variable, else default. */
    const char *device;
    /* Kernel binary cache directory. NULL: $CLRNN_CACHE_DIR, else $XDG_CACHE_HOME/clrnn,
     * else $HOME/.cache/clrnn.
     * The cache is a per-user trust boundary: a program binary is native code that every process
     * using the cache runs, so whoever can write the directory controls those processes. Do not
     * share one directory between users; give each user (CI job, container user) its own.
     *   - The directory is used only if it belongs to the effective user (or root) and neither its
     *     group nor others can write it (as ssh's StrictModes); otherwise the context warns once on
     *     stderr ("kernel cache not used, kernels compiled in memory"), sets
     *     clrnn_build_info.cache_warning and builds the kernels in memory (the CLBlast tuning
     *     file that clrnn-tune keeps there is not read or written either). Its parents are not
     *     checked (a sticky world-writable /tmp is fine): the directory is opened once and the
     *     entries reached through that descriptor.
     *   - clrnn creates the directory (and missing parents) with mode 0700, entries with 0600.
     *   - An entry is loaded only if it is a regular file (not a symlink, FIFO or directory) of the
     *     same owners, not writable by group or others, whose size matches its header and is at
     *     most 256 MiB, whose checksum matches, that the driver accepts, and whose program has
     *     every kernel clrnn needs. Any other entry is damaged: rebuilt from source and replaced
     *     (a temp file of a random name created O_EXCL|O_NOFOLLOW, then renamed over it).
     * The checksum detects damage, not tampering: it is no signature. */
    const char *cache_dir;
    /* Non-zero disables the on-disk kernel cache (also: CLRNN_CACHE_DISABLE=1). */
    int disable_cache;
    /* Non-zero: do not apply the tuned CLBlast parameters from the built-in database. */
    int disable_tuning;
} clrnn_context_params;

/* Defaults: every field zero/NULL. */
CLRNN_API clrnn_context_params clrnn_context_default_params(void);

/* Opens the selected device, creates a context and an in-order queue, builds (or loads from
 * the cache) the kernel program. Each kernel is created on its first use (a driver that compiles
 * in clCreateKernel, as Rusticl, then compiles only what runs; clrnn_rnn_prepare does it ahead).
 * params may be NULL for defaults.
 * Returns CLRNN_OK, CLRNN_ERR_NULL_ARGUMENT, CLRNN_ERR_NO_DEVICE (nothing matches the spec, or no
 * OpenCL platform), CLRNN_ERR_OPENCL, CLRNN_ERR_BUILD_FAILED (message holds the compiler log),
 * CLRNN_ERR_IO (CLRNN_KERNEL_DIR unreadable), CLRNN_ERR_BLAS, CLRNN_ERR_OUT_OF_MEMORY. A cache that
 * cannot be written or is not trusted (see cache_dir) is not an error: see
 * clrnn_build_info.cache_warning. A damaged cache entry is rebuilt and replaced.
 * Trace: with the environment variable CLRNN_VERBOSE=1 set when the context is created, it writes
 * to stderr one line per kernel launch or CLBlast GEMM (kernel, plan, shape, NDRange, device time
 * from OpenCL profiling events) and per program build or kernel creation (host time), e.g.
 *   clrnn_verbose,exec,lstm_step_tiled_4,tiled,l0 lstm T=100 N=64 I=512 H=512 D=1,-,32x1x1,1x1x1,<device ms>
 * The format is documented in src/core/launch.h; `clrnn-bench --profile` sums it up per kernel.
 * Its queue then has CL_QUEUE_PROFILING_ENABLE (an adopted queue is used as it is: no device times
 * without it); the lines of a call come out when it waits for its queue (the end of a forward, a
 * training call, clrnn_model_run, clrnn_context_finish, destroy). Unset (the default) costs
 * nothing: no events, no profiling queue.
 * Loop bound: Mesa's llvmpipe (Rusticl) ends every loop of a kernel invocation, silently, once it
 * has run 65535 loop iterations in all. The context knows its device's bound (65535 on a software
 * rasterizer, none elsewhere; CLRNN_LOOP_LIMIT=<n> at creation sets one on any device, 0 none;
 * CLRNN_LOOP_PROBE=1 measures it with a one-loop probe kernel instead), and every launch whose
 * kernel loops over a size stays under it: GEMMs run in chunks of K (clrnn's own SGEMM then, never
 * CLBlast), reductions in chunks of rows, scans in chunks of steps, a gpu-plan layer on the generic
 * kernels; one that cannot be split (a single dot product past the bound, e.g. a generic-plan LSTM
 * step with Hr above about 9800 on llvmpipe) fails with CLRNN_ERR_UNSUPPORTED naming the kernel,
 * never with wrong numbers. clrnn-probe's self-check measures the bound and fails where the device
 * ends loops earlier than the context knows. */
CLRNN_API clrnn_status clrnn_context_create(const clrnn_context_params *params, clrnn_context **out);

/* Adopts an application's own OpenCL objects (retained, released on destroy). The queue must be
 * an in-order queue on `device` within `context`. params->device is ignored.
 * Returns as clrnn_context_create, plus CLRNN_ERR_INVALID_ARGUMENT (queue of another context or
 * device) and CLRNN_ERR_UNSUPPORTED (out-of-order queue). */
CLRNN_API clrnn_status clrnn_context_create_from_cl(cl_context context, cl_device_id device, cl_command_queue queue,
                                                    const clrnn_context_params *params, clrnn_context **out);

CLRNN_API void clrnn_context_destroy(clrnn_context *ctx);

CLRNN_API clrnn_status clrnn_context_device_info(const clrnn_context *ctx, clrnn_device_info *info);
CLRNN_API cl_context clrnn_context_cl_context(const clrnn_context *ctx);
CLRNN_API cl_command_queue clrnn_context_cl_queue(const clrnn_context *ctx);
CLRNN_API cl_device_id clrnn_context_cl_device(const clrnn_context *ctx);

/* How the kernels of this context were obtained: 1 = loaded from clrnn's binary cache, 0 = built
 * from source. build_ms is the wall time spent getting the program. On PoCL clrnn keeps no binaries
 * (from_cache 0, cache_path ""): PoCL caches compiled kernels itself, and producing a program
 * binary makes it compile every kernel first; CLRNN_CACHE_MODE=binary|driver overrides this. */
typedef struct clrnn_build_info {
    int from_cache;
    double build_ms;
    char cache_path[1024]; /* "" when the cache is disabled, unusable, not trusted or left to the driver */
    char cache_warning[256]; /* e.g. the cache dir is read-only, or others can write it; "" if none */
} clrnn_build_info;
CLRNN_API clrnn_status clrnn_context_build_info(const clrnn_context *ctx, clrnn_build_info *info);

/* ---------------------------------------------------------------------------------------
 * GEMM (row-major): C = alpha * op(A) * op(B) + beta * C. On CPU devices clrnn's own
 * register-tiled SGEMM (the same function serves the training engine, the dense layer, the
 * generic plan and ONNX MatMul/Gemm; deterministic: the same bits run to run); elsewhere, and
 * for clrnn_sgemm_batched, CLBlast. The environment variable CLRNN_GEMM=clblast|own overrides
 * the choice for clrnn_sgemm (own: on any device). beta = 0: C is not read (NaN there is ignored).
 * Buffers are device buffers of the context; offsets and leading dimensions in elements.
 * As stored (row-major), A is m x k (k x m when trans_a), B is k x n (n x k when trans_b) and C
 * is m x n. An operand stored as R rows of Q columns at offset `off` needs ld >= Q and
 * off + ld*(R-1) + Q <= CL_MEM_SIZE/4. All of this is checked before anything is enqueued (a
 * refused call writes nothing, for the batched call not even its good items):
 *   CLRNN_ERR_NULL_ARGUMENT     a buffer, or (batched) alphas, betas or an offset array, is NULL
 *   CLRNN_ERR_INVALID_ARGUMENT  ctx dead or foreign; m, n, k or batch is 0; a buffer of another
 *                               OpenCL context than ctx's; ld < Q
 *   CLRNN_ERR_OVERFLOW          the extent's byte size does not fit size_t (an offset or ld near 2^62)
 *   CLRNN_ERR_SHAPE_MISMATCH    the extent passes the end of the buffer
 * The message names the operand ("A: ...") and, batched, the item ("item 2: C: ..."). While
 * running: CLRNN_ERR_BLAS, CLRNN_ERR_DEVICE_OUT_OF_MEMORY, CLRNN_ERR_OPENCL.
 * Enqueued on the context queue; returns after enqueueing (use clrnn_context_finish to wait).
 * CLBlast keeps its compiled programs per OpenCL context, in one process-wide cache that only
 * CLBlastClearCache() empties. So destroying a context that used CLBlast (a GEMM here, a dense
 * layer, the generic plan, an ONNX MatMul/Gemm) clears that cache: other live contexts, and an
 * application's own CLBlast calls, rebuild their GEMM programs on their next call.
 * ------------------------------------------------------------------------------------- */
CLRNN_API clrnn_status clrnn_sgemm(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                   float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                                   float beta, cl_mem c, size_t c_off, size_t ldc);
/* Same shape, `batch` independent products; offsets per item. */
CLRNN_API clrnn_status clrnn_sgemm_batched(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n,
                                           size_t k, const float *alphas, cl_mem a, const size_t *a_offs, size_t lda,
                                           cl_mem b, const size_t *b_offs, size_t ldb, const float *betas, cl_mem c,
                                           const size_t *c_offs, size_t ldc, size_t batch);
CLRNN_API clrnn_status clrnn_context_finish(clrnn_context *ctx);

/* ---------------------------------------------------------------------------------------
 * RNN descriptor. See SEMANTICS in README for the exact equations.
 * ------------------------------------------------------------------------------------- */
typedef enum clrnn_cell {
    CLRNN_CELL_RNN = 0,  /* h = f(W x + R h + Wb + Rb) */
    CLRNN_CELL_LSTM = 1, /* gates i, f, c(g), o; optional peepholes, CIFG, projection */
    CLRNN_CELL_GRU = 2   /* gates z, r, h(n); reset-before or linear-before-reset */
} clrnn_cell;

/* ONNX activation functions. alpha/beta as in the ONNX spec:
 *   AFFINE: alpha*x+beta   LEAKY_RELU: x<0 ? alpha*x : x   THRESHOLDED_RELU: x>alpha ? x : 0
 *   SCALED_TANH: alpha*tanh(beta*x)   HARD_SIGMOID: max(0,min(1,alpha*x+beta))
 *   ELU: x<0 ? alpha*(exp(x)-1) : x   SOFTPLUS: log(1+exp(x))   SOFTSIGN: x/(1+|x|)
 * computed in forms that do not overflow (softplus of a finite x is finite) and give the exact limit
 * at +-Inf; a NaN input gives NaN through every activation and every clip (clip, cell_clip,
 * proj_clip), as in the double reference. SIGMOID and TANH (also inside SCALED_TANH) are clrnn's
 * own, not the device's libm: within 2.41 and 1.55 ulp of the exact value for every float where
 * float division is correctly rounded (CPU devices; OpenCL lets others be 2.5 ulp off), the same
 * function bit for bit in every plan and run. */
typedef enum clrnn_activation_kind {
    CLRNN_ACT_DEFAULT = 0, /* the cell's default for that slot */
    CLRNN_ACT_SIGMOID,
    CLRNN_ACT_TANH,
    CLRNN_ACT_RELU,
    CLRNN_ACT_AFFINE,
    CLRNN_ACT_LEAKY_RELU,
    CLRNN_ACT_THRESHOLDED_RELU,
    CLRNN_ACT_SCALED_TANH,
    CLRNN_ACT_HARD_SIGMOID,
    CLRNN_ACT_ELU,
    CLRNN_ACT_SOFTSIGN,
    CLRNN_ACT_SOFTPLUS,
    CLRNN_ACT_COUNT_
} clrnn_activation_kind;

typedef struct clrnn_activation {
    clrnn_activation_kind kind;
    float alpha;
    float beta;
} clrnn_activation;

typedef enum clrnn_direction {
    CLRNN_DIR_FORWARD = 0,
    CLRNN_DIR_REVERSE = 1,
    CLRNN_DIR_BIDIRECTIONAL = 2
} clrnn_direction;

/* How the two directions of a bidirectional last layer are combined (Keras merge_mode).
 * NONE keeps a direction axis: time-major Y[T, 2, N, H], batch-major Y[N, T, 2, H] (ONNX Y).
 * Inner layers always feed the next layer the concatenation (PyTorch, cuDNN). */
typedef enum clrnn_merge {
    CLRNN_MERGE_CONCAT = 0,
    CLRNN_MERGE_SUM = 1,
    CLRNN_MERGE_MUL = 2,
    CLRNN_MERGE_AVE = 3,
    CLRNN_MERGE_NONE = 4
} clrnn_merge;

typedef enum clrnn_layout {
    CLRNN_LAYOUT_TIME_MAJOR = 0, /* [T, N, C]: ONNX layout 0, PyTorch default, TF1 time_major */
    CLRNN_LAYOUT_BATCH_MAJOR = 1 /* [N, T, C]: ONNX layout 1, Keras, batch_first, TF1 default */
} clrnn_layout;

/* What the output holds at a step that is not computed (t >= seq_len, or mask == 0). The state
 * is always carried unchanged through such steps. */
typedef enum clrnn_masked_output {
    CLRNN_MASKED_OUTPUT_ZERO = 0,  /* zeros (TF1, ONNX, PyTorch padding, Keras zero_output_for_mask) */
    CLRNN_MASKED_OUTPUT_CARRY = 1, /* the previous output of that direction, zeros before the first
                                      computed step (Keras default) */
    CLRNN_MASKED_OUTPUT_FILL = 2   /* desc.masked_fill_value */
} clrnn_masked_output;

/* Where the reverse direction's outputs go (single reverse layer, or the backward half). */
typedef enum clrnn_reverse_order {
    CLRNN_REVERSE_OUTPUT_IN_PLACE = 0, /* output of time t at position t (ONNX, PyTorch, TF1, Keras Bidirectional) */
    CLRNN_REVERSE_OUTPUT_REVERSED = 1  /* output of the k-th processed step at position k (Keras go_backwards) */
} clrnn_reverse_order;

/* Which time steps the reverse direction walks, and in which order.
 * PER_ROW: a row of length len processes t = len-1 .. 0 (ONNX, TF1, PyTorch packed).
 * WHOLE_AXIS: t = T-1 .. 0 for every row, skipping masked/padded steps (Keras go_backwards). */
typedef enum clrnn_reverse_mode {
    CLRNN_REVERSE_PER_ROW = 0,
    CLRNN_REVERSE_WHOLE_AXIS = 1
} clrnn_reverse_mode;

typedef enum clrnn_dropout_mode {
    CLRNN_DROPOUT_VARIATIONAL = 0, /* one input/recurrent mask per sample for all steps (Keras) */
    CLRNN_DROPOUT_PER_STEP = 1     /* a new input/recurrent mask at every step */
} clrnn_dropout_mode;

/* How an rnn keeps its tensors in device memory (clrnn_rnn_desc.storage). The user's tensors (x, y,
 * h0, c0, hn, cn, every weight passed to clrnn_rnn_set_param) stay float32 at the API either way;
 * what is stored narrower on the device is the input and recurrent weights W and R, the peepholes,
 * the LSTM projection, and the activations between kernels (the input x once on the device, the input
 * projections, the states h and c, the layer outputs, the merge's input). Biases, the dense layer and
 * the user's tensors stay float32; every product accumulates and every gate computes in float32.
 *   FP32  float32 (the default).
 *   FP16  IEEE half (11 significant bits, unit roundoff u = 2^-11 ~ 4.9e-4; finite only up to 65504:
 *         a larger value is stored as inf), rounded to nearest even as vstore_half_rte does (core
 *         OpenCL 1.2: no cl_khr_fp16 needed).
 *   BF16  bfloat16 (8 significant bits, u = 2^-8 ~ 3.9e-3; float32's range), rounded to nearest even.
 * The stored tensors take half the bytes: the weights (clrnn_rnn_weight_bytes) by half but for the
 * float32 biases; the workspace (clrnn_rnn_workspace_bytes) by less, as the float32 staging of a
 * host y stays (0.57 of fp32 for an LSTM with I = H). Against the float64 reference, every output
 * of the forward suite (tests/forward, run with CLRNN_STORAGE=fp16|bf16 under each plan) is held to
 * |got - exp| <= tol (1 + |exp|) with tol = 1e-3 for FP16 and 8e-3 for BF16: the error is a small
 * multiple of u (a chain of roundings of x, W, x_proj, R, h, c through activations of slope <= 1), so
 * BF16's bound is FP16's times 2^-8 / 2^-11. A discontinuous activation (THRESHOLDED_RELU) can flip
 * where a pre-activation lies within rounding of alpha: no bound holds there. On a CPU through PoCL
 * narrower storage is not faster (the conversions cost more than the halved memory traffic saves).
 * Inference only: clrnn_reserve_create refuses an rnn with FP16 or BF16 storage
 * (CLRNN_ERR_UNSUPPORTED), so it cannot run forward_train or a backward. The first forward of an
 * FP16 or BF16 rnn on a context builds that storage type's kernel program (once per context). */
typedef enum clrnn_storage {
    CLRNN_STORAGE_FP32 = 0,
    CLRNN_STORAGE_FP16 = 1,
    CLRNN_STORAGE_BF16 = 2
} clrnn_storage;

typedef struct clrnn_rnn_desc {
    clrnn_cell cell;
    int input_size;  /* I: features of the first layer's input */
    int hidden_size; /* H */
    int num_layers;  /* L >= 1 */
    clrnn_direction direction;
    clrnn_merge merge; /* bidirectional only */
    clrnn_layout layout;

    /* Activations per direction, slot order as ONNX: RNN {f}, GRU {f, g}, LSTM {f, g, h}.
     * Defaults: RNN tanh; GRU sigmoid, tanh; LSTM sigmoid, tanh, tanh. */
    clrnn_activation activations[2][3];
    /* ONNX `clip`: every activation input is clamped to [-clip, clip]; 0 = off. The carried LSTM
     * cell state stays unclipped. */
    float clip;

    /* LSTM options */
    int peephole;       /* use P (i, f, o diagonal peepholes) */
    int input_forget;   /* CIFG: f = 1 - i */
    int proj_size;      /* P: LSTMP projection m = W_proj h; 0 = none. Must be < H (PyTorch) or any >0 */
    float cell_clip;    /* TF1 cell_clip: c_t itself clamped to [-cell_clip, cell_clip]; 0 = off */
    float proj_clip;    /* TF1 proj_clip on m_t; 0 = off */
    float forget_bias;  /* added to the forget-gate pre-activation (TF1 forget_bias); default 0 */

    /* GRU option */
    int linear_before_reset; /* 1: n = g(Wx + Wb + r*(R h + Rb)) (PyTorch, Keras reset_after) */

    /* Variable length and masks */
    clrnn_masked_output masked_output;
    float masked_fill_value;
    clrnn_reverse_order reverse_order;
    clrnn_reverse_mode reverse_mode;

    /* Optional dense layer applied to the (merged) output at every step: y' = y Wd^T + bd.
     * 0 = none. Not allowed with merge NONE. */
    int dense_size;

    /* Training-time dropout (clrnn_rnn_forward_train only; clrnn_rnn_forward ignores it). Rates in
     * [0, 1); kept elements are scaled by 1/(1-p) (inverted dropout). Masks come from a
     * counter-based RNG keyed by dropout_seed and the forward_train call's number, regenerated by
     * the backward (never stored): bitwise the same run to run.
     *   dropout: on the output of every layer but the last, per element and step (PyTorch/cuDNN
     *     `dropout`, TF1 DropoutWrapper output_keep_prob without variational_recurrent, a Keras
     *     Dropout layer between layers).
     *   input_dropout: on each layer's input x_t, one mask per gate (Keras `dropout` as its cells
     *     run it with recurrent_dropout set, implementation 1).
     *   recurrent_dropout: on h_{t-1} where it enters the recurrent product, one mask per gate
     *     (Keras `recurrent_dropout`); the carried state itself is not dropped.
     * dropout_mode says whether the input and recurrent masks are drawn once per sample for the
     * whole sequence (VARIATIONAL: Keras) or afresh at every step.
     * dropout_shared (below) shares the masks over the gates. Not expressible
     * (tests/golden/grad/README.md has the checks): TF1 DropoutWrapper state_keep_prob (drops the
     * carried state). */
    float dropout;
    float input_dropout;
    float recurrent_dropout;
    clrnn_dropout_mode dropout_mode;
    uint64_t dropout_seed;
    /* 1: one input mask and one recurrent mask shared by every gate instead of one per gate. With
     * dropout_mode PER_STEP, input_dropout is then Keras LSTM/GRU `dropout` without
     * recurrent_dropout as Keras runs it (its fused path: one mask per step over the gates, a
     * Dropout layer on x); with VARIATIONAL, Keras's cells at implementation 2. 0 or 1. */
    int dropout_shared;

    /* Device storage of weights and activations (clrnn_storage above); default FP32. */
    clrnn_storage storage;
} clrnn_rnn_desc;

/* Defaults: LSTM, 1 layer, forward, concat, time-major, default activations, everything off. */
CLRNN_API clrnn_rnn_desc clrnn_rnn_desc_default(void);

typedef struct clrnn_rnn clrnn_rnn;

/* Validates the descriptor (every inconsistency is CLRNN_ERR_INVALID_DESCRIPTOR with a message
 * naming the field) and allocates host-side weight storage. No device work yet.
 * Returns CLRNN_OK, CLRNN_ERR_NULL_ARGUMENT, CLRNN_ERR_INVALID_DESCRIPTOR, CLRNN_ERR_OUT_OF_MEMORY.
 * The plan (which kernels run) is chosen here for the context's device: register-tiled kernels on
 * CPU devices ("tiled"), local-memory tiled step kernels on GPUs ("gpu": a work-group computes a
 * tile of units x batch rows, R staged once per tile; CLRNN_GPU_TILE=<units>x<rows> forces the
 * largest tile, for tuning; also on a software rasterizer such as Mesa's llvmpipe, whose compiler
 * takes seconds for each tiled kernel and under a second for these), per-unit kernels elsewhere
 * ("generic"); all cover every cell and option. The environment variable CLRNN_PLAN=tiled|gpu|generic
 * overrides it (for testing). The tiled plan runs a layer's
 * recurrence either as a launch per step or as one persistent launch; which is faster depends on
 * device and shape, so it is measured per batch size during the 2nd and 3rd forward of that size
 * (on the layer's own steps, nothing recomputed; outputs are bitwise the same either way), and
 * CLRNN_SCAN=steps|persistent forces one. On a software rasterizer (Mesa llvmpipe, which silently
 * ends every loop of a kernel invocation once it has run 65535 loop iterations in all) the
 * persistent scan runs in launches of as many steps as stay under that bound (CLRNN_LOOP_LIMIT=<n>
 * sets a bound on any device, for testing; see clrnn_context_create for the bound's other launches). */
CLRNN_API clrnn_status clrnn_rnn_create(clrnn_context *ctx, const clrnn_rnn_desc *desc, clrnn_rnn **out);
CLRNN_API void clrnn_rnn_destroy(clrnn_rnn *rnn);
CLRNN_API clrnn_status clrnn_rnn_get_desc(const clrnn_rnn *rnn, clrnn_rnn_desc *desc);

/* Derived sizes. */
CLRNN_API int clrnn_rnn_num_directions(const clrnn_rnn *rnn); /* 1 or 2 */
CLRNN_API int clrnn_rnn_state_size(const clrnn_rnn *rnn);      /* Hr: proj_size if set, else H */
CLRNN_API int clrnn_rnn_output_size(const clrnn_rnn *rnn);     /* features of y per (t, n) after merge and dense */

/* ---------------------------------------------------------------------------------------
 * Weights, in the layout and gate order of the framework that produced them.
 * Gate orders: ONNX LSTM i,o,f,c GRU z,r,h; PyTorch LSTM i,f,g,o GRU r,z,n; Keras LSTM i,f,c,o
 * GRU z,r,h; TF1 LSTMCell i,j,f,o, GRUCell gates r,u then candidate.
 *
 * role / framework:      ONNX              PyTorch           Keras                  TF1
 *  W       input         W[d] [G*H, I]     weight_ih [G*H,I] kernel [I, G*H]        -
 *  R       recurrent     R[d] [G*H, Hr]    weight_hh [G*H,Hr] recurrent_kernel [Hr,G*H] -
 *  B       bias          B[d] [2*G*H]      -                 bias [G*H], GRU reset_after
 *                        (Wb then Rb)                        [2, G*H] (input; recurrent) bias [G*H] (GRU: gates/bias [2H])
 *  BW      input bias    Wb [G*H]          bias_ih [G*H]     -                      -
 *  BR      recur. bias   Rb [G*H]          bias_hh [G*H]     -                      -
 *  PEEPHOLE              P[d] [3H] i,o,f   -                 -                      [3H] w_i_diag,w_f_diag,w_o_diag
 *  PROJ    projection    -                 weight_hr [P, H]  -                      projection/kernel [H, P]
 *  KERNEL  W and R stacked  -              -                 -                      kernel [I+Hr, G*H] (GRU: gates/kernel [I+H, 2H])
 *  CANDIDATE_KERNEL      -                 -                 -                      GRUCell candidate/kernel [I+H, H]
 *  CANDIDATE_BIAS        -                 -                 -                      GRUCell candidate/bias [H]
 *  DENSE_W  output dense [O, Hm]           Linear.weight [O,Hm] Dense.kernel [Hm, O] [Hm, O]
 *  DENSE_B               [O]               [O]               [O]                    [O]
 * (layer, dir) select the layer and direction (0 forward, 1 reverse); ignored for DENSE_*.
 * `count` must equal the element count of the role's shape: else CLRNN_ERR_SHAPE_MISMATCH.
 * Non-finite values are rejected with CLRNN_ERR_NON_FINITE (nothing is stored).
 * Unset biases and peepholes are zero; W and R (or KERNEL) are required.
 * ------------------------------------------------------------------------------------- */
typedef enum clrnn_framework {
    CLRNN_FRAMEWORK_ONNX = 0,
    CLRNN_FRAMEWORK_PYTORCH = 1,
    CLRNN_FRAMEWORK_KERAS = 2,
    CLRNN_FRAMEWORK_TF1 = 3
} clrnn_framework;

typedef enum clrnn_param {
    CLRNN_PARAM_W = 0,
    CLRNN_PARAM_R,
    CLRNN_PARAM_B,
    CLRNN_PARAM_BW,
    CLRNN_PARAM_BR,
    CLRNN_PARAM_PEEPHOLE,
    CLRNN_PARAM_PROJ,
    CLRNN_PARAM_KERNEL,
    CLRNN_PARAM_CANDIDATE_KERNEL,
    CLRNN_PARAM_CANDIDATE_BIAS,
    CLRNN_PARAM_DENSE_W,
    CLRNN_PARAM_DENSE_B,
    CLRNN_PARAM_COUNT_
} clrnn_param;

/* Returns CLRNN_OK, CLRNN_ERR_NULL_ARGUMENT, CLRNN_ERR_INVALID_ARGUMENT (unknown framework or role,
 * layer/dir out of range, a role that framework or this descriptor does not have),
 * CLRNN_ERR_SHAPE_MISMATCH (count), CLRNN_ERR_NON_FINITE. */
CLRNN_API clrnn_status clrnn_rnn_set_param(clrnn_rnn *rnn, clrnn_framework framework, int layer, int dir,
                                           clrnn_param role, const float *data, size_t count);

/* ---------------------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------------------- */
/* A tensor argument: either host memory or a device buffer of the context (offset in bytes).
 * Both NULL means "not given". */
typedef struct clrnn_tensor {
    void *host;
    cl_mem mem;
    size_t offset;
} clrnn_tensor;

typedef struct clrnn_forward_args {
    int seq_length; /* T >= 1 */
    int batch;      /* N >= 1 */

    clrnn_tensor x; /* time-major [T, N, I] or batch-major [N, T, I] (desc.layout) */

    /* Optional per-row lengths [N] (int32), 0 <= len <= T. NULL: all T. A row of length 0 keeps its
     * initial state and gets masked outputs. */
    const int32_t *seq_lens;
    /* Optional per-step mask [N, T] (uint8, non-zero = compute the step), any pattern. */
    const uint8_t *mask;

    /* Optional initial states [L*D, N, Hr] and (LSTM) [L*D, N, H]; index = layer*D + dir.
     * Not given: zeros. */
    clrnn_tensor h0;
    clrnn_tensor c0;

    /* Outputs (each optional).
     * y: full sequence: time-major [T, N, O] / batch-major [N, T, O]; merge NONE: [T, 2, N, Hr] /
     *    [N, T, 2, Hr]; O = clrnn_rnn_output_size().
     *    With last_only: [N, O] (merge NONE: [2, N, Hr]) = the output of each row's last computed
     *    step per direction (forward: its last valid step; reverse: t = first valid), i.e. the final
     *    states merged (and passed through the dense layer); masked-output policy for rows with
     *    no computed step.
     * hn, cn: final states [L*D, N, Hr] and [L*D, N, H]. */
    int last_only;
    clrnn_tensor y;
    clrnn_tensor hn;
    clrnn_tensor cn;
} clrnn_forward_args;

/* Runs the network. Uploads weights the first time (and after any clrnn_rnn_set_param), sizes the
 * workspace (kept and reused while calls fit: its step buffers grow to the largest T*N seen and its
 * state buffers to the largest N, or to this call's own need when those do not fit the device
 * together), enqueues everything and waits for it.
 * Arguments are checked before any device work: CLRNN_ERR_NULL_ARGUMENT (rnn, args or x missing),
 * CLRNN_ERR_INVALID_ARGUMENT (T or N < 1, a tensor with both host and mem, a mem offset not a
 * multiple of 4, c0/cn for a non-LSTM), CLRNN_ERR_SHAPE_MISMATCH (a device buffer too small),
 * CLRNN_ERR_INVALID_LENGTH (seq_lens outside [0, T]), CLRNN_ERR_OVERFLOW (T*N*D too large),
 * CLRNN_ERR_MISSING_WEIGHTS; so are a dead or foreign rnn handle and a device buffer of another
 * OpenCL context (CLRNN_ERR_INVALID_ARGUMENT), and a workspace or weights larger than the device
 * allows per buffer, or together larger than its global memory (CLRNN_ERR_DEVICE_OUT_OF_MEMORY,
 * checked before allocating: the rnn keeps what it held and runs calls that fit). All of these
 * are reported before anything is written or enqueued, and leave every output untouched. A
 * released or junk cl_mem cannot be detected (see the conventions above): undefined behaviour.
 * Only a failure of the device during execution (CLRNN_ERR_OPENCL, CLRNN_ERR_BLAS, a driver
 * allocation failure) can leave outputs partly written; they must then not be used. */
CLRNN_API clrnn_status clrnn_rnn_forward(clrnn_rnn *rnn, const clrnn_forward_args *args);

/* Does ahead of time what the first forward of a shape would (like CLBlast's FillCache), so that
 * an application can hide it behind a splash screen: builds and compiles every kernel a forward of
 * seq_length x batch runs (with an empty driver cache that is seconds on PoCL, minutes for some
 * drivers), uploads the weights and sizes the workspace for that shape. It runs the forward on
 * zeros, twice (full y and last_only; the initial and final states in device buffers), so the
 * weights must be set (CLRNN_ERR_MISSING_WEIGHTS otherwise) and it costs about two forwards.
 * After it, a forward of that shape or smaller with the same options creates and compiles no
 * kernel. A call of a larger shape may grow the workspace; one in another form (seq_lens, mask,
 * batch-major input) may still compile a kernel for a work-group size not seen here. The tiled
 * plan's choice between its two scans (see clrnn_rnn_plan) counts these runs as its first calls.
 * CLRNN_ERR_INVALID_ARGUMENT for seq_length or batch < 1, and the errors of clrnn_rnn_forward. */
CLRNN_API clrnn_status clrnn_rnn_prepare(clrnn_rnn *rnn, int seq_length, int batch);

/* Bytes of device workspace the rnn currently holds (0 before the first run). A refused call
 * (CLRNN_ERR_DEVICE_OUT_OF_MEMORY) leaves it as it was. */
CLRNN_API size_t clrnn_rnn_workspace_bytes(const clrnn_rnn *rnn);
/* Bytes of device memory the rnn's uploaded weights hold (0 before the first run; W, R, peepholes
 * and the projection in the rnn's storage type, biases, activations and the dense layer float32). */
CLRNN_API size_t clrnn_rnn_weight_bytes(const clrnn_rnn *rnn);

/* One line naming the plan the rnn runs: which kernels, blocking, how the input projection is done
 * and, for the tiled plan, the scan chosen (and its measured times) per batch size so far; for the
 * gpu plan its tile sizes and why, the tile of the last call, and that it offers no persistent scan
 * (e.g. for `clrnn-bench --verbose`); for the tiled plan also which training forward
 * clrnn_rnn_forward_train runs ("training forward: tiled scan ..." or "portable (<the option it
 * leaves to the portable kernels>)"); and the storage type when it is not fp32 ("...; weights and
 * activations stored as fp16, fp32 arithmetic"). Writes at most cap bytes (NUL-terminated); returns buf. A NULL or dead
 * rnn, or one whose context is gone, gives "(<the error message>)". */
CLRNN_API const char *clrnn_rnn_plan(const clrnn_rnn *rnn, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------
 * Training: backpropagation through time (see README, Training)
 *
 *   clrnn_reserve_create(rnn, &res);
 *   clrnn_rnn_forward_train(rnn, &fwd, res);          // outputs as clrnn_rnn_forward
 *   clrnn_rnn_backward_data(rnn, res, &bwd);          // dx, dh0, dc0 from dy, dhn, dcn
 *   clrnn_rnn_backward_weights(rnn, res, CLRNN_WGRAD_SET);  // every parameter's gradient
 *   clrnn_rnn_get_grad(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_W, buf, count);
 *
 * Completion: a training call whose tensors are all device buffers (forward_train, backward_data,
 * backward_weights; clrnn_loss's gradient and clrnn_optimizer_step below) returns once its work is
 * enqueued on the context's in-order queue, as a cuDNN or oneDNN call returns on its stream: the
 * next call on the context sees its results, and clrnn_context_finish waits for them (do that
 * before reading such a buffer through another queue). A call that reads or writes any host
 * tensor waits for its work before it returns, so that memory may be reused at once; so do calls
 * that return values (a loss, a gradient norm, get_grad, get_param), and every call while the
 * trace is on. A device failure inside work that was only enqueued is reported by the next call
 * that waits (or clrnn_context_finish).
 * ------------------------------------------------------------------------------------- */
/* What a backward needs from its forward (gates, states, masks), on the device; sized on use and
 * reused while later calls fit. One reserve serves one forward_train → backward sequence at a time.
 *   - A reserve belongs to the rnn it was created for: passing it with another rnn, or a destroyed
 *     one, is CLRNN_ERR_INVALID_ARGUMENT (a NULL one CLRNN_ERR_NULL_ARGUMENT); it may be destroyed
 *     after its rnn (destroy(NULL) and of a destroyed reserve are ignored).
 *   - Its size grows with the largest T*N (and N) a forward_train ran with: per step row about
 *     L*D*(G*H*(1 + lbr GRU) + the cell's kept values, 2*H to 8*H) + the layer outputs floats;
 *     counted, with the rnn's weights and workspace, against the device's limits before anything
 *     is allocated (CLRNN_ERR_DEVICE_OUT_OF_MEMORY; the reserve keeps what it held). Several
 *     reserves of one rnn (truncated BPTT over chunks kept for later) are each counted alone.
 *   - Masks are never stored: the dropout masks are regenerated from the seed and the call number. */
typedef struct clrnn_reserve clrnn_reserve;
CLRNN_API clrnn_status clrnn_reserve_create(clrnn_rnn *rnn, clrnn_reserve **out);
CLRNN_API void clrnn_reserve_destroy(clrnn_reserve *reserve);

/* As clrnn_rnn_forward (same args, same checks, same outputs within rounding: the training forward
 * runs its own kernels), with training-time dropout applied, keeping in `reserve` what the backward
 * needs. Each call that passes its checks takes the rnn's next call number (0, 1, 2, ...: the
 * dropout masks of that call). The trainable values on the device (clrnn_rnn_set_param's weights,
 * uploaded when they changed) are the ones an optimizer updates; a later clrnn_rnn_forward,
 * set_param or get_param reads them back first. Steps that are not computed (lengths, mask) never
 * reach a gradient: their input elements may hold anything, NaN included. */
CLRNN_API clrnn_status clrnn_rnn_forward_train(clrnn_rnn *rnn, const clrnn_forward_args *args, clrnn_reserve *reserve);

typedef struct clrnn_backward_args {
    clrnn_tensor dy, dhn, dcn; /* gradients of the forward's y (last_only: [N, O]), hn, cn; not given: zero */
    clrnn_tensor dx, dh0, dc0; /* outputs: gradients of x, h0, c0; each optional */
} clrnn_backward_args;
/* The backward of the reserve's last forward_train (its T, N, lengths, mask, last_only, dropout
 * masks; the rnn's current trainable values: update them between forward_train and backward and
 * the gradients are of neither). Shapes: dy as the forward's y (merge NONE included; in the
 * layout of the descriptor), dhn/dh0 [L*D, N, Hr], dcn/dc0 [L*D, N, H] (LSTM only, else
 * CLRNN_ERR_INVALID_ARGUMENT), dx as x. The gradient contract:
 *   - masked or padded steps: dx = 0 there and no weight-gradient contribution; dh, dc pass
 *     through unchanged; dhn/dcn enter at each row's last computed step; dy at a masked step is
 *     dropped (ZERO, FILL) or, with CARRY, added to the last computed output before it in that
 *     direction's processing order (dropped when there is none). A row of length 0: dh0 = dhn.
 *   - last_only: dy [N, O] reaches the last layer's final states, for rows with a computed step.
 *   - derivatives of clip, cell_clip and proj_clip are 1 inside [-clip, clip], 0 outside; CIFG's
 *     forget rows and forget_bias get no gradient.
 * Refused before any device work, writing nothing: CLRNN_ERR_NULL_ARGUMENT (rnn, reserve or args),
 * CLRNN_ERR_INVALID_ARGUMENT (a reserve of another rnn or destroyed, no forward_train on it yet, a
 * tensor with both host and mem, a cl_mem of another OpenCL context, dcn/dc0 for a non-LSTM),
 * CLRNN_ERR_SHAPE_MISMATCH (a device buffer too small). No atomics: bitwise the same run to run. */
CLRNN_API clrnn_status clrnn_rnn_backward_data(clrnn_rnn *rnn, clrnn_reserve *reserve, const clrnn_backward_args *args);

typedef enum clrnn_wgrad_mode { CLRNN_WGRAD_SET = 0, CLRNN_WGRAD_ADD = 1 } clrnn_wgrad_mode;
/* After backward_data on the same reserve: the gradient of every parameter (dense layer included),
 * kept on the device in the rnn; ADD accumulates (truncated BPTT, gradient accumulation). SET then
 * ADD of the same step gives exactly twice SET's bits (each pass computes the same values, x + x is
 * exact). Gradients are in clrnn's internal layout on the device (read them with get_grad); dWb and
 * dRb are kept apart (they differ for the linear-before-reset GRU's n gate). Without a
 * backward_data on this reserve since its forward_train: CLRNN_ERR_INVALID_ARGUMENT, nothing
 * written. The reserve stays valid: backward_data and backward_weights may be run again. */
CLRNN_API clrnn_status clrnn_rnn_backward_weights(clrnn_rnn *rnn, clrnn_reserve *reserve, clrnn_wgrad_mode mode);

/* Mirror clrnn_rnn_set_param: a role's gradient / current value in that framework's layout and
 * gate order (same roles, shapes and count rule). get_grad before any backward_weights of the rnn
 * is CLRNN_ERR_INVALID_ARGUMENT; a role that combines Wb and Rb (Keras' bias, TF1's) reads dWb. */
CLRNN_API clrnn_status clrnn_rnn_get_grad(clrnn_rnn *rnn, clrnn_framework framework, int layer, int dir,
                                          clrnn_param role, float *out, size_t count);
CLRNN_API clrnn_status clrnn_rnn_get_param(clrnn_rnn *rnn, clrnn_framework framework, int layer, int dir,
                                           clrnn_param role, float *out, size_t count);

/* ---------------------------------------------------------------------------------------
 * Training glue: embedding, masking, losses, optimizers and gradient clipping, on the device
 * (what the tutorials' models need around the rnn; clrnn-train is written on these)
 *
 *   clrnn_embedding_forward(emb, &ids, x, mask, lengths, &right_padded);  // ids -> x [N, T, dim]
 *   clrnn_rnn_forward_train(rnn, &fwd, res);                             // y: the logits
 *   clrnn_loss(ctx, &loss_args, &loss);                                  // loss, metric, dlogits
 *   clrnn_rnn_backward_data(rnn, res, &bwd);                             // dy = dlogits -> dx
 *   clrnn_rnn_backward_weights(rnn, res, CLRNN_WGRAD_SET);
 *   clrnn_embedding_backward(emb, &ids, dx, CLRNN_WGRAD_SET);            // dx -> d(table)
 *   clrnn_optimizer_step(opt, rnn, emb, &grad_norm);                     // clip, update
 *
 * Every reduction runs in a fixed order, without atomics: results are bitwise the same run to
 * run. Every argument (shapes, labels and ids against their range, weights, sizes of device
 * buffers) is checked before any device work, and a refused call writes no output. The kernels
 * are one program per context, built on the first call that needs it.
 * ------------------------------------------------------------------------------------- */

/* Token ids [N, T] (host), row n = sample, batch-major; exactly one of ids32 / ids64 is given. */
typedef struct clrnn_ids {
    int batch;      /* N >= 1 */
    int seq_length; /* T >= 1 */
    const int32_t *ids32;
    const int64_t *ids64;
} clrnn_ids;

/* An embedding table [vocab, dim] on the device, its gradient beside it (zeros until the first
 * backward), both trainable through clrnn_optimizer_step. Created with a zero table. */
typedef struct clrnn_embedding clrnn_embedding;
/* mask_zero: id 0 is padding (Keras Embedding(mask_zero=True)): forward reports it as a masked step. */
CLRNN_API clrnn_status clrnn_embedding_create(clrnn_context *ctx, int vocab, int dim, int mask_zero,
                                              clrnn_embedding **out);
CLRNN_API void clrnn_embedding_destroy(clrnn_embedding *emb);
/* The table, [vocab, dim] row-major (PyTorch Embedding.weight, Keras embeddings): count must be
 * vocab*dim (CLRNN_ERR_SHAPE_MISMATCH); a NaN or infinite value is CLRNN_ERR_NON_FINITE (nothing stored). */
CLRNN_API clrnn_status clrnn_embedding_set_table(clrnn_embedding *emb, const float *data, size_t count);
CLRNN_API clrnn_status clrnn_embedding_get_table(clrnn_embedding *emb, float *out, size_t count);
CLRNN_API clrnn_status clrnn_embedding_get_grad(clrnn_embedding *emb, float *out, size_t count);
/* x[n, t, :] = table[ids[n, t], :] into x [N, T, dim] (batch-major; host or device). Optional
 * host outputs, for mask_zero tables (else every step counts as computed):
 *   mask [N, T]: 1 where the id is not 0 (clrnn_forward_args.mask);
 *   lengths [N]: per row the number of steps before its first masked one;
 *   right_padded: 1 when every row's mask is ones then zeros (lengths then describe the mask
 *   exactly and may be given as clrnn_forward_args.seq_lens instead), else 0.
 * An id outside [0, vocab) is CLRNN_ERR_OUT_OF_RANGE, naming the first such (n, t) and its value. */
CLRNN_API clrnn_status clrnn_embedding_forward(clrnn_embedding *emb, const clrnn_ids *ids, clrnn_tensor x,
                                               uint8_t *mask, int32_t *lengths, int *right_padded);
/* d(table)[v, :] = sum of dx[n, t, :] over the (n, t) with ids[n, t] = v, summed in (n, t) order
 * (positions sorted by id on the host, no atomics; PyTorch's sorted backward). dx [N, T, dim]
 * batch-major, host or device. SET overwrites the gradient (rows no id names become 0), ADD adds. */
CLRNN_API clrnn_status clrnn_embedding_backward(clrnn_embedding *emb, const clrnn_ids *ids, clrnn_tensor dx,
                                                clrnn_wgrad_mode mode);

/* Keras Masking(mask_value): host x [N, T, F] (batch-major) -> mask [N, T], 0 where every feature
 * of the step equals `value` (a NaN value masks nothing, as in Keras), else 1. lengths [N] and
 * right_padded optional, as clrnn_embedding_forward. CLRNN_ERR_INVALID_ARGUMENT for N, T or F < 1. */
CLRNN_API clrnn_status clrnn_mask_from_value(const float *x, int batch, int seq_length, int features, float value,
                                             uint8_t *mask, int32_t *lengths, int *right_padded);

/* Losses, mean reduction, numerically stable for any finite logit (|x| = 1e4 included). */
typedef enum clrnn_loss_kind {
    /* logits [R, C], int32 labels [R] in [0, C): log-sum-exp(x - max) + max - x[label];
     * dlogits = softmax(x) - onehot(label). Mean over rows. */
    CLRNN_LOSS_SOFTMAX_XENT = 0,
    /* logits [R, C], targets z [R, C] in [0, 1]: max(x, 0) - x z + log1p(exp(-|x|));
     * dlogits = sigmoid(x) - z. Mean over rows and columns (PyTorch BCEWithLogitsLoss, Keras). */
    CLRNN_LOSS_SIGMOID_BCE = 1,
    /* predictions [R, C], targets [R, C]: (x - z)^2; d = 2 (x - z). Mean over rows and columns. */
    CLRNN_LOSS_MSE = 2
} clrnn_loss_kind;

typedef struct clrnn_loss_args {
    clrnn_loss_kind kind;
    int rows; /* R >= 1: samples, or N*T steps of a per-step head (row n*T + t, batch-major) */
    int cols; /* C >= 1: classes or outputs per row */
    clrnn_tensor logits;   /* [R, C] float32, host or device (the rnn's y) */
    const int32_t *labels; /* SOFTMAX_XENT: [R], host */
    clrnn_tensor targets;  /* SIGMOID_BCE, MSE: [R, C] float32, host or device */
    /* Which rows the mean takes, both optional (NULL: every row, weight 1): row r has weight
     * row_weight[r] (finite, >= 0) when row_mask is NULL or row_mask[r] != 0, else 0. A per-step
     * head over padded steps passes the rnn's mask [N, T] here. An excluded row is not read at all:
     * its label may be anything (-1 padding), its logits NaN. */
    const uint8_t *row_mask; /* [R], host */
    const float *row_weight; /* [R], host */
    /* Optional output [R, C], host or device: the gradient of the mean loss, w_r * d_rc / (sum w)
     * (/ C for BCE and MSE); exactly 0 for excluded rows. May be the logits' own tensor (same
     * buffer and offset: in place). */
    clrnn_tensor dlogits;
} clrnn_loss_args;

typedef struct clrnn_loss_result {
    float loss;    /* sum_r w_r l_r / sum_r w_r (BCE, MSE: l_r is the row's mean over C); 0 when sum w = 0 */
    /* The head's metric, weighted like the loss: SOFTMAX_XENT accuracy (argmax == label, the
     * first maximum wins); SIGMOID_BCE accuracy per element ((x > 0) == (z > 0.5)); MSE the mean
     * absolute error. */
    float metric;
    double weight; /* sum_r w_r: included rows when unweighted */
} clrnn_loss_result;

/* Computes the loss on the device (a row kernel, then the rows summed in double in row order),
 * then dlogits. CLRNN_ERR_NULL_ARGUMENT (ctx, args, result, logits, labels or targets missing),
 * CLRNN_ERR_INVALID_ARGUMENT (kind, R or C < 1, a tensor with both host and mem, an offset not a
 * multiple of 4, a buffer of another context, a negative or non-finite row weight),
 * CLRNN_ERR_OVERFLOW (R*C beyond 2^31), CLRNN_ERR_SHAPE_MISMATCH (a device buffer too small),
 * CLRNN_ERR_OUT_OF_RANGE (a label outside [0, C), naming the row), CLRNN_ERR_NON_FINITE (a NaN
 * or infinite logit or target of an included row, naming the row; found on the device before
 * dlogits are written). BCE targets outside [0, 1] are not refused (the formula is used as is).
 * Returns when dlogits are written. */
CLRNN_API clrnn_status clrnn_loss(clrnn_context *ctx, const clrnn_loss_args *args, clrnn_loss_result *result);

/* Optimizers over every trainable tensor of an rnn (dense layer included) and of an optional
 * embedding, on the device, reading the gradients the backward left there. */
typedef enum clrnn_optimizer_kind {
    /* PyTorch form: b = momentum b + g (b = g at the first step); g' = nesterov ? g + momentum b : b;
     * theta -= lr g' (Keras' v = momentum v - lr g is the same for a constant lr) */
    CLRNN_OPTIMIZER_SGD = 0,
    /* v = rho v + (1 - rho) g^2 (v starts at 0); u = g / (sqrt(v) + eps) (TORCH) or g / sqrt(v + eps)
     * (KERAS: Keras 2 and 3); momentum: b = momentum b + u, theta -= lr b; else theta -= lr u. Not centered. */
    CLRNN_OPTIMIZER_RMSPROP = 1,
    /* m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; at step t (1, 2, ...):
     *   TORCH: theta -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
     *   KERAS: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); theta -= lr_t m / (sqrt(v) + eps)  (TF1, Keras)
     * (the two agree when eps_keras = eps_torch sqrt(1 - b2^t)). */
    CLRNN_OPTIMIZER_ADAM = 2
} clrnn_optimizer_kind;

typedef enum clrnn_eps_style { CLRNN_EPS_TORCH = 0, CLRNN_EPS_KERAS = 1 } clrnn_eps_style;

/* Global gradient-norm clipping: norm = sqrt(sum of g^2 over every trainable tensor). */
typedef enum clrnn_clip_style {
    CLRNN_CLIP_TORCH = 0, /* torch.nn.utils.clip_grad_norm_: g *= min(1, clip / (norm + 1e-6)) */
    CLRNN_CLIP_TF = 1     /* tf.clip_by_global_norm: g *= clip / max(norm, clip) */
} clrnn_clip_style;

typedef struct clrnn_optimizer_params {
    clrnn_optimizer_kind kind;
    float lr;       /* > 0 */
    float momentum; /* SGD, RMSprop: [0, 1); 0 = none */
    int nesterov;   /* SGD, with momentum > 0 */
    float rho;      /* RMSprop (PyTorch alpha): [0, 1) */
    float beta1, beta2; /* Adam: [0, 1) */
    float eps;      /* Adam, RMSprop: > 0 */
    clrnn_eps_style eps_style; /* Adam, RMSprop */
    float clip_norm; /* > 0: clip the global gradient norm to it before the update; 0 = off */
    clrnn_clip_style clip_style;
} clrnn_optimizer_params;

/* The framework's defaults for kind: TORCH SGD lr 1e-3, RMSprop lr 1e-2 rho 0.99 eps 1e-8, Adam
 * lr 1e-3 0.9/0.999 eps 1e-8; KERAS SGD lr 1e-2, RMSprop lr 1e-3 rho 0.9 eps 1e-7, Adam lr 1e-3
 * 0.9/0.999 eps 1e-7; momentum 0, no clipping, clip_style TORCH for TORCH and TF for KERAS. */
CLRNN_API clrnn_optimizer_params clrnn_optimizer_default_params(clrnn_optimizer_kind kind, clrnn_eps_style style);

typedef struct clrnn_optimizer clrnn_optimizer;
/* Validates params (CLRNN_ERR_INVALID_ARGUMENT naming the field). No device work yet: the state
 * (momentum, squared averages) is created at the first step, zero, for the tensors stepped then. */
CLRNN_API clrnn_status clrnn_optimizer_create(clrnn_context *ctx, const clrnn_optimizer_params *params,
                                              clrnn_optimizer **out);
CLRNN_API void clrnn_optimizer_destroy(clrnn_optimizer *opt);
/* One update of every trainable tensor of rnn (may be NULL) and emb (may be NULL; not both) from
 * their gradients: the global norm over all of them (per-tensor partial sums of fixed blocks, then
 * in double on the host in tensor order) -> *grad_norm (optional; before clipping), the clip
 * factor, then one update kernel per tensor. The gradients themselves are left as they are (the
 * clip factor scales them as the update reads them). The first step binds the optimizer to that
 * rnn and embedding: a later step with others is CLRNN_ERR_INVALID_ARGUMENT. A NaN or infinite
 * norm is CLRNN_ERR_NON_FINITE naming the first tensor with a non-finite gradient, nothing updated
 * (the step count neither). */
CLRNN_API clrnn_status clrnn_optimizer_step(clrnn_optimizer *opt, clrnn_rnn *rnn, clrnn_embedding *emb,
                                            float *grad_norm);
/* Learning-rate schedules: the lr used from the next step on (> 0). */
CLRNN_API clrnn_status clrnn_optimizer_set_lr(clrnn_optimizer *opt, float lr);
/* Steps taken so far (t of the last update; 0 before the first). */
CLRNN_API int64_t clrnn_optimizer_steps(const clrnn_optimizer *opt);

/* ---------------------------------------------------------------------------------------
 * Arrays and .npy files (NumPy format versions 1 and 2; little-endian <f4, <i4, <i8, |u1; C order).
 * Anything else (big-endian, Fortran order, other dtypes, truncated data) is rejected with
 * CLRNN_ERR_CORRUPT_FILE or CLRNN_ERR_UNSUPPORTED and a message saying what was found. The header
 * dict must hold 'descr', 'fortran_order' and 'shape' exactly once each and nothing else (NumPy
 * itself reads a repeated key as its last value): a duplicate, unknown or missing key is
 * CLRNN_ERR_CORRUPT_FILE naming the key. Only regular files are read (also by the ONNX loaders):
 * a directory, FIFO or device is CLRNN_ERR_IO "not a regular file", and a FIFO never blocks.
 * ------------------------------------------------------------------------------------- */
typedef enum clrnn_dtype {
    CLRNN_DTYPE_FLOAT32 = 0,
    CLRNN_DTYPE_INT32 = 1,
    CLRNN_DTYPE_INT64 = 2,
    CLRNN_DTYPE_UINT8 = 3
} clrnn_dtype;

#define CLRNN_MAX_DIMS 8

typedef struct clrnn_array {
    clrnn_dtype dtype;
    int ndim;
    int64_t shape[CLRNN_MAX_DIMS];
    size_t count; /* product of shape */
    void *data;   /* owned: free with clrnn_array_free */
} clrnn_array;

CLRNN_API size_t clrnn_dtype_size(clrnn_dtype dtype);
CLRNN_API clrnn_status clrnn_npy_load(const char *path, clrnn_array *out);
CLRNN_API clrnn_status clrnn_npy_load_memory(const void *data, size_t size, clrnn_array *out);
CLRNN_API clrnn_status clrnn_npy_save(const char *path, const clrnn_array *array);
CLRNN_API void clrnn_array_free(clrnn_array *array);

/* ---------------------------------------------------------------------------------------
 * ONNX models
 *
 * Loads an ONNX model (a self-contained .onnx file or buffer) and runs it: RNN, GRU and LSTM nodes
 * (opsets 7-22, every attribute and input) on the forward engine, plus the glue exporters put
 * around them: Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, ConstantOfShape, Slice,
 * Transpose, Reshape, Identity, Cast, Expand, Split, Flatten, Tile, Pad, ReverseSequence,
 * GatherElements, ScatterND, ScatterElements, Range, TopK, ArgMax, ArgMin; MatMul, Gemm, Add, Sub,
 * Mul, Div, Pow, Max, Min, Sum, Mean, Neg, Abs, Exp, Log, Sqrt, Reciprocal, Floor, Ceil, Clip,
 * Erf, Sigmoid, Tanh, Relu, LeakyRelu, HardSigmoid, Elu, Selu, Softplus, Softsign, Softmax,
 * LogSoftmax; ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
 * ReduceL2, ReduceLogSum, ReduceLogSumExp; Equal, Less, Greater, LessOrEqual, GreaterOrEqual,
 * Not, And, Or, Xor, Where (numpy broadcasting, the attribute and input forms of every opset). float32 tensors are
 * computed and moved on the device; integer and bool tensors (shape arithmetic, indices, masks)
 * on the host.
 *
 * Control flow: Loop (M and/or cond, loop-carried values that may change shape, scan outputs
 * stacked on a new axis 0), Scan (state variables, scan inputs and outputs along any axis,
 * negative ones included, in either direction; opset 8's batched form with full-length
 * sequence_lens) and If. Their bodies are validated (and
 * folded where constant) at load like the main graph; they read values of the enclosing graphs by
 * name, nested to 16 levels. Loop state stays where it is computed (float32 on the device); the
 * host reads the trip count once and the body's condition once per iteration, only when the Loop
 * has a `cond` input. A scan output must keep one shape across iterations (else
 * CLRNN_ERR_SHAPE_MISMATCH); a loop that runs no iteration gives scan outputs of length 0 when the
 * body declares their static shape (else CLRNN_ERR_UNSUPPORTED). The iterations of one run (of
 * every loop together, also of loops folded at load) are bounded by CLRNN_MODEL_MAX_ITERATIONS
 * (decimal digits, at least 1; default 2^24; read at load, anything else fails the load with
 * CLRNN_ERR_INVALID_ARGUMENT): a trip count or a condition asking for more fails the run with
 * CLRNN_ERR_INVALID_ARGUMENT naming the node and the variable (a Loop without `cond` is refused
 * before its first iteration). Sequence- or optional-typed values (Loop-13 TensorList state) and
 * Scan-8 sequence_lens shorter than the sequence are refused with CLRNN_ERR_UNSUPPORTED.
 *
 *   clrnn_onnx_load(ctx, "model.onnx", &model);
 *   clrnn_model_set_input(model, "x", &x);      // by graph input name, clrnn_array (see .npy above)
 *   clrnn_model_run(model);
 *   clrnn_model_get_output(model, "y", &y);     // a new array, free with clrnn_array_free
 *
 * Everything that can be checked without data is checked at load: an operator, attribute, data
 * type or opset clrnn does not support fails clrnn_onnx_load with CLRNN_ERR_UNSUPPORTED and a
 * message naming the node and its operator. Shape errors found while running name the node too.
 * Sparse and external-data initializers are not supported. Loops and Scans that are an RNN cell
 * run on the fused engine (see clrnn_model_loop_info below); the others run generically.
 * Tensor types: float32, int32, int64, uint8 and bool (bool reads as CLRNN_DTYPE_UINT8, 0 or 1).
 *
 * RNN semantics follow ONNX Runtime where the spec leaves room:
 *   - sequence_lens = 0: that row's Y is zero and its Y_h / Y_c are ZERO, even when initial_h /
 *     initial_c are given (ONNX Runtime's rule; clrnn_rnn_forward itself returns the initial state).
 *   - activation_alpha / activation_beta are consumed in order by the activations that take the
 *     parameter (Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu); when a list
 *     runs out the ONNX operator defaults apply: LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1,
 *     ThresholdedRelu 1, ScaledTanh 1/1, Affine 1/0 (ONNX Runtime uses 0 for the last three).
 *     Values left over (a list written one value per activation) are refused as ambiguous.
 *   - activation names are case-insensitive; `activations` must list every slot of every direction.
 *   - LSTM `clip` clamps every activation input, including the c_t that h() reads (the spec's
 *     wording; the carried c_t stays unclipped). ONNX Runtime applies h() to the unclipped c_t, so
 *     an LSTM whose |c_t| exceeds `clip` differs from it.
 *   - sequence_lens may be int32 (the spec) or int64.
 * An initializer also listed as a graph input is treated as a constant (not an input).
 * A model is used by one thread at a time; destroy it before its context (see the handle rules).
 * ------------------------------------------------------------------------------------- */
typedef struct clrnn_model clrnn_model;

/* A graph input or output as the model declares it. */
/* Names and producer strings are returned as the file has them (any bytes): escape them before
 * printing them to a terminal (clrnn-run --info does). */
typedef struct clrnn_model_tensor_info {
    const char *name;                      /* valid while the model lives */
    clrnn_dtype dtype;
    int ndim;                              /* -1: the model does not declare the rank */
    int64_t shape[CLRNN_MAX_DIMS];         /* -1: the dimension is not fixed */
    const char *dim_names[CLRNN_MAX_DIMS]; /* symbolic name of a free dimension ("batch"), else NULL */
} clrnn_model_tensor_info;

typedef struct clrnn_model_info {
    const char *producer_name;    /* "" if absent; valid while the model lives */
    const char *producer_version;
    int64_t ir_version;
    int64_t opset;                /* version of the default ("ai.onnx") operator set */
    int num_nodes;                /* nodes in the graph */
    int num_folded;               /* of which computed once at load (constant inputs only) */
    int num_recurrent;            /* RNN, GRU and LSTM nodes */
    int num_loops;                /* Loop and Scan nodes (those nested in bodies included) */
    int num_fused_loops;          /* of which recognised as an RNN and run on the fused engine */
} clrnn_model_info;

/* What a Loop or Scan node became. tf2onnx writes Keras SimpleRNN, Keras 3 GRU
 * and every masked Keras RNN layer as a Loop whose body is one step of the cell, and a TF1
 * dynamic_rnn (frozen: a Scan; tf.function: a Loop) of a BasicRNNCell, BasicLSTMCell, LSTMCell
 * (peepholes, projection, cell_clip, proj_clip too), GRUCell or a MultiRNNCell of them (gates from
 * Concat(x, h) times the kernel, sequence_length as GreaterOrEqual(time, length)). clrnn recognises
 * such a body at load from its structure (not from names): a SimpleRNN (activations tanh, relu,
 * sigmoid, linear, elu, softsign, softplus, hard_sigmoid, leaky_relu), LSTM (Keras gates i, f, c,
 * o; one recurrent activation) or GRU (Keras gates z, r, h; reset_after true or false) over
 * float32 constant weights, the step input gathered from a time-major [T, N, I] tensor by the
 * time counter, optionally a Keras mask [T, N, 1] (or TF1 lengths [N]) selecting h, c and the
 * output, and a condition that bounds the counter by a loop-invariant. It then runs as one
 * clrnn_rnn_forward (time-major, the mask as clrnn's mask, CLRNN_MASKED_OUTPUT_CARRY, or _ZERO
 * where the body writes zeros at masked steps: Keras Bidirectional, TF1), outputs as the node
 * defines them. At run time a fused Loop evaluates its condition on the actual values: it must
 * give between 1 and T iterations from time 0 (fewer than T: the first steps run, as TF1's
 * tf.function loops that stop at the longest sequence), and a masked loop's carried output must
 * start at zeros (and a zeroed output be zeros); a run whose values leave these conditions runs on
 * the generic Loop/Scan operator, which is prepared beside the fused node at load. A stack of
 * cells runs one clrnn rnn per cell, one after the other. CLRNN_NO_FUSE=1 at load disables fusing.
 * Each loop scans forward over its input; `reversed` says the input comes from a ReverseSequence
 * (Keras go_backwards, the backward half of Bidirectional). Any other body is not fused (it runs on
 * the generic Loop/Scan operator); `description` says why. Loops nested in bodies are listed
 * too, in the order they were loaded. */
typedef struct clrnn_model_loop_info {
    int node_index;          /* position of the node in the graph */
    const char *node_name;   /* "" if unnamed; valid while the model lives (escape before printing) */
    const char *op_type;     /* "Loop" or "Scan" */
    int fused;               /* 1: runs on the fused RNN engine */
    int num_cells;           /* fused only: cells in the body (a TF1 MultiRNNCell: several, run one after the other) */
    clrnn_cell cell;         /* fused only: the (first) cell */
    int masked;              /* fused only: a Keras mask or TF1 sequence_length selects the computed steps */
    int reversed;            /* fused only: the scanned input is time-reversed (go_backwards) */
    int hidden_size;         /* fused only: units (of the top cell) */
    int input_size;          /* fused only: features of the step input */
    /* One line: "fused: LSTM, forward, Keras mask, units 20, input 4, activation tanh, recurrent
     * sigmoid" (a stack: "fused: 2 stacked cells (...; ...)"), or "generic (not fused: <reason>)".
     * Valid while the model lives. */
    const char *description;
} clrnn_model_loop_info;

/* Parses and validates the model, decodes the initializers, folds the constant part of the graph
 * and imports constant RNN weights. CLRNN_ERR_CORRUPT_FILE for a file that is not an ONNX model,
 * CLRNN_ERR_UNSUPPORTED for what clrnn cannot run (the message names the node and operator).
 *
 * Untrusted files: protobuf messages nested more than 64 levels deep (the real models of the
 * ONNX test suite reach 14) are refused with CLRNN_ERR_CORRUPT_FILE before decoding, which
 * would recurse once per level; loading is tested on a thread with a 256 KiB stack. Each model has memory
 * budgets for its tensors, checked before allocating, so a tiny file cannot claim gigabytes:
 *   - host: every host tensor of the model together (initializers, constants folded at load,
 *     bound inputs, integer tensors, host copies of outputs) stays under CLRNN_MODEL_HOST_BUDGET
 *     bytes, by default a quarter of the physical memory; else CLRNN_ERR_OUT_OF_MEMORY;
 *   - device: each buffer under the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE, and all of the
 *     model's tensor buffers under CLRNN_MODEL_DEVICE_BUDGET bytes, by default half of its
 *     CL_DEVICE_GLOBAL_MEM_SIZE; else CLRNN_ERR_DEVICE_OUT_OF_MEMORY (some drivers, PoCL among
 *     them, abort instead of failing an allocation they cannot back).
 * The message names the node, the bytes asked and the budget. A buffer that grows gives its old
 * size back. Both variables are read at load: a decimal number of bytes, optionally followed by
 * K, M, G or T (powers of 1024), at least 1; anything else fails the load with
 * CLRNN_ERR_INVALID_ARGUMENT. The RNN nodes' own weights and workspaces are not counted. The
 * budgets hold for the model's whole life (clrnn_model_set_input, _run and _get_output). */
CLRNN_API clrnn_status clrnn_onnx_load(clrnn_context *ctx, const char *path, clrnn_model **out);
CLRNN_API clrnn_status clrnn_onnx_load_memory(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out);
CLRNN_API void clrnn_model_destroy(clrnn_model *model);

CLRNN_API clrnn_status clrnn_model_get_info(const clrnn_model *model, clrnn_model_info *info);
/* Loop `index` in [0, info.num_loops): CLRNN_ERR_INVALID_ARGUMENT outside. */
CLRNN_API clrnn_status clrnn_model_get_loop_info(const clrnn_model *model, int index, clrnn_model_loop_info *info);
CLRNN_API int clrnn_model_num_inputs(const clrnn_model *model);  /* graph inputs that are not initializers */
CLRNN_API int clrnn_model_num_outputs(const clrnn_model *model);
CLRNN_API clrnn_status clrnn_model_input_info(const clrnn_model *model, int index, clrnn_model_tensor_info *info);
CLRNN_API clrnn_status clrnn_model_output_info(const clrnn_model *model, int index, clrnn_model_tensor_info *info);

/* Copies `value` into the model's input `name` (kept for later runs until set again). The dtype
 * must match (int32 and int64 convert into each other when every value fits), the rank and every
 * fixed dimension must match the declaration. CLRNN_ERR_NOT_FOUND for an unknown name. Every check
 * (dtype, rank, shape, count, the range of every converted element, size and host budget) comes
 * before the bound value is touched: a failing call leaves the previous binding as it was. */
CLRNN_API clrnn_status clrnn_model_set_input(clrnn_model *model, const char *name, const clrnn_array *value);
/* Runs the graph; every input must have been set. Returns when all device work is done. */
CLRNN_API clrnn_status clrnn_model_run(clrnn_model *model);
/* Copies output `name` of the last run into a new array (free with clrnn_array_free). */
CLRNN_API clrnn_status clrnn_model_get_output(clrnn_model *model, const char *name, clrnn_array *out);

/* ---------------------------------------------------------------------------------------
 * Keras models
 *
 * Loads a Keras model file into the same clrnn_model as ONNX (inputs, set_input, run, get_output,
 * info, destroy as above): a .keras archive (Keras 3, or the native format of Keras 2.15: a zip of
 * config.json, metadata.json and model.weights.h5) or a legacy Keras 2 .h5 file (the root
 * attribute model_config and the group model_weights). The format is told by content (zip or
 * HDF5 signature), not by the file name.
 *
 * Sequential and Functional models of these layers load:
 *   InputLayer (float32, int32 or int64), Masking, Embedding (mask_zero), SimpleRNN, LSTM, GRU
 *   (activation, recurrent_activation among tanh, sigmoid, relu, linear, hard_sigmoid, elu,
 *   softsign, softplus; use_bias; return_sequences; return_state in Functional models;
 *   go_backwards; reset_after; unroll; dropout rates ignored), Bidirectional (merge_mode concat,
 *   sum, mul, ave, None; a backward_layer of the same cell and units), Dense and
 *   TimeDistributed(Dense) (activations linear, relu, sigmoid, tanh, softmax, log_softmax, elu,
 *   selu, softplus, softsign, swish/silu, gelu, exponential, hard_sigmoid, hard_silu, relu6,
 *   leaky_relu, mish), Activation, and Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout
 *   (identity at inference), Flatten and Reshape (which end a mask, as in Keras 3); in
 *   Functional models also Add and Concatenate (of tensors that carry no mask: a mask into a
 *   merge layer is refused) and layers called more than once.
 * Keras' mask propagation is reproduced: a mask from Masking or Embedding(mask_zero=True) passes
 * Dropout, Dense, TimeDistributed and Activation into the recurrent layers, which carry their state
 * and their last output through masked steps (Bidirectional returning sequences outputs zeros
 * there, as Keras forces), and ends after a recurrent layer that does not return sequences.
 * go_backwards returns the outputs in processing order, as Keras does.
 * Inputs are named by the model's InputLayer names; outputs by model.output_names, the output
 * layers' names. Where a name repeats (a layer with return_state, Bidirectional with merge_mode
 * None): files of Keras 2 take its own output_names (name, name_1, name_2, ...); Keras 3 repeats
 * the layer name, so there every output is named <name>_<position> (bi_0, bi_1).
 * Dense is computed on the device (CLBlast), activations on the host.
 *
 * Anything else fails the load with CLRNN_ERR_UNSUPPORTED and a message naming the layer, its class
 * and the config key (an unknown layer class, a config key clrnn does not know for its class,
 * stateful=True, a dtype other than float32, call arguments such as initial_state, ...). A file
 * that contradicts itself (a JSON field of the wrong type, weights whose shape or number is not
 * what the config implies, a missing archive entry) is CLRNN_ERR_CORRUPT_FILE. Untrusted files:
 * archive entries are checked against their limits before they are inflated (config.json 64 MiB,
 * model.weights.h5 the model's host budget), weights against the host budget before they are
 * read (CLRNN_MODEL_HOST_BUDGET, see clrnn_onnx_load), only regular files are read, JSON nesting
 * is bounded (96 levels). The weights file of an archive is opened from memory; nothing is
 * written to disk. The HDF5 structures themselves are parsed by libhdf5, and libhdf5 1.10.8
 * (Debian 12) is not hardened against hostile files: damaged ones were found (tests/fuzz,
 * fuzz_keras in raw mode) to make it read past its own buffers or spin in its global-heap reader.
 * Load .keras / .h5 files only from sources you would run code from, or in a sandbox.
 * HDF5 calls of clrnn are serialised by one process-wide lock (libhdf5 is not thread-safe).
 * clrnn_model_get_info reports producer "keras" and the Keras version that saved the file. */
CLRNN_API clrnn_status clrnn_keras_load(clrnn_context *ctx, const char *path, clrnn_model **out);
CLRNN_API clrnn_status clrnn_keras_load_memory(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out);

/* Reads a serialized onnx.TensorProto (the input_N.pb / output_N.pb files of the ONNX test
 * suite) of a supported type. */
CLRNN_API clrnn_status clrnn_onnx_tensor_load(const char *path, clrnn_array *out);
CLRNN_API clrnn_status clrnn_onnx_tensor_load_memory(const void *data, size_t size, clrnn_array *out);

/* ---------------------------------------------------------------------------------------
 * ONNX export of an rnn (clrnn-train --save)
 *
 * clrnn_onnx_save writes a self-contained ONNX model (opset 14, IR version 7, standard operators
 * only) that computes what clrnn_rnn_forward computes with the rnn's current weights (read through
 * clrnn_rnn_get_param, so a trained rnn exports its trained values); clrnn_onnx_load, clrnn-run and
 * ONNX Runtime run it.
 *   input "x":  float32 [batch, time, input_size] (batch-major, whatever desc.layout says), or with
 *               an embedding int64 ids [batch, time], looked up in the table first (Gather);
 *   output "y": [batch, time, O] at every step, or [batch, O] with last_only (merge NONE:
 *               [batch, time, 2, Hr] / [2, batch, Hr]), after the head's activation: probabilities
 *               for SOFTMAX (over the last axis) and SIGMOID heads, values for NONE.
 * The graph: one ONNX RNN / GRU / LSTM node per layer, around it Transpose, Gather, Concat, Add,
 * Mul, MatMul (the dense layer) and, where the options ask, Where, ReverseSequence and Slice.
 * Every cell and ONNX activation (alpha and beta written out), clip, peepholes, CIFG, both GRU
 * flavours, reverse and bidirectional layers with every merge, stacked layers, the dense layer,
 * reverse_order / reverse_mode and the masked-output policies (ZERO, CARRY, FILL at padded steps)
 * export as clrnn_rnn_forward computes them; forget_bias is folded into the forget gate's input
 * bias; dropout is training-only and not exported.
 * Lengths derived in the graph (as int32 sequence_lens): with use_padding (Keras Masking: rows
 * right-padded with padding_value) a step counts when any feature differs from padding_value; with
 * mask_zero when its id is not 0. A row's length is its last counted step + 1: the model assumes
 * right padding (ONNX RNN nodes take lengths, not masks), so a padding-valued step inside a row is
 * computed like any other step (clrnn_rnn_forward with seq_lens = those lengths, not with a mask
 * that has holes). Without either, every row has all `time` steps, no step is masked and the
 * masked-output policy changes nothing.
 * Refused (CLRNN_ERR_UNSUPPORTED, the message names it) is what the ONNX nodes cannot express:
 * proj_size > 0, cell_clip, proj_clip. Other refusals: CLRNN_ERR_NULL_ARGUMENT (spec, path, rnn;
 * vocab without a table), CLRNN_ERR_INVALID_ARGUMENT (a dead rnn, an unknown head, vocab outside
 * [1, 2^40], use_padding with ids, mask_zero without ids, a non-finite padding_value),
 * CLRNN_ERR_NON_FINITE (an embedding value), CLRNN_ERR_MISSING_WEIGHTS, CLRNN_ERR_OVERFLOW,
 * CLRNN_ERR_IO. The file is written to a temporary name beside `path` and renamed over it when
 * complete: a failed save leaves no partial file.
 * ONNX Runtime differs from clrnn on an LSTM with `clip` wherever |c_t| exceeds clip (see the ONNX
 * notes above); everything else matches it to float rounding (tools/check_export.py).
 * ------------------------------------------------------------------------------------- */
typedef enum clrnn_head_activation {
    CLRNN_HEAD_NONE = 0,    /* y = the rnn's (dense) output */
    CLRNN_HEAD_SOFTMAX = 1, /* softmax over the last axis */
    CLRNN_HEAD_SIGMOID = 2
} clrnn_head_activation;

typedef struct clrnn_onnx_export {
    clrnn_rnn *rnn;
    /* NULL: x is float32 [batch, time, input_size]. Else x is int64 ids [batch, time] into this
     * host table [vocab, input_size] (copied into the file). */
    const float *embedding;
    int64_t vocab;
    int mask_zero;       /* with an embedding: id 0 is padding (Keras mask_zero) */
    int use_padding;     /* float input: rows right-padded with padding_value (Keras Masking) */
    float padding_value;
    int last_only;       /* y = each row's last output [batch, O] (clrnn_forward_args.last_only) */
    clrnn_head_activation head;
} clrnn_onnx_export;

CLRNN_API clrnn_status clrnn_onnx_save(const clrnn_onnx_export *spec, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CLRNN_H */
