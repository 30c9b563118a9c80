/* Views of the planned buffers for a batch of n samples, and batch slices where one of a layer's
 * tensors is larger than one binding may span. */
#include "net/exec_internal.h"
#include <stdlib.h>

static void drop_slices(ctvk_net *net)
{
    for (int i = 0; net->L && i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        for (int k = 0; x->sv && k < x->nsl * NSLOT; k++) ctvk_tensor_destroy(x->sv[k]);
        free(x->sv);
        x->sv = NULL;
        x->nsl = 0;
    }
}

void ctvk__exec_drop_views(ctvk_net *net)
{
    drop_slices(net);
    for (int v = 0; v < net->nv; v++) {
        ctvk_tensor_destroy(net->V[v].t);
        ctvk_tensor_destroy(net->V[v].g);
        net->V[v].t = net->V[v].g = NULL;
    }
    for (int i = 0; i < net->g.nlayers; i++) {
        ctvk_tensor_destroy(net->L[i].argmax);
        net->L[i].argmax = NULL;
    }
    ctvk_tensor_destroy(net->labels_n);
    ctvk_tensor_destroy(net->probs_n);
    ctvk_tensor_destroy(net->dlogits_n);
    net->labels_n = net->probs_n = net->dlogits_n = NULL;
    net->n = 0;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) { uint64_t t = a % b; a = b; b = t; }
    return a;
}

uint64_t ctvk_net_bind_limit(const ctvk_net *net)
{
    uint64_t dev = net->ctx->props.limits.maxStorageBufferRange;
    return net->bind_limit && net->bind_limit < dev ? net->bind_limit : dev;
}

/* Cuts layer i's kernels into sample ranges when one of its batch tensors spans more bytes than
 * one binding may: every range of s samples fits, and starts at an offset every binding accepts.
 * Kernels that work sample by sample run once per range; batch-norm statistics still cover the
 * whole batch (net/bn.c reads it through one binding), conv weight gradients accumulate. */
static ctvk_status plan_slices(ctvk_net *net, int i, int n)
{
    xlayer *x = &net->L[i];
    if (x->kind == K_NONE || x->kind == K_INPUT) return CTVK_OK;
    uint64_t limit = ctvk_net_bind_limit(net), biggest = 0;
    const VkPhysicalDeviceLimits *L = &net->ctx->props.limits;
    uint64_t align = L->minStorageBufferOffsetAlignment > L->minTexelBufferOffsetAlignment
                     ? L->minStorageBufferOffsetAlignment : L->minTexelBufferOffsetAlignment;
    if (align < 16) align = 16;      /* 4-component texel views */
    uint64_t step = 1;               /* s must be a multiple of step for aligned offsets */
    for (int k = 0; k < NSLOT; k++) {
        ctvk_tensor *t = slot_whole(net, x, k);
        if (!t) continue;
        uint64_t ps = ctvk_tensor_bytes(t) / (uint64_t)n;
        if (ps > biggest) biggest = ps;
        uint64_t q = align / gcd_u64(ps, align);
        if (q > step) step = q;      /* align is a power of two, so the largest q is a multiple of the others */
    }
    if (biggest * (uint64_t)n <= limit) return CTVK_OK;
    const char *name = net->g.layers[i].name;
    if (x->kind == K_DROPOUT || x->kind == K_DENSE)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "layer %s: a %.1f MiB tensor is more than one binding may span "
                          "(%.1f MiB) on %s; use a smaller batch", name, (double)(biggest * (uint64_t)n) / 1048576.0,
                          (double)limit / 1048576.0, net->ctx->info.name);
    uint64_t s = limit / biggest;
    s -= s % step;
    if (s < 1)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "layer %s: one sample needs %.1f MiB in one binding, more than the "
                          "%.1f MiB %s allows; use a smaller input size", name, (double)biggest / 1048576.0,
                          (double)limit / 1048576.0, net->ctx->info.name);
    int nsl = (int)(((uint64_t)n + s - 1) / s);
    x->sv = calloc((size_t)nsl * NSLOT, sizeof *x->sv);
    if (!x->sv) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    x->nsl = nsl;
    for (int k = 0; k < nsl; k++) {
        int first = (int)((uint64_t)k * s), cnt = n - first < (int)s ? n - first : (int)s;
        for (int slot = 0; slot < NSLOT; slot++) {
            ctvk_tensor *t = slot_whole(net, x, slot);
            if (!t) continue;
            ctvk_shape sh = ctvk_tensor_shape(t);
            size_t ps = ctvk_tensor_count(t) / (size_t)n;
            sh.n = cnt;
            CTVK_TRY(ctvk_tensor_view(t, (size_t)first * ps, sh, name, &x->sv[k * NSLOT + slot]));
        }
    }
    return CTVK_OK;
}

/* Views of every planned buffer for a batch of n samples. */
ctvk_status ctvk__exec_bind_batch(ctvk_net *net, int n)
{
    if (n == net->n) return CTVK_OK;
    if (n < 1 || n > net->max_batch)
        return ctvk__fail(CTVK_ERR_ARG, "batch of %d samples: the network was made for 1 to %d", n, net->max_batch);
    ctvk__exec_drop_views(net);
    for (int v = 0; v < net->nv; v++) {
        xval *x = &net->V[v];
        const xval *r = &net->V[x->root];
        ctvk_shape s = x->shape;
        s.n = n;
        ctvk_tensor *base = net->L[r->producer].kind == K_INPUT ? net->input : r->buf >= 0 ? net->abuf[r->buf].t : NULL;
        if (base) CTVK_TRY(ctvk_tensor_view(base, 0, s, net->g.layers[x->producer].name, &x->t));
        if (r->gbuf >= 0) CTVK_TRY(ctvk_tensor_view(net->gbufs[r->gbuf].t, 0, s, "gradient", &x->g));
    }
    for (int i = 0; i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        if (!x->argmax_all) continue;
        ctvk_shape s = net->g.layers[i].out;
        s.n = n;
        CTVK_TRY(ctvk_tensor_view(x->argmax_all, 0, s, "argmax", &x->argmax));
    }
    ctvk_shape ls = {n, 1, 1, net->g.cfg.classes};
    CTVK_TRY(ctvk_tensor_view(net->labels, 0, ls, "labels", &net->labels_n));
    CTVK_TRY(ctvk_tensor_view(net->probs, 0, ls, "probs", &net->probs_n));
    CTVK_TRY(ctvk_tensor_view(net->dlogits, 0, ls, "dlogits", &net->dlogits_n));
    net->n = n;
    for (int i = 0; i < net->g.nlayers; i++) {
        ctvk_status s = plan_slices(net, i, n);
        if (s) { ctvk__exec_drop_views(net); return s; }
    }
    return CTVK_OK;
}

void ctvk_net_set_bind_limit(ctvk_net *net, uint64_t bytes)
{
    net->bind_limit = bytes;
    ctvk__exec_drop_views(net);
}

int ctvk_net_sliced_layers(const ctvk_net *net, int *max_slices)
{
    int n = 0, mx = 1;
    for (int i = 0; i < net->g.nlayers; i++)
        if (net->L[i].nsl) {
            n++;
            if (net->L[i].nsl > mx) mx = net->L[i].nsl;
        }
    if (max_slices) *max_slices = mx;
    return n;
}
