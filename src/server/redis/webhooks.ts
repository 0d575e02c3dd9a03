import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AllowList } from '../net/address-policy.js';
import { postWebhook } from '../webhooks/post-webhook.js';
import { signWebhookBody } from '../webhooks/signature.js';
import type { WebhookDeliveryState, WebhookDeliveryStatus } from '../webhooks/dispatcher.js';
import { connectRedis, KEY_PREFIX } from './connection.js';
import { BULL_PREFIX, WEBHOOK_QUEUE_NAME } from './events.js';

interface Delivery {
  jobId: string;
  url: string;
  body: string;
  signature: string;
}

const stateKey = (jobId: string) => `${KEY_PREFIX}webhook:${jobId}`;
const STATE_TTL_S = 7 * 86400;

/**
 * Webhook delivery across nodes: each delivery is a BullMQ job (retried with exponential back-off,
 * durable in Redis), deduplicated by the job id, so several API nodes hearing that a job ended send its
 * webhook once. Any API node delivers; the state is in Redis for fetch's webhook_status.
 */
export class RedisWebhookDispatcher {
  readonly #redis: Redis;
  readonly #url: string;
  readonly #queue: Queue<Delivery>;
  readonly #options: { allow: AllowList | readonly string[]; timeoutMs: number; attempts: number; baseDelayMs: number; onFailed?: (jobId: string, reason: string) => void };
  #worker: Worker<Delivery> | undefined;

  /** `onFailed` hears of each delivery that gave up, with the last try's reason (for the log). */
  constructor(redis: Redis, url: string, options: { allow: readonly string[]; timeoutMs: number; attempts: number; baseDelayMs: number; onFailed?: (jobId: string, reason: string) => void }) {
    this.#redis = redis;
    this.#url = url;
    this.#options = options;
    this.#queue = new Queue<Delivery>(WEBHOOK_QUEUE_NAME, { connection: connectRedis(url), prefix: BULL_PREFIX });
  }

  async enqueue(jobId: string, url: string, body: string, secret: string): Promise<void> {
    // NX: the first node to hear of the end owns the delivery; the others' adds are no-ops below too.
    await this.#redis.multi().hsetnx(stateKey(jobId), 'status', 'pending').hsetnx(stateKey(jobId), 'attempts', '0').expire(stateKey(jobId), STATE_TTL_S).exec();
    await this.#queue.add(
      'deliver',
      { jobId, url, body, signature: signWebhookBody(body, secret) },
      {
        jobId: `webhook-${jobId}`,
        attempts: this.#options.attempts,
        backoff: { type: 'exponential', delay: this.#options.baseDelayMs },
        removeOnComplete: { age: STATE_TTL_S },
        removeOnFail: { age: STATE_TTL_S },
      },
    );
  }

  async status(jobId: string): Promise<WebhookDeliveryState | undefined> {
    const state = await this.#redis.hgetall(stateKey(jobId));
    if (!state.status) return undefined;
    return {
      status: state.status as WebhookDeliveryStatus,
      attempts: Number(state.attempts ?? 0),
      ...(state.lastStatus ? { lastStatus: Number(state.lastStatus) } : {}),
      ...(state.lastError ? { lastError: state.lastError } : {}),
    };
  }

  start(): void {
    this.#worker = new Worker<Delivery>(WEBHOOK_QUEUE_NAME, (job) => this.#deliver(job), { connection: connectRedis(this.#url), prefix: BULL_PREFIX, concurrency: 4 });
    this.#worker.on('error', () => {});
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.#queue.close();
  }

  async #deliver(job: Job<Delivery>): Promise<void> {
    const { jobId, url, body, signature } = job.data;
    const outcome = await postWebhook(url, body, signature, jobId, this.#options);
    const key = stateKey(jobId);
    const attempts = job.attemptsMade + 1;
    const last = { attempts: String(attempts), ...(outcome.lastStatus !== undefined ? { lastStatus: String(outcome.lastStatus) } : {}) };
    if (outcome.delivered) {
      await this.#redis.hset(key, { status: 'delivered', ...last });
      return;
    }
    const final = outcome.permanent || attempts >= this.#options.attempts;
    await this.#redis.hset(key, { status: final ? 'failed' : 'pending', lastError: outcome.error, ...last });
    if (final) this.#options.onFailed?.(jobId, outcome.error);
    // UnrecoverableError: BullMQ stops retrying (a refused URL will not become acceptable).
    throw outcome.permanent ? new UnrecoverableError(outcome.error) : new Error(outcome.error);
  }
}
