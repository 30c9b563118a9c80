/* Private: what every layer of ctvk shares and that makes no Vulkan call (runtime/base/): errors,
 * the clock, fault injection for tests, number parsing. The layers and what each may include are
 * in runtime/README.md; the build checks them (cmake/check_layers.cmake). */
#ifndef CTVK_RUNTIME_BASE_H
#define CTVK_RUNTIME_BASE_H
#include "ctvk/ctvk.h"
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ errors */
ctvk_status ctvk__fail(ctvk_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctvk__clear_error(void);

/* Monotonic seconds (runtime/base/clock.c). */
double ctvk__now(void);

/* Test-only fault injection: $CTVK_FAULT="site[:n|:*]" makes the n-th (default first) or every pass
 * through `site` fail. Sites: "submit" (device lost), "allocate" (out of device memory),
 * "cache-write" (the pipeline cache file cannot be written), "checkpoint-write", "interrupt" (the
 * trainer behaves as if Ctrl-C came after that step), "nan-loss" (the step's loss reads NaN). */
int ctvk__fault(const char *site);
/* Asks Linux for transparent huge pages (2 MiB) for the whole 2 MiB pages inside [p, p + size),
 * before their first touch: with Debian's default ("madvise"), large buffers filled once (a
 * checkpoint's weights, a CPU device's memory) otherwise take a page fault per 4 KiB. A hint: a
 * failure changes nothing, and buffers under 4 MiB are left alone (runtime/base/pages.c). */
void ctvk__advise_huge(void *p, size_t size);
/* XXH3-64 of n bytes with a seed (libxxhash): at memory speed, for large buffers (the weights
 * cache's keys and checksums, runtime/vk/weights_cache.c). */
uint64_t ctvk__xxh3(const void *data, size_t n, uint64_t seed);
/* A decimal integer (leading zeros are decimal too; 0x.. is refused), spaces around allowed:
 * 0 ok, -1 not a decimal integer, -2 out of the range of long. */
int ctvk__parse_decimal(const char *v, long *out);
/* The checksum of a large buffer (the weights cache's parts), computed on up to 4 cores: XXH3-64
 * over 8 MiB chunks, their values folded in order; the same value whatever the cores
 * (runtime/base/checksum.c). */
uint64_t ctvk__checksum(const void *data, size_t n);
#endif
