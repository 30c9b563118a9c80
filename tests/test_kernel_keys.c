/* What lets a driver that compiles at the first dispatch (lavapipe) compile each kernel once:
 *  - the CPU convolution kernels take shapes, lane split, ReLU and batching as push constants
 *    (read through ctvk_opaque): layers of every shape, with and without ReLU, dense layers and
 *    convolutions alike, create one pipeline;
 *  - with the view_keys quirk (llvmpipe), every texel view of a tensor has a byte size with a bit
 *    among bits 8-15 set, covers at most 511 bytes past its elements, all of them the tensor's own
 *    (no view overlaps another tensor), and no block's VkBuffer is a power of two in size or lacks
 *    a 256-byte tail; a view into a tensor keeps its exact range unless bits 8-15 of it are zero,
 *    then it reaches 256 bytes further, still inside its buffer; without the quirk every range is exact;
 *  - with the image_inputs quirk (llvmpipe; on by default), a kernel reads its inputs as storage
 *    texel buffers (its NAME.img build; a convolution's A stays a uniform texel buffer) unless it binds more of them than maxPerStageDescriptorStorageImages
 *    allows (4 under the limits clamp); an fp16 input goes to the kernel's uniform-texel-buffer
 *    form; the results are those of the reference either way. */
#include "check.h"
#include "ctvk/util.h"
#include "net/conv.h"
#include "net/ops.h"
#include "net/train_ops.h"
#include "runtime/vk/internal.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int pot(uint64_t x) { return x && !(x & (x - 1)); }

static void views(ctvk_ctx *ctx)
{
    const ctvk_memory *m = &ctx->mem;
    printf("view_keys quirk: %s (%s)\n", m->view_keys ? "on" : "off", ctvk_device(ctx)->name);
    static const size_t counts[] = {1, 63, 64, 1000, 16384, 65536, 65600, 262144, 3 * 65536, 16 << 20};
    enum { NT = sizeof counts / sizeof counts[0] };
    ctvk_tensor *t[NT] = {0};
    uint64_t r1[NT], r4[NT];   /* the ranges of the 1- and 4-component views */
    for (int i = 0; i < NT; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        CHECK(ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 1, 1, (int)counts[i]}, name, &t[i]) == CTVK_OK,
              "create %s: %s", name, ctvk_error());
        if (!t[i]) return;
        r1[i] = ctvk__view_range(t[i], t[i]->bytes, 4);
        r4[i] = ctvk__view_range(t[i], t[i]->bytes / 16 * 16, 16);
        if (!m->view_keys) {
            CHECK(r1[i] == t[i]->bytes && r4[i] == t[i]->bytes / 16 * 16, "%s: range %llu, want the exact %llu", name,
                  (unsigned long long)r1[i], (unsigned long long)t[i]->bytes);
            continue;
        }
        /* a view of more texels than the device allows keeps its range (the tensor is then read
         * through a storage buffer, or by its head) */
        uint64_t max = ctx->props.limits.maxTexelBufferElements, want = (t[i]->bytes + 255) / 256 * 256;
        if (((want >> 8) & 255) == 0) want += 256;
        uint64_t w1 = want / 4 <= max ? want : t[i]->bytes, w4 = want / 16 <= max ? want : t[i]->bytes / 16 * 16;
        CHECK(r1[i] == w1 && r4[i] == w4 && (w1 == t[i]->bytes || (r1[i] - t[i]->bytes < 512 && ((r1[i] >> 8) & 255))),
              "%s (%llu bytes): view ranges %llu / %llu, want %llu / %llu", name, (unsigned long long)t[i]->bytes,
              (unsigned long long)r1[i], (unsigned long long)r4[i], (unsigned long long)w1, (unsigned long long)w4);
        CHECK(!pot(ctvk__buffer_bytes(m, t[i]->block->size)), "%s: its block's buffer of %llu bytes is a power of two",
              name, (unsigned long long)ctvk__buffer_bytes(m, t[i]->block->size));
    }
    /* no two views overlap (the bytes past a tensor's elements are its own) */
    int overlaps = 0;
    for (int i = 0; i < NT; i++)
        for (int j = 0; j < NT; j++)
            if (i != j && t[i]->block == t[j]->block && t[i]->offset <= t[j]->offset &&
                t[j]->offset < t[i]->offset + r1[i])
                overlaps++;
    CHECK(overlaps == 0, "%d views overlap another tensor", overlaps);
    if (m->view_keys) {
        for (int k = 8; k <= 30; k++)
            CHECK(!pot(ctvk__buffer_bytes(m, 1ull << k)), "a block of 2^%d bytes keeps a power-of-two buffer", k);
        for (uint64_t sz = 1000; sz < (1ull << 31); sz = sz * 3 + 256)
            CHECK(ctvk__buffer_bytes(m, sz) >= sz + 256, "a block of %llu bytes has a buffer of %llu: no 256-byte tail",
                  (unsigned long long)sz, (unsigned long long)ctvk__buffer_bytes(m, sz));
    }
    ctvk_tensor *v = NULL;
    CHECK(ctvk_tensor_view(t[5], 100, (ctvk_shape){1, 1, 1, 65536 - 200}, "inner", &v) == CTVK_OK, "view: %s",
          ctvk_error());
    if (v) CHECK(ctvk__view_range(v, v->bytes, 4) == v->bytes, "a view into a tensor got more than its range");
    ctvk_tensor_destroy(v);
    /* a view into a tensor whose byte size has bits 8-15 zero (65536 floats) reaches 256 bytes
     * further with the quirk, inside its block's buffer; its 4-component view the same */
    for (int end = 0; end < 2; end++) {
        size_t n = 65536, first = end ? t[NT - 1]->count - n : 1024;
        CHECK(ctvk_tensor_view(t[NT - 1], first, (ctvk_shape){1, 1, 1, (int)n}, "aligned", &v) == CTVK_OK, "view: %s",
              ctvk_error());
        if (!v) continue;
        /* (a view that would exceed maxTexelBufferElements keeps its range: the limits clamp's 65536) */
        uint64_t max = ctx->props.limits.maxTexelBufferElements, more = m->view_keys ? v->bytes + 256 : v->bytes;
        uint64_t want1 = more / 4 <= max ? more : v->bytes, want4 = more / 16 <= max ? more : v->bytes;
        uint64_t got1 = ctvk__view_range(v, v->bytes, 4), got4 = ctvk__view_range(v, v->bytes, 16);
        CHECK(got1 == want1 && got4 == want4, "a view of %zu floats at %zu: ranges %llu / %llu, want %llu / %llu", n,
              first, (unsigned long long)got1, (unsigned long long)got4, (unsigned long long)want1,
              (unsigned long long)want4);
        CHECK(v->offset + got1 <= ctvk__buffer_bytes(m, v->block->size), "a view of %zu floats at %zu leaves its buffer",
              n, first);
        ctvk_tensor_destroy(v);
    }
    for (int i = 0; i < NT; i++) ctvk_tensor_destroy(t[i]);
}

