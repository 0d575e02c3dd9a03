import type { Db } from '../store/database.js';
import type { JobRepository } from './job-repository.js';
import type { JobOutput, JobRecord, JobSpec, JobStatus } from './job-spec.js';

interface JobRow {
  id: number;
  status: JobStatus;
  task: string;
  model: string;
  spec: string;
  api: string;
  request: string;
  key_id: string | null;
  track_id: string | null;
  webhook: string | null;
  base_url: string;
  attempts: number;
  worker: string | number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  outputs: string;
  error: string | null;
  error_code: string | null;
  expired: number;
}

export interface NewJob {
  spec: JobSpec;
  api: string;
  request?: Record<string, unknown>;
  keyId?: string | null;
  trackId?: string | null;
  webhook?: string | null;
  baseUrl: string;
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    status: row.status,
    task: row.task as JobRecord['task'],
    model: row.model,
    spec: JSON.parse(row.spec) as JobSpec,
    api: row.api,
    request: JSON.parse(row.request) as Record<string, unknown>,
    keyId: row.key_id,
    trackId: row.track_id,
    webhook: row.webhook,
    baseUrl: row.base_url,
    attempts: row.attempts,
    worker: row.worker === null ? null : String(row.worker),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outputs: JSON.parse(row.outputs) as JobOutput[],
    error: row.error,
    errorCode: row.error_code,
    expired: row.expired === 1,
  };
}

/**
 * The durable job queue: every accepted request is a row before the client hears back, so a crash or a
 * restart can lose no job. State changes are single statements or transactions; the worker pool is the
 * only writer of 'running' and of finished states.
 */
export class JobStore implements JobRepository {
  readonly #db: Db;
  readonly #statements;

