/* Device memory: large blocks, each one VkBuffer sub-allocated by runtime/base/suballoc.c; tensors and
 * views; the staging buffer; the memory budget, checked before any block is allocated. Host
 * transfers, which record copies, are runtime/vk/transfer.c's; memory.c calls nothing of the recorder. */
#include "runtime/base/array.h"
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIB (1024.0 * 1024.0)
static const VkBufferUsageFlags BUFFER_USAGE =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
    VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

size_t ctvk_dtype_size(ctvk_dtype t)
{
    switch (t) {
    case CTVK_F32: case CTVK_U32: return 4;
    case CTVK_F16: case CTVK_U16: return 2;
    }
    return 4;
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* "123 bytes", "4.5 KiB", "224.0 MiB" for messages. */
static const char *human(uint64_t bytes, char buf[32])
{
    if (bytes < 1024) snprintf(buf, 32, "%llu bytes", (unsigned long long)bytes);
    else if (bytes < (1u << 20)) snprintf(buf, 32, "%.1f KiB", (double)bytes / 1024.0);
    else snprintf(buf, 32, "%.1f MiB", (double)bytes / MIB);
    return buf;
}

static int find_type(const ctvk_ctx *ctx, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < ctx->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = ctx->memprops.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & need) == need && !(f & avoid)) return (int)i;
    }
    return -1;
}

/* Bytes of the heap behind our memory type that this process may still use. */
static uint64_t heap_budget(const ctvk_ctx *ctx)
{
    uint32_t heap = ctx->memprops.memoryTypes[ctx->mem.type_index].heapIndex;
    uint64_t size = ctx->memprops.memoryHeaps[heap].size;
    if (ctx->info.memory_budget) {
        VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
        VkPhysicalDeviceMemoryProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &b};
        vkGetPhysicalDeviceMemoryProperties2(ctx->phys, &p2);
        if (b.heapBudget[heap] > 0) {
            uint64_t avail = b.heapBudget[heap] > b.heapUsage[heap] ? b.heapBudget[heap] - b.heapUsage[heap] : 0;
            return ctx->mem.allocated + avail;   /* our own blocks are part of heapUsage */
        }
    }
    return size / 10 * 9;
}

uint64_t ctvk__memory_budget(const ctvk_ctx *ctx) { return ctx->mem.limit ? ctx->mem.limit : heap_budget(ctx); }

ctvk_status ctvk__memory_init(ctvk_ctx *ctx)
{
    ctvk_memory *m = &ctx->mem;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 65536, .usage = BUFFER_USAGE,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VK_TRY(vkCreateBuffer(ctx->device, &bci, NULL, &probe));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, probe, &req);
    vkDestroyBuffer(ctx->device, probe, NULL);

    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags hostc = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    /* CTVK_FORCE_STAGING=1 takes the discrete-GPU path (staging copies) on any device: for tests */
    const char *fs = getenv("CTVK_FORCE_STAGING");
    int force_staging = (fs && *fs && strcmp(fs, "0") != 0) || ctx->info.limits_minimum;
    if (ctx->info.unified_memory && !force_staging) t = find_type(ctx, req.memoryTypeBits, local | hostc, 0);
    if (t >= 0) {
        m->host_visible = 1;
    } else if (force_staging) {
        t = find_type(ctx, req.memoryTypeBits, local, 0);
        if (t < 0) t = find_type(ctx, req.memoryTypeBits, 0, 0);
        if (t < 0) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s has no memory type for storage buffers",
                                     ctx->info.name);
        int st = find_type(ctx, req.memoryTypeBits, hostc, 0);
        if (st < 0) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s has no host-visible memory for staging",
                                      ctx->info.name);
        m->staging_type_index = (uint32_t)st;
    } else {
        t = find_type(ctx, req.memoryTypeBits, local, 0);
        if (t < 0) t = find_type(ctx, req.memoryTypeBits, 0, 0);
        if (t < 0) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s has no memory type for storage buffers",
                                     ctx->info.name);
        VkMemoryPropertyFlags f = ctx->memprops.memoryTypes[t].propertyFlags;
        m->host_visible = (f & hostc) == hostc;
        if (!m->host_visible) {
            int st = find_type(ctx, req.memoryTypeBits, hostc | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
            if (st < 0) st = find_type(ctx, req.memoryTypeBits, hostc, 0);
            if (st < 0) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s has no host-visible memory for staging",
                                          ctx->info.name);
            m->staging_type_index = (uint32_t)st;
        }
    }
    m->type_index = (uint32_t)t;
    const VkPhysicalDeviceLimits *L = &ctx->props.limits;
    m->alignment = max_u64(256, max_u64(req.alignment, max_u64(L->minStorageBufferOffsetAlignment,
                                                               max_u64(L->minTexelBufferOffsetAlignment,
                                                                       L->nonCoherentAtomSize))));
    uint32_t heap = ctx->memprops.memoryTypes[t].heapIndex;
    uint64_t heap_size = ctx->memprops.memoryHeaps[heap].size;
    m->block_size = 64ull << 20;
    while (m->block_size > heap_size / 16 && m->block_size > (4ull << 20)) m->block_size /= 2;
    m->limit = ctx->opt.memory_limit;
    m->view_keys = ctvk__quirks_view_keys(&ctx->info);
    return CTVK_OK;
}

