// The lifecycle the wrapped engine objects (Context, Upscaler) share: one job at a time, abort of the
// running job, dispose that waits for it, and the JS logger for their engine lines.
#pragma once

#include <napi.h>

#include <atomic>

namespace diffusekit {

template <typename T, void (*Free)(T*)>
class EngineHandle {
   public:
    EngineHandle() = default;
    EngineHandle(const EngineHandle&)            = delete;
    EngineHandle& operator=(const EngineHandle&) = delete;
    ~EngineHandle() { Release(); }

    T* get() const { return engine_; }
    void Attach(T* engine) { engine_ = engine; }
    bool busy() const { return busy_; }
    bool usable() const { return !disposed_ && engine_ != nullptr; }
    bool disposed() const { return disposed_; }
    const std::atomic<bool>* abort_flag() const { return &abort_; }

    // Called when a job is queued (not when it starts), so an abort right after is not lost.
    void BeginJob() {
        abort_.store(false);
        busy_ = true;
    }

    // Called when the job's result has been handed to JS; frees the engine if dispose() came meanwhile.
    void EndJob() {
        busy_ = false;
        if (disposed_) {
            Release();
        }
    }

    // Asks the running job to stop; returns whether one was running.
    bool Abort() {
        if (busy_) {
            abort_.store(true);
        }
        return busy_;
    }

    void Dispose() {
        if (disposed_) {
            return;
        }
        disposed_ = true;
        if (busy_) {
            abort_.store(true);  // freed in EndJob
        } else {
            Release();
        }
    }

    // logger(level, text) for engine lines at min_level and above (engine levels 0..3); none without a function.
    void SetLogger(Napi::Env env, const Napi::Value& fn, const Napi::Value& min_level) {
        if (!fn.IsFunction()) {
            return;
        }
        logger_ = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), "diffusekit-log", 256, 1);
        logger_.Unref(env);  // logging must not keep the process alive
        min_log_level_ = min_level.IsNumber() ? min_level.As<Napi::Number>().Int32Value() : 1;
    }
    Napi::ThreadSafeFunction& logger() { return logger_; }
    int min_log_level() const { return min_log_level_; }

   private:
    void Release() {
        if (engine_ != nullptr) {
            Free(engine_);
            engine_ = nullptr;
        }
        if (logger_) {
            logger_.Release();
            logger_ = Napi::ThreadSafeFunction();
        }
    }

    T* engine_ = nullptr;
    bool busy_     = false;
    bool disposed_ = false;
    std::atomic<bool> abort_{false};
    Napi::ThreadSafeFunction logger_;
    int min_log_level_ = 4;
};

}  // namespace diffusekit
