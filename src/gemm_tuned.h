/* Tuned CLBlast parameters per device (see tuned_entry in gemm.c). Regenerate entries with
 * CLBlast's tuners (clblast-utils) on the device; the device_substring matches CL_DEVICE_NAME. */
static const tuned_entry tuned_db[] = {
    /* Sentinel so the table is never empty; matches no device. */
    {NULL, NULL, 0, {NULL}, {0}},
};
