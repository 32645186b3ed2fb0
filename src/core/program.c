/* Kernel programs: the one path by which every kernel source becomes a cl_program, the library's
 * own (the files of cl/) and the ONNX module's (src/onnx/kernels.cl) alike. A program is a list of
 * embedded files (tools/cmake/embed_cl.cmake), concatenated in order (the ABI headers, the
 * constants shared with the C sources, first), built for the context device with the options its
 * caller passes, and kept in the on-disk binary cache (cache.c) under a key of its format tag,
 * source, options, device, driver and platform (cache_key). Whether the context uses that cache,
 * and which directory, is decided once at context creation (choose_cache_dir: ctx->cache_dir):
 * not on drivers that cache compiled kernels themselves and make a binary expensive to produce
 * (PoCL; CLRNN_CACHE_MODE=binary|driver overrides the choice), not in a directory that fails the
 * trust rules. CLRNN_KERNEL_DIR=<dir> loads the library's .cl files from disk instead, to edit
 * kernels without rebuilding the library. One build or binary load runs at a time per process.
 * The library's own kernels come in groups (kernel_list.h, clrnn_kernel_group): a context's main
 * program is the files of CORE and of its default plan's groups, built at context creation; each
 * other group is a program of its own, built on the first use of one of its kernels. A program's
 * clBuildProgram on PoCL is a front end over all of its source (opencl-c.h included) whatever
 * runs, so what a plan never runs stays out of its cold start (a CPU context's main program: about
 * 0.3 s less CPU to build without the training, gpu and generic kernels). */
#include "internal.h"
#include "core/launch.h"
#include "plans/plan.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

extern const clrnn_embedded_source clrnn_embedded_sources[];
extern const size_t clrnn_embedded_sources_count;

/* REAL: the kernels' precision (cl/common.cl), for every program */
static const char *const build_options = "-cl-std=CL1.2 -DREAL=float";

const char *clrnn_program_options(void) { return build_options; }

/* PoCL's compiler is not dependably thread-safe when several threads build at once, and a cache
 * entry is then read or written once: every build and binary load takes this lock. */
static once_flag build_once = ONCE_FLAG_INIT;
static mtx_t build_lock;
static void build_lock_init(void) { mtx_init(&build_lock, mtx_plain); }

/* Assembles the full program source into a malloc'ed string. */
static clrnn_status assemble_source(const clrnn_program_def *def, char **out, size_t *len) {
    const char *dev_dir = def->dev_dir ? getenv("CLRNN_KERNEL_DIR") : NULL;
    size_t total = 1;
    char *parts[64] = {0};
    size_t sizes[64] = {0};
    clrnn_status st = CLRNN_OK;
    if (def->count > 64) return clrnn_fail(CLRNN_ERR_INTERNAL, "too many kernel files");
    for (size_t i = 0; i < def->count; ++i) {
        const clrnn_embedded_source *s = &def->sources[i];
        if (dev_dir && *dev_dir) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dev_dir, s->name);
            unsigned char *text = NULL;
            /* regular files only: a FIFO there must not block context creation */
            st = clrnn_read_user_file(path, "CLRNN_KERNEL_DIR kernel source", &text, &sizes[i]);
            if (st != CLRNN_OK) break;
            parts[i] = (char *)text;
        } else {
            parts[i] = (char *)s->data;
            sizes[i] = s->size;
        }
        total += sizes[i] + 1;
    }
    char *src = st == CLRNN_OK ? malloc(total) : NULL;
    if (st == CLRNN_OK && !src) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "kernel source of %zu bytes", total);
    if (src) {
        size_t pos = 0;
        for (size_t i = 0; i < def->count; ++i) {
            memcpy(src + pos, parts[i], sizes[i]);
            pos += sizes[i];
            src[pos++] = '\n';
        }
        src[pos] = '\0';
        *out = src;
        *len = pos;
    }
    if (dev_dir && *dev_dir)
        for (size_t i = 0; i < def->count; ++i) free(parts[i]);
    return st;
}

double clrnn_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* What one build works on: the program's name for messages, its source and options. */
typedef struct build_job {
    const char *what; /* NULL for the library's own kernels */
    const char *src;
    size_t len;
    const char *options;
} build_job;

