import type { ModelComponents } from '../models/components.js';

/**
 * The model components as flags of every generation command (generate, img2img, inpaint, outpaint, edit,
 * video): each names a file, a library name or a pulled alias, as -m does. -m is the single-file checkpoint,
 * or with --diffusion-model absent on a split model, the diffusion model's file (video: always).
 */
export const COMPONENT_FLAGS = {
  'diffusion-model': 'diffusionModel',
  'high-noise-model': 'highNoiseDiffusionModel',
  vae: 'vae',
  taesd: 'taesd',
  'clip-l': 'clipL',
  'clip-g': 'clipG',
  t5xxl: 't5xxl',
  llm: 'llm',
  'llm-vision': 'llmVision',
  'clip-vision': 'clipVision',
  'control-net': 'controlNet',
} as const satisfies Record<string, Exclude<keyof ModelComponents, 'model'>>;

export const COMPONENT_OPTIONS = Object.fromEntries(Object.keys(COMPONENT_FLAGS).map((flag) => [flag, { type: 'string' }])) as {
  [F in keyof typeof COMPONENT_FLAGS]: { type: 'string' };
};

export const COMPONENT_HELP = `Model components (split models: FLUX, FLUX.2, Chroma, Z-Image, Qwen-Image, SD 3.5, Wan):
      --diffusion-model F the diffusion model alone (then -m may be left out)
      --vae FILE          a separate VAE
      --clip-l FILE       CLIP ViT-L text encoder (SD3.5, FLUX.1)
      --clip-g FILE       OpenCLIP ViT-bigG text encoder (SD3.5)
      --t5xxl FILE        T5-XXL text encoder (SD3.5, FLUX.1, Chroma; umt5-xxl for Wan)
      --llm FILE          LLM text encoder (Qwen2.5-VL for Qwen-Image, Qwen3 4B for Z-Image and FLUX.2 klein,
                          Mistral Small 3.2 for FLUX.2 dev)
      --llm-vision FILE   the LLM's vision tower, where it ships apart (Qwen-Image-Edit)
      --clip-vision FILE  CLIP vision encoder (Wan I2V, FLF2V)
      --taesd FILE        tiny autoencoder for fast decoding
      --control-net FILE  a ControlNet (used with a control image)
      --high-noise-model F
                          Wan2.2 A14B: the high-noise expert (-m is then the low-noise one)`;

/** The component files the flags name. */
export function componentsFromFlags(values: Record<string, unknown>): Partial<ModelComponents> {
  const components: Partial<ModelComponents> = {};
  for (const [flag, key] of Object.entries(COMPONENT_FLAGS)) {
    const value = values[flag];
    if (typeof value === 'string') components[key] = value;
  }
  return components;
}
