/* Whole networks on the device against the plain-C reference executor (double, no fusions):
 * the inference forward, and one training step (loss, every gradient, the parameters after Nadam
 * including the moving BN statistics), for the small ResNet and, at small inputs, ResNet50,
 * ResNet50V2 and ResNet50V2 + FPN. Also a finite-difference check of the reference's whole-network
 * gradient on the small ResNet. CTVK_TEST_BIG=0 skips the three full-size architectures,
 * CTVK_TEST_ARCH=NAME runs one of them, CTVK_TEST_VARIANT=gpu|cpu forces the kernel family and
 * CTVK_TEST_DEBUG=1 prints every parameter tensor whose gradient differs by more than 1e-3. */
#include "ctvk/net.h"
#include "net/exec.h"
#include "net/train_ops.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void to_double(const float *f, double *d, size_t n) { for (size_t i = 0; i < n; i++) d[i] = f[i]; }

/* max |a - b| / max(max |b|, floor) over the entries of one parameter. The floor (a small fraction
 * of the network's largest gradient) keeps tensors whose true gradient is zero, such as the bias of
 * a conv followed by batch norm, from comparing rounding noise with rounding noise. */
static double param_err(const ctvk_param *q, const float *a, const double *b, double floor)
{
    double md = 0, mr = floor;
    for (size_t i = 0; i < q->count; i++) {
        double d = fabs((double)a[q->offset + i] - b[q->offset + i]);
        if (!(d <= md)) md = d;
        if (fabs(b[q->offset + i]) > mr) mr = fabs(b[q->offset + i]);
    }
    return md / mr;
}

/* tol_grad: bound on the worst per-tensor relative gradient error; nadam_floor: parameters whose
 * reference gradient is below this fraction of the largest gradient are not compared after the
 * step (there the update is lr * g / (|g| + eps) of a g at fp32 noise level, legitimately +-lr). */
/* An inference network of g on ctx with parameters pf run on xin; *err: its worst absolute
 * difference from the reference probabilities ref. NULL (and a failed check) if it cannot run. */
static ctvk_net *infer_net(ctvk_ctx *ctx, const ctvk_graph *g, int n, const float *pf, const float *xin,
                           size_t in_count, const double *ref, double *err)
{
    ctvk_net *net = NULL;
    *err = 1e30;
    CHECK(ctvk_net_create(ctx, g, n, 0, &net) == CTVK_OK, "inference net %s: %s", g->cfg.arch, ctvk_error());
    if (!net) return NULL;
    int C = g->cfg.classes;
    float *p = calloc((size_t)(n * C), sizeof *p);
    CHECK(ctvk_net_set_params(net, pf) == CTVK_OK, "params");
    CHECK(ctvk_tensor_upload(ctvk_net_input(net), xin, in_count * sizeof *xin) == CTVK_OK, "input");
    CHECK(ctvk_net_forward(net, n) == CTVK_OK && ctvk_net_probs(net, n, p) == CTVK_OK, "forward: %s", ctvk_error());
    *err = 0;
    for (int i = 0; i < n * C; i++) *err = fmax(*err, fabs(p[i] - ref[i]));
    free(p);
    return net;
}

