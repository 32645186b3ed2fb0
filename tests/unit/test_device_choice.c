/* The default device choice (src/core/device.c): the classify/choose rules on made-up device lists
 * (what Oclgrind, Rusticl llvmpipe, PoCL and NVIDIA's driver report), then on the real ICDs
 * installed here, selected through a private OCL_ICD_VENDORS directory in a child process (the ICD
 * loader reads it once per process). /etc/OpenCL/vendors is never touched.
 * CLRNN_REQUIRE_ICDS=1 (CI) turns a missing ICD library into a failure instead of a skip. */
#include "internal.h"
#include "plans/plan.h"
#include "test_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CPU CL_DEVICE_TYPE_CPU
#define GPU CL_DEVICE_TYPE_GPU
#define ACC CL_DEVICE_TYPE_ACCELERATOR
#define DEFAULT_BIT CL_DEVICE_TYPE_DEFAULT

typedef struct fake {
    const char *name, *platform;
    uint64_t type;
    unsigned cu;
} fake;

/* What each implementation reports (clinfo on this machine, NVIDIA's from its documentation). */
static const fake POCL = {"pthread-skylake-avx512-Intel(R) Xeon(R) Processor", "Portable Computing Language", CPU | DEFAULT_BIT, 2};
static const fake LLVMPIPE = {"llvmpipe (LLVM 15.0.6, 256 bits)", "rusticl", CPU | DEFAULT_BIT, 8};
static const fake OCLGRIND = {"Oclgrind Simulator", "Oclgrind", CPU | GPU | ACC | DEFAULT_BIT, 1};
static const fake H200 = {"NVIDIA H200", "NVIDIA CUDA", GPU | DEFAULT_BIT, 132};
static const fake IGPU = {"Intel(R) UHD Graphics 770", "Intel(R) OpenCL HD Graphics", GPU | DEFAULT_BIT, 32};

static size_t make(const fake *const *list, size_t n, clrnn_device_info *devs, uint64_t *types) {
    for (size_t i = 0; i < n; ++i) {
        memset(&devs[i], 0, sizeof devs[i]);
        devs[i].index = (int)i;
        snprintf(devs[i].name, sizeof devs[i].name, "%s", list[i]->name);
        snprintf(devs[i].platform_name, sizeof devs[i].platform_name, "%s", list[i]->platform);
        devs[i].type = (list[i]->type & GPU) ? CLRNN_DEVICE_TYPE_GPU : (list[i]->type & CPU) ? CLRNN_DEVICE_TYPE_CPU
                                                                                             : CLRNN_DEVICE_TYPE_OTHER;
        devs[i].compute_units = list[i]->cu;
        types[i] = list[i]->type;
    }
    return n;
}

/* clrnn_device_choose() on a made-up list; the reason goes to why. */
static int choose(int want, char *why, size_t cap, size_t n, const fake *const *list) {
    clrnn_device_info d[8];
    uint64_t t[8];
    assert_true(n <= 8);
    make(list, n, d, t);
    return clrnn_device_choose(d, t, n, want, why, cap);
}
#define CHOOSE(want, ...)                                                                                          \
    choose((want), why, sizeof why, sizeof((const fake *[]){__VA_ARGS__}) / sizeof(const fake *),                  \
           (const fake *[]){__VA_ARGS__})

/* The plan a new rnn gets on each implementation's device (clrnn_plan_choose reads only ctx->info):
 * tiled on PoCL's CPU device, gpu on a GPU and on llvmpipe (its compiler takes seconds per tiled
 * kernel), which clrnn_plan_default_why says; CLRNN_PLAN overrides all, and then no reason is given. */
