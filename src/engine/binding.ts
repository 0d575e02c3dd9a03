import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiffusekitError } from '../errors.js';
import type { ModelComponents } from '../models/components.js';
import { type BackendLoader, type CpuVariantReport, loadCpuVariant } from './backends.js';
import type { DeviceHost } from './devices.js';
import { checkedLoader } from './module-file.js';

// Types of the addon in native/: plain objects in, plain objects out.

export interface NativeImage {
  width: number;
  height: number;
  channels: number;
  data: Buffer;
  /** Generated images only: the engine's final latent, before the VAE decoded it. */
  latent?: Latent;
}

/** A latent tensor as the engine holds it: `shape` innermost first ([width, height, channels, batch]). */
export interface Latent {
  shape: number[];
  data: Float32Array;
}

export interface NativeLoadParams extends ModelComponents {
  threads?: number;
  weightType?: string;
  flashAttention?: boolean;
  /** The engine's direct convolution op for the diffusion model and VAE (our CPU kernels take it). */
  convDirect?: boolean;
  vaeDecodeOnly?: boolean;
  freeParamsImmediately?: boolean;
  taesdPreviewOnly?: boolean;
  prediction?: 'eps' | 'v' | 'edm_v' | 'sd3_flow' | 'flux_flow';
  embeddings?: { name: string; path: string }[];
  loraApplyMode?: 'auto' | 'immediately' | 'at_runtime';
  mmap?: boolean;
  offloadToCpu?: boolean;
  vaeOnCpu?: boolean;
  clipOnCpu?: boolean;
  rng?: string;
  /** The engine's name of the device to run on ('CPU', 'CUDA0', 'Vulkan0'); default: the engine's choice. */
  device?: string;
  controlNetOnCpu?: boolean;
  /** GiB a graph may take on the device before the engine cuts it into parts (0: no limit). */
  maxVram?: number;
  /** Whether this context's CPU products may run in bf16 (LoadOptions.cpuPrecision 'auto', the Pipeline's default); the addon's default false. */
  cpuBf16?: boolean;
  /** Whether a UNet step runs both guidance passes as one batch of 2 (LoadOptions.batchCfg); the addon's default false. */
  batchCfg?: boolean;
}

export interface NativeGenerateParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  seed: number | bigint;
  batchCount: number;
  clipSkip: number;
  sampler?: string;
  scheduler?: string;
  eta?: number;
  strength?: number;
  vaeTiling?: { tileSize?: number; overlap?: number };
  loras?: { path: string; multiplier: number }[];
  initImage?: NativeImage;
  maskImage?: NativeImage;
  controlImage?: NativeImage;
  previewMode?: 'proj' | 'tae' | 'vae';
  hires?: { upscaler: string; width: number; height: number; steps?: number; denoisingStrength: number; modelPath?: string };
  controlStrength?: number;
  controlCanny?: { high?: number; low?: number; weak?: number; strong?: number; inverse?: boolean };
  /** Guidance-distilled models (FLUX.1 dev, FLUX.2 dev): the guidance the model was distilled to follow. */
  distilledGuidance?: number;
  /** Instruction editing: the reference images (FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2). */
  refImages?: NativeImage[];
  cache?: NativeCacheParams;
}

/** Step caching: the engine's sd_cache_mode_t number and its thresholds. */
export interface NativeCacheParams {
  mode: number;
  reuseThreshold?: number;
  startPercent?: number;
  endPercent?: number;
}

/** A text/image-to-video job (Wan): frames come back as images. */
export interface NativeVideoParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  /** Frame count; the engine rounds to 4n + 1. */
  frames: number;
  steps: number;
  guidanceScale: number;
  seed: number | bigint;
  clipSkip?: number;
  sampler?: string;
  scheduler?: string;
  /** Flow-matching schedule shift; the engine picks the model's when absent. */
  flowShift?: number;
  strength?: number;
  loras?: { path: string; multiplier: number }[];
  initImage?: NativeImage;
  endImage?: NativeImage;
  previewMode?: 'proj' | 'tae' | 'vae';
  cache?: NativeCacheParams;
}

export type NativeLogCallback = (level: number, text: string) => void;
/** Progress: (step, steps, secondsPerStep). A preview arrives as (step, 0, 0, image). */
export type NativeProgressCallback = (step: number, steps: number, secondsPerStep: number, preview?: NativeImage) => void;

export interface NativeContext {
  generate(params: NativeGenerateParams, onProgress?: NativeProgressCallback): Promise<NativeImage[]>;
  /** Video generation (models the engine runs as video: Wan); resolves with the frames. */
  generateVideo(params: NativeVideoParams, onProgress?: NativeProgressCallback): Promise<NativeImage[]>;
  /** Asks the running job to stop; returns whether one was running. */
  abort(): boolean;
  dispose(): void;
  readonly disposed: boolean;
  readonly supportsImages: boolean;
  /** The model generates video (Wan). */
  readonly supportsVideo: boolean;
  /** The engine's info and warning lines from loading. */
  readonly loadLog: string[];
}

