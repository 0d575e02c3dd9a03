import { randomUUID } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { ApiError } from '../errors.js';
import { safeFetch } from '../net/safe-fetch.js';
import type { ObjectStorage } from './object-storage.js';

export interface ImageInputSettings {
  /** Where inputs are kept for the job, and outputs read from when a URL points at this server's own. */
  storage: ObjectStorage;
  /** Origins that mean "this server" (request origin, public URL): their /generations/ URLs are read from disk. */
  selfOrigins: string[];
  maxBytes: number;
  fetchTimeoutMs: number;
  allowHosts: string[];
}

export interface StoredImage {
  /** File name inside the inputs folder. */
  file: string;
  width: number;
  height: number;
}

const DATA_URL = /^data:([\w/+.-]+)?(;[\w=.-]+)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const GENERATIONS = '/generations/';

function invalidImage(parameter: string, why: string): ApiError {
  return new ApiError(400, 'invalid_image', `${parameter}: ${why}`);
}

/** A generations URL of this server, as a file name, or undefined. */
function ownOutput(value: string, selfOrigins: string[]): string | undefined {
  if (value.startsWith(GENERATIONS)) return value.slice(GENERATIONS.length);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (!url.pathname.startsWith(GENERATIONS) || !selfOrigins.includes(url.origin)) return undefined;
  return decodeURIComponent(url.pathname.slice(GENERATIONS.length));
}

/** The bytes of an image parameter: an output of this server, an http(s) URL (SSRF-guarded fetch), a data URL or base64. */
export async function readBytes(parameter: string, value: string, settings: ImageInputSettings): Promise<Buffer> {
  const own = ownOutput(value, settings.selfOrigins);
  if (own !== undefined) {
    const bytes = own.includes('/') ? undefined : await settings.storage.read('generations', own).catch(() => undefined);
    if (!bytes) throw invalidImage(parameter, `${value} is not (or no longer) an output of this server`);
    return bytes;
  }
  if (/^https?:\/\//i.test(value)) {
    const response = await safeFetch(value, {
      maxBytes: settings.maxBytes,
      timeoutMs: settings.fetchTimeoutMs,
      allow: settings.allowHosts,
      acceptContentType: (type) => type.startsWith('image/') || type === 'application/octet-stream' || type === '',
    });
    if (response.status < 200 || response.status > 299) throw new ApiError(400, 'url_fetch_failed', `${parameter}: fetching ${value} answered HTTP ${response.status}`);
    return response.body;
  }
  const dataUrl = DATA_URL.exec(value);
  const base64 = (dataUrl ? value.slice(dataUrl[0].length) : value).replace(/\s+/g, '');
  if (!BASE64.test(base64)) {
    throw invalidImage(parameter, dataUrl ? 'the data URL is not valid base64' : 'expected an http(s) URL, a data URL or base64-encoded image data');
  }
  if ((base64.length * 3) / 4 > settings.maxBytes) throw new ApiError(413, 'image_too_large', `${parameter}: the image is larger than ${settings.maxBytes} bytes`);
  return Buffer.from(base64, base64.includes('-') || base64.includes('_') ? 'base64url' : 'base64');
}

/**
 * Resolves an image parameter (URL, data URL or base64) to bytes, checks that sharp can decode it, and
 * keeps it in the inputs folder for the job: a queued job must not depend on a URL that may change.
 */
export async function storeImageInput(parameter: string, value: unknown, settings: ImageInputSettings): Promise<StoredImage> {
  if (typeof value !== 'string' || value.trim().length === 0) throw invalidImage(parameter, 'expected an http(s) URL, a data URL or base64-encoded image data');
  return storeImageBytes(parameter, await readBytes(parameter, value.trim(), settings), settings);
}

/** Keeps an image given as bytes (a multipart upload, a converted mask) in the inputs folder, after checking it decodes. */
export async function storeImageBytes(parameter: string, bytes: Buffer, settings: Pick<ImageInputSettings, 'storage' | 'maxBytes'>): Promise<StoredImage> {
  if (bytes.length > settings.maxBytes) throw new ApiError(413, 'image_too_large', `${parameter}: the image is larger than ${settings.maxBytes} bytes`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: 16384 * 16384 }).metadata();
  } catch (err) {
    throw invalidImage(parameter, `not a readable image (${(err as Error).message})`);
  }
  if (!meta.width || !meta.height) throw invalidImage(parameter, 'the image has no size');
  const file = `${randomUUID()}.${meta.format ?? 'bin'}`;
  await settings.storage.put('inputs', file, bytes);
  const rotated = (meta.orientation ?? 1) >= 5;
  return { file, width: rotated ? meta.height : meta.width, height: rotated ? meta.width : meta.height };
}