static void block_free(ctvk_ctx *ctx, ctvk_block *b)
{
    if (b->mapped && !b->host_map) vkUnmapMemory(ctx->device, b->memory);
    if (b->buffer) vkDestroyBuffer(ctx->device, b->buffer, NULL);
    if (b->memory) vkFreeMemory(ctx->device, b->memory, NULL);
    if (b->host_map) munmap(b->host_map, b->host_map_bytes);
    ctvk_suballoc_destroy(&b->sa);
    free(b);
}

static void staging_free(ctvk_ctx *ctx)
{
    ctvk_memory *m = &ctx->mem;
    if (m->staging_mapped) vkUnmapMemory(ctx->device, m->staging_memory);
    if (m->staging_buffer) vkDestroyBuffer(ctx->device, m->staging_buffer, NULL);
    if (m->staging_memory) vkFreeMemory(ctx->device, m->staging_memory, NULL);
    m->staging_mapped = NULL;
    m->staging_buffer = VK_NULL_HANDLE;
    m->staging_memory = VK_NULL_HANDLE;
    m->staging_size = 0;
}

void ctvk__memory_destroy(ctvk_ctx *ctx)
{
    ctvk_memory *m = &ctx->mem;
    if (!ctx->device) return;
    for (int i = 0; i < m->nblocks; i++) block_free(ctx, m->blocks[i]);
    free(m->blocks);
    m->blocks = NULL;
    m->nblocks = 0;
    staging_free(ctx);
    for (int i = 0; i < 2; i++)
        if (m->unused_view[i]) vkDestroyBufferView(ctx->device, m->unused_view[i], NULL);
    if (m->unused_buffer) vkDestroyBuffer(ctx->device, m->unused_buffer, NULL);
    if (m->unused_memory) vkFreeMemory(ctx->device, m->unused_memory, NULL);
    m->unused_view[0] = m->unused_view[1] = VK_NULL_HANDLE;
    m->unused_zeroed = 0;
    m->unused_buffer = VK_NULL_HANDLE;
    m->unused_memory = VK_NULL_HANDLE;
}

static ctvk_status make_buffer(ctvk_ctx *ctx, uint64_t size, uint32_t type, VkBufferUsageFlags usage,
                               VkBuffer *buf, VkDeviceMemory *mem, void **mapped);

