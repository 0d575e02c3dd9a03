import { EventEmitter } from 'node:events';
import { ApiError } from '../errors.js';
import { newOutputToken } from '../security/output-links.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import type { JobPreview } from '../workers/protocol.js';
import type { JobRepository } from './job-repository.js';
import { inputFiles, type JobProgress, type JobRecord } from './job-spec.js';
import type { NewJob } from './job-store.js';
import type { Scheduler, WorkerView } from './scheduler.js';

export interface JobServiceEvents {
  /** A job reached success, error or cancelled (after the repository has it). */
  finished: [JobRecord];
  /** The server is shutting down: pending waits answer now. */
  drain: [];
}

const ENDED = new Set(['success', 'error', 'cancelled']);

/**
 * The job lifecycle in one place: submission, completion, cancellation, waiting for a result, estimates.
 * API routes talk to this, never to the repository or the workers directly; where jobs run is the
 * scheduler's business (this process's workers, or worker nodes through Redis).
 */
export class JobService extends EventEmitter<JobServiceEvents> {
  readonly #repo: JobRepository;
  readonly #scheduler: Scheduler;
  readonly #storage: ObjectStorage;
  readonly #maxQueued: number;
  readonly #workerCount: () => number;
  #draining = false;

  constructor(repo: JobRepository, scheduler: Scheduler, options: { storage: ObjectStorage; maxQueued: number; workerCount: () => number }) {
    super();
    this.setMaxListeners(0);
    this.#repo = repo;
    this.#scheduler = scheduler;
    this.#storage = options.storage;
    this.#maxQueued = options.maxQueued;
    this.#workerCount = options.workerCount;
  }

  /** Starts the scheduler; reports jobs recovered from a previous run. */
  start(): Promise<{ requeued: number; failed: number }> {
    return this.#scheduler.start((id) => void this.#ended(id));
  }

  async submit(job: NewJob): Promise<JobRecord> {
    if ((await this.#repo.counts()).queued >= this.#maxQueued) {
      throw new ApiError(503, 'queue_full', `The queue is full (${this.#maxQueued} jobs): try again later`, { 'Retry-After': '30' });
    }
    const record = await this.#repo.insert({ ...job, spec: { ...job.spec, outputToken: newOutputToken() } });
    try {
      await this.#scheduler.queued(record);
    } catch (err) {
      // Accepted but not dispatchable (the queue backend failed): end it now rather than leave it queued forever.
      if (await this.#repo.finish(record.id, 'error', { error: `The job could not be queued: ${(err as Error).message}`, errorCode: 'queue_unavailable' })) await this.#ended(record.id);
      throw new ApiError(503, 'queue_unavailable', `The job queue is unavailable: ${(err as Error).message}`, { 'Retry-After': '10' });
    }
    return record;
  }

  /** Shutdown, first step: every pending and later wait answers at once with the job as it is. */
  drain(): void {
    this.#draining = true;
    this.emit('drain');
  }

  /** True once drain() was called: synchronous routes stop waiting and answer. */
  get draining(): boolean {
    return this.#draining;
  }

  async get(id: number): Promise<JobRecord | undefined> {
    return this.#repo.get(id);
  }

  async progress(id: number): Promise<JobProgress | undefined> {
    return this.#scheduler.progress(id);
  }

  /** The latest preview image of a running job, if its worker sent one. */
  async preview(id: number): Promise<JobPreview | undefined> {
    return this.#scheduler.preview(id);
  }

  async workers(): Promise<WorkerView[]> {
    return this.#scheduler.workers();
  }

  async counts(): Promise<{ queued: number; running: number }> {
    return this.#repo.counts();
  }

  async running(): Promise<JobRecord[]> {
    return this.#repo.running();
  }

  async activeForKey(keyId: string): Promise<number> {
    return this.#repo.activeForKey(keyId);
  }

  /** The newest jobs of a key (null: of everyone), newest first. */
  async recent(keyId: string | null, limit: number): Promise<JobRecord[]> {
    return this.#repo.recent(keyId, limit);
  }

  /** Mean run time of successful jobs by task over the last hour. */
  async averageDurations(): Promise<Record<string, { seconds: number; jobs: number }>> {
    return this.#repo.averageDurations(Date.now() - 3_600_000);
  }

  /** Cancels a queued job at once, a running one within a step. Returns the job as it is now. */
  async cancel(id: number): Promise<JobRecord | undefined> {
    const job = await this.#repo.get(id);
    if (!job) return undefined;
    if (job.status === 'queued' && (await this.#repo.finish(id, 'cancelled', { error: 'Job cancelled', errorCode: 'cancelled' }))) {
      await this.#scheduler.dropQueued(id);
      await this.#ended(id);
    } else if (job.status === 'running' || job.status === 'queued') {
      await this.#scheduler.cancelRunning(id);
    }
    return this.#repo.get(id);
  }

  /** Resolves with the job once it has ended, or as it is after `ms`. */
  async wait(id: number, ms: number): Promise<JobRecord | undefined> {
    const now = await this.#repo.get(id);
    if (!now || ENDED.has(now.status) || ms <= 0 || this.#draining) return now;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (job: JobRecord | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        this.off('finished', onFinished);
        this.off('drain', onDrain);
        resolve(job);
      };
      // A read that fails (the store closing) answers with the job as last seen rather than an unhandled rejection.
      const current = () => Promise.resolve(this.#repo.get(id)).catch(() => now);
      const onFinished = (job: JobRecord) => job.id === id && settle(job);
      const onDrain = () => void current().then(settle);
      const timer = setTimeout(onDrain, ms);
      // A backstop for a missed notification (a Redis reconnect): the repository has the truth.
      const poll = setInterval(() => {
        void current().then((job) => job && ENDED.has(job.status) && settle(job));
      }, 2000);
      this.on('finished', onFinished);
      this.on('drain', onDrain);
    });
  }

  /** Estimated seconds until a job is done: queue position and mean durations of the last hour. */
  async eta(job: JobRecord): Promise<number> {
    const averages = await this.averageDurations();
    const perJob = averages[job.task]?.seconds ?? Object.values(averages)[0]?.seconds ?? 10;
    if (job.status === 'running') {
      const progress = await this.progress(job.id);
      const done = progress ? (progress.image + progress.step / progress.steps) / progress.images : 0;
      return Math.max(1, Math.round(perJob * (1 - done)));
    }
    const ahead = (await this.#repo.queuePosition(job.id)) + (await this.#repo.counts()).running;
    return Math.max(1, Math.round(perJob * (1 + ahead / Math.max(1, this.#workerCount()))));
  }

  async stop(): Promise<void> {
    await this.#scheduler.stop();
  }

  async #ended(id: number): Promise<void> {
    const job = await this.#repo.get(id);
    if (!job) return;
    for (const file of inputFiles(job.spec)) {
      this.#storage.remove('inputs', file).catch(() => {});
    }
    this.emit('finished', job);
  }
}
