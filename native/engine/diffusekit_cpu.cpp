// diffusekit_cpu.h's switches: which kernels this process runs.
#include "diffusekit_cpu.h"
#include "diffusekit_cpu_winograd.h"

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
#if DIFFUSEKIT_CPU_AVX512
    return diffusekit_cpu_fast_kernels();
#else
    return false;
#endif
}

bool diffusekit_winograd_enabled() {
    static const bool enabled = [] {
        const char* mode = std::getenv("DIFFUSEKIT_CPU_WINOGRAD");
        return !(mode != nullptr && std::strcmp(mode, "0") == 0);
    }();
    return enabled;
}
