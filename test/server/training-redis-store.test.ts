import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/server/jobs/job-spec.js';
import { connectRedis } from '../../src/server/redis/connection.js';
import { RedisJobStore } from '../../src/server/redis/job-store.js';
import { RedisTrainingStore } from '../../src/server/redis/training-store.js';
import { LocalStorage } from '../../src/server/storage/object-storage.js';
import { datasetBundleName, putDatasetBundle, stageDatasetBundle } from '../../src/server/training/dataset-bundle.js';
import { tempDataDir } from './helpers.js';
import { startRedis, type RedisServer } from './redis-helpers.js';

const spec = (trainingId: string): JobSpec => ({
  task: 'lora_train', model: 'base', prompt: 'photo of sks dog', negativePrompt: '', samples: 1, steps: 10, guidanceScale: 0, seed: 1, loras: [], outputFormat: 'png', nsfwPrompt: false,
  training: { trainingId, steps: 10, rank: 4, learningRate: 1e-4, resolution: 64, loraType: 'lora' },
});

describe('trainings on the Redis queue', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = connectRedis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("counts a key's queued and running trainings for its quota, not its ended ones nor other keys'", async () => {
    const jobs = new RedisJobStore(redis);
    const trainings = new RedisTrainingStore(redis);
    const add = async (trainingId: string, keyId: string | null) => {
      const job = await jobs.insert({ spec: spec(trainingId), api: 'v3', baseUrl: 'http://x', keyId });
      await trainings.insert({ trainingId, jobId: job.id, keyId, createdAt: 1 });
      return job;
    };
    const a = await add('a1', 'key_a');
    await add('b1', 'key_b');
    await add('n1', null);
    expect(await trainings.activeForKey('key_a')).toBe(1);
    await jobs.markRunning(a.id, 'node-1');
    expect(await trainings.activeForKey('key_a')).toBe(1);
    await jobs.finish(a.id, 'success');
    expect(await trainings.activeForKey('key_a')).toBe(0);
    expect(await redis.smembers('dk:trainings:key:key_a')).toEqual([]);
    expect(await trainings.activeForKey('key_b')).toBe(1);
    expect(await trainings.get('a1')).toEqual({ trainingId: 'a1', jobId: a.id, keyId: 'key_a', createdAt: 1 });
    expect(await trainings.get('n1')).toMatchObject({ keyId: null });
    expect(await trainings.get('nope')).toBeUndefined();
  });

  it("moves a prepared dataset to a worker node's own training folder through the shared storage", async () => {
    const storage = new LocalStorage(tempDataDir());
    const apiTraining = tempDataDir();
    const dataset = path.join(apiTraining, 't1', 'dataset');
    fs.mkdirSync(dataset, { recursive: true });
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
    fs.writeFileSync(path.join(dataset, '000.png'), png);
    fs.writeFileSync(path.join(dataset, '000.txt'), 'photo of sks dog\n');
    fs.writeFileSync(path.join(dataset, 'dataset.json'), '{"resolution":64,"items":[]}\n');
    await putDatasetBundle(storage, apiTraining, 't1');
    expect(await storage.read('inputs', datasetBundleName('t1'))).toBeDefined();

    const workerTraining = tempDataDir();
    expect(await stageDatasetBundle(storage, workerTraining, 't1')).toBe(true);
    const staged = path.join(workerTraining, 't1', 'dataset');
    expect(fs.readdirSync(staged).sort()).toEqual(['000.png', '000.txt', 'dataset.json']);
    expect(fs.readFileSync(path.join(staged, '000.png')).equals(png)).toBe(true);
    expect(fs.readFileSync(path.join(staged, '000.txt'), 'utf8')).toBe('photo of sks dog\n');
    // Present already (a shared data directory, a retry): left as it is, even without the bundle.
    await storage.remove('inputs', datasetBundleName('t1'));
    expect(await stageDatasetBundle(storage, workerTraining, 't1')).toBe(true);
    expect(await stageDatasetBundle(storage, workerTraining, 'gone')).toBe(false);
  });
});
