/* The kernel cache as a trust boundary, and entries that are not merely bad bytes (ctest runs this
 * with CLRNN_CACHE_MODE=binary, so clrnn's binary cache is used on PoCL too):
 *   - temp files: symlinks planted at every temp name the old (pid.counter) scheme would use, for
 *     both programs' entries, neither clobber the file they point to nor create one;
 *   - a cache directory that others can write (each group/other write bit, sticky or not, through
 *     a symlink too) or that another user owns is not used: one warning line, kernels compiled in
 *     memory, nothing written there; a directory owned by root is trusted by any user;
 *   - entries that others can write or that another user owns are not loaded: rebuilt, replaced;
 *   - a FIFO, a directory, a symlink (to a valid entry, to a FIFO, dangling) at the entry path: no
 *     hang, rebuilt;
 *   - sizes: a sparse entry whose header claims 4 GiB (and one just over the bound, and headers
 *     that disagree with the file size either way) is refused without allocating it;
 *   - a valid binary of the other program (the ONNX kernels' under the main key, the reverse, and
 *     both at once): rebuilt; contexts and a model run work, and the next run loads from the cache;
 *   - directories the cache creates are 0700 and entries 0600 whatever the umask, so they pass
 *     the cache's own checks;
 *   - the CLBlast tuning file in the same directory: written through a random temp name (planted
 *     symlinks at the old names are not followed), a FIFO or directory at its path refused, not
 *     applied from a directory others can write; and a FIFO among the CLRNN_KERNEL_DIR sources.
 * Child processes (this program run again with --child) check the one-warning rule and run as
 * another user. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "onnx/onnx_case.h"
#include "blas/gemm_tuning.h" /* the tuning file clrnn-tune writes into the cache directory */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256]; /* scratch root of a test; the cache is a directory inside it */

/* ------------------------------------------------------------------------------------------
 * This program's clCreateProgramWithSource / clCreateProgramWithBinary preempt the ICD loader's
 * for the statically linked library: they count how programs were obtained (the ONNX kernels have
 * no build info of their own).
 * ---------------------------------------------------------------------------------------- */
static int n_onnx_source, n_main_source, n_binary;

typedef cl_program (*source_fn)(cl_context, cl_uint, const char **, const size_t *, cl_int *);
typedef cl_program (*binary_fn)(cl_context, cl_uint, const cl_device_id *, const size_t *, const unsigned char **,
                                cl_int *, cl_int *);

/* Whether the strings of a program source hold `name` (CLBlast builds programs of its own). */
static int source_has(cl_uint n, const char **s, const size_t *l, const char *name) {
    const size_t k = strlen(name);
    for (cl_uint i = 0; i < n; ++i) {
        const size_t len = l && l[i] ? l[i] : strlen(s[i]);
        for (size_t j = 0; j + k <= len; ++j)
            if (!memcmp(s[i] + j, name, k)) return 1;
    }
    return 0;
}

CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithSource(cl_context c, cl_uint n, const char **s,
                                                              const size_t *l, cl_int *err) {
    static source_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clCreateProgramWithSource");
    n_onnx_source += source_has(n, s, l, "ox_softmax");
    n_main_source += source_has(n, s, l, "rnn_step");
    return real(c, n, s, l, err);
}

CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithBinary(cl_context c, cl_uint n, const cl_device_id *d,
                                                              const size_t *l, const unsigned char **b,
                                                              cl_int *st, cl_int *err) {
    static binary_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clCreateProgramWithBinary");
    ++n_binary;
    return real(c, n, d, l, b, st, err);
}

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------- */
/* snprintf that fails the test instead of truncating a path */
static void fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    const int n = vsnprintf(out, cap, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) fail_msg("path too long: %s", out);
}

