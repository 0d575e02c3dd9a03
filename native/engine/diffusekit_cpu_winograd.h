// Winograd F(2x2, 3x3) for diffusekit_conv_2d (diffusekit_cpu_winograd.cpp); internal to the CPU kernels.
#pragma once

#include <cstddef>

struct ggml_compute_params;
struct ggml_tensor;

// Runs a 3x3, stride-1 GGML_OP_CONV_2D already vetted by diffusekit_conv_2d; false (on every thread
// alike) when the shape does not suit the transform.
bool diffusekit_winograd_conv_2d(const ggml_compute_params* params, ggml_tensor* dst);
size_t diffusekit_winograd_work_size(const ggml_tensor* node, int n_threads);

// False when DIFFUSEKIT_CPU_WINOGRAD=0: 3x3 convolutions take the direct GEMM instead.
bool diffusekit_winograd_enabled();
