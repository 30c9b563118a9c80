/* Winograd F(m x m, 3x3) convolution for 3x3 stride-1 layers (net/conv.h), m = 2 or 4: the input,
 * output and weight transforms (shaders/wino.comp) around R*R (R = m + 2) batched GEMMs run by the
 * conv kernel, and the plain-C references of the transforms.
 *
 * With d an R x R input patch, g a 3x3 filter and (Lavin and Gray 2016)
 *   F(2,3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *           A^T = [1 1 1 0; 0 1 -1 -1];
 *   F(4,3): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *                  0 4 0 -5 0 1], G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
 *                  1/24 -1/12 1/6; 0 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
 * the m x m outputs are A^T [(G g G^T) .* (B^T d B)] A, summed over input channels: per transformed
 * position xi (R*R of them) a GEMM M[xi] (tiles x Cout) = V[xi] (tiles x Cin) U[xi] (Cin x Cout).
 * That is 16 (F(2,3)) or 36 (F(4,3)) multiply-adds per tile of 4 or 16 outputs and channel pair,
 * instead of 9 per output. */
#include "net/conv.h"
#include "net/conv_internal.h"
#include "net/ops.h"

#define WINO_ROWS 16    /* the CPU GEMM's rows per lane: every GEMM's rows are padded to this */

typedef struct { int32_t T, Tp, C, K, H, W, TH, TW, PT, PL; } wino_push;

static void tiles(ctvk_shape ys, int m, int *T, int *Tp, int *TH, int *TW)
{
    *TH = (ys.h + m - 1) / m;
    *TW = (ys.w + m - 1) / m;
    *T = ys.n * *TH * *TW;
    *Tp = (*T + WINO_ROWS - 1) / WINO_ROWS * WINO_ROWS;
}

int ctvk_conv2d_winograd_ok(const ctvk_ctx *ctx, const ctvk_conv2d *p, ctvk_shape x, int cout)
{
    return ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU && p->kh == 3 && p->kw == 3 && p->stride_h == 1 &&
           p->stride_w == 1 && x.c % 4 == 0 && cout % 4 == 0 && x.c > 0 && cout > 0;
}

static int tile_ok(int m) { return m == 2 || m == 4; }

void ctvk_conv2d_winograd_workspace(const ctvk_conv2d *p, ctvk_shape x, int cout, int m, size_t *v_count,
                                    size_t *m_count)
{
    ctvk_shape ys = {x.n, x.h + p->pad_t + p->pad_b - 2, x.w + p->pad_l + p->pad_r - 2, cout};
    int T, Tp, TH, TW;
    if (!tile_ok(m)) m = 4;
    tiles(ys, m, &T, &Tp, &TH, &TW);
    *v_count = (size_t)(m + 2) * (size_t)(m + 2) * (size_t)Tp * (size_t)x.c;
    *m_count = (size_t)(m + 2) * (size_t)(m + 2) * (size_t)Tp * (size_t)cout;
}

size_t ctvk_conv2d_winograd_weights_count(int cin, int cout, int m)
{
    return (size_t)(m + 2) * (size_t)(m + 2) * (size_t)cin * (size_t)cout;
}

static ctvk_status wino_dispatch(ctvk_ctx *ctx, int stage, const wino_push *pc, const ctvk_tensor *const *bind,
                                 const char *sig, int bias, int relu, int resid, int flip, int acc, int m,
                                 uint64_t items)
{
    int32_t spec[8] = {CTVK_OPS_LOCAL, stage, bias, relu, resid, flip, acc, m};
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, "wino", sig, sizeof *pc, spec, 8, &pl));
    uint32_t gx, gy;
    ctvk__grid_1d(items, CTVK_OPS_LOCAL, &gx, &gy);
    return ctvk__dispatch(ctx, pl, bind, pc, gx, gy, 1);
}

ctvk_status ctvk_conv2d_winograd_weights(ctvk_ctx *ctx, const ctvk_tensor *w, int cin, int cout, int m, int backward,
                                         ctvk_tensor *u)
{
    const char *k = "winograd_weights";
    const ctvk_tensor *t[] = {w, u};
    CTVK_TRY(ctvk__ops_f32(k, t, 2));
    if (!tile_ok(m)) return ctvk__fail(CTVK_ERR_ARG, "%s: tile %d (2 or 4)", k, m);
    if (cin < 1 || cout < 1 || (backward ? cin : cout) % 4)
        return ctvk__fail(CTVK_ERR_ARG, "%s: %d -> %d channels (the transformed filters' outputs must come in fours)",
                          k, cin, cout);
    CTVK_TRY(ctvk__ops_count(k, w, 9 * (size_t)cin * cout, "3x3 HWIO filters"));
    CTVK_TRY(ctvk__ops_count(k, u, ctvk_conv2d_winograd_weights_count(cin, cout, m), "the transformed planes"));
    /* backward: the filters of dx = conv(dy): Cout inputs, Cin outputs */
    int rows = backward ? cout : cin, cols = backward ? cin : cout;
    wino_push pc = {0, 0, rows, cols, 0, 0, 0, 0, 0, 0};
    const ctvk_tensor *bind[4] = {w, NULL, w, u};
    if (!backward && !ctvk__vec4_ok(w))
        return ctvk__fail(CTVK_ERR_ARG, "%s: weights '%s' cannot have a 4-component texel view (offset %llu)", k,
                          w->name, (unsigned long long)w->offset);
    return wino_dispatch(ctx, 2, &pc, bind, backward ? "tutw" : "quqw", 0, 0, 0, backward, 0, m,
                         (uint64_t)rows * (uint64_t)(cols / 4));
}

