/* Status names and messages (one X-macro table in clrnn.h) and the per-thread error detail. */
#include "internal.h"

#include <string.h>

static _Thread_local char last_error[2048];

int clrnn_version(void) {
    return CLRNN_VERSION_MAJOR * 10000 + CLRNN_VERSION_MINOR * 100 + CLRNN_VERSION_PATCH;
}

const char *clrnn_version_string(void) { return CLRNN_VERSION_STRING; }

const char *clrnn_status_name(clrnn_status status) {
    switch (status) {
#define CLRNN_X_NAME(name, value, msg) \
    case name: return #name;
        CLRNN_STATUS_LIST(CLRNN_X_NAME)
#undef CLRNN_X_NAME
    default: return "CLRNN_UNKNOWN_STATUS";
    }
}

const char *clrnn_status_string(clrnn_status status) {
    switch (status) {
#define CLRNN_X_MSG(name, value, msg) \
    case name: return msg;
        CLRNN_STATUS_LIST(CLRNN_X_MSG)
#undef CLRNN_X_MSG
    default: return "unknown status code";
    }
}

const char *clrnn_last_error(void) { return last_error; }

void clrnn_clear_error(void) { last_error[0] = '\0'; }

clrnn_status clrnn_fail(clrnn_status status, const char *fmt, ...) {
    char detail[1900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(last_error, sizeof last_error, "%s: %s", clrnn_status_name(status), detail);
    return status;
}

const char *clrnn_cl_error_name(cl_int err) {
    switch (err) {
#define E(x) \
    case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
        E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

clrnn_status clrnn_fail_cl(cl_int err, const char *call, const char *what) {
    clrnn_status st = CLRNN_ERR_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        st = CLRNN_ERR_DEVICE_OUT_OF_MEMORY;
    else if (err == CL_OUT_OF_HOST_MEMORY)
        st = CLRNN_ERR_OUT_OF_MEMORY;
    return clrnn_fail(st, "%s failed with %s (%d)%s%s", call, clrnn_cl_error_name(err), (int)err, what ? " while " : "",
                      what ? what : "");
}
