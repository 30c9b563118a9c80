/* Compute pipelines from the embedded SPIR-V with specialization constants, created on first use
 * and kept per context; and the disk pipeline cache, keyed by vendor, device, driver version,
 * pipelineCacheUUID and a hash of every embedded shader, written atomically, never trusted. */
#include "runtime/base/fileio.h"
#include "ctvk/util.h"
#include "runtime/vk/internal.h"
#include "runtime/vk/shaders_embed.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ disk cache file */
#define PC_MAGIC "CTVKPC01"
typedef struct pc_header {
    char magic[8];
    uint32_t vendor_id, device_id, driver_version, reserved;
    uint8_t uuid[VK_UUID_SIZE];
    uint64_t shader_set_hash;
    uint64_t data_size;
    uint64_t data_hash;
} pc_header;

static void fill_header(const ctvk_ctx *ctx, pc_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, PC_MAGIC, 8);
    h->vendor_id = ctx->props.vendorID;
    h->device_id = ctx->props.deviceID;
    h->driver_version = ctx->props.driverVersion;
    memcpy(h->uuid, ctx->props.pipelineCacheUUID, VK_UUID_SIZE);
    h->shader_set_hash = ctx->shader_set_hash;
}

char *ctvk__cache_dir(const ctvk_ctx *ctx) { return ctvk__cache_folder(ctx->opt.cache_dir); }

/* Reads and validates the cache file; on any mismatch the data is dropped with a note. */
static void *read_cache_file(ctvk_ctx *ctx, size_t *size)
{
    *size = 0;
    FILE *f = fopen(ctx->pcache_path, "rb");
    if (!f) { ctx->stats.pipeline_cache_state = 0; return NULL; }
    pc_header want, got;
    fill_header(ctx, &want);
    void *data = NULL;
    const char *why = NULL;
    if (fread(&got, sizeof got, 1, f) != 1) why = "shorter than its header";
    else if (memcmp(got.magic, PC_MAGIC, 8)) why = "not a ctvk pipeline cache";
    else if (got.vendor_id != want.vendor_id || got.device_id != want.device_id) why = "made for another device";
    else if (got.driver_version != want.driver_version || memcmp(got.uuid, want.uuid, VK_UUID_SIZE))
        why = "made by another driver version";
    else if (got.shader_set_hash != want.shader_set_hash) why = "made for other shaders";
    else if (got.data_size > (256u << 20)) why = "implausibly large";
    else if (!(data = malloc(got.data_size ? got.data_size : 1))) why = "out of host memory";
    else if (got.data_size && fread(data, got.data_size, 1, f) != 1) why = "truncated";
    else if (fgetc(f) != EOF) why = "longer than its header says";
    else if (ctvk__hash64(data, got.data_size, 0) != got.data_hash) why = "corrupt (checksum mismatch)";
    fclose(f);
    if (why) {
        free(data);
        ctx->stats.pipeline_cache_state = -1;
        snprintf(ctx->stats.pipeline_cache_note, sizeof ctx->stats.pipeline_cache_note,
                 "pipeline cache %s ignored: %s", ctx->pcache_path, why);
        return NULL;
    }
    ctx->stats.pipeline_cache_state = 1;
    *size = got.data_size;
    return data;
}

ctvk_status ctvk__pipeline_cache_open(ctvk_ctx *ctx)
{
    uint64_t h = 0;
    for (const ctvk_embedded_shader *s = ctvk_embedded_shaders; s->name; s++) {
        h = ctvk__hash64(s->name, strlen(s->name), h);
        h = ctvk__hash64(s->code, s->size, h);
    }
    ctx->shader_set_hash = h;
    void *data = NULL;
    size_t size = 0;
    char *dir = ctvk__cache_dir(ctx);
    if (dir) {
        size_t len = strlen(dir) + 64;
        ctx->pcache_path = malloc(len);
        if (ctx->pcache_path) {
            snprintf(ctx->pcache_path, len, "%s/pipelines-%04x-%04x.bin", dir, ctx->props.vendorID,
                     ctx->props.deviceID);
            data = read_cache_file(ctx, &size);
        }
        free(dir);
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size, .pInitialData = data};
    VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pcache);
    if (r != VK_SUCCESS && data) {    /* the driver refused the data: start empty */
        ctx->stats.pipeline_cache_state = -1;
        snprintf(ctx->stats.pipeline_cache_note, sizeof ctx->stats.pipeline_cache_note,
                 "pipeline cache %s ignored: the driver refused its data", ctx->pcache_path);
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pcache);
    }
    free(data);
    if (r != VK_SUCCESS) return ctvk__vk_fail(r, "vkCreatePipelineCache");
    return CTVK_OK;
}

