/* Winograd F(2x2, 3x3) convolution for 3x3 stride-1 layers (net/conv.h): the input, output and
 * weight transforms (shaders/wino.comp) around 16 batched GEMMs run by the conv kernel, and the
 * plain-C references of the transforms.
 *
 * With d a 4x4 input patch, g a 3x3 filter and (Lavin and Gray 2016)
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1],
 * the 2x2 outputs are A^T [(G g G^T) .* (B^T d B)] A, summed over input channels: per transformed
 * position xi (16 of them) a GEMM M[xi] (tiles x Cout) = V[xi] (tiles x Cin) U[xi] (Cin x Cout).
 * That is 16 * Cin * Cout multiply-adds per 2x2 tile instead of 36 * Cin * Cout. */
#include "net/conv.h"
#include "net/conv_internal.h"
#include "net/ops.h"

#define WINO_ROWS 16    /* the CPU GEMM's rows per lane: every GEMM's rows are padded to this */

typedef struct { int32_t T, Tp, C, K, H, W, TH, TW, PT, PL; } wino_push;

static void tiles(ctvk_shape ys, int *T, int *Tp, int *TH, int *TW)
{
    *TH = (ys.h + 1) / 2;
    *TW = (ys.w + 1) / 2;
    *T = ys.n * *TH * *TW;
    *Tp = (*T + WINO_ROWS - 1) / WINO_ROWS * WINO_ROWS;
}

int ctvk_conv2d_winograd_ok(const ctvk_ctx *ctx, const ctvk_conv2d *p, ctvk_shape x, int cout)
{
    return ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU && p->kh == 3 && p->kw == 3 && p->stride_h == 1 &&
           p->stride_w == 1 && x.c % 4 == 0 && cout % 4 == 0 && x.c > 0 && cout > 0;
}

void ctvk_conv2d_winograd_workspace(const ctvk_conv2d *p, ctvk_shape x, int cout, size_t *v_count, size_t *m_count)
{
    ctvk_shape ys = {x.n, x.h + p->pad_t + p->pad_b - 2, x.w + p->pad_l + p->pad_r - 2, cout};
    int T, Tp, TH, TW;
    tiles(ys, &T, &Tp, &TH, &TW);
    *v_count = 16 * (size_t)Tp * (size_t)x.c;
    *m_count = 16 * (size_t)Tp * (size_t)cout;
}

static ctvk_status wino_dispatch(ctvk_ctx *ctx, int stage, const wino_push *pc, const ctvk_tensor *const *bind,
                                 const char *sig, int bias, int relu, int resid, int flip, int acc, uint64_t items)
{
    int32_t spec[7] = {CTVK_OPS_LOCAL, stage, bias, relu, resid, flip, acc};
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, "wino", sig, sizeof *pc, spec, 7, &pl));
    uint32_t gx, gy;
    ctvk__grid_1d(items, CTVK_OPS_LOCAL, &gx, &gy);
    return ctvk__dispatch(ctx, pl, bind, pc, gx, gy, 1);
}

ctvk_status ctvk_conv2d_winograd_weights(ctvk_ctx *ctx, const ctvk_tensor *w, int cin, int cout, int backward,
                                         ctvk_tensor *u)
{
    const char *k = "winograd_weights";
    const ctvk_tensor *t[] = {w, u};
    CTVK_TRY(ctvk__ops_f32(k, t, 2));
    if (cin < 1 || cout < 1 || (backward ? cin : cout) % 4)
        return ctvk__fail(CTVK_ERR_ARG, "%s: %d -> %d channels (the transformed filters' outputs must come in fours)",
                          k, cin, cout);
    CTVK_TRY(ctvk__ops_count(k, w, 9 * (size_t)cin * cout, "3x3 HWIO filters"));
    CTVK_TRY(ctvk__ops_count(k, u, 16 * (size_t)cin * cout, "16 transformed planes"));
    /* backward: the filters of dx = conv(dy): Cout inputs, Cin outputs */
    int rows = backward ? cout : cin, cols = backward ? cin : cout;
    wino_push pc = {0, 0, rows, cols, 0, 0, 0, 0, 0, 0};
    const ctvk_tensor *bind[4] = {w, w, w, u};
    if (!backward && !ctvk__vec4_ok(w))
        return ctvk__fail(CTVK_ERR_ARG, "%s: weights '%s' cannot have a 4-component texel view (offset %llu)", k,
                          w->name, (unsigned long long)w->offset);
    return wino_dispatch(ctx, 2, &pc, bind, backward ? "tttw" : "qtqw", 0, 0, 0, backward, 0,
                         (uint64_t)rows * (uint64_t)(cols / 4));
}

