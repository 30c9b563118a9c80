/* conv2d: finite-difference check of the C backward references (in double), TensorFlow 'same'
 * padding, then the Vulkan kernels (forward with bias/ReLU, backward-data, backward-weights, bias
 * gradient, accumulate and overwrite, fp16 storage) against the references on awkward shapes,
 * for BOTH kernel families (CPU and GPU variants), on whatever device the test runs on. */
#include "net/conv.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t cnt(ctvk_shape s) { return (size_t)s.n * s.h * s.w * s.c; }

/* ---------------------------------------------------------------- finite differences */
static double *rand_d(size_t n, uint64_t seed)
{
    double *a = malloc(n * sizeof *a);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) a[i] = check_rng_uniform(&s, -1, 1);
    return a;
}

static double loss(const ctvk_conv2d *p, ctvk_shape xs, const double *x, const double *w, const double *b,
                   ctvk_shape ys, const double *g, double *y)
{
    ctvk_ref_conv2d_forward_f64(p, xs, x, w, b, ys, y);
    double s = 0;
    for (size_t i = 0; i < cnt(ys); i++) s += y[i] * g[i];
    return s;
}

/* Worst |numeric - analytic| / max(1, |analytic|) over every element of v. */
static double fd_err(double *v, size_t n, const double *analytic, const ctvk_conv2d *p, ctvk_shape xs,
                     const double *x, const double *w, const double *b, ctvk_shape ys, const double *g, double *y)
{
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double lp = loss(p, xs, x, w, b, ys, g, y);
        v[i] = keep - h;
        double lm = loss(p, xs, x, w, b, ys, g, y);
        v[i] = keep;
        double num = (lp - lm) / (2 * h);
        double e = fabs(num - analytic[i]) / fmax(1.0, fabs(analytic[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static void fd_case(const char *name, const ctvk_conv2d *p, ctvk_shape xs, int cout, uint64_t seed)
{
    ctvk_shape ys;
    CHECK(ctvk_conv2d_out_shape(p, xs, cout, &ys) == CTVK_OK, "%s: out shape", name);
    size_t nx = cnt(xs), ny = cnt(ys), nw = (size_t)p->kh * p->kw * xs.c * cout;
    double *x = rand_d(nx, seed), *w = rand_d(nw, seed + 1), *b = rand_d((size_t)cout, seed + 2);
    double *g = rand_d(ny, seed + 3), *y = malloc(ny * sizeof *y);
    double *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw), *db = calloc((size_t)cout, sizeof *db);
    ctvk_ref_conv2d_backward_data_f64(p, ys, g, w, xs, dx, 0);
    ctvk_ref_conv2d_backward_weights_f64(p, xs, x, ys, g, dw, db, 0);
    double ex = fd_err(x, nx, dx, p, xs, x, w, b, ys, g, y);
    double ew = fd_err(w, nw, dw, p, xs, x, w, b, ys, g, y);
    double eb = fd_err(b, (size_t)cout, db, p, xs, x, w, b, ys, g, y);
    printf("finite differences %-28s dx %.2e  dW %.2e  db %.2e\n", name, ex, ew, eb);
    CHECK(ex < 1e-7 && ew < 1e-7 && eb < 1e-7, "%s: finite differences disagree (dx %g, dW %g, db %g)", name, ex, ew,
          eb);
    free(x); free(w); free(b); free(g); free(y); free(dx); free(dw); free(db);
}

/* ---------------------------------------------------------------- device cases */
typedef struct tcase {
    const char *name;
    int n, h, w, c, k, kh, kw, sh, sw;
    int pad;            /* 0 valid, 1 same, 2 explicit (pt, pb, pl, pr) */
    int pt, pb, pl, pr;
    int bias, relu;
} tcase;

static const tcase cases[] = {
    {"1x1x1x1 1x1", 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0},
    {"2x3x3x3 3x3 same ->5", 2, 3, 3, 3, 5, 3, 3, 1, 1, 1, 0, 0, 0, 0, 1, 1},
    {"1x7x7x7 3x3 same ->9", 1, 7, 7, 7, 9, 3, 3, 1, 1, 1, 0, 0, 0, 0, 0, 0},
    {"2x31x31x3 7x7/2 same ->17", 2, 31, 31, 3, 17, 7, 7, 2, 2, 1, 0, 0, 0, 0, 1, 0},
    {"2x8x8x16 3x3/2 same ->12", 2, 8, 8, 16, 12, 3, 3, 2, 2, 1, 0, 0, 0, 0, 1, 1},
    {"1x31x7x13 1x1 ->70", 1, 31, 7, 13, 70, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0},
    {"2x7x7x8 1x1/2 ->16", 2, 7, 7, 8, 16, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0},
    {"2x9x10x5 2x3 pad 1,2,0,3 ->3", 2, 9, 10, 5, 3, 2, 3, 1, 1, 2, 1, 2, 0, 3, 1, 1},
    {"1x16x16x24 3x3 valid ->20", 1, 16, 16, 24, 20, 3, 3, 1, 1, 0, 0, 0, 0, 0, 1, 0},
    {"2x14x14x64 3x3 same ->64", 2, 14, 14, 64, 64, 3, 3, 1, 1, 1, 0, 0, 0, 0, 1, 1},
    {"1x3x31x1 3x1/1x2 same ->31", 1, 3, 31, 1, 31, 3, 1, 1, 2, 1, 0, 0, 0, 0, 0, 0},
    /* CPU variant's 16x16 blocks: row and column tails (M, Cout not multiples of 16), Cin % 16 */
    {"1x9x11x20 3x3 same ->36", 1, 9, 11, 20, 36, 3, 3, 1, 1, 1, 0, 0, 0, 0, 1, 1},
    {"1x13x13x32 1x1 ->52", 1, 13, 13, 32, 52, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0},
    {"2x6x5x16 3x3 same ->24", 2, 6, 5, 16, 24, 3, 3, 1, 1, 1, 0, 0, 0, 0, 0, 1},
    /* scalar x with 4-component weight fetches (Cin % 4 != 0, Cout % 4 == 0: the stems) */
    {"2x17x19x3 7x7/2 same ->20", 2, 17, 19, 3, 20, 7, 7, 2, 2, 1, 0, 0, 0, 0, 1, 1},
    {"1x21x23x1 7x7/2 pad 3,3,3,3 ->36", 1, 21, 23, 1, 36, 7, 7, 2, 2, 2, 3, 3, 3, 3, 1, 0},
};

static ctvk_conv2d geometry(const tcase *t)
{
    ctvk_conv2d p = {0};
    ctvk_status s = t->pad == 0 ? ctvk_conv2d_valid(t->kh, t->kw, t->sh, t->sw, &p)
                    : t->pad == 1 ? ctvk_conv2d_same(t->kh, t->kw, t->sh, t->sw, t->h, t->w, &p)
                                  : ctvk_conv2d_padded(t->kh, t->kw, t->sh, t->sw, t->pt, t->pb, t->pl, t->pr, &p);
    CHECK(s == CTVK_OK, "%s: geometry: %s", t->name, ctvk_error());
    p.relu = t->relu;
    return p;
}

static float *rand_f(size_t n, uint64_t seed)
{
    float *a = malloc(n * sizeof *a);
    check_fill_uniform(a, n, seed, -1, 1);
    return a;
}

static double worst_fp32;

static void expect(const char *what, const tcase *t, ctvk_tensor *got_t, const float *want, size_t n)
{
    float *got = check_download(got_t);
    double e = check_rel_err(got, want, n, 1e-3);
    if (e > worst_fp32) worst_fp32 = e;
    printf("  %-30s %-17s worst relative error %.3g\n", t->name, what, e);
    CHECK(e <= 1e-4, "%s %s: error %g", t->name, what, e);
    free(got);
}

static void device_case(ctvk_ctx *ctx, const tcase *t, uint64_t seed)
{
    ctvk_conv2d p = geometry(t);
    ctvk_shape xs = {t->n, t->h, t->w, t->c}, ys, ws = {t->kh, t->kw, t->c, t->k}, bs = {1, 1, 1, t->k};
    CHECK(ctvk_conv2d_out_shape(&p, xs, t->k, &ys) == CTVK_OK, "%s: out shape", t->name);
    size_t nx = cnt(xs), ny = cnt(ys), nw = cnt(ws), nb = (size_t)t->k;
    float *x = rand_f(nx, seed), *w = rand_f(nw, seed + 1), *b = rand_f(nb, seed + 2), *g = rand_f(ny, seed + 3);
    float *y0 = rand_f(ny, seed + 4), *dx0 = rand_f(nx, seed + 5), *dw0 = rand_f(nw, seed + 6), *db0 = rand_f(nb, seed + 7);
    ctvk_tensor *tx = check_tensor(ctx, xs, x, "x"), *tw = check_tensor(ctx, ws, w, "w"), *tb = check_tensor(ctx, bs, b, "b");
    ctvk_tensor *tg = check_tensor(ctx, ys, g, "dy"), *ty = check_tensor(ctx, ys, y0, "y");
    ctvk_tensor *tdx = check_tensor(ctx, xs, dx0, "dx"), *tdw = check_tensor(ctx, ws, dw0, "dw");
    ctvk_tensor *tdb = check_tensor(ctx, bs, db0, "db");
    float *ry = malloc(ny * sizeof *ry), *rdx = malloc(nx * sizeof *rdx), *rdw = malloc(nw * sizeof *rdw);
    float *rdb = malloc(nb * sizeof *rdb);

    /* forward */
    CHECK(ctvk_conv2d_forward(ctx, &p, tx, tw, t->bias ? tb : NULL, ty) == CTVK_OK, "forward: %s", ctvk_error());
    ctvk_ref_conv2d_forward(&p, xs, x, w, t->bias ? b : NULL, ys, ry);
    expect(t->relu ? "forward+relu" : "forward", t, ty, ry, ny);

    /* backward, overwrite then accumulate on top (recorded back to back, no sync between) */
    for (int acc = 0; acc < 2; acc++) {
        CHECK(ctvk_conv2d_backward_data(ctx, &p, tg, tw, tdx, acc) == CTVK_OK, "backward_data: %s", ctvk_error());
        CHECK(ctvk_conv2d_backward_weights(ctx, &p, tx, tg, tdw, tdb, acc) == CTVK_OK, "backward_weights: %s",
              ctvk_error());
    }
    /* after the overwrite and one accumulation the result is twice the gradient */
    ctvk_ref_conv2d_backward_data(&p, ys, g, w, xs, rdx, 0);
    ctvk_ref_conv2d_backward_data(&p, ys, g, w, xs, rdx, 1);
    ctvk_ref_conv2d_backward_weights(&p, xs, x, ys, g, rdw, rdb, 0);
    ctvk_ref_conv2d_backward_weights(&p, xs, x, ys, g, rdw, rdb, 1);
    expect("dx (2x, accum)", t, tdx, rdx, nx);
    expect("dW (2x, accum)", t, tdw, rdw, nw);
    expect("db (2x, accum)", t, tdb, rdb, nb);
    /* accumulate onto arbitrary values */
    CHECK(ctvk_tensor_upload(tdx, dx0, nx * 4) == CTVK_OK && ctvk_tensor_upload(tdw, dw0, nw * 4) == CTVK_OK &&
          ctvk_tensor_upload(tdb, db0, nb * 4) == CTVK_OK, "upload");
    CHECK(ctvk_conv2d_backward_data(ctx, &p, tg, tw, tdx, 1) == CTVK_OK, "backward_data: %s", ctvk_error());
    CHECK(ctvk_conv2d_backward_weights(ctx, &p, tx, tg, tdw, tdb, 1) == CTVK_OK, "backward_weights: %s", ctvk_error());
    memcpy(rdx, dx0, nx * 4); memcpy(rdw, dw0, nw * 4); memcpy(rdb, db0, nb * 4);
    ctvk_ref_conv2d_backward_data(&p, ys, g, w, xs, rdx, 1);
    ctvk_ref_conv2d_backward_weights(&p, xs, x, ys, g, rdw, rdb, 1);
    expect("dx (+= old)", t, tdx, rdx, nx);
    expect("dW (+= old)", t, tdw, rdw, nw);
    expect("db (+= old)", t, tdb, rdb, nb);

    ctvk_tensor *all[] = {tx, tw, tb, tg, ty, tdx, tdw, tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(g); free(y0); free(dx0); free(dw0); free(db0);
    free(ry); free(rdx); free(rdw); free(rdb);
}

/* ---------------------------------------------------------------- fp16 storage */
static uint16_t f2h(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, e = (u >> 23) & 0xff, m = u & 0x7fffffu;
    int ee = (int)e - 127 + 15;
    if (ee >= 31) return (uint16_t)(sign | 0x7c00u);
    if (ee <= 0) {               /* subnormal: round to nearest even */
        if (ee < -10) return (uint16_t)sign;
        m |= 0x800000u;
        int shift = 14 - ee;
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)ee << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static float h2f(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? INFINITY : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static ctvk_tensor *tensor16(ctvk_ctx *ctx, ctvk_shape s, const float *data, float *rounded, const char *name)
{
    size_t n = cnt(s);
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        h[i] = data ? f2h(data[i]) : 0;
        if (rounded) rounded[i] = h2f(h[i]);
    }
    ctvk_tensor *t = NULL;
    CHECK(ctvk_tensor_create(ctx, CTVK_F16, s, name, &t) == CTVK_OK, "create fp16: %s", ctvk_error());
    CHECK(ctvk_tensor_upload(t, h, n * 2) == CTVK_OK, "upload fp16: %s", ctvk_error());
    free(h);
    return t;
}

/* fp16 x, w, bias and y, fp32 arithmetic: |y16 - y| <= 2^-10 (sum|x w| + |b|) + 2^-11 |y| (net/conv.h). */
static void fp16_case(ctvk_ctx *ctx, const tcase *t, uint64_t seed)
{
    ctvk_conv2d p = geometry(t);
    ctvk_shape xs = {t->n, t->h, t->w, t->c}, ys, ws = {t->kh, t->kw, t->c, t->k}, bs = {1, 1, 1, t->k};
    CHECK(ctvk_conv2d_out_shape(&p, xs, t->k, &ys) == CTVK_OK, "out shape");
    size_t nx = cnt(xs), ny = cnt(ys), nw = cnt(ws), nb = (size_t)t->k;
    float *x = rand_f(nx, seed), *w = rand_f(nw, seed + 1), *b = rand_f(nb, seed + 2);
    float *ax = malloc(nx * 4), *aw = malloc(nw * 4), *ab = malloc(nb * 4), *ry = malloc(ny * 4), *ra = malloc(ny * 4);
    ctvk_tensor *tx = tensor16(ctx, xs, x, NULL, "x16"), *tw = tensor16(ctx, ws, w, NULL, "w16");
    ctvk_tensor *tb = tensor16(ctx, bs, b, NULL, "b16"), *ty = tensor16(ctx, ys, NULL, NULL, "y16");
    CHECK(ctvk_conv2d_forward(ctx, &p, tx, tw, tb, ty) == CTVK_OK, "fp16 forward: %s", ctvk_error());
    uint16_t *h = malloc(ny * 2);
    CHECK(ctvk_tensor_download(ty, h, ny * 2) == CTVK_OK, "download fp16");
    ctvk_ref_conv2d_forward(&p, xs, x, w, b, ys, ry);
    for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
    for (size_t i = 0; i < nb; i++) ab[i] = fabsf(b[i]);
    ctvk_conv2d pa = p;
    pa.relu = 0;
    ctvk_ref_conv2d_forward(&pa, xs, ax, aw, ab, ys, ra);
    double worst = 0;   /* error / bound */
    for (size_t i = 0; i < ny; i++) {
        double bound = ldexp(ra[i], -10) + ldexp(fabs(ry[i]), -11) + 1e-7;
        double r = fabs((double)h2f(h[i]) - ry[i]) / bound;
        if (!(r <= worst)) worst = r;
    }
    printf("  %-30s fp16 forward     worst error / bound %.3f\n", t->name, worst);
    CHECK(worst <= 1.0, "%s: fp16 error exceeds the bound (ratio %g)", t->name, worst);
    /* fp16 inputs with an fp32 output */
    ctvk_tensor *ty32 = check_tensor(ctx, ys, NULL, "y32");
    CHECK(ctvk_conv2d_forward(ctx, &p, tx, tw, tb, ty32) == CTVK_OK, "fp16-in forward: %s", ctvk_error());
    float *got = check_download(ty32);
    worst = 0;
    for (size_t i = 0; i < ny; i++) {
        double r = fabs((double)got[i] - ry[i]) / (ldexp(ra[i], -10) + 1e-7);
        if (!(r <= worst)) worst = r;
    }
    printf("  %-30s fp16 in, fp32 out worst error / bound %.3f\n", t->name, worst);
    CHECK(worst <= 1.0, "%s: fp16-in error exceeds the bound (ratio %g)", t->name, worst);
    free(got);
    ctvk_tensor_destroy(ty32);
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(tw); ctvk_tensor_destroy(tb); ctvk_tensor_destroy(ty);
    free(x); free(w); free(b); free(ax); free(aw); free(ab); free(ry); free(ra); free(h);
}

/* ---------------------------------------------------------------- fused epilogue */
/* y = act(conv + bias + res), z = y * scale + shift (ReLU): against the reference epilogue applied
 * to the reference conv, for several combinations (y skipped: its old contents must survive). */
static void fused_case(ctvk_ctx *ctx, const tcase *t, uint64_t seed)
{
    ctvk_conv2d p = geometry(t);
    ctvk_shape xs = {t->n, t->h, t->w, t->c}, ys, ws = {t->kh, t->kw, t->c, t->k};
    CHECK(ctvk_conv2d_out_shape(&p, xs, t->k, &ys) == CTVK_OK, "%s: out shape", t->name);
    size_t nx = cnt(xs), ny = cnt(ys), nw = cnt(ws), K = (size_t)t->k;
    float *x = rand_f(nx, seed), *w = rand_f(nw, seed + 1), *b = rand_f(K, seed + 2), *r = rand_f(ny, seed + 3);
    float *aff = rand_f(2 * K, seed + 4), *y0 = rand_f(ny, seed + 5), *yc = malloc(ny * sizeof *yc);
    double *yd = malloc(ny * sizeof *yd), *zd = malloc(ny * sizeof *zd), *rd = malloc(ny * sizeof *rd);
    double *ad = malloc(2 * K * sizeof *ad);
    for (size_t i = 0; i < ny; i++) rd[i] = r[i];
    for (size_t i = 0; i < 2 * K; i++) ad[i] = aff[i];
    ctvk_tensor *tx = check_tensor(ctx, xs, x, "x"), *tw = check_tensor(ctx, ws, w, "w");
    ctvk_tensor *tb = check_tensor(ctx, (ctvk_shape){1, 1, 1, t->k}, b, "b"), *tr = check_tensor(ctx, ys, r, "res");
    ctvk_tensor *ta = check_tensor(ctx, (ctvk_shape){1, 1, 1, 2 * t->k}, aff, "aff");
    ctvk_tensor *ty = check_tensor(ctx, ys, NULL, "y"), *tz = check_tensor(ctx, ys, NULL, "z");
    ctvk_conv2d q = p;
    q.relu = 0;
    ctvk_ref_conv2d_forward(&q, xs, x, w, b, ys, yc);
    static const int combos[][5] = {{1, 1, 0, 0, 0}, {1, 0, 1, 1, 0}, {0, 0, 1, 0, 1}, {1, 1, 1, 1, 1}, {0, 1, 1, 0, 0}};
    for (size_t k = 0; k < sizeof combos / sizeof *combos; k++) {
        const int *o = combos[k];   /* res, relu, z, z_relu, skip_y */
        ctvk_conv_epilogue e = {o[0] ? tr : NULL, o[2] ? ta : NULL, o[2] ? tz : NULL, o[3], o[4]};
        CHECK(ctvk_tensor_upload(ty, y0, ny * sizeof *y0) == CTVK_OK, "upload");
        p.relu = o[1];
        CHECK(ctvk_conv2d_forward_fused(ctx, &p, tx, tw, tb, &e, ty) == CTVK_OK, "fused: %s", ctvk_error());
        for (size_t i = 0; i < ny; i++) yd[i] = yc[i];
        ctvk_ref_conv_epilogue(ny / K, t->k, yd, o[0] ? rd : NULL, o[1], o[2] ? ad : NULL, o[3], zd);
        float *want = malloc(ny * sizeof *want);
        for (size_t i = 0; i < ny; i++) want[i] = o[4] ? y0[i] : (float)yd[i];
        char what[64];
        snprintf(what, sizeof what, "fused %d%d%d%d%d y", o[0], o[1], o[2], o[3], o[4]);
        expect(what, t, ty, want, ny);
        if (o[2]) {
            for (size_t i = 0; i < ny; i++) want[i] = (float)zd[i];
            snprintf(what, sizeof what, "fused %d%d%d%d%d z", o[0], o[1], o[2], o[3], o[4]);
            expect(what, t, tz, want, ny);
        }
        free(want);
    }
    /* misuse: z without its scale/shift, a residual of another size */
    ctvk_conv_epilogue bad = {NULL, NULL, tz, 0, 0};
    CHECK(ctvk_conv2d_forward_fused(ctx, &p, tx, tw, tb, &bad, ty) == CTVK_ERR_ARG, "z without scale accepted");
    bad = (ctvk_conv_epilogue){tb, NULL, NULL, 0, 0};
    CHECK(ctvk_conv2d_forward_fused(ctx, &p, tx, tw, tb, &bad, ty) == CTVK_ERR_ARG, "short residual accepted");
    ctvk_tensor *all[] = {tx, tw, tb, tr, ta, ty, tz};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(r); free(aff); free(y0); free(yc); free(yd); free(zd); free(rd); free(ad);
}

static void bad_args(ctvk_ctx *ctx)
{
    ctvk_conv2d p = {0};
    ctvk_conv2d_valid(3, 3, 1, 1, &p);
    ctvk_tensor *x = check_tensor(ctx, (ctvk_shape){1, 5, 5, 2}, NULL, "x");
    ctvk_tensor *w = check_tensor(ctx, (ctvk_shape){3, 3, 2, 4}, NULL, "w");
    ctvk_tensor *y = check_tensor(ctx, (ctvk_shape){1, 5, 5, 4}, NULL, "y");   /* valid gives 3x3 */
    CHECK(ctvk_conv2d_forward(ctx, &p, x, w, NULL, y) == CTVK_ERR_ARG, "wrong output shape accepted");
    CHECK(ctvk_conv2d_backward_weights(ctx, &p, x, y, w, NULL, 0) == CTVK_ERR_ARG, "wrong dy shape accepted");
    ctvk_tensor_destroy(y);
    y = check_tensor(ctx, (ctvk_shape){1, 3, 3, 3}, NULL, "y3");
    CHECK(ctvk_conv2d_forward(ctx, &p, x, w, NULL, y) == CTVK_ERR_ARG, "wrong weight count accepted");
    CHECK(ctvk_conv2d_valid(0, 3, 1, 1, &p) == CTVK_ERR_ARG, "zero kernel accepted");
    ctvk_tensor_destroy(x); ctvk_tensor_destroy(w); ctvk_tensor_destroy(y);
}

int main(void)
{
    /* TensorFlow 'same': stride 2 on even sizes pads 0 before and 1 after; odd sizes 1 and 1 */
    ctvk_conv2d p = {0};
    CHECK(ctvk_conv2d_same(3, 3, 2, 2, 8, 8, &p) == CTVK_OK && p.pad_t == 0 && p.pad_b == 1 && p.pad_l == 0 &&
          p.pad_r == 1, "same 3x3/2 on 8: pads %d %d %d %d", p.pad_t, p.pad_b, p.pad_l, p.pad_r);
    CHECK(ctvk_conv2d_same(3, 3, 2, 2, 7, 7, &p) == CTVK_OK && p.pad_t == 1 && p.pad_b == 1, "same 3x3/2 on 7");
    CHECK(ctvk_conv2d_same(7, 7, 2, 2, 224, 224, &p) == CTVK_OK && p.pad_t == 2 && p.pad_b == 3, "same 7x7/2 on 224");
    CHECK(ctvk_conv2d_same(1, 1, 2, 2, 8, 8, &p) == CTVK_OK && p.pad_t == 0 && p.pad_b == 0, "same 1x1/2 on 8");
    ctvk_shape ys;
    CHECK(ctvk_conv2d_out_shape(&p, (ctvk_shape){1, 8, 8, 3}, 5, &ys) == CTVK_OK && ys.h == 4 && ys.w == 4 && ys.c == 5,
          "same 1x1/2 on 8 -> 4");
    ctvk_conv2d_same(7, 7, 2, 2, 224, 224, &p);
    CHECK(ctvk_conv2d_out_shape(&p, (ctvk_shape){2, 224, 224, 3}, 64, &ys) == CTVK_OK && ys.h == 112, "conv1 -> 112");

    /* finite differences of the double references */
    ctvk_conv2d q = {0};
    ctvk_conv2d_same(3, 3, 2, 2, 6, 5, &q);
    fd_case("3x3/2 same 2x6x5x3 ->4", &q, (ctvk_shape){2, 6, 5, 3}, 4, 11);
    ctvk_conv2d_padded(2, 3, 1, 2, 1, 0, 2, 1, &q);
    fd_case("2x3/1x2 pad 1,0,2,1 1x4x7x2 ->3", &q, (ctvk_shape){1, 4, 7, 2}, 3, 12);
    ctvk_conv2d_valid(1, 1, 2, 2, &q);
    fd_case("1x1/2 valid 2x5x5x3 ->2", &q, (ctvk_shape){2, 5, 5, 3}, 2, 13);
    ctvk_conv2d_same(5, 5, 1, 1, 4, 4, &q);
    fd_case("5x5 same 1x4x4x2 ->2", &q, (ctvk_shape){1, 4, 4, 2}, 2, 14);

    for (int v = 0; v < 2; v++) {
        ctvk_options o;
        ctvk_options_default(&o);
        o.variant = v ? CTVK_VARIANT_GPU : CTVK_VARIANT_CPU;
        ctvk_ctx *ctx = check_ctx(&o);
        CHECK(ctvk_kernel_variant(ctx) == o.variant, "variant not forced");
        printf("-- %s variant on %s\n", v ? "GPU" : "CPU", ctvk_device(ctx)->name);
        worst_fp32 = 0;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) device_case(ctx, &cases[i], 100 + 10 * i);
        printf("%s variant: worst fp32 relative error %.3g\n", v ? "GPU" : "CPU", worst_fp32);
        if (ctvk_device(ctx)->storage16) {
            fp16_case(ctx, &cases[3], 900);
            fp16_case(ctx, &cases[9], 901);
        } else {
            printf("  (no 16-bit storage: fp16 output skipped)\n");
        }
        fused_case(ctx, &cases[9], 950);
        fused_case(ctx, &cases[12], 951);
        fused_case(ctx, &cases[13], 952);
        bad_args(ctx);
        check_ctx_done(ctx);
    }
    return check_done("test_conv");
}
