/* The network's non-GEMM layer kernels, forward and backward, with Keras semantics (docs/method.md):
 * batch norm, ReLU, residual add, zero padding, max pool, global average pool, nearest resize,
 * channel concat, dropout and fused softmax + categorical cross-entropy.
 *
 * Conventions
 *  - Tensors are fp32 NHWC (argmax tensors of max pool are uint32). Shapes are checked.
 *  - Every kernel call only records work (see ctvk.h); nothing here waits.
 *  - Backward calls take `accumulate`: 0 writes the gradient (dst = grad), 1 adds to it
 *    (dst += grad), so gradients of tensors used twice can be summed in place.
 *  - Inputs and outputs must not overlap unless a function says so.
 *  - Flatten needs no kernel: an NHWC tensor's memory already is (H, W, C) order per sample, so
 *    Keras' Flatten is ctvk_tensor_view(t, 0, (ctvk_shape){n, 1, 1, h * w * c}, ...).
 *  - Every kernel has a plain-C reference (ctvk_ref_*) computing in double, used by the tests.
 *
 * Fusions offered (every dispatch costs ~40 us on lavapipe): BN (training or inference) + ReLU,
 * ReLU backward folded into BN backward, add + ReLU, zero padding folded into max pool. */
#ifndef CTVK_NET_OPS_H
#define CTVK_NET_OPS_H
#include "ctvk/ctvk.h"
#include "ctvk/net.h"
#include <stddef.h>
#include <stdint.h>

/* ================================================================== batch normalisation
 * Per channel over N*H*W rows. Training: y = (x - mean) * invstd * gamma + beta with the batch mean
 * and BIASED variance, invstd = 1 / sqrt(var + eps); the moving statistics (in place) become
 *   moving_mean -= (moving_mean - mean) * (1 - momentum)
 *   moving_var  -= (moving_var - var_unbiased) * (1 - momentum),  var_unbiased = var * R / max(R - 1, 1)
 * (TF's fused kernel). `saved` (2*C floats) receives mean[C] then invstd[C] for the backward pass.
 * The reduction is numerically sound: each workgroup takes a chunk of rows and computes its mean
 * (shifted by the chunk's first value) and sum of squared deviations in two passes; a second
 * dispatch merges the chunks, again shifted and in two passes (mean, then between-chunk squares).
 * `work` is scratch of at least ctvk_bn_workspace_count(shape) floats; one workspace may be shared
 * by every BN layer of a network (sized for the largest). relu != 0 applies max(y, 0) in the same
 * pass (Keras BN followed by ReLU). 3 dispatches. */
size_t ctvk_bn_workspace_count(ctvk_shape x);
ctvk_status ctvk_bn_forward_train(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                  const ctvk_tensor *beta, ctvk_tensor *moving_mean, ctvk_tensor *moving_var,
                                  float eps, float momentum, int relu, ctvk_tensor *y, ctvk_tensor *saved,
                                  ctvk_tensor *work);
/* Inference: y = (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta (then ReLU if relu). 1 dispatch. */
ctvk_status ctvk_bn_forward_infer(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                  const ctvk_tensor *beta, const ctvk_tensor *moving_mean,
                                  const ctvk_tensor *moving_var, float eps, int relu, ctvk_tensor *y);
/* Backward of the training forward. g: gradient of the BN output, or of the ReLU output when the
 * forward fused a ReLU: then pass its output as relu_out (g is masked by relu_out > 0), else NULL.
 * dx (accumulate_dx), dgamma and dbeta (accumulate_params: training sums into gradient buffers).
 * dx = gamma * invstd / R * (R * g - sum(g) - xhat * sum(g * xhat)), dgamma = sum(g * xhat),
 * dbeta = sum(g). 3 dispatches. */
ctvk_status ctvk_bn_backward(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                             const ctvk_tensor *saved, const ctvk_tensor *relu_out, const ctvk_tensor *g,
                             ctvk_tensor *dx, int accumulate_dx, ctvk_tensor *dgamma, ctvk_tensor *dbeta,
                             int accumulate_params, ctvk_tensor *work);

