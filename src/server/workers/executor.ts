import fs from 'node:fs/promises';
import path from 'node:path';
import { GeneratedImage, PixelImage } from '../../pipeline/generated-image.js';
import type { DeviceSpec } from '../../engine/devices.js';
import type { GenerateOptions } from '../../pipeline/options.js';
import { Pipeline } from '../../pipeline/pipeline.js';
import { Upscaler } from '../../pipeline/upscaler.js';
import type { GeneratedVideo } from '../../pipeline/video.js';
import { encodeVideo, type VideoFormat } from '../../pipeline/video-encode.js';
import { isVideoTask, type JobOutput, type JobProgress, type JobSpec } from '../jobs/job-spec.js';
import type { ServedModel } from '../models/model-registry.js';
import type { Classification } from '../../safety/classification.js';
import { NsfwClassifier } from '../../safety/nsfw-classifier.js';
import { ImageClassifier } from '../safety/image-classifier.js';
import { ModelCache } from './model-cache.js';
import { runTrainingJob } from './training-executor.js';
import type { JobPreview, WorkerSettings } from './protocol.js';

type Loaded = Pipeline | Upscaler;
type OnProgress = (progress: JobProgress, preview?: JobPreview) => void;

/** Strength of the blur over outputs the safety checker flags: enough that nothing can be made out. */
const NSFW_BLUR_SIGMA = 40;

/**
 * Runs JobSpecs on the engine inside a worker process: keeps models loaded (LRU under the budget), maps a
 * spec onto the Pipeline call for its task and writes the outputs where the server serves them.
 */
export class JobExecutor {
  readonly #settings: WorkerSettings;
  readonly #cache: ModelCache<Loaded>;
  #classifier: Promise<{ classify(image: PixelImage): Promise<Classification> }> | undefined;

  constructor(settings: WorkerSettings) {
    this.#settings = settings;
    this.#cache = new ModelCache<Loaded>(settings.modelMemoryBudget, (m) => m.dispose());
  }

  /** Ids of the models loaded now (checkpoint ids; with a ControlNet, "model+controlnet"). */
  loaded(): string[] {
    return this.#cache.keys();
  }

