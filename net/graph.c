/* The layer graph: constructors with shape inference, flat parameter layout, lookup, summary. */
#include "net/graph_build.h"
#include "runtime/base/array.h"
#include "runtime/vk/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARAM_ALIGN 64   /* floats: 256 bytes, the largest storage/texel offset alignment Vulkan allows */

const char *ctvk_op_name(ctvk_op op)
{
#define KERAS_(row, short_name, keras_class) keras_class,
    static const char *names[] = {CTVK_OP_TABLE(KERAS_)};
#undef KERAS_
    return (unsigned)op < CTVK_OP_COUNT ? names[op] : "?";
}

const char *ctvk_op_short_name(ctvk_op op)
{
#define SHORT_(row, short_name, keras_class) short_name,
    static const char *names[] = {CTVK_OP_TABLE(SHORT_)};
#undef SHORT_
    return (unsigned)op < CTVK_OP_COUNT ? names[op] : "?";
}

static ctvk_layer *add_layer(ctvk_graph *g, const char *name, ctvk_op op, int a, int b, int *index)
{
    *index = -1;
    if (a < -1 || a >= g->nlayers || b < -1 || b >= g->nlayers) {
        ctvk__fail(CTVK_ERR_ARG, "layer %s: bad input", name);
        return NULL;
    }
    CTVK__GROW(g->layers, g->cap, g->nlayers + 1, 256, ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); return NULL);
    ctvk_layer *l = &g->layers[g->nlayers];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->op = op;
    l->in[0] = a;
    l->in[1] = b;
    l->nin = (a >= 0) + (b >= 0);
    if (a >= 0) { l->out = g->layers[a].out; l->flat = g->layers[a].flat; }
    *index = g->nlayers++;
    g->output = *index;
    return l;
}

static void add_param(ctvk_graph *g, ctvk_layer *l, const char *name, int trainable, int ndim, int d0, int d1,
                      int d2, int d3)
{
    ctvk_param *p = &l->params[l->nparams++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    p->count = 1;
    for (int i = 0; i < ndim; i++) { p->dims[i] = d[i]; p->count *= (size_t)d[i]; }
    p->trainable = trainable;
    p->offset = g->params_total;
    g->params_total += (p->count + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    g->params_count += p->count;
    if (trainable) g->trainable_count += p->count;
}

static int too_small(const ctvk_layer *l, const char *what)
{
    ctvk__fail(CTVK_ERR_ARG, "layer %s: %s (input %dx%dx%d)", l->name, what, l->out.h, l->out.w, l->out.c);
    return -1;
}

int g_input(ctvk_graph *g, const char *name, int h, int w, int c)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_INPUT, -1, -1, &i);
    if (!l) return -1;
    l->out = (ctvk_shape){1, h, w, c};
    if (h < 1 || w < 1 || c < 1) return too_small(l, "empty input");
    return i;
}

int g_conv(ctvk_graph *g, const char *name, int x, int filters, int k, int stride, int same, int bias)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_CONV, x, -1, &i);
    if (!l) return -1;
    ctvk_shape in = l->out;
    l->kh = l->kw = k;
    l->stride = stride;
    l->filters = filters;
    l->bias = bias;
    int oh, ow;
    if (same) {
        oh = (in.h + stride - 1) / stride;
        ow = (in.w + stride - 1) / stride;
        int ph = (oh - 1) * stride + k - in.h, pw = (ow - 1) * stride + k - in.w;
        if (ph < 0) ph = 0;
        if (pw < 0) pw = 0;
        l->pad_t = ph / 2; l->pad_b = ph - ph / 2;       /* TensorFlow: the extra row goes to the bottom */
        l->pad_l = pw / 2; l->pad_r = pw - pw / 2;
    } else {
        if (in.h < k || in.w < k) return too_small(l, "input smaller than the kernel");
        oh = (in.h - k) / stride + 1;
        ow = (in.w - k) / stride + 1;
    }
    l->out = (ctvk_shape){1, oh, ow, filters};
    add_param(g, l, "kernel:0", 1, 4, k, k, in.c, filters);
    if (bias) add_param(g, l, "bias:0", 1, 1, filters, 0, 0, 0);
    return i;
}

int g_bn(ctvk_graph *g, const char *name, int x)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_BN, x, -1, &i);
    if (!l) return -1;
    l->eps = g->cfg.bn_eps;
    l->momentum = g->cfg.bn_momentum;
    int c = l->out.c;
    add_param(g, l, "gamma:0", 1, 1, c, 0, 0, 0);
    add_param(g, l, "beta:0", 1, 1, c, 0, 0, 0);
    add_param(g, l, "moving_mean:0", 0, 1, c, 0, 0, 0);
    add_param(g, l, "moving_variance:0", 0, 1, c, 0, 0, 0);
    return i;
}

int g_relu(ctvk_graph *g, const char *name, int x)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_RELU, x, -1, &i);
    if (l) l->act = CTVK_ACT_RELU;
    return l ? i : -1;
}

int g_add(ctvk_graph *g, const char *name, int a, int b)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_ADD, a, b, &i);
    if (!l) return -1;
    ctvk_shape s = g->layers[b].out;
    if (s.h != l->out.h || s.w != l->out.w || s.c != l->out.c) return too_small(l, "inputs of different shapes");
    return i;
}

