/* The weights cache: a network's prepared weights on a CPU device, kept in files that later runs
 * map straight into device memory (runtime/vk/internal.h; the README's "Start-up and caches").
 *
 * Why: on lavapipe a device's memory is the host's, and an inference start spends most of what is
 * not compilation on memory touched for the first time: the checkpoint's weights and what is
 * derived from them (batch norms folded into the convolutions, Winograd transforms: 405 MiB for
 * the FPN). Pages of a file that the page cache holds need no clearing, and mapping them costs a
 * fraction of filling fresh memory (docs/measurements.md). A hit imports those pages
 * (VK_EXT_external_memory_host) and skips the transforms.
 *
 * An entry: weights-VVVV-DDDD-KEY.bin in ctvk's cache folder, KEY a hash of the caller's key (what
 * the weights are made from: the checkpoint's tensor table, the network's layout), the device and
 * driver, the shaders (which compute the transforms) and the parts' sizes. The file: a 4 KiB header
 * (magic, version, key, per part its bytes, mapped bytes and checksum (ctvk__checksum, on several
 * cores), a checksum of the header), then each part at a page boundary. Nothing in it is trusted:
 * a header or a checksum that disagrees is a miss, noted, and the entry is written again. The
 * parts' checksums are computed once per boot: the writer, or the first run that verified the
 * entry since the boot, records that as a fact (runtime/base/facts.c), and a later run whose stamp
 * of the file (boot, inode, size, times) is the fact's takes the parts unverified. A miss
 * maps a new file (unnamed, its space reserved) as the device memory the weights are read and
 * transformed into, so that the run writes the entry as it goes; when the network is destroyed
 * after its work, the checksums and the header are written and the file gets its name by a rename
 * (no fsync: a torn file fails its checksums). Both mappings ask for huge pages: the page cache then
 * holds the entry in 2 MiB folios, which map several times faster than 4 KiB ones. A hit marks its entry used, and a new entry
 * removes the least recently used beyond CTVK_WEIGHTS_CACHE_MB (default 2048; 0 turns the cache
 * off). Mapped entries are read only; only renames ever replace an entry (a file truncated under a
 * running process would fault it: nothing in ctvk does that). */
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WC_MAGIC "CTVKWTS1"
#define WC_VERSION 2u
#define WC_HEADER 4096u
#define WC_DEFAULT_MB 2048
#define WC_FACT "weights cache entry verified, header checksum"

typedef struct wc_header {
    char magic[8];
    uint32_t version, nparts;
    uint64_t key;
    uint64_t bytes[CTVK_WCACHE_PARTS], map[CTVK_WCACHE_PARTS], hash[CTVK_WCACHE_PARTS];
    uint64_t header_hash;   /* of every field above */
} wc_header;

/* The cap in bytes: CTVK_WEIGHTS_CACHE_MB, 0 when the cache is off. */
static uint64_t cap_bytes(void)
{
    const char *v = getenv("CTVK_WEIGHTS_CACHE_MB");
    long mb = WC_DEFAULT_MB;
    if (v && *v && ctvk__parse_decimal(v, &mb) != 0) mb = WC_DEFAULT_MB;   /* ctvk_create refused it already */
    return mb > 0 ? (uint64_t)mb << 20 : 0;
}

int ctvk__wcache_on(const ctvk_ctx *ctx)
{
    return ctx->host_import && !ctx->dry && ctx->mem.host_visible && cap_bytes() > 0;
}

static uint64_t full_key(const ctvk_ctx *ctx, uint64_t key, int nparts, const uint64_t *bytes)
{
    uint64_t f[5 + CTVK_WCACHE_PARTS] = {key, ctx->props.vendorID, ctx->props.deviceID, ctx->props.driverVersion,
                                         ctx->shader_set_hash};
    for (int i = 0; i < nparts; i++) f[5 + i] = bytes[i];
    uint64_t h = ctvk__xxh3(ctx->props.pipelineCacheUUID, VK_UUID_SIZE, (uint64_t)nparts);
    return ctvk__xxh3(f, sizeof f, h);
}

