// Graceful shutdown of `diffusekit serve` (issue 17): SIGTERM while a request waits for its running job answers
// that request ("processing", with its fetch URL), hands the job back to the queue without spending an attempt
// and exits cleanly; a second signal exits at once. And --log keeps API keys out of the log.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, post, startServer, tempDataDir } from './helpers.js';
import { startRedis } from './redis-helpers.js';

// Several seconds on two cores: long enough to be caught running.
const SLOW = { width: 192, height: 192, num_inference_steps: 6 };

interface Served {
  child: ChildProcess;
  url: string;
  stdout: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterAll(() => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));

async function serve(dataDir: string, ...flags: string[]): Promise<Served> {
  const child = spawn(process.execPath, ['lib/cli/main.js', 'serve', '--no-auth', '--port', '0', '--data-dir', dataDir, '--threads', '2', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      stdout.push(line);
      if (line.startsWith('{"event"')) resolve((JSON.parse(line) as { url: string }).url);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, stdout, stderr: () => stderr, exited };
}

const jobRow = (dataDir: string, id: number) => {
  const db = new Database(path.join(dataDir, 'diffusekit.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT status, attempts FROM jobs WHERE id = ?').get(id) as { status: string; attempts: number };
  } finally {
    db.close();
  }
};

const runningJob = (url: string, id: number) =>
  eventually(async () => ((await post(`${url}/api/v6/system_load`, {})).body.workers[0].job === id ? true : undefined), 60_000, `job ${id} to run`);

describe('diffusekit serve on SIGTERM', () => {
  it('answers the waiting request, hands its running job back unspent, closes cleanly, and logged no key', async () => {
    const dataDir = tempDataDir();
    const served = await serve(dataDir, '--sync-wait', '300', '--log');
    const secrets = ['sk-query-secret-1', 'sk-header-secret-2', 'sk-body-secret-3'];
    await fetch(`${served.url}/api/v6/system_load?key=${secrets[0]}`);
    await post(`${served.url}/api/v6/system_load`, { key: secrets[2] }, { authorization: `Bearer ${secrets[1]}` });
    // Refused requests are logged too: with the key redacted.
    expect((await post(`${served.url}/api/v6/images/text2img?key=${secrets[0]}`, { key: secrets[2], width: 'wide' })).status).toBe(400);

    const waiting = post(`${served.url}/api/v6/images/text2img`, { ...SLOW, prompt: 'caught by the shutdown', seed: 5 });
    await runningJob(served.url, 1);
    served.child.kill('SIGTERM');
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'processing', id: 1, fetch_result: `${served.url}/api/v6/images/fetch/1` });
    expect(await served.exited).toBe(0);
    expect(served.stderr()).not.toMatch(/database connection is not open|Unhandled|Error:/);
    // Back in the queue, the interrupted attempt not counted: it runs first, with both retries, at the next start.
    expect(jobRow(dataDir, 1)).toEqual({ status: 'queued', attempts: 0 });

    const log = served.stdout.join('\n');
    expect(log).toContain('[redacted]');
    for (const secret of secrets) expect(log).not.toContain(secret);
  });

  it('exits at once on a second signal, leaving the running job to the next start', async () => {
    const dataDir = tempDataDir();
    const served = await serve(dataDir, '--sync-wait', '0');
    const job = await post(`${served.url}/api/v6/images/text2img`, { ...SLOW, prompt: 'impatient', seed: 6 });
    await runningJob(served.url, job.body.id);
    // A request whose body is still arriving holds the graceful shutdown (up to the body timeout).
    const stalled = net.connect(Number(new URL(served.url).port), '127.0.0.1');
    stalled.on('error', () => {});
    await new Promise((resolve) => stalled.write('POST /api/v6/system_load HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', resolve));
    await eventually(async () => (await post(`${served.url}/api/v6/system_load`, {})).status === 200 || undefined, 10_000, 'the stalled request to be read');
    served.child.kill('SIGTERM');
    await eventually(() => served.stderr().includes('stopping') || undefined, 10_000, 'the graceful stop to begin');
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(143);
    stalled.destroy();
    // Recovered (attempt counted) by the next start, as after a crash.
    expect(jobRow(dataDir, job.body.id)).toMatchObject({ status: 'running', attempts: 1 });
  });
});

describe('a Redis worker node that stops', () => {
  it('hands its running job back to the queue without counting the attempt', async () => {
    const redis = await startRedis();
    const server = await startServer({ queue: 'redis', redisUrl: redis.url, syncWaitSeconds: 0, workerLockMs: 1000 });
    try {
      const job = await post(`${server.url}/api/v6/images/text2img`, { ...SLOW, prompt: 'handed back', seed: 7 });
      await eventually(async () => ((await server.service.get(job.body.id))?.status === 'running' && (await server.service.progress(job.body.id))) || undefined, 60_000, 'the job to run');
      const { RedisJobStore } = await import('../../lib/server/redis/job-store.js');
      const { connectRedis } = await import('../../lib/server/redis/connection.js');
      await server.close();
      const client = connectRedis(redis.url);
      try {
        expect(await new RedisJobStore(client).get(job.body.id)).toMatchObject({ status: 'queued', attempts: 0, worker: null });
      } finally {
        client.disconnect();
      }
    } finally {
      await server.close();
      await redis.stop();
    }
  });
});
