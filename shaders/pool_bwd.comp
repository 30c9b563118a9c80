#version 450
// Max pool backward: dx[n, ih, iw, c] (+)= sum of g over the outputs whose window covers (ih, iw)
// and whose recorded argmax is that position. Gather form: no atomics, deterministic.
// VEC (C % 4 == 0): one invocation does 4 consecutive channels of one input pixel (the window
// arithmetic once, 4-component fetches of g and argmax, one vec4 store); else one element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ACC = false;
layout(constant_id = 2) const bool VEC = false;

CTVK_IN(0, g)
CTVK_IN_U32(1, arg)
layout(std430, binding = 2) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint H, W, C, OH, OW; int k, s, pt, pl; } p;

// The gradient reaching input element (pixel pix, channels c .. c + LANES - 1; addresses in units
// of LANES channels: cq = c / LANES, Cq = C / LANES).
vec4 gather(uint pix, uint cq, uint Cq, bool vec)
{
    int iw = int(pix % p.W);
    uint t = pix / p.W;
    int ih = int(t % p.H);
    uint nn = t / p.H;
    int hp = ih + p.pt, wp = iw + p.pl;          // position in the padded input
    int hlo = hp - p.k + 1, wlo = wp - p.k + 1;
    int oh0 = hlo <= 0 ? 0 : (hlo + p.s - 1) / p.s, oh1 = min(hp / p.s, int(p.OH) - 1);
    int ow0 = wlo <= 0 ? 0 : (wlo + p.s - 1) / p.s, ow1 = min(wp / p.s, int(p.OW) - 1);
    vec4 sum = vec4(0.0);
    for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++) {
            int o = int(((nn * p.OH + uint(oh)) * p.OW + uint(ow)) * Cq + cq);
            uint want = uint((hp - oh * p.s) * p.k + (wp - ow * p.s));
            if (vec) sum += mix(vec4(0.0), LD4(g, o), equal(LDU4(arg, o), uvec4(want)));
            else if (LDU(arg, o) == want) sum.x += LD(g, o);
        }
    return sum;
}

float f(uint i) { return gather(i / p.C, i % p.C, p.C, false).x; }

#include "ops4.glsl"
void main()
{
    if (!VEC) { ops4_main(p.n); return; }
    uint i = ctvk_flat_index(LOCAL), C4 = p.C / 4u;
    if (i >= p.n / 4u) return;
    vec4 v = gather(i / C4, i % C4, C4, true);
    if (ACC) v += y4[i];
    y4[i] = v;
}
