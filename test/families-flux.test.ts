import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, synthesizeModel, type GeneratedImage } from '../lib/index.js';
import { editsWithReferences, familyDefaults, modelVariant } from '../src/models/family-defaults.js';
import { detectFamily, inspectModelFile } from '../src/models/inspect.js';
import { syntheticLayout } from '../src/models/synthesize.js';
import { loadModelRegistry } from '../src/server/models/model-registry.js';
import { writeSparseSafetensors } from './helpers/sparse-model.js';

// FLUX.1 and Chroma end to end on weights synthesized at their real tensor layout, cached under
// ~/.cache/diffusekit/models: the FLUX.1 dev DiT (11.9 B parameters, q4_0 6.7 GB; FLUX.1 Kontext dev is the
// same file under its name), Chroma's (8.9 B, q4_0 5.0 GB), T5-XXL (4.8 B, q4_0 2.7 GB), CLIP-L (f16 0.25 GB)
// and the FLUX.1 autoencoder (f16 0.17 GB): 14.8 GB in all. 64x64, one step; one model loaded at a time.
// FLUX.1 schnell and Fill are checked on their layouts' headers over sparse files (nothing written but those).
//
// Measured on the 2-core, 24 GiB development machine shared with two other jobs (load average 7-10), files
// cached: 21 min 43 s wall for 863 s user + 64 s system CPU, peak RSS 9.8 GB. Per family: FLUX.1 dev about
// 6.5 min (load 21 s, one generate 362 s: T5 on a 256-token chunk, then the 12 B step), Kontext 6.8 min
// (edits with one and two references, 211 s and 182 s), Chroma 7.5 min (one generate, 436 s: its T5 and DiT
// take 512-token chunks). With one other job on the machine (load 5) a FLUX.1 dev generate took 196 s (T5
// 83 s, the step 111 s): the ~3 min per family this suite aims at holds only on a quiet machine.
// Run it alone: `npx vitest run test/families-flux.test.ts`.

/** A 10 GB model on a small shared CPU: loading and sampling take minutes. */
const LONG = 1_200_000;

const warnings = (lines: string[]) => lines.filter((l) => l.startsWith('warn') || l.startsWith('error'));
const notFlat = (img: GeneratedImage) => new Set(img.data).size;

let dir: string;
const files = { flux: '', chroma: '', t5xxl: '', clipL: '', vae: '' };

/** A folder of links to the cached synthetic files, under the names the releases have. */
function componentFolder(name: string, parts: Record<string, string>): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder);
  for (const [file, target] of Object.entries(parts)) fs.symlinkSync(target, path.join(folder, file));
  return folder;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-flux-'));
  files.flux = synthesizeModel({ architecture: 'flux-dev', dtype: 'q4_0' }).path;
  files.chroma = synthesizeModel({ architecture: 'chroma', dtype: 'q4_0' }).path;
  files.t5xxl = synthesizeModel({ architecture: 't5xxl', dtype: 'q4_0' }).path;
  files.clipL = synthesizeModel({ architecture: 'clip-l' }).path;
  files.vae = synthesizeModel({ architecture: 'flux-vae' }).path;
}, LONG);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const call = { prompt: 'a lighthouse at dusk', width: 64, height: 64, steps: 1, seed: 3 };
/** FLUX.1 dev's plain generate of `call`: Kontext's edits of the same weights must differ from it. */
let plain: GeneratedImage | undefined;