static uint64_t header_hash(const wc_header *h) { return ctvk__xxh3(h, offsetof(wc_header, header_hash), 0); }

/* The value of an entry's fact (runtime/base/facts.c): its header's checksum, which covers the parts'. */
static void fact_value(const wc_header *h, char hx[20])
{
    snprintf(hx, 20, "%016llx", (unsigned long long)h->header_hash);
}

void ctvk__wcache_entry_free(ctvk_wcache_entry *e)
{
    if (e->fd1) close(e->fd1 - 1);
    if (e->tmp) (void)unlink(e->tmp);   /* a named new entry that was not stored */
    free(e->tmp);
    free(e->path);
    memset(e, 0, sizeof *e);
}

/* A miss: the new entry's file in the cache folder (unnamed where the file system allows, so that
 * a run that dies leaves nothing; else a temporary name), its space reserved (a full disk then
 * fails here, not as a fault in a mapped page), each part mapped shared and imported. */
static int new_entry(ctvk_ctx *ctx, ctvk_wcache_entry *e, const uint64_t *map, uint64_t total,
                     const char *const *names, ctvk_tensor **t)
{
    char dir[4096];
    ctvk__dir_of(e->path, dir, sizeof dir);
    (void)ctvk__mkdirs(dir);
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
#endif
    if (fd < 0) {
        char tmp[4200];
        ctvk__tmp_name(e->path, tmp, sizeof tmp);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) e->tmp = strdup(tmp);
        if (fd >= 0 && !e->tmp) { (void)unlink(tmp); close(fd); fd = -1; }
    }
    if (fd < 0) return 0;
    e->fd1 = fd + 1;
    if (ctvk__fault("cache-write") || posix_fallocate(fd, 0, (off_t)total) != 0) return 0;
    uint64_t off = WC_HEADER;
    for (int i = 0; i < e->nparts; i++) {
        void *m = mmap(NULL, map[i], PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
        if (m != MAP_FAILED) ctvk__advise_huge(m, map[i]);
        if (m == MAP_FAILED || ctvk__tensor_import_host(ctx, m, map[i], e->bytes[i], names[i], &t[i]) != CTVK_OK) {
            for (int k = 0; k < i; k++) {
                ctvk_tensor_destroy(t[k]);
                t[k] = NULL;
            }
            return 0;
        }
        off += map[i];
    }
    return 1;
}

static void note(ctvk_ctx *ctx, int state, const char *fmt, const char *what)
{
    ctx->stats.weights_cache_state = state;
    snprintf(ctx->stats.weights_cache_note, sizeof ctx->stats.weights_cache_note, fmt, what);
}

