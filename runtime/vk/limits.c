/* The device's effective limits and features: what it reports, or under the limits clamp
 * ([device] limits = minimum, CTVK_LIMITS=minimum) exactly what the Vulkan 1.1 specification
 * requires of every device and no optional feature; the quirks table; and the description of the
 * paths a device gets, for `ctvk devices`.
 *
 * Everything else in ctvk reads ctx->props.limits and ctx->info, so clamping them here is all it
 * takes for every launcher, the allocator and the recorder to behave as on a minimum device. */
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ the clamp */
static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

ctvk_status ctvk__limits_wanted(const ctvk_options *o, int *minimum)
{
    *minimum = 0;
    if (o->limits == CTVK_LIMITS_MINIMUM) { *minimum = 1; return CTVK_OK; }
    if (o->limits == CTVK_LIMITS_DEVICE) return CTVK_OK;
    const char *e = getenv("CTVK_LIMITS");
    if (!e || !*e || !strcasecmp(e, "device")) return CTVK_OK;
    if (!strcasecmp(e, "minimum")) { *minimum = 1; return CTVK_OK; }
    return ctvk__fail(CTVK_ERR_ARG, "CTVK_LIMITS = '%s': expected device or minimum", e);
}

/* The Vulkan 1.1 "required limits" table, for the limits ctvk uses: a maximum is lowered to its
 * required minimum, an alignment raised to its largest allowed value. */
void ctvk__limits_clamp(VkPhysicalDeviceLimits *L, ctvk_device_info *info)
{
    L->maxTexelBufferElements = min_u32(L->maxTexelBufferElements, 65536);
    L->maxUniformBufferRange = min_u32(L->maxUniformBufferRange, 16384);
    L->maxStorageBufferRange = min_u32(L->maxStorageBufferRange, 1u << 27);
    L->maxPushConstantsSize = min_u32(L->maxPushConstantsSize, 128);
    L->maxMemoryAllocationCount = min_u32(L->maxMemoryAllocationCount, 4096);
    L->maxBoundDescriptorSets = min_u32(L->maxBoundDescriptorSets, 4);
    L->maxPerStageDescriptorUniformBuffers = min_u32(L->maxPerStageDescriptorUniformBuffers, 12);
    L->maxPerStageDescriptorStorageBuffers = min_u32(L->maxPerStageDescriptorStorageBuffers, 4);
    L->maxPerStageDescriptorSampledImages = min_u32(L->maxPerStageDescriptorSampledImages, 16);
    L->maxPerStageDescriptorStorageImages = min_u32(L->maxPerStageDescriptorStorageImages, 4);
    L->maxPerStageResources = min_u32(L->maxPerStageResources, 128);
    L->maxDescriptorSetStorageBuffers = min_u32(L->maxDescriptorSetStorageBuffers, 24);
    L->maxDescriptorSetSampledImages = min_u32(L->maxDescriptorSetSampledImages, 96);
    L->maxComputeSharedMemorySize = min_u32(L->maxComputeSharedMemorySize, 16384);
    for (int i = 0; i < 3; i++) L->maxComputeWorkGroupCount[i] = min_u32(L->maxComputeWorkGroupCount[i], 65535);
    L->maxComputeWorkGroupInvocations = min_u32(L->maxComputeWorkGroupInvocations, 128);
    L->maxComputeWorkGroupSize[0] = min_u32(L->maxComputeWorkGroupSize[0], 128);
    L->maxComputeWorkGroupSize[1] = min_u32(L->maxComputeWorkGroupSize[1], 128);
    L->maxComputeWorkGroupSize[2] = min_u32(L->maxComputeWorkGroupSize[2], 64);
    L->minTexelBufferOffsetAlignment = max_u64(L->minTexelBufferOffsetAlignment, 256);
    L->minUniformBufferOffsetAlignment = max_u64(L->minUniformBufferOffsetAlignment, 256);
    L->minStorageBufferOffsetAlignment = max_u64(L->minStorageBufferOffsetAlignment, 256);
    L->nonCoherentAtomSize = max_u64(L->nonCoherentAtomSize, 256);
    L->timestampComputeAndGraphics = VK_FALSE;
    /* no optional feature or extension */
    info->storage16 = info->float16 = info->int8 = info->cooperative_matrix = 0;
    info->push_descriptors = info->memory_budget = info->unified_memory = 0;
    info->coherent_staging = 0;
    info->timestamp_period = 0.0f;
    info->limits_minimum = 1;
}

