/* ctvk bench: speed measurements. Modes: `kernels` (conv2d forward / backward-data /
 * backward-weights GFLOP/s on ResNet50-like layer shapes). Network benchmarks (`ctvk bench
 * CONFIG`) come later as another mode. */
#include "net/conv.h"
#include "tools/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_bench_help[] =
    "usage: ctvk bench kernels [--variant cpu|gpu|both|auto] [--batch N] [--reps N] [--layer I]\n"
    "                          [--device D]\n\n"
    "kernels: runs conv2d forward (bias + ReLU epilogue), backward-data and backward-weights on\n"
    "ResNet50-like layer shapes and prints device GFLOP/s from timestamp queries, the best of\n"
    "--reps (default 5) repetitions after one warm-up. --variant picks the kernel family (default:\n"
    "the device's own); --batch sets N (default 1); --layer runs only layer I (0-based).\n"
    "On lavapipe set LP_NUM_THREADS to the number of cores.\n";

typedef struct bench_layer { const char *name; int h, w, c, k, ks, stride; } bench_layer;

static const bench_layer layers[] = {
    {"conv1 224x224x3 7x7/2 ->64", 224, 224, 3, 64, 7, 2},
    {"56x56x64 1x1 ->256", 56, 56, 64, 256, 1, 1},
    {"56x56x64 3x3 ->64", 56, 56, 64, 64, 3, 1},
    {"28x28x128 3x3 ->128", 28, 28, 128, 128, 3, 1},
    {"14x14x256 3x3 ->256", 14, 14, 256, 256, 3, 1},
    {"7x7x512 3x3 ->512", 7, 7, 512, 512, 3, 1},
};
#define NLAYERS ((int)(sizeof layers / sizeof *layers))

/* Device ms of the profile row labelled `label` after running the recorded work. */
static int timed(ctvk_ctx *ctx, const char *label, double *ms)
{
    ctvk_profile_row *rows;
    int n;
    double total;
    if (ctvk_sync(ctx) || ctvk_profile_get(ctx, &rows, &n, &total)) return 1;
    *ms = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].label, label)) *ms = rows[i].ms;
    free(rows);
    ctvk_profile_reset(ctx);
    return *ms < 0;
}

static int bench_layer_run(ctvk_ctx *ctx, const bench_layer *L, int batch, int reps, double gflops[3])
{
    ctvk_conv2d p;
    ctvk_shape xs = {batch, L->h, L->w, L->c}, ys, ws = {L->ks, L->ks, L->c, L->k}, bs = {1, 1, 1, L->k};
    if (ctvk_conv2d_same(L->ks, L->ks, L->stride, L->stride, L->h, L->w, &p) ||
        ctvk_conv2d_out_shape(&p, xs, L->k, &ys))
        return 1;
    p.relu = 1;
    ctvk_tensor *t[7] = {0};
    const ctvk_shape shapes[7] = {xs, ws, bs, ys, ys, xs, ws};
    int rc = 1;
    for (int i = 0; i < 7; i++)
        if (ctvk_tensor_create(ctx, CTVK_F32, shapes[i], "bench", &t[i]) || ctvk_fill(ctx, t[i], 0.01f * (float)(i + 1)))
            goto done;
    ctvk_tensor *x = t[0], *w = t[1], *b = t[2], *y = t[3], *dy = t[4], *dx = t[5], *dw = t[6];
    double flops = ctvk_conv2d_flops(&p, xs, L->k);
    static const char *labels[3] = {"forward", "backward-data", "backward-weights"};
    if (ctvk_sync(ctx)) goto done;
    ctvk_profile_reset(ctx);
    for (int pass = 0; pass < 3; pass++) {
        double best = 1e30;
        for (int r = 0; r <= reps; r++) {           /* r = 0: warm-up (shader compilation) */
            ctvk_label_push(ctx, labels[pass]);
            ctvk_status s = pass == 0 ? ctvk_conv2d_forward(ctx, &p, x, w, b, y)
                            : pass == 1 ? ctvk_conv2d_backward_data(ctx, &p, dy, w, dx, 0)
                                        : ctvk_conv2d_backward_weights(ctx, &p, x, dy, dw, NULL, 0);
            ctvk_label_pop(ctx);
            double ms;
            if (s || timed(ctx, labels[pass], &ms)) goto done;
            if (r > 0 && ms < best) best = ms;
        }
        gflops[pass] = flops / (best * 1e-3) * 1e-9;
    }
    rc = 0;
done:
    for (int i = 0; i < 7; i++) ctvk_tensor_destroy(t[i]);
    return rc;
}

