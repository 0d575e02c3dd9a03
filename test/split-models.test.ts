import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, listModels, ModelFileError, Pipeline, pullSplitModel, resolveModel, SPLIT_MODEL_ALIASES } from '../src/index.js';
import { readComponentSet } from '../src/models/component-set.js';
import { writeSafetensors } from '../src/models/safetensors.js';
import { startFakeHub, type FakeHub } from './helpers/fake-hub.js';
import { tempDir } from './helpers/models.js';

// Split models pulled by one alias (z-image-turbo: diffusion model, LLM, VAE) from a local fake Hub serving the
// table's repository paths, into a library folder that reads back as the model's components. The files hold only
// the tensors that tell each component apart (a few hundred KB): enough for the folder, the library and
// Pipeline.load's component checks; the synthetic models of test/families-llm.test.ts load for real.

/** A safetensors file of zero-filled f16 tensors. */
function safetensors(tensors: Record<string, number[]>): Buffer {
  const file = path.join(tempDir(), 'part.safetensors');
  const entries = Object.entries(tensors).map(([name, shape]) => ({ name, dtype: 'F16' as const, shape, byteLength: shape.reduce((a, b) => a * b, 1) * 2 }));
  writeSafetensors(file, entries, (e) => new Uint8Array(e.byteLength));
  return fs.readFileSync(file);
}

const zImageDit = safetensors({ 'cap_embedder.0.weight': [2560], 'layers.0.attention.qkv.weight': [64, 64], 'x_embedder.weight': [64, 64] });
const qwen3 = safetensors({ 'model.embed_tokens.weight': [32, 64], 'model.layers.0.self_attn.q_proj.weight': [64, 64] });
const vae = (channels: number) => safetensors({ 'decoder.conv_in.weight': [512, channels, 3, 3], 'decoder.up.0.block.0.conv1.weight': [8, 8, 3, 3], 'encoder.conv_in.weight': [8, 3, 3, 3] });

let hub: FakeHub;
beforeAll(async () => {
  hub = await startFakeHub({
    'Comfy-Org/z_image_turbo': {
      files: {
        'split_files/diffusion_models/z_image_turbo_bf16.safetensors': { body: zImageDit },
        'split_files/text_encoders/qwen_3_4b.safetensors': { body: qwen3 },
        'split_files/vae/ae.safetensors': { body: vae(16) },
      },
    },
    'acme/odd-parts': { files: { 'sd_vae.safetensors': { body: vae(4) }, 'encoder.safetensors': { body: qwen3 } } },
  });
});
afterAll(() => hub?.close());

