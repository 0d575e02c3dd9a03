import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/server/store/database.js';
import { VERSION } from '../../src/version.js';
import {
  DEFAULT_WEBHOOK_RETRY,
  retryDelayMs,
  WebhookDispatcher,
  type WebhookDeliveryStatus,
  type WebhookDispatcherOptions,
} from '../../src/server/webhooks/dispatcher.js';
import { signWebhookBody, verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER } from '../../src/server/webhooks/signature.js';

const SECRET = 'whsec_test';
const BODY = JSON.stringify({ id: 'job-1', status: 'succeeded', output: ['a.png'] });
const RETRY = { attempts: 5, baseDelayMs: 30, factor: 2, maxDelayMs: 10_000 };

interface Hit {
  at: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** A webhook receiver on 127.0.0.1 that answers each request with the next status from `answers` (the last repeats). */
class Receiver {
  readonly hits: Hit[] = [];
  private readonly server: http.Server;

  constructor(private readonly answers: number[]) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.hits.push({ at: performance.now(), body: Buffer.concat(chunks), headers: req.headers });
        res.writeHead(this.answers[Math.min(this.hits.length, this.answers.length) - 1]!).end('ok');
      });
    });
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Polls until `condition` holds; the deadline only bounds a failing test, no assertion depends on it. */
async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const tempDirs: string[] = [];
function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-webhooks-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('webhook signatures', () => {
  it('verify the exact body under the right secret only', () => {
    const header = signWebhookBody(BODY, SECRET);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(BODY, header, SECRET)).toBe(true);
    expect(verifyWebhookSignature(Buffer.from(BODY), header, SECRET)).toBe(true);
    expect(verifyWebhookSignature(`${BODY} `, header, SECRET)).toBe(false);
    expect(verifyWebhookSignature(BODY, header, 'other')).toBe(false);
    expect(verifyWebhookSignature(BODY, undefined, SECRET)).toBe(false);
    expect(verifyWebhookSignature(BODY, 'sha256=00', SECRET)).toBe(false);
  });

  it('back off exponentially up to a cap', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, RETRY))).toEqual([30, 60, 120, 240]);
    expect(retryDelayMs(10, { ...DEFAULT_WEBHOOK_RETRY, maxDelayMs: 5000 })).toBe(5000);
  });
});

