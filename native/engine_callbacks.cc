#include "engine_callbacks.h"

#include <cstdio>
#include <mutex>

#include "diffusekit_hooks.h"
#include "ggml.h"
#include "stable-diffusion.h"

namespace diffusekit {
namespace {

constexpr size_t kRecentErrors = 6;

thread_local JobBinding* current_job = nullptr;

std::mutex preview_mutex;
int preview_jobs = 0;

std::mutex fallback_mutex;
Napi::ThreadSafeFunction fallback_logger;
int fallback_min_level = 4;

struct LogLine {
    int level;
    std::string text;
};

std::string Trimmed(const char* text) {
    std::string line(text ? text : "");
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.pop_back();
    }
    return line;
}

void OnEngineLog(sd_log_level_t level, const char* text, void*) {
    std::string line = Trimmed(text);
    JobBinding* job  = current_job;
    if (job != nullptr) {
        if (level == SD_LOG_ERROR) {
            job->recent_errors.push_back(line);
            if (job->recent_errors.size() > kRecentErrors) {
                job->recent_errors.pop_front();
            }
        }
        if (job->capture != nullptr && level >= SD_LOG_INFO) {
            job->capture->push_back(line);
        }
        if (static_cast<int>(level) >= job->min_log_level && job->on_log) {
            job->on_log(static_cast<int>(level), line);
        }
        return;
    }
    std::lock_guard<std::mutex> lock(fallback_mutex);
    if (static_cast<int>(level) >= fallback_min_level) {
        ForwardLog(fallback_logger, static_cast<int>(level), std::move(line));
    }
}

void OnEngineProgress(int step, int steps, float seconds, void*) {
    JobBinding* job = current_job;
    if (job == nullptr) {
        return;
    }
    job->abort_armed.store(true);
    if (job->on_progress) {
        job->on_progress(step, steps, seconds);
    }
}

void OnEnginePreview(int step, int frame_count, sd_image_t* frames, bool, void*) {
    JobBinding* job = current_job;
    if (job != nullptr && job->on_preview && frame_count > 0 && frames != nullptr) {
        job->on_preview(step, frames[0]);
    }
}

void BeginPreviews(int mode) {
    std::lock_guard<std::mutex> lock(preview_mutex);
    preview_jobs++;
    sd_set_preview_callback(OnEnginePreview, static_cast<preview_t>(mode), 1, true, false, nullptr);
}

void EndPreviews() {
    std::lock_guard<std::mutex> lock(preview_mutex);
    if (--preview_jobs == 0) {
        sd_set_preview_callback(nullptr, PREVIEW_NONE, 1, false, false, nullptr);
    }
}

// ggml calls this before abort(). On a job's thread, outside ggml's compute threads, the check failed
// while building a graph: unwinding to the worker (ggml's C code is built with -fexceptions) turns the
// process abort into a rejected promise. Anywhere else the abort goes ahead.
void OnGgmlAbort(const char* message) {
    if (current_job != nullptr && !diffusekit_in_graph_compute()) {
        throw EngineAssertion{message};
    }
    fprintf(stderr, "%s\n", message);
}

// The settings the engine's hooks read on this thread (native/engine/diffusekit_hooks.h).
void BindComputeSettings(const ComputeSettings& settings) {
    diffusekit_bind_cpu_bf16(settings.cpu_bf16);
    diffusekit_bind_cfg_batch(settings.cfg_batch);
}

}  // namespace

void ForwardLog(Napi::ThreadSafeFunction& logger, int level, std::string text) {
    if (!logger) {
        return;
    }
    auto* payload      = new LogLine{level, std::move(text)};
    napi_status status = logger.NonBlockingCall(payload, [](Napi::Env env, Napi::Function fn, LogLine* data) {
        fn.Call({Napi::Number::New(env, data->level), Napi::String::New(env, data->text)});
        delete data;
    });
    if (status != napi_ok) {
        delete payload;
    }
}

std::string JobBinding::ErrorSummary(const std::string& fallback) const {
    if (recent_errors.empty()) {
        return fallback;
    }
    std::string message;
    for (const auto& line : recent_errors) {
        // Engine lines read "file.cpp:123  - message"; keep the message.
        auto sep = line.find(" - ");
        message += (message.empty() ? "" : "; ") + (sep == std::string::npos ? line : line.substr(sep + 3));
    }
    return fallback + ": " + message;
}

ScopedJob::ScopedJob(JobBinding* job) : previous_(current_job) {
    current_job = job;
    diffusekit_bind_abort_flag(job->abort_flag, &job->abort_armed);
    BindComputeSettings(job->compute);
    if (job->preview_mode != 0) {
        BeginPreviews(job->preview_mode);
    }
}

ScopedJob::~ScopedJob() {
    if (current_job->preview_mode != 0) {
        EndPreviews();
    }
    current_job = previous_;
    diffusekit_bind_abort_flag(previous_ != nullptr ? previous_->abort_flag : nullptr,
                               previous_ != nullptr ? &previous_->abort_armed : nullptr);
    BindComputeSettings(previous_ != nullptr ? previous_->compute : ComputeSettings{});
}

void InstallEngineCallbacks() {
    static std::once_flag once;
    std::call_once(once, [] {
        sd_set_log_callback(OnEngineLog, nullptr);
        sd_set_progress_callback(OnEngineProgress, nullptr);
        ggml_set_abort_callback(OnGgmlAbort);
    });
}

void SetFallbackLogger(Napi::Env env, const Napi::Value& fn, int min_level) {
    std::lock_guard<std::mutex> lock(fallback_mutex);
    if (fallback_logger) {
        fallback_logger.Release();
        fallback_logger = Napi::ThreadSafeFunction();
    }
    fallback_min_level = min_level;
    if (fn.IsFunction()) {
        fallback_logger = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), "diffusekit-log", 256, 1);
        fallback_logger.Unref(env);  // logging must not keep the process alive
    }
}

}  // namespace diffusekit
