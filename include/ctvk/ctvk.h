/* ctvk: convolutional networks on any Vulkan device, for CT-based COVID-19 detection.
 *
 * This header is the runtime's public C API: errors, the device context, device memory and
 * tensors, recording and submitting work, and profiling. Everything returns a ctvk_status; on
 * failure ctvk_error() holds one line that says what went wrong and what to do about it.
 *
 * Promises:
 *  - Every Vulkan call's result is checked; no function aborts the process on bad input or on a
 *    device error. A failure leaves the context usable unless the status is CTVK_ERR_DEVICE_LOST.
 *  - Work recorded with the ctvk_* kernel calls runs in recording order; ctvk_sync() waits for it.
 *  - Host reads and writes of tensor data (ctvk_tensor_upload/download) see all earlier work.
 */
#ifndef CTVK_CTVK_H
#define CTVK_CTVK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ errors */
typedef enum ctvk_status {
    CTVK_OK = 0,
    CTVK_ERR_ARG = -1,          /* a bad argument, setting or input */
    CTVK_ERR_IO = -2,           /* a file could not be read or written */
    CTVK_ERR_FORMAT = -3,       /* a file is corrupt, foreign or of an unsupported kind */
    CTVK_ERR_NOMEM = -4,        /* host memory exhausted */
    CTVK_ERR_NO_LOADER = -5,    /* the Vulkan loader library could not be loaded */
    CTVK_ERR_NO_DEVICE = -6,    /* no (matching) Vulkan device */
    CTVK_ERR_DEVICE_MEMORY = -7,/* device memory exhausted, or the work does not fit the budget */
    CTVK_ERR_DEVICE_LOST = -8,  /* the device was lost: the context must be destroyed */
    CTVK_ERR_UNSUPPORTED = -9,  /* the device lacks a feature, layer or limit the work needs */
    CTVK_ERR_VULKAN = -10,      /* any other Vulkan failure */
    CTVK_ERR_INTERRUPTED = -11, /* stopped by the user (Ctrl-C) */
    CTVK_ERR_DIST = -12         /* an MPI call failed, or another rank of a distributed run failed */
} ctvk_status;

/* The last error message of the calling thread ("" if none). */
const char *ctvk_error(void);
/* The longest message ctvk_error() holds, its NUL included: enough for a few full paths and the cause. */
#define CTVK_ERROR_MAX 16384
/* Returns from the calling function with the status of call when it is not CTVK_OK. */
#define CTVK_TRY(call)                                                         \
    do {                                                                       \
        ctvk_status ctvk_try_s_ = (call);                                      \
        if (ctvk_try_s_ != CTVK_OK) return ctvk_try_s_;                        \
    } while (0)
/* Short name of a status ("CTVK_ERR_IO"). */
const char *ctvk_status_name(ctvk_status s);

/* ------------------------------------------------------------------------------------ options */
typedef enum ctvk_variant {
    CTVK_VARIANT_AUTO = 0,  /* chosen from the device's properties */
    CTVK_VARIANT_GPU = 1,   /* shared-memory tiles, subgroup-size aware */
    CTVK_VARIANT_CPU = 2    /* texel-buffer reads, 8-lane workgroups, register blocking (lavapipe) */
} ctvk_variant;

/* Which device limits and optional features ctvk uses. MINIMUM treats any device as one that
 * reports exactly the Vulkan 1.1 required limits and no optional feature (maxTexelBufferElements
 * 65536, maxPerStageDescriptorStorageBuffers 4, maxComputeWorkGroupInvocations 128, 16 KiB shared
 * memory, 128 MiB storage buffers, 256-byte alignments; no push descriptors, 16-bit storage,
 * float16, timestamps, debug labels or unified memory; staging memory flushed and invalidated as
 * if it were not coherent), so the portable paths run on any device. */
typedef enum ctvk_limits {
    CTVK_LIMITS_AUTO = 0,      /* $CTVK_LIMITS ("device" or "minimum"), else DEVICE */
    CTVK_LIMITS_DEVICE = 1,    /* what the device reports */
    CTVK_LIMITS_MINIMUM = 2    /* the specification's minimums */
} ctvk_limits;

