/* The training glue's kernels: losses (a row pass, then the gradient), the global gradient norm's
 * partial sums, the optimizers' update, the embedding's gather and its sorted backward. Every sum
 * runs sequentially in a fixed order inside one work-item (no atomics, no order that depends on
 * scheduling): bitwise the same run to run. glue_abi.h is embedded before this file.
 * Built without -cl-fast-relaxed-math: the stable forms below rely on IEEE exp/log1p. */

/* sigmoid without overflow: exp of a non-positive argument only */
static float stable_sigmoid(float x) {
    const float e = exp(-fabs(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* One work-item per row r: the row's loss and metric (stats), and for softmax its max and
 * log-sum-exp for loss_grad. Rows with use[r] == 0 are skipped (their stats are zero). A non-finite
 * logit or target makes the row's loss NaN, which the host refuses before loss_grad runs. */
__kernel void loss_rows(int kind, int R, int C, __global const float *x, ulong x_off, __global const int *labels,
                        __global const float *z, ulong z_off, __global const uchar *use, __global float *stats) {
    const int r = get_global_id(0);
    if (r >= R) return;
    __global float *s = stats + (size_t)r * GLUE_STATS;
    s[GLUE_STAT_MAX] = 0.0f, s[GLUE_STAT_LSE] = 0.0f, s[GLUE_STAT_LOSS] = 0.0f, s[GLUE_STAT_METRIC] = 0.0f;
    if (!use[r]) return;
    __global const float *xr = x + x_off + (size_t)r * C;
    int finite = 1;
    if (kind == GLUE_LOSS_SOFTMAX_XENT) {
        float m = xr[0];
        int arg = 0;
        for (int c = 0; c < C; ++c) {
            const float v = xr[c];
            finite &= isfinite(v);
            if (v > m) m = v, arg = c; /* the first maximum wins */
        }
        float sum = 0.0f;
        for (int c = 0; c < C; ++c) sum += exp(xr[c] - m);
        const float lse = log(sum);
        const int label = labels[r];
        s[GLUE_STAT_MAX] = m;
        s[GLUE_STAT_LSE] = lse;
        /* -log softmax(x)[label] = log sum exp(x - m) - (x[label] - m): exact for any finite x */
        s[GLUE_STAT_LOSS] = finite ? lse - (xr[label] - m) : NAN;
        s[GLUE_STAT_METRIC] = arg == label ? 1.0f : 0.0f;
        return;
    }
    __global const float *zr = z + z_off + (size_t)r * C;
    float loss = 0.0f, metric = 0.0f;
    for (int c = 0; c < C; ++c) {
        const float v = xr[c], t = zr[c];
        finite &= isfinite(v) && isfinite(t);
        if (kind == GLUE_LOSS_SIGMOID_BCE) {
            loss += fmax(v, 0.0f) - v * t + log1p(exp(-fabs(v)));
            metric += (v > 0.0f) == (t > 0.5f) ? 1.0f : 0.0f;
        } else {
            const float d = v - t;
            loss += d * d;
            metric += fabs(d);
        }
    }
    s[GLUE_STAT_LOSS] = finite ? loss : NAN;
    s[GLUE_STAT_METRIC] = metric;
}

/* One work-item per element of [R, C]: dl = scale[r] * d(loss_r)/dx (scale = w_r / sum w, / C for
 * BCE and MSE; 0 for excluded rows, which get an exact 0). dl may be x itself (each element is
 * read before it is written, by the same work-item). */
__kernel void loss_grad(int kind, int R, int C, __global const float *x, ulong x_off, __global const int *labels,
                        __global const float *z, ulong z_off, __global const float *scale,
                        __global const float *stats, __global float *dl, ulong dl_off) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)R * C) return;
    const int r = (int)(i / (size_t)C), c = (int)(i % (size_t)C);
    const float w = scale[r], v = x[x_off + i];
    float d;
    if (w == 0.0f) {
        d = 0.0f;
    } else if (kind == GLUE_LOSS_SOFTMAX_XENT) {
        __global const float *s = stats + (size_t)r * GLUE_STATS;
        const float p = exp(v - s[GLUE_STAT_MAX] - s[GLUE_STAT_LSE]);
        d = w * (p - (c == labels[r] ? 1.0f : 0.0f));
    } else if (kind == GLUE_LOSS_SIGMOID_BCE) {
        d = w * (stable_sigmoid(v) - z[z_off + i]);
    } else {
        d = w * 2.0f * (v - z[z_off + i]);
    }
    dl[dl_off + i] = d;
}

/* The optimizer's kernels take up to GLUE_OPT_GROUP tensors a launch (optim.c: one launch for all
 * of a small model's, where one a tensor was a launch each); meta [2 * GLUE_OPT_GROUP] ulong holds
 * each slot's element count and its first element (sumsq_blocks: first block) in the group's
 * concatenation. Slot k of the group is the k-th pointer argument. */
#define GLUE_SLOT_PTRS(q, type) type q##0, type q##1, type q##2, type q##3, type q##4, type q##5, type q##6, type q##7
#define GLUE_SLOT(q, k) ((k) == 0 ? q##0 : (k) == 1 ? q##1 : (k) == 2 ? q##2 : (k) == 3 ? q##3 : (k) == 4 ? q##4 : \
                         (k) == 5 ? q##5 : (k) == 6 ? q##6 : q##7)