/* With the view_keys quirk (runtime/vk/limits.c), every texel view tells the driver the same two
 * things: that the VkBuffer under it is not a power of two in size, and that the view's byte size
 * has a non-zero bit among bits 8-15. A tensor is given its bytes rounded up to 256, plus 256 where
 * those bits would be zero, and its views cover all of that (what lies past its elements is its own
 * and never read). A view into a tensor (ctvk_tensor_view) whose exact range has those bits zero
 * reaches 256 bytes further, into bytes of its block that it never reads (the kernels clamp their
 * indices to the elements): every block's VkBuffer has 256 bytes past its usable size for the view
 * that ends there, and is then made no power of two. A view of more texels than the device allows
 * keeps its range. */
static uint64_t key_bytes(const ctvk_memory *m, uint64_t bytes)
{
    if (!m->view_keys) return bytes;
    uint64_t r = (bytes + 255) / 256 * 256;
    return ((r >> 8) & 255) ? r : r + 256;
}

uint64_t ctvk__buffer_bytes(const ctvk_memory *m, uint64_t size)
{
    if (!m->view_keys) return size;
    size += 256;
    while (!(size & (size - 1))) size += 256;
    return size;
}

uint64_t ctvk__view_range(const ctvk_tensor *t, uint64_t range, uint64_t texel)
{
    const ctvk_ctx *ctx = t->ctx;
    if (!ctx->mem.view_keys) return range;
    uint64_t r = range;
    if (!t->parent) r = key_bytes(&ctx->mem, t->bytes);
    else if (!((r >> 8) & 255)) r += 256;
    int fits = t->offset + r <= ctvk__buffer_bytes(&ctx->mem, t->block->size);
    return fits && r >= range && r % texel == 0 && r / texel <= ctx->props.limits.maxTexelBufferElements ? r : range;
}

/* A texel view of CTVK_ZERO_BYTES (R32F, or RGBA32F with vec4) for a NULL parameter binding, outside
 * the tensor allocator (it is no tensor and costs no block), created once; the recorder zeroes it. */
ctvk_status ctvk__unused_view(ctvk_ctx *ctx, int vec4, VkBufferView *out)
{
    ctvk_memory *m = &ctx->mem;
    if (!m->unused_buffer)
        CTVK_TRY(make_buffer(ctx, ctvk__buffer_bytes(m, CTVK_ZERO_BYTES), m->type_index, BUFFER_USAGE, &m->unused_buffer,
                             &m->unused_memory, NULL));
    if (!m->unused_view[vec4 != 0]) {
        VkBufferViewCreateInfo vci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = m->unused_buffer,
                                      .format = vec4 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32_SFLOAT,
                                      .offset = 0, .range = CTVK_ZERO_BYTES};
        VK_TRY(vkCreateBufferView(ctx->device, &vci, NULL, &m->unused_view[vec4 != 0]));
    }
    *out = m->unused_view[vec4 != 0];
    return CTVK_OK;
}

/* A device buffer bound to fresh memory of the given type; `what` names it in errors. */
static ctvk_status make_buffer(ctvk_ctx *ctx, uint64_t size, uint32_t type, VkBufferUsageFlags usage,
                               VkBuffer *buf, VkDeviceMemory *mem, void **mapped)
{
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VK_TRY(vkCreateBuffer(ctx->device, &bci, NULL, buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, *buf, &req);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = type};
    VkResult r = ctvk__fault("allocate") ? VK_ERROR_OUT_OF_DEVICE_MEMORY : vkAllocateMemory(ctx->device, &mai, NULL, mem);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(ctx->device, *buf, *mem, 0);
    if (r == VK_SUCCESS && mapped) r = vkMapMemory(ctx->device, *mem, 0, VK_WHOLE_SIZE, 0, mapped);
    /* on a CPU device the mapped memory is the tensors' own: its first touch in huge pages */
    if (r == VK_SUCCESS && mapped && ctx->info.type == CTVK_DEVICE_CPU) ctvk__advise_huge(*mapped, req.size);
    if (r != VK_SUCCESS) {
        if (*mem) vkFreeMemory(ctx->device, *mem, NULL);
        vkDestroyBuffer(ctx->device, *buf, NULL);
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
        char a[32], b[32];
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
            return ctvk__fail(CTVK_ERR_DEVICE_MEMORY,
                              "out of device memory allocating %s on %s (%s already allocated): "
                              "use a smaller batch or input size", human(size, a), ctx->info.name,
                              human(ctx->mem.allocated, b));
        return ctvk__vk_fail(r, "vkAllocateMemory");
    }
    return CTVK_OK;
}

