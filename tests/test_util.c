/* The out-of-line helpers of test_util.h: the process's one context, device buffers, random weights
 * in any framework's layout, and per-user cache directories for the cache-trust tests. */
#include "test_util.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static clrnn_context *ctx;

clrnn_context *tu_context(void) {
    if (!ctx) {
        clrnn_status st = clrnn_context_create(NULL, &ctx);
        if (st != CLRNN_OK) {
            fprintf(stderr, "cannot create a context: %s\n", clrnn_last_error());
            exit(1);
        }
    }
    return ctx;
}

void tu_context_release(void) {
    clrnn_context_destroy(ctx);
    ctx = NULL;
}

int tu_group_release(void **state) {
    (void)state;
    tu_context_release();
    return 0;
}

cl_mem tu_dev_buf(const float *v, size_t n) {
    cl_int err;
    cl_mem m = clCreateBuffer(clrnn_context_cl_context(tu_context()), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), (void *)v, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

void tu_dev_read(cl_mem m, float *v, size_t n) {
    assert_int_equal(clEnqueueReadBuffer(clrnn_context_cl_queue(tu_context()), m, CL_TRUE, 0, n * sizeof(float), v, 0,
                                         NULL, NULL),
                     CL_SUCCESS);
}

void tu_set_random_weights_fw(clrnn_rnn *r, clrnn_framework fw, uint64_t *seed, float sc, float peep, float dense) {
    clrnn_rnn_desc d;
    TU_OK(clrnn_rnn_get_desc(r, &d));
    const int D = clrnn_rnn_num_directions(r), G = tu_gates(d.cell), H = d.hidden_size, Hr = clrnn_rnn_state_size(r);
    const int GH = G * H;
    for (int l = 0; l < d.num_layers; ++l)
        for (int dir = 0; dir < D; ++dir) {
            const int I = l == 0 ? d.input_size : D * Hr;
            float *w = tu_alloc_random((size_t)GH * I, seed, -sc, sc);
            float *rr = tu_alloc_random((size_t)GH * Hr, seed, -sc, sc);
            float *b = tu_alloc_random((size_t)2 * GH, seed, -0.5f, 0.5f);
            if (fw == CLRNN_FRAMEWORK_TF1) { /* one kernel [I + Hr][gates], drawn after w, rr, b */
                const int gk = d.cell == CLRNN_CELL_GRU ? 2 : G;
                float *k = tu_alloc_random((size_t)(I + Hr) * gk * H, seed, -sc, sc);
                TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_KERNEL, k, (size_t)(I + Hr) * gk * H));
                TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_B, b, (size_t)gk * H));
                if (d.cell == CLRNN_CELL_GRU) {
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_CANDIDATE_KERNEL, k, (size_t)(I + H) * H));
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_CANDIDATE_BIAS, b + GH, (size_t)H));
                }
                free(k);
            } else {
                TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_W, w, (size_t)GH * I));
                TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_R, rr, (size_t)GH * Hr));
                if (fw == CLRNN_FRAMEWORK_PYTORCH) {
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_BW, b, (size_t)GH));
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_BR, b + GH, (size_t)GH));
                } else if (fw == CLRNN_FRAMEWORK_KERAS) {
                    const int two = d.cell == CLRNN_CELL_GRU && d.linear_before_reset;
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_B, b, (size_t)(two ? 2 : 1) * GH));
                } else {
                    TU_OK(clrnn_rnn_set_param(r, fw, l, dir, CLRNN_PARAM_B, b, (size_t)2 * GH));
                }
            }
            if (d.peephole) {
                float *p = tu_alloc_random((size_t)3 * H, seed, -peep, peep);
                TU_OK(clrnn_rnn_set_param(r, fw == CLRNN_FRAMEWORK_TF1 ? fw : CLRNN_FRAMEWORK_ONNX, l, dir,
                                          CLRNN_PARAM_PEEPHOLE, p, (size_t)3 * H));
                free(p);
            }
            if (d.proj_size > 0) {
                float *p = tu_alloc_random((size_t)Hr * H, seed, -sc, sc);
                TU_OK(clrnn_rnn_set_param(r, fw == CLRNN_FRAMEWORK_TF1 ? fw : CLRNN_FRAMEWORK_PYTORCH, l, dir,
                                          CLRNN_PARAM_PROJ, p, (size_t)Hr * H));
                free(p);
            }
            free(w), free(rr), free(b);
        }
    if (d.dense_size > 0) {
        const int Hm = D == 2 && d.merge != CLRNN_MERGE_CONCAT ? Hr : D * Hr;
        float *w = tu_alloc_random((size_t)d.dense_size * Hm, seed, -dense, dense);
        float *b = tu_alloc_random((size_t)d.dense_size, seed, -0.5f, 0.5f);
        TU_OK(clrnn_rnn_set_param(r, fw, 0, 0, CLRNN_PARAM_DENSE_W, w, (size_t)d.dense_size * Hm));
        TU_OK(clrnn_rnn_set_param(r, fw, 0, 0, CLRNN_PARAM_DENSE_B, b, (size_t)d.dense_size));
        free(w), free(b);
    }
}

/* A directory of uid's, mode 0700: made if absent, taken over if it is an old one of ours. */
static int own_dir(const char *path, unsigned uid) {
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return -1;
    if (chown(path, (uid_t)uid, (gid_t)uid) != 0 || chmod(path, 0700) != 0) return -1;
    return 0;
}

int tu_other_user_caches(const char *base, unsigned uid) {
    char home[1200], cache[1300], pocl[1200];
    snprintf(home, sizeof home, "%s-home", base);
    snprintf(cache, sizeof cache, "%s/.cache", home);
    snprintf(pocl, sizeof pocl, "%s-pocl", base);
    if (own_dir(home, uid) != 0 || own_dir(cache, uid) != 0 || own_dir(pocl, uid) != 0) return -1;
    setenv("HOME", home, 1);
    setenv("XDG_CACHE_HOME", cache, 1);
    setenv("POCL_CACHE_DIR", pocl, 1);
    unsetenv("MESA_SHADER_CACHE_DIR"); /* else Mesa would use a directory of the parent's */
    return 0;
}
