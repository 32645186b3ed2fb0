/* Terminal injection (review D4): strings from .onnx and .npy files never reach a message raw.
 * clrnn_escape() itself (what it keeps, what it escapes, truncation, idempotence), clrnn_fail()
 * as the last line of defence, and every string field of a model and of a .npy header carrying
 * escapes through the loaders into clrnn_last_error(). clrnn-run's stdout/stderr: test_onnx_cli. */
#include "test_util.h"

#include "internal.h"
#include "onnx/pb_mini.h"
#include "clean_text.h"

static void escape_keeps_and_escapes(void **state) {
    (void)state;
    char out[512];
    /* printable ASCII, the backslash and valid multi-byte UTF-8 (2, 3, 4 bytes) are kept */
    const char *keep = "plain ASCII ~!@#$%^&*() \\x1b stays \\ too: \xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xe4\xb8\xad";
    assert_int_equal(clrnn_escape(out, sizeof out, keep, strlen(keep)), 1);
    assert_string_equal(out, keep);
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"\x1b[2J", 4, "\\x1b[2J"},
        {"\x07\x08\x7f", 3, "\\x07\\x08\\x7f"},
        {"a\0b", 3, "a\\x00b"},
        {"\x9b", 1, "\\x9b"},                                       /* 8-bit CSI */
        {"\xc2\x9b\xc2\x80\xc2\x9f", 6, "\\xc2\\x9b\\xc2\\x80\\xc2\\x9f"}, /* C1 controls in UTF-8 */
        {"\xc2\xa0", 2, "\xc2\xa0"},                                /* U+00A0: first after C1, kept */
        {"\xc0\xaf", 2, "\\xc0\\xaf"},                              /* overlong '/' */
        {"\xc1\xbf", 2, "\\xc1\\xbf"},
        {"\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf"},                     /* overlong 3-byte */
        {"\xf0\x80\x80\xaf", 4, "\\xf0\\x80\\x80\\xaf"},            /* overlong 4-byte */
        {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},                     /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, "\\xed\\xbf\\xbf"},                     /* surrogate U+DFFF */
        {"\xed\x9f\xbf", 3, "\xed\x9f\xbf"},                        /* U+D7FF, kept */
        {"\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"},            /* above U+10FFFF */
        {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf"},                /* U+10FFFF, kept */
        {"\xf5\x80\x80\x80", 4, "\\xf5\\x80\\x80\\x80"},
        {"\xe2\x82", 2, "\\xe2\\x82"},                              /* truncated sequence at the end */
        {"\xe2\x82x", 3, "\\xe2\\x82x"},                            /* truncated, then ASCII */
        {"\x80\xbf", 2, "\\x80\\xbf"},                              /* lone continuation bytes */
        {"\xe2\x80\xae\xe2\x80\x8f\xe2\x81\xa6\xe2\x80\xa8", 12,
         "\\xe2\\x80\\xae\\xe2\\x80\\x8f\\xe2\\x81\\xa6\\xe2\\x80\\xa8"}, /* bidi controls, U+2028 */
        {"\t\n\r", 3, "\\x09\\x0a\\x0d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
        assert_int_equal(clrnn_escape(out, sizeof out, cases[i].in, cases[i].n), 1);
        if (strcmp(out, cases[i].want)) fail_msg("case %zu: got '%s', want '%s'", i, out, cases[i].want);
    }
    /* the hostile string: clean, visible, and escaping is idempotent (a re-wrapped message is not
     * escaped twice) */
    char once[1024], twice[1024];
    assert_int_equal(clrnn_escape(once, sizeof once, EVIL, sizeof EVIL - 1), 1);
    assert_clean("escaped EVIL", once, 0);
    assert_non_null(strstr(once, "A\\x1b]0;PWNED\\x07\\x1b[2J\\x9b31m\\xc2\\x9b"));
    assert_non_null(strstr(once, "Z\xc3\xa9\xe2\x82\xac"));
    assert_int_equal(clrnn_escape(twice, sizeof twice, once, strlen(once)), 1);
    assert_string_equal(once, twice);
    assert_string_equal(clrnn_esc(NULL, out, sizeof out), "(null)");
}

/* Piece boundaries of an escaped string: after "\xNN", after a whole UTF-8 sequence, after ASCII. */
static int is_boundary(const char *full, size_t p) {
    size_t i = 0;
    while (i < p) {
        const unsigned char c = (unsigned char)full[i];
        if (c == '\\' && full[i + 1] == 'x') i += 4;
        else if (c >= 0xf0) i += 4;
        else if (c >= 0xe0) i += 3;
        else if (c >= 0xc0) i += 2;
        else i += 1;
    }
    return i == p;
}

