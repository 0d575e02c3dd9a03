import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { Db } from '../store/database.js';
import { SecretBox } from '../security/secret-box.js';
import { InvalidArgumentError } from '../../errors.js';
import { defined, integerIn, invalidParameter, isNumber, isString } from '../../util/is.js';

/** An API key as the server sees it. The key itself is never stored, only its hash. */
export interface KeyRecord {
  id: string;
  name: string;
  /** The key's first characters, enough for a person to tell keys apart in a list. */
  prefix: string;
  /** Signs this key's webhooks (HMAC-SHA256); stored encrypted (SecretBox) because the server needs it to sign. */
  webhookSecret: string;
  /** Requests per second; null: unlimited. */
  rateLimit: number | null;
  /** Images per calendar month (UTC); null: unlimited. */
  monthlyQuota: number | null;
  /** Jobs queued plus running at once; null: the server's default. */
  maxConcurrent: number | null;
  /** ISO 8601 timestamps. */
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface CreateKeyOptions {
  name: string;
  rateLimit?: number | null;
  monthlyQuota?: number | null;
  maxConcurrent?: number | null;
}

export interface KeyStoreOptions {
  /** The wall clock for timestamps; tests inject their own. */
  now?: () => Date;
  /** Encrypts the webhook secrets at rest. Default: the box of the database's folder (a fresh key in memory for ':memory:'). */
  secrets?: SecretBox;
}

/**
 * How a key looks in API responses and `keys ... --json` (snake_case, like the rest of the v6 API). The webhook
 * secret is not part of it: like the key, it is shown once, by create (`createdKeyJson`).
 */
export interface KeyJson {
  id: string;
  name: string;
  prefix: string;
  rate_limit: number | null;
  monthly_quota: number | null;
  max_concurrent: number | null;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  images_this_month: number;
}

export function toKeyJson(record: KeyRecord, imagesThisMonth: number): KeyJson {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    rate_limit: record.rateLimit,
    monthly_quota: record.monthlyQuota,
    max_concurrent: record.maxConcurrent,
    created_at: record.createdAt,
    revoked_at: record.revokedAt,
    last_used_at: record.lastUsedAt,
    images_this_month: imagesThisMonth,
  };
}

/** What create answers: the new key and its webhook secret, shown this once, with the record. */
export function createdKeyJson(record: KeyRecord, key: string): KeyJson & { key: string; webhook_secret: string } {
  return { key, webhook_secret: record.webhookSecret, ...toKeyJson(record, 0) };
}

/** Quotas count per calendar month in UTC, so every server agrees on when a month ends. */
export function usageMonth(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/** When the quota of the month containing `at` starts afresh: the first of the next month, 00:00 UTC. */
export function quotaResetsAt(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
}

const KEY_PREFIX = 'dk_';
export const ID_PREFIX = 'key_';
const DISPLAY_PREFIX_LENGTH = KEY_PREFIX.length + 5;
const MAX_NAME_LENGTH = 64;
// last_used_at is for people ("is this key still in use?"): minute precision spares a write per request.
export const LAST_USED_RESOLUTION_MS = 60_000;

// Keys are 256 random bits, so a fast unsalted hash is right: there is nothing to brute-force or look up in
// a table, and a slow password hash would only add latency to every request. SHA-256 also lets us find a
// key by its hash with an index.
export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

interface KeyRow {
  id: string;
  name: string;
  key_hash: string;
  prefix: string;
  webhook_secret: string;
  rate_limit: number | null;
  monthly_quota: number | null;
  max_concurrent: number | null;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

const toRecord = (row: KeyRow, secrets: SecretBox): KeyRecord => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  webhookSecret: secrets.open(row.webhook_secret),
  rateLimit: row.rate_limit,
  monthlyQuota: row.monthly_quota,
  maxConcurrent: row.max_concurrent,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});

function validName(value: unknown): string {
  if (!isString(value) || value.trim() !== value || value.length === 0 || value.length > MAX_NAME_LENGTH || /[\p{Cc}]/u.test(value)) {
    throw invalidParameter('name', `non-empty string of at most ${MAX_NAME_LENGTH} characters without surrounding spaces`, value);
  }
  // Ids and names share one namespace in `keys revoke ID|NAME`; a name that looks like an id would be ambiguous.
  if (value.startsWith(ID_PREFIX)) throw invalidParameter('name', `name not starting with "${ID_PREFIX}"`, value);
  return value;
}

