import { invalidParameter, isNumber } from '../../util/is.js';

/** The outcome of one request against its key's bucket. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiterOptions {
  /** Milliseconds on a monotonic clock; tests inject their own. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

// Refills computed from millisecond clocks land a hair under a whole token (0.1 * 3 * 10 = 2.9999999999999996).
const EPSILON = 1e-9;

/**
 * One in-memory token bucket per key: a key may burst up to max(1, ceil(rate)) requests, then gets `rate`
 * requests per second. In memory on purpose: limits are per server process and reset on restart, which is
 * what a per-second limit needs (a persisted bucket would cost a database write per request).
 */
export class RateLimiter {
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions = {}) {
    // performance.now() is monotonic: a wall clock set back would otherwise lock keys out.
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Takes one token from `id`'s bucket. A refused request takes nothing, so retrying after
   * `retryAfterSeconds` (whole seconds, at least 1, as the Retry-After header wants) succeeds.
   */
  take(id: string, ratePerSecond: number): RateDecision {
    if (!isNumber(ratePerSecond) || ratePerSecond <= 0) throw invalidParameter('ratePerSecond', 'positive number', ratePerSecond);
    const capacity = Math.max(1, Math.ceil(ratePerSecond));
    const now = this.#now();
    const bucket = this.#buckets.get(id) ?? { tokens: capacity, updatedAt: now };
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    // min() also clamps a bucket whose key's rate was lowered since it was filled.
    bucket.tokens = Math.min(capacity, bucket.tokens + elapsedSeconds * ratePerSecond);
    bucket.updatedAt = now;
    this.#buckets.set(id, bucket);
    if (bucket.tokens + EPSILON >= 1) {
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      return { allowed: true };
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond - EPSILON));
    return { allowed: false, retryAfterSeconds };
  }

  /** Forgets `id`'s bucket (a revoked key), so the map does not keep it forever. */
  forget(id: string): void {
    this.#buckets.delete(id);
  }
}
