import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  nativeBinding, type NativeContext, type NativeGenerateParams, type NativeImage, type NativeLoadParams,
} from '../engine/binding.js';
import { useDirectConvolution } from '../engine/info.js';
import { logLevelFromNative, logLevelToNative } from '../engine/logging.js';
import { AbortError, DisposedError, InvalidArgumentError, ModelLoadError } from '../errors.js';
import { isComponentFolder, readComponentSet } from '../models/component-set.js';
import { COMPONENT_KEYS } from '../models/components.js';
import { resolveModel } from '../models/library.js';
import { checkComponents } from '../models/component-check.js';
import { editsWithReferences, familyDefaults, modelVariant, type GenerationDefaults, type ModelVariant } from '../models/family-defaults.js';
import { contextFamily, detectFamily, loraFamily, inspectModelFile, type ModelFamily, type ModelFileInfo } from '../models/inspect.js';
import {
  defined, integerIn, invalidParameter, isPlainObject, isString, numberIn, oneOf, optionalBoolean, optionalFunction, optionalSignal, optionalString,
} from '../util/is.js';
import { VERSION } from '../version.js';
import { GeneratedImage } from './generated-image.js';
import { formatInfotext, type GenerationParameters } from './infotext.js';
import { openImage, padToCanvas, rgbImage, type ImageInput } from './image-input.js';
import { align64, img2imgTask, inpaintTask, outpaintTask, referenceEditTask, type ImageTask } from './image-tasks.js';
import { extractLoras, resolveLoras } from './loras.js';
import { placeOnDevice, type DevicePlacement } from './device-placement.js';
import { pipelineInfo, type PipelineInfo } from './pipeline-info.js';
import {
  A1111_HIRES_UPSCALER_NAMES, CPU_PRECISIONS, HIRES_UPSCALERS, LORA_APPLY_MODES, WEIGHT_TYPES, type EditOptions, type GenerateOptions, type Img2ImgOptions, type InpaintOptions, type OutpaintOptions, type LoadOptions, type ProgressEvent, type VaeTilingOptions,
} from './options.js';
import { resolveSampler, resolveScheduler, type Scheduler } from './samplers.js';
import { abortErrorFor, SerialQueue } from './serial-queue.js';
import { engineFailure, progressReporter } from './engine-call.js';
import { stepCacheParams } from './step-cache.js';
import { prepareVideo, videoFromFrames, videoProgressReporter, type GeneratedVideo, type PreparedVideo, type VideoOptions } from './video.js';
import { hasPromptRewrite, withRewrittenPrompt } from './prompt-options.js';

const MAX_SEED = 2 ** 53 - 1;

export interface ModelInfo {
  /** Name used in infotext: the checkpoint's file name without extension. */
  name: string;
  family: ModelFamily;
  /** A distilled or specialised checkpoint of the family (turbo, lightning, LCM, schnell, Kontext, edit, klein...). */
  variant?: ModelVariant;
  /** What a call that says nothing uses: size, steps, CFG, distilled guidance, sampler (family-defaults.ts). */
  defaults: GenerationDefaults;
  files: ModelFileInfo[];
}

/**
 * A loaded model. Calls run one at a time in call order on a worker thread; the event loop stays free.
 * Free the native memory with `dispose()` (or `await using`).
 */
export class Pipeline {
  readonly model: ModelInfo;
  /** What the engine loaded: version, prediction type, default size, weight types, memory. */
  readonly info: PipelineInfo;
  #native: NativeContext;
  #queue = new SerialQueue();
  #loraDir: string | undefined;
  #vaeTiling: VaeTilingOptions | undefined;
  /** Loaded with freeParamsImmediately: the weights are gone after one generation. */
  #oneShot: boolean;
  /** Name of the loaded ControlNet, if any. */
  #controlNet: string | undefined;
  #hasTaesd: boolean;
  #hasHighNoise: boolean;
  #spent = false;
  #disposed = false;

