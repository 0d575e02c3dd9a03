import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/server/redis/connection.js';
import { generatedImages, sd1Diffusers, TEST_VENV, trainerInstalled } from '../training/helpers.js';
import { eventually, post, tempDataDir } from './helpers.js';
import { startRedis, startServeNode, type RedisServer, type ServeNode } from './redis-helpers.js';

type Node = ServeNode;

/** Serves the training images under /img/NAME and takes webhooks at /hook. */
async function imagesAndHooks(files: Map<string, Buffer>, hooks: Record<string, any>[]): Promise<{ origin: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/hook') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        hooks.push(JSON.parse(body));
        res.end('ok');
      });
      return;
    }
    const file = files.get(req.url ?? '');
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'image/png' }).end(file);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('LoRA training on the Redis queue: an API node and worker nodes, only --train ones train', () => {
  let redisServer: RedisServer;
  let redis: Redis;
  const dataDir = tempDataDir();
  const children: ChildProcess[] = [];
  const hooks: Record<string, any>[] = [];
  let web: { origin: string; close: () => void };
  let base: string;
  let api: Node;
  let imageUrls: string[];
  let key: string;

  async function node(role: 'api' | 'worker', extra: string[] = []): Promise<Node> {
    return startServeNode(role, ['--queue', 'redis', '--redis-url', redisServer.url, '--data-dir', dataDir, '--threads', '2', '--worker-lock', '2', '--model', base, ...extra], children, { ...process.env, DIFFUSEKIT_TRAINER_VENV: TEST_VENV });
  }
  /** The training nodes registered in Redis (their heartbeat), by pid. */
  const trainingNodes = async () => Object.values(await redis.hgetall('dk:nodes')).map((j) => JSON.parse(j)).filter((n) => n.canTrain).map((n) => Number(n.node.split(':').pop()));

  // 64x64 training (diffusekit's resolution field) keeps the steps short.
  const fineTune = (body: Record<string, unknown>) =>
    post(`${api.url}/api/v3/lora_fine_tune`, { key, instance_prompt: 'photo of sks dog', images: imageUrls, base_model_type: 'sd', lora_type: 'lora', resolution: 64, lora_rank: 4, ...body });
  const status = async (id: string) => (await post(`${api.url}/api/v3/fine_tune_status/${id}`, { key })).body;
  const ended = (id: string) =>
    eventually(async () => {
      const now = await status(id);
      return ['training_success', 'training_failed', 'training_cancelled'].includes(now.training_status) ? now : undefined;
    }, 1_200_000, `training ${id} to end`);

  beforeAll(async () => {
    base = sd1Diffusers();
    const files = new Map<string, Buffer>();
    for (const file of await generatedImages(base, path.join(tempDataDir(), 'images'))) files.set(`/img/${path.basename(file)}`, fs.readFileSync(file));
    web = await imagesAndHooks(files, hooks);
    imageUrls = [...files.keys()].map((k) => web.origin + k);
    redisServer = await startRedis();
    redis = connectRedis(redisServer.url);
    const created = spawnSync(process.execPath, ['lib/cli/main.js', 'keys', 'create', '--name', 'trainer', '--json', '--redis-url', redisServer.url], { encoding: 'utf8' });
    expect(created.status, created.stderr).toBe(0);
    key = (JSON.parse(created.stdout) as { key: string }).key;
    // An image-only worker node: the cluster cannot train yet. One after the other: nodes starting together on one
    // data directory can meet SQLite's 'database is locked' while it is created (seen once here).
    api = await node('api');
    await node('worker');
  }, 600_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    redis?.disconnect();
    await redisServer?.stop();
    web?.close();
  });

  it('answers 503 no_training_worker (JSON, at once) while no worker node takes trainings, and queues nothing', async () => {
    await eventually(async () => (await redis.hlen('dk:nodes')) === 1 || undefined, 30_000, 'the image node to report');
    const started = Date.now();
    const refused = await fineTune({ max_train_steps: 2 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.body).toMatchObject({ status: 'error', code: 'no_training_worker', message: expect.stringMatching(/--train/) });
    expect(await redis.get('dk:jobs:seq')).toBeNull();
    expect(fs.existsSync(path.join(dataDir, 'training')) ? fs.readdirSync(path.join(dataDir, 'training')) : []).toEqual([]);
    // role api cannot train: the flag is refused there
    const refusedFlag = spawnSync(process.execPath, ['lib/cli/main.js', 'serve', '--queue', 'redis', '--redis-url', redisServer.url, '--role', 'api', '--train'], { encoding: 'utf8' });
    expect(refusedFlag.status).not.toBe(0);
    expect(refusedFlag.stderr).toMatch(/canTrain/);
  });

  it.skipIf(!trainerInstalled)('trains on the --train node with progress, a webhook and the per-key quota; the LoRA works on the cluster', async () => {
    const trainer = await node('worker', ['--train']);
    await eventually(async () => (await trainingNodes()).includes(trainer.pid) || undefined, 30_000, 'the training node to report');
    const submitted = await fineTune({ max_train_steps: 2, seed: 5, learning_rate: 0.01, webhook: `${web.origin}/hook` });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    expect(submitted.body).toMatchObject({ status: 'success', messege: 'deploying_gpu' });
    const id = submitted.body.training_id as string;
    // The dataset travels to the worker node through the shared storage.
    expect(fs.existsSync(path.join(dataDir, 'inputs', `training-${id}.json`))).toBe(true);
    // One training per key at a time (limits.maxTrainingsPerKey 1), counted in Redis.
    const second = await fineTune({ max_train_steps: 2 });
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({ status: 'error', code: 'too_many_trainings' });

    const done = await ended(id);
    expect(done).toMatchObject({ status: 'success', training_status: 'training_success', training_id: id, model_id: id, lora_model: id, max_train_steps: 2, step: 2 });
    const jobId = Number((await redis.hget(`dk:training:${id}`, 'jobId'))!);
    expect(await redis.hget(`dk:job:${jobId}`, 'worker')).toMatch(new RegExp(`:${trainer.pid}$`));
    const hook = await eventually(() => hooks.find((h) => h.training_id === id), 30_000, 'the webhook');
    expect(hook).toMatchObject({ training_status: 'training_success', model_id: id });
    expect(fs.existsSync(path.join(dataDir, 'loras', `${id}.safetensors`))).toBe(true);
    await eventually(() => (!fs.existsSync(path.join(dataDir, 'training', id)) && !fs.existsSync(path.join(dataDir, 'inputs', `training-${id}.json`))) || undefined, 10_000, 'the dataset to go');

    // The quota is free again; the LoRA changes the images rendered on the cluster (either node), off at weight 0.
    const generate = async (extra: Record<string, unknown>) => {
      const { body } = await post(`${api.url}/api/v6/images/text2img`, { key, prompt: 'photo of sks dog', width: 64, height: 64, num_inference_steps: 1, seed: 3, ...extra });
      const result = await eventually(async () => {
        const state = (await post(`${api.url}/api/v6/images/fetch/${body.id}`, { key })).body;
        return state.status !== 'processing' ? state : undefined;
      }, 300_000, 'an image');
      expect(result.status, JSON.stringify(result)).toBe('success');
      return sharp(Buffer.from(await (await fetch(result.output[0])).arrayBuffer())).raw().toBuffer();
    };
    const plain = await generate({});
    expect((await generate({ lora_model: id, lora_strength: 1 })).equals(plain)).toBe(false);
    expect((await generate({ lora_model: id, lora_strength: 0 })).equals(plain)).toBe(true);
  }, 1_500_000);

  it.skipIf(!trainerInstalled)('a training node killed mid-training (SIGKILL): another --train node resumes from the checkpoint; then it is cancelled', async () => {
    const [victim] = await trainingNodes();
    const submitted = await fineTune({ max_train_steps: 40, webhook: `${web.origin}/hook` });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    const id = submitted.body.training_id as string;
    // Checkpoints every 4 steps (a tenth of 40): wait until one is written, then kill the node.
    await eventually(async () => ((await status(id)).step >= 5 ? true : undefined), 1_200_000, 'step 5');
    const jobId = Number((await redis.hget(`dk:training:${id}`, 'jobId'))!);
    children.find((c) => c.pid === victim)!.kill('SIGKILL');
    await redis.del(`dk:progress:${jobId}`); // the dead node's last report
    const heir = await node('worker', ['--train']);
    await eventually(async () => ((await redis.hget(`dk:job:${jobId}`, 'worker'))?.endsWith(`:${heir.pid}`) ? true : undefined), 120_000, 'the heir to take the training');
    expect(Number(await redis.hget(`dk:job:${jobId}`, 'attempts'))).toBe(2);
    // Resumed, not restarted: the heir's first reported step is past the checkpoint.
    const first = await eventually(async () => {
      const progress = await redis.get(`dk:progress:${jobId}`);
      const step = progress ? (JSON.parse(progress) as { step: number; phase: string }).step : 0;
      return step > 0 ? step : undefined;
    }, 600_000, "the heir's first step");
    expect(first).toBeGreaterThan(4);
    const cancelled = await post(`${api.url}/api/v3/fine_tune_cancel/${id}`, { key });
    expect(cancelled.body).toMatchObject({ training_status: 'training_cancelled', model_id: null });
    expect(await redis.hget(`dk:job:${jobId}`, 'status')).toBe('cancelled');
    expect(fs.existsSync(path.join(dataDir, 'loras', `${id}.safetensors`))).toBe(false);
    await eventually(() => !fs.existsSync(path.join(dataDir, 'training', id)) || undefined, 30_000, 'the training folder to go');
    await eventually(async () => hooks.find((h) => h.training_id === id), 30_000, 'the webhook');
    expect(hooks.find((h) => h.training_id === id)).toMatchObject({ training_status: 'training_cancelled' });
  }, 1_500_000);
});
