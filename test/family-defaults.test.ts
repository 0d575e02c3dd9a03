import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { img2imgToJob, txt2imgToJob, type A1111Context } from '../src/server/api/a1111/to-job.js';
import { openaiToJob } from '../src/server/api/openai/to-job.js';
import type { TranslationContext } from '../src/server/api/shared/job-params.js';
import { v6ToJob } from '../src/server/api/v6/to-job.js';
import { DEFAULT_LIMITS } from '../src/server/config.js';
import { loadModelRegistry, type ServedModel } from '../src/server/models/model-registry.js';
import { PromptFilter } from '../src/server/safety/prompt-filter.js';
import { LocalStorage } from '../src/server/storage/object-storage.js';
import sharp from 'sharp';
import { autoencoderKL } from '../src/models/architectures/autoencoder.js';
import { detectFamily, inspectModelFile, modelRole, textEncoderKind } from '../src/models/inspect.js';
import { familyDefaults, modelVariant } from '../src/models/family-defaults.js';
import { syntheticLayout } from '../src/models/synthesize.js';
import { LayoutBuilder } from '../src/models/tensor-spec.js';
import { InvalidArgumentError } from '../src/errors.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { writeSparseSafetensors } from './helpers/sparse-model.js';

// Defaults come from one module (family-defaults.ts) for every face. The SDXL files here have SDXL's real
// header (names and shapes of the 6.9 GB checkpoint) over a sparse hole: nothing reads their weights.

