/* libFuzzer target for the ONNX loader (tools/fuzz.sh builds and runs it; seeds in corpus_onnx/,
 * the small models of tests/onnx/).
 *
 * clrnn_onnx_load_memory on arbitrary bytes must return a status, never crash, never read outside
 * the input (ASan), never leak (LSan, with the PoCL/ICD suppressions of tests/lsan.supp), never hit
 * undefined behaviour (UBSan). Beyond that: on failure *out is NULL and clrnn_last_error() names
 * the status; on success the model reports consistent input/output counts and destroys cleanly.
 * The context (PoCL device, kernels from the cache) is created once per fuzzing process. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static clrnn_context *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx && clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
        fprintf(stderr, "fuzz_onnx: no OpenCL context: %s\n", clrnn_last_error());
        abort();
    }
    clrnn_model *model = (clrnn_model *)0x1; /* must be overwritten either way */
    const clrnn_status st = clrnn_onnx_load_memory(ctx, data, size, &model);
    if (st != CLRNN_OK) {
        if (model != NULL) abort();
        if (strncmp(clrnn_last_error(), clrnn_status_name(st), strlen(clrnn_status_name(st))) != 0) {
            fprintf(stderr, "fuzz_onnx: status %s but message \"%s\"\n", clrnn_status_name(st), clrnn_last_error());
            FILE *f = fopen("/tmp/fuzz_onnx_contract.bin", "wb");
            if (f) {
                fwrite(data, 1, size, f);
                fclose(f);
            }
            abort();
        }
        return 0;
    }
    if (!model || clrnn_model_num_inputs(model) < 0 || clrnn_model_num_outputs(model) < 1) abort();
    for (int i = 0; i < clrnn_model_num_inputs(model); ++i) {
        clrnn_model_tensor_info info;
        if (clrnn_model_input_info(model, i, &info) != CLRNN_OK) abort();
    }
    clrnn_model_destroy(model);
    return 0;
}
