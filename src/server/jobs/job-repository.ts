import type { JobOutput, JobRecord, JobStatus } from './job-spec.js';
import type { NewJob } from './job-store.js';

export type Awaitable<T> = T | Promise<T>;

/**
 * Where job records live: the SQLite JobStore on one machine, RedisJobStore across machines. Callers
 * always `await`, so either fits.
 */
export interface JobRepository {
  insert(job: NewJob, now?: number): Awaitable<JobRecord>;
  get(id: number): Awaitable<JobRecord | undefined>;
  /** queued -> running, one more attempt; undefined when the job is not queued (cancelled meanwhile). */
  markRunning(id: number, worker: string, now?: number): Awaitable<JobRecord | undefined>;
  requeue(id: number): Awaitable<boolean>;
  finish(id: number, status: Exclude<JobStatus, 'queued' | 'running'>, result?: { outputs?: JobOutput[]; error?: string; errorCode?: string }, now?: number): Awaitable<boolean>;
  running(): Awaitable<JobRecord[]>;
  counts(): Awaitable<{ queued: number; running: number }>;
  activeForKey(keyId: string): Awaitable<number>;
  /** The newest jobs of a key (null: of everyone), newest first. */
  recent(keyId: string | null, limit: number): Awaitable<JobRecord[]>;
  queuePosition(id: number): Awaitable<number>;
  averageDurations(since: number): Awaitable<Record<string, { seconds: number; jobs: number }>>;
  expiring(before: number): Awaitable<JobRecord[]>;
  markExpired(id: number): Awaitable<void>;
}
