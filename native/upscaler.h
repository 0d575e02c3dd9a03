// An ESRGAN-family super-resolution model: wraps upscaler_ctx_t. Loading and upscaling run on worker threads.
#pragma once

#include <napi.h>

#include "engine_handle.h"
#include "stable-diffusion.h"

namespace diffusekit {

class Upscaler : public Napi::ObjectWrap<Upscaler> {
   public:
    static Napi::Function Define(Napi::Env env);

    explicit Upscaler(const Napi::CallbackInfo& info);

    using Handle = EngineHandle<upscaler_ctx_t, free_upscaler_ctx>;
    Handle& handle() { return handle_; }

   private:
    static Napi::Value Load(const Napi::CallbackInfo& info);
    Napi::Value Upscale(const Napi::CallbackInfo& info);
    Napi::Value Abort(const Napi::CallbackInfo& info);
    Napi::Value Dispose(const Napi::CallbackInfo& info);
    Napi::Value Scale(const Napi::CallbackInfo& info);

    Handle handle_;
};

}  // namespace diffusekit
