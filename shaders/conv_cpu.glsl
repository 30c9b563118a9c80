// CPU-family (lavapipe) implicit-GEMM convolution: 8-lane workgroups, every lane owns a TM x TN
// register block of C (TM rows = pixels or weight rows, TN consecutive columns), inputs through
// texel buffers, the reduction walked tap by tap so the per-element address is a single add.
// Workgroup x (fastest) walks row blocks so neighbouring workgroups share the same B panel.
// The accumulators are vec4s of 4 consecutive columns (TN is 8 or 16, net/conv.c): the same
// multiply-adds as scalars, in a quarter of the instructions, which is what lavapipe's NIR passes
// take time over when a pipeline is created (the 16x16 kernel: 0.2-0.3 s with scalar accumulators).
#define CTVK_OPAQUE_SHAPE 1
#include "conv_common.glsl"

layout(constant_id = 4) const int TM = 8;
layout(constant_id = 5) const int TN = 8;
layout(constant_id = 6) const int LANES = 8;
// VEC: A and B are bound through 4-component texel views, one fetch = 4 consecutive elements
// (mode 0: Cin % 4 == 0 and Cout % 4 == 0; mode 1: Cout % 4 == 0; mode 2: Cin % TM == 0 and
// Cout % 4 == 0; TM and TN multiples of 4). Four times fewer fetches per multiply-add.
layout(constant_id = 8) const int VEC = 0;
// COLS_FAST: workgroup x walks column blocks and y (+ z) row blocks: neighbouring workgroups share
// the A rows (for a small B and a large A); else x walks row blocks (neighbours share the B panel).
layout(constant_id = 9) const int COLS_FAST = 0;
// BVEC (forward with VEC 0, Cout % 4 == 0, TN % 4 == 0): only B (the weights) is bound through a
// 4-component view, x stays scalar (Cin % 4 != 0: the stem): TN / 4 fetches per step instead of TN.
layout(constant_id = 10) const int BVEC = 0;
// p.BB (forward, VEC): N independent GEMMs (Winograd's 16), image n's rows times its own B
// at n * KD * NC; each lane's TM rows lie in one image (OH * OW % TM == 0).
const int TN4 = TN / 4, TM4 = TM / 4;
layout(local_size_x_id = 6) in;

// Column quad q of B through scalar fetches: B at base + off[j] for its 4 columns j.
vec4 ld_quad(int base, int off[TN], int q)
{
    int c = 4 * q;
    return vec4(LD(B_src, base + off[c]), LD(B_src, base + off[c + 1]), LD(B_src, base + off[c + 2]),
                LD(B_src, base + off[c + 3]));
}

// Row k of B's TN columns from the tile's first column (forward, scalar x): wb = k * K.
void load_b(out vec4 b[TN4], int wb, int cols[TN], int bq[TN4])
{
    for (int q = 0; q < TN4; q++) b[q] = BVEC != 0 ? LD4(B_src, (wb >> 2) + bq[q]) : ld_quad(wb, cols, q);
}

// One row of the block: acc[q] += a * b[q] for the TN / 4 column quads.
void fma_row(inout vec4 acc[TN4], float a, vec4 b[TN4])
{
    for (int q = 0; q < TN4; q++) acc[q] = fma(vec4(a), b[q], acc[q]);
}

