// The server hardened against hostile and careless clients (issue 17), end to end over real sockets on
// loopback: owner-only outputs and signed URLs, system_load without other keys' job ids, webhook targets
// checked at submission, one error shape for every client error, text hygiene, file modes, slow clients,
// security headers, CORS and request ids, output URLs that ignore the Host header.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../lib/server/auth/key-store.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { OutputLinks } from '../../lib/server/security/output-links.js';
import { createServer } from '../../lib/server/index.js';
import { eventually, post, startServer, tempDataDir, type JsonResponse } from './helpers.js';

const ADMIN_KEY = 'admin-key-for-hardening-tests-0123456789';
const SMALL = { width: 64, height: 64, num_inference_steps: 1 };

// v6 error bodies: status, message and our own error code (never Fastify's)
function expectV6Error(response: JsonResponse, status: number, message: RegExp): void {
  expect({ status: response.status, body: response.body }).toEqual({ status, body: { status: 'error', message: expect.stringMatching(message), code: expect.stringMatching(/^[a-z_]+$/) } });
}

/** Writes raw bytes to the server and collects everything it answers until it closes the connection. */
function rawExchange(url: string, chunks: string[]): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (data) => (answer += data.toString('utf8')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    for (const chunk of chunks) socket.write(chunk);
  });
}

/** Splits a raw HTTP response into its status, headers and JSON body. */
function parseRaw(answer: string): { status: number; headers: string; body: unknown } {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]), headers: head ?? '', body: body ? JSON.parse(body) : undefined };
}

/** The text of every tEXt chunk of a PNG, as raw bytes (keyword, NUL, text). */
function pngTextChunks(png: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'tEXt') chunks.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  return chunks;
}

