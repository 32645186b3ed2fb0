/* Every kernel the library creates from its programs, one line each (X-macro: CLRNN_KERNEL(name)).
 * The name is both the __kernel function in cl/ and the clrnn_kernel_id suffix. A
 * CLRNN_KERNEL_GROUP(group) line says which kernel group (clrnn_kernel_group: the files of cl/ that
 * define them, src/core/program.c) the lines below it are in, up to the next one: a context's main
 * program holds the core group and the groups of its device's default plan (a CPU device: CORE and
 * TILED), every other group is a program of its own built on the first use of one of its kernels.
 * Kept in step with cl/ both ways: test_context (kernel_list_matches_the_programs) fails on a
 * __kernel of a program not listed here, and on a listed kernel missing from its group's program. */
#ifndef CLRNN_KERNEL_GROUP
#define CLRNN_KERNEL_GROUP(group)
#define CLRNN_KERNEL_GROUP_DEFAULTED_
#endif
CLRNN_KERNEL_GROUP(GENERIC)
CLRNN_KERNEL(rnn_step)
CLRNN_KERNEL(lstm_step)
CLRNN_KERNEL(lstm_proj_step)
CLRNN_KERNEL(gru_lbr_step)
CLRNN_KERNEL(gru_gates_step)
CLRNN_KERNEL(gru_out_step)
CLRNN_KERNEL_GROUP(CORE)
CLRNN_KERNEL(merge_outputs)
CLRNN_KERNEL(fill_rows)
CLRNN_KERNEL(copy_rows)
CLRNN_KERNEL(rows_to_storage)
CLRNN_KERNEL(rows_from_storage)
CLRNN_KERNEL_GROUP(GENERIC)
CLRNN_KERNEL(xproj_generic)
CLRNN_KERNEL_GROUP(TILED)
CLRNN_KERNEL(lstm_step_tiled_1)
CLRNN_KERNEL(lstm_step_tiled_6)
CLRNN_KERNEL(gru_lbr_step_tiled_1)
CLRNN_KERNEL(gru_lbr_step_tiled_8)
CLRNN_KERNEL(rnn_step_tiled_1)
CLRNN_KERNEL(rnn_step_tiled_6)
CLRNN_KERNEL(xproj_tiled_3)
CLRNN_KERNEL(xproj_tiled_4)
CLRNN_KERNEL(gru_gates_step_tiled_1)
CLRNN_KERNEL(gru_gates_step_tiled_8)
CLRNN_KERNEL(gru_out_step_tiled_1)
CLRNN_KERNEL(gru_out_step_tiled_8)
CLRNN_KERNEL(lstm_scan_tiled_1)
CLRNN_KERNEL(lstm_scan_tiled_6)
CLRNN_KERNEL(gru_lbr_scan_tiled_1)
CLRNN_KERNEL(gru_lbr_scan_tiled_8)
CLRNN_KERNEL(rnn_scan_tiled_1)
CLRNN_KERNEL(rnn_scan_tiled_6)
CLRNN_KERNEL(gru_scan_tiled_1)
CLRNN_KERNEL(gru_scan_tiled_8)
CLRNN_KERNEL(proj_step_tiled_1)
CLRNN_KERNEL(proj_step_tiled_6)
CLRNN_KERNEL(lstmp_scan_tiled_1)
CLRNN_KERNEL(lstmp_scan_tiled_6)
CLRNN_KERNEL_GROUP(TILED_TRAIN)
CLRNN_KERNEL(lstm_train_scan_tiled_1)
CLRNN_KERNEL(lstm_train_scan_tiled_6)
CLRNN_KERNEL(gru_lbr_train_scan_tiled_1)
CLRNN_KERNEL(gru_lbr_train_scan_tiled_8)
CLRNN_KERNEL(rnn_train_scan_tiled_1)
CLRNN_KERNEL(rnn_train_scan_tiled_6)
CLRNN_KERNEL(gru_train_scan_tiled_1)
CLRNN_KERNEL(gru_train_scan_tiled_8)
CLRNN_KERNEL(tiled_train_pack)
CLRNN_KERNEL(tiled_train_pack_bias)
CLRNN_KERNEL(tiled_train_pack_peep)
CLRNN_KERNEL_GROUP(CORE)
CLRNN_KERNEL(sgemm_small)
CLRNN_KERNEL(sgemm_tiny)
CLRNN_KERNEL_GROUP(GPU)
CLRNN_KERNEL(rnn_step_gpu)
CLRNN_KERNEL(lstm_step_gpu)
CLRNN_KERNEL(proj_step_gpu)
CLRNN_KERNEL(gru_lbr_step_gpu)
CLRNN_KERNEL(gru_gates_step_gpu)
CLRNN_KERNEL(gru_out_step_gpu)
#ifdef CLRNN_KERNEL_GROUP_DEFAULTED_
#undef CLRNN_KERNEL_GROUP
#undef CLRNN_KERNEL_GROUP_DEFAULTED_
#endif
