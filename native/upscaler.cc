#include "upscaler.h"

#include <cstdlib>

#include "context.h"
#include "engine_callbacks.h"

namespace diffusekit {
namespace {

struct ProgressEvent {
    int step;
    int steps;
};

class LoadUpscalerWorker : public Napi::AsyncWorker {
   public:
    LoadUpscalerWorker(Napi::Env env, Napi::Object self, std::string path, int threads, int tile_size, bool conv_direct)
        : Napi::AsyncWorker(env, "diffusekit.loadUpscaler"),
          deferred_(Napi::Promise::Deferred::New(env)),
          path_(std::move(path)),
          threads_(threads),
          tile_size_(tile_size),
          conv_direct_(conv_direct) {
        self_.Reset(self, 1);
        upscaler_          = Upscaler::Unwrap(self);
        job_.min_log_level = upscaler_->handle().min_log_level();
        job_.on_log        = [this](int level, const std::string& text) { ForwardLog(upscaler_->handle().logger(), level, text); };
    }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
        ScopedJob scope(&job_);
        try {
            ctx_ = new_upscaler_ctx(path_.c_str(), false, conv_direct_, threads_, tile_size_);
        } catch (const EngineAssertion& failure) {
            SetError("Upscaler load failed: engine check failed: " + failure.message);
            return;
        }
        if (ctx_ == nullptr) {
            SetError(job_.ErrorSummary("Upscaler load failed"));
        }
    }

    void OnOK() override {
        upscaler_->handle().Attach(ctx_);
        deferred_.Resolve(self_.Value());
    }

