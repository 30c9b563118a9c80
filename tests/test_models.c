/* The architectures against Keras: parameter counts (3-channel, no top: ResNet50V2 23,564,800
 * with 45,440 non-trainable, ResNet50 23,587,712), layer counts, the FPN head's ~10.50 M
 * parameters and its level shapes at 512x512, stride placement, and the too-small-input message. */
#include "ctvk/net.h"
#include "tests/check.h"
#include <stdio.h>
#include <string.h>

static void build(const char *arch, const char *head, int size, int channels, ctvk_graph *g)
{
    ctvk_model_config c;
    ctvk_model_config_default(&c, arch);
    snprintf(c.head, sizeof c.head, "%s", head);
    c.height = c.width = size;
    c.channels = channels;
    ctvk_status s = ctvk_graph_build(&c, g);
    CHECK(s == CTVK_OK, "%s/%s: %s", arch, head, ctvk_error());
}

static void shape_is(const ctvk_graph *g, const char *name, int h, int w, int c)
{
    int i = ctvk_graph_find(g, name);
    CHECK(i >= 0, "no layer %s", name);
    if (i < 0) return;
    ctvk_shape s = g->layers[i].out;
    CHECK(s.h == h && s.w == w && s.c == c, "%s: %dx%dx%d, want %dx%dx%d", name, s.h, s.w, s.c, h, w, c);
}

int main(void)
{
    ctvk_graph g;
    build("resnet50v2", "none", 224, 3, &g);
    printf("resnet50v2 notop: %zu params, %zu non-trainable, %d layers\n", g.params_count,
           g.params_count - g.trainable_count, g.nlayers);
    CHECK(g.params_count == 23564800, "resnet50v2: %zu", g.params_count);
    CHECK(g.params_count - g.trainable_count == 45440, "resnet50v2 non-trainable: %zu", g.params_count - g.trainable_count);
    CHECK(g.nlayers == 190, "resnet50v2 layers: %d", g.nlayers);
    shape_is(&g, "conv2_block3_out", 28, 28, 256);       /* stride 2 in the last block of conv2 */
    shape_is(&g, "conv2_block2_out", 56, 56, 256);
    shape_is(&g, "conv4_block6_2_conv", 7, 7, 256);
    shape_is(&g, "post_relu", 7, 7, 2048);
    ctvk_graph_free(&g);

    build("resnet50", "none", 224, 3, &g);
    printf("resnet50 notop: %zu params, %d layers\n", g.params_count, g.nlayers);
    CHECK(g.params_count == 23587712, "resnet50: %zu", g.params_count);
    CHECK(g.nlayers == 175, "resnet50 layers: %d", g.nlayers);
    shape_is(&g, "conv3_block1_1_conv", 28, 28, 128);    /* V1: stride on block1's first 1x1 */
    shape_is(&g, "conv5_block3_out", 7, 7, 2048);
    ctvk_graph_free(&g);

    ctvk_graph bb;
    build("resnet50v2", "none", 512, 1, &bb);
    build("resnet50v2_fpn", "fpn", 512, 1, &g);
    size_t head = g.params_count - bb.params_count;
    printf("fpn head: %zu params (total %zu)\n", head, g.params_count);
    CHECK(head == 10500128, "fpn head adds %zu", head);
    shape_is(&g, "conv4_block1_preact_relu", 32, 32, 512);   /* C3 */
    shape_is(&g, "conv5_block1_preact_relu", 16, 16, 1024);  /* C4 */
    shape_is(&g, "post_relu", 16, 16, 2048);                 /* C5 */
    shape_is(&g, "P4_merged", 16, 16, 512);
    shape_is(&g, "P4_upsampled", 32, 32, 512);
    shape_is(&g, "P3_merged", 32, 32, 768);
    shape_is(&g, "P3", 30, 30, 256);
    shape_is(&g, "P4", 14, 14, 256);
    shape_is(&g, "P5", 16, 16, 256);
    shape_is(&g, "P6", 8, 8, 256);
    shape_is(&g, "P7", 4, 4, 256);
    int d1 = ctvk_graph_find(&g, "dense_1");
    CHECK(d1 >= 0 && g.layers[d1].params[0].dims[0] == 230400, "dense_1 sees 230,400 features");
    int p6 = ctvk_graph_find(&g, "P6");
    CHECK(p6 >= 0 && g.layers[p6].pad_t == 0 && g.layers[p6].pad_b == 1, "P6 'same' stride 2 pads 0 top, 1 bottom");
    int d6 = ctvk_graph_find(&g, "dense_6");
    CHECK(d6 == g.output && g.layers[d6].act == CTVK_ACT_SOFTMAX, "dense_6 is the softmax output");
    /* every parameter is 256-byte aligned in the flat buffer and within it */
    int bad = 0;
    for (int i = 0; i < g.nlayers; i++)
        for (int p = 0; p < g.layers[i].nparams; p++) {
            const ctvk_param *q = &g.layers[i].params[p];
            bad += q->offset % 64 != 0 || q->offset + q->count > g.params_total;
        }
    CHECK(bad == 0, "%d misplaced parameters", bad);
    ctvk_graph_free(&g);
    ctvk_graph_free(&bb);

    ctvk_model_config c;
    ctvk_model_config_default(&c, "resnet50v2_fpn");
    c.height = c.width = 64;
    CHECK(ctvk_graph_build(&c, &g) == CTVK_ERR_ARG, "64x64 accepted by the FPN");
    printf("too small: %s\n", ctvk_error());
    CHECK(strstr(ctvk_error(), "smallest input it accepts is 65x65") != NULL, "message: %s", ctvk_error());
    ctvk_model_config_default(&c, "resnet51");
    CHECK(ctvk_graph_build(&c, &g) == CTVK_ERR_ARG && strstr(ctvk_error(), "unknown architecture 'resnet51'"),
          "unknown architecture: %s", ctvk_error());
    return check_done("test_models");
}
