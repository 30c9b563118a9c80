// GPU-family implicit-GEMM convolution: a workgroup computes a BM x BN tile of C, staging BK-deep
// slices of A and B in shared memory; every invocation owns a TM x TN register block. The
// workgroup size THREADS = (BM/TM)*(BN/TN) is chosen by the launcher as a multiple of the
// device's subgroup size.
#include "conv_common.glsl"

layout(constant_id = 4) const int TM = 4;
layout(constant_id = 5) const int TN = 4;
layout(constant_id = 6) const int THREADS = 256;
layout(constant_id = 7) const int BM = 64;
layout(constant_id = 8) const int BN = 64;
layout(constant_id = 9) const int BK = 16;
layout(local_size_x_id = 6) in;

shared float As[BK * BM];
shared float Bs[BK * BN];

void main()
{
    int tid = int(gl_LocalInvocationID.x);
    int gm = int(gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x);
    int m0 = gm * BM, n0 = int(gl_WorkGroupID.y) * BN;
    const int TX = BN / TN;            // threads along columns
    int tr = (tid / TX) * TM, tc = (tid % TX) * TN;

    float acc[TM][TN];
    for (int r = 0; r < TM; r++)
        for (int j = 0; j < TN; j++) acc[r][j] = 0.0;

    for (int k0 = 0; k0 < p.KD; k0 += BK) {
        for (int i = tid; i < BK * BM; i += THREADS) {
            int kk = i / BM, mm = i % BM;      // consecutive threads: consecutive rows
            As[kk * BM + mm] = a_at(m0 + mm, k0 + kk);
        }
        for (int i = tid; i < BK * BN; i += THREADS) {
            int kk = i / BN, nn = i % BN;      // consecutive threads: consecutive columns
            Bs[kk * BN + nn] = b_at(k0 + kk, n0 + nn);
        }
        barrier();
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
            for (int r = 0; r < TM; r++) a[r] = As[kk * BM + tr + r];
            for (int j = 0; j < TN; j++) b[j] = Bs[kk * BN + tc + j];
            for (int r = 0; r < TM; r++)
                for (int j = 0; j < TN; j++) acc[r][j] = fma(a[r], b[j], acc[r][j]);
        }
        barrier();
    }
    for (int r = 0; r < TM; r++) {
        int m = m0 + tr + r;
        if (m >= p.M) break;
        for (int j = 0; j < TN; j++)
            if (n0 + tc + j < p.NC) store1(m, n0 + tc + j, acc[r][j]);
    }
}
