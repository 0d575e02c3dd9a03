import { describe, expect, it } from 'vitest';
import { JobStore } from '../../src/server/jobs/job-store.js';
import type { JobSpec } from '../../src/server/jobs/job-spec.js';
import { openDatabase } from '../../src/server/store/database.js';
import { ModelCache } from '../../src/server/workers/model-cache.js';
import { tempDataDir } from './helpers.js';

const spec = (model: string): JobSpec => ({
  task: 'txt2img', model, prompt: 'p', negativePrompt: '', samples: 1, steps: 1, guidanceScale: 7, seed: 1, loras: [], outputFormat: 'png', nsfwPrompt: false,
});

describe('JobStore', () => {
  it('hands a worker jobs for its loaded models first, then the oldest', () => {
    const store = new JobStore(openDatabase(tempDataDir()));
    const a1 = store.insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x' });
    const b1 = store.insert({ spec: spec('b'), api: 'v6', baseUrl: 'http://x' });
    const a2 = store.insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x' });
    expect(store.claimNext('0', ['b'])!.id).toBe(b1.id);
    expect(store.claimNext('1', [])!.id).toBe(a1.id);
    const claimed = store.claimNext('0', ['b'])!;
    expect([claimed.id, claimed.status, claimed.attempts, claimed.worker]).toEqual([a2.id, 'running', 1, '0']);
    expect(store.claimNext('0', [])).toBeUndefined();
    expect(store.counts()).toEqual({ queued: 0, running: 3 });
  });

  it('requeues a running job keeping its attempts; finishing twice is refused', () => {
    const store = new JobStore(openDatabase(tempDataDir()));
    const job = store.insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x', keyId: 'key_1' });
    expect(store.activeForKey('key_1')).toBe(1);
    store.claimNext('0', []);
    expect(store.requeue(job.id)).toBe(true);
    expect(store.get(job.id)).toMatchObject({ status: 'queued', attempts: 1, worker: null });
    store.claimNext('0', []);
    expect(store.finish(job.id, 'success', { outputs: [{ file: '1-0.png', seed: 1, width: 8, height: 8, nsfw: false }] })).toBe(true);
    expect(store.finish(job.id, 'error', { error: 'late' })).toBe(false);
    expect(store.get(job.id)).toMatchObject({ status: 'success', attempts: 2, error: null });
    expect(store.activeForKey('key_1')).toBe(0);
  });

  it('lists the newest jobs of a key, or of everyone', () => {
    const store = new JobStore(openDatabase(tempDataDir()));
    const ids = ['key_1', 'key_2', 'key_1', null, 'key_1'].map((keyId) => store.insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x', keyId }).id);
    expect(store.recent('key_1', 2).map((j) => j.id)).toEqual([ids[4], ids[2]]);
    expect(store.recent('key_2', 10).map((j) => j.id)).toEqual([ids[1]]);
    expect(store.recent(null, 3).map((j) => j.id)).toEqual([ids[4], ids[3], ids[2]]);
    expect(store.recent('key_3', 10)).toEqual([]);
  });

  it('survives reopening the database file', () => {
    const dir = tempDataDir();
    const first = openDatabase(dir);
    const id = new JobStore(first).insert({ spec: spec('a'), api: 'v6', baseUrl: 'http://x', trackId: 't' }).id;
    first.close();
    expect(new JobStore(openDatabase(dir)).get(id)).toMatchObject({ status: 'queued', trackId: 't', spec: spec('a') });
  });
});

describe('ModelCache', () => {
  it('keeps models under the budget, evicting the least recently used; a lone model over budget still loads', async () => {
    const disposed: string[] = [];
    const cache = new ModelCache<string>(10, async (v) => void disposed.push(v));
    await cache.get('a', 4, async () => 'A');
    await cache.get('b', 4, async () => 'B');
    await cache.get('a', 4, async () => 'unused'); // a is now the most recent
    await cache.get('c', 4, async () => 'C');
    expect(disposed).toEqual(['B']);
    expect(cache.keys().sort()).toEqual(['a', 'c']);
    await cache.get('huge', 50, async () => 'H');
    expect(cache.keys()).toEqual(['huge']);
    // Room is made before loading; a load that fails leaves no entry behind.
    await expect(cache.get('bad', 1, async () => Promise.reject(new Error('load failed')))).rejects.toThrow('load failed');
    expect(cache.keys()).toEqual([]);
    expect(disposed).toEqual(['B', 'A', 'C', 'H']);
  });
});
