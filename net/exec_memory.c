/* The executor's memory: the budget check before anything is allocated, the allocation of the
 * planned buffers and per-layer tensors, and the accounting reports of the bench and the tests. */
#include "net/exec_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ctvk_status make(ctvk_net *net, ctvk_dtype dt, ctvk_shape s, const char *name, ctvk_tensor **t)
{
    CTVK_TRY(ctvk_tensor_create(net->ctx, dt, s, name, t));
    net->bytes += ctvk_tensor_bytes(*t);
    return CTVK_OK;
}

static ctvk_shape vec(size_t n) { return (ctvk_shape){1, 1, 1, (int)n}; }

/* The one memory accounting of a plan: the bytes of every tensor ctvk__exec_alloc_all makes, by
 * kind. The budget check, ctvk_net_plan_memory (the bench) and ctvk_net_memory all read it, and
 * test_net checks it against the bytes actually allocated. */
static void account(const ctvk_net *net, ctvk_net_mem *m)
{
    const ctvk_graph *g = &net->g;
    uint64_t f = sizeof(float), mb = (uint64_t)net->max_batch, classes = (uint64_t)g->cfg.classes;
    uint64_t pb = (uint64_t)g->params_total * f;
    memset(m, 0, sizeof *m);
    m->params = pb;
    if (net->training && !net->cam) m->grads = pb, m->optimizer = 2 * pb;
    for (int i = 0; i < net->nabuf; i++) m->act_pool += (uint64_t)net->abuf[i].elems * f;
    for (int i = 0; net->training && i < net->ngbuf; i++) m->grad_pool += (uint64_t)net->gbufs[i].elems * f;
    m->act_live_peak = net->act_live_peak;
    m->grad_live_peak = net->grad_live_peak;
    /* input, labels, probabilities, the loss gradient, three statistics triples, the workspaces */
    m->other = per_sample(g->layers[0].out) * mb * f + 3 * mb * classes * f + 9 * f +
               (uint64_t)ctvk__exec_workspace_count(net) * f;
    size_t work = 1;
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        const xlayer *x = &net->L[i];
        uint64_t C = (uint64_t)l->out.c;
        if (x->kind == K_BN && net->training) {
            ctvk_shape s = net->V[x->vin[0]].shape;
            s.n = net->max_batch;
            size_t w = ctvk_bn_workspace_count(s);
            if (w > work) work = w;
            m->other += 2 * C * f;                                   /* saved mean and invstd */
        }
        /* derived weights count as parameters: folded convs, BN scale/shift, Winograd transforms */
        if (x->fold_bn) m->params += ((uint64_t)l->params[0].count + (uint64_t)l->filters) * f;
        if (x->kind == K_BN && !net->training && l->nparams == 4) m->params += 2 * C * f;
        if (x->zbn) m->params += 2 * C * f;
        if ((x->wino || x->wino_bwd) && !net->training) m->params += (uint64_t)ctvk__exec_wino_weights(net, i) * f;
        if (x->kind == K_MAXPOOL && net->training) m->other += per_sample(l->out) * mb * sizeof(uint32_t);
    }
    if (net->training) m->other += (uint64_t)work * f;              /* the BN workspace */
    m->total = m->params + m->grads + m->optimizer + m->act_pool + m->grad_pool + m->other;
}

/* Refuses up front a network whose planned buffers cannot fit the device memory budget, with the
 * sizes, before anything is allocated (the sum is a lower bound: blocks add alignment). */
static ctvk_status budget_check(const ctvk_net *net)
{
    const ctvk_graph *g = &net->g;
    ctvk_net_mem m;
    account(net, &m);
    uint64_t budget = ctvk__memory_budget(net->ctx), have = net->ctx->mem.allocated;
    if (have + m.total <= budget) return CTVK_OK;
    double M = 1048576.0;
    return ctvk__fail(CTVK_ERR_DEVICE_MEMORY,
                      "%s %dx%dx%d, batch %d (%s) needs at least %.1f MiB of device memory (parameters %.1f MiB, "
                      "gradients and optimizer state %.1f MiB, activations %.1f MiB, activation gradients %.1f MiB, "
                      "input, outputs and workspaces %.1f MiB) but the budget on %s is %.1f MiB with %.1f MiB already "
                      "allocated: use a smaller batch or input size, or raise [device] memory_limit_mb",
                      g->cfg.arch, g->cfg.height, g->cfg.width, g->cfg.channels, net->max_batch,
                      net->cam ? "Grad-CAM" : net->training ? "training" : "inference", m.total / M, m.params / M,
                      (m.grads + m.optimizer) / M, m.act_pool / M, m.grad_pool / M, m.other / M, net->ctx->info.name,
                      budget / M, have / M);
}

