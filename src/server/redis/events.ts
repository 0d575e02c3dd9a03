import { KEY_PREFIX } from './connection.js';

/** The pub/sub channel nodes use to tell each other that a job ended or should stop. */
export const EVENTS_CHANNEL = `${KEY_PREFIX}events`;

export type NodeEvent = { type: 'finished'; id: number } | { type: 'cancel'; id: number };

export const QUEUE_NAME = 'diffusekit-jobs';
export const WEBHOOK_QUEUE_NAME = 'diffusekit-webhooks';
/** BullMQ keys live under this prefix too, beside ours. */
export const BULL_PREFIX = `${KEY_PREFIX}bull`;

export const progressKey = (id: number) => `${KEY_PREFIX}progress:${id}`;
export const previewKey = (id: number) => `${KEY_PREFIX}preview:${id}`;
/** Worker nodes report their engine workers here (hash: node id -> JSON), refreshed every few seconds. */
export const NODES_KEY = `${KEY_PREFIX}nodes`;
export const NODE_STALE_MS = 15_000;
