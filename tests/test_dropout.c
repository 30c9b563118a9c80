/* Dropout: the device mask equals the host reference bit for bit; the kept fraction is near
 * 1 - rate; other seeds give other masks; inverted scaling; backward applies the same mask
 * (accumulating or not); finite-difference check of the reference backward; identity at inference. */
#include "tests/ops_test.h"

typedef struct { size_t n; const double *g; float rate; uint64_t seed; } do_u;

static double loss_dropout(void *p, const double *x)
{
    do_u *u = p;
    double *y = dalloc(u->n);
    ctvk_ref_dropout(x, y, u->n, u->rate, u->seed, 0, 0);
    double r = dot(y, u->g, u->n);
    free(y);
    return r;
}

static void run(ctvk_ctx *ctx, int n, float rate, uint64_t seed)
{
    ctvk_shape s = {1, 1, 1, n};
    size_t N = (size_t)n;
    double *x = drandom(N, N + 51, -2, 2), *g = drandom(N, N + 52, -1, 1), *old = drandom(N, 53, -1, 1);
    double *y = dalloc(N);
    uint8_t *mask = malloc(N);
    float *ones = calloc(N, sizeof *ones);
    for (size_t i = 0; i < N; i++) ones[i] = 1.0f;
    ctvk_tensor *t1 = check_tensor(ctx, s, ones, "ones"), *tm = dtensor(ctx, s, NULL, "mask");
    ctvk_tensor *tx = dtensor(ctx, s, x, "x"), *ty = dtensor(ctx, s, NULL, "y"), *tg = dtensor(ctx, s, g, "g");

    /* the mask, exactly: dropout(ones) = scale where kept, 0 where dropped */
    OK(ctvk_dropout(ctx, t1, tm, rate, seed, 0, 1));
    float *got = check_download(tm);
    ctvk_ref_dropout_mask(mask, N, rate, seed, 0);
    float scale = (float)(1.0 / (1.0 - (double)rate));
    size_t bad = 0, kept = 0;
    for (size_t i = 0; i < N; i++) {
        bad += got[i] != (mask[i] ? scale : 0.0f);
        kept += mask[i];
    }
    double frac = (double)kept / (double)N, want = 1.0 - rate, sigma = sqrt(rate * (1.0 - rate) / (double)N);
    printf("dropout n=%-7d rate=%.2f seed=%llu: %zu mask mismatches, kept %.4f (expected %.4f +- %.4f)\n", n, rate,
           (unsigned long long)seed, bad, frac, want, sigma);
    CHECK(bad == 0, "dropout n=%d rate=%g: %zu elements differ from the host mask", n, rate, bad);
    if (N >= 1000) CHECK(fabs(frac - want) <= 5 * sigma + 1e-12, "kept fraction %g, expected %g", frac, want);
    free(got);

    /* a part of a bigger batch (first > 0) draws exactly the whole batch's mask from there */
    if (N > 3) {
        uint32_t first = (uint32_t)(N / 3);
        ctvk_shape ts = {1, 1, 1, (int)(N - first)};
        ctvk_tensor *tail1 = check_tensor(ctx, ts, ones, "ones"), *tailm = dtensor(ctx, ts, NULL, "mask");
        OK(ctvk_dropout(ctx, tail1, tailm, rate, seed, first, 1));
        float *tail = check_download(tailm);
        size_t tbad = 0;
        for (size_t i = first; i < N; i++) tbad += tail[i - first] != (mask[i] ? scale : 0.0f);
        CHECK(tbad == 0, "dropout with first=%u: %zu elements differ from the whole batch's mask", first, tbad);
        free(tail);
        ctvk_tensor_destroy(tail1);
        ctvk_tensor_destroy(tailm);
    }

    OK(ctvk_dropout(ctx, tx, ty, rate, seed, 0, 1));
    ctvk_ref_dropout(x, y, N, rate, seed, 0, 0);
    EXPECT_CLOSE(ty, y, N, "dropout forward n=%d rate=%.2f", n, rate);
    for (int acc = 0; acc < 2; acc++) {
        ctvk_tensor *tdx = dtensor(ctx, s, old, "dx");
        OK(ctvk_dropout_backward(ctx, tg, tdx, rate, seed, 0, acc));
        double *dx = dcopy(old, N);
        ctvk_ref_dropout(g, dx, N, rate, seed, 0, acc);
        EXPECT_CLOSE(tdx, dx, N, "dropout backward n=%d rate=%.2f acc=%d", n, rate, acc);
        free(dx);
        ctvk_tensor_destroy(tdx);
    }
    /* inference: identity, into another tensor and in place */
    OK(ctvk_dropout(ctx, tx, ty, rate, seed, 0, 0));
    EXPECT_CLOSE(ty, x, N, "dropout inference n=%d (identity)", n);
    CHECK(dcompare(ty, x, N) == 0, "inference dropout is not exactly the identity");
    OK(ctvk_dropout(ctx, tx, tx, rate, seed, 0, 0));
    CHECK(dcompare(tx, x, N) == 0, "in-place inference dropout changed x");

    ctvk_tensor_destroy(t1); ctvk_tensor_destroy(tm); ctvk_tensor_destroy(tx); ctvk_tensor_destroy(ty);
    ctvk_tensor_destroy(tg);
    free(x); free(g); free(old); free(y); free(mask); free(ones);
}

