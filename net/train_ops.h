/* Internal API of the training kernels: flat buffers, gradient zeroing and accumulation, the
 * Nadam optimizer (legacy Keras schedule), on-device augmentation of uint16 CT slices and dtype
 * conversion. Each kernel has a plain-C reference beside it (ctvk_ref_*), used by the tests.
 *
 * Shaders: grad.comp, nadam.comp, augment.comp, convert.comp (uint16 -> fp32) and
 * convert_f16.comp (fp32 <-> fp16; needs 16-bit storage, see ctvk_convert_f32_to_f16).
 * Every kernel here is one dispatch per call (per chunk of a flat buffer, see ctvk_flat). */
#ifndef CTVK_NET_TRAIN_OPS_H
#define CTVK_NET_TRAIN_OPS_H
#include "ctvk/checkpoint.h"
#include "runtime/vk/internal.h"

/* ================================================================== flat buffers
 * Parameters, gradients and optimizer moments live in flat fp32 tensors. One storage-buffer
 * binding may span at most maxStorageBufferRange bytes (128 MiB on lavapipe, less than the
 * ~34 M parameters of ResNet50V2 + FPN; inputs larger than a texel buffer are read as storage
 * buffers), so a flat buffer is cut into chunks the device can bind: views created once, at init. A buffer that fits
 * is one chunk (the tensor itself, no view) and every kernel below is then ONE dispatch.
 * Flat buffers of the same element count built with the same max_chunk are cut identically. */
typedef struct ctvk_flat {
    ctvk_tensor *t;        /* the whole buffer (not owned) */
    int nchunks;
    ctvk_tensor **chunk;   /* nchunks tensors: t itself when nchunks == 1, else owned views */
} ctvk_flat;

/* Cuts fp32 tensor t into chunks of at most max_chunk elements (0: as large as the device allows;
 * rounded down to the device's offset alignment). Release with ctvk_flat_release before t. */
ctvk_status ctvk_flat_init(ctvk_tensor *t, size_t max_chunk, ctvk_flat *out);
void ctvk_flat_release(ctvk_flat *f);

/* ================================================================== parameters in place
 * A CPU device's memory is the host's: a checkpoint read straight into the network's parameter
 * buffer saves a host copy of every weight (136 MB for the FPN) and its first-touch page faults,
 * the largest part of an inference start on lavapipe (docs/measurements.md). */
/* The network's parameter buffer as host memory that is read as fast as the host's own (a CPU
 * device, see ctvk__tensor_host_cached), or NULL: then ctvk_net_set_params. Only for a network
 * no recorded work reads yet (just created). */
float *ctvk__net_params_host(ctvk_net *net);
/* After the caller wrote params (g.params_total floats) into that buffer: what ctvk_net_set_params
 * does after its upload (BN folds, scale/shift, Grad-CAM's saved statistics, Winograd transforms). */
ctvk_status ctvk__net_params_written(ctvk_net *net, const float *params);
/* ctvk_checkpoint_load of a graph's checkpoint whose weights go to params (g->params_total floats,
 * padding zeroed; the caller's, ck->params stays NULL). */
ctvk_status ctvk__checkpoint_load_into(const char *path, const ctvk_graph *g, float *params, ctvk_checkpoint *ck);
/* What identifies a checkpoint's weights without reading them: a hash of its size and of the
 * sections before its data (the model config and the tensor table with every tensor's CRC-32),
 * each checked against its own CRC. */
ctvk_status ctvk__checkpoint_identity(const char *path, uint64_t *id);
/* A network for inference whose weights come later (ctvk__net_prepare_weights): with the weights
 * cache of a CPU device (ctvk__wcache_on), what ctvk_net_from_checkpoint uses. */
ctvk_status ctvk__net_create_prepared(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, ctvk_net **out);
/* Attaches a prepared network's weights: from the weights cache entry of `source` (what the
 * parameters are made from, e.g. ctvk__checkpoint_identity) when there is one, *hit = 1 and the
 * network is ready; else fresh tensors, *hit = 0: the caller writes the parameters (through
 * ctvk__net_params_host, else ctvk_net_set_params) and the entry is stored when the network is
 * destroyed after its work finished. */
ctvk_status ctvk__net_prepare_weights(ctvk_net *net, uint64_t source, int *hit);

/* ================================================================== gradients (grad.comp) */
/* g = 0 */
ctvk_status ctvk_grad_zero(ctvk_ctx *ctx, ctvk_flat *g);
/* acc += scale * g (same element count) */
ctvk_status ctvk_grad_acc(ctvk_ctx *ctx, ctvk_flat *acc, float scale, ctvk_flat *g);
/* g *= scale */
ctvk_status ctvk_grad_scale(ctvk_ctx *ctx, ctvk_flat *g, float scale);

void ctvk_ref_grad_zero(float *g, size_t n);
void ctvk_ref_grad_acc(float *acc, float scale, const float *g, size_t n);
void ctvk_ref_grad_scale(float *g, float scale, size_t n);

