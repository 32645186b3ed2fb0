/* The kernel binary cache: cold build, warm hit, corrupt/truncated entries rebuilt, disabled
 * cache, read-only directory, the cache key separating build configurations, and which cache is
 * used by default (ctest runs this with CLRNN_CACHE_MODE=binary, so the rest also runs on PoCL). */
#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static int count_entries(const char *d, char *first, size_t cap) {
    DIR *h = opendir(d);
    if (!h) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h)))
        if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp")) {
            if (first && n == 0) snprintf(first, cap, "%s/%s", d, e->d_name);
            ++n;
        }
    closedir(h);
    return n;
}

static clrnn_build_info build(const char *cache_dir, int disable) {
    clrnn_context_params p = clrnn_context_default_params();
    p.cache_dir = cache_dir;
    p.disable_cache = disable;
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(&p, &ctx));
    clrnn_build_info info;
    TU_OK(clrnn_context_build_info(ctx, &info));
    clrnn_context_destroy(ctx);
    return info;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/clrnn-test-cache-%ld", (long)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s 2>/dev/null; rm -rf %s", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void cold_then_warm(void **state) {
    (void)state;
    clrnn_build_info cold = build(dir, 0);
    assert_int_equal(cold.from_cache, 0);
    assert_int_equal(count_entries(dir, NULL, 0), 1);
    assert_non_null(strstr(cold.cache_path, dir));
    clrnn_build_info warm = build(dir, 0);
    assert_int_equal(warm.from_cache, 1);
    assert_string_equal(cold.cache_path, warm.cache_path);
    assert_int_equal(count_entries(dir, NULL, 0), 1);
}

static void corrupt_entry_is_rebuilt(void **state) {
    (void)state;
    char path[1024];
    build(dir, 0);
    assert_int_equal(count_entries(dir, path, sizeof path), 1);
    /* flip one payload byte: the checksum catches it */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, -10, SEEK_END);
    int c = fgetc(f);
    fseek(f, -10, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
    /* truncate it */
    assert_int_equal(truncate(path, 40), 0);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
    /* garbage of the right size */
    struct stat sb;
    stat(path, &sb);
    f = fopen(path, "wb");
    for (off_t i = 0; i < sb.st_size; ++i) fputc((int)(i * 7), f);
    fclose(f);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
    /* empty file */
    f = fopen(path, "wb");
    fclose(f);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
}

static void disabled_cache_writes_nothing(void **state) {
    (void)state;
    char other[400];
    snprintf(other, sizeof other, "%s/disabled", dir);
    clrnn_build_info info = build(other, 1);
    assert_int_equal(info.from_cache, 0);
    assert_string_equal(info.cache_path, "");
    assert_int_equal(count_entries(other, NULL, 0), 0);
    /* the environment switch too */
    setenv("CLRNN_CACHE_DISABLE", "1", 1);
    info = build(other, 0);
    unsetenv("CLRNN_CACHE_DISABLE");
    assert_int_equal(info.from_cache, 0);
    assert_int_equal(count_entries(other, NULL, 0), 0);
}

/* The default leaves compiled kernels to PoCL's own cache on PoCL (no binary of ours: producing one
 * makes PoCL compile every kernel) and uses clrnn's binary cache elsewhere; CLRNN_CACHE_MODE=driver
 * forces the former anywhere. */
static void default_cache_by_platform(void **state) {
    (void)state;
    char other[400];
    snprintf(other, sizeof other, "%s/by-platform", dir);
    const char *saved = getenv("CLRNN_CACHE_MODE");
    char keep[32] = "";
    if (saved) snprintf(keep, sizeof keep, "%s", saved);
    setenv("CLRNN_CACHE_MODE", "driver", 1);
    clrnn_build_info info = build(other, 0);
    assert_int_equal(info.from_cache, 0);
    assert_string_equal(info.cache_path, "");
    assert_string_equal(info.cache_warning, "");
    assert_int_equal(count_entries(other, NULL, 0), 0);
    unsetenv("CLRNN_CACHE_MODE");
    info = build(other, 0);
    clrnn_device_info dev;
    clrnn_context *ctx = tu_context();
    TU_OK(clrnn_context_device_info(ctx, &dev));
    const int pocl = strstr(dev.platform_name, "Portable Computing Language") != NULL;
    assert_int_equal(count_entries(other, NULL, 0), pocl ? 0 : 1);
    assert_int_equal(info.cache_path[0] != '\0', !pocl);
    if (saved) setenv("CLRNN_CACHE_MODE", keep, 1);
}

