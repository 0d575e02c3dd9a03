#!/usr/bin/env python3
"""diffusekit's LoRA trainer: diffusers + peft on a Stable Diffusion 1.x/2.x or SDXL UNet, run by diffusekit as a child process.

Input: a base model as a diffusers folder (unet/, vae/, text_encoder/, for SDXL text_encoder_2/, optional tokenizer/,
tokenizer_2/ and scheduler/) and a dataset folder that diffusekit has already prepared (images cropped to the
training resolution, one caption each, with each image's original size and crop position, listed in dataset.json).
SDXL is conditioned as it was trained: the penultimate hidden states of both text encoders side by side as the
context, the second encoder's projected pooled output and the size/crop ids (original size, crop top-left, target
size) through the UNet's added embedding. Output: one .safetensors LoRA in the kohya layout (lora_unet_<module>.lora_down/.lora_up/
.alpha) that diffusekit's engine loads; with --lora-type loha a LyCORIS LoHa (peft's LoHaConfig) in LyCORIS's layout
(lora_unet_<module>.hada_w1_a/.hada_w1_b/.hada_w2_a/.hada_w2_b/.alpha), which the engine loads too.

Progress goes to stdout as JSON lines, one object per event ("loading", "ready", "step", "checkpoint", "resumed",
"done", "error"); everything else (library warnings) goes to stderr. A checkpoint of the LoRA and the optimizer is
written every --checkpoint-every steps, so a run killed part way resumes from it when started again with the same
--checkpoint-dir.
"""
import argparse
import ctypes
import gc
import gzip
import json
import math
import os
import signal
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def die_with_parent():
    """Linux: end this process when the process that started it dies (no orphaned trainers after kill -9)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="base model: a diffusers folder")
    p.add_argument("--data", required=True, help="prepared dataset folder (dataset.json, images, captions)")
    p.add_argument("--output", required=True, help="the LoRA .safetensors to write")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--lora-type", choices=["lora", "loha"], default="lora", help="lora (kohya LoRA) or loha (LyCORIS LoHa)")
    p.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default: the rank)")
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: none)")
    p.add_argument("--base-model-name", default="", help="recorded in the file's metadata")
    return p.parse_args()


def clip_tokenizer_files(folder):
    """The CLIP BPE tokenizer's vocab.json and merges.txt, built from open_clip's merges file when the model folder
    has no tokenizer/ (the CLIP vocabulary is the 256 byte symbols, the same with </w>, the first 48894 merges and
    the two special tokens: 49408 entries)."""
    import importlib.util

    # open_clip_torch is installed without its dependencies only for this file: it is read, never imported.
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the model folder has no tokenizer/ and open_clip_torch (the CLIP merges) is not installed: run `diffusekit trainer setup`")
    bpe = os.path.join(list(spec.submodule_search_locations)[0], "bpe_simple_vocab_16e6.txt.gz")
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = [chr(c) for c in cs]
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return folder


def load_tokenizer(model_dir, work_dir, subfolder="tokenizer", **overrides):
    from transformers import CLIPTokenizer

    own = os.path.join(model_dir, subfolder)
    if os.path.isfile(os.path.join(own, "vocab.json")):
        return CLIPTokenizer.from_pretrained(own)
    return CLIPTokenizer.from_pretrained(clip_tokenizer_files(os.path.join(work_dir, "clip-tokenizer")), **overrides)


def is_sdxl(model_dir):
    """SDXL's UNet takes the pooled text and size ids through its added embedding ("text_time")."""
    with open(os.path.join(model_dir, "unet", "config.json"), encoding="utf-8") as f:
        return json.load(f).get("addition_embed_type") == "text_time"


def encode_captions(model_dir, work_dir, captions, device, sdxl):
    """Each caption's text conditioning, computed once: SD 1.x/2.x the text encoder's last hidden state; SDXL the
    penultimate hidden states of both encoders concatenated (768 + 1280 = 2048) and the second one's projected
    pooled output. Returns (context, pooled or None) per caption."""
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    def ids(tokenizer, caption, max_tokens):
        return tokenizer(caption, padding="max_length", max_length=max_tokens, truncation=True, return_tensors="pt").input_ids.to(device)

    encoder = CLIPTextModel.from_pretrained(model_dir, subfolder="text_encoder", torch_dtype=torch.float32).to(device).eval()
    tokenizer = load_tokenizer(model_dir, work_dir)
    max_tokens = encoder.config.max_position_embeddings
    with torch.no_grad():
        if not sdxl:
            return [(encoder(ids(tokenizer, c, max_tokens))[0], None) for c in captions]
        first = [encoder(ids(tokenizer, c, max_tokens), output_hidden_states=True).hidden_states[-2] for c in captions]
        del encoder  # before the 0.7 B-parameter second encoder loads
        # SDXL's second tokenizer pads with "!" rather than the end token
        tokenizer_2 = load_tokenizer(model_dir, work_dir, "tokenizer_2", pad_token="!")
        encoder_2 = CLIPTextModelWithProjection.from_pretrained(model_dir, subfolder="text_encoder_2", torch_dtype=torch.float32).to(device).eval()
        out = []
        for caption, hidden in zip(captions, first):
            second = encoder_2(ids(tokenizer_2, caption, encoder_2.config.max_position_embeddings), output_hidden_states=True)
            out.append((torch.cat([hidden, second.hidden_states[-2]], dim=-1), second.text_embeds))
        return out


