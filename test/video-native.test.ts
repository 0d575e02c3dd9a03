import { describe, expect, it } from 'vitest';
import { nativeBinding } from '../src/engine/binding.js';
import { tinyModel } from './helpers/models.js';

// The addon's video entry point (the TypeScript Pipeline API for video builds on it). On an image model the
// engine's own shape check fails inside the call: it must reject, not abort the process.
describe('native generateVideo', () => {
  it('rejects with ERR_ENGINE_STATE on an image-only model, and the process lives on', async () => {
    const ctx = await nativeBinding().Context.load({ model: tinyModel() }, undefined, 3);
    try {
      expect([ctx.supportsImages, ctx.supportsVideo]).toEqual([true, false]);
      const error = await ctx
        .generateVideo({ prompt: 'x', negativePrompt: '', width: 64, height: 64, frames: 5, steps: 1, guidanceScale: 5, seed: 1 })
        .catch((e: unknown) => e as { code: string; message: string });
      expect(error).toMatchObject({ code: 'ERR_ENGINE_STATE', message: expect.stringContaining('GGML_ASSERT') });
      // The context refuses further calls at once (the Pipeline maps this to EngineStateError).
      expect(() => ctx.generate({ prompt: 'x', negativePrompt: '', width: 64, height: 64, steps: 1, guidanceScale: 5, seed: 1, batchCount: 1, clipSkip: -1 })).toThrow(/Engine check failed/);
    } finally {
      ctx.dispose();
    }
  });
});
