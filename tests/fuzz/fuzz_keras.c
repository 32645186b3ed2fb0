/* libFuzzer target for the Keras loader (tools/fuzz.sh builds and runs it; seeds in corpus_keras/:
 * a small .keras archive and a small Keras 2 .h5 file of the golden set).
 *
 * clrnn_keras_load_memory on arbitrary bytes (zip → JSON → HDF5, or HDF5 → JSON) must return a
 * status, never crash, never read outside the input (ASan), never leak (LSan, with the PoCL/ICD
 * suppressions of tests/lsan.supp), never hit undefined behaviour (UBSan). Beyond that: on failure
 * *out is NULL and clrnn_last_error() names the status and holds no control byte or invalid UTF-8
 * (names from the file are escaped); on success the model reports consistent input/output counts
 * and destroys cleanly. The context is created once per fuzzing process; each load runs on a
 * thread with a 256 KiB stack (jansson and HDF5 recurse), with the model budgets lowered. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"
#include "../clean_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libhdf5 allocates what a damaged file's metadata claims (found: a 7e18-byte request) and handles
 * a NULL from malloc; ASan must return NULL there too rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static clrnn_context *ctx;

#define FUZZ_STACK_BYTES (256u << 10)

typedef struct job {
    const uint8_t *data;
    size_t size;
} job;

static void check_one(const uint8_t *data, size_t size) {
    clrnn_model *model = (clrnn_model *)0x1; /* must be overwritten either way */
    const clrnn_status st = clrnn_keras_load_memory(ctx, data, size, &model);
    if (st != CLRNN_OK) {
        if (model != NULL) abort();
        if (strncmp(clrnn_last_error(), clrnn_status_name(st), strlen(clrnn_status_name(st))) != 0) {
            fprintf(stderr, "fuzz_keras: status %s but message \"%s\"\n", clrnn_status_name(st), clrnn_last_error());
            FILE *f = fopen("/tmp/fuzz_keras_contract.bin", "wb");
            if (f) {
                fwrite(data, 1, size, f);
                fclose(f);
            }
            abort();
        }
        size_t bad_at;
        if (!clean_text(clrnn_last_error(), strlen(clrnn_last_error()), 0, &bad_at)) {
            fprintf(stderr, "fuzz_keras: raw byte 0x%02x at %zu of the message\n",
                    (unsigned char)clrnn_last_error()[bad_at], bad_at);
            abort(); /* a string from the file reached the message unescaped */
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

static void *run_job(void *arg) {
    const job *j = arg;
    check_one(j->data, j->size);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx) {
        setenv("CLRNN_MODEL_HOST_BUDGET", "512M", 0);
        setenv("CLRNN_MODEL_DEVICE_BUDGET", "512M", 0);
        if (clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
            fprintf(stderr, "fuzz_keras: no OpenCL context: %s\n", clrnn_last_error());
            abort();
        }
    }
    job j = {data, size};
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, FUZZ_STACK_BYTES) != 0 ||
        pthread_create(&t, &attr, run_job, &j) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "fuzz_keras: cannot run a thread with a %u-byte stack\n", FUZZ_STACK_BYTES);
        abort();
    }
    pthread_attr_destroy(&attr);
    return 0;
}
