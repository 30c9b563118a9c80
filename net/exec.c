/* The device executor: turns a layer graph into a plan of fused kernels over planned buffers, and
 * records forward, loss, backward and Nadam through the kernel launchers of net/. */
#include "net/conv.h"
#include "net/exec.h"
#include "net/ops.h"
#include "net/train_ops.h"
#include "ctvk/dist.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_NONE, K_INPUT, K_CONV, K_BN, K_RELU, K_ADD, K_PAD, K_MAXPOOL, K_GAP, K_RESIZE, K_CONCAT,
            K_DROPOUT, K_DENSE };

/* A value: one activation of the batch. Aliases (Flatten) share their root's buffer. */
typedef struct xval {
    ctvk_shape shape;        /* per sample */
    int root;                /* the value owning the buffer (itself unless an alias) */
    int producer;            /* layer writing it */
    int last_use;            /* last layer reading it in the forward pass */
    int keep;                /* read by the backward pass */
    int buf, gbuf;           /* activation / gradient pool buffer */
    int grad_first, grad_last;   /* layers (in forward numbering) whose backward writes / reads its gradient */
    ctvk_tensor *t, *g;      /* views for the current batch size */
    int grad_ready;
} xval;

typedef struct xlayer {
    enum kind kind;
    int vin[2], vout;
    ctvk_conv2d conv;        /* conv geometry incl. folded padding */
    int k, stride, pt, pb, pl, pr;   /* maxpool / pad */
    int relu;
    float eps, momentum, rate;
    ctvk_tensor *prm[4], *grd[4];    /* parameter and gradient views */
    ctvk_tensor *saved;      /* BN: mean and invstd */
    double rows;             /* BN with synchronised statistics: rows over all ranks */
    /* inference: a BN right after a conv (its only consumer) is folded into the conv's weights */
    int fold_bn;             /* conv: the BN layer folded into it, + 1 (0: none) */
    int folded;              /* BN: folded into the conv before it */
    ctvk_tensor *wf, *bf;    /* conv: the folded weights and bias */
    /* a 3x3 stride-1 conv with Cin >= 64 runs forward as Winograd F(wm x wm, 3x3) (net/wino.c),
     * and in training with Cout >= 64 its backward-data too */
    int wino, wino_bwd, wm;
    /* inference: a residual add reading this conv (its only reader) is done in the conv's epilogue
     * (vin[1] is then the other addend), and so is a batch norm reading the result: zv is its
     * output value (-1: none), zbn its layer + 1, aff its scale and shift (ctvk_bn_affine) */
    int zv, zbn, z_relu, skip_y;
    ctvk_tensor *aff;
    int splitk;              /* dense: forward through the split-K kernel (net->dense_work) */
    ctvk_tensor *wu;         /* its transformed weights (R*R x Cin x Cout); in training a view of the
                              * shared net->wino_u, transformed before each use */
    ctvk_tensor *argmax_all, *argmax;    /* max pool (training) */
    /* batch slices: when one of the layer's tensors is larger than one binding may span, its
     * kernels run over nsl sample ranges; sv[k * NSLOT + slot] is slot's view for slice k */
    int nsl;
    ctvk_tensor **sv;
} xlayer;

/* The batch-shaped tensors a layer's kernels bind. */
enum { SA, SB, SY, SG, SDA, SDB, SARG, SZ, NSLOT };

typedef struct xbuf { size_t elems; ctvk_tensor *t; } xbuf;

