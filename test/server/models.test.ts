import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeModel } from '../../lib/index.js';
import { createServer, type DiffusekitServer } from '../../lib/server/index.js';
import { post, startServer, tempDataDir, testPng } from './helpers.js';

const tiny = { width: 64, height: 64, num_inference_steps: 1 };

describe('a server with a full SD 1.x checkpoint, a ControlNet and a LoRA folder', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    const loraDir = tempDataDir();
    fs.copyFileSync(synthesizeModel({ architecture: 'sd1-lora' }).path, path.join(loraDir, 'paper-style.safetensors'));
    const models = [synthesizeModel({ architecture: 'sd1' }).path, synthesizeModel({ architecture: 'sd1-controlnet' }).path];
    server = await startServer({ models, loraDir, syncWaitSeconds: 120 });
  });
  afterAll(async () => server?.close());

  it('sorts the files by role and makes the first checkpoint the default', () => {
    expect(server.models.map((m) => [m.role, m.family])).toEqual([
      ['checkpoint', 'sd1'],
      ['controlnet', 'sd1'],
    ]);
  });

  it('controlnet: guided by control_image, with auto_hint (canny) and a conditioning scale', async () => {
    const controlnet = server.models[1].id;
    const response = await post(`${server.url}/api/v6/images/controlnet`, {
      ...tiny,
      prompt: 'a house',
      controlnet_model: controlnet,
      control_image: (await testPng(64, 64)).toString('base64'),
      auto_hint: 'yes',
      controlnet_conditioning_scale: 0.8,
      seed: 1,
    });
    expect(response.body.status).toBe('success');
    expect(response.body.meta).toMatchObject({ controlnet_model: controlnet, controlnet_conditioning_scale: 0.8, auto_hint: 'yes', width: 64, height: 64 });
    const unknown = await post(`${server.url}/api/v6/images/controlnet`, { ...tiny, prompt: 'x', controlnet_model: 'nope', control_image: (await testPng()).toString('base64') });
    expect([unknown.status, unknown.body.message]).toEqual([400, expect.stringContaining(`available: ${controlnet}`)]);
  });

  it('controlnet with init_image and control_image: img2img from the one, guided by the other', async () => {
    const controlnet = server.models[1].id;
    const both = { ...tiny, width: undefined, height: undefined, prompt: 'a house', controlnet_model: controlnet, seed: 3, strength: 0.6 };
    const guided = await post(`${server.url}/api/v6/images/controlnet`, { ...both, init_image: (await testPng(72, 64)).toString('base64'), control_image: (await testPng(64, 64)).toString('base64') });
    expect(guided.body.status).toBe('success');
    // The size is the init image's; strength is the img2img one.
    expect(guided.body.meta).toMatchObject({ width: 72, height: 64, strength: 0.6, controlnet_model: controlnet });
  });

  it('lora_model names a LoRA in the folder; an unknown one is a 400 from the job, and the worker goes on', async () => {
    const withLora = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'p', lora_model: 'paper-style', lora_strength: '0.7', seed: 2 });
    expect(withLora.body.status).toBe('success');
    expect(withLora.body.meta).toMatchObject({ lora_model: 'paper-style', lora_strength: '0.7' });
    const missing = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'p', lora_model: 'missing-style', seed: 2 });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ status: 'error', message: expect.stringContaining("LoRA 'missing-style' not found") });
    const after = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'p', seed: 2 });
    expect(after.body.status).toBe('success');
  });
});

describe('engine failures inside a job', () => {
  it('a LoRA made for another architecture fails its job with the engine message; the next job still runs', async () => {
    const loraDir = tempDataDir();
    fs.copyFileSync(synthesizeModel({ architecture: 'sd1-lora' }).path, path.join(loraDir, 'wrong.safetensors'));
    const server = await startServer({ loraDir, syncWaitSeconds: 60 });
    try {
      const failed = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'p', lora_model: 'wrong', seed: 1 });
      expect(failed.body.status).toBe('error');
      expect(failed.status).toBeGreaterThanOrEqual(400);
      expect(failed.body.message.length).toBeGreaterThan(10);
      const next = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'p', seed: 1 });
      expect(next.body.status).toBe('success');
    } finally {
      await server.close();
    }
  });

  it('refuses to start with a LoRA or a non-model among the models, naming the file', async () => {
    const lora = synthesizeModel({ architecture: 'sd1-lora' }).path;
    await expect(createServer({ port: 0, dataDir: tempDataDir(), auth: false, models: [lora] })).rejects.toThrow(/is a LoRA: put it in the LoRA folder/);
    const junk = path.join(tempDataDir(), 'junk.safetensors');
    fs.writeFileSync(junk, 'not a model');
    await expect(createServer({ port: 0, dataDir: tempDataDir(), auth: false, models: [junk] })).rejects.toThrow(/junk\.safetensors/);
  });
});
