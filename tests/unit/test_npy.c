/* .npy reading and writing: round trips, both header versions, and rejected inputs. */
#include "test_util.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[256];

static void write_raw(const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Builds a version-1 file with the given header dict and payload. */
static size_t make_npy(unsigned char *buf, const char *dict, const void *payload, size_t n, int version) {
    size_t pre = version == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1;
    while ((pre + hl) % 64) ++hl;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version, buf[7] = 0;
    if (version == 1) buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
    else buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8), buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[pre + hl - 1] = '\n';
    memcpy(buf + pre + hl, payload, n);
    return pre + hl + n;
}

static void round_trip(void **state) {
    (void)state;
    uint64_t seed = 1;
    float f[24];
    tu_fill(f, 24, &seed, -5, 5);
    clrnn_array a = {CLRNN_DTYPE_FLOAT32, 3, {2, 3, 4}, 24, f}, b;
    TU_OK(clrnn_npy_save(path, &a));
    TU_OK(clrnn_npy_load(path, &b));
    assert_int_equal(b.dtype, CLRNN_DTYPE_FLOAT32);
    assert_int_equal(b.ndim, 3);
    assert_int_equal(b.shape[0], 2), assert_int_equal(b.shape[1], 3), assert_int_equal(b.shape[2], 4);
    assert_memory_equal(b.data, f, sizeof f);
    clrnn_array_free(&b);
    int64_t l[3] = {-1, 1LL << 40, 7};
    clrnn_array c = {CLRNN_DTYPE_INT64, 1, {3}, 3, l};
    TU_OK(clrnn_npy_save(path, &c));
    TU_OK(clrnn_npy_load(path, &b));
    assert_int_equal(b.dtype, CLRNN_DTYPE_INT64);
    assert_memory_equal(b.data, l, sizeof l);
    clrnn_array_free(&b);
    /* a scalar (shape ()) */
    int32_t s = 42;
    clrnn_array sc = {CLRNN_DTYPE_INT32, 0, {0}, 1, &s};
    TU_OK(clrnn_npy_save(path, &sc));
    TU_OK(clrnn_npy_load(path, &b));
    assert_int_equal(b.ndim, 0);
    assert_int_equal(b.count, 1);
    assert_int_equal(*(int32_t *)b.data, 42);
    clrnn_array_free(&b);
}

static void version2_header(void **state) {
    (void)state;
    unsigned char buf[256];
    int32_t v[2] = {5, -6};
    size_t n = make_npy(buf, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", v, sizeof v, 2);
    clrnn_array a;
    TU_OK(clrnn_npy_load_memory(buf, n, &a));
    assert_int_equal(a.dtype, CLRNN_DTYPE_INT32);
    assert_memory_equal(a.data, v, sizeof v);
    clrnn_array_free(&a);
}

static void rejects_bad_files(void **state) {
    (void)state;
    unsigned char buf[256];
    float v[4] = {1, 2, 3, 4};
    clrnn_array a;
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(clrnn_last_error(), "Fortran"));
    n = make_npy(buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(clrnn_last_error(), ">f4"));
    n = make_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_UNSUPPORTED);
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE); /* truncated data */
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE); /* trailing bytes */
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE);
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE);
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", v, sizeof v, 1);
    assert_int_not_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_OK);
    /* header length beyond the file */
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v, 1);
    assert_int_equal(clrnn_npy_load_memory(buf, 40, &a), CLRNN_ERR_CORRUPT_FILE);
    buf[0] = 'X';
    assert_int_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE);
    assert_int_equal(clrnn_npy_load_memory(buf, 3, &a), CLRNN_ERR_CORRUPT_FILE);
    assert_int_equal(clrnn_npy_load("/nonexistent/file.npy", &a), CLRNN_ERR_IO);
    write_raw("garbage", 7);
    assert_int_equal(clrnn_npy_load(path, &a), CLRNN_ERR_CORRUPT_FILE);
    assert_non_null(strstr(clrnn_last_error(), path));
}


