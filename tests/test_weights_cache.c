/* The weights cache (runtime/vk/weights_cache.c): on a CPU device that imports host memory
 * (lavapipe) the first ctvk_net_from_checkpoint of a checkpoint stores its parameters and what is
 * derived from them (folded convolutions, batch-norm scale and shift, Winograd transforms) in ctvk's
 * cache folder, and the next one maps them instead of reading and transforming: the answers are bit
 * for bit those without the cache, no transform runs, and the validation layer says nothing about
 * the imported memory. An entry that is corrupt, truncated or made for other weights is a miss that
 * is noted and written again; mapped weights refuse writes; the cap evicts the least recently used
 * entry; CTVK_WEIGHTS_CACHE_MB=0 turns it off and a malformed value is refused by name. Where the
 * device cannot import host memory (SwiftShader, the limits clamp) nothing is written and the
 * answers are the same. An entry's checksums are computed once per boot: the entry written, or an
 * entry verified, is taken unverified while its stamp (boot, inode, size, times) is unchanged; a
 * changed byte, even with the modification time put back, and a fact of another boot are verified
 * again. */
#include "tests/check.h"
#include "ctvk/checkpoint.h"
#include "ctvk/net.h"
#include "ctvk/pipeline.h"
#include "ctvk/util.h"
#include "net/train_ops.h"
#include "runtime/vk/internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { BATCH = 2 };

typedef struct run_result {
    float probs[2 * BATCH];   /* two classes per image */
    int state;                /* weights_cache_state after ctvk_net_from_checkpoint */
    int end_state;            /* after the network is destroyed (2: an entry was written) */
    char note[320];
    uint64_t dispatches;      /* recorded by ctvk_net_from_checkpoint */
    int on;                   /* ctvk__wcache_on */
    int set_params_refused;   /* on a hit: ctvk_net_set_params said why it cannot write */
    int trusted;              /* on a hit: checksums verified earlier in this boot, not computed again */
} run_result;

static void run(const char *ckpt, const char *cache, const ctvk_model_config *mc, run_result *r)
{
    memset(r, 0, sizeof *r);
    ctvk_options o;
    ctvk_options_default(&o);
    o.cache_dir = cache;
    ctvk_ctx *ctx = check_ctx(&o);
    ctvk_graph g = {0};
    ctvk_net *net = NULL;
    ctvk_stats st0, st;
    ctvk_get_stats(ctx, &st0);
    r->on = ctvk__wcache_on(ctx);
    CHECK(ctvk_net_from_checkpoint(ctx, ckpt, BATCH, &g, &net) == CTVK_OK, "network: %s", ctvk_error());
    ctvk_get_stats(ctx, &st);
    r->state = st.weights_cache_state;
    r->trusted = st.weights_cache_trusted;
    snprintf(r->note, sizeof r->note, "%s", st.weights_cache_note);
    r->dispatches = st.dispatches - st0.dispatches;
    if (net) {
        size_t n = (size_t)BATCH * mc->height * mc->width * mc->channels;
        float *x = malloc(n * sizeof *x);
        check_fill_uniform(x, n, 11, 0.0f, 1.0f);
        CHECK(x && ctvk_tensor_upload(ctvk_net_input(net), x, n * sizeof *x) == CTVK_OK &&
              ctvk_net_forward(net, BATCH) == CTVK_OK && ctvk_net_probs(net, BATCH, r->probs) == CTVK_OK,
              "forward: %s", ctvk_error());
        free(x);
        if (r->state == 1) {   /* mapped weights are read only: refused by name, nothing crashes */
            float *p = calloc(g.params_total, sizeof *p);
            r->set_params_refused = p && ctvk_net_set_params(net, p) != CTVK_OK && strstr(ctvk_error(), "read only");
            free(p);
        }
    }
    ctvk_net_destroy(net);
    ctvk_get_stats(ctx, &st);
    r->end_state = st.weights_cache_state;
    ctvk_graph_free(&g);
    check_ctx_done(ctx);
}

/* The entries (weights-*.bin) in dir: how many, and the path of the last one found. */
static int entries(const char *dir, char *last, size_t n)
{
    DIR *d = opendir(dir);
    int k = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "weights-", 8)) {
            k++;
            if (last) snprintf(last, n, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return k;
}

static void flip_byte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    CHECK(fd >= 0 && pread(fd, &b, 1, at) == 1, "open %s: %s", path, strerror(errno));
    b ^= 0x40;
    CHECK(fd >= 0 && pwrite(fd, &b, 1, at) == 1, "write %s", path);
    if (fd >= 0) close(fd);
}

/* ctvk__checksum, the parts' checksum: its definition recomputed here on one thread (XXH3-64 of
 * each 8 MiB chunk seeded with its index, those values folded in order from the length), at the
 * sizes around a chunk's edge; a changed byte in the last chunk changes it. */
