/* DICOM series (through GDCM, runtime/ct/gdcm_io.cxx): files grouped by SeriesInstanceUID, CT image
 * series only (localizers and other modalities skipped with a note), slices ordered by
 * ImagePositionPatient along the normal of ImageOrientationPatient (InstanceNumber when a position
 * is missing; never the file name), and a series' problems (duplicate positions, gaps in spacing,
 * mixed sizes or orientations) written down so that using the series fails naming them. One slice
 * reads as RescaleSlope * sample + RescaleIntercept = HU, mapped to the stored-value scale. */
#include "runtime/ct/ct_internal.h"
#include "runtime/ct/gdcm_io.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ctvk__is_dicom(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    unsigned char b[132];
    ssize_t r = pread(fd, b, sizeof b, 0);
    close(fd);
    return r == (ssize_t)sizeof b && !memcmp(b + 128, "DICM", 4);
}

/* Transfer syntaxes GDCM decodes (and ctvk therefore reads); NULL name: not one of them. */
static const struct { const char *uid, *name; int ok; } TS[] = {
    {"1.2.840.10008.1.2", "implicit VR little endian", 1},
    {"1.2.840.10008.1.2.1", "explicit VR little endian", 1},
    {"1.2.840.10008.1.2.1.99", "deflated explicit VR little endian", 1},
    {"1.2.840.10008.1.2.2", "explicit VR big endian", 1},
    {"1.2.840.10008.1.2.5", "RLE lossless", 1},
    {"1.2.840.10008.1.2.4.50", "JPEG baseline", 1},
    {"1.2.840.10008.1.2.4.51", "JPEG extended", 1},
    {"1.2.840.10008.1.2.4.57", "JPEG lossless", 1},
    {"1.2.840.10008.1.2.4.70", "JPEG lossless SV1", 1},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS lossless", 1},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless", 1},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 lossless", 1},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000", 1},
    {"1.2.840.10008.1.2.4.94", "JPIP referenced", 0},
    {"1.2.840.10008.1.2.4.95", "JPIP referenced deflate", 0},
    {"1.2.840.10008.1.2.4.100", "MPEG2 main profile", 0},
    {"1.2.840.10008.1.2.4.101", "MPEG2 high profile", 0},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264", 0},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD", 0},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265", 0},
    {"1.2.840.10008.1.2.4.201", "high-throughput JPEG 2000 lossless", 0},
    {"1.2.840.10008.1.2.4.202", "high-throughput JPEG 2000 RPCL lossless", 0},
    {"1.2.840.10008.1.2.4.203", "high-throughput JPEG 2000", 0},
};

static ctvk_status check_ts(const char *path, const char *uid)
{
    for (size_t i = 0; i < sizeof TS / sizeof *TS; i++)
        if (!strcmp(TS[i].uid, uid)) {
            if (TS[i].ok) return CTVK_OK;
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: unsupported compression: transfer syntax %s (%s); ctvk reads "
                              "uncompressed, deflate, RLE, JPEG, JPEG-LS and JPEG 2000 DICOM (through GDCM)", path,
                              uid, TS[i].name);
        }
    if (!*uid) return CTVK_OK;   /* no meta header: GDCM guesses (implicit VR) */
    return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: unsupported compression: transfer syntax %s is not one ctvk knows; it "
                      "reads uncompressed, deflate, RLE, JPEG, JPEG-LS and JPEG 2000 DICOM (through GDCM)", path, uid);
}

/* Native (uncompressed little-endian) pixel data must be all there: GDCM reads what a truncated file
 * holds and pads it. The pixel data element is the last (7FE0,0010) in the file. */
static ctvk_status check_native_length(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    ctvk_status s = CTVK_OK;
    uint8_t *b = NULL;
    if (fstat(fd, &st) != 0 || !(b = malloc((size_t)st.st_size + 1))) s = ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path);
    size_t n = 0;
    while (s == CTVK_OK && n < (size_t)st.st_size) {
        ssize_t r = pread(fd, b + n, (size_t)st.st_size - n, (off_t)n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    for (size_t i = n >= 12 ? n - 12 : 0; s == CTVK_OK && i > 132; i--) {
        if (b[i] != 0xe0 || b[i + 1] != 0x7f || b[i + 2] != 0x10 || b[i + 3] != 0x00) continue;
        int explicit_vr = (b[i + 4] == 'O' && (b[i + 5] == 'W' || b[i + 5] == 'B'));
        size_t at = i + (explicit_vr ? 8 : 4);
        uint32_t len = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 | (uint32_t)b[at + 3] << 24;
        size_t value = at + 4;
        if (len != 0xffffffffu && value + (size_t)len > n)
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: truncated: the pixel data declares %u bytes and the file ends after %zu "
                           "of them", path, len, n - value);
        break;
    }
    free(b);
    return s;
}

