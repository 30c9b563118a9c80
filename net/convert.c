/* dtype conversion kernels (shaders/convert.comp, shaders/convert_f16.comp) and references. */
#include "net/train_ops.h"
#include "net/launch.h"
#include <string.h>

#define LOCAL 64

typedef struct { uint32_t n; float scale, offset; } u16_push;
typedef struct { uint32_t n; } f16_push;

static ctvk_status check_pair(const char *what, const ctvk_tensor *x, ctvk_dtype xt, const ctvk_tensor *y,
                              ctvk_dtype yt)
{
    CTVK_TRY(ctvk__need_dtype(what, x, xt));
    CTVK_TRY(ctvk__need_dtype(what, y, yt));
    CTVK_TRY(ctvk__need_same_count(what, x, y));
    if (y->count > UINT32_MAX / 2) return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' too large", what, y->name);
    return CTVK_OK;
}

ctvk_status ctvk_convert_u16_to_f32(ctvk_ctx *ctx, const ctvk_tensor *x, float scale, float offset, ctvk_tensor *y)
{
    CTVK_TRY(check_pair("convert u16->f32", x, CTVK_U16, y, CTVK_F32));
    int32_t spec[1] = {LOCAL};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "convert", "tw", sizeof(u16_push), spec, 1, &p));
    u16_push pc = {(uint32_t)y->count, scale, offset};
    uint32_t gx, gy;
    ctvk__grid_1d((y->count + 3) / 4, LOCAL, &gx, &gy);
    const ctvk_tensor *b[2] = {x, y};
    return ctvk__dispatch(ctx, p, b, &pc, gx, gy, 1);
}

static ctvk_status f16(ctvk_ctx *ctx, int op, const char *what, const ctvk_tensor *x, const ctvk_tensor *y)
{
    if (!ctx->info.storage16)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: %s lacks 16-bit storage buffer access; keep tensors in fp32",
                          what, ctx->info.name);
    int32_t spec[2] = {op, LOCAL};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "convert_f16", "tw", sizeof(f16_push), spec, 2, &p));
    f16_push pc = {(uint32_t)y->count};
    uint32_t gx, gy;
    ctvk__grid_1d((y->count + 3) / 4, LOCAL, &gx, &gy);
    const ctvk_tensor *b[2] = {x, y};
    return ctvk__dispatch(ctx, p, b, &pc, gx, gy, 1);
}

ctvk_status ctvk_convert_f32_to_f16(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    CTVK_TRY(check_pair("convert f32->f16", x, CTVK_F32, y, CTVK_F16));
    return f16(ctx, 0, "convert f32->f16", x, y);
}

ctvk_status ctvk_convert_f16_to_f32(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    CTVK_TRY(check_pair("convert f16->f32", x, CTVK_F16, y, CTVK_F32));
    return f16(ctx, 1, "convert f16->f32", x, y);
}

void ctvk_ref_u16_to_f32(const uint16_t *x, float scale, float offset, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = scale * (float)x[i] + offset;
}

uint16_t ctvk_ref_f32_to_f16(float f, int round_to_zero)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu, man = u & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));  /* inf, NaN */
    int e = (int)exp - 127 + 15;                    /* biased half exponent */
    if (e >= 31) return (uint16_t)(sign | (round_to_zero ? 0x7bffu : 0x7c00u));
    uint32_t mant, shift;
    if (e <= 0) {                                   /* half subnormal (or zero) */
        if (e < -10) return sign;                   /* below half the smallest subnormal */
        mant = man | 0x800000u;                     /* implicit 1 */
        shift = (uint32_t)(14 - e);                 /* 24-bit significand -> 10-bit subnormal field */
        e = 0;
    } else {
        mant = man;
        shift = 13;
    }
    uint32_t h = mant >> shift, rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    uint32_t bits = ((uint32_t)e << 10) + h;        /* a carry out of the mantissa bumps the exponent */
    if (!round_to_zero && (rest > half || (rest == half && (h & 1u)))) bits++;
    return (uint16_t)(sign | bits);                 /* bits may reach 0x7c00: overflow to infinity */
}

float ctvk_ref_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0x1fu) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (!man) {
            u = sign;
        } else {                                    /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
