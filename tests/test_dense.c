/* dense (y = x W + b): finite-difference check of the backward references in double, then the
 * Vulkan kernels (forward with bias/ReLU, dx, dW, db, overwrite and accumulate, flattened NHWC
 * input; the split-K forward) against the C references, for both kernel families. */
#include "net/conv.h"
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dcase { int n, h, w, c, out, relu; } dcase;   /* x is n x h x w x c, in = h*w*c */

static const dcase cases[] = {
    {1, 1, 1, 1, 1, 0}, {2, 1, 1, 7, 3, 1}, {3, 1, 1, 31, 2, 0}, {8, 1, 1, 1000, 10, 1},
    {2, 5, 6, 7, 2, 1}, {1, 1, 1, 64, 70, 0}, {4, 1, 1, 256, 256, 1}, {2, 1, 1, 10, 2, 0},
};

static float *rnd(size_t n, uint64_t seed)
{
    float *a = malloc(n * sizeof *a);
    check_fill_uniform(a, n, seed, -1, 1);
    return a;
}

/* FD of L = sum(y * g), y = x W + b, in double via the conv references with 1x1 geometry. */
static void fd_check(int n, int in, int out, uint64_t seed)
{
    ctvk_conv2d p = {1, 1, 1, 1, 0, 0, 0, 0, 0};
    ctvk_shape xs = {n, 1, 1, in}, ys = {n, 1, 1, out};
    size_t nx = (size_t)n * in, nw = (size_t)in * out, ny = (size_t)n * out;
    double *x = malloc(nx * 8), *w = malloc(nw * 8), *b = malloc((size_t)out * 8), *g = malloc(ny * 8);
    double *y = malloc(ny * 8), *dx = malloc(nx * 8), *dw = malloc(nw * 8), *db = malloc((size_t)out * 8);
    uint64_t s = seed;
    for (size_t i = 0; i < nx; i++) x[i] = check_rng_uniform(&s, -1, 1);
    for (size_t i = 0; i < nw; i++) w[i] = check_rng_uniform(&s, -1, 1);
    for (int i = 0; i < out; i++) b[i] = check_rng_uniform(&s, -1, 1);
    for (size_t i = 0; i < ny; i++) g[i] = check_rng_uniform(&s, -1, 1);
    ctvk_ref_conv2d_backward_data_f64(&p, ys, g, w, xs, dx, 0);
    ctvk_ref_conv2d_backward_weights_f64(&p, xs, x, ys, g, dw, db, 0);
    double *vars[3] = {x, w, b}, *an[3] = {dx, dw, db}, worst[3] = {0, 0, 0};
    size_t cnt[3] = {nx, nw, (size_t)out};
    for (int v = 0; v < 3; v++)
        for (size_t i = 0; i < cnt[v]; i++) {
            double keep = vars[v][i], l[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                vars[v][i] = keep + (sgn ? -1e-5 : 1e-5);
                ctvk_ref_conv2d_forward_f64(&p, xs, x, w, b, ys, y);
                l[sgn] = 0;
                for (size_t k = 0; k < ny; k++) l[sgn] += y[k] * g[k];
            }
            vars[v][i] = keep;
            double e = fabs((l[0] - l[1]) / 2e-5 - an[v][i]) / fmax(1.0, fabs(an[v][i]));
            if (!(e <= worst[v])) worst[v] = e;
        }
    printf("finite differences dense %dx%d->%d: dx %.2e  dW %.2e  db %.2e\n", n, in, out, worst[0], worst[1], worst[2]);
    CHECK(worst[0] < 1e-7 && worst[1] < 1e-7 && worst[2] < 1e-7, "dense finite differences");
    free(x); free(w); free(b); free(g); free(y); free(dx); free(dw); free(db);
}

static double worst_all;

static void expect(const char *what, const dcase *d, ctvk_tensor *t, const float *want, size_t n)
{
    float *got = check_download(t);
    double e = check_rel_err(got, want, n, 1e-3);
    if (e > worst_all) worst_all = e;
    printf("  %dx%dx%dx%d -> %-4d %-14s worst relative error %.3g\n", d->n, d->h, d->w, d->c, d->out, what, e);
    CHECK(e <= 1e-4, "dense %s: error %g", what, e);
    free(got);
}

