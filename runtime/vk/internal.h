/* Private header of the Vulkan layer (runtime/vk/): the context, tensors, memory, pipelines and
 * the recorder, for the layers above it (net/, runtime/train/). Nothing here is public API. */
#ifndef CTVK_RUNTIME_INTERNAL_H
#define CTVK_RUNTIME_INTERNAL_H

#include "ctvk/ctvk.h"
#include "runtime/base/base.h"
#include "runtime/base/rng.h"
#include "runtime/base/suballoc.h"
#include <volk.h>

/* ------------------------------------------------------------------ Vulkan results */
const char *ctvk__vk_result_name(VkResult r);
/* Maps a failed VkResult to a status and a message "WHAT failed: VK_ERROR_... (hint)". */
ctvk_status ctvk__vk_fail(VkResult r, const char *what);

#define VK_TRY(call)                                                           \
    do {                                                                       \
        VkResult vk_try_r_ = (call);                                           \
        if (vk_try_r_ != VK_SUCCESS) return ctvk__vk_fail(vk_try_r_, #call);   \
    } while (0)

/* ------------------------------------------------------------------ memory */
typedef struct ctvk_block {
    VkDeviceMemory memory;
    VkBuffer buffer;          /* one buffer over the whole block */
    void *mapped;             /* persistently mapped when host-visible */
    uint64_t size;
    ctvk_suballoc sa;
    int dedicated;            /* holds a single large tensor */
    void *host_map;           /* imported (ctvk__tensor_import_host): the mapping under the memory, */
    size_t host_map_bytes;    /* unmapped after the memory is freed */
    int read_only;            /* ctvk__block_read_only */
} ctvk_block;

typedef struct ctvk_memory {
    ctvk_block **blocks;
    int nblocks, cap;
    uint32_t type_index;
    int host_visible;         /* zero-copy: tensors are read and written through the mapping */
    uint64_t alignment;
    uint64_t block_size;
    int view_keys;            /* the quirk of the same name: block tails, view sizes (memory.c) */
    uint64_t allocated, in_use, peak, limit;
    uint64_t tensors_alive;
    /* staging for discrete devices */
    VkDeviceMemory staging_memory;
    VkBuffer staging_buffer;
    void *staging_mapped;
    uint64_t staging_size;
    uint32_t staging_type_index;
    /* the view bound for parameter bindings that are NULL: CTVK_ZERO_BYTES of zeros (filled by the
     * recorder before the first dispatch that binds it), so a kernel may also read it as a zero bias */
    VkBuffer unused_buffer;
    VkDeviceMemory unused_memory;
    VkBufferView unused_view[2];
    int unused_zeroed;
    /* set by the recorder: finishes recorded work before a tensor's views are destroyed */
    void (*finish_work)(ctvk_ctx *ctx);
} ctvk_memory;

struct ctvk_tensor {
    ctvk_ctx *ctx;
    ctvk_tensor *parent;      /* non-NULL for views */
    ctvk_block *block;
    uint64_t offset, bytes;   /* within block->buffer */
    ctvk_dtype dtype;
    ctvk_shape shape;
    size_t count;
    VkBufferView texel_view;  /* created on first texel-buffer binding */
    VkBufferView texel_view4; /* 4-component view, created on first 'q' binding */
    int views_alive;
    char name[64];
};

ctvk_status ctvk__memory_init(ctvk_ctx *ctx);
void ctvk__memory_destroy(ctvk_ctx *ctx);
/* Bytes of device memory this context may hold in all: [device] memory_limit, else the heap's budget. */
uint64_t ctvk__memory_budget(const ctvk_ctx *ctx);
/* A texel-buffer view of t in its natural format (R32F, R16F, R16U, R32U), created once. With
 * head, a tensor larger than a texel buffer gets a view of its first maxTexelBufferElements
 * elements (for kernels that read only its head) instead of an error. */
ctvk_status ctvk__tensor_texel_view(ctvk_tensor *t, int head, VkBufferView *out);
/* The view_keys quirk (memory.c): the VkBuffer size of a block of `size` usable bytes, and the
 * range of a texel view of t whose exact range is `range` (texels of `texel` bytes). */
uint64_t ctvk__buffer_bytes(const ctvk_memory *m, uint64_t size);
uint64_t ctvk__view_range(const ctvk_tensor *t, uint64_t range, uint64_t texel);
/* A 4-component texel-buffer view of t (fp32, fp16 or u32), created once; head as above. */
ctvk_status ctvk__tensor_texel_view4(ctvk_tensor *t, int head, VkBufferView *out);
/* The texel view bound where a kernel's parameter binding ('u', 'v') is NULL: CTVK_ZERO_BYTES of
 * zeros once the recorder has filled it (ctvk__dispatch does before the first dispatch that binds it),
 * so a kernel may read it as a zero bias of up to CTVK_ZERO_FLOATS values. */
#define CTVK_ZERO_BYTES 16384
#define CTVK_ZERO_FLOATS (CTVK_ZERO_BYTES / 4)
ctvk_status ctvk__unused_view(ctvk_ctx *ctx, int vec4, VkBufferView *out);
/* A staging buffer of at least `bytes` (grown to a power of two of at least 1 MiB), mapped. */
ctvk_status ctvk__staging_reserve(ctvk_ctx *ctx, uint64_t bytes);

/* ------------------------------------------------------------------ pipelines */
/* Binding kinds of a kernel's descriptor set, one char per binding:
 *   't' an input: a uniform texel buffer where the tensor fits one, else (the kernel's storage
 *       twin, NAME.ssbo) a read-only storage buffer; the shader declares it with CTVK_IN. On a
 *       device with image_inputs, every texel binding below is a storage texel buffer instead
 *       (the NAME.img build; ctvk__texel_type)
 *   'q' the same through a 4-component view (RGBA32F / RGBA16F / RGBA32UI: one fetch returns 4
 *       consecutive elements; the view covers the whole 4-element groups only); vec4[] as storage
 *   'u' a small input (per-channel parameters, statistics): always a uniform texel buffer, which
 *       every device offers for up to 65536 elements; 'v' the same through a 4-component view
 *   'h', 'H' like 'u', 'v' for a kernel that reads only the tensor's first 65536 elements (a view
 *       of that head where the whole tensor does not fit)
 *   'r' storage buffer, read         'w' storage buffer, written
 *   'b' storage buffer, read and written
 * Where an input goes ('t', 'q': texel buffer or storage buffer) is decided per dispatch, from the
 * tensors bound, in one place: ctvk__dispatch (runtime/vk/recorder.c). */
static inline int ctvk__sig_texel(char c) { return c == 't' || c == 'q' || c == 'u' || c == 'v' || c == 'h' || c == 'H'; }
static inline int ctvk__sig_vec4(char c) { return c == 'q' || c == 'v' || c == 'H'; }
#define CTVK_MAX_BINDINGS 12
#define CTVK_MAX_SPEC 16

typedef struct ctvk_pipeline {
    char key[160];
    char name[64];
    char sig[CTVK_MAX_BINDINGS + 1];
    uint32_t push_size;
    int32_t spec[CTVK_MAX_SPEC];
    int nspec;
    int img;                      /* the NAME.img build: texel inputs are storage texel buffers */
    uint32_t img_sampled;         /* of an img pipeline: the bindings its SPIR-V keeps uniform texel buffers */
    struct ctvk_pipeline *twin;   /* the storage-buffer form, once needed */
    struct ctvk_pipeline *sampled; /* of an img pipeline: the uniform-texel-buffer form, once needed */
    uint64_t create_ns;           /* host time of its vkCreateComputePipelines (startup profile) */
    uint64_t invocations;         /* per workgroup, from its SPIR-V */
    uint32_t nstorage;            /* storage-buffer bindings */
    int cache_hit;                /* the driver said it came from the pipeline cache */
    const void *shader;           /* its embedded SPIR-V (ctvk_embedded_shader) */
    int ordinal;                  /* its place in the context's table */
    int dry_skip;                 /* of a dry context: another helper compiles it */
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} ctvk_pipeline;

/* The pipeline of shader `name` with these specialization constants (constant_id = index),
 * created once per context and then reused. On a device with image_inputs its NAME.img build,
 * where the kernel binds no more texel inputs than storage texel buffers may be bound. */
ctvk_status ctvk__pipeline_get(ctvk_ctx *ctx, const char *name, const char *sig, uint32_t push_size,
                               const int32_t *spec, int nspec, ctvk_pipeline **out);
/* Creates a pipeline that is still a description (a dry context's, at its first dispatch). */
ctvk_status ctvk__pipeline_realize(ctvk_ctx *ctx, ctvk_pipeline *p);
ctvk_status ctvk__pipeline_cache_open(ctvk_ctx *ctx);
/* The storage-buffer form of p (its 't'/'q' inputs as storage buffers), created once. */
ctvk_status ctvk__pipeline_storage_twin(ctvk_ctx *ctx, ctvk_pipeline *p, ctvk_pipeline **out);
/* The uniform-texel-buffer form of an img pipeline (for fp16 inputs, which it cannot read), created once. */
ctvk_status ctvk__pipeline_sampled_twin(ctvk_ctx *ctx, ctvk_pipeline *p, ctvk_pipeline **out);
/* The descriptor type of p's texel binding `binding` ('t', 'q', 'u', 'v', 'h', 'H'). */
static inline VkDescriptorType ctvk__texel_type(const ctvk_pipeline *p, int binding)
{
    return p->img && !(p->img_sampled >> binding & 1) ? VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER
                                                        : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
}
void ctvk__pipelines_destroy(ctvk_ctx *ctx);
/* Waits until ctvk_prewarm's worker has gone through its list (tests): the pipelines it made that
 * no dispatch has taken yet. */
int ctvk__prewarm_join(ctvk_ctx *ctx);
/* Whether ctvk_prewarm was called and found no list: a cold start (no earlier run of this workload
 * with this cache folder, so the driver's own cache is likely cold too). */
int ctvk__prewarm_cold(const ctvk_ctx *ctx);
/* On a cold start (above), gives ctvk_prewarm's worker a list after all (the compile helpers',
 * once they are done): it creates those pipelines ahead as it does a list read from disk. */
void ctvk__prewarm_list(ctvk_ctx *ctx, char (*keys)[160], int n);

/* ------------------------------------------------------------------ recording */
typedef struct ctvk_range { VkBuffer buf; uint64_t lo, hi; } ctvk_range;

typedef struct ctvk_recorder {
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;
    uint32_t dispatches_in_cmd;
    /* accesses since the last barrier, for hazard tracking */
    ctvk_range *reads, *writes;
    int nreads, nwrites, capr, capw;
    int host_dirty;             /* device writes not yet made visible to the host */
    /* pooled descriptor sets (no push descriptors) */
    VkDescriptorPool dpool;
    /* timestamps */
    VkQueryPool qpool;
    uint32_t qcount, qcap;
    char (*qlabels)[96];        /* label of the dispatch ending at query i */
    /* labels */
    char label_stack[8][96];
    int label_depth;
} ctvk_recorder;

typedef struct ctvk_binding {
    const ctvk_tensor *t;
} ctvk_binding;

/* Records one dispatch of pipeline p over groups (gx, gy, gz) with these tensors bound in
 * order of p->sig, inserting a barrier first only if a binding conflicts with an earlier access.
 * A 'u' or 'v' binding the kernel does not read may be NULL. */
ctvk_status ctvk__dispatch(ctvk_ctx *ctx, ctvk_pipeline *p, const ctvk_tensor *const *bindings,
                           const void *push, uint32_t gx, uint32_t gy, uint32_t gz);
/* The host address of a tensor's data when the device memory is host-visible and coherent (unified
 * memory: integrated GPUs, lavapipe), else NULL. The caller waits for recorded work first
 * (ctvk_sync); writes through it are seen by work recorded afterwards. */
void *ctvk__tensor_host(ctvk_tensor *t);
/* The same, only where that memory is also host-cached (lavapipe, SwiftShader: the device is the
 * CPU), so that the host may read it back as fast as its own: NULL elsewhere (write-combined
 * memory, staging). Reading a file straight into it saves a host copy of the data. */
void *ctvk__tensor_host_cached(ctvk_tensor *t);
/* A tensor of `bytes` (fp32 elements) over host memory the caller mapped (mmap: `map`, map_bytes,
 * both multiples of ctx->host_import_align, at least ctvk__buffer_bytes of bytes), imported as
 * device memory (VK_EXT_external_memory_host; ctx->host_import). The tensor's block owns the
 * mapping from then on, also when this fails: it is unmapped after the memory is freed. */
ctvk_status ctvk__tensor_import_host(ctvk_ctx *ctx, void *map, size_t map_bytes, uint64_t bytes, const char *name,
                                     ctvk_tensor **out);
/* The folder of ctvk's caches (CTVK_CACHE_DIR, else the documented location), or NULL: none. */
char *ctvk__cache_dir(const ctvk_ctx *ctx);
/* The bytes of a mapping ctvk__tensor_import_host needs for a tensor of `bytes`. */
uint64_t ctvk__import_bytes(const ctvk_ctx *ctx, uint64_t bytes);
/* Marks an imported tensor's memory read only (a weights cache entry, mapped PROT_READ): uploads
 * into it and dispatches that write it are refused. */
void ctvk__block_read_only(ctvk_tensor *t);

/* ------------------------------------------------------------------ the weights cache
 * A CPU device's prepared weights in files of ctvk's cache folder, mapped into device memory by
 * later runs (runtime/vk/weights_cache.c, which says why and how it is checked). */
#define CTVK_WCACHE_PARTS 2
typedef struct ctvk_wcache_entry {
    char *path;                           /* the entry's file; NULL: no cache */
    uint64_t key;
    int nparts;
    uint64_t bytes[CTVK_WCACHE_PARTS];
    int fd1;                              /* a miss: the new entry's file + 1, not yet under its name (0: none) */
    char *tmp;                            /* its temporary name (NULL: unnamed, O_TMPFILE) */
} ctvk_wcache_entry;
/* Whether ctx keeps prepared weights on disk: a CPU device that imports host memory, device memory
 * the host reads, CTVK_WEIGHTS_CACHE_MB not 0 (and, for an entry, a cache folder). */
int ctvk__wcache_on(const ctvk_ctx *ctx);
/* Looks up the entry of key (the caller's hash of everything the weights are made from) with
 * nparts parts of bytes[i] (fp32): 1 on a hit, t[i] then imported read-only tensors named
 * names[i] holding the stored values (checksums verified). 0 on a miss: with a cache folder t[i]
 * are writable tensors over the new entry's file (space reserved), which the caller fills and
 * ctvk__wcache_put then stores, else NULL (the caller makes its own). Never an error: what made a
 * miss is in the stats (weights_cache_state, weights_cache_note). Free e with
 * ctvk__wcache_entry_free after the tensors. */
int ctvk__wcache_get(ctvk_ctx *ctx, uint64_t key, int nparts, const uint64_t *bytes, const char *const *names,
                     ctvk_tensor **t, ctvk_wcache_entry *e);
/* Stores a miss's tensors t (those ctvk__wcache_get gave; the work that wrote them finished) as
 * e's entry: checksums, header, its name; then removes the least recently used entries beyond
 * the cap. Failures only skip the entry. */
void ctvk__wcache_put(ctvk_ctx *ctx, ctvk_wcache_entry *e, ctvk_tensor *const *t);
/* Closes e; a new entry that was not stored is removed. */
void ctvk__wcache_entry_free(ctvk_wcache_entry *e);
/* Records a buffer copy (staging <-> tensor) with the same hazard tracking. */
ctvk_status ctvk__record_copy(ctvk_ctx *ctx, VkBuffer src, uint64_t src_off, VkBuffer dst,
                              uint64_t dst_off, uint64_t bytes);
ctvk_status ctvk__recorder_init(ctvk_ctx *ctx);
void ctvk__recorder_destroy(ctvk_ctx *ctx);
int ctvk__recorder_busy(const ctvk_ctx *ctx);

/* ------------------------------------------------------------------ renderdoc */
void ctvk__renderdoc_init(ctvk_ctx *ctx);

/* ------------------------------------------------------------------ the context */
struct ctvk_ctx {
    ctvk_options opt;
    void *loader;                 /* dlopen handle of the Vulkan loader */
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    int debug_utils;
    int debug_labels;             /* debug-utils labels in command buffers (off under the clamp) */
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    ctvk_device_info info;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    int push_descriptors;
    int pipeline_feedback;
    int host_import;              /* VK_EXT_external_memory_host on a CPU device (the weights cache) */
    uint64_t host_import_align;   /* its minImportedHostPointerAlignment */
    ctvk_variant variant;
    uint32_t max_dispatches_per_submit;
    volatile uint32_t validation_messages;
    int lost;

    ctvk_memory mem;
    ctvk_recorder rec;

    /* pipelines */
    ctvk_pipeline **pipelines;
    int npipelines, cap_pipelines;
    VkPipelineCache pcache;
    char *pcache_path;
    struct ctvk_prewarm *prewarm; /* the worker creating a workload's pipelines ahead (pipeline.c) */
    uint64_t shader_set_hash;

    /* profile */
    ctvk_profile_row *prof;
    int nprof, cap_prof;
    double prof_total_ms;

    /* renderdoc */
    void *rdoc_api;
    int capturing;
    char capture_path[1024];

    ctvk_stats stats;

    /* compile helpers (runtime/train/helpers.c). A dry context is one helper: it shares the main
     * context's instance and physical device (borrowed, not destroyed) and moves no data. Its
     * pipelines are descriptions until their first dispatch; there it claims the pipeline
     * (dry_claim with its table ordinal, the same in every helper: the first helper to ask gets
     * it), creates it, records the dispatch with zero workgroups, which a driver that compiles at
     * the first dispatch still compiles, and submits and waits before it claims the next: the
     * helpers share the kernels as they come, each taking the next while the others compile.
     * The main context joins its helpers (helpers_join) before its first submit and when it is
     * destroyed. */
    int dry, borrowed_instance;
    int (*dry_claim)(void *arg, int ordinal);
    void *dry_claim_arg;
    void (*helpers_join)(ctvk_ctx *ctx);
    void *helpers;
};

/* A dry context for a compile helper whose claims go to claim(claim_arg, ordinal) (see above), with
 * main's options but no disk pipeline cache, RenderDoc or profiling. Validation messages count on
 * main. */
ctvk_status ctvk__ctx_create_dry(ctvk_ctx *main, int (*claim)(void *arg, int ordinal), void *claim_arg,
                                 ctvk_ctx **out);
/* Joins main's compile helpers, if any are running (the recorder, before a submit). */
void ctvk__helpers_join(ctvk_ctx *ctx);

/* Creates the instance (and messenger) of a context, shared with ctvk_list_devices. */
ctvk_status ctvk__instance_create(ctvk_ctx *ctx);
void ctvk__instance_destroy(ctvk_ctx *ctx);
void ctvk__device_info(VkPhysicalDevice pd, int index, int minimum, ctvk_device_info *info);

/* runtime/vk/limits.c: the limits clamp, the quirks table. */
ctvk_status ctvk__limits_wanted(const ctvk_options *o, int *minimum);
void ctvk__limits_clamp(VkPhysicalDeviceLimits *L, ctvk_device_info *info);
void ctvk__limits_to_info(const VkPhysicalDeviceLimits *L, ctvk_device_info *info);
void ctvk__quirks_apply(ctvk_device_info *info);
/* The kernel family the quirks table gives this device, or CTVK_VARIANT_AUTO. */
ctvk_variant ctvk__quirks_variant(const ctvk_device_info *info);
/* Whether texel views get the sizes of ctvk__view_range (runtime/vk/memory.c; the quirks table). */
int ctvk__quirks_view_keys(const ctvk_device_info *info);
/* Whether the quirks table has kernels read their inputs as storage texel buffers (NAME.img). */
int ctvk__quirks_image_inputs(const ctvk_device_info *info);
/* Whether the driver compiles a kernel at its first dispatch rather than at pipeline creation
 * (so compile helpers must dispatch; runtime/train/helpers.c). */
int ctvk__quirks_compiles_at_dispatch(const ctvk_device_info *info);

#endif
