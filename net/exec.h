/* Private: what the device executor (net/exec.c) and the plain-C reference executor
 * (net/exec_ref.c) must agree on. */
#ifndef CTVK_NET_EXEC_H
#define CTVK_NET_EXEC_H
#include "ctvk/net.h"
#include "runtime/rng.h"

/* The dropout seed of layer `layer` for a step seeded `seed`: both executors use it, so their
 * masks are identical. */
static inline uint64_t ctvk__layer_seed(uint64_t seed, int layer)
{
    return ctvk__splitmix_final(seed + CTVK__GOLDEN * (uint64_t)(layer + 1));
}

/* ---------------------------------------------------------------- the reference executor
 * Runs the graph layer by layer exactly as Keras defines it (no fusion), in double, on the host.
 * params: params_total doubles in the graph's flat layout (BN moving statistics are updated in
 * place when training). input: n samples {H, W, C}. labels: n one-hot rows.
 * Forward: probs (n x classes) receives the softmax output.
 * Train: additionally the mean cross-entropy loss and, in grads (params_total doubles, zeroed
 * here), the gradient of the mean loss with respect to every trainable parameter. */
typedef struct ctvk_ref_result {
    double loss;          /* mean over the batch */
    int correct;          /* argmax(probs) == argmax(labels) */
} ctvk_ref_result;

ctvk_status ctvk_ref_net_forward(const ctvk_graph *g, double *params, int n, const double *input, int training,
                                 uint64_t seed, double *probs);
ctvk_status ctvk_ref_net_train(const ctvk_graph *g, double *params, int n, const double *input,
                               const double *labels, uint64_t seed, double *probs, double *grads,
                               ctvk_ref_result *res);

/* The reference Grad-CAM: the inference forward, then backward from the logit of class cls; act and
 * grad receive layer `layer`'s output and the logit's gradient with respect to it (n x its shape). */
ctvk_status ctvk_ref_net_cam(const ctvk_graph *g, double *params, int n, const double *input, int layer, int cls,
                             double *act, double *grad, double *probs);
/* The inference logits (n x classes) when layer `layer`'s output is replaced by act (finite
 * differences of a Grad-CAM score with respect to the layer's activation). */
ctvk_status ctvk_ref_net_logits_with(const ctvk_graph *g, double *params, int n, const double *input, int layer,
                                     const double *act, double *logits);
/* The map of one sample as ctvk_cam_map defines it, in double. */
void ctvk_ref_cam_map(const double *act, const double *grad, ctvk_shape s, double *map);

/* Tests only: the gradient buffer after a training step (params_total floats). Waits. */
ctvk_status ctvk__net_grads(ctvk_net *net, float *out);

/* Tests and benchmarks: the bytes one binding of a batch tensor may span. Layers with a larger
 * tensor run their kernels over sample slices (see plan_slices in net/exec.c). set: 0 restores
 * the device's maxStorageBufferRange; a smaller value forces slicing (tests of the slicing); the
 * next pass binds anew. */
void ctvk__net_set_bind_limit(ctvk_net *net, uint64_t bytes);
uint64_t ctvk__net_bind_limit(const ctvk_net *net);
/* Layers whose kernels run in slices for the batch of the last pass, and the most slices. */
int ctvk__net_sliced_layers(const ctvk_net *net, int *max_slices);
/* What the executor planned: BN folded into convs, convs run as Winograd forward / backward-data,
 * residual adds and batch norms in conv epilogues (GPU kernels), split-K dense forwards. */
typedef struct ctvk__net_plan {
    int folded_bn, winograd, winograd_bwd, fused_add, fused_bn, splitk_dense;
} ctvk__net_plan;
void ctvk__net_plan_info(const ctvk_net *net, ctvk__net_plan *p);

/* Where the net's device memory goes (bytes, for max_batch), from the plan by one accounting (the
 * one the budget check uses); total equals ctvk_net_device_bytes of the allocated net. params
 * includes the derived weights (folded convs, BN scale/shift, Winograd transforms). The live peaks
 * are the lower bounds by liveness (values alive at once); the pools are what the planner
 * allocated for them. */
typedef struct ctvk__net_mem {
    uint64_t params, grads, optimizer;          /* optimizer: Nadam m and v */
    uint64_t act_pool, act_live_peak;           /* activations (training: incl. those kept for backward) */
    uint64_t grad_pool, grad_live_peak;         /* gradients of activations */
    uint64_t other;                             /* input, labels, outputs, statistics, BN saved statistics
                                                   and workspace, max-pool argmax, Winograd and split-K work */
    uint64_t total;                             /* ctvk_net_device_bytes */
} ctvk__net_mem;
void ctvk__net_memory(const ctvk_net *net, ctvk__net_mem *m);
/* The same from the plan alone, allocating nothing (what ctvk_net_create would need). */
ctvk_status ctvk__net_plan_memory(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk__net_mem *m);
#endif