static ctvk_status wino_forward(ctvk_ctx *ctx, const char *k, const ctvk_conv2d *p, const ctvk_tensor *x,
                                const ctvk_tensor *u, const ctvk_tensor *bias, const ctvk_tensor *resid, ctvk_tensor *y,
                                ctvk_tensor *vwork, ctvk_tensor *mwork, int accumulate)
{
    const ctvk_tensor *t[] = {x, u, bias, resid, y, vwork, mwork};
    CTVK_TRY(ctvk__ops_f32(k, t, 7));
    ctvk_shape xs = x->shape, ys = y->shape;
    if (!ctvk_conv2d_winograd_ok(ctx, p, xs, ys.c))
        return ctvk__fail(CTVK_ERR_ARG, "%s: needs a 3x3 stride-1 conv with channels in fours on the CPU kernels "
                          "('%s' has %d -> %d)", k, x->name, xs.c, ys.c);
    ctvk_shape want;
    CTVK_TRY(ctvk_conv2d_out_shape(p, xs, ys.c, &want));
    if (want.n != ys.n || want.h != ys.h || want.w != ys.w)
        return ctvk__fail(CTVK_ERR_ARG, "%s: output '%s' is %dx%dx%dx%d, the conv gives %dx%dx%dx%d", k, y->name, ys.n,
                          ys.h, ys.w, ys.c, want.n, want.h, want.w, want.c);
    CTVK_TRY(ctvk__ops_count(k, u, 16 * (size_t)xs.c * ys.c, "16 transformed planes"));
    if (bias) CTVK_TRY(ctvk__ops_count(k, bias, (size_t)ys.c, "one per output channel"));
    if (resid) CTVK_TRY(ctvk__need_same_count(k, resid, y));
    size_t nv, nm;
    ctvk_conv2d_winograd_workspace(p, xs, ys.c, &nv, &nm);
    if (vwork->count < nv || mwork->count < nm)
        return ctvk__fail(CTVK_ERR_ARG, "%s: workspaces '%s' (%zu) and '%s' (%zu) are smaller than %zu and %zu", k,
                          vwork->name, vwork->count, mwork->name, mwork->count, nv, nm);
    if (nv >= (size_t)INT32_MAX || nm >= (size_t)INT32_MAX || y->count >= (size_t)INT32_MAX)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensors of more than 2^31 elements", k);
    int T, Tp, TH, TW;
    tiles(ys, &T, &Tp, &TH, &TW);
    /* input transform */
    wino_push pc = {T, Tp, xs.c, 0, xs.h, xs.w, TH, TW, p->pad_t, p->pad_l};
    const ctvk_tensor *b0[4] = {x, x, x, vwork};
    CTVK_TRY(wino_dispatch(ctx, 0, &pc, b0, "qtqw", 0, 0, 0, 0, 0, (uint64_t)Tp * (uint64_t)(xs.c / 4)));
    /* 16 GEMMs, one dispatch: "image" xi of Tp rows times U[xi] */
    ctvk__conv_geo g = {16, 1, Tp, xs.c, 1, Tp, ys.c, 1, 1, 1, 1, 0, 0, 16 * Tp, ys.c, xs.c};
    CTVK_TRY(ctvk__conv_gemm(ctx, k, 0, &g, vwork, u, NULL, mwork, 0, 0, 1));
    /* output transform with the epilogue */
    pc = (wino_push){T, Tp, ys.c, 0, ys.h, ys.w, TH, TW, 0, 0};
    const ctvk_tensor *b1[4] = {mwork, bias ? bias : u, resid ? resid : mwork, y};
    return wino_dispatch(ctx, 1, &pc, b1, accumulate ? "qtqb" : "qtqw", bias != NULL, p->relu != 0, resid != NULL, 0,
                         accumulate, (uint64_t)T * (uint64_t)(ys.c / 4));
}

ctvk_status ctvk_conv2d_backward_data_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *dy,
                                               const ctvk_tensor *ut, ctvk_tensor *dx, ctvk_tensor *vwork,
                                               ctvk_tensor *mwork, int accumulate)
{
    ctvk_conv2d q;
    CTVK_TRY(ctvk_conv2d_winograd_backward_geometry(p, &q));
    return wino_forward(ctx, "conv2d_backward_data_winograd", &q, dy, ut, NULL, NULL, dx, vwork, mwork, accumulate);
}

ctvk_status ctvk_conv2d_winograd_backward_geometry(const ctvk_conv2d *p, ctvk_conv2d *q)
{
    if (p->kh != 3 || p->kw != 3 || p->stride_h != 1 || p->stride_w != 1 || p->pad_t > 2 || p->pad_b > 2 ||
        p->pad_l > 2 || p->pad_r > 2)
        return ctvk__fail(CTVK_ERR_ARG, "winograd backward: needs a 3x3 stride-1 conv padded by at most 2");
    return ctvk_conv2d_padded(3, 3, 1, 1, 2 - p->pad_t, 2 - p->pad_b, 2 - p->pad_l, 2 - p->pad_r, q);
}

