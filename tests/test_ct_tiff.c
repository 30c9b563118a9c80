/* TIFF slices: every readable variant (uint16, uint8, int16, float32; one strip, many strips,
 * tiles; every compression this libtiff has; both byte orders) written with libtiff and read back
 * exactly, whole and by row ranges; every refused input gives a message naming the file and what
 * it found; sizes other than the expected one are refused or resampled as asked. */
#include "ctvk/ct.h"
#include "tests/check.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

static char *g_dir;

static char *path_of(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* expected uint16 of a sample (the reader's conversion rule, written out independently) */
static uint16_t expect_u16(ctvk_sample smp, const void *px, size_t i, int *clamp)
{
    double v;
    switch (smp) {
    case CTVK_SAMPLE_U16: return ((const uint16_t *)px)[i];
    case CTVK_SAMPLE_U8: return ((const uint8_t *)px)[i];
    case CTVK_SAMPLE_I16: v = ((const int16_t *)px)[i] + 1024.0; break;   /* HU -> HU + 1024 */
    case CTVK_SAMPLE_F32: v = (double)((const float *)px)[i] + 1024.0; break;
    default: return 0;
    }
    if (v < -0.5) { (*clamp)++; return 0; }
    if (v >= 65535.5) { (*clamp)++; return 65535; }
    double r = floor(v + 0.5);                     /* nearest, ties to even */
    if (r - v == 0.5 && fmod(r, 2.0) != 0) r -= 1;
    return (uint16_t)r;
}

static void *make_pixels(ctvk_sample smp, int w, int h, uint64_t seed)
{
    size_t n = (size_t)w * h;
    uint64_t s = seed;
    switch (smp) {
    case CTVK_SAMPLE_U16: {
        uint16_t *p = malloc(n * 2);
        for (size_t i = 0; i < n; i++) p[i] = (uint16_t)(check_rng_next(&s) >> 48);
        p[0] = 0, p[n - 1] = 65535;
        return p;
    }
    case CTVK_SAMPLE_U8: {
        uint8_t *p = malloc(n);
        for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(check_rng_next(&s) >> 56);
        return p;
    }
    case CTVK_SAMPLE_I16: {
        int16_t *p = malloc(n * 2);
        for (size_t i = 0; i < n; i++) p[i] = (int16_t)((int)(check_rng_next(&s) % 34768) - 2000);
        p[0] = -32768, p[1] = 32767;
        return p;
    }
    case CTVK_SAMPLE_F32: {
        float *p = malloc(n * 4);
        for (size_t i = 0; i < n; i++) p[i] = check_rng_uniform(&s, -100.0f, 70000.0f);
        p[0] = -1500.0f, p[1] = 2.5f, p[2] = 3.5f, p[3] = 64511.4f, p[4] = 64511.6f, p[5] = -0.0f, p[6] = -1024.4f;
        return p;
    }
    }
    return NULL;
}

static void variants(void)
{
    static const int comps[] = {COMPRESSION_NONE, COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE, COMPRESSION_PACKBITS,
                                COMPRESSION_ZSTD, COMPRESSION_LZMA};
    static const char *cname[] = {"none", "lzw", "deflate", "packbits", "zstd", "lzma"};
    static const struct { int tile, rps; const char *name; } lay[] = {{0, 0, "one strip"}, {0, 7, "strips of 7 rows"},
                                                                     {16, 0, "16x16 tiles"}, {32, 0, "32x32 tiles"}};
    const int W = 37;   /* not a multiple of any tile or strip size */
    int files = 0, worst = 0;
    for (int smp = 0; smp < 4; smp++)
        for (size_t c = 0; c < sizeof comps / sizeof *comps; c++) {
            if (!TIFFIsCODECConfigured((uint16_t)comps[c])) { printf("  (libtiff has no %s codec)\n", cname[c]); continue; }
            for (size_t l = 0; l < sizeof lay / sizeof *lay; l++)
                for (int be = 0; be < 2; be++) {
                    void *px = make_pixels((ctvk_sample)smp, W, W, 100 + (uint64_t)(smp * 1000 + c * 10 + l));
                    ctvk_tiff_write_options o = {.sample = (ctvk_sample)smp, .compression = comps[c],
                                                 .predictor = (c == 1 || c == 2 || c == 4) && smp != CTVK_SAMPLE_F32 ? 2 : 0,
                                                 .tile = lay[l].tile, .rows_per_strip = lay[l].rps, .big_endian = be};
                    char name[128];
                    snprintf(name, sizeof name, "v_%s_%s_%zu_%s.tif", ctvk_sample_name((ctvk_sample)smp), cname[c], l,
                             be ? "be" : "le");
                    const char *p = path_of(name);
                    ctvk_status st = ctvk_tiff_write(p, W, W, px, &o);
                    CHECK(st == CTVK_OK, "write %s: %s", name, ctvk_error());
                    ctvk_tiff_info info;
                    st = ctvk_tiff_probe(p, &info);
                    CHECK(st == CTVK_OK, "probe %s: %s", name, ctvk_error());
                    CHECK(info.width == W && info.height == W && info.sample == (ctvk_sample)smp &&
                              info.compression == comps[c] && info.big_endian == be &&
                              info.tile_width == lay[l].tile && (lay[l].tile || info.rows_per_strip == (lay[l].rps ? lay[l].rps : W)),
                          "probe %s: %dx%d %s comp %d be %d tile %d rps %d", name, info.width, info.height,
                          ctvk_sample_name(info.sample), info.compression, info.big_endian, info.tile_width,
                          info.rows_per_strip);
                    uint16_t got[37 * 37], want[37 * 37];
                    int nclamp = 0;
                    for (size_t i = 0; i < (size_t)W * W; i++) want[i] = expect_u16((ctvk_sample)smp, px, i, &nclamp);
                    size_t clamped = 12345;
                    st = ctvk_tiff_read(p, W, 0, got, &clamped);
                    CHECK(st == CTVK_OK, "read %s: %s", name, ctvk_error());
                    int bad = 0;
                    for (size_t i = 0; i < (size_t)W * W; i++) bad += got[i] != want[i];
                    CHECK(bad == 0 && clamped == (size_t)nclamp, "%s (%s, %s, %s): %d values differ, %zu clamped (want %d)",
                          name, cname[c], lay[l].name, be ? "big-endian" : "little-endian", bad, clamped, nclamp);
                    /* row ranges: across strip and tile borders */
                    static const int ranges[][2] = {{0, 1}, {5, 9}, {6, 8}, {15, 17}, {30, 37}, {36, 37}, {0, 37}};
                    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
                        int y0 = ranges[r][0], y1 = ranges[r][1];
                        uint16_t rows[37 * 37];
                        st = ctvk_tiff_read_rows(p, W, W, y0, y1, rows);
                        int rb = st != CTVK_OK;
                        for (int i = 0; !rb && i < (y1 - y0) * W; i++) rb = rows[i] != want[(size_t)y0 * W + i];
                        CHECK(!rb, "%s rows %d..%d: %s", name, y0, y1, st ? ctvk_error() : "values differ");
                    }
                    if (bad > worst) worst = bad;
                    free(px);
                    files++;
                }
        }
    printf("variants: %d files written and read back, worst mismatch count %d\n", files, worst);
    CHECK(files >= 4 * 4 * 4 * 2, "only %d variants ran", files);

    /* a 512x512 uint16 big-endian file with strips, read whole and as the selection region */
    uint16_t *big = make_pixels(CTVK_SAMPLE_U16, 512, 512, 7), *got = malloc(512 * 512 * 2);
    ctvk_tiff_write_options o = {.big_endian = 1, .rows_per_strip = 48};
    CHECK(ctvk_tiff_write(path_of("big.tif"), 512, 512, big, &o) == CTVK_OK, "write big: %s", ctvk_error());
    CHECK(ctvk_tiff_read(path_of("big.tif"), 512, 0, got, NULL) == CTVK_OK && !memcmp(got, big, 512 * 512 * 2),
          "512x512 big-endian strips read back");
    CHECK(ctvk_tiff_read_rows(path_of("big.tif"), 512, 512, 240, 340, got) == CTVK_OK &&
              !memcmp(got, big + 240 * 512, 100 * 512 * 2), "rows 240..339 of a 512x512 file");
    free(big), free(got);
}

/* Writes an image through libtiff directly with the given tags (for the refused kinds). */
static void write_raw(const char *p, int w, int h, int spp, int bps, int fmt, int photo, int extra)
{
    TIFF *t = TIFFOpen(p, "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)bps);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, (uint16_t)fmt);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)photo);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)h);
    if (extra) {
        uint16_t ex[1] = {EXTRASAMPLE_UNASSALPHA};
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, ex);
    }
    if (photo == PHOTOMETRIC_PALETTE) {
        static uint16_t r[256], g[256], b[256];
        TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b);
    }
    size_t bytes = (size_t)w * h * spp * ((bps + 7) / 8);
    if (bps == 1) bytes = (size_t)((w + 7) / 8) * h;
    if (bps == 12) bytes = (size_t)((w * 12 + 7) / 8) * h;
    uint8_t *buf = calloc(bytes, 1);
    TIFFWriteEncodedStrip(t, 0, buf, (tmsize_t)bytes);
    TIFFClose(t);
    free(buf);
}