/* The same in pieces, for batches whose activations are bound in sample slices (net/exec.c):
 * statistics over the whole batch x (read through one binding: x must fit a texel buffer or one
 * storage buffer, maxStorageBufferRange), then the apply per slice; backward: the sums over the whole batch (also
 * writes dgamma, dbeta), then dx per slice, `whole` being the shape of the batch the sums covered
 * (the slices' x, g, relu_out, dx are sample ranges of it). ctvk_bn_forward_train and
 * ctvk_bn_backward are exactly these calls on the whole batch. */
ctvk_status ctvk_bn_train_stats(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *moving_mean,
                                ctvk_tensor *moving_var, float eps, float momentum, ctvk_tensor *saved,
                                ctvk_tensor *work);
ctvk_status ctvk_bn_train_apply(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                const ctvk_tensor *beta, const ctvk_tensor *saved, int relu, ctvk_tensor *y);
ctvk_status ctvk_bn_backward_sums(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *saved,
                                  const ctvk_tensor *relu_out, const ctvk_tensor *g, ctvk_tensor *dgamma,
                                  ctvk_tensor *dbeta, int accumulate_params, ctvk_tensor *work);
ctvk_status ctvk_bn_backward_dx(ctvk_ctx *ctx, ctvk_shape whole, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                const ctvk_tensor *saved, const ctvk_tensor *relu_out, const ctvk_tensor *g,
                                ctvk_tensor *dx, int accumulate_dx, const ctvk_tensor *work);

/* Synchronised statistics over several ranks (net/exec.c merges them with ctvk_dist):
 * ctvk_bn_local_moments records the chunk pass over x, waits, and merges the chunks in double into
 * moments[3C] = {rows[C], mean[C], M2[C]}; ctvk_bn_merge_sums gives {rows, rows * mean} (2C) to sum
 * over ranks, then ctvk_bn_merge_squares the per-rank M2 about the global mean (C) to sum;
 * ctvk_bn_set_moments writes the global (mean, M2) of `rows` rows to the workspace and finishes as
 * ctvk_bn_train_stats does (saved, moving statistics). Backward: after ctvk_bn_backward_sums,
 * ctvk_bn_grad_sums_get/set read and replace the workspace's {sum g[C], sum g xhat[C]} (x: the
 * shape the sums covered), and ctvk_bn_backward_dx_rows divides by the global row count. */
ctvk_status ctvk_bn_local_moments(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *work, double *moments);
void ctvk_bn_merge_sums(const double *moments, int C, double *sums);
void ctvk_bn_merge_squares(const double *moments, int C, const double *global_mean, double *squares);
ctvk_status ctvk_bn_set_moments(ctvk_ctx *ctx, int C, double rows, const double *mean, const double *m2,
                                ctvk_tensor *moving_mean, ctvk_tensor *moving_var, float eps, float momentum,
                                ctvk_tensor *saved, ctvk_tensor *work);
ctvk_status ctvk_bn_grad_sums_get(ctvk_tensor *work, ctvk_shape x, double *sums);
ctvk_status ctvk_bn_grad_sums_set(ctvk_tensor *work, ctvk_shape x, const double *sums);
/* rows 0: the rows of `whole` (ctvk_bn_backward_dx). */
ctvk_status ctvk_bn_backward_dx_rows(ctvk_ctx *ctx, ctvk_shape whole, double rows, const ctvk_tensor *x,
                                     const ctvk_tensor *gamma, const ctvk_tensor *saved, const ctvk_tensor *relu_out,
                                     const ctvk_tensor *g, ctvk_tensor *dx, int accumulate_dx, const ctvk_tensor *work);

/* Inference BN folded into the conv before it (HWIO weights w with C = bf->count output channels,
 * bias b or NULL): wf = w * s, bf = (b - mean) * s + beta with s = gamma / sqrt(var + eps), so
 * that bn_infer(conv(x, w, b)) = conv(x, wf, bf). 2 dispatches. */
ctvk_status ctvk_bn_fold(ctvk_ctx *ctx, const ctvk_tensor *w, const ctvk_tensor *b, const ctvk_tensor *gamma,
                         const ctvk_tensor *beta, const ctvk_tensor *mean, const ctvk_tensor *var, float eps,
                         ctvk_tensor *wf, ctvk_tensor *bf);
