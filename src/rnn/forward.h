/* The forward driver's helpers that training (src/train) shares: moving blocks between the
 * device and the user's tensors, initial states, the final-layer outputs, the argument checks. */
#ifndef CLRNN_FORWARD_H
#define CLRNN_FORWARD_H

#include "internal.h"

/* A [rows, width] block of floats between a device buffer (rows dev_stride floats apart, from byte
 * dev_off) and a tensor (packed rows from byte t_off), either way. */
clrnn_status clrnn_move_block(clrnn_context *ctx, int to_device, cl_mem dev, size_t dev_off, const clrnn_tensor *t,
                              size_t t_off, size_t rows, size_t width, size_t dev_stride);
/* An initial state (or a gradient slab) into the device layout, zeros when t is not given. */
clrnn_status clrnn_load_state(clrnn_context *ctx, cl_mem dst, const clrnn_tensor *t, size_t t_off, size_t rows,
                              size_t width, size_t stride);

/* The buffers clrnn_emit_outputs works with: the step table, the dense layer's weights (the plan's
 * denseT [Hm, O], dense_w_trans = 0; or training's [O, Hm], dense_w_trans = 1) and bias, where the
 * merged output goes before the dense layer ([rows, Hm]), host staging for y. */
typedef struct clrnn_out_bufs {
    cl_mem tmap;
    cl_mem dense_w;
    int dense_w_trans;
    cl_mem dense_b;
    cl_mem dense_in;
    cl_mem y_out;
} clrnn_out_bufs;
/* Last layer → user layout (merge, reversed order, optional dense). `src` is the layer output
 * [T, N, D, Hr] or, for last_only, the final states [D, N, Hr] (strides st_t, st_n, st_d).
 * *merged (may be NULL): the buffer holding the merged output [rows, Hm] (the dense layer's
 * input): src itself when no merge pass was needed, else ob->dense_in, y or staging. */
clrnn_status clrnn_emit_outputs(clrnn_rnn *r, const clrnn_forward_args *args, const clrnn_out_bufs *ob, cl_mem src,
                                int T_out, int st_t, int st_n, int st_d, int has_any_off, int rev_mask, int batch_major,
                                cl_mem *merged);

/* The rev_mask of clrnn_emit_outputs for the full sequence: bit d set when direction d's outputs go
 * out in reverse step order (reverse_order = CLRNN_REVERSE_OUTPUT_REVERSED). */
int clrnn_output_rev_mask(const clrnn_rnn *r);

/* clrnn_rnn_forward's checks of args (before any device work). */
clrnn_status clrnn_forward_check_args(const clrnn_rnn *r, const clrnn_forward_args *a);
/* A tensor argument: not both host and mem, present when required, offset a multiple of 4. */
clrnn_status clrnn_check_tensor(const clrnn_tensor *t, const char *name, int required);
/* A device tensor holds at least `bytes` after its offset (host tensors pass). */
clrnn_status clrnn_check_mem_size(const clrnn_tensor *t, size_t bytes, const char *name);

#endif
