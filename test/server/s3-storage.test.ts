import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { eventually, post, startServer } from './helpers.js';
import { startRedis, type RedisServer } from './redis-helpers.js';

const BUCKET = 'diffusekit-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// s3rver is an S3-compatible server (the S3 REST API over HTTP, objects on disk): the real AWS SDK talks to it.
describe('outputs and inputs in an S3-compatible bucket', () => {
  let s3rver: S3rver;
  let endpoint: string;
  let client: S3Client;
  let redis: RedisServer;
  let server: DiffusekitServer;

  beforeAll(async () => {
    s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: fs.mkdtempSync(path.join(os.tmpdir(), 's3rver-')) });
    const { port } = await s3rver.run();
    endpoint = `http://127.0.0.1:${port}`;
    client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    redis = await startRedis();
    process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
    server = await startServer({
      queue: 'redis',
      redisUrl: redis.url,
      storage: 's3',
      s3: { bucket: BUCKET, prefix: 'dk/', endpoint, region: 'us-east-1', forcePathStyle: true },
      syncWaitSeconds: 60,
      outputTtlSeconds: 2,
      sweepIntervalSeconds: 0.25,
    });
  });
  afterAll(async () => {
    await server?.close();
    client?.destroy();
    await s3rver?.close();
    await redis?.stop();
  });

  const exists = (key: string) => client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(() => true, () => false);

  it('writes outputs to the bucket, serves them, reads them back as inputs, and sweeps them when they expire', async () => {
    const first = await post(`${server.url}/api/v6/images/text2img`, { prompt: 'bucket', width: 64, height: 64, num_inference_steps: 1, seed: 3 });
    expect(first.body.status).toBe('success');
    const file = path.basename(first.body.output[0]);
    expect(await exists(`dk/generations/${file}`)).toBe(true);
    expect(fs.existsSync(path.join(server.config.dataDir, 'generations', file))).toBe(false);
    const served = Buffer.from(await (await fetch(first.body.output[0])).arrayBuffer());
    expect((await sharp(served).metadata()).width).toBe(64);

    // This server's own output URL as init_image: read from the bucket, staged for the worker, then removed.
    const chained = await post(`${server.url}/api/v6/images/img2img`, { prompt: 'again', init_image: first.body.output[0], num_inference_steps: 1, seed: 4 });
    expect(chained.body.status).toBe('success');
    expect(chained.body.meta).toMatchObject({ width: 64, height: 64 });

    await eventually(async () => !(await exists(`dk/generations/${file}`)) || undefined, 15_000, 'the sweeper');
    expect((await fetch(first.body.output[0])).status).toBe(404);
  });
});
