/* The threading model of clrnn.h, tested: 8 threads x 200 runs on one shared context.
 *   own_rnn_per_thread: each thread creates its own rnn (same weights), re-imports the weights
 *     now and then, provokes a failure now and then (clrnn_last_error() is per thread), and runs
 *     inputs of varying T and N (workspace regrowth) -- with no lock of its own.
 *   shared_rnn_with_app_lock: the threads share one rnn, each call inside the application's own
 *     mutex, as the header asks for an rnn used by several threads.
 *   concurrent_contexts: threads create, use and destroy their own contexts at the same time.
 * Every output must be bitwise identical to the single-threaded run of the same input. Shapes are
 * tiny so that the test is quick, also under ThreadSanitizer (tools/tsan.sh). */
#include "test_util.h"

#include <stdatomic.h>
#include <threads.h>

#define THREADS 8
#define RUNS 200
#define INPUTS 24 /* distinct (T, N, x) inputs; run j of thread t uses input (j + 5 t) % INPUTS */

static const int I = 3, H = 5;

typedef struct input {
    int T, N;
    float *x, *y, *hn, *cn; /* expected outputs from the single-threaded run */
    size_t ny, nh;
} input;

static input inputs[INPUTS];
static clrnn_rnn_desc model;

static atomic_int failures;
static atomic_int compared; /* runs whose outputs matched */
static char first_failure[512];
static mtx_t failure_lock;

static void record_failure(const char *fmt, int a, int b, const char *detail) {
    if (atomic_fetch_add(&failures, 1) == 0) {
        mtx_lock(&failure_lock);
        snprintf(first_failure, sizeof first_failure, fmt, a, b, detail);
        mtx_unlock(&failure_lock);
    }
}

static void set_weights(clrnn_rnn *r) {
    uint64_t seed = 2024;
    const int D = 2, G = 4, GH = G * H;
    for (int dir = 0; dir < D; ++dir) {
        float *w = tu_alloc_random((size_t)GH * I, &seed, -0.5f, 0.5f);
        float *rr = tu_alloc_random((size_t)GH * H, &seed, -0.5f, 0.5f);
        float *b = tu_alloc_random((size_t)2 * GH, &seed, -0.3f, 0.3f);
        clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, dir, CLRNN_PARAM_W, w, (size_t)GH * I);
        clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, dir, CLRNN_PARAM_R, rr, (size_t)GH * H);
        clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_ONNX, 0, dir, CLRNN_PARAM_B, b, (size_t)2 * GH);
        free(w), free(rr), free(b);
    }
}

/* One run of input k into fresh output buffers; 0 if it matches the single-threaded bits. */
static int run_and_compare(clrnn_rnn *r, int k, int tid, int run) {
    const input *in = &inputs[k];
    float *y = tu_alloc_poison(in->ny), *hn = tu_alloc_poison(in->nh), *cn = tu_alloc_poison(in->nh);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = in->T, a.batch = in->N, a.x.host = in->x, a.y.host = y, a.hn.host = hn, a.cn.host = cn;
    int bad = 0;
    clrnn_status st = clrnn_rnn_forward(r, &a);
    if (st != CLRNN_OK) {
        record_failure("thread %d run %d: forward failed: %s", tid, run, clrnn_last_error());
        bad = 1;
    } else if (memcmp(y, in->y, in->ny * sizeof(float)) || memcmp(hn, in->hn, in->nh * sizeof(float)) ||
               memcmp(cn, in->cn, in->nh * sizeof(float))) {
        record_failure("thread %d run %d: output differs from the single-threaded run%s", tid, run, "");
        bad = 1;
    } else {
        atomic_fetch_add(&compared, 1);
    }
    free(y), free(hn), free(cn);
    return bad;
}

static int setup(void **state) {
    (void)state;
    mtx_init(&failure_lock, mtx_plain);
    model = clrnn_rnn_desc_default();
    model.cell = CLRNN_CELL_LSTM;
    model.direction = CLRNN_DIR_BIDIRECTIONAL;
    model.input_size = I;
    model.hidden_size = H;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(tu_context(), &model, &r));
    set_weights(r);
    uint64_t seed = 7;
    for (int k = 0; k < INPUTS; ++k) {
        input *in = &inputs[k];
        in->T = 1 + k % 5, in->N = 1 + (k / 5) % 3;
        in->x = tu_alloc_random((size_t)in->T * in->N * I, &seed, -1, 1);
        in->ny = (size_t)in->T * in->N * 2 * H, in->nh = (size_t)2 * in->N * H;
        in->y = tu_alloc_poison(in->ny), in->hn = tu_alloc_poison(in->nh), in->cn = tu_alloc_poison(in->nh);
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = in->T, a.batch = in->N, a.x.host = in->x, a.y.host = in->y, a.hn.host = in->hn, a.cn.host = in->cn;
        TU_OK(clrnn_rnn_forward(r, &a));
    }
    clrnn_rnn_destroy(r);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int k = 0; k < INPUTS; ++k)
        free(inputs[k].x), free(inputs[k].y), free(inputs[k].hn), free(inputs[k].cn);
    tu_context_release();
    mtx_destroy(&failure_lock);
    return 0;
}