static int setup(void **state) {
    (void)state;
    fmt(dir, sizeof dir, "/tmp/clrnn-test-cache-trust-%ld", (long)getpid());
    tu_sh("chmod -R u+rwX %s 2>/dev/null; rm -rf %s && mkdir -p %s", dir);
    assert_int_equal(chmod(dir, 0755), 0);
    char io[1200];
    fmt(io, sizeof io, "%s/io", dir); /* where children (of another user too) write their results */
    assert_int_equal(mkdir(io, 0777), 0);
    assert_int_equal(chmod(io, 0777), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_sh("chmod -R u+rwX %s 2>/dev/null; rm -rf %s", dir);
    return 0;
}

static void path_in(char *out, size_t cap, const char *a, const char *b) { fmt(out, cap, "%s/%s", a, b); }

/* A fresh 0700 directory <dir>/<name>. */
static void make_cache(char *out, size_t cap, const char *name) {
    path_in(out, cap, dir, name);
    assert_int_equal(mkdir(out, 0700), 0);
}

/* Names in d, sorted; count of entries (".clbin", no ".tmp") and of everything else. */
static int count_files(const char *d, int *others) {
    int n = 0, o = 0;
    DIR *h = opendir(d);
    if (h) {
        struct dirent *e;
        while ((e = readdir(h))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp"))
                ++n;
            else
                ++o;
        }
        closedir(h);
    }
    if (others) *others = o;
    return n;
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static unsigned char *read_all(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void write_all(const char *p, const unsigned char *b, size_t n) {
    unlink(p);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(p, 0600), 0);
}

/* The entry of another key made to pass as `key` (header bytes 16-23 patched; the payload hash
 * covers the payload only, so it stays valid). */
static void plant_as(const char *from, const char *to) {
    size_t n;
    unsigned char *b = read_all(from, &n);
    const char *base = strrchr(to, '/') + 1;
    unsigned long long key = strtoull(base, NULL, 16);
    assert_true(n > 40);
    memcpy(b + 16, &key, 8);
    write_all(to, b, n);
    free(b);
}

/* The reference output of the small forward every context runs, from a context without cache. */
static float ref_y[2 * 3];
static int have_ref;

/* Creates a context on cache_dir and runs a small GRU forward on it; 0 on success. */
static clrnn_status try_build(const char *cache_dir, int disable, clrnn_build_info *info, float *y) {
    clrnn_context_params p = clrnn_context_default_params();
    p.cache_dir = cache_dir;
    p.disable_cache = disable;
    clrnn_context *ctx = NULL;
    clrnn_status st = clrnn_context_create(&p, &ctx);
    if (st != CLRNN_OK) return st;
    st = clrnn_context_build_info(ctx, info);
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_GRU, d.input_size = 2, d.hidden_size = 3;
    clrnn_rnn *r = NULL;
    float w[9 * 3], x[2 * 2];
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    tu_fill(w, 27, &seed, -0.5f, 0.5f);
    tu_fill(x, 4, &seed, -1.0f, 1.0f);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 1, a.x.host = x, a.y.host = y;
    if (st == CLRNN_OK) st = clrnn_rnn_create(ctx, &d, &r);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 18);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, w, 27);
    if (st == CLRNN_OK) st = clrnn_rnn_forward(r, &a);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    return st;
}

/* A context on cache_dir whose forward matches the reference. */
static clrnn_build_info build(const char *cache_dir) {
    clrnn_build_info info;
    float y[6];
    if (!have_ref) {
        TU_OK(try_build(NULL, 1, &info, ref_y));
        have_ref = 1;
    }
    for (int i = 0; i < 6; ++i) y[i] = POISON;
    TU_OK(try_build(cache_dir, 0, &info, y));
    assert_true(tu_max_abs_diff(y, ref_y, 6, NULL) <= 1e-6);
    return info;
}

/* Runs an ONNX case that needs the ONNX kernels, on a context whose cache is cache_dir; returns the
 * number of ONNX programs built from source during the model's run (0 or 1). */
static int model_run(const char *cache_dir) {
    const char *src = getenv("CLRNN_SOURCE_DIR");
    char case_dir[1024];
    fmt(case_dir, sizeof case_dir, "%s/tests/onnx/cases/glue_opset11_embedding_gemm_softmax", src ? src : "..");
    const char *old = getenv("CLRNN_CACHE_DIR");
    char keep[1024] = "";
    if (old) fmt(keep, sizeof keep, "%s", old);
    setenv("CLRNN_CACHE_DIR", cache_dir, 1);
    tu_context_release();
    tu_context(); /* the main program first, so that the counts below are the model's */
    const int s0 = n_onnx_source;
    const case_report r = oc_run_case(case_dir, 1e-5, 1e-5);
    const int sources = n_onnx_source - s0;
    tu_context_release();
    if (old)
        setenv("CLRNN_CACHE_DIR", keep, 1);
    else
        unsetenv("CLRNN_CACHE_DIR");
    if (r.result != CASE_PASS) fail_msg("model run on %s: %s", cache_dir, r.message);
    return sources;
}

