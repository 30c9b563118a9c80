/* Input and resource faults (what tests/test_checkpoint.c, test_pipeline_cache.c and test_ct_loader.c
 * do not already cover):
 *  - checkpoint saves that fail once (CTVK_FAULT=checkpoint-write, the n-th write), over a path that
 *    is a folder, in a folder that is a file: refused with where and why, the previous checkpoint
 *    intact, no temporary file left, the next save fine;
 *  - corrupt, truncated and foreign checkpoints: refused, never trusted;
 *  - a memory budget too small for the requested network: refused up front by ctvk_net_create with
 *    the sizes, before any device memory is allocated;
 *  - unreadable or corrupt images in the middle of an epoch: the loader fails naming the file, or
 *    with skip_bad skips and counts them, short batches, every good image still seen. */
#include "ctvk/checkpoint.h"
#include "ctvk/ct.h"
#include "ctvk/net.h"
#include "tests/check.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void small_cfg(ctvk_model_config *c)
{
    ctvk_model_config_default(c, "small_resnet");
    c->height = c->width = 16;
    c->stages = 2;
    c->blocks[0] = c->blocks[1] = 1;
    c->widths[0] = 4; c->widths[1] = 8;
}

static void expect_epoch(const char *path, const ctvk_graph *g, int64_t epoch, const char *what)
{
    ctvk_checkpoint r;
    ctvk_status s = ctvk_checkpoint_load(path, g, &r);
    CHECK(s == CTVK_OK && r.epoch == epoch, "%s: the previous checkpoint (epoch %lld) is not intact: %s (epoch %lld)",
          what, (long long)epoch, s ? ctvk_error() : "loaded", (long long)r.epoch);
    ctvk_checkpoint_free(&r);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n && fclose(f) == 0, "write %s", path);
}

static void checkpoint_faults(const char *dir)
{
    ctvk_model_config c;
    small_cfg(&c);
    ctvk_graph g;
    memset(&g, 0, sizeof g);
    CHECK(ctvk_graph_build(&c, &g) == CTVK_OK, "build: %s", ctvk_error());
    float *params = calloc(g.params_total, sizeof *params);
    ctvk_graph_init_params(&g, params, 5);
    ctvk_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.params = params, ck.params_total = g.params_total, ck.epoch = 1;
    char sub[600], path[700];
    snprintf(sub, sizeof sub, "%s/ckpt", dir);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/last.ckpt", sub);
    CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_OK, "first save: %s", ctvk_error());

    /* the fault once (the first write of the next save), then the n-th write: each save fails with
     * the path and the cause, leaves epoch 1 and no temporary file; the save after it works */
    const char *faults[] = {"checkpoint-write", "checkpoint-write:4"};
    for (int k = 0; k < 2; k++) {
        setenv("CTVK_FAULT", faults[k], 1);
        ck.epoch = 2;
        ctvk_status s = ctvk_checkpoint_save(path, &g, &ck);
        CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), path) && strstr(ctvk_error(), "injected fault") &&
              strstr(ctvk_error(), "unchanged"), "%s: %s %s", faults[k], ctvk_status_name(s), ctvk_error());
        printf("%s: %s\n", faults[k], ctvk_error());
        CHECK(count_files(sub) == 1, "%s: %d files in %s (a temporary file left behind?)", faults[k], count_files(sub), sub);
        expect_epoch(path, &g, 1, faults[k]);
        /* one-shot faults are spent: the same save now works, then goes back to epoch 1 */
        if (k == 0) {
            CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_OK, "save after a one-shot fault: %s", ctvk_error());
            expect_epoch(path, &g, 2, "save after the fault");
            ck.epoch = 1;
            CHECK(ctvk_checkpoint_save(path, &g, &ck) == CTVK_OK, "save: %s", ctvk_error());
        }
        unsetenv("CTVK_FAULT");
    }
    ck.epoch = 1;

    /* a checkpoint path that is a folder: refused, the folder untouched, no temporary file */
    char asdir[700];
    snprintf(asdir, sizeof asdir, "%s/folder.ckpt", sub);
    mkdir(asdir, 0755);
    ctvk_status s = ctvk_checkpoint_save(asdir, &g, &ck);
    CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), asdir) && strstr(ctvk_error(), "renaming") &&
          strstr(ctvk_error(), "Is a directory"), "path is a folder: %s", ctvk_error());
    printf("path is a folder: %s\n", ctvk_error());
    struct stat st;
    CHECK(stat(asdir, &st) == 0 && S_ISDIR(st.st_mode) && count_files(asdir) == 0, "the folder was touched");
    CHECK(count_files(sub) == 2, "%d files in %s", count_files(sub), sub);
    /* a folder of the path that is a file: refused naming the folder */
    char under[800];
    snprintf(under, sizeof under, "%s/x.ckpt", path);
    CHECK(ctvk_checkpoint_save(under, &g, &ck) == CTVK_ERR_IO && strstr(ctvk_error(), under) &&
          strstr(ctvk_error(), "Not a directory") && strstr(ctvk_error(), path), "folder is a file: %s", ctvk_error());
    expect_epoch(path, &g, 1, "folder is a file");

    /* corrupt (one byte in the data), truncated, foreign (a TIFF), empty: refused naming the file */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    CHECK(fread(b, 1, (size_t)n, f) == (size_t)n, "read back");
    fclose(f);
    char bad[700];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    uint16_t img[16 * 16] = {0};
    struct { const char *what; long len; int flip; } cases[] = {
        {"corrupt", n, 1}, {"truncated", n / 2, 0}, {"header only", 24, 0}, {"empty", 0, 0}, {"foreign", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].len < 0) {
            CHECK(ctvk_tiff_write(bad, 16, 16, img, NULL) == CTVK_OK, "tiff: %s", ctvk_error());
        } else {
            if (cases[i].flip) b[n / 2] ^= 0x10;
            write_bytes(bad, b, (size_t)cases[i].len);
            if (cases[i].flip) b[n / 2] ^= 0x10;
        }
        ctvk_checkpoint r;
        ctvk_status ls = ctvk_checkpoint_load(bad, &g, &r);
        CHECK(ls != CTVK_OK && strstr(ctvk_error(), bad) && r.params == NULL, "%s checkpoint: %s %s", cases[i].what,
              ctvk_status_name(ls), ctvk_error());
        printf("%s checkpoint: %s\n", cases[i].what, ctvk_error());
        ls = ctvk_checkpoint_load(bad, NULL, &r);
        CHECK(ls != CTVK_OK && r.params == NULL, "%s checkpoint (no graph) accepted", cases[i].what);
    }
    free(b);
    free(params);
    ctvk_graph_free(&g);
}

