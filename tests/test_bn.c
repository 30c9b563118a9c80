/* Batch norm: training forward (output, saved mean/invstd, moving statistics), inference forward,
 * backward (dx, dgamma, dbeta; with and without the fused ReLU; accumulating or not) against the
 * double references on awkward shapes, including data far from zero (a naive E[x^2] - E[x]^2 in
 * fp32 fails there) and row counts that exercise the chunked reduction; finite-difference checks
 * of the reference backward. */
#include "tests/ops_test.h"

#define EPS 1.001e-5
#define MOMENTUM 0.99

typedef struct { ctvk_shape s; double *x, *gamma, *beta, *g; int relu; int which; } bn_u;

/* sum(y * g) with y = BN_train(x; gamma, beta) (+ReLU); `which` says which argument varies */
static double loss_bn(void *p, const double *v)
{
    bn_u *u = p;
    size_t n = shape_count(u->s), C = (size_t)u->s.c;
    double *y = dalloc(n), *mm = dalloc(C), *mv = dalloc(C), *saved = dalloc(2 * C);
    const double *x = u->which == 0 ? v : u->x, *gm = u->which == 1 ? v : u->gamma, *bt = u->which == 2 ? v : u->beta;
    ctvk_ref_bn_forward_train(x, u->s, gm, bt, mm, mv, EPS, MOMENTUM, u->relu, y, saved);
    double r = dot(y, u->g, n);
    free(y); free(mm); free(mv); free(saved);
    return r;
}

static void fd_refs(ctvk_shape s, int relu)
{
    size_t n = shape_count(s), C = (size_t)s.c;
    bn_u u = {s, drandom(n, 1, -2, 3), drandom(C, 2, 0.5, 1.5), drandom(C, 3, -1, 1), drandom(n, 4, -1, 1), relu, 0};
    double *y = dalloc(n), *mm = dalloc(C), *mv = dalloc(C), *saved = dalloc(2 * C);
    double *dx = dalloc(n), *dg = dalloc(C), *db = dalloc(C);
    ctvk_ref_bn_forward_train(u.x, s, u.gamma, u.beta, mm, mv, EPS, MOMENTUM, relu, y, saved);
    ctvk_ref_bn_backward(u.x, s, u.gamma, saved, relu ? y : NULL, u.g, dx, 0, dg, db, 0);
    u.which = 0;
    EXPECT_FD(loss_bn, &u, u.x, n, dx, "bn reference dx {%d,%d,%d,%d} relu=%d", s.n, s.h, s.w, s.c, relu);
    u.which = 1;
    EXPECT_FD(loss_bn, &u, u.gamma, C, dg, "bn reference dgamma {%d,%d,%d,%d} relu=%d", s.n, s.h, s.w, s.c, relu);
    u.which = 2;
    EXPECT_FD(loss_bn, &u, u.beta, C, db, "bn reference dbeta {%d,%d,%d,%d} relu=%d", s.n, s.h, s.w, s.c, relu);
    free(u.x); free(u.gamma); free(u.beta); free(u.g);
    free(y); free(mm); free(mv); free(saved); free(dx); free(dg); free(db);
}

