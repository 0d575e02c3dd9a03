#include "context.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "diffusekit_hooks.h"
#include "engine_callbacks.h"
#include "params.h"
#include "tensor_load_worker.h"

namespace diffusekit {
namespace {

// A progress report, or (when preview is set) a preview image of the current latent.
struct ProgressEvent {
    int step        = 0;
    int steps       = 0;
    float seconds   = 0;
    bool is_preview = false;
    uint32_t width = 0, height = 0, channels = 0;
    std::vector<uint8_t> preview;
};

struct GeneratedImage {
    uint32_t width, height, channels;
    uint8_t* data;
};

// Runs new_sd_ctx off the main thread, reporting the tensors read.
class LoadWorker : public TensorLoadWorker {
   public:
    LoadWorker(Napi::Env env, Napi::Object self, ContextParams params, const Napi::Value& on_progress)
        : TensorLoadWorker(env, "diffusekit.load", on_progress), deferred_(Napi::Promise::Deferred::New(env)), params_(std::move(params)) {
        self_.Reset(self, 1);
        context_ = Context::Unwrap(self);
        job_.min_log_level = context_->handle().min_log_level();
        job_.on_log        = [this](int level, const std::string& text) { ForwardLog(context_->handle().logger(), level, text); };
        job_.capture       = &load_log_;
        job_.compute       = params_.compute;
    }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute(const ExecutionProgress& progress) override {
        RouteProgress(job_, progress);
        ScopedJob scope(&job_);
        diffusekit_bind_main_device(params_.device.empty() ? nullptr : params_.device.c_str());
        try {
            ctx_ = new_sd_ctx(&params_.raw);
        } catch (const EngineAssertion& failure) {
            diffusekit_bind_main_device(nullptr);
            SetError("Model load failed: engine check failed: " + failure.message);
            return;
        }
        diffusekit_bind_main_device(nullptr);
        if (ctx_ == nullptr) {
            SetError(job_.ErrorSummary("Model load failed"));
        }
    }

    // The engine reports what it loaded (version, prediction, memory) only in its log: the lines go to JS
    // as `loadLog` along with the instance, so they are there when the promise resolves.
    void OnOK() override {
        context_->handle().Attach(ctx_);
        context_->set_compute_settings(params_.compute);
        Napi::Array lines = Napi::Array::New(Env(), load_log_.size());
        for (size_t i = 0; i < load_log_.size(); i++) {
            lines.Set(static_cast<uint32_t>(i), Napi::String::New(Env(), load_log_[i]));
        }
        self_.Value().Set("loadLog", lines);
        deferred_.Resolve(self_.Value());
    }

