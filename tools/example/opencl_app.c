/* An OpenCL 3.0 application that hands its own OpenCL objects to clrnn: it targets OpenCL 3.0
 * (CL_TARGET_OPENCL_VERSION=300, the level an app chooses, not clrnn), creates its queue with the
 * OpenCL 2.0 call clCreateCommandQueueWithProperties, adopts it with clrnn_context_create_from_cl
 * and runs a small GRU whose input is one of its own cl_mem buffers, then the same input from host
 * memory: both outputs must be bitwise equal (clrnn's determinism guarantee).
 * Built with -Wall -Wextra -Werror and run by tools/check-install.sh against the installed library:
 * CMake package and pkg-config, shared and static. */
#include <clrnn.h>
#include <CL/cl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#if !defined(CL_TARGET_OPENCL_VERSION) || CL_TARGET_OPENCL_VERSION < 200
#error "this app uses the OpenCL 2.0 API: build it with -DCL_TARGET_OPENCL_VERSION=300"
#endif

#define I 3
#define H 4
#define T 6
#define N 2

static int fail(const char *what) {
    fprintf(stderr, "opencl_app: %s: %s\n", what, clrnn_last_error());
    return 1;
}

int main(void) {
    if (clrnn_version() != CLRNN_VERSION_MAJOR * 10000 + CLRNN_VERSION_MINOR * 100 + CLRNN_VERSION_PATCH ||
        strcmp(clrnn_version_string(), CLRNN_VERSION_STRING) != 0) {
        fprintf(stderr, "opencl_app: header %s but library %s\n", CLRNN_VERSION_STRING, clrnn_version_string());
        return 1;
    }
    /* the application's own OpenCL objects: the first device of the first platform */
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS) err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "opencl_app: no OpenCL device (error %d)\n", (int)err);
        return 1;
    }
    cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS) return fprintf(stderr, "opencl_app: clCreateContext: %d\n", (int)err), 1;
    const cl_queue_properties props[] = {0}; /* in order, as clrnn requires */
    cl_command_queue queue = clCreateCommandQueueWithProperties(context, device, props, &err);
    if (err != CL_SUCCESS) return fprintf(stderr, "opencl_app: clCreateCommandQueueWithProperties: %d\n", (int)err), 1;

    clrnn_context *ctx;
    if (clrnn_context_create_from_cl(context, device, queue, NULL, &ctx) != CLRNN_OK)
        return fail("clrnn_context_create_from_cl");
    if (clrnn_context_cl_context(ctx) != context || clrnn_context_cl_queue(ctx) != queue ||
        clrnn_context_cl_device(ctx) != device) {
        fprintf(stderr, "opencl_app: the clrnn context does not hold the app's objects\n");
        return 1;
    }
    clrnn_rnn_desc desc = clrnn_rnn_desc_default();
    desc.cell = CLRNN_CELL_GRU;
    desc.input_size = I;
    desc.hidden_size = H;
    desc.linear_before_reset = 1; /* PyTorch's GRU */
    clrnn_rnn *rnn;
    if (clrnn_rnn_create(ctx, &desc, &rnn) != CLRNN_OK) return fail("clrnn_rnn_create");
    static float w[3 * H * I], r[3 * H * H], bw[3 * H], br[3 * H], x[T * N * I];
    for (int i = 0; i < 3 * H * I; ++i) w[i] = 0.2f * (float)sin(0.7 * i + 1.0);
    for (int i = 0; i < 3 * H * H; ++i) r[i] = 0.2f * (float)cos(0.3 * i + 2.0);
    for (int i = 0; i < 3 * H; ++i) bw[i] = 0.05f * (float)sin(i), br[i] = 0.05f * (float)cos(i);
    for (int i = 0; i < T * N * I; ++i) x[i] = (float)sin(0.4 * i);
    clrnn_status st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_W, w, 3 * H * I);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_R, r, 3 * H * H);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_BW, bw, 3 * H);
    if (st == CLRNN_OK) st = clrnn_rnn_set_param(rnn, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_BR, br, 3 * H);
    if (st != CLRNN_OK) return fail("clrnn_rnn_set_param");

    cl_mem xmem = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof x, x, &err);
    if (err != CL_SUCCESS) return fprintf(stderr, "opencl_app: clCreateBuffer: %d\n", (int)err), 1;
    static float y_dev[T * N * H], y_host[T * N * H], hn[N * H];
    clrnn_forward_args args = {0};
    args.seq_length = T;
    args.batch = N;
    args.x.mem = xmem; /* the app's own buffer */
    args.y.host = y_dev;
    args.hn.host = hn;
    if (clrnn_rnn_forward(rnn, &args) != CLRNN_OK) return fail("clrnn_rnn_forward (cl_mem input)");
    args.x.mem = NULL;
    args.x.host = x;
    args.y.host = y_host;
    if (clrnn_rnn_forward(rnn, &args) != CLRNN_OK) return fail("clrnn_rnn_forward (host input)");
    int ok = memcmp(y_dev, y_host, sizeof y_dev) == 0;
    for (int i = 0; i < N * H; ++i) ok &= isfinite(hn[i]) && hn[i] == y_host[(T - 1) * N * H + i];

    clrnn_rnn_destroy(rnn);
    clrnn_context_destroy(ctx);
    clReleaseMemObject(xmem);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
    printf("clrnn %s OpenCL %d.%d app: %s\n", clrnn_version_string(), CL_TARGET_OPENCL_VERSION / 100,
           CL_TARGET_OPENCL_VERSION / 10 % 10, ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
