import { randomBytes } from 'node:crypto';
import { SqliteOptionsStore, type OptionsStore } from './api/a1111/settings.js';
import { RedisOptionsStore } from './redis/options-store.js';
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
import { connectRedis, KEY_PREFIX } from './redis/connection.js';
import { RedisJobStore } from './redis/job-store.js';
import { RedisKeyStore } from './redis/key-store.js';
import { RedisRateLimiter } from './redis/rate-limiter.js';
import { RedisScheduler } from './redis/scheduler.js';
import { RedisWebhookDispatcher } from './redis/webhooks.js';
import { RedisWorkerNode } from './redis/worker-node.js';
import { LocalStorage, type ObjectStorage } from './storage/object-storage.js';
import { S3Storage } from './storage/s3-storage.js';
import { openDatabase, type Db } from './store/database.js';
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
  /** The number of engine workers serving the queue, for estimates. */
  workerCount: () => number;
  close(): Promise<void>;
}

function localSecret(dataDir: string): string {
  const file = path.join(dataDir, 'webhook-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

async function sharedSecret(redis: Redis): Promise<string> {
  await redis.set(`${KEY_PREFIX}webhook-secret`, randomBytes(32).toString('base64url'), 'NX');
  return (await redis.get(`${KEY_PREFIX}webhook-secret`))!;
}

function openStorage(config: ServerConfig): ObjectStorage {
  return config.storage === 's3' ? new S3Storage(config.s3!) : new LocalStorage(config.dataDir);
}

export async function openBackend(config: ServerConfig, models: ServedModel[]): Promise<Backend> {
  // The database is opened in every mode: the A1111 model hashes live there (of this node's files), and with
  // the SQLite queue everything else.
  const db = openDatabase(config.dataDir);
  const storage = openStorage(config);
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
        inputsDir: local ? storage.localDir('inputs')! : path.join(spoolDir, 'inputs'),
        outputsDir: local ? storage.localDir('generations')! : path.join(spoolDir, 'generations'),
      })
    : undefined;
  const webhookOptions = { allow: config.allowHosts, timeoutMs: 10_000, attempts: config.webhookAttempts, baseDelayMs: config.webhookBaseDelayMs };

  if (config.queue === 'sqlite') {
    const store = new JobStore(db);
    const webhooks = new WebhookDispatcher({ db, fetchOptions: { allow: config.allowHosts, timeoutMs: 10_000 }, retry: { attempts: config.webhookAttempts, baseDelayMs: config.webhookBaseDelayMs } });
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
      workerCount: () => config.workers,
      close: async () => {
        db.close();
      },
    };
  }

  const redis = connectRedis(config.redisUrl!);
  const store = new RedisJobStore(redis);
  const scheduler = config.role === 'worker' ? undefined : new RedisScheduler(redis, config.redisUrl!);
  const workerNode = pool ? new RedisWorkerNode({ redis, url: config.redisUrl!, store, pool, storage, spoolDir, lockDurationMs: config.workerLockMs }) : undefined;
  return {
    db,
    jobs: store,
    keys: new RedisKeyStore(redis),
    limiter: new RedisRateLimiter(redis),
    scheduler,
    webhooks: new RedisWebhookDispatcher(redis, config.redisUrl!, webhookOptions),
    storage,
    pool,
    workerNode,
    webhookSecret: await sharedSecret(redis),
    a1111Options: new RedisOptionsStore(redis),
    workerCount: () => config.workers,
    close: async () => {
      redis.disconnect();
      db.close();
      if (storage instanceof S3Storage) storage.close();
    },
  };
}
