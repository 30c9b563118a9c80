#version 450
// Implicit-GEMM conv2d / dense, gpu family, fp32 output (see conv_gpu.glsl).
#extension GL_GOOGLE_include_directive : require
#include "conv_gpu.glsl"
