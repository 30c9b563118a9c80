/* Transparent huge pages for large buffers filled once (runtime/base/base.h). */
#include "runtime/base/base.h"
#include <stdint.h>
#include <sys/mman.h>

void ctvk__advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!p || size < 2 * huge) return;
    uintptr_t a = ((uintptr_t)p + huge - 1) / huge * huge, e = ((uintptr_t)p + size) / huge * huge;
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
#endif
}