/* A hand-made little-endian TIFF whose ImageWidth is 0 (libtiff will not write one). */
static void write_zero_width(const char *p)
{
    uint8_t b[8 + 2 + 9 * 12 + 4 + 16] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    struct { uint16_t tag, type; uint32_t count, value; } e[9] = {
        {256, 4, 1, 0}, {257, 4, 1, 512}, {258, 3, 1, 16}, {259, 3, 1, 1}, {262, 3, 1, 1},
        {273, 4, 1, 8 + 2 + 9 * 12 + 4}, {277, 3, 1, 1}, {278, 4, 1, 512}, {279, 4, 1, 0}};
    size_t k = 8;
    b[k++] = 9, b[k++] = 0;
    for (int i = 0; i < 9; i++) {
        uint8_t *q = b + k;
        q[0] = (uint8_t)e[i].tag, q[1] = (uint8_t)(e[i].tag >> 8), q[2] = (uint8_t)e[i].type, q[3] = 0;
        for (int j = 0; j < 4; j++) q[4 + j] = (uint8_t)(e[i].count >> (8 * j)), q[8 + j] = (uint8_t)(e[i].value >> (8 * j));
        k += 12;
    }
    FILE *f = fopen(p, "wb");
    fwrite(b, 1, sizeof b, f);
    fclose(f);
}