static void check_checksum(void)
{
    const size_t chunk = (size_t)8 << 20, sizes[] = {0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 12345};
    size_t most = sizes[sizeof sizes / sizeof *sizes - 1];
    unsigned char *b = malloc(most);
    uint64_t *h = malloc((most / chunk + 1) * sizeof *h);
    CHECK(b && h, "out of memory");
    if (!b || !h) { free(b); free(h); return; }
    uint64_t seed = 5;
    for (size_t i = 0; i < most; i++) b[i] = (unsigned char)(ctvk_splitmix64(&seed) >> 56);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k], nchunks = (n + chunk - 1) / chunk;
        for (size_t i = 0; i < nchunks; i++)
            h[i] = ctvk__xxh3(b + i * chunk, n - i * chunk < chunk ? n - i * chunk : chunk, i);
        uint64_t want = n, got = ctvk__checksum(b, n);
        for (size_t i = 0; i < nchunks; i++) want = ctvk__xxh3(&h[i], sizeof h[i], want);
        CHECK(got == want, "checksum of %zu bytes: %016llx, by its definition %016llx", n,
              (unsigned long long)got, (unsigned long long)want);
        if (n) {
            b[n - 1] ^= 1;
            CHECK(ctvk__checksum(b, n) != got, "checksum of %zu bytes: a changed last byte changes it", n);
            b[n - 1] ^= 1;
        }
    }
    free(b);
    free(h);
}

static int same(const run_result *a, const run_result *b)
{
    return !memcmp(a->probs, b->probs, sizeof a->probs);
}

