import { describe, expect, it } from 'vitest';
import { AbortError, Pipeline, type LoadProgressEvent } from '../src/index.js';
import { sd1Model, tempDir, tinyModel } from './helpers/models.js';

describe('Pipeline.load({ signal })', () => {
  it('refuses to start with an aborted signal, before touching any file', async () => {
    const controller = new AbortController();
    controller.abort(new Error('changed my mind'));
    const error = await Pipeline.load({ model: `${tempDir()}/no-such-model.safetensors`, signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toEqual(new Error('changed my mind'));
  });

  it('stops while the files are resolved and inspected', async () => {
    const controller = new AbortController();
    const loading = Pipeline.load({ model: tinyModel(), signal: controller.signal });
    controller.abort();
    await expect(loading).rejects.toBeInstanceOf(AbortError);
  });

  it('rejects while the engine reads the weights, and the next load works', async () => {
    const controller = new AbortController();
    const events: LoadProgressEvent[] = [];
    const onProgress = (event: LoadProgressEvent) => {
      events.push(event);
      if (event.tensors > 0 && event.tensors < event.total) controller.abort();
    };
    const error = await Pipeline.load({ model: sd1Model(), threads: 2, signal: controller.signal, onProgress }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(controller.signal.aborted).toBe(true);
    // It rejected before the engine had read every tensor (its worker thread finishes, then the context is freed).
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)!.tensors).toBeLessThan(events.at(-1)!.total);

    await using pipe = await Pipeline.load({ model: tinyModel(), threads: 2, signal: new AbortController().signal });
    const [image] = await pipe.generate({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 3 });
    expect(image!.width).toBe(64);
  });
});
