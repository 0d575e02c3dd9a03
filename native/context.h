// One loaded model: wraps sd_ctx_t. Loading and generation run on libuv worker threads.
#pragma once

#include <napi.h>

#include <atomic>
#include <string>

#include "stable-diffusion.h"

namespace diffusekit {

class Context : public Napi::ObjectWrap<Context> {
   public:
    static Napi::Function Define(Napi::Env env);

    explicit Context(const Napi::CallbackInfo& info);
    ~Context() override;

    sd_ctx_t* engine() const { return ctx_; }
    Napi::ThreadSafeFunction& logger() { return logger_; }
    int min_log_level() const { return min_log_level_; }
    const std::atomic<bool>* abort_flag() const { return &abort_flag_; }

    void Attach(sd_ctx_t* ctx) { ctx_ = ctx; }
    void MarkIdle();
    // After an engine check failed mid-call the engine's state is unknown: refuse further calls.
    void MarkBroken(const std::string& reason) { broken_reason_ = reason; }

   private:
    static Napi::Value Load(const Napi::CallbackInfo& info);
    Napi::Value Generate(const Napi::CallbackInfo& info);
    Napi::Value Abort(const Napi::CallbackInfo& info);
    Napi::Value Dispose(const Napi::CallbackInfo& info);
    Napi::Value IsDisposed(const Napi::CallbackInfo& info);
    Napi::Value SupportsImages(const Napi::CallbackInfo& info);

    void FreeEngine();

    sd_ctx_t* ctx_ = nullptr;
    bool busy_     = false;
    bool disposed_ = false;
    std::string broken_reason_;
    std::atomic<bool> abort_flag_{false};
    Napi::ThreadSafeFunction logger_;
    int min_log_level_ = 4;
};

// Per-environment constructors, kept as the addon's instance data.
struct Constructors {
    Napi::FunctionReference context;
    Napi::FunctionReference upscaler;
};

// Rejection reasons carry a code the TypeScript layer maps to its error classes.
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace diffusekit
