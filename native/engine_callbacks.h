// Routes the engine's process-wide log and progress callbacks to the job running on the calling thread.
// stable-diffusion.cpp has one global callback of each kind; each of our worker threads binds its own job.
#pragma once

#include <napi.h>

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "compute_settings.h"
#include "stable-diffusion.h"

namespace diffusekit {

// What one worker-thread job wants from the engine's callbacks.
struct JobBinding {
    int min_log_level = 4;  // engine levels 0..3 (debug..error); 4 = forward none
    std::function<void(int level, const std::string& text)> on_log;
    std::function<void(int step, int steps, float seconds)> on_progress;
    // Previews of the current latent; preview_mode is the engine's preview_t (0 = none).
    std::function<void(int step, const sd_image_t& image)> on_preview;
    int preview_mode = 0;
    const std::atomic<bool>* abort_flag = nullptr;
    ComputeSettings compute;  // the context's (diffusekit_bind_cpu_bf16, diffusekit_bind_cfg_batch)
    // Set at the first progress report of sampling: from there on a failed compute is handled by the
    // engine, so an abort may stop it (see diffusekit_hooks.h).
    std::atomic<bool> abort_armed{false};
    std::deque<std::string> recent_errors;  // last error lines, for the rejection message
    std::vector<std::string>* capture = nullptr;  // when set, every info+ line (model facts for JS)

    std::string ErrorSummary(const std::string& fallback) const;
};

// Binds a job to the calling thread for its lifetime (log capture, progress, previews, cancellation).
// The engine's preview mode is process-wide: it is on while any bound job asks for previews (the last
// job to start picks the mode when several differ).
class ScopedJob {
   public:
    explicit ScopedJob(JobBinding* job);
    ~ScopedJob();
    ScopedJob(const ScopedJob&)            = delete;
    ScopedJob& operator=(const ScopedJob&) = delete;

   private:
    JobBinding* previous_;
};

// Thrown (on a worker thread with a bound job) in place of the process abort of a failed GGML_ASSERT /
// GGML_ABORT outside graph compute, such as a shape mismatch while the engine builds a graph.
struct EngineAssertion {
    std::string message;
};

// Installs the engine callbacks once per process.
void InstallEngineCallbacks();

// Queues one log line to a JS logger without blocking; drops it when the queue is full or closed.
void ForwardLog(Napi::ThreadSafeFunction& logger, int level, std::string text);

// Process-wide logger for engine lines logged outside any job (for example by loader threads).
void SetFallbackLogger(Napi::Env env, const Napi::Value& fn, int min_level);

}  // namespace diffusekit
