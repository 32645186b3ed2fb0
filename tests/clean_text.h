/* Hostile strings for the terminal-injection tests, and a check, independent of clrnn_escape(),
 * that text holds no control byte, no C1 control and no invalid UTF-8. */
#ifndef CLRNN_CLEAN_TEXT_H
#define CLRNN_CLEAN_TEXT_H

#include <stddef.h>
#include <string.h>

/* ESC sequences (OSC title, CSI clear), BEL, 8-bit CSI 0x9b, C1 controls in UTF-8 (U+009B,
 * U+0085), stray continuation/invalid bytes, an overlong '/', an overlong 3-byte form, a surrogate,
 * a code point above U+10FFFF, DEL, low controls, tab/newline/CR, the bidi override U+202E, then
 * valid UTF-8 that must be kept (é, €). */
static const char EVIL[] = "A\x1b]0;PWNED\x07\x1b[2J\x9b"
                           "31m\xc2\x9b\xc2\x85\xff\xfe\xc0\xaf\xe0\x80\xaf\xed\xa0\x80\xf4\x90\x80\x80\x7f\x01\x1f\t\n\r"
                           "\xe2\x80\xaeZ\xc3\xa9\xe2\x82\xac";
/* the same without a line break, which ends a Python string literal early (the .npy header) */
static const char EVIL_LINE[] = "A\x1b]0;PWNED\x07\x1b[2J\x9b"
                                "31m\xc2\x9b\xc2\x85\xff\xfe\xc0\xaf\xed\xa0\x80\x7f\x01\x1f\xe2\x80\xaeZ";
/* the same behind an embedded NUL (a C string stops there; the bytes after it must not leak) */
static const char EVIL_NUL[] = "B\0\x1b[31mRED\x9b";

/* Independent of the code under test: 1 if s[0..n) holds only printable ASCII and well-formed
 * UTF-8 outside the C1 range (Unicode table 3-7), allowing '\n' only if newline_ok. */
static inline int clean_text(const char *s, size_t n, int newline_ok, size_t *bad_at) {
    const unsigned char *b = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        *bad_at = i;
        const unsigned c = b[i];
        if (c == '\n' && newline_ok) {
            ++i;
            continue;
        }
        if (c < 0x20 || c == 0x7f) return 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) len = 3, lo = 0xa0;
        else if (c == 0xed) len = 3, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef) len = 3;
        else if (c == 0xf0) len = 4, lo = 0x90;
        else if (c == 0xf4) len = 4, hi = 0x8f;
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else return 0;
        if (i + len > n || b[i + 1] < lo || b[i + 1] > hi) return 0;
        for (size_t k = 2; k < len; ++k)
            if (b[i + k] < 0x80 || b[i + k] > 0xbf) return 0;
        if (c == 0xc2 && b[i + 1] <= 0x9f) return 0; /* U+0080..U+009F */
        i += len;
    }
    return 1;
}

#ifdef fail_msg /* cmocka tests; the fuzz targets use clean_text() alone */
static inline void assert_clean(const char *what, const char *s, int newline_ok) {
    size_t at = 0;
    if (!clean_text(s, strlen(s), newline_ok, &at))
        fail_msg("%s: raw byte 0x%02x at %zu in: %s", what, (unsigned char)s[at], at, s);
}
#endif

#endif
