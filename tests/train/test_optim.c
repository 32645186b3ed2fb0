/* The optimizers and global-norm clipping (src/train/optim.c): every update against PyTorch's and
 * TF/Keras' own numbers (tests/golden/optim/, tools/golden_optim.py) and against a float64 C model
 * of the same formulas; determinism; refused arguments and non-finite gradients leaving the values
 * untouched. The tensors are buffers of the test's own, stepped through the internal entry
 * (clrnn_optimizer_step_bufs); the public step is exercised on an embedding. */
#include "test_util.h"

#include "train/glue.h"

static const size_t SIZES[3] = {37, 300, 5};
#define NT 3
#define P 342

typedef struct golden {
    clrnn_optimizer_params p;
    clrnn_array init, grads, after, norms;
    int K;
} golden;

static const char *golden_dir(void) {
    const char *d = getenv("CLRNN_GOLDEN_DIR");
    return d ? d : "tests/golden";
}

static void load_array(const char *cs, const char *name, clrnn_array *a) {
    char path[1024];
    snprintf(path, sizeof path, "%s/optim/%s/%s.npy", golden_dir(), cs, name);
    TU_OK(clrnn_npy_load(path, a));
}

static void load_golden(const char *cs, golden *g) {
    memset(g, 0, sizeof *g);
    char path[1024];
    snprintf(path, sizeof path, "%s/optim/%s/params.txt", golden_dir(), cs);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char key[64], val[64];
    char kind[64] = "", eps_style[64] = "", clip_style[64] = "";
    while (fscanf(f, "%63s %63s", key, val) == 2) {
        const double v = atof(val);
        if (!strcmp(key, "kind")) snprintf(kind, sizeof kind, "%s", val);
        else if (!strcmp(key, "lr")) g->p.lr = (float)v;
        else if (!strcmp(key, "momentum")) g->p.momentum = (float)v;
        else if (!strcmp(key, "nesterov")) g->p.nesterov = (int)v;
        else if (!strcmp(key, "rho")) g->p.rho = (float)v;
        else if (!strcmp(key, "beta1")) g->p.beta1 = (float)v;
        else if (!strcmp(key, "beta2")) g->p.beta2 = (float)v;
        else if (!strcmp(key, "eps")) g->p.eps = (float)v;
        else if (!strcmp(key, "eps_style")) snprintf(eps_style, sizeof eps_style, "%s", val);
        else if (!strcmp(key, "clip_norm")) g->p.clip_norm = (float)v;
        else if (!strcmp(key, "clip_style")) snprintf(clip_style, sizeof clip_style, "%s", val);
    }
    fclose(f);
    g->p.kind = !strcmp(kind, "sgd") ? CLRNN_OPTIMIZER_SGD : !strcmp(kind, "rmsprop") ? CLRNN_OPTIMIZER_RMSPROP
                                                                                    : CLRNN_OPTIMIZER_ADAM;
    g->p.eps_style = !strcmp(eps_style, "keras") ? CLRNN_EPS_KERAS : CLRNN_EPS_TORCH;
    g->p.clip_style = !strcmp(clip_style, "tf") ? CLRNN_CLIP_TF : CLRNN_CLIP_TORCH;
    load_array(cs, "init", &g->init);
    load_array(cs, "grads", &g->grads);
    load_array(cs, "after", &g->after);
    load_array(cs, "norms", &g->norms);
    assert_int_equal(g->init.count, P);
    g->K = (int)g->grads.shape[0];
    assert_int_equal(g->grads.count, (size_t)g->K * P);
    assert_int_equal(g->after.count, (size_t)g->K * P);
}

static void free_golden(golden *g) {
    clrnn_array_free(&g->init), clrnn_array_free(&g->grads), clrnn_array_free(&g->after), clrnn_array_free(&g->norms);
}

/* The test's trainable tensors: device buffers of the test context. */
typedef struct tensors {
    clrnn_param_buf b[NT];
} tensors;

