/* Private: what the device executor (net/exec.c) and the plain-C reference executor
 * (net/exec_ref.c) must agree on. */
#ifndef CTVK_NET_EXEC_H
#define CTVK_NET_EXEC_H
#include "ctvk/net.h"
#include "runtime/base/rng.h"

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

#endif