function optionalRate(value: unknown): number | null {
  if (!defined(value)) return null;
  if (!isNumber(value) || value <= 0 || value > 1_000_000) throw invalidParameter('rateLimit', 'positive number of requests per second up to 1000000', value);
  return value;
}

const optionalInteger = (parameter: string, value: unknown, min: number, max: number): number | null =>
  defined(value) ? integerIn(parameter, value, min, max) : null;

export const nameTaken = (name: string): InvalidArgumentError =>
  new InvalidArgumentError('name', `An API key named "${name}" already exists; revoke it first or choose another name`);

/** A key is well-formed and of ours before any lookup: anything else is simply unknown. */
export const looksLikeKey = (key: unknown): key is string => isString(key) && key.startsWith(KEY_PREFIX);

/**
 * Validates the options and makes a new key and its record (not stored yet). The plaintext `key` is
 * returned once; stores keep only hashKey(key).
 */
export function newKey(options: CreateKeyOptions, now: Date): { record: KeyRecord; key: string } {
  const name = validName(options?.name);
  const rateLimit = optionalRate(options.rateLimit);
  const monthlyQuota = optionalInteger('monthlyQuota', options.monthlyQuota, 0, Number.MAX_SAFE_INTEGER);
  const maxConcurrent = optionalInteger('maxConcurrent', options.maxConcurrent, 1, 1_000_000);
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const record: KeyRecord = {
    id: ID_PREFIX + randomBytes(6).toString('hex'),
    name,
    prefix: key.slice(0, DISPLAY_PREFIX_LENGTH),
    webhookSecret: 'whsec_' + randomBytes(32).toString('base64url'),
    rateLimit,
    monthlyQuota,
    maxConcurrent,
    createdAt: now.toISOString(),
    revokedAt: null,
    lastUsedAt: null,
  };
  return { record, key };
}

/**
 * API keys and their monthly image usage, in the server's SQLite database. The CLI (`diffusekit keys`) and
 * the server open the same file; WAL mode lets one write while the other reads.
 */
export class KeyStore {
  readonly #db: Db;
  readonly #now: () => Date;
  readonly #secrets: SecretBox;

  constructor(db: Db, options: KeyStoreOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? (() => new Date());
    this.#secrets = options.secrets ?? (db.memory ? new SecretBox(randomBytes(32)) : SecretBox.forDataDir(path.dirname(db.name)));
    db.exec(`
      CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        webhook_secret TEXT NOT NULL,
        rate_limit REAL,
        monthly_quota INTEGER,
        max_concurrent INTEGER,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
      );
      -- A name picks one live key; revoked keys keep theirs so a name can be reused after a rotation.
      CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
      CREATE TABLE IF NOT EXISTS api_key_usage (
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        month TEXT NOT NULL,
        images INTEGER NOT NULL,
        PRIMARY KEY (key_id, month)
      ) WITHOUT ROWID;
    `);
    this.#sealPlainSecrets();
  }

