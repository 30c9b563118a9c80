/* Elementwise kernels (shaders/elementwise.comp) and their plain-C references. */
#include "net/launch.h"

enum { OP_FILL = 0, OP_COPY = 1, OP_SCALE_ADD = 2 };
#define LOCAL 64

typedef struct { uint32_t n; float a, b, value; } ew_push;

static ctvk_status ew(ctvk_ctx *ctx, int op, const ctvk_tensor *x, ctvk_tensor *y, ew_push pc)
{
    int32_t spec[2] = {op, LOCAL};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "elementwise", "tb", sizeof pc, spec, 2, &p));
    if (y->count > UINT32_MAX) return ctvk__fail(CTVK_ERR_ARG, "elementwise: tensor '%s' too large", y->name);
    pc.n = (uint32_t)y->count;
    uint32_t gx, gy;
    ctvk__grid_1d((y->count + 3) / 4, LOCAL, &gx, &gy);
    const ctvk_tensor *b[2] = {x, y};
    return ctvk__dispatch(ctx, p, b, &pc, gx, gy, 1);
}

ctvk_status ctvk_fill(ctvk_ctx *ctx, ctvk_tensor *y, float value)
{
    CTVK_TRY(ctvk__need_dtype("fill", y, CTVK_F32));
    return ew(ctx, OP_FILL, y, y, (ew_push){.value = value});
}

ctvk_status ctvk_copy(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    CTVK_TRY(ctvk__need_dtype("copy", x, CTVK_F32));
    CTVK_TRY(ctvk__need_dtype("copy", y, CTVK_F32));
    CTVK_TRY(ctvk__need_same_count("copy", x, y));
    return ew(ctx, OP_COPY, x, y, (ew_push){0});
}

ctvk_status ctvk_scale_add(ctvk_ctx *ctx, float a, const ctvk_tensor *x, float b, ctvk_tensor *y)
{
    CTVK_TRY(ctvk__need_dtype("scale_add", x, CTVK_F32));
    CTVK_TRY(ctvk__need_dtype("scale_add", y, CTVK_F32));
    CTVK_TRY(ctvk__need_same_count("scale_add", x, y));
    return ew(ctx, OP_SCALE_ADD, x, y, (ew_push){.a = a, .b = b});
}

void ctvk_ref_fill(float *y, size_t n, float value)
{
    for (size_t i = 0; i < n; i++) y[i] = value;
}

void ctvk_ref_copy(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i];
}

void ctvk_ref_scale_add(float a, const float *x, float b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
}
