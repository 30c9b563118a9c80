/* Max pool (with fused zero padding; ties; k = 1 strided shortcut) and its argmax-routed backward,
 * global average pool forward/backward, against the double references; finite-difference checks
 * of the references' gradients. */
#include "tests/ops_test.h"

typedef struct { ctvk_shape xs, ys; const double *g; int k, s, pt, pl; } pool_u;

static double loss_maxpool(void *p, const double *x)
{
    pool_u *u = p;
    size_t ny = shape_count(u->ys);
    double *y = dalloc(ny);
    ctvk_ref_maxpool(x, u->xs, y, u->ys, NULL, u->k, u->s, u->pt, u->pl);
    double r = dot(y, u->g, ny);
    free(y);
    return r;
}

static double loss_gap(void *p, const double *x)
{
    pool_u *u = p;
    size_t ny = shape_count(u->ys);
    double *y = dalloc(ny);
    ctvk_ref_gap(x, u->xs, y);
    double r = dot(y, u->g, ny);
    free(y);
    return r;
}

static void maxpool(ctvk_ctx *ctx, ctvk_shape xs, int k, int s, int pt, int pb, int pl, int pr, double lo, int ties)
{
    ctvk_shape ys = {xs.n, (xs.h + pt + pb - k) / s + 1, (xs.w + pl + pr - k) / s + 1, xs.c};
    size_t nx = shape_count(xs), ny = shape_count(ys);
    double *x = drandom(nx, nx + 11, lo, lo + 2), *g = drandom(ny, ny + 12, -1, 1), *old = drandom(nx, 13, -1, 1);
    if (ties)   /* few distinct values: ties everywhere, to pin down "first maximum" */
        for (size_t i = 0; i < nx; i++) x[i] = floor(x[i] * 1.5);
    double *y = dalloc(ny), *dx = dalloc(nx);
    uint32_t *arg = calloc(ny, sizeof *arg);
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y"), *tg = dtensor(ctx, ys, g, "g");
    ctvk_tensor *targ = NULL, *ty2 = dtensor(ctx, ys, NULL, "y2");
    if (ctvk_tensor_create(ctx, CTVK_U32, ys, "argmax", &targ) != CTVK_OK) { CHECK(0, "argmax tensor"); return; }
    OK(ctvk_maxpool(ctx, tx, ty, targ, k, s, pt, pb, pl, pr));
    OK(ctvk_maxpool(ctx, tx, ty2, NULL, k, s, pt, pb, pl, pr));   /* inference form */
    ctvk_ref_maxpool(x, xs, y, ys, arg, k, s, pt, pl);
    EXPECT_CLOSE(ty, y, ny, "maxpool {%d,%d,%d,%d} %dx%d/%d pad (%d,%d,%d,%d)%s", xs.n, xs.h, xs.w, xs.c, k, k, s, pt,
                 pb, pl, pr, ties ? " ties" : "");
    EXPECT_CLOSE(ty2, y, ny, "maxpool without argmax {%d,%d,%d,%d}", xs.n, xs.h, xs.w, xs.c);
    uint32_t *garg = malloc(ny * sizeof *garg);
    OK(ctvk_tensor_download(targ, garg, ny * sizeof *garg));
    size_t bad = 0;
    for (size_t i = 0; i < ny; i++) bad += garg[i] != arg[i];
    CHECK(bad == 0, "maxpool argmax: %zu of %zu differ from the reference", bad, ny);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, xs, old, "dx");
        OK(ctvk_maxpool_backward(ctx, tg, targ, tdx, k, s, pt, pb, pl, pr, acc));
        memcpy(dx, old, nx * sizeof *dx);
        ctvk_ref_maxpool_backward(g, ys, arg, dx, xs, k, s, pt, pl, acc);
        EXPECT_CLOSE(tdx, dx, nx, "maxpool_backward {%d,%d,%d,%d} acc=%d%s", xs.n, xs.h, xs.w, xs.c, acc,
                     ties ? " ties" : "");
        ctvk_tensor_destroy(tdx);
    }
    if (!ties && nx <= 50000) {   /* distinct values: the max is differentiable (small: FD is slow) */
        ctvk_ref_maxpool_backward(g, ys, arg, dx, xs, k, s, pt, pl, 0);
        pool_u u = {xs, ys, g, k, s, pt, pl};
        EXPECT_FD(loss_maxpool, &u, x, nx, dx, "maxpool_backward reference {%d,%d,%d,%d} %dx%d/%d", xs.n, xs.h, xs.w,
                  xs.c, k, k, s);
    }
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(ty2); ctvk_tensor_destroy(tg);
    ctvk_tensor_destroy(targ);
    free(x); free(g); free(old); free(y); free(dx); free(arg); free(garg);
}

