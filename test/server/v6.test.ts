import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../lib/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { eventually, fetchUntilDone, post, startServer, testPng } from './helpers.js';

const tiny = { width: '64', height: '64', num_inference_steps: '1' };

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('v6 API on a real server', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ syncWaitSeconds: 60 });
  });
  afterAll(async () => server?.close());

  it('text2img answers success with output URLs, meta and the seed; numbers may be strings', async () => {
    const { status, body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a red barn', seed: '1234', samples: '2', track_id: 77 });
    expect(status).toBe(200);
    expect(body.status).toBe('success');
    expect(body.id).toBeTypeOf('number');
    expect(body.track_id).toBe('77');
    expect(body.output).toHaveLength(2);
    expect(body.nsfw_content_detected).toEqual([false, false]);
    expect(body.meta).toMatchObject({ prompt: 'a red barn', width: 64, height: 64, samples: 2, num_inference_steps: 1, seed: 1234, seeds: [1234, 1235], safety_checker: 'no' });
    expect(body.generationTime).toBeGreaterThan(0);
    const png = await download(body.output[0]);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    expect(readPngText(png).parameters).toContain('Seed: 1234');
    const second = await download(body.output[1]);
    expect(second.equals(png)).toBe(false);
  });

  it('is deterministic for a fixed seed, and random (and reported) for seed null', async () => {
    const a = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'x', seed: 7 });
    const b = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'x', seed: 7 });
    expect((await download(a.body.output[0])).equals(await download(b.body.output[0]))).toBe(true);
    const c = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'x', seed: null });
    expect(c.body.meta.seed).toBeTypeOf('number');
  });

  it('accepts form-encoded bodies and yes/no flags', async () => {
    const form = new URLSearchParams({ ...tiny, prompt: 'a boat', seed: '3', enhance_prompt: 'yes', output_format: 'webp' });
    const response = await fetch(`${server.url}/api/v6/images/text2img`, { method: 'POST', body: form });
    const body = (await response.json()) as Record<string, any>;
    expect(body.status).toBe('success');
    // This server has no prompt model: the prompt is used as given, and the response says so.
    expect(body.meta.enhance_prompt).toBe('unavailable');
    expect(body.meta.prompt).toBe('a boat');
    expect(body.output[0]).toMatch(/\.webp$/);
    expect((await sharp(await download(body.output[0])).metadata()).format).toBe('webp');
  });

  it('img2img from base64, a data URL and its own output URL (read from storage)', async () => {
    const png = await testPng(72, 64);
    const fromBase64 = await post(`${server.url}/api/v6/images/img2img`, { ...tiny, width: undefined, height: undefined, prompt: 'p', init_image: png.toString('base64'), strength: 0.5, seed: 1 });
    expect(fromBase64.body.status).toBe('success');
    expect(fromBase64.body.meta).toMatchObject({ width: 72, height: 64, strength: 0.5 });
    const dataUrl = await post(`${server.url}/api/v6/images/img2img`, { ...tiny, prompt: 'p', init_image: `data:image/png;base64,${png.toString('base64')}`, seed: 1 });
    expect(dataUrl.body.status).toBe('success');
    const chained = await post(`${server.url}/api/v6/images/img2img`, { ...tiny, prompt: 'p', init_image: dataUrl.body.output[0], output_format: 'jpeg', seed: 2 });
    expect(chained.body.status).toBe('success');
    expect(chained.body.output[0]).toMatch(/\.jpg$/);
  });

  it('negative_prompt and clip_skip reach the image and the meta', async () => {
    const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a barn', negative_prompt: 'fog, rain', clip_skip: '2', seed: 21 });
    expect(body.meta).toMatchObject({ negative_prompt: 'fog, rain', clip_skip: 2 });
    const infotext = readPngText(await download(body.output[0])).parameters;
    expect(infotext).toContain('a barn\nNegative prompt: fog, rain\n');
    expect(infotext).toContain('Clip skip: 2');
    const plain = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a barn', seed: 21 });
    expect((await download(plain.body.output[0])).equals(await download(body.output[0]))).toBe(false);
  });

  it("chains its own outputs into inpaint and super_resolution (read from storage, not fetched)", async () => {
    const first = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a field', seed: 31 });
    const mask = (await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } }).png().toBuffer()).toString('base64');
    const inpainted = await post(`${server.url}/api/v6/images/inpaint`, { ...tiny, prompt: 'a tree', init_image: first.body.output[0], mask_image: mask, seed: 32 });
    expect(inpainted.body.status).toBe('success');
    const enlarged = await post(`${server.url}/api/v6/images/super_resolution`, { init_image: inpainted.body.output[0], scale: 2 });
    expect(enlarged.body.status).toBe('success');
    expect(await sharp(await download(enlarged.body.output[0])).metadata()).toMatchObject({ width: 128, height: 128 });
  });

  it('inpaint keeps the unmasked half; outpaint grows the canvas', async () => {
    const init = await testPng(64, 64);
    const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
      .composite([{ input: await sharp({ create: { width: 32, height: 64, channels: 3, background: '#fff' } }).png().toBuffer(), left: 32, top: 0 }])
      .png()
      .toBuffer();
    const inpaint = await post(`${server.url}/api/v6/images/inpaint`, { ...tiny, prompt: 'p', init_image: init.toString('base64'), mask_image: mask.toString('base64'), seed: 4 });
    expect(inpaint.body.status).toBe('success');
    const out = await sharp(await download(inpaint.body.output[0])).raw().toBuffer();
    const original = await sharp(init).raw().toBuffer();
    expect(out.subarray(0, 3 * 16)).toEqual(original.subarray(0, 3 * 16)); // row 0, far left: black mask, kept exactly
    const outpaint = await post(`${server.url}/api/v6/images/outpaint`, { ...tiny, width: undefined, height: undefined, prompt: 'p', init_image: init.toString('base64'), left: 16, right: 16, top: 0, bottom: 8, seed: 5 });
    expect(outpaint.body.status).toBe('success');
    expect(outpaint.body.meta).toMatchObject({ width: 96, height: 72 });
  });

  it('super_resolution enlarges by the upscaler', async () => {
    const response = await post(`${server.url}/api/v6/images/super_resolution`, { init_image: (await testPng(24, 16)).toString('base64'), scale: 2 });
    expect(response.body.status).toBe('success');
    const meta = await sharp(await download(response.body.output[0])).metadata();
    expect([meta.width, meta.height]).toEqual([48, 32]);
    expect(response.body.meta.model_id).toBe(server.models.find((m) => m.role === 'upscaler')!.id);
  });

  it('serves an OpenAPI document with every route, a docs page and system_load', async () => {
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    for (const endpoint of ['text2img', 'img2img', 'inpaint', 'outpaint', 'controlnet', 'super_resolution']) {
      expect(openapi.paths[`/api/v6/images/${endpoint}`].post.requestBody).toBeDefined();
    }
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/api/v6/images/fetch/{id}', '/api/v6/images/cancel/{id}', '/api/v6/system_load']));
    const docs = await fetch(`${server.url}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');
    const load = (await (await fetch(`${server.url}/api/v6/system_load`)).json()) as Record<string, any>;
    expect(load).toMatchObject({ status: 'success', queue_num: 0, running: 0 });
    expect(load.workers[0]).toMatchObject({ id: 0, state: 'idle' });
    expect(load.workers[0].models).toContain(server.models[0].id);
    expect(load.average_seconds_last_hour.txt2img.jobs).toBeGreaterThan(0);
    expect(load.memory.total_mib).toBeGreaterThan(0);
  });

  it('answers unknown routes and jobs with JSON 404s', async () => {
    expect((await post(`${server.url}/api/v6/images/nothing`, {})).status).toBe(404);
    const missing = await post(`${server.url}/api/v6/images/fetch/999999`, {});
    expect([missing.status, missing.body.status]).toEqual([404, 'error']);
  });
});

describe('processing, fetch and cancel', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ syncWaitSeconds: 0 });
  });
  afterAll(async () => server?.close());

  it('answers processing with fetch_result and future_links, then fetch returns exactly those links', async () => {
    const submitted = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'later', samples: 2, seed: 9 });
    expect(submitted.body).toMatchObject({ status: 'processing', output: [] });
    expect(submitted.body.eta).toBeGreaterThan(0);
    expect(submitted.body.fetch_result).toBe(`${server.url}/api/v6/images/fetch/${submitted.body.id}`);
    expect(submitted.body.future_links).toHaveLength(2);
    const done = await fetchUntilDone(server, submitted.body.id);
    expect(done.body.status).toBe('success');
    expect(done.body.output).toEqual(submitted.body.future_links);
    expect(done.body.meta.seeds).toEqual([9, 10]);
  });

  it('cancels a queued job at once and a running one within a step', async () => {
    const running = await post(`${server.url}/api/v6/images/text2img`, { prompt: 'long', width: 256, height: 256, num_inference_steps: 40, seed: 1 });
    let lastStep = 0;
    server.pool!.on('progress', (id, p) => {
      if (id === running.body.id) lastStep = Math.max(lastStep, p.step);
    });
    const queued = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'queued', seed: 1 });
    const progress = await eventually(async () => {
      const state = await post(`${server.url}/api/v6/images/fetch/${running.body.id}`, {});
      return state.body.progress?.step >= 1 ? state.body.progress : undefined;
    }, 60_000, 'the first step');
    expect(progress.steps).toBe(40);
    const cancelledQueued = await post(`${server.url}/api/v6/images/cancel/${queued.body.id}`, {});
    expect(cancelledQueued.body).toMatchObject({ status: 'error', cancelled: true, message: 'Job cancelled' });
    const stepAtCancel = lastStep;
    const cancelled = await post(`${server.url}/api/v6/images/cancel/${running.body.id}`, {});
    const final = cancelled.body.status === 'processing' ? await fetchUntilDone(server, running.body.id) : cancelled;
    expect(final.body).toMatchObject({ status: 'error', cancelled: true });
    expect(lastStep).toBeLessThanOrEqual(stepAtCancel + 1);
    // The worker is free again and the model still loaded.
    const next = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'after', seed: 1 });
    expect((await fetchUntilDone(server, next.body.id)).body.status).toBe('success');
  });
});

describe('output expiry', () => {
  it('sweeps outputs after the TTL: the file is gone and fetch says expired (410)', async () => {
    const server = await startServer({ syncWaitSeconds: 60, outputTtlSeconds: 1, sweepIntervalSeconds: 0.2 });
    try {
      const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'short-lived', seed: 1 });
      expect(body.status).toBe('success');
      expect((await fetch(body.output[0])).status).toBe(200);
      const expired = await eventually(async () => {
        const state = await post(`${server.url}/api/v6/images/fetch/${body.id}`, {});
        return state.status === 410 ? state : undefined;
      }, 10_000, 'expiry');
      expect(expired.body).toMatchObject({ status: 'error', expired: true });
      expect((await fetch(body.output[0])).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('behind a reverse proxy', () => {
  it('builds output and fetch URLs from X-Forwarded-Proto/-Host with trustProxy', async () => {
    const server = await startServer({ syncWaitSeconds: 0, trustProxy: true });
    try {
      const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'proxied', seed: 1 }, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'images.example.com' });
      expect(body.fetch_result).toBe(`https://images.example.com/api/v6/images/fetch/${body.id}`);
      expect(body.future_links[0]).toMatch(/^https:\/\/images\.example\.com\/generations\//);
    } finally {
      await server.close();
    }
  });
});
