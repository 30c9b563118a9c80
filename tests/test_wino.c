/* Winograd F(2x2, 3x3) (net/wino.c): the double references of the three transforms composed with
 * the GEMM equal the direct convolution; then the device's weight transforms (forward and the
 * backward's flipped, transposed filters), input transform, whole forward (bias, residual, ReLU;
 * odd sizes, batches, padding, tile counts that are not a multiple of the GEMM's row block) and
 * backward-data (overwrite and accumulate) against the references, on the CPU kernels. */
#include "net/conv.h"
#include "tests/ops_test.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define cnt shape_count

static int g_tile = 2;    /* the Winograd tile under test (2 or 4) */
#define RR ((size_t)(g_tile + 2) * (size_t)(g_tile + 2))

static double *rand_d(size_t n, uint64_t seed) { return drandom(n, seed, -1, 1); }

static float *to_f(const double *d, size_t n)
{
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}

/* Widened float copies make the references see exactly the device's inputs. */
static void round_f(double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = (double)(float)d[i];
}

typedef struct wcase {
    const char *name;
    int n, h, w, c, k;
    int pt, pb, pl, pr;
    int bias, resid, relu;
} wcase;

static const wcase cases[] = {
    {"1x4x4x4 same ->4", 1, 4, 4, 4, 4, 1, 1, 1, 1, 0, 0, 0},
    {"2x7x5x8 same ->12 bias relu", 2, 7, 5, 8, 12, 1, 1, 1, 1, 1, 0, 1},
    {"1x9x9x16 valid ->8 bias", 1, 9, 9, 16, 8, 0, 0, 0, 0, 1, 0, 0},
    {"3x6x11x12 pad 2,0,1,2 ->20 resid relu", 3, 6, 11, 12, 20, 2, 0, 1, 2, 1, 1, 1},
    {"1x16x16x32 same ->36 bias resid", 1, 16, 16, 32, 36, 1, 1, 1, 1, 1, 1, 0},
    {"2x3x3x4 same ->4 relu (T < 16)", 2, 3, 3, 4, 4, 1, 1, 1, 1, 0, 0, 1},
};

/* y = direct conv (+ bias) + resid, ReLU: the whole forward's reference (double). */
static void ref_direct(const wcase *t, const ctvk_conv2d *p, ctvk_shape xs, const double *x, const double *w,
                       const double *b, const double *r, ctvk_shape ys, double *y)
{
    ctvk_conv2d q = *p;
    q.relu = 0;
    ctvk_ref_conv2d_forward_f64(&q, xs, x, w, t->bias ? b : NULL, ys, y);
    for (size_t i = 0; i < cnt(ys); i++) {
        if (t->resid) y[i] += r[i];
        if (t->relu && y[i] < 0) y[i] = 0;
    }
}

/* The references composed: V and U by their transforms, M[xi] = V[xi] U[xi], y from M. */
static double ref_composed_err(const wcase *t, const ctvk_conv2d *p, ctvk_shape xs, const double *x, const double *w,
                               const double *b, const double *r, ctvk_shape ys, const double *want)
{
    size_t nv, nm;
    ctvk_conv2d_winograd_workspace(p, xs, ys.c, g_tile, &nv, &nm);
    double *v = malloc(nv * sizeof *v), *m = calloc(nm, sizeof *m), *u = malloc(RR * xs.c * ys.c * sizeof *u);
    double *y = malloc(cnt(ys) * sizeof *y);
    int Tp = 0;
    ctvk_ref_winograd_input(p, g_tile, xs, x, ys.h, ys.w, v, &Tp);
    ctvk_ref_winograd_weights(xs.c, ys.c, g_tile, 0, w, u);
    CHECK(nv == RR * (size_t)Tp * xs.c && Tp % 16 == 0, "%s: workspace %zu for %d padded tiles", t->name, nv, Tp);
    for (int xi = 0; xi < (int)RR; xi++)
        for (int tt = 0; tt < Tp; tt++)
            for (int c = 0; c < xs.c; c++) {
                double a = v[((size_t)xi * Tp + tt) * xs.c + c];
                for (int k = 0; k < ys.c; k++)
                    m[((size_t)xi * Tp + tt) * ys.c + k] += a * u[((size_t)xi * xs.c + c) * ys.c + k];
            }
    ctvk_ref_winograd_output(ys, g_tile, m, Tp, t->bias ? b : NULL, t->resid ? r : NULL, t->relu, y);
    double worst = 0;
    for (size_t i = 0; i < cnt(ys); i++) {
        double e = fabs(y[i] - want[i]);
        if (!(e <= worst)) worst = e;
    }
    free(v); free(m); free(u); free(y);
    return worst;
}

static void expect(const char *what, const char *name, ctvk_tensor *got_t, const double *want, size_t n, double tol)
{
    float *got = check_download(got_t), *wf = to_f(want, n);
    double e = check_rel_err(got, wf, n, 1e-3);
    printf("  %-40s %-10s worst relative error %.3g\n", name, what, e);
    CHECK(e <= tol, "%s %s: error %g", name, what, e);
    free(got);
    free(wf);
}

