#version 450
// Fused softmax + categorical cross-entropy over C classes for a batch of B samples, one
// workgroup: probs = softmax(z), dlogits = (probs - y) / total (total = B, or the whole batch's size
// when these B samples are a part of it), loss = -sum y * (z - max - log sum exp),
// stats = {sum loss, correct (argmax z == argmax y, first index on ties), B}, += when ACC.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 64) in;
layout(constant_id = 0) const bool ACC = false;

CTVK_PARAM(0, z)
CTVK_PARAM(1, lab)
layout(std430, binding = 2) writeonly buffer Pr { float probs[]; };
layout(std430, binding = 3) writeonly buffer Dl { float dl[]; };
layout(std430, binding = 4) buffer St { float stats[]; };
layout(push_constant) uniform P { uint B, C; float total; } p;

shared float s_loss[64];
shared float s_ok[64];

void main()
{
    uint lane = gl_LocalInvocationID.x;
    float loss_sum = 0.0, ok = 0.0;
    for (uint b = lane; b < p.B; b += 64u) {
        uint o = b * p.C;
        float m = LDP(z, int(o)), ym = LDP(lab, int(o));
        uint am = 0u, ay = 0u;
        for (uint c = 1u; c < p.C; c++) {
            float v = LDP(z, int(o + c)), w = LDP(lab, int(o + c));
            if (v > m) { m = v; am = c; }
            if (w > ym) { ym = w; ay = c; }
        }
        float se = 0.0;
        for (uint c = 0u; c < p.C; c++) se += exp(LDP(z, int(o + c)) - m);
        float lse = log(se), l = 0.0;
        for (uint c = 0u; c < p.C; c++) {
            float zc = LDP(z, int(o + c)), yc = LDP(lab, int(o + c));
            float pc = exp(zc - m) / se;
            probs[o + c] = pc;
            dl[o + c] = (pc - yc) / p.total;
            l -= yc * (zc - m - lse);
        }
        loss_sum += l;
        if (am == ay) ok += 1.0;
    }
    s_loss[lane] = loss_sum;
    s_ok[lane] = ok;
    barrier();
    if (lane == 0u) {
        float tl = 0.0, to = 0.0;
        for (uint i = 0u; i < 64u; i++) { tl += s_loss[i]; to += s_ok[i]; }
        if (ACC) {
            stats[0] += tl; stats[1] += to; stats[2] += float(p.B);
        } else {
            stats[0] = tl; stats[1] = to; stats[2] = float(p.B);
        }
    }
}
