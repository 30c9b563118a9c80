#version 450
// Batch norm (inference) folded into the convolution before it: with s = gamma / sqrt(var + eps)
// per output channel, BIAS == false: w'[i] = w[i] * s[i % C] (HWIO weights: the output channel is
// the fastest index); BIAS == true: b'[c] = (b[c] - mean[c]) * s[c] + beta[c] (b = 0 when the conv
// has none: HAS_B false). Then bn(conv(x, w) + b) = conv(x, w') + b'.
// AFFINE: the BN as y = x * scale + shift for a fused epilogue (ctvk_bn_affine): out[c] = s[c],
// out[C + c] = beta[c] - mean[c] * s[c].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool BIAS = false;
layout(constant_id = 2) const bool HAS_B = true;
layout(constant_id = 3) const bool AFFINE = false;
const bool ACC = false;

CTVK_IN(0, wb)
CTVK_PARAM(1, gamma)
CTVK_PARAM(2, beta)
CTVK_PARAM(3, mean)
CTVK_PARAM(4, var)
layout(std430, binding = 5) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 5) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C; float eps; } p;

float f(uint i)
{
    int c = int(i % p.C);
    float s = LDP(gamma, c) / sqrt(LDP(var, c) + p.eps);
    if (AFFINE) return i < p.C ? s : LDP(beta, c) - LDP(mean, c) * s;
    if (!BIAS) return LD(wb, int(i)) * s;
    float b = HAS_B ? LD(wb, c) : 0.0;
    return (b - LDP(mean, c)) * s + LDP(beta, c);
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
