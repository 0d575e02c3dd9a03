import os from 'node:os';
import path from 'node:path';

/** diffusekit's cache folder (DIFFUSEKIT_CACHE_DIR, else ~/.cache/diffusekit), or a sub-folder of it. */
export function cacheDir(...parts: string[]): string {
  const root = process.env.DIFFUSEKIT_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'diffusekit');
  return path.join(root, ...parts);
}
