/* conv2d launchers (net/conv.h): every pass is one implicit-GEMM dispatch of shaders/conv_cpu or
 * shaders/conv_gpu (by ctvk_kernel_variant), the bias gradient one dispatch of conv_bias_grad. */
#include "net/conv.h"
#include "net/conv_internal.h"
#include "net/launch.h"
#include <limits.h>

ctvk_status ctvk_conv2d_padded(int kh, int kw, int sh, int sw, int pt, int pb, int pl, int pr, ctvk_conv2d *p)
{
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || pt < 0 || pb < 0 || pl < 0 || pr < 0)
        return ctvk__fail(CTVK_ERR_ARG, "conv2d: kernel %dx%d, stride %dx%d, padding %d,%d,%d,%d: sizes and strides "
                          "must be >= 1 and padding >= 0", kh, kw, sh, sw, pt, pb, pl, pr);
    *p = (ctvk_conv2d){kh, kw, sh, sw, pt, pb, pl, pr, 0};
    return CTVK_OK;
}

ctvk_status ctvk_conv2d_valid(int kh, int kw, int sh, int sw, ctvk_conv2d *p)
{
    return ctvk_conv2d_padded(kh, kw, sh, sw, 0, 0, 0, 0, p);
}

static int same_pad_total(int in, int k, int s)
{
    int out = (in + s - 1) / s;
    int t = (out - 1) * s + k - in;
    return t > 0 ? t : 0;
}

ctvk_status ctvk_conv2d_same(int kh, int kw, int sh, int sw, int in_h, int in_w, ctvk_conv2d *p)
{
    if (in_h < 1 || in_w < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1)
        return ctvk__fail(CTVK_ERR_ARG, "conv2d 'same': input %dx%d, kernel %dx%d, stride %dx%d must be >= 1", in_h,
                          in_w, kh, kw, sh, sw);
    int th = same_pad_total(in_h, kh, sh), tw = same_pad_total(in_w, kw, sw);
    return ctvk_conv2d_padded(kh, kw, sh, sw, th / 2, th - th / 2, tw / 2, tw - tw / 2, p);
}

ctvk_status ctvk_conv2d_out_shape(const ctvk_conv2d *p, ctvk_shape x, int cout, ctvk_shape *y)
{
    int hh = x.h + p->pad_t + p->pad_b, ww = x.w + p->pad_l + p->pad_r;
    if (x.n < 1 || x.h < 1 || x.w < 1 || x.c < 1 || cout < 1 || hh < p->kh || ww < p->kw || p->stride_h < 1 ||
        p->stride_w < 1)
        return ctvk__fail(CTVK_ERR_ARG, "conv2d: a %dx%d kernel (padding %d,%d,%d,%d) does not fit input %dx%dx%dx%d "
                          "(or %d filters)", p->kh, p->kw, p->pad_t, p->pad_b, p->pad_l, p->pad_r, x.n, x.h, x.w, x.c,
                          cout);
    *y = (ctvk_shape){x.n, (hh - p->kh) / p->stride_h + 1, (ww - p->kw) / p->stride_w + 1, cout};
    return CTVK_OK;
}

double ctvk_conv2d_flops(const ctvk_conv2d *p, ctvk_shape x, int cout)
{
    ctvk_shape y = {0, 0, 0, 0};
    if (ctvk_conv2d_out_shape(p, x, cout, &y)) return 0;
    return 2.0 * y.n * y.h * y.w * (double)cout * p->kh * p->kw * x.c;
}

/* ---------------------------------------------------------------- the GEMM dispatch */
static ctvk_status need_in(const char *k, const ctvk_tensor *t)
{
    if (t->dtype != CTVK_F32 && t->dtype != CTVK_F16)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' must be fp32 or fp16", k, t->name);
    return CTVK_OK;
}

