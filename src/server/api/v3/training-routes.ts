import fs from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TrainerMissingError } from '../../../errors.js';
import { trainerPython } from '../../../training/trainer-environment.js';
import type { ServerLimits } from '../../config.js';
import { ApiError } from '../../errors.js';
import type { JobService } from '../../jobs/job-service.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { ImageInputSettings } from '../../storage/image-inputs.js';
import { trainingFolder } from '../../training/training-spec.js';
import type { Awaitable } from '../../jobs/job-repository.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import { datasetBundleName, putDatasetBundle } from '../../training/dataset-bundle.js';
import type { TrainingDirectory } from '../../training/training-store.js';
import type { AccessControl } from '../access.js';
import { webhookParam } from '../shared/webhook-param.js';
import { v6ErrorHandler } from '../v6/routes.js';
import { v6Responses } from '../v6/schemas.js';
import { renderTraining } from './render.js';
import { v3ToTraining, type V3TrainingBody } from './to-training.js';

export interface TrainingRoutesOptions {
  service: JobService;
  access: AccessControl;
  trainings: TrainingDirectory;
  /** Whether some worker takes trainings now (Redis: a live node started with canTrain); else 503 no_training_worker. */
  canTrain: () => Awaitable<boolean>;
  /**
   * 'local': this process's workers train (SQLite), so the trainer must be installed here; 'shared': worker nodes
   * train (Redis), and the prepared dataset goes to them through `storage`.
   */
  trainers: 'local' | 'shared';
  storage: ObjectStorage;
  models: ServedModel[];
  limits: ServerLimits;
  trainingDir: string;
  trainerVenv?: string;
  images: (baseUrl: string) => ImageInputSettings;
  baseUrl: (request: FastifyRequest) => string;
}

const text = (maxLength: number, description?: string) => ({ type: ['string', 'null'], maxLength, ...(description ? { description } : {}) });
const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9]{1,64}$' } }, required: ['id'] } as const;
const keyBody = { type: 'object', properties: { key: { type: 'string' } } } as const;

const fineTuneBody = {
  type: 'object',
  required: ['instance_prompt', 'images'],
  properties: {
    key: { type: 'string' },
    instance_prompt: { type: 'string', minLength: 1, maxLength: 1000, description: 'the caption of every image, e.g. "photo of sks dog"' },
    class_prompt: text(1000, 'accepted; not used (no prior-preservation images are generated)'),
    base_model_type: { type: ['string', 'null'], enum: ['sd', 'sdxl', null] },
    negative_prompt: text(1000),
    images: { type: 'array', maxItems: 1000, items: { type: 'string' }, description: 'image URLs (or data URLs / base64)' },
    seed: { type: ['integer', 'string', 'null'] },
    training_type: { type: ['string', 'null'], enum: ['men', 'female', 'couple', 'null', null] },
    max_train_steps: { type: ['integer', 'string', 'null'] },
    lora_type: { type: ['string', 'null'], enum: ['lora', 'lycoris', null], description: 'lora (default): a kohya LoRA; lycoris: a LyCORIS LoHa (hada_* tensors)' },
    webhook: text(2000),
    track_id: { type: ['string', 'integer', 'null'] },
    model_id: text(200, 'diffusekit: which served model to train on (default the first trainable one)'),
    lora_rank: { type: ['integer', 'null'], minimum: 1, maximum: 128 },
    learning_rate: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 0.1 },
    resolution: { type: ['integer', 'null'], minimum: 64, maximum: 2048, description: "diffusekit: the square training size (default the model's own, 512 for SD 1.x)" },
  },
} as const;

const nullable = (type: string) => ({ type: [type, 'null'] }) as const;

const trainingSubmitted = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['success'] },
    messege: { type: 'string', description: "The hosted API's spelling; `message` carries the same" },
    message: { type: 'string' },
    data: { type: 'string', description: 'How long the training is expected to take' },
    training_id: { type: 'string', description: 'Polled with fine_tune_status; the LoRA id once trained' },
  },
  required: ['status', 'messege', 'message', 'data', 'training_id'],
} as const;

/** A training's state (renderTraining): fine_tune_status, fine_tune_cancel and the webhook. */
const trainingState = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['success', 'error'] },
    messege: { type: 'string', description: 'deploying_gpu, training_started, training_success, training_failed or training_cancelled' },
    message: nullable('string'),
    training_status: { type: 'string' },
    training_id: { type: 'string' },
    model_id: { ...nullable('string'), description: 'The LoRA id once trained: lora_model in text2img, <lora:id:w> in prompts' },
    lora_model: nullable('string'),
    base_model: { type: 'string' },
    max_train_steps: { type: 'integer' },
    step: { type: 'integer' },
    loss: nullable('number'),
    eta: { ...nullable('number'), description: 'Seconds until done' },
    track_id: nullable('string'),
    error_code: nullable('string'),
  },
  required: ['status', 'messege', 'training_status', 'training_id', 'base_model', 'max_train_steps', 'step'],
} as const;

