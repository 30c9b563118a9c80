/* Keras ImageDataGenerator augmentation (shaders/augment.comp): parameters drawn on the host
 * from a seeded splitmix64, per-image records built in double, the warp on the device, and a
 * double-precision reference. Conventions: net/train_ops.h. */
#include "net/train_ops.h"
#include "net/launch.h"
#include "runtime/base/rng.h"
#include <math.h>

#define LOCAL 64
#define PI 3.14159265358979323846

void ctvk_augment_config_default(ctvk_augment_config *c)
{
    *c = (ctvk_augment_config){.rotation_range = 360.0, .shear_range = 0.05, .zoom_lo = 0.95, .zoom_hi = 1.05,
                               .height_shift_range = 0.05, .width_shift_range = 0.05, .horizontal_flip = 1,
                               .vertical_flip = 1, .legacy_centre = 0};
}

void ctvk_augment_params_identity(ctvk_augment_params *p)
{
    *p = (ctvk_augment_params){.theta = 0, .tx = 0, .ty = 0, .shear = 0, .zx = 1, .zy = 1};
}

uint64_t ctvk_augment_rng_next(uint64_t *s)
{
    return ctvk__rng(s);
}

double ctvk_augment_rng_uniform(uint64_t *s)
{
    return ctvk__rng_unit(s);
}

static double uni(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ctvk_augment_rng_uniform(s);
}

void ctvk_augment_draw(const ctvk_augment_config *c, uint64_t *s, int h, int w, ctvk_augment_params *p)
{
    ctvk_augment_params_identity(p);
    /* Keras' get_random_transform order; a zero range draws nothing */
    if (c->rotation_range != 0) p->theta = uni(s, -c->rotation_range, c->rotation_range);
    if (c->height_shift_range != 0) {
        p->tx = uni(s, -c->height_shift_range, c->height_shift_range);
        if (c->height_shift_range < 1) p->tx *= h;     /* a fraction of the height, else pixels */
    }
    if (c->width_shift_range != 0) {
        p->ty = uni(s, -c->width_shift_range, c->width_shift_range);
        if (c->width_shift_range < 1) p->ty *= w;
    }
    if (c->shear_range != 0) p->shear = uni(s, -c->shear_range, c->shear_range);
    if (!(c->zoom_lo == 1 && c->zoom_hi == 1)) {
        p->zx = uni(s, c->zoom_lo, c->zoom_hi);
        p->zy = uni(s, c->zoom_lo, c->zoom_hi);
    }
    p->flip_h = (ctvk_augment_rng_uniform(s) < 0.5) && c->horizontal_flip;
    p->flip_v = (ctvk_augment_rng_uniform(s) < 0.5) && c->vertical_flip;
}

void ctvk_augment_record(const ctvk_augment_config *c, const ctvk_augment_params *p, int h, int w,
                         float rec[CTVK_AUGMENT_RECORD])
{
    double th = p->theta * (PI / 180.0), sh = p->shear * (PI / 180.0);
    double R[2][2] = {{cos(th), -sin(th)}, {sin(th), cos(th)}};
    double S[2][2] = {{1.0, -sin(sh)}, {0.0, cos(sh)}};
    /* A = R Sh Z */
    double RS[2][2], A[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) RS[i][j] = R[i][0] * S[0][j] + R[i][1] * S[1][j];
    for (int i = 0; i < 2; i++) {
        A[i][0] = RS[i][0] * p->zx;
        A[i][1] = RS[i][1] * p->zy;
    }
    /* input = o + A (p - o) + R t with o = centre + delta (delta 0, or 1 for the legacy centre);
     * relative to the true centre: input = centre + (I - A) delta + R t + A (p - centre) */
    double delta = c && c->legacy_centre ? 1.0 : 0.0;
    double cen[2] = {0.5 * (h - 1), 0.5 * (w - 1)};
    double t[2] = {p->tx, p->ty};
    double d[2];
    for (int i = 0; i < 2; i++)
        d[i] = cen[i] + delta - (A[i][0] + A[i][1]) * delta + R[i][0] * t[0] + R[i][1] * t[1];
    rec[0] = (float)A[0][0];
    rec[1] = (float)A[0][1];
    rec[2] = (float)A[1][0];
    rec[3] = (float)A[1][1];
    rec[4] = (float)d[0];
    rec[5] = (float)d[1];
    rec[6] = (float)((p->flip_h ? 1 : 0) | (p->flip_v ? 2 : 0));
    rec[7] = 0.0f;
}

