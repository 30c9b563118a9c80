/* Batch norm: training forward (output, saved mean/invstd, moving statistics), inference forward,
 * backward (dx, dgamma, dbeta; with and without the fused ReLU; accumulating or not) against the
 * double references on awkward shapes, including data far from zero (a naive E[x^2] - E[x]^2 in
 * fp32 fails there) and row counts that exercise the chunked reduction; finite-difference checks
 * of the reference backward; the inference fold into a conv; statistics synchronised over parts of a
 * batch (as MPI ranks share it) against the whole batch's. */
#include "net/conv.h"
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

/* bn_infer(conv(x, w, b)) == conv(x, wf, bf) with the folded weights, with and without a conv bias */
static void fold(ctvk_ctx *ctx, int has_bias)
{
    ctvk_shape xs = {2, 7, 6, 5};
    int C = 6;
    ctvk_conv2d p;
    CHECK(ctvk_conv2d_same(3, 3, 1, 1, xs.h, xs.w, &p) == CTVK_OK, "conv");
    ctvk_shape ys;
    CHECK(ctvk_conv2d_out_shape(&p, xs, C, &ys) == CTVK_OK, "shape");
    size_t nw = 9 * (size_t)xs.c * C, nx = shape_count(xs), ny = shape_count(ys);
    double *x = drandom(nx, 1, -1, 1), *w = drandom(nw, 2, -0.5, 0.5), *b = drandom((size_t)C, 3, -1, 1);
    double *gm = drandom((size_t)C, 4, 0.5, 2), *bt = drandom((size_t)C, 5, -1, 1);
    double *mn = drandom((size_t)C, 6, -1, 1), *vr = drandom((size_t)C, 7, 0.1, 3);
    double *wf = dalloc(nw), *bf = dalloc((size_t)C), *y = dalloc(ny), *yb = dalloc(ny);
    ctvk_ref_bn_fold(w, nw, has_bias ? b : NULL, gm, bt, mn, vr, EPS, C, wf, bf);
    /* reference: conv (float reference) then BN inference, in double */
    float *xf = malloc(nx * sizeof *xf), *wff = malloc(nw * sizeof *wff), *bff = malloc((size_t)C * sizeof *bff);
    float *yf = malloc(ny * sizeof *yf);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
    for (size_t i = 0; i < nw; i++) wff[i] = (float)w[i];
    for (int c = 0; c < C; c++) bff[c] = (float)b[c];
    ctvk_ref_conv2d_forward(&p, xs, xf, wff, has_bias ? bff : NULL, ys, yf);
    for (size_t i = 0; i < ny; i++) y[i] = yf[i];
    ctvk_ref_bn_forward_infer(y, ys, gm, bt, mn, vr, EPS, 0, yb);
    ctvk_shape vw = {1, 1, 1, (int)nw}, vc = {1, 1, 1, C};
    ctvk_tensor *tw = dtensor(ctx, vw, w, "w"), *tb = dtensor(ctx, vc, b, "b"), *tg = dtensor(ctx, vc, gm, "gamma");
    ctvk_tensor *tbt = dtensor(ctx, vc, bt, "beta"), *tm = dtensor(ctx, vc, mn, "mean"), *tv = dtensor(ctx, vc, vr, "var");
    ctvk_tensor *twf = dtensor(ctx, vw, NULL, "wf"), *tbf = dtensor(ctx, vc, NULL, "bf");
    ctvk_tensor *tx = dtensor(ctx, xs, x, "x"), *ty = dtensor(ctx, ys, NULL, "y");
    OK(ctvk_bn_fold(ctx, tw, has_bias ? tb : NULL, tg, tbt, tm, tv, (float)EPS, twf, tbf));
    EXPECT_CLOSE(twf, wf, nw, "bn fold weights bias=%d", has_bias);
    EXPECT_CLOSE(tbf, bf, (size_t)C, "bn fold bias bias=%d", has_bias);
    OK(ctvk_conv2d_forward(ctx, &p, tx, twf, tbf, ty));
    EXPECT_CLOSE(ty, yb, ny, "conv with folded BN == BN(conv) bias=%d", has_bias);
    CHECK(ctvk_bn_fold(ctx, tw, tb, tg, tbt, tm, tv, (float)EPS, tbf, tbf) == CTVK_ERR_ARG, "wrong wf size accepted");
    ctvk_tensor *ts[] = {tw, tb, tg, tbt, tm, tv, twf, tbf, tx, ty};
    for (int i = 0; i < 10; i++) ctvk_tensor_destroy(ts[i]);
    free(x); free(w); free(b); free(gm); free(bt); free(mn); free(vr); free(wf); free(bf); free(y); free(yb);
    free(xf); free(wff); free(bff); free(yf);
}

