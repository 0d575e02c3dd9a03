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
