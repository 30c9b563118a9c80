// Shared parts of the implicit-GEMM convolution kernels (conv_cpu*.comp, conv_gpu*.comp).
//
// Every conv2d / dense pass is a GEMM C[M][NC] (+)= A[M][KD] * B[KD][NC] whose A operand is read
// in place from the NHWC activations (implicit GEMM, no im2col):
//   MODE 0 forward:          M = N*OH*OW pixels, NC = Cout, KD = KH*KW*Cin;  A = x, B = w (HWIO)
//   MODE 1 backward-data:    M = N*H*W pixels,   NC = Cin,  KD = KH*KW*Cout; A = dy, B = w^T per tap
//   MODE 2 backward-weights: M = KH*KW*Cin,      NC = Cout, KD = N*OH*OW;    A = x^T, B = dy
// C is y (NHWC), dx (NHWC) or dw (HWIO): element (m, c) lives at m*NC + c in all three cases.
// Inputs are uniform texel buffers (R32F or R16F views: fp32 or fp16 storage, fp32 arithmetic).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef OUT_F16
#extension GL_EXT_shader_16bit_storage : require
#endif

layout(constant_id = 0) const int MODE = 0;
layout(constant_id = 1) const int HAS_BIAS = 0;   // y += bias[c] (forward)
layout(constant_id = 2) const int RELU = 0;       // y = max(y, 0) (forward)
layout(constant_id = 3) const int ACCUM = 0;      // C += result instead of C = result

#if defined(CTVK_IMG) && !defined(CTVK_IMG_A)
// The img build keeps A (x or dy, read with LDA / LDA4) a uniform texel buffer: llvmpipe's imageLoad
// of it makes these kernels slower (the stem 16%, the others 1-3%; runtime/vk/limits.c,
// image_inputs). NAME.imga (-DCTVK_IMG_A, [device] image_inputs = all) reads it as the rest.
layout(binding = 0) uniform samplerBuffer A_src;
#define LDA(i) texelFetch(A_src, int(i)).r
#define LDA4(i) texelFetch(A_src, int(i))
#else
CTVK_IN(0, A_src)  // x (modes 0, 2) or dy (mode 1)
#define LDA(i) LD(A_src, i)
#define LDA4(i) LD4(A_src, i)
#endif
CTVK_IN(1, B_src)  // w (modes 0, 1) or dy (mode 2)
CTVK_PARAM(2, Bias)   // bias (mode 0 with HAS_BIAS), else unused
#ifdef OUT_F16
layout(std430, binding = 3) buffer Y1 { float16_t y1[]; };
#else
layout(std430, binding = 3) buffer Y1 { float y1[]; };
layout(std430, binding = 3) buffer Y4 { vec4 y4[]; };
#endif

#ifdef FUSED
// Fused inference epilogue (conv_*_f.comp, forward only, fp32): y = act(acc + bias + Res), written
// unless WRITE_Y is 0, then z = y * Aff[c] + Aff[NC + c] (ReLU with Z_RELU): a residual add and
// the batch norm (+ ReLU) that reads its result, in the conv's own pass.
layout(constant_id = 12) const int HAS_RES = 0;
layout(constant_id = 13) const int HAS_Z = 0;
layout(constant_id = 14) const int Z_RELU = 0;
layout(constant_id = 15) const int WRITE_Y = 1;
CTVK_IN(4, Res)    // 4-component view, y's layout
CTVK_PARAM(5, Aff)    // 2 * NC: scale, shift
layout(std430, binding = 6) buffer Z1 { float z1[]; };
layout(std430, binding = 6) buffer Z4 { vec4 z4[]; };
#endif

