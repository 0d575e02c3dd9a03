import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors.js';
import { InvalidArgumentError } from '../../errors.js';
import { quotaResetsAt, type CreateKeyOptions, type KeyRecord } from './key-store.js';
import type { Awaitable } from '../jobs/job-repository.js';
import { RateLimiter, type RateDecision } from './rate-limiter.js';
import { defined, integerIn, invalidParameter, isBoolean, isString } from '../../util/is.js';

/** Who is calling: a key holder, the admin, or anyone at all when the server runs with --no-auth. */
export type Principal = { kind: 'key'; record: KeyRecord } | { kind: 'admin' } | { kind: 'anonymous' };

/** Where a request may carry its key: `key` in the body (as the v6 API does) or `Authorization: Bearer`. */
export interface Credentials {
  bodyKey?: unknown;
  authorization?: string;
}

/** Where keys live: the SQLite KeyStore on one machine, RedisKeyStore across machines. */
export interface KeyDirectory {
  create(options: CreateKeyOptions): Awaitable<{ record: KeyRecord; key: string }>;
  list(): Awaitable<KeyRecord[]>;
  get(id: string): Awaitable<KeyRecord | undefined>;
  resolve(idOrName: string): Awaitable<KeyRecord | undefined>;
  revoke(idOrName: string): Awaitable<{ record: KeyRecord; alreadyRevoked: boolean }>;
  lookup(key: unknown): Awaitable<KeyRecord | undefined>;
  verify(key: unknown): Awaitable<KeyRecord | undefined>;
  addImages(keyId: string, images: number, at?: Date): Awaitable<void>;
  imagesThisMonth(keyId: string, at?: Date): Awaitable<number>;
}

/** Counts requests per key: in memory (RateLimiter) or in Redis, shared by API nodes. */
export interface RateCounter {
  take(id: string, ratePerSecond: number): Awaitable<RateDecision>;
}

export interface AuthenticatorOptions {
  keys: KeyDirectory;
  /** The admin key (the server reads $DIFFUSEKIT_ADMIN_KEY); without one, keys are managed by the CLI only. */
  adminKey?: string;
  /** --no-auth: every request is anonymous and unlimited. For local use. */
  noAuth: boolean;
  limiter?: RateCounter;
  /** The wall clock for quota months; tests inject their own. */
  now?: () => Date;
}

const MIN_ADMIN_KEY_LENGTH = 16;

/** The credentials of a Fastify request (or anything shaped like one). */
export function credentialsOf(request: { headers: { authorization?: string }; body?: unknown }): Credentials {
  const body = request.body;
  const bodyKey = body !== null && typeof body === 'object' ? (body as { key?: unknown }).key : undefined;
  return { bodyKey, authorization: request.headers.authorization };
}

// RFC 6750 asks a 401 to say which scheme the server wants.
const unauthorized = (message: string): ApiError => new ApiError(401, 'unauthorized', message, { 'WWW-Authenticate': 'Bearer' });

// Hashing first gives timingSafeEqual equal lengths, so neither the content nor the length of the admin key leaks.
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** The whole access policy: who may call, how often, and how many images a month. */
export class Authenticator {
  readonly #keys: KeyDirectory;
  readonly #adminDigest: Buffer | undefined;
  readonly #noAuth: boolean;
  readonly #limiter: RateCounter;
  readonly #now: () => Date;

  constructor(options: AuthenticatorOptions) {
    if (typeof options?.keys?.verify !== 'function') throw invalidParameter('keys', 'KeyStore or RedisKeyStore', options?.keys);
    if (!isBoolean(options.noAuth)) throw invalidParameter('noAuth', 'boolean', options.noAuth);
    if (defined(options.adminKey) && (!isString(options.adminKey) || options.adminKey.length < MIN_ADMIN_KEY_LENGTH)) {
      // Not invalidParameter: its message would quote the value, and this one is a secret.
      throw new InvalidArgumentError('adminKey', `Expected a string of at least ${MIN_ADMIN_KEY_LENGTH} characters for adminKey (DIFFUSEKIT_ADMIN_KEY)`);
    }
    this.#keys = options.keys;
    this.#adminDigest = isString(options.adminKey) ? digest(options.adminKey) : undefined;
    this.#noAuth = options.noAuth;
    this.#limiter = options.limiter ?? new RateLimiter();
    this.#now = options.now ?? (() => new Date());
  }

