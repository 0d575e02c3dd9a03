import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, inspectModelFile, modelRole, Pipeline, train, type TrainingProgress } from '../../src/index.js';
import { loraFamily } from '../../src/models/inspect.js';
import { datasetFromFolder, prepareDataset } from '../../src/training/dataset.js';
import { tempDir } from '../helpers/models.js';
import { generatedImages, sd1Diffusers, TEST_VENV, trainerInstalled } from './helpers.js';

/** The JSON header of a .safetensors file: tensor entries and __metadata__. */
function safetensorsHeader(file: string): { tensors: Record<string, { shape: number[] }>; metadata: Record<string, string> } {
  const bytes = fs.readFileSync(file);
  const { __metadata__: metadata, ...tensors } = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
  return { tensors, metadata };
}

describe('dataset checks (before any training starts)', () => {
  const prepare = async (dir: string, options: { instancePrompt?: string; maxImages?: number } = {}) =>
    prepareDataset(await datasetFromFolder(dir), { dir: path.join(tempDir(), 'prepared'), resolution: 64, instancePrompt: 'photo of sks dog', ...options });

  it('refuses an empty folder, a tiny or unreadable image, too many images and a missing caption, naming the image', async () => {
    const dir = tempDir();
    await expect(prepare(dir)).rejects.toThrow(new InvalidArgumentError('images', 'The dataset has no images (png, jpeg, webp, bmp or tiff)'));
    const pixels = (size: number) => sharp({ create: { width: size, height: size, channels: 3, background: '#884422' } }).png().toBuffer();
    fs.writeFileSync(path.join(dir, 'a.png'), await pixels(80));
    fs.writeFileSync(path.join(dir, 'b.png'), await pixels(16));
    await expect(prepare(dir)).rejects.toThrow('b.png is 16x16: too small to train at 64x64 (short side at least 32 pixels)');
    fs.writeFileSync(path.join(dir, 'b.png'), 'not an image');
    await expect(prepare(dir)).rejects.toThrow(/^b\.png is not a readable image/);
    fs.writeFileSync(path.join(dir, 'b.png'), await pixels(100));
    await expect(prepare(dir, { maxImages: 1 })).rejects.toThrow('The dataset has 2 images; at most 1 are accepted');
    await expect(prepare(dir, { instancePrompt: '' })).rejects.toThrow('a.png has no caption (.txt file) and no instance prompt was given');
  });

  it('centre-crops each image to the training size and takes captions from .txt files, else the instance prompt', async () => {
    const dir = tempDir();
    // left half red, right half blue, 120x60: the centre crop keeps both halves
    const wide = await sharp({ create: { width: 120, height: 60, channels: 3, background: '#ff0000' } })
      .composite([{ input: { create: { width: 60, height: 60, channels: 3, background: '#0000ff' } }, left: 60, top: 0 }]).png().toBuffer();
    fs.writeFileSync(path.join(dir, 'wide.png'), wide);
    fs.writeFileSync(path.join(dir, 'wide.txt'), 'a red and blue card\n');
    fs.writeFileSync(path.join(dir, 'plain.jpg'), await sharp({ create: { width: 64, height: 64, channels: 3, background: '#00ff00' } }).jpeg().toBuffer());
    const dataset = await prepare(dir);
    expect(dataset.items.map((i) => [i.source, i.caption])).toEqual([['plain.jpg', 'photo of sks dog'], ['wide.png', 'a red and blue card']]);
    const { data, info } = await sharp(path.join(dataset.dir, dataset.items[1].image)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
    expect([data[0], data[2]]).toEqual([255, 0]); // left edge red
    expect([data[63 * 3], data[63 * 3 + 2]]).toEqual([0, 255]); // right edge blue
    expect(JSON.parse(fs.readFileSync(path.join(dataset.dir, 'dataset.json'), 'utf8')).resolution).toBe(64);
  });
});

describe.skipIf(!trainerInstalled)('train() (diffusers + peft in the trainer environment)', () => {
  it('trains, stops on abort and resumes from its checkpoint; the LoRA loads in the Pipeline: weight 0 is the base image, weight 1 differs', async () => {
    const base = sd1Diffusers();
    const work = tempDir();
    await generatedImages(base, path.join(work, 'images'));
    const loraDir = path.join(work, 'loras');
    const output = path.join(loraDir, 'sks.safetensors');
    const options = { base, images: path.join(work, 'images'), instancePrompt: 'photo of sks dog', output, steps: 3, rank: 4, resolution: 64, learningRate: 0.01, seed: 1, venv: TEST_VENV, workDir: path.join(work, 'run'), checkpointEvery: 1 };

    // First run: aborted once step 2 has been reported (the checkpoint of step 1 is on disk by then).
    const controller = new AbortController();
    const seen: TrainingProgress[] = [];
    const aborted = await train({ ...options, signal: controller.signal, onProgress: (p) => { seen.push(p); if (p.step === 2) controller.abort(); } }).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(AbortError);
    expect(fs.existsSync(output)).toBe(false);
    expect(seen.slice(0, 2).map((p) => p.phase)).toEqual(['preparing', 'loading']);
    const step1 = seen.find((p) => p.step === 1)!;
    expect(step1.phase).toBe('training');
    expect(Number.isFinite(step1.loss) && step1.loss! > 0).toBe(true);
    expect(step1.stepSeconds! > 0 && step1.eta! > 0).toBe(true);

    // Second run with the same work folder: resumes after a checkpointed step and finishes.
    const steps: number[] = [];
    const result = await train({ ...options, onProgress: (p) => p.phase !== 'preparing' && p.phase !== 'loading' && steps.push(p.step) });
    expect(result.resumedFrom === 1 || result.resumedFrom === 2).toBe(true);
    expect(steps).toEqual([2, 3].slice(result.resumedFrom - 1));
    expect(result).toMatchObject({ path: output, steps: 3, images: 4 });

    const header = safetensorsHeader(output);
    const names = Object.keys(header.tensors);
    // kohya layout over the attention projections of all 16 transformer blocks: 16 x 2 attentions x 4 projections
    expect(names.filter((n) => n.endsWith('.lora_down.weight'))).toHaveLength(128);
    expect(names).toContain('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight');
    expect(names).toContain('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0.alpha');
    expect(header.tensors['lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_attn2_to_k.lora_down.weight'].shape).toEqual([4, 768]);
    expect(header.metadata.ss_network_dim).toBe('4');
    const info = await inspectModelFile(output);
    expect([modelRole(info), loraFamily(info)]).toEqual(['lora', 'sd1']);

    const pipe = await Pipeline.load({ model: base, loraDir });
    try {
      const o = { prompt: 'photo of sks dog', width: 64, height: 64, steps: 1, seed: 3 };
      const [plain] = await pipe.generate(o);
      const [off] = await pipe.generate({ ...o, loras: [{ name: 'sks', weight: 0 }] });
      const [on] = await pipe.generate({ ...o, loras: [{ name: 'sks', weight: 1 }] });
      const [tagged] = await pipe.generate({ ...o, prompt: 'photo of sks dog <lora:sks:1>' });
      expect(off.data.equals(plain.data)).toBe(true);
      expect(on.data.equals(plain.data)).toBe(false);
      expect(tagged.data.equals(on.data)).toBe(true);
    } finally {
      await pipe.dispose();
    }
  }, 1_800_000);
});
