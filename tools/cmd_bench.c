/* ctvk bench: speed measurements. Modes: `kernels` (conv2d forward / backward-data /
 * backward-weights GFLOP/s on ResNet50-like layer shapes) and the network of a config
 * (`ctvk bench [CONFIG]`: inference forward or training step time, GFLOP/s, device memory and
 * the per-layer profile). */
#include "ctvk/net.h"
#include "ctvk/util.h"
#include "tools/cli.h"
#include "tools/startup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_bench_help[] =
    "usage: ctvk bench [CONFIG] [--train [--micro-batch M]] [--batch N] [--reps R] [--profile] [--device D]\n"
    "                  [--set s.k=v]\n"
    "       ctvk bench --startup [CONFIG] [--checkpoint C] [--device D] [--set s.k=v]\n"
    "       ctvk bench kernels [--variant cpu|gpu|both|auto] [--batch N] [--reps N] [--layer I]\n"
    "                          [--forward] [--tile 2|4] [--device D]\n"
    "       ctvk bench op NAME|all [--shape N,H,W,C] [--reps R]   (one kernel against its C reference;\n"
    "                          ctvk bench op --help)\n\n"
    "CONFIG (or none: the paper's resnet50v2_fpn at 512x512x1): builds the network of the [model]\n"
    "section and times the inference forward of --batch samples (default 1) or, with --train, one\n"
    "training step (forward with batch statistics, softmax cross-entropy, backward, Nadam; default\n"
    "batch 14): wall time from recording to completion, min and median of --reps (default 3) after\n"
    "one warm-up. GFLOP/s count 2 FLOPs per multiply-add of the convolutions and dense layers of the\n"
    "forward; a training step counts 3x the forward (the usual convention: backward-data and\n"
    "backward-weights each cost about one forward). Prints the device memory peak next to what\n"
    "parameters, gradients, optimizer state and activations need, and with --profile the device\n"
    "time per layer (timestamp queries; the profile adds a little overhead per dispatch), sorted, and\n"
    "per operation type. Input and parameters are random (speed does not depend on them).\n"
    "--micro-batch M (with --train) runs the step as [train] micro_batch does: pieces of at most M samples\n"
    "whose gradients add up before one Nadam step, so the device holds the activations of M samples only.\n"
    "Under MPI (mpirun -np N ctvk bench --train), every rank runs the step on its device and the gradients\n"
    "are summed over the ranks as training does; rank 0 prints, with the all-reduce's share of the time.\n"
    "--bind-limit BYTES lowers the bytes one binding may span (tests of batch slicing).\n\n"
    "--startup: where the start of an inference run goes, phase by phase, as `ctvk infer` runs it: the\n"
    "process start and exit (a child running `ctvk --version`), device setup, network and parameters\n"
    "(or, with --checkpoint, reading C), the first slice classified (a synthetic slice at the network's\n"
    "input size: slice read and the first dispatches, where lavapipe compiles), with --checkpoint the\n"
    "wait for the model identity (its SHA-256, on a thread from the start), the same slice again\n"
    "(warm) and the shutdown (caches written); the pipelines created,\n"
    "their creation time and the slowest, and the entries Mesa's shader cache gained. For cold starts\n"
    "point MESA_SHADER_CACHE_DIR and CTVK_CACHE_DIR at empty folders.\n\n"
    "kernels: runs conv2d forward (bias + ReLU epilogue), backward-data and backward-weights on\n"
    "ResNet50 layer shapes (224x224 input; then the costliest shapes of resnet50v2_fpn at 512x512)\n"
    "and prints device GFLOP/s from timestamp queries, the best of --reps (default 5) repetitions\n"
    "after one warm-up. --variant picks the kernel family (default: the device's own); --batch sets\n"
    "N (default 1); --layer runs only layer I (0-based); --forward times the forward pass only.\n"
    "3x3 stride-1 layers on the CPU kernels also time the Winograd F(m x m, 3x3) forward and\n"
    "backward-data (transforms included; m = --tile, default 4), in GFLOP/s of the direct\n"
    "convolution's work.\n"
    "On lavapipe set LP_NUM_THREADS to the number of cores.\n";

