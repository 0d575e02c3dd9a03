import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
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

  it('applies every patch of engine.json to the pinned release exactly (no fuzz, no offset), in order', () => {
    const archive = path.join(cacheDir('engine'), pin.pypi.file);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-patches-'));
    try {
      const top = pin.pypi.file.replace(/\.tar\.gz$/, '');
      execFileSync('tar', ['xzf', archive, '-C', tmp, `${top}/${pin.pypi.subdir}`]);
      const dir = path.join(tmp, top, pin.pypi.subdir);
      expect(pin.patches.length).toBeGreaterThanOrEqual(5);
      for (const patch of pin.patches) {
        const run = spawnSync('patch', ['-p1', '--forward', '--batch', '--no-backup-if-mismatch', '-d', dir, '-i', path.join(root, patch)], { encoding: 'utf8' });
        const output = `${run.stdout}${run.stderr}`;
        expect({ patch, status: run.status, output }).toEqual({ patch, status: 0, output: expect.not.stringMatching(/FAILED|fuzz|offset|reversed|malformed/i) });
      }
      const cpu = path.join(dir, 'ggml', 'src', 'ggml-cpu');
      expect(fs.readFileSync(path.join(cpu, 'ops.cpp'), 'utf8')).toContain('if (diffusekit_conv_2d(params, dst)) {');
      expect(fs.readFileSync(path.join(cpu, 'ggml-cpu.c'), 'utf8')).toContain('if (diffusekit_mul_mat(params, dst)) {');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
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
