/* The command recorder: many dispatches in one command buffer, a barrier only where a binding's
 * byte range conflicts with an access since the last barrier (read-after-write, write-after-read,
 * write-after-write), long work split into several submits, debug labels, and timestamp queries
 * that become the per-label profile. */
#include "runtime/base/array.h"
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBMIT_TIMEOUT_NS (600ull * 1000000000ull)   /* a submit that takes longer is reported, not waited on */
#define POOL_SETS 1024

static ctvk_status begin_cmd(ctvk_ctx *ctx);

static void finish_work(ctvk_ctx *ctx)
{
    /* a lost device stays lost (ctx->lost): the next call that records or waits reports it */
    if (ctx->rec.recording) (void)ctvk_sync(ctx);
}

ctvk_status ctvk__recorder_init(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    ctx->mem.finish_work = finish_work;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    VK_TRY(vkCreateCommandPool(ctx->device, &pci, NULL, &r->pool));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = r->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VK_TRY(vkAllocateCommandBuffers(ctx->device, &ai, &r->cmd));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_TRY(vkCreateFence(ctx->device, &fci, NULL, &r->fence));
    if (!ctx->push_descriptors) {
        VkDescriptorPoolSize sizes[3] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, POOL_SETS * 8},
                                         {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, POOL_SETS * 4},
                                         {VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, POOL_SETS * 4}};
        VkDescriptorPoolCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                          .maxSets = POOL_SETS, .poolSizeCount = ctx->info.image_inputs ? 3 : 2,
                                          .pPoolSizes = sizes};
        VK_TRY(vkCreateDescriptorPool(ctx->device, &dci, NULL, &r->dpool));
    }
    if (ctx->opt.profile) {
        if (ctx->info.timestamp_period <= 0)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "profiling needs timestamp queries, which the compute queue "
                                                    "of %s does not have", ctx->info.name);
        r->qcap = 2 * ctx->max_dispatches_per_submit + 2;
        if (r->qcap > 8192) r->qcap = 8192;
        r->qlabels = calloc(r->qcap, sizeof *r->qlabels);
        if (!r->qlabels) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = r->qcap};
        VK_TRY(vkCreateQueryPool(ctx->device, &qci, NULL, &r->qpool));
    }
    return CTVK_OK;
}

void ctvk__recorder_destroy(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (!ctx->device) return;
    if (r->recording) vkEndCommandBuffer(r->cmd);
    if (r->qpool) vkDestroyQueryPool(ctx->device, r->qpool, NULL);
    if (r->dpool) vkDestroyDescriptorPool(ctx->device, r->dpool, NULL);
    if (r->fence) vkDestroyFence(ctx->device, r->fence, NULL);
    if (r->pool) vkDestroyCommandPool(ctx->device, r->pool, NULL);
    free(r->reads);
    free(r->writes);
    free(r->qlabels);
    memset(r, 0, sizeof *r);
}

int ctvk__recorder_busy(const ctvk_ctx *ctx) { return ctx->rec.recording; }

/* ------------------------------------------------------------------ labels */
static void cmd_label_begin(ctvk_ctx *ctx, const char *label)
{
    if (!ctx->debug_labels || !vkCmdBeginDebugUtilsLabelEXT) return;
    VkDebugUtilsLabelEXT l = {.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_LABEL_EXT, .pLabelName = label};
    vkCmdBeginDebugUtilsLabelEXT(ctx->rec.cmd, &l);
}

static void cmd_label_end(ctvk_ctx *ctx)
{
    if (ctx->debug_labels && vkCmdEndDebugUtilsLabelEXT) vkCmdEndDebugUtilsLabelEXT(ctx->rec.cmd);
}

void ctvk_label_push(ctvk_ctx *ctx, const char *label)
{
    ctvk_recorder *r = &ctx->rec;
    if (r->label_depth < 8) snprintf(r->label_stack[r->label_depth], sizeof r->label_stack[0], "%s", label);
    r->label_depth++;
    if (r->recording && r->label_depth <= 8) cmd_label_begin(ctx, label);
}

void ctvk_label_pop(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (r->label_depth == 0) return;
    if (r->recording && r->label_depth <= 8) cmd_label_end(ctx);
    r->label_depth--;
}