static clrnn_status build_failed(const build_job *job, cl_program prog, cl_device_id dev, cl_int err) {
    char log[1500] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = '\0';
    return clrnn_fail(CLRNN_ERR_BUILD_FAILED, "%s%sclBuildProgram failed with %s; compiler log:\n%s",
                      job->what ? job->what : "", job->what ? ": " : "", clrnn_cl_error_name(err), log);
}

static clrnn_status build_from_source(clrnn_context *ctx, const build_job *job, cl_program *out) {
    cl_int err;
    const char *src = job->src;
    size_t len = job->len;
    const double t0 = clrnn_now_ms();
    cl_program prog = clCreateProgramWithSource(ctx->cl_ctx, 1, &src, &len, &err);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateProgramWithSource", job->what);
    err = clBuildProgram(prog, 1, &ctx->device, job->options, NULL, NULL);
    clrnn_trace_host(ctx, CLRNN_TRACE_BUILD, job->what ? job->what : "the main kernels", "source", clrnn_now_ms() - t0);
    if (err != CL_SUCCESS) {
        clrnn_status st = build_failed(job, prog, ctx->device, err);
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return CLRNN_OK;
}

static clrnn_status build_from_binary(clrnn_context *ctx, const build_job *job, const unsigned char *bin, size_t size,
                                      cl_program *out) {
    cl_int err, bin_status = CL_SUCCESS;
    const double t0 = clrnn_now_ms();
    cl_program prog = clCreateProgramWithBinary(ctx->cl_ctx, 1, &ctx->device, &size, &bin, &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cached binary rejected by the driver (%s)",
                          clrnn_cl_error_name(err != CL_SUCCESS ? err : bin_status));
    }
    err = clBuildProgram(prog, 1, &ctx->device, job->options, NULL, NULL);
    clrnn_trace_host(ctx, CLRNN_TRACE_BUILD, job->what ? job->what : "the main kernels", "binary", clrnn_now_ms() - t0);
    if (err != CL_SUCCESS) {
        clReleaseProgram(prog);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cached binary failed to build (%s)", clrnn_cl_error_name(err));
    }
    *out = prog;
    return CLRNN_OK;
}

static clrnn_status program_binary(cl_program prog, unsigned char **bin, size_t *size) {
    size_t sz = 0;
    cl_int err = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)", NULL);
    if (sz == 0) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the driver returns no program binary");
    unsigned char *buf = malloc(sz);
    if (!buf) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "program binary of %zu bytes", sz);
    err = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof buf, &buf, NULL);
    if (err != CL_SUCCESS) {
        free(buf);
        return clrnn_fail_cl(err, "clGetProgramInfo(CL_PROGRAM_BINARIES)", NULL);
    }
    *bin = buf;
    *size = sz;
    return CLRNN_OK;
}

/* The cache key: every input that changes the binary (see cache.c). */
static uint64_t cache_key(const clrnn_context *ctx, const char *version, const build_job *job) {
    uint64_t h = clrnn_hash64(CLRNN_HASH_SEED, version, strlen(version) + 1);
    h = clrnn_hash64(h, job->src, job->len);
    h = clrnn_hash64(h, job->options, strlen(job->options) + 1);
    h = clrnn_hash64(h, ctx->info.name, strlen(ctx->info.name) + 1);
    h = clrnn_hash64(h, ctx->info.driver_version, strlen(ctx->info.driver_version) + 1);
    h = clrnn_hash64(h, ctx->info.platform_version, strlen(ctx->info.platform_version) + 1);
    return h;
}

/* One cache warning per process (clrnn_warn_once): a cache that cannot be written stays so. */
static atomic_int cache_warned;

/* def's kernels of prog, timed for the trace (kernel creation is part of a cold start). */
static clrnn_status make_kernels_traced(clrnn_context *ctx, const clrnn_program_def *def, cl_program prog, void *user) {
    const double t0 = clrnn_now_ms();
    const clrnn_status st = def->make_kernels(prog, user);
    if (st == CLRNN_OK)
        clrnn_trace_host(ctx, CLRNN_TRACE_KERNELS, def->what ? def->what : "the main kernels", NULL, clrnn_now_ms() - t0);
    return st;
}

/* Loads the entry of `key` from dir; an entry that is damaged, that the driver rejects, or whose
 * program lacks a kernel (a binary of another program) counts as absent. */
