/* The device executor: turns a layer graph into a plan of fused kernels over planned buffers, and
 * records forward, loss, backward and Nadam through the kernel launchers of net/ (the plan, the
 * memory, the binding, the distributed parts and Grad-CAM in net/exec_*.c; see net/exec_internal.h). */
#include "net/exec_internal.h"
#include "ctvk/dist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Layer x's weights w (cin -> cout) into its Winograd form x->wu (backward: the backward-data
 * filters), under a profile label of its own. */
static ctvk_status wino_transform(ctvk_net *net, const xlayer *x, const ctvk_tensor *w, int cin, int cout,
                                  int backward)
{
    ctvk_label_push(net->ctx, "winograd_weights");
    ctvk_status s = ctvk_conv2d_winograd_weights(net->ctx, w, cin, cout, x->wm, backward, x->wu);
    ctvk_label_pop(net->ctx);
    return s;
}

/* cam_layer >= 0: a Grad-CAM network for that layer (a training plan without training state). */
ctvk_status ctvk__exec_net_create(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, int cam_layer,
                              int alloc, ctvk_net **out)
{
    *out = NULL;
    if (max_batch < 1) return ctvk__fail(CTVK_ERR_ARG, "batch size %d: must be at least 1", max_batch);
    ctvk_net *net = calloc(1, sizeof *net);
    if (!net) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    net->ctx = ctx;
    net->max_batch = max_batch;
    net->training = training || cam_layer >= 0;
    net->cam = cam_layer >= 0;
    net->cam_layer = cam_layer;
    net->g = *g;
    net->g.layers = malloc((size_t)g->nlayers * sizeof *g->layers);
    net->L = calloc((size_t)g->nlayers, sizeof *net->L);
    net->V = calloc((size_t)g->nlayers + 1, sizeof *net->V);
    ctvk_status s = CTVK_OK;
    if (!net->g.layers || !net->L || !net->V) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) {
        memcpy(net->g.layers, g->layers, (size_t)g->nlayers * sizeof *g->layers);
        net->g.cap = g->nlayers;
        ctvk_nadam_init(&net->opt, NULL);
        s = ctvk__exec_plan_layers(net);
    }
    /* measured on lavapipe (CPU kernels): the fused epilogue costs the conv what the separate add
     * and batch norm cost (its stores and residual reads are per-lane scalar there), so they are
     * fused for the GPU kernels only, where they save two passes over memory */
    /* the fused conv binds 5 storage buffers when its inputs are too large for texel buffers (x, w,
     * y, the residual, z; bias and scale/shift stay texel buffers): only where the device allows that */
    if (!s && !net->training && ctvk_kernel_variant(ctx) == CTVK_VARIANT_GPU &&
        ctx->props.limits.maxPerStageDescriptorStorageBuffers >= 5)
        ctvk__exec_plan_fusions(net);
    if (!s) {
        ctvk__exec_plan_backward(net);
        if (net->cam) net->V[root(net, net->cam_value)].keep = 1;   /* read after the pass */
        s = ctvk__exec_plan_buffers(net);
    }
    net->prepared = alloc == 2 && !net->training;
    if (!s && alloc) s = ctvk__exec_alloc_all(net);
    if (s) {
        char msg[CTVK_ERROR_MAX];
        snprintf(msg, sizeof msg, "%s", ctvk_error());
        ctvk_net_destroy(net);
        return ctvk__fail(s, "%s", msg);
    }
    *out = net;
    return CTVK_OK;
}

