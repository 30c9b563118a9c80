/* The architectures, layer by layer as Keras builds them (keras/applications/resnet.py and
 * resnet_v2.py), and the paper's FPN head with the layer names of the authors' model. */
#include "net/graph_build.h"
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <string.h>

void ctvk_model_config_default(ctvk_model_config *c, const char *arch)
{
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "%s", arch ? arch : "resnet50v2_fpn");
    snprintf(c->head, sizeof c->head, "%s", !strcmp(c->arch, "resnet50v2_fpn") ? "fpn" : "gap");
    c->height = c->width = 512;
    c->channels = 1;
    c->classes = 2;
    c->bn_eps = 1.001e-5f;
    c->bn_momentum = 0.99f;
    c->dropout = 0.5f;
    c->input_scale = 1.0f;
    c->input_offset = 0.0f;
    c->input_recorded = 1;
    c->stages = 3;
    c->blocks[0] = c->blocks[1] = c->blocks[2] = 1;
    c->widths[0] = 16; c->widths[1] = 32; c->widths[2] = 64;
}

#define T(x) do { if ((x) < 0) return -1; } while (0)

static int name_of(char *buf, const char *a, const char *b)
{
    snprintf(buf, CTVK_NAME_MAX, "%s%s", a, b);
    return 0;
}

/* Keras resnet_v2 block2: pre-activation bottleneck. Returns the block output (the Add). */
static int block2(ctvk_graph *g, int x, int filters, int stride, int conv_shortcut, const char *name, int *preact_out)
{
    char n[CTVK_NAME_MAX], auto_[CTVK_NAME_MAX];
    int pre, sc, y;
    name_of(n, name, "_preact_bn"); T(pre = g_bn(g, n, x));
    name_of(n, name, "_preact_relu"); T(pre = g_relu(g, n, pre));
    if (preact_out) *preact_out = pre;
    if (conv_shortcut) { name_of(n, name, "_0_conv"); T(sc = g_conv(g, n, pre, 4 * filters, 1, stride, 0, 1)); }
    else if (stride > 1) T(sc = g_maxpool(g, g_autoname(g, "max_pooling2d", auto_), x, 1, stride));
    else sc = x;
    name_of(n, name, "_1_conv"); T(y = g_conv(g, n, pre, filters, 1, 1, 0, 0));
    name_of(n, name, "_1_bn"); T(y = g_bn(g, n, y));
    name_of(n, name, "_1_relu"); T(y = g_relu(g, n, y));
    name_of(n, name, "_2_pad"); T(y = g_pad(g, n, y, 1));
    name_of(n, name, "_2_conv"); T(y = g_conv(g, n, y, filters, 3, stride, 0, 0));
    name_of(n, name, "_2_bn"); T(y = g_bn(g, n, y));
    name_of(n, name, "_2_relu"); T(y = g_relu(g, n, y));
    name_of(n, name, "_3_conv"); T(y = g_conv(g, n, y, 4 * filters, 1, 1, 0, 1));
    name_of(n, name, "_out");
    return g_add(g, n, sc, y);
}

/* Keras stack2: block1 has the conv shortcut, the last block has the stride. preact1 receives
 * block1's preact_relu (the FPN taps C3 and C4 there). */
static int stack2(ctvk_graph *g, int x, int filters, int blocks, int stride1, const char *name, int *preact1)
{
    char n[CTVK_NAME_MAX];
    snprintf(n, sizeof n, "%s_block1", name);
    T(x = block2(g, x, filters, blocks == 1 ? stride1 : 1, 1, n, preact1));
    for (int i = 2; i <= blocks; i++) {
        snprintf(n, sizeof n, "%s_block%d", name, i);
        T(x = block2(g, x, filters, i == blocks ? stride1 : 1, 0, n, NULL));
    }
    return x;
}

/* Keras resnet block1 (V1): post-activation bottleneck. */
static int block1(ctvk_graph *g, int x, int filters, int stride, int conv_shortcut, const char *name)
{
    char n[CTVK_NAME_MAX];
    int sc = x, y;
    if (conv_shortcut) {
        name_of(n, name, "_0_conv"); T(sc = g_conv(g, n, x, 4 * filters, 1, stride, 0, 1));
        name_of(n, name, "_0_bn"); T(sc = g_bn(g, n, sc));
    }
    name_of(n, name, "_1_conv"); T(y = g_conv(g, n, x, filters, 1, stride, 0, 1));
    name_of(n, name, "_1_bn"); T(y = g_bn(g, n, y));
    name_of(n, name, "_1_relu"); T(y = g_relu(g, n, y));
    name_of(n, name, "_2_conv"); T(y = g_conv(g, n, y, filters, 3, 1, 1, 1));
    name_of(n, name, "_2_bn"); T(y = g_bn(g, n, y));
    name_of(n, name, "_2_relu"); T(y = g_relu(g, n, y));
    name_of(n, name, "_3_conv"); T(y = g_conv(g, n, y, 4 * filters, 1, 1, 0, 1));
    name_of(n, name, "_3_bn"); T(y = g_bn(g, n, y));
    name_of(n, name, "_add"); T(y = g_add(g, n, sc, y));
    name_of(n, name, "_out");
    return g_relu(g, n, y);
}