// The shape, in push constants: input x N x H x W x C, output y N x OH x OW x K, kernel KH x KW,
// strides SH, SW, padding top PT and left PL, the GEMM M x NC x KD. For the CPU kernels, what
// the GPU ones take as specialization constants: LN the lanes side by side along columns, RL the
// ReLU after the bias, BB batched GEMMs (conv_cpu.glsl).
#define CTVK_CONV_SHAPE int N, H, W, C; int OH, OW, K; int KH, KW, SH, SW, PT, PL; int M, NC, KD; int LN, RL, BB;
#ifdef CTVK_OPAQUE_SHAPE
// The kernel reads its shape through ctvk_opaque (common.glsl): one compile serves every shape.
layout(push_constant) uniform P { CTVK_CONV_SHAPE } pc;
struct ConvShape { CTVK_CONV_SHAPE };
ConvShape p;
void load_shape()
{
    p.N = ctvk_opaque(pc.N); p.H = ctvk_opaque(pc.H); p.W = ctvk_opaque(pc.W); p.C = ctvk_opaque(pc.C);
    p.OH = ctvk_opaque(pc.OH); p.OW = ctvk_opaque(pc.OW); p.K = ctvk_opaque(pc.K);
    p.KH = ctvk_opaque(pc.KH); p.KW = ctvk_opaque(pc.KW); p.SH = ctvk_opaque(pc.SH); p.SW = ctvk_opaque(pc.SW);
    p.PT = ctvk_opaque(pc.PT); p.PL = ctvk_opaque(pc.PL);
    p.M = ctvk_opaque(pc.M); p.NC = ctvk_opaque(pc.NC); p.KD = ctvk_opaque(pc.KD);
    p.LN = ctvk_opaque(pc.LN); p.RL = ctvk_opaque(pc.RL); p.BB = ctvk_opaque(pc.BB);
}
#else
layout(push_constant) uniform P { CTVK_CONV_SHAPE } p;
#endif

// Generic operand access (used by the GPU variant; the CPU variant walks the same indices
// incrementally). Out-of-range taps read as zero.
float a_at(int m, int k)
{
    if (m >= p.M || k >= p.KD) return 0.0;
    if (MODE == 0) {
        int ow = m % p.OW, t = m / p.OW, oh = t % p.OH, n = t / p.OH;
        int ci = k % p.C, tap = k / p.C, kw = tap % p.KW, kh = tap / p.KW;
        int ih = oh * p.SH - p.PT + kh, iw = ow * p.SW - p.PL + kw;
        if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0.0;
        return LDA(((n * p.H + ih) * p.W + iw) * p.C + ci);
    } else if (MODE == 1) {
        int iw = m % p.W, t = m / p.W, ih = t % p.H, n = t / p.H;
        int co = k % p.K, tap = k / p.K, kw = tap % p.KW, kh = tap / p.KW;
        int th = ih + p.PT - kh, tw = iw + p.PL - kw;
        if (th < 0 || tw < 0) return 0.0;
        int oh = th / p.SH, ow = tw / p.SW;
        if (oh * p.SH != th || ow * p.SW != tw || oh >= p.OH || ow >= p.OW) return 0.0;
        return LDA(((n * p.OH + oh) * p.OW + ow) * p.K + co);
    } else {
        int ci = m % p.C, tap = m / p.C, kw = tap % p.KW, kh = tap / p.KW;
        int ow = k % p.OW, t = k / p.OW, oh = t % p.OH, n = t / p.OH;
        int ih = oh * p.SH - p.PT + kh, iw = ow * p.SW - p.PL + kw;
        if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return 0.0;
        return LDA(((n * p.H + ih) * p.W + iw) * p.C + ci);
    }
}

float b_at(int k, int c)
{
    if (k >= p.KD || c >= p.NC) return 0.0;
    if (MODE == 1) {
        int co = k % p.K, tap = k / p.K;
        return LD(B_src, (tap * p.C + c) * p.K + co);
    }
    return LD(B_src, k * p.NC + c);
}

float epilogue(int idx, int c, float v)
{
    if (HAS_BIAS != 0) v += LDP(Bias, c);
#ifdef FUSED
    if (HAS_RES != 0) v += LD4(Res, idx >> 2)[idx & 3];
#endif
    if (RELU != 0 || p.RL != 0) v = max(v, 0.0);
#ifndef OUT_F16
    if (ACCUM != 0) v += y1[idx];
#endif
    return v;
}

void store1(int m, int c, float v)
{
    int idx = m * p.NC + c;
#ifdef OUT_F16
    y1[idx] = float16_t(epilogue(idx, c, v));
#elif defined(FUSED)
    v = epilogue(idx, c, v);
    if (WRITE_Y != 0) y1[idx] = v;
    if (HAS_Z != 0) {
        float z = v * LDP(Aff, c) + LDP(Aff, p.NC + c);
        z1[idx] = Z_RELU != 0 ? max(z, 0.0) : z;
    }
#else
    y1[idx] = epilogue(idx, c, v);
#endif
}
