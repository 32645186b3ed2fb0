/* The plan registry: which kernel plans exist and which one a new rnn gets (see plan.h). */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

/* Every plan, by CLRNN_PLAN name. */
static const clrnn_plan_ops *const plans[] = {&clrnn_plan_tiled, &clrnn_plan_generic, &clrnn_plan_gpu};

/* The tiled kernels win on CPU devices, where explicit 16-wide vectors are what makes PoCL fast;
 * on GPUs the gpu plan's local-memory tiles (R reused across a tile's batch rows) replace the
 * generic plan's per-unit kernels; the generic plan stays for other device types. All cover every
 * cell. CLRNN_PLAN=<name> overrides the choice
 * (tests run every plan). */
const clrnn_plan_ops *clrnn_plan_choose(const clrnn_context *ctx) {
    const char *name = getenv("CLRNN_PLAN");
    if (name && *name) {
        for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i)
            if (strcmp(name, plans[i]->name) == 0) return plans[i];
        return &clrnn_plan_generic;
    }
    return ctx->info.type == CLRNN_DEVICE_TYPE_CPU   ? &clrnn_plan_tiled
           : ctx->info.type == CLRNN_DEVICE_TYPE_GPU ? &clrnn_plan_gpu
                                                     : &clrnn_plan_generic;
}
