/* Private: the layer constructors the model builders use. Each appends one layer, infers its
 * output shape and returns its index, or -1 with ctvk_error() set (an impossible shape). */
#ifndef CTVK_NET_GRAPH_BUILD_H
#define CTVK_NET_GRAPH_BUILD_H
#include "ctvk/net.h"

int g_input(ctvk_graph *g, const char *name, int h, int w, int c);
int g_conv(ctvk_graph *g, const char *name, int x, int filters, int k, int stride, int same, int bias);
int g_bn(ctvk_graph *g, const char *name, int x);
int g_relu(ctvk_graph *g, const char *name, int x);
int g_add(ctvk_graph *g, const char *name, int a, int b);
int g_pad(ctvk_graph *g, const char *name, int x, int pad);
int g_maxpool(ctvk_graph *g, const char *name, int x, int k, int stride);
int g_gap(ctvk_graph *g, const char *name, int x);
int g_resize(ctvk_graph *g, const char *name, int x, int h, int w);
int g_concat(ctvk_graph *g, const char *name, int a, int b);
int g_flatten(ctvk_graph *g, const char *name, int x);
int g_dropout(ctvk_graph *g, const char *name, int x, float rate);
int g_dense(ctvk_graph *g, const char *name, int x, int units, ctvk_activation act);
/* Keras' automatic name for an unnamed layer of this kind: "flatten", "flatten_1", ... */
const char *g_autoname(ctvk_graph *g, const char *base, char buf[CTVK_NAME_MAX]);
#endif
