/* ctvk smoke: a short end-to-end check that the device computes what the C reference computes. */
#include "ctvk/net.h"
#include "ctvk/util.h"
#include "tools/cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_smoke_help[] =
    "usage: ctvk smoke [CONFIG] [--device D] [--profile] [--renderdoc] [--elements N]\n\n"
    "Runs fill, copy and scale-add on N (default 1048576) floats on the chosen device, compares each\n"
    "with the plain-C reference and prints the worst error and the device time. With --renderdoc\n"
    "(and RenderDoc loaded or loadable) the three kernels are captured as one frame.\n";

int cmd_smoke(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    long n = 1 << 20;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("smoke", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--elements") && i + 1 < argc) {
            char *end;
            n = strtol(argv[i + 1], &end, 10);
            if (*end || n < 1 || n > (1L << 28)) return cli_usage_error("smoke", "--elements: 1 .. 268435456");
            i += 2;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("smoke", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("smoke", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("smoke", config, &com, &cfg);
    if (rc) return rc;
    ctvk_options o;
    if ((rc = cli_device_options("smoke", cfg, &com, &o))) { ctvk_config_free(cfg); return rc; }
    ctvk_ctx *ctx = NULL;
    if (ctvk_create(&o, &ctx)) { ctvk_config_free(cfg); return cli_fail("smoke"); }
    printf("device: %s\n", ctvk_device(ctx)->name);

    size_t count = (size_t)n;
    float *x = malloc(count * sizeof *x), *y = malloc(count * sizeof *y), *ref = malloc(count * sizeof *ref);
    ctvk_tensor *tx = NULL, *ty = NULL;
    ctvk_shape shape = {1, 1, 1, (int)n};
    rc = 1;
    if (!x || !y || !ref) { fprintf(stderr, "ctvk smoke: out of host memory\n"); goto done; }
    for (size_t i = 0; i < count; i++) x[i] = (float)sin((double)i * 0.001);
    if (ctvk_tensor_create(ctx, CTVK_F32, shape, "x", &tx) || ctvk_tensor_create(ctx, CTVK_F32, shape, "y", &ty) ||
        ctvk_tensor_upload(tx, x, count * sizeof *x))
        goto fail;
    if (ctvk_capture_available(ctx)) printf("capturing one frame with RenderDoc\n");
    if (ctvk_capture_begin(ctx)) goto fail;
    double t0 = ctvk_now();
    ctvk_label_push(ctx, "fill");
    if (ctvk_fill(ctx, ty, 0.5f)) goto fail;
    ctvk_label_pop(ctx);
    ctvk_label_push(ctx, "scale_add");
    if (ctvk_scale_add(ctx, 2.0f, tx, -1.0f, ty)) goto fail;
    ctvk_label_pop(ctx);
    ctvk_label_push(ctx, "copy");
    if (ctvk_copy(ctx, ty, tx)) goto fail;
    ctvk_label_pop(ctx);
    if (ctvk_sync(ctx)) goto fail;
    double t1 = ctvk_now();
    if (ctvk_capture_end(ctx)) goto fail;
    if (*ctvk_capture_path(ctx)) printf("RenderDoc capture: %s (open it with qrenderdoc)\n", ctvk_capture_path(ctx));
    if (ctvk_tensor_download(tx, y, count * sizeof *y)) goto fail;
    ctvk_ref_fill(ref, count, 0.5f);
    ctvk_ref_scale_add(2.0f, x, -1.0f, ref, count);
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)y[i] - (double)ref[i]);
        if (!(d <= worst)) worst = d;
    }
    printf("fill + scale-add + copy of %ld floats: worst error %.3g, %.2f ms host time\n", n, worst,
           (t1 - t0) * 1e3);
    if (o.profile) {
        ctvk_profile_row *rows;
        int nr;
        double total;
        if (ctvk_profile_get(ctx, &rows, &nr, &total)) goto fail;
        for (int i = 0; i < nr; i++) printf("  %-12s %3u dispatches %9.3f ms\n", rows[i].label, rows[i].dispatches, rows[i].ms);
        printf("  device total %.3f ms\n", total);
        free(rows);
    }
    rc = worst <= 1e-6 ? 0 : 1;
    if (rc) fprintf(stderr, "ctvk smoke: the device result differs from the reference\n");
    goto done;
fail:
    rc = cli_fail("smoke");
done:
    ctvk_tensor_destroy(tx);
    ctvk_tensor_destroy(ty);
    ctvk_destroy(ctx);
    ctvk_config_free(cfg);
    free(x); free(y); free(ref);
    return rc;
}
