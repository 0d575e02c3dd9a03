// diffusekit's CPU kernels (native/engine/diffusekit_cpu_conv.cpp, tinyBLAS) against the engine's own,
// which DIFFUSEKIT_CPU_KERNELS=reference restores exactly: same model, seed and settings, one euler step
// at 128x128 (so the UNet's convolutions take all three kernel paths: direct 16x16, im2col 8x8 and 4x4,
// 1x1), for f32, f16 and q8_0 weights.
//
// Tolerances: the fast path accumulates in f32 where the engine first rounds activations to f16, so the
// two differ by rounding, amplified by the network. For scale: the engine's own f16 and f32 paths differ
// by 1.05% of the latent's range and 4/255 in pixels on this model; fast and reference differ by 0.7%
// and 4/255 (f16, f32) and, where q8_0 re-quantizes activations, 2.2% and 9/255.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sd1Model } from './helpers/models.js';

const runner = path.join(import.meta.dirname, 'helpers', 'kernel-run.mjs');
const TOLERANCE = {
  f32: { latent: 0.02, pixel: 8 },
  f16: { latent: 0.02, pixel: 8 },
  q8_0: { latent: 0.04, pixel: 16 },
} as const;

interface Run {
  cpuKernels: string;
  cpuConvKernels: boolean;
  latentShape: number[];
  latent: Float32Array;
  pixels: Buffer;
}

function generate(weightType: string, kernels: 'reference' | 'fast'): Run {
  const env = { ...process.env, DIFFUSEKIT_CPU_KERNELS: kernels === 'reference' ? 'reference' : '' };
  const out = execFileSync(process.execPath, [runner, JSON.stringify({ model: sd1Model(), weightType, size: 128, seed: 42 })], { env, encoding: 'utf8' });
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
    expect(fast.latentShape).toEqual([16, 16, 4, 1]);
    expect(fast.pixels.length).toBe(128 * 128 * 3);

    const range = Math.max(...Array.from(reference.latent, Math.abs));
    expect(range).toBeGreaterThan(1); // a real latent, not zeros
    const latentDiff = maxAbsDiff(fast.latent, reference.latent);
    const pixelDiff = maxAbsDiff(fast.pixels, reference.pixels);
    expect(latentDiff / range).toBeLessThanOrEqual(TOLERANCE[weightType].latent);
    expect(pixelDiff).toBeLessThanOrEqual(TOLERANCE[weightType].pixel);
    // The fast path really ran: on an AVX-512 build its f32 accumulation cannot match bit for bit.
    if (fast.cpuConvKernels) expect(latentDiff).toBeGreaterThan(0);
  }, 300_000);
});
