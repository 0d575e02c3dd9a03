import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The server forks compiled worker processes, so tests run the built package (npm test builds it first).
import diffusekitDefault, { diffusekit, type DiffusekitServer } from '../../lib/server/index.js';
import { post, tempDataDir } from './helpers.js';

describe('the server as a Fastify plugin', () => {
  let app: FastifyInstance;
  let url: string;
  let server: DiffusekitServer | undefined;

  beforeAll(async () => {
    app = Fastify();
    // The user's own routes, before and after the plugin.
    app.get('/hello', async () => ({ hello: 'world' }));
    await app.register(diffusekit, { prefix: '/sd', dataDir: tempDataDir(), auth: false, threads: 2, onServer: (built) => (server = built) });
    app.get('/goodbye', async () => ({ goodbye: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('is the default export too', () => {
    expect(diffusekitDefault).toBe(diffusekit);
  });

  it('answers next to the app\'s own routes, under its prefix, with /health and /ready', async () => {
    expect(await (await fetch(`${url}/hello`)).json()).toEqual({ hello: 'world' });
    expect(await (await fetch(`${url}/goodbye`)).json()).toEqual({ goodbye: true });
    const health = await fetch(`${url}/sd/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', version: expect.any(String) });
    const ready = await fetch(`${url}/sd/ready`);
    expect([ready.status, ((await ready.json()) as { status: string }).status]).toEqual([200, 'ready']);
    // Not found outside the prefix stays the app's own (Fastify's default answer), not the server's.
    const missing = await fetch(`${url}/api/v6/images/text2img`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'Not Found' });
    expect(server!.models.length).toBeGreaterThan(0);
  });

  it('runs a v6 job whose output URL points under the prefix', async () => {
    const submitted = await post(`${url}/sd/api/v6/images/text2img`, { prompt: 'a red barn', width: '64', height: '64', num_inference_steps: '1', seed: 5, track_id: 77 });
    expect(submitted.status).toBe(200);
    let body = submitted.body;
    while (body.status === 'processing') {
      await new Promise((resolve) => setTimeout(resolve, 100));
      body = (await post(`${url}/sd/api/v6/images/fetch/${submitted.body.id}`, {})).body;
    }
    expect(body.status).toBe('success');
    expect(body.track_id).toBe('77'); // a number where a string is also allowed: the v6 schemas' union types
    expect(body.output[0]).toMatch(new RegExp(`^${url}/sd/generations/`));
    const png = Buffer.from(await (await fetch(body.output[0])).arrayBuffer());
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
  });

  it('documents its routes, /health and /ready included, in the OpenAPI document', async () => {
    const document = (await (await fetch(`${url}/sd/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/sd/health', '/sd/ready', '/sd/api/v6/images/text2img']));
    expect(Object.keys(document.paths['/sd/ready']!.get!.responses!)).toEqual(expect.arrayContaining(['200', '503']));
    expect(Object.keys(document.paths)).not.toContain('/hello');
  });

  it('starts with the app (ready) and says 503 "stopping" on /ready once closing', async () => {
    const standalone = Fastify();
    let built: DiffusekitServer | undefined;
    await standalone.register(diffusekit, { dataDir: tempDataDir(), auth: false, threads: 1, onServer: (s) => (built = s) });
    await standalone.ready();
    expect((await standalone.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    await built!.close();
    const after = await standalone.inject({ method: 'GET', url: '/ready' });
    expect([after.statusCode, after.json().status]).toEqual([503, 'stopping']);
    await standalone.close();
  });
});
