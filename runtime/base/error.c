/* The per-thread error message behind ctvk_error(). */
#include "runtime/base/base.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_error[CTVK_ERROR_MAX];

const char *ctvk_error(void) { return g_error; }

ctvk_status ctvk__fail(ctvk_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return s;
}

void ctvk__clear_error(void) { g_error[0] = 0; }

const char *ctvk_status_name(ctvk_status s)
{
    switch (s) {
    case CTVK_OK: return "CTVK_OK";
    case CTVK_ERR_ARG: return "CTVK_ERR_ARG";
    case CTVK_ERR_IO: return "CTVK_ERR_IO";
    case CTVK_ERR_FORMAT: return "CTVK_ERR_FORMAT";
    case CTVK_ERR_NOMEM: return "CTVK_ERR_NOMEM";
    case CTVK_ERR_NO_LOADER: return "CTVK_ERR_NO_LOADER";
    case CTVK_ERR_NO_DEVICE: return "CTVK_ERR_NO_DEVICE";
    case CTVK_ERR_DEVICE_MEMORY: return "CTVK_ERR_DEVICE_MEMORY";
    case CTVK_ERR_DEVICE_LOST: return "CTVK_ERR_DEVICE_LOST";
    case CTVK_ERR_UNSUPPORTED: return "CTVK_ERR_UNSUPPORTED";
    case CTVK_ERR_VULKAN: return "CTVK_ERR_VULKAN";
    case CTVK_ERR_INTERRUPTED: return "CTVK_ERR_INTERRUPTED";
    case CTVK_ERR_DIST: return "CTVK_ERR_DIST";
    }
    return "CTVK_ERR_UNKNOWN";
}
