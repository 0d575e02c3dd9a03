import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import ffprobe from '@ffprobe-installer/ffprobe';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { tinyModel, wanVideoModel } from '../helpers/models.js';
import { eventually, post, startServer, testPng } from './helpers.js';

const tiny = { prompt: 'waves on a beach', width: 64, height: 64, num_frames: '5', fps: '8', num_inference_steps: '1', seed: 5 };

async function download(url: string): Promise<{ bytes: Buffer; type: string | null }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return { bytes: Buffer.from(await response.arrayBuffer()), type: response.headers.get('content-type') };
}

/** Polls the video fetch path until the job leaves "processing"; returns every answer seen. */
async function fetchVideo(server: DiffusekitServer, id: number): Promise<Record<string, any>[]> {
  const seen: Record<string, any>[] = [];
  await eventually(async () => {
    const { body } = await post(`${server.url}/api/v6/video/fetch/${id}`, {});
    seen.push(body);
    return body.status !== 'processing';
  }, 300_000, `video job ${id}`);
  return seen;
}

function probe(bytes: Buffer) {
  const out = execFileSync(ffprobe.path, ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames', '-of', 'json', '-i', 'pipe:0'], { input: bytes });
  return JSON.parse(out.toString()).streams[0];
}

// A server with an image model and the synthetic Wan2.1 T2V 1.3B (its VAE given as another model file).
describe('v6 video endpoints on a real server', () => {
  let server: DiffusekitServer;
  let receiver: http.Server;
  let hookUrl: string;
  const hooks: Record<string, any>[] = [];

  beforeAll(async () => {
    const wan = wanVideoModel();
    server = await startServer({ models: [tinyModel(), wan.diffusionModel, wan.vae], allowHosts: ['127.0.0.1'], limits: { maxFrames: 17 } });
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.push(JSON.parse(Buffer.concat(chunks).toString()));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await server?.close();
    receiver?.close();
  });

  it('text2video answers processing at once, shows progress, and ends in an MP4 with the frames, size and fps asked for', async () => {
    const submitted = await post(`${server.url}/api/v6/video/text2video`, { ...tiny, num_inference_steps: '3', webhook: hookUrl, track_id: 'clip-1' });
    expect(submitted.status).toBe(200);
    expect(submitted.body).toMatchObject({ status: 'processing', track_id: 'clip-1', fetch_result: `${server.url}/api/v6/video/fetch/${submitted.body.id}` });
    // The output name: the job id, 128 random bits, the index.
    expect(submitted.body.future_links).toEqual([expect.stringMatching(new RegExp(`^${server.url}/generations/${submitted.body.id}-[\\w-]{22}-0\\.mp4$`))]);
    const answers = await fetchVideo(server, submitted.body.id);
    const done = answers.at(-1)!;
    expect(done).toMatchObject({ status: 'success', output: submitted.body.future_links });
    expect(done.meta).toMatchObject({ model_id: 'synthetic-wan2.1-t2v-1.3b-seed0-f16-v1', num_frames: 5, fps: 8, width: 64, height: 64, seed: 5, output_type: 'mp4' });
    expect(answers.some((a) => a.progress?.phase === 'sampling')).toBe(true);
    const video = await download(done.output[0]);
    expect(video.type).toBe('video/mp4');
    expect(probe(video.bytes)).toMatchObject({ codec_name: 'h264', width: 64, height: 64, r_frame_rate: '8/1', nb_read_frames: '5' });
    const hook = await eventually(() => hooks.find((h) => h.id === submitted.body.id), 30_000, 'the webhook');
    expect(hook).toMatchObject({ status: 'success', track_id: 'clip-1', output: done.output });

    const load = (await post(`${server.url}/api/v6/system_load`, {})).body;
    expect(load.models).toContainEqual(expect.objectContaining({ id: 'synthetic-wan2.1-t2v-1.3b-seed0-f16-v1', role: 'video', family: 'wan' }));
    expect(load.average_seconds_last_hour.txt2video).toMatchObject({ jobs: 1 });
  });

  it('img2video takes a base64 image and writes an animated GIF or WebP', async () => {
    const png = (await testPng(64, 64)).toString('base64');
    const gif = await post(`${server.url}/api/v6/video/img2video`, { ...tiny, init_image: png, strength: 0.5, output_type: 'gif' });
    expect(gif.body).toMatchObject({ status: 'processing' });
    const done = (await fetchVideo(server, gif.body.id)).at(-1)!;
    expect(done.meta).toMatchObject({ strength: 0.5, output_type: 'gif' });
    const file = await download(done.output[0]);
    expect(file.type).toBe('image/gif');
    const meta = await sharp(file.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.width, meta.pageHeight]).toEqual(['gif', 5, 64, 64]);
  });

  it('refuses bad video requests with a 400 and a message', async () => {
    const bad = async (path: string, body: object, message: RegExp) => {
      const response = await post(`${server.url}/api/v6/video/${path}`, body);
      expect(response.status).toBe(400);
      expect(response.body.status).toBe('error');
      expect(response.body.message).toMatch(message);
    };
    await bad('text2video', { ...tiny, num_frames: 0 }, /num_frames/);
    await bad('text2video', { ...tiny, num_frames: 33 }, /num_frames.*17/);
    await bad('text2video', { ...tiny, width: 72 }, /width.*multiple of 16/);
    await bad('text2video', { ...tiny, output_type: 'avi' }, /output_type/);
    await bad('text2video', { ...tiny, model_id: 'synthetic-sdxs-seed0-f16-v1' }, /no video model 'synthetic-sdxs-seed0-f16-v1'/);
    await bad('img2video', { ...tiny }, /init_image/);
    await bad('img2video', { ...tiny, init_image: 'not base64!' }, /init_image/);
    const image = await post(`${server.url}/api/v6/images/text2img`, { prompt: 'x', model_id: 'synthetic-wan2.1-t2v-1.3b-seed0-f16-v1' });
    expect(image.status).toBe(400);
    expect(image.body.message).toMatch(/no checkpoint model 'synthetic-wan2.1-t2v-1.3b-seed0-f16-v1'/);
  });
});

describe('video model registry', () => {
  it("pairs Wan2.2 A14B experts by their file names and refuses a high-noise expert alone", async () => {
    const { loadModelRegistry } = await import('../../lib/server/models/model-registry.js');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { tempDataDir } = await import('./helpers.js');
    const wan = wanVideoModel();
    const dir = tempDataDir();
    // Same architecture, told apart by name only, as ComfyUI's files are (links: no copies of 2.8 GB).
    const [low, high] = ['wan2.2_t2v_low_noise_test.safetensors', 'wan2.2_t2v_high_noise_test.safetensors'].map((name) => path.join(dir, name));
    fs.symlinkSync(wan.diffusionModel, low);
    fs.symlinkSync(wan.diffusionModel, high);
    const models = await loadModelRegistry([low, high, wan.vae]);
    expect(models.map((m) => [m.id, m.role])).toEqual([['wan2.2_t2v_low_noise_test', 'video']]);
    expect(models[0].components).toEqual({ vae: wan.vae, t5xxl: undefined, clipVision: undefined, highNoiseDiffusionModel: high });
    await expect(loadModelRegistry([high, wan.vae])).rejects.toThrow(/high-noise expert: serve it with its low-noise model/);
    await expect(loadModelRegistry([low])).rejects.toThrow(/needs a VAE with 16 latent channels/);
  });
});
