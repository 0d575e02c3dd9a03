import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type JpegOptions, type PngOptions, type Sharp, type WebpOptions } from 'sharp';
import { addPngText } from '../util/png-text.js';
import { invalidParameter, isString } from '../util/is.js';
import type { Latent } from '../engine/binding.js';
import type { GenerationParameters } from './infotext.js';

/** Raw 8-bit pixels with encoders through sharp. PNGs carry `infotext`, when there is one, as A1111 does. */
export class PixelImage {
  readonly width: number;
  readonly height: number;
  /** 3 (RGB) for images from the engine. */
  readonly channels: number;
  /** Raw pixels, row-major, `channels` bytes per pixel. */
  readonly data: Buffer;
  /** How the image was made, as AUTOMATIC1111 infotext; written into PNGs as the `parameters` text chunk. */
  readonly infotext: string | undefined;

  constructor(init: { width: number; height: number; channels: number; data: Buffer; infotext?: string }) {
    this.width = init.width;
    this.height = init.height;
    this.channels = init.channels;
    this.data = init.data;
    this.infotext = init.infotext;
  }

  /** A sharp pipeline over the raw pixels, for any further processing. */
  toSharp(): Sharp {
    return sharp(this.data, { raw: { width: this.width, height: this.height, channels: this.channels as 1 | 2 | 3 | 4 } });
  }

  /** PNG with the infotext in a text chunk named `parameters`. */
  async toPNG(options?: PngOptions): Promise<Buffer> {
    const png = await this.toSharp().png(options).toBuffer();
    return this.infotext === undefined ? png : addPngText(png, 'parameters', this.infotext);
  }

  /** JPEG with the infotext in the EXIF ImageDescription. */
  async toJPEG(options?: JpegOptions): Promise<Buffer> {
    return this.#withExif(this.toSharp().jpeg(options)).toBuffer();
  }

  /** WebP with the infotext in the EXIF ImageDescription. */
  async toWebP(options?: WebpOptions): Promise<Buffer> {
    return this.#withExif(this.toSharp().webp(options)).toBuffer();
  }

  /** Writes the image; the format follows the extension (.png, .jpg/.jpeg, .webp). */
  async save(file: string): Promise<void> {
    if (!isString(file) || file.length === 0) throw invalidParameter('file', 'non-empty path', file);
    const ext = path.extname(file).toLowerCase();
    const encode = { '.png': () => this.toPNG(), '.jpg': () => this.toJPEG(), '.jpeg': () => this.toJPEG(), '.webp': () => this.toWebP() }[ext];
    if (!encode) throw invalidParameter('file', 'path ending in .png, .jpg, .jpeg or .webp', file);
    await fs.writeFile(file, await encode());
  }

  #withExif(pipeline: Sharp): Sharp {
    return this.infotext === undefined ? pipeline : pipeline.withExif({ IFD0: { ImageDescription: this.infotext } });
  }
}

/** One generated image: its pixels plus the parameters that made it. */
export class GeneratedImage extends PixelImage {
  readonly seed: number;
  readonly parameters: GenerationParameters;
  /**
   * The final latent the VAE decoded into these pixels (diffusers' `output_type: 'latent'`), innermost
   * dimension first: [width / 8, height / 8, channels, 1] for SD 1.x. Undefined where the engine keeps none.
   */
  readonly latent: Latent | undefined;
  declare readonly infotext: string;

  constructor(init: { width: number; height: number; channels: number; data: Buffer; parameters: GenerationParameters; infotext: string; latent?: Latent }) {
    super(init);
    this.parameters = init.parameters;
    this.seed = init.parameters.seed;
    this.latent = init.latent;
  }
}
