import type { DeviceSpec } from '../engine/devices.js';
import type { LogCallback, LogLevel } from '../engine/logging.js';
import type { MaskedContent } from './inpaint-area.js';
import type { ModelComponents } from '../models/components.js';
import type { PixelImage } from './generated-image.js';
import type { FitMode, ImageInput } from './image-input.js';
import type { OutpaintCanvas, OutpaintExtend } from './image-tasks.js';
import type { LoraSpec } from './loras.js';
import type { Sampler, Scheduler } from './samplers.js';
import type { PromptLanguageModel } from '../prompt/language-model.js';

/** Weight types the engine can convert to at load time. */
export const WEIGHT_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q5_0', 'q5_1', 'q4_0', 'q4_1', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K'] as const;
export type WeightType = (typeof WEIGHT_TYPES)[number];

export const LORA_APPLY_MODES = ['at_runtime', 'immediately'] as const;

/** How the CPU backend's matrix products and convolutions compute (docs/engine.md). */
export const CPU_PRECISIONS = ['auto', 'f32'] as const;
export type CpuPrecision = (typeof CPU_PRECISIONS)[number];

export interface VaeTilingOptions {
  /** Tile edge in latent pixels (engine default 32). */
  tileSize?: number;
  /** Overlap between tiles, as a fraction of the tile (engine default 0.5). */
  overlap?: number;
}

