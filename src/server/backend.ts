import { trainingDirOf } from './training/training-lifecycle.js';
import { randomBytes } from 'node:crypto';
import { SqliteOptionsStore, type OptionsStore } from './api/a1111/settings.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { KeyDirectory, RateCounter } from './auth/authenticate.js';
import { KeyStore } from './auth/key-store.js';
import { RateLimiter } from './auth/rate-limiter.js';
import type { ServerConfig } from './config.js';
import type { JobRepository } from './jobs/job-repository.js';
import { JobStore } from './jobs/job-store.js';
import { LocalScheduler } from './jobs/local-scheduler.js';
import type { Scheduler } from './jobs/scheduler.js';
import type { ServedModel } from './models/model-registry.js';
import type { RedisWorkerNode } from './redis/worker-node.js';
import { TrainingStore, type TrainingDirectory } from './training/training-store.js';
import { trainerPython } from '../training/trainer-environment.js';
import { LocalStorage, type ObjectStorage } from './storage/object-storage.js';
import { restrictFiles } from './security/file-modes.js';
import { SecretBox } from './security/secret-box.js';
import { openDatabase, type Db } from './store/database.js';
import { importOptional, type OptionalFeature } from '../util/optional-dependency.js';
import { WebhookDispatcher, type WebhookDeliveryState } from './webhooks/dispatcher.js';
import { WorkerPool } from './workers/worker-pool.js';

/** Webhook delivery as the routes see it: the SQLite dispatcher or the Redis (BullMQ) one. */
export interface Webhooks {
  enqueue(jobId: string, url: string, body: string, secret: string): void | Promise<void>;
  status(jobId: string): WebhookDeliveryState | undefined | Promise<WebhookDeliveryState | undefined>;
  start(): void;
  close(): Promise<void>;
}

/** Everything behind the routes, for one queue kind: where jobs, keys and files live and who runs jobs. */
export interface Backend {
  db: Db;
  jobs: JobRepository;
  keys: KeyDirectory;
  limiter: RateCounter;
  scheduler: Scheduler | undefined;
  webhooks: Webhooks;
  storage: ObjectStorage;
  /** This process's engine workers (roles 'all' and 'worker'). */
  pool: WorkerPool | undefined;
  /** A Redis worker node (queue 'redis', roles 'all' and 'worker'). */
  workerNode: RedisWorkerNode | undefined;
  /** Signs webhooks of requests without a key. */
  webhookSecret: string;
  /** The A1111 options (sd_model_checkpoint, ...): per node with SQLite, shared through Redis. */
  a1111Options: OptionsStore;
  /** Training ids and their jobs (the v3 training routes). */
  trainings: TrainingDirectory;
  /** The number of engine workers serving the queue, for estimates. */
  workerCount: () => number;
  close(): Promise<void>;
}

