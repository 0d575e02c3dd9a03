// An ESRGAN-family super-resolution model: wraps upscaler_ctx_t. Loading and upscaling run on worker threads.
#pragma once

#include <napi.h>

#include <atomic>
#include <string>

#include "stable-diffusion.h"

namespace diffusekit {

class Upscaler : public Napi::ObjectWrap<Upscaler> {
   public:
    static Napi::Function Define(Napi::Env env);

    explicit Upscaler(const Napi::CallbackInfo& info);
    ~Upscaler() override;

    upscaler_ctx_t* engine() const { return ctx_; }
    Napi::ThreadSafeFunction& logger() { return logger_; }
    int min_log_level() const { return min_log_level_; }
    const std::atomic<bool>* abort_flag() const { return &abort_flag_; }
    void Attach(upscaler_ctx_t* ctx) { ctx_ = ctx; }
    void MarkIdle();

   private:
    static Napi::Value Load(const Napi::CallbackInfo& info);
    Napi::Value Upscale(const Napi::CallbackInfo& info);
    Napi::Value Abort(const Napi::CallbackInfo& info);
    Napi::Value Dispose(const Napi::CallbackInfo& info);
    Napi::Value Scale(const Napi::CallbackInfo& info);

    void FreeEngine();

    upscaler_ctx_t* ctx_ = nullptr;
    bool busy_           = false;
    bool disposed_       = false;
    std::atomic<bool> abort_flag_{false};
    Napi::ThreadSafeFunction logger_;
    int min_log_level_ = 4;
};

}  // namespace diffusekit
