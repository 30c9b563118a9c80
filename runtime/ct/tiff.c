/* TIFF slices through libtiff: probe, full and row-range reads as uint16, writes (the resize that
 * reads of another size go through: resample.c).
 *
 * libtiff's messages are caught per file (TIFFOpenExt with a handler that has user data, so it is
 * thread-safe) and become the ctvk_error() line, prefixed by the file name. Reads of uncompressed
 * strip images go around libtiff's strip reader: the rows asked for are read with one pread at the
 * offset the strip table gives, so selection decodes only the region's 100 rows of each slice. */
#include "runtime/ct/ct_internal.h"
#include "runtime/base/fileio.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#define MAX_SIDE 32768

/* libtiff's file access: reads served from two cached 4 KiB blocks (the header and the
 * directory), so opening a slice costs two preads instead of a read, a seek and a read per field. */
#define BLOCK 4096
typedef struct io {
    int fd;
    uint64_t pos, size;
    int have_size;
    struct { uint64_t off; size_t len; uint8_t data[BLOCK]; } blk[2];
    int nblk, next;
} io;

static tmsize_t io_read(thandle_t h, void *buf, tmsize_t n)
{
    io *f = (io *)h;
    if (n <= 0) return 0;
    for (int b = 0; b < f->nblk; b++)
        if (f->pos >= f->blk[b].off && f->pos + (uint64_t)n <= f->blk[b].off + f->blk[b].len) {
            memcpy(buf, f->blk[b].data + (f->pos - f->blk[b].off), (size_t)n);
            f->pos += (uint64_t)n;
            return n;
        }
    if (n <= BLOCK / 2) {   /* small reads (header, directory, tag values): fetch a block */
        int b = f->nblk < 2 ? f->nblk++ : (f->next ^= 1);
        ssize_t r;
        do r = pread(f->fd, f->blk[b].data, BLOCK, (off_t)f->pos); while (r < 0 && errno == EINTR);
        f->blk[b].off = f->pos, f->blk[b].len = r > 0 ? (size_t)r : 0;
        size_t k = f->blk[b].len < (size_t)n ? f->blk[b].len : (size_t)n;
        memcpy(buf, f->blk[b].data, k);
        f->pos += k;
        return r < 0 ? -1 : (tmsize_t)k;
    }
    size_t done = 0;
    while (done < (size_t)n) {
        ssize_t r = pread(f->fd, (uint8_t *)buf + done, (size_t)n - done, (off_t)(f->pos + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        done += (size_t)r;
    }
    f->pos += done;
    return (tmsize_t)done;
}

static tmsize_t io_write(thandle_t h, void *buf, tmsize_t n) { (void)h, (void)buf, (void)n; return -1; }

static toff_t io_size(thandle_t h)
{
    io *f = (io *)h;
    if (!f->have_size) {
        struct stat st;
        f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
        f->have_size = 1;
    }
    return f->size;
}

static toff_t io_seek(thandle_t h, toff_t off, int whence)
{
    io *f = (io *)h;
    if (whence == SEEK_SET) f->pos = off;
    else if (whence == SEEK_CUR) f->pos += off;
    else if (whence == SEEK_END) f->pos = io_size(h) + off;
    else return (toff_t)-1;
    return f->pos;
}

static int io_close(thandle_t h) { (void)h; return 0; }
static int io_map(thandle_t h, void **base, toff_t *size) { (void)h, (void)base, (void)size; return 0; }
static void io_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

struct ctvk__tiff {
    TIFF *tif;
    io io;
    int fd;
    char *path;
    ctvk_tiff_info info;
    ctvk_value_options vals;
    int bytes;              /* bytes per sample */
    int swapped;            /* file byte order differs from the host's */
    uint8_t *buf;           /* one decoded strip or tile */
    tmsize_t bufsize;
    char err[512];          /* first libtiff error */
};

const char *ctvk_sample_name(ctvk_sample s)
{
    switch (s) {
    case CTVK_SAMPLE_U16: return "uint16";
    case CTVK_SAMPLE_U8: return "uint8";
    case CTVK_SAMPLE_I16: return "int16";
    case CTVK_SAMPLE_F32: return "float32";
    }
    return "?";
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    struct ctvk__tiff *t = user;
    if (t && !t->err[0]) {
        char msg[400];
        vsnprintf(msg, sizeof msg, fmt, ap);
        snprintf(t->err, sizeof t->err, "%s%s%s", module ? module : "", module ? ": " : "", msg);
    }
    return 1;   /* handled: nothing goes to stderr */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;   /* unknown tags and the like: not our concern */
}

/* libtiff reports a few problems before a TIFF* exists, through the global handlers. */
static void silent(const char *module, const char *fmt, va_list ap) { (void)module, (void)fmt, (void)ap; }
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void quiet_globals(void)
{
    TIFFSetErrorHandler(silent);
    TIFFSetWarningHandler(silent);
}

static TIFFOpenOptions *open_options(struct ctvk__tiff *t)
{
    pthread_once(&g_once, quiet_globals);
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, t);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, t);
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)1 << 30);
    return o;
}

