/* Strict numbers for the command-line flags of every tool (clrnn-run, clrnn-bench, clrnn-tune):
 * the whole value must be a number in [lo, hi]. Refused: an empty value, leading spaces, trailing
 * junk ("5x", "1e3" for an integer), a sign where none is allowed, overflow, nan/inf. On a refusal
 * one line naming the tool, the flag, the value and the range goes to stderr and 0 is returned,
 * so `if (!tool_long(...)) return 2;` fails before any work starts. */
#ifndef CLRNN_TOOL_ARGS_H
#define CLRNN_TOOL_ARGS_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int tool_args_start_ok(const char *v, int allow_minus) {
    return (v[0] >= '0' && v[0] <= '9') || v[0] == '.' || (allow_minus && v[0] == '-');
}

static inline int tool_long(const char *tool, const char *flag, const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    const long x = tool_args_start_ok(v, lo < 0) && v[0] != '.' ? strtol(v, &end, 10) : 0;
    if (!end || end == v || *end || errno == ERANGE || x < lo || x > hi) {
        fprintf(stderr, "%s: %s '%s': expected an integer from %ld to %ld\n", tool, flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

static inline int tool_int(const char *tool, const char *flag, const char *v, int lo, int hi, int *out) {
    long x;
    if (!tool_long(tool, flag, v, lo, hi, &x)) return 0;
    *out = (int)x;
    return 1;
}

static inline int tool_u64(const char *tool, const char *flag, const char *v, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    /* strtoull would take "-1" as 2^64 - 1 */
    const unsigned long long x = tool_args_start_ok(v, 0) && v[0] != '.' ? strtoull(v, &end, 10) : 0;
    if (!end || end == v || *end || errno == ERANGE) {
        fprintf(stderr, "%s: %s '%s': expected an integer from 0 to %llu\n", tool, flag, v, (unsigned long long)UINT64_MAX);
        return 0;
    }
    *out = (uint64_t)x;
    return 1;
}

/* `--version`: one line "clrnn-xxx 0.x.y" on stdout, exit status 0. CLRNN_PROJECT_VERSION is the
 * version of project() in CMakeLists.txt (a compile definition of the whole build). */
#ifndef CLRNN_PROJECT_VERSION
#error "CLRNN_PROJECT_VERSION is set by CMakeLists.txt for every target of the build"
#endif
static inline int tool_version(const char *tool) {
    printf("%s %s\n", tool, CLRNN_PROJECT_VERSION);
    return fflush(stdout) == 0 ? 0 : 1;
}

static inline int tool_double(const char *tool, const char *flag, const char *v, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    /* decimal only: strtod would also take hex floats and "infinity" */
    const double x = tool_args_start_ok(v, lo < 0) && !v[strspn(v, "0123456789.eE+-")] ? strtod(v, &end) : 0;
    if (!end || end == v || *end || errno == ERANGE || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "%s: %s '%s': expected a number from %g to %g\n", tool, flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

#endif
