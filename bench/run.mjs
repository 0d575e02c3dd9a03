#!/usr/bin/env node
// npm run bench: the Pipeline against stable-diffusion.cpp's own sd-cli, built from the same pinned source
// without our patches and with the engine's default options (bench/baseline.mjs), on the same synthetic
// SD 1.x checkpoint, sizes, sampler, steps, seed and threads. SD 1.x runs report GFLOPS (bench/flops.mjs).
// The size column names the weight type when it is not the checkpoint's own f16.
// Tasks: txt2img at each size, img2img, inpaint and ESRGAN upscaling. Phase timings come from the engine's
// own log lines, which both programs print identically; peak RSS is each process's VmHWM.
// Options: --sizes 256,512 --steps 4 --threads N --tasks txt2img,img2img,inpaint,upscale,sdxl,video --reusable --repeat N
// --weights f16,f32,q8_0 (txt2img: the weight types to run, converted from the f16 checkpoint at load)
// (task sdxl: the synthetic SDXL base at 1024x1024, --sdxl-steps steps; minutes per step on a small CPU, so not by default)
// (task sd3.5: SD 3.5 medium with its CLIP-L and CLIP-G at 256x256; sd3.5-cache: the same with EasyCache on both sides)
// (tasks flux, chroma, z-image, qwen-image, flux2-klein: each DiT family from its component files, synthesized at the
// released layouts as the family tests use them (q4_0 DiTs and LLM/T5 encoders), at --family-size, --family-steps;
// minutes per step on a small CPU, so not by default. Qwen-Image's 16 GB of DiT and LLM are written to a temporary
// folder and deleted after, as its test does, so the model cache keeps room for the test suite)
// (task video: the synthetic Wan2.1 T2V 1.3B with its VAE, --video-size, --video-frames, --video-steps; not by default)
// --cpu-variant native,best,haswell: the diffusekit builds to run side by side: `native` is the build from source
// (build/Release, tuned for this machine), `best` the prebuilt addon (prebuilds/, `npm run prebuild`) with the
// variant it picks for this CPU, any other name the prebuilt addon forced to that variant (DIFFUSEKIT_CPU_VARIANT).
// --peers torch,openvino: SD 1.x txt2img (f16) also runs PyTorch and OpenVINO, fp32 and bf16 (bench/peers.mjs), one
// round after each round of the programs, and reports each one's step and VAE decode and our ratio to it.
// --baseline native|portable|native,portable: sd-cli built the engine's default way, or the portable way (one
// sd-cli per prebuilt variant asked for). Each diffusekit build is compared with the first sd-cli, and the
// prebuilt ones also with `native` when it runs: the best variant must be within 3% of it on step and decode.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { synthesizeModel, VERSION } from '../lib/index.js';
import { baselineCli, baselineCliForVariant } from './baseline.mjs';
import { peerScript, runPeers } from './peers.mjs';
import { sd1UnetFlops, sd1VaeDecoderFlops } from './flops.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    steps: { type: 'string', default: '4' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    sampler: { type: 'string', default: 'euler_a' },
    seed: { type: 'string', default: '42' },
    reusable: { type: 'boolean', default: false },
    tasks: { type: 'string', default: 'txt2img,img2img,inpaint,upscale' },
    'sdxl-steps': { type: 'string', default: '1' },
    'video-size': { type: 'string', default: '128' },
    'video-frames': { type: 'string', default: '9' },
    'video-steps': { type: 'string', default: '4' },
    peers: { type: 'string' },
    'family-size': { type: 'string', default: '128' },
    'family-steps': { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    weights: { type: 'string', default: 'f16' },
    'cpu-variant': { type: 'string', default: 'native' },
    baseline: { type: 'string', default: 'native' },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', short: 'q', default: false },
    progress: { type: 'string', default: 'auto' },
    'no-color': { type: 'boolean', default: false },
  },
});
// Progress goes to stderr unless --quiet (or --progress none); --json puts the results on stdout instead of the table.
const say = values.quiet || values.progress === 'none' ? () => {} : (text) => process.stderr.write(text);
const tasks = values.tasks.split(',');
const sizes = values.sizes.split(',').map(Number);
const steps = Number(values.steps);
const repeat = Math.max(1, Number(values.repeat));
const weightTypes = values.weights.split(',');
const peerEngines = values.peers ? values.peers.split(',') : [];
if (peerEngines.length) peerScript(); // fails now, not after the first runs, when the script is missing