/* ------------------------------------------------------------------ hazards */
static int overlaps(const ctvk_range *list, int n, const ctvk_range *x)
{
    for (int i = 0; i < n; i++)
        if (list[i].buf == x->buf && list[i].lo < x->hi && x->lo < list[i].hi) return 1;
    return 0;
}

static ctvk_status push_range(ctvk_range **list, int *n, int *cap, ctvk_range x)
{
    for (int i = 0; i < *n; i++)
        if ((*list)[i].buf == x.buf && (*list)[i].lo <= x.lo && x.hi <= (*list)[i].hi) return CTVK_OK;
    CTVK__GROW(*list, *cap, *n + 1, 64, return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"));
    (*list)[(*n)++] = x;
    return CTVK_OK;
}

static void barrier(ctvk_ctx *ctx)
{
    const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(ctx->rec.cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->rec.nreads = ctx->rec.nwrites = 0;
    ctx->stats.barriers++;
}

/* Inserts a barrier if any of these accesses conflicts with one since the last barrier, then
 * records them. */
static ctvk_status track(ctvk_ctx *ctx, const ctvk_range *rs, const int *writes, int n)
{
    ctvk_recorder *r = &ctx->rec;
    int hazard = 0;
    for (int i = 0; i < n && !hazard; i++)
        hazard = overlaps(r->writes, r->nwrites, &rs[i]) || (writes[i] && overlaps(r->reads, r->nreads, &rs[i]));
    if (hazard) barrier(ctx);
    for (int i = 0; i < n; i++) {
        if (writes[i]) { CTVK_TRY(push_range(&r->writes, &r->nwrites, &r->capw, rs[i])); r->host_dirty = 1; }
        else CTVK_TRY(push_range(&r->reads, &r->nreads, &r->capr, rs[i]));
    }
    return CTVK_OK;
}

/* ------------------------------------------------------------------ command buffers */
static ctvk_status begin_cmd(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (ctx->lost) return ctvk__fail(CTVK_ERR_DEVICE_LOST, "the Vulkan device %s was lost earlier; restart the program",
                                     ctx->info.name);
    if (r->recording) return CTVK_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_TRY(vkBeginCommandBuffer(r->cmd, &bi));
    r->recording = 1;
    r->dispatches_in_cmd = 0;
    r->host_dirty = 0;
    for (int i = 0; i < r->label_depth && i < 8; i++) cmd_label_begin(ctx, r->label_stack[i]);
    if (r->qpool) {
        vkCmdResetQueryPool(r->cmd, r->qpool, 0, r->qcap);
        vkCmdWriteTimestamp(r->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, r->qpool, 0);
        r->qcount = 1;
    }
    return CTVK_OK;
}

static void add_profile(ctvk_ctx *ctx, const char *label, double ms)
{
    for (int i = 0; i < ctx->nprof; i++)
        if (!strcmp(ctx->prof[i].label, label)) { ctx->prof[i].ms += ms; ctx->prof[i].dispatches++; return; }
    CTVK__GROW(ctx->prof, ctx->cap_prof, ctx->nprof + 1, 64, return);  /* best effort; the work itself succeeded */
    ctvk_profile_row *row = &ctx->prof[ctx->nprof++];
    snprintf(row->label, sizeof row->label, "%s", label);
    row->dispatches = 1;
    row->ms = ms;
}

static ctvk_status read_timestamps(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (!r->qpool || r->qcount < 2) return CTVK_OK;
    uint64_t *ts = malloc(r->qcount * sizeof *ts);
    if (!ts) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    VkResult res = vkGetQueryPoolResults(ctx->device, r->qpool, 0, r->qcount, r->qcount * sizeof *ts, ts,
                                         sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (res != VK_SUCCESS) { free(ts); return ctvk__vk_fail(res, "vkGetQueryPoolResults"); }
    double period = ctx->info.timestamp_period * 1e-6;   /* ms per tick */
    for (uint32_t i = 1; i < r->qcount; i++)
        add_profile(ctx, r->qlabels[i], (double)(ts[i] - ts[i - 1]) * period);
    ctx->prof_total_ms += (double)(ts[r->qcount - 1] - ts[0]) * period;
    free(ts);
    return CTVK_OK;
}

ctvk_status ctvk_sync(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (ctx->helpers_join) ctvk__helpers_join(ctx);   /* what they compiled is in the driver's cache */
    if (!r->recording) return ctx->lost ? begin_cmd(ctx) : CTVK_OK;
    for (int i = 0; i < r->label_depth && i < 8; i++) cmd_label_end(ctx);
    if (r->host_dirty) {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        vkCmdPipelineBarrier(r->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    }
    r->recording = 0;
    VK_TRY(vkEndCommandBuffer(r->cmd));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &r->cmd};
    VkResult res = ctvk__fault("submit") ? VK_ERROR_DEVICE_LOST : vkQueueSubmit(ctx->queue, 1, &si, r->fence);
    ctx->stats.submits++;
    if (res == VK_SUCCESS) {
        res = vkWaitForFences(ctx->device, 1, &r->fence, VK_TRUE, SUBMIT_TIMEOUT_NS);
        if (res == VK_TIMEOUT) {
            ctx->lost = 1;
            return ctvk__fail(CTVK_ERR_DEVICE_LOST, "the device %s did not finish a submit within %llu s: it hangs "
                              "or the work is far too large; restart the program", ctx->info.name,
                              SUBMIT_TIMEOUT_NS / 1000000000ull);
        }
    }
    if (res == VK_ERROR_DEVICE_LOST) ctx->lost = 1;
    if (res != VK_SUCCESS) return ctvk__vk_fail(res, "vkQueueSubmit");
    VK_TRY(vkResetFences(ctx->device, 1, &r->fence));
    VK_TRY(vkResetCommandBuffer(r->cmd, 0));
    if (r->dpool) VK_TRY(vkResetDescriptorPool(ctx->device, r->dpool, 0));
    ctvk_status s = read_timestamps(ctx);
    r->qcount = 0;
    return s;
}

/* Starts a new submit when the current one is full (watchdogs; query capacity). */
static ctvk_status make_room(ctvk_ctx *ctx)
{
    ctvk_recorder *r = &ctx->rec;
    if (r->recording && (r->dispatches_in_cmd >= ctx->max_dispatches_per_submit ||
                         (r->qpool && r->qcount + 1 >= r->qcap)))
        CTVK_TRY(ctvk_sync(ctx));
    return begin_cmd(ctx);
}

static void after_command(ctvk_ctx *ctx, const char *name)
{
    ctvk_recorder *r = &ctx->rec;
    r->dispatches_in_cmd++;
    if (r->qpool) {
        vkCmdWriteTimestamp(r->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, r->qpool, r->qcount);
        const char *label = r->label_depth ? r->label_stack[(r->label_depth <= 8 ? r->label_depth : 8) - 1] : name;
        snprintf(r->qlabels[r->qcount], sizeof r->qlabels[0], "%s", label);
        r->qcount++;
    }
}

/* Whether t can be an input texel buffer of kind c ('t', 'q') on this device. */
static int texel_ok(const ctvk_ctx *ctx, const ctvk_tensor *t, char c)
{
    const VkPhysicalDeviceLimits *L = &ctx->props.limits;
    if (t->offset % L->minTexelBufferOffsetAlignment) return 0;
    if (!ctvk__sig_vec4(c)) return t->count <= L->maxTexelBufferElements;
    uint64_t texels = t->count / 4;
    return texels > 0 && texels <= L->maxTexelBufferElements;
}

ctvk_status ctvk__dispatch(ctvk_ctx *ctx, ctvk_pipeline *p, const ctvk_tensor *const *bindings, const void *push,
                           uint32_t gx, uint32_t gy, uint32_t gz)
{
    ctvk_recorder *r = &ctx->rec;
    int nb = (int)strlen(p->sig);
    /* A storage texel buffer is read in the format its shader declares (32-bit); an fp16 input
     * goes to the kernel's uniform-texel-buffer form, which converts. */
    for (int i = 0; i < nb && p->img; i++)
        if (ctvk__sig_texel(p->sig[i]) && !(p->img_sampled >> i & 1) && bindings[i] && bindings[i]->dtype == CTVK_F16) {
            CTVK_TRY(ctvk__pipeline_sampled_twin(ctx, p, &p));
            break;
        }
    /* The one place where a kernel's inputs go to texel buffers (fast on lavapipe, and on every
     * device where they fit) or, when any input is too large or misaligned for one, all of them to
     * storage buffers through the kernel's storage twin. */
    for (int i = 0; i < nb; i++) {
        char kind = p->sig[i];
        if ((kind == 't' || kind == 'q') && bindings[i] && !texel_ok(ctx, bindings[i], kind)) {
            for (int j = 0; j < nb; j++)
                if ((p->sig[j] == 't' || p->sig[j] == 'q') && bindings[j] && bindings[j]->dtype == CTVK_F16)
                    return ctvk__fail(CTVK_ERR_UNSUPPORTED, "fp16 tensor '%s' is read through texel buffers only, "
                                      "and '%s' does not fit one on %s", bindings[j]->name, bindings[i]->name,
                                      ctx->info.name);
            ctvk_status s = ctvk__pipeline_storage_twin(ctx, p, &p);
            char why[2048];
            snprintf(why, sizeof why, "%s", ctvk_error());
            if (s) return ctvk__fail(s, "tensor '%s' (%zu elements) is too large or misaligned for a texel buffer "
                                     "on %s (maxTexelBufferElements %u), and %s", bindings[i]->name,
                                     bindings[i]->count, ctx->info.name, ctx->props.limits.maxTexelBufferElements,
                                     why);
            ctx->stats.storage_input_dispatches++;
            break;
        }
    }
    ctvk_range rs[CTVK_MAX_BINDINGS];
    int wr[CTVK_MAX_BINDINGS];
    VkDescriptorBufferInfo bufs[CTVK_MAX_BINDINGS];
    VkBufferView views[CTVK_MAX_BINDINGS];
    VkWriteDescriptorSet w[CTVK_MAX_BINDINGS];
    const VkPhysicalDeviceLimits *L = &ctx->props.limits;
    if (gx > L->maxComputeWorkGroupCount[0] || gy > L->maxComputeWorkGroupCount[1] ||
        gz > L->maxComputeWorkGroupCount[2])
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "dispatch of %s: %ux%ux%u workgroups exceed the device's limit",
                          p->key, gx, gy, gz);
    int dry_first = 0;   /* a compile helper's first dispatch of a pipeline it got: compiled at once */
    if (ctx->dry) {
        if (!p->pipeline) {
            if (p->dry_skip || !ctx->dry_claim(ctx->dry_claim_arg, p->ordinal)) { p->dry_skip = 1; return CTVK_OK; }
            CTVK_TRY(ctvk__pipeline_realize(ctx, p));
            dry_first = 1;
        }
        gx = gy = gz = 0;
    }
    int nr = 0, zero_fill = 0;
    for (int i = 0; i < nb; i++) {
        ctvk_tensor *t = (ctvk_tensor *)bindings[i];
        char kind = p->sig[i];
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1};
        if (!t) {
            if (kind != 'u' && kind != 'v')
                return ctvk__fail(CTVK_ERR_ARG, "kernel %s: binding %d has no tensor", p->key, i);
            CTVK_TRY(ctvk__unused_view(ctx, kind == 'v', &views[i]));
            zero_fill = !ctx->mem.unused_zeroed;
            w[i].descriptorType = ctvk__texel_type(p, i);
            w[i].pTexelBufferView = &views[i];
            continue;
        }
        ctvk_range *rg = &rs[nr];
        rs[nr] = (ctvk_range){t->block->buffer, t->offset, t->offset + t->bytes};
        wr[nr++] = kind == 'w' || kind == 'b';
        if (wr[nr - 1] && t->block->read_only)
            return ctvk__fail(CTVK_ERR_ARG, "kernel %s writes tensor '%s', which holds weights mapped from the weights "
                              "cache (read only)", p->key, t->name);
        if (ctvk__sig_texel(kind)) {
            int head = kind == 'h' || kind == 'H';
            if (!ctvk__sig_vec4(kind)) CTVK_TRY(ctvk__tensor_texel_view(t, head, &views[i]));
            else CTVK_TRY(ctvk__tensor_texel_view4(t, head, &views[i]));
            w[i].descriptorType = ctvk__texel_type(p, i);
            w[i].pTexelBufferView = &views[i];
        } else {
            if (t->offset % L->minStorageBufferOffsetAlignment)
                return ctvk__fail(CTVK_ERR_ARG, "tensor '%s' starts at byte %llu, not a multiple of the device's "
                                  "storage-buffer alignment", t->name, (unsigned long long)t->offset);
            if (t->bytes > L->maxStorageBufferRange)
                return ctvk__fail(CTVK_ERR_UNSUPPORTED, "tensor '%s' is %.1f MiB, more than the %.1f MiB one storage "
                                  "buffer may span on %s; use a smaller batch or input size", t->name,
                                  (double)t->bytes / 1048576.0, (double)L->maxStorageBufferRange / 1048576.0,
                                  ctx->info.name);
            /* whole 32-bit words: a uint16 input is read as uint[] (the granule after it is the
             * tensor's own allocation padding, or its parent's) */
            uint64_t range = (t->bytes + 3) / 4 * 4;
            if (t->offset + range > t->block->size) range = t->bytes;
            rg->hi = t->offset + range;
            bufs[i] = (VkDescriptorBufferInfo){t->block->buffer, t->offset, range};
            w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            w[i].pBufferInfo = &bufs[i];
        }
    }
    CTVK_TRY(make_room(ctx));
    if (zero_fill) {    /* once per context: the NULL binding's view reads as zeros (a zero bias) */
        vkCmdFillBuffer(r->cmd, ctx->mem.unused_buffer, 0, VK_WHOLE_SIZE, 0);
        barrier(ctx);   /* also orders all earlier work, whose ranges it forgets */
        ctx->mem.unused_zeroed = 1;
    }
    CTVK_TRY(track(ctx, rs, wr, nr));
    vkCmdBindPipeline(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    if (ctx->push_descriptors) {
        vkCmdPushDescriptorSetKHR(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, (uint32_t)nb, w);
    } else {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = r->dpool, .descriptorSetCount = 1, .pSetLayouts = &p->dsl};
        VkDescriptorSet set;
        VkResult res = vkAllocateDescriptorSets(ctx->device, &ai, &set);
        if (res == VK_ERROR_OUT_OF_POOL_MEMORY || res == VK_ERROR_FRAGMENTED_POOL) {
            CTVK_TRY(ctvk_sync(ctx));          /* the pool is reset after every submit */
            CTVK_TRY(begin_cmd(ctx));
            CTVK_TRY(track(ctx, rs, wr, nr));
            vkCmdBindPipeline(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
            res = vkAllocateDescriptorSets(ctx->device, &ai, &set);
        }
        if (res != VK_SUCCESS) return ctvk__vk_fail(res, "vkAllocateDescriptorSets");
        for (int i = 0; i < nb; i++) w[i].dstSet = set;
        vkUpdateDescriptorSets(ctx->device, (uint32_t)nb, w, 0, NULL);
        vkCmdBindDescriptorSets(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    }
    if (p->push_size) vkCmdPushConstants(r->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->push_size, push);
    vkCmdDispatch(r->cmd, gx, gy, gz);
    ctx->stats.dispatches++;
    after_command(ctx, p->key);
    return dry_first ? ctvk_sync(ctx) : CTVK_OK;
}

ctvk_status ctvk__record_copy(ctvk_ctx *ctx, VkBuffer src, uint64_t src_off, VkBuffer dst, uint64_t dst_off,
                              uint64_t bytes)
{
    ctvk_range rs[2] = {{src, src_off, src_off + bytes}, {dst, dst_off, dst_off + bytes}};
    int wr[2] = {0, 1};
    if (ctx->dry) return CTVK_OK;
    CTVK_TRY(make_room(ctx));
    CTVK_TRY(track(ctx, rs, wr, 2));
    VkBufferCopy c = {src_off, dst_off, bytes};
    vkCmdCopyBuffer(ctx->rec.cmd, src, dst, 1, &c);
    after_command(ctx, "copy");
    return CTVK_OK;
}

/* ------------------------------------------------------------------ profile */
ctvk_status ctvk_profile_get(ctvk_ctx *ctx, ctvk_profile_row **rows, int *count, double *total_ms)
{
    *rows = NULL;
    *count = 0;
    *total_ms = 0;
    if (!ctx->opt.profile)
        return ctvk__fail(CTVK_ERR_ARG, "profiling is off: create the context with options.profile (--profile)");
    CTVK_TRY(ctvk_sync(ctx));
    if (ctx->nprof) {
        *rows = malloc((size_t)ctx->nprof * sizeof **rows);
        if (!*rows) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        memcpy(*rows, ctx->prof, (size_t)ctx->nprof * sizeof **rows);
    }
    *count = ctx->nprof;
    *total_ms = ctx->prof_total_ms;
    return CTVK_OK;
}

void ctvk_profile_reset(ctvk_ctx *ctx)
{
    ctx->nprof = 0;
    ctx->prof_total_ms = 0;
}
