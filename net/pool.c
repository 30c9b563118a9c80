/* Max pool with fused zero padding, its backward through the recorded argmax, global average pool
 * (shaders/pool.comp, pool_bwd.comp, gap.comp), and plain-C references. */
#include "net/ops.h"
#include "net/launch.h"

typedef struct { uint32_t n, H, W, C, OH, OW; int32_t k, s, pt, pl; } pool_push;

static ctvk_status pool_check(const char *kernel, const ctvk_tensor *x, const ctvk_tensor *y, int k, int s, int pt,
                              int pb, int pl, int pr)
{
    if (k < 1 || s < 1 || pt < 0 || pb < 0 || pl < 0 || pr < 0)
        return ctvk__fail(CTVK_ERR_ARG, "%s: bad window %d, stride %d or padding (%d,%d,%d,%d)", kernel, k, s, pt, pb,
                          pl, pr);
    ctvk_shape a = x->shape, b = y->shape;
    int hp = a.h + pt + pb, wp = a.w + pl + pr;
    if (hp < k || wp < k || b.n != a.n || b.c != a.c || b.h != (hp - k) / s + 1 || b.w != (wp - k) / s + 1)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' {%d,%d,%d,%d} pooled %dx%d/%d with padding (%d,%d,%d,%d) does not give "
                          "'%s' {%d,%d,%d,%d}", kernel, x->name, a.n, a.h, a.w, a.c, k, k, s, pt, pb, pl, pr, y->name,
                          b.n, b.h, b.w, b.c);
    return CTVK_OK;
}

ctvk_status ctvk_maxpool(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, ctvk_tensor *argmax, int k, int s,
                         int pad_t, int pad_b, int pad_l, int pad_r)
{
    const ctvk_tensor *t[] = {x, y};
    CTVK_TRY(ctvk__ops_f32("maxpool", t, 2));
    CTVK_TRY(pool_check("maxpool", x, y, k, s, pad_t, pad_b, pad_l, pad_r));
    if (argmax) {
        CTVK_TRY(ctvk__need_dtype("maxpool", argmax, CTVK_U32));
        CTVK_TRY(ctvk__need_same_count("maxpool", y, argmax));
    }
    if (y->count > UINT32_MAX / 2 || x->count > UINT32_MAX / 2)
        return ctvk__fail(CTVK_ERR_ARG, "maxpool: tensor too large");
    uint32_t local = CTVK_OPS_LOCAL;   /* 8-lane groups: lavapipe 1.5-2x slower (docs/measurements.md) */
    /* 4 channels per invocation where C allows (vec4 fetches and stores) */
    int vec = x->shape.c % 4 == 0 && ctvk__vec4_ok(x);
    int32_t spec[3] = {(int32_t)local, argmax != NULL, vec};
    pool_push pc = {(uint32_t)y->count, (uint32_t)x->shape.h, (uint32_t)x->shape.w, (uint32_t)x->shape.c,
                    (uint32_t)y->shape.h, (uint32_t)y->shape.w, k, s, pad_t, pad_l};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "pool", vec ? "qww" : "tww", sizeof pc, spec, 3, &p));
    uint32_t gx, gy;
    ctvk__grid_1d(vec ? y->count / 4 : y->count, local, &gx, &gy);
    /* without argmax, y is bound twice: the shader never writes binding 2 then */
    const ctvk_tensor *bind[3] = {x, y, argmax ? argmax : y};
    return ctvk__dispatch(ctx, p, bind, &pc, gx, gy, 1);
}

ctvk_status ctvk_maxpool_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *argmax, ctvk_tensor *dx,
                                  int k, int s, int pad_t, int pad_b, int pad_l, int pad_r, int accumulate)
{
    const ctvk_tensor *t[] = {g, dx};
    CTVK_TRY(ctvk__ops_f32("maxpool_backward", t, 2));
    CTVK_TRY(ctvk__need_dtype("maxpool_backward", argmax, CTVK_U32));
    CTVK_TRY(ctvk__need_same_count("maxpool_backward", g, argmax));
    CTVK_TRY(pool_check("maxpool_backward", dx, g, k, s, pad_t, pad_b, pad_l, pad_r));
    ctvk_shape a = dx->shape, b = g->shape;
    /* 4 channels per invocation where C allows */
    int vec = a.c % 4 == 0 && ctvk__vec4_ok(g) && ctvk__vec4_ok(argmax);
    int32_t spec[3] = {CTVK_OPS_LOCAL, accumulate != 0, vec};
    pool_push pc = {(uint32_t)dx->count, (uint32_t)a.h, (uint32_t)a.w, (uint32_t)a.c, (uint32_t)b.h, (uint32_t)b.w,
                    k, s, pad_t, pad_l};
    const ctvk_tensor *bind[3] = {g, argmax, dx};
    return ctvk__ops_dispatch4(ctx, "pool_bwd", vec ? (accumulate ? "qqb" : "qqw") : (accumulate ? "ttb" : "ttw"), &pc,
                               sizeof pc, spec, 3, bind, dx->count);
}