void main()
{
    load_shape();
    const int LANES_N = p.LN, LANES_M = LANES / LANES_N;
    int lane = int(gl_LocalInvocationID.x);
    int gm = int(gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x), gn = int(gl_WorkGroupID.y);
    if (COLS_FAST != 0) {
        gn = int(gl_WorkGroupID.x);
        gm = int(gl_WorkGroupID.y + gl_WorkGroupID.z * gl_NumWorkGroups.y);
    }
    int row0 = (gm * LANES_M + lane / LANES_N) * TM;
    int col0 = (gn * LANES_N + lane % LANES_N) * TN;
    if (row0 >= p.M || col0 >= p.NC) return;

    vec4 acc[TM][TN4];
    for (int r = 0; r < TM; r++)
        for (int q = 0; q < TN4; q++) acc[r][q] = vec4(0.0);
    int cols[TN];
    for (int j = 0; j < TN; j++) cols[j] = min(col0 + j, p.NC - 1);

    if (MODE == 0) {
        int ih0[TM], iw0[TM], nb[TM], bq[TN4];
        for (int q = 0; q < TN4; q++) bq[q] = min((col0 >> 2) + q, (p.NC >> 2) - 1);
        for (int r = 0; r < TM; r++) {
            int m = min(row0 + r, p.M - 1);
            int ow = m % p.OW, t = m / p.OW, oh = t % p.OH, n = t / p.OH;
            ih0[r] = oh * p.SH - p.PT;
            iw0[r] = ow * p.SW - p.PL;
            nb[r] = n * p.H;
        }
        for (int kh = 0; kh < p.KH; kh++) {
            if (VEC == 0) {
                // When every row's kw window lies inside the image, the (kw, ci) walk is contiguous
                // in x and in w: one loop of KW*C steps instead of KW loops of C (small-C layers).
                bool full = true;
                int base[TM];
                float msk[TM];
                for (int r = 0; r < TM; r++) {
                    int ih = ih0[r] + kh;
                    full = full && iw0[r] >= 0 && iw0[r] + p.KW <= p.W;
                    bool ok = uint(ih) < uint(p.H);
                    base[r] = ok ? ((nb[r] + ih) * p.W + iw0[r]) * p.C : 0;
                    msk[r] = ok ? 1.0 : 0.0;
                }
                if (full) {
                    int wb = kh * p.KW * p.C * p.K, len = p.KW * p.C;
                    for (int ci = 0; ci < len; ci++) {
                        float a[TM];
                        vec4 b[TN4];
                        for (int r = 0; r < TM; r++) a[r] = LDA(base[r] + ci) * msk[r];
                        load_b(b, wb, cols, bq);
                        wb += p.K;
                        for (int r = 0; r < TM; r++) fma_row(acc[r], a[r], b);
                    }
                    continue;
                }
            }
            for (int kw = 0; kw < p.KW; kw++) {
                int base[TM];
                float msk[TM];
                for (int r = 0; r < TM; r++) {
                    int ih = ih0[r] + kh, iw = iw0[r] + kw;
                    bool ok = uint(ih) < uint(p.H) && uint(iw) < uint(p.W);
                    base[r] = ok ? ((nb[r] + ih) * p.W + iw) * p.C : 0;
                    msk[r] = ok ? 1.0 : 0.0;
                }
                int wb = (kh * p.KW + kw) * p.C * p.K;
                if (VEC != 0) {
                    int K4 = p.K >> 2, bq[TN4];
                    if (p.BB != 0) wb += (row0 / (p.OH * p.OW)) * p.KD * p.NC;
                    for (int q = 0; q < TN4; q++) bq[q] = (wb >> 2) + min((col0 >> 2) + q, (p.NC >> 2) - 1);
                    for (int ci = 0; ci < p.C; ci += 4) {
                        vec4 bv[4][TN4];
                        for (int kk = 0; kk < 4; kk++)
                            for (int q = 0; q < TN4; q++) bv[kk][q] = LD4(B_src, bq[q] + (ci + kk) * K4);
                        for (int r = 0; r < TM; r++) {
                            vec4 av = LDA4((base[r] + ci) >> 2) * msk[r];
                            for (int kk = 0; kk < 4; kk++) fma_row(acc[r], av[kk], bv[kk]);
                        }
                    }
                    continue;
                }
                for (int ci = 0; ci < p.C; ci++) {
                    float a[TM];
                    vec4 b[TN4];
                    for (int r = 0; r < TM; r++) a[r] = LDA(base[r] + ci) * msk[r];
                    load_b(b, wb, cols, bq);
                    wb += p.K;
                    for (int r = 0; r < TM; r++) fma_row(acc[r], a[r], b);
                }
            }
        }
    } else if (MODE == 1) {
        int ih0[TM], iw0[TM], nb[TM];
        for (int r = 0; r < TM; r++) {
            int m = min(row0 + r, p.M - 1);
            int iw = m % p.W, t = m / p.W, ih = t % p.H, n = t / p.H;
            ih0[r] = ih + p.PT;
            iw0[r] = iw + p.PL;
            nb[r] = n * p.OH;
        }
        for (int kh = 0; kh < p.KH; kh++) {
            for (int kw = 0; kw < p.KW; kw++) {
                int base[TM];
                float msk[TM];
                bool any_ok = false;
                for (int r = 0; r < TM; r++) {
                    int th = max(ih0[r] - kh, 0), tw = max(iw0[r] - kw, 0);
                    int oh = th / p.SH, ow = tw / p.SW;
                    bool ok = ih0[r] - kh >= 0 && iw0[r] - kw >= 0 && oh * p.SH == th && ow * p.SW == tw &&
                              oh < p.OH && ow < p.OW;
                    base[r] = ok ? ((nb[r] + oh) * p.OW + ow) * p.K : 0;
                    msk[r] = ok ? 1.0 : 0.0;
                    any_ok = any_ok || ok;
                }
                if (!any_ok) continue;
                int wb[TN];
                for (int j = 0; j < TN; j++) wb[j] = ((kh * p.KW + kw) * p.C + cols[j]) * p.K;
                if (VEC != 0) {
                    for (int co = 0; co < p.K; co += 4) {
                        // bv[j]: 4 consecutive Cout of column j; bt[kk]: column quads of output kk
                        vec4 bv[TN], bt[4][TN4];
                        for (int j = 0; j < TN; j++) bv[j] = LD4(B_src, (wb[j] + co) >> 2);
                        for (int kk = 0; kk < 4; kk++)
                            for (int q = 0; q < TN4; q++)
                                bt[kk][q] = vec4(bv[4 * q][kk], bv[4 * q + 1][kk], bv[4 * q + 2][kk], bv[4 * q + 3][kk]);
                        for (int r = 0; r < TM; r++) {
                            vec4 av = LDA4((base[r] + co) >> 2) * msk[r];
                            for (int kk = 0; kk < 4; kk++) fma_row(acc[r], av[kk], bt[kk]);
                        }
                    }
                    continue;
                }
                for (int co = 0; co < p.K; co++) {
                    vec4 b[TN4];
                    for (int q = 0; q < TN4; q++) b[q] = ld_quad(co, wb, q);
                    for (int r = 0; r < TM; r++) fma_row(acc[r], LDA(base[r] + co) * msk[r], b);
                }
            }
        }
    } else if (VEC != 0) {
        // rows row0 .. row0+TM-1 share one tap (Cin % TM == 0): x reads are TM/4 vec4 per pixel
        int ci0 = row0 % p.C, tap = row0 / p.C;
        int kw0 = tap % p.KW - p.PL, kh0 = tap / p.KW - p.PT;
        int bq[TN4];
        for (int q = 0; q < TN4; q++) bq[q] = min((col0 >> 2) + q, (p.NC >> 2) - 1);
        int pb4 = 0, K4 = p.K >> 2;
        for (int n = 0; n < p.N; n++) {
            for (int oh = 0; oh < p.OH; oh++) {
                int ih = oh * p.SH + kh0;
                bool okh = uint(ih) < uint(p.H);
                int addr = ((n * p.H + ih) * p.W + kw0) * p.C + ci0, iw = kw0;
                int step = p.SW * p.C;
                for (int ow = 0; ow < p.OW; ow++) {
                    bool ok = okh && uint(iw) < uint(p.W);
                    int a4 = ok ? addr >> 2 : 0;
                    float mk = ok ? 1.0 : 0.0;
                    vec4 av[TM4], bv[TN4];
                    for (int i = 0; i < TM4; i++) av[i] = LDA4(a4 + i) * mk;
                    for (int q = 0; q < TN4; q++) bv[q] = LD4(B_src, pb4 + bq[q]);
                    iw += p.SW;
                    addr += step;
                    pb4 += K4;
                    for (int r = 0; r < TM; r++) fma_row(acc[r], av[r >> 2][r & 3], bv);
                }
            }
        }
    } else {
        int khr[TM], kwr[TM], cir[TM];
        for (int r = 0; r < TM; r++) {
            int m = min(row0 + r, p.M - 1);
            cir[r] = m % p.C;
            int tap = m / p.C;
            kwr[r] = tap % p.KW - p.PL;
            khr[r] = tap / p.KW - p.PT;
        }
        int pb = 0;
        for (int n = 0; n < p.N; n++) {
            for (int oh = 0; oh < p.OH; oh++) {
                int addr[TM], iw[TM];
                bool okh[TM];
                for (int r = 0; r < TM; r++) {
                    int ih = oh * p.SH + khr[r];
                    okh[r] = uint(ih) < uint(p.H);
                    iw[r] = kwr[r];
                    addr[r] = ((n * p.H + ih) * p.W + kwr[r]) * p.C + cir[r];
                }
                int step = p.SW * p.C;
                for (int ow = 0; ow < p.OW; ow++) {
                    float a[TM];
                    for (int r = 0; r < TM; r++) {
                        bool ok = okh[r] && uint(iw[r]) < uint(p.W);
                        a[r] = ok ? LDA(addr[r]) : 0.0;
                        iw[r] += p.SW;
                        addr[r] += step;
                    }
                    vec4 b[TN4];
                    for (int q = 0; q < TN4; q++) b[q] = ld_quad(pb, cols, q);
                    pb += p.K;
                    for (int r = 0; r < TM; r++) fma_row(acc[r], a[r], b);
                }
            }
        }
    }

#ifndef OUT_F16
    bool vec_ok = (p.NC & 3) == 0 && (TN & 3) == 0 && col0 + TN <= p.NC;
    if (vec_ok) {
        // the bias once per column block, not once per element
        vec4 bias4[TN4];
        for (int q = 0; q < TN4; q++) {
            int c = col0 + 4 * q;
            bias4[q] = HAS_BIAS != 0 ? vec4(LDP(Bias, c), LDP(Bias, c + 1),
                                            LDP(Bias, c + 2), LDP(Bias, c + 3)) : vec4(0.0);
        }
#ifdef FUSED
        vec4 zs[TN4], zt[TN4];
        for (int q = 0; q < TN4 && HAS_Z != 0; q++) {
            int c = col0 + 4 * q;
            zs[q] = vec4(LDP(Aff, c), LDP(Aff, c + 1), LDP(Aff, c + 2), LDP(Aff, c + 3));
            c += p.NC;
            zt[q] = vec4(LDP(Aff, c), LDP(Aff, c + 1), LDP(Aff, c + 2), LDP(Aff, c + 3));
        }
#endif
        for (int r = 0; r < TM; r++) {
            int m = row0 + r;
            if (m >= p.M) break;
            for (int q = 0; q < TN4; q++) {
                int i4 = (m * p.NC + col0) / 4 + q;
                vec4 v = acc[r][q] + bias4[q];
#ifdef FUSED
                if (HAS_RES != 0) v += LD4(Res, i4);
                if (RELU != 0 || p.RL != 0) v = max(v, vec4(0.0));
                if (WRITE_Y != 0) y4[i4] = v;
                if (HAS_Z != 0) {
                    vec4 z = v * zs[q] + zt[q];
                    z4[i4] = Z_RELU != 0 ? max(z, vec4(0.0)) : z;
                }
#else
                if (RELU != 0 || p.RL != 0) v = max(v, vec4(0.0));
                if (ACCUM != 0) v += y4[i4];
                y4[i4] = v;
#endif
            }
        }
        return;
    }
#endif
    for (int r = 0; r < TM; r++) {
        int m = row0 + r;
        if (m >= p.M) break;
        for (int j = 0; j < TN; j++)
            if (col0 + j < p.NC) store1(m, col0 + j, acc[r][j >> 2][j & 3]);
    }
}