/* Layer i's derived weights (inference: folded conv, BN scale/shift, Winograd transform): each its
 * own tensor (derived NULL), or views of `derived` from *at (floats, advanced; aligned as the
 * device's tensors), or with derived NULL and at set only counted. */
static ctvk_status derived_walk(ctvk_net *net, int i, ctvk_tensor *derived, size_t *at)
{
    const ctvk_graph *g = &net->g;
    const ctvk_layer *l = &g->layers[i];
    xlayer *x = &net->L[i];
    const size_t align = (size_t)(net->ctx->mem.alignment / sizeof(float));
    struct dw { ctvk_tensor **t; size_t n; const char *with; const char *tail; } d[4];
    int nd = 0;
    if (x->fold_bn) {
        const char *bn = g->layers[x->fold_bn - 1].name;
        d[nd++] = (struct dw){&x->wf, l->params[0].count, bn, ""};
        d[nd++] = (struct dw){&x->bf, (size_t)l->filters, bn, ""};
    }
    if (x->kind == K_BN && !net->training && l->nparams == 4)   /* inference: applied as scale/shift */
        d[nd++] = (struct dw){&x->aff, 2 * (size_t)l->out.c, NULL, ""};
    if (x->zbn) d[nd++] = (struct dw){&x->aff, 2 * (size_t)l->out.c, g->layers[x->zbn - 1].name, ""};
    if (x->wino && !net->training) d[nd++] = (struct dw){&x->wu, ctvk__exec_wino_weights(net, i), NULL, " (Winograd)"};
    for (int k = 0; k < nd; k++) {
        char name[2 * CTVK_NAME_MAX + 16];
        if (d[k].with) snprintf(name, sizeof name, "%s (with %s)", l->name, d[k].with);
        else snprintf(name, sizeof name, "%s%s", l->name, d[k].tail);
        if (at) {
            size_t off = (*at + align - 1) / align * align;
            *at = off + d[k].n;
            if (derived) CTVK_TRY(ctvk_tensor_view(derived, off, vec(d[k].n), name, d[k].t));
        } else {
            CTVK_TRY(make(net, CTVK_F32, vec(d[k].n), name, d[k].t));
        }
    }
    return CTVK_OK;
}

size_t ctvk__exec_derived_count(const ctvk_net *net)
{
    size_t at = 0;
    for (int i = 0; i < net->g.nlayers; i++) (void)derived_walk((ctvk_net *)net, i, NULL, &at);
    return at ? at : 1;
}

ctvk_status ctvk__exec_attach_weights(ctvk_net *net, ctvk_tensor *params, ctvk_tensor *derived)
{
    const ctvk_graph *g = &net->g;
    net->params = params;
    net->derived = derived;
    net->bytes += ctvk_tensor_bytes(params) + ctvk_tensor_bytes(derived);
    CTVK_TRY(ctvk_flat_init(net->params, 0, &net->fp));
    size_t at = 0;
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        for (int p = 0; p < l->nparams; p++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%s", l->name, l->params[p].name);
            CTVK_TRY(ctvk_tensor_view(params, l->params[p].offset, vec(l->params[p].count), name, &net->L[i].prm[p]));
        }
        CTVK_TRY(derived_walk(net, i, derived, &at));
    }
    return CTVK_OK;
}

