import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentsFromFlags } from '../src/cli/component-flags.js';
import { readComponentSet } from '../src/models/component-set.js';
import { syntheticLayout } from '../src/models/synthesize.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { runCli } from './helpers/cli.js';
import { writeSparseSafetensors } from './helpers/sparse-model.js';

// Component folders read by content: each file here has its real layout's header over a sparse hole
// (SD 3.5 large 16 GB, CLIP-L, CLIP-G, a T5 encoder's first layers): only headers are read.

let dir: string;
const folder = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-components-'));
  fs.mkdirSync(folder('sd3.5_large'));
  writeSparseSafetensors(path.join(folder('sd3.5_large'), 'a-diffusion.safetensors'), syntheticLayout('sd3.5-large'));
  writeSparseSafetensors(path.join(folder('sd3.5_large'), 'b.safetensors'), syntheticLayout('clip-l'));
  writeSparseSafetensors(path.join(folder('sd3.5_large'), 'c.safetensors'), syntheticLayout('clip-g'));
  writeSparseSafetensors(path.join(folder('sd3.5_large'), 'd.safetensors'), syntheticLayout('umt5-xxl').slice(0, 40));
  fs.writeFileSync(path.join(folder('sd3.5_large'), 'README.md'), 'not a model');
  fs.mkdirSync(folder('two-vaes'));
  writeSparseSafetensors(path.join(folder('two-vaes'), 'model.safetensors'), syntheticLayout('sd3.5-large').filter((t) => t.name.startsWith('model.')));
  for (const name of ['vae-a.safetensors', 'vae-b.safetensors']) {
    writeSparseSafetensors(path.join(folder('two-vaes'), name), syntheticLayout('sd3.5-large').filter((t) => t.name.startsWith('first_stage_model.')).map((t) => ({ ...t, name: t.name.slice('first_stage_model.'.length) })));
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a split model as one folder', () => {
  it('puts every file in its slot by what it holds, not by its name', async () => {
    const set = await readComponentSet(folder('sd3.5_large'));
    const base = (f?: string) => f && path.basename(f);
    expect(set.name).toBe('sd3.5_large');
    expect(Object.fromEntries(Object.entries(set.components).map(([k, v]) => [k, base(v)]))).toEqual({
      model: 'a-diffusion.safetensors', clipL: 'b.safetensors', clipG: 'c.safetensors', t5xxl: 'd.safetensors',
    });
  });

  it('refuses two files for one slot, naming both', async () => {
    await expect(readComponentSet(folder('two-vaes'))).rejects.toThrow(/two files for vae: vae-a\.safetensors and vae-b\.safetensors/);
  });

  it('Pipeline.load checks the folder\'s components like given ones: a T5 given as llm is refused first', async () => {
    await expect(Pipeline.load({ model: folder('sd3.5_large'), llm: path.join(folder('sd3.5_large'), 'd.safetensors') })).rejects.toThrow(/llm .*d\.safetensors is a T5 encoder, not an LLM text encoder: give it as t5xxl/);
  });
});

describe('component flags of the CLI', () => {
  it('maps every flag to its load option', () => {
    expect(componentsFromFlags({ 'diffusion-model': 'd.gguf', vae: 'ae.safetensors', 'clip-l': 'l', 'clip-g': 'g', t5xxl: 't5', llm: 'q', 'llm-vision': 'v', 'clip-vision': 'cv', 'control-net': 'cn', taesd: 't', 'high-noise-model': 'h', steps: '4' })).toEqual({
      diffusionModel: 'd.gguf', vae: 'ae.safetensors', clipL: 'l', clipG: 'g', t5xxl: 't5', llm: 'q', llmVision: 'v', clipVision: 'cv', controlNet: 'cn', taesd: 't', highNoiseDiffusionModel: 'h',
    });
  });

  it('edit needs --image, takes at most four, and lists the component flags in its help', () => {
    const noImage = runCli(['edit', 'make it night', '--diffusion-model', 'x.gguf']);
    expect([noImage.status, noImage.stderr]).toEqual([2, expect.stringContaining('edit needs --image IMAGE')]);
    const five = runCli(['edit', 'x', '-m', 'x', ...Array.from({ length: 5 }, () => ['--image', 'a.png']).flat()]);
    expect([five.status, five.stderr]).toEqual([2, expect.stringContaining('edit takes at most 4 --image reference images, got 5')]);
    const help = runCli(['edit', '--help']).stdout;
    for (const flag of ['--image IMAGE', '--diffusion-model', '--llm FILE', '--t5xxl FILE', '--clip-l FILE']) expect(help).toContain(flag);
  });
});
