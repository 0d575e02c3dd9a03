import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DiffusekitError } from '../../../errors.js';
import { prepareDataset } from '../../../training/dataset.js';
import { nativeResolution } from '../../../training/train.js';
import { ApiError } from '../../errors.js';
import type { JobSpec } from '../../jobs/job-spec.js';
import type { ServedModel } from '../../models/model-registry.js';
import { readBytes, type ImageInputSettings } from '../../storage/image-inputs.js';
import { trainingFolder, type TrainingSpec } from '../../training/training-spec.js';
import { randomSeed } from '../shared/job-params.js';

/** The ModelsLab v3 lora_fine_tune body, plus diffusekit's own optional fields (model_id, lora_rank, learning_rate, resolution). */
export interface V3TrainingBody {
  key?: string;
  instance_prompt: string;
  class_prompt?: string | null;
  base_model_type?: 'sd' | 'sdxl' | null;
  negative_prompt?: string | null;
  images: string[];
  seed?: number | string | null;
  training_type?: string | null;
  max_train_steps?: number | string | null;
  lora_type?: 'lora' | 'lycoris' | null;
  webhook?: string | null;
  track_id?: string | number | null;
  model_id?: string | null;
  lora_rank?: number | null;
  learning_rate?: number | null;
  resolution?: number | null;
}

export interface TrainingLimits {
  maxTrainSteps: number;
  maxTrainingImages: number;
}

export const DEFAULT_TRAIN_STEPS = 500;

const badRequest = (message: string, code = 'invalid_request') => new ApiError(400, code, message);

/** The families of each `base_model_type`. */
const BASE_FAMILIES = { sd: ['sd1', 'sd2'], sdxl: ['sdxl'] } as const;
const TRAINABLE_FAMILIES: readonly string[] = Object.values(BASE_FAMILIES).flat();
/** Families with a single-file layout the trainer converts (others must be diffusers folders). */
const SINGLE_FILE_FAMILIES = ['sd1', 'sdxl'];

/** The served base models a LoRA can be trained on: SD 1.x / 2.x / SDXL diffusers folders and SD 1.x / SDXL .safetensors files. */
export const trainableModels = (models: ServedModel[]): ServedModel[] =>
  models.filter(
    (m) => m.role === 'checkpoint' && TRAINABLE_FAMILIES.includes(m.family)
      && (fs.existsSync(path.join(m.path, 'unet', 'config.json')) || (SINGLE_FILE_FAMILIES.includes(m.family) && m.path.endsWith('.safetensors'))),
  );

const WHAT = { sd: 'an SD 1.x/2.x diffusers folder or an SD 1.x .safetensors file', sdxl: 'an SDXL diffusers folder or an SDXL .safetensors file' };
const HOW_TO_SERVE = 'serve one with --model PATH (the `models` server option, server.models in the config)';

/** The base: `model_id`'s when given (of `base_model_type`'s families when that is given too), else the first served one of `base_model_type` ('sd' by default). */
function pickBase(body: V3TrainingBody, models: ServedModel[]): ServedModel {
  const type = body.base_model_type ?? 'sd';
  const families: readonly string[] = BASE_FAMILIES[type];
  const trainable = trainableModels(models);
  const ofType = trainable.filter((m) => families.includes(m.family));
  if (body.model_id) {
    const model = trainable.find((m) => m.id === body.model_id || m.aliases.includes(body.model_id!));
    if (!model) throw badRequest(`model_id: '${body.model_id}' is not a served model a LoRA can be trained on: ${WHAT.sd}, or ${WHAT.sdxl} (trainable: ${trainable.map((m) => m.id).join(', ') || 'none'})`, 'model_not_found');
    if (body.base_model_type && !families.includes(model.family)) throw badRequest(`model_id: '${body.model_id}' is ${model.family}, not of base_model_type "${type}"`, 'model_not_found');
    return model;
  }
  if (!ofType[0]) {
    const detail = type === 'sdxl' ? `no SDXL model a LoRA can be trained on (${WHAT.sdxl})` : `no model a LoRA can be trained on (${WHAT.sd})`;
    throw badRequest(`base_model_type: ${type}: this server serves ${detail}; ${HOW_TO_SERVE}`, 'model_not_found');
  }
  return ofType[0];
}

/**
 * Translates a lora_fine_tune request into a lora_train JobSpec: picks the base model, fetches every image
 * (SSRF-guarded) and checks and prepares the dataset in the training's folder, so bad input is a 400 before
 * anything is queued.
 */
export async function v3ToTraining(
  body: V3TrainingBody,
  context: { models: ServedModel[]; images: ImageInputSettings; trainingDir: string; limits: TrainingLimits },
): Promise<{ spec: JobSpec; trainingId: string }> {
  const base = pickBase(body, context.models);
  const steps = body.max_train_steps === undefined || body.max_train_steps === null || body.max_train_steps === '' ? DEFAULT_TRAIN_STEPS : Number(body.max_train_steps);
  if (!Number.isInteger(steps) || steps < 1 || steps > context.limits.maxTrainSteps) throw badRequest(`max_train_steps: expected an integer from 1 to ${context.limits.maxTrainSteps}`);
  const seed = body.seed === undefined || body.seed === null || body.seed === '' ? randomSeed() : Number(body.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw badRequest('seed: expected an integer from 0 to 4294967295');
  if (body.images.length === 0) throw badRequest('images: the dataset has no images', 'invalid_dataset');
  if (body.images.length > context.limits.maxTrainingImages) throw badRequest(`images: ${body.images.length} images; at most ${context.limits.maxTrainingImages} are accepted`, 'invalid_dataset');

  const resolution = body.resolution ?? nativeResolution(base.path);
  if (resolution % 8 !== 0) throw badRequest('resolution: expected a multiple of 8');
  const images = await Promise.all(body.images.map(async (value, i) => ({ source: await readBytes(`images[${i}]`, String(value).trim(), context.images), label: `images[${i}]` })));
  const trainingId = randomBytes(8).toString('base64url').replace(/[-_]/g, 'x');
  const folder = trainingFolder(context.trainingDir, trainingId);
  try {
    await prepareDataset(images, { dir: path.join(folder, 'dataset'), resolution, instancePrompt: body.instance_prompt, maxImages: context.limits.maxTrainingImages });
  } catch (err) {
    fs.rmSync(folder, { recursive: true, force: true });
    if (err instanceof DiffusekitError) throw badRequest(err.message, 'invalid_dataset');
    throw err;
  }
  const training: TrainingSpec = { trainingId, steps, rank: body.lora_rank ?? 16, learningRate: body.learning_rate ?? 1e-4, resolution, loraType: body.lora_type ?? 'lora' };
  const spec: JobSpec = {
    task: 'lora_train', model: base.id, prompt: body.instance_prompt, negativePrompt: body.negative_prompt ?? '', samples: 1, steps, guidanceScale: 0, seed,
    loras: [], outputFormat: 'png', nsfwPrompt: false, training,
  };
  return { spec, trainingId };
}
