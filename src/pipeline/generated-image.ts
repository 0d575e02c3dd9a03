import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type JpegOptions, type PngOptions, type Sharp, type WebpOptions } from 'sharp';
import { addPngText } from '../util/png-text.js';
import { invalidParameter, isString } from '../util/is.js';
import type { GenerationParameters } from './infotext.js';

/** One generated image: raw 8-bit pixels plus the parameters that made it. Encoding goes through sharp. */
export class GeneratedImage {
  readonly width: number;
  readonly height: number;
  /** 3 (RGB) for images from the engine. */
  readonly channels: number;
  /** Raw pixels, row-major, `channels` bytes per pixel. */
  readonly data: Buffer;
  readonly seed: number;
  readonly parameters: GenerationParameters;
  /** The parameters as AUTOMATIC1111 infotext, as written into PNGs. */
  readonly infotext: string;

  constructor(init: { width: number; height: number; channels: number; data: Buffer; parameters: GenerationParameters; infotext: string }) {
    this.width = init.width;
    this.height = init.height;
    this.channels = init.channels;
    this.data = init.data;
    this.parameters = init.parameters;
    this.seed = init.parameters.seed;
    this.infotext = init.infotext;
  }

  /** A sharp pipeline over the raw pixels, for any further processing. */
  toSharp(): Sharp {
    return sharp(this.data, { raw: { width: this.width, height: this.height, channels: this.channels as 3 | 4 } });
  }

  /** PNG with the generation parameters in a text chunk named `parameters` (A1111's infotext). */
  async toPNG(options?: PngOptions): Promise<Buffer> {
    const png = await this.toSharp().png(options).toBuffer();
    return addPngText(png, 'parameters', this.infotext);
  }

  /** JPEG with the parameters in the EXIF ImageDescription. */
  async toJPEG(options?: JpegOptions): Promise<Buffer> {
    return this.toSharp().jpeg(options).withExif({ IFD0: { ImageDescription: this.infotext } }).toBuffer();
  }

  /** WebP with the parameters in the EXIF ImageDescription. */
  async toWebP(options?: WebpOptions): Promise<Buffer> {
    return this.toSharp().webp(options).withExif({ IFD0: { ImageDescription: this.infotext } }).toBuffer();
  }

  /** Writes the image; the format follows the extension (.png, .jpg/.jpeg, .webp). */
  async save(file: string): Promise<void> {
    if (!isString(file) || file.length === 0) throw invalidParameter('file', 'non-empty path', file);
    const ext = path.extname(file).toLowerCase();
    const encode = { '.png': () => this.toPNG(), '.jpg': () => this.toJPEG(), '.jpeg': () => this.toJPEG(), '.webp': () => this.toWebP() }[ext];
    if (!encode) throw invalidParameter('file', 'path ending in .png, .jpg, .jpeg or .webp', file);
    await fs.writeFile(file, await encode());
  }
}
