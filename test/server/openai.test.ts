import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, RateLimitError, toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../lib/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { eventually, post, startServer, testPng } from './helpers.js';

// The official SDK is the client. Extensions (steps, seed) go as extra body fields; sizes and models the
// SDK's types do not list are cast.
const tiny = { size: '64x64', steps: 1 } as Record<string, unknown>;
type Params = any;

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** The job with the highest id (ids are sequential). */
async function latestJob(server: DiffusekitServer) {
  let id = 1;
  while (await server.service.get(id + 1)) id += 1;
  return (await server.service.get(id))!;
}

const jobIdOf = (url: string): number => Number(/\/generations\/(\d+)-[\w-]{22}-\d+\.\w+$/.exec(url)![1]);

/** RGBA PNG: `image` with alpha 0 on the right half (the area OpenAI repaints). */
async function rightHalfTransparent(image: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let y = 0; y < info.height; y++) for (let x = info.width / 2; x < info.width; x++) data[(y * info.width + x) * 4 + 3] = 0;
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toBuffer();
}

/** The first `pixels` RGB pixels of row 0 of an image. */
async function rowStart(image: Buffer, pixels: number): Promise<Buffer> {
  const raw = await sharp(image).removeAlpha().raw().toBuffer();
  return raw.subarray(0, pixels * 3);
}