/* The group's slot holding element (block) i of the concatenation, and i's index within it. */
static inline int glue_slot_of(__global const ulong *meta, int ntensors, ulong i, ulong *local_i) {
    int k = 0;
    while (k + 1 < ntensors && i >= meta[2 * (k + 1) + 1]) ++k;
    *local_i = i - meta[2 * k + 1];
    return k;
}

/* Sums of squares of GLUE_NORM_BLOCK-element blocks, one work-item each, in element order:
 * partial[p_off + b] for block b of the group's concatenation (each tensor's blocks in order,
 * tensor by tensor: the host adds them in that order). */
__kernel void sumsq_blocks(GLUE_SLOT_PTRS(g, __global const float *), const int ntensors, __global const ulong *meta,
                           __global float *partial, ulong p_off, ulong nblocks) {
    const size_t b = get_global_id(0);
    if (b >= nblocks) return;
    ulong lb;
    const int k = glue_slot_of(meta, ntensors, b, &lb);
    __global const float *gk = GLUE_SLOT(g, k);
    const size_t n = meta[2 * k], lo = lb * GLUE_NORM_BLOCK, hi = min((size_t)n, lo + GLUE_NORM_BLOCK);
    float s = 0.0f;
    for (size_t i = lo; i < hi; ++i) s += gk[i] * gk[i];
    partial[p_off + b] = s;
}

/* One optimizer update per element of the group's tensors. g = grad * gscale (the clip factor).
 * The host computes the step's scalars in double: for Adam a = lr / (1 - b1^t) and bc2 =
 * sqrt(1 - b2^t) (TORCH), or a = lr sqrt(1 - b2^t) / (1 - b1^t) (KERAS). s1, s2: the optimizer's
 * state (momentum / m, squared average / v; any buffer where the kind has none: not touched).
 * first: the first step (SGD's buffer starts as g). */
__kernel void opt_update(int kind, const int ntensors, __global const ulong *meta, ulong total,
                         GLUE_SLOT_PTRS(theta, __global float *), GLUE_SLOT_PTRS(grad, __global const float *),
                         GLUE_SLOT_PTRS(m1, __global float *), GLUE_SLOT_PTRS(m2, __global float *), float gscale,
                         float lr, float momentum, int nesterov, float rho, float beta1, float beta2, float eps,
                         int eps_style, float a, float bc2, int first) {
    const size_t gi = get_global_id(0);
    if (gi >= total) return;
    ulong li;
    const int k = glue_slot_of(meta, ntensors, gi, &li);
    const size_t i = li;
    __global float *th = GLUE_SLOT(theta, k), *s1 = GLUE_SLOT(m1, k), *s2 = GLUE_SLOT(m2, k);
    __global const float *gr = GLUE_SLOT(grad, k);
    const float g = gr[i] * gscale;
    if (kind == GLUE_OPT_SGD) {
        if (momentum == 0.0f) {
            th[i] -= lr * g;
            return;
        }
        const float b = first ? g : momentum * s1[i] + g;
        s1[i] = b;
        th[i] -= lr * (nesterov ? g + momentum * b : b);
    } else if (kind == GLUE_OPT_RMSPROP) {
        const float v = rho * s2[i] + (1.0f - rho) * g * g;
        s2[i] = v;
        const float u = eps_style == GLUE_EPS_TORCH ? g / (sqrt(v) + eps) : g / sqrt(v + eps);
        if (momentum > 0.0f) {
            const float b = momentum * s1[i] + u;
            s1[i] = b;
            th[i] -= lr * b;
        } else {
            th[i] -= lr * u;
        }
    } else {
        const float m = beta1 * s1[i] + (1.0f - beta1) * g;
        const float v = beta2 * s2[i] + (1.0f - beta2) * g * g;
        s1[i] = m, s2[i] = v;
        if (eps_style == GLUE_EPS_TORCH)
            th[i] -= a * (m / (sqrt(v) / bc2 + eps));
        else
            th[i] -= a * m / (sqrt(v) + eps);
    }
}

/* x[p, j] = table[ids[p], j] for the N*T positions p (ids checked on the host). */
__kernel void emb_gather(__global const float *table, int dim, __global const int *ids, ulong count,
                         __global float *x, ulong x_off) {
    const size_t i = get_global_id(0);
    if (i >= count * (size_t)dim) return;
    const size_t p = i / (size_t)dim, j = i % (size_t)dim;
    x[x_off + i] = table[(size_t)ids[p] * dim + j];
}

/* d(table)[id, j] (=|+=) sum over k in [start[u], start[u+1]) of dx[pos[k], j]: the positions
 * of each id, sorted by the host in (n, t) order, summed in that order by one work-item. Row u is
 * id ids_u[u] (only the ids that occur), or id u when `every` (SET: all vocab rows written, those no
 * position names with 0, so no separate clearing pass). */
__kernel void emb_scatter(__global const float *dx, ulong dx_off, int dim, __global const int *pos,
                          __global const int *start, __global const int *ids_u, int U, int every,
                          __global float *grad, int add) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)U * dim) return;
    const int u = (int)(i / (size_t)dim), j = (int)(i % (size_t)dim);
    float s = 0.0f;
    for (int k = start[u]; k < start[u + 1]; ++k) s += dx[dx_off + (size_t)pos[k] * dim + j];
    __global float *out = grad + (size_t)(every ? u : ids_u[u]) * dim + j;
    *out = add ? *out + s : s;
}
