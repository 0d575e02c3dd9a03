// Work that reads model tensors (loading a model, converting one) and reports how far it got: the engine's
// tensor-loading progress, (tensors done, tensors in all) of the job bound on the worker thread, reaches a
// JS callback as onProgress(done, total).
#pragma once

#include <napi.h>

#include "engine_callbacks.h"

namespace diffusekit {

struct TensorCount {
    int done  = 0;
    int total = 0;
};

class TensorLoadWorker : public Napi::AsyncProgressQueueWorker<TensorCount> {
   protected:
    TensorLoadWorker(Napi::Env env, const char* name, const Napi::Value& on_progress)
        : Napi::AsyncProgressQueueWorker<TensorCount>(env, name) {
        if (on_progress.IsFunction()) {
            on_progress_.Reset(on_progress.As<Napi::Function>(), 1);
        }
    }

    // Routes the job's progress to the queue; call from Execute, before binding the job.
    void RouteProgress(JobBinding& job, const ExecutionProgress& progress) {
        if (on_progress_.IsEmpty()) {
            return;
        }
        job.on_progress = [&progress](int step, int steps, float) {
            TensorCount count{step, steps};
            progress.Send(&count, 1);
        };
    }

    void OnProgress(const TensorCount* counts, size_t n) override {
        if (on_progress_.IsEmpty()) {
            return;
        }
        for (size_t i = 0; i < n; i++) {
            on_progress_.Call({Napi::Number::New(Env(), counts[i].done), Napi::Number::New(Env(), counts[i].total)});
        }
    }

   private:
    Napi::FunctionReference on_progress_;
};

}  // namespace diffusekit