/* Fills main_name / onnx_name with the entry names (no directory) of both programs. */
static void learn_entry_names(char *main_name, char *onnx_name, size_t cap) {
    char learn[1200];
    make_cache(learn, sizeof learn, "learn");
    clrnn_build_info info = build(learn);
    fmt(main_name, cap, "%s", strrchr(info.cache_path, '/') + 1);
    assert_int_equal(info.from_cache, 0);
    assert_int_equal(model_run(learn), 1); /* the model does need the ONNX kernels */
    onnx_name[0] = '\0';
    DIR *h = opendir(learn);
    struct dirent *e;
    while ((e = readdir(h)))
        if (strstr(e->d_name, ".clbin") && strcmp(e->d_name, main_name)) fmt(onnx_name, cap, "%s", e->d_name);
    closedir(h);
    assert_true(onnx_name[0] != '\0');
    tu_sh("rm -rf %s", learn);
}

static void assert_private_entry(const char *p) {
    struct stat sb;
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_uid, geteuid());
    assert_int_equal(sb.st_mode & 07777, 0600);
}

static const char *timeout_case = "";
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_cache_trust: TIMEOUT (a file blocked context creation): ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, timeout_case, strlen(timeout_case)) < 0) _exit(3);
    _exit(3);
}

/* Context creation must not block on any file it reads: 60 s is far beyond a rebuild. */
static void guard(const char *what) {
    timeout_case = what;
    signal(SIGALRM, on_alarm);
    alarm(60);
}
static void unguard(void) { alarm(0); }

/* ------------------------------------------------------------------------------------------
 * Child processes: this program with --child CACHE_DIR RESULT_FILE UID|-. Drops to UID (exit 77
 * if not permitted), creates 2 contexts (each runs the forward; output compared with a context
 * without cache) and writes one line "from_cache=N path=P warning=W" per context.
 * ---------------------------------------------------------------------------------------- */
static int child_main(int argc, char **argv) {
    if (argc < 5) return 2;
    if (strcmp(argv[4], "-") != 0) {
        const uid_t u = (uid_t)atoi(argv[4]);
        if (setgid((gid_t)u) != 0 || setuid(u) != 0) return 77;
    }
    FILE *f = fopen(argv[3], "w");
    if (!f) return 4;
    float ref[6], y[6];
    clrnn_build_info info;
    if (try_build(NULL, 1, &info, ref) != CLRNN_OK) return 1;
    for (int i = 0; i < 2; ++i) {
        clrnn_status st = try_build(argv[2], 0, &info, y);
        if (st != CLRNN_OK) {
            fprintf(stderr, "child: %s\n", clrnn_last_error());
            return 1;
        }
        if (tu_max_abs_diff(y, ref, 6, NULL) > 1e-6) return 5;
        fprintf(f, "from_cache=%d path=%s warning=%s\n", info.from_cache, info.cache_path[0] ? info.cache_path : "-",
                info.cache_warning[0] ? info.cache_warning : "-");
    }
    return fclose(f) == 0 ? 0 : 4;
}

typedef struct child_result {
    int rc;
    int from_cache[2];
    int with_path, with_warning;
    char warning[512];
    int stderr_clrnn_lines; /* lines of stderr that start with "clrnn:" */
    char stderr_first[1536];
} child_result;

static child_result run_child(const char *cache_dir, const char *uid) {
    child_result r;
    memset(&r, 0, sizeof r);
    char res[1200], err[1200];
    fmt(res, sizeof res, "%s/io/child-result", dir);
    fmt(err, sizeof err, "%s/io/child-stderr", dir);
    unlink(res);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(5);
        close(fd);
        if (strcmp(uid, "-") != 0) {
            /* the driver's compiler caches (PoCL's, Mesa's, NVIDIA's) must be writable by the user
             * the child becomes */
            char base[1200];
            fmt(base, sizeof base, "/tmp/clrnn-test-cache-trust-uid%s", uid);
            if (tu_other_user_caches(base, (unsigned)atoi(uid)) != 0) _exit(5);
        }
        unsetenv("POCL_DEBUG");
        /* no leak check in children (see tests/reliability/test_cache_faults.c, child_without_leak_check) */
        const char *old = getenv("ASAN_OPTIONS");
        char opts[1024];
        fmt(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        char *const args[] = {"test_cache_trust", "--child", (char *)cache_dir, res, (char *)uid, NULL};
        execv("/proc/self/exe", args);
        _exit(6);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    r.rc = WEXITSTATUS(status);
    FILE *f = fopen(res, "r");
    char line[1536];
    int n = 0;
    while (f && fgets(line, sizeof line, f) && n < 2) {
        char *p = strstr(line, " path="), *w = strstr(line, " warning=");
        assert_non_null(p);
        assert_non_null(w);
        r.from_cache[n++] = atoi(line + strlen("from_cache="));
        r.with_path += strncmp(p, " path=- ", 8) != 0;
        r.with_warning += strncmp(w, " warning=-\n", 11) != 0;
        fmt(r.warning, sizeof r.warning, "%s", w + 9);
    }
    if (f) fclose(f);
    if (r.rc == 0) assert_int_equal(n, 2);
    f = fopen(err, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "clrnn:", 6) == 0 && r.stderr_clrnn_lines++ == 0)
            fmt(r.stderr_first, sizeof r.stderr_first, "%s", line);
    if (f) fclose(f);
    return r;
}

