#version 450
// Split-K dense forward for few rows and few outputs over a long input (the FPN heads: 1-14 rows,
// 2 outputs, up to a million inputs), where the GEMM kernel would leave one lane walking all of K:
//   STAGE 0: P lanes (x over the lanes, y over the rows) each sum x[n][k] * w[k][c] over k = lane,
//            lane + P, ...; partial[(n * NC + c) * P + lane]
//   STAGE 1: one invocation per (n, c) adds the P partials, the bias, the ReLU: y[n][c]
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint LOCAL = 64;
layout(constant_id = 1) const int STAGE = 0;
layout(constant_id = 2) const int HAS_BIAS = 0;   // the launcher binds a zero view where there is none
const int MAXC = 16;      // outputs per row (the launcher checks)

CTVK_IN(0, src)    // x (stage 0) or partials (stage 1)
CTVK_IN(1, w)      // (in, out) row-major
CTVK_PARAM(2, bias)
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { int N, KD, NC, P, RELU; } p;   // RELU: y = max(y, 0)

void main()
{
    if (STAGE == 0) {
        int lane = int(gl_GlobalInvocationID.x), n = int(gl_GlobalInvocationID.y);
        if (lane >= p.P || n >= p.N) return;
        float acc[MAXC];
        for (int c = 0; c < MAXC; c++) acc[c] = 0.0;
        int xb = n * p.KD;
        for (int k = lane; k < p.KD; k += p.P) {
            float xv = LD(src, xb + k);
            for (int c = 0; c < MAXC; c++)
                if (c < p.NC) acc[c] = fma(xv, LD(w, k * p.NC + c), acc[c]);
        }
        for (int c = 0; c < MAXC; c++)
            if (c < p.NC) y[(n * p.NC + c) * p.P + lane] = acc[c];
        return;
    }
    int i = int(gl_GlobalInvocationID.x);
    if (i >= p.N * p.NC) return;
    int c = i % p.NC;
    float s = 0.0;
    for (int l = 0; l < p.P; l++) s += LD(src, i * p.P + l);
    if (HAS_BIAS != 0) s += LDP(bias, c);
    y[i] = ctvk_opaque(p.RELU) != 0 ? max(s, 0.0) : s;
}