  /** Identifies the caller or throws 401. Messages say what is wrong, never repeat the key. */
  async authenticate(credentials: Credentials): Promise<Principal> {
    if (this.#noAuth) return { kind: 'anonymous' };
    const key = presentedKey(credentials);
    if (key === undefined) {
      throw unauthorized('An API key is required: send it as "key" in the JSON body or in an "Authorization: Bearer <key>" header');
    }
    if (this.#adminDigest && timingSafeEqual(digest(key), this.#adminDigest)) return { kind: 'admin' };
    const record = await this.#keys.verify(key);
    if (record) return { kind: 'key', record };
    throw unauthorized((await this.#keys.lookup(key)) ? 'The API key has been revoked' : 'The API key is not valid');
  }

  /** Throws 403 unless the caller may manage keys: the admin, or anyone under --no-auth. */
  requireAdmin(principal: Principal): void {
    if (principal.kind === 'admin' || principal.kind === 'anonymous') return;
    throw new ApiError(
      403,
      'forbidden',
      this.#adminDigest
        ? 'This route needs the admin key'
        : 'This route needs the admin key, and the server has none: set DIFFUSEKIT_ADMIN_KEY, or use `diffusekit keys`',
    );
  }

  /** Counts one request against the caller's rate limit; throws 429 with Retry-After when over it. */
  async checkRate(principal: Principal): Promise<void> {
    if (principal.kind !== 'key' || principal.record.rateLimit === null) return;
    const decision = await this.#limiter.take(principal.record.id, principal.record.rateLimit);
    if (decision.allowed) return;
    const seconds = decision.retryAfterSeconds;
    throw new ApiError(
      429,
      'rate_limited',
      `Rate limit of ${principal.record.rateLimit} requests per second exceeded; retry in ${seconds} s`,
      { 'Retry-After': String(seconds) },
    );
  }

  /** Throws 402 when `images` more would take the caller past its monthly quota. */
  async checkQuota(principal: Principal, images: number): Promise<void> {
    integerIn('images', images, 0, Number.MAX_SAFE_INTEGER);
    if (principal.kind !== 'key' || principal.record.monthlyQuota === null) return;
    const quota = principal.record.monthlyQuota;
    const now = this.#now();
    const used = await this.#keys.imagesThisMonth(principal.record.id, now);
    if (used + images <= quota) return;
    const resets = quotaResetsAt(now).toISOString().slice(0, 10);
    throw new ApiError(
      402,
      'quota_exceeded',
      `Monthly image quota exceeded: ${used} of ${quota} images used this month and this request needs ${images}; the quota resets on ${resets} (UTC)`,
    );
  }

  /** Counts images against the caller's month (keys only; the admin and anonymous callers are not metered). */
  async recordImages(principal: Principal, images: number): Promise<void> {
    if (principal.kind === 'key') await this.#keys.addImages(principal.record.id, images, this.#now());
  }
}

/** The key a request presents, from the body or a Bearer header; throws 401 on a malformed or conflicting one. */
function presentedKey({ bodyKey, authorization }: Credentials): string | undefined {
  if (defined(bodyKey) && !isString(bodyKey)) throw unauthorized('The "key" field must be a string');
  const fromBody = bodyKey === '' ? undefined : (bodyKey as string | undefined);
  let fromHeader: string | undefined;
  if (isString(authorization) && authorization.trim() !== '') {
    // The scheme name is case-insensitive (RFC 9110 section 11.1).
    const bearer = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization.trim());
    // Basic: A1111's --api-auth convention, the key as the password and any user name.
    const basic = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization.trim());
    const password = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
    if (!bearer && !password) throw unauthorized('The Authorization header must read "Bearer <key>" (or Basic with the key as the password)');
    fromHeader = bearer ? bearer[1] : password;
  }
  if (fromBody !== undefined && fromHeader !== undefined && fromBody !== fromHeader) {
    throw unauthorized('The "key" in the body and the Authorization header carry different keys; send one');
  }
  return fromHeader ?? fromBody;
}
