/* A pure offset sub-allocator over one memory block: a sorted free list with best-fit allocation
 * and coalescing on free. It touches no Vulkan object, so it is tested (and valgrind-checked) on
 * the host alone; runtime/vk/memory.c puts one over each device memory block. */
#ifndef CTVK_RUNTIME_SUBALLOC_H
#define CTVK_RUNTIME_SUBALLOC_H
#include <stdint.h>

typedef struct ctvk_free_range { uint64_t offset, size; } ctvk_free_range;

typedef struct ctvk_suballoc {
    uint64_t size;            /* bytes managed */
    uint64_t used;            /* bytes handed out (sizes as requested, rounded to alignment) */
    ctvk_free_range *free;    /* sorted by offset, never adjacent (always coalesced) */
    int nfree, cap;
} ctvk_suballoc;

/* 0 on success, -1 out of host memory. */
int ctvk_suballoc_init(ctvk_suballoc *sa, uint64_t size);
void ctvk_suballoc_destroy(ctvk_suballoc *sa);
/* Offset of a range of `size` bytes aligned to `align` (a power of two), or -1 if none fits
 * (or on host out-of-memory). Sizes are rounded up to the alignment. */
int64_t ctvk_suballoc_alloc(ctvk_suballoc *sa, uint64_t size, uint64_t align);
/* Returns a range given by alloc (same size). 0 on success, -1 if it overlaps free space (a
 * double free) or on host out-of-memory. */
int ctvk_suballoc_free(ctvk_suballoc *sa, uint64_t offset, uint64_t size, uint64_t align);
/* Size of the largest free range. */
uint64_t ctvk_suballoc_largest(const ctvk_suballoc *sa);
#endif
