#!/usr/bin/env node
// The Pipeline's contract on the GPU (bench/gpu-check.sh, step 5): `node bench/gpu-check.mjs MODEL OUT.json`.
// On device 'cuda': progress reaches every step, abort stops within one step of the signal, the same seed
// gives the same pixels twice, and dispose() gives the GPU memory back (the device's reported free memory
// returns to within 256 MiB of what it was before the load). Writes what it saw to OUT.json; exits 1 on a failure.
import fs from 'node:fs';
import { engineInfo, Pipeline } from '../lib/index.js';

const [model, out] = process.argv.slice(2);
const result = { checks: {} };
const check = (name, ok, detail) => {
  result.checks[name] = { ok, ...detail };
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name} ${JSON.stringify(detail)}`);
};
const gpuFree = () => engineInfo().devices.find((d) => d.type === 'gpu')?.memoryFree ?? NaN;

const before = gpuFree();
result.devices = engineInfo().devices;
const pipe = await Pipeline.load({ model, device: 'cuda' });
result.info = { device: pipe.info.device, components: pipe.info.components };
const loaded = gpuFree();
const options = { prompt: 'a lighthouse at dusk', width: 512, height: 512, steps: 20, seed: 42 };

const stepTimes = [];
let last = performance.now();
const [first] = await pipe.generate({
  ...options,
  onProgress: (e) => {
    if (e.phase !== 'sampling') return;
    const now = performance.now();
    stepTimes.push(now - last);
    last = now;
  },
});
check('progress', stepTimes.length === 20, { steps: stepTimes.length, medianStepMs: stepTimes.sort((a, b) => a - b)[10] });
const [second] = await pipe.generate(options);
check('determinism', Buffer.compare(first.data, second.data) === 0, {});

const controller = new AbortController();
let stepAtAbort = 0;
let lastStep = 0;
const aborted = await pipe
  .generate({
    ...options,
    signal: controller.signal,
    onProgress: (e) => {
      lastStep = e.step;
      if (e.phase === 'sampling' && e.step === 5) {
        stepAtAbort = e.step;
        controller.abort();
      }
    },
  })
  .then(() => 'finished', (err) => err.name);
check('abort', aborted === 'AbortError' && lastStep - stepAtAbort <= 1, { outcome: aborted, abortedAt: stepAtAbort, lastStep });

pipe.dispose();
const after = gpuFree();
check('dispose', after >= before - 256 * 2 ** 20, { freeBeforeMiB: before / 2 ** 20, freeLoadedMiB: loaded / 2 ** 20, freeAfterMiB: after / 2 ** 20 });
fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
process.exit(Object.values(result.checks).every((c) => c.ok) ? 0 : 1);
