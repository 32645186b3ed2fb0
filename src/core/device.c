/* Device discovery and the CLRNN_DEVICE selection grammar (see clrnn_select_device in clrnn.h).
 * Devices are numbered globally, platform by platform, in the order the ICD loader reports them. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

typedef struct device_list {
    int count;
    clrnn_device_ref refs[MAX_DEVICES];
} device_list;

/* The first enumeration of the process runs alone: with PoCL 3.1, threads that enumerate while
 * the platform initialises itself get devices that are still being set up (a crash inside
 * clGetDeviceInfo, or no device at all; tests/reliability/test_first_use.c). call_once makes the others
 * wait until one thread has listed every platform's devices and read their names. */
static once_flag first_use = ONCE_FLAG_INIT;
static void first_use_init(void) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint np = 0;
    if (clGetPlatformIDs(MAX_PLATFORMS, platforms, &np) != CL_SUCCESS) return;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; ++p) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES; ++d) {
            char name[256];
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof name, name, NULL);
        }
    }
}

static clrnn_status enumerate(device_list *list) {
    call_once(&first_use, first_use_init);
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint np = 0;
    list->count = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0)) {
        /* also what an installed ICD says when it finds no hardware (Intel's GPU runtime, say) */
        const char *vendors = getenv("OCL_ICD_VENDORS");
        return clrnn_fail(CLRNN_ERR_NO_DEVICE, "no OpenCL platform: no ICD is installed, or the installed ones found no "
                          "hardware (for the CPU install pocl-opencl-icd; ICDs are listed in %s%s)",
                          vendors && *vendors ? "OCL_ICD_VENDORS=" : "/etc/OpenCL/vendors", vendors && *vendors ? vendors : "");
    }
    if (err != CL_SUCCESS) return clrnn_fail_cl(err, "clGetPlatformIDs", NULL);
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    for (cl_uint p = 0; p < np; ++p) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && list->count < MAX_DEVICES; ++d) {
            list->refs[list->count].platform = platforms[p];
            list->refs[list->count].device = devs[d];
            list->count++;
        }
    }
    if (list->count == 0) return clrnn_fail(CLRNN_ERR_NO_DEVICE, "OpenCL platforms exist but report no device");
    return CLRNN_OK;
}

static void get_str(cl_device_id dev, cl_device_info what, char *out, size_t cap) {
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, cap, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[cap - 1] = '\0';
}

clrnn_status clrnn_query_device_info(cl_platform_id platform, cl_device_id device, clrnn_device_info *info) {
    memset(info, 0, sizeof *info);
    info->index = -1;
    info->platform_index = -1;
    get_str(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_str(device, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    if (platform) {
        clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name, NULL);
        clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof info->platform_version, info->platform_version, NULL);
        clGetPlatformInfo(platform, CL_PLATFORM_VENDOR, sizeof info->platform_vendor, info->platform_vendor, NULL);
        info->platform_vendor[sizeof info->platform_vendor - 1] = '\0';
        info->platform_name[sizeof info->platform_name - 1] = '\0';
        info->platform_version[sizeof info->platform_version - 1] = '\0';
    }
    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CLRNN_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? CLRNN_DEVICE_TYPE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLRNN_DEVICE_TYPE_ACCELERATOR
                                                       : CLRNN_DEVICE_TYPE_OTHER;
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS) info->compute_units = u;
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS) info->max_clock_mhz = u;
    if (clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->global_mem_bytes = ul;
    if (clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->local_mem_bytes = ul;
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->max_alloc_bytes = ul;
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS) info->max_work_group_size = sz;
    size_t ext_len = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS && ext_len > 0) {
        char *ext = malloc(ext_len + 1);
        if (ext && clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
            ext[ext_len] = '\0';
            info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
        }
        free(ext);
    }
    return CLRNN_OK;
}

clrnn_status clrnn_list_devices_typed(clrnn_device_info *out, uint64_t *cl_types, size_t capacity, size_t *count) {
    *count = 0;
    device_list list;
    clrnn_status st = enumerate(&list);
    if (st != CLRNN_OK) return st;
    cl_platform_id last = NULL;
    int pidx = -1;
    for (int i = 0; i < list.count; ++i) {
        if (list.refs[i].platform != last) {
            last = list.refs[i].platform;
            pidx++;
        }
        if ((size_t)i < capacity) {
            clrnn_query_device_info(list.refs[i].platform, list.refs[i].device, &out[i]);
            out[i].index = i;
            out[i].platform_index = pidx;
            if (cl_types) {
                cl_device_type t = 0;
                if (clGetDeviceInfo(list.refs[i].device, CL_DEVICE_TYPE, sizeof t, &t, NULL) != CL_SUCCESS) t = 0;
                cl_types[i] = (uint64_t)t;
            }
        }
    }
    *count = (size_t)list.count;
    return CLRNN_OK;
}

