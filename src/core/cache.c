/* On-disk cache of compiled program binaries.
 * Key: 64-bit FNV-1a over the cache format version, kernel source, build options, device name,
 *      driver version and platform version (program.c computes it). One file per key:
 *      <dir>/<key as 16 hex digits>.clbin = header {magic, format, key, size, payload hash} + payload.
 * Trust: a program binary is native code the process runs, so the cache is a per-user trust
 * boundary (as ssh's StrictModes treats ~/.ssh). The directory must belong to the effective user
 * (or root) and be writable by nobody else, or it is not used at all; an entry is loaded only if
 * it is a regular file of the same owners, writable by nobody else. The directory is opened once
 * per operation and checked with fstat, and the entries are reached through that descriptor
 * (openat/renameat), so a path swapped after the check changes nothing.
 * Writes go to a temp file with a random name, created O_EXCL|O_NOFOLLOW with mode 0600 (a planted
 * file or symlink is never followed or reused), that is renamed into place, so readers never see a
 * partial entry and concurrent writers of the same key both succeed (last rename wins, same content).
 * A short, mismatched, oversized, unreadable, foreign or non-regular entry reads as
 * CLRNN_ERR_CORRUPT_FILE: the caller rebuilds and replaces it. Failure to write is never fatal: the
 * program is still built in memory. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#define CACHE_MAGIC "CLRNNBIN"
#define CACHE_FORMAT 1u
/* No program binary comes near this (all of clrnn's kernels: a few MB): a larger entry is damaged,
 * and is refused before anything is allocated or read. */
#define CACHE_MAX_PAYLOAD ((uint64_t)256 << 20)

typedef struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t reserved;
    uint64_t key;
    uint64_t size;
    uint64_t payload_hash;
} cache_header;

uint64_t clrnn_hash64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void entry_name(uint64_t key, char *out, size_t cap) { snprintf(out, cap, "%016llx.clbin", (unsigned long long)key); }

static void entry_path(const char *dir, uint64_t key, char *out, size_t cap) {
    snprintf(out, cap, "%s/%016llx.clbin", dir, (unsigned long long)key);
}

static clrnn_status mkdirs_mode(const char *path, mode_t mode) {
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return clrnn_fail(CLRNN_ERR_IO, "cache path is empty or too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; ++i) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return clrnn_fail(CLRNN_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return CLRNN_OK;
}

clrnn_status clrnn_mkdirs(const char *path) { return mkdirs_mode(path, 0755); }

int clrnn_cache_resolve_dir(const char *param_dir, char *out, size_t cap) {
    const char *env = getenv("CLRNN_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (param_dir && *param_dir)
        n = snprintf(out, cap, "%s", param_dir);
    else if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(out, cap, "%s/clrnn", xdg);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.cache/clrnn", home);
    else
        return 0;
    return n > 0 && (size_t)n < cap;
}

/* Root can replace any file anyway, so what root owns is as trusted as what the user owns. */
static int trusted_owner(uid_t uid) { return uid == geteuid() || uid == 0; }

/* Opens dir (created with mode 0700, whatever the umask, when `create`: umask only clears bits)
 * and checks it can be trusted. CLRNN_OK with *out open, CLRNN_ERR_NOT_FOUND (absent, no message),
 * CLRNN_ERR_IO (cannot be created or opened, not a directory), CLRNN_ERR_INVALID_ARGUMENT (not
 * trusted: another owner, or writable by group or others). */
static clrnn_status open_dir(const char *dir, int create, int *out) {
    *out = -1;
    if (create) {
        clrnn_status st = mkdirs_mode(dir, 0700);
        if (st != CLRNN_OK) return st;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !create) return CLRNN_ERR_NOT_FOUND;
        return clrnn_fail(CLRNN_ERR_IO, "cannot open cache directory %s: %s", dir, strerror(errno));
    }
    struct stat sb;
    clrnn_status st = CLRNN_OK;
    if (fstat(fd, &sb) != 0)
        st = clrnn_fail(CLRNN_ERR_IO, "cannot stat cache directory %s: %s", dir, strerror(errno));
    else if (!trusted_owner(sb.st_uid))
        st = clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "cache directory %s belongs to another user (uid %ld, not %ld)",
                        dir, (long)sb.st_uid, (long)geteuid());
    else if (sb.st_mode & (S_IWGRP | S_IWOTH))
        st = clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "cache directory %s is writable by %s (mode %04o)", dir,
                        (sb.st_mode & S_IWOTH) ? "other users" : "its group", (unsigned)(sb.st_mode & 07777));
    if (st != CLRNN_OK) {
        close(fd);
        return st;
    }
    *out = fd;
    return CLRNN_OK;
}

clrnn_status clrnn_cache_prepare_dir(const char *dir) {
    int fd;
    clrnn_status st = open_dir(dir, 1, &fd);
    if (st == CLRNN_OK) close(fd);
    return st;
}

int clrnn_cache_dir_trusted(const char *dir) {
    int fd;
    clrnn_status st = open_dir(dir, 0, &fd);
    if (st == CLRNN_OK) close(fd);
    if (st != CLRNN_OK && st != CLRNN_ERR_NOT_FOUND) clrnn_clear_error();
    return st == CLRNN_OK || st == CLRNN_ERR_NOT_FOUND;
}

