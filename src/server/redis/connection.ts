import { Redis, type RedisOptions } from 'ioredis';

/** Every key diffusekit writes starts with this, so one Redis can hold other data too. */
export const KEY_PREFIX = 'dk:';

/**
 * A Redis connection for diffusekit. BullMQ needs `maxRetriesPerRequest: null` on the connections its
 * workers block on; the same settings suit our own commands (they wait out a Redis restart).
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...options });
}