clrnn_status clrnn_list_devices(clrnn_device_info *out, size_t capacity, size_t *count) {
    clrnn_clear_error();
    if (!count) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_list_devices: count is NULL");
    if (capacity > 0 && !out) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_list_devices: out is NULL");
    return clrnn_list_devices_typed(out, NULL, capacity, count);
}

clrnn_status clrnn_device_at(int index, clrnn_device_ref *ref) {
    device_list list;
    clrnn_status st = enumerate(&list);
    if (st != CLRNN_OK) return st;
    if (index < 0 || index >= list.count)
        return clrnn_fail(CLRNN_ERR_NO_DEVICE, "device index %d out of range (%d devices)", index, list.count);
    *ref = list.refs[index];
    return CLRNN_OK;
}

static int contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; ++hay) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) ++i;
        if (i == n) return 1;
    }
    return n == 0;
}

static int any_contains(const clrnn_device_info *d, const char *needle) {
    return contains_nocase(d->name, needle) || contains_nocase(d->platform_name, needle) ||
           contains_nocase(d->vendor, needle) || contains_nocase(d->platform_vendor, needle);
}

clrnn_device_kind clrnn_device_classify(const clrnn_device_info *info, uint64_t cl_type, const char **why) {
    static const char *const rasterizers[] = {"llvmpipe", "softpipe", "swrast", "SwiftShader", "lavapipe"};
    const char *w;
    clrnn_device_kind k;
    const int gpu = (cl_type & CL_DEVICE_TYPE_GPU) != 0, cpu = (cl_type & CL_DEVICE_TYPE_CPU) != 0,
              acc = (cl_type & CL_DEVICE_TYPE_ACCELERATOR) != 0;
    size_t r = 0;
    while (r < sizeof rasterizers / sizeof rasterizers[0] && !contains_nocase(info->name, rasterizers[r])) ++r;
    if (any_contains(info, "oclgrind")) {
        k = CLRNN_KIND_SIMULATOR, w = "a simulator (Oclgrind): it interprets kernels, thousands of times slower";
    } else if (gpu && (cpu || acc)) {
        /* no hardware is both; Oclgrind claims every type bit */
        k = CLRNN_KIND_SIMULATOR, w = "reports GPU together with CPU or accelerator: a simulator, not hardware";
    } else if (r < sizeof rasterizers / sizeof rasterizers[0]) {
        k = CLRNN_KIND_RASTERIZER, w = "a software rasterizer (Mesa llvmpipe and the like), far slower than PoCL";
    } else if (gpu) {
        k = CLRNN_KIND_GPU, w = "a GPU";
    } else if (cpu) {
        k = CLRNN_KIND_CPU, w = "the CPU device of a compute implementation";
    } else if (acc) {
        k = CLRNN_KIND_ACCELERATOR, w = "an accelerator";
    } else {
        k = CLRNN_KIND_OTHER, w = "neither a GPU, a CPU nor an accelerator";
    }
    if (why) *why = w;
    return k;
}

clrnn_device_kind clrnn_device_kind_of(const clrnn_context *ctx) {
    const uint64_t cl_type = ctx->info.type == CLRNN_DEVICE_TYPE_CPU           ? CL_DEVICE_TYPE_CPU
                             : ctx->info.type == CLRNN_DEVICE_TYPE_GPU         ? CL_DEVICE_TYPE_GPU
                             : ctx->info.type == CLRNN_DEVICE_TYPE_ACCELERATOR ? CL_DEVICE_TYPE_ACCELERATOR
                                                                                : 0;
    return clrnn_device_classify(&ctx->info, cl_type, NULL);
}

int clrnn_device_is_rasterizer(const clrnn_context *ctx) {
    return clrnn_device_kind_of(ctx) == CLRNN_KIND_RASTERIZER;
}

static void appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    if (!buf || cap == 0) return;
    size_t len = strnlen(buf, cap);
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