static void default_plan_per_device(void **state) {
    (void)state;
    const fake *all[] = {&POCL, &LLVMPIPE, &H200};
    const clrnn_plan_ops *want[] = {&clrnn_plan_tiled, &clrnn_plan_gpu, &clrnn_plan_gpu};
    clrnn_device_info d[3];
    uint64_t t[3];
    make(all, 3, d, t);
    static clrnn_context ctx; /* only its info is read */
    char saved[64] = "";
    const char *env = getenv("CLRNN_PLAN");
    if (env) snprintf(saved, sizeof saved, "%s", env);
    unsetenv("CLRNN_PLAN");
    for (int i = 0; i < 3; ++i) {
        ctx.info = d[i];
        const clrnn_plan_ops *plan = clrnn_plan_choose(&ctx);
        if (plan != want[i]) fail_msg("%s: plan %s, want %s", d[i].name, plan->name, want[i]->name);
        const char *why = clrnn_plan_default_why(&ctx, plan);
        if (all[i] == &LLVMPIPE) {
            assert_non_null(why);
            assert_non_null(strstr(why, "llvmpipe"));
        } else {
            assert_null(why);
        }
    }
    setenv("CLRNN_PLAN", "tiled", 1);
    ctx.info = d[1];
    assert_ptr_equal(clrnn_plan_choose(&ctx), &clrnn_plan_tiled);
    assert_null(clrnn_plan_default_why(&ctx, &clrnn_plan_tiled));
    if (env) setenv("CLRNN_PLAN", saved, 1);
    else unsetenv("CLRNN_PLAN");
}

static void classifies_each_implementation(void **state) {
    (void)state;
    const fake *all[] = {&POCL, &LLVMPIPE, &OCLGRIND, &H200};
    clrnn_device_info d[4];
    uint64_t t[4];
    make(all, 4, d, t);
    const char *why = NULL;
    assert_int_equal(clrnn_device_classify(&d[0], t[0], &why), CLRNN_KIND_CPU);
    assert_int_equal(clrnn_device_classify(&d[1], t[1], &why), CLRNN_KIND_RASTERIZER);
    assert_non_null(strstr(why, "rasterizer"));
    assert_int_equal(clrnn_device_classify(&d[2], t[2], &why), CLRNN_KIND_SIMULATOR);
    assert_non_null(strstr(why, "Oclgrind"));
    assert_int_equal(clrnn_device_classify(&d[3], t[3], NULL), CLRNN_KIND_GPU);
    /* an unknown name that claims GPU and CPU at once is no hardware */
    const fake odd = {"Acme Device", "Acme", GPU | CPU, 64};
    make((const fake *[]){&odd}, 1, d, t);
    assert_int_equal(clrnn_device_classify(&d[0], t[0], &why), CLRNN_KIND_SIMULATOR);
    const fake gpu_acc = {"Acme Device", "Acme", GPU | ACC, 64};
    make((const fake *[]){&gpu_acc}, 1, d, t);
    assert_int_equal(clrnn_device_classify(&d[0], t[0], NULL), CLRNN_KIND_SIMULATOR);
    /* the other software rasterizers, whatever type they claim; a custom device */
    const fake soft = {"softpipe", "Clover", GPU, 1}, swift = {"SwiftShader Device (LLVM 10.0.0)", "SwiftShader", CPU, 4},
               custom = {"Acme FPGA", "Acme", CL_DEVICE_TYPE_CUSTOM, 4}, fpga = {"Acme FPGA", "Acme", ACC, 4};
    make((const fake *[]){&soft, &swift, &custom, &fpga}, 4, d, t);
    assert_int_equal(clrnn_device_classify(&d[0], t[0], NULL), CLRNN_KIND_RASTERIZER);
    assert_int_equal(clrnn_device_classify(&d[1], t[1], NULL), CLRNN_KIND_RASTERIZER);
    assert_int_equal(clrnn_device_classify(&d[2], t[2], NULL), CLRNN_KIND_OTHER);
    assert_int_equal(clrnn_device_classify(&d[3], t[3], NULL), CLRNN_KIND_ACCELERATOR);
}

