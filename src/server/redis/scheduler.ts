import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobProgress, JobRecord } from '../jobs/job-spec.js';
import { MAX_ATTEMPTS, type Scheduler, type WorkerView } from '../jobs/scheduler.js';
import type { JobPreview } from '../workers/protocol.js';
import { connectRedis } from './connection.js';
import { BULL_PREFIX, EVENTS_CHANNEL, NODE_STALE_MS, NODES_KEY, previewKey, progressKey, QUEUE_NAME, queueOf, TRAINING_QUEUE_NAME, type NodeEvent, type NodeStatus } from './events.js';

/** BullMQ refuses integer-like custom ids. */
const bullJobId = (id: number): string => `job-${id}`;

/**
 * The API side of a Redis deployment: queued jobs go to a BullMQ queue that worker nodes (this process in
 * role "all", or others) take from; ends and cancellations travel over Redis pub/sub; progress, previews
 * and worker lists are read from keys the worker nodes keep up to date.
 */
export class RedisScheduler implements Scheduler {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  /** Image (and video) jobs, and lora_train jobs, which only training nodes take. */
  readonly #queues: Map<string, Queue>;

  constructor(redis: Redis, url: string) {
    this.#redis = redis;
    this.#subscriber = connectRedis(url);
    this.#queues = new Map([QUEUE_NAME, TRAINING_QUEUE_NAME].map((name) => [name, new Queue(name, { connection: connectRedis(url), prefix: BULL_PREFIX })]));
  }

  async start(onFinished: (id: number) => void): Promise<{ requeued: number; failed: number }> {
    this.#subscriber.on('message', (_channel, message) => {
      const event = JSON.parse(message) as NodeEvent;
      if (event.type === 'finished') onFinished(event.id);
    });
    await this.#subscriber.subscribe(EVENTS_CHANNEL);
    // Jobs of a crashed node are not this node's to recover: BullMQ's stalled-job check hands them on.
    return { requeued: 0, failed: 0 };
  }

  async queued(job: JobRecord): Promise<void> {
    // jobId from our id: adding the same job twice is a no-op. Our record keeps the state; BullMQ only dispatches.
    await this.#queues.get(queueOf(job.task))!.add(job.task, { id: job.id }, { jobId: bullJobId(job.id), attempts: MAX_ATTEMPTS, removeOnComplete: true, removeOnFail: true });
  }

  async dropQueued(id: number): Promise<void> {
    // A job already taken by a worker cannot be removed; the worker then finds it cancelled and skips it.
    for (const queue of this.#queues.values()) await (await queue.getJob(bullJobId(id)))?.remove().catch(() => {});
    await this.#publish({ type: 'finished', id });
  }

  async cancelRunning(id: number): Promise<void> {
    await this.#publish({ type: 'cancel', id });
  }

  async progress(id: number): Promise<JobProgress | undefined> {
    const value = await this.#redis.get(progressKey(id));
    return value ? (JSON.parse(value) as JobProgress) : undefined;
  }

  async preview(id: number): Promise<JobPreview | undefined> {
    const fields = await this.#redis.hgetallBuffer(previewKey(id));
    if (!fields.data) return undefined;
    return { width: Number(fields.width), height: Number(fields.height), channels: Number(fields.channels), data: fields.data };
  }

  async workers(): Promise<WorkerView[]> {
    return (await this.#liveNodes()).flatMap((node) => node.workers.map((w) => ({ ...w, node: node.node })));
  }

  async canTrain(): Promise<boolean> {
    return (await this.#liveNodes()).some((node) => node.canTrain);
  }

  /** The worker nodes that reported within NODE_STALE_MS. */
  async #liveNodes(): Promise<NodeStatus[]> {
    const now = Date.now();
    return Object.values(await this.#redis.hgetall(NODES_KEY)).map((json) => JSON.parse(json) as NodeStatus).filter((node) => now - node.at < NODE_STALE_MS);
  }

  async stop(): Promise<void> {
    for (const queue of this.#queues.values()) await queue.close();
    this.#subscriber.disconnect();
  }

  async #publish(event: NodeEvent): Promise<void> {
    await this.#redis.publish(EVENTS_CHANNEL, JSON.stringify(event));
  }
}
