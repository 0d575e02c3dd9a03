import { Redis, type RedisOptions } from 'ioredis';

/** Every key diffusekit writes starts with this, so one Redis can hold other data too. */
export const KEY_PREFIX = 'dk:';

/**
 * A Redis connection for diffusekit. BullMQ needs `maxRetriesPerRequest: null` on the connections its
 * workers block on; the same settings suit our own commands (they wait out a Redis restart).
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...options });
  // ioredis reconnects by itself; one line per outage instead of a stack trace per retry.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) process.stderr.write(`diffusekit: Redis at ${url.replace(/\/\/[^@]*@/, '//')}: ${err.message} (retrying)\n`);
    down = true;
  });
  redis.on('ready', () => (down = false));
  return redis;
}
