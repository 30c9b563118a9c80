#version 450
// Inverted dropout with a counter-based mask (net/dropout.c holds the identical host code):
// keep i iff hash(first + i, key) >= thresh (first: the element's place in a bigger batch); y (+)= keep ? x * scale : 0. The backward is the same
// kernel on the gradient with the same seed.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ACC = false;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint k0, k1, thresh; float scale; uint first; } p;

uint lowbias32(uint v)
{
    v ^= v >> 16; v *= 0x7feb352du;
    v ^= v >> 15; v *= 0x846ca68bu;
    v ^= v >> 16;
    return v;
}

float f(uint i)
{
    uint h = lowbias32(lowbias32((p.first + i) ^ p.k0) + p.k1);
    return h >= p.thresh ? LD(x, int(i)) * p.scale : 0.0;
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