/* The cache dir is refused: every context works without it, one warning line naming why. */
static void assert_refused(const char *cache_dir, const char *why) {
    child_result r = run_child(cache_dir, "-");
    if (r.rc != 0) fail_msg("child exited with %d on %s", r.rc, cache_dir);
    assert_int_equal(r.from_cache[0], 0);
    assert_int_equal(r.from_cache[1], 0);
    assert_int_equal(r.with_path, 0);
    assert_int_equal(r.with_warning, 2);
    assert_non_null(strstr(r.warning, "kernel cache not used, kernels compiled in memory"));
    assert_non_null(strstr(r.warning, why));
    assert_int_equal(r.stderr_clrnn_lines, 1);
    assert_non_null(strstr(r.stderr_first, "clrnn: warning: kernel cache not used, kernels compiled in memory"));
    assert_non_null(strstr(r.stderr_first, why));
}

/* ------------------------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------------------------- */

/* D5 (a). Symlinks at every name "<entry>.tmp.<pid>.<counter>" the old scheme would have used
 * (this process, counters 0-255), for the main and the ONNX entry. The ones of the main entry
 * point at an existing victim file (would be truncated and overwritten), those of the ONNX entry
 * at names in an empty directory (would be created). */
static void planted_temp_symlinks_are_not_followed(void **state) {
    (void)state;
    char main_name[300], onnx_name[300], cache[1200], outside[1200], victim[600], p[1200], target[1200];
    learn_entry_names(main_name, onnx_name, sizeof main_name);
    make_cache(cache, sizeof cache, "cache");
    make_cache(outside, sizeof outside, "outside");
    path_in(victim, sizeof victim, outside, "victim.txt");
    unsigned char secret[4096];
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof secret; ++i) secret[i] = (unsigned char)(tu_next(&seed) >> 56);
    write_all(victim, secret, sizeof secret);
    enum { COUNTERS = 256 };
    for (int c = 0; c < COUNTERS; ++c) {
        fmt(p, sizeof p, "%s/%s.tmp.%ld.%d", cache, main_name, (long)getpid(), c);
        assert_int_equal(symlink(victim, p), 0);
        fmt(p, sizeof p, "%s/%s.tmp.%ld.%d", cache, onnx_name, (long)getpid(), c);
        fmt(target, sizeof target, "%s/created-%d", outside, c);
        assert_int_equal(symlink(target, p), 0);
    }
    clrnn_build_info cold = build(cache);
    assert_int_equal(cold.from_cache, 0);
    assert_int_equal(model_run(cache), 1);

    /* nothing outside the cache was written or created */
    size_t n;
    unsigned char *now = read_all(victim, &n);
    assert_int_equal(n, sizeof secret);
    assert_memory_equal(now, secret, sizeof secret);
    free(now);
    int others = 0;
    assert_int_equal(count_files(outside, &others), 0);
    assert_int_equal(others, 1); /* victim.txt alone */
    /* the entries are the user's own regular files, the planted links untouched */
    path_in(p, sizeof p, cache, main_name);
    assert_private_entry(p);
    path_in(p, sizeof p, cache, onnx_name);
    assert_private_entry(p);
    assert_int_equal(count_files(cache, &others), 2);
    assert_int_equal(others, 2 * COUNTERS); /* no temp file left behind */
    fmt(p, sizeof p, "%s/%s.tmp.%ld.0", cache, main_name, (long)getpid());
    ssize_t len = readlink(p, target, sizeof target - 1);
    assert_true(len > 0);
    target[len] = '\0';
    assert_string_equal(target, victim);
    /* and they serve */
    assert_int_equal(build(cache).from_cache, 1);
    assert_int_equal(model_run(cache), 0);
}

/* D5 (b). Directories others can write: each write bit, with and without the sticky bit, and
 * through a symlink; refused, nothing written; usable again once private. */