void ctvk__tiff_close(ctvk__tiff *t)
{
    if (!t) return;
    if (t->tif) TIFFClose(t->tif);
    if (t->fd >= 0) close(t->fd);
    free(t->buf);
    free(t->path);
    free(t);
}

static const char *photometric_name(int p)
{
    switch (p) {
    case PHOTOMETRIC_MINISWHITE: return "min-is-white grayscale";
    case PHOTOMETRIC_MINISBLACK: return "grayscale";
    case PHOTOMETRIC_RGB: return "RGB";
    case PHOTOMETRIC_PALETTE: return "palette (colour map)";
    case PHOTOMETRIC_MASK: return "transparency mask";
    case PHOTOMETRIC_SEPARATED: return "CMYK (separated)";
    case PHOTOMETRIC_YCBCR: return "YCbCr";
    case PHOTOMETRIC_CIELAB: return "CIE L*a*b*";
    default: return "an unusual photometric interpretation";
    }
}

static ctvk_status tfail(ctvk__tiff *t, ctvk_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ctvk_status tfail(ctvk__tiff *t, ctvk_status s, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ctvk__fail(s, "%s: %s", t->path, msg);
}

#define ACCEPTED "ctvk reads one-channel (grayscale) slices of uint16, uint8, int16 or float32 samples"

static uint32_t get16(const uint8_t *p, int be) { return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0]; }
static uint32_t get32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* What the first bytes say when libtiff refuses a file. For a classic TIFF, the first directory's
 * ImageWidth and ImageLength are looked up too: libtiff refuses zero-sized images while opening. */
static ctvk_status not_tiff(ctvk__tiff *t)
{
    unsigned char head[8] = {0};
    ssize_t got = pread(t->fd, head, 8, 0);
    if (got < 4)
        return tfail(t, CTVK_ERR_FORMAT, "not a TIFF file (%s)", got <= 0 ? "empty" : "only a few bytes long");
    if (!((head[0] == 'I' && head[1] == 'I') || (head[0] == 'M' && head[1] == 'M')))
        return tfail(t, CTVK_ERR_FORMAT, "not a TIFF file (it starts with bytes %02x %02x %02x %02x, not II or MM)",
                     head[0], head[1], head[2], head[3]);
    int be = head[0] == 'M';
    if (got == 8 && get16(head + 2, be) == 42) {
        uint8_t cnt[2], e[12];
        uint32_t ifd = get32(head + 4, be);
        long long dim[2] = {-1, -1};
        if (pread(t->fd, cnt, 2, ifd) == 2) {
            uint32_t n = get16(cnt, be);
            for (uint32_t i = 0; i < n && i < 512; i++) {
                if (pread(t->fd, e, 12, (off_t)ifd + 2 + 12 * (off_t)i) != 12) break;
                uint32_t tag = get16(e, be), type = get16(e + 2, be);
                if ((tag == 256 || tag == 257) && (type == 3 || type == 4))
                    dim[tag - 256] = type == 3 ? get16(e + 8, be) : get32(e + 8, be);
            }
        }
        if (dim[0] == 0 || dim[1] == 0)
            return tfail(t, CTVK_ERR_FORMAT, "zero-sized image (%lldx%lld)", dim[0], dim[1]);
    }
    return tfail(t, CTVK_ERR_FORMAT, "unreadable TIFF header (%s)", t->err[0] ? t->err : "libtiff refused it");
}

