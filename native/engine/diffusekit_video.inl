// diffusekit: image to video on text-to-video models (Wan2.1 T2V), the SDEdit way: every frame starts from the
// init image, encoded as a still clip and noised to `strength`, and the schedule is cut to match, as the
// engine's own img2img does. Models with their own image conditioning (I2V, TI2V, VACE) have used the image
// already and are left alone. Included into the engine's stable-diffusion.cpp by patches/engine-video-from-image.patch,
// after the types it uses.

static bool diffusekit_video_from_image(sd_ctx_t* sd_ctx,
                                        const sd_vid_gen_params_t* params,
                                        const GenerationRequest& request,
                                        ImageGenerationLatents* latents,
                                        SamplePlan* plan) {
    if (params->init_image.data == nullptr || !latents->concat_latent.empty() || !latents->denoise_mask.empty() ||
        !latents->vace_context.empty()) {
        return true;
    }
    LOG_INFO("IMG2VID (from a still, strength %.2f)", params->strength);
    sd::Tensor<float> frame = sd_image_to_tensor(params->init_image, request.width, request.height).unsqueeze(2);
    sd::Tensor<float> still = sd::full<float>({request.width, request.height, request.frames, 3, 1}, 0.f);
    for (int i = 0; i < request.frames; i++) {
        sd::ops::slice_assign(&still, 2, i, i + 1, frame);
    }
    sd::Tensor<float> latent = sd_ctx->sd->encode_first_stage(still);
    if (latent.empty()) {
        LOG_ERROR("failed to encode the init image as a video");
        return false;
    }
    latents->init_latent = std::move(latent);
    if (params->strength < 1.f) {
        size_t t_enc = static_cast<size_t>(plan->sample_steps * params->strength);
        if (t_enc == static_cast<size_t>(plan->sample_steps)) {
            t_enc--;
        }
        plan->sigmas.erase(plan->sigmas.begin(), plan->sigmas.begin() + (plan->sample_steps - t_enc - 1));
        plan->sample_steps = static_cast<int>(plan->sigmas.size() - 1);
    }
    return true;
}
