#include "test_util.h"

static clrnn_context *ctx;

clrnn_context *tu_context(void) {
    if (!ctx) {
        clrnn_status st = clrnn_context_create(NULL, &ctx);
        if (st != CLRNN_OK) {
            fprintf(stderr, "cannot create a context: %s\n", clrnn_last_error());
            exit(1);
        }
    }
    return ctx;
}

void tu_context_release(void) {
    clrnn_context_destroy(ctx);
    ctx = NULL;
}

cl_mem tu_dev_buf(const float *v, size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(tu_context()), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), (void *)v, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

void tu_dev_read(cl_mem m, float *v, size_t n) {
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, n * sizeof(float), v, 0,
                                         NULL, NULL),
                     CL_SUCCESS);
}
