#version 450
// Global average pool. OP 0 forward: y[n, c] = mean over H*W of x[n, :, :, c] (blocked fp32 sum:
// blocks of 64 rows summed, then the block sums). OP 1 backward: y (= dx) (+)= x[n, c] / (H*W)
// with x = the gradient {N, C}.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;
layout(constant_id = 2) const bool ACC = false;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint HW, C; } p;

float f(uint i)
{
    uint c = i % p.C;
    if (OP == 1) return LD(x, int((i / (p.HW * p.C)) * p.C + c)) / float(p.HW);
    uint base = (i / p.C) * p.HW * p.C + c;
    float total = 0.0;
    for (uint r0 = 0u; r0 < p.HW; r0 += 64u) {
        float part = 0.0;
        uint r1 = min(r0 + 64u, p.HW);
        for (uint r = r0; r < r1; r++) part += LD(x, int(base + r * p.C));
        total += part;
    }
    return total / float(p.HW);
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