void ctvk_net_destroy(ctvk_net *net)
{
    if (!net) return;
    if (net->wc.path && net->wc_ready) {   /* the new weights cache entry, once its work is done */
        char keep[CTVK_ERROR_MAX];            /* (a failure here only costs the entry) */
        snprintf(keep, sizeof keep, "%s", ctvk_error());
        if (ctvk_sync(net->ctx) == CTVK_OK) {
            ctvk_tensor *parts[2] = {net->params, net->derived};
            ctvk__wcache_put(net->ctx, &net->wc, parts);
        }
        (void)ctvk__fail(CTVK_OK, "%s", keep);
    }
    ctvk__wcache_entry_free(&net->wc);
    free(net->host_grads);
    ctvk__exec_drop_views(net);
    for (int i = 0; net->L && i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        for (int p = 0; p < CTVK_MAX_PARAMS; p++) { ctvk_tensor_destroy(x->prm[p]); ctvk_tensor_destroy(x->grd[p]); }
        ctvk_tensor_destroy(x->saved);
        ctvk_tensor_destroy(x->argmax_all);
        ctvk_tensor_destroy(x->wf);
        ctvk_tensor_destroy(x->bf);
        ctvk_tensor_destroy(x->wu);
        ctvk_tensor_destroy(x->aff);
    }
    if (net->fp.t) ctvk_flat_release(&net->fp);
    if (net->fg.t) ctvk_flat_release(&net->fg);
    if (net->fm.t) ctvk_flat_release(&net->fm);
    if (net->fv.t) ctvk_flat_release(&net->fv);
    for (int i = 0; i < net->nabuf; i++) ctvk_tensor_destroy(net->abuf[i].t);
    for (int i = 0; i < net->ngbuf; i++) ctvk_tensor_destroy(net->gbufs[i].t);
    ctvk_tensor *own[] = {net->input, net->params, net->derived, net->grads, net->m, net->v, net->labels, net->probs, net->stats,
                          net->vstats, net->nstats, net->dlogits, net->work, net->wino_v, net->wino_m,
                          net->wino_u, net->dense_work};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) ctvk_tensor_destroy(own[i]);
    free(net->abuf);
    free(net->gbufs);
    free(net->L);
    free(net->V);
    free(net->g.layers);
    free(net);
}

ctvk_status ctvk_net_create(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk_net **out)
{
    return ctvk__exec_net_create(ctx, g, max_batch, training, -1, 1, out);
}

ctvk_status ctvk__net_create_prepared(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, ctvk_net **out)
{
    return ctvk__exec_net_create(ctx, g, max_batch, 0, -1, 2, out);
}

/* How the derived weights are made (derive_weights and the launchers it calls): change it with
 * them, so that no weights cache entry of the old way is taken for the new one. The shaders that
 * compute them are in the entry's key already (ctvk__wcache_get). */
#define WEIGHTS_DERIVATION "bn_fold, bn_affine, winograd_weights F(m x m, 3x3): 1"

/* Everything the derived weights are computed from besides the parameters' values: ctvk's version
 * and the derivation, the layers' kinds, parameter layout, folds, Winograd tiles and epsilons, and
 * the derived layout. */
static uint64_t weights_key(const ctvk_net *net, uint64_t source)
{
    const ctvk_graph *g = &net->g;
    uint64_t h = ctvk__xxh3(CTVK_VERSION_STRING WEIGHTS_DERIVATION, sizeof CTVK_VERSION_STRING WEIGHTS_DERIVATION,
                            source);
    h = ctvk__xxh3(&g->params_total, sizeof g->params_total, h);
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        const xlayer *x = &net->L[i];
        int64_t f[10] = {x->kind, x->fold_bn, x->zbn, x->wino, x->wm, l->filters, l->nparams, l->out.c,
                         net->V[x->vin[0] >= 0 ? x->vin[0] : 0].shape.c, 0};
        memcpy(&f[9], &l->eps, sizeof l->eps);
        h = ctvk__xxh3(f, sizeof f, h);
        for (int p = 0; p < l->nparams; p++) {
            uint64_t q[2] = {l->params[p].offset, l->params[p].count};
            h = ctvk__xxh3(q, sizeof q, h);
        }
    }
    size_t d = ctvk__exec_derived_count(net);
    return ctvk__xxh3(&d, sizeof d, h);
}

