import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AbortError, TrainingError } from '../errors.js';

/** One JSON line of the trainer (see trainer/train_lora.py). */
export type TrainerEvent =
  | { event: 'loading'; model: string }
  | { event: 'resumed'; step: number }
  | { event: 'ready'; steps: number; images: number; parameters: number; seconds: number; device: string; architecture: 'sd' | 'sdxl' }
  | { event: 'step'; step: number; steps: number; loss: number; seconds: number; eta: number }
  | { event: 'checkpoint'; step: number }
  | { event: 'done'; output: string; steps: number; tensors: number; seconds: number; step_seconds: number | null }
  | { event: 'error'; type: string; message: string };

/** How long a trainer asked to stop (SIGTERM) gets before it is killed. */
const STOP_GRACE_MS = 5000;

/**
 * Runs the trainer script as a child process and hands each JSON line to `onEvent`. Resolves with the 'done'
 * event; rejects with TrainingError (the trainer's own message, or how it died) or AbortError when `signal`
 * fired (the process is stopped first). The trainer ends itself if this process dies (PR_SET_PDEATHSIG).
 */
export function runTrainer(
  python: string,
  args: string[],
  options: { signal?: AbortSignal; onEvent?: (event: TrainerEvent) => void; env?: NodeJS.ProcessEnv },
): Promise<Extract<TrainerEvent, { event: 'done' }>> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new AbortError('Training was aborted', { cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-u', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let done: Extract<TrainerEvent, { event: 'done' }> | undefined;
    let failure: string | undefined;
    const stderr: string[] = [];
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    createInterface({ input: child.stdout }).on('line', (line) => {
      let event: TrainerEvent;
      try {
        event = JSON.parse(line) as TrainerEvent;
      } catch {
        stderr.push(line); // a library printed to stdout: keep it with the log
        return;
      }
      if (event.event === 'done') done = event;
      if (event.event === 'error') failure = `${event.type}: ${event.message}`;
      options.onEvent?.(event);
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 30) stderr.shift();
    });
    child.on('error', (err) => failure ??= `the trainer could not be started (${err.message})`);
    child.on('close', (code, exitSignal) => {
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(new AbortError('Training was aborted', { cause: signal.reason }));
      if (code === 0 && done) return resolve(done);
      const how = exitSignal ? `was killed (${exitSignal})` : `exited with code ${code}`;
      const log = stderr.filter((l) => l.trim()).slice(-8).join('\n');
      reject(new TrainingError(failure ? `Training failed: ${failure}` : `The trainer ${how}${log ? `:\n${log}` : ''}`));
    });
  });
}
