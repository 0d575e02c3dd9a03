import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../errors.js';
import type { JobPreview } from '../workers/protocol.js';
import type { WorkerPool } from '../workers/worker-pool.js';
import { MAX_ATTEMPTS } from '../workers/worker-pool.js';
import type { JobProgress, JobRecord } from './job-spec.js';
import type { JobStore, NewJob } from './job-store.js';

export interface JobServiceEvents {
  /** A job reached success, error or cancelled (after the store has it). */
  finished: [JobRecord];
}

/**
 * The job lifecycle in one place: submission, dispatch to workers, completion, cancellation, recovery
 * after a restart or a worker crash, and waiting for a result. API routes talk to this, never to the
 * store or the workers directly.
 */
export class JobService extends EventEmitter<JobServiceEvents> {
  readonly store: JobStore;
  readonly pool: WorkerPool;
  readonly #inputsDir: string;
  readonly #maxQueued: number;

  constructor(store: JobStore, pool: WorkerPool, options: { inputsDir: string; maxQueued: number }) {
    super();
    this.setMaxListeners(0);
    this.store = store;
    this.pool = pool;
    this.#inputsDir = options.inputsDir;
    this.#maxQueued = options.maxQueued;
    pool.on('finished', (event) => {
      const error = event.error && (event.error.code === 'ERR_INTERNAL' ? `internal error: ${event.error.message}` : event.error.message);
      this.#finish(event.id, event.status, {
        outputs: event.outputs,
        error: event.status === 'cancelled' ? 'Job cancelled' : error,
        errorCode: event.status === 'cancelled' ? 'cancelled' : event.error?.code,
      });
    });
    pool.on('crashed', ({ job, requeued, reason }) => {
      if (requeued) {
        this.pool.dispatch();
      } else if (job.status === 'running') {
        this.#finish(job.id, 'error', { error: `The engine worker died while running this job (${reason}), ${job.attempts} times: giving up`, errorCode: 'worker_crashed' });
      }
    });
  }

  /**
   * Jobs left 'running' by a previous server process go back to the queue, or fail when that was already
   * their last attempt. Then the workers start and take the queue.
   */
  start(): { requeued: number; failed: number } {
    let requeued = 0;
    let failed = 0;
    for (const job of this.store.running()) {
      if (job.attempts < MAX_ATTEMPTS && this.store.requeue(job.id)) {
        requeued += 1;
      } else {
        this.#finish(job.id, 'error', { error: `The server stopped while this job was running, ${job.attempts} times: giving up`, errorCode: 'interrupted' });
        failed += 1;
      }
    }
    this.pool.start();
    return { requeued, failed };
  }

  submit(job: NewJob): JobRecord {
    if (this.store.counts().queued >= this.#maxQueued) throw new ApiError(503, 'queue_full', `The queue is full (${this.#maxQueued} jobs): try again later`, { 'Retry-After': '30' });
    const record = this.store.insert(job);
    this.pool.dispatch();
    return record;
  }

  get(id: number): JobRecord | undefined {
    return this.store.get(id);
  }

  progress(id: number): JobProgress | undefined {
    return this.pool.progress(id);
  }

  /** The latest preview image of a running job, if its worker sent one. */
  preview(id: number): JobPreview | undefined {
    return this.pool.preview(id);
  }

  /** Cancels a queued job at once, a running one within a step. Returns the job as it is now. */
  cancel(id: number): JobRecord | undefined {
    const job = this.store.get(id);
    if (!job) return undefined;
    if (job.status === 'queued') this.#finish(id, 'cancelled', { error: 'Job cancelled', errorCode: 'cancelled' });
    else if (job.status === 'running') this.pool.cancel(id);
    return this.store.get(id);
  }

  /** Resolves with the job once it has ended, or as it is after `ms`. */
  wait(id: number, ms: number): Promise<JobRecord | undefined> {
    const now = this.store.get(id);
    if (!now || now.status === 'success' || now.status === 'error' || now.status === 'cancelled' || ms <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const onFinished = (job: JobRecord) => {
        if (job.id !== id) return;
        clearTimeout(timer);
        this.off('finished', onFinished);
        resolve(job);
      };
      const timer = setTimeout(() => {
        this.off('finished', onFinished);
        resolve(this.store.get(id));
      }, ms);
      this.on('finished', onFinished);
    });
  }

  /** Estimated seconds until a job is done: queue position and mean durations of the last hour. */
  eta(job: JobRecord, workers: number): number {
    const averages = this.store.averageDurations(Date.now() - 3_600_000);
    const perJob = averages[job.task]?.seconds ?? Object.values(averages)[0]?.seconds ?? 10;
    if (job.status === 'running') {
      const progress = this.pool.progress(job.id);
      const done = progress ? (progress.image + progress.step / progress.steps) / progress.images : 0;
      return Math.max(1, Math.round(perJob * (1 - done)));
    }
    const ahead = this.store.queuePosition(job.id) + this.store.counts().running;
    return Math.max(1, Math.round(perJob * (1 + ahead / Math.max(1, workers))));
  }

  async stop(): Promise<void> {
    await this.pool.stop();
  }

  #finish(id: number, status: 'success' | 'error' | 'cancelled', result: { outputs?: JobRecord['outputs']; error?: string; errorCode?: string }): void {
    if (!this.store.finish(id, status, result)) return;
    const job = this.store.get(id)!;
    this.#removeInputs(job);
    this.emit('finished', job);
  }

  #removeInputs(job: JobRecord): void {
    for (const file of [job.spec.initImage, job.spec.maskImage, job.spec.controlImage]) {
      if (file) fs.rm(path.join(this.#inputsDir, file), { force: true }, () => {});
    }
  }
}
