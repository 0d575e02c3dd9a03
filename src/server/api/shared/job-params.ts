import { randomInt } from 'node:crypto';
import { resolveSampler, type SamplerChoice } from '../../../pipeline/samplers.js';
import type { ServerLimits } from '../../config.js';
import { badRequest } from '../../errors.js';
import { inputFiles, type JobRecord } from '../../jobs/job-spec.js';
import type { JobService } from '../../jobs/job-service.js';
import type { NewJob } from '../../jobs/job-store.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { PromptModelSettings } from '../../jobs/prompt-preparation.js';
import type { PromptFilter } from '../../safety/prompt-filter.js';
import type { ImageInputSettings, StoredImage } from '../../storage/image-inputs.js';
import type { ObjectStorage } from '../../storage/object-storage.js';

// What every API dialect needs to turn a request into a JobSpec: the server's defaults, model choice,
// sampler names, size checks and the life of stored input images. Dialects decide only their own names.

/** What a dialect's translation reads besides the request: served models, limits, image input settings. */
export interface TranslationContext {
  models: ServedModel[];
  limits: ServerLimits;
  images: ImageInputSettings;
  promptFilter: PromptFilter;
  /** The language model behind enhance_prompt and multi_lingual (model undefined: the server has none). */
  promptModel: PromptModelSettings;
}

/**
 * How much of the input image tasks repaint when a request does not say, in every dialect. Size, steps, CFG
 * and sampler come from the model: `ServedModel.defaults` (family-defaults.ts).
 */
export const JOB_DEFAULTS = { img2imgStrength: 0.7, inpaintStrength: 1 } as const;

/** A request's sampler by name (400 if unknown), else the model's own sampler and schedule. */
export function samplerOrDefault(parameter: string, name: string | undefined, model: ServedModel): SamplerChoice {
  return name !== undefined ? samplerChoice(parameter, name) : { sampler: model.defaults.sampler, scheduler: model.defaults.scheduler };
}

/** A seed for a request that gives none, decided at submission so responses can report it. */
export const randomSeed = (): number => randomInt(0, 2 ** 32);

/** A served model of `role` by id; no id = the first of that role. `parameter` names the field in errors. */
export function pickModel(models: ServedModel[], id: unknown, role: ServedModel['role'], parameter: string): ServedModel {
  const candidates = models.filter((m) => m.role === role);
  if (id === undefined || id === null || id === '') {
    if (!candidates[0]) throw badRequest(`${parameter}: this server has no ${role} model`, 'model_not_found');
    return candidates[0];
  }
  const model = candidates.find((m) => m.id === id) ?? candidates.find((m) => m.aliases.includes(String(id)));
  if (!model) {
    throw badRequest(`${parameter}: no ${role} model '${String(id)}' is served (available: ${candidates.map((m) => m.id).join(', ') || 'none'})`, 'model_not_found');
  }
  return model;
}

/** A sampler (diffusers, A1111 or engine name) as the engine's sampler and schedule; 400 if unknown. */
export function samplerChoice(parameter: string, name: string): SamplerChoice {
  try {
    return resolveSampler(parameter, name);
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

/** 400 when width x height is over the server's pixel budget; `what` names the parameter(s). */
export function checkPixels(limits: ServerLimits, width: number, height: number, what: string): void {
  if (width * height > limits.maxPixels) {
    throw badRequest(`${what} ${width}x${height} is larger than this server allows (${limits.maxPixels} pixels, e.g. ${Math.floor(Math.sqrt(limits.maxPixels))}x${Math.floor(Math.sqrt(limits.maxPixels))})`, 'size_too_large');
  }
}

export interface SizeNames {
  /** The input image's parameter, e.g. "init_image". */
  input: string;
  /** The size parameter(s), e.g. "width x height" or "size". */
  size: string;
  /** What to send instead of a too large input's own size, e.g. "width and height". */
  hint: string;
}

/** The size of an image task: the requested one, else the input's rounded down to multiples of 8 (at least 64). */
export function imageTaskSize(requested: { width?: number; height?: number }, input: StoredImage, limits: ServerLimits, names: SizeNames): { width: number; height: number } {
  const width = requested.width ?? Math.max(64, Math.floor(input.width / 8) * 8);
  const height = requested.height ?? Math.max(64, Math.floor(input.height / 8) * 8);
  if (requested.width === undefined && requested.height === undefined && width * height > limits.maxPixels) {
    throw badRequest(`${names.input} is ${input.width}x${input.height}, larger than this server generates (${limits.maxPixels} pixels): give ${names.hint}`, 'size_too_large');
  }
  checkPixels(limits, width, height, names.size);
  return { width, height };
}

/** Removes stored input images, in the background. */
export function removeInputs(storage: ObjectStorage, files: (string | undefined)[]): void {
  for (const file of files) if (file) storage.remove('inputs', file).catch(() => {});
}

/**
 * Submits a translated job. When the service refuses it (the queue is full) there is no job to remove its
 * stored input images when it ends, so they go now.
 */
export async function submitJob(service: JobService, job: NewJob, storage: ObjectStorage): Promise<JobRecord> {
  try {
    return await service.submit(job);
  } catch (err) {
    removeInputs(storage, inputFiles(job.spec));
    throw err;
  }
}
