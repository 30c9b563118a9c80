/* Reading a checkpoint: every length, CRC and shape checked before it is trusted (the layout:
 * include/ctvk/checkpoint.h). */
#include "net/checkpoint_format.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        int pi = -1, li = ctvk__ckpt_find_tensor(g, e[i].name, &pi);
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
            ctvk__ckpt_shape_str(dims, ndim, a, sizeof a);
            ctvk__ckpt_shape_str(p->dims, p->ndim, b, sizeof b);
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
                ctvk__ckpt_tensor_name(&g->layers[li], &g->layers[li].params[p], nm, sizeof nm);
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

/* The bytes between the graph's parameter tensors (alignment padding) and after the last: zero, as
 * a fresh calloc'd buffer would hold them (the offsets grow with the layers, net/graph.c). */
static void zero_padding(const ctvk_graph *g, float *params)
{
    size_t end = 0;
    for (int i = 0; i < g->nlayers; i++)
        for (int p = 0; p < g->layers[i].nparams; p++) {
            const ctvk_param *q = &g->layers[i].params[p];
            if (q->offset > end) memset(params + end, 0, (q->offset - end) * sizeof *params);
            if (q->offset + q->count > end) end = q->offset + q->count;
        }
    if (g->params_total > end) memset(params + end, 0, (g->params_total - end) * sizeof *params);
}

/* into: NULL, or where the weights go (want->params_total floats, the caller's) instead of a fresh
 * ck->params. */
static ctvk_status load_body(reader *r, const ctvk_graph *want, float *into, ctvk_checkpoint *ck, ctvk_graph *own)
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
            if (into) {
                ck->params = into;
                zero_padding(g, into);
            } else {
                ck->params = calloc(g->params_total ? g->params_total : 1, sizeof(float));
                if (!ck->params) { s = ctvk__fail(CTVK_ERR_NOMEM, "checkpoint %s: out of host memory", r->path); goto out; }
                ctvk__advise_huge(ck->params, g->params_total * sizeof(float));
            }
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

static ctvk_status load(const char *path, const ctvk_graph *g, float *into, ctvk_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    reader r;
    CTVK_TRY(r_open(&r, path));
    ctvk_graph own;
    memset(&own, 0, sizeof own);
    ctvk_status s = load_body(&r, g, into, ck, &own);
    fclose(r.f);
    ctvk_graph_free(&own);
    if (into) ck->params = NULL;   /* the caller's */
    if (s) ctvk_checkpoint_free(ck);
    return s;
}

ctvk_status ctvk_checkpoint_load(const char *path, const ctvk_graph *g, ctvk_checkpoint *ck)
{
    return load(path, g, NULL, ck);
}

ctvk_status ctvk__checkpoint_load_into(const char *path, const ctvk_graph *g, float *params, ctvk_checkpoint *ck)
{
    if (!g || !params) {
        memset(ck, 0, sizeof *ck);
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s: loading into a buffer needs its graph and the buffer", path);
    }
    return load(path, g, params, ck);
}

ctvk_status ctvk__checkpoint_identity(const char *path, uint64_t *id)
{
    *id = 0;
    reader r;
    CTVK_TRY(r_open(&r, path));
    uint64_t h = ctvk__xxh3(&r.size, sizeof r.size, 0);
    ctvk_status s = CTVK_OK;
    int have_tens = 0;
    for (int k = 0; !s && !have_tens && k < 16; k++) {   /* the sections before the data: CONF, TENS */
        char tag[5], *buf = NULL;
        uint64_t len;
        if ((s = r_section(&r, tag, &len))) break;
        if (!strcmp(tag, "DATA") || !strcmp(tag, "CEND")) break;
        if ((s = r_blob(&r, tag, "header section", len, MAX_TEXT, 0, &buf))) break;
        h = ctvk__xxh3(tag, 4, h);
        h = ctvk__xxh3(buf, (size_t)len, h);
        have_tens = !strcmp(tag, "TENS");
        free(buf);
    }
    fclose(r.f);
    if (!s && !have_tens)
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: no tensor table before its data (corrupt)", path);
    if (!s) *id = h;
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
