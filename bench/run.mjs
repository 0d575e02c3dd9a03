#!/usr/bin/env node
// npm run bench: the Pipeline against stable-diffusion.cpp's own sd-cli, built from the same pinned source,
// on the same synthetic SD 1.x checkpoint, sizes, sampler, steps, seed and threads.
// Phase timings come from the engine's own log lines, which both programs print identically;
// peak RSS is each process's VmHWM. Options: --sizes 256,512 --steps 4 --threads N --reusable
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { synthesizeModel, VERSION } from '../lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    steps: { type: 'string', default: '4' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    sampler: { type: 'string', default: 'euler_a' },
    seed: { type: 'string', default: '42' },
    reusable: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const steps = Number(values.steps);
const LIMITS = { stepOverhead: 0.03, peakRss: 0.05 };

const cli = path.join(root, 'build', 'bin', 'sd-cli');
if (!fs.existsSync(cli)) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--target', 'sd-cli'], { stdio: 'inherit' });
const model = synthesizeModel({ architecture: 'sd1' }).path;
// Read the checkpoint once so neither program pays for a cold page cache.
{
  const fd = fs.openSync(model, 'r');
  const chunk = Buffer.allocUnsafe(64 << 20);
  while (fs.readSync(fd, chunk) > 0);
  fs.closeSync(fd);
}

/** Runs a command, keeps its output, and polls its peak resident set (VmHWM) until it exits. */
function measure(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let peakKb = 0;
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {}
    }, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`${path.basename(command)} exited with ${code}:\n${output.slice(-2000)}`));
      else resolve({ output, peakRssMiB: peakKb / 1024 });
    });
  });
}

function seconds(output, pattern) {
  const m = pattern.exec(output);
  if (!m) throw new Error(`no line matching ${pattern} in the engine log`);
  return Number(m[1]);
}

/** The phases of one run, from the engine's log lines (identical in both programs). */
function phases(output) {
  const sampling = seconds(output, /sampling completed, taking ([\d.]+)s/);
  return {
    loadSeconds: seconds(output, /loading tensors completed, taking ([\d.]+)s/),
    textEncodingSeconds: seconds(output, /get_learned_condition completed, taking ([\d.]+)s/),
    secondsPerStep: sampling / steps,
    vaeDecodeSeconds: seconds(output, /decode_first_stage completed, taking ([\d.]+)s/),
    generateSeconds: seconds(output, /generate_image completed in ([\d.]+)s/),
  };
}

const runs = [];
for (const size of sizes) {
  const common = { size, steps, seed: values.seed, threads: values.threads, sampler: values.sampler };
  process.stderr.write(`${size}x${size}: sd-cli ... `);
  const engine = await measure(cli, [
    '-m', model, '-p', 'a cabin in misty mountains, watercolor', '-n', 'blurry', '-W', String(size), '-H', String(size),
    '--steps', String(steps), '-s', values.seed, '--sampling-method', values.sampler, '--cfg-scale', '7', '-t', values.threads,
    '-o', path.join(os.tmpdir(), 'diffusekit-bench-cli.png'), '-v',
  ]);
  process.stderr.write('pipeline ... ');
  const pipeline = await measure(process.execPath, [
    path.join(root, 'bench', 'pipeline-child.mjs'), model, String(size), String(size), String(steps), values.seed, values.threads, values.sampler,
    values.reusable ? 'reusable' : 'one-shot',
  ]);
  const own = JSON.parse(/BENCH (.*)/.exec(pipeline.output)[1]);
  const e = { ...phases(engine.output), peakRssMiB: engine.peakRssMiB };
  const p = { ...phases(pipeline.output), peakRssMiB: pipeline.peakRssMiB, wall: own };
  const ratio = { secondsPerStep: p.secondsPerStep / e.secondsPerStep, peakRss: p.peakRssMiB / e.peakRssMiB };
  process.stderr.write(`step ratio ${ratio.secondsPerStep.toFixed(3)}, peak RSS ratio ${ratio.peakRss.toFixed(3)}\n`);
  runs.push({ ...common, engine: e, pipeline: p, ratio });
}

const result = {
  date: new Date().toISOString(),
  diffusekit: VERSION,
  machine: { cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  model: 'synthetic SD 1.x (sd1 layout, f16)',
  mode: values.reusable ? 'reusable Pipeline' : 'one-shot Pipeline (sd-cli settings: vaeDecodeOnly, freeParamsImmediately)',
  limits: LIMITS,
  runs,
  pass: runs.every((r) => r.ratio.secondsPerStep <= 1 + LIMITS.stepOverhead && r.ratio.peakRss <= 1 + LIMITS.peakRss),
};
const file = path.join(root, 'bench', 'results', `${result.date.slice(0, 10)}-${os.hostname()}.json`);
fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

const f = (n, d = 2) => n.toFixed(d);
console.log(`\n| size | program | load s | text enc. s | s/step | VAE decode s | peak RSS MiB |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of runs) {
  for (const [name, x] of [['sd-cli', r.engine], ['Pipeline', r.pipeline]]) {
    console.log(`| ${r.size}x${r.size} | ${name} | ${f(x.loadSeconds)} | ${f(x.textEncodingSeconds)} | ${f(x.secondsPerStep)} | ${f(x.vaeDecodeSeconds)} | ${f(x.peakRssMiB, 0)} |`);
  }
  console.log(`| ${r.size}x${r.size} | ratio | | | ${f(r.ratio.secondsPerStep, 3)} | | ${f(r.ratio.peakRss, 3)} |`);
}
console.log(`\n${result.pass ? 'PASS' : 'FAIL'}: step overhead <= ${LIMITS.stepOverhead * 100}%, peak RSS <= +${LIMITS.peakRss * 100}% (${path.relative(root, file)})`);
process.exitCode = result.pass ? 0 : 1;
