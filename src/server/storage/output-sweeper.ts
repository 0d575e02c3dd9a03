import fs from 'node:fs/promises';
import path from 'node:path';
import type { JobStore } from '../jobs/job-store.js';

/**
 * Deletes the outputs of jobs that finished more than `ttlMs` ago (the seeds' hosted API keeps results
 * 24 hours), marking the jobs expired so fetch can say so. Runs every `intervalMs` and once at start.
 */
export class OutputSweeper {
  readonly #store: JobStore;
  readonly #dir: string;
  readonly #ttlMs: number;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(store: JobStore, generationsDir: string, ttlMs: number, intervalMs: number) {
    this.#store = store;
    this.#dir = generationsDir;
    this.#ttlMs = ttlMs;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    void this.sweep();
    this.#timer = setInterval(() => void this.sweep(), this.#intervalMs);
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
    const jobs = this.#store.expiring(now - this.#ttlMs);
    for (const job of jobs) {
      await Promise.all(job.outputs.map((o) => fs.rm(path.join(this.#dir, o.file), { force: true })));
      this.#store.markExpired(job.id);
    }
    return jobs.length;
  }
}