void ctvk_ref_bn_fold(const double *w, size_t count, const double *b, const double *gamma, const double *beta,
                      const double *mean, const double *var, double eps, int C, double *wf, double *bf);
/* Inference BN as an affine map for a fused conv epilogue: out = [s, beta - mean * s] (2C values),
 * bn_infer(y)[c] = y * out[c] + out[C + c]. */
ctvk_status ctvk_bn_affine(ctvk_ctx *ctx, const ctvk_tensor *gamma, const ctvk_tensor *beta, const ctvk_tensor *mean,
                           const ctvk_tensor *var, float eps, ctvk_tensor *out);
void ctvk_ref_bn_affine(const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                        int C, double *out);
/* Inference BN through that form: y = x * aff[c] + aff[C + c] (ReLU'd when relu). */
ctvk_status ctvk_bn_forward_affine(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *aff, int relu,
                                   ctvk_tensor *y);

void ctvk_ref_bn_forward_train(const double *x, ctvk_shape s, const double *gamma, const double *beta,
                               double *moving_mean, double *moving_var, double eps, double momentum, int relu,
                               double *y, double *saved);
void ctvk_ref_bn_forward_infer(const double *x, ctvk_shape s, const double *gamma, const double *beta,
                               const double *moving_mean, const double *moving_var, double eps, int relu,
                               double *y);
void ctvk_ref_bn_backward(const double *x, ctvk_shape s, const double *gamma, const double *saved,
                          const double *relu_out, const double *g, double *dx, int accumulate_dx,
                          double *dgamma, double *dbeta, int accumulate_params);

/* ================================================================== ReLU, add (act.c)
 * y = max(x, 0). y may be x (in place). */
ctvk_status ctvk_relu(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);
/* dx (+)= g * (mask > 0), mask = the forward's output (or input: same sign test). */
ctvk_status ctvk_relu_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *mask, ctvk_tensor *dx,
                               int accumulate);
/* y = a + b, then max(., 0) if relu (ResNet V1's Add + ReLU). y may be a or b. */
ctvk_status ctvk_add(ctvk_ctx *ctx, const ctvk_tensor *a, const ctvk_tensor *b, ctvk_tensor *y, int relu);
/* Backward of add: da (+)= g', db (+)= g' with g' = g, or g * (mask > 0) when mask (the add+ReLU
 * output) is given. One dispatch writes both. (Without mask and accumulation the graph can instead
 * let both inputs share g's buffer: no kernel.) */
ctvk_status ctvk_add_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *mask, ctvk_tensor *da,
                              int accumulate_a, ctvk_tensor *db, int accumulate_b);

void ctvk_ref_relu(const double *x, double *y, size_t n);
void ctvk_ref_relu_backward(const double *g, const double *mask, double *dx, size_t n, int accumulate);
void ctvk_ref_add(const double *a, const double *b, double *y, size_t n, int relu);
void ctvk_ref_add_backward(const double *g, const double *mask, double *da, int accumulate_a, double *db,
                           int accumulate_b, size_t n);

/* ================================================================== zero padding (act.c)
 * y[n, h + top, w + left, c] = x[n, h, w, c], zeros elsewhere; y's shape must be
 * {N, H + top + bottom, W + left + right, C}. Negative amounts crop. */
ctvk_status ctvk_pad(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, int top, int bottom, int left, int right);
/* Backward: dx (+)= g cropped (g has the padded shape, dx the unpadded one). */
ctvk_status ctvk_pad_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int top, int bottom, int left,
                              int right, int accumulate);
/* General reference: y (ys) from x (xs) placed at offset (top, left) (negative: crop), zeros elsewhere;
 * the backward is ctvk_ref_pad(g, ys, dx, xs, -top, -left, accumulate). */
void ctvk_ref_pad(const double *x, ctvk_shape xs, double *y, ctvk_shape ys, int top, int left, int accumulate);

