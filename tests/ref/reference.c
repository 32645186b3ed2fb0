/* Double-precision reference forward pass (see reference.h). Straight loops, no tricks. */
#include "reference.h"

#include "internal.h"
#include "ref_act.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* act of x after the ONNX input clip (when clip > 0). */
static double act(clrnn_activation a, double x, double clip) { return ref_act(a, ref_clamp(x, clip)); }

/* Processing order: the time index of step s for a row of length len, direction rev. */
static int step_time(const clrnn_rnn_desc *d, int rev, int s, int len, int T) {
    if (!rev) return s;
    if (d->reverse_mode == CLRNN_REVERSE_WHOLE_AXIS) return T - 1 - s;
    return s < len ? len - 1 - s : s;
}

/* One cell step for one row: h (Hr), c (H) updated in place from input x (I). */
static void cell_step(const clrnn_rnn *r, int dir, const clrnn_layer_weights *w, const double *x, double *h,
                      double *c) {
    const clrnn_rnn_desc *d = &r->desc;
    const int H = d->hidden_size, Hr = r->Hr, I = w->in_size, G = r->G;
    double *pre_x = calloc((size_t)G * H, sizeof(double)), *pre_h = calloc((size_t)G * H, sizeof(double));
    double *hn = calloc((size_t)H, sizeof(double));
    for (int row = 0; row < G * H; ++row) {
        double sx = w->Wb[row], sh = w->Rb[row];
        for (int i = 0; i < I; ++i) sx += (double)w->W[(size_t)row * I + i] * x[i];
        for (int k = 0; k < Hr; ++k) sh += (double)w->R[(size_t)row * Hr + k] * h[k];
        pre_x[row] = sx;
        pre_h[row] = sh;
    }
    const clrnn_activation f = clrnn_effective_activation(d, dir, 0);
    const clrnn_activation g = clrnn_effective_activation(d, dir, 1);
    const clrnn_activation hh = clrnn_effective_activation(d, dir, 2);
    const double clip = d->clip;
    if (d->cell == CLRNN_CELL_RNN) {
        for (int j = 0; j < H; ++j) hn[j] = act(f, pre_x[j] + pre_h[j], clip);
        for (int j = 0; j < H; ++j) h[j] = hn[j];
    } else if (d->cell == CLRNN_CELL_GRU) {
        double *rv = calloc((size_t)H, sizeof(double));
        double *z = calloc((size_t)H, sizeof(double));
        for (int j = 0; j < H; ++j) {
            z[j] = act(f, pre_x[j] + pre_h[j], clip);
            rv[j] = act(f, pre_x[H + j] + pre_h[H + j], clip);
        }
        for (int j = 0; j < H; ++j) {
            double n;
            if (d->linear_before_reset) {
                n = act(g, pre_x[2 * H + j] + rv[j] * pre_h[2 * H + j], clip);
            } else {
                double s = w->Rb[2 * H + j];
                for (int k = 0; k < H; ++k) s += (double)w->R[(size_t)(2 * H + j) * Hr + k] * rv[k] * h[k];
                n = act(g, pre_x[2 * H + j] + s, clip);
            }
            hn[j] = (1 - z[j]) * n + z[j] * h[j];
        }
        for (int j = 0; j < H; ++j) h[j] = hn[j];
        free(rv);
        free(z);
    } else {
        for (int j = 0; j < H; ++j) {
            const double P_i = d->peephole ? w->P[j] : 0, P_f = d->peephole ? w->P[H + j] : 0,
                         P_o = d->peephole ? w->P[2 * H + j] : 0;
            const double cp = c[j];
            /* no peephole term at all without peepholes: 0 * an infinite state would be NaN */
            const double peep_i = d->peephole ? P_i * cp : 0, peep_f = d->peephole ? P_f * cp : 0;
            const double i = act(f, pre_x[j] + pre_h[j] + peep_i, clip);
            const double fg = d->input_forget ? 1 - i : act(f, pre_x[H + j] + pre_h[H + j] + d->forget_bias + peep_f, clip);
            const double gg = act(g, pre_x[2 * H + j] + pre_h[2 * H + j], clip);
            const double cn = ref_clamp(fg * cp + i * gg, d->cell_clip);
            const double o = act(f, pre_x[3 * H + j] + pre_h[3 * H + j] + (d->peephole ? P_o * cn : 0), clip);
            c[j] = cn;
            hn[j] = o * act(hh, cn, clip);
        }
        if (d->proj_size > 0) {
            for (int p = 0; p < Hr; ++p) {
                double s = 0;
                for (int k = 0; k < H; ++k) s += (double)w->proj[(size_t)p * H + k] * hn[k];
                h[p] = ref_clamp(s, d->proj_clip);
            }
        } else {
            for (int j = 0; j < H; ++j) h[j] = hn[j];
        }
    }
    free(pre_x);
    free(pre_h);
    free(hn);
}