static void writable_cache_dir_is_refused(void **state) {
    (void)state;
    static const mode_t modes[] = {0777, 0770, 0730, 0720, 0703, 0702, 01777, 0775};
    char cache[1200], link[1200];
    make_cache(cache, sizeof cache, "shared");
    for (size_t i = 0; i < sizeof modes / sizeof *modes; ++i) {
        assert_int_equal(chmod(cache, modes[i]), 0);
        assert_refused(cache, "writable by");
        int others = 0;
        assert_int_equal(count_files(cache, &others), 0);
        assert_int_equal(others, 0);
    }
    path_in(link, sizeof link, dir, "link-to-shared");
    assert_int_equal(symlink(cache, link), 0);
    assert_int_equal(chmod(cache, 0777), 0);
    assert_refused(link, "writable by");
    assert_int_equal(count_files(cache, NULL), 0);
    /* private again (0700, or 0755: readable is fine): used */
    assert_int_equal(chmod(cache, 0755), 0);
    assert_int_equal(build(cache).from_cache, 0);
    assert_int_equal(build(link).from_cache, 1);
    assert_int_equal(count_files(cache, NULL), 1);
    /* an entry already there when the directory becomes shared is not loaded either */
    assert_int_equal(chmod(cache, 0770), 0);
    assert_refused(cache, "writable by");
}

static int is_root(const char *what) {
    if (geteuid() == 0) return 1;
    print_message("not running as root: the \"%s\" sub-case (needs chown) is skipped\n", what);
    return 0;
}

/* D5 (b). A directory of another user (nobody), even private and holding a valid entry. */
static void foreign_cache_dir_is_refused(void **state) {
    (void)state;
    if (!is_root("cache dir owned by another user")) return;
    char cache[1200], entry[1200];
    make_cache(cache, sizeof cache, "foreign");
    clrnn_build_info info = build(cache); /* a valid entry, made by this user */
    path_in(entry, sizeof entry, cache, strrchr(info.cache_path, '/') + 1);
    struct stat before, after;
    assert_int_equal(stat(entry, &before), 0);
    assert_int_equal(chown(entry, 65534, 65534), 0);
    assert_int_equal(chown(cache, 65534, 65534), 0);
    assert_int_equal(chmod(cache, 0700), 0);
    assert_refused(cache, "belongs to another user");
    assert_int_equal(chmod(cache, 0755), 0);
    assert_refused(cache, "belongs to another user");
    assert_int_equal(stat(entry, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino); /* not replaced */
    assert_int_equal(count_files(cache, NULL), 1);
}

/* Root owns the directory and its (readable) entries: trusted by another user, who loads them. */
static void root_cache_dir_is_trusted(void **state) {
    (void)state;
    if (!is_root("cache dir owned by root, used by another user")) return;
    char cache[1200];
    make_cache(cache, sizeof cache, "root-owned");
    clrnn_build_info info = build(cache);
    assert_int_equal(chmod(cache, 0755), 0);
    assert_int_equal(chmod(info.cache_path, 0644), 0);
    child_result r = run_child(cache, "65534");
    if (r.rc == 77) {
        print_message("cannot drop to uid 65534: the root-owned sub-case is skipped\n");
        return;
    }
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.from_cache[0], 1);
    assert_int_equal(r.from_cache[1], 1);
    assert_int_equal(r.with_warning, 0);
    assert_int_equal(r.stderr_clrnn_lines, 0);
}

/* D5 (b). Entries others can write or that another user owns: not loaded, rebuilt, replaced by a
 * private entry, which the next context loads. */
static void untrusted_entry_is_rebuilt(void **state) {
    (void)state;
    static const mode_t modes[] = {0666, 0620, 0602, 0660, 0622};
    char cache[1200];
    make_cache(cache, sizeof cache, "entries");
    clrnn_build_info info = build(cache);
    for (size_t i = 0; i < sizeof modes / sizeof *modes; ++i) {
        assert_int_equal(chmod(info.cache_path, modes[i]), 0);
        clrnn_build_info again = build(cache);
        if (again.from_cache) fail_msg("an entry of mode %04o was loaded", (unsigned)modes[i]);
        assert_string_equal(again.cache_warning, "");
        assert_private_entry(info.cache_path);
        assert_int_equal(build(cache).from_cache, 1);
    }
    if (is_root("entry owned by another user")) {
        assert_int_equal(chown(info.cache_path, 65534, 65534), 0);
        assert_int_equal(build(cache).from_cache, 0);
        assert_private_entry(info.cache_path);
        assert_int_equal(build(cache).from_cache, 1);
    }
    assert_int_equal(count_files(cache, NULL), 1);
}

