import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { keysRoutes } from '../../src/server/api/keys-routes.js';
import { Authenticator, credentialsOf, type Principal } from '../../src/server/auth/authenticate.js';
import { KeyStore, quotaResetsAt, usageMonth } from '../../src/server/auth/key-store.js';
import { RateLimiter } from '../../src/server/auth/rate-limiter.js';
import { ApiError } from '../../src/server/errors.js';
import { openDatabase } from '../../src/server/store/database.js';

const ADMIN_KEY = 'admin-key-for-tests-0123456789';
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-keys-'));

const opened: Database.Database[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

function memoryStore(now = () => new Date('2025-03-15T12:00:00Z')): KeyStore {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  opened.push(db);
  return new KeyStore(db, { now });
}

/** Runs `fn` and returns the ApiError it throws. */
async function apiError(fn: () => unknown): Promise<ApiError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('KeyStore', () => {
  it('creates keys that verify, with their limits and a webhook secret', () => {
    const keys = memoryStore();
    const { record, key } = keys.create({ name: 'alice', rateLimit: 2.5, monthlyQuota: 100, maxConcurrent: 3 });
    expect(key).toMatch(/^dk_[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({
      name: 'alice', prefix: key.slice(0, 8), rateLimit: 2.5, monthlyQuota: 100, maxConcurrent: 3,
      createdAt: '2025-03-15T12:00:00.000Z', revokedAt: null, lastUsedAt: null,
    });
    expect(record.id).toMatch(/^key_[0-9a-f]{12}$/);
    expect(record.webhookSecret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(keys.verify(key)).toMatchObject({ id: record.id, lastUsedAt: '2025-03-15T12:00:00.000Z' });
    expect(keys.get(record.id)).toMatchObject({ name: 'alice', lastUsedAt: '2025-03-15T12:00:00.000Z' });
    const other = keys.create({ name: 'bob' });
    expect(other.record).toMatchObject({ rateLimit: null, monthlyQuota: null, maxConcurrent: null });
    expect(other.key).not.toBe(key);
    expect(other.record.webhookSecret).not.toBe(record.webhookSecret);
  });

  it('does not verify unknown, malformed or revoked keys', () => {
    const keys = memoryStore();
    const { record, key } = keys.create({ name: 'alice' });
    expect(keys.verify(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(keys.verify('')).toBeUndefined();
    expect(keys.verify(42)).toBeUndefined();
    expect(keys.revoke('alice')).toEqual({ record: { ...record, revokedAt: '2025-03-15T12:00:00.000Z' }, alreadyRevoked: false });
    expect(keys.verify(key)).toBeUndefined();
    expect(keys.lookup(key)?.revokedAt).toBe('2025-03-15T12:00:00.000Z');
  });

  it('revokes by id or name, idempotently, and lets a name be reused after', () => {
    let now = new Date('2025-03-15T12:00:00Z');
    const keys = memoryStore(() => now);
    const first = keys.create({ name: 'ci' });
    expect(() => keys.create({ name: 'ci' })).toThrow('An API key named "ci" already exists');
    expect(keys.revoke(first.record.id).alreadyRevoked).toBe(false);
    now = new Date('2025-03-16T12:00:00Z');
    expect(keys.revoke(first.record.id)).toMatchObject({ alreadyRevoked: true, record: { revokedAt: '2025-03-15T12:00:00.000Z' } });
    const second = keys.create({ name: 'ci' });
    expect(keys.resolve('ci')?.id).toBe(second.record.id);
    keys.revoke('ci');
    expect(keys.revoke('ci')).toMatchObject({ alreadyRevoked: true, record: { id: second.record.id } });
    expect(() => keys.revoke('nobody')).toThrow('No API key with id or name "nobody"');
    expect(() => keys.revoke('key_000000000000')).toThrow('No API key with id or name "key_000000000000"');
    expect(keys.list().map((r) => [r.name, r.revokedAt !== null])).toEqual([['ci', true], ['ci', true]]);
  });

  it('validates names and limits in the library wording', () => {
    const keys = memoryStore();
    expect(() => keys.create({ name: '' })).toThrow(/^Expected non-empty string .* for name but received "" of type string$/);
    expect(() => keys.create({ name: ' padded ' })).toThrow(/for name/);
    expect(() => keys.create({ name: 'key_lookalike' })).toThrow('Expected name not starting with "key_" for name');
    expect(() => keys.create({ name: 'x', rateLimit: 0 })).toThrow(/for rateLimit but received 0 of type number/);
    expect(() => keys.create({ name: 'x', monthlyQuota: 1.5 })).toThrow(/Expected integer between 0 and \d+ for monthlyQuota but received 1.5/);
    expect(() => keys.create({ name: 'x', maxConcurrent: 0 })).toThrow(/Expected integer between 1 and 1000000 for maxConcurrent/);
    expect(keys.create({ name: 'x', rateLimit: null, monthlyQuota: 0 }).record).toMatchObject({ rateLimit: null, monthlyQuota: 0 });
  });

  it('stores only a hash of the key, never the key', () => {
    const dir = tempDir();
    const db = openDatabase(dir);
    const keys = new KeyStore(db);
    const { key } = keys.create({ name: 'alice' });
    const row = db.prepare('SELECT * FROM api_keys').get() as Record<string, unknown>;
    expect(Object.values(row)).not.toContain(key);
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    db.close();
    // Every file SQLite wrote (database, WAL), as raw bytes.
    for (const file of fs.readdirSync(dir)) {
      const bytes = fs.readFileSync(path.join(dir, file));
      expect(bytes.includes(key), file).toBe(false);
      expect(bytes.includes(key.slice(3)), file).toBe(false);
    }
    const reopened = openDatabase(dir);
    opened.push(reopened);
    expect(new KeyStore(reopened).verify(key)?.name).toBe('alice');
  });

  it('counts images per UTC calendar month', () => {
    const keys = memoryStore();
    const { record } = keys.create({ name: 'alice' });
    keys.addImages(record.id, 3, new Date('2025-03-01T00:00:00Z'));
    keys.addImages(record.id, 4, new Date('2025-03-31T23:59:59Z'));
    keys.addImages(record.id, 5, new Date('2025-04-01T00:00:00Z'));
    expect(keys.imagesThisMonth(record.id, new Date('2025-03-10T00:00:00Z'))).toBe(7);
    expect(keys.imagesThisMonth(record.id, new Date('2025-04-30T00:00:00Z'))).toBe(5);
    expect(keys.imagesThisMonth(record.id, new Date('2025-05-01T00:00:00Z'))).toBe(0);
    expect(() => keys.addImages(record.id, -1)).toThrow(/for images/);
    expect(usageMonth(new Date('2025-12-31T23:00:00-05:00'))).toBe('2026-01');
    expect(quotaResetsAt(new Date('2025-12-15T00:00:00Z')).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('Authenticator', () => {
  function setup(options: { noAuth?: boolean; adminKey?: string } = {}) {
    let clockMs = 0;
    const keys = memoryStore();
    const authenticator = new Authenticator({
      keys,
      noAuth: options.noAuth ?? false,
      adminKey: options.adminKey,
      limiter: new RateLimiter({ now: () => clockMs }),
      now: () => new Date('2025-03-15T12:00:00Z'),
    });
    return { keys, authenticator, advance: (ms: number) => void (clockMs += ms) };
  }

  it('accepts a key in the body or as a Bearer token, whatever the scheme case', async () => {
    const { keys, authenticator } = setup();
    const { record, key } = keys.create({ name: 'alice' });
    for (const credentials of [{ bodyKey: key }, { authorization: `Bearer ${key}` }, { authorization: `bearer  ${key} ` }, { bodyKey: key, authorization: `BEARER ${key}` }]) {
      const principal = await authenticator.authenticate(credentials);
      expect(principal.kind === 'key' && principal.record.id).toBe(record.id);
    }
    expect(credentialsOf({ headers: { authorization: 'Bearer x' }, body: { key: 'y' } })).toEqual({ bodyKey: 'y', authorization: 'Bearer x' });
    expect(credentialsOf({ headers: {}, body: undefined })).toEqual({ bodyKey: undefined, authorization: undefined });
  });

  it('answers 401 for missing, unknown, revoked, malformed or conflicting keys, without echoing them', async () => {
    const { keys, authenticator } = setup();
    const { key } = keys.create({ name: 'alice' });
    const revoked = keys.create({ name: 'old' });
    keys.revoke('old');
    const cases: [Parameters<Authenticator['authenticate']>[0], RegExp][] = [
      [{}, /API key is required/],
      [{ bodyKey: '' }, /API key is required/],
      [{ bodyKey: 'dk_wrong' }, /not valid/],
      [{ authorization: 'Bearer dk_wrong' }, /not valid/],
      [{ bodyKey: revoked.key }, /has been revoked/],
      [{ authorization: `Basic ${key}` }, /must read "Bearer <key>"/],
      [{ bodyKey: 123 }, /must be a string/],
      [{ bodyKey: key, authorization: 'Bearer dk_other' }, /different keys/],
    ];
    for (const [credentials, message] of cases) {
      const err = await apiError(() => authenticator.authenticate(credentials));
      expect(err).toMatchObject({ statusCode: 401, code: 'unauthorized', headers: { 'WWW-Authenticate': 'Bearer' } });
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('dk_');
    }
  });

  it('recognises the admin key, which also works as a key, and gates admin routes', async () => {
    const { keys, authenticator } = setup({ adminKey: ADMIN_KEY });
    expect(await authenticator.authenticate({ bodyKey: ADMIN_KEY })).toEqual({ kind: 'admin' });
    expect(await authenticator.authenticate({ authorization: `Bearer ${ADMIN_KEY}` })).toEqual({ kind: 'admin' });
    expect((await apiError(() => authenticator.authenticate({ bodyKey: `${ADMIN_KEY}x` }))).statusCode).toBe(401);
    const admin: Principal = { kind: 'admin' };
    expect(() => authenticator.requireAdmin(admin)).not.toThrow();
    await authenticator.checkRate(admin);
    await authenticator.checkQuota(admin, 1_000_000);
    const user = await authenticator.authenticate({ bodyKey: keys.create({ name: 'alice' }).key });
    expect(await apiError(() => authenticator.requireAdmin(user))).toMatchObject({ statusCode: 403, code: 'forbidden', message: 'This route needs the admin key' });
    expect((await apiError(() => setup().authenticator.requireAdmin(user))).message).toMatch(/DIFFUSEKIT_ADMIN_KEY/);
    expect(() => setup({ adminKey: 'short' })).toThrow(/at least 16 characters for adminKey/);
    expect(() => setup({ adminKey: 'short' })).not.toThrow(/short"/);
  });

  it('lets everyone in under --no-auth, unmetered', async () => {
    const { authenticator } = setup({ noAuth: true, adminKey: ADMIN_KEY });
    const anonymous = await authenticator.authenticate({});
    expect(anonymous).toEqual({ kind: 'anonymous' });
    expect(await authenticator.authenticate({ bodyKey: 'anything' })).toEqual({ kind: 'anonymous' });
    expect(() => authenticator.requireAdmin(anonymous)).not.toThrow();
    for (let i = 0; i < 10; i++) await authenticator.checkRate(anonymous);
    await authenticator.checkQuota(anonymous, 1_000_000);
  });

  it('answers 429 with Retry-After over the rate limit', async () => {
    const { keys, authenticator, advance } = setup();
    const principal = await authenticator.authenticate({ bodyKey: keys.create({ name: 'alice', rateLimit: 0.5 }).key });
    await authenticator.checkRate(principal);
    const err = await apiError(() => authenticator.checkRate(principal));
    expect(err).toMatchObject({ statusCode: 429, code: 'rate_limited', headers: { 'Retry-After': '2' } });
    expect(err.message).toBe('Rate limit of 0.5 requests per second exceeded; retry in 2 s');
    advance(2_000);
    await authenticator.checkRate(principal);
    const unlimited = await authenticator.authenticate({ bodyKey: keys.create({ name: 'bob' }).key });
    for (let i = 0; i < 100; i++) await authenticator.checkRate(unlimited);
  });

  it('answers 402 when a request would pass the monthly quota', async () => {
    const { keys, authenticator } = setup();
    const principal = await authenticator.authenticate({ bodyKey: keys.create({ name: 'alice', monthlyQuota: 10 }).key });
    await authenticator.checkQuota(principal, 10);
    await authenticator.recordImages(principal, 8);
    await authenticator.checkQuota(principal, 2);
    const err = await apiError(() => authenticator.checkQuota(principal, 3));
    expect(err).toMatchObject({ statusCode: 402, code: 'quota_exceeded' });
    expect(err.message).toBe(
      'Monthly image quota exceeded: 8 of 10 images used this month and this request needs 3; the quota resets on 2025-04-01 (UTC)',
    );
    const id = principal.kind === 'key' ? principal.record.id : '';
    expect(keys.imagesThisMonth(id, new Date('2025-03-20T00:00:00Z'))).toBe(8);
    await expect(authenticator.checkQuota(principal, -1)).rejects.toThrow(/for images/);
  });
});

describe('key management routes', () => {
  async function app(options: { adminKey?: string; noAuth?: boolean } = { adminKey: ADMIN_KEY }): Promise<{ app: FastifyInstance; keys: KeyStore }> {
    const keys = memoryStore();
    const authenticator = new Authenticator({ keys, adminKey: options.adminKey, noAuth: options.noAuth ?? false });
    const server = Fastify();
    // What the server's own error handler does: ApiError (and Fastify's validation errors) as v6 error data.
    server.setErrorHandler((err, _request, reply) => {
      if (err instanceof ApiError) void reply.headers(err.headers);
      void reply.status((err as { statusCode?: number }).statusCode ?? 500).send({ status: 'error', message: (err as Error).message });
    });
    await server.register(keysRoutes, { keys, authenticator });
    await server.ready();
    return { app: server, keys };
  }

  it('creates, lists and revokes keys with the admin key', async () => {
    const { app: server, keys } = await app();
    const created = await server.inject({
      method: 'POST', url: '/api/v6/keys/create',
      payload: { key: ADMIN_KEY, name: 'alice', rate_limit: 2, monthly_quota: 50, max_concurrent: null },
    });
    expect(created.statusCode).toBe(200);
    const body = created.json();
    expect(body).toMatchObject({ status: 'success', name: 'alice', rate_limit: 2, monthly_quota: 50, max_concurrent: null, revoked_at: null, images_this_month: 0 });
    expect(keys.verify(body.key)?.id).toBe(body.id);
    expect(body.webhook_secret).toBe(keys.get(body.id)?.webhookSecret);

    const bearer = { authorization: `Bearer ${ADMIN_KEY}` };
    const listed = await server.inject({ method: 'GET', url: '/api/v6/keys/list', headers: bearer });
    expect(listed.json()).toMatchObject({ status: 'success', keys: [{ id: body.id, name: 'alice' }] });
    expect(listed.json().keys[0]).not.toHaveProperty('key');
    expect(listed.json().keys[0]).not.toHaveProperty('webhook_secret');
    expect(listed.body).not.toContain(body.webhook_secret);
    const posted = await server.inject({ method: 'POST', url: '/api/v6/keys/list', payload: { key: ADMIN_KEY } });
    expect(posted.json().keys).toHaveLength(1);

    const revoked = await server.inject({ method: 'POST', url: '/api/v6/keys/revoke', headers: bearer, payload: { name: 'alice' } });
    expect(revoked.json()).toMatchObject({ status: 'success', already_revoked: false, id: body.id });
    expect(revoked.json().revoked_at).toEqual(expect.any(String));
    const again = await server.inject({ method: 'POST', url: '/api/v6/keys/revoke', headers: bearer, payload: { id: body.id } });
    expect(again.json()).toMatchObject({ status: 'success', already_revoked: true });
    expect(keys.verify(body.key)).toBeUndefined();
  });

  it('answers 401 without a key and 403 for an ordinary key', async () => {
    const { app: server, keys } = await app();
    const none = await server.inject({ method: 'POST', url: '/api/v6/keys/create', payload: { name: 'x' } });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toEqual({ status: 'error', message: expect.stringMatching(/API key is required/) });
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const bad = await server.inject({ method: 'GET', url: '/api/v6/keys/list', headers: { authorization: 'Bearer dk_nope' } });
    expect(bad.statusCode).toBe(401);
    const { key } = keys.create({ name: 'alice' });
    const forbidden = await server.inject({ method: 'POST', url: '/api/v6/keys/revoke', payload: { key, name: 'alice' } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toEqual({ status: 'error', message: 'This route needs the admin key' });
    expect(keys.resolve('alice')?.revokedAt).toBeNull();
  });

  it('validates bodies and reports conflicts and unknown keys', async () => {
    const { app: server } = await app();
    const post = (url: string, payload: Record<string, unknown>) => server.inject({ method: 'POST', url, payload: { key: ADMIN_KEY, ...payload } });
    expect((await post('/api/v6/keys/create', {})).statusCode).toBe(400);
    expect((await post('/api/v6/keys/create', { name: 'x', rate_limit: 0 })).statusCode).toBe(400);
    expect((await post('/api/v6/keys/create', { name: 'x', monthly_quota: -1 })).statusCode).toBe(400);
    const lookalike = await post('/api/v6/keys/create', { name: 'key_x' });
    expect(lookalike.statusCode).toBe(400);
    expect(lookalike.json().message).toMatch(/not starting with "key_"/);
    expect((await post('/api/v6/keys/create', { name: 'x' })).statusCode).toBe(200);
    const taken = await post('/api/v6/keys/create', { name: 'x' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().message).toBe('An API key named "x" already exists');
    expect((await post('/api/v6/keys/revoke', {})).statusCode).toBe(400);
    const unknown = await post('/api/v6/keys/revoke', { name: 'nobody' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ status: 'error', message: 'No API key named "nobody"' });
  });

  it('is open under --no-auth and closed to keys when no admin key is set', async () => {
    const open = await app({ noAuth: true });
    expect((await open.app.inject({ method: 'GET', url: '/api/v6/keys/list' })).statusCode).toBe(200);
    const closed = await app({});
    const { key } = closed.keys.create({ name: 'alice' });
    const res = await closed.app.inject({ method: 'GET', url: '/api/v6/keys/list', headers: { authorization: `Bearer ${key}` } });
    expect(res.statusCode).toBe(403);
    expect(res.json().message).toMatch(/set DIFFUSEKIT_ADMIN_KEY/);
  });
});

describe('diffusekit keys', () => {
  // The built CLI: run `npx tsc -p tsconfig.json` first.
  const cli = path.resolve(import.meta.dirname, '..', '..', 'lib', 'cli', 'main.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'keys', ...args], { encoding: 'utf8' });

  it('creates, lists and revokes keys in the data directory', () => {
    const dir = tempDir();
    const created = run('create', '--name', 'alice', '--rate', '2', '--quota', '100', '--max-concurrent', '4', '--json', '--data-dir', dir);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const json = JSON.parse(created.stdout);
    expect(json).toMatchObject({ name: 'alice', rate_limit: 2, monthly_quota: 100, max_concurrent: 4 });
    expect(json.key).toMatch(/^dk_/);
    expect(json.id).toMatch(/^key_/);
    expect(json.webhook_secret).toMatch(/^whsec_/);
    const db = openDatabase(dir);
    opened.push(db);
    expect(new KeyStore(db).verify(json.key)?.id).toBe(json.id);

    const human = run('create', '--name', 'bob', '--data-dir', dir);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^Created API key "bob" \(key_[0-9a-f]{12}\)\n\n {2}key {13}dk_/);

    const listed = run('list', '--data-dir', dir);
    expect(listed.status).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +KEY +RATE\/S +IMAGES THIS MONTH +MAX JOBS +CREATED +LAST USED +STATUS$/);
    expect(lines[1]).toMatch(new RegExp(`^${json.id} +alice +${json.prefix}\\.\\.\\. +2 +0 / 100 +4 .* active$`));
    expect(lines[2]).toMatch(/ bob .* default .* active$/);
    expect(listed.stdout).not.toContain(json.key);
    const listedJson = run('list', '--json', '--data-dir', dir).stdout;
    expect(JSON.parse(listedJson).keys.map((k: { name: string }) => k.name)).toEqual(['alice', 'bob']);
    // The webhook secret, like the key, is shown by create only.
    for (const output of [listed.stdout, listedJson]) expect(output).not.toContain(json.webhook_secret);

    const quiet = run('create', '--name', 'carol', '--quiet', '--data-dir', dir);
    expect([quiet.status, quiet.stderr]).toEqual([0, '']);
    expect(quiet.stdout).toMatch(/^dk_\S+\n$/);
    expect(new KeyStore(db).verify(quiet.stdout.trim())?.name).toBe('carol');

    const revoked = run('revoke', 'alice', '--data-dir', dir);
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toBe(`Revoked ${json.id} ("alice")\n`);
    const again = run('revoke', json.id, '--json', '--data-dir', dir);
    expect(JSON.parse(again.stdout)).toMatchObject({ already_revoked: true, id: json.id });
    expect(run('list', '--data-dir', dir).stdout).toMatch(/alice .* revoked \d{4}-\d\d-\d\d\n/);
  });

  it('exits 2 on usage errors and 1 on bad values, with a message', () => {
    const dir = tempDir();
    const usage = [
      [['create', '--data-dir', dir], 'keys create needs --name'],
      [['create', '--name', 'x', '--rate', 'fast', '--data-dir', dir], "--rate expects a number, got 'fast'"],
      [['list', '--bogus', '--data-dir', dir], "Unknown option '--bogus'"],
      [['revoke', '--data-dir', dir], 'keys revoke needs exactly one key id or name'],
      [['rotate'], "unknown keys subcommand 'rotate'"],
      [[], 'keys needs a subcommand'],
    ] as const;
    for (const [args, message] of usage) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
    const unknown = run('revoke', 'nobody', '--data-dir', dir);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('diffusekit: No API key with id or name "nobody"\n');
    const range = run('create', '--name', 'x', '--quota=-5', '--data-dir', dir);
    expect(range.status).toBe(1);
    expect(range.stderr).toMatch(/for monthlyQuota but received -5/);
  });

  it('--help shows examples', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('diffusekit keys create --name alice --rate 2 --quota 1000');
    expect(r.stdout).toContain('--data-dir DIR');
  });
});