static cl_mem make_buf(size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(tu_context()), CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}
static void write_buf(cl_mem m, const float *v, size_t n) {
    assert_int_equal(clEnqueueWriteBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, n * sizeof(float), v, 0,
                                          NULL, NULL),
                     CL_SUCCESS);
}
static void read_buf(cl_mem m, float *v, size_t n) {
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, n * sizeof(float), v, 0,
                                         NULL, NULL),
                     CL_SUCCESS);
}

static void tensors_make(tensors *t, const float *init) {
    size_t off = 0;
    static const char *const what[NT] = {"t0", "t1", "t2"};
    for (int i = 0; i < NT; ++i) {
        t->b[i].value = make_buf(SIZES[i]);
        t->b[i].grad = make_buf(SIZES[i]);
        t->b[i].count = SIZES[i];
        t->b[i].what = what[i];
        write_buf(t->b[i].value, init + off, SIZES[i]);
        off += SIZES[i];
    }
}
static void tensors_set_grad(tensors *t, const float *g) {
    size_t off = 0;
    for (int i = 0; i < NT; ++i) write_buf(t->b[i].grad, g + off, SIZES[i]), off += SIZES[i];
}
static void tensors_read(tensors *t, float *v) {
    size_t off = 0;
    for (int i = 0; i < NT; ++i) read_buf(t->b[i].value, v + off, SIZES[i]), off += SIZES[i];
}
static void tensors_free(tensors *t) {
    for (int i = 0; i < NT; ++i) clReleaseMemObject(t->b[i].value), clReleaseMemObject(t->b[i].grad);
}

/* ---- the float64 model of the documented formulas ---- */
#define MODEL_MAX 1536 /* elements the model holds (P for the golden cases; n, when set, for others) */
typedef struct model {
    clrnn_optimizer_params p;
    double theta[MODEL_MAX], s1[MODEL_MAX], s2[MODEL_MAX];
    long t;
    int n; /* elements: P when 0 */
} model;

static double model_step(model *m, const float *grad) {
    const clrnn_optimizer_params *p = &m->p;
    const int P_ = m->n ? m->n : P;
    double sq = 0;
    for (int i = 0; i < P_; ++i) sq += (double)grad[i] * grad[i];
    const double norm = sqrt(sq);
    double scale = 1.0;
    if (p->clip_norm > 0) {
        if (p->clip_style == CLRNN_CLIP_TORCH) scale = fmin(1.0, p->clip_norm / (norm + 1e-6));
        else scale = p->clip_norm / fmax(norm, p->clip_norm);
    }
    m->t++;
    const double b1t = pow(p->beta1, (double)m->t), b2t = pow(p->beta2, (double)m->t);
    for (int i = 0; i < P_; ++i) {
        const double g = grad[i] * scale;
        if (p->kind == CLRNN_OPTIMIZER_SGD) {
            if (p->momentum == 0) {
                m->theta[i] -= p->lr * g;
                continue;
            }
            m->s1[i] = m->t == 1 ? g : p->momentum * m->s1[i] + g;
            m->theta[i] -= p->lr * (p->nesterov ? g + p->momentum * m->s1[i] : m->s1[i]);
        } else if (p->kind == CLRNN_OPTIMIZER_RMSPROP) {
            m->s2[i] = p->rho * m->s2[i] + (1 - p->rho) * g * g;
            const double u = p->eps_style == CLRNN_EPS_TORCH ? g / (sqrt(m->s2[i]) + p->eps) : g / sqrt(m->s2[i] + p->eps);
            if (p->momentum > 0) {
                m->s1[i] = p->momentum * m->s1[i] + u;
                m->theta[i] -= p->lr * m->s1[i];
            } else {
                m->theta[i] -= p->lr * u;
            }
        } else {
            m->s1[i] = p->beta1 * m->s1[i] + (1 - p->beta1) * g;
            m->s2[i] = p->beta2 * m->s2[i] + (1 - p->beta2) * g * g;
            if (p->eps_style == CLRNN_EPS_TORCH)
                m->theta[i] -= p->lr / (1 - b1t) * m->s1[i] / (sqrt(m->s2[i]) / sqrt(1 - b2t) + p->eps);
            else
                m->theta[i] -= p->lr * sqrt(1 - b2t) / (1 - b1t) * m->s1[i] / (sqrt(m->s2[i]) + p->eps);
        }
    }
    return norm;
}

