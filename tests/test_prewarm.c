/* ctvk_prewarm: a context of a workload writes the list of the pipelines it created next to the
 * pipeline cache; the next context of that workload has a worker thread create them while it goes
 * on, and its dispatches take them from the worker (the same bits as without); another workload's
 * list is another file; a list that is malformed, for other shaders, or holds keys of no shader is
 * ignored line by line or as a whole, never trusted; an unchanged list is not rewritten; pipelines
 * the worker made that no dispatch took are destroyed with the context (the validation layer
 * reports any that are not). */
#include "tests/check.h"
#include "ctvk/util.h"
#include "net/conv.h"
#include "net/ops.h"
#include "runtime/vk/internal.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir_[4096];

static ctvk_ctx *open_ctx(void) { return check_ctx_cache(dir_); }

/* A convolution with bias and ReLU, then a batch-norm inference: its result, downloaded. */
static float *work(ctvk_ctx *ctx)
{
    enum { C = 8, K = 12, NX = 2 * 9 * 9 * C, NW = 3 * 3 * C * K, NY = 2 * 9 * 9 * K };
    static float hx[NX], hw[NW], hb[K], hp[4][K];
    check_fill_uniform(hx, NX, 1, -1, 1);
    check_fill_uniform(hw, NW, 2, -0.3f, 0.3f);
    check_fill_uniform(hb, K, 3, -0.1f, 0.1f);
    for (int i = 0; i < 4; i++) check_fill_uniform(hp[i], K, 10 + (uint64_t)i, i == 3 ? 0.5f : -0.5f, i == 3 ? 1.5f : 0.5f);
    ctvk_shape xs = {2, 9, 9, C}, ws = {3, 3, C, K}, ys = {2, 9, 9, K}, cs = {1, 1, 1, K};
    ctvk_tensor *x = check_tensor(ctx, xs, hx, "x"), *w = check_tensor(ctx, ws, hw, "w");
    ctvk_tensor *b = check_tensor(ctx, cs, hb, "b"), *y = check_tensor(ctx, ys, NULL, "y");
    ctvk_tensor *z = check_tensor(ctx, ys, NULL, "z"), *p[4];
    for (int i = 0; i < 4; i++) p[i] = check_tensor(ctx, cs, hp[i], "bn");
    ctvk_conv2d g;
    CHECK(ctvk_conv2d_same(3, 3, 1, 1, 9, 9, &g) == CTVK_OK, "geometry: %s", ctvk_error());
    g.relu = 1;
    CHECK(ctvk_conv2d_forward(ctx, &g, x, w, b, y) == CTVK_OK &&
          ctvk_bn_forward_infer(ctx, y, p[0], p[1], p[2], p[3], 1e-3f, 0, z) == CTVK_OK && ctvk_sync(ctx) == CTVK_OK,
          "kernels: %s", ctvk_error());
    float *got = check_download(z);
    ctvk_tensor *all[] = {x, w, b, y, z, p[0], p[1], p[2], p[3]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ctvk_tensor_destroy(all[i]);
    return got;
}

/* The list files in the cache folder (pipelines-*.keys), the last one's path into out. */
static int lists(char *out, size_t n)
{
    DIR *d = opendir(dir_);
    int k = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".keys")) {
            k++;
            snprintf(out, n, "%s/%s", dir_, e->d_name);
        }
    }
    if (d) closedir(d);
    return k;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

static uint64_t prewarmed(ctvk_ctx *ctx)
{
    ctvk_stats st;
    ctvk_get_stats(ctx, &st);
    return st.pipelines_prewarmed;
}

static ino_t inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

