/* Double-precision reference of clrnn's training: the forward with dropout and its backward (see
 * reference.h). Straight loops, no tricks: the forward keeps every step's input and the states
 * before it, and the backward walks each row's steps in reverse processing order, recomputing a
 * step's gates from what was kept (cell_eval, the one code the forward and the backward share).
 * Nothing here is shared with the device path; with reference.c only the weight import, the
 * activations and clamp (ref_act.h) and the dropout RNG (cl/train/rng.h): the time walking, masks,
 * merge and cell rules are written out once more. */
#include "reference.h"

#include "cl/train/rng.h"
#include "internal.h"
#include "ref_act.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- activations, their derivatives and where those jump ---- */

/* d act / dx at x (the gradient contract's rules, at the kinks included). */
static double act_deriv(clrnn_activation a, double x) {
    const double al = a.alpha, be = a.beta;
    switch (a.kind) {
    case CLRNN_ACT_SIGMOID: {
        const double s = 1.0 / (1.0 + exp(-x));
        return s * (1 - s);
    }
    case CLRNN_ACT_TANH: {
        const double t = tanh(x);
        return 1 - t * t;
    }
    case CLRNN_ACT_RELU: return x > 0 ? 1 : 0;
    case CLRNN_ACT_AFFINE: return al;
    case CLRNN_ACT_LEAKY_RELU: return x < 0 ? al : 1;
    case CLRNN_ACT_THRESHOLDED_RELU: return x > al ? 1 : 0;
    case CLRNN_ACT_SCALED_TANH: {
        const double t = tanh(be * x);
        return al * be * (1 - t * t);
    }
    case CLRNN_ACT_HARD_SIGMOID: {
        const double v = al * x + be;
        return v > 0 && v < 1 ? al : 0;
    }
    case CLRNN_ACT_ELU: return x < 0 ? al * exp(x) : 1;
    case CLRNN_ACT_SOFTSIGN: return 1 / ((1 + fabs(x)) * (1 + fabs(x)));
    case CLRNN_ACT_SOFTPLUS: return 1.0 / (1.0 + exp(-x));
    default: return 1;
    }
}

/* Distance from x to the nearest point where act' jumps (finite differences across it are
 * meaningless); HUGE_VAL for the smooth ones. */
static double act_kink(clrnn_activation a, double x) {
    const double al = a.alpha, be = a.beta;
    switch (a.kind) {
    case CLRNN_ACT_RELU:
    case CLRNN_ACT_LEAKY_RELU:
    case CLRNN_ACT_ELU: return fabs(x);
    case CLRNN_ACT_THRESHOLDED_RELU: return fabs(x - al);
    case CLRNN_ACT_HARD_SIGMOID: return al != 0 ? fmin(fabs(al * x + be), fabs(al * x + be - 1)) / fabs(al) : HUGE_VAL;
    default: return HUGE_VAL;
    }
}

static double clip_kink(double x, double c) { return c > 0 ? fmin(fabs(x - c), fabs(x + c)) : HUGE_VAL; }

/* ---- the problem's geometry: sizes and where each parameter sits in theta ---- */

typedef struct layer_off {
    int I;                        /* I_l */
    size_t W, R, Wb, Rb, P, proj; /* offsets into theta; P / proj SIZE_MAX when absent */
} layer_off;

typedef struct geom {
    const clrnn_rnn_desc *d;
    int T, N, L, D, G, H, Hr, Hm, O, I0;
    int lstm, gru, none, has_P, has_proj, has_dense;
    layer_off lo[2 * CLRNN_MAX_LAYERS];
    size_t dense_W, dense_b, total;
} geom;

static void geom_init(const clrnn_rnn *r, int T, int N, geom *g) {
    const clrnn_rnn_desc *d = &r->desc;
    memset(g, 0, sizeof *g);
    g->d = d;
    g->T = T, g->N = N, g->L = d->num_layers, g->D = r->D, g->G = r->G, g->H = d->hidden_size, g->Hr = r->Hr;
    g->Hm = r->Hm, g->O = r->O, g->I0 = d->input_size;
    g->lstm = d->cell == CLRNN_CELL_LSTM, g->gru = d->cell == CLRNN_CELL_GRU;
    g->none = r->D == 2 && d->merge == CLRNN_MERGE_NONE;
    g->has_P = g->lstm && d->peephole, g->has_proj = g->lstm && d->proj_size > 0;
    g->has_dense = d->dense_size > 0;
    const size_t GH = (size_t)g->G * g->H;
    size_t off = 0;
    for (int k = 0; k < g->L * g->D; ++k) {
        layer_off *lo = &g->lo[k];
        lo->I = k < g->D ? g->I0 : g->D * g->Hr;
        lo->W = off, off += GH * lo->I;
        lo->R = off, off += GH * g->Hr;
        lo->Wb = off, off += GH;
        lo->Rb = off, off += GH;
        lo->P = SIZE_MAX, lo->proj = SIZE_MAX;
        if (g->has_P) lo->P = off, off += (size_t)3 * g->H;
        if (g->has_proj) lo->proj = off, off += (size_t)g->Hr * g->H;
    }
    g->dense_W = g->dense_b = SIZE_MAX;
    if (g->has_dense) {
        g->dense_W = off, off += (size_t)g->O * g->Hm;
        g->dense_b = off, off += (size_t)g->O;
    }
    g->total = off;
}

size_t clrnn_reference_param_count(const clrnn_rnn *r) {
    geom g;
    geom_init(r, 1, 1, &g);
    return g.total;
}

void clrnn_reference_param_import(const clrnn_rnn *r, double *theta) {
    geom g;
    geom_init(r, 1, 1, &g);
    const size_t GH = (size_t)g.G * g.H;
    for (int k = 0; k < g.L * g.D; ++k) {
        const clrnn_layer_weights *w = &r->lw[k];
        const layer_off *lo = &g.lo[k];
        for (size_t i = 0; i < GH * lo->I; ++i) theta[lo->W + i] = w->W[i];
        for (size_t i = 0; i < GH * g.Hr; ++i) theta[lo->R + i] = w->R[i];
        for (size_t i = 0; i < GH; ++i) theta[lo->Wb + i] = w->Wb[i], theta[lo->Rb + i] = w->Rb[i];
        if (g.has_P)
            for (size_t i = 0; i < (size_t)3 * g.H; ++i) theta[lo->P + i] = w->P[i];
        if (g.has_proj)
            for (size_t i = 0; i < (size_t)g.Hr * g.H; ++i) theta[lo->proj + i] = w->proj[i];
    }
    if (g.has_dense) {
        for (size_t i = 0; i < (size_t)g.O * g.Hm; ++i) theta[g.dense_W + i] = r->dense_W[i];
        for (size_t i = 0; i < (size_t)g.O; ++i) theta[g.dense_b + i] = r->dense_b[i];
    }
}