static void run_case(ctvk_ctx *ctx, const wcase *t, uint64_t seed)
{
    ctvk_conv2d p = {0};
    CHECK(ctvk_conv2d_padded(3, 3, 1, 1, t->pt, t->pb, t->pl, t->pr, &p) == CTVK_OK, "%s: geometry", t->name);
    p.relu = t->relu;
    ctvk_shape xs = {t->n, t->h, t->w, t->c}, ys, ws = {3, 3, t->c, t->k};
    CHECK(ctvk_conv2d_out_shape(&p, xs, t->k, &ys) == CTVK_OK, "%s: out shape", t->name);
    CHECK(ctvk_conv2d_winograd_ok(ctx, &p, xs, t->k), "%s: not eligible", t->name);
    size_t nx = cnt(xs), ny = cnt(ys), nw = cnt(ws), nu = RR * (size_t)t->c * t->k, nv, nm;
    ctvk_conv2d_winograd_workspace(&p, xs, t->k, g_tile, &nv, &nm);
    double *x = rand_d(nx, seed), *w = rand_d(nw, seed + 1), *b = rand_d((size_t)t->k, seed + 2);
    double *r = rand_d(ny, seed + 3), *y = malloc(ny * sizeof *y), *u = malloc(nu * sizeof *u);
    double *v = malloc(nv * sizeof *v);
    round_f(x, nx); round_f(w, nw); round_f(b, (size_t)t->k); round_f(r, ny);

    /* references: transforms + GEMM = direct conv */
    ref_direct(t, &p, xs, x, w, b, r, ys, y);
    double ec = ref_composed_err(t, &p, xs, x, w, b, r, ys, y);
    printf("  %-40s references composed vs direct: %.3g\n", t->name, ec);
    CHECK(ec < 1e-12, "%s: composed references differ from the direct conv by %g", t->name, ec);

    float *xf = to_f(x, nx), *wf = to_f(w, nw), *bf = to_f(b, (size_t)t->k), *rf = to_f(r, ny);
    ctvk_tensor *tx = check_tensor(ctx, xs, xf, "x"), *tw = check_tensor(ctx, ws, wf, "w");
    ctvk_tensor *tb = check_tensor(ctx, (ctvk_shape){1, 1, 1, t->k}, bf, "b"), *tr = check_tensor(ctx, ys, rf, "resid");
    ctvk_tensor *tu = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)nu}, NULL, "u");
    ctvk_tensor *ty = check_tensor(ctx, ys, NULL, "y");
    /* workspaces one texel-block larger than needed: the kernels must not depend on exact sizes */
    ctvk_tensor *tv = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)nv + 4}, NULL, "V");
    ctvk_tensor *tm = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)nm + 4}, NULL, "M");

    /* NaN in the workspaces: the padded tile rows must be written (zeros), not left as they were */
    CHECK(ctvk_fill(ctx, tv, NAN) == CTVK_OK && ctvk_fill(ctx, tm, NAN) == CTVK_OK, "fill: %s", ctvk_error());
    CHECK(ctvk_conv2d_winograd_weights(ctx, tw, t->c, t->k, g_tile, 0, tu) == CTVK_OK, "weights: %s", ctvk_error());
    ctvk_ref_winograd_weights(t->c, t->k, g_tile, 0, w, u);
    expect("U", t->name, tu, u, nu, 1e-6);
    CHECK(ctvk_conv2d_forward_winograd(ctx, &p, g_tile, tx, tu, t->bias ? tb : NULL, t->resid ? tr : NULL, ty, tv, tm) ==
          CTVK_OK, "forward: %s", ctvk_error());
    int Tp;
    ctvk_ref_winograd_input(&p, g_tile, xs, x, ys.h, ys.w, v, &Tp);
    float *vg = check_download(tv), *vw = to_f(v, nv);
    double ev = check_rel_err(vg, vw, nv, 1e-3);
    printf("  %-40s %-10s worst relative error %.3g\n", t->name, "V", ev);
    CHECK(ev <= 1e-6, "%s V: error %g", t->name, ev);
    expect("y", t->name, ty, y, ny, 1e-5);

    /* backward-data: dx = conv(dy, flipped transposed w), overwritten, then accumulated onto dx0 */
    ctvk_conv2d q;
    CHECK(ctvk_conv2d_winograd_backward_geometry(&p, &q) == CTVK_OK, "%s: backward geometry", t->name);
    size_t bv, bm;
    ctvk_conv2d_winograd_workspace(&q, ys, t->c, g_tile, &bv, &bm);
    double *dy = rand_d(ny, seed + 4), *dx = malloc(nx * sizeof *dx), *dx0 = rand_d(nx, seed + 5);
    round_f(dy, ny); round_f(dx0, nx);
    float *dyf = to_f(dy, ny), *dx0f = to_f(dx0, nx);
    ctvk_tensor *tdy = check_tensor(ctx, ys, dyf, "dy"), *tdx = check_tensor(ctx, xs, NULL, "dx");
    ctvk_tensor *tut = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)nu}, NULL, "ut");
    ctvk_tensor *tbv = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)bv}, NULL, "V'");
    ctvk_tensor *tbm = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)bm}, NULL, "M'");
    CHECK(ctvk_conv2d_winograd_weights(ctx, tw, t->c, t->k, g_tile, 1, tut) == CTVK_OK, "weights': %s",
          ctvk_error());
    ctvk_ref_winograd_weights(t->c, t->k, g_tile, 1, w, u);
    expect("U'", t->name, tut, u, nu, 1e-6);
    ctvk_ref_conv2d_backward_data_f64(&p, ys, dy, w, xs, dx, 0);
    CHECK(ctvk_conv2d_backward_data_winograd(ctx, &p, g_tile, tdy, tut, tdx, tbv, tbm, 0) == CTVK_OK, "backward: %s",
          ctvk_error());
    expect("dx", t->name, tdx, dx, nx, 1e-5);
    CHECK(ctvk_tensor_upload(tdx, dx0f, nx * sizeof(float)) == CTVK_OK, "upload dx0");
    CHECK(ctvk_conv2d_backward_data_winograd(ctx, &p, g_tile, tdy, tut, tdx, tbv, tbm, 1) == CTVK_OK, "backward acc: %s",
          ctvk_error());
    memcpy(dx, dx0, nx * sizeof *dx);
    ctvk_ref_conv2d_backward_data_f64(&p, ys, dy, w, xs, dx, 1);
    expect("dx += old", t->name, tdx, dx, nx, 1e-5);
    ctvk_tensor *bt[] = {tdy, tdx, tut, tbv, tbm};
    for (size_t i = 0; i < sizeof bt / sizeof *bt; i++) ctvk_tensor_destroy(bt[i]);
    free(dy); free(dx); free(dx0); free(dyf); free(dx0f);

    ctvk_tensor *all[] = {tx, tw, tb, tr, tu, ty, tv, tm};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(r); free(y); free(u); free(v);
    free(xf); free(wf); free(bf); free(rf); free(vg); free(vw);
}

