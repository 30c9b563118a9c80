/* Vulkan instance and device: loading the loader through volk, the validation layer and its
 * messenger, describing devices, choosing one, and creating the logical device. */
#include "runtime/vk/internal.h"
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char *ctvk_device_type_name(ctvk_device_type t)
{
    switch (t) {
    case CTVK_DEVICE_DISCRETE: return "discrete GPU";
    case CTVK_DEVICE_INTEGRATED: return "integrated GPU";
    case CTVK_DEVICE_VIRTUAL: return "virtual GPU";
    case CTVK_DEVICE_CPU: return "CPU";
    default: return "other";
    }
}

void ctvk_options_default(ctvk_options *o)
{
    memset(o, 0, sizeof *o);
    o->validation = -1;
    o->renderdoc = -1;
    o->image_inputs = 1;
    o->compile_helpers = -1;
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "off") != 0;
}

/* ------------------------------------------------------------------ messenger */
static uint32_t g_validation_messages;   /* over every context of the process */

uint32_t ctvk_validation_messages_total(void)
{
    return __atomic_load_n(&g_validation_messages, __ATOMIC_RELAXED);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                       VkDebugUtilsMessageTypeFlagsEXT type,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                       void *user)
{
    ctvk_ctx *ctx = user;
    int counts = (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ||
                 ((sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) &&
                  (type & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT));
    if (counts) {
        __atomic_add_fetch(&ctx->validation_messages, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&g_validation_messages, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "ctvk: validation %s: %s\n",
                (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
                d && d->pMessage ? d->pMessage : "(no message)");
    }
    return VK_FALSE;
}

uint32_t ctvk_validation_messages(const ctvk_ctx *ctx)
{
    return __atomic_load_n(&ctx->validation_messages, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ instance */
static ctvk_status load_loader(ctvk_ctx *ctx)
{
    const char *lib = ctx->opt.vulkan_library;
    if (!lib) lib = getenv("CTVK_VULKAN_LIBRARY");
    if (!lib || !*lib) lib = "libvulkan.so.1";
    ctx->loader = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!ctx->loader)
        return ctvk__fail(CTVK_ERR_NO_LOADER,
                          "cannot load the Vulkan loader '%s' (%s): install it with "
                          "'apt-get install libvulkan1 mesa-vulkan-drivers'", lib, dlerror());
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)(uintptr_t)dlsym(ctx->loader,
                                                                                 "vkGetInstanceProcAddr");
    if (!gipa) {
        dlclose(ctx->loader);
        ctx->loader = NULL;
        return ctvk__fail(CTVK_ERR_NO_LOADER, "'%s' is not a Vulkan loader (no vkGetInstanceProcAddr)", lib);
    }
    volkInitializeCustom(gipa);
    return CTVK_OK;
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) if (!strcmp(p[i].layerName, name)) found = 1;
    free(p);
    return found;
}

static int has_instance_ext(const char *layer, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) if (!strcmp(p[i].extensionName, name)) found = 1;
    free(p);
    return found;
}

