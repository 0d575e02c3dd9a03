import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerConfig, type DiffusekitServer } from '../../lib/server/index.js';
import { eventually, post, startServer } from './helpers.js';
import { startRedis, type RedisServer } from './redis-helpers.js';

const BUCKET = 'diffusekit-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const rfc3986 = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The SigV4 signature a presigned GET URL must carry (docs.aws.amazon.com, "Authenticating Requests: Using Query Parameters"). */
function sigV4QuerySignature(url: URL, secretAccessKey: string): string {
  const params = [...url.searchParams].filter(([name]) => name !== 'X-Amz-Signature');
  const query = params.map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`).sort().join('&');
  const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders')!;
  expect(signedHeaders).toBe('host');
  const canonical = ['GET', url.pathname, query, `host:${url.host}\n`, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
  const [, date, region, service] = /^[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(url.searchParams.get('X-Amz-Credential')!)!;
  const toSign = ['AWS4-HMAC-SHA256', url.searchParams.get('X-Amz-Date'), `${date}/${region}/${service}/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', signingKey).update(toSign).digest('hex');
}

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

  it('hands out the bucket\'s presigned URLs when asked: they read the private object until they expire', async () => {
    // Its own Redis database: the first server's worker node must not take (and upload under its prefix) these jobs.
    const presigning = await startServer({
      queue: 'redis',
      redisUrl: `${redis.url}/1`,
      storage: 's3',
      s3: { bucket: BUCKET, prefix: 'signed/', endpoint, region: 'us-east-1', forcePathStyle: true, presignOutputs: true },
      outputAccess: 'private',
      signedUrlSeconds: 3,
      syncWaitSeconds: 60,
    });
    try {
      const done = await post(`${presigning.url}/api/v6/images/text2img`, { prompt: 'presigned', width: 64, height: 64, num_inference_steps: 1, seed: 5 });
      expect(done.body.status).toBe('success');
      const url = new URL(done.body.output[0]);
      // The bucket's own URL (not the server's), with SigV4 query authentication valid 3 s.
      expect(url.origin).toBe(endpoint);
      expect(url.pathname).toMatch(new RegExp(`^/${BUCKET}/signed/generations/[^/]+\\.png$`));
      expect(url.searchParams.get('X-Amz-Expires')).toBe('3');
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      const read = await fetch(url);
      expect(read.status).toBe(200);
      expect((await sharp(Buffer.from(await read.arrayBuffer())).metadata()).width).toBe(64);

      // s3rver checks expiry but not V4 signatures: the signature is checked here, by the AWS spec.
      expect(url.searchParams.get('X-Amz-Signature')).toBe(sigV4QuerySignature(url, credentials.secretAccessKey));

      await new Promise((resolve) => setTimeout(resolve, 4000));
      const late = await fetch(url);
      expect(late.status).toBe(403);
      expect(await late.text()).toContain('Request has expired');
    } finally {
      await presigning.close();
    }
  });

  it('refuses S3 storage without the Redis queue, whose worker nodes stage files for the engine', () => {
    expect(() => resolveServerConfig({ storage: 's3', s3: { bucket: BUCKET } }, {})).toThrow(/S3 storage is for nodes sharing a Redis queue/);
  });
});
