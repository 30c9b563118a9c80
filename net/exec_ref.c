/* The reference executor: the graph run layer by layer exactly as Keras defines it (no fusions),
 * in double precision, through the plain-C reference of every kernel. Tests compare the device
 * executor with it, and check it against finite differences. */
#include "net/conv.h"
#include "net/exec.h"
#include "net/ops.h"
#include "runtime/vk/internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct refrun {
    const ctvk_graph *g;
    int n;
    double **y, **dy;        /* per layer: output and its gradient */
    uint32_t **argmax;
    double **saved;
} refrun;

static ctvk_shape bs(const refrun *r, int layer)
{
    ctvk_shape s = r->g->layers[layer].out;
    s.n = r->n;
    return s;
}

static size_t cnt(ctvk_shape s) { return (size_t)s.n * (size_t)s.h * (size_t)s.w * (size_t)s.c; }

static void run_free(refrun *r)
{
    for (int i = 0; r->y && i < r->g->nlayers; i++) {
        free(r->y[i]);
        if (r->dy) free(r->dy[i]);
        free(r->argmax[i]);
        free(r->saved[i]);
    }
    free(r->y); free(r->dy); free(r->argmax); free(r->saved);
}

static ctvk_status run_alloc(refrun *r, const ctvk_graph *g, int n, int grads)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    r->n = n;
    size_t L = (size_t)g->nlayers;
    r->y = calloc(L, sizeof *r->y);
    r->argmax = calloc(L, sizeof *r->argmax);
    r->saved = calloc(L, sizeof *r->saved);
    if (grads) r->dy = calloc(L, sizeof *r->dy);
    if (!r->y || !r->argmax || !r->saved || (grads && !r->dy)) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < g->nlayers; i++) {
        size_t c = cnt(bs(r, i));
        r->y[i] = calloc(c, sizeof(double));
        if (grads) r->dy[i] = calloc(c, sizeof(double));
        if (!r->y[i] || (grads && !r->dy[i])) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    return CTVK_OK;
}

static ctvk_conv2d geometry(const ctvk_layer *l)
{
    ctvk_conv2d p;
    ctvk_conv2d_padded(l->kh, l->kw, l->stride, l->stride, l->pad_t, l->pad_b, l->pad_l, l->pad_r, &p);
    return p;
}

/* over: layer `over`'s output is replaced by over_y once computed (-1: none). */
static ctvk_status forward(refrun *r, double *params, const double *input, int training, uint64_t seed, int over,
                           const double *over_y)
{
    const ctvk_graph *g = r->g;
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        ctvk_shape ys = bs(r, i), xs = l->nin ? bs(r, l->in[0]) : ys;
        double *y = r->y[i], *x = l->nin ? r->y[l->in[0]] : NULL;
        double *P[4] = {NULL, NULL, NULL, NULL};
        for (int p = 0; p < l->nparams; p++) P[p] = params + l->params[p].offset;
        size_t n = cnt(ys);
        switch (l->op) {
        case CTVK_OP_INPUT: memcpy(y, input, n * sizeof *y); break;
        case CTVK_OP_CONV: {
            ctvk_conv2d p = geometry(l);
            ctvk_ref_conv2d_forward_f64(&p, xs, x, P[0], l->bias ? P[1] : NULL, ys, y);
            break;
        }
        case CTVK_OP_BN:
            if (training) {
                r->saved[i] = malloc(2 * (size_t)ys.c * sizeof(double));
                if (!r->saved[i]) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
                ctvk_ref_bn_forward_train(x, xs, P[0], P[1], P[2], P[3], l->eps, l->momentum, 0, y, r->saved[i]);
            } else {
                ctvk_ref_bn_forward_infer(x, xs, P[0], P[1], P[2], P[3], l->eps, 0, y);
            }
            break;
        case CTVK_OP_RELU: ctvk_ref_relu(x, y, n); break;
        case CTVK_OP_ADD: ctvk_ref_add(x, r->y[l->in[1]], y, n, 0); break;
        case CTVK_OP_ZEROPAD: ctvk_ref_pad(x, xs, y, ys, l->pad_t, l->pad_l, 0); break;
        case CTVK_OP_MAXPOOL:
            r->argmax[i] = malloc(n * sizeof(uint32_t));
            if (!r->argmax[i]) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            ctvk_ref_maxpool(x, xs, y, ys, r->argmax[i], l->kh, l->stride, 0, 0);
            break;
        case CTVK_OP_GAP: ctvk_ref_gap(x, xs, y); break;
        case CTVK_OP_RESIZE: ctvk_ref_resize_nearest(x, xs, y, ys); break;
        case CTVK_OP_CONCAT: ctvk_ref_concat(x, xs, r->y[l->in[1]], bs(r, l->in[1]), y); break;
        case CTVK_OP_FLATTEN: memcpy(y, x, n * sizeof *y); break;
        case CTVK_OP_DROPOUT:
            if (training) ctvk_ref_dropout(x, y, n, l->rate, ctvk__layer_seed(seed, i), 0, 0);
            else memcpy(y, x, n * sizeof *y);
            break;
        case CTVK_OP_DENSE: {
            int in = xs.h * xs.w * xs.c, out = l->units;
            for (int s = 0; s < r->n; s++)
                for (int o = 0; o < out; o++) {
                    double acc = P[1][o];
                    for (int k = 0; k < in; k++) acc += x[(size_t)s * in + k] * P[0][(size_t)k * out + o];
                    /* the softmax of the last layer is applied by the loss */
                    y[(size_t)s * out + o] = l->act == CTVK_ACT_RELU && acc < 0 ? 0 : acc;
                }
            break;
        }
        }
        if (i == over) memcpy(y, over_y, n * sizeof *y);
    }
    return CTVK_OK;
}