static int stack1(ctvk_graph *g, int x, int filters, int blocks, int stride1, const char *name)
{
    char n[CTVK_NAME_MAX];
    snprintf(n, sizeof n, "%s_block1", name);
    T(x = block1(g, x, filters, stride1, 1, n));
    for (int i = 2; i <= blocks; i++) {
        snprintf(n, sizeof n, "%s_block%d", name, i);
        T(x = block1(g, x, filters, 1, 0, n));
    }
    return x;
}

/* The stem shared by every architecture: ZeroPad 3, conv1 7x7/2 with bias, [BN, ReLU for V1],
 * ZeroPad 1, MaxPool 3x3/2. */
static int stem(ctvk_graph *g, int x, int v1, int filters, int k, int stride)
{
    T(x = g_pad(g, "conv1_pad", x, k / 2));
    T(x = g_conv(g, "conv1_conv", x, filters, k, stride, 0, 1));
    if (v1) { T(x = g_bn(g, "conv1_bn", x)); T(x = g_relu(g, "conv1_relu", x)); }
    T(x = g_pad(g, "pool1_pad", x, 1));
    return g_maxpool(g, "pool1_pool", x, 3, 2);
}

/* The paper's FPN head on ResNet50V2 taps (docs/method.md section 3). */
static int fpn_head(ctvk_graph *g, int c3, int c4, int c5)
{
    char a[CTVK_NAME_MAX];
    const ctvk_shape s3 = g->layers[c3].out, s4 = g->layers[c4].out;
    int p5r, p5up, p5, c4r, p4c, p4up, p4, c3r, p3c, p3, p6, p7r, p7;
    T(p5r = g_conv(g, "C5_reduced", c5, 256, 1, 1, 0, 1));
    T(p5up = g_resize(g, "P5_upsampled", p5r, s4.h, s4.w));
    T(p5 = g_conv(g, "P5", p5r, 256, 3, 1, 1, 1));
    T(c4r = g_conv(g, "C4_reduced", c4, 256, 1, 1, 0, 1));
    T(p4c = g_concat(g, "P4_merged", p5up, c4r));
    T(p4up = g_resize(g, "P4_upsampled", p4c, s3.h, s3.w));
    T(p4 = g_conv(g, "P4", p4c, 256, 3, 1, 0, 1));
    T(c3r = g_conv(g, "C3_reduced", c3, 256, 1, 1, 0, 1));
    T(p3c = g_concat(g, "P3_merged", p4up, c3r));
    T(p3 = g_conv(g, "P3", p3c, 256, 3, 1, 0, 1));
    T(p6 = g_conv(g, "P6", c5, 256, 3, 2, 1, 1));
    T(p7r = g_relu(g, "C6_relu", p6));
    T(p7 = g_conv(g, "P7", p7r, 256, 3, 2, 1, 1));
    int levels[5] = {p3, p4, p5, p6, p7}, outs[5];
    for (int i = 0; i < 5; i++) {
        int y;
        char dn[CTVK_NAME_MAX];
        T(y = g_flatten(g, g_autoname(g, "flatten", a), levels[i]));
        T(y = g_dropout(g, g_autoname(g, "dropout", a), y, g->cfg.dropout));
        snprintf(dn, sizeof dn, "dense_%d", i + 1);
        T(outs[i] = g_dense(g, dn, y, 2, CTVK_ACT_RELU));
    }
    int cat = outs[0];
    for (int i = 1; i < 5; i++) T(cat = g_concat(g, g_autoname(g, "concatenate", a), cat, outs[i]));
    return g_dense(g, "dense_6", cat, g->cfg.classes, CTVK_ACT_SOFTMAX);
}

