/* Contact sheets of a sequence (the paper's Figure 8) as PNG through libpng: every slice a
 * thumbnail in a lung window, the selection region outlined in green, the slices selection
 * removes framed and crossed in red, each numbered. */
#include "runtime/ct/ct_internal.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAD 5
#define LABEL 14
#define MAX_THUMB 128

typedef struct canvas {
    int w, h;
    uint8_t *rgb;
} canvas;

static void put(canvas *c, int x, int y, const uint8_t col[3])
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->rgb + ((size_t)y * c->w + x) * 3, col, 3);
}

static void rect(canvas *c, int x0, int y0, int x1, int y1, int thick, const uint8_t col[3])
{
    for (int k = 0; k < thick; k++) {
        for (int x = x0 - k; x <= x1 + k; x++) put(c, x, y0 - k, col), put(c, x, y1 + k, col);
        for (int y = y0 - k; y <= y1 + k; y++) put(c, x0 - k, y, col), put(c, x1 + k, y, col);
    }
}

/* A 3x5 pixel font (rows top to bottom, 3 bits each, the top-left pixel in bit 14), drawn at 2x:
 * digits, capitals and the few signs the legends use; lower case is drawn as capitals. */
static const uint16_t digits[10] = {0x7B6F, 0x2C97, 0x73E7, 0x73CF, 0x5BC9, 0x79CF, 0x79EF, 0x7249, 0x7BEF, 0x7BCF};
static const struct { char c; uint16_t g; } glyphs[] = {
    {'A', 0x2BED}, {'B', 0x6BAE}, {'C', 0x3923}, {'D', 0x6B6E}, {'E', 0x79A7}, {'F', 0x79A4}, {'G', 0x396B},
    {'H', 0x5BED}, {'I', 0x7497}, {'J', 0x126A}, {'K', 0x5BAD}, {'L', 0x4927}, {'M', 0x5FED}, {'N', 0x6B6D},
    {'O', 0x2B6A}, {'P', 0x6BA4}, {'Q', 0x2B73}, {'R', 0x6BAD}, {'S', 0x388E}, {'T', 0x7492}, {'U', 0x5B6F},
    {'V', 0x5B6A}, {'W', 0x5BFD}, {'X', 0x5AAD}, {'Y', 0x5A92}, {'Z', 0x72A7}, {'(', 0x1491}, {')', 0x4494},
    {'.', 0x0002}, {'-', 0x01C0}, {'_', 0x0007}, {'=', 0x0E38}, {':', 0x0410}, {'%', 0x52A5}, {'/', 0x12A4}};

static uint16_t glyph(char ch)
{
    if (ch >= '0' && ch <= '9') return digits[ch - '0'];
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    for (size_t i = 0; i < sizeof glyphs / sizeof *glyphs; i++)
        if (glyphs[i].c == ch) return glyphs[i].g;
    return 0;                /* a space, or a sign the font lacks */
}

/* 8 pixels per character */
static void text(canvas *c, int x, int y, const char *s, const uint8_t col[3])
{
    for (int i = 0; s[i]; i++) {
        uint16_t g = glyph(s[i]);
        for (int r = 0; r < 5; r++)
            for (int q = 0; q < 3; q++)
                if (g & (1u << (14 - (r * 3 + q))))
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) put(c, x + i * 8 + q * 2 + dx, y + r * 2 + dy, col);
    }
}

static void number(canvas *c, int x, int y, int v, const uint8_t col[3])
{
    char s[16];
    snprintf(s, sizeof s, "%d", v);
    text(c, x, y, s, col);
}

