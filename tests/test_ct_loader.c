/* The batch loader: every image once per epoch with its label, epoch permutations that are a pure
 * function of (seed, epoch), the same stream from 1 and 3 decoding threads, short and dropped last
 * batches, finite streams, caller-owned buffers, decoding ahead into the ring (proved by breaking
 * the files after the consumer has taken one batch), and a slice that fails in the middle of an
 * epoch named in the error. */
#include "ctvk/ct.h"
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 23
#define SZ 16
static char *g_dir;
static char *g_paths[N];
static uint8_t g_labels[N];

static void make_files(void)
{
    uint16_t img[SZ * SZ];
    for (int i = 0; i < N; i++) {
        g_paths[i] = malloc(2048);
        snprintf(g_paths[i], 2048, "%s/img%02d.tif", g_dir, i);
        for (int k = 0; k < SZ * SZ; k++) img[k] = (uint16_t)(1000 * i + k);
        ctvk_tiff_write_options o = {.compression = i % 2 ? 5 : 1};
        CHECK(ctvk_tiff_write(g_paths[i], SZ, SZ, img, &o) == CTVK_OK, "write %d", i);
        g_labels[i] = (uint8_t)(i % 3 == 0);
    }
}

static ctvk_loader_options base(void)
{
    ctvk_loader_options o;
    memset(&o, 0, sizeof o);
    o.n = N, o.paths = (const char *const *)g_paths, o.labels = g_labels, o.batch = 5, o.size = SZ;
    o.shuffle = 1, o.seed = 77;
    return o;
}

/* Runs `epochs` epochs and records the image order; checks pixels and labels on the way. */
static int run(const ctvk_loader_options *o, int epochs, size_t *order, int *nbatches)
{
    ctvk_loader *l;
    if (ctvk_loader_create(o, &l) != CTVK_OK) { CHECK(0, "create: %s", ctvk_error()); return 0; }
    size_t k = 0;
    int bad = 0, batches = 0;
    for (int e = 0; e < epochs; e++) {
        for (;;) {
            ctvk_batch b;
            if (ctvk_loader_next(l, &b) != CTVK_OK) { CHECK(0, "next: %s", ctvk_error()); bad++; break; }
            if (b.n == 0) break;
            batches++;
            if (b.epoch != e) bad++;
            for (int i = 0; i < b.n; i++) {
                size_t img = b.images[i];
                const uint16_t *px = b.pixels + (size_t)i * SZ * SZ;
                if (px[0] != 1000 * img || px[SZ * SZ - 1] != 1000 * img + SZ * SZ - 1) bad++;
                if (b.labels[i] != g_labels[img]) bad++;
                order[k++] = img;
            }
            int last = b.last;
            ctvk_loader_release(l, &b);
            if (last) break;
        }
    }
    ctvk_loader_destroy(l);
    if (nbatches) *nbatches = batches;
    CHECK(bad == 0, "%d wrong pixels, labels or epochs", bad);
    return (int)k;
}

static void streams(void)
{
    ctvk_loader_options o = base();
    size_t a[4 * N], b[4 * N], perm[N];
    int nb = 0;
    int n = run(&o, 3, a, &nb);
    CHECK(n == 3 * N && nb == 3 * 5, "3 epochs: %d images in %d batches (5 per epoch, the last of 3)", n, nb);
    for (int e = 0; e < 3; e++) {
        int seen[N] = {0}, dup = 0;
        for (int i = 0; i < N; i++) dup += seen[a[e * N + i]]++ != 0;
        ctvk_loader_permutation(77, e, N, 1, perm);
        CHECK(!dup && !memcmp(perm, a + e * N, sizeof perm), "epoch %d: each image once, in the epoch's permutation", e);
    }
    CHECK(memcmp(a, a + N, N * sizeof *a) != 0, "epochs differ in order");
    /* 3 threads, depth 2 and depth 5: the same stream */
    o.threads = 3;
    run(&o, 3, b, NULL);
    CHECK(!memcmp(a, b, 3 * N * sizeof *a), "3 threads give the same stream");
    o.threads = 1, o.depth = 2;
    run(&o, 3, b, NULL);
    CHECK(!memcmp(a, b, 3 * N * sizeof *a), "depth 2 gives the same stream");
    o.depth = 5, o.threads = 2;
    run(&o, 3, b, NULL);
    CHECK(!memcmp(a, b, 3 * N * sizeof *a), "depth 5, 2 threads give the same stream");
    /* another seed shuffles differently; no shuffle keeps the list order */
    o = base();
    o.seed = 78;
    run(&o, 1, b, NULL);
    CHECK(memcmp(a, b, N * sizeof *a) != 0, "another seed, another order");
    o.shuffle = 0;
    run(&o, 2, b, NULL);
    int inorder = 1;
    for (int i = 0; i < 2 * N; i++) inorder &= b[i] == (size_t)(i % N);
    CHECK(inorder, "no shuffle: list order every epoch");
    /* drop_last: 4 batches of 5 per epoch */
    o = base();
    o.drop_last = 1;
    n = run(&o, 2, b, &nb);
    CHECK(n == 40 && nb == 8, "drop_last: %d images in %d batches", n, nb);
    /* a finite stream ends with n == 0 */
    o = base();
    o.epochs = 2, o.batch = 23;
    ctvk_loader *l;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create");
    int got = 0, ended = 0;
    for (int i = 0; i < 4; i++) {
        ctvk_batch bb;
        CHECK(ctvk_loader_next(l, &bb) == CTVK_OK, "next");
        if (bb.n == 0) { ended++; continue; }
        got += bb.n;
        CHECK(bb.last && bb.index == 0, "one batch per epoch");
        ctvk_loader_release(l, &bb);
    }
    CHECK(got == 46 && ended == 2, "two epochs then the end (%d images, %d ends)", got, ended);
    ctvk_loader_destroy(l);
    /* labels may be absent */
    o = base();
    o.labels = NULL;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create without labels");
    ctvk_batch bb;
    CHECK(ctvk_loader_next(l, &bb) == CTVK_OK && bb.n == 5 && bb.labels[0] == 0 && bb.labels[4] == 0, "labels read 0");
    ctvk_loader_release(l, &bb);
    ctvk_loader_destroy(l);
}

