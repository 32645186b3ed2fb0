/* Kernel-cache faults beyond tests/reliability/test_cache.c (which covers corrupt, truncated, garbage and empty
 * entries, a read-only directory and the disabled cache):
 *   - a stale entry: another driver or platform version gives another key (a separate entry,
 *     never the old binary), and an entry of another key copied over the current one is rebuilt;
 *   - an unreadable entry (mode 000: checked as an unprivileged user, also when the test runs as
 *     root, by a child that drops to "nobody"; and a directory in place of the entry);
 *   - processes filling the same empty (or corrupt) cache at once all succeed and leave one
 *     valid entry;
 *   - a read-only cache dir: kernels compiled in memory, ONE warning line on stderr per process.
 * Child processes are this program run again with --child (see child_main). */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* dir: scratch space that child processes of another user can write into (mode 0777); cdir: the
 * cache of the tests run as this user (a cache directory others can write is refused). */
static char dir[256], cdir[300];

/* ------------------------------------------------------------------------------------------
 * Fault injection: this program's clGetDeviceInfo / clGetPlatformInfo preempt the ICD loader's for
 * the statically linked library, and report a fake driver or platform version when asked to.
 * ---------------------------------------------------------------------------------------- */
static const char *fake_driver_version, *fake_platform_version;

static cl_int fake_string(const char *s, size_t size, void *value, size_t *size_ret) {
    const size_t n = strlen(s) + 1;
    if (size_ret) *size_ret = n;
    if (value) {
        if (size < n) return CL_INVALID_VALUE;
        memcpy(value, s, n);
    }
    return CL_SUCCESS;
}

typedef cl_int (*device_info_fn)(cl_device_id, cl_device_info, size_t, void *, size_t *);
typedef cl_int (*platform_info_fn)(cl_platform_id, cl_platform_info, size_t, void *, size_t *);

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info param, size_t size, void *value,
                                                size_t *size_ret) {
    static device_info_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clGetDeviceInfo");
    if (param == CL_DRIVER_VERSION && fake_driver_version) return fake_string(fake_driver_version, size, value, size_ret);
    return real(device, param, size, value, size_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform, cl_platform_info param, size_t size,
                                                  void *value, size_t *size_ret) {
    static platform_info_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clGetPlatformInfo");
    if (param == CL_PLATFORM_VERSION && fake_platform_version)
        return fake_string(fake_platform_version, size, value, size_ret);
    return real(platform, param, size, value, size_ret);
}

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------- */
static int count_entries(const char *d, int *tmp_files) {
    DIR *h = opendir(d);
    if (tmp_files) *tmp_files = 0;
    if (!h) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h))) {
        if (strstr(e->d_name, ".tmp")) {
            if (tmp_files) ++*tmp_files;
        } else if (strstr(e->d_name, ".clbin")) {
            ++n;
        }
    }
    closedir(h);
    return n;
}

/* Creates a context on cache_dir; with `run`, also runs a forward on it (the kernels work). */
static clrnn_status try_build(const char *cache_dir, clrnn_build_info *info, int run) {
    clrnn_context_params p = clrnn_context_default_params();
    p.cache_dir = cache_dir;
    clrnn_context *ctx = NULL;
    clrnn_status st = clrnn_context_create(&p, &ctx);
    if (st != CLRNN_OK) return st;
    st = clrnn_context_build_info(ctx, info);
    if (!run) {
        clrnn_context_destroy(ctx);
        return st;
    }
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_GRU, d.input_size = 2, d.hidden_size = 3;
    clrnn_rnn *r = NULL;
    float w[9 * 3] = {0}, x[2 * 2], y[2 * 3];
    for (int i = 0; i < 27; ++i) w[i] = 0.05f * (float)(i % 7) - 0.1f;
    x[0] = 1, x[1] = -1, x[2] = 0.5f, x[3] = 2;
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 1, a.x.host = x, a.y.host = y;
    if (st == CLRNN_OK) st = clrnn_rnn_create(ctx, &d, &r);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 18);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, w, 27);
    if (st == CLRNN_OK) st = clrnn_rnn_forward(r, &a);
    if (st == CLRNN_OK && !(isfinite(y[5]) && fabsf(y[5]) < 1)) st = CLRNN_ERR_INTERNAL;
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    return st;
}

