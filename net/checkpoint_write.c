/* Writing a checkpoint (the layout: include/ctvk/checkpoint.h), atomically through ctvk__replace. */
#include "net/checkpoint_format.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ writing */
typedef struct writer {
    FILE *f;
    uint32_t file_crc, sec_crc;
    uint64_t pos;
    int err;                 /* errno of the first failure */
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->err || !n) return;
    if (fwrite(p, 1, n, w->f) != n) { w->err = errno ? errno : EIO; return; }
    w->file_crc = ctvk_crc32(w->file_crc, p, n);
    w->sec_crc = ctvk_crc32(w->sec_crc, p, n);
    w->pos += n;
}

static void w_f32(writer *w, const float *x, size_t n)
{
    if (host_le()) { w_bytes(w, x, n * 4); return; }
    unsigned char buf[4096];
    while (n && !w->err) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        swap32(buf, x, k);
        w_bytes(w, buf, k * 4);
        x += k;
        n -= k;
    }
}

static void w_section(writer *w, const char *tag, uint64_t len)
{
    unsigned char h[16];
    memcpy(h, tag, 4);
    put_u32(h + 4, 0);
    put_u64(h + 8, len);
    w_bytes(w, h, sizeof h);
    w->sec_crc = 0;
}

static void w_section_end(writer *w, int with_crc)
{
    unsigned char c[4];
    put_u32(c, with_crc ? w->sec_crc : 0);
    w_bytes(w, c, 4);
}

static ctvk_status write_body(writer *w, const ctvk_graph *g, const ctvk_checkpoint *ck, const char *conf,
                              const unsigned char *table, size_t table_len, uint64_t data_len, uint64_t total)
{
    unsigned char h[HEADER_BYTES];
    memcpy(h, MAGIC, 8);
    put_u32(h + 8, CTVK_CHECKPOINT_VERSION);
    put_u32(h + 12, ck->opt_m ? 1u : 0u);
    put_u64(h + 16, total);
    w_bytes(w, h, sizeof h);

    w_section(w, "CONF", strlen(conf));
    w_bytes(w, conf, strlen(conf));
    w_section_end(w, 1);

    w_section(w, "TENS", table_len);
    w_bytes(w, table, table_len);
    w_section_end(w, 1);

    w_section(w, "DATA", data_len);
    for (int i = 0; i < g->nlayers; i++)
        for (int p = 0; p < g->layers[i].nparams; p++) {
            const ctvk_param *pr = &g->layers[i].params[p];
            w_f32(w, ck->params + pr->offset, pr->count);
        }
    w_section_end(w, 0);

    unsigned char prog[56];
    put_u64(prog, (uint64_t)ck->epoch);
    put_u64(prog + 8, (uint64_t)ck->step);
    for (int i = 0; i < 4; i++) put_u64(prog + 16 + 8 * i, ck->rng[i]);
    put_u64(prog + 48, (uint64_t)g->params_total);
    w_section(w, "PROG", sizeof prog);
    w_bytes(w, prog, sizeof prog);
    w_section_end(w, 1);

    if (ck->metrics) {
        w_section(w, "METR", strlen(ck->metrics));
        w_bytes(w, ck->metrics, strlen(ck->metrics));
        w_section_end(w, 1);
    }
    if (ck->opt_m) {
        w_section(w, "OPTM", (uint64_t)g->params_total * 4);
        w_f32(w, ck->opt_m, g->params_total);
        w_section_end(w, 1);
        w_section(w, "OPTV", (uint64_t)g->params_total * 4);
        w_f32(w, ck->opt_v, g->params_total);
        w_section_end(w, 1);
    }
    if (ck->opt_blob_size) {
        w_section(w, "OPTB", ck->opt_blob_size);
        w_bytes(w, ck->opt_blob, ck->opt_blob_size);
        w_section_end(w, 1);
    }
    unsigned char t[TRAILER_BYTES];
    memcpy(t, "CEND", 4);
    put_u32(t + 4, w->file_crc);
    if (!w->err) {
        if (fwrite(t, 1, sizeof t, w->f) != sizeof t) w->err = errno ? errno : EIO;
        else w->pos += sizeof t;
    }
    if (!w->err && w->pos != total) w->err = EIO;   /* cannot happen: the sizes above disagree */
    return w->err ? CTVK_ERR_IO : CTVK_OK;
}

