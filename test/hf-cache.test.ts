import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findInHubCache, hubCacheDir, ModelFileError, Pipeline, resolveModel } from '../src/index.js';
import { tempDir, tinyModel } from './helpers/models.js';

const COMMIT = 'a'.repeat(40);

/** One repository in huggingface_hub's layout: blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>, refs/main. */
function cacheRepo(cache: string, repo: string, files: Record<string, string>, commit = COMMIT): string {
  const repoDir = path.join(cache, `models--${repo.replace('/', '--')}`);
  for (const [file, source] of Object.entries(files)) {
    const blob = path.join(repoDir, 'blobs', crypto.createHash('sha256').update(`${repo}/${file}`).digest('hex'));
    fs.mkdirSync(path.dirname(blob), { recursive: true });
    if (!fs.existsSync(blob)) fs.symlinkSync(source, blob); // stands in for the bytes Python would have written
    const link = path.join(repoDir, 'snapshots', commit, file);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(link), blob), link);
  }
  fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repoDir, 'refs', 'main'), commit);
  return path.join(repoDir, 'snapshots', commit);
}

describe('the Hugging Face Hub cache', () => {
  const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HOME: process.env.HF_HOME };
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('is found where huggingface_hub puts it', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/data/hub', HF_HOME: '/hf' })).toBe('/data/hub');
    expect(hubCacheDir({ HF_HOME: '/hf' })).toBe(path.join('/hf', 'hub'));
    expect(hubCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe(path.join('/xdg', 'huggingface', 'hub'));
    expect(hubCacheDir({})).toMatch(/[\\/]\.cache[\\/]huggingface[\\/]hub$/);
  });

  it('a checkpoint a Python tool pulled loads by its repository name', async () => {
    const cache = tempDir();
    const snapshot = cacheRepo(cache, 'acme/tiny-sdxs', { 'tiny-sdxs.safetensors': tinyModel(), 'README.md': tinyModel() });
    process.env.HF_HUB_CACHE = cache;
    const library = { dir: tempDir() };
    expect(await resolveModel('acme/tiny-sdxs', library)).toBe(path.join(snapshot, 'tiny-sdxs.safetensors'));
    expect(await resolveModel('acme/tiny-sdxs:tiny-sdxs.safetensors', library)).toBe(path.join(snapshot, 'tiny-sdxs.safetensors'));
    const pipe = await Pipeline.load({ model: 'acme/tiny-sdxs', modelsDir: library.dir, logLevel: 'error' });
    try {
      expect(pipe.model.name).toBe('tiny-sdxs');
      const [image] = await pipe.generate({ prompt: 'a cabin', width: 64, height: 64, steps: 1, seed: 1 });
      expect([image!.width, image!.height]).toEqual([64, 64]);
    } finally {
      await pipe.dispose();
    }
  });

  it('reads HF_HOME, aliases, other revisions, and refuses to guess between checkpoints', async () => {
    const home = tempDir();
    process.env.HF_HOME = home;
    const cache = path.join(home, 'hub');
    const sd15 = cacheRepo(cache, 'Comfy-Org/stable-diffusion-v1-5-archive', { 'v1-5-pruned-emaonly-fp16.safetensors': tinyModel() });
    expect(await resolveModel('sd-1.5', { dir: tempDir() })).toBe(path.join(sd15, 'v1-5-pruned-emaonly-fp16.safetensors'));

    const other = 'b'.repeat(40);
    const older = cacheRepo(cache, 'acme/versions', { 'nested/model.gguf': tinyModel() }, other);
    fs.writeFileSync(path.join(cache, 'models--acme--versions', 'refs', 'v1'), other);
    fs.rmSync(path.join(cache, 'models--acme--versions', 'refs', 'main'));
    expect(await findInHubCache('acme/versions')).toBeUndefined(); // no main ref
    expect(await findInHubCache('acme/versions', { revision: 'v1' })).toBe(path.join(older, 'nested', 'model.gguf'));
    expect(await findInHubCache('acme/versions', { revision: other })).toBe(path.join(older, 'nested', 'model.gguf'));

    cacheRepo(cache, 'acme/two', { 'a.safetensors': tinyModel(), 'b.safetensors': tinyModel() });
    const error = await resolveModel('acme/two', { dir: tempDir() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toContain('acme/two in the Hugging Face cache');
    expect((error as Error).message).toContain('a.safetensors');
    expect(await findInHubCache('acme/two:b.safetensors')).toMatch(/b\.safetensors$/);
    expect(await findInHubCache('acme/missing')).toBeUndefined();
    await expect(resolveModel('acme/missing', { dir: tempDir() })).rejects.toBeInstanceOf(ModelFileError);
  });
});
