/* The executor's plan (net/exec_internal.h): layers and values from the graph, the measured choices
 * (Winograd tiles, inference fusions, split-K dense), what the backward pass keeps, and buffer
 * pools assigned by liveness. */
#include "net/exec_internal.h"
#include <stdlib.h>
#include <string.h>

static int new_value(ctvk_net *net, ctvk_shape s, int producer)
{
    xval *v = &net->V[net->nv];
    memset(v, 0, sizeof *v);
    v->shape = s;
    v->root = net->nv;
    v->producer = producer;
    v->last_use = producer;
    v->buf = v->gbuf = -1;
    v->grad_first = v->grad_last = -1;
    return net->nv++;
}

static void use(ctvk_net *net, int v, int layer)
{
    int r = root(net, v);
    if (layer > net->V[r].last_use) net->V[r].last_use = layer;
}

static int consumers(const ctvk_graph *g, int i, int *only)
{
    int n = 0;
    for (int j = i + 1; j < g->nlayers; j++)
        for (int k = 0; k < g->layers[j].nin; k++)
            if (g->layers[j].in[k] == i) { n++; *only = j; }
    return n;
}

/* The Winograd tile (outputs per side) for a conv with output ys: F(4x4, 3x3) (36 products per 16
 * outputs) unless F(2x2, 3x3) (16 per 4) does less work counting the tiles that pad the GEMM rows
 * to 16 (small maps: 7x7 has 4 tiles of 4x4 but 16 of 2x2). Measured on lavapipe (ctvk bench
 * kernels --tile, GFLOP/s of the direct conv's work, forward): 128x128x64 -> 64 51 direct, 45
 * F(2,3), 82 F(4,3); 32x32x256 -> 256 51, 81, 137; P3 51, 97, 158; 7x7x512 -> 512 41, 43, 20. */
static int wino_tile(ctvk_shape ys)
{
    size_t cost[2];
    for (int k = 0; k < 2; k++) {
        int m = 2 + 2 * k;
        size_t t = (size_t)ys.n * (size_t)((ys.h + m - 1) / m) * (size_t)((ys.w + m - 1) / m);
        cost[k] = (t + 15) / 16 * 16 * (size_t)((m + 2) * (m + 2));
    }
    return cost[1] <= cost[0] ? 4 : 2;
}

/* Elements of conv layer i's transformed weights. */
size_t ctvk__exec_wino_weights(const ctvk_net *net, int i)
{
    const ctvk_layer *l = &net->g.layers[i];
    return ctvk_conv2d_winograd_weights_count(net->V[net->L[i].vin[0]].shape.c, l->out.c, net->L[i].wm);
}

/* Elements of the shared workspaces (Winograd, split-K dense). */
size_t ctvk__exec_workspace_count(const ctvk_net *net)
{
    return net->wino_v_count + net->wino_m_count + net->wino_u_count + net->dense_work_count;
}

/* Whether a Winograd pass over input xs (batch max_batch) to cout channels is worth it and its
 * workspaces fit one binding; if so, sizes them. From 64 input channels: F(4x4, 3x3) measured
 * 1.6x the direct conv at 64, 2.7-3x from 256. Training transforms the current weights before
 * every use (F(4x4, 3x3): 36 stored values per filter pair, 250 ms per batch-2 step for both
 * passes on lavapipe, against 44 ms for F(2x2, 3x3) from 128 channels) and still gains: batch-2
 * step 6.3-7.1 s -> 5.8-6.0 s (min of interleaved runs). */
