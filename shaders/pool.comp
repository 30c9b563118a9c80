#version 450
// Max pool k x k / stride s, 'valid' on x zero-padded by (pt, pl) top/left (bottom/right implied by
// the output size): the padded zeros take part in the max. One output per invocation; argmax gets
// the window position ky*k + kx of the FIRST maximum in row-major order (strict '>' scan).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ARG = false;

layout(binding = 0) uniform samplerBuffer x;
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer A { uint arg[]; };
layout(push_constant) uniform P { uint n; uint H, W, C, OH, OW; int k, s, pt, pl; } p;

float at(uint nn, int ih, int iw, uint c)
{
    if (ih < 0 || iw < 0 || ih >= int(p.H) || iw >= int(p.W)) return 0.0;
    return texelFetch(x, int(((nn * p.H + uint(ih)) * p.W + uint(iw)) * p.C + c)).r;
}

void main()
{
    uint i = ctvk_flat_index(LOCAL);
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