ctvk_status ctvk__net_prepare_weights(ctvk_net *net, uint64_t source, int *hit)
{
    *hit = 0;
    if (!net->prepared || net->params)
        return ctvk__fail(CTVK_ERR_ARG, "network %s: its weights are not waiting to be attached", net->g.cfg.arch);
    ctvk_ctx *ctx = net->ctx;
    uint64_t bytes[2] = {(uint64_t)net->g.params_total * sizeof(float),
                         (uint64_t)ctvk__exec_derived_count(net) * sizeof(float)};
    const char *names[2] = {"parameters", "derived weights"};
    ctvk_tensor *t[2] = {NULL, NULL};
    ctvk_wcache_entry e;
    *hit = ctvk__wcache_get(ctx, weights_key(net, source), 2, bytes, names, t, &e);
    ctvk_status s = CTVK_OK;
    if (!*hit && !t[0]) {   /* no entry to write either: memory of its own */
        s = ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 1, 1, (int)(bytes[0] / 4)}, names[0], &t[0]);
        if (!s) s = ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 1, 1, (int)(bytes[1] / 4)}, names[1], &t[1]);
        if (s) {
            ctvk_tensor_destroy(t[0]);
            ctvk__wcache_entry_free(&e);
            return s;
        }
    }
    net->wc = e;
    net->wc_ready = *hit;   /* a hit is stored already; a miss once its parameters are written */
    if (*hit) ctvk__wcache_entry_free(&net->wc);
    return ctvk__exec_attach_weights(net, t[0], t[1]);
}

const ctvk_graph *ctvk_net_graph(const ctvk_net *net) { return &net->g; }

ctvk_tensor *ctvk_net_input(ctvk_net *net) { return net->input; }

ctvk_status ctvk_net_set_params(ctvk_net *net, const float *params)
{
    CTVK_TRY(ctvk_tensor_upload(net->params, params, net->g.params_total * sizeof(float)));
    return ctvk__net_params_written(net, params);
}

float *ctvk__net_params_host(ctvk_net *net) { return ctvk__tensor_host_cached(net->params); }

static ctvk_status derive_weights(ctvk_net *net, const float *params);

ctvk_status ctvk__net_params_written(ctvk_net *net, const float *params)
{
    CTVK_TRY(derive_weights(net, params));
    net->wc_ready = 1;   /* the work just recorded finishes before the entry is stored */
    return CTVK_OK;
}

static ctvk_status derive_weights(ctvk_net *net, const float *params)
{
    for (int i = 0; i < net->g.nlayers; i++) {    /* the folded convs' weights follow the parameters */
        const xlayer *c = &net->L[i];
        if (!c->fold_bn) continue;
        const xlayer *b = &net->L[c->fold_bn - 1];
        CTVK_TRY(ctvk_bn_fold(net->ctx, c->prm[0], net->g.layers[i].bias ? c->prm[1] : NULL, b->prm[0], b->prm[1],
                              b->prm[2], b->prm[3], net->g.layers[c->fold_bn - 1].eps, c->wf, c->bf));
    }
    for (int i = 0; i < net->g.nlayers; i++) {    /* inference batch norms as scale and shift: their own */
        const xlayer *c = &net->L[i];           /* or, in a conv epilogue, the conv's */
        int bn = c->zbn ? c->zbn - 1 : c->kind == K_BN && c->aff ? i : -1;
        if (bn < 0) continue;
        const xlayer *b = &net->L[bn];
        CTVK_TRY(ctvk_bn_affine(net->ctx, b->prm[0], b->prm[1], b->prm[2], b->prm[3], net->g.layers[bn].eps, c->aff));
    }
    if (net->cam) CTVK_TRY(ctvk__exec_cam_saved(net, params));
    for (int i = 0; i < net->g.nlayers; i++) {    /* then the Winograd transforms of the (folded) weights */
        const xlayer *c = &net->L[i];
        if (c->wu && !net->training)
            CTVK_TRY(wino_transform(net, c, c->wf ? c->wf : c->prm[0], net->V[c->vin[0]].shape.c,
                                    net->g.layers[i].filters, 0));
    }
    return CTVK_OK;
}

