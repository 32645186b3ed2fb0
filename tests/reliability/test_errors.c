/* Bad input (issue 6). Every case asserts
 *   - the specific status,
 *   - that clrnn_last_error() starts with that status's name and names the problem (a field, an
 *     argument, a value),
 *   - that out-pointers are NULLed (handles) or zeroed (arrays) on failure,
 *   - for a failed clrnn_rnn_forward: that it failed before writing anything (the poisoned host
 *     and device outputs are untouched) and that the rnn still gives the same bits afterwards.
 * Leaks are caught by the ASan/LSan build (CLRNN_SANITIZE=ON), which runs this file too.
 *
 * The cases (numbered as counted at run time; the last test asserts the total):
 *  A. API misuse: NULL handles, destroyed and foreign objects
 *    1 context_create out NULL             2 context_create unknown device (out NULLed)
 *    3 create_from_cl NULL objects         4 create_from_cl queue of another context
 *    5 create_from_cl out-of-order queue   6 context_device_info NULL ctx
 *    7 context_build_info NULL info        8 context_finish NULL
 *    9 list_devices NULL out, capacity>0  10 select_device NULL index
 *   11 rnn_create NULL ctx                12 rnn_create NULL desc
 *   13 rnn_create NULL out                14 rnn_create on a destroyed context
 *   15 rnn_create on a foreign pointer    16 rnn_create on an rnn passed as context
 *   17 set_param NULL rnn                 18 set_param NULL data
 *   19 set_param on a destroyed rnn       20 set_param on a context passed as rnn
 *   21 forward NULL rnn                   22 forward NULL args
 *   23 forward on a destroyed rnn         24 forward on a foreign pointer
 *   25 forward after the context was destroyed (then destroying the rnn is clean)
 *   26 double destroy of rnn and context is ignored, with a message
 *   27 get_desc NULL desc                 28 size queries / CL getters / plan on dead handles
 *  B. Inconsistent descriptors (CLRNN_ERR_INVALID_DESCRIPTOR naming the field)
 *   29 hidden_size 0   30 hidden_size < 0   31 input_size 0   32 num_layers 0   33 num_layers 65
 *   34 proj_size > hidden   35 proj_size < 0   36 proj_size on a GRU   37 cell 3   38 direction 3
 *   39 merge 5   40 layout -1   41 masked_output 3   42 reverse_order 2   43 reverse_mode 2
 *   44 activation kind unknown   45 activations list too long (GRU slot 2)
 *   46 activations for a second direction of a forward rnn   47 activation alpha NaN
 *   48 clip < 0   49 clip NaN   50 merge on a unidirectional rnn   51 dense with merge NONE
 *   52 linear_before_reset on an LSTM   53 proj_clip without proj_size   54 cell_clip Inf
 *   55 input_size > 2^20   56 hidden_size > 2^16   57 dense_size < 0   58 masked_fill_value NaN
 *   59 forget_bias Inf   60 peephole on an RNN
 *  C. Weights
 *   61 W of the wrong size   62 R of the wrong size   63 layer out of range   64 dir 1 on a
 *   forward rnn   65 negative layer   66 unknown framework   67 unknown role   68 PyTorch B
 *   69 TF1 W   70 PROJ without proj_size   71 PEEPHOLE on a GRU   72 DENSE_W without dense_size
 *   73 NaN weight (rejected, nothing stored: same output bits)   74 +Inf weight   75 -Inf bias
 *   76 NaN peephole
 *  D. Forward arguments (outputs poisoned and checked untouched)
 *   77 W never set   78 R never set   79 PROJ never set   80 DENSE_W never set   81 x missing
 *   82 x both host and mem   83 seq_length 0   84 seq_length < 0   85 batch 0   86 batch < 0
 *   87 seq_lens < 0   88 seq_lens > T   89 c0 for a GRU   90 cn for an RNN   91 device x too
 *   small   92 device y too small   93 device hn too small   94 device h0 offset past the end
 *   95 device offset not a multiple of 4   96 device buffer of another OpenCL context
 *   97 seq_length > 2^28   98 T*N*D overflows 2^31 (CLRNN_ERR_OVERFLOW)
 *   99 workspace above CL_DEVICE_MAX_MEM_ALLOC_SIZE (CLRNN_ERR_DEVICE_OUT_OF_MEMORY, rnn reusable)
 *  100 host memory exhausted in rnn_create (RLIMIT_AS, child process; not under sanitizers)
 *  E. Non-finite inputs propagate as IEEE says (status OK, compared with the double reference)
 *  101 NaN in x (RNN, LSTM, GRU; other rows bitwise unaffected)   102 +/-Inf in x
 *  103 NaN in h0/c0
 *  F. .npy files and arrays
 *  104 bad magic   105 shorter than the preamble   106 header longer than the file
 *  107 unknown format version   108 header not a dict   109 no 'descr'   110 unterminated 'descr'
 *  111 dtype <f8   112 big-endian   113 Fortran order   114 bad 'fortran_order'   115 no 'shape'
 *  116 negative dimension   117 9 dimensions   118 dimension > 2^40   119 shape product overflows
 *  120 byte size overflows   121 truncated data   122 trailing data   123 malformed shape tuple
 *  124 load: no such file   125 load: a directory   126 load: NULL path   127 load_memory NULL
 *  128 save: unknown dtype   129 save: count != shape   130 save: negative dimension
 *  131 save: unwritable path   132 save: ndim 9
 *  G. The GEMM entry points check their context like every other entry point
 *  133 sgemm on a destroyed context   134 sgemm_batched on an rnn passed as context
 *  H. Hardening (issue 10)
 *  135 set_param checks count before reading: every role of every framework, layer and direction
 *      of 5 rnns, counts 4x / +1 / SIZE_MAX / -1 / 0, data against a PROT_NONE page
 *  136 (extends E) every activation in every slot of every cell, with and without clip, at 0,
 *      +-1e-40, +-1e-30, +-20, 88, +-89, +-100, 1000, +-1e30, +-3e38, +-Inf, NaN vs the reference
 *  137 workspace: T=65536 N=1, T=1 N=65536, T=65536 N=1 all run, right, within the largest own need
 *  138 workspace above CL_DEVICE_GLOBAL_MEM_SIZE, every buffer within the per-buffer limit
 *      (DEVICE_OUT_OF_MEMORY before allocating, workspace kept, next call bitwise the same)
 *  139 workspace sized by a call's own need when earlier needs do not fit with it; a call that
 *      fits nowhere is refused and the rnn goes on (context with lowered reported memory)
 *  140 weights over the per-buffer limit, then over global memory: refused before the driver sees
 *      them, y untouched, the rnn runs once they fit (context with lowered reported limits)
 * Not a case, by design: a mask or seq_lens array of the wrong shape. Both are bare pointers
 * ([N, T] uint8, [N] int32) in the C API, so their extent cannot be checked; callers that hold
 * shapes (the .npy/ONNX tools) check them before the call. */
#include "internal.h" /* workspace_limits: a context whose reported memory is lowered */
#include "reference.h"
#include "test_util.h"

#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif

static int n_cases;

/* One case: `got` must be `want`, and the message must start with the status name and contain
 * `needle`. */
static void expect_status(int line, const char *expr, clrnn_status got, clrnn_status want, const char *needle) {
    const char *msg = clrnn_last_error();
    if (got != want)
        fail_msg("line %d: %s -> %s, expected %s\n  message: %s", line, expr, clrnn_status_name(got),
                 clrnn_status_name(want), msg);
    const char *name = clrnn_status_name(want);
    if (strncmp(msg, name, strlen(name)) != 0 || strncmp(msg + strlen(name), ": ", 2) != 0)
        fail_msg("line %d: %s: message does not start with %s: \"%s\"", line, expr, name, msg);
    if (needle && !strstr(msg, needle))
        fail_msg("line %d: %s: message does not name \"%s\": \"%s\"", line, expr, needle, msg);
    ++n_cases;
}
#define EXPECT(expr, want, needle) expect_status(__LINE__, #expr, (expr), (want), (needle))

/* A call without a status (destroy): the message it leaves. */
static void expect_message(int line, const char *what, clrnn_status want, const char *needle) {
    expect_status(line, what, want, want, needle);
}
#define EXPECT_MESSAGE(what, want, needle) expect_message(__LINE__, what, want, needle)

/* A non-NULL pointer value that must be overwritten with NULL by a failing create. */
#define STALE_HANDLE(type) ((type *)(uintptr_t)0x5a5a5a5a)

/* Random ONNX weights (W, R, B) for every layer and direction; PyTorch PROJ and dense if asked. */
static void set_weights(clrnn_rnn *r, uint64_t seed) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), GH = tu_gates(d.cell) * d.hidden_size;
    const float sc = 1.0f / sqrtf((float)d.hidden_size);
    for (int l = 0; l < d.num_layers; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const int I = l == 0 ? d.input_size : D * Hr;
            float *w = tu_alloc_random((size_t)GH * I, &seed, -sc, sc);
            float *rr = tu_alloc_random((size_t)GH * Hr, &seed, -sc, sc);
            float *b = tu_alloc_random((size_t)2 * GH, &seed, -0.3f, 0.3f);
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_W, w, (size_t)GH * I));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_R, rr, (size_t)GH * Hr));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, l, dir, CLRNN_PARAM_B, b, (size_t)2 * GH));
            free(w), free(rr), free(b);
        }
}

/* ------------------------------------------------------------------------------------------
 * A. API misuse
 * ---------------------------------------------------------------------------------------- */
