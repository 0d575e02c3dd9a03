import type { WorkerStatus } from '../workers/worker-pool.js';
import { KEY_PREFIX } from './connection.js';

/** The pub/sub channel nodes use to tell each other that a job ended or should stop. */
export const EVENTS_CHANNEL = `${KEY_PREFIX}events`;

export type NodeEvent = { type: 'finished'; id: number } | { type: 'cancel'; id: number };

export const QUEUE_NAME = 'diffusekit-jobs';
/** lora_train jobs have a queue of their own: only worker nodes started with canTrain (--train) take from it. */
export const TRAINING_QUEUE_NAME = 'diffusekit-trainings';
export const queueOf = (task: string): string => (task === 'lora_train' ? TRAINING_QUEUE_NAME : QUEUE_NAME);
export const WEBHOOK_QUEUE_NAME = 'diffusekit-webhooks';
/** BullMQ keys live under this prefix too, beside ours. */
export const BULL_PREFIX = `${KEY_PREFIX}bull`;

export const progressKey = (id: number) => `${KEY_PREFIX}progress:${id}`;
export const previewKey = (id: number) => `${KEY_PREFIX}preview:${id}`;
/** Worker nodes report their engine workers here (hash: node id -> NodeStatus JSON), refreshed every few seconds. */
export const NODES_KEY = `${KEY_PREFIX}nodes`;

export interface NodeStatus {
  node: string;
  at: number;
  /** Whether the node takes lora_train jobs (canTrain). */
  canTrain?: boolean;
  workers: WorkerStatus[];
}
export const NODE_STALE_MS = 15_000;
