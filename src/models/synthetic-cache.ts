import fs from 'node:fs';
import path from 'node:path';

// The synthetic-model cache (~/.cache/diffusekit/models) holds files that can always be written again, and the
// large families' layouts run to tens of GB: before a new file is written, the least recently used synthetic
// files are removed until the disk keeps a reserve free. Files used in the last minutes are never removed,
// so a test that synthesized its components a moment ago still finds them.

/** Free space the cache leaves on its disk after a write, in GiB; DIFFUSEKIT_SYNTH_RESERVE_GB overrides it. */
const DEFAULT_RESERVE_GIB = 6;
/** A file used this recently (ms) is kept even when space is short. */
const RECENT_MS = 20 * 60_000;
const SYNTHETIC = /^synthetic-/;

function reserveBytes(): number {
  const gib = Number(process.env.DIFFUSEKIT_SYNTH_RESERVE_GB ?? DEFAULT_RESERVE_GIB);
  return (Number.isFinite(gib) && gib >= 0 ? gib : DEFAULT_RESERVE_GIB) * 2 ** 30;
}

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

function sizeOf(file: string): number {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.size;
  return fs.readdirSync(file).reduce((n, f) => n + sizeOf(path.join(file, f)), 0);
}

/** Marks a cached file as used now: the eviction order is by last use. */
export function touchCached(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // gone meanwhile: the caller writes it again
  }
}

/**
 * Makes room for `bytes` more in `target` (the cache itself, or any folder on the cache's disk): removes
 * synthetic files of the cache folder `dir`, least recently used first, until the disk would keep its reserve,
 * sparing those used in the last minutes. Returns what it removed.
 */
export function makeRoom(dir: string, target: string, bytes: number, free: (dir: string) => number = freeBytes): string[] {
  const needed = bytes + reserveBytes();
  if (!fs.existsSync(dir) || fs.statSync(dir).dev !== fs.statSync(target).dev || free(dir) >= needed) return [];
  const now = Date.now();
  const candidates = fs.readdirSync(dir)
    .filter((f) => SYNTHETIC.test(f) && !f.includes('.part'))
    .map((f) => ({ file: path.join(dir, f), used: fs.statSync(path.join(dir, f)).mtimeMs }))
    .filter((c) => now - c.used > RECENT_MS)
    .sort((a, b) => a.used - b.used);
  const removed: string[] = [];
  for (const c of candidates) {
    if (free(dir) >= needed) break;
    const size = sizeOf(c.file);
    fs.rmSync(c.file, { recursive: true, force: true });
    removed.push(`${path.basename(c.file)} (${(size / 2 ** 30).toFixed(1)} GiB)`);
  }
  return removed;
}
