import os from 'node:os';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../../config.js';
import { ApiError, badRequest, shuttingDown } from '../../errors.js';
import type { JobRecord } from '../../jobs/job-spec.js';
import type { JobService } from '../../jobs/job-service.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { Db } from '../../store/database.js';
import type { AccessControl } from '../access.js';
import { errorData } from '../error-data.js';
import { submitJob, type TranslationContext } from '../shared/job-params.js';
import { httpStatusOfJobError } from '../shared/job-results.js';
import { CONTROLNET_MODULES, findModel, latentUpscaleModes, loras, modelTitle, samplers, schedulers, sdModels, upscalers } from './catalog.js';
import { builtinExtras, upscalerByName } from './builtin-upscalers.js';
import { renderExtras, renderImages, renderProgress, type A1111RenderContext } from './render.js';
import {
  a1111Responses,
  a1111Schemas,
  cmdFlagsResponse,
  controlnetModelListResponse,
  controlnetModuleListResponse,
  controlnetVersionResponse,
  emptyResponse,
  extrasResponse,
  faceRestorersResponse,
  imagesResponse,
  latentUpscaleModesResponse,
  lorasResponse,
  memoryResponse,
  nullResponse,
  optionsResponse,
  progressQuery,
  progressResponse,
  promptStylesResponse,
  samplersResponse,
  schedulersResponse,
  sdModelsResponse,
  sdVaeResponse,
  upscalersResponse,
} from './schemas.js';
import { A1111Settings, type A1111Options, type OptionsStore } from './settings.js';
import { checkpointOf, extrasToJob, img2imgToJob, refuseFaceRestoration, modelNotFound, txt2imgToJob, type A1111Body, type A1111Context, type A1111Translation } from './to-job.js';

export interface A1111RoutesOptions {
  /** This node's database: the checkpoints' hashes. */
  db: Db;
  /** The options, shared by every API node where the queue is. */
  optionsStore: OptionsStore;
  service: JobService;
  access: AccessControl;
  models: ServedModel[];
  config: ServerConfig;
  /** The translation context for one request (its origin decides which URLs are this server's own). */
  context: (origin: string) => TranslationContext;
  baseUrl: (request: FastifyRequest) => string;
}

/** How long a sdapi call waits for its job: A1111's calls are synchronous, however long the queue. */
const SYNC_TIMEOUT_MS = 3600_000;

/**
 * Errors as A1111 (FastAPI) sends them: `{ error, detail, body, errors }`, 422 for a body that fails its
 * schema (detail lists `{ loc, msg, type }` as FastAPI does). `error` carries the stable error code where
 * A1111 puts the exception's class name. A 401 asks for Basic auth, as A1111's --api-auth does.
 */
export function a1111ErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const data = errorData(error);
  const validation = (error as FastifyError).validation;
  if (validation) {
    const where = (error as FastifyError).validationContext ?? 'body';
    const detail = validation.map((v) => {
      const missing = v.keyword === 'required' ? [String((v.params as { missingProperty?: unknown }).missingProperty)] : [];
      return { loc: [where, ...v.instancePath.split('/').filter(Boolean), ...missing], msg: v.message ?? 'is invalid', type: v.keyword };
    });
    void reply.code(422).send({ error: 'validation_error', detail, body: '', errors: data.message });
    return;
  }
  if (data.internal) request.log.error(error);
  const headers = data.statusCode === 401 ? { ...data.headers, 'WWW-Authenticate': 'Basic realm="diffusekit"' } : data.headers;
  void reply.code(data.statusCode).headers(headers).send({ error: data.code, detail: data.message, body: '', errors: data.message });
}