  private constructor(
    native: NativeContext,
    model: ModelInfo,
    settings: { loraDir?: string; vaeTiling?: VaeTilingOptions; oneShot: boolean; controlNet?: string; hasTaesd: boolean; hasHighNoise: boolean; placed: DevicePlacement },
  ) {
    this.#native = native;
    this.model = model;
    this.info = pipelineInfo(model, native.loadLog, settings.placed.device, settings.placed.placement);
    this.#loraDir = settings.loraDir;
    this.#vaeTiling = settings.vaeTiling;
    this.#oneShot = settings.oneShot;
    this.#controlNet = settings.controlNet;
    this.#hasTaesd = settings.hasTaesd;
    this.#hasHighNoise = settings.hasHighNoise;
  }

  /** Validates the model files, then loads them on a worker thread. */
  static async load(options: LoadOptions): Promise<Pipeline> {
    if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
    const signal = optionalSignal('signal', options.signal);
    const checkAborted = () => {
      if (signal?.aborted) throw abortErrorFor(signal);
    };
    checkAborted();
    const params: NativeLoadParams = {};
    const files: ModelFileInfo[] = [];
    const byKey: Record<string, ModelFileInfo> = {};
    const names: string[] = [];
    const modelsDir = optionalString('modelsDir', options.modelsDir);
    let folderName: string | undefined;
    for (const key of COMPONENT_KEYS) {
      const file = optionalString(key, options[key]);
      if (file === undefined) continue;
      if (file.length === 0) throw invalidParameter(key, 'non-empty path', file);
      const label = key === 'model' ? 'model' : `${key} model`;
      const resolved = await resolveModel(file, { label, dir: modelsDir }); // a path as given, else a library name or pulled alias
      if (key === 'model' && (await isComponentFolder(resolved))) {
        // A split model's folder: its files fill the components the options leave out.
        const set = await readComponentSet(resolved);
        folderName = set.name;
        names.push(file, set.name);
        for (const [part, partFile] of Object.entries(set.components)) {
          if (part !== 'model' && options[part as keyof LoadOptions] !== undefined) continue;
          byKey[part] = set.files.find((f) => f.path === partFile)!;
          files.push(byKey[part]);
          params[part as keyof NativeLoadParams] = partFile as never;
        }
        continue;
      }
      const info = await inspectModelFile(resolved, label);
      files.push(info);
      byKey[key] = info;
      if (key === 'model' || key === 'diffusionModel') names.push(file, path.basename(resolved));
      params[key] = resolved;
      checkAborted();
    }
    if (!params.model && !params.diffusionModel) throw invalidParameter('model', 'path to a checkpoint (or diffusionModel)', options.model);
    if (defined(options.weightType)) params.weightType = oneOf('weightType', options.weightType, WEIGHT_TYPES);
    if (defined(options.threads)) params.threads = integerIn('threads', options.threads, 1, 1024);
    params.convDirect = useDirectConvolution();
    params.cpuBf16 = !defined(options.cpuPrecision) || oneOf('cpuPrecision', options.cpuPrecision, CPU_PRECISIONS) === 'auto';
    params.vaeDecodeOnly = optionalBoolean('vaeDecodeOnly', options.vaeDecodeOnly) ?? false;
    params.freeParamsImmediately = optionalBoolean('freeParamsImmediately', options.freeParamsImmediately) ?? false;
    params.mmap = optionalBoolean('mmap', options.mmap);
    params.taesdPreviewOnly = optionalBoolean('taesdPreviewOnly', options.taesdPreviewOnly);
    if (defined(options.prediction)) {
      const prediction = oneOf('prediction', options.prediction, ['eps', 'v', 'edm_v', 'flow'] as const);
      params.prediction = prediction === 'flow' ? 'sd3_flow' : prediction;
    }
    const loraDir = optionalString('loraDir', options.loraDir);
    params.embeddings = listEmbeddings(optionalString('embeddingDir', options.embeddingDir));
    params.loraApplyMode = defined(options.loraApplyMode) ? oneOf('loraApplyMode', options.loraApplyMode, LORA_APPLY_MODES) : 'at_runtime';
    const vaeTiling = normalizeVaeTiling('vaeTiling', options.vaeTiling);
    const onLog = optionalFunction<NonNullable<LoadOptions['onLog']>>('onLog', options.onLog);
    const onProgress = optionalFunction<NonNullable<LoadOptions['onProgress']>>('onProgress', options.onProgress);
    const minLevel = logLevelToNative('logLevel', options.logLevel ?? 'info');

    // The family is the diffusion model's (a CLIP text encoder alone would read as SD 1.x).
    const denoisers = [byKey.model, byKey.diffusionModel, byKey.highNoiseDiffusionModel].filter((f) => f !== undefined);
    const family = denoisers.map(detectFamily).find((f) => f !== 'unknown') ?? 'unknown';
    const main = byKey.model ?? byKey.diffusionModel ?? files[0];
    if (main.format === 'diffusers' && family === 'sdxl') {
      // The pinned engine renames text_encoder_2's tensors before it detects the version again, loses the second
      // encoder and builds an SD 1.x model, which then fails to load; say so rather than "load tensors failed".
      throw new InvalidArgumentError('model', `${main.path} is an SDXL diffusers folder, which the engine cannot load: load the same model as a single-file checkpoint (.safetensors, as sd_xl_base_1.0.safetensors is released); LoRAs trained on the folder apply to it`);
    }
    checkComponents(family, byKey);
    const variant = modelVariant(family, names, files);
    const model: ModelInfo = { name: folderName ?? path.basename(main.path, path.extname(main.path)), family, variant, defaults: familyDefaults(family, variant), files };
    const controlFile = params.controlNet ? files.find((f) => f.path === params.controlNet) : undefined;
    const controlNet = controlFile && { name: path.basename(controlFile.path, path.extname(controlFile.path)), family: contextFamily(controlFile) };
    if (controlNet && controlNet.family !== 'unknown' && model.family !== 'unknown' && controlNet.family !== model.family) {
      throw new InvalidArgumentError('controlNet', `controlNet ${controlFile!.path} is for ${controlNet.family} models but the model is ${model.family}`);
    }
    const placed = placeOnDevice(options, params.controlNet !== undefined, family);
    Object.assign(params, placed.params);
    if (minLevel <= logLevelToNative('logLevel', 'info')) onLog?.('info', placed.logLine);
    const log = onLog ? (level: number, text: string) => onLog(logLevelFromNative(level), text) : undefined;
    let native: NativeContext;
    try {
      const loading = nativeBinding().Context.load(params, log, minLevel, onProgress && ((tensors, total) => onProgress({ tensors, total })));
      native = await (signal ? untilLoadAborted(loading, signal) : loading);
    } catch (err) {
      if (err instanceof AbortError) throw err;
      throw new ModelLoadError((err as Error).message);
    }
    return new Pipeline(native, model, { loraDir, vaeTiling, oneShot: params.freeParamsImmediately, controlNet: controlNet?.name, hasTaesd: params.taesd !== undefined, hasHighNoise: params.highNoiseDiffusionModel !== undefined, placed });
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Text to image. Resolves with `batchSize` images; rejects with AbortError when `signal` aborts. */
  generate(options: GenerateOptions): Promise<GeneratedImage[]> {
    return this.#submit(options, undefined, true);
  }

  /**
   * Image to image: `initImage` is fitted to the size (default: its own, rounded to multiples of 8),
   * noised to `strength` (0 keeps it, 1 replaces it; default 0.75) and denoised towards the prompt.
   */
  img2img(options: Img2ImgOptions): Promise<GeneratedImage[]> {
    return this.#submit(options, () => img2imgTask(options));
  }

  /**
   * Inpainting: repaints where `maskImage` is white (soft edges blend; `maskBlur` softens), with a regular or
   * an inpainting (9-channel) checkpoint. With `preserveUnmasked` (default) pixels under black stay exactly the input's.
   */
  inpaint(options: InpaintOptions): Promise<GeneratedImage[]> {
    return this.#submit(options, () => inpaintTask(options));
  }

  /**
   * Outpainting: extends the canvas by `extend` pixels per side, pre-fills the new area (`fill`: repeated
   * edges or seeded noise), and inpaints it. The original region is kept exactly.
   */
  outpaint(options: OutpaintOptions): Promise<GeneratedImage[]> {
    const { width, height } = options as GenerateOptions;
    if (width !== undefined || height !== undefined) {
      return Promise.reject(invalidParameter(width !== undefined ? 'width' : 'height', 'no value: the size follows from initImage and extend', width ?? height));
    }
    return this.#submit(options, () => outpaintTask(options));
  }

  /**
   * Instruction editing: `prompt` says what to change in `images` (1-4 reference images), on an edit-capable
   * model (FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2). The size defaults to the first image's (multiples of 8).
   */
  edit(options: EditOptions): Promise<GeneratedImage[]> {
    return this.#submit(options, () => {
      const { family, variant, name } = this.model;
      if (!editsWithReferences(family, variant)) {
        throw new InvalidArgumentError('model', `${name} (${family}${variant ? ` ${variant}` : ''}) does not edit with reference images: load FLUX.1 Kontext, Qwen-Image-Edit or a FLUX.2 model`);
      }
      return referenceEditTask(options);
    });
  }

  /**
   * Text or image to video, on a video model (Wan: load it with `diffusionModel`, `vae` and `t5xxl`).
   * Resolves with the clip's frames and its encoders (MP4, WebM, animated WebP, GIF).
   */
  generateVideo(options: VideoOptions): Promise<GeneratedVideo> {
    return this.#enqueue(() => {
      // The engine knows what the loaded model can do.
      if (!this.#native.supportsVideo) throw new InvalidArgumentError('model', `generateVideo needs a video model (Wan); ${this.model.name} is a ${this.model.family} image model`);
      return prepareVideo(options, { name: this.model.name, defaults: this.model.defaults, file: this.model.files.find((f) => detectFamily(f) === 'wan')! }, this.#loraDir);
    }, (job) => this.#runVideo(job));
  }

  #submit(options: GenerateOptions, makeTask?: () => ImageTask, allowHires = false): Promise<GeneratedImage[]> {
    // Translation and enhancement run on the language model before the call queues for the engine.
    if (isPlainObject(options) && hasPromptRewrite(options)) return withRewrittenPrompt(options).then((o) => this.#submit(o, makeTask, allowHires));
    return this.#enqueue(() => {
      if (!this.#native.supportsImages) throw new InvalidArgumentError('model', `${this.model.name} is a video model: use generateVideo`);
      const job = this.#prepare(options, makeTask !== undefined);
      job.task = makeTask?.();
      if (defined(options.hiresFix)) {
        if (!allowHires) throw new InvalidArgumentError('hiresFix', 'hiresFix is for text to image (generate) only');
        applyHiresFix(job, options.hiresFix);
      }
      return job;
    }, (job) => this.#run(job));
  }

  /** Checks a call at once (a bad argument rejects before anything queues), then runs it in turn. */
  #enqueue<J extends { signal?: AbortSignal }, R>(prepare: () => J, run: (job: J) => Promise<R>): Promise<R> {
    if (this.#spent) return Promise.reject(new DisposedError('Pipeline', 'was loaded with freeParamsImmediately and has already generated'));
    if (this.#disposed) return Promise.reject(new DisposedError());
    let job: J;
    try {
      job = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    const result = this.#queue.push(() => run(job), () => this.#native.abort(), job.signal);
    if (this.#oneShot) {
      this.#spent = true; // the engine frees the weights as it uses them
      result.finally(() => this.dispose()).catch(() => {});
    }
    return result;
  }

  async #runVideo(job: PreparedVideo): Promise<GeneratedVideo> {
    if (this.#disposed) throw new DisposedError();
    for (const lora of job.native.loras ?? []) await this.#checkLora(lora.path);
    if (job.initImage !== undefined) job.native.initImage = await rgbImage('initImage', job.initImage, job.native.width, job.native.height, 'cover');
    if (job.signal?.aborted) throw abortErrorFor(job.signal);
    // With two experts the engine splits the schedule between them: the steps asked for are the whole run.
    const total = this.#hasHighNoise ? job.native.steps : undefined;
    const report = job.onProgress ? videoProgressReporter(job.onProgress, performance.now(), total) : undefined;
    try {
      return videoFromFrames(await this.#native.generateVideo(job.native, report), job);
    } catch (err) {
      throw engineFailure(err, job.signal, this.#disposed);
    }
  }

  /** Cancels waiting and running calls, waits for the worker to stop, then frees the model. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue.close();
    this.#native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Checks and resolves everything but the images; `fromImage`: the size defaults to the input image's. */
  #prepare(options: GenerateOptions, fromImage: boolean): PreparedJob {
    if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
    if (!isString(options.prompt)) throw invalidParameter('prompt', 'string', options.prompt);
    const negativePrompt = optionalString('negativePrompt', options.negativePrompt) ?? '';
    const defaults = this.model.defaults;
    const requested = {
      width: fromImage && options.width === undefined ? undefined : dimension('width', options.width, defaults.width),
      height: fromImage && options.height === undefined ? undefined : dimension('height', options.height, defaults.height),
    };
    if (fromImage && (requested.width === undefined) !== (requested.height === undefined)) {
      throw invalidParameter(requested.width === undefined ? 'width' : 'height', 'a value when the other side is given', undefined);
    }
    const width = requested.width ?? defaults.width;
    const height = requested.height ?? defaults.height;
    const steps = integerIn('steps', options.steps, 1, 150, defaults.steps);
    const guidanceScale = numberIn('guidanceScale', options.guidanceScale, 0, 30, defaults.guidanceScale);
    const distilledGuidance = defined(options.distilledGuidance) ? numberIn('distilledGuidance', options.distilledGuidance, 0, 30) : defaults.distilledGuidance;
    const cache = stepCacheParams('cache', options.cache);
    const batchSize = integerIn('batchSize', options.batchSize, 1, 16, 1);
    const clipSkip = defined(options.clipSkip) ? integerIn('clipSkip', options.clipSkip, 1, 12) : undefined;
    const eta = defined(options.eta) ? numberIn('eta', options.eta, 0, 10) : undefined;
    const seed = defined(options.seed) ? integerIn('seed', options.seed, 0, MAX_SEED) : crypto.randomInt(0, 2 ** 32);
    const choice = defined(options.sampler) ? resolveSampler('sampler', options.sampler) : { sampler: defaults.sampler, scheduler: defaults.scheduler };
    const scheduler: Scheduler | undefined = defined(options.scheduler) ? resolveScheduler('scheduler', options.scheduler) : choice.scheduler;
    const vaeTiling = defined(options.vaeTiling) ? normalizeVaeTiling('vaeTiling', options.vaeTiling) : this.#vaeTiling;
    const signal = optionalSignal('signal', options.signal);
    const onProgress = optionalFunction<(e: ProgressEvent) => void>('onProgress', options.onProgress);
    const preview = this.#preparePreview(options.preview, onProgress !== undefined);
    const control = this.#prepareControl(options);
    const fromPrompt = extractLoras(options.prompt, this.#loraDir);
    const prompt = fromPrompt.prompt;
    const loras = [...fromPrompt.loras, ...resolveLoras(options.loras, this.#loraDir)];

    const native: NativeGenerateParams = {
      prompt, negativePrompt, width: align64(width), height: align64(height), steps, guidanceScale, seed, batchCount: batchSize,
      clipSkip: clipSkip ?? -1, sampler: choice.sampler, scheduler, eta, vaeTiling, loras, previewMode: preview?.mode, distilledGuidance, cache,
    };
    const parameters: GenerationParameters = {
      prompt: options.prompt, negativePrompt, steps, sampler: choice.sampler, scheduler, guidanceScale, distilledGuidance, seed, width, height,
      model: this.model.name, clipSkip, batchSize, batchIndex: 0,
    };
    return { native, parameters, signal, onProgress, requested, control, previewEvery: preview?.every };
  }

  /** LoRA files that passed their check (a refused one is checked again next time). */
  #loraChecks = new Map<string, Promise<void>>();

  /** A LoRA must be a whole file of the model's family; checked once per file. */
  #checkLora(file: string): Promise<void> {
    let check = this.#loraChecks.get(file);
    if (!check) {
      check = inspectModelFile(file, 'LoRA').then((info) => {
        const family = loraFamily(info);
        if (family !== 'unknown' && this.model.family !== 'unknown' && family !== this.model.family) {
          throw new InvalidArgumentError('loras', `LoRA ${file} is for ${family} models but the model is ${this.model.family}`);
        }
      });
      check.catch(() => this.#loraChecks.delete(file));
      this.#loraChecks.set(file, check);
    }
    return check;
  }

  #preparePreview(value: unknown, hasProgress: boolean): { every: number; mode: 'proj' | 'tae' | 'vae' } | undefined {
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) throw invalidParameter('preview', '{ every, mode }', value);
    if (!hasProgress) throw new InvalidArgumentError('preview', 'preview needs onProgress, which receives the images');
    const mode = defined(value.mode) ? oneOf('preview.mode', value.mode, ['proj', 'tae', 'vae'] as const) : 'proj';
    if (mode === 'tae' && !this.#hasTaesd) {
      throw new InvalidArgumentError('preview.mode', "preview mode 'tae' needs a taesd model: load the Pipeline with { taesd, taesdPreviewOnly: true }");
    }
    return { every: integerIn('preview.every', value.every, 1, 1000, 1), mode };
  }

  #prepareControl(options: GenerateOptions): PreparedJob['control'] {
    if (!defined(options.controlImage)) {
      for (const key of ['controlStrength', 'preprocess'] as const) {
        if (defined(options[key])) throw new InvalidArgumentError(key, `${key} needs a controlImage`);
      }
      return undefined;
    }
    if (!this.#controlNet) throw new InvalidArgumentError('controlImage', 'controlImage needs a ControlNet: load the Pipeline with { controlNet }');
    openImage('controlImage', options.controlImage);
    return {
      image: options.controlImage as ImageInput,
      strength: numberIn('controlStrength', options.controlStrength, 0, 2, 0.9),
      module: defined(options.preprocess) ? oneOf('preprocess', options.preprocess, ['none', 'canny'] as const) : 'none',
    };
  }

  async #run(job: PreparedJob): Promise<GeneratedImage[]> {
    if (this.#disposed) throw new DisposedError();
    for (const lora of job.native.loras ?? []) await this.#checkLora(lora.path);
    const finish = job.task ? await job.task.prepare({ native: job.native, parameters: job.parameters, ...job.requested }) : undefined;
    if (job.control) {
      const { width, height } = job.parameters;
      const image = await rgbImage('controlImage', job.control.image, width, height, 'cover');
      job.native.controlImage = await padToCanvas(image, job.native.width, job.native.height);
      job.native.controlStrength = job.control.strength;
      if (job.control.module === 'canny') job.native.controlCanny = {};
      job.parameters.controlNet = { model: this.#controlNet!, module: job.control.module, weight: job.control.strength };
    }
    if (job.signal?.aborted) throw abortErrorFor(job.signal);
    const started = performance.now();
    const report = job.onProgress ? progressReporter(job.onProgress, job.native.batchCount, started, job.previewEvery, job.native.hires !== undefined) : undefined;
    let images: NativeImage[];
    try {
      images = await this.#native.generate(job.native, report);
    } catch (err) {
      throw engineFailure(err, job.signal, this.#disposed);
    }
    const { width, height } = job.output ?? job.parameters;
    return Promise.all(images.map(async (image, i) => {
      const parameters = { ...job.parameters, seed: job.parameters.seed + i, batchIndex: i };
      const cropped = centerCrop(image, width, height);
      const final = finish ? await finish(cropped) : cropped;
      return new GeneratedImage({ ...final, parameters, infotext: formatInfotext(parameters, VERSION), latent: image.latent });
    }));
  }
}

interface PreparedJob {
  native: NativeGenerateParams;
  parameters: GenerationParameters;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  /** The size the caller asked for; undefined sides come from the input image. */
  requested: { width?: number; height?: number };
  task?: ImageTask;
  control?: { image: ImageInput; strength: number; module: 'none' | 'canny' };
  previewEvery?: number;
  /** Final size when it differs from the generation size (hires fix). */
  output?: { width: number; height: number };
}

/** Hires fix: a second, refining pass at the upscaled size; the result is cropped to that size. */
function applyHiresFix(job: PreparedJob, value: unknown): void {
  if (!isPlainObject(value)) throw invalidParameter('hiresFix', '{ scale | width, height, steps, denoisingStrength, upscaler }', value);
  const { width, height } = job.parameters;
  const hasSize = defined(value.width) || defined(value.height);
  const scale = hasSize ? undefined : numberIn('hiresFix.scale', value.scale, 1, 4, 2);
  const target = {
    width: hasSize ? dimension('hiresFix.width', value.width ?? value.height, width) : Math.round((width * scale!) / 8) * 8,
    height: hasSize ? dimension('hiresFix.height', value.height ?? value.width, height) : Math.round((height * scale!) / 8) * 8,
  };
  if (target.width > 4096 || target.height > 4096) throw invalidParameter('hiresFix.scale', 'a factor that keeps the result within 4096x4096', value.scale);
  const steps = integerIn('hiresFix.steps', value.steps, 1, 150, job.parameters.steps);
  const denoisingStrength = numberIn('hiresFix.denoisingStrength', value.denoisingStrength, 0, 1, 0.7);
  const modelPath = optionalString('hiresFix.upscalerModel', value.upscalerModel);
  if (modelPath !== undefined && defined(value.upscaler)) throw new InvalidArgumentError('hiresFix.upscalerModel', 'give hiresFix.upscaler or hiresFix.upscalerModel, not both');
  if (modelPath !== undefined && !fs.existsSync(modelPath)) throw new InvalidArgumentError('hiresFix.upscalerModel', `hiresFix.upscalerModel file not found: ${modelPath}`);
  const upscaler = defined(value.upscaler) ? oneOf('hiresFix.upscaler', value.upscaler, HIRES_UPSCALERS) : 'latent';
  // The engine's 'Model' upscaler runs the ESRGAN model on the first pass's pixels.
  const engineUpscaler = modelPath !== undefined ? 'Model' : A1111_HIRES_UPSCALER_NAMES[upscaler];
  job.native.hires = { upscaler: engineUpscaler, width: align64(target.width), height: align64(target.height), steps, denoisingStrength, modelPath };
  job.output = target;
  job.parameters.hires = {
    scale: scale ?? Number((target.width / width).toFixed(3)),
    steps,
    upscaler: modelPath !== undefined ? path.basename(modelPath, path.extname(modelPath)) : A1111_HIRES_UPSCALER_NAMES[upscaler],
    denoisingStrength,
    firstPass: { width, height },
  };
}

const EMBEDDING_EXTENSIONS = ['.safetensors', '.pt', '.bin', '.gguf'];

/** The embeddings of a folder, named by file name without extension. */
function listEmbeddings(dir: string | undefined): { name: string; path: string }[] | undefined {
  if (dir === undefined) return undefined;
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw new InvalidArgumentError('embeddingDir', `embeddingDir ${dir} cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
  return entries
    .filter((f) => EMBEDDING_EXTENSIONS.includes(path.extname(f).toLowerCase()))
    .sort()
    .map((f) => ({ name: path.basename(f, path.extname(f)), path: path.resolve(dir, f) }));
}

function dimension(parameter: string, value: unknown, fallback: number): number {
  const v = integerIn(parameter, value, 64, 4096, fallback);
  if (v % 8 !== 0) throw invalidParameter(parameter, 'multiple of 8 between 64 and 4096', value);
  return v;
}

function normalizeVaeTiling(parameter: string, value: unknown): VaeTilingOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (!isPlainObject(value)) throw invalidParameter(parameter, 'boolean or { tileSize, overlap }', value);
  return {
    tileSize: defined(value.tileSize) ? integerIn(`${parameter}.tileSize`, value.tileSize, 8, 1024) : undefined,
    overlap: defined(value.overlap) ? numberIn(`${parameter}.overlap`, value.overlap, 0, 0.9) : undefined,
  };
}

/** Crops the engine's (possibly larger, 64-aligned) canvas to the requested size around its centre. */
function centerCrop(image: NativeImage, width: number, height: number): NativeImage {
  if (image.width === width && image.height === height) return image;
  const left = Math.floor((image.width - width) / 2);
  const top = Math.floor((image.height - height) / 2);
  const rowBytes = width * image.channels;
  const data = Buffer.allocUnsafe(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * image.channels;
    image.data.copy(data, y * rowBytes, from, from + rowBytes);
  }
  return { width, height, channels: image.channels, data };
}

/**
 * The engine's load, unless `signal` aborts first: then AbortError at once, and the context, when the engine's
 * worker thread has built it (a load cannot be interrupted inside the engine), is disposed.
 */
function untilLoadAborted(loading: Promise<NativeContext>, signal: AbortSignal): Promise<NativeContext> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(abortErrorFor(signal));
      loading.then((context) => context.dispose(), () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    loading.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
