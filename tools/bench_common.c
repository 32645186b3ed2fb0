/* Scenarios, seeded networks and clrnn set-up shared by clrnn-bench and clrnn-tune. */
#include "bench_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const cell_names[BENCH_CELL_COUNT] = {"lstm", "gru", "gru_lbr", "rnn_tanh", "rnn_relu"};

int bench_cell_parse(const char *name) {
    for (int i = 0; i < BENCH_CELL_COUNT; ++i)
        if (strcmp(name, cell_names[i]) == 0) return i;
    return -1;
}

const char *bench_cell_name(bench_cell_kind cell) { return (unsigned)cell < BENCH_CELL_COUNT ? cell_names[cell] : "?"; }

int bench_cell_gates(bench_cell_kind cell) {
    return cell == BENCH_LSTM ? 4 : (cell == BENCH_GRU || cell == BENCH_GRU_LBR) ? 3 : 1;
}

/* Issue 5: fp32 forward inference; oneDNN with 2 threads, median of several processes. */
const bench_scenario bench_scenarios[] = {
    {"S1", "LSTM, large batch", {BENCH_LSTM, 100, 64, 512, 512, 1, 0, 0, 0, 0}, 67.6},
    {"S2", "LSTM, latency (batch 1)", {BENCH_LSTM, 100, 1, 256, 256, 1, 0, 0, 0, 0}, 1.64},
    {"S3", "GRU, large batch", {BENCH_GRU, 100, 64, 512, 512, 1, 0, 0, 0, 0}, 52.8},
    {"S4", "bidirectional LSTM, 2 layers", {BENCH_LSTM, 50, 32, 256, 256, 2, 1, 0, 0, 0}, 24.5},
    {"S5", "tanh RNN (sequential MNIST)", {BENCH_RNN_TANH, 28, 150, 28, 150, 1, 0, 0, 0, 0}, 1.08},
    {"S6", "LSTM, H=1024", {BENCH_LSTM, 100, 64, 1024, 1024, 1, 0, 0, 0, 0}, 284.5},
    /* S1 with per-row lengths drawn from [50, 100] (76 % of the tokens): the suite prints its time
     * as a fraction of S1's, measured in the same run (oneDNN has no per-row lengths) */
    {"S1v", "S1, variable length", {BENCH_LSTM, 100, 64, 512, 512, 1, 0, 50, 0, 0}, 0},
};
const size_t bench_scenario_count = sizeof bench_scenarios / sizeof bench_scenarios[0];

int bench_layer_input(const bench_shape *s, int l) { return l == 0 ? s->I : (s->bidir ? 2 : 1) * (s->P ? s->P : s->H); }

double bench_flops(const bench_shape *s, const int32_t *lens) {
    double tokens = 0;
    for (int n = 0; n < s->N; ++n) tokens += lens ? lens[n] : s->T;
    const double D = s->bidir ? 2 : 1, GH = (double)bench_cell_gates(s->cell) * s->H;
    double f = 0;
    const double K = s->P ? s->P : s->H, proj = (double)s->P * s->H;
    for (int l = 0; l < s->L; ++l) f += 2.0 * tokens * (GH * (bench_layer_input(s, l) + K) + proj) * D;
    return f;
}

static uint64_t next_u64(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static float uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((next_u64(s) >> 40) * (1.0 / 16777216.0));
}

void bench_lengths(const bench_shape *s, int32_t *lens) {
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (int n = 0; n < s->N; ++n) {
        if (s->min_len <= 0 || s->min_len >= s->T) {
            lens[n] = s->T;
        } else {
            const uint64_t span = (uint64_t)(s->T - s->min_len + 1);
            lens[n] = s->min_len + (int32_t)(next_u64(&seed) % span);
        }
    }
}

void bench_shape_label(const bench_shape *s, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s T=%d N=%d I=%d H=%d", bench_cell_name(s->cell), s->T, s->N, s->I, s->H);
    if (n < 0 || (size_t)n >= cap) return;
    if (s->P > 0) n += snprintf(out + n, cap - (size_t)n, " P=%d", s->P);
    if ((size_t)n < cap && s->L > 1) n += snprintf(out + n, cap - (size_t)n, " L=%d", s->L);
    if ((size_t)n < cap && s->bidir) n += snprintf(out + n, cap - (size_t)n, " bidir");
    if ((size_t)n < cap && s->min_len > 0 && s->min_len < s->T) n += snprintf(out + n, cap - (size_t)n, " len>=%d", s->min_len);
    if ((size_t)n < cap && s->storage) snprintf(out + n, cap - (size_t)n, " %s", s->storage == CLRNN_STORAGE_FP16 ? "fp16" : "bf16");
}