static void gap(ctvk_ctx *ctx, ctvk_shape xs)
{
    ctvk_shape ys = {xs.n, 1, 1, xs.c};
    size_t nx = shape_count(xs), ny = shape_count(ys);
    double *x = drandom(nx, nx + 21, -1, 2), *g = drandom(ny, ny + 22, -1, 1), *old = drandom(nx, 23, -1, 1);
    double *y = dalloc(ny), *dx = dalloc(nx);
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y"), *tg = dtensor(ctx, ys, g, "g");
    OK(ctvk_gap(ctx, tx, ty));
    ctvk_ref_gap(x, xs, y);
    EXPECT_CLOSE(ty, y, ny, "gap {%d,%d,%d,%d}", xs.n, xs.h, xs.w, xs.c);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, xs, old, "dx");
        OK(ctvk_gap_backward(ctx, tg, tdx, acc));
        memcpy(dx, old, nx * sizeof *dx);
        ctvk_ref_gap_backward(g, dx, xs, acc);
        EXPECT_CLOSE(tdx, dx, nx, "gap_backward {%d,%d,%d,%d} acc=%d", xs.n, xs.h, xs.w, xs.c, acc);
        ctvk_tensor_destroy(tdx);
    }
    ctvk_ref_gap_backward(g, dx, xs, 0);
    pool_u u = {.xs = xs, .ys = ys, .g = g};
    EXPECT_FD(loss_gap, &u, x, nx, dx, "gap_backward reference {%d,%d,%d,%d}", xs.n, xs.h, xs.w, xs.c);
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tg);
    free(x); free(g); free(old); free(y); free(dx);
}

/* hand-made: padded zeros win over negative inputs, and ties go to the first position */
static void known(ctvk_ctx *ctx)
{
    ctvk_shape xs = {1, 2, 2, 1}, ys = {1, 1, 1, 1};
    double x[4] = {-1, -2, -3, -4}, g[1] = {5};
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y"), *tg = dtensor(ctx, ys, g, "g");
    ctvk_tensor *targ, *tdx = dtensor(ctx, xs, NULL, "dx");
    if (ctvk_tensor_create(ctx, CTVK_U32, ys, "argmax", &targ) != CTVK_OK) return;
    /* 3x3/2 on the input padded by 1 on top/left: window = [0 0 0; 0 -1 -2; 0 -3 -4] */
    OK(ctvk_maxpool(ctx, tx, ty, targ, 3, 2, 1, 0, 1, 0));
    OK(ctvk_maxpool_backward(ctx, tg, targ, tdx, 3, 2, 1, 0, 1, 0, 0));
    float y, dx[4];
    uint32_t a;
    OK(ctvk_tensor_download(ty, &y, sizeof y));
    OK(ctvk_tensor_download(targ, &a, sizeof a));
    OK(ctvk_tensor_download(tdx, dx, sizeof dx));
    CHECK(y == 0.0f && a == 0, "padded zeros take part: got max %g at %u, want 0 at 0", y, a);
    CHECK(dx[0] == 0 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0, "a padded max passes no gradient");
    /* ties: all equal -> position 0 */
    double t[4] = {2, 2, 2, 2};
    OK(ctvk_tensor_upload(tx, (float[4]){2, 2, 2, 2}, sizeof(float[4])));
    (void)t;
    OK(ctvk_maxpool(ctx, tx, ty, targ, 2, 1, 0, 0, 0, 0));
    OK(ctvk_maxpool_backward(ctx, tg, targ, tdx, 2, 1, 0, 0, 0, 0, 0));
    OK(ctvk_tensor_download(targ, &a, sizeof a));
    OK(ctvk_tensor_download(tdx, dx, sizeof dx));
    CHECK(a == 0 && dx[0] == 5 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0, "ties go to the first maximum: arg %u, dx "
          "%g %g %g %g", a, dx[0], dx[1], dx[2], dx[3]);
    OK(ctvk_tensor_upload(tx, (float[4]){1, 3, 3, 2}, sizeof(float[4])));
    OK(ctvk_maxpool(ctx, tx, ty, targ, 2, 1, 0, 0, 0, 0));
    OK(ctvk_tensor_download(targ, &a, sizeof a));
    CHECK(a == 1, "first of two equal maxima in row-major order: got %u, want 1", a);
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tg); ctvk_tensor_destroy(targ);
    ctvk_tensor_destroy(tdx);
}

