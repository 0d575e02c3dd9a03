// One Pipeline run for bench/run.mjs, in its own process so its peak RSS can be read like sd-cli's.
// Prints the engine's log lines (the same lines sd-cli prints with -v) and one JSON line of its own timings.
import { Pipeline } from '../lib/index.js';

const [model, width, height, steps, seed, threads, sampler, mode] = process.argv.slice(2);
const t0 = performance.now();
const pipe = await Pipeline.load({
  model,
  threads: Number(threads),
  logLevel: 'info',
  onLog: (level, message) => console.log(`[${level}] ${message}`),
  // sd-cli's settings for a single txt2img run; 'reusable' keeps the weights for further calls
  ...(mode === 'reusable' ? {} : { vaeDecodeOnly: true, freeParamsImmediately: true }),
});
const loaded = performance.now();
const stepTimes = [];
await pipe.generate({
  prompt: 'a cabin in misty mountains, watercolor', negativePrompt: 'blurry',
  width: Number(width), height: Number(height), steps: Number(steps), seed: Number(seed), sampler, guidanceScale: 7,
  onProgress: (e) => e.phase === 'sampling' && stepTimes.push(e.elapsed),
});
const done = performance.now();
await pipe.dispose();
console.log(`BENCH ${JSON.stringify({ loadWallSeconds: (loaded - t0) / 1000, generateWallSeconds: (done - loaded) / 1000, stepTimes })}`);
