// One img2img generation in its own process, so DIFFUSEKIT_CPU_KERNELS (read once per process) picks the
// kernels. img2img runs the VAE encoder (strided convolutions), one sampled step and the decoder.
//   node kernel-run.mjs <json>   { model, weightType, size, seed, init, cpuPrecision?, batchCfg?, flashAttention? }  -> one JSON line on stdout
// DIFFUSEKIT_MODULE (a path to an installed package's lib/index.js) runs another copy of diffusekit: the
// prebuilt-variant tests use the packed tarball's. DIFFUSEKIT_CPU_VARIANT then picks its CPU variant.
import { pathToFileURL } from 'node:url';

const { engineInfo, Pipeline } = await import(process.env.DIFFUSEKIT_MODULE ? pathToFileURL(process.env.DIFFUSEKIT_MODULE).href : '../../lib/index.js');

const job = JSON.parse(process.argv[2]);
// Defaults here are the engine's own way (f32 products, the two guidance passes apart), not all the Pipeline's;
// attention is the Pipeline's default (fused where diffusekit's CPU attention runs) unless the job says.
const pipe = await Pipeline.load({ model: job.model, weightType: job.weightType, threads: 2, cpuPrecision: job.cpuPrecision ?? 'f32', batchCfg: job.batchCfg ?? false, flashAttention: job.flashAttention });
const [image] = await pipe.img2img({
  prompt: 'a cabin in misty mountains', negativePrompt: 'blurry', width: job.size, height: job.size,
  initImage: job.init, strength: 0.5, steps: 2, seed: job.seed, sampler: 'euler', guidanceScale: 7,
});
await pipe.dispose();
const { cpuKernels, cpuConvKernels, cpuBf16, cpuFusedAttention, fusedAttentions, fusedNorms, cpuVariant, guidanceBatches } = engineInfo();
console.log(JSON.stringify({
  cpuKernels, cpuConvKernels, cpuBf16, cpuFusedAttention, fusedAttentions, fusedNorms, cpuVariant: cpuVariant.name, guidanceBatches,
  latentShape: image.latent.shape,
  latent: Buffer.from(image.latent.data.buffer, image.latent.data.byteOffset, image.latent.data.byteLength).toString('base64'),
  pixels: image.data.toString('base64'),
}));