#define CTVK_IMAGE_INPUTS_ALL 2
typedef struct ctvk_options {
    const char *device;        /* index ("1") or name substring ("llvmpipe"), or a comma list of them
                                  (entry `share` modulo its length); NULL: $CTVK_DEVICE, else auto */
    int share;                 /* several processes on one machine (MPI ranks: the local rank): auto
                                  takes the share-th device (modulo) of the best type */
    int validation;            /* 1 on, 0 off, -1 (default): $CTVK_VALIDATION */
    int profile;               /* timestamp queries around every dispatch */
    int renderdoc;             /* capture frames with RenderDoc; -1 (default): $CTVK_RENDERDOC */
    const char *cache_dir;     /* pipeline cache folder; NULL: $CTVK_CACHE_DIR, else $XDG_CACHE_HOME/ctvk
                                  or ~/.cache/ctvk; "" disables the disk cache */
    const char *vulkan_library;/* NULL: $CTVK_VULKAN_LIBRARY, else "libvulkan.so.1" */
    ctvk_variant variant;      /* kernel family for GEMM-like work */
    int no_push_descriptors;   /* use pooled descriptor sets even where push descriptors exist */
    int image_inputs;          /* inputs as storage texel buffers where the quirks table allows it: 0 no,
                                  1 (default) all but the convolutions' A, CTVK_IMAGE_INPUTS_ALL all */
    uint32_t max_dispatches_per_submit; /* split long work (GPU watchdogs); 0: a default per device type */
    uint64_t memory_limit;     /* bytes of device memory this context may use; 0: the heap's budget */
    int compile_helpers;       /* on a cold start, on a driver that compiles kernels at their first
                                  dispatch (lavapipe), ctvk_net_from_checkpoint starts this many helper
                                  devices that compile the network's kernels while the checkpoint is
                                  read; 0 none; -1 (default): 2 */
    ctvk_limits limits;        /* the device's limits, or the specification's minimums */
} ctvk_options;

void ctvk_options_default(ctvk_options *o);

/* ------------------------------------------------------------------------------------ devices */
typedef enum ctvk_device_type {
    CTVK_DEVICE_OTHER = 0, CTVK_DEVICE_INTEGRATED = 1, CTVK_DEVICE_DISCRETE = 2,
    CTVK_DEVICE_VIRTUAL = 3, CTVK_DEVICE_CPU = 4
} ctvk_device_type;

typedef struct ctvk_device_info {
    int index;
    char name[256];
    ctvk_device_type type;
    uint32_t vendor_id, device_id;
    char driver_name[256];
    char driver_info[256];
    uint32_t driver_version, api_version;
    uint64_t heap_size[16];
    int heap_device_local[16];
    int heap_count;
    uint32_t subgroup_size;
    int storage16, float16, int8, cooperative_matrix, push_descriptors, memory_budget, unified_memory;
    uint64_t max_storage_buffer_range;
    uint32_t max_shared_memory, max_workgroup_invocations;
    float timestamp_period;    /* ns per tick; 0 if the compute queue has no timestamps */
    uint32_t max_texel_buffer_elements, max_storage_buffers_per_stage, max_storage_images_per_stage;
    int limits_minimum;        /* the limits above are the specification's minimums (the clamp) */
    int coherent_staging;      /* host-visible memory is written and read without flush/invalidate */
    int image_inputs;          /* inputs can be storage texel buffers (the quirks table; in a context:
                                  they are, with ctvk_options.image_inputs) */
    char quirks[256];          /* what the quirks table says of this device ("" if nothing) */
} ctvk_device_info;

/* One line per choice ctvk makes for this device, with the reason ("storage-buffer inputs for
 * tensors over 65536 elements: maxTexelBufferElements 65536"), '\n'-separated, into buf. */
void ctvk_device_paths(const ctvk_device_info *info, char *buf, size_t n);

const char *ctvk_device_type_name(ctvk_device_type t);

/* Lists the Vulkan devices (*out is malloc'ed; free() it) and which one would be chosen. */
ctvk_status ctvk_list_devices(const ctvk_options *o, ctvk_device_info **out, int *count, int *chosen);

/* ------------------------------------------------------------------------------------ context */
typedef struct ctvk_ctx ctvk_ctx;

ctvk_status ctvk_create(const ctvk_options *o, ctvk_ctx **out);
void ctvk_destroy(ctvk_ctx *ctx);
const ctvk_device_info *ctvk_device(const ctvk_ctx *ctx);
ctvk_variant ctvk_kernel_variant(const ctvk_ctx *ctx);
/* Number of validation-layer messages (warnings and errors) seen so far; tests require 0. */
uint32_t ctvk_validation_messages(const ctvk_ctx *ctx);
/* The same over every context this process created (ctvk exits non-zero when it is not 0). */
uint32_t ctvk_validation_messages_total(void);