/* gctx: a context on the GPU kernels for a second inference network (NULL: none). */
static void compare(ctvk_ctx *ctx, ctvk_ctx *gctx, ctvk_model_config *mc, int n, double tol_fwd, double tol_grad,
                    double nadam_floor)
{
    ctvk_graph g;
    CHECK(ctvk_graph_build(mc, &g) == CTVK_OK, "build %s: %s", mc->arch, ctvk_error());
    size_t P = g.params_total, in_count = (size_t)n * mc->height * mc->width * mc->channels;
    int C = mc->classes;
    float *pf = malloc(P * sizeof *pf), *back = malloc(P * sizeof *back), *gdev = malloc(P * sizeof *gdev);
    double *pd = malloc(P * sizeof *pd), *gref = malloc(P * sizeof *gref);
    float *xin = malloc(in_count * sizeof *xin), *labels = calloc((size_t)n * C, sizeof *labels);
    double *xd = malloc(in_count * sizeof *xd), *ld = calloc((size_t)n * C, sizeof *ld);
    double *probs_ref = malloc((size_t)n * C * sizeof *probs_ref);
    float *probs = malloc((size_t)n * C * sizeof *probs);
    check_net_params(&g, pf, 11);
    check_fill_uniform(xin, in_count, 5, -1, 1);
    to_double(xin, xd, in_count);
    check_net_calibrate(&g, pf, n, xd);
    for (int s = 0; s < n; s++) { labels[s * C + s % C] = 1; ld[s * C + s % C] = 1; }

    ctvk_net *net = NULL;
    ctvk_status st = ctvk_net_create(ctx, &g, n, 1, &net);
    CHECK(st == CTVK_OK, "net %s: %s", mc->arch, ctvk_error());
    if (st) goto out;
    CHECK(ctvk_net_set_params(net, pf) == CTVK_OK, "params");
    CHECK(ctvk_tensor_upload(ctvk_net_input(net), xin, in_count * sizeof *xin) == CTVK_OK, "input");

    /* inference forward */
    CHECK(ctvk_net_forward(net, n) == CTVK_OK && ctvk_net_probs(net, n, probs) == CTVK_OK, "forward: %s", ctvk_error());
    to_double(pf, pd, P);
    CHECK(ctvk_ref_net_forward(&g, pd, n, xd, 0, 0, probs_ref) == CTVK_OK, "reference forward");
    double worst = 0;
    for (int i = 0; i < n * C; i++) worst = fmax(worst, fabs(probs[i] - probs_ref[i]));
    printf("%-15s %3dx%-3d n=%d: forward probs worst abs error %.3g (p0 = %.4f)\n", mc->arch, mc->height, mc->width,
           n, worst, probs_ref[0]);
    CHECK(probs_ref[0] > 0.01 && probs_ref[0] < 0.99, "%s: saturated softmax, the test data is badly scaled", mc->arch);
    CHECK(worst <= tol_fwd, "%s forward error %g", mc->arch, worst);

    /* the same through an inference network, whose batch norms after a conv are folded into it */
    double iw;
    ctvk_net *inet = infer_net(ctx, &g, n, pf, xin, in_count, probs_ref, &iw);
    /* the one memory accounting (budget check, bench, plan report) is what was allocated */
    ctvk_net_mem mt, mi, pt;
    ctvk_net_memory(net, &mt);
    CHECK(mt.total == ctvk_net_device_bytes(net) && mt.grads == P * sizeof(float) && mt.grad_pool > 0,
          "%s training: accounted %llu bytes, allocated %llu", mc->arch, (unsigned long long)mt.total,
          (unsigned long long)ctvk_net_device_bytes(net));
    CHECK(ctvk_net_plan_memory(ctx, &g, n, 1, &pt) == CTVK_OK && !memcmp(&pt, &mt, sizeof pt),
          "%s: the plan alone accounts the training net's memory", mc->arch);
    if (inet) {
        ctvk_net_memory(inet, &mi);
        CHECK(mi.total == ctvk_net_device_bytes(inet) && mi.grads == 0 && mi.grad_pool == 0,
              "%s inference: accounted %llu bytes, allocated %llu", mc->arch, (unsigned long long)mi.total,
              (unsigned long long)ctvk_net_device_bytes(inet));
    }
    if (inet) {
        ctvk_net_plan pi;
        ctvk_net_plan_info(inet, &pi);
        int folded = pi.folded_bn, wino = pi.winograd;
        int cpu = ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU;
        printf("%-15s %3dx%-3d n=%d: inference net (%d BN folded into convs, %d Winograd convs) worst abs error "
               "%.3g\n", mc->arch, mc->height, mc->width, n, folded, wino, iw);
        /* every 3x3 stride-1 conv with at least 128 inputs, on the CPU kernels */
        if (cpu && strcmp(mc->arch, "small_resnet")) CHECK(wino > 0, "%s: no Winograd conv in the inference net", mc->arch);
        CHECK(iw <= tol_fwd, "%s inference-net forward error %g", mc->arch, iw);
        /* the FPN's heads are 2-output dense layers over whole flattened maps: split-K from 1024 inputs
         * (3 of the 5 at 72x72) */
        if (!strcmp(mc->arch, "resnet50v2_fpn"))
            CHECK(pi.splitk_dense >= 3, "%s: %d split-K dense layers, want 3 or more", mc->arch, pi.splitk_dense);
        int want = !strcmp(mc->arch, "resnet50") ? 53 : !strcmp(mc->arch, "small_resnet") ? -1 : 32;
        if (want > 0) CHECK(folded == want, "%s: %d BN folded, want %d", mc->arch, folded, want);
        else CHECK(folded > 0, "%s: no BN folded", mc->arch);
        ctvk_net_destroy(inet);
    }

    /* the inference network on the GPU kernels, where residual adds and the batch norms after them
     * run in conv epilogues */
    double gerr;
    ctvk_net *gnet = gctx ? infer_net(gctx, &g, n, pf, xin, in_count, probs_ref, &gerr) : NULL;
    if (gnet) {
        ctvk_net_plan gi;
        ctvk_net_plan_info(gnet, &gi);
        int fbn = gi.fused_bn, fadd = gi.fused_add;
        printf("%-15s GPU kernels: %d residual adds and %d batch norms in conv epilogues, worst abs error %.3g\n", "",
               fadd, fbn, gerr);
        CHECK(gerr <= tol_fwd, "%s gpu inference-net forward error %g", mc->arch, gerr);
        /* a fused conv binds 5 storage buffers where its inputs exceed texel buffers: planned only
         * where the device allows that many (not under the limits clamp) */
        if (ctvk_device(gctx)->max_storage_buffers_per_stage >= 5) {
            CHECK(fadd > 0, "%s: no residual add fused", mc->arch);
            if (strstr(mc->arch, "v2") || !strcmp(mc->arch, "small_resnet"))
                CHECK(fbn > 0, "%s: no batch norm fused", mc->arch);
        } else {
            CHECK(fadd == 0 && fbn == 0, "%s: %d adds, %d batch norms fused with %u storage buffers per kernel",
                  mc->arch, fadd, fbn, ctvk_device(gctx)->max_storage_buffers_per_stage);
        }
        ctvk_net_destroy(gnet);
    }

    /* one training step (Winograd forward and backward-data where the layer shapes allow) */
    ctvk_net_plan ti;
    ctvk_net_plan_info(net, &ti);
    int wb = ti.winograd_bwd, wf = ti.winograd;
    printf("%-15s training net: %d Winograd forward, %d Winograd backward-data convs\n", "", wf, wb);
    if (ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU && strcmp(mc->arch, "small_resnet"))
        CHECK(wf > 0 && wb > 0, "%s: training net without Winograd convs (%d, %d)", mc->arch, wf, wb);
    ctvk_optimizer o = {1e-3, 0.9, 0.999, 1e-7, 0.004};
    ctvk_net_set_optimizer(net, &o);
    double stats[3];
    CHECK(ctvk_net_stats(net, stats, 1) == CTVK_OK, "reset stats");
    uint64_t seed = 1234;
    CHECK(ctvk_net_train_step(net, n, labels, seed) == CTVK_OK, "train step: %s", ctvk_error());
    CHECK(ctvk_net_stats(net, stats, 1) == CTVK_OK, "stats");
    CHECK(ctvk__net_grads(net, gdev) == CTVK_OK && ctvk_net_get_params(net, back) == CTVK_OK, "read back");
    to_double(pf, pd, P);
    ctvk_ref_result res;
    CHECK(ctvk_ref_net_train(&g, pd, n, xd, ld, seed, probs_ref, gref, &res) == CTVK_OK, "reference step");
    double loss = stats[0] / stats[2];
    printf("%-15s loss device %.7f reference %.7f, correct %g / %d\n", "", loss, res.loss, stats[1], res.correct);
    CHECK(fabs(loss - res.loss) <= 1e-4 * fmax(1, fabs(res.loss)), "%s loss %g vs %g", mc->arch, loss, res.loss);
    CHECK((int)stats[1] == res.correct, "%s correct %g vs %d", mc->arch, stats[1], res.correct);
    double gworst = 0, gscale = 0;
    const char *gw = "";
    for (size_t i = 0; i < P; i++) gscale = fmax(gscale, fabs(gref[i]));
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            if (!q->trainable) continue;
            double e = param_err(q, gdev, gref, 1e-4 * gscale);
            if (e > gworst) { gworst = e; gw = g.layers[i].name; }
            if (e > 1e-3 && getenv("CTVK_TEST_DEBUG")) {
                double a = 0, b = 0;
                for (size_t j = 0; j < q->count; j++) { a = fmax(a, fabs(gdev[q->offset + j])); b = fmax(b, fabs(gref[q->offset + j])); }
                double ad = 0;
                for (size_t j = 0; j < q->count; j++) ad = fmax(ad, fabs(gdev[q->offset + j] - gref[q->offset + j]));
                printf("   %-28s %-16s dev %.3g ref %.3g err %.3g abs/scale %.3g\n", g.layers[i].name, q->name, a, b, e,
                       ad / gscale);
            }

        }
    double gabs = 0;
    for (size_t i = 0; i < P; i++) gabs = fmax(gabs, fabs((double)gdev[i] - gref[i]));
    printf("%-15s gradients: worst error %.3g of the largest gradient; per tensor %.3g (%s)\n", "", gabs / gscale,
           gworst, gw);
    CHECK(gabs <= 2e-4 * gscale, "%s gradient error %g of the largest gradient", mc->arch, gabs / gscale);
    CHECK(gworst <= tol_grad, "%s gradient error %g in %s", mc->arch, gworst, gw);

    /* Nadam on the reference gradients, then compare the parameters (BN moving statistics were
     * updated by both forward passes) */
    ctvk_nadam ref;
    ctvk_nadam_config nc = {o.lr, o.beta1, o.beta2, o.eps, o.schedule_decay};
    ctvk_nadam_init(&ref, &nc);
    ctvk_nadam_scalars sc;
    ctvk_nadam_state after;
    ctvk_nadam_next(&ref, &sc, &after);
    double *m = calloc(P, sizeof *m), *v = calloc(P, sizeof *v);
    float *gf = malloc(P * sizeof *gf);
    for (size_t i = 0; i < P; i++) gf[i] = (float)gref[i];
    ctvk_ref_nadam(&sc, pd, m, v, gf, P);
    /* the step is lr * sign-like(g): where |g| is at the fp32 noise level the two may legitimately
     * step differently, so compare where the reference gradient is clearly non-zero */
    size_t bad = 0, checked = 0;
    double pworst = 0;
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            double gmax = 0;
            for (size_t j = 0; j < q->count; j++) gmax = fmax(gmax, fabs(gref[q->offset + j]));
            for (size_t j = 0; j < q->count; j++) {
                size_t a = q->offset + j;
                if (q->trainable && (fabs(gref[a]) < 1e-3 * gmax || fabs(gref[a]) < nadam_floor * gscale)) continue;
                double d = fabs((double)back[a] - pd[a]);
                pworst = fmax(pworst, d);
                checked++;
                bad += d > 1e-5 * fmax(1.0, fabs(pd[a])) + 2e-2 * o.lr;
            }
        }
    printf("%-15s after Nadam: %zu parameters compared, worst abs difference %.3g, %zu beyond tolerance\n", "",
           checked, pworst, bad);
    CHECK(bad == 0, "%s: %zu parameters differ after the Nadam step", mc->arch, bad);
    free(m); free(v); free(gf);
