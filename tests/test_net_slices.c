/* The executor's batch slicing (net/exec.c, plan_slices): a layer whose batch tensor is larger than
 * one binding may span runs its kernels over sample ranges. The test lowers the executor's binding
 * limit (ctvk_net_set_bind_limit) so that small networks slice, and checks that the sliced passes
 * give what the whole-batch passes give: the inference probabilities (identical: every output
 * element is computed by the same lane in the same order), and after one training step the loss,
 * every gradient (conv weight gradients accumulate slice by slice, so they may differ by fp32
 * rounding) and the BN moving statistics (batch statistics still cover the whole batch: identical).
 * Also: a limit below one sample fails with a message, and the net works again after it. */
#include "ctvk/net.h"
#include "net/exec.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run_out {
    float *probs, *grads, *params;
    double stats[3];
    int sliced, max_slices;
} run_out;

/* One inference forward and one training step from the same starting point. */
static int run(ctvk_net *net, const ctvk_graph *g, int n, const float *params, const float *labels,
               const float *m0, const unsigned char st0[16], run_out *o)
{
    size_t P = g->params_total;
    int C = g->cfg.classes;
    o->probs = malloc((size_t)n * C * sizeof *o->probs);
    o->grads = malloc(P * sizeof *o->grads);
    o->params = malloc(P * sizeof *o->params);
    if (ctvk_net_set_params(net, params) || ctvk_net_set_optimizer_state(net, m0, m0, st0) ||
        ctvk_net_stats(net, o->stats, 1))
        return 1;
    if (ctvk_net_forward(net, n) || ctvk_net_probs(net, n, o->probs)) return 1;
    o->sliced = ctvk_net_sliced_layers(net, &o->max_slices);
    if (ctvk_net_stats(net, o->stats, 1)) return 1;     /* count the training step alone */
    if (ctvk_net_train_step(net, n, labels, 4321) || ctvk_net_stats(net, o->stats, 1)) return 1;
    if (ctvk__net_grads(net, o->grads) || ctvk_net_get_params(net, o->params)) return 1;
    return 0;
}

static void run_free(run_out *o) { free(o->probs); free(o->grads); free(o->params); }

