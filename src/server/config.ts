import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDevice } from '../engine/devices.js';
import { integerIn, invalidParameter, isPlainObject, isString, numberIn, optionalBoolean, optionalString } from '../util/is.js';
import { defaultDataDir } from './data-dir.js';
import { resolveClassifierOptions, type ResolvedClassifierOptions, type SafetyClassifierOptions } from './safety/image-classifier.js';

/** Caps that keep one request from taking the machine: checked when a job is submitted. */
export interface ServerLimits {
  /** Largest width x height of a generated image (default 1024 x 1024). */
  maxPixels: number;
  /** Largest width or height, after upscaling too (default 4096). */
  maxSide: number;
  maxSteps: number;
  /** Images per request (the v6 API allows 1-4). */
  maxSamples: number;
  /** Frames of one video (default 81: 5 s at Wan 2.1's 16 fps). */
  maxFrames: number;
  /** Request body size in bytes (default 32 MiB: base64 images are large). */
  maxBodyBytes: number;
  /** One input image, fetched or decoded, in bytes (default 20 MiB). */
  maxImageBytes: number;
  /** Time allowed to fetch an input image by URL. */
  fetchTimeoutMs: number;
  /** Jobs one API key may have queued or running at once (a key's own max_concurrent overrides it). */
  maxConcurrentPerKey: number;
  /** Jobs waiting in the queue before new ones get 503. */
  maxQueued: number;
}

export interface ServerOptions {
  /** TCP port; 0 picks a free one. Default 7860 (A1111's). */
  port?: number;
  /** Default 127.0.0.1: only this machine. Use 0.0.0.0 to serve the network. */
  host?: string;
  /** Database, inputs and outputs. Default: $DIFFUSEKIT_DATA_DIR or ~/.local/share/diffusekit. */
  dataDir?: string;
  /**
   * Model files or diffusers folders to serve; each is sorted by what it is (checkpoint, ControlNet,
   * upscaler) and named by its file name without extension. The first checkpoint is the default model_id.
   * Empty: a synthetic demo model is written (cached) and served, so the server always starts.
   */
  models?: string[];
  /** Folder of LoRAs that `lora_model` names refer to. */
  loraDir?: string;
  /** Folder of textual-inversion embeddings. */
  embeddingDir?: string;
  /** The origin clients reach the server at (behind a proxy), for output URLs; default: the request's Host. */
  publicUrl?: string;
  /** How long a request waits for its job before answering "processing". Default 10 s. */
  syncWaitSeconds?: number;
  /** How long outputs stay available. Default 24 h. */
  outputTtlSeconds?: number;
  /** How often expired outputs are swept. Default 10 min. */
  sweepIntervalSeconds?: number;
  /** Engine worker processes. Default 1 (one per device: CPU builds use every core in one process). */
  workers?: number;
  /**
   * Devices the engine workers run on, given to them in turn: worker i gets devices[i % devices.length], so
   * `workers: 2, devices: ['cuda:0', 'cuda:1']` is one worker per GPU. Default ['auto'] (docs/gpu.md).
   */
  devices?: string[];
  /** CPU threads per worker. Default: physical cores / workers. */
  threads?: number;
  /** Bytes of models each worker keeps loaded before unloading the least recently used. Default 60 % of RAM / workers. */
  modelMemoryBudget?: number;
  /** Require API keys. Default true; false serves everyone (local use). */
  auth?: boolean;
  /** Key with admin rights (manages keys over the API). Default $DIFFUSEKIT_ADMIN_KEY. */
  adminKey?: string;
  /** Hosts or CIDR ranges that URL inputs and webhooks may reach although private or loopback. */
  allowHosts?: string[];
  /** Webhook retries: tries in all (default 5) and the first delay (default 2 s, doubling). */
  webhookAttempts?: number;
  webhookBaseDelayMs?: number;
  /** Words that make `safety_checker: "yes"` flag a prompt (whole words, case-insensitive). Default: a short built-in list. */
  safetyTerms?: string[];
  /** An ONNX image classifier that `safety_checker: "yes"` also runs on every output (flagged ones are blurred). */
  safetyClassifier?: SafetyClassifierOptions;
  limits?: Partial<ServerLimits>;
  /**
   * Where the job queue lives: 'sqlite' (default: one machine, a file under dataDir) or 'redis' (API and
   * worker nodes on any number of machines; needs redisUrl).
   */
  queue?: 'sqlite' | 'redis';
  /** redis://host:port/db for queue 'redis'. Default $DIFFUSEKIT_REDIS_URL. */
  redisUrl?: string;
  /** 'all' (default): API and engine workers; 'api': HTTP only; 'worker': engine workers only (both need queue 'redis'). */
  role?: 'all' | 'api' | 'worker';
  /** Where inputs and outputs are kept: 'local' (default: dataDir, or a folder every node mounts) or 's3'. */
  storage?: 'local' | 's3';
  s3?: { bucket: string; prefix?: string; endpoint?: string; region?: string; forcePathStyle?: boolean };
  /** Redis deployments: how long a silent worker node keeps its jobs before they move to another node. Default 30 s. */
  workerLockMs?: number;
  /** Behind a reverse proxy: take the client's scheme and host from X-Forwarded-Proto/-Host (for output URLs). Default false. */
  trustProxy?: boolean;
  /** Fastify's logger: true for JSON logs on stdout. Default false. */
  logger?: boolean;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxPixels: 1024 * 1024,
  maxSide: 4096,
  maxSteps: 100,
  maxSamples: 4,
  maxFrames: 81,
  maxBodyBytes: 32 * 1024 * 1024,
  maxImageBytes: 20 * 1024 * 1024,
  fetchTimeoutMs: 15_000,
  maxConcurrentPerKey: 16,
  maxQueued: 10_000,
};

