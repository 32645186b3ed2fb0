/* .npy reading and writing: the header is a Python dict literal; only the three keys NumPy
 * writes are accepted, with the dtypes clrnn uses. Every size is checked before allocation. */
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

/* Finds 'key': in the header and returns a pointer just after the colon. */
static const char *find_key(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') ++p;
    if (*p != ':') return NULL;
    ++p;
    while (*p == ' ') ++p;
    return p;
}

#define CORRUPT(...) return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, __VA_ARGS__)

static clrnn_status parse_header(const char *h, clrnn_array *out) {
    while (*h == ' ') ++h;
    if (*h != '{') CORRUPT(".npy header is not a Python dict literal (starts with '%.8s')", h);
    const char *p = find_key(h, "descr");
    if (!p || *p != '\'') CORRUPT(".npy header has no 'descr'");
    char descr[16] = {0};
    size_t i = 0;
    for (++p; *p && *p != '\'' && i < sizeof descr - 1; ++p) descr[i++] = *p;
    if (*p != '\'') CORRUPT(".npy header: bad 'descr'");
    if (!strcmp(descr, "<f4")) out->dtype = CLRNN_DTYPE_FLOAT32;
    else if (!strcmp(descr, "<i4")) out->dtype = CLRNN_DTYPE_INT32;
    else if (!strcmp(descr, "<i8")) out->dtype = CLRNN_DTYPE_INT64;
    else if (!strcmp(descr, "|u1") || !strcmp(descr, "|b1")) out->dtype = CLRNN_DTYPE_UINT8;
    else return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy dtype '%s' is not supported (need <f4, <i4, <i8 or |u1)", descr);
    p = find_key(h, "fortran_order");
    if (!p) CORRUPT(".npy header has no 'fortran_order'");
    if (!strncmp(p, "True", 4)) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy data in Fortran order is not supported");
    if (strncmp(p, "False", 5)) CORRUPT(".npy header: bad 'fortran_order'");
    p = find_key(h, "shape");
    if (!p || *p != '(') CORRUPT(".npy header has no 'shape'");
    ++p;
    out->ndim = 0;
    size_t count = 1;
    /* a tuple of non-negative integers: "()", "(3,)", "(2, 3)", "(2, 3,)" */
    for (;;) {
        while (*p == ' ') ++p;
        if (*p == ')') break;
        if (*p == '-') CORRUPT(".npy header: negative dimension in 'shape'");
        if (!isdigit((unsigned char)*p)) CORRUPT(".npy header: bad 'shape' (expected a dimension at '%.8s')", p);
        if (out->ndim >= CLRNN_MAX_DIMS) return clrnn_fail(CLRNN_ERR_UNSUPPORTED, ".npy has more than %d dims", CLRNN_MAX_DIMS);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || v > (1ULL << 40))
            CORRUPT(".npy header: dimension %.*s is too large (the limit is 2^40)", end - p > 24 ? 24 : (int)(end - p), p);
        out->shape[out->ndim++] = (int64_t)v;
        if (!clrnn_mul_size(count, (size_t)v, &count)) return clrnn_fail(CLRNN_ERR_OVERFLOW, ".npy shape overflows");
        p = end;
        while (*p == ' ') ++p;
        if (*p == ',') ++p;
        else if (*p != ')') CORRUPT(".npy header: bad 'shape' (expected ',' or ')' at '%.8s')", p);
    }
    out->count = count;
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
    char *h = malloc(hlen + 1);
    if (!h) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, ".npy header");
    memcpy(h, b + hstart, hlen);
    h[hlen] = '\0';
    clrnn_status st = parse_header(h, out);
    free(h);
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
    FILE *f = fopen(path, "rb");
    if (!f) return clrnn_fail(CLRNN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    long n = -1;
    struct stat sb;
    /* a directory opens fine and "sizes" as LONG_MAX: only regular files are read */
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return clrnn_fail(CLRNN_ERR_IO, "cannot read %s: not a regular file", path);
    }
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    clrnn_status st = CLRNN_OK;
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) st = clrnn_fail(CLRNN_ERR_IO, "cannot size %s", path);
    else if (!(buf = malloc((size_t)n + 1))) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "reading %s", path);
    else if (fread(buf, 1, (size_t)n, f) != (size_t)n) st = clrnn_fail(CLRNN_ERR_IO, "cannot read %s", path);
    fclose(f);
    if (st == CLRNN_OK) {
        st = clrnn_npy_load_memory(buf, (size_t)n, out);
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