export interface LoadOptions extends ModelComponents {
  /** Convert weights to this type while loading (quantize); default: keep the file's types. */
  weightType?: WeightType;
  /** CPU threads; default: the number of physical cores. */
  threads?: number;
  /**
   * Fused (flash) attention in the diffusion model, text encoders and VAE: no score matrices, so less memory.
   * Default: on for a GPU, and on the CPU where diffusekit's fused CPU attention runs it (AVX-512 or AVX2
   * builds: `engineInfo().cpuFusedAttention`; faster than the unfused graph there); else off, the engine's choice.
   * Chroma keeps the engine's choice (off): the engine does not support its DiT mask with flash attention.
   */
  flashAttention?: boolean;
  /**
   * Classifier-free guidance as one batch: a UNet model's step (SD 1.x, 2.x, XL) evaluates the prompt and the
   * negative prompt together as a batch of 2, as diffusers does, instead of one after the other; it holds the
   * activations of both at once. Steps with a ControlNet, PhotoMaker's identity merge, a step cache or
   * prompts that encode to different lengths run apart. The image is that of two passes (same pixels on the
   * CPU). Default false: on the CPU our kernels already stream the weights per block of rows, so a batch of 2
   * takes as long as two passes (docs/engine.md). `engineInfo().guidanceBatches` counts the batched steps.
   */
  batchCfg?: boolean;
  /** Decode the image in tiles to bound memory; `true` for the engine's tile defaults. */
  vaeTiling?: boolean | VaeTilingOptions;
  /**
   * Where to run (docs/gpu.md): 'auto' (default: the first CUDA GPU, else the first Vulkan GPU, else the CPU,
   * saying why through onLog), 'cpu', 'cuda', 'cuda:N', 'vulkan', 'vulkan:N'. A GPU that cannot be used
   * rejects with DeviceUnavailableError and its reason.
   */
  device?: DeviceSpec;
  /** GPU memory: keep the weights in RAM and move each component onto the device only while it runs. Default false. */
  offloadToCpu?: boolean;
  /** Run the text encoders (CLIP, T5, ...) on the CPU instead of the device. Default false. */
  textEncodersOnCpu?: boolean;
  /** Run the VAE on the CPU instead of the device. Default false. */
  vaeOnCpu?: boolean;
  /** Run the ControlNet on the CPU instead of the device. Default false. */
  controlNetOnCpu?: boolean;
  /** GiB one compute graph may take on the device; a larger graph is cut into parts that run in turn. Default 0: no limit. */
  maxVram?: number;
  /**
   * CPU compute precision. 'auto' (default): on CPUs with AVX512_BF16 the Winograd convolutions and f16
   * linear layers round their operands to bf16 and accumulate in f32 (SD 1.x: VAE decode about 1.5x and a
   * step about 1.1x faster; the result about 1% of the latent from f32's, as far as the engine's own f16 and
   * f32 paths are apart; see docs/engine.md); elsewhere f32. 'f32': every product in f32.
   * DIFFUSEKIT_CPU_PRECISION=f32 keeps the whole process in f32 whatever a Pipeline asks.
   */
  cpuPrecision?: CpuPrecision;
  /**
   * What the model predicts, when the file does not say: SD 2.x 768-v checkpoints are 'v' (the engine guesses
   * SD 2.x by a test run), CosXL 'edm_v'. Default: the engine's detection.
   */
  prediction?: 'eps' | 'v' | 'edm_v' | 'flow';
  /** Use the `taesd` model only for previews, the full VAE for results. Default false (TAESD does both). */
  taesdPreviewOnly?: boolean;
  /** Folder searched for `<lora:name:weight>` prompt tags. */
  loraDir?: string;
  /** The model library that names (not paths) in `model` and the other components are looked up in; default $DIFFUSEKIT_MODELS_DIR, else ~/.cache/diffusekit/models. */
  modelsDir?: string;
  /**
   * Folder of textual inversion embeddings (.safetensors, .pt, .bin, .gguf). Each is used where its file name
   * (without extension) appears as a word in a prompt, as in A1111.
   */
  embeddingDir?: string;
  /**
   * How LoRAs reach the model. 'at_runtime' (default) adds them inside each step and leaves the weights
   * untouched, so a call without the LoRA gives exactly what it gave before. 'immediately' merges them into
   * the weights: faster steps, but removing a LoRA later leaves rounding drift in f16 weights.
   */
  loraApplyMode?: (typeof LORA_APPLY_MODES)[number];
  /** Load only the VAE decoder (text-to-image only; saves memory). Default false. */
  vaeDecodeOnly?: boolean;
  /**
   * Free each component's weights right after its first use, as stable-diffusion.cpp's own CLI does:
   * the lowest peak memory for a one-off image, but the Pipeline can then generate only once and
   * disposes itself afterwards. Default false.
   */
  freeParamsImmediately?: boolean;
  /** Memory-map the weights instead of reading them. Default: the engine's choice. */
  mmap?: boolean;
  /** Receives engine log lines at `logLevel` and above. Without it the engine is quiet. */
  onLog?: LogCallback;
  logLevel?: LogLevel;
  /** Tensors read so far while the weights load (several times a second). */
  onProgress?: (event: LoadProgressEvent) => void;
  /**
   * Cancels the load: the promise rejects with AbortError at once (between files, or while the engine reads
   * weights), and the engine's half-built context is freed as soon as its worker thread returns.
   */
  signal?: AbortSignal;
}

/** Loading (or converting) a model: tensors read so far, of all its files. */
export interface LoadProgressEvent {
  tensors: number;
  total: number;
}

export interface ProgressEvent {
  /** 'sampling' for the denoising steps, 'hires' for the hires fix's refinement, 'decoding' for tiled VAE decode. */
  phase: 'sampling' | 'hires' | 'decoding';
  /** 1-based step within the phase. */
  step: number;
  steps: number;
  /** Index of the batch image being sampled. */
  image: number;
  images: number;
  /** Seconds since generate() started working (queue time excluded). */
  elapsed: number;
  /** With the `preview` option: the current latent as a (small, for 'proj') image, every `preview.every` steps. */
  preview?: PixelImage;
}

