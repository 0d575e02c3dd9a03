import sharp from 'sharp';
import type { NativeGenerateParams } from '../engine/binding.js';
import { InvalidArgumentError } from '../errors.js';
import { xorshift32 } from '../util/prng.js';
import { defined, integerIn, invalidParameter, isPlainObject, numberIn, oneOf, optionalBoolean } from '../util/is.js';
import {
  compositeByMask, FIT_MODES, imageSize, maskImage, openImage, padToCanvas, rgbImage, type FitMode, type ImageInput, type RawImage,
} from './image-input.js';
import type { GenerationParameters } from './infotext.js';
import { cropResized, fillMasked, MASKED_CONTENTS, maskedRegion, pasteBack } from './inpaint-area.js';

// Image-to-image, inpainting and outpainting: what each task does to its inputs before the engine runs
// and to the engine's output after. Options are checked when the call is made; pixels are read when the
// call's turn in the queue comes, so calls keep their order.

/** The parts of a queued call an image task fills in. */
export interface TaskTarget {
  native: NativeGenerateParams;
  parameters: GenerationParameters;
  /** Requested size; undefined when it comes from the input image. */
  width?: number;
  height?: number;
}

export interface ImageTask {
  /** Reads and fits the input images, sets sizes; returns what to do with each output image. */
  prepare(target: TaskTarget): Promise<(image: RawImage) => RawImage | Promise<RawImage>>;
}

/** Rounds an input image's size to what a generation accepts (multiples of 8, 64-4096). */
function sizeFromImage(size: { width: number; height: number }): { width: number; height: number } {
  const fit = (v: number) => Math.min(4096, Math.max(64, Math.floor(v / 8) * 8));
  return { width: fit(size.width), height: fit(size.height) };
}

/** Engine canvases are 64-aligned: inputs are padded to it (edges repeated) and outputs cropped back. */
export function align64(v: number): number {
  return Math.ceil(v / 64) * 64;
}

function requireImage(parameter: string, value: unknown): ImageInput {
  if (!defined(value)) throw invalidParameter(parameter, 'image (path, Buffer, sharp instance, raw image or GeneratedImage)', value);
  openImage(parameter, value); // type and file checks now, decoding later
  return value as ImageInput;
}

async function setCanvas(target: TaskTarget, init: RawImage, mask?: RawImage): Promise<void> {
  const w = align64(init.width);
  const h = align64(init.height);
  target.native.width = w;
  target.native.height = h;
  target.parameters.width = init.width;
  target.parameters.height = init.height;
  target.native.initImage = await padToCanvas(init, w, h);
  if (mask) target.native.maskImage = await padToCanvas(mask, w, h, 0);
}

export interface Img2ImgTaskOptions {
  initImage: unknown;
  strength?: unknown;
  fit?: unknown;
}

/** Image to image: the init image, fitted to the size, is noised to `strength` and denoised. */
export function img2imgTask(o: Img2ImgTaskOptions, defaultStrength = 0.75): ImageTask & { strength: number; fit: FitMode } {
  const initImage = requireImage('initImage', o.initImage);
  const strength = numberIn('strength', o.strength, 0, 1, defaultStrength);
  const fit = defined(o.fit) ? oneOf('fit', o.fit, FIT_MODES) : 'cover';
  return {
    strength,
    fit,
    async prepare(target) {
      const size = target.width && target.height ? { width: target.width, height: target.height } : sizeFromImage(await imageSize('initImage', initImage));
      await setCanvas(target, await rgbImage('initImage', initImage, size.width, size.height, fit));
      target.native.strength = strength;
      target.parameters.denoisingStrength = strength;
      return (image) => image;
    },
  };
}

export interface InpaintTaskOptions extends Img2ImgTaskOptions {
  maskImage: unknown;
  maskBlur?: unknown;
  preserveUnmasked?: unknown;
  maskedContent?: unknown;
  onlyMasked?: unknown;
}

