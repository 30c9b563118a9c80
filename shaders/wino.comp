#version 450
// Winograd F(m x m, 3x3) convolution (3x3, stride 1; m = TILE, 2 or 4), the transforms around its
// R*R GEMMs (R = m + 2; net/wino.c):
//   STAGE 0, input:   V[xi][t][c]  = (B^T d B)[xi], d the R x R input patch of output tile t (zeros
//                     outside the image; rows t >= T of the padded tile count are zeros)
//   STAGE 1, output:  y[m x m tile t][k] = (A^T M A) + bias[k] (+ residual) (ReLU), M[xi][t][k]
//   STAGE 2, weights: U[xi][c][k]  = (G g G^T)[xi], g the 3x3 filter w[.][.][c][k] (HWIO); with
//                     FLIP the backward-data filter g[a][b] = w[2-a][2-b][k][c] (c over Cout, k
//                     over Cin: dx is the forward conv of dy with these, padding 2 - pad)
// with xi = R i + j over the transformed tile. Matrices: Lavin and Gray 2016 (F(2,3): points 0, 1,
// -1; F(4,3): 0, 1, -1, 2, -2). Every invocation handles 4 consecutive channels (vec4 texel
// fetches in, vec4 stores out). The GEMM M[xi] = V[xi] U[xi] is the conv kernel's.
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
layout(constant_id = 7) const int TILE = 2;
const int R = TILE + 2;

CTVK_IN(0, src)   // x, M or w, 4-component view
CTVK_PARAM(1, bias)  // stage 1 with HAS_BIAS (else any)
CTVK_IN(2, res)   // stage 1 with RESID, 4-component view (else any)
layout(std430, binding = 3) buffer Y4 { vec4 y4[]; };

layout(push_constant) uniform P {
    int T, Tp;        // tiles (N * TH * TW) and tiles rounded up to the GEMM's row block
    int C;            // channels of src's rows (stage 0: Cin, stage 1: Cout, stage 2: Cin)
    int K;            // stage 2: output channels of the transformed filters
    int H, W;         // stage 0: input size; stage 1: output size
    int TH, TW;       // tiles per image: ceil(OH / TILE), ceil(OW / TILE)
    int PT, PL;       // stage 0: padding above and left
} p;

// The 1-D transforms (applied to rows, then to columns), written out: the compiler sees no loops
// over matrix entries and no multiplications by 0 or 1.
void bt(in vec4 d[6], out vec4 r[6])      // B^T d
{
    if (TILE == 2) {
        r[0] = d[0] - d[2]; r[1] = d[1] + d[2]; r[2] = d[2] - d[1]; r[3] = d[1] - d[3];
        return;
    }
    r[0] = 4.0 * d[0] - 5.0 * d[2] + d[4];
    r[1] = d[3] + d[4] - 4.0 * (d[1] + d[2]);
    r[2] = 4.0 * (d[1] - d[2]) + d[4] - d[3];
    r[3] = 2.0 * (d[3] - d[1]) + d[4] - d[2];
    r[4] = 2.0 * (d[1] - d[3]) + d[4] - d[2];
    r[5] = 4.0 * d[1] - 5.0 * d[3] + d[5];
}
void gg(in vec4 g[3], out vec4 a[6])      // G g
{
    if (TILE == 2) {
        a[0] = g[0]; a[1] = 0.5 * (g[0] + g[1] + g[2]); a[2] = 0.5 * (g[0] - g[1] + g[2]); a[3] = g[2];
        return;
    }
    a[0] = 0.25 * g[0];
    a[1] = (-1.0 / 6.0) * (g[0] + g[1] + g[2]);
    a[2] = (-1.0 / 6.0) * (g[0] - g[1] + g[2]);
    a[3] = (1.0 / 24.0) * g[0] + (1.0 / 12.0) * g[1] + (1.0 / 6.0) * g[2];
    a[4] = (1.0 / 24.0) * g[0] - (1.0 / 12.0) * g[1] + (1.0 / 6.0) * g[2];
    a[5] = g[2];
}
void at(in vec4 m[6], out vec4 o[4])      // A^T m
{
    if (TILE == 2) {
        o[0] = m[0] + m[1] + m[2]; o[1] = m[1] - m[2] - m[3];
        return;
    }
    vec4 p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
    o[0] = m[0] + p12 + p34;
    o[1] = m12 + 2.0 * m34;
    o[2] = p12 + 4.0 * p34;
    o[3] = m12 + 8.0 * m34 + m[5];
}

