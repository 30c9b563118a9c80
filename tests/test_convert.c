/* dtype conversion: uint16 -> fp32 (every value, awkward sizes, scale/offset), fp32 -> fp16
 * (bit-exact round to nearest even, specials included) and fp16 -> fp32 (every bit pattern),
 * against the C references. */
#include "tests/check.h"
#include "net/train_ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ctvk_tensor *mk(ctvk_ctx *ctx, ctvk_dtype dt, int n, const void *data, const char *name)
{
    ctvk_tensor *t = NULL;
    if (ctvk_tensor_create(ctx, dt, (ctvk_shape){1, 1, 1, n}, name, &t) != CTVK_OK) {
        fprintf(stderr, "FAIL: create %s: %s\n", name, ctvk_error());
        exit(1);
    }
    if (data) CHECK(ctvk_tensor_upload(t, data, ctvk_tensor_bytes(t)) == CTVK_OK, "upload %s", name);
    return t;
}

static void test_u16(ctvk_ctx *ctx, int n)
{
    uint16_t *x = malloc((size_t)n * sizeof *x);
    uint64_t s = 11 + (uint64_t)n;
    for (int i = 0; i < n; i++) x[i] = n == 65536 ? (uint16_t)i : (uint16_t)check_rng_next(&s);
    ctvk_tensor *tx = mk(ctx, CTVK_U16, n, x, "u16"), *ty = mk(ctx, CTVK_F32, n, NULL, "f32");
    float *want = malloc((size_t)n * sizeof *want);
    CHECK(ctvk_convert_u16_to_f32(ctx, tx, 1.0f, 0.0f, ty) == CTVK_OK, "convert: %s", ctvk_error());
    float *got = check_download(ty);
    ctvk_ref_u16_to_f32(x, 1.0f, 0.0f, want, (size_t)n);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += got[i] != want[i] || got[i] != (float)x[i];
    CHECK(bad == 0, "u16->f32 n=%d: %d values not exact", n, bad);
    free(got);
    /* HU = value - 1024, scaled: two roundings, or one fused */
    CHECK(ctvk_convert_u16_to_f32(ctx, tx, 1.0f / 1000.0f, -1.024f, ty) == CTVK_OK, "convert: %s", ctvk_error());
    got = check_download(ty);
    ctvk_ref_u16_to_f32(x, 1.0f / 1000.0f, -1.024f, want, (size_t)n);
    double e = check_rel_err(got, want, (size_t)n, 1e-3);
    printf("u16->f32 n=%-6d exact; with scale/offset worst relative error %.3g\n", n, e);
    CHECK(e <= 1e-6, "u16->f32 scale/offset n=%d: %g", n, e);
    free(got);
    ctvk_tensor_destroy(tx);
    ctvk_tensor_destroy(ty);
    free(x);
    free(want);
}

static void test_references(void)
{
    /* known halves */
    struct { float f; uint16_t rte, rtz; } k[] = {
        {0.0f, 0x0000, 0x0000}, {-0.0f, 0x8000, 0x8000}, {1.0f, 0x3c00, 0x3c00}, {-2.0f, 0xc000, 0xc000},
        {65504.0f, 0x7bff, 0x7bff}, {65520.0f, 0x7c00, 0x7bff}, {1e6f, 0x7c00, 0x7bff},
        {6.103515625e-05f, 0x0400, 0x0400},                  /* smallest normal */
        {5.9604644775390625e-08f, 0x0001, 0x0001},           /* smallest subnormal */
        {2.98023223876953125e-08f, 0x0000, 0x0000},          /* half of it: tie to even 0 */
        {1.0f + 1.0f / 2048.0f, 0x3c00, 0x3c00},             /* tie between 1 and 1+2^-10: even */
        {1.0f + 3.0f / 2048.0f, 0x3c02, 0x3c01},             /* tie: rounds up to even */
        {0.1f, 0x2e66, 0x2e66}, {3.14159265f, 0x4248, 0x4248},
        {INFINITY, 0x7c00, 0x7c00}, {-INFINITY, 0xfc00, 0xfc00},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        uint16_t a = ctvk_ref_f32_to_f16(k[i].f, 0), b = ctvk_ref_f32_to_f16(k[i].f, 1);
        if (a != k[i].rte || b != k[i].rtz) {
            bad++;
            fprintf(stderr, "  %.9g -> %04x / %04x, want %04x / %04x\n", k[i].f, a, b, k[i].rte, k[i].rtz);
        }
    }
    CHECK(bad == 0, "fp32->fp16 reference: %d known values wrong", bad);
    /* every half survives half -> float -> half; NaNs stay NaN */
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ctvk_ref_f16_to_f32((uint16_t)h);
        int nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        if (nan ? !isnan(f) : ctvk_ref_f32_to_f16(f, 0) != h || ctvk_ref_f32_to_f16(f, 1) != h) bad++;
    }
    CHECK(bad == 0, "half round trip through the references: %d patterns wrong", bad);
    CHECK(ctvk_ref_f16_to_f32(0x3555) == 0.333251953125f && ctvk_ref_f16_to_f32(0x0001) == ldexpf(1, -24) &&
          ctvk_ref_f16_to_f32(0x03ff) == 1023 * ldexpf(1, -24), "half -> float known values");
    printf("references: known values and all 65536 halves round-trip\n");
}

