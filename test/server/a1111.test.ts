import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText, synthesizeModel } from '../../lib/index.js';
import { createServer, type DiffusekitServer } from '../../lib/server/index.js';
import { eventually, startServer, tempDataDir, testPng } from './helpers.js';

// Request bodies below copy the *shape* of what A1111 clients send (Open WebUI, SillyTavern, the
// sd-webui-controlnet README, webuiapi scripts); the values are ours. Synthetic models: 64x64, 1 step.

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(server: DiffusekitServer, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${server.url}${url}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const decode = (b64: string) => Buffer.from(b64, 'base64');
const sizeOf = async (b64: string) => {
  const meta = await sharp(decode(b64)).metadata();
  return [meta.format, meta.width, meta.height];
};
const basic = (password: string, user = 'webui') => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** A LoRA-folder file with training metadata in its safetensors header (no tensors: only listed, never loaded). */
function metadataOnlySafetensors(file: string, metadata: Record<string, string>): void {
  const header = Buffer.from(JSON.stringify({ __metadata__: metadata }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(file, Buffer.concat([length, header]));
}

describe('A1111 sdapi/v1 on a real server (demo model, a second checkpoint, an upscaler)', () => {
  let server: DiffusekitServer;
  let dataDir: string;
  let second: string;
  const models = () => {
    const dir = tempDataDir();
    const demo = synthesizeModel({ architecture: 'sdxs' }).path;
    // The same file under another name: a second checkpoint id without a second gigabyte.
    fs.symlinkSync(demo, path.join(dir, 'second-model.safetensors'));
    return [demo, path.join(dir, 'second-model.safetensors'), synthesizeModel({ architecture: 'esrgan-x4plus' }).path];
  };
  let modelFiles: string[];
  let loraDir: string;

  beforeAll(async () => {
    modelFiles = models();
    loraDir = tempDataDir();
    metadataOnlySafetensors(path.join(loraDir, 'ink-style.safetensors'), { ss_output_name: 'ink-style', ss_network_dim: '4' });
    fs.writeFileSync(path.join(loraDir, 'notes.txt'), 'not a LoRA');
    dataDir = tempDataDir();
    server = await startServer({ models: modelFiles, loraDir, dataDir });
    second = server.models[1].id;
  });
  afterAll(async () => server?.close());

  it('txt2img (Open WebUI shape): base64 PNGs, the parameters echo and info as a JSON string with seeds and infotexts', async () => {
    const { status, body } = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'a lighthouse at dusk',
      negative_prompt: 'blurry',
      batch_size: 2,
      width: 64,
      height: 64,
      steps: 1,
      cfg_scale: 6,
      seed: 1234,
      sampler_name: 'DPM++ 2M',
      scheduler: 'Karras',
    });
    expect(status).toBe(200);
    expect(body.images).toHaveLength(2);
    expect(await sizeOf(body.images[0])).toEqual(['png', 64, 64]);
    expect(typeof body.info).toBe('string');
    const info = JSON.parse(body.info);
    expect(info).toMatchObject({
      prompt: 'a lighthouse at dusk',
      negative_prompt: 'blurry',
      seed: 1234,
      all_seeds: [1234, 1235],
      width: 64,
      height: 64,
      sampler_name: 'DPM++ 2M',
      cfg_scale: 6,
      steps: 1,
      batch_size: 2,
      sd_model_name: server.models[0].id,
    });
    expect(info.all_prompts).toEqual(['a lighthouse at dusk', 'a lighthouse at dusk']);
    expect(info.infotexts).toHaveLength(2);
    expect(info.infotexts[0]).toMatch(/^a lighthouse at dusk\nNegative prompt: blurry\nSteps: 1, Sampler: DPM\+\+ 2M, Schedule type: Karras, CFG scale: 6, Seed: 1234,/);
    expect(info.infotexts[1]).toContain('Seed: 1235');
    // The infotext is the PNG's own "parameters" chunk, as in A1111.
    expect(readPngText(decode(body.images[0])).parameters).toBe(info.infotexts[0]);
    expect(body.parameters).toMatchObject({ prompt: 'a lighthouse at dusk', batch_size: 2, n_iter: 1, seed: 1234, sampler_name: 'DPM++ 2M', send_images: true });
  });

  it('txt2img: seed -1 is random and reported, n_iter multiplies, the old sampler_index and "Name Karras" spellings work', async () => {
    const { status, body } = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'x', width: 64, height: 64, steps: 1, seed: -1, subseed: -1, n_iter: 2, sampler_index: 'DPM++ 2M Karras', restore_faces: false, tiling: false, styles: [],
    });
    expect(status).toBe(200);
    expect(body.images).toHaveLength(2);
    const info = JSON.parse(body.info);
    expect(info.seed).toBeGreaterThanOrEqual(0);
    expect(info.all_seeds).toEqual([info.seed, info.seed + 1]);
    expect(info.infotexts[0]).toContain('Sampler: DPM++ 2M, Schedule type: Karras');
    const many = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'x', width: 64, height: 64, steps: 1, batch_size: 4, n_iter: 2 });
    expect([many.status, many.body.error]).toEqual([400, 'too_many_images']);
  });

  it('hires fix (SillyTavern shape): 64 -> 128 with one second-pass step; hr_resize_x keeps the aspect; ESRGAN names run the served upscaler', async () => {
    const { status, body } = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'a castle', width: 64, height: 64, steps: 1, seed: 3, sampler_name: 'Euler a', scheduler: 'Automatic',
      enable_hr: true, hr_scale: 2, hr_upscaler: 'Latent (nearest)', hr_second_pass_steps: 1, denoising_strength: 0.55,
      hr_prompt: '', hr_negative_prompt: '', override_settings: {}, override_settings_restore_afterwards: true,
    });
    expect(status).toBe(200);
    expect(await sizeOf(body.images[0])).toEqual(['png', 128, 128]);
    const info = JSON.parse(body.info);
    expect(info.infotexts[0]).toContain('Size: 64x64');
    expect(info.infotexts[0]).toMatch(/Denoising strength: 0.55, Hires upscale: 2, Hires steps: 1, Hires upscaler: Latent \(nearest\)/);
    const resized = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'a castle', width: 64, height: 64, steps: 1, enable_hr: true, hr_resize_x: 96, hr_resize_y: 0, hr_second_pass_steps: 1, hr_upscaler: 'R-ESRGAN 4x+',
    });
    expect(await sizeOf(resized.body.images[0])).toEqual(['png', 96, 96]);
    expect(JSON.parse(resized.body.info).infotexts[0]).toContain('Hires upscaler: synthetic-esrgan-x4plus-seed0-f16-v1');
    const unknown = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'a castle', width: 64, height: 64, steps: 1, enable_hr: true, hr_scale: 1.5, hr_second_pass_steps: 1, hr_upscaler: 'None' });
    expect(JSON.parse(unknown.body.info).infotexts[0]).toContain('Hires upscaler: Lanczos');
  });

  it('img2img with a mask and inpainting_mask_invert repaints the black part and keeps the white part exactly', async () => {
    const init = await testPng(64, 64);
    // White on the right half: inverted, the left half is repainted and the right half kept.
    const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
      .composite([{ input: await sharp({ create: { width: 32, height: 64, channels: 3, background: '#fff' } }).png().toBuffer(), left: 32, top: 0 }])
      .png()
      .toBuffer();
    const { status, body } = await call(server, 'POST', '/sdapi/v1/img2img', {
      init_images: [`data:image/png;base64,${init.toString('base64')}`],
      mask: mask.toString('base64'),
      prompt: 'stone wall', steps: 1, seed: 9, width: 64, height: 64, denoising_strength: 1,
      mask_blur: 0, inpainting_fill: 1, inpaint_full_res: false, inpaint_full_res_padding: 32, inpainting_mask_invert: 1, resize_mode: 0,
    });
    expect(status).toBe(200);
    const out = await sharp(decode(body.images[0])).raw().toBuffer({ resolveWithObject: true });
    const original = await sharp(init).raw().toBuffer();
    const row = (y: number, from: number, to: number, data: Buffer) => data.subarray((y * 64 + from) * 3, (y * 64 + to) * 3);
    let leftDiffers = false;
    for (let y = 0; y < 64; y++) {
      expect(row(y, 32, 64, out.data).equals(row(y, 32, 64, original))).toBe(true);
      leftDiffers ||= !row(y, 0, 32, out.data).equals(row(y, 0, 32, original));
    }
    expect(leftDiffers).toBe(true);
    expect(body.parameters).toMatchObject({ init_images: null, mask: null, inpainting_mask_invert: 1 });
    expect(JSON.parse(body.info).infotexts[0]).toMatch(/Denoising strength: 1, .*Mask blur: 0/);
  });

  it('img2img inpainting_fill and inpaint_full_res (Krita/Photoshop plugin shape) change the start and the area painted', async () => {
    const init = await testPng(64, 64);
    // A small white square (repaint) at x 40-47, y 8-15.
    const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
      .composite([{ input: await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer(), left: 40, top: 8 }])
      .png()
      .toBuffer();
    const request = (extra: object) => call(server, 'POST', '/sdapi/v1/img2img', {
      init_images: [init.toString('base64')], mask: mask.toString('base64'), prompt: 'a window', steps: 1, seed: 5, width: 64, height: 64,
      denoising_strength: 0.6, mask_blur: 0, ...extra,
    });
    const pixels = async (response: Awaited<ReturnType<typeof request>>) => sharp(decode(response.body.images[0])).raw().toBuffer();
    const original = await pixels(await request({ inpainting_fill: 1 }));
    const nothing = await pixels(await request({ inpainting_fill: 3 }));
    expect(nothing.equals(original)).toBe(false);
    const full = await request({ inpainting_fill: 1, inpaint_full_res: true, inpaint_full_res_padding: 4 });
    expect(full.status).toBe(200);
    expect((await pixels(full)).equals(original)).toBe(false);
    expect((await request({ inpaint_full_res_padding: -2 })).status).toBe(422);
  });

  it('img2img without a mask: the init image is stretched to width x height (resize_mode 0)', async () => {
    const { status, body } = await call(server, 'POST', '/sdapi/v1/img2img', {
      init_images: [(await testPng(96, 64)).toString('base64')], prompt: 'p', steps: 1, width: 64, height: 64, denoising_strength: 0.5, seed: 1,
    });
    expect(status).toBe(200);
    expect(await sizeOf(body.images[0])).toEqual(['png', 64, 64]);
    expect(JSON.parse(body.info)).toMatchObject({ denoising_strength: 0.5, width: 64, height: 64 });
  });

  it('extra-single-image upscales with a served upscaler (unknown names use the first); resize_mode 1 gives the exact size', async () => {
    const image = (await testPng(32, 24)).toString('base64');
    const { status, body } = await call(server, 'POST', '/sdapi/v1/extra-single-image', {
      image, resize_mode: 0, show_extras_results: true, gfpgan_visibility: 0, codeformer_visibility: 0, codeformer_weight: 0,
      upscaling_resize: 2, upscaling_crop: true, upscaler_1: 'R-ESRGAN 4x+', upscaler_2: 'None', extras_upscaler_2_visibility: 0, upscale_first: false,
    });
    expect(status).toBe(200);
    expect(await sizeOf(body.image)).toEqual(['png', 64, 48]);
    expect(body.html_info).toContain(server.models[2].id);
    const exact = await call(server, 'POST', '/sdapi/v1/extra-single-image', { image, resize_mode: 1, upscaling_resize_w: 50, upscaling_resize_h: 50, upscaler_1: server.models[2].id });
    expect(await sizeOf(exact.body.image)).toEqual(['png', 50, 50]);
    const faces = await call(server, 'POST', '/sdapi/v1/extra-single-image', { image, gfpgan_visibility: 0.5 });
    expect([faces.status, faces.body.error]).toEqual([400, 'unsupported']);
  });

  it('progress during a longer job shows the step and a PNG preview; interrupt stops it and its call answers with no images', async () => {
    const running = call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'a long one', width: 64, height: 64, steps: 60, seed: 2 });
    const seen = await eventually(async () => {
      const { body } = await call(server, 'GET', '/sdapi/v1/progress?skip_current_image=false');
      return body.state.sampling_step >= 2 && body.current_image ? body : undefined;
    }, 60_000, 'progress with a preview');
    expect(seen.state).toMatchObject({ sampling_steps: 60, job_count: 1, interrupted: false });
    expect(seen.progress).toBeGreaterThan(0);
    expect(seen.progress).toBeLessThan(1);
    expect(seen.eta_relative).toBeGreaterThan(0);
    expect((await sharp(decode(seen.current_image)).metadata()).format).toBe('png');
    const skipped = await call(server, 'GET', '/sdapi/v1/progress?skip_current_image=true');
    expect(skipped.body.current_image).toBeNull();

    const started = Date.now();
    expect((await call(server, 'POST', '/sdapi/v1/interrupt')).body).toEqual({});
    const answer = await running;
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(answer.status).toBe(200);
    expect(answer.body.images).toEqual([]);
    const idle = await call(server, 'GET', '/sdapi/v1/progress');
    expect(idle.body).toMatchObject({ progress: 0, current_image: null, state: { job_count: 0 } });
  });

  it('lists models (A1111 titles with the sha256), samplers, schedulers, upscalers, latent modes and LoRAs', async () => {
    const sdModels = await eventually(async () => {
      const { body } = await call(server, 'GET', '/sdapi/v1/sd-models');
      return body.every((m: any) => m.sha256) ? body : undefined;
    }, 60_000, 'model hashes');
    expect(sdModels.map((m: any) => m.model_name)).toEqual([server.models[0].id, second]);
    expect(sdModels[1]).toMatchObject({ title: `second-model.safetensors [${sdModels[1].sha256.slice(0, 10)}]`, hash: sdModels[1].sha256.slice(0, 10), config: null });
    expect(sdModels[1].sha256).toMatch(/^[0-9a-f]{64}$/);

    const samplers = (await call(server, 'GET', '/sdapi/v1/samplers')).body;
    expect(samplers).toContainEqual({ name: 'Euler a', aliases: ['euler_a'], options: {} });
    expect(samplers.map((s: any) => s.name)).toContain('DPM++ 2M');
    const schedulers = (await call(server, 'GET', '/sdapi/v1/schedulers')).body;
    expect(schedulers[0]).toMatchObject({ name: 'automatic', label: 'Automatic' });
    expect(schedulers).toContainEqual(expect.objectContaining({ name: 'karras', label: 'Karras' }));
    const upscalers = (await call(server, 'GET', '/sdapi/v1/upscalers')).body;
    expect(upscalers.map((u: any) => u.name)).toEqual(['None', 'Lanczos', 'Nearest', server.models[2].id]);
    expect((await call(server, 'GET', '/sdapi/v1/latent-upscale-modes')).body).toContainEqual({ name: 'Latent (nearest-exact)' });
    const loras = (await call(server, 'GET', '/sdapi/v1/loras')).body;
    expect(loras).toEqual([{ name: 'ink-style', alias: 'ink-style', path: path.join(loraDir, 'ink-style.safetensors'), metadata: { ss_output_name: 'ink-style', ss_network_dim: '4' } }]);
  });

  it('options: sd_model_checkpoint switches the model of the next txt2img, survives a restart; override_settings wins per request', async () => {
    const sdModels = (await call(server, 'GET', '/sdapi/v1/sd-models')).body;
    const title = sdModels.find((m: any) => m.model_name === second).title;
    const set = await call(server, 'POST', '/sdapi/v1/options', { sd_model_checkpoint: title, CLIP_stop_at_last_layers: 2 });
    expect([set.status, set.body]).toEqual([200, null]);
    expect((await call(server, 'GET', '/sdapi/v1/options')).body).toMatchObject({ sd_model_checkpoint: title, CLIP_stop_at_last_layers: 2 });
    const tiny = { prompt: 'p', width: 64, height: 64, steps: 1, seed: 4 };
    const next = JSON.parse((await call(server, 'POST', '/sdapi/v1/txt2img', tiny)).body.info);
    expect(next.sd_model_name).toBe(second);
    expect(next.clip_skip).toBe(2);
    expect(next.infotexts[0]).toContain(`Model: ${second}, Clip skip: 2`);
    const overridden = await call(server, 'POST', '/sdapi/v1/txt2img', { ...tiny, override_settings: { sd_model_checkpoint: `${path.basename(modelFiles[0])} [0123456789]`, CLIP_stop_at_last_layers: 1 } });
    expect(JSON.parse(overridden.body.info)).toMatchObject({ sd_model_name: server.models[0].id, clip_skip: 1 });
    const unknown = await call(server, 'POST', '/sdapi/v1/options', { sd_model_checkpoint: 'sd_xl_base_1.0.safetensors [31e35c80fc]' });
    expect([unknown.status, unknown.body.error]).toEqual([400, 'model_not_found']);
    expect(unknown.body.detail).toContain(`available: ${server.models[0].id}, ${second}`);

    await server.close();
    server = await startServer({ models: modelFiles, loraDir, dataDir });
    expect((await call(server, 'GET', '/sdapi/v1/options')).body).toMatchObject({ CLIP_stop_at_last_layers: 2, sd_model_checkpoint: expect.stringMatching(/^second-model\.safetensors/) });
    await call(server, 'POST', '/sdapi/v1/options', { sd_model_checkpoint: server.models[0].id, CLIP_stop_at_last_layers: 1 });
  });

  it('errors in the A1111/FastAPI shape: 422 for a body that fails validation, 400 for unknown names, 422 for unknown scripts', async () => {
    const invalid = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'p', width: 'wide' });
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ error: 'validation_error', detail: [{ loc: ['body', 'width'], type: 'type' }], body: '' });
    expect(invalid.body.errors).toContain('width');
    const missing = await call(server, 'POST', '/sdapi/v1/img2img', { prompt: 'p' });
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0].loc).toEqual(['body', 'init_images']);
    const sampler = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'p', width: 64, height: 64, steps: 1, sampler_name: 'Restart' });
    expect([sampler.status, sampler.body.error]).toEqual([400, 'invalid_request']);
    expect(sampler.body.detail).toContain('sampler_name');
    const script = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'p', width: 64, height: 64, steps: 1, alwayson_scripts: { ADetailer: { args: [] } } });
    expect([script.status, script.body.detail]).toEqual([422, expect.stringContaining('always on script ADetailer not found')]);
    const image = await call(server, 'POST', '/sdapi/v1/img2img', { prompt: 'p', init_images: ['not base64!'] });
    expect([image.status, image.body.error]).toEqual([400, 'invalid_image']);
  });
});