/* Whether a block of `size` bytes for tensor t fits the budget: CTVK_OK, else the refusal naming t. */
static ctvk_status budget_check(ctvk_ctx *ctx, uint64_t size, const ctvk_tensor *t)
{
    const ctvk_memory *m = &ctx->mem;
    uint64_t limit = ctvk__memory_budget(ctx);
    char h1[32], h2[32], h3[32];
    if (m->allocated + size <= limit) return CTVK_OK;
    return ctvk__fail(CTVK_ERR_DEVICE_MEMORY,
                      "tensor '%s' of %s does not fit the device memory budget: %s are allocated "
                      "and the budget on %s is %s; use a smaller batch or input size, or raise "
                      "[device] memory_limit_mb", t->name, human(t->bytes, h1),
                      human(m->allocated, h2), ctx->info.name, human(limit, h3));
}

/* A new block of `size` bytes for tensor t (named, with its size, when the budget refuses it). */
static ctvk_status block_new(ctvk_ctx *ctx, uint64_t size, int dedicated, const ctvk_tensor *t, ctvk_block **out)
{
    ctvk_memory *m = &ctx->mem;
    CTVK_TRY(budget_check(ctx, size, t));
    CTVK__GROW(m->blocks, m->cap, m->nblocks + 1, 16, return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"));
    ctvk_block *b = calloc(1, sizeof *b);
    if (!b || ctvk_suballoc_init(&b->sa, size)) {
        free(b);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    b->size = size;
    b->dedicated = dedicated;
    ctvk_status s = make_buffer(ctx, ctvk__buffer_bytes(m, size), m->type_index, BUFFER_USAGE, &b->buffer, &b->memory,
                                m->host_visible ? &b->mapped : NULL);
    if (s) { ctvk_suballoc_destroy(&b->sa); free(b); return s; }
    m->blocks[m->nblocks++] = b;
    m->allocated += size;
    *out = b;
    return CTVK_OK;
}

static void block_release_if_empty(ctvk_ctx *ctx, ctvk_block *b)
{
    ctvk_memory *m = &ctx->mem;
    if (b->sa.used != 0) return;
    /* keep one general block around for reuse; give dedicated and surplus blocks back */
    int general = 0;
    for (int i = 0; i < m->nblocks; i++) general += !m->blocks[i]->dedicated;
    if (!b->dedicated && general <= 1) return;
    for (int i = 0; i < m->nblocks; i++) {
        if (m->blocks[i] != b) continue;
        m->blocks[i] = m->blocks[--m->nblocks];
        m->allocated -= b->size;
        block_free(ctx, b);
        return;
    }
}

static int shape_ok(ctvk_shape s) { return s.n > 0 && s.h > 0 && s.w > 0 && s.c > 0; }

static ctvk_status count_of(ctvk_shape s, ctvk_dtype dt, const char *name, size_t *count, uint64_t *bytes)
{
    if (!shape_ok(s))
        return ctvk__fail(CTVK_ERR_ARG, "tensor '%s': bad shape %dx%dx%dx%d", name, s.n, s.h, s.w, s.c);
    uint64_t c = (uint64_t)s.n * (uint64_t)s.h;
    if (c > (1ull << 40) / (uint64_t)s.w) goto big;
    c *= (uint64_t)s.w;
    if (c > (1ull << 40) / (uint64_t)s.c) goto big;
    c *= (uint64_t)s.c;
    *count = (size_t)c;
    *bytes = c * ctvk_dtype_size(dt);
    return CTVK_OK;
big:
    return ctvk__fail(CTVK_ERR_ARG, "tensor '%s': shape %dx%dx%dx%d is too large", name, s.n, s.h, s.w, s.c);
}

static void set_name(ctvk_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name ? name : "tensor");
}

ctvk_status ctvk_tensor_create(ctvk_ctx *ctx, ctvk_dtype dt, ctvk_shape shape, const char *name, ctvk_tensor **out)
{
    *out = NULL;
    size_t count;
    uint64_t bytes;
    CTVK_TRY(count_of(shape, dt, name ? name : "tensor", &count, &bytes));
    ctvk_memory *m = &ctx->mem;
    ctvk_tensor *t = calloc(1, sizeof *t);
    if (!t) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    set_name(t, name);
    t->ctx = ctx;
    t->dtype = dt;
    t->shape = shape;
    t->count = count;
    t->bytes = bytes;
    int64_t off = -1;
    ctvk_block *b = NULL;
    bytes = key_bytes(m, bytes);   /* what the tensor is given (t->bytes stays what it holds) */
    if (bytes <= m->block_size / 2) {
        for (int i = 0; i < m->nblocks && off < 0; i++) {
            if (m->blocks[i]->dedicated) continue;
            off = ctvk_suballoc_alloc(&m->blocks[i]->sa, bytes, m->alignment);
            if (off >= 0) b = m->blocks[i];
        }
        if (off < 0) {
            ctvk_status s = block_new(ctx, m->block_size, 0, t, &b);
            if (s == CTVK_ERR_DEVICE_MEMORY && m->allocated + bytes <= (m->limit ? m->limit : heap_budget(ctx)))
                s = block_new(ctx, (bytes + m->alignment - 1) / m->alignment * m->alignment, 1, t, &b);
            if (s) { free(t); return s; }
            off = ctvk_suballoc_alloc(&b->sa, bytes, m->alignment);
        }
    } else {
        ctvk_status s = block_new(ctx, (bytes + m->alignment - 1) / m->alignment * m->alignment, 1, t, &b);
        if (s) { free(t); return s; }
        off = ctvk_suballoc_alloc(&b->sa, bytes, m->alignment);
    }
    if (off < 0) { free(t); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    t->block = b;
    t->offset = (uint64_t)off;
    m->in_use += (bytes + m->alignment - 1) / m->alignment * m->alignment;
    if (m->in_use > m->peak) m->peak = m->in_use;
    m->tensors_alive++;
    *out = t;
    return CTVK_OK;
}

ctvk_status ctvk_tensor_view(ctvk_tensor *parent, size_t first, ctvk_shape shape, const char *name, ctvk_tensor **out)
{
    *out = NULL;
    size_t count;
    uint64_t bytes;
    CTVK_TRY(count_of(shape, parent->dtype, name ? name : "view", &count, &bytes));
    if (first > parent->count || count > parent->count - first)
        return ctvk__fail(CTVK_ERR_ARG, "view '%s' [%zu, %zu) is outside tensor '%s' of %zu elements",
                          name ? name : "view", first, first + count, parent->name, parent->count);
    ctvk_tensor *t = calloc(1, sizeof *t);
    if (!t) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    set_name(t, name);
    t->ctx = parent->ctx;
    t->parent = parent;
    t->block = parent->block;
    t->offset = parent->offset + first * ctvk_dtype_size(parent->dtype);
    t->dtype = parent->dtype;
    t->shape = shape;
    t->count = count;
    t->bytes = bytes;
    parent->views_alive++;
    *out = t;
    return CTVK_OK;
}

void ctvk_tensor_destroy(ctvk_tensor *t)
{
    if (!t) return;
    ctvk_ctx *ctx = t->ctx;
    if (t->texel_view || t->texel_view4) {
        /* a recorded command may still use the view: the recorder finishes it first */
        if (ctx->mem.finish_work) ctx->mem.finish_work(ctx);
        if (t->texel_view) vkDestroyBufferView(ctx->device, t->texel_view, NULL);
        if (t->texel_view4) vkDestroyBufferView(ctx->device, t->texel_view4, NULL);
    }
    if (t->parent) {
        t->parent->views_alive--;
    } else {
        ctvk_memory *m = &ctx->mem;
        uint64_t given = key_bytes(m, t->bytes);
        (void)ctvk_suballoc_free(&t->block->sa, t->offset, given, m->alignment);
        m->in_use -= (given + m->alignment - 1) / m->alignment * m->alignment;
        m->tensors_alive--;
        block_release_if_empty(ctx, t->block);
    }
    free(t);
}

/* A dedicated block over the caller's mapping, imported (VK_EXT_external_memory_host). */
static ctvk_status block_import(ctvk_ctx *ctx, void *map, size_t map_bytes, uint64_t size, const ctvk_tensor *t,
                                ctvk_block **out)
{
    ctvk_memory *m = &ctx->mem;
    uint64_t a = ctx->host_import_align;
    ctvk_status s = CTVK_OK;
    if (!ctx->host_import || !a || (uintptr_t)map % a || map_bytes % a || ctvk__buffer_bytes(m, size) > map_bytes)
        s = ctvk__fail(CTVK_ERR_ARG, "tensor '%s': host memory at %p (%zu bytes) cannot be imported on %s", t->name,
                       map, map_bytes, ctx->info.name);
    else
        s = budget_check(ctx, size, t);
    const VkExternalMemoryHandleTypeFlagBits ht = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    VkMemoryHostPointerPropertiesEXT hp = {.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
    VkResult r = s ? VK_SUCCESS : vkGetMemoryHostPointerPropertiesEXT(ctx->device, ht, map, &hp);
    if (!s && r != VK_SUCCESS) s = ctvk__vk_fail(r, "vkGetMemoryHostPointerPropertiesEXT");
    else if (!s && !(hp.memoryTypeBits & (1u << m->type_index)))
        s = ctvk__fail(CTVK_ERR_UNSUPPORTED, "device %s cannot import host memory into its tensors' memory type %u",
                       ctx->info.name, m->type_index);
    ctvk_block *b = NULL;
    if (!s) {
        CTVK__GROW(m->blocks, m->cap, m->nblocks + 1, 16, s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"));
    }
    if (!s && (!(b = calloc(1, sizeof *b)) || ctvk_suballoc_init(&b->sa, size))) {
        free(b);
        s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    if (s) {   /* the mapping is this function's either way */
        munmap(map, map_bytes);
        return s;
    }
    b->size = size;
    b->dedicated = 1;
    b->host_map = map;   /* freed with the block from here on */
    b->host_map_bytes = map_bytes;
    VkExternalMemoryBufferCreateInfo ebi = {.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
                                            .handleTypes = (VkExternalMemoryHandleTypeFlags)ht};
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .pNext = &ebi,
                              .size = ctvk__buffer_bytes(m, size), .usage = BUFFER_USAGE,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    r = vkCreateBuffer(ctx->device, &bci, NULL, &b->buffer);
    VkMemoryRequirements req = {0};
    if (r == VK_SUCCESS) {
        vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
        if (req.size > map_bytes || !(req.memoryTypeBits & (1u << m->type_index))) r = VK_ERROR_INVALID_EXTERNAL_HANDLE;
    }
    VkImportMemoryHostPointerInfoEXT imp = {.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT,
                                            .handleType = ht, .pHostPointer = map};
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &imp,
                                .allocationSize = map_bytes, .memoryTypeIndex = m->type_index};
    if (r == VK_SUCCESS) r = ctvk__fault("allocate") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                     : vkAllocateMemory(ctx->device, &mai, NULL, &b->memory);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
    if (r != VK_SUCCESS) {
        block_free(ctx, b);
        return ctvk__vk_fail(r, "importing host memory (vkAllocateMemory, VK_EXT_external_memory_host)");
    }
    b->mapped = map;
    m->blocks[m->nblocks++] = b;
    m->allocated += size;
    *out = b;
    return CTVK_OK;
}

uint64_t ctvk__import_bytes(const ctvk_ctx *ctx, uint64_t bytes)
{
    const ctvk_memory *m = &ctx->mem;
    uint64_t given = key_bytes(m, bytes), size = (given + m->alignment - 1) / m->alignment * m->alignment;
    uint64_t a = ctx->host_import_align ? ctx->host_import_align : 4096;
    return (ctvk__buffer_bytes(m, size) + a - 1) / a * a;
}

void ctvk__block_read_only(ctvk_tensor *t) { t->block->read_only = 1; }

ctvk_status ctvk__tensor_import_host(ctvk_ctx *ctx, void *map, size_t map_bytes, uint64_t bytes, const char *name,
                                     ctvk_tensor **out)
{
    *out = NULL;
    ctvk_memory *m = &ctx->mem;
    ctvk_tensor *t = calloc(1, sizeof *t);
    size_t count = (size_t)(bytes / sizeof(float));
    if (!t || !count || bytes % sizeof(float) || count > (size_t)INT32_MAX) {
        free(t);
        munmap(map, map_bytes);
        return t ? ctvk__fail(CTVK_ERR_ARG, "tensor '%s': %llu bytes cannot be imported as fp32", name ? name : "tensor",
                              (unsigned long long)bytes)
                 : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    set_name(t, name);
    t->ctx = ctx;
    t->dtype = CTVK_F32;
    t->shape = (ctvk_shape){1, 1, 1, (int)count};
    t->count = count;
    t->bytes = bytes;
    uint64_t given = key_bytes(m, bytes), size = (given + m->alignment - 1) / m->alignment * m->alignment;
    ctvk_block *b = NULL;
    ctvk_status s = block_import(ctx, map, map_bytes, size, t, &b);
    if (s) {
        free(t);
        return s;
    }
    if (ctvk_suballoc_alloc(&b->sa, given, m->alignment) != 0) {   /* the whole block, at offset 0 */
        block_release_if_empty(ctx, b);
        free(t);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    t->block = b;
    m->in_use += size;
    if (m->in_use > m->peak) m->peak = m->in_use;
    m->tensors_alive++;
    *out = t;
    return CTVK_OK;
}

ctvk_shape ctvk_tensor_shape(const ctvk_tensor *t) { return t->shape; }
ctvk_dtype ctvk_tensor_dtype(const ctvk_tensor *t) { return t->dtype; }
size_t ctvk_tensor_count(const ctvk_tensor *t) { return t->count; }
size_t ctvk_tensor_bytes(const ctvk_tensor *t) { return (size_t)t->bytes; }
const char *ctvk_tensor_name(const ctvk_tensor *t) { return t->name; }

ctvk_status ctvk__tensor_texel_view(ctvk_tensor *t, int head, VkBufferView *out)
{
    /* a cached head view must not serve a binding that reads the whole tensor */
    if (!head && t->texel_view && t->count > t->ctx->props.limits.maxTexelBufferElements)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "tensor '%s' has %zu elements, more than the %u a texel buffer may "
                          "have on %s", t->name, t->count, t->ctx->props.limits.maxTexelBufferElements, t->ctx->info.name);
    if (!t->texel_view) {
        ctvk_ctx *ctx = t->ctx;
        if (t->offset % ctx->props.limits.minTexelBufferOffsetAlignment)
            return ctvk__fail(CTVK_ERR_ARG, "tensor '%s' starts at byte %llu, not a multiple of the device's "
                              "texel-buffer alignment %llu", t->name, (unsigned long long)t->offset,
                              (unsigned long long)ctx->props.limits.minTexelBufferOffsetAlignment);
        uint64_t range = t->bytes;
        if (head && t->count > ctx->props.limits.maxTexelBufferElements)
            range = (uint64_t)ctx->props.limits.maxTexelBufferElements * ctvk_dtype_size(t->dtype);
        else if (t->count > ctx->props.limits.maxTexelBufferElements)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "tensor '%s' has %zu elements, more than the %u a texel "
                              "buffer may have on %s", t->name, t->count, ctx->props.limits.maxTexelBufferElements,
                              ctx->info.name);
        VkFormat f = t->dtype == CTVK_F32 ? VK_FORMAT_R32_SFLOAT : t->dtype == CTVK_F16 ? VK_FORMAT_R16_SFLOAT
                     : t->dtype == CTVK_U16 ? VK_FORMAT_R16_UINT : VK_FORMAT_R32_UINT;
        VkBufferViewCreateInfo vci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = t->block->buffer,
                                      .format = f, .offset = t->offset,
                                      .range = ctvk__view_range(t, range, ctvk_dtype_size(t->dtype))};
        VK_TRY(vkCreateBufferView(ctx->device, &vci, NULL, &t->texel_view));
        uint64_t n = range / ctvk_dtype_size(t->dtype);
        if (n > ctx->stats.max_texel_view_elements) ctx->stats.max_texel_view_elements = n;
    }
    *out = t->texel_view;
    return CTVK_OK;
}

ctvk_status ctvk__tensor_texel_view4(ctvk_tensor *t, int head, VkBufferView *out)
{
    if (!head && t->texel_view4 && t->count / 4 > t->ctx->props.limits.maxTexelBufferElements)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "tensor '%s' is too large for a texel buffer on %s", t->name,
                          t->ctx->info.name);
    if (!t->texel_view4) {
        ctvk_ctx *ctx = t->ctx;
        if (t->dtype != CTVK_F32 && t->dtype != CTVK_F16 && t->dtype != CTVK_U32)
            return ctvk__fail(CTVK_ERR_ARG, "tensor '%s': 4-component texel views are for fp32, fp16 and u32", t->name);
        uint64_t texel = 4 * (uint64_t)ctvk_dtype_size(t->dtype), range = t->bytes / texel * texel;
        if (t->offset % ctx->props.limits.minTexelBufferOffsetAlignment || range == 0)
            return ctvk__fail(CTVK_ERR_ARG, "tensor '%s' (byte %llu, %zu elements) cannot have a 4-component texel view",
                              t->name, (unsigned long long)t->offset, t->count);
        if (head && range / texel > ctx->props.limits.maxTexelBufferElements)
            range = (uint64_t)ctx->props.limits.maxTexelBufferElements * texel;
        else if (range / texel > ctx->props.limits.maxTexelBufferElements)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "tensor '%s' is too large for a texel buffer on %s", t->name,
                              ctx->info.name);
        VkBufferViewCreateInfo vci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = t->block->buffer,
                                      .format = t->dtype == CTVK_F32   ? VK_FORMAT_R32G32B32A32_SFLOAT
                                                : t->dtype == CTVK_U32 ? VK_FORMAT_R32G32B32A32_UINT
                                                                       : VK_FORMAT_R16G16B16A16_SFLOAT,
                                      .offset = t->offset, .range = ctvk__view_range(t, range, texel)};
        VK_TRY(vkCreateBufferView(ctx->device, &vci, NULL, &t->texel_view4));
        if (range / texel > ctx->stats.max_texel_view_elements) ctx->stats.max_texel_view_elements = range / texel;
    }
    *out = t->texel_view4;
    return CTVK_OK;
}

/* ------------------------------------------------------------------ staging */
ctvk_status ctvk__staging_reserve(ctvk_ctx *ctx, uint64_t bytes)
{
    ctvk_memory *m = &ctx->mem;
    if (m->staging_size >= bytes) return CTVK_OK;
    staging_free(ctx);
    uint64_t size = 1ull << 20;
    while (size < bytes) size *= 2;
    CTVK_TRY(make_buffer(ctx, size, m->staging_type_index,
                         VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         &m->staging_buffer, &m->staging_memory, &m->staging_mapped));
    m->staging_size = size;
    return CTVK_OK;
}