/* Creates the folder of a file of the cache folder, which need not exist yet (only its parent). */
static void make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) { *slash = 0; (void)ctvk__mkdirs(dir); }
}

/* Writes the cache to a temporary file in the same folder, syncs it and renames it over the old
 * one, so a crash never leaves a half-written cache behind. Failures only skip the write. */
static void write_cache_file(ctvk_ctx *ctx)
{
    if (!ctx->pcache || !ctx->pcache_path || !ctx->stats.pipelines_created) return;
    size_t size = 0;
    if (vkGetPipelineCacheData(ctx->device, ctx->pcache, &size, NULL) != VK_SUCCESS) return;
    void *data = malloc(size ? size : 1);
    if (!data) return;
    if (vkGetPipelineCacheData(ctx->device, ctx->pcache, &size, data) != VK_SUCCESS) { free(data); return; }
    pc_header h;
    fill_header(ctx, &h);
    h.data_size = size;
    h.data_hash = ctvk__hash64(data, size, 0);
    char tmp[4200], keep[CTVK_ERROR_MAX];
    snprintf(keep, sizeof keep, "%s", ctvk_error());   /* a cache that cannot be written costs nothing but the cache */
    make_parent(ctx->pcache_path);
    FILE *f;
    if (!ctvk__open_tmp(ctx->pcache_path, tmp, sizeof tmp, &f)) {
        int bad = fwrite(&h, sizeof h, 1, f) != 1 || (size && fwrite(data, size, 1, f) != 1);
        (void)ctvk__replace(f, tmp, ctx->pcache_path, "cache-write", bad ? EIO : 0);
    }
    (void)ctvk__fail(CTVK_OK, "%s", keep);
    free(data);
}