/* The BN as scale and shift (the fused conv epilogue's form): device against the reference, and
 * x * scale + shift equal to the inference BN of the reference. */
static void affine(ctvk_ctx *ctx)
{
    ctvk_shape xs = {2, 3, 5, 12};
    int C = xs.c;
    size_t nx = shape_count(xs);
    double *x = drandom(nx, 11, -2, 2), *gm = drandom((size_t)C, 12, 0.5, 2), *bt = drandom((size_t)C, 13, -1, 1);
    double *mn = drandom((size_t)C, 14, -1, 1), *vr = drandom((size_t)C, 15, 0.1, 3);
    double *aff = dalloc(2 * (size_t)C), *y = dalloc(nx), *ya = dalloc(nx);
    ctvk_ref_bn_affine(gm, bt, mn, vr, EPS, C, aff);
    ctvk_ref_bn_forward_infer(x, xs, gm, bt, mn, vr, EPS, 0, y);
    double worst = 0;
    for (size_t i = 0; i < nx; i++) {
        int c = (int)(i % (size_t)C);
        ya[i] = x[i] * aff[c] + aff[C + c];
        worst = fmax(worst, fabs(ya[i] - y[i]));
    }
    CHECK(worst < 1e-12, "bn affine reference differs from bn_infer by %g", worst);
    ctvk_shape vc = {1, 1, 1, C}, v2 = {1, 1, 1, 2 * C};
    ctvk_tensor *tg = dtensor(ctx, vc, gm, "gamma"), *tbt = dtensor(ctx, vc, bt, "beta");
    ctvk_tensor *tm = dtensor(ctx, vc, mn, "mean"), *tv = dtensor(ctx, vc, vr, "var"), *ta = dtensor(ctx, v2, NULL, "aff");
    OK(ctvk_bn_affine(ctx, tg, tbt, tm, tv, (float)EPS, ta));
    EXPECT_CLOSE(ta, aff, 2 * (size_t)C, "bn affine of %d channels", C);
    CHECK(ctvk_bn_affine(ctx, tg, tbt, tm, tv, (float)EPS, tg) == CTVK_ERR_ARG, "short output accepted");
    /* applied: y = x * scale + shift (ReLU), 4-component and scalar paths, against bn_infer */
    for (int relu = 0; relu < 2; relu++)
        for (int cs = 0; cs < 2; cs++) {
            ctvk_shape s = cs ? (ctvk_shape){2, 3, 2, 5} : xs;
            size_t ns = shape_count(s);
            double *a2 = dalloc(2 * (size_t)s.c), *yr = dalloc(ns);
            ctvk_ref_bn_affine(gm, bt, mn, vr, EPS, s.c, a2);
            ctvk_ref_bn_forward_infer(x, s, gm, bt, mn, vr, EPS, relu, yr);
            ctvk_tensor *tx = dtensor(ctx, s, x, "x"), *ty = dtensor(ctx, s, NULL, "y");
            ctvk_tensor *ta2 = dtensor(ctx, (ctvk_shape){1, 1, 1, 2 * s.c}, a2, "aff");
            OK(ctvk_bn_forward_affine(ctx, tx, ta2, relu, ty));
            EXPECT_CLOSE(ty, yr, ns, "bn apply through scale/shift, C=%d relu=%d", s.c, relu);
            ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(ta2);
            free(a2); free(yr);
        }
    ctvk_tensor *ts[] = {tg, tbt, tm, tv, ta};
    for (int i = 0; i < 5; i++) ctvk_tensor_destroy(ts[i]);
    free(x); free(gm); free(bt); free(mn); free(vr); free(aff); free(y); free(ya);
}