/** Inpainting: repaint where the mask is white; with preserveUnmasked, pixels where it is black stay the input's. */
export function inpaintTask(o: InpaintTaskOptions): ImageTask {
  const base = img2imgTask(o);
  const mask = requireImage('maskImage', o.maskImage);
  const blur = numberIn('maskBlur', o.maskBlur, 0, 64, 4);
  const preserve = optionalBoolean('preserveUnmasked', o.preserveUnmasked) ?? true;
  const content = defined(o.maskedContent) ? oneOf('maskedContent', o.maskedContent, MASKED_CONTENTS) : 'original';
  const onlyMasked = onlyMaskedPadding(o.onlyMasked);
  const initImage = o.initImage as ImageInput;
  return {
    async prepare(target) {
      const [initSize, maskSize] = await Promise.all([imageSize('initImage', initImage), imageSize('maskImage', mask)]);
      if (initSize.width !== maskSize.width || initSize.height !== maskSize.height) {
        throw new InvalidArgumentError(
          'maskImage',
          `maskImage is ${maskSize.width}x${maskSize.height} but initImage is ${initSize.width}x${initSize.height}: they must be the same size`,
        );
      }
      const size = target.width && target.height ? { width: target.width, height: target.height } : sizeFromImage(initSize);
      const [init, m] = await Promise.all([
        rgbImage('initImage', initImage, size.width, size.height, base.fit),
        maskImage('maskImage', mask, size.width, size.height, base.fit, blur),
      ]);
      const start = await fillMasked(init, m, content, target.native.seed);
      const region = onlyMasked === undefined ? undefined : maskedRegion(m, onlyMasked);
      target.native.strength = base.strength;
      target.parameters.denoisingStrength = base.strength;
      target.parameters.maskBlur = blur;
      if (region) {
        // Only masked: the region around the mask is inpainted at the full size, then scaled back into place.
        await setCanvas(target, await cropResized(start, region, size.width, size.height), await cropResized(m, region, size.width, size.height));
        return (image) => pasteBack(init, image, region, m);
      }
      await setCanvas(target, start, m);
      return (image) => (preserve ? { ...image, data: compositeByMask(image, init, m) } : image);
    },
  };
}

/** onlyMasked: true (32 pixels of context around the mask), { padding }, or false/undefined (the whole image). */
function onlyMaskedPadding(value: unknown): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 32;
  if (!isPlainObject(value)) throw invalidParameter('onlyMasked', 'boolean or { padding }', value);
  return integerIn('onlyMasked.padding', value.padding, 0, 1024, 32);
}

export interface OutpaintExtend {
  left?: number;
  right?: number;
  top?: number;
  bottom?: number;
}

export interface OutpaintTaskOptions {
  initImage: unknown;
  extend?: unknown;
  canvas?: unknown;
  fill?: unknown;
  strength?: unknown;
}

export const OUTPAINT_ANCHORS = ['center', 'top', 'bottom', 'left', 'right', 'top-left', 'top-right', 'bottom-left', 'bottom-right'] as const;
export type OutpaintAnchor = (typeof OUTPAINT_ANCHORS)[number];

/** A target canvas for outpainting: its size and where the original sits in it. */
export interface OutpaintCanvas {
  width: number;
  height: number;
  /** Where the original image sits. Default 'center'. */
  anchor?: OutpaintAnchor;
}

/** The extension of each side that places a w x h image in the canvas at its anchor. */
function extendFor(canvas: Required<OutpaintCanvas>, w: number, h: number): Required<OutpaintExtend> {
  if (canvas.width < w || canvas.height < h) {
    throw invalidParameter('canvas', `a size at least the initImage's ${w}x${h}`, `${canvas.width}x${canvas.height}`);
  }
  const dx = canvas.width - w;
  const dy = canvas.height - h;
  const left = canvas.anchor.includes('left') ? 0 : canvas.anchor.includes('right') ? dx : Math.floor(dx / 2);
  const top = canvas.anchor.includes('top') ? 0 : canvas.anchor.includes('bottom') ? dy : Math.floor(dy / 2);
  return { left, right: dx - left, top, bottom: dy - top };
}

export const OUTPAINT_FILLS = ['edge', 'noise'] as const;