static int is_sub_or_zero_half(uint16_t h) { return (h & 0x7c00u) == 0; }

static void test_f32_to_f16(ctvk_ctx *ctx, int n)
{
    float *x = malloc((size_t)n * sizeof *x);
    uint64_t s = 77 + (uint64_t)n;
    for (int i = 0; i < n; i++) {
        /* random sign, mantissa and exponent over 2^-26 .. 2^15: half subnormals and normals */
        float m = check_rng_uniform(&s, 1.0f, 2.0f);
        int e = (int)(check_rng_next(&s) % 42) - 26;
        x[i] = ldexpf(m, e) * (check_rng_next(&s) & 1 ? -1.0f : 1.0f);
    }
    static const float special[] = {NAN, 0.0f, -0.0f, 65504.0f, -65504.0f, 65519.99f, 65520.0f, 70000.0f, -1e9f,
                                    INFINITY, -INFINITY, 1e-5f, 5.9604644775390625e-08f, 2.98023223876953125e-08f,
                                    8.940696716308594e-08f, 1.0f + 3.0f / 2048.0f, 1.0f + 1.0f / 2048.0f, 0.1f};
    for (size_t i = 0; i < sizeof special / sizeof *special && i < (size_t)n; i++) x[i] = special[i];
    ctvk_tensor *tx = mk(ctx, CTVK_F32, n, x, "f32"), *th = mk(ctx, CTVK_F16, n, NULL, "f16");
    ctvk_tensor *tb = mk(ctx, CTVK_F32, n, NULL, "back");
    CHECK(ctvk_convert_f32_to_f16(ctx, tx, th) == CTVK_OK, "f32->f16: %s", ctvk_error());
    CHECK(ctvk_convert_f16_to_f32(ctx, th, tb) == CTVK_OK, "f16->f32: %s", ctvk_error());
    uint16_t *h = malloc((size_t)n * sizeof *h);
    CHECK(ctvk_tensor_download(th, h, (size_t)n * sizeof *h) == CTVK_OK, "download");
    float *back = check_download(tb);
    int bad = 0, bad_back = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        uint16_t a = ctvk_ref_f32_to_f16(x[i], 0);
        if (isnan(x[i])) {          /* any NaN half (a device need not keep the payload) */
            bad += (h[i] & 0x7c00u) != 0x7c00u || !(h[i] & 0x3ffu);
            bad_back += !isnan(back[i]);
            continue;
        }
        if (h[i] != a) {
            if (bad < 5) fprintf(stderr, "  %.9g -> %04x, want %04x\n", x[i], h[i], a);
            bad++;
        }
        /* the way back is exact */
        if (back[i] != ctvk_ref_f16_to_f32(h[i])) bad_back++;
        if (fabsf(x[i]) <= 65504.0f && !is_sub_or_zero_half(h[i])) {
            double r = fabs((double)back[i] - x[i]) / fabs(x[i]);
            if (r > worst) worst = r;
        }
    }
    printf("f32->f16 n=%-6d %d of %d not the nearest-even half; round trip worst relative %.3g\n", n, bad, n, worst);
    CHECK(bad == 0, "f32->f16 n=%d: %d results differ from the reference", n, bad);
    CHECK(bad_back == 0, "f16->f32 n=%d: %d values not exact", n, bad_back);
    /* half precision, rounded to nearest: 11 significant bits, relative error <= 2^-11 */
    CHECK(worst <= ldexp(1, -11), "round trip error %g", worst);
    free(x); free(h); free(back);
    ctvk_tensor_destroy(tx);
    ctvk_tensor_destroy(th);
    ctvk_tensor_destroy(tb);
}

