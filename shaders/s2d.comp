#version 450
// Space-to-depth for stride-2 convs with few input channels (the stems, net/s2d.c): a k x k
// stride-2 conv of x padded by (PT, PL) equals a ceil(k/2)-square stride-1 'valid' conv of
//   STAGE 0: x2[n][i][j][(dy * 2 + dx) * C + c] = x[n][2i + dy - PT][2j + dx - PL][c] (0 outside)
// with the filters
//   STAGE 1: w2[a][b][(dy * 2 + dx) * C + c][k] = w[2a + dy][2b + dx][c][k] (0 beyond the kernel)
// whose 4C input channels let the conv kernel read x 4 channels per fetch.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const int STAGE = 0;
const bool ACC = false;

layout(binding = 0) uniform samplerBuffer x;      // x or w
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 1) buffer Y1 { float y1[]; };
// stage 0: input H x W x C, output OH x OW x 4C; stage 1: filters H x W x C x K -> OH x OW x 4C x K
layout(push_constant) uniform P { uint n; int H, W, C, OH, OW, K, PT, PL; } p;

float f(uint i)
{
    int k = 0, j = int(i);
    if (STAGE == 1) {
        k = j % p.K;
        j /= p.K;
    }
    int c4 = j % (4 * p.C), q = c4 / p.C, c = c4 % p.C, dy = q >> 1, dx = q & 1;
    j /= 4 * p.C;
    int b = j % p.OW, t = j / p.OW, a = t % p.OH, n = t / p.OH;
    if (STAGE == 1) {
        int kh = 2 * a + dy, kw = 2 * b + dx;
        return kh < p.H && kw < p.W ? texelFetch(x, ((kh * p.W + kw) * p.C + c) * p.K + k).r : 0.0;
    }
    int ih = 2 * a + dy - p.PT, iw = 2 * b + dx - p.PL;
    bool ok = ih >= 0 && iw >= 0 && ih < p.H && iw < p.W;
    return ok ? texelFetch(x, ((n * p.H + ih) * p.W + iw) * p.C + c).r : 0.0;
}

#include "ops4.glsl"
void main() { ops4_main(p.n); }
