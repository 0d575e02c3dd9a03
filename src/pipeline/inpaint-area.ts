import sharp from 'sharp';
import { xorshift32 } from '../util/prng.js';
import { compositeByMask, type RawImage } from './image-input.js';

// What A1111 calls "Masked content" and "Inpaint area: Only masked", on pixels (the engine takes pixels):
// the start of the masked area, and inpainting a crop around the mask at the full generation size.

export const MASKED_CONTENTS = ['original', 'fill', 'noise', 'nothing'] as const;
/** 'original' keeps the pixels; 'fill' paints the surroundings' colours in; 'noise' seeded noise; 'nothing' mid grey. */
export type MaskedContent = (typeof MASKED_CONTENTS)[number];

/** The init image with its masked area replaced as `content` says (blended by the soft mask). */
export async function fillMasked(init: RawImage, mask: RawImage, content: MaskedContent, seed: number | bigint): Promise<RawImage> {
  if (content === 'original') return init;
  const n = init.width * init.height;
  const replacement = Buffer.alloc(n * 3);
  if (content === 'nothing') replacement.fill(127);
  if (content === 'noise') {
    const next = xorshift32(Number(BigInt.asUintN(32, BigInt(seed))));
    for (let p = 0; p < n; p++) {
      const v = next();
      replacement.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff], p * 3);
    }
  }
  if (content === 'fill') {
    // Normalised blur: the unmasked colours spread over the hole, weighted by how much of each pixel is kept.
    // (Colours and weights blur as separate images: a fourth channel would be taken for alpha and premultiplied.)
    const kept = Buffer.alloc(n * 3);
    const weight = Buffer.alloc(n);
    for (let p = 0; p < n; p++) {
      weight[p] = 255 - mask.data[p];
      for (let k = 0; k < 3; k++) kept[p * 3 + k] = Math.round((init.data[p * 3 + k] * weight[p]) / 255);
    }
    const sigma = Math.max(init.width, init.height) / 8;
    const blur = (data: Buffer, channels: 1 | 3) => {
      const blurred = sharp(data, { raw: { width: init.width, height: init.height, channels } }).blur(sigma);
      return (channels === 1 ? blurred.extractChannel(0) : blurred).raw().toBuffer(); // one channel would come back as three
    };
    const [colours, weights] = await Promise.all([blur(kept, 3), blur(weight, 1)]);
    for (let p = 0; p < n; p++) {
      const w = weights[p];
      for (let k = 0; k < 3; k++) replacement[p * 3 + k] = w === 0 ? 127 : Math.min(255, Math.round((colours[p * 3 + k] * 255) / w));
    }
  }
  return { ...init, data: compositeByMask({ ...init, data: replacement }, init, mask) };
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The region "Only masked" inpaints: the mask's bounding box grown by `padding` pixels, then widened to the
 * generation's aspect ratio and kept inside the image. Undefined when the mask is empty.
 */
export function maskedRegion(mask: RawImage, padding: number): Rect | undefined {
  let [x0, y0, x1, y1] = [mask.width, mask.height, -1, -1];
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (mask.data[y * mask.width + x] === 0) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
  }
  if (x1 < 0) return undefined;
  let [left, top, right, bottom] = [x0 - padding, y0 - padding, x1 + 1 + padding, y1 + 1 + padding];
  const aspect = mask.width / mask.height;
  // Grow the short side so the crop has the image's aspect: resized to the generation size it is not distorted.
  const grow = (lo: number, hi: number, want: number, limit: number): [number, number] => {
    const extra = Math.max(0, want - (hi - lo));
    lo -= Math.floor(extra / 2);
    hi += Math.ceil(extra / 2);
    if (lo < 0) [lo, hi] = [0, hi - lo];
    if (hi > limit) [lo, hi] = [Math.max(0, lo - (hi - limit)), limit];
    return [lo, hi];
  };
  if ((right - left) / (bottom - top) < aspect) [left, right] = grow(left, right, Math.round((bottom - top) * aspect), mask.width);
  else [top, bottom] = grow(top, bottom, Math.round((right - left) / aspect), mask.height);
  [left, right] = [Math.max(0, left), Math.min(mask.width, right)];
  [top, bottom] = [Math.max(0, top), Math.min(mask.height, bottom)];
  return { left, top, width: right - left, height: bottom - top };
}

/** A region of an image, resized to width x height. */
export async function cropResized(image: RawImage, region: Rect, width: number, height: number): Promise<RawImage> {
  const resized = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels as 1 | 3 } })
    .extract(region)
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  // sharp turns one raw channel into sRGB's three on output: masks keep theirs.
  const { data, info } = await (image.channels === 1 ? resized.extractChannel(0) : resized).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}

/** Puts `patch` (any size) back over `region` of `image`, blended by `mask` (the full image's), the rest untouched. */
export async function pasteBack(image: RawImage, patch: RawImage, region: Rect, mask: RawImage): Promise<RawImage> {
  const small = await sharp(patch.data, { raw: { width: patch.width, height: patch.height, channels: patch.channels as 3 } })
    .resize(region.width, region.height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const placed = Buffer.from(image.data);
  for (let y = 0; y < region.height; y++) {
    small.copy(placed, ((region.top + y) * image.width + region.left) * 3, y * region.width * 3, (y + 1) * region.width * 3);
  }
  return { ...image, data: compositeByMask({ ...image, data: placed }, image, mask) };
}
