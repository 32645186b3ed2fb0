/* The cell table (src/rnn/cells.c) is consistent row by row: what a new cell's row must satisfy before
 * any kernel runs it (gates, slots, defaults, gate orders, bias folding, each plan's kernels and
 * their MR pairs) and the bias folding both plans upload. No device needed. */
#include "test_util.h"

#include "cl/abi.h"
#include "rnn/cells.h"

static int valid_kernel(clrnn_kernel_id id) { return (unsigned)id < CLRNN_K_COUNT_; }

/* "x_1" and "x_<MR>": the two MR forms of one kernel, the wide one of the cell's packing (TILED_MR_3 or
 * TILED_MR_4 rows per work-item, the row count plan_tiled.c blocks the batch by). */
static void assert_mr_pair(const clrnn_kernel_id pair[2], int slots) {
    assert_true(valid_kernel(pair[0]) && valid_kernel(pair[1]));
    const int mr = slots == 3 ? TILED_MR_3 : TILED_MR_4;
    assert_true(mr >= 2 && mr <= 9 && mr * slots <= 24); /* 24 of the 32 vector registers hold accumulators */
    char wide[4];
    snprintf(wide, sizeof wide, "_%d", mr);
    const char *a = clrnn_kernel_name(pair[0]), *b = clrnn_kernel_name(pair[1]);
    const size_t n = strlen(a);
    assert_true(n > 2 && strlen(b) == n);
    assert_string_equal(a + n - 2, "_1");
    assert_string_equal(b + n - 2, wide);
    assert_memory_equal(a, b, n - 2);
}

static void rows_are_consistent(void **state) {
    (void)state;
    for (int c = 0; c <= CLRNN_CELL_GRU; ++c) {
        const clrnn_cell_info *cell = clrnn_cell_info_of((clrnn_cell)c);
        assert_non_null(cell);
        assert_non_null(cell->name);
        assert_non_null(cell->lower);
        const int G = cell->gates;
        assert_true(G >= 1 && G <= 4);
        assert_int_equal(clrnn_cell_gates((clrnn_cell)c), G);
        assert_true(cell->slots >= 1 && cell->slots <= ACT_SLOTS);
        for (int s = 0; s < ACT_SLOTS; ++s)
            assert_true(cell->default_act[s] > CLRNN_ACT_DEFAULT && cell->default_act[s] < CLRNN_ACT_COUNT_);
        assert_true(cell->forget_gate >= -1 && cell->forget_gate < G);
        /* each framework's order is a permutation of the gates; only TF1 may leave one to another role */
        for (int fw = CLRNN_FRAMEWORK_ONNX; fw <= CLRNN_FRAMEWORK_TF1; ++fw) {
            int seen = 0;
            for (int g = 0; g < G; ++g) {
                const int o = cell->gate_order[fw][g];
                assert_true(o >= (fw == CLRNN_FRAMEWORK_TF1 ? -1 : 0) && o < G);
                if (o >= 0) {
                    assert_false(seen & (1 << o));
                    seen |= 1 << o;
                }
            }
        }
        if (cell->options & CLRNN_CELL_OPT_LSTM) { /* peepholes i, f, o */
            assert_true(cell->has_c);
            for (int fw = CLRNN_FRAMEWORK_ONNX; fw <= CLRNN_FRAMEWORK_TF1; ++fw) {
                int seen = 0;
                for (int q = 0; q < 3; ++q) seen |= 1 << cell->peep_order[fw][q];
                assert_int_equal(seen, 7);
            }
        }
        /* tiled: every gate has its slot, or one gate spreads UB units over UB / 16 slots */
        assert_true(cell->tiled_UB == 16 ? cell->tiled_slots == G : G == 1 && cell->tiled_UB == 16 * cell->tiled_slots);
        char xproj[32];
        snprintf(xproj, sizeof xproj, "xproj_tiled_%d", cell->tiled_slots);
        assert_string_equal(clrnn_kernel_name(cell->tiled_xproj), xproj);
        /* variant 1 exists where an option selects it */
        for (int v = 0; v < (cell->options ? 2 : 1); ++v) {
            const clrnn_cell_kernels *k = &cell->kernels[v];
            assert_true(k->rb_apart >= -1 && k->rb_apart < G);
            assert_true(!k->uses_z || k->two_launch);
            assert_true(valid_kernel(k->generic[0]));
            assert_int_equal(valid_kernel(k->generic[1]), k->two_launch);
            assert_mr_pair(k->tiled_scan, cell->tiled_slots);
            assert_mr_pair(k->tiled_step[0], cell->tiled_slots);
            if (k->two_launch)
                assert_mr_pair(k->tiled_step[1], cell->tiled_slots);
            else
                assert_false(valid_kernel(k->tiled_step[1][0]) || valid_kernel(k->tiled_step[1][1]));
        }
    }
    assert_null(clrnn_cell_info_of((clrnn_cell)(CLRNN_CELL_GRU + 1)));
    assert_null(clrnn_cell_info_of((clrnn_cell)-1));
    assert_int_equal(clrnn_cell_gates((clrnn_cell)(CLRNN_CELL_GRU + 1)), 1);
}

