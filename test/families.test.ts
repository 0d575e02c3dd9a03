import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, synthesizeModel } from '../lib/index.js';
import type { DiffusekitServer } from '../lib/server/index.js';
import { fetchUntilDone, post, startServer } from './server/helpers.js';

// The newer families end to end on weights synthesized at their real tensor layout, cached under
// ~/.cache/diffusekit/models: SD 3.5 medium (MMDiT-X, 2.5 B parameters, f16 5.1 GB) with its CLIP-L (f16,
// 0.25 GB) and CLIP-G (f16, 1.4 GB) as a component folder, 64x64 at 1-3 steps. One model loaded at a time.

let folder: string;

beforeAll(() => {
  folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-families-')), 'sd3.5_medium');
  fs.mkdirSync(folder);
  const parts = { 'sd3.5_medium.safetensors': 'sd3.5-medium', 'clip_l.safetensors': 'clip-l', 'clip_g.safetensors': 'clip-g' } as const;
  for (const [name, architecture] of Object.entries(parts)) fs.symlinkSync(synthesizeModel({ architecture }).path, path.join(folder, name));
});
afterAll(() => fs.rmSync(path.dirname(folder), { recursive: true, force: true }));

/** A 7 GB model on a small shared CPU: loading and sampling take minutes. */
const LONG = 900_000;

const warnings = (lines: string[]) => lines.filter((l) => l.startsWith('warn') || l.startsWith('error'));

describe('SD 3.5 medium from a component folder', () => {
  let pipe: Pipeline;
  const lines: string[] = [];

  beforeAll(async () => {
    pipe = await Pipeline.load({ model: folder, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('loads every file of the folder in its slot with no unknown or missing tensors, and reports the family', () => {
    expect(pipe.model.name).toBe('sd3.5_medium');
    expect(pipe.info).toMatchObject({ family: 'sd3', engineVersion: 'SD3.x', prediction: 'flow', defaults: { width: 1024, steps: 28, guidanceScale: 4.5, sampler: 'euler' } });
    expect(lines.join('\n')).toMatch(/MMDiT layers: 24 \(including 13 MMDiT-x layers\)/);
    expect(warnings(lines)).toEqual([]);
  }, LONG);

  it('generates 64x64 in one step: an image, not a flat field', async () => {
    const [img] = await pipe.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 3 });
    expect([img.width, img.height, img.parameters.guidanceScale, img.parameters.sampler]).toEqual([64, 64, 4.5, 'euler']);
    expect(new Set(img.data).size).toBeGreaterThan(16);
  }, LONG);

  it('step caching (EasyCache) skips steps on the DiT and changes the image by what it reused', async () => {
    const call = { prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 3, seed: 4 };
    const [plain] = await pipe.generate(call);
    lines.length = 0;
    const [cached] = await pipe.generate({ ...call, cache: { mode: 'easycache', threshold: 50, start: 0, end: 1 } });
    expect(lines.join('\n')).toMatch(/EasyCache skipped [12]\/3 steps/);
    expect(cached.data.equals(plain.data)).toBe(false);
    await expect(pipe.generate({ ...call, cache: { mode: 'fastest' as never } })).rejects.toThrow(/cache\.mode/);
  }, LONG);

  it('is no editing model: edit is refused with the models that edit', async () => {
    const edit = pipe.edit({ prompt: 'make it night', images: [Buffer.alloc(0)] });
    await expect(edit).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(edit).rejects.toThrow(/does not edit with reference images: load FLUX\.1 Kontext, Qwen-Image-Edit or a FLUX\.2 model/);
  }, LONG);
});

describe('the server serving the split model from its folder', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ models: [folder] });
  }, LONG);
  afterAll(() => server?.close());

  it('lists it under the folder\'s name, with its family, and generates with it at SD 3.5\'s CFG', async () => {
    const models = server.models.map((m) => [m.id, m.role, m.family]);
    expect(models).toEqual([['sd3.5_medium', 'checkpoint', 'sd3']]);
    const submitted = await post(`${server.url}/api/v6/images/text2img`, { prompt: 'a red barn', width: 64, height: 64, num_inference_steps: 1, seed: 5 });
    const done = submitted.body.status === 'processing' ? await fetchUntilDone(server, submitted.body.id, {}, 600_000) : submitted;
    expect(done.body.status).toBe('success');
    expect(done.body.meta).toMatchObject({ model_id: 'sd3.5_medium', width: 64, height: 64, guidance_scale: 4.5, num_inference_steps: 1 });
  }, LONG);
});
