/* Networks: a graph of named layers (Keras names), built by the model constructors below, with
 * shapes inferred from the input size and every parameter given a place in one flat buffer.
 *
 * Architectures (METHOD.md section 3):
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

typedef enum ctvk_op {
    CTVK_OP_INPUT, CTVK_OP_CONV, CTVK_OP_BN, CTVK_OP_RELU, CTVK_OP_ADD, CTVK_OP_ZEROPAD, CTVK_OP_MAXPOOL,
    CTVK_OP_GAP, CTVK_OP_RESIZE, CTVK_OP_CONCAT, CTVK_OP_FLATTEN, CTVK_OP_DROPOUT, CTVK_OP_DENSE
} ctvk_op;

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
/* Reads [model]: arch, head, input_size (or height and width), channels, classes, dropout, bn_eps,
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
const char *ctvk_op_name(ctvk_op op);

#ifdef __cplusplus
}
#endif
#endif
