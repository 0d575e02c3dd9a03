import type { Db } from '../store/database.js';

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One job's webhook as persisted: enough to send it again after a restart. */
export interface WebhookDelivery {
  jobId: string;
  url: string;
  body: string;
  /** The signature header's value, computed at enqueue time so that the secret itself is never stored. */
  signature: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** Epoch milliseconds; meaningful while pending. */
  nextAttemptAt: number;
  lastStatus?: number;
  lastError?: string;
  /** Bumped by every enqueue, so that an attempt that outlived a replacement cannot overwrite it. */
  generation: number;
}

export interface AttemptRecord {
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastStatus?: number;
  lastError?: string;
}

interface DeliveryRow {
  job_id: string;
  url: string;
  body: string;
  signature: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  generation: number;
}

/** The webhook_deliveries table: one row per job, the latest webhook for it. */
export class WebhookDeliveryStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS webhook_deliveries (
        job_id          TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        body            TEXT NOT NULL,
        signature       TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_status     INTEGER,
        last_error      TEXT,
        generation      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON webhook_deliveries (status, next_attempt_at);
    `);
  }

  /** Stores a new pending delivery for `jobId`, replacing any earlier one; returns its generation. */
  replace(jobId: string, url: string, body: string, signature: string, now: number): number {
    const row = this.db.prepare(`
      INSERT INTO webhook_deliveries (job_id, url, body, signature, status, attempts, next_attempt_at, generation, updated_at)
      VALUES (?, ?, ?, ?, 'pending', 0, ?, 1, ?)
      ON CONFLICT (job_id) DO UPDATE SET
        url = excluded.url, body = excluded.body, signature = excluded.signature, status = 'pending', attempts = 0,
        next_attempt_at = excluded.next_attempt_at, last_status = NULL, last_error = NULL,
        generation = generation + 1, updated_at = excluded.updated_at
      RETURNING generation`).get(jobId, url, body, signature, now, now) as { generation: number };
    return row.generation;
  }

  get(jobId: string): WebhookDelivery | undefined {
    const row = this.db.prepare('SELECT * FROM webhook_deliveries WHERE job_id = ?').get(jobId) as DeliveryRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  pending(): WebhookDelivery[] {
    const rows = this.db.prepare(`SELECT * FROM webhook_deliveries WHERE status = 'pending' ORDER BY next_attempt_at`).all() as DeliveryRow[];
    return rows.map(fromRow);
  }

  /** Records an attempt's outcome; false (and nothing written) when the delivery was replaced meanwhile. */
  recordAttempt(jobId: string, generation: number, record: AttemptRecord, now: number): boolean {
    const result = this.db.prepare(`
      UPDATE webhook_deliveries
      SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?, updated_at = ?
      WHERE job_id = ? AND generation = ?`).run(
      record.status, record.attempts, record.nextAttemptAt, record.lastStatus ?? null, record.lastError ?? null, now,
      jobId, generation,
    );
    return result.changes > 0;
  }
}

function fromRow(row: DeliveryRow): WebhookDelivery {
  return {
    jobId: row.job_id,
    url: row.url,
    body: row.body,
    signature: row.signature,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    ...(row.last_status !== null && { lastStatus: row.last_status }),
    ...(row.last_error !== null && { lastError: row.last_error }),
    generation: row.generation,
  };
}