typedef struct ctvk_stats {
    uint64_t device_memory_blocks;     /* vkAllocateMemory calls alive */
    uint64_t device_memory_allocated;  /* bytes in those blocks */
    uint64_t device_memory_in_use;     /* bytes handed to live tensors */
    uint64_t device_memory_peak;       /* peak of in_use */
    uint64_t tensors_alive;
    uint64_t pipelines_created;        /* vkCreateComputePipelines calls */
    uint64_t pipeline_create_ns;       /* host time spent in them */
    uint64_t pipeline_cache_hits;      /* creations the driver served from the cache (creation feedback) */
    uint64_t pipelines_prewarmed;      /* of pipelines_created, those ctvk_prewarm's worker made */
    uint64_t prewarm_wait_ns;          /* time a dispatch waited for the worker to finish one */
    uint64_t compile_helpers;          /* helper devices that compiled this context's kernels ahead */
    uint64_t compile_helpers_wait_ns;  /* time the first submit waited for them */
    int pipeline_cache_state;          /* 1 loaded from disk, 0 no file, -1 file rejected */
    char pipeline_cache_note[256];     /* why a cache file was rejected */
    int weights_cache_state;           /* the weights cache (CPU devices): 1 hit, 2 entry written, 0 no entry,
                                        * -1 entry rejected; what and why in the note */
    char weights_cache_note[320];
    int weights_cache_trusted;         /* on a hit: 1 when the entry's checksums were not computed again, as
                                        * they were verified earlier in this boot and the file is unchanged */
    uint64_t submits, dispatches, barriers;
    /* what the device was asked for, for the limits tests: the largest texel-buffer view (elements),
     * workgroup (invocations) and number of storage-buffer bindings of any pipeline created, the
     * dispatches that read their inputs through storage buffers (tensors too large or misaligned
     * for texel buffers), and the flushes and invalidations of non-coherent host memory */
    uint64_t max_texel_view_elements, max_workgroup_invocations, max_storage_bindings;
    uint64_t storage_input_dispatches, host_flushes, host_invalidates;
} ctvk_stats;
void ctvk_get_stats(const ctvk_ctx *ctx, ctvk_stats *s);

/* ------------------------------------------------------------------------------------ tensors */
typedef enum ctvk_dtype { CTVK_F32 = 0, CTVK_F16 = 1, CTVK_U16 = 2, CTVK_U32 = 3 } ctvk_dtype;
size_t ctvk_dtype_size(ctvk_dtype t);

/* A tensor is an NHWC array in device memory: either its own sub-allocation or a view (a
 * contiguous element range) of another tensor. A view must not outlive its parent. */
typedef struct ctvk_tensor ctvk_tensor;

typedef struct ctvk_shape { int n, h, w, c; } ctvk_shape;

ctvk_status ctvk_tensor_create(ctvk_ctx *ctx, ctvk_dtype dt, ctvk_shape shape, const char *name,
                               ctvk_tensor **out);
ctvk_status ctvk_tensor_view(ctvk_tensor *parent, size_t first_elem, ctvk_shape shape,
                             const char *name, ctvk_tensor **out);
void ctvk_tensor_destroy(ctvk_tensor *t);
ctvk_shape ctvk_tensor_shape(const ctvk_tensor *t);
ctvk_dtype ctvk_tensor_dtype(const ctvk_tensor *t);
size_t ctvk_tensor_count(const ctvk_tensor *t);   /* elements */
size_t ctvk_tensor_bytes(const ctvk_tensor *t);
const char *ctvk_tensor_name(const ctvk_tensor *t);
/* Copy between host and tensor (bytes must equal ctvk_tensor_bytes). Waits for recorded work. */
ctvk_status ctvk_tensor_upload(ctvk_tensor *t, const void *src, size_t bytes);
ctvk_status ctvk_tensor_download(ctvk_tensor *t, void *dst, size_t bytes);

/* ------------------------------------------------------------------------------------ work */
/* Kernel calls record work into the context's current command buffer; long work is split into
 * several submits on its own. ctvk_sync submits what is recorded and waits for it. */
ctvk_status ctvk_sync(ctvk_ctx *ctx);
/* Labels group the dispatches that follow (a layer name): they name rows of the profile and
 * appear as VK_EXT_debug_utils regions in RenderDoc. Labels nest. */
void ctvk_label_push(ctvk_ctx *ctx, const char *label);
void ctvk_label_pop(ctvk_ctx *ctx);

/* The kernels themselves (ctvk_fill, ctvk_copy, ctvk_scale_add and the networks' ones) belong to
 * the network layer: ctvk/net.h. */

/* ------------------------------------------------------------------------------------ profiling */
typedef struct ctvk_profile_row {
    char label[96];          /* innermost label, or the kernel name when unlabelled */
    uint32_t dispatches;
    double ms;               /* device time from timestamp queries */
} ctvk_profile_row;

/* Rows accumulated since the last reset (needs options.profile); *rows is malloc'ed. total_ms is
 * the device time from the first to the last timestamp of each submit, summed. */
ctvk_status ctvk_profile_get(ctvk_ctx *ctx, ctvk_profile_row **rows, int *count, double *total_ms);
void ctvk_profile_reset(ctvk_ctx *ctx);

/* RenderDoc in-application capture: between begin and end, the recorded work is one frame.
 * Does nothing unless options.renderdoc and RenderDoc's library is loaded or loadable. */
int ctvk_capture_available(const ctvk_ctx *ctx);
ctvk_status ctvk_capture_begin(ctvk_ctx *ctx);
ctvk_status ctvk_capture_end(ctvk_ctx *ctx);
/* The .rdc file of the last capture ("" if none). $CTVK_RENDERDOC_DIR sets the folder. */
const char *ctvk_capture_path(const ctvk_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
