import { spawnSync, type ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/server/redis/connection.js';
import { eventually, post, tempDataDir } from './helpers.js';
import { startRedis, startServeNode, type RedisServer, type ServeNode } from './redis-helpers.js';

const tiny = { width: 64, height: 64, num_inference_steps: 1 };
const slow = { width: 192, height: 192, num_inference_steps: 8 };

type Node = ServeNode;

describe('scale-out on Redis: one API node, two worker nodes', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  const dataDir = tempDataDir();
  const children: ChildProcess[] = [];
  let api: Node;
  let workers: Node[] = [];

  async function node(role: 'api' | 'worker', extra: string[] = []): Promise<Node> {
    return startServeNode(role, ['--queue', 'redis', '--redis-url', redisServer.url, '--data-dir', dataDir, '--threads', '1', '--worker-lock', '2', ...extra], children);
  }

  const fetchJob = (id: number) => post(`${api.url}/api/v6/images/fetch/${id}`, {});
  const done = (id: number, timeoutMs = 120_000) =>
    eventually(async () => {
      const state = await fetchJob(id);
      return state.body.status !== 'processing' ? state.body : undefined;
    }, timeoutMs, `job ${id}`);
  const workerOf = async (id: number) => (await redis.hget(`dk:job:${id}`, 'worker')) ?? '';

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = connectRedis(redisServer.url);
    const key = spawnSync(process.execPath, ['lib/cli/main.js', 'keys', 'create', '--name', 'shared', '--rate', '100', '--json', '--redis-url', redisServer.url], { encoding: 'utf8' });
    expect(key.status).toBe(0);
    [api, ...workers] = await Promise.all([node('api', ['--no-auth']), node('worker'), node('worker')]);
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    redis?.disconnect();
    await redisServer?.stop();
  });

  it('spreads jobs over both worker nodes and reports them in system_load', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push((await post(`${api.url}/api/v6/images/text2img`, { ...tiny, prompt: `job ${i}`, seed: i })).body.id);
    for (const id of ids) expect((await done(id)).status).toBe('success');
    const nodes = new Set(await Promise.all(ids.map(workerOf)));
    expect(nodes.size).toBe(2);
    const load = await post(`${api.url}/api/v6/system_load`, {});
    expect(load.body.workers).toHaveLength(2);
    expect(new Set(load.body.workers.map((w: { node: string }) => w.node))).toEqual(nodes);
    // Outputs written by worker nodes are served by the API node.
    const first = await fetchJob(ids[0]);
    expect((await fetch(first.body.output[0])).status).toBe(200);
  });

  it('a worker node killed with SIGKILL mid-job: the job completes on the other node', async () => {
    const { body } = await post(`${api.url}/api/v6/images/text2img`, { ...slow, prompt: 'survivor', seed: 5 });
    const holder = await eventually(async () => {
      const progress = await redis.get(`dk:progress:${body.id}`);
      return progress ? workerOf(body.id) : undefined;
    }, 60_000, 'the job to start');
    const victim = workers.find((w) => holder.endsWith(`:${w.pid}`))!;
    expect(victim).toBeDefined();
    victim.child.kill('SIGKILL');
    const result = await done(body.id, 180_000);
    expect(result.status).toBe('success');
    const survivor = workers.find((w) => w !== victim)!;
    expect(await workerOf(body.id)).toMatch(new RegExp(`:${survivor.pid}$`));
    const record = await redis.hgetall(`dk:job:${body.id}`);
    expect(Number(record.attempts)).toBe(2);
    // The survivor took it; the API answered throughout.
    expect((await post(`${api.url}/api/v6/system_load`, {})).status).toBe(200);
    workers.splice(workers.indexOf(victim), 1, await node('worker'));
  });

  it("shows a worker node's progress through the API node: v6 fetch and sdapi/v1/progress", async () => {
    const { body } = await post(`${api.url}/api/v6/images/text2img`, { ...slow, prompt: 'watch me', seed: 2 });
    const running = await eventually(async () => {
      const state = await fetchJob(body.id);
      return state.body.progress?.phase === 'sampling' ? state.body : undefined;
    }, 60_000, 'progress in fetch');
    expect(running).toMatchObject({ status: 'processing', progress: { steps: 8 } });
    const progress = await eventually(async () => {
      const answer = (await (await fetch(`${api.url}/sdapi/v1/progress`)).json()) as { progress: number; state: { sampling_steps: number } };
      return answer.state.sampling_steps === 8 ? answer : undefined;
    }, 60_000, 'sdapi progress');
    expect(progress.progress).toBeGreaterThan(0);
    expect((await done(body.id)).status).toBe('success');
  });

  it('an API node restarted (SIGKILL) loses no job: they finish and fetch from the new one', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post(`${api.url}/api/v6/images/text2img`, { ...tiny, prompt: `restart ${i}`, seed: i })).body.id);
    api.child.kill('SIGKILL');
    api = await node('api', ['--no-auth']);
    for (const id of ids) expect((await done(id)).status).toBe('success');
  });

  it('cancels a job running on a worker node, and delivers its webhook once, signed', async () => {
    const received: { body: string; signature: string }[] = [];
    const http = await import('node:http');
    const receiver = http.createServer((request, response) => {
      let body = '';
      request.on('data', (d: Buffer) => (body += d));
      request.on('end', () => {
        received.push({ body, signature: String(request.headers['x-diffusekit-signature']) });
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    try {
      const { body } = await post(`${api.url}/api/v6/images/text2img`, { ...slow, num_inference_steps: 30, prompt: 'stop me', seed: 1, webhook: hook });
      await eventually(() => redis.get(`dk:progress:${body.id}`), 60_000, 'the job to start');
      await post(`${api.url}/api/v6/images/cancel/${body.id}`, {});
      const ended = await done(body.id, 60_000);
      expect(ended).toMatchObject({ status: 'error', cancelled: true });
      await eventually(() => received.length > 0 || undefined, 30_000, 'the webhook');
      const secret = await redis.get('dk:webhook-secret');
      const { verifyWebhookSignature } = await import('../../lib/server/index.js');
      expect(verifyWebhookSignature(received[0].body, received[0].signature, secret!)).toBe(true);
      expect(JSON.parse(received[0].body)).toMatchObject({ id: body.id, status: 'error', cancelled: true });
      await eventually(async () => ((await fetchJob(body.id)).body.webhook_status === 'delivered') || undefined, 10_000, 'webhook_status');
      expect(received).toHaveLength(1);
    } finally {
      receiver.close();
    }
  });

  it('keys and rate limits are shared by API nodes', async () => {
    const limited = JSON.parse(
      spawnSync(process.execPath, ['lib/cli/main.js', 'keys', 'create', '--name', 'limited', '--rate', '1', '--json', '--redis-url', redisServer.url], { encoding: 'utf8' }).stdout,
    ) as { key: string };
    const second = await node('api');
    const authed = [await node('api'), second];
    const first = await post(`${authed[0].url}/api/v6/system_load`, { key: limited.key });
    expect(first.status).toBe(200);
    // The same key on another API node: the bucket is in Redis, so this is the second request of the second.
    const other = await post(`${authed[1].url}/api/v6/system_load`, { key: limited.key });
    expect(other.status).toBe(429);
    expect(other.headers.get('retry-after')).toBe('1');
    expect((await post(`${authed[1].url}/api/v6/system_load`, { key: 'dk_unknown' })).status).toBe(401);
  });

  it('monthly quotas are counted in Redis: images through one API node count on the other (402)', async () => {
    const quota = JSON.parse(
      spawnSync(process.execPath, ['lib/cli/main.js', 'keys', 'create', '--name', 'quota', '--quota', '1', '--json', '--redis-url', redisServer.url], { encoding: 'utf8' }).stdout,
    ) as { key: string };
    const [one, two] = [await node('api'), await node('api')];
    const first = await post(`${one.url}/api/v6/images/text2img`, { ...tiny, prompt: 'the one image', key: quota.key });
    expect(first.status).toBe(200);
    const second = await post(`${two.url}/api/v6/images/text2img`, { ...tiny, prompt: 'one too many', key: quota.key });
    expect(second.status).toBe(402);
    expect(second.body).toMatchObject({ status: 'error', message: expect.stringMatching(/quota/) });
  });

  it('A1111 options set through one API node hold on another, whatever its data directory', async () => {
    const [one, two] = [await node('api', ['--no-auth']), await node('api', ['--no-auth', '--data-dir', tempDataDir()])];
    const set = await fetch(`${one.url}/sdapi/v1/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ CLIP_stop_at_last_layers: 2 }) });
    expect(set.status).toBe(200);
    const read = (await (await fetch(`${two.url}/sdapi/v1/options`)).json()) as { CLIP_stop_at_last_layers: number };
    expect(read.CLIP_stop_at_last_layers).toBe(2);
    expect(await redis.hget('dk:a1111:options:server', 'CLIP_stop_at_last_layers')).toBe('2');
  });
});