ctvk_status ctvk_net_get_params(ctvk_net *net, float *params)
{
    return ctvk_tensor_download(net->params, params, net->g.params_total * sizeof(float));
}

/* Dropout masks follow the sample's place in the whole batch (never sliced: see plan_slices). */
static uint32_t dropout_first(const ctvk_net *net, const xlayer *x)
{
    return (uint32_t)((size_t)net->part_first * per_sample(net->V[x->vin[0]].shape));
}

static ctvk_status forward_slice(ctvk_net *net, int i, int training, uint64_t seed, int k)
{
    ctvk_ctx *ctx = net->ctx;
    xlayer *x = &net->L[i];
    ctvk_tensor *a = S(net, x, SA, k), *b = S(net, x, SB, k), *y = S(net, x, SY, k);
    switch (x->kind) {
    case K_NONE: case K_INPUT: return CTVK_OK;
    case K_CONV:
        if (x->wino) {
            if (net->training) {    /* the current weights; their own row in the profile */
                CTVK_TRY(wino_transform(net, x, x->prm[0], a->shape.c, y->shape.c, 0));
            }
            return ctvk_conv2d_forward_winograd(ctx, &x->conv, x->wm, a, x->wu, x->wf ? x->bf : x->prm[1], NULL, y,
                                                net->wino_v, net->wino_m);
        }
        if (x->vin[1] >= 0 || x->zv >= 0) {
            ctvk_conv_epilogue e = {b, x->aff, S(net, x, SZ, k), x->z_relu, x->skip_y};
            return ctvk_conv2d_forward_fused(ctx, &x->conv, a, x->wf ? x->wf : x->prm[0], x->wf ? x->bf : x->prm[1], &e,
                                             y);
        }
        if (x->wf) return ctvk_conv2d_forward(ctx, &x->conv, a, x->wf, x->bf, y);
        return ctvk_conv2d_forward(ctx, &x->conv, a, x->prm[0], x->prm[1], y);
    case K_BN:
        if (training) return ctvk_bn_train_apply(ctx, a, x->prm[0], x->prm[1], x->saved, x->relu, y);
        if (x->aff) return ctvk_bn_forward_affine(ctx, a, x->aff, x->relu, y);
        return ctvk_bn_forward_infer(ctx, a, x->prm[0], x->prm[1], x->prm[2], x->prm[3], x->eps, x->relu, y);
    case K_RELU: return ctvk_relu(ctx, a, y);
    case K_ADD: return ctvk_add(ctx, a, b, y, x->relu);
    case K_PAD: return ctvk_pad(ctx, a, y, x->pt, x->pb, x->pl, x->pr);
    case K_MAXPOOL:
        return ctvk_maxpool(ctx, a, y, training || net->cam ? S(net, x, SARG, k) : NULL, x->k, x->stride, x->pt, x->pb, x->pl,
                            x->pr);
    case K_GAP: return ctvk_gap(ctx, a, y);
    case K_RESIZE: return ctvk_resize_nearest(ctx, a, y);
    case K_CONCAT: return ctvk_concat(ctx, a, b, y);
    case K_DROPOUT:
        return ctvk_dropout(ctx, a, y, x->rate, ctvk__layer_seed(seed, i), dropout_first(net, x), training);
    case K_DENSE:
        if (x->splitk) return ctvk_dense_forward_splitk(ctx, a, x->prm[0], x->prm[1], x->relu, y, net->dense_work);
        return ctvk_dense_forward(ctx, a, x->prm[0], x->prm[1], x->relu, y);
    }
    return CTVK_OK;
}