static ctvk_tensor *filled(ctvk_ctx *ctx, ctvk_shape s, const char *name, uint64_t seed)
{
    size_t n = (size_t)s.n * s.h * s.w * s.c;
    float *h = malloc(n * sizeof *h);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) h[i] = (float)((double)(ctvk_splitmix64(&seed) >> 40) / 16777216.0 - 0.5);
    ctvk_tensor *t = check_tensor(ctx, s, h, name);
    free(h);
    return t;
}

/* Dense layers and convolutions of several shapes, lane splits (2 to 8 column blocks), with and
 * without ReLU: one conv_cpu pipeline. */
static void one_pipeline(ctvk_ctx *ctx)
{
    int before = ctvk_pipeline_count(ctx);
    struct { ctvk_shape x; int cout, k, stride, relu; } L[] = {
        {{2, 1, 1, 64}, 32, 0, 1, 1}, {{5, 1, 1, 128}, 16, 0, 1, 0}, {{3, 1, 1, 32}, 128, 0, 1, 1},
        {{1, 8, 8, 64}, 64, 1, 1, 0}, {{1, 9, 9, 32}, 48, 3, 2, 0}, {{2, 6, 7, 16}, 96, 3, 1, 0},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        int cin = L[i].x.h * L[i].x.w * L[i].x.c, k = L[i].k ? L[i].k : 1;
        ctvk_tensor *x = filled(ctx, L[i].x, "x", 10 + i);
        ctvk_tensor *w = filled(ctx, (ctvk_shape){1, k, k, (L[i].k ? L[i].x.c : cin) * L[i].cout}, "w", 20 + i);
        ctvk_tensor *b = filled(ctx, (ctvk_shape){1, 1, 1, L[i].cout}, "b", 30 + i);
        ctvk_tensor *y = NULL;
        ctvk_status s;
        if (!L[i].k) {
            y = check_tensor(ctx, (ctvk_shape){L[i].x.n, 1, 1, L[i].cout}, NULL, "y");
            s = ctvk_dense_forward(ctx, x, w, b, L[i].relu, y);
        } else {
            ctvk_conv2d p;
            ctvk_shape ys;
            s = ctvk_conv2d_same(k, k, L[i].stride, L[i].stride, L[i].x.h, L[i].x.w, &p);
            if (s == CTVK_OK) s = ctvk_conv2d_out_shape(&p, L[i].x, L[i].cout, &ys);
            if (s == CTVK_OK) y = check_tensor(ctx, ys, NULL, "y");
            if (s == CTVK_OK) s = ctvk_conv2d_forward(ctx, &p, x, w, b, y);
        }
        CHECK(s == CTVK_OK && ctvk_sync(ctx) == CTVK_OK, "layer %zu: %s", i, ctvk_error());
        ctvk_tensor_destroy(x);
        ctvk_tensor_destroy(w);
        ctvk_tensor_destroy(b);
        ctvk_tensor_destroy(y);
    }
    int made = ctvk_pipeline_count(ctx) - before;
    printf("%zu layers of other shapes: %d pipeline(s)\n", sizeof L / sizeof L[0], made);
    CHECK(made == 1, "%d pipelines for the layers, want 1 (shapes and flags are push constants)", made);
}