void main()
{
    int C4 = p.C >> 2;
    int idx = int(ctvk_flat_index(LOCAL));
    if (STAGE == 2) {
        // idx over Cin x Cout/4
        int K4 = p.K >> 2;
        if (idx >= p.C * K4) return;
        int ci = idx / K4, k4 = idx % K4;
        vec4 g[3][3], a[6][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                if (FLIP == 0) {
                    g[i][j] = LD4(src, ((i * 3 + j) * p.C + ci) * K4 + k4);
                    continue;
                }
                // w is (3, 3, K, C) HWIO: element [2-i][2-j][k][ci] for the 4 k of this invocation
                int b = (((2 - i) * 3 + (2 - j)) * p.K + 4 * k4) * p.C + ci;
                g[i][j] = vec4(LD(src, b), LD(src, b + p.C), LD(src, b + 2 * p.C),
                               LD(src, b + 3 * p.C));
            }
        for (int j = 0; j < 3; j++) {        // G g, column j
            vec4 col[3] = vec4[3](g[0][j], g[1][j], g[2][j]), r[6];
            gg(col, r);
            for (int i = 0; i < R; i++) a[i][j] = r[i];
        }
        int plane = p.C * K4;
        for (int i = 0; i < R; i++) {        // (G g) G^T, row i
            vec4 row[3] = vec4[3](a[i][0], a[i][1], a[i][2]), u[6];
            gg(row, u);
            for (int j = 0; j < R; j++) y4[(i * R + j) * plane + idx] = u[j];
        }
        return;
    }
    if (idx >= p.Tp * C4) return;
    int t = idx / C4, c4 = idx % C4;
    int plane = p.Tp * C4;       // vec4s per transformed position
    if (STAGE == 0) {
        if (t >= p.T) {
            for (int xi = 0; xi < R * R; xi++) y4[xi * plane + idx] = vec4(0.0);
            return;
        }
        int tw = t % p.TW, r = t / p.TW, th = r % p.TH, n = r / p.TH;
        int h0 = TILE * th - p.PT, w0 = TILE * tw - p.PL;
        vec4 d[6][6], b[6][6];
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++) {
                int ih = h0 + i, iw = w0 + j;
                bool ok = uint(ih) < uint(p.H) && uint(iw) < uint(p.W);
                d[i][j] = ok ? LD4(src, ((n * p.H + ih) * p.W + iw) * C4 + c4) : vec4(0.0);
            }
        for (int j = 0; j < R; j++) {        // B^T d, column j
            vec4 col[6], r[6];
            for (int i = 0; i < R; i++) col[i] = d[i][j];
            bt(col, r);
            for (int i = 0; i < R; i++) b[i][j] = r[i];
        }
        for (int i = 0; i < R; i++) {        // (B^T d) B, row i
            vec4 row[6], r[6];
            for (int j = 0; j < R; j++) row[j] = b[i][j];
            bt(row, r);
            for (int j = 0; j < R; j++) y4[(i * R + j) * plane + idx] = r[j];
        }
        return;
    }
    // STAGE 1
    if (t >= p.T) return;
    vec4 m[6][6], s[4][6];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) m[i][j] = LD4(src, (i * R + j) * plane + idx);
    for (int j = 0; j < R; j++) {            // A^T M, column j
        vec4 col[6], o[4];
        for (int i = 0; i < R; i++) col[i] = m[i][j];
        at(col, o);
        for (int i = 0; i < TILE; i++) s[i][j] = o[i];
    }
    vec4 bv = vec4(0.0);
    if (HAS_BIAS != 0) {
        int c = 4 * c4;
        bv = vec4(LDP(bias, c), LDP(bias, c + 1), LDP(bias, c + 2), LDP(bias, c + 3));
    }
    int tw = t % p.TW, r = t / p.TW, th = r % p.TH, n = r / p.TH;
    for (int i = 0; i < TILE; i++) {
        int oh = TILE * th + i;
        if (oh >= p.H) break;
        vec4 row[6], o[4];                   // (A^T M) A, row i
        for (int k = 0; k < R; k++) row[k] = s[i][k];
        at(row, o);
        for (int j = 0; j < TILE; j++) {
            int ow = TILE * tw + j;
            if (ow >= p.W) break;
            vec4 v = o[j] + bv;
            int o4 = ((n * p.H + oh) * p.W + ow) * C4 + c4;
            if (RESID != 0) v += LD4(res, o4);
            if (RELU != 0) v = max(v, vec4(0.0));
            if (ACC != 0) v += y4[o4];
            y4[o4] = v;
        }
    }
}
