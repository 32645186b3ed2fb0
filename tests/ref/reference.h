/* Plain-C reference of clrnn's forward semantics, accumulating in double. A test oracle (used by
 * the tests and the probe's self-check), not the product path: it reads the rnn's imported host
 * weights and takes host tensors only. It shares no code with the device path beyond the weight
 * import, so the time-walking, mask, merge and cell rules are written out a second time here. */
#ifndef CLRNN_REFERENCE_H
#define CLRNN_REFERENCE_H

#include "clrnn.h"

#ifdef __cplusplus
extern "C" {
#endif

clrnn_status clrnn_reference_forward(const clrnn_rnn *rnn, const clrnn_forward_args *args);

#ifdef __cplusplus
}
#endif
#endif
