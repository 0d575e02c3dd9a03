import { describe, expect, it } from 'vitest';
import { renderTraining } from '../../src/server/api/v3/render.js';
import { JobStore } from '../../src/server/jobs/job-store.js';
import type { JobSpec } from '../../src/server/jobs/job-spec.js';
import { openDatabase } from '../../src/server/store/database.js';
import { TrainingStore } from '../../src/server/training/training-store.js';
import { checkpointInterval } from '../../src/server/workers/training-executor.js';
import { tempDataDir } from './helpers.js';

const spec = (trainingId: string): JobSpec => ({
  task: 'lora_train', model: 'base', prompt: 'photo of sks dog', negativePrompt: '', samples: 1, steps: 10, guidanceScale: 0, seed: 1, loras: [], outputFormat: 'png', nsfwPrompt: false,
  training: { trainingId, steps: 10, rank: 4, learningRate: 1e-4, resolution: 64, loraType: 'lora' },
});

describe('trainings on the job queue', () => {
  it("counts a key's queued and running trainings for its quota, not its ended ones nor other keys'", () => {
    const db = openDatabase(tempDataDir());
    const jobs = new JobStore(db);
    const trainings = new TrainingStore(db);
    const add = (trainingId: string, keyId: string | null) => {
      const job = jobs.insert({ spec: spec(trainingId), api: 'v3', baseUrl: 'http://x', keyId });
      trainings.insert({ trainingId, jobId: job.id, keyId, createdAt: 1 });
      return job;
    };
    const a = add('a1', 'key_a');
    add('b1', 'key_b');
    add('n1', null);
    expect(trainings.activeForKey('key_a')).toBe(1);
    jobs.claimNext('0', []);
    expect(trainings.activeForKey('key_a')).toBe(1);
    jobs.finish(a.id, 'success');
    expect(trainings.activeForKey('key_a')).toBe(0);
    expect(trainings.activeForKey('key_b')).toBe(1);
    expect(trainings.get('a1')).toEqual({ trainingId: 'a1', jobId: a.id, keyId: 'key_a', createdAt: 1 });
    expect(trainings.get('nope')).toBeUndefined();
  });

  it('answers status in the hosted words, with the LoRA id only once trained', () => {
    const jobs = new JobStore(openDatabase(tempDataDir()));
    const job = jobs.insert({ spec: spec('t1'), api: 'v3', baseUrl: 'http://x' });
    expect(renderTraining(job)).toMatchObject({ status: 'success', messege: 'deploying_gpu', training_status: 'deploying_gpu', model_id: null, step: 0 });
    jobs.claimNext('0', []);
    const running = jobs.get(job.id)!;
    expect(renderTraining(running, { phase: 'training', step: 3, steps: 10, image: 0, images: 1, loss: 0.12, eta: 40 })).toMatchObject({ training_status: 'training_started', step: 3, loss: 0.12, eta: 40 });
    jobs.finish(job.id, 'success');
    expect(renderTraining(jobs.get(job.id)!)).toMatchObject({ training_status: 'training_success', model_id: 't1', lora_model: 't1', step: 10 });
    const failed = jobs.insert({ spec: spec('t2'), api: 'v3', baseUrl: 'http://x' });
    jobs.finish(failed.id, 'error', { error: 'Training failed: out of memory', errorCode: 'ERR_TRAINING' });
    expect(renderTraining(jobs.get(failed.id)!)).toMatchObject({ status: 'error', training_status: 'training_failed', message: 'Training failed: out of memory', error_code: 'ERR_TRAINING' });
  });

  it('checkpoints about every tenth of a run, at least every step and at most every 100 steps', () => {
    expect([2, 40, 500, 5000].map(checkpointInterval)).toEqual([1, 4, 50, 100]);
  });
});