static ctvk_status conv_gemm(ctvk_ctx *ctx, const char *kname, int mode, const ctvk__conv_geo *g,
                             const ctvk_tensor *a, const ctvk_tensor *b, const ctvk_tensor *bias, ctvk_tensor *y,
                             int relu, int accumulate, int batch_b, const ctvk_conv_epilogue *e)
{
    CTVK_TRY(need_in(kname, a));
    CTVK_TRY(need_in(kname, b));
    if (bias) CTVK_TRY(need_in(kname, bias));
    int f16 = y->dtype == CTVK_F16;
    if (f16) {
        if (mode != 0 || accumulate)
            return ctvk__fail(CTVK_ERR_ARG, "%s: fp16 output '%s' is for the forward pass without accumulation", kname,
                              y->name);
        if (!ctx->info.storage16)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: fp16 output '%s' needs 16-bit storage, which %s lacks; use an "
                              "fp32 output", kname, y->name, ctx->info.name);
    } else {
        CTVK_TRY(ctvk__need_dtype(kname, y, CTVK_F32));
    }
    const ctvk_tensor *big[4] = {a, b, y, bias};
    for (int i = 0; i < 4; i++)
        if (big[i] && big[i]->count >= (size_t)INT_MAX)
            return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' has more than 2^31 elements", kname, big[i]->name);
    if (g->M < 1 || g->NC < 1 || g->KD < 1)
        return ctvk__fail(CTVK_ERR_ARG, "%s: empty problem (%d x %d x %d)", kname, g->M, g->NC, g->KD);

    if (e) {    /* the fused epilogue: forward, fp32, channels in fours (4-component residual view) */
        if (mode != 0 || accumulate || f16 || g->NC % 4)
            return ctvk__fail(CTVK_ERR_ARG, "%s: the fused epilogue is for fp32 forward passes with channels in fours",
                              kname);
        if (!ctvk__vec4_ok(y))      /* bound as the dummy residual when there is none */
            return ctvk__fail(CTVK_ERR_ARG, "%s: output '%s' cannot have a 4-component texel view", kname, y->name);
        if ((e->aff == NULL) != (e->z == NULL))
            return ctvk__fail(CTVK_ERR_ARG, "%s: the fused batch norm needs both its scale/shift and its output",
                              kname);
        if (e->res) {
            CTVK_TRY(ctvk__need_dtype(kname, e->res, CTVK_F32));
            CTVK_TRY(ctvk__need_same_count(kname, e->res, y));
            if (!ctvk__vec4_ok(e->res))
                return ctvk__fail(CTVK_ERR_ARG, "%s: residual '%s' cannot have a 4-component texel view", kname,
                                  e->res->name);
        }
        if (e->z) {
            CTVK_TRY(ctvk__need_dtype(kname, e->aff, CTVK_F32));
            CTVK_TRY(ctvk__need_dtype(kname, e->z, CTVK_F32));
            CTVK_TRY(ctvk__need_same_count(kname, e->z, y));
            if (e->aff->count != 2 * (size_t)g->NC)
                return ctvk__fail(CTVK_ERR_ARG, "%s: scale/shift '%s' has %zu values, want %d", kname, e->aff->name,
                                  e->aff->count, 2 * g->NC);
        }
    }
    int cpu = ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU;
    ctvk__conv_geo geo = *g;
    geo.ln = geo.relu = geo.batch_b = 0;
    /* ids 0-11 (the CPU kernel's; the GPU one's end at 9), 12-15 the fused epilogue's */
    int32_t spec[16] = {mode, bias != NULL, relu != 0, accumulate != 0};
    if (e) {
        spec[12] = e->res != NULL;
        spec[13] = e->z != NULL;
        spec[14] = e->z_relu != 0;
        spec[15] = !e->skip_y;
    }
    uint32_t rows_per_group, cols_per_group;
    const char *shader;
    char sig[8] = {'t', 't', 'u', accumulate ? 'b' : 'w', 'q', 'u', 'w', 0};
    if (!e) sig[4] = 0;
    int cols_fast = 0;
    if (cpu) {
        /* 16x16 per lane, 8 lanes per workgroup (measured on lavapipe with ctvk bench kernels, log in
         * docs/measurements.md): lavapipe spends its time in the texel fetches (a 4-component fetch
         * costs about what a scalar one does), so the larger block (16 + 16 fetches per 1024
         * multiply-adds instead of 8 + 8 per 256) wins although its 256 accumulators spill.
         * 8 columns when there are at most 8; 8 rows for backward-weights with Cin % 16 != 0 (its
         * 4-component path wants Cin % TM == 0). */
        int tm = 16, tn = g->NC > 8 ? 16 : 8, lanes = 8;
        if (mode == 0 && g->C % 4) tm = 8;
        if (mode == 2 && g->C % 16 && g->C % 8 == 0) tm = 8;
        int vec = tm % 4 == 0 && tn % 4 == 0 &&
                  (mode == 0 ? g->C % 4 == 0 && g->NC % 4 == 0 : mode == 1 ? g->K % 4 == 0
                                                                          : g->C % tm == 0 && g->K % 4 == 0);
        /* Scalar fetches (vec 0) are cheapest when the lanes share the A rows (lanes side by side
         * along columns), 4-component fetches when they share the B columns (lanes along rows). */
        int colblocks = (g->NC + tn - 1) / tn, ln = 1;
        while (ln < lanes && 2 * ln <= colblocks && (!vec || tm * (lanes / ln) > g->M)) ln *= 2;
        /* Forward: neighbouring workgroups walk the column blocks of the same rows (the x rows stay
         * in cache while the weights, a smaller panel in most layers, stream; measured faster on
         * every forward shape of ctvk bench kernels). The backward passes keep rows fastest. */
        cols_fast = mode == 0;
        /* the stem (Cin = 1): x scalar, the weights still 4 columns per fetch */
        int bvec = !vec && mode == 0 && g->NC % 4 == 0 && tn % 4 == 0;
        /* The lane split, ReLU and batching are push constants, like the shape (conv_cpu.glsl
         * reads them through ctvk_opaque): lavapipe compiles one kernel for all the layers, where
         * specialization constants cost a compilation each (1-2 s) and bought nothing measurable. */
        geo.ln = ln;
        /* A forward pass without bias runs the bias kernel over the zero view a NULL parameter
         * binding gets (runtime/vk/internal.h): lavapipe compiles one convolution kernel fewer
         * (1-1.5 s of a first run from empty caches) for 16 more fetches and adds per lane. */
        if (mode == 0 && !bias && !accumulate && g->NC <= CTVK_ZERO_FLOATS) spec[1] = 1;
        geo.relu = relu != 0;
        geo.batch_b = batch_b != 0;
        spec[2] = 0;
        spec[4] = tm; spec[5] = tn; spec[6] = lanes; spec[8] = vec; spec[9] = cols_fast;
        spec[10] = bvec;
        if (batch_b && (!vec || mode != 0 || g->OH * g->OW % tm))
            return ctvk__fail(CTVK_ERR_ARG, "%s: batched GEMMs need 4-component operands and whole row blocks", kname);
        sig[0] = sig[1] = vec ? 'q' : 't';
        if (bvec) sig[1] = 'q';
        rows_per_group = (uint32_t)(tm * (lanes / ln));
        cols_per_group = (uint32_t)(tn * ln);
        shader = e ? "conv_cpu_f" : f16 ? "conv_cpu_h" : "conv_cpu";
    } else {
        /* 64x64 tiles, 4x4 per invocation: 256 invocations, a multiple of every subgroup size up to
         * 128; devices limited to 128 invocations get 8x4 per invocation. */
        int tm = ctx->info.max_workgroup_invocations >= 256 ? 4 : 8, tn = 4, bm = 64, bn = 64, bk = 16;
        spec[4] = tm; spec[5] = tn; spec[6] = (bm / tm) * (bn / tn); spec[7] = bm; spec[8] = bn; spec[9] = bk;
        uint32_t shared = (uint32_t)(bk * (bm + bn) * (int)sizeof(float));   /* As and Bs of conv_gpu.glsl */
        if (shared > ctx->props.limits.maxComputeSharedMemorySize)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: the gpu kernels' tiles need %u bytes of shared memory, more "
                              "than the %u of %s; use [device] variant = cpu", kname, shared,
                              ctx->props.limits.maxComputeSharedMemorySize, ctx->info.name);
        rows_per_group = (uint32_t)bm;
        cols_per_group = (uint32_t)bn;
        shader = e ? "conv_gpu_f" : f16 ? "conv_gpu_h" : "conv_gpu";
        if (batch_b) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: batched GEMMs are for the CPU kernels", kname);
    }
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, shader, sig, sizeof geo, spec, e ? 16 : cpu ? 12 : 10, &pl));
    /* row blocks along x (or y with cols_fast), beyond 65535 continued along z */
    uint32_t rows = ((uint32_t)g->M + rows_per_group - 1) / rows_per_group;
    uint32_t cols = ((uint32_t)g->NC + cols_per_group - 1) / cols_per_group;
    uint32_t r1 = rows < 65535 ? rows : 65535, rz = (rows + r1 - 1) / r1;
    /* unused fused bindings get tensors this dispatch touches anyway (y is a whole 4-component view) */
    const ctvk_tensor *bind[7] = {a, b, bias, y, e && e->res ? e->res : y, e ? e->aff : NULL,
                                  e && e->z ? e->z : y};
    return cols_fast ? ctvk__dispatch(ctx, pl, bind, &geo, cols, r1, rz) : ctvk__dispatch(ctx, pl, bind, &geo, r1, cols, rz);
}

