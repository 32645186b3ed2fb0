/* Shipped tuned CLBlast parameters (see tuned_entry in gemm.c and the rules in gemm_tuning.h).
 * Regenerate a device's rows with clrnn-tune on it (it prints them in this form with --table). */
static const tuned_entry tuned_db[] = {
    /* Sentinel so the table is never empty; matches no device. */
    {NULL, NULL, 0, NULL, 0, {NULL}, {0}},
};
