#version 450
// Elementwise kernels: OP 0 fill (y = value), 1 copy (y = x), 2 scale-add (y = a*x + b*y).
// Reads go through a texel buffer and writes through vec4 stores: the fast path on lavapipe.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; float a; float b; float value; } p;

float f(uint i)
{
    if (OP == 0) return p.value;
    if (OP == 1) return LD(x, int(i));
    return p.a * LD(x, int(i)) + p.b * y1[i];
}

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= p.n) return;
    if (base + 3u < p.n) {
        y4[base / 4u] = vec4(f(base), f(base + 1u), f(base + 2u), f(base + 3u));
    } else {
        for (uint i = base; i < p.n; i++) y1[i] = f(i);
    }
}
