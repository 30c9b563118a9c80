/* Grad-CAM on the executor: a training-shaped plan (activations kept, no parameter gradients or
 * optimizer state) run in inference mode, then backward from one class's logit down to a layer. */
#include "net/exec_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grad-CAM backward through inference batch norms: each BN's `saved` holds its moving mean and
 * 1 / sqrt(moving variance + eps), what the training kernels read as the batch's. */
ctvk_status ctvk__exec_cam_saved(ctvk_net *net, const float *params)
{
    float *h = NULL;
    ctvk_status s = CTVK_OK;
    for (int i = 0; !s && i < net->g.nlayers; i++) {
        const ctvk_layer *l = &net->g.layers[i];
        if (net->L[i].kind != K_BN) continue;
        int C = l->out.c;
        if (l->nparams != 4) return ctvk__fail(CTVK_ERR_UNSUPPORTED, "Grad-CAM: batch norm %s has %d parameter arrays, "
                                               "not gamma, beta, mean and variance", l->name, l->nparams);
        float *nh = realloc(h, 2 * (size_t)C * sizeof *h);
        if (!nh) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); break; }
        h = nh;
        const float *mean = params + l->params[2].offset, *var = params + l->params[3].offset;
        for (int c = 0; c < C; c++) {
            h[c] = mean[c];
            h[C + c] = (float)(1.0 / sqrt((double)var[c] + (double)l->eps));
        }
        s = ctvk_tensor_upload(net->L[i].saved, h, 2 * (size_t)C * sizeof *h);
    }
    free(h);
    return s;
}

ctvk_status ctvk_net_create_cam(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, const char *layer, ctvk_net **out)
{
    *out = NULL;
    int li = -1;
    for (int i = 0; layer && i < g->nlayers; i++)
        if (!strcmp(g->layers[i].name, layer)) li = i;
    if (li < 0)
        return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM layer '%s': network %s has no layer of that name (ctvk model %s lists "
                          "them)", layer ? layer : "", g->cfg.arch, g->cfg.arch);
    if (g->layers[li].op == CTVK_OP_INPUT)
        return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM layer '%s' is the network's input: choose a layer after it", layer);
    return ctvk__exec_net_create(ctx, g, max_batch, 0, li, 1, out);
}

int ctvk_net_cam_layer(const ctvk_net *net, ctvk_shape *s)
{
    if (!net->cam) return -1;
    if (s) *s = net->V[net->cam_value].shape;
    return net->cam_layer;
}

ctvk_status ctvk_net_cam_pass(ctvk_net *net, int n, int cls)
{
    if (!net->cam) return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM on a network not created for it (ctvk_net_create_cam)");
    int classes = net->g.cfg.classes;
    if (cls < 0 || cls >= classes)
        return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM of class %d: the network has classes 0 to %d", cls, classes - 1);
    ctvk_ctx *ctx = net->ctx;
    CTVK_TRY(ctvk__exec_bind_batch(net, n));
    CTVK_TRY(ctvk_fill(ctx, net->labels_n, 0.0f));
    CTVK_TRY(ctvk__exec_forward(net, n, 0, 0));
    ctvk_label_push(ctx, "softmax");
    ctvk_status s = ctvk_softmax_ce(ctx, T(net, net->logits_value), net->labels_n, net->probs_n, net->dlogits_n,
                                    net->nstats, 0);
    ctvk_label_pop(ctx);
    if (s) return s;
    /* the score is the class's logit before the softmax: its gradient is one-hot */
    for (int v = 0; v < net->nv; v++) net->V[v].grad_ready = 0;
    int acc;
    ctvk_tensor *dl = ctvk__exec_grad_out(net, net->logits_value, &acc);
    float *onehot = calloc((size_t)n * (size_t)classes, sizeof *onehot);
    if (!onehot) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int k = 0; k < n; k++) onehot[(size_t)k * classes + cls] = 1.0f;
    s = ctvk_tensor_upload(dl, onehot, (size_t)n * (size_t)classes * sizeof *onehot);
    free(onehot);
    if (!s) s = ctvk_fill(ctx, net->work, 0.0f);   /* the BN backward sums: zero (see cam_saved) */
    /* down to the layer: its gradient is complete once every reader's backward has run */
    int stop = net->V[root(net, net->cam_value)].producer;
    for (int i = net->g.nlayers - 1; !s && i > stop; i--) {
        if (net->L[i].kind == K_NONE || net->L[i].kind == K_INPUT) continue;
        char label[CTVK_NAME_MAX + 16];
        snprintf(label, sizeof label, "%s/backward", net->g.layers[i].name);
        ctvk_label_push(ctx, label);
        s = ctvk__exec_backward_layer(net, i, 0);
        ctvk_label_pop(ctx);
    }
    if (!s && !net->V[root(net, net->cam_value)].grad_ready)
        s = ctvk__fail(CTVK_ERR_ARG, "Grad-CAM layer '%s': the network's output does not depend on it",
                       net->g.layers[net->cam_layer].name);
    return s;
}

ctvk_status ctvk_net_cam_read(ctvk_net *net, int n, float *act, float *grad)
{
    if (!net->cam) return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM on a network not created for it (ctvk_net_create_cam)");
    if (n != net->n)
        return ctvk__fail(CTVK_ERR_ARG, "Grad-CAM maps of %d samples asked, the last pass had %d", n, net->n);
    const xval *v = &net->V[net->cam_value];
    size_t bytes = (size_t)n * per_sample(v->shape) * sizeof(float);
    if (act) CTVK_TRY(ctvk_tensor_download(v->t, act, bytes));
    if (grad) CTVK_TRY(ctvk_tensor_download(v->g, grad, bytes));
    return CTVK_OK;
}
