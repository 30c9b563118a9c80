/* The checkpoint file format (see include/ctvk/checkpoint.h for the layout). */
#include "ctvk/checkpoint.h"
#include "runtime/fileio.h"
#include "runtime/internal.h"
#include "runtime/list.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "CTVKCKPT"
#define HEADER_BYTES 24u
#define SECTION_OVERHEAD 20u     /* tag, reserved, length, crc */
#define TRAILER_BYTES 8u
#define MAX_TEXT (16u << 20)     /* config, table, metrics: sanity bound */
#define MAX_BLOB (1u << 30)

/* ------------------------------------------------------------------ CRC-32 (zlib's) */
uint32_t ctvk_crc32(uint32_t crc, const void *data, size_t n)
{
    return n ? (uint32_t)crc32_z(crc, data, n) : crc;    /* zlib answers 0 for a NULL buffer */
}

/* ------------------------------------------------------------------ byte order */
static int host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* fp32 arrays are stored little-endian: on a big-endian host swap through a buffer. */
static void swap32(void *dst, const void *src, size_t nfloats)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < nfloats; i++, s += 4, d += 4) {
        unsigned char t0 = s[0], t1 = s[1], t2 = s[2], t3 = s[3];
        d[0] = t3; d[1] = t2; d[2] = t1; d[3] = t0;
    }
}

static uint32_t crc_f32(uint32_t crc, const float *x, size_t n)
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

/* ------------------------------------------------------------------ model config as text */
size_t ctvk_model_config_to_text(const ctvk_model_config *c, char *buf, size_t n)
{
    char blocks[128] = "", widths[128] = "";
    int stages = c->stages < 0 ? 0 : c->stages > 8 ? 8 : c->stages;
    for (int i = 0; i < stages; i++) {
        size_t lb = strlen(blocks), lw = strlen(widths);
        snprintf(blocks + lb, sizeof blocks - lb, "%s%d", i ? "," : "", c->blocks[i]);
        snprintf(widths + lw, sizeof widths - lw, "%s%d", i ? "," : "", c->widths[i]);
    }
    int r = snprintf(buf, n,
                     "arch=%s\nhead=%s\nheight=%d\nwidth=%d\nchannels=%d\nclasses=%d\nbn_eps=%.9g\n"
                     "bn_momentum=%.9g\ndropout=%.9g\nstages=%d\nblocks=%s\nwidths=%s\n",
                     c->arch, c->head, c->height, c->width, c->channels, c->classes, (double)c->bn_eps,
                     (double)c->bn_momentum, (double)c->dropout, c->stages, blocks, widths);
    /* the input transform only where it is known (a config read from an older checkpoint has none) */
    if (r >= 0 && (size_t)r < n && c->input_recorded) {
        int r2 = snprintf(buf + r, n - (size_t)r, "input_scale=%.9g\ninput_offset=%.9g\n", (double)c->input_scale,
                          (double)c->input_offset);
        r = r2 < 0 ? r2 : r + r2;
    }
    return r < 0 ? 0 : (size_t)r;
}

static int parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

static int parse_list(const char *v, int *out, int max) { return ctvk__parse_ints(v, out, max, 0, 1 << 20); }