static int winograd_fits(ctvk_net *net, const ctvk_conv2d *p, ctvk_shape xs, int cout, int m)
{
    xs.n = net->max_batch;
    if (xs.c < 64 || !ctvk_conv2d_winograd_ok(net->ctx, p, xs, cout)) return 0;
    size_t nv, nm;
    ctvk_conv2d_winograd_workspace(p, xs, cout, m, &nv, &nm);
    /* the workspaces and the transformed weights are each bound whole (a texel buffer where they
     * fit one, else a storage buffer) */
    uint64_t limit = ctvk_net_bind_limit(net);
    uint64_t nu = ctvk_conv2d_winograd_weights_count(xs.c, cout, m);
    if ((uint64_t)nv * sizeof(float) > limit || (uint64_t)nm * sizeof(float) > limit || nu * sizeof(float) > limit)
        return 0;
    if (nv > net->wino_v_count) net->wino_v_count = nv;
    if (nm > net->wino_m_count) net->wino_m_count = nm;
    return 1;
}

/* The Winograd passes of conv layer x (forward; in training also backward-data, a conv of dy). */
static void plan_winograd(ctvk_net *net, xlayer *x, ctvk_shape out)
{
    ctvk_shape xs = net->V[x->vin[0]].shape, ys = out;
    ys.n = net->max_batch;
    x->wm = wino_tile(ys);
    x->wino = winograd_fits(net, &x->conv, xs, out.c, x->wm);
    ctvk_conv2d q;
    if (net->training && ctvk_conv2d_winograd_ok(net->ctx, &x->conv, xs, out.c) &&
        ctvk_conv2d_winograd_backward_geometry(&x->conv, &q) == CTVK_OK)
        x->wino_bwd = winograd_fits(net, &q, out, xs.c, x->wm);
    size_t u = ctvk_conv2d_winograd_weights_count(xs.c, out.c, x->wm);
    if (net->training && (x->wino || x->wino_bwd) && u > net->wino_u_count) net->wino_u_count = u;
}