static void run(ctvk_ctx *ctx, ctvk_tensor *work, ctvk_shape s, double offset, uint64_t seed)
{
    size_t n = shape_count(s), C = (size_t)s.c;
    ctvk_shape cs = {1, 1, 1, s.c}, c2 = {1, 1, 1, 2 * s.c};
    double *x = drandom(n, seed, offset - 1.5, offset + 2.5), *gamma = drandom(C, seed + 1, 0.5, 1.5);
    double *beta = drandom(C, seed + 2, -0.5, 0.5), *mm0 = drandom(C, seed + 3, -1, 1);
    double *mv0 = drandom(C, seed + 4, 0.5, 2), *g = drandom(n, seed + 5, -1, 1), *old = drandom(n, seed + 6, -1, 1);
    double *oldc = drandom(C, seed + 7, -1, 1);
    ctvk_tensor *tx = dtensor(ctx, s, x, "x"), *tgm = dtensor(ctx, cs, gamma, "gamma");
    ctvk_tensor *tbt = dtensor(ctx, cs, beta, "beta"), *tg = dtensor(ctx, s, g, "g");
    ctvk_tensor *ty = dtensor(ctx, s, NULL, "y"), *tsaved = dtensor(ctx, c2, NULL, "saved");
    double *y = dalloc(n), *saved = dalloc(2 * C);
    const char *what = offset != 0 ? " offset" : "";

    for (int relu = 0; relu < 2; relu++) {
        ctvk_tensor *tmm = dtensor(ctx, cs, mm0, "moving_mean"), *tmv = dtensor(ctx, cs, mv0, "moving_var");
        double *mm = dcopy(mm0, C), *mv = dcopy(mv0, C);
        OK(ctvk_bn_forward_train(ctx, tx, tgm, tbt, tmm, tmv, (float)EPS, (float)MOMENTUM, relu, ty, tsaved, work));
        ctvk_ref_bn_forward_train(x, s, gamma, beta, mm, mv, EPS, MOMENTUM, relu, y, saved);
        EXPECT_CLOSE(ty, y, n, "bn train y {%d,%d,%d,%d} relu=%d%s", s.n, s.h, s.w, s.c, relu, what);
        EXPECT_CLOSE(tsaved, saved, C, "bn train saved mean {%d,%d,%d,%d}%s", s.n, s.h, s.w, s.c, what);
        /* invstd on its own scale */
        float *got = check_download(tsaved);
        float want[4096];
        for (size_t c = 0; c < C && c < 4096; c++) want[c] = (float)saved[C + c];
        double e = check_rel_err(got + C, want, C < 4096 ? C : 4096, 1e-6);
        printf("%-60s worst relative error %.3g\n", "bn train saved invstd", e);
        CHECK(e <= OPS_TOL, "invstd error %g", e);
        free(got);
        EXPECT_CLOSE(tmm, mm, C, "bn train moving mean {%d,%d,%d,%d}%s", s.n, s.h, s.w, s.c, what);
        EXPECT_CLOSE(tmv, mv, C, "bn train moving var (unbiased) {%d,%d,%d,%d}%s", s.n, s.h, s.w, s.c, what);

        /* backward, relu folded in when the forward had it. The reference takes the device's ReLU
         * output as its mask: where |y| is at rounding level the two forwards may disagree on the
         * sign, and that is not the backward's error. */
        float *yf = check_download(ty);
        double *ydev = dalloc(n);
        for (size_t i = 0; i < n; i++) ydev[i] = yf[i];
        free(yf);
        for (int acc = 0; acc < 2; acc++) {
            ctvk_tensor *tdx = dtensor(ctx, s, old, "dx"), *tdg = dtensor(ctx, cs, oldc, "dgamma");
            ctvk_tensor *tdb = dtensor(ctx, cs, oldc, "dbeta");
            OK(ctvk_bn_backward(ctx, tx, tgm, tsaved, relu ? ty : NULL, tg, tdx, acc, tdg, tdb, !acc, work));
            double *dx = dcopy(old, n), *dg = dcopy(oldc, C), *db = dcopy(oldc, C);
            ctvk_ref_bn_backward(x, s, gamma, saved, relu ? ydev : NULL, g, dx, acc, dg, db, !acc);
            EXPECT_CLOSE(tdx, dx, n, "bn backward dx {%d,%d,%d,%d} relu=%d acc=%d%s", s.n, s.h, s.w, s.c, relu, acc,
                         what);
            EXPECT_CLOSE(tdg, dg, C, "bn backward dgamma relu=%d acc=%d", relu, !acc);
            EXPECT_CLOSE(tdb, db, C, "bn backward dbeta relu=%d acc=%d", relu, !acc);
            free(dx); free(dg); free(db);
            ctvk_tensor_destroy(tdx); ctvk_tensor_destroy(tdg); ctvk_tensor_destroy(tdb);
        }
        free(ydev);

        /* inference with the updated moving statistics */
        OK(ctvk_bn_forward_infer(ctx, tx, tgm, tbt, tmm, tmv, (float)EPS, relu, ty));
        double *mmf = dalloc(C), *mvf = dalloc(C);
        float *f = check_download(tmm), *h = check_download(tmv);
        for (size_t c = 0; c < C; c++) { mmf[c] = f[c]; mvf[c] = h[c]; }
        free(f); free(h);
        ctvk_ref_bn_forward_infer(x, s, gamma, beta, mmf, mvf, EPS, relu, y);
        EXPECT_CLOSE(ty, y, n, "bn infer y {%d,%d,%d,%d} relu=%d%s", s.n, s.h, s.w, s.c, relu, what);
        free(mmf); free(mvf); free(mm); free(mv);
        ctvk_tensor_destroy(tmm); ctvk_tensor_destroy(tmv);
    }
    ctvk_tensor_destroy(tx); ctvk_tensor_destroy(tgm); ctvk_tensor_destroy(tbt); ctvk_tensor_destroy(tg);
    ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tsaved);
    free(x); free(gamma); free(beta); free(mm0); free(mv0); free(g); free(old); free(oldc); free(y); free(saved);
}

