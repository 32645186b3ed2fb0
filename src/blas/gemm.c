/* GEMM through CLBlast (row-major), and the tuned CLBlast parameters applied with
 * CLBlastOverrideParameters when a context is created: the per-device file written by clrnn-tune
 * wins over the shipped table (gemm_tuned.h), kernel by kernel. Sources, file format, key and
 * failure rules: gemm_tuning.h. */
#include "gemm_tuning.h"
#include "gemm_own.h"
#include "core/launch.h"

#include <clblast_c.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Shipped table: one row per (device match, CLBlast kernel). A row matches when every given
 * field matches: platform and device name substrings (case-sensitive), device type (0 = any).
 * Rows are tried in order; the first matching row per kernel is used. */
typedef struct tuned_entry {
    const char *platform_substring;
    const char *device_substring;
    int device_type;
    const char *kernel;
    size_t count;
    const char *names[CLRNN_TUNING_MAX_PARAMS];
    size_t values[CLRNN_TUNING_MAX_PARAMS];
} tuned_entry;

#include "gemm_tuned.h"

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
 * Parameter sets
 * ---------------------------------------------------------------------------------------- */
const char *const clrnn_tuning_kernels[] = {"Xgemm", "XgemmDirect", "Copy", "Pad", "Transpose", "Padtranspose",
                                            "GemmRoutine", NULL};

