import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrainerMissingError, TrainingError } from '../errors.js';
import { defaultDataDir } from '../server/data-dir.js';

/** The trainer's own files (train_lora.py, the pinned requirements), shipped in the package. */
export const TRAINER_DIR = fileURLToPath(new URL('../../trainer/', import.meta.url));
export const TRAINER_SCRIPT = path.join(TRAINER_DIR, 'train_lora.py');
const REQUIREMENTS = ['requirements.txt', 'requirements-data.txt'];
const STAMP = 'diffusekit-trainer.json';

/** Where the trainer's virtual environment lives: `venv`, else $DIFFUSEKIT_TRAINER_VENV, else <data dir>/trainer/venv. */
export function trainerVenv(venv?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(venv ?? (env.DIFFUSEKIT_TRAINER_VENV || path.join(defaultDataDir(env), 'trainer', 'venv')));
}

const venvPython = (venv: string) => path.join(venv, 'bin', 'python');

/** A hash of the pinned requirements: an environment made from other pins is out of date. */
function requirementsHash(): string {
  const hash = createHash('sha256');
  for (const file of REQUIREMENTS) hash.update(fs.readFileSync(path.join(TRAINER_DIR, file)));
  return hash.digest('hex').slice(0, 16);
}

/** The Python of an installed, up-to-date trainer environment; throws TrainerMissingError otherwise. */
export function trainerPython(venv?: string): string {
  const dir = trainerVenv(venv);
  const python = venvPython(dir);
  let stamp: { requirements?: string } | undefined;
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(dir, STAMP), 'utf8')) as { requirements?: string };
  } catch {
    throw new TrainerMissingError(`The trainer is not installed in ${dir}: run \`diffusekit trainer setup\` (a Python virtual environment with torch, diffusers and peft)`);
  }
  if (stamp.requirements !== requirementsHash() || !fs.existsSync(python)) {
    throw new TrainerMissingError(`The trainer in ${dir} was installed from other pinned versions: run \`diffusekit trainer setup\` again`);
  }
  return python;
}

export interface TrainerSetupOptions {
  /** The virtual environment to make; default as `trainerVenv()`. */
  venv?: string;
  /** The Python that makes the environment; default `python3`. */
  python?: string;
  /** A package index for torch alone (e.g. the PyTorch CPU wheel index where it can be reached); default the registry's. */
  torchIndexUrl?: string;
  /** Lines of pip's output. */
  onLog?: (line: string) => void;
}

export interface TrainerSetupResult {
  venv: string;
  python: string;
  /** False when an up-to-date environment was already there. */
  installed: boolean;
  seconds: number;
}

function run(command: string, args: string[], onLog?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    const tail: string[] = [];
    const take = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLog?.(line);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => reject(new TrainingError(`${command} could not be started: ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new TrainingError(`${path.basename(command)} ${args.slice(0, 3).join(' ')} failed (exit ${code}):\n${tail.join('\n')}`))));
  });
}

/**
 * Installs the trainer: a virtual environment with the pinned torch, diffusers, peft and accelerate from the
 * package registry (pip's wheel cache under ~/.cache/pip makes a second install quick). Does nothing when an
 * environment from the same pins is there.
 */
export async function setupTrainer(options: TrainerSetupOptions = {}): Promise<TrainerSetupResult> {
  const started = Date.now();
  const venv = trainerVenv(options.venv);
  try {
    const python = trainerPython(venv);
    return { venv, python, installed: false, seconds: 0 };
  } catch {
    // not installed, or from other pins: (re)install below
  }
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  if (!fs.existsSync(venvPython(venv))) await run(options.python ?? 'python3', ['-m', 'venv', venv], options.onLog);
  const pip = [venvPython(venv), '-m', 'pip', 'install', '--progress-bar', 'off'] as const;
  if (options.torchIndexUrl) {
    const torch = fs.readFileSync(path.join(TRAINER_DIR, 'requirements.txt'), 'utf8').match(/^torch==\S+/m)?.[0] ?? 'torch';
    await run(pip[0], [...pip.slice(1), '--index-url', options.torchIndexUrl, torch], options.onLog);
  }
  await run(pip[0], [...pip.slice(1), '-r', path.join(TRAINER_DIR, 'requirements.txt')], options.onLog);
  await run(pip[0], [...pip.slice(1), '--no-deps', '-r', path.join(TRAINER_DIR, 'requirements-data.txt')], options.onLog);
  fs.writeFileSync(path.join(venv, STAMP), `${JSON.stringify({ requirements: requirementsHash(), installedAt: new Date().toISOString() })}\n`);
  return { venv, python: venvPython(venv), installed: true, seconds: (Date.now() - started) / 1000 };
}