struct ctvk_net {
    ctvk_ctx *ctx;
    ctvk_graph g;
    int max_batch, training, n;       /* n: the batch size the views are made for (0: none) */
    xlayer *L;
    xval *V;
    int nv;
    xbuf *abuf, *gbufs;
    int nabuf, ngbuf;
    ctvk_tensor *input;
    ctvk_tensor *params, *grads, *m, *v;
    ctvk_flat fp, fg, fm, fv;
    ctvk_nadam opt;
    ctvk_tensor *labels, *probs, *stats, *vstats, *nstats, *dlogits, *work;
    /* Winograd workspaces (transformed inputs, GEMM outputs) and, in training, the transformed
     * weights of the layer at hand (transformed before each use: the weights change every step) */
    ctvk_tensor *wino_v, *wino_m, *wino_u;
    size_t wino_v_count, wino_m_count, wino_u_count;
    ctvk_tensor *dense_work;          /* split-K dense partial sums */
    size_t dense_work_count;
    ctvk_tensor *labels_n, *probs_n, *dlogits_n;
    int logits_value;
    uint64_t bytes;
    uint64_t bind_limit;              /* bytes one binding of a batch tensor may span (0: the device's) */
    uint64_t act_live_peak, grad_live_peak;   /* bytes (max_batch) live at once by liveness */
    /* the step in progress as a part of a bigger batch (ctvk_net_backprop) */
    int part_first, acc_grads;
    float *host_grads;                /* the gradients on the host for the all-reduce (staged devices) */
    int sync_bn;                      /* batch statistics over all ranks (ctvk_dist) */
    /* Grad-CAM (ctvk_net_create_cam): a training-shaped plan run in inference mode, backward from
     * one logit down to layer cam_layer (-1: not a Grad-CAM network), whose output value cam_value
     * is kept; no parameter gradients or optimizer state */
    int cam, cam_layer, cam_value;
};

/* ---------------------------------------------------------------- planning */
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

static int root(const ctvk_net *net, int v) { return net->V[v].root; }

static size_t per_sample(ctvk_shape s) { return (size_t)s.h * (size_t)s.w * (size_t)s.c; }

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
static size_t wino_weights(const ctvk_net *net, int i)
{
    const ctvk_layer *l = &net->g.layers[i];
    return ctvk_conv2d_winograd_weights_count(net->V[net->L[i].vin[0]].shape.c, l->out.c, net->L[i].wm);
}

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

