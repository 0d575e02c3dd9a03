import type { JobOutput, JobProgress, JobSpec } from '../jobs/job-spec.js';
import type { ServedModel } from '../models/model-registry.js';
import type { ResolvedNsfwOptions } from '../../safety/nsfw-classifier.js';
import type { ResolvedClassifierOptions } from '../safety/image-classifier.js';

/** What a worker process needs to know, sent once after it starts. */
export interface WorkerSettings {
  worker: number;
  models: ServedModel[];
  loraDir?: string;
  embeddingDir?: string;
  threads: number;
  /** The device this worker's Pipelines run on ('auto', 'cpu', 'cuda:1', ...; docs/gpu.md). */
  device: string;
  modelMemoryBudget: number;
  inputsDir: string;
  outputsDir: string;
  /** The classifier `safety_checker: "yes"` runs on outputs, when one is configured. */
  safetyClassifier?: ResolvedClassifierOptions;
  /** The trained nsfwjs classifier run instead when no ONNX one is configured. */
  nsfwClassifier?: ResolvedNsfwOptions;
  /** lora_train jobs: where trainings keep their datasets and checkpoints, and the trainer's environment. */
  trainingDir?: string;
  trainerVenv?: string;
}

export type ToWorker =
  | { type: 'init'; settings: WorkerSettings }
  | { type: 'run'; job: { id: number; spec: JobSpec; outputNames: string[] } }
  | { type: 'cancel'; id: number };

/** The latest preview of a running job: raw pixels of the Pipeline's cheap 'proj' preview (latent resolution). */
export interface JobPreview {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

export interface WorkerError {
  code: string;
  message: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'models'; loaded: string[] }
  | { type: 'progress'; id: number; progress: JobProgress; preview?: JobPreview }
  | { type: 'done'; id: number; outputs: JobOutput[] }
  | { type: 'failed'; id: number; error: WorkerError; cancelled: boolean };