ctvk_status ctvk__tiff_open(const char *path, ctvk__tiff **out, ctvk_tiff_info *info)
{
    *out = NULL;
    ctvk__tiff *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path);
    }
    int e = ctvk__open_regular(path, &t->fd);
    if (e) {
        ctvk_status s = tfail(t, CTVK_ERR_IO, "cannot open (%s)", ctvk__open_error(e));
        ctvk__tiff_close(t);
        return s;
    }
    TIFFOpenOptions *oo = open_options(t);
    if (!oo) { ctvk__tiff_close(t); return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path); }
    /* "m": no memory mapping (pread is cheaper for the part we read); "c": no strip chopping, so the
     * rows of an uncompressed single-strip image come with one pread */
    t->io.fd = t->fd;
    t->tif = TIFFClientOpenExt(path, "rmc", (thandle_t)&t->io, io_read, io_write, io_seek, io_close, io_size, io_map,
                               io_unmap, oo);
    TIFFOpenOptionsFree(oo);
    ctvk_status s = CTVK_OK;
    if (!t->tif) { s = not_tiff(t); goto fail; }

    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT, photo = PHOTOMETRIC_MINISBLACK, comp = COMPRESSION_NONE;
    uint16_t planar = PLANARCONFIG_CONTIG;
    TIFFGetField(t->tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t->tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_COMPRESSION, &comp);
    int has_photo = TIFFGetField(t->tif, TIFFTAG_PHOTOMETRIC, &photo);

    if (has_photo && (photo == PHOTOMETRIC_RGB || photo == PHOTOMETRIC_PALETTE || photo == PHOTOMETRIC_YCBCR ||
                      photo == PHOTOMETRIC_SEPARATED || photo == PHOTOMETRIC_CIELAB)) {
        s = tfail(t, CTVK_ERR_FORMAT, "%s image with %u sample%s per pixel; " ACCEPTED, photometric_name(photo),
                  spp, spp == 1 ? "" : "s");
        goto fail;
    }
    if (spp != 1) {
        s = tfail(t, CTVK_ERR_FORMAT, "%u samples per pixel (%s%s); " ACCEPTED, spp, photometric_name(photo),
                  spp == 2 ? " with an extra channel" : "");
        goto fail;
    }
    if (has_photo && photo != PHOTOMETRIC_MINISBLACK && photo != PHOTOMETRIC_MINISWHITE) {
        s = tfail(t, CTVK_ERR_FORMAT, "%s (photometric %u); " ACCEPTED, photometric_name(photo), photo);
        goto fail;
    }
    if (w == 0 || h == 0) {
        s = tfail(t, CTVK_ERR_FORMAT, "zero-sized image (%ux%u)", w, h);
        goto fail;
    }
    if (w > MAX_SIDE || h > MAX_SIDE) {
        s = tfail(t, CTVK_ERR_FORMAT, "image of %ux%u pixels is larger than ctvk reads (%d per side)", w, h, MAX_SIDE);
        goto fail;
    }
    ctvk_sample smp;
    if (bps == 16 && fmt == SAMPLEFORMAT_UINT) smp = CTVK_SAMPLE_U16;
    else if (bps == 8 && fmt == SAMPLEFORMAT_UINT) smp = CTVK_SAMPLE_U8;
    else if (bps == 16 && fmt == SAMPLEFORMAT_INT) smp = CTVK_SAMPLE_I16;
    else if (bps == 32 && fmt == SAMPLEFORMAT_IEEEFP) smp = CTVK_SAMPLE_F32;
    else {
        const char *kind = fmt == SAMPLEFORMAT_UINT ? "unsigned integer" : fmt == SAMPLEFORMAT_INT ? "signed integer"
                         : fmt == SAMPLEFORMAT_IEEEFP ? "floating-point" : "complex or untyped";
        s = tfail(t, CTVK_ERR_FORMAT, "%u-bit %s samples; " ACCEPTED, bps, kind);
        goto fail;
    }
    if (!TIFFIsCODECConfigured(comp)) {
        s = tfail(t, CTVK_ERR_FORMAT, "compression %u is not one this libtiff decodes", comp);
        goto fail;
    }
    memset(&t->info, 0, sizeof t->info);
    t->info.width = (int)w, t->info.height = (int)h, t->info.sample = smp;
    t->info.compression = comp;
    t->info.big_endian = TIFFIsBigEndian(t->tif) ? 1 : 0;
    if (TIFFIsTiled(t->tif)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t->tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t->tif, TIFFTAG_TILELENGTH, &th);
        if (!tw || !th) { s = tfail(t, CTVK_ERR_FORMAT, "tiled image without a tile size"); goto fail; }
        t->info.tile_width = (int)tw, t->info.tile_height = (int)th;
        t->bufsize = TIFFTileSize(t->tif);
    } else {
        uint32_t rps = h;
        TIFFGetFieldDefaulted(t->tif, TIFFTAG_ROWSPERSTRIP, &rps);
        t->info.rows_per_strip = rps == 0 || rps > h ? (int)h : (int)rps;
        t->bufsize = TIFFStripSize(t->tif);
    }
    if (t->bufsize <= 0) { s = tfail(t, CTVK_ERR_FORMAT, "bad strip or tile size (%s)", t->err); goto fail; }
    (void)planar;   /* one sample per pixel: both planar configurations store the same bytes */
    t->bytes = smp == CTVK_SAMPLE_U8 ? 1 : smp == CTVK_SAMPLE_F32 ? 4 : 2;
    t->swapped = TIFFIsByteSwapped(t->tif) ? 1 : 0;
    if (info) *info = t->info;
    *out = t;
    return CTVK_OK;