/** The hosted API's legacy v3 training endpoints: lora_fine_tune, fine_tune_status, and diffusekit's fine_tune_cancel. */
export async function trainingRoutes(app: FastifyInstance, options: TrainingRoutesOptions): Promise<void> {
  const { service, access, trainings } = options;
  app.setErrorHandler(v6ErrorHandler);

  app.post('/api/v3/lora_fine_tune', { schema: { summary: 'Train a LoRA from images (a queued training job)', tags: ['training'], body: fineTuneBody, response: v6Responses(trainingSubmitted) } }, async (request) => {
    const body = request.body as V3TrainingBody;
    const principal = await access.identify(request);
    await access.admitJob(principal, 0);
    const keyId = access.keyId(principal);
    if (keyId && (await trainings.activeForKey(keyId)) >= options.limits.maxTrainingsPerKey) {
      throw new ApiError(429, 'too_many_trainings', `This key already has ${options.limits.maxTrainingsPerKey} training(s) queued or running; wait for it to finish`, { 'Retry-After': '60' });
    }
    if (!(await options.canTrain())) {
      throw new ApiError(503, 'no_training_worker', 'No worker node of this cluster takes trainings: start one with --train (canTrain), with the trainer installed', { 'Retry-After': '60' });
    }
    if (options.trainers === 'local') {
      try {
        trainerPython(options.trainerVenv);
      } catch (err) {
        if (err instanceof TrainerMissingError) throw new ApiError(503, 'trainer_unavailable', err.message);
        throw err;
      }
    }
    const baseUrl = options.baseUrl(request);
    const images = options.images(baseUrl);
    const webhook = await webhookParam(body.webhook, { allow: images.allowHosts, timeoutMs: images.fetchTimeoutMs });
    const { spec, trainingId } = await v3ToTraining(body, { models: options.models, images, trainingDir: options.trainingDir, limits: options.limits });
    const trackId = body.track_id === undefined || body.track_id === null ? null : String(body.track_id);
    let job;
    try {
      if (options.trainers === 'shared') await putDatasetBundle(options.storage, options.trainingDir, trainingId);
      job = await service.submit({ spec, api: 'v3', request: { training_id: trainingId }, keyId, trackId, webhook, baseUrl });
    } catch (err) {
      await fs.rm(trainingFolder(options.trainingDir, trainingId), { recursive: true, force: true });
      if (options.trainers === 'shared') await options.storage.remove('inputs', datasetBundleName(trainingId)).catch(() => {});
      throw err;
    }
    await trainings.insert({ trainingId, jobId: job.id, keyId, createdAt: Date.now() });
    const minutes = Math.max(1, Math.round((await service.eta(job)) / 60));
    return { status: 'success', messege: 'deploying_gpu', message: 'deploying_gpu', data: `it will take about ${minutes} minutes`, training_id: trainingId };
  });

  const findTraining = async (request: FastifyRequest) => {
    const principal = await access.identify(request);
    const { id } = request.params as { id: string };
    const row = await trainings.get(id);
    const job = row && (await service.get(row.jobId));
    if (!job || !access.canSee(principal, job)) throw new ApiError(404, 'training_not_found', `No training ${id}`);
    return job;
  };
  const render = async (id: number) => {
    const job = (await service.get(id))!;
    const active = job.status === 'queued' || job.status === 'running';
    const progress = active ? await service.progress(id) : undefined;
    return renderTraining(job, progress, job.status === 'queued' ? await service.eta(job) : undefined);
  };

  for (const method of ['POST', 'GET'] as const) {
    app.route({
      method,
      url: '/api/v3/fine_tune_status/:id',
      schema: { summary: 'The state of a training; its LoRA id once done', tags: ['training'], params: idParams, ...(method === 'POST' ? { body: keyBody } : {}), response: v6Responses(trainingState) },
      handler: async (request) => render((await findTraining(request)).id),
    });
  }

  app.post('/api/v3/fine_tune_cancel/:id', { schema: { summary: 'Cancel a queued or running training (diffusekit)', tags: ['training'], params: idParams, body: keyBody, response: v6Responses(trainingState) } }, async (request) => {
    const job = await findTraining(request);
    await service.cancel(job.id);
    await service.wait(job.id, 10_000);
    return render(job.id);
  });
}
