/* Space-to-depth (net/s2d.c): the rearranged input and filters against their double references,
 * and the 'valid' stride-1 conv of the rearranged pair against the direct stride-2 conv reference
 * (stems: 1 and 3 channels, 7x7 and 3x3 kernels, even and odd padded sizes, batches). */
#include "net/conv.h"
#include "tests/ops_test.h"

typedef struct scase { const char *name; int n, h, w, c, k, ks, pt, pb, pl, pr, relu; } scase;

static const scase cases[] = {
    {"1x21x23x1 7x7/2 pad 3 ->8", 1, 21, 23, 1, 8, 7, 3, 3, 3, 3, 0},
    {"2x17x19x3 7x7/2 pad 2,3 ->12 relu", 2, 17, 19, 3, 12, 7, 2, 3, 2, 3, 1},
    {"1x8x8x1 3x3/2 pad 0,1 ->4", 1, 8, 8, 1, 4, 3, 0, 1, 0, 1, 0},
    {"3x9x10x2 3x3/2 pad 1 ->16 relu", 3, 9, 10, 2, 16, 3, 1, 1, 1, 1, 1},
};

static void run(ctvk_ctx *ctx, const scase *t, uint64_t seed)
{
    ctvk_conv2d p, q;
    CHECK(ctvk_conv2d_padded(t->ks, t->ks, 2, 2, t->pt, t->pb, t->pl, t->pr, &p) == CTVK_OK, "%s: geometry", t->name);
    p.relu = t->relu;
    ctvk_shape xs = {t->n, t->h, t->w, t->c}, ys, x2s;
    CHECK(ctvk_conv2d_out_shape(&p, xs, t->k, &ys) == CTVK_OK, "%s: out shape", t->name);
    if (!ctvk_conv2d_s2d_geometry(&p, xs, &q, &x2s)) {
        CHECK(0, "%s: not rearranged", t->name);
        return;
    }
    size_t nx = shape_count(xs), ny = shape_count(ys), nx2 = shape_count(x2s);
    size_t nw = (size_t)t->ks * t->ks * t->c * t->k, nw2 = (size_t)q.kh * q.kw * 4 * t->c * t->k;
    double *x = drandom(nx, seed, -1, 1), *w = drandom(nw, seed + 1, -1, 1), *b = drandom((size_t)t->k, seed + 2, -1, 1);
    double *x2 = dalloc(nx2), *w2 = dalloc(nw2), *y = dalloc(ny);
    for (size_t i = 0; i < nx; i++) x[i] = (float)x[i];
    for (size_t i = 0; i < nw; i++) w[i] = (float)w[i];
    for (int i = 0; i < t->k; i++) b[i] = (float)b[i];
    ctvk_ref_space_to_depth(&p, xs, x, x2s, x2);
    ctvk_ref_space_to_depth_weights(&p, t->c, t->k, w, w2);
    ctvk_ref_conv2d_forward_f64(&p, xs, x, w, b, ys, y);
    /* the references composed: conv(q, x2, w2) == conv(p, x, w) */
    double *yq = dalloc(ny), worst = 0;
    ctvk_ref_conv2d_forward_f64(&q, x2s, x2, w2, b, ys, yq);
    for (size_t i = 0; i < ny; i++) worst = fmax(worst, fabs(yq[i] - y[i]));
    printf("%-40s references: rearranged conv vs direct %.3g\n", t->name, worst);
    CHECK(worst < 1e-12, "%s: rearranged reference conv differs by %g", t->name, worst);

    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *tw = dtensor(ctx, (ctvk_shape){t->ks, t->ks, t->c, t->k}, w, "w");
    ctvk_tensor *tb = dtensor(ctx, (ctvk_shape){1, 1, 1, t->k}, b, "b"), *tx2 = dtensor(ctx, x2s, NULL, "x2");
    ctvk_tensor *tw2 = dtensor(ctx, (ctvk_shape){q.kh, q.kw, 4 * t->c, t->k}, NULL, "w2");
    ctvk_tensor *ty = dtensor(ctx, ys, NULL, "y");
    OK(ctvk_space_to_depth(ctx, &p, tx, tx2));
    OK(ctvk_space_to_depth_weights(ctx, &p, tw, t->c, t->k, tw2));
    OK(ctvk_conv2d_forward(ctx, &q, tx2, tw2, tb, ty));
    EXPECT_CLOSE(tx2, x2, nx2, "%s x2", t->name);
    EXPECT_CLOSE(tw2, w2, nw2, "%s w2", t->name);
    EXPECT_CLOSE(ty, y, ny, "%s conv", t->name);
    CHECK(ctvk_space_to_depth(ctx, &p, tx, ty) == CTVK_ERR_ARG, "%s: wrong x2 shape accepted", t->name);
    ctvk_tensor *all[] = {tx, tw, tb, tx2, tw2, ty};
    for (int i = 0; i < 6; i++) ctvk_tensor_destroy(all[i]);
    free(x); free(w); free(b); free(x2); free(w2); free(y); free(yq);
}

int main(void)
{
    ctvk_conv2d p, q;
    ctvk_shape x2s;
    ctvk_conv2d_same(3, 3, 1, 1, 8, 8, &p);
    CHECK(!ctvk_conv2d_s2d_geometry(&p, (ctvk_shape){1, 8, 8, 1}, &q, &x2s), "stride 1 rearranged");
    ctvk_options o;
    ctvk_options_default(&o);
    for (int v = 0; v < 2; v++) {
        o.variant = v ? CTVK_VARIANT_GPU : CTVK_VARIANT_CPU;
        ctvk_ctx *ctx = check_ctx(&o);
        printf("-- %s kernels\n", v ? "GPU" : "CPU");
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run(ctx, &cases[i], 800 + 10 * i);
        check_ctx_done(ctx);
    }
    return check_done("test_s2d");
}