/** AUTOMATIC1111's sdapi/v1 (and sd-webui-controlnet's list routes) over the server's queue and workers. */
export async function a1111Routes(app: FastifyInstance, options: A1111RoutesOptions): Promise<void> {
  const { service, access, models, config } = options;
  const settings = new A1111Settings(options.db, options.optionsStore);
  const schemas = a1111Schemas(config.limits);
  const sha256 = (model: ServedModel) => settings.sha256(model);
  const tags = ['a1111'];
  const context = async (request: FastifyRequest, owner: string | null): Promise<A1111Context> => ({ ...options.context(options.baseUrl(request)), settings: await settings.scoped(owner) });
  const renderContext = (request: FastifyRequest): A1111RenderContext => ({ storage: options.context(options.baseUrl(request)).images.storage, models, sha256 });

  app.setErrorHandler(a1111ErrorHandler);

  /** Waits for a job to end; gives up early when the client has gone (the job still runs to the end). */
  const waitFor = async (id: number, reply: FastifyReply): Promise<JobRecord> => {
    let gone = false;
    const onClose = () => (gone = true);
    reply.raw.once('close', onClose);
    try {
      const deadline = Date.now() + SYNC_TIMEOUT_MS;
      for (;;) {
        const job = (await service.wait(id, Math.min(10_000, deadline - Date.now())))!;
        if (job.status === 'success' || job.status === 'error' || job.status === 'cancelled') return job;
        if (gone) return job;
        if (service.draining) throw shuttingDown(id);
        if (Date.now() >= deadline) throw new ApiError(504, 'timeout', `Job ${id} did not finish within an hour; its result stays fetchable at /api/v6/images/fetch/${id}`);
      }
    } finally {
      reply.raw.off('close', onClose);
    }
  };

  /** Admits, translates, queues and waits for one job; an interrupted job answers with no images, as in A1111. */
  const runJob = async (request: FastifyRequest, reply: FastifyReply, images: number, translate: (context: A1111Context) => Promise<A1111Translation>) => {
    const principal = await access.identify(request);
    await access.admitJob(principal, images);
    const keyId = access.keyId(principal);
    const ctx = await context(request, keyId);
    const translation = await translate(ctx);
    const body = request.body as A1111Body;
    const job = await submitJob(
      service,
      { spec: translation.spec, api: 'a1111', request: { batch_size: body.batch_size, n_iter: body.n_iter }, keyId, baseUrl: options.baseUrl(request) },
      ctx.images.storage,
    );
    await access.recordImages(principal, images);
    const done = await waitFor(job.id, reply);
    if (done.status === 'error') throw new ApiError(httpStatusOfJobError(done), done.errorCode ?? 'job_failed', done.error ?? `Job ${done.id} failed`);
    return { job: done, translation };
  };

  const imageCount = (body: A1111Body) => (body.batch_size as number) * (body.n_iter as number);

  app.post('/sdapi/v1/txt2img', { schema: { summary: 'Text to image (A1111)', tags, body: schemas.txt2img, response: a1111Responses(imagesResponse) } }, async (request, reply) => {
    const body = request.body as A1111Body;
    const { job } = await runJob(request, reply, imageCount(body), (ctx) => txt2imgToJob(body, ctx));
    return renderImages(job, body, renderContext(request));
  });

  app.post('/sdapi/v1/img2img', { schema: { summary: 'Image to image or inpainting (A1111)', tags, body: schemas.img2img, response: a1111Responses(imagesResponse) } }, async (request, reply) => {
    const body = request.body as A1111Body;
    const { job } = await runJob(request, reply, imageCount(body), (ctx) => img2imgToJob(body, ctx));
    const parameters = body.include_init_images ? body : { ...body, init_images: null, mask: null };
    return renderImages(job, parameters, renderContext(request));
  });

  app.post('/sdapi/v1/extra-single-image', { schema: { summary: 'Upscale one image (A1111 extras)', tags, body: schemas.extraSingleImage, response: a1111Responses(extrasResponse) } }, async (request, reply) => {
    const body = request.body as A1111Body;
    refuseFaceRestoration(body);
    const upscaler = upscalerByName('upscaler_1', typeof body.upscaler_1 === 'string' && body.upscaler_1.trim() ? body.upscaler_1.trim() : 'None', models);
    if ('builtin' in upscaler) {
      const principal = await access.identify(request);
      const ctx = await context(request, access.keyId(principal));
      return builtinExtras(body, upscaler.builtin, ctx.images, ctx.limits.maxSide);
    }
    const { job, translation } = await runJob(request, reply, 1, (ctx) => extrasToJob(body, upscaler.model, ctx));
    if (job.status === 'cancelled') throw new ApiError(409, 'cancelled', `Job ${job.id} was interrupted`);
    return renderExtras(job, translation.resizeTo, renderContext(request));
  });

  /** The caller's running jobs (everyone's for the admin and under --no-auth), oldest first. */
  const runningJobs = async (request: FastifyRequest) => {
    const principal = await access.identify(request);
    return { principal, jobs: (await service.running()).filter((job) => access.canSee(principal, job)).sort((a, b) => a.id - b.id) };
  };

  app.get('/sdapi/v1/progress', { schema: { summary: 'Progress of the running job, with a preview image', tags, querystring: progressQuery, response: a1111Responses(progressResponse) } }, async (request) => {
    const { principal, jobs } = await runningJobs(request);
    const keyId = access.keyId(principal);
    const counts = await service.counts();
    const jobCount = keyId ? await service.activeForKey(keyId) : counts.queued + counts.running;
    const job = jobs[0];
    const skip = (request.query as { skip_current_image?: boolean }).skip_current_image === true;
    return renderProgress(job, job && (await service.progress(job.id)), job && (await service.preview(job.id)), jobCount, skip);
  });

  // interrupt stops the caller's running jobs; skip does the same (the engine samples a batch in one call,
  // so there is no next image to skip to). Their sync calls answer with no images.
  const interrupt = async (request: FastifyRequest) => {
    for (const job of (await runningJobs(request)).jobs) await service.cancel(job.id);
  };
  app.post('/sdapi/v1/interrupt', { schema: { summary: "Stop the caller's running jobs", tags, response: a1111Responses(emptyResponse) } }, async (request) => {
    await interrupt(request);
    return {};
  });
  app.post('/sdapi/v1/skip', { schema: { summary: 'Same as interrupt', tags, response: a1111Responses(emptyResponse) } }, async (request) => {
    await interrupt(request);
    return {};
  });

  const list = (url: string, summary: string, response: object, make: (request: FastifyRequest) => unknown) =>
    app.get(url, { schema: { summary, tags, response: a1111Responses(response) } }, async (request) => {
      await access.identify(request);
      return make(request);
    });
  list('/sdapi/v1/sd-models', 'Checkpoints (titles carry the sha256 once computed)', sdModelsResponse, () => sdModels(models, sha256));
  list('/sdapi/v1/samplers', 'Samplers in A1111 spelling', samplersResponse, samplers);
  list('/sdapi/v1/schedulers', 'Schedules', schedulersResponse, schedulers);
  list('/sdapi/v1/upscalers', 'Upscalers: None, Lanczos, Nearest and the served ESRGAN models', upscalersResponse, () => upscalers(models));
  list('/sdapi/v1/latent-upscale-modes', 'Latent upscalers for the hires fix', latentUpscaleModesResponse, latentUpscaleModes);
  list('/sdapi/v1/loras', 'LoRA files of the LoRA folder', lorasResponse, () => loras(config.loraDir));
  list('/sdapi/v1/sd-vae', 'None: VAEs come with the checkpoint', sdVaeResponse, () => []);
  list('/sdapi/v1/prompt-styles', 'None', promptStylesResponse, () => []);
  list('/sdapi/v1/face-restorers', 'None', faceRestorersResponse, () => []);
  list('/sdapi/v1/cmd-flags', 'What this server runs with, in A1111 flag names', cmdFlagsResponse, () => ({
    api: true,
    nowebui: true,
    listen: config.host !== '127.0.0.1' && config.host !== 'localhost',
    port: config.port,
    api_auth: config.auth ? 'API keys' : null,
    lora_dir: config.loraDir ?? null,
    embeddings_dir: config.embeddingDir ?? null,
  }));
  list('/sdapi/v1/memory', 'Memory of this machine', memoryResponse, () => {
    const [total, free] = [os.totalmem(), os.freemem()];
    return { ram: { free, used: total - free, total }, cuda: { error: 'not reported by diffusekit' } };
  });
  list('/controlnet/version', 'sd-webui-controlnet API version', controlnetVersionResponse, () => ({ version: 2 }));
  list('/controlnet/model_list', 'Served ControlNet models', controlnetModelListResponse, () => ({ model_list: models.filter((m) => m.role === 'controlnet').map((m) => m.id) }));
  list('/controlnet/module_list', 'ControlNet preprocessors', controlnetModuleListResponse, () => ({ module_list: [...CONTROLNET_MODULES], module_detail: {} }));
  for (const url of ['/sdapi/v1/refresh-checkpoints', '/sdapi/v1/refresh-loras']) {
    app.post(url, { schema: { summary: 'Nothing to do: models are fixed at start; the LoRA folder is read on each use', tags, response: a1111Responses(emptyResponse) } }, async (request) => {
      await access.identify(request);
      return {};
    });
  }

  app.get('/sdapi/v1/options', { schema: { summary: 'Settings: sd_model_checkpoint, CLIP_stop_at_last_layers', tags, response: a1111Responses(optionsResponse) } }, async (request) => {
    const principal = await access.identify(request);
    const ctx = await context(request, access.keyId(principal));
    const model = checkpointOf({}, ctx);
    const hash = sha256(model);
    return {
      sd_model_checkpoint: modelTitle(model, hash),
      sd_checkpoint_hash: hash ?? null,
      CLIP_stop_at_last_layers: ctx.settings.options().CLIP_stop_at_last_layers,
      sd_vae: 'Automatic',
      sd_lora: 'None',
      samples_format: 'png',
      live_previews_enable: true,
      show_progress_type: 'Approx cheap',
      show_progress_every_n_steps: 1,
    };
  });

  // A key's options are its own (the admin's and --no-auth's are the server's, every key's default), so one
  // client switching models does not switch them for the others.
  app.post('/sdapi/v1/options', { schema: { summary: 'Change settings (persisted)', tags, body: schemas.options, response: a1111Responses(nullResponse) } }, async (request) => {
    const principal = await access.identify(request);
    const body = request.body as Record<string, unknown>;
    const changes: Partial<A1111Options> = {};
    if (typeof body.sd_model_checkpoint === 'string') {
      const model = findModel(models, 'checkpoint', body.sd_model_checkpoint, sha256);
      if (!model) throw modelNotFound('sd_model_checkpoint', body.sd_model_checkpoint, models, 'checkpoint');
      changes.sd_model_checkpoint = model.id;
    }
    if (body.CLIP_stop_at_last_layers !== undefined) {
      if (typeof body.CLIP_stop_at_last_layers !== 'number') throw badRequest('CLIP_stop_at_last_layers: expected an integer from 1 to 12');
      changes.CLIP_stop_at_last_layers = body.CLIP_stop_at_last_layers;
    }
    await (await settings.scoped(access.keyId(principal))).update(changes);
    return null;
  });
}