ctvk_status ctvk__instance_create(ctvk_ctx *ctx)
{
    CTVK_TRY(load_loader(ctx));
    int validation = ctx->opt.validation >= 0 ? ctx->opt.validation : env_flag("CTVK_VALIDATION");
    ctx->opt.validation = validation;

    const char *layers[1];
    uint32_t nlayers = 0;
    const char *exts[4];
    uint32_t nexts = 0;
    if (validation) {
        if (!has_layer(VALIDATION_LAYER))
            return ctvk__fail(CTVK_ERR_UNSUPPORTED,
                              "validation was asked for (CTVK_VALIDATION=1 or [device] validation) but the "
                              "layer %s is not installed: 'apt-get install vulkan-validationlayers'",
                              VALIDATION_LAYER);
        layers[nlayers++] = VALIDATION_LAYER;
    }
    if (has_instance_ext(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
        (validation && has_instance_ext(VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))) {
        exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        ctx->debug_utils = 1;
        ctx->debug_labels = 1;
    }
    int vfeatures = validation && has_instance_ext(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    if (vfeatures) exts[nexts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;

    uint32_t api = VK_API_VERSION_1_1;
    if (vkEnumerateInstanceVersion) {
        uint32_t v = 0;
        if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_2) api = VK_API_VERSION_1_2;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "ctvk",
                             .applicationVersion = 1, .pEngineName = "ctvk", .engineVersion = 1,
                             .apiVersion = api};
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = enables};
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_debug_message, .pUserData = ctx};
    const void *chain = NULL;
    if (validation && ctx->debug_utils) { mci.pNext = vfeatures && !env_flag("CTVK_NO_SYNC_VALIDATION") ? &vf : NULL; chain = &mci; }
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pNext = chain,
                                .pApplicationInfo = &app, .enabledLayerCount = nlayers, .ppEnabledLayerNames = layers,
                                .enabledExtensionCount = nexts, .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateInstance(&ici, NULL, &ctx->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return ctvk__fail(CTVK_ERR_NO_DEVICE, "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER): "
                                              "install a GPU driver, or 'apt-get install mesa-vulkan-drivers' for lavapipe");
    if (r != VK_SUCCESS) return ctvk__vk_fail(r, "vkCreateInstance");
    volkLoadInstance(ctx->instance);
    mci.pNext = NULL;   /* the validation features belong to instance creation only */
    if (validation && ctx->debug_utils)
        VK_TRY(vkCreateDebugUtilsMessengerEXT(ctx->instance, &mci, NULL, &ctx->messenger));
    return CTVK_OK;
}

void ctvk__instance_destroy(ctvk_ctx *ctx)
{
    if (ctx->messenger) vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    ctx->messenger = VK_NULL_HANDLE;
    ctx->instance = VK_NULL_HANDLE;
    /* the loader stays loaded: volk's function pointers may be shared by other contexts */
}

/* ------------------------------------------------------------------ device description */
static int has_device_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) if (!strcmp(p[i].extensionName, name)) found = 1;
    free(p);
    return found;
}

static uint32_t compute_family(VkPhysicalDevice pd, int *timestamps)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        /* prefer a family with timestamps; among those the first (the universal queue) */
        if (best == UINT32_MAX || (!q[best].timestampValidBits && q[i].timestampValidBits)) best = i;
    }
    if (timestamps) *timestamps = best != UINT32_MAX && q[best].timestampValidBits > 0;
    return best;
}

