#version 450
// Max pool k x k / stride s, 'valid' on x zero-padded by (pt, pl) top/left (bottom/right implied by
// the output size): the padded zeros take part in the max. argmax gets the window position
// ky*k + kx of the FIRST maximum in row-major order (strict '>' scan).
// VEC (C % 4 == 0): one invocation produces 4 consecutive channels of one output pixel, reading x
// through a 4-component texel view and storing vec4 / uvec4 (on lavapipe 4x fewer invocations,
// vectorised fetches and stores); else one output per invocation.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ARG = false;
layout(constant_id = 2) const bool VEC = false;

CTVK_IN(0, x)
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) writeonly buffer A { uint arg[]; };
layout(std430, binding = 2) writeonly buffer A4 { uvec4 arg4[]; };
layout(push_constant) uniform P { uint n; uint H, W, C, OH, OW; int k, s, pt, pl; } p;

float at(uint nn, int ih, int iw, uint c)
{
    if (ih < 0 || iw < 0 || ih >= int(p.H) || iw >= int(p.W)) return 0.0;
    return LD(x, int(((nn * p.H + uint(ih)) * p.W + uint(iw)) * p.C + c));
}

void main()
{
    uint i = ctvk_flat_index(LOCAL);
    if (VEC) {
        uint C4 = p.C / 4u;
        if (i >= p.n / 4u) return;
        uint c4 = i % C4, pix = i / C4;
        uint ow = pix % p.OW, t = pix / p.OW;
        uint oh = t % p.OH, nn = t / p.OH;
        int h0 = int(oh) * p.s - p.pt, w0 = int(ow) * p.s - p.pl;
        int rowq = int(p.W * C4), base = int((nn * p.H) * p.W * C4 + c4);
        vec4 best = vec4(0.0);
        uvec4 barg = uvec4(0u);
        for (int ky = 0; ky < p.k; ky++) {
            int ih = h0 + ky;
            bool okh = uint(ih) < p.H;
            for (int kx = 0; kx < p.k; kx++) {
                int iw = w0 + kx;
                bool ok = okh && uint(iw) < p.W;
                vec4 v = LD4(x, ok ? base + ih * rowq + iw * int(C4) : 0);
                v = ok ? v : vec4(0.0);
                if (ky == 0 && kx == 0) { best = v; continue; }
                bvec4 gt = greaterThan(v, best);
                best = mix(best, v, gt);
                barg = mix(barg, uvec4(uint(ky * p.k + kx)), gt);
            }
        }
        y4[i] = best;
        if (ARG) arg4[i] = barg;
        return;
    }
    if (i >= p.n) return;
    uint c = i % p.C, pix = i / p.C;
    uint ow = pix % p.OW, t = pix / p.OW;
    uint oh = t % p.OH, nn = t / p.OH;
    int h0 = int(oh) * p.s - p.pt, w0 = int(ow) * p.s - p.pl;
    float best = at(nn, h0, w0, c);
    int barg = 0;
    for (int ky = 0; ky < p.k; ky++)
        for (int kx = 0; kx < p.k; kx++) {
            float v = at(nn, h0 + ky, w0 + kx, c);
            if (v > best) { best = v; barg = ky * p.k + kx; }
        }
    y[i] = best;
    if (ARG) arg[i] = uint(barg);
}