/* The texel bindings ('t', 'q', 'u', 'v', 'h', 'H') of the signature in a pipeline key NAME/SIG/... */
static int texel_bindings(const char *key)
{
    const char *c = strchr(key, '/');
    int n = 0;
    for (c = c ? c + 1 : key; *c && *c != '/'; c++) n += ctvk__sig_texel(*c) != 0;
    return n;
}

static void image_inputs(ctvk_ctx *ctx)
{
    const ctvk_device_info *info = ctvk_device(ctx);
    uint32_t limit = ctx->props.limits.maxPerStageDescriptorStorageImages;
    printf("image_inputs quirk: %s, up to %u storage texel buffers per kernel\n", info->image_inputs ? "on" : "off",
           limit);
    /* batch-norm inference binds 5 texel inputs: the img build where 5 are allowed, else the other */
    enum { C = 8, N = 2 * 3 * 3 * C };
    const ctvk_shape xs = {2, 3, 3, C}, cs = {1, 1, 1, C};
    float hx[N], hp[4][C], hy[N] = {0};   /* x; gamma, beta, mean, var (positive) */
    check_fill_uniform(hx, N, 41, -0.5f, 0.5f);
    for (int i = 0; i < 4; i++) check_fill_uniform(hp[i], C, 50 + (uint64_t)i, i == 3 ? 0.0f : -0.5f, i == 3 ? 1.0f : 0.5f);
    ctvk_tensor *x = check_tensor(ctx, xs, hx, "x"), *y = check_tensor(ctx, xs, NULL, "y"), *pr[4];
    for (int i = 0; i < 4; i++) pr[i] = check_tensor(ctx, cs, hp[i], "bn");
    CHECK(ctvk_bn_forward_infer(ctx, x, pr[0], pr[1], pr[2], pr[3], 1e-3f, 0, y) == CTVK_OK && ctvk_sync(ctx) == CTVK_OK &&
          ctvk_tensor_download(y, hy, sizeof hy) == CTVK_OK, "bn_forward_infer: %s", ctvk_error());
    double err = 0;
    for (int i = 0; i < N; i++) {
        int c = i % C;
        double ref = ((double)hx[i] - hp[2][c]) / sqrt((double)hp[3][c] + 1e-3) * hp[0][c] + hp[1][c];
        err = fmax(err, fabs(ref - hy[i]));
    }
    CHECK(err < 1e-5, "bn_forward_infer: max error %.3g against the reference", err);
    for (int i = 0; i < 4; i++) ctvk_tensor_destroy(pr[i]);
    ctvk_tensor_destroy(y);
    /* fp16 round trip: the f16 -> f32 kernel reads an fp16 input */
    int twins_wanted = 0;
    if (info->storage16) {
        ctvk_tensor *h = NULL, *back = check_tensor(ctx, xs, NULL, "back");
        float hb[N] = {0};
        CHECK(ctvk_tensor_create(ctx, CTVK_F16, xs, "h", &h) == CTVK_OK, "f16: %s", ctvk_error());
        CHECK(h && ctvk_convert_f32_to_f16(ctx, x, h) == CTVK_OK && ctvk_convert_f16_to_f32(ctx, h, back) == CTVK_OK &&
              ctvk_sync(ctx) == CTVK_OK && ctvk_tensor_download(back, hb, sizeof hb) == CTVK_OK,
              "fp16 round trip: %s", ctvk_error());
        double e16 = 0;
        for (int i = 0; i < N; i++) e16 = fmax(e16, fabs((double)hx[i] - hb[i]));
        CHECK(e16 < 1e-3, "fp16 round trip: max error %.3g", e16);
        ctvk_tensor_destroy(h);
        ctvk_tensor_destroy(back);
        twins_wanted = info->image_inputs;
    }
    ctvk_tensor_destroy(x);
    /* every pipeline so far: the img build exactly where the quirk and the limit allow, but for
     * the uniform-texel-buffer twins of img pipelines (same key without ".img") */
    int img = 0, twins = 0, wrong = 0;
    for (int i = 0; i < ctvk_pipeline_count(ctx); i++) {
        const char *key = ctvk_pipeline_info(ctx, i, NULL);
        const char *slash = strchr(key, '/');
        int has = slash && slash - key > 4 && !strncmp(slash - 4, ".img", 4);
        int n = texel_bindings(key);
        int want = info->image_inputs && n && (uint32_t)n <= limit && !strstr(key, ".ssbo/");
        img += has;
        if (has == want) continue;
        char twin[200];
        snprintf(twin, sizeof twin, "%.*s.img%s", slash ? (int)(slash - key) : 0, key, slash ? slash : "");
        int found = 0;
        for (int j = 0; j < ctvk_pipeline_count(ctx); j++) found |= !strcmp(ctvk_pipeline_info(ctx, j, NULL), twin);
        if (found && !has) { twins++; continue; }
        wrong++;
        printf("  %s: %s, want %s\n", key, has ? "img" : "uniform texel buffers", want ? "img" : "uniform texel buffers");
    }
    /* in an img build the convolutions keep A (binding 0) a uniform texel buffer, nothing else does */
    int conv_img = 0;
    for (int i = 0; i < ctx->npipelines; i++) {
        const ctvk_pipeline *p = ctx->pipelines[i];
        if (!p->img) continue;
        int conv = !strncmp(p->name, "conv_cpu", 8) || !strncmp(p->name, "conv_gpu", 8);
        conv_img += conv;
        uint32_t want = conv ? 1u : 0u;
        CHECK(p->img_sampled == want, "%s keeps bindings 0x%x sampled, want 0x%x", p->key, p->img_sampled, want);
    }
    CHECK(!info->image_inputs || conv_img > 0, "no convolution in an img build on a device with the quirk");
    printf("%d pipelines: %d img builds (%d convolutions, A sampled), %d uniform-texel-buffer twins\n",
           ctvk_pipeline_count(ctx), img, conv_img, twins);
    CHECK(wrong == 0, "%d pipelines in the wrong build", wrong);
    CHECK(!info->image_inputs || img > 0, "no img build on a device with the quirk");
    CHECK(twins >= twins_wanted, "an fp16 input made no uniform-texel-buffer twin");
}