void ctvk__device_info(VkPhysicalDevice pd, int index, int minimum, ctvk_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    VkPhysicalDeviceProperties p0;
    vkGetPhysicalDeviceProperties(pd, &p0);
    int has_drv = p0.apiVersion >= VK_API_VERSION_1_2 || has_device_ext(pd, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    if (has_drv) sg.pNext = &drv;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    snprintf(info->name, sizeof info->name, "%s", p->deviceName);
    switch (p->deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = CTVK_DEVICE_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = CTVK_DEVICE_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info->type = CTVK_DEVICE_VIRTUAL; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = CTVK_DEVICE_CPU; break;
    default: info->type = CTVK_DEVICE_OTHER;
    }
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->driver_version = p->driverVersion;
    info->api_version = p->apiVersion;
    if (has_drv) {
        snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
        snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    } else {
        snprintf(info->driver_name, sizeof info->driver_name, "unknown");
    }
    info->subgroup_size = sg.subgroupSize;
    int ts = 0;
    compute_family(pd, &ts);
    info->timestamp_period = ts ? p->limits.timestampPeriod : 0.0f;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    info->heap_count = (int)(mp.memoryHeapCount < 16 ? mp.memoryHeapCount : 16);
    for (int i = 0; i < info->heap_count; i++) {
        info->heap_size[i] = mp.memoryHeaps[i].size;
        info->heap_device_local[i] = !!(mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT);
    }
    int unified = 1, any_local = 0;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            any_local = 1;
            if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) unified = 0;
        }
    }
    info->unified_memory = unified && any_local;

    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    int has_f16 = p->apiVersion >= VK_API_VERSION_1_2 || has_device_ext(pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    if (has_f16) s16.pNext = &f16;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    info->storage16 = !!s16.storageBuffer16BitAccess;
    info->float16 = has_f16 && f16.shaderFloat16;
    info->int8 = has_f16 && f16.shaderInt8;
    info->cooperative_matrix = has_device_ext(pd, "VK_KHR_cooperative_matrix") ||
                               has_device_ext(pd, "VK_NV_cooperative_matrix");
    info->push_descriptors = has_device_ext(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    info->memory_budget = has_device_ext(pd, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    info->coherent_staging = 1;   /* ctvk maps host-visible memory only where it is also coherent */
    VkPhysicalDeviceLimits L = p->limits;
    if (minimum) ctvk__limits_clamp(&L, info);
    ctvk__limits_to_info(&L, info);
    ctvk__quirks_apply(info);
    /* image_inputs needs every view format a kernel's input may have as a storage texel buffer
     * (fp16 inputs stay uniform texel buffers: runtime/vk/recorder.c) */
    static const VkFormat img_formats[] = {VK_FORMAT_R32_SFLOAT, VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32_UINT,
                                           VK_FORMAT_R32G32B32A32_UINT, VK_FORMAT_R16_UINT};
    info->image_inputs = ctvk__quirks_image_inputs(info);
    for (size_t i = 0; i < sizeof img_formats / sizeof img_formats[0] && info->image_inputs; i++) {
        VkFormatProperties fp;
        vkGetPhysicalDeviceFormatProperties(pd, img_formats[i], &fp);
        if (!(fp.bufferFeatures & VK_FORMAT_FEATURE_STORAGE_TEXEL_BUFFER_BIT)) info->image_inputs = 0;
    }
}

/* ------------------------------------------------------------------ choice */
static int type_rank(ctvk_device_type t)
{
    switch (t) {
    case CTVK_DEVICE_DISCRETE: return 4;
    case CTVK_DEVICE_INTEGRATED: return 3;
    case CTVK_DEVICE_VIRTUAL: return 2;
    case CTVK_DEVICE_CPU: return 1;
    default: return 0;
    }
}

static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

/* One device by index or name substring, or a negative status with the message set. */
static int match_device(const ctvk_device_info *infos, int count, const char *want, const char *origin)
{
    int digits = 1;
    for (const char *p = want; *p; p++) if (!isdigit((unsigned char)*p)) digits = 0;
    if (digits) {
        int idx = atoi(want);
        if (idx < count) return idx;
    } else {
        for (int i = 0; i < count; i++)
            if (icontains(infos[i].name, want) || icontains(infos[i].driver_name, want)) return i;
    }
    char list[1024] = "";
    for (int i = 0; i < count; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%d: %s", i ? ", " : "", i, infos[i].name);
    }
    return ctvk__fail(CTVK_ERR_NO_DEVICE, "no Vulkan device matches '%s' (from %s); devices: %s", want, origin, list);
}

/* Index of the chosen device, or a negative status with the message set. `share` (ranks of a
 * distributed run on one machine: the local rank) picks entry share % k of a comma list, or
 * without a wish the share % k-th of the k devices of the best type. */
static int choose_device(const ctvk_device_info *infos, int count, const char *want, const char *origin, int share)
{
    if (count == 0) return ctvk__fail(CTVK_ERR_NO_DEVICE,
                                      "no Vulkan device found: install a GPU driver, or "
                                      "'apt-get install mesa-vulkan-drivers' for lavapipe on the CPU");
    if (share < 0) share = 0;
    if (want && *want) {
        int entries = 1;
        for (const char *p = want; *p; p++) entries += *p == ',';
        if (entries == 1) return match_device(infos, count, want, origin);
        const char *p = want;
        for (int k = share % entries; k > 0; k--) p = strchr(p, ',') + 1;
        char one[256];
        size_t len = strcspn(p, ",");
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), p);
        return match_device(infos, count, one, origin);
    }
    int best = 0;
    for (int i = 1; i < count; i++) if (type_rank(infos[i].type) > type_rank(infos[best].type)) best = i;
    int k = 0;
    for (int i = 0; i < count; i++) k += type_rank(infos[i].type) == type_rank(infos[best].type);
    for (int i = 0, n = share % k; i < count; i++)
        if (type_rank(infos[i].type) == type_rank(infos[best].type) && n-- == 0) return i;
    return best;
}

static const char *wanted_device(const ctvk_options *o, const char **origin)
{
    if (o->device && *o->device) { *origin = "the config or --device"; return o->device; }
    const char *e = getenv("CTVK_DEVICE");
    *origin = "CTVK_DEVICE";
    return e && *e ? e : NULL;
}

