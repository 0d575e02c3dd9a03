import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { convertModel, EngineStateError, InvalidArgumentError, ModelFileError, ModelLoadError, Pipeline, synthesizeModel, type ProgressEvent } from '../src/index.js';
import { writeSafetensors } from '../src/models/safetensors.js';
import { sd1Model, tempDir, tinyModel } from './helpers/models.js';

function collect() {
  const lines: string[] = [];
  return { lines, onLog: (level: string, m: string) => lines.push(`${level} ${m}`) };
}

describe('load options reach the engine', () => {
  it('a separate taesd component replaces the checkpoint’s VAE', async () => {
    const log = collect();
    const taesd = synthesizeModel({ architecture: 'taesd' }).path;
    const pipe = await Pipeline.load({ model: sd1Model(), taesd, onLog: log.onLog });
    const [img] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 1 });
    await pipe.dispose();
    expect(pipe.model.files.map((f) => path.basename(f.path))).toEqual([path.basename(sd1Model()), path.basename(taesd)]);
    expect(log.lines.some((l) => l.startsWith('info') && l.includes('using TAE for encoding / decoding'))).toBe(true);
    expect(img.width).toBe(64);
  });

  it('weightType converts the weights while loading', async () => {
    const paramsMiB = async (weightType?: 'q8_0') => {
      const log = collect();
      const pipe = await Pipeline.load({ model: tinyModel(), weightType, onLog: log.onLog });
      const [img] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 1 });
      await pipe.dispose();
      expect(img.data.length).toBe(64 * 64 * 3);
      return Number(/total params memory size = ([\d.]+)MB/.exec(log.lines.join('\n'))![1]);
    };
    const f16 = await paramsMiB();
    const q8 = await paramsMiB('q8_0');
    // q8_0 stores 34 bytes per 32 weights against f16's 64; small tensors stay f16/f32.
    expect(q8).toBeLessThan(f16 * 0.8);
  });

  it('vaeTiling decodes in tiles and reports them as the decoding phase', async () => {
    const pipe = await Pipeline.load({ model: sd1Model(), vaeTiling: { tileSize: 8, overlap: 0.25 } });
    const events: ProgressEvent[] = [];
    const [img] = await pipe.generate({ prompt: 'x', width: 128, height: 128, steps: 1, seed: 1, onProgress: (e) => events.push(e) });
    await pipe.dispose();
    expect(events[0]).toMatchObject({ phase: 'sampling', step: 1, steps: 1 });
    const decoding = events.filter((e) => e.phase === 'decoding');
    expect(decoding.length).toBeGreaterThan(1);
    expect(decoding.at(-1)!.step).toBe(decoding.at(-1)!.steps);
    expect(img.width).toBe(128);
  });

  it('an engine refusal becomes a ModelLoadError carrying the engine’s words', async () => {
    const file = path.join(tempDir(), 'not-diffusion.safetensors');
    writeSafetensors(file, [{ name: 'classifier.weight', dtype: 'F32', shape: [2, 2], byteLength: 16 }], () => new Uint8Array(16));
    const error = await Pipeline.load({ model: file }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('ERR_MODEL_LOAD');
    expect((error as Error).message).toMatch(/^Model load failed: .*get sd version from file failed/);
  });
});