/* ------------------------------------------------------------------ pipelines */
static const ctvk_embedded_shader *find_shader(const char *name)
{
    for (const ctvk_embedded_shader *s = ctvk_embedded_shaders; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

static VkDescriptorType binding_type(const ctvk_pipeline *p, int i)
{
    return ctvk__sig_texel(p->sig[i]) ? ctvk__texel_type(p, i) : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

/* ------------------------------------------------------------------ workgroup size from SPIR-V */
/* The invocations of one workgroup of module `code` with these specialization constants: the
 * WorkgroupSize built-in (a composite of constants or spec constants), else LocalSizeId, else the
 * LocalSize execution mode. 0 if the module says none of them (then nothing is checked). */
static uint64_t workgroup_invocations(const uint32_t *code, size_t words, const int32_t *spec, int nspec)
{
    enum { OP_EXEC_MODE = 16, OP_CONSTANT = 43, OP_CONSTANT_COMPOSITE = 44, OP_SPEC_CONSTANT = 50,
           OP_SPEC_CONSTANT_COMPOSITE = 51, OP_DECORATE = 71, OP_EXEC_MODE_ID = 331 };
    enum { DEC_SPEC_ID = 1, DEC_BUILTIN = 11, BUILTIN_WORKGROUP_SIZE = 25, MODE_LOCAL_SIZE = 17,
           MODE_LOCAL_SIZE_ID = 38 };
    if (words < 5) return 0;
    uint32_t bound = code[3];
    if (bound == 0 || bound > (1u << 22)) return 0;
    int64_t *value = malloc(bound * sizeof *value);
    int32_t *spec_id = malloc(bound * sizeof *spec_id);
    uint32_t (*parts)[3] = calloc(bound, sizeof *parts);
    if (!value || !spec_id || !parts) { free(value); free(spec_id); free(parts); return 0; }
    for (uint32_t i = 0; i < bound; i++) value[i] = -1, spec_id[i] = -1;
    uint32_t wg_id = 0, ids[3] = {0, 0, 0}, lits[3] = {0, 0, 0};
    int have_ids = 0, have_lits = 0;
    for (size_t i = 5; i < words;) {
        uint32_t n = code[i] >> 16, op = code[i] & 0xffff;
        if (n == 0 || i + n > words) break;
        const uint32_t *w = code + i;
        if (op == OP_DECORATE && n >= 4 && w[1] < bound) {
            if (w[2] == DEC_SPEC_ID) spec_id[w[1]] = (int32_t)w[3];
            if (w[2] == DEC_BUILTIN && w[3] == BUILTIN_WORKGROUP_SIZE) wg_id = w[1];
        } else if ((op == OP_CONSTANT || op == OP_SPEC_CONSTANT) && n >= 4 && w[2] < bound) {
            value[w[2]] = w[3];
        } else if ((op == OP_CONSTANT_COMPOSITE || op == OP_SPEC_CONSTANT_COMPOSITE) && n >= 6 && w[2] < bound) {
            for (int k = 0; k < 3; k++) parts[w[2]][k] = w[3 + k];
        } else if (op == OP_EXEC_MODE && n >= 6 && w[2] == MODE_LOCAL_SIZE) {
            for (int k = 0; k < 3; k++) lits[k] = w[3 + k];
            have_lits = 1;
        } else if (op == OP_EXEC_MODE_ID && n >= 6 && w[2] == MODE_LOCAL_SIZE_ID) {
            for (int k = 0; k < 3; k++) ids[k] = w[3 + k];
            have_ids = 1;
        }
        i += n;
    }
    if (wg_id && wg_id < bound && parts[wg_id][0]) {
        for (int k = 0; k < 3; k++) ids[k] = parts[wg_id][k];
        have_ids = 1;
    }
    uint64_t total = 0;
    if (have_ids) {
        total = 1;
        for (int k = 0; k < 3; k++) {
            uint32_t id = ids[k];
            int64_t v = id < bound ? value[id] : -1;
            if (id < bound && spec_id[id] >= 0 && spec_id[id] < nspec) v = (uint32_t)spec[spec_id[id]];
            if (v < 0) { total = 0; break; }
            total *= (uint64_t)v;
        }
    } else if (have_lits) {
        total = (uint64_t)lits[0] * lits[1] * lits[2];
    }
    free(value);
    free(spec_id);
    free(parts);
    return total;
}

/* The bindings (bit b for binding b < 32) whose variable in module `code` is a uniform texel buffer
 * (OpTypeSampledImage, or OpTypeImage with Sampled = 1): in an img build, the inputs its source
 * keeps sampled (shaders/conv_common.glsl's A); the layout follows the module. */
static uint32_t sampled_bindings(const uint32_t *code, size_t words)
{
    enum { OP_TYPE_IMAGE = 25, OP_TYPE_SAMPLED_IMAGE = 27, OP_TYPE_POINTER = 32, OP_VARIABLE = 59,
           OP_DECORATE = 71, DEC_BINDING = 33 };
    if (words < 5) return 0;
    uint32_t bound = code[3];
    if (bound == 0 || bound > (1u << 22)) return 0;
    uint32_t *pointee = calloc(bound, sizeof *pointee), *binding = calloc(bound, sizeof *binding);
    uint8_t *sampled = calloc(bound, 1);
    if (!pointee || !binding || !sampled) { free(pointee); free(binding); free(sampled); return 0; }
    uint32_t mask = 0;
    for (size_t i = 5; i < words;) {   /* types come before the variables that use them */
        uint32_t n = code[i] >> 16, op = code[i] & 0xffff;
        if (n == 0 || i + n > words) break;
        const uint32_t *w = code + i;
        if (op == OP_DECORATE && n >= 4 && w[2] == DEC_BINDING && w[1] < bound) binding[w[1]] = w[3] + 1;
        else if (op == OP_TYPE_IMAGE && n >= 9 && w[1] < bound) sampled[w[1]] = w[7] == 1;
        else if (op == OP_TYPE_SAMPLED_IMAGE && n >= 3 && w[1] < bound) sampled[w[1]] = 1;
        else if (op == OP_TYPE_POINTER && n >= 4 && w[1] < bound) pointee[w[1]] = w[3];
        else if (op == OP_VARIABLE && n >= 4 && w[1] < bound && w[2] < bound) {
            uint32_t b = binding[w[2]], t = pointee[w[1]];
            if (b && b <= 32 && t < bound && sampled[t]) mask |= 1u << (b - 1);
        }
        i += n;
    }
    free(pointee);
    free(binding);
    free(sampled);
    return mask;
}

static void pipeline_free(ctvk_ctx *ctx, ctvk_pipeline *p)
{
    if (!p) return;
    if (p->pipeline) vkDestroyPipeline(ctx->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
    if (p->dsl) vkDestroyDescriptorSetLayout(ctx->device, p->dsl, NULL);
    free(p);
}

static ctvk_status pipeline_create(ctvk_ctx *ctx, const ctvk_embedded_shader *sh, ctvk_pipeline *p,
                                   const int32_t *spec, int nspec)
{
    size_t nb = strlen(p->sig);
    const VkPhysicalDeviceLimits *L = &ctx->props.limits;
    uint32_t nstorage = 0, ntexel = 0;
    for (size_t i = 0; i < nb; i++) {
        if (ctvk__sig_texel(p->sig[i])) ntexel++;
        else nstorage++;
    }
    if (nstorage > L->maxPerStageDescriptorStorageBuffers)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "kernel %s binds %u storage buffers, more than the %u "
                          "(maxPerStageDescriptorStorageBuffers) of %s%s", p->key, nstorage,
                          L->maxPerStageDescriptorStorageBuffers, ctx->info.name,
                          ctx->info.limits_minimum ? " under the limits clamp" : "");
    uint32_t max_texel = p->img ? L->maxPerStageDescriptorStorageImages : L->maxPerStageDescriptorSampledImages;
    if (ntexel > max_texel)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "kernel %s binds %u texel buffers, more than the %u of %s", p->key,
                          ntexel, max_texel, ctx->info.name);
    if (p->push_size > L->maxPushConstantsSize)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "kernel %s needs %u push-constant bytes, more than the %u of %s",
                          p->key, p->push_size, L->maxPushConstantsSize, ctx->info.name);
    uint64_t inv = workgroup_invocations(sh->code, sh->size / 4, spec, nspec);
    if (inv > L->maxComputeWorkGroupInvocations)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "kernel %s has workgroups of %llu invocations, more than the %u "
                          "(maxComputeWorkGroupInvocations) of %s%s", p->key, (unsigned long long)inv,
                          L->maxComputeWorkGroupInvocations, ctx->info.name,
                          ctx->info.limits_minimum ? " under the limits clamp" : "");
    p->invocations = inv;
    p->nstorage = nstorage;
    VkDescriptorSetLayoutBinding b[CTVK_MAX_BINDINGS];
    for (size_t i = 0; i < nb; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i, .descriptorType = binding_type(p, i),
                                              .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .flags = ctx->push_descriptors ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0,
        .bindingCount = (uint32_t)nb, .pBindings = b};
    VK_TRY(vkCreateDescriptorSetLayout(ctx->device, &dci, NULL, &p->dsl));
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = p->push_size};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                      .pSetLayouts = &p->dsl, .pushConstantRangeCount = p->push_size ? 1 : 0,
                                      .pPushConstantRanges = &pcr};
    VK_TRY(vkCreatePipelineLayout(ctx->device, &lci, NULL, &p->layout));

    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sh->size,
                                    .pCode = sh->code};
    VkShaderModule module;
    VK_TRY(vkCreateShaderModule(ctx->device, &mci, NULL, &module));
    VkSpecializationMapEntry map[CTVK_MAX_SPEC];
    for (int i = 0; i < nspec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = (uint32_t)(4 * i), .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = (uint32_t)nspec, .pMapEntries = map,
                               .dataSize = (size_t)nspec * 4, .pData = spec};
    VkPipelineCreationFeedbackEXT fb = {0};
    VkPipelineCreationFeedbackCreateInfoEXT fci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CREATION_FEEDBACK_CREATE_INFO_EXT,
                                                   .pPipelineCreationFeedback = &fb};
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, .pNext = ctx->pipeline_feedback ? &fci : NULL,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module, .pName = "main", .pSpecializationInfo = nspec ? &si : NULL},
        .layout = p->layout};
    double t0 = ctvk__now();
    VkResult r = vkCreateComputePipelines(ctx->device, ctx->pcache, 1, &pci, NULL, &p->pipeline);
    p->create_ns = (uint64_t)((ctvk__now() - t0) * 1e9);
    vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS) return ctvk__vk_fail(r, "vkCreateComputePipelines");
    p->cache_hit = (fb.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT_EXT) != 0;
    return CTVK_OK;
}

