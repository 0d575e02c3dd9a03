import type { Redis } from 'ioredis';
import type { OptionsStore } from '../api/a1111/settings.js';
import { KEY_PREFIX } from './connection.js';

/** A1111 options in Redis, one hash per owner, shared by every API node of the queue. */
export class RedisOptionsStore implements OptionsStore {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  #key(owner: string): string {
    return `${KEY_PREFIX}a1111:options:${owner || 'server'}`;
  }

  async read(owner: string): Promise<Record<string, unknown>> {
    const fields = await this.#redis.hgetall(this.#key(owner));
    return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, JSON.parse(value) as unknown]));
  }

  async write(owner: string, values: Record<string, unknown>): Promise<void> {
    const entries = Object.entries(values);
    if (entries.length > 0) await this.#redis.hset(this.#key(owner), Object.fromEntries(entries.map(([name, value]) => [name, JSON.stringify(value)])));
  }
}