ctvk_status ctvk__exec_alloc_all(ctvk_net *net)
{
    CTVK_TRY(budget_check(net));
    const ctvk_graph *g = &net->g;
    ctvk_ctx *ctx = net->ctx;
    if (!net->prepared) {
        CTVK_TRY(make(net, CTVK_F32, vec(g->params_total), "parameters", &net->params));
        CTVK_TRY(ctvk_flat_init(net->params, 0, &net->fp));
    }
    for (int i = 0; i < net->nabuf; i++)
        CTVK_TRY(make(net, CTVK_F32, vec(net->abuf[i].elems), "activations", &net->abuf[i].t));
    ctvk_shape is = g->layers[0].out;
    is.n = net->max_batch;
    CTVK_TRY(make(net, CTVK_F32, is, "input", &net->input));
    int classes = g->cfg.classes;
    CTVK_TRY(make(net, CTVK_F32, (ctvk_shape){net->max_batch, 1, 1, classes}, "labels", &net->labels));
    CTVK_TRY(make(net, CTVK_F32, (ctvk_shape){net->max_batch, 1, 1, classes}, "probs", &net->probs));
    CTVK_TRY(make(net, CTVK_F32, vec(3), "stats", &net->stats));
    if (net->wino_v_count) {
        CTVK_TRY(make(net, CTVK_F32, vec(net->wino_v_count), "winograd_inputs", &net->wino_v));
        CTVK_TRY(make(net, CTVK_F32, vec(net->wino_m_count), "winograd_products", &net->wino_m));
    }
    if (net->wino_u_count) CTVK_TRY(make(net, CTVK_F32, vec(net->wino_u_count), "winograd_weights", &net->wino_u));
    if (net->dense_work_count)
        CTVK_TRY(make(net, CTVK_F32, vec(net->dense_work_count), "dense_partial_sums", &net->dense_work));
    CTVK_TRY(make(net, CTVK_F32, vec(3), "validation_stats", &net->vstats));
    CTVK_TRY(make(net, CTVK_F32, vec(3), "unlabelled_stats", &net->nstats));
    CTVK_TRY(ctvk_fill(ctx, net->stats, 0.0f));
    CTVK_TRY(ctvk_fill(ctx, net->vstats, 0.0f));
    /* the loss kernel always writes a gradient; inference passes discard it here */
    CTVK_TRY(make(net, CTVK_F32, (ctvk_shape){net->max_batch, 1, 1, classes}, "dlogits", &net->dlogits));
    CTVK_TRY(ctvk_fill(ctx, net->labels, 0.0f));
    if (net->training && !net->cam) {
        CTVK_TRY(make(net, CTVK_F32, vec(g->params_total), "gradients", &net->grads));
        CTVK_TRY(make(net, CTVK_F32, vec(g->params_total), "nadam_m", &net->m));
        CTVK_TRY(make(net, CTVK_F32, vec(g->params_total), "nadam_v", &net->v));
        CTVK_TRY(ctvk_flat_init(net->grads, 0, &net->fg));
        CTVK_TRY(ctvk_flat_init(net->m, 0, &net->fm));
        CTVK_TRY(ctvk_flat_init(net->v, 0, &net->fv));
        CTVK_TRY(ctvk_grad_zero(ctx, &net->fg));
        CTVK_TRY(ctvk_grad_zero(ctx, &net->fm));
        CTVK_TRY(ctvk_grad_zero(ctx, &net->fv));
    }
    if (net->training) {
        for (int i = 0; i < net->ngbuf; i++)
            CTVK_TRY(make(net, CTVK_F32, vec(net->gbufs[i].elems), "gradients of activations", &net->gbufs[i].t));
        size_t work = 1;
        for (int i = 0; i < g->nlayers; i++) {
            if (net->L[i].kind != K_BN) continue;
            ctvk_shape s = net->V[net->L[i].vin[0]].shape;
            s.n = net->max_batch;
            size_t w = ctvk_bn_workspace_count(s);
            if (w > work) work = w;
        }
        CTVK_TRY(make(net, CTVK_F32, vec(work), "bn_workspace", &net->work));
    }
    /* per-layer parameter and gradient views, BN saved statistics, max-pool argmax */
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        xlayer *x = &net->L[i];
        for (int p = 0; p < l->nparams && !net->prepared; p++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%s", l->name, l->params[p].name);
            CTVK_TRY(ctvk_tensor_view(net->params, l->params[p].offset, vec(l->params[p].count), name, &x->prm[p]));
            if (net->grads)
                CTVK_TRY(ctvk_tensor_view(net->grads, l->params[p].offset, vec(l->params[p].count), name, &x->grd[p]));
        }
        if (x->kind == K_BN && net->training)
            CTVK_TRY(make(net, CTVK_F32, vec(2 * (size_t)l->out.c), l->name, &x->saved));
        if (!net->prepared) CTVK_TRY(derived_walk(net, i, NULL, NULL));
        if ((x->wino || x->wino_bwd) && net->training) {
            char name[CTVK_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s (Winograd)", l->name);
            CTVK_TRY(ctvk_tensor_view(net->wino_u, 0, vec(ctvk__exec_wino_weights(net, i)), name, &x->wu));
        }
        if (x->kind == K_MAXPOOL && net->training) {
            ctvk_shape s = l->out;
            s.n = net->max_batch;
            CTVK_TRY(make(net, CTVK_U32, s, l->name, &x->argmax_all));
        }
    }
    return CTVK_OK;
}

ctvk_status ctvk_net_plan_memory(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk_net_mem *m)
{
    ctvk_net *net;
    CTVK_TRY(ctvk__exec_net_create(ctx, g, max_batch, training, -1, 0, &net));
    account(net, m);
    ctvk_net_destroy(net);
    return CTVK_OK;
}

void ctvk_net_memory(const ctvk_net *net, ctvk_net_mem *m) { account(net, m); }

uint64_t ctvk_net_device_bytes(const ctvk_net *net) { return net->bytes; }
