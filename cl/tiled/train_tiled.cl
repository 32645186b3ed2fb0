/* The tiled plan's training forward (src/plans/plan_tiled_train.c): the persistent scans of
 * cl/tiled/step_tiled.cl with `train` = 1, which also keep in the reserve, at row t*N + n of each
 * step's time index, what the portable backward reads (cl/train/train.cl's layout: h_prev [Hr],
 * the gate pre-activations from Hr, LSTM c_prev and the unclipped c, GRU the fourth block; zeros
 * in the gate slots of steps the table marks as not computed). Same arithmetic as the inference
 * scan, so the training forward's outputs are the inference forward's. And the repacking of the
 * trainable values (the device's W, R, Wb, Rb, P, which an optimizer changes between calls) into
 * the plan's packed layouts, on the device. */

/* dst [Hb][K][slots][16] (one direction, from element dst_off) from a trainable matrix M [G*H, K]:
 * unit j of gate g in block j / UB, slot g (one gate: (j % 64) / 16), lane j % 16; padding zero.
 * gru_split (the reset-before GRU's R): each block as [K][z, r][16] then [K][n][16] (GRU_RT_N in
 * step_tiled.cl, plan_tiled.c's gru_rt_index). Work-item (slot * 16 + lane, k, block). */
__kernel void tiled_train_pack(__global const float *M, const int G, const int H, const int K, const int UB,
                               const int slots, __global store *dst, const ulong dst_off, const int gru_split) {
    const int sl = get_global_id(0), k = get_global_id(1), jb = get_global_id(2);
    if (sl >= slots * 16) return;
    const int lane = sl % 16, slot = sl / 16;
    const int g = G == 1 ? 0 : slot, j = G == 1 ? jb * UB + slot * 16 + lane : jb * 16 + lane;
    const size_t block = (size_t)jb * K * slots * 16;
    const size_t at = !gru_split ? block + (size_t)k * slots * 16 + sl
                      : slot < 2 ? block + (size_t)k * 32 + sl
                                 : block + (size_t)K * 32 + (size_t)k * 16 + lane;
    STORE(dst + dst_off, at, j < H && g < G ? M[((size_t)g * H + j) * K + k] : 0.0f);
}

/* bias [2][Hb][slots][16] of one direction (from dst_off): the x-side bias Wb + Rb (Rb left out for
 * gate rb_apart, forget_bias on gate forget_gate), then the recurrent Rb. */
__kernel void tiled_train_pack_bias(__global const float *Wb, __global const float *Rb, const int G, const int H,
                                    const int UB, const int slots, const int Hb, const int rb_apart,
                                    const int forget_gate, const float forget_bias, __global real *dst,
                                    const ulong dst_off) {
    const size_t i = get_global_id(0), half_n = (size_t)Hb * slots * 16;
    if (i >= 2 * half_n) return;
    const int part = (int)(i / half_n), rem = (int)(i % half_n);
    const int lane = rem % 16, slot = rem / 16 % slots, jb = rem / (16 * slots);
    const int g = G == 1 ? 0 : slot, j = G == 1 ? jb * UB + slot * 16 + lane : jb * 16 + lane;
    real v = 0.0f;
    if (j < H && g < G) {
        const size_t k = (size_t)g * H + j;
        v = part ? Rb[k] : Wb[k] + (g == rb_apart ? 0.0f : Rb[k]);
        if (!part && g == forget_gate) v += forget_bias;
    }
    dst[dst_off + i] = v;
}

/* peep [3][Hp] of one direction (from dst_off) from P [3H] (i, f, o); padding zero. */
__kernel void tiled_train_pack_peep(__global const float *P, const int H, const int Hp, __global store *dst,
                                    const ulong dst_off) {
    const size_t i = get_global_id(0);
    if (i >= 3 * (size_t)Hp) return;
    const int q = (int)(i / Hp), j = (int)(i % Hp);
    STORE(dst + dst_off, i, j < H ? P[(size_t)q * H + j] : 0.0f);
}

/* The training scans: the inference scans' parameter lists, then the reserves of the two directions
 * (the same buffer twice for one direction): direction d = get_global_id(2) writes res_d. */
#define TRAIN_RES __global real *res_0, __global real *res_1, const int S
#define TRAIN_SCAN(STEP)                                                                           \
    __global real *res = get_global_id(2) ? res_1 : res_0;                                         \
    for (int s = s0; s < s1; ++s) {                                                                \
        STEP;                                                                                      \
        barrier(CLK_GLOBAL_MEM_FENCE);                                                             \
    }
#define DEFINE_LSTM_TRAIN(MR)                                                                      \
    __kernel void lstm_train_scan_tiled_##MR(LSTM_TILED_PARAMS, TRAIN_RES) {                       \
        TRAIN_SCAN(lstm_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, peep, acts, \
                                   SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, c_a, c_b), SCAN_STATES(s, h_b, h_a), \
                                   SCAN_STATES(s, c_b, c_a), y, flags, policy, clip, cell_clip, fill, h_raw, hs_in, 1, \
                                   res, S))                                                        \
    }
#define DEFINE_GRU_LBR_TRAIN(MR)                                                                   \
    __kernel void gru_lbr_train_scan_tiled_##MR(H_TILED_PARAMS, TRAIN_RES) {                       \
        TRAIN_SCAN(gru_lbr_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, \
                                      SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a), y, policy, clip, fill, 1, \
                                      res, S))                                                     \
    }
#define DEFINE_RNN_TRAIN(MR)                                                                       \
    __kernel void rnn_train_scan_tiled_##MR(H_TILED_PARAMS, TRAIN_RES) {                           \
        TRAIN_SCAN(unit64_tiled_step(MR, 0, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, 0, 0, \
                                     SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a), y, policy, clip, fill, 1, \
                                     res, S))                                                      \
    }
/* Reset-before GRU: two phases a step, a barrier after each. The out phase pairs blocks, as the
 * inference scan's does (its work-group runs on one compute unit; pair_dot's sums are the single
 * block's, so the outputs stay the inference forward's bits): one block per work-item was 1 weight
 * load and 8 broadcasts for 8 FMAs a k, load-bound. */
#define DEFINE_GRU_TRAIN(MR)                                                                       \
    __kernel void gru_train_scan_tiled_##MR(GRU_TILED_PARAMS, TRAIN_RES) {                         \
        TRAIN_SCAN(gru_gates_tiled_step(MR, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, \
                                        SCAN_STATES(s, h_a, h_b), zbuf, rh, clip, 1, res, S);      \
                   barrier(CLK_GLOBAL_MEM_FENCE);                                                  \
                   gru_out_tiled_blocks(MR, 1, s, T, N, H, K, tmap, perm, x_proj, xp_batch_major, RTp, bias, acts, \
                                        SCAN_STATES(s, h_a, h_b), SCAN_STATES(s, h_b, h_a), zbuf, rh, y, policy, \
                                        clip, fill, 1, res, S))                                    \
    }

DEFINE_LSTM_TRAIN(1)
DEFINE_LSTM_TRAIN(6)
DEFINE_GRU_LBR_TRAIN(1)
DEFINE_GRU_LBR_TRAIN(8)
DEFINE_RNN_TRAIN(1)
DEFINE_RNN_TRAIN(6)
DEFINE_GRU_TRAIN(1)
DEFINE_GRU_TRAIN(8)
