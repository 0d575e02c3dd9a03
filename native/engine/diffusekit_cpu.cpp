// diffusekit_cpu.h's switches: which kernels this process runs.
#include "diffusekit_cpu.h"
#include "diffusekit_cpu_winograd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

bool diffusekit_cpu_fast_kernels(void) {
    static const bool fast = [] {
        const char* mode = std::getenv("DIFFUSEKIT_CPU_KERNELS");
        return !(mode != nullptr && std::strcmp(mode, "reference") == 0);
    }();
    return fast;
}

bool diffusekit_cpu_conv_kernels(void) {
#if DIFFUSEKIT_CPU_VECTOR
    return diffusekit_cpu_fast_kernels();
#else
    return false;
#endif
}

bool diffusekit_cpu_fused_attention(void) { return diffusekit_cpu_conv_kernels(); }  // the same builds and mode

bool diffusekit_winograd_enabled() {
    static const bool enabled = [] {
        const char* mode = std::getenv("DIFFUSEKIT_CPU_WINOGRAD");
        return !(mode != nullptr && std::strcmp(mode, "0") == 0);
    }();
    return enabled;
}

namespace {
// DIFFUSEKIT_CPU_PRECISION=f32 (read once) keeps every product in f32 whatever a compute asks for.
bool bf16_in_process() {
    static const bool allowed = [] {
        const char* precision = std::getenv("DIFFUSEKIT_CPU_PRECISION");
        return !(precision != nullptr && std::strcmp(precision, "f32") == 0);
    }();
    return allowed;
}
std::atomic<bool> bf16_requested{false};  // f32 until a compute asks for bf16
}  // namespace

bool diffusekit_cpu_bf16_available(void) {
#if DIFFUSEKIT_CPU_BF16
    return diffusekit_cpu_fast_kernels() && bf16_in_process();
#else
    return false;
#endif
}

bool diffusekit_cpu_bf16(void) { return diffusekit_cpu_bf16_available() && bf16_requested.load(std::memory_order_relaxed); }

void diffusekit_cpu_set_bf16(bool allowed) { bf16_requested.store(allowed, std::memory_order_relaxed); }
