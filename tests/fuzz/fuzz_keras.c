/* libFuzzer target for the Keras loader (tools/fuzz.sh builds and runs it).
 *
 * Default mode: the input is a config.json, wrapped here into a .keras archive (libzip, in memory)
 * with the fixed, valid weights of tests/fuzz/keras_weights.h5 (an LSTM of the golden set). This
 * fuzzes what clrnn wrote, the JSON → graph translation (type checks, keys, topology, masks,
 * weight lookup and shape checks), with libhdf5 on a well-formed file only. Seeds: corpus_keras/
 * (the config of a Keras 3 Functional Masking + LSTM model and a Sequential variant).
 * Raw mode (CLRNN_FUZZ_KERAS_RAW=1; seeds corpus_keras_raw/, a .keras and a .h5): the input is the
 * whole file. It reaches libhdf5's parsers with damaged files, and libhdf5 1.10.8 (Debian 12) is
 * not robust there: it reads past its own buffers and can loop in its global-heap reader
 * (H5HG_read, for a variable-length string attribute such as model_config), which clrnn cannot
 * bound. Run it to study that, not in CI.
 *
 * clrnn_keras_load_memory must return a status, never crash, never read outside the input (ASan),
 * never leak (LSan, with the PoCL/ICD suppressions of tests/lsan.supp), never hit undefined
 * behaviour (UBSan), and keep the load contract of fuzz_model.h (small stack: jansson recurses). */
#include <zip.h>

#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libhdf5 allocates what a damaged file's metadata claims (found: a 7e18-byte request) and handles
 * a NULL from malloc; ASan must return NULL there too rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static unsigned char *weights;
static size_t weights_size;
static int raw_mode;

/* config.json + the fixed weights → a .keras image (malloc'ed) */
static unsigned char *wrap(const uint8_t *config, size_t size, size_t *out_size) {
    static const char meta[] = "{\"keras_version\": \"3.15.1\"}";
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &err);
    if (!src) abort();
    zip_source_keep(src);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    if (!z) abort();
    const void *data[3] = {meta, size ? (const void *)config : (const void *)"", weights};
    const size_t sizes[3] = {sizeof meta - 1, size, weights_size};
    const char *names[3] = {"metadata.json", "config.json", "model.weights.h5"};
    for (int i = 0; i < 3; ++i) {
        zip_source_t *s = zip_source_buffer(z, data[i], sizes[i], 0);
        const zip_int64_t idx = s ? zip_file_add(z, names[i], s, ZIP_FL_OVERWRITE) : -1;
        if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) abort();
    }
    if (zip_close(z) != 0) abort();
    if (zip_source_open(src) != 0 || zip_source_seek(src, 0, SEEK_END) != 0) abort();
    const zip_int64_t n = zip_source_tell(src);
    if (n <= 0 || zip_source_seek(src, 0, SEEK_SET) != 0) abort();
    unsigned char *buf = malloc((size_t)n);
    if (!buf || zip_source_read(src, buf, (zip_uint64_t)n) != n) abort();
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&err);
    *out_size = (size_t)n;
    return buf;
}

static void *run_job(void *arg) {
    const fuzz_job *j = arg;
    if (raw_mode) {
        fuzz_check_load("fuzz_keras", clrnn_keras_load_memory, j->data, j->size);
    } else {
        size_t n;
        unsigned char *img = wrap(j->data, j->size, &n);
        fuzz_check_load("fuzz_keras", clrnn_keras_load_memory, img, n);
        free(img);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fuzz_ctx) {
        raw_mode = getenv("CLRNN_FUZZ_KERAS_RAW") && !strcmp(getenv("CLRNN_FUZZ_KERAS_RAW"), "1");
        FILE *f = raw_mode ? NULL : fopen(CLRNN_FUZZ_KERAS_WEIGHTS, "rb");
        if (!raw_mode) {
            if (!f || fseek(f, 0, SEEK_END) != 0) abort();
            weights_size = (size_t)ftell(f);
            rewind(f);
            weights = malloc(weights_size);
            if (!weights || fread(weights, 1, weights_size, f) != weights_size) abort();
            fclose(f);
        }
        fuzz_context("fuzz_keras");
    }
    fuzz_job j = {data, size};
    fuzz_on_small_stack("fuzz_keras", run_job, &j);
    return 0;
}
