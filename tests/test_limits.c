/* The limits clamp and the choice of input bindings. Under [device] limits = minimum the device
 * reports exactly the Vulkan 1.1 required limits and no optional feature, and ctvk keeps to them:
 * no texel view over 65536 elements, no workgroup over 128 invocations, no kernel with more than 4
 * storage buffers, staging with flush and invalidate, no push descriptors, no timestamps; kernels on
 * tensors larger than a texel buffer still give the reference's answers, through storage buffers.
 * Without the clamp, lavapipe keeps every input in texel buffers (its fast path). */
#include "net/conv.h"
#include "net/ops.h"
#include "net/train_ops.h"
#include "runtime/vk/internal.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BN backward against the reference. The merged sums are read through a view of the workspace's
 * head: at {1,160,160,97} (97 channels: scalar views) the workspace, 2C(P+1) = 77,794 floats,
 * exceeds a minimum texel buffer, so only that head is bound. Without x, makes its own batch and
 * statistics. */
static void bn_backward(ctvk_ctx *ctx, const char *what, ctvk_shape xs, const float *x, ctvk_tensor *tx,
                        ctvk_tensor *gm, ctvk_tensor *sv, ctvk_tensor *wk)
{
    size_t n = (size_t)xs.n * xs.h * xs.w * xs.c, C = (size_t)xs.c;
    float *own = NULL;
    ctvk_tensor *made[6] = {NULL};
    if (!x) {
        own = malloc(n * sizeof *own);
        check_fill_uniform(own, n, 9, -2, 3);
        x = own;
        float *one = malloc(C * sizeof *one);
        for (int c = 0; c < xs.c; c++) one[c] = 1.0f;
        made[0] = tx = check_tensor(ctx, xs, x, "big x");
        made[1] = gm = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, one, "big gamma");
        made[2] = sv = check_tensor(ctx, (ctvk_shape){1, 1, 1, 2 * xs.c}, NULL, "big saved");
        made[3] = wk = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)ctvk_bn_workspace_count(xs)}, NULL, "big work");
        made[4] = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, one, "big moving var");
        made[5] = check_tensor(ctx, xs, NULL, "big y");
        for (int c = 0; c < xs.c; c++) one[c] = 0.0f;
        ctvk_tensor *beta = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, one, "big beta");
        ctvk_tensor *mm = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, one, "big moving mean");
        CHECK(ctvk_bn_forward_train(ctx, tx, gm, beta, mm, made[4], 1e-3f, 0.9f, 0, made[5], sv, wk) == CTVK_OK,
              "%s: big bn forward: %s", what, ctvk_error());
        ctvk_tensor_destroy(beta), ctvk_tensor_destroy(mm);
        free(one);
    }
    /* BN backward (the merged sums read through a view of the workspace's head) against the reference */
    {
        float *gr = malloc(n * sizeof *gr), *sv_h = malloc(2 * C * sizeof *sv_h);
        check_fill_uniform(gr, n, 5, -1, 1);
        ctvk_tensor *tg = check_tensor(ctx, xs, gr, "g"), *tdx = check_tensor(ctx, xs, NULL, "dx");
        ctvk_tensor *dg = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "dgamma");
        ctvk_tensor *db = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "dbeta");
        CHECK(ctvk_bn_backward(ctx, tx, gm, sv, NULL, tg, tdx, 0, dg, db, 0, wk) == CTVK_OK, "%s: bn backward: %s",
              what, ctvk_error());
        CHECK(ctvk_tensor_download(sv, sv_h, 2 * C * sizeof *sv_h) == CTVK_OK, "saved");
        double *xd = malloc(n * sizeof *xd), *gd = malloc(n * sizeof *gd), *dxd = malloc(n * sizeof *dxd);
        double *gmd = malloc(C * sizeof *gmd), *svd = malloc(2 * C * sizeof *svd);
        double *dgd = malloc(C * sizeof *dgd), *dbd = malloc(C * sizeof *dbd);
        for (size_t i = 0; i < n; i++) xd[i] = x[i], gd[i] = gr[i];
        for (int c = 0; c < xs.c; c++) gmd[c] = 1.0, svd[c] = sv_h[c], svd[xs.c + c] = sv_h[xs.c + c];
        ctvk_ref_bn_backward(xd, xs, gmd, svd, NULL, gd, dxd, 0, dgd, dbd, 0);
        float *dxr = malloc(n * sizeof *dxr), *dbr = malloc(C * sizeof *dbr);
        for (size_t i = 0; i < n; i++) dxr[i] = (float)dxd[i];
        for (int c = 0; c < xs.c; c++) dbr[c] = (float)dbd[c];
        float *dxg = check_download(tdx), *dbg = check_download(db);
        double e1 = check_rel_err(dxg, dxr, n, 1e-3), e2 = check_rel_err(dbg, dbr, C, 1.0);
        printf("%-12s bn backward {%d,%d,%d,%d} dx worst relative error %.3g, dbeta %.3g\n", what, xs.n, xs.h, xs.w,
               xs.c, e1, e2);
        CHECK(e1 < 1e-4 && e2 < 1e-4, "%s: bn backward errors %g, %g", what, e1, e2);
        free(dxg), free(dbg), free(dxr), free(dbr), free(xd), free(gd), free(dxd), free(gmd), free(svd), free(dgd);
        free(dbd), free(gr), free(sv_h);
        ctvk_tensor_destroy(tg), ctvk_tensor_destroy(tdx), ctvk_tensor_destroy(dg), ctvk_tensor_destroy(db);
    }
    for (int i = 0; i < 6; i++) ctvk_tensor_destroy(made[i]);
    free(own);
}

