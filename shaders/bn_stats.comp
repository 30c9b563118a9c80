#version 450
// BN training forward, pass 1: workgroup (x: channel block, y: chunk of rows). Each lane takes one
// channel over the chunk's rows [r0, r1): mean (summing deviations from the chunk's first value, so
// a large common offset costs no precision), then the sum of squared deviations from that mean
// (two passes over the chunk, which stays in cache). ws[p*2C + c] = mean, ws[p*2C + C + c] = M2.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

CTVK_IN(0, x)
layout(std430, binding = 1) writeonly buffer W { float ws[]; };
layout(push_constant) uniform P { uint R, C, chunk, P; } p;

void main()
{
    uint c = gl_GlobalInvocationID.x, q = gl_WorkGroupID.y;
    if (c >= p.C) return;
    uint r0 = q * p.chunk, r1 = min(r0 + p.chunk, p.R);
    float x0 = LD(x, int(r0 * p.C + c)), s = 0.0;
    for (uint r = r0 + 1u; r < r1; r++) s += LD(x, int(r * p.C + c)) - x0;
    float mean = x0 + s / float(r1 - r0), m2 = 0.0;
    for (uint r = r0; r < r1; r++) {
        float d = LD(x, int(r * p.C + c)) - mean;
        m2 += d * d;
    }
    ws[q * 2u * p.C + c] = mean;
    ws[q * 2u * p.C + p.C + c] = m2;
}
