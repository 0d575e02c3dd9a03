#include "params.h"

namespace diffusekit {
namespace {

std::string GetString(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

bool Has(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    return !v.IsUndefined() && !v.IsNull();
}

double GetNumber(const Napi::Object& o, const char* key, double fallback) {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool GetBool(const Napi::Object& o, const char* key, bool fallback) {
    Napi::Value v = o.Get(key);
    return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

const char* OrNull(const std::string& s) {
    return s.empty() ? nullptr : s.c_str();
}

template <typename Enum>
Enum ParseEnum(const Napi::Env& env, const std::string& name, Enum (*parse)(const char*), Enum count, const char* what) {
    Enum value = parse(name.c_str());
    if (value == count) {
        throw Napi::TypeError::New(env, "Unknown " + std::string(what) + " '" + name + "'");
    }
    return value;
}

OwnedImage GetImage(const Napi::Object& o, const char* key) {
    OwnedImage image;
    if (!Has(o, key)) {
        return image;
    }
    Napi::Object img = o.Get(key).As<Napi::Object>();
    auto data        = img.Get("data").As<Napi::Buffer<uint8_t>>();
    image.pixels.assign(data.Data(), data.Data() + data.Length());
    image.raw.width   = static_cast<uint32_t>(GetNumber(img, "width", 0));
    image.raw.height  = static_cast<uint32_t>(GetNumber(img, "height", 0));
    image.raw.channel = static_cast<uint32_t>(GetNumber(img, "channels", 3));
    // Memory safety, not policy: the engine reads width * height * channel bytes.
    if (static_cast<size_t>(image.raw.width) * image.raw.height * image.raw.channel != image.pixels.size()) {
        throw Napi::TypeError::New(o.Env(), std::string(key) + ": pixel buffer size does not match width * height * channels");
    }
    return image;
}

// Step caching (EasyCache and its siblings): TypeScript sends the engine's mode number and the thresholds it chose.
void ReadCache(const Napi::Object& o, sd_cache_params_t& cache) {
    if (!Has(o, "cache")) {
        return;
    }
    Napi::Object c        = o.Get("cache").As<Napi::Object>();
    cache.mode            = static_cast<sd_cache_mode_t>(GetNumber(c, "mode", cache.mode));
    cache.reuse_threshold = static_cast<float>(GetNumber(c, "reuseThreshold", cache.reuse_threshold));
    cache.start_percent   = static_cast<float>(GetNumber(c, "startPercent", cache.start_percent));
    cache.end_percent     = static_cast<float>(GetNumber(c, "endPercent", cache.end_percent));
}

// Sampling options shared by image and video jobs.
void ReadSampling(const Napi::Env& env, const Napi::Object& o, sd_sample_params_t& sample, bool& has_sampler, bool& has_scheduler) {
    sample.sample_steps     = static_cast<int>(GetNumber(o, "steps", sample.sample_steps));
    sample.guidance.txt_cfg = static_cast<float>(GetNumber(o, "guidanceScale", sample.guidance.txt_cfg));
    sample.eta              = static_cast<float>(GetNumber(o, "eta", sample.eta));
    sample.flow_shift       = static_cast<float>(GetNumber(o, "flowShift", sample.flow_shift));
    sample.guidance.distilled_guidance =
        static_cast<float>(GetNumber(o, "distilledGuidance", sample.guidance.distilled_guidance));
    has_sampler             = Has(o, "sampler");
    has_scheduler           = Has(o, "scheduler");
    if (has_sampler) {
        sample.sample_method = ParseEnum(env, GetString(o, "sampler"), str_to_sample_method, SAMPLE_METHOD_COUNT, "sampler");
    }
    if (has_scheduler) {
        sample.scheduler = ParseEnum(env, GetString(o, "scheduler"), str_to_scheduler, SCHEDULER_COUNT, "scheduler");
    }
}

void DefaultSampling(sd_ctx_t* ctx, sd_sample_params_t& sample, bool has_sampler, bool has_scheduler) {
    if (!has_sampler) {
        sample.sample_method = sd_get_default_sample_method(ctx);
    }
    if (!has_scheduler) {
        sample.scheduler = sd_get_default_scheduler(ctx, sample.sample_method);
    }
}

void ReadLoras(const Napi::Object& o, std::vector<std::string>& paths, std::vector<sd_lora_t>& loras) {
    if (!Has(o, "loras")) {
        return;
    }
    Napi::Array list = o.Get("loras").As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
        Napi::Object lora = list.Get(i).As<Napi::Object>();
        paths.push_back(GetString(lora, "path"));
        loras.push_back(sd_lora_t{false, static_cast<float>(GetNumber(lora, "multiplier", 1.0)), nullptr});
    }
}

int64_t ReadSeed(const Napi::Object& o) {
    Napi::Value seed = o.Get("seed");
    if (seed.IsBigInt()) {
        bool lossless = true;
        return seed.As<Napi::BigInt>().Int64Value(&lossless);
    }
    return static_cast<int64_t>(GetNumber(o, "seed", 42));
}

}  // namespace

ContextParams ContextParams::FromJs(const Napi::Object& o) {
    Napi::Env env = o.Env();
    ContextParams p;
    sd_ctx_params_init(&p.raw);
    p.model           = GetString(o, "model");
    p.diffusion_model = GetString(o, "diffusionModel");
    p.vae             = GetString(o, "vae");
    p.taesd           = GetString(o, "taesd");
    p.clip_l          = GetString(o, "clipL");
    p.clip_g          = GetString(o, "clipG");
    p.t5xxl           = GetString(o, "t5xxl");
    p.llm             = GetString(o, "llm");
    p.llm_vision      = GetString(o, "llmVision");
    p.clip_vision     = GetString(o, "clipVision");
    p.high_noise_diffusion_model = GetString(o, "highNoiseDiffusionModel");
    p.control_net     = GetString(o, "controlNet");

    if (Has(o, "embeddings")) {
        Napi::Array list = o.Get("embeddings").As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) {
            Napi::Object e = list.Get(i).As<Napi::Object>();
            p.embedding_names.push_back(GetString(e, "name"));
            p.embedding_paths.push_back(GetString(e, "path"));
        }
    }
    p.PointAtOwnedStrings();

    p.raw.n_threads        = static_cast<int>(GetNumber(o, "threads", p.raw.n_threads));
    p.raw.vae_decode_only  = GetBool(o, "vaeDecodeOnly", false);
    // The engine's default frees weights after their first use, which makes a context single-use.
    p.raw.free_params_immediately = GetBool(o, "freeParamsImmediately", false);
    p.raw.flash_attn       = GetBool(o, "flashAttention", p.raw.flash_attn);
    p.raw.diffusion_flash_attn = p.raw.flash_attn;
    p.raw.diffusion_conv_direct = GetBool(o, "convDirect", false);
    p.raw.vae_conv_direct       = p.raw.diffusion_conv_direct;
    p.raw.enable_mmap      = GetBool(o, "mmap", p.raw.enable_mmap);
    p.raw.offload_params_to_cpu = GetBool(o, "offloadToCpu", p.raw.offload_params_to_cpu);
    p.raw.keep_vae_on_cpu  = GetBool(o, "vaeOnCpu", p.raw.keep_vae_on_cpu);
    p.raw.keep_clip_on_cpu = GetBool(o, "clipOnCpu", p.raw.keep_clip_on_cpu);
    p.raw.keep_control_net_on_cpu = GetBool(o, "controlNetOnCpu", p.raw.keep_control_net_on_cpu);
    p.raw.max_vram         = static_cast<float>(GetNumber(o, "maxVram", p.raw.max_vram));
    p.device               = GetString(o, "device");
    p.compute.cpu_bf16     = GetBool(o, "cpuBf16", false);
    p.compute.cfg_batch    = GetBool(o, "batchCfg", false);
    p.raw.tae_preview_only = GetBool(o, "taesdPreviewOnly", p.raw.tae_preview_only);
    if (Has(o, "weightType")) {
        p.raw.wtype = ParseEnum(env, GetString(o, "weightType"), str_to_sd_type, SD_TYPE_COUNT, "weight type");
    }
    if (Has(o, "prediction")) {
        p.raw.prediction = ParseEnum(env, GetString(o, "prediction"), str_to_prediction, PREDICTION_COUNT, "prediction type");
    }
    if (Has(o, "loraApplyMode")) {
        p.raw.lora_apply_mode =
            ParseEnum(env, GetString(o, "loraApplyMode"), str_to_lora_apply_mode, LORA_APPLY_MODE_COUNT, "LoRA apply mode");
    }
    if (Has(o, "rng")) {
        p.raw.rng_type = ParseEnum(env, GetString(o, "rng"), str_to_rng_type, RNG_TYPE_COUNT, "rng");
        p.raw.sampler_rng_type = p.raw.rng_type;
    }
    return p;
}

ContextParams::ContextParams(ContextParams&& other) noexcept
    : model(std::move(other.model)),
      diffusion_model(std::move(other.diffusion_model)),
      high_noise_diffusion_model(std::move(other.high_noise_diffusion_model)),
      vae(std::move(other.vae)),
      taesd(std::move(other.taesd)),
      clip_l(std::move(other.clip_l)),
      clip_g(std::move(other.clip_g)),
      t5xxl(std::move(other.t5xxl)),
      llm(std::move(other.llm)),
      llm_vision(std::move(other.llm_vision)),
      clip_vision(std::move(other.clip_vision)),
      control_net(std::move(other.control_net)),
      device(std::move(other.device)),
      compute(other.compute),
      embedding_names(std::move(other.embedding_names)),
      embedding_paths(std::move(other.embedding_paths)),
      raw(other.raw) {
    PointAtOwnedStrings();
}

void ContextParams::PointAtOwnedStrings() {
    raw.model_path           = OrNull(model);
    raw.diffusion_model_path = OrNull(diffusion_model);
    raw.vae_path             = OrNull(vae);
    raw.taesd_path           = OrNull(taesd);
    raw.clip_l_path          = OrNull(clip_l);
    raw.clip_g_path          = OrNull(clip_g);
    raw.t5xxl_path           = OrNull(t5xxl);
    raw.llm_path             = OrNull(llm);
    raw.llm_vision_path      = OrNull(llm_vision);
    raw.clip_vision_path     = OrNull(clip_vision);
    raw.high_noise_diffusion_model_path = OrNull(high_noise_diffusion_model);
    raw.control_net_path     = OrNull(control_net);
    embeddings.clear();
    for (size_t i = 0; i < embedding_names.size(); i++) {
        embeddings.push_back(sd_embedding_t{embedding_names[i].c_str(), embedding_paths[i].c_str()});
    }
    raw.embeddings      = embeddings.empty() ? nullptr : embeddings.data();
    raw.embedding_count = static_cast<uint32_t>(embeddings.size());
}

GenerateParams GenerateParams::FromJs(const Napi::Object& o) {
    Napi::Env env = o.Env();
    GenerateParams p;
    sd_img_gen_params_init(&p.raw);
    p.prompt          = GetString(o, "prompt");
    p.negative_prompt = GetString(o, "negativePrompt");
    p.raw.clip_skip   = static_cast<int>(GetNumber(o, "clipSkip", p.raw.clip_skip));
    p.raw.width       = static_cast<int>(GetNumber(o, "width", p.raw.width));
    p.raw.height      = static_cast<int>(GetNumber(o, "height", p.raw.height));
    p.raw.strength    = static_cast<float>(GetNumber(o, "strength", p.raw.strength));
    p.raw.batch_count = static_cast<int>(GetNumber(o, "batchCount", 1));

    p.raw.seed = ReadSeed(o);
    ReadSampling(env, o, p.raw.sample_params, p.has_sampler, p.has_scheduler);

    if (Has(o, "vaeTiling")) {
        Napi::Object t                         = o.Get("vaeTiling").As<Napi::Object>();
        p.raw.vae_tiling_params.enabled        = true;
        p.raw.vae_tiling_params.tile_size_x    = static_cast<int>(GetNumber(t, "tileSize", p.raw.vae_tiling_params.tile_size_x));
        p.raw.vae_tiling_params.tile_size_y    = p.raw.vae_tiling_params.tile_size_x;
        p.raw.vae_tiling_params.target_overlap = static_cast<float>(GetNumber(t, "overlap", p.raw.vae_tiling_params.target_overlap));
    }

    ReadLoras(o, p.lora_paths, p.loras);
    p.init_image        = GetImage(o, "initImage");
    p.mask_image        = GetImage(o, "maskImage");
    p.control_image     = GetImage(o, "controlImage");
    if (Has(o, "refImages")) {
        Napi::Array list = o.Get("refImages").As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) {
            Napi::Object holder = Napi::Object::New(env);
            holder.Set("image", list.Get(i));
            p.ref_images.push_back(GetImage(holder, "image"));
        }
    }
    ReadCache(o, p.raw.cache);
    p.raw.control_strength = static_cast<float>(GetNumber(o, "controlStrength", p.raw.control_strength));
    if (Has(o, "hires")) {
        Napi::Object h                = o.Get("hires").As<Napi::Object>();
        p.hires_model                 = GetString(h, "modelPath");
        p.raw.hires.enabled           = true;
        p.raw.hires.upscaler          = ParseEnum(env, GetString(h, "upscaler"), str_to_sd_hires_upscaler, SD_HIRES_UPSCALER_COUNT, "hires upscaler");
        p.raw.hires.target_width      = static_cast<int>(GetNumber(h, "width", 0));
        p.raw.hires.target_height     = static_cast<int>(GetNumber(h, "height", 0));
        p.raw.hires.steps             = static_cast<int>(GetNumber(h, "steps", p.raw.hires.steps));
        p.raw.hires.denoising_strength = static_cast<float>(GetNumber(h, "denoisingStrength", p.raw.hires.denoising_strength));
    }
    if (Has(o, "previewMode")) {
        p.preview_mode = ParseEnum(env, GetString(o, "previewMode"), str_to_preview, PREVIEW_COUNT, "preview mode");
    }
    if (Has(o, "controlCanny")) {
        Napi::Object c  = o.Get("controlCanny").As<Napi::Object>();
        p.canny         = true;
        p.canny_high    = static_cast<float>(GetNumber(c, "high", p.canny_high));
        p.canny_low     = static_cast<float>(GetNumber(c, "low", p.canny_low));
        p.canny_weak    = static_cast<float>(GetNumber(c, "weak", p.canny_weak));
        p.canny_strong  = static_cast<float>(GetNumber(c, "strong", p.canny_strong));
        p.canny_inverse = GetBool(c, "inverse", false);
    }
    return p;
}

void GenerateParams::Finalize(sd_ctx_t* ctx) {
    DefaultSampling(ctx, raw.sample_params, has_sampler, has_scheduler);
    raw.prompt          = prompt.c_str();
    raw.negative_prompt = negative_prompt.c_str();
    for (size_t i = 0; i < loras.size(); i++) {
        loras[i].path = lora_paths[i].c_str();
    }
    raw.loras      = loras.empty() ? nullptr : loras.data();
    raw.lora_count = static_cast<uint32_t>(loras.size());
    for (OwnedImage* image : {&init_image, &mask_image, &control_image}) {
        image->raw.data = image->pixels.empty() ? nullptr : image->pixels.data();
    }
    if (canny && control_image.raw.data != nullptr) {
        preprocess_canny(control_image.raw, canny_high, canny_low, canny_weak, canny_strong, canny_inverse);
        canny = false;  // once, even if Finalize runs again
    }
    raw.hires.model_path = hires_model.empty() ? nullptr : hires_model.c_str();
    ref_views.clear();
    for (OwnedImage& image : ref_images) {
        image.raw.data = image.pixels.data();
        ref_views.push_back(image.raw);
    }
    raw.ref_images       = ref_views.empty() ? nullptr : ref_views.data();
    raw.ref_images_count = static_cast<int>(ref_views.size());
    raw.init_image    = init_image.raw;
    raw.mask_image    = mask_image.raw;
    raw.control_image = control_image.raw;
}

sd_image_t* GenerateParams::Run(sd_ctx_t* ctx, int* count) {
    *count = raw.batch_count;
    return generate_image(ctx, &raw);
}

VideoParams VideoParams::FromJs(const Napi::Object& o) {
    Napi::Env env = o.Env();
    VideoParams p;
    sd_vid_gen_params_init(&p.raw);
    p.prompt           = GetString(o, "prompt");
    p.negative_prompt  = GetString(o, "negativePrompt");
    p.raw.clip_skip    = static_cast<int>(GetNumber(o, "clipSkip", p.raw.clip_skip));
    p.raw.width        = static_cast<int>(GetNumber(o, "width", p.raw.width));
    p.raw.height       = static_cast<int>(GetNumber(o, "height", p.raw.height));
    p.raw.strength     = static_cast<float>(GetNumber(o, "strength", p.raw.strength));
    p.raw.video_frames = static_cast<int>(GetNumber(o, "frames", p.raw.video_frames));
    ReadCache(o, p.raw.cache);
    p.raw.seed         = ReadSeed(o);
    ReadSampling(env, o, p.raw.sample_params, p.has_sampler, p.has_scheduler);
    ReadLoras(o, p.lora_paths, p.loras);
    p.init_image = GetImage(o, "initImage");
    p.end_image  = GetImage(o, "endImage");
    if (Has(o, "previewMode")) {
        p.preview_mode = ParseEnum(env, GetString(o, "previewMode"), str_to_preview, PREVIEW_COUNT, "preview mode");
    }
    return p;
}

void VideoParams::Finalize(sd_ctx_t* ctx) {
    DefaultSampling(ctx, raw.sample_params, has_sampler, has_scheduler);
    raw.prompt          = prompt.c_str();
    raw.negative_prompt = negative_prompt.c_str();
    for (size_t i = 0; i < loras.size(); i++) {
        loras[i].path = lora_paths[i].c_str();
    }
    raw.loras      = loras.empty() ? nullptr : loras.data();
    raw.lora_count = static_cast<uint32_t>(loras.size());
    for (OwnedImage* image : {&init_image, &end_image}) {
        image->raw.data = image->pixels.empty() ? nullptr : image->pixels.data();
    }
    raw.init_image = init_image.raw;
    raw.end_image  = end_image.raw;
}

sd_image_t* VideoParams::Run(sd_ctx_t* ctx, int* count) {
    *count = 0;
    return generate_video(ctx, &raw, count);
}

}  // namespace diffusekit