describe('A1111 API with auth on (as --api-auth: Basic with the API key as the password, or Bearer)', () => {
  const ADMIN = 'a1111-admin-key-0123456789';
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ auth: true, adminKey: ADMIN });
  });
  afterAll(async () => server?.close());

  it('401 without or with a wrong key (asking for Basic); 200 with Basic or Bearer; a key keeps its own options', async () => {
    const none = await call(server, 'GET', '/sdapi/v1/sd-models');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(none.body).toMatchObject({ error: 'unauthorized', detail: expect.any(String) });
    expect((await call(server, 'GET', '/sdapi/v1/sd-models', undefined, basic('wrong-key'))).status).toBe(401);

    const created = await call(server, 'POST', '/api/v6/keys/create', { name: 'webui' }, { authorization: `Bearer ${ADMIN}` });
    const key = created.body.key as string;
    expect((await call(server, 'GET', '/sdapi/v1/sd-models', undefined, basic(key))).status).toBe(200);
    expect((await call(server, 'GET', '/sdapi/v1/samplers', undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
    const made = await call(server, 'POST', '/sdapi/v1/txt2img', { prompt: 'p', width: 64, height: 64, steps: 1 }, basic(key, 'any-user'));
    expect([made.status, made.body.images.length]).toEqual([200, 1]);

    await call(server, 'POST', '/sdapi/v1/options', { CLIP_stop_at_last_layers: 3 }, basic(key));
    expect((await call(server, 'GET', '/sdapi/v1/options', undefined, basic(key))).body.CLIP_stop_at_last_layers).toBe(3);
    expect((await call(server, 'GET', '/sdapi/v1/options', undefined, basic(ADMIN))).body.CLIP_stop_at_last_layers).toBe(1);
  });
});

describe('A1111 ControlNet (sd-webui-controlnet alwayson_scripts) on a full SD 1.x model', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await createServer({
      port: 0, dataDir: tempDataDir(), auth: false, threads: 2,
      models: [synthesizeModel({ architecture: 'sd1' }).path, synthesizeModel({ architecture: 'sd1-controlnet' }).path],
    });
    await server.listen();
  });
  afterAll(async () => server?.close());

  it('txt2img guided by a canny unit whose model carries the A1111 " [hash]" suffix', async () => {
    const controlnet = server.models[1].id;
    expect((await call(server, 'GET', '/controlnet/model_list')).body).toEqual({ model_list: [controlnet] });
    const { status, body } = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'a house', width: 64, height: 64, steps: 1, seed: 1,
      alwayson_scripts: {
        controlnet: {
          args: [
            { enabled: true, input_image: (await testPng(64, 64)).toString('base64'), module: 'canny', model: `${controlnet} [d14c016b]`, weight: 0.8, resize_mode: 1, lowvram: false, processor_res: 512, threshold_a: 100, threshold_b: 200, guidance_start: 0, guidance_end: 1, control_mode: 0, pixel_perfect: false },
            { enabled: false, module: 'none', model: 'None' },
          ],
        },
      },
    });
    expect(status).toBe(200);
    expect(await sizeOf(body.images[0])).toEqual(['png', 64, 64]);
    expect(JSON.parse(body.info).infotexts[0]).toContain(`ControlNet 0: "Module: canny, Model: ${controlnet}, Weight: 0.8"`);
    const unknown = await call(server, 'POST', '/sdapi/v1/txt2img', {
      prompt: 'a house', width: 64, height: 64, steps: 1,
      alwayson_scripts: { controlnet: { args: [{ image: (await testPng(64, 64)).toString('base64'), module: 'openpose', model: controlnet }] } },
    });
    expect([unknown.status, unknown.body.detail]).toEqual([400, expect.stringContaining("'openpose' is not available")]);
  });
});
