import { execFileSync } from 'node:child_process';
import path from 'node:path';
import sharp from 'sharp';

// Runs of test/helpers/kernel-run.mjs (one img2img in its own process) and how two of them are compared:
// shared by the CPU-kernel equivalence tests of the build from source and of the prebuilt CPU variants.

const runner = path.join(import.meta.dirname, 'kernel-run.mjs');

/**
 * Tolerances, fast kernels against the engine's own (DIFFUSEKIT_CPU_KERNELS=reference): the fast path
 * accumulates in f32 where the engine first rounds activations to f16, and Winograd sums in another order, so
 * the two differ by rounding, amplified by the network. See test/cpu-kernels.test.ts for what was measured.
 */
export const TOLERANCE = {
  f32: { latent: 0.02, pixel: 8 },
  f16: { latent: 0.02, pixel: 8 },
  q8_0: { latent: 0.05, pixel: 24 },
} as const;

/**
 * The bf16 bound (cpuPrecision 'auto' on a CPU with AVX512_BF16), against the same reference: products round
 * both operands to bf16 (8 significant bits) and accumulate in f32, in the linear layers, Winograd, the other
 * convolutions from 8x8 planes up and the fused attention. About twice what was measured (1.7x for the q8_0
 * latent); see test/cpu-kernels.test.ts.
 */
export const BF16_TOLERANCE = {
  f32: { latent: 0.04, pixel: 16, psnr: 40 },
  f16: { latent: 0.04, pixel: 16, psnr: 40 },
  q8_0: { latent: 0.06, pixel: 32, psnr: 36 },
} as const;

/**
 * SDXS's small decoder amplifies rounding into pixels more than SD 1.x's: there the engine's own f16 and f32
 * runs differ by 0.35% of the latent but 13/255 in pixels, and its own kernels in the zen4 and sse42 variants
 * by 0.29% and 12/255 (img2img 256; measured 2026-12-02). Its pixel tolerance is set on that scale.
 */
export const SDXS_PIXEL_TOLERANCE = 16;

export interface KernelRun {
  cpuKernels: string;
  cpuConvKernels: boolean;
  /** Whether the CPU backend can run bf16 products (it did when the job's cpuPrecision was 'auto'). */
  cpuBf16: boolean;
  /** Whether the engine's flash-attention op runs on diffusekit's fused CPU attention in that build and mode. */
  cpuFusedAttention: boolean;
  /** Attention ops that ran on it. */
  fusedAttentions: number;
  /** Group norms that ran with the per-channel weight, bias and SiLU after them fused. */
  fusedNorms: number;
  cpuVariant: string;
  /** Sampling steps that ran both guidance passes as one batch (the job's batchCfg). */
  guidanceBatches: number;
  latentShape: number[];
  latent: Float32Array;
  pixels: Buffer;
}

export interface KernelJob {
  model: string;
  weightType: string;
  size: number;
  seed: number;
  init: string;
  /** LoadOptions.cpuPrecision; default 'f32' here (the Pipeline's own default is 'auto'). */
  cpuPrecision?: 'auto' | 'f32';
  /** LoadOptions.batchCfg; default false, the engine's two passes. */
  batchCfg?: boolean;
  /** LoadOptions.flashAttention; default the Pipeline's (fused attention where diffusekit's CPU attention runs). */
  flashAttention?: boolean;
}

/** One run with the fast kernels or the engine's own; `env` adds DIFFUSEKIT_MODULE / DIFFUSEKIT_CPU_VARIANT. */
export function runKernels(job: KernelJob, kernels: 'reference' | 'fast', env: NodeJS.ProcessEnv = {}): KernelRun {
  const childEnv = { ...process.env, ...env, DIFFUSEKIT_CPU_KERNELS: kernels === 'reference' ? 'reference' : '' };
  const out = execFileSync(process.execPath, [runner, JSON.stringify(job)], { env: childEnv, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  const bytes = Buffer.from(r.latent, 'base64');
  return { ...r, latent: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), pixels: Buffer.from(r.pixels, 'base64') };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * How far a fast run is from the reference: the latent's max abs difference relative to the latent's range
 * and its RMS difference relative to its RMS, the pixels' max abs difference (/255) and PSNR in dB.
 */
export function kernelDifference(fast: KernelRun, reference: KernelRun): { range: number; latent: number; latentRms: number; pixel: number; psnr: number } {
  const range = Math.max(...Array.from(reference.latent, Math.abs));
  return {
    range,
    latent: maxAbsDiff(fast.latent, reference.latent) / range,
    latentRms: rms(fast.latent, reference.latent) / rms(reference.latent, new Float32Array(reference.latent.length)),
    pixel: maxAbsDiff(fast.pixels, reference.pixels),
    psnr: psnr(fast.pixels, reference.pixels),
  };
}

function rms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum / a.length);
}

/** Peak signal-to-noise ratio of two 8-bit images in dB (Infinity when identical). */
export function psnr(a: Buffer, b: Buffer): number {
  const error = rms(a, b);
  return error === 0 ? Infinity : 20 * Math.log10(255 / error);
}

/** A deterministic, textured init image (size x size PNG). */
export async function writeInitImage(file: string, size: number): Promise<void> {
  const pixels = Buffer.alloc(size * size * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 251;
  await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
}
