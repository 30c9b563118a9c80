/* Augmentation: exact identity and flips, a 90-degree rotation as an exact permutation, zoom /
 * shift / rotation / shear against an independent transcription of Keras' apply_affine_transform
 * + scipy.ndimage.affine_transform(order=1, mode='nearest') + flip_axis, the kernel against the C
 * reference on random parameters, and the seeded parameter generator. */
#include "tests/check.h"
#include "net/train_ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- Keras, literally */
static void mat3_mul(double a[3][3], double b[3][3])   /* a = a b */
{
    double r[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
    memcpy(a, r, sizeof r);
}

/* apply_affine_transform(x, theta, tx, ty, shear, zx, zy, row_axis=0, col_axis=1,
 * fill_mode='nearest', order=1), then flip_axis(col) and flip_axis(row) as apply_transform does */
static void keras_warp(const uint16_t *img, int h, int w, const ctvk_augment_params *p, int legacy, double *out)
{
    const double pi = 3.14159265358979323846;
    double M[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    if (p->theta != 0) {
        double t = p->theta * pi / 180;
        double R[3][3] = {{cos(t), -sin(t), 0}, {sin(t), cos(t), 0}, {0, 0, 1}};
        mat3_mul(M, R);
    }
    if (p->tx != 0 || p->ty != 0) {
        double T[3][3] = {{1, 0, p->tx}, {0, 1, p->ty}, {0, 0, 1}};
        mat3_mul(M, T);
    }
    if (p->shear != 0) {
        double s = p->shear * pi / 180;
        double S[3][3] = {{1, -sin(s), 0}, {0, cos(s), 0}, {0, 0, 1}};
        mat3_mul(M, S);
    }
    if (p->zx != 1 || p->zy != 1) {
        double Z[3][3] = {{p->zx, 0, 0}, {0, p->zy, 0}, {0, 0, 1}};
        mat3_mul(M, Z);
    }
    /* transform_matrix_offset_center(M, h, w) */
    double o_x = h / 2.0 + (legacy ? 0.5 : -0.5), o_y = w / 2.0 + (legacy ? 0.5 : -0.5);
    double Off[3][3] = {{1, 0, o_x}, {0, 1, o_y}, {0, 0, 1}}, Rst[3][3] = {{1, 0, -o_x}, {0, 1, -o_y}, {0, 0, 1}};
    mat3_mul(Off, M);
    mat3_mul(Off, Rst);
    double *warped = malloc((size_t)h * w * sizeof *warped);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            /* scipy: input coordinate = matrix @ output coordinate + offset */
            double y = Off[0][0] * r + Off[0][1] * c + Off[0][2];
            double x = Off[1][0] * r + Off[1][1] * c + Off[1][2];
            double fy = floor(y), fx = floor(x), wy = y - fy, wx = x - fx, v = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    long iy = (long)fy + dy, ix = (long)fx + dx;   /* mode 'nearest': clamp indices */
                    iy = iy < 0 ? 0 : iy >= h ? h - 1 : iy;
                    ix = ix < 0 ? 0 : ix >= w ? w - 1 : ix;
                    v += (dy ? wy : 1 - wy) * (dx ? wx : 1 - wx) * img[iy * w + ix];
                }
            warped[(size_t)r * w + c] = p->theta == 0 && p->tx == 0 && p->ty == 0 && p->shear == 0 && p->zx == 1 &&
                                                p->zy == 1 ? img[(size_t)r * w + c] : v;
        }
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            out[(size_t)r * w + c] = warped[(size_t)(p->flip_v ? h - 1 - r : r) * w + (p->flip_h ? w - 1 - c : c)];
    free(warped);
}

/* ---------------------------------------------------------------- device helpers */
typedef struct { int n, h, w; uint16_t *img; ctvk_tensor *in, *prm, *out; } batch;

static void batch_make(ctvk_ctx *ctx, batch *b, int n, int h, int w, uint64_t seed)
{
    *b = (batch){n, h, w, malloc((size_t)n * h * w * sizeof(uint16_t)), NULL, NULL, NULL};
    for (size_t i = 0; i < (size_t)n * h * w; i++) b->img[i] = (uint16_t)(check_rng_next(&seed) % 4096);
    CHECK(ctvk_tensor_create(ctx, CTVK_U16, (ctvk_shape){n, h, w, 1}, "slices", &b->in) == CTVK_OK, "create");
    CHECK(ctvk_tensor_upload(b->in, b->img, (size_t)n * h * w * sizeof(uint16_t)) == CTVK_OK, "upload");
    b->prm = check_tensor(ctx, (ctvk_shape){n, 1, 1, CTVK_AUGMENT_RECORD}, NULL, "augment params");
    b->out = check_tensor(ctx, (ctvk_shape){n, h, w, 1}, NULL, "batch");
}

