import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels, ModelFileError, Pipeline, removeModel, resolveModel, synthesizeModel } from '../src/index.js';
import { loadModelRegistry } from '../src/server/models/model-registry.js';
import { writeSafetensors } from '../src/models/safetensors.js';
import { writeGguf } from './helpers/gguf.js';
import { startFakeHub, tinyCheckpointBytes, type FakeHub } from './helpers/fake-hub.js';
import { tempDir, tinyModel } from './helpers/models.js';

const f16 = (name: string, shape: number[]) => ({ name, dtype: 'F16' as const, shape, byteLength: shape.reduce((a, b) => a * b, 1) * 2 });
const zeros = (e: { byteLength: number }) => new Uint8Array(e.byteLength);

/** A library folder with a checkpoint, a LoRA, a gguf, a broken file, a pulled alias and things that are not models. */
function makeLibrary(): string {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'tiny-sd1.safetensors'), tinyCheckpointBytes(dir));
  writeSafetensors(path.join(dir, 'style-lora.safetensors'), [
    f16('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight', [4, 768]),
    f16('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight', [320, 4]),
  ], zeros);
  writeGguf(path.join(dir, 'encoder.gguf'), [{ name: 'text_model.embeddings.token_embedding.weight', shape: [768, 8] }]);
  fs.writeFileSync(path.join(dir, 'broken.safetensors'), Buffer.from('not a model at all'));
  // Pulled by an alias: recorded in the manifest.
  fs.copyFileSync(path.join(dir, 'tiny-sd1.safetensors'), path.join(dir, 'v1-5-pruned-emaonly-fp16.safetensors'));
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({
    version: 1,
    aliases: { 'sd-1.5': 'v1-5-pruned-emaonly-fp16.safetensors' },
    files: { 'v1-5-pruned-emaonly-fp16.safetensors': { repo: 'Comfy-Org/stable-diffusion-v1-5-archive', file: 'v1-5-pruned-emaonly-fp16.safetensors', revision: 'main', sha256: 'ab'.repeat(32), size: 1, pulledAt: '2026-01-01T00:00:00.000Z' } },
  }));
  // Never models: an interrupted download, a writer's temporary file, notes.
  fs.mkdirSync(path.join(dir, '.partial'));
  fs.writeFileSync(path.join(dir, '.partial', 'big.safetensors.part'), tinyCheckpointBytes(dir).subarray(0, 100));
  fs.writeFileSync(path.join(dir, 'other.safetensors.123.part'), 'x');
  fs.writeFileSync(path.join(dir, 'README.txt'), 'notes');
  return dir;
}

