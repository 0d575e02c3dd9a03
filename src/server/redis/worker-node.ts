import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { endState } from '../jobs/local-scheduler.js';
import { inputFiles, type JobRecord } from '../jobs/job-spec.js';
import { crashedMessage, MAX_ATTEMPTS } from '../jobs/scheduler.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import type { JobOutcome, WorkerPool } from '../workers/worker-pool.js';
import { WorkerCrashedError } from '../workers/worker-pool.js';
import { connectRedis } from './connection.js';
import { stageDatasetBundle } from '../training/dataset-bundle.js';
import { trainingFolder } from '../training/training-spec.js';
import { BULL_PREFIX, EVENTS_CHANNEL, NODES_KEY, previewKey, progressKey, QUEUE_NAME, TRAINING_QUEUE_NAME, type NodeEvent, type NodeStatus } from './events.js';
import type { RedisJobStore } from './job-store.js';

export interface WorkerNodeOptions {
  redis: Redis;
  url: string;
  store: RedisJobStore;
  pool: WorkerPool;
  storage: ObjectStorage;
  /** Where inputs and outputs are staged when the storage is not a local folder (S3). */
  spoolDir: string;
  /** How long a node may go silent before its jobs count as stalled and move to another node. */
  lockDurationMs: number;
  /** Take lora_train jobs too (one at a time), from the training queue; the trainer must be installed here. */
  canTrain?: boolean;
  /** Where this node keeps trainings' datasets and checkpoints (the engine workers' trainingDir). */
  trainingDir?: string;
}

const HEARTBEAT_MS = 2000;
const PROGRESS_TTL_S = 3600;

/**
 * A worker node: takes jobs from the BullMQ queue and runs them on this machine's engine workers. A job
 * whose engine worker dies is retried once (by BullMQ, on any node); a node that dies mid-job loses its
 * lock and BullMQ's stalled-job check moves the job to another node, where it counts as the retry.
 */
