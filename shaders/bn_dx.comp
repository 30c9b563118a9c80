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
layout(binding = 3) uniform samplerBuffer saved;
layout(binding = 4) uniform samplerBuffer gamma;
layout(binding = 5) uniform samplerBuffer ws;
layout(std430, binding = 6) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 6) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n, C; float invR; } p;

float f(uint i)
{
    int c = int(i % p.C);
    float gv = LD(g, int(i));
    if (RELU && !(LD(m, int(i)) > 0.0)) gv = 0.0;
    float inv = texelFetch(saved, int(p.C) + c).r;
    float xhat = (LD(x, int(i)) - texelFetch(saved, c).r) * inv;
    float s1 = texelFetch(ws, c).r, s2 = texelFetch(ws, int(p.C) + c).r;
    return texelFetch(gamma, c).r * inv * (gv - s1 * p.invR - xhat * s2 * p.invR);
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
        vec4 inv = texelFetch(saved, int(C4) + c4);
        vec4 xhat = (LD4(x, int(i)) - texelFetch(saved, c4)) * inv;
        vec4 s1 = texelFetch(ws, c4), s2 = texelFetch(ws, int(C4) + c4);
        vec4 v = texelFetch(gamma, c4) * inv * (gv - s1 * p.invR - xhat * s2 * p.invR);
        if (ACC) v += y4[i];
        y4[i] = v;
        return;
    }
    ops4_main(p.n);
}
