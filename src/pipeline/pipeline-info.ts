import type { ResolvedDevice } from '../engine/devices.js';
import type { GenerationDefaults, ModelVariant } from '../models/family-defaults.js';
import type { ModelFamily } from '../models/inspect.js';
import type { ComponentPlacement } from './device-placement.js';

/** What a Pipeline loaded, as the engine reported it. */
export interface PipelineInfo {
  family: ModelFamily;
  /** A distilled or specialised checkpoint of the family (turbo, lightning, LCM, schnell, Kontext, edit, klein...). */
  variant: ModelVariant | undefined;
  /** What a call that says nothing uses (size, steps, CFG, distilled guidance, sampler), as the model's makers recommend. */
  defaults: GenerationDefaults;
  /** The engine's name for the model version, e.g. 'SD 1.x', 'SD 1.x Inpaint', 'SDXS (512-DS)'. */
  engineVersion: string | undefined;
  /** What the denoiser predicts: noise ('eps'), velocity ('v', 'edm_v') or flow ('flow'). */
  prediction: 'eps' | 'v' | 'edm_v' | 'flow' | 'unknown';
  /** Default width of a generation (`defaults.width`; kept for callers of earlier releases). */
  defaultSize: number;
  /** Tensors per weight type in the model files, e.g. { f16: 610 }. */
  fileWeightTypes: Record<string, number>;
  /** Memory the weights take once loaded (MiB), in total and per component. */
  memory: { totalMiB: number; textEncodersMiB: number; diffusionModelMiB: number; vaeMiB: number; controlNetMiB: number } | undefined;
  /** The device the Pipeline runs on, what was asked for, and why this one (docs/gpu.md). */
  device: ResolvedDevice;
  /** Which device each component runs on. */
  components: ComponentPlacement;
}

const PREDICTIONS: [RegExp, PipelineInfo['prediction']][] = [
  [/running in eps-prediction mode/, 'eps'],
  [/running in v-prediction EDM mode/, 'edm_v'],
  [/running in v-prediction mode/, 'v'],
  [/running in .*FLOW mode/, 'flow'],
];

/** Reads the engine's load report (its log lines; this engine release prints them in these words). */
export function pipelineInfo(
  model: { family: ModelFamily; variant?: ModelVariant; defaults: GenerationDefaults },
  loadLog: string[],
  device: ResolvedDevice,
  components: ComponentPlacement,
): PipelineInfo {
  const text = loadLog.join('\n');
  const version = /Version: (.+?)\s*$/m.exec(text)?.[1];
  const prediction = PREDICTIONS.find(([pattern]) => pattern.test(text))?.[1] ?? 'unknown';
  const fileWeightTypes: Record<string, number> = {};
  const stat = /- Weight type stat:(.*)$/m.exec(text)?.[1] ?? '';
  for (const [, type, count] of stat.matchAll(/(\w+): +(\d+)/g)) fileWeightTypes[type] = Number(count);
  const mem = /total params memory size = ([\d.]+)MB.*text_encoders ([\d.]+)MB.*diffusion_model ([\d.]+)MB.*vae ([\d.]+)MB.*controlnet ([\d.]+)MB/.exec(text);
  return {
    family: model.family,
    variant: model.variant,
    defaults: { ...model.defaults },
    engineVersion: version,
    prediction,
    defaultSize: model.defaults.width,
    fileWeightTypes,
    memory: mem ? {
      totalMiB: Number(mem[1]),
      textEncodersMiB: Number(mem[2]),
      diffusionModelMiB: Number(mem[3]),
      vaeMiB: Number(mem[4]),
      controlNetMiB: Number(mem[5]),
    } : undefined,
    device,
    components,
  };
}