static void escape_truncates_whole_pieces(void **state) {
    (void)state;
    char full[1024], out[1024];
    assert_int_equal(clrnn_escape(full, sizeof full, EVIL, sizeof EVIL - 1), 1);
    const size_t len = strlen(full);
    for (size_t cap = 1; cap <= len + 1; ++cap) {
        const int all = clrnn_escape(out, cap, EVIL, sizeof EVIL - 1);
        const size_t n = strlen(out);
        assert_true(n < cap);
        assert_int_equal(all, cap == len + 1);
        assert_clean("truncated", out, 0);
        if (all) {
            assert_string_equal(out, full);
            continue;
        }
        /* what is kept is a prefix of the full escaping that ends on a piece boundary, then "..." */
        size_t keep = n;
        while (keep > 0 && n - keep < 3 && out[keep - 1] == '.') --keep;
        if (cap >= 4) assert_true(n - keep == 3 || (n - keep < 3 && keep == 0));
        assert_memory_equal(out, full, keep);
        if (!is_boundary(full, keep)) fail_msg("cap %zu splits a piece: '%s'", cap, out);
    }
    assert_int_equal(clrnn_escape(out, 0, "x", 1), 0); /* no room at all: nothing written */
}

static void fail_escapes_every_message(void **state) {
    (void)state;
    clrnn_fail(CLRNN_ERR_IO, "name '%s' in a message", EVIL);
    assert_clean("clrnn_fail", clrnn_last_error(), 0);
    assert_non_null(strstr(clrnn_last_error(), "CLRNN_ERR_IO: name 'A\\x1b]0;PWNED"));
    /* line breaks of our own text (the compiler log) are folded, not escaped */
    clrnn_fail(CLRNN_ERR_BUILD_FAILED, "compiler log:\nline 1\r\nline\t2");
    assert_string_equal(clrnn_last_error(), "CLRNN_ERR_BUILD_FAILED: compiler log: line 1  line 2");
    /* re-wrapping an escaped message (as the loaders do) does not escape it again */
    char prev[2048];
    snprintf(prev, sizeof prev, "%s", clrnn_last_error());
    clrnn_fail(CLRNN_ERR_IO, "%s", EVIL);
    snprintf(prev, sizeof prev, "%s", clrnn_last_error() + strlen("CLRNN_ERR_IO: "));
    clrnn_fail(CLRNN_ERR_IO, "wrapped: %s", prev);
    assert_non_null(strstr(clrnn_last_error(), "wrapped: A\\x1b]0;"));
    /* a message far longer than the buffer: bounded, clean, marked as cut */
    char *big = malloc(200 * sizeof EVIL + 1);
    big[0] = '\0';
    for (int i = 0; i < 200; ++i) strcat(big, EVIL);
    clrnn_fail(CLRNN_ERR_IO, "%s", big);
    free(big);
    const char *e = clrnn_last_error();
    assert_clean("long message", e, 0);
    assert_true(strlen(e) < 2048);
    assert_string_equal(e + strlen(e) - 3, "...");
}

/* Loads the model; returns the status, last error checked clean. */
static clrnn_status load_checked(const char *what, const pb_model_strings *s, clrnn_model **model) {
    size_t n;
    unsigned char *bytes = pb_model(s, &n);
    *model = NULL;
    clrnn_status st = clrnn_onnx_load_memory(tu_context(), bytes, n, model);
    free(bytes);
    assert_clean(what, clrnn_last_error(), 0);
    return st;
}