export interface PreviewOptions {
  /** A preview every N sampling steps (and at the last). Default 1. */
  every?: number;
  /**
   * 'proj' (default): a fast linear projection of the latent, at latent resolution. 'tae': decoded by the
   * `taesd` model (load it with `taesdPreviewOnly`). 'vae': decoded by the full VAE (slow). The engine computes
   * a preview each step whatever `every` is.
   */
  mode?: 'proj' | 'tae' | 'vae';
}

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  /** Multiple of 8; default the model's (`pipe.info.defaults`: 512 for SD 1.x, 768 for SD 2.x, 1024 for SDXL, SD3, Flux...). */
  width?: number;
  height?: number;
  /** Sampling steps, 1-150. Default the model's (20 for SD 1.x, 1 for turbo models, 4 for FLUX.1 schnell...). */
  steps?: number;
  /** Classifier-free guidance scale (CFG), 0-30. Default the model's (7 for SD 1.x, 1 for distilled models). */
  guidanceScale?: number;
  /** Distilled guidance of guidance-distilled models (FLUX.1 dev: default 3.5, Kontext 2.5; FLUX.2 dev: 4), 0-30. */
  distilledGuidance?: number;
  /** Step caching on DiT models: reuse transformer outputs across similar steps (see docs/families.md). */
  cache?: StepCacheOptions;
  /** Seed; random when omitted (and reported on each image). Image i of a batch uses seed + i. */
  seed?: number;
  /** Engine name ('euler_a'), or an A1111 / diffusers name ('DPM++ 2M Karras', 'EulerAncestralDiscreteScheduler'). */
  sampler?: Sampler | (string & {});
  scheduler?: Scheduler | (string & {});
  /** Guidance image for the ControlNet loaded with the Pipeline (edges, pose, depth, ... as the ControlNet expects). */
  controlImage?: ImageInput;
  /** How strongly the ControlNet steers, 0-2; 0 is exactly no ControlNet. Default 0.9. */
  controlStrength?: number;
  /** Preprocess `controlImage` first: 'canny' turns it into an edge map. Default 'none'. */
  preprocess?: 'none' | 'canny';
  /** LoRAs to apply, by path or by name in `loraDir`, on top of any `<lora:name:weight>` prompt tags. */
  loras?: LoraSpec[];
  /** Images from one call, 1-16. Default 1. */
  batchSize?: number;
  /** Skip the last N-1 CLIP layers (A1111 convention: 1 = none, 2 = penultimate). */
  clipSkip?: number;
  /** Ancestral / SDE noise amount. */
  eta?: number;
  vaeTiling?: boolean | VaeTilingOptions;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** The language model (openPromptModel()) that `multilingual` and `enhancePrompt` run on. */
  promptModel?: PromptLanguageModel;
  /** Translate a prompt that is not in English to English first (detected locally; needs promptModel). */
  multilingual?: boolean;
  /** Rewrite the prompt in detail first (needs promptModel); each image's infotext carries the prompt used. */
  enhancePrompt?: boolean;
  /**
   * Hires fix (txt2img): generate at width x height, upscale by `scale` (or to `width` x `height`), then refine
   * with `steps` more steps at `denoisingStrength`. The result has the upscaled size.
   */
  hiresFix?: HiresFixOptions;
  /** Attach preview images of the current latent to progress events (needs `onProgress`). */
  preview?: PreviewOptions;
}

/** The engine's step caches, by name. */
export const STEP_CACHE_MODES = ['easycache', 'ucache', 'dbcache', 'taylorseer', 'cache-dit', 'spectrum'] as const;
export type StepCacheMode = (typeof STEP_CACHE_MODES)[number];

export interface StepCacheOptions {
  /** Which cache. 'easycache' suits every DiT (Flux, SD3, Qwen-Image, Z-Image, Wan). */
  mode: StepCacheMode;
  /** How different a step may be and still reuse the cache (EasyCache: relative L1 change); higher is faster and rougher. Default the engine's (0.2). */
  threshold?: number;
  /** Fraction of the schedule before which every step is computed, 0-1. Default the engine's (0.15). */
  start?: number;
  /** Fraction of the schedule after which every step is computed, 0-1. Default the engine's (0.95). */
  end?: number;
}