/* grads NULL: inference (Grad-CAM): batch norms with their moving statistics, no dropout, no
 * parameter gradients. */
static void backward(refrun *r, double *params, double *grads, uint64_t seed)
{
    int infer = grads == NULL;
    const ctvk_graph *g = r->g;
    int *ready = calloc((size_t)g->nlayers, sizeof *ready);
    if (!ready) return;
    ready[g->output] = 1;
    for (int i = g->nlayers - 1; i >= 0; i--) {
        const ctvk_layer *l = &g->layers[i];
        if (!ready[i] || l->op == CTVK_OP_INPUT) continue;
        ctvk_shape ys = bs(r, i), xs = l->nin ? bs(r, l->in[0]) : ys;
        int a = l->nin ? l->in[0] : -1, b = l->nin > 1 ? l->in[1] : -1;
        double *gy = r->dy[i], *x = a >= 0 ? r->y[a] : NULL, *dx = a >= 0 ? r->dy[a] : NULL;
        int acc = a >= 0 ? ready[a] : 0, accb = b >= 0 ? ready[b] : 0;
        double *P[4] = {NULL, NULL, NULL, NULL}, *G[4] = {NULL, NULL, NULL, NULL};
        for (int p = 0; p < l->nparams; p++) {
            P[p] = params + l->params[p].offset;
            G[p] = infer ? NULL : grads + l->params[p].offset;
        }
        size_t n = cnt(ys);
        switch (l->op) {
        case CTVK_OP_INPUT: break;
        case CTVK_OP_CONV: {
            ctvk_conv2d p = geometry(l);
            ctvk_ref_conv2d_backward_data_f64(&p, ys, gy, P[0], xs, dx, acc);
            if (!infer) ctvk_ref_conv2d_backward_weights_f64(&p, xs, x, ys, gy, G[0], l->bias ? G[1] : NULL, 0);
            break;
        }
        case CTVK_OP_BN:
            if (infer) {
                for (size_t k = 0; k < n; k++) {
                    int c = (int)(k % (size_t)xs.c);
                    dx[k] = (acc ? dx[k] : 0) + gy[k] * P[0][c] / sqrt(P[3][c] + l->eps);
                }
            } else {
                ctvk_ref_bn_backward(x, xs, P[0], r->saved[i], NULL, gy, dx, acc, G[0], G[1], 0);
            }
            break;
        case CTVK_OP_RELU: ctvk_ref_relu_backward(gy, r->y[i], dx, n, acc); break;
        case CTVK_OP_ADD: ctvk_ref_add_backward(gy, NULL, dx, acc, r->dy[b], accb, n); break;
        case CTVK_OP_ZEROPAD: ctvk_ref_pad(gy, ys, dx, xs, -l->pad_t, -l->pad_l, acc); break;
        case CTVK_OP_MAXPOOL: ctvk_ref_maxpool_backward(gy, ys, r->argmax[i], dx, xs, l->kh, l->stride, 0, 0, acc); break;
        case CTVK_OP_GAP: ctvk_ref_gap_backward(gy, dx, xs, acc); break;
        case CTVK_OP_RESIZE: ctvk_ref_resize_nearest_backward(gy, ys, dx, xs, acc); break;
        case CTVK_OP_CONCAT: ctvk_ref_concat_backward(gy, dx, xs, acc, r->dy[b], bs(r, b), accb); break;
        case CTVK_OP_FLATTEN:
            for (size_t k = 0; k < n; k++) dx[k] = (acc ? dx[k] : 0) + gy[k];
            break;
        case CTVK_OP_DROPOUT: ctvk_ref_dropout(gy, dx, n, infer ? 0.0f : l->rate, ctvk__layer_seed(seed, i), 0, acc); break;
        case CTVK_OP_DENSE: {
            int in = xs.h * xs.w * xs.c, out = l->units;
            double *gg = malloc((size_t)r->n * (size_t)out * sizeof *gg);
            if (!gg) break;
            for (size_t k = 0; k < (size_t)r->n * (size_t)out; k++)
                gg[k] = l->act == CTVK_ACT_RELU && !(r->y[i][k] > 0) ? 0 : gy[k];
            for (int o = 0; !infer && o < out; o++) {
                double sb = 0;
                for (int s = 0; s < r->n; s++) sb += gg[(size_t)s * out + o];
                G[1][o] = sb;
            }
            for (int k = 0; !infer && k < in; k++)
                for (int o = 0; o < out; o++) {
                    double sw = 0;
                    for (int s = 0; s < r->n; s++) sw += x[(size_t)s * in + k] * gg[(size_t)s * out + o];
                    G[0][(size_t)k * out + o] = sw;
                }
            for (int s = 0; s < r->n; s++)
                for (int k = 0; k < in; k++) {
                    double sx = 0;
                    for (int o = 0; o < out; o++) sx += gg[(size_t)s * out + o] * P[0][(size_t)k * out + o];
                    dx[(size_t)s * in + k] = (acc ? dx[(size_t)s * in + k] : 0) + sx;
                }
            free(gg);
            break;
        }
        }
        if (a >= 0) ready[a] = 1;
        if (b >= 0) ready[b] = 1;
    }
    free(ready);
}