static void onnx_fields_never_raw(void **state) {
    (void)state;
    const pb_s evils[2] = {PB_S(EVIL), PB_S(EVIL_NUL)};
    int shown = 0; /* cases whose message showed the escaped hostile bytes */
    for (int e = 0; e < 2; ++e) {
        const pb_s ev = evils[e];
        const char *seen = e == 0 ? "A\\x1b]0;PWNED" : "B";
        /* fields that make the load fail and are named in the message */
        for (int field = 0; field < 5; ++field) {
            pb_model_strings s = pb_model_defaults();
            const char *what = "";
            switch (field) {
            case 0: s.op_type = ev, what = "op_type"; break;
            case 1: s.domain = ev, what = "domain"; break;
            case 2: s.node_name = ev, s.op_type = PB_S("Det\x1b[31m"), what = "node name"; break;
            case 3: s.ext_location = ev, what = "external-data location"; break;
            case 4: s.node_name = ev, s.op_type = ev, s.domain = ev, what = "all node strings"; break;
            }
            clrnn_model *m;
            const clrnn_status st = load_checked(what, &s, &m);
            if (st == CLRNN_OK) fail_msg("%s: the model loaded", what);
            if (strstr(clrnn_last_error(), seen)) ++shown;
            else print_message("  %s: message does not show the field: %s\n", what, clrnn_last_error());
        }
        /* fields of a model that loads: names, dim_param, producer, graph name, doc strings; the
         * messages that list them (an unknown input / output name) must be clean */
        pb_model_strings s = pb_model_defaults();
        s.in_name = ev, s.out_name = PB_S("out\x9b\x1b]52;c;Zm9v\x07"), s.dim_param = ev, s.producer = ev;
        s.producer_version = ev, s.graph_name = ev, s.graph_doc = ev, s.node_doc = ev, s.node_name = ev;
        clrnn_model *m;
        TU_OK(load_checked("loadable model", &s, &m));
        clrnn_model_info mi;
        TU_OK(clrnn_model_get_info(m, &mi));
        float x[2] = {1, -1};
        clrnn_array a = {CLRNN_DTYPE_FLOAT32, 1, {2}, 2, x};
        assert_int_not_equal(clrnn_model_set_input(m, "nope", &a), CLRNN_OK);
        assert_clean("set_input listing the inputs", clrnn_last_error(), 0);
        if (strstr(clrnn_last_error(), seen)) ++shown;
        clrnn_array out;
        assert_int_not_equal(clrnn_model_get_output(m, "nope", &out), CLRNN_OK);
        assert_clean("get_output listing the outputs", clrnn_last_error(), 0);
        assert_int_not_equal(clrnn_model_run(m), CLRNN_OK); /* input not bound: names it */
        assert_clean("run without the input", clrnn_last_error(), 0);
        if (strstr(clrnn_last_error(), seen)) ++shown;
        clrnn_model_destroy(m);
    }
    /* the checks above are only worth something if the fields did reach the messages */
    assert_true(shown >= 8);
}

static size_t npy_bytes(unsigned char *buf, const char *dict, size_t dl, size_t payload) {
    size_t hl = dl + 1;
    while ((10 + hl) % 64) ++hl;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', hl - dl - 1);
    buf[10 + hl - 1] = '\n';
    memset(buf + 10 + hl, 0, payload);
    return 10 + hl + payload;
}

static void npy_header_never_raw(void **state) {
    (void)state;
    char dict[2048];
    unsigned char buf[4096];
    int shown = 0;
    for (int c = 0; c < 7; ++c) {
        int dl = 0;
        switch (c) {
        case 0: dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (4,), }", EVIL_LINE); break;
        case 1: dl = snprintf(dict, sizeof dict, "%s{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", EVIL_LINE); break;
        case 2: dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,%s), }", EVIL_LINE); break;
        case 3: dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), '%s': 1}", EVIL_LINE); break;
        case 4: dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': %s, 'shape': (4,), }", EVIL_LINE); break;
        case 5: dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", EVIL_LINE); break;
        case 6: dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}%s", EVIL_LINE); break;
        }
        const size_t n = npy_bytes(buf, dict, (size_t)dl, 16);
        clrnn_array a;
        assert_int_not_equal(clrnn_npy_load_memory(buf, n, &a), CLRNN_OK);
        assert_clean("npy header", clrnn_last_error(), 0);
        if (strstr(clrnn_last_error(), "A\\x1b")) ++shown;
        else print_message("  npy case %d: %s\n", c, clrnn_last_error());
    }
    /* the magic itself */
    memcpy(buf, "\x1b[2J\x9b\x07XY\x01\x00", 10);
    clrnn_array a;
    assert_int_not_equal(clrnn_npy_load_memory(buf, 64, &a), CLRNN_OK);
    assert_clean("npy magic", clrnn_last_error(), 0);
    assert_true(shown >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_keeps_and_escapes),     cmocka_unit_test(escape_truncates_whole_pieces),
        cmocka_unit_test(fail_escapes_every_message),   cmocka_unit_test(onnx_fields_never_raw),
        cmocka_unit_test(npy_header_never_raw),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
