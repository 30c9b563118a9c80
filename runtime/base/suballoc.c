#include "runtime/base/suballoc.h"
#include "runtime/base/array.h"
#include <stdlib.h>
#include <string.h>

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

int ctvk_suballoc_init(ctvk_suballoc *sa, uint64_t size)
{
    memset(sa, 0, sizeof *sa);
    sa->cap = 16;
    sa->free = malloc((size_t)sa->cap * sizeof *sa->free);
    if (!sa->free) return -1;
    sa->size = size;
    sa->free[0] = (ctvk_free_range){0, size};
    sa->nfree = size > 0 ? 1 : 0;
    return 0;
}

void ctvk_suballoc_destroy(ctvk_suballoc *sa)
{
    free(sa->free);
    memset(sa, 0, sizeof *sa);
}

static int reserve(ctvk_suballoc *sa, int need)
{
    int fail = 0;
    CTVK__GROW(sa->free, sa->cap, need, 16, fail = -1);
    return fail;
}

static void remove_at(ctvk_suballoc *sa, int i)
{
    memmove(sa->free + i, sa->free + i + 1, (size_t)(sa->nfree - i - 1) * sizeof *sa->free);
    sa->nfree--;
}

static int insert_at(ctvk_suballoc *sa, int i, uint64_t off, uint64_t size)
{
    if (reserve(sa, sa->nfree + 1)) return -1;
    memmove(sa->free + i + 1, sa->free + i, (size_t)(sa->nfree - i) * sizeof *sa->free);
    sa->free[i] = (ctvk_free_range){off, size};
    sa->nfree++;
    return 0;
}

int64_t ctvk_suballoc_alloc(ctvk_suballoc *sa, uint64_t size, uint64_t align)
{
    if (size == 0 || align == 0 || (align & (align - 1))) return -1;
    size = round_up(size, align);
    int best = -1;
    uint64_t best_waste = UINT64_MAX;
    for (int i = 0; i < sa->nfree; i++) {
        ctvk_free_range r = sa->free[i];
        uint64_t start = round_up(r.offset, align);
        if (start < r.offset || start - r.offset > r.size || r.size - (start - r.offset) < size) continue;
        uint64_t waste = r.size - size;
        if (waste < best_waste) { best = i; best_waste = waste; if (!waste) break; }
    }
    if (best < 0) return -1;
    ctvk_free_range r = sa->free[best];
    uint64_t start = round_up(r.offset, align);
    uint64_t head = start - r.offset, tail = r.size - head - size;
    /* replace r by up to two pieces: [r.offset, head) and [start+size, tail) */
    if (head && tail) {
        sa->free[best].size = head;
        if (insert_at(sa, best + 1, start + size, tail)) { sa->free[best] = r; return -1; }
    } else if (head) {
        sa->free[best].size = head;
    } else if (tail) {
        sa->free[best] = (ctvk_free_range){start + size, tail};
    } else {
        remove_at(sa, best);
    }
    sa->used += size;
    return (int64_t)start;
}

int ctvk_suballoc_free(ctvk_suballoc *sa, uint64_t off, uint64_t size, uint64_t align)
{
    size = round_up(size, align ? align : 1);
    if (off + size > sa->size || off + size < off) return -1;
    /* first free range after off */
    int lo = 0, hi = sa->nfree;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (sa->free[mid].offset < off) lo = mid + 1; else hi = mid;
    }
    int i = lo;
    if (i > 0 && sa->free[i - 1].offset + sa->free[i - 1].size > off) return -1;   /* overlaps prev */
    if (i < sa->nfree && off + size > sa->free[i].offset) return -1;                /* overlaps next */
    int merge_prev = i > 0 && sa->free[i - 1].offset + sa->free[i - 1].size == off;
    int merge_next = i < sa->nfree && off + size == sa->free[i].offset;
    if (merge_prev && merge_next) {
        sa->free[i - 1].size += size + sa->free[i].size;
        remove_at(sa, i);
    } else if (merge_prev) {
        sa->free[i - 1].size += size;
    } else if (merge_next) {
        sa->free[i].offset = off;
        sa->free[i].size += size;
    } else if (insert_at(sa, i, off, size)) {
        return -1;
    }
    sa->used -= size;
    return 0;
}

uint64_t ctvk_suballoc_largest(const ctvk_suballoc *sa)
{
    uint64_t m = 0;
    for (int i = 0; i < sa->nfree; i++) if (sa->free[i].size > m) m = sa->free[i].size;
    return m;
}