/* ---- time walking ---- */

static int is_rev(const clrnn_rnn_desc *d, int dir) { return d->direction == CLRNN_DIR_REVERSE || dir == 1; }

/* The time index of the s-th processed step of a row of length len. */
static int time_of_step(const clrnn_rnn_desc *d, int rev, int s, int len, int T) {
    if (!rev) return s;
    if (d->reverse_mode == CLRNN_REVERSE_WHOLE_AXIS) return T - 1 - s;
    return s < len ? len - 1 - s : s;
}

static int step_valid(const clrnn_reference_problem *p, int n, int t) {
    const int len = p->seq_lens ? p->seq_lens[n] : p->T;
    return t < len && (!p->mask || p->mask[(size_t)n * p->T + t]);
}

/* ---- dropout: the scale of one element (0 or 1/(1-p)), from the contract's counters ---- */

static double keep_scale(const clrnn_rnn_desc *d, uint32_t call, int l, int dir, int stream, uint32_t c0, uint32_t c1,
                         float rate) {
    if (!(rate > 0)) return 1.0;
    const uint32_t lo = (uint32_t)d->dropout_seed, hi = (uint32_t)(d->dropout_seed >> 32);
    return clrnn_dropout_keep(lo, hi, call, l, dir, stream, c0, c1, rate) ? 1.0 / (1.0 - (double)rate) : 0.0;
}

/* ---- one cell step ---- */

/* What a step needs: its weights (theta views), activations, the dropout masks of this step
 * (mx [G][I], mh [G][Hr] scales) and scratch for its intermediates. */
typedef struct cell {
    const geom *g;
    int I;
    const double *W, *R, *Wb, *Rb, *P, *proj;
    clrnn_activation f, ga, ha;
    double clip;
    double *mx, *mh;
    /* intermediates of cell_eval */
    double *ax, *ah;          /* [G*H] W (x.m) + Wb, R (h.m) + Rb */
    double *a;                /* [G*H] each gate's activation input (before clip) */
    double *v;                /* [G*H] each gate's value */
    double *rh;               /* [H] GRU reset-before: r * (h . m_n) */
    double *c_raw, *c, *hraw; /* [H] LSTM: c before cell_clip, c_t, o * h(c_t) */
    double *m_pre;            /* [Hr] LSTMP: W_proj hraw before proj_clip */
    double *kink;             /* smallest distance to a kink seen */
} cell;

/* Points c at layer-direction lo's weights in theta and that direction's activations. */
static void cell_bind(cell *c, const double *theta, const layer_off *lo, const clrnn_rnn_desc *d, int dir, int I) {
    const geom *g = c->g;
    c->I = I;
    c->W = theta + lo->W, c->R = theta + lo->R, c->Wb = theta + lo->Wb, c->Rb = theta + lo->Rb;
    c->P = g->has_P ? theta + lo->P : NULL;
    c->proj = g->has_proj ? theta + lo->proj : NULL;
    c->f = clrnn_effective_activation(d, dir, 0);
    c->ga = clrnn_effective_activation(d, dir, 1);
    c->ha = clrnn_effective_activation(d, dir, 2);
}

static double cact(const cell *c, clrnn_activation a, double x) {
    if (c->kink) {
        double k = fmin(clip_kink(x, c->clip), act_kink(a, ref_clamp(x, c->clip)));
        if (k < *c->kink) *c->kink = k;
    }
    return ref_act(a, ref_clamp(x, c->clip));
}

/* d act(clamp(x)) / dx: the clip passes the gradient only where -clip <= x <= clip. */
static double cact_deriv(const cell *c, clrnn_activation a, double x) {
    if (c->clip > 0 && (x < -c->clip || x > c->clip)) return 0;
    return act_deriv(a, x);
}

/* The forward of one step from input x (I), state h (Hr), c (H); fills the intermediates and
 * writes the new state to h_out (Hr), c_out (H; LSTM). */