static void api_misuse(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_context *c2 = STALE_HANDLE(clrnn_context);

    EXPECT(clrnn_context_create(NULL, NULL), CLRNN_ERR_NULL_ARGUMENT, "out is NULL"); /* 1 */
    clrnn_context_params p = clrnn_context_default_params();
    p.device = "no-such-device-xyz";
    EXPECT(clrnn_context_create(&p, &c2), CLRNN_ERR_NO_DEVICE, "no-such-device-xyz"); /* 2 */
    assert_null(c2);

    c2 = STALE_HANDLE(clrnn_context);
    EXPECT(clrnn_context_create_from_cl(NULL, NULL, NULL, NULL, &c2), CLRNN_ERR_NULL_ARGUMENT, "required"); /* 3 */
    assert_null(c2);
    /* a queue of another OpenCL context */
    cl_int err;
    cl_device_id dev = clrnn_context_cl_device(ctx);
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_command_queue other_q = clCreateCommandQueue(other, dev, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    c2 = STALE_HANDLE(clrnn_context);
    EXPECT(clrnn_context_create_from_cl(clrnn_context_cl_context(ctx), dev, other_q, NULL, &c2),
           CLRNN_ERR_INVALID_ARGUMENT, "does not belong"); /* 4 */
    assert_null(c2);
    cl_command_queue ooo = clCreateCommandQueue(other, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {
        c2 = STALE_HANDLE(clrnn_context);
        EXPECT(clrnn_context_create_from_cl(other, dev, ooo, NULL, &c2), CLRNN_ERR_UNSUPPORTED, "in-order"); /* 5 */
        assert_null(c2);
        clReleaseCommandQueue(ooo);
    } else {
        ++n_cases; /* the device has no out-of-order queues: nothing to reject */
    }
    clReleaseCommandQueue(other_q);
    clReleaseContext(other);

    clrnn_device_info info;
    EXPECT(clrnn_context_device_info(NULL, &info), CLRNN_ERR_NULL_ARGUMENT, "ctx is NULL"); /* 6 */
    EXPECT(clrnn_context_build_info(ctx, NULL), CLRNN_ERR_NULL_ARGUMENT, "info is NULL"); /* 7 */
    EXPECT(clrnn_context_finish(NULL), CLRNN_ERR_NULL_ARGUMENT, "clrnn_context_finish"); /* 8 */
    size_t count = 0;
    EXPECT(clrnn_list_devices(NULL, 3, &count), CLRNN_ERR_NULL_ARGUMENT, "out is NULL"); /* 9 */
    EXPECT(clrnn_select_device(NULL, NULL), CLRNN_ERR_NULL_ARGUMENT, "index is NULL"); /* 10 */

    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_GRU, 3, 4);
    clrnn_rnn *r = STALE_HANDLE(clrnn_rnn);
    EXPECT(clrnn_rnn_create(NULL, &d, &r), CLRNN_ERR_NULL_ARGUMENT, "ctx is NULL"); /* 11 */
    assert_null(r);
    r = STALE_HANDLE(clrnn_rnn);
    EXPECT(clrnn_rnn_create(ctx, NULL, &r), CLRNN_ERR_NULL_ARGUMENT, "desc is NULL"); /* 12 */
    assert_null(r);
    EXPECT(clrnn_rnn_create(ctx, &d, NULL), CLRNN_ERR_NULL_ARGUMENT, "out is NULL"); /* 13 */

    /* a destroyed context */
    clrnn_context *dead_ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &dead_ctx));
    clrnn_context_destroy(dead_ctx);
    r = STALE_HANDLE(clrnn_rnn);
    EXPECT(clrnn_rnn_create(dead_ctx, &d, &r), CLRNN_ERR_INVALID_ARGUMENT, "not a live clrnn_context"); /* 14 */
    assert_null(r);
    /* a pointer that was never a context (a stack object) */
    struct {
        char bytes[4096];
    } fake;
    memset(&fake, 0, sizeof fake);
    r = STALE_HANDLE(clrnn_rnn);
    EXPECT(clrnn_rnn_create((clrnn_context *)&fake, &d, &r), CLRNN_ERR_INVALID_ARGUMENT, "not a live clrnn_context"); /* 15 */
    assert_null(r);

    clrnn_rnn *live = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &live));
    r = STALE_HANDLE(clrnn_rnn);
    EXPECT(clrnn_rnn_create((clrnn_context *)live, &d, &r), CLRNN_ERR_INVALID_ARGUMENT,
           "is a clrnn_rnn, not a clrnn_context"); /* 16 */
    assert_null(r);

    float w[64] = {0};
    EXPECT(clrnn_rnn_set_param(NULL, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 36), CLRNN_ERR_NULL_ARGUMENT,
           "rnn is NULL"); /* 17 */
    EXPECT(clrnn_rnn_set_param(live, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, NULL, 36), CLRNN_ERR_NULL_ARGUMENT,
           "data is NULL"); /* 18 */
    clrnn_rnn *dead = NULL;
    TU_OK(clrnn_rnn_create(ctx, &d, &dead));
    clrnn_rnn_destroy(dead);
    EXPECT(clrnn_rnn_set_param(dead, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 36), CLRNN_ERR_INVALID_ARGUMENT,
           "not a live clrnn_rnn"); /* 19 */
    EXPECT(clrnn_rnn_set_param((clrnn_rnn *)ctx, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 36),
           CLRNN_ERR_INVALID_ARGUMENT, "is a clrnn_context, not a clrnn_rnn"); /* 20 */

    set_weights(live, 1);
    const int T = 3, N = 2, H = 4;
    float x[3 * 2 * 3], y[3 * 2 * 4], hn[2 * 4], y_ok[3 * 2 * 4];
    for (int i = 0; i < 18; ++i) x[i] = 0.1f * (float)i - 0.7f;
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y_ok;
    TU_OK(clrnn_rnn_forward(live, &a));
    a.y.host = y, a.hn.host = hn;
    for (int i = 0; i < T * N * H; ++i) y[i] = POISON;
    for (int i = 0; i < N * H; ++i) hn[i] = POISON;
    EXPECT(clrnn_rnn_forward(NULL, &a), CLRNN_ERR_NULL_ARGUMENT, "rnn is NULL");   /* 21 */
    EXPECT(clrnn_rnn_forward(live, NULL), CLRNN_ERR_NULL_ARGUMENT, "args is NULL"); /* 22 */
    EXPECT(clrnn_rnn_forward(dead, &a), CLRNN_ERR_INVALID_ARGUMENT, "not a live clrnn_rnn"); /* 23 */
    void *junk = malloc(4096);
    memset(junk, 0x77, 4096);
    EXPECT(clrnn_rnn_forward((clrnn_rnn *)junk, &a), CLRNN_ERR_INVALID_ARGUMENT, "not a live clrnn_rnn"); /* 24 */
    free(junk);
    for (int i = 0; i < T * N * H; ++i) assert_true(y[i] == POISON);
    for (int i = 0; i < N * H; ++i) assert_true(hn[i] == POISON);

    /* an rnn that outlives its context: refused, and destroying it afterwards is clean */
    clrnn_context *short_ctx = NULL;
    TU_OK(clrnn_context_create(NULL, &short_ctx));
    clrnn_rnn *orphan = NULL;
    TU_OK(clrnn_rnn_create(short_ctx, &d, &orphan));
    set_weights(orphan, 1);
    a.y.host = y;
    TU_OK(clrnn_rnn_forward(orphan, &a)); /* it holds device buffers now */
    assert_memory_equal(y, y_ok, sizeof y);
    for (int i = 0; i < T * N * H; ++i) y[i] = POISON;
    clrnn_context_destroy(short_ctx);
    EXPECT(clrnn_rnn_forward(orphan, &a), CLRNN_ERR_INVALID_ARGUMENT, "context of rnn"); /* 25 */
    for (int i = 0; i < T * N * H; ++i) assert_true(y[i] == POISON);
    char plan[512];
    assert_non_null(strstr(clrnn_rnn_plan(orphan, plan, sizeof plan), "context of rnn")); /* no lock of a dead context */
    clrnn_rnn_destroy(orphan);

    /* double destroy: ignored, with a message */
    clrnn_rnn_destroy(dead);
    EXPECT_MESSAGE("clrnn_rnn_destroy twice", CLRNN_ERR_INVALID_ARGUMENT, "clrnn_rnn_destroy (ignored)"); /* 26 */
    clrnn_context_destroy(dead_ctx);
    assert_non_null(strstr(clrnn_last_error(), "clrnn_context_destroy (ignored)"));
    clrnn_context_destroy((clrnn_context *)live); /* the wrong kind is not destroyed */
    assert_non_null(strstr(clrnn_last_error(), "is a clrnn_rnn"));
    assert_int_equal(clrnn_rnn_output_size(live), H); /* still alive */

    EXPECT(clrnn_rnn_get_desc(live, NULL), CLRNN_ERR_NULL_ARGUMENT, "desc is NULL"); /* 27 */
    /* size queries and CL getters answer 0 / NULL for dead or foreign handles */
    clrnn_rnn_desc got;
    EXPECT(clrnn_rnn_get_desc(dead, &got), CLRNN_ERR_INVALID_ARGUMENT, "not a live clrnn_rnn"); /* 28 */
    assert_int_equal(clrnn_rnn_num_directions(dead), 0);
    assert_int_equal(clrnn_rnn_state_size(dead), 0);
    assert_int_equal(clrnn_rnn_output_size((clrnn_rnn *)ctx), 0);
    assert_int_equal(clrnn_rnn_workspace_bytes(dead), 0);
    assert_non_null(strstr(clrnn_rnn_plan(dead, plan, sizeof plan), "not a live clrnn_rnn"));
    assert_null(clrnn_context_cl_queue(dead_ctx));
    assert_null(clrnn_context_cl_context((clrnn_context *)live));
    assert_null(clrnn_context_cl_device(NULL));
    assert_non_null(clrnn_context_cl_queue(ctx));
    clrnn_rnn_destroy(live);
}

/* ------------------------------------------------------------------------------------------
 * B. Descriptors
 * ---------------------------------------------------------------------------------------- */
typedef struct desc_case {
    const char *needle;
    clrnn_rnn_desc d;
} desc_case;