/* ================================================================== Nadam (nadam.comp)
 * Nadam of Keras 2.3 (keras.optimizers.Nadam, "schedule_decay" form); t counts steps from 1:
 *   u_t = b1 (1 - 0.5 * 0.96^(schedule_decay * t)),   P_t = u_1 ... u_t
 *   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *   m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t),   v_hat = v / (1 - b2^t)
 *   p -= lr m_hat / (sqrt(v_hat) + eps)
 * The host keeps t and P_t (in double) and computes the per-step scalars in double; the kernel
 * gets them as floats and does the elementwise part in fp32 in one fused pass over p, g, m, v.
 * Same as torch.optim.NAdam(lr, momentum_decay=schedule_decay, eps). m and v start at zero
 * (ctvk_grad_zero). */
typedef struct ctvk_nadam_config {
    double lr;              /* 1e-4 */
    double beta1;           /* 0.9 */
    double beta2;           /* 0.999 */
    double eps;             /* 1e-7 */
    double schedule_decay;  /* 0.004 */
} ctvk_nadam_config;

/* What a checkpoint must keep besides p, m and v: steps taken and P_t. */
typedef struct ctvk_nadam_state {
    uint64_t t;             /* steps taken so far (0 before the first) */
    double m_schedule;      /* P_t = u_1 ... u_t (1 before the first step) */
} ctvk_nadam_state;

typedef struct ctvk_nadam {
    ctvk_nadam_config cfg;  /* lr may be changed between steps */
    ctvk_nadam_state st;
} ctvk_nadam;

/* The scalars of one step, in double (the kernel receives them as floats). */
typedef struct ctvk_nadam_scalars {
    uint64_t t;             /* this step's t */
    double lr, beta1, beta2, eps;
    double c_m;             /* u_{t+1} / (1 - P_t u_{t+1}) */
    double c_g;             /* (1 - u_t) / (1 - P_t) */
    double c_v;             /* 1 / (1 - b2^t) */
} ctvk_nadam_scalars;

void ctvk_nadam_config_default(ctvk_nadam_config *c);
/* cfg NULL: the defaults. State: t = 0, P_0 = 1. */
void ctvk_nadam_init(ctvk_nadam *o, const ctvk_nadam_config *cfg);
/* The scalars of the next step (t + 1) and the state after it; does not change *o. */
void ctvk_nadam_next(const ctvk_nadam *o, ctvk_nadam_scalars *s, ctvk_nadam_state *after);
/* Records one step: p, m, v updated in place from g (all fp32, same count); advances o->st.
 * One dispatch per chunk (one in all when the buffers fit one binding). */
ctvk_status ctvk_nadam_step(ctvk_ctx *ctx, ctvk_nadam *o, ctvk_flat *p, ctvk_flat *g, ctvk_flat *m,
                            ctvk_flat *v);
/* Checkpoints: the state as 16 bytes, little-endian (t as uint64, P_t as IEEE double). */
#define CTVK_NADAM_STATE_BYTES 16
void ctvk_nadam_state_pack(const ctvk_nadam_state *s, unsigned char out[CTVK_NADAM_STATE_BYTES]);
ctvk_status ctvk_nadam_state_unpack(const unsigned char in[CTVK_NADAM_STATE_BYTES], ctvk_nadam_state *s);

/* Reference: one step on double arrays with the scalars s. */
void ctvk_ref_nadam(const ctvk_nadam_scalars *s, double *p, double *m, double *v, const float *g, size_t n);

/* ================================================================== augmentation (augment.comp)
 * Keras ImageDataGenerator(rotation_range=360, shear_range=0.05, zoom_range=0.05,
 * width_shift_range=0.05, height_shift_range=0.05, horizontal_flip, vertical_flip,
 * fill_mode='nearest'), as keras_preprocessing's apply_affine_transform + scipy.ndimage.
 * affine_transform(order=1, mode='nearest') + flip_axis compute it.
 *
 * Axes. A slice is stored row-major (row 0 = first row as stored). Keras' image array is
 * (row, col, channel) and its 3x3 matrices act on the index vector (row, col): Keras' "x" in
 * its matrices is the ROW index, "y" the COLUMN index. So tx is a shift along rows (drawn from
 * height_shift_range x H), ty along columns (width_shift_range x W), zx scales rows, zy columns,
 * and the rotation acts as [[cos, -sin], [sin, cos]] on (row, col).
 *
 * Transform. M = R(theta) T(tx, ty) Sh(shear) Z(zx, zy) with Sh = [[1, -sin s], [0, cos s]] and
 * Z = diag(zx, zy), taken about the centre o: output pixel p = (row, col) samples the input at
 *   q = o + R Sh Z (p - o) + R (tx, ty)
 * bilinearly, indices outside the image clamped to the edge ('nearest'). Then a horizontal flip
 * (reverses columns) and a vertical flip (reverses rows) of the result.
 *
 * Centre. docs/method.md: o = (H/2 - 0.5, W/2 - 0.5), the true image centre (keras-preprocessing since
 * PR #314, Oct 2020). keras-preprocessing <= 1.1.2 (what Keras 2.3 shipped) used H/2 + 0.5,
 * W/2 + 0.5, one pixel off: ctvk_augment_config.legacy_centre = 1 reproduces that.
 *
 * Randomness: splitmix64 (state += 0x9E3779B97F4A7C15, then the usual mix); a uniform double
 * in [0, 1) is (next >> 11) * 2^-53; U(a, b) = a + (b - a) u. Per image, in Keras' order:
 * theta, tx, ty, shear, zx, zy, then flip_h = U(0,1) < 0.5, flip_v = U(0,1) < 0.5. A range of 0
 * draws nothing for that parameter (like Keras). The same seed gives the same batch.
 *
 * Device record per image: 8 floats {a00, a01, a10, a11, d0, d1, flags, 0}. The kernel maps output
 * pixel (r, c) to (r', c') = (flip_v ? H-1-r : r, flip_h ? W-1-c : c) and samples the input at
 *   (row, col) = (d0, d1) + [[a00, a01], [a10, a11]] ((r', c') - ((H-1)/2, (W-1)/2))
 * i.e. A = R Sh Z and d = where the centre pixel samples; flags bit 0 flip_h, bit 1 flip_v. */