typedef struct { uint32_t total, h, w; float scale, offset; } augment_push;

ctvk_status ctvk_augment(ctvk_ctx *ctx, const ctvk_tensor *in, const ctvk_tensor *params, float scale, float offset,
                         ctvk_tensor *out)
{
    CTVK_TRY(ctvk__need_dtype("augment", in, CTVK_U16));
    CTVK_TRY(ctvk__need_dtype("augment", params, CTVK_F32));
    CTVK_TRY(ctvk__need_dtype("augment", out, CTVK_F32));
    ctvk_shape s = in->shape, o = out->shape;
    if (s.c != 1 || o.c != 1 || s.n != o.n || s.h != o.h || s.w != o.w)
        return ctvk__fail(CTVK_ERR_ARG, "augment: input '%s' is %dx%dx%dx%d and output '%s' %dx%dx%dx%d; both must "
                          "be N x H x W x 1 of the same size", in->name, s.n, s.h, s.w, s.c, out->name, o.n, o.h,
                          o.w, o.c);
    if (params->count != (size_t)s.n * CTVK_AUGMENT_RECORD)
        return ctvk__fail(CTVK_ERR_ARG, "augment: parameter tensor '%s' has %zu floats, expected %d per image "
                          "(%zu)", params->name, params->count, CTVK_AUGMENT_RECORD,
                          (size_t)s.n * CTVK_AUGMENT_RECORD);
    if (out->count > UINT32_MAX / 2)
        return ctvk__fail(CTVK_ERR_ARG, "augment: batch '%s' too large", out->name);
    int32_t spec[1] = {LOCAL};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "augment", "tuw", sizeof(augment_push), spec, 1, &p));
    augment_push pc = {(uint32_t)out->count, (uint32_t)s.h, (uint32_t)s.w, scale, offset};
    uint32_t gx, gy;
    ctvk__grid_1d((out->count + 3) / 4, LOCAL, &gx, &gy);
    const ctvk_tensor *b[3] = {in, params, out};
    return ctvk__dispatch(ctx, p, b, &pc, gx, gy, 1);
}

void ctvk_ref_augment(const uint16_t *in, int n, int h, int w, const float *params, float scale, float offset,
                      float *out)
{
    for (int b = 0; b < n; b++) {
        const float *q = params + (size_t)b * CTVK_AUGMENT_RECORD;
        const uint16_t *img = in + (size_t)b * h * w;
        int flags = (int)q[6];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                int rr = flags & 2 ? h - 1 - r : r, cc = flags & 1 ? w - 1 - c : c;
                double dr = rr - 0.5 * (h - 1), dc = cc - 0.5 * (w - 1);
                double y = (double)q[4] + (double)q[0] * dr + (double)q[1] * dc;
                double x = (double)q[5] + (double)q[2] * dr + (double)q[3] * dc;
                y = y < -1 ? -1 : y > h ? h : y;
                x = x < -1 ? -1 : x > w ? w : x;
                double y0 = floor(y), x0 = floor(x), wy = y - y0, wx = x - x0;
                int r0 = (int)y0, c0 = (int)x0, r1 = r0 + 1, c1 = c0 + 1;
                r0 = r0 < 0 ? 0 : r0 > h - 1 ? h - 1 : r0;
                r1 = r1 < 0 ? 0 : r1 > h - 1 ? h - 1 : r1;
                c0 = c0 < 0 ? 0 : c0 > w - 1 ? w - 1 : c0;
                c1 = c1 < 0 ? 0 : c1 > w - 1 ? w - 1 : c1;
                double top = (1 - wx) * img[(size_t)r0 * w + c0] + wx * img[(size_t)r0 * w + c1];
                double bot = (1 - wx) * img[(size_t)r1 * w + c0] + wx * img[(size_t)r1 * w + c1];
                out[((size_t)b * h + r) * w + c] = (float)(scale * ((1 - wy) * top + wy * bot) + offset);
            }
    }
}
