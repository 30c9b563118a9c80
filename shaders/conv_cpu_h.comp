#version 450
// Implicit-GEMM conv2d / dense, cpu family, fp16 output (inference; fp32 accumulation).
#extension GL_GOOGLE_include_directive : require
#define OUT_F16 1
#include "conv_cpu.glsl"
