/* conv2d and dense: shape/padding helpers, launchers (forward, backward-data, backward-weights,
 * bias gradient) and their plain-C references.
 *
 * Layouts: activations NHWC, conv weights HWIO ([kh][kw][cin][cout], as Keras stores them), dense
 * weights (in, out), biases (cout). Every pass is an implicit GEMM (no im2col buffer) run by one
 * of two kernel families chosen by ctvk_kernel_variant(ctx):
 *  - CPU (lavapipe): shaders/conv_cpu.glsl, 8-lane workgroups, 16x16 register block per lane
 *    (8 columns when Cout <= 8; 8 rows for backward-weights when Cin % 16 != 0), inputs through
 *    texel buffers, 4-component (vec4) texel views when the channel counts allow (forward: Cin,
 *    Cout % 4, or only the weights when Cout % 4; backward-data: Cout % 4; backward-weights:
 *    Cin % 16 (or % 8), Cout % 4); the forward walks column blocks fastest;
 *  - GPU: shaders/conv_gpu.glsl, shared-memory tiles (64x64x16, 4x4 per invocation, 256
 *    invocations: a multiple of any subgroup size up to 128; 8x4 where only 128 are allowed).
 * The bias gradient is one extra dispatch (shaders/conv_bias_grad.comp). 3x3 stride-1 layers can run
 * as Winograd F(2x2, 3x3) (net/wino.c, below) and a forward can carry a fused epilogue (residual
 * add, then a batch norm: conv_*_f shaders).
 * Inputs (x, w, bias, dy) may be fp32 or fp16 tensors (fp16 through R16F texel views, fp32
 * arithmetic). The forward output may be fp16 (inference, needs ctx->info.storage16); gradients
 * are fp32.
 *
 * fp16 error bound (forward, fp16 storage, fp32 accumulation): rounding x, w and bias to fp16 is a
 * relative error of at most u = 2^-11 each, so each product x*w is off by at most ~2u relative
 * (+ fp32 accumulation, negligible: KD * 2^-24), and the result by at most 2u * sum|x*w| + u*|b|;
 * storing y as fp16 adds u*|y|. Hence |y16 - y| <= 2^-10 * (sum_k |x_k w_k| + |b|) + 2^-11 |y|
 * (about 1e-3 of the absolute sum of terms). Tests check this bound element by element.
 */
#ifndef CTVK_NET_CONV_H
#define CTVK_NET_CONV_H
#include "ctvk/ctvk.h"

/* Geometry of a 2-D convolution (dilation 1). relu: forward epilogue y = max(y, 0). */
typedef struct ctvk_conv2d {
    int kh, kw, stride_h, stride_w;
    int pad_t, pad_b, pad_l, pad_r;
    int relu;
} ctvk_conv2d;

/* 'valid' (no padding). */
ctvk_status ctvk_conv2d_valid(int kh, int kw, int stride_h, int stride_w, ctvk_conv2d *p);
/* 'same' as TensorFlow pads for an input of in_h x in_w: pad_total = max((ceil(in/s)-1)*s + k - in, 0),
 * pad_before = pad_total/2, the extra row/column goes bottom/right. Output size ceil(in/s). */
ctvk_status ctvk_conv2d_same(int kh, int kw, int stride_h, int stride_w, int in_h, int in_w, ctvk_conv2d *p);
/* Explicit zero padding. */
ctvk_status ctvk_conv2d_padded(int kh, int kw, int stride_h, int stride_w, int pad_t, int pad_b, int pad_l,
                               int pad_r, ctvk_conv2d *p);
/* Output shape for input x and cout filters; fails when the window does not fit. */
ctvk_status ctvk_conv2d_out_shape(const ctvk_conv2d *p, ctvk_shape x, int cout, ctvk_shape *y);

/* y = conv(x, w) (+ bias) (ReLU if p->relu). x (N,H,W,Cin), w (kh,kw,Cin,Cout) (any tensor shape
 * with that element count), bias (Cout) or NULL, y (N,OH,OW,Cout). */
ctvk_status ctvk_conv2d_forward(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x, const ctvk_tensor *w,
                                const ctvk_tensor *bias, ctvk_tensor *y);
/* The fused inference epilogue (net/exec.c folds residual adds and the batch norm reading their
 * result into the conv before them): y = act(conv(x, w) + bias + res) with act the ReLU when
 * p->relu, stored unless skip_y; then, with aff (2 * Cout values: scale, shift, ctvk_bn_affine),
 * z = y * aff[c] + aff[Cout + c], ReLU'd when z_relu. res (y's shape), aff and z may be NULL (aff
 * and z together). Cout must be a multiple of 4. */
