import path from 'node:path';
import { parseArgs } from 'node:util';
import { LORA_TYPES, train, TRAINING_DEVICES, type TrainingProgress } from '../../training/train.js';
import { loadConfig } from '../config.js';
import { createCli, EXIT_CODES_HELP, numberFlag, OUTPUT_HELP, OUTPUT_OPTIONS } from '../context.js';
import { handleInterrupts } from '../interrupt.js';
import { claimFile } from '../output.js';
import { formatDuration } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit train: train a LoRA on a base model from a folder of images

Usage:
  diffusekit train --base MODEL --images DIR --prompt "photo of sks dog" [--steps N] [-o OUT.safetensors]

Options:
      --base MODEL        the base model, by path or library name: a diffusers folder (SD 1.x, 2.x or SDXL:
                          unet/, vae/, text_encoder/, text_encoder_2/) or an SD 1.x or SDXL .safetensors
                          checkpoint (converted to one first)
      --images DIR        the training images (png, jpeg, webp, bmp, tiff); IMAGE.txt beside an image is its caption
  -p, --prompt TEXT       the caption of every image without a .txt (the instance prompt)
      --steps N           optimizer steps (default 500)
      --lora-type T       lora (default: kohya LoRA) or loha (LyCORIS LoHa)
      --rank N            LoRA rank (default 16)
      --alpha N           LoRA alpha (default the rank)
      --lr N              learning rate (default 0.0001)
      --resolution N      square training size (default the model's own: 512 for SD 1.x, 1024 for SDXL)
      --seed N            seed (default 0)
      --threads N         CPU threads of the trainer (default torch's choice)
      --device D          ${TRAINING_DEVICES.join(', ')} (default auto: CUDA when present)
      --work-dir DIR      keep the prepared dataset and checkpoints here: the same command again resumes
      --checkpoint-every N  steps between checkpoints (default 50 with --work-dir)
      --venv DIR          the trainer's environment (default as 'diffusekit trainer setup' installs it)
  -o, --output FILE       the LoRA (.safetensors; default lora.safetensors); an existing file is never replaced
  -f, --force             replace an existing output file

${OUTPUT_HELP}

${EXIT_CODES_HELP}

The trainer is a Python program (diffusers + peft) in its own virtual environment: install it once with
'diffusekit trainer setup'. The LoRA is written in the kohya layout (a LoHa in LyCORIS's) that 'generate --lora' and
<lora:name:weight> read.

Examples:
  diffusekit trainer setup
  diffusekit train --base ~/models/sd15-diffusers --images ./dog --prompt "photo of sks dog" --steps 400 -o sks.safetensors
  diffusekit generate "photo of sks dog on a beach <lora:sks:0.8>" -m ~/models/sd15-diffusers --lora-dir .
  diffusekit train --base ~/models/sd_xl_base_1.0.safetensors --images ./dog -p "photo of sks dog" -o sks-xl.safetensors
`;

/** `diffusekit train --base MODEL --images DIR --prompt TEXT`. */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      base: { type: 'string' },
      images: { type: 'string' },
      prompt: { type: 'string', short: 'p' },
      steps: { type: 'string' },
      rank: { type: 'string' },
      'lora-type': { type: 'string' },
      alpha: { type: 'string' },
      lr: { type: 'string' },
      resolution: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      'work-dir': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      venv: { type: 'string' },
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean', short: 'f' },
      ...OUTPUT_OPTIONS,
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  if (positionals.length > 0) throw new UsageError(`train takes no positional arguments (got '${positionals[0]}'): give --base, --images and --prompt`);
  const base = values.base ?? loadConfig().values.model;
  if (!base) throw new UsageError('train needs --base MODEL (a diffusers folder, or an SD 1.x / SDXL .safetensors)');
  if (!values.images) throw new UsageError('train needs --images DIR');
  const output = values.output ?? 'lora.safetensors';
  if (!output.endsWith('.safetensors')) throw new UsageError(`--output must end in .safetensors, got '${output}'`);
  if (values['lora-type'] !== undefined && !(LORA_TYPES as readonly string[]).includes(values['lora-type'])) throw new UsageError(`--lora-type must be one of ${LORA_TYPES.join(', ')}`);
  if (values.device !== undefined && !(TRAINING_DEVICES as readonly string[]).includes(values.device)) throw new UsageError(`--device must be one of ${TRAINING_DEVICES.join(', ')}`);

  const { progress } = cli;
  const interrupt = handleInterrupts(progress);
  const saved = claimFile(output, values.force ?? false);
  let phase: TrainingProgress['phase'] | undefined;
  const onProgress = (p: TrainingProgress) => {
    if (p.phase !== phase) {
      if (phase === 'training') progress.done();
      phase = p.phase;
      if (p.phase === 'preparing') progress.spinner('Checking and cropping the images');
      if (p.phase === 'loading') progress.spinner('Loading the base model in the trainer');
      if (p.phase === 'training') progress.bar('Training', p.steps);
    }
    if (p.phase === 'training' || p.phase === 'saving') progress.update(p.step, p.loss === undefined ? undefined : `loss ${p.loss.toFixed(4)}`);
  };
  try {
    const result = await train({
      base,
      images: values.images,
      instancePrompt: values.prompt,
      output: saved,
      steps: numberFlag('steps', values.steps, true),
      rank: numberFlag('rank', values.rank, true),
      loraType: values['lora-type'] as (typeof LORA_TYPES)[number] | undefined,
      alpha: numberFlag('alpha', values.alpha),
      learningRate: numberFlag('lr', values.lr),
      resolution: numberFlag('resolution', values.resolution, true),
      seed: numberFlag('seed', values.seed, true),
      threads: numberFlag('threads', values.threads, true),
      device: values.device as (typeof TRAINING_DEVICES)[number] | undefined,
      workDir: values['work-dir'],
      checkpointEvery: numberFlag('checkpoint-every', values['checkpoint-every'], true),
      venv: values.venv,
      signal: interrupt.signal,
      onProgress,
    });
    progress.done(`Trained ${result.steps} steps on ${result.images} images in ${formatDuration(result.seconds)}${result.resumedFrom ? ` (resumed at step ${result.resumedFrom})` : ''}`);
    if (cli.json) cli.printJson({ ...result, path: path.resolve(saved) });
    else cli.print(saved);
  } catch (err) {
    progress.clear();
    if (!values.force) (await import('node:fs')).rmSync(saved, { force: true });
    throw err;
  } finally {
    interrupt.dispose();
  }
}