let dir: string;
let models: ServedModel[];
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-families-'));
  const sdxl = syntheticLayout('sdxl');
  writeSparseSafetensors(file('sd_xl_base_1.0.safetensors'), sdxl);
  writeSparseSafetensors(file('sd_xl_turbo_1.0_fp16.safetensors'), sdxl);
  writeSparseSafetensors(file('sdxl_lightning_4step.safetensors'), sdxl);
  models = await loadModelRegistry([file('sd_xl_base_1.0.safetensors'), file('sd_xl_turbo_1.0_fp16.safetensors'), file('sdxl_lightning_4step.safetensors')]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const context = (): TranslationContext => ({
  models, limits: { ...DEFAULT_LIMITS, maxPixels: 2048 * 2048 }, promptFilter: new PromptFilter([]), promptModel: { model: undefined, timeoutMs: 0 },
  images: { storage: undefined as never, selfOrigins: [], maxBytes: 0, fetchTimeoutMs: 0, allowHosts: [] }, // txt2img stores no images
});
const a1111Context = (checkpoint: string): A1111Context => ({
  ...context(),
  settings: { options: () => ({ sd_model_checkpoint: checkpoint, CLIP_stop_at_last_layers: 1 }), update: async () => {}, sha256: () => undefined },
});

/** What each dialect makes of a request that names only the model and the prompt. */
async function silentRequests(id: string) {
  const v6 = (await v6ToJob('txt2img', { prompt: 'a lighthouse', model_id: id }, context())).spec;
  const openai = (await openaiToJob('generations', { prompt: 'a lighthouse', model: id }, context())).spec;
  const body: Record<string, unknown> = { prompt: 'a lighthouse', batch_size: 1, n_iter: 1, seed: -1 };
  const a1111 = (await txt2imgToJob(body, a1111Context(id))).spec;
  return { v6, openai, a1111, echo: body };
}

const pick = (spec: { width?: number; height?: number; steps: number; guidanceScale: number; sampler?: string; scheduler?: string }) => ({
  width: spec.width, height: spec.height, steps: spec.steps, guidanceScale: spec.guidanceScale, sampler: spec.sampler, scheduler: spec.scheduler,
});

describe('per-family defaults in every dialect', () => {
  it('the registry gives each served model its family and variant defaults', () => {
    const byId = Object.fromEntries(models.map((m) => [m.id, m]));
    expect(byId['sd_xl_base_1.0']).toMatchObject({ family: 'sdxl', variant: undefined, defaults: { width: 1024, height: 1024, steps: 30, guidanceScale: 7, sampler: 'euler_a' } });
    expect(byId['sd_xl_turbo_1.0_fp16']).toMatchObject({ family: 'sdxl', variant: 'turbo', defaults: { width: 512, height: 512, steps: 1, guidanceScale: 1 } });
    expect(byId.sdxl_lightning_4step).toMatchObject({ variant: 'lightning', defaults: { width: 1024, steps: 4, guidanceScale: 1, sampler: 'euler', scheduler: 'sgm_uniform' } });
  });

  it('an SDXL model renders at 1024x1024, 30 steps, CFG 7, Euler a in v6, OpenAI and A1111', async () => {
    const { v6, openai, a1111, echo } = await silentRequests('sd_xl_base_1.0');
    const expected = { width: 1024, height: 1024, steps: 30, guidanceScale: 7, sampler: 'euler_a', scheduler: undefined };
    expect([pick(v6), pick(openai), pick(a1111)]).toEqual([expected, expected, expected]);
    // A1111 echoes what it used, as A1111 does.
    expect(echo).toMatchObject({ steps: 30, cfg_scale: 7, width: 1024, height: 1024, sampler_name: 'Euler a' });
  });

  it('a turbo model renders at 512x512 in 1 step without CFG in every dialect', async () => {
    const { v6, openai, a1111 } = await silentRequests('sd_xl_turbo_1.0_fp16');
    const expected = { width: 512, height: 512, steps: 1, guidanceScale: 1, sampler: 'euler_a', scheduler: undefined };
    expect([pick(v6), pick(openai), pick(a1111)]).toEqual([expected, expected, expected]);
  });

  it('a lightning model keeps its schedule (SGM uniform) in every dialect', async () => {
    const { v6, openai, a1111, echo } = await silentRequests('sdxl_lightning_4step');
    const expected = { width: 1024, height: 1024, steps: 4, guidanceScale: 1, sampler: 'euler', scheduler: 'sgm_uniform' };
    expect([pick(v6), pick(openai), pick(a1111)]).toEqual([expected, expected, expected]);
    expect(echo).toMatchObject({ sampler_name: 'Euler', scheduler: 'SGM Uniform' });
  });

  it('what a request says wins over the model defaults', async () => {
    const spec = (await v6ToJob('txt2img', { prompt: 'x', model_id: 'sd_xl_turbo_1.0_fp16', width: 768, height: 640, num_inference_steps: 4, guidance_scale: 2, scheduler: 'DPM++ 2M Karras' }, context())).spec;
    expect(pick(spec)).toEqual({ width: 768, height: 640, steps: 4, guidanceScale: 2, sampler: 'dpm++2m', scheduler: 'karras' });
    const quality = (await openaiToJob('generations', { prompt: 'x', model: 'sd_xl_base_1.0', quality: 'hd' }, context())).spec;
    expect(quality.steps).toBe(50);
  });
});

describe('family-defaults.ts', () => {
  it('names each family its makers\' settings', () => {
    expect(familyDefaults('sd1')).toEqual({ width: 512, height: 512, steps: 20, guidanceScale: 7, sampler: 'euler_a' });
    expect(familyDefaults('flux')).toEqual({ width: 1024, height: 1024, steps: 28, guidanceScale: 1, distilledGuidance: 3.5, sampler: 'euler' });
    expect(familyDefaults('flux', 'schnell')).toEqual({ width: 1024, height: 1024, steps: 4, guidanceScale: 1, sampler: 'euler' });
    expect(familyDefaults('flux', 'kontext').distilledGuidance).toBe(2.5);
    expect(familyDefaults('flux2', 'klein')).toMatchObject({ steps: 4, guidanceScale: 1 });
    expect(familyDefaults('flux2', 'klein').distilledGuidance).toBeUndefined();
    expect(familyDefaults('sd3')).toMatchObject({ steps: 28, guidanceScale: 4.5, sampler: 'euler' });
    expect(familyDefaults('z-image')).toMatchObject({ steps: 50, guidanceScale: 4 });
    expect(familyDefaults('z-image', 'turbo')).toEqual({ width: 1024, height: 1024, steps: 8, guidanceScale: 1, sampler: 'euler' });
    expect(familyDefaults('qwen-image')).toMatchObject({ width: 1328, height: 1328, steps: 50, guidanceScale: 4 });
    expect(familyDefaults('chroma')).toMatchObject({ steps: 26, guidanceScale: 4 });
    expect(familyDefaults('wan')).toMatchObject({ width: 832, height: 480, fps: 16 });
    expect(familyDefaults('wan', 'ti2v')).toMatchObject({ width: 832, height: 704, fps: 24 });
  });

  it('tells variants by what the files say, else by name, and only where the family has them', () => {
    const info = (names: string[]) => ({ path: 'x', format: 'safetensors' as const, size: 1, tensorNames: names });
    expect(modelVariant('flux', ['flux1-dev'], [info(['double_blocks.0.img_attn.qkv.weight'])])).toBe('schnell');
    expect(modelVariant('flux', ['flux1-dev'], [info(['double_blocks.0.img_attn.qkv.weight', 'guidance_in.in_layer.weight'])])).toBeUndefined();
    expect(modelVariant('flux', ['flux1-kontext-dev'], [info(['double_blocks.0.x', 'guidance_in.in_layer.weight'])])).toBe('kontext');
    expect(modelVariant('qwen-image', ['qwen_image_edit_2509'])).toBe('edit');
    expect(modelVariant('z-image', ['z_image_turbo_bf16'])).toBe('turbo');
    expect(modelVariant('z-image', ['z_image_bf16'])).toBeUndefined();
    expect(modelVariant('sd1', ['lcm-dreamshaper-v7'])).toBe('lcm');
    expect(modelVariant('wan', ['wan-turbo'])).toBeUndefined();
    expect(modelVariant('sdxl', ['turbocharged'])).toBeUndefined();
  });
});

describe('families and components, from the files', () => {
  const header = (names: string[]) => ({ path: 'x', format: 'safetensors' as const, size: 1, tensorNames: names });

  it('detects FLUX.2, Chroma, FLUX.1, Qwen-Image, Z-Image and SD3 by the engine\'s own markers', () => {
    expect(detectFamily(header(['double_blocks.0.img_attn.qkv.weight', 'double_stream_modulation_img.lin.weight']))).toBe('flux2');
    expect(detectFamily(header(['double_blocks.0.img_attn.qkv.weight', 'distilled_guidance_layer.in_proj.weight']))).toBe('chroma');
    expect(detectFamily(header(['model.diffusion_model.double_blocks.0.img_attn.qkv.weight']))).toBe('flux');
    expect(detectFamily(header(['transformer_blocks.0.img_mod.1.weight']))).toBe('qwen-image');
    expect(detectFamily(header(['cap_embedder.0.weight', 'layers.0.attention.qkv.weight']))).toBe('z-image');
    expect(detectFamily(header(['model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight']))).toBe('sd3');
  });

  it('tells text encoders apart: T5, decoder LLMs (HF and llama.cpp names), CLIP', () => {
    expect(textEncoderKind(header(['encoder.block.0.layer.0.SelfAttention.q.weight']))).toBe('t5');
    expect(textEncoderKind(header(['enc.blk.0.attn_q.weight']))).toBe('t5');
    expect(textEncoderKind(header(['model.layers.0.self_attn.q_proj.weight']))).toBe('llm');
    expect(textEncoderKind(header(['blk.0.attn_q.weight']))).toBe('llm');
    expect(textEncoderKind(header(['text_model.encoder.layers.0.self_attn.q_proj.weight']))).toBe('clip');
    expect(modelRole(header(['text_model.embeddings.token_embedding.weight', 'text_model.encoder.layers.0.self_attn.q_proj.weight']))).toBe('text-encoder');
  });

  it('refuses a FLUX VAE on SDXL and a T5 where an LLM encoder belongs, before the engine loads anything', async () => {
    const fluxVae = new LayoutBuilder();
    autoencoderKL(fluxVae, 16, false);
    writeSparseSafetensors(file('ae.safetensors'), fluxVae.tensors);
    const vaeInfo = await inspectModelFile(file('ae.safetensors'));
    expect(modelRole(vaeInfo)).toBe('vae');
    const load = Pipeline.load({ model: file('sd_xl_base_1.0.safetensors'), vae: file('ae.safetensors') });
    await expect(load).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(load).rejects.toThrow(/vae .*ae\.safetensors has 16 latent channels \(an SD3 \/ FLUX\.1 \/ Wan 2\.1 VAE\) but sdxl models need a VAE with 4/);

    writeSparseSafetensors(file('z_image_turbo.safetensors'), [{ name: 'cap_embedder.0.weight', shape: [2560] }, { name: 'x_embedder.weight', shape: [3840, 64] }]);
    writeSparseSafetensors(file('t5xxl.safetensors'), syntheticLayout('umt5-xxl').slice(0, 40));
    const t5AsLlm = Pipeline.load({ diffusionModel: file('z_image_turbo.safetensors'), vae: file('ae.safetensors'), llm: file('t5xxl.safetensors') });
    await expect(t5AsLlm).rejects.toThrow(/llm .*t5xxl\.safetensors is a T5 encoder, not an LLM text encoder/);
    const t5Slot = Pipeline.load({ diffusionModel: file('z_image_turbo.safetensors'), vae: file('ae.safetensors'), t5xxl: file('t5xxl.safetensors') });
    await expect(t5Slot).rejects.toThrow('z-image models take no t5xxl: they condition on an LLM text encoder');
  });
});

describe('editing requests on an edit model (FLUX.2: told by its layout)', () => {
  let flux2: ServedModel[];
  let storage: LocalStorage;
  const png = (r: number) => sharp({ create: { width: 96, height: 80, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();

  beforeAll(async () => {
    writeSparseSafetensors(file('flux2-klein-4b.safetensors'), [
      { name: 'double_blocks.0.img_attn.qkv.weight', shape: [9216, 3072] },
      { name: 'double_stream_modulation_img.lin.weight', shape: [18432, 3072] },
      { name: 'single_blocks.19.linear1.weight', shape: [27648, 3072] },
    ]);
    flux2 = await loadModelRegistry([file('flux2-klein-4b.safetensors')]);
    storage = new LocalStorage(path.join(dir, 'storage'));
  });

  const editContext = (): TranslationContext => ({ ...context(), models: flux2, images: { storage, selfOrigins: [], maxBytes: 1 << 24, fetchTimeoutMs: 1000, allowHosts: [] } });

  it('is FLUX.2 klein with its own defaults', () => {
    expect(flux2[0]).toMatchObject({ family: 'flux2', variant: 'klein', defaults: { steps: 4, guidanceScale: 1, width: 1024 } });
  });

  it('OpenAI /v1/images/edits without a mask edits with every image as a reference; with a mask it inpaints', async () => {
    const one = (await openaiToJob('edits', { prompt: 'make it night', image: await png(200) }, editContext())).spec;
    expect(one).toMatchObject({ task: 'edit', width: 96, height: 80, steps: 4 });
    expect([one.refImages?.length, one.initImage]).toEqual([1, undefined]);
    const two = (await openaiToJob('edits', { prompt: 'the cat on the sofa', 'image[]': [await png(10), await png(90)] }, editContext())).spec;
    expect(two.task).toBe('edit');
    expect(two.refImages).toHaveLength(2);
    const mask = await sharp({ create: { width: 96, height: 80, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const masked = (await openaiToJob('edits', { prompt: 'a window', image: await png(10), mask }, editContext())).spec;
    expect([masked.task, masked.refImages]).toEqual(['inpaint', undefined]);
  });

  it('A1111 img2img without a mask edits on an edit model', async () => {
    const body: Record<string, unknown> = { prompt: 'make it night', batch_size: 1, n_iter: 1, seed: 1, init_images: [(await png(50)).toString('base64')], resize_mode: 0 };
    const spec = (await img2imgToJob(body, { ...editContext(), settings: a1111Context(flux2[0].id).settings })).spec;
    expect([spec.task, spec.refImages?.length, spec.width, spec.height]).toEqual(['edit', 1, 96, 80]);
  });

  it('an SDXL model keeps img2img for OpenAI edits without a mask', async () => {
    const spec = (await openaiToJob('edits', { prompt: 'x', image: await png(10), model: 'sd_xl_base_1.0' }, { ...editContext(), models })).spec;
    expect(spec.task).toBe('img2img');
  });
});