/* The variant follows the option that selects it, and the row's kernels come with it. */
static void variant_follows_desc(void **state) {
    (void)state;
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    const struct {
        clrnn_cell cell;
        int lbr, proj, variant;
    } cases[] = {{CLRNN_CELL_RNN, 0, 0, 0}, {CLRNN_CELL_LSTM, 0, 0, 0}, {CLRNN_CELL_LSTM, 0, 8, 1},
                 {CLRNN_CELL_GRU, 0, 0, 0}, {CLRNN_CELL_GRU, 1, 0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        d.cell = cases[i].cell, d.linear_before_reset = cases[i].lbr, d.proj_size = cases[i].proj;
        assert_int_equal(clrnn_cell_variant(&d), cases[i].variant);
        assert_ptr_equal(clrnn_cell_kernels_for(&d), &clrnn_cell_info_of(d.cell)->kernels[cases[i].variant]);
    }
    /* the LSTM flags name their options */
    d.cell = CLRNN_CELL_LSTM, d.linear_before_reset = 0, d.proj_size = 0;
    assert_int_equal(clrnn_lstm_flags(&d), 0);
    d.peephole = 1, d.input_forget = 1, d.proj_size = 4;
    assert_int_equal(clrnn_lstm_flags(&d), LSTM_PEEPHOLE | LSTM_CIFG | LSTM_PROJ);
}

/* Bias folding per cell: Wb + Rb, Rb kept apart for the lbr GRU's n gate, forget_bias on the LSTM's f. */
static void bias_folding(void **state) {
    (void)state;
    enum { H = 3 };
    float Wb[4 * H], Rb[4 * H];
    uint64_t seed = 7;
    tu_fill(Wb, 4 * H, &seed, -1, 1);
    tu_fill(Rb, 4 * H, &seed, -1, 1);
    clrnn_layer_weights w = {0};
    w.Wb = Wb, w.Rb = Rb;
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    for (int c = 0; c <= CLRNN_CELL_GRU; ++c)
        for (int lbr = 0; lbr < 2; ++lbr) {
            if (lbr && c != CLRNN_CELL_GRU) continue;
            d.cell = (clrnn_cell)c, d.linear_before_reset = lbr;
            d.forget_bias = c == CLRNN_CELL_LSTM ? 0.75f : 0.0f;
            for (int g = 0; g < clrnn_cell_gates(d.cell); ++g)
                for (int j = 0; j < H; ++j) {
                    const int k = g * H + j;
                    float want = Wb[k] + ((lbr && g == 2) ? 0.0f : Rb[k]);
                    if (c == CLRNN_CELL_LSTM && g == 1) want += 0.75f;
                    assert_float_equal(clrnn_cell_folded_bias(&d, &w, g, H, j), want, 0.0f);
                }
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_are_consistent),
        cmocka_unit_test(variant_follows_desc),
        cmocka_unit_test(bias_folding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
