#version 450
// Two-output gradient routing (net/act.c add backward): da (+)= g', db (+)= g', where
// g' = g * (mask > 0) when MASK, else g.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool MASK = false;
layout(constant_id = 2) const bool ACC_A = false;
layout(constant_id = 3) const bool ACC_B = false;

CTVK_IN(0, g)
CTVK_IN(1, m)
layout(std430, binding = 2) buffer A4 { vec4 a4[]; };
layout(std430, binding = 2) buffer A1 { float a1[]; };
layout(std430, binding = 3) buffer B4 { vec4 b4[]; };
layout(std430, binding = 3) buffer B1 { float b1[]; };
layout(push_constant) uniform P { uint n; } p;

float f(uint i)
{
    float v = LD(g, int(i));
    if (MASK) v = LD(m, int(i)) > 0.0 ? v : 0.0;
    return v;
}

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= p.n) return;
    if (base + 3u < p.n) {
        vec4 v = vec4(f(base), f(base + 1u), f(base + 2u), f(base + 3u));
        uint k = base / 4u;
        a4[k] = ACC_A ? a4[k] + v : v;
        b4[k] = ACC_B ? b4[k] + v : v;
    } else {
        for (uint i = base; i < p.n; i++) {
            float v = f(i);
            a1[i] = ACC_A ? a1[i] + v : v;
            b1[i] = ACC_B ? b1[i] + v : v;
        }
    }
}
