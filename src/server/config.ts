import fs from 'node:fs';
import { parseSecretKey } from './security/secret-box.js';
import os from 'node:os';
import path from 'node:path';
import { physicalCoreCount } from '../engine/info.js';
import { parseDevice } from '../engine/devices.js';
import { integerIn, invalidParameter, isPlainObject, isString, numberIn, optionalBoolean, optionalString } from '../util/is.js';
import { defaultDataDir } from './data-dir.js';
import type { OutputAccess } from './security/output-links.js';
import { nsfwModelFiles, resolveNsfwOptions, type NsfwClassifierOptions, type ResolvedNsfwOptions } from '../safety/nsfw-classifier.js';
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
  /** LoRA trainings one API key may have queued or running at once (default 1). */
  maxTrainingsPerKey: number;
  /** Most max_train_steps one training may ask for (default 5000). */
  maxTrainSteps: number;
  /** Most images in one training's dataset (default 50). */
  maxTrainingImages: number;
}

export interface ServerOptions {
  /** TCP port; 0 picks a free one. Default 7860 (A1111's). */
  port?: number;
  /** Default 127.0.0.1: only this machine. Use 0.0.0.0 to serve the network. */
  host?: string;
  /** Database, inputs and outputs. Default: $DIFFUSEKIT_DATA_DIR, else the OS's data folder (defaultDataDir). */
  dataDir?: string;
  /**
   * Model files or diffusers folders to serve; each is sorted by what it is (checkpoint, ControlNet,
   * upscaler) and named by its file name without extension. The first checkpoint is the default model_id.
   * Empty: a synthetic demo model is written (cached) and served, so the server always starts.
   */
  models?: string[];
  /** Folder of LoRAs that `lora_model` names refer to; trained LoRAs are written here. Default <dataDir>/loras. */
  loraDir?: string;
  /** The trainer's Python environment (`diffusekit trainer setup`); default $DIFFUSEKIT_TRAINER_VENV, else <data dir>/trainer/venv. */
  trainerVenv?: string;
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
  /** The web playground at `/`. Default true. */
  ui?: boolean;
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
  /**
   * The trained classifier (nsfwjs, from its npm package) that `safety_checker: "yes"` runs on every output when
   * no ONNX safetyClassifier is given: model, backend and per-class thresholds. Default MobileNetV2 on WebAssembly,
   * flagging Porn or Hentai from 0.5 and Sexy from 0.8; false: none (the prompt word list only).
   */
  nsfwClassifier?: NsfwClassifierOptions | false;
  /** A GGUF chat model (path or library name) that `enhance_prompt` and `multi_lingual` run on, with node-llama-cpp. */
  promptModel?: string;
  /** Instead of promptModel: an OpenAI-compatible chat API (base URL, e.g. http://127.0.0.1:8080/v1) that they call. */
  promptEnhancerUrl?: string;
  /** The `model` field sent to promptEnhancerUrl (ollama needs one). */
  promptEnhancerModel?: string;
  /** A bearer token for promptEnhancerUrl. Default $DIFFUSEKIT_PROMPT_ENHANCER_KEY. */
  promptEnhancerKey?: string;
  /** Time limit of one prompt-model call (translation or enhancement), in ms. Default 30000. */
  promptTimeoutMs?: number;
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
  /**
   * The bucket for storage 's3'. Objects are written private; `presignOutputs`: responses carry the bucket's own
   * presigned GET URLs (valid `signedUrlSeconds`) so clients download from the bucket, not through the server.
   */
  s3?: { bucket: string; prefix?: string; endpoint?: string; region?: string; forcePathStyle?: boolean; presignOutputs?: boolean };
  /**
   * Redis deployments: the key (32 bytes, base64url; `openssl rand -base64 32 | tr '+/' '-_' | tr -d =`) the API
   * keys' webhook secrets are encrypted with in Redis, the same on every node. Default $DIFFUSEKIT_SECRET_KEY.
   * Without one they are kept in Redis in clear, and the server says so at start.
   */
  secretKey?: string;
  /** Redis deployments: how long a silent worker node keeps its jobs before they move to another node. Default 30 s. */
  workerLockMs?: number;
  /**
   * Redis deployments: this node (role 'all' or 'worker') takes LoRA trainings (lora_train jobs) too, one at a time;
   * its trainer environment must be installed. Default false: without such a node lora_fine_tune answers 503.
   * A one-machine (SQLite) server always trains.
   */
  canTrain?: boolean;
  /** Behind a reverse proxy: take the client's scheme and host from X-Forwarded-Proto/-Host (for output URLs). Default false. */
  trustProxy?: boolean;
  /** Fastify's logger (pino): JSON lines on stdout, one per request with its request id. Default true, except under a test runner (NODE_ENV=test). */
  logger?: boolean;
  /** Who may read output files: 'unlisted' (default: whoever has the unguessable URL) or 'private' (signed, expiring URLs or the owner's key). */
  outputAccess?: OutputAccess;
  /** 'private' outputs (and presigned S3 URLs): how long a signed URL stays valid. Default 3600 s. */
  signedUrlSeconds?: number;
  /** Origins allowed to call the API from a browser ('*' for any). Default none (no CORS headers). */
  cors?: string[];
  /** Connection limits against slow and greedy clients (see docs/security.md). */
  http?: Partial<HttpLimits>;
}