/* n = a*b*c, or SIZE_MAX when that overflows (then rand_array fails): the flags allow 2^30 each. */
static size_t count3(size_t a, size_t b, size_t c) {
    if (a && b > SIZE_MAX / a) return SIZE_MAX;
    const size_t ab = a * b;
    if (ab != 0 && c > SIZE_MAX / ab) return SIZE_MAX;
    return a * b * c;
}

static float *rand_array(size_t n, uint64_t *seed, float lo, float hi) {
    if (n > SIZE_MAX / sizeof(float)) return NULL; /* n * 4 would wrap to a small buffer */
    float *a = malloc((n ? n : 1) * sizeof(float));
    if (a)
        for (size_t i = 0; i < n; ++i) a[i] = uniform(seed, lo, hi);
    return a;
}

float *bench_random_array(size_t n, uint64_t *seed, float lo, float hi) { return rand_array(n, seed, lo, hi); }

int bench_model_init(bench_model *m, const bench_shape *s, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->shape = *s;
    m->D = s->bidir ? 2 : 1;
    m->G = bench_cell_gates(s->cell);
    const size_t LD = (size_t)s->L * m->D, GH = (size_t)m->G * s->H;
    m->W = calloc(LD, sizeof *m->W);
    m->R = calloc(LD, sizeof *m->R);
    m->Wb = calloc(LD, sizeof *m->Wb);
    m->Rb = calloc(LD, sizeof *m->Rb);
    m->Pj = calloc(LD, sizeof *m->Pj);
    m->x = rand_array(count3((size_t)s->T, (size_t)s->N, (size_t)s->I), &seed, -1.0f, 1.0f);
    m->lens = malloc((size_t)s->N * sizeof *m->lens);
    if (!m->W || !m->R || !m->Wb || !m->Rb || !m->Pj || !m->x || !m->lens) return 0;
    const size_t K = (size_t)(s->P ? s->P : s->H);
    const float r = 1.0f / sqrtf((float)s->H);
    for (int l = 0; l < s->L; ++l)
        for (int d = 0; d < m->D; ++d) {
            const size_t i = (size_t)l * m->D + d;
            m->W[i] = rand_array(count3(GH, (size_t)bench_layer_input(s, l), 1), &seed, -r, r);
            m->R[i] = rand_array(count3(GH, K, 1), &seed, -r, r);
            if (s->P && !(m->Pj[i] = rand_array(count3((size_t)s->P, (size_t)s->H, 1), &seed, -r, r))) return 0;
            m->Wb[i] = rand_array(GH, &seed, -r, r);
            m->Rb[i] = rand_array(GH, &seed, -r, r);
            if (!m->W[i] || !m->R[i] || !m->Wb[i] || !m->Rb[i]) return 0;
        }
    bench_lengths(s, m->lens);
    return 1;
}

void bench_model_free(bench_model *m) {
    const size_t LD = (size_t)m->shape.L * m->D;
    for (size_t i = 0; i < LD; ++i) {
        if (m->W) free(m->W[i]);
        if (m->R) free(m->R[i]);
        if (m->Wb) free(m->Wb[i]);
        if (m->Rb) free(m->Rb[i]);
        if (m->Pj) free(m->Pj[i]);
    }
    free(m->W), free(m->R), free(m->Wb), free(m->Rb), free(m->Pj), free(m->x), free(m->lens);
    memset(m, 0, sizeof *m);
}

static int has_variable_lengths(const bench_shape *s) { return s->min_len > 0 && s->min_len < s->T; }

/* Records clrnn's message for a failed library call, and returns st. */
static clrnn_status lib_failed(bench_clrnn *b, clrnn_status st) {
    snprintf(b->error, sizeof b->error, "%s", clrnn_last_error());
    if (!b->error[0]) snprintf(b->error, sizeof b->error, "%s", clrnn_status_string(st));
    return st;
}

static clrnn_status init(bench_clrnn *b, clrnn_context *ctx, const bench_model *m);

clrnn_status bench_clrnn_init(bench_clrnn *b, clrnn_context *ctx, const bench_model *m) {
    clrnn_status st = init(b, ctx, m);
    if (st != CLRNN_OK && !b->error[0]) lib_failed(b, st);
    return st;
}

