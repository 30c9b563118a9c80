#version 450
// Bias gradient: db[c] (+)= sum over the P = N*OH*OW rows of dy[p][c]. One invocation per
// channel, dy read through a texel buffer, eight interleaved partial sums.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int ACCUM = 0;
layout(constant_id = 1) const int LOCAL = 8;

CTVK_IN(0, dy)
layout(std430, binding = 1) buffer DB { float db[]; };
layout(push_constant) uniform P { int rows, C; } p;

void main()
{
    int c = int(gl_GlobalInvocationID.x);
    if (c >= p.C) return;
    float s[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    int r = 0;
    for (; r + 8 <= p.rows; r += 8)
        for (int i = 0; i < 8; i++) s[i] += LD(dy, (r + i) * p.C + c);
    for (; r < p.rows; r++) s[0] += LD(dy, r * p.C + c);
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    if (ACCUM != 0) t += db[c];
    db[c] = t;
}