static void cell_eval(const cell *c, const double *x, const double *h, const double *cp, double *h_out, double *c_out) {
    const geom *g = c->g;
    const clrnn_rnn_desc *d = g->d;
    const int H = g->H, Hr = g->Hr, I = c->I, G = g->G;
    for (int row = 0; row < G * H; ++row) {
        const int gate = row / H;
        double sx = c->Wb[row], sh = c->Rb[row];
        for (int i = 0; i < I; ++i) sx += c->W[(size_t)row * I + i] * (x[i] * c->mx[(size_t)gate * I + i]);
        for (int k = 0; k < Hr; ++k) sh += c->R[(size_t)row * Hr + k] * (h[k] * c->mh[(size_t)gate * Hr + k]);
        c->ax[row] = sx;
        c->ah[row] = sh;
    }
    if (d->cell == CLRNN_CELL_RNN) {
        for (int j = 0; j < H; ++j) {
            c->a[j] = c->ax[j] + c->ah[j];
            c->v[j] = h_out[j] = cact(c, c->f, c->a[j]);
        }
    } else if (g->gru) {
        for (int j = 0; j < 2 * H; ++j) {
            c->a[j] = c->ax[j] + c->ah[j];
            c->v[j] = cact(c, c->f, c->a[j]);
        }
        const double *z = c->v, *rv = c->v + H;
        for (int j = 0; j < H; ++j) c->rh[j] = h[j] * c->mh[(size_t)2 * Hr + j]; /* h . m_n, times r below */
        for (int j = 0; j < H; ++j) {
            if (d->linear_before_reset) {
                c->a[2 * H + j] = c->ax[2 * H + j] + rv[j] * c->ah[2 * H + j];
            } else {
                double s = c->Rb[2 * H + j];
                for (int k = 0; k < H; ++k) s += c->R[(size_t)(2 * H + j) * Hr + k] * rv[k] * c->rh[k];
                c->a[2 * H + j] = c->ax[2 * H + j] + s;
            }
            c->v[2 * H + j] = cact(c, c->ga, c->a[2 * H + j]);
        }
        for (int j = 0; j < H; ++j) h_out[j] = (1 - z[j]) * c->v[2 * H + j] + z[j] * h[j];
    } else {
        for (int j = 0; j < H; ++j) {
            const double cpj = cp[j];
            const double peep_i = c->P ? c->P[j] * cpj : 0, peep_f = c->P ? c->P[H + j] * cpj : 0;
            c->a[j] = c->ax[j] + c->ah[j] + peep_i;
            const double i = c->v[j] = cact(c, c->f, c->a[j]);
            c->a[H + j] = c->ax[H + j] + c->ah[H + j] + d->forget_bias + peep_f;
            const double fg = c->v[H + j] = d->input_forget ? 1 - i : cact(c, c->f, c->a[H + j]);
            c->a[2 * H + j] = c->ax[2 * H + j] + c->ah[2 * H + j];
            const double gg = c->v[2 * H + j] = cact(c, c->ga, c->a[2 * H + j]);
            c->c_raw[j] = fg * cpj + i * gg;
            if (c->kink && d->cell_clip > 0) {
                const double k = clip_kink(c->c_raw[j], d->cell_clip);
                if (k < *c->kink) *c->kink = k;
            }
            const double cn = c->c[j] = ref_clamp(c->c_raw[j], d->cell_clip);
            c->a[3 * H + j] = c->ax[3 * H + j] + c->ah[3 * H + j] + (c->P ? c->P[2 * H + j] * cn : 0);
            const double o = c->v[3 * H + j] = cact(c, c->f, c->a[3 * H + j]);
            c->hraw[j] = o * cact(c, c->ha, cn);
            c_out[j] = cn;
        }
        if (c->proj) {
            for (int q = 0; q < Hr; ++q) {
                double s = 0;
                for (int k = 0; k < H; ++k) s += c->proj[(size_t)q * H + k] * c->hraw[k];
                c->m_pre[q] = s;
                if (c->kink && d->proj_clip > 0) {
                    const double k = clip_kink(s, d->proj_clip);
                    if (k < *c->kink) *c->kink = k;
                }
                h_out[q] = ref_clamp(s, d->proj_clip);
            }
        } else {
            for (int j = 0; j < H; ++j) h_out[j] = c->hraw[j];
        }
    }
}

/* Gradient sinks of one (layer, direction): theta-shaped views into dtheta (NULL: not wanted). */
typedef struct cell_grad {
    double *W, *R, *Wb, *Rb, *P, *proj;
} cell_grad;

/* The backward of one step: dh_io (Hr) in = d loss / d h_out, out = d loss / d h; dc_io (H) the
 * same for c (LSTM); dx (I) accumulated; the weights' gradients accumulated into gw. da is [G*H]
 * scratch. Recomputes the step's intermediates first. */