describe('a split model pulled by one alias', () => {
  it('is one folder of the library, named after the alias, with each file in the slot the alias says', async () => {
    const dir = tempDir();
    const pulled = await pullSplitModel('z-image-turbo', { dir, endpoint: hub.url, retryDelayMs: 0 });
    const folder = path.join(dir, 'z-image-turbo');
    expect(pulled).toMatchObject({ name: 'z-image-turbo', path: folder, alias: 'z-image-turbo', downloaded: true });
    expect(pulled.parts.map((p) => [p.slot, p.fileName, p.repo, p.size])).toEqual([
      ['diffusionModel', 'z_image_turbo_bf16.safetensors', 'Comfy-Org/z_image_turbo', zImageDit.length],
      ['llm', 'qwen_3_4b.safetensors', 'Comfy-Org/z_image_turbo', qwen3.length],
      ['vae', 'ae.safetensors', 'Comfy-Org/z_image_turbo', vae(16).length],
    ]);
    const set = await readComponentSet(folder);
    expect(set.components).toEqual({
      diffusionModel: path.join(folder, 'z_image_turbo_bf16.safetensors'), llm: path.join(folder, 'qwen_3_4b.safetensors'), vae: path.join(folder, 'ae.safetensors'),
    });

    // the library lists it once, as the model, and the name resolves to the folder
    const listed = (await listModels({ dir })).map((m) => [m.name, m.family, m.role, m.size]);
    expect(listed).toEqual([['z-image-turbo', 'z-image', 'checkpoint', zImageDit.length + qwen3.length + vae(16).length]]);
    expect(await resolveModel('z-image-turbo', { dir })).toBe(folder);

    // pulled again: the Hub's checksums match, nothing is downloaded
    const before = hub.cdnRequests().length;
    const again = await pullSplitModel('z-image-turbo', { dir, endpoint: hub.url });
    expect([again.downloaded, hub.cdnRequests().length]).toEqual([false, before]);
  });

  it('Pipeline.load takes it by name, as a component folder: its files are checked against the family', async () => {
    const dir = tempDir();
    const table = [{ name: 'z-image-odd', family: 'z-image' as const, description: 'a 4-channel VAE', parts: [
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/diffusion_models/z_image_turbo_bf16.safetensors', slot: 'diffusionModel' as const },
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/text_encoders/qwen_3_4b.safetensors', slot: 'llm' as const },
      { repo: 'acme/odd-parts', file: 'sd_vae.safetensors', slot: 'vae' as const },
    ] }];
    await pullSplitModel('z-image-odd', { dir, endpoint: hub.url, splitAliases: table });
    const load = Pipeline.load({ model: 'z-image-odd', modelsDir: dir });
    await expect(load).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(load).rejects.toThrow(/sd_vae\.safetensors has 4 latent channels .* but z-image models need a VAE with 16/);
  });

  it('refuses an alias whose file holds another component than its slot, and unknown names', async () => {
    const dir = tempDir();
    const table = [{ name: 'mislabelled', family: 'z-image' as const, description: 'an LLM as the VAE', parts: [
      { repo: 'Comfy-Org/z_image_turbo', file: 'split_files/diffusion_models/z_image_turbo_bf16.safetensors', slot: 'diffusionModel' as const },
      { repo: 'acme/odd-parts', file: 'encoder.safetensors', slot: 'vae' as const },
    ] }];
    const pull = pullSplitModel('mislabelled', { dir, endpoint: hub.url, splitAliases: table });
    await expect(pull).rejects.toBeInstanceOf(ModelFileError);
    await expect(pull).rejects.toThrow('mislabelled: acme/odd-parts:encoder.safetensors should be the vae but holds the llm');
    await expect(pullSplitModel('z-image-nope', { dir, endpoint: hub.url })).rejects.toThrow(/a split model alias \(sd3\.5-medium, flux1-schnell, z-image-turbo/);
  });

  it('the table names a diffusion model for every alias, each slot once, and Hub paths of the repository layout', () => {
    for (const alias of SPLIT_MODEL_ALIASES) {
      const slots = alias.parts.map((p) => p.slot);
      expect(slots.filter((s) => s === 'diffusionModel'), alias.name).toHaveLength(1);
      expect(new Set(slots).size, alias.name).toBe(slots.length);
      for (const part of alias.parts) expect(`${part.repo}:${part.file}`).toMatch(/^[\w.-]+\/[\w.-]+:[\w./-]+\.(safetensors|gguf)$/);
    }
  });
});

describe('diffusekit models pull with a split alias', () => {
  it('pulls every file into the folder and prints it; --help lists the split models with their files', async () => {
    const dir = tempDir();
    const cli = path.resolve(import.meta.dirname, '..', 'lib', 'cli', 'main.js');
    const run = (...args: string[]) => new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
      const env = { ...process.env, HF_ENDPOINT: hub.url, DIFFUSEKIT_MODELS_DIR: dir, NO_COLOR: '1' };
      const child = spawn(process.execPath, [cli, ...args], { env });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout }));
    });
    const pulled = await run('models', 'pull', 'z-image-turbo', '--json');
    expect(pulled.status).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ name: 'z-image-turbo', path: path.join(dir, 'z-image-turbo'), parts: [{ slot: 'diffusionModel' }, { slot: 'llm' }, { slot: 'vae' }] });
    expect(fs.readdirSync(path.join(dir, 'z-image-turbo')).filter((f) => f.endsWith('.safetensors')).sort()).toEqual(['ae.safetensors', 'qwen_3_4b.safetensors', 'z_image_turbo_bf16.safetensors']);
    const help = await run('models', '--help');
    expect(help.stdout).toMatch(/z-image-turbo +Z-Image Turbo.*\n +diffusionModel +Comfy-Org\/z_image_turbo:split_files\/diffusion_models\/z_image_turbo_bf16\.safetensors/);
  });
});