static void bad_descriptors(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    desc_case c[40];
    int n = 0;
#define DCASE(cell, needle_, body)                       \
    do {                                                 \
        c[n].needle = needle_;                           \
        c[n].d = tu_desc(cell, 3, 8);                    \
        clrnn_rnn_desc *d = &c[n].d;                     \
        body;                                            \
        ++n;                                             \
    } while (0)
    DCASE(CLRNN_CELL_LSTM, "hidden_size = 0", d->hidden_size = 0);                          /* 29 */
    DCASE(CLRNN_CELL_LSTM, "hidden_size = -5", d->hidden_size = -5);                        /* 30 */
    DCASE(CLRNN_CELL_LSTM, "input_size = 0", d->input_size = 0);                            /* 31 */
    DCASE(CLRNN_CELL_LSTM, "num_layers = 0", d->num_layers = 0);                            /* 32 */
    DCASE(CLRNN_CELL_LSTM, "num_layers = 65", d->num_layers = 65);                          /* 33 */
    DCASE(CLRNN_CELL_LSTM, "proj_size = 9", d->proj_size = 9);                              /* 34 */
    DCASE(CLRNN_CELL_LSTM, "proj_size = -1", d->proj_size = -1);                            /* 35 */
    DCASE(CLRNN_CELL_GRU, "LSTM options", d->proj_size = 2);                                /* 36 */
    DCASE(CLRNN_CELL_LSTM, "cell = 3", d->cell = (clrnn_cell)3);                            /* 37 */
    DCASE(CLRNN_CELL_LSTM, "direction = 3", d->direction = (clrnn_direction)3);             /* 38 */
    DCASE(CLRNN_CELL_LSTM, "merge = 5", (d->direction = CLRNN_DIR_BIDIRECTIONAL, d->merge = (clrnn_merge)5)); /* 39 */
    DCASE(CLRNN_CELL_LSTM, "layout = -1", d->layout = (clrnn_layout)-1);                    /* 40 */
    DCASE(CLRNN_CELL_LSTM, "masked_output = 3", d->masked_output = (clrnn_masked_output)3); /* 41 */
    DCASE(CLRNN_CELL_LSTM, "reverse_order = 2", d->reverse_order = (clrnn_reverse_order)2); /* 42 */
    DCASE(CLRNN_CELL_LSTM, "reverse_mode = 2", d->reverse_mode = (clrnn_reverse_mode)2);    /* 43 */
    DCASE(CLRNN_CELL_LSTM, "activations[0][1].kind = 12", d->activations[0][1].kind = CLRNN_ACT_COUNT_); /* 44 */
    DCASE(CLRNN_CELL_GRU, "activations[0][2] is set but this GRU has 2 slot(s)",
          d->activations[0][2].kind = CLRNN_ACT_TANH);                                       /* 45 */
    DCASE(CLRNN_CELL_RNN, "activations[1][0] is set", d->activations[1][0].kind = CLRNN_ACT_RELU); /* 46 */
    DCASE(CLRNN_CELL_RNN, "activations[0][0] alpha/beta not finite",
          (d->activations[0][0].kind = CLRNN_ACT_LEAKY_RELU, d->activations[0][0].alpha = NAN));          /* 47 */
    DCASE(CLRNN_CELL_LSTM, "clip = -1", d->clip = -1.0f);                                   /* 48 */
    DCASE(CLRNN_CELL_LSTM, "clip = nan", d->clip = NAN);                                    /* 49 */
    DCASE(CLRNN_CELL_LSTM, "needs direction = CLRNN_DIR_BIDIRECTIONAL", d->merge = CLRNN_MERGE_SUM); /* 50 */
    DCASE(CLRNN_CELL_LSTM, "dense output layer needs merged directions",
          (d->direction = CLRNN_DIR_BIDIRECTIONAL, d->merge = CLRNN_MERGE_NONE, d->dense_size = 2)); /* 51 */
    DCASE(CLRNN_CELL_LSTM, "linear_before_reset is a GRU option", d->linear_before_reset = 1); /* 52 */
    DCASE(CLRNN_CELL_LSTM, "proj_clip needs proj_size", d->proj_clip = 1.0f);               /* 53 */
    DCASE(CLRNN_CELL_LSTM, "cell_clip = inf", d->cell_clip = INFINITY);                     /* 54 */
    DCASE(CLRNN_CELL_LSTM, "input_size 1048577", d->input_size = (1 << 20) + 1);            /* 55 */
    DCASE(CLRNN_CELL_LSTM, "hidden_size 65537", d->hidden_size = (1 << 16) + 1);            /* 56 */
    DCASE(CLRNN_CELL_LSTM, "dense_size = -1", d->dense_size = -1);                          /* 57 */
    DCASE(CLRNN_CELL_LSTM, "masked_fill_value must be finite", d->masked_fill_value = NAN); /* 58 */
    DCASE(CLRNN_CELL_LSTM, "forget_bias must be finite", d->forget_bias = INFINITY);        /* 59 */
    DCASE(CLRNN_CELL_RNN, "LSTM options", d->peephole = 1);                                  /* 60 */
#undef DCASE
    assert_int_equal(n, 32);
    for (int i = 0; i < n; ++i) {
        clrnn_rnn *r = STALE_HANDLE(clrnn_rnn);
        clrnn_status st = clrnn_rnn_create(ctx, &c[i].d, &r);
        char what[96];
        snprintf(what, sizeof what, "descriptor case %d (%s)", i + 29, c[i].needle);
        expect_status(__LINE__, what, st, CLRNN_ERR_INVALID_DESCRIPTOR, c[i].needle);
        assert_null(r);
    }
}

/* ------------------------------------------------------------------------------------------
 * C. Weights
 * ---------------------------------------------------------------------------------------- */
static void bad_weights(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    const int I = 3, H = 4, G = 4, T = 4, N = 2;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, I, H);
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    set_weights(r, 7);
    uint64_t seed = 99;
    float *buf = tu_alloc_random(1024, &seed, -0.5f, 0.5f);
    const size_t nW = (size_t)G * H * I, nR = (size_t)G * H * H;
    char needle[64];
    snprintf(needle, sizeof needle, "got %zu elements, expected %zu", nW - 1, nW);
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, buf, nW - 1), CLRNN_ERR_SHAPE_MISMATCH,
           needle); /* 61 */
    snprintf(needle, sizeof needle, "got %zu elements, expected %zu", nR + 1, nR);
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_R, buf, nR + 1), CLRNN_ERR_SHAPE_MISMATCH,
           needle); /* 62 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 1, 0, CLRNN_PARAM_W, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "layer 1 / dir 0 out of range"); /* 63 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 1, CLRNN_PARAM_W, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "layer 0 / dir 1 out of range"); /* 64 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, -1, 0, CLRNN_PARAM_W, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "layer -1"); /* 65 */
    EXPECT(clrnn_rnn_set_param(r, (clrnn_framework)7, 0, 0, CLRNN_PARAM_W, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "framework = 7"); /* 66 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_COUNT_, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "role = 12"); /* 67 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_B, buf, 2 * G * H),
           CLRNN_ERR_INVALID_ARGUMENT, "BW / BR"); /* 68 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_W, buf, nW), CLRNN_ERR_INVALID_ARGUMENT,
           "CLRNN_PARAM_KERNEL"); /* 69 */
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_PYTORCH, 0, 0, CLRNN_PARAM_PROJ, buf, 8), CLRNN_ERR_INVALID_ARGUMENT,
           "proj_size is 0"); /* 70 */
    clrnn_rnn_desc dg = tu_desc(CLRNN_CELL_GRU, I, H);
    clrnn_rnn *g;
    TU_OK(clrnn_rnn_create(ctx, &dg, &g));
    EXPECT(clrnn_rnn_set_param(g, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_PEEPHOLE, buf, 3 * H),
           CLRNN_ERR_INVALID_ARGUMENT, "peephole"); /* 71 */
    EXPECT(clrnn_rnn_set_param(g, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_DENSE_W, buf, 16), CLRNN_ERR_INVALID_ARGUMENT,
           "dense_size is 0"); /* 72 */
    clrnn_rnn_destroy(g);

    /* non-finite weights are refused and nothing is stored: the output keeps its bits */
    float *x = tu_alloc_random((size_t)T * N * I, &seed, -1, 1);
    float y0[4 * 2 * 4], y1[4 * 2 * 4];
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y0;
    TU_OK(clrnn_rnn_forward(r, &a));
    float *bad = tu_alloc_random(nR, &seed, -0.5f, 0.5f);
    bad[5] = NAN;
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, bad, nR), CLRNN_ERR_NON_FINITE,
           "element 5 is nan"); /* 73 */
    bad[5] = 0.25f, bad[nR - 1] = INFINITY;
    snprintf(needle, sizeof needle, "element %zu is inf", nR - 1);
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, bad, nR), CLRNN_ERR_NON_FINITE, needle); /* 74 */
    float bias[32];
    for (int i = 0; i < 32; ++i) bias[i] = 0.01f * (float)i;
    bias[3] = -INFINITY;
    EXPECT(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, bias, 2 * G * H), CLRNN_ERR_NON_FINITE,
           "B (layer 0, dir 0): element 3 is -inf"); /* 75 */
    a.y.host = y1;
    TU_OK(clrnn_rnn_forward(r, &a));
    assert_memory_equal(y0, y1, sizeof y0);
    clrnn_rnn_desc dp = tu_desc(CLRNN_CELL_LSTM, I, H);
    dp.peephole = 1;
    clrnn_rnn *p;
    TU_OK(clrnn_rnn_create(ctx, &dp, &p));
    float peep[12] = {0};
    peep[7] = NAN;
    EXPECT(clrnn_rnn_set_param(p, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_PEEPHOLE, peep, 12), CLRNN_ERR_NON_FINITE,
           "PEEPHOLE"); /* 76 */
    clrnn_rnn_destroy(p);
    free(bad), free(x), free(buf);
    clrnn_rnn_destroy(r);
}

/* ------------------------------------------------------------------------------------------
 * D. Forward arguments
 * ---------------------------------------------------------------------------------------- */
typedef struct fixture {
    clrnn_rnn *r;
    int T, N, I, Hr, H, D, L, O;
    float *x, *y, *hn, *cn;
    size_t ny, nh, nc;
} fixture;

static void fixture_make(fixture *f, clrnn_rnn_desc d, int T, int N, int with_weights) {
    memset(f, 0, sizeof *f);
    TU_OK(clrnn_rnn_create(tu_context(), &d, &f->r));
    if (with_weights) set_weights(f->r, 42);
    f->T = T, f->N = N, f->I = d.input_size, f->H = d.hidden_size, f->L = d.num_layers;
    f->D = clrnn_rnn_num_directions(f->r), f->Hr = clrnn_rnn_state_size(f->r), f->O = clrnn_rnn_output_size(f->r);
    uint64_t seed = 5;
    f->x = tu_alloc_random((size_t)T * N * f->I, &seed, -1, 1);
    f->ny = (size_t)T * N * f->O, f->nh = (size_t)f->L * f->D * N * f->Hr, f->nc = (size_t)f->L * f->D * N * f->H;
    f->y = tu_alloc_poison(f->ny), f->hn = tu_alloc_poison(f->nh), f->cn = tu_alloc_poison(f->nc);
}

