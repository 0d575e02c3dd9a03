import fs from 'node:fs';
import path from 'node:path';
import { DiffusekitError } from '../errors.js';

// Which compute backends the engine runs on. A build from source links one CPU backend, tuned for the
// machine that built it, into the addon. A prebuilt (portable) addon ships ggml's CPU backend as one module
// per CPU variant (libggml-cpu-haswell.so, -skylakex, -zen4, ...): here each is scored by its own feature
// check (0 = this CPU lacks an instruction it needs), and the best one that loads is registered before the
// engine is first used. A variant that fails to load (missing, corrupt, wrong platform) is skipped for the
// next best, never left to crash the process.

/** One CPU backend variant found next to a portable addon. */
export interface CpuVariantCandidate {
  /** The variant's name: 'haswell' for libggml-cpu-haswell.so. */
  name: string;
  file: string;
  /** The module's own score for this CPU: higher uses more of it, 0 cannot run here. */
  score: number;
  /** Why the module could not be probed or loaded. */
  error?: string;
}

/** The CPU backend the engine runs on, and why that one. */
export interface CpuVariantReport {
  /** 'native' for a build from source (tuned for the build machine), else the loaded variant's name. */
  name: string;
  reason: string;
  /** 'linked': one CPU backend inside the addon (from source); 'modules': variants chosen at run time (prebuilt). */
  mode: 'linked' | 'modules';
  /** Every variant found, best first (empty when linked). */
  candidates: CpuVariantCandidate[];
}

/** The addon's functions that find and register backend modules (native/backends.cc). */
export interface BackendLoader {
  probeBackend(file: string): number;
  loadBackend(file: string): { name: string; devices: unknown[] };
}

const CPU_VARIANT_FILE = /^(?:lib)?ggml-cpu(?:-([\w.]+))?\.(?:so|dll|dylib)$/;

function message(err: unknown): string {
  return (err as Error).message ?? String(err);
}

/** The CPU variant modules in `dir`, scored for this CPU, best first. */
export function scanCpuVariants(loader: BackendLoader, dir: string): CpuVariantCandidate[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const candidates: CpuVariantCandidate[] = [];
  for (const file of files.sort()) {
    const match = CPU_VARIANT_FILE.exec(file);
    if (!match) continue;
    const candidate: CpuVariantCandidate = { name: match[1] ?? 'generic', file: path.join(dir, file), score: 0 };
    try {
      candidate.score = loader.probeBackend(candidate.file);
    } catch (err) {
      candidate.error = message(err);
    }
    candidates.push(candidate);
  }
  return candidates.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
}

/**
 * Registers the CPU backend for a portable addon whose modules are in `dir` (DIFFUSEKIT_BACKEND_DIR overrides
 * it; DIFFUSEKIT_CPU_VARIANT forces one variant, as `npm run bench -- --cpu-variant` does).
 */
export function loadCpuVariant(loader: BackendLoader, dir: string, env: NodeJS.ProcessEnv = process.env): CpuVariantReport {
  const searched = env.DIFFUSEKIT_BACKEND_DIR || dir;
  const candidates = scanCpuVariants(loader, searched);
  const forced = env.DIFFUSEKIT_CPU_VARIANT?.trim();
  const fail = (text: string) => {
    throw new DiffusekitError('ERR_NATIVE_BINDING', `diffusekit could not load a CPU backend: ${text}`);
  };
  if (candidates.length === 0) {
    fail(`no CPU backend module (libggml-cpu-*.so) in ${searched}. Reinstall the package, or build from source with \`npm install --build-from-source\`.`);
  }
  const runnable = candidates.filter((c) => c.score > 0);
  const skipped = candidates.filter((c) => c.score <= 0).length;
  let order: CpuVariantCandidate[];
  let reason: string;
  if (forced) {
    const chosen = candidates.find((c) => c.name === forced);
    if (!chosen) fail(`DIFFUSEKIT_CPU_VARIANT=${forced} is not among the variants in ${searched} (${candidates.map((c) => c.name).join(', ')})`);
    if (chosen!.score <= 0) fail(`DIFFUSEKIT_CPU_VARIANT=${forced} cannot run on this CPU${chosen!.error ? ` (${chosen!.error})` : ' (it needs instructions this CPU lacks)'}`);
    order = [chosen!];
    reason = `forced by DIFFUSEKIT_CPU_VARIANT=${forced}`;
  } else {
    if (runnable.length === 0) {
      fail(`none of the ${candidates.length} variants in ${searched} can run on this CPU: ${candidates.map((c) => `${c.name}${c.error ? ` (${c.error})` : ''}`).join(', ')}`);
    }
    order = runnable;
    reason = `the best of the ${runnable.length} variants this CPU can run` + (skipped ? ` (${skipped} need instructions it lacks or did not load)` : '');
  }
  const failures: string[] = [];
  for (const candidate of order) {
    try {
      loader.loadBackend(candidate.file);
      if (failures.length) reason = `${reason}; ${failures.join('; ')}, so the next best`;
      return { name: candidate.name, reason, mode: 'modules', candidates };
    } catch (err) {
      candidate.error = message(err);
      failures.push(`${candidate.name} failed to load (${candidate.error})`);
    }
  }
  return fail(failures.join('; '));
}