/* ================================================================== pooling (pool.c)
 * Max pool k x k, stride s, 'valid', on x zero-padded by (pad_t, pad_b, pad_l, pad_r): Keras'
 * ZeroPadding2D + MaxPooling2D in one pass without materialising the padded tensor; the padded
 * zeros take part in the max. y: {N, (H+pt+pb-k)/s+1, (W+pl+pr-k)/s+1, C}. argmax (uint32, y's
 * shape, or NULL at inference) receives the window position ky*k + kx of the maximum: the FIRST
 * maximum in row-major window order on ties (strict '>' scan). MaxPool(1, stride s) is k = 1. */
ctvk_status ctvk_maxpool(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, ctvk_tensor *argmax, int k, int s,
                         int pad_t, int pad_b, int pad_l, int pad_r);
/* Same geometry as the forward. dx (+)= the gradient g routed to each window's recorded argmax (summed where windows overlap;
 * a maximum that was a padded zero passes nothing on). */
ctvk_status ctvk_maxpool_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *argmax, ctvk_tensor *dx,
                                  int k, int s, int pad_t, int pad_b, int pad_l, int pad_r, int accumulate);
/* Global average pool: y {N,1,1,C} = mean over H, W; backward dx (+)= g / (H*W) broadcast. */
ctvk_status ctvk_gap(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);
ctvk_status ctvk_gap_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int accumulate);

void ctvk_ref_maxpool(const double *x, ctvk_shape xs, double *y, ctvk_shape ys, uint32_t *argmax, int k, int s,
                      int pad_t, int pad_l);
void ctvk_ref_maxpool_backward(const double *g, ctvk_shape ys, const uint32_t *argmax, double *dx, ctvk_shape xs,
                               int k, int s, int pad_t, int pad_l, int accumulate);
void ctvk_ref_gap(const double *x, ctvk_shape xs, double *y);
void ctvk_ref_gap_backward(const double *g, double *dx, ctvk_shape xs, int accumulate);

/* ================================================================== resize, concat (resize.c)
 * Nearest resize: y[n, oh, ow, c] = x[n, floor(oh*H/OH), floor(ow*W/OW), c] (any sizes, up or down).
 * Backward: dx (+)= the sum of g over the outputs that read each input. */
ctvk_status ctvk_resize_nearest(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);
ctvk_status ctvk_resize_nearest_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int accumulate);
/* Channel concat: y {N,H,W,Ca+Cb} = [a, b] along C. Backward splits: da (+)= g[..., :Ca],
 * db (+)= g[..., Ca:], one dispatch. */
ctvk_status ctvk_concat(ctvk_ctx *ctx, const ctvk_tensor *a, const ctvk_tensor *b, ctvk_tensor *y);
ctvk_status ctvk_concat_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *da, int accumulate_a,
                                 ctvk_tensor *db, int accumulate_b);

void ctvk_ref_resize_nearest(const double *x, ctvk_shape xs, double *y, ctvk_shape ys);
void ctvk_ref_resize_nearest_backward(const double *g, ctvk_shape ys, double *dx, ctvk_shape xs, int accumulate);
void ctvk_ref_concat(const double *a, ctvk_shape as, const double *b, ctvk_shape bs, double *y);
void ctvk_ref_concat_backward(const double *g, double *da, ctvk_shape as, int accumulate_a, double *db,
                              ctvk_shape bs, int accumulate_b);

/* ================================================================== dropout (dropout.c)
 * Inverted dropout with a counter-based mask: element i is kept iff
 *   ctvk_dropout_hash(first + i, key) >= thresh,   key = ctvk_dropout_key(seed),
 * where `first` places the tensor in a bigger batch (data-parallel ranks and micro-batches draw
 * the masks the whole batch would: first = sample offset * elements per sample; else 0),
 *   thresh = min(floor(rate * 2^32), 2^32 - 1),
 * kept units are scaled by (float)(1 / (1 - rate)), dropped ones are 0. Nothing is stored: the
 * backward regenerates the same mask from the seed (pass the same seed). rate in [0, 1).
 * training == 0: identity (a copy, or nothing when y == x). y may be x. */