static int gap_head(ctvk_graph *g, int x)
{
    char a[CTVK_NAME_MAX];
    T(x = g_gap(g, "avg_pool", x));
    T(x = g_dropout(g, g_autoname(g, "dropout", a), x, g->cfg.dropout));
    return g_dense(g, "predictions", x, g->cfg.classes, CTVK_ACT_SOFTMAX);
}

static int build(ctvk_graph *g)
{
    const ctvk_model_config *c = &g->cfg;
    int x, c3 = -1, c4 = -1;
    T(x = g_input(g, "input_1", c->height, c->width, c->channels));
    if (!strcmp(c->arch, "resnet50")) {
        T(x = stem(g, x, 1, 64, 7, 2));
        T(x = stack1(g, x, 64, 3, 1, "conv2"));
        T(x = stack1(g, x, 128, 4, 2, "conv3"));
        T(x = stack1(g, x, 256, 6, 2, "conv4"));
        T(x = stack1(g, x, 512, 3, 2, "conv5"));
    } else if (!strcmp(c->arch, "resnet50v2") || !strcmp(c->arch, "resnet50v2_fpn")) {
        T(x = stem(g, x, 0, 64, 7, 2));
        T(x = stack2(g, x, 64, 3, 2, "conv2", NULL));
        T(x = stack2(g, x, 128, 4, 2, "conv3", NULL));
        T(x = stack2(g, x, 256, 6, 2, "conv4", &c3));
        T(x = stack2(g, x, 512, 3, 1, "conv5", &c4));
        T(x = g_bn(g, "post_bn", x));
        T(x = g_relu(g, "post_relu", x));
    } else if (!strcmp(c->arch, "small_resnet")) {
        T(x = stem(g, x, 0, c->widths[0], 3, 1));
        for (int s = 0; s < c->stages; s++) {
            char n[16];
            snprintf(n, sizeof n, "conv%d", s + 2);
            T(x = stack2(g, x, c->widths[s], c->blocks[s], s + 1 < c->stages ? 2 : 1, n, NULL));
        }
        T(x = g_bn(g, "post_bn", x));
        T(x = g_relu(g, "post_relu", x));
    } else {
        return ctvk__fail(CTVK_ERR_ARG, "unknown architecture '%s' (resnet50, resnet50v2, resnet50v2_fpn, "
                                        "small_resnet)", c->arch);
    }
    if (!strcmp(c->head, "fpn")) {
        if (strcmp(c->arch, "resnet50v2_fpn") && strcmp(c->arch, "resnet50v2"))
            return ctvk__fail(CTVK_ERR_ARG, "the fpn head needs a resnet50v2 backbone, not %s", c->arch);
        return fpn_head(g, c3, c4, x);
    }
    if (!strcmp(c->head, "gap")) return gap_head(g, x);
    if (!strcmp(c->head, "none")) return x;
    return ctvk__fail(CTVK_ERR_ARG, "unknown head '%s' (fpn, gap, none)", c->head);
}

static ctvk_status build_at(const ctvk_model_config *c, int h, int w, ctvk_graph *g)
{
    memset(g, 0, sizeof *g);
    g->cfg = *c;
    g->cfg.height = h;
    g->cfg.width = w;
    if (build(g) < 0) {
        ctvk_status s = CTVK_ERR_ARG;
        ctvk_graph_free(g);
        return s;
    }
    return CTVK_OK;
}

ctvk_status ctvk_graph_build(const ctvk_model_config *c, ctvk_graph *g)
{
    if (c->height < 1 || c->width < 1 || c->channels < 1 || c->classes < 2 || c->stages < 1 || c->stages > 7)
        return ctvk__fail(CTVK_ERR_ARG, "model: bad input %dx%dx%d, %d classes or %d stages", c->height, c->width,
                          c->channels, c->classes, c->stages);
    if (build_at(c, c->height, c->width, g) == CTVK_OK) return CTVK_OK;
    char why[512];
    snprintf(why, sizeof why, "%s", ctvk_error());
    if (!strstr(why, "(input ")) return ctvk__fail(CTVK_ERR_ARG, "%s", why);   /* not a size problem */
    /* find the smallest square input the architecture accepts, for the message */
    ctvk_graph t;
    for (int s = c->height > c->width ? c->height : c->width; s <= 4096; s++) {
        if (build_at(c, s, s, &t) == CTVK_OK) {
            ctvk_graph_free(&t);
            return ctvk__fail(CTVK_ERR_ARG, "input %dx%d is too small for %s with head %s: the smallest input it "
                              "accepts is %dx%d (%s)", c->height, c->width, c->arch, c->head, s, s, why);
        }
    }
    return ctvk__fail(CTVK_ERR_ARG, "%s", why);
}
