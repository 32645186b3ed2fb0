/* Every kernel the library creates from its program, one line each (X-macro: CLRNN_KERNEL(name)).
 * The name is both the __kernel function in cl/ and the clrnn_kernel_id suffix. */
CLRNN_KERNEL(rnn_step)
CLRNN_KERNEL(lstm_step)
CLRNN_KERNEL(lstm_proj_step)
CLRNN_KERNEL(gru_lbr_step)
CLRNN_KERNEL(gru_gates_step)
CLRNN_KERNEL(gru_out_step)
CLRNN_KERNEL(merge_outputs)
CLRNN_KERNEL(fill_rows)
