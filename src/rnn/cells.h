/* The cells: one row of clrnn_cells (cells.c) per clrnn_cell holds what the engine knows of it —
 * gates, activation slots and their defaults, state kinds, options, each framework's gate order,
 * how its biases fold, and the kernels each plan runs for it. Every other file reads the row, so a
 * new cell is a row here, its kernels in cl/ (with their lines in kernel_list.h and their argument
 * binding in each plan file) and a case in the reference (tests/ref/reference.c). */
#ifndef CLRNN_CELLS_H
#define CLRNN_CELLS_H

#include "internal.h"

/* Options of clrnn_rnn_desc a cell accepts (clrnn_cell_info.options). */
#define CLRNN_CELL_OPT_LSTM 1u /* peephole, input_forget, proj_size, cell_clip, proj_clip, forget_bias */
#define CLRNN_CELL_OPT_LBR 2u  /* linear_before_reset */

/* The kernels of one variant of a cell (an option that changes the step: the GRU's
 * linear_before_reset, the LSTM's projection), per plan. */
typedef struct clrnn_cell_kernels {
    int two_launch; /* a step is two launches (gates then output, LSTM then projection) */
    int uses_z;     /* the two launches pass the update gate through ws.zbuf (reset-before GRU) */
    int rb_apart;   /* gate whose recurrent bias is not folded into the x-side bias (applied
                     * inside r * (R h + Rb): the lbr GRU's n), or -1 */
    clrnn_kernel_id generic[2];      /* generic plan: the step's launches */
    clrnn_kernel_id tiled_scan[2];   /* tiled plan: persistent scan, by MR (1, TILED_MR_<slots> rows) */
    clrnn_kernel_id tiled_step[2][2]; /* tiled plan: [launch][MR] */
} clrnn_cell_kernels;

typedef struct clrnn_cell_info {
    const char *name;  /* in messages: "LSTM" */
    const char *lower; /* in plan descriptions: "lstm" */
    int gates;         /* G: gate blocks of W, R and the biases, in the internal order */
    int slots;         /* activation slots per direction */
    clrnn_activation_kind default_act[3]; /* what CLRNN_ACT_DEFAULT means in each slot */
    int has_c;         /* a cell state c next to h (c0, cn, ws.c) */
    unsigned options;  /* CLRNN_CELL_OPT_* */
    int forget_gate;   /* gate that desc.forget_bias adds to, or -1 */
    int gate_order[4][4]; /* [clrnn_framework][internal gate]: the framework's gate index (-1:
                           * another role holds it) */
    int peep_order[4][3]; /* [clrnn_framework][internal peephole i, f, o]: the framework's index */
    int tiled_UB, tiled_slots;     /* tiled plan: units per block, 16-lane slots per block */
    clrnn_kernel_id tiled_xproj;   /* tiled plan: its input projection for that slot count */
    clrnn_cell_kernels kernels[2]; /* [clrnn_cell_variant] */
} clrnn_cell_info;

/* The flags argument of the LSTM step kernels (LSTM_* in cl/abi.h). */
int clrnn_lstm_flags(const clrnn_rnn_desc *desc);
/* The x-side bias the kernels add to unit j of gate g (w->Wb, w->Rb are [G*H]): Wb + Rb, Rb left out
 * for the gate whose recurrent bias stays apart, plus desc->forget_bias on the forget gate. */
float clrnn_cell_folded_bias(const clrnn_rnn_desc *desc, const clrnn_layer_weights *w, int g, int H, int j);
/* The row of a cell, NULL for a value that is no clrnn_cell. */
const clrnn_cell_info *clrnn_cell_info_of(clrnn_cell cell);
/* 1 when the descriptor selects its cell's variant (linear_before_reset, proj_size > 0), else 0. */
int clrnn_cell_variant(const clrnn_rnn_desc *desc);
/* The kernels for desc (its cell's row, its variant). */
const clrnn_cell_kernels *clrnn_cell_kernels_for(const clrnn_rnn_desc *desc);

#endif
