import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, Pipeline, type GeneratedImage, type ProgressEvent } from '../src/index.js';
import { maxAbsDiff } from './helpers/kernels.js';
import { tinyModel, wanTi2vModel, wanVideoModel } from './helpers/models.js';

const tiny = { prompt: 'a paper boat on a pond', width: 64, height: 64, frames: 5, steps: 2 } as const;

/** Mean absolute difference of two frames, 0-255. */
const distance = (a: GeneratedImage, b: GeneratedImage) => a.data.reduce((sum, v, i) => sum + Math.abs(v - b.data[i]), 0) / a.data.length;

const still = (colour: string) => sharp({ create: { width: 96, height: 80, channels: 3, background: colour } }).png().toBuffer();

// Wan2.1 T2V 1.3B (the full 1.42 B-parameter DiT) with the Wan 2.1 VAE, at 64x64: a few seconds per step.
describe('generateVideo on the synthetic Wan2.1 T2V 1.3B model', () => {
  let pipe: Pipeline;

  beforeAll(async () => {
    pipe = await Pipeline.load({ ...wanVideoModel(), threads: 2 });
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it('loads as a video model and refuses image calls', async () => {
    expect(pipe.model.family).toBe('wan');
    await expect(pipe.generate({ prompt: 'x' })).rejects.toThrow(/video model: use generateVideo/);
  });

  it('returns the requested frame count and size, seeded, with progress and parameters', async () => {
    const events: ProgressEvent[] = [];
    const clip = await pipe.generateVideo({ ...tiny, frames: 3, seed: 11, onProgress: (e) => events.push(e) });
    // The engine samples 4n+1 frames; the clip keeps the 3 asked for.
    expect(clip.frames).toHaveLength(3);
    expect([clip.width, clip.height, clip.fps, clip.seed]).toEqual([64, 64, 16, 11]);
    expect(clip.duration).toBeCloseTo(3 / 16);
    for (const frame of clip.frames) expect([frame.width, frame.height, frame.channels, frame.data.length]).toEqual([64, 64, 3, 64 * 64 * 3]);
    expect(clip.frames[1].parameters).toMatchObject({ frames: 3, fps: 16, seed: 11, steps: 2, sampler: 'euler', batchIndex: 1 });
    expect(clip.frames[0].infotext).toContain('Steps: 2, Sampler: Euler, CFG scale: 6, Seed: 11, Size: 64x64');
    expect(events.map((e) => [e.phase, e.step, e.steps])).toEqual([['sampling', 1, 2], ['sampling', 2, 2]]);
    const again = await pipe.generateVideo({ ...tiny, frames: 3, seed: 11 });
    expect(again.frames.every((f, i) => f.data.equals(clip.frames[i].data))).toBe(true);
  });

  it('starts from the init image at low strength: the image decides the clip, not the seed', async () => {
    // flowShift 1 keeps the schedule linear, so strength 0.1 of 8 steps is one step from sigma 0.125.
    const fromImage = { ...tiny, steps: 8, flowShift: 1, strength: 0.1 };
    const red1 = await pipe.generateVideo({ ...fromImage, seed: 1, initImage: await still('#c03020') });
    const red2 = await pipe.generateVideo({ ...fromImage, seed: 2, initImage: await still('#c03020') });
    const blue1 = await pipe.generateVideo({ ...fromImage, seed: 1, initImage: await still('#2040c0') });
    const text1 = await pipe.generateVideo({ ...tiny, seed: 1 });
    const text2 = await pipe.generateVideo({ ...tiny, seed: 2 });
    expect(red1.parameters.denoisingStrength).toBe(0.1);
    expect(distance(red1.frames[0], red2.frames[0])).toBeLessThan(2);
    expect(distance(red1.frames[4], red2.frames[4])).toBeLessThan(2);
    expect(distance(red1.frames[0], blue1.frames[0])).toBeGreaterThan(20);
    expect(distance(red1.frames[0], text1.frames[0])).toBeGreaterThan(20);
    expect(distance(text1.frames[0], text2.frames[0])).toBeGreaterThan(20);
  });

  it('stops within one step on abort, and the next call succeeds', async () => {
    const controller = new AbortController();
    let afterAbort = 0;
    const call = pipe.generateVideo({
      ...tiny, steps: 6, seed: 3, signal: controller.signal,
      onProgress: () => {
        if (controller.signal.aborted) afterAbort++;
        controller.abort();
      },
    });
    await expect(call).rejects.toBeInstanceOf(AbortError);
    expect(afterAbort).toBeLessThanOrEqual(1);
    expect((await pipe.generateVideo({ ...tiny, frames: 1, steps: 1, seed: 3 })).frames).toHaveLength(1);
  });

  it('refuses bad parameters with typed errors before anything runs', async () => {
    const bad = async (options: object, message: RegExp) => {
      const error = await pipe.generateVideo({ ...tiny, ...options }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(message);
    };
    await bad({ frames: 0 }, /frames/);
    await bad({ frames: 258 }, /frames/);
    await bad({ frames: 2.5 }, /frames/);
    await bad({ width: 72 }, /multiple of 16/);
    await bad({ fps: 0 }, /fps/);
    await bad({ strength: 0.5 }, /strength needs an initImage/);
    await bad({ initImage: '/no/such/image.png' }, /initImage file not found/);
    await bad({ prompt: 7 }, /prompt/);
  });
});

// Wan2.2 TI2V 5B (the full 5 B-parameter DiT, 10 GB in f16) with the 48-channel Wan 2.2 VAE.
describe('generateVideo on the synthetic Wan2.2 TI2V 5B model', () => {
  // The first frame's latent is the encoded init image, but the sampler reaches it as x - (x - init) from
  // seeded noise x, so it differs between seeds in the last bit, and the synthetic VAE, fed a flat colour,
  // amplifies that into a few pixels one level apart (measured: 296 of 12288 values, 1/255, on the haswell
  // variant; none on skylakex). The frames after it differ by tens of levels.
  it('keeps the init image as the first frame whatever the seed; the rest is sampled; 24 fps, sides of 32', async () => {
    await using pipe = await Pipeline.load({ ...wanTi2vModel(), threads: 2 });
    const options = { ...tiny, frames: 5, steps: 1, initImage: await still('#c03020') };
    const one = await pipe.generateVideo({ ...options, seed: 1 });
    const two = await pipe.generateVideo({ ...options, seed: 2 });
    expect([one.fps, one.frames.length, one.width]).toEqual([24, 5, 64]);
    expect(distance(one.frames[0], two.frames[0])).toBeLessThan(0.1);
    expect(maxAbsDiff(one.frames[0].data, two.frames[0].data)).toBeLessThanOrEqual(1);
    expect(distance(one.frames[4], two.frames[4])).toBeGreaterThan(5);
    await expect(pipe.generateVideo({ ...options, width: 80 })).rejects.toThrow(/multiple of 32/);
    await expect(pipe.generateVideo({ ...options, strength: 0.5 })).rejects.toThrow(/strength is for text-to-video models/);
  });
});

describe('generateVideo with two experts (Wan2.2 A14B layout: a high-noise and a low-noise model)', () => {
  it('samples the first steps with the high-noise expert and reports one run of the steps asked for', async () => {
    const wan = wanVideoModel();
    const log: string[] = [];
    // The 1.3B DiT stands in for both experts: the engine builds them alike from any Wan DiT.
    await using pipe = await Pipeline.load({ ...wan, highNoiseDiffusionModel: wan.diffusionModel, threads: 2, onLog: (_l, m) => log.push(m) });
    const events: ProgressEvent[] = [];
    const clip = await pipe.generateVideo({ ...tiny, frames: 1, steps: 4, seed: 2, onProgress: (e) => events.push(e) });
    expect(clip.frames).toHaveLength(1);
    expect(log.join('')).toMatch(/sampling\(high noise\) completed/);
    expect(events.map((e) => `${e.phase} ${e.step}/${e.steps}`)).toEqual(['sampling 1/4', 'sampling 2/4', 'sampling 3/4', 'sampling 4/4']);
  });
});

describe('generateVideo on an image model', () => {
  it('is refused with a typed error', async () => {
    await using pipe = await Pipeline.load({ model: tinyModel(), threads: 2 });
    await expect(pipe.generateVideo({ prompt: 'x' })).rejects.toThrow(/needs a video model \(Wan\)/);
  });
});
