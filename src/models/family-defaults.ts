import type { Sampler, Scheduler } from '../pipeline/samplers.js';
import { fluxInputChannels, wanVariant, type ModelFamily, type ModelFileInfo } from './inspect.js';

// The one place that decides how a request that says nothing renders a model: per family, and per distilled
// variant (turbo, lightning, LCM, schnell...), as the model's makers recommend. The Pipeline, the CLI, every
// server dialect and the video routes read these; nothing else holds a default size, step count or CFG.

/** What a generation uses for every parameter it is not given. */
export interface GenerationDefaults {
  width: number;
  height: number;
  steps: number;
  /** Classifier-free guidance scale (1: off, as distilled models want). */
  guidanceScale: number;
  /** Distilled guidance of guidance-distilled models (Flux dev, FLUX.2 dev); absent for the others. */
  distilledGuidance?: number;
  sampler: Sampler;
  /** Absent: the engine's schedule for the model. */
  scheduler?: Scheduler;
  /** Frames per second of video models' clips. */
  fps?: number;
  /** Frames of a video model's clip. */
  frames?: number;
}

/** Distilled or specialised checkpoints of a family whose makers recommend other settings than the base model's. */
export const MODEL_VARIANTS = ['turbo', 'lightning', 'lcm', 'hyper', 'schnell', 'kontext', 'fill', 'edit', 'klein', 'ti2v'] as const;
export type ModelVariant = (typeof MODEL_VARIANTS)[number];

const square = (side: number) => ({ width: side, height: side });

/** The family's base model, as its makers ship it. */
const FAMILY_DEFAULTS: Record<ModelFamily, GenerationDefaults> = {
  sd1: { ...square(512), steps: 20, guidanceScale: 7, sampler: 'euler_a' },
  sd2: { ...square(768), steps: 20, guidanceScale: 7, sampler: 'euler_a' },
  sdxl: { ...square(1024), steps: 30, guidanceScale: 7, sampler: 'euler_a' },
  // SD 3 / 3.5 (medium and large): rectified flow, 28 steps at CFG 4.5 (Stability's model cards).
  sd3: { ...square(1024), steps: 28, guidanceScale: 4.5, sampler: 'euler' },
  // FLUX.1 dev: guidance-distilled, so CFG stays off and the distilled guidance (3.5) steers.
  flux: { ...square(1024), steps: 28, guidanceScale: 1, distilledGuidance: 3.5, sampler: 'euler' },
  // FLUX.2 dev: guidance-distilled like FLUX.1 dev, guidance 4 (its card: 50 steps, 28 a good trade-off).
  flux2: { ...square(1024), steps: 28, guidanceScale: 1, distilledGuidance: 4, sampler: 'euler' },
  // Chroma (FLUX.1 schnell de-distilled): real CFG again, 26 steps at 4.
  chroma: { ...square(1024), steps: 26, guidanceScale: 4, sampler: 'euler' },
  // Z-Image (the base model): 50 steps at CFG 4 (its model card's example); Turbo is a variant.
  'z-image': { ...square(1024), steps: 50, guidanceScale: 4, sampler: 'euler' },
  // Qwen-Image: 50 steps at true CFG 4, 1328x1328 for 1:1 (its model card).
  'qwen-image': { ...square(1328), steps: 50, guidanceScale: 4, sampler: 'euler' },
  // Wan 2.1 T2V 1.3B: 832x480 at 16 fps (its sample settings: CFG 6; 20 steps keeps CPU runs in reach).
  wan: { width: 832, height: 480, steps: 20, guidanceScale: 6, sampler: 'euler', fps: 16, frames: 33 },
  unknown: { ...square(512), steps: 20, guidanceScale: 7, sampler: 'euler_a' },
};

