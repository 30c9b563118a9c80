/* Flat buffers cut into bindable chunks, and the gradient kernels (shaders/grad.comp) with their
 * plain-C references. */
#include "net/train_ops.h"
#include "net/launch.h"
#include <stdio.h>
#include <stdlib.h>

enum { OP_ZERO = 0, OP_ACC = 1, OP_SCALE = 2 };
#define LOCAL 64

ctvk_status ctvk_flat_init(ctvk_tensor *t, size_t max_chunk, ctvk_flat *out)
{
    *out = (ctvk_flat){0};
    CTVK_TRY(ctvk__need_dtype("flat buffer", t, CTVK_F32));
    const VkPhysicalDeviceLimits *L = &t->ctx->props.limits;
    /* chunks start at multiples of `align` elements: every offset alignment the device asks for,
     * and whole vec4s */
    uint64_t align_bytes = 16;
    if (L->minStorageBufferOffsetAlignment > align_bytes) align_bytes = L->minStorageBufferOffsetAlignment;
    if (L->minTexelBufferOffsetAlignment > align_bytes) align_bytes = L->minTexelBufferOffsetAlignment;
    size_t align = (size_t)(align_bytes / sizeof(float));
    /* one chunk per storage-buffer binding (an input larger than a texel buffer is read through
     * a storage buffer, runtime/vk/recorder.c) */
    size_t dev_max = (size_t)(L->maxStorageBufferRange / sizeof(float));
    if (dev_max > UINT32_MAX / 2) dev_max = UINT32_MAX / 2;
    size_t chunk = max_chunk && max_chunk < dev_max ? max_chunk : dev_max;
    chunk = chunk / align * align;
    if (chunk == 0)
        return ctvk__fail(CTVK_ERR_ARG, "flat buffer '%s': chunks of %zu elements are below the device's "
                          "alignment of %zu elements", t->name, max_chunk, align);
    size_t n = t->count ? (t->count + chunk - 1) / chunk : 1;
    out->t = t;
    out->chunk = calloc(n, sizeof *out->chunk);
    if (!out->chunk) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (n == 1) {
        out->nchunks = 1;
        out->chunk[0] = t;
        return CTVK_OK;
    }
    for (size_t i = 0; i < n; i++) {
        size_t first = i * chunk, len = t->count - first < chunk ? t->count - first : chunk;
        char name[64];
        snprintf(name, sizeof name, "%.40s[%zu]", t->name, i);
        ctvk_status s = ctvk_tensor_view(t, first, (ctvk_shape){1, 1, 1, (int)len}, name, &out->chunk[i]);
        if (s != CTVK_OK) { ctvk_flat_release(out); return s; }
        out->nchunks = (int)i + 1;
    }
    return CTVK_OK;
}

void ctvk_flat_release(ctvk_flat *f)
{
    if (!f->chunk) return;
    if (f->nchunks > 1 || (f->nchunks == 1 && f->chunk[0] != f->t))
        for (int i = 0; i < f->nchunks; i++) ctvk_tensor_destroy(f->chunk[i]);
    free(f->chunk);
    *f = (ctvk_flat){0};
}

typedef struct { uint32_t n; float s; } grad_push;

static ctvk_status grad(ctvk_ctx *ctx, int op, const char *what, ctvk_flat *y, float s, ctvk_flat *x)
{
    if (!y->chunk || (x && !x->chunk)) return ctvk__fail(CTVK_ERR_ARG, "%s: flat buffer not initialised", what);
    if (x) {
        CTVK_TRY(ctvk__need_same_count(what, x->t, y->t));
        if (x->nchunks != y->nchunks)
            return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' and '%s' are cut into different chunks", what, x->t->name,
                              y->t->name);
    }
    int32_t spec[2] = {op, LOCAL};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "grad", "tb", sizeof(grad_push), spec, 2, &p));
    for (int i = 0; i < y->nchunks; i++) {
        ctvk_tensor *yc = y->chunk[i], *xc = x ? x->chunk[i] : yc;
        if (x) CTVK_TRY(ctvk__need_same_count(what, xc, yc));
        grad_push pc = {(uint32_t)yc->count, s};
        uint32_t gx, gy;
        ctvk__grid_1d((yc->count + 3) / 4, LOCAL, &gx, &gy);
        const ctvk_tensor *b[2] = {xc, yc};
        CTVK_TRY(ctvk__dispatch(ctx, p, b, &pc, gx, gy, 1));
    }
    return CTVK_OK;
}

ctvk_status ctvk_grad_zero(ctvk_ctx *ctx, ctvk_flat *g)
{
    return grad(ctx, OP_ZERO, "grad_zero", g, 0.0f, NULL);
}

ctvk_status ctvk_grad_acc(ctvk_ctx *ctx, ctvk_flat *acc, float scale, ctvk_flat *g)
{
    return grad(ctx, OP_ACC, "grad_acc", acc, scale, g);
}

ctvk_status ctvk_grad_scale(ctvk_ctx *ctx, ctvk_flat *g, float scale)
{
    return grad(ctx, OP_SCALE, "grad_scale", g, scale, NULL);
}

void ctvk_ref_grad_zero(float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] = 0.0f;
}

void ctvk_ref_grad_acc(float *acc, float scale, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) acc[i] = acc[i] + scale * g[i];
}

void ctvk_ref_grad_scale(float *g, float scale, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] = scale * g[i];
}
