import type { JobOutcome, WorkerPool } from '../workers/worker-pool.js';
import { WorkerCrashedError } from '../workers/worker-pool.js';
import type { JobRecord } from './job-spec.js';
import type { JobStore } from './job-store.js';
import { crashedMessage, MAX_ATTEMPTS, type Scheduler } from './scheduler.js';

/**
 * One machine: queued jobs in SQLite go to this process's engine workers. An idle worker takes the oldest
 * job for a model it has loaded, else the oldest job. A job whose worker dies is requeued once, then failed.
 */
export class LocalScheduler implements Scheduler {
  readonly #store: JobStore;
  readonly #pool: WorkerPool;
  #onFinished: (id: number) => void = () => {};
  #stopping = false;

  constructor(store: JobStore, pool: WorkerPool) {
    this.#store = store;
    this.#pool = pool;
  }

  async start(onFinished: (id: number) => void): Promise<{ requeued: number; failed: number }> {
    this.#onFinished = onFinished;
    // Jobs left 'running' by a previous server process go back to the queue, or fail on their last attempt.
    let requeued = 0;
    let failed = 0;
    for (const job of this.#store.running()) {
      if (job.attempts < MAX_ATTEMPTS && this.#store.requeue(job.id)) {
        requeued += 1;
      } else {
        this.#end(job.id, { status: 'error', error: { code: 'interrupted', message: `The server stopped while this job was running, ${job.attempts} times: giving up` } });
        failed += 1;
      }
    }
    this.#pool.on('idle', () => this.#dispatch());
    this.#pool.start();
    return { requeued, failed };
  }

  async queued(): Promise<void> {
    this.#dispatch();
  }

  async dropQueued(): Promise<void> {}

  async cancelRunning(id: number): Promise<void> {
    this.#pool.cancel(id);
  }

  progress(id: number) {
    return this.#pool.progress(id);
  }

  preview(id: number) {
    return this.#pool.preview(id);
  }

  workers() {
    return this.#pool.status();
  }

  /** Every worker of a one-machine server trains. */
  canTrain(): boolean {
    return true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const running = this.#store.running();
    await this.#pool.stop();
    // A shutdown is not the job's fault: it goes back to the queue without spending an attempt, and runs first
    // at the next start. (A crash leaves it 'running': the next start requeues it, attempt counted.)
    for (const job of running) this.#store.handBack(job.id);
  }

  #dispatch(): void {
    if (this.#stopping) return;
    for (const worker of this.#pool.idleWorkers()) {
      const job = this.#store.claimNext(String(worker.id), worker.models);
      if (!job) return;
      this.#pool.run(job).then(
        (outcome) => this.#end(job.id, outcome),
        (err: Error) => this.#crashed(job, err),
      );
    }
  }

  #crashed(job: JobRecord, err: Error): void {
    if (this.#stopping) return;
    const reason = err instanceof WorkerCrashedError ? err.reason : err.message;
    const current = this.#store.get(job.id);
    if (current?.status === 'running' && current.attempts < MAX_ATTEMPTS && this.#store.requeue(job.id)) {
      this.#dispatch();
    } else if (current?.status === 'running') {
      this.#end(job.id, { status: 'error', error: { code: 'worker_crashed', message: crashedMessage(reason, current.attempts) } });
    }
  }

  #end(id: number, outcome: JobOutcome): void {
    const finished = this.#store.finish(id, outcome.status, endState(outcome));
    if (finished) this.#onFinished(id);
  }
}

/** The stored end state of an outcome: messages and codes as clients see them. */
export function endState(outcome: JobOutcome): { outputs?: JobRecord['outputs']; error?: string; errorCode?: string } {
  if (outcome.status === 'success') return { outputs: outcome.outputs };
  if (outcome.status === 'cancelled') return { error: 'Job cancelled', errorCode: 'cancelled' };
  const { code, message } = outcome.error ?? { code: 'ERR_INTERNAL', message: 'unknown error' };
  return { error: code === 'ERR_INTERNAL' ? `internal error: ${message}` : message, errorCode: code };
}
