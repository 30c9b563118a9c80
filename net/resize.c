/* Nearest resize and channel concat, forward and backward (shaders/resize.comp, concat.comp,
 * concat_bwd.comp), and plain-C references. Flatten needs no kernel (see net/ops.h). */
#include "net/ops.h"
#include "net/launch.h"

typedef struct { uint32_t n, H, W, C, OH, OW; } resize_push;

static ctvk_status resize_check(const char *kernel, const ctvk_tensor *small, const ctvk_tensor *out)
{
    const ctvk_tensor *t[] = {small, out};
    CTVK_TRY(ctvk__ops_f32(kernel, t, 2));
    ctvk_shape a = small->shape, b = out->shape;
    if (a.n != b.n || a.c != b.c || a.h < 1 || a.w < 1 || b.h < 1 || b.w < 1)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' {%d,%d,%d,%d} and '%s' {%d,%d,%d,%d} differ in batch or channels",
                          kernel, small->name, a.n, a.h, a.w, a.c, out->name, b.n, b.h, b.w, b.c);
    if ((uint64_t)(a.h + 1) * (uint64_t)b.h > UINT32_MAX / 2 || (uint64_t)(a.w + 1) * (uint64_t)b.w > UINT32_MAX / 2)
        return ctvk__fail(CTVK_ERR_ARG, "%s: sizes too large", kernel);
    return CTVK_OK;
}

ctvk_status ctvk_resize_nearest(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    CTVK_TRY(resize_check("resize_nearest", x, y));
    int32_t spec[3] = {0, CTVK_OPS_LOCAL, 0};
    resize_push pc = {(uint32_t)y->count, (uint32_t)x->shape.h, (uint32_t)x->shape.w, (uint32_t)x->shape.c,
                      (uint32_t)y->shape.h, (uint32_t)y->shape.w};
    const ctvk_tensor *bind[2] = {x, y};
    return ctvk__ops_dispatch4(ctx, "resize", "tw", &pc, sizeof pc, spec, 3, bind, y->count);
}

ctvk_status ctvk_resize_nearest_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int accumulate)
{
    CTVK_TRY(resize_check("resize_nearest_backward", dx, g));
    int32_t spec[3] = {1, CTVK_OPS_LOCAL, accumulate != 0};
    resize_push pc = {(uint32_t)dx->count, (uint32_t)dx->shape.h, (uint32_t)dx->shape.w, (uint32_t)dx->shape.c,
                      (uint32_t)g->shape.h, (uint32_t)g->shape.w};
    const ctvk_tensor *bind[2] = {g, dx};
    return ctvk__ops_dispatch4(ctx, "resize", accumulate ? "tb" : "tw", &pc, sizeof pc, spec, 3, bind, dx->count);
}

static ctvk_status concat_check(const char *kernel, const ctvk_tensor *a, const ctvk_tensor *b, const ctvk_tensor *y)
{
    const ctvk_tensor *t[] = {a, b, y};
    CTVK_TRY(ctvk__ops_f32(kernel, t, 3));
    ctvk_shape p = a->shape, q = b->shape, r = y->shape;
    if (p.n != q.n || p.h != q.h || p.w != q.w || r.n != p.n || r.h != p.h || r.w != p.w || r.c != p.c + q.c)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' {%d,%d,%d,%d} and '%s' {%d,%d,%d,%d} do not concatenate to '%s' "
                          "{%d,%d,%d,%d}", kernel, a->name, p.n, p.h, p.w, p.c, b->name, q.n, q.h, q.w, q.c, y->name,
                          r.n, r.h, r.w, r.c);
    return CTVK_OK;
}

typedef struct { uint32_t n, Ca, Cb; } concat_push;
typedef struct { uint32_t na, nb, Ca, Cb; } split_push;

