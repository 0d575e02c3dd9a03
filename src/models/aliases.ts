import type { ModelComponents } from './components.js';
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

/** One file of a split model: where it is published and which component it is. */
export interface SplitModelPart {
  /** owner/name on the Hub. */
  repo: string;
  /** Path of the file inside the repository. */
  file: string;
  /** The component the file is (checked against what it holds once pulled). */
  slot: Exclude<keyof ModelComponents, 'model'>;
}

/**
 * A friendly name for a model released as separate files (diffusion model, VAE, text encoders): one pull puts them
 * all in one folder of the library, named after the alias, which `Pipeline.load`, `generate -m` and `serve --model`
 * load as a component folder (each file placed by what it holds).
 */
export interface SplitModelAlias {
  name: string;
  family: ModelFamily;
  parts: readonly SplitModelPart[];
  /** Some repository asks you to accept a license first: pulling needs HF_TOKEN. */
  gated?: boolean;
  description: string;
}

// Hub paths as published when this table was written (mostly ComfyUI's Comfy-Org repackaged repositories, where the
// engine's own docs point); a file that moved fails its pull with an error naming it.
export const SPLIT_MODEL_ALIASES: readonly SplitModelAlias[] = [
  {
    name: 'sd3.5-medium', family: 'sd3', gated: true,
    description: 'Stable Diffusion 3.5 Medium (gated; 15 GB with T5-XXL fp16): DiT + CLIP-L + CLIP-G + T5-XXL, 1024x1024',
    parts: [
      { repo: 'stabilityai/stable-diffusion-3.5-medium', file: 'sd3.5_medium.safetensors', slot: 'diffusionModel' },
      { repo: 'stabilityai/stable-diffusion-3.5-medium', file: 'text_encoders/clip_l.safetensors', slot: 'clipL' },
      { repo: 'stabilityai/stable-diffusion-3.5-medium', file: 'text_encoders/clip_g.safetensors', slot: 'clipG' },
      { repo: 'stabilityai/stable-diffusion-3.5-medium', file: 'text_encoders/t5xxl_fp16.safetensors', slot: 't5xxl' },
    ],
  },
  {
    name: 'flux1-schnell', family: 'flux',
    description: 'FLUX.1 schnell (34 GB in all): 4 steps, no CFG; DiT + VAE + CLIP-L + T5-XXL fp16',
    parts: [
      { repo: 'black-forest-labs/FLUX.1-schnell', file: 'flux1-schnell.safetensors', slot: 'diffusionModel' },
      { repo: 'black-forest-labs/FLUX.1-schnell', file: 'ae.safetensors', slot: 'vae' },
      { repo: 'comfyanonymous/flux_text_encoders', file: 'clip_l.safetensors', slot: 'clipL' },
      { repo: 'comfyanonymous/flux_text_encoders', file: 't5xxl_fp16.safetensors', slot: 't5xxl' },
    ],
  },
  {
    name: 'z-image-turbo', family: 'z-image',
    description: 'Z-Image Turbo (20 GB in all): 8 steps, no CFG; DiT bf16 + Qwen3-4B + FLUX.1 VAE',
    parts: [
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/diffusion_models/z_image_turbo_bf16.safetensors', slot: 'diffusionModel' },
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/text_encoders/qwen_3_4b.safetensors', slot: 'llm' },
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/vae/ae.safetensors', slot: 'vae' },
    ],
  },
  {
    name: 'qwen-image', family: 'qwen-image',
    description: 'Qwen-Image (37 GB in all): DiT fp8 + Qwen2.5-VL-7B + its VAE, true CFG 4, 1328x1328',
    parts: [
      { repo: 'Comfy-Org/Qwen-Image_ComfyUI', file: 'split_files/diffusion_models/qwen_image_fp8_e4m3fn.safetensors', slot: 'diffusionModel' },
      { repo: 'Comfy-Org/Qwen-Image_ComfyUI', file: 'split_files/text_encoders/qwen_2.5_vl_7b.safetensors', slot: 'llm' },
      { repo: 'Comfy-Org/Qwen-Image_ComfyUI', file: 'split_files/vae/qwen_image_vae.safetensors', slot: 'vae' },
    ],
  },
  {
    name: 'qwen-image-edit', family: 'qwen-image',
    description: 'Qwen-Image-Edit 2509 (37 GB in all): edits with 1-3 reference images; its LLM file holds the vision tower',
    parts: [
      { repo: 'Comfy-Org/Qwen-Image-Edit_ComfyUI', file: 'split_files/diffusion_models/qwen_image_edit_2509_fp8_e4m3fn.safetensors', slot: 'diffusionModel' },
      { repo: 'Comfy-Org/Qwen-Image_ComfyUI', file: 'split_files/text_encoders/qwen_2.5_vl_7b.safetensors', slot: 'llm' },
      { repo: 'Comfy-Org/Qwen-Image_ComfyUI', file: 'split_files/vae/qwen_image_vae.safetensors', slot: 'vae' },
    ],
  },
  {
    name: 'flux2-klein-4b', family: 'flux2',
    description: 'FLUX.2 klein 4B (16 GB in all): 4 steps, no CFG, edits with reference images; DiT + Qwen3-4B + FLUX.2 VAE',
    parts: [
      { repo: 'black-forest-labs/FLUX.2-klein-4B', file: 'flux-2-klein-4b.safetensors', slot: 'diffusionModel' },
      { repo: 'Comfy-Org/flux2-klein-4B', file: 'split_files/text_encoders/qwen_3_4b.safetensors', slot: 'llm' },
      { repo: 'Comfy-Org/flux2-dev', file: 'split_files/vae/flux2-vae.safetensors', slot: 'vae' },
    ],
  },
];

export function findSplitAlias(name: string, aliases: readonly SplitModelAlias[] = SPLIT_MODEL_ALIASES): SplitModelAlias | undefined {
  return aliases.find((a) => a.name === name);
}