static void slots_and_misuse(void)
{
    ctvk_loader_options o = base();
    uint16_t *bufs[2];
    for (int i = 0; i < 2; i++) bufs[i] = malloc(5 * SZ * SZ * 2);
    o.depth = 2, o.slots = bufs;
    ctvk_loader *l;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create with caller buffers");
    ctvk_batch a, b, c;
    CHECK(ctvk_loader_next(l, &a) == CTVK_OK && a.pixels == bufs[0], "batch 0 in the caller's buffer 0");
    CHECK(ctvk_loader_next(l, &b) == CTVK_OK && b.pixels == bufs[1], "batch 1 in the caller's buffer 1");
    CHECK(ctvk_loader_next(l, &c) == CTVK_ERR_ARG && strstr(ctvk_error(), "release a batch"),
          "holding every buffer: %s", ctvk_error());
    ctvk_loader_release(l, &a);
    CHECK(ctvk_loader_next(l, &c) == CTVK_OK && c.pixels == bufs[0] && c.index == 2, "after a release, batch 2");
    ctvk_loader_release(l, &b);
    ctvk_loader_release(l, &c);
    ctvk_loader_destroy(l);   /* with work in flight */
    for (int i = 0; i < 2; i++) free(bufs[i]);
    o = base();
    o.depth = 1;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_ERR_ARG && strstr(ctvk_error(), "double buffering"), "depth 1: %s", ctvk_error());
    o = base();
    o.batch = 30, o.drop_last = 1;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_ERR_ARG && strstr(ctvk_error(), "no full batch"), "no full batch: %s", ctvk_error());
}

static void corrupt(const char *p)
{
    FILE *f = fopen(p, "wb");
    fputs("garbage, not a TIFF", f);
    fclose(f);
}

static void restore(int i)
{
    uint16_t img[SZ * SZ];
    for (int k = 0; k < SZ * SZ; k++) img[k] = (uint16_t)(1000 * i + k);
    ctvk_tiff_write(g_paths[i], SZ, SZ, img, NULL);
}

