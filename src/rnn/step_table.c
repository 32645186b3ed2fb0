/* The step table: lengths, masks and reversal resolved once on the host into, per (direction,
 * step, row), the time index processed and whether it is computed, so every kernel handles every
 * padding/mask/direction rule by index lookup and no data is copied or reversed. The tiled plan
 * also gets the rows in length order. */
#include "cl/abi.h"
#include "internal.h"

#include <stdlib.h>

void clrnn_build_step_table(const clrnn_rnn_desc *desc, int D, int T, int N, const int32_t *seq_lens,
                            const uint8_t *mask, int32_t *out) {
    int32_t *has_any = out + (size_t)D * T * N;
    for (int d = 0; d < D; ++d) {
        const int rev = desc->direction == CLRNN_DIR_REVERSE || d == 1;
        for (int n = 0; n < N; ++n) {
            const int len = seq_lens ? seq_lens[n] : T;
            int started = 0;
            for (int s = 0; s < T; ++s) {
                int t;
                if (!rev)
                    t = s;
                else if (desc->reverse_mode == CLRNN_REVERSE_WHOLE_AXIS)
                    t = T - 1 - s;
                else
                    t = s < len ? len - 1 - s : s;
                const int valid = t < len && (!mask || mask[(size_t)n * T + t]);
                out[((size_t)d * T + s) * N + n] =
                    t | (valid ? STEP_VALID : 0) | (started ? STEP_STARTED : 0);
                started |= valid;
            }
            has_any[d * N + n] = started;
        }
    }
}

/* Rows by descending length (stable; identity without lengths), and which (t, n) rows any
 * direction computes. */
void clrnn_build_row_order(int T, int N, const int32_t *seq_lens, const uint8_t *mask, int32_t *perm,
                           int32_t *row_needed) {
    for (int n = 0; n < N; ++n) perm[n] = n;
    if (seq_lens) {
        /* counting sort by length (0..T), longest first; stable */
        int32_t *count = calloc((size_t)T + 2, sizeof *count);
        if (count) {
            for (int n = 0; n < N; ++n) count[T - seq_lens[n] + 1]++;
            for (int v = 1; v <= T + 1; ++v) count[v] += count[v - 1];
            for (int n = 0; n < N; ++n) perm[count[T - seq_lens[n]]++] = n;
            free(count);
        } /* out of memory: identity order, still correct, only slower */
    }
    for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n)
            row_needed[(size_t)t * N + n] = (!seq_lens || t < seq_lens[n]) && (!mask || mask[(size_t)n * T + t]);
}
