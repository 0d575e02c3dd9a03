import { LayoutBuilder, type TensorSpec } from '../tensor-spec.js';
import { autoencoderKL, tinyAutoencoder } from './autoencoder.js';
import { clipText, clipTextL } from './clip-text.js';
import { mmdit } from './mmdit.js';
import { rrdbNet } from './esrgan.js';
import { sd1UnetLora } from './lora.js';
import { openClipText } from './open-clip.js';
import { controlNet, SD1_UNET, SD2_UNET, SDXL_UNET, SDXS_512_UNET, unet } from './unet.js';

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
} as const;

export type SyntheticArchitecture = keyof typeof SYNTHETIC_ARCHITECTURES;

function layout(build: (b: LayoutBuilder) => void): TensorSpec[] {
  const b = new LayoutBuilder();
  build(b);
  return b.tensors;
}