ctvk_status ctvk__conv_gemm(ctvk_ctx *ctx, const char *kname, int mode, const ctvk__conv_geo *g,
                            const ctvk_tensor *a, const ctvk_tensor *b, const ctvk_tensor *bias, ctvk_tensor *y,
                            int relu, int accumulate, int batch_b)
{
    return conv_gemm(ctx, kname, mode, g, a, b, bias, y, relu, accumulate, batch_b, NULL);
}

ctvk_status ctvk__conv_gemm_fused(ctvk_ctx *ctx, const char *kname, const ctvk__conv_geo *g, const ctvk_tensor *a,
                                  const ctvk_tensor *b, const ctvk_tensor *bias, ctvk_tensor *y, int relu,
                                  const ctvk_conv_epilogue *e)
{
    return conv_gemm(ctx, kname, 0, g, a, b, bias, y, relu, 0, 0, e);
}

/* ---------------------------------------------------------------- conv2d */
static ctvk_status conv_check(const char *k, const ctvk_conv2d *p, ctvk_shape xs, ctvk_shape ys,
                              const ctvk_tensor *w, ctvk__conv_geo *g)
{
    if (!p) return ctvk__fail(CTVK_ERR_ARG, "%s: no geometry", k);
    ctvk_shape want = {0, 0, 0, 0};
    CTVK_TRY(ctvk_conv2d_out_shape(p, xs, ys.c, &want));
    if (want.n != ys.n || want.h != ys.h || want.w != ys.w)
        return ctvk__fail(CTVK_ERR_ARG, "%s: output is %dx%dx%dx%d but input %dx%dx%dx%d with a %dx%d/%dx%d kernel "
                          "gives %dx%dx%dx%d", k, ys.n, ys.h, ys.w, ys.c, xs.n, xs.h, xs.w, xs.c, p->kh, p->kw,
                          p->stride_h, p->stride_w, want.n, want.h, want.w, want.c);
    size_t wc = (size_t)p->kh * p->kw * xs.c * ys.c;
    if (w->count != wc)
        return ctvk__fail(CTVK_ERR_ARG, "%s: weights '%s' have %zu elements, want %dx%dx%dx%d = %zu", k, w->name,
                          w->count, p->kh, p->kw, xs.c, ys.c, wc);
    *g = (ctvk__conv_geo){xs.n, xs.h, xs.w, xs.c, ys.h, ys.w, ys.c, p->kh, p->kw, p->stride_h, p->stride_w,
                          p->pad_t, p->pad_l, 0, 0, 0, 0, 0, 0};
    return CTVK_OK;
}

