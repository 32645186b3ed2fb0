/* Which of the tiled plan's training paths an rnn should take, written out from the plans' rules
 * (src/plans/plan_tiled_train.c, plan_tiled_bwd.c) so that test_backward and test_grad_golden can
 * check the library took them. */
#ifndef CLRNN_TEST_TRAIN_PATHS_H
#define CLRNN_TEST_TRAIN_PATHS_H

#include "core/launch.h"
#include "internal.h"
#include "plans/plan.h"

#include <stdlib.h>
#include <string.h>

/* The fused backward scan: no projection, no recurrent dropout, nothing with
 * CLRNN_TRAIN_BWD=portable or under another plan; on a device with a loop bound (a software
 * rasterizer, or CLRNN_LOOP_LIMIT set) only where its declared loops for T steps of N rows
 * (clrnn_tiled_bwd_scan_loops) fit its budget (ctx->loop_budget: clrnn_loop_fits). */
static inline int tu_fused_bwd_expected(const clrnn_rnn *r, int T, int N) {
    char plan[512];
    const char *env = getenv("CLRNN_TRAIN_BWD");
    const clrnn_rnn_desc *d = &r->desc;
    if (strncmp(clrnn_rnn_plan(r, plan, sizeof plan), "tiled", 5) != 0 || (env && !strcmp(env, "portable"))) return 0;
    if (d->proj_size > 0 || d->recurrent_dropout > 0) return 0;
    return clrnn_loop_fits(r->ctx, clrnn_tiled_bwd_scan_loops(r, T, N));
}

/* The text clrnn_rnn_plan() must hold for the training forward under the tiled plan: its own tiled
 * scan unless the rnn has an option that scan leaves to the portable forward (dropout between
 * layers: on the layers below the last). NULL under another plan; *plan gets the plan's text. */
static inline const char *tu_train_forward_want(clrnn_rnn *r, const clrnn_rnn_desc *d, char *plan, size_t cap) {
    clrnn_rnn_plan(r, plan, cap);
    if (strncmp(plan, "tiled", 5) != 0) return NULL;
    const int portable = d->proj_size > 0 || d->input_dropout > 0 || d->recurrent_dropout > 0;
    const int below = !portable && d->dropout > 0 && d->num_layers > 1;
    return portable ? "training forward: portable (" : below ? ", portable below it (" : "training forward: tiled scan";
}

#endif
