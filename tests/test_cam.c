/* Grad-CAM on the device (ctvk_net_create_cam, ctvk_net_cam_pass) against the double-precision
 * reference executor (ctvk_ref_net_cam): the layer's activation, the gradient of the COVID logit
 * with respect to it and the map, at several layers of the small ResNet (a ReLU, a batch norm
 * before its ReLU, a residual add, a conv, a padding, the logits) and, unless CTVK_TEST_BIG=0, at
 * the default layers of the three paper networks at small inputs. The reference gradient is
 * checked by central finite differences of the logit with respect to the activation. Also: the map
 * of a hand-made activation, and the refusals (unknown layer, the input, training calls). */
#include "ctvk/ct.h"
#include "ctvk/net.h"
#include "net/exec.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int layer_index(const ctvk_graph *g, const char *name)
{
    for (int i = 0; i < g->nlayers; i++)
        if (!strcmp(g->layers[i].name, name)) return i;
    return -1;
}

/* worst |a - b| / max(max |b|, tiny) */
static double rel(const float *a, const double *b, size_t n)
{
    double md = 0, mb = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

/* Central differences of the class-cls logit of sample 0 with respect to `probes` entries of the
 * layer's activation (the largest-gradient ones and random ones), against the reference gradient. */
static void finite_differences(const ctvk_graph *g, double *pd, int n, const double *xd, int li, int cls,
                               const double *act, const double *grad, size_t count)
{
    int C = g->cfg.classes;
    double *a = malloc(count * sizeof *a), *lp = malloc((size_t)n * C * sizeof *lp), *lm = malloc((size_t)n * C * sizeof *lm);
    size_t top = 0;
    double gmax = 0;
    for (size_t k = 0; k < count / (size_t)n; k++)
        if (fabs(grad[k]) > gmax) gmax = fabs(grad[k]), top = k;
    uint64_t rng = 1234;
    double worst = 0;
    int probes = 0;
    for (int t = 0; t < 8; t++) {
        size_t k = t == 0 ? top : (size_t)(check_rng_next(&rng) % (count / (size_t)n));
        memcpy(a, act, count * sizeof *a);
        double h = 1e-5 * fmax(1.0, fabs(act[k]));
        a[k] = act[k] + h;
        ctvk_ref_net_logits_with(g, pd, n, xd, li, a, lp);
        a[k] = act[k] - h;
        ctvk_ref_net_logits_with(g, pd, n, xd, li, a, lm);
        double fd = (lp[cls] - lm[cls]) / (2 * h);
        double e = fabs(fd - grad[k]) / fmax(gmax, 1e-12);
        if (e > worst) worst = e;
        probes++;
    }
    printf("  finite differences at %d entries: worst error %.2g of the largest gradient %.3g\n", probes, worst, gmax);
    CHECK(gmax > 0, "%s: the logit does not depend on layer %s", g->cfg.arch, g->layers[li].name);
    CHECK(worst < 1e-6, "%s layer %s: reference gradient vs finite differences %.3g", g->cfg.arch, g->layers[li].name,
          worst);
    free(a), free(lp), free(lm);
}

/* One layer: the device's A, dS/dA and maps against the reference's. */
static void compare_layer(ctvk_ctx *ctx, const ctvk_graph *g, const float *pf, int n, const float *xin,
                          const double *xd, const char *layer, int fd)
{
    int li = layer_index(g, layer);
    CHECK(li >= 0, "%s has no layer %s", g->cfg.arch, layer);
    if (li < 0) return;
    size_t P = g->params_total, per = (size_t)g->layers[li].out.h * g->layers[li].out.w * g->layers[li].out.c;
    size_t count = per * (size_t)n, in_count = (size_t)n * g->cfg.height * g->cfg.width * g->cfg.channels;
    int C = g->cfg.classes, cls = CTVK_CLASS_COVID;
    double *pd = malloc(P * sizeof *pd), *act = malloc(count * sizeof *act), *grad = malloc(count * sizeof *grad);
    double *probs_ref = malloc((size_t)n * C * sizeof *probs_ref), *map_ref = malloc(per * sizeof *map_ref);
    float *da = malloc(count * sizeof *da), *dg = malloc(count * sizeof *dg), *probs = malloc((size_t)n * C * sizeof *probs);
    float *map = malloc(per * sizeof *map);
    for (size_t i = 0; i < P; i++) pd[i] = pf[i];
    CHECK(ctvk_ref_net_cam(g, pd, n, xd, li, cls, act, grad, probs_ref) == CTVK_OK, "reference cam");
    ctvk_net *net = NULL;
    CHECK(ctvk_net_create_cam(ctx, g, n, layer, &net) == CTVK_OK, "cam net %s/%s: %s", g->cfg.arch, layer, ctvk_error());
    if (net) {
        ctvk_shape s;
        CHECK(ctvk_net_cam_layer(net, &s) == li && (size_t)s.h * s.w * s.c == per, "cam layer and shape");
        CHECK(ctvk_net_set_params(net, pf) == CTVK_OK, "params: %s", ctvk_error());
        ctvk_net_mem m;
        ctvk_net_memory(net, &m);
        CHECK(m.total == ctvk_net_device_bytes(net) && m.grads == 0 && m.optimizer == 0 && m.grad_pool > 0,
              "%s/%s: Grad-CAM memory accounted %llu, allocated %llu", g->cfg.arch, layer, (unsigned long long)m.total,
              (unsigned long long)ctvk_net_device_bytes(net));
        CHECK(ctvk_tensor_upload(ctvk_net_input(net), xin, in_count * sizeof *xin) == CTVK_OK, "input");
        CHECK(ctvk_net_cam_pass(net, n, cls) == CTVK_OK, "cam pass %s: %s", layer, ctvk_error());
        CHECK(ctvk_net_cam_read(net, n, da, dg) == CTVK_OK, "cam read: %s", ctvk_error());
        CHECK(ctvk_net_probs(net, n, probs) == CTVK_OK, "probs");
        double ep = 0;
        for (int i = 0; i < n * C; i++) ep = fmax(ep, fabs(probs[i] - probs_ref[i]));
        double ea = rel(da, act, count), eg = rel(dg, grad, count), em = 0;
        for (int k = 0; k < n; k++) {
            ctvk_shape one = s;
            double top;
            int peak;
            CHECK(ctvk_cam_map(da + per * k, dg + per * k, one, map, &top, &peak) == CTVK_OK, "map");
            ctvk_ref_cam_map(act + per * k, grad + per * k, one, map_ref);
            for (size_t p = 0; p < (size_t)s.h * s.w; p++) em = fmax(em, fabs(map[p] - map_ref[p]));
            if (k == 0) printf("  sample 0: map max %.4g at %d\n", top, peak);
        }
        printf("%-15s %-22s %2dx%-2dx%-4d probs %.2g, activation %.2g, gradient %.2g, map %.2g\n", g->cfg.arch, layer,
               s.h, s.w, s.c, ep, ea, eg, em);
        CHECK(ep < 1e-4, "%s/%s: probabilities differ by %g", g->cfg.arch, layer, ep);
        CHECK(ea < 1e-4, "%s/%s: activation differs by %g", g->cfg.arch, layer, ea);
        CHECK(eg < 1e-3, "%s/%s: gradient differs by %g", g->cfg.arch, layer, eg);
        CHECK(em < 2e-3, "%s/%s: map differs by %g", g->cfg.arch, layer, em);
        /* a second pass over the same input gives the same bits (no state carried over) */
        float *dg2 = malloc(count * sizeof *dg2);
        CHECK(ctvk_net_cam_pass(net, n, cls) == CTVK_OK && ctvk_net_cam_read(net, n, NULL, dg2) == CTVK_OK, "again");
        CHECK(!memcmp(dg, dg2, count * sizeof *dg), "%s/%s: a second pass differs", g->cfg.arch, layer);
        free(dg2);
    }
    if (fd) finite_differences(g, pd, n, xd, li, cls, act, grad, count);
    ctvk_net_destroy(net);
    free(pd), free(act), free(grad), free(probs_ref), free(map_ref), free(da), free(dg), free(probs), free(map);
}

static void network(ctvk_ctx *ctx, ctvk_model_config *mc, int n, const char *const *layers, int nl, int fd)
{
    ctvk_graph g;
    CHECK(ctvk_graph_build(mc, &g) == CTVK_OK, "build %s: %s", mc->arch, ctvk_error());
    size_t P = g.params_total, in_count = (size_t)n * mc->height * mc->width * mc->channels;
    float *pf = malloc(P * sizeof *pf), *xin = malloc(in_count * sizeof *xin);
    double *xd = malloc(in_count * sizeof *xd);
    check_net_params(&g, pf, 21);
    check_fill_uniform(xin, in_count, 8, -1, 1);
    for (size_t i = 0; i < in_count; i++) xd[i] = xin[i];
    check_net_calibrate(&g, pf, n, xd);
    for (int k = 0; k < nl; k++) compare_layer(ctx, &g, pf, n, xin, xd, layers[k], fd);
    free(pf), free(xin), free(xd);
    ctvk_graph_free(&g);
}

/* The map of a hand-made 2x3x2 activation: weights are the gradient's channel means. */
static void map_by_hand(void)
{
    float act[12] = {1, 0, 2, 0, 0, 1, 0, 3, 4, 0, 0, 0};          /* (y, x, c), 2 channels */
    float grad[12] = {1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1};   /* alpha = (1, -1) */
    float map[6];
    double top;
    int peak;
    ctvk_shape s = {1, 2, 3, 2};
    CHECK(ctvk_cam_map(act, grad, s, map, &top, &peak) == CTVK_OK, "map");
    /* cam = relu(a0 - a1) = 1, 2, 0 (relu of -1), 0 (relu of -3), 4, 0; max 4 at index 4 */
    const float want[6] = {0.25f, 0.5f, 0, 0, 1, 0};
    int same = 1;
    for (int i = 0; i < 6; i++) same &= fabsf(map[i] - want[i]) < 1e-7f;
    CHECK(same && top == 4 && peak == 4, "hand-made map: top %g peak %d", top, peak);
    for (int i = 0; i < 12; i++) grad[i] = -grad[i] * (i % 2 ? -1.0f : 1.0f) - 1;   /* alpha = (-2, 0): all <= 0 */
    CHECK(ctvk_cam_map(act, grad, s, map, &top, &peak) == CTVK_OK && top == 0 && peak == -1 && map[4] == 0,
          "no positive evidence: an empty map (top %g, peak %d)", top, peak);
}

static void refusals(ctvk_ctx *ctx)
{
    ctvk_model_config mc;
    ctvk_model_config_default(&mc, "small_resnet");
    mc.height = mc.width = 16;
    mc.stages = 2;
    mc.blocks[0] = mc.blocks[1] = 1;
    mc.widths[0] = 4; mc.widths[1] = 8;
    ctvk_graph g;
    CHECK(ctvk_graph_build(&mc, &g) == CTVK_OK, "build");
    ctvk_net *net = NULL;
    CHECK(ctvk_net_create_cam(ctx, &g, 1, "no_such_layer", &net) == CTVK_ERR_ARG && !net &&
          strstr(ctvk_error(), "no_such_layer") && strstr(ctvk_error(), "no layer of that name"),
          "unknown layer: %s", ctvk_error());
    CHECK(ctvk_net_create_cam(ctx, &g, 1, "input_1", &net) == CTVK_ERR_ARG && strstr(ctvk_error(), "input"),
          "the input layer: %s", ctvk_error());
    CHECK(ctvk_net_create_cam(ctx, &g, 2, "post_relu", &net) == CTVK_OK, "cam net: %s", ctvk_error());
    if (net) {
        float labels[4] = {1, 0, 0, 1};
        CHECK(ctvk_net_backprop(net, 2, labels, 1, NULL) == CTVK_ERR_ARG && strstr(ctvk_error(), "Grad-CAM"),
              "training a Grad-CAM net: %s", ctvk_error());
        CHECK(ctvk_net_cam_pass(net, 1, 2) == CTVK_ERR_ARG && strstr(ctvk_error(), "class 2"), "class: %s", ctvk_error());
        CHECK(ctvk_net_cam_pass(net, 3, 0) == CTVK_ERR_ARG, "batch over the maximum");
        CHECK(ctvk_net_cam_pass(net, 1, 0) == CTVK_OK, "pass");
        float a[64 * 8];
        CHECK(ctvk_net_cam_read(net, 2, a, NULL) == CTVK_ERR_ARG && strstr(ctvk_error(), "last pass had 1"),
              "read more samples than the pass: %s", ctvk_error());
    }
    ctvk_net_destroy(net);
    ctvk_net *plain = NULL;
    CHECK(ctvk_net_create(ctx, &g, 1, 0, &plain) == CTVK_OK, "plain net");
    CHECK(ctvk_net_cam_layer(plain, NULL) == -1 && ctvk_net_cam_pass(plain, 1, 0) == CTVK_ERR_ARG, "plain net: no cam");
    ctvk_net_destroy(plain);
    CHECK(!strcmp(ctvk_cam_default_layer("resnet50"), "conv5_block3_out") &&
          !strcmp(ctvk_cam_default_layer("resnet50v2_fpn"), "post_relu"), "default layers");
    ctvk_graph_free(&g);
}

int main(void)
{
    map_by_hand();
    ctvk_ctx *ctx = check_ctx(NULL);
    refusals(ctx);
    ctvk_model_config mc;
    check_small_resnet(&mc);
    /* the final ReLU, a BN before its ReLU (kept apart from it here), a residual add, a conv, a
     * padding (not folded into its conv here), a block output deep inside, the logits */
    static const char *small[] = {"post_relu", "post_bn", "conv3_block2_out", "conv3_block1_2_conv",
                                  "conv2_block1_2_pad", "conv2_block1_out", "predictions"};
    network(ctx, &mc, 2, small, (int)(sizeof small / sizeof *small), 1);
    for (int a = 0; check_big_nets() && a < CHECK_PAPER_NETS; a++) {
        check_paper_net(a, &mc);
        const char *layer = ctvk_cam_default_layer(mc.arch);
        network(ctx, &mc, 1, &layer, 1, !strcmp(mc.arch, "resnet50v2_fpn"));
    }
    check_ctx_done(ctx);
    return check_done("test_cam");
}
