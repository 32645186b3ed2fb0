/* What the model-loader fuzz targets (fuzz_onnx, fuzz_keras) share: one context per fuzzing process
 * with low model budgets (amplification is refused quickly), each input loaded on a thread with a
 * 256 KiB stack (as in servers and thread pools: a loader that recursed per nesting level would
 * overflow it), and the contract every load must keep:
 *   failure: *out is NULL and clrnn_last_error() starts with the status name and holds no control
 *            byte or invalid UTF-8 (strings from the file are escaped);
 *   success: the model reports consistent input/output counts and destroys cleanly. */
#ifndef CLRNN_FUZZ_MODEL_H
#define CLRNN_FUZZ_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"
#include "../clean_text.h"

#define FUZZ_STACK_BYTES (256u << 10)

/* One input, handed to the small-stack thread. */
typedef struct fuzz_job {
    const uint8_t *data;
    size_t size;
} fuzz_job;

typedef clrnn_status (*fuzz_load_fn)(clrnn_context *ctx, const void *data, size_t size, clrnn_model **out);

static clrnn_context *fuzz_ctx;

/* The context, created on the first call (budgets lowered unless the environment sets them). */
static clrnn_context *fuzz_context(const char *target) {
    if (!fuzz_ctx) {
        setenv("CLRNN_MODEL_HOST_BUDGET", "512M", 0);
        setenv("CLRNN_MODEL_DEVICE_BUDGET", "512M", 0);
        /* a constant Loop is run at load (folded): a never-ending one stops here, not at 2^24 */
        setenv("CLRNN_MODEL_MAX_ITERATIONS", "4096", 0);
        if (clrnn_context_create(NULL, &fuzz_ctx) != CLRNN_OK) {
            fprintf(stderr, "%s: no OpenCL context: %s\n", target, clrnn_last_error());
            abort();
        }
    }
    return fuzz_ctx;
}

/* Loads data with `load` and checks the contract; a broken one aborts (after saving the input to
 * /tmp/<target>_contract.bin where it is about the message). */
static void fuzz_check_load(const char *target, fuzz_load_fn load, const uint8_t *data, size_t size) {
    clrnn_model *model = (clrnn_model *)0x1; /* must be overwritten either way */
    const clrnn_status st = load(fuzz_ctx, data, size, &model);
    if (st != CLRNN_OK) {
        if (model != NULL) abort();
        const char *msg = clrnn_last_error();
        size_t bad_at = 0;
        const int named = strncmp(msg, clrnn_status_name(st), strlen(clrnn_status_name(st))) == 0;
        if (!named || !clean_text(msg, strlen(msg), 0, &bad_at)) {
            if (named)
                fprintf(stderr, "%s: raw byte 0x%02x at %zu of the message\n", target, (unsigned char)msg[bad_at], bad_at);
            else
                fprintf(stderr, "%s: status %s but message \"%s\"\n", target, clrnn_status_name(st), msg);
            char path[256];
            snprintf(path, sizeof path, "/tmp/%s_contract.bin", target);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(data, 1, size, f);
                fclose(f);
            }
            abort();
        }
        return;
    }
    if (!model || clrnn_model_num_inputs(model) < 0 || clrnn_model_num_outputs(model) < 1) abort();
    for (int i = 0; i < clrnn_model_num_inputs(model); ++i) {
        clrnn_model_tensor_info info;
        if (clrnn_model_input_info(model, i, &info) != CLRNN_OK) abort();
    }
    clrnn_model_destroy(model);
}

/* Runs fn(arg) on a thread with a FUZZ_STACK_BYTES stack and waits for it. */
static void fuzz_on_small_stack(const char *target, void *(*fn)(void *), void *arg) {
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, FUZZ_STACK_BYTES) != 0 ||
        pthread_create(&t, &attr, fn, arg) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "%s: cannot run a thread with a %u-byte stack\n", target, FUZZ_STACK_BYTES);
        abort();
    }
    pthread_attr_destroy(&attr);
}

#endif