static void fixture_free(fixture *f) {
    clrnn_rnn_destroy(f->r);
    free(f->x), free(f->y), free(f->hn), free(f->cn);
}

static clrnn_forward_args fixture_args(const fixture *f) {
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = f->T, a.batch = f->N, a.x.host = f->x, a.y.host = f->y, a.hn.host = f->hn;
    clrnn_rnn_desc d;
    clrnn_rnn_get_desc(f->r, &d);
    if (d.cell == CLRNN_CELL_LSTM) a.cn.host = f->cn;
    return a;
}

static void assert_poisoned(const float *p, size_t n, const char *what) {
    for (size_t i = 0; i < n; ++i)
        if (!(p[i] == POISON)) fail_msg("%s[%zu] was written by a failing forward (%g)", what, i, (double)p[i]);
}

/* A failing forward: status, message, and nothing written. */
static void expect_forward_fails(int line, const fixture *f, const clrnn_forward_args *a, clrnn_status want,
                                 const char *needle) {
    char what[64];
    snprintf(what, sizeof what, "clrnn_rnn_forward (line %d)", line);
    expect_status(line, what, clrnn_rnn_forward(f->r, a), want, needle);
    assert_poisoned(f->y, f->ny, "y");
    assert_poisoned(f->hn, f->nh, "hn");
    assert_poisoned(f->cn, f->nc, "cn");
}
#define EXPECT_FWD(f, a, want, needle) expect_forward_fails(__LINE__, f, a, want, needle)

static cl_mem poisoned_buffer(size_t floats) {
    clrnn_context *ctx = tu_context();
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE, floats * sizeof(float), NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    float *p = tu_alloc_poison(floats);
    assert_int_equal(clEnqueueWriteBuffer(clrnn_context_cl_queue(ctx), m, CL_TRUE, 0, floats * sizeof(float), p, 0, NULL,
                                          NULL),
                     CL_SUCCESS);
    free(p);
    return m;
}

static void assert_buffer_poisoned(cl_mem m, size_t floats, const char *what) {
    float *p = malloc(floats * sizeof(float));
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, floats * sizeof(float), p,
                                         0, NULL, NULL),
                     CL_SUCCESS);
    assert_poisoned(p, floats, what);
    free(p);
}

static void bad_forward_args(void **state) {
    (void)state;
    fixture f;
    clrnn_forward_args a;

    /* missing weights */
    fixture_make(&f, tu_desc(CLRNN_CELL_LSTM, 3, 5), 4, 3, 0);
    a = fixture_args(&f);
    EXPECT_FWD(&f, &a, CLRNN_ERR_MISSING_WEIGHTS, "input weights and recurrent weights never set"); /* 77 */
    float w[4 * 5 * 5] = {0};
    TU_OK(clrnn_rnn_set_param(f.r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, w, 4 * 5 * 3));
    EXPECT_FWD(&f, &a, CLRNN_ERR_MISSING_WEIGHTS, "layer 0 direction 0: recurrent weights never set"); /* 78 */
    fixture_free(&f);
    clrnn_rnn_desc dp = tu_desc(CLRNN_CELL_LSTM, 3, 5);
    dp.proj_size = 2;
    fixture_make(&f, dp, 4, 3, 1);
    a = fixture_args(&f);
    EXPECT_FWD(&f, &a, CLRNN_ERR_MISSING_WEIGHTS, "PROJ never set (proj_size = 2)"); /* 79 */
    fixture_free(&f);
    clrnn_rnn_desc dd = tu_desc(CLRNN_CELL_GRU, 3, 5);
    dd.dense_size = 2;
    fixture_make(&f, dd, 4, 3, 1);
    a = fixture_args(&f);
    EXPECT_FWD(&f, &a, CLRNN_ERR_MISSING_WEIGHTS, "DENSE_W was never set"); /* 80 */
    fixture_free(&f);

    /* argument checks on a complete bidirectional LSTM */
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 3, 5);
    d.direction = CLRNN_DIR_BIDIRECTIONAL;
    fixture_make(&f, d, 4, 3, 1);
    float *y_ok = tu_alloc_poison(f.ny);
    a = fixture_args(&f);
    a.y.host = y_ok;
    TU_OK(clrnn_rnn_forward(f.r, &a));
    for (size_t i = 0; i < f.nh; ++i) f.hn[i] = POISON;
    for (size_t i = 0; i < f.nc; ++i) f.cn[i] = POISON;

    a = fixture_args(&f);
    a.x.host = NULL;
    EXPECT_FWD(&f, &a, CLRNN_ERR_NULL_ARGUMENT, "x is required"); /* 81 */
    cl_mem bx = poisoned_buffer((size_t)f.T * f.N * f.I);
    a = fixture_args(&f);
    a.x.mem = bx;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "x: set either host or mem, not both"); /* 82 */
    a = fixture_args(&f);
    a.seq_length = 0;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "seq_length = 0"); /* 83 */
    a.seq_length = -3;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "seq_length = -3"); /* 84 */
    a = fixture_args(&f);
    a.batch = 0;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "batch = 0"); /* 85 */
    a.batch = -1;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "batch = -1"); /* 86 */
    int32_t lens[3] = {4, -1, 2};
    a = fixture_args(&f);
    a.seq_lens = lens;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_LENGTH, "seq_lens[1] = -1"); /* 87 */
    lens[1] = 2, lens[2] = 5;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_LENGTH, "seq_lens[2] = 5 is outside [0, T = 4]"); /* 88 */

    /* device tensors: too small, bad offsets, another context's buffer */
    a = fixture_args(&f);
    a.x.host = NULL;
    cl_mem small = poisoned_buffer((size_t)f.T * f.N * f.I - 1);
    a.x.mem = small;
    EXPECT_FWD(&f, &a, CLRNN_ERR_SHAPE_MISMATCH, "x: buffer holds"); /* 91 */
    a = fixture_args(&f);
    cl_mem by = poisoned_buffer(f.ny - 1);
    a.y.host = NULL, a.y.mem = by;
    EXPECT_FWD(&f, &a, CLRNN_ERR_SHAPE_MISMATCH, "y: buffer holds"); /* 92 */
    assert_buffer_poisoned(by, f.ny - 1, "device y");
    a = fixture_args(&f);
    cl_mem bh = poisoned_buffer(f.nh - 1);
    a.hn.host = NULL, a.hn.mem = bh;
    EXPECT_FWD(&f, &a, CLRNN_ERR_SHAPE_MISMATCH, "hn: buffer holds"); /* 93 */
    a = fixture_args(&f);
    cl_mem bh0 = poisoned_buffer(f.nh);
    a.h0.mem = bh0, a.h0.offset = (f.nh + 4) * sizeof(float);
    EXPECT_FWD(&f, &a, CLRNN_ERR_SHAPE_MISMATCH, "h0: buffer holds 0 bytes after offset"); /* 94 */
    a.h0.offset = 2;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "h0: offset 2 is not a multiple of 4"); /* 95 */
    cl_int err;
    cl_device_id dev = clrnn_context_cl_device(tu_context());
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, f.ny * sizeof(float) * 2, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    a = fixture_args(&f);
    a.y.host = NULL, a.y.mem = foreign;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "y.mem belongs to another OpenCL context"); /* 96 */
    clReleaseMemObject(foreign);
    clReleaseContext(other);
    clReleaseMemObject(bx), clReleaseMemObject(small), clReleaseMemObject(by), clReleaseMemObject(bh);
    clReleaseMemObject(bh0);

    /* sizes: T beyond the step-table range, T*N*D beyond 2^31 (x is never read) */
    a = fixture_args(&f);
    a.seq_length = 1 << 28;
    a.batch = 1;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "seq_length = 268435456 is too large"); /* 97 */
    a.seq_length = 1 << 16;
    a.batch = 1 << 15;
    EXPECT_FWD(&f, &a, CLRNN_ERR_OVERFLOW, "65536 x 32768 x 2 exceeds 2^31"); /* 98 */

    /* the rnn is unharmed by all of the above */
    a = fixture_args(&f);
    TU_OK(clrnn_rnn_forward(f.r, &a));
    assert_memory_equal(f.y, y_ok, f.ny * sizeof(float));
    free(y_ok);
    fixture_free(&f);

    /* c0 / cn for cells that have no cell state */
    fixture_make(&f, tu_desc(CLRNN_CELL_GRU, 3, 5), 4, 3, 1);
    a = fixture_args(&f);
    a.c0.host = f.cn;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "c0 is only for LSTM"); /* 89 */
    fixture_free(&f);
    fixture_make(&f, tu_desc(CLRNN_CELL_RNN, 3, 5), 4, 3, 1);
    a = fixture_args(&f);
    a.cn.host = f.cn;
    EXPECT_FWD(&f, &a, CLRNN_ERR_INVALID_ARGUMENT, "cn is only for LSTM"); /* 90 */
    fixture_free(&f);
}

/* A workspace buffer larger than CL_DEVICE_MAX_MEM_ALLOC_SIZE is reported, not attempted, and the
 * rnn keeps working at a size that fits. */
static void device_out_of_memory(void **state) {
    (void)state;
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(tu_context(), &info));
    assert_true(info.max_alloc_bytes > 0);
    const int H = 1024, I = 1;
    fixture f;
    fixture_make(&f, tu_desc(CLRNN_CELL_LSTM, I, H), 2, 2, 1);
    clrnn_forward_args a = fixture_args(&f);
    float *y_ok = tu_alloc_poison(f.ny);
    a.y.host = y_ok;
    TU_OK(clrnn_rnn_forward(f.r, &a));
    /* the input projections of one step take 4*H floats per row: enough rows to pass the limit */
    const uint64_t rows = info.max_alloc_bytes / (4ull * H * sizeof(float)) + 1;
    assert_true(rows < (1u << 30));
    float *x = calloc((size_t)rows * I, sizeof(float));
    assert_non_null(x);
    a = fixture_args(&f);
    a.seq_length = 1, a.batch = (int)rows, a.x.host = x;
    a.y.host = NULL, a.hn.host = NULL, a.cn.host = NULL; /* outputs of that size are not needed */
    EXPECT(clrnn_rnn_forward(f.r, &a), CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "the device allows"); /* 99 */
    free(x);
    a = fixture_args(&f);
    TU_OK(clrnn_rnn_forward(f.r, &a));
    assert_memory_equal(f.y, y_ok, f.ny * sizeof(float));
    free(y_ok);
    fixture_free(&f);
}

