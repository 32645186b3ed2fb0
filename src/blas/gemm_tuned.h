/* Shipped tuned CLBlast parameters (see tuned_entry in gemm_tuning.c and the rules in gemm_tuning.h).
 * A device's own tuning file (clrnn-tune) wins over these rows, kernel by kernel.
 * Regenerate a device's rows with `clrnn-tune --table` on it. */
static const tuned_entry tuned_db[] = {
    /* PoCL CPU devices (any CPU PoCL drives: "pthread-<cpu>" in PoCL 3, "cpu-<cpu>" in PoCL 4+).
     * Tuned by clrnn-tune (own search, 1200 s) on "pthread-skylake-avx512-AMD EPYC", PoCL 3.1 +
     * LLVM 15, 2 cores, CLBlast 1.5.3, for the GEMMs of S1-S6: GEMM time 3.5x lower than CLBlast's
     * defaults there (which PoCL gets: CLBlast has no entry for it). GEMMK=1 is what matters for
     * clrnn's row-major, untransposed GEMMs: that kernel takes A and C as they are, where GEMMK=0
     * transposes both on every call. Measured: the indirect kernel is at least as fast as the direct
     * one from 32x32x32 up, so the crossover sends everything to it. */
    {"Portable Computing Language", NULL, CLRNN_DEVICE_TYPE_CPU, "Xgemm", 16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM",
      "VWN"},
     {1, 8, 1, 1, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 8}},
    {"Portable Computing Language", NULL, CLRNN_DEVICE_TYPE_CPU, "XgemmDirect", 10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {16, 8, 8, 8, 8, 0, 0, 4, 4, 64}},
    {"Portable Computing Language", NULL, CLRNN_DEVICE_TYPE_CPU, "GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {1}},
    /* Sentinel so the table is never empty; matches no device. */
    {NULL, NULL, 0, NULL, 0, {NULL}, {0}},
};
