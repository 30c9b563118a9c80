/* Compile helpers: on a cold start, lavapipe compiles every kernel with LLVM at its first dispatch,
 * one after another on the device's single queue thread (5.2 s for the FPN at 512x512 against
 * 1.1 s for its forward pass). Helpers spread that work over other cores while the main thread
 * reads the checkpoint: each is a dry context (runtime/vk/internal.h) on its own VkDevice of the
 * same physical device, which builds the same network at the same batch and runs what
 * ctvk_classify_slices runs, dispatching with zero workgroups the pipelines it claims first (one
 * at a time, the next while the others compile: runtime/vk/internal.h) and nothing else. The
 * driver keeps what they compiled in its disk cache under the keys the main context's dispatches
 * look up (the view_keys quirk makes those keys independent of tensor sizes and contents), so the
 * main context, which joins its helpers before its first submit, loads every kernel instead of
 * compiling it; their list of pipelines goes to ctvk_prewarm's worker, which creates the main
 * context's ahead, as in a warm start.
 *
 * Helpers start only where they pay: [device] compile_helpers > 0, a driver with the
 * compiles_at_dispatch quirk, a cold start (ctvk_prewarm found no list of this workload), and no
 * fault injection (CTVK_FAULT: its counts stay those of the main thread's work). What a helper
 * fails at, it leaves to the main context, which then compiles the kernel itself. */
#include "runtime/train/helpers.h"
#include "net/train_ops.h"
#include "runtime/vk/internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HELPERS 8
#define MAX_CLAIMS 1024   /* pipelines past it are compiled by every helper that meets them */

typedef struct helper {
    pthread_t thread;
    int started;
    ctvk_ctx *main;
    ctvk_model_config mc;
    int batch;
    struct helpers *all;
    char (*keys)[160];   /* its table's pipelines when it is done */
    int nkeys;
} helper;

typedef struct helpers {
    int n;
    helper h[MAX_HELPERS];
    atomic_int claimed[MAX_CLAIMS];   /* by table ordinal: a helper compiles it */
} helpers;

/* The dry contexts' dry_claim: the first helper to ask for a pipeline compiles it. */
static int claim(void *arg, int ordinal)
{
    helpers *hs = arg;
    return ordinal < 0 || ordinal >= MAX_CLAIMS || atomic_exchange(&hs->claimed[ordinal], 1) == 0;
}

/* What ctvk_net_from_checkpoint and ctvk_classify_slices record for one batch of n images. */
static ctvk_status rehearse(ctvk_ctx *ctx, const ctvk_graph *g, int batch)
{
    ctvk_net *net = NULL;
    ctvk_tensor *raw = NULL;
    float *probs = calloc((size_t)(g->cfg.classes > 0 ? g->cfg.classes : 1), sizeof *probs);
    float *params = calloc(g->params_total ? g->params_total : 1, sizeof *params);   /* never read: dry */
    ctvk_status s = params && probs ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) s = ctvk_net_create(ctx, g, batch, 0, &net);
    if (!s) s = ctvk_net_set_params(net, params);
    ctvk_shape bs = {batch, g->cfg.height, g->cfg.width, 1};
    if (!s) s = ctvk_tensor_create(ctx, CTVK_U16, bs, "eval_raw", &raw);
    /* one image (a single slice, a short last batch), then a whole batch */
    for (int k = 0; !s && k < (batch > 1 ? 2 : 1); k++) {
        int n = k ? batch : 1;
        s = ctvk_convert_u16_to_f32(ctx, raw, 1.0f, 0.0f, ctvk_net_input(net));
        if (!s) s = ctvk_net_forward(net, n);
        if (!s) s = ctvk_net_probs(net, 1, probs);
    }
    if (!s) s = ctvk_sync(ctx);
    ctvk_tensor_destroy(raw);
    ctvk_net_destroy(net);
    free(params);
    free(probs);
    return s;
}

static void *helper_main(void *arg)
{
    helper *h = arg;
    ctvk_ctx *ctx = NULL;
    ctvk_graph g;
    memset(&g, 0, sizeof g);
    if (ctvk__ctx_create_dry(h->main, claim, h->all, &ctx) == CTVK_OK && ctvk_graph_build(&h->mc, &g) == CTVK_OK) {
        (void)rehearse(ctx, &g, h->batch);   /* a failure leaves its kernels to the main context */
        h->keys = ctx->npipelines ? malloc((size_t)ctx->npipelines * sizeof *h->keys) : NULL;
        for (int i = 0; h->keys && i < ctx->npipelines; i++) memcpy(h->keys[i], ctx->pipelines[i]->key, sizeof h->keys[i]);
        h->nkeys = h->keys ? ctx->npipelines : 0;
    }
    ctvk_graph_free(&g);
    ctvk_destroy(ctx);
    return NULL;
}

static void join(ctvk_ctx *ctx)
{
    helpers *hs = ctx->helpers;
    if (!hs) return;
    double t0 = ctvk__now();
    int most = 0;
    for (int i = 0; i < hs->n; i++) {
        if (hs->h[i].started) pthread_join(hs->h[i].thread, NULL);
        if (hs->h[i].nkeys > hs->h[most].nkeys) most = i;
    }
    ctx->stats.compile_helpers_wait_ns += (uint64_t)((ctvk__now() - t0) * 1e9);
    /* the kernels are in the driver's cache; the main context's pipelines are created ahead from
     * the helpers' list (ctvk_prewarm's worker) while it uploads the parameters */
    ctvk__prewarm_list(ctx, hs->h[most].keys, hs->h[most].nkeys);
    for (int i = 0; i < hs->n; i++) free(hs->h[i].keys);
    free(hs);
    ctx->helpers = NULL;
}

int ctvk__compile_helpers_wanted(const ctvk_ctx *ctx)
{
    int n = ctx->opt.compile_helpers < 0 ? 2 : ctx->opt.compile_helpers;
    if (n > MAX_HELPERS) n = MAX_HELPERS;
    const char *fault = getenv("CTVK_FAULT");
    if (n <= 0 || ctx->dry || ctx->helpers || (fault && *fault)) return 0;
    if (!ctvk__quirks_compiles_at_dispatch(&ctx->info) || !ctvk__prewarm_cold(ctx)) return 0;
    return n;
}

void ctvk__compile_helpers_start(ctvk_ctx *ctx, const ctvk_model_config *mc, int batch)
{
    int n = ctvk__compile_helpers_wanted(ctx);
    if (!n) return;
    helpers *hs = calloc(1, sizeof *hs);
    if (!hs) return;
    for (int i = 0; i < MAX_CLAIMS; i++) atomic_init(&hs->claimed[i], 0);
    ctx->helpers = hs;
    ctx->helpers_join = join;
    for (int i = 0; i < n; i++) {
        helper *h = &hs->h[i];
        h->main = ctx;
        h->mc = *mc;
        h->batch = batch;
        h->all = hs;
        h->started = pthread_create(&h->thread, NULL, helper_main, h) == 0;
        hs->n++;
        ctx->stats.compile_helpers += (uint64_t)h->started;
    }
}