static void test_all_halves(ctvk_ctx *ctx)
{
    const int n = 65536;
    uint16_t *h = malloc(n * sizeof *h);
    for (int i = 0; i < n; i++) h[i] = (uint16_t)i;
    ctvk_tensor *th = mk(ctx, CTVK_F16, n, h, "halves"), *tf = mk(ctx, CTVK_F32, n, NULL, "floats");
    CHECK(ctvk_convert_f16_to_f32(ctx, th, tf) == CTVK_OK, "f16->f32: %s", ctvk_error());
    float *got = check_download(tf);
    int bad = 0, flushed = 0;
    for (int i = 0; i < n; i++) {
        float want = ctvk_ref_f16_to_f32(h[i]);
        if (isnan(want)) { bad += !isnan(got[i]); continue; }
        if (got[i] == want && signbit(got[i]) == signbit(want)) continue;
        /* a device may flush half subnormals to zero when it reads them */
        if (is_sub_or_zero_half(h[i]) && got[i] == 0.0f) { flushed++; continue; }
        bad++;
    }
    printf("f16->f32 all 65536 bit patterns: %d wrong, %d subnormals flushed to zero\n", bad, flushed);
    CHECK(bad == 0, "f16->f32: %d of 65536 patterns wrong", bad);
    free(h);
    free(got);
    ctvk_tensor_destroy(th);
    ctvk_tensor_destroy(tf);
}

int main(void)
{
    test_references();
    ctvk_ctx *ctx = check_ctx(NULL);
    static const int sizes[] = {1, 3, 7, 31, 1000, 65536, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) test_u16(ctx, sizes[i]);
    if (ctvk_device(ctx)->storage16) {
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) test_f32_to_f16(ctx, sizes[i]);
        test_all_halves(ctx);
    } else {
        printf("%s has no 16-bit storage: fp16 conversion must refuse\n", ctvk_device(ctx)->name);
        ctvk_tensor *a = mk(ctx, CTVK_F32, 4, NULL, "a"), *b = mk(ctx, CTVK_F16, 4, NULL, "b");
        CHECK(ctvk_convert_f32_to_f16(ctx, a, b) == CTVK_ERR_UNSUPPORTED, "fp16 without 16-bit storage");
        ctvk_tensor_destroy(a);
        ctvk_tensor_destroy(b);
    }
    /* wrong dtypes and sizes are refused */
    ctvk_tensor *a = mk(ctx, CTVK_F32, 4, NULL, "a"), *b = mk(ctx, CTVK_F32, 5, NULL, "b");
    ctvk_tensor *u = mk(ctx, CTVK_U16, 4, NULL, "u");
    CHECK(ctvk_convert_u16_to_f32(ctx, a, 1, 0, b) == CTVK_ERR_ARG, "fp32 input to u16->f32 accepted");
    CHECK(ctvk_convert_u16_to_f32(ctx, u, 1, 0, b) == CTVK_ERR_ARG, "different sizes accepted");
    CHECK(ctvk_convert_f32_to_f16(ctx, a, b) == CTVK_ERR_ARG, "fp32 output to f32->f16 accepted");
    ctvk_tensor_destroy(a);
    ctvk_tensor_destroy(b);
    ctvk_tensor_destroy(u);
    check_ctx_done(ctx);
    return check_done("test_convert");
}
