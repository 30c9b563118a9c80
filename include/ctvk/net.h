/* Networks: a graph of named layers (Keras names), built by the model constructors below, with
 * shapes inferred from the input size and every parameter given a place in one flat buffer.
 *
 * Architectures (docs/method.md section 3):
 *   "resnet50"        Keras ResNet50 (V1): BN after every conv, stride 2 on block1's first 1x1 conv.
 *   "resnet50v2"      Keras ResNet50V2 (pre-activation), stride 2 in the last block of conv2..conv4.
 *   "resnet50v2_fpn"  ResNet50V2 with the paper's FPN head (concatenation, five Dense(2, ReLU)
 *                     classifiers on P3..P7, Dense(2, softmax) on their concatenation).
 *   "small_resnet"    a configurable pre-activation ResNet (stages, blocks, widths) for tests and the
 *                     demo, with the same block structure as ResNet50V2.
 * Heads: "fpn" (resnet50v2_fpn), "gap" (global average pool -> Dropout 0.5 -> Dense(classes, softmax):
 * the plain baselines, whose head the authors never published), "none" (the backbone alone, as
 * Keras' include_top=False, pooling=None).
 */
#ifndef CTVK_NET_H
#define CTVK_NET_H
#include "ctvk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The operations of a graph, one row each: CTVK_OP_<row>, its short name (profiles, benchmarks)
 * and its Keras layer class (summaries, HDF5). Adding an op starts here (HACKING.md). */
#define CTVK_OP_TABLE(X)                                                                               \
    X(INPUT, "input", "InputLayer")                                                                     \
    X(CONV, "conv", "Conv2D")                                                                           \
    X(BN, "batchnorm", "BatchNormalization")                                                            \
    X(RELU, "relu", "Activation")                                                                       \
    X(ADD, "add", "Add")                                                                                \
    X(ZEROPAD, "zeropad", "ZeroPadding2D")                                                              \
    X(MAXPOOL, "maxpool", "MaxPooling2D")                                                               \
    X(GAP, "gap", "GlobalAveragePooling2D")                                                             \
    X(RESIZE, "resize", "Resizing")                                                                     \
    X(CONCAT, "concat", "Concatenate")                                                                  \
    X(FLATTEN, "flatten", "Flatten")                                                                    \
    X(DROPOUT, "dropout", "Dropout")                                                                    \
    X(DENSE, "dense", "Dense")

typedef enum ctvk_op {
#define CTVK_OP_ENUM_(row, short_name, keras_class) CTVK_OP_##row,
    CTVK_OP_TABLE(CTVK_OP_ENUM_)
#undef CTVK_OP_ENUM_
} ctvk_op;
/* the number of ops (not an enum value, so that a switch over ops is checked for a missing row) */
#define CTVK_OP_ONE_(row, short_name, keras_class) +1
#define CTVK_OP_COUNT (0 CTVK_OP_TABLE(CTVK_OP_ONE_))

typedef enum ctvk_activation { CTVK_ACT_NONE = 0, CTVK_ACT_RELU = 1, CTVK_ACT_SOFTMAX = 2 } ctvk_activation;

#define CTVK_NAME_MAX 64
#define CTVK_MAX_PARAMS 4

/* One parameter array of a layer, e.g. conv1_conv/kernel:0, at `offset` floats into the flat
 * parameter buffer (offsets are multiples of 64 floats so every parameter can be bound alone). */
typedef struct ctvk_param {
    char name[32];            /* Keras weight name without the layer: "kernel:0", "moving_mean:0" */
    int ndim, dims[4];        /* Keras shape: conv HWIO, dense (in, out), vectors (n) */
    size_t count, offset;
    int trainable;
} ctvk_param;

typedef struct ctvk_layer {
    char name[CTVK_NAME_MAX]; /* the Keras layer name */
    ctvk_op op;
    int in[2], nin;           /* producing layers */
    ctvk_shape out;           /* per sample: n = 1 */
    int flat;                 /* the output is a vector (after Flatten, Dense, pooling): out = 1x1xC */
    /* conv, pool, pad */
    int kh, kw, stride, pad_t, pad_b, pad_l, pad_r, filters, bias;
    /* bn */
    float eps, momentum;
    /* dense */
    int units;
    ctvk_activation act;
    float rate;               /* dropout */
    int nparams;
    ctvk_param params[CTVK_MAX_PARAMS];
} ctvk_layer;