static void batch_free(batch *b)
{
    ctvk_tensor_destroy(b->in);
    ctvk_tensor_destroy(b->prm);
    ctvk_tensor_destroy(b->out);
    free(b->img);
}

/* runs the kernel with these parameters on every image; returns the downloaded batch */
static float *run(ctvk_ctx *ctx, batch *b, const ctvk_augment_params *p, const ctvk_augment_config *cfg,
                  float scale, float offset, float *rec_out)
{
    float *rec = malloc((size_t)b->n * CTVK_AUGMENT_RECORD * sizeof *rec);
    for (int i = 0; i < b->n; i++) ctvk_augment_record(cfg, &p[i], b->h, b->w, rec + i * CTVK_AUGMENT_RECORD);
    CHECK(ctvk_tensor_upload(b->prm, rec, ctvk_tensor_bytes(b->prm)) == CTVK_OK, "upload params");
    CHECK(ctvk_augment(ctx, b->in, b->prm, scale, offset, b->out) == CTVK_OK, "augment: %s", ctvk_error());
    if (rec_out) memcpy(rec_out, rec, (size_t)b->n * CTVK_AUGMENT_RECORD * sizeof *rec);
    free(rec);
    return check_download(b->out);
}

static double vs_keras(const batch *b, const float *got, const ctvk_augment_params *p, int legacy)
{
    size_t hw = (size_t)b->h * b->w;
    double *want = malloc(hw * sizeof *want);
    float *wf = malloc(hw * sizeof *wf);
    double worst = 0;
    for (int i = 0; i < b->n; i++) {
        keras_warp(b->img + i * hw, b->h, b->w, &p[i], legacy, want);
        for (size_t k = 0; k < hw; k++) wf[k] = (float)want[k];
        double e = check_rel_err(got + i * hw, wf, hw, 1.0);
        if (e > worst) worst = e;
    }
    free(want);
    free(wf);
    return worst;
}

static void test_exact(ctvk_ctx *ctx, int n, int h, int w)
{
    batch b;
    batch_make(ctx, &b, n, h, w, 100 + (uint64_t)(h * w));
    size_t hw = (size_t)h * w;
    ctvk_augment_config cfg;
    ctvk_augment_config_default(&cfg);
    ctvk_augment_params p[4];
    for (int legacy = 0; legacy < 2; legacy++) {
        cfg.legacy_centre = legacy;
        for (int flips = 0; flips < 4; flips++) {
            for (int i = 0; i < n; i++) {
                ctvk_augment_params_identity(&p[i]);
                p[i].flip_h = flips & 1;
                p[i].flip_v = (flips >> 1) & 1;
            }
            float *got = run(ctx, &b, p, &cfg, 1.0f, 0.0f, NULL);
            int bad = 0;
            for (int i = 0; i < n; i++)
                for (int r = 0; r < h; r++)
                    for (int c = 0; c < w; c++) {
                        int sr = flips & 2 ? h - 1 - r : r, sc = flips & 1 ? w - 1 - c : c;
                        bad += got[i * hw + (size_t)r * w + c] != (float)b.img[i * hw + (size_t)sr * w + sc];
                    }
            CHECK(bad == 0, "%dx%dx%d identity%s%s (legacy centre %d): %d pixels not exact", n, h, w,
                  flips & 1 ? " + horizontal flip" : "", flips & 2 ? " + vertical flip" : "", legacy, bad);
            free(got);
        }
    }
    printf("%dx%dx%d: identity, horizontal, vertical and both flips exact (both centres)\n", n, h, w);
    /* scale / offset: out = scale * raw + offset */
    for (int i = 0; i < n; i++) ctvk_augment_params_identity(&p[i]);
    float *got = run(ctx, &b, p, &cfg, 1.0f / 4095.0f, -0.5f, NULL);
    float *want = malloc((size_t)n * hw * sizeof *want);
    for (size_t k = 0; k < (size_t)n * hw; k++) want[k] = (float)(b.img[k] / 4095.0 - 0.5);
    double e = check_rel_err(got, want, (size_t)n * hw, 1e-3);
    printf("%dx%dx%d: scale 1/4095, offset -0.5: worst relative error %.3g\n", n, h, w, e);
    CHECK(e <= 1e-6, "scale/offset error %g", e);
    free(want);
    free(got);
    batch_free(&b);
}

