import fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** Where inputs and outputs live: `inputs/<file>` and `generations/<file>`. */
export type StorageArea = 'inputs' | 'generations';

export interface StoredObject {
  body: Readable;
  size: number;
  contentType: string;
}

/**
 * The files jobs share between API nodes and worker nodes: uploaded inputs and generated outputs. One
 * machine uses a local folder; several share an S3-compatible bucket (or a shared folder).
 */
export interface ObjectStorage {
  readonly kind: 'local' | 's3';
  /** The local folder of an area, when the storage is a folder workers can use in place. */
  localDir(area: StorageArea): string | undefined;
  put(area: StorageArea, file: string, bytes: Buffer): Promise<void>;
  get(area: StorageArea, file: string): Promise<StoredObject | undefined>;
  read(area: StorageArea, file: string): Promise<Buffer | undefined>;
  remove(area: StorageArea, file: string): Promise<void>;
  /** A URL that reads the object directly from the store for `seconds` (S3: presigned), when the store has them. */
  presignedUrl?(area: StorageArea, file: string, seconds: number): Promise<string>;
}

/** The content types of stored files, by extension. */
export const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

export const contentTypeOf = (file: string): string => CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';

/** A file name safe to join to a folder or a key prefix: no separators, no dot-dot. */
export function safeFileName(file: string): string {
  const base = path.basename(file);
  if (base !== file || base === '' || base === '.' || base === '..') throw new Error(`not a plain file name: ${file}`);
  return base;
}

/** Files under the data directory: <dataDir>/inputs and <dataDir>/generations. */
export class LocalStorage implements ObjectStorage {
  readonly kind = 'local';
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  localDir(area: StorageArea): string {
    return path.join(this.#root, area);
  }

  async put(area: StorageArea, file: string, bytes: Buffer): Promise<void> {
    const target = path.join(this.localDir(area), safeFileName(file));
    await fs.mkdir(path.dirname(target), { recursive: true });
    // A temporary name and a rename: readers never see half a file.
    await fs.writeFile(`${target}.part`, bytes);
    await fs.rename(`${target}.part`, target);
  }

  async get(area: StorageArea, file: string): Promise<StoredObject | undefined> {
    const target = path.join(this.localDir(area), safeFileName(file));
    const stat = await fs.stat(target).catch(() => undefined);
    if (!stat?.isFile()) return undefined;
    return { body: createReadStream(target), size: stat.size, contentType: contentTypeOf(file) };
  }

  async read(area: StorageArea, file: string): Promise<Buffer | undefined> {
    return fs.readFile(path.join(this.localDir(area), safeFileName(file))).catch(() => undefined);
  }

  async remove(area: StorageArea, file: string): Promise<void> {
    await fs.rm(path.join(this.localDir(area), safeFileName(file)), { force: true });
  }
}
