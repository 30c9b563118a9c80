#version 450
// BN training forward, pass 2: one lane per channel merges the chunks' (mean, M2) in two passes
// over the partials: mean = m0 + sum n_q (m_q - m0) / R (deviations from chunk 0's mean, so a
// large offset does not cost precision), then M2 = sum M2_q + n_q (m_q - mean)^2. It
// writes saved = {mean[C], invstd[C]} (biased variance) and updates the moving statistics
// (Keras: moving -= (moving - stat) * (1 - momentum); the variance with the unbiased estimate).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

CTVK_IN(0, ws)
layout(std430, binding = 1) writeonly buffer S { float saved[]; };
layout(std430, binding = 2) buffer MM { float mmean[]; };
layout(std430, binding = 3) buffer MV { float mvar[]; };
layout(push_constant) uniform P { uint R, C, chunk, P; float eps, momentum; } p;

void main()
{
    uint c = gl_GlobalInvocationID.x;
    if (c >= p.C) return;
    float m0 = LD(ws, int(c)), dev = 0.0;
    for (uint q = 1u; q < p.P; q++)
        dev += float(min(p.chunk, p.R - q * p.chunk)) * (LD(ws, int(q * 2u * p.C + c)) - m0);
    float mean = m0 + dev / float(p.R), m2 = 0.0;
    for (uint q = 0u; q < p.P; q++) {
        float d = LD(ws, int(q * 2u * p.C + c)) - mean;
        m2 += LD(ws, int(q * 2u * p.C + p.C + c)) + float(min(p.chunk, p.R - q * p.chunk)) * d * d;
    }
    float var = m2 / float(p.R);
    float uvar = m2 / float(max(p.R, 2u) - 1u);
    saved[c] = mean;
    saved[p.C + c] = 1.0 / sqrt(var + p.eps);
    mmean[c] -= (mmean[c] - mean) * (1.0 - p.momentum);
    mvar[c] -= (mvar[c] - uvar) * (1.0 - p.momentum);
}