static void pocl_beats_the_simulator_and_llvmpipe(void **state) {
    (void)state;
    char why[1536];
    /* the review's two bad choices: Oclgrind as "the best GPU", llvmpipe on compute units */
    assert_int_equal(CHOOSE(-1, &OCLGRIND, &LLVMPIPE, &POCL), 2);
    assert_non_null(strstr(why, "[2] pthread"));
    assert_non_null(strstr(why, "no GPU"));
    assert_non_null(strstr(why, "passed over: [0] Oclgrind Simulator"));
    assert_non_null(strstr(why, "[1] llvmpipe"));
    assert_non_null(strstr(why, "by index or name"));
    assert_int_equal(CHOOSE(-1, &LLVMPIPE, &POCL), 1);
    /* "cpu" and "gpu" follow the same rule within their type */
    assert_int_equal(CHOOSE(CLRNN_DEVICE_TYPE_CPU, &LLVMPIPE, &OCLGRIND, &POCL), 2);
    assert_int_equal(CHOOSE(CLRNN_DEVICE_TYPE_GPU, &OCLGRIND, &POCL), -1);
    assert_non_null(strstr(why, "no GPU"));
    assert_non_null(strstr(why, "Oclgrind Simulator"));
    assert_int_equal(CHOOSE(CLRNN_DEVICE_TYPE_ACCELERATOR, &OCLGRIND, &POCL), -1);
}

static void a_real_gpu_first(void **state) {
    (void)state;
    char why[1536];
    assert_int_equal(CHOOSE(-1, &POCL, &OCLGRIND, &H200), 2);
    assert_non_null(strstr(why, "NVIDIA H200"));
    assert_null(strstr(why, "no GPU"));
    /* the GPU with the most compute units, the first on ties */
    assert_int_equal(CHOOSE(-1, &IGPU, &POCL, &H200), 2);
    assert_int_equal(CHOOSE(-1, &H200, &IGPU, &H200), 0);
    assert_int_equal(CHOOSE(CLRNN_DEVICE_TYPE_CPU, &H200, &POCL), 1);
    /* a GPU wins even when a CPU has more compute units */
    const fake big_cpu = {"AMD EPYC 9654", "Portable Computing Language", CPU, 192};
    assert_int_equal(CHOOSE(-1, &big_cpu, &IGPU), 1);
}

static void only_passed_over_devices_is_no_default(void **state) {
    (void)state;
    char why[1536];
    assert_int_equal(CHOOSE(-1, &LLVMPIPE), -1);
    assert_non_null(strstr(why, "no GPU, CPU device or accelerator"));
    assert_non_null(strstr(why, "[0] llvmpipe"));
    assert_int_equal(CHOOSE(-1, &OCLGRIND, &LLVMPIPE), -1);
    assert_non_null(strstr(why, "ask for one by index or name"));
    /* a real accelerator comes after every GPU and CPU */
    const fake fpga = {"Acme FPGA", "Acme", ACC, 64};
    assert_int_equal(CHOOSE(-1, &fpga, &LLVMPIPE), 0);
    assert_non_null(strstr(why, "accelerator"));
    assert_int_equal(CHOOSE(-1, &fpga, &POCL), 1);
    /* a short or absent buffer is fine */
    const fake *l[] = {&OCLGRIND, &LLVMPIPE, &POCL};
    clrnn_device_info d[3];
    uint64_t t[3];
    make(l, 3, d, t);
    assert_int_equal(clrnn_device_choose(d, t, 3, -1, NULL, 0), 2);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    assert_int_equal(clrnn_device_choose(d, t, 3, -1, tiny, sizeof tiny), 2);
    assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
    assert_int_equal(clrnn_device_choose(d, t, 0, -1, why, sizeof why), -1);
}

/* ---- the real ICDs ---- */

typedef struct icd {
    const char *file, *lib; /* .icd file name, library it names */
} icd;
static const icd ICDS[] = {{"pocl.icd", "libpocl.so.2"},
                           {"rusticl.icd", "libRusticlOpenCL.so.1"},
                           {"oclgrind.icd", "/usr/lib/oclgrind/liboclgrind-rt-icd.so"}};