ctvk_status ctvk_model_config_from_text(const char *text, const char *what, ctvk_model_config *c)
{
    ctvk_model_config_default(c, "resnet50v2_fpn");
    c->arch[0] = 0;
    c->input_recorded = 0;
    const char *p = text;
    char line[512];
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof line) return ctvk__fail(CTVK_ERR_FORMAT, "%s: model config line too long (corrupt)", what);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        if (!len) continue;
        char *eq = strchr(line, '=');
        if (!eq) return ctvk__fail(CTVK_ERR_FORMAT, "%s: model config line '%s' is not key=value (corrupt)", what, line);
        *eq = 0;
        const char *k = line, *v = eq + 1;
        int bad = 0;
        if (!strcmp(k, "arch")) {
            if (strlen(v) >= sizeof c->arch) bad = 1; else snprintf(c->arch, sizeof c->arch, "%s", v);
        } else if (!strcmp(k, "head")) {
            if (strlen(v) >= sizeof c->head) bad = 1; else snprintf(c->head, sizeof c->head, "%s", v);
        } else if (!strcmp(k, "height")) bad = parse_int(v, 1, 1 << 16, &c->height);
        else if (!strcmp(k, "width")) bad = parse_int(v, 1, 1 << 16, &c->width);
        else if (!strcmp(k, "channels")) bad = parse_int(v, 1, 1 << 16, &c->channels);
        else if (!strcmp(k, "classes")) bad = parse_int(v, 1, 1 << 20, &c->classes);
        else if (!strcmp(k, "stages")) bad = parse_int(v, 0, 8, &c->stages);
        else if (!strcmp(k, "bn_eps") || !strcmp(k, "bn_momentum") || !strcmp(k, "dropout")) {
            char *end;
            float x = strtof(v, &end);
            if (end == v || *end) bad = 1;
            else if (k[0] == 'd') c->dropout = x;
            else if (k[3] == 'e') c->bn_eps = x;
            else c->bn_momentum = x;
        } else if (!strcmp(k, "input_scale") || !strcmp(k, "input_offset")) {
            char *end;
            float x = strtof(v, &end);
            if (end == v || *end || !isfinite(x)) bad = 1;
            else if (k[6] == 's') c->input_scale = x, c->input_recorded = 1;
            else c->input_offset = x, c->input_recorded = 1;
        } else if (!strcmp(k, "blocks") || !strcmp(k, "widths")) {
            int *dst = k[0] == 'b' ? c->blocks : c->widths, tmp[8] = {0};
            int n = parse_list(v, tmp, 8);
            if (n < 0) bad = 1;
            else memcpy(dst, tmp, sizeof tmp);
        }
        if (bad) return ctvk__fail(CTVK_ERR_FORMAT, "%s: model config %s = '%s' is not valid (corrupt)", what, k, v);
    }
    if (!c->arch[0]) return ctvk__fail(CTVK_ERR_FORMAT, "%s: the model config names no arch (corrupt)", what);
    return CTVK_OK;
}

/* ------------------------------------------------------------------ graph tensors */
static void tensor_name(const ctvk_layer *l, const ctvk_param *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", l->name, p->name);
}

static void shape_str(const int *dims, int ndim, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "(");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? ", " : "", dims[i]);
    if (ndim == 1 && o < n) o += (size_t)snprintf(buf + o, n - o, ",");
    if (o < n) snprintf(buf + o, n - o, ")");
}

/* Finds "layer/weight" in g: layer index and param index, or -1. */
static int find_tensor(const ctvk_graph *g, const char *name, int *pi)
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
            tensor_name(&g->layers[i], pr, name, sizeof name);
            size_t nl = strlen(name);
            put_u16(table + tl, (uint16_t)nl);
            memcpy(table + tl + 2, name, nl);
            tl += 2 + nl;
            table[tl++] = 0; /* f32 */
            table[tl++] = (unsigned char)pr->ndim;
            for (int d = 0; d < pr->ndim; d++, tl += 4) put_u32(table + tl, (uint32_t)pr->dims[d]);
            put_u64(table + tl, (uint64_t)pr->count * 4);
            put_u32(table + tl + 8, crc_f32(0, ck->params + pr->offset, pr->count));
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

/* ------------------------------------------------------------------ reading */
typedef struct reader {
    FILE *f;
    const char *path;
    uint64_t pos, size, declared;
    uint32_t file_crc;
} reader;

static ctvk_status r_bytes(reader *r, void *dst, size_t n)
{
    if (!n) return CTVK_OK;
    if (r->pos + n > r->size)
        return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s is truncated: it ends at byte %" PRIu64 " but needs %" PRIu64
                          " or more", r->path, r->size, r->pos + n);
    if (fread(dst, 1, n, r->f) != n)
        return ctvk__fail(CTVK_ERR_IO, "checkpoint %s: read error at byte %" PRIu64 ": %s", r->path, r->pos,
                          ferror(r->f) ? strerror(errno) : "unexpected end of file (truncated)");
    r->file_crc = ctvk_crc32(r->file_crc, dst, n);
    r->pos += n;
    return CTVK_OK;
}

