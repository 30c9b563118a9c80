/* The batch loader: decoding threads fill a ring of buffers ahead of the consumer.
 *
 * The stream is a sequence of global batch numbers g = epoch * batches_per_epoch + index. Batch g
 * lives in slot g % depth. A thread claims the next g only when that slot is free (so batch
 * g - depth has been released), copies the batch's image indices from the epoch's permutation,
 * decodes outside the lock and marks the slot ready. The consumer takes batches strictly in order,
 * so the stream is the same whatever the number of threads. */
#include "runtime/ct/ct_internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { FREE = 0, BUSY = 1, READY = 2, HELD = 3 };

typedef struct slot {
    uint16_t *pixels;
    uint8_t *labels;
    size_t *images;
    int state, n, offset, global_n;
    long long g;
    ctvk_status err;
    char msg[CTVK_ERROR_MAX];
} slot;

struct ctvk_loader {
    ctvk_loader_options o;
    size_t per_epoch;            /* batches per epoch */
    long long total;             /* batches in the stream; -1 endless */
    int depth;
    slot *slots;
    int own_pixels;
    pthread_mutex_t mu;
    pthread_cond_t cv_free, cv_ready;
    long long next_claim, next_out;
    int stop, failed;
    size_t skipped;              /* skip_bad: slices skipped so far */
    char skip_msg[CTVK_ERROR_MAX];         /* the last skip's message */
    ctvk_status fail_status;
    char fail_msg[CTVK_ERROR_MAX];
    int perm_epoch;              /* the epoch whose permutation is in perm (claims only move forward) */
    size_t *perm;
    pthread_t *threads;
    int nthreads;
};

