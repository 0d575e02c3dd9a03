import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheDir } from '../src/util/cache.js';

const root = path.resolve(import.meta.dirname, '..');
const pin = JSON.parse(fs.readFileSync(path.join(root, 'engine.json'), 'utf8'));

describe('pinned engine source', () => {
  it('resolves to the patched tree the addon was built from', () => {
    const dir = execFileSync(process.execPath, [path.join(root, 'scripts', 'engine-source.mjs')], { encoding: 'utf8' }).trim();
    expect(dir).toBe(path.join(root, 'deps', 'engine'));
    const hooked = fs.readFileSync(path.join(dir, 'src', 'ggml_extend.hpp'), 'utf8');
    expect(hooked).toContain('diffusekit_graph_compute(runtime_backend, gf)');
  });

  it('caches the sdist whose sha256 is pinned', () => {
    const archive = path.join(cacheDir('engine'), pin.pypi.file);
    expect(createHash('sha256').update(fs.readFileSync(archive)).digest('hex')).toBe(pin.pypi.sha256);
  });

  it('refuses a DIFFUSEKIT_ENGINE_SRC that is not a stable-diffusion.cpp checkout', () => {
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'engine-source.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, DIFFUSEKIT_ENGINE_SRC: root },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('is not a stable-diffusion.cpp checkout (no include/stable-diffusion.h)');
  });
});