static void ahead_and_errors(void)
{
    /* depth 3, no shuffle: take batch 0 and hold it; the thread fills batches 1 and 2 and must stop
     * there (batch 3 needs batch 0's buffer). Break every file, then read on. */
    ctvk_loader_options o = base();
    o.shuffle = 0, o.depth = 3;
    ctvk_loader *l;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create");
    ctvk_batch b0, b;
    CHECK(ctvk_loader_next(l, &b0) == CTVK_OK && b0.n == 5, "batch 0");
    usleep(300 * 1000);   /* ample time to decode two batches of 5 tiny slices */
    for (int i = 0; i < N; i++) corrupt(g_paths[i]);
    ctvk_status s1 = ctvk_loader_next(l, &b);
    int ok1 = s1 == CTVK_OK && b.index == 1 && b.images[0] == 5 && b.pixels[0] == 5000;
    if (s1 == CTVK_OK) ctvk_loader_release(l, &b);
    ctvk_status s2 = ctvk_loader_next(l, &b);
    int ok2 = s2 == CTVK_OK && b.index == 2 && b.pixels[0] == 10000;
    if (s2 == CTVK_OK) ctvk_loader_release(l, &b);
    printf("decoded ahead: batch 1 %s, batch 2 %s\n", ok1 ? "ready" : "missing", ok2 ? "ready" : "missing");
    CHECK(ok1 && ok2, "batches 1 and 2 were decoded while batch 0 was held");
    ctvk_loader_release(l, &b0);
    ctvk_status s3 = ctvk_loader_next(l, &b);
    printf("batch 3 after the files broke -> %s\n", ctvk_error());
    CHECK(s3 == CTVK_ERR_FORMAT && strstr(ctvk_error(), g_paths[15]) && strstr(ctvk_error(), "epoch 1, batch 4 of 5"),
          "batch 3 could not be decoded ahead: %s", ctvk_error());
    CHECK(ctvk_loader_next(l, &b) == CTVK_ERR_FORMAT && strstr(ctvk_error(), g_paths[15]), "the error stays");
    ctvk_loader_destroy(l);
    for (int i = 0; i < N; i++) restore(i);

    /* one broken file in the middle of the second epoch */
    o = base();
    o.threads = 2;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_OK, "create");
    size_t perm[N];
    ctvk_loader_permutation(77, 1, N, 1, perm);
    int victim = (int)perm[12];   /* epoch 2 (1-based), batch 3, image 3 */
    int batches = 0, failed = 0;
    for (int k = 0; k < 12 && !failed; k++) {
        if (k == 4) corrupt(g_paths[victim]);   /* epoch 1's last batch is taken: the loader is in epoch 2 */
        ctvk_status s = ctvk_loader_next(l, &b);
        if (s != CTVK_OK) {
            failed = 1;
            char want[256];
            snprintf(want, sizeof want, "loader: epoch 2, batch 3 of 5, image 3 of the batch (list entry %d): %s", victim,
                     g_paths[victim]);
            printf("mid-epoch failure -> %s\n", ctvk_error());
            CHECK(strstr(ctvk_error(), want) && strstr(ctvk_error(), "not a TIFF file"), "message: %s", ctvk_error());
            break;
        }
        batches++;
        ctvk_loader_release(l, &b);
    }
    CHECK(failed && batches == 7, "the stream fails at batch 8 (epoch 2, batch 3), after %d good batches", batches);
    ctvk_loader_destroy(l);
    restore(victim);
}

/* Data-parallel parts: every part sees every batch (empty shares included), the shares are the
 * contiguous ranges [n p / P, n (p + 1) / P) of the whole batch, and together they are the whole
 * stream in order. */
static void parts(void)
{
    enum { P = 6, EPOCHS = 2 };   /* the last batch of 5 leaves one part empty */
    ctvk_loader_options o = base();
    o.batch = 6;                      /* 23 images: batches of 6, 6, 6, 5 */
    o.epochs = EPOCHS;
    size_t whole[N * EPOCHS];
    int nb = 0;
    CHECK(run(&o, EPOCHS, whole, &nb) == N * EPOCHS, "the whole stream");
    size_t got[N * EPOCHS];
    int seen[N * EPOCHS] = {0}, bad = 0, empty = 0;
    for (int p = 0; p < P; p++) {
        o.part = p, o.parts = P;
        ctvk_loader *l;
        if (ctvk_loader_create(&o, &l) != CTVK_OK) { CHECK(0, "create part %d: %s", p, ctvk_error()); return; }
        int batches = 0;
        size_t at = 0;                /* the first image of the batch in the whole stream */
        for (;;) {
            ctvk_batch b;
            if (ctvk_loader_next(l, &b) != CTVK_OK) { CHECK(0, "next: %s", ctvk_error()); break; }
            if (b.ended) break;
            int lo = b.global_n * p / P, hi = b.global_n * (p + 1) / P;
            if (b.offset != lo || b.n != hi - lo) bad++;
            empty += b.n == 0;
            for (int i = 0; i < b.n; i++) {
                got[at + (size_t)b.offset + (size_t)i] = b.images[i];
                seen[at + (size_t)b.offset + (size_t)i]++;
            }
            at += (size_t)b.global_n;
            batches++;
            ctvk_loader_release(l, &b);
        }
        ctvk_loader_destroy(l);
        CHECK(batches == nb, "part %d saw %d batches, the stream has %d", p, batches, nb);
    }
    size_t missing = 0, wrong = 0;
    for (int i = 0; i < N * EPOCHS; i++) {
        missing += seen[i] != 1;
        wrong += seen[i] == 1 && got[i] != whole[i];
    }
    printf("parts: %d of %d, %d empty shares; %zu images missing or twice, %zu out of place\n", P, P, empty, missing,
           wrong);
    CHECK(bad == 0, "%d shares with a wrong offset or size", bad);
    CHECK(empty == EPOCHS, "%d empty shares handed out, want one per epoch", empty);
    CHECK(missing == 0 && wrong == 0, "the parts do not make the whole stream");
    o.part = P;
    ctvk_loader *l = NULL;
    CHECK(ctvk_loader_create(&o, &l) == CTVK_ERR_ARG, "part %d of %d accepted", P, P);
    ctvk_loader_destroy(l);
}

int main(void)
{
    g_dir = check_tmpdir("ct-loader");
    make_files();
    streams();
    slots_and_misuse();
    ahead_and_errors();
    parts();
    for (int i = 0; i < N; i++) { unlink(g_paths[i]); free(g_paths[i]); }
    rmdir(g_dir);
    free(g_dir);
    return check_done("test_ct_loader");
}