ctvk_status ctvk__dicom_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                             size_t *clipped)
{
    CTVK_TRY(ctvk__dicom_check(path));
    {
        ctvk_gdcm_header hh;
        char e[512];
        if (ctvk_gdcm_read_header(path, &hh, e, sizeof e)) return ctvk__fail(CTVK_ERR_FORMAT, "%s: %s", path, e);
        CTVK_TRY(check_ts(path, hh.transfer_syntax));
        if (!strcmp(hh.transfer_syntax, "1.2.840.10008.1.2") || !strcmp(hh.transfer_syntax, "1.2.840.10008.1.2.1"))
            CTVK_TRY(check_native_length(path));
    }
    ctvk_gdcm_header h;
    void *px = NULL;
    int type = 0;
    char err[512];
    if (ctvk_gdcm_read_image(path, &h, &px, &type, err, sizeof err))
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: %s", path, err);
    if (strcmp(h.photometric, "MONOCHROME2") && strcmp(h.photometric, "MONOCHROME1")) {
        free(px);
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: photometric interpretation '%s'; ctvk reads grayscale (MONOCHROME2) CT",
                          path, h.photometric);
    }
    static const ctvk__type map[] = {CTVK__U8, CTVK__I8, CTVK__U16, CTVK__I16, CTVK__U32, CTVK__I32};
    double slope = h.slope;
    if (!(slope != 0.0) || !isfinite(slope) || !isfinite(h.intercept)) {
        free(px);
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: RescaleSlope %g and RescaleIntercept %g do not map samples to HU", path,
                          h.slope, h.intercept);
    }
    ctvk__rescale r = {.slope = slope, .intercept = h.intercept, .hu = 1, .offset = ctvk__hu_offset(v)};
    int w = h.cols, ht = h.rows;
    ctvk_status s = CTVK_OK;
    if (clipped) *clipped = 0;
    if (w == size && ht == size) {
        s = ctvk__to_stored(path, px, map[type], (size_t)w * ht, &r, out, clipped);
    } else if (!resize) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: the slice is %dx%d, expected %dx%d ([data] image_size = %d; set [data] "
                       "resize = true to resample other sizes)", path, w, ht, size, size, size);
    } else {
        uint16_t *full = malloc((size_t)w * ht * sizeof *full);
        if (!full) s = ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path);
        else if ((s = ctvk__to_stored(path, px, map[type], (size_t)w * ht, &r, full, clipped)) == CTVK_OK)
            ctvk_resize_u16(full, w, ht, out, size, size);
        free(full);
    }
    free(px);
    return s;
}

/* ------------------------------------------------------------------ structure check */
/* Debian's GDCM asserts (aborts) or loops on some malformed files, so every file is walked here first:
 * each element's tag, VR and length must make sense and stay inside the file, sequences and items
 * must nest and end, before GDCM sees it. */
typedef struct walker {
    const uint8_t *b;
    size_t n;
    int implicit;
    int truncated;
    char why[160];
} walker;