export class RedisWorkerNode {
  readonly id = `${os.hostname()}:${process.pid}`;
  readonly #options: WorkerNodeOptions;
  readonly #subscriber: Redis;
  readonly #workers: Worker[] = [];
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: WorkerNodeOptions) {
    this.#options = options;
    this.#subscriber = connectRedis(options.url);
  }

  async start(): Promise<void> {
    const { pool, redis, lockDurationMs } = this.#options;
    pool.on('progress', (id, progress) => {
      const preview = pool.preview(id);
      const multi = redis.multi().set(progressKey(id), JSON.stringify(progress), 'EX', PROGRESS_TTL_S);
      if (preview) {
        multi.hset(previewKey(id), { width: preview.width, height: preview.height, channels: preview.channels, data: Buffer.from(preview.data) }).expire(previewKey(id), PROGRESS_TTL_S);
      }
      multi.exec().catch(() => {});
    });
    this.#subscriber.on('message', (_channel, message) => {
      const event = JSON.parse(message) as NodeEvent;
      if (event.type === 'cancel') pool.cancel(event.id);
    });
    await this.#subscriber.subscribe(EVENTS_CHANNEL);
    pool.start();
    const take = (queue: string, concurrency: number) => {
      const worker = new Worker(queue, (job: Job<{ id: number }>) => this.#process(job.data.id), {
        connection: connectRedis(this.#options.url),
        prefix: BULL_PREFIX,
        concurrency,
        lockDuration: lockDurationMs,
        stalledInterval: Math.max(500, Math.floor(lockDurationMs / 2)),
        maxStalledCount: 1,
      });
      worker.on('error', () => {}); // connection trouble: BullMQ reconnects by itself
      this.#workers.push(worker);
    };
    take(QUEUE_NAME, pool.size);
    // One training at a time: the trainer uses the whole machine (it shares the engine workers with image jobs).
    if (this.#options.canTrain) take(TRAINING_QUEUE_NAME, 1);
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    const mine = (await this.#options.store.running().catch(() => [])).filter((job) => job.worker === this.id);
    // Stop taking jobs, without waiting for running ones: their engine workers stop below, and the jobs'
    // locks lapse, so another node (or this one after a restart) runs them.
    await Promise.all(this.#workers.map((worker) => worker.close(true)));
    await this.#options.pool.stop();
    // A shutdown is not the job's fault: back to 'queued' with the attempt uncounted, so the node that picks
    // the stalled job up runs it as a first try.
    for (const job of mine) await this.#options.store.handBack(job.id).catch(() => false);
    await this.#options.redis.hdel(NODES_KEY, this.id).catch(() => {});
    this.#subscriber.disconnect();
  }

  #beat(): void {
    const status: NodeStatus = { node: this.id, at: Date.now(), canTrain: this.#options.canTrain === true, workers: this.#options.pool.status() };
    this.#options.redis.hset(NODES_KEY, this.id, JSON.stringify(status)).catch(() => {});
  }

  async #process(id: number): Promise<void> {
    const { store } = this.#options;
    const current = await store.get(id);
    if (!current) return;
    if (current.status === 'running') {
      // Its last holder died (a stalled job) or its engine worker crashed: this run is the retry.
      if (current.attempts >= MAX_ATTEMPTS) return this.#end(id, { status: 'error', error: { code: 'worker_crashed', message: crashedMessage('node or worker lost', current.attempts) } });
      await store.requeue(id);
    }
    const job = await store.markRunning(id, this.id);
    if (!job) return; // cancelled (or finished) meanwhile
    if (job.spec.training && !(await stageDatasetBundle(this.#options.storage, this.#options.trainingDir!, job.spec.training.trainingId))) {
      return this.#end(id, { status: 'error', error: { code: 'dataset_missing', message: `The dataset of training ${job.spec.training.trainingId} is not in the shared storage` } });
    }
    const staged = await this.#stageInputs(job);
    let outcome: JobOutcome;
    try {
      outcome = await this.#runWhenIdle(job);
    } catch (err) {
      const reason = err instanceof WorkerCrashedError ? err.reason : (err as Error).message;
      if (job.attempts < MAX_ATTEMPTS) {
        await store.requeue(id);
        throw err; // BullMQ runs it again, here or on another node
      }
      return this.#end(id, { status: 'error', error: { code: 'worker_crashed', message: crashedMessage(reason, job.attempts) } });
    } finally {
      await Promise.all(staged.map((file) => fs.rm(file, { force: true })));
    }
    if (outcome.status === 'success') await this.#publishOutputs(outcome);
    // A training that ended without a LoRA leaves nothing on this node (a successful one removed its folder).
    if (job.spec.training && outcome.status !== 'success') await fs.rm(trainingFolder(this.#options.trainingDir!, job.spec.training.trainingId), { recursive: true, force: true });
    await this.#end(id, outcome);
  }

  async #end(id: number, outcome: JobOutcome): Promise<void> {
    const { store, redis } = this.#options;
    if (await store.finish(id, outcome.status, endState(outcome))) {
      await redis.publish(EVENTS_CHANNEL, JSON.stringify({ type: 'finished', id } satisfies NodeEvent));
    }
    await redis.del(progressKey(id), previewKey(id));
  }

  /**
   * Runs the job on the first idle engine worker: a worker restarting after a crash is not idle yet, and a training
   * node takes one job more than it has workers. The check and pool.run are one synchronous step, so two jobs
   * waiting for the same 'idle' never claim one worker.
   */
  async #runWhenIdle(job: JobRecord): Promise<JobOutcome> {
    const { pool } = this.#options;
    while (pool.idleWorkers().length === 0) await new Promise<void>((resolve) => pool.once('idle', () => resolve()));
    return pool.run(job);
  }

  // With S3 storage the engine works on local copies: inputs are fetched before, outputs uploaded after.
  async #stageInputs(job: JobRecord): Promise<string[]> {
    const { storage, spoolDir } = this.#options;
    if (storage.localDir('inputs')) return [];
    const staged: string[] = [];
    for (const file of inputFiles(job.spec)) {
      const bytes = await storage.read('inputs', file);
      if (!bytes) continue;
      const local = path.join(spoolDir, 'inputs', file);
      await fs.writeFile(local, bytes);
      staged.push(local);
    }
    return staged;
  }

  async #publishOutputs(outcome: JobOutcome): Promise<void> {
    const { storage, spoolDir } = this.#options;
    if (storage.localDir('generations')) return;
    for (const output of outcome.outputs ?? []) {
      const local = path.join(spoolDir, 'generations', output.file);
      await storage.put('generations', output.file, await fs.readFile(local));
      await fs.rm(local, { force: true });
    }
  }
}