typedef struct ctvk_conv_epilogue {
    const ctvk_tensor *res;
    const ctvk_tensor *aff;
    ctvk_tensor *z;
    int z_relu, skip_y;
} ctvk_conv_epilogue;
ctvk_status ctvk_conv2d_forward_fused(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x, const ctvk_tensor *w,
                                      const ctvk_tensor *bias, const ctvk_conv_epilogue *e, ctvk_tensor *y);
/* Reference of that epilogue on y = conv + bias (in place), z as above (double). */
void ctvk_ref_conv_epilogue(size_t rows, int C, double *y, const double *res, int relu, const double *aff, int z_relu,
                            double *z);
/* dx (+)= d(sum y*dy)/dx: a convolution of dy with the flipped, transposed weights. p->relu is
 * ignored (the ReLU backward is its own op). */
ctvk_status ctvk_conv2d_backward_data(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *dy,
                                      const ctvk_tensor *w, ctvk_tensor *dx, int accumulate);
/* dw (+)= sum over N*OH*OW of x-patch (x) dy; db (+)= sum of dy (db may be NULL). */
ctvk_status ctvk_conv2d_backward_weights(ctvk_ctx *ctx, const ctvk_conv2d *p, const ctvk_tensor *x,
                                         const ctvk_tensor *dy, ctvk_tensor *dw, ctvk_tensor *db, int accumulate);
/* db (+)= sum over all rows of dy (N*H*W rows of C channels). */
ctvk_status ctvk_bias_grad(ctvk_ctx *ctx, const ctvk_tensor *dy, ctvk_tensor *db, int accumulate);

/* Dense: x is N rows of `in` values (any shape with n = N, e.g. a flattened NHWC map), w holds
 * in*out values ((in, out) row-major), bias (out) or NULL, y is N x out. */
ctvk_status ctvk_dense_forward(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *w, const ctvk_tensor *bias,
                               int relu, ctvk_tensor *y);
/* Split-K dense forward for 1-16 rows to 1-16 outputs (ctvk_dense_splitk_fits), worth it over
 * the GEMM kernel from 1024 inputs on (ctvk_dense_splitk_ok; the FPN heads: 2 outputs over up to a
 * million inputs, where the GEMM kernel leaves one lane walking all of them): up to 4096 lanes each
 * sum a strided share of the inputs into work (ctvk_dense_splitk_workspace elements), then one
 * pass adds the shares, the bias and the ReLU. */
int ctvk_dense_splitk_fits(int n, size_t in, int out);
int ctvk_dense_splitk_ok(int n, size_t in, int out);
size_t ctvk_dense_splitk_workspace(int n, size_t in, int out);
ctvk_status ctvk_dense_forward_splitk(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *w,
                                      const ctvk_tensor *bias, int relu, ctvk_tensor *y, ctvk_tensor *work);
ctvk_status ctvk_dense_backward_data(ctvk_ctx *ctx, const ctvk_tensor *dy, const ctvk_tensor *w, ctvk_tensor *dx,
                                     int accumulate);
ctvk_status ctvk_dense_backward_weights(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *dy, ctvk_tensor *dw,
                                        ctvk_tensor *db, int accumulate);

/* Winograd F(m x m, 3x3), m = 2 or 4, forward for 3x3 stride-1 convs (net/wino.c), on the CPU
 * kernels (lavapipe, where it cuts the multiply-adds 2.25x or 4x; the transforms are cheap next to
 * the GEMMs for Cin, Cout >= 128): the input transform writes V (R*R x tiles x Cin, R = m + 2) into
 * vwork, one dispatch runs the R*R GEMMs into mwork (R*R x tiles x Cout), the output transform adds
 * the bias, then resid (a tensor of y's shape, or NULL), then applies the ReLU (p->relu). u holds
 * the transformed weights, R*R x Cin x Cout (ctvk_conv2d_winograd_weights_count), from
 * ctvk_conv2d_winograd_weights (w: 3x3xCinxCout HWIO). Tiles are m x m outputs, their count rounded
 * up to 16. Results match the direct conv to rounding (F(4,3)'s transforms multiply by up to 8 and
 * divide by up to 24: a few more ulp of the sum of |terms| than F(2,3)). */