/* Reads n floats into x; *crc accumulates the stored (little-endian) bytes. */
static ctvk_status r_f32(reader *r, float *x, size_t n, uint32_t *crc)
{
    CTVK_TRY(r_bytes(r, x, n * 4));
    *crc = ctvk_crc32(*crc, x, n * 4);
    if (!host_le()) swap32(x, x, n);
    return CTVK_OK;
}

/* 1 if the file's last bytes are a trailer ("CEND"): then it is whole, and a size that disagrees is a
 * corrupt header rather than a truncation. */
static int ends_with_marker(const reader *r)
{
    unsigned char t[4];
    return r->size >= HEADER_BYTES + TRAILER_BYTES &&
           pread(fileno(r->f), t, 4, (off_t)(r->size - TRAILER_BYTES)) == 4 && !memcmp(t, "CEND", 4);
}

static ctvk_status r_open(reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    int e;
    r->f = ctvk__fopen_regular(path, &e);
    if (!r->f) return ctvk__fail(CTVK_ERR_IO, "checkpoint %s: cannot open it: %s", path, ctvk__open_error(e));
    struct stat st;
    if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(r->f);
        r->f = NULL;
        return ctvk__fail(CTVK_ERR_IO, "checkpoint %s: not a regular file", path);
    }
    r->size = (uint64_t)st.st_size;
    unsigned char h[HEADER_BYTES];
    ctvk_status s = CTVK_OK;
    if (r->size < 8) s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s is not a ctvk checkpoint (%" PRIu64 " bytes; "
                                    "truncated?)", path, r->size);
    else if ((s = r_bytes(r, h, 8)) == CTVK_OK && memcmp(h, MAGIC, 8))
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s is not a ctvk checkpoint (bad magic)", path);
    else if (s == CTVK_OK && (s = r_bytes(r, h + 8, HEADER_BYTES - 8)) == CTVK_OK) {
        uint32_t version = get_u32(h + 8), flags = get_u32(h + 12);
        r->declared = get_u64(h + 16);
        if (version != CTVK_CHECKPOINT_VERSION)
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s has format version %u; this ctvk reads version %d", path,
                           version, CTVK_CHECKPOINT_VERSION);
        else if (flags > 1)
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: unknown header flags 0x%x (corrupt)", path, flags);
        else if (r->declared != r->size && ends_with_marker(r))
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: its header is corrupt (it declares %" PRIu64 " bytes, but "
                           "the file has %" PRIu64 " and ends with its end marker)", path, r->declared, r->size);
        else if (r->declared > r->size)
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s is truncated: it has %" PRIu64 " of the %" PRIu64
                           " bytes its header declares", path, r->size, r->declared);
        else if (r->declared < r->size)
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s has %" PRIu64 " bytes but its header declares %" PRIu64
                           " (corrupt)", path, r->size, r->declared);
    }
    if (s) { fclose(r->f); r->f = NULL; }
    return s;
}

/* Reads a section header; *tag gets 4 chars + NUL. For "CEND" *len is 0. */
static ctvk_status r_section(reader *r, char tag[5], uint64_t *len)
{
    unsigned char h[16];
    CTVK_TRY(r_bytes(r, h, 4));
    memcpy(tag, h, 4);
    tag[4] = 0;
    *len = 0;
    if (!memcmp(tag, "CEND", 4)) return CTVK_OK;
    uint64_t at = r->pos - 4;
    CTVK_TRY(r_bytes(r, h + 4, 12));
    for (int i = 0; i < 4; i++)
        if (tag[i] < 'A' || tag[i] > 'Z') tag[i] = '?';
    if (get_u32(h + 4) != 0)
        return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s at byte %" PRIu64 " has a bad header (corrupt)",
                          r->path, tag, at);
    *len = get_u64(h + 8);
    if (*len > r->size || r->pos + *len + 4 + TRAILER_BYTES > r->size)
        return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s at byte %" PRIu64 " claims %" PRIu64 " bytes, "
                          "past the end of the file (truncated or corrupt)", r->path, tag, at, *len);
    return CTVK_OK;
}