void ctvk_loader_permutation(uint64_t seed, int epoch, size_t n, int shuffle, size_t *perm)
{
    for (size_t i = 0; i < n; i++) perm[i] = i;
    if (!shuffle || n < 2) return;
    uint64_t s = ctvk__mix(seed, 0x5000u + (uint64_t)(unsigned)epoch);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(ctvk__rng(&s) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

size_t ctvk_loader_batches_per_epoch(const ctvk_loader *l) { return l->per_epoch; }

static void *worker(void *arg)
{
    ctvk_loader *l = arg;
    const ctvk_loader_options *o = &l->o;
    size_t px = (size_t)o->size * (size_t)o->size;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->failed && (l->total < 0 || l->next_claim < l->total) &&
               l->slots[l->next_claim % l->depth].state != FREE)
            pthread_cond_wait(&l->cv_free, &l->mu);
        if (l->stop || l->failed || (l->total >= 0 && l->next_claim >= l->total)) break;
        long long g = l->next_claim++;
        slot *s = &l->slots[g % l->depth];
        s->state = BUSY, s->g = g, s->err = CTVK_OK, s->msg[0] = 0;
        int epoch = (int)(g / (long long)l->per_epoch);
        size_t b = (size_t)(g % (long long)l->per_epoch);
        if (epoch != l->perm_epoch) {
            ctvk_loader_permutation(o->seed, epoch, o->n, o->shuffle, l->perm);
            l->perm_epoch = epoch;
        }
        size_t first = b * (size_t)o->batch, n = o->n - first < (size_t)o->batch ? o->n - first : (size_t)o->batch;
        /* a part takes its share [n * part / parts, n * (part + 1) / parts) of the batch */
        size_t parts = o->parts > 1 ? (size_t)o->parts : 1, lo = n * (size_t)o->part / parts,
               hi = n * ((size_t)o->part + 1) / parts;
        s->global_n = (int)n;
        s->offset = (int)lo;
        n = hi - lo;
        first += lo;
        s->n = (int)n;
        for (size_t i = 0; i < n; i++) s->images[i] = l->perm[first + i];
        pthread_mutex_unlock(&l->mu);

        ctvk_status st = CTVK_OK;
        size_t kept = 0, skipped = 0;       /* skip_bad: good images move down over skipped ones */
        char skip_msg[sizeof s->msg];
        for (size_t i = 0; i < n && st == CTVK_OK; i++) {
            size_t idx = s->images[i];
            s->images[kept] = idx;
            s->labels[kept] = o->labels ? o->labels[idx] : 0;
            /* the loader reads at the network's input size */
            st = ctvk__slice_read_named(o->paths[idx], o->size, o->resize, &o->values, s->pixels + kept * px, NULL,
                                        "the network's input size, [model] input_size");
            if (st != CTVK_OK)
                snprintf(o->skip_bad ? skip_msg : s->msg, sizeof s->msg, "loader: epoch %d, batch %zu of %zu, image "
                         "%zu of the batch (list entry %zu): %s", epoch + 1, b + 1, l->per_epoch, (size_t)s->offset + i + 1, idx,
                         ctvk_error());
            if (st != CTVK_OK && o->skip_bad) st = CTVK_OK, skipped++;
            else kept++;
        }

        pthread_mutex_lock(&l->mu);
        if (st == CTVK_OK) s->n = (int)kept;
        if (skipped) {
            l->skipped += skipped;
            snprintf(l->skip_msg, sizeof l->skip_msg, "%s", skip_msg);
        }
        s->err = st;
        s->state = READY;
        if (st != CTVK_OK) l->failed = 1;         /* nothing is claimed after a failure */
        pthread_cond_broadcast(&l->cv_ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void ctvk_loader_destroy(ctvk_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_free);
    pthread_cond_broadcast(&l->cv_ready);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    if (l->slots)
        for (int i = 0; i < l->depth; i++) {
            if (l->own_pixels) free(l->slots[i].pixels);
            free(l->slots[i].labels);
            free(l->slots[i].images);
        }
    free(l->slots);
    free(l->perm);
    free(l->threads);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_free);
    pthread_cond_destroy(&l->cv_ready);
    free(l);
}

ctvk_status ctvk_loader_create(const ctvk_loader_options *o, ctvk_loader **out)
{
    *out = NULL;
    if (o->n == 0 || !o->paths) return ctvk__fail(CTVK_ERR_ARG, "loader: no images");
    if (o->batch < 1 || o->batch > 65536) return ctvk__fail(CTVK_ERR_ARG, "loader: batch %d: 1 .. 65536", o->batch);
    if (o->size < 1 || o->size > 4096) return ctvk__fail(CTVK_ERR_ARG, "loader: image size %d: 1 .. 4096", o->size);
    if (o->epochs < 0) return ctvk__fail(CTVK_ERR_ARG, "loader: epochs %d < 0", o->epochs);
    int depth = o->depth ? o->depth : 3, threads = o->threads ? o->threads : 1;
    if (depth < 2 || depth > 64) return ctvk__fail(CTVK_ERR_ARG, "loader: depth %d: 2 .. 64 (double buffering at least)", depth);
    if (threads < 1 || threads > 64) return ctvk__fail(CTVK_ERR_ARG, "loader: threads %d: 1 .. 64", threads);
    if (o->parts < 0 || o->part < 0 || o->part >= (o->parts > 1 ? o->parts : 1))
        return ctvk__fail(CTVK_ERR_ARG, "loader: part %d of %d", o->part, o->parts);
    size_t per_epoch = o->drop_last ? o->n / (size_t)o->batch : (o->n + (size_t)o->batch - 1) / (size_t)o->batch;
    if (per_epoch == 0)
        return ctvk__fail(CTVK_ERR_ARG, "loader: %zu images make no full batch of %d (drop_last)", o->n, o->batch);
    ctvk_loader *l = calloc(1, sizeof *l);
    if (!l) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    l->o = *o;
    l->depth = depth;
    l->per_epoch = per_epoch;
    l->total = o->epochs ? (long long)per_epoch * o->epochs : -1;
    l->perm_epoch = -1;
    if (o->start_batch < 0 || (l->total >= 0 && o->start_batch > l->total)) {
        long long total = l->total;
        free(l);
        return ctvk__fail(CTVK_ERR_ARG, "loader: start batch %lld is outside the stream of %lld batches", o->start_batch,
                          total);
    }
    l->next_claim = l->next_out = o->start_batch;
    l->own_pixels = o->slots == NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_free, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    l->slots = calloc((size_t)depth, sizeof *l->slots);
    l->perm = malloc(o->n * sizeof *l->perm);
    l->threads = calloc((size_t)threads, sizeof *l->threads);
    int ok = l->slots && l->perm && l->threads;
    size_t px = (size_t)o->batch * (size_t)o->size * (size_t)o->size;
    for (int i = 0; ok && i < depth; i++) {
        slot *s = &l->slots[i];
        s->pixels = o->slots ? o->slots[i] : malloc(px * sizeof *s->pixels);
        s->labels = malloc((size_t)o->batch);
        s->images = malloc((size_t)o->batch * sizeof *s->images);
        s->g = -1;
        ok = s->pixels && s->labels && s->images;
    }
    if (!ok) { ctvk_loader_destroy(l); return ctvk__fail(CTVK_ERR_NOMEM, "loader: out of host memory for %d buffers", depth); }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) break;
        l->nthreads++;
    }
    if (!l->nthreads) { ctvk_loader_destroy(l); return ctvk__fail(CTVK_ERR_NOMEM, "loader: cannot start a thread"); }
    *out = l;
    return CTVK_OK;
}