/* Statistics of a batch split in two parts (two ranks) merged on the host with the functions
 * net/exec.c uses for synchronised BN: the same saved statistics, moving statistics and dx as the
 * whole batch in one piece. */
static void synced(ctvk_ctx *ctx, ctvk_tensor *work, ctvk_shape s, int split, double offset)
{
    size_t n = shape_count(s), C = (size_t)s.c, per = n / (size_t)s.n;
    double *x = drandom(n, 11, offset - 1, offset + 1), *g = drandom(n, 12, -1, 1), *gm = drandom(C, 13, 0.5, 1.5);
    double *bt = drandom(C, 14, -1, 1), *mm = drandom(C, 15, -1, 1), *mv = drandom(C, 16, 0.5, 2);
    ctvk_shape vc = {1, 1, 1, (int)C}, vs = {1, 1, 1, 2 * (int)C};
    /* the whole batch */
    ctvk_tensor *tx = dtensor(ctx, s, x, "x"), *tg = dtensor(ctx, s, g, "g"), *tgm = dtensor(ctx, vc, gm, "gamma");
    ctvk_tensor *tmm = dtensor(ctx, vc, mm, "mm"), *tmv = dtensor(ctx, vc, mv, "mv"), *tsv = dtensor(ctx, vs, NULL, "saved");
    ctvk_tensor *tdx = dtensor(ctx, s, NULL, "dx"), *tdg = dtensor(ctx, vc, NULL, "dg"), *tdb = dtensor(ctx, vc, NULL, "db");
    OK(ctvk_bn_train_stats(ctx, tx, tmm, tmv, (float)EPS, (float)MOMENTUM, tsv, work));
    OK(ctvk_bn_backward(ctx, tx, tgm, tsv, NULL, tg, tdx, 0, tdg, tdb, 0, work));
    float *saved = check_download(tsv), *mmw = check_download(tmm), *mvw = check_download(tmv);
    float *dxw = check_download(tdx), *dgw = check_download(tdg);
    /* two parts: samples [0, split) and [split, n) */
    ctvk_tensor *px[2], *pg[2], *pdx[2];
    ctvk_shape ps[2] = {s, s};
    ps[0].n = split;
    ps[1].n = s.n - split;
    double *mom[2], *sums = calloc(2 * C, sizeof *sums), *sq = calloc(C, sizeof *sq), *mean = dalloc(C);
    for (int r = 0; r < 2; r++) {
        px[r] = dtensor(ctx, ps[r], x + (r ? (size_t)split * per : 0), "x part");
        pg[r] = dtensor(ctx, ps[r], g + (r ? (size_t)split * per : 0), "g part");
        pdx[r] = dtensor(ctx, ps[r], NULL, "dx part");
        mom[r] = dalloc(3 * C);
        OK(ctvk_bn_local_moments(ctx, px[r], work, mom[r]));
        double sr[2 * 64];
        ctvk_bn_merge_sums(mom[r], (int)C, sr);
        for (size_t c = 0; c < 2 * C; c++) sums[c] += sr[c];
    }
    for (size_t c = 0; c < C; c++) mean[c] = sums[C + c] / sums[c];
    for (int r = 0; r < 2; r++) {
        double q[64];
        ctvk_bn_merge_squares(mom[r], (int)C, mean, q);
        for (size_t c = 0; c < C; c++) sq[c] += q[c];
    }
    CHECK(sums[0] == (double)(n / C), "rows %g, want %zu", sums[0], n / C);
    double *sv = dalloc(2 * C), *mmr = dalloc(C), *mvr = dalloc(C), *gs = calloc(2 * C, sizeof *gs);
    ctvk_tensor *tmm2 = dtensor(ctx, vc, mm, "mm"), *tmv2 = dtensor(ctx, vc, mv, "mv"), *tsv2 = dtensor(ctx, vs, NULL, "saved");
    OK(ctvk_bn_set_moments(ctx, (int)C, sums[0], mean, sq, tmm2, tmv2, (float)EPS, (float)MOMENTUM, tsv2, work));
    float *saved2 = check_download(tsv2), *mm2 = check_download(tmm2), *mv2 = check_download(tmv2);
    for (size_t c = 0; c < 2 * C; c++) sv[c] = saved[c];
    for (size_t c = 0; c < C; c++) { mmr[c] = mmw[c]; mvr[c] = mvw[c]; }
    EXPECT_CLOSE(tsv2, sv, 2 * C, "synced BN saved {%d,%d,%d,%d} split %d offset %g", s.n, s.h, s.w, s.c, split, offset);
    EXPECT_CLOSE(tmm2, mmr, C, "synced BN moving mean split %d", split);
    EXPECT_CLOSE(tmv2, mvr, C, "synced BN moving variance split %d", split);
    /* backward: each part's sums, added, then dx per part with the whole batch's row count */
    double *dgr = dalloc(C);
    for (size_t c = 0; c < C; c++) dgr[c] = 0;
    for (int r = 0; r < 2; r++) {
        double part[2 * 64];
        OK(ctvk_bn_backward_sums(ctx, px[r], tsv2, NULL, pg[r], tdg, tdb, 0, work));
        OK(ctvk_bn_grad_sums_get(work, ps[r], part));
        for (size_t c = 0; c < 2 * C; c++) gs[c] += part[c];
    }
    for (size_t c = 0; c < C; c++) dgr[c] = dgw[c];
    double *dxr = dalloc(n);
    for (size_t i = 0; i < n; i++) dxr[i] = dxw[i];
    double sdg[64];
    for (size_t c = 0; c < C; c++) sdg[c] = gs[C + c];
    ctvk_tensor *tsdg = dtensor(ctx, vc, sdg, "sum dgamma");
    EXPECT_CLOSE(tsdg, dgr, C, "synced BN dgamma split %d", split);
    for (int r = 0; r < 2; r++) {
        OK(ctvk_bn_grad_sums_set(work, ps[r], gs));
        OK(ctvk_bn_backward_dx_rows(ctx, ps[r], sums[0], px[r], tgm, tsv2, NULL, pg[r], pdx[r], 0, work));
        EXPECT_CLOSE(pdx[r], dxr + (r ? (size_t)split * per : 0), (size_t)ps[r].n * per, "synced BN dx part %d", r);
    }
    for (int r = 0; r < 2; r++) {
        ctvk_tensor_destroy(px[r]); ctvk_tensor_destroy(pg[r]); ctvk_tensor_destroy(pdx[r]);
        free(mom[r]);
    }
    ctvk_tensor *ts[] = {tx, tg, tgm, tmm, tmv, tsv, tdx, tdg, tdb, tmm2, tmv2, tsv2, tsdg};
    for (int i = 0; i < 13; i++) ctvk_tensor_destroy(ts[i]);
    free(x); free(g); free(gm); free(bt); free(mm); free(mv); free(sums); free(sq); free(mean); free(sv); free(mmr);
    free(mvr); free(gs); free(dgr); free(dxr); free(saved); free(mmw); free(mvw); free(dxw); free(dgw); free(saved2);
    free(mm2); free(mv2);
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
    fold(ctx, 1);
    affine(ctx);
    fold(ctx, 0);
    synced(ctx, work, (ctvk_shape){5, 9, 7, 13}, 2, 0.0);
    synced(ctx, work, (ctvk_shape){14, 32, 32, 7}, 9, 1000.0);   /* far from zero, many chunks per part */

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
