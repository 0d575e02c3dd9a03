import { timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InvalidArgumentError } from '../../errors.js';
import { integerIn, invalidParameter, isString } from '../../util/is.js';
import { hashKey, ID_PREFIX, LAST_USED_RESOLUTION_MS, looksLikeKey, nameTaken, newKey, usageMonth, type CreateKeyOptions, type KeyRecord } from '../auth/key-store.js';
import { SecretBox } from '../security/secret-box.js';
import { KEY_PREFIX } from './connection.js';

const K = {
  record: (id: string) => `${KEY_PREFIX}key:${id}`,
  byHash: (hash: string) => `${KEY_PREFIX}key-hash:${hash}`,
  liveName: (name: string) => `${KEY_PREFIX}key-name:${name}`,
  ids: `${KEY_PREFIX}keys`,
  usage: (id: string, month: string) => `${KEY_PREFIX}usage:${id}:${month}`,
};

// A record is a hash of the KeyRecord's fields; '' stands for null (Redis hashes have no null).
// The webhook secret is sealed when the deployment has a secret key (ServerOptions.secretKey).
function toHash(record: KeyRecord, hash: string, secrets: SecretBox | undefined): Record<string, string> {
  return {
    id: record.id,
    name: record.name,
    hash,
    prefix: record.prefix,
    webhookSecret: secrets ? secrets.seal(record.webhookSecret) : record.webhookSecret,
    rateLimit: record.rateLimit === null ? '' : String(record.rateLimit),
    monthlyQuota: record.monthlyQuota === null ? '' : String(record.monthlyQuota),
    maxConcurrent: record.maxConcurrent === null ? '' : String(record.maxConcurrent),
    createdAt: record.createdAt,
    revokedAt: record.revokedAt ?? '',
    lastUsedAt: record.lastUsedAt ?? '',
  };
}

const orNull = (v: string | undefined) => (v ? v : null);
const numberOrNull = (v: string | undefined) => (v ? Number(v) : null);

function fromHash(h: Record<string, string>, secrets: SecretBox | undefined): KeyRecord | undefined {
  if (!h.id) return undefined;
  return {
    id: h.id,
    name: h.name,
    prefix: h.prefix,
    webhookSecret: openSecret(h.webhookSecret, secrets),
    rateLimit: numberOrNull(h.rateLimit),
    monthlyQuota: numberOrNull(h.monthlyQuota),
    maxConcurrent: numberOrNull(h.maxConcurrent),
    createdAt: h.createdAt,
    revokedAt: orNull(h.revokedAt),
    lastUsedAt: orNull(h.lastUsedAt),
  };
}

function openSecret(stored: string, secrets: SecretBox | undefined): string {
  if (secrets) return secrets.open(stored);
  if (SecretBox.isSealed(stored)) throw new InvalidArgumentError('secretKey', 'The webhook secrets in Redis are encrypted: give every node the same secretKey ($DIFFUSEKIT_SECRET_KEY)');
  return stored;
}

/**
 * The API keys of a Redis deployment, shared by every API node: the same records and rules as the SQLite
 * KeyStore (hashed keys, one live key per name, monthly usage per UTC month), with async methods.
 */
export class RedisKeyStore {
  readonly #redis: Redis;
  readonly #now: () => Date;
  readonly #secrets: SecretBox | undefined;

  /** `secrets`: seals the webhook secrets at rest (every node must have the same key); without it they are kept in clear. */
  constructor(redis: Redis, options: { now?: () => Date; secrets?: SecretBox } = {}) {
    this.#redis = redis;
    this.#now = options.now ?? (() => new Date());
    this.#secrets = options.secrets;
  }

  async create(options: CreateKeyOptions): Promise<{ record: KeyRecord; key: string }> {
    const { record, key } = newKey(options, this.#now());
    // SET NX claims the name atomically across nodes.
    if ((await this.#redis.set(K.liveName(record.name), record.id, 'NX')) !== 'OK') throw nameTaken(record.name);
    const hash = hashKey(key);
    await this.#redis
      .multi()
      .hset(K.record(record.id), toHash(record, hash, this.#secrets))
      .set(K.byHash(hash), record.id)
      .zadd(K.ids, Date.parse(record.createdAt), record.id)
      .exec();
    return { record, key };
  }

  async list(): Promise<KeyRecord[]> {
    const ids = await this.#redis.zrange(K.ids, 0, -1);
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is KeyRecord => r !== undefined);
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    return fromHash(await this.#redis.hgetall(K.record(id)), this.#secrets);
  }

  async resolve(idOrName: string): Promise<KeyRecord | undefined> {
    if (idOrName.startsWith(ID_PREFIX)) return this.get(idOrName);
    const live = await this.#redis.get(K.liveName(idOrName));
    if (live) return this.get(live);
    const revoked = (await this.list()).filter((r) => r.name === idOrName && r.revokedAt !== null);
    return revoked.sort((a, b) => (b.revokedAt ?? '').localeCompare(a.revokedAt ?? ''))[0];
  }

  async revoke(idOrName: string): Promise<{ record: KeyRecord; alreadyRevoked: boolean }> {
    if (!isString(idOrName) || idOrName.length === 0) throw invalidParameter('idOrName', 'key id or name', idOrName);
    const found = await this.resolve(idOrName);
    if (!found) throw new InvalidArgumentError('idOrName', `No API key with id or name "${idOrName}"`);
    if (found.revokedAt !== null) return { record: found, alreadyRevoked: true };
    const revokedAt = this.#now().toISOString();
    await this.#redis.multi().hset(K.record(found.id), 'revokedAt', revokedAt).del(K.liveName(found.name)).exec();
    return { record: { ...found, revokedAt }, alreadyRevoked: false };
  }

  async lookup(key: unknown): Promise<KeyRecord | undefined> {
    if (!looksLikeKey(key)) return undefined;
    const hash = hashKey(key);
    const id = await this.#redis.get(K.byHash(hash));
    if (!id) return undefined;
    const stored = await this.#redis.hget(K.record(id), 'hash');
    if (!stored || !timingSafeEqual(Buffer.from(stored, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
    return this.get(id);
  }

  async verify(key: unknown): Promise<KeyRecord | undefined> {
    const record = await this.lookup(key);
    if (!record || record.revokedAt !== null) return undefined;
    const now = this.#now();
    if (record.lastUsedAt === null || now.getTime() - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      record.lastUsedAt = now.toISOString();
      await this.#redis.hset(K.record(record.id), 'lastUsedAt', record.lastUsedAt);
    }
    return record;
  }

  async addImages(keyId: string, images: number, at: Date = this.#now()): Promise<void> {
    integerIn('images', images, 0, Number.MAX_SAFE_INTEGER);
    const key = K.usage(keyId, usageMonth(at));
    // Kept a while past the month so `keys list` can still show last month's use.
    await this.#redis.multi().incrby(key, images).expire(key, 62 * 86400).exec();
  }

  async imagesThisMonth(keyId: string, at: Date = this.#now()): Promise<number> {
    return Number((await this.#redis.get(K.usage(keyId, usageMonth(at)))) ?? 0);
  }
}
