/* Contexts: open a device by spec (or adopt an application's OpenCL objects), record its
 * capabilities, build the kernels, apply tuned GEMM parameters. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

clrnn_context_params clrnn_context_default_params(void) {
    clrnn_context_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static clrnn_status finish_init(clrnn_context *ctx, const clrnn_context_params *params) {
    clrnn_status st = clrnn_query_device_info(ctx->platform, ctx->device, &ctx->info);
    if (st != CLRNN_OK) return st;
    if (mtx_init(&ctx->lock, mtx_plain) != thrd_success) return clrnn_fail(CLRNN_ERR_INTERNAL, "mtx_init failed");
    st = clrnn_program_init(ctx, params ? params->cache_dir : NULL, params ? params->disable_cache : 0);
    if (st != CLRNN_OK) return st;
    if (!(params && params->disable_tuning)) st = clrnn_gemm_apply_tuning(ctx);
    return st;
}

clrnn_status clrnn_context_create(const clrnn_context_params *params, clrnn_context **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create: out is NULL");
    *out = NULL;
    const char *spec = params && params->device ? params->device : getenv("CLRNN_DEVICE");
    int index = -1;
    clrnn_status st = clrnn_select_device(spec, &index);
    if (st != CLRNN_OK) return st;
    clrnn_device_ref ref;
    if ((st = clrnn_device_at(index, &ref)) != CLRNN_OK) return st;

    clrnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context");
    ctx->platform = ref.platform;
    ctx->device = ref.device;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ref.platform, 0};
    ctx->cl_ctx = clCreateContext(props, 1, &ref.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = clrnn_fail_cl(err, "clCreateContext", NULL);
        free(ctx);
        return st;
    }
    ctx->queue = clCreateCommandQueue(ctx->cl_ctx, ref.device, 0, &err);
    if (err != CL_SUCCESS) {
        st = clrnn_fail_cl(err, "clCreateCommandQueue", NULL);
        clReleaseContext(ctx->cl_ctx);
        free(ctx);
        return st;
    }
    if ((st = finish_init(ctx, params)) != CLRNN_OK) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", clrnn_last_error());
        clrnn_context_destroy(ctx);
        clrnn_fail(st, "%s", strchr(saved, ':') ? strchr(saved, ':') + 2 : saved);
        return st;
    }
    ctx->info.index = index;
    *out = ctx;
    return CLRNN_OK;
}

clrnn_status clrnn_context_create_from_cl(cl_context context, cl_device_id device, cl_command_queue queue,
                                          const clrnn_context_params *params, clrnn_context **out) {
    clrnn_clear_error();
    if (!out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create_from_cl: out is NULL");
    *out = NULL;
    if (!context || !device || !queue)
        return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_create_from_cl: context, device and queue are required");
    cl_context qctx = NULL;
    cl_device_id qdev = NULL;
    cl_command_queue_properties qprops = 0;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL);
    if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL);
    if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qprops, &qprops, NULL);
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetCommandQueueInfo", "checking the adopted queue");
    if (qctx != context || qdev != device)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "the queue does not belong to the given context and device");
    if (qprops & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return clrnn_fail(CLRNN_ERR_UNSUPPORTED, "clrnn needs an in-order command queue");
    cl_platform_id platform = NULL;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);

    clrnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "context");
    clRetainContext(context);
    clRetainCommandQueue(queue);
    ctx->platform = platform;
    ctx->device = device;
    ctx->cl_ctx = context;
    ctx->queue = queue;
    clrnn_status st = finish_init(ctx, params);
    if (st != CLRNN_OK) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", clrnn_last_error());
        clrnn_context_destroy(ctx);
        clrnn_fail(st, "%s", strchr(saved, ':') ? strchr(saved, ':') + 2 : saved);
        return st;
    }
    *out = ctx;
    return CLRNN_OK;
}

void clrnn_context_destroy(clrnn_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    clrnn_program_release(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl_ctx) clReleaseContext(ctx->cl_ctx);
    mtx_destroy(&ctx->lock);
    free(ctx);
}

clrnn_status clrnn_context_device_info(const clrnn_context *ctx, clrnn_device_info *info) {
    if (!ctx || !info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_device_info: NULL argument");
    *info = ctx->info;
    return CLRNN_OK;
}

clrnn_status clrnn_context_build_info(const clrnn_context *ctx, clrnn_build_info *info) {
    if (!ctx || !info) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_build_info: NULL argument");
    *info = ctx->build;
    return CLRNN_OK;
}

cl_context clrnn_context_cl_context(const clrnn_context *ctx) { return ctx ? ctx->cl_ctx : NULL; }
cl_command_queue clrnn_context_cl_queue(const clrnn_context *ctx) { return ctx ? ctx->queue : NULL; }
cl_device_id clrnn_context_cl_device(const clrnn_context *ctx) { return ctx ? ctx->device : NULL; }

clrnn_status clrnn_context_finish(clrnn_context *ctx) {
    if (!ctx) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_finish: ctx is NULL");
    cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLRNN_OK : clrnn_fail_cl(err, "clFinish", NULL);
}