/* The build suffix of shader `name`'s pipeline with this signature: ".img", or with [device]
 * image_inputs = all ".imga" where the shader has one (the convolutions with A as a storage texel
 * buffer too), or "" (the uniform-texel-buffer build). */
static const char *img_suffix(const ctvk_ctx *ctx, const char *name, const char *sig)
{
    if (!ctx->info.image_inputs) return "";   /* the default: nothing more on every dispatch's lookup */
    uint32_t ntexel = 0;
    for (const char *c = sig; *c; c++) ntexel += ctvk__sig_texel(*c) != 0;
    if (!ntexel || ntexel > ctx->props.limits.maxPerStageDescriptorStorageImages) return "";
    char form[96];
    snprintf(form, sizeof form, "%s.imga", name);
    if (ctx->opt.image_inputs == CTVK_IMAGE_INPUTS_ALL && find_shader(form)) return ".imga";
    snprintf(form, sizeof form, "%s.img", name);
    return find_shader(form) ? ".img" : "";
}

/* The key of shader `name`'s pipeline with these settings, its img build where img_suffix says so
 * (not with `sampled`): "NAME[.img|.imga]/SIG/PUSH[,SPEC...]". */
static ctvk_status make_key(const ctvk_ctx *ctx, const char *name, const char *sig, uint32_t push_size,
                            const int32_t *spec, int nspec, int sampled, char *key, size_t nkey, const char **suffix)
{
    *suffix = sampled ? "" : img_suffix(ctx, name, sig);
    int n = snprintf(key, nkey, "%s%s/%s/%u", name, *suffix, sig, push_size);
    for (int i = 0; i < nspec && n > 0 && (size_t)n < nkey; i++)
        n += snprintf(key + n, nkey - (size_t)n, ",%d", spec[i]);
    if (n <= 0 || (size_t)n >= nkey) return ctvk__fail(CTVK_ERR_ARG, "pipeline key too long for %s", name);
    return CTVK_OK;
}

