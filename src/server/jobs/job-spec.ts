import type { FitMode } from '../../pipeline/image-input.js';
import type { HiresFixOptions } from '../../pipeline/options.js';
import type { MaskedContent } from '../../pipeline/inpaint-area.js';
import type { TrainingSpec } from '../training/training-spec.js';

/**
 * The one canonical description of a job. Every API dialect (v6 today; OpenAI and A1111 later) translates
 * its request into a JobSpec and its responses out of a JobRecord; workers execute JobSpecs. A parameter's
 * meaning is therefore decided once, here and in the worker's executor.
 */
export const JOB_TASKS = ['txt2img', 'img2img', 'inpaint', 'outpaint', 'controlnet', 'edit', 'upscale', 'txt2video', 'img2video', 'lora_train'] as const;
export type JobTask = (typeof JOB_TASKS)[number];

/** Images: png, jpeg, webp. Videos: mp4, webm, gif, webp (animated). */
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp', 'mp4', 'webm', 'gif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface JobLora {
  /** A LoRA in the server's LoRA folder, by file name without extension. */
  name: string;
  strength: number;
}

export interface JobSpec {
  task: JobTask;
  /** A served model id (checkpoint, or upscaler for 'upscale'). */
  model: string;
  prompt: string;
  negativePrompt: string;
  /** Output size; undefined = the input image's size (image tasks) or the model's native size. */
  width?: number;
  height?: number;
  samples: number;
  steps: number;
  guidanceScale: number;
  /** Seed of the first image, decided at submission so it is known before the job runs. */
  seed: number;
  sampler?: string;
  scheduler?: string;
  clipSkip?: number;
  loras: JobLora[];
  /** img2img / inpaint / controlnet: how much of the input to repaint. */
  strength?: number;
  /** img2img / inpaint / controlnet: how the input is brought to width x height (default 'cover': crop). */
  fit?: FitMode;
  /** Inpaint: blur of the mask edge in pixels (default 4). */
  maskBlur?: number;
  /** Inpaint: what the masked area starts from (default 'original'). */
  maskedContent?: MaskedContent;
  /** Inpaint only a crop around the mask, with this much context in pixels (A1111 inpaint_full_res). */
  onlyMaskedPadding?: number;
  /** Text to image (txt2img, controlnet without initImage): a refining second pass at a larger size. */
  hiresFix?: HiresFixOptions;
  /** Hires fix by a served ESRGAN upscaler (its model id); the worker gives the Pipeline its file. */
  hiresUpscalerModel?: string;
  /** Input images: file names inside the server's inputs folder. */
  initImage?: string;
  maskImage?: string;
  controlImage?: string;
  /** Edit: the reference images the instruction refers to (file names inside the inputs folder). */
  refImages?: string[];
  /** ControlNet model id. */
  controlnetModel?: string;
  controlStrength?: number;
  /** Turn controlImage into an edge map first (the v6 `auto_hint`). */
  preprocess?: 'canny';
  /** Outpaint: pixels added on each side. */
  extend?: { left: number; right: number; top: number; bottom: number };
  /** Upscale factor. */
  scale?: number;
  /** Video tasks: frames in the clip and its playback rate. */
  frames?: number;
  fps?: number;
  /** Video tasks: the noise schedule's flow shift (engine default when absent). */
  flowShift?: number;
  outputFormat: OutputFormat;
  /** The safety checker found the prompt unsafe: outputs are blurred and flagged. */
  nsfwPrompt: boolean;
  /** safety_checker "yes": outputs also go through the image classifier, when the server has one. */
  safetyCheck?: boolean;
  /** The random part of the output file names (drawn at submission; absent on jobs of older versions). */
  outputToken?: string;
  /** lora_train: what to train (the dataset is already checked and prepared in the training's folder). */
  training?: TrainingSpec;
}

export const JOB_STATUSES = ['queued', 'running', 'success', 'error', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobProgress {
  phase: string;
  step: number;
  steps: number;
  image: number;
  images: number;
  /** lora_train: the last step's loss and the estimated seconds left (from measured step times). */
  loss?: number;
  eta?: number;
}

/** One generated file of a finished job. */
export interface JobOutput {
  /** File name under the generations folder. */
  file: string;
  seed?: number;
  width: number;
  height: number;
  nsfw: boolean;
  /** Videos: frame count and rate. */
  frames?: number;
  fps?: number;
}

export interface JobRecord {
  id: number;
  status: JobStatus;
  task: JobTask;
  model: string;
  spec: JobSpec;
  /** Which API submitted it (shapes the responses and webhooks). */
  api: string;
  /** Extra, dialect-specific request data kept for the response (e.g. the v6 meta echo). */
  request: Record<string, unknown>;
  keyId: string | null;
  trackId: string | null;
  webhook: string | null;
  /** Origin used for output URLs in responses and webhooks. */
  baseUrl: string;
  attempts: number;
  /** Which engine worker runs it ("0", or "host:pid/0" across machines). */
  worker: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  outputs: JobOutput[];
  error: string | null;
  /** Machine-readable error code (the engine's, e.g. ERR_INVALID_ARG, or the server's). */
  errorCode: string | null;
  expired: boolean;
}

/** The output file names a job will have, known at submission ("future links"). */
/** Every input image a job keeps in the inputs folder: removed when it ends, staged where workers read them. */
export const inputFiles = (spec: JobSpec): string[] =>
  [spec.initImage, spec.maskImage, spec.controlImage, ...(spec.refImages ?? [])].filter((f): f is string => f !== undefined);

export const isVideoTask = (task: JobTask): boolean => task === 'txt2video' || task === 'img2video';

export function outputFileNames(id: number, spec: Pick<JobSpec, 'samples' | 'outputFormat' | 'task' | 'outputToken'>): string[] {
  const count = spec.task === 'upscale' || isVideoTask(spec.task) ? 1 : spec.samples;
  const ext = spec.outputFormat === 'jpeg' ? 'jpg' : spec.outputFormat;
  // The token makes a name unguessable from the (sequential) job id: see security/output-links.ts.
  const stem = spec.outputToken ? `${id}-${spec.outputToken}` : String(id);
  return Array.from({ length: count }, (_, i) => `${stem}-${i}.${ext}`);
}