ctvk_status ctvk_loader_next(ctvk_loader *l, ctvk_batch *b)
{
    memset(b, 0, sizeof *b);
    b->slot = -1;
    pthread_mutex_lock(&l->mu);
    if (l->fail_status != CTVK_OK) {
        ctvk_status st = l->fail_status;
        pthread_mutex_unlock(&l->mu);
        return ctvk__fail(st, "%s", l->fail_msg);
    }
    long long g;
    slot *s;
    for (;;) {
        if (l->total >= 0 && l->next_out >= l->total) {   /* the stream has ended */
            b->ended = 1;
            pthread_mutex_unlock(&l->mu);
            return CTVK_OK;
        }
        g = l->next_out;
        s = &l->slots[g % l->depth];
        if (s->state == HELD) {
            pthread_mutex_unlock(&l->mu);
            return ctvk__fail(CTVK_ERR_ARG, "loader: all %d buffers are held: release a batch before taking the next",
                              l->depth);
        }
        while (!(s->state == READY && s->g == g)) pthread_cond_wait(&l->cv_ready, &l->mu);
        if (s->err != CTVK_OK) {
            l->fail_status = s->err;
            snprintf(l->fail_msg, sizeof l->fail_msg, "%s", s->msg);
            pthread_mutex_unlock(&l->mu);
            return ctvk__fail(l->fail_status, "%s", l->fail_msg);
        }
        if (s->n > 0 || l->o.parts > 1) break;    /* a part's share may be empty: ranks stay in step */
        s->state = FREE;                  /* skip_bad skipped every image of this batch: go on */
        l->next_out++;
        pthread_cond_broadcast(&l->cv_free);
    }
    s->state = HELD;
    l->next_out++;
    b->n = s->n;
    b->offset = s->offset;
    b->global_n = s->global_n;
    b->epoch = (int)(g / (long long)l->per_epoch);
    b->index = (int)(g % (long long)l->per_epoch);
    b->last = (size_t)b->index == l->per_epoch - 1;
    b->pixels = s->pixels;
    b->labels = s->labels;
    b->images = s->images;
    b->slot = (int)(g % l->depth);
    pthread_mutex_unlock(&l->mu);
    return CTVK_OK;
}

size_t ctvk_loader_skipped(ctvk_loader *l, char *last, size_t lastsize)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->skipped;
    if (last && lastsize) snprintf(last, lastsize, "%s", l->skip_msg);
    pthread_mutex_unlock(&l->mu);
    return n;
}

void ctvk_loader_release(ctvk_loader *l, const ctvk_batch *b)
{
    if (!b || b->slot < 0 || b->slot >= l->depth) return;
    pthread_mutex_lock(&l->mu);
    slot *s = &l->slots[b->slot];
    if (s->state == HELD) {
        s->state = FREE;
        pthread_cond_broadcast(&l->cv_free);
    }
    pthread_mutex_unlock(&l->mu);
}
