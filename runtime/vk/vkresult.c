/* VkResult names, the mapping of Vulkan failures to statuses and messages, and fault injection. */
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ctvk__vk_result_name(VkResult r)
{
    switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_EVENT_SET) C(VK_EVENT_RESET) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY) C(VK_ERROR_INITIALIZATION_FAILED)
    C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
    C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
    C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_UNKNOWN) C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    C(VK_ERROR_FRAGMENTATION) C(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) C(VK_PIPELINE_COMPILE_REQUIRED)
#undef C
    default: return "VK_ERROR_(unknown)";
    }
}

ctvk_status ctvk__vk_fail(VkResult r, const char *what)
{
    const char *name = ctvk__vk_result_name(r);
    /* `what` is the failed call's source text: keep its function name only */
    char fn[64];
    size_t n = strcspn(what, "(");
    if (n >= sizeof fn) n = sizeof fn - 1;
    memcpy(fn, what, n);
    fn[n] = 0;
    switch (r) {
    case VK_ERROR_DEVICE_LOST:
        return ctvk__fail(CTVK_ERR_DEVICE_LOST, "the Vulkan device was lost (%s: %s): the driver reset it or "
                          "it crashed; a laptop GPU's watchdog may need smaller work "
                          "([device] max_dispatches_per_submit); restart the program", fn, name);
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return ctvk__fail(CTVK_ERR_DEVICE_MEMORY, "out of device memory (%s: %s): use a smaller batch or input "
                          "size", fn, name);
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory (%s: %s)", fn, name);
    case VK_ERROR_LAYER_NOT_PRESENT:
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "a Vulkan layer is missing (%s: %s): 'apt-get install "
                          "vulkan-validationlayers' or unset CTVK_VALIDATION", fn, name);
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_FORMAT_NOT_SUPPORTED:
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "the device lacks a needed feature (%s: %s)", fn, name);
    default:
        return ctvk__fail(CTVK_ERR_VULKAN, "Vulkan call %s failed: %s", fn, name);
    }
}

/* $CTVK_FAULT = "site", "site:n" or "site:*": the first, the n-th (1-based) or every pass through
 * that site fails. Any site name works; passes are counted per site and per thread. */
int ctvk__fault(const char *site)
{
    static _Thread_local struct { char name[32]; unsigned passes; } seen[16];
    const char *spec = getenv("CTVK_FAULT");
    if (!spec || !*spec) return 0;
    size_t len = strlen(site);
    if (strncmp(spec, site, len) != 0 || (spec[len] != 0 && spec[len] != ':')) return 0;
    if (spec[len] == ':' && spec[len + 1] == '*') return 1;
    unsigned nth = spec[len] == ':' ? (unsigned)strtoul(spec + len + 1, NULL, 10) : 1;
    for (int i = 0; i < 16; i++) {
        if (seen[i].name[0] && strcmp(seen[i].name, site)) continue;
        if (!seen[i].name[0]) snprintf(seen[i].name, sizeof seen[i].name, "%s", site);
        return ++seen[i].passes == nth;
    }
    return 0;
}
