#version 450
// Channel concat backward (split): da[pix, c] (+)= g[pix, c], db[pix, c] (+)= g[pix, Ca + c].
// The first ceil(na/4) invocations write da, the rest db, 4 outputs each.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ACC_A = false;
layout(constant_id = 2) const bool ACC_B = false;

CTVK_IN(0, g)
layout(std430, binding = 1) buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) buffer A1 { float a1[]; };
layout(std430, binding = 2) buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) buffer B1 { float b1[]; };
layout(push_constant) uniform P { uint na, nb, Ca, Cb; } p;

float ga(uint i) { return LD(g, int((i / p.Ca) * (p.Ca + p.Cb) + i % p.Ca)); }
float gb(uint i) { return LD(g, int((i / p.Cb) * (p.Ca + p.Cb) + p.Ca + i % p.Cb)); }

void main()
{
    uint q = ctvk_flat_index(LOCAL), qa = (p.na + 3u) / 4u;
    if (q < qa) {
        uint base = 4u * q;
        if (base + 3u < p.na) {
            vec4 v = vec4(ga(base), ga(base + 1u), ga(base + 2u), ga(base + 3u));
            a4[q] = ACC_A ? a4[q] + v : v;
        } else {
            for (uint i = base; i < p.na; i++) a1[i] = ACC_A ? a1[i] + ga(i) : ga(i);
        }
        return;
    }
    q -= qa;
    uint base = 4u * q;
    if (base >= p.nb) return;
    if (base + 3u < p.nb) {
        vec4 v = vec4(gb(base), gb(base + 1u), gb(base + 2u), gb(base + 3u));
        b4[q] = ACC_B ? b4[q] + v : v;
    } else {
        for (uint i = base; i < p.nb; i++) b1[i] = ACC_B ? b1[i] + gb(i) : gb(i);
    }
}