void ctvk__limits_to_info(const VkPhysicalDeviceLimits *L, ctvk_device_info *info)
{
    info->max_storage_buffer_range = L->maxStorageBufferRange;
    info->max_shared_memory = L->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = L->maxComputeWorkGroupInvocations;
    info->max_texel_buffer_elements = L->maxTexelBufferElements;
    info->max_storage_buffers_per_stage = L->maxPerStageDescriptorStorageBuffers;
    info->max_storage_images_per_stage = L->maxPerStageDescriptorStorageImages;
}

/* ------------------------------------------------------------------ quirks */
/* Per-driver choices, each with the reason it exists. A driver is matched by a case-insensitive
 * substring of its driver name or device name. Only what was measured or seen goes here. */
typedef struct quirk {
    const char *match;
    ctvk_variant variant;   /* the kernel family for [device] variant = auto (AUTO: by device type) */
    int view_keys;          /* texel views sized so that the driver keys one compile per kernel */
    int image_inputs;       /* inputs read as storage texel buffers (the shaders' NAME.img build) */
    int compiles_at_dispatch; /* compiles a kernel at its first dispatch, not at pipeline creation */
    const char *note;
} quirk;

static const quirk QUIRKS[] = {
    /* view_keys: llvmpipe (Mesa 22.3) keys a compiled kernel by, among others, each texel buffer's
     * "power-of-two width" (the size of the VkBuffer under the view) and, for a uniform texel
     * buffer, its "level zero only" (bits 8-15 of the view's byte size, read through a union as a
     * mip level): two layers of one kernel with other tensor sizes compiled it twice, 1-2 s each.
     * A kernel must have one key only: Mesa 22.3 turns a kernel's NIR out of SSA in place when it
     * compiles a variant (not when it loads one from its cache) and hashes that NIR into the cache
     * key of every later variant, so a second variant is compiled again in the next run (the FPN's
     * convolution kernel: 1.7-1.9 s in the first run and again in the second, until views into
     * tensors got the same treatment; memory.c).
     * image_inputs: the NAME.img build reads inputs as storage texel buffers, whose key entries
     * hold no view size; all but the convolutions' A operand (activations), which stays sampled
     * (shaders/conv_common.glsl): llvmpipe's imageLoad made those kernels 8-18% slower, its texel
     * fetch of A is what they spend their time in. The forward pass is as fast (bench,
     * interleaved A/B). On by default ([device] image_inputs); `all` reads A as a storage texel
     * buffer too (NAME.imga): no sampled view, the convolutions 2-3% slower (the stem 16%).
     * compiles_at_dispatch: vkCreateComputePipelines only translates SPIR-V to NIR; LLVM compiles
     * a kernel when its first dispatch runs (llvmpipe_launch_grid, before it looks at the grid, so
     * a dispatch of zero workgroups compiles it too), on the device's one queue thread: 5.2 s for
     * the FPN from empty caches, serial. Compile helpers (runtime/train/helpers.c) spread that over
     * other devices' queue threads. */
    {"llvmpipe", CTVK_VARIANT_CPU, 1, 1, 1,
     "cpu kernel family: lavapipe's compiled kernels spend their time in texel fetches, and a "
     "4-component fetch costs about a scalar one, so 16x16 register blocks on 8 lanes win (ctvk bench kernels)"},
    {"SwiftShader", CTVK_VARIANT_CPU, 0, 0, 0,
     "cpu kernel family (a CPU device); texel buffers hold only 65536 elements, so larger inputs are read "
     "through storage buffers"},
};

static const quirk *find_quirk(const ctvk_device_info *info)
{
    for (size_t i = 0; i < sizeof QUIRKS / sizeof QUIRKS[0]; i++) {
        size_t n = strlen(QUIRKS[i].match);
        for (const char *h = info->name; *h; h++) if (!strncasecmp(h, QUIRKS[i].match, n)) return &QUIRKS[i];
        for (const char *h = info->driver_name; *h; h++) if (!strncasecmp(h, QUIRKS[i].match, n)) return &QUIRKS[i];
    }
    return NULL;
}

