/* Space-to-depth for stride-2 convs with few input channels (net/conv.h): the stems (512x512x1,
 * 7x7/2) read x one channel per fetch and run at a third of the speed of the other layers on the
 * CPU kernels; rearranged into 2x2 blocks (4C channels) the same conv is a 4x4 stride-1 conv that
 * reads 4 channels per fetch (64/49 of the multiply-adds, the extra ones on zero weights). */
#include "net/conv.h"
#include "net/ops.h"

typedef struct { uint32_t n; int32_t H, W, C, OH, OW, K, PT, PL; } s2d_push;

int ctvk_conv2d_s2d_geometry(const ctvk_conv2d *p, ctvk_shape x, ctvk_conv2d *q, ctvk_shape *x2)
{
    if (p->stride_h != 2 || p->stride_w != 2 || p->kh < 2 || p->kw < 2 || x.c < 1) return 0;
    int hp = x.h + p->pad_t + p->pad_b, wp = x.w + p->pad_l + p->pad_r;
    if (hp < p->kh || wp < p->kw) return 0;
    *x2 = (ctvk_shape){x.n, (hp + 1) / 2, (wp + 1) / 2, 4 * x.c};
    if (ctvk_conv2d_valid((p->kh + 1) / 2, (p->kw + 1) / 2, 1, 1, q)) return 0;
    q->relu = p->relu;
    /* the same output size (the extra row or column of an odd padded size must not add one) */
    int oh = (hp - p->kh) / 2 + 1, ow = (wp - p->kw) / 2 + 1;
    return x2->h - q->kh + 1 == oh && x2->w - q->kw + 1 == ow;
}

static ctvk_status s2d_dispatch(ctvk_ctx *ctx, int stage, const ctvk_tensor *src, ctvk_tensor *dst, s2d_push pc)
{
    int32_t spec[2] = {CTVK_OPS_LOCAL, stage};
    const ctvk_tensor *b[2] = {src, dst};
    return ctvk__ops_dispatch4(ctx, "s2d", "tw", &pc, sizeof pc, spec, 2, b, dst->count);
}

ctvk_status ctvk_space_to_depth(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x, ctvk_tensor *x2)
{
    const char *k = "space_to_depth";
    const ctvk_tensor *t[] = {x, x2};
    CTVK_TRY(ctvk__ops_f32(k, t, 2));
    ctvk_conv2d q;
    ctvk_shape want;
    if (!ctvk_conv2d_s2d_geometry(p, x->shape, &q, &want))
        return ctvk__fail(CTVK_ERR_ARG, "%s: the conv of '%s' is not a stride-2 conv this rearranges", k, x->name);
    ctvk_shape s = x2->shape;
    if (s.n != want.n || s.h != want.h || s.w != want.w || s.c != want.c)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' is %dx%dx%dx%d, want %dx%dx%dx%d", k, x2->name, s.n, s.h, s.w, s.c,
                          want.n, want.h, want.w, want.c);
    s2d_push pc = {(uint32_t)x2->count, x->shape.h, x->shape.w, x->shape.c, s.h, s.w, 1, p->pad_t, p->pad_l};
    return s2d_dispatch(ctx, 0, x, x2, pc);
}

ctvk_status ctvk_space_to_depth_weights(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *w, int cin, int cout,
                                        ctvk_tensor *w2)
{
    const char *k = "space_to_depth_weights";
    const ctvk_tensor *t[] = {w, w2};
    CTVK_TRY(ctvk__ops_f32(k, t, 2));
    int kh2 = (p->kh + 1) / 2, kw2 = (p->kw + 1) / 2;
    CTVK_TRY(ctvk__ops_count(k, w, (size_t)p->kh * p->kw * cin * cout, "the conv's HWIO filters"));
    CTVK_TRY(ctvk__ops_count(k, w2, (size_t)kh2 * kw2 * 4 * cin * cout, "the rearranged filters"));
    s2d_push pc = {(uint32_t)w2->count, p->kh, p->kw, cin, kh2, kw2, cout, 0, 0};
    return s2d_dispatch(ctx, 1, w, w2, pc);
}

void ctvk_ref_space_to_depth(const ctvk_conv2d *p, ctvk_shape xs, const double *x, ctvk_shape x2s, double *x2)
{
    int C = xs.c;
    for (int n = 0; n < x2s.n; n++)
        for (int a = 0; a < x2s.h; a++)
            for (int b = 0; b < x2s.w; b++)
                for (int q = 0; q < 4; q++)
                    for (int c = 0; c < C; c++) {
                        int ih = 2 * a + (q >> 1) - p->pad_t, iw = 2 * b + (q & 1) - p->pad_l;
                        double v = ih >= 0 && iw >= 0 && ih < xs.h && iw < xs.w
                                   ? x[(((size_t)n * xs.h + ih) * xs.w + iw) * C + c] : 0.0;
                        x2[(((size_t)n * x2s.h + a) * x2s.w + b) * 4 * C + q * C + c] = v;
                    }
}

void ctvk_ref_space_to_depth_weights(const ctvk_conv2d *p, int cin, int cout, const double *w, double *w2)
{
    int kh2 = (p->kh + 1) / 2, kw2 = (p->kw + 1) / 2;
    for (int a = 0; a < kh2; a++)
        for (int b = 0; b < kw2; b++)
            for (int q = 0; q < 4; q++)
                for (int c = 0; c < cin; c++)
                    for (int k = 0; k < cout; k++) {
                        int kh = 2 * a + (q >> 1), kw = 2 * b + (q & 1);
                        w2[(((size_t)(a * kw2 + b) * 4 * cin) + q * cin + c) * cout + k] =
                            kh < p->kh && kw < p->kw ? w[(((size_t)kh * p->kw + kw) * cin + c) * cout + k] : 0.0;
                    }
}