ctvk_status ctvk_conv2d_forward_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x,
                                         const ctvk_tensor *u, const ctvk_tensor *bias, const ctvk_tensor *resid,
                                         ctvk_tensor *y, ctvk_tensor *vwork, ctvk_tensor *mwork)
{
    return wino_forward(ctx, "conv2d_forward_winograd", p, x, u, bias, resid, y, vwork, mwork, 0);
}

/* ---------------------------------------------------------------- references (double) */
void ctvk_ref_winograd_weights(int cin, int cout, int backward, const double *w, double *u)
{
    int rows = backward ? cout : cin, cols = backward ? cin : cout;
    for (int ci = 0; ci < rows; ci++)
        for (int co = 0; co < cols; co++) {
            double g[3][3], a[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    g[i][j] = backward ? w[((size_t)((2 - i) * 3 + (2 - j)) * cin + co) * cout + ci]
                                       : w[((size_t)(i * 3 + j) * cin + ci) * cout + co];
            for (int j = 0; j < 3; j++) {     /* G g */
                a[0][j] = g[0][j];
                a[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
                a[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
                a[3][j] = g[2][j];
            }
            for (int i = 0; i < 4; i++) {     /* (G g) G^T */
                double r[4] = {a[i][0], 0.5 * (a[i][0] + a[i][1] + a[i][2]), 0.5 * (a[i][0] - a[i][1] + a[i][2]),
                               a[i][2]};
                for (int j = 0; j < 4; j++) u[((size_t)(i * 4 + j) * rows + ci) * cols + co] = r[j];
            }
        }
}

void ctvk_ref_winograd_input(const ctvk_conv2d *p, ctvk_shape xs, const double *x, int oh, int ow, double *v,
                             int *tiles_padded)
{
    ctvk_shape ys = {xs.n, oh, ow, 0};
    int T, Tp, TH, TW, C = xs.c;
    tiles(ys, &T, &Tp, &TH, &TW);
    *tiles_padded = Tp;
    for (int t = 0; t < Tp; t++)
        for (int c = 0; c < C; c++) {
            double d[4][4] = {{0}}, b[4][4];
            if (t < T) {
                int tw = t % TW, r = t / TW, th = r % TH, n = r / TH;
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int ih = 2 * th - p->pad_t + i, iw = 2 * tw - p->pad_l + j;
                        if (ih >= 0 && ih < xs.h && iw >= 0 && iw < xs.w)
                            d[i][j] = x[(((size_t)n * xs.h + ih) * xs.w + iw) * C + c];
                    }
            }
            for (int j = 0; j < 4; j++) {
                b[0][j] = d[0][j] - d[2][j];
                b[1][j] = d[1][j] + d[2][j];
                b[2][j] = d[2][j] - d[1][j];
                b[3][j] = d[1][j] - d[3][j];
            }
            for (int i = 0; i < 4; i++) {
                double r[4] = {b[i][0] - b[i][2], b[i][1] + b[i][2], b[i][2] - b[i][1], b[i][1] - b[i][3]};
                for (int j = 0; j < 4; j++) v[((size_t)(i * 4 + j) * Tp + t) * C + c] = r[j];
            }
        }
}

void ctvk_ref_winograd_output(ctvk_shape ys, const double *m, int tiles_padded, const double *bias,
                              const double *resid, int relu, double *y)
{
    int T, Tp, TH, TW, K = ys.c;
    tiles(ys, &T, &Tp, &TH, &TW);
    Tp = tiles_padded;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            double s[2][4];
            for (int j = 0; j < 4; j++) {
                double c0 = m[((size_t)(0 * 4 + j) * Tp + t) * K + k], c1 = m[((size_t)(1 * 4 + j) * Tp + t) * K + k];
                double c2 = m[((size_t)(2 * 4 + j) * Tp + t) * K + k], c3 = m[((size_t)(3 * 4 + j) * Tp + t) * K + k];
                s[0][j] = c0 + c1 + c2;
                s[1][j] = c1 - c2 - c3;
            }
            int tw = t % TW, r = t / TW, th = r % TH, n = r / TH;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    int oh = 2 * th + i, ow = 2 * tw + j;
                    if (oh >= ys.h || ow >= ys.w) continue;
                    size_t o = (((size_t)n * ys.h + oh) * ys.w + ow) * K + k;
                    double v = (j == 0 ? s[i][0] + s[i][1] + s[i][2] : s[i][1] - s[i][2] - s[i][3]);
                    v += (bias ? bias[k] : 0) + (resid ? resid[o] : 0);
                    y[o] = relu && v < 0 ? 0 : v;
                }
        }
}