static int long_vr(const uint8_t *v)
{
    static const char *L[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"};
    for (size_t i = 0; i < sizeof L / sizeof *L; i++) if (v[0] == L[i][0] && v[1] == L[i][1]) return 1;
    return 0;
}

static int known_vr(const uint8_t *v)
{
    static const char *S[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
                              "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    if (long_vr(v)) return 1;
    for (size_t i = 0; i < sizeof S / sizeof *S; i++) if (v[0] == S[i][0] && v[1] == S[i][1]) return 1;
    return 0;
}

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

/* A dataset from *at to end (or to an item delimiter when in_item); 0 when it is malformed. */
static int walk_set(walker *w, size_t *at, size_t end, int in_item, int depth)
{
    if (depth > 12) { snprintf(w->why, sizeof w->why, "sequences nested too deep"); return 0; }
    while (*at < end) {
        if (end - *at < 8) { snprintf(w->why, sizeof w->why, "an element header cut at byte %zu", *at); return 0; }
        const uint8_t *e = w->b + *at;
        uint32_t g = rd16(e), el = rd16(e + 2);
        if (g == 0xfffe) {
            if (el == 0xe00d && in_item) { *at += 8; return 1; }
            snprintf(w->why, sizeof w->why, "an item tag (FFFE,%04X) where an element belongs, at byte %zu", el, *at);
            return 0;
        }
        int implicit = g != 2 && w->implicit;
        uint32_t len;
        size_t hdr;
        int sq = 0, pixel = g == 0x7fe0 && el == 0x0010;
        if (implicit) {
            len = rd32(e + 4), hdr = 8;
        } else {
            if (!known_vr(e + 4)) {
                snprintf(w->why, sizeof w->why, "element (%04X,%04X) at byte %zu has no valid VR", g, el, *at);
                return 0;
            }
            sq = e[4] == 'S' && e[5] == 'Q';
            if (long_vr(e + 4)) {
                if (end - *at < 12) { snprintf(w->why, sizeof w->why, "an element header cut at byte %zu", *at); return 0; }
                len = rd32(e + 8), hdr = 12;
            } else len = rd16(e + 6), hdr = 8;
        }
        if (g == 0x0028 && el == 0x0002 && len >= 2 && *at + hdr + 2 <= end && rd16(e + hdr) > 4) {
            snprintf(w->why, sizeof w->why, "SamplesPerPixel %u", rd16(e + hdr));
            return 0;
        }
        *at += hdr;
        if (len == 0xffffffffu) {
            if (!sq && !pixel && !(implicit || (e[4] == 'U' && e[5] == 'N'))) {
                snprintf(w->why, sizeof w->why, "element (%04X,%04X) has an undefined length", g, el);
                return 0;
            }
            /* items up to the sequence delimiter */
            for (;;) {
                if (end - *at < 8) { snprintf(w->why, sizeof w->why, "a sequence without its end"); return 0; }
                const uint8_t *it = w->b + *at;
                uint32_t ig = rd16(it), ie = rd16(it + 2), il = rd32(it + 4);
                if (ig != 0xfffe) { snprintf(w->why, sizeof w->why, "a sequence item expected at byte %zu", *at); return 0; }
                *at += 8;
                if (ie == 0xe0dd) break;
                if (ie != 0xe000) { snprintf(w->why, sizeof w->why, "a bad item tag at byte %zu", *at - 8); return 0; }
                if (pixel) {   /* fragments: opaque bytes of a defined length */
                    if (il == 0xffffffffu || il > end - *at) { snprintf(w->why, sizeof w->why, "a pixel data fragment past the end"); return 0; }
                    *at += il;
                } else if (il == 0xffffffffu) {
                    if (!walk_set(w, at, end, 1, depth + 1)) return 0;
                } else {
                    if (il > end - *at) { snprintf(w->why, sizeof w->why, "an item past the end of the file"); return 0; }
                    size_t sub = *at;
                    if (!walk_set(w, &sub, *at + il, 0, depth + 1)) return 0;
                    *at += il;
                }
            }
            continue;
        }
        if (len > end - *at) {
            if (pixel) snprintf(w->why, sizeof w->why, "the pixel data declares %u bytes and the file ends after %zu of them",
                                len, end - *at);
            else snprintf(w->why, sizeof w->why, "element (%04X,%04X) declares %u bytes and the file ends after %zu", g,
                          el, len, end - *at);
            w->truncated = end == w->n;
            return 0;
        }
        if (sq && len) {
            size_t sub = *at, send = *at + len;
            while (sub < send) {
                if (send - sub < 8) { snprintf(w->why, sizeof w->why, "a sequence item cut"); return 0; }
                const uint8_t *it = w->b + sub;
                uint32_t il = rd32(it + 4);
                if (rd16(it) != 0xfffe || rd16(it + 2) != 0xe000) { snprintf(w->why, sizeof w->why, "a bad item in a sequence"); return 0; }
                sub += 8;
                if (il == 0xffffffffu) { if (!walk_set(w, &sub, send, 1, depth + 1)) return 0; }
                else {
                    if (il > send - sub) { snprintf(w->why, sizeof w->why, "an item past its sequence"); return 0; }
                    size_t s2 = sub;
                    if (!walk_set(w, &s2, sub + il, 0, depth + 1)) return 0;
                    sub += il;
                }
            }
        }
        *at += len;
    }
    if (in_item) { snprintf(w->why, sizeof w->why, "an item without its end"); return 0; }
    return 1;
}

ctvk_status ctvk__dicom_check(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > ((off_t)1 << 31)) {
        close(fd);
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: not a regular file of a size ctvk reads", path);
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) { close(fd); return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path); }
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    walker w = {.b = b, .n = got};
    ctvk_status s = CTVK_OK;
    if (got < 132 || memcmp(b + 128, "DICM", 4)) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: not a DICOM file (no 'DICM' at byte 128)", path);
    /* the meta group (explicit VR little endian), then the transfer syntax it names */
    size_t at = 132, meta_end = 132;
    char ts[72] = "";
    while (s == CTVK_OK && meta_end + 8 <= got && rd16(b + meta_end) == 2) {
        const uint8_t *e = b + meta_end;
        if (!known_vr(e + 4)) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a corrupt DICOM meta header", path); break; }
        size_t hdr = long_vr(e + 4) ? 12 : 8;
        if (meta_end + hdr > got) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a truncated DICOM meta header", path); break; }
        uint32_t len = hdr == 12 ? rd32(e + 8) : rd16(e + 6);
        if (len > got - meta_end - hdr) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a truncated DICOM meta header", path); break; }
        if (rd16(e + 2) == 0x0010 && len < sizeof ts) {
            memcpy(ts, e + hdr, len);
            ts[len] = 0;
            for (size_t k = len; k > 0 && (ts[k - 1] == 0 || ts[k - 1] == ' '); k--) ts[k - 1] = 0;
        }
        meta_end += hdr + len;
    }
    if (s == CTVK_OK && meta_end == 132) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a DICOM file without a meta header", path);
    /* GDCM reads the meta group by its group length: it must be the group's real length */
    if (s == CTVK_OK && !(rd16(b + 134) == 0 && b[136] == 'U' && b[137] == 'L' && rd16(b + 138) == 4 &&
                          rd32(b + 140) == meta_end - 144))
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a corrupt DICOM meta header (its group length is not its length)", path);
    if (s == CTVK_OK && !strcmp(ts, "1.2.840.10008.1.2.2"))
        s = ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: explicit VR big endian (a retired transfer syntax) is not read", path);
    if (s == CTVK_OK && strcmp(ts, "1.2.840.10008.1.2.1.99")) {   /* deflated datasets: GDCM inflates them */
        w.implicit = !strcmp(ts, "1.2.840.10008.1.2");
        at = meta_end;
        if (!walk_set(&w, &at, got, 0, 0)) {
            if (w.truncated) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: truncated: %s", path, w.why);
            else s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a corrupt DICOM file (%s)", path, w.why);
        }
    }
    free(b);
    return s;
}

