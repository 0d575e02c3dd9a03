import fs from 'node:fs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { NativeImage } from '../engine/binding.js';
import { InvalidArgumentError } from '../errors.js';
import { invalidParameter, isString } from '../util/is.js';
import { PixelImage } from './generated-image.js';

/** Raw 8-bit pixels, row-major. */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  data: Buffer;
}

/** An image argument: a file path, an encoded image (any format sharp reads), a sharp instance, raw pixels or a PixelImage / GeneratedImage. */
export type ImageInput = string | Buffer | Uint8Array | Sharp | RawImage | PixelImage;

/** How an input image is brought to the requested size: crop to fill, pad to fit, or stretch. */
export const FIT_MODES = ['cover', 'contain', 'fill'] as const;
export type FitMode = (typeof FIT_MODES)[number];

const isRaw = (v: unknown): v is RawImage =>
  typeof v === 'object' && v !== null && Buffer.isBuffer((v as RawImage).data) && Number.isInteger((v as RawImage).width) && Number.isInteger((v as RawImage).height);

/** Opens any ImageInput as a sharp pipeline; the parameter name goes into every error. */
export function openImage(parameter: string, input: unknown): Sharp {
  if (input instanceof PixelImage) return input.toSharp();
  if (isString(input)) {
    if (!fs.existsSync(input)) throw new InvalidArgumentError(parameter, `${parameter} file not found: ${input}`);
    return sharp(input);
  }
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) return sharp(input);
  if (isRaw(input)) {
    if (![1, 2, 3, 4].includes(input.channels) || input.data.length !== input.width * input.height * input.channels) {
      throw invalidParameter(parameter, 'raw image whose data holds width * height * channels bytes', input);
    }
    return sharp(input.data, { raw: { width: input.width, height: input.height, channels: input.channels as 1 | 2 | 3 | 4 } });
  }
  if (input instanceof sharp) return (input as Sharp).clone();
  throw invalidParameter(parameter, 'image (path, Buffer, sharp instance, raw image or GeneratedImage)', input);
}

async function decode(parameter: string, pipeline: Sharp): Promise<RawImage> {
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels, data };
  } catch (err) {
    throw new InvalidArgumentError(parameter, `${parameter} could not be read as an image: ${(err as Error).message}`);
  }
}

/** The input's size in pixels, after EXIF orientation, from its header (no pixel decoding). */
export async function imageSize(parameter: string, input: unknown): Promise<{ width: number; height: number }> {
  if (input instanceof PixelImage || isRaw(input)) return { width: input.width, height: input.height };
  let meta: Metadata;
  try {
    meta = await openImage(parameter, input).metadata();
  } catch (err) {
    throw new InvalidArgumentError(parameter, `${parameter} could not be read as an image: ${(err as Error).message}`);
  }
  if (!meta.width || !meta.height) throw new InvalidArgumentError(parameter, `${parameter} could not be read as an image: no size in its header`);
  // EXIF orientations 5-8 are quarter turns: the upright image swaps width and height
  const turned = (meta.orientation ?? 1) >= 5;
  return turned ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

/** RGB pixels at exactly width x height, brought there by `fit`. */
export async function rgbImage(parameter: string, input: unknown, width: number, height: number, fit: FitMode): Promise<RawImage> {
  return decode(
    parameter,
    openImage(parameter, input).rotate().flatten({ background: '#000000' }).resize(width, height, { fit, position: 'centre', background: '#000000' }).toColourspace('srgb'),
  );
}

/**
 * A one-channel mask at width x height: white (255) = repaint, black = keep. Colour masks count by
 * luminance; transparent pixels count as black. `blur` (pixels, Gaussian sigma) softens the edge.
 */
export async function maskImage(parameter: string, input: unknown, width: number, height: number, fit: FitMode, blur: number): Promise<RawImage> {
  let pipeline = openImage(parameter, input).rotate().flatten({ background: '#000000' }).resize(width, height, { fit, position: 'centre', background: '#000000' }).greyscale();
  if (blur >= 0.3) pipeline = sharp(await pipeline.png().toBuffer()).blur(blur); // blur after the resize, in output pixels
  const raw = await decode(parameter, pipeline.extractChannel(0));
  return raw;
}

/** Pads an image to a larger canvas by repeating its edge pixels (the engine samples at 64-pixel multiples). */
export async function padToCanvas(image: RawImage, width: number, height: number, background?: number): Promise<NativeImage> {
  if (image.width === width && image.height === height) return image;
  const left = Math.floor((width - image.width) / 2);
  const top = Math.floor((height - image.height) / 2);
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels as 1 | 3 } })
    .extend({
      left, top, right: width - image.width - left, bottom: height - image.height - top,
      ...(background === undefined ? { extendWith: 'copy' as const } : { background: { r: background, g: background, b: background } }),
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}

/** out = generated * mask + original * (1 - mask), per pixel; mask 0..255. Keeps unmasked pixels exact. */
export function compositeByMask(generated: RawImage, original: RawImage, mask: RawImage): Buffer {
  const out = Buffer.allocUnsafe(generated.data.length);
  const c = generated.channels;
  for (let p = 0, i = 0; p < mask.data.length; p++) {
    const m = mask.data[p];
    for (let k = 0; k < c; k++, i++) {
      out[i] = m === 0 ? original.data[i] : m === 255 ? generated.data[i] : Math.round((generated.data[i] * m + original.data[i] * (255 - m)) / 255);
    }
  }
  return out;
}
