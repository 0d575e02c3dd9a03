import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerLimits } from '../../config.js';
import { ApiError } from '../../errors.js';
import type { JobRecord, JobTask } from '../../jobs/job-spec.js';
import type { JobService } from '../../jobs/job-service.js';
import type { ServedModel } from '../../models/model-registry.js';
import type { WebhookDeliveryState } from '../../webhooks/dispatcher.js';
import type { OutputLinks } from '../../security/output-links.js';
import type { AccessControl } from '../access.js';
import { errorData } from '../error-data.js';
import { eventRoutes } from '../events.js';
import { httpStatusOfJobError, renderV6, type V6JobList } from './render.js';
import { idParams, jobErrorResponse, jobListResponse, jobResponse, systemLoadResponse, v6Responses, v6Schemas } from './schemas.js';
import { submitJob } from '../shared/job-params.js';
import { webhookParam } from '../shared/webhook-param.js';
import { v6ToJob, type V6Body, type V6Context } from './to-job.js';
import { systemLoad } from './system-load.js';

export interface V6RoutesOptions {
  service: JobService;
  access: AccessControl;
  models: ServedModel[];
  limits: ServerLimits;
  syncWaitSeconds: number;
  ttlSeconds: number;
  webhookStatus: (id: number) => Promise<WebhookDeliveryState | undefined>;
  /** The server's address policy (--allow-host), which webhook URLs pass at submission. */
  allowHosts: readonly string[];
  /** The v6 context for one request (its origin decides which URLs are this server's own). */
  v6Context: (baseUrl: string) => V6Context;
  baseUrl: (request: FastifyRequest) => string;
  /** Output URLs (signed in 'private' mode). */
  links: OutputLinks;
}

const IMAGE_ENDPOINTS: [string, JobTask, string][] = [
  ['text2img', 'txt2img', 'Text to image'],
  ['img2img', 'img2img', 'Image to image'],
  ['inpaint', 'inpaint', 'Repaint the white part of mask_image'],
  ['outpaint', 'outpaint', 'Extend an image on any side'],
  ['controlnet', 'controlnet', 'Text (or image) to image guided by a ControlNet'],
  ['super_resolution', 'upscale', 'Enlarge an image with an ESRGAN model'],
];

const VIDEO_ENDPOINTS: [string, JobTask, string][] = [
  ['text2video', 'txt2video', 'Text to video (always queued: fetch the result or take the webhook)'],
  ['img2video', 'img2video', 'Image to video (always queued: fetch the result or take the webhook)'],
];

/** Errors in the v6 shape, `{ status: 'error', message }`, with the error's HTTP status and headers. */
export function v6ErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const data = errorData(error);
  if (data.internal) request.log.error(error);
  void reply.code(data.statusCode).headers(data.headers).send({ status: 'error', message: data.message, code: data.code });
}