typedef struct ctvk_model_config {
    char arch[32];            /* see above */
    char head[16];            /* "fpn", "gap", "none"; default: fpn for resnet50v2_fpn, gap otherwise */
    int height, width, channels, classes;
    float bn_eps, bn_momentum, dropout;
    /* small_resnet */
    int stages, blocks[8], widths[8];
    /* what the network was trained to see: input = input_scale * stored value + input_offset ([data]
     * scale and offset). A checkpoint records them; input_recorded is 0 for a checkpoint older than
     * that, whose input transform only its training config knows. */
    float input_scale, input_offset;
    int input_recorded;
} ctvk_model_config;

typedef struct ctvk_graph {
    ctvk_layer *layers;
    int nlayers, cap;
    int output;               /* the last layer */
    size_t params_total;      /* floats in the flat buffer (with alignment padding) */
    size_t params_count, trainable_count;   /* Keras' "Total params" and "Trainable params" */
    ctvk_model_config cfg;
} ctvk_graph;

/* Defaults for an architecture (input 512x512x1, 2 classes, eps 1.001e-5, momentum 0.99). */
void ctvk_model_config_default(ctvk_model_config *c, const char *arch);
/* Reads [model]: arch, head, input_size (or height and width), channels, classes, dropout, bn_eps, bn_momentum,
 * and for small_resnet: stages, blocks (comma list), widths (comma list). `cfg` is a ctvk_config. */
struct ctvk_config;
ctvk_status ctvk_model_config_load(const struct ctvk_config *cfg, ctvk_model_config *mc);
/* Builds the graph; refuses an unknown architecture or an input too small for it (with the minimum). */
ctvk_status ctvk_graph_build(const ctvk_model_config *c, ctvk_graph *g);
void ctvk_graph_free(ctvk_graph *g);
/* Index of a layer by Keras name, or -1. */
int ctvk_graph_find(const ctvk_graph *g, const char *name);
/* Writes the Keras-like summary (layer, output shape, params, inputs) and totals. */
void ctvk_graph_summary(const ctvk_graph *g, void *file /* FILE* */);
/* The Keras layer class of an op ("Conv2D"), and its short name ("conv"); "?" out of range. */
const char *ctvk_op_name(ctvk_op op);
const char *ctvk_op_short_name(ctvk_op op);

/* ------------------------------------------------------------------------------------ elementwise kernels
 * y = value; y = x; y = a * x + b * y (all fp32, the same element count; net/elementwise.c), and
 * their plain-C references. */
ctvk_status ctvk_fill(ctvk_ctx *ctx, ctvk_tensor *y, float value);
ctvk_status ctvk_copy(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y);
ctvk_status ctvk_scale_add(ctvk_ctx *ctx, float a, const ctvk_tensor *x, float b, ctvk_tensor *y);
void ctvk_ref_fill(float *y, size_t n, float value);
void ctvk_ref_copy(const float *x, float *y, size_t n);
void ctvk_ref_scale_add(float a, const float *x, float b, float *y, size_t n);

/* ------------------------------------------------------------------------------------ execution
 * A network on a device: parameters, gradients and Nadam moments in flat device buffers (one
 * view per parameter), activations in buffers planned once and reused (inference reuses a buffer
 * as soon as its value is dead; training keeps only what the backward pass reads), the forward
 * and backward passes recorded layer by layer into the context's command buffers.
 * Fusions: ZeroPadding into the next conv or max pool, BN + ReLU, Add + ReLU, Dense + ReLU,
 * Flatten as a view, softmax + cross-entropy in one kernel. */
typedef struct ctvk_net ctvk_net;

typedef struct ctvk_optimizer {
    double lr, beta1, beta2, eps, schedule_decay;   /* Nadam: 1e-4, 0.9, 0.999, 1e-7, 0.004 */
} ctvk_optimizer;

/* training != 0 allocates gradients, optimizer state and what backward needs. */
ctvk_status ctvk_net_create(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk_net **out);
void ctvk_net_destroy(ctvk_net *net);
const ctvk_graph *ctvk_net_graph(const ctvk_net *net);
/* Parameters in the graph's flat layout (graph->params_total floats). */
ctvk_status ctvk_net_set_params(ctvk_net *net, const float *params);
ctvk_status ctvk_net_get_params(ctvk_net *net, float *params);
/* The input tensor {max_batch, H, W, C} fp32: write the first n samples (upload, or a kernel). */
ctvk_tensor *ctvk_net_input(ctvk_net *net);
/* Records the forward pass of the first n samples (inference: moving BN statistics, no dropout). */
ctvk_status ctvk_net_forward(ctvk_net *net, int n);
/* The same against labels (n one-hot rows): the loss and accuracy accumulate in the validation
 * statistics (ctvk_net_val_stats), never in the training ones. */
