/* Kernel program: the .cl files embedded at build time (tools/cmake/embed_cl.cmake), concatenated
 * in a fixed order (cl/abi.h, the constants shared with the C sources, first), built for the
 * context device with fixed options, and kept in the on-disk binary cache (cache.c), except on
 * drivers that cache compiled kernels themselves and make a binary expensive to produce (PoCL;
 * CLRNN_CACHE_MODE=binary|driver overrides the choice). CLRNN_KERNEL_DIR=<dir> loads the .cl files
 * from disk instead, to edit kernels without rebuilding the library. */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct clrnn_embedded_source {
    const char *name;
    const unsigned char *data;
    size_t size;
} clrnn_embedded_source;
extern const clrnn_embedded_source clrnn_embedded_sources[];
extern const size_t clrnn_embedded_source_count;

/* Part of the cache key: bump when the binary-cache layout or meaning changes. */
#define PROGRAM_CACHE_VERSION "clrnn-program-v1"

/* REAL: the kernels' precision (cl/common.cl) */
static const char *const build_options = "-cl-std=CL1.2 -DREAL=float";

const char *clrnn_program_options(void) { return build_options; }

/* Assembles the full program source into a malloc'ed string. */
static clrnn_status assemble_source(char **out, size_t *len) {
    const char *dev_dir = getenv("CLRNN_KERNEL_DIR");
    size_t total = 1;
    char *parts[64] = {0};
    size_t sizes[64] = {0};
    clrnn_status st = CLRNN_OK;
    if (clrnn_embedded_source_count > 64) return clrnn_fail(CLRNN_ERR_INTERNAL, "too many kernel files");
    for (size_t i = 0; i < clrnn_embedded_source_count; ++i) {
        const clrnn_embedded_source *s = &clrnn_embedded_sources[i];
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
        for (size_t i = 0; i < clrnn_embedded_source_count; ++i) {
            memcpy(src + pos, parts[i], sizes[i]);
            pos += sizes[i];
            src[pos++] = '\n';
        }
        src[pos] = '\0';
        *out = src;
        *len = pos;
    }
    if (dev_dir && *dev_dir)
        for (size_t i = 0; i < clrnn_embedded_source_count; ++i) free(parts[i]);
    return st;
}

double clrnn_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static clrnn_status build_failed(const clrnn_program_spec *spec, cl_program prog, cl_device_id dev, cl_int err) {
    char log[1500] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = '\0';
    return clrnn_fail(CLRNN_ERR_BUILD_FAILED, "%s%sclBuildProgram failed with %s; compiler log:\n%s",
                      spec->what ? spec->what : "", spec->what ? ": " : "", clrnn_cl_error_name(err), log);
}

