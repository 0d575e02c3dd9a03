import path from 'node:path';
import { platformDirs } from './platform-dirs.js';

/** diffusekit's cache folder (DIFFUSEKIT_CACHE_DIR, else the OS's: ~/.cache/diffusekit on Linux, see platformDirs), or a sub-folder of it. */
export function cacheDir(...parts: string[]): string {
  const root = process.env.DIFFUSEKIT_CACHE_DIR || platformDirs().cache;
  return path.join(root, ...parts);
}
