#version 450
// ReLU, add and ReLU backward (net/act.c): OP 0 y = max(a, 0); 1 y = a + b; 2 y = a * (b > 0)
// (a = gradient, b = mask); 3 y = max(a + b, 0). ACC: y += instead of y =.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;
layout(constant_id = 2) const bool ACC = false;
// VEC (n % 4 == 0): a and b are 4-component texel views, one vec4 fetch per operand and invocation.
layout(constant_id = 3) const bool VEC = false;

CTVK_IN(0, a)
CTVK_IN(1, b)
layout(std430, binding = 2) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; } p;

float f(uint i)
{
    float va = LD(a, int(i));
    if (OP == 0) return max(va, 0.0);
    float vb = LD(b, int(i));
    if (OP == 1) return va + vb;
    if (OP == 2) return vb > 0.0 ? va : 0.0;
    return max(va + vb, 0.0);
}

#include "ops4.glsl"
void main()
{
    if (VEC) {
        uint i = ctvk_flat_index(LOCAL);
        if (i >= p.n / 4u) return;
        vec4 va = LD4(a, int(i)), v;
        if (OP == 0) v = max(va, vec4(0.0));
        else {
            vec4 vb = LD4(b, int(i));
            if (OP == 1) v = va + vb;
            else if (OP == 2) v = mix(vec4(0.0), va, greaterThan(vb, vec4(0.0)));
            else v = max(va + vb, vec4(0.0));
        }
        if (ACC) v += y4[i];
        y4[i] = v;
        return;
    }
    ops4_main(p.n);
}