/* Host memory exhaustion while allocating weight storage: CLRNN_ERR_OUT_OF_MEMORY, no abort. Run
 * in a child under an address-space limit (not under sanitizers, whose shadow memory needs more
 * address space than any limit would leave). */
static long vm_size_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

static void host_out_of_memory(void **state) {
    (void)state;
    if (TU_SANITIZED) {
        ++n_cases; /* counted: the same path is exercised by the unsanitized build */
        skip();
    }
    clrnn_context *ctx = tu_context();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* 2 layers of H = 4096 need ~1 GiB of host weights; allow 256 MiB more than now */
        struct rlimit rl = {(rlim_t)vm_size_bytes() + (256L << 20), RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(101);
        clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 16, 4096);
        d.num_layers = 2;
        clrnn_rnn *r = STALE_HANDLE(clrnn_rnn);
        clrnn_status st = clrnn_rnn_create(ctx, &d, &r);
        if (r != NULL) _exit(102);
        if (st == CLRNN_ERR_OUT_OF_MEMORY && !strstr(clrnn_last_error(), "host weight storage")) _exit(103);
        _exit((int)st);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != CLRNN_ERR_OUT_OF_MEMORY)
        fail_msg("child: rnn_create under RLIMIT_AS -> exit %d (expected CLRNN_ERR_OUT_OF_MEMORY = %d)",
                 WEXITSTATUS(status), CLRNN_ERR_OUT_OF_MEMORY);
    ++n_cases; /* 100 */
}

/* ------------------------------------------------------------------------------------------
 * E. NaN / Inf in inputs and states: status OK, values as IEEE arithmetic gives them (compared
 * with the double-precision reference; a NaN must be matched by a NaN).
 * ---------------------------------------------------------------------------------------- */
static void compare_with_reference(clrnn_rnn *r, clrnn_forward_args a, const float *y, size_t ny, const char *what) {
    float *yr = tu_alloc_poison(ny);
    a.y.host = yr, a.hn.host = NULL, a.cn.host = NULL;
    TU_OK(clrnn_reference_forward(r, &a));
    size_t where = 0;
    double err = tu_max_abs_diff(y, yr, ny, &where);
    if (!(err <= 1e-5)) fail_msg("%s: y[%zu] = %g, reference %g", what, where, (double)y[where], (double)yr[where]);
    free(yr);
}

static void non_finite_inputs(void **state) {
    (void)state;
    const int T = 5, N = 3, I = 4, H = 6;
    const clrnn_cell cells[3] = {CLRNN_CELL_RNN, CLRNN_CELL_LSTM, CLRNN_CELL_GRU};
    for (int ci = 0; ci < 3; ++ci) {
        fixture f;
        fixture_make(&f, tu_desc(cells[ci], I, H), T, N, 1);
        clrnn_forward_args a = fixture_args(&f);
        float *y_clean = tu_alloc_poison(f.ny);
        a.y.host = y_clean;
        TU_OK(clrnn_rnn_forward(f.r, &a));
        /* NaN in row 1 at t = 2 */
        f.x[((size_t)2 * N + 1) * I + 0] = NAN;
        a = fixture_args(&f);
        TU_OK(clrnn_rnn_forward(f.r, &a));
        compare_with_reference(f.r, a, f.y, f.ny, "NaN in x");
        for (int t = 0; t < T; ++t)
            for (int n = 0; n < N; ++n)
                for (int k = 0; k < H; ++k) {
                    const size_t i = ((size_t)t * N + n) * H + k;
                    if (n == 1 && t >= 2) assert_true(isnan(f.y[i])); /* from the NaN step on, in its row */
                    else assert_memory_equal(&f.y[i], &y_clean[i], sizeof(float)); /* the rest: same bits */
                }
        free(y_clean);
        fixture_free(&f);
    }
    ++n_cases; /* 101 */

    /* +Inf and -Inf in x */
    fixture f;
    fixture_make(&f, tu_desc(CLRNN_CELL_LSTM, I, H), T, N, 1);
    f.x[0] = INFINITY;
    f.x[((size_t)3 * N + 2) * I + 1] = -INFINITY;
    clrnn_forward_args a = fixture_args(&f);
    TU_OK(clrnn_rnn_forward(f.r, &a));
    compare_with_reference(f.r, a, f.y, f.ny, "Inf in x");
    fixture_free(&f);
    ++n_cases; /* 102 */

    /* NaN in the initial states */
    fixture_make(&f, tu_desc(CLRNN_CELL_LSTM, I, H), T, N, 1);
    float h0[3 * 6], c0[3 * 6];
    for (int i = 0; i < N * H; ++i) h0[i] = c0[i] = 0.1f;
    h0[0] = NAN;      /* row 0 */
    c0[2 * H] = NAN;  /* row 2 */
    a = fixture_args(&f);
    a.h0.host = h0, a.c0.host = c0;
    TU_OK(clrnn_rnn_forward(f.r, &a));
    compare_with_reference(f.r, a, f.y, f.ny, "NaN in h0/c0");
    assert_true(isnan(f.y[(size_t)2 * H])); /* t = 0, row 2: the unit whose c0 is NaN */
    for (int k = 0; k < H; ++k) {
        assert_true(isnan(f.y[k]));                           /* t = 0, row 0: R h0 reaches every unit */
        assert_true(isnan(f.y[((size_t)N + 2) * H + k]));     /* t = 1, row 2: every unit */
        for (int t = 0; t < T; ++t) assert_true(isfinite(f.y[((size_t)t * N + 1) * H + k])); /* row 1 clean */
    }
    fixture_free(&f);
    ++n_cases; /* 103 */
}

/* ------------------------------------------------------------------------------------------
 * F. .npy
 * ---------------------------------------------------------------------------------------- */
static size_t make_npy(unsigned char *buf, const char *dict, const void *payload, size_t n, int version) {
    const size_t pre = version == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1;
    while ((pre + hl) % 64) ++hl;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version, buf[7] = 0;
    buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
    if (version != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[pre + hl - 1] = '\n';
    if (n) memcpy(buf + pre + hl, payload, n);
    return pre + hl + n;
}

static void assert_array_zeroed(const clrnn_array *a) {
    static const clrnn_array zero;
    assert_memory_equal(a, &zero, sizeof zero);
}

/* One bad in-memory file: status, message, *out zeroed. */
static void expect_npy(int line, const char *dict, size_t payload, size_t cut, clrnn_status want, const char *needle) {
    unsigned char buf[1024];
    float data[16] = {0};
    size_t n = make_npy(buf, dict, data, payload, 1);
    clrnn_array a;
    memset(&a, 0x5a, sizeof a);
    char what[160];
    snprintf(what, sizeof what, "npy %s", dict);
    expect_status(line, what, clrnn_npy_load_memory(buf, n - cut, &a), want, needle);
    assert_array_zeroed(&a);
}
#define EXPECT_NPY(dict, payload, cut, want, needle) expect_npy(__LINE__, dict, payload, cut, want, needle)

static void bad_npy(void **state) {
    (void)state;
    unsigned char buf[1024];
    float v[4] = {1, 2, 3, 4};
    clrnn_array a;
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v, 1);
    TU_OK(clrnn_npy_load_memory(buf, n, &a)); /* the well-formed file the cases below break */
    clrnn_array_free(&a);

    buf[0] = 'X';
    memset(&a, 0x5a, sizeof a);
    EXPECT(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_CORRUPT_FILE, "bad magic"); /* 104 */
    assert_array_zeroed(&a);
    buf[0] = 0x93;
    EXPECT(clrnn_npy_load_memory(buf, 9, &a), CLRNN_ERR_CORRUPT_FILE, "bad magic"); /* 105 */
    EXPECT(clrnn_npy_load_memory(buf, 40, &a), CLRNN_ERR_CORRUPT_FILE, "header truncated"); /* 106 */
    buf[6] = 9;
    EXPECT(clrnn_npy_load_memory(buf, n, &a), CLRNN_ERR_UNSUPPORTED, "format version 9"); /* 107 */
    assert_array_zeroed(&a);

    const size_t f4 = 4 * sizeof(float);
    EXPECT_NPY("['descr', '<f4', 'fortran_order', False, 'shape', (4,)]", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "not a Python dict"); /* 108 */
    EXPECT_NPY("{'fortran_order': False, 'shape': (4,), }", f4, 0, CLRNN_ERR_CORRUPT_FILE, "no 'descr'"); /* 109 */
    EXPECT_NPY("{'fortran_order': False, 'shape': (4,), 'descr': '<f4}", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "bad 'descr'"); /* 110 */
    EXPECT_NPY("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f4, 0, CLRNN_ERR_UNSUPPORTED,
               "dtype '<f8' is not supported"); /* 111 */
    EXPECT_NPY("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f4, 0, CLRNN_ERR_UNSUPPORTED,
               "'>f4'"); /* 112 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4, 0, CLRNN_ERR_UNSUPPORTED,
               "Fortran order"); /* 113 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "bad 'fortran_order'"); /* 114 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, }", f4, 0, CLRNN_ERR_CORRUPT_FILE, "no 'shape'"); /* 115 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "negative dimension"); /* 116 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 4), }", f4, 0,
               CLRNN_ERR_UNSUPPORTED, "more than 8 dims"); /* 117 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627777,), }", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "dimension 1099511627777 is too large"); /* 118 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", f4, 0,
               CLRNN_ERR_OVERFLOW, "shape overflows"); /* 119 */
    EXPECT_NPY("{'descr': '<i8', 'fortran_order': False, 'shape': (1099511627776, 4194304), }", f4, 0,
               CLRNN_ERR_OVERFLOW, "size overflows"); /* 120 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f4, 1, CLRNN_ERR_CORRUPT_FILE,
               "data is 15 bytes, shape and dtype need 16"); /* 121 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "data is 16 bytes, shape and dtype need 12"); /* 122 */
    EXPECT_NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (2 2), }", f4, 0, CLRNN_ERR_CORRUPT_FILE,
               "expected ',' or ')'"); /* 123 */

    /* files */
    char path[256];
    snprintf(path, sizeof path, "/tmp/clrnn-test-errors-%ld", (long)getpid());
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.npy", path);
    memset(&a, 0x5a, sizeof a);
    EXPECT(clrnn_npy_load(missing, &a), CLRNN_ERR_IO, "No such file"); /* 124 */
    assert_array_zeroed(&a);
    assert_int_equal(mkdir(path, 0755), 0);
    memset(&a, 0x5a, sizeof a);
    EXPECT(clrnn_npy_load(path, &a), CLRNN_ERR_IO, "not a regular file"); /* 125 */
    assert_array_zeroed(&a);
    EXPECT(clrnn_npy_load(NULL, &a), CLRNN_ERR_NULL_ARGUMENT, "NULL"); /* 126 */
    EXPECT(clrnn_npy_load_memory(NULL, 10, &a), CLRNN_ERR_NULL_ARGUMENT, "NULL"); /* 127 */

    char file[300];
    snprintf(file, sizeof file, "%s/out.npy", path);
    clrnn_array s = {(clrnn_dtype)9, 1, {4}, 4, v};
    EXPECT(clrnn_npy_save(file, &s), CLRNN_ERR_INVALID_ARGUMENT, "unknown dtype 9"); /* 128 */
    s.dtype = CLRNN_DTYPE_FLOAT32;
    s.count = 3;
    EXPECT(clrnn_npy_save(file, &s), CLRNN_ERR_SHAPE_MISMATCH, "count 3 != product of shape 4"); /* 129 */
    clrnn_array neg = {CLRNN_DTYPE_FLOAT32, 2, {-2, -2}, 4, v};
    EXPECT(clrnn_npy_save(file, &neg), CLRNN_ERR_INVALID_ARGUMENT, "shape[0] = -2 is negative"); /* 130 */
    s.count = 4;
    char unwritable[400];
    snprintf(unwritable, sizeof unwritable, "%s/out.npy/nested.npy", path);
    EXPECT(clrnn_npy_save(unwritable, &s), CLRNN_ERR_IO, "cannot write"); /* 131 */
    s.ndim = 9;
    EXPECT(clrnn_npy_save(file, &s), CLRNN_ERR_INVALID_ARGUMENT, "ndim 9"); /* 132 */
    /* nothing was written by the failing saves */
    struct stat sb;
    assert_int_equal(stat(file, &sb), -1);
    assert_int_equal(rmdir(path), 0);
}

