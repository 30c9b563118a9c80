#version 450
// Augmentation of a batch of uint16 slices (N x H x W, one channel) into an fp32 NHWC batch:
// per image an affine warp (bilinear, edge replicate) then optional flips, from a record of
// 8 floats {a00, a01, a10, a11, d0, d1, flags, 0} (see net/train_ops.h). Output pixel (r, c):
//   (r', c') = (flip_v ? H-1-r : r, flip_h ? W-1-c : c)
//   (row, col) = (d0, d1) + A ((r', c') - ((H-1)/2, (W-1)/2))
//   out = scale * bilinear(in, row, col) + offset
// Four consecutive outputs per invocation, written as one vec4 (scalar tail).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;

CTVK_IN_U16(0, src)
CTVK_PARAM(1, prm)
layout(std430, binding = 2) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = 2) writeonly buffer O1 { float o1[]; };
layout(push_constant) uniform P { uint total; uint h; uint w; float scale; float offset; } k;

float px(uint base, int r, int c)
{
    return float(LDU16(src, int(base + uint(r) * k.w + uint(c))));
}

float sample_at(uint i)
{
    uint hw = k.h * k.w;
    uint n = i / hw;
    uint rem = i - n * hw;
    uint r = rem / k.w;
    uint c = rem - r * k.w;
    int pb = int(n * 8u);
    float a00 = LDP(prm, pb), a01 = LDP(prm, pb + 1);
    float a10 = LDP(prm, pb + 2), a11 = LDP(prm, pb + 3);
    float d0 = LDP(prm, pb + 4), d1 = LDP(prm, pb + 5);
    uint flags = uint(LDP(prm, pb + 6));
    if ((flags & 1u) != 0u) c = k.w - 1u - c;
    if ((flags & 2u) != 0u) r = k.h - 1u - r;
    float dr = float(r) - 0.5 * float(k.h - 1u), dc = float(c) - 0.5 * float(k.w - 1u);
    float y = d0 + (a00 * dr + a01 * dc);
    float x = d1 + (a10 * dr + a11 * dc);
    // outside [-1, size] every neighbour is the edge pixel: clamping there changes nothing
    y = clamp(y, -1.0, float(k.h));
    x = clamp(x, -1.0, float(k.w));
    float y0 = floor(y), x0 = floor(x);
    float wy = y - y0, wx = x - x0;
    int hi_r = int(k.h) - 1, hi_c = int(k.w) - 1;
    int r0 = clamp(int(y0), 0, hi_r), r1 = clamp(int(y0) + 1, 0, hi_r);
    int c0 = clamp(int(x0), 0, hi_c), c1 = clamp(int(x0) + 1, 0, hi_c);
    uint base = n * hw;
    float top = (1.0 - wx) * px(base, r0, c0) + wx * px(base, r0, c1);
    float bot = (1.0 - wx) * px(base, r1, c0) + wx * px(base, r1, c1);
    return k.scale * ((1.0 - wy) * top + wy * bot) + k.offset;
}

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= k.total) return;
    if (base + 3u < k.total) {
        o4[base / 4u] = vec4(sample_at(base), sample_at(base + 1u), sample_at(base + 2u), sample_at(base + 3u));
    } else {
        for (uint i = base; i < k.total; i++) o1[i] = sample_at(i);
    }
}