describe('a server with keys and private outputs', () => {
  let server: DiffusekitServer;
  let dataDir: string;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };

  beforeAll(async () => {
    dataDir = tempDataDir();
    server = await startServer({ dataDir, auth: true, adminKey: ADMIN_KEY, outputAccess: 'private', cors: ['http://app.example'], syncWaitSeconds: 60, webhookAttempts: 1, allowHosts: ['127.0.0.2'] });
    const create = async (name: string) => (await post(`${server.url}/api/v6/keys/create`, { key: ADMIN_KEY, name })).body as { id: string; key: string };
    alice = await create('alice');
    bob = await create('bob');
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const text2img = (key: string, extra: Record<string, unknown> = {}) => post(`${server.url}/api/v6/images/text2img`, { key, prompt: 'a lighthouse at dusk', ...SMALL, ...extra });

  it('names outputs unguessably and serves them only to their owner, the admin or a valid signed URL', async () => {
    const done = await text2img(alice.key);
    expect(done.body.status).toBe('success');
    const signed = new URL(done.body.output[0] as string);
    // Not "<job id>-<n>.png": 128 random bits in the name; a signature and an expiry in the query.
    expect(signed.pathname).toMatch(new RegExp(`^/generations/${done.body.id}-[\\w-]{22}-0\\.png$`));
    expect(signed.searchParams.get('expires')).toMatch(/^\d+$/);
    const plain = `${server.url}${signed.pathname}`;

    expect((await fetch(signed)).status).toBe(200);
    expectV6Error(await getJson(plain), 401, /API key is required/);
    expectV6Error(await getJson(plain, { authorization: `Bearer ${bob.key}` }), 404, /No output/);
    expect((await fetch(plain, { headers: { authorization: `Bearer ${alice.key}` } })).status).toBe(200);
    expect((await fetch(plain, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
    // The old sequential name of the same job does not exist.
    expect((await getJson(`${server.url}/generations/${done.body.id}-0.png`, { authorization: `Bearer ${alice.key}` })).status).toBe(404);

    const tampered = new URL(signed);
    tampered.searchParams.set('signature', `${signed.searchParams.get('signature')!.slice(0, -2)}AA`);
    expectV6Error(await getJson(tampered.href), 403, /not valid/);
    // A correctly signed URL past its expiry: signed with the server's own secret, ten seconds in the past.
    const secret = fs.readFileSync(path.join(dataDir, 'webhook-secret'), 'utf8').trim();
    const expired = new OutputLinks({ access: 'private', secret, ttlSeconds: 1 }).url({ baseUrl: server.url }, signed.pathname.split('/').pop()!, Date.now() - 10_000);
    expectV6Error(await getJson(expired), 403, /expired/);
  });

  it('shows a key counts and worker states in system_load, not the job ids the workers run', async () => {
    const forKey = await post(`${server.url}/api/v6/system_load`, { key: bob.key });
    expect(forKey.body.workers.length).toBeGreaterThan(0);
    for (const worker of forKey.body.workers) expect(worker).not.toHaveProperty('job');
    expect(forKey.body).toHaveProperty('running');
    const forAdmin = await post(`${server.url}/api/v6/system_load`, { key: ADMIN_KEY });
    expect(forAdmin.body.workers[0]).toHaveProperty('job');
  });

  it('refuses private webhook targets at submission, as it refuses them as init_image', async () => {
    for (const hook of ['http://127.0.0.1:9/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest', 'http://2130706433/hook', 'http://10.1.2.3/hook', 'http://localhost/hook']) {
      const refused = await text2img(alice.key, { webhook: hook });
      expectV6Error(refused, 400, /^webhook: Refusing to fetch .*(loopback|private|link-local|reserved).*--allow-host/);
    }
    const counts = await post(`${server.url}/api/v6/system_load`, { key: ADMIN_KEY });
    expect(counts.body.queue_num + counts.body.running).toBe(0);
  });

  it('shows why a webhook delivery failed in fetch', async () => {
    // 127.0.0.2 is allow-listed and nothing listens on port 9 there: the one try fails with a reason.
    const submitted = await text2img(alice.key, { webhook: 'http://127.0.0.2:9/hook' });
    expect(submitted.status).toBe(200);
    const fetched = await eventually(async () => {
      const state = await post(`${server.url}/api/v6/images/fetch/${submitted.body.id}`, { key: alice.key });
      return state.body.webhook_status === 'failed' ? state : undefined;
    }, 60_000, 'the webhook to fail');
    expect(fetched.body.webhook_error).toMatch(/ECONNREFUSED|refused/i);
  });

  it('strips control characters from prompts and refuses text that is not valid Unicode', async () => {
    const done = await text2img(alice.key, { prompt: 'a red\u0000 bicycle\u0007 at noon' });
    expect(done.body.status).toBe('success');
    const png = Buffer.from(await (await fetch(done.body.output[0] as string)).arrayBuffer());
    const texts = pngTextChunks(png);
    expect(texts.length).toBeGreaterThan(0);
    // One NUL per tEXt chunk (between keyword and text), and the whole prompt kept.
    for (const text of texts) expect(text.filter((byte) => byte === 0).length).toBe(1);
    expect(texts.map((t) => t.toString('latin1')).join('\n')).toContain('a red bicycle at noon');

    const lone = await post(`${server.url}/api/v6/images/text2img`, `{"key":"${alice.key}","prompt":"a \\ud800 lighthouse","width":64,"height":64}`);
    expectV6Error(lone, 400, /^prompt is not valid Unicode text/);
    expectV6Error(await text2img(alice.key, { model_id: 'sd\u0000xs' }), 400, /model_id contains a NUL character/);
  });

  it('answers every malformed request with a 4xx in the API\'s own error shape', async () => {
    const multipart = (contentType: string, body: string) => fetch(`${server.url}/v1/images/edits`, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${alice.key}` }, body });
    const noBoundary = await multipart('multipart/form-data', '--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n--x--\r\n');
    expect(noBoundary.status).toBe(400);
    expect(await noBoundary.json()).toEqual({ error: expect.objectContaining({ message: expect.stringMatching(/multipart body is malformed/) }) });
    const truncated = await multipart('multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG');
    expect(truncated.status).toBe(400);
    expect(((await truncated.json()) as { error: { message: string } }).error.message).toMatch(/multipart/);

    // Sent as written: fetch() would resolve the dot segments first and ask for another path.
    for (const name of ['.', '%2e', '%2e%2e', '..%2f', '.hidden']) {
      const response = await rawGetJson(`${server.url}/generations/${name}`, { authorization: `Bearer ${alice.key}` });
      expect(response.status, name).toBeGreaterThanOrEqual(400);
      expect(response.status, name).toBeLessThan(500);
      expect(response.body).toEqual({ status: 'error', message: expect.any(String), code: expect.stringMatching(/^[a-z_]+$/) });
    }

    expectV6Error(await post(`${server.url}/api/v6/images/text2img`, `{"key":"${alice.key}","__proto__":{"x":1},"prompt":"p"}`), 400, /__proto__/);
    expectV6Error(await post(`${server.url}/api/v6/images/fetch/100000000000000000000000`, { key: alice.key }), 400, /^id must be <=/);
    const wrongType = await fetch(`${server.url}/api/v6/images/text2img`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as { message: string }).message).not.toMatch(/^Send the body as .*multipart/);
    const emptyJson = await post(`${server.url}/api/v6/images/text2img`, '');
    expectV6Error(emptyJson, 400, /body is empty/);
    // OpenAI's shape carries our codes, never Fastify's.
    const invalid = await fetch(`${server.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.key}` }, body: '{"n":"many"}' });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(await invalid.json())).not.toContain('FST_');

    const huge = parseRaw(await rawExchange(server.url, [`GET /api/v6/system_load HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]));
    expect(huge.status).toBe(431);
    expect(huge.body).toEqual({ status: 'error', message: expect.stringMatching(/headers are larger/) });
  });

  it('puts security headers and a request id on every response, and CORS headers for the allowed origins', async () => {
    const ok = await fetch(`${server.url}/api/v6/system_load`, { headers: { authorization: `Bearer ${alice.key}`, origin: 'http://app.example', 'x-request-id': 'forged-by-client' } });
    const missing = await fetch(`${server.url}/nowhere`);
    const refused = await fetch(`${server.url}/api/v6/system_load`);
    for (const response of [ok, missing, refused]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    // Not a trusted proxy: the client's id is not taken.
    expect(ok.headers.get('x-request-id')).not.toBe('forged-by-client');
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = await fetch(`${server.url}/api/v6/images/text2img`, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const foreign = await fetch(`${server.url}/api/v6/system_load`, { headers: { authorization: `Bearer ${alice.key}`, origin: 'http://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('builds output URLs on the address the client reached, not on its Host header', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const request = http.request(`${server.url}/api/v6/images/text2img`, { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve(text));
      });
      request.on('error', reject);
      request.end(JSON.stringify({ key: alice.key, prompt: 'a lighthouse', ...SMALL }));
    });
    const body = JSON.parse(answer) as { output: string[] };
    expect(body.output[0]).toMatch(new RegExp(`^${server.url}/generations/`));
    expect(answer).not.toContain('evil.example');
  });

  it('keeps the data directory owner-only: 0700, database and secrets 0600', () => {
    const mode = (file: string) => fs.statSync(file).mode & 0o777;
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(path.join(dataDir, 'diffusekit.sqlite'))).toBe(0o600);
    expect(mode(path.join(dataDir, 'webhook-secret'))).toBe(0o600);
    expect(mode(path.join(dataDir, 'secret-key'))).toBe(0o600);
  });

  it('stores the keys\' webhook secrets encrypted', () => {
    const db = new Database(path.join(dataDir, 'diffusekit.sqlite'), { readonly: true });
    const stored = db.prepare('SELECT webhook_secret FROM api_keys').all() as { webhook_secret: string }[];
    db.close();
    expect(stored.length).toBeGreaterThanOrEqual(2);
    for (const row of stored) expect(row.webhook_secret).toMatch(/^enc:v1:/);
    expect(stored.map((r) => r.webhook_secret).join()).not.toContain('whsec_');
  });
});

describe('an existing install made before these modes', () => {
  it('is narrowed to owner-only on start', async () => {
    const dataDir = tempDataDir();
    fs.chmodSync(dataDir, 0o755);
    fs.writeFileSync(path.join(dataDir, 'diffusekit.sqlite'), '', { mode: 0o644 });
    fs.writeFileSync(path.join(dataDir, 'webhook-secret'), 'an-old-secret\n', { mode: 0o644 });
    // A key whose webhook secret an older version stored in clear.
    const before = new Database(path.join(dataDir, 'diffusekit.sqlite'));
    const { record } = new KeyStore(before).create({ name: 'old' });
    before.prepare('UPDATE api_keys SET webhook_secret = ? WHERE id = ?').run(record.webhookSecret, record.id);
    before.close();
    fs.chmodSync(path.join(dataDir, 'diffusekit.sqlite'), 0o644);
    fs.chmodSync(path.join(dataDir, 'webhook-secret'), 0o644);
    const server = await createServer({ port: 0, dataDir, auth: false, threads: 1 });
    try {
      expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dataDir, 'diffusekit.sqlite')).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.join(dataDir, 'webhook-secret')).mode & 0o777).toBe(0o600);
      const db = new Database(path.join(dataDir, 'diffusekit.sqlite'), { readonly: true });
      const stored = (db.prepare('SELECT webhook_secret FROM api_keys WHERE id = ?').get(record.id) as { webhook_secret: string }).webhook_secret;
      db.close();
      expect(stored).toMatch(/^enc:v1:/);
      // Still the same secret for the server, which signs with it.
      const reopened = new Database(path.join(dataDir, 'diffusekit.sqlite'));
      expect(new KeyStore(reopened).get(record.id)?.webhookSecret).toBe(record.webhookSecret);
      reopened.close();
    } finally {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('slow and greedy clients', () => {
  let server: DiffusekitServer;

  beforeAll(async () => {
    server = await startServer({ trustProxy: true, http: { idleTimeoutSeconds: 0.5, headersTimeoutSeconds: 1, maxConnectionsPerAddress: 4 } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes a connection whose body stalls, with a 408 in the error shape', async () => {
    const head = `POST /api/v6/images/text2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const answer = parseRaw(await rawExchange(server.url, [head, '{"prom']));
    expect(answer.status).toBe(408);
    expect(answer.body).toEqual({ status: 'error', message: expect.stringMatching(/body stopped arriving/) });
  });

  it('closes a connection whose headers never end, with a 408 in the error shape', async () => {
    const answer = parseRaw(await rawExchange(server.url, ['GET /api/v6/system_load HTTP/1.1\r\nHost: x\r\nX-Slow: ']));
    expect(answer.status).toBe(408);
    expect(answer.body).toEqual({ status: 'error', message: expect.any(String) });
  });

  it('bounds the connections one address holds', async () => {
    const { port } = new URL(server.url);
    const held = await Promise.all(Array.from({ length: 4 }, () => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket));
    })));
    try {
      // The four held connections send nothing; the fifth is refused however it asks.
      const fifth = parseRaw(await rawExchange(server.url, ['GET /api/v6/system_load HTTP/1.1\r\nHost: x\r\n\r\n']));
      expect(fifth.status).toBe(429);
      expect(fifth.body).toEqual({ status: 'error', message: expect.stringMatching(/Too many connections/) });
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  it('takes the request id of a trusted proxy', async () => {
    // Once the connections held above are closed on the server's side too.
    const response = await eventually(async () => {
      const answer = await fetch(`${server.url}/api/v6/system_load`, { headers: { 'x-request-id': 'proxy-id-42' } });
      return answer.status === 200 ? answer : undefined;
    }, 10_000, 'a connection to be accepted');
    expect(response.headers.get('x-request-id')).toBe('proxy-id-42');
  });
});

/** A GET whose path goes out byte for byte as given (no URL normalisation), answered as JSON. */
function rawGetJson(url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const { hostname, port } = new URL(url);
  const requestPath = url.slice(url.indexOf('/', url.indexOf('//') + 2));
  return new Promise((resolve, reject) => {
    http.get({ host: hostname, port, path: requestPath, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}