/* Steps a golden case; checks every step against the framework and the float64 model. */
static void run_case(const char *cs) {
    golden g;
    load_golden(cs, &g);
    clrnn_optimizer *opt = NULL;
    TU_OK(clrnn_optimizer_create(tu_context(), &g.p, &opt));
    tensors t;
    const float *init = g.init.data;
    tensors_make(&t, init);
    model *m = calloc(1, sizeof *m);
    m->p = g.p;
    for (int i = 0; i < P; ++i) m->theta[i] = init[i];
    float got[P];
    double worst_fw = 0, worst_model = 0;
    for (int k = 0; k < g.K; ++k) {
        const float *gr = (const float *)g.grads.data + (size_t)k * P;
        tensors_set_grad(&t, gr);
        float norm = NAN;
        TU_OK(clrnn_optimizer_step_bufs(opt, t.b, NT, 42, &norm));
        const double mnorm = model_step(m, gr);
        tensors_read(&t, got);
        const float *exp = (const float *)g.after.data + (size_t)k * P;
        for (int i = 0; i < P; ++i) {
            const double e1 = tu_rel_err(got[i], exp[i]), e2 = tu_rel_err(got[i], m->theta[i]);
            if (e1 > worst_fw) worst_fw = e1;
            if (e2 > worst_model) worst_model = e2;
            if (e1 > 1e-5 || e2 > 1e-5)
                fail_msg("%s step %d element %d: got %.9g, framework %.9g, float64 %.9g", cs, k + 1, i, got[i], exp[i],
                         m->theta[i]);
        }
        const float fw_norm = ((const float *)g.norms.data)[k];
        if (tu_rel_err(norm, fw_norm) > 1e-5 || tu_rel_err(norm, mnorm) > 1e-5)
            fail_msg("%s step %d: norm %.9g, framework %.9g, float64 %.9g", cs, k + 1, norm, fw_norm, mnorm);
    }
    assert_int_equal(clrnn_optimizer_steps(opt), g.K);
    printf("  %-24s %d steps, max rel err vs framework %.2e, vs float64 %.2e\n", cs, g.K, worst_fw, worst_model);
    free(m);
    tensors_free(&t);
    clrnn_optimizer_destroy(opt);
    free_golden(&g);
}

/* An optimizer with golden g's hyper-parameters, and g's initial values in fresh tensors t. */
static clrnn_optimizer *optimizer_on(const golden *g, tensors *t) {
    clrnn_optimizer *opt = NULL;
    TU_OK(clrnn_optimizer_create(tu_context(), &g->p, &opt));
    tensors_make(t, g->init.data);
    return opt;
}

/* A refused step changed nothing: the values are still `before` and the step count is `steps`. */
static void expect_unchanged(tensors *t, const float *before, const clrnn_optimizer *opt, int64_t steps) {
    float now[P];
    tensors_read(t, now);
    assert_memory_equal(before, now, sizeof now);
    assert_int_equal(clrnn_optimizer_steps(opt), steps);
}

static void test_torch_sgd(void **s) { (void)s, run_case("torch_sgd"), run_case("torch_sgd_momentum"), run_case("torch_sgd_nesterov"); }
static void test_torch_rmsprop(void **s) { (void)s, run_case("torch_rmsprop"), run_case("torch_rmsprop_momentum"); }
static void test_torch_adam(void **s) { (void)s, run_case("torch_adam"), run_case("torch_adam_eps"); }
static void test_torch_clip(void **s) { (void)s, run_case("torch_clip_sgd"), run_case("torch_clip_adam"); }
static void test_keras_adam(void **s) { (void)s, run_case("keras_adam"), run_case("keras_adam_eps"), run_case("keras_clip_adam"); }
static void test_keras_rmsprop_sgd(void **s) {
    (void)s, run_case("keras_rmsprop"), run_case("keras_rmsprop_momentum"), run_case("keras_sgd_nesterov");
}

