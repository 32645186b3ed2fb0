/* Every status has a distinct name and message; failures leave a readable detail. */
#include "test_util.h"

static void every_status_has_name_and_string(void **state) {
    (void)state;
    for (int s = 0; s < CLRNN_STATUS_COUNT_; ++s) {
        const char *name = clrnn_status_name((clrnn_status)s);
        const char *msg = clrnn_status_string((clrnn_status)s);
        assert_non_null(name);
        assert_non_null(msg);
        assert_true(strncmp(name, "CLRNN_", 6) == 0);
        assert_string_not_equal(name, "CLRNN_UNKNOWN_STATUS");
        assert_true(strlen(msg) > 5);
        for (int o = 0; o < s; ++o) {
            assert_string_not_equal(name, clrnn_status_name((clrnn_status)o));
            assert_string_not_equal(msg, clrnn_status_string((clrnn_status)o));
        }
    }
    assert_string_equal(clrnn_status_name((clrnn_status)9999), "CLRNN_UNKNOWN_STATUS");
    assert_string_equal(clrnn_status_string((clrnn_status)-3), "unknown status code");
}

static void failure_sets_last_error(void **state) {
    (void)state;
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    clrnn_rnn *r = NULL;
    assert_int_equal(clrnn_rnn_create(NULL, &d, &r), CLRNN_ERR_NULL_ARGUMENT);
    assert_null(r);
    assert_non_null(strstr(clrnn_last_error(), "CLRNN_ERR_NULL_ARGUMENT"));
    assert_int_equal(clrnn_list_devices(NULL, 0, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_non_null(strstr(clrnn_last_error(), "count"));
}

static void version_is_consistent(void **state) {
    (void)state;
    assert_int_equal(clrnn_version(), CLRNN_VERSION_MAJOR * 10000 + CLRNN_VERSION_MINOR * 100 + CLRNN_VERSION_PATCH);
    assert_string_equal(clrnn_version_string(), CLRNN_VERSION_STRING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_status_has_name_and_string),
        cmocka_unit_test(failure_sets_last_error),
        cmocka_unit_test(version_is_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