describe('OpenAI images API with the openai SDK', () => {
  let server: DiffusekitServer;
  let client: OpenAI;
  beforeAll(async () => {
    server = await startServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });
  afterAll(async () => server?.close());

  it('generations: URLs of n images, the same /generations/ files as v6, recorded as an openai job', async () => {
    const result = await client.images.generate({ ...tiny, model: 'dall-e-3', prompt: 'a red barn', n: 2, seed: 1234, user: 'user-42' } as Params);
    expect(result.created).toBeTypeOf('number');
    expect(result.data).toHaveLength(2);
    // Without a prompt model nothing is revised, so no revised_prompt.
    expect(result.data![0]).not.toHaveProperty('revised_prompt');
    expect(result).toMatchObject({ output_format: 'png', size: '64x64', quality: 'auto' });
    const url = result.data![0].url!;
    expect(url).toMatch(new RegExp(`^${server.url}/generations/\\d+-[\\w-]{22}-0\\.png$`));
    const png = await download(url);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    expect(readPngText(png).parameters).toContain('Seed: 1234');
    const job = (await server.service.get(jobIdOf(url)))!;
    expect(job).toMatchObject({ api: 'openai', task: 'txt2img', model: server.models[0].id, request: { user: 'user-42', response_format: 'url' } });
    expect(job.spec).toMatchObject({ samples: 2, steps: 1, width: 64, height: 64 });
  });

  it('generations: b64_json, output_format, and the quality/style presets', async () => {
    const result = await client.images.generate({ size: '64x72', prompt: 'a boat', response_format: 'b64_json', output_format: 'webp', quality: 'low', style: 'vivid' } as Params);
    expect(result.data![0].url).toBeUndefined();
    const image = Buffer.from(result.data![0].b64_json!, 'base64');
    const meta = await sharp(image).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 64, 72]);
    expect(result).toMatchObject({ output_format: 'webp', size: '64x72', quality: 'low' });
    const job = await latestJob(server);
    expect(job.spec).toMatchObject({ steps: 12, guidanceScale: 9, outputFormat: 'webp' });
    expect(job.request).toMatchObject({ response_format: 'b64_json', quality: 'low', style: 'vivid' });
  });

  it('edits with a mask: transparent pixels of the mask are repainted, the others kept exactly', async () => {
    const init = await testPng(64, 64);
    const mask = await rightHalfTransparent(await testPng(64, 64));
    const result = await client.images.edit({
      ...tiny,
      image: await toFile(init, 'image.png', { type: 'image/png' }),
      mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
      prompt: 'a window',
      seed: 4,
    } as Params);
    const out = await download(result.data![0].url!);
    expect(await rowStart(out, 16)).toEqual(await rowStart(init, 16));
    const raw = await sharp(out).raw().toBuffer();
    const original = await sharp(init).raw().toBuffer();
    expect(raw.subarray(60 * 3, 64 * 3)).not.toEqual(original.subarray(60 * 3, 64 * 3)); // far right: repainted
    const job = (await server.service.get(jobIdOf(result.data![0].url!)))!;
    expect(job).toMatchObject({ api: 'openai', task: 'inpaint' });
    expect(job.spec.strength).toBe(1);
  });

  it('edits without a mask: the image\'s transparent pixels are the mask; an opaque image is edited whole (img2img)', async () => {
    const init = await testPng(64, 64);
    const transparent = await rightHalfTransparent(init);
    const inpaint = await client.images.edit({ ...tiny, image: await toFile(transparent, 'a.png', { type: 'image/png' }), prompt: 'sky', response_format: 'b64_json' } as Params);
    const out = Buffer.from(inpaint.data![0].b64_json!, 'base64');
    expect(await rowStart(out, 16)).toEqual(await rowStart(init, 16));
    const opaque = await client.images.edit({ ...tiny, size: undefined, image: [await toFile(await testPng(72, 64), 'b.png', { type: 'image/png' })], prompt: 'sky', n: 2 } as Params);
    expect(opaque.data).toHaveLength(2);
    expect(opaque.size).toBe('72x64');
    const job = (await server.service.get(jobIdOf(opaque.data![0].url!)))!;
    expect(job).toMatchObject({ task: 'img2img', spec: { strength: 0.7, prompt: 'sky' } });
  });

  it('variations: img2img of the image with an empty prompt at strength 0.6', async () => {
    const result = await client.images.createVariation({ ...tiny, image: await toFile(await testPng(64, 64), 'v.png', { type: 'image/png' }), response_format: 'b64_json' } as Params);
    const image = Buffer.from(result.data![0].b64_json!, 'base64');
    expect((await sharp(image).metadata()).width).toBe(64);
    const url = await client.images.createVariation({ ...tiny, image: await toFile(await testPng(64, 64), 'v.png', { type: 'image/png' }) } as Params);
    const job = (await server.service.get(jobIdOf(url.data![0].url!)))!;
    expect(job).toMatchObject({ api: 'openai', task: 'img2img', spec: { prompt: '', strength: 0.6 } });
  });

  it('takes the image of a JSON request as base64 or a data URL, like the v6 API', async () => {
    const png = await testPng(64, 64);
    const response = await post(`${server.url}/v1/images/variations`, { ...tiny, image: `data:image/png;base64,${png.toString('base64')}`, prompt: 'a cat', strength: 0.4 });
    expect(response.status).toBe(200);
    const job = (await server.service.get(jobIdOf(response.body.data[0].url)))!;
    expect(job).toMatchObject({ task: 'img2img', spec: { prompt: 'a cat', strength: 0.4 } });
  });

  it('keeps the job when the client disconnects before it finishes', async () => {
    const controller = new AbortController();
    const request = fetch(`${server.url}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...tiny, steps: 8, prompt: 'left early' }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    const job = await eventually(async () => {
      const latest = await latestJob(server);
      return latest.spec.prompt === 'left early' ? latest : undefined;
    }, 10_000, 'the job');
    controller.abort();
    expect(await request).toBeInstanceOf(Error);
    const done = await eventually(async () => ((await server.service.get(job.id))!.status === 'success' ? true : undefined), 60_000, 'the job to finish');
    expect(done).toBe(true);
    // The server still answers.
    expect((await client.images.generate({ ...tiny, prompt: 'after' } as Params)).data).toHaveLength(1);
  });

  it('models.list() and models.retrieve() show the checkpoints', async () => {
    const checkpoint = server.models.find((m) => m.role === 'checkpoint')!;
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model).toMatchObject({ object: 'model', owned_by: 'diffusekit' });
      expect(model.created).toBeGreaterThan(0);
      ids.push(model.id);
    }
    expect(ids).toEqual(server.models.filter((m) => m.role === 'checkpoint').map((m) => m.id));
    expect(await client.models.retrieve(checkpoint.id)).toMatchObject({ id: checkpoint.id, object: 'model' });
    const missing = await client.models.retrieve('nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'model_not_found', type: 'invalid_request_error' });
  });

  it('answers bad requests with 400 invalid_request_error, naming the parameter', async () => {
    const badSize = await client.images.generate({ prompt: 'x', size: '500x500' } as Params).catch((e: unknown) => e);
    expect(badSize).toBeInstanceOf(BadRequestError);
    expect(badSize).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'size' });
    expect((badSize as Error).message).toMatch(/size: 500x500 is not a multiple of 8/);
    for (const [params, param, message] of [
      [{ prompt: 'x', size: 'big' }, 'size', /not a size/],
      [{ prompt: 'x', size: '2048x2048' }, 'size', /2048x2048 is larger than this server allows/],
      [{ prompt: 'x', n: 9 }, 'n', /n must be <= 4/],
      [{ prompt: 'x', quality: 'ultra' }, 'quality', /quality must be one of/],
      [{ size: '64x64' }, 'prompt', /prompt is required/],
      [{ prompt: 'x', model: 'not-served' }, 'model', /no checkpoint model 'not-served'/],
      [{ prompt: 'x', stream: true }, 'stream', /streaming is not supported/],
    ] as [Params, string, RegExp][]) {
      const error = await client.images.generate(params).catch((e: unknown) => e);
      expect(error, JSON.stringify(params)).toBeInstanceOf(BadRequestError);
      expect(error).toMatchObject({ status: 400, param });
      expect((error as Error).message).toMatch(message);
    }
    const init = await toFile(await testPng(64, 64), 'i.png', { type: 'image/png' });
    const opaqueMask = await client.images.edit({ image: init, mask: await toFile(await testPng(64, 64), 'm.png'), prompt: 'x' } as Params).catch((e: unknown) => e);
    expect(opaqueMask).toMatchObject({ status: 400, param: 'mask', code: 'invalid_mask' });
    expect((opaqueMask as Error).message).toMatch(/mask has no alpha channel/);
    const smallMask = await rightHalfTransparent(await testPng(32, 32));
    const wrongSize = await client.images.edit({ image: await toFile(await testPng(64, 64), 'i.png'), mask: await toFile(smallMask, 'm.png'), prompt: 'x' } as Params).catch((e: unknown) => e);
    expect((wrongSize as Error).message).toMatch(/mask is 32x32 but image is 64x64/);
    const noImage = await client.images.createVariation({ n: 1 } as Params).catch((e: unknown) => e);
    expect(noImage).toMatchObject({ status: 400, param: 'image' });
    const notImage = await client.images.createVariation({ image: await toFile(Buffer.from('not an image'), 'x.png') } as Params).catch((e: unknown) => e);
    expect(notImage).toMatchObject({ status: 400, param: 'image', code: 'invalid_image' });
  });

  it('answers unknown /v1 routes and bad JSON in the OpenAI shape', async () => {
    const unknown = await post(`${server.url}/v1/chat/completions`, { model: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'invalid_request_error', message: 'Invalid URL (POST /v1/chat/completions)' });
    const badJson = await post(`${server.url}/v1/images/generations`, '{"prompt":');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/not valid JSON/) });
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/images/generations', '/v1/images/edits', '/v1/images/variations', '/v1/models', '/v1/models/{id}']));
    // The v6 API keeps its own shapes.
    expect((await post(`${server.url}/api/v6/images/nothing`, {})).body.status).toBe('error');
  });
});

describe('OpenAI images API with keys', () => {
  const adminKey = 'admin-key-for-openai-tests-0123';
  let server: DiffusekitServer;
  const createKey = async (fields: Record<string, unknown>): Promise<string> => {
    const response = await post(`${server.url}/api/v6/keys/create`, { name: `k${Math.random()}`, ...fields }, { authorization: `Bearer ${adminKey}` });
    expect(response.status).toBe(200);
    return response.body.key as string;
  };
  beforeAll(async () => {
    server = await startServer({ auth: true, adminKey });
  });
  afterAll(async () => server?.close());

  it('takes keys as Authorization: Bearer; a missing or bad key is a 401 AuthenticationError', async () => {
    const key = await createKey({});
    const good = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0 });
    const result = await good.images.generate({ ...tiny, prompt: 'ok' } as Params);
    expect(result.data).toHaveLength(1);
    expect((await server.service.get(jobIdOf(result.data![0].url!)))!.keyId).toMatch(/^key_/);
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'dk_not-a-key', maxRetries: 0 });
    const error = await bad.images.generate({ ...tiny, prompt: 'x' } as Params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    const list = await bad.models.list().catch((e: unknown) => e);
    expect(list).toBeInstanceOf(AuthenticationError);
    const none = await fetch(`${server.url}/v1/models`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as Record<string, any>).error).toMatchObject({ code: 'invalid_api_key', message: expect.stringMatching(/API key is required/) });
  });

  it('a spent quota is 429 insufficient_quota (not retried); a rate limit is 429 rate_limit_exceeded with Retry-After', async () => {
    const spent = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: await createKey({ monthly_quota: 0 }), maxRetries: 3 });
    const started = Date.now();
    const quota = await spent.images.generate({ ...tiny, prompt: 'x' } as Params).catch((e: unknown) => e);
    expect(quota).toBeInstanceOf(RateLimitError);
    expect(quota).toMatchObject({ status: 429, type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(Date.now() - started).toBeLessThan(1000); // x-should-retry: false, no backoff
    const slow = await createKey({ rate_limit: 0.01 });
    const first = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${slow}` } });
    expect(first.status).toBe(200);
    const second = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${slow}` } });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await second.json()) as Record<string, any>).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
  });
});
