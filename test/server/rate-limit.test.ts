import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/auth/rate-limiter.js';

function limiterWithClock() {
  let now = 1_000;
  const limiter = new RateLimiter({ now: () => now });
  return { limiter, advance: (ms: number) => void (now += ms) };
}

describe('RateLimiter', () => {
  it('lets a key burst up to ceil(rate), then refills at rate per second', () => {
    const { limiter, advance } = limiterWithClock();
    for (let i = 0; i < 3; i++) expect(limiter.take('a', 3)).toEqual({ allowed: true });
    expect(limiter.take('a', 3)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(333);
    expect(limiter.take('a', 3).allowed).toBe(false);
    advance(1); // 334 ms at 3/s: one whole token
    expect(limiter.take('a', 3)).toEqual({ allowed: true });
    expect(limiter.take('a', 3).allowed).toBe(false);
  });

  it('never refills past the burst capacity', () => {
    const { limiter, advance } = limiterWithClock();
    limiter.take('a', 2);
    advance(60_000);
    expect(limiter.take('a', 2).allowed).toBe(true);
    expect(limiter.take('a', 2).allowed).toBe(true);
    expect(limiter.take('a', 2).allowed).toBe(false);
  });

  it('keeps one bucket per key', () => {
    const { limiter } = limiterWithClock();
    expect(limiter.take('a', 1).allowed).toBe(true);
    expect(limiter.take('a', 1).allowed).toBe(false);
    expect(limiter.take('b', 1).allowed).toBe(true);
  });

  it('gives slow rates a burst of one and a Retry-After in whole seconds', () => {
    const { limiter, advance } = limiterWithClock();
    expect(limiter.take('a', 0.1)).toEqual({ allowed: true });
    expect(limiter.take('a', 0.1)).toEqual({ allowed: false, retryAfterSeconds: 10 });
    advance(2_500);
    expect(limiter.take('a', 0.1)).toEqual({ allowed: false, retryAfterSeconds: 8 }); // 7.5 s, rounded up
    advance(7_500);
    expect(limiter.take('a', 0.1)).toEqual({ allowed: true });
  });

  it('rounds fractional rates up for the burst and never advises less than 1 s', () => {
    const { limiter, advance } = limiterWithClock();
    for (let i = 0; i < 3; i++) expect(limiter.take('a', 2.5).allowed).toBe(true);
    expect(limiter.take('a', 2.5)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(399);
    expect(limiter.take('a', 2.5)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1);
    expect(limiter.take('a', 2.5).allowed).toBe(true);
  });

  it('refused requests take no token, so waiting Retry-After is enough', () => {
    const { limiter, advance } = limiterWithClock();
    limiter.take('a', 1);
    for (let i = 0; i < 5; i++) expect(limiter.take('a', 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1_000);
    expect(limiter.take('a', 1).allowed).toBe(true);
  });

  it('clamps a bucket to the burst of a lowered rate at once', () => {
    const { limiter } = limiterWithClock();
    limiter.take('a', 10); // 9 tokens left
    expect(limiter.take('a', 1).allowed).toBe(true); // clamped to 1, taken
    expect(limiter.take('a', 1).allowed).toBe(false);
  });

  it('forget() starts a key afresh', () => {
    const { limiter } = limiterWithClock();
    limiter.take('a', 1);
    limiter.forget('a');
    expect(limiter.take('a', 1).allowed).toBe(true);
  });

  it('rejects a rate that is not a positive number', () => {
    const { limiter } = limiterWithClock();
    expect(() => limiter.take('a', 0)).toThrow('Expected positive number for ratePerSecond but received 0 of type number');
    expect(() => limiter.take('a', Number.NaN)).toThrow(/ratePerSecond/);
  });
});