fail:
    ctvk__tiff_close(t);
    return s;
}

ctvk_status ctvk_tiff_probe(const char *path, ctvk_tiff_info *info)
{
    ctvk__tiff *t;
    CTVK_TRY(ctvk__tiff_open(path, &t, info));
    ctvk__tiff_close(t);
    return CTVK_OK;
}

/* native-order samples -> stored uint16 values, as the value options say */
static ctvk_status convert(const ctvk__tiff *t, const uint8_t *src, size_t n, uint16_t *dst, size_t *clipped)
{
    ctvk_sample smp = t->info.sample;
    int signed_or_float = smp == CTVK_SAMPLE_I16 || smp == CTVK_SAMPLE_F32;
    ctvk__rescale r = {.slope = 1.0, .intercept = 0.0, .offset = ctvk__hu_offset(&t->vals)};
    r.hu = t->vals.values == CTVK_VALUES_HU || (t->vals.values == CTVK_VALUES_AUTO && signed_or_float);
    ctvk__type ty = smp == CTVK_SAMPLE_U8 ? CTVK__U8 : smp == CTVK_SAMPLE_I16 ? CTVK__I16
                  : smp == CTVK_SAMPLE_F32 ? CTVK__F32 : CTVK__U16;
    return ctvk__to_stored(t->path, src, ty, n, &r, dst, clipped);
}

static void swap_bytes(uint8_t *p, size_t n, int bytes)
{
    if (bytes == 2) {
        for (size_t i = 0; i < n; i++) { uint8_t a = p[2 * i]; p[2 * i] = p[2 * i + 1]; p[2 * i + 1] = a; }
    } else if (bytes == 4) {
        for (size_t i = 0; i < n; i++) {
            uint8_t *q = p + 4 * i, a = q[0], b = q[1];
            q[0] = q[3], q[1] = q[2], q[2] = b, q[3] = a;
        }
    }
}