int main(void)
{
    fd_refs((ctvk_shape){2, 3, 2, 3}, 0);
    fd_refs((ctvk_shape){2, 3, 2, 3}, 1);
    fd_refs((ctvk_shape){1, 1, 7, 5}, 0);

    static const ctvk_shape shapes[] = {
        {1, 1, 1, 3}, {1, 1, 3, 1}, {2, 3, 7, 5}, {1, 7, 7, 31}, {3, 31, 31, 13},
        {2, 16, 16, 67}, {3, 100, 117, 5}, {14, 8, 8, 130},
        {2, 5, 6, 8}, {3, 9, 7, 64},      /* C % 4 == 0: the apply's 4-channel (vec4) path */
    };
    const int nshapes = (int)(sizeof shapes / sizeof *shapes);
    ctvk_ctx *ctx = check_ctx(NULL);
    size_t wmax = 0;
    for (int i = 0; i < nshapes; i++) {
        size_t w = ctvk_bn_workspace_count(shapes[i]);
        if (w > wmax) wmax = w;
    }
    /* one workspace shared by every call, as a network would */
    ctvk_tensor *work = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)wmax}, NULL, "bn_work");
    for (int i = 0; i < nshapes; i++) run(ctx, work, shapes[i], 0.0, 100 + (uint64_t)i * 10);
    run(ctx, work, (ctvk_shape){3, 100, 117, 5}, 100.0, 7);
    run(ctx, work, (ctvk_shape){2, 9, 11, 3}, 100.0, 8);
    run(ctx, work, (ctvk_shape){14, 32, 32, 7}, 1000.0, 9);

    /* argument checks */
    ctvk_tensor *a = check_tensor(ctx, (ctvk_shape){1, 2, 2, 4}, NULL, "a");
    ctvk_tensor *c3 = check_tensor(ctx, (ctvk_shape){1, 1, 1, 3}, NULL, "c3");
    CHECK(ctvk_bn_forward_infer(ctx, a, c3, c3, c3, c3, 1e-3f, 0, a) == CTVK_ERR_ARG, "wrong channel count accepted");
    ctvk_tensor_destroy(a); ctvk_tensor_destroy(c3);
    ctvk_tensor_destroy(work);
    check_ctx_done(ctx);

    /* the GPU variant (64-lane reductions) through pooled descriptor sets */
    ctvk_options o;
    ctvk_options_default(&o);
    o.variant = CTVK_VARIANT_GPU;
    o.no_push_descriptors = 1;
    ctx = check_ctx(&o);
    printf("-- GPU variant, pooled descriptor sets\n");
    work = check_tensor(ctx, (ctvk_shape){1, 1, 1, (int)wmax}, NULL, "bn_work");
    run(ctx, work, (ctvk_shape){2, 16, 16, 67}, 0.0, 300);
    run(ctx, work, (ctvk_shape){3, 100, 117, 5}, 100.0, 301);
    ctvk_tensor_destroy(work);
    check_ctx_done(ctx);
    return check_done("test_bn");
}
