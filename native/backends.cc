#include "backends.h"

#include <cstdint>
#include <string>

#include "context.h"
#include "ggml-backend.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace diffusekit {
namespace {

std::string PathArgument(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) {
        throw MakeError(info.Env(), "ERR_INVALID_ARG", "Expected a backend library path");
    }
    return info[0].As<Napi::String>().Utf8Value();
}

const char* DeviceTypeName(enum ggml_backend_dev_type type) {
    switch (type) {
        case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        default: return "accelerator";
    }
}

Napi::Object DeviceObject(Napi::Env env, ggml_backend_dev_t device) {
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(device, &free, &total);
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", ggml_backend_dev_name(device));
    out.Set("description", ggml_backend_dev_description(device));
    out.Set("type", DeviceTypeName(ggml_backend_dev_type(device)));
    out.Set("backend", ggml_backend_reg_name(ggml_backend_dev_backend_reg(device)));
    out.Set("memoryFree", static_cast<double>(free));
    out.Set("memoryTotal", static_cast<double>(total));
    return out;
}

}  // namespace

Napi::Value ProbeBackend(const Napi::CallbackInfo& info) {
    Napi::Env env    = info.Env();
    std::string path = PathArgument(info);
    typedef int (*score_t)(void);
#ifdef _WIN32
    HMODULE handle = LoadLibraryA(path.c_str());
    if (handle == nullptr) {
        throw MakeError(env, "ERR_BACKEND_LOAD", "cannot load " + path + " (error " + std::to_string(GetLastError()) + ")");
    }
    score_t score = reinterpret_cast<score_t>(GetProcAddress(handle, "ggml_backend_score"));
#else
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = dlerror();
        throw MakeError(env, "ERR_BACKEND_LOAD", why != nullptr ? why : ("cannot load " + path));
    }
    score_t score = reinterpret_cast<score_t>(dlsym(handle, "ggml_backend_score"));
#endif
    // A module without a score function runs anywhere (GPU backends answer by finding devices instead).
    int value = score != nullptr ? score() : 1;
#ifdef _WIN32
    FreeLibrary(handle);
#else
    dlclose(handle);
#endif
    return Napi::Number::New(env, value);
}

Napi::Value LoadBackend(const Napi::CallbackInfo& info) {
    Napi::Env env          = info.Env();
    std::string path       = PathArgument(info);
    ggml_backend_reg_t reg = ggml_backend_load(path.c_str());
    if (reg == nullptr) {
        throw MakeError(env, "ERR_BACKEND_LOAD", "ggml could not register the backend in " + path);
    }
    Napi::Object out     = Napi::Object::New(env);
    Napi::Array devices  = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); i++) {
        devices.Set(devices.Length(), DeviceObject(env, ggml_backend_reg_dev_get(reg, i)));
    }
    out.Set("name", ggml_backend_reg_name(reg));
    out.Set("devices", devices);
    return out;
}

Napi::Value BackendDevices(const Napi::CallbackInfo& info) {
    Napi::Env env       = info.Env();
    Napi::Array devices = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        devices.Set(devices.Length(), DeviceObject(env, ggml_backend_dev_get(i)));
    }
    return devices;
}

Napi::Object CpuBackendInfo(Napi::Env env) {
    Napi::Object out       = Napi::Object::New(env);
    ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
    std::string system_info;
    Napi::Array features = Napi::Array::New(env);
    bool fast = false, conv = false, bf16 = false, attention = false;
    double attentions = 0, norms = 0;
    if (cpu != nullptr) {
        auto get_features = reinterpret_cast<ggml_backend_get_features_t>(ggml_backend_reg_get_proc_address(cpu, "ggml_backend_get_features"));
        if (get_features != nullptr) {
            for (ggml_backend_feature* f = get_features(cpu); f->name != nullptr; f++) {
                system_info += std::string(system_info.empty() ? "" : " | ") + f->name + " = " + f->value;
                features.Set(features.Length(), Napi::String::New(env, f->name));
            }
        }
        // Our kernels answer through the CPU backend's proc table (patches/engine-cpu-kernels.patch).
        auto fast_kernels = reinterpret_cast<bool (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_fast_kernels"));
        auto conv_kernels = reinterpret_cast<bool (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_conv_kernels"));
        fast              = fast_kernels != nullptr && fast_kernels();
        conv              = conv_kernels != nullptr && conv_kernels();
        // Whether this CPU backend can run products in bf16 (a Pipeline's cpuPrecision 'f32' still turns it off).
        auto bf16_kernels = reinterpret_cast<bool (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_bf16"));
        bf16              = bf16_kernels != nullptr && bf16_kernels();
        // Our fused attention for the engine's flash-attention op, and how many such ops it has run.
        auto fused_attention = reinterpret_cast<bool (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_fused_attention"));
        auto attention_count = reinterpret_cast<uint64_t (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_attention_count"));
        attention            = fused_attention != nullptr && fused_attention();
        attentions           = attention_count != nullptr ? static_cast<double>(attention_count()) : 0;
        // Group norms that ran with their layer's per-channel weight, bias and SiLU in one pass.
        auto norm_count = reinterpret_cast<uint64_t (*)(void)>(ggml_backend_reg_get_proc_address(cpu, "diffusekit_cpu_fused_norm_count"));
        norms           = norm_count != nullptr ? static_cast<double>(norm_count()) : 0;
    }
    out.Set("systemInfo", system_info);
    out.Set("cpuFeatures", features);
    out.Set("cpuKernels", fast ? "fast" : "reference");
    out.Set("cpuConvKernels", conv);
    out.Set("cpuBf16", bf16);
    out.Set("cpuFusedAttention", attention);
    out.Set("fusedAttentions", attentions);
    out.Set("fusedNorms", norms);
    return out;
}

}  // namespace diffusekit
