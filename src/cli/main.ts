#!/usr/bin/env node
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DiffusekitError } from '../errors.js';
import { engineInfo } from '../engine/info.js';
import { SYNTHETIC_ARCHITECTURES, type SyntheticArchitecture } from '../models/architectures/index.js';
import { synthesizeModel } from '../models/synthesize.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { VERSION } from '../version.js';
import { keysCommand } from './keys.js';
import { serveCommand } from './serve.js';
import { UsageError } from './usage-error.js';

const HELP = `diffusekit ${VERSION}: local Stable Diffusion

Usage:
  diffusekit generate --model FILE --prompt TEXT [options]   text to image
  diffusekit synth [--arch NAME] [--seed N] [--out FILE]     write a synthetic test checkpoint
  diffusekit info                                            engine build, backend and samplers
  diffusekit serve [--model FILE]... [--port N] [options]    the REST API server (diffusekit serve --help)
  diffusekit keys create|list|revoke [options]               API keys for the server (diffusekit keys --help)

generate options:
  -m, --model FILE        checkpoint (.safetensors, .ckpt, .gguf) or diffusers folder
  -p, --prompt TEXT       what to draw
  -n, --negative TEXT     what to avoid
  -W, --width N           multiple of 8 (default: the model's native size)
  -H, --height N          multiple of 8
      --steps N           sampling steps (default 20)
      --cfg N             guidance scale (default 7)
      --seed N            seed (default random)
      --sampler NAME      e.g. euler_a, "DPM++ 2M Karras"
      --scheduler NAME    e.g. karras, discrete
  -b, --batch N           images per run (default 1)
  -t, --threads N         CPU threads (default: physical cores)
  -o, --output FILE       .png, .jpg or .webp (default output.png; batches add -1, -2, ...)
  -v, --verbose           print engine log lines

synth options:
      --arch NAME         models: sd1 (full SD 1.x layout, ~2 GiB), sd1-inpaint, sd2 (~2.6 GiB),
                          sdxl (~7 GiB), sd3 (~6 GiB), sdxs (tiny, ~0.9 GiB; the default);
                          components: taesd, sd1-lora, sd1-lora-peft, sd1-controlnet, sd1-embedding,
                          esrgan-x4plus, esrgan-x4plus-anime, esrgan-x2plus
      --seed N            weight seed (default 0)
      --dtype f16|f32     storage type (default f16)
      --out FILE          output path (default: the cache, ~/.cache/diffusekit/models); .ckpt writes
                          PyTorch's zip format
      --format NAME       single-file (default) or diffusers (a folder; sd1, sd1-inpaint)

  -h, --help              this help
      --version           print the version
`;

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
  return n;
}

async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', short: 'm' },
      prompt: { type: 'string', short: 'p' },
      negative: { type: 'string', short: 'n' },
      width: { type: 'string', short: 'W' },
      height: { type: 'string', short: 'H' },
      steps: { type: 'string' },
      cfg: { type: 'string' },
      seed: { type: 'string' },
      sampler: { type: 'string' },
      scheduler: { type: 'string' },
      batch: { type: 'string', short: 'b' },
      threads: { type: 'string', short: 't' },
      output: { type: 'string', short: 'o', default: 'output.png' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
  if (!values.model) throw new UsageError('generate needs --model');
  if (values.prompt === undefined) throw new UsageError('generate needs --prompt');
  const pipe = await Pipeline.load({
    model: values.model,
    threads: int('threads', values.threads),
    onLog: values.verbose ? (level, message) => process.stderr.write(`[${level}] ${message}\n`) : undefined,
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    const images = await pipe.generate({
      prompt: values.prompt,
      negativePrompt: values.negative,
      width: int('width', values.width),
      height: int('height', values.height),
      steps: int('steps', values.steps),
      guidanceScale: int('cfg', values.cfg),
      seed: int('seed', values.seed),
      sampler: values.sampler,
      scheduler: values.scheduler,
      batchSize: int('batch', values.batch),
      signal: controller.signal,
      onProgress: (e) => {
        if (process.stderr.isTTY) process.stderr.write(`\r${e.phase} ${e.image + 1}/${e.images}: step ${e.step}/${e.steps}  ${e.elapsed.toFixed(1)}s`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    const ext = path.extname(values.output);
    for (const [i, image] of images.entries()) {
      const file = images.length > 1 ? `${values.output.slice(0, -ext.length || undefined)}-${i + 1}${ext}` : values.output;
      await image.save(file);
      console.log(`${file}  seed ${image.seed}`);
    }
  } finally {
    await pipe.dispose();
  }
}

function synth(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      arch: { type: 'string', default: 'sdxs' },
      seed: { type: 'string' },
      dtype: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
    },
  });
  if (!(values.arch in SYNTHETIC_ARCHITECTURES)) {
    throw new UsageError(`--arch must be one of ${Object.keys(SYNTHETIC_ARCHITECTURES).join(', ')}`);
  }
  if (values.dtype !== undefined && values.dtype !== 'f16' && values.dtype !== 'f32') throw new UsageError('--dtype must be f16 or f32');
  if (values.format !== undefined && values.format !== 'single-file' && values.format !== 'diffusers') {
    throw new UsageError('--format must be single-file or diffusers');
  }
  const model = synthesizeModel({
    architecture: values.arch as SyntheticArchitecture,
    seed: int('seed', values.seed),
    dtype: values.dtype as 'f16' | 'f32' | undefined,
    output: values.out,
    format: values.format as 'single-file' | 'diffusers' | undefined,
  });
  console.log(model.path);
  console.error(`${model.architecture}: ${model.tensors} tensors, ${(model.parameters / 1e6).toFixed(1)} M parameters${model.created ? '' : ' (cached)'}`);
}

function info(): void {
  const e = engineInfo();
  console.log(`diffusekit ${VERSION}`);
  console.log(`engine      ${e.source.name}, ${e.source.release}`);
  console.log(`backend     ${e.backend} (${e.physicalCores} physical cores)`);
  console.log(`cpu         ${e.systemInfo.replace(/\s+/g, ' ').replace('System Info: ', '').trim()}`);
  console.log(`samplers    ${e.samplers.join(', ')}`);
  console.log(`schedulers  ${e.schedulers.join(', ')}`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP);
    } else if (command === '--version') {
      console.log(VERSION);
    } else if (command === 'generate') {
      await generate(rest);
    } else if (command === 'synth') {
      synth(rest);
    } else if (command === 'info') {
      info();
    } else if (command === 'serve') {
      await serveCommand(rest);
    } else if (command === 'keys') {
      await keysCommand(rest);
    } else {
      throw new UsageError(`unknown command '${command}'`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`diffusekit: ${(err as Error).message}\nRun 'diffusekit --help' for usage.`);
      return 2;
    }
    if (err instanceof DiffusekitError) {
      console.error(`diffusekit: ${err.message}`);
      return err.code === 'ABORT_ERR' ? 130 : 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
