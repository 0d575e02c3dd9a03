import { LayoutBuilder, type TensorSpec } from '../tensor-spec.js';
import { autoencoderKL, tinyAutoencoder } from './autoencoder.js';
import { clipText, clipTextL } from './clip-text.js';
import { fluxDit } from './flux.js';
import { mmdit } from './mmdit.js';
import { rrdbNet } from './esrgan.js';
import { sd1UnetLora } from './lora.js';
import { openClipText } from './open-clip.js';
import { t5XxlEncoder } from './t5.js';
import { tinyVideoAutoencoder } from './tiny-video-autoencoder.js';
import { umt5XxlEncoder } from './umt5.js';
import { FLUX2_DEV, FLUX2_KLEIN_4B, flux2Dit, flux2Vae } from './flux2.js';
import { llmTextModel, MISTRAL_SMALL_32_24B, QWEN25_VL_7B, QWEN3_4B, qwen25VlVisionProjector } from './llm.js';
import { qwenImageDit } from './qwen-image.js';
import { zImageDit } from './z-image.js';
import { controlNet, SD1_UNET, SD2_UNET, SDXL_UNET, SDXS_512_UNET, unet } from './unet.js';
import { WAN21_T2V_1_3B, WAN22_TI2V_5B, wanDit } from './wan-dit.js';
import { wanVae } from './wan-vae.js';