    void OnError(const Napi::Error& error) override {
        deferred_.Reject(MakeError(Env(), "ERR_MODEL_LOAD", error.Message()).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_;
    Upscaler* upscaler_;
    std::string path_;
    int threads_;
    int tile_size_;
    bool conv_direct_;
    JobBinding job_;
    upscaler_ctx_t* ctx_ = nullptr;
};

class UpscaleWorker : public Napi::AsyncProgressQueueWorker<ProgressEvent> {
   public:
    UpscaleWorker(Napi::Env env, Napi::Object self, Napi::Buffer<uint8_t> pixels, sd_image_t input, Napi::Value on_progress)
        : Napi::AsyncProgressQueueWorker<ProgressEvent>(env, "diffusekit.upscale"),
          deferred_(Napi::Promise::Deferred::New(env)),
          input_(input) {
        self_.Reset(self, 1);
        pixels_.Reset(pixels, 1);  // keeps the input bytes alive while the worker reads them
        upscaler_ = Upscaler::Unwrap(self);
        if (on_progress.IsFunction()) {
            on_progress_.Reset(on_progress.As<Napi::Function>(), 1);
        }
        job_.min_log_level = upscaler_->handle().min_log_level();
        job_.abort_flag    = upscaler_->handle().abort_flag();
        job_.abort_armed.store(true);  // the upscaler handles a failed compute
        job_.on_log        = [this](int level, const std::string& text) { ForwardLog(upscaler_->handle().logger(), level, text); };
    }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute(const ExecutionProgress& progress) override {
        job_.on_progress = [&progress](int step, int steps, float) {
            ProgressEvent event{step, steps};
            progress.Send(&event, 1);
        };
        ScopedJob scope(&job_);
        try {
            if (!job_.abort_flag->load()) {
                output_ = upscale(upscaler_->handle().get(), input_, 0);
            }
        } catch (const EngineAssertion& failure) {
            SetError("Engine check failed: " + failure.message);
            return;
        }
        if (job_.abort_flag->load()) {
            SetError("Upscale aborted");
        } else if (output_.data == nullptr) {
            SetError(job_.ErrorSummary("Upscale failed"));
        }
        job_.on_progress = nullptr;
    }

    void OnProgress(const ProgressEvent* events, size_t count) override {
        if (on_progress_.IsEmpty()) {
            return;
        }
        for (size_t i = 0; i < count; i++) {
            on_progress_.Call({Napi::Number::New(Env(), events[i].step), Napi::Number::New(Env(), events[i].steps)});
        }
    }

    void OnOK() override {
        Napi::Env env    = Env();
        size_t size      = static_cast<size_t>(output_.width) * output_.height * output_.channel;
        Napi::Object out = Napi::Object::New(env);
        out.Set("width", output_.width);
        out.Set("height", output_.height);
        out.Set("channels", output_.channel);
        out.Set("data", Napi::Buffer<uint8_t>::Copy(env, output_.data, size));
        free(output_.data);
        upscaler_->handle().EndJob();
        deferred_.Resolve(out);
    }

    void OnError(const Napi::Error& error) override {
        free(output_.data);
        bool aborted = job_.abort_flag->load();
        upscaler_->handle().EndJob();
        deferred_.Reject(MakeError(Env(), aborted ? "ABORT_ERR" : "ERR_GENERATION", error.Message()).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_;
    Napi::Reference<Napi::Buffer<uint8_t>> pixels_;
    Napi::FunctionReference on_progress_;
    Upscaler* upscaler_;
    sd_image_t input_;
    sd_image_t output_{0, 0, 0, nullptr};
    JobBinding job_;
};

}  // namespace

Napi::Function Upscaler::Define(Napi::Env env) {
    return DefineClass(env, "Upscaler",
                       {
                           StaticMethod<&Upscaler::Load>("load"),
                           InstanceMethod<&Upscaler::Upscale>("upscale"),
                           InstanceMethod<&Upscaler::Abort>("abort"),
                           InstanceMethod<&Upscaler::Dispose>("dispose"),
                           InstanceAccessor<&Upscaler::Scale>("scale"),
                       });
}

Upscaler::Upscaler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Upscaler>(info) {}

// load({ model, threads, tileSize, convDirect }, onLog?, minLogLevel?) -> Promise<Upscaler>
Napi::Value Upscaler::Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
        throw Napi::TypeError::New(env, "load expects an options object");
    }
    InstallEngineCallbacks();
    Napi::Object options = info[0].As<Napi::Object>();
    std::string path     = options.Get("model").As<Napi::String>().Utf8Value();
    Napi::Value threads  = options.Get("threads");
    Napi::Value tile     = options.Get("tileSize");
    Napi::Value direct   = options.Get("convDirect");

    auto* constructors = env.GetInstanceData<Constructors>();
    Napi::Object self  = constructors->upscaler.New({});
    Upscaler::Unwrap(self)->handle_.SetLogger(env, info[1], info[2]);
    auto* worker = new LoadUpscalerWorker(env, self, path, threads.IsNumber() ? threads.As<Napi::Number>().Int32Value() : sd_get_num_physical_cores(),
                                          tile.IsNumber() ? tile.As<Napi::Number>().Int32Value() : 128,
                                          direct.IsBoolean() && direct.As<Napi::Boolean>().Value());
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// upscale({ width, height, channels, data }, onProgress?) -> Promise<{ width, height, channels, data }>
Napi::Value Upscaler::Upscale(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!handle_.usable()) {
        throw MakeError(env, "ERR_DISPOSED", "The upscaler has been disposed");
    }
    if (handle_.busy()) {
        throw MakeError(env, "ERR_BUSY", "The upscaler is already working; calls must be serialized");
    }
    Napi::Object image = info[0].As<Napi::Object>();
    auto pixels        = image.Get("data").As<Napi::Buffer<uint8_t>>();
    sd_image_t input{image.Get("width").As<Napi::Number>().Uint32Value(), image.Get("height").As<Napi::Number>().Uint32Value(),
                     image.Get("channels").As<Napi::Number>().Uint32Value(), pixels.Data()};
    if (static_cast<size_t>(input.width) * input.height * input.channel != pixels.Length()) {
        throw Napi::TypeError::New(env, "image: pixel buffer size does not match width * height * channels");
    }
    handle_.BeginJob();
    auto* worker          = new UpscaleWorker(env, Value(), pixels, input, info[1]);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value Upscaler::Abort(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), handle_.Abort());
}

Napi::Value Upscaler::Dispose(const Napi::CallbackInfo& info) {
    handle_.Dispose();
    return info.Env().Undefined();
}

Napi::Value Upscaler::Scale(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), handle_.usable() ? get_upscale_factor(handle_.get()) : 0);
}

}  // namespace diffusekit
