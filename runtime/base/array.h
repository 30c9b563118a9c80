/* Private: growable arrays, one policy for the whole project. The capacity doubles, starting from
 * `first`, until it holds `need` elements; a size that overflows fails like a full memory. */
#ifndef CTVK_RUNTIME_ARRAY_H
#define CTVK_RUNTIME_ARRAY_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The capacity after growing cap to hold need elements (cap itself when it already does). */
static inline size_t ctvk__grow_cap(size_t cap, size_t need, size_t first)
{
    size_t c = cap ? cap : first;
    while (c < need && c <= SIZE_MAX / 2) c *= 2;
    return c < need ? need : c;
}

/* realloc of n elements of elem bytes; NULL (p still valid) when out of memory or n * elem overflows. */
static inline void *ctvk__realloc_n(void *p, size_t n, size_t elem)
{
    if (elem && n > SIZE_MAX / elem) return NULL;
    size_t bytes = n * elem;
    return realloc(p, bytes > 0 ? bytes : 1);
}

/* Grows the array arr (capacity cap, an lvalue of any integer type) to hold need elements; runs the
 * statement on_fail (arr and cap unchanged) when memory runs out. Example:
 *     CTVK__GROW(v, cap, n + 1, 64, return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory")); */
#define CTVK__GROW(arr, cap, need, first, on_fail)                                      \
    do {                                                                                \
        if ((size_t)(need) > (size_t)(cap)) {                                           \
            size_t ctvk__c = ctvk__grow_cap((size_t)(cap), (size_t)(need), (first));    \
            void *ctvk__p = ctvk__realloc_n((arr), ctvk__c, sizeof *(arr));             \
            if (!ctvk__p) { on_fail; }                                                  \
            else { (arr) = ctvk__p; (cap) = ctvk__c; }                                  \
        }                                                                               \
    } while (0)
#endif
