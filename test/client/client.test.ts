import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusekitApiError, DiffusekitClient, verifyWebhook, type JobEvent } from '../../lib/client/index.js';
import { readPngText } from '../../lib/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { eventually, startServer, testPng } from '../server/helpers.js';

const ADMIN_KEY = 'admin-key-for-the-client-tests-0123456789';
const tiny = { width: 64, height: 64, num_inference_steps: 1 } as const;

/** A webhook receiver on 127.0.0.1 that keeps the raw bodies and signatures it gets. */
async function receiver() {
  const received: { body: string; signature: string | undefined }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: request.headers['x-diffusekit-signature'] as string | undefined });
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) };
}

describe('diffusekit/client against a real server', () => {
  let server: DiffusekitServer;
  let admin: DiffusekitClient;
  let client: DiffusekitClient;
  let webhookSecret: string;
  beforeAll(async () => {
    // syncWait 0: every job answers "processing", so generate() has to wait for it.
    server = await startServer({ auth: true, adminKey: ADMIN_KEY, syncWaitSeconds: 0, allowHosts: ['127.0.0.1'] });
    admin = new DiffusekitClient({ baseUrl: server.url, key: ADMIN_KEY });
    const created = await admin.keys.create({ name: 'client-tests', max_concurrent: 4 });
    webhookSecret = created.webhook_secret;
    client = new DiffusekitClient({ baseUrl: server.url, key: created.key });
  });
  afterAll(async () => server?.close());

  it('loads nothing of the server, the engine or node: built-ins at run time', () => {
    const dir = path.resolve('lib/client');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js'))) {
      const imports = [...fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
      for (const spec of imports) expect({ file, spec }).toEqual({ file, spec: expect.stringMatching(/^\.\/[\w-]+\.js$/) });
    }
  });

  it('keys: create (above) and list with the admin key; an ordinary key is refused with the server code', async () => {
    const keys = await admin.keys.list();
    expect(keys.map((k) => k.name)).toContain('client-tests');
    const refused = await client.keys.list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DiffusekitApiError);
    expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('generate() waits for a processing job over the event stream and returns the images with their seeds', async () => {
    const events: JobEvent[] = [];
    const { job, images } = await client.generate('text2img', { ...tiny, prompt: 'a red barn', seed: 1234, samples: 2 }, { onEvent: (e) => events.push(e) });
    expect(job.status).toBe('success');
    expect(images.map((i) => i.seed)).toEqual([1234, 1235]);
    for (const image of images) {
      const meta = await sharp(image.bytes).metadata();
      expect([meta.format, meta.width, meta.height, image.contentType]).toEqual(['png', 64, 64, 'image/png']);
    }
    expect(readPngText(Buffer.from(images[0]!.bytes!)).parameters).toContain('Seed: 1234');
    // The submit answer first (processing), the stream's final state last.
    const states = events.filter((e) => e.type === 'state').map((e) => (e as { job: { status: string } }).job.status);
    expect(states[0]).toBe('processing');
    expect(states.at(-1)).toBe('success');
    for (const e of events) if (e.type === 'progress') expect(e.progress).toMatchObject({ steps: 1, images: 2 });
  });

  it("the event stream reports progress and latent previews of a longer job", async () => {
    const response = await client.text2img({ width: 128, height: 128, num_inference_steps: 8, prompt: 'a lighthouse', seed: 5 });
    expect(response.status).toBe('processing');
    const events: JobEvent[] = [];
    for await (const event of client.events(response.id)) events.push(event);
    const progress = events.filter((e) => e.type === 'progress');
    const previews = events.filter((e) => e.type === 'preview');
    expect(progress.length).toBeGreaterThan(0);
    expect(previews.length).toBeGreaterThan(0);
    const preview = previews[0] as Extract<JobEvent, { type: 'preview' }>;
    const png = await sharp(Buffer.from(preview.image.replace(/^data:image\/png;base64,/, ''), 'base64')).metadata();
    expect(png.format).toBe('png');
    expect(events.at(-1)).toMatchObject({ type: 'state', job: { status: 'success', id: response.id } });
  });

  it("generate() by polling fetch after the server's ETA; img2img, inpaint, outpaint and super_resolution", async () => {
    const png = (await testPng(64, 64)).toString('base64');
    const white = (await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } }).png().toBuffer()).toString('base64');
    const img2img = await client.generate('img2img', { ...tiny, prompt: 'x', init_image: png, strength: 0.5, seed: 3 }, { wait: 'poll' });
    expect(img2img.images[0]!.seed).toBe(3);
    const inpaint = await client.generate('inpaint', { ...tiny, prompt: 'x', init_image: png, mask_image: white, seed: 4 });
    expect((await sharp(inpaint.images[0]!.bytes).metadata()).width).toBe(64);
    const outpaint = await client.generate('outpaint', { ...tiny, prompt: 'x', init_image: png, left: 16, seed: 5 });
    expect((await sharp(outpaint.images[0]!.bytes).metadata()).width).toBe(80);
    const upscaled = await client.generate('super_resolution', { init_image: png, scale: 2 }, { download: false });
    expect(upscaled.images[0]!.bytes).toBeUndefined();
    const { bytes } = await client.download(upscaled.images[0]!.url);
    expect((await sharp(bytes).metadata()).width).toBe(128);
  });

  it('fetch, cancel and system_load', async () => {
    const queued = await client.text2img({ width: 256, height: 256, num_inference_steps: 30, prompt: 'a long one' });
    const answer = await client.cancel(queued.id);
    // A running job stops within a step; on a busy machine that can outlast the cancel call's short wait.
    const cancelled = answer.status === 'processing' ? await eventually(async () => {
      const state = await client.fetch(queued.id);
      return state.status === 'processing' ? undefined : state;
    }, 60_000, 'the cancelled job to end') : answer;
    expect(cancelled).toMatchObject({ status: 'error', cancelled: true, code: 'cancelled' });
    const mine = await client.jobs({ limit: 3 });
    expect(mine.map((j) => j.id)[0]).toBe(queued.id);
    expect(mine.length).toBeLessThanOrEqual(3);
    expect(mine.map((j) => j.id)).toEqual(mine.map((j) => j.id).sort((a, b) => b - a));
    const other = await admin.keys.create({ name: 'client-tests-other' });
    const otherClient = new DiffusekitClient({ baseUrl: server.url, key: other.key });
    expect(await otherClient.jobs()).toEqual([]);
    // The stream of an ended job is its final state alone; another key's job is a 404, as for fetch.
    const replay: JobEvent[] = [];
    for await (const event of client.events(queued.id)) replay.push(event);
    expect(replay).toEqual([{ type: 'state', job: expect.objectContaining({ id: queued.id, status: 'error', code: 'cancelled' }) }]);
    await expect(otherClient.events(queued.id).next()).rejects.toMatchObject({ status: 404, code: 'job_not_found' });
    expect((await admin.jobs({ limit: 50 })).map((j) => j.id)).toContain(queued.id);
    const load = await client.systemLoad();
    expect(load.status).toBe('success');
    expect(load.models.map((m) => m.role)).toContain('checkpoint');
  });

  it('typed errors carry the HTTP status and the server code; an aborted generate() cancels its job', async () => {
    const invalid = await client.text2img({ prompt: 'x', width: 63 }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ name: 'DiffusekitApiError', status: 400, code: 'invalid_request', message: expect.stringMatching(/width/) });
    const anonymous = new DiffusekitClient({ baseUrl: server.url });
    expect(await anonymous.systemLoad().catch((e: unknown) => e)).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await client.fetch(999_999).catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'job_not_found' });

    const controller = new AbortController();
    let id: number | undefined;
    const run = client.generate('text2img', { width: 256, height: 256, num_inference_steps: 30, prompt: 'never finished' }, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'state' && id === undefined) {
          id = e.job.id;
          controller.abort();
        }
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    const job = await eventually(async () => {
      const state = await client.fetch(id!);
      return state.status === 'processing' ? undefined : state;
    }, 30_000, 'the aborted job to end');
    expect(job).toMatchObject({ status: 'error', code: 'cancelled' });
  });

  it("verifyWebhook accepts the server's signed webhook and refuses a changed body or another secret", async () => {
    const hook = await receiver();
    try {
      const response = await client.text2img({ ...tiny, prompt: 'signed', seed: 9, webhook: hook.url, track_id: 'w1' });
      await eventually(() => hook.received.length > 0, 30_000, 'the webhook');
      const { body, signature } = hook.received[0]!;
      expect(JSON.parse(body)).toMatchObject({ id: response.id, status: 'success', track_id: 'w1' });
      expect(await verifyWebhook(body, signature, webhookSecret)).toBe(true);
      expect(await verifyWebhook(new TextEncoder().encode(body), signature, webhookSecret)).toBe(true);
      expect(await verifyWebhook(body.replace('success', 'failure'), signature, webhookSecret)).toBe(false);
      expect(await verifyWebhook(body, signature, `${webhookSecret}x`)).toBe(false);
      expect(await verifyWebhook(body, undefined, webhookSecret)).toBe(false);
      expect(await verifyWebhook(body, 'sha256=zz', webhookSecret)).toBe(false);
    } finally {
      await hook.close();
    }
  });
});
