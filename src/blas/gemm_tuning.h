/* Tuned CLBlast parameters: what a parameter set is, where the per-device file lives, how it is
 * read, checked and written (gemm_tuning.c). Shared by gemm.c (installs them at context creation)
 * and clrnn-tune (writes them). Not installed.
 *
 * Sources, applied kernel by kernel when a context is created (unless disable_tuning):
 *   1. the per-device file <cache dir>/clblast-<key>.txt written by clrnn-tune, key = 64-bit
 *      FNV-1a over the tuning-format version, device name, driver version and platform version
 *      (the same device identity as the kernel cache); CLRNN_TUNING_FILE=<path> names one instead;
 *   2. the shipped table (gemm_tuned.h): the first row that matches the device, per kernel.
 * A kernel the file names wins over the table; kernels it does not name fall back to the table.
 * A missing file is normal. An unreadable, malformed or inconsistent file is reported once on
 * stderr and ignored as a whole; a set CLBlast rejects is reported and skipped. Never fatal. */
#ifndef CLRNN_GEMM_TUNING_H
#define CLRNN_GEMM_TUNING_H

#include "internal.h"

#define CLRNN_TUNING_MAX_PARAMS 16
#define CLRNN_TUNING_MAX_KERNELS 8
#define CLRNN_TUNING_FORMAT "clrnn-clblast-tuning-v1"

/* One CLBlast kernel's parameters, as CLBlastOverrideParameters takes them. */
typedef struct clrnn_clblast_params {
    char kernel[32]; /* "Xgemm", "XgemmDirect", "Copy", "Pad", "Transpose", "Padtranspose", "GemmRoutine" */
    size_t count;
    char names[CLRNN_TUNING_MAX_PARAMS][32];
    size_t values[CLRNN_TUNING_MAX_PARAMS];
} clrnn_clblast_params;

typedef struct clrnn_tuning_set {
    size_t count;
    clrnn_clblast_params kernels[CLRNN_TUNING_MAX_KERNELS];
} clrnn_tuning_set;

/* The CLBlast kernels clrnn tunes, in application order, and each one's parameter names
 * (CLBlast 1.5 names; NULL-terminated). */
extern const char *const clrnn_tuning_kernels[];
const char *const *clrnn_tuning_param_names(const char *kernel);

/* Value of `name` in p, or `fallback` if absent. */
size_t clrnn_tuning_get(const clrnn_clblast_params *p, const char *name, size_t fallback);
/* Sets (adds or replaces) name = value. Returns 0 when full. */
int clrnn_tuning_set_value(clrnn_clblast_params *p, const char *name, size_t value);
/* The set's entry for `kernel`, or NULL. */
const clrnn_clblast_params *clrnn_tuning_find(const clrnn_tuning_set *set, const char *kernel);
/* Adds or replaces the entry for p->kernel. Returns 0 when full. */
int clrnn_tuning_put(clrnn_tuning_set *set, const clrnn_clblast_params *p);

/* Checks a parameter set against the constraints of its CLBlast kernel (every name present, the
 * tile divisibility rules of CLBlast's tuners, local memory within `local_mem_bytes`, work-group
 * size within `max_wg`; 0 = unchecked). Returns 1 if valid, else 0 and the reason in `why`. */
int clrnn_tuning_valid(const clrnn_clblast_params *p, uint64_t local_mem_bytes, size_t max_wg, char *why,
                       size_t why_cap);

/* Key and path of a device's tuning file in `cache_dir`. Returns 0 if the path does not fit. */
uint64_t clrnn_tuning_key(const clrnn_device_info *info);
int clrnn_tuning_path(const clrnn_device_info *info, const char *cache_dir, char *out, size_t cap);
/* The tuning file clrnn would read for this context: CLRNN_TUNING_FILE, else the file in the
 * directory of the context's kernel cache, else in the default cache directory. Returns 0 if none,
 * or if that directory is not trusted (another owner, or writable by group/others: see cache.c). */
int clrnn_tuning_context_path(const clrnn_context *ctx, char *out, size_t cap);

/* Reads and checks a tuning file. CLRNN_ERR_NOT_FOUND if absent; CLRNN_ERR_CORRUPT_FILE (with the
 * line and reason in clrnn_last_error) if malformed or inconsistent. */
clrnn_status clrnn_tuning_load(const char *path, const clrnn_device_info *info, clrnn_tuning_set *set);
/* Writes a tuning file atomically (temp file + rename). `comment` lines (may be NULL) are written as
 * '#' comments after the header. */
clrnn_status clrnn_tuning_save(const char *path, const clrnn_device_info *info, const clrnn_tuning_set *set,
                               const char *comment);

/* The shipped table's parameters for `kernel` on this device. Returns 1 if a row matches. */
int clrnn_tuning_shipped(const clrnn_device_info *info, const char *kernel, clrnn_clblast_params *out);

/* Installs p for `device` with CLBlastOverrideParameters (single precision). */
clrnn_status clrnn_tuning_override(cl_device_id device, const clrnn_clblast_params *p);

/* What clrnn_gemm_apply_tuning did: for each kernel, where its parameters came from. */
typedef enum clrnn_tuning_source {
    CLRNN_TUNING_FROM_CLBLAST = 0, /* CLBlast's own database (nothing applied) */
    CLRNN_TUNING_FROM_TABLE = 1,   /* the shipped table */
    CLRNN_TUNING_FROM_FILE = 2     /* the per-device file */
} clrnn_tuning_source;

typedef struct clrnn_tuning_report {
    char path[1024];    /* the file looked for ("" if no cache directory) */
    int file_state;     /* 0 absent, 1 loaded, -1 rejected */
    char warning[512];  /* why the file or a set was rejected ("" if none) */
    size_t count;
    clrnn_clblast_params applied[CLRNN_TUNING_MAX_KERNELS];
    clrnn_tuning_source source[CLRNN_TUNING_MAX_KERNELS];
} clrnn_tuning_report;

/* Same as clrnn_gemm_apply_tuning, and says what was applied (report may be NULL). */
clrnn_status clrnn_gemm_apply_tuning_report(clrnn_context *ctx, clrnn_tuning_report *report);

/* GEMM trace for clrnn-tune: while set, every GEMM clrnn issues is reported to fn (count = batch
 * size, 1 for a plain GEMM); with skip != 0 it is then not enqueued at all. Process-global, not
 * thread-safe: set it only while no other thread uses clrnn. fn = NULL turns it off. */
typedef void (*clrnn_gemm_trace_fn)(void *user, int trans_a, int trans_b, size_t m, size_t n, size_t k, size_t count);
void clrnn_gemm_set_trace(clrnn_gemm_trace_fn fn, void *user, int skip);

#endif
