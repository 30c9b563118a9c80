/* Fused softmax + categorical cross-entropy: probabilities, per-batch loss sum, gradient
 * (softmax - y) / B and the accuracy count against the double reference on awkward batch and class
 * counts (batch above the 64 lanes of the workgroup too), large logits, ties (first index wins, as
 * numpy argmax), accumulation of the epoch totals; finite-difference check of the gradient. */
#include "tests/ops_test.h"

typedef struct { int B, C; const double *y; } ce_u;

static double loss_mean(void *p, const double *z)
{
    ce_u *u = p;
    size_t n = (size_t)u->B * u->C;
    double *pr = dalloc(n), *dl = dalloc(n), st[3];
    ctvk_ref_softmax_ce(z, u->y, u->B, u->C, pr, dl, st, 0);
    free(pr); free(dl);
    return st[0] / u->B;
}

static double *onehot(int B, int C, uint64_t seed)
{
    double *y = dalloc((size_t)B * C);
    for (int b = 0; b < B; b++) y[(size_t)b * C + (int)(check_rng_next(&seed) % (uint64_t)C)] = 1.0;
    return y;
}

static void run(ctvk_ctx *ctx, int B, int C, double scale, uint64_t seed)
{
    size_t n = (size_t)B * C;
    ctvk_shape s = {B, 1, 1, C}, s3 = {1, 1, 1, 3};
    double *z = drandom(n, seed, -scale, scale), *y = onehot(B, C, seed + 1);
    double *pr = dalloc(n), *dl = dalloc(n), st[3] = {0, 0, 0}, st0[3] = {1.5, 2, 3};
    ctvk_tensor *tz = dtensor(ctx, s, z, "logits"), *ty = dtensor(ctx, s, y, "labels");
    ctvk_tensor *tp = dtensor(ctx, s, NULL, "probs"), *td = dtensor(ctx, s, NULL, "dlogits");
    ctvk_tensor *ts = dtensor(ctx, s3, st0, "stats");
    OK(ctvk_softmax_ce(ctx, tz, ty, tp, td, ts, 0));
    ctvk_ref_softmax_ce(z, y, B, C, pr, dl, st, 0);
    EXPECT_CLOSE(tp, pr, n, "softmax probs B=%d C=%d scale=%g", B, C, scale);
    EXPECT_CLOSE(td, dl, n, "softmax-CE gradient B=%d C=%d scale=%g", B, C, scale);
    float got[3];
    OK(ctvk_tensor_download(ts, got, sizeof got));
    double e = fabs(got[0] - st[0]) / fmax(fabs(st[0]), 1e-6);
    printf("%-60s worst relative error %.3g (correct %g of %g, want %g)\n", "softmax-CE loss sum", e, got[1], got[2],
           st[1]);
    CHECK(e <= OPS_TOL, "loss sum %g, want %g", got[0], st[0]);
    CHECK(got[1] == (float)st[1] && got[2] == (float)B, "correct %g of %g, want %g of %d", got[1], got[2], st[1], B);
    /* accumulate: a second batch adds to the totals */
    OK(ctvk_softmax_ce(ctx, tz, ty, tp, td, ts, 1));
    ctvk_ref_softmax_ce(z, y, B, C, pr, dl, st, 1);
    OK(ctvk_tensor_download(ts, got, sizeof got));
    e = fabs(got[0] - st[0]) / fmax(fabs(st[0]), 1e-6);
    CHECK(e <= OPS_TOL && got[1] == (float)st[1] && got[2] == (float)(2 * B),
          "accumulated stats %g %g %g, want %g %g %g", got[0], got[1], got[2], st[0], st[1], st[2]);
    /* a part of a batch of 3B samples: the gradient of the whole batch's mean loss, B/3B of it */
    OK(ctvk_softmax_ce_part(ctx, tz, ty, tp, td, ts, 0, 3 * B));
    for (size_t i = 0; i < n; i++) dl[i] /= 3;
    EXPECT_CLOSE(td, dl, n, "softmax-CE gradient, part of B=%d of %d", B, 3 * B);
    if (B > 1)
        CHECK(ctvk_softmax_ce_part(ctx, tz, ty, tp, td, ts, 0, B - 1) == CTVK_ERR_ARG, "a part larger than its batch accepted");
    /* the reference gradient vs finite differences of the mean loss */
    ctvk_ref_softmax_ce(z, y, B, C, pr, dl, st, 0);
    ce_u u = {B, C, y};
    if (scale < 20) EXPECT_FD(loss_mean, &u, z, n, dl, "softmax-CE reference gradient B=%d C=%d", B, C);
    ctvk_tensor_destroy(tz); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tp); ctvk_tensor_destroy(td);
    ctvk_tensor_destroy(ts);
    free(z); free(y); free(pr); free(dl);
}

static void ties(ctvk_ctx *ctx)
{
    /* sample 0: logits tie, label class 0 -> correct (first index); sample 1: tie, label class 1 ->
     * wrong; sample 2: clear class 2, label 2 -> correct; sample 3: labels tie [.5 .5 0] -> class 0 */
    double z[12] = {1, 1, 0, 2, 2, -1, 0, 1, 5, 3, 1, 2};
    double y[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0};
    ctvk_shape s = {4, 1, 1, 3};
    ctvk_tensor *tz = dtensor(ctx, s, z, "z"), *ty = dtensor(ctx, s, y, "y"), *tp = dtensor(ctx, s, NULL, "p");
    ctvk_tensor *td = dtensor(ctx, s, NULL, "d"), *ts = dtensor(ctx, (ctvk_shape){1, 1, 1, 3}, NULL, "s");
    OK(ctvk_softmax_ce(ctx, tz, ty, tp, td, ts, 0));
    float st[3];
    OK(ctvk_tensor_download(ts, st, sizeof st));
    double pr[12], dl[12], rs[3];
    ctvk_ref_softmax_ce(z, y, 4, 3, pr, dl, rs, 0);
    printf("ties: %g of %g correct (reference %g, want 3)\n", st[1], st[2], rs[1]);
    CHECK(st[1] == 3 && rs[1] == 3 && st[2] == 4, "ties: %g correct, reference %g, want 3", st[1], rs[1]);
    ctvk_tensor_destroy(tz); ctvk_tensor_destroy(ty); ctvk_tensor_destroy(tp); ctvk_tensor_destroy(td);
    ctvk_tensor_destroy(ts);
}

int main(void)
{
    ctvk_ctx *ctx = check_ctx(NULL);
    ties(ctx);
    run(ctx, 1, 2, 3, 1);
    run(ctx, 14, 2, 3, 2);     /* the training batch */
    run(ctx, 10, 2, 3, 3);     /* validation batch */
    run(ctx, 3, 7, 2, 4);
    run(ctx, 31, 3, 5, 5);
    run(ctx, 130, 10, 4, 6);   /* more samples than lanes */
    run(ctx, 7, 31, 1, 7);
    run(ctx, 14, 2, 80, 8);    /* large logits: log-sum-exp must not overflow */
    check_ctx_done(ctx);
    return check_done("test_loss");
}