static ctvk_status forward_layer(ctvk_net *net, int i, int training, uint64_t seed)
{
    xlayer *x = &net->L[i];
    if (x->kind == K_BN && training && net->sync_bn)   /* over every rank's samples */
        CTVK_TRY(ctvk__exec_sync_bn_stats(net, i, T(net, x->vin[0])));
    else if (x->kind == K_BN && training)              /* over the whole batch */
        CTVK_TRY(ctvk_bn_train_stats(net->ctx, T(net, x->vin[0]), x->prm[2], x->prm[3], x->eps, x->momentum,
                                     x->saved, net->work));
    for (int k = 0; k < (x->nsl ? x->nsl : 1); k++) CTVK_TRY(forward_slice(net, i, training, seed, k));
    return CTVK_OK;
}

ctvk_status ctvk__exec_forward(ctvk_net *net, int n, int training, uint64_t seed)
{
    CTVK_TRY(ctvk__exec_bind_batch(net, n));
    for (int i = 0; i < net->g.nlayers; i++) {
        if (net->L[i].kind == K_NONE || net->L[i].kind == K_INPUT) continue;
        ctvk_label_push(net->ctx, net->g.layers[i].name);
        ctvk_status s = forward_layer(net, i, training, seed);
        ctvk_label_pop(net->ctx);
        if (s) return s;
    }
    return CTVK_OK;
}

/* Inference forward, then the softmax (through the loss kernel, against labels when given: the
 * loss and accuracy then accumulate in the validation statistics). */
static ctvk_status infer(ctvk_net *net, int n, const float *labels)
{
    CTVK_TRY(ctvk__exec_bind_batch(net, n));
    size_t lbytes = (size_t)n * (size_t)net->g.cfg.classes * sizeof(float);
    if (labels) {
        CTVK_TRY(ctvk_tensor_upload(net->labels_n, labels, lbytes));
    } else {
        CTVK_TRY(ctvk_fill(net->ctx, net->labels_n, 0.0f));
    }
    CTVK_TRY(ctvk__exec_forward(net, n, 0, 0));
    ctvk_label_push(net->ctx, "softmax");
    ctvk_status s = ctvk_softmax_ce(net->ctx, T(net, net->logits_value), net->labels_n, net->probs_n,
                                    net->dlogits_n, labels ? net->vstats : net->nstats, labels != NULL);
    ctvk_label_pop(net->ctx);
    return s;
}

ctvk_status ctvk_net_forward(ctvk_net *net, int n) { return infer(net, n, NULL); }

ctvk_status ctvk_net_validate(ctvk_net *net, int n, const float *labels)
{
    if (!labels) return ctvk__fail(CTVK_ERR_ARG, "validation needs labels");
    return infer(net, n, labels);
}

ctvk_status ctvk_net_probs(ctvk_net *net, int n, float *out)
{
    if (n != net->n) return ctvk__fail(CTVK_ERR_ARG, "probabilities of %d samples asked, the last pass had %d", n, net->n);
    return ctvk_tensor_download(net->probs_n, out, (size_t)n * (size_t)net->g.cfg.classes * sizeof(float));
}

ctvk_status ctvk__exec_trains(const ctvk_net *net)
{
    if (net->cam) return ctvk__fail(CTVK_ERR_ARG, "this network was created for Grad-CAM, not for training");
    if (!net->training) return ctvk__fail(CTVK_ERR_ARG, "this network was created for inference only");
    return CTVK_OK;
}

/* The gradient tensor of value v for writing, and whether to accumulate into it. */
ctvk_tensor *ctvk__exec_grad_out(ctvk_net *net, int v, int *acc)
{
    xval *r = &net->V[root(net, v)];
    *acc = r->grad_ready;
    r->grad_ready = 1;
    return net->V[v].g;
}

static int needs_grad(ctvk_net *net, int v)
{
    return v >= 0 && net->L[net->V[root(net, v)].producer].kind != K_INPUT;
}

