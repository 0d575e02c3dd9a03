import type { Progress } from './progress.js';

/** Exit status after Ctrl-C: 128 + SIGINT, as shells report it. */
export const INTERRUPTED_EXIT = 130;

let reported = false;

/** Whether "interrupted" has been printed (main() then prints nothing more for the AbortError). */
export const interruptReported = (): boolean => reported;

export interface Interrupt {
  /** Aborted at the first Ctrl-C. */
  readonly signal: AbortSignal;
  /**
   * Runs work that cannot be cancelled (loading a model): a Ctrl-C meanwhile exits at once. Returns its
   * result; rejects as the work does.
   */
  uninterruptible<T>(work: Promise<T>): Promise<T>;
  dispose(): void;
}

/**
 * Ctrl-C handling for long commands: the first SIGINT prints "interrupted" and aborts the signal, so the
 * Pipeline stops within a step and the command exits 130 without writing its output; a second SIGINT (or
 * one during work that cannot be cancelled) exits 130 at once.
 */
export function handleInterrupts(progress: Progress, stderr: NodeJS.WritableStream = process.stderr): Interrupt {
  const controller = new AbortController();
  let hard = 0;
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(INTERRUPTED_EXIT);
    progress.clear();
    stderr.write('interrupted\n');
    reported = true;
    controller.abort();
    if (hard > 0) process.exit(INTERRUPTED_EXIT);
  };
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    async uninterruptible(work) {
      hard += 1;
      try {
        if (controller.signal.aborted) process.exit(INTERRUPTED_EXIT);
        return await work;
      } finally {
        hard -= 1;
      }
    },
    dispose() {
      process.off('SIGINT', onSigint);
    },
  };
}