ctvk_status ctvk_ref_net_forward(const ctvk_graph *g, double *params, int n, const double *input, int training,
                                 uint64_t seed, double *probs)
{
    refrun r;
    ctvk_status s = run_alloc(&r, g, n, 0);
    if (!s) s = forward(&r, params, input, training, seed, -1, NULL);
    if (!s) {
        int classes = g->cfg.classes;
        double *labels = calloc((size_t)n * (size_t)classes, sizeof *labels);
        double *dl = malloc((size_t)n * (size_t)classes * sizeof *dl), stats[3];
        if (!labels || !dl) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        else ctvk_ref_softmax_ce(r.y[g->output], labels, n, classes, probs, dl, stats, 0);
        free(labels);
        free(dl);
    }
    run_free(&r);
    return s;
}

ctvk_status ctvk_ref_net_train(const ctvk_graph *g, double *params, int n, const double *input, const double *labels,
                               uint64_t seed, double *probs, double *grads, ctvk_ref_result *res)
{
    refrun r;
    ctvk_status s = run_alloc(&r, g, n, 1);
    if (!s) s = forward(&r, params, input, 1, seed, -1, NULL);
    if (!s) {
        double stats[3];
        memset(grads, 0, g->params_total * sizeof *grads);
        ctvk_ref_softmax_ce(r.y[g->output], labels, n, g->cfg.classes, probs, r.dy[g->output], stats, 0);
        res->loss = stats[0] / stats[2];
        res->correct = (int)stats[1];
        backward(&r, params, grads, seed);
    }
    run_free(&r);
    return s;
}

/* Grad-CAM: the inference forward, then backward from the logit of class cls (before the softmax). */
ctvk_status ctvk_ref_net_cam(const ctvk_graph *g, double *params, int n, const double *input, int layer, int cls,
                             double *act, double *grad, double *probs)
{
    if (layer < 0 || layer >= g->nlayers || cls < 0 || cls >= g->cfg.classes)
        return ctvk__fail(CTVK_ERR_ARG, "reference Grad-CAM: layer %d or class %d out of range", layer, cls);
    refrun r;
    ctvk_status s = run_alloc(&r, g, n, 1);
    if (!s) s = forward(&r, params, input, 0, 0, -1, NULL);
    if (!s) {
        int classes = g->cfg.classes;
        double *labels = calloc((size_t)n * (size_t)classes, sizeof *labels), stats[3];
        if (!labels) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        else ctvk_ref_softmax_ce(r.y[g->output], labels, n, classes, probs, r.dy[g->output], stats, 0);
        free(labels);
        for (int k = 0; !s && k < n * classes; k++) r.dy[g->output][k] = k % classes == cls;
    }
    if (!s) {
        backward(&r, params, NULL, 0);
        size_t c = cnt(bs(&r, layer));
        memcpy(act, r.y[layer], c * sizeof *act);
        memcpy(grad, r.dy[layer], c * sizeof *grad);
    }
    run_free(&r);
    return s;
}

ctvk_status ctvk_ref_net_logits_with(const ctvk_graph *g, double *params, int n, const double *input, int layer,
                                     const double *act, double *logits)
{
    refrun r;
    ctvk_status s = run_alloc(&r, g, n, 0);
    if (!s) s = forward(&r, params, input, 0, 0, layer, act);
    if (!s) memcpy(logits, r.y[g->output], (size_t)n * (size_t)g->cfg.classes * sizeof *logits);
    run_free(&r);
    return s;
}

void ctvk_ref_cam_map(const double *act, const double *grad, ctvk_shape s, double *map)
{
    size_t hw = (size_t)s.h * (size_t)s.w, C = (size_t)s.c;
    double top = 0;
    for (size_t p = 0; p < hw; p++) {
        double v = 0;
        for (size_t c = 0; c < C; c++) {
            double alpha = 0;
            for (size_t q = 0; q < hw; q++) alpha += grad[q * C + c];
            v += alpha / (double)hw * act[p * C + c];
        }
        map[p] = v > 0 ? v : 0;
        if (map[p] > top) top = map[p];
    }
    for (size_t p = 0; p < hw; p++) map[p] = top > 0 ? map[p] / top : 0;
}