def encode_images(model_dir, data_dir, items, device):
    """Each image's latent distribution (mean, std), computed once, and the VAE's latent scale."""
    import numpy as np
    import torch
    from diffusers import AutoencoderKL
    from PIL import Image

    vae = AutoencoderKL.from_pretrained(model_dir, subfolder="vae", torch_dtype=torch.float32).to(device).eval()
    out = []
    with torch.no_grad():
        for item in items:
            image = Image.open(os.path.join(data_dir, item["image"])).convert("RGB")
            pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0).to(device)
            dist = vae.encode(pixels).latent_dist
            out.append((dist.mean, dist.std))
    return out, getattr(vae.config, "scaling_factor", 0.18215)


def time_ids(item, resolution, device):
    """SDXL's size conditioning of one image: original (height, width), crop (top, left), target (height, width)."""
    import torch

    original = item.get("originalSize", [resolution, resolution])
    crop = item.get("cropTopLeft", [0, 0])
    return torch.tensor([[*original, *crop, resolution, resolution]], dtype=torch.float32, device=device)


def load_scheduler(model_dir):
    from diffusers import DDPMScheduler

    if os.path.isfile(os.path.join(model_dir, "scheduler", "scheduler_config.json")):
        return DDPMScheduler.from_pretrained(model_dir, subfolder="scheduler")
    # Stable Diffusion 1.x's training schedule.
    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="epsilon")


# peft's parameter names to kohya's / LyCORIS's: LoRA's A and B are lora_down and lora_up; LoHa's four factors
# keep their names (ΔW = (w1_a @ w1_b) * (w2_a @ w2_b) * alpha / rank in both).
KOHYA_PARTS = {
    "lora_A.weight": "lora_down.weight",
    "lora_B.weight": "lora_up.weight",
    "hada_w1_a": "hada_w1_a",
    "hada_w1_b": "hada_w1_b",
    "hada_w2_a": "hada_w2_a",
    "hada_w2_b": "hada_w2_b",
}


def kohya_state_dict(peft_state, alpha, dtype):
    """peft's `down_blocks.0....to_q.lora_A.weight` (or `.hada_w1_a`) names to kohya's
    `lora_unet_down_blocks_0_..._to_q.lora_down.weight` (or `.hada_w1_a`), one `.alpha` per module."""
    import torch

    out = {}
    for name, tensor in peft_state.items():
        part = next(p for p in KOHYA_PARTS if name.endswith("." + p))
        module = name[: -len(part) - 1].removeprefix("base_model.model.").removeprefix("unet.")
        key = "lora_unet_" + module.replace(".", "_")
        out[f"{key}.{KOHYA_PARTS[part]}"] = tensor.detach().to(dtype).contiguous()
        out[f"{key}.alpha"] = torch.tensor(float(alpha), dtype=dtype)
    return out


def adapter_config(lora_type, rank, alpha):
    from peft import LoHaConfig, LoraConfig

    if lora_type == "loha":
        # peft starts w2_b at zero, so the adapter begins as a no-op, as a LoRA does.
        return LoHaConfig(r=rank, alpha=alpha, target_modules=TARGET_MODULES, init_weights=True)
    return LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=TARGET_MODULES)


