#version 450
// Flat gradient buffers: OP 0 zero (y = 0), 1 accumulate (y += s * x), 2 scale (y *= s).
// x is read through a texel buffer, y written with vec4 stores (the fast path on lavapipe).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; float s; } p;

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= p.n) return;
    if (base + 3u < p.n) {
        uint q = base / 4u;
        if (OP == 0) {
            y4[q] = vec4(0.0);
        } else if (OP == 1) {
            vec4 g = vec4(LD(x, int(base)), LD(x, int(base + 1u)),
                          LD(x, int(base + 2u)), LD(x, int(base + 3u)));
            y4[q] = y4[q] + p.s * g;
        } else {
            y4[q] = p.s * y4[q];
        }
    } else {
        for (uint i = base; i < p.n; i++) {
            if (OP == 0) y1[i] = 0.0;
            else if (OP == 1) y1[i] = y1[i] + p.s * LD(x, int(i));
            else y1[i] = p.s * y1[i];
        }
    }
}