/* Value and kind of every layer, with the fusions. */
ctvk_status ctvk__exec_plan_layers(ctvk_net *net)
{
    const ctvk_graph *g = &net->g;
    int *lv = malloc((size_t)g->nlayers * sizeof *lv);     /* value holding layer i's output */
    int *padded = calloc((size_t)g->nlayers, sizeof *padded);   /* layer i is a ZeroPadding folded away */
    if (!lv || !padded) { free(lv); free(padded); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        xlayer *x = &net->L[i];
        memset(x, 0, sizeof *x);
        x->zv = -1;
        x->vin[0] = l->nin > 0 ? lv[l->in[0]] : -1;
        x->vin[1] = l->nin > 1 ? lv[l->in[1]] : -1;
        int only = -1, nc = consumers(g, i, &only);
        /* a padding whose only consumer is a conv or max pool is folded into it */
        int src = l->nin ? l->in[0] : -1;
        int pt = 0, pb = 0, pl = 0, pr = 0;
        if (src >= 0 && padded[src]) {
            const ctvk_layer *p = &g->layers[src];
            pt = p->pad_t; pb = p->pad_b; pl = p->pad_l; pr = p->pad_r;
        }
        switch (l->op) {
        case CTVK_OP_INPUT:
            x->kind = K_INPUT;
            lv[i] = new_value(net, l->out, i);
            break;
        case CTVK_OP_ZEROPAD:
            if (nc == 1 && i != net->cam_layer &&
                (g->layers[only].op == CTVK_OP_CONV || g->layers[only].op == CTVK_OP_MAXPOOL)) {
                x->kind = K_NONE;
                padded[i] = 1;
                lv[i] = x->vin[0];
            } else {
                x->kind = K_PAD;
                x->pt = l->pad_t; x->pb = l->pad_b; x->pl = l->pad_l; x->pr = l->pad_r;
                lv[i] = new_value(net, l->out, i);
            }
            break;
        case CTVK_OP_CONV:
            x->kind = K_CONV;
            CTVK_TRY(ctvk_conv2d_padded(l->kh, l->kw, l->stride, l->stride, l->pad_t + pt, l->pad_b + pb,
                                        l->pad_l + pl, l->pad_r + pr, &x->conv));
            lv[i] = new_value(net, l->out, i);
            break;
        case CTVK_OP_MAXPOOL:
            x->kind = K_MAXPOOL;
            x->k = l->kh; x->stride = l->stride; x->pt = pt; x->pb = pb; x->pl = pl; x->pr = pr;
            lv[i] = new_value(net, l->out, i);
            break;
        case CTVK_OP_BN: {
            int conv_only;
            /* inference: bn(conv(x)) = conv'(x), with the BN in the conv's weights (ctvk_bn_fold) */
            if (!net->training && l->nin == 1 && l->nparams == 4 && g->layers[l->in[0]].op == CTVK_OP_CONV &&
                consumers(g, l->in[0], &conv_only) == 1) {
                x->kind = K_NONE;
                x->folded = 1;
                lv[i] = x->vin[0];
                net->L[l->in[0]].fold_bn = i + 1;
                if (nc == 1 && g->layers[only].op == CTVK_OP_RELU) x->relu = net->L[l->in[0]].conv.relu = 1;
                break;
            }
        }
            /* fall through */
        case CTVK_OP_ADD:
            x->kind = l->op == CTVK_OP_BN ? K_BN : K_ADD;
            x->eps = l->eps;
            x->momentum = l->momentum;
            lv[i] = new_value(net, l->out, i);
            /* the ReLU becomes an alias (not after the Grad-CAM layer: its own output is read) */
            if (nc == 1 && g->layers[only].op == CTVK_OP_RELU && i != net->cam_layer) x->relu = 1;
            break;
        case CTVK_OP_RELU: {
            const xlayer *p = &net->L[l->in[0]];
            if ((p->kind == K_BN || p->kind == K_ADD || p->folded) && p->relu) { x->kind = K_NONE; lv[i] = x->vin[0]; }
            else { x->kind = K_RELU; lv[i] = new_value(net, l->out, i); }
            break;
        }
        case CTVK_OP_GAP: x->kind = K_GAP; lv[i] = new_value(net, l->out, i); break;
        case CTVK_OP_RESIZE: x->kind = K_RESIZE; lv[i] = new_value(net, l->out, i); break;
        case CTVK_OP_CONCAT: x->kind = K_CONCAT; lv[i] = new_value(net, l->out, i); break;
        case CTVK_OP_DROPOUT: x->kind = K_DROPOUT; x->rate = l->rate; lv[i] = new_value(net, l->out, i); break;
        case CTVK_OP_FLATTEN: {
            x->kind = K_NONE;
            int v = new_value(net, l->out, i);
            net->V[v].root = root(net, x->vin[0]);
            lv[i] = v;
            break;
        }
        case CTVK_OP_DENSE: {
            x->kind = K_DENSE;
            x->relu = l->act == CTVK_ACT_RELU;
            /* few rows and outputs over a long input (the FPN heads): split-K forward; for
             * inference also over a short one (the FPN's last layer, 10 -> 2): as fast there, and
             * lavapipe compiles no GEMM kernel of its own for it (0.4 s of a first run). Training
             * keeps the GEMM kernel there, whose sums round in another order. */
            size_t in = per_sample(net->V[x->vin[0]].shape);
            if (ctvk_dense_splitk_ok(net->max_batch, in, l->out.c) ||
                (!net->training && ctvk_dense_splitk_fits(net->max_batch, in, l->out.c))) {
                size_t w = ctvk_dense_splitk_workspace(net->max_batch, in, l->out.c);
                x->splitk = 1;
                if (w > net->dense_work_count) net->dense_work_count = w;
            }
            lv[i] = new_value(net, l->out, i);
            break;
        }
        }
        x->vout = lv[i];
        /* a folded padding's consumer reads the padding's input */
        if (src >= 0 && padded[src]) x->vin[0] = lv[g->layers[src].in[0]];
        if (x->kind == K_CONV) plan_winograd(net, x, l->out);
    }
    net->logits_value = lv[g->output];
    if (net->cam) net->cam_value = lv[net->cam_layer];
    free(lv);
    free(padded);
    if (g->layers[g->output].op != CTVK_OP_DENSE || g->layers[g->output].act != CTVK_ACT_SOFTMAX)
        return ctvk__fail(CTVK_ERR_ARG, "network %s: the last layer must be a softmax Dense to run it "
                          "(head 'none' is a backbone only)", g->cfg.arch);
    return CTVK_OK;
}