static int bench_kernels(int argc, char **argv)
{
    cli_common com = {0};
    const char *variant = "auto";
    long batch = 1, reps = 5, only = -1, tile = 4;
    int npass = 3;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("bench", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--forward")) { npass = 1; i++; continue; }
        long *num = !strcmp(argv[i], "--batch") ? &batch : !strcmp(argv[i], "--reps") ? &reps
                    : !strcmp(argv[i], "--layer") ? &only : !strcmp(argv[i], "--tile") ? &tile : NULL;
        if (num && i + 1 < argc) {
            char *end;
            *num = strtol(argv[i + 1], &end, 10);
            if (*end || *num < (num == &only ? 0 : 1) || *num > (num == &only ? ctvk_conv_bench_count() - 1 : 1024) ||
                (num == &tile && tile != 2 && tile != 4))
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
        printf("  %-32s %9s %9s %9s %9s %9s   GFLOP/s (Winograd: direct-conv FLOPs / time)\n", "layer",
               "forward", "bwd-data", "bwd-wgt", "winograd", "wino-bwd");
        for (int i = 0; i < ctvk_conv_bench_count(); i++) {
            if (only >= 0 && i != only) continue;
            double g[5] = {0, 0, 0, 0, 0};
            if (ctvk_conv_bench(ctx, i, (int)batch, (int)reps, npass, (int)tile, g)) {
                ctvk_destroy(ctx);
                return cli_fail("bench");
            }
            char wg[2][16] = {"-", "-"};
            for (int k = 0; k < 2; k++)
                if (g[3 + k] > 0) snprintf(wg[k], sizeof wg[k], "%.1f", g[3 + k]);
            if (npass == 1) printf("  %-32s %9.1f %9s %9s %9s\n", ctvk_conv_bench_name(i), g[0], "", "", wg[0]);
            else printf("  %-32s %9.1f %9.1f %9.1f %9s %9s\n", ctvk_conv_bench_name(i), g[0], g[1], g[2], wg[0], wg[1]);
            fflush(stdout);
        }
        ctvk_destroy(ctx);
    }
    return 0;
}

/* ---------------------------------------------------------------- networks */
/* Forward FLOPs per sample: 2 per multiply-add of every conv and dense layer. */
static double graph_flops(const ctvk_graph *g, double *conv_part)
{
    double total = 0, conv = 0;
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        if (l->op == CTVK_OP_CONV) {
            double cin = g->layers[l->in[0]].out.c;
            double f = 2.0 * l->out.h * l->out.w * (double)l->out.c * l->kh * l->kw * cin;
            total += f;
            conv += f;
        } else if (l->op == CTVK_OP_DENSE) {
            ctvk_shape s = g->layers[l->in[0]].out;
            total += 2.0 * (double)s.h * s.w * s.c * l->out.c;
        }
    }
    if (conv_part) *conv_part = conv;
    return total;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_row(const void *a, const void *b)
{
    double x = ((const ctvk_profile_row *)a)->ms, y = ((const ctvk_profile_row *)b)->ms;
    return x > y ? -1 : x < y;
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static void print_profile(ctvk_ctx *ctx, const ctvk_graph *g, double wall_ms)
{
    ctvk_profile_row *rows;
    int n;
    double total;
    if (ctvk_profile_get(ctx, &rows, &n, &total)) { fprintf(stderr, "ctvk bench: %s\n", ctvk_error()); return; }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += rows[i].ms;
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    /* per operation type: the label is a layer name, "NAME/backward", or a step like "nadam" */
    double by_kind[2][CTVK_OP_COUNT + 1] = {{0}};    /* the last: steps that are no layer ("nadam") */
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s", rows[i].label);
        char *slash = strstr(name, "/backward");
        int bwd = slash != NULL;
        if (slash) *slash = 0;
        int l = ctvk_graph_find(g, name);
        int k = l >= 0 ? (int)g->layers[l].op : CTVK_OP_COUNT;
        by_kind[bwd][k] += rows[i].ms;
    }
    printf("\nper layer (device time of the last repetition, timestamp profile; %.1f ms in dispatches, %.1f ms "
           "first to last timestamp, %.1f ms wall):\n", sum, total, wall_ms);
    printf("  %-40s %6s %10s %7s\n", "label", "disp.", "ms", "%");
    for (int i = 0; i < n; i++)
        printf("  %-40s %6u %10.3f %6.2f%%\n", rows[i].label, rows[i].dispatches, rows[i].ms,
               sum > 0 ? 100.0 * rows[i].ms / sum : 0.0);
    printf("\nper operation type (forward / backward ms, %% of the dispatch total):\n");
    for (int k = 0; k <= CTVK_OP_COUNT; k++) {
        if (by_kind[0][k] + by_kind[1][k] <= 0) continue;
        printf("  %-12s %10.1f %10.1f %6.1f%%\n", k < CTVK_OP_COUNT ? ctvk_op_short_name((ctvk_op)k) : "other",
               by_kind[0][k], by_kind[1][k],
               sum > 0 ? 100.0 * (by_kind[0][k] + by_kind[1][k]) / sum : 0.0);
    }
    free(rows);
}

static int bench_startup(const char *config, const char *checkpoint, const cli_common *com)
{
    char mesa_dir[4200];
    long before = startup_mesa_entries(mesa_dir, sizeof mesa_dir);
    startup_run r;
    int rc = startup_run_once("bench", config, checkpoint, com, 2, 1, &r);
    if (rc) return rc;
    long after = startup_mesa_entries(mesa_dir, sizeof mesa_dir);
    double process = startup_process_ms();
    double total = process + r.device_ms + r.checkpoint_ms + r.net_ms + r.params_ms + r.first_ms + r.identity_ms +
                   r.destroy_ms;
    printf("startup: %s %dx%d, batch %d, one slice, on %s\n", r.arch, r.size, r.size, r.batch, r.device);
    printf("  %-28s %10.1f ms  (ctvk --version: loading, static initialisers, exit)\n", "process start and exit",
           process);
    printf("  %-28s %10.1f ms\n", "device setup", r.device_ms);
    if (checkpoint) printf("  %-28s %10.1f ms\n", "checkpoint read", r.checkpoint_ms);
    else {
        printf("  %-28s %10.1f ms\n", "network", r.net_ms);
        printf("  %-28s %10.1f ms\n", "parameters", r.params_ms);
    }
    printf("  %-28s %10.1f ms  (slice read, first dispatches)\n", "first slice", r.first_ms);
    if (checkpoint) printf("  %-28s %10.1f ms  (its SHA-256, %s)\n", "model identity wait", r.identity_ms,
                           r.sha256_remembered ? "remembered from earlier in this boot" : "on a thread from the start");
    printf("  %-28s %10.1f ms  (warm)\n", "second slice", r.second_ms);
    printf("  %-28s %10.1f ms  (caches written)\n", "shutdown", r.destroy_ms);
    printf("  %-28s %10.1f ms  = %.2f x the warm slice\n", "one infer run", total,
           r.second_ms > 0 ? total / r.second_ms : 0.0);
    printf("pipelines: %llu created (%llu in setup, %llu more by the first slice, %llu by the second), %.1f ms in "
           "vkCreateComputePipelines, %llu from ctvk's pipeline cache (%s)\n", (unsigned long long)r.pipelines,
           (unsigned long long)r.pipelines_setup, (unsigned long long)(r.pipelines_first - r.pipelines_setup),
           (unsigned long long)(r.pipelines - r.pipelines_first), r.pipeline_ms, (unsigned long long)r.cache_hits,
           r.cache_state > 0 ? "read" : r.cache_state < 0 ? r.cache_note : "no file");
    if (r.helpers)
        printf("  %llu compile helpers built the kernels while the checkpoint was read ([device] compile_helpers), "
               "%.1f ms waited for them\n", (unsigned long long)r.helpers, r.helpers_wait_ms);
    if (r.prewarmed)
        printf("  %llu of them created ahead on ctvk_prewarm's worker thread (%s), %.1f ms waited for it\n",
               (unsigned long long)r.prewarmed, r.helpers ? "the helpers' list" : "the last run's list",
               r.prewarm_wait_ms);
    for (int i = 0; i < r.nslowest; i++) printf("  %8.1f ms  %s\n", r.slowest_ms[i], r.slowest[i]);
    if (r.weights_note[0])
        printf("weights cache: %s %s%s\n", r.weights_state == 1 ? "mapped" : r.weights_state == 2 ? "new entry" : "miss,",
               r.weights_note, r.weights_trusted ? " (its checksums verified earlier in this boot)" : "");
    if (r.nlayers) {
        printf("first slice, slowest layers (device time from timestamps, %.1f ms in all; on lavapipe with "
               "the kernels' compilation at their first dispatch):\n", r.layers_total_ms);
        for (int i = 0; i < r.nlayers; i++) printf("  %8.1f ms  %s\n", r.layer_ms[i], r.layer[i]);
    }
    if (after >= 0)
        printf("Mesa shader cache %s: %ld entries before, %ld after (+%ld)\n", mesa_dir, before < 0 ? 0 : before,
               after, after - (before < 0 ? 0 : before));
    else printf("Mesa shader cache: none (%s)\n", mesa_dir);
    return 0;
}

static int bench_network(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    long batch = 0, reps = 3, limit = 0, micro = 0;
    int train = 0, reported = 0, startup = 0;
    const char *checkpoint = NULL;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("bench", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--train")) { train = 1; i++; continue; }
        if (!strcmp(argv[i], "--startup")) { startup = 1; i++; continue; }
        if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc) { checkpoint = argv[i + 1]; i += 2; continue; }
        long *num = !strcmp(argv[i], "--batch") ? &batch : !strcmp(argv[i], "--reps") ? &reps
                    : !strcmp(argv[i], "--bind-limit") ? &limit : !strcmp(argv[i], "--micro-batch") ? &micro : NULL;
        if (num && i + 1 < argc) {
            char *end;
            *num = strtol(argv[i + 1], &end, 10);
            if (*end || *num < 1 || (num != &limit && *num > 4096))
                return cli_usage_error("bench", "%s: out of range", argv[i]);
            i += 2;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("bench", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    if (checkpoint && !startup) return cli_usage_error("bench", "--checkpoint goes with --startup");
    if (startup && (train || batch || micro || limit))
        return cli_usage_error("bench", "--startup measures inference as infer runs it: no --train, --batch, "
                               "--micro-batch or --bind-limit");
    if (startup) return bench_startup(config, checkpoint, &com);
    if (!batch) batch = train ? 14 : 1;
    if (micro && !train) return cli_usage_error("bench", "--micro-batch goes with --train");
    if (micro >= batch) micro = 0;
    long cap = micro ? micro : batch;      /* the samples the net holds at once */
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("bench", config, &com, &cfg);
    if (rc) return rc;
    ctvk_model_config mc;
    ctvk_graph g;
    ctvk_options o;
    if (ctvk_model_config_load(cfg, &mc) || ctvk_graph_build(&mc, &g)) {
        ctvk_config_free(cfg);
        return cli_fail("bench");
    }
    rc = cli_device_options("bench", cfg, &com, &o);
    ctvk_config_free(cfg);
    if (rc) { ctvk_graph_free(&g); return rc; }
    ctvk_ctx *ctx = NULL;
    ctvk_net *net = NULL;
    float *buf = NULL;
    double *times = calloc((size_t)reps, sizeof *times), allreduce_ms = 0;
    rc = 1;
    if (ctvk_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) goto done;   /* rank 0 reports */
    if (!times || ctvk_create(&o, &ctx)) goto done;
    const ctvk_device_info *dev = ctvk_device(ctx);
    ctvk_stats s0, s1;
    ctvk_get_stats(ctx, &s0);
    if (ctvk_net_create(ctx, &g, (int)cap, train, &net)) {
        /* say what it would need, and the largest batch that would fit */
        char msg[CTVK_ERROR_MAX];
        snprintf(msg, sizeof msg, "%s", ctvk_error());
        ctvk_net_mem pm;
        if (!ctvk_net_plan_memory(ctx, &g, (int)cap, train, &pm)) {
            printf("%s of batch %ld needs %.1f MiB by plan: parameters %.1f, gradients %.1f, optimizer %.1f, "
                   "activations %.1f (live peak %.1f), activation gradients %.1f (live peak %.1f), other %.1f\n",
                   train ? "a training step" : "inference", cap, mib(pm.total), mib(pm.params), mib(pm.grads),
                   mib(pm.optimizer), mib(pm.act_pool), mib(pm.act_live_peak), mib(pm.grad_pool),
                   mib(pm.grad_live_peak), mib(pm.other));
            long fit = 0;
            for (long b = cap - 1; b >= 1 && !fit; b--) {
                ctvk_net_mem q;
                if (!ctvk_net_plan_memory(ctx, &g, (int)b, train, &q) &&
                    q.total + (q.total >> 5) <= (uint64_t)((double)dev->heap_size[0] * 0.9))
                    fit = b;
            }
            if (fit) printf("the largest batch whose plan fits 90%% of the %.0f MiB heap: about %ld\n",
                            mib(dev->heap_size[0]), fit);
        }
        fprintf(stderr, "ctvk bench: %s\n", msg);
        reported = 1;
        goto done;
    }
    if (limit) ctvk_net_set_bind_limit(net, (uint64_t)limit);
    size_t in_count = (size_t)cap * mc.height * mc.width * mc.channels;
    size_t nb = in_count > g.params_total ? in_count : g.params_total;
    if (nb < (size_t)batch * mc.classes) nb = (size_t)batch * mc.classes;
    buf = malloc(nb * sizeof *buf);
    if (!buf) { fprintf(stderr, "ctvk bench: out of host memory\n"); goto done; }
    uint64_t rng = 88172645463325252ull;
    for (size_t i = 0; i < g.params_total; i++) {       /* small random weights, unit BN variances */
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        buf[i] = (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5) * 0.02f;
    }
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            const ctvk_param *q = &g.layers[i].params[k];
            if (!strcmp(q->name, "gamma:0") || !strcmp(q->name, "moving_variance:0"))
                for (size_t j = 0; j < q->count; j++) buf[q->offset + j] = 1.0f;
        }
    if (ctvk_net_set_params(net, buf)) goto done;
    for (size_t i = 0; i < in_count; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        buf[i] = (float)((double)(rng >> 11) / 9007199254740992.0);
    }
    if (ctvk_tensor_upload(ctvk_net_input(net), buf, in_count * sizeof *buf)) goto done;
    memset(buf, 0, (size_t)batch * mc.classes * sizeof *buf);
    for (long i = 0; i < batch; i++) buf[i * mc.classes + i % mc.classes] = 1.0f;

    double conv_flops, flops = graph_flops(&g, &conv_flops) * (double)batch * (train ? 3.0 : 1.0);
    printf("device: %s, %s kernels%s\n", dev->name, ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU ? "CPU" : "GPU",
           dev->type == CTVK_DEVICE_CPU && !getenv("LP_NUM_THREADS") ? " (LP_NUM_THREADS unset: set it to the cores)"
                                                                      : "");
    printf("network: %s (head %s) %dx%dx%d, %zu parameters; %s, batch %ld", mc.arch, g.cfg.head, mc.height,
           mc.width, mc.channels, g.params_count, train ? "training step (forward, loss, backward, Nadam)"
                                                        : "inference forward", batch);
    if (micro) printf(" in micro-batches of up to %ld", micro);
    printf("\n");
    ctvk_net_plan pi;
    ctvk_net_plan_info(net, &pi);
    printf("plan: %d BN folded into convs, %d Winograd convs (%d backward-data), %d residual adds and %d BN in conv "
           "epilogues, %d split-K dense\n", pi.folded_bn, pi.winograd, pi.winograd_bwd, pi.fused_add, pi.fused_bn,
           pi.splitk_dense);
    ctvk_get_stats(ctx, &s1);
    ctvk_net_mem m;
    ctvk_net_memory(net, &m);
    printf("device memory: peak %.1f MiB in tensors (%.1f MiB before the net), %.1f MiB in blocks; the net holds "
           "%.1f MiB:\n", mib(s1.device_memory_peak), mib(s0.device_memory_in_use), mib(s1.device_memory_allocated),
           mib(m.total));
    printf("  parameters %.1f, gradients %.1f, optimizer state %.1f MiB\n", mib(m.params), mib(m.grads),
           mib(m.optimizer));
    printf("  activations: %.1f MiB planned, %.1f MiB live at most%s\n", mib(m.act_pool), mib(m.act_live_peak),
           train ? " (incl. those kept for backward)" : "");
    if (train)
        printf("  activation gradients: %.1f MiB planned, %.1f MiB live at most\n", mib(m.grad_pool),
               mib(m.grad_live_peak));
    printf("  other (input, BN statistics, argmax, workspace): %.1f MiB\n", mib(m.other));
    printf("  lower bound (parameters + state + live peaks): %.1f MiB\n",
           mib(m.params + m.grads + m.optimizer + m.act_live_peak + m.grad_live_peak + m.other));
    for (long r = 0; r <= reps; r++) {              /* r = 0: warm-up (shader compilation) */
        if (r == reps && o.profile) ctvk_profile_reset(ctx);
        double t0 = (1e3 * ctvk_now());
        ctvk_status st = CTVK_OK;
        if (!train) st = ctvk_net_forward(net, (int)batch);
        for (long a = 0; train && !st && a < batch; a += cap) {   /* one piece unless micro-batched */
            ctvk_step_part part = {(int)a, (int)batch, a > 0};
            st = ctvk_net_backprop(net, (int)(batch - a < cap ? batch - a : cap), buf + a * mc.classes,
                                   (uint64_t)r + 1, &part);
        }
        if (train && !st && ctvk_dist_enabled()) {    /* data parallel: the gradient sum over the ranks */
            st = ctvk_sync(ctx);                       /* the backward pass is done: time the sum alone */
            double z = 0;                              /* ... once every rank is there */
            if (!st) st = ctvk_dist_sum_f64(&z, 1);
            double a0 = 1e3 * ctvk_now();
            if (!st) st = ctvk_net_sum_gradients(net);
            if (r == reps) allreduce_ms = 1e3 * ctvk_now() - a0;
        }
        if (train && !st) st = ctvk_net_apply_gradients(net);
        if (st || ctvk_sync(ctx)) goto done;
        double t = (1e3 * ctvk_now()) - t0;
        if (r == 0) printf("warm-up (compiles shaders): %.1f ms\n", t);
        else times[r - 1] = t;
    }
    double last = times[reps - 1];
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    int nsl, maxsl;
    nsl = ctvk_net_sliced_layers(net, &maxsl);
    printf("time: min %.1f ms, median %.1f ms over %ld repetitions (%.2f ms per sample)%s\n", times[0],
           times[reps / 2], reps, times[0] / (double)batch, o.profile ? " [with the timestamp profile on]" : "");
    printf("work: %.2f GFLOP per %s (%.2f GFLOP forward per sample, %.0f%% in convolutions%s) -> %.1f GFLOP/s\n",
           flops * 1e-9, train ? "step" : "pass", flops * 1e-9 / (double)batch / (train ? 3.0 : 1.0),
           100.0 * conv_flops / (graph_flops(&g, NULL) > 0 ? graph_flops(&g, NULL) : 1),
           train ? "; training = 3x forward" : "", flops / (times[0] * 1e-3) * 1e-9);
    if (allreduce_ms > 0)
        printf("all-reduce over %d ranks of %.1f MiB of gradients (%s): %.1f ms in the last step\n", ctvk_dist_size(),
               mib((uint64_t)g.params_total * 4), dev->unified_memory ? "in place in unified memory"
               : "download, MPI_Allreduce, upload", allreduce_ms);
    if (nsl) printf("batch slicing: %d layers run in up to %d sample slices (bindings above %.0f MiB)\n", nsl, maxsl,
                    mib(ctvk_net_bind_limit(net)));
    if (o.profile) print_profile(ctx, &g, last);
    rc = 0;
done:
    if (rc && !reported) cli_fail("bench");
    free(buf);
    free(times);
    ctvk_net_destroy(net);
    ctvk_destroy(ctx);
    ctvk_graph_free(&g);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "kernels")) return bench_kernels(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "op")) return cmd_bench_op(argc - 1, argv + 1);
    return bench_network(argc, argv);
}