static clrnn_status load_cached(clrnn_context *ctx, const clrnn_program_def *def, const build_job *job,
                                const char *dir, uint64_t key, void *user, cl_program *out) {
    unsigned char *bin = NULL;
    size_t size = 0;
    char path[1200];
    cl_program prog = NULL;
    clrnn_status ls = clrnn_cache_load(dir, key, &bin, &size, path, sizeof path);
    if (ls == CLRNN_OK) ls = build_from_binary(ctx, job, bin, size, &prog);
    free(bin);
    /* A binary that builds but lacks a kernel (a valid binary of another program under this key)
     * is as damaged as bad bytes: without this check it would fail every context forever. */
    if (ls == CLRNN_OK && (ls = make_kernels_traced(ctx, def, prog, user)) != CLRNN_OK) clReleaseProgram(prog);
    if (ls == CLRNN_OK) *out = prog;
    return ls;
}

static clrnn_status program_get_locked(clrnn_context *ctx, const clrnn_program_def *def, const build_job *job,
                                       void *user, clrnn_program_got *got) {
    const char *dir = ctx->cache_dir[0] ? ctx->cache_dir : NULL;
    const uint64_t key = dir ? cache_key(ctx, def->version, job) : 0;
    cl_program prog = NULL;
    if (dir && load_cached(ctx, def, job, dir, key, user, &prog) == CLRNN_OK) {
        got->from_cache = 1;
    } else {
        /* NOT_FOUND, damaged or untrusted: build here, and the store replaces the bad entry */
        if (dir) clrnn_clear_error();
        clrnn_status st = build_from_source(ctx, job, &prog);
        if (st != CLRNN_OK) return st;
        if (dir) {
            unsigned char *bin = NULL;
            size_t size = 0;
            clrnn_status ws = program_binary(prog, &bin, &size);
            if (ws == CLRNN_OK) ws = clrnn_cache_store(dir, key, bin, size);
            free(bin);
            if (ws != CLRNN_OK) { /* not an error: the program runs from memory */
                snprintf(got->store_error, sizeof got->store_error, "kernel cache not written, %s compiled in memory (%s)",
                         job->what ? job->what : "kernels", clrnn_last_error());
                clrnn_warn_once(&cache_warned, got->store_error);
                clrnn_clear_error();
            }
        }
        if ((st = make_kernels_traced(ctx, def, prog, user)) != CLRNN_OK) {
            clReleaseProgram(prog);
            return st;
        }
    }
    if (dir) snprintf(got->cache_path, sizeof got->cache_path, "%s/%016llx.clbin", dir, (unsigned long long)key);
    got->program = prog;
    return CLRNN_OK;
}

/* Options a device's compiler needs on top of every program's: on a software rasterizer (Mesa
 * Rusticl's llvmpipe) the tiled kernels' register blocks keep their accumulators in an array over
 * loops (CLRNN_COMPACT: tiled/tiled_dot.h, xproj_block, the GRU out phase's pair_dot), since
 * llvmpipe's compiler takes minutes a kernel for 24 vector accumulators in named variables
 * (xproj_tiled_4: 338 s, against 1.5 s) and the plan runs there for correctness, not speed.
 * CLRNN_COMPACT=0|1 overrides the choice (tests run the loop form on PoCL with it). */
static void device_options(const clrnn_context *ctx, char out[64]) {
    const char *env = getenv("CLRNN_COMPACT");
    const int loop_dot = env && *env ? strcmp(env, "0") != 0 : clrnn_device_is_rasterizer(ctx);
    out[0] = '\0';
    if (loop_dot) {
        snprintf(out, 64, " -DCLRNN_COMPACT=1");
        return;
    }
    if (clrnn_device_kind_of(ctx) != CLRNN_KIND_CPU) return;
    /* The CPU device of a compute implementation (PoCL, Intel's, ...): software prefetch in the
     * tiled steps (tiled/step_tiled.cl: PREFETCH), clang's builtin; not for a simulator. And its
     * vectors' width in floats: under 16 (AVX2: 8) the tiled micro-kernels run their register
     * blocks a 16-lane slice at a time (TILED_NARROW, tiled/tiled_dot.h), or their accumulators
     * spill. CLRNN_SIMD_LANES=N overrides it (tests run the narrow form on an AVX-512 PoCL). */
    cl_uint lanes = 0;
    const char *lanes_env = getenv("CLRNN_SIMD_LANES");
    if (lanes_env && *lanes_env)
        lanes = (cl_uint)strtoul(lanes_env, NULL, 10);
    else if (clGetDeviceInfo(ctx->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof lanes, &lanes, NULL) != CL_SUCCESS)
        lanes = 0;
    if (lanes > 0 && lanes < 16)
        snprintf(out, 64, " -DCLRNN_PREFETCH=1 -DCLRNN_SIMD_LANES=%u", (unsigned)lanes);
    else
        snprintf(out, 64, " -DCLRNN_PREFETCH=1");
}