ctvk_status ctvk_concat(ctvk_ctx *ctx, const ctvk_tensor *a, const ctvk_tensor *b, ctvk_tensor *y)
{
    CTVK_TRY(concat_check("concat", a, b, y));
    int32_t spec[1] = {CTVK_OPS_LOCAL};
    concat_push pc = {(uint32_t)y->count, (uint32_t)a->shape.c, (uint32_t)b->shape.c};
    const ctvk_tensor *bind[3] = {a, b, y};
    return ctvk__ops_dispatch4(ctx, "concat", "ttw", &pc, sizeof pc, spec, 1, bind, y->count);
}

ctvk_status ctvk_concat_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *da, int accumulate_a,
                                 ctvk_tensor *db, int accumulate_b)
{
    CTVK_TRY(concat_check("concat_backward", da, db, g));
    if (da == db) return ctvk__fail(CTVK_ERR_ARG, "concat_backward: da and db are the same tensor '%s'", da->name);
    if (g->count > UINT32_MAX / 2) return ctvk__fail(CTVK_ERR_ARG, "concat_backward: tensor too large");
    int32_t spec[3] = {CTVK_OPS_LOCAL, accumulate_a != 0, accumulate_b != 0};
    char sig[4] = {'t', accumulate_a ? 'b' : 'w', accumulate_b ? 'b' : 'w', 0};
    split_push pc = {(uint32_t)da->count, (uint32_t)db->count, (uint32_t)da->shape.c, (uint32_t)db->shape.c};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "concat_bwd", sig, sizeof pc, spec, 3, &p));
    uint32_t gx, gy;
    ctvk__grid_1d((da->count + 3) / 4 + (db->count + 3) / 4, CTVK_OPS_LOCAL, &gx, &gy);
    const ctvk_tensor *bind[3] = {g, da, db};
    return ctvk__dispatch(ctx, p, bind, &pc, gx, gy, 1);
}

/* ------------------------------------------------------------------ references */
void ctvk_ref_resize_nearest(const double *x, ctvk_shape xs, double *y, ctvk_shape ys)
{
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                int ih = (int)((long long)oh * xs.h / ys.h), iw = (int)((long long)ow * xs.w / ys.w);
                for (int c = 0; c < ys.c; c++)
                    y[(((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + c] =
                        x[(((size_t)n * xs.h + ih) * xs.w + iw) * xs.c + c];
            }
}

void ctvk_ref_resize_nearest_backward(const double *g, ctvk_shape ys, double *dx, ctvk_shape xs, int accumulate)
{
    if (!accumulate)
        for (size_t i = 0; i < (size_t)xs.n * xs.h * xs.w * xs.c; i++) dx[i] = 0;
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                int ih = (int)((long long)oh * xs.h / ys.h), iw = (int)((long long)ow * xs.w / ys.w);
                for (int c = 0; c < ys.c; c++)
                    dx[(((size_t)n * xs.h + ih) * xs.w + iw) * xs.c + c] +=
                        g[(((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + c];
            }
}

void ctvk_ref_concat(const double *a, ctvk_shape as, const double *b, ctvk_shape bs, double *y)
{
    size_t pix = (size_t)as.n * as.h * as.w;
    int ct = as.c + bs.c;
    for (size_t p = 0; p < pix; p++) {
        for (int c = 0; c < as.c; c++) y[p * ct + c] = a[p * as.c + c];
        for (int c = 0; c < bs.c; c++) y[p * ct + as.c + c] = b[p * bs.c + c];
    }
}

void ctvk_ref_concat_backward(const double *g, double *da, ctvk_shape as, int accumulate_a, double *db,
                              ctvk_shape bs, int accumulate_b)
{
    size_t pix = (size_t)as.n * as.h * as.w;
    int ct = as.c + bs.c;
    for (size_t p = 0; p < pix; p++) {
        for (int c = 0; c < as.c; c++) {
            double v = g[p * ct + c];
            da[p * as.c + c] = accumulate_a ? da[p * as.c + c] + v : v;
        }
        for (int c = 0; c < bs.c; c++) {
            double v = g[p * ct + as.c + c];
            db[p * bs.c + c] = accumulate_b ? db[p * bs.c + c] + v : v;
        }
    }
}
