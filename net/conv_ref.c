/* Plain-C references of conv2d and dense (net/conv.h): direct loops, double accumulation. The
 * float and double versions come from one body. */
#include "net/conv.h"
#include <stddef.h>

#define OUT_DIM(in, k, s, pa, pb) (((in) + (pa) + (pb) - (k)) / (s) + 1)

#define DEFINE_CONV_REF(T, SUF)                                                                                 \
    void ctvk_ref_conv2d_forward##SUF(const ctvk_conv2d *p, ctvk_shape xs, const T *x, const T *w, const T *b, \
                                      ctvk_shape ys, T *y)                                                     \
    {                                                                                                          \
        int C = xs.c, K = ys.c;                                                                                \
        for (int n = 0; n < ys.n; n++)                                                                         \
            for (int oh = 0; oh < ys.h; oh++)                                                                  \
                for (int ow = 0; ow < ys.w; ow++)                                                              \
                    for (int co = 0; co < K; co++) {                                                           \
                        double s = b ? (double)b[co] : 0.0;                                                    \
                        for (int kh = 0; kh < p->kh; kh++) {                                                   \
                            int ih = oh * p->stride_h - p->pad_t + kh;                                         \
                            if (ih < 0 || ih >= xs.h) continue;                                                \
                            for (int kw = 0; kw < p->kw; kw++) {                                               \
                                int iw = ow * p->stride_w - p->pad_l + kw;                                     \
                                if (iw < 0 || iw >= xs.w) continue;                                            \
                                const T *xp = x + (((size_t)n * xs.h + ih) * xs.w + iw) * C;                   \
                                const T *wp = w + ((size_t)(kh * p->kw + kw) * C) * K + co;                    \
                                for (int ci = 0; ci < C; ci++) s += (double)xp[ci] * (double)wp[(size_t)ci * K]; \
                            }                                                                                  \
                        }                                                                                      \
                        if (p->relu && s < 0) s = 0;                                                           \
                        y[(((size_t)n * ys.h + oh) * ys.w + ow) * K + co] = (T)s;                              \
                    }                                                                                          \
    }                                                                                                          \
    void ctvk_ref_conv2d_backward_data##SUF(const ctvk_conv2d *p, ctvk_shape ys, const T *dy, const T *w,      \
                                            ctvk_shape xs, T *dx, int accumulate)                              \
    {                                                                                                          \
        int C = xs.c, K = ys.c;                                                                                \
        for (int n = 0; n < xs.n; n++)                                                                         \
            for (int ih = 0; ih < xs.h; ih++)                                                                  \
                for (int iw = 0; iw < xs.w; iw++)                                                              \
                    for (int ci = 0; ci < C; ci++) {                                                           \
                        double s = 0;                                                                          \
                        for (int kh = 0; kh < p->kh; kh++) {                                                   \
                            int th = ih + p->pad_t - kh;                                                       \
                            if (th < 0 || th % p->stride_h) continue;                                          \
                            int oh = th / p->stride_h;                                                         \
                            if (oh >= ys.h) continue;                                                          \
                            for (int kw = 0; kw < p->kw; kw++) {                                               \
                                int tw = iw + p->pad_l - kw;                                                   \
                                if (tw < 0 || tw % p->stride_w) continue;                                      \
                                int ow = tw / p->stride_w;                                                     \
                                if (ow >= ys.w) continue;                                                      \
                                const T *dp = dy + (((size_t)n * ys.h + oh) * ys.w + ow) * K;                  \
                                const T *wp = w + ((size_t)(kh * p->kw + kw) * C + ci) * K;                    \
                                for (int co = 0; co < K; co++) s += (double)dp[co] * (double)wp[co];           \
                            }                                                                                  \
                        }                                                                                      \
                        T *o = dx + (((size_t)n * xs.h + ih) * xs.w + iw) * C + ci;                            \
                        *o = accumulate ? (T)((double)*o + s) : (T)s;                                          \
                    }                                                                                          \
    }                                                                                                          \
    void ctvk_ref_conv2d_backward_weights##SUF(const ctvk_conv2d *p, ctvk_shape xs, const T *x, ctvk_shape ys, \
                                               const T *dy, T *dw, T *db, int accumulate)                      \
    {                                                                                                          \
        int C = xs.c, K = ys.c;                                                                                \
        for (int kh = 0; kh < p->kh; kh++)                                                                     \
            for (int kw = 0; kw < p->kw; kw++)                                                                 \
                for (int ci = 0; ci < C; ci++)                                                                 \
                    for (int co = 0; co < K; co++) {                                                           \
                        double s = 0;                                                                          \
                        for (int n = 0; n < ys.n; n++)                                                         \
                            for (int oh = 0; oh < ys.h; oh++) {                                                \
                                int ih = oh * p->stride_h - p->pad_t + kh;                                     \
                                if (ih < 0 || ih >= xs.h) continue;                                            \
                                for (int ow = 0; ow < ys.w; ow++) {                                            \
                                    int iw = ow * p->stride_w - p->pad_l + kw;                                 \
                                    if (iw < 0 || iw >= xs.w) continue;                                        \
                                    s += (double)x[(((size_t)n * xs.h + ih) * xs.w + iw) * C + ci] *           \
                                         (double)dy[(((size_t)n * ys.h + oh) * ys.w + ow) * K + co];           \
                                }                                                                              \
                            }                                                                                  \
                        T *o = dw + ((size_t)(kh * p->kw + kw) * C + ci) * K + co;                             \
                        *o = accumulate ? (T)((double)*o + s) : (T)s;                                          \
                    }                                                                                          \
        if (!db) return;                                                                                       \
        for (int co = 0; co < K; co++) {                                                                       \
            double s = 0;                                                                                      \
            for (size_t i = 0; i < (size_t)ys.n * ys.h * ys.w; i++) s += (double)dy[i * K + co];               \
            db[co] = accumulate ? (T)((double)db[co] + s) : (T)s;                                              \
        }                                                                                                      \
    }

