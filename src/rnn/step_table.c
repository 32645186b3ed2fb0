/* The step table: lengths, masks and reversal resolved once on the host into, per (direction,
 * step, row), the time index processed and whether it is computed, so every kernel handles every
 * padding/mask/direction rule by index lookup and no data is copied or reversed. A plan that
 * orders rows (the tiled plan, inference and training) derives the order from the table. */
#include "cl/abi.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

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

/* Rows by descending count of computed steps over every direction (stable: ties, and a table
 * without lengths or mask, keep the batch order), and which (t, n) some direction computes. Only
 * the order of the work changes with perm, never a result: each row is computed alone. */
void clrnn_build_row_order(int D, int T, int N, const int32_t *tmap, int32_t *perm, int32_t *row_needed) {
    memset(row_needed, 0, (size_t)T * N * sizeof *row_needed);
    /* steps[n]: row n's computed steps (0..D*T); count: a counting sort's histogram of them */
    int32_t *steps = calloc((size_t)N + (size_t)D * T + 2, sizeof *steps), *count = steps ? steps + N : NULL;
    for (int d = 0; d < D; ++d)
        for (int s = 0; s < T; ++s)
            for (int n = 0; n < N; ++n) {
                const int32_t e = tmap[((size_t)d * T + s) * N + n];
                if (!(e & STEP_VALID)) continue;
                row_needed[(size_t)(e & STEP_T_MASK) * N + n] = 1;
                if (steps) steps[n]++;
            }
    for (int n = 0; n < N; ++n) perm[n] = n;
    if (!steps) return; /* out of memory: identity order, still correct, only slower */
    const int most = D * T; /* longest first */
    for (int n = 0; n < N; ++n) count[most - steps[n] + 1]++;
    for (int v = 1; v <= most + 1; ++v) count[v] += count[v - 1];
    for (int n = 0; n < N; ++n) perm[count[most - steps[n]]++] = n;
    free(steps);
}
