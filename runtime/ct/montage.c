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

/* 3x5 digits */
static const uint16_t digits[10] = {0x7B6F, 0x2C97, 0x73E7, 0x73CF, 0x5BC9, 0x79CF, 0x79EF, 0x7249, 0x7BEF, 0x7BCF};

static void number(canvas *c, int x, int y, int v, const uint8_t col[3])
{
    char s[16];
    snprintf(s, sizeof s, "%d", v);
    for (int i = 0; s[i]; i++) {
        uint16_t g = digits[s[i] - '0'];
        for (int r = 0; r < 5; r++)
            for (int q = 0; q < 3; q++)
                if (g & (1u << (14 - (r * 3 + q))))
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) put(c, x + i * 8 + q * 2 + dx, y + r * 2 + dy, col);
    }
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
                /* lung window: HU -1350 .. 150, i.e. raw -326 .. 1174 */
                double v = (sum / (f * f) + 326.0) / 1500.0 * 255.0;
                uint8_t g = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
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
