// One loaded model: wraps sd_ctx_t. Loading and generation run on libuv worker threads.
#pragma once

#include <napi.h>

#include <string>

#include "compute_settings.h"
#include "engine_handle.h"
#include "stable-diffusion.h"

namespace diffusekit {

class Context : public Napi::ObjectWrap<Context> {
   public:
    static Napi::Function Define(Napi::Env env);

    explicit Context(const Napi::CallbackInfo& info);

    using Handle = EngineHandle<sd_ctx_t, free_sd_ctx>;
    Handle& handle() { return handle_; }

    // After an engine check failed mid-call the engine's state is unknown: refuse further calls.
    void MarkBroken(const std::string& reason) { broken_reason_ = reason; }

    // The load's compute settings, for every job of this context.
    const ComputeSettings& compute_settings() const { return compute_; }
    void set_compute_settings(const ComputeSettings& settings) { compute_ = settings; }

   private:
    static Napi::Value Load(const Napi::CallbackInfo& info);
    Napi::Value Generate(const Napi::CallbackInfo& info);
    Napi::Value GenerateVideo(const Napi::CallbackInfo& info);
    template <typename Params>
    Napi::Value StartJob(const Napi::CallbackInfo& info, const char* name);
    Napi::Value Abort(const Napi::CallbackInfo& info);
    Napi::Value Dispose(const Napi::CallbackInfo& info);
    Napi::Value IsDisposed(const Napi::CallbackInfo& info);
    Napi::Value SupportsImages(const Napi::CallbackInfo& info);
    Napi::Value SupportsVideo(const Napi::CallbackInfo& info);

    Handle handle_;
    std::string broken_reason_;
    ComputeSettings compute_;
};

// Per-environment constructors, kept as the addon's instance data.
struct Constructors {
    Napi::FunctionReference context;
    Napi::FunctionReference upscaler;
};

// Rejection reasons carry a code the TypeScript layer maps to its error classes.
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace diffusekit