/* probe: whether the header alone shows the problem (it does, except for missing pixel data) */
static void expect_refused_p(const char *name, const char *part, int probe);
static void expect_refused(const char *name, const char *part) { expect_refused_p(name, part, 1); }
static void expect_refused_p(const char *name, const char *part, int probe)
{
    const char *p = path_of(name);
    uint16_t buf[64 * 64];
    ctvk_status s = ctvk_tiff_read(p, 64, 0, buf, NULL);
    const char *msg = ctvk_error();
    printf("  %-16s -> %s\n", name, msg);
    CHECK(s != CTVK_OK && has(msg, p) && has(msg, part), "%s: status %d, message '%s' (want the path and '%s')", name,
          s, msg, part);
    ctvk_tiff_info info;
    s = ctvk_tiff_probe(p, &info);
    if (probe) CHECK(s != CTVK_OK && has(ctvk_error(), p), "probe %s must fail too", name);
}

static void refused(void)
{
    printf("refused inputs:\n");
    write_raw(path_of("rgb.tif"), 64, 64, 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, 0);
    expect_refused("rgb.tif", "RGB image with 3 samples per pixel");
    write_raw(path_of("palette.tif"), 64, 64, 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_PALETTE, 0);
    expect_refused("palette.tif", "palette");
    write_raw(path_of("graya.tif"), 64, 64, 2, 16, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, 1);
    expect_refused("graya.tif", "2 samples per pixel");
    write_raw(path_of("u32.tif"), 64, 64, 1, 32, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, 0);
    expect_refused("u32.tif", "32-bit unsigned integer samples");
    write_raw(path_of("f64.tif"), 64, 64, 1, 64, SAMPLEFORMAT_IEEEFP, PHOTOMETRIC_MINISBLACK, 0);
    expect_refused("f64.tif", "64-bit floating-point samples");
    write_raw(path_of("bilevel.tif"), 64, 64, 1, 1, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, 0);
    expect_refused("bilevel.tif", "1-bit unsigned integer samples");
    write_zero_width(path_of("zero.tif"));
    expect_refused("zero.tif", "zero-sized image (0x512)");
    FILE *f = fopen(path_of("text.tif"), "w");
    fputs("this is not an image\n", f);
    fclose(f);
    expect_refused("text.tif", "not a TIFF file");
    f = fopen(path_of("empty.tif"), "w");
    fclose(f);
    expect_refused("empty.tif", "not a TIFF file (empty)");
    expect_refused("missing.tif", "cannot open (No such file or directory)");
    /* a valid file cut short: the header reads, the pixels do not */
    uint16_t px[64 * 64];
    for (int i = 0; i < 64 * 64; i++) px[i] = (uint16_t)i;
    ctvk_tiff_write(path_of("whole.tif"), 64, 64, px, NULL);
    FILE *a = fopen(path_of("whole.tif"), "rb");
    uint8_t *bytes = malloc(20000);
    size_t n = fread(bytes, 1, 20000, a);
    fclose(a);
    /* libtiff writes the directory after the pixels: keep the header and the directory, drop pixels */
    TIFF *t = TIFFOpen(path_of("whole.tif"), "r");
    uint64_t *off;
    TIFFGetField(t, TIFFTAG_STRIPOFFSETS, &off);
    uint64_t first = off[0];
    TIFFClose(t);
    CHECK(first == 8 && n > 8192, "layout of whole.tif: strip at %llu, %zu bytes", (unsigned long long)first, n);
    /* move the directory to just after 100 bytes of pixels, then truncate: rewrite header's IFD offset */
    uint32_t ifd;
    memcpy(&ifd, bytes + 4, 4);
    size_t dirlen = n - ifd;
    uint8_t *cut = malloc(8 + 100 + dirlen);
    memcpy(cut, bytes, 8 + 100);
    memcpy(cut + 108, bytes + ifd, dirlen);
    uint32_t nifd = 108;
    memcpy(cut + 4, &nifd, 4);
    /* the directory's out-of-line values (none for one strip) would move too: there are none here */
    f = fopen(path_of("truncated.tif"), "wb");
    fwrite(cut, 1, 108 + dirlen, f);
    fclose(f);
    free(cut), free(bytes);
    expect_refused_p("truncated.tif", "truncated: strip 0 ends past the end of the file", 0);
}

