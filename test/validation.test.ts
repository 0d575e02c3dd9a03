import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ModelFileError, Pipeline, type GenerateOptions } from '../src/index.js';
import { inspectModelFile, detectFamily } from '../src/index.js';
import { writeGguf } from './helpers/gguf.js';
import { tempDir, tinyModel } from './helpers/models.js';

/** Writes the first `bytes` bytes of the tiny model. */
function truncatedCopy(dir: string, name: string, bytes: number): string {
  const file = path.join(dir, name);
  const fd = fs.openSync(tinyModel(), 'r');
  const buf = Buffer.alloc(bytes);
  fs.readSync(fd, buf, 0, bytes, 0);
  fs.closeSync(fd);
  fs.writeFileSync(file, buf);
  return file;
}

describe('Pipeline.load rejects bad model files with a message', () => {
  const dir = tempDir();

  it.each([
    ['a missing file', () => path.join(dir, 'nope.safetensors'), /model file .*nope\.safetensors: not found/],
    ['a folder that is not a diffusers model', () => dir, /is a folder but not a diffusers model/],
    ['a text file', () => (fs.writeFileSync(path.join(dir, 'a.safetensors'), 'hello, this is not a model at all'), path.join(dir, 'a.safetensors')), /not a model: unrecognized format/],
    ['an empty file', () => (fs.writeFileSync(path.join(dir, 'e.gguf'), ''), path.join(dir, 'e.gguf')), /only 0 bytes: not a model/],
    ['a truncated header', () => truncatedCopy(dir, 'h.safetensors', 4096), /truncated header/],
    ['truncated data', () => truncatedCopy(dir, 'd.safetensors', 50 * 1024 * 1024), /truncated data: tensor .* ends at byte/],
    ['a truncated gguf', () => (fs.writeFileSync(path.join(dir, 't.gguf'), Buffer.from('GGUF\x03\x00\x00\x00\x05\x00', 'latin1')), path.join(dir, 't.gguf')), /truncated header/],
    ['a truncated ckpt zip', () => (fs.writeFileSync(path.join(dir, 'z.ckpt'), Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(100)])), path.join(dir, 'z.ckpt')), /no end-of-central-directory/],
  ])('%s', async (_, make, message) => {
    const error = await Pipeline.load({ model: make() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as ModelFileError).code).toBe('ERR_MODEL_FILE');
    expect((error as Error).message).toMatch(message);
  });

  it('reads a whole gguf and refuses one whose tensor data is cut short', async () => {
    const tensors = [
      { name: 'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight', shape: [768, 4] },
      { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [3, 3, 4, 320] },
    ];
    const whole = path.join(dir, 'whole.gguf');
    writeGguf(whole, tensors);
    const info = await inspectModelFile(whole);
    expect(info.format).toBe('gguf');
    expect(info.tensorNames).toEqual(tensors.map((t) => t.name));
    expect(detectFamily(info)).toBe('sd1');
    const cut = path.join(dir, 'cut.gguf');
    writeGguf(cut, tensors, 100);
    await expect(inspectModelFile(cut)).rejects.toThrow(/truncated data: tensors need \d+ bytes, the file has \d+/);
  });

  it('rejects bad load options by name', async () => {
    await expect(Pipeline.load({})).rejects.toThrow('Expected path to a checkpoint (or diffusionModel) for model but received undefined');
    await expect(Pipeline.load({ model: tinyModel(), threads: 0 })).rejects.toThrow('Expected integer between 1 and 1024 for threads but received 0 of type number');
    await expect(Pipeline.load({ model: tinyModel(), weightType: 'q3' as never })).rejects.toThrow(/Expected one of f32, f16, .* for weightType but received "q3"/);
    await expect(Pipeline.load({ model: tinyModel(), logLevel: 'loud' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Pipeline.load({ model: tinyModel(), cpuPrecision: 'bf16' as never })).rejects.toThrow('Expected one of auto, f32 for cpuPrecision but received "bf16"');
  });
});

describe('generate rejects bad options by name, and the pipeline survives', () => {
  let pipe: Pipeline;
  beforeAll(async () => {
    pipe = await Pipeline.load({ model: tinyModel() });
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  const cases: [string, Partial<GenerateOptions> & Record<string, unknown>, string | RegExp][] = [
    ['no prompt', { prompt: undefined }, 'Expected string for prompt but received undefined of type undefined'],
    ['width not a multiple of 8', { width: 100 }, 'Expected multiple of 8 between 64 and 4096 for width but received 100 of type number'],
    ['width too small', { width: 32 }, 'Expected integer between 64 and 4096 for width but received 32 of type number'],
    ['height as a string', { height: '512' }, 'Expected integer between 64 and 4096 for height but received "512" of type string'],
    ['zero steps', { steps: 0 }, 'Expected integer between 1 and 150 for steps but received 0 of type number'],
    ['fractional steps', { steps: 2.5 }, 'Expected integer between 1 and 150 for steps but received 2.5 of type number'],
    ['guidance out of range', { guidanceScale: 31 }, 'Expected number between 0 and 30 for guidanceScale but received 31 of type number'],
    ['guidance NaN', { guidanceScale: Number.NaN }, 'Expected number between 0 and 30 for guidanceScale but received NaN of type number'],
    ['unknown sampler', { sampler: 'warp drive' }, /Expected a known sampler \(euler, euler_a, .*\) for sampler but received "warp drive"/],
    ['unknown scheduler', { scheduler: 'sometimes' }, /Expected a known scheduler .* for scheduler but received "sometimes"/],
    ['negative seed', { seed: -1 }, /for seed but received -1/],
    ['batch too large', { batchSize: 17 }, 'Expected integer between 1 and 16 for batchSize but received 17 of type number'],
    ['signal not a signal', { signal: {} as AbortSignal }, 'Expected AbortSignal for signal but received an object of type object'],
    ['lora without loraDir', { prompt: 'a <lora:style:0.8>' }, /loaded without loraDir/],
  ];

  it.each(cases)('%s', async (_, options, message) => {
    const error = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, ...options } as GenerateOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(message);
  });

  it('still generates after all of that', async () => {
    const [img] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 1 });
    expect(img.width).toBe(64);
  });
});
