import fs from 'node:fs';
import path from 'node:path';

/** Owner-only modes: the data directory holds every prompt, every output and the keys' secrets. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` owner-only, or narrows an existing one (installs made before this check) to owner-only.
 * chmod, not only mkdir's mode: mkdir leaves an existing folder as it is and applies the umask to a new one.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Narrows those of `files` (in `dir`) that exist to owner read/write. */
export function restrictFiles(dir: string, files: readonly string[]): void {
  for (const file of files) {
    try {
      fs.chmodSync(path.join(dir, file), PRIVATE_FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
