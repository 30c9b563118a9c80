/* ReLU, add (+ReLU), their backward passes and zero padding / cropping against the double
 * references on awkward sizes; finite-difference checks of the references' gradients. */
#include "tests/ops_test.h"

/* ---- finite-difference losses: sum(y * g) of the reference forward */
typedef struct { size_t n; const double *g, *b; int relu; ctvk_shape xs, ys; int top, left; } fd_u;

static double loss_relu(void *p, const double *x)
{
    fd_u *u = p;
    double *y = dalloc(u->n);
    ctvk_ref_relu(x, y, u->n);
    double s = dot(y, u->g, u->n);
    free(y);
    return s;
}

static double loss_add(void *p, const double *a)
{
    fd_u *u = p;
    double *y = dalloc(u->n);
    ctvk_ref_add(a, u->b, y, u->n, u->relu);
    double s = dot(y, u->g, u->n);
    free(y);
    return s;
}

static double loss_pad(void *p, const double *x)
{
    fd_u *u = p;
    size_t n = shape_count(u->ys);
    double *y = dalloc(n);
    ctvk_ref_pad(x, u->xs, y, u->ys, u->top, u->left, 0);
    double s = dot(y, u->g, n);
    free(y);
    return s;
}

static void elementwise(ctvk_ctx *ctx, int n)
{
    ctvk_shape s = {1, 1, 1, n};
    size_t N = (size_t)n;
    double *a = drandom(N, 10 + N, -1, 1), *b = drandom(N, 20 + N, -1, 1), *g = drandom(N, 30 + N, -1, 1);
    double *old = drandom(N, 40 + N, -1, 1), *ref = dalloc(N), *ref2 = dalloc(N);
    ctvk_tensor *ta = dtensor(ctx, s, a, "a"), *tb = dtensor(ctx, s, b, "b"), *tg = dtensor(ctx, s, g, "g");
    ctvk_tensor *ty = dtensor(ctx, s, NULL, "y"), *tz = dtensor(ctx, s, old, "z");

    OK(ctvk_relu(ctx, ta, ty));
    ctvk_ref_relu(a, ref, N);
    EXPECT_CLOSE(ty, ref, N, "relu n=%d", n);

    for (int relu = 0; relu < 2; relu++) {
        OK(ctvk_add(ctx, ta, tb, ty, relu));
        ctvk_ref_add(a, b, ref, N, relu);
        EXPECT_CLOSE(ty, ref, N, "add%s n=%d", relu ? "+relu" : "", n);
    }
    /* mask = add+relu output (still in ty) */
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, s, old, "dx");
        OK(ctvk_relu_backward(ctx, tg, ty, tdx, acc));
        memcpy(ref2, old, N * sizeof *ref2);
        ctvk_ref_relu_backward(g, ref, ref2, N, acc);
        EXPECT_CLOSE(tdx, ref2, N, "relu_backward acc=%d n=%d", acc, n);
        ctvk_tensor_destroy(tdx);
    }
    for (int mask = 0; mask < 2; mask++)
        for (int acc = 0; acc < 2; acc++) {
            ctvk_tensor *tda = dtensor(ctx, s, old, "da"), *tdb = dtensor(ctx, s, a, "db");
            OK(ctvk_add_backward(ctx, tg, mask ? ty : NULL, tda, acc, tdb, !acc));
            double *ra = dcopy(old, N), *rb = dcopy(a, N);
            ctvk_ref_add_backward(g, mask ? ref : NULL, ra, acc, rb, !acc, N);
            EXPECT_CLOSE(tda, ra, N, "add_backward mask=%d acc_a=%d n=%d (da)", mask, acc, n);
            EXPECT_CLOSE(tdb, rb, N, "add_backward mask=%d acc_b=%d n=%d (db)", mask, !acc, n);
            free(ra); free(rb);
            ctvk_tensor_destroy(tda); ctvk_tensor_destroy(tdb);
        }
    /* in place: z = relu(z) */
    OK(ctvk_relu(ctx, tz, tz));
    ctvk_ref_relu(old, ref, N);
    EXPECT_CLOSE(tz, ref, N, "relu in place n=%d", n);

    ctvk_tensor_destroy(ta); ctvk_tensor_destroy(tb); ctvk_tensor_destroy(tg);
    ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tz);
    free(a); free(b); free(g); free(old); free(ref); free(ref2);
}