int main(void)
{
    char *tmp = check_tmpdir("prewarm");
    snprintf(dir_, sizeof dir_, "%s", tmp);
    char list[4200], text[16384];

    /* without a list: nothing ahead; the first context writes one line per pipeline */
    ctvk_ctx *ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK, "prewarm: %s", ctvk_error());
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_ERR_ARG, "a second ctvk_prewarm is refused");
    CHECK(ctvk__prewarm_join(ctx) == 0, "no list, no worker");
    float *ref = work(ctx);
    int npipe = ctvk_pipeline_count(ctx);
    CHECK(prewarmed(ctx) == 0 && npipe >= 2, "first run: %llu prewarmed, %d pipelines",
          (unsigned long long)prewarmed(ctx), npipe);
    check_ctx_done(ctx);
    CHECK(lists(list, sizeof list) == 1, "one list written");
    CHECK(count_lines(list) == npipe + 1, "%s: %d lines for %d pipelines", list, count_lines(list), npipe);

    /* the second context of the workload: all of them made ahead, taken, the same bits */
    ino_t before = inode(list);
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK, "prewarm: %s", ctvk_error());
    CHECK(ctvk__prewarm_join(ctx) == npipe, "the worker made %d of %d", ctvk__prewarm_join(ctx), npipe);
    float *got = work(ctx);
    CHECK(prewarmed(ctx) == (uint64_t)npipe && ctvk_pipeline_count(ctx) == npipe, "second run: %llu of %d prewarmed",
          (unsigned long long)prewarmed(ctx), npipe);
    CHECK(got && ref && !memcmp(got, ref, 2 * 9 * 9 * 12 * sizeof *got), "prewarmed pipelines give other bits");
    free(got);
    check_ctx_done(ctx);
    CHECK(inode(list) == before, "an unchanged list was rewritten");

    /* pipelines made ahead that no dispatch takes are destroyed with the context, and a context
     * that created nothing leaves the list as it was */
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK && ctvk__prewarm_join(ctx) == npipe, "made ahead, never taken");
    check_ctx_done(ctx);
    CHECK(inode(list) == before, "a context that took nothing rewrote the list");

    /* another workload: its own list, nothing ahead */
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "other") == CTVK_OK && ctvk__prewarm_join(ctx) == 0, "another workload's list");
    check_ctx_done(ctx);
    CHECK(lists(list, sizeof list) == 1, "a context that created nothing writes no list");

    /* a list with broken lines: valid keys are made, the rest skipped */
    FILE *f = fopen(list, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[len] = 0;
    char *nl = strchr(text, '\n');
    CHECK(nl != NULL, "list header");
    f = fopen(list, "w");
    if (f && nl) {
        fwrite(text, 1, (size_t)(nl - text + 1), f);   /* the header */
        fputs("nope/tw/16\n", f);                           /* no such shader */
        fputs("elementwise/tb/16,zz\n", f);                 /* not a key */
        fputs("conv_cpu/ttuw\n", f);                        /* truncated */
        fputs("convert/tw/999999999999\n", f);              /* out of range */
        fputs(nl + 1, f);                                   /* the real ones */
        fclose(f);
    }
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK, "prewarm: %s", ctvk_error());
    CHECK(ctvk__prewarm_join(ctx) == npipe, "with broken lines the worker made %d of %d", ctvk__prewarm_join(ctx),
          npipe);
    got = work(ctx);
    CHECK(got && ref && !memcmp(got, ref, 2 * 9 * 9 * 12 * sizeof *got), "other bits after a broken list");
    free(got);
    check_ctx_done(ctx);
    CHECK(count_lines(list) == npipe + 1, "the list is rewritten without the broken lines (%d lines)",
          count_lines(list));

    /* a list for other shaders, an over-long line, garbage: ignored as a whole, then rewritten */
    const char *bad[] = {"ctvk pipeline list 1 0123456789abcdef\nelementwise/tb/16,0,64\n",
                         "ctvk pipeline list 9 x\n", "\x01\x02garbage", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(list, "w");
        if (f) { fputs(bad[i], f); fclose(f); }
        ctx = open_ctx();
        CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK && ctvk__prewarm_join(ctx) == 0, "bad list %zu trusted", i);
        got = work(ctx);
        CHECK(got && ref && !memcmp(got, ref, 2 * 9 * 9 * 12 * sizeof *got), "other bits after bad list %zu", i);
        free(got);
        check_ctx_done(ctx);
        CHECK(count_lines(list) == npipe + 1, "bad list %zu not rewritten", i);
    }
    f = fopen(list, "w");
    if (f && nl) {
        fwrite(text, 1, (size_t)(nl - text + 1), f);
        for (int i = 0; i < 300; i++) fputc('x', f);
        fputc('\n', f);
        fclose(f);
    }
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK && ctvk__prewarm_join(ctx) == 0, "an over-long line trusted");
    check_ctx_done(ctx);

    /* a cache folder that does not exist yet (the default one on a new machine): the first
     * context creates it and writes its list there */
    snprintf(dir_, sizeof dir_, "%s/new", tmp);
    ctx = open_ctx();
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK, "prewarm: %s", ctvk_error());
    free(work(ctx));
    check_ctx_done(ctx);
    CHECK(lists(list, sizeof list) == 1 && count_lines(list) == npipe + 1, "no list in a new cache folder");

    /* no cache folder: no list, nothing happens */
    ctx = check_ctx_cache("");
    CHECK(ctvk_prewarm(ctx, "w") == CTVK_OK && ctvk__prewarm_join(ctx) == 0, "prewarm without a cache folder");
    CHECK(ctvk_prewarm(ctx, "") == CTVK_ERR_ARG, "an empty workload name is refused");
    check_ctx_done(ctx);

    free(ref);
    free(tmp);
    return check_done("test_prewarm");
}