/* The eps forms really differ: the Keras case stepped with the TORCH form leaves the golden numbers. */
static void test_eps_form_matters(void **s) {
    (void)s;
    golden g;
    load_golden("keras_adam_eps", &g);
    g.p.eps_style = CLRNN_EPS_TORCH;
    tensors t;
    clrnn_optimizer *opt = optimizer_on(&g, &t);
    tensors_set_grad(&t, g.grads.data);
    TU_OK(clrnn_optimizer_step_bufs(opt, t.b, NT, 1, NULL));
    float got[P];
    tensors_read(&t, got);
    double worst = 0;
    for (int i = 0; i < P; ++i) worst = fmax(worst, tu_rel_err(got[i], ((const float *)g.after.data)[i]));
    assert_true(worst > 1e-4);
    tensors_free(&t);
    clrnn_optimizer_destroy(opt);
    free_golden(&g);
}

/* Two optimizers over the same data: bitwise the same values and norms. */
static void test_determinism(void **s) {
    (void)s;
    golden g;
    load_golden("torch_clip_adam", &g);
    float v[2][P], norms[2][8];
    for (int run = 0; run < 2; ++run) {
        tensors t;
        clrnn_optimizer *opt = optimizer_on(&g, &t);
        for (int k = 0; k < g.K && k < 8; ++k) {
            tensors_set_grad(&t, (const float *)g.grads.data + (size_t)k * P);
            TU_OK(clrnn_optimizer_step_bufs(opt, t.b, NT, 7, &norms[run][k]));
        }
        tensors_read(&t, v[run]);
        tensors_free(&t);
        clrnn_optimizer_destroy(opt);
    }
    assert_memory_equal(v[0], v[1], sizeof v[0]);
    assert_memory_equal(norms[0], norms[1], sizeof(float) * (size_t)(g.K < 8 ? g.K : 8));
    free_golden(&g);
}

/* A NaN or infinite gradient: CLRNN_ERR_NON_FINITE naming the tensor, nothing updated (values, state
 * and step count), and the next good step is exactly the first step of a fresh optimizer. */
static void test_non_finite(void **s) {
    (void)s;
    golden g;
    load_golden("torch_adam", &g);
    for (int bad = 0; bad < 2; ++bad) {
        tensors t;
        clrnn_optimizer *opt = optimizer_on(&g, &t);
        float gr[P], before[P], after_v[P], norm = 123.0f;
        memcpy(gr, g.grads.data, sizeof gr);
        gr[37 + 150] = bad ? INFINITY : NAN;
        tensors_set_grad(&t, gr);
        tensors_read(&t, before);
        assert_int_equal(clrnn_optimizer_step_bufs(opt, t.b, NT, 3, &norm), CLRNN_ERR_NON_FINITE);
        assert_non_null(strstr(clrnn_last_error(), "t1"));
        assert_true(norm == 123.0f);
        expect_unchanged(&t, before, opt, 0);
        tensors_set_grad(&t, g.grads.data);
        TU_OK(clrnn_optimizer_step_bufs(opt, t.b, NT, 3, &norm));
        tensors_read(&t, after_v);
        for (int i = 0; i < P; ++i) assert_true(tu_rel_err(after_v[i], ((const float *)g.after.data)[i]) <= 1e-5);
        tensors_free(&t);
        clrnn_optimizer_destroy(opt);
    }
    free_golden(&g);
}

