// diffusekit's hook into the engine, placed by patches/engine-abort.patch.
// The engine has no cancellation entry point, so every graph compute passes through here.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "ggml-backend.h"

// Binds an abort flag to the calling thread: graph computes on this thread stop once `requested` is set
// and `armed` is set (or null). Some engine stages (text encoders) assert that their compute succeeded,
// so the caller arms the flag only once the engine has reached a stage that handles a failed compute.
// Pass nullptr to unbind. Both flags must outlive the binding.
void diffusekit_bind_abort_flag(const std::atomic<bool>* requested, const std::atomic<bool>* armed);

// True while diffusekit_graph_compute runs on the calling thread (inside ggml's compute threads' region).
bool diffusekit_in_graph_compute();

// The engine's final latents of the current image generation on this thread, recorded just before they
// are decoded (patches/engine-latent-output.patch): shape as the engine gives it, innermost first.
struct DiffusekitLatent {
    std::vector<int64_t> shape;
    std::vector<float>   data;
};
void diffusekit_record_latent(const float* data, const std::vector<int64_t>& shape);
// Hands over (and clears) this thread's recorded latents.
std::vector<DiffusekitLatent> diffusekit_take_latents();

// ggml_backend_graph_compute that honours the calling thread's abort flag: it refuses to start when the
// flag is already set and, on backends with an abort callback (CPU), stops between graph nodes.
ggml_status diffusekit_graph_compute(ggml_backend_t backend, ggml_cgraph* graph);

// The device the engine's default backend is on for contexts created on the calling thread
// (patches/engine-device.patch): ggml's device name ("CPU", "CUDA0", "Vulkan0"), or nullptr for the engine's
// own choice (the first GPU). The string must outlive the binding; pass nullptr to unbind.
void diffusekit_bind_main_device(const char* device);
const char* diffusekit_main_device();

// Whether graph computes on the calling thread may run the CPU backend's products in bf16 (where its build
// has AVX512_BF16): the Pipeline's cpuPrecision 'auto'. Unbound threads compute in f32, the default.
// The switch is process-wide inside the CPU backend, so diffusekit_graph_compute lets CPU computes of either
// setting run together only with others of the same setting.
void diffusekit_bind_cpu_bf16(bool allowed);

// Whether the sampler may run both classifier-free guidance passes of a step as one batch-2 evaluation on the
// calling thread (LoadOptions.batchCfg; native/engine/diffusekit_cfg_batch.inl). Unbound threads run them apart,
// as the engine does.
void diffusekit_bind_cfg_batch(bool allowed);
bool diffusekit_cfg_batch_allowed();
// Counts the steps that ran batched, process-wide (engineInfo().guidanceBatches).
void diffusekit_count_cfg_batch();
uint64_t diffusekit_cfg_batch_count();
