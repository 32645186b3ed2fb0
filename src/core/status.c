/* Status names and messages (one X-macro table in clrnn.h), the per-thread error detail, and
 * clrnn_escape(), which every string from a file goes through before it reaches a message. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char last_error[2048];

int clrnn_version(void) {
    return CLRNN_VERSION_MAJOR * 10000 + CLRNN_VERSION_MINOR * 100 + CLRNN_VERSION_PATCH;
}

const char *clrnn_version_string(void) { return CLRNN_VERSION_STRING; }

const char *clrnn_status_name(clrnn_status status) {
    switch (status) {
#define CLRNN_X_NAME(name, value, msg) \
    case name: return #name;
        CLRNN_STATUS_LIST(CLRNN_X_NAME)
#undef CLRNN_X_NAME
    default: return "CLRNN_UNKNOWN_STATUS";
    }
}

const char *clrnn_status_string(clrnn_status status) {
    switch (status) {
#define CLRNN_X_MSG(name, value, msg) \
    case name: return msg;
        CLRNN_STATUS_LIST(CLRNN_X_MSG)
#undef CLRNN_X_MSG
    default: return "unknown status code";
    }
}

const char *clrnn_last_error(void) { return last_error; }

void clrnn_clear_error(void) { last_error[0] = '\0'; }

/* Length of the UTF-8 sequence at s[0..n) if it is valid and safe to print, else 0. Refused:
 * overlong forms, surrogates, code points above U+10FFFF, the C1 controls U+0080..U+009F (a
 * terminal may take U+009B as CSI), and the invisible characters that reorder or break a line
 * (U+200E/F, U+2028/9, U+202A..E, U+2066..9: "Trojan Source" bidi tricks, fake line breaks). */
static size_t utf8_safe_len(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) len = 4, cp = s[0] & 0x07u;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0; /* overlong, range */
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;                                             /* surrogate */
    if (cp <= 0x9f) return 0;                                                               /* C1 control */
    if (cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0;
    return len;
}

int clrnn_escape(char *dst, size_t cap, const char *src, size_t n) {
    if (cap == 0) return 0;
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    int complete = 1;
    while (i < n) {
        size_t take = 1, out_len;
        char piece[5];
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            piece[0] = (char)s[i];
            out_len = 1;
        } else if ((take = utf8_safe_len(s + i, n - i)) != 0) {
            memcpy(piece, s + i, take);
            out_len = take;
        } else {
            take = 1;
            snprintf(piece, sizeof piece, "\\x%02x", s[i]);
            out_len = 4;
        }
        /* room for the piece and, should anything follow, for "..." */
        const size_t reserve = (i + take < n) ? 3 : 0;
        if (o + out_len + reserve > cap - 1) {
            complete = 0;
            break;
        }
        memcpy(dst + o, piece, out_len);
        o += out_len;
        i += take;
    }
    if (!complete) {
        /* the loop stopped at a whole piece, so "..." never splits an escape or a sequence */
        for (int k = 0; k < 3 && o < cap - 1; ++k) dst[o++] = '.';
    }
    dst[o] = '\0';
    return complete;
}

const char *clrnn_esc(const char *s, char *buf, size_t cap) {
    clrnn_escape(buf, cap, s ? s : "(null)", s ? strlen(s) : 6);
    return buf;
}

void clrnn_warn_once(atomic_int *flag, const char *msg) {
    if (!atomic_exchange(flag, 1)) fprintf(stderr, "clrnn: warning: %s\n", msg);
}

/* Last line of defence against terminal injection: the finished message is escaped, so a string
 * from a file can never put a control byte into clrnn_last_error(), whichever site formats it.
 * Line breaks and tabs (the compiler log, which is ours) are folded to spaces first: the message is
 * one line. The escaping is idempotent, so a message re-wrapped by a caller is not escaped twice. */
clrnn_status clrnn_fail(clrnn_status status, const char *fmt, ...) {
    char raw[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    for (char *p = raw; *p; ++p)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    const int pre = snprintf(last_error, sizeof last_error, "%s: ", clrnn_status_name(status));
    clrnn_escape(last_error + pre, sizeof last_error - (size_t)pre, raw, strlen(raw));
    return status;
}

const char *clrnn_cl_error_name(cl_int err) {
    switch (err) {
#define E(x) \
    case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

clrnn_status clrnn_fail_cl(cl_int err, const char *call, const char *what) {
    clrnn_status st = CLRNN_ERR_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        st = CLRNN_ERR_DEVICE_OUT_OF_MEMORY;
    else if (err == CL_OUT_OF_HOST_MEMORY)
        st = CLRNN_ERR_OUT_OF_MEMORY;
    return clrnn_fail(st, "%s failed with %s (%d)%s%s", call, clrnn_cl_error_name(err), (int)err, what ? " while " : "",
                      what ? what : "");
}
