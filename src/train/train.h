/* Training's internal seams: what the optimizer, the exporter and the tools need of an rnn's
 * trainable state. The trainable values live on the device in clrnn's internal layout (the layout
 * of clrnn_layer_weights: gates in internal order, W [G*H, I], R [G*H, Hr], ...), beside their
 * gradients; the host copy (rnn->lw) and the plan's packed weights follow them lazily. */
#ifndef CLRNN_TRAIN_H
#define CLRNN_TRAIN_H

#include "internal.h"

/* One trainable tensor: its device value and gradient (count floats each, from element 0). */
typedef struct clrnn_param_buf {
    cl_mem value, grad;
    size_t count;
    const char *what; /* "layer 0 dir 1 W", for messages */
} clrnn_param_buf;

#define CLRNN_MAX_PARAM_BUFS (CLRNN_MAX_LAYERS * 2 * 6 + 2)

/* The rnn's trainable tensors, in a fixed order (every call the same), creating the device values
 * from the host weights on first use. *n = how many; CLRNN_ERR_MISSING_WEIGHTS if weights are unset.
 * The order: for each layer*D + dir, W [G*H, I_l], R [G*H, Hr], Wb, Rb [G*H], then P [3H] (peepholes
 * set) and proj [Hr, H] (projection); then dense W [O, Hm], dense b [O] (dense layer). out may be
 * NULL (just *n). Takes the context lock: call it without holding it. The buffers stay valid while
 * the rnn lives; gradients are written by clrnn_rnn_backward_weights, zeros before. */
clrnn_status clrnn_rnn_param_bufs(clrnn_rnn *r, clrnn_param_buf *out, int cap, int *n);
/* An optimizer changed the device values: the host copy and the plan's weights are now stale. */
void clrnn_rnn_params_updated(clrnn_rnn *r);
/* Brings the host copy (rnn->lw, dense_W, dense_b) up to date with the device values (a no-op unless
 * clrnn_rnn_params_updated was called since). Takes the context lock. */
clrnn_status clrnn_rnn_sync_host_params(clrnn_rnn *r);

/* The number the next forward_train call takes (its dropout masks): tests replay a call with it. */
void clrnn_train_set_call(clrnn_rnn *r, uint32_t call);

/* The portable training implementation (train.c) both plans' training slots point to (plan.h:
 * forward_train_layer, scan_layer_backward, weight_gradient). */
clrnn_status clrnn_train_portable_forward_layer(clrnn_rnn *r, clrnn_reserve *res, int l);
clrnn_status clrnn_train_portable_backward_layer(clrnn_rnn *r, clrnn_reserve *res, int l);
clrnn_status clrnn_train_portable_weight_gradient(clrnn_rnn *r, clrnn_reserve *res, int l, float beta);

/* What a plan's own backward scan needs of layer l, direction d (train.c fills it: the reserve's
 * layout stays train.c's). The buffers are the ones the portable backward uses, so a plan that
 * writes what it writes (dG by time, dh0/dc0 in dh[T & 1] and dc, carry) leaves the rest unchanged:
 * the state gradient's ping-pong dh[0], dh[1] [D, N, Hr] (dh[0] holds dhn on entry), dc [D, N, H]
 * (LSTM), carry [N, Hr], the step's gate gradients dg_step [N, G*H], d_rh [N, H] (the reset-before
 * GRU's (r * h_prev) gradient), dgx/dgh the gate gradients by time [T*N, G*H] (dgh: GRU lbr's h
 * side, else dgx), dy the layer's output gradient [T*N, D*Hr] (has_dy), res the reserve rows
 * [T*N, S], R [G*H, Hr] and P the trainable values, acts the activation table. The kernels are the
 * training program's tr_pack_r, tr_bwd_scan_1 and tr_bwd_scan_6 (cl/train/bwd_tiled.cl). */
typedef struct clrnn_train_bwd_view {
    int T, N, S, has_dy;
    uint32_t call;
    cl_mem tmap, res, dgx, dgh, dg_step, d_rh, dh[2], dc, carry, dy, R, P, acts;
    cl_kernel pack_r, scan[2];
} clrnn_train_bwd_view;
void clrnn_train_bwd_view_of(clrnn_rnn *r, clrnn_reserve *res, int l, int d, clrnn_train_bwd_view *out);
/* Layer l's input gradient after its reverse scan (the portable backward's last part: dG W summed
 * over directions into the lower layer's output gradient; nothing when it is not needed). */
clrnn_status clrnn_train_portable_input_gradient(clrnn_rnn *r, clrnn_reserve *res, int l);
/* What a plan's own training forward of layer l reads and writes (train.c's reserve, its layout the
 * contract of cl/train/train.cl that the portable backward reads). Context lock held, inside
 * forward_train_layer. */
typedef struct clrnn_train_fwd_io {
    int T, N, S;              /* steps, batch rows, floats per reserve row */
    const int32_t *tmap_host; /* [D*T*N] the step table (host copy; the device's in tmap) */
    cl_mem tmap;
    cl_mem x;                 /* [T*N, I_l] the layer's input, time-major */
    cl_mem y;                 /* [T*N, D*Hr] the layer's output */
    cl_mem h, c;              /* [D, N, Hr], [D, N, H] (LSTM): the initial states in, the final ones out */
    cl_mem acts;              /* [2][ACT_SLOTS][ACT_PARAMS] the activations as the kernels read them */
    cl_mem res[2];            /* [T*N, S] per direction: the reserve rows */
    cl_mem W[2], R[2], Wb[2], Rb[2], P[2]; /* the trainable values per direction (P: NULL without peepholes) */
} clrnn_train_fwd_io;
void clrnn_train_fwd_io_of(const clrnn_rnn *r, const clrnn_reserve *res, int l, clrnn_train_fwd_io *io);

/* The end of a training call whose work is enqueued (clrnn.h, Training: "Completion"): waits for
 * it when the call reads or writes the caller's host memory (host_io) or the trace needs its
 * device times; otherwise flushes and returns, later calls on the context's in-order queue seeing
 * the results. `what` names the call in an error. */
clrnn_status clrnn_train_end_call(clrnn_context *ctx, int host_io, const char *what);

#endif
