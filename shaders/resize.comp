#version 450
// Nearest resize, forward sizes H x W -> OH x OW, src = floor(dst * in / out).
// OP 0 forward: y[n, oh, ow, c] = x[n, oh*H/OH, ow*W/OW, c].
// OP 1 backward: y (= dx, H x W) (+)= sum of x (= g, OH x OW) over the outputs that read
// (ih, iw): oh in [ceil(ih*OH/H), ceil((ih+1)*OH/H)), likewise ow.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;
layout(constant_id = 2) const bool ACC = false;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint H, W, C, OH, OW; } p;

uint ceil_div(uint a, uint b) { return (a + b - 1u) / b; }

float f(uint i)
{
    uint c = i % p.C, pix = i / p.C;
    if (OP == 0) {
        uint ow = pix % p.OW, t = pix / p.OW;
        uint oh = t % p.OH, nn = t / p.OH;
        uint ih = oh * p.H / p.OH, iw = ow * p.W / p.OW;
        return LD(x, int(((nn * p.H + ih) * p.W + iw) * p.C + c));
    }
    uint iw = pix % p.W, t = pix / p.W;
    uint ih = t % p.H, nn = t / p.H;
    uint oh0 = ceil_div(ih * p.OH, p.H), oh1 = ceil_div((ih + 1u) * p.OH, p.H);
    uint ow0 = ceil_div(iw * p.OW, p.W), ow1 = ceil_div((iw + 1u) * p.OW, p.W);
    float sum = 0.0;
    for (uint oh = oh0; oh < oh1; oh++)
        for (uint ow = ow0; ow < ow1; ow++)
            sum += LD(x, int(((nn * p.OH + oh) * p.OW + ow) * p.C + c));
    return sum;
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
