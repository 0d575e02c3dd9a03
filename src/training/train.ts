import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { resolveModel } from '../models/library.js';
import { integerIn, invalidParameter, isString, numberIn, oneOf, optionalFunction, optionalSignal, optionalString } from '../util/is.js';
import { checkpointArchitecture, checkpointToDiffusers } from './checkpoint-to-diffusers.js';
import { datasetFromFolder, prepareDataset, type DatasetImage } from './dataset.js';
import { TRAINER_SCRIPT, trainerPython } from './trainer-environment.js';
import { runTrainer, type TrainerEvent } from './trainer-process.js';

export const TRAINING_DEVICES = ['auto', 'cpu', 'cuda'] as const;
/** 'lora': a kohya LoRA; 'loha': a LyCORIS LoHa (two Hadamard-multiplied low-rank pairs per layer). */
export const LORA_TYPES = ['lora', 'loha'] as const;

export interface TrainingProgress {
  /** 'preparing' (dataset checks and crops), 'loading' (the trainer loads the model), 'training', 'saving'. */
  phase: 'preparing' | 'loading' | 'training' | 'saving';
  step: number;
  steps: number;
  /** The last step's loss (training phase). */
  loss?: number;
  /** Seconds the last step took, and the estimated seconds left (from the last steps' times). */
  stepSeconds?: number;
  eta?: number;
}

export interface TrainOptions {
  /**
   * The base model, by path or library name: a diffusers folder (unet/, vae/, text_encoder/, and text_encoder_2/
   * for SDXL; SD 1.x, 2.x or SDXL) or a single-file SD 1.x or SDXL checkpoint (.safetensors), which is converted to
   * a diffusers folder in the work folder first.
   */
  base: string;
  /** A folder of images (captions from same-named .txt files), a list of image files, or prepared entries. */
  images: string | string[] | DatasetImage[];
  /** The caption of every image that has no .txt of its own (e.g. "photo of sks dog"). */
  instancePrompt?: string;
  /** The LoRA file to write (.safetensors). */
  output: string;
  /** Optimizer steps. Default 500. */
  steps?: number;
  /** 'lora' (default) or 'loha' (LyCORIS LoHa, written in LyCORIS's hada_w1_a... layout). */
  loraType?: (typeof LORA_TYPES)[number];
  /** LoRA rank (network dim). Default 16. */
  rank?: number;
  /** LoRA alpha. Default the rank. */
  alpha?: number;
  /** AdamW learning rate. Default 1e-4. */
  learningRate?: number;
  /** Square training size; default the base model's native size (512 for SD 1.x, 1024 for SDXL). */
  resolution?: number;
  seed?: number;
  /** CPU threads of the trainer; default torch's own choice. */
  threads?: number;
  /** 'auto' (CUDA when present), 'cpu' or 'cuda'. */
  device?: (typeof TRAINING_DEVICES)[number];
  /** The trainer's virtual environment (see `diffusekit trainer setup`). */
  venv?: string;
  /** Keeps the prepared dataset and checkpoints here; a run started again with the same folder resumes. Default a temporary folder, removed after. */
  workDir?: string;
  /** Steps between checkpoints (0: none). Default 0 without workDir, else every 50 steps. */
  checkpointEvery?: number;
  /** Largest dataset accepted. Default 200 images. */
  maxImages?: number;
  onProgress?: (progress: TrainingProgress) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  /** The LoRA written (kohya layout: lora_unet_*.lora_down / lora_up / alpha; LoHa: hada_w1_a / w1_b / w2_a / w2_b / alpha). */
  path: string;
  steps: number;
  images: number;
  /** The step the run resumed from (a checkpoint in workDir), 0 for a fresh run. */
  resumedFrom: number;
  /** The last step's loss. */
  loss: number | undefined;
  /** Median seconds of one optimizer step, and of the whole run. */
  stepSeconds: number | undefined;
  seconds: number;
}

/** Native square sizes of the single-file layouts the trainer takes. */
const CHECKPOINT_RESOLUTION = { sd1: 512, sdxl: 1024 } as const;

/**
 * The native square size of a base: a diffusers folder's UNet sample size times the VAE's downscale (SD 1.x 512,
 * SD 2.x 768, SDXL 1024); 512 for an SD 1.x file, 1024 for an SDXL one.
 */
export function nativeResolution(base: string): number {
  if (!fs.statSync(base).isDirectory()) return CHECKPOINT_RESOLUTION[checkpointArchitecture(base)];
  const read = (part: string) => JSON.parse(fs.readFileSync(path.join(base, part, 'config.json'), 'utf8')) as Record<string, unknown>;
  const unet = read('unet');
  const vaeBlocks = (read('vae').block_out_channels as unknown[] | undefined)?.length ?? 4;
  return Number(unet.sample_size ?? 64) * 2 ** (vaeBlocks - 1);
}

