/* The block sub-allocator on the host: thousands of mixed-size allocations with random frees,
 * checked against a shadow map for overlap, alignment, reuse and full coalescing. ctest also runs
 * this program under valgrind (test_suballoc_valgrind) when valgrind is installed. */
#include "runtime/base/suballoc.h"
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (64u << 20)
#define SLOTS 4000

typedef struct { int64_t off; uint64_t size, align; } slot;

int main(void)
{
    ctvk_suballoc sa;
    CHECK(ctvk_suballoc_init(&sa, BLOCK) == 0, "init");
    slot *s = calloc(SLOTS, sizeof *s);
    uint64_t rng = 42;
    int allocs = 0, frees = 0, fails = 0, overlaps = 0, misaligned = 0;
    for (int round = 0; round < 20000; round++) {
        int i = (int)(check_rng_next(&rng) % SLOTS);
        if (s[i].size) {
            CHECK(ctvk_suballoc_free(&sa, (uint64_t)s[i].off, s[i].size, s[i].align) == 0, "free slot %d", i);
            s[i].size = 0;
            frees++;
            continue;
        }
        uint64_t r = check_rng_next(&rng);
        uint64_t size = (r & 3) == 0 ? 1 + (r >> 8) % (1u << 20) : 1 + (r >> 8) % 4096;   /* mixed sizes */
        uint64_t align = 1ull << (4 + (r >> 40) % 5);                                      /* 16 .. 256 */
        int64_t off = ctvk_suballoc_alloc(&sa, size, align);
        if (off < 0) { fails++; continue; }
        allocs++;
        if ((uint64_t)off % align) misaligned++;
        s[i] = (slot){off, size, align};
    }
    /* overlap check over all live slots: sort by offset */
    int live = 0;
    slot *l = calloc(SLOTS, sizeof *l);
    for (int i = 0; i < SLOTS; i++) if (s[i].size) l[live++] = s[i];
    for (int i = 1; i < live; i++)
        for (int j = i; j > 0 && l[j - 1].off > l[j].off; j--) { slot t = l[j]; l[j] = l[j - 1]; l[j - 1] = t; }
    for (int i = 1; i < live; i++)
        if ((uint64_t)l[i - 1].off + l[i - 1].size > (uint64_t)l[i].off) overlaps++;
    printf("suballoc: %d allocations, %d frees, %d refused (block full), %d live, %d free ranges\n", allocs, frees,
           fails, live, sa.nfree);
    CHECK(allocs > 5000, "only %d allocations", allocs);
    CHECK(overlaps == 0, "%d overlapping allocations", overlaps);
    CHECK(misaligned == 0, "%d misaligned allocations", misaligned);
    /* a double free and an out-of-range free are refused */
    if (live) CHECK(ctvk_suballoc_free(&sa, (uint64_t)l[0].off, l[0].size, l[0].align) == 0, "free");
    if (live) CHECK(ctvk_suballoc_free(&sa, (uint64_t)l[0].off, l[0].size, l[0].align) == -1, "double free accepted");
    CHECK(ctvk_suballoc_free(&sa, BLOCK - 16, 64, 16) == -1, "out-of-range free accepted");
    for (int i = 1; i < live; i++) CHECK(ctvk_suballoc_free(&sa, (uint64_t)l[i].off, l[i].size, l[i].align) == 0, "free");
    /* everything returned: one free range spanning the block */
    CHECK(sa.used == 0, "%llu bytes still counted as used", (unsigned long long)sa.used);
    CHECK(sa.nfree == 1 && sa.free[0].offset == 0 && sa.free[0].size == BLOCK, "free list not coalesced: %d ranges",
          sa.nfree);
    CHECK(ctvk_suballoc_largest(&sa) == BLOCK, "largest");
    /* reuse: the whole block can be handed out again */
    CHECK(ctvk_suballoc_alloc(&sa, BLOCK, 256) == 0, "whole block not reusable");
    CHECK(ctvk_suballoc_alloc(&sa, 1, 16) == -1, "allocation from a full block");
    CHECK(ctvk_suballoc_alloc(&sa, 0, 16) == -1, "zero-size allocation accepted");
    CHECK(ctvk_suballoc_alloc(&sa, 16, 24) == -1, "non-power-of-two alignment accepted");
    free(s);
    free(l);
    ctvk_suballoc_destroy(&sa);
    return check_done("test_suballoc");
}
