import type { Redis } from 'ioredis';
import type { TrainingDirectory, TrainingRow } from '../training/training-store.js';
import { KEY_PREFIX } from './connection.js';

const K = {
  training: (id: string) => `${KEY_PREFIX}training:${id}`,
  /** A key's training job ids (pruned of ended ones when counted). */
  ofKey: (keyId: string) => `${KEY_PREFIX}trainings:key:${keyId}`,
};

// Counts a key's queued or running trainings and forgets its ended ones, in one step on the server.
const ACTIVE_FOR_KEY = `
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local status = redis.call('HGET', '${KEY_PREFIX}job:' .. id, 'status')
  if status == 'queued' or status == 'running' then n = n + 1 else redis.call('SREM', KEYS[1], id) end
end
return n`;

/** The Redis queue's training ids: what TrainingStore keeps in SQLite, shared by every API node. */
export class RedisTrainingStore implements TrainingDirectory {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async insert(row: TrainingRow): Promise<void> {
    const multi = this.#redis.multi().hset(K.training(row.trainingId), { jobId: row.jobId, keyId: row.keyId ?? '', createdAt: row.createdAt });
    if (row.keyId) multi.sadd(K.ofKey(row.keyId), String(row.jobId));
    await multi.exec();
  }

  async get(trainingId: string): Promise<TrainingRow | undefined> {
    const h = await this.#redis.hgetall(K.training(trainingId));
    if (!h.jobId) return undefined;
    return { trainingId, jobId: Number(h.jobId), keyId: h.keyId || null, createdAt: Number(h.createdAt) };
  }

  async activeForKey(keyId: string): Promise<number> {
    return Number(await this.#redis.eval(ACTIVE_FOR_KEY, 1, K.ofKey(keyId)));
  }
}