void ctvk__quirks_apply(ctvk_device_info *info)
{
    const quirk *q = find_quirk(info);
    snprintf(info->quirks, sizeof info->quirks, "%s", q ? q->note : "");
}

ctvk_variant ctvk__quirks_variant(const ctvk_device_info *info)
{
    const quirk *q = find_quirk(info);
    return q ? q->variant : CTVK_VARIANT_AUTO;
}

int ctvk__quirks_view_keys(const ctvk_device_info *info)
{
    const quirk *q = find_quirk(info);
    return q ? q->view_keys : 0;
}

int ctvk__quirks_image_inputs(const ctvk_device_info *info)
{
    const quirk *q = find_quirk(info);
    return q ? q->image_inputs : 0;
}

int ctvk__quirks_compiles_at_dispatch(const ctvk_device_info *info)
{
    const quirk *q = find_quirk(info);
    return q ? q->compiles_at_dispatch : 0;
}

/* ------------------------------------------------------------------ description */
void ctvk_device_paths(const ctvk_device_info *x, char *buf, size_t n)
{
    size_t k = 0;
#define LINE(...) do { if (k < n) { int w_ = snprintf(buf + k, n - k, __VA_ARGS__); if (w_ > 0) k += (size_t)w_; } } while (0)
    if (n) buf[0] = 0;
    if (x->limits_minimum) LINE("limits clamp: the Vulkan 1.1 required minimums, no optional feature\n");
    ctvk_variant v = ctvk__quirks_variant(x);
    if (v == CTVK_VARIANT_AUTO) v = x->type == CTVK_DEVICE_CPU ? CTVK_VARIANT_CPU : CTVK_VARIANT_GPU;
    LINE("kernel family %s (%s)\n", v == CTVK_VARIANT_CPU ? "cpu: texel-buffer reads, 8 lanes, 16x16 register blocks"
                                                         : "gpu: shared-memory tiles",
         ctvk__quirks_variant(x) != CTVK_VARIANT_AUTO ? "the quirks table" : "by device type");
    LINE("texel-buffer inputs up to %u elements (maxTexelBufferElements); larger or misaligned inputs "
         "through storage buffers, at most %u per kernel (maxPerStageDescriptorStorageBuffers)%s\n",
         x->max_texel_buffer_elements, x->max_storage_buffers_per_stage,
         x->max_storage_buffers_per_stage < 5 ? "; no fused conv epilogue (it binds 5)" : "");
    LINE("workgroups up to %u invocations, %u KiB shared memory: gpu conv tiles %s\n",
         x->max_workgroup_invocations, x->max_shared_memory / 1024,
         x->max_workgroup_invocations >= 256 ? "64x64 with 4x4 per invocation" : "64x64 with 8x4 per invocation");
    LINE("%s\n", x->unified_memory ? "zero-copy: unified memory, tensors read and written through the mapping"
                                    : "staging: no unified memory (or the clamp), transfers through a staging buffer");
    if (!x->unified_memory)
        LINE("%s\n", x->coherent_staging ? "staging memory coherent"
                                         : "staging memory flushed and invalidated (treated as not coherent)");
    if (x->image_inputs)
        LINE("[device] image_inputs: inputs as storage texel buffers where a kernel binds at most %u "
             "(maxPerStageDescriptorStorageImages; fp16 inputs, and the convolutions' A but with "
             "image_inputs = all, as uniform texel buffers)\n",
             x->max_storage_images_per_stage);
    LINE("%s\n", x->push_descriptors ? "push descriptors" : "pooled descriptor sets: no VK_KHR_push_descriptor");
    LINE("%s\n", x->storage16 ? "fp16 storage available" : "fp32 only: no 16-bit storage");
    LINE("%s\n", x->timestamp_period > 0 ? "profiling with timestamps" : "no profiling: no compute timestamps");
    if (x->quirks[0]) LINE("quirk: %s\n", x->quirks);
#undef LINE
    if (k && k <= n && buf[k - 1] == '\n') buf[k - 1] = 0;
}
