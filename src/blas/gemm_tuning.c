/* Tuned CLBlast parameter sets (gemm_tuning.h): their names and constraints, the per-device file
 * clrnn-tune writes and clrnn reads, and the shipped table (gemm_tuned.h). Host-only: nothing here
 * calls CLBlast; gemm.c installs what these return. */
#include "gemm_tuning.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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
 * The shipped table
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
