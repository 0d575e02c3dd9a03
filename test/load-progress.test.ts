import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel, Pipeline, synthesizeModel, type LoadProgressEvent } from '../src/index.js';
import { tempDir, tinyModel } from './helpers/models.js';

/** Reports rise to the total, which is the tensor count the engine reads. */
function expectCountUp(events: LoadProgressEvent[], total: number): void {
  expect(events.length).toBeGreaterThanOrEqual(2);
  expect(events.every((e) => e.total === total)).toBe(true);
  for (let i = 1; i < events.length; i++) expect(events[i].tensors).toBeGreaterThanOrEqual(events[i - 1].tensors);
  expect(events.at(-1)!.tensors).toBe(total);
}

describe('load progress', () => {
  it('Pipeline.load reports the tensors read, up to all of them', async () => {
    const events: LoadProgressEvent[] = [];
    await using pipe = await Pipeline.load({ model: tinyModel(), threads: 2, onProgress: (e) => events.push(e) });
    expectCountUp(events, pipe.info.fileWeightTypes.f16);
  });

  it('convertModel reports the tensors of its input', async () => {
    const events: LoadProgressEvent[] = [];
    const model = synthesizeModel({ architecture: 'taesd' });
    await convertModel(model.path, path.join(tempDir(), 'taesd-q8_0.gguf'), { weightType: 'q8_0', onProgress: (e) => events.push(e) });
    expectCountUp(events, model.tensors);
  });

  it('refuses an onProgress that is not a function', async () => {
    await expect(Pipeline.load({ model: tinyModel(), onProgress: 5 as never })).rejects.toThrow(/onProgress/);
  });
});
