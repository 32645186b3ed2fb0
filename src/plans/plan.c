/* The plan registry: which kernel plans exist and which one a new rnn gets (see plan.h). */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

/* Every plan, by CLRNN_PLAN name. */
static const clrnn_plan_ops *const plans[] = {&clrnn_plan_tiled, &clrnn_plan_generic, &clrnn_plan_gpu};

/* The tiled kernels win on CPU devices, where explicit 16-wide vectors are what makes PoCL fast;
 * on GPUs the gpu plan's local-memory tiles (R reused across a tile's batch rows) replace the
 * generic plan's per-unit kernels; the generic plan stays for other device types. All cover every
 * cell. On a software rasterizer (llvmpipe) the gpu plan: see clrnn_plan_default_why.
 * CLRNN_PLAN=<name> overrides the choice (tests run every plan). */
/* A software rasterizer's compiler (Mesa llvmpipe under Rusticl) takes seconds for each tiled
 * kernel even in their compact build (CLRNN_COMPACT, program.c: 1-5 s, LSTMP and training scans up
 * to ~25 s cold on these 2 loaded cores; minutes each without it), against 0.1-0.8 s for a gpu or
 * generic kernel: there the gpu plan is the default, whatever type the device reports (llvmpipe
 * says CPU). */
const char *clrnn_plan_default_why(const clrnn_context *ctx, const clrnn_plan_ops *plan) {
    const char *name = getenv("CLRNN_PLAN");
    if ((name && *name) || plan != &clrnn_plan_gpu || !clrnn_device_is_rasterizer(ctx)) return NULL;
    return "the default on a software rasterizer (Mesa llvmpipe): its compiler takes seconds for each tiled "
           "kernel, under a second for this plan's";
}

const clrnn_plan_ops *clrnn_plan_choose(const clrnn_context *ctx) {
    const char *name = getenv("CLRNN_PLAN");
    if (name && *name) {
        for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i)
            if (strcmp(name, plans[i]->name) == 0) return plans[i];
        return &clrnn_plan_generic;
    }
    if (clrnn_device_is_rasterizer(ctx)) return &clrnn_plan_gpu;
    return ctx->info.type == CLRNN_DEVICE_TYPE_CPU   ? &clrnn_plan_tiled
           : ctx->info.type == CLRNN_DEVICE_TYPE_GPU ? &clrnn_plan_gpu
                                                     : &clrnn_plan_generic;
}