/* The header dict is read as NumPy reads it: each of the three keys exactly once, nothing else.
 * Duplicates (NumPy keeps the LAST one, a first-match reader the first: two different arrays),
 * unknown keys (NumPy: "Header does not contain the correct keys") and missing keys are refused,
 * in every position. */
static void header_keys_exactly_once(void **state) {
    (void)state;
    unsigned char buf[512];
    float v[6] = {0, 1, 2, 3, 4, 5};
    clrnn_array a;
    const char *items[3] = {"'descr': '<f4'", "'fortran_order': False", "'shape': (2, 3)"};
    const char *dups[3] = {"'descr': '<i4'", "'fortran_order': True", "'shape': (3, 2)"};
    const char *names[3] = {"descr", "fortran_order", "shape"};
    char dict[256], want[64];
    for (int k = 0; k < 3; ++k) {
        /* the duplicate before, between and after the others; same value or another */
        for (int pos = 0; pos <= 3; ++pos)
            for (int same = 0; same < 2; ++same) {
                const char *seq[4];
                int n = 0;
                for (int i = 0; i <= 3; ++i) {
                    if (i == pos) seq[n++] = same ? items[k] : dups[k];
                    if (i < 3) seq[n++] = items[i];
                }
                snprintf(dict, sizeof dict, "{%s, %s, %s, %s}", seq[0], seq[1], seq[2], seq[3]);
                size_t len = make_npy(buf, dict, v, sizeof v, 1);
                assert_int_equal(clrnn_npy_load_memory(buf, len, &a), CLRNN_ERR_CORRUPT_FILE);
                snprintf(want, sizeof want, "key '%s' twice", names[k]);
                if (!strstr(clrnn_last_error(), want)) fail_msg("%s: %s", dict, clrnn_last_error());
            }
        /* missing */
        snprintf(dict, sizeof dict, "{%s, %s}", items[(k + 1) % 3], items[(k + 2) % 3]);
        size_t len = make_npy(buf, dict, v, sizeof v, 1);
        assert_int_equal(clrnn_npy_load_memory(buf, len, &a), CLRNN_ERR_CORRUPT_FILE);
        snprintf(want, sizeof want, "no '%s'", names[k]);
        if (!strstr(clrnn_last_error(), want)) fail_msg("%s: %s", dict, clrnn_last_error());
    }
    /* unknown keys, anywhere; near misses of the real names too */
    const char *extra[] = {"'evil': 1", "'Descr': '<f4'", "'descr ': '<f4'", "'shape2': (1,)", "'': 0",
                           "'fortran_order_': False", "\"x\": \"y\""};
    for (size_t e = 0; e < sizeof extra / sizeof *extra; ++e)
        for (int pos = 0; pos <= 3; ++pos) {
            const char *seq[4];
            int n = 0;
            for (int i = 0; i <= 3; ++i) {
                if (i == pos) seq[n++] = extra[e];
                if (i < 3) seq[n++] = items[i];
            }
            snprintf(dict, sizeof dict, "{%s, %s, %s, %s, }", seq[0], seq[1], seq[2], seq[3]);
            size_t len = make_npy(buf, dict, v, sizeof v, 1);
            assert_int_equal(clrnn_npy_load_memory(buf, len, &a), CLRNN_ERR_CORRUPT_FILE);
            if (!strstr(clrnn_last_error(), "unknown key")) fail_msg("%s: %s", dict, clrnn_last_error());
        }
    /* not a dict entry at all, or junk after the dict */
    const char *junk[] = {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape'}",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} {}",
                          "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),, }",
                          "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2, 3)}",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (02, 3)}",
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)",
                          "{'descr': '<f4\", 'fortran_order': False, 'shape': (2, 3)}"};
    for (size_t j = 0; j < sizeof junk / sizeof *junk; ++j) {
        size_t len = make_npy(buf, junk[j], v, sizeof v, 1);
        if (clrnn_npy_load_memory(buf, len, &a) != CLRNN_ERR_CORRUPT_FILE) fail_msg("accepted: %s", junk[j]);
    }
}

/* Everything NumPy writes and reads back: both quote styles, any key order, no trailing comma,
 * extra spacing and line breaks inside the dict, Python 2 longs, v1/v2/v3 headers. */
