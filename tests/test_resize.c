/* Nearest resize (up, down, identity, odd ratios) and channel concat, forward and backward, against
 * the double references; finite-difference checks of the references' gradients; flatten as a view
 * (no kernel) gives Keras' (H, W, C) order. */
#include "tests/ops_test.h"

typedef struct { ctvk_shape xs, ys, bs; const double *g, *b; } rs_u;

static double loss_resize(void *p, const double *x)
{
    rs_u *u = p;
    size_t ny = shape_count(u->ys);
    double *y = dalloc(ny);
    ctvk_ref_resize_nearest(x, u->xs, y, u->ys);
    double r = dot(y, u->g, ny);
    free(y);
    return r;
}

static double loss_concat(void *p, const double *a)
{
    rs_u *u = p;
    size_t ny = shape_count(u->ys);
    double *y = dalloc(ny);
    ctvk_ref_concat(a, u->xs, u->b, u->bs, y);
    double r = dot(y, u->g, ny);
    free(y);
    return r;
}

static void resize(ctvk_ctx *ctx, ctvk_shape xs, int oh, int ow)
{
    ctvk_shape ys = {xs.n, oh, ow, xs.c};
    size_t nx = shape_count(xs), ny = shape_count(ys);
    double *x = drandom(nx, nx + 31, -2, 2), *g = drandom(ny, ny + 32, -1, 1), *old = drandom(nx, 33, -1, 1);
    double *y = dalloc(ny), *dx = dalloc(nx);
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y"), *tg = dtensor(ctx, ys, g, "g");
    OK(ctvk_resize_nearest(ctx, tx, ty));
    ctvk_ref_resize_nearest(x, xs, y, ys);
    EXPECT_CLOSE(ty, y, ny, "resize {%d,%d,%d,%d} -> %dx%d", xs.n, xs.h, xs.w, xs.c, oh, ow);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, xs, old, "dx");
        OK(ctvk_resize_nearest_backward(ctx, tg, tdx, acc));
        memcpy(dx, old, nx * sizeof *dx);
        ctvk_ref_resize_nearest_backward(g, ys, dx, xs, acc);
        EXPECT_CLOSE(tdx, dx, nx, "resize_backward {%d,%d,%d,%d} <- %dx%d acc=%d", xs.n, xs.h, xs.w, xs.c, oh, ow, acc);
        ctvk_tensor_destroy(tdx);
    }
    ctvk_ref_resize_nearest_backward(g, ys, dx, xs, 0);
    rs_u u = {xs, ys, ys, g, NULL};
    EXPECT_FD(loss_resize, &u, x, nx, dx, "resize_backward reference {%d,%d,%d,%d} -> %dx%d", xs.n, xs.h, xs.w, xs.c,
              oh, ow);
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tg);
    free(x); free(g); free(old); free(y); free(dx);
}

static void concat(ctvk_ctx *ctx, int n, int h, int w, int ca, int cb)
{
    ctvk_shape as = {n, h, w, ca}, bs = {n, h, w, cb}, ys = {n, h, w, ca + cb};
    size_t na = shape_count(as), nb = shape_count(bs), ny = shape_count(ys);
    double *a = drandom(na, na + 41, -2, 2), *b = drandom(nb, nb + 42, -2, 2), *g = drandom(ny, ny + 43, -1, 1);
    double *olda = drandom(na, 44, -1, 1), *oldb = drandom(nb, 45, -1, 1), *y = dalloc(ny);
    ctvk_tensor *ta = dtensor(ctx, as, a, "a"), *tb = dtensor(ctx, bs, b, "b"), *ty = dtensor(ctx, ys, NULL, "y");
    ctvk_tensor *tg = dtensor(ctx, ys, g, "g");
    OK(ctvk_concat(ctx, ta, tb, ty));
    ctvk_ref_concat(a, as, b, bs, y);
    EXPECT_CLOSE(ty, y, ny, "concat {%d,%d,%d} %d+%d", n, h, w, ca, cb);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tda = dtensor(ctx, as, olda, "da"), *tdb = dtensor(ctx, bs, oldb, "db");
        OK(ctvk_concat_backward(ctx, tg, tda, acc, tdb, !acc));
        double *da = dcopy(olda, na), *db = dcopy(oldb, nb);
        ctvk_ref_concat_backward(g, da, as, acc, db, bs, !acc);
        EXPECT_CLOSE(tda, da, na, "concat_backward {%d,%d,%d} %d+%d da acc=%d", n, h, w, ca, cb, acc);
        EXPECT_CLOSE(tdb, db, nb, "concat_backward {%d,%d,%d} %d+%d db acc=%d", n, h, w, ca, cb, !acc);
        ctvk_tensor_destroy(tda); ctvk_tensor_destroy(tdb);
        free(da); free(db);
    }
    double *da = dalloc(na), *db = dalloc(nb);
    ctvk_ref_concat_backward(g, da, as, 0, db, bs, 0);
    rs_u u = {as, ys, bs, g, b};
    EXPECT_FD(loss_concat, &u, a, na, da, "concat_backward reference {%d,%d,%d} %d+%d", n, h, w, ca, cb);
    ctvk_tensor_destroy(ta); ctvk_tensor_destroy(tb); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tg);
    free(a); free(b); free(g); free(olda); free(oldb); free(y); free(da); free(db);
}

