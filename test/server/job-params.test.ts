import { describe, expect, it } from 'vitest';
import { pickModel } from '../../src/server/api/shared/job-params.js';
import type { ServedModel } from '../../src/server/models/model-registry.js';

const model = (id: string, role: ServedModel['role'], aliases: string[] = []): ServedModel => ({ id, path: `/m/${id}.safetensors`, role, family: 'sd1', size: 1, synthetic: false, aliases });

describe('pickModel', () => {
  const models = [model('v1-5-pruned-emaonly-fp16', 'checkpoint', ['sd-1.5']), model('dreamshaper-8', 'checkpoint'), model('RealESRGAN_x4plus', 'upscaler', ['realesrgan-x4'])];

  it('takes a served id, the alias a model was served by, or the first of the role', () => {
    expect(pickModel(models, 'dreamshaper-8', 'checkpoint', 'model_id').id).toBe('dreamshaper-8');
    expect(pickModel(models, 'sd-1.5', 'checkpoint', 'model_id').id).toBe('v1-5-pruned-emaonly-fp16');
    expect(pickModel(models, undefined, 'checkpoint', 'model_id').id).toBe('v1-5-pruned-emaonly-fp16');
    expect(pickModel(models, 'realesrgan-x4', 'upscaler', 'model_id').id).toBe('RealESRGAN_x4plus');
  });

  it('refuses other names and other roles with the list of what is served', () => {
    expect(() => pickModel(models, 'sdxl', 'checkpoint', 'model_id')).toThrow("model_id: no checkpoint model 'sdxl' is served (available: v1-5-pruned-emaonly-fp16, dreamshaper-8)");
    expect(() => pickModel(models, 'realesrgan-x4', 'checkpoint', 'model_id')).toThrow(/no checkpoint model 'realesrgan-x4'/);
    expect(() => pickModel(models, undefined, 'controlnet', 'controlnet_model')).toThrow('controlnet_model: this server has no controlnet model');
  });
});