  /** Installs made before encryption stored the webhook secrets in clear: sealed on the first open. */
  #sealPlainSecrets(): void {
    const plain = this.#db.prepare(`SELECT id, webhook_secret FROM api_keys WHERE webhook_secret NOT LIKE 'enc:v1:%'`).all() as { id: string; webhook_secret: string }[];
    const update = this.#db.prepare('UPDATE api_keys SET webhook_secret = ? WHERE id = ? AND webhook_secret = ?');
    this.#db.transaction(() => plain.forEach((row) => update.run(this.#secrets.seal(row.webhook_secret), row.id, row.webhook_secret)))();
  }

  /** Creates a key. The returned `key` is the only copy of the plaintext: show it once, then it is gone. */
  create(options: CreateKeyOptions): { record: KeyRecord; key: string } {
    const { record, key } = newKey(options, this.#now());
    const name = record.name;
    if (this.#liveByName(name)) throw nameTaken(name);
    const { rateLimit, monthlyQuota, maxConcurrent } = record;
    try {
      this.#db
        .prepare(
          `INSERT INTO api_keys (id, name, key_hash, prefix, webhook_secret, rate_limit, monthly_quota, max_concurrent, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(record.id, name, hashKey(key), record.prefix, this.#secrets.seal(record.webhookSecret), rateLimit, monthlyQuota, maxConcurrent, record.createdAt);
    } catch (err) {
      // Another process (the CLI beside a server) took the name between our check and the insert.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' && this.#liveByName(name)) throw nameTaken(name);
      throw err;
    }
    return { record, key };
  }

  #liveByName(name: string): boolean {
    return this.#db.prepare('SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(name) !== undefined;
  }

  /** Every key, revoked ones included, oldest first. */
  list(): KeyRecord[] {
    return (this.#db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all() as KeyRow[]).map((row) => toRecord(row, this.#secrets));
  }

  get(id: string): KeyRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return row && toRecord(row, this.#secrets);
  }

  /** A key by id, or by name: the live key of that name, else the latest revoked one. */
  resolve(idOrName: string): KeyRecord | undefined {
    if (idOrName.startsWith(ID_PREFIX)) return this.get(idOrName);
    const row = this.#db
      .prepare('SELECT * FROM api_keys WHERE name = ? ORDER BY revoked_at IS NOT NULL, revoked_at DESC LIMIT 1')
      .get(idOrName) as KeyRow | undefined;
    return row && toRecord(row, this.#secrets);
  }

  /**
   * Revokes a key by id or name. Revoking a revoked key changes nothing (its first revocation time stays)
   * and says so with `alreadyRevoked`, so scripts can run it twice. An unknown id or name throws.
   */
  revoke(idOrName: string): { record: KeyRecord; alreadyRevoked: boolean } {
    if (!isString(idOrName) || idOrName.length === 0) throw invalidParameter('idOrName', 'key id or name', idOrName);
    const found = this.resolve(idOrName);
    if (!found) throw new InvalidArgumentError('idOrName', `No API key with id or name "${idOrName}"`);
    if (found.revokedAt !== null) return { record: found, alreadyRevoked: true };
    const revokedAt = this.#now().toISOString();
    this.#db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(revokedAt, found.id);
    return { record: { ...found, revokedAt }, alreadyRevoked: false };
  }

  /** The record a presented key belongs to, revoked or not; undefined for a key we never issued. No side effects. */
  lookup(key: unknown): KeyRecord | undefined {
    if (!looksLikeKey(key)) return undefined;
    const hash = hashKey(key);
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE key_hash = ?').get(hash) as KeyRow | undefined;
    // The index lookup already matched; comparing again in constant time keeps the decision itself free of
    // a timing signal, whatever SQLite's comparison does.
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
    return toRecord(row, this.#secrets);
  }

  /** The record of a live key, noting its use; undefined for unknown or revoked keys. */
  verify(key: unknown): KeyRecord | undefined {
    const record = this.lookup(key);
    if (!record || record.revokedAt !== null) return undefined;
    const now = this.#now();
    if (record.lastUsedAt === null || now.getTime() - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      record.lastUsedAt = now.toISOString();
      this.#db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(record.lastUsedAt, record.id);
    }
    return record;
  }

  /** Counts `images` generated by a key against the month containing `at`. */
  addImages(keyId: string, images: number, at: Date = this.#now()): void {
    integerIn('images', images, 0, Number.MAX_SAFE_INTEGER);
    this.#db
      .prepare(
        `INSERT INTO api_key_usage (key_id, month, images) VALUES (?, ?, ?)
         ON CONFLICT (key_id, month) DO UPDATE SET images = images + excluded.images`,
      )
      .run(keyId, usageMonth(at), images);
  }

  /** Images a key generated in the month containing `at`. */
  imagesThisMonth(keyId: string, at: Date = this.#now()): number {
    const row = this.#db.prepare('SELECT images FROM api_key_usage WHERE key_id = ? AND month = ?').get(keyId, usageMonth(at)) as
      | { images: number }
      | undefined;
    return row?.images ?? 0;
  }
}