static ctvk_status wino_forward(ctvk_ctx *ctx, const char *k, const ctvk_conv2d *p, int m, const ctvk_tensor *x,
                                const ctvk_tensor *u, const ctvk_tensor *bias, const ctvk_tensor *resid, ctvk_tensor *y,
                                ctvk_tensor *vwork, ctvk_tensor *mwork, int accumulate)
{
    if (!tile_ok(m)) return ctvk__fail(CTVK_ERR_ARG, "%s: tile %d (2 or 4)", k, m);
    int R = m + 2;
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
    CTVK_TRY(ctvk__ops_count(k, u, ctvk_conv2d_winograd_weights_count(xs.c, ys.c, m), "the transformed planes"));
    if (bias) CTVK_TRY(ctvk__ops_count(k, bias, (size_t)ys.c, "one per output channel"));
    if (resid) CTVK_TRY(ctvk__need_same_count(k, resid, y));
    size_t nv, nm;
    ctvk_conv2d_winograd_workspace(p, xs, ys.c, m, &nv, &nm);
    if (vwork->count < nv || mwork->count < nm)
        return ctvk__fail(CTVK_ERR_ARG, "%s: workspaces '%s' (%zu) and '%s' (%zu) are smaller than %zu and %zu", k,
                          vwork->name, vwork->count, mwork->name, mwork->count, nv, nm);
    if (nv >= (size_t)INT32_MAX || nm >= (size_t)INT32_MAX || y->count >= (size_t)INT32_MAX)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensors of more than 2^31 elements", k);
    int T, Tp, TH, TW;
    tiles(ys, m, &T, &Tp, &TH, &TW);
    /* input transform */
    wino_push pc = {T, Tp, xs.c, 0, xs.h, xs.w, TH, TW, p->pad_t, p->pad_l};
    const ctvk_tensor *b0[4] = {x, NULL, x, vwork};
    CTVK_TRY(wino_dispatch(ctx, 0, &pc, b0, "quqw", 0, 0, 0, 0, 0, m, (uint64_t)Tp * (uint64_t)(xs.c / 4)));
    /* R*R GEMMs, one dispatch: "image" xi of Tp rows times U[xi] */
    ctvk__conv_geo g = {R * R, 1, Tp, xs.c, 1, Tp, ys.c, 1, 1, 1, 1, 0, 0, R * R * Tp, ys.c, xs.c, 0, 0, 0};
    CTVK_TRY(ctvk__conv_gemm(ctx, k, 0, &g, vwork, u, NULL, mwork, 0, 0, 1));
    /* output transform with the epilogue */
    pc = (wino_push){T, Tp, ys.c, 0, ys.h, ys.w, TH, TW, 0, 0};
    const ctvk_tensor *b1[4] = {mwork, bias, resid ? resid : mwork, y};
    return wino_dispatch(ctx, 1, &pc, b1, accumulate ? "quqb" : "quqw", bias != NULL, p->relu != 0, resid != NULL, 0,
                         accumulate, m, (uint64_t)T * (uint64_t)(ys.c / 4));
}

ctvk_status ctvk_conv2d_backward_data_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, int m, const ctvk_tensor *dy,
                                               const ctvk_tensor *ut, ctvk_tensor *dx, ctvk_tensor *vwork,
                                               ctvk_tensor *mwork, int accumulate)
{
    ctvk_conv2d q;
    CTVK_TRY(ctvk_conv2d_winograd_backward_geometry(p, &q));
    return wino_forward(ctx, "conv2d_backward_data_winograd", &q, m, dy, ut, NULL, NULL, dx, vwork, mwork, accumulate);
}

ctvk_status ctvk_conv2d_winograd_backward_geometry(const ctvk_conv2d *p, ctvk_conv2d *q)
{
    if (p->kh != 3 || p->kw != 3 || p->stride_h != 1 || p->stride_w != 1 || p->pad_t > 2 || p->pad_b > 2 ||
        p->pad_l > 2 || p->pad_r > 2)
        return ctvk__fail(CTVK_ERR_ARG, "winograd backward: needs a 3x3 stride-1 conv padded by at most 2");
    return ctvk_conv2d_padded(3, 3, 1, 1, 2 - p->pad_t, 2 - p->pad_b, 2 - p->pad_l, 2 - p->pad_r, q);
}

