import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './models.js';

/** The built CLI (lib/ is made by `npm install`'s prepare step, or `npm run build:ts`). */
export const cliPath = path.resolve(import.meta.dirname, '..', '..', 'lib', 'cli', 'main.js');

/**
 * An environment as a user's shell would have it, minus anything that would leak the machine's own
 * diffusekit settings into a test: no DIFFUSEKIT_* variables (but the cache folder), a fresh config home,
 * no colour forcing.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('DIFFUSEKIT_') && key !== 'DIFFUSEKIT_CACHE_DIR') continue;
    if (key === 'NO_COLOR' || key === 'FORCE_COLOR' || key === 'XDG_CONFIG_HOME') continue;
    env[key] = value;
  }
  env.XDG_CONFIG_HOME = path.join(tempDir(), 'config');
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Runs `diffusekit ARGS...` to completion, as a user would (own cwd, clean environment by default). */
export function runCli(args: string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    cwd: options.cwd ?? tempDir(),
    env: options.env ?? cleanEnv(),
    input: options.input,
  });
}

export const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI in a pseudo-terminal through util-linux `script`; stdout holds everything the terminal showed. */
export function runInTerminal(args: string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  const command = [process.execPath, cliPath, ...args].map(quote).join(' ');
  return spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8', cwd: options.cwd ?? tempDir(), env: options.env ?? cleanEnv() });
}

/**
 * Starts a command, calls `trigger` with the child as soon as `ready` matches its output so far (stdout and
 * stderr together), and resolves with its exit status and output.
 */
export function runUntil(
  command: string,
  args: string[],
  ready: RegExp,
  trigger: (child: ReturnType<typeof spawn>) => void,
  options: RunOptions = {},
): Promise<{ status: number | null; signal: NodeJS.Signals | null; output: string; triggered: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? tempDir(), env: options.env ?? cleanEnv() });
    let output = '';
    let triggered = false;
    const onData = (data: Buffer) => {
      output += data.toString();
      if (!triggered && ready.test(output)) {
        triggered = true;
        trigger(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, output, triggered }));
  });
}

/** The files in a folder, sorted. */
export const filesIn = (dir: string): string[] => fs.readdirSync(dir).sort();