/* acc[0], acc[1]: accumulate into the gradients of input 0 and 1 (-1: not written). */
static ctvk_status backward_slice(ctvk_net *net, int i, uint64_t seed, int k, const int acc[2])
{
    ctvk_ctx *ctx = net->ctx;
    xlayer *x = &net->L[i];
    ctvk_tensor *a = S(net, x, SA, k), *y = S(net, x, SY, k), *g = S(net, x, SG, k);
    ctvk_tensor *da = S(net, x, SDA, k), *db = S(net, x, SDB, k);
    switch (x->kind) {
    case K_NONE: case K_INPUT: return CTVK_OK;
    case K_CONV:
        if (acc[0] >= 0 && x->wino_bwd) {
            CTVK_TRY(wino_transform(net, x, x->prm[0], da->shape.c, g->shape.c, 1));
            CTVK_TRY(ctvk_conv2d_backward_data_winograd(ctx, &x->conv, x->wm, g, x->wu, da, net->wino_v, net->wino_m,
                                                        acc[0]));
        } else if (acc[0] >= 0) {
            CTVK_TRY(ctvk_conv2d_backward_data(ctx, &x->conv, g, x->prm[0], da, acc[0]));
        }
        if (net->cam) return CTVK_OK;   /* Grad-CAM: no parameter gradients */
        /* weight gradients sum over the batch: later slices add to the first one's */
        return ctvk_conv2d_backward_weights(ctx, &x->conv, a, g, x->grd[0], x->grd[1], k > 0 || net->acc_grads);
    case K_BN:
        return ctvk_bn_backward_dx_rows(ctx, T(net, x->vin[0])->shape, net->sync_bn ? x->rows : 0, a, x->prm[0],
                                        x->saved, x->relu ? y : NULL, g, da, acc[0], net->work);
    case K_RELU: return ctvk_relu_backward(ctx, g, y, da, acc[0]);
    case K_ADD: return ctvk_add_backward(ctx, g, x->relu ? y : NULL, da, acc[0], db, acc[1]);
    case K_PAD: return ctvk_pad_backward(ctx, g, da, x->pt, x->pb, x->pl, x->pr, acc[0]);
    case K_MAXPOOL:
        return ctvk_maxpool_backward(ctx, g, S(net, x, SARG, k), da, x->k, x->stride, x->pt, x->pb, x->pl, x->pr,
                                     acc[0]);
    case K_GAP: return ctvk_gap_backward(ctx, g, da, acc[0]);
    case K_RESIZE: return ctvk_resize_nearest_backward(ctx, g, da, acc[0]);
    case K_CONCAT: return ctvk_concat_backward(ctx, g, da, acc[0], db, acc[1]);
    case K_DROPOUT:   /* Grad-CAM runs inference: dropout is the identity (rate 0) */
        return ctvk_dropout_backward(ctx, g, da, net->cam ? 0.0f : x->rate, ctvk__layer_seed(seed, i),
                                     dropout_first(net, x), acc[0]);
    case K_DENSE:
        if (x->relu) CTVK_TRY(ctvk_relu_backward(ctx, g, y, g, 0));   /* in place: g only feeds this layer */
        if (acc[0] >= 0) CTVK_TRY(ctvk_dense_backward_data(ctx, g, x->prm[0], da, acc[0]));
        if (net->cam) return CTVK_OK;
        return ctvk_dense_backward_weights(ctx, a, g, x->grd[0], x->grd[1], net->acc_grads);
    }
    return CTVK_OK;
}