int ctvk_conv2d_winograd_ok(const ctvk_ctx *ctx, const ctvk_conv2d *p, ctvk_shape x, int cout);
void ctvk_conv2d_winograd_workspace(const ctvk_conv2d *p, ctvk_shape x, int cout, int m, size_t *v_count,
                                    size_t *m_count);
size_t ctvk_conv2d_winograd_weights_count(int cin, int cout, int m);
ctvk_status ctvk_conv2d_winograd_weights(ctvk_ctx *ctx, const ctvk_tensor *w, int cin, int cout, int m, int backward,
                                         ctvk_tensor *u);
ctvk_status ctvk_conv2d_forward_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, int m, const ctvk_tensor *x,
                                         const ctvk_tensor *u, const ctvk_tensor *bias, const ctvk_tensor *resid,
                                         ctvk_tensor *y, ctvk_tensor *vwork, ctvk_tensor *mwork);
/* Backward-data the same way: dx (+)= the forward conv of dy with the flipped, transposed filters
 * (w'[a][b][co][ci] = w[2-a][2-b][ci][co]) and padding 2 - pad (ctvk_conv2d_winograd_backward_geometry),
 * ut from ctvk_conv2d_winograd_weights(..., backward = 1, ...): R*R x Cout x Cin. The workspaces
 * are those of that geometry (ctvk_conv2d_winograd_workspace(q, dy shape, Cin, m)). */
ctvk_status ctvk_conv2d_backward_data_winograd(ctvk_ctx *ctx, const ctvk_conv2d *p, int m, const ctvk_tensor *dy,
                                               const ctvk_tensor *ut, ctvk_tensor *dx, ctvk_tensor *vwork,
                                               ctvk_tensor *mwork, int accumulate);
ctvk_status ctvk_conv2d_winograd_backward_geometry(const ctvk_conv2d *p, ctvk_conv2d *q);
/* References (double): U from w (backward: of the flipped, transposed filters); V of x for an
 * oh x ow output (sets the padded tile count); y from M with the epilogue. */
void ctvk_ref_winograd_weights(int cin, int cout, int m, int backward, const double *w, double *u);
void ctvk_ref_winograd_input(const ctvk_conv2d *p, int m, ctvk_shape xs, const double *x, int oh, int ow, double *v,
                             int *tiles_padded);
void ctvk_ref_winograd_output(ctvk_shape ys, int m, const double *mm, int tiles_padded, const double *bias,
                              const double *resid, int relu, double *y);

/* Floating-point operations of one pass (2 per multiply-add), for benchmarks. */
double ctvk_conv2d_flops(const ctvk_conv2d *p, ctvk_shape x, int cout);

/* ---------------------------------------------------------------- plain-C references
 * Same layouts, float arrays, accumulation in double. xs is the input shape, ys the output shape
 * (ys.c = Cout). b/db may be NULL. accumulate: add into the output instead of overwriting. */
void ctvk_ref_conv2d_forward(const ctvk_conv2d *p, ctvk_shape xs, const float *x, const float *w, const float *b,
                             ctvk_shape ys, float *y);
void ctvk_ref_conv2d_backward_data(const ctvk_conv2d *p, ctvk_shape ys, const float *dy, const float *w,
                                   ctvk_shape xs, float *dx, int accumulate);
void ctvk_ref_conv2d_backward_weights(const ctvk_conv2d *p, ctvk_shape xs, const float *x, ctvk_shape ys,
                                      const float *dy, float *dw, float *db, int accumulate);
/* The same in double precision (for finite-difference checks). */
void ctvk_ref_conv2d_forward_f64(const ctvk_conv2d *p, ctvk_shape xs, const double *x, const double *w,
                                 const double *b, ctvk_shape ys, double *y);
void ctvk_ref_conv2d_backward_data_f64(const ctvk_conv2d *p, ctvk_shape ys, const double *dy, const double *w,
                                       ctvk_shape xs, double *dx, int accumulate);
void ctvk_ref_conv2d_backward_weights_f64(const ctvk_conv2d *p, ctvk_shape xs, const double *x, ctvk_shape ys,
                                          const double *dy, double *dw, double *db, int accumulate);
/* Dense references: x (n, in), w (in, out), y (n, out). */
void ctvk_ref_dense_forward(int n, int in, int out, const float *x, const float *w, const float *b, int relu,
                            float *y);
void ctvk_ref_dense_backward_data(int n, int in, int out, const float *dy, const float *w, float *dx,
                                  int accumulate);
void ctvk_ref_dense_backward_weights(int n, int in, int out, const float *x, const float *dy, float *dw,
                                     float *db, int accumulate);
#endif