/* A budget far too small for the paper's network at batch 14: refused by ctvk_net_create before it
 * allocates anything, with the sizes; a small network still fits the same context. */
static void memory_budget(void)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.memory_limit = 64u << 20;
    ctvk_ctx *ctx = check_ctx(&o);
    ctvk_model_config c;
    ctvk_model_config_default(&c, "resnet50v2_fpn");
    ctvk_graph g;
    memset(&g, 0, sizeof g);
    CHECK(ctvk_graph_build(&c, &g) == CTVK_OK, "build: %s", ctvk_error());
    ctvk_stats before, after;
    ctvk_get_stats(ctx, &before);
    for (int training = 1; training >= 0; training--) {
        ctvk_net *net = NULL;
        ctvk_status s = ctvk_net_create(ctx, &g, 14, training, &net);
        ctvk_get_stats(ctx, &after);
        CHECK(s == CTVK_ERR_DEVICE_MEMORY && net == NULL, "resnet50v2_fpn 512x512 batch 14 in 64 MiB: %s",
              ctvk_status_name(s));
        const char *e = ctvk_error();
        CHECK(strstr(e, "resnet50v2_fpn 512x512x1, batch 14") && strstr(e, "needs at least") &&
              strstr(e, "activations") && strstr(e, "budget") && strstr(e, "64.0 MiB") &&
              strstr(e, training ? "(training)" : "(inference)"), "message: %s", e);
        printf("budget (%s): %s\n", training ? "training" : "inference", e);
        /* refused up front: no block was allocated on the way */
        CHECK(after.device_memory_blocks == before.device_memory_blocks &&
              after.device_memory_allocated == before.device_memory_allocated && after.tensors_alive == before.tensors_alive,
              "device memory was allocated before the refusal: %llu -> %llu bytes, %llu -> %llu tensors",
              (unsigned long long)before.device_memory_allocated, (unsigned long long)after.device_memory_allocated,
              (unsigned long long)before.tensors_alive, (unsigned long long)after.tensors_alive);
    }
    ctvk_graph_free(&g);
    small_cfg(&c);
    memset(&g, 0, sizeof g);
    CHECK(ctvk_graph_build(&c, &g) == CTVK_OK, "build: %s", ctvk_error());
    ctvk_net *net = NULL;
    CHECK(ctvk_net_create(ctx, &g, 2, 1, &net) == CTVK_OK, "small_resnet 16x16 batch 2 in 64 MiB: %s", ctvk_error());
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    check_ctx_done(ctx);
}