int g_pad(ctvk_graph *g, const char *name, int x, int pad)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_ZEROPAD, x, -1, &i);
    if (!l) return -1;
    l->pad_t = l->pad_b = l->pad_l = l->pad_r = pad;
    l->out.h += 2 * pad;
    l->out.w += 2 * pad;
    return i;
}

int g_maxpool(ctvk_graph *g, const char *name, int x, int k, int stride)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_MAXPOOL, x, -1, &i);
    if (!l) return -1;
    l->kh = l->kw = k;
    l->stride = stride;
    if (l->out.h < k || l->out.w < k) return too_small(l, "input smaller than the pool window");
    l->out.h = (l->out.h - k) / stride + 1;
    l->out.w = (l->out.w - k) / stride + 1;
    return i;
}

int g_gap(ctvk_graph *g, const char *name, int x)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_GAP, x, -1, &i);
    if (!l) return -1;
    l->out = (ctvk_shape){1, 1, 1, l->out.c};
    l->flat = 1;
    return i;
}

int g_resize(ctvk_graph *g, const char *name, int x, int h, int w)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_RESIZE, x, -1, &i);
    if (!l) return -1;
    l->out.h = h;
    l->out.w = w;
    return i;
}

int g_concat(ctvk_graph *g, const char *name, int a, int b)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_CONCAT, a, b, &i);
    if (!l) return -1;
    ctvk_shape s = g->layers[b].out;
    if (s.h != l->out.h || s.w != l->out.w) return too_small(l, "inputs of different sizes");
    l->out.c += s.c;
    return i;
}

int g_flatten(ctvk_graph *g, const char *name, int x)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_FLATTEN, x, -1, &i);
    if (!l) return -1;
    l->out = (ctvk_shape){1, 1, 1, l->out.h * l->out.w * l->out.c};
    l->flat = 1;
    return i;
}

int g_dropout(ctvk_graph *g, const char *name, int x, float rate)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_DROPOUT, x, -1, &i);
    if (l) l->rate = rate;
    return l ? i : -1;
}

int g_dense(ctvk_graph *g, const char *name, int x, int units, ctvk_activation act)
{
    int i;
    ctvk_layer *l = add_layer(g, name, CTVK_OP_DENSE, x, -1, &i);
    if (!l) return -1;
    int in = l->out.h * l->out.w * l->out.c;
    l->units = units;
    l->act = act;
    l->out = (ctvk_shape){1, 1, 1, units};
    l->flat = 1;
    add_param(g, l, "kernel:0", 1, 2, in, units, 0, 0);
    add_param(g, l, "bias:0", 1, 1, units, 0, 0, 0);
    return i;
}

const char *g_autoname(ctvk_graph *g, const char *base, char buf[CTVK_NAME_MAX])
{
    int n = 0;
    size_t len = strlen(base);
    for (int i = 0; i < g->nlayers; i++)
        if (!strncmp(g->layers[i].name, base, len) &&
            (g->layers[i].name[len] == 0 || g->layers[i].name[len] == '_'))
            n++;
    if (n == 0) snprintf(buf, CTVK_NAME_MAX, "%s", base);
    else snprintf(buf, CTVK_NAME_MAX, "%s_%d", base, n);
    return buf;
}

void ctvk_graph_free(ctvk_graph *g)
{
    free(g->layers);
    memset(g, 0, sizeof *g);
}

int ctvk_graph_find(const ctvk_graph *g, const char *name)
{
    for (int i = 0; i < g->nlayers; i++) if (!strcmp(g->layers[i].name, name)) return i;
    return -1;
}

static void commas(size_t v, char *buf, size_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", v);
    size_t len = strlen(tmp), o = 0;
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        if (i && (len - i) % 3 == 0 && o + 2 < n) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

void ctvk_graph_summary(const ctvk_graph *g, void *file)
{
    FILE *f = file;
    const char *rule = "____________________________________________________________________________________________"
                       "______________";
    fprintf(f, "Model: \"%s\" (head %s, input %dx%dx%d)\n%s\n", g->cfg.arch, g->cfg.head, g->cfg.height, g->cfg.width,
            g->cfg.channels, rule);
    fprintf(f, " %-36s %-22s %11s   %s\n", "Layer (type)", "Output Shape", "Param #", "Connected to");
    fprintf(f, "%.*s\n", (int)strlen(rule), "====================================================================="
                                             "=========================================");
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        char lt[96], shape[48], np[32], conn[160] = "";
        snprintf(lt, sizeof lt, "%s (%s)", l->name, ctvk_op_name(l->op));
        if (l->flat)
            snprintf(shape, sizeof shape, "(None, %d)", l->out.c);
        else
            snprintf(shape, sizeof shape, "(None, %d, %d, %d)", l->out.h, l->out.w, l->out.c);
        size_t n = 0;
        for (int p = 0; p < l->nparams; p++) n += l->params[p].count;
        commas(n, np, sizeof np);
        for (int k = 0; k < l->nin; k++) {
            size_t len = strlen(conn);
            snprintf(conn + len, sizeof conn - len, "%s'%s'", k ? ", " : "", g->layers[l->in[k]].name);
        }
        fprintf(f, " %-36s %-22s %11s   [%s]\n", lt, shape, np, conn);
    }
    char t[32], tr[32], nt[32];
    commas(g->params_count, t, sizeof t);
    commas(g->trainable_count, tr, sizeof tr);
    commas(g->params_count - g->trainable_count, nt, sizeof nt);
    fprintf(f, "%s\nTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\nLayers: %d\n", rule, t, tr, nt,
            g->nlayers);
}
