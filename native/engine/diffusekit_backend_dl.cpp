// Portable builds only (GGML_BACKEND_DL): the CPU backend is a module loaded at run time, yet two engine files
// still call CPU-backend functions by name (convert.cpp: ggml_backend_cpu_init; util.cpp's
// sd_get_system_info: ggml_cpu_has_*). Nothing links those names then, and the first call would end the
// process with an unresolved symbol. These definitions reach the loaded module through ggml's registry instead.
#include <cstring>

#include "ggml-backend.h"
#include "ggml-cpu.h"

namespace {

// Whether the loaded CPU backend reports `name` among its features ("AVX2", "NEON", ...).
int cpu_feature(const char* name) {
    ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
    if (cpu == nullptr) {
        return 0;
    }
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(ggml_backend_reg_get_proc_address(cpu, "ggml_backend_get_features"));
    if (get_features == nullptr) {
        return 0;
    }
    for (ggml_backend_feature* f = get_features(cpu); f->name != nullptr; f++) {
        if (std::strcmp(f->name, name) == 0) {
            return std::strcmp(f->value, "0") != 0;
        }
    }
    return 0;
}

}  // namespace

extern "C" {

ggml_backend_t ggml_backend_cpu_init(void) {
    return ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
}

int ggml_cpu_has_sse3(void) { return cpu_feature("SSE3"); }
int ggml_cpu_has_avx(void) { return cpu_feature("AVX"); }
int ggml_cpu_has_avx2(void) { return cpu_feature("AVX2"); }
int ggml_cpu_has_avx512(void) { return cpu_feature("AVX512"); }
int ggml_cpu_has_avx512_vbmi(void) { return cpu_feature("AVX512_VBMI"); }
int ggml_cpu_has_avx512_vnni(void) { return cpu_feature("AVX512_VNNI"); }
int ggml_cpu_has_fma(void) { return cpu_feature("FMA"); }
int ggml_cpu_has_f16c(void) { return cpu_feature("F16C"); }
int ggml_cpu_has_neon(void) { return cpu_feature("NEON"); }
int ggml_cpu_has_arm_fma(void) { return cpu_feature("ARM_FMA"); }
int ggml_cpu_has_fp16_va(void) { return cpu_feature("FP16_VA"); }
int ggml_cpu_has_wasm_simd(void) { return cpu_feature("WASM_SIMD"); }
int ggml_cpu_has_vsx(void) { return cpu_feature("VSX"); }

}  // extern "C"