/** Outpainting: a larger canvas, the new border pre-filled and masked, inpainted; the original region is kept exactly. */
export function outpaintTask(o: OutpaintTaskOptions): ImageTask {
  const initImage = requireImage('initImage', o.initImage);
  if (defined(o.extend) === defined(o.canvas)) throw invalidParameter('extend', 'either extend { left, right, top, bottom } or canvas { width, height, anchor }', o.extend);
  let extend: Required<OutpaintExtend> | undefined;
  let canvas: Required<OutpaintCanvas> | undefined;
  if (defined(o.extend)) {
    if (!isPlainObject(o.extend)) throw invalidParameter('extend', '{ left, right, top, bottom } in pixels', o.extend);
    const side = (name: keyof OutpaintExtend) => integerIn(`extend.${name}`, (o.extend as Record<string, unknown>)[name], 0, 2048, 0);
    extend = { left: side('left'), right: side('right'), top: side('top'), bottom: side('bottom') };
    if (extend.left + extend.right + extend.top + extend.bottom === 0) throw invalidParameter('extend', 'at least one side above 0', o.extend);
  } else {
    if (!isPlainObject(o.canvas)) throw invalidParameter('canvas', '{ width, height, anchor }', o.canvas);
    canvas = {
      width: integerIn('canvas.width', o.canvas.width, 64, 4096),
      height: integerIn('canvas.height', o.canvas.height, 64, 4096),
      anchor: defined(o.canvas.anchor) ? oneOf('canvas.anchor', o.canvas.anchor, OUTPAINT_ANCHORS) : 'center',
    };
  }
  const fill = defined(o.fill) ? oneOf('fill', o.fill, OUTPAINT_FILLS) : 'edge';
  const strength = numberIn('strength', o.strength, 0, 1, 1);
  return {
    async prepare(target) {
      const size = await imageSize('initImage', initImage);
      const original = await rgbImage('initImage', initImage, size.width, size.height, 'fill');
      const e = extend ?? extendFor(canvas!, original.width, original.height);
      if (e.left + e.right + e.top + e.bottom === 0) throw invalidParameter('canvas', 'a size larger than the initImage', `${canvas!.width}x${canvas!.height}`);
      const width = original.width + e.left + e.right;
      const height = original.height + e.top + e.bottom;
      if (width > 4096 || height > 4096) throw invalidParameter('extend', 'sides that keep the canvas within 4096x4096', o.extend);
      const filled = await extendCanvas(original, e, fill, target.native.seed);
      const mask = Buffer.alloc(width * height, 255);
      for (let y = 0; y < original.height; y++) mask.fill(0, (y + e.top) * width + e.left, (y + e.top) * width + e.left + original.width);
      const m: RawImage = { width, height, channels: 1, data: mask };
      await setCanvas(target, filled, m);
      target.native.strength = strength;
      target.parameters.denoisingStrength = strength;
      return (image) => ({ ...image, data: compositeByMask(image, filled, m) });
    },
  };
}

async function extendCanvas(image: RawImage, e: Required<OutpaintExtend>, fill: 'edge' | 'noise', seed: number | bigint): Promise<RawImage> {
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extend({ ...e, ...(fill === 'edge' ? { extendWith: 'copy' as const } : { background: '#000000' }) })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (fill === 'noise') {
    const next = xorshift32(Number(BigInt.asUintN(32, BigInt(seed)))); // seeded: the same call gives the same picture
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        if (x >= e.left && x < e.left + image.width && y >= e.top && y < e.top + image.height) continue;
        const v = next();
        const i = (y * info.width + x) * 3;
        data[i] = v & 0xff;
        data[i + 1] = (v >>> 8) & 0xff;
        data[i + 2] = (v >>> 16) & 0xff;
      }
    }
  }
  return { width: info.width, height: info.height, channels: 3, data };
}

/** Reference images an edit takes at most (the engine takes more; past 4 the context grows beyond use). */
export const MAX_REFERENCE_IMAGES = 4;

/**
 * Instruction editing: the reference images go to the model as context (each at its own size, multiples of 8);
 * the result has the requested size, else the first image's. The canvas starts from noise: the model redraws.
 */
export function referenceEditTask(o: { images?: unknown }): ImageTask {
  if (!Array.isArray(o.images) || o.images.length === 0 || o.images.length > MAX_REFERENCE_IMAGES) {
    throw invalidParameter('images', `array of 1 to ${MAX_REFERENCE_IMAGES} images`, o.images);
  }
  const images = o.images.map((image, i) => requireImage(`images[${i}]`, image));
  return {
    async prepare(target) {
      const sizes = await Promise.all(images.map((image, i) => imageSize(`images[${i}]`, image)));
      const refs = await Promise.all(images.map(async (image, i) => {
        const size = sizeFromImage(sizes[i]);
        return { ...(await rgbImage(`images[${i}]`, image, size.width, size.height, 'fill')), channels: 3 };
      }));
      const size = target.width && target.height ? { width: target.width, height: target.height } : sizeFromImage(sizes[0]);
      target.native.width = align64(size.width);
      target.native.height = align64(size.height);
      target.parameters.width = size.width;
      target.parameters.height = size.height;
      target.native.refImages = refs;
      return (image) => image;
    },
  };
}
