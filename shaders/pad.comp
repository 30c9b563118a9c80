#version 450
// Zero padding / cropping (net/act.c): y[n, oh, ow, c] = x[n, oh - top, ow - left, c] where that
// is inside x, else 0. Negative top/left crop (the backward of padding). ACC: y +=.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const bool ACC = false;

CTVK_IN(0, x)
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform P { uint n; uint H, W, C, OH, OW; int top, left; } p;

float f(uint i)
{
    uint c = i % p.C, pix = i / p.C;
    uint ow = pix % p.OW, t = pix / p.OW;
    uint oh = t % p.OH, nn = t / p.OH;
    int ih = int(oh) - p.top, iw = int(ow) - p.left;
    if (ih < 0 || iw < 0 || ih >= int(p.H) || iw >= int(p.W)) return 0.0;
    return LD(x, int(((nn * p.H + uint(ih)) * p.W + uint(iw)) * p.C + c));
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
