/** The model files a Pipeline loads: a single-file checkpoint, or its components, or both. */
export interface ModelComponents {
  /** A single-file checkpoint (.safetensors, .ckpt, .gguf) holding all components. */
  model?: string;
  /** The diffusion model alone (UNet / DiT), for checkpoints split into components. */
  diffusionModel?: string;
  /** A separate VAE, replacing the checkpoint's own. */
  vae?: string;
  /** A tiny autoencoder (TAESD) used for encoding and decoding. */
  taesd?: string;
  /** CLIP ViT-L text encoder. */
  clipL?: string;
  /** OpenCLIP ViT-bigG text encoder (SDXL, SD3). */
  clipG?: string;
  /** T5-XXL text encoder (SD3, FLUX.1, Chroma; umt5-xxl for Wan). */
  t5xxl?: string;
  /**
   * A decoder LLM as text encoder: Qwen2.5-VL 7B (Qwen-Image, Qwen-Image-Edit), Qwen3 4B (Z-Image, FLUX.2 klein),
   * Mistral Small 3.2 (FLUX.2 dev).
   */
  llm?: string;
  /** The LLM's vision tower, where it ships apart (Qwen2.5-VL's, for Qwen-Image-Edit's reference images). */
  llmVision?: string;
  /** CLIP vision encoder (ViT-H/14) that Wan image-to-video models (I2V, FLF2V) condition on. */
  clipVision?: string;
  /** Wan2.2 A14B: the high-noise expert, which samples the first steps before `diffusionModel` takes over. */
  highNoiseDiffusionModel?: string;
  /** A ControlNet for the model's family; used by calls that pass `controlImage`. */
  controlNet?: string;
}

export const COMPONENT_KEYS = ['model', 'diffusionModel', 'highNoiseDiffusionModel', 'vae', 'taesd', 'clipL', 'clipG', 't5xxl', 'llm', 'llmVision', 'clipVision', 'controlNet'] as const satisfies readonly (keyof ModelComponents)[];
