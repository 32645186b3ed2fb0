/* libFuzzer target for the ONNX loader (tools/fuzz.sh builds and runs it; seeds in corpus_onnx/,
 * the small models of tests/onnx/).
 *
 * clrnn_onnx_load_memory on arbitrary bytes must return a status, never crash, never read outside
 * the input (ASan), never leak (LSan, with the PoCL/ICD suppressions of tests/lsan.supp), never hit
 * undefined behaviour (UBSan), and keep the load contract of fuzz_model.h.
 *
 * Each load runs on a thread with a 256 KiB stack, as in servers and thread pools: protobuf-c
 * recurses once per nested message, and on the 8 MiB main stack only files of ~30 KB and more
 * would show it (the loader must bound the nesting; tools/fuzz.sh allows inputs of 1 MiB).
 * The model budgets are lowered (unless set) so that amplification is refused quickly. */
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *run_job(void *arg) {
    const fuzz_job *j = arg;
    fuzz_check_load("fuzz_onnx", clrnn_onnx_load_memory, j->data, j->size);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_context("fuzz_onnx");
    fuzz_job j = {data, size};
    fuzz_on_small_stack("fuzz_onnx", run_job, &j);
    return 0;
}
