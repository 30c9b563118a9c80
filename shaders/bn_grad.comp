#version 450
// BN backward, pass 1: per (channel, chunk of rows): ws[(q+1)*2C + c] = sum g', ws[(q+1)*2C + C + c]
// = sum g' * xhat (the first 2C values hold the merged sums of pass 2), g' = g * (m > 0) when RELU (the fused ReLU's output m), xhat = (x - mean) * invstd.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool RELU = false;

CTVK_IN(0, x)
CTVK_IN(1, g)
CTVK_IN(2, m)
CTVK_PARAM(3, saved)
layout(std430, binding = 4) writeonly buffer W { float ws[]; };
layout(push_constant) uniform P { uint R, C, chunk, P; } p;

void main()
{
    uint c = gl_GlobalInvocationID.x, q = gl_WorkGroupID.y;
    if (c >= p.C) return;
    uint r0 = q * p.chunk, r1 = min(r0 + p.chunk, p.R);
    float mean = LDP(saved, int(c)), inv = LDP(saved, int(p.C + c));
    float s1 = 0.0, s2 = 0.0;
    for (uint r = r0; r < r1; r++) {
        int i = int(r * p.C + c);
        float gv = LD(g, i);
        if (RELU && !(LD(m, i) > 0.0)) gv = 0.0;
        s1 += gv;
        s2 += gv * (LD(x, i) - mean) * inv;
    }
    uint o = (q + 1u) * 2u * p.C;
    ws[o + c] = s1;
    ws[o + p.C + c] = s2;
}
