/* The step table and the row order the tiled plan derives from it (src/rnn/step_table.c), checked
 * on the host against the definitions of lengths and masks (SEMANTICS.md): (t, n) is computed iff
 * t < seq_lens[n] and mask[n][t]. Every direction walks each row's time axis once; the row order is
 * a permutation, rows by descending count of computed steps, ties in batch order. No device. */
#include "test_util.h"

#include "cl/abi.h"
#include "internal.h"

static int computed(const int32_t *lens, const uint8_t *mask, int T, int n, int t) {
    return (!lens || t < lens[n]) && (!mask || mask[(size_t)n * T + t]);
}

/* One (desc, D, T, N, lens, mask) case: the table, then the row order from it. */
static void check_case(const clrnn_rnn_desc *desc, int D, int T, int N, const int32_t *lens, const uint8_t *mask) {
    int32_t *tmap = malloc(sizeof *tmap * ((size_t)D * T * N + (size_t)D * N));
    int32_t *perm = malloc(sizeof *perm * (size_t)N), *needed = malloc(sizeof *needed * (size_t)T * N);
    int *seen = malloc(sizeof *seen * (size_t)(T > N ? T : N)), *steps = calloc((size_t)N, sizeof *steps);
    for (size_t i = 0; i < (size_t)T * N; ++i) needed[i] = -7; /* poison: every entry must be written */
    for (int n = 0; n < N; ++n) perm[n] = -7;
    clrnn_build_step_table(desc, D, T, N, lens, mask, tmap);
    for (int d = 0; d < D; ++d)
        for (int n = 0; n < N; ++n) {
            memset(seen, 0, sizeof *seen * (size_t)T);
            int any = 0;
            for (int s = 0; s < T; ++s) {
                const int32_t e = tmap[((size_t)d * T + s) * N + n], t = e & STEP_T_MASK;
                assert_true(t >= 0 && t < T);
                seen[t]++;
                assert_int_equal((e & STEP_VALID) != 0, computed(lens, mask, T, n, t));
                assert_int_equal((e & STEP_STARTED) != 0, any); /* a step after a computed one */
                any |= (e & STEP_VALID) != 0;
                steps[n] += (e & STEP_VALID) != 0;
            }
            for (int t = 0; t < T; ++t) assert_int_equal(seen[t], 1);
            assert_int_equal(tmap[(size_t)D * T * N + (size_t)d * N + n], any);
        }
    clrnn_build_row_order(D, T, N, tmap, perm, needed);
    memset(seen, 0, sizeof *seen * (size_t)N);
    for (int i = 0; i < N; ++i) {
        assert_true(perm[i] >= 0 && perm[i] < N);
        seen[perm[i]]++;
        if (i > 0) {
            const int a = perm[i - 1], b = perm[i];
            assert_true(steps[a] > steps[b] || (steps[a] == steps[b] && a < b));
        }
    }
    for (int n = 0; n < N; ++n) assert_int_equal(seen[n], 1);
    for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n) assert_int_equal(needed[(size_t)t * N + n], computed(lens, mask, T, n, t));
    free(tmap), free(perm), free(needed), free(seen), free(steps);
}

static void every_direction_and_pattern(void **state) {
    (void)state;
    uint64_t seed = 0x5eed7ab1e;
    int cases = 0;
    for (int dir = 0; dir < 3; ++dir)
        for (int rm = 0; rm < 2; ++rm)
            for (int pattern = 0; pattern < 4; ++pattern)
                for (int shape = 0; shape < 4; ++shape) {
                    const int T = 1 + (int)(tu_next(&seed) % 12), N = 1 + (int)(tu_next(&seed) % 17);
                    clrnn_rnn_desc d = clrnn_rnn_desc_default();
                    d.direction = (clrnn_direction)dir;
                    d.reverse_mode = (clrnn_reverse_mode)rm;
                    const int D = d.direction == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1;
                    int32_t *lens = pattern & 1 ? tu_random_lens(N, T, &seed, shape & 1) : NULL;
                    uint8_t *mask = pattern & 2 ? tu_random_mask(N, T, &seed, N > 2 ? 1 : -1) : NULL;
                    if (lens && N > 1) lens[N / 2] = 0; /* a row with nothing computed */
                    check_case(&d, D, T, N, lens, mask);
                    free(lens), free(mask);
                    cases++;
                }
    print_message("%d cases\n", cases);
}

/* Without lengths or mask every row is full: the batch order. With lengths only: longest first,
 * equal lengths in batch order (the row blocks of finished rows then hold only finished rows). */
static void known_orders(void **state) {
    (void)state;
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    enum { T = 5, N = 6 };
    int32_t tmap[2 * T * N + 2 * N], perm[N], needed[T * N];
    clrnn_build_step_table(&d, 2, T, N, NULL, NULL, tmap);
    clrnn_build_row_order(2, T, N, tmap, perm, needed);
    for (int n = 0; n < N; ++n) assert_int_equal(perm[n], n);
    for (int i = 0; i < T * N; ++i) assert_int_equal(needed[i], 1);
    const int32_t lens[N] = {2, 5, 0, 5, 3, 2}, want[N] = {1, 3, 4, 0, 5, 2};
    clrnn_build_step_table(&d, 2, T, N, lens, NULL, tmap);
    clrnn_build_row_order(2, T, N, tmap, perm, needed);
    for (int n = 0; n < N; ++n) assert_int_equal(perm[n], want[n]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_direction_and_pattern),
        cmocka_unit_test(known_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
