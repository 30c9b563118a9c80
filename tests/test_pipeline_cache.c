/* The disk pipeline cache: a first context writes it, a second loads it (and spends less time
 * creating pipelines, printed), and a corrupt, truncated, foreign or garbage file is ignored and
 * rebuilt, never trusted; kernels still compute the right result after a rejection. */
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4200];
static char dir_[4096];

static ctvk_ctx *open_ctx(void) { return check_ctx_cache(dir_); }

/* Creates the pipelines of the elementwise family and checks a result. */
static void work(ctvk_ctx *ctx)
{
    ctvk_shape s = {1, 1, 1, 77};
    float x[77], ref[77];
    check_fill_uniform(x, 77, 5, -1, 1);
    ctvk_tensor *a = check_tensor(ctx, s, x, "a"), *b = check_tensor(ctx, s, NULL, "b");
    CHECK(ctvk_fill(ctx, b, 1.0f) == CTVK_OK && ctvk_scale_add(ctx, 3.0f, a, 0.5f, b) == CTVK_OK &&
          ctvk_copy(ctx, b, a) == CTVK_OK, "kernels: %s", ctvk_error());
    float *got = check_download(a);
    ctvk_ref_fill(ref, 77, 1.0f);
    ctvk_ref_scale_add(3.0f, x, 0.5f, ref, 77);
    CHECK(check_rel_err(got, ref, 77, 1e-6) <= 1e-6, "wrong result");
    free(got);
    ctvk_tensor_destroy(a);
    ctvk_tensor_destroy(b);
}

static long file_size(void)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void patch(long at, unsigned char xor_with)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc((c ^ xor_with) & 0xff, f);
    fclose(f);
}

static void expect_rejected(const char *what, const char *why)
{
    ctvk_ctx *ctx = open_ctx();
    ctvk_stats st;
    ctvk_get_stats(ctx, &st);
    printf("%-10s -> state %d: %s\n", what, st.pipeline_cache_state, st.pipeline_cache_note);
    CHECK(st.pipeline_cache_state == -1, "%s cache file was not rejected", what);
    CHECK(strstr(st.pipeline_cache_note, why) != NULL, "%s: note '%s' lacks '%s'", what, st.pipeline_cache_note, why);
    work(ctx);
    check_ctx_done(ctx);   /* rewrites a good file */
    ctx = open_ctx();
    ctvk_get_stats(ctx, &st);
    CHECK(st.pipeline_cache_state == 1, "after a %s file the cache was not rebuilt", what);
    check_ctx_done(ctx);
}

int main(void)
{
    char *d = check_tmpdir("pcache");
    snprintf(dir_, sizeof dir_, "%s", d);
    free(d);

    ctvk_ctx *ctx = open_ctx();
    ctvk_stats st1, st2;
    ctvk_get_stats(ctx, &st1);
    CHECK(st1.pipeline_cache_state == 0, "fresh folder: state %d", st1.pipeline_cache_state);
    work(ctx);
    ctvk_get_stats(ctx, &st1);
    snprintf(path, sizeof path, "%s/pipelines-%04x-%04x.bin", dir_, ctvk_device(ctx)->vendor_id,
             ctvk_device(ctx)->device_id);
    check_ctx_done(ctx);
    long size = file_size();
    CHECK(size > 64, "cache file %s not written (size %ld)", path, size);

    ctx = open_ctx();
    ctvk_get_stats(ctx, &st2);
    CHECK(st2.pipeline_cache_state == 1, "second start did not load the cache: %s", st2.pipeline_cache_note);
    work(ctx);
    ctvk_get_stats(ctx, &st2);
    printf("first start: %llu pipelines in %.3f ms; second start (cache loaded): %llu pipelines in %.3f ms, "
           "%llu served from the cache by the driver\n", (unsigned long long)st1.pipelines_created,
           st1.pipeline_create_ns / 1e6, (unsigned long long)st2.pipelines_created, st2.pipeline_create_ns / 1e6,
           (unsigned long long)st2.pipeline_cache_hits);
    CHECK(st2.pipelines_created == st1.pipelines_created, "different pipeline counts");
    check_ctx_done(ctx);

    /* corrupt the payload (the last byte), the header's vendor id, truncate, replace by garbage */
    patch(file_size() - 1, 0x5a);
    expect_rejected("corrupt", "checksum");
    patch(8, 0x01);
    expect_rejected("foreign", "another device");
    FILE *f = fopen(path, "r+b");
    CHECK(f && ftruncate(fileno(f), 20) == 0, "truncate");
    if (f) fclose(f);
    expect_rejected("truncated", "shorter than its header");
    f = fopen(path, "wb");
    CHECK(f != NULL, "rewrite");
    if (f) { fputs("this is not a pipeline cache at all, just some text that is long enough...", f); fclose(f); }
    expect_rejected("garbage", "not a ctvk pipeline cache");

    /* a cache that cannot be written costs nothing but the cache */
    remove(path);
    setenv("CTVK_FAULT", "cache-write", 1);
    ctx = open_ctx();
    work(ctx);
    check_ctx_done(ctx);
    unsetenv("CTVK_FAULT");
    CHECK(file_size() < 0, "a failed write left a file behind");
    char tmpl[4200];
    snprintf(tmpl, sizeof tmpl, "rm -rf '%s'", dir_);
    CHECK(system(tmpl) == 0, "cleanup");
    return check_done("test_pipeline_cache");
}
