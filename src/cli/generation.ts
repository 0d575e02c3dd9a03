import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import type { GeneratedImage, PixelImage } from '../pipeline/generated-image.js';
import type { LoraSpec } from '../pipeline/loras.js';
import type { GenerateOptions, LoadOptions, ProgressEvent } from '../pipeline/options.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { COMPONENT_HELP, COMPONENT_OPTIONS, componentsFromFlags } from './component-flags.js';
import { DEFAULT_OUTPUT_TEMPLATE, loadConfig, parseSize, type ConfigValues } from './config.js';
import { createCli, numberFlag, OUTPUT_OPTIONS } from './context.js';
import { handleInterrupts } from './interrupt.js';
import { tensorProgress } from './progress.js';
import { checkTemplate, dateStamp, expandTemplate, hasPlaceholder, slug, withIndex, writeClaimed } from './output.js';
import { UsageError } from './usage-error.js';

/**
 * What generate, img2img, inpaint and outpaint share: the flags, config defaults, model loading with a
 * spinner, the sampling progress bar, previews, Ctrl-C, output templates and the result report. Each
 * command adds its own flags and the Pipeline call.
 */
export const GENERATION_OPTIONS = {
  model: { type: 'string', short: 'm' },
  prompt: { type: 'string', short: 'p' },
  negative: { type: 'string', short: 'n' },
  size: { type: 'string', short: 's' },
  width: { type: 'string', short: 'W' },
  height: { type: 'string', short: 'H' },
  steps: { type: 'string' },
  cfg: { type: 'string' },
  seed: { type: 'string' },
  sampler: { type: 'string' },
  scheduler: { type: 'string' },
  batch: { type: 'string', short: 'b' },
  lora: { type: 'string', multiple: true },
  'lora-dir': { type: 'string' },
  'embedding-dir': { type: 'string' },
  threads: { type: 'string', short: 't' },
  device: { type: 'string' },
  output: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
  preview: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  ...COMPONENT_OPTIONS,
  ...OUTPUT_OPTIONS,
} as const;

export const GENERATION_HELP = `Model and prompt:
  -m, --model MODEL       checkpoint (.safetensors, .ckpt, .gguf), diffusers folder or library name
                          (default: config 'model', $DIFFUSEKIT_MODEL)
  -p, --prompt TEXT       the prompt, instead of the PROMPT argument ("-": read it from stdin)
  -n, --negative TEXT     what to avoid
      --lora NAME[:W]     a LoRA by file, or by name in --lora-dir, with weight W (default 1); repeatable
      --lora-dir DIR      folder of LoRAs (default: config 'loraDir')
      --embedding-dir DIR folder of textual-inversion embeddings (default: config 'embeddingDir')

${COMPONENT_HELP}

Sampling:
  -s, --size WxH          e.g. 512x768, or 512 for a square; multiples of 8 (-W/--width, -H/--height also work)
      --steps N           sampling steps, 1-150 (default the model's: 20 for SD 1.x, 1 for turbo ...)
      --cfg N             guidance scale, 0-30 (default the model's: 7 for SD 1.x, 1 for distilled)
      --seed N            seed (default random; image i of a batch uses seed + i)
      --sampler NAME      e.g. euler_a, "DPM++ 2M Karras"
      --scheduler NAME    e.g. karras, discrete
  -b, --batch N           images per run, 1-16 (default 1)
  -t, --threads N         CPU threads (default: physical cores)
      --device DEV        auto (default: a GPU when one is usable, else the CPU), cpu, cuda, cuda:N,
                          vulkan, vulkan:N (docs/gpu.md)

Files:
  -o, --output TEMPLATE   .png, .jpg or .webp; placeholders {seed} {date} {prompt} {index} {model}
                          (default: config 'output', else ${DEFAULT_OUTPUT_TEMPLATE}). An existing file is
                          never replaced: -1, -2, ... is added. Batches without {index} or {seed} add -{index}
  -f, --force             replace existing files
      --preview FILE      keep writing the latest preview of the image being sampled to FILE
  -v, --verbose           engine log lines on stderr`;