/** Single-file checkpoint layouts the synthesizer can write. */
export const SYNTHETIC_ARCHITECTURES = {
  /** Stable Diffusion 1.x (v1-5-pruned-emaonly layout): CLIP ViT-L/14, UNet, AutoencoderKL; ~1.07 B parameters. */
  sd1: () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => unet(s, SD1_UNET));
      b.scoped('first_stage_model', autoencoderKL);
      b.scoped('cond_stage_model.transformer.text_model', clipTextL);
    }),
  /** Stable Diffusion 1.x inpainting (sd-v1-5-inpainting layout): the UNet takes 9 channels (latent, mask, masked image). */
  'sd1-inpaint': () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => unet(s, { ...SD1_UNET, inChannels: 9 }));
      b.scoped('first_stage_model', autoencoderKL);
      b.scoped('cond_stage_model.transformer.text_model', clipTextL);
    }),
  /** Stable Diffusion 2.x (v2-1 single-file layout): OpenCLIP ViT-H/14 text tower, linear-projection UNet, AutoencoderKL. */
  sd2: () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => unet(s, SD2_UNET));
      b.scoped('first_stage_model', autoencoderKL);
      b.scoped('cond_stage_model.model', (s) => openClipText(s, 1024, 24));
    }),
  /** SDXL base 1.0 (single-file layout): CLIP ViT-L + OpenCLIP ViT-bigG text encoders, 2.6 B UNet, AutoencoderKL; ~3.5 B parameters (7 GiB in f16). */
  sdxl: () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => unet(s, SDXL_UNET));
      b.scoped('first_stage_model', autoencoderKL);
      b.scoped('conditioner.embedders.0.transformer.text_model', clipTextL);
      b.scoped('conditioner.embedders.1.model', (s) => openClipText(s, 1280, 32));
    }),
  /** SD3 medium (sd3_medium_incl_clips layout): MMDiT (24 blocks), CLIP-L and CLIP-bigG, 16-channel VAE; no T5. */
  sd3: () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => mmdit(s, 24));
      b.scoped('first_stage_model', (s) => autoencoderKL(s, 16, false));
      b.scoped('text_encoders.clip_l.transformer.text_model', clipTextL);
      b.add('text_encoders.clip_l.transformer.text_projection.weight', [768, 768], 'fan-in');
      b.scoped('text_encoders.clip_g.transformer.text_model', (s) => clipText(s, 1280, 32, 5120));
      b.add('text_encoders.clip_g.transformer.text_projection.weight', [1280, 1280], 'fan-in');
    }),
  /**
   * SD 3.5 medium (sd3.5_medium.safetensors layout, text encoders apart): MMDiT-X (24 blocks, the first 13 with a
   * second self-attention, RMS-normed queries and keys, 384x384 positions) and the 16-channel VAE; ~2.5 B parameters.
   */
  'sd3.5-medium': () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => mmdit(s, 24, { selfAttentionBlocks: 13, qkNorm: true }));
      b.scoped('first_stage_model', (s) => autoencoderKL(s, 16, false));
    }),
  /** SD 3.5 large's diffusion model (38 blocks, 2432 wide, RMS-normed queries and keys): ~8 B parameters, 16 GB in f16. */
  'sd3.5-large': () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => mmdit(s, 38, { qkNorm: true }));
      b.scoped('first_stage_model', (s) => autoencoderKL(s, 16, false));
    }),
  /** CLIP ViT-L text encoder alone with its projection (ComfyUI text_encoders/clip_l.safetensors layout): SD 3.5, FLUX.1. */
  'clip-l': () =>
    layout((b) => {
      b.scoped('text_model', clipTextL);
      b.add('text_projection.weight', [768, 768], 'fan-in');
    }),
  /** OpenCLIP ViT-bigG text encoder alone with its projection (text_encoders/clip_g.safetensors layout): SD 3.5. */
  'clip-g': () =>
    layout((b) => {
      b.scoped('text_model', (s) => clipText(s, 1280, 32, 5120));
      b.add('text_projection.weight', [1280, 1280], 'fan-in');
    }),
  // FLUX.1 and Chroma come as separate components (--diffusion-model, --vae, --clip_l, --t5xxl), each in its
  // release layout without a prefix; q4_0 keeps the DiTs and T5 within a test machine's disk and memory.
  /** FLUX.1 dev's diffusion model (flux1-dev layout, as ComfyUI and city96's GGUF ship it): 19 double and 38 single blocks, 3072 wide; ~11.9 B parameters (6.7 GB in q4_0). FLUX.1 Kontext dev has the same layout. */
  'flux-dev': () => layout((b) => fluxDit(b, { guidance: true })),
  /** FLUX.1 schnell's diffusion model (flux1-schnell layout): dev's without the guidance embedder `guidance_in`. */
  'flux-schnell': () => layout((b) => fluxDit(b, { guidance: false })),
  /** FLUX.1 Fill dev's diffusion model (flux1-fill-dev layout): img_in takes 384 channels (latent, masked image, mask). */
  'flux-fill': () => layout((b) => fluxDit(b, { guidance: true, inChannels: 384 })),
  /** Chroma's diffusion model (chroma-unlocked layout): FLUX.1 schnell's blocks without their modulation, and the `distilled_guidance_layer` that computes it; ~8.9 B parameters (5.0 GB in q4_0). */
  chroma: () => layout((b) => fluxDit(b, { guidance: false, chroma: true })),
  /** FLUX.1's autoencoder alone (ae.safetensors layout: `encoder.*` / `decoder.*` without a prefix): 16 latent channels, no quant convs; Z-Image's VAE too; ~84 M parameters. */
  'flux-vae': () => layout((b) => autoencoderKL(b, 16, false)),
  /** The T5 v1.1 XXL encoder of SD3 and FLUX.1 (t5xxl_fp16 layout): ~4.76 B parameters, 9.5 GB in f16, 2.7 GB in q4_0; the engine accepts no smaller one. */
  t5xxl: () => layout(t5XxlEncoder),
  /** SDXS-512: tiny one-step UNet with the tiny autoencoder (TAESD) and CLIP ViT-L/14; the smallest SD 1.x family member. */
  sdxs: () =>
    layout((b) => {
      b.scoped('model.diffusion_model', (s) => unet(s, SDXS_512_UNET));
      b.scoped('first_stage_model', tinyAutoencoder);
      b.scoped('cond_stage_model.transformer.text_model', clipTextL);
    }),
  /** TAESD alone (diffusers AutoencoderTiny names), the separate `taesd` component. */
  taesd: () => layout(tinyAutoencoder),
  /** ControlNet for SD 1.x (control_v11p_sd15_* layout, `control_model.` prefix): 361 M parameters. */
  'sd1-controlnet': () => layout((b) => b.scoped('control_model', (s) => controlNet(s, SD1_UNET))),
  /** A textual inversion embedding for SD 1.x (A1111 `emb_params`, 2 vectors of 768). */
  'sd1-embedding': () => layout((b) => b.add('emb_params', [2, 768], 'embedding')),
  /** RealESRGAN_x4plus: the 4x super-resolution RRDBNet with 23 blocks (16.7 M parameters). */
  'esrgan-x4plus': () => layout((b) => rrdbNet(b, 23)),
  /** RealESRGAN_x4plus_anime_6B: the same network with 6 blocks. */
  'esrgan-x4plus-anime': () => layout((b) => rrdbNet(b, 6)),
  /** The same LoRA in diffusers/peft key style (`unet.down_blocks.0.attentions.0...to_q.lora_A.weight`). */
  'sd1-lora-peft': () => layout((b) => sd1UnetLora(b, 4, 'peft')),
  /** RealESRGAN_x2plus: 2x, with pixel-unshuffled (12-channel) input. */
  'esrgan-x2plus': () => layout((b) => rrdbNet(b, 23, 2)),
  /** A rank-4 kohya-format LoRA over the SD 1.x UNet attention projections (also fits SDXS-512). */
  'sd1-lora': () => layout((b) => sd1UnetLora(b)),
  // Wan video models come as separate components (--diffusion-model, --vae or --tae, --t5xxl), each in its
  // ComfyUI repackaged layout without a prefix.
  /** Wan2.1 T2V 1.3B video DiT (wan2.1_t2v_1.3B_fp16 layout): ~1.42 B parameters (2.8 GB in f16). */
  'wan2.1-t2v-1.3b': () => layout((b) => wanDit(b, WAN21_T2V_1_3B)),
  /** Wan2.2 TI2V 5B video DiT (wan2.2_ti2v_5B_fp16 layout) over the 48-channel latent: ~5.0 B parameters (10 GB in f16). */
  'wan2.2-ti2v-5b': () => layout((b) => wanDit(b, WAN22_TI2V_5B)),
  /** The Wan 2.1 causal 3D VAE (wan_2.1_vae layout), z 16: for every Wan model but TI2V 5B; ~127 M parameters. */
  'wan2.1-vae': () => layout((b) => wanVae(b, '2.1')),
  /** The Wan 2.2 VAE (wan2.2_vae layout), z 48 with 2x2 patches: for Wan2.2 TI2V 5B. */
  'wan2.2-vae': () => layout((b) => wanVae(b, '2.2')),
  /** TAEHV for Wan 2.1 latents (taew2_1 layout), the engine's --tae: a few M parameters instead of the VAE. */
  'taew2.1': () => layout((b) => tinyVideoAutoencoder(b, '2.1')),
  /** TAEHV for Wan 2.2 TI2V 5B latents (taew2_2 layout). */
  'taew2.2': () => layout((b) => tinyVideoAutoencoder(b, '2.2')),
  /** The umt5-xxl encoder Wan needs (umt5_xxl_fp16 layout): ~5.68 B parameters, 11.4 GB in f16; the engine accepts no smaller one. */
  'umt5-xxl': () => layout(umt5XxlEncoder),
  // The families whose text encoder is an LLM, as separate components in their released layouts (no prefix).
  // Their DiTs and LLMs are meant to be written quantized (`dtype: 'q4_0'`, .gguf), their VAEs in f16.
  /** Z-Image Turbo's DiT (ComfyUI z_image_turbo_bf16 layout): 30 + 2 + 2 blocks of 3840; ~6.15 B parameters (3.5 GB in q4_0). */
  'z-image-turbo': () => layout(zImageDit),
  /** Qwen3-4B as text encoder (llama.cpp GGUF names, Qwen3-4B-Instruct-2507-GGUF layout): Z-Image and FLUX.2 klein 4B; ~4.02 B parameters (2.3 GB in q4_0). */
  'qwen3-4b': () => layout((b) => llmTextModel(b, QWEN3_4B)),
  /** Qwen-Image's MMDiT (ComfyUI qwen_image layout; Qwen-Image-Edit's too): 60 blocks of 3072; ~20.4 B parameters (11.5 GB in q4_0). */
  'qwen-image': () => layout(qwenImageDit),
  /** Qwen2.5-VL-7B's language model (llama.cpp GGUF names, Qwen2.5-VL-7B-Instruct-GGUF layout) with its output head; ~7.6 B parameters (4.3 GB in q4_0). */
  'qwen2.5-vl-7b': () => layout((b) => llmTextModel(b, QWEN25_VL_7B)),
  /** Qwen2.5-VL-7B's vision tower (llama.cpp mmproj layout), the `llmVision` Qwen-Image-Edit reads reference images with; ~0.67 B parameters. */
  'qwen2.5-vl-7b-mmproj': () => layout(qwen25VlVisionProjector),
  /** The Qwen-Image VAE (qwen_image_vae layout): the Wan 2.1 causal 3D VAE's architecture and names, z 16; ~127 M parameters. */
  'qwen-image-vae': () => layout((b) => wanVae(b, '2.1')),
  /** FLUX.2 klein 4B's DiT (flux-2-klein-4b layout, BFL names): 5 double + 20 single blocks of 3072; ~3.9 B parameters (2.2 GB in q4_0). */
  'flux2-klein-4b': () => layout((b) => flux2Dit(b, FLUX2_KLEIN_4B)),
  /** The 32-channel FLUX.2 VAE (flux2_ae layout from FLUX.2-dev): every FLUX.2 model's; ~84 M parameters. */
  'flux2-vae': () => layout(flux2Vae),
  /** FLUX.2 dev's DiT (flux2-dev layout): 8 double + 48 single blocks of 6144; ~32 B parameters (18 GB in q4_0: layout only on small machines). */
  'flux2-dev': () => layout((b) => flux2Dit(b, FLUX2_DEV)),
  /** Mistral Small 3.2 24B as FLUX.2 dev's text encoder (llama.cpp GGUF names): 40 layers of 5120; ~24 B parameters (layout only on small machines). */
  'mistral-small-3.2-24b': () => layout((b) => llmTextModel(b, MISTRAL_SMALL_32_24B)),
} as const;

export type SyntheticArchitecture = keyof typeof SYNTHETIC_ARCHITECTURES;

function layout(build: (b: LayoutBuilder) => void): TensorSpec[] {
  const b = new LayoutBuilder();
  build(b);
  return b.tensors;
}