async function datasetImages(images: TrainOptions['images']): Promise<DatasetImage[]> {
  if (isString(images)) return datasetFromFolder(images);
  if (!Array.isArray(images)) throw invalidParameter('images', 'folder, array of image files or of { source, label, caption }', images);
  return images.map((entry, i) => {
    if (isString(entry)) return { source: entry, label: path.basename(entry) };
    if (entry && (isString(entry.source) || Buffer.isBuffer(entry.source))) return entry;
    throw invalidParameter(`images[${i}]`, 'image file or { source, label, caption }', entry);
  });
}

/**
 * Trains a LoRA on a base model from a few images, in the trainer's Python environment (diffusers + peft), and
 * writes it as .safetensors that `Pipeline.generate({ loras })` and `<lora:name:weight>` load. Bad datasets are
 * refused before the trainer starts; `signal` stops the run (AbortError).
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = Date.now();
  const output = optionalString('output', options.output);
  if (!output || !output.endsWith('.safetensors')) throw invalidParameter('output', 'path of a .safetensors file', options.output);
  const steps = integerIn('steps', options.steps, 1, 100_000, 500);
  const rank = integerIn('rank', options.rank, 1, 1024, 16);
  const alpha = numberIn('alpha', options.alpha, 0, 100_000, rank);
  const learningRate = numberIn('learningRate', options.learningRate, 0, 1, 1e-4);
  const seed = integerIn('seed', options.seed, 0, 0xffffffff, 0);
  const threads = integerIn('threads', options.threads, 0, 1024, 0);
  const device = oneOf('device', options.device ?? 'auto', TRAINING_DEVICES);
  const onProgress = optionalFunction<(p: TrainingProgress) => void>('onProgress', options.onProgress);
  const signal = optionalSignal('signal', options.signal);
  const loraType = oneOf('loraType', options.loraType ?? 'lora', LORA_TYPES);
  const base = await resolveModel(options.base, { label: 'base' });
  const isFolder = fs.statSync(base).isDirectory();
  if (isFolder && !fs.existsSync(path.join(base, 'unet', 'config.json'))) {
    throw new InvalidArgumentError('base', `The base model ${base} is not a diffusers folder (unet/, vae/, text_encoder/): the trainer loads diffusers folders and SD 1.x / SDXL .safetensors files`);
  }
  if (!isFolder && !base.endsWith('.safetensors')) throw new InvalidArgumentError('base', `The base model ${base} is neither a diffusers folder nor an SD 1.x / SDXL .safetensors checkpoint`);
  const resolution = integerIn('resolution', options.resolution, 64, 2048, nativeResolution(base));
  if (resolution % 8 !== 0) throw invalidParameter('resolution', 'multiple of 8', resolution);
  const python = trainerPython(options.venv);

  const workDir = options.workDir ? path.resolve(options.workDir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'diffusekit-train-'));
  const checkpointEvery = integerIn('checkpointEvery', options.checkpointEvery, 0, 100_000, options.workDir ? 50 : 0);
  try {
    onProgress?.({ phase: 'preparing', step: 0, steps });
    const dataset = await prepareDataset(await datasetImages(options.images), {
      dir: path.join(workDir, 'dataset'),
      resolution,
      instancePrompt: options.instancePrompt,
      maxImages: options.maxImages,
    });
    if (signal?.aborted) throw new AbortError('Training was aborted', { cause: signal.reason });
    const baseDir = isFolder ? base : checkpointToDiffusers(base, path.join(workDir, 'base-diffusers'));
    let resumedFrom = 0;
    let loss: number | undefined;
    const onEvent = (event: TrainerEvent) => {
      if (event.event === 'loading') onProgress?.({ phase: 'loading', step: 0, steps });
      if (event.event === 'resumed') resumedFrom = event.step;
      if (event.event === 'step') {
        loss = event.loss;
        onProgress?.({ phase: event.step === steps ? 'saving' : 'training', step: event.step, steps, loss: event.loss, stepSeconds: event.seconds, eta: event.eta });
      }
    };
    const args = [
      TRAINER_SCRIPT, '--model', baseDir, '--lora-type', loraType, '--data', dataset.dir, '--output', path.resolve(output), '--steps', String(steps), '--rank', String(rank),
      '--alpha', String(alpha), '--learning-rate', String(learningRate), '--seed', String(seed), '--threads', String(threads), '--device', device,
      '--checkpoint-dir', workDir, '--checkpoint-every', String(checkpointEvery), '--base-model-name', path.basename(base),
    ];
    const done = await runTrainer(python, args, { signal, onEvent });
    return {
      path: path.resolve(output),
      steps,
      images: dataset.items.length,
      resumedFrom,
      loss,
      stepSeconds: done.step_seconds ?? undefined,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    if (!options.workDir) await fsp.rm(workDir, { recursive: true, force: true });
  }
}