out:
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    free(pf); free(back); free(gdev); free(pd); free(gref); free(xin); free(labels); free(xd); free(ld);
    free(probs_ref); free(probs);
}

/* Finite differences of the reference's mean loss against its analytic gradient. */
static void finite_differences(void)
{
    ctvk_model_config mc;
    ctvk_model_config_default(&mc, "small_resnet");
    mc.height = mc.width = 12;
    mc.stages = 2;
    mc.blocks[0] = 1; mc.blocks[1] = 2;
    mc.widths[0] = 2; mc.widths[1] = 3;
    ctvk_graph g;
    CHECK(ctvk_graph_build(&mc, &g) == CTVK_OK, "build: %s", ctvk_error());
    int n = 3;
    size_t P = g.params_total, in_count = (size_t)n * 12 * 12;
    float *pf = malloc(P * sizeof *pf), *xf = malloc(in_count * sizeof *xf);
    double *p0 = malloc(P * sizeof *p0), *pw = malloc(P * sizeof *pw), *grad = malloc(P * sizeof *grad);
    double *x = malloc(in_count * sizeof *x), labels[6] = {1, 0, 0, 1, 1, 0}, probs[6];
    check_net_params(&g, pf, 3);
    check_fill_uniform(xf, in_count, 9, -1, 1);
    to_double(pf, p0, P);
    to_double(xf, x, in_count);
    ctvk_ref_result r0, r;
    memcpy(pw, p0, P * sizeof *pw);
    ctvk_ref_net_train(&g, pw, n, x, labels, 77, probs, grad, &r0);
    uint64_t rng = 1;
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            if (!q->trainable) continue;
            for (int t = 0; t < 3; t++) {
                size_t a = q->offset + check_rng_next(&rng) % q->count;
                double h = 1e-6, lp, lm, scratch[6];
                double *gs = malloc(P * sizeof *gs);
                memcpy(pw, p0, P * sizeof *pw); pw[a] += h;
                ctvk_ref_net_train(&g, pw, n, x, labels, 77, scratch, gs, &r); lp = r.loss;
                memcpy(pw, p0, P * sizeof *pw); pw[a] -= h;
                ctvk_ref_net_train(&g, pw, n, x, labels, 77, scratch, gs, &r); lm = r.loss;
                free(gs);
                double fd = (lp - lm) / (2 * h), e = fabs(fd - grad[a]) / fmax(1e-4, fabs(grad[a]));
                worst = fmax(worst, e);
                checked++;
                if (e > 1e-4) { bad++; printf("  %s/%s[%zu]: fd %.9g analytic %.9g\n", g.layers[i].name, q->name,
                                               a - q->offset, fd, grad[a]); }
            }
        }
    printf("finite differences: %d parameters of every trainable tensor, worst relative error %.3g\n", checked, worst);
    CHECK(bad == 0, "%d of %d finite-difference checks failed", bad, checked);
    free(pf); free(xf); free(p0); free(pw); free(grad); free(x);
    ctvk_graph_free(&g);
}

