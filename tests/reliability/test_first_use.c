/* Contexts created concurrently as the process's very first OpenCL use (clrnn.h: "Contexts may be
 * created and destroyed concurrently"). With PoCL 3.1, two threads that enumerate the devices
 * while the platform initialises itself crashed inside libpocl (clGetDeviceInfo on a device the
 * other thread was still setting up) in most runs, or one of them got CLRNN_ERR_NO_DEVICE
 * ("OpenCL platforms exist but report no device"). Every run needs a fresh process: the test
 * runs itself RUNS times as a child that starts THREADS threads creating a context at once. */
#include "test_util.h"

#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

#define RUNS 8
#define THREADS 4

extern char **environ;

static atomic_int go, failed;

static int creator(void *arg) {
    (void)arg;
    while (!atomic_load(&go)) thrd_yield();
    clrnn_context *ctx = NULL;
    clrnn_status st = clrnn_context_create(NULL, &ctx);
    if (st != CLRNN_OK) {
        fprintf(stderr, "child: clrnn_context_create: %s\n", clrnn_last_error());
        atomic_fetch_add(&failed, 1);
    }
    clrnn_context_destroy(ctx);
    return 0;
}

static int child(void) {
    thrd_t th[THREADS];
    for (int t = 0; t < THREADS; ++t)
        if (thrd_create(&th[t], creator, NULL) != thrd_success) return 2;
    atomic_store(&go, 1);
    for (int t = 0; t < THREADS; ++t) thrd_join(th[t], NULL);
    return atomic_load(&failed) ? 1 : 0;
}

static void concurrent_first_contexts(void **state) {
    (void)state;
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    int bad = 0;
    for (int run = 0; run < RUNS; ++run) {
        char *argv[] = {self, "--child", NULL};
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, self, NULL, NULL, argv, environ), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status)) {
            printf("run %d: the child died of signal %d\n", run, WTERMSIG(status));
            ++bad;
        } else if (WEXITSTATUS(status) != 0) {
            printf("run %d: a context creation failed (exit %d)\n", run, WEXITSTATUS(status));
            ++bad;
        }
    }
    if (bad) fail_msg("%d of %d processes failed to create %d contexts concurrently", bad, RUNS, THREADS);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_first_contexts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