function localSecret(dataDir: string): string {
  const file = path.join(dataDir, 'webhook-secret');
  try {
    const secret = fs.readFileSync(file, 'utf8').trim();
    restrictFiles(dataDir, ['webhook-secret']);
    return secret;
  } catch {
    const secret = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

async function sharedSecret(redis: Redis, keyPrefix: string): Promise<string> {
  await redis.set(`${keyPrefix}webhook-secret`, randomBytes(32).toString('base64url'), 'NX');
  return (await redis.get(`${keyPrefix}webhook-secret`))!;
}

const REDIS_QUEUE: OptionalFeature = { feature: 'The Redis queue (--queue redis)', packages: ['bullmq', 'ioredis'], install: 'npm install bullmq ioredis (or diffusekit-server, which brings them)' };
const S3_STORAGE: OptionalFeature = { feature: 'S3 storage (--storage s3)', packages: ['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'], install: 'npm install @aws-sdk/client-s3 @aws-sdk/s3-request-presigner (or diffusekit-server, which brings them)' };

/** The storage, and what closes it: the S3 client (imported only then) or nothing. */
async function openStorage(config: ServerConfig): Promise<{ storage: ObjectStorage; close: () => void }> {
  if (config.storage !== 's3') return { storage: new LocalStorage(config.dataDir), close: () => {} };
  const { S3Storage } = await importOptional(() => import('./storage/s3-storage.js'), S3_STORAGE);
  const storage = new S3Storage(config.s3!);
  return { storage, close: () => storage.close() };
}

/** What the backend reports to the server (its log). */
export interface BackendEvents {
  /** A webhook delivery gave up; `reason` is the last try's error. */
  webhookFailed?: (jobId: string, reason: string) => void;
}

export async function openBackend(config: ServerConfig, models: ServedModel[], events: BackendEvents = {}): Promise<Backend> {
  // The database is opened in every mode: the A1111 model hashes live there (of this node's files), and with
  // the SQLite queue everything else.
  // The optional packages first (a missing one is reported before anything is opened).
  const { storage, close: closeStorage } = await openStorage(config);
  const redisModules = config.queue === 'redis' ? await importOptional(() => import('./redis/modules.js'), REDIS_QUEUE) : undefined;
  const db = openDatabase(config.dataDir);
  const spoolDir = path.join(config.dataDir, 'spool');
  const local = storage.localDir('inputs') !== undefined;
  for (const dir of local ? [storage.localDir('inputs')!, storage.localDir('generations')!] : [path.join(spoolDir, 'inputs'), path.join(spoolDir, 'generations')]) {
    fs.mkdirSync(dir, { recursive: true });
  }
  const runsEngine = config.role !== 'api';
  const pool = runsEngine
    ? new WorkerPool(config.workers, {
        models,
        loraDir: config.loraDir,
        embeddingDir: config.embeddingDir,
        threads: config.threads,
        devices: config.devices,
        modelMemoryBudget: config.modelMemoryBudget,
        safetyClassifier: config.safetyClassifier,
        nsfwClassifier: config.nsfwClassifier,
        trainingDir: trainingDirOf(config.dataDir),
        trainerVenv: config.trainerVenv,
        inputsDir: local ? storage.localDir('inputs')! : path.join(spoolDir, 'inputs'),
        outputsDir: local ? storage.localDir('generations')! : path.join(spoolDir, 'generations'),
      })
    : undefined;
  const webhookOptions = { allow: config.allowHosts, timeoutMs: 10_000, attempts: config.webhookAttempts, baseDelayMs: config.webhookBaseDelayMs, onFailed: events.webhookFailed };

  if (config.queue === 'sqlite') {
    const store = new JobStore(db);
    const webhooks: WebhookDispatcher = new WebhookDispatcher({
      db,
      fetchOptions: { allow: config.allowHosts, timeoutMs: 10_000 },
      retry: { attempts: config.webhookAttempts, baseDelayMs: config.webhookBaseDelayMs },
      onChange: (jobId, status) => {
        if (status === 'failed') events.webhookFailed?.(jobId, webhooks.status(jobId)?.lastError ?? 'unknown');
      },
    });
    return {
      db,
      jobs: store,
      keys: new KeyStore(db),
      limiter: new RateLimiter(),
      scheduler: new LocalScheduler(store, pool!),
      webhooks,
      storage,
      pool,
      workerNode: undefined,
      webhookSecret: localSecret(config.dataDir),
      a1111Options: new SqliteOptionsStore(db),
      trainings: new TrainingStore(db),
      workerCount: () => config.workers,
      close: async () => {
        db.close();
        closeStorage();
      },
    };
  }

  const { connectRedis, KEY_PREFIX, RedisJobStore, RedisKeyStore, RedisOptionsStore, RedisRateLimiter, RedisScheduler, RedisTrainingStore, RedisWebhookDispatcher, RedisWorkerNode } = redisModules!;
  // A training node without its trainer would fail every training it takes: refuse to start instead.
  if (config.canTrain) {
    try {
      trainerPython(config.trainerVenv);
    } catch (err) {
      db.close();
      closeStorage();
      throw err;
    }
  }
  const redis = connectRedis(config.redisUrl!);
  const store = new RedisJobStore(redis);
  const scheduler = config.role === 'worker' ? undefined : new RedisScheduler(redis, config.redisUrl!);
  const workerNode = pool
    ? new RedisWorkerNode({ redis, url: config.redisUrl!, store, pool, storage, spoolDir, lockDurationMs: config.workerLockMs, canTrain: config.canTrain, trainingDir: trainingDirOf(config.dataDir) })
    : undefined;
  return {
    db,
    jobs: store,
    keys: new RedisKeyStore(redis, { secrets: config.secretKey && new SecretBox(config.secretKey) }),
    limiter: new RedisRateLimiter(redis),
    scheduler,
    webhooks: new RedisWebhookDispatcher(redis, config.redisUrl!, webhookOptions),
    storage,
    pool,
    workerNode,
    webhookSecret: await sharedSecret(redis, KEY_PREFIX),
    a1111Options: new RedisOptionsStore(redis),
    trainings: new RedisTrainingStore(redis),
    workerCount: () => config.workers,
    close: async () => {
      redis.disconnect();
      db.close();
      closeStorage();
    },
  };
}
