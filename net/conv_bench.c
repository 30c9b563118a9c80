/* The convolution kernels on the layer shapes of ResNet50 (224x224) and of the paper's FPN at
 * 512x512: GFLOP/s of each pass from timestamp queries (`ctvk bench kernels`). */
#include "ctvk/net.h"
#include "net/conv.h"
#include "runtime/vk/internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct bench_layer { const char *name; int h, w, c, k, ks, stride; } bench_layer;

static const bench_layer layers[] = {
    {"conv1 224x224x3 7x7/2 ->64", 224, 224, 3, 64, 7, 2},
    {"56x56x64 1x1 ->256", 56, 56, 64, 256, 1, 1},
    {"56x56x64 3x3 ->64", 56, 56, 64, 64, 3, 1},
    {"28x28x128 3x3 ->128", 28, 28, 128, 128, 3, 1},
    {"14x14x256 3x3 ->256", 14, 14, 256, 256, 3, 1},
    {"7x7x512 3x3 ->512", 7, 7, 512, 512, 3, 1},
    /* the paper's ResNet50V2 + FPN at 512x512x1 (its most expensive layer shapes) */
    {"fpn conv1 512x512x1 7x7/2 ->64", 512, 512, 1, 64, 7, 2},
    {"128x128x64 1x1 ->256", 128, 128, 64, 256, 1, 1},
    {"128x128x256 1x1 ->64", 128, 128, 256, 64, 1, 1},
    {"128x128x64 3x3 ->64", 128, 128, 64, 64, 3, 1},
    {"64x64x512 1x1 ->128", 64, 64, 512, 128, 1, 1},
    {"64x64x128 3x3 ->128", 64, 64, 128, 128, 3, 1},
    {"32x32x256 3x3 ->256", 32, 32, 256, 256, 3, 1},
    {"32x32x768 3x3 ->256 (P3)", 32, 32, 768, 256, 3, 1},
    {"16x16x2048 3x3/2 ->256 (P6)", 16, 16, 2048, 256, 3, 2},
};
#define NLAYERS ((int)(sizeof layers / sizeof *layers))

/* Device ms of the profile row labelled `label` after running the recorded work. */
static ctvk_status timed(ctvk_ctx *ctx, const char *label, double *ms)
{
    ctvk_profile_row *rows;
    int n;
    double total;
    CTVK_TRY(ctvk_sync(ctx));
    CTVK_TRY(ctvk_profile_get(ctx, &rows, &n, &total));
    *ms = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].label, label)) *ms = rows[i].ms;
    free(rows);
    ctvk_profile_reset(ctx);
    return *ms < 0 ? ctvk__fail(CTVK_ERR_UNSUPPORTED, "conv bench: no timestamp for %s (profiling off?)", label)
                   : CTVK_OK;
}

int ctvk_conv_bench_count(void) { return NLAYERS; }

const char *ctvk_conv_bench_name(int i) { return i >= 0 && i < NLAYERS ? layers[i].name : NULL; }

ctvk_status ctvk_conv_bench(ctvk_ctx *ctx, int i, int batch, int reps, int npass, int tile, double gflops[5])
{
    if (i < 0 || i >= NLAYERS) return ctvk__fail(CTVK_ERR_ARG, "conv bench: no layer %d (0 to %d)", i, NLAYERS - 1);
    const bench_layer *L = &layers[i];
    ctvk_conv2d p;
    ctvk_shape xs = {batch, L->h, L->w, L->c}, ys, ws = {L->ks, L->ks, L->c, L->k}, bs = {1, 1, 1, L->k};
    CTVK_TRY(ctvk_conv2d_same(L->ks, L->ks, L->stride, L->stride, L->h, L->w, &p));
    CTVK_TRY(ctvk_conv2d_out_shape(&p, xs, L->k, &ys));
    p.relu = 1;
    ctvk_tensor *t[7] = {0};
    const ctvk_shape shapes[7] = {xs, ws, bs, ys, ys, xs, ws};
    ctvk_status s = CTVK_OK;
    for (int k = 0; k < 7 && !s; k++) {
        s = ctvk_tensor_create(ctx, CTVK_F32, shapes[k], "bench", &t[k]);
        if (!s) s = ctvk_fill(ctx, t[k], 0.01f * (float)(k + 1));
    }
    if (s) goto done;
    ctvk_tensor *x = t[0], *w = t[1], *b = t[2], *y = t[3], *dy = t[4], *dx = t[5], *dw = t[6];
    /* Winograd (3x3 stride 1 on the CPU kernels): transformed weights and the two workspaces */
    ctvk_tensor *wt[4] = {0};    /* U, V, M, U of the backward */
    ctvk_conv2d q;
    int wino = ctvk_conv2d_winograd_ok(ctx, &p, xs, L->k) && L->c % 4 == 0 &&
               ctvk_conv2d_winograd_backward_geometry(&p, &q) == CTVK_OK;
    if (wino) {
        size_t nu = ctvk_conv2d_winograd_weights_count(L->c, L->k, tile), n[4] = {nu, 0, 0, nu}, bv, bm;
        ctvk_conv2d_winograd_workspace(&p, xs, L->k, tile, &n[1], &n[2]);
        ctvk_conv2d_winograd_workspace(&q, ys, L->c, tile, &bv, &bm);
        if (bv > n[1]) n[1] = bv;
        if (bm > n[2]) n[2] = bm;
        for (int k = 0; k < 4 && !s; k++) s = ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 1, 1, (int)n[k]}, "winograd", &wt[k]);
        if (!s) s = ctvk_conv2d_winograd_weights(ctx, w, L->c, L->k, tile, 0, wt[0]);
        if (!s) s = ctvk_conv2d_winograd_weights(ctx, w, L->c, L->k, tile, 1, wt[3]);
    }
    double flops = ctvk_conv2d_flops(&p, xs, L->k);
    static const char *labels[5] = {"forward", "backward-data", "backward-weights", "winograd", "winograd-bwd"};
    if (!s) s = ctvk_sync(ctx);
    ctvk_profile_reset(ctx);
    gflops[0] = gflops[1] = gflops[2] = gflops[3] = gflops[4] = 0;
    for (int pass = 0; pass < 5 && !s; pass++) {
        if (pass == 3 ? !wino : pass == 4 ? !wino || npass < 2 : pass >= npass) continue;
        double best = 1e30;
        for (int r = 0; r <= reps && !s; r++) {           /* r = 0: warm-up (shader compilation) */
            ctvk_label_push(ctx, labels[pass]);
            s = pass == 0 ? ctvk_conv2d_forward(ctx, &p, x, w, b, y)
                : pass == 1 ? ctvk_conv2d_backward_data(ctx, &p, dy, w, dx, 0)
                : pass == 2 ? ctvk_conv2d_backward_weights(ctx, &p, x, dy, dw, NULL, 0)
                : pass == 3 ? ctvk_conv2d_forward_winograd(ctx, &p, tile, x, wt[0], b, NULL, y, wt[1], wt[2])
                            : ctvk_conv2d_backward_data_winograd(ctx, &p, tile, dy, wt[3], dx, wt[1], wt[2], 0);
            ctvk_label_pop(ctx);
            double ms;
            if (!s) s = timed(ctx, labels[pass], &ms);
            if (!s && r > 0 && ms < best) best = ms;
        }
        if (!s) gflops[pass] = flops / (best * 1e-3) * 1e-9;
    }
    for (int k = 0; k < 4; k++) ctvk_tensor_destroy(wt[k]);
done:
    for (int k = 0; k < 7; k++) ctvk_tensor_destroy(t[k]);
    return s;
}