  /** `onProgress` also receives cheap previews ('proj': the latent projected to pixels) of generations. */
  async run(spec: JobSpec, outputNames: string[], signal: AbortSignal, onProgress: OnProgress): Promise<JobOutput[]> {
    if (spec.task === 'lora_train') {
      // The trainer is its own process with its own copy of the model: free the engine's for it.
      await this.#cache.clear();
      const { trainingDir, trainerVenv, loraDir, threads } = this.#settings;
      await runTrainingJob(spec, this.#model(spec.model), { trainingDir: trainingDir!, loraDir: loraDir!, trainerVenv, threads }, signal, onProgress);
      return [];
    }
    if (isVideoTask(spec.task)) {
      const clip = await this.#video(spec, signal, onProgress);
      // A clip is checked at its first, middle and last frame.
      const frames = clip.frames;
      const nsfw = spec.nsfwPrompt || (await this.#unsafe(spec, [frames[0], frames[frames.length >> 1], frames[frames.length - 1]]));
      await this.#writeVideo(clip, spec, outputNames[0], nsfw);
      return [{ file: outputNames[0], seed: clip.seed, width: clip.width, height: clip.height, nsfw, frames: clip.frames.length, fps: clip.fps }];
    }
    const images = spec.task === 'upscale' ? [await this.#upscale(spec, signal, onProgress)] : await this.#generate(spec, signal, onProgress);
    const outputs: JobOutput[] = [];
    for (const [i, image] of images.entries()) {
      const file = outputNames[i];
      const nsfw = spec.nsfwPrompt || (await this.#unsafe(spec, [image]));
      await this.#write(image, spec, file, nsfw);
      outputs.push({ file, seed: image instanceof GeneratedImage ? image.seed : undefined, width: image.width, height: image.height, nsfw });
    }
    return outputs;
  }

  async close(): Promise<void> {
    await this.#cache.clear();
  }

  #model(id: string): ServedModel {
    const model = this.#settings.models.find((m) => m.id === id);
    if (!model) throw new Error(`model '${id}' is not served by this worker`);
    return model;
  }

  #input(file: string | undefined): string | undefined {
    return file === undefined ? undefined : path.join(this.#settings.inputsDir, file);
  }

  async #generate(spec: JobSpec, signal: AbortSignal, onProgress: OnProgress): Promise<GeneratedImage[]> {
    const model = this.#model(spec.model);
    const controlNet = spec.controlnetModel ? this.#model(spec.controlnetModel) : undefined;
    const key = controlNet ? `${model.id}+${controlNet.id}` : model.id;
    const pipe = (await this.#cache.get(key, model.size + (controlNet?.size ?? 0), () =>
      Pipeline.load({
        model: model.path,
        controlNet: controlNet?.path,
        threads: this.#settings.threads,
        device: this.#settings.device as DeviceSpec,
        loraDir: this.#settings.loraDir,
        embeddingDir: this.#settings.embeddingDir,
      }),
    )) as Pipeline;
    const common: GenerateOptions = {
      ...samplingOptions(spec),
      clipSkip: spec.clipSkip,
      batchSize: spec.samples,
      controlImage: this.#input(spec.controlImage),
      controlStrength: spec.controlStrength,
      preprocess: spec.preprocess,
      signal,
      onProgress: (e) =>
        onProgress(
          { phase: e.phase, step: e.step, steps: e.steps, image: e.image, images: e.images },
          e.preview && { width: e.preview.width, height: e.preview.height, channels: e.preview.channels, data: e.preview.data },
        ),
      preview: { mode: 'proj' },
    };
    try {
      const initImage = this.#input(spec.initImage);
      switch (spec.task) {
        case 'txt2img':
          return await pipe.generate({ ...common, hiresFix: this.#hiresFix(spec) });
        case 'controlnet':
          return initImage ? await pipe.img2img({ ...common, initImage, strength: spec.strength, fit: spec.fit }) : await pipe.generate({ ...common, hiresFix: this.#hiresFix(spec) });
        case 'img2img':
          return await pipe.img2img({ ...common, initImage: initImage!, strength: spec.strength, fit: spec.fit });
        case 'inpaint':
          return await pipe.inpaint({
            ...common, initImage: initImage!, maskImage: this.#input(spec.maskImage)!, strength: spec.strength, fit: spec.fit, maskBlur: spec.maskBlur,
            maskedContent: spec.maskedContent, onlyMasked: spec.onlyMaskedPadding === undefined ? undefined : { padding: spec.onlyMaskedPadding },
          });
        case 'edit':
          return await pipe.edit({ ...common, images: (spec.refImages ?? []).map((file) => this.#input(file)!) });
        case 'outpaint': {
          const { width: _w, height: _h, ...rest } = common;
          return await pipe.outpaint({ ...rest, initImage: initImage!, extend: spec.extend });
        }
        default:
          throw new Error(`task ${spec.task} is not a generation`);
      }
    } catch (err) {
      // The engine refuses further calls on a context whose internal check failed: load it afresh next time.
      if ((err as { code?: string }).code === 'ERR_ENGINE_STATE') await this.#cache.evict(key);
      throw err;
    }
  }

  #hiresFix(spec: JobSpec): GenerateOptions['hiresFix'] {
    if (!spec.hiresFix || spec.hiresUpscalerModel === undefined) return spec.hiresFix;
    return { ...spec.hiresFix, upscaler: undefined, upscalerModel: this.#model(spec.hiresUpscalerModel).path };
  }

  async #video(spec: JobSpec, signal: AbortSignal, onProgress: OnProgress): Promise<GeneratedVideo> {
    const model = this.#model(spec.model);
    const pipe = (await this.#cache.get(model.id, model.size, () =>
      Pipeline.load({ diffusionModel: model.path, ...model.components, threads: this.#settings.threads, device: this.#settings.device as DeviceSpec, loraDir: this.#settings.loraDir }),
    )) as Pipeline;
    try {
      return await pipe.generateVideo({
        ...samplingOptions(spec),
        frames: spec.frames,
        fps: spec.fps,
        flowShift: spec.flowShift,
        initImage: this.#input(spec.initImage),
        strength: spec.initImage ? spec.strength : undefined,
        signal,
        onProgress: (e) => onProgress({ phase: e.phase, step: e.step, steps: e.steps, image: 0, images: 1 }),
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_ENGINE_STATE') await this.#cache.evict(model.id);
      throw err;
    }
  }

  async #upscale(spec: JobSpec, signal: AbortSignal, onProgress: OnProgress): Promise<PixelImage> {
    const model = this.#model(spec.model);
    const upscaler = (await this.#cache.get(model.id, model.size, () => Upscaler.load({ model: model.path, threads: this.#settings.threads }))) as Upscaler;
    return upscaler.upscale(this.#input(spec.initImage)!, {
      scale: spec.scale,
      signal,
      onProgress: (e) => onProgress({ phase: 'upscaling', step: e.tile, steps: e.tiles, image: 0, images: 1 }),
    });
  }

  /** Whether the image classifier (the ONNX one when configured, else nsfwjs's) flags any of the images. */
  async #unsafe(spec: JobSpec, images: PixelImage[]): Promise<boolean> {
    const { safetyClassifier: onnx, nsfwClassifier: nsfw } = this.#settings;
    if (!spec.safetyCheck || (!onnx && !nsfw)) return false;
    this.#classifier ??= onnx ? ImageClassifier.load(onnx) : NsfwClassifier.load(nsfw);
    // A load that failed is tried again by the next job, not remembered as this one's error.
    this.#classifier.catch(() => (this.#classifier = undefined));
    const classifier = await this.#classifier;
    for (const image of images) if ((await classifier.classify(image)).flagged) return true;
    return false;
  }

  async #write(image: PixelImage, spec: JobSpec, file: string, nsfw: boolean): Promise<void> {
    const shown = nsfw ? await blurred(image) : image;
    const bytes = spec.outputFormat === 'jpeg' ? await shown.toJPEG({ quality: 92 }) : spec.outputFormat === 'webp' ? await shown.toWebP({ quality: 92 }) : await shown.toPNG();
    await this.#save(file, bytes);
  }

  async #writeVideo(clip: GeneratedVideo, spec: JobSpec, file: string, nsfw: boolean): Promise<void> {
    const format = spec.outputFormat as VideoFormat;
    const bytes = nsfw
      ? await encodeVideo(await Promise.all(clip.frames.map(blurred)), clip.fps, format)
      : await clip.encode(format);
    await this.#save(file, bytes);
  }

  /** Written under a temporary name and renamed, so a half-written file is never served. */
  async #save(file: string, bytes: Buffer): Promise<void> {
    const target = path.join(this.#settings.outputsDir, file);
    await fs.writeFile(`${target}.part`, bytes);
    await fs.rename(`${target}.part`, target);
  }
}

/** What image and video calls take alike from a spec. */
function samplingOptions(spec: JobSpec) {
  return {
    prompt: spec.prompt,
    negativePrompt: spec.negativePrompt,
    width: spec.width,
    height: spec.height,
    steps: spec.steps,
    guidanceScale: spec.guidanceScale,
    seed: spec.seed,
    sampler: spec.sampler,
    scheduler: spec.scheduler,
    loras: spec.loras.map((l) => ({ name: l.name, weight: l.strength })),
  };
}

/** The image blurred past recognition (outputs the safety checker flags). */
async function blurred(image: PixelImage): Promise<PixelImage> {
  const data = await image.toSharp().blur(NSFW_BLUR_SIGMA).raw().toBuffer();
  return new PixelImage({ width: image.width, height: image.height, channels: image.channels, data, infotext: image.infotext });
}