int main(void)
{
    finite_differences();
    ctvk_options opt;
    ctvk_options_default(&opt);
    if (getenv("CTVK_TEST_VARIANT")) opt.variant = !strcmp(getenv("CTVK_TEST_VARIANT"), "gpu") ? CTVK_VARIANT_GPU : CTVK_VARIANT_CPU;
    ctvk_ctx *ctx = check_ctx(&opt);
    printf("kernel variant: %s\n", ctvk_kernel_variant(ctx) == CTVK_VARIANT_GPU ? "gpu" : "cpu");
    opt.variant = CTVK_VARIANT_GPU;
    ctvk_ctx *gctx = ctvk_kernel_variant(ctx) == CTVK_VARIANT_GPU ? NULL : check_ctx(&opt);
    ctvk_model_config mc;
    check_small_resnet(&mc);
    compare(ctx, gctx ? gctx : ctx, &mc, 3, 1e-4, 1e-3, 1e-5);
    for (int a = 0; check_big_nets() && a < CHECK_PAPER_NETS; a++) {
        check_paper_net(a, &mc);
        if (getenv("CTVK_TEST_ARCH") && strcmp(getenv("CTVK_TEST_ARCH"), mc.arch)) continue;
        /* A 1x1 conv whose input is a post-ReLU residual sum (large positive mean) and whose output
         * feeds batch norm (so its dy sums to ~0 per channel) has dW = sum x*dy with heavy
         * cancellation: an fp32 sum, as in any framework, is good to ~1e-2 of that tensor's own
         * (small) scale there. Per tensor 5e-2; against the largest gradient 1e-4 holds. */
        compare(ctx, gctx ? gctx : ctx, &mc, 2, 1e-4, 5e-2, 1e-3);
    }
    if (gctx) check_ctx_done(gctx);
    check_ctx_done(ctx);
    return check_done("test_net");
}