int ctvk__wcache_get(ctvk_ctx *ctx, uint64_t key, int nparts, const uint64_t *bytes, const char *const *names,
                     ctvk_tensor **t, ctvk_wcache_entry *e)
{
    memset(e, 0, sizeof *e);
    for (int i = 0; i < nparts; i++) t[i] = NULL;
    ctx->stats.weights_cache_trusted = 0;
    if (!ctvk__wcache_on(ctx) || nparts < 1 || nparts > CTVK_WCACHE_PARTS) return 0;
    char keep[CTVK_ERROR_MAX];   /* a cache that cannot be used costs nothing but the cache */
    snprintf(keep, sizeof keep, "%s", ctvk_error());
    char *dir = ctvk__cache_dir(ctx);
    if (!dir) return 0;
    e->key = full_key(ctx, key, nparts, bytes);
    e->nparts = nparts;
    size_t len = strlen(dir) + 64;
    e->path = malloc(len);
    if (e->path) snprintf(e->path, len, "%s/weights-%04x-%04x-%016llx.bin", dir, ctx->props.vendorID,
                          ctx->props.deviceID, (unsigned long long)e->key);
    if (!e->path) { free(dir); return 0; }
    uint64_t want_map[CTVK_WCACHE_PARTS], total = WC_HEADER;
    for (int i = 0; i < nparts; i++) {
        e->bytes[i] = bytes[i];
        want_map[i] = ctvk__import_bytes(ctx, bytes[i]);
        total += want_map[i];
    }
    int fd = -1;
    if (ctvk__open_regular(e->path, &fd) != 0) {
        note(ctx, 0, "%s: no entry yet", e->path);
        goto miss;
    }
    wc_header h;
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != total) why = "its size is not the entry's";
    else if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) why = "its header cannot be read";
    else if (memcmp(h.magic, WC_MAGIC, 8) || h.version != WC_VERSION) why = "not an entry of this ctvk";
    else if (h.header_hash != header_hash(&h)) why = "its header is corrupt (checksum)";
    else if (h.key != e->key || h.nparts != (uint32_t)nparts) why = "made for other weights";
    for (int i = 0; !why && i < nparts; i++)
        if (h.bytes[i] != bytes[i] || h.map[i] != want_map[i]) why = "made for other weights";
    /* checksums verified earlier in this boot, of this very file unchanged since, are not computed
     * again; the stamp is taken before the parts are read */
    ctvk_stamp stamp, now;
    char hx[20] = "", fact[40];
    if (!why) fact_value(&h, hx);
    int stamped = !why && ctvk__stamp(fd, &stamp) == 0;
    int trusted = stamped && ctvk__fact_get(dir, WC_FACT, &stamp, fact, sizeof fact) && !strcmp(fact, hx);
    uint64_t off = WC_HEADER;
    for (int i = 0; !why && i < nparts; i++) {
        void *m = mmap(NULL, want_map[i], PROT_READ, MAP_SHARED, fd, (off_t)off);
        if (m == MAP_FAILED) { why = "it cannot be mapped"; break; }
        ctvk__advise_huge(m, want_map[i]);
#ifdef MADV_POPULATE_READ
        (void)madvise(m, want_map[i], MADV_POPULATE_READ);   /* page tables filled here, in 2 MiB where the
                                                               * page cache holds huge folios, not by faults */
#endif
        if (!trusted && ctvk__checksum(m, bytes[i]) != h.hash[i]) {
            munmap(m, want_map[i]);
            why = "corrupt (checksum mismatch)";
            break;
        }
        if (ctvk__tensor_import_host(ctx, m, want_map[i], bytes[i], names[i], &t[i]) != CTVK_OK) {
            why = "its memory cannot be imported";   /* the mapping went with the failure */
            break;
        }
        ctvk__block_read_only(t[i]);
        off += want_map[i];
    }
    if (!why) {
        /* the fact only for the file as it was read: unchanged from the first stamp to this one */
        int same = stamped && ctvk__stamp(fd, &now) == 0 && !memcmp(&now, &stamp, sizeof now);
        (void)futimens(fd, NULL);   /* used: the last to be evicted */
        if (same && ctvk__stamp(fd, &now) == 0) ctvk__fact_put(dir, WC_FACT, &now, hx);
    }
    close(fd);
    free(dir);
    dir = NULL;
    ctx->stats.weights_cache_trusted = !why && trusted;
    if (why) {
        for (int i = 0; i < nparts; i++) {
            ctvk_tensor_destroy(t[i]);
            t[i] = NULL;
        }
        note(ctx, -1, "%s ignored", e->path);
        size_t n = strlen(ctx->stats.weights_cache_note);
        snprintf(ctx->stats.weights_cache_note + n, sizeof ctx->stats.weights_cache_note - n, ": %s", why);
        goto miss;
    }
    note(ctx, 1, "%s", e->path);
    return 1;
miss:
    free(dir);
    if (!new_entry(ctx, e, want_map, total, names, t)) {   /* no entry this time: the caller's own memory */
        char *path = e->path;
        e->path = NULL;
        ctvk__wcache_entry_free(e);
        free(path);
    }
    (void)ctvk__fail(CTVK_OK, "%s", keep);
    return 0;
}

/* Least recently used first, beyond the cap (and temporary files older than a day: a run that was
 * killed while writing; facts older than a week). keep: the entry just written. */
