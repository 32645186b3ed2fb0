/* Internal declarations shared by the modules of libclrnn. Not installed. */
#ifndef CLRNN_INTERNAL_H
#define CLRNN_INTERNAL_H

#include "clrnn.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>
#include <threads.h>

/* ---- status.c: per-thread error detail ---- */
/* Records a formatted message for clrnn_last_error() and returns `status`, so a failure reads
 * `return clrnn_fail(CLRNN_ERR_..., "what %d", x);`. */
clrnn_status clrnn_fail(clrnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Same for a failed OpenCL call: names the call and the CL error. */
clrnn_status clrnn_fail_cl(cl_int err, const char *call, const char *what);
const char *clrnn_cl_error_name(cl_int err);
void clrnn_clear_error(void);
/* Strings from files (ONNX names, .npy header text) are untrusted: escaped before they reach a
 * message or the terminal. Writes src[0..n) to dst (NUL-terminated, at most cap bytes) keeping
 * printable ASCII and valid, printable UTF-8; every other byte (< 0x20, 0x7f, C1 controls, bidi
 * and line-separator characters, invalid/overlong/surrogate UTF-8) becomes \xNN. The backslash is
 * kept, which makes the escaping idempotent (escaped text escapes to itself). Too long: ends in
 * "..." and never splits an escape or a UTF-8 sequence. Returns 1 if all of src fitted, else 0.
 * clrnn_fail() applies it to every message. */
int clrnn_escape(char *dst, size_t cap, const char *src, size_t n);
/* clrnn_escape of a NUL-terminated string into buf; returns buf (for a printf argument). */
const char *clrnn_esc(const char *s, char *buf, size_t cap);
/* "clrnn: warning: msg" on stderr, the first time only for each flag (one static flag per kind of
 * warning: a bad file or cache would otherwise repeat it on every context). */
void clrnn_warn_once(atomic_int *flag, const char *msg);

/* ---- files.c: files users name. Regular files only: a directory, FIFO, device or socket is
 * refused with "not a regular file", and a FIFO never blocks the open. Every reader of a path that
 * comes from a user or the environment goes through one of these two. ---- */
/* Reads the whole file into a malloc'ed buffer (NUL-terminated: one byte more is allocated).
 * `what` names it in messages ("model", "array", ...). CLRNN_ERR_IO (absent, unreadable, not a
 * regular file), CLRNN_ERR_OUT_OF_MEMORY. */
clrnn_status clrnn_read_user_file(const char *path, const char *what, unsigned char **data, size_t *size);
/* fopen(path, "r") for regular files only. NULL with *st: CLRNN_ERR_NOT_FOUND (absent, no message)
 * or `fail` ("cannot read <what> '<path>': ..."). */
FILE *clrnn_open_regular(const char *path, const char *what, clrnn_status fail, clrnn_status *st);

/* ---- device.c ---- */
typedef struct clrnn_device_ref {
    cl_platform_id platform;
    cl_device_id device;
} clrnn_device_ref;
/* Resolves a global device index to its OpenCL handles. */
clrnn_status clrnn_device_at(int index, clrnn_device_ref *ref);
clrnn_status clrnn_query_device_info(cl_platform_id platform, cl_device_id device, clrnn_device_info *info);
/* What a device is, for the default choice (clrnn_select_device). A simulator or a software
 * rasterizer runs every kernel correctly but orders of magnitude slower than PoCL on the same CPU
 * (portability review 2026-12: Oclgrind's SGEMM < 0.05 GFLOP/s, llvmpipe 146x slower on S1), so
 * it is used only when asked for by name or index. */
typedef enum clrnn_device_kind {
    CLRNN_KIND_GPU,         /* a GPU of a hardware driver */
    CLRNN_KIND_CPU,         /* the CPU device of a compute implementation (PoCL, Intel's CPU runtime) */
    CLRNN_KIND_ACCELERATOR, /* a real accelerator (FPGA, DSP): after every GPU and CPU */
    CLRNN_KIND_SIMULATOR,   /* Oclgrind, or any device claiming GPU together with CPU/accelerator */
    CLRNN_KIND_RASTERIZER,  /* Mesa's llvmpipe/softpipe (Rusticl, Clover), SwiftShader */
    CLRNN_KIND_OTHER        /* no CPU, GPU or accelerator bit (CL_DEVICE_TYPE_CUSTOM) */
} clrnn_device_kind;
/* Kind of a device from its info and raw CL_DEVICE_TYPE bits (info->type keeps one of them);
 * *why (if not NULL) gets a static phrase saying so. A pure function: tests feed it made-up lists. */
clrnn_device_kind clrnn_device_classify(const clrnn_device_info *info, uint64_t cl_type, const char **why);
/* The kind of the context's device (clrnn_device_classify). */
clrnn_device_kind clrnn_device_kind_of(const clrnn_context *ctx);
/* 1 when the context's device is a software rasterizer (llvmpipe under Rusticl): its compiler takes
 * minutes for a register-tiled kernel (the tiled plan's, sgemm_tile), so those are not chosen there. */
int clrnn_device_is_rasterizer(const clrnn_context *ctx);
/* The device the default rule picks among n: the GPU with the most compute units, else the CPU
 * device with the most, else the accelerator with the most (first on ties); never a simulator,
 * rasterizer or other. want: -1 for the default order, else one clrnn_device_type ("gpu", "cpu",
 * "accelerator" specs). Returns its position in devs, or -1. why (cap bytes, may be NULL) gets a
 * sentence naming the choice and every device passed over with its reason. Pure, like classify. */
int clrnn_device_choose(const clrnn_device_info *devs, const uint64_t *cl_types, size_t n, int want, char *why,
                        size_t cap);
/* Every device (as clrnn_list_devices, at most cap) with its raw CL_DEVICE_TYPE bits. */
clrnn_status clrnn_list_devices_typed(clrnn_device_info *out, uint64_t *cl_types, size_t cap, size_t *count);

/* ---- program.c: embedded kernels, build, cache ---- */
typedef enum clrnn_kernel_id {
#define CLRNN_KERNEL(name) CLRNN_K_##name,
#include "kernel_list.h"
#undef CLRNN_KERNEL
    CLRNN_K_COUNT_
} clrnn_kernel_id;

/* The __kernel name of a kernel id ("(none)" for CLRNN_K_COUNT_). */
const char *clrnn_kernel_name(clrnn_kernel_id id);
/* Kernel groups (kernel_list.h's CLRNN_KERNEL_GROUP lines): the kernels of a set of cl/ files that
 * some plans run and others never do. A context's main program holds CORE and the groups of its
 * device's default plan (clrnn_plan_choose at context creation: a CPU device's is the tiled plan,
 * CORE + TILED); a kernel of any other group comes from that group's own program, built on its
 * first use (the training forward's TILED_TRAIN, the gpu plan's GPU on a CPU device, ...), so a
 * cold start compiles only what its plan can run. */
typedef enum clrnn_kernel_group {
    CLRNN_KG_CORE,        /* every forward: merge.cl, blas/sgemm_small.cl */
    CLRNN_KG_GENERIC,     /* the generic plan's (and the gpu plan's step kernels): generic/ */
    CLRNN_KG_TILED,       /* the tiled plan's: tiled/step_tiled.cl */
    CLRNN_KG_TILED_TRAIN, /* the tiled plan's training forward: tiled/train_tiled.cl (+ step_tiled.cl) */
    CLRNN_KG_GPU,         /* the gpu plan's tiles: gpu/ */
    CLRNN_KG_COUNT_
} clrnn_kernel_group;
/* The group of a kernel id. */
clrnn_kernel_group clrnn_kernel_group_of(clrnn_kernel_id id);
/* The kernels of kernel_list.h for one storage type (cl/storage.h): the fp32 set is the context's
 * own (ctx->kernels), an fp16 or bf16 set the state of that storage's main program (a kept
 * program, clrnn_program_storage). Each kernel is made on its first use, from the program of its
 * group (program[g], the set's main program for the groups it holds, else that group's own
 * program, built then), so an rnn compiles only the kernels it runs. The programs are not owned
 * by the set (the context's main program is released by clrnn_program_release, the others by
 * their kept slots). */
typedef struct clrnn_kernel_set {
    const char *what;      /* "the fp16 storage kernels": names its main program in messages and the trace */
    clrnn_storage storage; /* its programs' build options */
    unsigned main_groups;  /* 1 << g for each group its main program holds */
    _Atomic(cl_program) program[CLRNN_KG_COUNT_]; /* the program of each group; NULL before its first use */
    _Atomic(cl_kernel) k[CLRNN_K_COUNT_];
    atomic_int created; /* how many of k are */
} clrnn_kernel_set;
/* Kernel `id` of the context's fp32 set (ctx->kernels), created on its first use and kept until the
 * context is destroyed (any thread; a driver with a slow clCreateKernel, as Rusticl, then pays only
 * for the kernels that run). On failure *out = NULL and the status names the kernel. */
clrnn_status clrnn_kernel_get(clrnn_context *ctx, clrnn_kernel_id id, cl_kernel *out);
/* Kernels of the fp32 set created so far on ctx (clrnn_kernel_get's count; for tests). */
int clrnn_kernels_created(const clrnn_context *ctx);
/* Kernel `id` of set, created on its first use (the mechanism of clrnn_kernel_get). */
clrnn_status clrnn_kernel_set_get(clrnn_context *ctx, clrnn_kernel_set *set, clrnn_kernel_id id, cl_kernel *out);
/* The program of group g for set (NULL: the context's fp32 set), built or loaded now if it is not
 * yet (the set's main program for a group it holds). */
clrnn_status clrnn_kernel_group_program(clrnn_context *ctx, clrnn_kernel_set *set, clrnn_kernel_group g,
                                        cl_program *out);
/* Builds (or loads from the disk cache) the context's main program for the context device and
 * checks that it has every kernel of its groups (it creates none: see clrnn_kernel_get). Fills
 * ctx->cache_dir (the binary cache every program of the context uses, decided here once: mode,
 * trust), ctx->program, ctx->kernels, ctx->build. */
clrnn_status clrnn_program_init(clrnn_context *ctx, const char *cache_dir, int disable_cache);
/* 1 when compiled kernels are left to the driver's own cache instead of clrnn's binary cache. */
int clrnn_program_driver_caches(const clrnn_context *ctx);
void clrnn_program_release(clrnn_context *ctx);
/* Build options the program is compiled with. */
const char *clrnn_program_options(void);
/* One embedded kernel file (tools/cmake/embed_cl.cmake writes the tables). */
typedef struct clrnn_embedded_source {
    const char *name;
    const unsigned char *data;
    size_t size;
} clrnn_embedded_source;
/* A kernel program: its files, concatenated in order, and the kernels it must provide. Every
 * program (the library's own, the ONNX module's) is obtained through clrnn_program_get. */
typedef struct clrnn_program_def {
    const char *what;    /* names the program in messages, e.g. "the ONNX kernels"; NULL for the main one */
    const char *version; /* format tag, part of the cache key: bump when the program's meaning changes */
    const clrnn_embedded_source *sources;
    size_t count;
    int dev_dir; /* 1: CLRNN_KERNEL_DIR=<dir> replaces each file by <dir>/<name> */
    /* Creates every kernel of the program; on failure releases those it created. */
    clrnn_status (*make_kernels)(cl_program prog, void *user);
} clrnn_program_def;
typedef struct clrnn_program_got {
    cl_program program;
    int from_cache;          /* 1: loaded from the context's binary cache */
    double build_ms;         /* wall time spent getting it */
    char cache_path[1024];   /* its cache entry; "" when the context runs without the binary cache */
    char store_error[256];   /* why the entry could not be written ("" if it was, or had not to be) */
} clrnn_program_got;
/* Builds def for the context device with `options` (clrnn_program_options() for clrnn's kernels),
 * or loads it from the context's binary cache (ctx->cache_dir) under a key of def->version, the
 * source, the options, the device, driver and platform. An entry that is damaged, that the driver
 * rejects, or whose program lacks a kernel (a binary of another program) is released, the program
 * rebuilt from source and the entry (re)written; a failed write is not an error (store_error, and
 * one warning per process). A build failure returns CLRNN_ERR_BUILD_FAILED with the compiler log.
 * One build or load at a time per process (PoCL's compiler is not dependably thread-safe). */
clrnn_status clrnn_program_get(clrnn_context *ctx, const clrnn_program_def *def, const char *options, void *user,
                               clrnn_program_got *got);
/* Whether prog (built) has every kernel named in kernels[0..count): a make_kernels check that
 * creates none (kernels are made on first use: on Rusticl clCreateKernel compiles). A missing one
 * fails as clCreateKernel with CL_INVALID_KERNEL_NAME would, naming it. */
clrnn_status clrnn_program_has_kernels(cl_program prog, const char *const *kernels, size_t count);
/* A program of a context made on first use and kept until the context is destroyed. */
typedef struct clrnn_kept_program {
    const clrnn_embedded_source *sources; /* names it: one embedded list per program */
    cl_program program;
    void *state;                          /* its kernels: make_kernels' user */
    void (*release_kernels)(void *state); /* releases them (not the program) */
    int from_cache;                       /* 1: loaded from the context's binary cache */
    char options[128];                    /* its build options: with sources, what names it */
} clrnn_kept_program;
#define CLRNN_KEPT_PROGRAMS 16
/* def's program on this context (the ONNX kernels, ...), like the main program shared by every
 * model and rnn on it: the first call builds it (or loads it from the binary cache) with
 * clrnn_program_options(), its kernels into a zeroed state of state_size bytes; later calls from
 * any thread return the same one. The context's destroy releases it (clrnn_program_release).
 * Users set kernel arguments and enqueue under ctx->lock. */
clrnn_status clrnn_program_kept(clrnn_context *ctx, const clrnn_program_def *def, size_t state_size,
                                void (*release_kernels)(void *state), const clrnn_kept_program **out);
/* clrnn_program_kept with build options of the caller's (a program is kept per sources and options),
 * its state starting as a copy of state_init's state_size bytes (NULL: zeroed) before make_kernels. */
clrnn_status clrnn_program_kept_with(clrnn_context *ctx, const clrnn_program_def *def, const char *options,
                                     size_t state_size, const void *state_init, void (*release_kernels)(void *state),
                                     const clrnn_kept_program **out);
/* The main program's kernels built for a storage type (cl/storage.h: -DCLRNN_STORAGE=...): NULL
 * for fp32 (the context's own, created on first use: begin()); fp16 and bf16 are each a kept
 * program of the main program's groups, built (or loaded from the binary cache) on first use and
 * shared by every rnn of the context, whose kernels are created on their first use
 * (clrnn_kernel_set_get, begin_r; a kernel of another group from that group's own program of the
 * same storage). */
clrnn_status clrnn_program_storage(clrnn_context *ctx, clrnn_storage storage, clrnn_kernel_set **kernels);
/* Monotonic wall time in milliseconds (build timing, the scan measurement). */
double clrnn_now_ms(void);

/* ---- cache.c: on-disk program binary cache ---- */
/* 64-bit FNV-1a, chained: h = clrnn_hash64(h, data, n), start with CLRNN_HASH_SEED. */
#define CLRNN_HASH_SEED 0xcbf29ce484222325ULL
uint64_t clrnn_hash64(uint64_t h, const void *data, size_t n);
/* Loads the entry `key` from dir into a malloc'ed buffer. CLRNN_ERR_NOT_FOUND if absent,
 * CLRNN_ERR_CORRUPT_FILE if present but damaged or not trusted (not a regular file, another owner,
 * writable by others, larger than any entry can be: the caller rebuilds and overwrites it),
 * CLRNN_ERR_INVALID_ARGUMENT if the directory is not trusted (see clrnn_cache_prepare_dir). */
clrnn_status clrnn_cache_load(const char *dir, uint64_t key, unsigned char **data, size_t *size, char *path,
                              size_t path_cap);
/* Atomically stores (temp file of a random name, O_EXCL|O_NOFOLLOW, mode 0600, then rename). */
clrnn_status clrnn_cache_store(const char *dir, uint64_t key, const unsigned char *data, size_t size);
/* Creates the cache directory (mode 0700) if needed and checks that it may be used: owned by the
 * effective user or root and writable by nobody else. CLRNN_OK; CLRNN_ERR_IO (cannot be created or
 * is not a directory); CLRNN_ERR_INVALID_ARGUMENT (not trusted). */
clrnn_status clrnn_cache_prepare_dir(const char *dir);
/* Creates "<path>.tmp.<random>" for writing, O_EXCL|O_NOFOLLOW (a planted file or symlink is never
 * reused or followed) with `mode` (then the umask); the name in tmp. The fd, or -1 with errno. */
int clrnn_create_temp(const char *path, mode_t mode, char *tmp, size_t cap);
/* 1 if dir is absent or passes clrnn_cache_prepare_dir's checks (creates nothing), else 0. */
int clrnn_cache_dir_trusted(const char *dir);
/* Resolves the cache directory from params / environment; returns 0 if none can be found. */
int clrnn_cache_resolve_dir(const char *param_dir, char *out, size_t cap);
/* mkdir -p (mode 0755 for the directories it creates; the cache's own are 0700) */
clrnn_status clrnn_mkdirs(const char *path);

/* ---- handles (context.c): registry of live objects ----
 * Every context and rnn is registered on create and removed on destroy, so a public function can
 * tell a live object from a destroyed or foreign pointer WITHOUT dereferencing it (a magic field
 * inside the object would mean reading freed memory). Best effort: once freed memory is reused for
 * a new object of the same kind, a stale pointer names that new object; an rnn therefore also
 * records the id of its context, so a destroyed-and-replaced context is still detected. */
typedef enum clrnn_handle_kind {
    CLRNN_HANDLE_CONTEXT = 1,
    CLRNN_HANDLE_RNN = 2,
    CLRNN_HANDLE_MODEL = 3,
    CLRNN_HANDLE_RESERVE = 4,
    /* the training glue's objects (src/train/glue.h) */
    CLRNN_HANDLE_OPTIMIZER = 10,
    CLRNN_HANDLE_EMBEDDING = 11
} clrnn_handle_kind;
/* Registers a new object; returns its id (never 0), or 0 when out of memory. */
uint64_t clrnn_handle_register(const void *obj, clrnn_handle_kind kind);
/* Removes a live object of that kind; returns 0 if obj is not one (nothing is removed). */
int clrnn_handle_unregister(const void *obj, clrnn_handle_kind kind);
/* Id of a live object of that kind, 0 if obj is not one. Never dereferences obj. */
uint64_t clrnn_handle_id(const void *obj, clrnn_handle_kind kind);
/* Entry checks of the public functions: NULL is CLRNN_ERR_NULL_ARGUMENT; a destroyed, foreign or
 * wrong-kind pointer is CLRNN_ERR_INVALID_ARGUMENT with a message naming `func`. check_rnn also
 * fails when the rnn's context has been destroyed. */
/* CLRNN_ERR_NULL_ARGUMENT / CLRNN_ERR_INVALID_ARGUMENT unless obj is a live handle of `kind`. */
clrnn_status clrnn_check_handle(const void *obj, clrnn_handle_kind kind, const char *func, const char *arg);
clrnn_status clrnn_check_context(const clrnn_context *ctx, const char *func);
clrnn_status clrnn_check_rnn(const clrnn_rnn *rnn, const char *func);
/* Entry check of clrnn_rnn_forward (rnn_desc.c): check_rnn, then every device tensor of `args`
 * must belong to the rnn's OpenCL context. */
clrnn_status clrnn_rnn_check_forward_entry(const clrnn_rnn *rnn, const clrnn_forward_args *args, const char *func);
/* A tensor's device buffer (when it has one) must be a valid cl_mem of the rnn's OpenCL context;
 * INVALID_ARGUMENT naming func and the tensor otherwise. */
clrnn_status clrnn_rnn_check_mem(const clrnn_rnn *rnn, const clrnn_tensor *t, const char *name, const char *func);

/* ---- launch.c: the one kernel launch path and its trace (CLRNN_VERBOSE; format in src/core/launch.h) ---- */
/* What one traced event was, for a sink (clrnn_trace_install). Strings live for the call only. */
typedef enum clrnn_trace_kind {
    CLRNN_TRACE_EXEC = 1,   /* a kernel or a GEMM ran: name, scope, what, sizes, device_ms */
    CLRNN_TRACE_BUILD = 2,  /* a program was compiled (what = "source") or loaded (what = "binary"): host_ms */
    CLRNN_TRACE_KERNELS = 3, /* a program's kernels were created: host_ms */
    CLRNN_TRACE_INFO = 4     /* a context started tracing: name = the device, what = the driver */
} clrnn_trace_kind;
typedef struct clrnn_trace_record {
    clrnn_trace_kind kind;
    const char *name;  /* the __kernel's name, "clblast_sgemm", or the program ("the main kernels") */
    const char *plan;  /* the scope's plan ("tiled", "generic"), "-" outside a forward or training call */
    const char *shape; /* the scope's shape ("l0 lstm T=100 N=64 I=512 H=512 D=1"), "-" outside one */
    const char *what;  /* the caller's detail of this launch ("gemm M=6400 N=2048 K=512 ta=0 tb=0", an ONNX
                        * node's op type and label), or "-" */
    cl_uint dims;      /* 0 when the sizes are not known (CLBlast) */
    size_t global[3], local[3];
    int has_local;     /* 0: local size left to the driver */
    double device_ms;  /* CL_PROFILING_COMMAND_END - START; -1 when the queue cannot profile */
    double host_ms;    /* BUILD and KERNELS: wall time; EXEC: -1 */
    const char *line;  /* the whole CLRNN_VERBOSE line, no newline */
} clrnn_trace_record;
typedef void (*clrnn_trace_sink)(void *user, const clrnn_trace_record *rec);
#define CLRNN_TRACE_SHAPE 160
/* A context's trace state, fixed at its creation except the scope and the pending launches (written
 * and read under ctx->lock). */
typedef struct clrnn_trace_state {
    int enabled;           /* CLRNN_VERBOSE=1 or a sink installed when the context was created */
    int on;                /* enabled and not paused (clrnn_trace_pause): launches are traced */
    int profiling;         /* the queue has CL_QUEUE_PROFILING_ENABLE and the device a timer */
    clrnn_trace_sink sink; /* NULL: lines go to stderr */
    void *user;
    const char *plan;      /* scope (clrnn_trace_scope) */
    char shape[CLRNN_TRACE_SHAPE];
    struct clrnn_trace_pending *pending; /* launches whose lines wait for their events (launch.c) */
    int n_pending;
} clrnn_trace_state;

/* ---- context ---- */
struct clrnn_context {
    uint64_t handle_id; /* registry id (clrnn_handle_register) */
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl_ctx;
    cl_command_queue queue;
    clrnn_device_info info;
    cl_program program;      /* the main program (owned): CORE and the default plan's groups */
    clrnn_kernel_set kernels; /* the fp32 kernels, created on first use (clrnn_kernel_get) */
    clrnn_build_info build;
    char cache_dir[900]; /* the binary cache every program of this context uses; "" for none */
    clrnn_kept_program kept[CLRNN_KEPT_PROGRAMS]; /* programs made on first use (clrnn_program_kept) */
    int programs_got; /* programs built or loaded for this context (clrnn_program_get calls that succeeded) */
    mtx_t lock; /* serialises enqueues and kernel-argument setting on this context */
    int lock_ready; /* lock was initialised */
    atomic_int used_blas; /* a CLBlast call ran on this context (see clrnn_gemm_context_release) */
    uint64_t blas_generation[2]; /* gemm.c: when this context last ran sgemm / sgemm_batched */
    struct clrnn_train_program *train; /* src/train: its kernels (a kept program's state, not owned), set on first use under lock */
    struct clrnn_glue_program *glue; /* src/train/glue.c: its kernels (a kept program's state, not owned), set on first use */
    clrnn_trace_state trace; /* CLRNN_VERBOSE (src/core/launch.c) */
    /* The device's bound on the loop iterations of one kernel invocation (all its loops together;
     * Mesa llvmpipe: 65535, then every loop silently ends), 0 for none; read once at creation
     * (clrnn_loop_limit_init: CLRNN_LOOP_LIMIT, else the device). loop_budget: what one launch's
     * work-item may declare (3/4 of it: a margin for what a count misses). */
    long loop_limit, loop_budget;
    long loop_most; /* the most iterations a launch declared under a bound (tests read it) */
};
/* Iterations of clrnn_loop_probe's one loop (core/launch.h): past llvmpipe's 65535. */
#define CLRNN_LOOP_PROBE_N 100000
/* Sets ctx->loop_limit / loop_budget (context.c, once the device info is known). */
void clrnn_loop_limit_init(clrnn_context *ctx);

/* ---- gemm.c ---- */
clrnn_status clrnn_gemm_apply_tuning(clrnn_context *ctx);
/* Drops what CLBlast keeps of a context that used it; called by the context destroy, after the
 * context's own OpenCL objects are released. */
void clrnn_gemm_context_release(clrnn_context *ctx);
/* GEMM inside an already-locked section (the context lock held), operands checked as by
 * clrnn_sgemm. */
clrnn_status clrnn_sgemm_locked(clrnn_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                                size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* ---- rnn (rnn_desc.c, weights.c, step_table.c, workspace.c, plan*.c, forward.c) ---- */
/* Internal gate order: LSTM i, f, g, o; GRU z, r, n; RNN one gate. Peepholes i, f, o. */
typedef struct clrnn_layer_weights {
    int in_size; /* I_l */
    float *W;    /* [G*H, I_l] */
    float *R;    /* [G*H, Hr] */
    float *Wb;   /* [G*H] */
    float *Rb;   /* [G*H] */
    float *P;    /* [3H] or NULL */
    float *proj; /* [Hr, H] or NULL */
    int has_W, has_R; /* bit g: gate g was set */
    int has_proj;
} clrnn_layer_weights;

#define CLRNN_MAX_LAYERS 64
#define CLRNN_PLAN_BUFS 4 /* workspace buffers a plan may add */

typedef struct clrnn_workspace {
    size_t TN, N;     /* capacity: step rows (T*N) and batch rows; each call indexes by its own T, N */
    cl_mem x;         /* [T*N*I] staging for host input */
    cl_mem x_proj;    /* [T*N, D*G*H] */
    cl_mem y_a, y_b;  /* [T*N, D*Hr] layer outputs, ping-pong across layers */
    cl_mem h[CLRNN_MAX_LAYERS][2]; /* per layer [D, N, Hr], ping-pong across steps */
    cl_mem c[CLRNN_MAX_LAYERS][2]; /* per layer [D, N, H] (LSTM) */
    cl_mem h_raw;     /* [D*N*H] LSTMP unprojected h; GRU reset-before r*h */
    cl_mem zbuf;      /* [D*N*H] GRU reset-before z */
    cl_mem tmap;      /* [D*T*N + D*N] step table + has-any-step flags */
    cl_mem plan_buf[CLRNN_PLAN_BUFS]; /* the plan's own buffers (clrnn_plan_workspace) */
    cl_mem y_out;     /* staging for a host y */
    cl_mem dense_in;  /* [T*N, Hm] merged output before the dense layer */
    /* fp16/bf16 storage only (else NULL): */
    cl_mem x_s;       /* [T*N*I] the input in the rnn's storage type (what layer 0 reads) */
    cl_mem state_f;   /* [D*N*max(Hs, Hc)] float staging of a host h0/c0/hn/cn */
    size_t bytes;
} clrnn_workspace;

typedef struct clrnn_device_weights {
    cl_mem WT[CLRNN_MAX_LAYERS];    /* [I_l, D*G*H] */
    cl_mem RT[CLRNN_MAX_LAYERS];    /* [D][Hr][G*H] */
    cl_mem bias[CLRNN_MAX_LAYERS];  /* [D][2][G*H]: x-side bias (folded), recurrent bias (lbr n gate) */
    cl_mem peep[CLRNN_MAX_LAYERS];  /* [D][3H] */
    cl_mem projT[CLRNN_MAX_LAYERS]; /* [D][H][Hr] */
    cl_mem acts;                    /* [D][3][3] floats: kind, alpha, beta */
    cl_mem denseT;                  /* [Hm, O] */
    cl_mem dense_b;                 /* [O] */
    size_t bytes;                   /* held by all of the above */
} clrnn_device_weights;

/* A kernel plan: its table of operations (plan.h). */
typedef struct clrnn_plan_ops clrnn_plan_ops;

struct clrnn_rnn {
    clrnn_context *ctx;
    uint64_t ctx_id; /* ctx->handle_id when created: detects a destroyed (even reused) context */
    clrnn_rnn_desc desc;
    int D, G, Hr, Hm, O; /* directions, gates, state size, merged size, output size */
    /* The kernel plan, chosen at creation (plan.h), and its private state. The plan sets the
     * device state strides: rows of h are Hs floats apart, rows of c Hc (padded by some plans). */
    const clrnn_plan_ops *plan;
    void *plan_state;
    /* Device storage (desc.storage): elem = bytes of a stored element (4, or 2 for fp16/bf16);
     * kernels = the main program built for it (clrnn_program_storage), fetched at the first forward
     * (NULL before). The plans take their kernels through begin_r (launch.h). */
    size_t elem;
    clrnn_kernel_set *kernels;
    int Hs, Hc;
    clrnn_layer_weights *lw; /* [L*D] */
    float *dense_W;          /* [O, Hm] */
    float *dense_b;          /* [O] */
    int has_dense_W;
    int dirty;               /* host weights changed since upload */
    unsigned host_gen;       /* bumped whenever the host weights change (set_param): training re-uploads */
    struct clrnn_train_state *train; /* src/train: trainable values and gradients on the device, or NULL */
    size_t train_bytes;      /* device bytes of training: values, gradients and every live reserve */
    clrnn_device_weights dw;
    clrnn_workspace ws;
    int32_t *tmap_host; /* step table */
    size_t tmap_cap;
    /* > 0: the device's step table (ws.tmap) and the plan's tables derived from it are those of a
     * forward of tmap_T x tmap_N steps without lengths or a mask, so the next such call need not
     * upload them again (forward.c); 0 after any other call and whenever the workspace goes */
    int tmap_T, tmap_N;
};

/* Number of gates of a cell (its row of the cell table, cells.c; 1 for a value that is no cell). */
int clrnn_cell_gates(clrnn_cell cell);
/* Resolves CLRNN_ACT_DEFAULT for (cell, slot). */
clrnn_activation clrnn_effective_activation(const clrnn_rnn_desc *desc, int dir, int slot);
/* Frees every device buffer of the rnn (weights and workspace). */
void clrnn_rnn_release_device(clrnn_rnn *rnn);
/* workspace.c: weights into the plan's device layout; the workspace sized for at least (T, N). */
clrnn_status clrnn_rnn_upload_weights(clrnn_rnn *rnn);
clrnn_status clrnn_rnn_ensure_workspace(clrnn_rnn *rnn, int T, int N);
/* Checks that every required tensor was set. */
clrnn_status clrnn_weights_check_complete(const clrnn_rnn *rnn);
/* weights.c: one role of (layer, dir) — or DENSE_* — from internal-layout arrays w [L*D] / dense_W /
 * dense_b into framework fw's layout and gate order: the exact inverse of clrnn_rnn_set_param's
 * import, through the same role table (count, roles and layers checked as set_param checks them).
 * grad = 1: the arrays are gradients, and a role that set_param splits into Wb and Rb (Keras'
 * single bias, TF1 GRU gates/bias ...) takes dWb; grad = 0: values, such a role gets Wb + Rb as the
 * forward uses them. A role whose tensor the rnn never had set (W, R, KERNEL, CANDIDATE_KERNEL,
 * PROJ, DENSE_W: by rnn->lw's flags) is CLRNN_ERR_MISSING_WEIGHTS; biases and peepholes never set
 * read as zeros. Writes nothing on failure. */
clrnn_status clrnn_weights_export(const clrnn_rnn *r, const clrnn_layer_weights *w, const float *dense_W,
                                  const float *dense_b, int grad, clrnn_framework fw, int layer, int dir,
                                  clrnn_param role, float *out, size_t count);

/* Fills the step table (its encoding: STEP_* in cl/abi.h) for (desc, T, N, lengths, mask); `out` has D*T*N + D*N entries, the tail
 * holds per (d, n) 1 if the row has any computed step. */
void clrnn_build_step_table(const clrnn_rnn_desc *desc, int D, int T, int N, const int32_t *seq_lens,
                            const uint8_t *mask, int32_t *out);

/* For a plan that orders rows (the tiled plan's forward and training forward), from the step table
 * tmap [D*T*N]: rows by descending count of computed steps into perm [N]; row_needed [T*N] marks
 * the (t, n) some direction computes. */
void clrnn_build_row_order(int D, int T, int N, const int32_t *tmap, int32_t *perm, int32_t *row_needed);

/* ---- train (src/train/train.c): what the rnn's destroy releases (its program is a kept one) ---- */
void clrnn_train_release(clrnn_rnn *r);

/* Safe size arithmetic: returns 0 on overflow. */
static inline int clrnn_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

#endif