    void OnError(const Napi::Error& error) override {
        deferred_.Reject(MakeError(Env(), "ERR_MODEL_LOAD", error.Message()).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_;
    Context* context_;
    ContextParams params_;
    JobBinding job_;
    std::vector<std::string> load_log_;
    sd_ctx_t* ctx_ = nullptr;
};

// Runs an image or video job (Params::Run) off the main thread; progress reaches JS through the worker's queue.
template <typename Params>
class GenerateWorker : public Napi::AsyncProgressQueueWorker<ProgressEvent> {
   public:
    GenerateWorker(Napi::Env env, Napi::Object self, Params params, Napi::Value on_progress)
        : Napi::AsyncProgressQueueWorker<ProgressEvent>(env, "diffusekit.generate"),
          deferred_(Napi::Promise::Deferred::New(env)),
          params_(std::move(params)) {
        self_.Reset(self, 1);
        context_ = Context::Unwrap(self);
        if (on_progress.IsFunction()) {
            on_progress_.Reset(on_progress.As<Napi::Function>(), 1);
        }
        job_.min_log_level = context_->handle().min_log_level();
        job_.abort_flag    = context_->handle().abort_flag();
        job_.preview_mode  = params_.preview_mode;
        job_.compute       = context_->compute_settings();
        job_.on_log        = [this](int level, const std::string& text) { ForwardLog(context_->handle().logger(), level, text); };
    }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute(const ExecutionProgress& progress) override {
        job_.on_progress = [&progress](int step, int steps, float seconds) {
            ProgressEvent event;
            event.step    = step;
            event.steps   = steps;
            event.seconds = seconds;
            progress.Send(&event, 1);
        };
        job_.on_preview = [&progress](int step, const sd_image_t& image) {
            ProgressEvent event;
            event.step       = step;
            event.is_preview = true;
            event.width      = image.width;
            event.height     = image.height;
            event.channels   = image.channel;
            event.preview.assign(image.data, image.data + static_cast<size_t>(image.width) * image.height * image.channel);
            progress.Send(&event, 1);
        };
        ScopedJob scope(&job_);
        try {
            if (!Aborted()) {
                params_.Finalize(context_->handle().get());
                diffusekit_take_latents();  // none left from an earlier call that failed
                images_  = params_.Run(context_->handle().get(), &count_);
                latents_ = diffusekit_take_latents();
            }
        } catch (const EngineAssertion& failure) {
            engine_check_failed_ = true;
            SetError("Engine check failed: " + failure.message +
                     " (this model context can no longer be used: dispose it and load the model again)");
        }
        if (engine_check_failed_) {
            // reported above
        } else if (Aborted()) {
            SetError("Generation aborted");
        } else if (images_ == nullptr) {
            SetError(job_.ErrorSummary("Generation failed"));
        }
        job_.on_progress = nullptr;
        job_.on_preview  = nullptr;
    }

    // onProgress(step, steps, seconds) for progress; onProgress(step, 0, 0, image) for a preview.
    void OnProgress(const ProgressEvent* events, size_t count) override {
        if (on_progress_.IsEmpty()) {
            return;
        }
        Napi::Env env = Env();
        for (size_t i = 0; i < count; i++) {
            const ProgressEvent& e = events[i];
            if (!e.is_preview) {
                on_progress_.Call({Napi::Number::New(env, e.step), Napi::Number::New(env, e.steps), Napi::Number::New(env, e.seconds)});
                continue;
            }
            Napi::Object image = Napi::Object::New(env);
            image.Set("width", e.width);
            image.Set("height", e.height);
            image.Set("channels", e.channels);
            image.Set("data", Napi::Buffer<uint8_t>::Copy(env, e.preview.data(), e.preview.size()));
            on_progress_.Call({Napi::Number::New(env, e.step), Napi::Number::New(env, 0), Napi::Number::New(env, 0), image});
        }
    }

    void OnOK() override {
        Napi::Env env = Env();
        int count     = count_;
        Napi::Array result = Napi::Array::New(env, count);
        for (int i = 0; i < count; i++) {
            const sd_image_t& image = images_[i];
            size_t size             = static_cast<size_t>(image.width) * image.height * image.channel;
            Napi::Object out        = Napi::Object::New(env);
            out.Set("width", image.width);
            out.Set("height", image.height);
            out.Set("channels", image.channel);
            // Copied rather than wrapped: external buffers are refused where the V8 sandbox is on (Electron).
            out.Set("data", image.data != nullptr ? Napi::Buffer<uint8_t>::Copy(env, image.data, size).As<Napi::Value>()
                                                   : env.Null());
            if (latents_.size() == static_cast<size_t>(count)) {
                const DiffusekitLatent& latent = latents_[i];
                Napi::Object l                 = Napi::Object::New(env);
                Napi::Array shape              = Napi::Array::New(env, latent.shape.size());
                for (size_t d = 0; d < latent.shape.size(); d++) {
                    shape.Set(d, Napi::Number::New(env, static_cast<double>(latent.shape[d])));
                }
                Napi::Float32Array data = Napi::Float32Array::New(env, latent.data.size());
                std::copy(latent.data.begin(), latent.data.end(), data.Data());
                l.Set("shape", shape);
                l.Set("data", data);
                out.Set("latent", l);
            }
            result.Set(i, out);
        }
        FreeImages();
        context_->handle().EndJob();
        deferred_.Resolve(result);
    }

    void OnError(const Napi::Error& error) override {
        FreeImages();
        if (engine_check_failed_) {
            context_->MarkBroken(error.Message());
        }
        const char* code = engine_check_failed_ ? "ERR_ENGINE_STATE" : Aborted() ? "ABORT_ERR" : "ERR_GENERATION";
        context_->handle().EndJob();
        deferred_.Reject(MakeError(Env(), code, error.Message()).Value());
    }

   private:
    bool Aborted() const { return job_.abort_flag->load(); }

    void FreeImages() {
        if (images_ == nullptr) {
            return;
        }
        for (int i = 0; i < count_; i++) {
            free(images_[i].data);
        }
        free(images_);
        images_ = nullptr;
    }

    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_;
    Napi::FunctionReference on_progress_;
    Context* context_;
    Params params_;
    JobBinding job_;
    sd_image_t* images_       = nullptr;
    std::vector<DiffusekitLatent> latents_;
    int count_                = 0;
    bool engine_check_failed_ = false;
};

}  // namespace

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
}

Napi::Function Context::Define(Napi::Env env) {
    return DefineClass(env, "Context",
                       {
                           StaticMethod<&Context::Load>("load"),
                           InstanceMethod<&Context::Generate>("generate"),
                           InstanceMethod<&Context::GenerateVideo>("generateVideo"),
                           InstanceMethod<&Context::Abort>("abort"),
                           InstanceMethod<&Context::Dispose>("dispose"),
                           InstanceAccessor<&Context::IsDisposed>("disposed"),
                           InstanceAccessor<&Context::SupportsImages>("supportsImages"),
                           InstanceAccessor<&Context::SupportsVideo>("supportsVideo"),
                       });
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {}

// load(options, onLog?, minLogLevel?, onProgress?(tensorsDone, tensorsTotal)) -> Promise<Context>
Napi::Value Context::Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
        throw Napi::TypeError::New(env, "load expects an options object");
    }
    InstallEngineCallbacks();
    ContextParams params = ContextParams::FromJs(info[0].As<Napi::Object>());