/* ---- (a) one rnn per thread, no application lock ---- */
static int own_rnn_worker(void *arg) {
    const int tid = (int)(intptr_t)arg;
    clrnn_rnn *r = NULL;
    if (clrnn_rnn_create(tu_context(), &model, &r) != CLRNN_OK) {
        record_failure("thread %d run %d: rnn_create failed: %s", tid, 0, clrnn_last_error());
        return 1;
    }
    set_weights(r);
    for (int j = 0; j < RUNS; ++j) {
        if (j % 50 == 25) set_weights(r); /* re-import: re-upload under the context lock */
        if (j % 20 == 10) {
            /* a failure on this thread leaves this thread's message, whatever the others do */
            int32_t lens[1] = {1000 + tid};
            float x[3];
            clrnn_forward_args a;
            memset(&a, 0, sizeof a);
            a.seq_length = 1, a.batch = 1, a.x.host = x, a.seq_lens = lens;
            char want[64];
            snprintf(want, sizeof want, "seq_lens[0] = %d is outside", 1000 + tid);
            if (clrnn_rnn_forward(r, &a) != CLRNN_ERR_INVALID_LENGTH || !strstr(clrnn_last_error(), want))
                record_failure("thread %d run %d: wrong per-thread error: %s", tid, j, clrnn_last_error());
        }
        if (run_and_compare(r, (j + 5 * tid) % INPUTS, tid, j)) break;
    }
    clrnn_rnn_destroy(r);
    return 0;
}

static void run_threads(thrd_start_t fn) {
    atomic_store(&failures, 0);
    atomic_store(&compared, 0);
    thrd_t th[THREADS];
    for (int t = 0; t < THREADS; ++t) assert_int_equal(thrd_create(&th[t], fn, (void *)(intptr_t)t), thrd_success);
    for (int t = 0; t < THREADS; ++t) assert_int_equal(thrd_join(th[t], NULL), thrd_success);
    if (atomic_load(&failures)) fail_msg("%d failure(s); first: %s", atomic_load(&failures), first_failure);
    assert_int_equal(atomic_load(&compared), THREADS * RUNS);
}

static void own_rnn_per_thread(void **state) {
    (void)state;
    run_threads(own_rnn_worker);
}

/* ---- (b) one rnn shared by all threads, behind the application's mutex ---- */
static clrnn_rnn *shared;
static mtx_t app_lock;

static int shared_worker(void *arg) {
    const int tid = (int)(intptr_t)arg;
    for (int j = 0; j < RUNS; ++j) {
        mtx_lock(&app_lock);
        const int bad = run_and_compare(shared, (j + 5 * tid) % INPUTS, tid, j);
        mtx_unlock(&app_lock);
        if (bad) break;
    }
    return 0;
}

static void shared_rnn_with_app_lock(void **state) {
    (void)state;
    assert_int_equal(mtx_init(&app_lock, mtx_plain), thrd_success);
    TU_OK(clrnn_rnn_create(tu_context(), &model, &shared));
    set_weights(shared);
    run_threads(shared_worker);
    clrnn_rnn_destroy(shared);
    mtx_destroy(&app_lock);
}

/* ---- (c) contexts created and destroyed concurrently (kernel cache shared) ---- */
static int context_worker(void *arg) {
    const int tid = (int)(intptr_t)arg;
    clrnn_context *ctx = NULL;
    clrnn_rnn *r = NULL;
    if (clrnn_context_create(NULL, &ctx) != CLRNN_OK) {
        record_failure("thread %d run %d: context_create failed: %s", tid, 0, clrnn_last_error());
        return 1;
    }
    if (clrnn_rnn_create(ctx, &model, &r) != CLRNN_OK) {
        record_failure("thread %d run %d: rnn_create failed: %s", tid, 0, clrnn_last_error());
    } else {
        set_weights(r);
        for (int j = 0; j < 10; ++j)
            if (run_and_compare(r, (j + tid) % INPUTS, tid, j)) break;
    }
    clrnn_rnn_destroy(r);
    clrnn_context_destroy(ctx);
    return 0;
}

static void concurrent_contexts(void **state) {
    (void)state;
    atomic_store(&failures, 0);
    atomic_store(&compared, 0);
    thrd_t th[4];
    for (int t = 0; t < 4; ++t)
        assert_int_equal(thrd_create(&th[t], context_worker, (void *)(intptr_t)t), thrd_success);
    for (int t = 0; t < 4; ++t) assert_int_equal(thrd_join(th[t], NULL), thrd_success);
    if (atomic_load(&failures)) fail_msg("%d failure(s); first: %s", atomic_load(&failures), first_failure);
    assert_int_equal(atomic_load(&compared), 4 * 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(own_rnn_per_thread),
        cmocka_unit_test(shared_rnn_with_app_lock),
        cmocka_unit_test(concurrent_contexts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
