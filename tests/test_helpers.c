/* Compile helpers (runtime/train/helpers.c), from empty caches: on a driver that compiles at the
 * first dispatch (lavapipe) ctvk_net_from_checkpoint starts [device] compile_helpers of them; the
 * answers are bit for bit those of a run without helpers, the driver's cache ends with the same
 * kernels (none compiled twice under another key, none that the run does not use), the validation
 * layer says nothing about their devices, and their list of pipelines reaches ctvk_prewarm's
 * worker (the pipelines created after they are joined come from it); the next run of the workload
 * is warm: no helpers, every pipeline created ahead. Elsewhere no helper starts. */
#include "tests/check.h"
#include "ctvk/checkpoint.h"
#include "ctvk/net.h"
#include "ctvk/pipeline.h"
#include "ctvk/util.h"
#include "net/train_ops.h"
#include "runtime/vk/internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIZE = 32, BATCH = 4 };

typedef struct run_result {
    float probs[2][BATCH];   /* one image, then the whole batch */
    uint64_t helpers, prewarmed;
    int pipelines, compiles_at_dispatch;
    int setup_pipelines;     /* created by the end of ctvk_net_from_checkpoint */
} run_result;

/* One infer-shaped run with Mesa's cache in mesa and ctvk's in cache: the network from the
 * checkpoint, then what ctvk_classify_slices records (one image, then a whole batch). */
static void run(const char *ckpt, const char *mesa, const char *cache, int helpers, run_result *r)
{
    memset(r, 0, sizeof *r);
    setenv("MESA_SHADER_CACHE_DIR", mesa, 1);   /* read when the context's instance is created */
    ctvk_options o;
    ctvk_options_default(&o);
    o.cache_dir = cache;
    o.compile_helpers = helpers;
    ctvk_ctx *ctx = check_ctx(&o);
    ctvk_graph g = {0};
    ctvk_net *net = NULL;
    ctvk_tensor *raw = NULL;
    CHECK(ctvk_prewarm(ctx, "test_helpers") == CTVK_OK, "prewarm: %s", ctvk_error());
    CHECK(ctvk_net_from_checkpoint(ctx, ckpt, BATCH, &g, &net) == CTVK_OK, "network: %s", ctvk_error());
    /* the worker is through its list before the passes (its timing is the scheduler's): every
     * pipeline the passes create then comes from it */
    r->setup_pipelines = ctvk_pipeline_count(ctx);
    (void)ctvk__prewarm_join(ctx);
    static uint16_t px[BATCH * SIZE * SIZE];
    for (int i = 0; i < BATCH * SIZE * SIZE; i++) px[i] = (uint16_t)((i * 7919u) % 4096u);
    CHECK(net && ctvk_tensor_create(ctx, CTVK_U16, (ctvk_shape){BATCH, SIZE, SIZE, 1}, "raw", &raw) == CTVK_OK &&
          ctvk_tensor_upload(raw, px, sizeof px) == CTVK_OK, "input: %s", ctvk_error());
    for (int k = 0; net && raw && k < 2; k++) {
        int n = k ? BATCH : 1;
        CHECK(ctvk_convert_u16_to_f32(ctx, raw, 1.0f / 4096, 0.0f, ctvk_net_input(net)) == CTVK_OK &&
              ctvk_net_forward(net, n) == CTVK_OK && ctvk_net_probs(net, n, r->probs[k]) == CTVK_OK,
              "pass of %d: %s", n, ctvk_error());
    }
    ctvk_stats st;
    ctvk_get_stats(ctx, &st);
    r->helpers = st.compile_helpers;
    r->prewarmed = st.pipelines_prewarmed;
    r->pipelines = ctvk_pipeline_count(ctx);
    r->compiles_at_dispatch = ctvk__quirks_compiles_at_dispatch(&ctx->info);
    ctvk_tensor_destroy(raw);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    check_ctx_done(ctx);   /* no validation message, from the helpers' devices either; caches written */
}