clrnn_status clrnn_reference_forward(const clrnn_rnn *r, const clrnn_forward_args *a) {
    if (!r || !a || !a->x.host) return CLRNN_ERR_NULL_ARGUMENT;
    if ((a->h0.mem || a->c0.mem || a->y.mem || a->hn.mem || a->cn.mem)) return CLRNN_ERR_UNSUPPORTED;
    const clrnn_rnn_desc *d = &r->desc;
    const int T = a->seq_length, N = a->batch, D = r->D, H = d->hidden_size, Hr = r->Hr, L = d->num_layers;
    const int bm = d->layout == CLRNN_LAYOUT_BATCH_MAJOR;
    const float *xin = a->x.host;
    double *in = calloc((size_t)T * N * (size_t)(d->input_size > D * Hr ? d->input_size : D * Hr), sizeof(double));
    double *out = calloc((size_t)T * N * D * Hr, sizeof(double)); /* [T, N, D*Hr] */
    double *h = calloc((size_t)Hr, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
    double *prev = calloc((size_t)Hr, sizeof(double));
    double *last = calloc((size_t)D * N * Hr, sizeof(double)); /* last-only outputs per direction */
    if (!in || !out || !h || !c || !prev || !last) {
        free(in), free(out), free(h), free(c), free(prev), free(last);
        return CLRNN_ERR_OUT_OF_MEMORY;
    }
    for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n)
            for (int i = 0; i < d->input_size; ++i)
                in[((size_t)t * N + n) * d->input_size + i] =
                    xin[(bm ? (size_t)n * T + t : (size_t)t * N + n) * d->input_size + i];
    int in_size = d->input_size;
    for (int l = 0; l < L; ++l) {
        for (int dir = 0; dir < D; ++dir) {
            const clrnn_layer_weights *w = &r->lw[l * D + dir];
            const int rev = d->direction == CLRNN_DIR_REVERSE || dir == 1;
            for (int n = 0; n < N; ++n) {
                const size_t sidx = ((size_t)(l * D + dir) * N + n);
                for (int k = 0; k < Hr; ++k) h[k] = a->h0.host ? ((const float *)a->h0.host)[sidx * Hr + k] : 0.0;
                for (int k = 0; k < H; ++k) c[k] = a->c0.host ? ((const float *)a->c0.host)[sidx * H + k] : 0.0;
                for (int k = 0; k < Hr; ++k) prev[k] = 0.0;
                const int len = a->seq_lens ? a->seq_lens[n] : T;
                int any = 0;
                for (int s = 0; s < T; ++s) {
                    const int t = step_time(d, rev, s, len, T);
                    const int valid = t < len && (!a->mask || a->mask[(size_t)n * T + t]);
                    double *o = out + ((size_t)t * N + n) * D * Hr + (size_t)dir * Hr;
                    if (valid) {
                        cell_step(r, dir, w, in + ((size_t)t * N + n) * in_size, h, c);
                        for (int k = 0; k < Hr; ++k) o[k] = prev[k] = h[k];
                        any = 1;
                    } else {
                        for (int k = 0; k < Hr; ++k)
                            o[k] = d->masked_output == CLRNN_MASKED_OUTPUT_CARRY  ? prev[k]
                                   : d->masked_output == CLRNN_MASKED_OUTPUT_FILL ? d->masked_fill_value
                                                                                  : 0.0;
                    }
                }
                if (a->hn.host)
                    for (int k = 0; k < Hr; ++k) ((float *)a->hn.host)[sidx * Hr + k] = (float)h[k];
                if (a->cn.host)
                    for (int k = 0; k < H; ++k) ((float *)a->cn.host)[sidx * H + k] = (float)c[k];
                for (int k = 0; k < Hr; ++k)
                    last[((size_t)dir * N + n) * Hr + k] =
                        any ? h[k] : (d->masked_output == CLRNN_MASKED_OUTPUT_FILL ? d->masked_fill_value : 0.0);
            }
        }
        in_size = D * Hr;
        memcpy(in, out, (size_t)T * N * D * Hr * sizeof(double));
    }
    /* outputs: reverse order, merge, dense */
    if (a->y.host) {
        const int Tout = a->last_only ? 1 : T;
        const int none = D == 2 && d->merge == CLRNN_MERGE_NONE;
        const int Hm = r->Hm, O = r->O;
        double *v = calloc((size_t)D * Hr, sizeof(double)), *m = calloc((size_t)Hm, sizeof(double));
        float *y = a->y.host;
        for (int t = 0; t < Tout; ++t)
            for (int n = 0; n < N; ++n) {
                for (int dir = 0; dir < D; ++dir) {
                    const double *src;
                    if (a->last_only) {
                        src = last + ((size_t)dir * N + n) * Hr;
                    } else {
                        int tt = t;
                        const int rev = d->direction == CLRNN_DIR_REVERSE || dir == 1;
                        if (rev && d->reverse_order == CLRNN_REVERSE_OUTPUT_REVERSED)
                            tt = step_time(d, 1, t, a->seq_lens ? a->seq_lens[n] : T, T);
                        src = out + ((size_t)tt * N + n) * D * Hr + (size_t)dir * Hr;
                    }
                    memcpy(v + (size_t)dir * Hr, src, (size_t)Hr * sizeof(double));
                }
                if (none) {
                    for (int dir = 0; dir < 2; ++dir)
                        for (int k = 0; k < Hr; ++k) {
                            size_t o = a->last_only ? ((size_t)dir * N + n) * Hr + k
                                       : bm         ? (((size_t)n * T + t) * 2 + dir) * Hr + k
                                                    : (((size_t)t * 2 + dir) * N + n) * Hr + k;
                            y[o] = (float)v[(size_t)dir * Hr + k];
                        }
                    continue;
                }
                for (int k = 0; k < Hm; ++k) {
                    if (D == 1 || d->merge == CLRNN_MERGE_CONCAT) m[k] = v[k];
                    else if (d->merge == CLRNN_MERGE_SUM) m[k] = v[k] + v[Hr + k];
                    else if (d->merge == CLRNN_MERGE_MUL) m[k] = v[k] * v[Hr + k];
                    else m[k] = (v[k] + v[Hr + k]) / 2;
                }
                const size_t row = a->last_only ? (size_t)n : bm ? (size_t)n * T + t : (size_t)t * N + n;
                for (int o = 0; o < O; ++o) {
                    double s;
                    if (d->dense_size > 0) {
                        s = r->dense_b[o];
                        for (int k = 0; k < Hm; ++k) s += (double)r->dense_W[(size_t)o * Hm + k] * m[k];
                    } else {
                        s = m[o];
                    }
                    y[row * O + o] = (float)s;
                }
            }
        free(v);
        free(m);
    }
    free(in);
    free(out);
    free(h);
    free(c);
    free(prev);
    free(last);
    return CLRNN_OK;
}