static const char *const names_xgemm[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                          "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN", NULL};
static const char *const names_direct[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                           "PADA", "PADB", "VWMD", "VWND", "WGD", NULL};
static const char *const names_copy[] = {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT", NULL};
static const char *const names_pad[] = {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY", NULL};
static const char *const names_transpose[] = {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT", NULL};
static const char *const names_padtranspose[] = {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT", NULL};
static const char *const names_routine[] = {"XGEMM_MIN_INDIRECT_SIZE", NULL};

const char *const *clrnn_tuning_param_names(const char *kernel) {
    static const char *const *const lists[] = {names_xgemm, names_direct,    names_copy,   names_pad,
                                               names_transpose, names_padtranspose, names_routine};
    for (size_t i = 0; clrnn_tuning_kernels[i]; ++i)
        if (strcmp(kernel, clrnn_tuning_kernels[i]) == 0) return lists[i];
    return NULL;
}

size_t clrnn_tuning_get(const clrnn_clblast_params *p, const char *name, size_t fallback) {
    for (size_t i = 0; i < p->count; ++i)
        if (strcmp(p->names[i], name) == 0) return p->values[i];
    return fallback;
}

int clrnn_tuning_set_value(clrnn_clblast_params *p, const char *name, size_t value) {
    for (size_t i = 0; i < p->count; ++i)
        if (strcmp(p->names[i], name) == 0) {
            p->values[i] = value;
            return 1;
        }
    if (p->count >= CLRNN_TUNING_MAX_PARAMS || strlen(name) >= sizeof p->names[0]) return 0;
    snprintf(p->names[p->count], sizeof p->names[0], "%s", name);
    p->values[p->count++] = value;
    return 1;
}

const clrnn_clblast_params *clrnn_tuning_find(const clrnn_tuning_set *set, const char *kernel) {
    for (size_t i = 0; i < set->count; ++i)
        if (strcmp(set->kernels[i].kernel, kernel) == 0) return &set->kernels[i];
    return NULL;
}

int clrnn_tuning_put(clrnn_tuning_set *set, const clrnn_clblast_params *p) {
    for (size_t i = 0; i < set->count; ++i)
        if (strcmp(set->kernels[i].kernel, p->kernel) == 0) {
            set->kernels[i] = *p;
            return 1;
        }
    if (set->count >= CLRNN_TUNING_MAX_KERNELS) return 0;
    set->kernels[set->count++] = *p;
    return 1;
}

static int is_pow2(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* The divisibility rules below are CLBlast's own tuner constraints (src/tuning/kernels/ in CLBlast):
 * a set that breaks them can compile and silently compute wrong results. */
int clrnn_tuning_valid(const clrnn_clblast_params *p, uint64_t local_mem_bytes, size_t max_wg, char *why,
                       size_t why_cap) {
    const char *const *names = clrnn_tuning_param_names(p->kernel);
    if (!names) {
        snprintf(why, why_cap, "unknown CLBlast kernel '%s'", p->kernel);
        return 0;
    }
    for (size_t i = 0; names[i]; ++i)
        if (clrnn_tuning_get(p, names[i], (size_t)-1) == (size_t)-1) {
            snprintf(why, why_cap, "%s: parameter %s is missing", p->kernel, names[i]);
            return 0;
        }
    for (size_t i = 0; i < p->count; ++i)
        if (p->values[i] > (1u << 20)) {
            snprintf(why, why_cap, "%s: %s = %zu is out of range", p->kernel, p->names[i], p->values[i]);
            return 0;
        }
#define G(n) clrnn_tuning_get(p, n, 0)
#define REQUIRE(cond, ...)                               \
    do {                                                 \
        if (!(cond)) {                                   \
            snprintf(why, why_cap, __VA_ARGS__);         \
            return 0;                                    \
        }                                                \
    } while (0)
    size_t wg = 0, local = 0;
    if (strcmp(p->kernel, "Xgemm") == 0) {
        const size_t gemmk = G("GEMMK"), kreg = G("KREG"), kwg = G("KWG"), kwi = G("KWI"), mdima = G("MDIMA"),
                     mdimc = G("MDIMC"), mwg = G("MWG"), ndimb = G("NDIMB"), ndimc = G("NDIMC"), nwg = G("NWG"),
                     vwm = G("VWM"), vwn = G("VWN");
        REQUIRE(gemmk <= 1, "Xgemm: GEMMK must be 0 or 1");
        REQUIRE(kreg && kwg && kwi && mdima && mdimc && mwg && ndimb && ndimc && nwg && vwm && vwn,
                "Xgemm: a size parameter is zero");
        REQUIRE(is_pow2(vwm) && is_pow2(vwn) && vwm <= 16 && vwn <= 16, "Xgemm: VWM/VWN must be 1, 2, 4, 8 or 16");
        REQUIRE(kwg % kwi == 0, "Xgemm: KWG must be a multiple of KWI");
        REQUIRE(mwg % (mdimc * vwm) == 0 && nwg % (ndimc * vwn) == 0,
                "Xgemm: MWG/NWG must be multiples of MDIMC*VWM / NDIMC*VWN");
        REQUIRE(mwg % (mdima * vwm) == 0 && nwg % (ndimb * vwn) == 0,
                "Xgemm: MWG/NWG must be multiples of MDIMA*VWM / NDIMB*VWN");
        if (gemmk == 0) {
            REQUIRE(kwg % ((mdimc * ndimc) / mdima) == 0 && kwg % ((mdimc * ndimc) / ndimb) == 0,
                    "Xgemm: KWG must be a multiple of MDIMC*NDIMC/MDIMA and MDIMC*NDIMC/NDIMB");
            REQUIRE((mdimc * ndimc) % mdima == 0 && (mdimc * ndimc) % ndimb == 0,
                    "Xgemm: MDIMC*NDIMC must be a multiple of MDIMA and NDIMB");
            local = 4 * (G("SA") * kwg * mwg + G("SB") * kwg * nwg);
        } else {
            REQUIRE(kreg % vwn == 0, "Xgemm: KREG must be a multiple of VWN");
            REQUIRE(kwg == 1 && kwi == 1, "Xgemm: GEMMK=1 needs KWG = KWI = 1");
            REQUIRE(G("SA") == 0 && G("SB") == 0, "Xgemm: GEMMK=1 has no local memory (SA = SB = 0)");
            /* Not a rule of CLBlast's tuner, but with CLBlast 1.5.3's indirect routine every GEMMK=1
             * set with MWG != NWG tried on PoCL wrote out of bounds or computed wrong results */
            REQUIRE(mwg == nwg, "Xgemm: GEMMK=1 needs MWG = NWG");
        }
        wg = mdimc * ndimc;
    } else if (strcmp(p->kernel, "XgemmDirect") == 0) {
        const size_t kwid = G("KWID"), mdimad = G("MDIMAD"), mdimcd = G("MDIMCD"), ndimbd = G("NDIMBD"),
                     ndimcd = G("NDIMCD"), vwmd = G("VWMD"), vwnd = G("VWND"), wgd = G("WGD");
        REQUIRE(kwid && mdimad && mdimcd && ndimbd && ndimcd && vwmd && vwnd && wgd,
                "XgemmDirect: a size parameter is zero");
        REQUIRE(is_pow2(vwmd) && is_pow2(vwnd) && vwmd <= 16 && vwnd <= 16, "XgemmDirect: VWMD/VWND must be powers of 2");
        REQUIRE(wgd % kwid == 0, "XgemmDirect: WGD must be a multiple of KWID");
        REQUIRE(wgd % (mdimcd * vwmd) == 0 && wgd % (ndimcd * vwnd) == 0,
                "XgemmDirect: WGD must be a multiple of MDIMCD*VWMD and NDIMCD*VWND");
        REQUIRE(wgd % (mdimad * vwmd) == 0 && wgd % (ndimbd * vwnd) == 0,
                "XgemmDirect: WGD must be a multiple of MDIMAD*VWMD and NDIMBD*VWND");
        REQUIRE((mdimcd * ndimcd) % mdimad == 0 && (mdimcd * ndimcd) % ndimbd == 0 &&
                    wgd % ((mdimcd * ndimcd) / mdimad) == 0 && wgd % ((mdimcd * ndimcd) / ndimbd) == 0,
                "XgemmDirect: WGD must be a multiple of MDIMCD*NDIMCD/MDIMAD and MDIMCD*NDIMCD/NDIMBD");
        REQUIRE(G("PADA") <= 1 && G("PADB") <= 1, "XgemmDirect: PADA/PADB must be 0 or 1");
        wg = mdimcd * ndimcd;
        local = 4 * (wgd * (wgd + G("PADA")) + wgd * (wgd + G("PADB")));
    } else if (strcmp(p->kernel, "Copy") == 0) {
        REQUIRE(G("COPY_DIMX") && G("COPY_DIMY") && G("COPY_WPT") && is_pow2(G("COPY_VW")) && G("COPY_VW") <= 16,
                "Copy: sizes must be non-zero and COPY_VW a power of 2");
        wg = G("COPY_DIMX") * G("COPY_DIMY");
    } else if (strcmp(p->kernel, "Pad") == 0) {
        REQUIRE(G("PAD_DIMX") && G("PAD_DIMY") && G("PAD_WPTX") && G("PAD_WPTY"), "Pad: sizes must be non-zero");
        wg = G("PAD_DIMX") * G("PAD_DIMY");
    } else if (strcmp(p->kernel, "Transpose") == 0) {
        REQUIRE(G("TRA_DIM") && G("TRA_WPT") && G("TRA_PAD") <= 1 && G("TRA_SHUFFLE") <= 1 && is_pow2(G("TRA_WPT")) &&
                    G("TRA_WPT") <= 16,
                "Transpose: TRA_DIM non-zero, TRA_WPT a power of 2, TRA_PAD/TRA_SHUFFLE 0 or 1");
        wg = G("TRA_DIM") * G("TRA_DIM");
        local = 4 * G("TRA_WPT") * G("TRA_DIM") * (G("TRA_WPT") * G("TRA_DIM") + G("TRA_PAD"));
    } else if (strcmp(p->kernel, "Padtranspose") == 0) {
        REQUIRE(G("PADTRA_TILE") && G("PADTRA_WPT") && G("PADTRA_PAD") <= 1,
                "Padtranspose: PADTRA_TILE/PADTRA_WPT non-zero, PADTRA_PAD 0 or 1");
        wg = G("PADTRA_TILE") * G("PADTRA_TILE");
        local = 4 * G("PADTRA_WPT") * G("PADTRA_TILE") * (G("PADTRA_WPT") * G("PADTRA_TILE") + G("PADTRA_PAD"));
    } else if (strcmp(p->kernel, "GemmRoutine") == 0) {
        REQUIRE(G("XGEMM_MIN_INDIRECT_SIZE") > 0, "GemmRoutine: XGEMM_MIN_INDIRECT_SIZE must be > 0");
    }
#undef G
#undef REQUIRE
    if (max_wg && wg > max_wg) {
        snprintf(why, why_cap, "%s: work-group of %zu exceeds the device limit %zu", p->kernel, wg, max_wg);
        return 0;
    }
    if (local_mem_bytes && local > local_mem_bytes) {
        snprintf(why, why_cap, "%s: needs %zu bytes of local memory, the device has %llu", p->kernel, local,
                 (unsigned long long)local_mem_bytes);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * The per-device file
 * ---------------------------------------------------------------------------------------- */
uint64_t clrnn_tuning_key(const clrnn_device_info *info) {
    uint64_t h = clrnn_hash64(CLRNN_HASH_SEED, CLRNN_TUNING_FORMAT, sizeof CLRNN_TUNING_FORMAT);
    h = clrnn_hash64(h, info->name, strlen(info->name) + 1);
    h = clrnn_hash64(h, info->driver_version, strlen(info->driver_version) + 1);
    h = clrnn_hash64(h, info->platform_version, strlen(info->platform_version) + 1);
    return h;
}

int clrnn_tuning_path(const clrnn_device_info *info, const char *cache_dir, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/clblast-%016llx.txt", cache_dir, (unsigned long long)clrnn_tuning_key(info));
    return n > 0 && (size_t)n < cap;
}

int clrnn_tuning_context_path(const clrnn_context *ctx, char *out, size_t cap) {
    const char *env = getenv("CLRNN_TUNING_FILE");
    if (env && *env) {
        int n = snprintf(out, cap, "%s", env);
        return n > 0 && (size_t)n < cap;
    }
    char dir[1024];
    /* the directory of the context's kernel cache (it honours params->cache_dir) */
    if (ctx->cache_dir[0]) {
        snprintf(dir, sizeof dir, "%s", ctx->cache_dir);
    } else if (!clrnn_cache_resolve_dir(NULL, dir, sizeof dir)) {
        return 0;
    }
    /* a cache directory another user owns or can write is not used for this file either */
    if (!clrnn_cache_dir_trusted(dir)) return 0;
    return clrnn_tuning_path(&ctx->info, dir, out, cap);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) ++s;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* Format (text, one kernel per line; '#' starts a comment line):
 *   clrnn-clblast-tuning-v1
 *   # device: <name> | driver: <version> | platform: <version>   (informative)
 *   Xgemm GEMMK=0 KREG=1 KWG=32 ...
 *   GemmRoutine XGEMM_MIN_INDIRECT_SIZE=384 */
clrnn_status clrnn_tuning_load(const char *path, const clrnn_device_info *info, clrnn_tuning_set *set) {
    memset(set, 0, sizeof *set);
    clrnn_status ost;
    /* a FIFO there must not block context creation */
    FILE *f = clrnn_open_regular(path, "tuning file", CLRNN_ERR_CORRUPT_FILE, &ost);
    if (!f) return ost;
    char line[1024];
    int lineno = 0, have_header = 0;
    clrnn_status st = CLRNN_OK;
    while (st == CLRNN_OK && fgets(line, sizeof line, f)) {
        ++lineno;
        if (!strchr(line, '\n') && !feof(f)) {
            st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        if (!have_header) {
            if (strcmp(s, CLRNN_TUNING_FORMAT) != 0)
                st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: expected the header '%s'", path, lineno,
                                CLRNN_TUNING_FORMAT);
            have_header = 1;
            continue;
        }
        clrnn_clblast_params p;
        memset(&p, 0, sizeof p);
        char *save = NULL, *tok = strtok_r(s, " \t", &save);
        if (!tok || !clrnn_tuning_param_names(tok)) {
            st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: unknown CLBlast kernel '%s'", path, lineno, tok ? tok : "");
            break;
        }
        snprintf(p.kernel, sizeof p.kernel, "%s", tok);
        while (st == CLRNN_OK && (tok = strtok_r(NULL, " \t", &save))) {
            char *eq = strchr(tok, '=');
            char *end = NULL;
            if (!eq || eq == tok) {
                st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: expected NAME=VALUE, found '%s'", path, lineno, tok);
                break;
            }
            *eq = '\0';
            for (const char *c = tok; *c; ++c)
                if (!(isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_'))
                    st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: bad parameter name '%s'", path, lineno, tok);
            if (st != CLRNN_OK) break;
            errno = 0;
            unsigned long long v = strtoull(eq + 1, &end, 10);
            if (errno || end == eq + 1 || *end != '\0' || eq[1] == '-') {
                st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: bad value for %s", path, lineno, tok);
                break;
            }
            if (clrnn_tuning_get(&p, tok, (size_t)-1) != (size_t)-1 || !clrnn_tuning_set_value(&p, tok, (size_t)v))
                st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: duplicate or too many parameters", path, lineno);
        }
        if (st != CLRNN_OK) break;
        char why[256];
        if (!clrnn_tuning_valid(&p, info ? info->local_mem_bytes : 0, info ? info->max_work_group_size : 0, why,
                                sizeof why)) {
            st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: %s", path, lineno, why);
            break;
        }
        if (clrnn_tuning_find(set, p.kernel) || !clrnn_tuning_put(set, &p))
            st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s:%d: kernel %s given twice", path, lineno, p.kernel);
    }
    if (st == CLRNN_OK && ferror(f)) st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: read error", path);
    if (st == CLRNN_OK && !have_header) st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "%s: empty file", path);
    fclose(f);
    if (st != CLRNN_OK) memset(set, 0, sizeof *set);
    return st;
}

clrnn_status clrnn_tuning_save(const char *path, const clrnn_device_info *info, const clrnn_tuning_set *set,
                               const char *comment) {
    char dir[1024];
    const char *slash = strrchr(path, '/');
    if (slash && slash != path && (size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        clrnn_status st = clrnn_mkdirs(dir);
        if (st != CLRNN_OK) return st;
    }
    char tmp[1200];
    /* a random name, never a planted symlink (others may write the directory): see cache.c */
    const int fd = clrnn_create_temp(path, 0644, tmp, sizeof tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        const int e = errno;
        if (fd >= 0) close(fd), remove(tmp);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write %s: %s", fd >= 0 ? tmp : path, strerror(e));
    }
    fprintf(f, "%s\n", CLRNN_TUNING_FORMAT);
    if (info)
        fprintf(f, "# device: %s | driver: %s | platform: %s\n", info->name, info->driver_version,
                info->platform_version);
    if (comment) {
        const char *c = comment;
        while (*c) {
            const char *nl = strchr(c, '\n');
            size_t n = nl ? (size_t)(nl - c) : strlen(c);
            fprintf(f, "# %.*s\n", (int)n, c);
            c += n + (nl ? 1 : 0);
        }
    }
    for (size_t i = 0; i < set->count; ++i) {
        const clrnn_clblast_params *p = &set->kernels[i];
        fprintf(f, "%s", p->kernel);
        for (size_t j = 0; j < p->count; ++j) fprintf(f, " %s=%zu", p->names[j], p->values[j]);
        fputc('\n', f);
    }
    int ok = !ferror(f);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return CLRNN_OK;
}

/* ------------------------------------------------------------------------------------------
 * Applying
 * ---------------------------------------------------------------------------------------- */
static int row_matches(const tuned_entry *e, const clrnn_device_info *info) {
    if (!e->kernel) return 0;
    if (e->platform_substring && !strstr(info->platform_name, e->platform_substring)) return 0;
    if (e->device_substring && !strstr(info->name, e->device_substring)) return 0;
    if (e->device_type && e->device_type != (int)info->type) return 0;
    return 1;
}

int clrnn_tuning_shipped(const clrnn_device_info *info, const char *kernel, clrnn_clblast_params *out) {
    for (size_t i = 0; i < sizeof tuned_db / sizeof tuned_db[0]; ++i) {
        const tuned_entry *e = &tuned_db[i];
        if (!row_matches(e, info) || strcmp(e->kernel, kernel) != 0) continue;
        memset(out, 0, sizeof *out);
        snprintf(out->kernel, sizeof out->kernel, "%s", e->kernel);
        for (size_t j = 0; j < e->count && j < CLRNN_TUNING_MAX_PARAMS; ++j)
            clrnn_tuning_set_value(out, e->names[j], e->values[j]);
        return 1;
    }
    return 0;
}

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
    if (xgemm_gemmk(ctx->device) == 1) {
        /* CLBlast 1.5.3's batched GEMM computes wrong results with GEMMK=1 parameters installed
         * (its batched kernels follow GEMMK=0's layouts): one GEMM per item instead */
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
