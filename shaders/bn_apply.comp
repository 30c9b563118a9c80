#version 450
// BN forward apply: y = (x - mean) * invstd * gamma + beta (then ReLU). TRAIN: mean = sa[c],
// invstd = sb[C + c] (sa and sb are both `saved`); inference: mean = moving mean sa[c],
// invstd = 1 / sqrt(moving var sb[c] + eps). AFFINE (inference, from ctvk_bn_affine): y = x * sa[c] +
// sa[C + c] (3 fetches per 4 outputs instead of 5, no square root).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool TRAIN = false;
layout(constant_id = 2) const bool RELU = false;
// VEC (C % 4 == 0): every binding but y is a 4-component texel view; an invocation's 4 outputs
// are 4 consecutive channels of one pixel (5 vectorised fetches instead of 20 scalar ones).
layout(constant_id = 3) const bool VEC = false;
layout(constant_id = 4) const bool AFFINE = false;
const bool ACC = false;

CTVK_IN(0, x)
CTVK_PARAM(1, gamma)
CTVK_PARAM(2, beta)
CTVK_PARAM(3, sa)
CTVK_PARAM(4, sb)
layout(std430, binding = 5) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 5) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C; float eps; } p;

float f(uint i)
{
    int c = int(i % p.C);
    if (AFFINE) {
        float a = LD(x, int(i)) * LDP(sa, c) + LDP(sa, int(p.C) + c);
        return RELU ? max(a, 0.0) : a;
    }
    float inv = TRAIN ? LDP(sb, int(p.C) + c) : 1.0 / sqrt(LDP(sb, c) + p.eps);
    float v = (LD(x, int(i)) - LDP(sa, c)) * inv * LDP(gamma, c) + LDP(beta, c);
    return RELU ? max(v, 0.0) : v;
}

#include "ops4.glsl"
void main()
{
    if (VEC) {
        uint i = ctvk_flat_index(LOCAL), C4 = p.C / 4u;
        if (i >= p.n / 4u) return;
        int c4 = int(i % C4);
        if (AFFINE) {
            vec4 a = LD4(x, int(i)) * LDP4(sa, c4) + LDP4(sa, int(C4) + c4);
            y4[i] = RELU ? max(a, vec4(0.0)) : a;
            return;
        }
        vec4 inv = TRAIN ? LDP4(sb, int(C4) + c4) : vec4(1.0) / sqrt(LDP4(sb, c4) + p.eps);
        vec4 v = (LD4(x, int(i)) - LDP4(sa, c4)) * inv * LDP4(gamma, c4) + LDP4(beta, c4);
        y4[i] = RELU ? max(v, vec4(0.0)) : v;
        return;
    }
    ops4_main(p.n);
}
