import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { nativeBinding, type NativeError, type NativeUpscaler } from '../engine/binding.js';
import { useDirectConvolution } from '../engine/info.js';
import { logLevelFromNative, logLevelToNative, type LogCallback, type LogLevel } from '../engine/logging.js';
import { AbortError, DisposedError, GenerationError, ModelLoadError } from '../errors.js';
import { inspectModelFile } from '../models/inspect.js';
import { resolveModel } from '../models/library.js';
import { defined, integerIn, invalidParameter, isPlainObject, numberIn, optionalFunction, optionalSignal, optionalString } from '../util/is.js';
import { PixelImage } from './generated-image.js';
import { openImage, type ImageInput } from './image-input.js';
import { abortErrorFor, SerialQueue } from './serial-queue.js';

export interface UpscalerLoadOptions {
  /** An ESRGAN-family model (.safetensors, .pth, .gguf): RealESRGAN x4plus, x4plus anime 6B, ... */
  model: string;
  /** The model library that a name (not a path) in `model` is looked up in; default as Pipeline.load's. */
  modelsDir?: string;
  threads?: number;
  /** Tile edge in input pixels; larger images are upscaled tile by tile. Default 128. */
  tileSize?: number;
  onLog?: LogCallback;
  logLevel?: LogLevel;
}

export interface UpscaleOptions {
  /** Output size as a multiple of the input's: the model's own factor by default; others are reached by resampling its output. */
  scale?: number;
  signal?: AbortSignal;
  /** Called per tile when the image is upscaled in tiles. */
  onProgress?: (event: { tile: number; tiles: number }) => void;
}

/** Super resolution with an ESRGAN-family model. Calls run one at a time; `dispose()` frees the model. */
export class Upscaler {
  /** The model's own factor. */
  readonly modelScale: number;
  readonly model: string;
  #native: NativeUpscaler;
  #queue = new SerialQueue();
  #disposed = false;

  private constructor(native: NativeUpscaler, model: string) {
    this.#native = native;
    this.modelScale = native.scale;
    this.model = model;
  }

  static async load(options: UpscalerLoadOptions): Promise<Upscaler> {
    if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
    const model = optionalString('model', options.model);
    if (!model) throw invalidParameter('model', 'path to an ESRGAN model', options.model);
    const file = await resolveModel(model, { label: 'upscaler model', dir: optionalString('modelsDir', options.modelsDir) });
    await inspectModelFile(file, 'upscaler model');
    const threads = defined(options.threads) ? integerIn('threads', options.threads, 1, 1024) : undefined;
    const tileSize = integerIn('tileSize', options.tileSize, 16, 2048, 128);
    const onLog = optionalFunction<LogCallback>('onLog', options.onLog);
    const minLevel = logLevelToNative('logLevel', options.logLevel ?? 'info');
    try {
      const native = await nativeBinding().Upscaler.load(
        { model: file, threads, tileSize, convDirect: useDirectConvolution() },
        onLog ? (level, text) => onLog(logLevelFromNative(level), text) : undefined,
        minLevel,
      );
      return new Upscaler(native, path.basename(file, path.extname(file)));
    } catch (err) {
      throw new ModelLoadError((err as Error).message);
    }
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Upscales any image input; the result is exactly `scale` times the input's size (rounded). */
  upscale(image: ImageInput, options: UpscaleOptions = {}): Promise<PixelImage> {
    if (this.#disposed) return Promise.reject(new DisposedError('Upscaler'));
    let scale: number;
    let signal: AbortSignal | undefined;
    let onProgress: UpscaleOptions['onProgress'];
    let input: Sharp;
    try {
      if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
      scale = numberIn('scale', options.scale, 1, 16, this.modelScale);
      signal = optionalSignal('signal', options.signal);
      onProgress = optionalFunction('onProgress', options.onProgress);
      input = openImage('image', image);
    } catch (err) {
      return Promise.reject(err);
    }
    const infotext = image instanceof PixelImage ? image.infotext : undefined;
    const decoded = input.rotate().flatten({ background: '#000000' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    decoded.catch(() => {}); // reported when the call's turn comes
    return this.#queue.push(
      async () => {
        const { data, info } = await decoded.catch((err: Error) => {
          throw invalidParameter('image', `an image (${err.message})`, image);
        });
        let out;
        try {
          out = await this.#native.upscale({ width: info.width, height: info.height, channels: 3, data }, onProgress && ((tile, tiles) => tile > 0 && onProgress({ tile, tiles })));
        } catch (err) {
          if ((err as NativeError).code === 'ABORT_ERR') throw this.#disposed ? new DisposedError('Upscaler') : signal?.aborted ? abortErrorFor(signal) : new AbortError();
          throw new GenerationError((err as Error).message);
        }
        const width = Math.round(info.width * scale);
        const height = Math.round(info.height * scale);
        const pixels =
          out.width === width && out.height === height
            ? out.data
            : await sharp(out.data, { raw: { width: out.width, height: out.height, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
        const postprocess = `Postprocess upscaler: ${this.model}, Postprocess upscale by: ${scale}`;
        return new PixelImage({ width, height, channels: 3, data: pixels, infotext: infotext ? `${infotext}, ${postprocess}` : postprocess });
      },
      () => this.#native.abort(),
      signal,
    );
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue.close();
    this.#native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
