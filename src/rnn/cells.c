/* The cell table (see cells.h). Internal gate order: LSTM i, f, g, o; GRU z, r, n; RNN one gate;
 * peepholes i, f, o. */
#include "cells.h"

#include "cl/abi.h"

#define NO_KERNEL CLRNN_K_COUNT_ /* the second launch of a one-launch step */

static const clrnn_cell_info cells[] = {
    [CLRNN_CELL_RNN] =
        {
            .name = "RNN", .lower = "rnn", .gates = 1, .slots = 1,
            .default_act = {CLRNN_ACT_TANH, CLRNN_ACT_TANH, CLRNN_ACT_TANH},
            .forget_gate = -1,
            .gate_order = {{0}, {0}, {0}, {0}},
            /* one gate: 64 units a block, spread over 4 slots */
            .tiled_UB = 64, .tiled_slots = 4, .tiled_xproj = CLRNN_K_xproj_tiled_4,
            .kernels = {{.rb_apart = -1,
                         .generic = {CLRNN_K_rnn_step, NO_KERNEL},
                         .tiled_scan = {CLRNN_K_rnn_scan_tiled_1, CLRNN_K_rnn_scan_tiled_6},
                         .tiled_step = {{CLRNN_K_rnn_step_tiled_1, CLRNN_K_rnn_step_tiled_6}, {NO_KERNEL, NO_KERNEL}}}},
        },
    [CLRNN_CELL_LSTM] =
        {
            .name = "LSTM", .lower = "lstm", .gates = 4, .slots = 3,
            /* f (gates), g (cell input), h (cell output) */
            .default_act = {CLRNN_ACT_SIGMOID, CLRNN_ACT_TANH, CLRNN_ACT_TANH},
            .has_c = 1, .options = CLRNN_CELL_OPT_LSTM, .forget_gate = 1,
            /* ONNX i, o, f, c; PyTorch and Keras i, f, g, o; TF1 i, j(g), f, o */
            .gate_order = {{0, 2, 3, 1}, {0, 1, 2, 3}, {0, 1, 2, 3}, {0, 2, 1, 3}},
            /* ONNX stores i, o, f; TF1 w_i_diag, w_f_diag, w_o_diag (no other framework has them) */
            .peep_order = {{0, 2, 1}, {0, 1, 2}, {0, 1, 2}, {0, 1, 2}},
            .tiled_UB = 16, .tiled_slots = 4, .tiled_xproj = CLRNN_K_xproj_tiled_4,
            .kernels =
                {{.rb_apart = -1,
                  .generic = {CLRNN_K_lstm_step, NO_KERNEL},
                  .tiled_scan = {CLRNN_K_lstm_scan_tiled_1, CLRNN_K_lstm_scan_tiled_6},
                  .tiled_step = {{CLRNN_K_lstm_step_tiled_1, CLRNN_K_lstm_step_tiled_6}, {NO_KERNEL, NO_KERNEL}}},
                 /* proj_size > 0: the LSTM step, then the projection */
                 {.two_launch = 1, .rb_apart = -1,
                  .generic = {CLRNN_K_lstm_step, CLRNN_K_lstm_proj_step},
                  .tiled_scan = {CLRNN_K_lstmp_scan_tiled_1, CLRNN_K_lstmp_scan_tiled_6},
                  .tiled_step = {{CLRNN_K_lstm_step_tiled_1, CLRNN_K_lstm_step_tiled_6},
                                 {CLRNN_K_proj_step_tiled_1, CLRNN_K_proj_step_tiled_6}}}},
        },
    [CLRNN_CELL_GRU] =
        {
            .name = "GRU", .lower = "gru", .gates = 3, .slots = 2,
            /* f (gates), g (candidate) */
            .default_act = {CLRNN_ACT_SIGMOID, CLRNN_ACT_TANH, CLRNN_ACT_TANH},
            .options = CLRNN_CELL_OPT_LBR, .forget_gate = -1,
            /* ONNX, Keras z, r, n; PyTorch r, z, n; TF1's gate kernel r, u (n: the CANDIDATE_* roles) */
            .gate_order = {{0, 1, 2}, {1, 0, 2}, {0, 1, 2}, {1, 0, -1}},
            .tiled_UB = 16, .tiled_slots = 3, .tiled_xproj = CLRNN_K_xproj_tiled_3,
            .kernels =
                {/* reset before: the gates (z, r * h), then the output */
                 {.two_launch = 1, .uses_z = 1, .rb_apart = -1,
                  .generic = {CLRNN_K_gru_gates_step, CLRNN_K_gru_out_step},
                  .tiled_scan = {CLRNN_K_gru_scan_tiled_1, CLRNN_K_gru_scan_tiled_8},
                  .tiled_step = {{CLRNN_K_gru_gates_step_tiled_1, CLRNN_K_gru_gates_step_tiled_8},
                                 {CLRNN_K_gru_out_step_tiled_1, CLRNN_K_gru_out_step_tiled_8}}},
                 /* linear_before_reset: one launch, n's recurrent bias inside r * (R h + Rb) */
                 {.rb_apart = 2,
                  .generic = {CLRNN_K_gru_lbr_step, NO_KERNEL},
                  .tiled_scan = {CLRNN_K_gru_lbr_scan_tiled_1, CLRNN_K_gru_lbr_scan_tiled_8},
                  .tiled_step = {{CLRNN_K_gru_lbr_step_tiled_1, CLRNN_K_gru_lbr_step_tiled_8},
                                 {NO_KERNEL, NO_KERNEL}}}},
        },
};

const clrnn_cell_info *clrnn_cell_info_of(clrnn_cell cell) {
    return (unsigned)cell < sizeof cells / sizeof cells[0] ? &cells[cell] : NULL;
}

int clrnn_cell_variant(const clrnn_rnn_desc *d) {
    return (d->cell == CLRNN_CELL_GRU && d->linear_before_reset) || (d->cell == CLRNN_CELL_LSTM && d->proj_size > 0);
}

const clrnn_cell_kernels *clrnn_cell_kernels_for(const clrnn_rnn_desc *d) {
    return &cells[d->cell].kernels[clrnn_cell_variant(d)];
}

int clrnn_cell_gates(clrnn_cell cell) {
    const clrnn_cell_info *c = clrnn_cell_info_of(cell);
    return c ? c->gates : 1;
}

int clrnn_lstm_flags(const clrnn_rnn_desc *d) {
    return (d->peephole ? LSTM_PEEPHOLE : 0) | (d->input_forget ? LSTM_CIFG : 0) | (d->proj_size > 0 ? LSTM_PROJ : 0);
}

float clrnn_cell_folded_bias(const clrnn_rnn_desc *d, const clrnn_layer_weights *w, int g, int H, int j) {
    const size_t k = (size_t)g * H + j;
    float b = w->Wb[k] + (g == clrnn_cell_kernels_for(d)->rb_apart ? 0.0f : w->Rb[k]);
    if (g == cells[d->cell].forget_gate) b += d->forget_bias;
    return b;
}
