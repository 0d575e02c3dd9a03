import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
// The server forks compiled worker processes, so tests run the built package (npm test builds it first).
import { createServer, type DiffusekitServer, type ServerOptions } from '../../lib/server/index.js';

export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-server-'));
}

/** A real server on a free port of 127.0.0.1, on the synthetic demo models unless `models` says otherwise. */
export async function startServer(options: ServerOptions = {}): Promise<DiffusekitServer> {
  const server = await createServer({ port: 0, dataDir: tempDataDir(), auth: false, threads: 2, ...options });
  await server.listen();
  return server;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}

/** POSTs JSON (or a raw string body) and parses the JSON answer. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

/** Polls fetch until the job leaves "processing". */
export async function fetchUntilDone(server: DiffusekitServer, id: number, body: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<JsonResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await post(`${server.url}/api/v6/images/fetch/${id}`, body);
    if (response.body.status !== 'processing') return response;
    if (Date.now() > deadline) throw new Error(`job ${id} still processing after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `check` returns a value (polling), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A tiny PNG of a colour gradient, as a data URL / base64 / Buffer. */
export async function testPng(width = 64, height = 64): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The mean standard deviation of an output's RGB channels: a blurred image has far less. */
async function pixelSpread(url: string): Promise<number> {
  const sharp = (await import('sharp')).default;
  const { channels } = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).stats();
  return channels.slice(0, 3).reduce((sum, c) => sum + c.stdev, 0) / 3;
}

/**
 * On a server whose image classifier flags every picture: two outputs of an innocent prompt come back flagged and
 * blurred with safety_checker "yes", and neither with "no".
 */
export async function expectClassifierFlagsAndBlurs(server: DiffusekitServer): Promise<void> {
  const ask = (safety_checker: string) => post(`${server.url}/api/v6/images/text2img`, { prompt: 'a teapot', width: 64, height: 64, num_inference_steps: 1, seed: 8, samples: 2, safety_checker });
  const checked = await ask('yes');
  expect(checked.body).toMatchObject({ status: 'success', nsfw_content_detected: [true, true], meta: { safety_checker: 'yes' } });
  expect(checked.body.meta).not.toHaveProperty('nsfw_reason');
  const unchecked = await ask('no');
  expect(unchecked.body.nsfw_content_detected).toEqual([false, false]);
  expect(await pixelSpread(checked.body.output[0])).toBeLessThan((await pixelSpread(unchecked.body.output[0])) * 0.5);
}