static void bad_args(ctvk_ctx *ctx)
{
    ctvk_conv2d p = {0};
    ctvk_conv2d_same(3, 3, 2, 2, 8, 8, &p);
    CHECK(!ctvk_conv2d_winograd_ok(ctx, &p, (ctvk_shape){1, 8, 8, 4}, 4), "stride 2 called eligible");
    ctvk_conv2d_same(3, 3, 1, 1, 8, 8, &p);
    CHECK(!ctvk_conv2d_winograd_ok(ctx, &p, (ctvk_shape){1, 8, 8, 3}, 4), "Cin 3 called eligible");
    ctvk_tensor *x = check_tensor(ctx, (ctvk_shape){1, 8, 8, 4}, NULL, "x");
    ctvk_tensor *u = check_tensor(ctx, (ctvk_shape){1, 1, 1, 16 * 4 * 4}, NULL, "u");
    ctvk_tensor *y = check_tensor(ctx, (ctvk_shape){1, 8, 8, 4}, NULL, "y");
    ctvk_tensor *small = check_tensor(ctx, (ctvk_shape){1, 1, 1, 16}, NULL, "small");
    CHECK(ctvk_conv2d_forward_winograd(ctx, &p, 2, x, u, NULL, NULL, y, small, small) == CTVK_ERR_ARG,
          "small workspaces accepted");
    CHECK(ctvk_conv2d_winograd_weights(ctx, small, 4, 4, 2, 0, u) == CTVK_ERR_ARG, "wrong weight count accepted");
    CHECK(ctvk_conv2d_winograd_weights(ctx, small, 4, 4, 3, 0, u) == CTVK_ERR_ARG, "tile 3 accepted");
    ctvk_conv2d q;
    ctvk_conv2d_padded(3, 3, 1, 1, 3, 0, 0, 0, &p);
    CHECK(ctvk_conv2d_winograd_backward_geometry(&p, &q) == CTVK_ERR_ARG, "padding 3 accepted for the backward");
    ctvk_tensor_destroy(x); ctvk_tensor_destroy(u); ctvk_tensor_destroy(y); ctvk_tensor_destroy(small);
}

int main(void)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.variant = CTVK_VARIANT_CPU;
    ctvk_ctx *ctx = check_ctx(&o);
    printf("-- CPU kernels on %s\n", ctvk_device(ctx)->name);
    for (g_tile = 2; g_tile <= 4; g_tile += 2) {
        printf("-- F(%dx%d, 3x3)\n", g_tile, g_tile);
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(ctx, &cases[i], 500 + 10 * i);
    }
    bad_args(ctx);
    check_ctx_done(ctx);
    return check_done("test_wino");
}
