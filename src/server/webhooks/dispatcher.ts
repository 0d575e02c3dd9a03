import type { AllowList } from '../net/address-policy.js';
import { postWebhook, type SendOutcome } from './post-webhook.js';
import type { Db } from '../store/database.js';
import { WebhookDeliveryStore, type AttemptRecord, type WebhookDeliveryStatus } from './delivery-store.js';
import { signWebhookBody } from './signature.js';

export type { WebhookDeliveryStatus } from './delivery-store.js';

export interface WebhookRetryPolicy {
  /** Tries in total, the first included. */
  attempts: number;
  /** The wait after the first failed try; each later wait is `factor` times the one before, up to maxDelayMs. */
  baseDelayMs: number;
  factor: number;
  maxDelayMs: number;
}

export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = { attempts: 5, baseDelayMs: 2000, factor: 2, maxDelayMs: 60_000 };

export interface WebhookDispatcherOptions {
  db: Db;
  fetchOptions?: {
    /** Hosts exempt from the block on non-public addresses (a receiver on localhost needs one). */
    allow?: AllowList | readonly string[];
    /** The limit on one try, connection to last byte (default 10 s). */
    timeoutMs?: number;
  };
  retry?: Partial<WebhookRetryPolicy>;
  /** Called when a job's delivery becomes pending (enqueue), delivered or failed. Must not throw. */
  onChange?: (jobId: string, status: WebhookDeliveryStatus) => void;
  /** Called with errors that are not the receiver's doing (the database failing); default: a process warning. */
  onError?: (error: unknown) => void;
  /** The clock, in epoch milliseconds. */
  now?: () => number;
}

export interface WebhookDeliveryState {
  status: WebhookDeliveryStatus;
  attempts: number;
  /** The receiver's HTTP status on the last try, when it answered. */
  lastStatus?: number;
  lastError?: string;
  /** When the next try is due (epoch ms), while pending. */
  nextAttemptAt?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The wait after `failedAttempts` failed tries (1 for the first): exponential, capped. */
export function retryDelayMs(failedAttempts: number, policy: WebhookRetryPolicy): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** Math.max(0, failedAttempts - 1));
}

/**
 * Delivers job webhooks: a signed JSON POST per job, persisted first so that a restart resumes it, retried with
 * exponential backoff on anything but a 2xx answer, and given up after `retry.attempts` tries. A URL the SSRF
 * guard refuses fails at once. Redirects are not followed: a receiver should be addressed directly, and
 * re-sending a signed POST to wherever a redirect points is not something the job's owner asked for.
 *
 * Deliveries enqueued after construction are sent whether or not start() was called; start() picks up those a
 * previous process left pending.
 */
export class WebhookDispatcher {
  private readonly store: WebhookDeliveryStore;
  private readonly retry: WebhookRetryPolicy;
  private readonly allow: AllowList | readonly string[];
  private readonly timeoutMs: number;
  private readonly onChange: (jobId: string, status: WebhookDeliveryStatus) => void;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private started = false;
  private closed = false;

  constructor(options: WebhookDispatcherOptions) {
    this.store = new WebhookDeliveryStore(options.db);
    this.retry = { ...DEFAULT_WEBHOOK_RETRY, ...options.retry };
    this.allow = options.fetchOptions?.allow ?? [];
    this.timeoutMs = options.fetchOptions?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onChange = options.onChange ?? (() => {});
    this.onError = options.onError ?? ((error) => process.emitWarning(`Webhook delivery: ${String(error)}`));
    this.now = options.now ?? Date.now;
  }

  /** Persists a webhook for `jobId` (replacing any earlier one, delivered or not) and sends it soon. */
  enqueue(jobId: string, url: string, body: string, secret: string): void {
    this.assertOpen();
    this.store.replace(jobId, url, body, signWebhookBody(body, secret), this.now());
    this.notify(jobId, 'pending');
    this.schedule(jobId, 0);
  }

  status(jobId: string): WebhookDeliveryState | undefined {
    const delivery = this.store.get(jobId);
    if (delivery === undefined) return undefined;
    const { status, attempts, lastStatus, lastError, nextAttemptAt } = delivery;
    return {
      status,
      attempts,
      ...(lastStatus !== undefined && { lastStatus }),
      ...(lastError !== undefined && { lastError }),
      ...(status === 'pending' && { nextAttemptAt }),
    };
  }

  /** Schedules the deliveries left pending in the database, each at its due time. Idempotent. */
  start(): void {
    this.assertOpen();
    if (this.started) return;
    this.started = true;
    for (const delivery of this.store.pending()) this.schedule(delivery.jobId, delivery.nextAttemptAt - this.now());
  }

  /**
   * Stops scheduling and waits for the tries in flight to finish and be recorded. Pending deliveries stay in the
   * database for the next start().
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.inFlight.values());
  }

  private schedule(jobId: string, delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(jobId));
    const timer = setTimeout(() => {
      this.timers.delete(jobId);
      this.attempt(jobId);
    }, Math.max(0, delayMs));
    // Pending deliveries are durable: they need not keep a process alive that has nothing else to do.
    timer.unref();
    this.timers.set(jobId, timer);
  }

  private attempt(jobId: string): void {
    // A try already under way reschedules when it ends, which picks up a replacement enqueued meanwhile.
    if (this.closed || this.inFlight.has(jobId)) return;
    const run = this.deliver(jobId).then(
      () => {
        this.inFlight.delete(jobId);
        this.scheduleNext(jobId);
      },
      (error: unknown) => {
        // Not rescheduled: a failing database would otherwise be retried in a tight loop. start() resumes it.
        this.inFlight.delete(jobId);
        this.onError(error);
      },
    );
    this.inFlight.set(jobId, run);
  }

  private scheduleNext(jobId: string): void {
    if (this.closed) return;
    try {
      const delivery = this.store.get(jobId);
      if (delivery?.status === 'pending') this.schedule(jobId, delivery.nextAttemptAt - this.now());
    } catch (error) {
      this.onError(error);
    }
  }

  private async deliver(jobId: string): Promise<void> {
    const delivery = this.store.get(jobId);
    if (delivery === undefined || delivery.status !== 'pending') return;
    const outcome = await this.send(delivery.url, delivery.body, delivery.signature, jobId);
    const attempts = delivery.attempts + 1;
    const record: AttemptRecord = outcome.delivered
      ? { status: 'delivered', attempts, nextAttemptAt: this.now(), ...(outcome.lastStatus !== undefined && { lastStatus: outcome.lastStatus }) }
      : {
          status: outcome.permanent || attempts >= this.retry.attempts ? 'failed' : 'pending',
          attempts,
          nextAttemptAt: this.now() + retryDelayMs(attempts, this.retry),
          ...(outcome.lastStatus !== undefined && { lastStatus: outcome.lastStatus }),
          lastError: outcome.error,
        };
    const recorded = this.store.recordAttempt(jobId, delivery.generation, record, this.now());
    if (recorded && record.status !== 'pending') this.notify(jobId, record.status);
  }

  private send(url: string, body: string, signature: string, jobId: string): Promise<SendOutcome> {
    return postWebhook(url, body, signature, jobId, { allow: this.allow, timeoutMs: this.timeoutMs });
  }

  private notify(jobId: string, status: WebhookDeliveryStatus): void {
    try {
      this.onChange(jobId, status);
    } catch (error) {
      // The delivery is recorded either way; a failing listener must not undo or repeat it.
      this.onError(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('WebhookDispatcher is closed');
  }
}
