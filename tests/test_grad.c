/* Gradient buffers: zero, accumulate (acc += s g) and scale against their C references on awkward
 * sizes, whole and cut into chunks (one dispatch per chunk, one in all when it fits). */
#include "tests/check.h"
#include "net/train_ops.h"
#include <stdio.h>
#include <stdlib.h>

static uint64_t dispatches(ctvk_ctx *ctx)
{
    ctvk_stats st;
    ctvk_get_stats(ctx, &st);
    return st.dispatches;
}

static void run(ctvk_ctx *ctx, int n, size_t max_chunk)
{
    ctvk_shape s = {1, 1, 1, n};
    size_t un = (size_t)n;
    float *a = malloc(un * sizeof *a), *g = malloc(un * sizeof *g), *ref = malloc(un * sizeof *ref);
    check_fill_uniform(a, un, 10 + un, -3, 3);
    check_fill_uniform(g, un, 20 + un, -3, 3);
    ctvk_tensor *ta = check_tensor(ctx, s, a, "acc"), *tg = check_tensor(ctx, s, g, "g");
    ctvk_flat fa, fg;
    CHECK(ctvk_flat_init(ta, max_chunk, &fa) == CTVK_OK && ctvk_flat_init(tg, max_chunk, &fg) == CTVK_OK,
          "flat_init: %s", ctvk_error());
    size_t want_chunks = max_chunk ? (un + max_chunk - 1) / max_chunk : 1;
    CHECK((size_t)fa.nchunks == want_chunks, "n=%d max_chunk=%zu: %d chunks, want %zu", n, max_chunk, fa.nchunks,
          want_chunks);

    /* acc += 0.37 g, twice (the second sees the first: a recorded dependency) */
    uint64_t d0 = dispatches(ctx);
    CHECK(ctvk_grad_acc(ctx, &fa, 0.37f, &fg) == CTVK_OK, "grad_acc: %s", ctvk_error());
    CHECK(dispatches(ctx) - d0 == (uint64_t)fa.nchunks, "grad_acc: %llu dispatches for %d chunks",
          (unsigned long long)(dispatches(ctx) - d0), fa.nchunks);
    CHECK(ctvk_grad_acc(ctx, &fa, -1.25f, &fg) == CTVK_OK, "grad_acc: %s", ctvk_error());
    float *got = check_download(ta);
    for (size_t i = 0; i < un; i++) ref[i] = a[i];
    ctvk_ref_grad_acc(ref, 0.37f, g, un);
    ctvk_ref_grad_acc(ref, -1.25f, g, un);
    /* two roundings each; the device may fuse s*g+acc into one fma: a few ulp of max|acc| */
    double e = check_rel_err(got, ref, un, 1e-6);
    printf("n=%-7d chunks=%-3d grad_acc x2 worst relative error %.3g\n", n, fa.nchunks, e);
    CHECK(e <= 1e-6, "grad_acc n=%d error %g", n, e);
    free(got);

    /* scale: one multiplication, exact */
    float *prev = check_download(ta);
    CHECK(ctvk_grad_scale(ctx, &fa, 0.5f) == CTVK_OK, "grad_scale: %s", ctvk_error());
    got = check_download(ta);
    ctvk_ref_grad_scale(prev, 0.5f, un);
    CHECK(check_rel_err(got, prev, un, 1e-30) == 0, "grad_scale n=%d not exact", n);
    free(prev);
    free(got);

    /* zero: exact, every element (the buffer was nonzero) */
    d0 = dispatches(ctx);
    CHECK(ctvk_grad_zero(ctx, &fa) == CTVK_OK, "grad_zero: %s", ctvk_error());
    CHECK(dispatches(ctx) - d0 == (uint64_t)fa.nchunks, "grad_zero: not one dispatch per chunk");
    got = check_download(ta);
    int bad = 0;
    for (size_t i = 0; i < un; i++) bad += got[i] != 0.0f;
    CHECK(bad == 0, "grad_zero n=%d: %d nonzero", n, bad);
    free(got);

    /* accumulate into zero with scale 1: exactly g */
    CHECK(ctvk_grad_acc(ctx, &fa, 1.0f, &fg) == CTVK_OK, "grad_acc: %s", ctvk_error());
    got = check_download(ta);
    bad = 0;
    for (size_t i = 0; i < un; i++) bad += got[i] != g[i];
    CHECK(bad == 0, "zero then acc(1) n=%d: %d differ from g", n, bad);
    free(got);

    ctvk_flat_release(&fa);
    ctvk_flat_release(&fg);
    ctvk_tensor_destroy(ta);
    ctvk_tensor_destroy(tg);
    free(a); free(g); free(ref);
}

int main(void)
{
    static const int sizes[] = {1, 3, 7, 31, 1000, 100003};
    for (int pass = 0; pass < 2; pass++) {
        ctvk_options o;
        ctvk_options_default(&o);
        o.no_push_descriptors = pass;
        ctvk_ctx *ctx = check_ctx(&o);
        printf("-- %s\n", pass ? "pooled descriptor sets" : "push descriptors");
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) run(ctx, sizes[i], 0);
        /* cut into chunks: several dispatches, same numbers */
        run(ctx, 100003, 8192);
        run(ctx, 1000, 64);

        /* mismatched sizes are refused */
        ctvk_tensor *a = check_tensor(ctx, (ctvk_shape){1, 1, 1, 10}, NULL, "a");
        ctvk_tensor *b = check_tensor(ctx, (ctvk_shape){1, 1, 1, 11}, NULL, "b");
        ctvk_flat fa, fb;
        CHECK(ctvk_flat_init(a, 0, &fa) == CTVK_OK && ctvk_flat_init(b, 0, &fb) == CTVK_OK, "flat_init");
        CHECK(ctvk_grad_acc(ctx, &fa, 1.0f, &fb) == CTVK_ERR_ARG, "grad_acc accepted different sizes");
        ctvk_flat_release(&fa);
        ctvk_flat_release(&fb);
        ctvk_tensor_destroy(a);
        ctvk_tensor_destroy(b);
        check_ctx_done(ctx);
    }
    return check_done("test_grad");
}