int main(void)
{
    check_checksum();
    char *dir = check_tmpdir("wcache");
    if (!dir) { CHECK(0, "a temporary folder: %s", strerror(errno)); return check_done("test_weights_cache"); }
    char ckpt[4200], ckpt2[4200], cache[4200], none[4200], entry[4400];
    snprintf(ckpt, sizeof ckpt, "%s/net.ckpt", dir);
    snprintf(ckpt2, sizeof ckpt2, "%s/net2.ckpt", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(none, sizeof none, "%s/none", dir);
    /* the FPN at its smallest input: Winograd convolutions, folded and separate batch norms */
    ctvk_model_config mc;
    check_paper_net(2, &mc);
    CHECK(check_write_checkpoint(ckpt, &mc) == CTVK_OK && check_write_checkpoint_seed(ckpt2, &mc, 8) == CTVK_OK,
          "checkpoints: %s", ctvk_error());

    setenv("CTVK_WEIGHTS_CACHE_MB", "0", 1);
    run_result off, miss, hit;
    run(ckpt, none, &mc, &off);
    CHECK(!off.on && off.state == 0 && off.end_state == 0 && entries(none, NULL, 0) == 0,
          "CTVK_WEIGHTS_CACHE_MB=0: off (on %d, state %d/%d, %d entries)", off.on, off.state, off.end_state,
          entries(none, NULL, 0));
    unsetenv("CTVK_WEIGHTS_CACHE_MB");

    run(ckpt, cache, &mc, &miss);
    if (!miss.on) {   /* SwiftShader, the limits clamp: nothing written, the same answers */
        CHECK(miss.state == 0 && miss.end_state == 0 && entries(cache, NULL, 0) == 0 && same(&miss, &off),
              "no host import: no entry (state %d/%d), the same answers", miss.state, miss.end_state);
        check_remove_tree(dir);
        return check_done("test_weights_cache");
    }
    int nent = entries(cache, entry, sizeof entry);
    CHECK(miss.state == 0 && miss.end_state == 2 && nent == 1,
          "first run: a miss, then one entry written (state %d/%d, %d entries; %s)", miss.state, miss.end_state, nent,
          miss.note);
    CHECK(same(&miss, &off), "first run: the answers without the cache (%.9g %.9g / %.9g %.9g)", miss.probs[0],
          miss.probs[1], off.probs[0], off.probs[1]);
    CHECK(miss.probs[0] > 0.0f && miss.probs[0] < 1.0f, "a probability: %.9g", miss.probs[0]);

    run(ckpt, cache, &mc, &hit);
    CHECK(hit.state == 1 && hit.end_state == 1 && strstr(hit.note, "weights-"), "second run: mapped (%d/%d; %s)",
          hit.state, hit.end_state, hit.note);
    CHECK(same(&hit, &off), "second run: bit for bit the answers without the cache (%.9g %.9g / %.9g %.9g)",
          hit.probs[0], hit.probs[1], off.probs[0], off.probs[1]);
    CHECK(hit.dispatches < miss.dispatches, "second run: no transforms (%llu dispatches, %llu on the first)",
          (unsigned long long)hit.dispatches, (unsigned long long)miss.dispatches);
    CHECK(hit.set_params_refused, "mapped weights: ctvk_net_set_params refused by name (%s)", ctvk_error());
    CHECK(hit.trusted, "second run: the checksums of the entry this boot wrote are not computed again");

    /* a fact of another boot: verified again, then taken */
    char fact[4600] = "", line[1024];
    DIR *fd = opendir(cache);
    struct dirent *de;
    while (fd && (de = readdir(fd)))
        if (!strncmp(de->d_name, "fact-", 5)) snprintf(fact, sizeof fact, "%s/%s", cache, de->d_name);
    if (fd) closedir(fd);
    FILE *ff = fopen(fact, "r+");
    char *boot = ff && fgets(line, sizeof line, ff) ? strstr(line, "; boot ") : NULL;
    CHECK(boot != NULL, "the entry's fact %s names the boot", fact);
    if (boot) {
        boot[7] = boot[7] == '0' ? '1' : '0';
        rewind(ff);
        fputs(line, ff);
    }
    if (ff) fclose(ff);
    run_result other_boot, after;
    run(ckpt, cache, &mc, &other_boot);
    run(ckpt, cache, &mc, &after);
    CHECK(other_boot.state == 1 && !other_boot.trusted && after.state == 1 && after.trusted && same(&after, &off),
          "a fact of another boot: checksums computed (%d), then taken (%d)", other_boot.trusted, after.trusted);

    /* a flipped byte in the weights: a miss noted as corrupt, the same answers, the entry rewritten */
    run_result bad, again;
    struct stat st;
    CHECK(stat(entry, &st) == 0 && st.st_size > 8192, "entry %s", entry);
    flip_byte(entry, (long)(st.st_size / 2));
    run(ckpt, cache, &mc, &bad);
    CHECK(bad.state == -1 && strstr(bad.note, "corrupt") && bad.end_state == 2 && same(&bad, &off),
          "corrupt entry: a noted miss, written again (%d/%d; %s)", bad.state, bad.end_state, bad.note);
    run(ckpt, cache, &mc, &again);
    CHECK(again.state == 1 && same(&again, &off), "rewritten entry: mapped (%d; %s)", again.state, again.note);
    /* a changed byte with the modification time put back: the change time tells */
    CHECK(stat(entry, &st) == 0, "stat %s", entry);
    struct timespec old[2] = {st.st_atim, st.st_mtim};
    flip_byte(entry, (long)(st.st_size / 3));
    CHECK(utimensat(AT_FDCWD, entry, old, 0) == 0, "utimensat %s", entry);
    run(ckpt, cache, &mc, &bad);
    CHECK(bad.state == -1 && strstr(bad.note, "corrupt") && same(&bad, &off),
          "a changed byte, mtime put back: verified, corrupt (%d; %s)", bad.state, bad.note);
    run(ckpt, cache, &mc, &again);
    CHECK(again.state == 1 && again.trusted && same(&again, &off), "rewritten: mapped (%d; %s)", again.state,
          again.note);
    /* a header byte, then a truncation */
    flip_byte(entry, 20);
    run(ckpt, cache, &mc, &bad);
    CHECK(bad.state == -1 && strstr(bad.note, "header") && same(&bad, &off), "corrupt header: %d; %s", bad.state,
          bad.note);
    CHECK(truncate(entry, 4096 + 100) == 0, "truncate %s", entry);
    run(ckpt, cache, &mc, &bad);
    CHECK(bad.state == -1 && strstr(bad.note, "size") && same(&bad, &off) && bad.end_state == 2,
          "truncated entry: %d/%d; %s", bad.state, bad.end_state, bad.note);

    /* other weights: their own entry, their own answers; a cap of 1 MiB keeps only the newest */
    run_result other_off, other;
    setenv("CTVK_WEIGHTS_CACHE_MB", "0", 1);
    run(ckpt2, none, &mc, &other_off);
    setenv("CTVK_WEIGHTS_CACHE_MB", "1", 1);
    run(ckpt2, cache, &mc, &other);
    CHECK(other.state == 0 && other.end_state == 2 && same(&other, &other_off) && !same(&other, &off),
          "other weights: a miss, their answers (%d/%d)", other.state, other.end_state);
    char last[4400] = "";
    nent = entries(cache, last, sizeof last);
    CHECK(nent == 1 && strcmp(last, entry), "cap: only the newest entry is left (%d)", nent);
    setenv("CTVK_WEIGHTS_CACHE_MB", "lots", 1);
    ctvk_options o;
    ctvk_options_default(&o);
    ctvk_ctx *ctx = NULL;
    CHECK(ctvk_create(&o, &ctx) != CTVK_OK && strstr(ctvk_error(), "CTVK_WEIGHTS_CACHE_MB=lots"),
          "a malformed cap is refused by name: %s", ctvk_error());
    ctvk_destroy(ctx);
    unsetenv("CTVK_WEIGHTS_CACHE_MB");
    check_remove_tree(dir);
    return check_done("test_weights_cache");
}
