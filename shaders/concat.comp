#version 450
// Channel concat: y[pix, c] = c < Ca ? a[pix, c] : b[pix, c - Ca].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
const bool ACC = false;

CTVK_IN(0, a)
CTVK_IN(1, b)
layout(std430, binding = 2) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint Ca, Cb; } p;

float f(uint i)
{
    uint ct = p.Ca + p.Cb, c = i % ct, pix = i / ct;
    return c < p.Ca ? LD(a, int(pix * p.Ca + c)) : LD(b, int(pix * p.Cb + c - p.Ca));
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
