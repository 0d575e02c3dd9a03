import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { VERSION } from '../version.js';
import { a1111Routes } from './api/a1111/routes.js';
import { AccessControl } from './api/access.js';
import { healthRoutes } from './api/health-routes.js';
import { keysRoutes } from './api/keys-routes.js';
import { openaiRoutes } from './api/openai/routes.js';
import { outputRoutes } from './api/output-routes.js';
import type { TranslationContext } from './api/shared/job-params.js';
import { trainingRoutes } from './api/v3/training-routes.js';
import { renderTraining } from './api/v3/render.js';
import { renderV6 } from './api/v6/render.js';
import { v6ErrorHandler, v6Routes } from './api/v6/routes.js';
import { Authenticator } from './auth/authenticate.js';
import { openBackend, type Backend } from './backend.js';
import { resolveServerConfig, type ServerConfig, type ServerOptions } from './config.js';
import { JobService } from './jobs/job-service.js';
import { openServerPromptModel } from './jobs/server-prompt-model.js';
import { loadModelRegistry, type ServedModel } from './models/model-registry.js';
import { PromptFilter } from './safety/prompt-filter.js';
import { OutputSweeper } from './storage/output-sweeper.js';
import { hardenedFastifyOptions, installHardening } from './http/hardening.js';
import { redactingLogger } from './http/log-redaction.js';
import { publicOrigin } from './http/public-origin.js';
import { OutputLinks } from './security/output-links.js';
import { uiRoutes } from './ui/routes.js';
import { endTraining, trainingDirOf } from './training/training-lifecycle.js';
import type { WorkerPool } from './workers/worker-pool.js';

export interface DiffusekitServer {
  readonly app: FastifyInstance;
  readonly config: ServerConfig;
  readonly models: ServedModel[];
  readonly service: JobService;
  /** This process's engine workers (undefined on an API-only node). */
  readonly pool: WorkerPool | undefined;
  /** Where it listens, e.g. http://127.0.0.1:7860 (after listen()); '' for a worker-only node. */
  readonly url: string;
  /** Jobs found running from a previous process at start: requeued or failed. */
  readonly recovered: { requeued: number; failed: number };
  /** Starts the workers and (except for role 'worker') listens. */
  listen(): Promise<string>;
  /** Starts the workers, the job queue, webhooks and the output sweeper without listening (the plugin's way). */
  start(): Promise<void>;
  /** Stops accepting requests, stops the workers (running jobs resume at the next start) and closes the stores. */
  close(): Promise<void>;
}

/**
 * Builds the server: stores, job service and engine workers, API routes (v6, OpenAI, A1111), the OpenAPI
 * document, output files. Nothing listens until `listen()`.
 */