clrnn_status clrnn_program_get(clrnn_context *ctx, const clrnn_program_def *def, const char *options, void *user,
                               clrnn_program_got *got) {
    memset(got, 0, sizeof *got);
    const double t0 = clrnn_now_ms();
    char full_options[600], dev_options[64];
    device_options(ctx, dev_options);
    if (snprintf(full_options, sizeof full_options, "%s%s", options, dev_options) >= (int)sizeof full_options)
        return clrnn_fail(CLRNN_ERR_INTERNAL, "build options of %zu bytes", strlen(options));
    build_job job = {def->what, NULL, 0, full_options};
    char *src = NULL;
    clrnn_status st = assemble_source(def, &src, &job.len);
    if (st != CLRNN_OK) return st;
    job.src = src;
    call_once(&build_once, build_lock_init);
    mtx_lock(&build_lock);
    st = program_get_locked(ctx, def, &job, user, got);
    if (st == CLRNN_OK) ++ctx->programs_got;
    mtx_unlock(&build_lock);
    free(src);
    got->build_ms = clrnn_now_ms() - t0;
    return st;
}

int clrnn_program_driver_caches(const clrnn_context *ctx) {
    const char *mode = getenv("CLRNN_CACHE_MODE");
    if (mode && !strcmp(mode, "binary")) return 0;
    if (mode && !strcmp(mode, "driver")) return 1;
    return strstr(ctx->info.platform_name, "Portable Computing Language") != NULL;
}

static const char *const kernel_names[] = {
#define CLRNN_KERNEL(name) #name,
#include "kernel_list.h"
#undef CLRNN_KERNEL
};

const char *clrnn_kernel_name(clrnn_kernel_id id) { return (unsigned)id < CLRNN_K_COUNT_ ? kernel_names[id] : "(none)"; }

/* kernel_list.h in order, its group lines (name NULL) among the kernels: a kernel's group is that
 * of the last group line above it. */
static const struct {
    int group;
    const char *name;
} kernel_lines[] = {
#define CLRNN_KERNEL_GROUP(g) {CLRNN_KG_##g, NULL},
#define CLRNN_KERNEL(name) {-1, #name},
#include "kernel_list.h"
#undef CLRNN_KERNEL
#undef CLRNN_KERNEL_GROUP
};
static unsigned char kernel_groups[CLRNN_K_COUNT_];

/* The files of a group (the embedded list's names, cl/ relative): 0 for a file every program gets
 * (abi.h, storage.h, common.cl: the ABI constants, storage macros and shared helpers), else a mask
 * of the groups whose programs include it. tiled/step_tiled.cl is in TILED_TRAIN's too: the
 * training scans are its step functions with `train` = 1. */
static unsigned file_groups(const char *name) {
    if (!strncmp(name, "generic/", 8)) return 1u << CLRNN_KG_GENERIC;
    if (!strncmp(name, "gpu/", 4)) return 1u << CLRNN_KG_GPU;
    if (!strncmp(name, "tiled/train_", 12)) return 1u << CLRNN_KG_TILED_TRAIN;
    if (!strncmp(name, "tiled/", 6)) return 1u << CLRNN_KG_TILED | 1u << CLRNN_KG_TILED_TRAIN;
    if (!strcmp(name, "merge.cl") || !strncmp(name, "blas/", 5)) return 1u << CLRNN_KG_CORE;
    return 0;
}

/* The program of each mask of groups: the embedded files that mask needs, in the embedded order
 * (a def's sources; the pointer also names the program among the context's kept ones). */
