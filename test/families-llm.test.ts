import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, synthesizeModel, syntheticLayout, type GeneratedImage, type SyntheticArchitecture, type SyntheticDtype } from '../lib/index.js';
import { writeSparseSafetensors } from './helpers/sparse-model.js';

// The families whose text encoder is an LLM, end to end on weights synthesized at their released layouts, each
// a component folder, 64x64 at 1 step, one model loaded at a time:
// - Z-Image Turbo: DiT q4_0 (3.5 GB) + Qwen3-4B q4_0 (2.3 GB, llama.cpp names) + FLUX.1's VAE f16 (0.17 GB), cached;
// - FLUX.2 klein 4B: DiT q4_0 (2.2 GB) + the same Qwen3-4B + the 32-channel FLUX.2 VAE f16 (0.17 GB), cached;
//   it also edits with one and with two reference images;
// - Qwen-Image-Edit: DiT q4_0 (11.5 GB) + Qwen2.5-VL-7B q4_0 (4.3 GB) + its vision tower as llama.cpp's mmproj
//   q8_0 (0.7 GB) + the Qwen-Image VAE f16 (0.25 GB, cached). The 16.5 GB of DiT, LLM and vision tower are NOT
//   cached: beforeAll synthesizes them into a temporary folder (about 1.5 minutes here) and afterAll deletes them.
// Measured on the 2-core test machine (shared with other jobs): 864 s of test time in all (peak RSS 16.9 GB):
// Z-Image ~1 min (generation 32 s); FLUX.2 klein ~12 min (its prompt pads to 512 tokens: 178 s a generation; the
// edit test's three calls 499 s), over the 3-4 min budget; Qwen-Image ~2 min with its synthesis (generation 37 s).
// Qwen-Image-Edit's two edits take 261 s more on an idle machine (the whole file 233 s in CI before them): each
// reference is resized to at least 384x384 for the vision tower, and its ~200 image tokens go through the 7B LLM.
// Run it with the heavy-model lock held (flock /tmp/diffusekit-heavy.lock npx vitest run test/families-llm.test.ts).

/** Large models on a small shared CPU: loading and sampling take minutes. */
const LONG = 900_000;

/** Lines the engine logs when a file's tensors do not match what it builds: warnings, errors, unknown tensors. */
const complaints = (lines: string[]) => lines.filter((l) => l.startsWith('warn') || l.startsWith('error') || /unknown tensor|not in model file|wrong shape/.test(l));

type Part = [file: string, architecture: SyntheticArchitecture, dtype: SyntheticDtype];

/** A component folder named `name` of links to the (cached) synthetic files, or of files written into `into`. */
function componentFolder(root: string, name: string, parts: Part[], into?: string): string {
  const folder = path.join(root, name);
  fs.mkdirSync(folder, { recursive: true });
  for (const [file, architecture, dtype] of parts) {
    const target = path.join(folder, file);
    if (into) synthesizeModel({ architecture, dtype, output: path.join(into, file) });
    fs.symlinkSync(into ? path.join(into, file) : synthesizeModel({ architecture, dtype }).path, target);
  }
  return folder;
}

/** Pixel values of an image: a flat field has a handful, an image hundreds. */
const distinctValues = (img: GeneratedImage) => new Set(img.data).size;

/**
 * Edits `call` with `plain` as the one reference, then with `plain` and a stripe pattern (an image of its own,
 * without another generation): each result must be an image unlike `plain` and unlike the other.
 */