static ctvk_status r_crc(reader *r, const char *tag, const char *what, uint32_t want)
{
    unsigned char c[4];
    CTVK_TRY(r_bytes(r, c, 4));
    if (get_u32(c) != want)
        return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s (%s): CRC mismatch (corrupt)", r->path, tag, what);
    return CTVK_OK;
}

/* A section read whole into memory (CRC checked); text sections get a NUL and must hold none. */
static ctvk_status r_blob(reader *r, const char *tag, const char *what, uint64_t len, uint64_t max, int text,
                          char **out)
{
    *out = NULL;
    if (len > max)
        return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s (%s) of %" PRIu64 " bytes is too large (corrupt)",
                          r->path, tag, what, len);
    char *t = malloc((size_t)len + 1);
    if (!t) return ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path);
    ctvk_status s = r_bytes(r, t, (size_t)len);
    if (!s) s = r_crc(r, tag, what, ctvk_crc32(0, t, (size_t)len));
    if (!s && text && memchr(t, 0, (size_t)len))
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s (%s) holds a NUL byte (corrupt)", r->path, tag, what);
    if (s) { free(t); return s; }
    t[len] = 0;
    *out = t;
    return CTVK_OK;
}

static ctvk_status check_arch(const char *path, const ctvk_model_config *f, const ctvk_model_config *c)
{
    if (strcmp(f->arch, c->arch))
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s is for %s but the config asks for %s", path, f->arch, c->arch);
    if (strcmp(f->head, c->head))
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s is for %s with head %s but the config asks for head %s", path,
                          f->arch, f->head, c->head);
    if (f->channels != c->channels)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s is for %d input channel(s) but the config asks for %d", path,
                          f->channels, c->channels);
    if (f->classes != c->classes)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s is for %d classes but the config asks for %d", path, f->classes,
                          c->classes);
    if (!strcmp(f->arch, "small_resnet")) {
        int same = f->stages == c->stages;
        for (int i = 0; same && i < f->stages && i < 8; i++)
            same = f->blocks[i] == c->blocks[i] && f->widths[i] == c->widths[i];
        if (!same) {
            char a[1024], b[1024];
            ctvk_model_config_to_text(f, a, sizeof a);
            ctvk_model_config_to_text(c, b, sizeof b);
            const char *sa = strstr(a, "stages="), *sb = strstr(b, "stages=");
            char *e;
            if ((e = strstr(a, "input_scale="))) *e = 0;   /* the layers only */
            if ((e = strstr(b, "input_scale="))) *e = 0;
            for (e = (char *)sa; *e; e++) if (*e == '\n') *e = ' ';
            for (e = (char *)sb; *e; e++) if (*e == '\n') *e = ' ';
            return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s is a small_resnet with %sbut the config asks for %s", path,
                              sa, sb);
        }
    }
    return CTVK_OK;
}

typedef struct tentry {
    int layer, param;
    uint64_t bytes;
    uint32_t crc;
    char name[CTVK_NAME_MAX + 40];
} tentry;

