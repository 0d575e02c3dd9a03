import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JobRecord } from '../jobs/job-spec.js';

/**
 * Who may read an output file:
 * - 'unlisted' (default): whoever has its URL. Names carry 128 random bits, so a URL cannot be guessed from a
 *   job id; it is as private as the response or webhook that carried it.
 * - 'private': only a signed URL that has not expired, or a request with the owner's key (or the admin key).
 */
export type OutputAccess = 'unlisted' | 'private';

/** The random part of a job's output names, drawn once at submission. */
export const newOutputToken = (): string => randomBytes(16).toString('base64url');

/** The job id a token-bearing output name starts with ("12-<token>-0.png"), for the owner check. */
export function jobIdOfOutput(file: string): number | undefined {
  const match = /^(\d{1,15})-[\w-]{22}-\d+\.\w+$/.exec(file);
  return match ? Number(match[1]) : undefined;
}

export type LinkCheck = 'valid' | 'expired' | 'invalid' | 'unsigned';

/** A bucket's own presigned GET URL of an output, expiring after `seconds` (S3 storage with presigning on). */
export type OutputPresigner = (file: string, seconds: number) => Promise<string>;

/** Builds output URLs for responses and checks the signatures of those it signed. */
export class OutputLinks {
  readonly access: OutputAccess;
  readonly #key: Buffer;
  readonly #ttlSeconds: number;
  readonly #presign: OutputPresigner | undefined;

  /**
   * `secret`: the server's (shared across API nodes) secret; the signing key is derived from it.
   * `presign`: hand out the bucket's presigned URLs instead (clients then download from the bucket itself).
   */
  constructor(options: { access: OutputAccess; secret: string; ttlSeconds: number; presign?: OutputPresigner }) {
    this.access = options.access;
    this.#key = createHmac('sha256', options.secret).update('diffusekit output links v1').digest();
    this.#ttlSeconds = options.ttlSeconds;
    this.#presign = options.presign;
  }

  /** The URL a response carries for one output: the bucket's presigned URL when presigning, else `url()`. */
  async link(job: Pick<JobRecord, 'baseUrl'>, file: string): Promise<string> {
    return this.#presign ? this.#presign(file, this.#ttlSeconds) : this.url(job, file);
  }

  /** The URL of one output of `job`, signed to expire `ttlSeconds` from now in 'private' mode. */
  url(job: Pick<JobRecord, 'baseUrl'>, file: string, now = Date.now()): string {
    const plain = `${job.baseUrl}/generations/${file}`;
    if (this.access === 'unlisted') return plain;
    const expires = Math.floor(now / 1000) + this.#ttlSeconds;
    return `${plain}?expires=${expires}&signature=${this.#sign(file, expires)}`;
  }

  check(file: string, query: { expires?: unknown; signature?: unknown }, now = Date.now()): LinkCheck {
    if (query.expires === undefined && query.signature === undefined) return 'unsigned';
    const expires = Number(query.expires);
    if (!Number.isSafeInteger(expires) || typeof query.signature !== 'string') return 'invalid';
    const expected = Buffer.from(this.#sign(file, expires));
    const given = Buffer.from(query.signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return expires * 1000 < now ? 'expired' : 'valid';
  }

  #sign(file: string, expires: number): string {
    return createHmac('sha256', this.#key).update(`${file}\n${expires}`).digest('base64url');
  }
}