/* Keras Flatten on NHWC = a view {N, 1, 1, H*W*C}: feature f of sample n is x[n, h, w, c] with
 * f = (h*W + w)*C + c. Checked through a device op on the view (the copy kernel). */
static void flatten(ctvk_ctx *ctx)
{
    ctvk_shape s = {3, 5, 7, 6};
    size_t n = shape_count(s);
    float *x = malloc(n * sizeof *x);
    for (int b = 0; b < s.n; b++)
        for (int h = 0; h < s.h; h++)
            for (int w = 0; w < s.w; w++)
                for (int c = 0; c < s.c; c++)
                    x[(((size_t)b * s.h + h) * s.w + w) * s.c + c] = (float)(b * 100000 + h * 1000 + w * 10 + c);
    ctvk_tensor *t = check_tensor(ctx, s, x, "x"), *v = NULL;
    ctvk_shape fs = {s.n, 1, 1, s.h * s.w * s.c};
    OK(ctvk_tensor_view(t, 0, fs, "x_flat", &v));
    ctvk_tensor *out = check_tensor(ctx, fs, NULL, "flat_copy");
    OK(ctvk_copy(ctx, v, out));
    float *got = check_download(out);
    int bad = 0;
    for (int b = 0; b < s.n; b++)
        for (int f = 0; f < fs.c; f++) {
            int h = f / (s.w * s.c), w = (f / s.c) % s.w, c = f % s.c;
            bad += got[(size_t)b * fs.c + f] != (float)(b * 100000 + h * 1000 + w * 10 + c);
        }
    printf("flatten view {%d,%d,%d,%d} -> {%d,1,1,%d}: %d features out of (H, W, C) order\n", s.n, s.h, s.w, s.c,
           fs.n, fs.c, bad);
    CHECK(bad == 0, "flatten: %d features out of order", bad);
    free(got); free(x);
    ctvk_tensor_destroy(out); ctvk_tensor_destroy(v); ctvk_tensor_destroy(t);
}

int main(void)
{
    ctvk_ctx *ctx = check_ctx(NULL);
    resize(ctx, (ctvk_shape){1, 1, 1, 3}, 1, 1);
    resize(ctx, (ctvk_shape){1, 1, 1, 3}, 7, 3);
    resize(ctx, (ctvk_shape){2, 16, 16, 5}, 32, 32);   /* FPN: P4 -> C3 size */
    resize(ctx, (ctvk_shape){2, 16, 16, 7}, 16, 16);   /* identity (P5 -> C4) */
    resize(ctx, (ctvk_shape){3, 7, 5, 31}, 31, 11);    /* odd ratios */
    resize(ctx, (ctvk_shape){1, 31, 17, 3}, 7, 5);     /* down */
    resize(ctx, (ctvk_shape){2, 3, 7, 9}, 4, 20);      /* mixed */
    concat(ctx, 1, 1, 1, 1, 1);
    concat(ctx, 2, 3, 7, 5, 3);
    concat(ctx, 1, 7, 7, 31, 1);
    concat(ctx, 2, 16, 16, 13, 67);
    concat(ctx, 3, 4, 5, 8, 8);
    flatten(ctx);
    check_ctx_done(ctx);
    return check_done("test_resize");
}