static ctvk_status ensure_buf(ctvk__tiff *t)
{
    if (t->buf) return CTVK_OK;
    t->buf = malloc((size_t)t->bufsize);
    return t->buf ? CTVK_OK : tfail(t, CTVK_ERR_NOMEM, "out of host memory for a %lld-byte strip", (long long)t->bufsize);
}

/* Uncompressed strips: the rows' bytes straight from the file. */
static ctvk_status rows_direct(ctvk__tiff *t, int y0, int y1, uint8_t *dst)
{
    uint64_t *off = NULL, *cnt = NULL;
    if (!TIFFGetField(t->tif, TIFFTAG_STRIPOFFSETS, &off) || !TIFFGetField(t->tif, TIFFTAG_STRIPBYTECOUNTS, &cnt) || !off ||
        !cnt)
        return tfail(t, CTVK_ERR_FORMAT, "no strip table");
    size_t line = (size_t)t->info.width * (size_t)t->bytes;
    int rps = t->info.rows_per_strip;
    uint32_t nstrips = TIFFNumberOfStrips(t->tif);
    for (int y = y0; y < y1;) {
        uint32_t s = (uint32_t)(y / rps);
        if (s >= nstrips) return tfail(t, CTVK_ERR_FORMAT, "strip %u of rows %d.. is missing", s, y);
        int in_strip = y - (int)s * rps;
        int rows = rps - in_strip;
        if (rows > y1 - y) rows = y1 - y;
        size_t need = (size_t)rows * line, at = (size_t)in_strip * line;
        if (cnt[s] < at + need)
            return tfail(t, CTVK_ERR_FORMAT, "strip %u holds %llu bytes, fewer than its rows need", s,
                         (unsigned long long)cnt[s]);
        uint8_t *p = dst + (size_t)(y - y0) * line;
        size_t done = 0;
        while (done < need) {
            ssize_t r = pread(t->fd, p + done, need - done, (off_t)(off[s] + at + done));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return tfail(t, CTVK_ERR_IO, "read failed (%s)", strerror(errno));
            if (r == 0) return tfail(t, CTVK_ERR_FORMAT, "truncated: strip %u ends past the end of the file", s);
            done += (size_t)r;
        }
        y += rows;
    }
    if (t->swapped) swap_bytes(dst, (size_t)(y1 - y0) * (size_t)t->info.width, t->bytes);
    return CTVK_OK;
}

static ctvk_status decode_fail(ctvk__tiff *t, const char *what, uint32_t i)
{
    return tfail(t, CTVK_ERR_FORMAT, "cannot decode %s %u (%s)", what, i, t->err[0] ? t->err : "corrupt or truncated data");
}

static ctvk_status rows_strips(ctvk__tiff *t, int y0, int y1, uint8_t *dst)
{
    CTVK_TRY(ensure_buf(t));
    size_t line = (size_t)t->info.width * (size_t)t->bytes;
    int rps = t->info.rows_per_strip, h = t->info.height;
    for (int y = y0; y < y1;) {
        uint32_t s = (uint32_t)(y / rps);
        int srows = rps;
        if ((int)s * rps + srows > h) srows = h - (int)s * rps;
        tmsize_t got = TIFFReadEncodedStrip(t->tif, s, t->buf, (tmsize_t)((size_t)srows * line));
        if (got < 0 || (size_t)got < (size_t)srows * line) return decode_fail(t, "strip", s);
        int in_strip = y - (int)s * rps;
        int rows = srows - in_strip;
        if (rows > y1 - y) rows = y1 - y;
        memcpy(dst + (size_t)(y - y0) * line, t->buf + (size_t)in_strip * line, (size_t)rows * line);
        y += rows;
    }
    return CTVK_OK;
}