static clrnn_status build_from_source(clrnn_context *ctx, const clrnn_program_spec *spec, cl_program *out) {
    cl_int err;
    const char *src = spec->src;
    size_t len = spec->len;
    cl_program prog = clCreateProgramWithSource(ctx->cl_ctx, 1, &src, &len, &err);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clCreateProgramWithSource", spec->what);
    err = clBuildProgram(prog, 1, &ctx->device, spec->options, NULL, NULL);
    if (err != CL_SUCCESS) {
        clrnn_status st = build_failed(spec, prog, ctx->device, err);
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return CLRNN_OK;
}

static clrnn_status build_from_binary(clrnn_context *ctx, const clrnn_program_spec *spec, const unsigned char *bin,
                                      size_t size, cl_program *out) {
    cl_int err, bin_status = CL_SUCCESS;
    cl_program prog = clCreateProgramWithBinary(ctx->cl_ctx, 1, &ctx->device, &size, &bin, &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cached binary rejected by the driver (%s)",
                          clrnn_cl_error_name(err != CL_SUCCESS ? err : bin_status));
    }
    err = clBuildProgram(prog, 1, &ctx->device, spec->options, NULL, NULL);
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

clrnn_status clrnn_program_obtain(clrnn_context *ctx, const clrnn_program_spec *spec, cl_program *out,
                                  int *from_cache, char *store_error, size_t store_error_cap) {
    *out = NULL;
    *from_cache = 0;
    if (store_error_cap) store_error[0] = '\0';
    cl_program prog = NULL;
    if (spec->cache_dir) {
        unsigned char *bin = NULL;
        size_t size = 0;
        char path[1200];
        clrnn_status ls = clrnn_cache_load(spec->cache_dir, spec->key, &bin, &size, path, sizeof path);
        if (ls == CLRNN_OK) ls = build_from_binary(ctx, spec, bin, size, &prog);
        free(bin);
        /* A binary that builds but lacks a kernel (a valid binary of another program under this
         * key) is as damaged as bad bytes: without this check it would fail every context forever. */
        if (ls == CLRNN_OK && (ls = spec->make_kernels(prog, spec->user)) != CLRNN_OK) {
            clReleaseProgram(prog);
            prog = NULL;
        }
        if (ls == CLRNN_OK) {
            *from_cache = 1;
            *out = prog;
            return CLRNN_OK;
        }
        /* NOT_FOUND, damaged or untrusted: build below, and the store replaces the bad entry */
        clrnn_clear_error();
    }
    clrnn_status st = build_from_source(ctx, spec, &prog);
    if (st != CLRNN_OK) return st;
    if (spec->cache_dir) {
        unsigned char *bin = NULL;
        size_t size = 0;
        clrnn_status ws = program_binary(prog, &bin, &size);
        if (ws == CLRNN_OK) ws = clrnn_cache_store(spec->cache_dir, spec->key, bin, size);
        free(bin);
        if (ws != CLRNN_OK) {
            if (store_error_cap) snprintf(store_error, store_error_cap, "%s", clrnn_last_error());
            clrnn_clear_error();
        }
    }
    if ((st = spec->make_kernels(prog, spec->user)) != CLRNN_OK) {
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return CLRNN_OK;
}

static void warn_once(const char *msg) {
    static atomic_int warned;
    if (!atomic_exchange(&warned, 1)) fprintf(stderr, "clrnn: warning: %s\n", msg);
}

static uint64_t cache_key(const clrnn_context *ctx, const char *src, size_t len) {
    uint64_t h = clrnn_hash64(CLRNN_HASH_SEED, PROGRAM_CACHE_VERSION, sizeof PROGRAM_CACHE_VERSION);
    h = clrnn_hash64(h, src, len);
    h = clrnn_hash64(h, build_options, strlen(build_options) + 1);
    h = clrnn_hash64(h, ctx->info.name, strlen(ctx->info.name) + 1);
    h = clrnn_hash64(h, ctx->info.driver_version, strlen(ctx->info.driver_version) + 1);
    h = clrnn_hash64(h, ctx->info.platform_version, strlen(ctx->info.platform_version) + 1);
    return h;
}

int clrnn_program_driver_caches(const clrnn_context *ctx) {
    const char *mode = getenv("CLRNN_CACHE_MODE");
    if (mode && !strcmp(mode, "binary")) return 0;
    if (mode && !strcmp(mode, "driver")) return 1;
    return strstr(ctx->info.platform_name, "Portable Computing Language") != NULL;
}

static void release_kernels(clrnn_context *ctx) {
    for (int k = 0; k < CLRNN_K_COUNT_; ++k) {
        if (ctx->kernels[k]) clReleaseKernel(ctx->kernels[k]);
        ctx->kernels[k] = NULL;
    }
}

static const char *const kernel_names[] = {
#define CLRNN_KERNEL(name) #name,
#include "kernel_list.h"
#undef CLRNN_KERNEL
};

const char *clrnn_kernel_name(clrnn_kernel_id id) { return (unsigned)id < CLRNN_K_COUNT_ ? kernel_names[id] : "(none)"; }

static clrnn_status make_main_kernels(cl_program prog, void *user) {
    clrnn_context *ctx = user;
    const char *const *names = kernel_names;
    for (int k = 0; k < CLRNN_K_COUNT_; ++k) {
        cl_int err;
        ctx->kernels[k] = clCreateKernel(prog, names[k], &err);
        if (err != CL_SUCCESS) {
            ctx->kernels[k] = NULL;
            release_kernels(ctx);
            return clrnn_fail_cl(err, "clCreateKernel", names[k]);
        }
    }
    return CLRNN_OK;
}

clrnn_status clrnn_program_init(clrnn_context *ctx, const char *cache_dir_param, int disable_cache) {
    char *src = NULL;
    size_t len = 0;
    clrnn_status st = assemble_source(&src, &len);
    if (st != CLRNN_OK) return st;
    const char *env_off = getenv("CLRNN_CACHE_DISABLE");
    if (env_off && *env_off && strcmp(env_off, "0") != 0) disable_cache = 1;

    double t0 = clrnn_now_ms();
    char dir[900];
    /* On PoCL the driver's cache is the one to use: PoCL caches compiled kernels on disk itself,
     * and handing out a program binary makes it compile every kernel of the program first (about
     * 10 s here, against about 2 s to build from source and compile only the kernels a run uses;
     * warm, 38 ms from our binary against about 70 ms from PoCL's cache). */
    int use_cache = !disable_cache && !clrnn_program_driver_caches(ctx) &&
                    clrnn_cache_resolve_dir(cache_dir_param, dir, sizeof dir);
    memset(&ctx->build, 0, sizeof ctx->build);
    if (use_cache) {
        /* A directory that another user owns or can write is not used at all (its binaries would
         * run as this user's code): compile in memory, and say so once. */
        clrnn_status ds = clrnn_cache_prepare_dir(dir);
        if (ds != CLRNN_OK) {
            /* the reason without its internal status name when it is a trust refusal */
            const char *why = clrnn_last_error(), *colon = strstr(why, ": ");
            if (ds == CLRNN_ERR_INVALID_ARGUMENT && colon) why = colon + 2;
            snprintf(ctx->build.cache_warning, sizeof ctx->build.cache_warning,
                     "kernel cache %s, kernels compiled in memory (%s)",
                     ds == CLRNN_ERR_INVALID_ARGUMENT ? "not used" : "not written", why);
            warn_once(ctx->build.cache_warning);
            clrnn_clear_error();
            use_cache = 0;
        }
    }
    clrnn_program_spec spec = {NULL, src, len, build_options, use_cache ? dir : NULL,
                               use_cache ? cache_key(ctx, src, len) : 0, make_main_kernels, ctx};
    char store_error[200];
    cl_program prog = NULL;
    st = clrnn_program_obtain(ctx, &spec, &prog, &ctx->build.from_cache, store_error, sizeof store_error);
    free(src);
    if (st != CLRNN_OK) return st;
    if (store_error[0]) {
        snprintf(ctx->build.cache_warning, sizeof ctx->build.cache_warning,
                 "kernel cache not written, kernels compiled in memory (%s)", store_error);
        warn_once(ctx->build.cache_warning);
    }
    ctx->program = prog;
    ctx->build.build_ms = clrnn_now_ms() - t0;
    if (use_cache) snprintf(ctx->build.cache_path, sizeof ctx->build.cache_path, "%s/%016llx.clbin", dir,
                            (unsigned long long)spec.key);
    return CLRNN_OK;
}

void clrnn_program_release(clrnn_context *ctx) {
    for (int k = 0; k < CLRNN_K_COUNT_; ++k)
        if (ctx->kernels[k]) clReleaseKernel(ctx->kernels[k]);
    if (ctx->program) clReleaseProgram(ctx->program);
}
