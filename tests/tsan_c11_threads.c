/* ThreadSanitizer builds only (tools/tsan.sh; linked into every test program by
 * tests/CMakeLists.txt): the C11 <threads.h> functions clrnn uses, routed through their
 * pthread equivalents (mutexes, condition variables, call_once, threads).
 *
 * Why: the TSan runtimes of gcc 12 and clang 15 intercept pthread_* but not the C11 functions, and
 * glibc implements mtx_lock, call_once and thrd_create with internal calls that bypass the
 * interceptors. TSan would then not see clrnn's locks (a false race report on every access they
 * guard) nor the threads (thrd_create'd threads crash in __tsan_func_entry). Defining the C11
 * functions in the program preempts glibc's for the statically linked library, and the pthread
 * calls below are intercepted. glibc defines mtx_t, once_flag and thrd_t as the pthread types
 * (it implements these exact casts itself), so no state is converted. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

int mtx_init(mtx_t *m, int type) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    const int e = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return e == 0 ? thrd_success : thrd_error;
}

int mtx_lock(mtx_t *m) { return pthread_mutex_lock((pthread_mutex_t *)m) == 0 ? thrd_success : thrd_error; }

int mtx_trylock(mtx_t *m) {
    const int e = pthread_mutex_trylock((pthread_mutex_t *)m);
    return e == 0 ? thrd_success : e == EBUSY ? thrd_busy : thrd_error;
}

int mtx_unlock(mtx_t *m) { return pthread_mutex_unlock((pthread_mutex_t *)m) == 0 ? thrd_success : thrd_error; }

void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

void call_once(once_flag *flag, void (*func)(void)) { pthread_once((pthread_once_t *)flag, func); }

/* glibc's cnd_wait unlocks and relocks the mutex without the interceptors: TSan would report a
 * double lock. cnd_t is pthread_cond_t in glibc, as above. */
int cnd_init(cnd_t *c) { return pthread_cond_init((pthread_cond_t *)c, NULL) == 0 ? thrd_success : thrd_error; }

void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }

int cnd_wait(cnd_t *c, mtx_t *m) {
    return pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m) == 0 ? thrd_success : thrd_error;
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts) {
    const int e = pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts);
    return e == 0 ? thrd_success : e == ETIMEDOUT ? thrd_timedout : thrd_error;
}

int cnd_signal(cnd_t *c) { return pthread_cond_signal((pthread_cond_t *)c) == 0 ? thrd_success : thrd_error; }

int cnd_broadcast(cnd_t *c) { return pthread_cond_broadcast((pthread_cond_t *)c) == 0 ? thrd_success : thrd_error; }

typedef struct start_arg {
    thrd_start_t fn;
    void *arg;
} start_arg;

static void *start(void *p) {
    start_arg a = *(start_arg *)p;
    free(p);
    return (void *)(intptr_t)a.fn(a.arg);
}

int thrd_create(thrd_t *t, thrd_start_t fn, void *arg) {
    start_arg *a = malloc(sizeof *a);
    if (!a) return thrd_nomem;
    a->fn = fn, a->arg = arg;
    if (pthread_create((pthread_t *)t, NULL, start, a) != 0) {
        free(a);
        return thrd_error;
    }
    return thrd_success;
}

int thrd_join(thrd_t t, int *res) {
    void *r = NULL;
    if (pthread_join((pthread_t)t, &r) != 0) return thrd_error;
    if (res) *res = (int)(intptr_t)r;
    return thrd_success;
}