int main(void)
{
    ctvk_ctx *ctx = check_ctx(NULL);
    known(ctx);
    maxpool(ctx, (ctvk_shape){1, 1, 1, 1}, 1, 1, 0, 0, 0, 0, -1, 0);
    maxpool(ctx, (ctvk_shape){2, 7, 7, 3}, 3, 2, 1, 1, 1, 1, -1, 0);      /* the ResNet stem: pad 1, 3x3/2 */
    maxpool(ctx, (ctvk_shape){1, 31, 30, 5}, 3, 2, 1, 1, 1, 1, -3, 0);    /* mostly negative: padding wins often */
    maxpool(ctx, (ctvk_shape){3, 8, 8, 7}, 3, 2, 1, 1, 1, 1, -1, 1);      /* ties */
    maxpool(ctx, (ctvk_shape){2, 7, 9, 31}, 1, 2, 0, 0, 0, 0, -1, 0);     /* V2 shortcut MaxPool(1, 2) */
    maxpool(ctx, (ctvk_shape){1, 7, 3, 2}, 2, 2, 0, 0, 0, 0, -1, 0);      /* drops a trailing row */
    maxpool(ctx, (ctvk_shape){2, 6, 5, 9}, 3, 1, 0, 2, 1, 0, -1, 0);      /* asymmetric padding, stride 1 */
    maxpool(ctx, (ctvk_shape){14, 33, 33, 64}, 3, 2, 1, 1, 1, 1, -1, 0);  /* stem-like, batch 14 */
    /* C % 4 == 0 runs 4 channels per invocation: ties, padding winning, stride-2 1x1, odd sizes */
    maxpool(ctx, (ctvk_shape){3, 8, 8, 8}, 3, 2, 1, 1, 1, 1, -1, 1);
    maxpool(ctx, (ctvk_shape){1, 31, 30, 4}, 3, 2, 1, 1, 1, 1, -3, 0);
    maxpool(ctx, (ctvk_shape){2, 7, 9, 12}, 1, 2, 0, 0, 0, 0, -1, 0);
    maxpool(ctx, (ctvk_shape){2, 6, 5, 8}, 3, 1, 0, 2, 1, 0, -1, 0);
    gap(ctx, (ctvk_shape){1, 1, 1, 3});
    gap(ctx, (ctvk_shape){2, 7, 3, 31});
    gap(ctx, (ctvk_shape){3, 16, 16, 67});
    gap(ctx, (ctvk_shape){1, 100, 70, 5});
    check_ctx_done(ctx);
    return check_done("test_pool");
}