/** Instruction editing with reference images, on an edit-capable model (FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2). */
export interface EditOptions extends GenerateOptions {
  /** The images the instruction in `prompt` refers to, 1-4; the size defaults to the first one's (multiples of 8). */
  images: ImageInput[];
}

export interface Img2ImgOptions extends GenerateOptions {
  /** A path, an encoded image (any format sharp reads), a sharp instance, raw pixels or a GeneratedImage. */
  initImage: ImageInput;
  /** How much of the input to replace: 0 keeps it, 1 ignores it. Default 0.75. */
  strength?: number;
  /** How the input is brought to width x height: 'cover' (crop, default), 'contain' (pad) or 'fill' (stretch). */
  fit?: FitMode;
}

export interface InpaintOptions extends Img2ImgOptions {
  /** White = repaint, black = keep; any image sharp reads (colour counts by luminance), the size of initImage. */
  maskImage: ImageInput;
  /** Gaussian blur of the mask edge, in pixels. Default 4. */
  maskBlur?: number;
  /** Keep pixels under black exactly as in initImage (blending across the soft edge). Default true. */
  preserveUnmasked?: boolean;
  /**
   * What the masked area starts from (A1111's "Masked content"): 'original' (default), 'fill' (the
   * surrounding colours, blurred in), 'noise' (seeded noise) or 'nothing' (mid grey).
   */
  maskedContent?: MaskedContent;
  /**
   * Inpaint only a crop around the mask, at the full width x height, then scale it back into place (A1111's
   * "Only masked" / inpaint_full_res): more detail in small areas. `true` keeps 32 pixels of context; `{ padding }` sets it.
   * Outside the crop the image is untouched.
   */
  onlyMasked?: boolean | { padding?: number };
}

export interface OutpaintOptions extends Omit<GenerateOptions, 'width' | 'height'> {
  initImage: ImageInput;
  /** Pixels to add on each side; or give `canvas` instead. */
  extend?: OutpaintExtend;
  /** The final size and where the original sits in it (`anchor`, default 'center'); or give `extend` instead. */
  canvas?: OutpaintCanvas;
  /** What the new area starts from: 'edge' (repeated border pixels, default) or 'noise' (seeded). */
  fill?: 'edge' | 'noise';
  /** Default 1: the new area is painted from scratch. */
  strength?: number;
}

export const HIRES_UPSCALERS = ['latent', 'latent-nearest', 'latent-nearest-exact', 'latent-antialiased', 'latent-bicubic', 'latent-bicubic-antialiased', 'lanczos', 'nearest'] as const;

/** The names AUTOMATIC1111 (and the engine) give each hires fix upscaler; infotext records these. */
export const A1111_HIRES_UPSCALER_NAMES: Record<(typeof HIRES_UPSCALERS)[number], string> = {
  latent: 'Latent',
  'latent-nearest': 'Latent (nearest)',
  'latent-nearest-exact': 'Latent (nearest-exact)',
  'latent-antialiased': 'Latent (antialiased)',
  'latent-bicubic': 'Latent (bicubic)',
  'latent-bicubic-antialiased': 'Latent (bicubic antialiased)',
  lanczos: 'Lanczos',
  nearest: 'Nearest',
};

export interface HiresFixOptions {
  /** Upscale factor, 1-4. Default 2 (ignored when width/height are given). */
  scale?: number;
  /** Final size; multiples of 8. */
  width?: number;
  height?: number;
  /** Refinement steps; default: the same as `steps`. */
  steps?: number;
  /** How much the refinement repaints, 0-1. Default 0.7. */
  denoisingStrength?: number;
  /** How the first image is enlarged: in latent space (default 'latent') or as pixels ('lanczos', 'nearest'). */
  upscaler?: (typeof HIRES_UPSCALERS)[number];
  /** Instead of `upscaler`: an ESRGAN model file that enlarges the first image's pixels (A1111's "R-ESRGAN 4x+" and kin). */
  upscalerModel?: string;
}
