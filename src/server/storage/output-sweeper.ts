import type { JobRepository } from '../jobs/job-repository.js';
import type { ObjectStorage } from './object-storage.js';

/**
 * Deletes the outputs of jobs that finished more than `ttlMs` ago (the seeds' hosted API keeps results
 * 24 hours), marking the jobs expired so fetch can say so. Runs every `intervalMs` and once at start.
 */
export class OutputSweeper {
  readonly #store: JobRepository;
  readonly #storage: ObjectStorage;
  readonly #ttlMs: number;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(store: JobRepository, storage: ObjectStorage, ttlMs: number, intervalMs: number) {
    this.#store = store;
    this.#storage = storage;
    this.#ttlMs = ttlMs;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.sweep().catch(() => {});
    this.#timer = setInterval(() => this.sweep().catch(() => {}), this.#intervalMs);
    this.#timer.unref();
  }

  /** One pass; resolves with the number of jobs expired. */
  sweep(now = Date.now()): Promise<number> {
    this.#running ??= this.#sweep(now).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #sweep(now: number): Promise<number> {
    const jobs = await this.#store.expiring(now - this.#ttlMs);
    for (const job of jobs) {
      await Promise.all(job.outputs.map((o) => this.#storage.remove('generations', o.file)));
      await this.#store.markExpired(job.id);
    }
    return jobs.length;
  }
}
