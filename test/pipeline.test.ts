import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DisposedError, Pipeline, readPngText, synthesizeModel, type ProgressEvent } from '../src/index.js';
import { tempDir, tinyModel } from './helpers/models.js';

const small = { width: 64, height: 64, steps: 2 } as const;

describe('Pipeline on the synthetic SDXS-512 model', () => {
  let pipe: Pipeline;

  beforeAll(async () => {
    pipe = await Pipeline.load({ model: tinyModel(), threads: 2 });
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it('reports what it loaded', () => {
    expect(pipe.model.family).toBe('sd1');
    expect(pipe.model.files[0].format).toBe('safetensors');
    expect(pipe.info).toMatchObject({
      family: 'sd1',
      engineVersion: 'SDXS (512-DS)',
      prediction: 'eps',
      defaultSize: 512,
      fileWeightTypes: { f16: 610 },
      memory: { totalMiB: 842.33, textEncodersMiB: 235.06, diffusionModelMiB: 602.6, vaeMiB: 4.67, controlNetMiB: 0 },
    });
  });

  it('returns an image of the requested size that decodes as PNG with A1111 parameters', async () => {
    const [img] = await pipe.generate({ prompt: 'a cabin, watercolor', negativePrompt: 'blurry', width: 64, height: 72, steps: 2, seed: 42, sampler: 'euler_a', guidanceScale: 7.5 });
    expect([img.width, img.height, img.channels, img.seed]).toEqual([64, 72, 3, 42]);
    expect(img.data.length).toBe(64 * 72 * 3);

    const png = await img.toPNG();
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 72]);
    const { parameters } = readPngText(png);
    expect(parameters).toBe(
      'a cabin, watercolor\nNegative prompt: blurry\n' +
        `Steps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 64x72, Model: ${pipe.model.name}, Version: diffusekit 0.1.0`,
    );

    const dir = tempDir();
    await img.save(path.join(dir, 'out.png'));
    expect(readPngText(fs.readFileSync(path.join(dir, 'out.png'))).parameters).toBe(parameters);
    await img.save(path.join(dir, 'out.jpg'));
    expect((await sharp(path.join(dir, 'out.jpg')).metadata()).format).toBe('jpeg');
  });

  it('gives the same pixels for the same seed and different pixels for another', async () => {
    const [a] = await pipe.generate({ prompt: 'a lighthouse', ...small, seed: 7 });
    const [b] = await pipe.generate({ prompt: 'a lighthouse', ...small, seed: 7 });
    const [c] = await pipe.generate({ prompt: 'a lighthouse', ...small, seed: 8 });
    expect(a.data.equals(b.data)).toBe(true);
    expect(a.data.equals(c.data)).toBe(false);
  });

  it('weights prompt words with (word:1.5), (word) and [word]', async () => {
    const image = async (prompt: string) => (await pipe.generate({ prompt, ...small, steps: 1, seed: 5 }))[0].data;
    const plain = await image('a cabin in the woods');
    const weighted = await image('a (cabin:1.5) in the woods');
    expect(weighted.equals(plain)).toBe(false);
    expect((await image('a (cabin) in the woods')).equals(plain)).toBe(false);
    expect((await image('a [cabin] in the woods')).equals(plain)).toBe(false);
    expect((await image('a (cabin:1.0) in the woods')).equals(plain)).toBe(true);
  });

  it('hires fix generates small, upscales and refines, returning the upscaled size', async () => {
    const phases: string[] = [];
    const [img] = await pipe.generate({
      prompt: 'x', ...small, seed: 1, hiresFix: { scale: 2, steps: 2, denoisingStrength: 0.5 },
      onProgress: (e) => phases.push(e.phase),
    });
    expect([img.width, img.height]).toEqual([128, 128]);
    expect(phases.slice(0, 3)).toEqual(['sampling', 'sampling', 'hires']);
    expect(phases.every((p) => p !== 'decoding')).toBe(true);
    expect(img.infotext).toContain('Size: 64x64');
    expect(img.infotext).toContain('Denoising strength: 0.5, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent');
    const [sized] = await pipe.generate({ prompt: 'x', ...small, seed: 1, hiresFix: { width: 96, height: 80, upscaler: 'lanczos' } });
    expect([sized.width, sized.height]).toEqual([96, 80]);
    await expect(pipe.generate({ prompt: 'x', ...small, hiresFix: { scale: 9 } })).rejects.toThrow(/for hiresFix.scale but received 9/);
    await expect(pipe.img2img({ prompt: 'x', initImage: img, hiresFix: {} })).rejects.toThrow('hiresFix is for text to image (generate) only');
  });

  it('hires fix with an ESRGAN model enlarges the first pass by the model, not by resampling', async () => {
    const esrgan = synthesizeModel({ architecture: 'esrgan-x4plus' }).path;
    const [byModel] = await pipe.generate({ prompt: 'x', ...small, steps: 1, seed: 1, hiresFix: { scale: 2, steps: 1, upscalerModel: esrgan } });
    const [byLanczos] = await pipe.generate({ prompt: 'x', ...small, steps: 1, seed: 1, hiresFix: { scale: 2, steps: 1, upscaler: 'lanczos' } });
    expect([byModel.width, byModel.height]).toEqual([128, 128]);
    expect(byModel.data.equals(byLanczos.data)).toBe(false);
    expect(byModel.infotext).toContain(`Hires upscaler: ${path.basename(esrgan, '.safetensors')}`);
    await expect(pipe.generate({ prompt: 'x', ...small, hiresFix: { upscalerModel: esrgan, upscaler: 'lanczos' } })).rejects.toThrow(/not both/);
    await expect(pipe.generate({ prompt: 'x', ...small, hiresFix: { upscalerModel: '/no/such/esrgan.pth' } })).rejects.toThrow(/upscalerModel file not found/);
  });

  it('picks a random seed when none is given and reports it', async () => {
    const [a] = await pipe.generate({ prompt: 'x', ...small, steps: 1 });
    expect(Number.isInteger(a.seed)).toBe(true);
    const [again] = await pipe.generate({ prompt: 'x', ...small, steps: 1, seed: a.seed });
    expect(again.data.equals(a.data)).toBe(true);
  });

  it('gives each batch image its own seed (seed + index)', async () => {
    const batch = await pipe.generate({ prompt: 'x', ...small, steps: 1, seed: 100, batchSize: 2 });
    expect(batch.map((i) => i.seed)).toEqual([100, 101]);
    const [second] = await pipe.generate({ prompt: 'x', ...small, steps: 1, seed: 101 });
    expect(batch[1].data.equals(second.data)).toBe(true);
    expect(batch[1].infotext).toContain('Batch pos: 1');
  });

  it('calls onProgress once per step, in order', async () => {
    const events: ProgressEvent[] = [];
    await pipe.generate({ prompt: 'x', ...small, steps: 4, seed: 1, onProgress: (e) => events.push(e) });
    expect(events.map((e) => [e.phase, e.step, e.steps])).toEqual([
      ['sampling', 1, 4],
      ['sampling', 2, 4],
      ['sampling', 3, 4],
      ['sampling', 4, 4],
    ]);
    expect(events.every((e, i) => i === 0 || e.elapsed >= events[i - 1].elapsed)).toBe(true);
  });

  it('attaches latent previews to progress events every N steps', async () => {
    const seen: [number, number | undefined][] = [];
    const [img] = await pipe.generate({
      prompt: 'x', ...small, steps: 5, seed: 1, preview: { every: 2 },
      onProgress: (e) => seen.push([e.step, e.preview?.width]),
    });
    // 'proj' previews are at latent resolution: 1/8 of the (64-aligned) canvas.
    expect(seen).toEqual([[1, undefined], [2, 8], [3, undefined], [4, 8], [5, 8]]);
    const decoded: number[] = [];
    const [same] = await pipe.generate({ prompt: 'x', ...small, steps: 5, seed: 1, preview: { mode: 'vae' }, onProgress: (e) => e.preview && decoded.push(e.preview.width) });
    expect(decoded).toEqual([64, 64, 64, 64, 64]);
    expect(same.data.equals(img.data)).toBe(true); // previews do not change the result
    await expect(pipe.generate({ prompt: 'x', ...small, preview: {} })).rejects.toThrow('preview needs onProgress');
    await expect(pipe.generate({ prompt: 'x', ...small, preview: { mode: 'tae' }, onProgress: () => {} })).rejects.toThrow(/preview mode 'tae' needs a taesd model/);
  });

  it('stops within one step on abort, and the next call succeeds', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    let stepsAfterAbort = -1;
    const run = pipe.generate({
      prompt: 'x', width: 128, height: 128, steps: 12, seed: 1, signal: controller.signal,
      onProgress: (e) => {
        steps.push(e.step);
        if (controller.signal.aborted) stepsAfterAbort++;
        if (e.step === 2) {
          controller.abort();
          stepsAfterAbort = 0;
        }
      },
    });
    const error = await run.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).code).toBe('ABORT_ERR');
    expect(stepsAfterAbort).toBeLessThanOrEqual(1);
    expect(steps.length).toBeLessThan(12);

    const [img] = await pipe.generate({ prompt: 'x', ...small, seed: 7 });
    const [reference] = await pipe.generate({ prompt: 'x', ...small, seed: 7 });
    expect(img.data.equals(reference.data)).toBe(true);
  });

  it('rejects at once when the signal is already aborted, and removes aborted calls from the queue', async () => {
    await expect(pipe.generate({ prompt: 'x', ...small, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const controller = new AbortController();
    const first = pipe.generate({ prompt: 'x', ...small, seed: 1 });
    const queued = pipe.generate({ prompt: 'x', ...small, seed: 2, signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    expect((await first).length).toBe(1);
  });

  it('reports a timeout signal as an AbortError caused by the TimeoutError', async () => {
    const error = await pipe.generate({ prompt: 'x', width: 128, height: 128, steps: 50, signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(((error as AbortError).cause as Error).name).toBe('TimeoutError');
  });

  it('serializes concurrent calls: both finish, each with its own result', async () => {
    const [a, b] = await Promise.all([
      pipe.generate({ prompt: 'x', ...small, seed: 11 }),
      pipe.generate({ prompt: 'x', ...small, seed: 12 }),
    ]);
    const [a2] = await pipe.generate({ prompt: 'x', ...small, seed: 11 });
    expect(a[0].seed).toBe(11);
    expect(b[0].seed).toBe(12);
    expect(a[0].data.equals(a2.data)).toBe(true);
    expect(a[0].data.equals(b[0].data)).toBe(false);
  });

  it('keeps the event loop free while generating', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    await pipe.generate({ prompt: 'x', ...small, steps: 3, seed: 1 });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // A blocked loop would tick at most once; a free one ticks about every 5 ms.
    expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 20));
  });
});

describe('Pipeline lifecycle', () => {
  it('fails cleanly on generate after dispose, and dispose is idempotent', async () => {
    const pipe = await Pipeline.load({ model: tinyModel() });
    await pipe.dispose();
    await pipe.dispose();
    expect(pipe.disposed).toBe(true);
    await expect(pipe.generate({ prompt: 'x', ...small })).rejects.toBeInstanceOf(DisposedError);
  });

  it('dispose cancels the running and the queued calls', async () => {
    const pipe = await Pipeline.load({ model: tinyModel() });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = pipe.generate({ prompt: 'x', width: 128, height: 128, steps: 30, onProgress: () => started() });
    const second = pipe.generate({ prompt: 'x', ...small });
    const outcomes = Promise.allSettled([first, second]);
    await running;
    await pipe.dispose();
    const [a, b] = await outcomes;
    expect(a.status === 'rejected' && a.reason).toBeInstanceOf(DisposedError);
    expect(b.status === 'rejected' && b.reason).toBeInstanceOf(DisposedError);
  });

  it('passes engine log lines to onLog at the chosen level', async () => {
    const lines: [string, string][] = [];
    const pipe = await Pipeline.load({ model: tinyModel(), onLog: (level, message) => lines.push([level, message]), logLevel: 'info' });
    await pipe.generate({ prompt: 'x', ...small, steps: 1 });
    await pipe.dispose();
    expect(lines.some(([level, m]) => level === 'info' && m.includes('Version: SDXS'))).toBe(true);
    expect(lines.some(([level]) => level === 'debug')).toBe(false);
  });
});

describe('several pipelines', () => {
  it('generate at the same time on different worker threads with the same results as one at a time', async () => {
    const [a, b] = await Promise.all([Pipeline.load({ model: tinyModel(), threads: 1 }), Pipeline.load({ model: tinyModel(), threads: 1 })]);
    const [x, y] = await Promise.all([a.generate({ prompt: 'x', ...small, seed: 21 }), b.generate({ prompt: 'y', ...small, seed: 22 })]);
    const [x2] = await b.generate({ prompt: 'x', ...small, seed: 21 });
    const [y2] = await a.generate({ prompt: 'y', ...small, seed: 22 });
    await Promise.all([a.dispose(), b.dispose()]);
    expect(x[0].data.equals(x2.data)).toBe(true);
    expect(y[0].data.equals(y2.data)).toBe(true);
  });
});

describe('freeParamsImmediately', () => {
  it('generates once, then refuses and disposes itself', async () => {
    const pipe = await Pipeline.load({ model: tinyModel(), freeParamsImmediately: true, vaeDecodeOnly: true });
    const [img] = await pipe.generate({ prompt: 'x', ...small, seed: 7 });
    expect(img.width).toBe(64);
    await expect(pipe.generate({ prompt: 'x', ...small })).rejects.toThrow('Pipeline was loaded with freeParamsImmediately and has already generated');
    await new Promise((resolve) => setImmediate(resolve));
    expect(pipe.disposed).toBe(true);
  });
});