export type GenerationValues = { [K in keyof typeof GENERATION_OPTIONS]?: (typeof GENERATION_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof GENERATION_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

export interface GenerationTask<Extra> {
  /** The command's name, for messages. */
  name: string;
  help: string;
  /** The command's own flags. */
  options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
  /** Whether config 'size' applies (text to image; the others take the input image's size). */
  configSize: boolean;
  /** Whether --size, --width and --height are allowed. */
  sized: boolean;
  /**
   * Checks the command's own flags before the model loads; returns the input files to check and what
   * the call needs.
   */
  prepare(values: Record<string, unknown>): { inputs: [parameter: string, file: string][]; extra: Extra };
  /** The load option MODEL is (default: the checkpoint, `model`). */
  modelKey?: 'model' | 'diffusionModel';
  /** The output file template when neither -o nor config 'output' gives one. */
  defaultOutput?: string;
  /** Output file extensions (default the image ones). */
  extensions?: readonly string[];
  run(pipe: Pipeline, options: GenerateOptions, extra: Extra): Promise<GenerationOutput[]>;
}

/** What a command writes: images, or a video clip. */
export type GenerationOutput = Pick<GeneratedImage, 'seed' | 'width' | 'height' | 'save'>;

const TEMPLATE_PLACEHOLDERS = ['seed', 'date', 'prompt', 'index', 'model'];

/** "style:0.8" -> { name: 'style', weight: 0.8 }; a path (with a slash or a LoRA extension) -> { path }. */
export function parseLora(spec: string): LoraSpec {
  const m = /^(.+):(-?(?:\d+\.?\d*|\.\d+))$/.exec(spec);
  const ref = m ? m[1] : spec;
  const weight = m ? Number(m[2]) : undefined;
  if (ref === '') throw new UsageError(`--lora expects NAME[:WEIGHT] or FILE[:WEIGHT], got '${spec}'`);
  const isPath = /[/\\]/.test(ref) || /\.(safetensors|ckpt|pt|gguf)$/i.test(ref);
  return isPath ? { path: ref, weight } : { name: ref, weight };
}

function readPrompt(values: GenerationValues, positionals: string[], name: string): string {
  if (values.prompt !== undefined && positionals.length > 0) {
    throw new UsageError(`${name}: give the prompt once, as an argument or with --prompt (got both)`);
  }
  const prompt = values.prompt ?? (positionals.length > 0 ? positionals.join(' ') : undefined);
  if (prompt === undefined) throw new UsageError(`${name} needs a prompt: diffusekit ${name} "a cabin in misty mountains"`);
  if (prompt === '-') return fs.readFileSync(0, 'utf8').trim();
  return prompt;
}

function requireFile(parameter: string, file: string, what: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new InvalidArgumentError(parameter, `${what} not found: ${file}`);
  }
  if (!stat.isFile()) throw new InvalidArgumentError(parameter, `${what} is not a file: ${file}`);
}

/** Writes the newest preview image to a file (through a temporary file and a rename), one write at a time. */
function previewWriter(file: string, onError: (err: Error) => void) {
  const ext = path.extname(file) || '.png';
  const target = path.extname(file) ? file : `${file}.png`;
  const tmp = path.join(path.dirname(target), `.${path.basename(target, ext)}.${process.pid}.tmp${ext}`);
  let pending: PixelImage | undefined;
  let writing: Promise<void> | undefined;
  let failed = false;
  const pump = async () => {
    while (pending && !failed) {
      const image = pending;
      pending = undefined;
      try {
        await image.save(tmp);
        fs.renameSync(tmp, target);
      } catch (err) {
        failed = true;
        fs.rmSync(tmp, { force: true });
        onError(err as Error);
      }
    }
    writing = undefined;
  };
  return {
    push(image: PixelImage) {
      pending = image;
      writing ??= pump();
    },
    flush: async () => {
      await writing;
    },
  };
}

const PHASE_LABELS: Record<ProgressEvent['phase'], string> = { sampling: 'Sampling', hires: 'Hires fix', decoding: 'Decoding' };

/** Runs one of the generation commands: parse, check, load, sample with progress, save, report. */
export async function runGeneration<Extra>(task: GenerationTask<Extra>, args: string[]): Promise<void> {
  const { values: parsed, positionals } = parseArgs({ args, options: { ...GENERATION_OPTIONS, ...task.options }, allowPositionals: true });
  const values = parsed as GenerationValues & Record<string, unknown>;
  if (values.help) {
    process.stdout.write(task.help);
    return;
  }
  const cli = createCli(values);
  const config: ConfigValues = loadConfig().values;

  const prompt = readPrompt(values, positionals, task.name);
  const components = componentsFromFlags(values);
  const model = values.model ?? (components.diffusionModel ? undefined : config.model);
  if (!model && !components.diffusionModel) {
    throw new UsageError(`${task.name} needs --model MODEL or --diffusion-model FILE (or a default: 'diffusekit config set model FILE', or DIFFUSEKIT_MODEL)`);
  }
  if (!task.sized && (values.size ?? values.width ?? values.height) !== undefined) {
    throw new UsageError(`${task.name} takes no --size, --width or --height: the size follows from the input image`);
  }
  const sizeText = values.size ?? (task.configSize ? config.size : undefined);
  const size = sizeText === undefined ? undefined : parseSize(sizeText);
  if (sizeText !== undefined && size === undefined) throw new UsageError(`--size expects WIDTHxHEIGHT or one number, got '${sizeText}'`);
  const width = numberFlag('width', values.width) ?? size?.width;
  const height = numberFlag('height', values.height) ?? size?.height;
  const batch = numberFlag('batch', values.batch) ?? 1;
  const loraDir = values['lora-dir'] ?? config.loraDir;
  const loras = (values.lora ?? []).map(parseLora);
  for (const lora of loras) {
    if (lora.path) requireFile('loras', lora.path, 'LoRA file');
    else if (!loraDir) throw new UsageError(`--lora ${lora.name} names a LoRA but no --lora-dir is given (or config 'loraDir')`);
  }
  const options: GenerateOptions = {
    prompt,
    negativePrompt: values.negative,
    width,
    height,
    steps: numberFlag('steps', values.steps) ?? config.steps,
    guidanceScale: numberFlag('cfg', values.cfg) ?? config.cfg,
    seed: numberFlag('seed', values.seed),
    sampler: values.sampler ?? config.sampler,
    scheduler: values.scheduler ?? config.scheduler,
    batchSize: values.batch === undefined ? undefined : batch,
    loras: loras.length > 0 ? loras : undefined,
  };
  const threads = numberFlag('threads', values.threads) ?? config.threads;
  let template = values.output ?? config.output ?? task.defaultOutput ?? DEFAULT_OUTPUT_TEMPLATE;
  checkTemplate(template, TEMPLATE_PLACEHOLDERS, '--output', task.extensions);
  if (batch > 1 && !hasPlaceholder(template, 'index', 'seed')) template = withIndex(template);
  const { inputs, extra } = task.prepare(values);
  for (const [parameter, file] of inputs) requireFile(parameter, file, `${parameter === 'maskImage' ? 'mask' : parameter === 'image' ? 'reference' : 'init'} image`);
  const date = dateStamp();
  const started = performance.now();

  const { progress, style } = cli;
  const interrupt = handleInterrupts(progress);
  const preview = values.preview === undefined ? undefined : previewWriter(values.preview, (err) => progress.log(style.yellow(`preview not written: ${err.message}`)));
  let pipe: Pipeline | undefined;
  try {
    const { Pipeline } = await import('../pipeline/pipeline.js');
    const loading = `Loading ${style.bold(path.basename(model ?? components.diffusionModel!))}`;
    progress.spinner(loading);
    pipe = await interrupt.uninterruptible(
      Pipeline.load({
        onProgress: tensorProgress(progress, loading, 'Preparing the model'),
        ...(model ? { [task.modelKey ?? 'model']: model } : {}),
        ...components,
        modelsDir: config.modelsDir,
        threads,
        device: values.device as LoadOptions['device'],
        loraDir,
        embeddingDir: values['embedding-dir'] ?? config.embeddingDir,
        onLog: values.verbose ? (level, message) => (progress.live ? progress.log(`[${level}] ${message.trimEnd()}`) : process.stderr.write(`[${level}] ${message.trimEnd()}\n`)) : undefined,
      }),
    );
    progress.done(`Loaded ${style.bold(pipe.model.name)} ${style.dim(`(${pipe.model.family})`)}`);
    progress.spinner('Encoding prompt');
    let phaseKey = '';
    const images = await task.run(
      pipe,
      {
        ...options,
        signal: interrupt.signal,
        preview: preview ? { every: 1 } : undefined,
        onProgress: (e) => {
          if (e.preview) preview?.push(e.preview);
          const key = `${e.phase}:${e.image}`;
          if (key !== phaseKey) {
            phaseKey = key;
            const label = e.images > 1 && e.phase !== 'decoding' ? `${PHASE_LABELS[e.phase]} image ${e.image + 1}/${e.images}` : PHASE_LABELS[e.phase];
            progress.bar(label, e.steps, { unit: e.phase === 'decoding' ? 'tiles' : 'steps' });
          }
          progress.update(e.step);
          if (e.phase !== 'decoding' && e.step === e.steps && e.image === e.images - 1) {
            progress.done();
            progress.spinner('Decoding');
            phaseKey = '';
          }
        },
      },
      extra,
    );
    progress.done();
    await preview?.flush();
    const written = [];
    for (const [i, image] of images.entries()) {
      const file = expandTemplate(template, { seed: image.seed, date, prompt: slug(prompt), index: i + 1, model: pipe.model.name });
      const saved = await writeClaimed(file, values.force ?? false, (f) => image.save(f));
      written.push({ path: saved, seed: image.seed, width: image.width, height: image.height });
    }
    const elapsed = (performance.now() - started) / 1000;
    if (cli.json) {
      cli.printJson({ images: written.map((w) => ({ ...w, path: path.resolve(w.path) })), model: pipe.model.name, prompt, elapsed: Number(elapsed.toFixed(3)) });
    } else {
      for (const w of written) cli.print(`${w.path}  seed ${w.seed}`);
    }
  } catch (err) {
    progress.clear();
    throw err;
  } finally {
    await preview?.flush();
    await pipe?.dispose();
    interrupt.dispose();
  }
}