static void cell_backward(const cell *c, const double *x, const double *h, const double *cp, double *dh_io,
                          double *dc_io, double *dx, const cell_grad *gw, double *da, double *tmp_h, double *tmp_c,
                          double *dh_prev) {
    const geom *g = c->g;
    const clrnn_rnn_desc *d = g->d;
    const int H = g->H, Hr = g->Hr, I = c->I, G = g->G;
    cell_eval(c, x, h, cp, tmp_h, tmp_c);
    for (int k = 0; k < Hr; ++k) dh_prev[k] = 0;
    if (d->cell == CLRNN_CELL_RNN) {
        for (int j = 0; j < H; ++j) da[j] = dh_io[j] * cact_deriv(c, c->f, c->a[j]);
    } else if (g->gru) {
        const double *z = c->v, *rv = c->v + H, *nv = c->v + 2 * H;
        double *dz = da, *dr = da + H, *dn = da + 2 * H; /* first the gradients of the gate values */
        for (int j = 0; j < H; ++j) {
            dz[j] = dh_io[j] * (h[j] - nv[j]);
            dh_prev[j] += dh_io[j] * z[j];
            dn[j] = dh_io[j] * (1 - z[j]) * cact_deriv(c, c->ga, c->a[2 * H + j]); /* d of the n pre-activation */
            dr[j] = 0;
        }
        if (d->linear_before_reset) {
            /* a_n = ax_n + r * ah_n, ah_n = R_n (h . m_n) + Rb_n */
            for (int j = 0; j < H; ++j) {
                dr[j] = dn[j] * c->ah[2 * H + j];
                const double dahn = dn[j] * rv[j];
                if (gw->Rb) gw->Rb[2 * H + j] += dahn;
                for (int k = 0; k < Hr; ++k) {
                    const double hm = h[k] * c->mh[(size_t)2 * Hr + k];
                    if (gw->R) gw->R[(size_t)(2 * H + j) * Hr + k] += dahn * hm;
                    dh_prev[k] += c->R[(size_t)(2 * H + j) * Hr + k] * dahn * c->mh[(size_t)2 * Hr + k];
                }
            }
        } else {
            /* a_n = ax_n + R_n (r . h . m_n) + Rb_n */
            for (int j = 0; j < H; ++j) {
                if (gw->Rb) gw->Rb[2 * H + j] += dn[j];
                for (int k = 0; k < H; ++k) {
                    const double Rjk = c->R[(size_t)(2 * H + j) * Hr + k];
                    if (gw->R) gw->R[(size_t)(2 * H + j) * Hr + k] += dn[j] * rv[k] * c->rh[k];
                    const double drh = Rjk * dn[j]; /* d loss / d (r_k h_k m_k) */
                    dr[k] += drh * c->rh[k];
                    dh_prev[k] += drh * rv[k] * c->mh[(size_t)2 * Hr + k];
                }
            }
        }
        for (int j = 0; j < H; ++j) {
            dz[j] *= cact_deriv(c, c->f, c->a[j]);
            dr[j] *= cact_deriv(c, c->f, c->a[H + j]);
        }
    } else {
        double *dhraw = tmp_h; /* [H], reused: tmp_h (the recomputed new state) is not needed any more */
        if (c->proj) {
            for (int k = 0; k < H; ++k) dhraw[k] = 0;
            for (int q = 0; q < Hr; ++q) {
                const double dm = d->proj_clip > 0 && fabs(c->m_pre[q]) > d->proj_clip ? 0 : dh_io[q];
                for (int k = 0; k < H; ++k) {
                    if (gw->proj) gw->proj[(size_t)q * H + k] += dm * c->hraw[k];
                    dhraw[k] += c->proj[(size_t)q * H + k] * dm;
                }
            }
        } else {
            for (int k = 0; k < H; ++k) dhraw[k] = dh_io[k];
        }
        for (int j = 0; j < H; ++j) {
            const double i = c->v[j], fg = c->v[H + j], gg = c->v[2 * H + j], o = c->v[3 * H + j];
            const double cn = c->c[j], hc = ref_act(c->ha, ref_clamp(cn, c->clip));
            const double da_o = dhraw[j] * hc * cact_deriv(c, c->f, c->a[3 * H + j]);
            double dcn = dc_io[j] + dhraw[j] * o * cact_deriv(c, c->ha, cn);
            if (c->P) {
                dcn += da_o * c->P[2 * H + j];
                if (gw->P) gw->P[2 * H + j] += da_o * cn;
            }
            /* cell_clip passes the gradient only where -cell_clip <= c_raw <= cell_clip */
            const double dcr = d->cell_clip > 0 && fabs(c->c_raw[j]) > d->cell_clip ? 0 : dcn;
            double di = dcr * gg;
            const double dg = dcr * i, dfg = dcr * cp[j];
            double dcp = dcr * fg, da_f = 0;
            if (d->input_forget)
                di -= dfg;
            else
                da_f = dfg * cact_deriv(c, c->f, c->a[H + j]);
            const double da_i = di * cact_deriv(c, c->f, c->a[j]);
            const double da_g = dg * cact_deriv(c, c->ga, c->a[2 * H + j]);
            if (c->P) {
                dcp += da_i * c->P[j] + da_f * c->P[H + j];
                if (gw->P) gw->P[j] += da_i * cp[j], gw->P[H + j] += da_f * cp[j];
            }
            da[j] = da_i, da[H + j] = da_f, da[2 * H + j] = da_g, da[3 * H + j] = da_o;
            dc_io[j] = dcp;
        }
    }
    /* da = d loss / d (each gate's pre-activation); the products with the masked x and h */
    const int gru_n = g->gru; /* the GRU's n gate's recurrent side was done above */
    for (int row = 0; row < G * H; ++row) {
        const int gate = row / H;
        const double dar = da[row];
        if (gw->Wb) gw->Wb[row] += dar;
        for (int i = 0; i < I; ++i) {
            const double m = c->mx[(size_t)gate * I + i];
            if (gw->W) gw->W[(size_t)row * I + i] += dar * (x[i] * m);
            if (dx) dx[i] += c->W[(size_t)row * I + i] * dar * m;
        }
        if (gru_n && gate == 2) continue;
        if (gw->Rb) gw->Rb[row] += dar;
        for (int k = 0; k < Hr; ++k) {
            const double m = c->mh[(size_t)gate * Hr + k];
            if (gw->R) gw->R[(size_t)row * Hr + k] += dar * (h[k] * m);
            dh_prev[k] += c->R[(size_t)row * Hr + k] * dar * m;
        }
    }
    for (int k = 0; k < Hr; ++k) dh_io[k] = dh_prev[k];
}

/* ---- the whole problem ---- */

static void fill_masks(const geom *g, const clrnn_reference_problem *p, int l, int dir, int n, int t, int I, double *mx,
                       double *mh) {
    const clrnn_rnn_desc *d = g->d;
    const int apply = p->dropout;
    const uint32_t c1 = d->dropout_mode == CLRNN_DROPOUT_PER_STEP ? (uint32_t)t : 0u;
    for (int gate = 0; gate < g->G; ++gate) {
        for (int i = 0; i < I; ++i)
            mx[(size_t)gate * I + i] = apply ? keep_scale(d, p->call, l, dir, RNG_STREAM_INPUT + (d->dropout_shared ? 0 : gate),
                                                          (uint32_t)n * (uint32_t)I + (uint32_t)i, c1, d->input_dropout)
                                             : 1.0;
        for (int k = 0; k < g->Hr; ++k)
            mh[(size_t)gate * g->Hr + k] =
                apply ? keep_scale(d, p->call, l, dir, RNG_STREAM_RECURRENT + (d->dropout_shared ? 0 : gate),
                                   (uint32_t)n * (uint32_t)g->Hr + (uint32_t)k, c1, d->recurrent_dropout)
                      : 1.0;
    }
}

/* y element offsets: (position t, row n, direction dir for merge NONE, unit k) */
static size_t y_row(const geom *g, int last_only, int t, int n) {
    const int bm = g->d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
    return last_only ? (size_t)n : bm ? (size_t)n * g->T + t : (size_t)t * g->N + n;
}
static size_t y_none(const geom *g, int last_only, int t, int n, int dir, int k) {
    const int bm = g->d->layout == CLRNN_LAYOUT_BATCH_MAJOR, T = g->T, N = g->N, Hr = g->Hr;
    return last_only ? ((size_t)dir * N + n) * Hr + k
           : bm      ? (((size_t)n * T + t) * 2 + dir) * Hr + k
                     : (((size_t)t * 2 + dir) * N + n) * Hr + k;
}