ctvk_status ctvk__exec_backward_layer(ctvk_net *net, int i, uint64_t seed)
{
    xlayer *x = &net->L[i];
    if (x->kind == K_NONE || x->kind == K_INPUT) return CTVK_OK;
    if (!net->V[root(net, x->vout)].grad_ready) return CTVK_OK;   /* not on the loss path */
    int acc[2] = {-1, -1};
    switch (x->kind) {
    case K_CONV: case K_DENSE:
        if (needs_grad(net, x->vin[0])) ctvk__exec_grad_out(net, x->vin[0], &acc[0]);
        break;
    case K_BN:
        if (!needs_grad(net, x->vin[0]))
            return ctvk__fail(CTVK_ERR_ARG, "a batch norm on the network input is not supported");
        ctvk__exec_grad_out(net, x->vin[0], &acc[0]);
        /* Grad-CAM: inference BN is per channel affine, dx = g gamma invstd (relu-masked): the
         * training kernel with the moving statistics in `saved` and zero sums does exactly that */
        if (net->cam) break;
        /* sums over the whole batch (and dgamma, dbeta), then dx slice by slice */
        CTVK_TRY(ctvk_bn_backward_sums(net->ctx, T(net, x->vin[0]), x->saved, x->relu ? T(net, x->vout) : NULL,
                                       net->V[x->vout].g, x->grd[0], x->grd[1], net->acc_grads, net->work));
        if (net->sync_bn) CTVK_TRY(ctvk__exec_sync_bn_grads(net, i, T(net, x->vin[0])));
        break;
    case K_ADD: case K_CONCAT:
        ctvk__exec_grad_out(net, x->vin[0], &acc[0]);
        ctvk__exec_grad_out(net, x->vin[1], &acc[1]);
        break;
    default:
        ctvk__exec_grad_out(net, x->vin[0], &acc[0]);
        break;
    }
    for (int k = 0; k < (x->nsl ? x->nsl : 1); k++) CTVK_TRY(backward_slice(net, i, seed, k, acc));
    return CTVK_OK;
}

/* A rank without samples in this step takes part in every collective of the others' step (the
 * synchronised BN statistics, forward then backward, in the same order) and contributes nothing. */
static ctvk_status backprop_empty(ctvk_net *net)
{
    if (net->sync_bn) {
        for (int i = 0; i < net->g.nlayers; i++)
            if (net->L[i].kind == K_BN) CTVK_TRY(ctvk__exec_sync_bn_stats(net, i, NULL));
        for (int i = net->g.nlayers - 1; i >= 0; i--)
            if (net->L[i].kind == K_BN) CTVK_TRY(ctvk__exec_sync_bn_grads(net, i, NULL));
    }
    return net->acc_grads ? CTVK_OK : ctvk_fill(net->ctx, net->grads, 0.0f);
}

ctvk_status ctvk_net_backprop(ctvk_net *net, int n, const float *labels, uint64_t seed, const ctvk_step_part *part)
{
    CTVK_TRY(ctvk__exec_trains(net));
    ctvk_step_part whole = {0, n, 0};
    if (!part) part = &whole;
    int total = part->total ? part->total : n;
    if (n < 0 || part->first < 0 || part->first + n > total)
        return ctvk__fail(CTVK_ERR_ARG, "samples [%d, %d) are not a part of a batch of %d", part->first,
                          part->first + n, total);
    net->part_first = part->first;
    net->acc_grads = part->accumulate != 0;
    if (n == 0) return backprop_empty(net);
    ctvk_ctx *ctx = net->ctx;
    CTVK_TRY(ctvk__exec_bind_batch(net, n));
    CTVK_TRY(ctvk_tensor_upload(net->labels_n, labels, (size_t)n * (size_t)net->g.cfg.classes * sizeof(float)));
    CTVK_TRY(ctvk__exec_forward(net, n, 1, seed));
    for (int v = 0; v < net->nv; v++) net->V[v].grad_ready = 0;
    int lv = net->logits_value, acc;
    ctvk_tensor *dlogits = ctvk__exec_grad_out(net, lv, &acc);
    ctvk_label_push(ctx, "softmax_cross_entropy");
    ctvk_status s = ctvk_softmax_ce_part(ctx, T(net, lv), net->labels_n, net->probs_n, dlogits, net->stats, 1, total);
    ctvk_label_pop(ctx);
    if (s) return s;
    for (int i = net->g.nlayers - 1; i >= 0; i--) {
        if (net->L[i].kind == K_NONE || net->L[i].kind == K_INPUT) continue;
        char label[CTVK_NAME_MAX + 16];
        snprintf(label, sizeof label, "%s/backward", net->g.layers[i].name);
        ctvk_label_push(ctx, label);
        s = ctvk__exec_backward_layer(net, i, seed);
        ctvk_label_pop(ctx);
        if (s) return s;
    }
    return CTVK_OK;
}

