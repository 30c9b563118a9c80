/* A checksum of a large buffer on several cores (runtime/base/base.h): the buffer in 8 MiB chunks,
 * each chunk's XXH3-64 seeded with its index, then those values folded in order (the length is the
 * first seed, each chunk's value is hashed with the running value as its seed). The value depends
 * on the bytes only, never on how many threads computed it; the chunks are taken in order from one
 * counter, so each thread reads memory forward. */
#include "runtime/base/base.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK ((size_t)8 << 20)
#define MAX_THREADS 4

typedef struct job {
    const unsigned char *data;
    size_t n, nchunks;
    uint64_t *h;
    atomic_size_t next;
} job;

/* Chunk i's value: its XXH3-64 seeded with i. */
static uint64_t chunk_hash(const job *j, size_t i)
{
    size_t at = i * CHUNK, len = j->n - at < CHUNK ? j->n - at : CHUNK;
    return ctvk__xxh3(j->data + at, len, i);
}

static void *work(void *arg)
{
    job *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->nchunks;) j->h[i] = chunk_hash(j, i);
    return NULL;
}

/* The final value from the chunks' values in order, each the seed of the next step: from the
 * array, or computed here one by one where the array could not be had (the same value, one core). */
static uint64_t combine(const job *j)
{
    uint64_t v = (uint64_t)j->n;
    for (size_t i = 0; i < j->nchunks; i++) {
        uint64_t c = j->h ? j->h[i] : chunk_hash(j, i);
        v = ctvk__xxh3(&c, sizeof c, v);
    }
    return v;
}

uint64_t ctvk__checksum(const void *data, size_t n)
{
    job j = {.data = data, .n = n, .nchunks = n / CHUNK + (n % CHUNK != 0)};
    atomic_init(&j.next, 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (size_t)cores;
    if (want > j.nchunks) want = j.nchunks;
    if (want > 1) j.h = malloc(j.nchunks * sizeof *j.h);
    if (j.h) {
        pthread_t t[MAX_THREADS - 1];
        size_t started = 0;
        while (started + 1 < want && !pthread_create(&t[started], NULL, work, &j)) started++;
        work(&j);   /* this thread takes chunks too */
        for (size_t i = 0; i < started; i++) pthread_join(t[i], NULL);
    }
    uint64_t v = combine(&j);
    free(j.h);
    return v;
}
