// Marshals the plain option objects that the TypeScript layer builds into engine parameter structs.
// Policy (defaults, ranges, name mapping) lives in TypeScript; this only copies and keeps strings alive.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "compute_settings.h"
#include "stable-diffusion.h"

namespace diffusekit {

struct ContextParams {
    std::string model, diffusion_model, high_noise_diffusion_model, vae, taesd, clip_l, clip_g, t5xxl, llm, llm_vision, clip_vision,
        control_net;
    std::string device;  // ggml's device name for the main backend; empty: the engine's choice
    ComputeSettings compute;
    std::vector<std::string> embedding_names, embedding_paths;
    std::vector<sd_embedding_t> embeddings;
    sd_ctx_params_t raw;

    static ContextParams FromJs(const Napi::Object& options);
    ContextParams() = default;
    ContextParams(ContextParams&& other) noexcept;  // re-points raw's strings at the moved-to copies

   private:
    void PointAtOwnedStrings();
};

struct OwnedImage {
    std::vector<uint8_t> pixels;
    sd_image_t raw{0, 0, 0, nullptr};
};

struct GenerateParams {
    std::string prompt, negative_prompt, hires_model;
    std::vector<std::string> lora_paths;
    std::vector<sd_lora_t> loras;
    OwnedImage init_image, mask_image, control_image;
    // Reference images of instruction editing (Kontext, Qwen-Image-Edit, FLUX.2), and their engine views.
    std::vector<OwnedImage> ref_images;
    std::vector<sd_image_t> ref_views;
    // Canny edge detection of the control image, run by the worker before generating.
    bool canny = false;
    float canny_high = 0.08f, canny_low = 0.08f, canny_weak = 0.8f, canny_strong = 1.0f;
    bool canny_inverse = false;
    int preview_mode   = 0;  // preview_t
    bool has_sampler   = false;
    bool has_scheduler = false;
    sd_img_gen_params_t raw;

    static GenerateParams FromJs(const Napi::Object& options);
    // Fills what depends on the loaded model (default sampler and scheduler) and fixes up pointers.
    void Finalize(sd_ctx_t* ctx);
    // Runs the job; the engine allocates the images, `count` says how many.
    sd_image_t* Run(sd_ctx_t* ctx, int* count);
};

// Text or image to video (Wan): frames come back as images.
struct VideoParams {
    std::string prompt, negative_prompt;
    std::vector<std::string> lora_paths;
    std::vector<sd_lora_t> loras;
    OwnedImage init_image, end_image;
    int preview_mode   = 0;
    bool has_sampler   = false;
    bool has_scheduler = false;
    sd_vid_gen_params_t raw;

    static VideoParams FromJs(const Napi::Object& options);
    void Finalize(sd_ctx_t* ctx);
    sd_image_t* Run(sd_ctx_t* ctx, int* count);
};

}  // namespace diffusekit