export interface NativeEngineInfo {
  version: string;
  commit: string;
  backend: 'cpu' | 'cuda' | 'vulkan' | 'metal';
  /** A portable (prebuilt) addon: backends are modules loaded at run time (src/engine/backends.ts). */
  dynamicBackends: boolean;
  /** The CPU backend's features as ggml reports them ("SSE3 = 1 | AVX = 1 | ..."). */
  systemInfo: string;
  /** The same features by name. */
  cpuFeatures: string[];
  /** 'reference' when DIFFUSEKIT_CPU_KERNELS=reference: the engine's own CPU kernels, unchanged. */
  cpuKernels: 'fast' | 'reference';
  /** Whether diffusekit's CPU convolution kernels run in this build (AVX-512) and mode. */
  cpuConvKernels: boolean;
  /** Whether the CPU backend runs products in bf16 for pipelines that allow it (AVX512_BF16, fast kernels, no DIFFUSEKIT_CPU_PRECISION=f32). */
  cpuBf16: boolean;
  /** Whether the engine's flash-attention op runs on diffusekit's fused CPU attention in this build and mode (AVX-512 or AVX2). */
  cpuFusedAttention: boolean;
  /** Attention ops this process has run on that kernel (each one whole heads x queries x keys product). */
  fusedAttentions: number;
  /** Group norms this process has run with the per-channel weight, bias and SiLU after them in the same pass. */
  fusedNorms: number;
  physicalCores: number;
  /** Sampling steps this process has run with both guidance passes as one batch of 2 (LoadOptions.batchCfg). */
  guidanceBatches: number;
  samplers: string[];
  schedulers: string[];
  weightTypes: string[];
}

export interface NativeUpscaler {
  upscale(image: NativeImage, onProgress?: (tile: number, tiles: number) => void): Promise<NativeImage>;
  abort(): boolean;
  dispose(): void;
  /** The model's own factor (4 for RealESRGAN x4plus). */
  readonly scale: number;
}

/** Tensors read so far, of all the files being loaded. */
export type NativeTensorProgressCallback = (done: number, total: number) => void;

/** A device of a registered backend (native/backends.cc). */
export interface NativeDevice {
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accelerator';
  backend: string;
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeBinding extends BackendLoader {
  Context: { load(params: NativeLoadParams, onLog?: NativeLogCallback, minLogLevel?: number, onProgress?: NativeTensorProgressCallback): Promise<NativeContext> };
  Upscaler: {
    load(params: { model: string; threads?: number; tileSize?: number; convDirect?: boolean }, onLog?: NativeLogCallback, minLogLevel?: number): Promise<NativeUpscaler>;
  };
  engineInfo(): NativeEngineInfo;
  convert(
    params: { input: string; vae?: string; output: string; weightType: string; tensorTypeRules?: string },
    onLog?: NativeLogCallback,
    minLogLevel?: number,
    onProgress?: NativeTensorProgressCallback,
  ): Promise<void>;
  setLogger(fn: NativeLogCallback | null, minLevel: number): void;
  backendDevices(): NativeDevice[];
}

/** Errors that native code rejects with carry a `code` (see native/context.cc). */
export interface NativeError extends Error {
  code?: string;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let binding: NativeBinding | undefined;
let cpuVariant: CpuVariantReport | undefined;
let addonDir: string | undefined;
// The addon's module loader with each file checked first (src/engine/module-file.ts), made once.
let moduleLoader: DeviceHost['loader'] | undefined;

/**
 * Loads the addon once: an earlier build from source in build/Release when there is one, else the prebuild
 * for this platform in prebuilds/. A prebuilt addon then registers the best CPU variant for this machine.
 */
export function nativeBinding(): NativeBinding {
  if (!binding) {
    const require = createRequire(import.meta.url);
    let file: string;
    let loaded: NativeBinding;
    try {
      file = require('node-gyp-build').resolve(packageRoot) as string;
      loaded = require(file) as NativeBinding;
    } catch (err) {
      throw new DiffusekitError(
        'ERR_NATIVE_BINDING',
        `diffusekit's native addon could not be loaded (${(err as Error).message}). ` +
          'No prebuilt binary fits this platform: build it with `npm install --build-from-source` (needs cmake and a C++17 compiler).',
        { cause: err },
      );
    }
    moduleLoader = { ...checkedLoader(loaded), backendDevices: () => loaded.backendDevices() };
    cpuVariant = loaded.engineInfo().dynamicBackends
      ? loadCpuVariant(moduleLoader, path.dirname(file))
      : { name: 'native', reason: 'built from source for this machine (one CPU backend linked into the addon)', mode: 'linked', candidates: [] };
    binding = loaded;
    addonDir = path.dirname(file);
  }
  return binding;
}

/** The CPU backend variant the engine runs on, and why (loads the addon). */
export function cpuVariantReport(): CpuVariantReport {
  nativeBinding();
  return cpuVariant!;
}

/** What device discovery (src/engine/devices.ts) needs of the loaded addon (loads it). */
export function deviceHost(): DeviceHost {
  const loaded = nativeBinding();
  return { loader: moduleLoader!, addonDir: addonDir!, dynamicBackends: loaded.engineInfo().dynamicBackends };
}
