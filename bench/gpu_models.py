"""The Python half of bench/gpu-check.sh, run on the GPU machine (Python 3.12, PyTorch with CUDA).

  python3 bench/gpu_models.py checkpoint LAYOUT.json OUT.safetensors
      Writes a synthetic f16 checkpoint from a layout that bench/gpu-prepare.mjs exported from diffusekit's own
      architectures (src/models/architectures/): the real tensor names and shapes, filled by the same rules
      as src/models/synthesize.ts (norm scales 1, biases 0, weights uniform with variance 1/fan_in, embeddings
      small uniform), drawn from PyTorch's generator rather than synthesize.ts's xorshift (the values differ,
      their distribution does not). The checkpoint is generated on the GPU machine, since 2-7 GB cannot travel.

  python3 bench/gpu_models.py diffusers OUT.json
      Times diffusers on the same GPU: UNet2DConditionModel and AutoencoderKL of SD 1.5 and SDXL built from
      their configs with random weights, fp16, PyTorch SDPA attention (diffusers' default AttnProcessor2_0),
      classifier-free guidance as a batch of 2, the same sizes and steps as the diffusekit runs. Seconds per
      UNet step (median of the steps after one warm-up step) and VAE decode time.
"""
import json
import statistics
import sys
import time


def write_checkpoint(layout_file, out_file):
    import torch
    from safetensors.torch import save_file

    layout = json.load(open(layout_file))
    tensors = {}
    for i, spec in enumerate(layout):
        shape = tuple(spec["shape"])
        init = spec["init"]
        if init == "ones":
            value = torch.ones(shape, dtype=torch.float16)
        elif init == "zeros":
            value = torch.zeros(shape, dtype=torch.float16)
        else:
            fan_in = 1
            for n in shape[1:]:
                fan_in *= n
            amplitude = (3.0 / max(fan_in, 1)) ** 0.5 if init == "fan-in" else 0.02 * 3 ** 0.5
            generator = torch.Generator().manual_seed(i)
            value = (torch.rand(shape, generator=generator) * (2 * amplitude) - amplitude).to(torch.float16)
        tensors[spec["name"]] = value.contiguous()
    save_file(tensors, out_file)


SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8,
)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)
VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)


def time_diffusers(out_file):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    device = torch.device("cuda")
    results = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
    import diffusers

    results["diffusers"] = diffusers.__version__
    runs = {"sd15": (SD15_UNET, 512, 20, 768, False), "sdxl": (SDXL_UNET, 1024, 4, 2048, True)}
    for name, (config, size, steps, context_dim, sdxl) in runs.items():
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**config).to(device, torch.float16).eval()
        vae = AutoencoderKL(**VAE).to(device, torch.float16).eval()
        latent = torch.randn(2, 4, size // 8, size // 8, device=device, dtype=torch.float16)
        context = torch.randn(2, 77, context_dim, device=device, dtype=torch.float16)
        extra = {}
        if sdxl:
            extra["added_cond_kwargs"] = {
                "text_embeds": torch.randn(2, 1280, device=device, dtype=torch.float16),
                "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2, device=device, dtype=torch.float16),
            }
        step_times = []
        with torch.inference_mode():
            for step in range(steps + 1):  # one warm-up step
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                unet(latent, torch.tensor([999 - step * 40] * 2, device=device), encoder_hidden_states=context, **extra)
                torch.cuda.synchronize()
                step_times.append(time.perf_counter() - t0)
            vae.decode(latent[:1])  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            vae.decode(latent[:1])
            torch.cuda.synchronize()
            decode = time.perf_counter() - t0
        results[name] = {
            "size": size, "steps": steps, "secondsPerStep": statistics.median(step_times[1:]),
            "firstStepSeconds": step_times[0], "vaeDecodeSeconds": decode,
            "peakMemoryMiB": torch.cuda.max_memory_allocated() / 2**20,
        }
        del unet, vae
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    json.dump(results, open(out_file, "w"), indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if sys.argv[1] == "checkpoint":
        write_checkpoint(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "diffusers":
        time_diffusers(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