typedef struct ctvk_dropout_key_t { uint32_t k0, k1; } ctvk_dropout_key_t;
ctvk_dropout_key_t ctvk_dropout_key(uint64_t seed);
uint32_t ctvk_dropout_hash(uint32_t i, ctvk_dropout_key_t key);
uint32_t ctvk_dropout_threshold(float rate);
ctvk_status ctvk_dropout(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, float rate, uint64_t seed,
                         uint32_t first, int training);
/* dx (+)= g * mask * scale with the forward's mask (same seed and rate). */
ctvk_status ctvk_dropout_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, float rate, uint64_t seed,
                                  uint32_t first, int accumulate);

/* mask[i] = 1 if kept (identical to the device, bit for bit). */
void ctvk_ref_dropout_mask(uint8_t *mask, size_t n, float rate, uint64_t seed, uint32_t first);
void ctvk_ref_dropout(const double *x, double *y, size_t n, float rate, uint64_t seed, uint32_t first, int accumulate);

/* ================================================================== softmax + cross-entropy (loss.c)
 * logits and labels: {B, 1, 1, C} (any shape with n = B and count = B*C); labels are one-hot (any
 * distribution works). Per sample: p = softmax(z) (max-subtracted), loss = -sum y * log_softmax(z)
 * (log-sum-exp, as Keras' fused softmax-from-logits; no clipping). Writes probs {B,C},
 * dlogits {B,C} = (p - y) / B (gradient of the batch-mean loss) and stats (3 floats):
 *   stats[0] (+)= sum of the B losses, stats[1] (+)= number of samples whose argmax(logits) equals
 *   argmax(labels) (ties -> first index, like numpy), stats[2] (+)= B.
 * accumulate != 0 adds to stats (running epoch totals read back once), else overwrites them.
 * Mean loss = stats[0] / stats[2]. One dispatch of one workgroup. argmax is taken on the logits
 * (the softmax is monotone, so it equals argmax of the probabilities except where rounding makes
 * two probabilities equal). */
ctvk_status ctvk_softmax_ce(ctvk_ctx *ctx, const ctvk_tensor *logits, const ctvk_tensor *labels, ctvk_tensor *probs,
                            ctvk_tensor *dlogits, ctvk_tensor *stats, int accumulate);
/* The same for B samples that are a part of a batch of `total` samples (data-parallel ranks,
 * micro-batches): dlogits = (p - y) / total, so that the parts' gradients sum to the batch's.
 * total 0 means B. */
ctvk_status ctvk_softmax_ce_part(ctvk_ctx *ctx, const ctvk_tensor *logits, const ctvk_tensor *labels,
                                 ctvk_tensor *probs, ctvk_tensor *dlogits, ctvk_tensor *stats, int accumulate, int total);
void ctvk_ref_softmax_ce(const double *logits, const double *labels, int batch, int classes, double *probs,
                         double *dlogits, double *stats, int accumulate);

/* ================================================================== launcher helpers (net/act.c)
 * Shared by the launchers of this family; not for other callers. */
#include "runtime/vk/internal.h"
/* Fails unless every non-NULL tensor in ts (NULL-terminated list) is fp32. */
ctvk_status ctvk__ops_f32(const char *kernel, const ctvk_tensor *const *ts, int n);
/* Fails unless the two shapes are equal. */
ctvk_status ctvk__ops_same_shape(const char *kernel, const ctvk_tensor *a, const ctvk_tensor *b);
/* Fails unless t has exactly `count` elements. */
ctvk_status ctvk__ops_count(const char *kernel, const ctvk_tensor *t, size_t count, const char *what);
/* Dispatches shader `name` for `items` outputs at 4 per invocation (the ops4.glsl driver). */
ctvk_status ctvk__ops_dispatch4(ctvk_ctx *ctx, const char *name, const char *sig, const void *push, uint32_t push_size,
                                const int32_t *spec, int nspec, const ctvk_tensor *const *b, uint64_t items);
/* Workgroup width for one-lane-per-item kernels: 8 on lavapipe-like devices, else 64. */
uint32_t ctvk__ops_local(const ctvk_ctx *ctx);
#define CTVK_OPS_LOCAL 64

#endif