static void sizes(void)
{
    printf("sizes:\n");
    uint16_t *ramp = malloc(128 * 128 * 2), *out = malloc(512 * 512 * 2);
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++) ramp[y * 128 + x] = (uint16_t)(10 * x + 1000 * (y & 1));
    const char *p = path_of("s128.tif");
    CHECK(ctvk_tiff_write(p, 128, 128, ramp, NULL) == CTVK_OK, "write s128");
    ctvk_status s = ctvk_tiff_read(p, 512, 0, out, NULL);
    printf("  128x128 at image_size 512 -> %s\n", ctvk_error());
    CHECK(s == CTVK_ERR_FORMAT && has(ctvk_error(), p) && has(ctvk_error(), "128x128") &&
              has(ctvk_error(), "expected 512x512") && has(ctvk_error(), "resize"),
          "other sizes are refused by default: %s", ctvk_error());
    /* resized: halving averages pixel pairs exactly (centres aligned) */
    s = ctvk_tiff_read(p, 64, 1, out, NULL);
    int bad = s != CTVK_OK;
    for (int y = 0; !bad && y < 64; y++)
        for (int x = 0; x < 64; x++) {
            int want = 10 * (2 * x) + 5 + 500;   /* mean of columns 2x, 2x+1 and of rows 2y (even), 2y+1 (odd) */
            if (out[y * 64 + x] != want) { bad = 1; printf("  (%d,%d) = %u, want %d\n", x, y, out[y * 64 + x], want); break; }
        }
    CHECK(!bad, "128 -> 64 bilinear halving is the pair mean");
    /* upsampling a constant image stays constant, at the edges too */
    for (int i = 0; i < 128 * 128; i++) ramp[i] = 1234;
    ctvk_tiff_write(p, 128, 128, ramp, NULL);
    s = ctvk_tiff_read(p, 512, 1, out, NULL);
    bad = s != CTVK_OK;
    for (int i = 0; !bad && i < 512 * 512; i++) bad = out[i] != 1234;
    CHECK(!bad, "128 -> 512 of a constant image");
    /* the reference resize: a non-integer ratio against a direct evaluation of the rule */
    uint16_t src[5 * 3] = {0, 100, 200, 300, 400, 1000, 1100, 1200, 1300, 1400, 2000, 2100, 2200, 2300, 2400}, dst[7 * 2];
    ctvk_resize_u16(src, 5, 3, dst, 7, 2);
    bad = 0;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 7; x++) {
            double fx = (x + 0.5) * 5 / 7 - 0.5, fy = (y + 0.5) * 3 / 2 - 0.5;
            fx = fx < 0 ? 0 : fx > 4 ? 4 : fx;   /* edges replicated */
            fy = fy < 0 ? 0 : fy > 2 ? 2 : fy;
            double v = 100 * fx + 1000 * fy;    /* the image is linear, so bilinear is exact */
            if (abs((int)dst[y * 7 + x] - (int)floor(v + 0.5)) > 0) bad++;
        }
    CHECK(!bad, "5x3 -> 7x2: %d values off the linear image", bad);
    free(ramp), free(out);
}

