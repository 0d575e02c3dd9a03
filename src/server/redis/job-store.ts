import type { Redis } from 'ioredis';
import type { JobRepository } from '../jobs/job-repository.js';
import type { JobOutput, JobRecord, JobSpec, JobStatus } from '../jobs/job-spec.js';
import type { NewJob } from '../jobs/job-store.js';
import { KEY_PREFIX } from './connection.js';

/** How many job ids per key the recent list keeps (the playground's gallery shows a few). */
const RECENT_PER_KEY = 100;

const K = {
  seq: `${KEY_PREFIX}jobs:seq`,
  job: (id: number) => `${KEY_PREFIX}job:${id}`,
  queued: `${KEY_PREFIX}jobs:queued`,
  running: `${KEY_PREFIX}jobs:running`,
  active: (keyId: string) => `${KEY_PREFIX}jobs:active:${keyId}`,
  /** A key's newest job ids, newest first (at most RECENT_PER_KEY). */
  recent: (keyId: string) => `${KEY_PREFIX}jobs:recent:${keyId}`,
  finished: `${KEY_PREFIX}jobs:finished`,
  durations: `${KEY_PREFIX}jobs:durations`,
};

// State changes are Lua scripts: a check and its writes happen atomically, whichever node runs them.
// Key names are built inside the scripts, so a Redis Cluster is not supported (one Redis, or a replica set).
const P = KEY_PREFIX;
const MARK_RUNNING = `
local key = '${P}job:' .. ARGV[1]
if redis.call('HGET', key, 'status') ~= 'queued' then return 0 end
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'status', 'running', 'worker', ARGV[2], 'startedAt', ARGV[3])
redis.call('ZREM', '${P}jobs:queued', ARGV[1])
redis.call('SADD', '${P}jobs:running', ARGV[1])
return 1`;
// ARGV[2] = '1': a hand-back at shutdown, whose attempt does not count.
const REQUEUE = `
local key = '${P}job:' .. ARGV[1]
if redis.call('HGET', key, 'status') ~= 'running' then return 0 end
if ARGV[2] == '1' and tonumber(redis.call('HGET', key, 'attempts')) > 0 then redis.call('HINCRBY', key, 'attempts', -1) end
redis.call('HSET', key, 'status', 'queued', 'worker', '', 'startedAt', '')
redis.call('SREM', '${P}jobs:running', ARGV[1])
redis.call('ZADD', '${P}jobs:queued', ARGV[1], ARGV[1])
return 1`;
const FINISH = `
local key = '${P}job:' .. ARGV[1]
local status = redis.call('HGET', key, 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', key, 'status', ARGV[2], 'outputs', ARGV[3], 'error', ARGV[4], 'errorCode', ARGV[5], 'finishedAt', ARGV[6])
redis.call('ZREM', '${P}jobs:queued', ARGV[1])
redis.call('SREM', '${P}jobs:running', ARGV[1])
local keyId = redis.call('HGET', key, 'keyId')
if keyId and keyId ~= '' then redis.call('SREM', '${P}jobs:active:' .. keyId, ARGV[1]) end
redis.call('ZADD', '${P}jobs:finished', ARGV[6], ARGV[1])
local started = tonumber(redis.call('HGET', key, 'startedAt'))
if ARGV[2] == 'success' and started then
  redis.call('ZADD', '${P}jobs:durations', ARGV[6], ARGV[1] .. '|' .. redis.call('HGET', key, 'task') .. '|' .. (tonumber(ARGV[6]) - started))
end
return 1`;

const num = (v: string | undefined) => (v ? Number(v) : null);

function toRecord(h: Record<string, string>): JobRecord | undefined {
  if (!h.status) return undefined;
  return {
    id: Number(h.id),
    status: h.status as JobStatus,
    task: h.task as JobRecord['task'],
    model: h.model,
    spec: JSON.parse(h.spec) as JobSpec,
    api: h.api,
    request: JSON.parse(h.request) as Record<string, unknown>,
    keyId: h.keyId || null,
    trackId: h.trackId || null,
    webhook: h.webhook || null,
    baseUrl: h.baseUrl,
    attempts: Number(h.attempts ?? 0),
    worker: h.worker || null,
    createdAt: Number(h.createdAt),
    startedAt: num(h.startedAt),
    finishedAt: num(h.finishedAt),
    outputs: JSON.parse(h.outputs || '[]') as JobOutput[],
    error: h.error || null,
    errorCode: h.errorCode || null,
    expired: h.expired === '1',
  };
}

