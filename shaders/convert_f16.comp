#version 450
// fp32 <-> fp16: OP 0 fp32 -> fp16 (x an R32F texel buffer; y fp16 bits, round to nearest even
// computed with integer arithmetic so every device gives the same bits as the C reference, since
// OpFConvert's rounding mode is the device's choice: lavapipe truncates), OP 1 fp16 -> fp32 (x an
// R16F texel buffer, exact; y fp32 vec4 stores). Four elements per invocation; the fp16 tail uses
// 16-bit stores (needs storageBuffer16BitAccess).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#include "common.glsl"
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const uint LOCAL = 64;

CTVK_IN(0, x)
layout(std430, binding = 1) writeonly buffer H4 { uvec2 h4[]; };
layout(std430, binding = 1) writeonly buffer H1 { uint16_t h1[]; };
layout(std430, binding = 1) writeonly buffer F4 { vec4 f4[]; };
layout(std430, binding = 1) writeonly buffer F1 { float f1[]; };
layout(push_constant) uniform P { uint n; } p;

float f(uint i) { return LD(x, int(i)); }

// IEEE binary16 bits of v, round to nearest even; overflow to infinity, NaN stays NaN.
uint half_bits(float v)
{
    uint u = floatBitsToUint(v);
    uint sign = (u >> 16) & 0x8000u;
    uint e8 = (u >> 23) & 0xffu, man = u & 0x7fffffu;
    if (e8 == 0xffu) return sign | 0x7c00u | (man != 0u ? (0x200u | (man >> 13)) : 0u);
    int e = int(e8) - 112;                  // biased half exponent
    if (e >= 31) return sign | 0x7c00u;
    uint mant, shift;
    if (e <= 0) {                           // half subnormal
        if (e < -10) return sign;
        mant = man | 0x800000u;
        shift = uint(14 - e);
        e = 0;
    } else {
        mant = man;
        shift = 13u;
    }
    uint h = mant >> shift, rest = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    uint bits = (uint(e) << 10) + h;        // a mantissa carry bumps the exponent (up to infinity)
    if (rest > halfway || (rest == halfway && (h & 1u) != 0u)) bits++;
    return sign | bits;
}

void main()
{
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= p.n) return;
    if (base + 3u < p.n) {
        if (OP == 0) {
            h4[base / 4u] = uvec2(half_bits(f(base)) | (half_bits(f(base + 1u)) << 16),
                                  half_bits(f(base + 2u)) | (half_bits(f(base + 3u)) << 16));
        } else {
            f4[base / 4u] = vec4(f(base), f(base + 1u), f(base + 2u), f(base + 3u));
        }
    } else {
        for (uint i = base; i < p.n; i++) {
            if (OP == 0) h1[i] = uint16_t(half_bits(f(i)));
            else f1[i] = f(i);
        }
    }
}