/* a stored value in the lung window, HU -1350 .. 150, as a gray level */
static uint8_t lung_gray(double stored, int hu_offset)
{
    double v = (stored - hu_offset + 1350.0) / 1500.0 * 255.0;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

typedef struct png_err {
    jmp_buf jb;
    char msg[256];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static ctvk_status write_png(const char *path, const canvas *c)
{
    char tmp[4096];
    FILE *f;
    CTVK_TRY(ctvk__open_tmp(path, tmp, sizeof tmp, &f));
    /* on the heap: its contents change between setjmp and longjmp */
    png_err *e = calloc(1, sizeof *e);
    if (!e) {
        fclose(f);
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    volatile int ok = png && info;
    if (ok && setjmp(e->jb) == 0) {
        png_init_io(png, f);
        png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int y = 0; y < c->h; y++) png_write_row(png, c->rgb + (size_t)y * c->w * 3);
        png_write_end(png, NULL);
    } else {
        ok = 0;
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", e->msg[0] ? e->msg : "libpng failed");
    free(e);
    if (!ok) {
        fclose(f);
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "%s: PNG write failed (%s)", path, msg);
    }
    return ctvk__close_commit(f, tmp, path);
}

ctvk_status ctvk_montage_write(const char *png_path, const char *const *paths, size_t n, const uint8_t *keep,
                               const ctvk_select_params *p, int size, int resize)
{
    if (n == 0) return ctvk__fail(CTVK_ERR_ARG, "%s: no slices to draw", png_path);
    if (n > 100000) return ctvk__fail(CTVK_ERR_ARG, "%s: %zu slices are too many for one contact sheet", png_path, n);
    int f = (size + MAX_THUMB - 1) / MAX_THUMB;
    int th = size / f;
    int cols = n < 8 ? (int)n : 8;
    int rows = (int)((n + (size_t)cols - 1) / (size_t)cols);
    int cw = th + 2 * PAD, ch = th + 2 * PAD + LABEL;
    canvas c = {cols * cw, rows * ch, NULL};
    c.rgb = malloc((size_t)c.w * c.h * 3);
    uint16_t *img = malloc((size_t)size * size * sizeof *img);
    if (!c.rgb || !img) {
        free(c.rgb), free(img);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    memset(c.rgb, 28, (size_t)c.w * c.h * 3);
    static const uint8_t red[3] = {230, 40, 40}, green[3] = {40, 220, 70}, white[3] = {230, 230, 230};
    int ry0, ry1, rx0, rx1;
    ctvk_select_region(p, size, size, &ry0, &ry1, &rx0, &rx1);
    ctvk_status s = CTVK_OK;
    for (size_t i = 0; i < n && s == CTVK_OK; i++) {
        if ((s = ctvk_slice_read(paths[i], size, resize, &p->values, img, NULL))) break;
        int ox = (int)(i % (size_t)cols) * cw + PAD, oy = (int)(i / (size_t)cols) * ch + PAD + LABEL;
        for (int y = 0; y < th; y++)
            for (int x = 0; x < th; x++) {
                double sum = 0;
                for (int dy = 0; dy < f; dy++)
                    for (int dx = 0; dx < f; dx++) sum += img[(size_t)(y * f + dy) * size + (x * f + dx)];
                uint8_t g = lung_gray(sum / (f * f), ctvk__hu_offset(&p->values));
                uint8_t col[3] = {g, g, g};
                if (keep && !keep[i]) col[0] = (uint8_t)(g / 2 + 110), col[1] = (uint8_t)(g / 2), col[2] = (uint8_t)(g / 2);
                put(&c, ox + x, oy + y, col);
            }
        rect(&c, ox + rx0 / f, oy + ry0 / f, ox + (rx1 - 1) / f, oy + (ry1 - 1) / f, 1, green);
        if (keep && !keep[i]) {
            rect(&c, ox - 1, oy - 1, ox + th, oy + th, 3, red);
            for (int k = 0; k < th; k++) {
                for (int w = -1; w <= 1; w++) put(&c, ox + k + w, oy + k, red), put(&c, ox + th - 1 - k + w, oy + k, red);
            }
        }
        number(&c, ox, oy - LABEL + 1, (int)i + 1, keep && !keep[i] ? red : white);
    }
    if (s == CTVK_OK) s = write_png(png_path, &c);
    free(c.rgb), free(img);
    return s;
}

/* The jet colour map of the Grad-CAM literature: dark blue, blue, cyan, yellow, red, dark red. */
static void jet(double t, uint8_t col[3])
{
    static const double k[6][4] = {{0, 0, 0, .5}, {.125, 0, 0, 1}, {.375, 0, 1, 1}, {.625, 1, 1, 0},
                                   {.875, 1, 0, 0}, {1, .5, 0, 0}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int i = 0;
    while (i < 4 && t > k[i + 1][0]) i++;
    double u = (t - k[i][0]) / (k[i + 1][0] - k[i][0]);
    for (int j = 0; j < 3; j++) col[j] = (uint8_t)(255.0 * (k[i][j + 1] + u * (k[i + 1][j + 1] - k[i][j + 1])) + 0.5);
}

/* map (mh x mw) at slice pixel (x, y) of a size x size slice: bilinear, pixel centres aligned */
static double upsample(const float *map, int mh, int mw, int size, int x, int y)
{
    double sy = (y + 0.5) * mh / size - 0.5, sx = (x + 0.5) * mw / size - 0.5;
    sy = sy < 0 ? 0 : sy > mh - 1 ? mh - 1 : sy;
    sx = sx < 0 ? 0 : sx > mw - 1 ? mw - 1 : sx;
    int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < mh ? y0 + 1 : y0, x1 = x0 + 1 < mw ? x0 + 1 : x0;
    double fy = sy - y0, fx = sx - x0;
    double top = map[y0 * mw + x0] * (1 - fx) + map[y0 * mw + x1] * fx;
    double bot = map[y1 * mw + x0] * (1 - fx) + map[y1 * mw + x1] * fx;
    return top * (1 - fy) + bot * fy;
}

#define CAM_TOP 22
#define CAM_BAR 70

ctvk_status ctvk_cam_overlay_write(const char *png_path, const uint16_t *slice, int size, int hu_offset,
                                   const float *map, int mh, int mw, const char *caption)
{
    if (size < 8 || size > 8192 || (map && (mh < 1 || mw < 1)))
        return ctvk__fail(CTVK_ERR_ARG, "%s: a %dx%d map over a %d-pixel slice cannot be drawn", png_path, mh, mw, size);
    int f = size < 256 ? (256 + size - 1) / size : 1;     /* small slices are drawn enlarged */
    int D = size * f;
    canvas c = {D + (map ? CAM_BAR : 0), D + CAM_TOP, NULL};
    c.rgb = malloc((size_t)c.w * c.h * 3);
    if (!c.rgb) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    memset(c.rgb, 28, (size_t)c.w * c.h * 3);
    static const uint8_t white[3] = {230, 230, 230};
    for (int y = 0; y < D; y++)
        for (int x = 0; x < D; x++) {
            uint8_t g = lung_gray(slice[(size_t)(y / f) * size + x / f], hu_offset), col[3];
            double m = map ? upsample(map, mh, mw, D, x, y) : 0;
            jet(m, col);
            /* the map fades in over its lowest fifth, so the slice shows where nothing was found */
            double a = 0.5 * (m < 0.2 ? m / 0.2 : 1.0);
            uint8_t o[3];
            for (int j = 0; j < 3; j++) o[j] = (uint8_t)(g * (1 - a) + col[j] * a + 0.5);
            put(&c, x, y + CAM_TOP, o);
        }
    /* the legend: the colour bar from 0 (bottom) to 1 (top) */
    int bx = D + 12, by0 = CAM_TOP + 10, by1 = CAM_TOP + D - 10;
    for (int y = by0; map && y <= by1; y++) {
        uint8_t col[3];
        jet((double)(by1 - y) / (by1 - by0), col);
        for (int x = bx; x < bx + 16; x++) put(&c, x, y, col);
    }
    if (map) {
        text(&c, bx + 22, by0, "1", white);
        text(&c, bx + 22, (by0 + by1) / 2 - 5, ".5", white);
        text(&c, bx + 22, by1 - 10, "0", white);
    }
    text(&c, 4, 5, caption, white);
    ctvk_status s = write_png(png_path, &c);
    free(c.rgb);
    return s;
}
