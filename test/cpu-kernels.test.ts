// diffusekit's CPU kernels (native/engine/diffusekit_cpu*.cpp, tinyBLAS) against the engine's own, which
// DIFFUSEKIT_CPU_KERNELS=reference restores exactly: same model, seed and settings, for f32, f16 and q8_0
// weights. img2img at 256x256 (strength 0.5 of 2 euler steps: one step sampled) runs every kernel path: the
// VAE encoder's strided convolutions (im2col), 3x3 convolutions on planes of 16 to 256 pixels wide (direct),
// 1x1 convolutions (flat), planes under 16x16 (left to tinyBLAS), attention products with 40-wide heads and
// 77 tokens (f32 GEMM) and linear layers over 1024 tokens (f16 GEMM).
//
// Tolerances: the fast path accumulates in f32 where the engine first rounds activations to f16, and
// Winograd sums in another order, so the two differ by rounding, amplified by the network. Measured here:
// fast vs reference 0.74% of the latent's range and 4/255 (f16), 0.88% and 4/255 (f32), 2.5% and 12/255
// (q8_0, which re-quantizes activations to 8 bits before each linear layer). For scale, the engine's own
// f16 and f32 paths differ by 1.1% and 5/255, and its q8_0 from its f16 by 3.1% and 14/255.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sd1Model } from './helpers/models.js';

const runner = path.join(import.meta.dirname, 'helpers', 'kernel-run.mjs');
const TOLERANCE = {
  f32: { latent: 0.02, pixel: 8 },
  f16: { latent: 0.02, pixel: 8 },
  q8_0: { latent: 0.05, pixel: 24 },
} as const;

interface Run {
  cpuKernels: string;
  cpuConvKernels: boolean;
  latentShape: number[];
  latent: Float32Array;
  pixels: Buffer;
}

let dir: string;
let init: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-kernels-'));
  init = path.join(dir, 'init.png');
  const pixels = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 251;
  await sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } }).png().toFile(init);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function generate(weightType: string, kernels: 'reference' | 'fast'): Run {
  const env = { ...process.env, DIFFUSEKIT_CPU_KERNELS: kernels === 'reference' ? 'reference' : '' };
  const job = { model: sd1Model(), weightType, size: 256, seed: 42, init };
  const out = execFileSync(process.execPath, [runner, JSON.stringify(job)], { env, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  const bytes = Buffer.from(r.latent, 'base64');
  return { ...r, latent: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), pixels: Buffer.from(r.pixels, 'base64') };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

describe.each(Object.keys(TOLERANCE) as (keyof typeof TOLERANCE)[])('CPU kernels, %s weights', (weightType) => {
  it('match the engine\'s own kernels within the stated tolerance, after one step and after decode', () => {
    const reference = generate(weightType, 'reference');
    const fast = generate(weightType, 'fast');
    expect(reference.cpuKernels).toBe('reference');
    expect(reference.cpuConvKernels).toBe(false);
    expect(fast.cpuKernels).toBe('fast');
    expect(fast.latentShape).toEqual([32, 32, 4, 1]);
    expect(fast.pixels.length).toBe(256 * 256 * 3);

    const range = Math.max(...Array.from(reference.latent, Math.abs));
    expect(range).toBeGreaterThan(1); // a real latent, not zeros
    const latentDiff = maxAbsDiff(fast.latent, reference.latent);
    const pixelDiff = maxAbsDiff(fast.pixels, reference.pixels);
    console.info(`${weightType}: latent max abs difference ${latentDiff.toFixed(4)} (${((100 * latentDiff) / range).toFixed(2)}% of ${range.toFixed(2)}), pixels ${pixelDiff}/255`);
    expect(latentDiff / range).toBeLessThanOrEqual(TOLERANCE[weightType].latent);
    expect(pixelDiff).toBeLessThanOrEqual(TOLERANCE[weightType].pixel);
    // The fast path really ran: on an AVX-512 build its f32 accumulation cannot match bit for bit.
    if (fast.cpuConvKernels) expect(latentDiff).toBeGreaterThan(0);
  }, 300_000);
});
