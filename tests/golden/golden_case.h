/* A golden case's meta.txt (tests/golden/README.md) and what follows from it: the descriptor and
 * the weight files' roles. Shared by the forward goldens (tests/golden/test_golden.c) and the
 * gradient goldens (tests/train/test_grad_golden.c), which read the same format; how strictly a
 * meta.txt is checked (unknown, repeated or missing keys) stays with each test. */
#ifndef CLRNN_TESTS_GOLDEN_CASE_H
#define CLRNN_TESTS_GOLDEN_CASE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrnn.h"

typedef struct golden_meta {
    char framework[64], cell[64], layout[64], direction[64], merge[64], reverse_mode[64], masked_output[64];
    char precision[64];
    int T, N, I, H, layers, proj, peephole, dense, return_sequences, chunks, reverse_order;
    int has_seq_len, has_mask, has_h0;
    float cell_clip, proj_clip, forget_bias;
} golden_meta;

/* Stores one key's value; 0 when the key is not one of meta.txt's. */
static inline int golden_meta_set(golden_meta *m, const char *key, const char *val) {
#define S(k) if (!strcmp(key, #k)) return snprintf(m->k, sizeof m->k, "%s", val), 1;
#define I(k) if (!strcmp(key, #k)) return m->k = atoi(val), 1;
#define F(k) if (!strcmp(key, #k)) return m->k = (float)atof(val), 1;
    S(framework) S(cell) S(layout) S(direction) S(merge) S(reverse_mode) S(masked_output) S(precision)
    I(T) I(N) I(I) I(H) I(layers) I(proj) I(peephole) I(dense) I(return_sequences) I(chunks) I(reverse_order)
    I(has_seq_len) I(has_mask) I(has_h0) F(cell_clip) F(proj_clip) F(forget_bias)
#undef S
#undef I
#undef F
    return 0;
}

static inline clrnn_rnn_desc golden_desc_from_meta(const golden_meta *m, clrnn_framework *fw) {
    clrnn_rnn_desc d = clrnn_rnn_desc_default();
    *fw = !strcmp(m->framework, "torch") ? CLRNN_FRAMEWORK_PYTORCH
          : !strcmp(m->framework, "keras") ? CLRNN_FRAMEWORK_KERAS
          : !strcmp(m->framework, "tf1")   ? CLRNN_FRAMEWORK_TF1
                                           : CLRNN_FRAMEWORK_ONNX;
    d.cell = !strncmp(m->cell, "rnn", 3) ? CLRNN_CELL_RNN : !strcmp(m->cell, "lstm") ? CLRNN_CELL_LSTM : CLRNN_CELL_GRU;
    d.linear_before_reset = !strcmp(m->cell, "gru_lbr");
    d.input_size = m->I, d.hidden_size = m->H, d.num_layers = m->layers;
    d.direction = !strcmp(m->direction, "bidirectional") ? CLRNN_DIR_BIDIRECTIONAL
                  : !strcmp(m->direction, "reverse")     ? CLRNN_DIR_REVERSE
                                                         : CLRNN_DIR_FORWARD;
    if (!strcmp(m->cell, "rnn_relu"))
        for (int dir = 0; dir < (d.direction == CLRNN_DIR_BIDIRECTIONAL ? 2 : 1); ++dir)
            d.activations[dir][0].kind = CLRNN_ACT_RELU;
    static const char *merges[] = {"concat", "sum", "mul", "ave", "none"};
    for (int i = 0; i < 5; ++i)
        if (!strcmp(m->merge, merges[i])) d.merge = (clrnn_merge)i;
    if (d.direction != CLRNN_DIR_BIDIRECTIONAL) d.merge = CLRNN_MERGE_CONCAT;
    d.layout = !strcmp(m->layout, "batch_major") ? CLRNN_LAYOUT_BATCH_MAJOR : CLRNN_LAYOUT_TIME_MAJOR;
    d.reverse_order = m->reverse_order ? CLRNN_REVERSE_OUTPUT_REVERSED : CLRNN_REVERSE_OUTPUT_IN_PLACE;
    d.reverse_mode = !strcmp(m->reverse_mode, "whole_axis") ? CLRNN_REVERSE_WHOLE_AXIS : CLRNN_REVERSE_PER_ROW;
    d.masked_output = !strcmp(m->masked_output, "carry") ? CLRNN_MASKED_OUTPUT_CARRY : CLRNN_MASKED_OUTPUT_ZERO;
    d.proj_size = m->proj, d.peephole = m->peephole, d.dense_size = m->dense;
    d.cell_clip = m->cell_clip, d.proj_clip = m->proj_clip, d.forget_bias = m->forget_bias;
    return d;
}

/* The weight files' names (l<layer>_d<dir>_<file>.npy) and the clrnn_param each one sets. */
typedef struct golden_role {
    const char *file;
    clrnn_param role;
} golden_role;

static const golden_role golden_roles[] = {{"w", CLRNN_PARAM_W},
                                           {"r", CLRNN_PARAM_R},
                                           {"b", CLRNN_PARAM_B},
                                           {"bw", CLRNN_PARAM_BW},
                                           {"br", CLRNN_PARAM_BR},
                                           {"peephole", CLRNN_PARAM_PEEPHOLE},
                                           {"proj", CLRNN_PARAM_PROJ},
                                           {"kernel", CLRNN_PARAM_KERNEL},
                                           {"cand_kernel", CLRNN_PARAM_CANDIDATE_KERNEL},
                                           {"cand_bias", CLRNN_PARAM_CANDIDATE_BIAS}};
enum { GOLDEN_NROLES = sizeof golden_roles / sizeof golden_roles[0] };

static inline int golden_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of directory base (the cases, hidden ones skipped), at most cap, sorted by name,
 * each strdup'ed into names; -1 when base cannot be opened. */
static inline int golden_list_cases(const char *base, char **names, int cap) {
    DIR *h = opendir(base);
    if (!h) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h)) && n < cap)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(h);
    qsort(names, (size_t)n, sizeof names[0], golden_name_cmp);
    return n;
}

#endif
