// The server's defences, end to end over HTTP: API keys (401, Bearer or body), rate limits (429), monthly quotas
// (402), per-key concurrency (429), job isolation between keys (404), the admin key routes (403), signed and
// retried webhooks, the SSRF guard on image URLs, malformed input, body size, and the prompt safety checker.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER, type DiffusekitServer } from '../../lib/server/index.js';
import { eventually, fetchUntilDone, post, startServer, tempDataDir, testPng, type JsonResponse } from './helpers.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));
const ADMIN_KEY = 'admin-key-for-security-tests-0123456789';
// The cheapest job there is: 64x64, one step (~0.6-1.2 s on two cores).
const SMALL = { width: 64, height: 64, num_inference_steps: 1 };

interface CreatedKey {
  id: string;
  key: string;
  webhook_secret: string;
}

/** `diffusekit keys create --json` against a data directory (the server may be running on it: the database is WAL). */
async function cliCreateKey(dataDir: string, name: string, ...limits: string[]): Promise<CreatedKey> {
  const { stdout } = await run(process.execPath, [CLI, 'keys', 'create', '--name', name, '--json', '--data-dir', dataDir, ...limits]);
  return JSON.parse(stdout) as CreatedKey;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function expectError(response: JsonResponse, status: number, message: RegExp): void {
  expect({ status: response.status, body: response.body }).toEqual({ status, body: { status: 'error', message: expect.stringMatching(message), code: expect.any(String) } });
}

/** An HTTP server on loopback that records each request and answers with the next status of `answers` (the last repeats). */
class LocalServer {
  readonly hits: { path: string; body: Buffer; headers: http.IncomingHttpHeaders }[] = [];
  readonly #server: http.Server;
  url = '';

  constructor(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, hit: number) => void) {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.hits.push({ path: req.url ?? '', body, headers: req.headers });
        handler(req, res, body, this.hits.length);
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  hitsOn(p: string): number {
    return this.hits.filter((h) => h.path === p).length;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe('with API keys', () => {
  let server: DiffusekitServer;
  let dataDir: string;
  let hooks: CreatedKey;
  let receiver: LocalServer;
  const answers = [500, 500, 200];

  beforeAll(async () => {
    dataDir = tempDataDir();
    // Created before the server starts, as an operator would; the others are made while it runs.
    hooks = await cliCreateKey(dataDir, 'hooks');
    receiver = new LocalServer((_req, res, _body, hit) => res.writeHead(answers[Math.min(hit, answers.length) - 1]!).end('ok'));
    await receiver.listen();
    server = await startServer({ dataDir, auth: true, adminKey: ADMIN_KEY, allowHosts: ['127.0.0.1'], webhookBaseDelayMs: 50, syncWaitSeconds: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const api = (route: string, body: unknown, headers: Record<string, string> = {}) => post(`${server.url}${route}`, body, headers);
  const createKey = async (name: string, limits: Record<string, number> = {}): Promise<CreatedKey> => {
    const response = await api('/api/v6/keys/create', { key: ADMIN_KEY, name, ...limits });
    expect(response.status).toBe(200);
    return response.body as CreatedKey;
  };
  const text2img = (key: string | undefined, extra: Record<string, unknown> = {}) => api('/api/v6/images/text2img', { ...(key ? { key } : {}), prompt: 'a red bicycle', ...SMALL, ...extra });

  it('answers 401 in JSON without a key, with an unknown key and with a revoked key', async () => {
    const missing = await text2img(undefined);
    expectError(missing, 401, /API key is required/);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expectError(await api('/api/v6/system_load', {}), 401, /API key is required/);
    expectError(await api('/api/v6/images/fetch/1', {}), 401, /API key is required/);
    const unknown = `dk_${'A'.repeat(43)}`;
    expectError(await text2img(unknown), 401, /^The API key is not valid$/);
    expectError(await api('/api/v6/system_load', {}, bearer(unknown)), 401, /^The API key is not valid$/);
    expectError(await api('/api/v6/system_load', {}, { authorization: 'Basic abc' }), 401, /Bearer <key>/);

    const doomed = await createKey('doomed');
    expect((await api('/api/v6/system_load', { key: doomed.key })).status).toBe(200);
    const revoked = await api('/api/v6/keys/revoke', { id: doomed.id }, bearer(ADMIN_KEY));
    expect(revoked.body).toMatchObject({ status: 'success', already_revoked: false, id: doomed.id });
    expectError(await api('/api/v6/system_load', { key: doomed.key }), 401, /^The API key has been revoked$/);
    expectError(await text2img(doomed.key), 401, /revoked/);
    // No message repeats the key.
    expect(JSON.stringify((await text2img(doomed.key)).body)).not.toContain(doomed.key);
  });

  it('takes the key in the body or as Authorization: Bearer', async () => {
    // Made by the CLI while the server runs on the same data directory.
    const cli = await cliCreateKey(dataDir, 'cli-while-running');
    expect((await api('/api/v6/system_load', { key: cli.key })).body.status).toBe('success');
    const viaGet = await fetch(`${server.url}/api/v6/system_load`, { headers: bearer(cli.key) });
    expect(viaGet.status).toBe(200);
    expect(((await viaGet.json()) as { status: string }).status).toBe('success');
    const submitted = await text2img(undefined, { seed: 3 });
    expect(submitted.status).toBe(401);
    const viaHeader = await api('/api/v6/images/text2img', { prompt: 'a red bicycle', ...SMALL, seed: 3 }, bearer(cli.key));
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.status).toBe('processing');
    const done = await fetchUntilDone(server, viaHeader.body.id, { key: cli.key });
    expect(done.body).toMatchObject({ status: 'success', id: viaHeader.body.id });
    // The same key in both places is fine; two different keys are not.
    expect((await api('/api/v6/system_load', { key: cli.key }, bearer(cli.key))).status).toBe(200);
    expectError(await api('/api/v6/system_load', { key: cli.key }, bearer(hooks.key)), 401, /different keys/);
  });

  it('answers 429 with Retry-After over the rate limit, counting fetch and system_load too', async () => {
    const limited = await cliCreateKey(dataDir, 'limited', '--rate', '1');
    expect((await api('/api/v6/system_load', { key: limited.key })).status).toBe(200);
    const over = await api('/api/v6/images/fetch/999999', { key: limited.key });
    expectError(over, 429, /Rate limit of 1 requests per second exceeded/);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expectError(await text2img(limited.key), 429, /Rate limit/);
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    // After Retry-After the request gets through (here to a 404: there is no such job).
    expectError(await api('/api/v6/images/fetch/999999', { key: limited.key }), 404, /No job 999999/);
  });

  it('answers 402 over the monthly image quota', async () => {
    const metered = await createKey('metered', { monthly_quota: 1 });
    const two = await text2img(metered.key, { samples: 2 });
    expectError(two, 402, /Monthly image quota exceeded: 0 of 1 images used this month and this request needs 2/);
    const one = await text2img(metered.key);
    expect(one.status).toBe(200);
    expectError(await text2img(metered.key), 402, /1 of 1 images used/);
    const listed = await api('/api/v6/keys/list', { key: ADMIN_KEY });
    expect(listed.body.keys.find((k: { id: string }) => k.id === metered.id)).toMatchObject({ monthly_quota: 1, images_this_month: 1 });
    await fetchUntilDone(server, one.body.id, { key: metered.key });
  });

  it('answers 429 when a key already has max_concurrent jobs queued or running', async () => {
    const single = await cliCreateKey(dataDir, 'single', '--max-concurrent', '1');
    const first = await text2img(single.key, { seed: 1 });
    expect(first.body.status).toBe('processing');
    const second = await text2img(single.key, { seed: 2 });
    expectError(second, 429, /already has 1 jobs queued or running \(at most 1\)/);
    expect(second.headers.get('retry-after')).toBe('5');
    // Other keys are not held back by this one.
    const other = await text2img(hooks.key, { seed: 2 });
    expect(other.status).toBe(200);
    expect((await fetchUntilDone(server, first.body.id, { key: single.key })).body.status).toBe('success');
    const third = await text2img(single.key, { seed: 3 });
    expect(third.status).toBe(200);
    await fetchUntilDone(server, third.body.id, { key: single.key });
    await fetchUntilDone(server, other.body.id, { key: hooks.key });
  });

  it("does not let a key fetch or cancel another key's job (404, as for a missing job)", async () => {
    const alice = await createKey('alice');
    const bob = await createKey('bob');
    const job = await text2img(alice.key, { seed: 11 });
    const id = job.body.id as number;
    const missing = await api(`/api/v6/images/fetch/${id}`, { key: bob.key });
    expectError(missing, 404, new RegExp(`^No job ${id}$`));
    expectError(await api(`/api/v6/images/cancel/${id}`, { key: bob.key }), 404, new RegExp(`^No job ${id}$`));
    const viaGet = await fetch(`${server.url}/api/v6/images/fetch/${id}`, { headers: bearer(bob.key) });
    expect(viaGet.status).toBe(404);
    // The owner and the admin see it, and it was not cancelled by bob's attempt.
    const done = await fetchUntilDone(server, id, { key: alice.key });
    expect(done.body).toMatchObject({ status: 'success', id });
    expect((await api(`/api/v6/images/fetch/${id}`, { key: ADMIN_KEY })).body).toMatchObject({ status: 'success', id });
  });

  it('serves /api/v6/keys/* to the admin key only (403 for a normal key)', async () => {
    const created = await api('/api/v6/keys/create', { name: 'made-by-admin', rate_limit: 5, monthly_quota: 10, max_concurrent: 2 }, bearer(ADMIN_KEY));
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ status: 'success', name: 'made-by-admin', rate_limit: 5, monthly_quota: 10, max_concurrent: 2, revoked_at: null });
    expect(created.body.key).toMatch(/^dk_/);
    expect(created.body.webhook_secret).toMatch(/^whsec_/);
    const listed = await fetch(`${server.url}/api/v6/keys/list`, { headers: bearer(ADMIN_KEY) });
    const keys = ((await listed.json()) as { keys: { name: string; key?: string }[] }).keys;
    expect(keys.map((k) => k.name)).toEqual(expect.arrayContaining(['hooks', 'made-by-admin']));
    expect(keys.every((k) => k.key === undefined)).toBe(true);

    const normal = created.body.key as string;
    expect((await api('/api/v6/system_load', { key: normal })).status).toBe(200);
    for (const [route, body] of [['/api/v6/keys/create', { name: 'sneaky' }], ['/api/v6/keys/list', {}], ['/api/v6/keys/revoke', { name: 'hooks' }]] as const) {
      expectError(await api(route, { key: normal, ...body }), 403, /^This route needs the admin key$/);
      expectError(await api(route, body, bearer(normal)), 403, /admin key/);
      expectError(await api(route, body), 401, /API key is required/);
    }
    const getList = await fetch(`${server.url}/api/v6/keys/list`, { headers: bearer(normal) });
    expect(getList.status).toBe(403);
    // hooks is still active: the refused revoke did nothing.
    expect((await api('/api/v6/system_load', { key: hooks.key })).status).toBe(200);
    const revoked = await api('/api/v6/keys/revoke', { key: ADMIN_KEY, name: 'made-by-admin' });
    expect(revoked.body).toMatchObject({ status: 'success', already_revoked: false, name: 'made-by-admin' });
    expectError(await api('/api/v6/system_load', { key: normal }), 401, /revoked/);
  });

  it("delivers the final v6 response to the webhook, signed with the key's secret, retrying until the receiver accepts", async () => {
    const hook = `${receiver.url}/hook`;
    const submitted = await text2img(hooks.key, { seed: 21, webhook: hook, track_id: 'order-42' });
    expect(submitted.status).toBe(200);
    expect(submitted.body).toMatchObject({ status: 'processing', track_id: 'order-42', webhook_status: 'pending' });
    const id = submitted.body.id as number;

    await eventually(() => receiver.hits.length >= 3, 60_000, 'three webhook deliveries');
    const hits = receiver.hits.slice(0, 3);
    expect(hits.every((h) => h.path === '/hook')).toBe(true);
    // The same signed body each time: the final v6 JSON.
    expect(new Set(hits.map((h) => h.body.toString())).size).toBe(1);
    const body = JSON.parse(hits[2]!.body.toString());
    expect(body).toMatchObject({ status: 'success', id, track_id: 'order-42', nsfw_content_detected: [false] });
    expect(body.output).toHaveLength(1);
    expect(body.output[0]).toMatch(new RegExp(`^${server.url}/generations/`));
    for (const hit of hits) {
      expect(hit.headers['content-type']).toMatch(/^application\/json/);
      expect(hit.headers['x-diffusekit-job']).toBe(String(id));
      const signature = hit.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string;
      expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(verifyWebhookSignature(hit.body, signature, hooks.webhook_secret)).toBe(true);
    }
    const signature = hits[0]!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string;
    expect(verifyWebhookSignature(hits[0]!.body, signature, 'whsec_someone-else')).toBe(false);
    expect(verifyWebhookSignature(`${hits[0]!.body.toString()} `, signature, hooks.webhook_secret)).toBe(false);

    const fetched = await eventually(async () => {
      const r = await api(`/api/v6/images/fetch/${id}`, { key: hooks.key });
      return r.body.webhook_status === 'delivered' ? r : undefined;
    }, 30_000, 'webhook_status delivered');
    expect(fetched.body).toMatchObject({ status: 'success', id, track_id: 'order-42', output: body.output });
    // Delivered means done: no further tries.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.hits).toHaveLength(3);
    const image = await fetch(body.output[0]);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
  });
});

describe('without API keys', () => {
  let server: DiffusekitServer;
  let images: LocalServer;
  let png: Buffer;
  const limits = { maxBodyBytes: 100_000 };

  beforeAll(async () => {
    png = await testPng(64, 64);
    images = new LocalServer((req, res) => {
      if (req.url === '/x.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      if (req.url === '/redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${images.port}/x.png` }).end();
      res.writeHead(404).end();
    });
    await images.listen();
    // "localhost" is allow-listed by name; 127.0.0.1 (the same machine under another name) is not.
    server = await startServer({ allowHosts: ['localhost'], limits, syncWaitSeconds: 120 });
  });
  afterAll(async () => {
    await server?.close();
    await images?.close();
    if (server) fs.rmSync(server.config.dataDir, { recursive: true, force: true });
  });

  const api = (route: string, body: unknown, headers: Record<string, string> = {}) => post(`${server.url}${route}`, body, headers);
  const jobCount = () => {
    const db = new Database(path.join(server.config.dataDir, 'diffusekit.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const queued = async () => (await api('/api/v6/system_load', {})).body.queue_num as number;
  const inputs = () => fs.readdirSync(path.join(server.config.dataDir, 'inputs')).length;

  it('uses an allow-listed local image URL as init_image', async () => {
    const url = `http://localhost:${images.port}/x.png`;
    const response = await api('/api/v6/images/img2img', { prompt: 'a watercolor', init_image: url, ...SMALL, seed: 5, strength: 0.5 });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'success', meta: { width: 64, height: 64, strength: 0.5 } });
    expect(images.hitsOn('/x.png')).toBe(1);
  });

  it('refuses image URLs that reach loopback, link-local or private addresses (400, no job)', async () => {
    const jobs = jobCount();
    const queue = await queued();
    const before = images.hits.length;
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:${images.port}/x.png`, /127\.0\.0\.1 is a loopback address/],
      ['http://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a link-local address/],
      ['http://10.0.0.1/a.png', /10\.0\.0\.1 is a private address/],
      ['http://[::1]/a.png', /::1 is a loopback address/],
      ['http://[::ffff:127.0.0.1]/a.png', /loopback address/],
      // The first hop is allowed (localhost, by name); the redirect leads to 127.0.0.1, which is not.
      [`http://localhost:${images.port}/redirect`, new RegExp(`Refusing to fetch http://127\\.0\\.0\\.1:${images.port}/x\\.png: 127\\.0\\.0\\.1 is a loopback address`)],
    ];
    for (const [url, reason] of cases) {
      const response = await api('/api/v6/images/img2img', { prompt: 'x', init_image: url, ...SMALL });
      expectError(response, 400, reason);
      expect(response.body.message).toMatch(/allowHosts/);
    }
    expectError(await api('/api/v6/images/super_resolution', { init_image: 'http://169.254.169.254/latest/meta-data' }), 400, /link-local/);
    expectError(await api('/api/v6/images/outpaint', { prompt: 'x', init_image: 'http://10.1.2.3/a.png', left: 64 }), 400, /private address/);
    // Only the allowed first hop of the redirect reached the image server, never /x.png.
    expect(images.hits.slice(before).map((h) => h.path)).toEqual(['/redirect']);
    expect(jobCount()).toBe(jobs);
    expect(await queued()).toBe(queue);
    expect(inputs()).toBe(0);
  });

  it('refuses a webhook URL that is not http(s) at submission', async () => {
    const jobs = jobCount();
    expectError(await api('/api/v6/images/text2img', { prompt: 'x', ...SMALL, webhook: 'file:///etc/passwd' }), 400, /webhook: .*only http and https/);
    expectError(await api('/api/v6/images/text2img', { prompt: 'x', ...SMALL, webhook: 'http://user:pw@example.com/' }), 400, /webhook: .*credentials/);
    expect(jobCount()).toBe(jobs);
  });

  it('answers malformed requests with 400 naming the problem, and creates no job', async () => {
    const jobs = jobCount();
    const notPng = Buffer.from('this is plain text, not an image at all').toString('base64');
    const cases: [string, unknown, RegExp][] = [
      ['text2img', '{"prompt": "a cat", ', /not valid JSON/],
      ['text2img', { prompt: 'a cat', width: 'abc' }, /^width must be integer$/],
      ['text2img', { prompt: 'a cat', width: 100000 }, /^width must be <= 4096$/],
      ['text2img', { prompt: 'a cat', width: 100 }, /width must be multiple of 8/],
      ['text2img', { prompt: 'a cat', width: 2048, height: 2048 }, /2048x2048 is larger than this server allows \(1048576 pixels/],
      ['text2img', { width: 64 }, /^prompt is required$/],
      ['img2img', { prompt: 'a cat' }, /^init_image is required$/],
      ['img2img', { prompt: 'a cat', init_image: 'not base64 at all!' }, /^init_image: expected an http\(s\) URL, a data URL or base64/],
      ['img2img', { prompt: 'a cat', init_image: 'data:image/png;base64,@@@@' }, /^init_image: the data URL is not valid base64/],
      ['img2img', { prompt: 'a cat', init_image: notPng }, /^init_image: not a readable image/],
      ['img2img', { prompt: 'a cat', init_image: 'ftp://example.com/a.png' }, /^init_image: expected an http\(s\) URL/],
      ['text2img', { prompt: 'a cat', model_id: 'sd-9000' }, /model_id: no checkpoint model 'sd-9000' is served \(available: synthetic-sdxs-/],
      ['text2img', { prompt: 'a cat', scheduler: 'NoSuchScheduler' }, /scheduler.*NoSuchScheduler/],
      ['text2img', { prompt: 'a cat', samples: 5 }, /^samples must be <= 4$/],
      ['text2img', { prompt: 'a cat', num_inference_steps: 0 }, /num_inference_steps must be >= 1/],
      ['text2img', { prompt: 'a cat', safety_checker: 'maybe' }, /safety_checker must be one of "yes", "no"/],
      ['text2img', { prompt: 'a cat', lora_model: '../../etc/passwd' }, /lora_model: '..\/..\/etc\/passwd' is not a LoRA id/],
      ['super_resolution', { init_image: `data:image/png;base64,${notPng}` }, /init_image: not a readable image/],
      // Refused after init_image was read and stored: the stored copy must not stay behind.
      ['inpaint', { prompt: 'a cat', init_image: png.toString('base64'), mask_image: 'http://10.0.0.1/mask.png' }, /10\.0\.0\.1 is a private address/],
      ['img2img', { prompt: 'a cat', init_image: png.toString('base64'), width: 2048, height: 2048 }, /2048x2048 is larger than/],
    ];
    for (const [endpoint, body, message] of cases) {
      const response = await api(`/api/v6/images/${endpoint}`, body);
      expect({ endpoint, body, status: response.status, response: response.body }).toEqual({
        endpoint, body, status: 400, response: { status: 'error', message: expect.stringMatching(message), code: expect.any(String) },
      });
    }
    const send = (type: string) => fetch(`${server.url}/api/v6/images/text2img`, { method: 'POST', headers: { 'content-type': type }, body: 'prompt=a cat' });
    const xml = await send('application/xml');
    expect(xml.status).toBe(415);
    expect(await xml.json()).toEqual({ status: 'error', message: expect.stringMatching(/application\/json/), code: 'unsupported_media_type' });
    const text = await send('text/plain');
    expect(text.status).toBe(400);
    expect(await text.json()).toEqual({ status: 'error', message: 'body must be object', code: 'invalid_request' });
    expectError(await api('/api/v6/images/fetch/abc', {}), 400, /id must be integer/);
    expectError(await api('/api/v6/images/fetch/424242', {}), 404, /No job 424242/);
    expectError(await api('/api/v6/nothing', {}), 404, /No route POST \/api\/v6\/nothing/);
    expect(jobCount()).toBe(jobs);
    await eventually(() => inputs() === 0, 5000, 'stored inputs of refused requests removed');
  });

  it('answers 413 in JSON to a body over maxBodyBytes, in JSON or form encoding', async () => {
    const big = `data:image/png;base64,${'A'.repeat(limits.maxBodyBytes)}`;
    expectError(await api('/api/v6/images/img2img', { prompt: 'x', init_image: big }), 413, /larger than this server accepts/);
    const form = await fetch(`${server.url}/api/v6/images/img2img`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'x', init_image: big }).toString(),
    });
    expect(form.status).toBe(413);
    expect(await form.json()).toMatchObject({ status: 'error', message: expect.stringMatching(/larger/) });
  });

  it('accepts a form-encoded body with numbers as strings', async () => {
    const response = await fetch(`${server.url}/api/v6/images/text2img`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'a lighthouse at dusk', width: '64', height: '64', num_inference_steps: '1', seed: '7', samples: '1', guidance_scale: '5.5', track_id: '77' }).toString(),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, any>;
    expect(body).toMatchObject({ status: 'success', track_id: '77', meta: { width: 64, height: 64, seed: 7, seeds: [7], num_inference_steps: 1, guidance_scale: 5.5, samples: 1 } });
  });

  it('blurs the output and flags it when safety_checker is "yes" and the prompt has a flagged word', async () => {
    const ask = (safety_checker: string) => api('/api/v6/images/text2img', { prompt: 'a nude figure, oil painting', ...SMALL, seed: 1234, safety_checker });
    const stdev = async (url: string) => {
      const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
      const { channels } = await sharp(bytes).stats();
      return channels.slice(0, 3).reduce((sum, c) => sum + c.stdev, 0) / 3;
    };
    const flagged = await ask('yes');
    expect(flagged.body).toMatchObject({ status: 'success', nsfw_content_detected: [true], meta: { safety_checker: 'yes', nsfw_reason: "the prompt contains 'nude'" } });
    const plain = await ask('no');
    expect(plain.body).toMatchObject({ status: 'success', nsfw_content_detected: [false], meta: { safety_checker: 'no', seeds: [1234] } });
    expect(plain.body.meta).not.toHaveProperty('nsfw_reason');
    const [blurred, sharpStdev] = [await stdev(flagged.body.output[0]), await stdev(plain.body.output[0])];
    console.log(`safety blur: pixel stdev ${blurred.toFixed(1)} (flagged) vs ${sharpStdev.toFixed(1)} (same seed, unflagged)`);
    expect(sharpStdev).toBeGreaterThan(10);
    expect(blurred).toBeLessThan(sharpStdev * 0.5);
  });
});

describe('the admin key from the environment', () => {
  it('DIFFUSEKIT_ADMIN_KEY manages keys over the API when no adminKey option is given', async () => {
    const admin = 'dk_env_admin_key_0123456789';
    process.env.DIFFUSEKIT_ADMIN_KEY = admin;
    let server: DiffusekitServer | undefined;
    try {
      server = await startServer({ auth: true });
      expect(server.config.adminKey).toBe(admin);
      const created = await post(`${server.url}/api/v6/keys/create`, { key: admin, name: 'from-env' });
      expect(created.status).toBe(200);
      expect((await post(`${server.url}/api/v6/system_load`, { key: created.body.key })).status).toBe(200);
      expect((await post(`${server.url}/api/v6/keys/create`, { key: created.body.key, name: 'not-admin' })).status).toBe(403);
    } finally {
      delete process.env.DIFFUSEKIT_ADMIN_KEY;
      await server?.close();
    }
  });
});

describe('with a full queue', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ limits: { maxQueued: 0 } });
  });
  afterAll(async () => {
    await server?.close();
    if (server) fs.rmSync(server.config.dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After, and keeps no stored input of the refused job', async () => {
    const png = await testPng(64, 64);
    const response = await post(`${server.url}/api/v6/images/img2img`, { prompt: 'x', init_image: png.toString('base64'), ...SMALL });
    expectError(response, 503, /The queue is full \(0 jobs\)/);
    expect(response.headers.get('retry-after')).toBe('30');
    const inputsDir = path.join(server.config.dataDir, 'inputs');
    await eventually(() => fs.readdirSync(inputsDir).length === 0, 5000, 'the refused job input removed');
  });
});
