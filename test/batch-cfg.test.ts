// Batched classifier-free guidance (LoadOptions.batchCfg; native/engine/diffusekit_cfg_batch.inl): a UNet step
// evaluates prompt and negative prompt as one batch of 2 instead of one after the other. The two ways compute the
// same numbers in another grouping, so their images agree within rounding; engineInfo().guidanceBatches says
// which way each step went.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineInfo, InvalidArgumentError, Pipeline, type GenerateOptions } from '../src/index.js';
import { maxAbsDiff, psnr } from './helpers/kernels.js';
import { tinyModel } from './helpers/models.js';

const job: GenerateOptions = { prompt: 'a cabin in misty mountains', negativePrompt: 'blurry', width: 128, height: 128, steps: 3, seed: 11, sampler: 'euler', guidanceScale: 7 };

/** The image of `options` and how many steps of it ran batched. */
async function generate(pipe: Pipeline, options: GenerateOptions) {
  const before = engineInfo().guidanceBatches;
  const [image] = await pipe.generate(options);
  return { image, batchedSteps: engineInfo().guidanceBatches - before };
}

describe('batched guidance (batchCfg)', () => {
  let batched: Pipeline;
  let apart: Pipeline;
  beforeAll(async () => {
    batched = await Pipeline.load({ model: tinyModel(), threads: 2, batchCfg: true });
    apart = await Pipeline.load({ model: tinyModel(), threads: 2 }); // the default: two passes
  }, 300_000);
  afterAll(async () => {
    await batched?.dispose();
    await apart?.dispose();
  });

  it('runs every step\'s prompt and negative prompt as one batch when asked, and is off by default', async () => {
    const { image, batchedSteps } = await generate(batched, job);
    expect(batchedSteps).toBe(3);
    expect(new Set(image.data).size).toBeGreaterThan(16);
    expect((await generate(apart, job)).batchedSteps).toBe(0);
  });

  it('gives the image of two separate passes, within rounding', async () => {
    const one = await generate(batched, job);
    const two = await generate(apart, job);
    expect(two.batchedSteps).toBe(0);
    // Measured on the CPU: the same pixels (each image's sums run in the same order in a batch as alone).
    const diff = maxAbsDiff(one.image.data, two.image.data);
    const db = psnr(one.image.data, two.image.data);
    console.info(`batched vs two passes: pixels ${diff}/255, PSNR ${db.toFixed(1)} dB`);
    expect(diff).toBeLessThanOrEqual(2);
    expect(db).toBeGreaterThanOrEqual(50);
  });

  it('is deterministic', async () => {
    const a = await generate(batched, job);
    const b = await generate(batched, job);
    expect(Buffer.compare(a.image.data, b.image.data)).toBe(0);
  });

  it('runs apart where there is no negative pass (guidance scale 1)', async () => {
    const { batchedSteps } = await generate(batched, { ...job, guidanceScale: 1 });
    expect(batchedSteps).toBe(0);
  });

  it('runs apart, and still generates, when prompt and negative prompt encode to different lengths', async () => {
    // Over 77 tokens the prompt is encoded in two chunks (154 tokens), the negative prompt in one.
    const long = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
    const { image, batchedSteps } = await generate(batched, { ...job, prompt: long, steps: 1 });
    expect(batchedSteps).toBe(0);
    expect(image.data.length).toBe(128 * 128 * 3);
  });

  it('refuses a value that is not a boolean with a typed error', async () => {
    await expect(Pipeline.load({ model: tinyModel(), batchCfg: 'yes' as never })).rejects.toThrow(InvalidArgumentError);
  });
});
