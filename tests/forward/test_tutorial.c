/* The seed tutorials' own examples, with the numbers they print. */
#include "reference.h"
#include "test_util.h"

/* The numpy loop: h_t = tanh(h_{t-1} . Ws + x_t . Wx + b), y_t = h_t . Wy + by, inputs 1 then 2.
 * The row-vector-times-matrix layout is Keras' (kernel [I, H], recurrent_kernel [H, H]). */
static void numpy_loop(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    const float Wx[2] = {0.5f, 0.6f}, Ws[4] = {0.1f, 0.2f, 0.3f, 0.4f}, b[2] = {0.1f, -0.1f};
    const float Wy[2] = {1.0f, 2.0f}, by[1] = {0.1f};
    float x[2] = {1.0f, 2.0f};
    for (int with_dense = 0; with_dense < 2; ++with_dense) {
        clrnn_rnn_desc d = clrnn_rnn_desc_default();
        d.cell = CLRNN_CELL_RNN;
        d.input_size = 1;
        d.hidden_size = 2;
        d.dense_size = with_dense;
        clrnn_rnn *r;
        TU_OK(clrnn_rnn_create(ctx, &d, &r));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_W, Wx, 2));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_R, Ws, 4));
        TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_B, b, 2));
        if (with_dense) {
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_DENSE_W, Wy, 2));
            TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_KERAS, 0, 0, CLRNN_PARAM_DENSE_B, by, 1));
        }
        float y[4] = {POISON, POISON, POISON, POISON};
        clrnn_forward_args a;
        memset(&a, 0, sizeof a);
        a.seq_length = 2, a.batch = 1, a.x.host = x, a.y.host = y;
        TU_OK(clrnn_rnn_forward(r, &a));
        if (!with_dense) {
            printf("states [%.8f %.8f], [%.8f %.8f]\n", y[0], y[1], y[2], y[3]);
            assert_float_equal(y[0], 0.53704957, 1e-6);
            assert_float_equal(y[1], 0.46211716, 1e-6);
            assert_float_equal(y[2], 0.85973818, 1e-6);
            assert_float_equal(y[3], 0.88366641, 1e-6);
        } else {
            printf("outputs %.8f, %.8f\n", y[0], y[1]);
            assert_float_equal(y[0], 1.56128388, 1e-6);
            assert_float_equal(y[1], 2.72707101, 1e-6);
            assert_true(y[2] == POISON && y[3] == POISON); /* nothing written past [T, N, 1] */
        }
        clrnn_rnn_destroy(r);
    }
}

/* TF1 dynamic_rnn tutorial: 4 instances, 2 steps, sequence_length = [2, 1, 2, 2], BasicRNNCell(5):
 * instance 2's step-2 output is zero and its final state is its step-1 output. */
static void dynamic_rnn_batch(void **state) {
    (void)state;
    clrnn_context *ctx = tu_context();
    float x[4 * 2 * 3] = {0, 1, 2, 9, 8, 7, 3, 4, 5, 0, 0, 0, 6, 7, 8, 6, 5, 4, 9, 0, 1, 3, 2, 1};
    const int32_t lens[4] = {2, 1, 2, 2};
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    d.cell = CLRNN_CELL_RNN;
    d.input_size = 3;
    d.hidden_size = 5;
    d.layout = CLRNN_LAYOUT_BATCH_MAJOR;
    clrnn_rnn *r;
    TU_OK(clrnn_rnn_create(ctx, &d, &r));
    uint64_t seed = 2024;
    float *kernel = tu_alloc_random((3 + 5) * 5, &seed, -0.3f, 0.3f), *bias = tu_alloc_random(5, &seed, -0.1f, 0.1f);
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_KERNEL, kernel, 40));
    TU_OK(clrnn_rnn_set_param(r, CLRNN_FRAMEWORK_TF1, 0, 0, CLRNN_PARAM_B, bias, 5));
    float *y = tu_alloc_poison(4 * 2 * 5), *hn = tu_alloc_poison(4 * 5);
    float *yr = tu_alloc_poison(4 * 2 * 5), *hr = tu_alloc_poison(4 * 5);
    clrnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.seq_length = 2, a.batch = 4, a.x.host = x, a.seq_lens = lens, a.y.host = y, a.hn.host = hn;
    TU_OK(clrnn_rnn_forward(r, &a));
    for (int j = 0; j < 5; ++j) {
        assert_true(y[(1 * 2 + 1) * 5 + j] == 0.0f);           /* instance 2, step 2: zero */
        assert_true(hn[1 * 5 + j] == y[(1 * 2 + 0) * 5 + j]);  /* its final state: step 1 */
        assert_true(hn[0 * 5 + j] == y[(0 * 2 + 1) * 5 + j]);  /* full rows: the last step */
        assert_true(y[(1 * 2 + 0) * 5 + j] != 0.0f);
    }
    a.y.host = yr, a.hn.host = hr;
    TU_OK(clrnn_reference_forward(r, &a));
    assert_true(tu_max_abs_diff(y, yr, 40, NULL) < 1e-5);
    assert_true(tu_max_abs_diff(hn, hr, 20, NULL) < 1e-5);
    free(kernel), free(bias), free(y), free(hn), free(yr), free(hr);
    clrnn_rnn_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numpy_loop),
        cmocka_unit_test(dynamic_rnn_batch),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
