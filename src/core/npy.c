/* .npy reading and writing: the header is a Python dict literal; only the three keys NumPy
 * writes are accepted, each exactly once, with the dtypes clrnn uses. Every size is checked before allocation. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

size_t clrnn_dtype_size(clrnn_dtype dtype) {
    switch (dtype) {
    case CLRNN_DTYPE_FLOAT32:
    case CLRNN_DTYPE_INT32: return 4;
    case CLRNN_DTYPE_INT64: return 8;
    case CLRNN_DTYPE_UINT8: return 1;
    default: return 0;
    }
}

static const char *dtype_descr(clrnn_dtype t) {
    return t == CLRNN_DTYPE_FLOAT32 ? "<f4" : t == CLRNN_DTYPE_INT32 ? "<i4" : t == CLRNN_DTYPE_INT64 ? "<i8" : "|u1";
}

void clrnn_array_free(clrnn_array *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
    a->count = 0;
}

/* The header is parsed as the dict literal it is, the way NumPy's literal_eval reads it: each of
 * 'descr', 'fortran_order' and 'shape' exactly once, nothing else (a repeated key would be read by
 * NumPy as its LAST value, so a file that means one array to NumPy must not mean another here).
 * Accepted: either quote style, any spacing, a trailing comma, the padding after the '}'. */
typedef struct hdr {
    const char *p, *end;
} hdr;

static int hdr_peek(const hdr *c) { return c->p < c->end ? (unsigned char)*c->p : -1; }

static void hdr_space(hdr *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) ++c->p;
}

/* A Python string literal without escapes: 'text' or "text". */
static int hdr_string(hdr *c, const char **s, size_t *n) {
    const int q = hdr_peek(c);
    if (q != '\'' && q != '"') return 0;
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n' || *c->p == '\0') return 0;
        ++c->p;
    }
    if (c->p == c->end) return 0;
    *s = start;
    *n = (size_t)(c->p - start);
    ++c->p;
    return 1;
}

/* True/False, not followed by more of a name. */
static int hdr_bool(hdr *c, int *v) {
    const size_t left = (size_t)(c->end - c->p);
    size_t len = 0;
    if (left >= 4 && !memcmp(c->p, "True", 4)) *v = 1, len = 4;
    else if (left >= 5 && !memcmp(c->p, "False", 5)) *v = 0, len = 5;
    else return 0;
    if (len < left && (isalnum((unsigned char)c->p[len]) || c->p[len] == '_')) return 0;
    c->p += len;
    return 1;
}

#define CORRUPT(...) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, __VA_ARGS__)
/* at most 16 bytes of the header from c for a message (escaped by clrnn_fail) */
#define AT(c) (c)->end - (c)->p > 16 ? 16 : (int)((c)->end - (c)->p), (c)->p

/* A tuple of non-negative decimal integers: "()", "(3,)", "(2, 3)", "(2, 3,)" ("(3)" is an int). */
static clrnn_status hdr_shape(hdr *c, clrnn_array *out) {
    if (hdr_peek(c) != '(') CORRUPT(".npy header: bad 'shape' (expected a tuple at '%.*s')", AT(c));
    ++c->p;
    out->ndim = 0;
    size_t count = 1;
    int comma = 0;
    for (;;) {
        hdr_space(c);
        if (hdr_peek(c) == ')') break;
        if (hdr_peek(c) == '-') CORRUPT(".npy header: negative dimension in 'shape'");
        if (!isdigit(hdr_peek(c)) || (c->p[0] == '0' && c->p + 1 < c->end && isdigit((unsigned char)c->p[1])))
            CORRUPT(".npy header: bad 'shape' (expected a dimension at '%.*s')", AT(c));
        if (out->ndim >= CLRNN_MAX_DIMS) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy has more than %d dims", CLRNN_MAX_DIMS);
        const char *d = c->p;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) ++c->p;
        const int nd = (int)(c->p - d);
        unsigned long long v = 0;
        int big = nd > 13;
        for (const char *q = d; q < c->p && !big; ++q) v = v * 10 + (unsigned)(*q - '0');
        if (big || v > (1ULL << 40))
            CORRUPT(".npy header: dimension %.*s is too large (the limit is 2^40)", nd > 24 ? 24 : nd, d);
        if (hdr_peek(c) == 'L') ++c->p; /* Python 2 longs, which NumPy still reads in version 1 headers */
        out->shape[out->ndim++] = (int64_t)v;
        if (!clrnn_mul_size(count, (size_t)v, &count)) return clrnn_fail(CLRNN_ERR_OVERFLOW, ".npy shape overflows");
        hdr_space(c);
        comma = hdr_peek(c) == ',';
        if (comma) ++c->p;
        else if (hdr_peek(c) != ')') CORRUPT(".npy header: bad 'shape' (expected ',' or ')' at '%.*s')", AT(c));
    }
    ++c->p;
    if (out->ndim == 1 && !comma) CORRUPT(".npy header: bad 'shape' (a 1-d shape is written (n,); (n) is not a tuple)");
    out->count = count;
    return CLRNN_OK;
}

