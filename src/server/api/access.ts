import { credentialsOf, type Authenticator, type Principal } from '../auth/authenticate.js';
import type { KeyStore } from '../auth/key-store.js';
import { ApiError } from '../errors.js';
import type { JobRecord } from '../jobs/job-spec.js';
import type { JobStore } from '../jobs/job-store.js';

export interface AccessOptions {
  authenticator: Authenticator;
  keys: KeyStore;
  jobs: JobStore;
  /** Jobs one key may have queued or running when its record sets no max_concurrent. */
  defaultMaxConcurrent: number;
  /** Signs webhooks of requests without a key (--no-auth, admin). */
  serverWebhookSecret: string;
}

type RequestLike = Parameters<typeof credentialsOf>[0];

/**
 * Admission of API requests, shared by every dialect: who calls (401), how often (429), how many images
 * this month (402), how many jobs at once (429), and whose jobs a caller may see.
 */
export class AccessControl {
  readonly #options: AccessOptions;

  constructor(options: AccessOptions) {
    this.#options = options;
  }

  /** Identifies the caller and counts the request against its rate limit. */
  identify(request: RequestLike): Principal {
    const principal = this.#options.authenticator.authenticate(credentialsOf(request));
    this.#options.authenticator.checkRate(principal);
    return principal;
  }

  /** Admits a job of `images` images: quota and concurrency. */
  admitJob(principal: Principal, images: number): void {
    this.#options.authenticator.checkQuota(principal, images);
    if (principal.kind !== 'key') return;
    const cap = principal.record.maxConcurrent ?? this.#options.defaultMaxConcurrent;
    const active = this.#options.jobs.activeForKey(principal.record.id);
    if (active >= cap) {
      throw new ApiError(429, 'too_many_jobs', `This key already has ${active} jobs queued or running (at most ${cap}); wait for one to finish`, { 'Retry-After': '5' });
    }
  }

  recordImages(principal: Principal, images: number): void {
    this.#options.authenticator.recordImages(principal, images);
  }

  keyId(principal: Principal): string | null {
    return principal.kind === 'key' ? principal.record.id : null;
  }

  /** A key sees its own jobs; the admin and --no-auth callers see all. */
  canSee(principal: Principal, job: JobRecord): boolean {
    return principal.kind !== 'key' || job.keyId === principal.record.id;
  }

  webhookSecret(keyId: string | null): string {
    return (keyId && this.#options.keys.get(keyId)?.webhookSecret) || this.#options.serverWebhookSecret;
  }
}