/** Per-key median of the numeric phases of several runs. */
function medians(runs) {
  const out = {};
  for (const key of Object.keys(runs[0])) {
    if (typeof runs[0][key] !== 'number') continue;
    const sorted = runs.map((r) => r[key]).sort((a, b) => a - b);
    out[key] = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  }
  return out;
}
// Peak memory may exceed the engine's by 5%, or by the Node.js runtime with sharp (~80 MiB) where that is
// more: for a small model (an ESRGAN upscaler of 33 MiB) the runtime alone is more than 5%.
// SD 1.x txt2img: the sampling step and the VAE decode at least 3x faster than the engine's own program
// (our CPU kernels, issue 8); every other task no slower than it.
// A prebuilt variant within 3% of the build from source on step and decode (issue 14).
const LIMITS = { stepOverhead: 0.03, peakRss: 0.05, runtimeMiB: 80, txt2imgSpeedup: 3, prebuiltOverhead: 0.03 };
const memoryOk = (r) => r.ratio.peakRss <= 1 + LIMITS.peakRss || r.pipeline.peakRssMiB - r.engine.peakRssMiB <= LIMITS.runtimeMiB;

const cpuVariants = values['cpu-variant'].split(',');
const baselines = values.baseline.split(',');
if (cpuVariants.some((v) => v !== 'native') && !fs.existsSync(path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`))) {
  throw new Error('--cpu-variant other than native needs the prebuilt addon: run `npm run prebuild` first');
}
// The programs each job runs, alternating: the sd-cli baselines first, then the diffusekit builds.
const programs = [];
for (const baseline of baselines) {
  if (baseline === 'native') programs.push({ name: 'sd-cli', kind: 'cli', command: await baselineCli({ quiet: values.json }) });
  else if (baseline === 'portable') {
    for (const v of cpuVariants.filter((v) => v !== 'native')) {
      programs.push({ name: `sd-cli ${v}`, kind: 'cli', command: await baselineCliForVariant(v, { quiet: values.json }) });
    }
  } else throw new Error(`--baseline takes native and/or portable, not '${baseline}'`);
}
if (!programs.length) throw new Error('--baseline portable needs a prebuilt variant in --cpu-variant');
for (const v of cpuVariants) {
  // node-gyp-build prefers build/Release; PREBUILDS_ONLY makes it load prebuilds/ instead
  const env = v === 'native' ? {} : { PREBUILDS_ONLY: '1', ...(v === 'best' ? {} : { DIFFUSEKIT_CPU_VARIANT: v }) };
  programs.push({ name: cpuVariants.length > 1 || v !== 'native' ? `diffusekit ${v}` : 'diffusekit', kind: 'pipeline', variant: v, env });
}
const model = synthesizeModel({ architecture: 'sd1' }).path;
/** Reads a model file once so that neither program pays for a cold page cache. */
function warm(file) {
  const fd = fs.openSync(file, 'r');
  const chunk = Buffer.allocUnsafe(64 << 20);
  while (fs.readSync(fd, chunk) > 0);
  fs.closeSync(fd);
}
warm(model);

/** Runs a command, keeps its output, and polls its peak resident set (VmHWM) until it exits. */
function measure(command, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
function phases(output, task, steps) {
  if (task === 'upscale') return { upscaleSeconds: seconds(output, /upscaled, taking ([\d.]+)s/) };
  if (task === 'video') {
    const total = seconds(output, /generate_video completed in ([\d.]+)s/);
    return {
      loadSeconds: seconds(output, /loading tensors completed, taking ([\d.]+)s/),
      secondsPerStep: seconds(output, /sampling completed, taking ([\d.]+)s/) / steps,
      vaeDecodeSeconds: seconds(output, /decode_first_stage completed, taking ([\d.]+)s/),
      generateSeconds: total,
      secondsPerFrame: total / Number(values['video-frames']),
    };
  }
  const sampling = seconds(output, /sampling completed, taking ([\d.]+)s/);
  // img2img samples only the last `strength` share of the schedule
  const sampled = Number(/target t_enc is (\d+) steps/.exec(output)?.[1] ?? steps);
  return {
    loadSeconds: seconds(output, /loading tensors completed, taking ([\d.]+)s/),
    textEncodingSeconds: seconds(output, /get_learned_condition completed, taking ([\d.]+)s/),
    secondsPerStep: sampling / sampled,
    vaeDecodeSeconds: seconds(output, /decode_first_stage completed, taking ([\d.]+)s/),
    generateSeconds: seconds(output, /generate_image completed in ([\d.]+)s/),
  };
}

// Inputs shared by both programs: a gradient picture and a mask with a white square.
const inputs = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-bench-'));
const init = path.join(inputs, 'init.png');
const mask = path.join(inputs, 'mask.png');
const upscaleInput = path.join(inputs, 'small.png');
const gradient = (size) => {
  const data = Buffer.alloc(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
  return sharp(data, { raw: { width: size, height: size, channels: 3 } }).png();
};
await gradient(256).toFile(init);
await gradient(64).toFile(upscaleInput);
const square = { input: { create: { width: 128, height: 128, channels: 3, background: '#ffffff' } }, left: 64, top: 64 };
await sharp({ create: { width: 256, height: 256, channels: 3, background: '#000000' } }).composite([square]).png().toFile(mask);
const upscaler = tasks.includes('upscale') ? synthesizeModel({ architecture: 'esrgan-x4plus' }).path : undefined;

// The DiT families: what each loads (slot -> [architecture, dtype]) and samples with, the same for both programs.
// sd3.5 is one checkpoint with its CLIPs beside it; the others are component sets (a diffusion model alone).
const FAMILY_TASKS = {
  'sd3.5': { size: 256, checkpoint: ['sd3.5-medium'], parts: { clipL: ['clip-l'], clipG: ['clip-g'] }, sampler: 'euler', cfg: 4.5 },
  flux: { parts: { diffusionModel: ['flux-dev', 'q4_0'], clipL: ['clip-l'], t5xxl: ['t5xxl', 'q4_0'], vae: ['flux-vae'] }, sampler: 'euler', cfg: 1, guidance: 3.5 },
  chroma: { parts: { diffusionModel: ['chroma', 'q4_0'], t5xxl: ['t5xxl', 'q4_0'], vae: ['flux-vae'] }, sampler: 'euler', cfg: 4 },
  'z-image': { parts: { diffusionModel: ['z-image-turbo', 'q4_0'], llm: ['qwen3-4b', 'q4_0'], vae: ['flux-vae'] }, sampler: 'euler', cfg: 1 },
  'qwen-image': { parts: { diffusionModel: ['qwen-image', 'q4_0'], llm: ['qwen2.5-vl-7b', 'q4_0'], vae: ['qwen-image-vae'] }, sampler: 'euler', cfg: 4, temporary: ['diffusionModel', 'llm'] },
  'flux2-klein': { parts: { diffusionModel: ['flux2-klein-4b', 'q4_0'], llm: ['qwen3-4b', 'q4_0'], vae: ['flux2-vae'] }, sampler: 'euler', cfg: 1 },
};
FAMILY_TASKS['sd3.5-cache'] = { ...FAMILY_TASKS['sd3.5'], cache: { mode: 'easycache' } };
// sd-cli's flag for each slot
const CLI_FLAGS = { diffusionModel: '--diffusion-model', clipL: '--clip_l', clipG: '--clip_g', t5xxl: '--t5xxl', llm: '--llm', vae: '--vae' };
const temporaryModels = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-bench-models-'));

/** The files of a family task: cached synthetic models, or ones written into the temporary folder. */
function familyFiles(spec) {
  const files = {};
  for (const [slot, [architecture, dtype]] of Object.entries(spec.parts)) {
    const output = spec.temporary?.includes(slot) ? path.join(temporaryModels, `${architecture}-${dtype ?? 'f16'}.gguf`) : undefined;
    files[slot] = output && fs.existsSync(output) ? output : synthesizeModel({ architecture, dtype, output }).path;
  }
  return files;
}

const jobs = [];
for (const task of tasks) {
  const family = FAMILY_TASKS[task];
  for (const size of task === 'txt2img' ? sizes : task === 'upscale' ? [64] : task === 'sdxl' ? [1024] : family ? [family.size ?? Number(values['family-size'])] : task === 'video' ? [Number(values['video-size'])] : [256]) {
    // SD 1.x txt2img in every weight type asked for; both programs convert the f16 checkpoint at load
    for (const weightType of task === 'txt2img' ? weightTypes : ['f16']) jobs.push({ task, size, weightType });
  }
}

const runs = [];
for (const { task, size, weightType } of jobs) {
  const family = FAMILY_TASKS[task];
  const jobSteps = task === 'sdxl' ? Number(values['sdxl-steps']) : task === 'video' ? Number(values['video-steps']) : family && !family.checkpoint ? Number(values['family-steps']) : steps;
  // A family's components are files of their own (SD 3.5 medium: its CLIPs beside the checkpoint); the cached
  // run uses EasyCache at its defaults on both sides.
  const components = family ? familyFiles(family) : {};
  const jobModel = task === 'sdxl' ? synthesizeModel({ architecture: 'sdxl' }).path : task === 'video' ? synthesizeModel({ architecture: 'wan2.1-t2v-1.3b' }).path
    : family?.checkpoint ? synthesizeModel({ architecture: family.checkpoint[0] }).path : family ? undefined : model;
  const cache = family?.cache;
  const vae = task === 'video' ? synthesizeModel({ architecture: 'wan2.1-vae' }).path : undefined;
  const frames = Number(values['video-frames']);
  for (const file of [jobModel, vae, ...Object.values(components)]) if (file && file !== model) warm(file);
  const common = {
    task, size, weightType, steps: jobSteps, seed: Number(values.seed), threads: Number(values.threads),
    sampler: family?.sampler ?? values.sampler, cfg: family?.cfg ?? 7, ...(family?.guidance ? { guidance: family.guidance } : {}),
  };
  say(`${task} ${size}x${size} ${weightType}: `);
  const out = path.join(inputs, task === 'video' ? 'cli-out.webp' : 'cli-out.png');
  const cliArgs = task === 'upscale'
    ? ['-M', 'upscale', '--upscale-model', upscaler, '-i', upscaleInput, '-t', values.threads, '-o', out, '-v']
    : task === 'video'
    ? [
        '-M', 'vid_gen', '--diffusion-model', jobModel, '--vae', vae, '-p', 'waves on a beach', '-W', String(size), '-H', String(size),
        '--video-frames', String(frames), '--steps', String(jobSteps), '-s', values.seed, '--sampling-method', 'euler', '--cfg-scale', '6',
        '-t', values.threads, '-o', out, '-v',
      ]
    : [
        ...(jobModel ? ['-m', jobModel] : []), '-p', 'a cabin in misty mountains, watercolor', '-n', 'blurry', '-W', String(size), '-H', String(size),
        '--steps', String(jobSteps), '-s', values.seed, '--sampling-method', common.sampler, '--cfg-scale', String(common.cfg), '-t', values.threads,
        ...Object.entries(components).flatMap(([slot, file]) => [CLI_FLAGS[slot], file]), ...(common.guidance ? ['--guidance', String(common.guidance)] : []),
        ...(cache ? ['--cache-mode', 'easycache'] : []),
        '-o', out, '-v', ...(weightType !== 'f16' ? ['--type', weightType] : []),
        ...(task === 'img2img' || task === 'inpaint' ? ['-i', init, '--strength', '0.75'] : []),
        ...(task === 'inpaint' ? ['--mask', mask] : []),
      ];
  // 'f16' is the checkpoint as written; other types are converted at load by both programs
  const job = { ...common, weightType: weightType === 'f16' ? undefined : weightType, task: task === 'sdxl' || family ? 'txt2img' : task, model: jobModel, vae, components, cache, frames, mode: values.reusable ? 'reusable' : 'one-shot', init: task === 'upscale' ? upscaleInput : init, mask, upscaler };
  // The programs alternate, `--repeat` times, so that the load of a shared machine hits all alike; each phase
  // is the median of its runs (all runs are kept in the result file).
  const samples = programs.map(() => []);
  const withPeers = peerEngines.length > 0 && task === 'txt2img' && weightType === 'f16';
  const peerSamples = {};
  for (let i = 0; i < repeat; i++) {
    for (const [k, program] of programs.entries()) {
      say(`${program.name} ... `);
      if (program.kind === 'cli') {
        const engine = await measure(program.command, cliArgs);
        samples[k].push({ ...phases(engine.output, task, jobSteps), peakRssMiB: engine.peakRssMiB });
      } else {
        const pipeline = await measure(process.execPath, [path.join(root, 'bench', 'pipeline-child.mjs'), JSON.stringify(job)], program.env);
        samples[k].push({ ...phases(pipeline.output, task, jobSteps), peakRssMiB: pipeline.peakRssMiB, wall: JSON.parse(/BENCH (.*)/.exec(pipeline.output)[1]) });
      }
    }
    if (withPeers) {
      say(`peers ${peerEngines.join(',')} `);
      for (const [name, r] of Object.entries(await runPeers({ engines: peerEngines, size, threads: Number(values.threads), say }))) (peerSamples[name] ??= []).push(r);
      say(' ');
    }
  }
  const results = programs.map((program, k) => ({
    ...medians(samples[k]),
    ...(program.kind === 'pipeline' ? { wall: samples[k].at(-1).wall } : {}),
    ...(repeat > 1 ? { runs: samples[k] } : {}),
  }));
  const peers = Object.fromEntries(Object.entries(peerSamples).map(([name, runs]) => [name, { ...runs.at(-1), ...medians(runs), ...(repeat > 1 ? { runs } : {}) }]));
  const timeKey = task === 'upscale' ? 'upscaleSeconds' : task === 'video' ? 'secondsPerFrame' : 'secondsPerStep';
  const sd1 = ['txt2img', 'img2img', 'inpaint'].includes(task);
  if (sd1) {
    // a CFG step evaluates the UNet twice (prompt and negative prompt)
    const stepFlops = 2 * sd1UnetFlops(size / 8, size / 8), decodeFlops = sd1VaeDecoderFlops(size / 8, size / 8);
    for (const x of [...results, ...Object.values(peers)]) {
      if (x.secondsPerStep) x.stepGflops = stepFlops / x.secondsPerStep / 1e9;
      if (x.vaeDecodeSeconds) x.vaeDecodeGflops = decodeFlops / x.vaeDecodeSeconds / 1e9;
    }
  }
  // Every diffusekit build against the first sd-cli; prebuilt variants also against the build from source.
  const e = results[programs.findIndex((x) => x.kind === 'cli')];
  const nativeIndex = programs.findIndex((x) => x.variant === 'native');
  const compare = (p, base) => ({
    time: p[timeKey] / base[timeKey],
    peakRss: p.peakRssMiB / base.peakRssMiB,
    ...(sd1 ? { step: p.secondsPerStep / base.secondsPerStep, vaeDecode: p.vaeDecodeSeconds / base.vaeDecodeSeconds } : {}),
  });
  const builds = programs.flatMap((program, k) => (program.kind === 'pipeline' ? [{ program, k }] : []));
  const byProgram = Object.fromEntries(programs.map((program, k) => [program.name, results[k]]));
  const comparisons = builds.map(({ program, k }) => ({
    program: program.name,
    variant: program.variant,
    vsEngine: compare(results[k], e),
    ...(nativeIndex >= 0 && k !== nativeIndex ? { vsNative: compare(results[k], results[nativeIndex]) } : {}),
  }));
  const first = builds[0];
  const p = results[first.k];
  const ratio = { time: p[timeKey] / e[timeKey], peakRss: p.peakRssMiB / e.peakRssMiB };
  const speedup = sd1 ? { step: e.secondsPerStep / p.secondsPerStep, vaeDecode: e.vaeDecodeSeconds / p.vaeDecodeSeconds } : undefined;
  say(comparisons.map((c) => `${c.program}: time ratio ${c.vsEngine.time.toFixed(3)}${c.vsEngine.step ? ` (step ${(1 / c.vsEngine.step).toFixed(2)}x, VAE decode ${(1 / c.vsEngine.vaeDecode).toFixed(2)}x faster)` : ''}${c.vsNative?.step ? `, vs native step ${c.vsNative.step.toFixed(3)} decode ${c.vsNative.vaeDecode.toFixed(3)}` : ''}, peak RSS ratio ${c.vsEngine.peakRss.toFixed(3)}`).join('; ') + '\n');
  runs.push({
    ...common, model: path.basename(jobModel ?? components.diffusionModel), ...(vae ? { vae: path.basename(vae), frames } : {}),
    ...(family ? { components: Object.fromEntries(Object.entries(components).map(([slot, file]) => [slot, path.basename(file)])) } : {}), timeMeasure: timeKey,
    engine: e, pipeline: p, ratio, ...(speedup ? { speedup } : {}),
    ...(programs.length > 2 || first.program.variant !== 'native' ? { programs: byProgram, comparisons } : {}),
    // our time over each peer's (below 1: we are faster)
    ...(withPeers ? { peers, vsPeers: Object.fromEntries(Object.entries(peers).map(([name, x]) => [name, { step: p.secondsPerStep / x.secondsPerStep, vaeDecode: p.vaeDecodeSeconds / x.vaeDecodeSeconds }])) } : {}),
  });
}
fs.rmSync(inputs, { recursive: true, force: true });
fs.rmSync(temporaryModels, { recursive: true, force: true });

const result = {
  date: new Date().toISOString(),
  diffusekit: VERSION,
  machine: { cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  model: 'synthetic checkpoints of the real layouts, f16 (each run names its own)',
  mode: values.reusable ? 'reusable Pipeline' : 'one-shot Pipeline (sd-cli settings: vaeDecodeOnly, freeParamsImmediately)',
  programs: programs.map((x) => x.name),
  limits: LIMITS,
  runs,
  // the CPU peers' target (reported, not part of pass): our step and VAE decode at or below OpenVINO bf16's
  ...(peerEngines.includes('openvino') ? {
    peerTargets: runs.filter((r) => r.vsPeers?.['openvino bf16']).map((r) => {
      const v = r.vsPeers['openvino bf16'];
      return { size: r.size, vs: 'openvino bf16', step: v.step, vaeDecode: v.vaeDecode, met: v.step <= 1 && v.vaeDecode <= 1 };
    }),
  } : {}),
  pass: runs.every((r) => memoryOk(r) && (r.task === 'txt2img' // always the SD 1.x checkpoint (SDXL runs as task 'sdxl')
    ? r.speedup.step >= LIMITS.txt2imgSpeedup && r.speedup.vaeDecode >= LIMITS.txt2imgSpeedup
    : r.ratio.time <= 1 + LIMITS.stepOverhead)
    && (r.comparisons ?? []).every((c) => c.variant !== 'best' || !c.vsNative?.step
      || (c.vsNative.step <= 1 + LIMITS.prebuiltOverhead && c.vsNative.vaeDecode <= 1 + LIMITS.prebuiltOverhead))),
};
const file = path.join(root, 'bench', 'results', `${result.date.slice(0, 16).replace(/:/g, '')}-${os.hostname()}.json`);
fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

if (values.json) {
  console.log(JSON.stringify({ ...result, file }, null, 2));
  process.exit(result.pass ? 0 : 1);
}

const f = (n, d = 2) => (n === undefined ? '' : n.toFixed(d));
console.log(`\n| task | size | program | load s | text enc. s | s/step | step GFLOPS | VAE decode s | decode GFLOPS | upscale s | s/frame | peak RSS MiB |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`);
for (const r of runs) {
  const size = `${r.task === 'video' ? `${r.size}x${r.size}x${values['video-frames']}` : `${r.size}x${r.size}`}${r.weightType === 'f16' ? '' : ` ${r.weightType}`}`;
  for (const [name, x] of Object.entries({ ...(r.programs ?? { 'sd-cli': r.engine, diffusekit: r.pipeline }), ...r.peers })) {
    console.log(`| ${r.task} | ${size} | ${name} | ${f(x.loadSeconds)} | ${f(x.textEncodingSeconds)} | ${f(x.secondsPerStep)} | ${f(x.stepGflops, 1)} | ${f(x.vaeDecodeSeconds)} | ${f(x.vaeDecodeGflops, 1)} | ${f(x.upscaleSeconds)} | ${f(x.secondsPerFrame)} | ${f(x.peakRssMiB, 0)} |`);
  }
  for (const c of (r.comparisons ?? []).filter((c) => c.vsNative)) {
    console.log(`| ${r.task} | ${size} | ${c.program} / native | | | ${f(c.vsNative.step ?? c.vsNative.time, 3)} | | ${f(c.vsNative.vaeDecode, 3)} | | | | ${f(c.vsNative.peakRss, 3)} |`);
  }
  const ratioOf = (key) => (r.timeMeasure === key ? f(r.ratio.time, 3) : '');
  console.log(`| ${r.task} | ${size} | ratio | | | ${ratioOf('secondsPerStep')} | | ${r.speedup ? f(1 / r.speedup.vaeDecode, 3) : ''} | | ${ratioOf('upscaleSeconds')} | ${ratioOf('secondsPerFrame')} | ${f(r.ratio.peakRss, 3)} |`);
  if (r.speedup) console.log(`| ${r.task} | ${size} | speed-up | | | ${f(r.speedup.step)}x | | ${f(r.speedup.vaeDecode)}x | | | | |`);
  for (const [name, v] of Object.entries(r.vsPeers ?? {})) console.log(`| ${r.task} | ${size} | diffusekit / ${name} | | | ${f(v.step, 3)} | | ${f(v.vaeDecode, 3)} | | | | |`);
}
for (const t of result.peerTargets ?? []) {
  console.log(`\n${t.met ? 'MET' : 'NOT MET'}: ${t.size}x${t.size} step ${t.step.toFixed(2)}x and VAE decode ${t.vaeDecode.toFixed(2)}x the time of ${t.vs} (target <= 1)`);
}
console.log(
  `\n${result.pass ? 'PASS' : 'FAIL'}: SD 1.x txt2img step and VAE decode >= ${LIMITS.txt2imgSpeedup}x faster, other tasks' time overhead <= ${LIMITS.stepOverhead * 100}%, ` +
    `prebuilt best variant within ${LIMITS.prebuiltOverhead * 100}% of native, peak RSS <= +${LIMITS.peakRss * 100}% ` +
    `or <= +${LIMITS.runtimeMiB} MiB (${path.relative(root, file)})`,
);
process.exitCode = result.pass ? 0 : 1;