/** What a variant changes; the family's base settings hold for the rest. */
const VARIANT_DEFAULTS: Record<ModelVariant, (family: ModelFamily) => Partial<GenerationDefaults>> = {
  // SD-Turbo and SDXL-Turbo (adversarial distillation): 512x512, 1 step, no CFG. Z-Image Turbo (distilled to
  // 8 DiT steps; its card's num_inference_steps 9 counts one step more): 1024x1024, 8 steps, no CFG.
  turbo: (family) => (family === 'z-image' ? { steps: 8, guidanceScale: 1 } : { ...square(512), steps: 1, guidanceScale: 1, sampler: 'euler_a' }),
  // SDXL-Lightning (4-step checkpoint): no CFG, Euler on the trailing (SGM uniform) schedule.
  lightning: () => ({ steps: 4, guidanceScale: 1, sampler: 'euler', scheduler: 'sgm_uniform' }),
  // Latent consistency models: 4 steps of the LCM sampler at low CFG.
  lcm: () => ({ steps: 4, guidanceScale: 1.5, sampler: 'lcm', scheduler: 'lcm' }),
  // Hyper-SD (8-step LoRA merged): 8 steps, no CFG.
  hyper: () => ({ steps: 8, guidanceScale: 1, sampler: 'euler', scheduler: 'sgm_uniform' }),
  // FLUX.1 schnell: timestep-distilled, 4 steps, no guidance at all.
  schnell: () => ({ steps: 4, guidanceScale: 1, distilledGuidance: undefined }),
  // FLUX.1 Kontext dev: distilled guidance 2.5 (BFL's reference settings).
  kontext: () => ({ distilledGuidance: 2.5 }),
  // FLUX.1 Fill dev (inpainting and outpainting): 50 steps at distilled guidance 30 (BFL's model card).
  fill: () => ({ steps: 50, distilledGuidance: 30 }),
  // Qwen-Image-Edit: 50 steps at true CFG 4, as Qwen-Image (the size follows the first reference image).
  edit: () => ({}),
  // FLUX.2 klein (4B/9B, step-distilled; their cards): 4 steps, no CFG, no distilled guidance.
  klein: () => ({ steps: 4, guidanceScale: 1, distilledGuidance: undefined }),
  // Wan2.2 TI2V 5B: 1280x704 at 24 fps; 704 high at the default width 832 is what this engine samples in reach.
  ti2v: () => ({ width: 832, height: 704, fps: 24 }),
};

/** The defaults for a model of `family`, refined by its variant when it has one. */
export function familyDefaults(family: ModelFamily, variant?: ModelVariant): GenerationDefaults {
  const base = FAMILY_DEFAULTS[family];
  if (!variant) return { ...base };
  const merged = { ...base, ...VARIANT_DEFAULTS[variant](family) };
  if (merged.distilledGuidance === undefined) delete merged.distilledGuidance;
  return merged;
}

/** Which variants apply to which family: a name that says "turbo" makes no difference to a Wan model. */
const VARIANT_FAMILIES: Record<ModelVariant, readonly ModelFamily[]> = {
  turbo: ['sd1', 'sd2', 'sdxl', 'z-image', 'unknown'],
  lightning: ['sdxl'],
  lcm: ['sd1', 'sd2', 'sdxl', 'unknown'],
  hyper: ['sd1', 'sdxl'],
  schnell: ['flux'],
  kontext: ['flux'],
  fill: ['flux'],
  edit: ['qwen-image'],
  klein: ['flux2'],
  ti2v: ['wan'],
};

/**
 * A model's variant, from what its files say (FLUX.1 schnell has no guidance embedder, FLUX.1 Fill's img_in
 * takes 384 channels; FLUX.2 klein no 48th
 * single block; Wan TI2V takes 48 latent channels) or else from the names it goes by (file name, library
 * alias): "sdxl-turbo", "sdxl_lightning_4step", "lcm-lora-sdv1-5", "flux1-kontext-dev", "qwen-image-edit".
 */
export function modelVariant(family: ModelFamily, names: readonly string[], files: readonly ModelFileInfo[] = []): ModelVariant | undefined {
  const tensorNames = files.flatMap((f) => f.tensorNames ?? []);
  const has = (part: string) => tensorNames.some((n) => n.includes(part));
  if (family === 'flux' && tensorNames.length > 0 && has('double_blocks.') && !has('guidance_in.')) return 'schnell';
  if (family === 'flux' && files.some((f) => fluxInputChannels(f) === 384)) return 'fill';
  if (family === 'flux2' && tensorNames.length > 0 && !has('single_blocks.47.')) return 'klein';
  if (family === 'wan' && files.some((f) => wanVariant(f) === 'ti2v')) return 'ti2v';
  const text = names.join(' ').toLowerCase();
  const byName = MODEL_VARIANTS.find((v) => VARIANT_FAMILIES[v].includes(family) && new RegExp(`(^|[^a-z])${v}([^a-z]|$)`).test(text));
  return byName;
}

/**
 * Whether a model edits by instruction with reference images: FLUX.1 Kontext, Qwen-Image-Edit (told from their
 * base models by name only: the layouts are the same) and every FLUX.2 model.
 */
export function editsWithReferences(family: ModelFamily, variant: ModelVariant | undefined): boolean {
  return family === 'flux2' || (family === 'flux' && variant === 'kontext') || (family === 'qwen-image' && variant === 'edit');
}
