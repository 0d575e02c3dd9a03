import type { Awaitable } from '../jobs/job-repository.js';
import type { Db } from '../store/database.js';

export interface TrainingRow {
  trainingId: string;
  jobId: number;
  keyId: string | null;
  createdAt: number;
}

/** Training ids and their jobs, in SQLite (TrainingStore) or in Redis (RedisTrainingStore). */
export interface TrainingDirectory {
  insert(row: TrainingRow): Awaitable<void>;
  get(trainingId: string): Awaitable<TrainingRow | undefined>;
  /** Trainings of a key that are queued or running (its training quota). */
  activeForKey(keyId: string): Awaitable<number>;
}

/**
 * Training ids and their jobs. A training is a job on the durable queue (task lora_train); this table adds the
 * public id clients poll with and counts each key's trainings for its quota.
 */
export class TrainingStore implements TrainingDirectory {
  readonly #statements;

  constructor(db: Db) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS trainings (
        training_id TEXT PRIMARY KEY,
        job_id INTEGER NOT NULL,
        key_id TEXT,
        created_at INTEGER NOT NULL
      );
    `);
    this.#statements = {
      insert: db.prepare('INSERT INTO trainings (training_id, job_id, key_id, created_at) VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT training_id AS trainingId, job_id AS jobId, key_id AS keyId, created_at AS createdAt FROM trainings WHERE training_id = ?'),
      activeForKey: db.prepare(`SELECT COUNT(*) AS n FROM trainings t JOIN jobs j ON j.id = t.job_id WHERE t.key_id = ? AND j.status IN ('queued', 'running')`),
    };
  }

  insert(row: TrainingRow): void {
    this.#statements.insert.run(row.trainingId, row.jobId, row.keyId, row.createdAt);
  }

  get(trainingId: string): TrainingRow | undefined {
    return this.#statements.get.get(trainingId) as TrainingRow | undefined;
  }

  /** Trainings of a key that are queued or running. */
  activeForKey(keyId: string): number {
    return (this.#statements.activeForKey.get(keyId) as { n: number }).n;
  }
}
