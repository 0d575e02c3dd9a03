// diffusekit: both classifier-free guidance passes of a UNet step (SD 1.x, 2.x, XL) as one batch-2 evaluation,
// as diffusers does: one graph of twice the rows instead of two. Costs the activations of a second image; on the
// CPU it measured no faster (our kernels stream the weights per block of rows either way; docs/engine.md). Included into the engine's stable-diffusion.cpp by patches/engine-cfg-batch.patch, after the types it
// uses; the sampler calls it where it would run the conditioned and unconditioned passes one after the other.

// The two conditions stacked along `batch_dim` (each padded with unit dimensions up to it), or an empty tensor
// when only one side has it; `compatible` turns false when their shapes differ (prompts of different lengths).
static sd::Tensor<float> diffusekit_stack_pair(const sd::Tensor<float>& a, const sd::Tensor<float>& b, size_t batch_dim, bool* compatible) {
    if (a.empty() && b.empty()) {
        return {};
    }
    sd::Tensor<float> lhs = a, rhs = b;
    while (static_cast<size_t>(lhs.dim()) <= batch_dim) lhs.unsqueeze_(lhs.dim());
    while (static_cast<size_t>(rhs.dim()) <= batch_dim) rhs.unsqueeze_(rhs.dim());
    if (a.empty() || b.empty() || lhs.shape() != rhs.shape() || lhs.dim() != static_cast<int64_t>(batch_dim) + 1 ||
        lhs.shape()[batch_dim] != 1) {
        *compatible = false;
        return {};
    }
    return sd::ops::concat(lhs, rhs, batch_dim);
}

// Runs `cond` and `uncond` as one batch and returns true, their outputs in `cond_out` and `uncond_out` (both
// empty when the compute failed); returns false, touching nothing, where this does not apply: batching off
// for this thread (diffusekit_cfg_batch_allowed), not a UNet, no unconditioned pass, a latent that already has
// a batch, or conditions the model would see in different shapes.
static bool diffusekit_cfg_batch(SDVersion version,
                                 const std::shared_ptr<DiffusionModel>& model,
                                 int n_threads,
                                 DiffusionParams params,
                                 const SDCondition& cond,
                                 const SDCondition& uncond,
                                 sd::Tensor<float>* cond_out,
                                 sd::Tensor<float>* uncond_out) {
    if (!diffusekit_cfg_batch_allowed() || !sd_version_is_unet(version) || uncond.empty() || cond.empty()) {
        return false;
    }
    const sd::Tensor<float>& x = *params.x;
    if (x.dim() < 3 || x.dim() > 4 || (x.dim() == 4 && x.shape()[3] != 1) || params.timesteps->numel() != 1) {
        return false;
    }
    for (const SDCondition* c : {&cond, &uncond}) {
        if (!c->c_t5_ids.empty() || !c->c_t5_weights.empty() || !c->extra_c_crossattns.empty()) {
            return false;
        }
    }
    bool compatible        = true;
    sd::Tensor<float> xs   = diffusekit_stack_pair(x, x, 3, &compatible);
    sd::Tensor<float> ts   = sd::ops::concat(*params.timesteps, *params.timesteps, 0);
    sd::Tensor<float> ctx  = diffusekit_stack_pair(cond.c_crossattn, uncond.c_crossattn, 2, &compatible);
    sd::Tensor<float> cat  = diffusekit_stack_pair(cond.c_concat, uncond.c_concat, 3, &compatible);
    sd::Tensor<float> vec  = diffusekit_stack_pair(cond.c_vector, uncond.c_vector, 1, &compatible);
    if (!compatible) {
        return false;
    }
    params.x           = &xs;
    params.timesteps   = &ts;
    params.context     = ctx.empty() ? nullptr : &ctx;
    params.c_concat    = cat.empty() ? nullptr : &cat;
    params.y           = vec.empty() ? nullptr : &vec;
    params.t5_ids      = nullptr;
    params.t5_weights  = nullptr;
    params.skip_layers = nullptr;

    sd::Tensor<float> out = model->compute(n_threads, params);
    if (out.empty() || out.dim() != 4 || out.shape()[3] != 2) {
        if (!out.empty()) {
            LOG_ERROR("batched guidance: unexpected output shape %s", sd::tensor_shape_to_string(out.shape()).c_str());
        }
        *cond_out   = {};
        *uncond_out = {};
        return true;
    }
    *cond_out   = sd::ops::slice(out, 3, 0, 1).reshape(x.shape());
    *uncond_out = sd::ops::slice(out, 3, 1, 2).reshape(x.shape());
    diffusekit_count_cfg_batch();
    return true;
}
