/* TEMPORARY, for the t13-glue branch only: the rnn's side of src/train/train.h is implemented by the
 * training core (another branch). Until it is merged, an optimizer step over an rnn fails cleanly
 * here. Delete this file (and its line in CMakeLists.txt) when the core's definitions land: a
 * duplicate-symbol link error says so. */
#include "train/train.h"

clrnn_status clrnn_rnn_param_bufs(clrnn_rnn *r, clrnn_param_buf *out, int cap, int *n) {
    (void)r, (void)out, (void)cap;
    if (n) *n = 0;
    return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "the rnn's trainable device buffers are not in this build yet");
}

void clrnn_rnn_params_updated(clrnn_rnn *r) { (void)r; }