int main(void)
{
    /* reference backward vs finite differences (dropout is linear in x) */
    {
        size_t n = 257;
        double *x = drandom(n, 1, -1, 1), *g = drandom(n, 2, -1, 1), *dx = dalloc(n);
        ctvk_ref_dropout(g, dx, n, 0.5f, 99, 0, 0);
        do_u u = {n, g, 0.5f, 99};
        EXPECT_FD(loss_dropout, &u, x, n, dx, "dropout backward reference n=%zu", n);
        free(x); free(g); free(dx);
    }
    /* masks of different seeds are unrelated: agreement near 1/2 at rate 0.5 */
    {
        size_t n = 200000, agree = 0;
        uint8_t *a = malloc(n), *b = malloc(n);
        ctvk_ref_dropout_mask(a, n, 0.5f, 1, 0);
        ctvk_ref_dropout_mask(b, n, 0.5f, 2, 0);
        for (size_t i = 0; i < n; i++) agree += a[i] == b[i];
        double f = (double)agree / (double)n;
        printf("masks of seeds 1 and 2 agree on %.4f of units\n", f);
        CHECK(fabs(f - 0.5) < 5 * sqrt(0.25 / (double)n), "masks of seeds 1 and 2 agree on %g", f);
        /* neighbouring units are not correlated */
        size_t same = 0;
        for (size_t i = 1; i < n; i++) same += a[i] == a[i - 1];
        f = (double)same / (double)(n - 1);
        CHECK(fabs(f - 0.5) < 5 * sqrt(0.25 / (double)n), "neighbouring units agree on %g", f);
        free(a); free(b);
    }
    CHECK(ctvk_dropout_threshold(0.0f) == 0 && ctvk_dropout_threshold(0.5f) == 0x80000000u, "thresholds");
    ctvk_ctx *ctx = check_ctx(NULL);
    static const int sizes[] = {1, 3, 7, 31, 1000, 230403};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) run(ctx, sizes[i], 0.5f, 1234 + i);
    run(ctx, 100003, 0.1f, 7);
    run(ctx, 100003, 0.9f, 8);
    run(ctx, 4099, 0.0f, 9);
    run(ctx, 100003, 0.5f, 0xFFFFFFFFFFFFull);
    ctvk_tensor *t = check_tensor(ctx, (ctvk_shape){1, 1, 1, 4}, NULL, "t");
    CHECK(ctvk_dropout(ctx, t, t, 1.0f, 1, 0, 1) == CTVK_ERR_ARG, "rate 1 accepted");
    ctvk_tensor_destroy(t);
    check_ctx_done(ctx);
    return check_done("test_dropout");
}
