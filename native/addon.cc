// diffusekit's Node-API addon: a thin layer over stable-diffusion.cpp.
// It marshals plain option objects, runs engine calls on worker threads and reports back; policy is in src/.
#include <napi.h>

#include "backends.h"
#include "context.h"
#include "convert.h"
#include "diffusekit_hooks.h"
#include "engine_callbacks.h"
#include "upscaler.h"
#include "stable-diffusion.h"

namespace diffusekit {
namespace {

template <typename Enum>
Napi::Array EnumNames(Napi::Env env, const char* (*name_of)(Enum), int count) {
    Napi::Array names = Napi::Array::New(env);
    for (int i = 0; i < count; i++) {
        const char* name = name_of(static_cast<Enum>(i));
        if (name != nullptr) {
            names.Set(names.Length(), Napi::String::New(env, name));
        }
    }
    return names;
}

// engineInfo() -> what this build of the engine is and supports.
Napi::Value EngineInfo(const Napi::CallbackInfo& info) {
    Napi::Env env    = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("version", sd_version());
    out.Set("commit", sd_commit());
    out.Set("backend", DIFFUSEKIT_BACKEND);
#ifdef DIFFUSEKIT_DYNAMIC_BACKENDS
    out.Set("dynamicBackends", true);
#else
    out.Set("dynamicBackends", false);
#endif
    Napi::Object cpu = CpuBackendInfo(env);
    for (const char* key : {"systemInfo", "cpuFeatures", "cpuKernels", "cpuConvKernels", "cpuBf16", "cpuFusedAttention", "fusedAttentions", "fusedNorms"}) {
        out.Set(key, cpu.Get(key));
    }
    out.Set("physicalCores", sd_get_num_physical_cores());
    out.Set("guidanceBatches", static_cast<double>(diffusekit_cfg_batch_count()));
    out.Set("samplers", EnumNames<sample_method_t>(env, sd_sample_method_name, SAMPLE_METHOD_COUNT));
    out.Set("schedulers", EnumNames<scheduler_t>(env, sd_scheduler_name, SCHEDULER_COUNT));
    out.Set("weightTypes", EnumNames<sd_type_t>(env, sd_type_name, SD_TYPE_COUNT));
    return out;
}

// setLogger(fn | null, minLevel) for engine lines logged outside any job.
Napi::Value SetLogger(const Napi::CallbackInfo& info) {
    InstallEngineCallbacks();
    SetFallbackLogger(info.Env(), info[0], info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 4);
    return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function context  = Context::Define(env);
    Napi::Function upscaler = Upscaler::Define(env);
    env.SetInstanceData(new Constructors{Napi::Persistent(context), Napi::Persistent(upscaler)});
    exports.Set("Context", context);
    exports.Set("Upscaler", upscaler);
    exports.Set("engineInfo", Napi::Function::New(env, EngineInfo, "engineInfo"));
    exports.Set("setLogger", Napi::Function::New(env, SetLogger, "setLogger"));
    exports.Set("convert", Napi::Function::New(env, ConvertModel, "convert"));
    exports.Set("probeBackend", Napi::Function::New(env, ProbeBackend, "probeBackend"));
    exports.Set("loadBackend", Napi::Function::New(env, LoadBackend, "loadBackend"));
    exports.Set("backendDevices", Napi::Function::New(env, BackendDevices, "backendDevices"));
    return exports;
}

}  // namespace
}  // namespace diffusekit

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
    return diffusekit::Init(env, exports);
}

NODE_API_MODULE(diffusekit, InitAddon)