ctvk_status ctvk_conv2d_forward_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, int m, const ctvk_tensor *x,
                                         const ctvk_tensor *u, const ctvk_tensor *bias, const ctvk_tensor *resid,
                                         ctvk_tensor *y, ctvk_tensor *vwork, ctvk_tensor *mwork)
{
    return wino_forward(ctx, "conv2d_forward_winograd", p, m, x, u, bias, resid, y, vwork, mwork, 0);
}

/* ---------------------------------------------------------------- references (double) */
static const double BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double G2[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
static const double AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
static const double BT4[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double G4[6][3] = {{1. / 4, 0, 0}, {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
static const double AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

static double bt(int m, int i, int j) { return m == 2 ? BT2[i][j] : BT4[i][j]; }
static double gm(int m, int i, int j) { return m == 2 ? G2[i][j] : G4[i][j]; }
static double at(int m, int i, int j) { return m == 2 ? AT2[i][j] : AT4[i][j]; }

void ctvk_ref_winograd_weights(int cin, int cout, int m, int backward, const double *w, double *u)
{
    int rows = backward ? cout : cin, cols = backward ? cin : cout, R = m + 2;
    for (int ci = 0; ci < rows; ci++)
        for (int co = 0; co < cols; co++) {
            double g[3][3], a[6][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    g[i][j] = backward ? w[((size_t)((2 - i) * 3 + (2 - j)) * cin + co) * cout + ci]
                                       : w[((size_t)(i * 3 + j) * cin + ci) * cout + co];
            for (int i = 0; i < R; i++)       /* G g */
                for (int j = 0; j < 3; j++) a[i][j] = gm(m, i, 0) * g[0][j] + gm(m, i, 1) * g[1][j] + gm(m, i, 2) * g[2][j];
            for (int i = 0; i < R; i++)       /* (G g) G^T */
                for (int j = 0; j < R; j++)
                    u[((size_t)(i * R + j) * rows + ci) * cols + co] =
                        gm(m, j, 0) * a[i][0] + gm(m, j, 1) * a[i][1] + gm(m, j, 2) * a[i][2];
        }
}

void ctvk_ref_winograd_input(const ctvk_conv2d *p, int m, ctvk_shape xs, const double *x, int oh, int ow, double *v,
                             int *tiles_padded)
{
    ctvk_shape ys = {xs.n, oh, ow, 0};
    int T, Tp, TH, TW, C = xs.c, R = m + 2;
    tiles(ys, m, &T, &Tp, &TH, &TW);
    *tiles_padded = Tp;
    for (int t = 0; t < Tp; t++)
        for (int c = 0; c < C; c++) {
            double d[6][6] = {{0}}, b[6][6];
            if (t < T) {
                int tw = t % TW, r = t / TW, th = r % TH, n = r / TH;
                for (int i = 0; i < R; i++)
                    for (int j = 0; j < R; j++) {
                        int ih = m * th - p->pad_t + i, iw = m * tw - p->pad_l + j;
                        if (ih >= 0 && ih < xs.h && iw >= 0 && iw < xs.w)
                            d[i][j] = x[(((size_t)n * xs.h + ih) * xs.w + iw) * C + c];
                    }
            }
            for (int i = 0; i < R; i++)
                for (int j = 0; j < R; j++) {
                    b[i][j] = 0;
                    for (int k = 0; k < R; k++) b[i][j] += bt(m, i, k) * d[k][j];
                }
            for (int i = 0; i < R; i++)
                for (int j = 0; j < R; j++) {
                    double s = 0;
                    for (int k = 0; k < R; k++) s += bt(m, j, k) * b[i][k];
                    v[((size_t)(i * R + j) * Tp + t) * C + c] = s;
                }
        }
}

void ctvk_ref_winograd_output(ctvk_shape ys, int m, const double *mm, int tiles_padded, const double *bias,
                              const double *resid, int relu, double *y)
{
    int T, Tp, TH, TW, K = ys.c, R = m + 2;
    tiles(ys, m, &T, &Tp, &TH, &TW);
    Tp = tiles_padded;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            double s[4][6];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < R; j++) {
                    s[i][j] = 0;
                    for (int q = 0; q < R; q++) s[i][j] += at(m, i, q) * mm[((size_t)(q * R + j) * Tp + t) * K + k];
                }
            int tw = t % TW, r = t / TW, th = r % TH, n = r / TH;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) {
                    int oh = m * th + i, ow = m * tw + j;
                    if (oh >= ys.h || ow >= ys.w) continue;
                    size_t o = (((size_t)n * ys.h + oh) * ys.w + ow) * K + k;
                    double v = 0;
                    for (int q = 0; q < R; q++) v += at(m, j, q) * s[i][q];
                    v += (bias ? bias[k] : 0) + (resid ? resid[o] : 0);
                    y[o] = relu && v < 0 ? 0 : v;
                }
        }
}
