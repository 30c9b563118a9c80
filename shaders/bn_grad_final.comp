#version 450
// BN backward, pass 2: one lane per channel sums the chunks (at ws[(q+1)*2C ...]): ws[c] = sum g',
// ws[C + c] = sum g' xhat (the workspace's head, read by bn_dx through a view of it alone, so that
// it fits a texel buffer on every device); dbeta (+)= sum g', dgamma (+)= sum g' xhat.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ACC = false;

layout(std430, binding = 0) buffer W { float ws[]; };
layout(std430, binding = 1) buffer DG { float dgamma[]; };
layout(std430, binding = 2) buffer DB { float dbeta[]; };
layout(push_constant) uniform P { uint R, C, chunk, P; } p;

void main()
{
    uint c = gl_GlobalInvocationID.x;
    if (c >= p.C) return;
    float s1 = 0.0, s2 = 0.0;
    for (uint q = 0u; q < p.P; q++) {
        s1 += ws[(q + 1u) * 2u * p.C + c];
        s2 += ws[(q + 1u) * 2u * p.C + p.C + c];
    }
    ws[c] = s1;
    ws[p.C + c] = s2;
    dgamma[c] = ACC ? dgamma[c] + s2 : s2;
    dbeta[c] = ACC ? dbeta[c] + s1 : s1;
}
