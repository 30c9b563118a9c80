/* Helpers shared by the kernel launchers in net/: argument checks and dispatch geometry. */
#ifndef CTVK_NET_LAUNCH_H
#define CTVK_NET_LAUNCH_H
#include "runtime/vk/internal.h"

/* Fails unless t is fp32 (or the given dtype); names the kernel and tensor. */
ctvk_status ctvk__need_dtype(const char *kernel, const ctvk_tensor *t, ctvk_dtype dt);
/* Fails unless a and b have the same element count. */
ctvk_status ctvk__need_same_count(const char *kernel, const ctvk_tensor *a, const ctvk_tensor *b);
/* 1 if t can be bound as a 4-component texel view ('q'): fp32/fp16/u32, a whole number of texels,
 * at an offset the device accepts for texel buffers. NULL counts as fine. */
int ctvk__vec4_ok(const ctvk_tensor *t);
/* Workgroups for `items` invocations of `local` lanes as a 2-D grid (x at most 65535). */
void ctvk__grid_1d(uint64_t items, uint32_t local, uint32_t *gx, uint32_t *gy);
#endif
