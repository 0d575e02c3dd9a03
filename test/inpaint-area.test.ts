import { describe, expect, it } from 'vitest';
import { fillMasked, maskedRegion } from '../src/pipeline/inpaint-area.js';
import type { RawImage } from '../src/index.js';

const maskWith = (width: number, height: number, box: { x0: number; y0: number; x1: number; y1: number }): RawImage => {
  const data = Buffer.alloc(width * height);
  for (let y = box.y0; y < box.y1; y++) data.fill(255, y * width + box.x0, y * width + box.x1);
  return { width, height, channels: 1, data };
};

describe('inpaint area helpers', () => {
  it('maskedRegion is the mask box grown by the padding, at the image aspect, inside the image', () => {
    expect(maskedRegion(maskWith(100, 100, { x0: 40, y0: 40, x1: 50, y1: 60 }), 5)).toEqual({ left: 30, top: 35, width: 30, height: 30 });
    // Near the edge the box shifts inwards rather than shrink.
    expect(maskedRegion(maskWith(200, 100, { x0: 0, y0: 0, x1: 10, y1: 10 }), 0)).toEqual({ left: 0, top: 0, width: 20, height: 10 });
    expect(maskedRegion(maskWith(64, 64, { x0: 0, y0: 0, x1: 0, y1: 0 }), 8)).toBeUndefined();
  });

  it("fillMasked 'fill' paints the hole with the surrounding colour; 'nothing' grey; unmasked pixels stay", async () => {
    const [w, h] = [40, 20];
    const image: RawImage = { width: w, height: h, channels: 3, data: Buffer.alloc(w * h * 3) };
    for (let p = 0; p < w * h; p++) image.data.set([200, 40, 10], p * 3);
    const mask = maskWith(w, h, { x0: 10, y0: 5, x1: 30, y1: 15 });
    const filled = await fillMasked(image, mask, 'fill', 1);
    const at = (img: RawImage, x: number, y: number) => [...img.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)];
    for (const [r, g, b] of [at(filled, 20, 10), at(filled, 11, 6)]) {
      expect(Math.abs(r - 200) + Math.abs(g - 40) + Math.abs(b - 10)).toBeLessThanOrEqual(6);
    }
    expect(at(filled, 2, 2)).toEqual([200, 40, 10]);
    expect(at(await fillMasked(image, mask, 'nothing', 1), 20, 10)).toEqual([127, 127, 127]);
    const noise1 = await fillMasked(image, mask, 'noise', 1);
    expect(noise1.data.equals((await fillMasked(image, mask, 'noise', 1)).data)).toBe(true);
    expect(noise1.data.equals((await fillMasked(image, mask, 'noise', 2)).data)).toBe(false);
    expect(await fillMasked(image, mask, 'original', 1)).toBe(image);
  });
});
