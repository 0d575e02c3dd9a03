import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { NativeImage, NativeProgressCallback, NativeVideoParams } from '../engine/binding.js';
import { InvalidArgumentError } from '../errors.js';
import { wanVariant, type ModelFileInfo, type WanVariant } from '../models/inspect.js';
import { defined, integerIn, invalidParameter, isPlainObject, isString, numberIn, optionalFunction, optionalSignal, optionalString } from '../util/is.js';
import { VERSION } from '../version.js';
import { GeneratedImage } from './generated-image.js';
import type { ImageInput } from './image-input.js';
import { formatInfotext, type GenerationParameters } from './infotext.js';
import { extractLoras, resolveLoras, type LoraSpec } from './loras.js';
import type { ProgressEvent, StepCacheOptions } from './options.js';
import { stepCacheParams } from './step-cache.js';
import type { GenerationDefaults } from '../models/family-defaults.js';
import { resolveSampler, resolveScheduler, type Sampler, type Scheduler } from './samplers.js';
import { encodeVideo, videoFormatOf, type VideoEncodeOptions, type VideoFormat } from './video-encode.js';

export interface VideoOptions {
  prompt: string;
  negativePrompt?: string;
  /** Frames in the clip, 1-257. Default 33 (about 2 s at 16 fps). The engine samples 4n+1 frames; extra ones are dropped. */
  frames?: number;
  /** Playback rate of the encoded clip, 1-120. Default the model's: 16 for Wan 2.1, 24 for Wan2.2 TI2V 5B. */
  fps?: number;
  /** Multiple of 16 (of 32 for Wan2.2 TI2V 5B), 64-2048. Default the model's (`pipe.info.defaults`): 832x480, 832x704 for TI2V 5B. */
  width?: number;
  height?: number;
  /** Sampling steps, 1-150. Default the model's (20). */
  steps?: number;
  /** Classifier-free guidance scale, 0-30. Default the model's (6). */
  guidanceScale?: number;
  /** Seed; random when omitted. */
  seed?: number;
  /** Default 'euler' (Wan is a flow-matching model). */
  sampler?: Sampler | (string & {});
  scheduler?: Scheduler | (string & {});
  /** Step caching (see docs/families.md). */
  cache?: StepCacheOptions;
  /** Flow shift of the noise schedule (Wan: 3 for 480p, 5 for 720p). Default the engine's for the model. */
  flowShift?: number;
  /**
   * Image to video. Wan2.2 TI2V 5B (and the I2V models) start the clip from this frame; text-to-video models
   * start every frame from it, noised to `strength`. Fitted to the size like img2img's `fit: 'cover'`.
   */
  initImage?: ImageInput;
  /** With `initImage` on a text-to-video model: 0 keeps the still, 1 replaces it. Default 0.75. */
  strength?: number;
  loras?: LoraSpec[];
  signal?: AbortSignal;
  /** Sampling progress; `images` is 1 (the clip). */
  onProgress?: (event: ProgressEvent) => void;
}

/** What made a clip: the image parameters plus the clip's own. */
export interface VideoParameters extends GenerationParameters {
  frames: number;
  fps: number;
}

/** A generated clip: its frames as images, and encoders to video files. */
export class GeneratedVideo {
  readonly frames: GeneratedImage[];
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly seed: number;
  readonly parameters: VideoParameters;

  constructor(frames: GeneratedImage[], parameters: VideoParameters) {
    this.frames = frames;
    this.parameters = parameters;
    this.fps = parameters.fps;
    this.width = parameters.width;
    this.height = parameters.height;
    this.seed = parameters.seed;
  }

  /** Seconds of playback. */
  get duration(): number {
    return this.frames.length / this.fps;
  }

  /** MP4 (H.264) or WebM (VP9) through ffmpeg, animated WebP or GIF through sharp. MP4/WebM carry the infotext as comment. */
  encode(format: VideoFormat, options: VideoEncodeOptions = {}): Promise<Buffer> {
    return encodeVideo(this.frames, this.fps, format, { comment: this.frames[0]?.infotext, ...options });
  }

  /** Writes the clip; the format follows the extension (.mp4, .webm, .webp, .gif). */
  async save(file: string, options?: VideoEncodeOptions): Promise<void> {
    if (!isString(file) || file.length === 0) throw invalidParameter('file', 'non-empty path', file);
    await fs.writeFile(file, await this.encode(videoFormatOf(file), options));
  }
}

/** What the video calls of a Pipeline need to know about its model. */
export interface VideoModel {
  name: string;
  /** The model's defaults (family-defaults.ts): size, frames, fps, steps, CFG, sampler. */
  defaults: GenerationDefaults;
  /** The diffusion model's file (a Wan DiT). */
  file: ModelFileInfo;
}

