/* Host transfers of tensors: zero-copy where the device memory is host-visible (lavapipe,
 * integrated GPUs), else through the staging buffer with a recorded copy; both wait for recorded
 * work that may still read or write the tensor. Above memory.c and the recorder, which do not
 * call each other. */
#include "runtime/vk/internal.h"
#include <string.h>

/* Staging memory that is not coherent (or treated so under the limits clamp) is flushed after the
 * host writes it and invalidated before the host reads what the device wrote, in whole
 * nonCoherentAtomSize units (the staging buffer is a power of two of at least 1 MiB, so the
 * rounded range stays inside it). */
static VkMappedMemoryRange staging_range(const ctvk_ctx *ctx, uint64_t bytes)
{
    uint64_t atom = ctx->props.limits.nonCoherentAtomSize ? ctx->props.limits.nonCoherentAtomSize : 1;
    uint64_t size = (bytes + atom - 1) / atom * atom;
    if (size > ctx->mem.staging_size) size = VK_WHOLE_SIZE;
    return (VkMappedMemoryRange){.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = ctx->mem.staging_memory,
                                 .offset = 0, .size = size};
}

/* write: the host wrote the staging buffer (flush); else the device did (invalidate) */
static ctvk_status staging_sync(ctvk_ctx *ctx, uint64_t bytes, int write)
{
    if (ctx->info.coherent_staging) return CTVK_OK;
    VkMappedMemoryRange r = staging_range(ctx, bytes);
    if (write) {
        VK_TRY(vkFlushMappedMemoryRanges(ctx->device, 1, &r));
        ctx->stats.host_flushes++;
    } else {
        VK_TRY(vkInvalidateMappedMemoryRanges(ctx->device, 1, &r));
        ctx->stats.host_invalidates++;
    }
    return CTVK_OK;
}

static ctvk_status check_bytes(const ctvk_tensor *t, size_t bytes, const char *what)
{
    if (bytes != t->bytes)
        return ctvk__fail(CTVK_ERR_ARG, "%s of tensor '%s': %zu bytes given, the tensor has %llu", what, t->name,
                          bytes, (unsigned long long)t->bytes);
    return CTVK_OK;
}

ctvk_status ctvk_tensor_upload(ctvk_tensor *t, const void *src, size_t bytes)
{
    ctvk_ctx *ctx = t->ctx;
    CTVK_TRY(check_bytes(t, bytes, "upload"));
    if (ctx->dry) return CTVK_OK;   /* a compile helper moves no data */
    if (t->block->read_only)
        return ctvk__fail(CTVK_ERR_ARG, "upload into tensor '%s': it holds weights mapped from the weights cache "
                          "(read only)", t->name);
    if (ctvk__recorder_busy(ctx)) CTVK_TRY(ctvk_sync(ctx));   /* earlier work may still read it */
    if (ctx->mem.host_visible) {
        memcpy((char *)t->block->mapped + t->offset, src, bytes);
        return CTVK_OK;
    }
    CTVK_TRY(ctvk__staging_reserve(ctx, bytes));
    memcpy(ctx->mem.staging_mapped, src, bytes);
    CTVK_TRY(staging_sync(ctx, bytes, 1));
    CTVK_TRY(ctvk__record_copy(ctx, ctx->mem.staging_buffer, 0, t->block->buffer, t->offset, bytes));
    return ctvk_sync(ctx);
}

void *ctvk__tensor_host(ctvk_tensor *t)
{
    return t->ctx->mem.host_visible ? (char *)t->block->mapped + t->offset : NULL;
}

void *ctvk__tensor_host_cached(ctvk_tensor *t)
{
    const ctvk_ctx *ctx = t->ctx;
    if (ctx->dry || !ctx->mem.host_visible) return NULL;
    VkMemoryPropertyFlags f = ctx->memprops.memoryTypes[ctx->mem.type_index].propertyFlags;
    return f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT ? (char *)t->block->mapped + t->offset : NULL;
}

ctvk_status ctvk_tensor_download(ctvk_tensor *t, void *dst, size_t bytes)
{
    ctvk_ctx *ctx = t->ctx;
    CTVK_TRY(check_bytes(t, bytes, "download"));
    if (ctx->dry) { memset(dst, 0, bytes); return CTVK_OK; }
    if (ctx->mem.host_visible) {
        if (ctvk__recorder_busy(ctx)) CTVK_TRY(ctvk_sync(ctx));
        memcpy(dst, (const char *)t->block->mapped + t->offset, bytes);
        return CTVK_OK;
    }
    CTVK_TRY(ctvk__staging_reserve(ctx, bytes));
    CTVK_TRY(ctvk__record_copy(ctx, t->block->buffer, t->offset, ctx->mem.staging_buffer, 0, bytes));
    CTVK_TRY(ctvk_sync(ctx));
    CTVK_TRY(staging_sync(ctx, bytes, 0));
    memcpy(dst, ctx->mem.staging_mapped, bytes);
    return CTVK_OK;
}