/** Timeouts and connection bounds of the HTTP listener. */
export interface HttpLimits {
  /** Time for a client to send the request headers. Default 30 s. */
  headersTimeoutSeconds: number;
  /** Time for a client to send the whole request, body included. Default 300 s (32 MiB at about 1 Mbit/s). */
  requestTimeoutSeconds: number;
  /** Time a socket may stay silent while a request is being received. Default 30 s. */
  idleTimeoutSeconds: number;
  /** How long an idle keep-alive connection stays open between requests. Default 5 s. */
  keepAliveTimeoutSeconds: number;
  /** Open connections one client address may hold. Default 128. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutSeconds: 30,
  requestTimeoutSeconds: 300,
  idleTimeoutSeconds: 30,
  keepAliveTimeoutSeconds: 5,
  maxConnectionsPerAddress: 128,
};

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
  maxTrainingsPerKey: 1,
  maxTrainSteps: 5000,
  maxTrainingImages: 50,
};

export const DEFAULT_SAFETY_TERMS = ['nsfw', 'nude', 'nudity', 'naked', 'porn', 'pornographic', 'explicit', 'sex', 'sexual', 'gore', 'topless'];

export type ServerConfig = Required<Omit<ServerOptions, 'adminKey' | 'publicUrl' | 'embeddingDir' | 'trainerVenv' | 'limits' | 'redisUrl' | 's3' | 'safetyClassifier' | 'http' | 'nsfwClassifier' | 'promptModel' | 'promptEnhancerUrl' | 'promptEnhancerModel' | 'promptEnhancerKey' | 'secretKey'>> & {
  http: HttpLimits;
  safetyClassifier?: ResolvedClassifierOptions;
  nsfwClassifier?: ResolvedNsfwOptions;
  promptModel?: string;
  promptEnhancerUrl?: string;
  promptEnhancerModel?: string;
  promptEnhancerKey?: string;
  redisUrl?: string;
  s3?: ServerOptions['s3'];
  secretKey?: Buffer;
  adminKey?: string;
  publicUrl?: string;
  embeddingDir?: string;
  trainerVenv?: string;
  limits: ServerLimits;
};

/**
 * The nsfwjs classifier, unless an ONNX one replaces it or it is turned off. Asked for explicitly, a missing package
 * or model stops the server; by default it is used where its packages are installed, as optional dependencies are.
 */
function nsfwSetting(options: ServerOptions): ResolvedNsfwOptions | undefined {
  const explicit = options.nsfwClassifier !== undefined;
  if (options.nsfwClassifier === false) return undefined;
  if (options.safetyClassifier !== undefined) {
    if (explicit) throw invalidParameter('nsfwClassifier', 'no value when safetyClassifier (an ONNX classifier) is given', options.nsfwClassifier);
    return undefined;
  }
  const resolved = resolveNsfwOptions(options.nsfwClassifier ?? {});
  try {
    nsfwModelFiles(resolved.model);
  } catch (err) {
    if (explicit) throw err;
    return undefined;
  }
  return resolved;
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
  if (options.canTrain === true && (queue !== 'redis' || role === 'api')) throw invalidParameter('canTrain', "unset unless queue is 'redis' and role 'all' or 'worker' (a one-machine server always trains)", options.canTrain);
  const storage = options.storage ?? 'local';
  if (storage !== 'local' && storage !== 's3') throw invalidParameter('storage', "'local' or 's3'", storage);
  if (storage === 's3' && !(isPlainObject(options.s3) && isString(options.s3.bucket))) throw invalidParameter('s3', '{ bucket, ... } (storage is s3)', options.s3);
  // Only a Redis worker node stages files between the bucket and the engine; one machine keeps them in dataDir.
  if (storage === 's3' && queue !== 'redis') throw invalidParameter('storage', "'local' unless queue is 'redis' (S3 storage is for nodes sharing a Redis queue)", storage);
  const presignOutputs = (options.s3 as { presignOutputs?: unknown } | undefined)?.presignOutputs;
  if (presignOutputs !== undefined && typeof presignOutputs !== 'boolean') throw invalidParameter('s3.presignOutputs', 'boolean', presignOutputs);
  const outputAccess = options.outputAccess ?? 'unlisted';
  if (outputAccess !== 'unlisted' && outputAccess !== 'private') throw invalidParameter('outputAccess', "'unlisted' or 'private'", outputAccess);
  const cors = options.cors ?? [];
  if (!Array.isArray(cors) || !cors.every((o) => o === '*' || (isString(o) && /^https?:\/\/[^/]+$/.test(o)))) throw invalidParameter('cors', "array of origins such as https://app.example.com, or '*'", cors);
  const httpIn = options.http ?? {};
  if (!isPlainObject(httpIn)) throw invalidParameter('http', 'object', httpIn);
  const http: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  for (const key of Object.keys(httpIn) as (keyof HttpLimits)[]) {
    if (!(key in DEFAULT_HTTP_LIMITS)) throw invalidParameter(`http.${key}`, `one of ${Object.keys(DEFAULT_HTTP_LIMITS).join(', ')}`, key);
    http[key] = numberIn(`http.${key}`, httpIn[key], key === 'maxConnectionsPerAddress' ? 1 : 0.05, 86400, DEFAULT_HTTP_LIMITS[key]);
  }
  const publicUrl = optionalString('publicUrl', options.publicUrl)?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) throw invalidParameter('publicUrl', 'http(s) origin such as https://images.example.com', publicUrl);
  const promptModel = optionalString('promptModel', options.promptModel);
  const promptEnhancerUrl = optionalString('promptEnhancerUrl', options.promptEnhancerUrl);
  if (promptModel !== undefined && promptEnhancerUrl !== undefined) throw invalidParameter('promptEnhancerUrl', 'no value when promptModel is given (one prompt model: a local file or an endpoint)', promptEnhancerUrl);
  const dataDir = path.resolve(optionalString('dataDir', options.dataDir) ?? defaultDataDir(env));
  return {
    port: integerIn('port', options.port, 0, 65535, 7860),
    host: optionalString('host', options.host) ?? '127.0.0.1',
    dataDir,
    models: models.map((m) => (fs.existsSync(m) ? path.resolve(m) : m)), // not a file: a library name, resolved with the registry
    loraDir: path.resolve(optionalString('loraDir', options.loraDir) ?? path.join(dataDir, 'loras')),
    trainerVenv: optionalString('trainerVenv', options.trainerVenv),
    embeddingDir: optionalString('embeddingDir', options.embeddingDir),
    publicUrl,
    syncWaitSeconds: numberIn('syncWaitSeconds', options.syncWaitSeconds, 0, 600, 10),
    outputTtlSeconds: numberIn('outputTtlSeconds', options.outputTtlSeconds, 1, 365 * 86400, 86400),
    sweepIntervalSeconds: numberIn('sweepIntervalSeconds', options.sweepIntervalSeconds, 0.05, 86400, 600),
    workers,
    devices: resolveDevices(options.devices),
    // The engine's physical core count: hardware threads would oversubscribe SMT machines, halving them starves others.
    threads: options.threads === undefined ? Math.max(1, Math.floor(physicalCoreCount() / workers)) : integerIn('threads', options.threads, 1, 1024),
    modelMemoryBudget: integerIn('modelMemoryBudget', options.modelMemoryBudget, 0, Number.MAX_SAFE_INTEGER, Math.floor((os.totalmem() * 0.6) / workers)),
    ui: optionalBoolean('ui', options.ui) ?? true,
    auth: optionalBoolean('auth', options.auth) ?? true,
    adminKey: optionalString('adminKey', options.adminKey) ?? (env.DIFFUSEKIT_ADMIN_KEY || undefined),
    allowHosts,
    webhookAttempts: integerIn('webhookAttempts', options.webhookAttempts, 1, 20, 5),
    webhookBaseDelayMs: integerIn('webhookBaseDelayMs', options.webhookBaseDelayMs, 1, 3_600_000, 2000),
    safetyTerms,
    safetyClassifier: options.safetyClassifier === undefined ? undefined : resolveClassifierOptions(options.safetyClassifier),
    nsfwClassifier: nsfwSetting(options),
    promptModel,
    promptEnhancerUrl,
    promptEnhancerModel: optionalString('promptEnhancerModel', options.promptEnhancerModel),
    promptEnhancerKey: optionalString('promptEnhancerKey', options.promptEnhancerKey) ?? (env.DIFFUSEKIT_PROMPT_ENHANCER_KEY || undefined),
    promptTimeoutMs: integerIn('promptTimeoutMs', options.promptTimeoutMs, 1, 600_000, 30_000),
    limits,
    queue,
    redisUrl,
    role,
    storage,
    s3: options.s3 as ServerOptions['s3'],
    secretKey: parseSecretKey(options.secretKey ?? (env.DIFFUSEKIT_SECRET_KEY || undefined)),
    workerLockMs: integerIn('workerLockMs', options.workerLockMs, 1000, 3_600_000, 30_000),
    canTrain: optionalBoolean('canTrain', options.canTrain) ?? false,
    trustProxy: optionalBoolean('trustProxy', options.trustProxy) ?? false,
    logger: optionalBoolean('logger', options.logger) ?? env.NODE_ENV !== 'test',
    outputAccess,
    signedUrlSeconds: numberIn('signedUrlSeconds', options.signedUrlSeconds, 1, 365 * 86400, 3600),
    cors,
    http,
  };
}