static void test_refused_params(void **s) {
    (void)s;
    clrnn_context *ctx = tu_context();
    clrnn_optimizer *opt = (clrnn_optimizer *)1;
    const clrnn_optimizer_params good = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_ADAM, CLRNN_EPS_TORCH);
    assert_int_equal(clrnn_optimizer_create(ctx, NULL, &opt), CLRNN_ERR_NULL_ARGUMENT);
    assert_null(opt);
    assert_int_equal(clrnn_optimizer_create(NULL, &good, &opt), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_optimizer_create(ctx, &good, NULL), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_optimizer_params p;
#define REFUSE(kind_, stmt, word)                                                       \
    do {                                                                                \
        p = clrnn_optimizer_default_params(kind_, CLRNN_EPS_TORCH);                     \
        stmt;                                                                           \
        opt = NULL;                                                                     \
        assert_int_equal(clrnn_optimizer_create(ctx, &p, &opt), CLRNN_ERR_INVALID_ARGUMENT); \
        assert_null(opt);                                                               \
        assert_non_null(strstr(clrnn_last_error(), word));                              \
    } while (0)
    REFUSE(CLRNN_OPTIMIZER_ADAM, p.lr = 0, "lr");
    REFUSE(CLRNN_OPTIMIZER_ADAM, p.lr = NAN, "lr");
    REFUSE(CLRNN_OPTIMIZER_ADAM, p.beta1 = 1.0f, "beta1");
    REFUSE(CLRNN_OPTIMIZER_ADAM, p.beta2 = -0.1f, "beta2");
    REFUSE(CLRNN_OPTIMIZER_ADAM, p.eps = 0, "eps");
    REFUSE(CLRNN_OPTIMIZER_RMSPROP, p.rho = 1.0f, "rho");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.nesterov = 1, "nesterov");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.momentum = 1.5f, "momentum");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.clip_norm = -1, "clip_norm");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.kind = (clrnn_optimizer_kind)7, "kind");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.eps_style = (clrnn_eps_style)5, "eps_style");
    REFUSE(CLRNN_OPTIMIZER_SGD, p.clip_style = (clrnn_clip_style)5, "clip_style");