static int bench_kernels(int argc, char **argv)
{
    cli_common com = {0};
    const char *variant = "auto";
    long batch = 1, reps = 5, only = -1;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("bench", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        long *num = !strcmp(argv[i], "--batch") ? &batch : !strcmp(argv[i], "--reps") ? &reps
                    : !strcmp(argv[i], "--layer") ? &only : NULL;
        if (num && i + 1 < argc) {
            char *end;
            *num = strtol(argv[i + 1], &end, 10);
            if (*end || *num < (num == &only ? 0 : 1) || *num > (num == &only ? NLAYERS - 1 : 1024))
                return cli_usage_error("bench", "%s: out of range", argv[i]);
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "--variant") && i + 1 < argc) {
            variant = argv[i + 1];
            if (strcmp(variant, "cpu") && strcmp(variant, "gpu") && strcmp(variant, "both") && strcmp(variant, "auto"))
                return cli_usage_error("bench", "--variant: cpu, gpu, both or auto");
            i += 2;
            continue;
        }
        return cli_usage_error("bench", "unknown option '%s'", argv[i]);
    }
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("bench", NULL, &com, &cfg);
    if (rc) return rc;
    ctvk_options o;
    rc = cli_device_options("bench", cfg, &com, &o);
    ctvk_config_free(cfg);
    if (rc) return rc;
    o.profile = 1;
    ctvk_variant list[2];
    int nv = 0;
    if (!strcmp(variant, "cpu") || !strcmp(variant, "both")) list[nv++] = CTVK_VARIANT_CPU;
    if (!strcmp(variant, "gpu") || !strcmp(variant, "both")) list[nv++] = CTVK_VARIANT_GPU;
    if (!nv) list[nv++] = CTVK_VARIANT_AUTO;
    for (int v = 0; v < nv; v++) {
        o.variant = list[v];
        ctvk_ctx *ctx;
        if (ctvk_create(&o, &ctx)) return cli_fail("bench");
        if (!ctvk_device(ctx)->timestamp_period) {
            ctvk_destroy(ctx);
            fprintf(stderr, "ctvk bench: %s has no timestamps on its compute queue\n", ctvk_device(ctx)->name);
            return 1;
        }
        printf("device: %s, %s kernels, batch %ld, best of %ld\n", ctvk_device(ctx)->name,
               ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU ? "CPU" : "GPU", batch, reps);
        printf("  %-30s %9s %9s %9s   GFLOP/s\n", "layer", "forward", "bwd-data", "bwd-wgt");
        for (int i = 0; i < NLAYERS; i++) {
            if (only >= 0 && i != only) continue;
            double g[3];
            if (bench_layer_run(ctx, &layers[i], (int)batch, (int)reps, g)) {
                ctvk_destroy(ctx);
                return cli_fail("bench");
            }
            printf("  %-30s %9.1f %9.1f %9.1f\n", layers[i].name, g[0], g[1], g[2]);
            fflush(stdout);
        }
        ctvk_destroy(ctx);
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("bench", "which benchmark? 'kernels'");
    if (!strcmp(argv[1], "kernels")) return bench_kernels(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark '%s' (available: kernels)", argv[1]);
}