/* Layers (and the network output) reading value r's buffer. */
static int readers(const ctvk_net *net, int r)
{
    int n = root(net, net->logits_value) == r;
    for (int j = 0; j < net->g.nlayers; j++) {
        const xlayer *y = &net->L[j];
        if (y->kind == K_NONE || y->kind == K_INPUT) continue;
        for (int k = 0; k < 2; k++) n += y->vin[k] >= 0 && root(net, y->vin[k]) == r;
    }
    return n;
}

/* Inference epilogue fusions (ctvk_conv2d_forward_fused, GPU kernels): an add whose one addend is a conv read by
 * nothing else runs as that conv's epilogue when the other addend is ready before the conv runs
 * (the add's value becomes the conv's output); a batch norm reading a conv's output becomes the
 * conv's second output. Channels in fours (4-component views); Winograd convs keep their own
 * epilogue. */
void ctvk__exec_plan_fusions(ctvk_net *net)
{
    for (int i = 0; i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        if (x->kind != K_ADD) continue;
        for (int k = 0; k < 2; k++) {
            int r = root(net, x->vin[k]), o = x->vin[1 - k], P = net->V[r].producer;
            xlayer *c = &net->L[P];
            if (c->kind != K_CONV || c->wino || c->conv.relu || c->vin[1] >= 0 || net->V[r].shape.c % 4 ||
                readers(net, r) != 1 || net->V[root(net, o)].producer >= P || root(net, o) == r)
                continue;
            c->vin[1] = o;
            c->conv.relu = x->relu;
            int a = x->vout;
            net->V[a].producer = P;
            net->V[a].last_use = P;  /* born earlier; its readers extend it */
            c->vout = a;
            for (int v = 0; v < net->nv; v++)    /* the conv's own value is never written: an alias */
                if (net->V[v].root == r) net->V[v].root = a;
            x->kind = K_NONE;
            break;
        }
    }
    for (int i = 0; i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        if (x->kind != K_BN || net->g.layers[i].nparams != 4) continue;
        int r = root(net, x->vin[0]), P = net->V[r].producer;
        xlayer *c = &net->L[P];
        if (c->kind != K_CONV || c->wino || c->zv >= 0 || root(net, c->vout) != r || net->V[r].shape.c % 4) continue;
        c->zv = x->vout;
        c->zbn = i + 1;
        c->z_relu = x->relu;
        net->V[x->vout].producer = P;
        net->V[x->vout].last_use = P;
        x->kind = K_NONE;
    }
    for (int i = 0; i < net->g.nlayers; i++) {   /* a conv output nobody reads is not stored */
        xlayer *c = &net->L[i];
        if (c->kind == K_CONV && c->zv >= 0 && readers(net, root(net, c->vout)) == 0) c->skip_y = 1;
    }
}

/* What the backward pass reads, and which layers read or write each gradient. */
void ctvk__exec_plan_backward(ctvk_net *net)
{
    for (int i = 0; i < net->g.nlayers; i++) {
        xlayer *x = &net->L[i];
        if (x->kind == K_NONE || x->kind == K_INPUT) continue;
        for (int k = 0; k < 2; k++) if (x->vin[k] >= 0) use(net, x->vin[k], i);
        if (!net->training) continue;
        int in = x->vin[0] >= 0 ? root(net, x->vin[0]) : -1, out = root(net, x->vout);
        if (x->kind == K_CONV || x->kind == K_BN || x->kind == K_DENSE) net->V[in].keep = 1;
        if (x->relu || x->kind == K_RELU) net->V[out].keep = 1;
        /* gradients: this layer's backward reads the gradient of its output and writes those of its
         * inputs. In reverse order the first writer is the highest layer index. */
        xval *o = &net->V[out];
        if (o->grad_last < 0 || i < o->grad_last) o->grad_last = i;
        if (o->grad_first < i) o->grad_first = i;
        for (int k = 0; k < 2; k++) {
            if (x->vin[k] < 0) continue;
            xval *v = &net->V[root(net, x->vin[k])];
            if (v->grad_first < i) v->grad_first = i;
            if (v->grad_last < 0 || i < v->grad_last) v->grad_last = i;
        }
    }
}