static ctvk_status rows_tiles(ctvk__tiff *t, int y0, int y1, uint8_t *dst)
{
    CTVK_TRY(ensure_buf(t));
    int tw = t->info.tile_width, th = t->info.tile_height, w = t->info.width, b = t->bytes;
    size_t line = (size_t)w * (size_t)b;
    for (int ty = (y0 / th) * th; ty < y1; ty += th) {
        for (int tx = 0; tx < w; tx += tw) {
            uint32_t tile = TIFFComputeTile(t->tif, (uint32_t)tx, (uint32_t)ty, 0, 0);
            tmsize_t got = TIFFReadEncodedTile(t->tif, tile, t->buf, t->bufsize);
            if (got < 0 || got < (tmsize_t)tw * th * b) return decode_fail(t, "tile", tile);
            int cols = tw;
            if (tx + cols > w) cols = w - tx;
            for (int y = ty > y0 ? ty : y0; y < ty + th && y < y1; y++)
                memcpy(dst + (size_t)(y - y0) * line + (size_t)tx * b, t->buf + ((size_t)(y - ty) * tw) * b,
                       (size_t)cols * b);
        }
    }
    return CTVK_OK;
}

ctvk_status ctvk__tiff_rows(ctvk__tiff *t, int y0, int y1, uint16_t *out, size_t *clamped)
{
    if (y0 < 0 || y1 > t->info.height || y0 >= y1)
        return tfail(t, CTVK_ERR_ARG, "rows %d..%d are outside the image's %d rows", y0, y1 - 1, t->info.height);
    size_t n = (size_t)(y1 - y0) * (size_t)t->info.width;
    uint8_t *raw = (uint8_t *)out, *tmp = NULL;
    if (t->bytes != 2) {        /* uint8 and float32 need a staging buffer of their own size */
        tmp = malloc(n * (size_t)t->bytes);
        if (!tmp) return tfail(t, CTVK_ERR_NOMEM, "out of host memory");
        raw = tmp;
    }
    ctvk_status s;
    if (t->info.tile_width) s = rows_tiles(t, y0, y1, raw);
    else if (t->info.compression == COMPRESSION_NONE) s = rows_direct(t, y0, y1, raw);
    else s = rows_strips(t, y0, y1, raw);
    if (s == CTVK_OK) s = convert(t, raw, n, out, clamped);
    free(tmp);
    return s;
}

static ctvk_status size_mismatch(const char *path, int w, int h, int size, const char *size_name)
{
    return ctvk__fail(CTVK_ERR_FORMAT,
                      "%s: the slice is %dx%d, expected %dx%d (%s = %d; set [data] resize = true "
                      "to resample other sizes)", path, w, h, size, size, size_name, size);
}

/* Host memory that decoding slices may take: one slice (its strip or tile buffer, a staging copy for
 * 8-bit and float samples, the full image before resampling), and all slices being decoded at once
 * (the loader's threads wait their turn for it). A header can declare 32768x32768 pixels in a file
 * of a few MB: such a slice is refused with the numbers instead. Not static so that a test can
 * lower them. */
size_t ctvk__decode_slice_max = (size_t)512 << 20;
size_t ctvk__decode_total_max = (size_t)1 << 30;
static pthread_mutex_t decode_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t decode_cv = PTHREAD_COND_INITIALIZER;
static size_t decode_used;

static ctvk_status decode_reserve(const ctvk__tiff *t, int full, size_t *need)
{
    size_t px = (size_t)t->info.width * (size_t)t->info.height;
    *need = (size_t)t->bufsize + (full ? px * sizeof(uint16_t) : 0) + (t->bytes != 2 ? px * (size_t)t->bytes : 0);
    double mib = (double)*need / 1048576.0;
    if (*need > ctvk__decode_slice_max || *need > ctvk__decode_total_max) {
        int one = ctvk__decode_slice_max <= ctvk__decode_total_max;
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: decoding this %dx%d slice%s needs %.1f MiB of host memory, more than the "
                          "%.1f MiB ctvk allows %s (a corrupt header, or an image far larger than a CT slice)", t->path,
                          t->info.width, t->info.height, full ? " and resampling it" : "", mib,
                          (double)(one ? ctvk__decode_slice_max : ctvk__decode_total_max) / 1048576.0,
                          one ? "per slice" : "for all slices being decoded at once");
    }
    pthread_mutex_lock(&decode_mu);
    while (decode_used + *need > ctvk__decode_total_max) pthread_cond_wait(&decode_cv, &decode_mu);
    decode_used += *need;
    pthread_mutex_unlock(&decode_mu);
    return CTVK_OK;
}

