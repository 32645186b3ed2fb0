/* Placeholder for training's parameter state (train/train.h): until the training engine keeps the
 * trainable values on the device, the host copy (rnn->lw, dense_W, dense_b) is the only copy and is
 * always current. The engine's own params.c replaces this file. */
#include "train/train.h"

clrnn_status clrnn_rnn_sync_host_params(clrnn_rnn *r) {
    (void)r;
    return CLRNN_OK;
}