ctvk_status ctvk_conv2d_forward(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x, const ctvk_tensor *w,
                                const ctvk_tensor *bias, ctvk_tensor *y)
{
    ctvk__conv_geo g;
    CTVK_TRY(conv_check("conv2d_forward", p, x->shape, y->shape, w, &g));
    if (bias && bias->count != (size_t)y->shape.c)
        return ctvk__fail(CTVK_ERR_ARG, "conv2d_forward: bias '%s' has %zu elements, want %d", bias->name, bias->count,
                          y->shape.c);
    g.M = g.N * g.OH * g.OW; g.NC = g.K; g.KD = g.KH * g.KW * g.C;
    return ctvk__conv_gemm(ctx, "conv2d_forward", 0, &g, x, w, bias, y, p->relu, 0, 0);
}

ctvk_status ctvk_conv2d_forward_fused(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x, const ctvk_tensor *w,
                                      const ctvk_tensor *bias, const ctvk_conv_epilogue *e, ctvk_tensor *y)
{
    ctvk__conv_geo g;
    CTVK_TRY(conv_check("conv2d_forward_fused", p, x->shape, y->shape, w, &g));
    if (bias && bias->count != (size_t)y->shape.c)
        return ctvk__fail(CTVK_ERR_ARG, "conv2d_forward_fused: bias '%s' has %zu elements, want %d", bias->name,
                          bias->count, y->shape.c);
    g.M = g.N * g.OH * g.OW; g.NC = g.K; g.KD = g.KH * g.KW * g.C;
    static const ctvk_conv_epilogue none = {0};
    return ctvk__conv_gemm_fused(ctx, "conv2d_forward_fused", &g, x, w, bias, y, p->relu, e ? e : &none);
}

