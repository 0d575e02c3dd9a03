import sharp from 'sharp';
import StableDiffusionApi from 'a1111-webui-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { post, startServer, testPng } from './helpers.js';

const ADMIN = 'dk_admin_a1111_client_test';

// a1111-webui-api, an npm client of AUTOMATIC1111's API, pointed at diffusekit unchanged (host, port, basic auth).
describe('an A1111 client from npm (a1111-webui-api) against the real server', () => {
  let server: DiffusekitServer;
  let api: StableDiffusionApi;

  beforeAll(async () => {
    server = await startServer({ auth: true, adminKey: ADMIN, syncWaitSeconds: 60 });
    const { body } = await post(`${server.url}/api/v6/keys/create`, { name: 'webui-client' }, { authorization: `Bearer ${ADMIN}` });
    const url = new URL(server.url);
    api = new StableDiffusionApi({ host: url.hostname, port: Number(url.port), protocol: 'http', defaultSampler: 'Euler a', defaultStepCount: 1 });
    api.setAuth('any-user', body.key as string);
  });
  afterAll(async () => server?.close());

  it('lists models, samplers and upscalers, and switches the model with setModel', async () => {
    const models = await api.getSdModels();
    expect(models.map((m) => m.model_name)).toEqual(['synthetic-sdxs-seed0-f16-v1']);
    expect((await api.getSamplers()).map((s) => s.name)).toEqual(expect.arrayContaining(['Euler a', 'DPM++ 2M']));
    expect((await api.getUpscalers()).map((u) => u.name)).toContain('synthetic-esrgan-x4plus-seed0-f16-v1');
    await api.setModel('synthetic-sdxs-seed0-f16-v1');
    expect(await api.getCurrentModel()).toMatch(/^synthetic-sdxs-seed0-f16-v1/);
  });

  it('txt2img gives sharp images of the size asked for, with info and the seed', async () => {
    const result = await api.txt2img({ prompt: 'a lighthouse', width: 64, height: 64, steps: 1, seed: 12, batch_size: 2 });
    expect(result.images).toHaveLength(2);
    expect(await result.images[0].metadata()).toMatchObject({ format: 'png', width: 64, height: 64 });
    // A1111 sends info as a JSON string, and the client passes it on as such.
    expect(JSON.parse(result.info as string)).toMatchObject({ seed: 12, all_seeds: [12, 13], width: 64, height: 64 });
  });

  it('img2img with a mask (inpainting) and extraSingle (ESRGAN) take sharp inputs', async () => {
    const init = sharp(await testPng(64, 64));
    const mask = sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } });
    const painted = await api.img2img({ init_images: [init], mask_image: mask, prompt: 'a door', width: 64, height: 64, steps: 1, denoising_strength: 0.8, seed: 3 });
    expect(await painted.image.metadata()).toMatchObject({ width: 64, height: 64 });
    const upscaled = await api.extraSingle({ image: sharp(await testPng(32, 32)), upscaler_1: 'synthetic-esrgan-x4plus-seed0-f16-v1', upscaling_resize: 2 });
    expect(await upscaled.image.metadata()).toMatchObject({ width: 64, height: 64 });
  });

  it('reads progress when idle, and a wrong key fails as it would on A1111', async () => {
    const progress = await api.getProgress();
    expect(progress).toMatchObject({ progress: 0, state: expect.any(Object) });
    const url = new URL(server.url);
    const stranger = new StableDiffusionApi({ host: url.hostname, port: Number(url.port), protocol: 'http' });
    stranger.setAuth('user', 'dk_not_a_key');
    await expect(stranger.getSdModels()).rejects.toMatchObject({ response: { status: 401 } });
  });
});
