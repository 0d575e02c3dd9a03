import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesizeModel } from '../../src/index.js';

/** The small SDXS-512 layout (tiny UNet + TAESD), cached between runs. */
export function tinyModel(): string {
  return synthesizeModel({ architecture: 'sdxs' }).path;
}

/** The full SD 1.x layout (~1.07 B parameters), cached between runs. */
export function sd1Model(): string {
  return synthesizeModel({ architecture: 'sd1' }).path;
}

/** The SD 1.x inpainting layout (9-channel UNet input), cached between runs. */
export function sd1InpaintModel(): string {
  return synthesizeModel({ architecture: 'sd1-inpaint' }).path;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-test-'));
}

/** Wan2.1 T2V 1.3B with the Wan 2.1 VAE (no text encoder: the engine then conditions on nothing), cached. */
export function wanVideoModel(): { diffusionModel: string; vae: string } {
  return {
    diffusionModel: synthesizeModel({ architecture: 'wan2.1-t2v-1.3b' }).path,
    vae: synthesizeModel({ architecture: 'wan2.1-vae' }).path,
  };
}

/** Wan2.2 TI2V 5B with the Wan 2.2 VAE (~11 GB in f16), cached. */
export function wanTi2vModel(): { diffusionModel: string; vae: string } {
  return {
    diffusionModel: synthesizeModel({ architecture: 'wan2.2-ti2v-5b' }).path,
    vae: synthesizeModel({ architecture: 'wan2.2-vae' }).path,
  };
}
