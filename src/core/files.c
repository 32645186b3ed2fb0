/* Files that users name (models, arrays, tensors, kernel sources, the tuning file) are opened here:
 * regular files only, and never with an open that can block. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "a socket or other special file";
}

/* The fd of path opened for reading with *sb filled, or -1 with *st set: CLRNN_ERR_NOT_FOUND
 * (absent; no message) or `fail` with a message naming `what` and the escaped path.
 * O_NONBLOCK: opening a FIFO without a writer would block; it is refused after fstat anyway.
 * A directory opens fine and sizes as LONG_MAX on ext4, hence S_ISREG before any size is used. */
static int open_regular(const char *path, const char *what, clrnn_status fail, struct stat *sb, clrnn_status *st) {
    char shown[512];
    clrnn_esc(path, shown, sizeof shown);
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *st = errno == ENOENT ? CLRNN_ERR_NOT_FOUND : clrnn_fail(fail, "cannot open %s '%s': %s", what, shown, strerror(errno));
        return -1;
    }
    if (fstat(fd, sb) != 0)
        *st = clrnn_fail(fail, "cannot stat %s '%s': %s", what, shown, strerror(errno));
    else if (!S_ISREG(sb->st_mode))
        *st = clrnn_fail(fail, "cannot read %s '%s': not a regular file (%s)", what, shown, file_kind(sb->st_mode));
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        *st = clrnn_fail(fail, "cannot read %s '%s': %s", what, shown, strerror(errno));
    else {
        *st = CLRNN_OK;
        return fd;
    }
    close(fd);
    return -1;
}

FILE *clrnn_open_regular(const char *path, const char *what, clrnn_status fail, clrnn_status *st) {
    struct stat sb;
    const int fd = open_regular(path, what, fail, &sb, st);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        *st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "opening %s", what);
        close(fd);
    }
    return f;
}

clrnn_status clrnn_read_user_file(const char *path, const char *what, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    struct stat sb;
    clrnn_status st;
    const int fd = open_regular(path, what, CLRNN_ERR_IO, &sb, &st);
    if (fd < 0) {
        if (st == CLRNN_ERR_NOT_FOUND) { /* absent is an error here */
            char shown[512];
            st = clrnn_fail(CLRNN_ERR_IO, "cannot open %s '%s': %s", what, clrnn_esc(path, shown, sizeof shown),
                            strerror(ENOENT));
        }
        return st;
    }
    char shown[512];
    clrnn_esc(path, shown, sizeof shown);
    unsigned char *buf = NULL;
    const size_t want = (size_t)sb.st_size;
    if (sb.st_size < 0 || (uint64_t)sb.st_size >= SIZE_MAX)
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "%s '%s' is too large to read", what, shown);
    else if (!(buf = malloc(want + 1)))
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "reading %s '%s' (%zu bytes)", what, shown, want);
    else {
        size_t got = 0;
        while (got < want) {
            const ssize_t r = read(fd, buf + got, want - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != want) {
            st = clrnn_fail(CLRNN_ERR_IO, "short read of %s '%s' (%zu of %zu bytes; the file changed while read?)",
                            what, shown, got, want);
            free(buf);
        } else {
            buf[want] = '\0';
            *data = buf;
            *size = want;
        }
    }
    close(fd);
    return st;
}