static void test_known(ctvk_ctx *ctx)
{
    batch b;
    batch_make(ctx, &b, 1, 64, 64, 7);
    ctvk_augment_config cfg;
    ctvk_augment_config_default(&cfg);
    ctvk_augment_params p;

    /* 90 degrees about the centre of a square image is a permutation: out[r][c] = in[63-c][r] */
    ctvk_augment_params_identity(&p);
    p.theta = 90;
    float *got = run(ctx, &b, &p, &cfg, 1, 0, NULL);
    float *want = malloc(64 * 64 * sizeof *want);
    for (int r = 0; r < 64; r++)
        for (int c = 0; c < 64; c++) want[r * 64 + c] = b.img[(63 - c) * 64 + r];
    double e = check_rel_err(got, want, 64 * 64, 1.0);
    printf("rotation 90: worst relative error vs the permutation %.3g, vs Keras %.3g\n", e, vs_keras(&b, got, &p, 0));
    CHECK(e <= 1e-4, "rotation 90 vs permutation: %g", e);
    CHECK(vs_keras(&b, got, &p, 0) <= 1e-4, "rotation 90 vs Keras");
    free(got);
    free(want);

    struct { const char *name; ctvk_augment_params p; } cases[] = {
        {"rotation 90", {.theta = 90, .zx = 1, .zy = 1}},
        {"rotation -37.5", {.theta = -37.5, .zx = 1, .zy = 1}},
        {"zoom 1.05 x 0.95", {.zx = 1.05, .zy = 0.95}},
        {"zoom 0.95 x 1.05", {.zx = 0.95, .zy = 1.05}},
        {"shift 2.5, -3.2", {.tx = 2.5, .ty = -3.2, .zx = 1, .zy = 1}},
        {"shear 0.05 deg", {.shear = 0.05, .zx = 1, .zy = 1}},
        {"shear 30 deg", {.shear = 30, .zx = 1, .zy = 1}},
        {"all + flips", {.theta = 211.3, .tx = -1.7, .ty = 3.1, .shear = -0.04, .zx = 0.96, .zy = 1.04,
                         .flip_h = 1, .flip_v = 1}},
    };
    for (int legacy = 0; legacy < 2; legacy++) {
        cfg.legacy_centre = legacy;
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            got = run(ctx, &b, &cases[k].p, &cfg, 1, 0, NULL);
            e = vs_keras(&b, got, &cases[k].p, legacy);
            printf("%-18s (centre %s): worst relative error vs Keras %.3g\n", cases[k].name,
                   legacy ? "size/2+0.5" : "size/2-0.5", e);
            CHECK(e <= 1e-4, "%s legacy %d: %g", cases[k].name, legacy, e);
            free(got);
        }
    }
    /* the two centres differ: the same rotation about a point one pixel apart */
    cfg.legacy_centre = 0;
    got = run(ctx, &b, &cases[0].p, &cfg, 1, 0, NULL);
    cfg.legacy_centre = 1;
    float *got2 = run(ctx, &b, &cases[0].p, &cfg, 1, 0, NULL);
    CHECK(check_rel_err(got, got2, 64 * 64, 1.0) > 0.01, "legacy centre changes nothing");
    free(got);
    free(got2);
    batch_free(&b);
}

static void test_random(ctvk_ctx *ctx, int n, int h, int w, uint64_t seed, double bound)
{
    batch b;
    batch_make(ctx, &b, n, h, w, seed);
    ctvk_augment_config cfg;
    ctvk_augment_config_default(&cfg);
    ctvk_augment_params p[4];
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) ctvk_augment_draw(&cfg, &rng, h, w, &p[i]);
    float rec[4 * CTVK_AUGMENT_RECORD];
    float *got = run(ctx, &b, p, &cfg, 1, 0, rec);
    size_t total = (size_t)n * h * w;
    float *want = malloc(total * sizeof *want);
    ctvk_ref_augment(b.img, n, h, w, rec, 1, 0, want);
    double e = check_rel_err(got, want, total, 1.0), ek = vs_keras(&b, got, p, 0), erk = vs_keras(&b, want, p, 0);
    printf("random %dx%dx%d: kernel vs reference %.3g, kernel vs Keras %.3g, reference vs Keras %.3g\n", n, h, w,
           e, ek, erk);
    CHECK(e <= bound && ek <= bound, "random %dx%dx%d: %g %g", n, h, w, e, ek);
    /* the reference differs from Keras only by the fp32 records: A and d rounded to 2^-24 shift a
     * sample by <= 2^-24 (|a| (|dr| + |dc|) + |d|) < 1.5 x size x 2^-24 pixels, times a gradient
     * of at most the full range per pixel: size x 1e-7 relative */
    CHECK(erk <= (h > w ? h : w) * 1e-7, "reference vs Keras %dx%d: %g", h, w, erk);
    free(got);
    free(want);
    batch_free(&b);
}

