/* The ONNX classifier of issue 14 (Embedding + LSTM + Linear + Softmax, tests/onnx/torch/
 * classifier_embedding_lstm_linear_softmax) on a context of its own with an empty PoCL cache
 * (POCL_CACHE_DIR at a fresh directory): its result is PyTorch's; it creates only the ONNX kernels
 * it launches (gather, copy, softmax: not binary, unary, reduce, where, pad); its dense head builds
 * no SGEMM program (sgemm_small is a kernel of the main program: the context's only programs are
 * the main one and the ONNX one); and once it has run, a second run of that shape creates no kernel
 * and compiles nothing (PoCL's cache does not grow; not under ASan, see main): one run is the ONNX model's prepare-ahead. */
#define _XOPEN_SOURCE 700
#include "onnx/onnx_internal.h"
#include "test_util.h"

#include <ftw.h>
#include <stdlib.h>

static char pocl_dir[] = "/tmp/clrnn-onnx-cold-XXXXXX";
static int fresh_cache; /* POCL_CACHE_DIR is pocl_dir, made empty by this test */
static long files_found;
static int count_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)path, (void)sb, (void)ftw;
    files_found += flag == FTW_F;
    return 0;
}
static long pocl_cache_files(void) {
    files_found = 0;
    nftw(pocl_dir, count_file, 16, FTW_PHYS);
    return files_found;
}
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void run_and_check(clrnn_model *m, const char *dir) {
    char path[1200];
    clrnn_array tokens, want, got;
    snprintf(path, sizeof path, "%s/set0/in/tokens.npy", dir);
    TU_OK(clrnn_npy_load(path, &tokens));
    TU_OK(clrnn_model_set_input(m, "tokens", &tokens));
    TU_OK(clrnn_model_run(m));
    TU_OK(clrnn_model_get_output(m, "probs", &got));
    snprintf(path, sizeof path, "%s/set0/out/probs.npy", dir);
    TU_OK(clrnn_npy_load(path, &want));
    assert_int_equal(got.count, want.count);
    size_t where = 0;
    const double err = tu_max_abs_diff(got.data, want.data, got.count, &where);
    if (!(err <= 1e-5)) fail_msg("probs differ from PyTorch's by %g at %zu", err, where);
    clrnn_array_free(&tokens), clrnn_array_free(&want), clrnn_array_free(&got);
}

static void classifier_cold(void **state) {
    (void)state;
    const char *torch = getenv("CLRNN_ONNX_TORCH");
    if (!torch || !*torch) fail_msg("CLRNN_ONNX_TORCH is not set (run through ctest)");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/classifier_embedding_lstm_linear_softmax", torch);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    clrnn_context *ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &ctx));
    const int pocl = strstr(ctx->info.platform_name, "Portable Computing Language") != NULL;
    clrnn_model *m = NULL;
    TU_OK(clrnn_onnx_load(ctx, path, &m));
    run_and_check(m, dir);
    assert_non_null(m->k);
    assert_non_null(m->k->gather);
    assert_non_null(m->k->softmax);
    assert_null(m->k->binary), assert_null(m->k->unary), assert_null(m->k->reduce);
    assert_null(m->k->where), assert_null(m->k->pad);
    if (ctx->info.type == CLRNN_DEVICE_TYPE_CPU && !getenv("CLRNN_GEMM")) assert_int_equal(ctx->programs_got, 2);
    const int kernels = clrnn_kernels_created(ctx), programs = ctx->programs_got;
    const long files = pocl_cache_files();
    if (fresh_cache && pocl) assert_true(files > 0);
    run_and_check(m, dir);
    assert_int_equal(clrnn_kernels_created(ctx), kernels);
    assert_int_equal(ctx->programs_got, programs);
    if (fresh_cache && pocl && pocl_cache_files() != files)
        fail_msg("PoCL compiled on the second run: %ld cache files, %ld after the first", pocl_cache_files(), files);
    clrnn_model_destroy(m);
    clrnn_context_destroy(ctx);
}

int main(void) {
#ifndef __SANITIZE_ADDRESS__
    /* PoCL 3.1 leaks inside LLVM on every kernel it compiles (none from a warm cache): under ASan
     * the test keeps the suite's cache and checks the counters only */
    if (!mkdtemp(pocl_dir)) return 1;
    setenv("POCL_CACHE_DIR", pocl_dir, 1);
    fresh_cache = 1;
#endif /* before any OpenCL call */
    const struct CMUnitTest tests[] = {cmocka_unit_test(classifier_cold)};
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (fresh_cache) nftw(pocl_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