static void env_dir_is_used(void **state) {
    (void)state;
    char envdir[400];
    snprintf(envdir, sizeof envdir, "%s/from-env", dir);
    setenv("CLRNN_CACHE_DIR", envdir, 1);
    clrnn_build_info info = build(NULL, 0);
    assert_non_null(strstr(info.cache_path, envdir));
    assert_int_equal(count_entries(envdir, NULL, 0), 1);
    assert_int_equal(build(NULL, 0).from_cache, 1);
}

static void read_only_dir_falls_back(void **state) {
    (void)state;
    if (geteuid() == 0) {
        /* root ignores permissions: make the "directory" a file instead, which nobody can write into */
        char ro[400];
        snprintf(ro, sizeof ro, "%s/not-a-dir", dir);
        mkdir(dir, 0755);
        FILE *f = fopen(ro, "wb");
        fclose(f);
        clrnn_build_info info = build(ro, 0);
        assert_int_equal(info.from_cache, 0);
        assert_true(strlen(info.cache_warning) > 0);
        return;
    }
    char ro[400];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    mkdir(dir, 0755);
    mkdir(ro, 0555);
    clrnn_build_info info = build(ro, 0);
    assert_int_equal(info.from_cache, 0);
    assert_true(strlen(info.cache_warning) > 0);
}

/* A copy of the kernel tree (laid out as cl/, the header shared with the C sources, abi.h,
 * included) in dir/name with `line` appended to its merge.cl, for CLRNN_KERNEL_DIR; its path in kdir. */
static void kernel_copy(const char *name, const char *line, char *kdir, size_t cap) {
    char cmd[2400];
    snprintf(kdir, cap, "%s/%s", dir, name);
    const char *src = getenv("CLRNN_SOURCE_DIR") ? getenv("CLRNN_SOURCE_DIR") : "..";
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp -R %s/cl/. %s/ && echo '%s' >> %s/merge.cl", kdir, src, kdir, line,
             kdir);
    assert_int_equal(system(cmd), 0);
}

static void key_separates_sources(void **state) {
    (void)state;
    /* CLRNN_KERNEL_DIR with a modified source (an extra comment) must not hit the entry of the
     * embedded source. */
    char kdir[400];
    kernel_copy("kernels", "/* changed */", kdir, sizeof kdir);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
    setenv("CLRNN_KERNEL_DIR", kdir, 1);
    assert_int_equal(build(dir, 0).from_cache, 0);
    assert_int_equal(build(dir, 0).from_cache, 1);
    unsetenv("CLRNN_KERNEL_DIR");
    assert_int_equal(count_entries(dir, NULL, 0), 2);
    /* a missing kernel dir is a clear error */
    setenv("CLRNN_KERNEL_DIR", "/nonexistent-clrnn-kernels", 1);
    clrnn_context *ctx = NULL;
    assert_int_equal(clrnn_context_create(NULL, &ctx), CLRNN_ERR_IO);
    assert_non_null(strstr(clrnn_last_error(), "CLRNN_KERNEL_DIR"));
    unsetenv("CLRNN_KERNEL_DIR");
}

static void build_error_reports_compiler_log(void **state) {
    (void)state;
    char kdir[400];
    kernel_copy("broken", "this is not C;", kdir, sizeof kdir);
    setenv("CLRNN_KERNEL_DIR", kdir, 1);
    clrnn_context_params p = clrnn_context_default_params();
    p.disable_cache = 1;
    clrnn_context *ctx = NULL;
    assert_int_equal(clrnn_context_create(&p, &ctx), CLRNN_ERR_BUILD_FAILED);
    assert_null(ctx);
    assert_non_null(strstr(clrnn_last_error(), "compiler log"));
    assert_non_null(strstr(clrnn_last_error(), "error"));
    unsetenv("CLRNN_KERNEL_DIR");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cold_then_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_entry_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(disabled_cache_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(default_cache_by_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(env_dir_is_used, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_dir_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(key_separates_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(build_error_reports_compiler_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
