#version 450
// uint16 -> fp32: y = scale * x + offset. x through a R16_UINT texel buffer, y as vec4 stores.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

CTVK_IN_U16(0, x)
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) writeonly buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; float scale; float offset; } p;

float f(uint i) { return p.scale * float(LDU16(x, int(i))) + p.offset; }

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= p.n) return;
    if (base + 3u < p.n) y4[base / 4u] = vec4(f(base), f(base + 1u), f(base + 2u), f(base + 3u));
    else for (uint i = base; i < p.n; i++) y1[i] = f(i);
}