describe('WebhookDispatcher', () => {
  let db: Db;
  let dataDir: string;
  let receivers: Receiver[];
  let dispatchers: WebhookDispatcher[];
  let changes: Array<[string, WebhookDeliveryStatus]>;

  beforeEach(() => {
    dataDir = tempDataDir();
    db = openDatabase(dataDir);
    receivers = [];
    dispatchers = [];
    changes = [];
  });

  afterEach(async () => {
    for (const dispatcher of dispatchers) await dispatcher.close();
    for (const receiver of receivers) await receiver.close();
    if (db.open) db.close();
  });

  function dispatcher(options: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher {
    const created = new WebhookDispatcher({
      db,
      fetchOptions: { allow: ['127.0.0.1'], timeoutMs: 2000 },
      retry: RETRY,
      onChange: (jobId, status) => changes.push([jobId, status]),
      ...options,
    });
    dispatchers.push(created);
    return created;
  }

  async function receiver(answers: number[], port?: number): Promise<[Receiver, string]> {
    const created = new Receiver(answers);
    receivers.push(created);
    return [created, await created.listen(port)];
  }

  it('delivers a signed JSON POST', async () => {
    const [hook, url] = await receiver([200]);
    const webhooks = dispatcher();
    webhooks.enqueue('job-1', url, BODY, SECRET);
    expect(webhooks.status('job-1')?.status).toBe('pending');
    await waitFor(() => webhooks.status('job-1')?.status === 'delivered');

    expect(webhooks.status('job-1')).toEqual({ status: 'delivered', attempts: 1, lastStatus: 200 });
    expect(changes).toEqual([['job-1', 'pending'], ['job-1', 'delivered']]);
    const [hit] = hook.hits;
    expect(hit!.body.toString()).toBe(BODY);
    expect(hit!.headers['content-type']).toBe('application/json');
    expect(hit!.headers['user-agent']).toBe(`diffusekit/${VERSION}`);
    expect(hit!.headers['x-diffusekit-job']).toBe('job-1');
    expect(verifyWebhookSignature(hit!.body, hit!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string, SECRET)).toBe(true);
  });

  it('retries with growing gaps until the receiver accepts', async () => {
    const [hook, url] = await receiver([500, 500, 200]);
    const webhooks = dispatcher();
    webhooks.enqueue('job-1', url, BODY, SECRET);
    await waitFor(() => webhooks.status('job-1')?.status === 'delivered');

    expect(webhooks.status('job-1')).toEqual({ status: 'delivered', attempts: 3, lastStatus: 200 });
    expect(hook.hits).toHaveLength(3);
    // Timers never fire early (allow 2 ms of clock rounding); how late they fire depends on the machine.
    const gaps = [hook.hits[1]!.at - hook.hits[0]!.at, hook.hits[2]!.at - hook.hits[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(30 - 2);
    expect(gaps[1]).toBeGreaterThanOrEqual(60 - 2);
  });

  it('gives up after the configured number of tries, keeping the last error', async () => {
    const [hook, url] = await receiver([500]);
    const webhooks = dispatcher();
    webhooks.enqueue('job-1', url, BODY, SECRET);
    await waitFor(() => webhooks.status('job-1')?.status === 'failed');
    await webhooks.close();

    expect(hook.hits).toHaveLength(5);
    expect(webhooks.status('job-1')).toEqual({
      status: 'failed', attempts: 5, lastStatus: 500, lastError: `${url} answered 500 Internal Server Error`,
    });
    expect(changes).toEqual([['job-1', 'pending'], ['job-1', 'failed']]);
  });

  it('fails at once, without a try on the network, when the URL is refused', async () => {
    const webhooks = dispatcher({ fetchOptions: { timeoutMs: 2000 } });
    webhooks.enqueue('job-1', 'http://10.0.0.1/hook', BODY, SECRET);
    await waitFor(() => webhooks.status('job-1')?.status === 'failed');

    expect(webhooks.status('job-1')).toEqual({
      status: 'failed',
      attempts: 1,
      lastError: 'Refusing to fetch http://10.0.0.1/hook: 10.0.0.1 is a private address (allow it with --allow-host (server option allowHosts))',
    });
  });

  it('resumes a pending delivery after a restart', async () => {
    // A port with nothing listening: the receiver is down.
    const [probe, downUrl] = await receiver([200]);
    await probe.close();
    receivers = [];
    const port = Number(new URL(downUrl).port);

    const before = dispatcher({ retry: { ...RETRY, attempts: 100 } });
    before.enqueue('job-1', downUrl, BODY, SECRET);
    await waitFor(() => (before.status('job-1')?.attempts ?? 0) >= 1);
    await before.close();
    db.close();
    expect(() => before.enqueue('job-2', downUrl, BODY, SECRET)).toThrow(/closed/);

    const [hook] = await receiver([200], port);
    db = openDatabase(dataDir);
    const after = dispatcher({ retry: { ...RETRY, attempts: 100 } });
    expect(after.status('job-1')).toMatchObject({ status: 'pending', lastError: expect.stringMatching(/ECONNREFUSED/) });
    after.start();
    await waitFor(() => after.status('job-1')?.status === 'delivered');

    expect(hook.hits).toHaveLength(1);
    expect(verifyWebhookSignature(hook.hits[0]!.body, hook.hits[0]!.headers['x-diffusekit-signature'] as string, SECRET)).toBe(true);
  });

  it('replaces an earlier delivery for the same job', async () => {
    const [hook, url] = await receiver([200]);
    const webhooks = dispatcher();
    webhooks.enqueue('job-1', url, '{"v":1}', SECRET);
    webhooks.enqueue('job-1', url, '{"v":2}', SECRET);
    await waitFor(() => webhooks.status('job-1')?.status === 'delivered');
    await webhooks.close();

    expect(hook.hits.map((hit) => hit.body.toString())).toEqual(['{"v":2}']);
    expect(webhooks.status('job-1')?.attempts).toBe(1);
  });
});
