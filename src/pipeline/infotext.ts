import { A1111_SAMPLER_NAMES, A1111_SCHEDULER_NAMES, type Sampler, type Scheduler } from './samplers.js';

/** What a generation used, in the form AUTOMATIC1111's infotext ("parameters") records it. */
export interface GenerationParameters {
  prompt: string;
  negativePrompt: string;
  steps: number;
  sampler: Sampler;
  scheduler?: Scheduler;
  guidanceScale: number;
  /** Guidance-distilled models (FLUX.1 dev, FLUX.2 dev). */
  distilledGuidance?: number;
  seed: number;
  width: number;
  height: number;
  model: string;
  clipSkip?: number;
  batchSize: number;
  batchIndex: number;
  /** Image to image, inpainting and outpainting: how much of the input was replaced (0-1). */
  denoisingStrength?: number;
  /** Inpainting: the mask's blur in pixels. */
  maskBlur?: number;
  /** Hires fix: the first pass size and the refinement. */
  hires?: { scale: number; steps: number; upscaler: string; denoisingStrength: number; firstPass: { width: number; height: number } };
  /** ControlNet guidance, as the A1111 ControlNet extension records it. */
  controlNet?: { model: string; module: 'none' | 'canny'; weight: number };
}

/** A1111's quoting: values with a comma, colon or quote are written as JSON strings. */
function quote(value: string): string {
  return /[,:"\n]/.test(value) ? JSON.stringify(value) : value;
}

/** Formats parameters the way A1111 writes them, so its "PNG Info" and other readers parse them. */
export function formatInfotext(p: GenerationParameters, version: string): string {
  const fields: [string, string | number | undefined][] = [
    ['Steps', p.steps],
    ['Sampler', A1111_SAMPLER_NAMES[p.sampler]],
    ['Schedule type', p.scheduler ? A1111_SCHEDULER_NAMES[p.scheduler] : undefined],
    ['CFG scale', p.guidanceScale],
    ['Distilled CFG Scale', p.distilledGuidance],
    ['Seed', p.seed],
    ['Size', `${p.width}x${p.height}`],
    ['Model', p.model],
    ['Clip skip', p.clipSkip],
    ['Denoising strength', p.denoisingStrength ?? p.hires?.denoisingStrength],
    ['Hires upscale', p.hires?.scale],
    ['Hires steps', p.hires?.steps],
    ['Hires upscaler', p.hires?.upscaler],
    ['Mask blur', p.maskBlur],
    ['ControlNet 0', p.controlNet && `Module: ${p.controlNet.module}, Model: ${p.controlNet.model}, Weight: ${p.controlNet.weight}`],
    ['Batch size', p.batchSize > 1 ? p.batchSize : undefined],
    ['Batch pos', p.batchSize > 1 ? p.batchIndex : undefined],
    ['Version', `diffusekit ${version}`],
  ];
  const line = fields
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${quote(String(v))}`)
    .join(', ');
  const negative = p.negativePrompt ? `\nNegative prompt: ${p.negativePrompt}` : '';
  return `${p.prompt}${negative}\n${line}`;
}
