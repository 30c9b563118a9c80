#version 450
// Winograd F(2x2, 3x3) convolution (3x3, stride 1), the transforms around its 16 GEMMs (net/wino.c):
//   STAGE 0, input:   V[xi][t][c]  = (B^T d B)[xi], d the 4x4 input patch of output tile t (zeros
//                     outside the image; rows t >= T of the padded tile count are zeros)
//   STAGE 1, output:  y[2x2 tile t][k] = (A^T M A) + bias[k] (+ residual) (ReLU), M[xi][t][k]
//   STAGE 2, weights: U[xi][c][k]  = (G g G^T)[xi], g the 3x3 filter w[.][.][c][k] (HWIO); with
//                     FLIP the backward-data filter g[a][b] = w[2-a][2-b][k][c] (c over Cout, k
//                     over Cin: dx is the forward conv of dy with these, padding 2 - pad)
// with xi = 4 i + j over the 4x4 transformed tile. Every invocation handles 4 consecutive channels
// (vec4 texel fetches in, vec4 stores out). The GEMM M[xi] = V[xi] U[xi] is the conv kernel's.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const int STAGE = 0;
layout(constant_id = 2) const int HAS_BIAS = 0;
layout(constant_id = 3) const int RELU = 0;
layout(constant_id = 4) const int RESID = 0;
layout(constant_id = 5) const int FLIP = 0;      // stage 2: src is w bound through a 1-component view
layout(constant_id = 6) const int ACC = 0;       // stage 1: y += result

layout(binding = 0) uniform samplerBuffer src;   // x, M or w, 4-component view
layout(binding = 1) uniform samplerBuffer bias;  // stage 1 with HAS_BIAS (else any)
layout(binding = 2) uniform samplerBuffer res;   // stage 1 with RESID, 4-component view (else any)
layout(std430, binding = 3) buffer Y4 { vec4 y4[]; };

layout(push_constant) uniform P {
    int T, Tp;        // tiles (N * TH * TW) and tiles rounded up to the GEMM's row block
    int C;            // channels of src's rows (stage 0: Cin, stage 1: Cout, stage 2: Cin)
    int K;            // stage 2: output channels of the transformed filters
    int H, W;         // stage 0: input size; stage 1: output size
    int TH, TW;       // tiles per image: ceil(OH / 2), ceil(OW / 2)
    int PT, PL;       // stage 0: padding above and left
} p;

void main()
{
    int C4 = p.C >> 2;
    int idx = int(ctvk_flat_index(LOCAL));
    if (STAGE == 2) {
        // idx over Cin x Cout/4
        int K4 = p.K >> 2;
        if (idx >= p.C * K4) return;
        int ci = idx / K4, k4 = idx % K4;
        vec4 g[3][3], a[4][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                if (FLIP == 0) {
                    g[i][j] = texelFetch(src, ((i * 3 + j) * p.C + ci) * K4 + k4);
                    continue;
                }
                // w is (3, 3, K, C) HWIO: element [2-i][2-j][k][ci] for the 4 k of this invocation
                int b = (((2 - i) * 3 + (2 - j)) * p.K + 4 * k4) * p.C + ci;
                g[i][j] = vec4(texelFetch(src, b).r, texelFetch(src, b + p.C).r, texelFetch(src, b + 2 * p.C).r,
                               texelFetch(src, b + 3 * p.C).r);
            }
        for (int j = 0; j < 3; j++) {
            a[0][j] = g[0][j];
            a[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
            a[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
            a[3][j] = g[2][j];
        }
        int plane = p.C * K4;
        for (int i = 0; i < 4; i++) {
            vec4 u[4];
            u[0] = a[i][0];
            u[1] = 0.5 * (a[i][0] + a[i][1] + a[i][2]);
            u[2] = 0.5 * (a[i][0] - a[i][1] + a[i][2]);
            u[3] = a[i][2];
            for (int j = 0; j < 4; j++) y4[(i * 4 + j) * plane + idx] = u[j];
        }
        return;
    }
    if (idx >= p.Tp * C4) return;
    int t = idx / C4, c4 = idx % C4;
    int plane = p.Tp * C4;       // vec4s per transformed position
    if (STAGE == 0) {
        if (t >= p.T) {
            for (int xi = 0; xi < 16; xi++) y4[xi * plane + idx] = vec4(0.0);
            return;
        }
        int tw = t % p.TW, r = t / p.TW, th = r % p.TH, n = r / p.TH;
        int h0 = 2 * th - p.PT, w0 = 2 * tw - p.PL;
        vec4 d[4][4], b[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int ih = h0 + i, iw = w0 + j;
                bool ok = uint(ih) < uint(p.H) && uint(iw) < uint(p.W);
                d[i][j] = ok ? texelFetch(src, ((n * p.H + ih) * p.W + iw) * C4 + c4) : vec4(0.0);
            }
        for (int j = 0; j < 4; j++) {      // B^T d
            b[0][j] = d[0][j] - d[2][j];
            b[1][j] = d[1][j] + d[2][j];
            b[2][j] = d[2][j] - d[1][j];
            b[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; i++) {      // (B^T d) B
            y4[(i * 4 + 0) * plane + idx] = b[i][0] - b[i][2];
            y4[(i * 4 + 1) * plane + idx] = b[i][1] + b[i][2];
            y4[(i * 4 + 2) * plane + idx] = b[i][2] - b[i][1];
            y4[(i * 4 + 3) * plane + idx] = b[i][1] - b[i][3];
        }
        return;
    }
    // STAGE 1
    if (t >= p.T) return;
    vec4 m[4][4], s[2][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) m[i][j] = texelFetch(src, (i * 4 + j) * plane + idx);
    for (int j = 0; j < 4; j++) {          // A^T M
        s[0][j] = m[0][j] + m[1][j] + m[2][j];
        s[1][j] = m[1][j] - m[2][j] - m[3][j];
    }
    vec4 bv = vec4(0.0);
    if (HAS_BIAS != 0) {
        int c = 4 * c4;
        bv = vec4(texelFetch(bias, c).r, texelFetch(bias, c + 1).r, texelFetch(bias, c + 2).r, texelFetch(bias, c + 3).r);
    }
    int tw = t % p.TW, r = t / p.TW, th = r % p.TH, n = r / p.TH;
    for (int i = 0; i < 2; i++) {
        int oh = 2 * th + i;
        if (oh >= p.H) break;
        for (int j = 0; j < 2; j++) {
            int ow = 2 * tw + j;
            if (ow >= p.W) break;
            vec4 v = (j == 0 ? s[i][0] + s[i][1] + s[i][2] : s[i][1] - s[i][2] - s[i][3]) + bv;
            int o = ((n * p.H + oh) * p.W + ow) * C4 + c4;
            if (RESID != 0) v += texelFetch(res, o);
            if (RELU != 0) v = max(v, vec4(0.0));
            if (ACC != 0) v += y4[o];
            y4[o] = v;
        }
    }
}
