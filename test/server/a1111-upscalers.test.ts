import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeModel } from '../../lib/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { post, startServer, testPng } from './helpers.js';

// A server that serves a checkpoint and no upscaler model: A1111's built-in upscalers still work.

let server: DiffusekitServer;
let image: string;

beforeAll(async () => {
  server = await startServer({ models: [synthesizeModel({ architecture: 'sdxs' }).path] });
  image = (await testPng(40, 30)).toString('base64');
});
afterAll(() => server?.close());

const size = async (b64: string) => {
  const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
  return [meta.width, meta.height];
};

describe('A1111 built-in upscalers with no upscaler model served', () => {
  it('extra-single-image resizes with Lanczos, Nearest and None; resize_mode 1 gives the exact size', async () => {
    for (const upscaler_1 of ['Lanczos', 'Nearest', 'None']) {
      const { status, body } = await post(`${server.url}/sdapi/v1/extra-single-image`, { image, upscaling_resize: 2, upscaler_1 });
      expect([status, await size(body.image)]).toEqual([200, [80, 60]]);
      expect(body.html_info).toContain(`Postprocess upscaler: ${upscaler_1}`);
    }
    const exact = await post(`${server.url}/sdapi/v1/extra-single-image`, { image, resize_mode: 1, upscaling_resize_w: 100, upscaling_resize_h: 50, upscaler_1: 'Lanczos' });
    expect(await size(exact.body.image)).toEqual([100, 50]);
  });

  it('Nearest keeps the pixels: a 2x upscale has each source pixel as a 2x2 block', async () => {
    const { body } = await post(`${server.url}/sdapi/v1/extra-single-image`, { image, upscaling_resize: 2, upscaler_1: 'Nearest' });
    const up = await sharp(Buffer.from(body.image, 'base64')).raw().toBuffer({ resolveWithObject: true });
    const src = await sharp(Buffer.from(image, 'base64')).raw().toBuffer({ resolveWithObject: true });
    const at = (img: typeof up, x: number, y: number) => [...img.data.subarray((y * img.info.width + x) * img.info.channels, (y * img.info.width + x) * img.info.channels + 3)];
    for (const [x, y] of [[0, 0], [13, 7], [39, 29]]) {
      for (const [dx, dy] of [[0, 0], [1, 1]]) expect(at(up, 2 * x + dx, 2 * y + dy)).toEqual(at(src, x, y));
    }
  });

  it('an unknown upscaler is a 400 naming the valid ones, in extras and in the hires fix', async () => {
    const extras = await post(`${server.url}/sdapi/v1/extra-single-image`, { image, upscaling_resize: 2, upscaler_1: 'R-ESRGAN 4x+' });
    expect(extras.status).toBe(400);
    expect(JSON.stringify(extras.body)).toContain("no upscaler 'R-ESRGAN 4x+' on this server (valid: None, Lanczos, Nearest)");
    const hires = await post(`${server.url}/sdapi/v1/txt2img`, { prompt: 'x', width: 64, height: 64, steps: 1, enable_hr: true, hr_upscaler: 'Bicubic 9000' });
    expect(hires.status).toBe(400);
    expect(JSON.stringify(hires.body)).toMatch(/hr_upscaler: no upscaler 'Bicubic 9000' on this server \(valid: Latent, .*None, Lanczos, Nearest\)/);
  });

  it('hires fix with the Nearest upscaler runs without an upscaler model', async () => {
    const { status, body } = await post(`${server.url}/sdapi/v1/txt2img`, { prompt: 'a castle', width: 64, height: 64, steps: 1, seed: 2, enable_hr: true, hr_scale: 2, hr_upscaler: 'Nearest', hr_second_pass_steps: 1 });
    expect(status).toBe(200);
    expect(await size(body.images[0])).toEqual([128, 128]);
    expect(JSON.parse(body.info).infotexts[0]).toContain('Hires upscaler: Nearest');
  }, 600_000);
});