static void evict(const char *path, const char *keep)
{
    char dir[4096];
    ctvk__dir_of(path, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct ent { char name[256]; uint64_t size; time_t used; } *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        int entry = !strncmp(nm, "weights-", 8) && strlen(nm) > 12 && !strcmp(nm + strlen(nm) - 4, ".bin");
        int tmp = !strncmp(nm, ".weights-", 9) && strstr(nm, ".tmp-");
        int fact = (strlen(nm) == 25 && !strncmp(nm, "fact-", 5) && strspn(nm + 5, "0123456789abcdef") == 16 &&
                    !strcmp(nm + 21, ".txt")) || (!strncmp(nm, ".fact-", 6) && strstr(nm, ".tmp-"));
        if ((!entry && !tmp && !fact) || strlen(nm) >= sizeof v->name) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (tmp || fact) {   /* facts (runtime/base/facts.c) of a week ago are gone: reboots, evictions */
            if (now - st.st_mtime > (fact ? 7 * 86400 : 86400)) (void)unlink(p);
            continue;
        }
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            void *nv = realloc(v, c * sizeof *v);
            if (!nv) break;
            v = nv;
            cap = c;
        }
        snprintf(v[n].name, sizeof v[n].name, "%s", nm);
        v[n].size = (uint64_t)st.st_size;
        v[n].used = st.st_mtime;
        total += v[n].size;
        n++;
    }
    closedir(d);
    uint64_t limit = cap_bytes();
    const char *kept = strrchr(keep, '/') ? strrchr(keep, '/') + 1 : keep;
    while (total > limit && n) {
        size_t old = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].name, kept) && (old == n || v[i].used < v[old].used)) old = i;
        if (old == n) break;   /* only the new entry is left */
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, v[old].name);
        (void)unlink(p);
        total -= v[old].size;
        v[old] = v[--n];
    }
    free(v);
}

void ctvk__wcache_put(ctvk_ctx *ctx, ctvk_wcache_entry *e, ctvk_tensor *const *t)
{
    if (!e->path || !e->fd1) return;
    char keep[CTVK_ERROR_MAX];
    snprintf(keep, sizeof keep, "%s", ctvk_error());
    wc_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, WC_MAGIC, 8);
    h.version = WC_VERSION;
    h.nparts = (uint32_t)e->nparts;
    h.key = e->key;
    for (int i = 0; i < e->nparts; i++) {
        const void *data = ctvk__tensor_host_cached(t[i]);
        if (!data || ctvk_tensor_bytes(t[i]) != e->bytes[i]) return;
        h.bytes[i] = e->bytes[i];
        h.map[i] = ctvk__import_bytes(ctx, e->bytes[i]);
        h.hash[i] = ctvk__checksum(data, e->bytes[i]);
    }
    h.header_hash = header_hash(&h);
    int bad = pwrite(e->fd1 - 1, &h, sizeof h, 0) != (ssize_t)sizeof h;
    if (!bad && !e->tmp) {   /* unnamed: a temporary name first, as a link cannot replace a file */
        char tmp[4200], self[64];
        ctvk__tmp_name(e->path, tmp, sizeof tmp);
        snprintf(self, sizeof self, "/proc/self/fd/%d", e->fd1 - 1);
        if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) e->tmp = strdup(tmp);
        if (!e->tmp) bad = 1;
        if (bad) (void)unlink(tmp);
    }
    if (!bad && rename(e->tmp, e->path) == 0) {
        free(e->tmp);
        e->tmp = NULL;   /* stored: nothing to remove */
        char dir[4096], hx[20];   /* its checksums are those of the memory just written: verified */
        ctvk__dir_of(e->path, dir, sizeof dir);
        ctvk_stamp stamp;
        fact_value(&h, hx);
        if (ctvk__stamp(e->fd1 - 1, &stamp) == 0) ctvk__fact_put(dir, WC_FACT, &stamp, hx);
        if (ctx->stats.weights_cache_state != 1) note(ctx, 2, "%s written", e->path);
        evict(e->path, e->path);
    }
    (void)ctvk__fail(CTVK_OK, "%s", keep);
}