ctvk_status ctvk_net_apply_gradients(ctvk_net *net)
{
    CTVK_TRY(ctvk__exec_trains(net));
    ctvk_label_push(net->ctx, "nadam");
    ctvk_status s = ctvk_nadam_step(net->ctx, &net->opt, &net->fp, &net->fg, &net->fm, &net->fv);
    ctvk_label_pop(net->ctx);
    return s;
}

ctvk_status ctvk_net_train_step(ctvk_net *net, int n, const float *labels, uint64_t seed)
{
    CTVK_TRY(ctvk_net_backprop(net, n, labels, seed, NULL));
    return ctvk_net_apply_gradients(net);
}

static ctvk_status read_stats(ctvk_net *net, ctvk_tensor *t, double out[3], int reset)
{
    float s[3];
    CTVK_TRY(ctvk_tensor_download(t, s, sizeof s));
    for (int i = 0; i < 3; i++) out[i] = s[i];
    if (reset) CTVK_TRY(ctvk_fill(net->ctx, t, 0.0f));
    return CTVK_OK;
}

ctvk_status ctvk_net_stats(ctvk_net *net, double out[3], int reset) { return read_stats(net, net->stats, out, reset); }

ctvk_status ctvk_net_val_stats(ctvk_net *net, double out[3], int reset)
{
    return read_stats(net, net->vstats, out, reset);
}

ctvk_status ctvk_net_set_stats(ctvk_net *net, const double in[3])
{
    float s[3] = {(float)in[0], (float)in[1], (float)in[2]};
    return ctvk_tensor_upload(net->stats, s, sizeof s);
}

void ctvk_net_set_optimizer(ctvk_net *net, const ctvk_optimizer *o)
{
    net->opt.cfg.lr = o->lr;
    net->opt.cfg.beta1 = o->beta1;
    net->opt.cfg.beta2 = o->beta2;
    net->opt.cfg.eps = o->eps;
    net->opt.cfg.schedule_decay = o->schedule_decay;
}

ctvk_status ctvk_net_get_optimizer_state(ctvk_net *net, float *m, float *v, unsigned char state[16])
{
    CTVK_TRY(ctvk__exec_trains(net));
    size_t bytes = net->g.params_total * sizeof(float);
    if (m) CTVK_TRY(ctvk_tensor_download(net->m, m, bytes));
    if (v) CTVK_TRY(ctvk_tensor_download(net->v, v, bytes));
    ctvk_nadam_state_pack(&net->opt.st, state);
    return CTVK_OK;
}

ctvk_status ctvk_net_set_optimizer_state(ctvk_net *net, const float *m, const float *v, const unsigned char state[16])
{
    CTVK_TRY(ctvk__exec_trains(net));
    size_t bytes = net->g.params_total * sizeof(float);
    ctvk_nadam_state st;
    CTVK_TRY(ctvk_nadam_state_unpack(state, &st));
    if (m) CTVK_TRY(ctvk_tensor_upload(net->m, m, bytes));
    if (v) CTVK_TRY(ctvk_tensor_upload(net->v, v, bytes));
    net->opt.st = st;
    return CTVK_OK;
}

void ctvk_net_plan_info(const ctvk_net *net, ctvk_net_plan *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < net->g.nlayers; i++) {
        const xlayer *x = &net->L[i];
        p->folded_bn += x->folded;
        p->winograd += x->wino;
        p->winograd_bwd += x->wino_bwd;
        p->fused_add += x->kind == K_CONV && x->vin[1] >= 0;
        p->fused_bn += x->zbn != 0;
        p->splitk_dense += x->splitk;
    }
}

ctvk_status ctvk__net_grads(ctvk_net *net, float *out)
{
    CTVK_TRY(ctvk__exec_trains(net));
    return ctvk_tensor_download(net->grads, out, net->g.params_total * sizeof(float));
}