static void atomic_writes(void)
{
    uint16_t px[16 * 16] = {0};
    char *d = check_tmpdir("ct-atomic");
    char p[1024];
    snprintf(p, sizeof p, "%s/a.tif", d);
    CHECK(ctvk_tiff_write(p, 16, 16, px, NULL) == CTVK_OK, "write a.tif");
    CHECK(ctvk_tiff_write(p, 16, 16, px, NULL) == CTVK_OK, "overwrite a.tif");
    DIR *dir = opendir(d);
    int n = 0, other = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) {
            n++;
            if (strcmp(e->d_name, "a.tif")) other = 1;
        }
    closedir(dir);
    CHECK(n == 1 && !other, "only a.tif is left in the folder (%d entries)", n);
    snprintf(p, sizeof p, "%s/nofolder/a.tif", d);
    CHECK(ctvk_tiff_write(p, 16, 16, px, NULL) == CTVK_ERR_IO && has(ctvk_error(), p), "write into a missing folder: %s",
          ctvk_error());
    unlink(p);
    snprintf(p, sizeof p, "%s/a.tif", d);
    unlink(p);
    rmdir(d);
    free(d);
}

/* A header that declares far more pixels than the file holds (a few bytes of "deflate" data). */
static void write_huge(const char *p, uint32_t side)
{
    TIFF *t = TIFFOpen(p, "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, side);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, side);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)16);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, side);
    uint8_t junk[16] = {0x78, 0x9c};
    TIFFWriteRawStrip(t, 0, junk, sizeof junk);
    TIFFClose(t);
}

extern size_t ctvk__decode_slice_max, ctvk__decode_total_max;

/* Decoding is bounded per slice and for all slices at once, refused past the bounds with the numbers. */
static void bounds(void)
{
    printf("decode bounds:\n");
    uint16_t *out = malloc(512 * 512 * sizeof *out);
    const char *p = path_of("huge.tif");
    write_huge(p, 32768);
    ctvk_status s = ctvk_tiff_read(p, 512, 1, out, NULL);
    printf("  32768x32768, resize -> %s\n", ctvk_error());
    CHECK(s == CTVK_ERR_FORMAT && has(ctvk_error(), p) &&
          has(ctvk_error(), "decoding this 32768x32768 slice and resampling it needs 4096.0 MiB of host memory, more "
                            "than the 512.0 MiB ctvk allows per slice"), "huge slice: %s", ctvk_error());
    s = ctvk_tiff_read(p, 512, 0, out, NULL);
    CHECK(s == CTVK_ERR_FORMAT && has(ctvk_error(), "the slice is 32768x32768, expected 512x512"), "huge, no resize: %s",
          ctvk_error());
    /* 2048x2048: 8 MiB strip + 8 MiB full image; refused under lowered bounds, read under the defaults */
    const char *q = path_of("big.tif");
    uint16_t *px = calloc((size_t)2048 * 2048, sizeof *px);
    for (size_t i = 0; i < (size_t)2048 * 2048; i++) px[i] = (uint16_t)(i % 4099);
    CHECK(ctvk_tiff_write(q, 2048, 2048, px, NULL) == CTVK_OK, "write big: %s", ctvk_error());
    CHECK(ctvk_tiff_read(q, 512, 1, out, NULL) == CTVK_OK, "big under the default bounds: %s", ctvk_error());
    ctvk__decode_slice_max = (size_t)10 << 20;
    s = ctvk_tiff_read(q, 512, 1, out, NULL);
    CHECK(s == CTVK_ERR_FORMAT && has(ctvk_error(), "needs 16.0 MiB of host memory, more than the 10.0 MiB ctvk allows "
                                                    "per slice"), "slice bound: %s", ctvk_error());
    ctvk__decode_slice_max = (size_t)512 << 20;
    ctvk__decode_total_max = (size_t)12 << 20;
    s = ctvk_tiff_read(q, 512, 1, out, NULL);
    CHECK(s == CTVK_ERR_FORMAT && has(ctvk_error(), "more than the 12.0 MiB ctvk allows for all slices being decoded "
                                                    "at once"), "total bound: %s", ctvk_error());
    ctvk__decode_total_max = (size_t)1 << 30;
    free(px);
    free(out);
}

/* issue 16: what a slice's numbers mean. A signed slice of raw HU is HU (mapped to HU + 1024, not
 * clamped at 0), NaN and infinities are refused naming the file, negative stored values are refused,
 * and [data] values / hu_offset choose the meaning. */
static void value_scale(void)
{
    enum { W = 64 };
    ctvk_phantom_options po;
    ctvk_phantom_defaults(&po);
    po.size = W;
    uint16_t stored[W * W], got[W * W];
    int16_t hu[W * W];
    float huf[W * W];
    CHECK(ctvk_phantom_slice(&po, 0, 0, po.slices / 2, stored, NULL) == CTVK_OK, "phantom slice");
    int negatives = 0;
    for (int i = 0; i < W * W; i++) hu[i] = (int16_t)(stored[i] - 1024), huf[i] = (float)hu[i], negatives += hu[i] < 0;
    CHECK(negatives > W * W / 4, "the phantom slice holds air and lungs below 0 HU (%d pixels)", negatives);
    ctvk_tiff_write_options oi = {.sample = CTVK_SAMPLE_I16}, of = {.sample = CTVK_SAMPLE_F32};
    const char *pi = path_of("hu_i16.tif"), *pf = path_of("hu_f32.tif");
    CHECK(ctvk_tiff_write(pi, W, W, hu, &oi) == CTVK_OK && ctvk_tiff_write(pf, W, W, huf, &of) == CTVK_OK, "write HU");
    for (int k = 0; k < 2; k++) {
        size_t clipped = 7;
        ctvk_status st = ctvk_tiff_read(k ? pf : pi, W, 0, got, &clipped);
        CHECK(st == CTVK_OK && clipped == 0 && !memcmp(got, stored, sizeof got),
              "%s slice of raw HU reads as the stored values HU + 1024 (%s, %zu clipped)", k ? "float32" : "int16",
              st ? ctvk_error() : "ok", clipped);
        ctvk_value_options hu_mode = {.values = CTVK_VALUES_HU};
        st = ctvk_tiff_read_values(k ? pf : pi, W, 0, &hu_mode, got, &clipped);
        CHECK(st == CTVK_OK && !memcmp(got, stored, sizeof got), "values = hu: the same");
        ctvk_value_options st_mode = {.values = CTVK_VALUES_STORED};
        st = ctvk_tiff_read_values(k ? pf : pi, W, 0, &st_mode, got, NULL);
        CHECK(st == CTVK_ERR_FORMAT && has(ctvk_error(), k ? pf : pi) && has(ctvk_error(), "negative") &&
                  has(ctvk_error(), "[data] values = hu"),
              "values = stored refuses negative samples, naming the file: %s", ctvk_error());
        ctvk_value_options off = {.values = CTVK_VALUES_AUTO, .hu_offset = 2000};
        st = ctvk_tiff_read_values(k ? pf : pi, W, 0, &off, got, NULL);
        int bad = 0;
        for (int i = 0; i < W * W; i++) bad += got[i] != stored[i] - 1024 + 2000;
        CHECK(st == CTVK_OK && bad == 0, "hu_offset = 2000: stored = HU + 2000 (%d differ)", bad);
        /* the whole-slice and the region-rows readers agree: selection counts the same dark pixels */
        ctvk_select_params sp;
        ctvk_select_defaults(&sp);
        ctvk_series_set *set = NULL;
        ctvk_selection sel = {0};
        CHECK(ctvk_series_scan(k ? pf : pi, &set) == CTVK_OK && ctvk_select_run(set, &sp, W, 0, 1, &sel) == CTVK_OK,
              "select on the HU slice: %s", ctvk_error());
        if (sel.n == 1)
            CHECK(sel.counts[0] == ctvk_dark_count(stored, W, W, &sp) && sel.counts[0] > 0,
                  "selection on the %s HU slice counts the stored slice's %u dark pixels (got %u)",
                  k ? "float32" : "int16", ctvk_dark_count(stored, W, W, &sp), sel.counts[0]);
        ctvk_selection_free(&sel);
        ctvk_series_free(set);
    }
    /* stored values in a signed slice, with values = stored */
    int16_t pos[W * W];
    for (int i = 0; i < W * W; i++) pos[i] = (int16_t)stored[i];
    const char *pp = path_of("stored_i16.tif");
    CHECK(ctvk_tiff_write(pp, W, W, pos, &oi) == CTVK_OK, "write");
    ctvk_value_options st_mode = {.values = CTVK_VALUES_STORED};
    CHECK(ctvk_tiff_read_values(pp, W, 0, &st_mode, got, NULL) == CTVK_OK && !memcmp(got, stored, sizeof got),
          "values = stored keeps non-negative int16 samples as they are");
    /* uint16 holding HU + 1024 with values = hu: + 1024 again, so values = hu is explicit */
    ctvk_value_options hu_mode = {.values = CTVK_VALUES_HU};
    const char *pu = path_of("u16.tif");
    CHECK(ctvk_tiff_write(pu, W, W, stored, NULL) == CTVK_OK, "write");
    size_t clipped = 0;
    CHECK(ctvk_tiff_read_values(pu, W, 0, &hu_mode, got, &clipped) == CTVK_OK && got[0] == stored[0] + 1024,
          "values = hu reads a uint16 slice as HU");
    /* NaN, infinities: refused naming the file (an all-NaN slice used to read as all 0, "normal") */
    float bad[W * W];
    for (int i = 0; i < W * W; i++) bad[i] = NAN;
    const char *pn = path_of("nan.tif");
    CHECK(ctvk_tiff_write(pn, W, W, bad, &of) == CTVK_OK, "write");
    CHECK(ctvk_tiff_read(pn, W, 0, got, NULL) == CTVK_ERR_FORMAT && has(ctvk_error(), pn) &&
              has(ctvk_error(), "NaN or infinite") && has(ctvk_error(), "4096 of 4096"),
          "an all-NaN slice is refused: %s", ctvk_error());
    for (int i = 0; i < W * W; i++) bad[i] = huf[i];
    bad[W * 3 + 5] = INFINITY, bad[W * 9] = -INFINITY;
    CHECK(ctvk_tiff_write(pn, W, W, bad, &of) == CTVK_OK, "write");
    CHECK(ctvk_tiff_read(pn, W, 0, got, NULL) == CTVK_ERR_FORMAT && has(ctvk_error(), "2 of 4096") &&
              has(ctvk_error(), "pixel 197"),
          "infinities are refused, naming the first: %s", ctvk_error());
    bad[W * 35 + 40] = NAN;   /* inside the selection region's rows (selection reads only those) */
    CHECK(ctvk_tiff_write(pn, W, W, bad, &of) == CTVK_OK, "write");
    ctvk_select_params sp;
    ctvk_select_defaults(&sp);
    ctvk_series_set *set = NULL;
    ctvk_selection sel = {0};
    CHECK(ctvk_series_scan(pn, &set) == CTVK_OK && ctvk_select_run(set, &sp, W, 0, 1, &sel) == CTVK_ERR_FORMAT &&
              has(ctvk_error(), pn),
          "selection refuses it too: %s", ctvk_error());
    ctvk_series_free(set);
    /* HU below -1024 (scanner padding, -3024) are clipped to 0 and counted */
    for (int i = 0; i < W * W; i++) hu[i] = i < 100 ? -3024 : (int16_t)(stored[i] - 1024);
    CHECK(ctvk_tiff_write(pi, W, W, hu, &oi) == CTVK_OK, "write");
    clipped = 0;
    CHECK(ctvk_tiff_read(pi, W, 0, got, &clipped) == CTVK_OK && clipped == 100 && got[0] == 0,
          "padding below -1024 HU is clipped to 0 and counted (%zu)", clipped);
}

int main(void)
{
    g_dir = check_tmpdir("ct-tiff");
    CHECK(g_dir != NULL, "tmpdir");
    variants();
    refused();
    sizes();
    atomic_writes();
    bounds();
    value_scale();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return check_done("test_ct_tiff");
}