export const DEFAULT_SAFETY_TERMS = ['nsfw', 'nude', 'nudity', 'naked', 'porn', 'pornographic', 'explicit', 'sex', 'sexual', 'gore', 'topless'];

export type ServerConfig = Required<Omit<ServerOptions, 'adminKey' | 'publicUrl' | 'loraDir' | 'embeddingDir' | 'limits' | 'redisUrl' | 's3' | 'safetyClassifier'>> & {
  safetyClassifier?: ResolvedClassifierOptions;
  redisUrl?: string;
  s3?: ServerOptions['s3'];
  adminKey?: string;
  publicUrl?: string;
  loraDir?: string;
  embeddingDir?: string;
  limits: ServerLimits;
};

function physicalCores(): number {
  // os.availableParallelism counts hardware threads; the engine's default (physical cores) is close to half.
  return Math.max(1, Math.floor(os.availableParallelism() / (os.availableParallelism() > 2 ? 2 : 1)));
}

function resolveDevices(value: unknown): string[] {
  if (value === undefined) return ['auto'];
  if (!Array.isArray(value) || value.length === 0) throw invalidParameter('devices', "non-empty array of devices ('auto', 'cpu', 'cuda:0', ...)", value);
  return value.map((device, i) => {
    parseDevice(`devices[${i}]`, device);
    return String(device).trim().toLowerCase();
  });
}

