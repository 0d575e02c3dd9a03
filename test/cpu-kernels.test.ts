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
// bf16 (cpuPrecision 'auto', AMD EPYC with AVX512_BF16, 2026-12-04, with fused attention, bf16 convolutions and
// bf16 linear layers on the paired product): latent 1.91% max / 1.76% RMS, 9/255, PSNR 44.4 dB (f32 weights);
// 1.85% / 2.02%, 10/255, 43.5 dB (f16); 3.29% / 3.26%, 13/255, 39.9 dB (q8_0). Fused attention in f32 (the default on the fast path) changes nothing
// measurable: 0.17%, 1/255, 57.4 dB (f32) as with the unfused products.
// The f32 fast path on the same machine: 0.17%, 1/255, 57.4 dB (f32); 0.23%, 1/255, 56.8 dB (f16);
// 2.25%, 10/255, 42.7 dB (q8_0). Batched guidance (batchCfg) with f16 weights, f32: 0.23%, 1/255, 56.8 dB, the
// same as two passes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BF16_TOLERANCE, kernelDifference, type KernelRun, runKernels, TOLERANCE, writeInitImage } from './helpers/kernels.js';
import { sd1Model } from './helpers/models.js';

let dir: string;
let init: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-kernels-'));
  init = path.join(dir, 'init.png');
  await writeInitImage(init, 256);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const generate = (weightType: string, kernels: 'reference' | 'fast', cpuPrecision?: 'auto' | 'f32', batchCfg?: boolean, flashAttention?: boolean) =>
  runKernels({ model: sd1Model(), weightType, size: 256, seed: 42, init, cpuPrecision, batchCfg, flashAttention }, kernels);

describe.each(Object.keys(TOLERANCE) as (keyof typeof TOLERANCE)[])('CPU kernels, %s weights', (weightType) => {
  let reference: KernelRun;
  beforeAll(() => {
    reference = generate(weightType, 'reference');
  }, 300_000);

  it('in f32 (cpuPrecision f32) match the engine\'s own kernels within the stated tolerance, after one step and after decode', () => {
    const fast = generate(weightType, 'fast', 'f32');
    expect(reference.cpuKernels).toBe('reference');
    expect(reference.cpuConvKernels).toBe(false);
    expect(reference.cpuBf16).toBe(false);
    expect(fast.cpuKernels).toBe('fast');
    expect(reference.guidanceBatches).toBe(0);
    expect(fast.guidanceBatches).toBe(0);
    // The engine's own run keeps its unfused attention; ours runs the fused CPU attention wherever our kernels do.
    expect(reference.cpuFusedAttention).toBe(false);
    expect(reference.fusedAttentions).toBe(0);
    expect(fast.cpuFusedAttention).toBe(fast.cpuConvKernels);
    if (fast.cpuFusedAttention) expect(fast.fusedAttentions).toBeGreaterThan(0);
    // Group norms fuse their layer's weight, bias and SiLU wherever our kernels run (every vector build).
    expect(reference.fusedNorms).toBe(0);
    if (fast.cpuFusedAttention) expect(fast.fusedNorms).toBeGreaterThan(0);
    expect(fast.latentShape).toEqual([32, 32, 4, 1]);
    expect(fast.pixels.length).toBe(256 * 256 * 3);

    const diff = kernelDifference(fast, reference);
    expect(diff.range).toBeGreaterThan(1); // a real latent, not zeros
    console.info(`${weightType} f32: latent max abs difference ${(diff.latent * 100).toFixed(2)}% of ${diff.range.toFixed(2)}, pixels ${diff.pixel}/255, PSNR ${diff.psnr.toFixed(1)} dB`);
    expect(diff.latent).toBeLessThanOrEqual(TOLERANCE[weightType].latent);
    expect(diff.pixel).toBeLessThanOrEqual(TOLERANCE[weightType].pixel);
    // The fast path really ran: on an AVX-512 build its f32 accumulation cannot match bit for bit.
    if (fast.cpuConvKernels) expect(diff.latent).toBeGreaterThan(0);
  }, 300_000);

  it('with the engine\'s unfused attention (flashAttention false) match within the same tolerance', () => {
    const fast = generate(weightType, 'fast', 'f32', false, false);
    const diff = kernelDifference(fast, reference);
    console.info(`${weightType} f32, unfused attention: latent max abs difference ${(diff.latent * 100).toFixed(2)}%, RMS ${(diff.latentRms * 100).toFixed(2)}%, pixels ${diff.pixel}/255, PSNR ${diff.psnr.toFixed(1)} dB`);
    expect(fast.fusedAttentions).toBe(0); // the attention products ran as matrix products (our f32 GEMM, tinyBLAS)
    expect(diff.latent).toBeLessThanOrEqual(TOLERANCE[weightType].latent);
    expect(diff.pixel).toBeLessThanOrEqual(TOLERANCE[weightType].pixel);
  }, 300_000);

  it('with both guidance passes as one batch (batchCfg) match the engine\'s own two passes within the same tolerance', () => {
    const fast = generate(weightType, 'fast', 'f32', true);
    const diff = kernelDifference(fast, reference);
    console.info(`${weightType} f32, batched guidance (${fast.guidanceBatches} steps): latent max abs difference ${(diff.latent * 100).toFixed(2)}%, RMS ${(diff.latentRms * 100).toFixed(2)}%, pixels ${diff.pixel}/255, PSNR ${diff.psnr.toFixed(1)} dB`);
    expect(fast.guidanceBatches).toBeGreaterThanOrEqual(1); // the sampler's model evaluations ran batched
    expect(diff.latent).toBeLessThanOrEqual(TOLERANCE[weightType].latent);
    expect(diff.pixel).toBeLessThanOrEqual(TOLERANCE[weightType].pixel);
  }, 300_000);

  it('in bf16 where the CPU has it (cpuPrecision auto) stay within the bf16 bound', () => {
    const fast = generate(weightType, 'fast', 'auto');
    const diff = kernelDifference(fast, reference);
    console.info(`${weightType} auto (bf16 ${fast.cpuBf16}): latent max abs difference ${(diff.latent * 100).toFixed(2)}%, RMS ${(diff.latentRms * 100).toFixed(2)}%, pixels ${diff.pixel}/255, PSNR ${diff.psnr.toFixed(1)} dB`);
    const bound = fast.cpuBf16 ? BF16_TOLERANCE[weightType] : { ...TOLERANCE[weightType], psnr: 0 };
    expect(diff.latent).toBeLessThanOrEqual(bound.latent);
    expect(diff.pixel).toBeLessThanOrEqual(bound.pixel);
    expect(diff.psnr).toBeGreaterThanOrEqual(bound.psnr);
    if (fast.cpuBf16) {
      // The bf16 products really ran: their rounding moves the result away from the f32 fast path's.
      const f32 = generate(weightType, 'fast', 'f32');
      expect(kernelDifference(fast, f32).latent).toBeGreaterThan(0);
    }
  }, 600_000);
});