/* A 3x3 convolution with bias of {2, 7, 7, cin} to 16 channels (cin 1: the stem's scalar path), downloaded. */
static float *conv_once(ctvk_ctx *ctx, int cin)
{
    ctvk_shape xs = {2, 7, 7, cin}, ys = {2, 7, 7, 16};
    ctvk_tensor *x = filled(ctx, xs, "x", 90), *w = filled(ctx, (ctvk_shape){3, 3, cin, 16}, "w", 91);
    ctvk_tensor *b = filled(ctx, (ctvk_shape){1, 1, 1, 16}, "b", 92), *y = check_tensor(ctx, ys, NULL, "y");
    ctvk_conv2d p;
    CHECK(ctvk_conv2d_same(3, 3, 1, 1, 7, 7, &p) == CTVK_OK && ctvk_conv2d_forward(ctx, &p, x, w, b, y) == CTVK_OK,
          "conv: %s", ctvk_error());
    float *got = check_download(y);
    ctvk_tensor *all[] = {x, w, b, y};
    for (int i = 0; i < 4; i++) ctvk_tensor_destroy(all[i]);
    return got;
}

/* [device] image_inputs = all: the convolutions' NAME.imga builds read A as a storage texel buffer
 * too (no binding sampled) and give the same bits as the default build. */