/* read()/write() the whole buffer; 0 on error or early end of file. */
static int read_full(int fd, void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) errno = EIO;
        if (r <= 0) return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

clrnn_status clrnn_cache_load(const char *dir, uint64_t key, unsigned char **data, size_t *size, char *path,
                              size_t path_cap) {
    *data = NULL;
    *size = 0;
    entry_path(dir, key, path, path_cap);
    char name[32];
    entry_name(key, name, sizeof name);
    int dfd;
    clrnn_status st = open_dir(dir, 0, &dfd);
    if (st != CLRNN_OK) return st;
    /* O_NONBLOCK: a FIFO opens at once (and is refused below) instead of blocking for a writer;
     * O_NOFOLLOW: a symlink is refused, whatever it points to */
    int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    const int open_errno = errno;
    close(dfd);
    if (fd < 0) {
        if (open_errno == ENOENT) return CLRNN_ERR_NOT_FOUND;
        if (open_errno == ELOOP || open_errno == EMLINK)
            return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is a symbolic link", path);
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is unreadable: %s", path, strerror(open_errno));
    }
    /* checked on the open file, so what is checked is what is read */
    struct stat sb;
    cache_header h;
    unsigned char *buf = NULL, extra;
    if (fstat(fd, &sb) != 0) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s cannot be examined: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is not a regular file", path);
    } else if (!trusted_owner(sb.st_uid) || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is not trusted (owner uid %ld, mode %04o)", path,
                        (long)sb.st_uid, (unsigned)(sb.st_mode & 07777));
    } else if ((uint64_t)sb.st_size <= sizeof h || (uint64_t)sb.st_size - sizeof h > CACHE_MAX_PAYLOAD) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s has an impossible size (%lld bytes)", path,
                        (long long)sb.st_size);
    } else if (!read_full(fd, &h, sizeof h) || memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.format != CACHE_FORMAT ||
               h.key != key) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s has a bad header", path);
    } else if (h.size != (uint64_t)sb.st_size - sizeof h) {
        /* before allocating: the header alone must not decide how much is allocated and read */
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s claims %llu bytes but holds %llu", path,
                        (unsigned long long)h.size, (unsigned long long)((uint64_t)sb.st_size - sizeof h));
    } else if (!(buf = malloc((size_t)h.size))) {
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "cache entry of %llu bytes", (unsigned long long)h.size);
    } else if (!read_full(fd, buf, (size_t)h.size) || read(fd, &extra, 1) != 0) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is truncated or too long", path);
    } else if (clrnn_hash64(CLRNN_HASH_SEED, buf, (size_t)h.size) != h.payload_hash) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s fails its checksum", path);
    }
    close(fd);
    if (st != CLRNN_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = (size_t)h.size;
    return CLRNN_OK;
}

/* Not predictable by another process (which could otherwise keep a name taken); O_EXCL makes even
 * a guessed name harmless. */
static uint64_t random64(void) {
    static atomic_uint counter;
    uint64_t r = 0;
#ifdef __linux__
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) return r;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t mix[5] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                             atomic_fetch_add(&counter, 1u), (uint64_t)(uintptr_t)&r};
    return clrnn_hash64(CLRNN_HASH_SEED, mix, sizeof mix);
}

int clrnn_create_temp(const char *path, mode_t mode, char *tmp, size_t cap) {
    int fd = -1;
    for (int attempt = 0; attempt < 32 && fd < 0; ++attempt) {
        const int n = snprintf(tmp, cap, "%s.tmp.%016llx", path, (unsigned long long)random64());
        if (n < 0 || (size_t)n >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST) return -1;
    }
    return fd;
}

clrnn_status clrnn_cache_store(const char *dir, uint64_t key, const unsigned char *data, size_t size) {
    int dfd;
    clrnn_status st = open_dir(dir, 1, &dfd);
    if (st != CLRNN_OK) return st;
    char path[1100], name[32], tmp[80];
    entry_path(dir, key, path, sizeof path);
    entry_name(key, name, sizeof name);
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 32 && fd < 0; ++attempt) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%016llx", name, (unsigned long long)random64());
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        err = errno;
        if (fd < 0 && err != EEXIST) break;
    }
    if (fd < 0) {
        close(dfd);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write cache entry %s: %s", path, strerror(err));
    }
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.format = CACHE_FORMAT;
    h.key = key;
    h.size = size;
    h.payload_hash = clrnn_hash64(CLRNN_HASH_SEED, data, size);
    int ok = write_full(fd, &h, sizeof h) && write_full(fd, data, size);
    err = errno;
    if (close(fd) != 0 && ok) ok = 0, err = errno;
    if (ok && renameat(dfd, tmp, dfd, name) != 0) ok = 0, err = errno;
    if (!ok) unlinkat(dfd, tmp, 0);
    close(dfd);
    if (!ok) return clrnn_fail(CLRNN_ERR_IO, "cannot write cache entry %s: %s", path, strerror(err));
    return CLRNN_OK;
}
