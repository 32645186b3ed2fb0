/* On-disk cache of compiled program binaries.
 * Key: 64-bit FNV-1a over the cache format version, kernel source, build options, device name,
 *      driver version and platform version (program.c computes it). One file per key:
 *      <dir>/<key as 16 hex digits>.clbin = header {magic, format, key, size, payload hash} + payload.
 * Writes go to a unique temp file that is renamed into place, so readers never see a partial
 * entry and concurrent writers of the same key both succeed (last rename wins, same content).
 * A short, mismatched or unreadable entry reads as CLRNN_ERR_CORRUPT_FILE: the caller rebuilds
 * and overwrites it. Failure to write is never fatal: the program is still built in memory. */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "CLRNNBIN"
#define CACHE_FORMAT 1u

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

static void entry_path(const char *dir, uint64_t key, char *out, size_t cap) {
    snprintf(out, cap, "%s/%016llx.clbin", dir, (unsigned long long)key);
}

clrnn_status clrnn_mkdirs(const char *path) {
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return clrnn_fail(CLRNN_ERR_IO, "cache path is empty or too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; ++i) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return clrnn_fail(CLRNN_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return CLRNN_OK;
}

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

clrnn_status clrnn_cache_load(const char *dir, uint64_t key, unsigned char **data, size_t *size, char *path,
                              size_t path_cap) {
    *data = NULL;
    *size = 0;
    entry_path(dir, key, path, path_cap);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return CLRNN_ERR_NOT_FOUND;
        return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is unreadable: %s", path, strerror(errno));
    }
    cache_header h;
    clrnn_status st = CLRNN_OK;
    unsigned char *buf = NULL;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.format != CACHE_FORMAT ||
        h.key != key || h.size == 0 || h.size > ((uint64_t)1 << 32)) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s has a bad header", path);
    } else if (!(buf = malloc((size_t)h.size))) {
        st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "cache entry of %llu bytes", (unsigned long long)h.size);
    } else if (fread(buf, 1, (size_t)h.size, f) != h.size || fgetc(f) != EOF) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s is truncated or too long", path);
    } else if (clrnn_hash64(CLRNN_HASH_SEED, buf, (size_t)h.size) != h.payload_hash) {
        st = clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "cache entry %s fails its checksum", path);
    }
    fclose(f);
    if (st != CLRNN_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = (size_t)h.size;
    return CLRNN_OK;
}

clrnn_status clrnn_cache_store(const char *dir, uint64_t key, const unsigned char *data, size_t size) {
    static atomic_uint counter;
    clrnn_status st = clrnn_mkdirs(dir);
    if (st != CLRNN_OK) return st;
    char path[1100], tmp[1200];
    entry_path(dir, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
    FILE *f = fopen(tmp, "wb");
    if (!f) return clrnn_fail(CLRNN_ERR_IO, "cannot write cache entry %s: %s", tmp, strerror(errno));
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.format = CACHE_FORMAT;
    h.key = key;
    h.size = size;
    h.payload_hash = clrnn_hash64(CLRNN_HASH_SEED, data, size);
    int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return clrnn_fail(CLRNN_ERR_IO, "cannot write cache entry %s: %s", path, strerror(e));
    }
    return CLRNN_OK;
}