static void image_inputs_all(const float *ref4, const float *ref1)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.variant = CTVK_VARIANT_CPU;
    o.image_inputs = CTVK_IMAGE_INPUTS_ALL;
    ctvk_ctx *ctx = check_ctx(&o);
    float *got4 = conv_once(ctx, 8), *got1 = conv_once(ctx, 1);
    size_t n = 2 * 7 * 7 * 16;
    CHECK(got4 && ref4 && !memcmp(got4, ref4, n * sizeof *got4), "image_inputs = all: other bits (4-component A)");
    CHECK(got1 && ref1 && !memcmp(got1, ref1, n * sizeof *got1), "image_inputs = all: other bits (scalar A)");
    int imga = 0;
    for (int i = 0; i < ctx->npipelines; i++) {
        const ctvk_pipeline *p = ctx->pipelines[i];
        if (!p->img) continue;
        imga++;
        CHECK(strstr(p->key, ".imga/") && p->img_sampled == 0, "%s: want the imga build, nothing sampled (0x%x)",
              p->key, p->img_sampled);
    }
    CHECK(!ctvk_device(ctx)->image_inputs || imga == 2, "image_inputs = all: %d imga pipelines, want 2", imga);
    printf("image_inputs = all: %d convolution pipelines in the imga build, the same bits\n", imga);
    free(got4);
    free(got1);
    check_ctx_done(ctx);
}

/* One compiled kernel per pipeline, whatever the tensors: the same 1x1 convolution over a tensor
 * and over a view into a larger one (16384 floats, whose byte size has bits 8-15 zero), from an
 * empty Mesa cache. llvmpipe compiles a kernel again for each new key, and Mesa 22.3 keys every
 * compile after a kernel's first on its IR as that first compile left it (changed in place), so
 * a second key also costs a compile in the next run. Counted on llvmpipe only. */
static void one_compile(void)
{
    char *dir = check_tmpdir("kernel-keys"), sub[1100];
    if (!dir) { CHECK(0, "a temporary folder: %s", strerror(errno)); return; }
    const char *old = getenv("MESA_SHADER_CACHE_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("MESA_SHADER_CACHE_DIR", dir, 1);
    ctvk_options o;
    ctvk_options_default(&o);
    o.variant = CTVK_VARIANT_CPU;
    ctvk_ctx *ctx = check_ctx(&o);
    const ctvk_shape xs = {1, 16, 16, 64};
    ctvk_tensor *own = filled(ctx, xs, "own", 70), *big = filled(ctx, (ctvk_shape){1, 1, 1, 3 * 16384}, "big", 71);
    ctvk_tensor *w = filled(ctx, (ctvk_shape){1, 1, 64, 64}, "w", 72), *b = filled(ctx, (ctvk_shape){1, 1, 1, 64}, "b", 73);
    ctvk_tensor *in = NULL, *y1 = check_tensor(ctx, xs, NULL, "y1"), *y2 = check_tensor(ctx, xs, NULL, "y2");
    CHECK(ctvk_tensor_view(big, 16384, xs, "in", &in) == CTVK_OK, "view: %s", ctvk_error());
    ctvk_conv2d p;
    CHECK(in && ctvk_conv2d_same(1, 1, 1, 1, 16, 16, &p) == CTVK_OK && ctvk_conv2d_forward(ctx, &p, own, w, b, y1) == CTVK_OK &&
          ctvk_conv2d_forward(ctx, &p, in, w, b, y2) == CTVK_OK && ctvk_sync(ctx) == CTVK_OK,
          "conv: %s", ctvk_error());
    int view_keys = ctx->mem.view_keys, pipelines = ctvk_pipeline_count(ctx);
    ctvk_tensor *all[] = {in, own, big, w, b, y1, y2};
    for (int i = 0; i < 7; i++) ctvk_tensor_destroy(all[i]);
    check_ctx_done(ctx);   /* the device and its shader cache are written and closed */
    snprintf(sub, sizeof sub, "%s/mesa_shader_cache", dir);
    long entries = check_cache_entries(sub);
    printf("one convolution over a tensor and a view: %d pipeline(s), %ld Mesa cache entries\n", pipelines, entries);
    CHECK(!view_keys || entries == pipelines, "%ld kernels compiled for %d pipelines", entries, pipelines);
    if (saved) setenv("MESA_SHADER_CACHE_DIR", saved, 1);
    else unsetenv("MESA_SHADER_CACHE_DIR");
    free(saved);
    check_remove_tree(dir);
}

int main(void)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.variant = CTVK_VARIANT_CPU;
    CHECK(o.image_inputs == 1, "image_inputs is on by default");
    ctvk_ctx *ctx = check_ctx(&o);
    views(ctx);
    one_pipeline(ctx);
    image_inputs(ctx);
    float *ref4 = conv_once(ctx, 8), *ref1 = conv_once(ctx, 1);
    check_ctx_done(ctx);
    image_inputs_all(ref4, ref1);
    one_compile();
    free(ref4);
    free(ref1);
    return check_done("test_kernel_keys");
}
