import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { engineInfo, inspectModelFile, Pipeline, synthesizeModel, syntheticLayout, type SyntheticArchitecture } from '../src/index.js';
import { ggufTensorBytes, tensorBytes } from '../src/models/synthesize.js';
import { elementCount } from '../src/models/tensor-spec.js';
import { sd1Model, tempDir, tinyModel } from './helpers/models.js';

const count = (prefix: string, arch: SyntheticArchitecture) =>
  syntheticLayout(arch).filter((t) => t.name.startsWith(prefix)).reduce((n, t) => n + elementCount(t.shape), 0);

describe('synthetic checkpoints', () => {
  it('has the parameter counts of the released SD 1.5 components', () => {
    expect(count('model.diffusion_model.', 'sd1')).toBe(859_520_964);
    expect(count('first_stage_model.', 'sd1')).toBe(83_653_863);
    expect(count('cond_stage_model.', 'sd1')).toBe(123_060_480);
  });

  it('has the parameter counts of the released SD 2.x and SDXL components', () => {
    expect(count('model.diffusion_model.', 'sd2')).toBe(865_910_724);
    expect(count('model.diffusion_model.', 'sdxl')).toBe(2_567_463_684);
    expect(count('conditioner.embedders.0.', 'sdxl')).toBe(123_060_480);
    expect(count('conditioner.embedders.1.', 'sdxl')).toBe(694_659_841);
    expect(count('model.diffusion_model.', 'sd3')).toBe(2_084_951_104);
  });

  it('uses the original single-file tensor names and PyTorch shapes', () => {
    const sd1 = new Map(syntheticLayout('sd1').map((t) => [t.name, t.shape]));
    expect(sd1.get('model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight')).toEqual([320, 768]);
    expect(sd1.get('model.diffusion_model.middle_block.1.proj_in.weight')).toEqual([1280, 1280, 1, 1]);
    expect(sd1.get('model.diffusion_model.output_blocks.2.1.conv.weight')).toEqual([1280, 1280, 3, 3]);
    expect(sd1.get('first_stage_model.decoder.up.1.block.0.nin_shortcut.weight')).toEqual([256, 512, 1, 1]);
    expect(sd1.get('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight')).toEqual([49408, 768]);
    const sdxs = new Map(syntheticLayout('sdxs').map((t) => [t.name, t.shape]));
    expect(sdxs.has('model.diffusion_model.middle_block.1.norm.weight')).toBe(false);
    expect(sdxs.get('first_stage_model.decoder.layers.18.weight')).toEqual([3, 64, 3, 3]);
  });

  it('is deterministic per seed, with tame weights', () => {
    const spec = syntheticLayout('sd1').find((t) => t.name === 'model.diffusion_model.input_blocks.4.0.in_layers.2.weight')!;
    const a = Buffer.from(tensorBytes(spec, 0, 'f32'));
    expect(a.equals(Buffer.from(tensorBytes(spec, 0, 'f32')))).toBe(true);
    expect(a.equals(Buffer.from(tensorBytes(spec, 1, 'f32')))).toBe(false);
    const values = new Float32Array(a.buffer, a.byteOffset, a.length / 4);
    const variance = values.reduce((s, v) => s + v * v, 0) / values.length;
    expect(variance).toBeCloseTo(1 / (320 * 9), 5); // 1/fan_in
    const norm = syntheticLayout('sd1').find((t) => t.name.endsWith('in_layers.0.weight'))!;
    expect(new Float32Array(tensorBytes(norm, 0, 'f32').buffer).every((v) => v === 1)).toBe(true);
  });

  it('SD 2.x runs as a v-prediction model when told so', async () => {
    const pipe = await Pipeline.load({ model: synthesizeModel({ architecture: 'sd2' }).path, prediction: 'v' });
    const [img] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 5 });
    await pipe.dispose();
    expect(pipe.info.prediction).toBe('v');
    expect(img.width).toBe(64);
  });

  it('writes a valid safetensors file, reused from the cache', () => {
    const file = tinyModel();
    const again = synthesizeModel({ architecture: 'sdxs' });
    expect(again.path).toBe(file);
    expect(again.created).toBe(false);
  });

  it('writes to a chosen path', async () => {
    const out = path.join(tempDir(), 'tiny.safetensors');
    const model = synthesizeModel({ architecture: 'sdxs', seed: 3, output: out });
    expect(model.created).toBe(true);
    const info = await inspectModelFile(out);
    expect(info.tensorNames!.length).toBe(model.tensors);
    expect(fs.statSync(out).size).toBe(fs.statSync(tinyModel()).size);
    fs.rmSync(out);
  });

  it('rejects an unknown architecture and a bad seed', () => {
    expect(() => synthesizeModel({ architecture: 'sd9' as never })).toThrow(/Unknown synthetic architecture 'sd9'/);
    expect(() => synthesizeModel({ architecture: 'sdxs', seed: -2 })).toThrow(/for seed but received -2/);
  });

  it('writes quantized layouts as GGUF: weight matrices q8_0 / q4_0 with the float variance, convolutions f16, norms f32', async () => {
    const dir = tempDir();
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true })); // 0.5 GB, not to be left in the temp folder
    const file = path.join(dir, 'sdxs-q4_0.gguf');
    synthesizeModel({ architecture: 'sdxs', dtype: 'q4_0', output: file });
    const info = await inspectModelFile(file);
    expect(info.format).toBe('gguf');
    const q = 'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight';
    expect(info.types?.get(q)).toBe('q4_0');
    expect(info.shapes?.get(q)).toEqual([768, 640]); // ggml order: ne0 first
    expect(info.types?.get('model.diffusion_model.input_blocks.0.0.weight')).toBe('f16');
    expect(info.types?.get('model.diffusion_model.out.0.weight')).toBe('f32');
    // Decoding the codes gives the float path's spread: variance 1/fan_in, mean near 0.
    for (const type of ['Q4_0', 'Q8_0'] as const) {
      const bytes = ggufTensorBytes({ name: q, shape: [640, 768], init: 'fan-in' }, type, 0);
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      const block = type === 'Q4_0' ? 18 : 34;
      let sum = 0;
      let squares = 0;
      for (let at = 0; at < bytes.length; at += block) {
        const d = float16ToNumber(view.getUint16(at, true));
        for (let j = 0; j < 32; j++) {
          const code = type === 'Q4_0' ? ((bytes[at + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8 : view.getInt8(at + 2 + j);
          sum += code * d;
          squares += (code * d) ** 2;
        }
      }
      const n = 640 * 768;
      expect(Math.abs(sum / n)).toBeLessThan(0.002);
      expect((squares / n) * 768).toBeGreaterThan(0.85);
      expect((squares / n) * 768).toBeLessThan(1.15);
    }
    expect(() => synthesizeModel({ architecture: 'sdxs', dtype: 'q8_0', output: path.join(tempDir(), 'x.safetensors') })).toThrow(/written as a single \.gguf/);
    expect(() => synthesizeModel({ architecture: 'sdxs', dtype: 'q3' as never })).toThrow(/for dtype but received q3/);

    const lines: string[] = [];
    const pipe = await Pipeline.load({ model: file, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
    const [img] = await pipe.generate({ prompt: 'a cabin in misty mountains', width: 64, height: 64, steps: 1, seed: 5 });
    await pipe.dispose();
    expect(lines.filter((l) => l.startsWith('warn') || l.startsWith('error'))).toEqual([]);
    expect(pipe.info.family).toBe('sd1');
    expect(new Set(img.data).size).toBeGreaterThan(16);
  });

  // Expected engine warnings: a single-file SDXL checkpoint's VAE gets its fp16 overflow workaround, and an
  // inpainting model asked for plain text-to-image says it wants an init image and a mask.
  const expectedWarnings = /Conv2D scale 0.031|inpainting model requires both an init image and a mask image/;

  it.each([
    // The last column: the steps that ran their guidance passes as one batch (batchCfg: UNet models only).
    ['sdxs', tinyModel, 'SDXS (512-DS)', 'sd1', 1],
    ['sd1 (full size, ~1.07 B parameters)', sd1Model, 'SD 1.x', 'sd1', 1],
    ['sd1-inpaint', () => synthesizeModel({ architecture: 'sd1-inpaint' }).path, 'SD 1.x Inpaint', 'sd1', 1],
    ['sd2 (~1.3 B parameters)', () => synthesizeModel({ architecture: 'sd2' }).path, 'SD 2.x', 'sd2', 1],
    ['sdxl (~3.5 B parameters)', () => synthesizeModel({ architecture: 'sdxl' }).path, 'SDXL', 'sdxl', 1],
    ['sd3 medium (MMDiT, ~3 B parameters)', () => synthesizeModel({ architecture: 'sd3' }).path, 'SD3.x', 'sd3', 0],
  ])('%s loads with no unknown or missing tensors and generates', async (_, model, version, family, batchedSteps) => {
    const lines: string[] = [];
    const pipe = await Pipeline.load({ model: model(), batchCfg: true, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
    const batchesBefore = engineInfo().guidanceBatches;
    const [img] = await pipe.generate({ prompt: 'a cabin in misty mountains', width: 64, height: 64, steps: 1, seed: 5 });
    expect(engineInfo().guidanceBatches - batchesBefore).toBe(batchedSteps);
    await pipe.dispose();
    expect(pipe.info.engineVersion).toBe(version);
    expect(pipe.info.family).toBe(family);
    expect(lines.filter((l) => (l.startsWith('warn') || l.startsWith('error')) && !expectedWarnings.test(l))).toEqual([]);
    expect(img.data.length).toBe(64 * 64 * 3);
    // Tame weights give an image, not a flat or saturated field.
    const distinct = new Set(img.data).size;
    expect(distinct).toBeGreaterThan(16);
  });
});

/** IEEE half to number (the test decodes block scales itself rather than trusting the writer's converter). */
function float16ToNumber(h: number): number {
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
