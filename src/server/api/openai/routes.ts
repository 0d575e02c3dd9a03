import fs from 'node:fs';
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerLimits } from '../../config.js';
import { ApiError, shuttingDown } from '../../errors.js';
import type { JobRecord } from '../../jobs/job-spec.js';
import type { JobService } from '../../jobs/job-service.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { OutputLinks } from '../../security/output-links.js';
import type { AccessControl } from '../access.js';
import { errorData } from '../error-data.js';
import { submitJob, type TranslationContext } from '../shared/job-params.js';
import { jobError, renderError, renderImages } from './render.js';
import { imagesResponse, modelListResponse, modelParams, modelResponse, openaiResponses, openaiSchemas } from './schemas.js';
import { openaiToJob, type OpenAIBody, type OpenAIEndpoint } from './to-job.js';

export interface OpenAIRoutesOptions {
  service: JobService;
  access: AccessControl;
  models: ServedModel[];
  limits: ServerLimits;
  /** The translation context for one request (its origin decides which URLs are this server's own). */
  context: (baseUrl: string) => TranslationContext;
  baseUrl: (request: FastifyRequest) => string;
  /** Output URLs (signed in 'private' mode). */
  links: OutputLinks;
  /** How long an images request waits for its job (OpenAI's calls are synchronous). Default 600 s. */
  waitSeconds?: number;
}

const IMAGE_ENDPOINTS: [OpenAIEndpoint, string][] = [
  ['generations', 'Text to image'],
  ['edits', 'Repaint the transparent part of an image (mask, or the image\'s own alpha), or edit it as a whole'],
  ['variations', 'Variations of an image (img2img)'],
];

/** Request parameters, for naming `param` in errors whose message starts with one. */
const PARAMS = new Set(['model', 'prompt', 'n', 'size', 'response_format', 'output_format', 'quality', 'style', 'background', 'stream', 'image', 'mask', 'user', 'seed', 'steps', 'guidance_scale', 'strength', 'negative_prompt']);

function paramOf(error: unknown, message: string): string | null {
  const first = (error as FastifyError).validation?.[0];
  if (first) {
    if (first.keyword === 'required') return String((first.params as { missingProperty?: unknown }).missingProperty);
    return first.instancePath.replace(/^\//, '').replace(/\//g, '.') || null;
  }
  const word = /^[a-z_]+/.exec(message)?.[0];
  return word && PARAMS.has(word) ? word : null;
}

/** Errors in OpenAI's shape, `{ error: { message, type, param, code } }`, with the error's status and headers. */
export function openaiErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const data = errorData(error);
  if (data.internal) request.log.error(error);
  const rendered = renderError(data, paramOf(error, data.message));
  void reply.code(rendered.statusCode).headers(rendered.headers).send(rendered.body);
}

/**
 * OpenAI's images API under /v1: generations, edits, variations and the model list, on the same job queue
 * as every other dialect. Image calls are synchronous: they answer when the job has finished.
 */
export async function openaiRoutes(app: FastifyInstance, options: OpenAIRoutesOptions): Promise<void> {
  await app.register(async (v1) => openaiV1(v1, options), { prefix: '/v1' });
}

async function openaiV1(app: FastifyInstance, options: OpenAIRoutesOptions): Promise<void> {
  const { service, access, limits } = options;
  const waitMs = (options.waitSeconds ?? 600) * 1000;
  const schemas = openaiSchemas(limits);

  app.setErrorHandler(openaiErrorHandler);
  app.setNotFoundHandler((request, reply) => {
    const body = renderError({ statusCode: 404, code: 'unknown_url', message: `Invalid URL (${request.method} ${request.url.split('?')[0]})`, headers: {}, internal: false }, null);
    void reply.code(404).send(body.body);
  });
  // Uploads (edits, variations) as multipart/form-data: fields and files land in the body, files as Buffers,
  // so the routes' schemas validate them like JSON.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: limits.maxImageBytes, files: 8, fields: 64, fieldSize: limits.maxBodyBytes, parts: 72 },
  });

  let closing = false;
  app.addHook('onClose', async () => {
    closing = true;
  });

  /** Waits for a job to end; gives up early when the client has gone (the job goes on) or the server closes. */
  const waitForJob = async (id: number, reply: FastifyReply): Promise<JobRecord> => {
    let gone = false;
    reply.raw.once('close', () => {
      gone = true;
    });
    const deadline = Date.now() + waitMs;
    for (;;) {
      const job = (await service.wait(id, Math.min(1000, Math.max(0, deadline - Date.now()))))!;
      if (job.status !== 'queued' && job.status !== 'running') return job;
      if (service.draining) throw shuttingDown(id);
      if (gone || closing || Date.now() >= deadline) return job;
    }
  };

  for (const [endpoint, summary] of IMAGE_ENDPOINTS) {
    app.post(
      `/images/${endpoint}`,
      {
        schema: {
          summary,
          tags: ['openai'],
          ...(endpoint === 'generations' ? {} : { consumes: ['multipart/form-data'] }),
          body: schemas[endpoint],
          response: openaiResponses(imagesResponse),
        },
      },
      async (request, reply) => {
        const body = (request.body ?? {}) as OpenAIBody;
        const principal = await access.identify(request);
        const images = (body.n as number | null | undefined) ?? 1;
        await access.admitJob(principal, images);
        const baseUrl = options.baseUrl(request);
        const context = options.context(baseUrl);
        const { spec, request: data } = await openaiToJob(endpoint, body, context);
        const submitted = await submitJob(service, { spec, api: 'openai', request: data, keyId: access.keyId(principal), baseUrl }, context.images.storage);
        await access.recordImages(principal, images);
        const job = await waitForJob(submitted.id, reply);
        if (job.status !== 'success') throw jobError(job, Math.round(waitMs / 1000));
        return reply.send(await renderImages(job, context.images.storage, options.links));
      },
    );
  }

  // The checkpoints are what `model` accepts; `created` is the model file's time.
  const created = (model: ServedModel) => {
    try {
      return Math.floor(fs.statSync(model.path).mtimeMs / 1000);
    } catch {
      return 0;
    }
  };
  const modelObject = (model: ServedModel) => ({ id: model.id, object: 'model', created: created(model), owned_by: 'diffusekit' });
  const checkpoints = () => options.models.filter((m) => m.role === 'checkpoint');

  app.get('/models', { schema: { summary: 'The models image requests may name', tags: ['openai'], response: openaiResponses(modelListResponse) } }, async (request) => {
    await access.identify(request);
    return { object: 'list', data: checkpoints().map(modelObject) };
  });

  app.get('/models/:id', { schema: { summary: 'One model', tags: ['openai'], params: modelParams, response: openaiResponses(modelResponse) } }, async (request) => {
    await access.identify(request);
    const { id } = request.params as { id: string };
    const model = checkpoints().find((m) => m.id === id);
    if (!model) throw new ApiError(404, 'model_not_found', `model: the model '${id}' does not exist (GET /v1/models lists them)`);
    return modelObject(model);
  });
}