ctvk_status ctvk_checkpoint_save(const char *path, const ctvk_graph *g, const ctvk_checkpoint *ck)
{
    if (!path || !*path) return ctvk__fail(CTVK_ERR_ARG, "checkpoint: no file name given");
    if (!ck->params || ck->params_total != g->params_total)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: the parameters hold %zu floats but the %s graph needs %zu",
                          path, ck->params ? ck->params_total : 0, g->cfg.arch, g->params_total);
    if (!ck->opt_m != !ck->opt_v)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: optimizer state needs both m and v", path);
    if (ck->opt_blob_size && !ck->opt_blob)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: optimizer blob of %zu bytes has no data", path,
                          ck->opt_blob_size);
    if (ck->opt_blob_size > MAX_BLOB || (ck->metrics && strlen(ck->metrics) > MAX_TEXT))
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: optimizer blob or metrics text too large", path);

    char conf[1024];
    size_t conf_len = ctvk_model_config_to_text(&g->cfg, conf, sizeof conf);
    if (conf_len >= sizeof conf) return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: model config too long", path);

    /* the tensor table, with every tensor's CRC */
    size_t ntensors = 0, table_cap = 4;
    for (int i = 0; i < g->nlayers; i++) {
        ntensors += (size_t)g->layers[i].nparams;
        table_cap += (size_t)g->layers[i].nparams * (2 + CTVK_NAME_MAX + 40 + 2 + 16 + 12);
    }
    unsigned char *table = malloc(table_cap);
    if (!table) return ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", path);
    size_t tl = 4;
    uint64_t data_len = 0;
    put_u32(table, (uint32_t)ntensors);
    for (int i = 0; i < g->nlayers; i++)
        for (int p = 0; p < g->layers[i].nparams; p++) {
            const ctvk_param *pr = &g->layers[i].params[p];
            char name[CTVK_NAME_MAX + 40];
            ctvk__ckpt_tensor_name(&g->layers[i], pr, name, sizeof name);
            size_t nl = strlen(name);
            put_u16(table + tl, (uint16_t)nl);
            memcpy(table + tl + 2, name, nl);
            tl += 2 + nl;
            table[tl++] = 0; /* f32 */
            table[tl++] = (unsigned char)pr->ndim;
            for (int d = 0; d < pr->ndim; d++, tl += 4) put_u32(table + tl, (uint32_t)pr->dims[d]);
            put_u64(table + tl, (uint64_t)pr->count * 4);
            put_u32(table + tl + 8, ctvk__ckpt_crc_f32(0, ck->params + pr->offset, pr->count));
            tl += 12;
            data_len += (uint64_t)pr->count * 4;
        }

    uint64_t total = HEADER_BYTES + TRAILER_BYTES;
    total += SECTION_OVERHEAD + conf_len + SECTION_OVERHEAD + tl + SECTION_OVERHEAD + data_len;
    total += SECTION_OVERHEAD + 56;
    if (ck->metrics) total += SECTION_OVERHEAD + strlen(ck->metrics);
    if (ck->opt_m) total += 2 * (SECTION_OVERHEAD + (uint64_t)g->params_total * 4);
    if (ck->opt_blob_size) total += SECTION_OVERHEAD + ck->opt_blob_size;

    char tmp[4200];
    writer w = {0};
    ctvk_status s = ctvk__open_tmp(path, tmp, sizeof tmp, &w.f);
    if (!s) {
        write_body(&w, g, ck, conf, table, tl, data_len, total);   /* failures land in w.err */
        s = ctvk__replace(w.f, tmp, path, "checkpoint-write", w.err);
    }
    free(table);
    if (s) {
        char *why = strdup(ctvk_error());
        s = ctvk__fail(s, "checkpoint: %s", why ? why : path);
        free(why);
    }
    return s;
}
