import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectModelFile, modelRole, Pipeline, synthesizeModel, train } from '../../src/index.js';
import { loraFamily } from '../../src/models/inspect.js';
import { nativeResolution } from '../../src/training/train.js';
import { tempDir } from '../helpers/models.js';
import { generatedImages, safetensorsHeader, sdxlDiffusers, sha256, TEST_VENV, trainerInstalled } from './helpers.js';

// SDXL at full size (3.5 B parameters; the trainer holds the UNet in f32, about 11 GB) on 2 steps at 64x64.
// Measured on a 2-core CPU machine: see the times in each test's comment.

/** What the engine logs about a LoRA it could not apply whole, and about tensors it does not know. */
const complaints = (lines: string[]) => lines.filter((l) => l.startsWith('warn') || l.startsWith('error') || /unknown tensor|unused lora tensor|^\w+ Only \(/.test(l));

/**
 * Generates with the LoRA off (no LoRA, weight 0) and on (weight 1) on the base; the images with weight 0 must equal
 * the base's, with weight 1 differ, and the engine must have applied every tensor of the file, complaining of none.
 */
async function expectLoraApplies(base: string, loraDir: string, name: string): Promise<void> {
  const lines: string[] = [];
  const pipe = await Pipeline.load({ model: base, loraDir, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m.trim()}`) });
  try {
    const o = { prompt: 'photo of sks dog', width: 64, height: 64, steps: 1, seed: 3 };
    const [plain] = await pipe.generate(o);
    const [off] = await pipe.generate({ ...o, loras: [{ name, weight: 0 }] });
    const from = lines.length;
    const [on] = await pipe.generate({ ...o, loras: [{ name, weight: 1 }] });
    const applying = lines.slice(from);
    expect(off.data.equals(plain.data)).toBe(true);
    expect(on.data.equals(plain.data)).toBe(false);
    expect(complaints(applying)).toEqual([]);
    const applied = applying.map((l) => /\((\d+) \/ (\d+)\) LoRA tensors have been applied/.exec(l)).find(Boolean);
    expect(applied, applying.join('\n')).toBeTruthy();
    expect(applied![1]).toBe(applied![2]);
  } finally {
    await pipe.dispose();
  }
}

describe.skipIf(!trainerInstalled)('SDXL LoRA training (both text encoders, pooled embedding, size ids)', () => {
  const work = tempDir();
  const images = path.join(work, 'images');
  const loraDir = path.join(work, 'loras');
  let single: string;

  beforeAll(async () => {
    single = synthesizeModel({ architecture: 'sdxl' }).path;
    await generatedImages(single, images);
  }, 600_000);

  it('native size 1024 for SDXL bases, folder or single file', () => {
    expect(nativeResolution(sdxlDiffusers())).toBe(1024);
    expect(nativeResolution(single)).toBe(1024);
  }, 300_000);

  it("trains a LoRA from the single-file SDXL, converted to the synthesizer's own diffusers folder; it applies whole on the base: weight 0 is the base image, weight 1 differs", async () => {
    const output = path.join(loraDir, 'sks-xl.safetensors');
    const run = path.join(work, 'run');
    const result = await train({ base: single, images, instancePrompt: 'photo of sks dog', output, steps: 2, rank: 4, resolution: 64, learningRate: 0.01, seed: 1, venv: TEST_VENV, workDir: run });
    expect(result).toMatchObject({ path: output, steps: 2, images: 4, resumedFrom: 0 });

    // the converted base is the synthesizer's SDXL diffusers folder, file for file (so that folder is what was trained on)
    const converted = path.join(run, 'base-diffusers');
    const reference = sdxlDiffusers();
    const files = ['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors',
      'text_encoder/config.json', 'text_encoder/model.safetensors', 'text_encoder_2/config.json', 'text_encoder_2/model.safetensors'];
    for (const file of files) expect(sha256(path.join(converted, file)), file).toBe(sha256(path.join(reference, file)));
    fs.rmSync(run, { recursive: true });

    const { tensors, metadata } = safetensorsHeader(output);
    const names = Object.keys(tensors);
    // SDXL's 70 transformer blocks (down 2x2 + 2x10, mid 10, up 3x10 + 3x2), 2 attentions x 4 projections each
    expect(names.filter((n) => n.endsWith('.lora_down.weight'))).toHaveLength(560);
    expect(names.filter((n) => n.startsWith('lora_unet_down_blocks_0_'))).toEqual([]); // SDXL's top level has no attention
    expect(tensors['lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_attn2_to_k.lora_down.weight'].shape).toEqual([4, 2048]);
    expect(tensors['lora_unet_up_blocks_1_attentions_2_transformer_blocks_1_attn1_to_out_0.lora_up.weight'].shape).toEqual([640, 4]);
    expect(metadata).toMatchObject({ ss_base_model_version: 'sdxl_base_v1-0', ss_resolution: '64', ss_network_dim: '4' });
    const info = await inspectModelFile(output);
    expect([modelRole(info), loraFamily(info)]).toEqual(['lora', 'sdxl']);

    await expectLoraApplies(single, loraDir, 'sks-xl');
  }, 1_800_000);

  it('trains a LyCORIS LoHa on the SDXL diffusers folder; it applies whole on the base: weight 0 is the base image, weight 1 differs', async () => {
    const output = path.join(loraDir, 'sks-xl-loha.safetensors');
    const result = await train({ base: sdxlDiffusers(), images, instancePrompt: 'photo of sks dog', output, loraType: 'loha', steps: 2, rank: 4, resolution: 64, learningRate: 0.01, seed: 1, venv: TEST_VENV });
    expect(result).toMatchObject({ path: output, steps: 2, images: 4 });
    const { tensors, metadata } = safetensorsHeader(output);
    const module = 'lora_unet_mid_block_attentions_0_transformer_blocks_9_attn2_to_v';
    expect(Object.keys(tensors).filter((n) => n.endsWith('.hada_w1_a'))).toHaveLength(560);
    expect([`${module}.hada_w1_a`, `${module}.hada_w1_b`, `${module}.hada_w2_a`, `${module}.hada_w2_b`].map((n) => tensors[n].shape)).toEqual([[1280, 4], [4, 2048], [1280, 4], [4, 2048]]);
    expect(metadata).toMatchObject({ ss_network_module: 'lycoris.kohya', ss_base_model_version: 'sdxl_base_v1-0' });

    await expectLoraApplies(single, loraDir, 'sks-xl-loha');
  }, 1_800_000);
});