static ctvk_status parse_table(const reader *r, const ctvk_graph *g, const ctvk_model_config *fc,
                               const unsigned char *t, size_t len, tentry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (len < 4) return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor table too short (corrupt)", r->path);
    size_t n = get_u32(t), o = 4;
    if (n > len / 8) return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor table count %zu (corrupt)", r->path, n);
    size_t slots = (size_t)g->nlayers * CTVK_MAX_PARAMS;
    tentry *e = calloc(n ? n : 1, sizeof *e);
    unsigned char *seen = calloc(slots ? slots : 1, 1);
    ctvk_status s = CTVK_OK;
    char sizes[128] = "";
    if (fc->height != g->cfg.height || fc->width != g->cfg.width)
        snprintf(sizes, sizeof sizes, " (the checkpoint is for %dx%d input, the graph for %dx%d)", fc->height,
                 fc->width, g->cfg.height, g->cfg.width);
    if (!e || !seen) { s = ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path); goto done; }
    for (size_t i = 0; i < n; i++) {
        if (o + 2 > len) goto corrupt;
        size_t nl = get_u16(t + o);
        o += 2;
        if (nl == 0 || nl >= sizeof e[i].name || o + nl + 2 > len) goto corrupt;
        memcpy(e[i].name, t + o, nl);
        e[i].name[nl] = 0;
        o += nl;
        int dtype = t[o], ndim = t[o + 1], dims[4];
        o += 2;
        if (ndim > 4 || o + 4 * (size_t)ndim + 12 > len) goto corrupt;
        uint64_t count = 1;
        for (int d = 0; d < ndim; d++) { dims[d] = (int)get_u32(t + o + 4 * (size_t)d); count *= (uint64_t)(uint32_t)dims[d]; }
        o += 4 * (size_t)ndim;
        e[i].bytes = get_u64(t + o);
        e[i].crc = get_u32(t + o + 8);
        o += 12;
        if (dtype != 0) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s has dtype %d; this ctvk reads only float32 (0)",
                           r->path, e[i].name, dtype);
            goto done;
        }
        if (e[i].bytes != count * 4) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s: %" PRIu64 " bytes for %" PRIu64 " floats (corrupt)",
                           r->path, e[i].name, e[i].bytes, count);
            goto done;
        }
        int pi = -1, li = find_tensor(g, e[i].name, &pi);
        if (li < 0) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s is not in the %s graph%s", r->path, e[i].name,
                           g->cfg.arch, sizes);
            goto done;
        }
        const ctvk_param *p = &g->layers[li].params[pi];
        int same = p->ndim == ndim;
        for (int d = 0; same && d < ndim; d++) same = p->dims[d] == dims[d];
        if (!same) {
            char a[96], b[96];
            shape_str(dims, ndim, a, sizeof a);
            shape_str(p->dims, p->ndim, b, sizeof b);
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s has shape %s but the %s graph has %s%s", r->path,
                           e[i].name, a, g->cfg.arch, b, sizes);
            goto done;
        }
        size_t slot = (size_t)li * CTVK_MAX_PARAMS + (size_t)pi;
        if (seen[slot]) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s appears twice (corrupt)", r->path, e[i].name);
            goto done;
        }
        seen[slot] = 1;
        e[i].layer = li;
        e[i].param = pi;
    }
    if (o != len) goto corrupt;
    for (int li = 0; li < g->nlayers; li++)
        for (int p = 0; p < g->layers[li].nparams; p++)
            if (!seen[(size_t)li * CTVK_MAX_PARAMS + (size_t)p]) {
                char nm[CTVK_NAME_MAX + 40];
                tensor_name(&g->layers[li], &g->layers[li].params[p], nm, sizeof nm);
                s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s lacks tensor %s of the %s graph", r->path, nm, g->cfg.arch);
                goto done;
            }
    *out = e;
    *count = n;
    e = NULL;
    goto done;
corrupt:
    s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: the tensor table is malformed (corrupt)", r->path);
done:
    free(e);
    free(seen);
    return s;
}

void ctvk_checkpoint_free(ctvk_checkpoint *ck)
{
    if (!ck) return;
    free(ck->params);
    free(ck->opt_m);
    free(ck->opt_v);
    free(ck->opt_blob);
    free(ck->metrics);
    memset(ck, 0, sizeof *ck);
}

/* A NaN or an infinity in the weights makes every answer the same and meaningless: refused by name. */
static ctvk_status check_finite(const char *path, const char *tensor, const float *x, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && !bad++) first = i;
    if (!bad) return CTVK_OK;
    return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s holds %zu non-finite value%s (%s at index %zu): "
                      "refusing weights that cannot give a valid answer", path, tensor, bad, bad == 1 ? "" : "s",
                      isnan(x[first]) ? "NaN" : "infinity", first);
}

