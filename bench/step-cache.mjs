// Step caching (EasyCache) on FLUX.1 dev at equal steps: one load, an uncached run and a cached run of the same
// call (prompt, seed, size, steps), timed (wall and the engine's own sampling time) and compared pixel by pixel
// (mean absolute difference, PSNR). The weights are synthetic at the real layout (q4_0 DiT and T5, as the tests
// use them), so the times are FLUX.1 dev's; how much a cache skips depends on the weights, and these change
// more from step to step than trained ones.
//
//   node bench/step-cache.mjs [--size 64] [--steps 4] [--threshold 0.2] [--start 0.15] [--end 0.95] [--out FILE]
//
// Without --threshold/--start/--end the engine's EasyCache defaults apply. Writes a JSON to bench/results/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Pipeline, synthesizeModel } from '../lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    steps: { type: 'string', default: '4' },
    threshold: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    out: { type: 'string' },
  },
});
const size = Number(values.size);
const steps = Number(values.steps);
const cache = { mode: 'easycache' };
for (const key of ['threshold', 'start', 'end']) if (values[key] !== undefined) cache[key] = Number(values[key]);

const files = {
  diffusionModel: synthesizeModel({ architecture: 'flux-dev', dtype: 'q4_0' }).path,
  t5xxl: synthesizeModel({ architecture: 't5xxl', dtype: 'q4_0' }).path,
  clipL: synthesizeModel({ architecture: 'clip-l' }).path,
  vae: synthesizeModel({ architecture: 'flux-vae' }).path,
};

const lines = [];
const pipe = await Pipeline.load({ ...files, logLevel: 'info', onLog: (level, text) => lines.push(`${level} ${text}`) });
const call = { prompt: 'a lighthouse at dusk', width: size, height: size, steps, seed: 7 };

/** One generate: wall seconds, the engine's conditioning and sampling seconds, what EasyCache said. */
async function run(options) {
  lines.length = 0;
  const load = os.loadavg()[0];
  const t = performance.now();
  const [image] = await pipe.generate(options);
  const seconds = (performance.now() - t) / 1000;
  const log = lines.join('\n');
  const taking = (what) => Number(log.match(new RegExp(`${what} completed, taking ([\\d.]+)s`))?.[1]);
  return {
    image,
    result: {
      seconds: round(seconds), conditioningSeconds: taking('get_learned_condition'), samplingSeconds: taking('sampling'),
      cacheLog: log.match(/EasyCache[^\n]*/g) ?? [], loadAverage1mBefore: round(load), loadAverage1mAfter: round(os.loadavg()[0]),
    },
  };
}

const round = (v, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Mean absolute difference (0-255) and PSNR (dB) of two RGB images of the same size. */
function difference(a, b) {
  let abs = 0;
  let squared = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    abs += Math.abs(d);
    squared += d * d;
  }
  const mse = squared / a.length;
  return { meanAbsDiff: round(abs / a.length, 3), psnrDb: mse === 0 ? null : round(10 * Math.log10((255 * 255) / mse)), identical: mse === 0 };
}

const uncached = await run(call);
const cached = await run({ ...call, cache });
pipe.dispose();

const stamp = new Date().toISOString().slice(0, 16).replace(/:/g, '');
const report = {
  benchmark: 'step-cache', model: 'FLUX.1 dev (synthetic weights at the real layout: DiT and T5-XXL q4_0, CLIP-L and VAE f16)',
  date: new Date().toISOString(), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 1) },
  call: { width: size, height: size, steps, seed: call.seed, sampler: 'euler' }, cache,
  uncached: uncached.result, cached: cached.result,
  speedup: { wall: round(uncached.result.seconds / cached.result.seconds), sampling: round(uncached.result.samplingSeconds / cached.result.samplingSeconds) },
  imageDifference: difference(uncached.image.data, cached.image.data),
  note: 'uncached ran first, cached second, on one load; the load averages say how quiet the shared machine was',
};
const out = values.out ?? path.join(root, 'bench', 'results', `step-cache-flux-dev-${stamp}.json`);
fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
console.error(`written: ${path.relative(process.cwd(), out)}`);
