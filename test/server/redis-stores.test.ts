import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/server/redis/connection.js';
import { RedisJobStore } from '../../src/server/redis/job-store.js';
import { RedisKeyStore } from '../../src/server/redis/key-store.js';
import { RedisRateLimiter } from '../../src/server/redis/rate-limiter.js';
import { SecretBox } from '../../src/server/security/secret-box.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { randomBytes } from 'node:crypto';
import { resolveServerConfig } from '../../src/server/config.js';
import type { JobSpec } from '../../src/server/jobs/job-spec.js';
import { startRedis, type RedisServer } from './redis-helpers.js';

const spec = (model: string): JobSpec => ({
  task: 'txt2img', model, prompt: 'p', negativePrompt: '', samples: 1, steps: 1, guidanceScale: 7, seed: 1, loras: [], outputFormat: 'png', nsfwPrompt: false,
});

describe('Redis stores', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = connectRedis(server.url);
  });
  beforeEach(async () => {
    await redis.flushall();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('RedisJobStore: the same transitions as the SQLite store', async () => {
    const store = new RedisJobStore(redis);
    const a = await store.insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x', keyId: 'key_1', trackId: 't', webhook: 'https://h.example/x' });
    const b = await store.insert({ spec: spec('b'), api: 'v6', baseUrl: 'http://x' });
    expect(a).toMatchObject({ id: 1, status: 'queued', attempts: 0, keyId: 'key_1', trackId: 't', webhook: 'https://h.example/x', spec: spec('a'), outputs: [], worker: null });
    expect(await store.counts()).toEqual({ queued: 2, running: 0 });
    expect(await store.queuePosition(b.id)).toBe(1);
    expect(await store.activeForKey('key_1')).toBe(1);
    const running = await store.markRunning(a.id, 'node-1/0', 1000);
    expect(running).toMatchObject({ status: 'running', attempts: 1, worker: 'node-1/0', startedAt: 1000 });
    expect(await store.markRunning(a.id, 'node-2/0')).toBeUndefined();
    expect((await store.running()).map((j) => j.id)).toEqual([a.id]);
    expect(await store.requeue(a.id)).toBe(true);
    expect(await store.get(a.id)).toMatchObject({ status: 'queued', attempts: 1, worker: null });
    await store.markRunning(a.id, 'node-2/0', 2000);
    const outputs = [{ file: '1-0.png', seed: 1, width: 8, height: 8, nsfw: false }];
    expect(await store.finish(a.id, 'success', { outputs }, 3500)).toBe(true);
    expect(await store.finish(a.id, 'error', { error: 'late' })).toBe(false);
    expect(await store.get(a.id)).toMatchObject({ status: 'success', attempts: 2, outputs, finishedAt: 3500, error: null });
    expect(await store.activeForKey('key_1')).toBe(0);
    expect(await store.averageDurations(0)).toEqual({ txt2img: { seconds: 1.5, jobs: 1 } });
    expect((await store.recent('key_1', 10)).map((j) => j.id)).toEqual([a.id]);
    expect((await store.recent(null, 10)).map((j) => j.id)).toEqual([b.id, a.id]);
    expect(await store.recent('key_2', 10)).toEqual([]);
    expect(await store.finish(b.id, 'cancelled', { error: 'Job cancelled', errorCode: 'cancelled' }, 4000)).toBe(true);
    expect((await store.expiring(5000)).map((j) => j.id)).toEqual([a.id, b.id]);
    await store.markExpired(a.id);
    expect((await store.expiring(5000)).map((j) => j.id)).toEqual([b.id]);
    expect((await store.get(a.id))!.expired).toBe(true);
  });

  it('RedisKeyStore: hashed keys, unique live names, revocation, monthly usage', async () => {
    const keys = new RedisKeyStore(redis, { now: () => new Date('2026-11-22T10:00:00Z') });
    const { record, key } = await keys.create({ name: 'app', rateLimit: 2, monthlyQuota: 10 });
    expect(await keys.verify(key)).toMatchObject({ id: record.id, name: 'app', rateLimit: 2, monthlyQuota: 10 });
    expect(JSON.stringify(await redis.keys('*'))).not.toContain(key);
    await expect(keys.create({ name: 'app' })).rejects.toThrow(/already exists/);
    await keys.addImages(record.id, 3);
    expect(await keys.imagesThisMonth(record.id)).toBe(3);
    expect(await keys.imagesThisMonth(record.id, new Date('2026-12-01T00:00:00Z'))).toBe(0);
    expect((await keys.revoke('app')).alreadyRevoked).toBe(false);
    expect(await keys.verify(key)).toBeUndefined();
    expect((await keys.lookup(key))!.revokedAt).not.toBeNull();
    expect((await keys.revoke(record.id)).alreadyRevoked).toBe(true);
    expect((await keys.create({ name: 'app' })).record.id).not.toBe(record.id);
    expect((await keys.list()).map((k) => k.name)).toEqual(['app', 'app']);
    expect(await keys.verify('dk_not-a-key')).toBeUndefined();
  });

  it('RedisKeyStore with a secret key: webhook secrets sealed in Redis, opened by nodes with the same key only', async () => {
    const secretKey = randomBytes(32);
    const keys = new RedisKeyStore(redis, { secrets: new SecretBox(secretKey) });
    const { record } = await keys.create({ name: 'hooks' });
    expect(record.webhookSecret).toMatch(/^whsec_/);
    const stored = await redis.hget(`dk:key:${record.id}`, 'webhookSecret');
    expect(stored).toMatch(/^enc:v1:/);
    expect(JSON.stringify(await redis.hgetall(`dk:key:${record.id}`))).not.toContain(record.webhookSecret);
    // Another node with the same key reads it; one without a key gets a typed error, not the sealed text.
    expect((await new RedisKeyStore(redis, { secrets: new SecretBox(Buffer.from(secretKey)) }).get(record.id))?.webhookSecret).toBe(record.webhookSecret);
    await expect(new RedisKeyStore(redis).get(record.id)).rejects.toThrow(InvalidArgumentError);
    // Without a key (the default) the secret is kept as it is.
    const plain = new RedisKeyStore(redis);
    const other = await plain.create({ name: 'plain' });
    expect(await redis.hget(`dk:key:${other.record.id}`, 'webhookSecret')).toBe(other.record.webhookSecret);
  });

  it('the secret key: from the options or $DIFFUSEKIT_SECRET_KEY, 32 bytes as base64url, else a typed error', () => {
    const key = randomBytes(32);
    expect(resolveServerConfig({ secretKey: key.toString('base64url') }, {}).secretKey).toEqual(key);
    expect(resolveServerConfig({}, { DIFFUSEKIT_SECRET_KEY: key.toString('base64url') }).secretKey).toEqual(key);
    expect(resolveServerConfig({}, {}).secretKey).toBeUndefined();
    for (const bad of ['short', randomBytes(16).toString('base64url'), `${key.toString('base64url')}!`, 42]) {
      expect(() => resolveServerConfig({ secretKey: bad as string }, {})).toThrow(InvalidArgumentError);
    }
  });

  it('RedisRateLimiter: a shared bucket of max(1, ceil(rate)) requests', async () => {
    const a = new RedisRateLimiter(redis);
    const otherNode = connectRedis(server.url);
    const b = new RedisRateLimiter(otherNode);
    expect(await a.take('k', 2)).toEqual({ allowed: true });
    expect(await b.take('k', 2)).toEqual({ allowed: true });
    const refused = await a.take('k', 2);
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(await b.take('other', 0.1)).toEqual({ allowed: true });
    expect(await b.take('other', 0.1)).toMatchObject({ allowed: false, retryAfterSeconds: 10 });
    otherNode.disconnect();
  });
});
