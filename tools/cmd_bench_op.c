/* ctvk bench op: one kernel against its plain-C reference (net/op_bench.c). */
#include "ctvk/net.h"
#include "tools/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_bench_op_help[] =
    "usage: ctvk bench op NAME|all [--shape N,H,W,C] [--reps R] [--device D] [--set s.k=v]\n"
    "       ctvk bench op --list\n\n"
    "Runs one kernel (or every one) on random data whose input has shape N,H,W,C (default 1,64,64,64),\n"
    "checks its result against the kernel's plain-C reference in double (the one its test uses), and\n"
    "prints the device time (the minimum of R runs, default 10, each recorded and waited for alone,\n"
    "after an untimed first run that compiles), the reference's time, the worst relative error, and\n"
    "GFLOP/s or GB/s. A kernel whose error exceeds 1e-3 makes the command fail.\n";

static int parse_shape(const char *s, ctvk_shape *out)
{
    int v[4];
    char tail;
    if (sscanf(s, "%d,%d,%d,%d%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) return -1;
    *out = (ctvk_shape){v[0], v[1], v[2], v[3]};
    return 0;
}

int cmd_bench_op(int argc, char **argv)
{
    cli_common com = {0};
    const char *name = NULL;
    ctvk_shape xs = {1, 64, 64, 64};
    long reps = 10;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("bench op", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        const char *a = argv[i];
        if (!strcmp(a, "--list")) {
            for (int j = 0; j < ctvk_op_bench_count(); j++) {
                const char *what;
                const char *n = ctvk_op_bench_name(j, &what);
                printf("%-24s %s\n", n, what);
            }
            return 0;
        }
        if ((!strcmp(a, "--shape") || !strcmp(a, "--reps")) && i + 1 >= argc)
            return cli_usage_error("bench op", "%s needs a value", a);
        if (!strcmp(a, "--shape")) {
            if (parse_shape(argv[i + 1], &xs)) return cli_usage_error("bench op", "--shape: N,H,W,C, not '%s'", argv[i + 1]);
            i += 2;
            continue;
        }
        if (!strcmp(a, "--reps")) {
            char *end;
            reps = strtol(argv[i + 1], &end, 10);
            if (*end || reps < 1 || reps > 100000) return cli_usage_error("bench op", "--reps: 1 .. 100000");
            i += 2;
            continue;
        }
        if (a[0] == '-') return cli_usage_error("bench op", "unknown option '%s'", a);
        if (name) return cli_usage_error("bench op", "unexpected argument '%s' (one NAME)", a);
        name = a;
        i++;
    }
    if (!name) return cli_usage_error("bench op", "NAME (or all; --list names them) is required");
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("bench op", NULL, &com, &cfg);
    if (rc) return rc;
    ctvk_options o;
    ctvk_ctx *ctx = NULL;
    if ((rc = cli_device_options("bench op", cfg, &com, &o)) || (rc = ctvk_create(&o, &ctx) ? cli_fail("bench op") : 0)) {
        ctvk_config_free(cfg);
        return rc;
    }
    printf("input %dx%dx%dx%d on %s, min of %ld runs\n", xs.n, xs.h, xs.w, xs.c, ctvk_device(ctx)->name, reps);
    printf("%-24s %-16s %10s %10s %8s %10s\n", "op", "output", "device ms", "C ref ms", "speedup", "rel. error");
    for (int j = 0; j < ctvk_op_bench_count() && !rc; j++) {
        const char *n = ctvk_op_bench_name(j, NULL);
        if (strcmp(name, "all") && strcmp(name, n)) continue;
        ctvk_op_bench_result r;
        if (ctvk_op_bench(ctx, n, xs, (int)reps, &r)) { rc = cli_fail("bench op"); break; }
        char shape[40];
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", r.out_shape.n, r.out_shape.h, r.out_shape.w, r.out_shape.c);
        printf("%-24s %-16s %10.3f %10.2f %7.1fx %10.2g", n, shape, r.device_ms, r.ref_ms,
               r.device_ms > 0 ? r.ref_ms / r.device_ms : 0.0, r.rel_err);
        if (r.gflop > 0) printf("  %.1f GFLOP/s", r.gflop / (r.device_ms * 1e-3));
        else if (r.mbytes > 0) printf("  %.1f GB/s", r.mbytes * 1e-3 / (r.device_ms * 1e-3));
        printf("\n");
        if (!(r.rel_err <= 1e-3)) {
            fprintf(stderr, "ctvk bench op: %s differs from its reference by %.3g (more than 1e-3)\n", n, r.rel_err);
            rc = 1;
        }
    }
    if (!rc && strcmp(name, "all")) {
        int found = 0;
        for (int j = 0; j < ctvk_op_bench_count(); j++) found |= !strcmp(name, ctvk_op_bench_name(j, NULL));
        if (!found) {
            fprintf(stderr, "ctvk bench op: no op '%s' (ctvk bench op --list names them)\n", name);
            rc = 1;
        }
    }
    ctvk_destroy(ctx);
    ctvk_config_free(cfg);
    return rc;
}