/* ------------------------------------------------------------------ grouping */
typedef struct hdr {
    size_t file;
    ctvk_gdcm_header h;
    double pos;
} hdr;

static int cmp_uid(const void *pa, const void *pb)
{
    const hdr *a = pa, *b = pb;
    int c = strcmp(a->h.series_uid, b->h.series_uid);
    return c ? c : (a->file > b->file) - (a->file < b->file);
}

static int cmp_pos(const void *pa, const void *pb)
{
    const hdr *a = pa, *b = pb;
    if (a->pos != b->pos) return a->pos > b->pos ? -1 : 1;     /* head first: the highest position first */
    return (a->h.instance > b->h.instance) - (a->h.instance < b->h.instance);
}

static int cmp_instance(const void *pa, const void *pb)
{
    const hdr *a = pa, *b = pb;
    return (a->h.instance > b->h.instance) - (a->h.instance < b->h.instance);
}

static int cmp_dbl(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static int is_localizer(const char *image_type)
{
    return strstr(image_type, "LOCALIZER") || strstr(image_type, "localizer");
}

void ctvk__dstudy_free(ctvk__dstudy *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i].file), free(s->v[i].instance), free(s->v[i].pos);
    free(s->v);
    ctvk__strs_free(&s->notes);
    memset(s, 0, sizeof *s);
}

