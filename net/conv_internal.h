/* Private to net/conv.c and net/dense.c: the push constants of shaders/conv_common.glsl and the
 * one launcher behind every conv2d and dense pass. */
#ifndef CTVK_NET_CONV_INTERNAL_H
#define CTVK_NET_CONV_INTERNAL_H
#include "net/conv.h"
#include "net/launch.h"

typedef struct ctvk__conv_geo {
    int32_t N, H, W, C, OH, OW, K, KH, KW, SH, SW, PT, PL, M, NC, KD;
    int32_t ln, relu, batch_b;   /* set by the launcher for the CPU kernels (conv_common.glsl) */
} ctvk__conv_geo;

/* mode 0 forward (a = x, b = w), 1 backward-data (a = dy, b = w), 2 backward-weights (a = x,
 * b = dy); y is the output (y, dx or dw). batch_b (forward, CPU kernels, 4-component operands):
 * g->N independent GEMMs, image n times its own B at n * KD * NC (Winograd's 16 products). */
ctvk_status ctvk__conv_gemm(ctvk_ctx *ctx, const char *kname, int mode, const ctvk__conv_geo *g,
                            const ctvk_tensor *a, const ctvk_tensor *b, const ctvk_tensor *bias, ctvk_tensor *y,
                            int relu, int accumulate, int batch_b);
/* The same (mode 0, no accumulation) with the fused epilogue e (net/conv.h). */
ctvk_status ctvk__conv_gemm_fused(ctvk_ctx *ctx, const char *kname, const ctvk__conv_geo *g, const ctvk_tensor *a,
                                  const ctvk_tensor *b, const ctvk_tensor *bias, ctvk_tensor *y, int relu,
                                  const ctvk_conv_epilogue *e);
#endif
