import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, type GeneratedImage, type RawImage } from '../src/index.js';
import { sd1InpaintModel, tempDir, tinyModel } from './helpers/models.js';

const W = 80;
const H = 72;

/** A test picture: a horizontal gradient, so every column differs. */
async function picture(): Promise<RawImage> {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([x * 3, y * 3, 128], (y * W + x) * 3);
  return { width: W, height: H, channels: 3, data };
}

/** White square (repaint) at x 24-55, y 20-51 on black. */
async function squareMask(width = W, height = H): Promise<Buffer> {
  const square = { input: { create: { width: 32, height: 32, channels: 3 as const, background: '#ffffff' } }, left: 24, top: 20 };
  return sharp({ create: { width, height, channels: 3, background: '#000000' } }).composite([square]).png().toBuffer();
}

const pixel = (img: RawImage | GeneratedImage, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
const meanAbsDiff = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
const inSquare = (x: number, y: number) => x >= 24 && x < 56 && y >= 20 && y < 52;

describe('image tasks on the synthetic SDXS-512 model', () => {
  let pipe: Pipeline;
  let init: RawImage;
  beforeAll(async () => {
    pipe = await Pipeline.load({ model: tinyModel() });
    init = await picture();
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it('img2img keeps the input size (multiples of 8), reports the strength, and is deterministic', async () => {
    const png = await sharp(init.data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
    const [a] = await pipe.img2img({ prompt: 'x', initImage: png, strength: 0.5, steps: 4, seed: 1 });
    const [b] = await pipe.img2img({ prompt: 'x', initImage: png, strength: 0.5, steps: 4, seed: 1 });
    expect([a.width, a.height]).toEqual([W, H]);
    expect(a.data.equals(b.data)).toBe(true);
    expect(a.infotext).toContain('Denoising strength: 0.5');
  });

  it('img2img strength moves the result away from the input', async () => {
    const diff = async (strength: number) => {
      const [img] = await pipe.img2img({ prompt: 'x', initImage: init, strength, steps: 4, seed: 3 });
      return meanAbsDiff(img.data, init.data);
    };
    expect(await diff(0.25)).toBeLessThan(await diff(1));
  });

  it('img2img accepts a path, a sharp instance and a GeneratedImage, fitted to an explicit size', async () => {
    const file = path.join(tempDir(), 'init.png');
    await sharp(init.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    const [fromPath] = await pipe.img2img({ prompt: 'x', initImage: file, width: 64, height: 64, fit: 'contain', steps: 1, seed: 2 });
    const [fromSharp] = await pipe.img2img({ prompt: 'x', initImage: sharp(file), width: 64, height: 64, fit: 'contain', steps: 1, seed: 2 });
    expect([fromPath.width, fromPath.height]).toEqual([64, 64]);
    expect(fromPath.data.equals(fromSharp.data)).toBe(true);
    const [chained] = await pipe.img2img({ prompt: 'x', initImage: fromPath, steps: 1, seed: 2 });
    expect([chained.width, chained.height]).toEqual([64, 64]);
  });

  it('img2img takes the size of a rotated (EXIF orientation 6) photo upright', async () => {
    const photo = await sharp({ create: { width: 80, height: 64, channels: 3, background: '#4080c0' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const [img] = await pipe.img2img({ prompt: 'x', initImage: photo, steps: 1, seed: 1 });
    expect([img.width, img.height]).toEqual([64, 80]);
  });

  it('inpaint keeps every unmasked pixel and repaints the masked area', async () => {
    const [img] = await pipe.inpaint({ prompt: 'x', initImage: init, maskImage: await squareMask(), maskBlur: 0, steps: 4, seed: 1 });
    expect([img.width, img.height]).toEqual([W, H]);
    let kept = 0;
    let changedInside = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const same = pixel(img, x, y).join() === pixel(init, x, y).join();
        if (!inSquare(x, y)) kept += same ? 1 : 0;
        else changedInside += same ? 0 : 1;
      }
    }
    expect(kept).toBe(W * H - 32 * 32);
    expect(changedInside).toBeGreaterThan(32 * 32 * 0.9);
    expect(img.infotext).toContain('Mask blur: 0');
  });

  it('inpaint with a blurred mask still keeps pixels far from the edge; preserveUnmasked: false does not', async () => {
    const mask = await squareMask();
    const [soft] = await pipe.inpaint({ prompt: 'x', initImage: init, maskImage: mask, maskBlur: 2, steps: 2, seed: 1 });
    expect(pixel(soft, 2, 2)).toEqual(pixel(init, 2, 2));
    expect(pixel(soft, 77, 69)).toEqual(pixel(init, 77, 69));
    const [raw] = await pipe.inpaint({ prompt: 'x', initImage: init, maskImage: mask, preserveUnmasked: false, steps: 2, seed: 1 });
    expect(meanAbsDiff(raw.data, init.data)).toBeGreaterThan(0);
    expect(raw.data.equals(soft.data)).toBe(false);
  });

  it('maskedContent changes what the masked area starts from; unmasked pixels stay the input', async () => {
    const mask = await squareMask();
    const base = { prompt: 'x', initImage: init, maskImage: mask, steps: 2, seed: 4, strength: 0.5, maskBlur: 0 };
    const [original] = await pipe.inpaint(base);
    for (const content of ['fill', 'noise', 'nothing'] as const) {
      const [other] = await pipe.inpaint({ ...base, maskedContent: content });
      expect(other.data.equals(original.data), content).toBe(false);
      expect(pixel(other, 5, 5), content).toEqual(pixel(init, 5, 5));
    }
    await expect(pipe.inpaint({ ...base, maskedContent: 'latent' as never })).rejects.toThrow(/maskedContent/);
  });

  it('onlyMasked inpaints a crop around the mask at full size and leaves the rest of the image untouched', async () => {
    const mask = await squareMask();
    const base = { prompt: 'x', initImage: init, maskImage: mask, steps: 2, seed: 4, maskBlur: 0 };
    const [whole] = await pipe.inpaint(base);
    const [cropped] = await pipe.inpaint({ ...base, onlyMasked: { padding: 4 }, preserveUnmasked: false });
    expect([cropped.width, cropped.height]).toEqual([W, H]);
    expect(meanAbsDiff(cropped.data, whole.data)).toBeGreaterThan(0);
    // Outside the mask the input stays, even without preserveUnmasked: only the masked crop was pasted back.
    for (const [x, y] of [[2, 2], [70, 60], [20, 30], [60, 56]]) expect(pixel(cropped, x, y)).toEqual(pixel(init, x, y));
    expect(pixel(cropped, 40, 36)).not.toEqual(pixel(init, 40, 36));
    await expect(pipe.inpaint({ ...base, onlyMasked: { padding: -1 } })).rejects.toThrow(/onlyMasked.padding/);
  });

  it('outpaint extends the canvas and keeps the original region exactly', async () => {
    const extend = { left: 16, right: 8, top: 0, bottom: 24 };
    for (const fill of ['edge', 'noise'] as const) {
      const [img] = await pipe.outpaint({ prompt: 'x', initImage: init, extend, fill, steps: 2, seed: 5 });
      expect([img.width, img.height]).toEqual([W + 24, H + 24]);
      const region = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
        .extract({ left: 16, top: 0, width: W, height: H })
        .raw()
        .toBuffer();
      expect(region.equals(init.data)).toBe(true);
      expect(pixel(img, 0, H + 20)).not.toEqual(pixel(init, 0, H - 1));
    }
  });

  it('outpaint to a target canvas puts the original at its anchor', async () => {
    const [img] = await pipe.outpaint({ prompt: 'x', initImage: init, canvas: { width: 128, height: 96, anchor: 'top-right' }, steps: 1, seed: 5 });
    expect([img.width, img.height]).toEqual([128, 96]);
    const region = await sharp(img.data, { raw: { width: 128, height: 96, channels: 3 } }).extract({ left: 128 - W, top: 0, width: W, height: H }).raw().toBuffer();
    expect(region.equals(init.data)).toBe(true);
    await expect(pipe.outpaint({ prompt: 'x', initImage: init, canvas: { width: 64, height: 64 } })).rejects.toThrow(/a size at least the initImage's 80x72/);
    await expect(pipe.outpaint({ prompt: 'x', initImage: init, extend: { left: 8 }, canvas: { width: 128, height: 96 } })).rejects.toThrow(/either extend/);
  });

  it('rejects bad image inputs with clear errors', async () => {
    const mask = await squareMask(64, 64);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => pipe.img2img({ prompt: 'x', initImage: undefined as never }), /Expected image \(path, Buffer, sharp instance, raw image or GeneratedImage\) for initImage but received undefined/],
      [() => pipe.img2img({ prompt: 'x', initImage: '/nonexistent.png' }), /initImage file not found: \/nonexistent\.png/],
      [() => pipe.img2img({ prompt: 'x', initImage: Buffer.from('not an image') }), /initImage could not be read as an image/],
      [() => pipe.img2img({ prompt: 'x', initImage: init, strength: 1.5 }), /Expected number between 0 and 1 for strength but received 1.5/],
      [() => pipe.img2img({ prompt: 'x', initImage: init, fit: 'squash' as never }), /Expected one of cover, contain, fill for fit/],
      [() => pipe.img2img({ prompt: 'x', initImage: init, width: 64 }), /Expected a value when the other side is given for height/],
      [() => pipe.inpaint({ prompt: 'x', initImage: init, maskImage: mask }), /maskImage is 64x64 but initImage is 80x72: they must be the same size/],
      [() => pipe.outpaint({ prompt: 'x', initImage: init, extend: {} }), /Expected at least one side above 0 for extend/],
      [() => pipe.outpaint({ prompt: 'x', initImage: init, extend: { left: -8 } }), /for extend.left but received -8/],
      [() => pipe.outpaint({ prompt: 'x', initImage: init, extend: { left: 8 }, width: 64 } as never), /for width/],
    ];
    for (const [call, message] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(message);
    }
    const [ok] = await pipe.img2img({ prompt: 'x', initImage: init, steps: 1, seed: 1 });
    expect(ok.width).toBe(W);
  });
});

describe('inpainting checkpoint (9-channel UNet)', () => {
  it('loads as an inpainting model and keeps unmasked pixels', async () => {
    const lines: string[] = [];
    const pipe = await Pipeline.load({ model: sd1InpaintModel(), onLog: (_, m) => lines.push(m) });
    const init = await picture();
    const [img] = await pipe.inpaint({ prompt: 'x', initImage: init, maskImage: await squareMask(), maskBlur: 0, steps: 1, seed: 1 });
    await pipe.dispose();
    expect(lines.some((l) => l.includes('Version: SD 1.x Inpaint'))).toBe(true);
    expect(pixel(img, 0, 0)).toEqual(pixel(init, 0, 0));
    expect(pixel(img, 40, 36)).not.toEqual(pixel(init, 40, 36));
    expect(fs.existsSync(sd1InpaintModel())).toBe(true);
  });
});
