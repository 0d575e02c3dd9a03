import type { WorkerStatus } from '../workers/worker-pool.js';
import type { JobPreview } from '../workers/protocol.js';
import type { Awaitable } from './job-repository.js';
import type { JobProgress, JobRecord } from './job-spec.js';

/** A job whose worker died this many times is failed instead of retried. */
export const MAX_ATTEMPTS = 2;

/** An engine worker as system_load shows it; `node` names the machine/process in a scale-out. */
export type WorkerView = WorkerStatus & { node?: string };

/**
 * Gets queued jobs run: on local worker processes (LocalScheduler) or on worker nodes through Redis
 * (RedisScheduler). A scheduler writes a job's end state to the repository, then calls `onFinished(id)`.
 */
export interface Scheduler {
  /** Starts dispatching; `onFinished` hears of every job that ends. Reports jobs recovered from a previous run. */
  start(onFinished: (id: number) => void): Promise<{ requeued: number; failed: number }>;
  /** A job was inserted as queued. */
  queued(job: JobRecord): Promise<void>;
  /** A queued job was cancelled (already written): forget it. */
  dropQueued(id: number): Promise<void>;
  /** Asks whoever runs `id` to stop within a step. */
  cancelRunning(id: number): Promise<void>;
  progress(id: number): Awaitable<JobProgress | undefined>;
  preview(id: number): Awaitable<JobPreview | undefined>;
  workers(): Awaitable<WorkerView[]>;
  /** Whether some worker takes lora_train jobs now (Redis: a live node started with canTrain). */
  canTrain(): Awaitable<boolean>;
  stop(): Promise<void>;
}

/** The message a job ends with when its worker kept dying. */
export const crashedMessage = (reason: string, attempts: number): string =>
  `The engine worker died while running this job (${reason}), ${attempts} times: giving up`;
