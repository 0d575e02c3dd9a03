import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ffprobe from '@ffprobe-installer/ffprobe';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeVideo, InvalidArgumentError, PixelImage } from '../src/index.js';
import { ffmpegPath } from '../src/pipeline/video-encode.js';
import { tempDir } from './helpers/models.js';

// Frames whose brightness rises from black to white, so decoding shows the order survived.
const ramp = (count: number, width = 48, height = 32) =>
  Array.from({ length: count }, (_, i) => new PixelImage({ width, height, channels: 3, data: Buffer.alloc(width * height * 3, Math.round((255 * i) / (count - 1))) }));

function probe(file: string) {
  const out = execFileSync(ffprobe.path, ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames:format_tags=comment', '-of', 'json', file]);
  const { streams, format } = JSON.parse(out.toString());
  return { ...streams[0], comment: format?.tags?.comment };
}

/** Mean brightness of each decoded frame (ffmpeg's own decoder, grey 8-bit). */
function frameMeans(file: string, width: number, height: number): number[] {
  const raw = execFileSync(ffmpegPath(), ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
  const size = width * height;
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size).reduce((a, b) => a + b, 0) / size);
}

describe('encodeVideo', () => {
  it.each([
    ['mp4', 'h264'],
    ['webm', 'vp9'],
  ] as const)('writes %s (%s) with the frame count, size and rate asked for, frames in order', async (format, codec) => {
    const file = path.join(tempDir(), `clip.${format}`);
    fs.writeFileSync(file, await encodeVideo(ramp(9), 8, format, { comment: 'a lighthouse\nSteps: 2' }));
    expect(probe(file)).toMatchObject({ codec_name: codec, width: 48, height: 32, r_frame_rate: '8/1', nb_read_frames: '9' });
    if (format === 'mp4') expect(probe(file).comment).toBe('a lighthouse\nSteps: 2');
    const means = frameMeans(file, 48, 32);
    expect(means).toHaveLength(9);
    for (let i = 1; i < means.length; i++) expect(means[i]).toBeGreaterThan(means[i - 1]);
  });

  it('writes animated WebP and GIF through sharp with one page per frame and the frame delay', async () => {
    const webp = await sharp(await encodeVideo(ramp(5), 10, 'webp'), { animated: true }).metadata();
    expect([webp.format, webp.pages, webp.width, webp.pageHeight, webp.loop]).toEqual(['webp', 5, 48, 32, 0]);
    expect(webp.delay).toEqual([100, 100, 100, 100, 100]);
    const gif = await sharp(await encodeVideo(ramp(5), 10, 'gif', { loop: 2 }), { animated: true }).metadata();
    expect([gif.format, gif.pages, gif.width, gif.pageHeight, gif.loop]).toEqual(['gif', 5, 48, 32, 2]);
    expect(gif.delay).toEqual([100, 100, 100, 100, 100]);
    expect(probe(writeTemp(await encodeVideo(ramp(5), 10, 'gif'), 'gif'))).toMatchObject({ nb_read_frames: '5', r_frame_rate: '10/1' });
  });

  it('encodes odd sizes (padded to even for 4:2:0 video)', async () => {
    const file = writeTemp(await encodeVideo(ramp(3, 33, 17), 4, 'mp4'), 'mp4');
    expect(probe(file)).toMatchObject({ width: 34, height: 18, nb_read_frames: '3' });
  });

  it('refuses bad input with a typed error', async () => {
    await expect(encodeVideo([], 8, 'mp4')).rejects.toThrow(InvalidArgumentError);
    await expect(encodeVideo(ramp(2), 0, 'mp4')).rejects.toThrow(/fps/);
    await expect(encodeVideo(ramp(2), 8, 'avi' as 'mp4')).rejects.toThrow(/format/);
    await expect(encodeVideo([...ramp(1), ...ramp(2, 16, 16)], 8, 'gif')).rejects.toThrow(/every frame to be 48x32/);
    await expect(encodeVideo(ramp(2), 8, 'mp4', { quality: 0 })).rejects.toThrow(/quality/);
  });
});

function writeTemp(bytes: Buffer, ext: string): string {
  const file = path.join(tempDir(), `clip.${ext}`);
  fs.writeFileSync(file, bytes);
  return file;
}