static clrnn_status init(bench_clrnn *b, clrnn_context *ctx, const bench_model *m) {
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    const bench_shape *s = &m->shape;
    clrnn_rnn_desc desc = clrnn_rnn_desc_default();
    switch (s->cell) {
    case BENCH_LSTM: desc.cell = CLRNN_CELL_LSTM; break;
    case BENCH_GRU: desc.cell = CLRNN_CELL_GRU; break;
    case BENCH_GRU_LBR:
        desc.cell = CLRNN_CELL_GRU;
        desc.linear_before_reset = 1;
        break;
    case BENCH_RNN_TANH: desc.cell = CLRNN_CELL_RNN; break;
    case BENCH_RNN_RELU:
        desc.cell = CLRNN_CELL_RNN;
        for (int d = 0; d < (s->bidir ? 2 : 1); ++d) desc.activations[d][0].kind = CLRNN_ACT_RELU;
        break;
    default:
        snprintf(b->error, sizeof b->error, "unknown cell kind %d", (int)s->cell);
        return CLRNN_ERR_INVALID_ARGUMENT;
    }
    desc.input_size = s->I;
    desc.hidden_size = s->H;
    desc.storage = (clrnn_storage)s->storage;
    desc.num_layers = s->L;
    desc.direction = s->bidir ? CLRNN_DIR_BIDIRECTIONAL : CLRNN_DIR_FORWARD;
    desc.merge = CLRNN_MERGE_CONCAT;
    desc.layout = CLRNN_LAYOUT_TIME_MAJOR;
    desc.proj_size = s->P;
    clrnn_status st = clrnn_rnn_create(ctx, &desc, &b->rnn);
    if (st != CLRNN_OK) return lib_failed(b, st);
    const size_t GH = (size_t)m->G * s->H, K = (size_t)(s->P ? s->P : s->H);
    for (int l = 0; l < s->L && st == CLRNN_OK; ++l)
        for (int d = 0; d < m->D && st == CLRNN_OK; ++d) {
            const size_t i = (size_t)l * m->D + d;
            st = clrnn_rnn_set_param(b->rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_W, m->W[i],
                                     GH * bench_layer_input(s, l));
            if (st == CLRNN_OK)
                st = clrnn_rnn_set_param(b->rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_R, m->R[i], GH * K);
            if (st == CLRNN_OK) st = clrnn_rnn_set_param(b->rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_BW, m->Wb[i], GH);
            if (st == CLRNN_OK) st = clrnn_rnn_set_param(b->rnn, CLRNN_FRAMEWORK_ONNX, l, d, CLRNN_PARAM_BR, m->Rb[i], GH);
            if (st == CLRNN_OK && s->P) /* ONNX has no projection: PyTorch's weight_hr layout */
                st = clrnn_rnn_set_param(b->rnn, CLRNN_FRAMEWORK_PYTORCH, l, d, CLRNN_PARAM_PROJ, m->Pj[i],
                                         (size_t)s->P * s->H);
        }
    if (st != CLRNN_OK) return lib_failed(b, st);
    cl_int err;
    /* in double first: T*N*I*4 can pass SIZE_MAX for shapes the flags allow */
    const double xd = (double)s->T * s->N * s->I * sizeof(float), yd = (double)s->T * s->N * m->D * K * sizeof(float);
    if (xd > (double)SIZE_MAX / 2 || yd > (double)SIZE_MAX / 2) {
        snprintf(b->error, sizeof b->error, "the input (%.3g bytes) or output (%.3g bytes) does not fit in memory", xd, yd);
        return CLRNN_ERR_OUT_OF_MEMORY;
    }
    const size_t xb = (size_t)xd, yb = (size_t)yd;
    b->x = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, xb, m->x, &err);
    if (err != CL_SUCCESS) {
        snprintf(b->error, sizeof b->error, "cannot allocate the device input x (%zu bytes): OpenCL error %d", xb, (int)err);
        return CLRNN_ERR_DEVICE_OUT_OF_MEMORY;
    }
    b->y = clCreateBuffer(clrnn_context_cl_context(ctx), CL_MEM_READ_WRITE, yb, NULL, &err);
    if (err != CL_SUCCESS) {
        snprintf(b->error, sizeof b->error, "cannot allocate the device output y (%zu bytes): OpenCL error %d", yb, (int)err);
        return CLRNN_ERR_DEVICE_OUT_OF_MEMORY;
    }
    memset(&b->args, 0, sizeof b->args);
    b->args.seq_length = s->T;
    b->args.batch = s->N;
    b->args.x.mem = b->x;
    b->args.y.mem = b->y;
    b->args.seq_lens = has_variable_lengths(s) ? m->lens : NULL;
    return CLRNN_OK;
}

clrnn_status bench_clrnn_run(bench_clrnn *b) { return clrnn_rnn_forward(b->rnn, &b->args); }

clrnn_status bench_clrnn_read_y(bench_clrnn *b, float *y, size_t count) {
    cl_int err = clEnqueueReadBuffer(clrnn_context_cl_queue(b->ctx), b->y, CL_TRUE, 0, count * sizeof(float), y, 0,
                                     NULL, NULL);
    return err == CL_SUCCESS ? CLRNN_OK : CLRNN_ERR_OPENCL;
}

void bench_clrnn_free(bench_clrnn *b) {
    clrnn_rnn_destroy(b->rnn);
    if (b->x) clReleaseMemObject(b->x);
    if (b->y) clReleaseMemObject(b->y);
    memset(b, 0, sizeof *b);
}

double bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
