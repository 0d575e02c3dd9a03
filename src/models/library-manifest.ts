import fs from 'node:fs';
import path from 'node:path';
import type { LibraryRole } from './aliases.js';
import type { ModelFamily } from './inspect.js';

/** Where a pulled file came from, and what it was checked against. */
export interface PulledFile {
  /** owner/name on the Hub. */
  repo: string;
  /** Path of the file inside the repository. */
  file: string;
  /** The revision asked for (a branch, tag or commit). */
  revision: string;
  /** The commit that revision pointed to, when the Hub said. */
  commit?: string;
  /** Hex sha256 of the file (the Hub's, verified). */
  sha256: string;
  size: number;
  /** ISO time of the pull. */
  pulledAt: string;
  /** Expected family and role, from the alias it was pulled by. */
  family?: ModelFamily;
  role?: LibraryRole;
}

/** The library's own record: which alias names which file, and where each pulled file came from. */
export interface LibraryManifest {
  version: 1;
  /** Alias -> file name in the library. */
  aliases: Record<string, string>;
  /** File name in the library -> its source. */
  files: Record<string, PulledFile>;
}

export const MANIFEST_FILE = 'manifest.json';

const emptyManifest = (): LibraryManifest => ({ version: 1, aliases: {}, files: {} });

/** The manifest of a library folder; an empty one when there is none (or it is unreadable: it is only a record). */
export function readManifest(dir: string): LibraryManifest {
  let parsed: Partial<LibraryManifest>;
  try {
    parsed = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8'));
  } catch {
    return emptyManifest();
  }
  return { version: 1, aliases: { ...parsed.aliases }, files: { ...parsed.files } };
}

/** Reads, changes and writes the manifest; readers never see a half-written file. */
export function updateManifest(dir: string, change: (manifest: LibraryManifest) => void): LibraryManifest {
  const manifest = readManifest(dir);
  change(manifest);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, MANIFEST_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(tmp, file);
  return manifest;
}

/** Drops a file's record and every alias that names it. */
export function forgetFile(manifest: LibraryManifest, fileName: string): void {
  delete manifest.files[fileName];
  for (const [alias, target] of Object.entries(manifest.aliases)) if (target === fileName) delete manifest.aliases[alias];
}