static void decode_release(size_t need)
{
    pthread_mutex_lock(&decode_mu);
    decode_used -= need;
    pthread_cond_broadcast(&decode_cv);
    pthread_mutex_unlock(&decode_mu);
}

void ctvk__tiff_set_values(ctvk__tiff *t, const ctvk_value_options *v)
{
    if (v) t->vals = *v;
    else memset(&t->vals, 0, sizeof t->vals);
}

ctvk_status ctvk_tiff_read(const char *path, int size, int resize, uint16_t *out, size_t *clamped)
{
    return ctvk__tiff_read_named(path, size, resize, NULL, out, clamped, "[data] image_size");
}

ctvk_status ctvk_tiff_read_values(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                  size_t *clamped)
{
    return ctvk__tiff_read_named(path, size, resize, v, out, clamped, "[data] image_size");
}

ctvk_status ctvk__tiff_read_named(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                  size_t *clamped, const char *size_name)
{
    if (size < 1 || size > MAX_SIDE) return ctvk__fail(CTVK_ERR_ARG, "%s: bad image size %d", path, size);
    ctvk__tiff *t;
    CTVK_TRY(ctvk__tiff_open(path, &t, NULL));
    ctvk__tiff_set_values(t, v);
    int w = t->info.width, h = t->info.height;
    ctvk_status s;
    size_t need = 0;
    if (clamped) *clamped = 0;
    if (!(w == size && h == size) && !resize) {
        s = size_mismatch(path, w, h, size, size_name);
    } else if ((s = decode_reserve(t, !(w == size && h == size), &need))) {
        need = 0;
    } else if (w == size && h == size) {
        s = ctvk__tiff_rows(t, 0, h, out, clamped);
    } else {
        uint16_t *full = malloc((size_t)w * (size_t)h * sizeof *full);
        if (!full) s = ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path);
        else if ((s = ctvk__tiff_rows(t, 0, h, full, clamped)) == CTVK_OK) ctvk_resize_u16(full, w, h, out, size, size);
        free(full);
    }
    if (need) decode_release(need);
    ctvk__tiff_close(t);
    return s;
}

ctvk_status ctvk_tiff_read_rows(const char *path, int width, int height, int y0, int y1, uint16_t *out)
{
    ctvk__tiff *t;
    CTVK_TRY(ctvk__tiff_open(path, &t, NULL));
    ctvk_status s;
    if (t->info.width != width || t->info.height != height)
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: the slice is %dx%d, expected %dx%d", path, t->info.width,
                       t->info.height, width, height);
    else
        s = ctvk__tiff_rows(t, y0, y1, out, NULL);
    ctvk__tiff_close(t);
    return s;
}