clrnn_status clrnn_reference_run(const clrnn_rnn *r, clrnn_reference_problem *p) {
    if (!r || !p || !p->theta || !p->x) return CLRNN_ERR_NULL_ARGUMENT;
    if (p->T < 1 || p->N < 1) return CLRNN_ERR_INVALID_ARGUMENT;
    const clrnn_rnn_desc *d = &r->desc;
    if (p->dropout && !(d->dropout >= 0 && d->dropout < 1 && d->input_dropout >= 0 && d->input_dropout < 1 &&
                        d->recurrent_dropout >= 0 && d->recurrent_dropout < 1))
        return CLRNN_ERR_INVALID_ARGUMENT;
    if (p->seq_lens)
        for (int n = 0; n < p->N; ++n)
            if (p->seq_lens[n] < 0 || p->seq_lens[n] > p->T) return CLRNN_ERR_INVALID_LENGTH;
    geom G;
    geom_init(r, p->T, p->N, &G);
    const geom *g = &G;
    const int T = g->T, N = g->N, L = g->L, D = g->D, H = g->H, Hr = g->Hr, Hm = g->Hm, O = g->O;
    const int DHr = D * Hr, GH = g->G * H, bm = d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
    const int Imax = g->I0 > DHr ? g->I0 : DHr;
    const int backward = p->dtheta || p->dx || p->dh0 || p->dc0;
    const size_t TN = (size_t)T * N;
    clrnn_status st = CLRNN_OK;

    /* the tape: every layer's input (time-major, after the dropout between layers) and output
     * (after the masked-output policy), the states before each step; final states, last outputs */
    double **in = calloc((size_t)L, sizeof(double *)), **out = calloc((size_t)L, sizeof(double *));
    double *hbefore = calloc(TN * (size_t)L * D * Hr, sizeof(double)); /* [L*D][T][N][Hr] */
    double *cbefore = calloc(TN * (size_t)L * D * H, sizeof(double));  /* [L*D][T][N][H] */
    double *hfin = calloc((size_t)L * D * N * Hr, sizeof(double)),
           *cfin = calloc((size_t)L * D * N * H, sizeof(double));
    double *last = calloc((size_t)D * N * Hr, sizeof(double));
    int *any = calloc((size_t)D * N, sizeof(int));
    double *h = calloc((size_t)Hr, sizeof(double)), *cst = calloc((size_t)H, sizeof(double));
    double *hnew = calloc((size_t)Hr, sizeof(double)), *cnew = calloc((size_t)H, sizeof(double));
    double *prev = calloc((size_t)Hr, sizeof(double));
    double *v = calloc((size_t)DHr, sizeof(double)), *mrg = calloc((size_t)Hm, sizeof(double));
    double *scratch =
        calloc((size_t)GH * 6 + (size_t)H * 8 + (size_t)Hr * 4 + (size_t)g->G * (Imax + Hr), sizeof(double));
    /* backward */
    double **din = calloc((size_t)L, sizeof(double *)), **dout = calloc((size_t)L, sizeof(double *));
    double *dlast = calloc((size_t)D * N * Hr, sizeof(double));
    double *dh = calloc((size_t)Hr, sizeof(double)), *dc = calloc((size_t)H, sizeof(double));
    double *dcarry = calloc((size_t)Hr, sizeof(double)), *dmrg = calloc((size_t)Hm, sizeof(double));
    double *dv = calloc((size_t)DHr, sizeof(double));
    int ok = in && out && hbefore && cbefore && hfin && cfin && last && any && h && cst && hnew && cnew && prev && v &&
             mrg && scratch && din && dout && dlast && dh && dc && dcarry && dmrg && dv;
    for (int l = 0; ok && l < L; ++l) {
        const int I = l == 0 ? g->I0 : DHr;
        in[l] = calloc(TN * I, sizeof(double));
        out[l] = calloc(TN * DHr, sizeof(double));
        din[l] = calloc(TN * I, sizeof(double));
        dout[l] = calloc(TN * DHr, sizeof(double));
        ok = in[l] && out[l] && din[l] && dout[l];
    }
    if (!ok) {
        st = CLRNN_ERR_OUT_OF_MEMORY;
        goto done;
    }

    cell c;
    double *da, *tmp_h, *tmp_c, *dh_prev;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.clip = d->clip;
    {
        double *s = scratch;
        c.ax = s, s += GH;
        c.ah = s, s += GH;
        c.a = s, s += GH;
        c.v = s, s += GH;
        c.rh = s, s += H;
        c.c_raw = s, s += H;
        c.c = s, s += H;
        c.hraw = s, s += H;
        c.m_pre = s, s += Hr;
        c.mx = s, s += (size_t)g->G * Imax;
        c.mh = s, s += (size_t)g->G * Hr;
        da = s, s += GH;
        tmp_h = s, s += H; /* Hr <= H */
        tmp_c = s, s += H;
        dh_prev = s;
    }
    p->kink = HUGE_VAL;
    c.kink = &p->kink;

    for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n)
            for (int i = 0; i < g->I0; ++i)
                in[0][((size_t)t * N + n) * g->I0 + i] = p->x[(bm ? (size_t)n * T + t : (size_t)t * N + n) * g->I0 + i];

    /* ---- forward ---- */
    for (int l = 0; l < L; ++l) {
        const int I = l == 0 ? g->I0 : DHr;
        for (int dir = 0; dir < D; ++dir) {
            const int k = l * D + dir;
            const layer_off *lo = &g->lo[k];
            cell_bind(&c, p->theta, lo, d, dir, I);
            const int rev = is_rev(d, dir);
            for (int n = 0; n < N; ++n) {
                const size_t sidx = (size_t)k * N + n;
                for (int q = 0; q < Hr; ++q) h[q] = p->h0 ? p->h0[sidx * Hr + q] : 0.0, prev[q] = 0.0;
                for (int q = 0; q < H; ++q) cst[q] = p->c0 && g->lstm ? p->c0[sidx * H + q] : 0.0;
                const int len = p->seq_lens ? p->seq_lens[n] : T;
                int seen = 0;
                for (int s = 0; s < T; ++s) {
                    const int t = time_of_step(d, rev, s, len, T);
                    double *o = out[l] + ((size_t)t * N + n) * DHr + (size_t)dir * Hr;
                    if (step_valid(p, n, t)) {
                        memcpy(hbefore + ((size_t)k * TN + (size_t)t * N + n) * Hr, h, (size_t)Hr * sizeof(double));
                        memcpy(cbefore + ((size_t)k * TN + (size_t)t * N + n) * H, cst, (size_t)H * sizeof(double));
                        fill_masks(g, p, l, dir, n, t, I, c.mx, c.mh);
                        cell_eval(&c, in[l] + ((size_t)t * N + n) * I, h, cst, hnew, cnew);
                        memcpy(h, hnew, (size_t)Hr * sizeof(double));
                        if (g->lstm) memcpy(cst, cnew, (size_t)H * sizeof(double));
                        for (int q = 0; q < Hr; ++q) o[q] = prev[q] = h[q];
                        seen = 1;
                    } else {
                        for (int q = 0; q < Hr; ++q)
                            o[q] = d->masked_output == CLRNN_MASKED_OUTPUT_CARRY  ? prev[q]
                                   : d->masked_output == CLRNN_MASKED_OUTPUT_FILL ? d->masked_fill_value
                                                                                  : 0.0;
                    }
                }
                memcpy(hfin + sidx * Hr, h, (size_t)Hr * sizeof(double));
                memcpy(cfin + sidx * H, cst, (size_t)H * sizeof(double));
                if (l == L - 1) {
                    any[(size_t)dir * N + n] = seen;
                    for (int q = 0; q < Hr; ++q)
                        last[((size_t)dir * N + n) * Hr + q] =
                            seen ? h[q] : (d->masked_output == CLRNN_MASKED_OUTPUT_FILL ? d->masked_fill_value : 0.0);
                }
            }
        }
        if (l + 1 < L) /* the next layer's input: this output, through `dropout` */
            for (int t = 0; t < T; ++t)
                for (int n = 0; n < N; ++n)
                    for (int u = 0; u < DHr; ++u) {
                        const size_t e = ((size_t)t * N + n) * DHr + u;
                        const double m =
                            p->dropout ? keep_scale(d, p->call, l, 0, RNG_STREAM_OUTPUT,
                                                    (uint32_t)n * (uint32_t)DHr + (uint32_t)u, (uint32_t)t, d->dropout)
                                       : 1.0;
                        in[l + 1][e] = out[l][e] * m;
                    }
    }
    if (p->hn) memcpy(p->hn, hfin, (size_t)L * D * N * Hr * sizeof(double));
    if (p->cn && g->lstm) memcpy(p->cn, cfin, (size_t)L * D * N * H * sizeof(double));

    /* outputs: reverse order, merge, dense (forward); and their backward into dout / dlast */
    const int Tout = p->last_only ? 1 : T;
    const double *dW = g->has_dense ? p->theta + g->dense_W : NULL, *db = g->has_dense ? p->theta + g->dense_b : NULL;
    double *gdW = p->dtheta && g->has_dense ? p->dtheta + g->dense_W : NULL;
    double *gdb = p->dtheta && g->has_dense ? p->dtheta + g->dense_b : NULL;
    if (p->dtheta) memset(p->dtheta, 0, g->total * sizeof(double));
    for (int t = 0; t < Tout; ++t)
        for (int n = 0; n < N; ++n) {
            int src_t[2] = {0, 0};
            for (int dir = 0; dir < D; ++dir) {
                const double *src;
                if (p->last_only) {
                    src = last + ((size_t)dir * N + n) * Hr;
                } else {
                    int tt = t;
                    if (is_rev(d, dir) && d->reverse_order == CLRNN_REVERSE_OUTPUT_REVERSED)
                        tt = time_of_step(d, 1, t, p->seq_lens ? p->seq_lens[n] : T, T);
                    src_t[dir] = tt;
                    src = out[L - 1] + ((size_t)tt * N + n) * DHr + (size_t)dir * Hr;
                }
                memcpy(v + (size_t)dir * Hr, src, (size_t)Hr * sizeof(double));
            }
            /* forward: y */
            if (g->none) {
                if (p->y)
                    for (int dir = 0; dir < 2; ++dir)
                        for (int q = 0; q < Hr; ++q)
                            p->y[y_none(g, p->last_only, t, n, dir, q)] = v[(size_t)dir * Hr + q];
            } else {
                for (int q = 0; q < Hm; ++q) {
                    if (D == 1 || d->merge == CLRNN_MERGE_CONCAT)
                        mrg[q] = v[q];
                    else if (d->merge == CLRNN_MERGE_SUM)
                        mrg[q] = v[q] + v[Hr + q];
                    else if (d->merge == CLRNN_MERGE_MUL)
                        mrg[q] = v[q] * v[Hr + q];
                    else
                        mrg[q] = (v[q] + v[Hr + q]) / 2;
                }
                if (p->y) {
                    const size_t row = y_row(g, p->last_only, t, n);
                    for (int o = 0; o < O; ++o) {
                        double s;
                        if (dW) {
                            s = db[o];
                            for (int q = 0; q < Hm; ++q) s += dW[(size_t)o * Hm + q] * mrg[q];
                        } else {
                            s = mrg[o];
                        }
                        p->y[row * O + o] = s;
                    }
                }
            }
            if (!backward || !p->dy) continue;
            /* backward: dy -> dv */
            if (g->none) {
                for (int dir = 0; dir < 2; ++dir)
                    for (int q = 0; q < Hr; ++q)
                        dv[(size_t)dir * Hr + q] = p->dy[y_none(g, p->last_only, t, n, dir, q)];
            } else {
                const size_t row = y_row(g, p->last_only, t, n);
                const double *dyr = p->dy + row * O;
                for (int q = 0; q < Hm; ++q) dmrg[q] = 0;
                for (int o = 0; o < O; ++o) {
                    if (dW) {
                        if (gdb) gdb[o] += dyr[o];
                        for (int q = 0; q < Hm; ++q) {
                            if (gdW) gdW[(size_t)o * Hm + q] += dyr[o] * mrg[q];
                            dmrg[q] += dW[(size_t)o * Hm + q] * dyr[o];
                        }
                    } else {
                        dmrg[o] = dyr[o];
                    }
                }
                for (int q = 0; q < Hm; ++q) {
                    if (D == 1 || d->merge == CLRNN_MERGE_CONCAT)
                        dv[q] = dmrg[q];
                    else if (d->merge == CLRNN_MERGE_SUM)
                        dv[q] = dv[Hr + q] = dmrg[q];
                    else if (d->merge == CLRNN_MERGE_MUL)
                        dv[q] = dmrg[q] * v[Hr + q], dv[Hr + q] = dmrg[q] * v[q];
                    else
                        dv[q] = dv[Hr + q] = dmrg[q] / 2;
                }
            }
            for (int dir = 0; dir < D; ++dir) {
                double *dst = p->last_only ? dlast + ((size_t)dir * N + n) * Hr
                                           : dout[L - 1] + ((size_t)src_t[dir] * N + n) * DHr + (size_t)dir * Hr;
                for (int q = 0; q < Hr; ++q) dst[q] += dv[(size_t)dir * Hr + q];
            }
        }
    if (!backward) goto done;

    /* ---- backward: layers top-down, each row's steps in reverse processing order ---- */
    for (int l = L - 1; l >= 0; --l) {
        const int I = l == 0 ? g->I0 : DHr;
        for (int dir = 0; dir < D; ++dir) {
            const int k = l * D + dir;
            const layer_off *lo = &g->lo[k];
            cell_bind(&c, p->theta, lo, d, dir, I);
            c.kink = NULL;
            cell_grad gw = {NULL, NULL, NULL, NULL, NULL, NULL};
            if (p->dtheta) {
                gw.W = p->dtheta + lo->W, gw.R = p->dtheta + lo->R, gw.Wb = p->dtheta + lo->Wb,
                gw.Rb = p->dtheta + lo->Rb;
                gw.P = g->has_P ? p->dtheta + lo->P : NULL;
                gw.proj = g->has_proj ? p->dtheta + lo->proj : NULL;
            }
            const int rev = is_rev(d, dir);
            for (int n = 0; n < N; ++n) {
                const size_t sidx = (size_t)k * N + n;
                for (int q = 0; q < Hr; ++q) dh[q] = (p->dhn ? p->dhn[sidx * Hr + q] : 0.0), dcarry[q] = 0;
                for (int q = 0; q < H; ++q) dc[q] = p->dcn && g->lstm ? p->dcn[sidx * H + q] : 0.0;
                /* last_only: the output was the final state (rows with a computed step only) */
                if (l == L - 1 && p->last_only && any[(size_t)dir * N + n])
                    for (int q = 0; q < Hr; ++q) dh[q] += dlast[((size_t)dir * N + n) * Hr + q];
                const int len = p->seq_lens ? p->seq_lens[n] : T;
                for (int s = T - 1; s >= 0; --s) {
                    const int t = time_of_step(d, rev, s, len, T);
                    const double *dot = dout[l] + ((size_t)t * N + n) * DHr + (size_t)dir * Hr;
                    if (!step_valid(p, n, t)) {
                        /* CARRY: this output was the last computed one before it */
                        if (d->masked_output == CLRNN_MASKED_OUTPUT_CARRY)
                            for (int q = 0; q < Hr; ++q) dcarry[q] += dot[q];
                        continue;
                    }
                    for (int q = 0; q < Hr; ++q) dh[q] += dot[q] + dcarry[q], dcarry[q] = 0;
                    fill_masks(g, p, l, dir, n, t, I, c.mx, c.mh);
                    cell_backward(&c, in[l] + ((size_t)t * N + n) * I,
                                  hbefore + ((size_t)k * TN + (size_t)t * N + n) * Hr,
                                  cbefore + ((size_t)k * TN + (size_t)t * N + n) * H, dh, dc,
                                  din[l] + ((size_t)t * N + n) * I, &gw, da, tmp_h, tmp_c, dh_prev);
                }
                if (p->dh0)
                    for (int q = 0; q < Hr; ++q) p->dh0[sidx * Hr + q] = dh[q];
                if (p->dc0 && g->lstm)
                    for (int q = 0; q < H; ++q) p->dc0[sidx * H + q] = dc[q];
            }
        }
        if (l > 0) /* the gradient of layer l-1's output: through the dropout between them */
            for (int t = 0; t < T; ++t)
                for (int n = 0; n < N; ++n)
                    for (int u = 0; u < DHr; ++u) {
                        const size_t e = ((size_t)t * N + n) * DHr + u;
                        const double m =
                            p->dropout ? keep_scale(d, p->call, l - 1, 0, RNG_STREAM_OUTPUT,
                                                    (uint32_t)n * (uint32_t)DHr + (uint32_t)u, (uint32_t)t, d->dropout)
                                       : 1.0;
                        dout[l - 1][e] = din[l][e] * m;
                    }
    }
    if (p->dx)
        for (int t = 0; t < T; ++t)
            for (int n = 0; n < N; ++n)
                for (int i = 0; i < g->I0; ++i)
                    p->dx[(bm ? (size_t)n * T + t : (size_t)t * N + n) * g->I0 + i] =
                        din[0][((size_t)t * N + n) * g->I0 + i];