/* Assigns pool buffers: a value takes a free buffer (best fit, grown if needed) when it is born
 * and gives it back after its last use; order is the forward order for activations and the
 * reverse order for gradients. */
static int pool_take(xbuf **pool, int *n, int *busy, size_t elems)
{
    int best = -1;
    for (int i = 0; i < *n; i++) {
        if (busy[i]) continue;
        if (best < 0) { best = i; continue; }
        /* prefer the smallest buffer that fits, else the largest one (it grows least) */
        int fits = (*pool)[i].elems >= elems, bfits = (*pool)[best].elems >= elems;
        if ((fits && (!bfits || (*pool)[i].elems < (*pool)[best].elems)) ||
            (!fits && !bfits && (*pool)[i].elems > (*pool)[best].elems))
            best = i;
    }
    if (best < 0) {
        xbuf *np = realloc(*pool, (size_t)(*n + 1) * sizeof *np);
        if (!np) return -1;
        *pool = np;
        best = (*n)++;
        (*pool)[best] = (xbuf){0, NULL};
    }
    if ((*pool)[best].elems < elems) (*pool)[best].elems = elems;
    busy[best] = 1;
    return best;
}

ctvk_status ctvk__exec_plan_buffers(ctvk_net *net)
{
    int nl = net->g.nlayers;
    int *busy = calloc((size_t)(2 * nl + 2), sizeof *busy);
    if (!busy) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    size_t mb = (size_t)net->max_batch;
    uint64_t live = 0;
    /* activations, forward order; the input has its own tensor */
    for (int i = 0; i < nl; i++) {
        for (int v = 0; v < net->nv; v++) {
            xval *x = &net->V[v];
            if (x->root != v || x->producer != i || net->L[i].kind == K_INPUT) continue;
            x->buf = pool_take(&net->abuf, &net->nabuf, busy, per_sample(x->shape) * mb);
            if (x->buf < 0) { free(busy); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
            live += per_sample(x->shape) * mb * sizeof(float);
        }
        if (live > net->act_live_peak) net->act_live_peak = live;
        for (int v = 0; v < net->nv; v++) {
            xval *x = &net->V[v];
            if (x->root == v && x->buf >= 0 && x->last_use == i && !x->keep && v != net->logits_value) {
                busy[x->buf] = 0;
                live -= per_sample(x->shape) * mb * sizeof(float);
            }
        }
    }
    if (net->training) {
        memset(busy, 0, (size_t)(2 * nl + 2) * sizeof *busy);
        live = 0;
        for (int i = nl - 1; i >= 0; i--) {
            for (int v = 0; v < net->nv; v++) {
                xval *x = &net->V[v];
                if (x->root != v || x->grad_first != i || net->L[x->producer].kind == K_INPUT) continue;
                x->gbuf = pool_take(&net->gbufs, &net->ngbuf, busy, per_sample(x->shape) * mb);
                if (x->gbuf < 0) { free(busy); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
                live += per_sample(x->shape) * mb * sizeof(float);
            }
            if (live > net->grad_live_peak) net->grad_live_peak = live;
            for (int v = 0; v < net->nv; v++) {
                xval *x = &net->V[v];
                if (x->root == v && x->gbuf >= 0 && x->producer == i) {
                    busy[x->gbuf] = 0;
                    live -= per_sample(x->shape) * mb * sizeof(float);
                }
            }
        }
        /* the logits' gradient is written by the loss before any backward */
        xval *lg = &net->V[root(net, net->logits_value)];
        if (lg->gbuf < 0) lg->gbuf = pool_take(&net->gbufs, &net->ngbuf, busy, per_sample(lg->shape) * mb);
    }
    free(busy);
    return CTVK_OK;
}