def main():
    args = parse_args()
    # SIGTERM keeps its default action: the process ends at once, even inside a long torch call (checkpoints are
    # written aside and renamed, so no half-written file is left).
    die_with_parent()
    started = time.time()
    emit("loading", model=args.model)

    import torch
    import torch.nn.functional as F
    from diffusers import UNet2DConditionModel
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import save_file

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    with open(os.path.join(args.data, "dataset.json"), encoding="utf-8") as f:
        dataset = json.load(f)
    work_dir = args.checkpoint_dir or args.data
    sdxl = is_sdxl(args.model)

    # The text encoders and the VAE stay frozen: each caption's conditioning and each image's latent distribution
    # are computed once (kohya's cache_latents / cache_text_encoder_outputs), each model freed before the next
    # loads, so a step is one UNet forward and backward and the UNet never shares memory with them.
    items = dataset["items"]
    texts = encode_captions(args.model, work_dir, [item["caption"] for item in items], device, sdxl)
    latents_of, scaling = encode_images(args.model, args.data, items, device)
    resolution = int(dataset.get("resolution", 0)) or 8 * latents_of[0][0].shape[-1]
    examples = [(mean, std, context, pooled, time_ids(item, resolution, device) if sdxl else None)
                for item, (mean, std), (context, pooled) in zip(items, latents_of, texts)]
    gc.collect()  # the encoders went with their functions' frames: give their memory back before the UNet loads
    unet = UNet2DConditionModel.from_pretrained(args.model, subfolder="unet", torch_dtype=torch.float32).to(device)
    unet.requires_grad_(False)
    scheduler = load_scheduler(args.model)

    alpha = args.alpha if args.alpha is not None else float(args.rank)
    unet.add_adapter(adapter_config(args.lora_type, args.rank, alpha))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate)
    unet.train()

    start = 0
    checkpoint = os.path.join(args.checkpoint_dir, "checkpoint.pt") if args.checkpoint_dir else None
    if checkpoint and os.path.isfile(checkpoint):
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        set_peft_model_state_dict(unet, state["lora"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start = state["step"]
        emit("resumed", step=start)

    emit("ready", steps=args.steps, images=len(examples), parameters=sum(p.numel() for p in params), seconds=round(time.time() - started, 3), device=str(device),
         architecture="sdxl" if sdxl else "sd")
    step_times = []
    for step in range(start, args.steps):
        t0 = time.time()
        batch = [examples[(step * args.batch_size + i) % len(examples)] for i in range(args.batch_size)]
        mean = torch.cat([b[0] for b in batch])
        std = torch.cat([b[1] for b in batch])
        context = torch.cat([b[2] for b in batch])
        latents = (mean + std * torch.randn(mean.shape, generator=generator).to(device)) * scaling
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator).to(device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        target = scheduler.get_velocity(latents, noise, timesteps) if scheduler.config.prediction_type == "v_prediction" else noise
        added = {"text_embeds": torch.cat([b[3] for b in batch]), "time_ids": torch.cat([b[4] for b in batch])} if sdxl else None
        prediction = unet(noisy, timesteps, context, added_cond_kwargs=added).sample
        loss = F.mse_loss(prediction.float(), target.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds = time.time() - t0
        step_times.append(seconds)
        recent = step_times[-5:]
        eta = sum(recent) / len(recent) * (args.steps - step - 1)
        emit("step", step=step + 1, steps=args.steps, loss=round(loss.item(), 6), seconds=round(seconds, 4), eta=round(eta, 2))
        done = step + 1
        if checkpoint and args.checkpoint_every > 0 and done % args.checkpoint_every == 0 and done < args.steps:
            state = {"lora": get_peft_model_state_dict(unet), "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "step": done}
            torch.save(state, checkpoint + ".part")
            os.replace(checkpoint + ".part", checkpoint)
            emit("checkpoint", step=done)

    tensors = kohya_state_dict(get_peft_model_state_dict(unet), alpha, torch.float16)
    metadata = {
        "ss_network_module": "lycoris.kohya" if args.lora_type == "loha" else "networks.lora",
        **({"ss_network_args": json.dumps({"algo": "loha"})} if args.lora_type == "loha" else {}),
        # kohya's marker of an SDXL network (A1111 and ComfyUI read it to file the LoRA under SDXL)
        **({"ss_base_model_version": "sdxl_base_v1-0"} if sdxl else {}),
        "ss_network_dim": str(args.rank),
        "ss_network_alpha": str(alpha),
        "ss_max_train_steps": str(args.steps),
        "ss_learning_rate": str(args.learning_rate),
        "ss_seed": str(args.seed),
        "ss_sd_model_name": args.base_model_name,
        "ss_resolution": str(dataset.get("resolution", "")),
        "ss_num_train_images": str(len(examples)),
        "diffusekit.trainer": "train_lora.py",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_file(tensors, args.output + ".part", metadata=metadata)
    os.replace(args.output + ".part", args.output)
    if checkpoint and os.path.isfile(checkpoint):
        os.remove(checkpoint)
    emit("done", output=args.output, steps=args.steps, tensors=len(tensors), seconds=round(time.time() - started, 3),
         step_seconds=round(sorted(step_times)[len(step_times) // 2], 4) if step_times else None)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as err:  # reported as data: the parent turns it into a typed error
        import traceback

        traceback.print_exc()
        emit("error", type=type(err).__name__, message=str(err))
        sys.exit(1)
