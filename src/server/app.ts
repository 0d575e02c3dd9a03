import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { VERSION } from '../version.js';
import { a1111Routes } from './api/a1111/routes.js';
import { AccessControl } from './api/access.js';
import { keysRoutes } from './api/keys-routes.js';
import { openaiRoutes } from './api/openai/routes.js';
import { renderV6, type RenderContext } from './api/v6/render.js';
import { v6ErrorHandler, v6Routes } from './api/v6/routes.js';
import type { V6Context } from './api/v6/to-job.js';
import { Authenticator } from './auth/authenticate.js';
import { KeyStore } from './auth/key-store.js';
import { resolveServerConfig, type ServerConfig, type ServerOptions } from './config.js';
import { JobService } from './jobs/job-service.js';
import { JobStore } from './jobs/job-store.js';
import { loadModelRegistry, type ServedModel } from './models/model-registry.js';
import { PromptFilter } from './safety/prompt-filter.js';
import { OutputSweeper } from './storage/output-sweeper.js';
import { openDatabase, type Db } from './store/database.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { WorkerPool } from './workers/worker-pool.js';

export interface DiffusekitServer {
  readonly app: FastifyInstance;
  readonly config: ServerConfig;
  readonly models: ServedModel[];
  readonly service: JobService;
  /** Where it listens, e.g. http://127.0.0.1:7860 (after listen()). */
  readonly url: string;
  /** Jobs found running from a previous process at start: requeued or failed. */
  readonly recovered: { requeued: number; failed: number };
  listen(): Promise<string>;
  /** Stops accepting requests, stops the workers (running jobs resume at the next start) and closes the database. */
  close(): Promise<void>;
}

/** The secret that signs webhooks of requests made without a key; kept in the data directory. */
function serverWebhookSecret(dataDir: string): string {
  const file = path.join(dataDir, 'webhook-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

/**
 * Builds the server: database, job service and engine workers, API routes, OpenAPI document, output
 * files. Nothing listens until `listen()`.
 */
export async function createServer(options: ServerOptions = {}): Promise<DiffusekitServer> {
  const config = resolveServerConfig(options);
  const models = await loadModelRegistry(config.models);
  const inputsDir = path.join(config.dataDir, 'inputs');
  const generationsDir = path.join(config.dataDir, 'generations');
  fs.mkdirSync(inputsDir, { recursive: true });
  fs.mkdirSync(generationsDir, { recursive: true });

  const db: Db = openDatabase(config.dataDir);
  const store = new JobStore(db);
  const keys = new KeyStore(db);
  const authenticator = new Authenticator({ keys, adminKey: config.adminKey, noAuth: !config.auth });
  const access = new AccessControl({ authenticator, keys, jobs: store, defaultMaxConcurrent: config.limits.maxConcurrentPerKey, serverWebhookSecret: serverWebhookSecret(config.dataDir) });
  const pool = new WorkerPool(config.workers, store, {
    models,
    loraDir: config.loraDir,
    embeddingDir: config.embeddingDir,
    threads: config.threads,
    modelMemoryBudget: config.modelMemoryBudget,
    inputsDir,
    outputsDir: generationsDir,
  });
  const service = new JobService(store, pool, { inputsDir, maxQueued: config.limits.maxQueued });
  const webhooks = new WebhookDispatcher({
    db,
    fetchOptions: { allow: config.allowHosts, timeoutMs: 10_000 },
    retry: { attempts: config.webhookAttempts, baseDelayMs: config.webhookBaseDelayMs },
  });
  const render: RenderContext = {
    eta: (job) => service.eta(job, config.workers),
    progress: (id) => service.progress(id),
    webhookStatus: (id) => webhooks.status(String(id))?.status,
    ttlSeconds: config.outputTtlSeconds,
  };
  service.on('finished', (job) => {
    if (job.webhook) webhooks.enqueue(String(job.id), job.webhook, JSON.stringify(renderV6(job, render)), access.webhookSecret(job.keyId));
  });
  const sweeper = new OutputSweeper(store, generationsDir, config.outputTtlSeconds * 1000, config.sweepIntervalSeconds * 1000);
  const promptFilter = new PromptFilter(config.safetyTerms);

  const app = Fastify({
    logger: config.logger,
    bodyLimit: config.limits.maxBodyBytes,
    forceCloseConnections: true,
    // v6 fields take several types (track_id: string or number); the coercion of "512" to 512 stays on.
    ajv: { customOptions: { allowUnionTypes: true } },
  });
  let listeningUrl = '';
  const baseUrl = (request: FastifyRequest) => config.publicUrl ?? `${request.protocol}://${request.host}`;
  const v6Context = (origin: string): V6Context => ({
    models,
    limits: config.limits,
    promptFilter,
    images: {
      inputsDir,
      generationsDir,
      selfOrigins: [origin, listeningUrl, ...(config.publicUrl ? [config.publicUrl] : [])].filter(Boolean),
      maxBytes: config.limits.maxImageBytes,
      fetchTimeoutMs: config.limits.fetchTimeoutMs,
      allowHosts: config.allowHosts,
    },
  });

  await app.register(formbody, { bodyLimit: config.limits.maxBodyBytes });
  await app.register(swagger, {
    openapi: {
      info: { title: 'diffusekit', version: VERSION, description: 'Local Stable Diffusion: the v6 Stable Diffusion REST API, self-hosted.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(fastifyStatic, { root: generationsDir, prefix: '/generations/', decorateReply: false, index: false, maxAge: config.outputTtlSeconds * 1000 });
  await app.register(v6Routes, { service, access, models, limits: config.limits, workers: config.workers, syncWaitSeconds: config.syncWaitSeconds, render, v6Context, baseUrl });
  await app.register(a1111Routes, { db, service, access, models, config, context: v6Context, baseUrl });
  await app.register(openaiRoutes, { service, access, models, limits: config.limits, context: v6Context, baseUrl });
  await app.register(async (scope) => {
    scope.setErrorHandler(v6ErrorHandler);
    await keysRoutes(scope, { keys, authenticator });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ status: 'error', message: `No route ${request.method} ${request.url.split('?')[0]}` });
  });

  let recovered = { requeued: 0, failed: 0 };
  let closed = false;
  return {
    app,
    config,
    models,
    service,
    get url() {
      return listeningUrl;
    },
    get recovered() {
      return recovered;
    },
    async listen() {
      recovered = service.start();
      webhooks.start();
      sweeper.start();
      const address = await app.listen({ port: config.port, host: config.host });
      listeningUrl = address.replace('[::1]', 'localhost');
      return listeningUrl;
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await service.stop();
      await sweeper.stop();
      await webhooks.close();
      db.close();
    },
  };
}
