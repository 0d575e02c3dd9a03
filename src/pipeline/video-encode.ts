import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError, VideoEncodeError } from '../errors.js';
import { integerIn, invalidParameter, isPlainObject, numberIn, oneOf, optionalString } from '../util/is.js';
import { missingDependency, type OptionalFeature } from '../util/optional-dependency.js';
import type { PixelImage } from './generated-image.js';

export const VIDEO_FORMATS = ['mp4', 'webm', 'webp', 'gif'] as const;
/** MP4 (H.264) and WebM (VP9) through ffmpeg; animated WebP and GIF through sharp. */
export type VideoFormat = (typeof VIDEO_FORMATS)[number];

export interface VideoEncodeOptions {
  /** 1-100, higher is better (mapped to the codec's own scale: CRF for MP4/WebM). Default 80. */
  quality?: number;
  /** Animated WebP and GIF: times to play, 0 = forever. Default 0. */
  loop?: number;
  /** Stored in the file's metadata (MP4/WebM comment). */
  comment?: string;
}

/** The format a file name asks for, by extension. */
export function videoFormatOf(file: string): VideoFormat {
  const ext = path.extname(file).slice(1).toLowerCase();
  if (!(VIDEO_FORMATS as readonly string[]).includes(ext)) throw invalidParameter('file', `path ending in ${VIDEO_FORMATS.map((f) => `.${f}`).join(', ')}`, file);
  return ext as VideoFormat;
}

/** Encodes equally sized RGB(A) frames, played at `fps`, as one video file. */
export async function encodeVideo(frames: readonly PixelImage[], fps: number, format: VideoFormat, options: VideoEncodeOptions = {}): Promise<Buffer> {
  if (frames.length === 0) throw new InvalidArgumentError('frames', 'Expected at least one frame to encode');
  const { width, height, channels } = frames[0];
  if (frames.some((f) => f.width !== width || f.height !== height || f.channels !== channels)) {
    throw new InvalidArgumentError('frames', `Expected every frame to be ${width}x${height} with ${channels} channels`);
  }
  numberIn('fps', fps, 0.1, 240);
  oneOf('format', format, VIDEO_FORMATS);
  if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
  const quality = integerIn('quality', options.quality, 1, 100, 80);
  const loop = integerIn('loop', options.loop, 0, 65535, 0);
  const comment = optionalString('comment', options.comment);
  const pixels = Buffer.concat(frames.map((f) => f.data));
  if (format === 'gif' || format === 'webp') {
    // One tall image of stacked pages is how libvips holds an animation.
    const strip = sharp(pixels, { raw: { width, height: height * frames.length, channels: channels as 3 | 4, pageHeight: height } });
    const delay = frames.map(() => Math.round(1000 / fps));
    return format === 'gif' ? strip.gif({ delay, loop }).toBuffer() : strip.webp({ delay, loop, quality }).toBuffer();
  }
  return ffmpegEncode(pixels, { width, height, channels, fps, format, quality, comment });
}

const FFMPEG_FEATURE: OptionalFeature = {
  feature: 'MP4 and WebM encoding',
  packages: ['@ffmpeg-installer/ffmpeg'],
  install: 'npm install @ffmpeg-installer/ffmpeg, or set DIFFUSEKIT_FFMPEG to an ffmpeg binary (WebP and GIF need neither)',
};

/** The ffmpeg of @ffmpeg-installer/ffmpeg (an optional peer: installed by the user); DIFFUSEKIT_FFMPEG overrides it. */
export function ffmpegPath(): string {
  if (process.env.DIFFUSEKIT_FFMPEG) return process.env.DIFFUSEKIT_FFMPEG;
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch (err) {
    const missing = missingDependency(err, FFMPEG_FEATURE);
    if (missing) throw missing;
    throw new VideoEncodeError(
      `No ffmpeg for MP4/WebM on ${os.platform()}-${os.arch()} (@ffmpeg-installer/ffmpeg: ${String((err as Error).message ?? err)}). ` +
        'Set DIFFUSEKIT_FFMPEG to an ffmpeg binary, or encode as webp or gif.',
      { cause: err },
    );
  }
}

interface RawVideo {
  width: number;
  height: number;
  channels: number;
  fps: number;
  format: 'mp4' | 'webm';
  quality: number;
  comment?: string;
}

// Quality 1-100 onto each codec's CRF (lower is better): x264 0-51 (23 is its default), VP9 0-63 (31 suggested).
const crf = (quality: number, worst: number) => String(Math.round(((100 - quality) / 99) * worst));

const CODEC_ARGS: Record<RawVideo['format'], (quality: number) => string[]> = {
  mp4: (q) => ['-c:v', 'libx264', '-preset', 'medium', '-crf', crf(q, 40), '-movflags', '+faststart'],
  webm: (q) => ['-c:v', 'libvpx-vp9', '-b:v', '0', '-crf', crf(q, 55), '-row-mt', '1'],
};

async function ffmpegEncode(pixels: Buffer, video: RawVideo): Promise<Buffer> {
  const binary = ffmpegPath();
  // MP4 needs a seekable output to write its index: encode to a temporary file, then read it back.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'diffusekit-video-'));
  const out = path.join(dir, `video.${video.format}`);
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', video.channels === 4 ? 'rgba' : 'rgb24', '-s', `${video.width}x${video.height}`, '-r', String(video.fps), '-i', 'pipe:0',
    // 4:2:0 chroma is what players decode everywhere; it needs even sides.
    '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-pix_fmt', 'yuv420p',
    ...CODEC_ARGS[video.format](video.quality),
    ...(video.comment ? ['-metadata', `comment=${video.comment}`] : []),
    out,
  ];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
      child.on('error', (err) => reject(new VideoEncodeError(`ffmpeg (${binary}) could not be started: ${err.message}`, { cause: err })));
      child.on('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(new VideoEncodeError(`ffmpeg failed to encode ${video.format} (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
      });
      child.stdin.on('error', () => {}); // a failing ffmpeg closes its input early; 'close' reports why
      child.stdin.end(pixels);
    });
    return await fs.readFile(out);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