ctvk_status ctvk_conv2d_backward_data(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *dy,
                                      const ctvk_tensor *w, ctvk_tensor *dx, int accumulate)
{
    ctvk__conv_geo g;
    CTVK_TRY(conv_check("conv2d_backward_data", p, dx->shape, dy->shape, w, &g));
    g.M = g.N * g.H * g.W; g.NC = g.C; g.KD = g.KH * g.KW * g.K;
    return ctvk__conv_gemm(ctx, "conv2d_backward_data", 1, &g, dy, w, NULL, dx, 0, accumulate, 0);
}

ctvk_status ctvk_conv2d_backward_weights(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x,
                                         const ctvk_tensor *dy, ctvk_tensor *dw, ctvk_tensor *db, int accumulate)
{
    ctvk__conv_geo g;
    CTVK_TRY(conv_check("conv2d_backward_weights", p, x->shape, dy->shape, dw, &g));
    g.M = g.KH * g.KW * g.C; g.NC = g.K; g.KD = g.N * g.OH * g.OW;
    CTVK_TRY(ctvk__conv_gemm(ctx, "conv2d_backward_weights", 2, &g, x, dy, NULL, dw, 0, accumulate, 0));
    return db ? ctvk_bias_grad(ctx, dy, db, accumulate) : CTVK_OK;
}

ctvk_status ctvk_bias_grad(ctvk_ctx *ctx, const ctvk_tensor *dy, ctvk_tensor *db, int accumulate)
{
    CTVK_TRY(need_in("bias_grad", dy));
    CTVK_TRY(ctvk__need_dtype("bias_grad", db, CTVK_F32));
    if (db->count < 1 || dy->count % db->count || dy->count >= (size_t)INT_MAX)
        return ctvk__fail(CTVK_ERR_ARG, "bias_grad: dy '%s' (%zu elements) is not rows of db '%s' (%zu channels)",
                          dy->name, dy->count, db->name, db->count);
    struct { int32_t rows, c; } pc = {(int32_t)(dy->count / db->count), (int32_t)db->count};
    int32_t spec[2] = {accumulate != 0, 8};
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, "conv_bias_grad", accumulate ? "tb" : "tw", sizeof pc, spec, 2, &pl));
    const ctvk_tensor *bind[2] = {dy, db};
    return ctvk__dispatch(ctx, pl, bind, &pc, (uint32_t)(pc.c + 7) / 8, 1, 1);
}
