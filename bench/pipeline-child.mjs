// One diffusekit run for bench/run.mjs, in its own process so its peak RSS can be read like sd-cli's.
// Prints the engine's log lines (the same lines sd-cli prints with -v) and one JSON line of its own timings.
//   node pipeline-child.mjs <json>   { task, model?, components?, guidance?, cache?, weightType?, size, steps, seed, threads, sampler, cfg, mode, init, mask, upscaler }
import { Pipeline, Upscaler } from '../lib/index.js';

const job = JSON.parse(process.argv[2]);
const onLog = (level, message) => console.log(`[${level}] ${message}`);
const t0 = performance.now();

if (job.task === 'upscale') {
  const up = await Upscaler.load({ model: job.upscaler, threads: job.threads, logLevel: 'info', onLog });
  const loaded = performance.now();
  await up.upscale(job.init);
  const done = performance.now();
  await up.dispose();
  console.log(`BENCH ${JSON.stringify({ loadWallSeconds: (loaded - t0) / 1000, runWallSeconds: (done - loaded) / 1000 })}`);
} else if (job.task === 'video') {
  const pipe = await Pipeline.load({ diffusionModel: job.model, vae: job.vae, threads: job.threads, logLevel: 'info', onLog, ...(job.mode === 'reusable' ? {} : { freeParamsImmediately: true }) });
  const loaded = performance.now();
  const clip = await pipe.generateVideo({ prompt: 'waves on a beach', width: job.size, height: job.size, frames: job.frames, steps: job.steps, seed: job.seed, sampler: 'euler', guidanceScale: 6 });
  await clip.encode('webp');
  const done = performance.now();
  await pipe.dispose();
  console.log(`BENCH ${JSON.stringify({ loadWallSeconds: (loaded - t0) / 1000, runWallSeconds: (done - loaded) / 1000 })}`);
} else {
  const pipe = await Pipeline.load({
    ...(job.model ? { model: job.model } : {}),
    ...job.components,
    ...(job.weightType ? { weightType: job.weightType } : {}),
    threads: job.threads,
    logLevel: 'info',
    onLog,
    // sd-cli's settings for a single run; 'reusable' keeps the weights for further calls
    ...(job.mode === 'reusable' ? {} : { vaeDecodeOnly: job.task === 'txt2img', freeParamsImmediately: true }),
  });
  const loaded = performance.now();
  const common = {
    prompt: 'a cabin in misty mountains, watercolor', negativePrompt: 'blurry', width: job.size, height: job.size,
    steps: job.steps, seed: job.seed, sampler: job.sampler, guidanceScale: job.cfg ?? 7, cache: job.cache,
    ...(job.guidance ? { distilledGuidance: job.guidance } : {}),
  };
  if (job.task === 'img2img') await pipe.img2img({ ...common, initImage: job.init, strength: 0.75 });
  else if (job.task === 'inpaint') await pipe.inpaint({ ...common, initImage: job.init, maskImage: job.mask, strength: 0.75, maskBlur: 0 });
  else await pipe.generate(common);
  const done = performance.now();
  await pipe.dispose();
  console.log(`BENCH ${JSON.stringify({ loadWallSeconds: (loaded - t0) / 1000, runWallSeconds: (done - loaded) / 1000 })}`);
}
