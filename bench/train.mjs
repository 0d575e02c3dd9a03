#!/usr/bin/env node
// npm run bench:train: seconds per LoRA training step, SD 1.5 architecture (the synthetic sd1 layout as a diffusers
// folder: random weights, real shapes), rank 16, batch 1, at --resolution (512), on this machine's CPU (or CUDA).
//   direct: trainer/train_lora.py run by hand on a prepared dataset of --images images (what the library's train() runs)
//   queue:  the same training through `diffusekit serve`: POST /api/v3/lora_fine_tune with the images as data URLs,
//           polling /api/v3/fine_tune_status until it ends (one lora_train job on the SQLite queue, one engine worker)
// Each reports the trainer's median step time and the wall time per step of the whole run (load, data, steps, save);
// the queue's overhead is its wall time per step over the direct run's (target: at most 3%).
// The trainer environment must be installed (diffusekit trainer setup; DIFFUSEKIT_TRAINER_VENV or --venv).
// Options: --steps 3 --resolution 512 --rank 16 --images 4 --threads 0 --venv DIR --only both|direct|queue --out bench/results
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '3' },
    resolution: { type: 'string', default: '512' },
    rank: { type: 'string', default: '16' },
    images: { type: 'string', default: '4' },
    threads: { type: 'string', default: '0' },
    venv: { type: 'string' },
    only: { type: 'string', default: 'both' }, // direct, queue or both
    out: { type: 'string', default: path.join(root, 'bench', 'results') },
  },
});
const steps = Number(values.steps);
const resolution = Number(values.resolution);
const TARGET_OVERHEAD = 0.03;

const { synthesizeModel } = await import(path.join(root, 'lib/index.js'));
const { trainerPython, trainerVenv, TRAINER_SCRIPT } = await import(path.join(root, 'lib/training/trainer-environment.js'));
const { prepareDataset } = await import(path.join(root, 'lib/training/dataset.js'));
const { createServer } = await import(path.join(root, 'lib/server/index.js'));
const sharp = (await import('sharp')).default;

const venv = trainerVenv(values.venv);
const python = trainerPython(venv);
const base = synthesizeModel({ architecture: 'sd1', format: 'diffusers' }).path;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-bench-train-'));

// Deterministic test pictures: colour gradients, one hue per image.
const pictures = [];
for (let i = 0; i < Number(values.images); i++) {
  const data = Buffer.alloc(resolution * resolution * 3);
  for (let y = 0; y < resolution; y++) for (let x = 0; x < resolution; x++) data.set([(x * 255) / resolution, (y * 255) / resolution, (i * 60) % 256], (y * resolution + x) * 3);
  pictures.push(await sharp(data, { raw: { width: resolution, height: resolution, channels: 3 } }).png().toBuffer());
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function direct() {
  const dataset = await prepareDataset(pictures.map((source, i) => ({ source, label: `image ${i}` })), { dir: path.join(work, 'direct', 'dataset'), resolution, instancePrompt: 'photo of sks dog' });
  const args = [TRAINER_SCRIPT, '--model', base, '--data', dataset.dir, '--output', path.join(work, 'direct.safetensors'), '--steps', String(steps), '--rank', values.rank, '--threads', values.threads];
  const started = performance.now();
  const stepSeconds = [];
  await new Promise((resolve, reject) => {
    const child = spawn(python, ['-u', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      for (let i; (i = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(i + 1)) {
        const event = JSON.parse(buffer.slice(0, i));
        if (event.event === 'step') stepSeconds.push(event.seconds);
      }
    });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`trainer exited with ${code}`))));
  });
  const wall = (performance.now() - started) / 1000;
  return { mode: 'direct', stepSeconds: median(stepSeconds), wallSecondsPerStep: wall / steps, wallSeconds: wall };
}

async function queue() {
  const server = await createServer({ port: 0, dataDir: path.join(work, 'server'), auth: false, models: [base], trainerVenv: venv, threads: Number(values.threads) || undefined });
  const url = await server.listen();
  const progress = [];
  try {
    const started = performance.now();
    const submitted = await (await fetch(`${url}/api/v3/lora_fine_tune`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instance_prompt: 'photo of sks dog', images: pictures.map((p) => `data:image/png;base64,${p.toString('base64')}`), max_train_steps: steps, lora_rank: Number(values.rank), seed: 0 }),
    })).json();
    if (!submitted.training_id) throw new Error(`lora_fine_tune refused: ${JSON.stringify(submitted)}`);
    for (;;) {
      const status = await (await fetch(`${url}/api/v3/fine_tune_status/${submitted.training_id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json();
      if (status.training_status === 'training_started' && status.step > 0) progress.push({ at: performance.now(), step: status.step });
      if (status.training_status === 'training_success') break;
      if (status.status === 'error' || status.training_status === 'training_cancelled') throw new Error(`training failed: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const wall = (performance.now() - started) / 1000;
    // Step times as the API shows them: time between the first sightings of successive steps.
    const firstSeen = new Map();
    for (const p of progress) if (!firstSeen.has(p.step)) firstSeen.set(p.step, p.at);
    const seen = [...firstSeen.entries()].sort((a, b) => a[0] - b[0]);
    const gaps = seen.slice(1).map(([, at], i) => (at - seen[i][1]) / 1000 / (seen[i + 1][0] - seen[i][0]));
    return { mode: 'queue', stepSeconds: gaps.length ? median(gaps) : null, wallSecondsPerStep: wall / steps, wallSeconds: wall };
  } finally {
    await server.close();
  }
}

const results = [];
if (values.only !== 'queue') results.push(await direct());
if (values.only !== 'direct') results.push(await queue());
const overhead = results.length === 2 ? results[1].wallSecondsPerStep / results[0].wallSecondsPerStep - 1 : null;
const summary = {
  benchmark: 'lora-train', architecture: 'sd1 (SD 1.5 shapes)', resolution, rank: Number(values.rank), batch: 1, steps, cpus: os.cpus().length, load: os.loadavg()[0],
  results, overhead, target: TARGET_OVERHEAD, pass: overhead === null ? null : overhead <= TARGET_OVERHEAD,
};
console.log(JSON.stringify(summary, null, 2));
fs.mkdirSync(values.out, { recursive: true });
fs.writeFileSync(path.join(values.out, `train-${resolution}-r${values.rank}-${values.only}.json`), `${JSON.stringify(summary, null, 2)}\n`);
fs.rmSync(work, { recursive: true, force: true });