DEFINE_CONV_REF(float, )
DEFINE_CONV_REF(double, _f64)

void ctvk_ref_dense_forward(int n, int in, int out, const float *x, const float *w, const float *b, int relu,
                            float *y)
{
    ctvk_conv2d p = {1, 1, 1, 1, 0, 0, 0, 0, relu};
    ctvk_ref_conv2d_forward(&p, (ctvk_shape){n, 1, 1, in}, x, w, b, (ctvk_shape){n, 1, 1, out}, y);
}

void ctvk_ref_dense_backward_data(int n, int in, int out, const float *dy, const float *w, float *dx,
                                  int accumulate)
{
    ctvk_conv2d p = {1, 1, 1, 1, 0, 0, 0, 0, 0};
    ctvk_ref_conv2d_backward_data(&p, (ctvk_shape){n, 1, 1, out}, dy, w, (ctvk_shape){n, 1, 1, in}, dx, accumulate);
}

void ctvk_ref_dense_backward_weights(int n, int in, int out, const float *x, const float *dy, float *dw,
                                     float *db, int accumulate)
{
    ctvk_conv2d p = {1, 1, 1, 1, 0, 0, 0, 0, 0};
    ctvk_ref_conv2d_backward_weights(&p, (ctvk_shape){n, 1, 1, in}, x, (ctvk_shape){n, 1, 1, out}, dy, dw, db,
                                     accumulate);
}

void ctvk_ref_conv_epilogue(size_t rows, int C, double *y, const double *res, int relu, const double *aff, int z_relu,
                            double *z)
{
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t i = r * (size_t)C + (size_t)c;
            double v = y[i] + (res ? res[i] : 0.0);
            if (relu && v < 0) v = 0;
            y[i] = v;
            if (!aff) continue;
            double t = v * aff[c] + aff[C + c];
            z[i] = z_relu && t < 0 ? 0 : t;
        }
}
