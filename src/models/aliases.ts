import type { ModelFamily, ModelRole } from './inspect.js';

/** What a library file is for: the roles inspect.ts detects, plus the components it cannot tell apart by name. */
export type LibraryRole = ModelRole | 'taesd' | 'text-encoder';

/** A friendly name for one file in a Hugging Face Hub repository. */
export interface ModelAlias {
  name: string;
  /** owner/name on the Hub. */
  repo: string;
  /** Path of the file inside the repository. */
  file: string;
  /** File name in the library, where the Hub's is generic (diffusion_pytorch_model.safetensors). */
  saveAs?: string;
  family: ModelFamily;
  role: LibraryRole;
  /** The repository asks you to accept a license first: pulling needs HF_TOKEN. */
  gated?: boolean;
  description: string;
}

// Hub paths (repository + file), as published when this table was written. Nothing here is fetched until a
// pull: the Hub is asked for the file then, and a repository that moved or renamed a file fails with a clear
// error naming it; `diffusekit models pull owner/repo:file` reaches any other file.
export const MODEL_ALIASES: readonly ModelAlias[] = [
  {
    name: 'sd-1.5', repo: 'Comfy-Org/stable-diffusion-v1-5-archive', file: 'v1-5-pruned-emaonly-fp16.safetensors',
    family: 'sd1', role: 'checkpoint', description: 'Stable Diffusion 1.5 (fp16, 2.1 GB), 512x512',
  },
  {
    name: 'sdxl', repo: 'stabilityai/stable-diffusion-xl-base-1.0', file: 'sd_xl_base_1.0.safetensors',
    family: 'sdxl', role: 'checkpoint', description: 'Stable Diffusion XL base 1.0 (6.9 GB), 1024x1024',
  },
  {
    name: 'sd-turbo', repo: 'stabilityai/sd-turbo', file: 'sd_turbo.safetensors',
    family: 'sd2', role: 'checkpoint', description: 'SD-Turbo (5.2 GB): 1-4 steps, cfg 1, 512x512',
  },
  {
    name: 'sdxl-turbo', repo: 'stabilityai/sdxl-turbo', file: 'sd_xl_turbo_1.0_fp16.safetensors',
    family: 'sdxl', role: 'checkpoint', description: 'SDXL-Turbo (fp16, 6.9 GB): 1-4 steps, cfg 1, 512x512',
  },
  {
    name: 'sd3.5-medium', repo: 'stabilityai/stable-diffusion-3.5-medium', file: 'sd3.5_medium.safetensors',
    family: 'sd3', role: 'checkpoint', gated: true,
    description: 'Stable Diffusion 3.5 Medium (5.1 GB; gated), without text encoders: pull clip-l, clip-g, t5xxl too',
  },
  {
    name: 'clip-l', repo: 'Comfy-Org/stable-diffusion-3.5-fp8', file: 'text_encoders/clip_l.safetensors',
    family: 'sd3', role: 'text-encoder', description: 'CLIP ViT-L text encoder for SD3.5 and Flux (clipL)',
  },
  {
    name: 'clip-g', repo: 'Comfy-Org/stable-diffusion-3.5-fp8', file: 'text_encoders/clip_g.safetensors',
    family: 'sd3', role: 'text-encoder', description: 'OpenCLIP ViT-bigG text encoder for SD3.5 (clipG)',
  },
  {
    name: 't5xxl', repo: 'Comfy-Org/stable-diffusion-3.5-fp8', file: 'text_encoders/t5xxl_fp16.safetensors',
    family: 'sd3', role: 'text-encoder', description: 'T5-XXL text encoder for SD3.5 and Flux (t5xxl; fp16, 9.8 GB)',
  },
  {
    name: 'realesrgan-x4', repo: 'lllyasviel/Annotators', file: 'RealESRGAN_x4plus.pth',
    family: 'unknown', role: 'upscaler', description: 'Real-ESRGAN x4plus upscaler (67 MB)',
  },
  {
    name: 'taesd', repo: 'madebyollin/taesd', file: 'diffusion_pytorch_model.safetensors', saveAs: 'taesd.safetensors',
    family: 'sd1', role: 'taesd', description: 'Tiny autoencoder for SD 1.x/2.x: fast decoding and previews (taesd)',
  },
  {
    name: 'taesdxl', repo: 'madebyollin/taesdxl', file: 'diffusion_pytorch_model.safetensors', saveAs: 'taesdxl.safetensors',
    family: 'sdxl', role: 'taesd', description: 'Tiny autoencoder for SDXL (taesd)',
  },
];

export function findAlias(name: string, aliases: readonly ModelAlias[] = MODEL_ALIASES): ModelAlias | undefined {
  return aliases.find((a) => a.name === name);
}

/** The name a pulled file gets in the library. */
export function libraryFileName(alias: Pick<ModelAlias, 'file' | 'saveAs'>): string {
  return alias.saveAs ?? alias.file.slice(alias.file.lastIndexOf('/') + 1);
}
