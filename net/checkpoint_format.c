/* The checkpoint format's shared pieces: CRC-32 (zlib's), fp32 byte order, tensor names. */
#include "net/checkpoint_format.h"
#include <stdio.h>
#include <zlib.h>

/* ------------------------------------------------------------------ CRC-32 (zlib's) */
uint32_t ctvk_crc32(uint32_t crc, const void *data, size_t n)
{
    return n ? (uint32_t)crc32_z(crc, data, n) : crc;    /* zlib answers 0 for a NULL buffer */
}

uint32_t ctvk__ckpt_crc_f32(uint32_t crc, const float *x, size_t n)
{
    if (host_le()) return ctvk_crc32(crc, x, n * 4);
    unsigned char buf[4096];
    while (n) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        swap32(buf, x, k);
        crc = ctvk_crc32(crc, buf, k * 4);
        x += k;
        n -= k;
    }
    return crc;
}

/* ------------------------------------------------------------------ graph tensors */
void ctvk__ckpt_tensor_name(const ctvk_layer *l, const ctvk_param *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", l->name, p->name);
}

void ctvk__ckpt_shape_str(const int *dims, int ndim, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "(");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? ", " : "", dims[i]);
    if (ndim == 1 && o < n) o += (size_t)snprintf(buf + o, n - o, ",");
    if (o < n) snprintf(buf + o, n - o, ")");
}

int ctvk__ckpt_find_tensor(const ctvk_graph *g, const char *name, int *pi)
{
    const char *slash = strrchr(name, '/');
    if (!slash || (size_t)(slash - name) >= CTVK_NAME_MAX) return -1;
    char lname[CTVK_NAME_MAX];
    memcpy(lname, name, (size_t)(slash - name));
    lname[slash - name] = 0;
    int li = ctvk_graph_find(g, lname);
    if (li < 0) return -1;
    const ctvk_layer *l = &g->layers[li];
    for (int p = 0; p < l->nparams; p++)
        if (!strcmp(l->params[p].name, slash + 1)) { *pi = p; return li; }
    return -1;
}