describe('FLUX.1 dev from a component folder', () => {
  let pipe: Pipeline;
  const lines: string[] = [];

  beforeAll(async () => {
    const folder = componentFolder('flux1-dev', { 'flux1-dev-Q4_0.gguf': files.flux, 'ae.safetensors': files.vae, 'clip_l.safetensors': files.clipL, 't5xxl_q4_0.gguf': files.t5xxl });
    pipe = await Pipeline.load({ model: folder, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('loads the DiT, CLIP-L, T5-XXL and the VAE in their slots with no unknown or missing tensors, and reports the family', () => {
    expect(pipe.model.name).toBe('flux1-dev');
    expect(pipe.info).toMatchObject({ family: 'flux', variant: undefined, prediction: 'flow', defaults: { width: 1024, height: 1024, steps: 28, guidanceScale: 1, distilledGuidance: 3.5, sampler: 'euler' } });
    const log = lines.join('\n');
    expect(log).toMatch(/flux: depth = 19, depth_single_blocks = 38, guidance_embed = true, context_in_dim = 4096, hidden_size = 3072, num_heads = 24/);
    expect(log).toMatch(/loading clip_l from .*clip_l\.safetensors/);
    expect(log).toMatch(/loading t5xxl from .*t5xxl_q4_0\.gguf/);
    expect(log).toMatch(/loading vae from .*ae\.safetensors/);
    expect(warnings(lines)).toEqual([]);
  }, LONG);

  it('generates 64x64 in one step at the distilled guidance: an image, not a flat field', async () => {
    [plain] = await pipe.generate(call);
    expect([plain.width, plain.height, plain.parameters.guidanceScale, plain.parameters.distilledGuidance, plain.parameters.sampler]).toEqual([64, 64, 1, 3.5, 'euler']);
    expect(notFlat(plain)).toBeGreaterThan(16);
    expect(warnings(lines)).toEqual([]);
  }, LONG);

  it('is no editing model: edit is refused, naming the models that edit', async () => {
    const edit = pipe.edit({ prompt: 'make it night', images: [Buffer.alloc(0)] });
    await expect(edit).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(edit).rejects.toThrow(/flux1-dev \(flux\) does not edit with reference images: load FLUX\.1 Kontext/);
  });
});

describe('FLUX.1 Kontext dev: instruction editing with reference images', () => {
  let pipe: Pipeline;
  const lines: string[] = [];
  /** Two references that differ in everything: a colour gradient and a checkerboard. */
  const png = (pixel: (x: number, y: number, c: number) => number) =>
    sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => pixel(Math.floor(i / 3) % 64, Math.floor(i / 192), i % 3))), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
  const gradient = () => png((x, y, c) => (c === 0 ? x * 4 : c === 1 ? y * 4 : 128));
  const checkers = () => png((x, y) => (((x >> 3) + (y >> 3)) % 2) * 255);
  let one: GeneratedImage;

  beforeAll(async () => {
    // The same layout as dev: Kontext is told by the name it goes by.
    const folder = componentFolder('flux1-kontext-dev', { 'flux1-kontext-dev-Q4_0.gguf': files.flux, 'ae.safetensors': files.vae, 'clip_l.safetensors': files.clipL, 't5xxl_q4_0.gguf': files.t5xxl });
    pipe = await Pipeline.load({ model: folder, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('is told by its name, with Kontext\'s distilled guidance', () => {
    expect(pipe.info).toMatchObject({ family: 'flux', variant: 'kontext', defaults: { steps: 28, guidanceScale: 1, distilledGuidance: 2.5 } });
    expect(warnings(lines)).toEqual([]);
  });

  it('edits with one reference image: the references change the result', async () => {
    [one] = await pipe.edit({ ...call, distilledGuidance: 3.5, images: [await gradient()] });
    expect([one.width, one.height]).toEqual([64, 64]);
    expect(notFlat(one)).toBeGreaterThan(16);
    // Same weights, prompt, seed, size, step and guidance as dev's plain generate: only the reference differs.
    expect(plain, 'the FLUX.1 dev describe ran first').toBeDefined();
    expect(one.data.equals(plain!.data)).toBe(false);
  }, LONG);

  it('edits with two reference images: the second one changes the result again', async () => {
    const [two] = await pipe.edit({ ...call, distilledGuidance: 3.5, images: [await gradient(), await checkers()] });
    expect([two.width, two.height]).toEqual([64, 64]);
    expect(notFlat(two)).toBeGreaterThan(16);
    expect(two.data.equals(one.data)).toBe(false);
    expect(two.data.equals(plain!.data)).toBe(false);
    expect(warnings(lines)).toEqual([]);
  }, LONG);
});

describe('Chroma with T5-XXL and the FLUX.1 VAE', () => {
  let pipe: Pipeline;
  const lines: string[] = [];

  beforeAll(async () => {
    pipe = await Pipeline.load({ diffusionModel: files.chroma, t5xxl: files.t5xxl, vae: files.vae, logLevel: 'info', onLog: (level, m) => lines.push(`${level} ${m}`) });
  }, LONG);
  afterAll(() => pipe?.dispose());

  it('loads with no unknown or missing tensors and reports Chroma with real CFG', () => {
    expect(pipe.info).toMatchObject({ family: 'chroma', variant: undefined, prediction: 'flow', defaults: { width: 1024, steps: 26, guidanceScale: 4, sampler: 'euler' } });
    expect(pipe.info.defaults.distilledGuidance).toBeUndefined();
    expect(lines.join('\n')).toMatch(/flux: depth = 19, depth_single_blocks = 38, guidance_embed = false, context_in_dim = 4096, hidden_size = 3072/);
    expect(warnings(lines)).toEqual([]);
  }, LONG);

  it('generates 64x64 in one step: an image, not a flat field', async () => {
    // CFG 1 runs the DiT once; Chroma's default CFG 4 would add the unconditioned pass (another T5 and DiT run).
    const [img] = await pipe.generate({ ...call, guidanceScale: 1 });
    expect([img.width, img.height, img.parameters.guidanceScale]).toEqual([64, 64, 1]);
    expect(img.parameters.distilledGuidance).toBeUndefined();
    expect(notFlat(img)).toBeGreaterThan(16);
    expect(warnings(lines)).toEqual([]);
  }, LONG);
});

describe('components that do not fit, refused before the engine loads anything', () => {
  it('a CLIP given as t5xxl, and T5 given as clipL, name the slot they belong in', async () => {
    const clipAsT5 = Pipeline.load({ diffusionModel: files.flux, clipL: files.clipL, t5xxl: files.clipL, vae: files.vae });
    await expect(clipAsT5).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(clipAsT5).rejects.toThrow(/t5xxl .* is a CLIP text encoder, not a T5 encoder: give it as clipL \/ clipG/);
    await expect(Pipeline.load({ diffusionModel: files.flux, clipL: files.t5xxl, vae: files.vae })).rejects.toThrow(/clipL .* is a T5 encoder, not a CLIP text encoder: give it as t5xxl/);
  });

  it('Chroma takes no CLIP-L', async () => {
    await expect(Pipeline.load({ diffusionModel: files.chroma, clipL: files.clipL, t5xxl: files.t5xxl, vae: files.vae })).rejects.toThrow(/chroma models take no clipL: they condition on a T5 encoder/);
  });

  it('the FLUX.1 VAE (16 latent channels) on an SDXL model, and a FLUX.1 DiT\'s file as a VAE', async () => {
    const sdxl = path.join(dir, 'sd_xl_base_1.0.safetensors');
    writeSparseSafetensors(sdxl, syntheticLayout('sdxl')); // SDXL's header only: the refusal comes before any weight is read
    const fluxVaeOnSdxl = Pipeline.load({ model: sdxl, vae: files.vae });
    await expect(fluxVaeOnSdxl).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(fluxVaeOnSdxl).rejects.toThrow(/vae .* has 16 latent channels \(an SD3 \/ FLUX\.1 \/ Wan 2\.1 VAE\) but sdxl models need a VAE with 4/);
  });
});

describe('FLUX.1 schnell and Fill from their layouts (headers over sparse files)', () => {
  it('schnell (no guidance_in) is the schnell variant: 4 steps, no guidance, on the server too', async () => {
    const file = path.join(dir, 'flux1-schnell.safetensors');
    writeSparseSafetensors(file, syntheticLayout('flux-schnell'));
    const info = await inspectModelFile(file);
    expect(detectFamily(info)).toBe('flux');
    // the name says dev: the layout wins
    expect(modelVariant('flux', ['flux1-dev'], [info])).toBe('schnell');
    const [served] = await loadModelRegistry([file]);
    expect(served).toMatchObject({ family: 'flux', variant: 'schnell', defaults: { width: 1024, steps: 4, guidanceScale: 1, sampler: 'euler' } });
    expect(served.defaults.distilledGuidance).toBeUndefined();
  });

  it('Fill (384-channel img_in) is the fill variant: 50 steps at guidance 30', async () => {
    const file = path.join(dir, 'model.safetensors');
    writeSparseSafetensors(file, syntheticLayout('flux-fill'));
    const info = await inspectModelFile(file);
    expect([detectFamily(info), modelVariant('flux', ['model'], [info])]).toEqual(['flux', 'fill']);
    expect(familyDefaults('flux', 'fill')).toEqual({ width: 1024, height: 1024, steps: 50, guidanceScale: 1, distilledGuidance: 30, sampler: 'euler' });
    // dev's layout is the base model: no variant unless its name says Kontext
    writeSparseSafetensors(file, syntheticLayout('flux-dev'));
    expect(modelVariant('flux', ['model'], [await inspectModelFile(file)])).toBeUndefined();
  });

  it('only Kontext of the FLUX.1 variants edits with references (dev\'s refusal above runs through the Pipeline)', () => {
    expect([undefined, 'schnell', 'fill', 'kontext'].map((v) => editsWithReferences('flux', v as never))).toEqual([false, false, false, true]);
  });
});