async function expectEditsWithReferences(pipe: Pipeline, plain: GeneratedImage, call: { prompt: string; width: number; height: number; steps: number; seed: number }) {
  const first = await plain.toPNG();
  const stripes = Buffer.alloc(call.width * call.height * 3);
  for (let i = 0; i < stripes.length; i++) stripes[i] = Math.floor(i / (call.width * 3 * 8)) % 2 ? 230 : 20;
  const second = await sharp(stripes, { raw: { width: call.width, height: call.height, channels: 3 } }).png().toBuffer();
  const [one] = await pipe.edit({ ...call, images: [first] });
  const [two] = await pipe.edit({ ...call, images: [first, second] });
  expect([one.width, one.height, two.width, two.height]).toEqual([call.width, call.height, call.width, call.height]);
  expect(distinctValues(one)).toBeGreaterThan(16);
  expect(one.data.equals(plain.data)).toBe(false);
  expect(two.data.equals(plain.data)).toBe(false);
  expect(two.data.equals(one.data)).toBe(false);
}

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-families-llm-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function load(folder: string, lines: string[], extra: Record<string, string> = {}): Promise<Pipeline> {
  return Pipeline.load({ model: folder, ...extra, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
}

describe('Z-Image Turbo from a component folder', () => {
  let folder: string;
  let pipe: Pipeline;
  const lines: string[] = [];

  beforeAll(async () => {
    folder = componentFolder(root, 'z_image_turbo', [
      ['z_image_turbo.gguf', 'z-image-turbo', 'q4_0'], ['qwen_3_4b.gguf', 'qwen3-4b', 'q4_0'], ['ae.safetensors', 'flux-vae', 'f16'],
    ]);
    pipe = await load(folder, lines);
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('loads the DiT, Qwen3-4B and the VAE with no unknown or missing tensors, and reports Turbo\'s defaults', () => {
    expect(pipe.info).toMatchObject({ family: 'z-image', variant: 'turbo', engineVersion: 'Z-Image', prediction: 'flow', defaults: { width: 1024, height: 1024, steps: 8, guidanceScale: 1, sampler: 'euler' } });
    expect(lines.join('\n')).toMatch(/loading llm from '.*qwen_3_4b\.gguf'/);
    expect(complaints(lines)).toEqual([]);
  }, LONG);

  it('generates 64x64 in one step: an image, not a flat field', async () => {
    const [img] = await pipe.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 3 });
    expect([img.width, img.height, img.parameters.guidanceScale]).toEqual([64, 64, 1]);
    expect(distinctValues(img)).toBeGreaterThan(16);
  }, LONG);
});

describe('components that do not fit the family are refused before the engine sees them', () => {
  it('a T5 given as the LLM, a 16-channel VAE to FLUX.2, a 32-channel VAE to Z-Image', async () => {
    const klein = componentFolder(root, 'flux-2-klein-check', [['flux-2-klein-4b.gguf', 'flux2-klein-4b', 'q4_0'], ['qwen_3_4b.gguf', 'qwen3-4b', 'q4_0']]);
    const t5 = path.join(root, 'umt5_xxl.safetensors');
    writeSparseSafetensors(t5, syntheticLayout('umt5-xxl')); // the real header; data a hole
    const t5AsLlm = Pipeline.load({ model: klein, llm: t5 });
    await expect(t5AsLlm).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t5AsLlm).rejects.toThrow(/llm .*umt5_xxl\.safetensors is a T5 encoder, not an LLM text encoder/);
    const fluxVae = synthesizeModel({ architecture: 'flux-vae' }).path;
    await expect(Pipeline.load({ model: klein, vae: fluxVae })).rejects.toThrow(/vae .* has 16 latent channels \(an SD3 \/ FLUX\.1 \/ Wan 2\.1 VAE\) but flux2 models need a VAE with 32/);
    const zImage = componentFolder(root, 'z-image-check', [['z_image_turbo.gguf', 'z-image-turbo', 'q4_0'], ['qwen_3_4b.gguf', 'qwen3-4b', 'q4_0']]);
    const flux2Vae = synthesizeModel({ architecture: 'flux2-vae' }).path;
    await expect(Pipeline.load({ model: zImage, vae: flux2Vae })).rejects.toThrow(/has 32 latent channels \(a FLUX\.2 VAE\) but z-image models need a VAE with 16/);
    await expect(Pipeline.load({ model: zImage, llmVision: flux2Vae })).rejects.toThrow(/llmVision .* is not an LLM's vision tower/);
  }, LONG);
});

describe('FLUX.2 klein 4B from a component folder, generating and editing with reference images', () => {
  let pipe: Pipeline;
  const lines: string[] = [];
  let plain: GeneratedImage;

  beforeAll(async () => {
    const folder = componentFolder(root, 'flux-2-klein-4b', [
      ['flux-2-klein-4b.gguf', 'flux2-klein-4b', 'q4_0'], ['qwen_3_4b.gguf', 'qwen3-4b', 'q4_0'], ['flux2_ae.safetensors', 'flux2-vae', 'f16'],
    ]);
    pipe = await load(folder, lines);
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('loads with no unknown or missing tensors and reports klein\'s defaults (4 steps, no CFG, no distilled guidance)', () => {
    expect(pipe.info).toMatchObject({ family: 'flux2', variant: 'klein', engineVersion: 'Flux.2 klein', defaults: { width: 1024, height: 1024, steps: 4, guidanceScale: 1, sampler: 'euler' } });
    expect(pipe.info.defaults.distilledGuidance).toBeUndefined();
    expect(complaints(lines)).toEqual([]);
  }, LONG);

  it('generates 64x64 in one step: an image, not a flat field', async () => {
    [plain] = await pipe.generate({ prompt: 'a red barn in snow', width: 64, height: 64, steps: 1, seed: 5 });
    expect([plain.width, plain.height]).toEqual([64, 64]);
    expect(distinctValues(plain)).toBeGreaterThan(16);
  }, LONG);

  it('edits with one and with two reference images: each result differs from the plain image and from the other', async () => {
    lines.length = 0;
    await expectEditsWithReferences(pipe, plain, { prompt: 'a red barn in snow', width: 64, height: 64, steps: 1, seed: 5 });
    expect(complaints(lines)).toEqual([]);
  }, LONG);
});

describe('Qwen-Image-Edit from a component folder (DiT and LLM synthesized for the test, then deleted)', () => {
  let pipe: Pipeline;
  let scratch: string | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-qwen-image-'));
    const folder = componentFolder(root, 'qwen_image_edit', [
      ['qwen_image_edit_q4_0.gguf', 'qwen-image', 'q4_0'],
      ['Qwen2.5-VL-7B-Instruct-Q4_0.gguf', 'qwen2.5-vl-7b', 'q4_0'],
      ['Qwen2.5-VL-7B-Instruct.mmproj-Q8_0.gguf', 'qwen2.5-vl-7b-mmproj', 'q8_0'],
    ], scratch);
    fs.symlinkSync(synthesizeModel({ architecture: 'qwen-image-vae' }).path, path.join(folder, 'qwen_image_vae.safetensors'));
    pipe = await load(folder, lines);
  }, LONG);
  // the 16.5 GB of synthesized files go with the test, whatever happened
  afterAll(async () => {
    await pipe?.dispose();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('loads the 60-block DiT, Qwen2.5-VL-7B and its vision tower (llmVision) with no unknown or missing tensors; reports Qwen-Image-Edit', () => {
    expect(pipe.info).toMatchObject({ family: 'qwen-image', variant: 'edit', engineVersion: 'Qwen Image', prediction: 'flow', defaults: { width: 1328, height: 1328, steps: 50, guidanceScale: 4, sampler: 'euler' } });
    expect(lines.join('\n')).toMatch(/qwen_image_params\.num_layers: 60/);
    expect(lines.join('\n')).toMatch(/loading llm vision from '.*mmproj-Q8_0\.gguf'/);
    expect(complaints(lines)).toEqual([]);
  }, LONG);

  let plain: GeneratedImage;
  it('generates 64x64 in one step with true CFG: an image, not a flat field', async () => {
    [plain] = await pipe.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 3 });
    expect([plain.width, plain.height, plain.parameters.guidanceScale]).toEqual([64, 64, 4]);
    expect(distinctValues(plain)).toBeGreaterThan(16);
  }, LONG);

  it('edits with one and with two reference images, which the vision tower reads: each result differs from the plain image and from the other', async () => {
    lines.length = 0;
    await expectEditsWithReferences(pipe, plain, { prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 3 });
    // The engine took the edit path: the references go through Qwen2.5-VL's vision tower into the prompt.
    expect(lines.join('\n')).toMatch(/QwenImageEditPlusPipeline/);
    expect(complaints(lines)).toEqual([]);
  }, LONG);
});