/* A new pipeline of that key, outside the context's table. Touches nothing of the context but
 * the device and the VkPipelineCache (internally synchronized), so the prewarm worker runs it. */
static ctvk_status pipeline_make(const ctvk_ctx *ctx, const char *key, const char *suffix, const char *name,
                                 const char *sig, uint32_t push_size, const int32_t *spec, int nspec,
                                 int create, ctvk_pipeline **out)
{
    char form[96];
    int img = *suffix != 0;
    snprintf(form, sizeof form, "%s%s", name, suffix);
    const ctvk_embedded_shader *sh = find_shader(form);
    if (!sh) return ctvk__fail(CTVK_ERR_ARG, "no embedded shader named '%s'", name);
    if (strlen(sig) > CTVK_MAX_BINDINGS || nspec > CTVK_MAX_SPEC || push_size > 128)
        return ctvk__fail(CTVK_ERR_ARG, "shader '%s': too many bindings, constants or push bytes", name);
    ctvk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    snprintf(p->key, sizeof p->key, "%s", key);
    snprintf(p->sig, sizeof p->sig, "%s", sig);
    p->push_size = push_size;
    p->img = img;
    if (img) p->img_sampled = sampled_bindings(sh->code, sh->size / 4);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (nspec) memcpy(p->spec, spec, (size_t)nspec * sizeof *spec);
    p->nspec = nspec;
    p->shader = sh;
    ctvk_status s = create ? pipeline_create((ctvk_ctx *)ctx, sh, p, spec, nspec) : CTVK_OK;
    if (s) { pipeline_free((ctvk_ctx *)ctx, p); return s; }
    *out = p;
    return CTVK_OK;
}

/* Adds p to the context's table (main thread only) and counts it; frees it on failure. */
static ctvk_status table_add(ctvk_ctx *ctx, ctvk_pipeline *p, int prewarmed)
{
    if (ctx->npipelines == ctx->cap_pipelines) {
        int cap = ctx->cap_pipelines ? ctx->cap_pipelines * 2 : 32;
        ctvk_pipeline **np = realloc(ctx->pipelines, (size_t)cap * sizeof *np);
        if (!np) { pipeline_free(ctx, p); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
        ctx->pipelines = np;
        ctx->cap_pipelines = cap;
    }
    p->ordinal = ctx->npipelines;
    ctx->pipelines[ctx->npipelines++] = p;
    ctvk_stats *st = &ctx->stats;
    st->pipelines_created++;
    st->pipelines_prewarmed += prewarmed != 0;
    st->pipeline_create_ns += p->create_ns;
    st->pipeline_cache_hits += p->cache_hit;
    if (p->invocations > st->max_workgroup_invocations) st->max_workgroup_invocations = p->invocations;
    if (p->nstorage > st->max_storage_bindings) st->max_storage_bindings = p->nstorage;
    return CTVK_OK;
}

static ctvk_pipeline *prewarm_take(ctvk_ctx *ctx, const char *key);

static ctvk_status pipeline_get(ctvk_ctx *ctx, const char *name, const char *sig, uint32_t push_size,
                                const int32_t *spec, int nspec, int sampled, ctvk_pipeline **out)
{
    char key[160];
    const char *suffix;
    CTVK_TRY(make_key(ctx, name, sig, push_size, spec, nspec, sampled, key, sizeof key, &suffix));
    for (int i = 0; i < ctx->npipelines; i++)
        if (!strcmp(ctx->pipelines[i]->key, key)) { *out = ctx->pipelines[i]; return CTVK_OK; }
    ctvk_pipeline *p = ctx->prewarm ? prewarm_take(ctx, key) : NULL;
    int prewarmed = p != NULL;
    /* a dry context (compile helper) creates a pipeline at its first dispatch, if it gets it */
    if (!p) CTVK_TRY(pipeline_make(ctx, key, suffix, name, sig, push_size, spec, nspec, !ctx->dry, &p));
    CTVK_TRY(table_add(ctx, p, prewarmed));
    *out = p;
    return CTVK_OK;
}

ctvk_status ctvk__pipeline_realize(ctvk_ctx *ctx, ctvk_pipeline *p)
{
    return p->pipeline ? CTVK_OK : pipeline_create(ctx, p->shader, p, p->spec, p->nspec);
}

ctvk_status ctvk__pipeline_get(ctvk_ctx *ctx, const char *name, const char *sig, uint32_t push_size,
                               const int32_t *spec, int nspec, ctvk_pipeline **out)
{
    return pipeline_get(ctx, name, sig, push_size, spec, nspec, 0, out);
}

ctvk_status ctvk__pipeline_sampled_twin(ctvk_ctx *ctx, ctvk_pipeline *p, ctvk_pipeline **out)
{
    if (!p->img) { *out = p; return CTVK_OK; }
    if (!p->sampled) CTVK_TRY(pipeline_get(ctx, p->name, p->sig, p->push_size, p->spec, p->nspec, 1, &p->sampled));
    *out = p->sampled;
    return CTVK_OK;
}

/* The same kernel with its inputs ('t', 'q') read through storage buffers: the shader's
 * NAME.ssbo build (compiled with -DCTVK_SSBO from the same source), created on first need. */
ctvk_status ctvk__pipeline_storage_twin(ctvk_ctx *ctx, ctvk_pipeline *p, ctvk_pipeline **out)
{
    if (p->twin) { *out = p->twin; return CTVK_OK; }
    char name[80], sig[CTVK_MAX_BINDINGS + 1];
    snprintf(name, sizeof name, "%s.ssbo", p->name);
    if (!find_shader(name))
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "kernel %s reads its inputs through texel buffers only", p->name);
    snprintf(sig, sizeof sig, "%s", p->sig);
    for (char *c = sig; *c; c++) if (*c == 't' || *c == 'q') *c = 'r';
    CTVK_TRY(ctvk__pipeline_get(ctx, name, sig, p->push_size, p->spec, p->nspec, &p->twin));
    *out = p->twin;
    return CTVK_OK;
}