/* Ten 16x16 slices, three of them broken (garbage, a missing file, a truncated TIFF). */
#define NI 10
static void loader_faults(const char *dir)
{
    char *paths[NI];
    uint8_t labels[NI];
    uint16_t img[16 * 16];
    const int bad[3] = {4, 5, 8};      /* 4 and 5 share a batch of 2 when unshuffled: it vanishes */
    for (int i = 0; i < NI; i++) {
        paths[i] = malloc(700);
        snprintf(paths[i], 700, "%s/slice%02d.tif", dir, i);
        for (int k = 0; k < 16 * 16; k++) img[k] = (uint16_t)(100 * i + k);
        CHECK(ctvk_tiff_write(paths[i], 16, 16, img, NULL) == CTVK_OK, "write: %s", ctvk_error());
        labels[i] = (uint8_t)(i & 1);
    }
    write_bytes(paths[bad[0]], "not a TIFF at all", 17);
    unlink(paths[bad[1]]);
    FILE *f = fopen(paths[bad[2]], "r+b");
    CHECK(f && ftruncate(fileno(f), 40) == 0, "truncate");
    if (f) fclose(f);

    /* without skip_bad: the first bad slice fails the stream, naming it */
    ctvk_loader_options o;
    memset(&o, 0, sizeof o);
    o.n = NI, o.paths = (const char *const *)paths, o.labels = labels, o.batch = 2, o.size = 16, o.epochs = 2;
    ctvk_loader *l = NULL;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create: %s", ctvk_error());
    ctvk_batch b;
    int good = 0;
    ctvk_status s;
    while ((s = ctvk_loader_next(l, &b)) == CTVK_OK && b.n) good++, ctvk_loader_release(l, &b);
    CHECK(s != CTVK_OK && good == 2 && strstr(ctvk_error(), paths[bad[0]]) && strstr(ctvk_error(), "epoch 1, batch 3"),
          "mid-epoch failure after %d batches: %s", good, ctvk_error());
    printf("bad slice: %s\n", ctvk_error());
    ctvk_loader_destroy(l);

    /* skip_bad, 1 and 3 threads, in order and shuffled: 7 good images per epoch, 3 skips per epoch */
    for (int threads = 1; threads <= 3; threads += 2)
        for (int shuffle = 0; shuffle <= 1; shuffle++) {
            o.skip_bad = 1, o.threads = threads, o.shuffle = shuffle, o.seed = 9;
            CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create: %s", ctvk_error());
            int seen[NI] = {0}, images = 0, batches = 0, short_batches = 0, order_ok = 1, last_epoch = 0, last_index = -1;
            while ((s = ctvk_loader_next(l, &b)) == CTVK_OK && b.n) {
                batches++;
                images += b.n;
                if (b.n < o.batch) short_batches++;
                if (b.epoch < last_epoch || (b.epoch == last_epoch && b.index <= last_index)) order_ok = 0;
                last_epoch = b.epoch, last_index = b.index;
                for (int i = 0; i < b.n; i++) {
                    size_t idx = b.images[i];
                    seen[idx]++;
                    /* the pixels and label of image i are those of list entry idx */
                    if (b.labels[i] != labels[idx] || b.pixels[(size_t)i * 256 + 7] != (uint16_t)(100 * idx + 7))
                        order_ok = 0;
                }
                ctvk_loader_release(l, &b);
            }
            char last[1300];
            size_t skipped = ctvk_loader_skipped(l, last, sizeof last);
            CHECK(s == CTVK_OK, "skip_bad stream failed: %s", ctvk_error());
            CHECK(images == 2 * (NI - 3) && skipped == 6 && order_ok, "threads %d shuffle %d: %d images, %zu skipped, "
                  "order/content %s", threads, shuffle, images, skipped, order_ok ? "ok" : "WRONG");
            for (int i = 0; i < NI; i++) {
                int broken = i == bad[0] || i == bad[1] || i == bad[2];
                CHECK(seen[i] == (broken ? 0 : 2), "image %d seen %d times", i, seen[i]);
            }
            CHECK(strstr(last, "loader: epoch 2") && strstr(last, "slice"), "last skip: '%s'", last);
            if (!shuffle)   /* in order: batch 3 (4, 5) vanishes, batch 5 (8, 9) is short, each epoch */
                CHECK(batches == 8 && short_batches == 2, "threads %d: %d batches, %d short", threads, batches,
                      short_batches);
            if (threads == 1 && !shuffle) printf("skip_bad: %zu skipped, last: %s\n", skipped, last);
            ctvk_loader_destroy(l);
        }
    for (int i = 0; i < NI; i++) { unlink(paths[i]); free(paths[i]); }
}

int main(void)
{
    char *dir = check_tmpdir("faults");
    checkpoint_faults(dir);
    loader_faults(dir);
    memory_budget();
    free(dir);
    return check_done("test_faults");
}