done:
    for (int l = 0; l < L; ++l) {
        if (in) free(in[l]);
        if (out) free(out[l]);
        if (din) free(din[l]);
        if (dout) free(dout[l]);
    }
    free(in), free(out), free(din), free(dout);
    free(hbefore), free(cbefore), free(hfin), free(cfin), free(last), free(any);
    free(h), free(cst), free(hnew), free(cnew), free(prev), free(v), free(mrg), free(scratch);
    free(dlast), free(dh), free(dc), free(dcarry), free(dmrg), free(dv);
    return st;
}

/* ---- the float interface ---- */

void clrnn_reference_grads_free(clrnn_reference_grads *gr) {
    if (!gr) return;
    if (gr->lw)
        for (int k = 0; k < gr->n; ++k) {
            clrnn_layer_weights *w = &gr->lw[k];
            free(w->W), free(w->R), free(w->Wb), free(w->Rb), free(w->P), free(w->proj);
        }
    free(gr->lw);
    free(gr->dense_W);
    free(gr->dense_b);
    memset(gr, 0, sizeof *gr);
}

static double *to_double(const void *src, size_t n) {
    double *dst = malloc((n ? n : 1) * sizeof(double));
    if (dst && src)
        for (size_t i = 0; i < n; ++i) dst[i] = ((const float *)src)[i];
    return dst;
}

