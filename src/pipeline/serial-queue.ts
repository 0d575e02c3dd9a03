import { AbortError, DisposedError } from '../errors.js';

/** The reason a signal gives, wrapped so callers can rely on `code === 'ABORT_ERR'`. */
export function abortErrorFor(signal: AbortSignal): AbortError {
  const reason = signal.reason as { name?: string; message?: string } | undefined;
  const timeout = reason?.name === 'TimeoutError';
  return new AbortError(timeout ? 'The operation was aborted due to timeout' : 'The operation was aborted', { cause: signal.reason });
}

interface Job<T> {
  run: () => Promise<T>;
  cancel: () => void;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Runs jobs one at a time, in order. A job whose signal aborts while it waits leaves the queue at once;
 * one that is running gets `cancel()` and settles when its work stops.
 */
export class SerialQueue {
  #jobs: Job<unknown>[] = [];
  #running: Job<unknown> | undefined;
  #closed = false;

  get size(): number {
    return this.#jobs.length + (this.#running ? 1 : 0);
  }

  push<T>(run: () => Promise<T>, cancel: () => void, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new DisposedError());
    if (signal?.aborted) return Promise.reject(abortErrorFor(signal));
    return new Promise<T>((resolve, reject) => {
      const job: Job<T> = { run, cancel, resolve, reject, signal };
      if (signal) {
        job.onAbort = () => {
          const index = this.#jobs.indexOf(job as Job<unknown>);
          if (index >= 0) {
            this.#jobs.splice(index, 1);
            reject(abortErrorFor(signal));
          } else if (this.#running === job) {
            job.cancel();
          }
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#jobs.push(job as Job<unknown>);
      this.#next();
    });
  }

  /** Refuses new jobs, rejects the waiting ones, cancels the running one and waits for it to stop. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#jobs.splice(0)) {
      this.#detach(job);
      job.reject(new DisposedError());
    }
    const running = this.#running;
    if (running) {
      running.cancel();
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    }
  }

  #idle: (() => void) | undefined;

  #detach(job: Job<unknown>): void {
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
  }

  #next(): void {
    if (this.#running) return;
    const job = this.#jobs.shift();
    if (!job) {
      this.#idle?.();
      this.#idle = undefined;
      return;
    }
    this.#running = job;
    job
      .run()
      .then(job.resolve, (err) => job.reject(job.signal?.aborted && (err as { code?: string })?.code === 'ABORT_ERR' ? abortErrorFor(job.signal) : err))
      .finally(() => {
        this.#detach(job);
        this.#running = undefined;
        this.#next();
      });
  }
}
