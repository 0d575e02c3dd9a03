import { credentialsOf, type Authenticator, type KeyDirectory, type Principal } from '../auth/authenticate.js';
import { ApiError } from '../errors.js';
import type { JobRecord } from '../jobs/job-spec.js';
import type { JobService } from '../jobs/job-service.js';

export interface AccessOptions {
  authenticator: Authenticator;
  keys: KeyDirectory;
  jobs: Pick<JobService, 'activeForKey'>;
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
  async identify(request: RequestLike): Promise<Principal> {
    const principal = await this.#options.authenticator.authenticate(credentialsOf(request));
    await this.#options.authenticator.checkRate(principal);
    return principal;
  }

  /** Admits a job of `images` images: quota and concurrency. */
  async admitJob(principal: Principal, images: number): Promise<void> {
    await this.#options.authenticator.checkQuota(principal, images);
    if (principal.kind !== 'key') return;
    const cap = principal.record.maxConcurrent ?? this.#options.defaultMaxConcurrent;
    const active = await this.#options.jobs.activeForKey(principal.record.id);
    if (active >= cap) {
      throw new ApiError(429, 'too_many_jobs', `This key already has ${active} jobs queued or running (at most ${cap}); wait for one to finish`, { 'Retry-After': '5' });
    }
  }

  async recordImages(principal: Principal, images: number): Promise<void> {
    await this.#options.authenticator.recordImages(principal, images);
  }

  keyId(principal: Principal): string | null {
    return principal.kind === 'key' ? principal.record.id : null;
  }

  /** A key sees its own jobs; the admin and --no-auth callers see all. */
  canSee(principal: Principal, job: JobRecord): boolean {
    return principal.kind !== 'key' || job.keyId === principal.record.id;
  }

  async webhookSecret(keyId: string | null): Promise<string> {
    return (keyId && (await this.#options.keys.get(keyId))?.webhookSecret) || this.#options.serverWebhookSecret;
  }
}