static void problem(ctvk__dseries *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(ctvk__dseries *q, const char *fmt, ...)
{
    if (q->problem[0]) return;   /* the first one */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->problem, sizeof q->problem, fmt, ap);
    va_end(ap);
}

static ctvk_status one_series(ctvk__dstudy *st, hdr *v, size_t n, const char *const *paths)
{
    const ctvk_gdcm_header *h0 = &v[0].h;
    char label[200];
    snprintf(label, sizeof label, "series %d '%s' (%s)", h0->has_series_number ? h0->series_number : 0,
             h0->series_description, h0->series_uid);
    if (strcmp(h0->modality, "CT")) {
        ctvk__strs_pushf(&st->notes, "skipped %s: modality %s, not CT (%zu file%s)", label,
                         h0->modality[0] ? h0->modality : "(none)", n, n == 1 ? "" : "s");
        return CTVK_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (is_localizer(v[i].h.image_type)) {
            ctvk__strs_pushf(&st->notes, "skipped %s: a localizer (ImageType %s, %zu file%s)", label, v[i].h.image_type,
                             n, n == 1 ? "" : "s");
            return CTVK_OK;
        }
    for (size_t i = 0; i < n; i++)
        if (v[i].h.rows == 0 || v[i].h.cols == 0) {
            ctvk__strs_pushf(&st->notes, "skipped %s: %s holds no image (no Rows/Columns)", label, paths[v[i].file]);
            return CTVK_OK;
        }
    ctvk__dseries *grown = realloc(st->v, (size_t)(st->n + 1) * sizeof *grown);
    if (!grown) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    st->v = grown;
    ctvk__dseries *q = &st->v[st->n++];
    memset(q, 0, sizeof *q);
    snprintf(q->uid, sizeof q->uid, "%s", h0->series_uid);
    snprintf(q->description, sizeof q->description, "%s", h0->series_description);
    snprintf(q->patient_id, sizeof q->patient_id, "%s", h0->patient_id);
    q->number = h0->has_series_number ? h0->series_number : 0;
    q->n = n;
    q->file = malloc(n * sizeof *q->file);
    q->instance = malloc(n * sizeof *q->instance);
    q->pos = malloc(n * sizeof *q->pos);
    if (!q->file || !q->instance || !q->pos) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");

    int all_pos = 1, all_inst = 1;
    for (size_t i = 0; i < n; i++) all_pos &= v[i].h.has_ipp && v[i].h.has_iop, all_inst &= v[i].h.has_instance;
    for (size_t i = 1; i < n; i++)
        if (v[i].h.rows != h0->rows || v[i].h.cols != h0->cols) {
            problem(q, "mixed sizes: %s is %dx%d, %s is %dx%d", paths[v[0].file], h0->cols, h0->rows, paths[v[i].file],
                    v[i].h.cols, v[i].h.rows);
            break;
        }
    if (all_pos) {
        const double *o = h0->iop;
        double nx = o[1] * o[5] - o[2] * o[4], ny = o[2] * o[3] - o[0] * o[5], nz = o[0] * o[4] - o[1] * o[3];
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < 6; k++)
                if (fabs(v[i].h.iop[k] - o[k]) > 1e-4) {
                    problem(q, "mixed orientations: %s has ImageOrientationPatient %g\\%g\\%g\\%g\\%g\\%g, %s has "
                            "%g\\%g\\%g\\%g\\%g\\%g", paths[v[0].file], o[0], o[1], o[2], o[3], o[4], o[5],
                            paths[v[i].file], v[i].h.iop[0], v[i].h.iop[1], v[i].h.iop[2], v[i].h.iop[3],
                            v[i].h.iop[4], v[i].h.iop[5]);
                    break;
                }
            v[i].pos = v[i].h.ipp[0] * nx + v[i].h.ipp[1] * ny + v[i].h.ipp[2] * nz;
        }
        qsort(v, n, sizeof *v, cmp_pos);
        double *gaps = malloc(n * sizeof *gaps);
        if (!gaps) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        for (size_t i = 0; i + 1 < n; i++) {
            gaps[i] = v[i].pos - v[i + 1].pos;
            if (gaps[i] < 1e-3)
                problem(q, "two slices at the same position %.3f mm along the slice normal: %s and %s (duplicates)",
                        v[i].pos, paths[v[i].file], paths[v[i + 1].file]);
        }
        if (n >= 3 && !q->problem[0]) {
            double *sorted = malloc((n - 1) * sizeof *sorted);
            if (!sorted) { free(gaps); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
            memcpy(sorted, gaps, (n - 1) * sizeof *sorted);
            qsort(sorted, n - 1, sizeof *sorted, cmp_dbl);
            double med = sorted[(n - 1) / 2];
            free(sorted);
            for (size_t i = 0; i + 1 < n; i++)
                if (gaps[i] > 1.5 * med + 1e-3) {
                    problem(q, "a gap of %.3g mm between %s (%.3f mm) and %s (%.3f mm); the spacing elsewhere is "
                            "%.3g mm (missing slices?)", gaps[i], paths[v[i].file], v[i].pos, paths[v[i + 1].file],
                            v[i + 1].pos, med);
                    break;
                }
        }
        free(gaps);
    } else if (all_inst) {
        for (size_t i = 0; i < n; i++) v[i].pos = NAN;
        qsort(v, n, sizeof *v, cmp_instance);
        for (size_t i = 0; i + 1 < n; i++)
            if (v[i].h.instance == v[i + 1].h.instance)
                problem(q, "no ImagePositionPatient, and %s and %s share InstanceNumber %d (duplicates)",
                        paths[v[i].file], paths[v[i + 1].file], v[i].h.instance);
    } else {
        for (size_t i = 0; i < n; i++) v[i].pos = NAN;
        problem(q, "some slices have neither ImagePositionPatient nor InstanceNumber (e.g. %s): their order is unknown",
                paths[v[0].file]);
    }
    for (size_t i = 0; i < n; i++) {
        q->file[i] = v[i].file;
        q->instance[i] = v[i].h.has_instance ? v[i].h.instance : -1;
        q->pos[i] = v[i].pos;
    }
    return CTVK_OK;
}

