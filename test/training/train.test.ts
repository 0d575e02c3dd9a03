import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, inspectModelFile, modelRole, Pipeline, synthesizeModel, train, type TrainingProgress } from '../../src/index.js';
import { writeSafetensors } from '../../src/models/safetensors.js';
import { checkpointToDiffusers } from '../../src/training/checkpoint-to-diffusers.js';
import { loraFamily } from '../../src/models/inspect.js';
import { datasetFromFolder, prepareDataset } from '../../src/training/dataset.js';
import { tempDir } from '../helpers/models.js';
import { generatedImages, safetensorsHeader, sd1Diffusers, sha256, TEST_VENV, trainerInstalled } from './helpers.js';

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
    // SDXL's size conditioning: the size before the crop, and where the crop sits once the short side is 64 (128x64)
    expect(dataset.items.map((i) => [i.originalSize, i.cropTopLeft])).toEqual([[[64, 64], [0, 0]], [[60, 120], [0, 32]]]);
    // a prepared folder read again (the server prepares at submission, the trainer's run again) keeps them, scaled
    const again = await prepareDataset(await datasetFromFolder(dataset.dir), { dir: path.join(tempDir(), 'again'), resolution: 32 });
    expect(again.items.map((i) => [i.caption, i.originalSize, i.cropTopLeft])).toEqual([['photo of sks dog', [64, 64], [0, 0]], ['a red and blue card', [60, 120], [0, 16]]]);
  });
});

describe('single-file SD 1.x bases, converted to the diffusers folder the trainer loads', () => {
  it("writes, from the synthesizer's single file, the same folder the synthesizer writes as diffusers (file for file, byte for byte)", () => {
    const single = synthesizeModel({ architecture: 'sd1' }).path;
    const converted = checkpointToDiffusers(single, path.join(tempDir(), 'base'));
    const reference = sd1Diffusers();
    const files = ['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors', 'text_encoder/config.json', 'text_encoder/model.safetensors'];
    for (const file of files) expect(sha256(path.join(converted, file)), file).toBe(sha256(path.join(reference, file)));
    fs.rmSync(converted, { recursive: true });
  }, 300_000);

  it('refuses a checkpoint that is not SD 1.x, and a file that is not .safetensors', () => {
    const dir = tempDir();
    const sd2Like = path.join(dir, 'sd2.safetensors');
    const probe = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
    writeSafetensors(sd2Like, [{ name: probe, dtype: 'F16', shape: [320, 1024], byteLength: 320 * 1024 * 2 }], (e) => new Uint8Array(e.byteLength));
    expect(() => checkpointToDiffusers(sd2Like, path.join(dir, 'out'))).toThrow(/is not a Stable Diffusion 1\.x or SDXL checkpoint .*give other models \(SD 2\.x\) as a diffusers folder/);
    expect(() => checkpointToDiffusers(path.join(dir, 'model.ckpt'), path.join(dir, 'out'))).toThrow(/neither a diffusers folder nor a \.safetensors checkpoint/);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
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

  it('trains a LyCORIS LoHa (hada_* tensors, LyCORIS metadata) from a single-file SD 1.x checkpoint; the Pipeline loads it: weight 0 is the base image, weight 1 differs', async () => {
    const base = synthesizeModel({ architecture: 'sd1' }).path;
    const work = tempDir();
    await generatedImages(sd1Diffusers(), path.join(work, 'images'));
    const loraDir = path.join(work, 'loras');
    const output = path.join(loraDir, 'sks-loha.safetensors');
    const result = await train({ base, images: path.join(work, 'images'), instancePrompt: 'photo of sks dog', output, loraType: 'loha', steps: 2, rank: 4, resolution: 64, learningRate: 0.01, seed: 1, venv: TEST_VENV });
    expect(result).toMatchObject({ path: output, steps: 2, images: 4, resumedFrom: 0 });

    const header = safetensorsHeader(output);
    const names = Object.keys(header.tensors);
    const module = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
    // 128 attention projections, each w1_a, w1_b, w2_a, w2_b and alpha; no LoRA pairs
    expect(names.filter((n) => n.endsWith('.hada_w1_a'))).toHaveLength(128);
    expect(names.filter((n) => n.includes('lora_down'))).toEqual([]);
    expect([`${module}.hada_w1_a`, `${module}.hada_w1_b`, `${module}.hada_w2_a`, `${module}.hada_w2_b`].map((n) => header.tensors[n].shape)).toEqual([[320, 4], [4, 768], [320, 4], [4, 768]]);
    expect(header.tensors[`${module}.alpha`].shape).toEqual([]);
    expect(header.metadata).toMatchObject({ ss_network_module: 'lycoris.kohya', ss_network_args: '{"algo": "loha"}', ss_network_dim: '4', ss_sd_model_name: path.basename(base) });

    const pipe = await Pipeline.load({ model: base, loraDir });
    try {
      const o = { prompt: 'photo of sks dog', width: 64, height: 64, steps: 1, seed: 3 };
      const [plain] = await pipe.generate(o);
      const [off] = await pipe.generate({ ...o, loras: [{ name: 'sks-loha', weight: 0 }] });
      const [on] = await pipe.generate({ ...o, loras: [{ name: 'sks-loha', weight: 1 }] });
      expect(off.data.equals(plain.data)).toBe(true);
      expect(on.data.equals(plain.data)).toBe(false);
    } finally {
      await pipe.dispose();
    }
  }, 1_800_000);
});
