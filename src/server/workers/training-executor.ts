import fs from 'node:fs/promises';
import path from 'node:path';
import { train } from '../../training/train.js';
import type { JobProgress, JobSpec } from '../jobs/job-spec.js';
import type { ServedModel } from '../models/model-registry.js';
import { trainingFolder } from '../training/training-spec.js';

export interface TrainingSettings {
  /** Where each training keeps its dataset and checkpoints (one folder per training id). */
  trainingDir: string;
  /** Where the trained LoRA is written, as <training id>.safetensors. */
  loraDir: string;
  trainerVenv?: string;
  threads: number;
}

/** Checkpoints about every tenth of the run (at least every step for short runs, at most every 100 steps). */
export const checkpointInterval = (steps: number): number => Math.min(100, Math.max(1, Math.round(steps / 10)));

/**
 * Runs a lora_train job: the trainer on the dataset prepared at submission, checkpointing into the training's
 * folder, so a run whose worker died resumes from its last checkpoint when the job is run again. The LoRA is
 * written into the LoRA folder under the training id; the folder is removed once the LoRA is there.
 */
export async function runTrainingJob(spec: JobSpec, base: ServedModel, settings: TrainingSettings, signal: AbortSignal, onProgress: (p: JobProgress) => void): Promise<void> {
  const training = spec.training!;
  const folder = trainingFolder(settings.trainingDir, training.trainingId);
  await train({
    base: base.path,
    images: path.join(folder, 'dataset'),
    output: path.join(settings.loraDir, `${training.trainingId}.safetensors`),
    steps: training.steps,
    rank: training.rank,
    loraType: training.loraType === 'lycoris' ? 'loha' : 'lora',
    learningRate: training.learningRate,
    resolution: training.resolution,
    seed: spec.seed,
    threads: settings.threads,
    venv: settings.trainerVenv,
    workDir: path.join(folder, 'run'),
    checkpointEvery: checkpointInterval(training.steps),
    signal,
    onProgress: (p) => onProgress({ phase: p.phase, step: p.step, steps: p.steps, image: 0, images: 1, loss: p.loss, eta: p.eta }),
  });
  await fs.rm(folder, { recursive: true, force: true });
}
