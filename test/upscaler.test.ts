import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DisposedError, InvalidArgumentError, ModelFileError, ModelLoadError, PixelImage, readPngText, synthesizeModel, Upscaler } from '../src/index.js';

const anime = () => synthesizeModel({ architecture: 'esrgan-x4plus-anime' }).path;

async function picture(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

describe('Upscaler (synthetic RealESRGAN x4plus anime 6B)', () => {
  let up: Upscaler;
  beforeAll(async () => {
    up = await Upscaler.load({ model: anime(), tileSize: 128 });
  });
  afterAll(async () => {
    await up?.dispose();
  });

  it('has the layouts of the released models', () => {
    expect(synthesizeModel({ architecture: 'esrgan-x4plus' }).parameters).toBe(16_697_987);
    expect(up.modelScale).toBe(4);
  });

  it('returns exactly scale x the input size, for the model factor and others', async () => {
    const input = await picture(20, 12);
    const x4 = await up.upscale(input);
    expect([x4.width, x4.height, x4.channels, x4.data.length]).toEqual([80, 48, 3, 80 * 48 * 3]);
    const x3 = await up.upscale(input, { scale: 3 });
    expect([x3.width, x3.height]).toEqual([60, 36]);
    const again = await up.upscale(input);
    expect(again.data.equals(x4.data)).toBe(true);
  });

  it('carries the infotext of a generated image over, with the postprocessing added', async () => {
    const source = new PixelImage({ width: 8, height: 8, channels: 3, data: Buffer.alloc(192, 90), infotext: 'a cabin\nSteps: 20, Seed: 1' });
    const big = await up.upscale(source);
    expect(big.infotext).toBe(`a cabin\nSteps: 20, Seed: 1, Postprocess upscaler: ${up.model}, Postprocess upscale by: 4`);
    expect(readPngText(await big.toPNG()).parameters).toBe(big.infotext);
  });

  it('rejects bad input and options with clear errors', async () => {
    await expect(up.upscale(Buffer.from('nope'))).rejects.toThrow(/Expected an image \(.*\) for image/);
    await expect(up.upscale(await picture(8, 8), { scale: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(up.upscale(42 as never)).rejects.toThrow(/for image but received 42 of type number/);
    await expect(up.upscale(await picture(8, 8), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });
});

describe('Upscaler tiling and lifecycle', () => {
  it('upscales large images in tiles, reporting each tile', async () => {
    const up = await Upscaler.load({ model: anime(), tileSize: 16 });
    const tiles: number[] = [];
    const big = await up.upscale(await picture(40, 24), { onProgress: (e) => tiles.push(e.tile) });
    await up.dispose();
    expect([big.width, big.height]).toEqual([160, 96]);
    expect(tiles.length).toBeGreaterThan(2);
    expect(tiles).toEqual([...tiles].sort((a, b) => a - b));
    await expect(up.upscale(await picture(8, 8))).rejects.toBeInstanceOf(DisposedError);
  });

  it('refuses RealESRGAN x2plus (pixel-unshuffle input), which this engine release cannot run, with a clear error', async () => {
    const error = await Upscaler.load({ model: synthesizeModel({ architecture: 'esrgan-x2plus' }).path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain('load esrgan tensors from model loader failed');
  });

  it('refuses files that are not ESRGAN models', async () => {
    await expect(Upscaler.load({ model: '/nonexistent.pth' })).rejects.toBeInstanceOf(ModelFileError);
    const error = await Upscaler.load({ model: synthesizeModel({ architecture: 'taesd' }).path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain("tensor 'conv_first.weight' not in model file");
  });
});
