#version 450
// Implicit-GEMM conv2d, gpu family, fp32, with the fused inference epilogue (residual add, the
// batch norm after it; see conv_common.glsl).
#extension GL_GOOGLE_include_directive : require
#define FUSED 1
#include "conv_gpu.glsl"
