/* Checkpoints: bit-exact round trips (parameters, optimizer state, progress, config); every kind of
 * damage refused with a message naming the file and the problem (a flipped byte in each section and
 * at evenly spaced places everywhere, truncation, stray bytes); another architecture refused; a
 * failed save (missing or read-only folder, a fault half-way) says why and leaves the previous file
 * intact; and the Keras initialisation (glorot bounds, N(0, 0.001) FPN dense kernels, BN ones/zeros,
 * determinism per tensor). */
#include "ctvk/checkpoint.h"
#include "tests/check.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void small_cfg(ctvk_model_config *c, int size)
{
    ctvk_model_config_default(c, "small_resnet");
    c->height = c->width = size;
    c->stages = 2;
    c->blocks[0] = 1; c->blocks[1] = 2;
    c->widths[0] = 8; c->widths[1] = 16;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { *n = 0; return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Loading path must fail with a message holding the path and `want`. */
static void refused(const char *path, const ctvk_graph *g, const char *want, const char *what)
{
    ctvk_checkpoint ck;
    ctvk_status s = ctvk_checkpoint_load(path, g, &ck);
    CHECK(s != CTVK_OK, "%s: loaded a damaged checkpoint", what);
    CHECK(strstr(ctvk_error(), path) != NULL, "%s: message does not name the file: %s", what, ctvk_error());
    CHECK(!want || strstr(ctvk_error(), want) != NULL, "%s: message '%s' lacks '%s'", what, ctvk_error(), want);
    CHECK(ck.params == NULL && ck.opt_m == NULL && ck.metrics == NULL, "%s: *ck not cleared", what);
    if (s == CTVK_OK) ctvk_checkpoint_free(&ck);
}

static int params_equal(const ctvk_graph *g, const float *a, const float *b)
{
    for (int i = 0; i < g->nlayers; i++)
        for (int k = 0; k < g->layers[i].nparams; k++) {
            const ctvk_param *p = &g->layers[i].params[k];
            if (memcmp(a + p->offset, b + p->offset, p->count * sizeof(float))) return 0;
        }
    return 1;
}

typedef struct flip { size_t at; char want[96], what[64]; } flip;
static flip mk(size_t at, const char *want, const char *what)
{
    flip f = {at, "", ""};
    snprintf(f.want, sizeof f.want, "%s", want ? want : "");
    snprintf(f.what, sizeof f.what, "%s", what);
    return f;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_init(void)
{
    ctvk_model_config c;
    ctvk_graph g;
    ctvk_model_config_default(&c, "resnet50v2_fpn");
    c.height = c.width = 128;
    CHECK(ctvk_graph_build(&c, &g) == CTVK_OK, "fpn: %s", ctvk_error());
    float *a = malloc(g.params_total * sizeof *a), *b = malloc(g.params_total * sizeof *b);
    ctvk_graph_init_params(&g, a, 7);
    ctvk_graph_init_params(&g, b, 7);
    CHECK(!memcmp(a, b, g.params_total * sizeof *a), "init is not deterministic");
    ctvk_graph_init_params(&g, b, 8);
    const ctvk_layer *conv1 = &g.layers[ctvk_graph_find(&g, "conv1_conv")];
    CHECK(memcmp(a + conv1->params[0].offset, b + conv1->params[0].offset, 64) != 0, "seed changes nothing");
    /* glorot uniform on conv1_conv (7,7,1,64): limit sqrt(6 / (49 + 3136)) */
    double lim = sqrt(6.0 / (49.0 * 1 + 49.0 * 64)), mx = 0, mean = 0;
    const float *k = a + conv1->params[0].offset;
    size_t n = conv1->params[0].count;
    for (size_t i = 0; i < n; i++) { mx = fmax(mx, fabs(k[i])); mean += k[i]; }
    mean /= (double)n;
    printf("conv1_conv kernel: max |w| %.5f (limit %.5f), mean %.5f\n", mx, lim, mean);
    CHECK(mx <= lim && mx > 0.95 * lim, "glorot bound: max %g, limit %g", mx, lim);
    CHECK(fabs(mean) < 0.05 * lim, "glorot mean %g", mean);
    const float *bias = a + conv1->params[1].offset;
    int zero = 1;
    for (int i = 0; i < 64; i++) zero &= bias[i] == 0.0f;
    CHECK(zero, "conv1_conv bias not zero");
    const ctvk_layer *bn = &g.layers[ctvk_graph_find(&g, "post_bn")];
    int ok = 1;
    for (int i = 0; i < bn->params[0].dims[0]; i++)
        ok &= a[bn->params[0].offset + (size_t)i] == 1.0f && a[bn->params[1].offset + (size_t)i] == 0.0f &&
              a[bn->params[2].offset + (size_t)i] == 0.0f && a[bn->params[3].offset + (size_t)i] == 1.0f;
    CHECK(ok, "post_bn: gamma/moving_variance must be 1, beta/moving_mean 0");
    /* FPN dense kernels ~ N(0, 0.001) */
    const ctvk_layer *d1 = &g.layers[ctvk_graph_find(&g, "dense_1")];
    double s1 = 0, s2 = 0;
    size_t m = d1->params[0].count;
    for (size_t i = 0; i < m; i++) { double x = a[d1->params[0].offset + i]; s1 += x; s2 += x * x; }
    double sd = sqrt(s2 / (double)m - (s1 / (double)m) * (s1 / (double)m));
    printf("dense_1 kernel (%zu values): mean %.3g, std %.6f (want 0.001)\n", m, s1 / (double)m, sd);
    CHECK(fabs(sd - 0.001) < 0.00005 && fabs(s1 / (double)m) < 0.00005, "dense_1 std %g mean %g", sd, s1 / (double)m);
    /* padding between tensors is zero */
    const ctvk_param *p0 = &conv1->params[0];
    ok = 1;
    for (size_t i = p0->offset + p0->count; i < conv1->params[1].offset; i++) ok &= a[i] == 0.0f;
    CHECK(ok, "padding not zero");
    free(a);
    free(b);
    ctvk_graph_free(&g);
}

int main(void)
{
    test_init();

    char *dir = check_tmpdir("ckpt");
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    snprintf(other, sizeof other, "%s/bad.ckpt", dir);
    ctvk_model_config c;
    small_cfg(&c, 16);
    ctvk_graph g;
    CHECK(ctvk_graph_build(&c, &g) == CTVK_OK, "build: %s", ctvk_error());

    ctvk_checkpoint ck = {0};
    ck.params_total = g.params_total;
    ck.params = malloc(g.params_total * sizeof(float));
    ck.opt_m = malloc(g.params_total * sizeof(float));
    ck.opt_v = malloc(g.params_total * sizeof(float));
    check_fill_uniform(ck.params, g.params_total, 1, -1, 1);
    check_fill_uniform(ck.opt_m, g.params_total, 2, -1, 1);
    check_fill_uniform(ck.opt_v, g.params_total, 3, 0, 1);
    unsigned char blob[24];
    for (int i = 0; i < 24; i++) blob[i] = (unsigned char)(i * 37 + 5);
    ck.opt_blob = blob;
    ck.opt_blob_size = sizeof blob;
    ck.epoch = 7;
    ck.step = -12345678901LL;
    ck.rng[0] = 1; ck.rng[1] = 0xFFFFFFFFFFFFFFFFull; ck.rng[2] = 0x0123456789ABCDEFull; ck.rng[3] = 42;
    char metrics[] = "val_accuracy=0.9375\nval_loss=0.21\n";
    ck.metrics = metrics;
    CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_OK, "save: %s", ctvk_error());

    /* round trip, with the graph and without */
    for (int pass = 0; pass < 2; pass++) {
        ctvk_checkpoint r;
        ctvk_status s = ctvk_checkpoint_load(path, pass ? NULL : &g, &r);
        CHECK(s == CTVK_OK, "load (%s): %s", pass ? "no graph" : "graph", ctvk_error());
        if (s) continue;
        CHECK(r.params_total == g.params_total, "params_total %zu", r.params_total);
        CHECK(params_equal(&g, ck.params, r.params), "parameters differ after the round trip");
        CHECK(r.opt_m && !memcmp(r.opt_m, ck.opt_m, g.params_total * 4), "optimizer m differs");
        CHECK(r.opt_v && !memcmp(r.opt_v, ck.opt_v, g.params_total * 4), "optimizer v differs");
        CHECK(r.opt_blob_size == sizeof blob && !memcmp(r.opt_blob, blob, sizeof blob), "optimizer blob differs");
        CHECK(r.epoch == 7 && r.step == -12345678901LL, "progress %lld %lld", (long long)r.epoch, (long long)r.step);
        CHECK(!memcmp(r.rng, ck.rng, sizeof r.rng), "rng differs");
        CHECK(r.metrics && !strcmp(r.metrics, metrics), "metrics differ: %s", r.metrics ? r.metrics : "(null)");
        CHECK(!strcmp(r.model.arch, "small_resnet") && !strcmp(r.model.head, "gap") && r.model.height == 16 &&
              r.model.width == 16 && r.model.channels == 1 && r.model.classes == 2 && r.model.stages == 2 &&
              r.model.blocks[1] == 2 && r.model.widths[1] == 16 && r.model.bn_eps == c.bn_eps &&
              r.model.bn_momentum == c.bn_momentum && r.model.dropout == c.dropout, "model config differs");
        ctvk_checkpoint_free(&r);
    }
    ctvk_model_config pc;
    CHECK(ctvk_checkpoint_peek_config(path, &pc) == CTVK_OK && !strcmp(pc.arch, "small_resnet") && pc.widths[0] == 8,
          "peek: %s", ctvk_error());

    /* without optimizer state and metrics */
    {
        ctvk_checkpoint bare = {0};
        bare.params = ck.params;
        bare.params_total = ck.params_total;
        CHECK(ctvk_checkpoint_save(other, &g, &bare) == CTVK_OK, "save bare: %s", ctvk_error());
        ctvk_checkpoint r;
        CHECK(ctvk_checkpoint_load(other, &g, &r) == CTVK_OK, "load bare: %s", ctvk_error());
        CHECK(!r.opt_m && !r.opt_v && !r.opt_blob && !r.metrics && r.epoch == 0 && params_equal(&g, ck.params, r.params),
              "bare round trip");
        ctvk_checkpoint_free(&r);
    }

    /* NaN and infinity in the weights or the optimizer state: refused, naming the tensor */
    {
        const ctvk_layer *l = &g.layers[g.nlayers - 1];
        const ctvk_param *pr = &l->params[l->nparams - 1];
        char want[256];
        snprintf(want, sizeof want, "tensor %s/%s holds 1 non-finite value (NaN at index %zu)", l->name, pr->name,
                 pr->count - 1);
        float keep = ck.params[pr->offset + pr->count - 1];
        ck.params[pr->offset + pr->count - 1] = NAN;
        CHECK(ctvk_checkpoint_save(other, &g, &ck) == CTVK_OK, "save NaN: %s", ctvk_error());
        refused(other, &g, want, "a NaN weight");
        refused(other, NULL, want, "a NaN weight, no graph");
        ck.params[pr->offset + pr->count - 1] = keep;
        float keep0 = ck.params[0], keep1 = ck.params[1];
        ck.params[0] = INFINITY;
        ck.params[1] = -INFINITY;
        CHECK(ctvk_checkpoint_save(other, &g, &ck) == CTVK_OK, "save inf: %s", ctvk_error());
        refused(other, &g, "tensor conv1_conv/kernel:0 holds 2 non-finite values (infinity at index 0)", "infinities");
        ck.params[0] = keep0;
        ck.params[1] = keep1;
        keep = ck.opt_v[3];
        ck.opt_v[3] = NAN;
        CHECK(ctvk_checkpoint_save(other, &g, &ck) == CTVK_OK, "save NaN v: %s", ctvk_error());
        refused(other, &g, "tensor optimizer v holds 1 non-finite value (NaN at index 3)", "a NaN in optimizer v");
        ck.opt_v[3] = keep;
    }

    /* damage: one flipped byte in every part of the file */
    size_t n;
    unsigned char *orig = slurp(path, &n);
    CHECK(orig && n > 1000, "read back %zu bytes", n);
    printf("checkpoint: %zu bytes\n", n);
    flip cases[64];
    int nc = 0;
    cases[nc++] = mk(0, "bad magic", "magic");
    cases[nc++] = mk(8, "format version", "version");
    cases[nc++] = mk(12, "header flags", "flags");
    cases[nc++] = mk(16, "its header is corrupt (it declares", "size field");
    cases[nc++] = mk(20, "its header is corrupt (it declares", "size field high bytes");
    size_t o = 24;
    int first_tensor_checked = 0;
    while (o + 8 <= n && memcmp(orig + o, "CEND", 4)) {
        char tag[5];
        memcpy(tag, orig + o, 4);
        tag[4] = 0;
        uint64_t len = le64(orig + o + 8);
        char sec[64], pay[64];
        snprintf(sec, sizeof sec, "section %s", tag);
        snprintf(pay, sizeof pay, "%s payload", tag);
        cases[nc++] = mk(o, NULL, "section tag");
        cases[nc++] = mk(o + 9, NULL, "section length");
        if (!strcmp(tag, "DATA")) {
            cases[nc++] = mk(o + 16, "tensor conv1_conv/kernel:0: CRC mismatch (corrupt)", "first tensor");
            cases[nc++] = mk(o + 16 + len - 1, "CRC mismatch (corrupt)", "last tensor");
            first_tensor_checked = 1;
        } else {
            cases[nc++] = mk(o + 16 + len / 2, sec, pay);
            cases[nc++] = mk(o + 16 + len, "CRC mismatch", "section crc");
        }
        o += 16 + len + 4;
    }
    CHECK(first_tensor_checked && o + 8 == n, "walked the sections to %zu of %zu", o, n);
    cases[nc++] = mk(n - 1, "whole-file checksum mismatch", "file checksum");
    for (int i = 0; i < nc; i++) {
        unsigned char *b = malloc(n);
        memcpy(b, orig, n);
        b[cases[i].at] ^= 0x5A;
        spill(other, b, n);
        free(b);
        char what[128];
        snprintf(what, sizeof what, "flip at %zu (%s)", cases[i].at, cases[i].what);
        refused(other, &g, cases[i].want[0] ? cases[i].want : NULL, what);
        printf("  %-28s -> %s\n", what, ctvk_error());
    }
    /* ... and at ~500 evenly spaced bytes everywhere */
    int caught = 0, tries = 0;
    for (size_t at = 3; at < n; at += n / 500 + 1, tries++) {
        unsigned char *b = malloc(n);
        memcpy(b, orig, n);
        b[at] ^= 0x01;
        spill(other, b, n);
        free(b);
        ctvk_checkpoint r;
        if (ctvk_checkpoint_load(other, &g, &r) != CTVK_OK && strstr(ctvk_error(), other)) caught++;
        else ctvk_checkpoint_free(&r);
    }
    printf("flipped bits refused: %d of %d\n", caught, tries);
    CHECK(caught == tries, "only %d of %d damaged files refused", caught, tries);

    /* truncation and stray bytes */
    size_t cuts[] = {0, 5, 23, 24, 100, n / 2, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spill(other, orig, cuts[i]);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu", cuts[i]);
        refused(other, &g, "truncated", what);
        printf("  %-28s -> %s\n", what, ctvk_error());
    }
    {
        unsigned char *b = malloc(n + 3);
        memcpy(b, orig, n);
        memset(b + n, 0, 3);
        spill(other, b, n + 3);
        free(b);
        refused(other, &g, "corrupt", "3 stray bytes");
    }
    snprintf(other, sizeof other, "%s/nonexistent.ckpt", dir);
    refused(other, &g, "cannot open it", "missing file");
    snprintf(other, sizeof other, "%s/bad.ckpt", dir);

    /* another architecture or shape */
    {
        ctvk_model_config fc;
        ctvk_graph fg;
        ctvk_model_config_default(&fc, "resnet50v2_fpn");
        CHECK(ctvk_graph_build(&fc, &fg) == CTVK_OK, "fpn: %s", ctvk_error());
        char want[600];
        snprintf(want, sizeof want, "checkpoint %s is for small_resnet but the config asks for resnet50v2_fpn", path);
        refused(path, &fg, want, "other architecture");
        ctvk_graph_free(&fg);
        small_cfg(&fc, 16);
        fc.widths[1] = 32;
        CHECK(ctvk_graph_build(&fc, &fg) == CTVK_OK, "small: %s", ctvk_error());
        refused(path, &fg, "is a small_resnet with stages=2 blocks=1,2 widths=8,16 but the config asks for "
                           "stages=2 blocks=1,2 widths=8,32", "other widths");
        ctvk_graph_free(&fg);
        small_cfg(&fc, 16);
        fc.classes = 3;
        CHECK(ctvk_graph_build(&fc, &fg) == CTVK_OK, "small: %s", ctvk_error());
        refused(path, &fg, "is for 2 classes but the config asks for 3", "other classes");
        ctvk_graph_free(&fg);
        /* the gap head's weights do not depend on the input size: another size loads */
        small_cfg(&fc, 32);
        CHECK(ctvk_graph_build(&fc, &fg) == CTVK_OK, "small: %s", ctvk_error());
        ctvk_checkpoint r;
        CHECK(ctvk_checkpoint_load(path, &fg, &r) == CTVK_OK && params_equal(&fg, ck.params, r.params),
              "small_resnet checkpoint at 32x32: %s", ctvk_error());
        ctvk_checkpoint_free(&r);
        ctvk_graph_free(&fg);
    }

    /* failed saves: missing folder, a file as folder, read-only folder, a fault half-way */
    {
        char bad[600];
        snprintf(bad, sizeof bad, "%s/no/such/folder/x.ckpt", dir);
        CHECK(ctvk_checkpoint_save(bad, &g, &ck) != CTVK_OK && strstr(ctvk_error(), bad) &&
              strstr(ctvk_error(), "No such file or directory"), "missing folder: %s", ctvk_error());
        printf("missing folder: %s\n", ctvk_error());
        snprintf(bad, sizeof bad, "%s/x.ckpt", path);
        CHECK(ctvk_checkpoint_save(bad, &g, &ck) != CTVK_OK && strstr(ctvk_error(), "Not a directory"),
              "file as folder: %s", ctvk_error());
        char ro[512];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        mkdir(ro, 0755);
        snprintf(bad, sizeof bad, "%s/x.ckpt", ro);
        CHECK(ctvk_checkpoint_save(bad, &g, &ck) == CTVK_OK, "save in ro/: %s", ctvk_error());
        chmod(ro, 0555);
        if (geteuid() != 0) {
            ck.epoch = 8;
            CHECK(ctvk_checkpoint_save(bad, &g, &ck) != CTVK_OK && strstr(ctvk_error(), "Permission denied"),
                  "read-only folder: %s", ctvk_error());
            printf("read-only folder: %s\n", ctvk_error());
            ctvk_checkpoint r;
            CHECK(ctvk_checkpoint_load(bad, &g, &r) == CTVK_OK && r.epoch == 7, "previous checkpoint damaged");
            ctvk_checkpoint_free(&r);
            ck.epoch = 7;
        } else {
            printf("running as root: a read-only folder does not stop writes; covered by the fault below\n");
        }
        chmod(ro, 0755);
        int before = count_files(dir);
        setenv("CTVK_FAULT", "checkpoint-write:*", 1);
        ck.epoch = 9;
        ctvk_status s = ctvk_checkpoint_save(path, &g, &ck);
        unsetenv("CTVK_FAULT");
        ck.epoch = 7;
        CHECK(s != CTVK_OK && strstr(ctvk_error(), path) && strstr(ctvk_error(), "unchanged"), "fault: %s",
              ctvk_error());
        printf("fault half-way: %s\n", ctvk_error());
        CHECK(count_files(dir) == before, "a temporary file was left behind");
        ctvk_checkpoint r;
        CHECK(ctvk_checkpoint_load(path, &g, &r) == CTVK_OK && r.epoch == 7 && params_equal(&g, ck.params, r.params),
              "previous checkpoint damaged: %s", ctvk_error());
        ctvk_checkpoint_free(&r);
        /* a save over an existing checkpoint replaces it */
        ck.epoch = 10;
        CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_OK, "overwrite: %s", ctvk_error());
        CHECK(ctvk_checkpoint_load(path, &g, &r) == CTVK_OK && r.epoch == 10, "overwrite not seen");
        ctvk_checkpoint_free(&r);
        ck.params_total--;
        CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_ERR_ARG, "wrong params_total accepted");
        ck.params_total++;
    }

    free(orig);
    free(ck.params);
    free(ck.opt_m);
    free(ck.opt_v);
    ctvk_graph_free(&g);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(dir);
    return check_done("test_checkpoint");
}