/* ------------------------------------------------------------------ prewarm */
/* The worker of ctvk_prewarm walks the list in order; the main thread takes a key it needs: a
 * pending one it creates itself (the worker skips it), a running one it waits for, a made one it
 * moves into the table. Only the main thread touches the table and the stats. */
enum { PW_PENDING, PW_RUNNING, PW_MADE, PW_TAKEN };
#define PW_MAX 512
#define PW_MAGIC "ctvk pipeline list 1"

#define PW_WORKERS 4

typedef struct ctvk_prewarm {
    pthread_t thread[PW_WORKERS];
    int started, joined, nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, next;
    char (*keys)[160];
    int *state;
    ctvk_pipeline **made;
    char *path;                   /* the list file */
    uint64_t list_hash;           /* of the keys read (the list is rewritten only when it changes) */
} prewarm_state;

/* The settings behind a key (make_key's format), or 0 where it is not one. */
static int parse_key(const char *key, char *name, size_t nname, char *sig, size_t nsig, uint32_t *push,
                     int32_t *spec, int *nspec, int *sampled)
{
    const char *s1 = strchr(key, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2 || s1 == key || (size_t)(s1 - key) >= nname || (size_t)(s2 - s1 - 1) >= nsig) return 0;
    memcpy(name, key, (size_t)(s1 - key));
    name[s1 - key] = 0;
    memcpy(sig, s1 + 1, (size_t)(s2 - s1 - 1));
    sig[s2 - s1 - 1] = 0;
    char *dot = strrchr(name, '.');   /* an img build: make_key finds the same suffix again */
    *sampled = !(dot && dot > name && (!strcmp(dot, ".img") || !strcmp(dot, ".imga")));
    if (!*sampled) *dot = 0;
    char *end;
    unsigned long pv = strtoul(s2 + 1, &end, 10);
    if (end == s2 + 1 || pv > 128) return 0;
    *push = (uint32_t)pv;
    int k = 0;
    while (*end == ',') {
        const char *at = end + 1;
        long v = strtol(at, &end, 10);
        if (end == at || k == CTVK_MAX_SPEC || v < INT32_MIN || v > INT32_MAX) return 0;
        spec[k++] = (int32_t)v;
    }
    *nspec = k;
    return *end == 0;
}

/* The pipeline of a listed key, or NULL (not a key of these shaders and settings, or failed). */
static ctvk_pipeline *prewarm_one(const ctvk_ctx *ctx, const char *key)
{
    char name[80], sig[CTVK_MAX_BINDINGS + 1], again[160];
    uint32_t push;
    int32_t spec[CTVK_MAX_SPEC];
    int nspec, sampled;
    const char *suffix;
    ctvk_pipeline *p = NULL;
    if (!parse_key(key, name, sizeof name, sig, sizeof sig, &push, spec, &nspec, &sampled)) return NULL;
    if (make_key(ctx, name, sig, push, spec, nspec, sampled, again, sizeof again, &suffix) || strcmp(again, key))
        return NULL;   /* other settings (image_inputs, limits) give another key: not this run's */
    if (pipeline_make(ctx, key, suffix, name, sig, push, spec, nspec, 1, &p)) return NULL;
    return p;
}

