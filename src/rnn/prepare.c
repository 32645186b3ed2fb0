/* clrnn_rnn_prepare: everything a forward of one shape needs, done ahead (clrnn.h). On PoCL a
 * kernel is compiled on its first launch, not when it is created, so the only sure way to have
 * every kernel of a call compiled is to launch it: the forward runs on zeros, twice (the tiled
 * plan's first call of a batch size runs a launch per step, the next measured ones the persistent
 * scan too), with the states on the device (the strided copy kernel) and the outputs in both forms
 * (full y, last_only). */
#include "cells.h"

#include <stdlib.h>

clrnn_status clrnn_rnn_prepare(clrnn_rnn *rnn, int seq_length, int batch) {
    clrnn_clear_error();
    clrnn_status st = clrnn_check_rnn(rnn, "clrnn_rnn_prepare");
    if (st != CLRNN_OK) return st;
    if (seq_length <= 0 || batch <= 0)
        return clrnn_fail(CLRNN_ERR_INVALID_ARGUMENT, "clrnn_rnn_prepare: seq_length = %d and batch = %d must be >= 1",
                          seq_length, batch);
    if ((st = clrnn_weights_check_complete(rnn)) != CLRNN_OK) return st;
    const int D = clrnn_rnn_num_directions(rnn), Hr = clrnn_rnn_state_size(rnn), O = clrnn_rnn_output_size(rnn);
    const clrnn_rnn_desc *d = &rnn->desc;
    const int has_c = clrnn_cell_info_of(d->cell)->has_c;
    size_t TN, x_n, y_n, h_n, c_n;
    /* the forward's own limits come first (it checks them again) */
    if (!clrnn_mul_size((size_t)seq_length, (size_t)batch, &TN) || !clrnn_mul_size(TN, (size_t)d->input_size, &x_n) ||
        !clrnn_mul_size(TN, (size_t)(O > 2 * Hr ? O : 2 * Hr), &y_n))
        return clrnn_fail(CLRNN_ERR_OVERFLOW, "clrnn_rnn_prepare: seq_length x batch = %d x %d is too large", seq_length,
                          batch);
    h_n = (size_t)d->num_layers * D * batch * Hr;
    c_n = (size_t)d->num_layers * D * batch * d->hidden_size;
    float *x = calloc(x_n ? x_n : 1, sizeof *x), *y = malloc((y_n ? y_n : 1) * sizeof *y);
    cl_mem h = NULL, c = NULL;
    cl_int err = CL_SUCCESS;
    if (!x || !y) st = clrnn_fail(CLRNN_ERR_OUT_OF_MEMORY, "clrnn_rnn_prepare: %zu floats of zero input", x_n + y_n);
    if (st == CLRNN_OK) {
        /* zeroed device states: in as h0/c0 and out as hn/cn, as a device-resident caller has them */
        h = clCreateBuffer(rnn->ctx->cl_ctx, CL_MEM_READ_WRITE, h_n * sizeof(float), NULL, &err);
        if (err == CL_SUCCESS && has_c)
            c = clCreateBuffer(rnn->ctx->cl_ctx, CL_MEM_READ_WRITE, c_n * sizeof(float), NULL, &err);
        const float zero = 0.0f;
        if (err == CL_SUCCESS) {
            mtx_lock(&rnn->ctx->lock);
            err = clEnqueueFillBuffer(rnn->ctx->queue, h, &zero, sizeof zero, 0, h_n * sizeof(float), 0, NULL, NULL);
            if (err == CL_SUCCESS && c)
                err = clEnqueueFillBuffer(rnn->ctx->queue, c, &zero, sizeof zero, 0, c_n * sizeof(float), 0, NULL, NULL);
            mtx_unlock(&rnn->ctx->lock);
        }
        if (err != CL_SUCCESS) st = clrnn_fail_cl(err, "clCreateBuffer/clEnqueueFillBuffer", "the prepare's zero states");
    }
    for (int pass = 0; pass < 2 && st == CLRNN_OK; ++pass) {
        clrnn_forward_args a = {0};
        a.seq_length = seq_length, a.batch = batch;
        a.x.host = x, a.y.host = y, a.last_only = pass;
        a.h0.mem = pass ? h : NULL, a.hn.mem = pass ? NULL : h;
        if (c) a.c0.mem = pass ? c : NULL, a.cn.mem = pass ? NULL : c;
        st = clrnn_rnn_forward(rnn, &a);
    }
    if (h) clReleaseMemObject(h);
    if (c) clReleaseMemObject(c);
    free(x), free(y);
    return st;
}
