import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readPngText } from '../src/index.js';
import { addPngText } from '../src/util/png-text.js';

describe('PNG text chunks', () => {
  it('round-trips Latin-1 as tEXt and other scripts as iTXt, and sharp still decodes the PNG', async () => {
    const png = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#336699' } }).png().toBuffer();
    const latin = addPngText(png, 'parameters', 'café, 20 steps');
    expect(latin.includes(Buffer.from('tEXtparameters'))).toBe(true);
    expect(readPngText(latin)).toEqual({ parameters: 'café, 20 steps' });
    const unicode = addPngText(png, 'parameters', '山の小屋, 水彩');
    expect(unicode.includes(Buffer.from('iTXtparameters'))).toBe(true);
    expect(readPngText(unicode)).toEqual({ parameters: '山の小屋, 水彩' });
    const meta = await sharp(unicode).metadata();
    expect([meta.width, meta.height]).toEqual([4, 3]);
    const { data } = await sharp(unicode).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([0x33, 0x66, 0x99]);
  });

  it('refuses what is not a PNG', () => {
    expect(() => addPngText(Buffer.from('GIF89a....'), 'k', 'v')).toThrow('not a PNG');
  });
});
