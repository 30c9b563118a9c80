/* Private: the project's one random-number generator and one hash. Reproducibility (the same seed
 * gives the same weights, augmentations, dropout masks, folds and statistics) and the tests rest on
 * these sequences: never change what they return.
 *  - splitmix64 (Steele, Lea & Flood 2014): state += 0x9E3779B97F4A7C15, then the finaliser below;
 *    from state 0 the first value is 0xE220A8397B1DCDAF. A uniform double in [0, 1) takes the top
 *    53 bits: (next >> 11) * 2^-53.
 *  - FNV-1a 64 (offset basis 0xCBF29CE484222325, prime 0x100000001B3) over bytes. */
#ifndef CTVK_RUNTIME_RNG_H
#define CTVK_RUNTIME_RNG_H
#include <stddef.h>
#include <stdint.h>

#define CTVK__GOLDEN 0x9E3779B97F4A7C15ull      /* splitmix64's increment */
#define CTVK__FNV_BASIS 0xCBF29CE484222325ull

/* splitmix64's finaliser (a bijection of 64-bit words). */
static inline uint64_t ctvk__splitmix_final(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The next splitmix64 value of *state. */
static inline uint64_t ctvk__rng(uint64_t *state) { return ctvk__splitmix_final(*state += CTVK__GOLDEN); }

/* Uniform in [0, 1) with 53 random bits. */
static inline double ctvk__rng_unit(uint64_t *state) { return (double)(ctvk__rng(state) >> 11) * 0x1.0p-53; }

/* FNV-1a 64 of n bytes, continuing from h (start from CTVK__FNV_BASIS). */
static inline uint64_t ctvk__fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

/* ctvk__fnv1a where h == 0 stands for the offset basis (the pipeline cache's checksums). */
static inline uint64_t ctvk__hash64(const void *data, size_t n, uint64_t h)
{
    return ctvk__fnv1a(h ? h : CTVK__FNV_BASIS, data, n);
}
#endif