static clrnn_status parse_header(const char *h, size_t len, clrnn_array *out) {
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    hdr c = {h, h + len};
    hdr_space(&c);
    if (hdr_peek(&c) != '{') CORRUPT(".npy header is not a Python dict literal (starts with '%.*s')", AT(&c));
    ++c.p;
    int seen[3] = {0, 0, 0}, fortran = 0;
    const char *descr = NULL;
    size_t descr_len = 0;
    for (;;) {
        hdr_space(&c);
        if (hdr_peek(&c) == '}') break;
        const char *k;
        size_t kl;
        if (!hdr_string(&c, &k, &kl)) CORRUPT(".npy header: expected a quoted key at '%.*s'", AT(&c));
        int key = -1;
        for (int i = 0; i < 3; ++i)
            if (kl == strlen(keys[i]) && !memcmp(k, keys[i], kl)) key = i;
        if (key < 0)
            CORRUPT(".npy header has an unknown key '%.*s' (NumPy's keys are 'descr', 'fortran_order' and 'shape')",
                    kl > 64 ? 64 : (int)kl, k);
        if (seen[key]) CORRUPT(".npy header has the key '%s' twice", keys[key]);
        seen[key] = 1;
        hdr_space(&c);
        if (hdr_peek(&c) != ':') CORRUPT(".npy header: expected ':' after '%s'", keys[key]);
        ++c.p;
        hdr_space(&c);
        if (key == 0) {
            if (!hdr_string(&c, &descr, &descr_len)) CORRUPT(".npy header: bad 'descr' (at '%.*s')", AT(&c));
        } else if (key == 1) {
            if (!hdr_bool(&c, &fortran))
                CORRUPT(".npy header: bad 'fortran_order' (expected True or False at '%.*s')", AT(&c));
        } else {
            const clrnn_status st = hdr_shape(&c, out);
            if (st != CLRNN_OK) return st;
        }
        hdr_space(&c);
        if (hdr_peek(&c) == ',') ++c.p;
        else if (hdr_peek(&c) != '}') CORRUPT(".npy header: expected ',' or '}' at '%.*s'", AT(&c));
    }
    ++c.p;
    hdr_space(&c);
    if (c.p != c.end) CORRUPT(".npy header: unexpected bytes after the dict: '%.*s'", AT(&c));
    for (int i = 0; i < 3; ++i)
        if (!seen[i]) CORRUPT(".npy header has no '%s'", keys[i]);
    char d[16] = "";
    if (descr_len < sizeof d) memcpy(d, descr, descr_len), d[descr_len] = '\0';
    if (!strcmp(d, "<f4")) out->dtype = CLRNN_DTYPE_FLOAT32;
    else if (!strcmp(d, "<i4")) out->dtype = CLRNN_DTYPE_INT32;
    else if (!strcmp(d, "<i8")) out->dtype = CLRNN_DTYPE_INT64;
    else if (!strcmp(d, "|u1") || !strcmp(d, "|b1")) out->dtype = CLRNN_DTYPE_UINT8;
    else
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy dtype '%.*s' is not supported (need <f4, <i4, <i8 or |u1)",
                          descr_len > 64 ? 64 : (int)descr_len, descr);
    if (fortran) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy data in Fortran order is not supported");
    return CLRNN_OK;
}