static void test_draw(void)
{
    ctvk_augment_config cfg;
    ctvk_augment_config_default(&cfg);
    uint64_t s1 = 42, s2 = 42, s3 = 43;
    ctvk_augment_params a, b, c;
    ctvk_augment_draw(&cfg, &s1, 512, 512, &a);
    ctvk_augment_draw(&cfg, &s2, 512, 512, &b);
    ctvk_augment_draw(&cfg, &s3, 512, 512, &c);
    CHECK(memcmp(&a, &b, sizeof a) == 0 && s1 == s2, "same seed, different parameters");
    CHECK(a.theta != c.theta, "different seeds, same rotation");
    /* the generator: splitmix64 from state 0 gives 0xE220A8397B1DCDAF first (the published value) */
    uint64_t z = 0;
    CHECK(ctvk_augment_rng_next(&z) == 0xE220A8397B1DCDAFull, "splitmix64 first value");
    int n = 20000, fh = 0, fv = 0, out_of_range = 0;
    double lo_t = 1e9, hi_t = -1e9, sum_zx = 0;
    for (int i = 0; i < n; i++) {
        ctvk_augment_draw(&cfg, &s3, 512, 512, &a);
        out_of_range += fabs(a.theta) > 360 || fabs(a.shear) > 0.05 || fabs(a.tx) > 25.6 || fabs(a.ty) > 25.6 ||
                        a.zx < 0.95 || a.zx > 1.05 || a.zy < 0.95 || a.zy > 1.05;
        fh += a.flip_h;
        fv += a.flip_v;
        if (a.theta < lo_t) lo_t = a.theta;
        if (a.theta > hi_t) hi_t = a.theta;
        sum_zx += a.zx;
    }
    printf("draw: %d sets, theta in [%.2f, %.2f], mean zx %.4f, flips h %.3f v %.3f\n", n, lo_t, hi_t, sum_zx / n,
           (double)fh / n, (double)fv / n);
    CHECK(out_of_range == 0, "%d parameter sets out of range", out_of_range);
    CHECK(lo_t < -355 && hi_t > 355, "theta does not span (-360, 360)");
    CHECK(fabs(sum_zx / n - 1.0) < 0.002, "zoom mean %g", sum_zx / n);
    /* flips are Bernoulli(0.5): 20000 draws, 5 sigma = 0.0177 */
    CHECK(fabs((double)fh / n - 0.5) < 0.0177 && fabs((double)fv / n - 0.5) < 0.0177, "flip rates");
    /* ranges of zero draw nothing and flips off stay off */
    ctvk_augment_config none = {.zoom_lo = 1, .zoom_hi = 1};
    uint64_t s = 9, before = s;
    ctvk_augment_draw(&none, &s, 64, 64, &a);
    ctvk_augment_params id;
    ctvk_augment_params_identity(&id);
    CHECK(memcmp(&a, &id, sizeof a) == 0, "empty config gave a non-identity transform");
    CHECK(s == before + 2 * 0x9E3779B97F4A7C15ull, "empty config drew %s", "other than the two flip coins");
}

int main(void)
{
    test_draw();
    ctvk_ctx *ctx = check_ctx(NULL);
    test_exact(ctx, 3, 31, 37);
    test_exact(ctx, 2, 64, 64);
    test_known(ctx);
    test_random(ctx, 3, 31, 37, 1, 1e-4);
    test_random(ctx, 2, 64, 64, 2, 1e-4);
    test_random(ctx, 3, 64, 64, 3, 1e-4);
    test_random(ctx, 1, 512, 512, 4, 1e-4);
    /* an invalid parameter tensor is refused */
    batch b;
    batch_make(ctx, &b, 2, 8, 8, 5);
    ctvk_tensor *small = check_tensor(ctx, (ctvk_shape){1, 1, 1, 8}, NULL, "too small");
    CHECK(ctvk_augment(ctx, b.in, small, 1, 0, b.out) == CTVK_ERR_ARG, "short parameter tensor accepted");
    CHECK(ctvk_augment(ctx, b.in, b.prm, 1, 0, b.in) == CTVK_ERR_ARG, "uint16 output accepted");
    ctvk_tensor_destroy(small);
    batch_free(&b);
    check_ctx_done(ctx);
    return check_done("test_augment");
}