ctvk_status ctvk_net_validate(ctvk_net *net, int n, const float *labels);
/* Waits and copies the softmax output of the last forward (n x classes floats). */
ctvk_status ctvk_net_probs(ctvk_net *net, int n, float *out);
/* One training step on the first n samples: forward (batch statistics, dropout seeded by seed),
 * softmax cross-entropy against labels (n one-hot rows), backward, Nadam. Records only: the loss
 * and accuracy accumulate on the device (ctvk_net_stats). */
ctvk_status ctvk_net_train_step(ctvk_net *net, int n, const float *labels, uint64_t seed);
/* The same in pieces, for data-parallel ranks and micro-batches. A step's n samples may be part of
 * a bigger batch: samples [first, first + n) of `total`. The loss gradient is then that of the
 * whole batch's mean loss (dlogits = (p - y) / total), dropout draws the whole batch's masks, and
 * with accumulate the parameter gradients add to the gradient buffer instead of replacing it, so
 * the parts' gradients sum to the whole batch's. n may be 0 (a rank with no samples this step:
 * it takes part in the collectives and contributes zeros). part NULL: the n samples are the batch.
 * Batch-norm statistics are those of the n samples, unless ctvk_net_set_sync_bn is on: then of
 * every rank's samples (two small all-reduces per BN layer forward and one backward; every BN
 * layer must lie on the loss path, as in every architecture here). */
typedef struct ctvk_step_part {
    int first, total;         /* total 0: n */
    int accumulate;
} ctvk_step_part;
/* Records forward, loss and backward: the gradient buffer receives (or, accumulating, adds) the
 * parameter gradients. Needs a training network. */
ctvk_status ctvk_net_backprop(ctvk_net *net, int n, const float *labels, uint64_t seed, const ctvk_step_part *part);
/* Sums the gradient buffer over the ranks of a distributed run (include/ctvk/dist.h; nothing with
 * one rank): waits, then all-reduces on the host. */
ctvk_status ctvk_net_sum_gradients(ctvk_net *net);
/* Records one Nadam step with the gradient buffer. ctvk_net_train_step = backprop + apply. */
ctvk_status ctvk_net_apply_gradients(ctvk_net *net);
/* Synchronised batch norm across the ranks of a distributed run (default off: per-rank statistics).
 * Refused (CTVK_ERR_UNSUPPORTED) when a BN layer does not lead to the loss. */
ctvk_status ctvk_net_set_sync_bn(ctvk_net *net, int on);
/* Sums since the last reset: out[0] loss (sum over samples), out[1] correct, out[2] samples. Waits. */
ctvk_status ctvk_net_stats(ctvk_net *net, double out[3], int reset);
ctvk_status ctvk_net_val_stats(ctvk_net *net, double out[3], int reset);
/* Restores the training sums (resuming in the middle of an epoch). */
ctvk_status ctvk_net_set_stats(ctvk_net *net, const double in[3]);
/* Optimizer settings (lr may change between steps) and state for checkpoints: the moments m and v
 * (params_total floats each, may be NULL) and the 16-byte schedule state (step, running product). */
void ctvk_net_set_optimizer(ctvk_net *net, const ctvk_optimizer *o);
ctvk_status ctvk_net_get_optimizer_state(ctvk_net *net, float *m, float *v, unsigned char state[16]);
ctvk_status ctvk_net_set_optimizer_state(ctvk_net *net, const float *m, const float *v,
                                         const unsigned char state[16]);
/* Bytes of device memory the net holds (parameters, state, planned activations, workspaces). */
uint64_t ctvk_net_device_bytes(const ctvk_net *net);

/* ------------------------------------------------------------------------------------ the plan
 * What the executor planned and where its memory goes, for benchmarks, tests and tools.
 * The bytes one binding of a batch tensor may span. Layers with a larger
 * tensor run their kernels over sample slices (net/exec_bind.c). set: 0 restores
 * the device's maxStorageBufferRange; a smaller value forces slicing (tests of the slicing); the
 * next pass binds anew. */
void ctvk_net_set_bind_limit(ctvk_net *net, uint64_t bytes);
uint64_t ctvk_net_bind_limit(const ctvk_net *net);
/* Layers whose kernels run in slices for the batch of the last pass, and the most slices. */
int ctvk_net_sliced_layers(const ctvk_net *net, int *max_slices);
/* What the executor planned: BN folded into convs, convs run as Winograd forward / backward-data,
 * residual adds and batch norms in conv epilogues (GPU kernels), split-K dense forwards. */
typedef struct ctvk_net_plan {
    int folded_bn, winograd, winograd_bwd, fused_add, fused_bn, splitk_dense;
} ctvk_net_plan;
void ctvk_net_plan_info(const ctvk_net *net, ctvk_net_plan *p);

