import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { JobOutput, JobProgress, JobRecord } from '../jobs/job-spec.js';
import { outputFileNames } from '../jobs/job-spec.js';
import type { JobStore } from '../jobs/job-store.js';
import type { FromWorker, JobPreview, ToWorker, WorkerError, WorkerSettings } from './protocol.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** A job whose worker died this many times is failed instead of retried. */
export const MAX_ATTEMPTS = 2;

export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopped';

export interface WorkerStatus {
  id: number;
  pid: number | undefined;
  state: WorkerState;
  job: number | null;
  models: string[];
  restarts: number;
}

export interface JobFinishedEvent {
  id: number;
  status: 'success' | 'error' | 'cancelled';
  outputs?: JobOutput[];
  error?: WorkerError;
}

interface Worker {
  id: number;
  child: ChildProcess | undefined;
  state: WorkerState;
  job: JobRecord | undefined;
  progress: JobProgress | undefined;
  /** The latest preview of the running job, if its worker sent one. */
  preview: JobPreview | undefined;
  models: string[];
  restarts: number;
  /** Crashes in a row, for the restart back-off; reset by a job that ends normally. */
  crashes: number;
  restartTimer?: NodeJS.Timeout;
}

export interface WorkerPoolEvents {
  /** A job ended on a worker (the pool has not written it to the store: the owner does, then emits). */
  finished: [JobFinishedEvent];
  /** A running job went back to the queue, or failed, because its worker died. */
  crashed: [{ job: JobRecord; requeued: boolean; reason: string }];
  progress: [number, JobProgress];
}

/**
 * Engine worker processes and the dispatch of queued jobs to them. Each worker runs one job at a time and
 * takes jobs for the models it has loaded first. A worker that dies mid-job has its job requeued (once)
 * and is forked again, with a back-off if it keeps dying.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #workers: Worker[];
  readonly #store: JobStore;
  readonly #settings: Omit<WorkerSettings, 'worker'>;
  readonly #execArgv: string[];
  #stopping = false;

  constructor(count: number, store: JobStore, settings: Omit<WorkerSettings, 'worker'>, execArgv: string[] = []) {
    super();
    this.#store = store;
    this.#settings = settings;
    this.#execArgv = execArgv;
    this.#workers = Array.from({ length: count }, (_, id) => ({ id, child: undefined, state: 'stopped', job: undefined, progress: undefined, preview: undefined, models: [], restarts: 0, crashes: 0 }));
  }

  start(): void {
    for (const worker of this.#workers) this.#spawn(worker);
  }

  /** Hands queued jobs to idle workers; call after anything is queued. */
  dispatch(): void {
    if (this.#stopping) return;
    for (const worker of this.#workers) {
      if (worker.state !== 'idle') continue;
      const job = this.#store.claimNext(String(worker.id), worker.models);
      if (!job) return;
      worker.state = 'busy';
      worker.job = job;
      worker.progress = undefined;
      worker.preview = undefined;
      this.#send(worker, { type: 'run', job: { id: job.id, spec: job.spec, outputNames: outputFileNames(job.id, job.spec) } });
    }
  }

  /** Asks the worker running `id` to stop it; false when no worker runs it. */
  cancel(id: number): boolean {
    const worker = this.#workers.find((w) => w.job?.id === id);
    if (!worker) return false;
    this.#send(worker, { type: 'cancel', id });
    return true;
  }

  progress(id: number): JobProgress | undefined {
    return this.#workers.find((w) => w.job?.id === id)?.progress;
  }

  /** The latest preview image of a running job (raw pixels), if any arrived yet. */
  preview(id: number): JobPreview | undefined {
    return this.#workers.find((w) => w.job?.id === id)?.preview;
  }

  status(): WorkerStatus[] {
    return this.#workers.map((w) => ({ id: w.id, pid: w.child?.pid, state: w.state, job: w.job?.id ?? null, models: [...w.models], restarts: w.restarts }));
  }

  /** Process ids of the workers (tests use them to kill one). */
  pids(): (number | undefined)[] {
    return this.#workers.map((w) => w.child?.pid);
  }

  /** Stops every worker; running jobs stay 'running' in the store and are requeued at the next start. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#workers.map(async (worker) => {
        clearTimeout(worker.restartTimer);
        const child = worker.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  #send(worker: Worker, message: ToWorker): void {
    if (worker.child?.connected) worker.child.send(message);
  }

  #spawn(worker: Worker): void {
    worker.state = 'starting';
    const child = fork(WORKER_MAIN, [], { serialization: 'advanced', execArgv: this.#execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    worker.child = child;
    child.on('message', (message: FromWorker) => this.#onMessage(worker, message));
    child.on('error', () => {}); // 'exit' follows and does the recovery
    child.once('exit', (code, signal) => this.#onExit(worker, child, code, signal));
    this.#send(worker, { type: 'init', settings: { ...this.#settings, worker: worker.id } });
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        worker.state = 'idle';
        this.dispatch();
        break;
      case 'models':
        worker.models = message.loaded;
        break;
      case 'progress':
        if (worker.job?.id === message.id) {
          worker.progress = message.progress;
          if (message.preview) worker.preview = message.preview;
          this.emit('progress', message.id, message.progress);
        }
        break;
      case 'done':
      case 'failed': {
        if (worker.job?.id !== message.id) break;
        worker.job = undefined;
        worker.progress = undefined;
        worker.preview = undefined;
        worker.state = 'idle';
        worker.crashes = 0;
        const event: JobFinishedEvent =
          message.type === 'done'
            ? { id: message.id, status: 'success', outputs: message.outputs }
            : { id: message.id, status: message.cancelled ? 'cancelled' : 'error', error: message.error };
        this.emit('finished', event);
        this.dispatch();
        break;
      }
    }
  }

  #onExit(worker: Worker, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.child !== child) return;
    worker.child = undefined;
    worker.state = 'stopped';
    worker.models = [];
    const job = worker.job;
    worker.job = undefined;
    worker.progress = undefined;
    worker.preview = undefined;
    if (this.#stopping) return;
    const reason = signal ? `signal ${signal}` : `exit code ${code}`;
    if (job) {
      const current = this.#store.get(job.id);
      const requeued = current?.status === 'running' && current.attempts < MAX_ATTEMPTS && this.#store.requeue(job.id);
      this.emit('crashed', { job: current ?? job, requeued, reason });
    }
    worker.crashes += 1;
    worker.restarts += 1;
    const delay = Math.min(30_000, 250 * 2 ** (worker.crashes - 1));
    worker.restartTimer = setTimeout(() => this.#spawn(worker), delay);
  }
}
