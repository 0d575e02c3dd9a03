import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from '../../lib/server/index.js';
import { eventually, fetchUntilDone, post, startServer, tempDataDir } from './helpers.js';

const tiny = { width: 64, height: 64, num_inference_steps: 1 };
// Long enough (several seconds) to be caught mid-job.
const slow = { width: 192, height: 192, num_inference_steps: 6 };

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('worker crashes', () => {
  it('a worker killed mid-job is restarted, the job retried once, and the server answers throughout', async () => {
    const server = await startServer({ syncWaitSeconds: 0 });
    try {
      const job = await post(`${server.url}/api/v6/images/text2img`, { ...slow, prompt: 'survivor', seed: 3 });
      await eventually(() => server.service.progress(job.body.id), 60_000, 'the job to start');
      const [pid] = server.pool!.pids();
      process.kill(pid!, 'SIGKILL');
      // The server keeps answering while the worker is gone.
      const load = await post(`${server.url}/api/v6/system_load`, {});
      expect(load.status).toBe(200);
      const done = await fetchUntilDone(server, job.body.id);
      expect(done.body.status).toBe('success');
      expect((await server.service.get(job.body.id))!.attempts).toBe(2);
      const [newPid] = server.pool!.pids();
      expect(newPid).not.toBe(pid);
      expect(server.pool!.status()[0].restarts).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('a job whose worker dies twice fails with a message instead of retrying forever', async () => {
    const server = await startServer({ syncWaitSeconds: 0 });
    try {
      const job = await post(`${server.url}/api/v6/images/text2img`, { ...slow, prompt: 'doomed', seed: 3 });
      for (let attempt = 1; attempt <= 2; attempt++) {
        await eventually(async () => (await server.service.get(job.body.id))!.attempts === attempt && (await server.service.progress(job.body.id)), 60_000, `attempt ${attempt}`);
        process.kill(server.pool!.pids()[0]!, 'SIGKILL');
      }
      const done = await fetchUntilDone(server, job.body.id);
      expect(done.body.status).toBe('error');
      expect(done.body.message).toMatch(/worker died while running this job \(signal SIGKILL\), 2 times/);
      // The pool recovered: the next job runs.
      const next = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'next', seed: 1 });
      expect((await fetchUntilDone(server, next.body.id)).body.status).toBe('success');
    } finally {
      await server.close();
    }
  });
});

describe('restarts', () => {
  it('jobs queued (and running) when the server stops all finish after it starts again', async () => {
    const dataDir = tempDataDir();
    const first = await startServer({ dataDir, syncWaitSeconds: 0 });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post(`${first.url}/api/v6/images/text2img`, { ...tiny, prompt: `job ${i}`, seed: i })).body.id);
    await first.close();
    // What the stopped server left in its database: nothing lost, at least one job still to do.
    const db = new Database(path.join(dataDir, 'diffusekit.sqlite'), { readonly: true });
    const left = db.prepare(`SELECT status FROM jobs ORDER BY id`).all() as { status: string }[];
    db.close();
    expect(left).toHaveLength(3);
    expect(left.every((j) => ['queued', 'running', 'success'].includes(j.status))).toBe(true);
    expect(left.some((j) => j.status !== 'success')).toBe(true);

    const second = await createServer({ port: 0, dataDir, auth: false, syncWaitSeconds: 0, threads: 2 });
    await second.listen();
    try {
      for (const id of ids) expect((await fetchUntilDone(second, id)).body.status).toBe('success');
      expect(second.recovered.failed).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('a job the server was running at its last two deaths is failed with a message at the next start, not retried again', async () => {
    const dataDir = tempDataDir();
    const first = await createServer({ port: 0, dataDir, auth: false, threads: 2 });
    await first.close();
    // What two crashed runs leave behind: the job 'running', on its second attempt.
    const { JobStore } = await import('../../lib/server/jobs/job-store.js');
    const { openDatabase } = await import('../../lib/server/store/database.js');
    const handle = openDatabase(dataDir);
    const store = new JobStore(handle);
    const spec = { task: 'txt2img' as const, model: 'synthetic-sdxs-seed0-f16-v1', prompt: 'p', negativePrompt: '', samples: 1, steps: 1, guidanceScale: 7, seed: 1, loras: [], outputFormat: 'png' as const, nsfwPrompt: false, width: 64, height: 64 };
    const job = store.insert({ spec, api: 'v6', baseUrl: 'http://127.0.0.1' });
    store.claimNext('0', []);
    store.requeue(job.id);
    store.claimNext('0', []);
    expect(store.get(job.id)).toMatchObject({ status: 'running', attempts: 2 });
    handle.close();

    const second = await createServer({ port: 0, dataDir, auth: false, threads: 2 });
    await second.listen();
    try {
      expect(second.recovered).toEqual({ requeued: 0, failed: 1 });
      const state = await post(`${second.url}/api/v6/images/fetch/${job.id}`, {});
      expect(state.body).toMatchObject({ status: 'error', message: 'The server stopped while this job was running, 2 times: giving up' });
    } finally {
      await second.close();
    }
  });

  describe('a server process killed with SIGKILL', () => {
    const children: ChildProcess[] = [];
    afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

    async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
      const child = spawn(process.execPath, ['lib/cli/main.js', 'serve', '--no-auth', '--port', '0', '--data-dir', dataDir, '--sync-wait', '0', '--threads', '2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      const lines = readline.createInterface({ input: child.stdout! });
      const url = await new Promise<string>((resolve, reject) => {
        lines.on('line', (line) => {
          if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      return { child, url };
    }

    it('leaves no worker behind, and its running job completes after the restart', async () => {
      const dataDir = tempDataDir();
      const first = await serve(dataDir);
      const job = await post(`${first.url}/api/v6/images/text2img`, { ...slow, prompt: 'interrupted', seed: 11 });
      const queued = await post(`${first.url}/api/v6/images/text2img`, { ...tiny, prompt: 'waiting', seed: 12 });
      const load = await eventually(async () => {
        const state = await post(`${first.url}/api/v6/system_load`, {});
        return state.body.workers[0].job === job.body.id ? state.body : undefined;
      }, 60_000, 'the job to run');
      const workerPid = load.workers[0].pid as number;
      first.child.kill('SIGKILL');
      // The worker notices the closed IPC channel and exits: no orphaned engine process.
      await eventually(() => !alive(workerPid), 15_000, 'the orphaned worker to exit');

      const second = await serve(dataDir);
      const fetchAt = (id: number) => post(`${second.url}/api/v6/images/fetch/${id}`, {});
      const done = await eventually(async () => {
        const state = await fetchAt(job.body.id);
        return state.body.status !== 'processing' ? state : undefined;
      }, 120_000, 'the interrupted job');
      expect(done.body.status).toBe('success');
      const other = await eventually(async () => {
        const state = await fetchAt(queued.body.id);
        return state.body.status !== 'processing' ? state : undefined;
      }, 60_000, 'the queued job');
      expect(other.body.status).toBe('success');
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.once('exit', resolve));
    });
  });
});