typedef struct ctvk_augment_config {
    double rotation_range;     /* degrees: theta ~ U(-r, r); 360 */
    double shear_range;        /* degrees: shear ~ U(-s, s); 0.05 */
    double zoom_lo, zoom_hi;   /* zx, zy ~ U(lo, hi) independently; 0.95, 1.05 (1, 1: none) */
    double height_shift_range; /* tx ~ U(-h, h) x H pixels; 0.05 */
    double width_shift_range;  /* ty ~ U(-w, w) x W pixels; 0.05 */
    int horizontal_flip;       /* 1 */
    int vertical_flip;         /* 1 */
    int legacy_centre;         /* 0: centre (size/2 - 0.5) [METHOD]; 1: size/2 + 0.5 (Keras 2.3) */
} ctvk_augment_config;

typedef struct ctvk_augment_params {
    double theta;              /* degrees */
    double tx, ty;             /* pixels along rows, columns */
    double shear;              /* degrees */
    double zx, zy;             /* row, column zoom */
    int flip_h, flip_v;
} ctvk_augment_params;

#define CTVK_AUGMENT_RECORD 8  /* floats per image in the parameter tensor */

void ctvk_augment_config_default(ctvk_augment_config *c);
/* The identity: theta = tx = ty = shear = 0, zx = zy = 1, no flips. */
void ctvk_augment_params_identity(ctvk_augment_params *p);
/* splitmix64 and its uniform double in [0, 1). */
uint64_t ctvk_augment_rng_next(uint64_t *state);
double ctvk_augment_rng_uniform(uint64_t *state);
/* Draws one image's parameters (Keras' order) from *state for an h x w image. */
void ctvk_augment_draw(const ctvk_augment_config *c, uint64_t *state, int h, int w, ctvk_augment_params *out);
/* The device record of one image (computed in double, stored as floats). */
void ctvk_augment_record(const ctvk_augment_config *c, const ctvk_augment_params *p, int h, int w,
                         float rec[CTVK_AUGMENT_RECORD]);

/* out[n,h,w,0] = scale * bilinear(in[n], transform of record n) + offset.
 * in: uint16 {N, H, W, 1}; params: fp32 with N * 8 elements; out: fp32 {N, H, W, 1}.
 * scale 1, offset 0 give the raw stored values as floats (METHOD: no normalisation). */
ctvk_status ctvk_augment(ctvk_ctx *ctx, const ctvk_tensor *in, const ctvk_tensor *params, float scale,
                         float offset, ctvk_tensor *out);
/* Reference (double arithmetic) with the same records. */
void ctvk_ref_augment(const uint16_t *in, int n, int h, int w, const float *params, float scale, float offset,
                      float *out);

/* ================================================================== dtype conversion */
/* y = scale * x + offset: uint16 -> fp32, same count (convert.comp; scale 1, offset 0: exact). */
ctvk_status ctvk_convert_u16_to_f32(ctvk_ctx *ctx, const ctvk_tensor *x, float scale, float offset, ctvk_tensor *y);
/* fp32 -> fp16 and fp16 -> fp32, same count (convert_f16.comp). Needs the device's
 * storageBuffer16BitAccess (CTVK_ERR_UNSUPPORTED otherwise). fp32 -> fp16 rounds to nearest even
 * on every device (integer arithmetic in the shader, bit-identical to ctvk_ref_f32_to_f16: the
 * rounding of OpFConvert is the device's choice, and lavapipe truncates); fp16 -> fp32 is exact. */
ctvk_status ctvk_convert_f32_to_f16(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);
ctvk_status ctvk_convert_f16_to_f32(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);

void ctvk_ref_u16_to_f32(const uint16_t *x, float scale, float offset, float *y, size_t n);
/* IEEE binary16 bits from a float, round to nearest even (round_to_zero = 1: towards zero);
 * overflow gives infinity (round to nearest) or the largest finite half (towards zero). */
uint16_t ctvk_ref_f32_to_f16(float f, int round_to_zero);
float ctvk_ref_f16_to_f32(uint16_t h);

#endif
