#include "test_util.h"

static clrnn_context *ctx;

clrnn_context *tu_context(void) {
    if (!ctx) {
        clrnn_status st = clrnn_context_create(NULL, &ctx);
        if (st != CLRNN_OK) {
            fprintf(stderr, "cannot create a context: %s\n", clrnn_last_error());
            exit(1);
        }
    }
    return ctx;
}

void tu_context_release(void) {
    clrnn_context_destroy(ctx);
    ctx = NULL;
}
