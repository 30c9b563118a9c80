/* Dense layers as 1x1 convolutions on N x 1 x 1 x in: the same implicit-GEMM kernels; a split-K
 * forward (shaders/dense_splitk.comp) for few rows and outputs over a long input. */
#include "net/conv.h"
#include "net/conv_internal.h"
#include <limits.h>

static ctvk_status dense_geo(const char *k, const ctvk_tensor *x, const ctvk_tensor *y, const ctvk_tensor *w,
                             ctvk__conv_geo *g)
{
    int n = x->shape.n;
    if (n < 1 || y->shape.n != n || x->count % (size_t)n || y->count % (size_t)n)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' and '%s' must both have N = %d rows", k, x->name, y->name, n);
    size_t in = x->count / (size_t)n, out = y->count / (size_t)n;
    if (w->count != in * out)
        return ctvk__fail(CTVK_ERR_ARG, "%s: weights '%s' have %zu elements, want %zu x %zu", k, w->name, w->count, in,
                          out);
    *g = (ctvk__conv_geo){n, 1, 1, (int32_t)in, 1, 1, (int32_t)out, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    return CTVK_OK;
}

ctvk_status ctvk_dense_forward(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *w, const ctvk_tensor *bias,
                               int relu, ctvk_tensor *y)
{
    ctvk__conv_geo g;
    CTVK_TRY(dense_geo("dense_forward", x, y, w, &g));
    if (bias && bias->count != (size_t)g.K)
        return ctvk__fail(CTVK_ERR_ARG, "dense_forward: bias '%s' has %zu elements, want %d", bias->name, bias->count,
                          g.K);
    g.M = g.N; g.NC = g.K; g.KD = g.C;
    return ctvk__conv_gemm(ctx, "dense_forward", 0, &g, x, w, bias, y, relu, 0, 0);
}

ctvk_status ctvk_dense_backward_data(ctvk_ctx *ctx, const ctvk_tensor *dy, const ctvk_tensor *w, ctvk_tensor *dx,
                                     int accumulate)
{
    ctvk__conv_geo g;
    CTVK_TRY(dense_geo("dense_backward_data", dx, dy, w, &g));
    g.M = g.N; g.NC = g.C; g.KD = g.K;
    return ctvk__conv_gemm(ctx, "dense_backward_data", 1, &g, dy, w, NULL, dx, 0, accumulate, 0);
}

ctvk_status ctvk_dense_backward_weights(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *dy, ctvk_tensor *dw,
                                        ctvk_tensor *db, int accumulate)
{
    ctvk__conv_geo g;
    CTVK_TRY(dense_geo("dense_backward_weights", x, dy, dw, &g));
    g.M = g.C; g.NC = g.K; g.KD = g.N;
    CTVK_TRY(ctvk__conv_gemm(ctx, "dense_backward_weights", 2, &g, x, dy, NULL, dw, 0, accumulate, 0));
    return db ? ctvk_bias_grad(ctx, dy, db, accumulate) : CTVK_OK;
}

/* ---------------------------------------------------------------- split-K forward */
typedef struct { int32_t N, KD, NC, P, relu; } splitk_push;

/* Lanes of the split: about 256 inputs each, at most 4096, a multiple of 64 (the workgroup). */
static int splitk_lanes(size_t in)
{
    size_t p = in / 256;
    p = p < 64 ? 64 : p > 4096 ? 4096 : p;
    return (int)(p / 64 * 64);
}

int ctvk_dense_splitk_fits(int n, size_t in, int out)
{
    return n >= 1 && n <= 16 && out >= 1 && out <= 16 && in >= 1 && in < (size_t)INT32_MAX / 16;
}

int ctvk_dense_splitk_ok(int n, size_t in, int out) { return ctvk_dense_splitk_fits(n, in, out) && in >= 1024; }

size_t ctvk_dense_splitk_workspace(int n, size_t in, int out)
{
    return (size_t)n * (size_t)out * (size_t)splitk_lanes(in);
}

ctvk_status ctvk_dense_forward_splitk(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *w,
                                      const ctvk_tensor *bias, int relu, ctvk_tensor *y, ctvk_tensor *work)
{
    const char *k = "dense_forward_splitk";
    ctvk__conv_geo g;
    CTVK_TRY(dense_geo(k, x, y, w, &g));
    const ctvk_tensor *t[] = {x, w, bias, y, work};
    for (int i = 0; i < 5; i++)
        if (t[i]) CTVK_TRY(ctvk__need_dtype(k, t[i], CTVK_F32));
    if (bias && bias->count != (size_t)g.K)
        return ctvk__fail(CTVK_ERR_ARG, "%s: bias '%s' has %zu elements, want %d", k, bias->name, bias->count, g.K);
    if (!ctvk_dense_splitk_fits(g.N, (size_t)g.C, g.K))
        return ctvk__fail(CTVK_ERR_ARG, "%s: %d rows of %d -> %d are not for the split-K kernel (1-16 rows and "
                          "outputs)", k, g.N, g.C, g.K);
    size_t need = ctvk_dense_splitk_workspace(g.N, (size_t)g.C, g.K);
    if (work->count < need)
        return ctvk__fail(CTVK_ERR_ARG, "%s: workspace '%s' has %zu elements, want %zu", k, work->name, work->count,
                          need);
    /* Two pipelines for every dense layer (lavapipe compiles each once): the ReLU is a push
     * constant, a layer without bias adds the zero view a NULL binding gets (runtime/vk/internal.h). */
    splitk_push pc = {g.N, g.C, g.K, splitk_lanes((size_t)g.C), relu != 0};
    int32_t spec[3] = {64, 0, 1};
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, "dense_splitk", "ttuw", sizeof pc, spec, 3, &pl));
    const ctvk_tensor *b0[4] = {x, w, bias, work};
    CTVK_TRY(ctvk__dispatch(ctx, pl, b0, &pc, (uint32_t)pc.P / 64, (uint32_t)g.N, 1));
    spec[1] = 1;
    CTVK_TRY(ctvk__pipeline_get(ctx, "dense_splitk", "ttuw", sizeof pc, spec, 3, &pl));
    const ctvk_tensor *b1[4] = {work, w, bias, y};
    return ctvk__dispatch(ctx, pl, b1, &pc, (uint32_t)(g.N * g.K + 63) / 64, 1, 1);
}
