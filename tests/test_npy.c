/* .npy reading and writing: round trips, both header versions, and rejected inputs. */
#include "test_util.h"

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

int main(void) {
    snprintf(path, sizeof path, "/tmp/clrnn-test-npy-%ld.npy", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(version2_header),
        cmocka_unit_test(rejects_bad_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(path);
    return rc;
}