static void pad(ctvk_ctx *ctx, ctvk_shape xs, int t, int bo, int l, int r)
{
    ctvk_shape ys = {xs.n, xs.h + t + bo, xs.w + l + r, xs.c};
    size_t nx = shape_count(xs), ny = shape_count(ys);
    double *x = drandom(nx, nx + 1, -2, 2), *g = drandom(ny, ny + 2, -2, 2), *old = drandom(nx, 7, -1, 1);
    double *y = dalloc(ny), *dx = dalloc(nx);
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y"), *tg = dtensor(ctx, ys, g, "g");
    OK(ctvk_pad(ctx, tx, ty, t, bo, l, r));
    ctvk_ref_pad(x, xs, y, ys, t, l, 0);
    EXPECT_CLOSE(ty, y, ny, "pad {%d,%d,%d,%d} by (%d,%d,%d,%d)", xs.n, xs.h, xs.w, xs.c, t, bo, l, r);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, xs, old, "dx");
        OK(ctvk_pad_backward(ctx, tg, tdx, t, bo, l, r, acc));
        memcpy(dx, old, nx * sizeof *dx);
        ctvk_ref_pad(g, ys, dx, xs, -t, -l, acc);
        EXPECT_CLOSE(tdx, dx, nx, "pad_backward {%d,%d,%d,%d} acc=%d", xs.n, xs.h, xs.w, xs.c, acc);
        ctvk_tensor_destroy(tdx);
    }
    /* the reference's gradient vs finite differences */
    ctvk_ref_pad(g, ys, dx, xs, -t, -l, 0);
    fd_u u = {.g = g, .xs = xs, .ys = ys, .top = t, .left = l};
    EXPECT_FD(loss_pad, &u, x, nx, dx, "pad_backward reference {%d,%d,%d,%d}", xs.n, xs.h, xs.w, xs.c);
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tg);
    free(x); free(g); free(old); free(y); free(dx);
}

static void fd_refs(void)
{
    size_t n = 101;
    double *x = drandom(n, 1, -1, 1), *b = drandom(n, 2, -1, 1), *g = drandom(n, 3, -1, 1), *dx = dalloc(n);
    double *y = dalloc(n), *db = dalloc(n);
    fd_u u = {.n = n, .g = g, .b = b};
    ctvk_ref_relu(x, y, n);
    ctvk_ref_relu_backward(g, y, dx, n, 0);
    EXPECT_FD(loss_relu, &u, x, n, dx, "relu_backward reference n=%zu", n);
    for (int relu = 0; relu < 2; relu++) {
        u.relu = relu;
        ctvk_ref_add(x, b, y, n, relu);
        ctvk_ref_add_backward(g, relu ? y : NULL, dx, 0, db, 0, n);
        EXPECT_FD(loss_add, &u, x, n, dx, "add%s backward reference n=%zu", relu ? "+relu" : "", n);
    }
    free(x); free(b); free(g); free(dx); free(y); free(db);
}

int main(void)
{
    fd_refs();
    ctvk_ctx *ctx = check_ctx(NULL);
    static const int sizes[] = {1, 3, 7, 31, 1000, 65537};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) elementwise(ctx, sizes[i]);
    pad(ctx, (ctvk_shape){1, 1, 1, 1}, 1, 1, 1, 1);
    pad(ctx, (ctvk_shape){2, 7, 3, 5}, 3, 3, 3, 3);
    pad(ctx, (ctvk_shape){3, 31, 7, 3}, 0, 1, 0, 1);    /* TF 'same' stride 2 */
    pad(ctx, (ctvk_shape){1, 16, 17, 31}, 1, 0, 2, 0);
    pad(ctx, (ctvk_shape){2, 5, 6, 7}, 0, 0, 0, 0);
    check_ctx_done(ctx);
    return check_done("test_act");
}
