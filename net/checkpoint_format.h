/* Private: what the checkpoint writer (checkpoint_write.c) and reader (checkpoint_read.c) share: the
 * layout's constants, little-endian byte order and the tensor names (the layout itself:
 * include/ctvk/checkpoint.h). */
#ifndef CTVK_NET_CHECKPOINT_FORMAT_H
#define CTVK_NET_CHECKPOINT_FORMAT_H
#include "ctvk/checkpoint.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAGIC "CTVKCKPT"
#define HEADER_BYTES 24u
#define SECTION_OVERHEAD 20u     /* tag, reserved, length, crc */
#define TRAILER_BYTES 8u
#define MAX_TEXT (16u << 20)     /* config, table, metrics: sanity bound */
#define MAX_BLOB (1u << 30)

/* ------------------------------------------------------------------ byte order */
static inline int host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static inline void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static inline void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static inline void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static inline uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* fp32 arrays are stored little-endian: on a big-endian host swap through a buffer. */
static inline void swap32(void *dst, const void *src, size_t nfloats)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < nfloats; i++, s += 4, d += 4) {
        unsigned char t0 = s[0], t1 = s[1], t2 = s[2], t3 = s[3];
        d[0] = t3; d[1] = t2; d[2] = t1; d[3] = t0;
    }
}

/* CRC-32 of fp32 values as stored (little-endian). */
uint32_t ctvk__ckpt_crc_f32(uint32_t crc, const float *x, size_t n);
/* "layer/param" */
void ctvk__ckpt_tensor_name(const ctvk_layer *l, const ctvk_param *p, char *buf, size_t n);
/* "(3, 3, 1, 4)", "(8,)" */
void ctvk__ckpt_shape_str(const int *dims, int ndim, char *buf, size_t n);
/* Finds "layer/weight" in g: layer index and param index, or -1. */
int ctvk__ckpt_find_tensor(const ctvk_graph *g, const char *name, int *pi);
#endif
