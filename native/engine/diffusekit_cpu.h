// diffusekit's CPU kernels inside ggml-cpu, placed by patches/engine-cpu-kernels.patch.
// ggml runs a 2-D convolution as a materialised f16 im2col followed by row-by-row f16 dot products; on a
// small CPU that reaches a fifth of what the cores can do. Here (AVX-512) convolutions run on a
// register-blocked f32 GEMM (diffusekit_cpu_gemm.h), 3x3 ones as Winograd F(2x2, 3x3); f16 linear layers
// on a dot-product kernel with f32 activations; other products through ggml's own tinyBLAS (GGML_LLAMAFILE).
// DIFFUSEKIT_CPU_KERNELS=reference (read once per process) restores the engine's own kernels exactly;
// the equivalence tests compare the two.
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

// The kernels need GCC or Clang and AVX-512 (F, BW, VL: 512-bit vectors) or AVX2 with FMA and F16C
// (256-bit; diffusekit_cpu_simd.h); elsewhere ggml's own code runs.
#if defined(__GNUC__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define DIFFUSEKIT_CPU_VECTOR 512
#elif defined(__GNUC__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define DIFFUSEKIT_CPU_VECTOR 256
#else
#define DIFFUSEKIT_CPU_VECTOR 0
#endif

// bf16 products where the CPU has AVX512_BF16 (the variant or native build is compiled for it).
#if DIFFUSEKIT_CPU_VECTOR == 512 && defined(__AVX512BF16__)
#define DIFFUSEKIT_CPU_BF16 1
#else
#define DIFFUSEKIT_CPU_BF16 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct ggml_cgraph;
struct ggml_compute_params;
struct ggml_tensor;

// False when DIFFUSEKIT_CPU_KERNELS=reference: the engine's unmodified code paths run.
bool diffusekit_cpu_fast_kernels(void);

// True when diffusekit_conv_2d takes convolutions in this build (AVX-512 or AVX2) and mode; the engine's direct
// convolution op is then the fast path, otherwise its im2col path is.
bool diffusekit_cpu_conv_kernels(void);

// bf16 products (operands rounded to bf16, f32 accumulation): available with the fast kernels in a build
// with AVX512_BF16 unless DIFFUSEKIT_CPU_PRECISION=f32 is set for the process; used when also asked for by
// the running compute. Graph computes set that (diffusekit_cpu_set_bf16, from the Pipeline's cpuPrecision;
// native/engine/diffusekit_hooks.cpp) between graphs, never during one, so every thread of an op agrees.
bool diffusekit_cpu_bf16_available(void);
bool diffusekit_cpu_bf16(void);
void diffusekit_cpu_set_bf16(bool allowed);

// Runs GGML_OP_CONV_2D on all of the op's threads; false (on every thread alike) leaves the op to ggml.
bool diffusekit_conv_2d(const struct ggml_compute_params * params, struct ggml_tensor * dst);

// Work buffer diffusekit_conv_2d needs for `node` on `n_threads` threads (0 when ggml's own will run).
size_t diffusekit_conv_2d_work_size(const struct ggml_tensor * node, int n_threads);

// GGML_OP_MUL_MAT for f16 weights, and for f32 products tinyBLAS declines (rows not a multiple of 16:
// attention heads of 40); false leaves the op to ggml.
bool diffusekit_mul_mat(const struct ggml_compute_params * params, struct ggml_tensor * dst);
size_t diffusekit_mul_mat_work_size(const struct ggml_tensor * node, int n_threads);

// GGML_OP_FLASH_ATTN_EXT with f32 queries, f16 or f32 keys and values, an optional f16 mask and no ALiBi,
// soft-capping or sinks (what the engine builds); false leaves the op to ggml.
bool diffusekit_flash_attn(const struct ggml_compute_params * params, struct ggml_tensor * dst);
size_t diffusekit_flash_attn_work_size(const struct ggml_tensor * node, int n_threads);
// GGML_OP_GROUP_NORM over f32 rows, vectorized; false leaves the op to ggml.
bool diffusekit_group_norm(const struct ggml_compute_params * params, struct ggml_tensor * dst);
// Graph node `i` as the CPU backend's compute loop reaches it: true when it ran here, as a group norm with the
// in-place per-channel multiply, add and SiLU after it fused into its last pass, or as one of those (skipped:
// already applied); false leaves the node to ggml_compute_forward. All of an op's threads answer alike.
bool diffusekit_graph_node(const struct ggml_compute_params * params, const struct ggml_cgraph * graph, int i);
// How many group norms have run with the operations after them fused.
uint64_t diffusekit_cpu_fused_norm_count(void);

// True when diffusekit_flash_attn runs in this build and mode; and how many attention ops it has run.
bool diffusekit_cpu_fused_attention(void);
uint64_t diffusekit_cpu_attention_count(void);

#ifdef __cplusplus
}
#endif