describe('the model library', () => {
  it('lists models with family, role, weight type, size and alias; partial downloads are never listed', async () => {
    const dir = makeLibrary();
    const models = await listModels({ dir });
    expect(models.map((m) => m.name)).toEqual(['broken', 'encoder', 'style-lora', 'tiny-sd1', 'v1-5-pruned-emaonly-fp16']);
    const byName = Object.fromEntries(models.map((m) => [m.name, m]));
    expect(byName['tiny-sd1']).toMatchObject({ fileName: 'tiny-sd1.safetensors', format: 'safetensors', family: 'sd1', role: 'checkpoint', weightType: 'f16' });
    expect(byName['tiny-sd1'].size).toBe(fs.statSync(path.join(dir, 'tiny-sd1.safetensors')).size);
    expect(byName['tiny-sd1'].alias).toBeUndefined();
    expect(byName['style-lora']).toMatchObject({ role: 'lora', family: 'sd1', weightType: 'f16' });
    expect(byName.encoder).toMatchObject({ format: 'gguf', weightType: 'f32' });
    expect(byName.broken).toMatchObject({ role: 'unknown', problem: expect.stringContaining('not a model') });
    expect(byName['v1-5-pruned-emaonly-fp16']).toMatchObject({ alias: 'sd-1.5', source: { repo: 'Comfy-Org/stable-diffusion-v1-5-archive' } });
  });

  it('an empty or missing library lists nothing', async () => {
    expect(await listModels({ dir: path.join(tempDir(), 'none') })).toEqual([]);
  });

  it('resolves an existing path first, then a library name, a file name, a pulled alias; else says how to pull', async () => {
    const dir = makeLibrary();
    const elsewhere = path.join(tempDir(), 'tiny-sd1.safetensors');
    fs.writeFileSync(elsewhere, 'x');
    expect(await resolveModel(elsewhere, { dir })).toBe(elsewhere);
    expect(await resolveModel(path.relative(process.cwd(), elsewhere), { dir })).toBe(elsewhere);
    expect(await resolveModel('tiny-sd1', { dir })).toBe(path.join(dir, 'tiny-sd1.safetensors'));
    expect(await resolveModel('tiny-sd1.safetensors', { dir })).toBe(path.join(dir, 'tiny-sd1.safetensors'));
    expect(await resolveModel('sd-1.5', { dir })).toBe(path.join(dir, 'v1-5-pruned-emaonly-fp16.safetensors'));
    expect(await resolveModel('Comfy-Org/stable-diffusion-v1-5-archive', { dir })).toBe(path.join(dir, 'v1-5-pruned-emaonly-fp16.safetensors'));

    const empty = tempDir();
    const notPulled = await resolveModel('sdxl', { dir: empty }).catch((e: unknown) => e);
    expect(notPulled).toBeInstanceOf(ModelFileError);
    expect((notPulled as Error).message).toBe(`model 'sdxl' is not in the library (${empty}): pull it with 'diffusekit models pull sdxl'`);
    await expect(resolveModel('mystery', { dir: empty, label: 'vae model' })).rejects.toThrow(
      /^vae model 'mystery' is neither a file nor a model in the library .*'diffusekit models pull sd-1\.5'/,
    );
    // Something that can only be a path keeps the plain "not found" of a missing file.
    await expect(resolveModel('/nonexistent/x.safetensors', { dir })).rejects.toThrow(/^model file \/nonexistent\/x\.safetensors: not found$/);
    await expect(resolveModel('.partial/big.safetensors.part', { dir: empty })).rejects.toThrow(/not found$/);
  });

  it('uses $DIFFUSEKIT_MODELS_DIR when no dir is given', async () => {
    const dir = makeLibrary();
    const saved = process.env.DIFFUSEKIT_MODELS_DIR;
    process.env.DIFFUSEKIT_MODELS_DIR = dir;
    try {
      expect(await resolveModel('tiny-sd1')).toBe(path.join(dir, 'tiny-sd1.safetensors'));
      expect((await listModels()).length).toBe(5);
    } finally {
      if (saved === undefined) delete process.env.DIFFUSEKIT_MODELS_DIR;
      else process.env.DIFFUSEKIT_MODELS_DIR = saved;
    }
  });

  it('removes a model by name or alias, with its record', async () => {
    const dir = makeLibrary();
    expect(await removeModel('tiny-sd1', { dir })).toEqual({ name: 'tiny-sd1', path: path.join(dir, 'tiny-sd1.safetensors') });
    expect(fs.existsSync(path.join(dir, 'tiny-sd1.safetensors'))).toBe(false);
    await removeModel('sd-1.5', { dir });
    expect(fs.existsSync(path.join(dir, 'v1-5-pruned-emaonly-fp16.safetensors'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'))).toEqual({ version: 1, aliases: {}, files: {} });
    await expect(removeModel('sd-1.5', { dir })).rejects.toThrow(`no model named 'sd-1.5' in the library (${dir})`);
    await expect(removeModel('../outside', { dir })).rejects.toBeInstanceOf(ModelFileError);
  });
});

describe('library names where models are loaded', () => {
  const saved = process.env.DIFFUSEKIT_MODELS_DIR;
  let dir: string;

  beforeAll(() => {
    dir = tempDir();
    fs.symlinkSync(tinyModel(), path.join(dir, 'tiny.safetensors'));
    fs.symlinkSync(synthesizeModel({ architecture: 'esrgan-x4plus' }).path, path.join(dir, 'upscaler-x4.safetensors'));
    process.env.DIFFUSEKIT_MODELS_DIR = dir;
  });

  afterAll(() => {
    if (saved === undefined) delete process.env.DIFFUSEKIT_MODELS_DIR;
    else process.env.DIFFUSEKIT_MODELS_DIR = saved;
  });

  it('Pipeline.load takes a library name (and still a path)', async () => {
    const pipe = await Pipeline.load({ model: 'tiny' });
    try {
      expect(pipe.model.name).toBe('tiny');
      expect(pipe.model.files[0].path).toBe(path.join(dir, 'tiny.safetensors'));
    } finally {
      await pipe.dispose();
    }
    await expect(Pipeline.load({ model: 'sdxl' })).rejects.toThrow("pull it with 'diffusekit models pull sdxl'");
    await expect(Pipeline.load({ model: 'tiny', vae: 'no-such-vae' })).rejects.toThrow(/^vae model 'no-such-vae' is neither a file nor a model/);
  });

  it('the server\'s model registry resolves --model names', async () => {
    const models = await loadModelRegistry(['tiny', 'upscaler-x4']);
    expect(models.map((m) => [m.id, m.role, m.path])).toEqual([
      ['tiny', 'checkpoint', path.join(dir, 'tiny.safetensors')],
      ['upscaler-x4', 'upscaler', path.join(dir, 'upscaler-x4.safetensors')],
    ]);
    const other = tempDir();
    fs.symlinkSync(tinyModel(), path.join(other, 'elsewhere.safetensors'));
    expect((await loadModelRegistry(['elsewhere'], { modelsDir: other }))[0].id).toBe('elsewhere');
  });
});

describe('diffusekit models', () => {
  const cli = path.resolve(import.meta.dirname, '..', 'lib', 'cli', 'main.js');
  let hub: FakeHub;
  let model: Buffer;

  beforeAll(async () => {
    model = tinyCheckpointBytes(tempDir(), 3);
    hub = await startFakeHub({
      'acme/tiny': { files: { 'tiny.safetensors': { body: model } } },
      'acme/gated': { gated: true, files: { 'gated.safetensors': { body: model } } },
    });
  });

  afterAll(() => hub.close());

  // Asynchronous: the fake Hub answers from this process.
  const run = (dir: string, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env = { ...process.env, HF_ENDPOINT: hub.url, DIFFUSEKIT_MODELS_DIR: dir, NO_COLOR: '1' };
      delete env.HF_TOKEN;
      const child = spawn(process.execPath, [cli, ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('pull, list and rm, with --json', async () => {
    const dir = tempDir();
    const pulled = await run(dir, 'models', 'pull', 'acme/tiny:tiny.safetensors', '--json');
    expect(pulled.status).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ name: 'tiny', path: path.join(dir, 'tiny.safetensors'), repo: 'acme/tiny', size: model.length, downloaded: true });

    const listed = await run(dir, 'models', 'list', '--json');
    expect(listed.status).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ dir, models: [{ name: 'tiny', family: 'sd1', role: 'checkpoint', weightType: 'f16', source: { repo: 'acme/tiny' } }] });
    const table = await run(dir, 'models', 'list');
    expect(table.stdout).toMatch(/^NAME +FAMILY +ROLE +TYPE +SIZE +ALIAS\ntiny +sd1 +checkpoint +f16 +\d/);

    const removed = await run(dir, 'models', 'rm', 'tiny');
    expect([removed.status, removed.stdout]).toEqual([0, `removed tiny (${path.join(dir, 'tiny.safetensors')})\n`]);
    expect(JSON.parse((await run(dir, 'models', 'list', '--json')).stdout).models).toEqual([]);
  });

  it('exits 1 with the reason on a refused pull, 2 on usage errors; --help shows aliases and examples', async () => {
    const dir = tempDir();
    const gated = await run(dir, 'models', 'pull', 'acme/gated');
    expect(gated.status).toBe(1);
    expect(gated.stderr).toMatch(/acme\/gated is gated .*HF_TOKEN/);
    expect(fs.readdirSync(dir).filter((f) => f !== '.partial')).toEqual([]);
    expect((await run(dir, 'models', 'frobnicate')).status).toBe(2);
    expect((await run(dir, 'models', 'pull')).status).toBe(2);
    const help = await run(dir, 'models', '--help');
    expect(help.status).toBe(0);
    for (const text of ['sd-1.5', 'sdxl', 'realesrgan-x4', 'taesdxl', 'HF_TOKEN', 'diffusekit models pull sd-1.5']) expect(help.stdout).toContain(text);
  });
});