export async function createServer(options: ServerOptions = {}, into?: FastifyInstance): Promise<DiffusekitServer> {
  const config = resolveServerConfig(options);
  const models = await loadModelRegistry(config.models);
  // The log exists once Fastify does; a delivery cannot fail before the server has started.
  let log: FastifyBaseLogger | undefined;
  const backend: Backend = await openBackend(config, models, { webhookFailed: (jobId, reason) => log?.warn({ jobId: Number(jobId), reason }, 'webhook delivery failed') });
  const promptModel = config.role === 'worker' ? undefined : await openServerPromptModel(config).catch(async (err: unknown) => {
    await backend.close();
    throw err;
  });
  const { storage } = backend;
  const scheduler = backend.scheduler;
  const service = scheduler ? new JobService(backend.jobs, scheduler, { storage, maxQueued: config.limits.maxQueued, workerCount: backend.workerCount }) : undefined;
  const authenticator = new Authenticator({ keys: backend.keys, limiter: backend.limiter, adminKey: config.adminKey, noAuth: !config.auth });
  // Embedded (the Fastify plugin): the routes go into the caller's app, whose own settings stand.
  const app = into ?? Fastify({
    logger: config.logger ? redactingLogger() : false,
    bodyLimit: config.limits.maxBodyBytes,
    ...hardenedFastifyOptions(config),
    trustProxy: config.trustProxy,
    // v6 fields take several types (track_id: string or number); the coercion of "512" to 512 stays on.
    ajv: { customOptions: { allowUnionTypes: true } },
  });
  log = app.log;
  if (config.queue === 'redis' && !config.secretKey) {
    app.log.warn('No secretKey ($DIFFUSEKIT_SECRET_KEY): the API keys\' webhook secrets are kept in Redis in clear');
  }
  let listeningUrl = '';
  installHardening(app, config);
  let started = false;
  let closed = false;

  if (service) {
    const access = new AccessControl({ authenticator, keys: backend.keys, jobs: service, defaultMaxConcurrent: config.limits.maxConcurrentPerKey, serverWebhookSecret: backend.webhookSecret });
    const webhookStatus = async (id: number) => backend.webhooks.status(String(id));
    const presign = config.s3?.presignOutputs && storage.presignedUrl ? (file: string, seconds: number) => storage.presignedUrl!('generations', file, seconds) : undefined;
    const links = new OutputLinks({ access: config.outputAccess, secret: backend.webhookSecret, ttlSeconds: config.signedUrlSeconds, presign });
    service.on('finished', (job) => {
      if (job.task === 'lora_train') endTraining(job, config.dataDir, config.queue === 'redis' ? storage : undefined);
      if (!job.webhook) return;
      const rendered = job.task === 'lora_train' ? Promise.resolve(renderTraining(job)) : renderV6(job, { ttlSeconds: config.outputTtlSeconds, links });
      void Promise.all([rendered, access.webhookSecret(job.keyId)])
        .then(([body, secret]) => backend.webhooks.enqueue(String(job.id), job.webhook!, JSON.stringify(body), secret))
        .catch((err: unknown) => app.log.error(err));
    });
    const promptFilter = new PromptFilter(config.safetyTerms);
    // prefix: embedded under one
    const baseUrl = (request: FastifyRequest) => `${publicOrigin(request, config)}${app.prefix}`;
    const context = (origin: string): TranslationContext => ({
      models,
      limits: config.limits,
      promptFilter,
      promptModel: { model: promptModel, timeoutMs: config.promptTimeoutMs },
      images: {
        storage,
        selfOrigins: [origin, listeningUrl, ...(config.publicUrl ? [config.publicUrl] : [])].filter(Boolean),
        maxBytes: config.limits.maxImageBytes,
        fetchTimeoutMs: config.limits.fetchTimeoutMs,
        allowHosts: config.allowHosts,
      },
    });

    await app.register(formbody, { bodyLimit: config.limits.maxBodyBytes });
    await app.register(swagger, {
      openapi: {
        info: { title: 'diffusekit', version: VERSION, description: 'Local Stable Diffusion: the v6 Stable Diffusion REST API, the OpenAI images API and the AUTOMATIC1111 API, self-hosted.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await app.register(outputRoutes, { storage, maxAgeSeconds: config.outputTtlSeconds, links, service, access });
    await app.register(healthRoutes, { readiness: () => (closed ? { ready: false, reason: 'stopping' } : { ready: started, reason: started ? undefined : 'starting' }) });
    await app.register(v6Routes, {
      service,
      access,
      models,
      limits: config.limits,
      syncWaitSeconds: config.syncWaitSeconds,
      ttlSeconds: config.outputTtlSeconds,
      webhookStatus,
      allowHosts: config.allowHosts,
      v6Context: context,
      baseUrl,
      links,
    });
    await app.register(trainingRoutes, {
      service,
      access,
      trainings: backend.trainings,
      canTrain: () => scheduler!.canTrain(),
      trainers: config.queue === 'sqlite' ? 'local' : 'shared',
      storage,
      models,
      limits: config.limits,
      trainingDir: trainingDirOf(config.dataDir),
      trainerVenv: config.trainerVenv,
      images: (origin) => context(origin).images,
      baseUrl,
    });
    await app.register(a1111Routes, { db: backend.db, optionsStore: backend.a1111Options, service, access, models, config, context, baseUrl });
    await app.register(openaiRoutes, { service, access, models, limits: config.limits, context, baseUrl, links });
    await app.register(async (scope) => {
      scope.setErrorHandler(v6ErrorHandler);
      await keysRoutes(scope, { keys: backend.keys, authenticator });
    });
    if (config.ui) await app.register(uiRoutes, { limits: config.limits, models });
    if (!into) app.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ status: 'error', message: `No route ${request.method} ${request.url.split('?')[0]}`, code: 'not_found' });
    });
  }
  const sweeper = service ? new OutputSweeper(backend.jobs, storage, config.outputTtlSeconds * 1000, config.sweepIntervalSeconds * 1000) : undefined;

  let recovered = { requeued: 0, failed: 0 };
  const start = async (): Promise<void> => {
    if (service) recovered = await service.start();
    await backend.workerNode?.start();
    if (!service) return;
    backend.webhooks.start();
    sweeper!.start();
    started = true;
  };
  return {
    app,
    config,
    models,
    get service(): JobService {
      if (!service) throw new Error('a worker-only node has no job service');
      return service;
    },
    pool: backend.pool,
    get url() {
      return listeningUrl;
    },
    get recovered() {
      return recovered;
    },
    start,
    async listen() {
      await start();
      if (!service) return '';
      const address = await app.listen({ port: config.port, host: config.host });
      listeningUrl = address.replace('[::1]', 'localhost');
      return listeningUrl;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Waiting requests answer first ("processing", with their fetch URL), then the listener closes.
      service?.drain();
      if (!into) await app.close();
      await backend.workerNode?.stop();
      await service?.stop();
      await sweeper?.stop();
      await backend.webhooks.close();
      await backend.close();
      await promptModel?.dispose();
    },
  };
}