ctvk_status ctvk__dicom_group(const char *const *paths, size_t n, ctvk__dstudy *out)
{
    memset(out, 0, sizeof *out);
    hdr *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctvk_status s = CTVK_OK;
    for (size_t i = 0; i < n && s == CTVK_OK; i++) {
        char err[512];
        v[i].file = i;
        if ((s = ctvk__dicom_check(paths[i])) != CTVK_OK) break;
        if (ctvk_gdcm_read_header(paths[i], &v[i].h, err, sizeof err))
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: %s", paths[i], err);
        else if (!v[i].h.series_uid[0])
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: a DICOM file without a SeriesInstanceUID", paths[i]);
        else if (v[i].h.rows > 0 && !strcmp(v[i].h.modality, "CT"))
            s = check_ts(paths[i], v[i].h.transfer_syntax);
    }
    if (s == CTVK_OK) qsort(v, n, sizeof *v, cmp_uid);
    for (size_t i = 0; i < n && s == CTVK_OK;) {
        size_t j = i + 1;
        while (j < n && !strcmp(v[j].h.series_uid, v[i].h.series_uid)) j++;
        s = one_series(out, v + i, j - i, paths);
        i = j;
    }
    free(v);
    if (s != CTVK_OK) ctvk__dstudy_free(out);
    return s;
}

/* ------------------------------------------------------------------ phantom series */
static void uid_of(char *buf, size_t n, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h1 = ctvk__mix(ctvk__mix(seed, a), b), h2 = ctvk__mix(h1, 0x5eed);
    snprintf(buf, n, "2.25.%llu%llu", (unsigned long long)(h1 % 10000000000000000000ull + 1),
             (unsigned long long)(h2 % 1000000000ull));
}

