/* The dropout RNG (cl/train/rng.h, shared by the OpenCL kernels and the float64 reference):
 * Philox4x32-10 against Random123's published known-answer vectors (kat_vectors, the three
 * "philox4x32 10" lines), and clrnn_dropout_keep's keep rate and stream separation. No device needed;
 * the device's draws are the reference's through test_backward's dropout cases. */
#include "test_util.h"

#include "cl/train/rng.h"

static void philox_known_answers(void **state) {
    (void)state;
    static const uint32_t kat[3][10] = {
        /* counter[4], key[2], expected[4] */
        {0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u,
         0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
         0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
         0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u},
    };
    for (int v = 0; v < 3; ++v) {
        uint32_t c[4] = {kat[v][0], kat[v][1], kat[v][2], kat[v][3]};
        clrnn_philox4x32(c, kat[v][4], kat[v][5]);
        for (int w = 0; w < 4; ++w) assert_int_equal(c[w], kat[v][6 + w]);
        assert_int_equal(clrnn_philox_u32(kat[v][0], kat[v][1], kat[v][2], kat[v][3], kat[v][4], kat[v][5]),
                         kat[v][6]);
    }
}

/* Kept with probability 1 - p: over 200,000 draws the count lies within 6 standard deviations of
 * the binomial mean (a false failure is ~1e-9); p = 0 keeps all. Streams, layers, directions, steps
 * and calls draw different masks. */
static void keep_rate_and_streams(void **state) {
    (void)state;
    const float rates[] = {0.0f, 0.1f, 0.5f, 0.9f};
    const uint32_t n = 200000;
    for (size_t r = 0; r < sizeof rates / sizeof *rates; ++r) {
        const double p = rates[r];
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n; ++i) kept += (uint32_t)clrnn_dropout_keep(12345u, 678u, 3u, 1, 0, RNG_STREAM_OUTPUT, i, 7u, rates[r]);
        const double mean = n * (1 - p), sd = sqrt(n * p * (1 - p));
        if (p == 0) assert_int_equal(kept, n);
        else if (fabs(kept - mean) > 6 * sd) fail_msg("p=%.1f: kept %u of %u, expected %.0f +- %.0f", p, kept, n, mean, 6 * sd);
    }
    /* each coordinate changes the mask: fewer than 60 % agreement between masks at p = 0.5 */
    const uint32_t m = 4096;
    for (int coord = 0; coord < 6; ++coord) {
        uint32_t same = 0;
        for (uint32_t i = 0; i < m; ++i) {
            const int a = clrnn_dropout_keep(1u, 2u, 0u, 0, 0, RNG_STREAM_INPUT, i, 0u, 0.5f);
            const int b = clrnn_dropout_keep(coord == 0 ? 9u : 1u, 2u, coord == 1 ? 1u : 0u, coord == 2 ? 1 : 0,
                                             coord == 3 ? 1 : 0, coord == 4 ? RNG_STREAM_INPUT + 1 : RNG_STREAM_INPUT, i,
                                             coord == 5 ? 1u : 0u, 0.5f);
            same += a == b;
        }
        if (same > m * 6 / 10) fail_msg("coordinate %d: %u of %u draws agree", coord, same, m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(philox_known_answers),
        cmocka_unit_test(keep_rate_and_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