static clrnn_status load_memory(const unsigned char *b, size_t size, clrnn_array *out);

/* On failure *out is all zeros (nothing to free). */
clrnn_status clrnn_npy_load_memory(const void *data, size_t size, clrnn_array *out) {
    clrnn_clear_error();
    if (out) memset(out, 0, sizeof *out);
    if (!data || !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_npy_load_memory: NULL argument");
    clrnn_status st = load_memory(data, size, out);
    if (st != CLRNN_OK) memset(out, 0, sizeof *out);
    return st;
}

static clrnn_status load_memory(const unsigned char *b, size_t size, clrnn_array *out) {
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0) CORRUPT("not a .npy file (bad magic)");
    const int major = b[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) CORRUPT(".npy header truncated");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy format version %d is not supported", major);
    }
    if (hlen > size - hstart) CORRUPT(".npy header truncated (%zu header bytes, file has %zu)", hlen, size);
    clrnn_status st = parse_header((const char *)b + hstart, hlen, out);
    if (st != CLRNN_OK) return st;
    size_t bytes;
    if (!clrnn_mul_size(out->count, clrnn_dtype_size(out->dtype), &bytes)) return clrnn_fail(CLRNN_ERR_OVERFLOW, ".npy size overflows");
    const size_t avail = size - hstart - hlen;
    if (avail != bytes) CORRUPT(".npy data is %zu bytes, shape and dtype need %zu", avail, bytes);
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, ".npy data of %zu bytes", bytes);
    memcpy(out->data, b + hstart + hlen, bytes);
    return CLRNN_OK;
}

clrnn_status clrnn_npy_load(const char *path, clrnn_array *out) {
    clrnn_clear_error();
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_npy_load: NULL argument");
    unsigned char *buf = NULL;
    size_t n = 0;
    /* regular files only: a directory or FIFO is CLRNN_ERR_IO, never a hang */
    clrnn_status st = clrnn_read_user_file(path, "array", &buf, &n);
    if (st == CLRNN_OK) {
        st = clrnn_npy_load_memory(buf, n, out);
        if (st != CLRNN_OK) {
            char msg[1800];
            snprintf(msg, sizeof msg, "%s", clrnn_last_error());
            const char *colon = strchr(msg, ':');
            clrnn_fail(st, "%s: %s", path, colon ? colon + 2 : msg);
        }
    }
    free(buf);
    return st;
}

clrnn_status clrnn_npy_save(const char *path, const clrnn_array *a) {
    clrnn_clear_error();
    if (!path || !a || (!a->data && a->count)) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_npy_save: NULL argument");
    if (clrnn_dtype_size(a->dtype) == 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "unknown dtype %d", (int)a->dtype);
    if (a->ndim < 0 || a->ndim > CLRNN_MAX_DIMS) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "ndim %d", a->ndim);
    char shape[256] = "";
    size_t count = 1;
    for (int i = 0; i < a->ndim; ++i) {
        if (a->shape[i] < 0) return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "shape[%d] = %lld is negative", i, (long long)a->shape[i]);
        size_t len = strlen(shape);
        snprintf(shape + len, sizeof shape - len, "%lld%s", (long long)a->shape[i], a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
        if ((uint64_t)a->shape[i] != (uint64_t)(size_t)a->shape[i] || !clrnn_mul_size(count, (size_t)a->shape[i], &count))
            return clrnn_fail(CLRNN_ERR_OVERFLOW, "the product of the shape overflows");
    }
    if (count != a->count) return clrnn_fail(CLRNN_ERR_SHAPE_MISMATCH, "array count %zu != product of shape %zu", a->count, count);
    char header[400];
    int hl = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", dtype_descr(a->dtype), shape);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return clrnn_fail(CLRNN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    const int hlen = hl + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    for (int i = 0; i < pad && ok; ++i) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(a->data, clrnn_dtype_size(a->dtype), a->count, f) == a->count;
    ok = (fclose(f) == 0) && ok;
    return ok ? CLRNN_OK : clrnn_fail(CLRNN_ERR_IO, "writing %s failed", path);
}