static clrnn_build_info build(const char *cache_dir) {
    clrnn_build_info info;
    TU_OK(try_build(cache_dir, &info, 1));
    return info;
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/clrnn-test-cache-faults-%ld", (long)getpid());
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    tu_sh("rm -rf %s && mkdir -p %s && chmod 0777 %s", dir);
    assert_int_equal(mkdir(cdir, 0700), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_sh("chmod -R u+rwX %s 2>/dev/null; rm -rf %s", dir);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Child processes: this program with --child. Arguments:
 *   --child CACHE_DIR RESULT_FILE CONTEXTS [GO_FILE|-] [UID|-]
 * drops to UID (exit 77 if that is not permitted), waits for GO_FILE to exist (so that several
 * children start together), creates CONTEXTS contexts and appends one line
 * "from_cache=N warning=W" per context to RESULT_FILE. Exit 0 on success, 1 with the error on
 * stderr otherwise.
 * ---------------------------------------------------------------------------------------- */
static int child_main(int argc, char **argv) {
    if (argc < 7) return 2;
    const char *cache_dir = argv[2], *result = argv[3], *go = argv[5], *uid = argv[6];
    const int contexts = atoi(argv[4]);
    if (strcmp(uid, "-") != 0) {
        const uid_t u = (uid_t)atoi(uid);
        if (setgid((gid_t)u) != 0 || setuid(u) != 0) return 77;
    }
    if (strcmp(go, "-") != 0)
        for (int i = 0; access(go, F_OK) != 0; ++i) {
            if (i > 20000) return 3;
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    for (int i = 0; i < contexts; ++i) {
        clrnn_build_info info;
        /* no forward: a child with its own (empty) PoCL cache would spend seconds compiling the
         * kernels for the CPU; the parent runs the entry the children leave */
        clrnn_status st = try_build(cache_dir, &info, 0);
        if (st != CLRNN_OK) {
            fprintf(stderr, "child %ld: %s\n", (long)getpid(), clrnn_last_error());
            return 1;
        }
        FILE *f = fopen(result, "a");
        if (!f) return 4;
        fprintf(f, "from_cache=%d warning=%s\n", info.from_cache, info.cache_warning[0] ? "yes" : "no");
        fclose(f);
    }
    return 0;
}

/* Child processes run without LeakSanitizer (a no-op outside ASan builds). Their code paths are
 * the ones the parent runs with leak checking; a child may start with a cold PoCL kernel cache
 * (another user), and PoCL's kernel compiler leaks LLVM objects that LSan can only attribute to
 * libpocl (its frames have no frame pointers), i.e. that only a library-wide suppression could
 * hide, which would also hide clrnn's own leaked cl objects (see tests/lsan.supp). LSan's exit
 * check was also seen to crash ("Tracer caught signal 11") in short-lived children while PoCL's
 * worker threads wind down. */
static void child_without_leak_check(void) {
    const char *old = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/* Starts a child; stderr goes to err_file (if not NULL). Returns its pid. */
static pid_t spawn(const char *cache_dir, const char *result, int contexts, const char *go, const char *uid,
                   const char *err_file) {
    char n[16];
    snprintf(n, sizeof n, "%d", contexts);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (err_file) {
            int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0666);
            if (fd < 0 || dup2(fd, 2) < 0) _exit(5);
            close(fd);
        }
        if (uid && strcmp(uid, "-") != 0) {
            /* the driver's compiler caches (PoCL's, Mesa's, NVIDIA's) must be writable by the user
             * the child becomes; they are kept next to the test kernel cache */
            const char *kc = getenv("CLRNN_CACHE_DIR");
            char base[1100];
            snprintf(base, sizeof base, "%s-other-user-%s", kc && *kc ? kc : "/tmp/clrnn-test", uid);
            if (tu_other_user_caches(base, (unsigned)atoi(uid)) != 0) _exit(5);
        }
        unsetenv("POCL_DEBUG");
        child_without_leak_check();
        char *const args[] = {"test_cache_faults", "--child", (char *)cache_dir, (char *)result, n,
                              (char *)(go ? go : "-"), (char *)(uid ? uid : "-"), NULL};
        execv("/proc/self/exe", args);
        _exit(6);
    }
    return pid;
}

static int wait_child(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Lines of a result file: from_cache values into fc[], warnings counted. */
static int read_results(const char *path, int *fc, int cap, int *warnings) {
    FILE *f = fopen(path, "r");
    int n = 0;
    *warnings = 0;
    if (!f) return 0;
    char line[256];
    while (fgets(line, sizeof line, f) && n < cap) {
        int v = -1;
        char w[8] = "";
        if (sscanf(line, "from_cache=%d warning=%7s", &v, w) == 2) {
            fc[n++] = v;
            *warnings += strcmp(w, "yes") == 0;
        }
    }
    fclose(f);
    return n;
}

/* ------------------------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------------------------- */
static void stale_driver_or_platform_version(void **state) {
    (void)state;
    clrnn_build_info real = build(cdir);
    assert_int_equal(real.from_cache, 0);
    assert_int_equal(build(cdir).from_cache, 1);

    /* another driver version: another key, so a separate entry that is compiled, never the old one */
    fake_driver_version = "0.9-older-driver";
    clrnn_build_info other = build(cdir);
    assert_int_equal(other.from_cache, 0);
    assert_string_not_equal(other.cache_path, real.cache_path);
    assert_int_equal(count_entries(cdir, NULL), 2);
    assert_int_equal(build(cdir).from_cache, 1);
    fake_driver_version = NULL;

    /* another platform version: a third key */
    fake_platform_version = "OpenCL 3.0 PoCL 99.0";
    clrnn_build_info plat = build(cdir);
    assert_int_equal(plat.from_cache, 0);
    assert_string_not_equal(plat.cache_path, real.cache_path);
    assert_string_not_equal(plat.cache_path, other.cache_path);
    assert_int_equal(count_entries(cdir, NULL), 3);
    fake_platform_version = NULL;

    /* the real versions find their own entry again */
    clrnn_build_info again = build(cdir);
    assert_int_equal(again.from_cache, 1);
    assert_string_equal(again.cache_path, real.cache_path);

    /* an entry of another key under the current key's name (a stale copy): detected, rebuilt */
    copy_file(other.cache_path, real.cache_path);
    assert_int_equal(build(cdir).from_cache, 0);
    assert_int_equal(build(cdir).from_cache, 1);
}

static int can_drop_to_nobody(void) {
    if (geteuid() != 0) return 0;
    char res[400];
    snprintf(res, sizeof res, "%s/probe-uid", dir);
    return wait_child(spawn(dir, res, 0, NULL, "65534", NULL)) == 0;
}

static void unreadable_entry(void **state) {
    (void)state;
    char res[400], uid_s[16];
    snprintf(res, sizeof res, "%s/results", dir);
    const int root = geteuid() == 0, nobody = can_drop_to_nobody();
    /* as root the mode bits do not apply: the unreadable-entry path runs in a child as "nobody" */
    const char *uid = root ? (nobody ? "65534" : NULL) : "-";
    snprintf(uid_s, sizeof uid_s, "%s", uid ? uid : "-");
    if (uid) {
        char cache[400], entry[1024];
        snprintf(cache, sizeof cache, "%s/as-user", dir);
        /* the user's own cache directory (one others can write would not be used at all) */
        assert_int_equal(mkdir(cache, 0755), 0);
        if (root) assert_int_equal(chown(cache, 65534, 65534), 0);
        int fc[4], warn = 0;
        assert_int_equal(wait_child(spawn(cache, res, 1, NULL, uid_s, NULL)), 0); /* cold: writes the entry */
        DIR *h = opendir(cache);
        struct dirent *e;
        entry[0] = '\0';
        while ((e = readdir(h)))
            if (strstr(e->d_name, ".clbin")) snprintf(entry, sizeof entry, "%s/%s", cache, e->d_name);
        closedir(h);
        assert_true(entry[0] != '\0');
        assert_int_equal(chmod(entry, 0), 0);
        assert_int_equal(wait_child(spawn(cache, res, 2, NULL, uid_s, NULL)), 0);
        assert_int_equal(read_results(res, fc, 4, &warn), 3);
        assert_int_equal(fc[0], 0); /* cold */
        assert_int_equal(fc[1], 0); /* unreadable: detected, rebuilt, and the entry replaced ... */
        assert_int_equal(fc[2], 1); /* ... so the next context loads it */
        assert_int_equal(warn, 0);
        struct stat sb;
        assert_int_equal(stat(entry, &sb), 0);
        assert_true((sb.st_mode & 0444) != 0);
    } else {
        print_message("running as root without the right to drop to nobody: mode-000 case not run\n");
    }
    /* a directory where the entry should be: unreadable and not replaceable. The context still
     * works (compiled in memory, with a warning); once the directory is gone the entry comes back */
    clrnn_build_info info = build(cdir);
    assert_int_equal(unlink(info.cache_path), 0);
    assert_int_equal(mkdir(info.cache_path, 0755), 0);
    clrnn_build_info blocked = build(cdir);
    assert_int_equal(blocked.from_cache, 0);
    assert_non_null(strstr(blocked.cache_warning, "kernels compiled in memory"));
    assert_int_equal(rmdir(info.cache_path), 0);
    assert_int_equal(build(cdir).from_cache, 0);
    assert_int_equal(build(cdir).from_cache, 1);
}

/* Several processes build the same key into the same empty cache at once. */
static void concurrent_processes(void **state) {
    (void)state;
    enum { P = 4 };
    char cache[400], go[400], res[P][400];
    snprintf(cache, sizeof cache, "%s/shared", dir);
    for (int round = 0; round < 2; ++round) {
        snprintf(go, sizeof go, "%s/go-%d", dir, round);
        pid_t pids[P];
        for (int i = 0; i < P; ++i) {
            snprintf(res[i], sizeof res[i], "%s/result-%d-%d", dir, round, i);
            pids[i] = spawn(cache, res[i], 1, go, NULL, NULL);
        }
        FILE *g = fopen(go, "w"); /* all start now */
        assert_non_null(g);
        fclose(g);
        int from_cache_total = 0;
        for (int i = 0; i < P; ++i) {
            const int rc = wait_child(pids[i]);
            if (rc != 0) fail_msg("round %d: child %d exited with %d", round, i, rc);
            int fc[2], warn;
            assert_int_equal(read_results(res[i], fc, 2, &warn), 1);
            assert_int_equal(warn, 0);
            from_cache_total += fc[0];
        }
        int tmp = 0;
        assert_int_equal(count_entries(cache, &tmp), 1);
        assert_int_equal(tmp, 0); /* no temp file left behind */
        clrnn_build_info after = build(cache);
        assert_int_equal(after.from_cache, 1); /* the entry they left is valid */
        print_message("round %d: %d of %d processes loaded the entry another one wrote\n", round, from_cache_total, P);
        /* round 2 starts from a corrupt entry that every process must detect and rebuild */
        assert_int_equal(truncate(after.cache_path, 40), 0);
    }
}

/* Read-only cache dir: every context works (compiled in memory) and the process prints exactly
 * one warning line, however many contexts it creates. */
static void read_only_dir_warns_once(void **state) {
    (void)state;
    char ro[400], res[400], err[400];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    snprintf(res, sizeof res, "%s/ro-results", dir);
    snprintf(err, sizeof err, "%s/ro-stderr", dir);
    const int root = geteuid() == 0, nobody = root && can_drop_to_nobody();
    if (!root || nobody) {
        assert_int_equal(mkdir(ro, 0555), 0);
        assert_int_equal(chmod(ro, 0555), 0);
    } else {
        FILE *f = fopen(ro, "w"); /* root ignores modes: a file where the dir should be */
        assert_non_null(f);
        fclose(f);
    }
    assert_int_equal(wait_child(spawn(ro, res, 3, NULL, nobody ? "65534" : NULL, err)), 0);
    int fc[4], warn = 0;
    assert_int_equal(read_results(res, fc, 4, &warn), 3);
    for (int i = 0; i < 3; ++i) assert_int_equal(fc[i], 0);
    assert_int_equal(warn, 3); /* each context reports it in its build info */
    FILE *f = fopen(err, "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0, warnings = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "clrnn:", 6) == 0) ++lines;
        if (strstr(line, "clrnn: warning: kernel cache not written, kernels compiled in memory")) ++warnings;
    }
    fclose(f);
    assert_int_equal(lines, 1);
    assert_int_equal(warnings, 1);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stale_driver_or_platform_version, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_dir_warns_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
