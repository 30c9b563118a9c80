#version 450
// BN backward, pass 3: dx (+)= gamma * invstd * (g' - sum(g')/R - xhat * sum(g' xhat)/R).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool RELU = false;
layout(constant_id = 2) const bool ACC = false;

layout(binding = 0) uniform samplerBuffer x;
layout(binding = 1) uniform samplerBuffer g;
layout(binding = 2) uniform samplerBuffer m;
layout(binding = 3) uniform samplerBuffer saved;
layout(binding = 4) uniform samplerBuffer gamma;
layout(binding = 5) uniform samplerBuffer ws;
layout(std430, binding = 6) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 6) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C, F; float invR; } p;

float f(uint i)
{
    int c = int(i % p.C);
    float gv = texelFetch(g, int(i)).r;
    if (RELU && !(texelFetch(m, int(i)).r > 0.0)) gv = 0.0;
    float inv = texelFetch(saved, int(p.C) + c).r;
    float xhat = (texelFetch(x, int(i)).r - texelFetch(saved, c).r) * inv;
    float s1 = texelFetch(ws, int(p.F) + c).r, s2 = texelFetch(ws, int(p.F + p.C) + c).r;
    return texelFetch(gamma, c).r * inv * (gv - s1 * p.invR - xhat * s2 * p.invR);
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