/* Runs ReLU, add, a conv (stride 1, 3x3) and a BN forward on tensors over 65536 elements and
 * checks them against the references; returns the context's stats. */
static void work(ctvk_ctx *ctx, const char *what, ctvk_stats *st)
{
    ctvk_shape xs = {2, 40, 36, 96};           /* 276,480 elements: 69,120 4-component texels, more than
                                                  * a minimum texel buffer holds either way */
    size_t n = (size_t)xs.n * xs.h * xs.w * xs.c;
    float *x = malloc(n * sizeof *x), *b = malloc(n * sizeof *b);
    check_fill_uniform(x, n, 1, -1, 1);
    check_fill_uniform(b, n, 2, -1, 1);
    ctvk_tensor *tx = check_tensor(ctx, xs, x, "x"), *tb = check_tensor(ctx, xs, b, "b");
    ctvk_tensor *ty = check_tensor(ctx, xs, NULL, "y");

    CHECK(ctvk_relu(ctx, tx, ty) == CTVK_OK, "%s: relu: %s", what, ctvk_error());
    float *got = check_download(ty);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != (x[i] > 0 ? x[i] : 0.0f);
    CHECK(bad == 0, "%s: relu: %d of %zu values differ from max(x, 0)", what, bad, n);
    free(got);

    CHECK(ctvk_add(ctx, tx, tb, ty, 1) == CTVK_OK, "%s: add: %s", what, ctvk_error());
    got = check_download(ty);
    bad = 0;
    for (size_t i = 0; i < n; i++) { float s = x[i] + b[i]; bad += got[i] != (s > 0 ? s : 0.0f); }
    CHECK(bad == 0, "%s: add+relu: %d of %zu values differ", what, bad, n);
    free(got);

    /* conv 3x3 'same', 96 -> 16 channels, weights of 13,824 values */
    ctvk_conv2d p;
    CHECK(ctvk_conv2d_same(3, 3, 1, 1, xs.h, xs.w, &p) == CTVK_OK, "conv params");
    ctvk_shape ws = {3, 3, 96, 16}, ys = {xs.n, xs.h, xs.w, 16};
    size_t nw = 3 * 3 * 96 * 16, ny = (size_t)ys.n * ys.h * ys.w * ys.c;
    float *w = malloc(nw * sizeof *w), *bias = malloc(16 * sizeof *bias), *ref = malloc(ny * sizeof *ref);
    check_fill_uniform(w, nw, 3, -0.2f, 0.2f);
    check_fill_uniform(bias, 16, 4, -1, 1);
    ctvk_tensor *tw = check_tensor(ctx, ws, w, "w"), *tbias = check_tensor(ctx, (ctvk_shape){1, 1, 1, 16}, bias, "bias");
    ctvk_tensor *tc = check_tensor(ctx, ys, NULL, "conv y");
    CHECK(ctvk_conv2d_forward(ctx, &p, tx, tw, tbias, tc) == CTVK_OK, "%s: conv: %s", what, ctvk_error());
    ctvk_ref_conv2d_forward(&p, xs, x, w, bias, ys, ref);
    got = check_download(tc);
    double e = check_rel_err(got, ref, ny, 1.0);
    printf("%-12s conv 3x3 {2,40,36,96} -> 16 worst relative error %.3g\n", what, e);
    CHECK(e < 1e-5, "%s: conv error %g", what, e);
    free(got);

    /* batch-norm statistics over the whole batch (read through one binding) and the apply */
    ctvk_tensor *gm = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "gamma");
    ctvk_tensor *bt = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "beta");
    ctvk_tensor *mm = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "moving mean");
    ctvk_tensor *mv = check_tensor(ctx, (ctvk_shape){1, 1, 1, xs.c}, NULL, "moving var");
    ctvk_tensor *sv = check_tensor(ctx, (ctvk_shape){1, 1, 1, 2 * xs.c}, NULL, "saved");
    ctvk_tensor *wk = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)ctvk_bn_workspace_count(xs)}, NULL, "bn work");
    float *ones = malloc((size_t)xs.c * sizeof *ones), *zeros = calloc((size_t)xs.c, sizeof *zeros);
    for (int c = 0; c < xs.c; c++) ones[c] = 1.0f;
    ctvk_tensor_upload(gm, ones, (size_t)xs.c * 4);
    ctvk_tensor_upload(bt, zeros, (size_t)xs.c * 4);
    ctvk_tensor_upload(mm, zeros, (size_t)xs.c * 4);
    ctvk_tensor_upload(mv, ones, (size_t)xs.c * 4);
    CHECK(ctvk_bn_forward_train(ctx, tx, gm, bt, mm, mv, 1e-3f, 0.9f, 0, ty, sv, wk) == CTVK_OK, "%s: bn: %s", what,
          ctvk_error());
    got = check_download(ty);
    double worst = 0;
    for (int c = 0; c < xs.c; c++) {          /* each channel of y: mean 0, variance v / (v + eps) */
        size_t rows = n / (size_t)xs.c;
        double s = 0, s2 = 0, xs1 = 0, xs2 = 0;
        for (size_t r = 0; r < rows; r++) s += got[r * (size_t)xs.c + (size_t)c], xs1 += x[r * (size_t)xs.c + (size_t)c];
        double mean = s / (double)rows, xmean = xs1 / (double)rows;
        for (size_t r = 0; r < rows; r++) {
            double d = got[r * (size_t)xs.c + (size_t)c] - mean, dx = x[r * (size_t)xs.c + (size_t)c] - xmean;
            s2 += d * d, xs2 += dx * dx;
        }
        double var = s2 / (double)rows, v = xs2 / (double)rows, want = v / (v + 1e-3);
        double dev = fabs(mean) > fabs(var - want) ? fabs(mean) : fabs(var - want);
        if (dev > worst) worst = dev;
    }
    printf("%-12s bn over 276480 values: per-channel |mean|, |var - v/(v+eps)| at most %.3g\n", what, worst);
    CHECK(worst < 1e-5, "%s: normalised channels off by %g", what, worst);
    free(got);

    bn_backward(ctx, what, xs, x, tx, gm, sv, wk);
    bn_backward(ctx, what, (ctvk_shape){1, 160, 160, 97}, NULL, NULL, NULL, NULL, NULL);

    /* max pool 2x2/2 forward and backward (uint32 argmax read through a 4-component view) */
    {
        ctvk_shape ps = {xs.n, xs.h / 2, xs.w / 2, xs.c};
        size_t np = (size_t)ps.n * ps.h * ps.w * ps.c;
        ctvk_tensor *py = check_tensor(ctx, ps, NULL, "pool y"), *arg = NULL, *pdx = check_tensor(ctx, xs, NULL, "pool dx");
        CHECK(ctvk_tensor_create(ctx, CTVK_U32, ps, "argmax", &arg) == CTVK_OK, "argmax: %s", ctvk_error());
        CHECK(ctvk_maxpool(ctx, tx, py, arg, 2, 2, 0, 0, 0, 0) == CTVK_OK, "%s: maxpool: %s", what, ctvk_error());
        CHECK(ctvk_maxpool_backward(ctx, py, arg, pdx, 2, 2, 0, 0, 0, 0, 0) == CTVK_OK, "%s: maxpool backward: %s",
              what, ctvk_error());
        double *xd = malloc(n * sizeof *xd), *yd = malloc(np * sizeof *yd), *dxd = calloc(n, sizeof *dxd);
        uint32_t *ad = malloc(np * sizeof *ad);
        for (size_t i = 0; i < n; i++) xd[i] = x[i];
        ctvk_ref_maxpool(xd, xs, yd, ps, ad, 2, 2, 0, 0);
        ctvk_ref_maxpool_backward(yd, ps, ad, dxd, xs, 2, 2, 0, 0, 0);   /* g = y: dx holds each max once */
        float *dxg = check_download(pdx);
        int wrong = 0;
        for (size_t i = 0; i < n; i++) wrong += dxg[i] != (float)dxd[i];
        printf("%-12s maxpool 2x2 backward: %d of %zu values differ from the reference\n", what, wrong, n);
        CHECK(wrong == 0, "%s: maxpool backward differs in %d values", what, wrong);
        free(dxg), free(xd), free(yd), free(dxd), free(ad);
        ctvk_tensor_destroy(py), ctvk_tensor_destroy(arg), ctvk_tensor_destroy(pdx);
    }

    /* a 512x512 uint16 slice to fp32 (the loader's conversion; 262,144 values read as packed words) */
    {
        size_t ns = 512 * 512;
        uint16_t *raw = malloc(ns * sizeof *raw);
        for (size_t i = 0; i < ns; i++) raw[i] = (uint16_t)((i * 2654435761u) >> 16);
        ctvk_tensor *tr = NULL, *tf = check_tensor(ctx, (ctvk_shape){1, 512, 512, 1}, NULL, "slice f32");
        CHECK(ctvk_tensor_create(ctx, CTVK_U16, (ctvk_shape){1, 512, 512, 1}, "slice u16", &tr) == CTVK_OK, "u16");
        CHECK(ctvk_tensor_upload(tr, raw, ns * sizeof *raw) == CTVK_OK, "upload u16");
        CHECK(ctvk_convert_u16_to_f32(ctx, tr, 0.5f, -3.0f, tf) == CTVK_OK, "%s: convert: %s", what, ctvk_error());
        float *f = check_download(tf);
        int wrong = 0;
        for (size_t i = 0; i < ns; i++) wrong += f[i] != 0.5f * (float)raw[i] - 3.0f;
        CHECK(wrong == 0, "%s: uint16 -> fp32: %d of %zu values wrong", what, wrong, ns);
        free(f), free(raw);
        ctvk_tensor_destroy(tr), ctvk_tensor_destroy(tf);
    }
    free(ones);
    free(zeros);
    ctvk_get_stats(ctx, st);
    ctvk_tensor *all[] = {tx, tb, ty, tw, tbias, tc, gm, bt, mm, mv, sv, wk};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ctvk_tensor_destroy(all[i]);
    free(x);
    free(b);
    free(w);
    free(bias);
    free(ref);
}

