#version 450
// BN training forward, pass 2: one lane per channel merges the chunks' (mean, M2) (Chan et al.),
// writes saved = {mean[C], invstd[C]} (biased variance) and updates the moving statistics
// (Keras: moving -= (moving - stat) * (1 - momentum); the variance with the unbiased estimate).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

layout(binding = 0) uniform samplerBuffer ws;
layout(std430, binding = 1) writeonly buffer S { float saved[]; };
layout(std430, binding = 2) buffer MM { float mmean[]; };
layout(std430, binding = 3) buffer MV { float mvar[]; };
layout(push_constant) uniform P { uint R, C, chunk, P; float eps, momentum; } p;

void main()
{
    uint c = gl_GlobalInvocationID.x;
    if (c >= p.C) return;
    float n = 0.0, mean = 0.0, m2 = 0.0;
    for (uint q = 0u; q < p.P; q++) {
        float nb = float(min(p.chunk, p.R - q * p.chunk));
        float mb = texelFetch(ws, int(q * 2u * p.C + c)).r, m2b = texelFetch(ws, int(q * 2u * p.C + p.C + c)).r;
        float nn = n + nb, d = mb - mean;
        mean += d * (nb / nn);
        m2 += m2b + d * d * (n * nb / nn);
        n = nn;
    }
    float var = m2 / float(p.R);
    float uvar = m2 / float(max(p.R, 2u) - 1u);
    saved[c] = mean;
    saved[p.C + c] = 1.0 / sqrt(var + p.eps);
    mmean[c] -= (mmean[c] - mean) * (1.0 - p.momentum);
    mvar[c] -= (mvar[c] - uvar) * (1.0 - p.momentum);
}
