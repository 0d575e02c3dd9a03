#include "convert.h"

#include <string>

#include "context.h"
#include "engine_callbacks.h"
#include "tensor_load_worker.h"
#include "stable-diffusion.h"

namespace diffusekit {
namespace {

class ConvertWorker : public TensorLoadWorker {
   public:
    ConvertWorker(Napi::Env env, Napi::Object options, Napi::Value on_log, int min_level, const Napi::Value& on_progress)
        : TensorLoadWorker(env, "diffusekit.convert", on_progress), deferred_(Napi::Promise::Deferred::New(env)) {
        auto text = [&](const char* key) {
            Napi::Value v = options.Get(key);
            return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
        };
        input_  = text("input");
        vae_    = text("vae");
        output_ = text("output");
        rules_  = text("tensorTypeRules");
        type_   = str_to_sd_type(text("weightType").c_str());
        if (type_ == SD_TYPE_COUNT) {
            throw Napi::TypeError::New(env, "Unknown weight type '" + text("weightType") + "'");
        }
        if (on_log.IsFunction()) {
            logger_ = Napi::ThreadSafeFunction::New(env, on_log.As<Napi::Function>(), "diffusekit-log", 256, 1);
            logger_.Unref(env);
            job_.min_log_level = min_level;
            job_.on_log        = [this](int level, const std::string& line) { ForwardLog(logger_, level, line); };
        }
    }

    ~ConvertWorker() override {
        if (logger_) {
            logger_.Release();
        }
    }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute(const ExecutionProgress& progress) override {
        RouteProgress(job_, progress);
        ScopedJob scope(&job_);
        bool ok = false;
        try {
            ok = convert(input_.c_str(), vae_.c_str(), output_.c_str(), type_, rules_.c_str(), false);
        } catch (const EngineAssertion& failure) {
            SetError("Conversion failed: engine check failed: " + failure.message);
            return;
        }
        if (!ok) {
            SetError(job_.ErrorSummary("Conversion failed"));
        }
    }

    void OnOK() override { deferred_.Resolve(Env().Undefined()); }

    void OnError(const Napi::Error& error) override {
        deferred_.Reject(MakeError(Env(), "ERR_MODEL_LOAD", error.Message()).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::string input_, vae_, output_, rules_;
    sd_type_t type_;
    Napi::ThreadSafeFunction logger_;
    JobBinding job_;
};

}  // namespace

Napi::Value ConvertModel(const Napi::CallbackInfo& info) {
    if (!info[0].IsObject()) {
        throw Napi::TypeError::New(info.Env(), "convert expects an options object");
    }
    InstallEngineCallbacks();
    int min_level         = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 1;
    auto* worker          = new ConvertWorker(info.Env(), info[0].As<Napi::Object>(), info[1], min_level, info[3]);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

}  // namespace diffusekit