static void run(ctvk_ctx *ctx, const dcase *d, uint64_t seed)
{
    int in = d->h * d->w * d->c;
    size_t nx = (size_t)d->n * in, nw = (size_t)in * d->out, ny = (size_t)d->n * d->out, nb = (size_t)d->out;
    float *x = rnd(nx, seed), *w = rnd(nw, seed + 1), *b = rnd(nb, seed + 2), *g = rnd(ny, seed + 3);
    float *dx0 = rnd(nx, seed + 4), *dw0 = rnd(nw, seed + 5), *db0 = rnd(nb, seed + 6);
    ctvk_tensor *tx = check_tensor(ctx, (ctvk_shape){d->n, d->h, d->w, d->c}, x, "x");
    ctvk_tensor *tw = check_tensor(ctx, (ctvk_shape){1, 1, in, d->out}, w, "w");
    ctvk_tensor *tb = check_tensor(ctx, (ctvk_shape){1, 1, 1, d->out}, b, "b");
    ctvk_tensor *tg = check_tensor(ctx, (ctvk_shape){d->n, 1, 1, d->out}, g, "dy");
    ctvk_tensor *ty = check_tensor(ctx, (ctvk_shape){d->n, 1, 1, d->out}, NULL, "y");
    ctvk_tensor *tdx = check_tensor(ctx, (ctvk_shape){d->n, d->h, d->w, d->c}, dx0, "dx");
    ctvk_tensor *tdw = check_tensor(ctx, (ctvk_shape){1, 1, in, d->out}, dw0, "dw");
    ctvk_tensor *tdb = check_tensor(ctx, (ctvk_shape){1, 1, 1, d->out}, db0, "db");
    float *ry = malloc(ny * 4), *rdx = malloc(nx * 4), *rdw = malloc(nw * 4), *rdb = malloc(nb * 4);

    CHECK(ctvk_dense_forward(ctx, tx, tw, tb, d->relu, ty) == CTVK_OK, "dense_forward: %s", ctvk_error());
    ctvk_ref_dense_forward(d->n, in, d->out, x, w, b, d->relu, ry);
    expect(d->relu ? "forward+relu" : "forward", d, ty, ry, ny);
    /* accumulate onto the old contents */
    CHECK(ctvk_dense_backward_data(ctx, tg, tw, tdx, 1) == CTVK_OK, "dense_backward_data: %s", ctvk_error());
    CHECK(ctvk_dense_backward_weights(ctx, tx, tg, tdw, tdb, 1) == CTVK_OK, "dense_backward_weights: %s",
          ctvk_error());
    memcpy(rdx, dx0, nx * 4); memcpy(rdw, dw0, nw * 4); memcpy(rdb, db0, nb * 4);
    ctvk_ref_dense_backward_data(d->n, in, d->out, g, w, rdx, 1);
    ctvk_ref_dense_backward_weights(d->n, in, d->out, x, g, rdw, rdb, 1);
    expect("dx (+= old)", d, tdx, rdx, nx);
    expect("dW (+= old)", d, tdw, rdw, nw);
    expect("db (+= old)", d, tdb, rdb, nb);
    /* overwrite */
    CHECK(ctvk_dense_backward_data(ctx, tg, tw, tdx, 0) == CTVK_OK, "dense_backward_data: %s", ctvk_error());
    CHECK(ctvk_dense_backward_weights(ctx, tx, tg, tdw, tdb, 0) == CTVK_OK, "dense_backward_weights: %s",
          ctvk_error());
    ctvk_ref_dense_backward_data(d->n, in, d->out, g, w, rdx, 0);
    ctvk_ref_dense_backward_weights(d->n, in, d->out, x, g, rdw, rdb, 0);
    expect("dx", d, tdx, rdx, nx);
    expect("dW", d, tdw, rdw, nw);
    expect("db", d, tdb, rdb, nb);

    /* a wrong weight count is refused */
    CHECK(ctvk_dense_forward(ctx, tx, tb, NULL, 0, ty) == CTVK_ERR_ARG || nw == nb, "wrong weights accepted");

    ctvk_tensor *all[] = {tx, tw, tb, tg, ty, tdx, tdw, tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(g); free(dx0); free(dw0); free(db0);
    free(ry); free(rdx); free(rdw); free(rdb);
}

/* Split-K forward (few rows and outputs, long input) against the reference; misuse refused. */
static const dcase splitk_cases[] = {
    {1, 1, 1, 1024, 2, 1}, {3, 15, 15, 256, 2, 0}, {14, 1, 1, 10007, 16, 1}, {2, 8, 8, 200, 5, 0},
    {10, 1, 1, 10, 2, 0}, {16, 1, 1, 1, 16, 1},   /* short inputs (inference plans: the FPN's last layer) */
};

static void splitk(ctvk_ctx *ctx, const dcase *d, uint64_t seed)
{
    size_t in = (size_t)d->h * d->w * d->c, nx = (size_t)d->n * in, nw = in * (size_t)d->out;
    size_t ny = (size_t)d->n * (size_t)d->out;
    CHECK(ctvk_dense_splitk_fits(d->n, in, d->out) && ctvk_dense_splitk_ok(d->n, in, d->out) == (in >= 1024),
          "split-K eligibility of %d x %zu -> %d", d->n, in, d->out);
    float *x = rnd(nx, seed), *w = rnd(nw, seed + 1), *b = rnd((size_t)d->out, seed + 2), *ry = malloc(ny * sizeof *ry);
    size_t nws = ctvk_dense_splitk_workspace(d->n, in, d->out);
    ctvk_tensor *tx = check_tensor(ctx, (ctvk_shape){d->n, d->h, d->w, d->c}, x, "x");
    ctvk_tensor *tw = check_tensor(ctx, (ctvk_shape){1, 1, (int)in, d->out}, w, "w");
    ctvk_tensor *tb = check_tensor(ctx, (ctvk_shape){1, 1, 1, d->out}, b, "b");
    ctvk_tensor *ty = check_tensor(ctx, (ctvk_shape){d->n, 1, 1, d->out}, NULL, "y");
    ctvk_tensor *tws = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)nws}, NULL, "work");
    for (int bias = 0; bias < 2; bias++) {
        CHECK(ctvk_dense_forward_splitk(ctx, tx, tw, bias ? tb : NULL, d->relu, ty, tws) == CTVK_OK, "split-K: %s",
              ctvk_error());
        ctvk_ref_dense_forward(d->n, (int)in, d->out, x, w, bias ? b : NULL, d->relu, ry);
        expect(bias ? "split-K+bias" : "split-K", d, ty, ry, ny);
    }
    ctvk_tensor *small = check_tensor(ctx, (ctvk_shape){1, 1, 1, 1}, NULL, "small");
    CHECK(ctvk_dense_forward_splitk(ctx, tx, tw, tb, 0, ty, small) == CTVK_ERR_ARG, "small workspace accepted");
    CHECK(!ctvk_dense_splitk_ok(1, 1000, 2) && !ctvk_dense_splitk_ok(1, 5000, 17) && !ctvk_dense_splitk_ok(17, 5000, 2),
          "split-K eligibility");
    CHECK(ctvk_dense_splitk_fits(1, 1000, 2) && !ctvk_dense_splitk_fits(1, 5000, 17) &&
          !ctvk_dense_splitk_fits(17, 5000, 2) && !ctvk_dense_splitk_fits(1, 0, 2), "split-K limits");
    ctvk_tensor *all[] = {tx, tw, tb, ty, tws, small};
    for (int i = 0; i < 6; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(ry);
}

int main(void)
{
    fd_check(3, 5, 4, 7);
    fd_check(1, 1, 2, 8);
    for (int v = 0; v < 2; v++) {
        ctvk_options o;
        ctvk_options_default(&o);
        o.variant = v ? CTVK_VARIANT_GPU : CTVK_VARIANT_CPU;
        ctvk_ctx *ctx = check_ctx(&o);
        printf("-- %s variant on %s\n", v ? "GPU" : "CPU", ctvk_device(ctx)->name);
        worst_all = 0;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run(ctx, &cases[i], 500 + 10 * i);
        for (size_t i = 0; i < sizeof splitk_cases / sizeof *splitk_cases; i++)
            splitk(ctx, &splitk_cases[i], 700 + 10 * i);
        printf("%s variant: worst relative error %.3g\n", v ? "GPU" : "CPU", worst_all);
        check_ctx_done(ctx);
    }
    return check_done("test_dense");
}