/* ------------------------------------------------------------------ writing */
ctvk_status ctvk_tiff_write(const char *path, int width, int height, const void *pixels,
                            const ctvk_tiff_write_options *opt)
{
    ctvk_tiff_write_options d = {0};
    const ctvk_tiff_write_options *o = opt ? opt : &d;
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE)
        return ctvk__fail(CTVK_ERR_ARG, "%s: cannot write a %dx%d image", path, width, height);
    if (o->tile && (o->tile < 16 || o->tile % 16))
        return ctvk__fail(CTVK_ERR_ARG, "%s: tile size %d is not a positive multiple of 16", path, o->tile);
    int comp = o->compression ? o->compression : COMPRESSION_NONE;
    if (!TIFFIsCODECConfigured((uint16_t)comp))
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: this libtiff cannot write compression %d", path, comp);
    int bytes = o->sample == CTVK_SAMPLE_U8 ? 1 : o->sample == CTVK_SAMPLE_F32 ? 4 : 2;
    uint16_t fmt = o->sample == CTVK_SAMPLE_I16 ? SAMPLEFORMAT_INT : o->sample == CTVK_SAMPLE_F32 ? SAMPLEFORMAT_IEEEFP
                                                                                                 : SAMPLEFORMAT_UINT;
    char tmp[4096];
    ctvk__tmp_name(path, tmp, sizeof tmp);
    struct ctvk__tiff err = {0};
    err.fd = -1;
    TIFFOpenOptions *oo = open_options(&err);
    if (!oo) return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", path);
    TIFF *tif = TIFFOpenExt(tmp, o->big_endian ? "wb" : "wl", oo);
    TIFFOpenOptionsFree(oo);
    if (!tif) return ctvk__fail(CTVK_ERR_IO, "%s: cannot write (%s)", path, err.err[0] ? err.err : strerror(errno));
    int ok = 1;
    ok &= TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)width);
    ok &= TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)height);
    ok &= TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    ok &= TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * bytes));
    ok &= TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, fmt);
    ok &= TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_MINISBLACK);
    ok &= TIFFSetField(tif, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    ok &= TIFFSetField(tif, TIFFTAG_COMPRESSION, (uint16_t)comp);
    if (o->predictor == 2 && comp != COMPRESSION_NONE)
        ok &= TIFFSetField(tif, TIFFTAG_PREDICTOR, (uint16_t)PREDICTOR_HORIZONTAL);
    size_t line = (size_t)width * (size_t)bytes;
    const uint8_t *px = pixels;
    if (ok && o->tile) {
        ok &= TIFFSetField(tif, TIFFTAG_TILEWIDTH, (uint32_t)o->tile);
        ok &= TIFFSetField(tif, TIFFTAG_TILELENGTH, (uint32_t)o->tile);
        size_t tsz = (size_t)o->tile * (size_t)o->tile * (size_t)bytes;
        uint8_t *buf = ok ? malloc(tsz) : NULL;
        if (!buf) ok = 0;
        for (int ty = 0; ok && ty < height; ty += o->tile)
            for (int tx = 0; ok && tx < width; tx += o->tile) {
                memset(buf, 0, tsz);
                int cols = tx + o->tile > width ? width - tx : o->tile;
                for (int y = ty; y < ty + o->tile && y < height; y++)
                    memcpy(buf + (size_t)(y - ty) * o->tile * bytes, px + (size_t)y * line + (size_t)tx * bytes,
                           (size_t)cols * bytes);
                uint32_t tile = TIFFComputeTile(tif, (uint32_t)tx, (uint32_t)ty, 0, 0);
                ok &= TIFFWriteEncodedTile(tif, tile, buf, (tmsize_t)tsz) >= 0;
            }
        free(buf);
    } else if (ok) {
        int rps = o->rows_per_strip > 0 && o->rows_per_strip < height ? o->rows_per_strip : height;
        ok &= TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)rps);
        for (int y = 0, s = 0; ok && y < height; y += rps, s++) {
            int rows = y + rps > height ? height - y : rps;
            /* libtiff may modify the buffer (byte swapping, predictor): hand it a copy */
            size_t n = (size_t)rows * line;
            uint8_t *buf = malloc(n);
            if (!buf) { ok = 0; break; }
            memcpy(buf, px + (size_t)y * line, n);
            ok &= TIFFWriteEncodedStrip(tif, (uint32_t)s, buf, (tmsize_t)n) >= 0;
            free(buf);
        }
    }
    if (ok) ok = TIFFFlush(tif);
    TIFFClose(tif);
    if (!ok) {
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "%s: TIFF write failed (%s)", path, err.err[0] ? err.err : "libtiff error");
    }
    return ctvk__commit(tmp, path);
}