static ctvk_status enumerate(ctvk_ctx *ctx, VkPhysicalDevice **pds, ctvk_device_info **infos, int *count)
{
    int minimum;
    CTVK_TRY(ctvk__limits_wanted(&ctx->opt, &minimum));
    uint32_t n = 0;
    VK_TRY(vkEnumeratePhysicalDevices(ctx->instance, &n, NULL));
    *pds = calloc(n ? n : 1, sizeof **pds);
    *infos = calloc(n ? n : 1, sizeof **infos);
    if (!*pds || !*infos) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    VkResult r = vkEnumeratePhysicalDevices(ctx->instance, &n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return ctvk__vk_fail(r, "vkEnumeratePhysicalDevices");
    for (uint32_t i = 0; i < n; i++) ctvk__device_info((*pds)[i], (int)i, minimum, &(*infos)[i]);
    *count = (int)n;
    return CTVK_OK;
}

ctvk_status ctvk_list_devices(const ctvk_options *o, ctvk_device_info **out, int *count, int *chosen)
{
    *out = NULL;
    *count = 0;
    *chosen = -1;
    ctvk_ctx tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.opt = *o;
    tmp.opt.validation = 0;
    VkPhysicalDevice *pds = NULL;
    ctvk_device_info *infos = NULL;
    ctvk_status s = ctvk__instance_create(&tmp);
    if (!s) s = enumerate(&tmp, &pds, &infos, count);
    if (!s) {
        const char *origin = NULL, *want = wanted_device(o, &origin);
        int c = choose_device(infos, *count, want, origin, o->share);
        if (*count == 0) s = (ctvk_status)c;
        else *chosen = c < 0 ? -1 : c;   /* a non-matching name still lists the devices */
    }
    ctvk__instance_destroy(&tmp);
    free(pds);
    if (s) { free(infos); *count = 0; return s; }
    *out = infos;
    return CTVK_OK;
}

/* ------------------------------------------------------------------ logical device */
static ctvk_status create_device(ctvk_ctx *ctx)
{
    int ts = 0;
    ctx->queue_family = compute_family(ctx->phys, &ts);
    if (ctx->queue_family == UINT32_MAX)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s has no compute queue", ctx->info.name);

    const char *exts[8];
    uint32_t n = 0;
    ctx->push_descriptors = ctx->info.push_descriptors && !ctx->opt.no_push_descriptors &&
                            !env_flag("CTVK_NO_PUSH_DESCRIPTORS");
    if (ctx->push_descriptors) exts[n++] = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
    if (ctx->info.memory_budget) exts[n++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    if (!ctx->info.limits_minimum && has_device_ext(ctx->phys, VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME)) {
        exts[n++] = VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME;
        ctx->pipeline_feedback = 1;
    }
    /* the weights cache imports file mappings as device memory: a CPU device only, where they are
     * the device's own memory (runtime/vk/weights_cache.c) */
    if (ctx->info.type == CTVK_DEVICE_CPU && !ctx->info.limits_minimum &&
        has_device_ext(ctx->phys, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME)) {
        VkPhysicalDeviceExternalMemoryHostPropertiesEXT hp = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &hp};
        vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
        if (hp.minImportedHostPointerAlignment && hp.minImportedHostPointerAlignment <= 65536) {
            exts[n++] = VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME;
            ctx->host_import = 1;
            ctx->host_import_align = hp.minImportedHostPointerAlignment;
        }
    }
    int f16ext = ctx->info.api_version < VK_API_VERSION_1_2 &&
                 has_device_ext(ctx->phys, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    if (f16ext) exts[n++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                     .shaderFloat16 = (VkBool32)ctx->info.float16,
                                                     .shaderInt8 = (VkBool32)ctx->info.int8};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .storageBuffer16BitAccess = (VkBool32)ctx->info.storage16};
    if (ctx->info.float16 || ctx->info.int8) s16.pNext = &f16;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family, .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n, .ppEnabledExtensionNames = exts};
    VK_TRY(vkCreateDevice(ctx->phys, &dci, NULL, &ctx->device));
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    return CTVK_OK;
}