/** Fills in defaults and checks every option, naming the option in errors. */
export function resolveServerConfig(options: ServerOptions = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
  const models = options.models ?? [];
  if (!Array.isArray(models) || !models.every(isString)) throw invalidParameter('models', 'array of paths', models);
  const workers = integerIn('workers', options.workers, 1, 64, 1);
  const limitsIn = options.limits ?? {};
  if (!isPlainObject(limitsIn)) throw invalidParameter('limits', 'object', limitsIn);
  const limits: ServerLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(limitsIn) as (keyof ServerLimits)[]) {
    if (!(key in DEFAULT_LIMITS)) throw invalidParameter(`limits.${key}`, `one of ${Object.keys(DEFAULT_LIMITS).join(', ')}`, key);
    limits[key] = integerIn(`limits.${key}`, limitsIn[key], 0, Number.MAX_SAFE_INTEGER, DEFAULT_LIMITS[key]);
  }
  const allowHosts = options.allowHosts ?? [];
  if (!Array.isArray(allowHosts) || !allowHosts.every(isString)) throw invalidParameter('allowHosts', 'array of host names or CIDR ranges', allowHosts);
  const safetyTerms = options.safetyTerms ?? DEFAULT_SAFETY_TERMS;
  if (!Array.isArray(safetyTerms) || !safetyTerms.every(isString)) throw invalidParameter('safetyTerms', 'array of words', safetyTerms);
  const queue = options.queue ?? 'sqlite';
  if (queue !== 'sqlite' && queue !== 'redis') throw invalidParameter('queue', "'sqlite' or 'redis'", queue);
  const redisUrl = optionalString('redisUrl', options.redisUrl) ?? (env.DIFFUSEKIT_REDIS_URL || undefined);
  if (queue === 'redis' && !redisUrl) throw invalidParameter('redisUrl', 'redis:// URL (queue is redis)', redisUrl);
  const role = options.role ?? 'all';
  if (role !== 'all' && role !== 'api' && role !== 'worker') throw invalidParameter('role', "'all', 'api' or 'worker'", role);
  if (role !== 'all' && queue !== 'redis') throw invalidParameter('role', "'all' unless queue is 'redis' (separate API and worker nodes share a Redis queue)", role);
  const storage = options.storage ?? 'local';
  if (storage !== 'local' && storage !== 's3') throw invalidParameter('storage', "'local' or 's3'", storage);
  if (storage === 's3' && !(isPlainObject(options.s3) && isString(options.s3.bucket))) throw invalidParameter('s3', '{ bucket, ... } (storage is s3)', options.s3);
  const publicUrl = optionalString('publicUrl', options.publicUrl)?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) throw invalidParameter('publicUrl', 'http(s) origin such as https://images.example.com', publicUrl);
  return {
    port: integerIn('port', options.port, 0, 65535, 7860),
    host: optionalString('host', options.host) ?? '127.0.0.1',
    dataDir: path.resolve(optionalString('dataDir', options.dataDir) ?? defaultDataDir(env)),
    models: models.map((m) => (fs.existsSync(m) ? path.resolve(m) : m)), // not a file: a library name, resolved with the registry
    loraDir: optionalString('loraDir', options.loraDir),
    embeddingDir: optionalString('embeddingDir', options.embeddingDir),
    publicUrl,
    syncWaitSeconds: numberIn('syncWaitSeconds', options.syncWaitSeconds, 0, 600, 10),
    outputTtlSeconds: numberIn('outputTtlSeconds', options.outputTtlSeconds, 1, 365 * 86400, 86400),
    sweepIntervalSeconds: numberIn('sweepIntervalSeconds', options.sweepIntervalSeconds, 0.05, 86400, 600),
    workers,
    devices: resolveDevices(options.devices),
    threads: integerIn('threads', options.threads, 1, 1024, Math.max(1, Math.floor(physicalCores() / workers))),
    modelMemoryBudget: integerIn('modelMemoryBudget', options.modelMemoryBudget, 0, Number.MAX_SAFE_INTEGER, Math.floor((os.totalmem() * 0.6) / workers)),
    auth: optionalBoolean('auth', options.auth) ?? true,
    adminKey: optionalString('adminKey', options.adminKey) ?? (env.DIFFUSEKIT_ADMIN_KEY || undefined),
    allowHosts,
    webhookAttempts: integerIn('webhookAttempts', options.webhookAttempts, 1, 20, 5),
    webhookBaseDelayMs: integerIn('webhookBaseDelayMs', options.webhookBaseDelayMs, 1, 3_600_000, 2000),
    safetyTerms,
    safetyClassifier: options.safetyClassifier === undefined ? undefined : resolveClassifierOptions(options.safetyClassifier),
    limits,
    queue,
    redisUrl,
    role,
    storage,
    s3: options.s3 as ServerOptions['s3'],
    workerLockMs: integerIn('workerLockMs', options.workerLockMs, 1000, 3_600_000, 30_000),
    trustProxy: optionalBoolean('trustProxy', options.trustProxy) ?? false,
    logger: optionalBoolean('logger', options.logger) ?? false,
  };
}