typedef struct { uint32_t n, HW, C; } gap_push;

ctvk_status ctvk_gap(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    const ctvk_tensor *t[] = {x, y};
    CTVK_TRY(ctvk__ops_f32("gap", t, 2));
    ctvk_shape a = x->shape, b = y->shape;
    if (b.n != a.n || b.h != 1 || b.w != 1 || b.c != a.c || a.h * a.w < 1)
        return ctvk__fail(CTVK_ERR_ARG, "gap: output '%s' must be {%d,1,1,%d}", y->name, a.n, a.c);
    int32_t spec[3] = {0, CTVK_OPS_LOCAL, 0};
    gap_push pc = {(uint32_t)y->count, (uint32_t)(a.h * a.w), (uint32_t)a.c};
    const ctvk_tensor *bind[2] = {x, y};
    return ctvk__ops_dispatch4(ctx, "gap", "tw", &pc, sizeof pc, spec, 3, bind, y->count);
}

ctvk_status ctvk_gap_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int accumulate)
{
    const ctvk_tensor *t[] = {g, dx};
    CTVK_TRY(ctvk__ops_f32("gap_backward", t, 2));
    ctvk_shape a = dx->shape, b = g->shape;
    if (b.n != a.n || b.h != 1 || b.w != 1 || b.c != a.c)
        return ctvk__fail(CTVK_ERR_ARG, "gap_backward: gradient '%s' must be {%d,1,1,%d}", g->name, a.n, a.c);
    int32_t spec[3] = {1, CTVK_OPS_LOCAL, accumulate != 0};
    gap_push pc = {(uint32_t)dx->count, (uint32_t)(a.h * a.w), (uint32_t)a.c};
    const ctvk_tensor *bind[2] = {g, dx};
    return ctvk__ops_dispatch4(ctx, "gap", accumulate ? "tb" : "tw", &pc, sizeof pc, spec, 3, bind, dx->count);
}

/* ------------------------------------------------------------------ references */
static double padded_at(const double *x, ctvk_shape xs, int n, int h, int w, int c)
{
    if (h < 0 || w < 0 || h >= xs.h || w >= xs.w) return 0.0;
    return x[(((size_t)n * xs.h + h) * xs.w + w) * xs.c + c];
}

void ctvk_ref_maxpool(const double *x, ctvk_shape xs, double *y, ctvk_shape ys, uint32_t *argmax, int k, int s,
                      int pad_t, int pad_l)
{
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int c = 0; c < ys.c; c++) {
                    int h0 = oh * s - pad_t, w0 = ow * s - pad_l;
                    double best = padded_at(x, xs, n, h0, w0, c);
                    uint32_t arg = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            double v = padded_at(x, xs, n, h0 + ky, w0 + kx, c);
                            if (v > best) { best = v; arg = (uint32_t)(ky * k + kx); }
                        }
                    size_t o = (((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + c;
                    y[o] = best;
                    if (argmax) argmax[o] = arg;
                }
}

void ctvk_ref_maxpool_backward(const double *g, ctvk_shape ys, const uint32_t *argmax, double *dx, ctvk_shape xs,
                               int k, int s, int pad_t, int pad_l, int accumulate)
{
    if (!accumulate)
        for (size_t i = 0; i < (size_t)xs.n * xs.h * xs.w * xs.c; i++) dx[i] = 0;
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int c = 0; c < ys.c; c++) {
                    size_t o = (((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + c;
                    int ky = (int)argmax[o] / k, kx = (int)argmax[o] % k;
                    int h = oh * s - pad_t + ky, w = ow * s - pad_l + kx;
                    if (h < 0 || w < 0 || h >= xs.h || w >= xs.w) continue;   /* a padded zero won */
                    dx[(((size_t)n * xs.h + h) * xs.w + w) * xs.c + c] += g[o];
                }
}

void ctvk_ref_gap(const double *x, ctvk_shape xs, double *y)
{
    size_t hw = (size_t)xs.h * xs.w;
    for (int n = 0; n < xs.n; n++)
        for (int c = 0; c < xs.c; c++) {
            double s = 0;
            for (size_t r = 0; r < hw; r++) s += x[((size_t)n * hw + r) * xs.c + c];
            y[(size_t)n * xs.c + c] = s / (double)hw;
        }
}

void ctvk_ref_gap_backward(const double *g, double *dx, ctvk_shape xs, int accumulate)
{
    size_t hw = (size_t)xs.h * xs.w;
    for (int n = 0; n < xs.n; n++)
        for (size_t r = 0; r < hw; r++)
            for (int c = 0; c < xs.c; c++) {
                size_t o = ((size_t)n * hw + r) * xs.c + c;
                double v = g[(size_t)n * xs.c + c] / (double)hw;
                dx[o] = accumulate ? dx[o] + v : v;
            }
}