/* Where the net's device memory goes (bytes, for max_batch), from the plan by one accounting (the
 * one the budget check uses); total equals ctvk_net_device_bytes of the allocated net. params
 * includes the derived weights (folded convs, BN scale/shift, Winograd transforms). The live peaks
 * are the lower bounds by liveness (values alive at once); the pools are what the planner
 * allocated for them. */
typedef struct ctvk_net_mem {
    uint64_t params, grads, optimizer;          /* optimizer: Nadam m and v */
    uint64_t act_pool, act_live_peak;           /* activations (training: incl. those kept for backward) */
    uint64_t grad_pool, grad_live_peak;         /* gradients of activations */
    uint64_t other;                             /* input, labels, outputs, statistics, BN saved statistics
                                                   and workspace, max-pool argmax, Winograd and split-K work */
    uint64_t total;                             /* ctvk_net_device_bytes */
} ctvk_net_mem;
void ctvk_net_memory(const ctvk_net *net, ctvk_net_mem *m);
/* The same from the plan alone, allocating nothing (what ctvk_net_create would need). */
ctvk_status ctvk_net_plan_memory(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk_net_mem *m);

/* ------------------------------------------------------------------------------------ per-op benchmarks
 * One kernel on random data whose input has shape x (the other shapes follow from it), checked
 * against its plain-C reference, then timed (`ctvk bench op`): device_ms is the minimum over reps
 * runs, each recorded and waited for alone (the first run, which compiles, is not timed); ref_ms one
 * run of the double-precision reference; rel_err the worst difference relative to the largest
 * reference value. gflop: the convolutions' multiply-adds x 2; mbytes: what an elementwise kernel
 * reads and writes. */
typedef struct ctvk_op_bench_result {
    double device_ms, ref_ms, rel_err, gflop, mbytes;
    ctvk_shape out_shape;
} ctvk_op_bench_result;
int ctvk_op_bench_count(void);
/* The name of op i (and what it computes), NULL out of range. */
const char *ctvk_op_bench_name(int i, const char **what);
ctvk_status ctvk_op_bench(ctvk_ctx *ctx, const char *name, ctvk_shape x, int reps, ctvk_op_bench_result *r);
/* The convolution kernels on the layer shapes of ResNet50 (224x224) and the paper's FPN (512x512):
 * ctvk_conv_bench runs layer i at this batch, each pass best of reps after a warm-up, and fills
 * gflops with the GFLOP/s of forward, backward-data, backward-weights, Winograd forward and
 * Winograd backward-data (0: not run; passes 1: forward only; tile: Winograd F(2x2) or F(4x4)),
 * from timestamp queries: the context needs profiling on (ctvk_options.profile). */
int ctvk_conv_bench_count(void);
const char *ctvk_conv_bench_name(int i);
ctvk_status ctvk_conv_bench(ctvk_ctx *ctx, int i, int batch, int reps, int passes, int tile, double gflops[5]);

/* ------------------------------------------------------------------------------------ Grad-CAM
 * Grad-CAM (Selvaraju et al. 2017) with the training backward machinery: a network planned as for
 * training (activations kept for backward, no parameter gradients or optimizer state) that runs
 * the inference forward (moving BN statistics, no dropout) and then backward from one class's
 * logit (the score before the softmax) down to `layer` (a Keras layer name; its own output is
 * kept, fusions past it are off). ctvk_net_probs works after a pass. Training calls refuse it. */
ctvk_status ctvk_net_create_cam(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, const char *layer, ctvk_net **out);
/* The layer's index and its output's per-sample shape (s may be NULL); -1 for other networks. */
int ctvk_net_cam_layer(const ctvk_net *net, ctvk_shape *s);
/* Records the pass for the first n samples of the input and the logit of class cls. */
ctvk_status ctvk_net_cam_pass(ctvk_net *net, int n, int cls);
/* Waits and copies the layer's activation A and the score's gradient dS/dA (each n x h x w x c
 * floats, NHWC; either may be NULL) of the last pass. */
ctvk_status ctvk_net_cam_read(ctvk_net *net, int n, float *act, float *grad);
/* One sample's map (h x w floats) from A and dS/dA (h x w x c): weights alpha_c = mean of dS/dA
 * over the map, cam = ReLU(sum_c alpha_c A_c), divided by its maximum. top: that maximum (0: no
 * positive evidence, the map is all zero); peak: its index y * w + x (-1 when top is 0). */
ctvk_status ctvk_cam_map(const float *act, const float *grad, ctvk_shape s, float *map, double *top, int *peak);
/* The layer Grad-CAM uses unless told: conv5_block3_out for resnet50, post_relu for the others. */
const char *ctvk_cam_default_layer(const char *arch);

#ifdef __cplusplus
}
#endif
#endif