    Napi::Object self                    = env.GetInstanceData<Constructors>()->context.New({});
    Context::Unwrap(self)->handle_.SetLogger(env, info[1], info[2]);
    // The instance reaches JS only once loading succeeded, so nothing can use it half-loaded.
    auto* worker          = new LoadWorker(env, self, std::move(params), info[3]);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// generate(options, onProgress?) -> Promise<Array<{ width, height, channels, data }>>
Napi::Value Context::Generate(const Napi::CallbackInfo& info) {
    return StartJob<GenerateParams>(info, "generate");
}

// generateVideo(options, onProgress?) -> Promise<Array<{ width, height, channels, data }>> (the frames)
Napi::Value Context::GenerateVideo(const Napi::CallbackInfo& info) {
    return StartJob<VideoParams>(info, "generateVideo");
}

template <typename Params>
Napi::Value Context::StartJob(const Napi::CallbackInfo& info, const char* name) {
    Napi::Env env = info.Env();
    if (!handle_.usable()) {
        throw MakeError(env, "ERR_DISPOSED", "The model context has been disposed");
    }
    if (!broken_reason_.empty()) {
        throw MakeError(env, "ERR_ENGINE_STATE", broken_reason_);
    }
    if (handle_.busy()) {
        throw MakeError(env, "ERR_BUSY", "The model context is already generating; calls must be serialized");
    }
    if (!info[0].IsObject()) {
        throw Napi::TypeError::New(env, std::string(name) + " expects an options object");
    }
    Params params = Params::FromJs(info[0].As<Napi::Object>());
    handle_.BeginJob();
    auto* worker          = new GenerateWorker<Params>(env, Value(), std::move(params), info[1]);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value Context::Abort(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), handle_.Abort());
}

Napi::Value Context::Dispose(const Napi::CallbackInfo& info) {
    handle_.Dispose();
    return info.Env().Undefined();
}

Napi::Value Context::IsDisposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), handle_.disposed());
}

Napi::Value Context::SupportsImages(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), handle_.usable() && sd_ctx_supports_image_generation(handle_.get()));
}

Napi::Value Context::SupportsVideo(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), handle_.usable() && sd_ctx_supports_video_generation(handle_.get()));
}

}  // namespace diffusekit
