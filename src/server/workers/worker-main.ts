/**
 * Entry point of an engine worker process (forked by WorkerPool). The engine runs here, not in the server,
 * so a native abort or crash ends this process only: the server fails or retries the job and forks anew.
 */
import type { JobProgress } from '../jobs/job-spec.js';
import { JobExecutor } from './executor.js';
import type { FromWorker, JobPreview, ToWorker } from './protocol.js';

const PREVIEW_INTERVAL_MS = 250;

let executor: JobExecutor | undefined;
const running = new Map<number, AbortController>();

function send(message: FromWorker): void {
  // The server may be gone (killed): the callback takes the EPIPE, and 'disconnect' below ends this process.
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

async function run(id: number, job: Extract<ToWorker, { type: 'run' }>['job']): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  // Progress is sent at most every 100 ms, and always for the last step; the latest preview rides along
  // at most every PREVIEW_INTERVAL_MS.
  let lastSent = 0;
  let lastPreview = 0;
  let pending: JobPreview | undefined;
  const onProgress = (progress: JobProgress, preview?: JobPreview) => {
    if (preview) pending = preview;
    const now = Date.now();
    if (now - lastSent < 100 && progress.step < progress.steps) return;
    lastSent = now;
    const attach = pending && now - lastPreview >= PREVIEW_INTERVAL_MS ? pending : undefined;
    if (attach) [lastPreview, pending] = [now, undefined];
    send({ type: 'progress', id, progress, ...(attach ? { preview: attach } : {}) });
  };
  try {
    const outputs = await executor!.run(job.spec, job.outputNames, controller.signal, onProgress);
    send({ type: 'done', id, outputs });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    send({ type: 'failed', id, cancelled: controller.signal.aborted, error: { code: e.code ?? 'ERR_INTERNAL', message: e.message ?? String(err) } });
  } finally {
    running.delete(id);
    send({ type: 'models', loaded: executor!.loaded() });
  }
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'init') {
    executor = new JobExecutor(message.settings);
    send({ type: 'ready' });
  } else if (message.type === 'run') {
    void run(message.job.id, message.job);
  } else if (message.type === 'cancel') {
    running.get(message.id)?.abort(new Error('cancelled'));
  }
});

// The server going away (IPC closed) ends the worker: no orphaned engine processes.
process.on('disconnect', () => {
  void executor?.close().finally(() => process.exit(0));
});