#undef REFUSE
    /* the defaults of each framework */
    p = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_ADAM, CLRNN_EPS_KERAS);
    assert_true(p.eps == 1e-7f && p.lr == 1e-3f && p.beta1 == 0.9f && p.beta2 == 0.999f && p.clip_style == CLRNN_CLIP_TF);
    p = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_RMSPROP, CLRNN_EPS_TORCH);
    assert_true(p.eps == 1e-8f && p.lr == 1e-2f && p.rho == 0.99f);

    /* set_lr, dead handles */
    TU_OK(clrnn_optimizer_create(ctx, &good, &opt));
    assert_int_equal(clrnn_optimizer_set_lr(opt, -1.0f), CLRNN_ERR_INVALID_ARGUMENT);
    TU_OK(clrnn_optimizer_set_lr(opt, 0.5f));
    assert_int_equal(clrnn_optimizer_step(opt, NULL, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    assert_int_equal(clrnn_optimizer_step(NULL, NULL, NULL, NULL), CLRNN_ERR_NULL_ARGUMENT);
    clrnn_optimizer_destroy(opt);
    assert_int_equal(clrnn_optimizer_set_lr(opt, 0.5f), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_optimizer_steps(opt), 0);
    clrnn_optimizer_destroy(opt); /* ignored */
    clrnn_optimizer_destroy(NULL);
}

/* Bound at the first step: other tensors (another owner, other counts) are refused, nothing changed. */
static void test_binding(void **s) {
    (void)s;
    golden g;
    load_golden("torch_sgd", &g);
    tensors t;
    clrnn_optimizer *opt = optimizer_on(&g, &t);
    tensors_set_grad(&t, g.grads.data);
    TU_OK(clrnn_optimizer_step_bufs(opt, t.b, NT, 5, NULL));
    float before[P];
    tensors_read(&t, before);
    assert_int_equal(clrnn_optimizer_step_bufs(opt, t.b, NT, 6, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    assert_int_equal(clrnn_optimizer_step_bufs(opt, t.b, NT - 1, 5, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_param_buf other[NT];
    memcpy(other, t.b, sizeof other);
    other[2].count = 4;
    assert_int_equal(clrnn_optimizer_step_bufs(opt, other, NT, 5, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    expect_unchanged(&t, before, opt, 1);
    tensors_free(&t);
    clrnn_optimizer_destroy(opt);
    free_golden(&g);
}

/* More tensors than one launch takes (GLUE_OPT_GROUP = 8: 19 tensors, three groups; sizes across the
 * 256-element norm blocks, a block boundary in the second group): Adam with clipping against the
 * float64 model, and without clipping bitwise the same values as one optimizer per tensor (each
 * its own group of one: the grouped launch selects each element's tensor right). */
static void test_many_tensors(void **s) {
    (void)s;
    enum { NMANY = 19 };
    static const size_t sizes[NMANY] = {1, 37, 2, 5, 64, 3, 17, 1, 300, 40, 11, 2, 257, 60, 13, 1, 256, 31, 4};
    size_t total = 0, off[NMANY];
    for (int i = 0; i < NMANY; ++i) off[i] = total, total += sizes[i];
    assert_true(total <= MODEL_MAX);
    uint64_t seed = 1234;
    float *init = tu_alloc_random(total, &seed, -1, 1), *got = malloc(total * sizeof(float));
    float *single = malloc(total * sizeof(float));
    assert_non_null(got), assert_non_null(single);
    for (int clip = 1; clip >= 0; --clip) {
        clrnn_optimizer_params p = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_ADAM, CLRNN_EPS_TORCH);
        p.lr = 0.01f, p.clip_norm = clip ? 0.5f : 0.0f;
        clrnn_param_buf b[NMANY];
        clrnn_optimizer *opt = NULL, *one[NMANY];
        TU_OK(clrnn_optimizer_create(tu_context(), &p, &opt));
        clrnn_param_buf sb[NMANY];
        for (int i = 0; i < NMANY; ++i) {
            b[i].value = make_buf(sizes[i]), b[i].grad = make_buf(sizes[i]), b[i].count = sizes[i], b[i].what = "t";
            write_buf(b[i].value, init + off[i], sizes[i]);
            sb[i] = b[i];
            sb[i].value = make_buf(sizes[i]);
            write_buf(sb[i].value, init + off[i], sizes[i]);
            TU_OK(clrnn_optimizer_create(tu_context(), &p, &one[i]));
        }
        model *m = calloc(1, sizeof *m);
        assert_non_null(m);
        m->p = p, m->n = (int)total;
        for (size_t i = 0; i < total; ++i) m->theta[i] = init[i];
        for (int step = 0; step < 3; ++step) {
            float *gr = tu_alloc_random(total, &seed, -2, 2);
            for (int i = 0; i < NMANY; ++i) write_buf(b[i].grad, gr + off[i], sizes[i]);
            float norm = NAN;
            TU_OK(clrnn_optimizer_step_bufs(opt, b, NMANY, 77, &norm));
            const double mnorm = model_step(m, gr);
            if (tu_rel_err(norm, mnorm) > 1e-5) fail_msg("step %d: norm %.9g, float64 %.9g", step + 1, norm, mnorm);
            if (!clip)
                for (int i = 0; i < NMANY; ++i) TU_OK(clrnn_optimizer_step_bufs(one[i], &sb[i], 1, 100 + (uint64_t)i, NULL));
            free(gr);
        }
        for (int i = 0; i < NMANY; ++i) read_buf(b[i].value, got + off[i], sizes[i]);
        for (size_t i = 0; i < total; ++i)
            if (tu_rel_err(got[i], m->theta[i]) > 1e-5)
                fail_msg("clip %d element %zu: got %.9g, float64 %.9g", clip, i, got[i], m->theta[i]);
        if (!clip) {
            for (int i = 0; i < NMANY; ++i) read_buf(sb[i].value, single + off[i], sizes[i]);
            assert_memory_equal(got, single, total * sizeof(float));
        }
        for (int i = 0; i < NMANY; ++i) {
            clReleaseMemObject(b[i].value), clReleaseMemObject(b[i].grad), clReleaseMemObject(sb[i].value);
            clrnn_optimizer_destroy(one[i]);
        }
        clrnn_optimizer_destroy(opt);
        free(m);
    }
    free(init), free(got), free(single);
}

/* The public step over an embedding's table: Nesterov SGD with clipping, against the float64 model. */
static void test_public_step_embedding(void **s) {
    (void)s;
    clrnn_context *ctx = tu_context();
    const int V = 11, Dm = 6, N = 3, T = 5;
    clrnn_embedding *emb = NULL;
    TU_OK(clrnn_embedding_create(ctx, V, Dm, 0, &emb));
    uint64_t seed = 99;
    float table[66], dx[90];
    tu_fill(table, 66, &seed, -1, 1);
    TU_OK(clrnn_embedding_set_table(emb, table, 66));
    int32_t ids[15];
    for (int i = 0; i < 15; ++i) ids[i] = (int32_t)(tu_next(&seed) % (uint64_t)V);
    const clrnn_ids in = {N, T, ids, NULL};
    clrnn_optimizer_params p = clrnn_optimizer_default_params(CLRNN_OPTIMIZER_SGD, CLRNN_EPS_TORCH);
    p.lr = 0.1f, p.momentum = 0.7f, p.nesterov = 1, p.clip_norm = 1.0f;
    clrnn_optimizer *opt = NULL;
    TU_OK(clrnn_optimizer_create(ctx, &p, &opt));
    double th[66], buf[66];
    for (int i = 0; i < 66; ++i) th[i] = table[i];
    for (int step = 0; step < 3; ++step) {
        tu_fill(dx, 90, &seed, -1, 1);
        TU_OK(clrnn_embedding_backward(emb, &in, (clrnn_tensor){dx, NULL, 0}, CLRNN_WGRAD_SET));
        float norm = 0;
        TU_OK(clrnn_optimizer_step(opt, NULL, emb, &norm));
        double gd[66] = {0}, sq = 0;
        for (int pos = 0; pos < 15; ++pos)
            for (int j = 0; j < Dm; ++j) gd[ids[pos] * Dm + j] += dx[pos * Dm + j];
        for (int i = 0; i < 66; ++i) sq += gd[i] * gd[i];
        const double nrm = sqrt(sq), sc = fmin(1.0, 1.0 / (nrm + 1e-6));
        assert_true(tu_rel_err(norm, nrm) <= 1e-5);
        for (int i = 0; i < 66; ++i) {
            const double gg = gd[i] * sc;
            buf[i] = step == 0 ? gg : 0.7 * buf[i] + gg;
            th[i] -= 0.1 * (gg + 0.7 * buf[i]);
        }
    }
    float got[66];
    TU_OK(clrnn_embedding_get_table(emb, got, 66));
    for (int i = 0; i < 66; ++i)
        if (tu_rel_err(got[i], th[i]) > 1e-5) fail_msg("table[%d]: got %.9g, float64 %.9g", i, got[i], th[i]);
    /* another embedding for a bound optimizer: refused */
    clrnn_embedding *emb2 = NULL;
    TU_OK(clrnn_embedding_create(ctx, V, Dm, 0, &emb2));
    assert_int_equal(clrnn_optimizer_step(opt, NULL, emb2, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_embedding_destroy(emb2);
    assert_int_equal(clrnn_optimizer_step(opt, NULL, emb2, NULL), CLRNN_ERR_INVALID_ARGUMENT);
    clrnn_optimizer_destroy(opt);
    clrnn_embedding_destroy(emb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_sgd),       cmocka_unit_test(test_torch_rmsprop),
        cmocka_unit_test(test_torch_adam),      cmocka_unit_test(test_torch_clip),
        cmocka_unit_test(test_keras_adam),      cmocka_unit_test(test_keras_rmsprop_sgd),
        cmocka_unit_test(test_eps_form_matters), cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_non_finite),      cmocka_unit_test(test_refused_params),
        cmocka_unit_test(test_binding),         cmocka_unit_test(test_public_step_embedding),
        cmocka_unit_test(test_many_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, tu_group_release);
}