/* D14 (2). Not a regular file at the entry path: no hang, rebuilt. */
static void non_regular_entry_is_rebuilt(void **state) {
    (void)state;
    char cache[1200], elsewhere[1200], copy[1200], fifo[1200];
    make_cache(cache, sizeof cache, "special");
    make_cache(elsewhere, sizeof elsewhere, "elsewhere");
    clrnn_build_info info = build(cache);
    const char *entry = info.cache_path;
    path_in(copy, sizeof copy, elsewhere, "valid-copy.clbin");
    path_in(fifo, sizeof fifo, elsewhere, "fifo");
    size_t n;
    unsigned char *valid = read_all(entry, &n);
    write_all(copy, valid, n);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    /* a FIFO (opening it for reading blocks until a writer comes) */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkfifo(entry, 0600), 0);
    guard("FIFO at the entry path");
    assert_int_equal(build(cache).from_cache, 0);
    unguard();
    assert_private_entry(entry); /* replaced by the rebuilt entry */
    assert_int_equal(build(cache).from_cache, 1);

    /* symlinks: to a valid entry (loading it would trust a file anywhere), to a FIFO, dangling */
    const char *targets[] = {copy, fifo, "/nonexistent-clrnn-entry"};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(unlink(entry), 0);
        assert_int_equal(symlink(targets[i], entry), 0);
        guard(targets[i]);
        clrnn_build_info b = build(cache);
        unguard();
        if (b.from_cache) fail_msg("an entry symlinked to %s was loaded", targets[i]);
        assert_private_entry(entry);
        assert_int_equal(build(cache).from_cache, 1);
    }
    unsigned char *after = read_all(copy, &n);
    assert_memory_equal(after, valid, n); /* the link target is untouched */
    free(after);
    free(valid);

    /* a directory: not readable as an entry, and cannot be replaced (a warning), until removed */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkdir(entry, 0700), 0);
    guard("directory at the entry path");
    clrnn_build_info b = build(cache);
    unguard();
    assert_int_equal(b.from_cache, 0);
    assert_non_null(strstr(b.cache_warning, "kernel cache not written"));
    assert_int_equal(rmdir(entry), 0);
    assert_int_equal(build(cache).from_cache, 0);
    assert_int_equal(build(cache).from_cache, 1);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* D14 (3). Sizes the file cannot have: refused before allocating. The peak RSS of the process
 * bounds what was allocated and read (reading the 4 GiB entry whole raised it by 4 GiB). */
static void oversized_entry_is_refused_cheaply(void **state) {
    (void)state;
    char cache[1200];
    make_cache(cache, sizeof cache, "sizes");
    clrnn_build_info info = build(cache);
    size_t n;
    unsigned char *valid = read_all(info.cache_path, &n);
    const uint64_t payload = n - 40, four_gib = (uint64_t)1 << 32, bound = (uint64_t)256 << 20;
    struct {
        uint64_t claim; /* header size field */
        uint64_t file;  /* file size (sparse beyond the real bytes) */
    } cases[] = {
        {four_gib, 40 + four_gib},        /* consistent, sparse, over the bound */
        {bound + 1, 40 + bound + 1},      /* just over the bound */
        {four_gib, n},                    /* the header lies: larger than the file */
        {payload + 1, n},                 /* one byte more than the file holds */
        {payload - 1, n},                 /* one byte less: trailing data */
        {payload, n + 4096},              /* trailing zeros after a valid entry */
        {(uint64_t)-1, n},                /* absurd */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
        unsigned char *b = malloc(n);
        memcpy(b, valid, n);
        memcpy(b + 24, &cases[i].claim, 8);
        write_all(info.cache_path, b, n);
        free(b);
        assert_int_equal(truncate(info.cache_path, (off_t)cases[i].file), 0);
        const long rss0 = peak_rss_kb();
        const double t0 = now_ms();
        clrnn_build_info again = build(cache);
        const double ms = now_ms() - t0;
        const long grown_mb = (peak_rss_kb() - rss0) / 1024;
        if (again.from_cache) fail_msg("case %zu: an entry claiming %llu bytes was loaded", i, (unsigned long long)cases[i].claim);
        if (grown_mb > 128) fail_msg("case %zu: peak RSS grew by %ld MB", i, grown_mb);
        print_message("size case %zu (claims %llu bytes, file %llu): rebuilt in %.0f ms, peak RSS +%ld MB\n", i,
                      (unsigned long long)cases[i].claim, (unsigned long long)cases[i].file, ms, grown_mb);
        assert_int_equal(file_size(info.cache_path), (long)n); /* replaced by the rebuilt entry */
        assert_int_equal(build(cache).from_cache, 1);
    }
    free(valid);
}