/* Child: prints what the library sees through the vendors dir the parent chose. */
static int child_main(void) {
    for (size_t i = 0; i < 3; ++i) {
        void *h = dlopen(ICDS[i].lib, RTLD_LAZY | RTLD_LOCAL);
        printf("have %s %d\n", ICDS[i].file, h != NULL);
    }
    static const char *const specs[] = {"", "cpu", "gpu", "llvmpipe", "oclgrind", "pocl"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; ++s) {
        int idx = -1;
        clrnn_status st = clrnn_select_device(specs[s], &idx);
        clrnn_device_info devs[16];
        size_t n = 0;
        if (st == CLRNN_OK) st = clrnn_list_devices(devs, 16, &n);
        printf("spec '%s' -> %d %s|%s\n", specs[s], st == CLRNN_OK ? idx : -1,
               st == CLRNN_OK && (size_t)idx < n ? devs[idx].platform_name : "-",
               st == CLRNN_OK ? "" : clrnn_last_error());
    }
    fflush(stdout);
    return 0;
}

static char *run_child_with_vendors(const char *dir) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("OCL_ICD_VENDORS", dir, 1);
        setenv("RUSTICL_ENABLE", "llvmpipe", 1);
        unsetenv("CLRNN_DEVICE");
        unsetenv("POCL_DEBUG");
        execl("/proc/self/exe", "test_device_choice", "--child", (char *)NULL);
        _exit(6);
    }
    close(fds[1]);
    size_t cap = 65536, len = 0;
    char *out = calloc(cap, 1);
    ssize_t r;
    while ((r = read(fds[0], out + len, cap - 1 - len)) > 0) len += (size_t)r;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return out;
}

static void real_icds_through_a_private_vendors_dir(void **state) {
    (void)state;
    char dir[] = "/tmp/clrnn-test-vendors-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < 3; ++i) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, ICDS[i].file);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s\n", ICDS[i].lib);
        fclose(f);
    }
    char *out = run_child_with_vendors(dir);
    for (size_t i = 0; i < 3; ++i) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, ICDS[i].file);
        unlink(path);
    }
    rmdir(dir);
    print_message("%s", out);
    int have[3] = {0};
    for (size_t i = 0; i < 3; ++i) {
        char key[64];
        snprintf(key, sizeof key, "have %s 1", ICDS[i].file);
        have[i] = strstr(out, key) != NULL;
    }
    const char *req = getenv("CLRNN_REQUIRE_ICDS");
    if (req && !strcmp(req, "1")) assert_true(have[0] && have[1] && have[2]);
    if (!have[0]) {
        free(out);
        skip(); /* the default can only be checked against PoCL */
    }
    /* PoCL is the default and the "cpu" choice, whatever else is installed */
    assert_non_null(strstr(out, "spec '' -> "));
    assert_non_null(strstr(out, "Portable Computing Language|\n"));
    const char *def = strstr(out, "spec '' -> ");
    assert_non_null(strstr(def, "Portable Computing Language"));
    assert_true(strstr(def, "Portable Computing Language") < strstr(def, "\n"));
    const char *cpu = strstr(out, "spec 'cpu' -> ");
    assert_true(strstr(cpu, "Portable Computing Language") < strstr(cpu, "\n"));
    /* no real GPU here: "gpu" is refused, naming what was passed over */
    const char *gpu = strstr(out, "spec 'gpu' -> -1");
    assert_non_null(gpu);
    if (have[2]) assert_true(strstr(gpu, "Oclgrind Simulator") && strstr(gpu, "Oclgrind Simulator") < strstr(gpu, "\n"));
    /* by name, each one is reachable */
    if (have[1]) {
        const char *l = strstr(out, "spec 'llvmpipe' -> ");
        assert_true(strstr(l, "rusticl|") && strstr(l, "rusticl|") < strstr(l, "\n"));
    }
    if (have[2]) {
        const char *o = strstr(out, "spec 'oclgrind' -> ");
        assert_true(strstr(o, "Oclgrind|") && strstr(o, "Oclgrind|") < strstr(o, "\n"));
    }
    free(out);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--child")) return child_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifies_each_implementation),
        cmocka_unit_test(default_plan_per_device),
        cmocka_unit_test(pocl_beats_the_simulator_and_llvmpipe),
        cmocka_unit_test(a_real_gpu_first),
        cmocka_unit_test(only_passed_over_devices_is_no_default),
        cmocka_unit_test(real_icds_through_a_private_vendors_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