/** The job records of a Redis deployment: the same states and transitions as the SQLite JobStore. */
export class RedisJobStore implements JobRepository {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async insert(job: NewJob, now = Date.now()): Promise<JobRecord> {
    const id = await this.#redis.incr(K.seq);
    const multi = this.#redis.multi().hset(K.job(id), {
      id: String(id),
      status: 'queued',
      task: job.spec.task,
      model: job.spec.model,
      spec: JSON.stringify(job.spec),
      api: job.api,
      request: JSON.stringify(job.request ?? {}),
      keyId: job.keyId ?? '',
      trackId: job.trackId ?? '',
      webhook: job.webhook ?? '',
      baseUrl: job.baseUrl,
      attempts: '0',
      createdAt: String(now),
      outputs: '[]',
    });
    multi.zadd(K.queued, id, String(id));
    if (job.keyId) multi.sadd(K.active(job.keyId), String(id)).lpush(K.recent(job.keyId), String(id)).ltrim(K.recent(job.keyId), 0, RECENT_PER_KEY - 1);
    await multi.exec();
    return (await this.get(id))!;
  }

  async get(id: number): Promise<JobRecord | undefined> {
    return toRecord(await this.#redis.hgetall(K.job(id)));
  }

  async markRunning(id: number, worker: string, now = Date.now()): Promise<JobRecord | undefined> {
    const changed = (await this.#redis.eval(MARK_RUNNING, 0, id, worker, now)) as number;
    return changed === 1 ? this.get(id) : undefined;
  }

  async requeue(id: number): Promise<boolean> {
    return ((await this.#redis.eval(REQUEUE, 0, id, '0')) as number) === 1;
  }

  /** A running job goes back to the queue because its node is shutting down: the attempt is not counted. */
  async handBack(id: number): Promise<boolean> {
    return ((await this.#redis.eval(REQUEUE, 0, id, '1')) as number) === 1;
  }

  async finish(id: number, status: Exclude<JobStatus, 'queued' | 'running'>, result: { outputs?: JobOutput[]; error?: string; errorCode?: string } = {}, now = Date.now()): Promise<boolean> {
    const changed = (await this.#redis.eval(FINISH, 0, id, status, JSON.stringify(result.outputs ?? []), result.error ?? '', result.errorCode ?? '', now)) as number;
    return changed === 1;
  }

  async running(): Promise<JobRecord[]> {
    const ids = await this.#redis.smembers(K.running);
    return (await Promise.all(ids.map((id) => this.get(Number(id))))).filter((r): r is JobRecord => r !== undefined);
  }

  async counts(): Promise<{ queued: number; running: number }> {
    const [queued, running] = await Promise.all([this.#redis.zcard(K.queued), this.#redis.scard(K.running)]);
    return { queued, running };
  }

  async activeForKey(keyId: string): Promise<number> {
    return this.#redis.scard(K.active(keyId));
  }

  async recent(keyId: string | null, limit: number): Promise<JobRecord[]> {
    const count = Math.min(limit, RECENT_PER_KEY);
    let ids: number[];
    if (keyId !== null) ids = (await this.#redis.lrange(K.recent(keyId), 0, count - 1)).map(Number);
    else {
      const newest = Number((await this.#redis.get(K.seq)) ?? 0);
      ids = Array.from({ length: Math.min(count, newest) }, (_, i) => newest - i);
    }
    return (await Promise.all(ids.map((id) => this.get(id)))).filter((r): r is JobRecord => r !== undefined);
  }

  async queuePosition(id: number): Promise<number> {
    return this.#redis.zcount(K.queued, '-inf', `(${id}`);
  }

  async averageDurations(since: number): Promise<Record<string, { seconds: number; jobs: number }>> {
    // Older entries are only ever asked about within the hour: trim them as we go.
    await this.#redis.zremrangebyscore(K.durations, '-inf', `(${since - 3_600_000}`);
    const sums: Record<string, { ms: number; jobs: number }> = {};
    for (const member of await this.#redis.zrangebyscore(K.durations, since, '+inf')) {
      const [, task, ms] = member.split('|');
      sums[task] ??= { ms: 0, jobs: 0 };
      sums[task].ms += Number(ms);
      sums[task].jobs += 1;
    }
    return Object.fromEntries(Object.entries(sums).map(([task, s]) => [task, { seconds: Math.round(s.ms / s.jobs) / 1000, jobs: s.jobs }]));
  }

  async expiring(before: number): Promise<JobRecord[]> {
    const ids = await this.#redis.zrangebyscore(K.finished, '-inf', `(${before}`);
    return (await Promise.all(ids.map((id) => this.get(Number(id))))).filter((r): r is JobRecord => r !== undefined && !r.expired);
  }

  async markExpired(id: number): Promise<void> {
    await this.#redis.multi().hset(K.job(id), 'expired', '1').zrem(K.finished, String(id)).exec();
  }
}