#define GROUP_MASKS (1u << CLRNN_KG_COUNT_)
#define MAX_FILES 64
static clrnn_embedded_source mask_sources[GROUP_MASKS][MAX_FILES];
static size_t mask_count[GROUP_MASKS];
static once_flag groups_once = ONCE_FLAG_INIT;
static void groups_init(void) {
    int g = CLRNN_KG_CORE, id = 0;
    for (size_t i = 0; i < sizeof kernel_lines / sizeof kernel_lines[0]; ++i)
        if (!kernel_lines[i].name) g = kernel_lines[i].group;
        else kernel_groups[id++] = (unsigned char)g;
    for (unsigned m = 1; m < GROUP_MASKS; ++m)
        for (size_t f = 0; f < clrnn_embedded_sources_count && f < MAX_FILES; ++f) {
            const unsigned fg = file_groups(clrnn_embedded_sources[f].name);
            if (!fg || (fg & m)) mask_sources[m][mask_count[m]++] = clrnn_embedded_sources[f];
        }
}

clrnn_kernel_group clrnn_kernel_group_of(clrnn_kernel_id id) {
    call_once(&groups_once, groups_init);
    return (unsigned)id < CLRNN_K_COUNT_ ? (clrnn_kernel_group)kernel_groups[id] : CLRNN_KG_CORE;
}

clrnn_status clrnn_program_has_kernels(cl_program prog, const char *const *kernels, size_t count) {
    size_t len = 0;
    cl_int err = clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &len);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetProgramInfo(CL_PROGRAM_KERNEL_NAMES)", NULL);
    char *names = malloc(len + 1);
    if (!names) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "kernel names of %zu bytes", len);
    err = clGetProgramInfo(prog, CL_PROGRAM_KERNEL_NAMES, len, names, NULL);
    names[err == CL_SUCCESS ? len : 0] = '\0';
    clrnn_status st = err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clGetProgramInfo(CL_PROGRAM_KERNEL_NAMES)", NULL);
    for (size_t k = 0; k < count && st == CLRNN_OK; ++k) {
        const size_t n = strlen(kernels[k]);
        int found = 0;
        for (const char *p = names; *p && !found; p = strchr(p, ';') ? strchr(p, ';') + 1 : p + strlen(p))
            found = !strncmp(p, kernels[k], n) && (p[n] == ';' || p[n] == '\0');
        if (!found) st = clrnn_fail_cl(CL_INVALID_KERNEL_NAME, "clCreateKernel", kernels[k]);
    }
    free(names);
    return st;
}

/* A program's check (clrnn_program_def.make_kernels): it names every kernel of kernel_list.h in the
 * groups of `mask` (so a cached binary of another program counts as damaged, and a kernel missing
 * from cl/ fails at once), but creates none: on Rusticl each clCreateKernel compiles (seconds a
 * kernel), so kernels are created on first use (clrnn_kernel_get). */
static clrnn_status check_groups(cl_program prog, unsigned mask) {
    const char *names[CLRNN_K_COUNT_];
    size_t n = 0;
    for (int id = 0; id < CLRNN_K_COUNT_; ++id)
        if (mask & 1u << clrnn_kernel_group_of((clrnn_kernel_id)id)) names[n++] = kernel_names[id];
    return clrnn_program_has_kernels(prog, names, n);
}
/* make_kernels of a set's main program (user: the set): the check, and the program is the set's
 * for each group it holds. */
static clrnn_status check_set_program(cl_program prog, void *user) {
    clrnn_kernel_set *set = user;
    clrnn_status st = check_groups(prog, set->main_groups);
    for (int g = 0; g < CLRNN_KG_COUNT_ && st == CLRNN_OK; ++g)
        if (set->main_groups & 1u << g) atomic_store(&set->program[g], prog);
    return st;
}
/* make_kernels of one group's own program (user: its mask). */
static clrnn_status check_group_program(cl_program prog, void *user) {
    return check_groups(prog, *(const unsigned *)user);
}

/* First uses of kernels on any context: one creation at a time (the check-then-create must not
 * make a kernel twice); a kernel already there is read without it. */
static once_flag kernel_once = ONCE_FLAG_INIT;
static mtx_t kernel_lock;
static void kernel_lock_init(void) { mtx_init(&kernel_lock, mtx_plain); }

static const char *const storage_options[] = {"-cl-std=CL1.2 -DREAL=float",
                                              "-cl-std=CL1.2 -DREAL=float -DCLRNN_STORAGE=1",
                                              "-cl-std=CL1.2 -DREAL=float -DCLRNN_STORAGE=2"};
