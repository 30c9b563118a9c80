// Shared helpers for ctvk compute shaders.

// Inputs. A kernel declares each large input with CTVK_IN(binding, name) (fp32), CTVK_IN_U16 or
// CTVK_IN_U32, and reads it with LD(name, i) / LD4(name, i4) (LDU16, LDU, LDU4 for the integer
// ones). Built as NAME.spv (the default) an input is a uniform texel buffer: an R32F view for LD,
// a 4-component RGBA32F view for LD4 (launcher signature 't' / 'q'). Built as NAME.ssbo.spv
// (-DCTVK_SSBO) the same input is a read-only storage buffer seen as float[] and vec4[] (uint16
// inputs as packed uint[]), for tensors a texel buffer cannot hold: maxTexelBufferElements may be
// as small as 65536. Small inputs (per-channel parameters) stay `uniform samplerBuffer` in both
// builds (signature 'u' / 'v'). The runtime picks the build per dispatch (runtime/vk/recorder.c).
#ifdef CTVK_SSBO
#define CTVK_IN(b, name) \
    layout(std430, binding = b) readonly buffer name##_B1 { float name##_1[]; }; \
    layout(std430, binding = b) readonly buffer name##_B4 { vec4 name##_4[]; };
#define LD(name, i) name##_1[i]
#define LD4(name, i) name##_4[i]
#define CTVK_IN_U32(b, name) \
    layout(std430, binding = b) readonly buffer name##_B1 { uint name##_1[]; }; \
    layout(std430, binding = b) readonly buffer name##_B4 { uvec4 name##_4[]; };
#define LDU(name, i) name##_1[i]
#define LDU4(name, i) name##_4[i]
#define CTVK_IN_U16(b, name) layout(std430, binding = b) readonly buffer name##_B2 { uint name##_2[]; };
#define LDU16(name, i) ((name##_2[uint(i) >> 1] >> ((uint(i) & 1u) * 16u)) & 0xffffu)
#else
#define CTVK_IN(b, name) layout(binding = b) uniform samplerBuffer name;
#define LD(name, i) texelFetch(name, int(i)).r
#define LD4(name, i) texelFetch(name, int(i))
#define CTVK_IN_U32(b, name) layout(binding = b) uniform usamplerBuffer name;
#define LDU(name, i) texelFetch(name, int(i)).r
#define LDU4(name, i) texelFetch(name, int(i))
#define CTVK_IN_U16(b, name) layout(binding = b) uniform usamplerBuffer name;
#define LDU16(name, i) texelFetch(name, int(i)).r
#endif
// lavapipe (Mesa 22.3) inlines push constants that decide a branch or end a loop into the kernel:
// every new set of values is a new LLVM compilation at the first dispatch that uses it (1-2 s for
// a convolution kernel). A value read through ctvk_opaque is no longer a push constant to that
// analysis (no dispatch has zero workgroups), so one compilation serves every shape and batch.
int ctvk_opaque(int v) { return gl_NumWorkGroups.x == 0u ? 0 : v; }
uint ctvk_opaque_u(uint v) { return gl_NumWorkGroups.x == 0u ? 0u : v; }
// Large 1-D work is dispatched as a 2-D grid (x up to 65535 groups); this is the flat index.
uint ctvk_flat_index(uint local_size)
{
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * local_size;
}
