import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { JobOutput, JobProgress, JobRecord } from '../jobs/job-spec.js';
import { outputFileNames } from '../jobs/job-spec.js';
import type { FromWorker, JobPreview, ToWorker, WorkerError, WorkerSettings } from './protocol.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopped';

export interface WorkerStatus {
  id: number;
  pid: number | undefined;
  state: WorkerState;
  job: number | null;
  models: string[];
  restarts: number;
}

/** How a job ended on a worker that stayed alive. */
export interface JobOutcome {
  status: 'success' | 'error' | 'cancelled';
  outputs?: JobOutput[];
  error?: WorkerError;
}

/** The engine process running a job died (native abort, out of memory, kill -9). */
export class WorkerCrashedError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(`the engine worker died (${reason})`);
    this.name = 'WorkerCrashedError';
    this.reason = reason;
  }
}

interface Running {
  job: JobRecord;
  resolve: (outcome: JobOutcome) => void;
  reject: (error: Error) => void;
  progress?: JobProgress;
  preview?: JobPreview;
}

interface Worker {
  id: number;
  child: ChildProcess | undefined;
  state: WorkerState;
  running: Running | undefined;
  models: string[];
  restarts: number;
  /** Crashes in a row, for the restart back-off; reset by a job that ends normally. */
  crashes: number;
  restartTimer?: NodeJS.Timeout;
}

export interface WorkerPoolEvents {
  /** A worker became free to take a job (started, or finished one). */
  idle: [];
  progress: [number, JobProgress];
}

/**
 * Engine worker processes: each runs one job at a time, keeping its models loaded. `run` hands a job to an
 * idle worker (one with the job's model loaded, if any) and resolves with how it ended, or rejects with
 * WorkerCrashedError when the process died; the worker is then forked again, with a back-off if it keeps
 * dying. What to do with a crashed job (retry, fail) is the caller's policy.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #workers: Worker[];
  readonly #settings: Omit<WorkerSettings, 'worker' | 'device'> & { devices: string[] };
  #stopping = false;

  /** `settings.devices` go to the workers in turn: worker i runs on devices[i % devices.length] (one worker per GPU). */
  constructor(count: number, settings: Omit<WorkerSettings, 'worker' | 'device'> & { devices: string[] }) {
    super();
    this.#settings = settings;
    this.#workers = Array.from({ length: count }, (_, id) => ({ id, child: undefined, state: 'stopped', running: undefined, models: [], restarts: 0, crashes: 0 }));
  }

  start(): void {
    this.#stopping = false;
    for (const worker of this.#workers) this.#spawn(worker);
  }

  get size(): number {
    return this.#workers.length;
  }

  /** The loaded models of each idle worker: a scheduler picks jobs that need no model load first. */
  idleWorkers(): { id: number; models: string[] }[] {
    return this.#workers.filter((w) => w.state === 'idle').map((w) => ({ id: w.id, models: [...w.models] }));
  }

  /** Runs a job on an idle worker; throws when none is idle (schedulers ask idleWorkers first). */
  run(job: JobRecord): Promise<JobOutcome> {
    const idle = this.#workers.filter((w) => w.state === 'idle');
    const worker = idle.find((w) => w.models.includes(modelKey(job))) ?? idle[0];
    if (!worker) return Promise.reject(new Error('no idle engine worker'));
    return new Promise((resolve, reject) => {
      worker.state = 'busy';
      worker.running = { job, resolve, reject };
      this.#send(worker, { type: 'run', job: { id: job.id, spec: job.spec, outputNames: outputFileNames(job.id, job.spec) } });
    });
  }

  /** Asks the worker running `id` to stop it; false when no worker runs it. */
  cancel(id: number): boolean {
    const worker = this.#workers.find((w) => w.running?.job.id === id);
    if (!worker) return false;
    this.#send(worker, { type: 'cancel', id });
    return true;
  }

  progress(id: number): JobProgress | undefined {
    return this.#workers.find((w) => w.running?.job.id === id)?.running?.progress;
  }

  /** The latest preview image of a running job (raw pixels), if any arrived yet. */
  preview(id: number): JobPreview | undefined {
    return this.#workers.find((w) => w.running?.job.id === id)?.running?.preview;
  }

  status(): WorkerStatus[] {
    return this.#workers.map((w) => ({ id: w.id, pid: w.child?.pid, state: w.state, job: w.running?.job.id ?? null, models: [...w.models], restarts: w.restarts }));
  }

  /** Process ids of the workers (tests use them to kill one). */
  pids(): (number | undefined)[] {
    return this.#workers.map((w) => w.child?.pid);
  }

  /** Stops every worker. Jobs they were running are neither resolved nor rejected: their owner recovers them. */
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
    const child = fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    worker.child = child;
    child.on('message', (message: FromWorker) => this.#onMessage(worker, message));
    child.on('error', () => {}); // 'exit' follows and does the recovery
    child.once('exit', (code, signal) => this.#onExit(worker, child, code, signal));
    const { devices, ...settings } = this.#settings;
    this.#send(worker, { type: 'init', settings: { ...settings, device: devices[worker.id % devices.length], worker: worker.id } });
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        worker.state = 'idle';
        this.emit('idle');
        break;
      case 'models':
        worker.models = message.loaded;
        break;
      case 'progress':
        if (worker.running?.job.id === message.id) {
          worker.running.progress = message.progress;
          if (message.preview) worker.running.preview = message.preview;
          this.emit('progress', message.id, message.progress);
        }
        break;
      case 'done':
      case 'failed': {
        const running = worker.running;
        if (running?.job.id !== message.id) break;
        worker.running = undefined;
        worker.state = 'idle';
        worker.crashes = 0;
        running.resolve(
          message.type === 'done'
            ? { status: 'success', outputs: message.outputs }
            : { status: message.cancelled ? 'cancelled' : 'error', error: message.error },
        );
        this.emit('idle');
        break;
      }
    }
  }

  #onExit(worker: Worker, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.child !== child) return;
    worker.child = undefined;
    worker.state = 'stopped';
    worker.models = [];
    const running = worker.running;
    worker.running = undefined;
    if (this.#stopping) return;
    running?.reject(new WorkerCrashedError(signal ? `signal ${signal}` : `exit code ${code}`));
    worker.crashes += 1;
    worker.restarts += 1;
    const delay = Math.min(30_000, 250 * 2 ** (worker.crashes - 1));
    worker.restartTimer = setTimeout(() => this.#spawn(worker), delay);
  }
}

/** The cache key a worker reports for a job's model (see JobExecutor.loaded). */
export function modelKey(job: Pick<JobRecord, 'spec'>): string {
  return job.spec.controlnetModel ? `${job.spec.model}+${job.spec.controlnetModel}` : job.spec.model;
}