int clrnn_device_choose(const clrnn_device_info *devs, const uint64_t *cl_types, size_t n, int want, char *why,
                        size_t cap) {
    static const clrnn_device_kind order[] = {CLRNN_KIND_GPU, CLRNN_KIND_CPU, CLRNN_KIND_ACCELERATOR};
    static const char *const order_name[] = {"GPU", "CPU device", "accelerator"};
    if (why && cap) why[0] = '\0';
    int pick = -1;
    size_t o = 0;
    for (; o < 3 && pick < 0; ++o) {
        if (want >= 0 && (int)order[o] != (want == CLRNN_DEVICE_TYPE_GPU           ? CLRNN_KIND_GPU
                                           : want == CLRNN_DEVICE_TYPE_CPU         ? CLRNN_KIND_CPU
                                           : want == CLRNN_DEVICE_TYPE_ACCELERATOR ? CLRNN_KIND_ACCELERATOR
                                                                                   : -1))
            continue;
        for (size_t i = 0; i < n; ++i)
            if (clrnn_device_classify(&devs[i], cl_types[i], NULL) == order[o] &&
                (pick < 0 || devs[i].compute_units > devs[pick].compute_units))
                pick = (int)i;
        if (pick >= 0) {
            const char *w;
            clrnn_device_classify(&devs[pick], cl_types[pick], &w);
            appendf(why, cap, "[%d] %s (%s): %s (%u compute units, the most of any %s)", devs[pick].index,
                    devs[pick].name, devs[pick].platform_name, w, devs[pick].compute_units, order_name[o]);
            if (o > 0 && want < 0) appendf(why, cap, "; no %s", o == 1 ? "GPU" : "GPU or CPU device");
        }
    }
    if (pick < 0)
        appendf(why, cap, "no %s", want < 0 ? "GPU, CPU device or accelerator of real hardware"
                                   : want == CLRNN_DEVICE_TYPE_GPU ? "GPU" : want == CLRNN_DEVICE_TYPE_CPU ? "CPU device"
                                                                                                        : "accelerator");
    int passed = 0;
    for (size_t i = 0; i < n; ++i) {
        const char *w;
        const clrnn_device_kind k = clrnn_device_classify(&devs[i], cl_types[i], &w);
        if ((int)i == pick || k <= CLRNN_KIND_ACCELERATOR) continue; /* only the never-by-default ones */
        appendf(why, cap, "%s[%d] %s (%s): %s", passed++ ? "; " : "; passed over: ", devs[i].index, devs[i].name,
                devs[i].platform_name, w);
    }
    if (passed) appendf(why, cap, " (ask for %s by index or name, e.g. CLRNN_DEVICE=<index>)", passed > 1 ? "one" : "it");
    return pick;
}

clrnn_status clrnn_select_device(const char *spec, int *index) {
    if (!index) return clrnn_fail(CLRNN_ERR_NULL_ARGUMENT, "clrnn_select_device: index is NULL");
    clrnn_clear_error();
    clrnn_device_info devs[MAX_DEVICES];
    uint64_t types[MAX_DEVICES];
    size_t n = 0;
    clrnn_status st = clrnn_list_devices_typed(devs, types, MAX_DEVICES, &n);
    if (st != CLRNN_OK) return st;
    if (n > MAX_DEVICES) n = MAX_DEVICES;
    int pick = -1, want = -2;
    if (!spec || !*spec) {
        want = -1;
    } else {
        char *end = NULL;
        long v = strtol(spec, &end, 10);
        if (end != spec && *end == '\0') {
            if (v < 0 || (size_t)v >= n)
                return clrnn_fail(CLRNN_ERR_NO_DEVICE, "device index %ld out of range: %zu device(s) found", v, n);
            pick = (int)v;
        } else if (!strcmp(spec, "gpu") || !strcmp(spec, "GPU")) {
            want = CLRNN_DEVICE_TYPE_GPU;
        } else if (!strcmp(spec, "cpu") || !strcmp(spec, "CPU")) {
            want = CLRNN_DEVICE_TYPE_CPU;
        } else if (!strcmp(spec, "accelerator")) {
            want = CLRNN_DEVICE_TYPE_ACCELERATOR;
        } else {
            for (size_t i = 0; i < n && pick < 0; ++i)
                if (any_contains(&devs[i], spec) || contains_nocase(devs[i].device_version, spec)) pick = (int)i;
        }
    }
    char why[1536] = "";
    if (want != -2) pick = clrnn_device_choose(devs, types, n, want, why, sizeof why);
    if (pick < 0) {
        char names[1024] = "";
        for (size_t i = 0; i < n; ++i)
            appendf(names, sizeof names, "%s[%zu] %s (%s)", i ? ", " : "", i, devs[i].name, devs[i].platform_name);
        if (want == -2)
            return clrnn_fail(CLRNN_ERR_NO_DEVICE, "no OpenCL device matches \"%s\"; available: %s", spec, names);
        return clrnn_fail(CLRNN_ERR_NO_DEVICE, "no OpenCL device for \"%s\": %s; available: %s",
                          want < 0 ? "(default)" : spec, why, names);
    }
    *index = pick;
    return CLRNN_OK;
}
