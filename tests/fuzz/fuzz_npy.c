/* libFuzzer target for the .npy reader (tools/fuzz.sh builds and runs it; seeds in corpus_npy/).
 *
 * clrnn_npy_load_memory on arbitrary bytes must return a status, never crash, never read outside
 * the input (ASan), never leak (LSan), never hit undefined behaviour (UBSan). Beyond that the
 * target checks the contract the callers rely on:
 *   success: ndim in [0, CLRNN_MAX_DIMS], count = product of the non-negative shape, a known
 *            dtype, and data holds exactly the input's last count * dtype_size bytes;
 *   failure: *out is all zeros (nothing to free) and clrnn_last_error() starts with the status
 *            name, followed by a message with no control byte or invalid UTF-8 (header text
 *            from the file is escaped: tests/clean_text.h checks it independently). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"
#include "../clean_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clrnn_array a;
    memset(&a, 0xa5, sizeof a); /* garbage in: the reader must overwrite every field */
    const clrnn_status st = clrnn_npy_load_memory(data, size, &a);
    if (st == CLRNN_OK) {
        if (a.ndim < 0 || a.ndim > CLRNN_MAX_DIMS) abort();
        size_t count = 1;
        for (int i = 0; i < a.ndim; ++i) {
            if (a.shape[i] < 0) abort();
            count *= (size_t)a.shape[i];
        }
        const size_t es = clrnn_dtype_size(a.dtype);
        if (count != a.count || es == 0 || !a.data) abort();
        if (a.count > size / es) abort();
        const size_t bytes = a.count * es;
        if (memcmp(a.data, data + size - bytes, bytes) != 0) abort();
        clrnn_array_free(&a);
        if (a.data) abort();
    } else {
        static const clrnn_array zero;
        if (memcmp(&a, &zero, sizeof a) != 0) abort();
        const char *msg = clrnn_last_error(), *name = clrnn_status_name(st);
        const size_t n = strlen(name);
        if (strncmp(msg, name, n) != 0 || strlen(msg) < n + 4) abort();
        size_t bad_at;
        if (!clean_text(msg, strlen(msg), 0, &bad_at)) abort(); /* header text reached it raw */
    }
    return 0;
}