static ctvk_status load_body(reader *r, const ctvk_graph *want, ctvk_checkpoint *ck, ctvk_graph *own)
{
    const ctvk_graph *g = want;
    char tag[5];
    uint64_t len;
    tentry *tab = NULL;
    size_t ntab = 0;
    int have_conf = 0, have_data = 0, have_prog = 0;
    ctvk_status s = CTVK_OK;
    char *buf = NULL;
    uint32_t crc_before;
    for (;;) {
        uint64_t at = r->pos;
        crc_before = r->file_crc;
        if ((s = r_section(r, tag, &len))) goto out;
        if (!strcmp(tag, "CEND")) break;
        int dup = (!strcmp(tag, "CONF") && have_conf) || (!strcmp(tag, "TENS") && tab) ||
                  (!strcmp(tag, "DATA") && have_data) || (!strcmp(tag, "PROG") && have_prog) ||
                  (!strcmp(tag, "METR") && ck->metrics) || (!strcmp(tag, "OPTM") && ck->opt_m) ||
                  (!strcmp(tag, "OPTV") && ck->opt_v) || (!strcmp(tag, "OPTB") && ck->opt_blob);
        const char *order = NULL;
        static const char *known[] = {"CONF", "TENS", "DATA", "PROG", "METR", "OPTM", "OPTV", "OPTB"};
        int k = 0;
        while (k < 8 && strcmp(tag, known[k])) k++;
        if (k == 8) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: unknown section '%s' at byte %" PRIu64 " (corrupt)", r->path,
                           tag, at);
            goto out;
        }
        if (!have_conf && strcmp(tag, "CONF")) order = "comes before the model config";
        else if (!strcmp(tag, "DATA") && !tab) order = "comes before the tensor table";
        if (dup || order) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s at byte %" PRIu64 " %s (corrupt)", r->path, tag,
                           at, dup ? "appears twice" : order);
            goto out;
        }
        if (!strcmp(tag, "CONF")) {
            if ((s = r_blob(r, tag, "model config", len, MAX_TEXT, 1, &buf))) goto out;
            char what[4400];
            snprintf(what, sizeof what, "checkpoint %s", r->path);
            if ((s = ctvk_model_config_from_text(buf, what, &ck->model))) goto out;
            if (want) {
                if ((s = check_arch(r->path, &ck->model, &want->cfg))) goto out;
            } else {
                if (ctvk_graph_build(&ck->model, own)) {
                    s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: its model config does not build a network: %s",
                                   r->path, ctvk_error());
                    goto out;
                }
                g = own;
            }
            ck->params_total = g->params_total;
            ck->params = calloc(g->params_total ? g->params_total : 1, sizeof(float));
            if (!ck->params) { s = ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path); goto out; }
            have_conf = 1;
        } else if (!strcmp(tag, "TENS")) {
            if ((s = r_blob(r, tag, "tensor table", len, MAX_TEXT, 0, &buf))) goto out;
            if ((s = parse_table(r, g, &ck->model, (const unsigned char *)buf, (size_t)len, &tab, &ntab))) goto out;
            if (!tab) {   /* a graph without parameters: keep a non-NULL marker */
                tab = calloc(1, sizeof *tab);
                if (!tab) { s = ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path); goto out; }
            }
        } else if (!strcmp(tag, "DATA")) {
            uint64_t sum = 0;
            for (size_t i = 0; i < ntab; i++) sum += tab[i].bytes;
            if (sum != len) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: the tensor data holds %" PRIu64 " bytes but the table "
                               "lists %" PRIu64 " (corrupt)", r->path, len, sum);
                goto out;
            }
            for (size_t i = 0; i < ntab; i++) {
                const ctvk_param *p = &g->layers[tab[i].layer].params[tab[i].param];
                uint32_t crc = 0;
                if ((s = r_f32(r, ck->params + p->offset, p->count, &crc))) goto out;
                if (crc != tab[i].crc) {
                    s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: tensor %s: CRC mismatch (corrupt)", r->path,
                                   tab[i].name);
                    goto out;
                }
                if ((s = check_finite(r->path, tab[i].name, ck->params + p->offset, p->count))) goto out;
            }
            if ((s = r_crc(r, tag, "tensor data", 0))) goto out;
            have_data = 1;
        } else if (!strcmp(tag, "PROG")) {
            if (len != 56) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section PROG has %" PRIu64 " bytes, not 56 (corrupt)",
                               r->path, len);
                goto out;
            }
            if ((s = r_blob(r, tag, "training progress", len, 56, 0, &buf))) goto out;
            const unsigned char *p = (const unsigned char *)buf;
            ck->epoch = (int64_t)get_u64(p);
            ck->step = (int64_t)get_u64(p + 8);
            for (int i = 0; i < 4; i++) ck->rng[i] = get_u64(p + 16 + 8 * i);
            if (get_u64(p + 48) != g->params_total) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: its parameter buffer holds %" PRIu64 " floats but the "
                               "%s graph's holds %zu", r->path, get_u64(p + 48), g->cfg.arch, g->params_total);
                goto out;
            }
            have_prog = 1;
        } else if (!strcmp(tag, "METR")) {
            if ((s = r_blob(r, tag, "metrics", len, MAX_TEXT, 1, &ck->metrics))) goto out;
        } else if (!strcmp(tag, "OPTB")) {
            char *b;
            if ((s = r_blob(r, tag, "optimizer state", len, MAX_BLOB, 0, &b))) goto out;
            ck->opt_blob = b;
            ck->opt_blob_size = (size_t)len;
        } else if (!strcmp(tag, "OPTM") || !strcmp(tag, "OPTV")) {
            const char *what = tag[3] == 'M' ? "optimizer m" : "optimizer v";
            if (len != (uint64_t)g->params_total * 4) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: section %s (%s) has %" PRIu64 " bytes but the graph "
                               "needs %zu (corrupt)", r->path, tag, what, len, g->params_total * 4);
                goto out;
            }
            float *x = malloc(g->params_total ? g->params_total * sizeof(float) : 1);
            if (!x) { s = ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path); goto out; }
            if (tag[3] == 'M') ck->opt_m = x; else ck->opt_v = x;
            uint32_t crc = 0;
            if ((s = r_f32(r, x, g->params_total, &crc))) goto out;
            if ((s = r_crc(r, tag, what, crc))) goto out;
            if ((s = check_finite(r->path, what, x, g->params_total))) goto out;
        } else {
            s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: unknown section '%s' at byte %" PRIu64 " (corrupt)", r->path,
                           tag, at);
            goto out;
        }
        free(buf);
        buf = NULL;
    }
    unsigned char c[4];
    if ((s = r_bytes(r, c, 4))) goto out;
    if (get_u32(c) != crc_before) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: whole-file checksum mismatch (corrupt)", r->path);
        goto out;
    }
    if (r->pos != r->size) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: %" PRIu64 " stray bytes after its end marker (corrupt)", r->path,
                       r->size - r->pos);
        goto out;
    }
    const char *lack = !have_conf ? "model config (CONF)" : !tab ? "tensor table (TENS)" : !have_data ? "tensor data (DATA)"
                       : !have_prog ? "training progress (PROG)" : NULL;
    if (lack) { s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s lacks its %s section (corrupt)", r->path, lack); goto out; }
    if (!ck->opt_m != !ck->opt_v) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s has only one of the optimizer's m and v (corrupt)", r->path);
        goto out;
    }
out:
    free(buf);
    free(tab);
    return s;
}

ctvk_status ctvk_checkpoint_load(const char *path, const ctvk_graph *g, ctvk_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    reader r;
    CTVK_TRY(r_open(&r, path));
    ctvk_graph own;
    memset(&own, 0, sizeof own);
    ctvk_status s = load_body(&r, g, ck, &own);
    fclose(r.f);
    ctvk_graph_free(&own);
    if (s) ctvk_checkpoint_free(ck);
    return s;
}

ctvk_status ctvk_checkpoint_peek_config(const char *path, ctvk_model_config *cfg)
{
    reader r;
    CTVK_TRY(r_open(&r, path));
    char tag[5];
    uint64_t len;
    char *buf = NULL;
    ctvk_status s = r_section(&r, tag, &len);
    if (!s && strcmp(tag, "CONF"))
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: it does not start with its model config (corrupt)", path);
    if (!s) s = r_blob(&r, tag, "model config", len, MAX_TEXT, 1, &buf);
    if (!s) {
        char what[4400];
        snprintf(what, sizeof what, "checkpoint %s", path);
        s = ctvk_model_config_from_text(buf, what, cfg);
    }
    free(buf);
    fclose(r.f);
    return s;
}
