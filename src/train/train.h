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

#endif
