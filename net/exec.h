/* Private: what the device executor (net/exec.c) and the plain-C reference executor
 * (net/exec_ref.c) must agree on. */
#ifndef CTVK_NET_EXEC_H
#define CTVK_NET_EXEC_H
#include "ctvk/net.h"

/* The dropout seed of layer `layer` for a step seeded `seed`: both executors use it, so their
 * masks are identical. */
static inline uint64_t ctvk__layer_seed(uint64_t seed, int layer)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(layer + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
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
#endif