static void gemm_misuse(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    cl_int err;
    cl_mem buf = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE, 64, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    clrnn_context *dead = NULL;
    TU_OK(clrnn_context_create(NULL, &dead));
    clrnn_context_destroy(dead);
    EXPECT(clrnn_sgemm(dead, 0, 0, 2, 2, 2, 1.0f, buf, 0, 2, buf, 0, 2, 0.0f, buf, 0, 2), CLRNN_ERR_INVALID_ARGUMENT,
           "not a live clrnn_context"); /* 133 */
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_RNN, d.input_size = 2, d.hidden_size = 2;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    const float one = 1.0f;
    const size_t off = 0;
    EXPECT(clrnn_sgemm_batched((clrnn_context *)r, 0, 0, 2, 2, 2, &one, buf, &off, 2, buf, &off, 2, &one, buf, &off, 2, 1),
           CLRNN_ERR_INVALID_ARGUMENT, "is a clrnn_rnn, not a clrnn_context"); /* 134 */
    clrnn_rnn_destroy(r);
    clReleaseMemObject(buf);
}

/* ------------------------------------------------------------------------------------------
 * H. set_param checks `count` before it reads a single element (issue 10, D7)
 * ---------------------------------------------------------------------------------------- */
/* n floats that end where a PROT_NONE page begins: a read past the end faults, in every build. */
typedef struct guarded {
    void *base;
    size_t len;
    float *data;
} guarded;

static float *guarded_alloc(guarded *g, size_t n, uint64_t *seed) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (n ? n : 1) * sizeof(float);
    const size_t data_pages = (bytes + page - 1) / page;
    g->len = (data_pages + 1) * page;
    const int fd = open("/dev/zero", O_RDWR); /* MAP_ANONYMOUS is not POSIX */
    assert_true(fd >= 0);
    g->base = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    assert_true(g->base != MAP_FAILED);
    assert_int_equal(mprotect((char *)g->base + data_pages * page, page, PROT_NONE), 0);
    g->data = (float *)((char *)g->base + data_pages * page - bytes);
    tu_fill(g->data, n ? n : 1, seed, -0.5f, 0.5f);
    return g->data;
}

static void guarded_free(guarded *g) { assert_int_equal(munmap(g->base, g->len), 0); }

/* Element count of (framework, role, layer) from the role table in clrnn.h; 0: the rnn has no such
 * role (CLRNN_ERR_INVALID_ARGUMENT). */
static size_t table_count(const clrnn_rnn_desc *d, int D, clrnn_framework fw, clrnn_param role, int layer) {
    const size_t G = (size_t)tu_gates(d->cell), H = (size_t)d->hidden_size;
    const size_t Hr = d->proj_size > 0 ? (size_t)d->proj_size : H, GH = G * H;
    const size_t I = layer == 0 ? (size_t)d->input_size : (size_t)D * Hr;
    const size_t Hm = D == 2 && d->merge != CLRNN_MERGE_CONCAT ? Hr : (size_t)D * Hr;
    const int gru = d->cell == CLRNN_CELL_GRU, lbr = gru && d->linear_before_reset;
    const int onnx = fw == CLRNN_FRAMEWORK_ONNX, torch = fw == CLRNN_FRAMEWORK_PYTORCH;
    const int keras = fw == CLRNN_FRAMEWORK_KERAS, tf1 = fw == CLRNN_FRAMEWORK_TF1;
    switch (role) {
    case CLRNN_PARAM_W: return tf1 ? 0 : GH * I;
    case CLRNN_PARAM_R: return tf1 ? 0 : GH * Hr;
    case CLRNN_PARAM_B: return onnx ? 2 * GH : keras ? (lbr ? 2 * GH : GH) : tf1 ? (gru ? 2 * H : GH) : 0;
    case CLRNN_PARAM_BW:
    case CLRNN_PARAM_BR: return onnx || torch ? GH : 0;
    case CLRNN_PARAM_PEEPHOLE: return d->cell == CLRNN_CELL_LSTM && d->peephole && (onnx || tf1) ? 3 * H : 0;
    case CLRNN_PARAM_PROJ: return d->proj_size > 0 && (torch || tf1) ? Hr * H : 0;
    case CLRNN_PARAM_KERNEL: return tf1 && !lbr ? (I + Hr) * (gru ? 2 : G) * H : 0;
    case CLRNN_PARAM_CANDIDATE_KERNEL: return tf1 && gru ? (I + H) * H : 0;
    case CLRNN_PARAM_CANDIDATE_BIAS: return tf1 && gru ? H : 0;
    case CLRNN_PARAM_DENSE_W: return d->dense_size > 0 ? (size_t)d->dense_size * Hm : 0;
    case CLRNN_PARAM_DENSE_B: return d->dense_size > 0 ? (size_t)d->dense_size : 0;
    default: return 0;
    }
}

/* Every role of every framework, layer and direction of five rnns (every cell, GRU both ways, LSTM
 * with peepholes and projection, bidirectional, 2 layers, dense): counts of 4x (bytes for elements),
 * +1, SIZE_MAX, -1 and 0 are SHAPE_MISMATCH naming both counts; a NaN in the last element is
 * found (the scan covers exactly the expected count); the right count is accepted; a role the rnn
 * does not have is INVALID_ARGUMENT even with count SIZE_MAX. The data always sits right before a
 * PROT_NONE page, so reading one element too many crashes the test. */
static void set_param_count_before_read(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc ds[5];
    ds[0] = tu_desc(CLRNN_CELL_RNN, 3, 5);
    ds[0].num_layers = 2, ds[0].direction = CLRNN_DIR_BIDIRECTIONAL, ds[0].dense_size = 4;
    ds[1] = tu_desc(CLRNN_CELL_GRU, 3, 4);
    ds[1].num_layers = 2;
    ds[2] = tu_desc(CLRNN_CELL_GRU, 2, 3);
    ds[2].linear_before_reset = 1, ds[2].direction = CLRNN_DIR_BIDIRECTIONAL, ds[2].merge = CLRNN_MERGE_SUM;
    ds[2].dense_size = 2;
    ds[3] = tu_desc(CLRNN_CELL_LSTM, 3, 5);
    ds[3].num_layers = 2, ds[3].direction = CLRNN_DIR_BIDIRECTIONAL, ds[3].peephole = 1, ds[3].proj_size = 2;
    ds[4] = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    const int saved = n_cases;
    int valid = 0, absent = 0;
    uint64_t seed = 77;
    for (int k = 0; k < 5; ++k) {
        clrnn_rnn *r;
        TU_OK(clrnn_rnn_create(ctx, &ds[k], &r));
        const int D = clrnn_rnn_num_directions(r);
        for (int fw = 0; fw <= CLRNN_FRAMEWORK_TF1; ++fw)
            for (int role = 0; role < CLRNN_PARAM_COUNT_; ++role) {
                const int dense = role == CLRNN_PARAM_DENSE_W || role == CLRNN_PARAM_DENSE_B;
                for (int l = 0; l < (dense ? 1 : ds[k].num_layers); ++l)
                    for (int dir = 0; dir < (dense ? 1 : D); ++dir) {
                        const size_t n = table_count(&ds[k], D, (clrnn_framework)fw, (clrnn_param)role, l);
                        guarded g;
                        float *data = guarded_alloc(&g, n, &seed);
                        char what[160], needle[96];
                        snprintf(what, sizeof what, "rnn %d framework %d role %d layer %d dir %d", k, fw, role, l, dir);
                        if (n == 0) {
                            expect_status(__LINE__, what,
                                          clrnn_rnn_set_param(r, (clrnn_framework)fw, l, dir, (clrnn_param)role, data,
                                                              SIZE_MAX),
                                          CLRNN_ERR_INVALID_ARGUMENT, "role for this rnn");
                            ++absent;
                            guarded_free(&g);
                            continue;
                        }
                        const size_t bad[5] = {n * sizeof(float), n + 1, SIZE_MAX, n - 1, 0};
                        for (int b = 0; b < 5; ++b) {
                            snprintf(needle, sizeof needle, "got %zu elements, expected %zu", bad[b], n);
                            expect_status(__LINE__, what,
                                          clrnn_rnn_set_param(r, (clrnn_framework)fw, l, dir, (clrnn_param)role, data,
                                                              bad[b]),
                                          CLRNN_ERR_SHAPE_MISMATCH, needle);
                        }
                        const float keep = data[n - 1];
                        data[n - 1] = NAN;
                        snprintf(needle, sizeof needle, "element %zu is nan", n - 1);
                        expect_status(__LINE__, what,
                                      clrnn_rnn_set_param(r, (clrnn_framework)fw, l, dir, (clrnn_param)role, data, n),
                                      CLRNN_ERR_NON_FINITE, needle);
                        data[n - 1] = keep;
                        TU_OK(clrnn_rnn_set_param(r, (clrnn_framework)fw, l, dir, (clrnn_param)role, data, n));
                        ++valid;
                        guarded_free(&g);
                    }
            }
        clrnn_rnn_destroy(r);
    }
    printf("set_param: %d roles checked with wrong counts, %d absent roles\n", valid, absent);
    assert_true(valid >= 100 && absent >= 100); /* the table really was walked */
    n_cases = saved + 1; /* 135 */
}

