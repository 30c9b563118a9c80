#version 450
// Implicit-GEMM conv2d / dense, cpu family, fp32 output (see conv_cpu.glsl).
#extension GL_GOOGLE_include_directive : require
#include "conv_cpu.glsl"
