// Shared helpers for ctvk compute shaders.

// Inputs. A kernel declares each large input with CTVK_IN(binding, name) (fp32), CTVK_IN_U16 or
// CTVK_IN_U32, and reads it with LD(name, i) / LD4(name, i4) (LDU16, LDU, LDU4 for the integer
// ones); a small input (per-channel parameters, statistics) with CTVK_PARAM(binding, name), read
// with LDP(name, i) / LDP4(name, i4). Each shader is built three times (CMakeLists.txt):
// - NAME.spv (the default): every input is a uniform texel buffer: an R32F view for LD and LDP, a
//   4-component RGBA32F view for LD4 and LDP4 (launcher signature 't' / 'q', 'u' / 'v').
// - NAME.ssbo.spv (-DCTVK_SSBO): CTVK_IN inputs are read-only storage buffers seen as float[] and
//   vec4[] (uint16 inputs as packed uint[]), for tensors a texel buffer cannot hold:
//   maxTexelBufferElements may be as small as 65536. CTVK_PARAM inputs stay texel buffers.
// - NAME.img.spv (-DCTVK_IMG): every input is a read-only storage texel buffer, declared twice on
//   its binding, once per view format (r32f for LD, rgba32f for LD4; integer formats likewise),
//   but for the convolutions' A, which conv_common.glsl keeps a samplerBuffer except in NAME.imga (the runtime reads
//   which bindings are sampled from the SPIR-V). Only for devices with the image_inputs quirk
//   (runtime/vk/limits.c says why).
// The runtime picks the build per device and per dispatch (runtime/vk/pipeline.c, recorder.c).
#if defined(CTVK_IMG)
#define CTVK_IMG2(b, name, f1, f4, T) \
    layout(binding = b, f1) readonly uniform T name##_1; \
    layout(binding = b, f4) readonly uniform T name##_4;
#define CTVK_IN(b, name) CTVK_IMG2(b, name, r32f, rgba32f, imageBuffer)
#define LD(name, i) imageLoad(name##_1, int(i)).r
#define LD4(name, i) imageLoad(name##_4, int(i))
#define CTVK_IN_U32(b, name) CTVK_IMG2(b, name, r32ui, rgba32ui, uimageBuffer)
#define LDU(name, i) imageLoad(name##_1, int(i)).r
#define LDU4(name, i) imageLoad(name##_4, int(i))
#define CTVK_IN_U16(b, name) layout(binding = b, r16ui) readonly uniform uimageBuffer name##_2;
#define LDU16(name, i) imageLoad(name##_2, int(i)).r
#define CTVK_PARAM(b, name) CTVK_IN(b, name)
#define LDP(name, i) LD(name, i)
#define LDP4(name, i) LD4(name, i)
#else
#define CTVK_PARAM(b, name) layout(binding = b) uniform samplerBuffer name;
#define LDP(name, i) texelFetch(name, int(i)).r
#define LDP4(name, i) texelFetch(name, int(i))
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