describe('LoRAs from prompt tags', () => {
  it('applies <lora:name:weight> from loraDir, and a call without it gives exactly the base image again', async () => {
    const loraDir = tempDir();
    synthesizeModel({ architecture: 'sd1-lora', output: path.join(loraDir, 'style.safetensors') });
    const log = collect();
    const pipe = await Pipeline.load({ model: sd1Model(), loraDir, onLog: log.onLog });
    const o = { width: 64, height: 64, steps: 1, seed: 3 };
    const [base] = await pipe.generate({ prompt: 'a cabin', ...o });
    const [styled] = await pipe.generate({ prompt: 'a cabin <lora:style:0.8>', ...o });
    const [again] = await pipe.generate({ prompt: 'a cabin', ...o });
    expect(styled.data.equals(base.data)).toBe(false);
    expect(again.data.equals(base.data)).toBe(true);
    expect(styled.infotext.startsWith('a cabin <lora:style:0.8>\n')).toBe(true);
    const [byOption] = await pipe.generate({ prompt: 'a cabin', loras: [{ name: 'style', weight: 0.8 }], ...o });
    const [byPath] = await pipe.generate({ prompt: 'a cabin', loras: [{ path: path.join(loraDir, 'style.safetensors'), weight: 0.8 }], ...o });
    const [off] = await pipe.generate({ prompt: 'a cabin', loras: [{ name: 'style', weight: 0 }], ...o });
    const [twice] = await pipe.generate({ prompt: 'a cabin <lora:style:0.4>', loras: [{ name: 'style', weight: 0.4 }], ...o });
    expect(byOption.data.equals(styled.data)).toBe(true);
    expect(byPath.data.equals(styled.data)).toBe(true);
    expect(off.data.equals(base.data)).toBe(true);
    expect(twice.data.equals(base.data)).toBe(false);
    await expect(pipe.generate({ prompt: 'x', loras: [{ name: 'nope' }], ...o })).rejects.toThrow(`LoRA 'nope' not found in ${loraDir}`);
    await expect(pipe.generate({ prompt: 'x', loras: [{ path: '/nonexistent.safetensors' }], ...o })).rejects.toThrow('LoRA file not found: /nonexistent.safetensors');
    await expect(pipe.generate({ prompt: 'x', loras: [{ weight: 1 }], ...o })).rejects.toThrow(/Expected \{ path \} or \{ name \} for loras\[0\]/);
    await pipe.dispose();
    expect(log.lines.some((l) => /\((\d+) \/ \1\) LoRA tensors have been applied/.test(l))).toBe(true);
    await expect(Pipeline.load({ model: tinyModel(), loraDir }).then(async (p) => {
      try {
        return await p.generate({ prompt: '<lora:missing:1>', ...o });
      } finally {
        await p.dispose();
      }
    })).rejects.toThrow(`LoRA 'missing' not found in ${loraDir}`);
  });

  it('reads diffusers/peft-style LoRA keys too', async () => {
    const loraDir = tempDir();
    synthesizeModel({ architecture: 'sd1-lora-peft', output: path.join(loraDir, 'peft.safetensors') });
    const log = collect();
    const pipe = await Pipeline.load({ model: sd1Model(), loraDir, onLog: log.onLog });
    const o = { prompt: 'a cabin', width: 64, height: 64, steps: 1, seed: 3 };
    const [base] = await pipe.generate(o);
    const [styled] = await pipe.generate({ ...o, loras: [{ name: 'peft', weight: 1 }] });
    const [off] = await pipe.generate({ ...o, loras: [{ name: 'peft', weight: 0 }] });
    await pipe.dispose();
    expect(log.lines.some((l) => /\(256 \/ 256\) LoRA tensors have been applied/.test(l))).toBe(true);
    expect(styled.data.equals(base.data)).toBe(false);
    expect(off.data.equals(base.data)).toBe(true);
  });

  it('refuses a LoRA made for another family before generating', async () => {
    const sdxlLora = path.join(tempDir(), 'xl.safetensors');
    const name = 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight';
    writeSafetensors(sdxlLora, [{ name, dtype: 'F16', shape: [4, 2048], byteLength: 4 * 2048 * 2 }], () => new Uint8Array(4 * 2048 * 2));
    const pipe = await Pipeline.load({ model: tinyModel() });
    const error = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, loras: [{ path: sdxlLora }] }).catch((e: unknown) => e);
    const [ok] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1 });
    await pipe.dispose();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(`LoRA ${sdxlLora} is for sdxl models but the model is sd1`);
    expect(ok.width).toBe(64);
  });

  it('a LoRA whose shapes do not fit the model rejects the call instead of aborting the process', async () => {
    const loraDir = tempDir();
    synthesizeModel({ architecture: 'sd1-lora', output: path.join(loraDir, 'sd1-style.safetensors') });
    const pipe = await Pipeline.load({ model: tinyModel(), loraDir });
    const o = { width: 64, height: 64, steps: 1, seed: 3 };
    const error = await pipe.generate({ prompt: 'x <lora:sd1-style:1>', ...o }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineStateError);
    expect((error as Error).message).toMatch(/^Engine check failed: .*GGML_ASSERT\(ggml_can_mul_mat\(a, b\)\) failed/);
    await expect(pipe.generate({ prompt: 'x', ...o })).rejects.toBeInstanceOf(EngineStateError);
    await pipe.dispose();
    const fresh = await Pipeline.load({ model: tinyModel() });
    const [img] = await fresh.generate({ prompt: 'x', ...o });
    await fresh.dispose();
    expect(img.width).toBe(64);
  });
});