/* D14 (1). A valid binary of the other program under each key, and both at once. */
static void binary_of_other_program_is_rebuilt(void **state) {
    (void)state;
    char main_name[300], onnx_name[300], cache[1200], m[1200], o[1200], m_copy[1200], o_copy[1200];
    learn_entry_names(main_name, onnx_name, sizeof main_name);
    make_cache(cache, sizeof cache, "swapped");
    path_in(m, sizeof m, cache, main_name);
    path_in(o, sizeof o, cache, onnx_name);
    path_in(m_copy, sizeof m_copy, dir, "main.copy");
    path_in(o_copy, sizeof o_copy, dir, "onnx.copy");
    assert_int_equal(build(cache).from_cache, 0);
    assert_int_equal(model_run(cache), 1);
    size_t n;
    unsigned char *b = read_all(m, &n);
    write_all(m_copy, b, n);
    free(b);
    b = read_all(o, &n);
    write_all(o_copy, b, n);
    free(b);

    /* the ONNX kernels' binary as the main program: the context rebuilds it */
    plant_as(o_copy, m);
    assert_int_equal(build(cache).from_cache, 0);
    assert_int_equal(build(cache).from_cache, 1);
    assert_int_equal(model_run(cache), 0);

    /* the main program's binary as the ONNX kernels: the model rebuilds them */
    plant_as(m_copy, o);
    assert_int_equal(model_run(cache), 1);
    assert_int_equal(model_run(cache), 0);

    /* both swapped */
    plant_as(o_copy, m);
    plant_as(m_copy, o);
    assert_int_equal(build(cache).from_cache, 0);
    assert_int_equal(model_run(cache), 1);
    assert_int_equal(build(cache).from_cache, 1);
    assert_int_equal(model_run(cache), 0);
    assert_int_equal(count_files(cache, NULL), 2);
}

/* Whatever the umask, the directories the cache creates are 0700 and its entries 0600. */
static void created_files_are_private(void **state) {
    (void)state;
    char top[1200], cache[1300], p[1600];
    path_in(top, sizeof top, dir, "umask0");
    fmt(cache, sizeof cache, "%s/a/b", top);
    const mode_t old = umask(0);
    clrnn_build_info info = build(cache);
    const int sources = model_run(cache);
    umask(old);
    assert_int_equal(info.from_cache, 0);
    assert_int_equal(sources, 1);
    const char *dirs[] = {top, "a", "a/b"};
    for (int i = 0; i < 3; ++i) {
        if (i) fmt(p, sizeof p, "%s/%s", top, dirs[i]);
        struct stat sb;
        assert_int_equal(stat(i ? p : top, &sb), 0);
        if ((sb.st_mode & 07777) != 0700) fail_msg("%s has mode %04o", i ? p : top, (unsigned)(sb.st_mode & 07777));
    }
    DIR *h = opendir(cache);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(h)))
        if (strstr(e->d_name, ".clbin")) {
            path_in(p, sizeof p, cache, e->d_name);
            assert_private_entry(p);
            ++entries;
        }
    closedir(h);
    assert_int_equal(entries, 2);
    assert_int_equal(build(cache).from_cache, 1);
    assert_int_equal(model_run(cache), 0);
}

/* The CLBlast tuning file lives in the same directory and had the same two defects: clrnn-tune
 * wrote it through a predictable temp name, and a FIFO at its path blocked context creation. */