/* ------------------------------------------------------------------------------------------
 * Every activation at the extremes, against the double reference (issue 10, D9; extends E)
 * ---------------------------------------------------------------------------------------- */
static const float extreme_inputs[] = {0.0f,  1e-40f, -1e-40f, 1e-30f, -1e-30f, 20.0f,    -20.0f,    88.0f,
                                       89.0f, -89.0f, 100.0f,  -100.0f, 1000.0f, 1e30f,   -1e30f,    3e38f,
                                       -3e38f, INFINITY, -INFINITY, NAN};
#define N_EXTREME ((int)(sizeof extreme_inputs / sizeof extreme_inputs[0]))

/* got vs the reference: NaN where it is NaN, the same infinity, else finite and close. */
static void expect_like_reference(const float *got, const float *ref, int n, const char *what) {
    for (int i = 0; i < n; ++i) {
        const double g = got[i], r = ref[i];
        int ok;
        if (isnan(r)) ok = isnan(g);
        else if (isinf(r)) ok = g == r;
        else ok = isfinite(g) && fabs(g - r) <= 1e-5 * fmax(1.0, fabs(r));
        if (!ok)
            fail_msg("%s, input %g: device %.9g, reference %.9g", what, (double)extreme_inputs[i], g, r);
    }
}

/* Each activation of the ONNX list in each slot of each cell (GRU both ways), with and without
 * `clip`, on inputs from denormals to +-3e38, +-Inf and NaN, one input per batch row. The other
 * gates are pinned by biases of +-100 (sigmoid 0 or 1, tanh 1, exactly in float and double) so that
 * the output (or the LSTM's cell state) is the activation itself. T = 1, H = 1, R = 0 and finite
 * initial states: an Inf state times R = 0 would give 0 * Inf = NaN on the device and in the
 * reference alike, and a float overflow of a finite double intermediate (3e38 * 3e38) would make the
 * float device and the double reference disagree for reasons that are IEEE, not clrnn. */
static void activation_extremes(void **state) {
    (void)state;
    static const clrnn_activation acts[] = {
        {CLRNN_ACT_SIGMOID, 0, 0},       {CLRNN_ACT_TANH, 0, 0},         {CLRNN_ACT_RELU, 0, 0},
        {CLRNN_ACT_AFFINE, 0.5f, 0.25f}, {CLRNN_ACT_LEAKY_RELU, 0.1f, 0}, {CLRNN_ACT_THRESHOLDED_RELU, 1.0f, 0},
        {CLRNN_ACT_SCALED_TANH, 0.9f, 0.7f}, {CLRNN_ACT_HARD_SIGMOID, 0.2f, 0.5f}, {CLRNN_ACT_ELU, 0.8f, 0},
        {CLRNN_ACT_SOFTSIGN, 0, 0},      {CLRNN_ACT_SOFTPLUS, 0, 0}};
    const int n_acts = (int)(sizeof acts / sizeof acts[0]);
    assert_int_equal(n_acts, CLRNN_ACT_COUNT_ - 1); /* every kind */
    /* (cell, linear_before_reset, slot) */
    static const int configs[][3] = {{CLRNN_CELL_RNN, 0, 0}, {CLRNN_CELL_GRU, 0, 0}, {CLRNN_CELL_GRU, 0, 1},
                                     {CLRNN_CELL_GRU, 1, 0}, {CLRNN_CELL_GRU, 1, 1}, {CLRNN_CELL_LSTM, 0, 0},
                                     {CLRNN_CELL_LSTM, 0, 1}, {CLRNN_CELL_LSTM, 0, 2}};
    const int N = N_EXTREME;
    float y[N_EXTREME], hn[N_EXTREME], cn[N_EXTREME], yr[N_EXTREME], hr[N_EXTREME], cr[N_EXTREME];
    float h0[N_EXTREME], c0[N_EXTREME];
    int runs = 0;
    for (int ci = 0; ci < (int)(sizeof configs / sizeof configs[0]); ++ci)
        for (int ai = 0; ai < n_acts; ++ai)
            for (int with_clip = 0; with_clip < 2; ++with_clip) {
                const clrnn_cell cell = (clrnn_cell)configs[ci][0];
                const int slot = configs[ci][2], G = tu_gates(cell);
                clrnn_rnn_desc d = tu_desc(cell, 1, 1);
                d.linear_before_reset = configs[ci][1];
                d.activations[0][slot] = acts[ai];
                d.clip = with_clip ? 50.0f : 0.0f;
                clrnn_rnn *r;
                TU_OK(clrnn_rnn_create(tu_context(), &d, &r));
                /* ONNX gate order: GRU z, r, h; LSTM i, o, f, c */
                float W[4] = {0}, R[4] = {0}, B[8] = {0};
                const float *x = extreme_inputs;
                for (int n = 0; n < N; ++n) h0[n] = 0.0f, c0[n] = 0.0f;
                if (cell == CLRNN_CELL_RNN) {
                    W[0] = 1; /* h = f(x) */
                } else if (cell == CLRNN_CELL_GRU && slot == 0) {
                    W[0] = W[1] = 1; /* z = r = f(x), n = g(0): h = z * h0 with h0 = 1 */
                    for (int n = 0; n < N; ++n) h0[n] = 1.0f;
                } else if (cell == CLRNN_CELL_GRU) {
                    W[2] = 1, B[0] = -100, B[1] = 100; /* z = 0, r = 1: h = g(x) */
                } else if (slot == 0) {
                    W[0] = W[1] = W[2] = 1, B[3] = 100; /* i = o = f = f(x), g = 1: c = f(x) */
                } else if (slot == 1) {
                    W[3] = 1, B[0] = B[1] = 100, B[2] = -100; /* i = o = 1, f = 0: c = g(x) */
                } else {
                    B[0] = -100, B[1] = B[2] = 100; /* i = 0, o = f = 1, g = 0: c = c0, h = h(c0) */
                    for (int n = 0; n < N; ++n) c0[n] = extreme_inputs[n];
                    x = h0; /* zeros */
                }
                TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_W, W, (size_t)G));
                TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_R, R, (size_t)G));
                TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_B, B, (size_t)2 * G));
                clrnn_forward_args a;
                memset(&a, 0, sizeof a);
                a.seq_length = 1, a.batch = N, a.x.host = (void *)x, a.h0.host = h0;
                a.y.host = y, a.hn.host = hn;
                if (cell == CLRNN_CELL_LSTM) a.c0.host = c0, a.cn.host = cn;
                TU_OK(clrnn_rnn_forward(r, &a));
                a.y.host = yr, a.hn.host = hr;
                if (cell == CLRNN_CELL_LSTM) a.cn.host = cr;
                TU_OK(clrnn_reference_forward(r, &a));
                char what[128];
                snprintf(what, sizeof what, "cell %d lbr %d, activation %d in slot %d, clip %g: y", (int)cell,
                         d.linear_before_reset, (int)acts[ai].kind, slot, (double)d.clip);
                expect_like_reference(y, yr, N, what);
                what[strlen(what) - 1] = 0;
                strcat(what, "hn");
                expect_like_reference(hn, hr, N, what);
                if (cell == CLRNN_CELL_LSTM) {
                    what[strlen(what) - 2] = 0;
                    strcat(what, "cn");
                    expect_like_reference(cn, cr, N, what);
                }
                clrnn_rnn_destroy(r);
                ++runs;
            }
    assert_int_equal(runs, 8 * 11 * 2);
    ++n_cases; /* 136 */
}

/* ------------------------------------------------------------------------------------------
 * The workspace is sized for what calls need, not max(T) x max(N) (issue 10, D10; D6)
 * ---------------------------------------------------------------------------------------- */
/* Forward of (T, N) on r with random x, y (and hn/cn) compared with the reference. */
static void forward_vs_reference(clrnn_rnn *r, int T, int N, uint64_t seed, const char *what) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const int D = clrnn_rnn_num_directions(r), Hr = clrnn_rnn_state_size(r), O = clrnn_rnn_output_size(r);
    const size_t nx = (size_t)T * N * d.input_size, ny = (size_t)T * N * O, nh = (size_t)d.num_layers * D * N * Hr;
    float *x = tu_alloc_random(nx, &seed, -1, 1);
    float *y = tu_alloc_poison(ny), *yr = tu_alloc_poison(ny), *hn = tu_alloc_poison(nh), *hr = tu_alloc_poison(nh);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y, a.hn.host = hn;
    TU_OK(clrnn_rnn_forward(r, &a));
    a.y.host = yr, a.hn.host = hr;
    TU_OK(clrnn_reference_forward(r, &a));
    size_t where = 0;
    double err = tu_max_abs_diff(y, yr, ny, &where);
    if (!(err <= 1e-5)) fail_msg("%s: y[%zu] = %g, reference %g", what, where, (double)y[where], (double)yr[where]);
    err = tu_max_abs_diff(hn, hr, nh, &where);
    if (!(err <= 1e-5)) fail_msg("%s: hn[%zu] = %g, reference %g", what, where, (double)hn[where], (double)hr[where]);
    free(x), free(y), free(yr), free(hn), free(hr);
}

