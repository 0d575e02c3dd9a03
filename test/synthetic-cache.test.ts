import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRoom, touchCached } from '../src/models/synthetic-cache.js';
import { tempDir } from './helpers/models.js';

describe('the synthetic-model cache under disk pressure', () => {
  // A disk whose free space grows by what was removed: deterministic, whatever else the machine writes.
  const disk = (dir: string, start: number) => {
    const initial = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    return () => start + initial - fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  };
  const put = (dir: string, name: string, mib: number, minutesAgo: number) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.alloc(mib * 2 ** 20));
    const at = new Date(Date.now() - minutesAgo * 60_000);
    fs.utimesSync(file, at, at);
    return file;
  };

  it('removes the least recently used synthetic files until the write fits with the reserve, and keeps recent and foreign files', () => {
    const dir = tempDir();
    put(dir, 'synthetic-a-seed0-f16-v1.safetensors', 3, 300);
    put(dir, 'synthetic-b-seed0-f16-v1.safetensors', 3, 200);
    put(dir, 'synthetic-c-seed0-f16-v1.safetensors', 3, 100);
    const recent = put(dir, 'synthetic-d-seed0-f16-v1.safetensors', 3, 5);
    put(dir, 'my-own-model.safetensors', 3, 900);
    process.env.DIFFUSEKIT_SYNTH_RESERVE_GB = '0';
    try {
      // 1 MiB free, 6 MiB wanted: the two oldest synthetic files go, the third stays.
      const removed = makeRoom(dir, dir, 6 * 2 ** 20, disk(dir, 2 ** 20));
      expect(removed.map((r) => r.split(' ')[0])).toEqual(['synthetic-a-seed0-f16-v1.safetensors', 'synthetic-b-seed0-f16-v1.safetensors']);
      expect(fs.readdirSync(dir).sort()).toEqual(['my-own-model.safetensors', 'synthetic-c-seed0-f16-v1.safetensors', 'synthetic-d-seed0-f16-v1.safetensors']);
      // Not enough even with every old file gone: the recently used one and the user's own are kept.
      makeRoom(dir, dir, 100 * 2 ** 20, disk(dir, 0));
      expect(fs.readdirSync(dir).sort()).toEqual(['my-own-model.safetensors', 'synthetic-d-seed0-f16-v1.safetensors']);
      expect(fs.existsSync(recent)).toBe(true);
    } finally {
      delete process.env.DIFFUSEKIT_SYNTH_RESERVE_GB;
    }
  });

  it('a file used again moves to the back of the line, and nothing is removed when the space is there', () => {
    const dir = tempDir();
    const old = put(dir, 'synthetic-old-seed0-f16-v1.safetensors', 1, 300);
    put(dir, 'synthetic-newer-seed0-f16-v1.safetensors', 1, 100);
    expect(makeRoom(dir, dir, 2 ** 20, () => Number.MAX_SAFE_INTEGER)).toEqual([]);
    touchCached(old);
    process.env.DIFFUSEKIT_SYNTH_RESERVE_GB = '0';
    try {
      makeRoom(dir, dir, 2 ** 20, disk(dir, 0));
    } finally {
      delete process.env.DIFFUSEKIT_SYNTH_RESERVE_GB;
    }
    expect(fs.readdirSync(dir)).toEqual(['synthetic-old-seed0-f16-v1.safetensors']);
  });
});