static void tuning_file_is_written_and_read_safely(void **state) {
    (void)state;
    char cache[1200], outside[1200], victim[1300], path[1300], p[1400];
    make_cache(cache, sizeof cache, "tuning");
    make_cache(outside, sizeof outside, "outside");
    path_in(victim, sizeof victim, outside, "victim.txt");
    const unsigned char secret[] = "not a tuning file\n";
    write_all(victim, secret, sizeof secret);
    clrnn_context_params cp = clrnn_context_default_params();
    cp.cache_dir = cache;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(&cp, &ctx));
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(ctx, &info));
    assert_true(clrnn_tuning_context_path(ctx, path, sizeof path));
    clrnn_context_destroy(ctx);
    assert_non_null(strstr(path, cache));
    for (int c = 0; c < 256; ++c) {
        fmt(p, sizeof p, "%s.tmp.%ld.%d", path, (long)getpid(), c);
        assert_int_equal(symlink(victim, p), 0);
    }
    clrnn_tuning_set set;
    memset(&set, 0, sizeof set);
    clrnn_clblast_params gr;
    memset(&gr, 0, sizeof gr);
    fmt(gr.kernel, sizeof gr.kernel, "GemmRoutine");
    assert_true(clrnn_tuning_set_value(&gr, "XGEMM_MIN_INDIRECT_SIZE", 77));
    assert_true(clrnn_tuning_put(&set, &gr));
    TU_OK(clrnn_tuning_save(path, &info, &set, "test"));
    size_t n;
    unsigned char *now = read_all(victim, &n);
    assert_int_equal(n, sizeof secret);
    assert_memory_equal(now, secret, sizeof secret);
    free(now);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 022, 0);
    clrnn_tuning_set back;
    TU_OK(clrnn_tuning_load(path, &info, &back));
    assert_int_equal(clrnn_tuning_get(clrnn_tuning_find(&back, "GemmRoutine"), "XGEMM_MIN_INDIRECT_SIZE", 0), 77);

    /* a FIFO (and a directory) at the path: refused at once, and contexts are still created */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    guard("FIFO at the tuning file path");
    assert_int_equal(clrnn_tuning_load(path, &info, &back), CLRNN_ERR_CORRUPT_FILE);
    assert_non_null(strstr(clrnn_last_error(), "not a regular file"));
    build(cache);
    unguard();
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(clrnn_tuning_load(path, &info, &back), CLRNN_ERR_CORRUPT_FILE);
    build(cache);
    assert_int_equal(rmdir(path), 0);

    /* the valid file is applied from the private directory, not once others can write it */
    TU_OK(clrnn_tuning_save(path, &info, &set, NULL));
    const char *env = getenv("CLRNN_CACHE_DIR");
    char keep[1200] = "";
    if (env) fmt(keep, sizeof keep, "%s", env);
    setenv("CLRNN_CACHE_DIR", cache, 1); /* also where the file is looked for without a kernel cache */
    for (int shared = 0; shared < 2; ++shared) {
        assert_int_equal(chmod(cache, shared ? 0777 : 0700), 0);
        TU_OK(clrnn_context_create(&cp, &ctx));
        clrnn_tuning_report rep;
        TU_OK(clrnn_gemm_apply_tuning_report(ctx, &rep));
        clrnn_context_destroy(ctx);
        int from_file = 0;
        for (size_t i = 0; i < rep.count; ++i) from_file += rep.source[i] == CLRNN_TUNING_FROM_FILE;
        assert_int_equal(rep.file_state, shared ? 0 : 1);
        assert_int_equal(from_file, shared ? 0 : 1);
        assert_string_equal(rep.path, shared ? "" : path);
    }
    if (env)
        setenv("CLRNN_CACHE_DIR", keep, 1);
    else
        unsetenv("CLRNN_CACHE_DIR");
}

/* CLRNN_KERNEL_DIR with a FIFO in place of a kernel file: a clear CLRNN_ERR_IO, no hang. */
static void kernel_dir_fifo_is_refused(void **state) {
    (void)state;
    char kdir[1200], cmd[4000], fifo[1300];
    path_in(kdir, sizeof kdir, dir, "kernels");
    const char *src = getenv("CLRNN_SOURCE_DIR");
    fmt(cmd, sizeof cmd, "mkdir -p %s && cp -R %s/cl/. %s/", kdir, src ? src : "..", kdir);
    assert_int_equal(system(cmd), 0);
    path_in(fifo, sizeof fifo, kdir, "merge.cl");
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    setenv("CLRNN_KERNEL_DIR", kdir, 1);
    clrnn_context *ctx = NULL;
    guard("FIFO in CLRNN_KERNEL_DIR");
    const clrnn_status st = clrnn_context_create(NULL, &ctx);
    unguard();
    unsetenv("CLRNN_KERNEL_DIR");
    assert_int_equal(st, CLRNN_ERR_IO);
    assert_null(ctx);
    assert_non_null(strstr(clrnn_last_error(), "merge.cl"));
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(planted_temp_symlinks_are_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(writable_cache_dir_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_cache_dir_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(root_cache_dir_is_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(untrusted_entry_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(non_regular_entry_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_entry_is_refused_cheaply, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_of_other_program_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(created_files_are_private, setup, teardown),
        cmocka_unit_test_setup_teardown(tuning_file_is_written_and_read_safely, setup, teardown),
        cmocka_unit_test_setup_teardown(kernel_dir_fifo_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