int main(void)
{
    /* ---- under the clamp */
    ctvk_options o;
    ctvk_options_default(&o);
    o.limits = CTVK_LIMITS_MINIMUM;
    o.variant = CTVK_VARIANT_GPU;      /* the 64x64 tiles, which want 256 invocations elsewhere */
    ctvk_ctx *ctx = check_ctx(&o);
    const ctvk_device_info *d = ctvk_device(ctx);
    CHECK(d->limits_minimum && d->max_texel_buffer_elements == 65536 && d->max_storage_buffers_per_stage == 4 &&
              d->max_workgroup_invocations == 128 && d->max_shared_memory == 16384 &&
              d->max_storage_buffer_range == (1u << 27),
          "clamped limits: %u texels, %u storage buffers, %u invocations, %u shared bytes", d->max_texel_buffer_elements,
          d->max_storage_buffers_per_stage, d->max_workgroup_invocations, d->max_shared_memory);
    CHECK(!d->push_descriptors && !d->storage16 && !d->float16 && !d->unified_memory && !d->coherent_staging &&
              d->timestamp_period == 0,
          "the clamp leaves an optional feature on");
    CHECK(!ctx->push_descriptors && !ctx->debug_labels && !ctx->mem.host_visible, "push descriptors, labels or "
          "zero-copy in use under the clamp");
    ctvk_stats st;
    work(ctx, "clamp gpu", &st);
    printf("clamp: largest texel view %llu elements, largest workgroup %llu, at most %llu storage buffers per "
           "kernel, %llu dispatches through storage buffers, %llu flushes, %llu invalidations\n",
           (unsigned long long)st.max_texel_view_elements, (unsigned long long)st.max_workgroup_invocations,
           (unsigned long long)st.max_storage_bindings, (unsigned long long)st.storage_input_dispatches,
           (unsigned long long)st.host_flushes, (unsigned long long)st.host_invalidates);
    CHECK(st.max_texel_view_elements > 0 && st.max_texel_view_elements <= 65536, "a texel view of %llu elements",
          (unsigned long long)st.max_texel_view_elements);
    CHECK(st.max_workgroup_invocations > 0 && st.max_workgroup_invocations <= 128, "a workgroup of %llu invocations",
          (unsigned long long)st.max_workgroup_invocations);
    CHECK(st.max_storage_bindings <= 4, "a kernel with %llu storage buffers", (unsigned long long)st.max_storage_bindings);
    CHECK(st.storage_input_dispatches >= 4, "only %llu dispatches read through storage buffers",
          (unsigned long long)st.storage_input_dispatches);
    CHECK(st.host_flushes > 0 && st.host_invalidates > 0, "staging was not flushed (%llu) and invalidated (%llu)",
          (unsigned long long)st.host_flushes, (unsigned long long)st.host_invalidates);

    /* a workgroup over the limit is refused with the numbers, before the driver sees it */
    ctvk_pipeline *pl = NULL;
    int32_t spec[4] = {0, 256, 0, 0};
    ctvk_status s = ctvk__pipeline_get(ctx, "act", "ttw", 4, spec, 4, &pl);
    CHECK(s == CTVK_ERR_UNSUPPORTED && strstr(ctvk_error(), "workgroups of 256 invocations") &&
              strstr(ctvk_error(), "under the limits clamp"),
          "a 256-invocation workgroup under the clamp: %s", ctvk_error());
    /* and a kernel with more storage buffers than the device allows */
    s = ctvk__pipeline_get(ctx, "loss", "rrwww", 20, (int32_t[]){64}, 1, &pl);
    CHECK(s == CTVK_ERR_UNSUPPORTED && strstr(ctvk_error(), "binds 5 storage buffers, more than the 4"),
          "5 storage buffers under the clamp: %s", ctvk_error());
    check_ctx_done(ctx);

    /* the same on the CPU kernel family */
    o.variant = CTVK_VARIANT_CPU;
    ctx = check_ctx(&o);
    work(ctx, "clamp cpu", &st);
    CHECK(st.max_texel_view_elements <= 65536 && st.max_workgroup_invocations <= 128 && st.max_storage_bindings <= 4,
          "cpu kernels under the clamp: %llu texels, %llu invocations, %llu storage buffers",
          (unsigned long long)st.max_texel_view_elements, (unsigned long long)st.max_workgroup_invocations,
          (unsigned long long)st.max_storage_bindings);
    check_ctx_done(ctx);

    /* profiling needs timestamps, which the clamp takes away: a clear refusal */
    o.profile = 1;
    ctvk_ctx *bad = NULL;
    s = ctvk_create(&o, &bad);
    CHECK(s == CTVK_ERR_UNSUPPORTED && strstr(ctvk_error(), "timestamp"), "profile under the clamp: %s", ctvk_error());
    ctvk_destroy(bad);

    /* ---- the device as it is: on lavapipe every input of this work fits a texel buffer */
    ctvk_options_default(&o);
    o.limits = CTVK_LIMITS_DEVICE;
    ctx = check_ctx(&o);
    d = ctvk_device(ctx);
    if (d->max_texel_buffer_elements >= (1u << 20)) {
        work(ctx, "device", &st);
        CHECK(st.storage_input_dispatches == 0, "%llu dispatches left the texel-buffer path on %s",
              (unsigned long long)st.storage_input_dispatches, d->name);
    } else {
        printf("device: %s has %u-element texel buffers: the work takes storage buffers there\n", d->name,
               d->max_texel_buffer_elements);
        work(ctx, "device", &st);
        CHECK(st.storage_input_dispatches > 0, "no dispatch read through storage buffers on %s", d->name);
    }
    check_ctx_done(ctx);

    /* CTVK_LIMITS names its values */
    setenv("CTVK_LIMITS", "tiny", 1);
    ctvk_options_default(&o);
    s = ctvk_create(&o, &bad);
    CHECK(s == CTVK_ERR_ARG && strstr(ctvk_error(), "CTVK_LIMITS = 'tiny': expected device or minimum"),
          "CTVK_LIMITS=tiny: %s", ctvk_error());
    ctvk_destroy(bad);
    unsetenv("CTVK_LIMITS");
    return check_done("test_limits");
}
