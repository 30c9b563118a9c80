/* fill, copy and scale-add against their C references, on awkward sizes, through both
 * descriptor paths (push descriptors and pooled sets) and both transfer paths (zero-copy mapped
 * memory and staging buffers). */
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>

static void run(ctvk_ctx *ctx, int n)
{
    ctvk_shape s = {1, 1, 1, n};
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y), *ref = malloc((size_t)n * sizeof *ref);
    check_fill_uniform(x, (size_t)n, 1000 + (uint64_t)n, -2, 2);
    check_fill_uniform(y, (size_t)n, 2000 + (uint64_t)n, -2, 2);
    ctvk_tensor *tx = check_tensor(ctx, s, x, "x"), *ty = check_tensor(ctx, s, y, "y");

    CHECK(ctvk_scale_add(ctx, 1.5f, tx, -0.25f, ty) == CTVK_OK, "scale_add: %s", ctvk_error());
    float *got = check_download(ty);
    for (int i = 0; i < n; i++) ref[i] = y[i];
    ctvk_ref_scale_add(1.5f, x, -0.25f, ref, (size_t)n);
    double e = check_rel_err(got, ref, (size_t)n, 1e-6);
    printf("scale_add n=%-7d worst relative error %.3g\n", n, e);
    CHECK(e <= 1e-6, "scale_add n=%d error %g", n, e);
    free(got);

    CHECK(ctvk_copy(ctx, tx, ty) == CTVK_OK, "copy: %s", ctvk_error());
    got = check_download(ty);
    ctvk_ref_copy(x, ref, (size_t)n);
    CHECK(check_rel_err(got, ref, (size_t)n, 1e-30) == 0, "copy n=%d not exact", n);
    free(got);

    CHECK(ctvk_fill(ctx, ty, 3.25f) == CTVK_OK, "fill: %s", ctvk_error());
    got = check_download(ty);
    ctvk_ref_fill(ref, (size_t)n, 3.25f);
    CHECK(check_rel_err(got, ref, (size_t)n, 1e-30) == 0, "fill n=%d not exact", n);
    free(got);

    ctvk_tensor_destroy(tx);
    ctvk_tensor_destroy(ty);
    free(x); free(y); free(ref);
}

int main(void)
{
    static const int sizes[] = {1, 3, 7, 31, 64, 255, 256, 257, 1000, 65537, 300001};
    for (int pass = 0; pass < 3; pass++) {
        ctvk_options o;
        ctvk_options_default(&o);
        o.no_push_descriptors = pass == 1;
        if (pass == 2) setenv("CTVK_FORCE_STAGING", "1", 1);   /* the discrete-GPU transfer path */
        ctvk_ctx *ctx = check_ctx(&o);
        unsetenv("CTVK_FORCE_STAGING");
        printf("-- %s\n", pass == 0 ? "push descriptors" : pass == 1 ? "pooled descriptor sets"
                                                            : "staging transfers (discrete-GPU path)");
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) run(ctx, sizes[i]);

        /* a chain of dependent kernels recorded without sync: the recorder must put barriers in */
        int n = 4099;
        ctvk_shape s = {1, 1, 1, n};
        ctvk_tensor *a = check_tensor(ctx, s, NULL, "a"), *b = check_tensor(ctx, s, NULL, "b");
        CHECK(ctvk_fill(ctx, a, 1.0f) == CTVK_OK && ctvk_fill(ctx, b, 0.0f) == CTVK_OK, "fill");
        for (int k = 0; k < 20; k++) {
            CHECK(ctvk_scale_add(ctx, 1.0f, a, 1.0f, b) == CTVK_OK, "scale_add");   /* b += a */
            CHECK(ctvk_scale_add(ctx, 2.0f, b, 0.0f, a) == CTVK_OK, "scale_add");   /* a = 2b */
        }
        /* a_k = 2 b_k, b_k = b_{k-1} + a_{k-1}: b = 1, 3, 9, ...: b_k = 3^(k-1), a_20 = 2 * 3^19 */
        float *got = check_download(a);
        double want = 2.0 * 1162261467.0;
        int bad = 0;
        for (int i = 0; i < n; i++) bad += got[i] != (float)want;
        CHECK(bad == 0, "dependent chain: %d of %d wrong (a[0] = %g, want %g)", bad, n, got[0], want);
        free(got);
        ctvk_stats st;
        ctvk_get_stats(ctx, &st);
        printf("dependent chain: %llu dispatches, %llu barriers\n", (unsigned long long)st.dispatches,
               (unsigned long long)st.barriers);
        ctvk_tensor_destroy(a);
        ctvk_tensor_destroy(b);
        check_ctx_done(ctx);
    }
    return check_done("test_elementwise");
}