static void *prewarm_main(void *arg)
{
    ctvk_ctx *ctx = arg;
    prewarm_state *w = ctx->prewarm;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->next < w->n && w->state[w->next] != PW_PENDING) w->next++;
        if (w->next >= w->n) { pthread_mutex_unlock(&w->mu); break; }
        int i = w->next++;
        w->state[i] = PW_RUNNING;
        pthread_mutex_unlock(&w->mu);
        ctvk_pipeline *p = prewarm_one(ctx, w->keys[i]);
        pthread_mutex_lock(&w->mu);
        w->made[i] = p;
        w->state[i] = p ? PW_MADE : PW_TAKEN;   /* failed: the dispatch that needs it creates it */
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static ctvk_pipeline *prewarm_take(ctvk_ctx *ctx, const char *key)
{
    prewarm_state *w = ctx->prewarm;
    ctvk_pipeline *p = NULL;
    if (!w->started) return NULL;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->keys[i], key)) continue;
        if (w->state[i] == PW_RUNNING) {
            double t0 = ctvk__now();
            while (w->state[i] == PW_RUNNING) pthread_cond_wait(&w->cv, &w->mu);
            ctx->stats.prewarm_wait_ns += (uint64_t)((ctvk__now() - t0) * 1e9);
        }
        if (w->state[i] == PW_MADE) p = w->made[i];
        w->made[i] = NULL;
        w->state[i] = PW_TAKEN;
        break;
    }
    pthread_mutex_unlock(&w->mu);
    return p;
}

static uint64_t list_hash(const ctvk_ctx *ctx, const char *const *keys, int n)
{
    uint64_t h = ctvk__hash64(&ctx->shader_set_hash, sizeof ctx->shader_set_hash, 0);
    for (int i = 0; i < n; i++) h = ctvk__hash64(keys[i], strlen(keys[i]) + 1, h);
    return h;
}

/* Stops the worker (what it has not begun is dropped), frees what no dispatch took, and writes
 * the list of what this context created where it changed. */
static void prewarm_finish(ctvk_ctx *ctx)
{
    prewarm_state *w = ctx->prewarm;
    if (!w) return;
    if (w->started) {
        if (!w->joined) {
            pthread_mutex_lock(&w->mu);
            w->next = w->n;
            pthread_mutex_unlock(&w->mu);
            for (int i = 0; i < w->nthreads; i++) pthread_join(w->thread[i], NULL);
        }
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    for (int i = 0; i < w->n; i++) pipeline_free(ctx, w->made[i]);
    int n = ctx->npipelines < PW_MAX ? ctx->npipelines : PW_MAX;
    const char **keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    char *text = malloc(64 + (size_t)n * sizeof w->keys[0]);   /* a header line, then one key per line */
    for (int i = 0; keys && i < n; i++) keys[i] = ctx->pipelines[i]->key;
    if (keys && text && n && list_hash(ctx, keys, n) != w->list_hash) {
        char keep[CTVK_ERROR_MAX];
        snprintf(keep, sizeof keep, "%s", ctvk_error());   /* a list that cannot be written costs the next run only */
        size_t len = (size_t)sprintf(text, "%s %016llx\n", PW_MAGIC, (unsigned long long)ctx->shader_set_hash);
        for (int i = 0; i < n; i++) len += (size_t)sprintf(text + len, "%s\n", keys[i]);
        make_parent(w->path);
        (void)ctvk__write_file_atomic(w->path, text, len);
        (void)ctvk__fail(CTVK_OK, "%s", keep);
    }
    free(text);
    free(keys);
    free(w->keys);
    free(w->state);
    free(w->made);
    free(w->path);
    free(w);
    ctx->prewarm = NULL;
}

/* Reads the list at w->path into w (nothing where it is missing, for other shaders or malformed). */
static void prewarm_read(ctvk_ctx *ctx, prewarm_state *w)
{
    FILE *f = fopen(w->path, "r");
    if (!f) return;
    char line[256], want[64];
    snprintf(want, sizeof want, "%s %016llx", PW_MAGIC, (unsigned long long)ctx->shader_set_hash);
    int ok = fgets(line, sizeof line, f) && !strncmp(line, want, strlen(want)) && line[strlen(want)] == '\n';
    while (ok && w->n < PW_MAX && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len < 2 || line[len - 1] != '\n' || len > sizeof w->keys[0]) { ok = 0; break; }
        line[len - 1] = 0;
        memcpy(w->keys[w->n++], line, len);
    }
    fclose(f);
    if (!ok) { w->n = 0; return; }
    const char *keys[PW_MAX];
    for (int i = 0; i < w->n; i++) keys[i] = w->keys[i];
    w->list_hash = list_hash(ctx, keys, w->n);
}

