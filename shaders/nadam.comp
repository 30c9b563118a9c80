#version 450
// Nadam (legacy Keras schedule), one fused pass: g is read through a texel buffer, p, m and v
// are read and written as vec4 (scalar tail). The host computes the per-step scalars:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr (c_m m + c_g g) / (sqrt(c_v v) + eps)
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

CTVK_IN(0, g)
layout(std430, binding = 1) buffer P4 { vec4 p4[]; };
layout(std430, binding = 1) buffer P1 { float p1[]; };
layout(std430, binding = 2) buffer M4 { vec4 m4[]; };
layout(std430, binding = 2) buffer M1 { float m1[]; };
layout(std430, binding = 3) buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) buffer V1 { float v1[]; };
layout(push_constant) uniform Push {
    uint n;
    float lr, b1, omb1, b2, omb2, c_m, c_g, c_v, eps;
} k;

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= k.n) return;
    if (base + 3u < k.n) {
        uint q = base / 4u;
        vec4 gr = vec4(LD(g, int(base)), LD(g, int(base + 1u)),
                       LD(g, int(base + 2u)), LD(g, int(base + 3u)));
        vec4 m = k.b1 * m4[q] + k.omb1 * gr;
        vec4 v = k.b2 * v4[q] + k.omb2 * (gr * gr);
        m4[q] = m;
        v4[q] = v;
        p4[q] = p4[q] - k.lr * (k.c_m * m + k.c_g * gr) / (sqrt(k.c_v * v) + k.eps);
    } else {
        for (uint i = base; i < k.n; i++) {
            float gr = LD(g, int(i));
            float m = k.b1 * m1[i] + k.omb1 * gr;
            float v = k.b2 * v1[i] + k.omb2 * (gr * gr);
            m1[i] = m;
            v1[i] = v;
            p1[i] = p1[i] - k.lr * (k.c_m * m + k.c_g * gr) / (sqrt(k.c_v * v) + k.eps);
        }
    }
}
