import type { Redis } from 'ioredis';
import { invalidParameter, isNumber } from '../../util/is.js';
import type { RateDecision } from '../auth/rate-limiter.js';
import { KEY_PREFIX } from './connection.js';

// The token bucket of auth/rate-limiter.ts, kept in Redis so every API node counts against the same bucket.
// The clock is Redis's own TIME: nodes whose clocks disagree still agree on the bucket.
const TAKE = `
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens + 1e-9 >= 1 then
  tokens = math.max(0, tokens - 1)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
`;

/** Per-key request rates counted in Redis, shared by every API node. */
export class RedisRateLimiter {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async take(id: string, ratePerSecond: number): Promise<RateDecision> {
    if (!isNumber(ratePerSecond) || ratePerSecond <= 0) throw invalidParameter('ratePerSecond', 'positive number', ratePerSecond);
    const capacity = Math.max(1, Math.ceil(ratePerSecond));
    const [allowed, tokens] = (await this.#redis.eval(TAKE, 1, `${KEY_PREFIX}rate:${id}`, ratePerSecond, capacity)) as [number, string];
    if (allowed === 1) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - Number(tokens)) / ratePerSecond - 1e-9)) };
  }
}