/* Elements of the shared workspaces (Winograd, split-K dense). */
static size_t workspace_count(const ctvk_net *net)
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
    uint64_t limit = ctvk__net_bind_limit(net);
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
static ctvk_status plan_layers(ctvk_net *net)
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
            /* few rows and outputs over a long input (the FPN heads): split-K forward */
            size_t in = per_sample(net->V[x->vin[0]].shape);
            if (ctvk_dense_splitk_ok(net->max_batch, in, l->out.c)) {
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
static void plan_fusions(ctvk_net *net)
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
static void plan_backward(ctvk_net *net)
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


static ctvk_status plan_buffers(ctvk_net *net)
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

/* ---------------------------------------------------------------- allocation */
static ctvk_status make(ctvk_net *net, ctvk_dtype dt, ctvk_shape s, const char *name, ctvk_tensor **t)
{
    CTVK_TRY(ctvk_tensor_create(net->ctx, dt, s, name, t));
    net->bytes += ctvk_tensor_bytes(*t);
    return CTVK_OK;
}

static ctvk_shape vec(size_t n) { return (ctvk_shape){1, 1, 1, (int)n}; }

/* Refuses up front a network whose planned buffers cannot fit the device memory budget, with the
 * sizes, before anything is allocated (the sum is a lower bound: blocks add alignment). */
static ctvk_status budget_check(const ctvk_net *net)
{
    const ctvk_graph *g = &net->g;
    uint64_t f = sizeof(float), b = (uint64_t)net->max_batch;
    uint64_t params = (uint64_t)g->params_total * f, state = net->training && !net->cam ? 3 * params : 0;
    uint64_t act = 0, grad = 0, other = (uint64_t)g->layers[0].out.h * (uint64_t)g->layers[0].out.w *
                                        (uint64_t)g->layers[0].out.c * b * f + 2 * b * (uint64_t)g->cfg.classes * f;
    for (int i = 0; i < net->nabuf; i++) act += (uint64_t)net->abuf[i].elems * f;
    for (int i = 0; i < g->nlayers; i++) {    /* folded and transformed conv weights count as parameters */
        if (net->L[i].fold_bn) params += ((uint64_t)g->layers[i].params[0].count + (uint64_t)g->layers[i].filters) * f;
        if (net->L[i].wino && !net->training) params += (uint64_t)wino_weights(net, i) * f;
    }
    other += (uint64_t)workspace_count(net) * f;
    if (net->training)
        for (int i = 0; i < net->ngbuf; i++) grad += (uint64_t)net->gbufs[i].elems * f;
    uint64_t need = params + state + act + grad + other;
    uint64_t budget = ctvk__memory_budget(net->ctx), have = net->ctx->mem.allocated;
    if (have + need <= budget) return CTVK_OK;
    double M = 1048576.0;
    return ctvk__fail(CTVK_ERR_DEVICE_MEMORY,
                      "%s %dx%dx%d, batch %d (%s) needs at least %.1f MiB of device memory (parameters %.1f MiB, "
                      "gradients and optimizer state %.1f MiB, activations %.1f MiB, activation gradients %.1f MiB, "
                      "input and outputs %.1f MiB) but the budget on %s is %.1f MiB with %.1f MiB already allocated: "
                      "use a smaller batch or input size, or raise [device] memory_limit_mb",
                      g->cfg.arch, g->cfg.height, g->cfg.width, g->cfg.channels, net->max_batch,
                      net->training ? "training" : "inference", need / M, params / M, state / M, act / M, grad / M,
                      other / M, net->ctx->info.name, budget / M, have / M);
}

static ctvk_status alloc_all(ctvk_net *net)
{
    CTVK_TRY(budget_check(net));
    const ctvk_graph *g = &net->g;
    ctvk_ctx *ctx = net->ctx;
    CTVK_TRY(make(net, CTVK_F32, vec(g->params_total), "parameters", &net->params));
    CTVK_TRY(ctvk_flat_init(net->params, 0, &net->fp));
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
        for (int p = 0; p < l->nparams; p++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%s", l->name, l->params[p].name);
            CTVK_TRY(ctvk_tensor_view(net->params, l->params[p].offset, vec(l->params[p].count), name, &x->prm[p]));
            if (net->grads)
                CTVK_TRY(ctvk_tensor_view(net->grads, l->params[p].offset, vec(l->params[p].count), name, &x->grd[p]));
        }
        if (x->kind == K_BN && net->training)
            CTVK_TRY(make(net, CTVK_F32, vec(2 * (size_t)l->out.c), l->name, &x->saved));
        if (x->fold_bn) {
            char name[2 * CTVK_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s (with %s)", l->name, g->layers[x->fold_bn - 1].name);
            CTVK_TRY(make(net, CTVK_F32, vec(l->params[0].count), name, &x->wf));
            CTVK_TRY(make(net, CTVK_F32, vec((size_t)l->filters), name, &x->bf));
        }
        if (x->kind == K_BN && !net->training && l->nparams == 4)   /* inference: applied as scale/shift */
            CTVK_TRY(make(net, CTVK_F32, vec(2 * (size_t)l->out.c), l->name, &x->aff));
        if (x->zbn) {
            char name[2 * CTVK_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s (with %s)", l->name, g->layers[x->zbn - 1].name);
            CTVK_TRY(make(net, CTVK_F32, vec(2 * (size_t)l->out.c), name, &x->aff));
        }
        if (x->wino || x->wino_bwd) {
            char name[CTVK_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s (Winograd)", l->name);
            if (net->training) {
                CTVK_TRY(ctvk_tensor_view(net->wino_u, 0, vec(wino_weights(net, i)), name, &x->wu));
            } else {
                CTVK_TRY(make(net, CTVK_F32, vec(wino_weights(net, i)), name, &x->wu));
                CTVK_TRY(ctvk_fill(ctx, x->wu, 0.0f));
            }
        }
        if (x->kind == K_MAXPOOL && net->training) {
            ctvk_shape s = l->out;
            s.n = net->max_batch;
            CTVK_TRY(make(net, CTVK_U32, s, l->name, &x->argmax_all));
        }
    }
    return CTVK_OK;
}

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

static void drop_views(ctvk_net *net)
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

/* The whole-batch tensor of a slot (NULL where the layer has none). */
static ctvk_tensor *slot_whole(ctvk_net *net, const xlayer *x, int slot)
{
    switch (slot) {
    case SA: return x->vin[0] >= 0 ? net->V[x->vin[0]].t : NULL;
    case SB: return x->vin[1] >= 0 ? net->V[x->vin[1]].t : NULL;
    case SY: return x->vout >= 0 ? net->V[x->vout].t : NULL;
    case SG: return x->vout >= 0 ? net->V[x->vout].g : NULL;
    case SDA: return x->vin[0] >= 0 ? net->V[x->vin[0]].g : NULL;
    case SDB: return x->vin[1] >= 0 ? net->V[x->vin[1]].g : NULL;
    case SZ: return x->zv >= 0 ? net->V[x->zv].t : NULL;
    default: return x->argmax;
    }
}

/* The tensor of a slot for slice k (the whole batch when the layer is not sliced). */
static ctvk_tensor *S(ctvk_net *net, const xlayer *x, int slot, int k)
{
    return x->nsl ? x->sv[k * NSLOT + slot] : slot_whole(net, x, slot);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) { uint64_t t = a % b; a = b; b = t; }
    return a;
}

uint64_t ctvk__net_bind_limit(const ctvk_net *net)
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
    uint64_t limit = ctvk__net_bind_limit(net), biggest = 0;
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
static ctvk_status bind_batch(ctvk_net *net, int n)
{
    if (n == net->n) return CTVK_OK;
    if (n < 1 || n > net->max_batch)
        return ctvk__fail(CTVK_ERR_ARG, "batch of %d samples: the network was made for 1 to %d", n, net->max_batch);
    drop_views(net);
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
        if (s) { drop_views(net); return s; }
    }
    return CTVK_OK;
}

/* cam_layer >= 0: a Grad-CAM network for that layer (a training plan without training state). */
static ctvk_status net_create(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, int cam_layer,
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
        s = plan_layers(net);
    }
    /* measured on lavapipe (CPU kernels): the fused epilogue costs the conv what the separate add
     * and batch norm cost (its stores and residual reads are per-lane scalar there), so they are
     * fused for the GPU kernels only, where they save two passes over memory */
    /* the fused conv binds 5 storage buffers when its inputs are too large for texel buffers (x, w,
     * y, the residual, z; bias and scale/shift stay texel buffers): only where the device allows that */
    if (!s && !net->training && ctvk_kernel_variant(ctx) == CTVK_VARIANT_GPU &&
        ctx->props.limits.maxPerStageDescriptorStorageBuffers >= 5)
        plan_fusions(net);
    if (!s) {
        plan_backward(net);
        if (net->cam) net->V[root(net, net->cam_value)].keep = 1;   /* read after the pass */
        s = plan_buffers(net);
    }
    if (!s && alloc) s = alloc_all(net);
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
    free(net->host_grads);
    drop_views(net);
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
    ctvk_tensor *own[] = {net->input, net->params, net->grads, net->m, net->v, net->labels, net->probs, net->stats,
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
    return net_create(ctx, g, max_batch, training, -1, 1, out);
}

ctvk_status ctvk__net_plan_memory(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, ctvk__net_mem *m)
{
    ctvk_net *net;
    CTVK_TRY(net_create(ctx, g, max_batch, training, -1, 0, &net));
    memset(m, 0, sizeof *m);
    uint64_t pb = g->params_total * sizeof(float), mb = (uint64_t)max_batch;
    m->params = pb;
    m->grads = training ? pb : 0;
    m->optimizer = training ? 2 * pb : 0;
    for (int i = 0; i < net->nabuf; i++) m->act_pool += net->abuf[i].elems * sizeof(float);
    for (int i = 0; i < net->ngbuf; i++) m->grad_pool += net->gbufs[i].elems * sizeof(float);
    m->act_live_peak = net->act_live_peak;
    m->grad_live_peak = net->grad_live_peak;
    m->other = per_sample(g->layers[0].out) * mb * sizeof(float);
    size_t work = 0;
    for (int i = 0; training && i < g->nlayers; i++) {
        const xlayer *x = &net->L[i];
        if (x->kind == K_BN) {
            ctvk_shape s = net->V[x->vin[0]].shape;
            s.n = max_batch;
            size_t w = ctvk_bn_workspace_count(s);
            if (w > work) work = w;
            m->other += 2 * (uint64_t)g->layers[i].out.c * sizeof(float);
        }
        if (x->kind == K_MAXPOOL) m->other += per_sample(g->layers[i].out) * mb * sizeof(uint32_t);
    }
    m->other += work * sizeof(float);
    m->other += (uint64_t)workspace_count(net) * sizeof(float);   /* Winograd, split-K dense */
    for (int i = 0; i < g->nlayers && !training; i++)
        if (net->L[i].wino) m->other += (uint64_t)wino_weights(net, i) * sizeof(float);
    m->total = m->params + m->grads + m->optimizer + m->act_pool + m->grad_pool + m->other;
    ctvk_net_destroy(net);
    return CTVK_OK;
}

const ctvk_graph *ctvk_net_graph(const ctvk_net *net) { return &net->g; }
ctvk_tensor *ctvk_net_input(ctvk_net *net) { return net->input; }
uint64_t ctvk_net_device_bytes(const ctvk_net *net) { return net->bytes; }

/* Grad-CAM backward through inference batch norms: each BN's `saved` holds its moving mean and
 * 1 / sqrt(moving variance + eps), what the training kernels read as the batch's. */
static ctvk_status cam_saved(ctvk_net *net, const float *params)
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

ctvk_status ctvk_net_set_params(ctvk_net *net, const float *params)
{
    CTVK_TRY(ctvk_tensor_upload(net->params, params, net->g.params_total * sizeof(float)));
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
    if (net->cam) CTVK_TRY(cam_saved(net, params));
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

/* ---------------------------------------------------------------- forward */
static ctvk_tensor *T(ctvk_net *net, int v) { return v >= 0 ? net->V[v].t : NULL; }

/* Dropout masks follow the sample's place in the whole batch (never sliced: see plan_slices). */
static uint32_t dropout_first(const ctvk_net *net, const xlayer *x)
{
    return (uint32_t)((size_t)net->part_first * per_sample(net->V[x->vin[0]].shape));
}

/* Batch statistics of BN layer i summed over the ranks (x NULL: this rank has no samples this
 * step and only takes part): each rank's (rows, mean, M2) per channel in double, the global mean
 * from the sums of rows and rows * mean, then M2 = sum of (M2_r + rows_r (mean_r - mean)^2);
 * every rank then finishes with the same numbers (moving statistics included). */
static ctvk_status sync_bn_stats(ctvk_net *net, int i, const ctvk_tensor *x)
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
static ctvk_status sync_bn_grads(ctvk_net *net, int i, const ctvk_tensor *x)
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
        CTVK_TRY(sync_bn_stats(net, i, T(net, x->vin[0])));
    else if (x->kind == K_BN && training)              /* over the whole batch */
        CTVK_TRY(ctvk_bn_train_stats(net->ctx, T(net, x->vin[0]), x->prm[2], x->prm[3], x->eps, x->momentum,
                                     x->saved, net->work));
    for (int k = 0; k < (x->nsl ? x->nsl : 1); k++) CTVK_TRY(forward_slice(net, i, training, seed, k));
    return CTVK_OK;
}

static ctvk_status forward(ctvk_net *net, int n, int training, uint64_t seed)
{
    CTVK_TRY(bind_batch(net, n));
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
    CTVK_TRY(bind_batch(net, n));
    size_t lbytes = (size_t)n * (size_t)net->g.cfg.classes * sizeof(float);
    if (labels) {
        CTVK_TRY(ctvk_tensor_upload(net->labels_n, labels, lbytes));
    } else {
        CTVK_TRY(ctvk_fill(net->ctx, net->labels_n, 0.0f));
    }
    CTVK_TRY(forward(net, n, 0, 0));
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

/* ---------------------------------------------------------------- backward */
static ctvk_status trains(const ctvk_net *net)
{
    if (net->cam) return ctvk__fail(CTVK_ERR_ARG, "this network was created for Grad-CAM, not for training");
    if (!net->training) return ctvk__fail(CTVK_ERR_ARG, "this network was created for inference only");
    return CTVK_OK;
}

/* The gradient tensor of value v for writing, and whether to accumulate into it. */
static ctvk_tensor *grad_out(ctvk_net *net, int v, int *acc)
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

static ctvk_status backward_layer(ctvk_net *net, int i, uint64_t seed)
{
    xlayer *x = &net->L[i];
    if (x->kind == K_NONE || x->kind == K_INPUT) return CTVK_OK;
    if (!net->V[root(net, x->vout)].grad_ready) return CTVK_OK;   /* not on the loss path */
    int acc[2] = {-1, -1};
    switch (x->kind) {
    case K_CONV: case K_DENSE:
        if (needs_grad(net, x->vin[0])) grad_out(net, x->vin[0], &acc[0]);
        break;
    case K_BN:
        if (!needs_grad(net, x->vin[0]))
            return ctvk__fail(CTVK_ERR_ARG, "a batch norm on the network input is not supported");
        grad_out(net, x->vin[0], &acc[0]);
        /* Grad-CAM: inference BN is per channel affine, dx = g gamma invstd (relu-masked): the
         * training kernel with the moving statistics in `saved` and zero sums does exactly that */
        if (net->cam) break;
        /* sums over the whole batch (and dgamma, dbeta), then dx slice by slice */
        CTVK_TRY(ctvk_bn_backward_sums(net->ctx, T(net, x->vin[0]), x->saved, x->relu ? T(net, x->vout) : NULL,
                                       net->V[x->vout].g, x->grd[0], x->grd[1], net->acc_grads, net->work));
        if (net->sync_bn) CTVK_TRY(sync_bn_grads(net, i, T(net, x->vin[0])));
        break;
    case K_ADD: case K_CONCAT:
        grad_out(net, x->vin[0], &acc[0]);
        grad_out(net, x->vin[1], &acc[1]);
        break;
    default:
        grad_out(net, x->vin[0], &acc[0]);
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
            if (net->L[i].kind == K_BN) CTVK_TRY(sync_bn_stats(net, i, NULL));
        for (int i = net->g.nlayers - 1; i >= 0; i--)
            if (net->L[i].kind == K_BN) CTVK_TRY(sync_bn_grads(net, i, NULL));
    }
    return net->acc_grads ? CTVK_OK : ctvk_fill(net->ctx, net->grads, 0.0f);
}

ctvk_status ctvk_net_backprop(ctvk_net *net, int n, const float *labels, uint64_t seed, const ctvk_step_part *part)
{
    CTVK_TRY(trains(net));
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
    CTVK_TRY(bind_batch(net, n));
    CTVK_TRY(ctvk_tensor_upload(net->labels_n, labels, (size_t)n * (size_t)net->g.cfg.classes * sizeof(float)));
    CTVK_TRY(forward(net, n, 1, seed));
    for (int v = 0; v < net->nv; v++) net->V[v].grad_ready = 0;
    int lv = net->logits_value, acc;
    ctvk_tensor *dlogits = grad_out(net, lv, &acc);
    ctvk_label_push(ctx, "softmax_cross_entropy");
    ctvk_status s = ctvk_softmax_ce_part(ctx, T(net, lv), net->labels_n, net->probs_n, dlogits, net->stats, 1, total);
    ctvk_label_pop(ctx);
    if (s) return s;
    for (int i = net->g.nlayers - 1; i >= 0; i--) {
        if (net->L[i].kind == K_NONE || net->L[i].kind == K_INPUT) continue;
        char label[CTVK_NAME_MAX + 16];
        snprintf(label, sizeof label, "%s/backward", net->g.layers[i].name);
        ctvk_label_push(ctx, label);
        s = backward_layer(net, i, seed);
        ctvk_label_pop(ctx);
        if (s) return s;
    }
    return CTVK_OK;
}

ctvk_status ctvk_net_sum_gradients(ctvk_net *net)
{
    CTVK_TRY(trains(net));
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

ctvk_status ctvk_net_apply_gradients(ctvk_net *net)
{
    CTVK_TRY(trains(net));
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

/* ---------------------------------------------------------------- optimizer */
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
    CTVK_TRY(trains(net));
    size_t bytes = net->g.params_total * sizeof(float);
    if (m) CTVK_TRY(ctvk_tensor_download(net->m, m, bytes));
    if (v) CTVK_TRY(ctvk_tensor_download(net->v, v, bytes));
    ctvk_nadam_state_pack(&net->opt.st, state);
    return CTVK_OK;
}

ctvk_status ctvk_net_set_optimizer_state(ctvk_net *net, const float *m, const float *v, const unsigned char state[16])
{
    CTVK_TRY(trains(net));
    size_t bytes = net->g.params_total * sizeof(float);
    ctvk_nadam_state st;
    CTVK_TRY(ctvk_nadam_state_unpack(state, &st));
    if (m) CTVK_TRY(ctvk_tensor_upload(net->m, m, bytes));
    if (v) CTVK_TRY(ctvk_tensor_upload(net->v, v, bytes));
    net->opt.st = st;
    return CTVK_OK;
}

void ctvk__net_set_bind_limit(ctvk_net *net, uint64_t bytes)
{
    net->bind_limit = bytes;
    drop_views(net);
}

int ctvk__net_sliced_layers(const ctvk_net *net, int *max_slices)
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

void ctvk__net_plan_info(const ctvk_net *net, ctvk__net_plan *p)
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

void ctvk__net_memory(const ctvk_net *net, ctvk__net_mem *m)
{
    memset(m, 0, sizeof *m);
    m->params = net->params ? ctvk_tensor_bytes(net->params) : 0;
    m->grads = net->grads ? ctvk_tensor_bytes(net->grads) : 0;
    m->optimizer = (net->m ? ctvk_tensor_bytes(net->m) : 0) + (net->v ? ctvk_tensor_bytes(net->v) : 0);
    for (int i = 0; i < net->nabuf; i++) m->act_pool += ctvk_tensor_bytes(net->abuf[i].t);
    for (int i = 0; i < net->ngbuf; i++) m->grad_pool += ctvk_tensor_bytes(net->gbufs[i].t);
    m->act_live_peak = net->act_live_peak;
    m->grad_live_peak = net->grad_live_peak;
    m->total = net->bytes;
    m->other = net->bytes - m->params - m->grads - m->optimizer - m->act_pool - m->grad_pool;
}

ctvk_status ctvk__net_grads(ctvk_net *net, float *out)
{
    CTVK_TRY(trains(net));
    return ctvk_tensor_download(net->grads, out, net->g.params_total * sizeof(float));
}

/* ---------------------------------------------------------------- Grad-CAM */
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
    return net_create(ctx, g, max_batch, 0, li, 1, out);
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
    CTVK_TRY(bind_batch(net, n));
    CTVK_TRY(ctvk_fill(ctx, net->labels_n, 0.0f));
    CTVK_TRY(forward(net, n, 0, 0));
    ctvk_label_push(ctx, "softmax");
    ctvk_status s = ctvk_softmax_ce(ctx, T(net, net->logits_value), net->labels_n, net->probs_n, net->dlogits_n,
                                    net->nstats, 0);
    ctvk_label_pop(ctx);
    if (s) return s;
    /* the score is the class's logit before the softmax: its gradient is one-hot */
    for (int v = 0; v < net->nv; v++) net->V[v].grad_ready = 0;
    int acc;
    ctvk_tensor *dl = grad_out(net, net->logits_value, &acc);
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
        s = backward_layer(net, i, 0);
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
