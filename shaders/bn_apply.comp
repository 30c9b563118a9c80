#version 450
// BN forward apply: y = (x - mean) * invstd * gamma + beta (then ReLU). TRAIN: mean = sa[c],
// invstd = sb[C + c] (sa and sb are both `saved`); inference: mean = moving mean sa[c],
// invstd = 1 / sqrt(moving var sb[c] + eps).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool TRAIN = false;
layout(constant_id = 2) const bool RELU = false;
const bool ACC = false;

layout(binding = 0) uniform samplerBuffer x;
layout(binding = 1) uniform samplerBuffer gamma;
layout(binding = 2) uniform samplerBuffer beta;
layout(binding = 3) uniform samplerBuffer sa;
layout(binding = 4) uniform samplerBuffer sb;
layout(std430, binding = 5) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 5) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C; float eps; } p;

float f(uint i)
{
    int c = int(i % p.C);
    float inv = TRAIN ? texelFetch(sb, int(p.C) + c).r : 1.0 / sqrt(texelFetch(sb, c).r + p.eps);
    float v = (texelFetch(x, int(i)).r - texelFetch(sa, c).r) * inv * texelFetch(gamma, c).r + texelFetch(beta, c).r;
    return RELU ? max(v, 0.0) : v;
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