void ctvk__phantom_dicom_name(uint64_t seed, int p, int sq, int i, char *buf, size_t n)
{
    uint64_t h = ctvk__mix(ctvk__mix(seed, 0xd1c0u + (uint64_t)p), (uint64_t)sq * 100000u + (uint64_t)i + 1);
    snprintf(buf, n, "%016llx%s", (unsigned long long)h, sq % 2 ? "" : ".dcm");
}

ctvk_status ctvk__phantom_dicom(const char *path, uint64_t seed, int p, int sq, int i, int size, int slices,
                                int localizer, const uint16_t *stored)
{
    size_t n = (size_t)size * size;
    ctvk_gdcm_slice s = {0};
    char study[72], series[72], sop[72], frame[72], pid[32], desc[64], it[64];
    uid_of(study, sizeof study, seed, 1000u + (uint64_t)p, 1);
    uid_of(frame, sizeof frame, seed, 1000u + (uint64_t)p, 2);
    uid_of(series, sizeof series, seed, 2000u + (uint64_t)p, localizer ? 999u : (uint64_t)sq);
    uid_of(sop, sizeof sop, seed, 3000u + (uint64_t)p * 100u + (localizer ? 99u : (uint64_t)sq), (uint64_t)i);
    snprintf(pid, sizeof pid, "patient%d", p + 1);
    /* the sequences cycle through transfer syntaxes and rescale forms: uncompressed uint16 stored values
     * (intercept -1024, as COVID-CTset's scanner wrote them), RLE int16 HU (intercept 0, every other slice
     * HU + 1000 with intercept -1000: rescale is per slice), JPEG-LS lossless uint16 of twice the stored
     * value (slope 0.5, intercept -1024) */
    int form = localizer ? 0 : sq % 3;
    void *px = malloc(n * 2);
    if (!px) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (form == 0) {
        memcpy(px, stored, n * 2);
        s.slope = 1, s.intercept = -1024, s.compression = CTVK_GDCM_RAW;
    } else if (form == 1) {
        int16_t *q = px;
        int shift = i % 2 ? 1000 : 0;
        for (size_t k = 0; k < n; k++) q[k] = (int16_t)((int)stored[k] - 1024 + shift);
        s.is_signed = 1, s.slope = 1, s.intercept = -shift, s.compression = CTVK_GDCM_RLE;
    } else {
        uint16_t *q = px;
        for (size_t k = 0; k < n; k++) q[k] = (uint16_t)(stored[k] > 32767 ? 65535 : 2 * stored[k]);
        s.slope = 0.5, s.intercept = -1024, s.compression = CTVK_GDCM_JPEGLS;
    }
    static const char *names[3] = {"Lung 2.5 B70f (uncompressed)", "Mediastinum 2.5 B30f (RLE)",
                                   "Lung 2.5 I70f (JPEG-LS lossless)"};
    snprintf(desc, sizeof desc, "%s", localizer ? "Topogram 0.6 T20f" : names[form]);
    snprintf(it, sizeof it, "%s", localizer ? "ORIGINAL\\PRIMARY\\LOCALIZER" : "ORIGINAL\\PRIMARY\\AXIAL");
    double px_mm = 0.7 * 512.0 / size, thick = 2.5;
    s.rows = s.cols = size;
    s.modality = "CT", s.image_type = it, s.study_uid = study, s.series_uid = series, s.sop_uid = sop;
    s.frame_uid = frame, s.patient_id = pid, s.patient_name = pid, s.series_description = desc;
    s.series_number = localizer ? 1 : sq + 2;
    s.instance = i + 1;
    s.spacing = px_mm, s.thickness = thick;
    s.ipp[0] = s.ipp[1] = -0.5 * size * px_mm;
    s.ipp[2] = -thick * i;                    /* head first: instance 1 is the most superior slice */
    double axial[6] = {1, 0, 0, 0, 1, 0}, coronal[6] = {1, 0, 0, 0, 0, -1};
    memcpy(s.iop, localizer ? coronal : axial, sizeof s.iop);
    (void)slices;
    char err[512];
    char tmp[4096];
    ctvk__tmp_name(path, tmp, sizeof tmp);
    int rc = ctvk_gdcm_write(tmp, &s, px, err, sizeof err);
    free(px);
    if (rc) { unlink(tmp); return ctvk__fail(CTVK_ERR_IO, "%s: %s", path, err); }
    return ctvk__commit(tmp, path);
}