static void header_forms_numpy_reads(void **state) {
    (void)state;
    unsigned char buf[512];
    float v[6];
    uint64_t seed = 7;
    tu_fill(v, 6, &seed, -3, 3);
    const char *forms[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'shape': (2, 3), 'descr': \"<f4\", 'fortran_order': False}",
        "  {  'descr' :'<f4','fortran_order':False ,\t'shape':( 2 ,3 , ) ,}",
        "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
    };
    for (size_t f = 0; f < sizeof forms / sizeof *forms; ++f)
        for (int version = 1; version <= 3; version += 1) {
            size_t len = make_npy(buf, forms[f], v, sizeof v, version == 3 ? 2 : version);
            if (version == 3) buf[6] = 3;
            clrnn_array a;
            if (clrnn_npy_load_memory(buf, len, &a) != CLRNN_OK) fail_msg("v%d %s: %s", version, forms[f], clrnn_last_error());
            assert_int_equal(a.dtype, CLRNN_DTYPE_FLOAT32);
            assert_int_equal(a.ndim, 2);
            assert_int_equal(a.shape[0], 2);
            assert_int_equal(a.shape[1], 3);
            assert_memory_equal(a.data, v, sizeof v);
            clrnn_array_free(&a);
        }
}

/* Files written by NumPy itself (the golden data from PyTorch/Keras/TF1 and the fuzz corpus):
 * every one loads under the strict parser, or is refused only for a reason NumPy's own header
 * cannot give (a dtype or layout clrnn does not take). */
static int load_tree(const char *dir, int *loaded) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            load_tree(p, loaded);
            continue;
        }
        const size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".npy")) continue;
        clrnn_array a;
        const clrnn_status st = clrnn_npy_load(p, &a);
        if (st == CLRNN_OK) ++*loaded;
        else if (st != CLRNN_ERR_UNSUPPORTED) fail_msg("NumPy's file %s refused: %s", p, clrnn_last_error());
        clrnn_array_free(&a);
    }
    closedir(d);
    return 1;
}

static void numpy_written_files_load(void **state) {
    (void)state;
    const char *src = getenv("CLRNN_SOURCE_DIR");
    if (!src) skip();
    char dir[1024];
    int loaded = 0;
    snprintf(dir, sizeof dir, "%s/tests/golden", src);
    assert_true(load_tree(dir, &loaded));
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_npy", src);
    load_tree(dir, &loaded);
    print_message("  %d NumPy-written .npy files load\n", loaded);
    assert_true(loaded > 1000);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_npy: clrnn_npy_load blocked (a FIFO?)\n";
    if (write(2, msg, sizeof msg - 1)) {}
    _exit(3);
}

/* Only regular files are read: a directory, a FIFO (which must not block the open), a character
 * device and a symlink to a directory are CLRNN_ERR_IO "not a regular file". */
static void special_files_refused(void **state) {
    (void)state;
    char dir[256], fifo[300], link[300];
    snprintf(dir, sizeof dir, "/tmp/clrnn-test-npy-special-%ld", (long)getpid());
    snprintf(fifo, sizeof fifo, "%s/fifo.npy", dir);
    snprintf(link, sizeof link, "%s/link.npy", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(dir, link), 0);
    signal(SIGALRM, on_alarm);
    alarm(20);
    const char *paths[] = {dir, fifo, "/dev/null", link};
    for (int i = 0; i < 4; ++i) {
        clrnn_array a;
        memset(&a, 0x5a, sizeof a);
        assert_int_equal(clrnn_npy_load(paths[i], &a), CLRNN_ERR_IO);
        if (!strstr(clrnn_last_error(), "not a regular file")) fail_msg("%s: %s", paths[i], clrnn_last_error());
        assert_null(a.data);
    }
    alarm(0);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/clrnn-test-npy-%ld.npy", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(version2_header),
        cmocka_unit_test(rejects_bad_files),
        cmocka_unit_test(header_keys_exactly_once),
        cmocka_unit_test(header_forms_numpy_reads),
        cmocka_unit_test(numpy_written_files_load),
        cmocka_unit_test(special_files_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(path);
    return rc;
}