  constructor(db: Db) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        status TEXT NOT NULL,
        task TEXT NOT NULL,
        model TEXT NOT NULL,
        spec TEXT NOT NULL,
        api TEXT NOT NULL,
        request TEXT NOT NULL DEFAULT '{}',
        key_id TEXT,
        track_id TEXT,
        webhook TEXT,
        base_url TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        outputs TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        error_code TEXT,
        expired INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);
      CREATE INDEX IF NOT EXISTS jobs_key_status ON jobs (key_id, status);
      CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE expired = 0;
    `);
    this.#statements = {
      insert: db.prepare(`INSERT INTO jobs (status, task, model, spec, api, request, key_id, track_id, webhook, base_url, created_at)
        VALUES ('queued', @task, @model, @spec, @api, @request, @keyId, @trackId, @webhook, @baseUrl, @createdAt)`),
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      nextQueued: db.prepare(`SELECT * FROM jobs WHERE status = 'queued'
        ORDER BY (model IN (SELECT value FROM json_each(?))) DESC, id LIMIT 1`),
      start: db.prepare(`UPDATE jobs SET status = 'running', attempts = attempts + 1, worker = ?, started_at = ? WHERE id = ? AND status = 'queued'`),
      requeue: db.prepare(`UPDATE jobs SET status = 'queued', worker = NULL, started_at = NULL WHERE id = ? AND status = 'running'`),
      handBack: db.prepare(`UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), worker = NULL, started_at = NULL WHERE id = ? AND status = 'running'`),
      finish: db.prepare(`UPDATE jobs SET status = @status, outputs = @outputs, error = @error, error_code = @errorCode, finished_at = @finishedAt
        WHERE id = @id AND status IN ('queued', 'running')`),
      running: db.prepare(`SELECT * FROM jobs WHERE status = 'running'`),
      counts: db.prepare(`SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') GROUP BY status`),
      activeForKey: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE key_id = ? AND status IN ('queued', 'running')`),
      recentForKey: db.prepare('SELECT * FROM jobs WHERE key_id = ? ORDER BY id DESC LIMIT ?'),
      recent: db.prepare('SELECT * FROM jobs ORDER BY id DESC LIMIT ?'),
      position: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND id < ?`),
      durations: db.prepare(`SELECT task, AVG(finished_at - started_at) AS ms, COUNT(*) AS n FROM jobs
        WHERE status = 'success' AND finished_at >= ? GROUP BY task`),
      expiring: db.prepare(`SELECT * FROM jobs WHERE expired = 0 AND finished_at IS NOT NULL AND finished_at < ?`),
      markExpired: db.prepare('UPDATE jobs SET expired = 1 WHERE id = ?'),
    };
  }

  insert(job: NewJob, now = Date.now()): JobRecord {
    const info = this.#statements.insert.run({
      task: job.spec.task,
      model: job.spec.model,
      spec: JSON.stringify(job.spec),
      api: job.api,
      request: JSON.stringify(job.request ?? {}),
      keyId: job.keyId ?? null,
      trackId: job.trackId ?? null,
      webhook: job.webhook ?? null,
      baseUrl: job.baseUrl,
      createdAt: now,
    });
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): JobRecord | undefined {
    const row = this.#statements.get.get(id) as JobRow | undefined;
    return row && toRecord(row);
  }

  /**
   * Takes the oldest queued job for `worker`, preferring models it already has loaded, and marks it
   * running (one more attempt). Undefined when the queue is empty.
   */
  claimNext(worker: string, loadedModels: string[], now = Date.now()): JobRecord | undefined {
    return this.#db.transaction(() => {
      const row = this.#statements.nextQueued.get(JSON.stringify(loadedModels)) as JobRow | undefined;
      if (!row) return undefined;
      this.#statements.start.run(worker, now, row.id);
      return this.get(row.id);
    }).immediate();
  }

  markRunning(id: number, worker: string, now = Date.now()): JobRecord | undefined {
    return this.#statements.start.run(worker, now, id).changes === 1 ? this.get(id) : undefined;
  }

  /** A running job goes back to the queue (its worker died); it keeps its attempt count. */
  requeue(id: number): boolean {
    return this.#statements.requeue.run(id).changes === 1;
  }

  /** A running job goes back to the queue because the server is shutting down: the attempt is not counted. */
  handBack(id: number): boolean {
    return this.#statements.handBack.run(id).changes === 1;
  }

  /** Ends a queued or running job; false when it had already ended (e.g. cancelled meanwhile). */
  finish(id: number, status: Exclude<JobStatus, 'queued' | 'running'>, result: { outputs?: JobOutput[]; error?: string; errorCode?: string } = {}, now = Date.now()): boolean {
    return this.#statements.finish.run({
      id,
      status,
      outputs: JSON.stringify(result.outputs ?? []),
      error: result.error ?? null,
      errorCode: result.errorCode ?? null,
      finishedAt: now,
    }).changes === 1;
  }

  running(): JobRecord[] {
    return (this.#statements.running.all() as JobRow[]).map(toRecord);
  }

  counts(): { queued: number; running: number } {
    const counts = { queued: 0, running: 0 };
    for (const row of this.#statements.counts.all() as { status: 'queued' | 'running'; n: number }[]) counts[row.status] = row.n;
    return counts;
  }

  activeForKey(keyId: string): number {
    return (this.#statements.activeForKey.get(keyId) as { n: number }).n;
  }

  recent(keyId: string | null, limit: number): JobRecord[] {
    const rows = keyId === null ? this.#statements.recent.all(limit) : this.#statements.recentForKey.all(keyId, limit);
    return (rows as JobRow[]).map(toRecord);
  }

  /** How many queued jobs are ahead of this one. */
  queuePosition(id: number): number {
    return (this.#statements.position.get(id) as { n: number }).n;
  }

  /** Mean run time (start to finish) of successful jobs by task, since `since`. */
  averageDurations(since: number): Record<string, { seconds: number; jobs: number }> {
    const result: Record<string, { seconds: number; jobs: number }> = {};
    for (const row of this.#statements.durations.all(since) as { task: string; ms: number; n: number }[]) {
      result[row.task] = { seconds: Math.round(row.ms) / 1000, jobs: row.n };
    }
    return result;
  }

  /** Finished jobs whose outputs are older than `before` and not yet swept. */
  expiring(before: number): JobRecord[] {
    return (this.#statements.expiring.all(before) as JobRow[]).map(toRecord);
  }

  markExpired(id: number): void {
    this.#statements.markExpired.run(id);
  }
}