/** The hosted API's v6 dialect: /api/v6/images/*, fetch, cancel, system_load. */
export async function v6Routes(app: FastifyInstance, options: V6RoutesOptions): Promise<void> {
  const { service, access } = options;
  const schemas = v6Schemas(options.limits);
  const jobResponses = v6Responses(jobResponse, jobErrorResponse);

  app.setErrorHandler(v6ErrorHandler);

  const render = async (job: JobRecord) => {
    const active = job.status === 'queued' || job.status === 'running';
    const delivery = job.webhook ? await options.webhookStatus(job.id) : undefined;
    return renderV6(job, {
      eta: active ? await service.eta(job) : undefined,
      progress: active ? await service.progress(job.id) : undefined,
      webhookStatus: delivery?.status,
      webhookError: delivery?.status === 'delivered' ? undefined : delivery?.lastError,
      ttlSeconds: options.ttlSeconds,
      links: options.links,
    });
  };

  const sendJob = async (reply: FastifyReply, id: number, submit: boolean) => {
    const job = (await service.get(id))!;
    const body = await render(job);
    const code = job.status === 'error' && submit ? httpStatusOfJobError(job) : job.expired ? 410 : 200;
    return reply.code(code).send(body);
  };

  const endpoints = [...IMAGE_ENDPOINTS.map((e) => ['images', ...e] as const), ...VIDEO_ENDPOINTS.map((e) => ['video', ...e] as const)];
  for (const [group, endpoint, task, summary] of endpoints) {
    app.post(`/api/v6/${group}/${endpoint}`, { schema: { summary, tags: [group], body: schemas[endpoint as keyof typeof schemas], response: jobResponses } }, async (request, reply) => {
      const body = request.body as V6Body;
      const principal = await access.identify(request);
      const images = task === 'upscale' ? 1 : ((body.samples as number | undefined) ?? 1);
      await access.admitJob(principal, images);
      const webhook = await webhookParam(body.webhook, { allow: options.allowHosts, timeoutMs: options.limits.fetchTimeoutMs });
      const baseUrl = options.baseUrl(request);
      const { spec, meta } = await v6ToJob(task, body, options.v6Context(baseUrl));
      const trackId = body.track_id === undefined || body.track_id === null ? null : String(body.track_id);
      const job = await submitJob(service, { spec, api: 'v6', request: { meta }, keyId: access.keyId(principal), trackId, webhook, baseUrl }, options.v6Context(baseUrl).images.storage);
      await access.recordImages(principal, images);
      // Videos take minutes: their answer is always "processing", with fetch_result and the webhook.
      if (group === 'images') await service.wait(job.id, options.syncWaitSeconds * 1000);
      return sendJob(reply, job.id, true);
    });
  }

  const findJob = async (request: FastifyRequest) => {
    const principal = await access.identify(request);
    const { id } = request.params as { id: number };
    const job = await service.get(id);
    // Another key's job reads as missing: ids are sequential, their existence is not others' business.
    if (!job || !access.canSee(principal, job)) throw new ApiError(404, 'job_not_found', `No job ${id}`);
    return job;
  };

  for (const method of ['POST', 'GET'] as const) {
    for (const group of ['images', 'video']) {
      app.route({
        method,
        url: `/api/v6/${group}/fetch/:id`,
        schema: {
          summary: 'The current state of a job (image or video: both paths answer for any job)',
          tags: ['jobs'],
          params: idParams,
          ...(method === 'POST' ? { body: schemas.fetch } : {}),
          response: jobResponses,
        },
        handler: async (request, reply) => sendJob(reply, (await findJob(request)).id, false),
      });
    }
  }

  await eventRoutes(app, { service, findJob, render });

  // The caller's newest jobs (a key: its own; the admin and --no-auth: everyone's), e.g. for a gallery.
  const limit = { type: 'integer', minimum: 1, maximum: 50, default: 12, description: 'how many (default 12)' } as const;
  for (const method of ['POST', 'GET'] as const) {
    app.route({
      method,
      url: '/api/v6/images/jobs',
      schema: {
        summary: "The caller's newest jobs, newest first, as fetch answers them",
        tags: ['jobs'],
        ...(method === 'POST' ? { body: { type: 'object', properties: { key: schemas.fetch.properties.key, limit } } } : { querystring: { type: 'object', properties: { limit } } }),
        response: v6Responses(jobListResponse),
      },
      handler: async (request): Promise<V6JobList> => {
        const principal = await access.identify(request);
        const { limit: count } = ((method === 'POST' ? request.body : request.query) ?? {}) as { limit?: number };
        const jobs = await service.recent(access.keyId(principal), count ?? 12);
        return { status: 'success', jobs: await Promise.all(jobs.map(render)) };
      },
    });
  }

  app.post('/api/v6/images/cancel/:id', { schema: { summary: 'Cancel a queued or running job', tags: ['jobs'], params: idParams, body: schemas.fetch, response: jobResponses } }, async (request, reply) => {
    const job = await findJob(request);
    await service.cancel(job.id);
    // A running job stops within a step: wait briefly so the answer usually shows the final state.
    await service.wait(job.id, 2000);
    return sendJob(reply, job.id, false);
  });

  for (const method of ['POST', 'GET'] as const) {
    app.route({
      method,
      url: '/api/v6/system_load',
      schema: {
        summary: 'Queue, workers, loaded models, recent timings and memory',
        tags: ['system'],
        ...(method === 'POST' ? { body: schemas.fetch } : {}),
        response: v6Responses(systemLoadResponse),
      },
      handler: async (request) => {
        const principal = await access.identify(request);
        return systemLoad(service, options.models, principal.kind !== 'key');
      },
    });
  }
}