int ctvk__prewarm_cold(const ctvk_ctx *ctx)
{
    return ctx->prewarm && ctx->prewarm->n == 0;
}

/* Starts the workers on w's list (without a thread the list is only written at the end): one per
 * core up to PW_WORKERS, as the convolution kernels take lavapipe 0.1-0.3 s each to translate
 * even when Mesa's cache holds them, and two of them side by side halve the first slice's wait
 * (docs/measurements.md). */
static void prewarm_start(ctvk_ctx *ctx, prewarm_state *w)
{
    if (!w->n || pthread_mutex_init(&w->mu, NULL)) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cores < 1 ? 1 : cores > PW_WORKERS ? PW_WORKERS : (int)cores;
    if (want > w->n) want = w->n;
    if (pthread_cond_init(&w->cv, NULL)) {
        pthread_mutex_destroy(&w->mu);
        return;
    }
    while (w->nthreads < want && !pthread_create(&w->thread[w->nthreads], NULL, prewarm_main, ctx)) w->nthreads++;
    if (!w->nthreads) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    } else {
        w->started = 1;
    }
}

void ctvk__prewarm_list(ctvk_ctx *ctx, char (*keys)[160], int n)
{
    prewarm_state *w = ctx->prewarm;
    if (!w || w->started || w->n || n <= 0) return;
    w->n = n < PW_MAX ? n : PW_MAX;
    memcpy(w->keys, keys, (size_t)w->n * sizeof *w->keys);
    prewarm_start(ctx, w);   /* list_hash stays 0: this run's list is written at the end */
}

int ctvk__prewarm_join(ctvk_ctx *ctx)
{
    prewarm_state *w = ctx->prewarm;
    if (!w || !w->started) return 0;
    if (!w->joined)
        for (int i = 0; i < w->nthreads; i++) pthread_join(w->thread[i], NULL);
    w->joined = 1;
    int n = 0;
    for (int i = 0; i < w->n; i++) n += w->state[i] == PW_MADE;
    return n;
}

ctvk_status ctvk_prewarm(ctvk_ctx *ctx, const char *workload)
{
    if (!workload || !*workload) return ctvk__fail(CTVK_ERR_ARG, "ctvk_prewarm: no workload name");
    if (ctx->prewarm) return ctvk__fail(CTVK_ERR_ARG, "ctvk_prewarm: already called for this context");
    if (!ctx->pcache_path) return CTVK_OK;   /* no cache folder: no list either */
    prewarm_state *w = calloc(1, sizeof *w);
    size_t len = strlen(ctx->pcache_path) + 32;
    if (w) {
        w->path = malloc(len);
        w->keys = calloc(PW_MAX, sizeof *w->keys);
        w->state = calloc(PW_MAX, sizeof *w->state);
        w->made = calloc(PW_MAX, sizeof *w->made);
    }
    if (!w || !w->path || !w->keys || !w->state || !w->made) {
        if (w) { free(w->path); free(w->keys); free(w->state); free(w->made); }
        free(w);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    /* pipelines-VVVV-DDDD.bin -> pipelines-VVVV-DDDD-HASH.keys */
    snprintf(w->path, len, "%.*s-%016llx.keys", (int)(strlen(ctx->pcache_path) - 4), ctx->pcache_path,
             (unsigned long long)ctvk__hash64(workload, strlen(workload), 0));
    ctx->prewarm = w;
    prewarm_read(ctx, w);
    prewarm_start(ctx, w);
    return CTVK_OK;
}

void ctvk__pipelines_destroy(ctvk_ctx *ctx)
{
    if (!ctx->device) return;
    prewarm_finish(ctx);
    write_cache_file(ctx);
    for (int i = 0; i < ctx->npipelines; i++) pipeline_free(ctx, ctx->pipelines[i]);
    free(ctx->pipelines);
    ctx->pipelines = NULL;
    ctx->npipelines = 0;
    if (ctx->pcache) vkDestroyPipelineCache(ctx->device, ctx->pcache, NULL);
    ctx->pcache = VK_NULL_HANDLE;
    free(ctx->pcache_path);
    ctx->pcache_path = NULL;
}

int ctvk_pipeline_count(const ctvk_ctx *ctx) { return ctx->npipelines; }

const char *ctvk_pipeline_info(const ctvk_ctx *ctx, int i, double *create_ms)
{
    if (i < 0 || i >= ctx->npipelines) return NULL;
    if (create_ms) *create_ms = (double)ctx->pipelines[i]->create_ns * 1e-6;
    return ctx->pipelines[i]->key;
}
