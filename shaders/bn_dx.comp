#version 450
// BN backward, pass 3: dx (+)= gamma * invstd * (g' - sum(g')/R - xhat * sum(g' xhat)/R).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool RELU = false;
layout(constant_id = 2) const bool ACC = false;
// VEC (C % 4 == 0): bindings 0-5 are 4-component views; an invocation's 4 outputs are 4
// consecutive channels of one pixel. ws: the merged sums {sum g'[C], sum g' xhat[C]} at its head
// (bn_grad_final); the view may cover only that head.
layout(constant_id = 3) const bool VEC = false;

CTVK_IN(0, x)
CTVK_IN(1, g)
CTVK_IN(2, m)
CTVK_PARAM(3, saved)
CTVK_PARAM(4, gamma)
CTVK_PARAM(5, ws)
layout(std430, binding = 6) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 6) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C; float invR; } p;

float f(uint i)
{
    int c = int(i % p.C);
    float gv = LD(g, int(i));
    if (RELU && !(LD(m, int(i)) > 0.0)) gv = 0.0;
    float inv = LDP(saved, int(p.C) + c);
    float xhat = (LD(x, int(i)) - LDP(saved, c)) * inv;
    float s1 = LDP(ws, c), s2 = LDP(ws, int(p.C) + c);
    return LDP(gamma, c) * inv * (gv - s1 * p.invR - xhat * s2 * p.invR);
}

#include "ops4.glsl"
void main()
{
    if (VEC) {
        uint i = ctvk_flat_index(LOCAL), C4 = p.C / 4u;
        if (i >= p.n / 4u) return;
        int c4 = int(i % C4);
        vec4 gv = LD4(g, int(i));
        if (RELU) gv = mix(vec4(0.0), gv, greaterThan(LD4(m, int(i)), vec4(0.0)));
        vec4 inv = LDP4(saved, int(C4) + c4);
        vec4 xhat = (LD4(x, int(i)) - LDP4(saved, c4)) * inv;
        vec4 s1 = LDP4(ws, c4), s2 = LDP4(ws, int(C4) + c4);
        vec4 v = LDP4(gamma, c4) * inv * (gv - s1 * p.invR - xhat * s2 * p.invR);
        if (ACC) v += y4[i];
        y4[i] = v;
        return;
    }
    ops4_main(p.n);
}
