/* The distributed parts of the executor: batch-norm statistics and backward sums over every rank
 * (synchronised BN), and the gradient all-reduce. */
#include "net/exec_internal.h"
#include "ctvk/dist.h"
#include <stdlib.h>

/* Batch statistics of BN layer i summed over the ranks (x NULL: this rank has no samples this
 * step and only takes part): each rank's (rows, mean, M2) per channel in double, the global mean
 * from the sums of rows and rows * mean, then M2 = sum of (M2_r + rows_r (mean_r - mean)^2);
 * every rank then finishes with the same numbers (moving statistics included). */
ctvk_status ctvk__exec_sync_bn_stats(ctvk_net *net, int i, const ctvk_tensor *x)
{
    xlayer *L = &net->L[i];
    int C = net->V[L->vin[0]].shape.c;
    double *m = calloc(7 * (size_t)C, sizeof *m);
    if (!m) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    double *sums = m + 3 * C, *mean = m + 5 * C, *sq = m + 6 * C;
    ctvk_status s = x ? ctvk_bn_local_moments(net->ctx, x, net->work, m) : CTVK_OK;
    if (!s) {
        ctvk_bn_merge_sums(m, C, sums);
        s = ctvk_dist_sum_f64(sums, 2 * (size_t)C);
    }
    if (!s && !(sums[0] >= 1)) {       /* no rank has a sample in this piece (skipped slices): nothing to do */
        free(m);
        return CTVK_OK;
    }
    if (!s) {
        for (int c = 0; c < C; c++) mean[c] = sums[C + c] / sums[c];
        ctvk_bn_merge_squares(m, C, mean, sq);
        s = ctvk_dist_sum_f64(sq, (size_t)C);
    }
    if (!s) {
        L->rows = sums[0];
        s = ctvk_bn_set_moments(net->ctx, C, sums[0], mean, sq, L->prm[2], L->prm[3], L->eps, L->momentum, L->saved,
                                net->work);
    }
    free(m);
    return s;
}

/* The backward sums (sum g, sum g xhat) of BN layer i summed over the ranks (x NULL: no samples). */
ctvk_status ctvk__exec_sync_bn_grads(ctvk_net *net, int i, const ctvk_tensor *x)
{
    ctvk_shape xs = net->V[net->L[i].vin[0]].shape;
    int C = xs.c;
    double *g = calloc(2 * (size_t)C, sizeof *g);
    if (!g) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (x) xs = ctvk_tensor_shape(x);
    ctvk_status s = x ? ctvk_bn_grad_sums_get(net->work, xs, g) : CTVK_OK;
    if (!s) s = ctvk_dist_sum_f64(g, 2 * (size_t)C);
    if (!s && x) s = ctvk_bn_grad_sums_set(net->work, xs, g);
    free(g);
    return s;
}

ctvk_status ctvk_net_sum_gradients(ctvk_net *net)
{
    CTVK_TRY(ctvk__exec_trains(net));
    if (!ctvk_dist_enabled()) return CTVK_OK;
    size_t n = net->g.params_total;
    void *mapped = ctvk__tensor_host(net->grads);
    if (mapped) {                     /* unified memory: reduce in place, no copies */
        CTVK_TRY(ctvk_sync(net->ctx));
        return ctvk_dist_sum_f32(mapped, n);
    }
    if (!net->host_grads && !(net->host_grads = malloc(n * sizeof *net->host_grads)))
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    float *h = net->host_grads;        /* kept: a step should not map and fault in 100 MiB anew */
    ctvk_label_push(net->ctx, "allreduce");
    ctvk_status s = ctvk_tensor_download(net->grads, h, n * sizeof *h);
    if (!s) s = ctvk_dist_sum_f32(h, n);
    if (!s) s = ctvk_tensor_upload(net->grads, h, n * sizeof *h);
    ctvk_label_pop(net->ctx);
    return s;
}

ctvk_status ctvk_net_set_sync_bn(ctvk_net *net, int on)
{
    net->sync_bn = 0;
    if (!on) return CTVK_OK;
    /* the ranks pair their BN collectives layer by layer, also in backward: a BN layer whose
     * gradient the loss does not need would be skipped by ranks with samples (backward_layer) */
    const ctvk_graph *g = &net->g;
    char *path = calloc((size_t)g->nlayers, 1);
    if (!path) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    path[g->output] = 1;
    for (int i = g->nlayers - 1; i >= 0; i--)
        for (int k = 0; path[i] && k < g->layers[i].nin; k++) path[g->layers[i].in[k]] = 1;
    int off = -1;
    for (int i = 0; i < g->nlayers && off < 0; i++) if (g->layers[i].op == CTVK_OP_BN && !path[i]) off = i;
    free(path);
    if (off >= 0)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "synchronised batch norm: layer %s does not lead to the loss",
                          g->layers[off].name);
    net->sync_bn = 1;
    return CTVK_OK;
}