describe('convertModel', () => {
  it('writes a quantized gguf that loads and generates', async () => {
    const out = path.join(tempDir(), 'sdxs-q8_0.gguf');
    const info = await convertModel(tinyModel(), out, { weightType: 'q8_0' });
    expect(info.format).toBe('gguf');
    expect(info.size).toBeLessThan(fs.statSync(tinyModel()).size * 0.85);
    const log = collect();
    const pipe = await Pipeline.load({ model: out, onLog: log.onLog });
    const [img] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 1 });
    await pipe.dispose();
    expect(log.lines.some((l) => /Diffusion model weight type stat: .*q8_0/.test(l))).toBe(true);
    expect(img.width).toBe(64);
    fs.rmSync(out);
  });

  it('refuses outputs it cannot write', async () => {
    const dir = tempDir();
    await expect(convertModel(tinyModel(), path.join(dir, 'x.bin'), { weightType: 'q8_0' })).rejects.toThrow(/Expected path ending in .gguf or .safetensors for output/);
    await expect(convertModel(tinyModel(), path.join(dir, 'x.safetensors'), { weightType: 'q4_0' })).rejects.toThrow('Quantized weight type q4_0 needs a .gguf output');
    await expect(convertModel(tinyModel(), path.join(dir, 'x.gguf'), { weightType: 'q9' as never })).rejects.toThrow(/for weightType but received "q9"/);
    await expect(convertModel('/nonexistent.safetensors', path.join(dir, 'x.gguf'), { weightType: 'q8_0' })).rejects.toBeInstanceOf(ModelFileError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('ControlNet', () => {
  it('steers generation by controlImage: strength 0 is exactly no ControlNet, canny preprocessing changes the guidance', async () => {
    const controlNet = synthesizeModel({ architecture: 'sd1-controlnet' }).path;
    const pipe = await Pipeline.load({ model: sd1Model(), controlNet });
    const square = { input: { create: { width: 20, height: 40, channels: 3 as const, background: '#ffffff' } }, left: 10, top: 10 };
    const control = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000000' } }).composite([square]).png().toBuffer();
    const o = { prompt: 'x', width: 64, height: 64, steps: 1, seed: 2 };
    const [base] = await pipe.generate(o);
    const [off] = await pipe.generate({ ...o, controlImage: control, controlStrength: 0 });
    const [on] = await pipe.generate({ ...o, controlImage: control, controlStrength: 1 });
    const [edges] = await pipe.generate({ ...o, controlImage: control, controlStrength: 1, preprocess: 'canny' });
    await expect(pipe.generate({ ...o, controlStrength: 1 })).rejects.toThrow('controlStrength needs a controlImage');
    await pipe.dispose();
    expect(off.data.equals(base.data)).toBe(true);
    expect(on.data.equals(base.data)).toBe(false);
    expect(edges.data.equals(on.data)).toBe(false);
    expect(edges.infotext).toContain(`ControlNet 0: "Module: canny, Model: ${path.basename(controlNet, '.safetensors')}, Weight: 1"`);
  });

  it('refuses a controlImage without a ControlNet, and a ControlNet of another family', async () => {
    const pipe = await Pipeline.load({ model: tinyModel() });
    await expect(pipe.generate({ prompt: 'x', width: 64, height: 64, controlImage: Buffer.alloc(1) })).rejects.toThrow(
      'controlImage needs a ControlNet: load the Pipeline with { controlNet }',
    );
    await pipe.dispose();
    const sd2ControlNet = path.join(tempDir(), 'sd2-control.safetensors');
    const name = 'control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
    writeSafetensors(sd2ControlNet, [{ name, dtype: 'F16', shape: [320, 1024], byteLength: 320 * 1024 * 2 }], () => new Uint8Array(320 * 1024 * 2));
    await expect(Pipeline.load({ model: tinyModel(), controlNet: sd2ControlNet })).rejects.toThrow(/controlNet .* is for sd2 models but the model is sd1/);
  });
});

describe('textual inversion embeddings', () => {
  it('uses an embedding from embeddingDir where the prompt names it', async () => {
    const embeddingDir = tempDir();
    synthesizeModel({ architecture: 'sd1-embedding', output: path.join(embeddingDir, 'mystyle.safetensors') });
    const o = { width: 64, height: 64, steps: 1, seed: 4 };
    const plain = await Pipeline.load({ model: tinyModel() });
    const [without] = await plain.generate({ prompt: 'a cabin, mystyle', ...o });
    const [other] = await plain.generate({ prompt: 'a cabin, other', ...o });
    await plain.dispose();
    const log = collect();
    const pipe = await Pipeline.load({ model: tinyModel(), embeddingDir, logLevel: 'debug', onLog: log.onLog });
    const [withEmbedding] = await pipe.generate({ prompt: 'a cabin, mystyle', ...o });
    const [unrelated] = await pipe.generate({ prompt: 'a cabin, other', ...o });
    await pipe.dispose();
    expect(log.lines.some((l) => l.includes("embedding 'mystyle' applied"))).toBe(true);
    expect(withEmbedding.data.equals(without.data)).toBe(false);
    expect(unrelated.data.equals(other.data)).toBe(true);
    await expect(Pipeline.load({ model: tinyModel(), embeddingDir: '/nonexistent' })).rejects.toThrow('embeddingDir /nonexistent cannot be read (ENOENT)');
  });
});
