// The Redis queue's classes in one module, so that the backend imports them (and bullmq, ioredis) only in
// Redis mode: the SQLite server runs without either installed.
export { connectRedis, KEY_PREFIX } from './connection.js';
export { RedisJobStore } from './job-store.js';
export { RedisKeyStore } from './key-store.js';
export { RedisOptionsStore } from './options-store.js';
export { RedisRateLimiter } from './rate-limiter.js';
export { RedisScheduler } from './scheduler.js';
export { RedisTrainingStore } from './training-store.js';
export { RedisWebhookDispatcher } from './webhooks.js';
export { RedisWorkerNode } from './worker-node.js';