/* A group's own program, by storage (names it in messages and the trace). */
static const char *const group_what[3][CLRNN_KG_COUNT_] = {
    {"the core kernels", "the generic plan kernels", "the tiled plan kernels", "the tiled training kernels",
     "the gpu plan kernels"},
    {"the fp16 core kernels", "the fp16 generic plan kernels", "the fp16 tiled plan kernels",
     "the fp16 tiled training kernels", "the fp16 gpu plan kernels"},
    {"the bf16 core kernels", "the bf16 generic plan kernels", "the bf16 tiled plan kernels",
     "the bf16 tiled training kernels", "the bf16 gpu plan kernels"}};

static const clrnn_program_def main_program = {NULL, "clrnn-program-v1", NULL, 0, 1, check_set_program};

clrnn_status clrnn_kernel_group_program(clrnn_context *ctx, clrnn_kernel_set *set, clrnn_kernel_group g,
                                        cl_program *out) {
    if (!set) set = &ctx->kernels;
    *out = NULL;
    if ((unsigned)g >= CLRNN_KG_COUNT_ || (unsigned)set->storage > CLRNN_STORAGE_BF16)
        return clrnn_fail(CLRNN_ERR_INTERNAL, "kernel group %d of storage %d", (int)g, (int)set->storage);
    cl_program prog = atomic_load_explicit(&set->program[g], memory_order_acquire);
    if (!prog) { /* a group the set's main program does not hold: its own program, kept, built once */
        call_once(&groups_once, groups_init);
        const unsigned mask = 1u << g;
        clrnn_program_def def = main_program;
        def.what = group_what[set->storage][g];
        def.sources = mask_sources[mask];
        def.count = mask_count[mask];
        def.make_kernels = check_group_program;
        const clrnn_kept_program *kp;
        clrnn_status st =
            clrnn_program_kept_with(ctx, &def, storage_options[set->storage], sizeof mask, &mask, NULL, &kp);
        if (st != CLRNN_OK) return st;
        prog = kp->program;
        atomic_store_explicit(&set->program[g], prog, memory_order_release);
    }
    *out = prog;
    return CLRNN_OK;
}

/* Kernel `id` of set into set->k[id] on its first use, from its group's program (built first if
 * need be). The creation is traced (clrnn_verbose,kernels,<program>: <kernel>,<ms>): on Rusticl
 * clCreateKernel is where a kernel compiles, seconds to minutes for the tiled ones on llvmpipe. */
clrnn_status clrnn_kernel_set_get(clrnn_context *ctx, clrnn_kernel_set *set, clrnn_kernel_id id, cl_kernel *out) {
    *out = NULL;
    if ((unsigned)id >= CLRNN_K_COUNT_) return clrnn_fail(CLRNN_ERR_INTERNAL, "kernel id %d out of range", (int)id);
    cl_kernel k = atomic_load_explicit(&set->k[id], memory_order_acquire);
    if (k) {
        *out = k;
        return CLRNN_OK;
    }
    const clrnn_kernel_group g = clrnn_kernel_group_of(id);
    cl_program prog = NULL;
    clrnn_status st = clrnn_kernel_group_program(ctx, set, g, &prog);
    if (st != CLRNN_OK) return st;
    const char *what = set->main_groups & 1u << g ? set->what : group_what[set->storage][g];
    call_once(&kernel_once, kernel_lock_init);
    mtx_lock(&kernel_lock);
    k = atomic_load_explicit(&set->k[id], memory_order_relaxed);
    if (!k) {
        cl_int err = CL_SUCCESS;
        const double t0 = clrnn_now_ms();
        k = prog ? clCreateKernel(prog, kernel_names[id], &err) : NULL;
        if (err != CL_SUCCESS || !k) {
            char msg[200];
            snprintf(msg, sizeof msg, "creating kernel %s on its first use in %s", kernel_names[id], what);
            st = clrnn_fail_cl(err != CL_SUCCESS ? err : CL_INVALID_KERNEL, "clCreateKernel", msg);
            k = NULL;
        } else {
            atomic_store_explicit(&set->k[id], k, memory_order_release);
            atomic_fetch_add(&set->created, 1);
            char name[160];
            snprintf(name, sizeof name, "%s: %s", what, kernel_names[id]);
            clrnn_trace_host(ctx, CLRNN_TRACE_KERNELS, name, NULL, clrnn_now_ms() - t0);
        }
    }
    mtx_unlock(&kernel_lock);
    *out = k;
    return st;
}

clrnn_status clrnn_kernel_get(clrnn_context *ctx, clrnn_kernel_id id, cl_kernel *out) {
    return clrnn_kernel_set_get(ctx, &ctx->kernels, id, out);
}