int main(void)
{
    char *dir = check_tmpdir("helpers");
    if (!dir) { CHECK(0, "a temporary folder: %s", strerror(errno)); return check_done("test_helpers"); }
    const char *old = getenv("MESA_SHADER_CACHE_DIR");
    char *saved = old ? strdup(old) : NULL;
    char ckpt[4200], mesa1[4200], mesa2[4200], cache1[4200], cache2[4200], sub[4300];
    snprintf(ckpt, sizeof ckpt, "%s/net.h5", dir);
    snprintf(mesa1, sizeof mesa1, "%s/mesa1", dir);
    snprintf(mesa2, sizeof mesa2, "%s/mesa2", dir);
    snprintf(cache1, sizeof cache1, "%s/ctvk1", dir);
    snprintf(cache2, sizeof cache2, "%s/ctvk2", dir);
    ctvk_model_config mc;
    check_tiny_resnet(&mc, SIZE);
    CHECK(check_write_checkpoint(ckpt, &mc) == CTVK_OK, "checkpoint: %s", ctvk_error());

    run_result with, without, again;
    run(ckpt, mesa1, cache1, 2, &with);   /* cold, two helpers */
    snprintf(sub, sizeof sub, "%s/mesa_shader_cache", mesa1);
    long e_with = check_cache_entries(sub);
    run(ckpt, mesa2, cache2, 0, &without);   /* cold, none */
    snprintf(sub, sizeof sub, "%s/mesa_shader_cache", mesa2);
    long e_without = check_cache_entries(sub);
    run(ckpt, mesa1, cache1, 2, &again);   /* warm: the first run's caches */
    snprintf(sub, sizeof sub, "%s/mesa_shader_cache", mesa1);
    long e_again = check_cache_entries(sub);
    printf("cold with helpers: %llu helpers, %d pipelines, %ld Mesa entries; without: %ld; warm: %llu helpers, "
           "%llu of %d pipelines created ahead, %ld entries\n", (unsigned long long)with.helpers, with.pipelines,
           e_with, e_without, (unsigned long long)again.helpers, (unsigned long long)again.prewarmed,
           again.pipelines, e_again);

    uint64_t want = with.compiles_at_dispatch ? 2 : 0;
    CHECK(with.helpers == want, "cold start: %llu helpers started, want %llu", (unsigned long long)with.helpers,
          (unsigned long long)want);
    CHECK(without.helpers == 0, "compile_helpers = 0 started %llu", (unsigned long long)without.helpers);
    CHECK(again.helpers == 0, "warm start: %llu helpers started", (unsigned long long)again.helpers);
    CHECK(!memcmp(with.probs, without.probs, sizeof with.probs) && !memcmp(with.probs, again.probs, sizeof with.probs),
          "the answers differ with helpers: %.9g %.9g / %.9g", with.probs[1][BATCH - 1], without.probs[1][BATCH - 1],
          again.probs[1][BATCH - 1]);
    CHECK(with.probs[1][0] > 0 && with.probs[1][0] < 1, "P(covid) %g", with.probs[1][0]);
    CHECK(with.pipelines == without.pipelines, "%d pipelines with helpers, %d without", with.pipelines,
          without.pipelines);
    CHECK(again.pipelines > again.setup_pipelines &&
          again.prewarmed >= (uint64_t)(again.pipelines - again.setup_pipelines),
          "warm start: %llu of the passes' %d pipelines created ahead", (unsigned long long)again.prewarmed,
          again.pipelines - again.setup_pipelines);
    if (with.compiles_at_dispatch) {
        CHECK(e_with > 0 && e_with == e_without, "Mesa's cache: %ld kernels with helpers, %ld without", e_with,
              e_without);
        CHECK(e_again == e_with, "the warm run compiled %ld kernels", e_again - e_with);
        /* the passes' pipelines, created after the helpers were joined, came from their list */
        CHECK(with.pipelines > with.setup_pipelines &&
              with.prewarmed >= (uint64_t)(with.pipelines - with.setup_pipelines),
              "cold start: %llu of the passes' %d pipelines created ahead from the helpers' list",
              (unsigned long long)with.prewarmed, with.pipelines - with.setup_pipelines);
    }

    if (saved) setenv("MESA_SHADER_CACHE_DIR", saved, 1);
    else unsetenv("MESA_SHADER_CACHE_DIR");
    free(saved);
    check_remove_tree(dir);
    return check_done("test_helpers");
}