ctvk_status ctvk_create(const ctvk_options *o, ctvk_ctx **out)
{
    *out = NULL;
    ctvk__clear_error();
    ctvk_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctx->opt = *o;
    VkPhysicalDevice *pds = NULL;
    ctvk_device_info *infos = NULL;
    int count = 0;
    const char *wc = getenv("CTVK_WEIGHTS_CACHE_MB");
    long wc_mb = 0;
    if (wc && *wc && (ctvk__parse_decimal(wc, &wc_mb) != 0 || wc_mb < 0)) {
        free(ctx);
        return ctvk__fail(CTVK_ERR_ARG, "CTVK_WEIGHTS_CACHE_MB=%s: not a size in MiB (a whole number, 0 turns the "
                          "weights cache off)", wc);
    }
    ctvk__renderdoc_init(ctx);     /* before the instance, so RenderDoc can hook it */
    ctvk_status s = ctvk__instance_create(ctx);
    if (!s) s = enumerate(ctx, &pds, &infos, &count);
    if (!s) {
        const char *origin = NULL, *want = wanted_device(o, &origin);
        int c = choose_device(infos, count, want, origin, o->share);
        if (c < 0) s = (ctvk_status)c;
        else { ctx->phys = pds[c]; ctx->info = infos[c]; }
    }
    free(pds);
    free(infos);
    if (!s) {
        vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
        vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->memprops);
        if (ctx->info.limits_minimum) {   /* every reader of the limits sees the minimums from here on */
            ctvk_device_info keep = ctx->info;
            ctvk__limits_clamp(&ctx->props.limits, &ctx->info);
            ctx->info = keep;
            ctx->debug_labels = 0;
        }
        s = create_device(ctx);
    }
    if (!s) {
        ctvk_variant q = ctvk__quirks_variant(&ctx->info);
        ctx->variant = o->variant != CTVK_VARIANT_AUTO ? o->variant
                       : q != CTVK_VARIANT_AUTO ? q
                       : (ctx->info.type == CTVK_DEVICE_CPU ? CTVK_VARIANT_CPU : CTVK_VARIANT_GPU);
        if (!o->image_inputs) ctx->info.image_inputs = 0;
        ctx->max_dispatches_per_submit = o->max_dispatches_per_submit ? o->max_dispatches_per_submit
                                         : (ctx->info.type == CTVK_DEVICE_CPU ? 4096 : 512);
    }
    if (!s) s = ctvk__memory_init(ctx);
    if (!s) s = ctvk__recorder_init(ctx);
    if (!s) s = ctvk__pipeline_cache_open(ctx);
    if (s) {
        char msg[CTVK_ERROR_MAX];
        snprintf(msg, sizeof msg, "%s", ctvk_error());
        ctvk_destroy(ctx);
        return ctvk__fail(s, "%s", msg);
    }
    *out = ctx;
    return CTVK_OK;
}

ctvk_status ctvk__ctx_create_dry(ctvk_ctx *main, int (*claim)(void *arg, int ordinal), void *claim_arg,
                                 ctvk_ctx **out)
{
    *out = NULL;
    ctvk_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctx->opt = main->opt;
    ctx->opt.cache_dir = "";
    ctx->opt.profile = 0;
    ctx->opt.renderdoc = 0;
    ctx->loader = main->loader;             /* volk's function pointers are main's: never reloaded */
    ctx->instance = main->instance;
    ctx->borrowed_instance = 1;
    ctx->debug_utils = main->debug_utils;
    ctx->debug_labels = 0;
    ctx->phys = main->phys;
    ctx->info = main->info;
    ctx->props = main->props;               /* clamped where main's are */
    ctx->memprops = main->memprops;
    ctx->variant = main->variant;
    ctx->max_dispatches_per_submit = main->max_dispatches_per_submit;
    ctx->dry = 1;
    ctx->dry_claim = claim;
    ctx->dry_claim_arg = claim_arg;
    ctvk_status s = create_device(ctx);
    if (!s) s = ctvk__memory_init(ctx);
    if (!s) s = ctvk__recorder_init(ctx);
    if (!s) s = ctvk__pipeline_cache_open(ctx);
    if (s) { ctvk_destroy(ctx); return s; }
    *out = ctx;
    return CTVK_OK;
}

void ctvk__helpers_join(ctvk_ctx *ctx)
{
    void (*join)(ctvk_ctx *) = ctx->helpers_join;
    ctx->helpers_join = NULL;
    if (join) join(ctx);
}

void ctvk_destroy(ctvk_ctx *ctx)
{
    if (!ctx) return;
    ctvk__helpers_join(ctx);
    if (ctx->device && !ctx->lost) vkDeviceWaitIdle(ctx->device);
    ctvk__recorder_destroy(ctx);
    ctvk__pipelines_destroy(ctx);
    ctvk__memory_destroy(ctx);
    if (ctx->device) vkDestroyDevice(ctx->device, NULL);
    if (!ctx->borrowed_instance) ctvk__instance_destroy(ctx);
    free(ctx->prof);
    free(ctx);
}

const ctvk_device_info *ctvk_device(const ctvk_ctx *ctx) { return &ctx->info; }
ctvk_variant ctvk_kernel_variant(const ctvk_ctx *ctx) { return ctx->variant; }

void ctvk_get_stats(const ctvk_ctx *ctx, ctvk_stats *s)
{
    *s = ctx->stats;
    s->device_memory_blocks = (uint64_t)ctx->mem.nblocks;
    s->device_memory_allocated = ctx->mem.allocated;
    s->device_memory_in_use = ctx->mem.in_use;
    s->device_memory_peak = ctx->mem.peak;
    s->tensors_alive = ctx->mem.tensors_alive;
}