int clrnn_kernels_created(const clrnn_context *ctx) { return atomic_load(&ctx->kernels.created); }

/* The groups of a context's main program: CORE and those of the plan a new rnn gets on its device
 * (clrnn_plan_choose: CLRNN_PLAN, the device type), so that a cold first forward compiles one
 * program, and no kernel its plan never runs. */
static unsigned main_groups(const clrnn_context *ctx) {
    const clrnn_plan_ops *plan = clrnn_plan_choose(ctx);
    if (plan == &clrnn_plan_tiled) return 1u << CLRNN_KG_CORE | 1u << CLRNN_KG_TILED;
    if (plan == &clrnn_plan_gpu) return 1u << CLRNN_KG_CORE | 1u << CLRNN_KG_GENERIC | 1u << CLRNN_KG_GPU;
    return 1u << CLRNN_KG_CORE | 1u << CLRNN_KG_GENERIC;
}

/* Decides the context's cache directory (ctx->cache_dir, "" for none) for every program built on
 * it. On PoCL the driver's cache is the one to use: PoCL caches compiled kernels on disk itself,
 * and handing out a program binary makes it compile every kernel of the program first (about 10 s
 * here, against about 2 s to build from source and compile only the kernels a run uses; warm,
 * 38 ms from our binary against about 70 ms from PoCL's cache). */
static void choose_cache_dir(clrnn_context *ctx, const char *cache_dir_param, int disable_cache) {
    const char *env_off = getenv("CLRNN_CACHE_DISABLE");
    if (env_off && *env_off && strcmp(env_off, "0") != 0) disable_cache = 1;
    char dir[sizeof ctx->cache_dir];
    ctx->cache_dir[0] = '\0';
    if (disable_cache || clrnn_program_driver_caches(ctx) || !clrnn_cache_resolve_dir(cache_dir_param, dir, sizeof dir))
        return;
    /* A directory that another user owns or can write is not used at all (its binaries would run
     * as this user's code): compile in memory, and say so once. */
    clrnn_status ds = clrnn_cache_prepare_dir(dir);
    if (ds != CLRNN_OK) {
        /* the reason without its internal status name when it is a trust refusal */
        const char *why = clrnn_last_error(), *colon = strstr(why, ": ");
        if (ds == CLRNN_ERR_INVALID_ARGUMENT && colon) why = colon + 2;
        snprintf(ctx->build.cache_warning, sizeof ctx->build.cache_warning, "kernel cache %s, kernels compiled in memory (%s)",
                 ds == CLRNN_ERR_INVALID_ARGUMENT ? "not used" : "not written", why);
        clrnn_warn_once(&cache_warned, ctx->build.cache_warning);
        clrnn_clear_error();
        return;
    }
    snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", dir);
}

clrnn_status clrnn_program_init(clrnn_context *ctx, const char *cache_dir_param, int disable_cache) {
    memset(&ctx->build, 0, sizeof ctx->build);
    choose_cache_dir(ctx, cache_dir_param, disable_cache);
    call_once(&groups_once, groups_init);
    if (clrnn_embedded_sources_count > MAX_FILES) return clrnn_fail(CLRNN_ERR_INTERNAL, "too many kernel files");
    clrnn_kernel_set *set = &ctx->kernels;
    set->what = "the main kernels";
    set->storage = CLRNN_STORAGE_FP32;
    set->main_groups = main_groups(ctx);
    clrnn_program_def def = main_program;
    def.sources = mask_sources[set->main_groups];
    def.count = mask_count[set->main_groups];
    clrnn_program_got got;
    clrnn_status st = clrnn_program_get(ctx, &def, build_options, set, &got);
    if (st != CLRNN_OK) return st;
    ctx->program = got.program;
    ctx->build.from_cache = got.from_cache;
    ctx->build.build_ms = got.build_ms;
    snprintf(ctx->build.cache_path, sizeof ctx->build.cache_path, "%s", got.cache_path);
    if (got.store_error[0]) snprintf(ctx->build.cache_warning, sizeof ctx->build.cache_warning, "%s", got.store_error);
    return CLRNN_OK;
}

/* Guards the context's kept programs (a lookup, and the first build); taken before build_lock. */
static once_flag kept_once = ONCE_FLAG_INIT;
static mtx_t kept_lock;
static void kept_lock_init(void) { mtx_init(&kept_lock, mtx_plain); }

