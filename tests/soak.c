/* Soak test (not a ctest test: tools/soak.sh builds and runs it). Thousands of tiny training steps
 * of a small_resnet 16x16 at batch 2 through the executor, with a validation pass (forward + probs)
 * and the device statistics read back every few steps, a parameter read-back and an optimizer-state
 * round trip now and then (what a checkpoint does). The training loss must fall. Every SAMPLE steps it records the host RSS
 * (/proc/self/statm) and the device memory ctvk_get_stats reports, prints them, and fails when
 * either grows by more than a small bound after the warm-up.
 *   soak [STEPS=2000] [SAMPLE=100] [WARMUP=200]      ($SOAK_NO_VALIDATION=1: no validation passes) */
#include "ctvk/checkpoint.h"
#include "ctvk/ctvk.h"
#include "ctvk/net.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define B 2
#define S 16
#define RSS_BOUND_KB 4096.0     /* host growth allowed after warm-up */
#define DEV_BOUND 0             /* device bytes: none */

static double rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define TRY(call) do { if ((call) != CTVK_OK) { fprintf(stderr, "soak: %s: %s\n", #call, ctvk_error()); return 1; } } while (0)

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 2000, sample = argc > 2 ? atol(argv[2]) : 100,
         warmup = argc > 3 ? atol(argv[3]) : 200;
    if (steps < 1 || sample < 1 || warmup < 0) { fprintf(stderr, "usage: soak [STEPS] [SAMPLE] [WARMUP]\n"); return 2; }
    ctvk_options o;
    ctvk_options_default(&o);
    ctvk_ctx *ctx = NULL;
    TRY(ctvk_create(&o, &ctx));
    ctvk_model_config c;
    ctvk_model_config_default(&c, "small_resnet");
    c.height = c.width = S;
    c.stages = 2;
    c.blocks[0] = c.blocks[1] = 1;
    c.widths[0] = 4; c.widths[1] = 8;
    ctvk_graph g;
    memset(&g, 0, sizeof g);
    TRY(ctvk_graph_build(&c, &g));
    ctvk_net *net = NULL;
    TRY(ctvk_net_create(ctx, &g, B, 1, &net));
    float *params = malloc(g.params_total * sizeof *params), *m = malloc(g.params_total * sizeof *m),
          *v = malloc(g.params_total * sizeof *v);
    if (!params || !m || !v) return 1;
    ctvk_graph_init_params(&g, params, 1);
    TRY(ctvk_net_set_params(net, params));
    ctvk_optimizer opt = {1e-3, 0.9, 0.999, 1e-7, 0.004};
    ctvk_net_set_optimizer(net, &opt);
    /* two fixed batches: class 0 dark, class 1 bright */
    float x[2][B * S * S], labels[2][B * 2], probs[B * 2], val[B * S * S];
    uint64_t r = 12345;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < B; i++) {
            int cls = (k + i) & 1;
            labels[k][i * 2 + cls] = 1, labels[k][i * 2 + 1 - cls] = 0;
            for (int p = 0; p < S * S; p++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                x[k][i * S * S + p] = (cls ? 0.6f : -0.6f) + (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
            }
        }
    memcpy(val, x[1], sizeof val);
    printf("%8s %10s %12s %12s %10s %8s %8s\n", "step", "rss_kB", "dev_alloc_B", "dev_in_use_B", "tensors", "loss",
           "val_acc");
    double rss0 = 0, t0 = now();
    uint64_t dev0 = 0, use0 = 0, tens0 = 0;
    double rss_max_growth = 0, loss = 0, acc = 0, loss_first = NAN;
    int64_t dev_max_growth = 0;
    int failed = 0;
    unsigned char state[16];
    const char *nv = getenv("SOAK_NO_VALIDATION");      /* training alone, to tell the two apart */
    int validate = !(nv && *nv && strcmp(nv, "0"));
    for (long step = 1; step <= steps; step++) {
        int k = (int)(step & 1);
        TRY(ctvk_tensor_upload(ctvk_net_input(net), x[k], sizeof x[k]));
        TRY(ctvk_net_train_step(net, B, labels[k], (uint64_t)step));
        if (step % 10 == 0) {            /* the epoch's statistics, then validation */
            double st[3];
            TRY(ctvk_net_stats(net, st, 1));
            loss = st[2] > 0 ? st[0] / st[2] : NAN;
            if (isnan(loss_first)) loss_first = loss;
            if (validate) {
                TRY(ctvk_tensor_upload(ctvk_net_input(net), val, sizeof val));
                TRY(ctvk_net_forward(net, B));
                TRY(ctvk_net_probs(net, B, probs));
                int correct = 0;
                for (int i = 0; i < B; i++) correct += (probs[i * 2 + 1] > probs[i * 2]) == (labels[1][i * 2 + 1] > 0.5f);
                acc = (double)correct / B;
            }
        }
        if (step % 50 == 0) {            /* what a checkpoint does */
            TRY(ctvk_net_get_params(net, params));
            TRY(ctvk_net_get_optimizer_state(net, m, v, state));
            TRY(ctvk_net_set_optimizer_state(net, m, v, state));
        }
        if (step % sample == 0 || step == steps) {
            TRY(ctvk_sync(ctx));
            ctvk_stats s;
            ctvk_get_stats(ctx, &s);
            double rss = rss_kb();
            printf("%8ld %10.0f %12llu %12llu %10llu %8.4f %8.2f\n", step, rss, (unsigned long long)s.device_memory_allocated,
                   (unsigned long long)s.device_memory_in_use, (unsigned long long)s.tensors_alive, loss, acc);
            fflush(stdout);
            if (step <= warmup || rss0 == 0) {
                rss0 = rss, dev0 = s.device_memory_allocated, use0 = s.device_memory_in_use, tens0 = s.tensors_alive;
            } else {
                double gr = rss - rss0;
                int64_t gd = (int64_t)(s.device_memory_allocated - dev0);
                if (gr > rss_max_growth) rss_max_growth = gr;
                if (gd > dev_max_growth) dev_max_growth = gd;
                if (gr > RSS_BOUND_KB || gd > DEV_BOUND || s.device_memory_in_use != use0 || s.tensors_alive != tens0) {
                    fprintf(stderr, "soak: FAIL at step %ld: host RSS grew %.0f kB (bound %.0f), device allocation "
                            "%lld B, in use %llu -> %llu B, tensors %llu -> %llu since the warm-up\n", step, gr,
                            RSS_BOUND_KB, (long long)gd, (unsigned long long)use0,
                            (unsigned long long)s.device_memory_in_use, (unsigned long long)tens0,
                            (unsigned long long)s.tensors_alive);
                    failed = 1;
                }
            }
        }
    }
    double el = now() - t0;
    int finite = isfinite(loss);
    for (size_t i = 0; i < g.params_total; i++) finite &= isfinite(params[i]);
    if (!finite) { fprintf(stderr, "soak: FAIL: the loss or a parameter is not finite\n"); failed = 1; }
    /* two fixed batches are learnt: the training loss must end well below where it started (the
     * executor once let validation passes disturb training, and the loss rose) */
    if (steps >= 500 && !(loss < 0.5 * loss_first)) {
        fprintf(stderr, "soak: FAIL: the training loss went from %.4f (step 10) to %.4f\n", loss_first, loss);
        failed = 1;
    }
    ctvk_stats s;
    ctvk_get_stats(ctx, &s);
    printf("soak: %ld steps in %.1f s (%.1f steps/s); after warm-up (step %ld): host RSS growth at most %.0f kB, "
           "device allocation growth at most %lld B; %llu submits, %llu pipelines; last loss %.4f, val acc %.2f: %s\n",
           steps, el, (double)steps / el, warmup, rss_max_growth, (long long)dev_max_growth,
           (unsigned long long)s.submits, (unsigned long long)s.pipelines_created, loss, acc, failed ? "FAIL" : "ok");
    free(params), free(m), free(v);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    uint32_t vm = ctvk_validation_messages(ctx);
    ctvk_destroy(ctx);
    if (vm) { fprintf(stderr, "soak: FAIL: %u validation messages\n", vm); failed = 1; }
    return failed;
}