static void check_arch(ctvk_ctx *ctx, ctvk_model_config *mc, int n)
{
    ctvk_graph g;
    CHECK(ctvk_graph_build(mc, &g) == CTVK_OK, "build %s: %s", mc->arch, ctvk_error());
    size_t P = g.params_total, in_count = (size_t)n * mc->height * mc->width * mc->channels;
    int C = mc->classes;
    float *params = malloc(P * sizeof *params), *m0 = calloc(P, sizeof *m0);
    float *x = malloc(in_count * sizeof *x), *labels = calloc((size_t)n * C, sizeof *labels);
    /* well-scaled random parameters: kernels ~ He, BN variances and gammas near 1 */
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            float hi = 0.1f, lo = -0.1f;
            if (!strcmp(q->name, "kernel:0")) {
                hi = (float)sqrt(6.0 / (double)(q->count / (size_t)q->dims[q->ndim - 1]));
                if (g.layers[i].op == CTVK_OP_DENSE) hi *= 0.05f;
                lo = -hi;
            } else if (!strcmp(q->name, "gamma:0") || !strcmp(q->name, "moving_variance:0")) {
                lo = 0.5f; hi = 1.5f;
            }
            check_fill_uniform(params + q->offset, q->count, 17 + (uint64_t)i * 7 + (uint64_t)k, lo, hi);
        }
    check_fill_uniform(x, in_count, 23, -1, 1);
    for (int s = 0; s < n; s++) labels[s * C + (s * 7 + 1) % C] = 1;

    /* the largest per-sample tensor of the graph */
    uint64_t biggest = (uint64_t)mc->height * mc->width * mc->channels * sizeof(float);
    for (int i = 0; i < g.nlayers; i++) {
        ctvk_shape s = g.layers[i].out;
        uint64_t b = (uint64_t)s.h * s.w * s.c * sizeof(float);
        if (b > biggest) biggest = b;
    }

    ctvk_net *net = NULL;
    ctvk_status st = ctvk_net_create(ctx, &g, n, 1, &net);
    CHECK(st == CTVK_OK, "net %s: %s", mc->arch, ctvk_error());
    if (st) goto out;
    CHECK(ctvk_tensor_upload(ctvk_net_input(net), x, in_count * sizeof *x) == CTVK_OK, "input");
    unsigned char st0[16];
    CHECK(ctvk_net_get_optimizer_state(net, NULL, NULL, st0) == CTVK_OK, "optimizer state");
    ctvk_optimizer opt = {1e-3, 0.9, 0.999, 1e-7, 0.004};
    ctvk_net_set_optimizer(net, &opt);

    run_out whole = {0}, sl = {0};
    CHECK(run(net, &g, n, params, labels, m0, st0, &whole) == 0, "%s whole batch: %s", mc->arch, ctvk_error());
    CHECK(whole.sliced == 0, "%s: %d layers sliced at the device's own limit", mc->arch, whole.sliced);

    /* one sample of the largest tensor per binding: the big layers run in n slices, the middle
     * ones in fewer, the small ones whole */
    ctvk_net_set_bind_limit(net, biggest);
    CHECK(ctvk_net_bind_limit(net) == biggest, "bind limit");
    CHECK(run(net, &g, n, params, labels, m0, st0, &sl) == 0, "%s sliced: %s", mc->arch, ctvk_error());
    printf("%-15s %3dx%-3d n=%d, bind limit %llu bytes: %d layers sliced, up to %d slices\n", mc->arch, mc->height,
           mc->width, n, (unsigned long long)biggest, sl.sliced, sl.max_slices);
    CHECK(sl.sliced >= 5 && sl.max_slices == n, "%s: %d layers sliced, at most %d slices (want >= 5, %d)", mc->arch,
          sl.sliced, sl.max_slices, n);

    size_t diff = 0;
    for (int i = 0; i < n * C; i++) diff += sl.probs[i] != whole.probs[i];
    printf("%-15s forward: %zu of %d probabilities differ (p0 = %.6f)\n", "", diff, n * C, whole.probs[0]);
    CHECK(diff == 0, "%s: sliced inference differs", mc->arch);
    CHECK(whole.stats[2] == n && sl.stats[2] == n, "samples counted");
    CHECK(fabs(sl.stats[0] - whole.stats[0]) <= 1e-6 * fmax(1, fabs(whole.stats[0])), "%s loss %.9g vs %.9g",
          mc->arch, sl.stats[0], whole.stats[0]);
    CHECK(sl.stats[1] == whole.stats[1], "correct %g vs %g", sl.stats[1], whole.stats[1]);
    double gscale = 0, gerr = 0;
    for (size_t i = 0; i < P; i++) gscale = fmax(gscale, fabs(whole.grads[i]));
    for (size_t i = 0; i < P; i++) gerr = fmax(gerr, fabs((double)sl.grads[i] - whole.grads[i]));
    size_t stat_diff = 0, nstat = 0;
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            if (q->trainable) continue;
            for (size_t j = 0; j < q->count; j++, nstat++)
                stat_diff += sl.params[q->offset + j] != whole.params[q->offset + j];
        }
    printf("%-15s gradients: worst difference %.3g of the largest (%.3g); moving statistics: %zu of %zu differ\n", "",
           gerr / gscale, gscale, stat_diff, nstat);
    CHECK(gscale > 0 && gerr <= 1e-5 * gscale, "%s: sliced gradients differ by %g of the largest", mc->arch,
          gerr / gscale);
    CHECK(nstat > 0 && stat_diff == 0, "%s: %zu moving statistics differ", mc->arch, stat_diff);
    run_free(&sl);

    /* a limit below one sample: refused with a message, and the net still works afterwards */
    ctvk_net_set_bind_limit(net, 256);
    st = ctvk_net_forward(net, n);
    CHECK(st == CTVK_ERR_UNSUPPORTED && strstr(ctvk_error(), "one sample needs"), "limit below a sample: %s (%s)",
          ctvk_status_name(st), ctvk_error());
    ctvk_net_set_bind_limit(net, 0);
    float *probs = malloc((size_t)n * C * sizeof *probs);
    CHECK(ctvk_net_set_params(net, params) == CTVK_OK && ctvk_net_forward(net, n) == CTVK_OK &&
          ctvk_net_probs(net, n, probs) == CTVK_OK, "after the refusal: %s", ctvk_error());
    CHECK(!memcmp(probs, whole.probs, (size_t)n * C * sizeof *probs), "%s: probabilities after the refusal", mc->arch);
    free(probs);
    run_free(&whole);
out:
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    free(params); free(m0); free(x); free(labels);
}

int main(void)
{
    ctvk_options opt;
    ctvk_options_default(&opt);
    if (getenv("CTVK_TEST_VARIANT")) opt.variant = !strcmp(getenv("CTVK_TEST_VARIANT"), "gpu") ? CTVK_VARIANT_GPU : CTVK_VARIANT_CPU;
    ctvk_ctx *ctx = check_ctx(&opt);
    ctvk_model_config mc;
    ctvk_model_config_default(&mc, "small_resnet");
    mc.height = mc.width = 24;
    mc.stages = 3;
    mc.blocks[0] = 1; mc.blocks[1] = 2; mc.blocks[2] = 1;
    mc.widths[0] = 4; mc.widths[1] = 8; mc.widths[2] = 8;
    check_arch(ctx, &mc, 5);
    /* the FPN head adds resize and concatenation */
    ctvk_model_config_default(&mc, "resnet50v2_fpn");
    mc.height = mc.width = 72;
    check_arch(ctx, &mc, 3);
    check_ctx_done(ctx);
    return check_done("test_net_slices");
}