static void to_float(void *dst, const double *src, size_t n) {
    if (dst)
        for (size_t i = 0; i < n; ++i) ((float *)dst)[i] = (float)src[i];
}

static float *grad_copy(const double *src, size_t n) {
    float *dst = malloc((n ? n : 1) * sizeof(float));
    if (dst)
        for (size_t i = 0; i < n; ++i) dst[i] = (float)src[i];
    return dst;
}

clrnn_status clrnn_reference_train(const clrnn_rnn *r, const clrnn_forward_args *a, uint32_t call,
                                   const clrnn_backward_args *b, clrnn_reference_grads *grads) {
    if (!r || !a || !a->x.host) return CLRNN_ERR_NULL_ARGUMENT;
    if (a->h0.mem || a->c0.mem || a->y.mem || a->hn.mem || a->cn.mem) return CLRNN_ERR_UNSUPPORTED;
    if (b && (b->dy.mem || b->dhn.mem || b->dcn.mem || b->dx.mem || b->dh0.mem || b->dc0.mem))
        return CLRNN_ERR_UNSUPPORTED;
    if (a->seq_length < 1 || a->batch < 1) return CLRNN_ERR_INVALID_ARGUMENT;
    if (grads) memset(grads, 0, sizeof *grads);
    const clrnn_backward_args zero_args = {{0}, {0}, {0}, {0}, {0}, {0}};
    if (!b) b = &zero_args; /* no gradients given: all zero */
    geom g;
    geom_init(r, a->seq_length, a->batch, &g);
    const int T = g.T, N = g.N, LD = g.L * g.D;
    const size_t nx = (size_t)T * N * g.I0, nh = (size_t)LD * N * g.Hr, nc = (size_t)LD * N * g.H;
    const size_t ny = (size_t)(a->last_only ? 1 : T) * N * (g.none ? 2 * g.Hr : g.O);
    const int backward = b->dx.host || b->dh0.host || b->dc0.host || grads;
    clrnn_reference_problem p;
    memset(&p, 0, sizeof p);
    p.T = T, p.N = N, p.seq_lens = a->seq_lens, p.mask = a->mask, p.last_only = a->last_only;
    p.dropout = 1, p.call = call;
    double *theta = malloc(g.total * sizeof(double) + 1), *x = to_double(a->x.host, nx);
    double *h0 = a->h0.host ? to_double(a->h0.host, nh) : NULL;
    double *c0 = a->c0.host && g.lstm ? to_double(a->c0.host, nc) : NULL;
    double *y = malloc(ny * sizeof(double)), *hn = malloc(nh * sizeof(double)), *cn = malloc(nc * sizeof(double));
    double *dy = backward && b->dy.host ? to_double(b->dy.host, ny) : NULL;
    double *dhn = backward && b->dhn.host ? to_double(b->dhn.host, nh) : NULL;
    double *dcn = backward && b->dcn.host && g.lstm ? to_double(b->dcn.host, nc) : NULL;
    double *dtheta = backward ? malloc(g.total * sizeof(double) + 1) : NULL;
    double *dx = backward ? malloc(nx * sizeof(double)) : NULL;
    double *dh0 = backward ? malloc(nh * sizeof(double)) : NULL, *dc0 = backward ? malloc(nc * sizeof(double)) : NULL;
    clrnn_status st = CLRNN_ERR_OUT_OF_MEMORY;
    if (!theta || !x || (a->h0.host && !h0) || (a->c0.host && g.lstm && !c0) || !y || !hn || !cn ||
        (backward && (!dtheta || !dx || !dh0 || !dc0)) || (dy == NULL && backward && b->dy.host) ||
        (dhn == NULL && backward && b->dhn.host) || (dcn == NULL && backward && b->dcn.host && g.lstm))
        goto done;
    clrnn_reference_param_import(r, theta);
    p.theta = theta, p.x = x, p.h0 = h0, p.c0 = c0, p.y = y, p.hn = hn, p.cn = cn;
    p.dy = dy, p.dhn = dhn, p.dcn = dcn;
    p.dtheta = dtheta, p.dx = dx, p.dh0 = dh0, p.dc0 = dc0;
    st = clrnn_reference_run(r, &p);
    if (st != CLRNN_OK) goto done;
    if (grads && backward) {
        grads->n = LD;
        grads->lw = calloc((size_t)LD, sizeof(clrnn_layer_weights));
        if (!grads->lw) goto oom;
        const size_t GH = (size_t)g.G * g.H;
        for (int k = 0; k < LD; ++k) {
            clrnn_layer_weights *w = &grads->lw[k];
            const layer_off *lo = &g.lo[k];
            w->in_size = lo->I;
            w->W = grad_copy(dtheta + lo->W, GH * lo->I);
            w->R = grad_copy(dtheta + lo->R, GH * g.Hr);
            w->Wb = grad_copy(dtheta + lo->Wb, GH);
            w->Rb = grad_copy(dtheta + lo->Rb, GH);
            if (!w->W || !w->R || !w->Wb || !w->Rb) goto oom;
            w->has_W = w->has_R = (1 << g.G) - 1;
            if (g.has_P && !(w->P = grad_copy(dtheta + lo->P, (size_t)3 * g.H))) goto oom;
            if (g.has_proj && !(w->proj = grad_copy(dtheta + lo->proj, (size_t)g.Hr * g.H))) goto oom;
            w->has_proj = g.has_proj;
        }
        if (g.has_dense) {
            grads->dense_W = grad_copy(dtheta + g.dense_W, (size_t)g.O * g.Hm);
            grads->dense_b = grad_copy(dtheta + g.dense_b, (size_t)g.O);
            if (!grads->dense_W || !grads->dense_b) goto oom;
        }
    }
    /* every check passed and every allocation made: now the outputs */
    to_float(a->y.host, y, ny);
    to_float(a->hn.host, hn, nh);
    if (g.lstm) to_float(a->cn.host, cn, nc);
    if (backward) {
        to_float(b->dx.host, dx, nx);
        to_float(b->dh0.host, dh0, nh);
        if (g.lstm) to_float(b->dc0.host, dc0, nc);
    }
    goto done;
oom:
    clrnn_reference_grads_free(grads);
    st = CLRNN_ERR_OUT_OF_MEMORY;
done:
    free(theta), free(x), free(h0), free(c0), free(y), free(hn), free(cn);
    free(dy), free(dhn), free(dcn), free(dtheta), free(dx), free(dh0), free(dc0);
    return st;
}