export interface PreparedVideo {
  native: NativeVideoParams;
  parameters: VideoParameters;
  initImage?: ImageInput;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

const MAX_SEED = 2 ** 53 - 1;

/** Per Wan variant: the side multiple (VAE factor x patch size). */
const VARIANT_MULTIPLE: Record<WanVariant, number> = { t2v: 16, i2v: 16, ti2v: 32 };

/** Checks and resolves a video call's options (everything but decoding the init image). */
export function prepareVideo(options: VideoOptions, model: VideoModel, loraDir: string | undefined): PreparedVideo {
  if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
  const variant = wanVariant(model.file);
  if (!variant) throw new InvalidArgumentError('model', `generateVideo needs a video model (Wan); ${model.file.path} is not one`);
  const multiple = VARIANT_MULTIPLE[variant];
  const defaults = model.defaults;
  if (!isString(options.prompt)) throw invalidParameter('prompt', 'string', options.prompt);
  const negativePrompt = optionalString('negativePrompt', options.negativePrompt) ?? '';
  const side = (parameter: 'width' | 'height', fallback: number) => {
    const v = integerIn(parameter, options[parameter], 64, 2048, fallback);
    if (v % multiple !== 0) throw invalidParameter(parameter, `multiple of ${multiple} between 64 and 2048 for this model`, options[parameter]);
    return v;
  };
  const width = side('width', defaults.width);
  const height = side('height', defaults.height);
  const frames = integerIn('frames', options.frames, 1, 257, defaults.frames ?? 33);
  const fps = numberIn('fps', options.fps, 1, 120, defaults.fps ?? 16);
  const steps = integerIn('steps', options.steps, 1, 150, defaults.steps);
  const guidanceScale = numberIn('guidanceScale', options.guidanceScale, 0, 30, defaults.guidanceScale);
  const seed = defined(options.seed) ? integerIn('seed', options.seed, 0, MAX_SEED) : crypto.randomInt(0, 2 ** 32);
  const choice = defined(options.sampler) ? resolveSampler('sampler', options.sampler) : { sampler: defaults.sampler, scheduler: defaults.scheduler };
  const scheduler = defined(options.scheduler) ? resolveScheduler('scheduler', options.scheduler) : choice.scheduler;
  const flowShift = defined(options.flowShift) ? numberIn('flowShift', options.flowShift, 0.01, 100) : undefined;
  const initImage = defined(options.initImage) ? (options.initImage as ImageInput) : undefined;
  if (!initImage && defined(options.strength)) throw new InvalidArgumentError('strength', 'strength needs an initImage');
  // The image-conditioned variants take the frame as it is; strength is the text-to-video models' still-to-clip amount.
  if (variant !== 't2v' && defined(options.strength)) {
    throw new InvalidArgumentError('strength', 'strength is for text-to-video models; this model starts the clip from initImage as it is');
  }
  const strength = initImage && variant === 't2v' ? numberIn('strength', options.strength, 0, 1, 0.75) : undefined;
  const fromPrompt = extractLoras(options.prompt, loraDir);
  const loras = [...fromPrompt.loras, ...resolveLoras(options.loras, loraDir)];
  const native: NativeVideoParams = {
    prompt: fromPrompt.prompt, negativePrompt, width, height,
    // The engine samples 4n+1 frames (its VAE packs 4 frames per latent after the first): ask for enough.
    frames: Math.ceil((frames - 1) / 4) * 4 + 1,
    steps, guidanceScale, seed, sampler: choice.sampler, scheduler, flowShift, strength, loras, cache: stepCacheParams('cache', options.cache),
  };
  const parameters: VideoParameters = {
    prompt: options.prompt, negativePrompt, steps, sampler: choice.sampler, scheduler, guidanceScale, seed, width, height,
    model: model.name, batchSize: frames, batchIndex: 0, denoisingStrength: strength, frames, fps,
  };
  return {
    native, parameters, initImage,
    signal: optionalSignal('signal', options.signal),
    onProgress: optionalFunction<(e: ProgressEvent) => void>('onProgress', options.onProgress),
  };
}

/** The engine's frames, trimmed to the count asked for, as a clip. */
export function videoFromFrames(images: NativeImage[], job: PreparedVideo): GeneratedVideo {
  const { parameters } = job;
  const frames = images.slice(0, parameters.frames).map((image, i) => {
    const frame = { ...parameters, batchIndex: i };
    return new GeneratedImage({ ...image, parameters: frame, infotext: formatInfotext(frame, VERSION) });
  });
  return new GeneratedVideo(frames, { ...parameters, frames: frames.length });
}

/**
 * Video progress: every sampling run is phase 'sampling', counted on from the previous one, so Wan2.2 A14B's
 * two experts (high noise, then low noise) read as one run of `total` steps (known up front only then).
 */
export function videoProgressReporter(onProgress: (e: ProgressEvent) => void, started: number, total?: number): NativeProgressCallback {
  let offset = 0;
  let last = 0;
  let runSteps = 0;
  return (step, steps) => {
    if (step === 0 || steps === 0) return; // run announcements and previews
    if (step < last) offset += runSteps; // the next expert's run began
    last = step;
    runSteps = steps;
    onProgress({ phase: 'sampling', step: offset + step, steps: total ?? offset + steps, image: 0, images: 1, elapsed: (performance.now() - started) / 1000 });
  };
}
