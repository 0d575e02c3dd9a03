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
  /** T5-XXL text encoder (SD3, Flux). */
  t5xxl?: string;
  /** A ControlNet for the model's family; used by calls that pass `controlImage`. */
  controlNet?: string;
}

export const COMPONENT_KEYS = ['model', 'diffusionModel', 'vae', 'taesd', 'clipL', 'clipG', 't5xxl', 'controlNet'] as const satisfies readonly (keyof ModelComponents)[];