clrnn_status clrnn_program_kept_with(clrnn_context *ctx, const clrnn_program_def *def, const char *options,
                                     size_t state_size, const void *state_init, void (*release_kernels)(void *state),
                                     const clrnn_kept_program **out) {
    call_once(&kept_once, kept_lock_init);
    mtx_lock(&kept_lock);
    clrnn_kept_program *slot = NULL;
    for (int i = 0; i < CLRNN_KEPT_PROGRAMS && !slot; ++i)
        if (!ctx->kept[i].program || (ctx->kept[i].sources == def->sources && !strcmp(ctx->kept[i].options, options))) slot = &ctx->kept[i];
    clrnn_status st = CLRNN_OK;
    if (!slot) {
        st = clrnn_fail(CLRNN_ERR_INTERNAL, "%s: more than %d kept programs on one context", def->what,
                        CLRNN_KEPT_PROGRAMS);
    } else if (!slot->program) {
        void *state = calloc(1, state_size ? state_size : 1);
        if (state && state_init) memcpy(state, state_init, state_size);
        clrnn_program_got got;
        if (!state) {
            st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s: kernel state", def->what);
        } else if ((st = clrnn_program_get(ctx, def, options, state, &got)) != CLRNN_OK) {
            free(state);
        } else {
            slot->sources = def->sources;
            snprintf(slot->options, sizeof slot->options, "%s", options);
            slot->release_kernels = release_kernels;
            slot->program = got.program;
            slot->state = state;
            slot->from_cache = got.from_cache;
        }
    }
    mtx_unlock(&kept_lock);
    if (st == CLRNN_OK) *out = slot;
    return st;
}

clrnn_status clrnn_program_kept(clrnn_context *ctx, const clrnn_program_def *def, size_t state_size,
                                void (*release_kernels)(void *state), const clrnn_kept_program **out) {
    return clrnn_program_kept_with(ctx, def, build_options, state_size, NULL, release_kernels, out);
}

/* ---- the main program's kernels built for a storage type other than fp32 (cl/storage.h) ---- */
static void release_set_kernels(clrnn_kernel_set *set) {
    for (int k = 0; k < CLRNN_K_COUNT_; ++k) {
        cl_kernel kernel = atomic_exchange(&set->k[k], NULL);
        if (kernel) clReleaseKernel(kernel);
    }
    atomic_store(&set->created, 0);
}
static void release_storage_kernels(void *state) { release_set_kernels(state); }

static const char *const storage_what[] = {"the main kernels", "the fp16 storage kernels", "the bf16 storage kernels"};

clrnn_status clrnn_program_storage(clrnn_context *ctx, clrnn_storage storage, clrnn_kernel_set **kernels) {
    if (storage == CLRNN_STORAGE_FP32) { /* the context's own, created on first use by begin() */
        *kernels = NULL;
        return CLRNN_OK;
    }
    if ((unsigned)storage > CLRNN_STORAGE_BF16)
        return clrnn_fail(CLRNN_ERR_INTERNAL, "storage %d has no program", (int)storage);
    /* the groups of the context's main program, built with this storage's options */
    clrnn_kernel_set init;
    memset(&init, 0, sizeof init);
    init.what = storage_what[storage];
    init.storage = storage;
    init.main_groups = ctx->kernels.main_groups;
    clrnn_program_def def = main_program;
    def.what = storage_what[storage];
    def.sources = mask_sources[init.main_groups];
    def.count = mask_count[init.main_groups];
    const clrnn_kept_program *kp;
    clrnn_status st = clrnn_program_kept_with(ctx, &def, storage_options[storage], sizeof init, &init,
                                              release_storage_kernels, &kp);
    if (st == CLRNN_OK) *kernels = kp->state;
    return st;
}

void clrnn_program_release(clrnn_context *ctx) {
    release_set_kernels(&ctx->kernels);
    if (ctx->program) clReleaseProgram(ctx->program);
    for (int i = 0; i < CLRNN_KEPT_PROGRAMS; ++i) {
        clrnn_kept_program *kp = &ctx->kept[i];
        if (!kp->program) continue;
        if (kp->release_kernels) kp->release_kernels(kp->state);
        clReleaseProgram(kp->program);
        free(kp->state);
        memset(kp, 0, sizeof *kp);
    }
}
