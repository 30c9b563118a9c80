/* Dense layers as 1x1 convolutions on N x 1 x 1 x in: the same implicit-GEMM kernels. */
#include "net/conv.h"
#include "net/conv_internal.h"

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
    *g = (ctvk__conv_geo){n, 1, 1, (int32_t)in, 1, 1, (int32_t)out, 1, 1, 1, 1, 0, 0, 0, 0, 0};
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