/* Workspace bytes a fresh rnn of desc d takes for one call of (T, N): that call's own need. */
static size_t own_need(clrnn_context *ctx, clrnn_rnn_desc d, int T, int N) {
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    set_weights(r, 3);
    float *x = calloc((size_t)T * N * d.input_size, sizeof(float));
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x;
    TU_OK(clrnn_rnn_forward(r, &a));
    const size_t bytes = clrnn_rnn_workspace_bytes(r);
    free(x);
    clrnn_rnn_destroy(r);
    return bytes;
}

/* The review's sequence: a long sequence, then a wide batch, then the long sequence again. Each
 * call is right and the workspace never holds more than the largest of the calls' own needs (it
 * used to ask for 65536 x 65536 rows and fail). */
static void workspace_long_then_wide(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 2, 3);
    const int shapes[3][2] = {{65536, 1}, {1, 65536}, {65536, 1}};
    const size_t need_long = own_need(ctx, d, 65536, 1), need_wide = own_need(ctx, d, 1, 65536);
    const size_t bound = need_long > need_wide ? need_long : need_wide;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    set_weights(r, 3);
    for (int i = 0; i < 3; ++i) {
        char what[64];
        snprintf(what, sizeof what, "call %d: T = %d, N = %d", i, shapes[i][0], shapes[i][1]);
        forward_vs_reference(r, shapes[i][0], shapes[i][1], 100 + (uint64_t)i, what);
        const size_t ws = clrnn_rnn_workspace_bytes(r);
        if (ws > bound) fail_msg("%s: workspace %zu bytes, the largest call needs %zu", what, ws, bound);
    }
    clrnn_rnn_destroy(r);
    ++n_cases; /* 137 */
}

/* Workspace within the device's memory, checked before allocating: a call whose buffers each fit
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE but not together in CL_DEVICE_GLOBAL_MEM_SIZE is refused with
 * DEVICE_OUT_OF_MEMORY (PoCL would abort inside a later enqueue), the rnn keeps its workspace and
 * its next call gives the same bits. Then, on a context whose reported memory is lowered (the
 * check reads ctx->info), the sizing falls back to a call's own need when what earlier calls
 * needed does not fit together with it. */
static void workspace_limits(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    clrnn_device_info info;
    TU_OK(clrnn_context_device_info(ctx, &info));
    /* 5 buffers of 128 floats per step row (input projections, 2 layer outputs, output staging,
     * dense input), each sized to the per-buffer limit */
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_RNN, 1, 64);
    d.direction = CLRNN_DIR_BIDIRECTIONAL, d.num_layers = 2, d.dense_size = 128;
    fixture f;
    fixture_make(&f, d, 3, 2, 1);
    float *dw = tu_alloc_random((size_t)128 * 128, &(uint64_t){9}, -0.1f, 0.1f);
    TU_OK(clrnn_rnn_set_param(f.r, CLRNN_FRAMEWORK_ONNX, 0, 0, CLRNN_PARAM_DENSE_W, dw, (size_t)128 * 128));
    free(dw);
    clrnn_forward_args a = fixture_args(&f);
    float *y_ok = tu_alloc_poison(f.ny);
    a.y.host = y_ok;
    TU_OK(clrnn_rnn_forward(f.r, &a));
    const size_t ws_before = clrnn_rnn_workspace_bytes(f.r);
    const int T = 16;
    const uint64_t rows = info.max_alloc_bytes / (128 * sizeof(float)) / T * T;
    if (rows * 5 * 128 * sizeof(float) > info.global_mem_bytes && rows * 2 < (1ull << 31)) {
        float *x = calloc((size_t)rows, sizeof(float));
        assert_non_null(x);
        a = fixture_args(&f);
        a.seq_length = T, a.batch = (int)(rows / T), a.x.host = x;
        a.y.host = NULL, a.hn.host = NULL; /* outputs of that size are not needed */
        EXPECT(clrnn_rnn_forward(f.r, &a), CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "bytes of global memory"); /* 138 */
        free(x);
    } else {
        printf("workspace_limits: global memory %llu >= 5 x max alloc %llu, no such call on this device\n",
               (unsigned long long)info.global_mem_bytes, (unsigned long long)info.max_alloc_bytes);
        ++n_cases; /* 138: counted */
    }
    assert_int_equal(clrnn_rnn_workspace_bytes(f.r), ws_before);
    a = fixture_args(&f);
    TU_OK(clrnn_rnn_forward(f.r, &a));
    assert_memory_equal(f.y, y_ok, f.ny * sizeof(float));
    assert_int_equal(clrnn_rnn_workspace_bytes(f.r), ws_before);
    free(y_ok);
    fixture_free(&f);

    /* A 4-layer LSTM: its states (per batch row) outweigh its step buffers (per step row). A long
     * call (T*N = 8192, N = 1), a wide one (2048, 2048): together (8192, 2048) they need more than
     * either. */
    clrnn_context *small = NULL;
    TU_OK(clrnn_context_create(NULL, &small));
    clrnn_rnn_desc dl = tu_desc(CLRNN_CELL_LSTM, 2, 16);
    dl.num_layers = 4;
    const size_t need_long = own_need(small, dl, 8192, 1), need_wide = own_need(small, dl, 1, 2048);
    const size_t need_both = own_need(small, dl, 4, 2048), slack = 1u << 20; /* slack: room for the weights */
    const size_t need_max = need_long > need_wide ? need_long : need_wide;
    assert_true(need_both > need_max + slack);
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(small, &dl, &r));
    set_weights(r, 3);
    forward_vs_reference(r, 8192, 1, 7, "long call");
    assert_int_equal(clrnn_rnn_workspace_bytes(r), need_long);
    const uint64_t real_global = small->info.global_mem_bytes;
    small->info.global_mem_bytes = need_max + slack; /* either call fits, not both */
    forward_vs_reference(r, 1, 2048, 8, "wide call");
    assert_int_equal(clrnn_rnn_workspace_bytes(r), need_wide);
    forward_vs_reference(r, 8192, 1, 9, "long call again");
    assert_int_equal(clrnn_rnn_workspace_bytes(r), need_long);
    /* a call that fits nowhere: refused, the rnn keeps its workspace, the next call that fits runs */
    small->info.global_mem_bytes = 4096;
    float x1[2 * 8] = {0};
    clrnn_forward_args a1;
    memset(&a1, 0, sizeof a1);
    a1.seq_length = 1, a1.batch = 8, a1.x.host = x1;
    EXPECT(clrnn_rnn_forward(r, &a1), CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "bytes of global memory"); /* 139 */
    assert_int_equal(clrnn_rnn_workspace_bytes(r), need_long);
    forward_vs_reference(r, 4096, 1, 10, "a call within the workspace");
    small->info.global_mem_bytes = real_global;
    forward_vs_reference(r, 1, 8, 11, "the refused shape, with the real limit");
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(small);
}

/* Weights are held to the same limits as the workspace, checked before the driver sees them
 * (context with lowered reported limits): over the per-buffer limit or over global memory is
 * DEVICE_OUT_OF_MEMORY with y untouched, and the rnn runs once the weights fit. */
static void weights_within_device_limits(void **state) {
    (void)state;
    clrnn_context *small = NULL;
    TU_OK(clrnn_context_create(NULL, &small));
    const clrnn_device_info real = small->info;
    clrnn_rnn_desc d = tu_desc(CLRNN_CELL_LSTM, 8, 64); /* W 8 KiB, R 64 KiB */
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(small, &d, &r));
    set_weights(r, 5);
    const int T = 3, N = 2;
    float *x = tu_alloc_random((size_t)T * N * 8, &(uint64_t){6}, -1, 1);
    float *y = tu_alloc_poison((size_t)T * N * 64), *yr = tu_alloc_poison((size_t)T * N * 64);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = T, a.batch = N, a.x.host = x, a.y.host = y;
    const int saved = n_cases;
    small->info.max_alloc_bytes = 16384;
    EXPECT(clrnn_rnn_forward(r, &a), CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "recurrent weights: 65536 bytes, the device allows");
    assert_poisoned(y, (size_t)T * N * 64, "y");
    small->info = real;
    small->info.global_mem_bytes = 65536;
    EXPECT(clrnn_rnn_forward(r, &a), CLRNN_ERR_DEVICE_OUT_OF_MEMORY, "bytes of global memory");
    assert_poisoned(y, (size_t)T * N * 64, "y");
    small->info = real;
    TU_OK(clrnn_rnn_forward(r, &a));
    a.y.host = yr;
    TU_OK(clrnn_reference_forward(r, &a));
    size_t where = 0;
    if (!(tu_max_abs_diff(y, yr, (size_t)T * N * 64, &where) <= 1e-5))
        fail_msg("after the refusals: y[%zu] = %g, reference %g", where, (double)y[where], (double)yr[where]);
    n_cases = saved + 1; /* 140 */
    free(x), free(y), free(yr);
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(small);
}

static void count_cases(void **state) {
    (void)state;
    printf("bad-input cases checked: %d\n", n_cases);
    assert_int_equal(n_cases, 140);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_misuse),
        cmocka_unit_test(bad_descriptors),
        cmocka_unit_test(bad_weights),
        cmocka_unit_test(bad_forward_args),
        cmocka_unit_test(device_out_of_memory),
        cmocka_unit_test(host_out_of_memory),
        cmocka_unit_test(non_finite_inputs),
        cmocka_unit_test(bad_npy),
        cmocka_unit_test(gemm_misuse),
        cmocka_unit_test(set_param_count_before_read),
        cmocka_unit_test(activation_extremes),
        cmocka_unit_test(workspace_long_then_wide),
        cmocka_unit_test(workspace_limits),
        cmocka_unit_test(weights_within_device_limits),
        cmocka_unit_test(count_cases),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
